"""Benchmark: the cost of the disclosure policy — a référent's protected lattices, built and read back.

For each indicator of the dictionary, on one year (the demo's last full year),
in a fresh process and an empty state folder: the time to build the year's
lattice (every care-site level × period level × attribute computed by the
engine, then the suppression) — what every process paid before lattices were
kept — and, in a second fresh process on the same state folder, the time to
read it back (`workbench.access.lattices`). Both answer the same request (the
référent's hospital × quarter table), compared cell by cell.

Usage: ``python benchmarks/lattices.py [--patients 20000 100000] [--data DIR] [--indicators dms nb_sejours]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).parent))

from generate import ensure_warehouse  # noqa: E402  (the benchmarks' shared warehouse cache)

ROOT = Path(__file__).resolve().parent.parent

# One request, timed inside a fresh interpreter: the lattice of its year is built or read there.
PROGRAM = """
import json, sys, time
import workbench
from workbench import paths
from workbench.access.context import UserContext
from workbench.indicators.dictionary import load_dictionary
from workbench.indicators.engine import compute
catalog, indicator, year = sys.argv[1], sys.argv[2], sys.argv[3]
referent = UserContext(name="pilote", role="referent_pilotage", perimeter=frozenset(), nominative=False)
definition = load_dictionary(paths.PROJECT_ROOT / "wiki").get(indicator).definition
with workbench.open(catalog, user=referent) as warehouse:
    started = time.perf_counter()
    result = compute(definition, warehouse, by=["hospital", "quarter"], start=f"{year}-01", end=f"{year}-12",
                     grain="quarter")
    seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "frame": result.frame.astype(str).to_dict(orient="records")}))
"""


def timed_request(catalog: Path, indicator: str, year: int, state: Path) -> tuple[float, list[dict]]:
    env = {**os.environ, "WORKBENCH_STATE": str(state)}
    done = subprocess.run([sys.executable, "-c", PROGRAM, str(catalog), indicator, str(year)], env=env,
                          capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"{indicator}: {done.stderr.strip().splitlines()[-1]}")
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    return answer["seconds"], answer["frame"]


def last_full_year(folder: Path) -> int:
    import duckdb

    with duckdb.connect(str(folder / "eds.duckdb"), read_only=True) as con:
        extraction = con.execute("SELECT max(visit_start_datetime) FROM visit_occurrence").fetchone()[0]
    return extraction.year - 1


def main(argv: list[str] | None = None) -> int:
    from workbench import paths
    from workbench.indicators.dictionary import load_dictionary

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--data", type=Path, help="one warehouse folder (eds.duckdb, catalog.yaml)")
    parser.add_argument("--indicators", nargs="+", help="default: every indicator of the dictionary")
    args = parser.parse_args(argv)
    indicators = args.indicators or sorted(load_dictionary(paths.PROJECT_ROOT / "wiki").indicators)
    for patients in ([None] if args.data else args.patients):
        folder = args.data or ensure_warehouse(patients)
        year = last_full_year(folder)
        print(f"\n== {folder.name}: référent, {year}, hospital × quarter — lattice built vs read back ==")
        print(f"{'indicator':<26}{'built s':>9}{'read s':>9}{'ratio':>8}")
        totals = [0.0, 0.0]
        with tempfile.TemporaryDirectory(prefix="lattices-") as state:
            for indicator in indicators:
                built, first = timed_request(folder / "catalog.yaml", indicator, year, Path(state))
                read, again = timed_request(folder / "catalog.yaml", indicator, year, Path(state))
                if first != again:
                    raise SystemExit(f"{indicator}: the lattice read back answers differently")
                totals[0] += built
                totals[1] += read
                print(f"{indicator:<26}{built:>9.2f}{read:>9.2f}{built / read:>8.1f}", flush=True)
        print(f"{'all':<26}{totals[0]:>9.2f}{totals[1]:>9.2f}{totals[0] / totals[1]:>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
