"""Emergency indicators on a hand-made warehouse (period 2024-01 … 2024-02).

Emergency visits (visit type ``urgence``, UF 1401 / hôpital 014 unless stated):

| visit | patient | arrival → departure         | what follows                                                | admitted? |
|-------|---------|-----------------------------|-------------------------------------------------------------|-----------|
| 1     | 1       | 01-05 10:00 → 01-05 14:00   | stay 2 starts 01-05 15:00 (provenance 5)                    | yes       |
| 3     | 2       | 01-10 22:00 → 01-11 02:00   | stay 4 starts 01-12 01:00 (23 h later, provenance 5)        | yes       |
| 5     | 3       | 01-15 10:00 → 01-15 12:00   | stay 6 starts 01-16 13:00 (25 h later)                      | no        |
| 7     | 4       | 01-20 10:00 → 01-20 12:00   | stay 8 starts 01-25 with the same NDA N77                   | yes       |
| 9     | 5       | 02-01 08:00 → 02-01 09:00   | consultation 10 at 11:00 (not an admission)                 | no        |
| 11    | 6       | 02-03 08:00 → 02-03 10:00   | stay 12 of another patient (7) at 12:00                     | no        |
| 13    | 8       | 02-05, soft-deleted         |                                                             | –         |
| 14    | 1       | 02-10 10:00 → 02-10 11:00, UF 2801 (028) | stay 15 on 02-20 records 14 as preceding visit   | yes       |
| 16    | 9       | 2023-12-31 23:00 → 01-01 03:00 | arrival before the period                                | –         |

Full-hospitalisation stays ending in the period: 2 (from ED), 4 (from ED), 6, 8, 12, 15 (from ED).
"""

from __future__ import annotations

import pytest

from workbench.indicators.engine import compute

from .fixtures import Fixture, Stay, build_warehouse, cells, definition

ED = "urgence"
FIXTURE = Fixture(stays=[
    Stay(1, 1, "2024-01-05 10:00", "2024-01-05 14:00", visit=ED),
    Stay(2, 1, "2024-01-05 15:00", "2024-01-08 10:00", provenance="5"),
    Stay(3, 2, "2024-01-10 22:00", "2024-01-11 02:00", visit=ED),
    Stay(4, 2, "2024-01-12 01:00", "2024-01-14 10:00", provenance="5"),
    Stay(5, 3, "2024-01-15 10:00", "2024-01-15 12:00", visit=ED),
    Stay(6, 3, "2024-01-16 13:00", "2024-01-18 10:00"),
    Stay(7, 4, "2024-01-20 10:00", "2024-01-20 12:00", visit=ED, nda="N77"),
    Stay(8, 4, "2024-01-25 10:00", "2024-01-28 10:00", nda="N77"),
    Stay(9, 5, "2024-02-01 08:00", "2024-02-01 09:00", visit=ED),
    Stay(10, 5, "2024-02-01 11:00", "2024-02-01 11:30", visit="consultation externe"),
    Stay(11, 6, "2024-02-03 08:00", "2024-02-03 10:00", visit=ED),
    Stay(12, 7, "2024-02-03 12:00", "2024-02-06 10:00"),
    Stay(13, 8, "2024-02-05 08:00", "2024-02-05 10:00", visit=ED, status="supprimé"),
    Stay(14, 1, "2024-02-10 10:00", "2024-02-10 11:00", visit=ED, uf="2801"),
    Stay(15, 1, "2024-02-20 10:00", "2024-02-24 10:00", preceding=14, provenance="5"),
    Stay(16, 9, "2023-12-31 23:00", "2024-01-01 03:00", visit=ED),
])
PERIOD = {"start": "2024-01", "end": "2024-02"}


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    return build_warehouse(FIXTURE, tmp_path_factory.mktemp("emergency"))


def terms(result, *keys):
    return {k: (row["numerator"], row["denominator"]) for k, row in cells(result, *keys).items()}


def test_passages_counted_by_arrival_month(warehouse):
    result = compute(definition("passages_urgences"), warehouse, by=["month"], **PERIOD)
    assert {k: row["value"] for k, row in cells(result, "month").items()} == {"2024-01": 4.0, "2024-02": 3.0}
    by_hospital = compute(definition("passages_urgences"), warehouse, by=["hospital"], **PERIOD)
    assert {k: row["numerator"] for k, row in cells(by_hospital, "hospital").items()} == {"014": 6, "028": 1}


def test_hospitalisation_after_emergency(warehouse):
    result = compute(definition("taux_hospit_urgences"), warehouse, **PERIOD)
    row = result.frame.iloc[0]
    assert (row["numerator"], row["denominator"]) == (4, 7)
    assert row["value"] == pytest.approx(100 * 4 / 7)
    by_month = compute(definition("taux_hospit_urgences"), warehouse, by=["month"], **PERIOD)
    assert terms(by_month, "month") == {"2024-01": (3, 4), "2024-02": (1, 3)}
    by_hospital = compute(definition("taux_hospit_urgences"), warehouse, by=["hospital"], **PERIOD)
    assert terms(by_hospital, "hospital") == {"014": (3, 6), "028": (1, 1)}


def test_admission_window_is_a_parameter(warehouse):
    # with 22 hours, visit 3 (admission 23 h after departure) is no longer followed by an admission
    result = compute(definition("taux_hospit_urgences"), warehouse, params={"window_hours": 22}, **PERIOD)
    assert (result.frame.iloc[0]["numerator"], result.frame.iloc[0]["denominator"]) == (3, 7)


def test_part_entrees_urgences(warehouse):
    result = compute(definition("part_entrees_urgences"), warehouse, **PERIOD)
    row = result.frame.iloc[0]
    assert (row["numerator"], row["denominator"]) == (3, 6)
    assert row["value"] == pytest.approx(50.0)
