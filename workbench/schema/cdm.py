"""Columns typed by the OMOP CDM specification, whatever the data holds.

Sniffing types from the data fails on real exports: a header-only table or an
all-null column comes out as text, and a join of ``person_id:int64`` with a
text column stops every view. The OHDSI CDM field specifications (5.3 and 5.4,
shipped in ``workbench/resources/omop/`` with their provenance and licence) say
what each column is: ``integer`` → int64, ``float`` → float64, ``date``,
``datetime`` → timestamp, ``varchar`` → string. Columns outside the CDM keep
their sniffed type.

Casting never fails a query: a value that cannot be read as its CDM type
becomes null (``try_cast``), and `cast_failures` lists those values (table,
column, count, examples) so that the catalogue and the quality run report them
instead of hiding them. Blank text is an absent value, not a failure.

Public API (also used on database sources, e.g. PostgreSQL):
``cdm_fields(version)``, ``detect_version(...)``, ``typed(table_name, table,
version) -> (table, check)`` and ``cast_to(table, types)``; ``check.run()``
(or ``check.failures(row)`` of the executed ``check.expr``) lists the
`CastFailure`s in one scan of the table.
"""

from __future__ import annotations

import csv
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import pandas as pd

VERSIONS = ("5.3", "5.4")
DEFAULT_VERSION = "5.4"
RESOURCES = Path(__file__).resolve().parent.parent / "resources" / "omop"
_TYPES = {"integer": "int64", "bigint": "int64", "float": "float64", "date": "date", "datetime": "timestamp",
          "varchar": "string"}
_EXAMPLES = 3
# a whole number in text ("12", "-3", "12.0"): a CDM integer written "3.7" is a failure, not 4
_INTEGER_TEXT = r"^\s*[+-]?[0-9]+(\.0*)?\s*$"
_COMPACT_DATE = r"^[0-9]{8}$"  # Athena's vocabulary files write dates as YYYYMMDD


@dataclass(frozen=True)
class CdmField:
    """One field of the CDM specification (what typing and required-field checks need)."""

    table: str
    name: str
    type: str  # an ibis type string
    required: bool
    primary_key: bool
    fk_table: str | None


@dataclass
class CastFailure:
    """Values of one column that could not be read as the column's type (they were read as null)."""

    table: str
    column: str
    type: str
    count: int
    examples: list[str] = field(default_factory=list)

    def message(self) -> str:
        """One French line for the CLI and reports."""
        shown = ", ".join(f"« {value} »" for value in self.examples)
        return (f"{self.table}.{self.column} : {self.count} valeur(s) illisible(s) comme {self.type}, "
                f"lue(s) comme vides (ex. {shown})")


def spec_file(version: str) -> Path:
    """The packaged OHDSI field-level specification of a CDM version."""
    return RESOURCES / f"cdm_OMOP_CDMv{version}_Field_Level.csv"


def _ibis_type(datatype: str) -> str:
    """'varchar(50)', 'Integer', 'datetime'… → an ibis type string."""
    base = datatype.strip().lower().split("(")[0].strip()
    return _TYPES.get(base, "string")


@cache
def _spec(version: str) -> dict[str, dict[str, CdmField]]:
    if version not in VERSIONS:
        raise ValueError(f"unknown CDM version {version!r} (known: {', '.join(VERSIONS)})")
    found: dict[str, dict[str, CdmField]] = {}
    with open(spec_file(version), newline="", encoding="utf-8") as stream:
        for row in csv.DictReader(stream):
            table, name = row["cdmTableName"].strip().lower(), row["cdmFieldName"].strip().lower()
            fk = row.get("fkTableName", "NA").strip()
            found.setdefault(table, {})[name] = CdmField(
                table, name, _ibis_type(row["cdmDatatype"]), row["isRequired"].strip().lower() == "yes",
                row["isPrimaryKey"].strip().lower() == "yes", None if fk in ("", "NA") else fk.lower(),
            )
    return found


def cdm_fields(version: str) -> dict[str, dict[str, CdmField]]:
    """Table → field → `CdmField` of a CDM version (``"5.3"`` or ``"5.4"``), read once per process."""
    return _spec(version)


def cdm_types(version: str, table: str) -> dict[str, str]:
    """Column → ibis type string of one CDM table (empty for a table outside the CDM)."""
    return {name: spec.type for name, spec in _spec(version).get(table.lower(), {}).items()}


def normalise_version(text: Any) -> str | None:
    """'v5.4.1', 'CDM v5.3', '5.4' → '5.4'; None when it names no known version."""
    value = str(text or "").strip().lower().lstrip("cdm").strip().lstrip("v")
    for version in VERSIONS:
        if value == version or value.startswith(version + "."):
            return version
    return None


def detect_version(columns: Mapping[str, Collection[str]], declared: Any = None) -> str:
    """The CDM version of a source: ``cdm_source.cdm_version`` when it names one, else the columns.

    `columns` maps table → its column names (any case). Without a declaration,
    each version scores the columns it alone defines in the tables present;
    a tie (or nothing telling) is 5.4, the current version.
    """
    version = normalise_version(declared)
    if version is not None:
        return version
    present = {table.lower(): {c.lower() for c in names} for table, names in columns.items()}
    scores = {}
    for candidate in VERSIONS:
        others = [v for v in VERSIONS if v != candidate]
        own = 0
        for table, names in present.items():
            fields = set(_spec(candidate).get(table, {}))
            for other in others:
                fields -= set(_spec(other).get(table, {}))
            own += len(fields & names)
        scores[candidate] = own
    best = max(scores.values())
    return DEFAULT_VERSION if scores[DEFAULT_VERSION] == best else max(scores, key=scores.__getitem__)


