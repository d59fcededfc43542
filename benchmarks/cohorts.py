"""Benchmark of cohorts: attrition of a six-criterion cohort (one biology threshold, one text criterion).

Builds (or reuses, see ``benchmarks/generate.py``) a demo warehouse of
``--patients`` patients, builds the per-note NLP cache once (timed apart: the
issue's target counts "once the note cache exists"), then times:

- the cohort's evaluation, cold (first in the process: canonical views
  materialised) and warm (the figure the target is about: ≤ 3 s at 1M patients);
- feasibility (two evaluations: whole warehouse and the user's own rows);
- a sample of 100 patients.

    .venv/bin/python benchmarks/cohorts.py [--patients 30000] [--data DIR] [--state DIR] [--without-text]

``--state`` keeps the note cache between runs (default: a temporary folder).
Building the note cache is the NLP's cost (benchmarks/nlp.py projects it: days
of one core at 1M patients); ``--without-text`` drops the text criterion to
time the five structured ones at 1M patients without it. The figures depend
on the machine's load.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from generate import ensure_warehouse, timed  # noqa: E402  (the benchmarks' shared warehouse cache)

COHORT = {
    "nom": "bench-six-criteres",
    "entree": {"type": "diagnostic", "codes": ["I2"]},
    "inclusion": [
        {"nom": "troponine élevée", "criteres": [{"type": "biologie", "codes": ["89579-7"], "comparaison": ">",
                                                  "valeur": 34, "unite": "ng/L"}]},
        {"nom": "adulte", "criteres": [{"type": "age", "min": 18}]},
        {"nom": "antithrombotique", "criteres": [{"type": "medicament", "atc": ["B01"]}]},
        {"nom": "séjour MCO", "criteres": [{"type": "sejour", "champ": ["MCO"], "fenetre": {"meme_sejour": True}}]},
        {"nom": "dyspnée au compte rendu", "criteres": [{"type": "texte", "termes": ["dyspnée"]}]},
        {"nom": "pas de cancer", "operateur": "SAUF", "criteres": [{"type": "diagnostic", "codes": ["C"]}]},
    ],
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=30_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--data", type=Path, help="folder of the warehouse (default: the benchmarks' cache)")
    parser.add_argument("--state", type=Path, help="state folder holding (or receiving) the note cache")
    parser.add_argument("--without-text", action="store_true", help="leave the text criterion (and the note cache) out")
    args = parser.parse_args(argv)
    folder = ensure_warehouse(args.patients, args.seed, args.data)
    with tempfile.TemporaryDirectory(prefix="cohort-bench-") as scratch:
        os.environ["WORKBENCH_STATE"] = str(args.state or scratch)
        import workbench
        from workbench.cohorts.definition import parse_definition
        from workbench.cohorts.evaluate import evaluate
        from workbench.cohorts.feasibility import feasibility
        from workbench.cohorts.sampling import sample
        from workbench.nlp.mentions import cached_notes

        rules = [r for r in COHORT["inclusion"] if not (args.without_text and r["criteres"][0]["type"] == "texte")]
        definition = parse_definition({**COHORT, "inclusion": rules})
        with workbench.open(folder / "catalog.yaml") as warehouse:
            notes_cache, notes = 0.0, ()
            if not args.without_text:
                notes_cache, (notes, _) = timed(cached_notes, warehouse, progress=True)
            cold, _ = timed(evaluate, warehouse, definition)
            warm, result = timed(evaluate, warehouse, definition)
            feasible, cells = timed(feasibility, warehouse, definition)
            drawn, _ = timed(sample, result.members, 100, 1)
    print(f"warehouse: {folder} ({args.patients:,} patients, {len(notes):,} notes)".replace(",", " "))
    print(f"note cache (built or checked): {notes_cache:.1f} s")
    print(result.attrition.to_string(index=False))
    print(f"attrition, {len(rules)} criteria: cold {cold:.1f} s, warm {warm:.1f} s (target at 1M patients: ≤ 3 s)")
    print(f"feasibility ({len(cells)} cells): {feasible:.1f} s; sample of 100: {drawn:.2f} s")


if __name__ == "__main__":
    main()
