"""RH7 and RH30 (readmissions) on a hand-made warehouse.

All stays are MCO full hospitalisations in UF 1401 (hôpital 014) unless stated;
index period 2024-01 … 2024-03.

| patient | stays (id: start → end, details)                                                   | RH30                    | RH7                       |
|---------|------------------------------------------------------------------------------------|-------------------------|---------------------------|
| 1       | 11: 01-01 → 01-05 ; 12: 01-20 → 01-22                                              | readmitted (15 days)    | not (15 > 7)              |
| 2       | 21: 01-10 → 01-12 ; 22: 01-14 → 01-16                                              | readmitted (2 days)     | readmitted                |
| 3       | 31: 01-03 → 01-08 discharge 7 (transfer) ; 32: 01-10 → 01-15                       | not (31 is no index)    | not                       |
| 4       | 41: 02-01 → 02-03 ; 42: 02-10 séance 28Z07Z ; 43: 02-15 → 02-18 GHM 17M051 (chemo) | not (séance, planned)   | not                       |
| 5       | 51: 02-05 → 02-08 GHM 14Z08Z (obstetrics) ; 52: 02-12 → 02-25 GHM 05M091           | not (51 excluded)       | readmitted (4 days)       |
| 6       | 61: 03-01 → 03-05 discharge 9 (death)                                              | no index                | no index                  |
| 7       | 71: 03-01 → 03-02 ; 72: 04-10 → 04-12                                              | not (39 days)           | not                       |
| 8       | 81: 03-10 → 03-12 ; 82: 03-15 → 03-16 soft-deleted                                 | not                     | not                       |
| 9       | 91: 2023-12-20 → 12-31 discharge 6 ; 92: 01-01 → 01-04 (year-end split)            | not                     | not                       |
| 10      | 101: 03-20 → 03-22 (014) ; 102: 03-25 → 03-27 UF 2801 (hôpital 028)                | readmitted (3 days)     | readmitted                |
"""

from __future__ import annotations

import pytest

from workbench.indicators.engine import compute

from .fixtures import Fixture, Stay, build_warehouse, cells, definition


def full(stay_id, person, start, end, **extra):
    return Stay(stay_id, person, f"2024-{start} 09:00", f"2024-{end} 11:00", ghm=extra.pop("ghm", "05M091"), **extra)


FIXTURE = Fixture(stays=[
    full(11, 1, "01-01", "01-05"), full(12, 1, "01-20", "01-22"),
    full(21, 2, "01-10", "01-12"), full(22, 2, "01-14", "01-16"),
    full(31, 3, "01-03", "01-08", discharge="7"), full(32, 3, "01-10", "01-15"),
    full(41, 4, "02-01", "02-03"),
    Stay(42, 4, "2024-02-10 09:00", "2024-02-10 15:00", visit="hospitalisation incomplète", ghm="28Z07Z"),
    full(43, 4, "02-15", "02-18", ghm="17M051"),
    full(51, 5, "02-05", "02-08", ghm="14Z08Z"), full(52, 5, "02-12", "02-25"),
    full(61, 6, "03-01", "03-05", discharge="9"),
    full(71, 7, "03-01", "03-02"), full(72, 7, "04-10", "04-12"),
    full(81, 8, "03-10", "03-12"), full(82, 8, "03-15", "03-16", status="supprimé"),
    Stay(91, 9, "2023-12-20 09:00", "2023-12-31 23:59", ghm="05M091", discharge="6"),
    Stay(92, 9, "2024-01-01 00:00", "2024-01-04 11:00", ghm="05M091", admission="6", preceding=91),
    full(101, 10, "03-20", "03-22"), full(102, 10, "03-25", "03-27", uf="2801"),
])


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    return build_warehouse(FIXTURE, tmp_path_factory.mktemp("readmissions"))


def rates(result, *keys):
    return {k: (row["numerator"], row["denominator"]) for k, row in cells(result, *keys).items()}


def test_rh30_counts_patients_with_exclusions(warehouse):
    result = compute(definition("rh30"), warehouse, start="2024-01", end="2024-03")
    row = result.frame.iloc[0]
    # index patients 1,2,3,4,5,7,8,9,10 (6 died); readmitted 1, 2, 10
    assert (row["numerator"], row["denominator"], row["n_patients"]) == (3, 9, 9)
    assert row["value"] == pytest.approx(100 * 3 / 9)


def test_rh30_by_month_of_the_index_discharge(warehouse):
    result = compute(definition("rh30"), warehouse, by=["month"], start="2024-01", end="2024-03")
    assert rates(result, "month") == {"2024-01": (2, 4), "2024-02": (0, 2), "2024-03": (1, 3)}
    assert cells(result, "month")["2024-01"]["value"] == pytest.approx(50.0)


def test_rh30_by_hospital_of_the_index_stay(warehouse):
    result = compute(definition("rh30"), warehouse, by=["hospital"], start="2024-01", end="2024-03")
    assert rates(result, "hospital") == {"014": (3, 9), "028": (0, 1)}


def test_rh7_window_and_no_obstetric_exclusion(warehouse):
    result = compute(definition("rh7"), warehouse, by=["month"], start="2024-01", end="2024-03")
    # January: only patient 2 within 7 days; February: patient 5 (51 → 52 after 4 days)
    assert rates(result, "month") == {"2024-01": (1, 4), "2024-02": (1, 2), "2024-03": (1, 3)}


def test_year_end_split_is_not_a_readmission(warehouse):
    result = compute(definition("rh30"), warehouse, by=["month"], start="2023-12", end="2024-01")
    # 91 ends with a mutation (mode 6): no index; 92 is an index without readmission
    assert rates(result, "month") == {"2024-01": (2, 4)}


def test_readmission_window_is_a_parameter(warehouse):
    result = compute(definition("rh30"), warehouse, start="2024-01", end="2024-03", params={"window_days": 2})
    # within 2 days: only patient 2 (22 starts 2 days after 21)
    assert (result.frame.iloc[0]["numerator"], result.frame.iloc[0]["denominator"]) == (1, 9)
