"""The "fit for use" badge of an indicator on the hospitals and months a figure shows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from conftest import ts

from workbench.quality.status import CAUTION, FIT, UNFIT, quality_status, resolve

WIKI = Path(__file__).resolve().parents[2] / "wiki"

SITES = [
    {"care_site_id": 1, "care_site_source_value": "APHP", "care_site_type_source_value": "AP-HP"},
    {"care_site_id": 100, "care_site_source_value": "014", "care_site_type_source_value": "Hôpital"},
    {"care_site_id": 200, "care_site_source_value": "042", "care_site_type_source_value": "Hôpital"},
]


def _stay(stay_id, person, hospital, start, end):
    return {"visit_occurrence_id": stay_id, "person_id": person, "care_site_id": hospital,
            "visit_start_datetime": ts(start), "visit_end_datetime": ts(end) if end else None,
            "visit_source_value": "hospitalisés", "stay_source_value": "MCO"}


STAYS = [
    _stay(1, 1, 100, "2024-01-05", None),  # never closed: patient 1 came back on 1 February
    _stay(2, 1, 100, "2024-02-01", "2024-02-03"),
    _stay(3, 2, 100, "2024-01-10", "2024-01-12"),
    _stay(4, 3, 200, "2024-01-08", "2024-01-09"),
    _stay(5, 4, 200, "2024-01-20", "2024-01-25"),
]


def _dms():
    from workbench.indicators.dictionary import load_dictionary

    return load_dictionary(WIKI).get("dms").definition


def test_wiki_references_of_the_dms_page_resolve_to_checks():
    ids, unknown = resolve(_dms().quality_checks)
    assert unknown == []
    assert set(ids) == {"visit_occurrence_start_before_end", "visit_occurrence_end_missing_old"}


def test_dms_unfit_for_the_hospital_and_month_with_an_unclosed_stay(make_warehouse):
    warehouse = make_warehouse({"care_site": SITES, "person": [{"person_id": p} for p in (1, 2, 3, 4)],
                                "visit_occurrence": STAYS}, extraction=dt.date(2024, 6, 30))
    dms = _dms()
    january = dict(start=dt.date(2024, 1, 1), end=dt.date(2024, 1, 31))
    badge = quality_status(warehouse, dms, filters={"hospital": "014"}, **january)
    assert badge.status == UNFIT
    assert [r.id for r in badge.failing] == ["visit_occurrence_end_missing_old"]
    # stays 1 and 3 started at 014 in January; stay 1 was never closed
    assert (badge.failing[0].num_violated_rows, badge.failing[0].num_denominator_rows) == (1, 2)
    assert badge.failing[0].sample_ids == [1]
    assert quality_status(warehouse, dms, filters={"hospital": "042"}, **january).status == FIT
    february = quality_status(warehouse, dms, dt.date(2024, 2, 1), dt.date(2024, 2, 29), {"hospital": "014"})
    assert february.status == FIT
    assert quality_status(warehouse, dms).status == UNFIT


def test_warnings_and_unknown_references_call_for_caution(make_warehouse):
    warehouse = make_warehouse({"care_site": SITES, "person": [{"person_id": p} for p in (1, 2, 3, 4)],
                                "visit_occurrence": STAYS}, extraction=dt.date(2024, 6, 30))
    # No stay is grouped (no cost row): the GHM completeness check (a warning) fails at 042 in January.
    badge = quality_status(warehouse, ["measureValueCompleteness:stays.ghm"], dt.date(2024, 1, 1),
                           dt.date(2024, 1, 31), {"hospital": "042"})
    assert badge.status == CAUTION and [r.id for r in badge.failing] == ["visit_occurrence_has_ghm"]
    unknown = quality_status(warehouse, ["plausibleSomething:stays"], filters={"hospital": "042"})
    assert (unknown.status, unknown.unknown) == (CAUTION, ["plausibleSomething:stays"])


# --- the cached badge equals a run restricted to the scope --------------------------------------------------


def _comparable(badge):
    """Everything a badge shows and carries, except timings and the scope query's SQL text (not compiled)."""
    def result(r):
        values = r.to_record()
        values.pop("execution_time_s")
        values.pop("sql")
        return values

    return (badge.status, badge.label, badge.reasons(), badge.unknown,
            [result(r) for r in badge.failing], [result(r) for r in badge.checks])


def _scopes(warehouse, flaws):
    """All hospitals and one; the last 1, 3 and 12 whole months; the months of the hospital-scoped demo flaws."""
    last = warehouse.extraction_date.replace(day=1) - dt.timedelta(days=1)

    def months_back(n):
        first = last.replace(day=1)
        for _ in range(n - 1):
            first = (first - dt.timedelta(days=1)).replace(day=1)
        return first

    periods = [(months_back(n), last) for n in (1, 3, 12)] + [(None, None)]
    sites = warehouse.execute(warehouse.view("care_sites"))
    hospitals = sorted(sites.loc[sites["level"] == "hopital", "code"])
    scopes = [(start, end, filters) for start, end in periods
              for filters in ({}, {"hospital": hospitals[0]}, {"hospital": hospitals[1:3]})]
    for flaw in flaws:
        months = sorted(flaw.get("scope", {}).get("months", []))
        if months:
            start = dt.date.fromisoformat(f"{months[0]}-01")
            after = (dt.date.fromisoformat(f"{months[-1]}-01") + dt.timedelta(days=31)).replace(day=1)
            end = after - dt.timedelta(days=1)
            scopes.append((start, end, {"care_site_id": [flaw["scope"]["care_site_id"]]}))
    # not whole months: answered by running the checks on the scope itself
    scopes.append((last.replace(day=10), last, {"hospital": hospitals[0]}))
    return scopes


