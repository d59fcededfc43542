"""Coding exhaustivity ORBIS vs AREM on a hand-made warehouse (extraction 2024-01-31).

| stay | patient | discharge  | kind                    | ORBIS DP | AREM DP                 |
|------|---------|------------|-------------------------|----------|-------------------------|
| 1    | 1       | 2023-11-05 | full hospitalisation    | yes      | yes                     |
| 2    | 2       | 2023-11-20 | ambulatory              | yes      | yes                     |
| 3    | 3       | 2023-12-05 | full hospitalisation    | yes      | yes                     |
| 4    | 4       | 2023-12-20 | full hospitalisation    | yes      | no (AREM lag)           |
| 5    | 5       | 2024-01-05 | full hospitalisation    | yes      | no                      |
| 6    | 6       | 2024-01-10 | full hospitalisation    | DAS only | no                      |
| 7    | 7       | 2024-01-15 | full hospitalisation    | yes      | soft-deleted row        |
| 8    | 8       | 2024-01-16 | consultation            | yes      | –  (not a stay)         |
| 9    | 9       | open       | full hospitalisation    | –        | –  (open)               |
| 10   | 10      | 2024-01-20 | SSR full hospitalisation| yes      | –  (not MCO)            |
"""

from __future__ import annotations

import pytest

from workbench.indicators.engine import compute

from .fixtures import Diagnosis, Fixture, Stay, build_warehouse, cells, definition

FIXTURE = Fixture(
    stays=[
        Stay(1, 1, "2023-11-02 09:00", "2023-11-05 10:00"),
        Stay(2, 2, "2023-11-20 09:00", "2023-11-20 17:00", visit="hospitalisation incomplète"),
        Stay(3, 3, "2023-12-01 09:00", "2023-12-05 10:00"),
        Stay(4, 4, "2023-12-18 09:00", "2023-12-20 10:00"),
        Stay(5, 5, "2024-01-02 09:00", "2024-01-05 10:00"),
        Stay(6, 6, "2024-01-08 09:00", "2024-01-10 10:00"),
        Stay(7, 7, "2024-01-12 09:00", "2024-01-15 10:00"),
        Stay(8, 8, "2024-01-16 09:00", "2024-01-16 09:30", visit="consultation externe"),
        Stay(9, 9, "2024-01-20 09:00", None),
        Stay(10, 10, "2024-01-02 09:00", "2024-01-20 10:00", field="SSR"),
    ],
    diagnoses=[
        Diagnosis(1, "DP", "ORBIS"), Diagnosis(1, "DP", "AREM"),
        Diagnosis(2, "DP", "ORBIS"), Diagnosis(2, "DP", "AREM"),
        Diagnosis(3, "DP", "ORBIS"), Diagnosis(3, "DP", "AREM"), Diagnosis(3, "DAS", "AREM", "E119"),
        Diagnosis(4, "DP", "ORBIS"),
        Diagnosis(5, "DP", "ORBIS"),
        Diagnosis(6, "DAS", "ORBIS"),
        Diagnosis(7, "DP", "ORBIS"), Diagnosis(7, "DP", "AREM", row_status="supprimé"),
        Diagnosis(8, "DP", "ORBIS"),
        Diagnosis(10, "DP", "ORBIS"),
    ],
    extraction_date="2024-01-31",
)
PERIOD = {"start": "2023-11", "end": "2024-01"}


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    return build_warehouse(FIXTURE, tmp_path_factory.mktemp("coding"))


def terms(result, *keys):
    return {k: (row["numerator"], row["denominator"]) for k, row in cells(result, *keys).items()}


def test_arem_exhaustivity_shows_the_lag_of_recent_months(warehouse):
    result = compute(definition("exhaustivite_codage"), warehouse, by=["month"], **PERIOD)
    assert terms(result, "month") == {"2023-11": (2, 2), "2023-12": (1, 2), "2024-01": (0, 3)}
    assert cells(result, "month")["2023-12"]["value"] == pytest.approx(50.0)


def test_both_sources_side_by_side_when_no_source_is_chosen(warehouse):
    result = compute(definition("exhaustivite_codage"), warehouse, by=["month"], params={"source": None}, **PERIOD)
    assert terms(result, "month", "source") == {
        ("2023-11", "AREM"): (2, 2), ("2023-11", "ORBIS"): (2, 2),
        ("2023-12", "AREM"): (1, 2), ("2023-12", "ORBIS"): (2, 2),
        ("2024-01", "AREM"): (0, 3), ("2024-01", "ORBIS"): (2, 3),
    }


def test_orbis_source_parameter(warehouse):
    result = compute(definition("exhaustivite_codage"), warehouse, params={"source": "ORBIS"}, **PERIOD)
    assert (result.frame.iloc[0]["numerator"], result.frame.iloc[0]["denominator"]) == (6, 7)
    assert "source" not in result.frame.columns
