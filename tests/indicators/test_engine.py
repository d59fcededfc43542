"""The engine's contract: request validation, availability, one expression, SQL, lineage, stamp.

Warehouse used here (hôpital 014 unless stated, extraction 2024-12-31):

| stay | patient (sex, birth) | start → end                 | kind                          | GHM     |
|------|----------------------|-----------------------------|-------------------------------|---------|
| 1    | 1 (f, 1950-03-01)    | 2024-01-10 → 2024-01-13     | full hospitalisation          | 05M091  |
| 2    | 2 (m, 1990-01-01)    | 2024-03-20 → 2024-03-20     | ambulatory, UF 2801 (028)     | 05C10J  |
| 3    | 1                    | 2024-05-02 → 2024-05-06     | full hospitalisation          | 05M092  |
| 4    | 2                    | 2023-06-01 → 2023-06-03     | full hospitalisation          | 05M091  |
"""

from __future__ import annotations

import pytest

from workbench.errors import UserError
from workbench import paths
from workbench.indicators.dictionary import load_dictionary
from workbench.indicators.engine import UNAVAILABLE, compute, compute_by_id

from .fixtures import Fixture, Person, Stay, build_warehouse, cells, definition

STAYS = [
    Stay(1, 1, "2024-01-10 09:00", "2024-01-13 10:00", ghm="05M091"),
    Stay(2, 2, "2024-03-20 09:00", "2024-03-20 17:00", uf="2801", visit="hospitalisation incomplète", ghm="05C10J"),
    Stay(3, 1, "2024-05-02 09:00", "2024-05-06 10:00", ghm="05M092"),
    Stay(4, 2, "2023-06-01 09:00", "2023-06-03 10:00", ghm="05M091"),
]
PERSONS = [Person(1, "f", "1950-03-01"), Person(2, "m", "1990-01-01")]


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    return build_warehouse(Fixture(stays=STAYS, persons=PERSONS), tmp_path_factory.mktemp("engine"))


@pytest.fixture(scope="module")
def without_ghm(tmp_path_factory):
    """The same stays in a source without GHM (`cost`) nor bed capacities (`care_site_capacity`)."""
    omit = ("cost", "care_site_capacity")
    return build_warehouse(Fixture(stays=STAYS, persons=PERSONS, omit=omit), tmp_path_factory.mktemp("no_ghm"))


