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
