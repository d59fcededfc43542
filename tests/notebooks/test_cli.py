"""`workbench notebook list|new` and refusal of bad parameters before any kernel starts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from .helpers import TEMPLATE_IDS, TEMPLATES, WIKI, workbench
from workbench import notebooks


def test_list_json_reads_every_template_from_the_notebooks(cli):
    done = cli("notebook", "list", "--format", "json")
    assert done.returncode == 0, done.stderr
    listed = {entry["name"]: entry for entry in json.loads(done.stdout)}
    assert set(listed) == set(TEMPLATE_IDS)
    casemix = listed["pmsi_casemix"]
    assert casemix["title"] == "Activité PMSI MCO et case-mix"
    assert casemix["description"].startswith("Séjours MCO groupés")
    assert Path(casemix["path"]) == TEMPLATES / "pmsi_casemix.py"
    params = {p["name"]: p for p in casemix["parameters"]}
    assert params["year"] == {
        "name": "year", "type": "int", "default": 0,
        "help": "année de sortie des séjours (0 : dernière année complète avant l'extraction)",
    }
    assert params["hospital"]["type"] == "str" and params["hospital"]["default"] == ""
    cohort = {p["name"]: p for p in listed["cohort_profile"]["parameters"]}
    assert cohort["cim10"]["type"] == "list[str]" and cohort["cim10"]["default"] == ["E11"]
    for entry in listed.values():
        assert entry["title"] and entry["description"], entry["name"]
        assert entry["parameters"][0]["name"] == "catalog"


def test_list_follows_the_templates_option(cli, tmp_path: Path):
    (tmp_path / "mon_modele.py").write_text(
        '# %% [markdown]\n# # Mon modèle\n#\n# Une description.\n\n'
        '# %% tags=["parameters"]\nseuil: float = 0.5  # seuil\nactif = True\n\n# %%\nprint(seuil)\n',
        encoding="utf-8",
    )
    done = cli("notebook", "list", "--format", "json", "--templates", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [
        {
            "name": "mon_modele",
            "title": "Mon modèle",
            "description": "Une description.",
            "path": str(tmp_path / "mon_modele.py"),
            "parameters": [
                {"name": "seuil", "type": "float", "default": 0.5, "help": "seuil"},
                {"name": "actif", "type": "bool", "default": True, "help": ""},
            ],
        }
    ]


def test_a_template_without_parameters_cell_is_named(cli, tmp_path: Path):
    (tmp_path / "casse.py").write_text("# %% [markdown]\n# # Casse\n\n# %%\nx = 1\n", encoding="utf-8")
    done = cli("notebook", "list", "--templates", str(tmp_path))
    assert done.returncode == 1
    assert "casse.py" in done.stderr and "parameters" in done.stderr


def test_new_writes_an_unexecuted_notebook_with_parameters_injected(cli, tmp_path: Path):
    out = tmp_path / "analyse.ipynb"
    catalog = tmp_path / "catalog.yaml"
    done = cli(
        "notebook", "new", "pmsi_casemix", "--param", "year=2024", "--param", "top_n=5", "--out", str(out),
        catalog=catalog,
    )
    assert done.returncode == 0, done.stderr
    nb = nbformat.read(out, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "eds-workbench"
    tags = [c.metadata.get("tags", []) for c in nb.cells]
    injected_at = next(i for i, t in enumerate(tags) if "injected-parameters" in t)
    assert "parameters" in tags[injected_at - 1]
    injected = nb.cells[injected_at].source
    assert "year = 2024" in injected and "top_n = 5" in injected
    assert f'catalog = "{catalog.resolve()}"' in injected
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    stamp = nb.metadata.workbench
    assert stamp.template == "pmsi_casemix"
    assert stamp.parameters == {"catalog": str(catalog.resolve()), "wiki": str(WIKI), "year": 2024, "top_n": 5}
    assert stamp.template_sha256 == notebooks.load_template(TEMPLATES / "pmsi_casemix.py").sha256
    # an existing file is kept unless --force
    again = cli("notebook", "new", "pmsi_casemix", "--out", str(out))
    assert again.returncode == 1 and "existe déjà" in again.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["pmsi_casemix", "--param", "yaer=2024"], "paramètre inconnu 'yaer'"),
        (["pmsi_casemix", "--param", "year=deux-mille"], "le paramètre 'year' attend un entier"),
        (["pmsi_casemix", "--param", "year"], "--param attend nom=valeur"),
        (["pmsi_casemix", "--param", "source=SIMPA"], "valeur inconnue pour 'source'"),
        (["coding_lag", "--param", "start=2025-13"], "attend un mois AAAA-MM"),
        (["coding_lag", "--param", "start=2025-06", "--param", "end=2025-01"], "la période est vide"),
        (["cohort_profile", "--param", "age_bands=18-44,40-50"], "'40-50'"),
        (["indicator_deep_dive", "--param", "by=hospital,semaine"], "'semaine'"),
        (["modele_absent"], "modèle de notebook inconnu"),
    ],
)
def test_bad_parameters_are_refused_in_french_before_execution(cli, tmp_path: Path, args: list[str], message: str):
    out = tmp_path / "sortie.ipynb"
    done = cli("notebook", "run", *args, "--out", str(out), catalog=tmp_path / "absent.yaml")
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Erreur : ") and message in lines[0], done.stderr
    assert not out.exists()


def test_unknown_indicator_is_refused_with_the_known_ids(cli, tmp_path: Path):
    out = tmp_path / "sortie.ipynb"
    done = cli("notebook", "run", "indicator_deep_dive", "--param", "indicator=nb_sejour", "--out", str(out))
    assert done.returncode == 1
    assert "indicateur inconnu pour 'indicator' : 'nb_sejour'" in done.stderr and "nb_sejours" in done.stderr
    assert not out.exists()


def test_unknown_indicator_version_is_refused(cli, tmp_path: Path):
    out = tmp_path / "sortie.ipynb"
    done = cli(
        "notebook", "run", "indicator_deep_dive", "--param", "indicator=dms", "--param", "version=99", "--out", str(out)
    )
    assert done.returncode == 1
    assert "version inconnue '99'" in done.stderr
    assert not out.exists()


def test_unknown_hospital_is_refused_against_care_sites(cli, tmp_path: Path, demo_catalog: Path):
    out = tmp_path / "sortie.ipynb"
    done = cli("notebook", "run", "pmsi_casemix", "--param", "hospital=999", "--out", str(out), catalog=demo_catalog)
    assert done.returncode == 1
    assert "code hôpital inconnu pour 'hospital' : '999'" in done.stderr
    assert not out.exists()


def test_unknown_care_site_is_refused(cli, tmp_path: Path, demo_catalog: Path):
    out = tmp_path / "sortie.ipynb"
    done = cli(
        "notebook", "run", "cohort_profile", "--param", "care_site=ZZZ", "--out", str(out), catalog=demo_catalog
    )
    assert done.returncode == 1
    assert "code de structure inconnu pour 'care_site' : 'ZZZ'" in done.stderr


def test_parameter_values_are_typed_from_their_text():
    template = notebooks.load_template(TEMPLATES / "cohort_profile.py")
    typed = notebooks.validate(template, {"cim10": "E11, I10", "top_n": "3", "age_bands": '["85+"]'})
    assert typed == {"cim10": ["E11", "I10"], "top_n": 3, "age_bands": ["85+"]}


def test_notebook_for_gives_a_dashboard_view_as_a_notebook(tmp_path: Path):
    text = notebooks.notebook_for(
        "indicator_deep_dive",
        {"indicator": "dms", "by": "month,hospital", "start": "2026-01", "end": "2026-06"},
        catalog=tmp_path / "catalog.yaml",
    )
    nb = nbformat.reads(text, as_version=4)
    injected = next(c.source for c in nb.cells if "injected-parameters" in c.metadata.tags)
    assert 'indicator = "dms"' in injected and 'by = ["month", "hospital"]' in injected
    assert 'start = "2026-01"' in injected and f'catalog = "{(tmp_path / "catalog.yaml").resolve()}"' in injected
    assert nb.metadata.workbench.template == "indicator_deep_dive"


def test_a_failing_notebook_is_reported_with_its_cell_and_kept(tmp_path: Path):
    folder = tmp_path / "modeles"
    folder.mkdir()
    (folder / "echec.py").write_text(
        '# %% [markdown]\n# # Échec\n#\n# Divise par zéro.\n\n'
        '# %% tags=["parameters"]\ndiviseur: int = 1\n\n# %%\nprint(1 / diviseur)\n',
        encoding="utf-8",
    )
    out = tmp_path / "echec.ipynb"
    ok = workbench("notebook", "run", "echec", "--templates", str(folder), "--out", str(out), "--html")
    assert ok.returncode == 0, ok.stderr
    executed = nbformat.read(out, as_version=4)
    assert executed.cells[-1].outputs[0].text == "1.0\n"
    assert executed.metadata.workbench.parameters == {}
    assert out.with_suffix(".html").read_text(encoding="utf-8").count("Divise par zéro") == 1
    failed = workbench("notebook", "run", "echec", "--templates", str(folder), "--param", "diviseur=0", "--out", str(out))
    assert failed.returncode == 1
    assert "a échoué à la cellule" in failed.stderr and "ZeroDivisionError" in failed.stderr
    kept = nbformat.read(out, as_version=4)
    assert any(o.output_type == "error" for c in kept.cells for o in c.get("outputs", []))


def test_run_without_out_writes_the_template_name_in_the_current_folder(tmp_path: Path):
    """The README's `notebook run pmsi_casemix … --html` needs no --out: ./pmsi_casemix.ipynb and .html."""
    folder = tmp_path / "modeles"
    folder.mkdir()
    (folder / "bonjour.py").write_text(
        '# %% [markdown]\n# # Bonjour\n#\n# Écrit un nombre.\n\n# %% tags=["parameters"]\nn: int = 2\n\n# %%\nprint(n * 21)\n',
        encoding="utf-8",
    )
    here = tmp_path / "ici"
    here.mkdir()
    first = workbench("notebook", "run", "bonjour", "--templates", str(folder), "--html", cwd=here)
    assert first.returncode == 0, first.stderr
    assert sorted(p.name for p in here.iterdir()) == ["bonjour.html", "bonjour.ipynb"]
    assert "Notebook exécuté : bonjour.ipynb" in first.stdout
    again = workbench("notebook", "run", "bonjour", "--templates", str(folder), "--param", "n=1", cwd=here)
    assert again.returncode == 0, again.stderr  # the default output is replaced, as --out is
    assert nbformat.read(here / "bonjour.ipynb", as_version=4).cells[-1].outputs[0].text == "21\n"


def test_kernel_command_registers_this_environment(tmp_path: Path):
    done = workbench("notebook", "kernel")
    assert done.returncode == 0, done.stderr
    listed = subprocess.run(
        [sys.executable, "-m", "jupyter", "kernelspec", "list", "--json"], capture_output=True, text=True, check=True
    )
    spec = json.loads(listed.stdout)["kernelspecs"]["eds-workbench"]
    assert spec["spec"]["display_name"] == "EDS Workbench"
    assert Path(spec["spec"]["argv"][0]).resolve() == Path(sys.executable).resolve()
    assert Path(spec["resource_dir"]).is_relative_to(Path(sys.prefix))
