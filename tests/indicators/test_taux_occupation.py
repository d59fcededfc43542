"""Bed occupancy on a hand-made warehouse (period 2024-01 … 2024-02, extraction 2024-12-31).

Installed beds: UF 1401 (hôpital 014) 10 beds since 2020; UF 2801 (hôpital 028)
5 beds from 2024-01-01 to 2024-01-15, then 8 beds; UF 1402 has no capacity.

A day counts when the patient is present at the midnight that ends it:

| stay | patient | movements (UF: start → end)                                  | January        | February       |
|------|---------|--------------------------------------------------------------|----------------|----------------|
| 1    | 1       | 1401: 01-10 08:00 → 01-13 10:00                              | 1401: 3        |                |
| 2    | 2       | 1401: 01-20 09:00 → 01-20 18:00 (same day)                   | 1401: 0        |                |
| 3    | 3       | 1401: 01-30 10:00 → 02-02 10:00 ; 2801: 02-02 → 02-05 09:00  | 1401: 2        | 1401: 1, 2801: 3 |
| 4    | 4       | 1402: 01-05 → 01-10 (no beds declared)                       | –              |                |
| 5    | 5       | 2801: 01-14 → still open (counted up to the extraction date) | 2801: 18       | 2801: 29       |
| 6    | 6       | 1401: 01-15 → 01-18, soft-deleted                            | –              |                |

Bed-days: 1401: 10 × 31 = 310 (Jan), 10 × 29 = 290 (Feb);
2801: 5 × 15 + 8 × 16 = 203 (Jan), 8 × 29 = 232 (Feb).
"""

from __future__ import annotations

import pytest

from workbench.errors import UserError
from workbench.indicators.engine import compute

from .fixtures import Capacity, Fixture, Stay, build_warehouse, cells, definition

FIXTURE = Fixture(
    stays=[
        Stay(1, 1, "2024-01-10 08:00", "2024-01-13 10:00"),
        Stay(2, 2, "2024-01-20 09:00", "2024-01-20 18:00"),
        Stay(3, 3, "2024-01-30 10:00", "2024-02-05 09:00", uf="2801", movements=[
            ("1401", "2024-01-30 10:00", "2024-02-02 10:00"), ("2801", "2024-02-02 10:00", "2024-02-05 09:00"),
        ]),
        Stay(4, 4, "2024-01-05 10:00", "2024-01-10 10:00", uf="1402"),
        Stay(5, 5, "2024-01-14 10:00", None, uf="2801"),
        Stay(6, 6, "2024-01-15 10:00", "2024-01-18 10:00", status="supprimé"),
    ],
    capacities=[
        Capacity("1401", 10, "2020-01-01"),
        Capacity("2801", 5, "2024-01-01", "2024-01-15"),
        Capacity("2801", 8, "2024-01-16"),
    ],
)
DIMENSIONS = ["hospital", "pole", "service", "uf", "month", "quarter", "year"]


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    return build_warehouse(FIXTURE, tmp_path_factory.mktemp("occupancy"))


@pytest.fixture(scope="module")
def occupancy():
    return definition("taux_occupation", dimensions=DIMENSIONS)


def terms(result, *keys):
    return {k: (row["numerator"], row["denominator"]) for k, row in cells(result, *keys).items()}


def test_occupancy_by_hospital_and_month(warehouse, occupancy):
    result = compute(occupancy, warehouse, by=["hospital", "month"], start="2024-01", end="2024-02")
    assert terms(result, "hospital", "month") == {
        ("014", "2024-01"): (5, 310), ("014", "2024-02"): (1, 290),
        ("028", "2024-01"): (18, 203), ("028", "2024-02"): (32, 232),
    }
    assert cells(result, "hospital", "month")[("014", "2024-01")]["value"] == pytest.approx(100 * 5 / 310)
    # patients present at a midnight in 014 in January: 1 and 3 (2 left the same day)
    assert cells(result, "hospital", "month")[("014", "2024-01")]["n_patients"] == 2


def test_occupancy_whole_period_and_by_uf(warehouse, occupancy):
    total = compute(occupancy, warehouse, start="2024-01", end="2024-02").frame.iloc[0]
    assert (total["numerator"], total["denominator"]) == (56, 1035)
    assert total["value"] == pytest.approx(100 * 56 / 1035)
    by_uf = compute(occupancy, warehouse, by=["uf"], start="2024-01", end="2024-02")
    assert terms(by_uf, "uf") == {"1401": (6, 600), "2801": (50, 435)}


def test_occupancy_filters_and_quarter(warehouse, occupancy):
    result = compute(occupancy, warehouse, by=["quarter"], start="2024-01", end="2024-02", filters={"hospital": ["028"]})
    assert terms(result, "quarter") == {"2024-Q1": (50, 435)}
    february = compute(occupancy, warehouse, start="2024-01", end="2024-02", filters={"month": ["2024-02"]})
    assert (february.frame.iloc[0]["numerator"], february.frame.iloc[0]["denominator"]) == (33, 522)


def test_occupancy_refuses_dimensions_a_bed_does_not_have(warehouse, occupancy):
    with pytest.raises(UserError, match="by : l'indicateur taux_occupation ne se ventile pas par 'sex'"):
        compute(occupancy, warehouse, by=["sex"])


def test_occupancy_lineage_reads_capacities_and_movements(warehouse, occupancy):
    lineage = compute(occupancy, warehouse, by=["hospital"], start="2024-01", end="2024-02").lineage
    assert lineage["care_site_capacity"] == ["beds_installed", "care_site_id", "valid_from", "valid_to"]
    assert {"visit_detail_start_datetime", "visit_detail_end_datetime", "care_site_id"} <= set(lineage["visit_detail"])
    assert "visit_occurrence" not in lineage
