"""Benchmark: the indicator engine vs hand-written DuckDB SQL vs pandas, on the demo warehouses.

For `dms`, `nb_sejours` and `rh30` broken down by hospital × month over the
engine's default period (the 12 months ending at the extraction month), times
(median of 5 runs, after one warm-up):

- the engine: ``compute()`` end to end (validation, one ibis expression over
  the canonical views, execution, SQL text, lineage). The canonical views are
  materialised once per process and snapshot (`workbench.materialize`), so the
  engine's first call is reported apart ("cold": for the first indicator it
  includes building the views' temporary tables) from the median of the
  following calls ("warm"); the engine with ``WORKBENCH_MATERIALIZE=0`` (every
  call compiles and runs the full views, the behaviour before materialisation)
  is timed too;
- hand-written DuckDB SQL on the raw AP-HP tables of ``eds.duckdb``, applying
  the same rules as the canonical views (soft-deleted rows, CMD 28 séances,
  0-night stays, open stays);
- the engine's own SQL (``result.sql``: the query with one CTE per view, from
  the raw tables) run directly on DuckDB: the cost of the views unmaterialised;
- pandas on the Parquet files of the same warehouse (load time reported
  separately, and included in the ratio).

The three answers are compared cell by cell before any timing is reported.
Targets: engine ≤ 1.2 × hand SQL; engine ≥ 10 × faster than pandas incl. load.

With ``--spark``, each indicator is also computed by the engine on a local
SparkSession (``local[2]``, reading the Parquet copy) and compared cell by cell;
the report gives Spark's warm time and its ratio to DuckDB's.

Usage: ``python benchmarks/indicators.py [--patients 100000 1000000] [--data DIR] [--spark]``.
Data: ``$WORKBENCH_BENCH_DATA/<N>/`` or ``~/.cache/eds-workbench/bench/<N>/`` with
``eds.duckdb``, ``parquet/`` and ``catalog.yaml`` (built by ``benchmarks/generate.py``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import duckdb
import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workbench import materialize  # noqa: E402
from workbench import warehouse as warehouse_module  # noqa: E402
from workbench.indicators.engine import compute  # noqa: E402
from workbench.periods import resolve_period  # noqa: E402
from workbench.indicators.model import IndicatorDefinition  # noqa: E402
from workbench.semantic.dimensions import DIMENSIONS  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
INDICATORS = ("dms", "nb_sejours", "rh30")
RUNS = 5
HOSPITALISATION = ("hospitalisés", "hospitalisation incomplète")
RH30 = {"window": 30, "excluded_cmd": ("14", "15"), "planned": ("28", "17M05", "17M06")}


def data_folder(patients: int, explicit: Path | None) -> Path:
    if explicit is not None:
        return explicit
    base = os.environ.get("WORKBENCH_BENCH_DATA")
    root = Path(base).expanduser() if base else Path.home() / ".cache" / "eds-workbench" / "bench"
    return root / str(patients)


def definition(indicator_id: str) -> IndicatorDefinition:
    """The documented computation of the indicator (the same block the wiki page carries)."""
    block = yaml.safe_load((ROOT / "docs" / "indicator_computations.yaml").read_text(encoding="utf-8"))[indicator_id]
    return IndicatorDefinition.model_validate({
        "id": indicator_id, "name": indicator_id, "theme": "bench", "definition": "bench", "numerator": "n",
        "unit": "u", "dimensions": list(DIMENSIONS), "sources": [{"table": "stays"}], "referent": "bench",
        "status": "draft",
        "versions": [{"version": "1", "effective_from": "2000-01-01", "change": "bench", "computation": block}],
    })


def timed(run: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = run()
    return time.perf_counter() - started, result


def median_time(run: Callable[[], Any]) -> tuple[float, Any]:
    """Median of `RUNS` calls after one warm-up call (connection, caches, file system)."""
    return first_and_median(run)[1:]


def first_and_median(run: Callable[[], Any]) -> tuple[float, float, Any]:
    """The first call's time, then the median of the next `RUNS` calls and the last result."""
    first, result = timed(run)
    times = []
    for _ in range(RUNS):
        elapsed, result = timed(run)
        times.append(elapsed)
    return first, statistics.median(times), result


# --- hand-written SQL ------------------------------------------------------------------------------

