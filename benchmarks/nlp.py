"""Benchmark of the clinical NLP: building the per-note cache, then queries that only read it.

Builds (or reuses, see ``benchmarks/generate.py``) a demo warehouse of
``--patients`` patients (the demo writes about 3.4 reports per patient: 30,000
patients give about 100,000 notes), then, with an empty state folder:

- cache build, cold: every note of the ``notes`` view analysed by the edsnlp
  pipeline (sentences, normaliser, TNM, negation, hypothesis, family) and written
  to the SQLite cache; notes/s and the projected cost at 100k and 1M notes
  (linear: each note is analysed on its own, once);
- the same call again (nothing left to analyse: the hash check only);
- ``find_mentions`` for two words and ``tnm_mentions``, warm.

    .venv/bin/python benchmarks/nlp.py [--patients 30000] [--data DIR]

The pipeline runs on one core; the figures depend on the machine's load.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from generate import ensure_warehouse, timed  # noqa: E402  (the benchmarks' shared warehouse cache)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=30_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--data", type=Path, help="folder of the warehouse (default: the benchmarks' cache)")
    args = parser.parse_args(argv)
    folder = ensure_warehouse(args.patients, args.seed, args.data)
    with tempfile.TemporaryDirectory(prefix="nlp-bench-") as state:
        os.environ["WORKBENCH_STATE"] = state
        import workbench
        from workbench.nlp import find_mentions, tnm_mentions
        from workbench.nlp.mentions import cached_notes
        from workbench.nlp.pipeline import analyse

        load, _ = timed(lambda: list(analyse(["Chargement."])))
        with workbench.open(folder / "catalog.yaml") as w:
            cold, (notes, _) = timed(cached_notes, w, progress=True)
            warm, _ = timed(cached_notes, w, progress=False)
            words, found = timed(find_mentions, w, ["métastase hépatique", "dyspnée"], progress=False)
            stages, staged = timed(tnm_mentions, w, progress=False)
        size = Path(state, "nlp_notes.sqlite").stat().st_size / 1e6
    rate = len(notes) / cold
    print(f"pipeline load: {load:.1f} s")
    print(f"cache build, cold: {_n(len(notes))} notes in {cold:.1f} s = {_n(rate)} notes/s; cache file {size:.0f} MB")
    print(f"  projected: 100k notes {100_000 / rate / 60:.1f} min, 1M notes {1_000_000 / rate / 60:.0f} min (one core)")
    print(f"cache check, warm (nothing to analyse): {warm:.1f} s")
    print(f"find_mentions (2 words), warm: {words:.1f} s, {_n(len(found))} mentions")
    print(f"tnm_mentions, warm: {stages:.1f} s, {_n(len(staged))} stages")


def _n(value: float) -> str:
    """A count with thin spaces between thousands, as the other benchmarks print them."""
    return f"{value:,.0f}".replace(",", " ")

if __name__ == "__main__":
    main()
