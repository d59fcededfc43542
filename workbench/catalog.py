"""The warehouse catalogue: `catalog.yaml` (Intake 2), its validation and its Ibis reader.

Intake 2's loader fails with a bare ``KeyError`` on a missing key and has no
reader producing Ibis tables, so this module (1) validates the YAML with
pydantic and physically checks paths, tables and columns, turning any problem
into one `UserError` line naming the entry and the key; (2) provides
:class:`IbisReader`, the Intake reader returning lazy ibis tables; and (3)
writes a catalogue by inspecting an existing warehouse (`write_catalog`, used by
`workbench catalog init` and by the demo generator).

A catalogue points at exactly one kind of source: a DuckDB file, Parquet files,
CSV files (an OMOP export) or a Spark/Hive database. Paths are relative to the
catalogue through ``{CATALOG_DIR}``.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

import ibis
import ibis.expr.types as ir
import intake
import pandas as pd
import yaml
from intake.readers import datatypes
from intake.readers.readers import BaseReader
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from workbench.errors import UserError
from workbench.schema import cdm

Flavour = Literal["aphp", "omop"]
SourceKind = Literal["duckdb", "parquet", "csv", "spark", "postgres"]

CATALOG_DIR = "{CATALOG_DIR}"
READER = "workbench.catalog:IbisReader"
OUTPUT_INSTANCE = "ibis.expr.types.relations:Table"
_DATA_REF = re.compile(r"^\{data\((?P<key>[^)]+)\)\}$")
_EXAMPLES = 3
_EXAMPLE_MAX_CHARS = 40
_SAMPLE_ROWS = 1000


class SparkDatabase(datatypes.BaseData):
    """A database of the Spark/Hive metastore, reached through the active SparkSession."""

    structure = {"table"}

    def __init__(self, database: str = "default", metadata: dict | None = None):
        self.database = database
        super().__init__(metadata)


class PostgresDatabase(datatypes.BaseData):
    """A schema of a PostgreSQL database, named by a password-less URL (see `connections.parse_postgres_url`)."""

    structure = {"table"}

    def __init__(self, url: str, metadata: dict | None = None):
        self.url = url
        super().__init__(metadata)


DATATYPES: dict[str, SourceKind] = {
    "intake.readers.datatypes:DuckDB": "duckdb",
    "intake.readers.datatypes:Parquet": "parquet",
    "intake.readers.datatypes:CSV": "csv",
    "workbench.catalog:SparkDatabase": "spark",
    "workbench.catalog:PostgresDatabase": "postgres",
}
_DATATYPE_OF_KIND = {kind: name for name, kind in DATATYPES.items()}


class IbisReader(BaseReader):
    """Intake reader returning a lazy ibis table (Intake 2 ships none).

    Without ``con`` it uses the process's shared read-only connection for the
    data (see `workbench.warehouse`), so ``intake.from_yaml_file(...).person.read()``
    in a notebook obeys the same connection policy as `workbench.open()`.
    """

    implements = {datatypes.DuckDB, datatypes.Parquet, datatypes.CSV, SparkDatabase, PostgresDatabase}
    imports = {"ibis"}
    output_instance = OUTPUT_INSTANCE

    def _read(
        self,
        data: datatypes.BaseData,
        table: str,
        con: Any = None,
        backend: str = "duckdb",
        location: str | None = None,
        **_: Any,
    ) -> ir.Table:
        from workbench import connections

        kind = DATATYPES[data.qname()]
        if location is None:
            location = data.database if kind == "spark" else strip_file_url(data.url)
        columns = {name: spec["type"] for name, spec in self.metadata.get("columns", {}).items()}
        return connections.read_table(kind, location, table, columns, con=con, backend=backend)


def strip_file_url(url: str) -> str:
    """Intake expands ``{CATALOG_DIR}`` to a ``file://`` URL; ibis and DuckDB want a path."""
    return url[len("file://") :] if url.startswith("file://") else url


# --------------------------------------------------------------------------- model


class ColumnSpec(BaseModel):
    """A column: ibis type and French description.

    Example values are never kept in the catalogue (they would be patient data
    readable by whoever reads the file): `column_examples` computes them when
    shown, within the reader's rights. An ``examples`` key left by an older
    `catalog init` is accepted and dropped.
    """

    model_config = ConfigDict(extra="forbid")
    type: str
    description: str
    examples: list[Any] = Field(default_factory=list, exclude=True)

    @field_validator("examples")
    @classmethod
    def _never_kept(cls, value: list[Any]) -> list[Any]:
        return []

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        try:
            ibis.dtype(value)
        except Exception:  # noqa: BLE001 - ibis raises several kinds for a bad type string
            raise ValueError(f"type de colonne inconnu « {value} »") from None
        return value


