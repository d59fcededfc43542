"""Notebooks as the user: `workbench --utilisateur U notebook run` starts his kernel under his own system account.

The suite runs as root, so this is the real thing: `useradd` creates the
account, the kernel runs under it, and the operating system — not the
workbench — refuses it the warehouse file, the state folder (audit log,
pseudonymisation secret) and another user's project.
"""

from __future__ import annotations

import os
import pwd
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import workbench
from workbench import projects
from workbench.errors import UserError
from workbench.notebooks import closed_to_others
from workbench.paths import PROJECT_ROOT
from workbench.projects import accounts
from workbench.records import read_records

from .conftest import CARDIO, KERNEL_PYTHON, PASSWORD, PERIMETER_STAYS, cli

TEMPLATES = Path(__file__).parent / "templates"


@pytest.fixture(scope="module")
def dim_project(site) -> str:
    """dim.014's datamart of his whole perimeter, built through the CLI as he would."""
    done = cli(site, "dim.014", "project", "create", "hopital-014", "--perimetre", "--format", "json")
    assert done.returncode == 0, done.stderr
    return "hopital-014"


def test_a_dim_kernel_reads_his_project_and_nothing_else(site, dim_project, sql, monkeypatch):
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
    for owned in (folder, folder / dim_project, folder / dim_project / "datamart.duckdb"):
        assert owned.stat().st_uid == account.pw_uid
    assert stat.S_IMODE(folder.stat().st_mode) == stat.S_IMODE((folder / dim_project).stat().st_mode) == 0o700
    assert not (folder / ".executions").exists() or not list((folder / ".executions").iterdir())


def test_cohort_profile_runs_on_the_project(site, dim_project):
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


def _uid(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])


def test_lab_runs_under_the_users_account(site, dim_project):
    import socket

    import requests

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    env.update(WORKBENCH_CONFIG=str(site["config"]), WORKBENCH_PASSWORD=PASSWORD)
    log = site["base"] / "lab.log"
    with open(log, "w") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "workbench.cli", "--utilisateur", "dim.014", "lab", "--port", str(port),
             "--token", "jeton", "--projet", "hopital-014"],
            cwd=PROJECT_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT)
    base, headers = f"http://127.0.0.1:{port}", {"Authorization": "token jeton"}
    try:
        for _ in range(240):  # readiness wait (up to two minutes), not a timed assertion
            assert server.poll() is None, log.read_text()
            try:
                if requests.get(base + "/api/status", headers=headers, timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            import time

            time.sleep(0.5)
        account = pwd.getpwnam(accounts.account_name("dim.014"))
        assert _uid(server.pid) == account.pw_uid  # exec'd in place: same pid, the account's uid
        names = {item["name"] for item in requests.get(base + "/api/contents", headers=headers, timeout=10).json()["content"]}
        assert {"hopital-014", "notebooks"} <= names and "cardio" not in names
        created = requests.post(base + "/api/kernels", headers=headers, json={"name": "eds-workbench"}, timeout=60)
        assert created.status_code == 201, created.text
        kernel = created.json()["id"]
        pids = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()
                and kernel in (p / "cmdline").read_bytes().decode(errors="replace")]
        assert pids and {_uid(pid) for pid in pids} == {account.pw_uid}
    finally:
        server.terminate()  # JupyterLab shuts its kernels down on SIGTERM
        server.wait(timeout=120)


def test_notebook_new_injects_the_project_catalogue(site, dim_project):
    import nbformat

    done = cli(site, "dim.014", "notebook", "new", "cohort_profile", "--projet", dim_project, "--out", "nouveau.ipynb")
    assert done.returncode == 0, done.stderr
    notebook = nbformat.read(site["state"] / "exports" / "dim.014" / "nouveau.ipynb", as_version=4)
    injected = [c for c in notebook.cells if "injected-parameters" in c.metadata.get("tags", [])]
    project_catalog = site["projects"] / "dim.014" / dim_project / "catalog.yaml"
    assert injected and f'catalog = "{project_catalog}"' in injected[0].source
    assert str(site["catalog"]) not in injected[0].source
