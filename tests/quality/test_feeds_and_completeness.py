"""Feed completeness per hospital and month, AREM lag, deaths, and the completeness family."""

from __future__ import annotations

import datetime as dt
import itertools

from conftest import ts

from workbench.quality import run_checks, violating_ids

MONTHS = [f"{year}-{month:02d}" for year in (2023, 2024) for month in range(1, 13)][:18]  # 2023-01 .. 2024-06


def _visits_per_month(hospital: int, months: list[str], per_month: int, ids: itertools.count) -> list[dict]:
    return [
        {"visit_occurrence_id": next(ids), "person_id": 1, "care_site_id": hospital,
         "visit_start_datetime": ts(f"{month}-{day + 1:02d}"), "visit_end_datetime": ts(f"{month}-{day + 1:02d}"),
         "visit_source_value": "consultation externe"}
        for month in months for day in range(per_month)
    ]


def test_late_start_and_stopped_feeds_are_reported_by_hospital_and_month(make_warehouse):
    ids = itertools.count(1)
    normal = [m for m in MONTHS if m != "2023-09"]  # hospital 100: one empty month in the middle (a dip)
    visits = (
        _visits_per_month(100, normal, 10, ids)
        + _visits_per_month(200, MONTHS[4:], 10, ids)  # deployed in 2023-05
        + _visits_per_month(300, MONTHS[:14], 10, ids)  # stopped after 2024-02
        + _visits_per_month(300, ["2024-04"], 3, ids)  # a straggler: 3 / 10 = 0.3, not below 0.25
        + _visits_per_month(400, MONTHS[6:], 2, ids)  # 2 stays a month: too few to judge (expected < 8)
    )
    warehouse = make_warehouse({"person": [{"person_id": 1}], "visit_occurrence": visits},
                               extraction=dt.date(2024, 6, 30))
    assert violating_ids(warehouse, "visit_occurrence_feed_start") == [
        "200:2023-01", "200:2023-02", "200:2023-03", "200:2023-04",
    ]
    # The straggler month 2024-04 (ratio 0.3) becomes the last normal month of 300.
    assert violating_ids(warehouse, "visit_occurrence_feed_stop") == ["300:2024-05", "300:2024-06"]
    (start,) = run_checks(warehouse, ["visit_occurrence_feed_start"]).results
    # judged cells: hospitals 100, 200, 300 over 18 months; hospital 400 is never judged
    assert (start.num_violated_rows, start.num_denominator_rows) == (4, 3 * 18)


def test_extraction_month_is_prorated(make_warehouse):
    ids = itertools.count(1)
    visits = _visits_per_month(100, MONTHS[:17], 28, ids) + _visits_per_month(100, ["2024-06"], 3, ids)
    # Median 28 a month. 3 stays in the first 10 days of June: 3 / (28 x 10/30) = 0.32, not low.
    early = make_warehouse({"person": [{"person_id": 1}], "visit_occurrence": visits}, extraction=dt.date(2024, 6, 10))
    assert violating_ids(early, "visit_occurrence_feed_stop") == []
    # The same 3 stays seen at the end of June: 3 / 28 = 0.11, low.
    late = make_warehouse({"person": [{"person_id": 1}], "visit_occurrence": visits}, extraction=dt.date(2024, 6, 30))
    assert violating_ids(late, "visit_occurrence_feed_stop") == ["100:2024-06"]


def test_arem_lag_cells(make_warehouse):
    visits, conditions = [], []
    ids = itertools.count(1)
    for month in ("2024-03", "2024-04", "2024-05", "2024-06"):
        emergency = next(ids)  # emergency visits are coded in ORBIS only, never sent to AREM: not counted
        visits.append({"visit_occurrence_id": emergency, "person_id": 1, "care_site_id": 100,
                       "visit_start_datetime": ts(f"{month}-20"), "visit_end_datetime": ts(f"{month}-20"),
                       "visit_source_value": "urgence"})
        conditions.append({"condition_occurrence_id": next(ids), "visit_occurrence_id": emergency, "person_id": 1,
                           "condition_start_datetime": ts(f"{month}-20"), "cdm_source": "ORBIS"})
        for day in range(1, 6):
            visit = next(ids)
            visits.append({"visit_occurrence_id": visit, "person_id": 1, "care_site_id": 100,
                           "visit_start_datetime": ts(f"{month}-{day:02d}"),
                           "visit_end_datetime": ts(f"{month}-{day + 2:02d}"), "visit_source_value": "hospitalisés"})
            sources = ["ORBIS"] + (["AREM"] if month <= "2024-04" or (month == "2024-05" and day <= 2) else [])
            for source in sources:
                conditions.append({"condition_occurrence_id": next(ids), "visit_occurrence_id": visit, "person_id": 1,
                                   "condition_start_datetime": ts(f"{month}-{day:02d}"), "cdm_source": source,
                                   "condition_source_value": "I10", "condition_status_source_value": "DP"})
    warehouse = make_warehouse({"person": [{"person_id": 1}], "visit_occurrence": visits,
                                "condition_occurrence": conditions})
    # Cells by discharge month. March, April: 5 of 5 stays in AREM; May: 2 of 5 (40 % < 95 %); June: none.
    assert violating_ids(warehouse, "condition_occurrence_arem_lag") == ["100:2024-05", "100:2024-06"]


