"""Project datamarts: a user's cohort, within his perimeter, as a warehouse of its own.

``workbench project create NAME --cohort C`` writes, in the user's projects
folder (``<projects>/<user>/<NAME>/``, see `workbench.paths.projects_path`,
outside the state folder), a DuckDB file ``datamart.duckdb`` holding the
cohort's patients across the warehouse's tables — read through the user's
`Warehouse`, so only rows of his perimeter — and its ``catalog.yaml``: the
datamart opens with `workbench.open()` like any warehouse (catalogue, views,
indicators, notebooks). Identifiers are pseudonymised with the project's own
key (`workbench.projects.pseudonyms`): stable within the project, unlinkable
across projects. The identity table and the reports' text are copied only for
a user with the nominative right. ``_metadata`` records the source snapshot,
the cohort and its version, the creator; ``project.json`` beside the file says
the same for listings. A DIM analyst may also build the datamart of his whole
perimeter (no cohort). The project is built in a temporary folder moved into
place once complete, and audited with each table's row count.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ibis
import pandas as pd

from workbench import paths
from workbench.errors import UserError
from workbench.projects import accounts
from workbench.projects.pseudonyms import Pseudonymiser

DATAMART = "datamart.duckdb"
CATALOG = "catalog.yaml"
MANIFEST = "project.json"
MEMBERS_TABLE = "cohort_members"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

ID_DOMAINS: dict[str, str] = {
    "person_id": "person",
    "visit_occurrence_id": "visit", "preceding_visit_occurrence_id": "visit",
    "visit_detail_id": "visit_detail", "visit_detail_parent_id": "visit_detail",
    "parent_visit_detail_id": "visit_detail",
    "condition_occurrence_id": "condition", "procedure_occurrence_id": "procedure",
    "measurement_id": "measurement", "observation_id": "observation", "drug_exposure_id": "drug_exposure",
    "device_exposure_id": "device_exposure", "specimen_id": "specimen", "note_id": "note", "cost_id": "cost",
}
"""Identifier columns replaced by integer pseudonyms, by domain (a stay id is one domain, wherever it appears)."""
TEXT_IDS: dict[str, str] = {"visit_occurrence_source_value": "nda", "visit_source_value_nda": "nda"}
"""Text identifiers (the administrative file number) replaced by text pseudonyms."""
NOMINATIVE_TABLES = ("person_identity", "note")
"""Tables copied only for a user with the nominative right: the identity and the reports' free text."""


@dataclass(frozen=True)
class Project:
    """A project as its manifest describes it."""

    name: str
    owner: str
    path: Path
    id: str
    created_at: str
    cohort: str | None
    cohort_version: Any
    source_snapshot: str
    patients: int
    tables: dict[str, int] = field(default_factory=dict)
    nominative: bool = False

    @property
    def catalog(self) -> Path:
        return self.path / CATALOG

    @property
    def datamart(self) -> Path:
        return self.path / DATAMART

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "owner": self.owner, "path": str(self.path), "catalog": str(self.catalog),
                "created_at": self.created_at, "cohort": self.cohort, "cohort_version": self.cohort_version,
                "source_snapshot": self.source_snapshot, "patients": self.patients, "tables": dict(self.tables),
                "nominative": self.nominative}


def check_name(name: str) -> str:
    """A project name usable as a folder, or a `UserError`."""
    if not _NAME.fullmatch(name) or ".." in name:
        raise UserError(f"nom de projet « {name} » invalide (lettres, chiffres, . _ -, 64 caractères au plus)")
    return name


def projects_root() -> Path:
    """The folder of every user's projects (created mode 0711: each user reaches his own folder, lists no other)."""
    root = paths.projects_path()
    if not root.exists():
        root.mkdir(parents=True, mode=0o711)
        root.chmod(0o711)
    return root


def work_folder() -> Path:
    """A fresh folder ``<projects>/.travail/<random>`` (mode 0700, root's): where root builds a project or prepares a
    kernel run before handing it to a user's account — never inside the user's own folder, where the account
    could swap a path for a link while root writes."""
    import secrets

    area = projects_root() / ".travail"
    area.mkdir(exist_ok=True, mode=0o711)
    folder = area / secrets.token_hex(8)
    folder.mkdir(mode=0o700)
    return folder


def user_root(user_name: str) -> Path:
    """``<projects>/<user>/`` (mode 0700; owned by the user's kernel account once it exists)."""
    check_name(user_name)
    folder = projects_root() / user_name
    folder.mkdir(exist_ok=True, mode=0o700)
    return folder


def _user_name(user: Any) -> str:
    return str(getattr(user, "name", None) or "local")


def _read_manifest(folder: Path) -> Project:
    data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    return Project(path=folder, **{k: v for k, v in data.items() if k != "path"})


