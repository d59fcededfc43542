"""Loading FHIR resources into a DuckDB warehouse: validation, mapping, provenance, quarantine, CDC, atomic swap.

A load works on a copy of the warehouse file (``.eds.duckdb.load-<pid>`` beside
it) and moves it over ``eds.duckdb`` with `os.replace` only once everything is
written, so a crash or a kill leaves the previous warehouse as it was. Inside
the copy:

* every row carries its provenance (`workbench.snapshot.PROVENANCE_COLUMNS`);
* ``_resources`` keeps every version seen of every resource (the CDC state and
  its history), ``_loads`` one row per load, ``_quarantine`` what could not be
  loaded with its raw text, file, line and reason;
* a resource already loaded is parsed, validated and mapped again only when it
  changed (newer ``meta.lastUpdated``/``versionId``, else a different content
  hash), so an incremental load costs what changed, plus reading and hashing;
* a deleted resource keeps its rows, marked: ``row_status_source_value =
  'supprimé'`` where the table has that status column (it is added to tables
  without one), and ``delete_datetime`` everywhere (``measurement`` keeps its
  lab status: the views exclude a set ``delete_datetime``).

The invariant received = inserted + updated + unchanged + deleted + ignored +
quarantined is checked at the end of every load (`LoadReport.check`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from workbench.demo.writer import DUCKDB_TYPES, schema
from workbench.errors import UserError
from workbench.fhir.ids import IdMap
from workbench.fhir.mapping import EXTRA_COLUMNS, MAPPERS, MappingError, Rows
from workbench.fhir.read import Record, read_by_type, read_deleted
from workbench.snapshot import PROVENANCE_COLUMNS, content_snapshot_id

LOADER_VERSION = "eds-workbench fhir-loader 1.0"
DATABASE = "eds.duckdb"
TEMP_PREFIX = ".eds.duckdb.load-"
#: Resource types whose integer id lives in a table (what references point to).
TABLE_OF = {"Patient": "person", "Encounter": "visit_occurrence", "Organization": "care_site", "Location": "care_site"}
PROVENANCE_TYPES = dict(zip(PROVENANCE_COLUMNS, ("string", "string", "string", "string", "string", "string", "int64", "int64")))
#: Tables the mappers write (provenance columns and a deletion date are added to each).
MAPPED_TABLES = ("person", "person_identity", "care_site", "fact_relationship", "visit_occurrence", "visit_detail",
                 "condition_occurrence", "procedure_occurrence", "measurement", "drug_exposure_prescription",
                 "drug_exposure_administration", "note", "formulaire", "cost", "concept", "concept_relationship")
#: Tables whose row status is the source's own (lab status): a deletion sets only `delete_datetime`.
OWN_STATUS = frozenset({"measurement"})
ARROW = {"int64": pa.int64(), "string": pa.string(), "timestamp": pa.timestamp("us"), "date": pa.date32(), "float64": pa.float64()}
BOOKKEEPING_DDL = (
    "CREATE TABLE IF NOT EXISTS _resources (resource_type VARCHAR, fhir_id VARCHAR, version_id VARCHAR, "
    "last_updated VARCHAR, content_hash VARCHAR, action VARCHAR, load_id BIGINT, raw_hash VARCHAR)",
    "CREATE TABLE IF NOT EXISTS _loads (load_id BIGINT, started_at TIMESTAMP, ended_at TIMESTAMP, source VARCHAR, "
    "deleted_list VARCHAR, user_name VARCHAR, received BIGINT, inserted BIGINT, updated BIGINT, unchanged BIGINT, "
    "deleted BIGINT, ignored BIGINT, quarantined BIGINT, snapshot_before VARCHAR, snapshot_after VARCHAR, report VARCHAR)",
    "CREATE TABLE IF NOT EXISTS _quarantine (load_id BIGINT, source_file VARCHAR, source_line BIGINT, "
    "resource_type VARCHAR, fhir_id VARCHAR, reason VARCHAR, detail VARCHAR, raw VARCHAR)",
)
RESOURCE_COLUMNS = {"resource_type": pa.string(), "fhir_id": pa.string(), "version_id": pa.string(), "last_updated": pa.string(),
                    "content_hash": pa.string(), "action": pa.string(), "load_id": pa.int64(), "raw_hash": pa.string()}
QUARANTINE_COLUMNS = {"load_id": pa.int64(), "source_file": pa.string(), "source_line": pa.int64(), "resource_type": pa.string(),
                      "fhir_id": pa.string(), "reason": pa.string(), "detail": pa.string(), "raw": pa.string()}
OUTCOMES = ("inserted", "updated", "unchanged", "deleted", "ignored", "quarantined")


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def columns_of(table: str) -> dict[str, str]:
    """Every column a FHIR-loaded table has: the contract's, the loader's extras, a deletion date, provenance."""
    columns = {name: spec["type"] for name, spec in schema()[table]["columns"].items()}
    columns.update(EXTRA_COLUMNS.get(table, {}))
    columns["delete_datetime"] = "timestamp"
    columns.update(PROVENANCE_TYPES)
    return columns


# ------------------------------------------------------------------ report


@dataclass
class LoadReport:
    """What a load did, per outcome and per resource type; `check` asserts the invariant."""

    load_id: int
    source: str
    received: int = 0
    counts: Counter = field(default_factory=Counter)
    by_type: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    quarantine: Counter = field(default_factory=Counter)
    ignored: Counter = field(default_factory=Counter)
    timings: dict[str, float] = field(default_factory=dict)
    rows: Counter = field(default_factory=Counter)
    snapshot_before: str | None = None
    snapshot_after: str | None = None

    def count(self, kind: str, outcome: str) -> None:
        """One resource of `kind` had `outcome`."""
        self.counts[outcome] += 1
        self.by_type[kind][outcome] += 1

    @property
    def balanced(self) -> bool:
        """Whether the invariant holds."""
        return self.received == sum(self.counts[o] for o in OUTCOMES)

    def check(self) -> None:
        """The invariant received = inserted + updated + unchanged + deleted + ignored + quarantined."""
        if not self.balanced:
            raise AssertionError(f"invariant du chargement rompu : {self.invariant()}")

    def invariant(self) -> str:
        """The invariant as printed: received and each outcome."""
        parts = " + ".join(f"{self.counts[o]} {LABELS[o]}" for o in OUTCOMES)
        sign = "=" if self.balanced else "≠"
        return f"{self.received} reçues {sign} {parts}"

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (`--format json`, `_loads.report`)."""
        return {
            "load_id": self.load_id, "source": self.source, "received": self.received,
            **{o: self.counts[o] for o in OUTCOMES},
            "invariant": self.balanced,
            "by_type": {k: {o: v[o] for o in OUTCOMES if v[o]} for k, v in sorted(self.by_type.items())},
            "quarantine_by_reason": dict(sorted(self.quarantine.items())),
            "ignored_by_type": dict(sorted(self.ignored.items())),
            "rows_written": dict(sorted(self.rows.items())),
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
            "snapshot_before": self.snapshot_before, "snapshot_after": self.snapshot_after,
        }


