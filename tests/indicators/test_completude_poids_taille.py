"""Weight/height completeness on a hand-made warehouse (period 2024-01 … 2024-02).

| stay | patient | start → end     | kind                 | hôpital | weight (29463-7) / height (8302-2)             | complete? |
|------|---------|-----------------|----------------------|---------|------------------------------------------------|-----------|
| 1    | 1       | 01-02 → 01-05   | full hospitalisation | 014     | weight 01-02, height 01-03                     | yes       |
| 2    | 2       | 01-10 → 01-12   | full hospitalisation | 014     | weight 01-11 only                              | no        |
| 3    | 3       | 01-15 → 01-18   | full hospitalisation | 014     | weight 01-16, height 01-10 (before the stay)   | no        |
| 4    | 4       | 02-01 → 02-04   | full hospitalisation | 028     | weight 02-02, height 02-02 without a value     | no        |
| 5    | 5       | 02-05 → 02-08   | full hospitalisation | 014     | weight and height 02-06, not linked to the stay | yes      |
| 6    | 6       | 02-10 same day  | ambulatory           | 014     | weight and height                              | –         |
| 7    | 1       | 02-20 → 02-22   | full hospitalisation | 014     | none (patient 1's January ones are outside)    | no        |
"""

from __future__ import annotations

import pytest

from workbench.indicators.engine import compute

from .fixtures import HEIGHT, WEIGHT, Fixture, Measure, Stay, build_warehouse, cells, definition

FIXTURE = Fixture(
    stays=[
        Stay(1, 1, "2024-01-02 09:00", "2024-01-05 10:00"),
        Stay(2, 2, "2024-01-10 09:00", "2024-01-12 10:00"),
        Stay(3, 3, "2024-01-15 09:00", "2024-01-18 10:00"),
        Stay(4, 4, "2024-02-01 09:00", "2024-02-04 10:00", uf="2801"),
        Stay(5, 5, "2024-02-05 09:00", "2024-02-08 10:00"),
        Stay(6, 6, "2024-02-10 09:00", "2024-02-10 17:00", visit="hospitalisation incomplète"),
        Stay(7, 1, "2024-02-20 09:00", "2024-02-22 10:00"),
    ],
    measures=[
        Measure(1, 1, WEIGHT, "2024-01-02 10:00"), Measure(1, 1, HEIGHT, "2024-01-03 10:00", 170.0),
        Measure(2, 2, WEIGHT, "2024-01-11 10:00"),
        Measure(3, 3, WEIGHT, "2024-01-16 10:00"), Measure(3, 3, HEIGHT, "2024-01-10 10:00", 160.0),
        Measure(4, 4, WEIGHT, "2024-02-02 10:00"), Measure(4, 4, HEIGHT, "2024-02-02 10:00", None),
        Measure(5, None, WEIGHT, "2024-02-06 10:00"), Measure(5, None, HEIGHT, "2024-02-06 10:00", 180.0),
        Measure(6, 6, WEIGHT, "2024-02-10 10:00"), Measure(6, 6, HEIGHT, "2024-02-10 10:00", 150.0),
    ],
)
PERIOD = {"start": "2024-01", "end": "2024-02"}


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    return build_warehouse(FIXTURE, tmp_path_factory.mktemp("anthropometry"))


def terms(result, *keys):
    return {k: (row["numerator"], row["denominator"]) for k, row in cells(result, *keys).items()}


def test_completeness_needs_both_measured_during_the_stay(warehouse):
    result = compute(definition("completude_poids_taille"), warehouse, **PERIOD)
    row = result.frame.iloc[0]
    assert (row["numerator"], row["denominator"]) == (2, 6)
    assert row["value"] == pytest.approx(100 * 2 / 6)


def test_completeness_by_month_and_hospital(warehouse):
    by_month = compute(definition("completude_poids_taille"), warehouse, by=["month"], **PERIOD)
    assert terms(by_month, "month") == {"2024-01": (1, 3), "2024-02": (1, 3)}
    by_hospital = compute(definition("completude_poids_taille"), warehouse, by=["hospital"], **PERIOD)
    assert terms(by_hospital, "hospital") == {"014": (2, 5), "028": (0, 1)}


def test_completeness_lineage_reaches_the_loinc_mapping(warehouse):
    lineage = compute(definition("completude_poids_taille"), warehouse, **PERIOD).lineage
    assert {"measurement_datetime", "measurement_source_concept_id", "value_as_number"} <= set(lineage["measurement"])
    assert "concept_relationship" in lineage
