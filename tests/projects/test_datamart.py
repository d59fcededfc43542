"""Project datamarts (`workbench.projects`): cohort ∩ perimeter, pseudonyms, nominative tables, provenance."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import duckdb
import pandas as pd
import pytest

import workbench
from workbench import audit, projects
from workbench.errors import UserError
from workbench.projects.pseudonyms import Pseudonymiser

from .conftest import CARDIO, DIM, PERIMETER_STAYS


def build(catalog: Path, user, name: str, ids: list[int] | None, cohort: dict | None = None) -> projects.Project:
    warehouse = workbench.open(catalog, user=user)
    members = None if ids is None else pd.DataFrame({"person_id": ids})
    return projects.create_project(warehouse, name, members, cohort)


def read(project: projects.Project, query: str) -> list[tuple]:
    with duckdb.connect(str(project.datamart), read_only=True) as con:
        return con.execute(query).fetchall()


def test_datamart_holds_the_cohort_within_the_perimeter(demo_catalog, sql, cohort_ids):
    project = build(demo_catalog, DIM, "infarctus", cohort_ids, {"name": "idm", "version": 3, "definition": {"a": 1}})
    listed = ",".join(map(str, cohort_ids))
    expected_persons = sql(f"select count(distinct person_id) from ({PERIMETER_STAYS}) where person_id in ({listed})",
                           "014")[0][0]
    expected_stays = sql(f"select count(*) from ({PERIMETER_STAYS}) where person_id in ({listed})", "014")[0][0]
    assert expected_persons == 15  # the 15 patients outside hospital 014 are left out
    assert project.patients == expected_persons
    assert read(project, "select count(*) from person") == [(15,)]
    assert read(project, f"select count(*) from {projects.MEMBERS_TABLE}") == [(15,)]
    opened = workbench.open(project.catalog)  # the datamart is a warehouse: catalogue and canonical views
    stays = opened.execute(opened.view("stays"))
    assert len(stays) == expected_stays
    assert set(stays["hospital"]) == {"014"}
    assert opened.snapshot_id != opened.execute(opened.table("_metadata")).iloc[0]["source_snapshot"]
    meta = opened.execute(opened.table("_metadata")).iloc[0]
    assert (meta["cohort"], meta["cohort_version"], meta["creator"]) == ("idm", "3", "dim.014")
    assert meta["source_snapshot"] == workbench.open(demo_catalog).snapshot_id
    assert json.loads(meta["cohort_definition"]) == {"a": 1}
    assert str(opened.extraction_date) == str(sql("select extraction_date from _metadata")[0][0])
    members = opened.execute(projects.member_ids(opened))  # what cohort_profile profiles on a project
    assert sorted(members) == sorted(r[0] for r in read(project, "select person_id from person"))


def test_an_indicator_computes_on_the_datamart(demo_catalog, sql, cohort_ids):
    from workbench.indicators.dictionary import load_dictionary
    from workbench.indicators.engine import compute_by_id
    from workbench import paths

    project = build(demo_catalog, DIM, "indicateurs", None)
    opened = workbench.open(project.catalog)
    result = compute_by_id("nb_sejours", opened, load_dictionary(paths.wiki_path()), by=["hospital"], grain="year")
    assert set(result.frame["hospital"]) == {"014"}
    expected = sql(f"select count(*) from ({PERIMETER_STAYS})", "014")[0][0]
    assert 0 < result.frame["value"].sum() <= expected


def test_identifiers_are_pseudonymised_per_project(demo_catalog, sql, cohort_ids):
    first = build(demo_catalog, DIM, "premier", cohort_ids)
    second = build(demo_catalog, DIM, "second", cohort_ids)
    persons_1 = {r[0] for r in read(first, "select person_id from person")}
    persons_2 = {r[0] for r in read(second, "select person_id from person")}
    assert len(persons_1) == len(persons_2) == 15
    assert not persons_1 & persons_2  # unlinkable across projects
    assert not persons_1 & set(cohort_ids)  # no source id left
    stays_1 = {r[0] for r in read(first, "select visit_occurrence_id from visit_occurrence")}
    source_stays = {r[0] for r in sql("select visit_occurrence_id from visit_occurrence")}
    assert not stays_1 & source_stays
    # stable within the project: every table's ids join
    assert read(first, "select count(*) from condition_occurrence where person_id not in (select person_id from person)"
                " or visit_occurrence_id not in (select visit_occurrence_id from visit_occurrence)") == [(0,)]
    assert read(first, "select count(*) from cohort_members where person_id not in (select person_id from person)") \
        == [(0,)]
    # the same patient's diagnoses: as many in the project as in the source (within the perimeter)
    listed = ",".join(map(str, cohort_ids))
    expected = sql(f"select count(*) from condition_occurrence where visit_occurrence_id in "
                   f"(select visit_occurrence_id from ({PERIMETER_STAYS}) where person_id in ({listed}))", "014")[0][0]
    assert read(first, "select count(*) from condition_occurrence") == [(expected,)]
    nda = {r[0] for r in read(first, "select visit_occurrence_source_value from visit_occurrence")}
    assert not nda & {r[0] for r in sql("select visit_occurrence_source_value from visit_occurrence")}


def test_pseudonyms_are_stable_in_a_scope_and_differ_across_scopes():
    one, again, other = Pseudonymiser("project:a:1"), Pseudonymiser("project:a:1"), Pseudonymiser("project:a:2")
    assert one.integer("person", 42) == again.integer("person", 42)
    assert one.integer("person", 42) != other.integer("person", 42)
    assert one.integer("person", 42) != one.integer("visit", 42)
    assert 0 < one.integer("person", 42) < 2**62
    assert one.column(pd.Series([42, 42, None]), "person").tolist()[:2] == [one.integer("person", 42)] * 2


def test_nominative_tables_only_with_the_right(demo_catalog, cohort_ids):
    without = build(demo_catalog, DIM, "sans", cohort_ids)
    with_right = build(demo_catalog, CARDIO, "avec", None)
    assert "person_identity" not in without.tables and "note" not in without.tables
    assert "person_identity" in with_right.tables and "note" in with_right.tables
    assert not without.nominative and with_right.nominative


def test_folders_are_private_and_a_failed_build_leaves_nothing(demo_catalog, cohort_ids, folders):
    project = build(demo_catalog, DIM, "prive", cohort_ids)
    assert stat.S_IMODE(project.path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(project.path.parent.parent.stat().st_mode) == 0o711
    assert not project.path.is_relative_to(folders / "state")
    with pytest.raises(UserError, match="existe déjà"):
        build(demo_catalog, DIM, "prive", cohort_ids)
    with pytest.raises(UserError, match="invalide"):
        build(demo_catalog, DIM, "../evasion", cohort_ids)
    with pytest.raises(UserError, match="person_id"):
        projects.create_project(workbench.open(demo_catalog, user=DIM), "vide", pd.DataFrame({"x": [1]}))
    assert sorted(p.name for p in project.path.parent.iterdir()) == ["prive"]
    assert not list((project.path.parent.parent / ".travail").iterdir())  # no build folder left behind


def test_create_list_show_delete_are_audited(demo_catalog, cohort_ids):
    project = build(demo_catalog, DIM, "audite", cohort_ids, {"name": "c", "version": 1})
    assert [p.name for p in projects.list_projects(DIM)] == ["audite"]
    assert projects.list_projects(CARDIO) == []
    with pytest.raises(UserError, match="inconnu"):
        projects.get_project(CARDIO, "audite")
    created = [e for e in audit.read() if e["event"] == "project.create"]
    assert created[-1]["user"] == "dim.014" and created[-1]["tables"]["person"] == 15
    projects.delete_project(DIM, "audite")
    assert not project.path.exists()
    assert [e for e in audit.read() if e["event"] == "project.delete"][-1]["project"] == "audite"