LABELS = {"inserted": "insérées", "updated": "mises à jour", "unchanged": "inchangées", "deleted": "supprimées",
          "ignored": "ignorées", "quarantined": "en quarantaine"}


# ------------------------------------------------------------------ CDC state


@dataclass
class Version:
    """What the CDC compares: meta's version and time, the content hash (without meta), the raw line's hash."""

    version_id: str | None
    last_updated: str | None
    content_hash: str
    deleted: bool = False
    raw_hash: str | None = None


def content_hash(resource: dict[str, Any]) -> str:
    """Hash of a resource's content, `meta` left out (a server re-stamping it does not change the content)."""
    body = {k: v for k, v in resource.items() if k != "meta"}
    return hashlib.blake2b(json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(), digest_size=16).hexdigest()


def _when(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else None


def is_newer(old: Version, new: Version) -> bool:
    """Whether `new` replaces `old`: newer lastUpdated, else another versionId, else another content hash."""
    if old.last_updated and new.last_updated:
        before, after = _when(old.last_updated), _when(new.last_updated)
        if before is not None and after is not None:
            return after > before
        return new.last_updated > old.last_updated
    if old.version_id and new.version_id:
        return new.version_id != old.version_id
    return new.content_hash != old.content_hash


def _current_versions(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], Version]:
    rows = con.execute(
        "SELECT resource_type, fhir_id, version_id, last_updated, content_hash, action, raw_hash FROM _resources "
        "QUALIFY row_number() OVER (PARTITION BY resource_type, fhir_id ORDER BY load_id DESC) = 1"
    ).fetchall()
    return {(kind, fhir_id): Version(v, lu, h, action == "delete", raw) for kind, fhir_id, v, lu, h, action, raw in rows}