class TableMeta(BaseModel):
    model_config = ConfigDict(extra="allow")
    description: str
    source_system: str
    flavour: Flavour | None = None
    date_column: str | None = None
    columns: dict[str, ColumnSpec]


class EntryKwargs(BaseModel):
    model_config = ConfigDict(extra="allow")
    args: list[str] = Field(min_length=1)
    table: str


class EntrySpec(BaseModel):
    model_config = ConfigDict(extra="allow")
    reader: Literal["workbench.catalog:IbisReader"]
    kwargs: EntryKwargs
    metadata: TableMeta
    output_instance: str = OUTPUT_INSTANCE
    user_parameters: dict[str, Any] = Field(default_factory=dict)


class DataSpec(BaseModel):
    model_config = ConfigDict(extra="allow")
    datatype: str
    kwargs: dict[str, Any]
    metadata: dict[str, Any] = Field(default_factory=dict)
    user_parameters: dict[str, Any] = Field(default_factory=dict)

    @field_validator("datatype")
    @classmethod
    def _known_datatype(cls, value: str) -> str:
        if value not in DATATYPES:
            raise ValueError(f"type de données inconnu « {value} » (attendu : {', '.join(DATATYPES)})")
        return value


class CatalogMeta(BaseModel):
    model_config = ConfigDict(extra="allow")
    flavour: Flavour
    demo: bool = False
    description: str | None = None
    backend: Literal["duckdb", "pyspark"] | None = None


class CatalogFile(BaseModel):
    """The file as written: Intake 2 layout plus the workbench's metadata."""

    model_config = ConfigDict(extra="forbid")
    version: Literal[2]
    metadata: CatalogMeta
    data: dict[str, DataSpec] = Field(min_length=1)
    entries: dict[str, EntrySpec] = Field(min_length=1)
    aliases: dict[str, Any] = Field(default_factory=dict)
    user_parameters: dict[str, Any] = Field(default_factory=dict)


@dataclass(frozen=True)
class TableInfo:
    """One raw table of the catalogue, as notebooks and the CLI see it."""

    name: str
    table: str
    data: str
    description: str
    source_system: str
    flavour: str
    date_column: str | None
    columns: dict[str, ColumnSpec]


@dataclass
class Catalog:
    """A validated catalogue: its tables, its single source, and the Intake catalogue to read them."""

    path: Path
    flavour: str
    demo: bool
    metadata: dict[str, Any]
    source_kind: SourceKind
    locations: dict[str, str]
    tables: dict[str, TableInfo]
    intake: Any

    def read(self, name: str, con: Any = None, backend: str = "duckdb") -> ir.Table:
        """The lazy ibis table of entry `name`, read through Intake and `IbisReader`."""
        location = self.locations[self.tables[name].data]
        return self.intake[name].read(con=con, backend=backend, location=location)

    @property
    def default_backend(self) -> str:
        engine = {"spark": "pyspark", "postgres": "postgres"}.get(self.source_kind, "duckdb")
        return self.metadata.get("backend") or engine


# ------------------------------------------------------------------ validation


def _where(file: Path, loc: tuple[Any, ...]) -> str:
    """'catalog.yaml : entrée « person », clé « metadata.columns.x.type »' from a pydantic location."""
    parts = [str(part) for part in loc]
    if len(parts) >= 2 and parts[0] in ("entries", "data"):
        kind = "entrée" if parts[0] == "entries" else "donnée"
        key = ".".join(parts[2:])
        return f"{file.name} : {kind} « {parts[1]} »" + (f", clé « {key} »" if key else "")
    return f"{file.name} : clé « {'.'.join(parts)} »"


def _explain(error: dict[str, Any]) -> str:
    kind = error["type"]
    if kind == "missing":
        return "manquante"
    if kind == "literal_error":
        return f"valeur « {error.get('input')} » invalide (attendu : {error.get('ctx', {}).get('expected', '')})"
    if kind == "extra_forbidden":
        return "clé inconnue"
    if kind == "value_error":
        return str(error.get("ctx", {}).get("error", error["msg"]))
    if kind == "too_short":
        return "ne doit pas être vide"
    return f"valeur invalide ({error['msg']})"


def _parse(file: Path) -> CatalogFile:
    if not file.is_file():
        raise UserError(f"catalogue introuvable : {file}")
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (ligne {mark.line + 1})" if mark else ""
        raise UserError(f"{file.name} : YAML illisible{where}") from None
    if not isinstance(raw, dict):
        raise UserError(f"{file.name} : le catalogue doit être un dictionnaire YAML (version, metadata, data, entries)")
    try:
        return CatalogFile.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        raise UserError(f"{_where(file, first['loc'])} : {_explain(first)}") from None


