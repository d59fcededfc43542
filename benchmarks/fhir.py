"""Benchmark of the FHIR loader: a first load and an incremental load where 5 % of the resources changed.

The 10-patient Synthea sample (tests/fixtures/fhir-bulk-10-patients/) is
multiplied up to ``--resources`` resources: organisations, locations and
practitioners once, every patient-bound resource copied with new ids (each
UUID but those of the shared structures gets a per-copy suffix). Then:

- first load into a new warehouse, full validation (fhir.resources R4B);
- a second export where ``--changed`` of the patient-bound resources changed
  (``"language": "fr"`` added: valid FHIR, a new content hash), loaded
  incrementally;
- the same export again (nothing changed: the fixed cost of reading, hashing
  and copying the warehouse file).

Printed: resources per second of each load, and the time spent per resource
type, which for the incremental load follows the changed share (unchanged
lines are recognised by their hash without being parsed).

    .venv/bin/python benchmarks/fhir.py [--resources 200000] [--changed 0.05] [--work DIR]

The figures depend on the machine's load (2 cores shared: run it alone).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# this file's folder comes first on sys.path, and this file is called fhir.py: it would hide fhir.resources
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

SAMPLE = ROOT / "tests" / "fixtures" / "fhir-bulk-10-patients"
SHARED = ("Organization", "Location", "Practitioner", "PractitionerRole")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _shared_ids() -> set[str]:
    """UUIDs of the structures every copy shares (their ids and identifier values)."""
    found: set[str] = set()
    for kind in SHARED:
        for line in (SAMPLE / f"{kind}.000.ndjson").read_text(encoding="utf-8").splitlines():
            found.update(UUID.findall(json.dumps({k: v for k, v in json.loads(line).items() if k in ("id", "identifier")})))
    return found


def multiply(target: Path, resources: int) -> int:
    """Write the sample multiplied to about `resources` resources into `target`; returns the count written."""
    shared = _shared_ids()
    files = {p.name.split(".")[0]: p.read_text(encoding="utf-8").splitlines() for p in SAMPLE.glob("*.ndjson")}
    fixed = sum(len(files[k]) for k in SHARED)
    per_copy = sum(len(lines) for kind, lines in files.items() if kind not in SHARED)
    copies = max(1, round((resources - fixed) / per_copy))
    target.mkdir(parents=True)
    written = 0
    for kind, lines in files.items():
        with (target / f"{kind}.000.ndjson").open("w", encoding="utf-8") as handle:
            for copy in range(1 if kind in SHARED else copies):
                def renamed(match: re.Match[str]) -> str:
                    text = match.group(0)
                    return text if text in shared or copy == 0 else f"{text[:-6]}{copy:06x}"

                for line in lines:
                    handle.write(UUID.sub(renamed, line) + "\n")
                    written += 1
    return written


def change(source: Path, target: Path, share: float, seed: int = 7) -> int:
    """A copy of `source` where `share` of the patient-bound resources changed; returns how many."""
    rng = random.Random(seed)
    target.mkdir(parents=True)
    changed = 0
    for path in sorted(source.glob("*.ndjson")):
        kind = path.name.split(".")[0]
        with path.open(encoding="utf-8") as lines, (target / path.name).open("w", encoding="utf-8") as out:
            for line in lines:
                if kind not in SHARED and rng.random() < share:
                    line = line.replace(f'{{"resourceType":"{kind}",', f'{{"resourceType":"{kind}","language":"fr",', 1)
                    changed += 1
                out.write(line)
    return changed


def _n(value: float) -> str:
    """A count with the French thousands separator."""
    return f"{value:,.0f}".replace(",", " ")


def timed_load(source: Path, into: Path, label: str) -> dict:
    from workbench.fhir.load import load

    start = time.perf_counter()
    report = load(source, into, progress=False)
    elapsed = time.perf_counter() - start
    summary = report.as_dict()
    rate = summary["received"] / elapsed
    print(f"{label} : {_n(summary['received'])} ressources en {elapsed:.1f} s, {_n(rate)} ressources/s "
          f"({_n(summary['inserted'])} insérées, {_n(summary['updated'])} mises à jour, {_n(summary['unchanged'])} inchangées, "
          f"{_n(summary['ignored'])} ignorées, {_n(summary['quarantined'])} en quarantaine)")
    slow = sorted(((k, v) for k, v in summary["timings_s"].items() if k != "total"), key=lambda kv: -kv[1])[:6]
    print("    durées (s) : " + ", ".join(f"{k} {v}" for k, v in slow))
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resources", type=int, default=200_000)
    parser.add_argument("--changed", type=float, default=0.05)
    parser.add_argument("--work", type=Path, default=None, help="dossier de travail (par défaut : temporaire, supprimé)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-fhir-"))
    try:
        first, second = work / "export-1", work / "export-2"
        count = multiply(first, args.resources)
        changed = change(first, second, args.changed)
        print(f"Échantillon multiplié : {_n(count)} ressources ; export modifié : {_n(changed)} ressources changées "
              f"({changed / count:.1%})")
        timed_load(first, work / "warehouse", "Premier chargement (validation complète)")
        timed_load(second, work / "warehouse", f"Chargement incrémental ({args.changed:.0%} changées)")
        timed_load(second, work / "warehouse", "Même export rechargé (rien de changé)")
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
