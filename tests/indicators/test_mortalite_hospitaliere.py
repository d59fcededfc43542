"""Hospital mortality and active file on a hand-made warehouse (period 2024-01 … 2024-02).

| stay | patient | start → end           | kind                     | discharge | hôpital | note                     |
|------|---------|-----------------------|--------------------------|-----------|---------|--------------------------|
| 1    | 1       | 01-02 → 01-05         | full hospitalisation     | 9 (death) | 014     |                          |
| 2    | 2       | 01-03 → 01-06         | full hospitalisation     | 8         | 014     |                          |
| 3    | 3       | 01-10 same day        | ambulatory               | 8         | 014     |                          |
| 4    | 4       | 02-01 → 02-10         | full hospitalisation     | 9 (death) | 028     |                          |
| 5    | 5       | 02-02 same day        | séance (28Z07Z)          | 8         | 014     | not in mortality         |
| 6    | 6       | 02-03 same day        | emergency visit          | 9         | 014     | not in mortality         |
| 7    | 7       | 02-05 → 02-08         | full hospitalisation     | 9         | 014     | soft-deleted             |
| 8    | 8       | 02-10 → open          | full hospitalisation     | –         | 014     | open                     |
| 9    | 1       | 02-15 same day        | consultation             | 8         | 014     |                          |
"""

from __future__ import annotations

import pytest

from workbench.indicators.engine import compute

from .fixtures import Fixture, Stay, build_warehouse, cells, definition

FIXTURE = Fixture(stays=[
    Stay(1, 1, "2024-01-02 09:00", "2024-01-05 10:00", discharge="9"),
    Stay(2, 2, "2024-01-03 09:00", "2024-01-06 10:00"),
    Stay(3, 3, "2024-01-10 09:00", "2024-01-10 17:00", visit="hospitalisation incomplète"),
    Stay(4, 4, "2024-02-01 09:00", "2024-02-10 10:00", discharge="9", uf="2801"),
    Stay(5, 5, "2024-02-02 09:00", "2024-02-02 12:00", visit="hospitalisation incomplète", ghm="28Z07Z"),
    Stay(6, 6, "2024-02-03 09:00", "2024-02-03 12:00", visit="urgence", discharge="9"),
    Stay(7, 7, "2024-02-05 09:00", "2024-02-08 10:00", discharge="9", status="supprimé"),
    Stay(8, 8, "2024-02-10 09:00", None),
    Stay(9, 1, "2024-02-15 09:00", "2024-02-15 09:30", visit="consultation externe"),
])
PERIOD = {"start": "2024-01", "end": "2024-02"}


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    return build_warehouse(FIXTURE, tmp_path_factory.mktemp("mortality"))


def terms(result, *keys):
    return {k: (row["numerator"], row["denominator"]) for k, row in cells(result, *keys).items()}


def test_mortality_among_full_and_ambulatory_stays(warehouse):
    result = compute(definition("mortalite_hospitaliere"), warehouse, **PERIOD)
    row = result.frame.iloc[0]
    assert (row["numerator"], row["denominator"]) == (2, 4)
    assert row["value"] == pytest.approx(50.0)
    assert terms(compute(definition("mortalite_hospitaliere"), warehouse, by=["hospital"], **PERIOD), "hospital") == {
        "014": (1, 3), "028": (1, 1),
    }
    assert terms(compute(definition("mortalite_hospitaliere"), warehouse, by=["month"], **PERIOD), "month") == {
        "2024-01": (1, 3), "2024-02": (1, 1),
    }


def test_file_active_counts_distinct_patients(warehouse):
    total = compute(definition("file_active"), warehouse, **PERIOD).frame.iloc[0]
    # patients 1–6 and 8 (7's only stay is deleted); patient 1 twice but counted once
    assert total["value"] == 7.0
    by_month = compute(definition("file_active"), warehouse, by=["month"], **PERIOD)
    assert {k: row["value"] for k, row in cells(by_month, "month").items()} == {"2024-01": 3.0, "2024-02": 5.0}