def resolve_location(value: str, catalog_dir: Path) -> str:
    """A data path with ``{CATALOG_DIR}`` expanded; relative paths are relative to the catalogue.
    A zip member (``zip://PERSON.csv::export.zip``) keeps its member and gets its archive resolved."""
    from workbench.connections import split_zip, zip_location

    value = strip_file_url(value.replace(CATALOG_DIR, str(catalog_dir)))
    in_zip = split_zip(value)
    if in_zip is not None:
        return zip_location(in_zip[0], resolve_location(in_zip[1], catalog_dir))
    path = Path(value)
    return str(path if path.is_absolute() else (catalog_dir / path).resolve())


def _locations(file: Path, spec: CatalogFile) -> tuple[SourceKind, dict[str, str]]:
    kinds = {DATATYPES[data.datatype] for data in spec.data.values()}
    if len(kinds) > 1:
        raise UserError(f"{file.name} : clé « data » : un catalogue décrit une seule source, pas {sorted(kinds)}")
    kind = kinds.pop()
    locations = {}
    for key, data in spec.data.items():
        field = "database" if kind == "spark" else "url"
        value = data.kwargs.get(field)
        if not isinstance(value, str) or not value:
            raise UserError(f"{file.name} : donnée « {key} », clé « kwargs.{field} » : manquante")
        if kind == "postgres":
            value = _postgres_location(file, key, value)
        elif kind != "spark":
            value = resolve_location(value, file.parent)
            if not _exists(value):
                hint = " ; entrepôt de démonstration : lancez `workbench demo`" if spec.metadata.demo else ""
                raise UserError(
                    f"{file.name} : donnée « {key} », clé « kwargs.url » : fichier introuvable ({value}){hint}"
                )
        locations[key] = value
    return kind, locations


def _exists(location: str) -> bool:
    """Whether a file, folder or zip member is there."""
    from workbench.connections import split_zip, zip_csv_members

    in_zip = split_zip(location)
    if in_zip is None:
        return Path(location).exists()
    return Path(in_zip[1]).is_file() and in_zip[0] in zip_csv_members(in_zip[1]).values()


def _entry_data(file: Path, name: str, entry: EntrySpec, data: dict[str, DataSpec], entries: dict[str, Any]) -> str:
    match = _DATA_REF.match(entry.kwargs.args[0])
    if not match:
        raise UserError(f"{file.name} : entrée « {name} », clé « kwargs.args » : attendu « {{data(NOM)}} »")
    key = match["key"]
    if key in entries:
        raise UserError(
            f"{file.name} : donnée « {key} » : porte le nom d'une entrée (Intake les confondrait), renommez-la"
        )
    if key not in data:
        raise UserError(f"{file.name} : entrée « {name} », clé « kwargs.args » : donnée « {key} » inconnue")
    return key


def _check_entry(file: Path, name: str, entry: EntrySpec, flavour: str, physical: list[str] | None) -> None:
    """Flavour, date column and declared columns against the real table."""
    meta = entry.metadata
    if meta.flavour is not None and meta.flavour != flavour:
        raise UserError(
            f"{file.name} : entrée « {name} », clé « metadata.flavour » : « {meta.flavour} » "
            f"alors que le catalogue est « {flavour} »"
        )
    if meta.date_column is not None and meta.date_column not in meta.columns:
        raise UserError(
            f"{file.name} : entrée « {name} », clé « metadata.date_column » : colonne « {meta.date_column} » non déclarée"
        )
    if physical is None:
        return
    present = {column.lower() for column in physical}
    for column in meta.columns:
        if column.lower() not in present:
            raise UserError(
                f"{file.name} : entrée « {name} », clé « metadata.columns.{column} » : "
                f"la table « {entry.kwargs.table} » n'a pas cette colonne"
            )


def load_catalog(path: Path | str) -> Catalog:
    """Read, validate and open `path` with Intake; any problem is one `UserError` line."""
    file = Path(path).expanduser().resolve()
    spec = _parse(file)
    kind, locations = _locations(file, spec)
    tables = {}
    for name, entry in spec.entries.items():
        key = _entry_data(file, name, entry, spec.data, spec.entries)
        physical = physical_columns(kind, locations[key], entry.kwargs.table)
        if physical is None and kind != "spark":
            raise UserError(
                f"{file.name} : entrée « {name} », clé « kwargs.table » : table « {entry.kwargs.table} » absente de la source"
            )
        _check_entry(file, name, entry, spec.metadata.flavour, physical)
        meta = entry.metadata
        tables[name] = TableInfo(
            name, entry.kwargs.table, key, meta.description, meta.source_system,
            spec.metadata.flavour, meta.date_column, dict(meta.columns),
        )
    return Catalog(
        path=file,
        flavour=spec.metadata.flavour,
        demo=spec.metadata.demo,
        metadata=spec.metadata.model_dump(),
        source_kind=kind,
        locations=locations,
        tables=tables,
        intake=_intake_catalog(file, spec),
    )