def test_cached_badges_equal_runs_restricted_to_every_scope(demo_dir):
    import json

    from workbench.indicators.dictionary import load_dictionary
    from workbench.quality.status import quality_status_by_run, warm_quality
    from workbench.access.context import UserContext
    from workbench.warehouse import open as open_warehouse

    flaws = json.loads((demo_dir / "flaws.json").read_text(encoding="utf-8"))["flaws"]
    # a badge depends only on the page's references: one definition per distinct list covers every indicator
    pages = load_dictionary(WIKI).indicators.values()
    definitions = list({tuple(page.definition.quality_checks): page.definition for page in pages}.values())
    assert len(definitions) >= 10
    admin = open_warehouse(demo_dir / "catalog.yaml")
    hospital = sorted(admin.execute(admin.view("care_sites")).query("level == 'hopital'")["code"])[0]
    restricted = open_warehouse(demo_dir / "catalog.yaml", user=UserContext(
        name="dim", role="analyste_dim", perimeter=frozenset({hospital}), nominative=False))
    warm_quality(admin, definitions)
    scopes = _scopes(admin, flaws)
    failing = set()
    for warehouse, its_scopes in ((admin, scopes), (restricted, scopes[:2] + scopes[6:8])):
        for start, end, filters in its_scopes:
            for definition in definitions:
                fast = quality_status(warehouse, definition, start, end, filters)
                reference = quality_status_by_run(warehouse, definition, start, end, filters)
                where = (definition.id, start, end, filters, warehouse.user.role)
                assert _comparable(fast) == _comparable(reference), where
                failing.update(r.id for r in fast.failing)
    # the comparison covered failures of both kinds of checks: counted by cell, and run once per snapshot
    assert {"visit_occurrence_end_missing_old", "visit_occurrence_feed_stop"} <= failing
    assert "person_identity_duplicates" in failing


def test_concurrent_first_badges_count_each_check_once(make_warehouse, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    from workbench.quality import summaries

    warehouse = make_warehouse({"care_site": SITES, "person": [{"person_id": p} for p in (1, 2, 3, 4)],
                                "visit_occurrence": STAYS}, extraction=dt.date(2024, 6, 30))
    counted = []
    summarise = summaries.summarise

    def counting(context, check):
        counted.append(check.id)
        return summarise(context, check)

    monkeypatch.setattr(summaries, "summarise", counting)
    dms = _dms()
    scopes = [(dt.date(2024, 1, 1), dt.date(2024, 1, 31), {"hospital": code}) for code in ("014", "042")] * 4
    with ThreadPoolExecutor(max_workers=8) as pool:
        badges = list(pool.map(lambda scope: quality_status(warehouse, dms, *scope), scopes))
    assert sorted(counted) == sorted(set(counted)) == ["visit_occurrence_end_missing_old",
                                                      "visit_occurrence_start_before_end"]
    assert [badge.status for badge in badges] == [UNFIT, FIT] * 4


def test_cached_badges_on_spark_equal_runs_restricted_to_the_scope(demo_dir):
    """Spark cannot order an aggregate: the cells keep every violating id and the smallest are picked in Python."""
    from pyspark.sql import SparkSession  # the test extra installs it: missing is a failure, not a skip

    from workbench.quality import status, summaries
    from workbench.warehouse import open as open_warehouse

    (SparkSession.builder.master("local[2]").appName("workbench-quality-tests")
     .config("spark.sql.session.timeZone", "UTC").config("spark.ui.enabled", "false")
     .config("spark.sql.shuffle.partitions", "2").getOrCreate())
    spark = open_warehouse(demo_dir / "catalog.yaml", backend="pyspark")
    references = ["plausibleStartBeforeEnd:stays", "measureValueCompleteness:stays.end_datetime",
                  "volumeStep:stays.hospital"]
    last = spark.extraction_date.replace(day=1) - dt.timedelta(days=1)
    for start, filters in ((last.replace(day=1), {}), (dt.date(last.year - 1, last.month, 1), {"care_site_id": [2]})):
        fast = quality_status(spark, references, start, last, filters)
        assert _comparable(fast) == _comparable(status.quality_status_by_run(spark, references, start, last, filters))
    counted = summaries.snapshot_quality(spark).summaries(spark, resolve(references)[0])
    assert {type(summary).__name__ for summary in counted.values()} == {"Cells"}


def test_a_referent_gets_the_whole_warehouse_badge_without_ids_or_small_counts(make_warehouse):
    """The référent's own handle refuses the raw tables the checks read: his badge is the whole
    warehouse's (same status as the administrator's), with no failing id and the count of 1 row masked."""
    from workbench.quality.status import badge
    from workbench.access.context import UserContext
    from workbench.warehouse import Warehouse

    admin = make_warehouse({"care_site": SITES, "person": [{"person_id": p} for p in (1, 2, 3, 4)],
                            "visit_occurrence": STAYS}, extraction=dt.date(2024, 6, 30))
    referent = Warehouse(admin.catalog, admin.backend_name,
                         UserContext(name="ref", role="referent_pilotage", nominative=False, min_count=10))
    january = dict(start=dt.date(2024, 1, 1), end=dt.date(2024, 1, 31), filters={"hospital": "014"})
    shown = badge(referent, _dms(), **january)
    assert shown.status == UNFIT == badge(admin, _dms(), **january).status
    assert [r.id for r in shown.failing] == ["visit_occurrence_end_missing_old"]
    (failing,) = shown.failing
    assert failing.sample_ids == [] and failing.num_violated_rows is None  # 1 unclosed stay: under k
    assert "num_violated_rows" in failing.masked_fields
