"""Access control: who may read which rows, and what aggregates they may see.

`load_access(path)` reads access.yaml, `authenticate(name, password)` turns a
login into a :class:`~workbench.access.context.UserContext` (and writes the login to
the audit log); `workbench.open(user=…)` then restricts every view and raw table
to the user's perimeter, and the indicator engine passes the results of users
without patient-level rights through the disclosure policy
(:mod:`workbench.access.disclosure`). `policy_key(user)` is what any cache of
results must include.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from workbench.access.actions import (
    ACTIONS,
    AGGREGATES_ONLY,
    ALL_ROWS,
    PERIMETER_ROWS,
    allowed,
    is_patient_level,
    refused,
    require,
    role_of,
    row_access,
    unrestricted,
)
from workbench.access.context import UserContext
from workbench.access.model import (
    DEFAULT_MIN_COUNT,
    ROLES,
    AccessFile,
    Role,
    UserEntry,
    access_path,
    hash_password,
    load_access,
    save_access,
    verify_password,
)

__all__ = [
    "ROLES", "Role", "AccessFile", "UserContext", "UserEntry", "access_path", "authenticate", "hash_password",
    "load_access", "save_access", "verify_password", "user_context", "policy_key", "role_of",
    "is_patient_level", "check_table", "ACTIONS", "allowed", "refused", "require", "check_view", "table_refusal", "view_refusal",
    "row_access", "unrestricted", "ALL_ROWS", "PERIMETER_ROWS", "AGGREGATES_ONLY",
]


def user_context(name: str, entry: UserEntry, access: AccessFile) -> UserContext:
    """The `UserContext` of an account of access.yaml."""
    return UserContext(
        name=name, role=entry.role, perimeter=frozenset(entry.perimeter),
        nominative=entry.nominative or entry.role == "admin", min_count=access.policy.min_count,
    )


def authenticate(name: str, password: str, path: str | Path | None = None,
                 client: str | None = None) -> UserContext | None:
    """The user's context when the password matches, else None; every attempt is audited (failures
    rate-limited per `client` address and name by `workbench.audit.log_login`)."""
    from workbench import audit

    access = load_access(path)
    entry = access.users.get(name)
    ok = entry is not None and verify_password(password, entry.password_hash)
    if entry is None:
        verify_password(password, _DUMMY_HASH)  # same cost for unknown names: no user enumeration by timing
    audit.log_login(name, ok, **({"client": client} if client else {}))
    return user_context(name, entry, access) if ok and entry is not None else None


_DUMMY_HASH = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="


def view_refusal(user, name: str) -> str | None:
    """Why `user` may not read the canonical view `name`, or None when he may (no audit: a question, not an access)."""
    if not is_patient_level(user) and name != "care_sites":
        return (f"accès refusé : le rôle {user.role} ne consulte que des agrégats (vue « {name} » "
                "non accessible ; utilisez les indicateurs)")
    return None


def table_refusal(user, name: str, reference: bool) -> str | None:
    """Why `user` may not read the raw table `name` (`reference`: it holds no patient), or None when he may."""
    from workbench.access.perimeter import IDENTITY_TABLE

    if name == IDENTITY_TABLE and not (is_patient_level(user) and getattr(user, "nominative", False)):
        return (f"accès refusé : la table « {name} » (identité des patients) exige le droit nominatif, "
                f"que l'utilisateur {user.name} n'a pas")
    if not is_patient_level(user) and not reference:
        return f"accès refusé : le rôle {user.role} ne consulte que des agrégats (table « {name} » non accessible)"
    return None


def check_view(user, name: str) -> None:
    """Refuse patient-level views to aggregates-only roles (care sites are reference data), audited."""
    reason = view_refusal(user, name)
    if reason is not None:
        raise refused(user, reason, view=name)


def check_table(user, name: str, reference: bool) -> None:
    """Refuse patient tables to aggregates-only roles and `person_identity` without the nominative right, audited."""
    reason = table_refusal(user, name, reference)
    if reason is not None:
        raise refused(user, reason, table=name)


def policy_key(user) -> str:
    """A short key for caches: role, perimeter, nominative right and threshold (users sharing it see the same results)."""
    text = "|".join([
        user.role, ",".join(sorted(user.perimeter)), str(bool(getattr(user, "nominative", False))),
        str(getattr(user, "min_count", DEFAULT_MIN_COUNT)),
    ])
    return hashlib.sha256(text.encode()).hexdigest()[:16]