def _intake_catalog(file: Path, spec: CatalogFile) -> Any:
    """The Intake catalogue, built from the validated (and completed) document."""
    cat = intake.readers.entry.Catalog.from_dict(spec.model_dump(mode="json"))
    cat.user_parameters["CATALOG_PATH"] = str(file)
    cat.user_parameters["CATALOG_DIR"] = f"file://{file.parent}"
    return cat


# ---------------------------------------------------------------- inspection


def physical_columns(kind: SourceKind, location: str, table: str) -> list[str] | None:
    """Column names of `table` in the source, None when it is absent (Spark: not checked here)."""
    if kind == "spark":
        return None
    if kind == "postgres":
        return _postgres_columns(location, table)
    if kind == "duckdb":
        from workbench.materialize import connection_lock
        from workbench.connections import shared_duckdb

        con = shared_duckdb(location)
        with connection_lock(con):
            return list(con.get_schema(table).names) if table in con.list_tables() else None
    if kind == "parquet":
        import pyarrow.dataset as ds

        return list(ds.dataset(location, format="parquet").schema.names)
    return _csv_header(location)


def _csv_header(location: str) -> list[str]:
    """Lower-cased column names of a CSV file or zip member (read from its first line only)."""
    import io
    import zipfile

    from workbench.connections import split_zip

    in_zip = split_zip(location)
    if in_zip is None:
        with open(location, newline="", encoding="utf-8-sig") as stream:
            return [column.strip().lower() for column in next(csv.reader(stream), [])]
    with zipfile.ZipFile(in_zip[1]) as archive, archive.open(in_zip[0]) as member:
        stream = io.TextIOWrapper(member, encoding="utf-8-sig", newline="")
        return [column.strip().lower() for column in next(csv.reader(stream), [])]


def detect_source(source: str | Path) -> tuple[SourceKind, str]:
    """Kind and location of a warehouse given on the command line.

    ``spark:DB`` names a Spark/Hive database; ``postgresql://USER@HOST:PORT/DB?schema=S`` a PostgreSQL
    schema (no password: see `connections.parse_postgres_url`); a file is a DuckDB database; a
    folder holds Parquet files (or one folder per table) or CSV files; a
    ``.zip`` holds CSV files (an OMOP export as published).
    """
    text = str(source)
    from workbench.connections import is_postgres_url, parse_postgres_url, postgres_url

    if is_postgres_url(text):
        return "postgres", postgres_url(parse_postgres_url(text))
    if text.startswith("spark:"):
        return "spark", text[len("spark:") :] or "default"
    path = Path(source).expanduser().resolve()
    if path.is_file() and path.suffix.lower() == ".zip":
        from workbench.connections import zip_csv_members

        if not zip_csv_members(path):
            raise UserError(f"--source {source} : aucun fichier .csv dans cette archive")
        return "csv", str(path)
    if path.is_file():
        with open(path, "rb") as stream:
            head = stream.read(16)
        if head[8:12] != b"DUCK":
            raise UserError(f"--source {source} : ce fichier n'est pas une base DuckDB")
        return "duckdb", str(path)
    if not path.is_dir():
        raise UserError(f"--source {source} : fichier ou dossier introuvable")
    if _parquet_tables(path):
        return "parquet", str(path)
    if _csv_tables(path):
        return "csv", str(path)
    raise UserError(f"--source {source} : aucun fichier .parquet ni .csv dans ce dossier")


def _parquet_tables(folder: Path) -> dict[str, str]:
    """Table name → file (``x.parquet``) or folder of parts (``x/part-*.parquet``)."""
    found = {p.stem.lower(): str(p) for p in sorted(folder.glob("*.parquet")) if p.is_file()}
    for sub in sorted(folder.iterdir()):
        if sub.is_dir() and any(sub.glob("*.parquet")):
            found.setdefault(sub.name.lower().removesuffix(".parquet"), str(sub))
    return found


def _csv_tables(folder: Path) -> dict[str, str]:
    """Table name (lower case) → CSV file, or zip member when `folder` is an archive."""
    if folder.is_file():
        from workbench.connections import zip_csv_members, zip_location

        return {t: zip_location(member, str(folder)) for t, member in zip_csv_members(folder).items()}
    return {p.stem.lower(): str(p) for p in sorted(folder.glob("*.csv")) if p.is_file()}


@cache
def _aphp_schema() -> dict[str, Any]:
    return yaml.safe_load((Path(__file__).parent / "schema" / "aphp_tables.yaml").read_text(encoding="utf-8"))


