"""The CLI acting as a user (`workbench --utilisateur NAME …`), run as a user runs it: in a subprocess.

The password comes from ``$WORKBENCH_PASSWORD`` (stdin is not a terminal
here); the accounts are written per test beside the 2,000-patient demo
warehouse, and named with the catalogue and the test's state folder by a
deployment file (``$WORKBENCH_CONFIG``, see tests/deployment_support.py). Expected figures come from SQL on the DuckDB file, not from the
workbench. `cli` and `write_accounts` are reused by the CLI rows of
tests/access/test_surfaces.py.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from deployment_support import deployment_env, user_exports
from workbench import audit
from workbench.access.model import (
    AccessFile,
    Policy,
    UserEntry,
    hash_password,
    save_access,
)
from workbench.paths import PROJECT_ROOT

from .conftest import CARDIO

K = 10
PASSWORD = "mot-de-passe-cli"
# role -> perimeter of the accounts `attaquant.<role>` (the names test_surfaces.py audits)
PERIMETERS = {"clinicien": (CARDIO,), "analyste_dim": ("014",), "referent_pilotage": (), "admin": ()}


def write_accounts(folder: Path) -> Path:
    """An access.yaml with one account per role, `attaquant.<role>`, all with password `PASSWORD`."""
    digest = hash_password(PASSWORD)
    users = {f"attaquant.{role}": UserEntry(role=role, perimeter=perimeter, password_hash=digest)
             for role, perimeter in PERIMETERS.items()}
    path = folder / "access.yaml"
    save_access(AccessFile(path, Policy(min_count=K), users))
    return path


def cli(*args: str, catalog: Path, access: Path, role: str | None = None,
        password: str = PASSWORD) -> subprocess.CompletedProcess[str]:
    """`workbench --catalog C --access A [--utilisateur attaquant.<role>] ARGS` with the password in the environment,
    under a deployment that fixes the same catalogue, accounts and the test's state folder."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("WORKBENCH_USER", "WORKBENCH_PASSWORD", "WORKBENCH_CATALOG", "WORKBENCH_ACCESS")}
    env = deployment_env(env, access=access, catalog=catalog)
    env["WORKBENCH_PASSWORD"] = password
    argv = [sys.executable, "-m", "workbench.cli", "--catalog", str(catalog), "--access", str(access)]
    if role is not None:
        argv += ["--utilisateur", f"attaquant.{role}"]
    return subprocess.run([*argv, *args], cwd=PROJECT_ROOT, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=600, check=False)


def exports(role: str) -> Path:
    """Where `attaquant.<role>`'s --out files go: his folder under the test's state."""
    return user_exports(Path(os.environ["WORKBENCH_STATE"]), f"attaquant.{role}")


def read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(path.read_text(encoding="utf-8")), comment="#", dtype=str, keep_default_na=False)


def events(kind: str) -> list[dict]:
    return [e for e in audit.read() if e["event"] == kind]


@pytest.fixture()
def accounts(tmp_path: Path) -> Path:
    return write_accounts(tmp_path)


def test_a_referent_gets_the_masked_cube_in_the_csv(catalog: Path, accounts: Path) -> None:
    done = cli("indicators", "compute", "nb_sejours", "--by", "hospital,month", "--from", "2024-01", "--to", "2024-12",
               "--format", "csv", "--out", "cube.csv", catalog=catalog, access=accounts, role="referent_pilotage")
    assert done.returncode == 0, done.stderr
    out = (exports("referent_pilotage") / "cube.csv").resolve()
    frame = read_csv(out)
    hidden, shown = frame[frame["masked"] == "True"], frame[frame["masked"] == "False"]
    assert len(hidden) > 0 and len(hidden) + len(shown) == len(frame)
    assert (hidden[["value", "numerator", "n_patients"]] == "").all().all()  # masked cells are empty
    assert (shown["n_patients"].astype(int) >= K).all()
    (login,) = events("login")
    assert (login["user"], login["ok"]) == ("attaquant.referent_pilotage", True)
    (indicator,) = events("indicator")
    assert (indicator["policy"], indicator["masked"]) == (True, len(hidden))
    (export,) = events("export")
    assert (export["user"], export["role"], export["indicator"], export["format"]) == (
        "attaquant.referent_pilotage", "referent_pilotage", "nb_sejours", "csv")
    assert (export["rows"], export["masked"], export["destination"]) == (len(frame), len(hidden), str(out))


