"""Saved cohort definitions: versioned, per user, in the state folder (never in the warehouse).

Saving a definition under an existing name adds a version only when its
criteria changed (`CohortDefinition.digest`); earlier versions stay readable,
so an export or a project records the exact version it was built from.
Each user sees only his own cohorts (the owner is part of the key).
"""

from __future__ import annotations

import json
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from workbench.cohorts.definition import CohortDefinition, check_name, parse_definition
from workbench.errors import UserError
from workbench.state import SqliteStore


@dataclass(frozen=True)
class SavedCohort:
    """One version of a saved cohort definition."""

    owner: str
    name: str
    version: int
    created_at: str
    digest: str
    definition: CohortDefinition

    def summary(self) -> dict[str, Any]:
        """The row of `cohort list`."""
        return {"name": self.name, "version": self.version, "created_at": self.created_at,
                "unit": self.definition.unite, "rules": len(self.definition.inclusion),
                "description": self.definition.description}


class CohortStore(SqliteStore):
    """`<state>/cohorts.sqlite`: one row per (owner, name, version)."""

    filename = "cohorts.sqlite"
    schema = """
    CREATE TABLE IF NOT EXISTS cohorts (
        owner TEXT NOT NULL, name TEXT NOT NULL, version INTEGER NOT NULL,
        created_at TEXT NOT NULL, digest TEXT NOT NULL, definition TEXT NOT NULL,
        PRIMARY KEY (owner, name, version)
    );
    """

    def __init__(self, folder: Path | None = None) -> None:
        super().__init__(folder)

    def save(self, owner: str, definition: CohortDefinition) -> SavedCohort:
        """Store `definition` under its name; a new version only when the criteria changed."""
        name = check_name(definition.nom)
        digest = definition.digest()
        text = definition.model_dump_json()
        with closing(self._connect()) as con, con:
            con.execute("BEGIN IMMEDIATE")  # two saves at once must not both take the same version
            last = con.execute("SELECT version, digest FROM cohorts WHERE owner = ? AND name = ? "
                               "ORDER BY version DESC LIMIT 1", (owner, name)).fetchone()
            if last is not None and last["digest"] == digest:
                version = int(last["version"])
                row = con.execute("SELECT * FROM cohorts WHERE owner = ? AND name = ? AND version = ?",
                                  (owner, name, version)).fetchone()
                return _saved(row)
            version = 1 if last is None else int(last["version"]) + 1
            created = datetime.now(timezone.utc).isoformat(timespec="seconds")
            con.execute("INSERT INTO cohorts VALUES (?, ?, ?, ?, ?, ?)", (owner, name, version, created, digest, text))
        return SavedCohort(owner, name, version, created, digest, definition)

    def get(self, owner: str, name: str, version: int | None = None) -> SavedCohort:
        """The latest (or the given) version of the owner's cohort `name`, or a `UserError`."""
        check_name(name)
        with closing(self._connect()) as con:
            if version is None:
                row = con.execute("SELECT * FROM cohorts WHERE owner = ? AND name = ? ORDER BY version DESC LIMIT 1",
                                  (owner, name)).fetchone()
            else:
                row = con.execute("SELECT * FROM cohorts WHERE owner = ? AND name = ? AND version = ?",
                                  (owner, name, version)).fetchone()
        if row is None:
            which = f"cohorte « {name} »" + (f" version {version}" if version is not None else "")
            raise UserError(f"{which} introuvable pour l'utilisateur {owner} (voir `workbench cohort list`)")
        return _saved(row)

    def list(self, owner: str) -> list[SavedCohort]:
        """The latest version of each of the owner's cohorts, by name."""
        with closing(self._connect()) as con:
            rows = con.execute(
                "SELECT c.* FROM cohorts c JOIN (SELECT name, MAX(version) AS v FROM cohorts WHERE owner = ? "
                "GROUP BY name) m ON c.name = m.name AND c.version = m.v WHERE c.owner = ? ORDER BY c.name",
                (owner, owner)).fetchall()
        return [_saved(row) for row in rows]


DEFINITION_SUFFIXES = (".yaml", ".yml", ".json")


def owner_of(user: Any | None) -> str:
    """The name saved cohorts are filed under: the user's, or ``local`` for the local administrator."""
    return user.name if user is not None else "local"


def resolve_cohort(user: Any | None, reference: str, folder: Path | None = None) -> tuple[CohortDefinition, int | None]:
    """What a command or a page names a cohort by — a definition file (``.yaml``, ``.yml``, ``.json``) or one
    of the user's saved cohorts (``NAME`` or ``NAME@VERSION``) — as its definition and saved version
    (None for a file)."""
    from workbench.cohorts.definition import load_definition

    path = Path(reference)
    if path.suffix.lower() in DEFINITION_SUFFIXES or path.is_file():
        return load_definition(path), None
    name, _, version = reference.partition("@")
    if version and not version.isdigit():
        raise UserError(f"cohorte {reference!r} : version {version!r} invalide (NOM@NUMÉRO)")
    saved = CohortStore(folder).get(owner_of(user), name, int(version) if version else None)
    return saved.definition, saved.version


def _saved(row: Any) -> SavedCohort:
    definition = parse_definition(json.loads(row["definition"]), f"cohorte enregistrée « {row['name']} »")
    return SavedCohort(row["owner"], row["name"], int(row["version"]), row["created_at"], row["digest"], definition)
