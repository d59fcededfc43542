"""Notebooks as the user: `workbench --utilisateur U notebook run` starts his kernel under his own system account.

The suite runs as root, so this is the real thing: `useradd` creates the
account, the kernel runs under it, and the operating system — not the
workbench — refuses it the warehouse file, the state folder (audit log,
pseudonymisation secret) and another user's project.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import workbench
from deployment_support import write_deployment
from workbench import projects
from workbench.access.model import AccessFile, Policy, UserEntry, hash_password, save_access
from workbench.errors import UserError
from workbench.paths import PROJECT_ROOT
from workbench.notebooks import closed_to_others
from workbench.projects import accounts
from workbench.records import read_records

from .conftest import CARDIO, PERIMETER_STAYS

PASSWORD = "noyau-de-test"
TEMPLATES = Path(__file__).parent / "templates"
KERNEL_PYTHON = Path(sys.executable if closed_to_others(Path(sys.executable)) is None
                     else shutil.which(f"python3.{sys.version_info.minor}", path="/usr/bin:/usr/local/bin") or "")
"""This interpreter, or the system's of the same minor version when this one sits in a private folder (pyenv in
/root): the deployment's `kernel_python`."""


@pytest.fixture(scope="module")
def site(demo_catalog: Path) -> Iterator[dict[str, Path]]:
    """A deployment in a fresh folder of /tmp (mode 0711, so accounts reach their projects below it)."""
    base = Path(tempfile.mkdtemp(prefix="noyaux-", dir="/tmp"))
    base.chmod(0o711)
    access = base / "config" / "access.yaml"
    access.parent.mkdir(mode=0o700)
    digest = hash_password(PASSWORD)
    save_access(AccessFile(access, Policy(min_count=10), {
        "dim.014": UserEntry(role="analyste_dim", perimeter=("014",), password_hash=digest),
        "pilotage": UserEntry(role="referent_pilotage", password_hash=digest),
    }))
    state = base / "state"
    state.mkdir(mode=0o700)
    config = write_deployment(base / "config", access=access, catalog=demo_catalog, state=state,
                              projects=base / "projects", kernel_python=KERNEL_PYTHON)
    yield {"base": base, "config": config, "state": state, "projects": base / "projects", "catalog": demo_catalog}
    shutil.rmtree(base, ignore_errors=True)


def cli(site: dict[str, Path], user: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    env.update(WORKBENCH_CONFIG=str(site["config"]), WORKBENCH_PASSWORD=PASSWORD)
    return subprocess.run([sys.executable, "-m", "workbench.cli", "--utilisateur", user, *args], cwd=PROJECT_ROOT,
                          env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=900, check=False)


def test_a_dim_kernel_reads_his_project_and_nothing_else(site, sql, monkeypatch):
    done = cli(site, "dim.014", "project", "create", "hopital-014", "--perimetre", "--format", "json")
    assert done.returncode == 0, done.stderr
    # another user's project, built by the server (root) in the same projects folder
    monkeypatch.setenv("WORKBENCH_PROJECTS", str(site["projects"]))
    other = projects.create_project(workbench.open(site["catalog"], user=CARDIO), "cardio", None)
    warehouse_file = site["catalog"].parent / "eds.duckdb"
    forbidden = [str(warehouse_file), str(site["state"] / "audit.jsonl"), str(other.datamart),
                 str(site["state"] / "secrets" / "pseudonyms.key")]
    done = cli(site, "dim.014", "notebook", "run", "sonde", "--templates", str(TEMPLATES), "--projet", "hopital-014",
               "--param", "interdits=" + ",".join(forbidden), "--out", "sonde.ipynb")
    assert done.returncode == 0, done.stderr
    executed = site["state"] / "exports" / "dim.014" / "sonde.ipynb"
    records = read_records(executed)
    account = pwd.getpwnam(accounts.account_name("dim.014"))
    assert records["uid"] == account.pw_uid != 0
    assert records["refus"] == {path: "PermissionError" for path in forbidden}
    assert records["hopitaux"] == ["014"]
    assert records["sejours"] == sql(f"select count(*) from ({PERIMETER_STAYS})", "014")[0][0]
    folder = site["projects"] / "dim.014"
    assert (folder.stat().st_uid, stat.S_IMODE(folder.stat().st_mode)) == (account.pw_uid, 0o700)
    assert not (folder / ".executions").exists() or not list((folder / ".executions").iterdir())


def test_cohort_profile_runs_on_the_project(site):
    done = cli(site, "dim.014", "notebook", "run", "cohort_profile", "--projet", "hopital-014", "--param", "cim10=I",
               "--out", "profil.ipynb")
    assert done.returncode == 0, done.stderr
    records = read_records(site["state"] / "exports" / "dim.014" / "profil.ipynb")
    assert records["patients"] > 0


def test_kernels_are_refused_to_aggregate_roles_and_without_root(site, tmp_path, monkeypatch):
    done = cli(site, "pilotage", "notebook", "run", "sonde", "--templates", str(TEMPLATES), "--out", "x.ipynb")
    assert done.returncode == 1 and "ne peut pas ouvrir JupyterLab ou exécuter un notebook" in done.stderr
    from workbench.notebooks import NOT_ROOT, Sandbox

    monkeypatch.setenv("WORKBENCH_STATE", str(tmp_path / "etat"))
    os.seteuid(65534)  # not root any more (the real uid stays root, to come back)
    try:
        with pytest.raises(UserError) as refused:
            Sandbox("dim.014", tmp_path, None)
    finally:
        os.seteuid(0)
    assert str(refused.value) == NOT_ROOT


def test_an_interpreter_in_a_private_folder_is_named(site, monkeypatch):
    from workbench.notebooks import kernel_python

    private = site["base"] / "prive"  # /tmp/noyaux-…/ is open to others (0711), prive/ is not
    (private / "bin").mkdir(parents=True)
    private.chmod(0o700)
    python = private / "bin" / "python3"
    python.symlink_to(KERNEL_PYTHON)
    assert closed_to_others(python) == private
    assert closed_to_others(KERNEL_PYTHON) is None
    monkeypatch.setenv("WORKBENCH_KERNEL_PYTHON", str(python))
    with pytest.raises(UserError, match=f"{private} leur est fermé"):
        kernel_python()