# --- validation -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"by": ["colour"]}, "by : dimension inconnue 'colour'"),
        ({"by": ["month", "month"]}, "by : dimension répétée"),
        ({"start": "2024-13"}, "start : mois invalide '2024-13'"),
        ({"end": "janvier"}, "end : mois invalide 'janvier'"),
        ({"start": "2024-05", "end": "2024-02"}, "start/end : le début 2024-05 est après la fin 2024-02"),
        ({"grain": "week"}, "grain : valeur invalide 'week'"),
        ({"filters": {"colour": ["red"]}}, "filters : dimension inconnue 'colour'"),
        ({"filters": {"sex": []}}, "filters : aucune valeur donnée pour 'sex'"),
        ({"version": "9"}, "version : nb_sejours : version inconnue '9'"),
        ({"params": {"source": "AREM"}}, "params : un indicateur déclaratif n'accepte pas de paramètres"),
    ],
)
def test_bad_requests_are_user_errors_naming_the_argument(warehouse, kwargs, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        compute(definition("nb_sejours"), warehouse, **kwargs)


def test_a_dimension_the_page_does_not_allow_is_refused(warehouse):
    restricted = definition("nb_sejours", dimensions=["hospital", "month"])
    with pytest.raises(UserError, match="by : l'indicateur nb_sejours ne se ventile pas par 'sex'"):
        compute(restricted, warehouse, by=["sex"])
    with pytest.raises(UserError, match="filters : l'indicateur nb_sejours ne se ventile pas par 'sex'"):
        compute(restricted, warehouse, filters={"sex": ["F"]})


def test_no_version_in_force_at_the_end_of_the_period(warehouse):
    late = definition("nb_sejours", versions=[
        {"version": "1", "effective_from": "2025-01-01", "change": "création",
         "computation": {"kind": "declarative", "view": "stays", "period_column": "end_date",
                         "numerator": {"agg": "count"}}},
    ])
    with pytest.raises(UserError, match="version : nb_sejours : aucune version en vigueur le 2024-12-31"):
        compute(late, warehouse)


# --- period -----------------------------------------------------------------------------------------


def test_default_period_is_the_twelve_months_to_the_extraction_month(warehouse):
    result = compute(definition("nb_sejours"), warehouse, by=["year"])
    # stay 4 (June 2023) is outside 2024-01 … 2024-12
    assert {k: row["value"] for k, row in cells(result, "year").items()} == {"2024": 3.0}
    assert result.stamp["periode"] == "2024-01/2024-12"


def test_grain_widens_the_period_to_whole_quarters_and_years(warehouse):
    quarter = compute(definition("nb_sejours"), warehouse, start="2024-02", end="2024-04", grain="quarter")
    assert quarter.stamp["periode"] == "2024-01/2024-06"
    assert quarter.frame["value"].tolist() == [3.0]
    year = compute(definition("nb_sejours"), warehouse, start="2023-07", end="2023-07", grain="year")
    assert year.stamp["periode"] == "2023-01/2023-12"
    assert year.frame["value"].tolist() == [1.0]


# --- availability -----------------------------------------------------------------------------------


@pytest.mark.parametrize("indicator", ["taux_ambulatoire", "case_mix", "ip_dms", "rh30"])
def test_indicators_needing_the_ghm_are_not_available_without_it(without_ghm, indicator):
    result = compute(definition(indicator), without_ghm, by=["hospital"])
    assert result.status == UNAVAILABLE == "non disponible pour cette source"
    assert result.frame.empty
    assert list(result.frame.columns)[:2] == ["hospital", "value"]
    assert result.sql == "" and result.expr is None
    assert "ghm" in result.missing["stays"]
    assert result.stamp["statut"] == UNAVAILABLE


def test_an_indicator_whose_reference_table_is_absent_is_not_available(without_ghm):
    occupancy = definition("taux_occupation", dimensions=["hospital", "month"])
    result = compute(occupancy, without_ghm, by=["hospital"])
    assert result.status == UNAVAILABLE
    assert result.missing == {"tables": ["care_site_capacity"]}
    assert result.frame.empty


def test_indicators_not_needing_the_ghm_still_compute_without_it(without_ghm):
    result = compute(definition("nb_sejours"), without_ghm, by=["hospital"])
    assert result.status == "ok"
    assert {k: row["value"] for k, row in cells(result, "hospital").items()} == {"014": 2.0, "028": 1.0}


def test_with_the_ghm_the_same_indicator_is_available(warehouse):
    result = compute(definition("taux_ambulatoire"), warehouse)
    # surgical stays: only stay 2 (05C10J, J) → 1 / 1
    assert result.status == "ok"
    assert (result.frame.iloc[0]["numerator"], result.frame.iloc[0]["denominator"]) == (1, 1)


# --- expression, SQL, lineage, stamp -----------------------------------------------------------------


def test_result_carries_sql_expression_and_stamp(warehouse):
    result = compute(definition("dms"), warehouse, by=["hospital", "month"], filters={"sex": ["F"]})
    assert result.sql.lstrip().upper().startswith(("SELECT", "WITH"))
    assert warehouse.to_sql(result.expr) == result.sql
    again = compute(definition("dms"), warehouse, by=["hospital", "month"], filters={"sex": ["F"]})
    assert again.frame.equals(result.frame)
    assert result.stamp["indicateur"] == "dms"
    assert result.stamp["version"] == "1"
    assert result.stamp["snapshot_id"] == "snapshot-test"
    assert result.stamp["by"] == "hospital,month"
    assert result.stamp["filters"] == "sex=F"
    assert result.stamp["catalogue"].endswith("catalog.yaml")
    assert set(result.frame["snapshot_id"]) == {"snapshot-test"}
    assert {k: row["value"] for k, row in cells(result, "hospital", "month").items()} == {
        ("014", "2024-01"): 3.0, ("014", "2024-05"): 4.0,
    }


def test_lineage_lists_the_raw_columns_actually_read(warehouse):
    lineage = compute(definition("dms"), warehouse, by=["hospital"]).lineage
    visit = set(lineage["visit_occurrence"])
    assert {"visit_start_datetime", "visit_end_datetime", "visit_source_value", "row_status_source_value"} <= visit
    # DMS does not read the discharge mode, the NDA nor the provenance
    assert not visit & {"discharge_to_source_value", "visit_occurrence_source_value", "provenance_source_value"}
    assert "care_site_source_value" in lineage["care_site"]
    assert "measurement" not in lineage
    mortality = compute(definition("mortalite_hospitaliere"), warehouse).lineage
    assert "discharge_to_source_value" in mortality["visit_occurrence"]


def test_compute_by_id_reads_the_wiki_page(warehouse):
    dictionary = load_dictionary(paths.PROJECT_ROOT / "wiki")
    result = compute_by_id("nb_sejours", warehouse, dictionary, by=["hospital"])
    assert {k: row["value"] for k, row in cells(result, "hospital").items()} == {"014": 2.0, "028": 1.0}
    with pytest.raises(UserError, match="indicateur inconnu"):
        compute_by_id("nb_sejour_inexistant", warehouse, dictionary)