# ------------------------------------------------------------------ the warehouse copy


def _create_tables(con: duckdb.DuckDBPyConnection) -> None:
    """The contract's tables (empty) and the loader's columns on the mapped ones; bookkeeping tables."""
    existing = {row[0] for row in con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'").fetchall()}
    for table, spec in schema().items():
        columns = columns_of(table) if table in MAPPED_TABLES else {n: c["type"] for n, c in spec["columns"].items()}
        if table not in existing:
            ddl = ", ".join(f"{_quoted(n)} {DUCKDB_TYPES[t]}" for n, t in columns.items())
            con.execute(f"CREATE TABLE {_quoted(table)} ({ddl})")
        else:
            for name, kind in columns.items():
                con.execute(f"ALTER TABLE {_quoted(table)} ADD COLUMN IF NOT EXISTS {_quoted(name)} {DUCKDB_TYPES[kind]}")
    for ddl in BOOKKEEPING_DDL:
        con.execute(ddl)


def _check_target(into: Path) -> Path:
    """The warehouse file of `into` (may not exist yet); a folder that cannot be written is a `UserError`."""
    into = Path(into).expanduser()
    if into.exists() and not into.is_dir():
        raise UserError(f"--into {into} : ce n'est pas un dossier")
    try:
        into.mkdir(parents=True, exist_ok=True)
        probe = into / f"{TEMP_PREFIX}probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise UserError(f"--into {into} : dossier non inscriptible ({error.strerror or error})") from error
    database = into / DATABASE
    if database.exists():
        try:
            with duckdb.connect(str(database), read_only=True) as con:
                tables = {row[0] for row in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        except duckdb.Error as error:
            raise UserError(f"--into {database} : fichier DuckDB illisible ({error})") from error
        if "_loads" not in tables:
            raise UserError(f"--into {database} : cet entrepôt n'a pas été écrit par « workbench ingest fhir » "
                            "(table _loads absente) : choisissez un dossier nouveau ou un entrepôt chargé depuis FHIR")
    return database


@contextmanager
def _working_copy(database: Path) -> Iterator[Path]:
    """A copy of the warehouse file to write into; removed unless the caller moved it into place."""
    for stale in database.parent.glob(f"{TEMP_PREFIX}*"):
        stale.unlink(missing_ok=True)  # left by a killed load
    temp = database.parent / f"{TEMP_PREFIX}{os.getpid()}"
    try:
        if database.exists():
            shutil.copyfile(database, temp)
        yield temp
    finally:
        temp.unlink(missing_ok=True)
        Path(f"{temp}.wal").unlink(missing_ok=True)


# ------------------------------------------------------------------ the load


class _Load:
    """One load into an open working copy: the resolver the mappers use, and the rows waiting to be written."""

    def __init__(self, con: duckdb.DuckDBPyConnection, load_id: int, report: LoadReport) -> None:
        self.con = con
        self.load_id = load_id
        self.report = report
        self.ids = IdMap(con)
        self.versions = _current_versions(con)
        self.alive = {key for key, version in self.versions.items() if not version.deleted}
        self.raw_hashes = {version.raw_hash for version in self.versions.values() if not version.deleted and version.raw_hash}
        self.pending: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.replaced: list[tuple[str, str]] = []
        self.history: list[tuple[Any, ...]] = []
        self.quarantined: list[tuple[Any, ...]] = []
        self._current: tuple[str, str] = ("", "")

    # Resolver protocol (workbench.fhir.mapping)
    def own(self, table: str, part: str = "") -> int:
        kind, fhir_id = self._current
        return self.ids.id(kind, fhir_id, table, part)

    def reference(self, value: Any, field: str, types: tuple[str, ...], required: bool = False) -> int | None:
        if not value:
            if required:
                raise MappingError("sujet manquant" if field == "subject" else "référence manquante", f"« {field} » absent")
            return None
        target = self._target(value, types)
        if target is None or target not in self.alive:
            shown = value.get("reference") if isinstance(value, dict) else value
            if shown is None and isinstance(value, dict):
                shown = "identifier " + json.dumps(value.get("identifier"), ensure_ascii=False)
            raise MappingError("référence non résolue", f"« {field} » : {shown}")
        kind, fhir_id = target
        return self.ids.id(kind, fhir_id, TABLE_OF.get(kind, kind))

    def _target(self, value: Any, types: tuple[str, ...]) -> tuple[str, str] | None:
        if not isinstance(value, dict):
            return None
        text = value.get("reference")
        if isinstance(text, str) and text:
            if "?" in text:
                kind, _, query = text.partition("?")
                name, _, token = query.partition("=")
                system, _, code = token.rpartition("|")
                found = self.ids.by_identifier(kind, system, code) if name == "identifier" else None
                return None if found is None or kind not in types else (kind, found)
            if text.startswith("urn:uuid:"):
                fhir_id = text[len("urn:uuid:"):]
                return next(((kind, fhir_id) for kind in types if (kind, fhir_id) in self.alive), None)
            parts = text.split("/")
            if "_history" in parts:
                parts = parts[: parts.index("_history")]
            if len(parts) < 2 or parts[-2] not in types:
                return None
            return parts[-2], parts[-1]
        identifier = value.get("identifier")
        if isinstance(identifier, dict) and identifier.get("value"):
            kinds = (value["type"],) if value.get("type") in types else types
            for kind in kinds:
                found = self.ids.by_identifier(kind, str(identifier.get("system") or ""), str(identifier["value"]))
                if found is not None:
                    return kind, found
        return None

    def concept(self, system: str, code: str, label: str | None) -> int:
        key = f"{system}|{code}"
        known = self.ids.known("concept", key, "concept")
        concept_id = self.ids.id("concept", key, "concept")
        if known is None:
            vocabulary = "ITM - LOINC" if system.endswith("loinc.org") else "ITM - ANABIO"
            self.pending["concept"].append({"concept_id": concept_id, "concept_name": label, "vocabulary_id": vocabulary,
                                            "concept_code": code, "fhir_load_id": self.load_id})
        return concept_id

    def maps_to(self, local_id: int, standard_id: int) -> None:
        key = f"{local_id}>{standard_id}"
        if self.ids.known("concept_relationship", key, "concept_relationship") is None:
            self.ids.id("concept_relationship", key, "concept_relationship")
            pairs = [(local_id, standard_id, "Maps to")] + ([(standard_id, local_id, "Mapped from")] if local_id != standard_id else [])
            for one, two, relation in pairs:
                self.pending["concept_relationship"].append({"concept_id_1": one, "concept_id_2": two,
                                                             "relationship_id": relation, "fhir_load_id": self.load_id})

    # one type of resources
    def register(self, kind: str, records: list[Record]) -> list[tuple[Record, Version, str]]:
        """First pass: parse outcome, hash, CDC decision; index ids and identifiers. Returns what to map."""
        todo = []
        for record in records:
            raw_hash = hashlib.blake2b(f"{kind}\n{record.raw}".encode(), digest_size=16).hexdigest()  # typed: a line in the wrong file is new
            if kind in MAPPERS and raw_hash in self.raw_hashes:
                self.report.count(kind, "unchanged")  # the very line loaded before: not even parsed
                continue
            record.parse()
            if record.resource is None:
                self.quarantine(record, "JSON illisible", record.error or "ligne illisible")
                continue
            fhir_id = record.fhir_id
            if fhir_id is None:
                self.quarantine(record, "identifiant manquant", "ressource sans « id »")
                continue
            if kind not in MAPPERS:
                self.report.count(kind, "ignored")
                self.report.ignored[kind] += 1
                continue
            meta = record.resource.get("meta") or {}
            new = Version(meta.get("versionId"), meta.get("lastUpdated"), content_hash(record.resource), raw_hash=raw_hash)
            old = self.versions.get((kind, fhir_id))
            if old is not None and not old.deleted and not is_newer(old, new):
                self.report.count(kind, "unchanged")
                continue
            todo.append((record, new, "insert" if old is None or old.deleted else "update"))
            for identifier in record.resource.get("identifier") or []:
                if isinstance(identifier, dict) and identifier.get("value"):
                    self.ids.add_identifier(kind, str(identifier.get("system") or ""), str(identifier["value"]), fhir_id)
        return todo

    def place(self, kind: str, todo: list[tuple[Record, Version, str]], validate: Validator,
              advance: Callable[[], None]) -> None:
        """Second pass: validate, map and queue the rows of the new and changed resources."""
        mapper = MAPPERS[kind]
        previous = set(self.alive)
        self.alive.update((kind, record.fhir_id) for record, _, _ in todo)  # references between resources of one type
        accepted = set()
        problems = validate(kind, [record for record, _, _ in todo])
        for (record, version, action), problem in zip(todo, problems):
            advance()
            fhir_id = record.fhir_id
            assert fhir_id is not None
            if problem is not None:
                self.quarantine(record, *problem)
                continue
            self._current = (kind, fhir_id)
            try:
                rows = mapper(record.resource, self)
            except MappingError as error:
                self.quarantine(record, error.reason, error.detail)
                continue
            if rows is None:
                self.report.count(kind, "ignored")
                self.report.ignored[f"{kind} (hors biologie et constantes)"] += 1
                continue
            self._queue(kind, record, version, rows)
            accepted.add((kind, fhir_id))
            if action == "update":
                self.replaced.append((kind, fhir_id))
            self.history.append((kind, fhir_id, version.version_id, version.last_updated, version.content_hash, action, self.load_id,
                                 version.raw_hash))
            replaced = self.versions.get((kind, fhir_id))
            if replaced is not None:
                self.raw_hashes.discard(replaced.raw_hash)
            self.raw_hashes.add(version.raw_hash)
            self.versions[(kind, fhir_id)] = version
            self.report.count(kind, "inserted" if action == "insert" else "updated")
        self.alive = previous | accepted

    def _queue(self, kind: str, record: Record, version: Version, rows: Rows) -> None:
        provenance = {"fhir_resource_type": kind, "fhir_id": record.fhir_id, "fhir_version_id": version.version_id,
                      "fhir_last_updated": version.last_updated, "fhir_content_hash": version.content_hash,
                      "fhir_source_file": record.file, "fhir_source_line": record.line, "fhir_load_id": self.load_id}
        for table, row in rows:
            self.pending[table].append({**row, **provenance})

    def quarantine(self, record: Record, reason: str, detail: str) -> None:
        """Put a resource aside with its raw text, file, line and reason; the load goes on."""
        self.quarantined.append((self.load_id, record.file, record.line, record.resource_type, record.fhir_id, reason, detail, record.raw))
        self.report.count(record.resource_type, "quarantined")
        self.report.quarantine[reason] += 1

    def delete(self, kind: str, fhir_id: str, file: str, line: int, now: datetime) -> bool:
        """Mark a deleted resource; True when it was alive (a repeated deletion is unchanged)."""
        version = self.versions.get((kind, fhir_id))
        if version is None:
            self.quarantined.append((self.load_id, file, line, kind, fhir_id, "suppression inconnue",
                                     f"{kind}/{fhir_id} n'a jamais été chargée", f"{kind}/{fhir_id}"))
            self.report.count(kind, "quarantined")
            self.report.quarantine["suppression inconnue"] += 1
            return False
        if version.deleted:
            self.report.count(kind, "unchanged")
            return False
        self.versions[(kind, fhir_id)] = Version(version.version_id, version.last_updated, version.content_hash, True)
        self.alive.discard((kind, fhir_id))
        self.raw_hashes.discard(version.raw_hash)
        self.history.append((kind, fhir_id, version.version_id, version.last_updated, version.content_hash, "delete", self.load_id, None))
        self.report.count(kind, "deleted")
        return True

    # writing
    def flush(self) -> None:
        """Replace the rows of updated resources, append the queued rows, the ids and the history."""
        con = self.con
        if self.replaced:
            self._register_keys("_replaced", self.replaced)
            for table in MAPPED_TABLES:
                if table not in ("concept", "concept_relationship"):
                    con.execute(f"DELETE FROM {_quoted(table)} WHERE (fhir_resource_type, fhir_id) IN "
                                "(SELECT resource_type, fhir_id FROM _replaced)")
            con.unregister("_replaced")
            self.replaced.clear()
        for table, rows in self.pending.items():
            columns = columns_of(table)
            arrays = {name: pa.array([row.get(name) for row in rows], ARROW[kind]) for name, kind in columns.items()}
            con.register("_rows", pa.table(arrays))
            con.execute(f"INSERT INTO {_quoted(table)} BY NAME SELECT * FROM _rows")
            con.unregister("_rows")
            self.report.rows[table] += len(rows)
        self.pending.clear()
        self.ids.save(con)
        self._append("_resources", RESOURCE_COLUMNS, self.history)
        self._append("_quarantine", QUARANTINE_COLUMNS, self.quarantined)

    def _append(self, table: str, columns: dict[str, pa.DataType], rows: list[tuple[Any, ...]]) -> None:
        """Append tuples to a bookkeeping table through Arrow (DuckDB's executemany is a round trip per row)."""
        if not rows:
            return
        values = list(zip(*rows))
        self.con.register("_append", pa.table({name: pa.array(values[i], kind) for i, (name, kind) in enumerate(columns.items())}))
        self.con.execute(f"INSERT INTO {table} SELECT * FROM _append")
        self.con.unregister("_append")
        rows.clear()

    def mark_deleted(self, keys: list[tuple[str, str]], now: datetime) -> None:
        """Mark the rows of the deleted resources in every table (status where it is the row's, deletion date)."""
        if not keys:
            return
        self._register_keys("_deleted", keys)
        for table in MAPPED_TABLES:
            if table in ("concept", "concept_relationship"):
                continue
            status = "" if table in OWN_STATUS or "row_status_source_value" not in columns_of(table) else \
                "row_status_source_value = 'supprimé', "
            self.con.execute(f"UPDATE {_quoted(table)} SET {status}delete_datetime = ? WHERE (fhir_resource_type, fhir_id) IN "
                             "(SELECT resource_type, fhir_id FROM _deleted)", [now])
        self.con.unregister("_deleted")

    def _register_keys(self, name: str, keys: list[tuple[str, str]]) -> None:
        kinds, ids = zip(*keys)
        self.con.register(name, pa.table({"resource_type": list(kinds), "fhir_id": list(ids)}))


SUBJECT_FIELDS = ("subject", "patient")


_MODELS: dict[str, Any] = {}
#: Below this many resources to validate, worker processes cost more than they save.
PARALLEL_MIN = 5_000
CHUNK = 500


def validation_problem(kind: str, raw: str) -> tuple[str, str] | None:
    """Validation of one resource against the fhir.resources R4B model of `kind`: None when valid, else
    (reason, first error)."""
    from fhir.resources.R4B import get_fhir_model_class
    from pydantic import ValidationError

    model = _MODELS.get(kind)
    if model is None:
        model = _MODELS[kind] = get_fhir_model_class(kind)
    try:
        model.model_validate_json(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ()) if part != "__root__")
        reason = "sujet manquant" if first.get("type") == "missing" and where in SUBJECT_FIELDS else "FHIR invalide"
        return reason, f"{where or kind} : {first.get('msg')} ({error.error_count()} erreur(s))"
    return None


def validate_many(kind: str, raws: list[str]) -> list[tuple[str, str] | None]:
    """`validation_problem` of each resource (the unit of work of a validation process)."""
    return [validation_problem(kind, raw) for raw in raws]


class Validator:
    """Validates the resources of a load: in this process for small batches, in worker processes for large
    ones (validation is most of a first load's time, and each resource is validated independently)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._pool: Any = None

    def __call__(self, kind: str, records: list[Record]) -> list[tuple[str, str] | None]:
        if not self.enabled:
            return [None] * len(records)
        raws = [record.raw for record in records]
        workers = os.cpu_count() or 1
        if len(raws) < PARALLEL_MIN or workers < 2:
            return validate_many(kind, raws)
        if self._pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self._pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        chunks = [raws[i:i + CHUNK] for i in range(0, len(raws), CHUNK)]
        return [problem for part in self._pool.map(validate_many, [kind] * len(chunks), chunks) for problem in part]

    def close(self) -> None:
        """Stop the worker processes, if any were started."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None


@contextmanager
def progress_bars(enabled: bool) -> Iterator[Callable[[str, int], Callable[[], None]]]:
    """A rich progress bar per resource type (or nothing): ``start(type, total)`` returns the step function
    (a total of 0: unknown, the bar counts without an end)."""
    if not enabled:
        yield lambda _kind, _total: (lambda: None)
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  transient=False) as bar:
        def start(kind: str, total: int) -> Callable[[], None]:
            task = bar.add_task(kind, total=total or None)
            return lambda: bar.advance(task)

        yield start