_STAYS_SQL = """
WITH visit AS (
  SELECT v.visit_occurrence_id, v.person_id, v.visit_source_value, v.stay_source_value,
         v.discharge_to_source_value, CAST(v.visit_start_datetime AS DATE) AS start_date,
         CAST(v.visit_end_datetime AS DATE) AS end_date, cs.care_site_source_value AS hospital,
         g.ghm, substr(g.ghm, 1, 2) AS cmd
  FROM visit_occurrence v
  LEFT JOIN care_site cs ON cs.care_site_id = v.care_site_id
  LEFT JOIN (SELECT visit_occurrence_id, max(drg_source_value) AS ghm FROM cost GROUP BY 1) g
         ON g.visit_occurrence_id = v.visit_occurrence_id
  WHERE coalesce(trim(v.row_status_source_value), '') <> 'supprimé'
), stays AS (
  SELECT *, CASE WHEN end_date >= start_date THEN date_diff('day', start_date, end_date) END AS nights
  FROM visit
)
"""

_FULL = "visit_source_value IN ('hospitalisés', 'hospitalisation incomplète') AND coalesce(cmd <> '28', TRUE) AND nights >= 1"


def hand_sql(indicator: str, start: dt.date, end: dt.date) -> str:
    """The hand-written query for `indicator`, by hospital × month, on the raw tables."""
    period = f"end_date BETWEEN DATE '{start}' AND DATE '{end}'"
    month = "strftime(end_date, '%Y-%m')"
    if indicator == "nb_sejours":
        return _STAYS_SQL + f"""
SELECT hospital, {month} AS month, count(*) AS numerator FROM stays
WHERE {period} AND (cmd = '28' OR visit_source_value IN ('hospitalisés', 'hospitalisation incomplète'))
GROUP BY 1, 2 ORDER BY 1, 2"""
    if indicator == "dms":
        return _STAYS_SQL + f"""
SELECT hospital, {month} AS month, sum(nights) AS numerator, count(*) AS denominator FROM stays
WHERE {period} AND {_FULL}
GROUP BY 1, 2 ORDER BY 1, 2"""
    excluded = ", ".join(f"'{c}'" for c in RH30["excluded_cmd"])
    planned = " OR ".join(f"starts_with(r.ghm, '{p}')" for p in RH30["planned"])
    return _STAYS_SQL + f"""
, eligible AS (
  SELECT * FROM stays WHERE {_FULL} AND stay_source_value = 'MCO' AND (cmd IS NULL OR cmd NOT IN ({excluded}))
), idx AS (
  SELECT * FROM eligible
  WHERE {period} AND (discharge_to_source_value IS NULL OR discharge_to_source_value NOT IN ('6', '7', '9'))
), readmitted AS (
  SELECT DISTINCT i.visit_occurrence_id FROM idx i JOIN eligible r
    ON r.person_id = i.person_id AND r.start_date >= i.end_date + 1 AND r.start_date <= i.end_date + {RH30["window"]}
  WHERE NOT coalesce({planned}, FALSE)
)
SELECT hospital, {month} AS month,
       count(DISTINCT person_id) FILTER (WHERE visit_occurrence_id IN (SELECT visit_occurrence_id FROM readmitted)) AS numerator,
       count(DISTINCT person_id) AS denominator
FROM idx GROUP BY 1, 2 ORDER BY 1, 2"""


# --- pandas ----------------------------------------------------------------------------------------


def load_parquet(folder: Path) -> dict[str, pd.DataFrame]:
    """The raw tables pandas needs, read from the warehouse's Parquet files."""
    def read(name: str, columns: list[str]) -> pd.DataFrame:
        path = folder / "parquet" / name
        path = path if path.exists() else folder / "parquet" / f"{name}.parquet"
        return pd.read_parquet(path, columns=columns)

    return {
        "visit": read("visit_occurrence", [
            "visit_occurrence_id", "person_id", "care_site_id", "visit_start_datetime", "visit_end_datetime",
            "visit_source_value", "stay_source_value", "discharge_to_source_value", "row_status_source_value",
        ]),
        "care_site": read("care_site", ["care_site_id", "care_site_source_value"]),
        "cost": read("cost", ["visit_occurrence_id", "drg_source_value"]),
    }