def list_projects(user: Any) -> list[Project]:
    """The user's projects, by name (a folder without manifest — a build interrupted — is not one)."""
    folder = paths.projects_path() / _user_name(user)
    if not folder.is_dir():
        return []
    return [_read_manifest(p) for p in sorted(folder.iterdir()) if (p / MANIFEST).is_file()]


def get_project(user: Any, name: str) -> Project:
    """The user's project `name`, or a `UserError` listing his projects."""
    folder = paths.projects_path() / _user_name(user) / check_name(name)
    if not (folder / MANIFEST).is_file():
        known = ", ".join(p.name for p in list_projects(user)) or "aucun"
        raise UserError(f"projet « {name} » inconnu pour {_user_name(user)} (projets : {known})")
    return _read_manifest(folder)


def delete_project(user: Any, name: str) -> Project:
    """Remove the user's project `name` (its folder, datamart and notebooks), audited."""
    from workbench import audit

    project = get_project(user, name)
    shutil.rmtree(project.path)
    audit.write("project.delete", user, project=name)
    return project


# --------------------------------------------------------------------------- building


def _members_frame(members: pd.DataFrame | None) -> pd.DataFrame | None:
    if members is None:
        return None
    if "person_id" not in members.columns:
        raise UserError("membres de la cohorte : colonne person_id absente")
    return members


def _keep(table: str, user: Any, warehouse: Any) -> bool:
    """Whether the table goes into the datamart: the nominative ones only with the right, `_metadata` replaced."""
    if table == "_metadata":
        return False
    if table in NOMINATIVE_TABLES:
        return bool(getattr(user, "nominative", False)) and warehouse.readable(table)
    return warehouse.readable(table)


def _restricted(warehouse: Any, table: str, persons: Any, stays: Any) -> Any:
    """The table read through the user's warehouse (his perimeter), restricted to the cohort's patients."""
    expr = warehouse.table(table)
    if persons is None:
        return expr
    if "person_id" in expr.columns:
        return expr.filter(expr.person_id.isin(persons.person_id))
    if "visit_occurrence_id" in expr.columns:
        return expr.filter(expr.visit_occurrence_id.isin(stays.visit_occurrence_id))
    return expr


def _pseudonymise(frame: pd.DataFrame, pseudonyms: Pseudonymiser) -> pd.DataFrame:
    for column in frame.columns:
        if column in ID_DOMAINS:
            frame[column] = pseudonyms.column(frame[column], ID_DOMAINS[column])
        elif column in TEXT_IDS:
            frame[column] = pseudonyms.column(frame[column], TEXT_IDS[column], as_text=True)
    return frame


