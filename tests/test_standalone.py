"""The repository stands alone: a clone with no ``shared/`` folder beside it, and a wheel run from any folder.

A hospital's IT team clones the repository by itself, so the clone must build
its demo and compute an indicator with only what it carries (the French
nomenclatures are package data). An installed `workbench` run from an
unrelated folder must find the wiki and the notebook templates shipped in the
wheel (setup.py copies them at build time), and never an access file: the
demo's passwords are public, so the wheel carries none.

Smoke tests, not a second run of the suite: a 500-patient demo, one indicator
checked against an independent SQL count, one wheel built without extra
dependencies (`--no-deps`, unpacked rather than installed: a pure wheel's
install is an unzip).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import duckdb
import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
"""The repository this test runs from: what is cloned is its committed HEAD."""

VOCABULARIES = {"cim10_fr.csv.gz", "ccam_actes.json.gz", "ucd_drugs.json.gz", "atc_drug_names.json",
                "mco_unit_types.json.gz", "README.md", "LICENSE.edsnlp-BSD-3", "LICENSE.nomensland-Unlicense"}
CIM10_ROWS = 42_886
"""Rows of cim10_fr.csv.gz, from the provenance table of its README."""


def isolated_env(pythonpath: Path) -> dict[str, str]:
    """The process environment without any WORKBENCH_* override, importing `workbench` from `pythonpath` first."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("WORKBENCH_")}
    return env | {"PYTHONPATH": str(pythonpath), "COLUMNS": "200"}


def run(cwd: Path, pythonpath: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python args…` in `cwd`, as a user would run it there (exit code checked by the caller)."""
    return subprocess.run([sys.executable, *args], cwd=cwd, env=isolated_env(pythonpath), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=600, check=False)


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr
    return done.stdout


PROBE = """
import json, workbench
from workbench import paths, vocab
print(json.dumps({"module": workbench.__file__, "vocab": str(paths.vocab_path()), "cim10": len(vocab.cim10()),
                  "wiki": str(paths.wiki_path()), "templates": str(paths.templates_path())}))
"""
"""Where the imported `workbench` lives and which folders it resolves, with no option and no variable."""


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh `git clone` of this repository, alone in an empty temporary folder."""
    parent = tmp_path_factory.mktemp("alone")
    target = parent / "eds-workbench"
    done = subprocess.run(["git", "clone", "--quiet", str(REPOSITORY), str(target)], capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in parent.iterdir()) == ["eds-workbench"]  # no shared/ beside it
    return target


@pytest.fixture(scope="module")
def installed(clone: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The clone's wheel (built without dependencies), unpacked into a folder that holds nothing else."""
    dist = tmp_path_factory.mktemp("dist")
    ok(run(clone, clone, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(dist), str(clone)))
    (wheel,) = dist.glob("eds_workbench-*.whl")
    site = tmp_path_factory.mktemp("site-packages")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    return site


def test_a_clone_alone_builds_its_demo_and_computes_an_indicator(clone: Path) -> None:
    probe = json.loads(ok(run(clone, clone, "-c", PROBE)))
    assert Path(probe["module"]).is_relative_to(clone)
    assert probe["vocab"] == str(clone / "workbench" / "resources" / "vocab") and probe["cim10"] == CIM10_ROWS

    built = ok(run(clone, clone, "-m", "workbench.cli", "demo", "--patients", "500", "--seed", "7"))
    assert "500 patients, graine 7" in built
    result = json.loads(ok(run(clone, clone, "-m", "workbench.cli", "indicators", "compute", "passages_urgences",
                               "--from", "2024-01", "--to", "2024-12", "--format", "json")))

    with duckdb.connect(str(clone / "data" / "eds.duckdb"), read_only=True) as con:
        visits, patients = con.execute(
            "SELECT count(*), count(DISTINCT person_id) FROM visit_occurrence"
            " WHERE coalesce(row_status_source_value, '') <> 'supprimé' AND visit_source_value = 'urgence'"
            " AND visit_start_datetime >= DATE '2024-01-01' AND visit_start_datetime < DATE '2025-01-01'"
        ).fetchone()
    assert visits > 0
    (row,) = result["rows"]
    assert (row["numerator"], row["n_patients"]) == (visits, patients)
    assert result["metadata"]["catalogue"] == str(clone / "catalog.yaml")


def test_the_wheel_ships_vocabularies_wiki_and_templates_but_no_access_file(clone: Path, installed: Path) -> None:
    resources = installed / "workbench" / "resources"
    assert {p.name for p in (resources / "vocab").iterdir()} == VOCABULARIES
    shipped_pages = {p.relative_to(resources / "wiki") for p in (resources / "wiki").rglob("*.md")}
    assert shipped_pages == {p.relative_to(clone / "wiki") for p in (clone / "wiki").rglob("*.md")}
    assert (installed / "dashboards" / "login.html").is_file()
    assert not list(installed.rglob("access*.yaml"))


def test_an_installed_workbench_finds_its_wiki_and_templates_from_any_folder(
    clone: Path, installed: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    resources = installed / "workbench" / "resources"
    probe = json.loads(ok(run(elsewhere, installed, "-c", PROBE)))
    assert Path(probe["module"]).is_relative_to(installed)
    assert (probe["vocab"], probe["cim10"]) == (str(resources / "vocab"), CIM10_ROWS)
    assert (probe["wiki"], probe["templates"]) == (str(resources / "wiki"), str(resources / "templates"))

    listed = json.loads(ok(run(elsewhere, installed, "-m", "workbench.cli", "notebook", "list", "--format", "json")))
    assert sorted(t["name"] for t in listed) == sorted(p.stem for p in (clone / "notebooks" / "templates").glob("*.py"))

    out = ok(run(elsewhere, installed, "-m", "workbench.cli", "wiki", "build", "--sans-donnees", "--out", "site"))
    assert "Site écrit dans site" in out
    published = {p.name for p in (elsewhere / "site").glob("Indicateurs-*.html")}
    assert published == {f"Indicateurs-{p.stem}.html" for p in (clone / "wiki" / "Indicateurs").glob("*.md")}