_OMOP_TABLES = {
    "person": "Patients : sexe, année et date de naissance.",
    "observation_period": "Périodes d'observation des patients.",
    "visit_occurrence": "Séjours et visites (hospitalisations, urgences, consultations).",
    "visit_detail": "Mouvements entre unités au cours des séjours.",
    "condition_occurrence": "Diagnostics et problèmes de santé.",
    "drug_exposure": "Médicaments prescrits, délivrés ou administrés.",
    "procedure_occurrence": "Actes et procédures.",
    "device_exposure": "Dispositifs médicaux.",
    "measurement": "Mesures : biologie, signes vitaux.",
    "observation": "Observations cliniques diverses.",
    "death": "Décès des patients.",
    "note": "Documents cliniques.",
    "specimen": "Prélèvements.",
    "care_site": "Structures de soins.",
    "location": "Adresses.",
    "provider": "Professionnels de santé.",
    "payer_plan_period": "Périodes de couverture.",
    "cost": "Coûts.",
    "drug_era": "Périodes d'exposition à un principe actif.",
    "dose_era": "Périodes de dose constante.",
    "condition_era": "Périodes de condition.",
    "cdm_source": "Description de la source OMOP.",
    "concept": "Concepts des terminologies standard.",
    "vocabulary": "Terminologies.",
    "concept_relationship": "Relations entre concepts.",
    "concept_ancestor": "Hiérarchie des concepts.",
    "fact_relationship": "Relations entre faits (dont l'arbre des structures).",
}

_OMOP_DATE_COLUMNS = {
    "person": ("birth_datetime", "year_of_birth"),
    "observation_period": ("observation_period_start_date",),
    "visit_occurrence": ("visit_start_date", "visit_start_datetime"),
    "visit_detail": ("visit_detail_start_date", "visit_detail_start_datetime"),
    "condition_occurrence": ("condition_start_date", "condition_start_datetime"),
    "drug_exposure": ("drug_exposure_start_date", "drug_exposure_start_datetime"),
    "procedure_occurrence": ("procedure_date", "procedure_datetime"),
    "measurement": ("measurement_date", "measurement_datetime"),
    "observation": ("observation_date", "observation_datetime"),
    "death": ("death_date", "death_datetime"),
    "note": ("note_date", "note_datetime"),
}


def _omop_column_description(column: str) -> str:
    """A short generic French description from OMOP naming conventions."""
    rules = (
        ("_concept_id", "Concept standard OMOP"),
        ("_source_value", "Valeur telle que reçue de la source"),
        ("_datetime", "Date et heure"),
        ("_date", "Date"),
        ("_id", "Identifiant"),
    )
    for suffix, label in rules:
        if column.endswith(suffix):
            return f"{label} ({column})"
    return f"Colonne OMOP {column}"


def _describe(flavour: str, table: str, columns: dict[str, str]) -> dict[str, Any]:
    """Description, source system, date column and column descriptions of a known table."""
    if flavour == "aphp" and table in _aphp_schema():
        known = _aphp_schema()[table]
        described = known.get("columns", {})
        return {
            "description": known["description"],
            "source_system": known.get("source_system", "inconnu"),
            "date_column": known.get("date_column") if known.get("date_column") in columns else None,
            "columns": {c: described.get(c, {}).get("description", f"Colonne {c}") for c in columns},
            "nominative": bool(known.get("nominative", False)),
        }
    candidates = _OMOP_DATE_COLUMNS.get(table, ())
    return {
        "description": _OMOP_TABLES.get(table, f"Table « {table} » (sans description connue)"),
        "source_system": "OMOP" if flavour == "omop" else "inconnu",
        "date_column": next((c for c in candidates if c in columns), None),
        "columns": {c: _omop_column_description(c) for c in columns},
        "nominative": False,
    }


def _example(value: Any) -> Any | None:
    """A JSON/YAML-friendly example, or None for values too long to be useful (free text)."""
    if isinstance(value, pd.Timestamp) and value == value.normalize():
        return value.date().isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, str) and len(value) > _EXAMPLE_MAX_CHARS:
        return None
    return value


def column_examples(wh: Any, name: str) -> dict[str, list[Any]]:
    """Up to three distinct example values per column of the raw table `name`, from the first rows the
    warehouse's user may read (his perimeter's); none for a table he may not read or for patients' identities.

    Computed when shown, never stored: a catalogue file is read by people
    who have no right to the rows.
    """
    from workbench.access.perimeter import IDENTITY_TABLE

    if name == IDENTITY_TABLE or not wh.readable(name):
        return {}
    frame = wh.execute(wh.table(name).limit(_SAMPLE_ROWS))
    found: dict[str, list[Any]] = {}
    for column in frame.columns:
        values: list[Any] = []
        for value in frame[column].dropna().drop_duplicates().head(_EXAMPLES * 2):
            example = _example(value)
            if example is not None and example not in values:
                values.append(example)
            if len(values) == _EXAMPLES:
                break
        found[column] = values
    return found


def _type_name(dtype: Any) -> str:
    return str(dtype.copy(nullable=True))


