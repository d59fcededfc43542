"""The role × action table (workbench/access/actions.py), row by row, against the table of docs/security.md.

`EXPECTED` is written out by hand from the issue's rules (aggregates for everyone;
patient-level work for the patient-level roles; prescreening for clinicians;
loading and FHIR export for the warehouse team): the test fails if the code's
table and this one ever differ, and every refusal must leave one audit line.
"""

from __future__ import annotations

import pytest

from workbench import audit
from workbench.access import ACTIONS, ROLES, allowed, require, row_access, unrestricted
from workbench.errors import UserError

from .conftest import user

C, D, P, E, A = "clinicien", "analyste_dim", "referent_pilotage", "equipe_entrepot", "admin"
EXPECTED: dict[str, set[str]] = {
    "cohort.create": {C, D, P, E, A},
    "cohort.count": {C, D, P, E, A},
    "cohort.feasibility": {C, D, P, E, A},
    "cohort.sample": {C, D, A},
    "cohort.export": {C, D, A},
    "cohort.prescreen": {C, A},
    "project.create": {C, D, A},
    "project.perimeter": {D, A},  # a datamart of his whole perimeter (DIM analyst)
    "lab.open": {C, D, A},
    "ingest": {E, A},
    "export.fhir": {E, A},
}
CELLS = [(action, role) for action in EXPECTED for role in ROLES]


def test_the_table_has_exactly_the_documented_actions() -> None:
    assert set(ACTIONS) == set(EXPECTED)
    assert set(ROLES) == {C, D, P, E, A}


@pytest.mark.parametrize(("action", "role"), CELLS)
def test_each_cell(action: str, role: str) -> None:
    who = user(role, ("014",) if ROLES[role].perimeter_required else (), name=f"u.{role}")
    assert allowed(who, action) is (role in EXPECTED[action])
    if role in EXPECTED[action]:
        require(who, action, "cli")
        assert not [e for e in audit.read() if e["event"] == "refused"]
        return
    with pytest.raises(UserError, match=rf"accès refusé : le rôle {role} ne peut pas {ACTIONS[action].label} "
                                        rf"\(utilisateur u\.{role}\)"):
        require(who, action, "app")
    (line,) = [e for e in audit.read() if e["event"] == "refused"]
    assert (line["user"], line["action"], line["surface"]) == (f"u.{role}", action, "app")


def test_the_local_administrator_may_do_everything() -> None:
    assert all(allowed(None, action) for action in EXPECTED)


@pytest.mark.parametrize(("role", "perimeter", "expected"), [
    (A, ("014",), "all"),  # an admin's perimeter never restricts him
    (C, (), "all"), (C, ("014",), "perimeter"),
    (D, (), "all"), (D, ("014",), "perimeter"),
    (P, (), "aggregates"), (P, ("014",), "aggregates"),
    (E, (), "aggregates"),
])
def test_row_access_is_the_one_answer_to_which_rows_a_user_reads(role: str, perimeter: tuple[str, ...],
                                                                   expected: str) -> None:
    who = user(role, perimeter)
    assert row_access(who) == expected
    assert unrestricted(who) == (expected == "all")
    assert row_access(None) == "all"  # the local administrator


def test_row_access_refuses_a_forged_role() -> None:
    with pytest.raises(UserError, match="rôle inconnu 'chef'"):
        row_access(user("chef", ("014",)))
