"""nb_sejours, journees and DMS on a hand-made warehouse, pitfalls included.

Patients (sex, birth → age band at admission):
  1 f 1950-03-01 (73–74 → 65-74)   2 m 1990-01-01 (34 → 18-44)
  3 m 2010-05-05 (13 → 0-17)       4 f 1935-01-01 (89 → 85+)

| stay | patient | start → end                | UF (hôpital) | visit / field                   | category              | nights | note                          |
|------|---------|----------------------------|--------------|---------------------------------|-----------------------|--------|-------------------------------|
| 1    | 1       | 2024-01-10 → 2024-01-13    | 1401 (014)   | hospitalisés MCO                | complète              | 3      |                               |
| 2    | 2       | 2024-01-20 → 2024-01-20    | 1402 (014)   | hospitalisation incomplète MCO  | ambulatoire           | 0      |                               |
| 3    | 1       | 2024-02-03 → 2024-02-03    | 1401 (014)   | hospitalisation incomplète MCO  | séance (GHM 28Z07Z)   | 0      |                               |
| 4    | 3       | 2024-02-10 → 2024-02-20    | 2801 (028)   | hospitalisés MCO                | complète              | 10     |                               |
| 5    | 4       | 2024-03-01 → (open)        | 1401 (014)   | hospitalisés MCO                | complète, open        | –      | open stay                     |
| 6    | 2       | 2024-03-05 → 2024-03-07    | 1401 (014)   | hospitalisés MCO                | –                     | 2      | soft-deleted                  |
| 7    | 4       | 2023-12-20 → 2023-12-31    | 1401 (014)   | hospitalisés MCO                | complète              | 11     | year-end split, part 1        |
| 8    | 4       | 2024-01-01 → 2024-01-05    | 1401 (014)   | hospitalisés MCO                | complète              | 4      | year-end split, part 2        |
| 9    | 3       | 2024-04-02 → 2024-04-02    | 2801 (028)   | consultation externe            | consultation          | 0      | not a stay                    |
| 10   | 1       | 2024-04-01 → 2024-04-21    | 2801 (028)   | hospitalisés SSR                | complète              | 20     |                               |

Extraction date 2024-12-31, so the default period is 2024-01 … 2024-12.
"""

from __future__ import annotations

import pandas as pd
import pytest

from workbench.indicators.engine import compute

from .fixtures import Fixture, Person, Stay, build_warehouse, cells, computations, definition

FIXTURE = Fixture(
    persons=[Person(1, "f", "1950-03-01"), Person(2, "m", "1990-01-01"), Person(3, "m", "2010-05-05"),
             Person(4, "f", "1935-01-01")],
    stays=[
        Stay(1, 1, "2024-01-10 08:00", "2024-01-13 10:00", ghm="05M091"),
        Stay(2, 2, "2024-01-20 09:00", "2024-01-20 17:00", uf="1402", visit="hospitalisation incomplète",
             ghm="05C10J"),
        Stay(3, 1, "2024-02-03 08:00", "2024-02-03 12:00", visit="hospitalisation incomplète", ghm="28Z07Z"),
        Stay(4, 3, "2024-02-10 08:00", "2024-02-20 11:00", uf="2801", ghm="06M041"),
        Stay(5, 4, "2024-03-01 08:00", None),
        Stay(6, 2, "2024-03-05 08:00", "2024-03-07 08:00", status="supprimé"),
        Stay(7, 4, "2023-12-20 08:00", "2023-12-31 23:59", discharge="6"),
        Stay(8, 4, "2024-01-01 00:00", "2024-01-05 10:00", admission="6", preceding=7),
        Stay(9, 3, "2024-04-02 10:00", "2024-04-02 11:00", uf="2801", visit="consultation externe"),
        Stay(10, 1, "2024-04-01 10:00", "2024-04-21 10:00", uf="2801", field="SSR"),
    ],
)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    return build_warehouse(FIXTURE, tmp_path_factory.mktemp("stays"))


def values(result, *keys):
    return {key: row["value"] for key, row in cells(result, *keys).items()}


def test_default_period_counts_ended_stays_without_open_deleted_or_consultations(warehouse):
    result = compute(definition("nb_sejours"), warehouse)
    # 2024: stays 1, 2, 3 (séance), 4, 8, 10 — not 5 (open), 6 (deleted), 7 (2023), 9 (consultation)
    assert result.status == "ok"
    assert result.frame["value"].tolist() == [6.0]
    assert result.frame["numerator"].tolist() == [6]
    assert result.frame["n_patients"].tolist() == [4]
    assert result.stamp["periode"] == "2024-01/2024-12"


def test_by_month_places_stays_by_discharge_date(warehouse):
    result = compute(definition("nb_sejours"), warehouse, by=["month"], start="2024-01", end="2024-06")
    assert values(result, "month") == {"2024-01": 3.0, "2024-02": 2.0, "2024-04": 1.0}


def test_year_end_split_counts_one_stay_in_each_year(warehouse):
    result = compute(definition("nb_sejours"), warehouse, by=["year"], start="2023-12", end="2024-12")
    assert values(result, "year") == {"2023": 1.0, "2024": 6.0}


def test_by_quarter(warehouse):
    result = compute(definition("nb_sejours"), warehouse, by=["quarter"])
    assert values(result, "quarter") == {"2024-Q1": 5.0, "2024-Q2": 1.0}