def _relative(location: str, out: Path) -> str:
    from workbench.connections import split_zip, zip_location

    in_zip = split_zip(location)
    if in_zip is not None:
        return zip_location(in_zip[0], _relative(in_zip[1], out))
    return f"{CATALOG_DIR}/" + Path(os.path.relpath(location, out.parent.resolve())).as_posix()


def _source_tables(kind: SourceKind, location: str) -> dict[str, str]:
    """Table name → location of its data, for file-per-table sources."""
    return _parquet_tables(Path(location)) if kind == "parquet" else _csv_tables(Path(location))


def is_demo(path: Path | str) -> bool:
    """Whether a catalogue says `demo: true` (read without validation: its data may not exist yet)."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(raw, dict) and isinstance(raw.get("metadata"), dict) and raw["metadata"].get("demo") is True


def write_catalog(source: Path | str, flavour: str, out: Path | str, demo: bool = False) -> list[cdm.CastFailure]:
    """Inspect a warehouse and write its catalogue to `out` (paths relative to `out`).

    Every table found is described: French description (AP-HP schema or a short
    OMOP one), source system, columns with type and description (no example
    value: those are computed when shown, see `column_examples`), date column. The written file is then loaded
    back, so a catalogue that would not validate is never left behind silently.
    An OMOP source is typed by its CDM version (`workbench.schema.cdm`, stored as
    ``metadata.cdm_version``) and must have a ``person`` table. Returns the
    values the types could not read (they read as null), for the caller to report.
    """
    if flavour not in ("aphp", "omop"):
        raise UserError(f"--flavour {flavour} : valeur invalide (attendu : aphp, omop)")
    out = Path(out).expanduser().resolve()
    kind, location = detect_source(source)
    from workbench import connections

    physical: dict[str, str] = {}
    if kind == "duckdb":
        con = connections.scratch_duckdb(location)
        physical = {t.lower(): t for t in sorted(con.list_tables(), reverse=True)}
        data = {"warehouse": {"datatype": _DATATYPE_OF_KIND[kind], "kwargs": {"url": _relative(location, out)}}}
        reads = {name: ("warehouse", con.table(t)) for name, t in physical.items()}
    elif kind == "postgres":
        con = connections.connect_postgres(location)
        data, reads = _postgres_reads(con, location)
    elif kind == "spark":
        con = connections.shared_spark()
        names = {t: t for t in connections.spark_tables(con, location)}
        data = {"warehouse": {"datatype": _DATATYPE_OF_KIND[kind], "kwargs": {"database": location}}}
        reads = {t: ("warehouse", con.table(t, database=location)) for t in names}
    else:
        con = ibis.duckdb.connect()
        files = _source_tables(kind, location)
        data = {f"{t}_{kind}": {"datatype": _DATATYPE_OF_KIND[kind], "kwargs": {"url": _relative(f, out)}} for t, f in files.items()}
        reads = {t: (f"{t}_{kind}", connections.sniff_file(con, kind, f)) for t, f in files.items()}
    metadata: dict[str, Any] = {"flavour": flavour, "demo": demo, "description": f"Entrepôt {flavour} ({kind})"}
    types: dict[str, dict[str, str]] = {}
    if flavour == "omop":
        if "person" not in reads:
            if kind == "duckdb":
                con.disconnect()
            raise UserError(f"--source {source} : pas de table « person » (fichier PERSON.csv ou person.parquet) : "
                            f"ce n'est pas un export OMOP (tables trouvées : {', '.join(sorted(reads)) or 'aucune'})")
        metadata["cdm_version"] = _cdm_version(reads)
        types = {name: cdm.cdm_types(metadata["cdm_version"], name) for name in reads}
    entries = {
        name: _entry(name, data_key, table, flavour, types.get(name), physical.get(name))
        for name, (data_key, table) in sorted(reads.items())
    }
    document = {
        "version": 2,
        "metadata": metadata,
        "aliases": {},
        "user_parameters": {},
        "data": {k: {**v, "metadata": {}, "user_parameters": {}} for k, v in data.items()},
        "entries": entries,
    }
    if kind in ("duckdb", "postgres"):
        con.disconnect()
    _dump(document, out)
    return cast_failure_report(load_catalog(out), backend="pyspark" if kind == "spark" else "duckdb")


def _cdm_version(reads: dict[str, tuple[str, ir.Table]]) -> str:
    """The CDM version the source declares in ``cdm_source.cdm_version``, else the one its columns fit."""
    declared = None
    if "cdm_source" in reads:
        source = cdm.lower_columns(reads["cdm_source"][1])
        if "cdm_version" in source.columns:
            values = source.cdm_version.cast("string").execute()
            declared = next((v for v in values if isinstance(v, str) and cdm.normalise_version(v)), None)
    return cdm.detect_version({name: table.columns for name, (_, table) in reads.items()}, declared)


def cast_check(catalog: Catalog, name: str, con: Any = None, backend: str = "duckdb") -> cdm.CastCheck | None:
    """The check of entry `name`'s cast failures: raw values that its catalogue type turns into null."""
    from workbench import connections

    info = catalog.tables[name]
    raw = connections.read_table(catalog.source_kind, catalog.locations[info.data], info.table, {}, con=con,
                                 backend=backend)
    return cdm.cast_to(raw, {column: spec.type for column, spec in info.columns.items()}, name)[1]