def test_hospital_recording_no_deaths(make_warehouse):
    ids = itertools.count(1)

    def stays(hospital, n, deaths):
        return [{"visit_occurrence_id": next(ids), "person_id": 1, "care_site_id": hospital,
                 "visit_start_datetime": ts("2024-01-01"), "visit_source_value": "hospitalisés",
                 "discharge_to_source_value": "9" if i < deaths else "8"} for i in range(n)]

    # 12 deaths in 220 stays overall: hospital 2 (100 stays) is expected 100 x 12 / 220 = 5.5 deaths and
    # has none; hospital 3 (20 stays, expected 1.1) may well have none.
    warehouse = make_warehouse({"person": [{"person_id": 1}],
                                "visit_occurrence": stays(1, 100, 12) + stays(2, 100, 0) + stays(3, 20, 0)})
    assert violating_ids(warehouse, "visit_occurrence_hospital_deaths") == [2]


def test_completeness_family(make_warehouse):
    extraction = dt.date(2024, 6, 30)

    def visit(vid, person, start, end, kind="hospitalisés"):
        return {"visit_occurrence_id": vid, "person_id": person, "care_site_id": 100,
                "visit_start_datetime": ts(start), "visit_end_datetime": ts(end) if end else None,
                "visit_source_value": kind, "stay_source_value": "MCO"}

    warehouse = make_warehouse({
        "person": [{"person_id": p} for p in (1, 2, 3, 4)],  # person 4 has no stay
        "visit_occurrence": [
            visit(1, 1, "2023-01-01", None),  # open for 18 months and followed by stay 2: never closed
            visit(2, 1, "2023-06-01", "2023-06-05"),
            visit(3, 2, "2023-01-01", None),  # open but the patient has no later stay: may still be there
            visit(4, 3, "2024-05-01", None),  # open, recent
            visit(5, 3, "2024-05-20", "2024-05-21", kind="consultation externe"),
        ],
        "visit_detail": [{"visit_detail_id": 1, "visit_occurrence_id": 2}],
        "condition_occurrence": [{"condition_occurrence_id": 1, "visit_occurrence_id": 2,
                                  "condition_status_source_value": "DAS"}],
        "measurement": [
            {"measurement_id": 1, "value_as_number": 1.0, "unit_source_value": "g/L"},
            {"measurement_id": 2, "value_as_number": 1.0, "unit_source_value": None},
            {"measurement_id": 3, "value_as_number": None, "value_source_value": None},
            {"measurement_id": 4, "value_as_number": None, "value_source_value": "positif"},
        ],
        "care_site": [
            {"care_site_id": 1, "care_site_type_source_value": "AP-HP"},
            {"care_site_id": 100, "care_site_type_source_value": "Hôpital"},
            {"care_site_id": 101, "care_site_type_source_value": "UF"},
        ],
        "fact_relationship": [{"fact_id_1": 100, "fact_id_2": 1}],
        "care_site_capacity": [{"care_site_id": 101, "beds_installed": 12}, {"care_site_id": 102, "beds_installed": None}],
    }, extraction=extraction)
    assert violating_ids(warehouse, "visit_occurrence_end_missing_old") == [1]
    assert violating_ids(warehouse, "person_has_stay") == [4]
    # closed MCO hospital stays discharged > 90 days before extraction: only stay 2, coded without DP
    assert violating_ids(warehouse, "visit_occurrence_has_dp") == [2]
    assert violating_ids(warehouse, "visit_occurrence_has_ghm") == [2]
    assert violating_ids(warehouse, "visit_occurrence_has_movement") == [1, 3, 4]
    assert violating_ids(warehouse, "measurement_unit_present") == [2]
    assert violating_ids(warehouse, "measurement_value_present") == [3]
    assert violating_ids(warehouse, "care_site_in_tree") == [101]
    assert violating_ids(warehouse, "care_site_capacity_beds_installed_required") == [102]
    # stay 2 (the only discharged MCO hospital stay) has neither mode of discharge nor mode of entry
    assert violating_ids(warehouse, "visit_occurrence_discharge_to_source_value_present") == [2]
    assert violating_ids(warehouse, "visit_occurrence_admitted_from_source_value_present") == [2]
    (person,) = run_checks(warehouse, ["person_has_stay"]).results
    # 1 of 4 persons without a stay = 25 % > 5 % tolerated
    assert (person.status.value, person.pct_violated_rows) == ("failed", 25.0)
