"""Who may do what: the role × action table, the one place every face asks.

The table is data (like Datasette's permission checks, one function answers):
each action names the roles allowed to perform it, and :func:`require` refuses
anyone else with one French message, after writing the attempt to the audit
log. Row-level rules (perimeters, the nominative right, the disclosure policy)
stay where rows are read (`workbench.warehouse`); an action allowed here is
still carried out within the user's rights. `docs/security.md` shows the table
and `tests/access/test_actions.py` tests it row by row.

``None`` as user is the local administrator (no ``--utilisateur``): every action.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from workbench import audit
from workbench.access.context import UserContext
from workbench.access.model import ROLES, Role
from workbench.errors import UserError

ALL_ROLES = frozenset(ROLES)
PATIENT_LEVEL_ROLES = frozenset(role.name for role in ROLES.values() if role.patient_level)


@dataclass(frozen=True)
class Action:
    """One thing a user may ask for: its French label (shown in refusals) and the roles allowed."""

    name: str
    label: str
    roles: frozenset[str]


ACTIONS: dict[str, Action] = {
    action.name: action
    for action in (
        Action("cohort.create", "créer une cohorte", ALL_ROLES),
        Action("cohort.count", "compter une cohorte", ALL_ROLES),
        Action("cohort.feasibility", "étudier la faisabilité d'une cohorte", ALL_ROLES),
        Action("cohort.sample", "échantillonner une cohorte", PATIENT_LEVEL_ROLES),
        Action("cohort.export", "exporter une cohorte", PATIENT_LEVEL_ROLES),
        Action("cohort.prescreen", "préscreener une cohorte", frozenset({"clinicien", "admin"})),
        Action("project.create", "créer un espace projet", PATIENT_LEVEL_ROLES),
        Action("project.perimeter", "créer un espace projet de tout son périmètre", frozenset({"analyste_dim", "admin"})),
        Action("lab.open", "ouvrir JupyterLab ou exécuter un notebook", PATIENT_LEVEL_ROLES),
        Action("ingest", "charger des données dans l'entrepôt", frozenset({"equipe_entrepot", "admin"})),
        Action("export.fhir", "exporter l'entrepôt en FHIR", frozenset({"equipe_entrepot", "admin"})),
    )
}


ALL_ROWS = "all"
PERIMETER_ROWS = "perimeter"
AGGREGATES_ONLY = "aggregates"
RowAccess = Literal["all", "perimeter", "aggregates"]


def role_of(user: UserContext) -> Role:
    """The user's role, or a `UserError` for an unknown one (a forged context)."""
    try:
        return ROLES[user.role]
    except KeyError:
        raise UserError(f"rôle inconnu {user.role!r} pour l'utilisateur {user.name!r}") from None


def row_access(user: UserContext | None) -> RowAccess:
    """Which patient rows `user` reads: every row, the rows of their perimeter, or none (aggregates only).

    The one question behind row filters, the disclosure policy, quality
    reports and dashboards' reach, asked one way: ``None`` (the local
    administrator), an admin, or a patient-level role without perimeter read
    every row; a patient-level role with a perimeter reads its rows; the
    other roles see aggregates only.
    """
    if user is None or user.role == "admin":
        return ALL_ROWS
    if not role_of(user).patient_level:
        return AGGREGATES_ONLY
    return PERIMETER_ROWS if user.perimeter else ALL_ROWS


def is_patient_level(user: UserContext) -> bool:
    """True when the user may read patient-level rows (within their perimeter)."""
    return role_of(user).patient_level


def unrestricted(user: UserContext) -> bool:
    """True when no row filter applies: admin, or a patient-level role without perimeter."""
    return row_access(user) == ALL_ROWS


def action(name: str) -> Action:
    """The action called `name` (an unknown name is a bug of the caller, not a user error)."""
    return ACTIONS[name]


def allowed(user: UserContext | None, name: str) -> bool:
    """True when `user` may perform the action `name` (None: the local administrator)."""
    return user is None or user.role in action(name).roles


def refused(user: UserContext | None, message: str, **fields: object) -> UserError:
    """The error of a refused access, after writing the attempt to the audit log."""
    audit.write("refused", user, reason=message, **fields)
    return UserError(message)


def require(user: UserContext | None, name: str, surface: str = "cli") -> None:
    """Refuse the action `name` to a user whose role is not allowed, audited with the surface asked from."""
    if allowed(user, name):
        return
    assert user is not None
    raise refused(user, f"accès refusé : le rôle {user.role} ne peut pas {action(name).label} "
                        f"(utilisateur {user.name})", action=name, surface=surface)
