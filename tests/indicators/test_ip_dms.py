"""IP-DMS on a hand-made warehouse (period 2024-01 … 2024-03).

Reference DMS: 05M091 → 4.0, 06C041 → 6.0, 08K021 → 2.0, 05M09T → 1.0 (09M011 has none).

| stay | GHM (type)   | start → end             | hôpital | counted?                         | actual | expected |
|------|--------------|-------------------------|---------|----------------------------------|--------|----------|
| 1    | 05M091 (M)   | 01-10 → 01-15           | 014     | yes, médecine                    | 5      | 4        |
| 2    | 05M091 (M)   | 01-20 → 01-22           | 014     | yes, médecine                    | 2      | 4        |
| 3    | 06C041 (C)   | 02-01 → 02-09           | 014     | yes, chirurgie                   | 8      | 6        |
| 4    | 08K021 (K)   | 02-10 → 02-13           | 028     | yes, autre                       | 3      | 2        |
| 5    | 09M011 (M)   | 02-10 → 02-12           | 014     | no reference                     |        |          |
| 6    | 28Z07Z       | 02-15 séance            | 014     | séance                           |        |          |
| 7    | 05M09T       | 02-16 ambulatory        | 014     | 0 night                          |        |          |
| 8    | 05M091       | 03-01 → open            | 014     | open                             |        |          |
| 9    | 05M091       | 03-01 → 03-05, SSR      | 014     | not MCO                          |        |          |
"""

from __future__ import annotations

import pytest

from workbench.indicators.engine import compute

from .fixtures import Fixture, Stay, build_warehouse, cells, definition

FIXTURE = Fixture(
    stays=[
        Stay(1, 1, "2024-01-10 09:00", "2024-01-15 10:00", ghm="05M091"),
        Stay(2, 2, "2024-01-20 09:00", "2024-01-22 10:00", ghm="05M091"),
        Stay(3, 3, "2024-02-01 09:00", "2024-02-09 10:00", ghm="06C041"),
        Stay(4, 4, "2024-02-10 09:00", "2024-02-13 10:00", ghm="08K021", uf="2801"),
        Stay(5, 5, "2024-02-10 09:00", "2024-02-12 10:00", ghm="09M011"),
        Stay(6, 6, "2024-02-15 09:00", "2024-02-15 12:00", ghm="28Z07Z", visit="hospitalisation incomplète"),
        Stay(7, 7, "2024-02-16 09:00", "2024-02-16 17:00", ghm="05M09T", visit="hospitalisation incomplète"),
        Stay(8, 8, "2024-03-01 09:00", None, ghm="05M091"),
        Stay(9, 9, "2024-03-01 09:00", "2024-03-05 10:00", ghm="05M091", field="SSR"),
    ],
    reference_dms={"05M091": 4.0, "06C041": 6.0, "08K021": 2.0, "05M09T": 1.0},
)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    return build_warehouse(FIXTURE, tmp_path_factory.mktemp("ip_dms"))


def terms(result, *keys):
    return {k: (row["numerator"], row["denominator"]) for k, row in cells(result, *keys).items()}


def test_medicine_and_surgery_are_reported_separately(warehouse):
    result = compute(definition("ip_dms"), warehouse, start="2024-01", end="2024-03")
    assert terms(result, "activite") == {"medecine": (7, 8), "chirurgie": (8, 6), "autre": (3, 2)}
    assert cells(result, "activite")["medecine"]["value"] == pytest.approx(7 / 8)
    assert list(result.frame.columns)[:2] == ["activite", "value"]


def test_activity_parameter_restricts_to_one_activity(warehouse):
    result = compute(definition("ip_dms"), warehouse, start="2024-01", end="2024-03", params={"activity": "chirurgie"})
    assert "activite" not in result.frame.columns
    assert (result.frame.iloc[0]["numerator"], result.frame.iloc[0]["denominator"]) == (8, 6)
    assert result.frame.iloc[0]["value"] == pytest.approx(8 / 6)


def test_ip_dms_by_hospital(warehouse):
    result = compute(definition("ip_dms"), warehouse, by=["hospital"], start="2024-01", end="2024-03")
    assert terms(result, "hospital", "activite") == {
        ("014", "chirurgie"): (8, 6), ("014", "medecine"): (7, 8), ("028", "autre"): (3, 2),
    }


def test_ip_dms_lineage_includes_the_reference_table(warehouse):
    lineage = compute(definition("ip_dms"), warehouse, start="2024-01", end="2024-03").lineage
    assert lineage["ghm_reference_dms"] == ["ghm", "reference_dms"]
    assert "drg_source_value" in lineage["cost"]
