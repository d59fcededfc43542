"""Benchmark: the fit-for-use badge of the KPI cards, per-snapshot summaries vs running the checks per scope.

For every indicator of the wiki and the dashboard's default period (the 12
whole months ending at the extraction month), on all hospitals and on each of
the first `--hospitals` hospitals:

- cold: `warm_quality` for every indicator, i.e. the once-per-snapshot
  counting of the checks by hospital × month (first thing the process does,
  so it also pays for reading the DuckDB file);
- warm: `quality_status` per scope afterwards (median, p95, max);
- before: `quality_status_by_run`, the checks run restricted to the scope
  (what every filter change paid before), on the same scopes; each badge is
  compared with the warm one (status, failing checks, reasons).

Usage: ``python benchmarks/quality_badge.py [--patients 20000 1000000] [--hospitals 4] [--data DIR]``.
Data: ``$WORKBENCH_BENCH_DATA/<N>/`` or ``~/.cache/eds-workbench/bench/<N>/`` (built by ``benchmarks/generate.py``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.indicators import data_folder  # noqa: E402
from workbench import warehouse as warehouse_module  # noqa: E402
from workbench.indicators.dictionary import load_dictionary  # noqa: E402
from workbench.periods import resolve_period  # noqa: E402
from workbench.quality.status import quality_status, quality_status_by_run, warm_quality  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def timed(function: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = function()
    return time.perf_counter() - started, value


def summary(times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    median = statistics.median(ordered)
    return f"median {median * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms, max {ordered[-1] * 1000:.1f} ms"


def shown(badge: Any) -> tuple[Any, ...]:
    return badge.status, [r.id for r in badge.failing], badge.reasons(), [r.num_violated_rows for r in badge.checks]


def run(folder: Path, hospitals: int) -> None:
    wh = warehouse_module.open(catalog=folder / "catalog.yaml", backend="duckdb")
    definitions = [page.definition for page in load_dictionary(ROOT / "wiki").indicators.values()]
    cold, _ = timed(lambda: warm_quality(wh, definitions))
    start, end = resolve_period(None, None, "month", wh.extraction_date)
    sites = wh.execute(wh.view("care_sites"))
    codes = sorted(sites.loc[sites["level"] == "hopital", "code"])[:hospitals]
    scopes = [{}] + [{"hospital": [code]} for code in codes]
    warm, before, badges = [], [], {}
    for filters in scopes:
        for definition in definitions:
            elapsed, badge = timed(lambda d=definition, f=filters: quality_status(wh, d, start, end, f))
            warm.append(elapsed)
            badges[definition.id, str(filters)] = badge
    for filters in scopes:
        for definition in definitions:
            elapsed, reference = timed(lambda d=definition, f=filters: quality_status_by_run(wh, d, start, end, f))
            before.append(elapsed)
            assert shown(reference) == shown(badges[definition.id, str(filters)]), (definition.id, filters)
    print(f"{folder.name}: {len(definitions)} indicators × {len(scopes)} scopes, period {start}..{end}")
    print(f"  cold (warm_quality, once per snapshot and policy): {cold:.2f} s")
    print(f"  after, per badge: {summary(warm)}")
    print(f"  before, per badge (checks run on the scope): {summary(before)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, nargs="+", default=[20000])
    parser.add_argument("--hospitals", type=int, default=4, help="hospitals measured one by one, besides all")
    parser.add_argument("--data", type=Path, help="one warehouse folder (eds.duckdb, catalog.yaml)")
    args = parser.parse_args()
    folders = [args.data] if args.data else [data_folder(n, None) for n in args.patients]
    for folder in folders:
        run(folder, args.hospitals)


if __name__ == "__main__":
    main()