def load(source: Path, into: Path, *, deleted: Path | None = None, user: str = "admin", progress: bool = True,
         validate: bool = True) -> LoadReport:
    """Load the FHIR export `source` (folder or Bundle) into the warehouse folder `into`, atomically.

    `deleted` names the bulk export's deleted list. Returns the report (the
    invariant checked); raises `UserError` for an unreadable source or target,
    leaving the previous warehouse untouched.
    """
    source = Path(source).expanduser()
    if not source.exists():
        raise UserError(f"{source} : source FHIR introuvable (dossier d'export NDJSON ou Bundle JSON attendu)")
    database = _check_target(Path(into))
    started = datetime.now().replace(microsecond=0)
    clock = time.perf_counter()
    with _working_copy(database) as temp:
        con = duckdb.connect(str(temp))
        con.execute("SET enable_progress_bar = false")
        checker = Validator(validate)
        try:
            _create_tables(con)
            load_id = int(con.execute("SELECT coalesce(max(load_id), 0) + 1 FROM _loads").fetchone()[0])
            report = LoadReport(load_id, str(source))
            report.timings["copie"] = time.perf_counter() - clock
            report.snapshot_before = con.execute("SELECT max(snapshot_id) FROM _metadata").fetchone()[0]
            work = _Load(con, load_id, report)
            with progress_bars(progress) as bar:
                for kind, records in read_by_type(source, tuple(MAPPERS)):
                    report.received += len(records)
                    tick = time.perf_counter()
                    todo = work.register(kind, records)
                    advance = bar(kind, len(todo))
                    if todo:
                        work.place(kind, todo, checker, advance)
                    work.flush()
                    report.timings[kind] = time.perf_counter() - tick
            if deleted is not None:
                tick = time.perf_counter()
                now = datetime.now().replace(microsecond=0)
                gone = []
                for kind, fhir_id, file, line in read_deleted(deleted):
                    report.received += 1
                    if work.delete(kind, fhir_id, file, line, now):
                        gone.append((kind, fhir_id))
                work.mark_deleted(gone, now)
                work.flush()
                report.timings["suppressions"] = time.perf_counter() - tick
            report.check()
            tick = time.perf_counter()
            report.snapshot_after = _stamp(con)
            ended = datetime.now().replace(microsecond=0)
            con.execute("INSERT INTO _loads VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [load_id, started, ended, str(source), None if deleted is None else str(deleted), user,
                         report.received, *(report.counts[o] for o in OUTCOMES), report.snapshot_before,
                         report.snapshot_after, json.dumps(report.as_dict(), ensure_ascii=False)])
            con.execute("CHECKPOINT")
            report.timings["empreinte"] = time.perf_counter() - tick
        finally:
            checker.close()
            con.close()
        os.replace(temp, database)
    _write_catalog(database)
    report.timings["total"] = time.perf_counter() - clock
    return report


