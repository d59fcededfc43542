"""Fixtures of the project, export and kernel tests: the 2,000-patient demo, its users, independent SQL.

Expected figures come from SQL on the demo's DuckDB file: a perimeter is the
care-site tree below a code (`fact_relationship`, "fait partie de"), a stay is
in it when its hospital or one of its movements is, and soft-deleted stays
are left out — the rules of `workbench.access.perimeter`, written again in SQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from workbench.access.context import UserContext

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