def cast_failure_report(catalog: Catalog, names: list[str] | None = None, con: Any = None,
                        backend: str = "duckdb") -> list[cdm.CastFailure]:
    """Per table and column, the values that could not be read as their type (count, examples).

    Only columns whose cast can fail are scanned (text read as a number or a
    date, a wider number into a narrower one), one scan per table: a typed
    database costs nothing.
    """
    from workbench.materialize import connection_lock

    found: list[cdm.CastFailure] = []
    for name in names if names is not None else list(catalog.tables):
        check = cast_check(catalog, name, con, backend)
        if check is not None:
            with connection_lock(ibis.get_backend(check.expr)):
                found += check.run()
    return found


def _entry(name: str, data_key: str, table: ir.Table, flavour: str, cdm_types: dict[str, str] | None = None,
           physical: str | None = None) -> dict[str, Any]:
    """A catalogue entry; a column of the OMOP CDM gets its CDM type whatever the sniffed one (an empty or
    all-null column sniffs as text), the others keep the sniffed type."""
    columns = {c.lower(): _type_name(t) for c, t in table.schema().items()}
    columns = {c: (cdm_types or {}).get(c, t) for c, t in columns.items()}
    described = _describe(flavour, name, columns)
    metadata = {
        "description": described["description"],
        "flavour": flavour,
        "source_system": described["source_system"],
        "date_column": described["date_column"],
        "columns": {c: {"type": t, "description": described["columns"][c]} for c, t in columns.items()},
    }
    if described["nominative"]:
        metadata["nominative"] = True
    return {
        "reader": READER,
        "output_instance": OUTPUT_INSTANCE,
        "kwargs": {"args": [f"{{data({data_key})}}"], "table": physical or name},
        "metadata": metadata,
        "user_parameters": {},
    }


def _dump(document: dict[str, Any], out: Path) -> None:
    """Write atomically: a half-written catalogue must never replace a good one."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(
        "# Catalogue de l'entrepôt (Intake 2) écrit par `workbench catalog init`.\n"
        + yaml.safe_dump(document, allow_unicode=True, sort_keys=False, width=120),
        encoding="utf-8",
    )
    tmp.replace(out)


# ------------------------------------------------------------------ profiles

_SPARK_CHARS = "▁▂▃▄▅▆▇█"
_MAX_MONTHS = 48
_RECENT_MONTHS = 24


def sparkline(values: list[int]) -> str:
    """A one-line text chart: ▁ for the smallest bar (zero too), █ for the largest."""
    top = max(values, default=0)
    if top <= 0:
        return _SPARK_CHARS[0] * len(values)
    return "".join(_SPARK_CHARS[round(v / top * (len(_SPARK_CHARS) - 1))] for v in values)


def kind_of(wh: Any, name: str) -> str:
    """Whether `name` is a raw table or a canonical view of `wh` ("table", "view"), else a `UserError`."""
    from workbench.semantic.views import VIEWS

    if name in wh.tables:
        return "table"
    if name in VIEWS:
        return "view"
    raise UserError(
        f"« {name} » n'est ni une table du catalogue {wh.catalog_path.name} ni une vue "
        f"(tables : {', '.join(wh.tables)} ; vues : {', '.join(VIEWS)})"
    )


def _date_column(wh: Any, name: str, kind: str, table: ir.Table) -> str | None:
    from workbench.semantic.views import VIEWS

    column = wh.catalog.tables[name].date_column if kind == "table" else VIEWS[name].date_column
    if column is None or column not in table.columns or not table[column].type().is_temporal():
        return None
    return column


def summary(wh: Any, name: str) -> dict[str, Any]:
    """Rows and first/last dates of a table or view (one query)."""
    kind = kind_of(wh, name)
    table = wh.table(name) if kind == "table" else wh.view(name)
    column = _date_column(wh, name, kind, table)
    metrics = {"rows": table.count()}
    if column is not None:
        day = table[column].cast("date") if not table[column].type().is_date() else table[column]
        metrics |= {"first_date": day.min(), "last_date": day.max()}
    row = wh.execute(table.aggregate(**metrics)).iloc[0]
    first, last = row.get("first_date"), row.get("last_date")
    return {
        "rows": int(row["rows"]),
        "first_date": None if first is None or pd.isna(first) else pd.Timestamp(first).date(),
        "last_date": None if last is None or pd.isna(last) else pd.Timestamp(last).date(),
    }


def monthly_rows(wh: Any, name: str) -> pd.DataFrame:
    """Rows per calendar month of the table's date column (empty without one), gaps filled with 0."""
    kind = kind_of(wh, name)
    table = wh.table(name) if kind == "table" else wh.view(name)
    column = _date_column(wh, name, kind, table)
    if column is None:
        return pd.DataFrame({"month": [], "rows": []})
    day = table[column].cast("date") if not table[column].type().is_date() else table[column]
    counted = wh.execute(
        table.filter(day.notnull()).group_by(month=day.truncate("M")).aggregate(rows=ibis._.count()).order_by("month")
    )
    if counted.empty:
        return pd.DataFrame({"month": [], "rows": []})
    months = pd.to_datetime(counted["month"]).dt.to_period("M")
    series = pd.Series(counted["rows"].astype(int).to_numpy(), index=months)
    full = pd.period_range(months.min(), months.max(), freq="M")
    series = series.reindex(full, fill_value=0)
    return pd.DataFrame({"month": [str(p) for p in series.index], "rows": series.to_numpy()})


