"""Fixtures of the project, export and kernel tests: the 2,000-patient demo, its users, independent SQL.

Expected figures come from SQL on the demo's DuckDB file: a perimeter is the
care-site tree below a code (`fact_relationship`, "fait partie de"), a stay is
in it when its hospital or one of its movements is, and soft-deleted stays
are left out — the rules of `workbench.access.perimeter`, written again in SQL.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from deployment_support import write_deployment
from workbench.access.context import UserContext
from workbench.access.model import AccessFile, Policy, UserEntry, hash_password, save_access
from workbench.notebooks import closed_to_others
from workbench.paths import PROJECT_ROOT

DIM = UserContext(name="dim.014", role="analyste_dim", perimeter=frozenset({"014"}), nominative=False)
CARDIO = UserContext(name="clinicien.cardio", role="clinicien", perimeter=frozenset({"014-S03"}), nominative=True)
PILOTE = UserContext(name="pilotage", role="referent_pilotage", perimeter=frozenset(), nominative=False)

PERIMETER_STAYS = """
with recursive tree(id) as (
    select care_site_id from care_site where care_site_source_value = ?
    union select f.fact_id_1 from fact_relationship f join tree on f.fact_id_2 = tree.id
    where f.relationship_concept_id = 46233688)
select v.visit_occurrence_id, v.person_id from visit_occurrence v
where coalesce(v.row_status_source_value, '') <> 'supprimé'
  and (v.care_site_id in (select id from tree)
       or v.visit_occurrence_id in (select visit_occurrence_id from visit_detail where care_site_id in (select id from tree)))
"""
"""Non-deleted stays of the perimeter below the code given as parameter (visit id, person id)."""


@pytest.fixture(scope="session")
def demo_catalog(demo_dir: Path) -> Path:
    return demo_dir / "catalog.yaml"


@pytest.fixture(scope="session")
def sql(demo_dir: Path) -> Iterator:
    """`sql(query, *params)` → list of tuples, on a read-only connection to the demo file."""
    con = duckdb.connect(str(demo_dir / "eds.duckdb"), read_only=True)

    def run(query: str, *params: object) -> list[tuple]:
        return con.execute(query, list(params)).fetchall()

    yield run
    con.close()


@pytest.fixture(scope="session")
def cohort_ids(sql) -> list[int]:
    """Thirty patients: the 15 smallest ids with a stay in hospital 014, the 15 smallest with none there."""
    inside = [r[0] for r in sql(f"select distinct person_id from ({PERIMETER_STAYS}) order by 1 limit 15", "014")]
    outside = [r[0] for r in sql(
        f"select person_id from person where person_id not in (select person_id from ({PERIMETER_STAYS})) "
        "order by 1 limit 15", "014")]
    assert len(inside) == 15 and len(outside) == 15
    return inside + outside


@pytest.fixture(autouse=True)
def folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test its own state folder (audit log, pseudonymisation secret) and projects folder."""
    monkeypatch.setenv("WORKBENCH_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("WORKBENCH_PROJECTS", str(tmp_path / "projects"))
    return tmp_path


PASSWORD = "noyau-de-test"
KERNEL_PYTHON = Path(sys.executable if closed_to_others(Path(sys.executable)) is None
                     else shutil.which(f"python3.{sys.version_info.minor}", path="/usr/bin:/usr/local/bin") or "")
"""This interpreter, or the system's of the same minor version when this one sits in a private folder (pyenv in
/root): the deployment's `kernel_python`."""


@pytest.fixture(scope="module")
def site(demo_catalog: Path) -> Iterator[dict[str, Path]]:
    """A deployment in a fresh folder of /tmp (mode 0711, so kernel accounts reach their projects below it):
    accounts dim.014, clinicien.cardio and pilotage (password `PASSWORD`), the demo catalogue, a state folder."""
    base = Path(tempfile.mkdtemp(prefix="noyaux-", dir="/tmp"))
    base.chmod(0o711)
    access = base / "config" / "access.yaml"
    access.parent.mkdir(mode=0o700)
    digest = hash_password(PASSWORD)
    save_access(AccessFile(access, Policy(min_count=10), {
        "dim.014": UserEntry(role="analyste_dim", perimeter=("014",), password_hash=digest),
        "clinicien.cardio": UserEntry(role="clinicien", perimeter=("014-S03",), password_hash=digest),
        "pilotage": UserEntry(role="referent_pilotage", password_hash=digest),
    }))
    state = base / "state"
    state.mkdir(mode=0o700)
    config = write_deployment(base / "config", access=access, catalog=demo_catalog, state=state,
                              projects=base / "projects", kernel_python=KERNEL_PYTHON)
    yield {"base": base, "config": config, "state": state, "projects": base / "projects", "catalog": demo_catalog}
    shutil.rmtree(base, ignore_errors=True)


def cli(site: dict[str, Path], user: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`workbench --utilisateur USER ARGS` in a subprocess, under the site's deployment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    env.update(WORKBENCH_CONFIG=str(site["config"]), WORKBENCH_PASSWORD=PASSWORD)
    return subprocess.run([sys.executable, "-m", "workbench.cli", "--utilisateur", user, *args], cwd=PROJECT_ROOT,
                          env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=900, check=False)
