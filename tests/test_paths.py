"""Where the wiki, the notebook templates and the nomenclatures are found: one order, from any folder.

Option, then environment variable, then the current project folder (then,
for the dashboards, the served catalogue's folder), then the package's copy.
The packaged branch of an installed wheel is proven by tests/test_standalone.py;
here a source checkout, whose package copy is the project's own folder.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from workbench import paths

VARIABLES = ("WORKBENCH_WIKI", "WORKBENCH_TEMPLATES", "WORKBENCH_VOCAB")
LICENCE_FILES = {"BSD-3": "LICENSE.edsnlp-BSD-3", "Unlicense": "LICENSE.nomensland-Unlicense"}
"""Licence named in the vocabularies' provenance table -> the licence file shipped beside them."""


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty current folder, no path variable set."""
    for variable in VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    folder = tmp_path / "ailleurs"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


def test_from_an_unrelated_folder_the_package_copies_are_used(elsewhere: Path) -> None:
    assert paths.wiki_path() == paths.PROJECT_ROOT / "wiki"
    assert paths.templates_path() == paths.PROJECT_ROOT / "notebooks" / "templates"
    assert paths.vocab_path() == paths.PROJECT_ROOT / "workbench" / "resources" / "vocab"
    assert (paths.wiki_path() / "Indicateurs" / "nb_sejours.md").is_file()
    assert (paths.templates_path() / "pmsi_casemix.py").is_file()


def test_the_current_project_folder_comes_before_the_served_catalogue_folder(
    elsewhere: Path, tmp_path: Path
) -> None:
    served = tmp_path / "entrepot"
    (served / "wiki").mkdir(parents=True)
    assert paths.wiki_path(near=served) == served / "wiki"
    (elsewhere / "wiki").mkdir()
    (elsewhere / "notebooks" / "templates").mkdir(parents=True)
    assert paths.wiki_path(near=served) == elsewhere / "wiki"
    assert paths.templates_path() == elsewhere / "notebooks" / "templates"


def test_variables_and_options_come_first_and_are_never_second_guessed(
    elsewhere: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (elsewhere / "wiki").mkdir()
    missing = tmp_path / "absent"
    for variable in VARIABLES:
        monkeypatch.setenv(variable, str(missing))
    # A variable naming a missing folder is returned as is (its reader says so), not replaced by a fallback.
    assert paths.wiki_path() == paths.templates_path() == paths.vocab_path() == missing
    option = tmp_path / "option"
    assert paths.wiki_path(option) == paths.templates_path(option) == paths.vocab_path(option) == option


def test_every_shipped_nomenclature_has_its_provenance_and_licence() -> None:
    folder = paths.RESOURCES / "vocab"
    readme = (folder / "README.md").read_text(encoding="utf-8")
    table = dict(re.findall(r"^\| `([^`]+)` \|(.*)\|$", readme, flags=re.MULTILINE))
    data = {p.name for p in folder.iterdir() if p.name != "README.md" and not p.name.startswith("LICENSE.")}
    assert data == set(table) and len(data) == 5
    for name, row in table.items():
        licence = row.split("|")[-1]  # the table's last column
        kinds = [kind for kind in LICENCE_FILES if kind in licence]
        assert len(kinds) == 1 and (folder / LICENCE_FILES[kinds[0]]).is_file(), name