def lower_columns(table: ir.Table) -> ir.Table:
    """Column names in lower case (OMOP exports write them in any case)."""
    renames = {c.lower(): c for c in table.columns if c != c.lower()}
    return table.rename(renames) if renames else table


def _from_text(value: ir.StringValue, wanted: dt.DataType) -> ir.Value:
    text = value.strip()
    if wanted.is_integer():
        return ibis.ifelse(text.re_search(_INTEGER_TEXT), text.re_replace(r"\.0*$", "").try_cast(wanted),
                           ibis.null(wanted))
    if wanted.is_date() or wanted.is_timestamp():
        compact = text.substr(0, 4).concat("-", text.substr(4, 2), "-", text.substr(6, 2))
        return ibis.ifelse(text.re_search(_COMPACT_DATE), compact.try_cast(wanted), text.try_cast(wanted))
    return text.try_cast(wanted)


def cast_value(value: ir.Value, wanted: dt.DataType) -> ir.Value:
    """`value` as `wanted`, null where it cannot be read so (never an error at execution)."""
    have = value.type()
    if have.copy(nullable=True) == wanted.copy(nullable=True):
        return value
    if wanted.is_string():
        return value.cast(wanted)
    if have.is_string():
        return _from_text(value, wanted)
    if have.is_null():
        return value.cast(wanted)
    if have.is_integer() and (wanted.is_integer() or wanted.is_floating()):
        return value.cast(wanted)
    if have.is_date() and wanted.is_timestamp() or have.is_timestamp() and wanted.is_date():
        return value.cast(wanted)
    return value.try_cast(wanted)


def _may_fail(have: dt.DataType, wanted: dt.DataType) -> bool:
    """Whether casting `have` to `wanted` can turn a value into null."""
    have, wanted = have.copy(nullable=True), wanted.copy(nullable=True)
    if have == wanted or wanted.is_string() or have.is_null():
        return False
    if have.is_integer() and (wanted.is_integer() or wanted.is_floating()):
        return False  # a plain cast (see `cast_value`): never a null
    return not ((have.is_date() and wanted.is_timestamp()) or (have.is_timestamp() and wanted.is_date()))


@dataclass
class CastCheck:
    """The lazy count of a table's cast failures: one scan, one row (count, smallest and largest failing
    value per column that can fail)."""

    table: str
    expr: ir.Table
    columns: list[tuple[str, str]]  # (column, type), in the order of the expression's n<i>/lo<i>/hi<i> columns

    def failures(self, row: Mapping[str, Any]) -> list[CastFailure]:
        """`CastFailure`s from the executed expression's single row."""
        found = []
        for i, (column, type_) in enumerate(self.columns):
            count = row[f"n{i}"]
            if count is None or pd.isna(count) or int(count) == 0:
                continue
            examples = sorted({str(row[f"lo{i}"]), str(row[f"hi{i}"])})
            found.append(CastFailure(self.table, column, type_, int(count), examples))
        return found

    def run(self) -> list[CastFailure]:
        """Execute on the expression's own backend (the caller holds its connection lock if it shares it)."""
        return self.failures(self.expr.execute().iloc[0].to_dict())


def cast_to(table: ir.Table, types: Mapping[str, str], name: str = "") -> tuple[ir.Table, CastCheck | None]:
    """`table` (columns lower-cased) with the columns of `types` cast, and the check of its cast failures.

    A failure is a value present in the source (not null, not blank) that the
    cast turns into null; the check is None when no column can fail (e.g. a
    database whose columns already have the CDM types).
    """
    table = lower_columns(table)
    casts: dict[str, ir.Value] = {}
    measures: dict[str, ir.Value] = {}
    checked: list[tuple[str, str]] = []
    for column, type_ in types.items():
        column = column.lower()
        if column not in table.columns:
            continue
        wanted = ibis.dtype(type_)
        raw = table[column]
        casted = cast_value(raw, wanted)
        if casted is raw:
            continue
        casts[column] = casted
        if _may_fail(raw.type(), wanted):
            text = raw.cast("string")
            failed = raw.notnull() & (text.strip() != "") & casted.isnull()
            i = len(checked)
            measures |= {f"n{i}": failed.sum(), f"lo{i}": text.min(where=failed), f"hi{i}": text.max(where=failed)}
            checked.append((column, str(wanted.copy(nullable=True))))
    typed_table = table.mutate(**casts) if casts else table
    check = CastCheck(name, table.aggregate(**measures), checked) if checked else None
    return typed_table, check


def typed(table_name: str, table: ir.Table, version: str = DEFAULT_VERSION) -> tuple[ir.Table, CastCheck | None]:
    """A raw table typed by the CDM `version`: its CDM columns cast, the others as they are.

    Returns the typed table and the check of its cast failures (see `cast_to`;
    ``check.run()`` lists them); a table outside the CDM comes back with its
    columns lower-cased and no check.
    """
    return cast_to(table, cdm_types(version, table_name), table_name)