def test_a_clinician_reads_only_his_perimeter(catalog: Path, accounts: Path, duckdb_file: Path) -> None:
    """A raw table through the CLI holds the rows of his perimeter (stays by SQL on the care-site tree)."""
    from .test_surfaces import PERIMETER_STAYS, _codes

    done = cli("catalog", "show", "visit_occurrence", "--format", "json", catalog=catalog, access=accounts,
               role="clinicien")
    assert done.returncode == 0, done.stderr
    with duckdb.connect(str(duckdb_file), read_only=True) as con:
        mine = len(con.execute(PERIMETER_STAYS.format(codes=_codes((CARDIO,)))).fetchall())
        everything = con.execute("SELECT count(*) FROM visit_occurrence").fetchone()[0]
    assert 0 < mine < everything
    assert json.loads(done.stdout)["rows"] == mine
    executed = events("execute")
    assert executed and all(e["user"] == "attaquant.clinicien" for e in executed)
    # his service's indicator: exact figures of his rows, outside the disclosure policy
    done = cli("indicators", "compute", "nb_sejours", "--by", "month", "--filter", f"service={CARDIO}",
               "--from", "2024-01", "--to", "2024-12", "--format", "json", catalog=catalog, access=accounts,
               role="clinicien")
    assert done.returncode == 0, done.stderr
    (event,) = events("indicator")
    assert (event["user"], event["policy"], event["filters"]) == ("attaquant.clinicien", False, {"service": [CARDIO]})


def test_a_wrong_password_exits_1_and_is_audited(catalog: Path, accounts: Path) -> None:
    done = cli("indicators", "list", catalog=catalog, access=accounts, role="clinicien", password="faux")
    assert done.returncode == 1
    assert done.stderr.startswith("Erreur : connexion refusée") and len(done.stderr.splitlines()) == 1
    assert done.stdout == ""
    assert [(e["user"], e["ok"]) for e in events("login")] == [("attaquant.clinicien", False)]


def test_without_a_password_and_without_a_terminal_the_cli_says_how_to_give_one(catalog: Path, accounts: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("WORKBENCH_PASSWORD", "WORKBENCH_ACCESS")}
    env = deployment_env(env, access=accounts, catalog=catalog)
    env["WORKBENCH_USER"] = "attaquant.clinicien"  # the environment variable of --utilisateur
    done = subprocess.run([sys.executable, "-m", "workbench.cli", "indicators", "list"],
                          cwd=PROJECT_ROOT, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode == 1
    assert "WORKBENCH_PASSWORD" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("command", [("users", "list"), ("audit", "tail")])
def test_admin_commands_are_refused_to_other_roles(catalog: Path, accounts: Path, command: tuple[str, str]) -> None:
    done = cli(*command, catalog=catalog, access=accounts, role="analyste_dim")
    assert done.returncode == 1
    assert "réservée au rôle admin" in done.stderr and "attaquant" not in done.stdout
    (event,) = events("refused")
    assert (event["user"], event["command"]) == ("attaquant.analyste_dim", command[0])
    done = cli(*command, "--format", "json", catalog=catalog, access=accounts, role="admin")
    assert done.returncode == 0, done.stderr


def test_a_clinician_cannot_run_a_notebook_kernel_or_build_an_exact_site(catalog: Path, accounts: Path,
                                                                        tmp_path: Path) -> None:
    """A kernel or --sans-politique would read the warehouse without his perimeter: refused, audited."""
    done = cli("notebook", "run", "pmsi_casemix", "--out", str(tmp_path / "nb.ipynb"), catalog=catalog,
               access=accounts, role="clinicien")
    assert done.returncode == 1 and "notebook run" in done.stderr
    done = cli("wiki", "build", "--sans-politique", "--out", "site", catalog=catalog,
               access=accounts, role="clinicien")
    assert done.returncode == 1 and "--sans-politique" in done.stderr
    assert [e["command"] for e in events("refused")] == ["notebook run", "wiki build --sans-politique"]
    assert not (tmp_path / "nb.ipynb").exists() and not (exports("clinicien") / "site").exists()