def activity_line(monthly: pd.DataFrame) -> str:
    """The sparkline of monthly volumes; a long history gets a yearly line plus its last 24 months."""
    if monthly.empty:
        return ""
    if len(monthly) <= _MAX_MONTHS:
        return f"{sparkline(list(monthly['rows']))} (par mois, {monthly['month'].iloc[0]} → {monthly['month'].iloc[-1]})"
    yearly = monthly.groupby(monthly["month"].str[:4])["rows"].sum()
    recent = monthly.tail(_RECENT_MONTHS)
    return (
        f"{sparkline(list(yearly))} (par an, {yearly.index[0]}–{yearly.index[-1]}) ; "
        f"{sparkline(list(recent['rows']))} (par mois, {recent['month'].iloc[0]} → {recent['month'].iloc[-1]})"
    )


def other_counts(wh: Any, view: str) -> dict[str, int]:
    """Rows whose categorical column fell into `autre` (codes the mapping does not know), per column."""
    from workbench.semantic.views import OTHER, VIEWS

    table = wh.view(view)
    columns = [c for c, meta in VIEWS[view].columns.items() if OTHER in meta.categories and c not in wh.unavailable(view)]
    if not columns:
        return {}
    row = wh.execute(table.aggregate(**{c: (table[c] == OTHER).cast("int64").sum() for c in columns})).iloc[0]
    return {c: int(0 if pd.isna(row[c]) else row[c]) for c in columns}


# ------------------------------------------------------------------ PostgreSQL source


def _postgres_location(file: Path, key: str, value: str) -> str:
    """A catalogue's PostgreSQL URL, checked (scheme, no password) and made canonical."""
    from workbench.connections import is_postgres_url, parse_postgres_url, postgres_url

    where = f"{file.name} : donnée « {key} », clé « kwargs.url »"
    if not is_postgres_url(value):
        raise UserError(f"{where} : attendu postgresql://UTILISATEUR@HÔTE:PORT/BASE?schema=SCHÉMA")
    return postgres_url(parse_postgres_url(value, where))


def _postgres_columns(location: str, table: str) -> list[str] | None:
    from workbench.connections import postgres_table, postgres_tables, shared_postgres
    from workbench.materialize import connection_lock

    con = shared_postgres(location)
    with connection_lock(con):
        return list(postgres_table(con, location, table).columns) if table in postgres_tables(con, location) else None


def _widened(table: ir.Table) -> ir.Table:
    """PostgreSQL's narrower types as the workbench reads every source: integer/smallint → int64 (OMOP's
    DDL declares ids `integer`), numeric → float64 (no exact-decimal arithmetic in indicators)."""
    casts = {}
    for column, dtype in table.schema().items():
        if dtype.is_integer() and not dtype.is_int64():
            casts[column] = table[column].cast("int64")
        elif dtype.is_decimal():
            casts[column] = table[column].cast("float64")
    return table.mutate(**casts) if casts else table


def _postgres_reads(con: Any, location: str) -> tuple[dict[str, Any], dict[str, tuple[str, ir.Table]]]:
    """The `data` block and the tables of a PostgreSQL schema, for `write_catalog`."""
    from workbench.connections import postgres_table, postgres_tables

    data = {"warehouse": {"datatype": _DATATYPE_OF_KIND["postgres"], "kwargs": {"url": location}}}
    reads = {t: ("warehouse", _widened(postgres_table(con, location, t))) for t in postgres_tables(con, location)}
    if not reads:
        raise UserError(f"--source {location} : aucune table dans ce schéma")
    return data, reads
