"""Row-level enforcement in `workbench.open(user=…)`, checked against independent SQL on the DuckDB file.

Attacks: a clinician of cardiology (014-S03) asking for another service's rows
through views, raw tables, the identity table and SQL-injection strings.
"""

from __future__ import annotations

import duckdb
import ibis
import pytest

import workbench
from workbench.errors import UserError

from .conftest import CARDIO, INJECTION, user

# stays of the perimeter, derived without the workbench: movements in a unit under 014-S03 (tree by
# fact_relationship 'is part of'), current rows only
PERIMETER_STAYS = """
WITH RECURSIVE tree(id) AS (
    SELECT care_site_id FROM care_site WHERE care_site_source_value = ?
    UNION
    SELECT f.fact_id_1 FROM fact_relationship f JOIN tree ON f.fact_id_2 = tree.id
    WHERE f.relationship_concept_id = 46233688 AND f.domain_concept_id_1 = 57
)
SELECT DISTINCT v.visit_occurrence_id
FROM visit_occurrence v JOIN visit_detail d ON d.visit_occurrence_id = v.visit_occurrence_id
WHERE d.care_site_id IN (SELECT id FROM tree)
  AND coalesce(v.row_status_source_value, '') <> 'supprimé'
  AND coalesce(d.row_status_source_value, '') <> 'supprimé'
"""


@pytest.fixture(scope="module")
def expected(duckdb_file) -> dict[str, set[int]]:
    with duckdb.connect(str(duckdb_file), read_only=True) as con:
        stays = {row[0] for row in con.execute(PERIMETER_STAYS, [CARDIO]).fetchall()}
        in_list = ",".join(map(str, stays))
        persons = {r[0] for r in con.execute(
            f"SELECT DISTINCT person_id FROM visit_occurrence WHERE visit_occurrence_id IN ({in_list})").fetchall()}
        diagnoses = {r[0] for r in con.execute(
            "SELECT condition_occurrence_id FROM condition_occurrence WHERE visit_occurrence_id IN "
            f"({in_list})").fetchall()}
    return {"stays": stays, "persons": persons, "diagnoses": diagnoses}


@pytest.fixture(scope="module")
def cardio(catalog):
    return workbench.open(catalog, user=user("clinicien", (CARDIO,), name="cardio"))


def ids(warehouse, expr, column: str) -> set[int]:
    return set(warehouse.execute(expr)[column])


def test_views_hold_exactly_the_perimeter_rows(cardio, expected):
    assert 0 < len(expected["stays"]) < 5_000
    assert ids(cardio, cardio.view("stays"), "stay_id") == expected["stays"]
    assert ids(cardio, cardio.view("patients"), "person_id") == expected["persons"]
    diagnoses = cardio.view("diagnoses")
    assert ids(cardio, diagnoses, "diagnosis_id") <= expected["diagnoses"]
    assert ids(cardio, diagnoses, "stay_id") <= expected["stays"]


def test_raw_tables_hold_exactly_the_perimeter_rows(cardio, expected, duckdb_file):
    assert ids(cardio, cardio.table("visit_occurrence"), "visit_occurrence_id") == expected["stays"]
    assert ids(cardio, cardio.table("condition_occurrence"), "condition_occurrence_id") == expected["diagnoses"]
    assert ids(cardio, cardio.table("person"), "person_id") == expected["persons"]
    for name in ("measurement", "note", "procedure_occurrence", "visit_detail", "drug_exposure_prescription"):
        assert ids(cardio, cardio.table(name), "visit_occurrence_id") <= expected["stays"], name
    # reference tables are not patient data: whole
    with duckdb.connect(str(duckdb_file), read_only=True) as con:
        (sites,) = con.execute("SELECT count(*) FROM care_site").fetchone()
    assert len(cardio.execute(cardio.table("care_site"))) == sites


def test_filters_cannot_reach_another_service(cardio):
    stays = cardio.view("stays")
    other = cardio.execute(stays.filter(stays.service == ibis.literal("014-S04")))
    assert other.empty
    widened = cardio.execute(stays.filter((stays.service == "014-S04") | ibis.literal(True)))
    assert set(widened["service"]) == {CARDIO}


def test_identity_table_needs_the_nominative_right(catalog, cardio):
    with pytest.raises(UserError, match="person_identity.*droit nominatif"):
        cardio.table("person_identity")
    nominative = workbench.open(catalog, user=user("clinicien", (CARDIO,), nominative=True))
    identities = nominative.execute(nominative.table("person_identity"))
    patients = nominative.execute(nominative.view("patients"))
    assert set(identities["person_id"]) <= set(patients["person_id"])
    dim = workbench.open(catalog, user=user("analyste_dim", ("014",)))
    with pytest.raises(UserError, match="droit nominatif"):
        dim.table("person_identity")


@pytest.mark.parametrize("role", ["referent_pilotage", "equipe_entrepot"])
def test_aggregate_roles_get_no_patient_level_rows(catalog, role):
    warehouse = workbench.open(catalog, user=user(role))
    for view in ("stays", "patients", "diagnoses", "biology"):
        with pytest.raises(UserError, match="ne consulte que des agrégats"):
            warehouse.view(view)
    for table in ("visit_occurrence", "person", "measurement", "person_identity"):
        with pytest.raises(UserError, match="accès refusé"):
            warehouse.table(table)
    assert len(warehouse.execute(warehouse.view("care_sites"))) > 0  # reference data


def test_injection_strings_are_literals(cardio, catalog):
    stays = cardio.view("stays")
    assert cardio.execute(stays.filter(stays.hospital == INJECTION)).empty
    assert cardio.execute(stays.filter(stays.service.isin([INJECTION, "1' OR '1'='1"]))).empty
    with pytest.raises(UserError, match="périmètre : code.*inconnu"):
        hostile = workbench.open(catalog, user=user("clinicien", (INJECTION,)))
        hostile.view("stays")


def test_every_query_is_audited(cardio):
    from workbench import audit

    stays = cardio.view("stays")
    frame = cardio.execute(stays.limit(7))
    (event,) = [e for e in audit.read() if e["event"] == "execute"]
    assert (event["user"], event["role"], event["rows"]) == ("cardio", "clinicien", len(frame))
    assert "visit_occurrence" in event["tables"]