def test_by_care_site_levels(warehouse):
    nb = definition("nb_sejours")
    assert values(compute(nb, warehouse, by=["hospital"]), "hospital") == {"014": 4.0, "028": 2.0}
    assert values(compute(nb, warehouse, by=["pole"]), "pole") == {"P14": 4.0, "P28": 2.0}
    assert values(compute(nb, warehouse, by=["service"]), "service") == {"S14": 4.0, "S28": 2.0}
    assert values(compute(nb, warehouse, by=["uf"]), "uf") == {"1401": 3.0, "1402": 1.0, "2801": 2.0}


def test_by_sex_age_band_stay_type_visit_type(warehouse):
    nb = definition("nb_sejours")
    assert values(compute(nb, warehouse, by=["sex"]), "sex") == {"F": 4.0, "M": 2.0}
    assert values(compute(nb, warehouse, by=["age_band"]), "age_band") == {
        "0-17": 1.0, "18-44": 1.0, "65-74": 3.0, "85+": 1.0,
    }
    assert values(compute(nb, warehouse, by=["stay_type"]), "stay_type") == {"MCO": 5.0, "SSR": 1.0}
    assert values(compute(nb, warehouse, by=["visit_type"]), "visit_type") == {
        "hospitalisés": 4.0, "hospitalisation incomplète": 2.0,
    }


def test_two_dimensions_at_once(warehouse):
    result = compute(definition("nb_sejours"), warehouse, by=["hospital", "sex"])
    assert values(result, "hospital", "sex") == {("014", "F"): 3.0, ("014", "M"): 1.0, ("028", "F"): 1.0,
                                                  ("028", "M"): 1.0}
    assert list(result.frame.columns) == [
        "hospital", "sex", "value", "numerator", "denominator", "n_patients", "indicator_version", "snapshot_id",
    ]


def test_filters_keep_listed_members(warehouse):
    nb = definition("nb_sejours")
    assert compute(nb, warehouse, filters={"hospital": ["028"]}).frame["value"].tolist() == [2.0]
    assert compute(nb, warehouse, filters={"hospital": ["014"], "sex": ["M"]}).frame["value"].tolist() == [1.0]
    by_uf = compute(nb, warehouse, by=["hospital"], filters={"uf": ["1401", "2801"]})
    assert values(by_uf, "hospital") == {"014": 3.0, "028": 2.0}


def test_a_filter_member_is_a_literal_not_sql(warehouse):
    result = compute(definition("nb_sejours"), warehouse, filters={"hospital": ["014' OR '1'='1"]})
    assert result.frame["numerator"].tolist() == [0]
    assert "'014'' OR ''1''=''1'" in result.sql


def test_journees_sum_nights_of_ended_full_stays(warehouse):
    # 2024 full stays ended: 1 (3), 4 (10), 8 (4), 10 (20); open stay 5 has no discharge month
    result = compute(definition("journees"), warehouse, by=["hospital"])
    assert values(result, "hospital") == {"014": 7.0, "028": 30.0}


def test_dms_excludes_seances_ambulatory_and_open_stays(warehouse):
    dms = definition("dms")
    row = compute(dms, warehouse).frame.iloc[0]
    assert (row["numerator"], row["denominator"]) == (37, 4)
    assert row["value"] == pytest.approx(37 / 4)
    by_month = compute(dms, warehouse, by=["month"])
    assert values(by_month, "month") == {"2024-01": 3.5, "2024-02": 10.0, "2024-04": 20.0}
    mco = compute(dms, warehouse, filters={"stay_type": ["MCO"]}).frame.iloc[0]
    assert mco["value"] == pytest.approx(17 / 3)


def test_dms_of_a_month_without_stays_is_null_not_zero(warehouse):
    row = compute(definition("dms"), warehouse, start="2024-12", end="2024-12").frame.iloc[0]
    assert row["denominator"] == 0
    assert pd.isna(row["value"])


DMS_VERSIONS = [
    {"version": "1", "effective_from": "2015-01-01", "effective_to": "2023-12-31", "change": "création",
     "computation": computations()["dms_v1"]},
    {"version": "2", "effective_from": "2024-01-01", "change": "séjours non clos exclus",
     "computation": computations()["dms"]},
]


def test_version_in_force_at_the_end_of_the_period_is_used(warehouse):
    dms = definition("dms", versions=DMS_VERSIONS)
    december_2023 = compute(dms, warehouse, start="2023-12", end="2023-12")
    assert december_2023.version == "1"
    assert december_2023.frame["value"].tolist() == [11.0]  # split part 1: 20 → 31 December
    year_2024 = compute(dms, warehouse)
    assert year_2024.version == "2"
    assert year_2024.frame["indicator_version"].tolist() == ["2"]
    assert year_2024.frame["value"].tolist() == [pytest.approx(9.25)]


def test_version_one_counts_open_stays_up_to_the_extraction_date(warehouse):
    dms = definition("dms", versions=DMS_VERSIONS)
    # stay 5, open since 2024-03-01, stopped at 2024-12-31 = 305 nights, placed in the extraction month
    forced = compute(dms, warehouse, start="2024-12", end="2024-12", version="1").frame.iloc[0]
    assert (forced["numerator"], forced["denominator"], forced["value"]) == (305, 1, 305.0)
    current = compute(dms, warehouse, start="2024-12", end="2024-12").frame.iloc[0]
    assert current["denominator"] == 0
