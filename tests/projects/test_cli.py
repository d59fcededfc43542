"""`workbench cohort export` and `workbench project …` as users run them: subprocesses under a deployment.

The cohort: stays with a principal diagnosis I21 (myocardial infarction). Its
members within dim.014's perimeter are counted by independent SQL.
"""

from __future__ import annotations

import json

import openpyxl

from workbench.records import read_records

from .conftest import PERIMETER_STAYS, cli

DEFINITION = "nom: ima\nentree: {type: diagnostic, codes: [I21], statut: [DP]}\n"
MEMBERS_SQL = f"""
select count(distinct c.person_id) from condition_occurrence c
join ({PERIMETER_STAYS}) s on s.visit_occurrence_id = c.visit_occurrence_id
where c.condition_source_value like 'I21%' and c.condition_status_source_value = 'DP'
  and coalesce(c.row_status_source_value, '') <> 'supprimé'
"""


def test_export_and_project_of_a_saved_cohort(site, sql, tmp_path):
    definition = tmp_path / "ima.yaml"
    definition.write_text(DEFINITION, encoding="utf-8")
    definition.chmod(0o644)
    done = cli(site, "dim.014", "cohort", "new", "ima", "--definition", str(definition))
    assert done.returncode == 0, done.stderr
    expected = sql(MEMBERS_SQL, "014")[0][0]
    assert expected > 0
    done = cli(site, "dim.014", "cohort", "export", "ima", "--format", "xlsx", "--out", "ima.xlsx",
               "--biologie", "2160-0")
    assert done.returncode == 0, done.stderr
    written = site["state"] / "exports" / "dim.014" / "ima.xlsx"
    book = openpyxl.load_workbook(written, read_only=True)
    assert book.sheetnames == ["Patients", "Séjours", "Diagnostics", "Biologie", "Métadonnées"]
    assert book["Patients"].max_row - 1 == expected
    meta = dict(list(book["Métadonnées"].iter_rows(values_only=True))[1:])
    assert (meta["cohorte"], meta["version"], meta["utilisateur"]) == ("ima", "1", "dim.014")
    done = cli(site, "dim.014", "project", "create", "ima-projet", "--cohort", "ima", "--format", "json")
    assert done.returncode == 0, done.stderr
    (created,) = json.loads(done.stdout)
    assert created["patients"] == expected and created["cohort"] == "ima" and created["cohort_version"] == 1
    listed = json.loads(cli(site, "dim.014", "project", "list", "--format", "json").stdout)
    assert "ima-projet" in [p["name"] for p in listed]
    shown = json.loads(cli(site, "dim.014", "project", "show", "ima-projet", "--format", "json").stdout)
    assert shown["tables"]["person"] == expected
    # cohort_profile on the saved cohort: its project (built on first use) is what his kernel reads
    done = cli(site, "dim.014", "notebook", "run", "cohort_profile", "--param", "cohorte=ima", "--param", "cim10=",
               "--param", "start=2000-01", "--param", "end=2030-12", "--out", "profil.ipynb")
    assert done.returncode == 0, done.stderr
    records = read_records(site["state"] / "exports" / "dim.014" / "profil.ipynb")
    assert records["patients"] == expected
    assert "cohorte-ima" in [p["name"] for p in json.loads(
        cli(site, "dim.014", "project", "list", "--format", "json").stdout)]
    assert cli(site, "dim.014", "project", "delete", "ima-projet").returncode == 0
    assert "ima-projet" not in [p["name"] for p in json.loads(
        cli(site, "dim.014", "project", "list", "--format", "json").stdout)]


def test_refusals_are_one_line_each(site):
    done = cli(site, "pilotage", "cohort", "export", "ima", "--out", "x.xlsx")
    assert done.returncode == 1 and "ne peut pas exporter une cohorte" in done.stderr
    done = cli(site, "clinicien.cardio", "project", "create", "tout", "--perimetre")
    assert done.returncode == 1 and "ne peut pas créer un espace projet de tout son périmètre" in done.stderr
    done = cli(site, "dim.014", "project", "create", "x")
    assert done.returncode == 1 and "--cohort" in done.stderr
    done = cli(site, "dim.014", "project", "show", "absent")
    assert done.returncode == 1 and "projet « absent » inconnu" in done.stderr
    done = cli(site, "dim.014", "cohort", "export", "ima", "--format", "csv", "--out", "x.csv")
    assert done.returncode == 1 and ".zip" in done.stderr
    assert "Traceback" not in done.stderr