def create_project(
    warehouse: Any,
    name: str,
    members: pd.DataFrame | None,
    cohort: Mapping[str, Any] | None = None,
    progress: bool = False,
) -> Project:
    """Build the project `name` of the warehouse's user from the cohort's `members` (person_id, and optionally
    stay_id and index_date), or of his whole perimeter when `members` is None.

    `cohort` describes the cohort for `_metadata` (name, version, definition).
    An existing project of that name is refused; a failure leaves nothing behind.
    """
    from workbench import audit
    from workbench.catalog import write_catalog

    user = warehouse.user
    owner = _user_name(user)
    check_name(name)
    members = _members_frame(members)
    folder = user_root(owner) / name
    if folder.exists():
        raise UserError(f"le projet « {name} » existe déjà ({folder}) : supprimez-le ou choisissez un autre nom")
    project_id = uuid.uuid4().hex
    pseudonyms = Pseudonymiser(f"project:{owner}:{project_id}")
    temporary = work_folder()
    try:
        counts = _write_datamart(warehouse, temporary / DATAMART, members, pseudonyms, cohort, owner, name,
                                 project_id, progress)
        write_catalog(temporary / DATAMART, warehouse.flavour, temporary / CATALOG)
        patients = counts.get("person", 0)
        manifest = {
            "name": name, "owner": owner, "id": project_id,
            "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "cohort": (cohort or {}).get("name"), "cohort_version": (cohort or {}).get("version"),
            "source_snapshot": warehouse.snapshot_id, "patients": patients,
            "tables": counts, "nominative": bool(getattr(user, "nominative", False)),
        }
        (temporary / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
        audit.write("project.create", user, project=name, cohort=manifest["cohort"],
                    cohort_version=manifest["cohort_version"], snapshot=warehouse.snapshot_id, tables=counts,
                    perimeter_only=members is None)
        if accounts.running_as_root() and getattr(user, "role", "admin") != "admin":
            account = accounts.ensure_account(owner, folder.parent)  # his kernels will read it: his from the start
            accounts.hand_over(temporary, account)
            accounts.hand_over(folder.parent, account, recursive=False)
        os.replace(temporary, folder)
    finally:
        if temporary.exists():
            shutil.rmtree(temporary)
    return _read_manifest(folder)


def _write_datamart(warehouse: Any, path: Path, members: pd.DataFrame | None, pseudonyms: Pseudonymiser,
                    cohort: Mapping[str, Any] | None, owner: str, name: str, project_id: str,
                    progress: bool) -> dict[str, int]:
    """Copy every kept table into the DuckDB file at `path`; returns rows per table."""
    from rich.progress import Progress

    persons = stays = None
    if members is not None:
        persons = ibis.memtable(pd.DataFrame({"person_id": members["person_id"].astype("int64").unique()}))
        visits = warehouse.table("visit_occurrence")
        stays = visits.filter(visits.person_id.isin(persons.person_id)).select("visit_occurrence_id")
    out = ibis.duckdb.connect(str(path))
    counts: dict[str, int] = {}
    try:
        tables = [t for t in warehouse.tables if _keep(t, warehouse.user, warehouse)]
        with Progress(disable=not progress, transient=True) as bar:
            task = bar.add_task(f"Projet {name}", total=len(tables))
            for table in tables:
                expr = _restricted(warehouse, table, persons, stays)
                frame = _pseudonymise(warehouse.execute(expr), pseudonyms)
                out.create_table(table, schema=expr.schema())
                if len(frame):
                    out.insert(table, frame)
                counts[table] = len(frame)
                bar.advance(task)
        if members is not None:
            kept = members[members["person_id"].isin(_source_persons(warehouse, persons))]
            frame = _pseudonymise(kept.rename(columns={"stay_id": "visit_occurrence_id"}).copy(), pseudonyms)
            out.create_table(MEMBERS_TABLE, frame)
            counts[MEMBERS_TABLE] = len(frame)
        stamp = _metadata(warehouse, cohort, owner, name, project_id, counts.get("person", 0))
        out.create_table("_metadata", schema=METADATA_SCHEMA)
        out.insert("_metadata", stamp)
    finally:
        out.disconnect()
    return counts


def _source_persons(warehouse: Any, persons: Any) -> list[int]:
    """The cohort's patients present in the user's perimeter (source ids)."""
    table = warehouse.table("person")
    return warehouse.execute(table.filter(table.person_id.isin(persons.person_id)).person_id).tolist()


METADATA_SCHEMA = ibis.schema({
    "extraction_date": "date", "generator": "string", "snapshot_id": "string", "source_snapshot": "string",
    "project": "string", "project_id": "string", "cohort": "string", "cohort_version": "string",
    "cohort_definition": "string", "creator": "string", "n_patients": "int64", "created_at": "timestamp",
})
"""The datamart's `_metadata` row: what `Warehouse.snapshot_id`/`extraction_date` read, plus its provenance."""


def _metadata(warehouse: Any, cohort: Mapping[str, Any] | None, owner: str, name: str, project_id: str,
              patients: int) -> pd.DataFrame:
    cohort = dict(cohort or {})
    source = warehouse.snapshot_id
    created = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    snapshot = hashlib.sha256(f"{source}|{project_id}|{cohort.get('version')}".encode()).hexdigest()[:16]
    return pd.DataFrame([{
        "extraction_date": warehouse.extraction_date,
        "generator": f"workbench project {name}",
        "snapshot_id": snapshot,
        "source_snapshot": source,
        "project": name,
        "project_id": project_id,
        "cohort": cohort.get("name"),
        "cohort_version": None if cohort.get("version") is None else str(cohort.get("version")),
        "cohort_definition": json.dumps(cohort.get("definition"), ensure_ascii=False, default=str)
        if cohort.get("definition") is not None else None,
        "creator": owner,
        "n_patients": patients,
        "created_at": created,
    }])


# --------------------------------------------------------------------------- saved cohorts


def cohort_members(warehouse: Any, definition: Any, version: int | None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The members of a cohort definition evaluated on the user's `warehouse` (an empty cohort is a `UserError`
    naming the step that emptied it), and its description for `_metadata` and exports (name, version, criteria)."""
    from workbench.cohorts.evaluate import evaluate

    result = evaluate(warehouse, definition)
    result.require_members()
    return result.members, {"name": definition.nom, "version": version,
                            "definition": definition.model_dump(mode="json")}


def member_ids(warehouse: Any, cohort: str = "") -> Any | None:
    """The patients a notebook profiles: the saved cohort `cohort` (``NOM`` or ``NOM@VERSION`` of the local
    user, evaluated on `warehouse`), else the members of a project datamart (its `cohort_members` table), else
    None (every patient). An ibis column of person ids, to use with ``isin``."""
    if cohort:
        from workbench.cohorts.store import resolve_cohort

        members, _ = cohort_members(warehouse, *resolve_cohort(warehouse.user, cohort))
        ids = pd.DataFrame({"person_id": members["person_id"].astype("int64").unique()})
        return ibis.memtable(ids).person_id
    if MEMBERS_TABLE in warehouse.tables:
        return warehouse.table(MEMBERS_TABLE).person_id
    return None