def pandas_stays(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    visit = tables["visit"]
    visit = visit[visit["row_status_source_value"].fillna("").str.strip() != "supprimé"]
    ghm = tables["cost"].groupby("visit_occurrence_id", as_index=False)["drg_source_value"].max()
    sites = tables["care_site"].rename(columns={"care_site_source_value": "hospital"})
    stays = visit.merge(sites, on="care_site_id", how="left").merge(ghm, on="visit_occurrence_id", how="left")
    stays["start_date"] = pd.to_datetime(stays["visit_start_datetime"]).dt.normalize()
    stays["end_date"] = pd.to_datetime(stays["visit_end_datetime"]).dt.normalize()
    stays["nights"] = (stays["end_date"] - stays["start_date"]).dt.days
    stays.loc[stays["nights"] < 0, "nights"] = float("nan")
    stays["cmd"] = stays["drg_source_value"].str[:2]
    return stays


def _full(stays: pd.DataFrame) -> pd.Series:
    return stays["visit_source_value"].isin(HOSPITALISATION) & (stays["cmd"] != "28") & (stays["nights"] >= 1)


def pandas_indicator(indicator: str, tables: dict[str, pd.DataFrame], start: dt.date, end: dt.date) -> pd.DataFrame:
    stays = pandas_stays(tables)
    in_period = (stays["end_date"] >= pd.Timestamp(start)) & (stays["end_date"] <= pd.Timestamp(end))
    stays["month"] = stays["end_date"].dt.strftime("%Y-%m")
    if indicator == "nb_sejours":
        chosen = stays[in_period & ((stays["cmd"] == "28") | stays["visit_source_value"].isin(HOSPITALISATION))]
        return chosen.groupby(["hospital", "month"]).size().rename("numerator").reset_index()
    if indicator == "dms":
        chosen = stays[in_period & _full(stays)]
        return chosen.groupby(["hospital", "month"]).agg(
            numerator=("nights", "sum"), denominator=("nights", "size")).reset_index()
    eligible = stays[_full(stays) & (stays["stay_source_value"] == "MCO") & ~stays["cmd"].isin(RH30["excluded_cmd"])]
    index = eligible[in_period.loc[eligible.index]
                     & ~eligible["discharge_to_source_value"].isin(("6", "7", "9"))]
    planned = eligible["drg_source_value"].fillna("").str.startswith(RH30["planned"])
    later = eligible.loc[~planned, ["person_id", "start_date"]]
    pairs = index[["visit_occurrence_id", "person_id", "end_date"]].merge(later, on="person_id")
    gap = (pairs["start_date"] - pairs["end_date"]).dt.days
    readmitted = set(pairs.loc[(gap >= 1) & (gap <= RH30["window"]), "visit_occurrence_id"])
    index = index.assign(readmitted_person=index["person_id"].where(index["visit_occurrence_id"].isin(readmitted)))
    return index.groupby(["hospital", "month"]).agg(
        numerator=("readmitted_person", "nunique"), denominator=("person_id", "nunique")).reset_index()


# --- comparison and report ------------------------------------------------------------------------


def _normalised(frame: pd.DataFrame) -> pd.DataFrame:
    columns = [c for c in ("hospital", "month", "numerator", "denominator") if c in frame.columns]
    frame = frame[columns].copy()
    for column in ("numerator", "denominator"):
        if column in frame.columns:
            frame[column] = frame[column].astype("float64")
    frame["hospital"] = frame["hospital"].astype(str)
    frame["month"] = frame["month"].astype(str)
    return frame.sort_values(["hospital", "month"]).reset_index(drop=True)


def same_answer(indicator: str, engine: pd.DataFrame, sql: pd.DataFrame, pandas_: pd.DataFrame) -> None:
    reference = _normalised(engine)
    for label, other in (("SQL", sql), ("pandas", pandas_)):
        columns = [c for c in reference.columns if c in other.columns]
        if indicator == "nb_sejours":
            columns = ["hospital", "month", "numerator"]
        pd.testing.assert_frame_equal(reference[columns], _normalised(other)[columns], check_dtype=False,
                                      obj=f"{indicator}: engine vs {label}")


def run(folder: Path, spark: bool = False) -> list[dict[str, Any]]:
    wh = warehouse_module.open(catalog=folder / "catalog.yaml", backend="duckdb")
    on_spark = warehouse_module.open(catalog=folder / "catalog.yaml", backend="pyspark") if spark else None
    start, end = resolve_period(None, None, "month", wh.extraction_date)
    con = duckdb.connect(str(folder / "eds.duckdb"), read_only=True)
    load_started = time.perf_counter()
    tables = load_parquet(folder)
    load_time = time.perf_counter() - load_started
    rows = []
    for indicator in INDICATORS:
        chosen = definition(indicator)
        cold_time, engine_time, engine_result = first_and_median(lambda: compute(chosen, wh, by=["hospital", "month"]))
        off_time, off_result = unmaterialised(lambda: median_time(lambda: compute(chosen, wh, by=["hospital", "month"])))
        pd.testing.assert_frame_equal(off_result.frame, engine_result.frame, obj=f"{indicator}: materialised vs not")
        query = hand_sql(indicator, start, end)
        sql_time, sql_frame = median_time(lambda: con.execute(query).df())
        engine_sql_time, _ = median_time(lambda: con.execute(engine_result.sql).df())
        pandas_time, pandas_frame = median_time(lambda: pandas_indicator(indicator, tables, start, end))
        same_answer(indicator, engine_result.frame, sql_frame, pandas_frame)
        spark_time = None
        if on_spark is not None:
            _, spark_time, spark_result = first_and_median(lambda: compute(chosen, on_spark, by=["hospital", "month"]))
            same_answer(indicator, engine_result.frame, spark_result.frame, pandas_frame)
        rows.append({
            "spark_s": spark_time,
            "indicator": indicator, "cells": len(engine_result.frame), "engine_cold_s": cold_time,
            "engine_s": engine_time, "engine_off_s": off_time, "engine_sql_s": engine_sql_time,
            "sql_s": sql_time,
            "pandas_s": pandas_time, "pandas_load_s": load_time,
            "engine_vs_sql": engine_time / sql_time, "engine_cold_vs_sql": cold_time / sql_time,
            "engine_off_vs_sql": off_time / sql_time,
            "pandas_incl_load_vs_engine": (pandas_time + load_time) / engine_time,
        })
    con.close()
    return rows


def unmaterialised(run: Callable[[], Any]) -> Any:
    """`run()` with the views' materialisation turned off (``WORKBENCH_MATERIALIZE=0``)."""
    previous = os.environ.get(materialize.ENVIRONMENT)
    os.environ[materialize.ENVIRONMENT] = "0"
    try:
        return run()
    finally:
        if previous is None:
            del os.environ[materialize.ENVIRONMENT]
        else:
            os.environ[materialize.ENVIRONMENT] = previous


def report(patients: int | str, rows: list[dict[str, Any]]) -> None:
    print(f"\n== {patients} patients — by hospital × month; warm = median of {RUNS} after the first call ==")
    print(f"{'indicator':<12}{'cells':>6}{'cold s':>8}{'warm s':>8}{'off s':>8}{'its SQL s':>10}{'hand SQL s':>11}"
          f"{'pandas s':>9}{'load s':>8}{'cold/SQL':>9}{'warm/SQL':>9}{'off/SQL':>9}{'pandas+load/warm':>18}")
    for row in rows:
        print(f"{row['indicator']:<12}{row['cells']:>6}{row['engine_cold_s']:>8.3f}{row['engine_s']:>8.3f}"
              f"{row['engine_off_s']:>8.3f}{row['engine_sql_s']:>10.3f}{row['sql_s']:>11.3f}"
              f"{row['pandas_s']:>9.3f}{row['pandas_load_s']:>8.3f}{row['engine_cold_vs_sql']:>9.2f}"
              f"{row['engine_vs_sql']:>9.2f}{row['engine_off_vs_sql']:>9.2f}{row['pandas_incl_load_vs_engine']:>18.1f}")
    if any(row["spark_s"] is not None for row in rows):
        print(f"{'indicator':<12}{'Spark warm s':>13}{'DuckDB warm s':>14}{'Spark/DuckDB':>13}")
        for row in rows:
            print(f"{row['indicator']:<12}{row['spark_s']:>13.3f}{row['engine_s']:>14.3f}"
                  f"{row['spark_s'] / row['engine_s']:>13.1f}")
    print("targets: engine (warm)/SQL ≤ 1.2 ; pandas+load/engine ≥ 10")
    print("cold = the engine's first call in the process (the first indicator's includes materialising the views);")
    print("off = WORKBENCH_MATERIALIZE=0 (full views compiled and run on each call: the engine before materialisation);")
    print("'its SQL' = result.sql (one CTE per view, from the raw tables) run directly: the views unmaterialised")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--data", type=Path, help="one warehouse folder (eds.duckdb, parquet/, catalog.yaml)")
    parser.add_argument("--spark", action="store_true", help="also time the engine on a local SparkSession")
    args = parser.parse_args(argv)
    ran = False
    for patients in args.patients:
        folder = data_folder(patients, args.data)
        if not (folder / "catalog.yaml").exists():
            print(f"{patients} patients : entrepôt absent ({folder}), construisez-le avec benchmarks/generate.py")
            continue
        report(patients if args.data is None else folder.name, run(folder, spark=args.spark))
        ran = True
        if args.data is not None:
            break
    return 0 if ran else 1


if __name__ == "__main__":
    sys.exit(main())