def _stamp(con: duckdb.DuckDBPyConnection) -> str:
    """Re-stamp `_metadata` with the content snapshot id; returns it."""
    snapshot = content_snapshot_id(con)
    con.execute("DELETE FROM _metadata")
    persons = con.execute("SELECT count(*) FROM person WHERE delete_datetime IS NULL").fetchone()[0]
    con.execute("INSERT INTO _metadata VALUES (?, ?, NULL, ?, ?, ?)",
                [date.today(), LOADER_VERSION, persons, snapshot, datetime.now().replace(microsecond=0)])
    return snapshot


def _write_catalog(database: Path) -> None:
    """The warehouse's Intake catalogue beside it (written to a temporary file, then moved in)."""
    from workbench.catalog import write_catalog

    target = database.parent / "catalog.yaml"
    temp = database.parent / f".catalog.yaml.load-{os.getpid()}"
    try:
        write_catalog(source=database, flavour="aphp", out=temp)
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)


# ------------------------------------------------------------------ reading the bookkeeping


def _read_only(folder: Path) -> duckdb.DuckDBPyConnection:
    database = Path(folder).expanduser() / DATABASE
    if not database.is_file():
        raise UserError(f"{database} : entrepôt introuvable")
    con = duckdb.connect(str(database), read_only=True)
    tables = {row[0] for row in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    if "_loads" not in tables:
        con.close()
        raise UserError(f"{database} : aucun chargement FHIR dans cet entrepôt (table _loads absente)")
    return con


def loads(folder: Path) -> list[dict[str, Any]]:
    """The loads of a warehouse, most recent first (what `workbench ingest status` and the admin page show)."""
    with _read_only(folder) as con:
        frame = con.execute(
            "SELECT load_id, started_at, ended_at, source, user_name, received, inserted, updated, unchanged, deleted, "
            "ignored, quarantined, snapshot_after FROM _loads ORDER BY load_id DESC").fetch_df()
    return frame.to_dict("records")


def quarantine(folder: Path, reason: str | None = None) -> list[dict[str, Any]]:
    """The quarantined resources of a warehouse (optionally of one reason), latest load first."""
    with _read_only(folder) as con:
        query = ("SELECT load_id, source_file, source_line, resource_type, fhir_id, reason, detail, raw FROM _quarantine "
                 + ("WHERE reason = ? " if reason else "") + "ORDER BY load_id DESC, source_file, source_line")
        frame = con.execute(query, [reason] if reason else []).fetch_df()
    return frame.to_dict("records")


def report_of(as_dict: dict[str, Any]) -> str:
    """The terminal report of a load (French)."""
    lines = [f"Chargement n° {as_dict['load_id']} depuis {as_dict['source']}",
             f"  invariant : {as_dict['received']} reçues "
             + ("=" if as_dict["invariant"] else "≠ ")
             + " " + " + ".join(f"{as_dict[o]} {LABELS[o]}" for o in OUTCOMES)]
    for title, key in (("par type", "by_type"), ("quarantaine par motif", "quarantine_by_reason"),
                       ("ignorées par type", "ignored_by_type"), ("lignes écrites", "rows_written")):
        values = as_dict[key]
        if values:
            lines.append(f"  {title} :")
            for name, value in values.items():
                shown = ", ".join(f"{v} {LABELS[o]}" for o, v in value.items()) if isinstance(value, dict) else value
                lines.append(f"    {name} : {shown}")
    lines.append("  durées (s) : " + ", ".join(f"{k} {v}" for k, v in as_dict["timings_s"].items()))
    lines.append(f"  instantané : {as_dict['snapshot_before'] or '(nouvel entrepôt)'} → {as_dict['snapshot_after']}")
    return "\n".join(lines)



def loads_table(warehouse: Any) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """The loads of a served warehouse and its quarantine counts by load and reason (the admin page's
    « Chargements » section), read through the warehouse's own connection; None when no FHIR load fed it."""
    if "_loads" not in warehouse.tables:
        return None
    table = warehouse.table("_loads")
    loads_frame = warehouse.execute(table.select(
        "load_id", "started_at", "ended_at", "source", "user_name", "received", "inserted", "updated", "unchanged", "deleted",
        "ignored", "quarantined", "snapshot_after").order_by(table.load_id.desc()))
    quarantined = warehouse.table("_quarantine")
    counts = warehouse.execute(quarantined.group_by(["load_id", "reason"]).aggregate(ressources=quarantined.count())
                               .order_by([quarantined.load_id.desc(), "reason"]))
    return loads_frame, counts
