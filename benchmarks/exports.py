"""Benchmark of cohort exports: 10,000 patients' stays (and their diagnoses) to XLSX and to CSV.

Builds (or reuses, see ``benchmarks/generate.py``) a demo warehouse of
``--patients`` patients, takes the ``--members`` smallest person ids having a
stay as the cohort, and times `workbench.exports.export_cohort` as a DIM
analyst without perimeter (pseudonymised ids: the heavier path), once per
format. Target of issue 14: ≤ 10 s for 10,000 patients' stays.

    .venv/bin/python benchmarks/exports.py [--patients 20000] [--members 10000] [--data DIR]

The figures depend on the machine's load.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from generate import build, cache_root  # noqa: E402  (the benchmarks' shared warehouse cache)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=20_000)
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--data", type=Path, help="folder of the warehouse (default: the benchmarks' cache)")
    args = parser.parse_args(argv)
    folder = args.data or cache_root() / str(args.patients)
    if not (folder / "eds.duckdb").is_file():
        build(folder, args.patients, args.seed)
    with tempfile.TemporaryDirectory() as scratch:
        os.environ["WORKBENCH_STATE"] = str(Path(scratch) / "state")
        import duckdb
        import pandas as pd

        import workbench
        from workbench import exports
        from workbench.access.context import UserContext

        with duckdb.connect(str(folder / "eds.duckdb"), read_only=True) as con:
            ids = [row[0] for row in con.execute(
                "select distinct person_id from visit_occurrence order by 1 limit ?", [args.members]).fetchall()]
        analyst = UserContext(name="bench.dim", role="analyste_dim", perimeter=frozenset(), nominative=False)
        members = pd.DataFrame({"person_id": ids})
        figures: dict[str, object] = {"patients": args.patients, "members": len(ids)}
        for fmt, suffix in (("xlsx", ".xlsx"), ("csv", ".zip")):
            warehouse = workbench.open(folder / "catalog.yaml", user=analyst)
            started = time.perf_counter()
            result = exports.export_cohort(warehouse, members, Path(scratch) / f"export{suffix}", fmt,
                                           {"name": "bench"}, limit=10_000_000)
            figures[f"{fmt}_seconds"] = round(time.perf_counter() - started, 2)
            figures[f"{fmt}_rows"] = result.rows
            figures[f"{fmt}_megabytes"] = round(result.path.stat().st_size / 1e6, 1)
    print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
