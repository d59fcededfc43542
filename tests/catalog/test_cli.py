"""`workbench catalog init|list|show|search` on the hand-written fixtures.

Counts and dates are read off the fixtures by hand (see `semantic/fixtures.py`).
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from semantic.fixtures import catalog_for_aphp, write_omop_csv
from workbench.cli import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    capsys.readouterr()
    main(list(args))
    return capsys.readouterr().out


@pytest.fixture(scope="module")
def aphp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return catalog_for_aphp(tmp_path_factory.mktemp("cli"))


OMOP_TABLE_ROWS = {
    "care_site": 2, "condition_occurrence": 3, "death": 1, "drug_exposure": 3, "measurement": 2, "person": 3,
    "procedure_occurrence": 1, "visit_detail": 2, "visit_occurrence": 8,
}
OMOP_VIEW_ROWS = {
    "patients": 3, "care_sites": 2, "stays": 8, "unit_stays": 2, "diagnoses": 3, "procedures": 1, "biology": 2,
    "drugs": 3,
}


def test_init_on_omop_csv_then_list_reads_it_with_the_right_counts(tmp_path: Path, capsys) -> None:
    write_omop_csv(tmp_path / "export", "5.3")
    out = tmp_path / "catalog.yaml"
    said = run(capsys, "catalog", "init", "--source", str(tmp_path / "export"), "--flavour", "omop", "--out", str(out))
    assert "9 tables" in said
    listed = json.loads(run(capsys, "--catalog", str(out), "catalog", "list", "--format", "json"))
    assert {row["name"]: row["rows"] for row in listed if row["kind"] == "table"} == OMOP_TABLE_ROWS
    assert {row["name"]: row["rows"] for row in listed if row["kind"] == "view"} == OMOP_VIEW_ROWS
    assert set(listed[0]) == {"name", "kind", "flavour", "source", "description", "readable", "rows", "first_date",
                              "last_date"}
    visits = next(row for row in listed if row["name"] == "visit_occurrence")
    assert (visits["first_date"], visits["last_date"]) == ("2110-01-01", "2110-09-01")
    assert visits["flavour"] == "omop" and visits["description"].startswith("Séjours")
    stays = next(row for row in listed if row["name"] == "stays")
    assert (stays["first_date"], stays["last_date"]) == ("2110-01-01", "2110-09-01")


def test_list_as_csv(aphp: Path, capsys) -> None:
    text = run(capsys, "--catalog", str(aphp), "catalog", "list", "--format", "csv")
    body = "".join(line + "\n" for line in text.splitlines() if not line.startswith("#"))
    rows = {row["name"]: row for row in csv.DictReader(io.StringIO(body))}
    assert rows["visit_occurrence"]["rows"] == "11" and rows["stays"]["rows"] == "10"
    assert rows["person"]["kind"] == "table" and rows["patients"]["kind"] == "view"
    assert "# snapshot_id: fixture-snapshot" in text


def test_show_stays_for_a_dim_analyst(aphp: Path, capsys) -> None:
    text = run(capsys, "--catalog", str(aphp), "catalog", "show", "stays")
    assert "Vue canonique stays" in text
    assert "10 lignes, du 2020-01-10 au 2020-09-01" in text
    assert "▅█▅▅▅▅▅▅▅ (par mois, 2020-01 → 2020-09)" in text  # 1 stay a month, 2 in February
    assert "visit_type 1, stay_type 2, stay_category 1" in text  # codes the mapping does not know
    assert "│ cmd " in text and "Catégorie majeure" in text  # columns with their French descriptions


def test_show_view_as_json(aphp: Path, capsys) -> None:
    detail = json.loads(run(capsys, "--catalog", str(aphp), "catalog", "show", "stays", "--format", "json"))
    assert detail["rows"] == 10 and detail["kind"] == "view"
    assert detail["monthly"] == [
        {"month": "2020-01", "rows": 1}, {"month": "2020-02", "rows": 2}, {"month": "2020-03", "rows": 1},
        {"month": "2020-04", "rows": 1}, {"month": "2020-05", "rows": 1}, {"month": "2020-06", "rows": 1},
        {"month": "2020-07", "rows": 1}, {"month": "2020-08", "rows": 1}, {"month": "2020-09", "rows": 1},
    ]
    assert detail["autre"] == {"visit_type": 1, "stay_type": 2, "stay_category": 1}
    assert detail["unavailable"] == []


def test_show_raw_table_with_descriptions_and_examples(aphp: Path, capsys) -> None:
    detail = json.loads(run(capsys, "--catalog", str(aphp), "catalog", "show", "person", "--format", "json"))
    columns = {c["name"]: c for c in detail["columns"]}
    assert detail["rows"] == 6 and detail["source"] == "ORBIS"
    assert columns["gender_source_value"]["description"].startswith("Sexe tel que saisi")
    assert columns["gender_source_value"]["examples"] == ["m", "F", "male"]
    assert (detail["first_date"], detail["last_date"]) == ("1930-02-01", "2010-12-31")


def test_search_ignores_accents_and_case(aphp: Path, capsys) -> None:
    found = json.loads(run(capsys, "--catalog", str(aphp), "catalog", "search", "SEJOUR", "--format", "json"))
    names = {row["name"] for row in found}
    assert {"stays", "visit_occurrence", "cost"} <= names
    assert "person" not in names


def test_unknown_name_is_one_line_error_exit_1(aphp: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "workbench.cli", "--catalog", str(aphp), "catalog", "show", "sejours"],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("Erreur : « sejours » n'est ni une table du catalogue catalog.yaml ni une vue")
    assert done.stderr.count("\n") == 1


def test_init_refuses_an_unknown_flavour_and_a_missing_source(tmp_path: Path) -> None:
    from workbench.catalog import write_catalog
    from workbench.errors import UserError

    with pytest.raises(UserError, match="--flavour i2b2"):
        write_catalog(tmp_path, "i2b2", tmp_path / "c.yaml")
    with pytest.raises(UserError, match="--source .*introuvable"):
        write_catalog(tmp_path / "nothing", "omop", tmp_path / "c.yaml")
    assert not (tmp_path / "c.yaml").exists()
