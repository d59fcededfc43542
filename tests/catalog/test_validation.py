"""A malformed catalogue gives one `UserError` line naming the entry and the key.

Each test starts from a valid catalogue written by `write_catalog` on the
AP-HP fixture, breaks one thing, and checks the message.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from semantic.fixtures import catalog_for_aphp
from workbench.catalog import Catalog, load_catalog
from workbench.errors import UserError


@pytest.fixture(scope="module")
def valid(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return catalog_for_aphp(tmp_path_factory.mktemp("valid"))


def broken(valid: Path, tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    """A copy of the valid catalogue beside a copy of its data, with `change` applied."""
    shutil.copy(valid.parent / "eds.duckdb", tmp_path / "eds.duckdb")
    document = yaml.safe_load(valid.read_text(encoding="utf-8"))
    change(document)
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return path


def error_of(path: Path) -> str:
    with pytest.raises(UserError) as caught:
        load_catalog(path)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_valid_catalogue_loads_every_table(valid: Path) -> None:
    catalog = load_catalog(valid)
    assert isinstance(catalog, Catalog)
    assert catalog.flavour == "aphp" and catalog.source_kind == "duckdb"
    assert set(catalog.tables) == {
        "_metadata", "care_site", "concept", "concept_relationship", "condition_occurrence", "cost",
        "drug_exposure_administration", "drug_exposure_prescription", "fact_relationship", "measurement",
        "note", "person", "procedure_occurrence", "visit_detail", "visit_occurrence",
    }
    assert catalog.tables["visit_occurrence"].columns["visit_source_value"].description.startswith("Type de visite")


def test_missing_key_names_entry_and_key(valid: Path, tmp_path: Path) -> None:
    path = broken(valid, tmp_path, lambda d: d["entries"]["person"]["metadata"].pop("description"))
    assert error_of(path) == "catalog.yaml : entrée « person », clé « metadata.description » : manquante"


def test_missing_column_type(valid: Path, tmp_path: Path) -> None:
    path = broken(valid, tmp_path, lambda d: d["entries"]["cost"]["metadata"]["columns"]["ghm_version"].pop("type"))
    assert error_of(path) == "catalog.yaml : entrée « cost », clé « metadata.columns.ghm_version.type » : manquante"


def test_unknown_column_type(valid: Path, tmp_path: Path) -> None:
    def change(d):
        d["entries"]["person"]["metadata"]["columns"]["person_id"]["type"] = "entier"

    message = error_of(broken(valid, tmp_path, change))
    assert "entrée « person »" in message and "metadata.columns.person_id.type" in message and "entier" in message


def test_unknown_datatype(valid: Path, tmp_path: Path) -> None:
    def change(d):
        d["data"]["warehouse"]["datatype"] = "intake.readers.datatypes:Excel"

    message = error_of(broken(valid, tmp_path, change))
    assert message.startswith("catalog.yaml : donnée « warehouse », clé « datatype » : type de données inconnu")


def test_unknown_table(valid: Path, tmp_path: Path) -> None:
    def change(d):
        d["entries"]["person"]["kwargs"]["table"] = "patient"

    message = error_of(broken(valid, tmp_path, change))
    assert message == "catalog.yaml : entrée « person », clé « kwargs.table » : table « patient » absente de la source"


def test_wrong_path(valid: Path, tmp_path: Path) -> None:
    def change(d):
        d["data"]["warehouse"]["kwargs"]["url"] = "{CATALOG_DIR}/ailleurs/eds.duckdb"

    message = error_of(broken(valid, tmp_path, change))
    assert message.startswith("catalog.yaml : donnée « warehouse », clé « kwargs.url » : fichier introuvable")
    assert "ailleurs/eds.duckdb" in message


def test_wrong_flavour_at_top(valid: Path, tmp_path: Path) -> None:
    message = error_of(broken(valid, tmp_path, lambda d: d["metadata"].update(flavour="i2b2")))
    assert message.startswith("catalog.yaml : clé « metadata.flavour » : valeur « i2b2 » invalide")


def test_entry_flavour_differing_from_catalogue(valid: Path, tmp_path: Path) -> None:
    message = error_of(broken(valid, tmp_path, lambda d: d["entries"]["note"]["metadata"].update(flavour="omop")))
    assert message.startswith("catalog.yaml : entrée « note », clé « metadata.flavour »")


def test_declared_column_the_table_lacks(valid: Path, tmp_path: Path) -> None:
    def change(d):
        d["entries"]["visit_occurrence"]["metadata"]["columns"]["ghm"] = {"type": "string", "description": "GHM"}

    message = error_of(broken(valid, tmp_path, change))
    assert message == (
        "catalog.yaml : entrée « visit_occurrence », clé « metadata.columns.ghm » : "
        "la table « visit_occurrence » n'a pas cette colonne"
    )


def test_missing_top_level_section(valid: Path, tmp_path: Path) -> None:
    assert error_of(broken(valid, tmp_path, lambda d: d.pop("entries"))) == "catalog.yaml : clé « entries » : manquante"


def test_data_reference_to_unknown_data(valid: Path, tmp_path: Path) -> None:
    def change(d):
        d["entries"]["cost"]["kwargs"]["args"] = ["{data(entrepot)}"]

    assert error_of(broken(valid, tmp_path, change)) == (
        "catalog.yaml : entrée « cost », clé « kwargs.args » : donnée « entrepot » inconnue"
    )


def test_not_yaml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "catalog.yaml"
    bad.write_text("version: 2\nentries: [\n", encoding="utf-8")
    assert error_of(bad).startswith("catalog.yaml : YAML illisible")
    assert error_of(tmp_path / "absent.yaml").startswith("catalogue introuvable")


def test_intake_missing_boilerplate_is_filled_not_fatal(valid: Path, tmp_path: Path) -> None:
    """Intake 2 itself needs `aliases`/`user_parameters` everywhere; a hand-written file may omit them."""

    def change(d):
        d.pop("aliases")
        d.pop("user_parameters")
        for entry in d["entries"].values():
            entry.pop("user_parameters")

    catalog = load_catalog(broken(valid, tmp_path, change))
    assert "person" in catalog.tables
