"""The project's demo `catalog.yaml` and the catalogue of a freshly built demo warehouse."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest
import yaml

from workbench import paths
from workbench.catalog import is_demo, load_catalog
from workbench.cli import main

SCHEMA = yaml.safe_load((paths.PROJECT_ROOT / "workbench" / "schema" / "aphp_tables.yaml").read_text("utf-8"))
ROOT_CATALOG = paths.PROJECT_ROOT / "catalog.yaml"


def test_root_catalogue_declares_exactly_the_schema_contract() -> None:
    document = yaml.safe_load(ROOT_CATALOG.read_text(encoding="utf-8"))
    assert is_demo(ROOT_CATALOG) and document["metadata"]["flavour"] == "aphp"
    assert document["data"]["warehouse"]["kwargs"]["url"] == "{CATALOG_DIR}/data/eds.duckdb"
    assert set(document["entries"]) == set(SCHEMA)
    for name, entry in document["entries"].items():
        declared = {c: spec["type"] for c, spec in entry["metadata"]["columns"].items()}
        assert declared == {c: spec["type"] for c, spec in SCHEMA[name]["columns"].items()}, name
        assert entry["metadata"]["description"] == SCHEMA[name]["description"], name


def test_root_catalogue_validates_against_a_built_demo(demo_dir: Path, tmp_path: Path) -> None:
    """Every column the project catalogue declares exists in what the generator writes."""
    shutil.copy(ROOT_CATALOG, tmp_path / "catalog.yaml")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "eds.duckdb").symlink_to(Path(demo_dir) / "eds.duckdb")
    catalog = load_catalog(tmp_path / "catalog.yaml")
    assert catalog.demo and set(catalog.tables) == set(SCHEMA)


def test_catalog_list_on_the_demo_counts_every_table(demo_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    catalog = Path(demo_dir) / "catalog.yaml"
    capsys.readouterr()
    main(["--catalog", str(catalog), "catalog", "list", "--format", "json"])
    listed = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    con = duckdb.connect(str(Path(demo_dir) / "eds.duckdb"), read_only=True)
    try:
        tables = [row[0] for row in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]
        counts = {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
        current_visits = con.execute(
            "SELECT count(*) FROM visit_occurrence WHERE coalesce(row_status_source_value, '') <> 'supprimé'"
        ).fetchone()[0]
    finally:
        con.close()
    assert {name: row["rows"] for name, row in listed.items() if row["kind"] == "table"} == counts
    views = {name for name, row in listed.items() if row["kind"] == "view"}
    assert views == {"patients", "care_sites", "stays", "unit_stays", "diagnoses", "procedures", "biology", "drugs",
                     "notes"}
    assert listed["stays"]["rows"] == current_visits < counts["visit_occurrence"]
    assert listed["stays"]["first_date"] is not None and listed["stays"]["last_date"] is not None
