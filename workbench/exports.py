"""Cohort exports: a cohort's members, their stays, diagnoses, chosen biology and drugs, as XLSX or CSV.

Everything is read through the user's `Warehouse`, so the export holds the
cohort's members *within his perimeter* (members outside it, and stays outside
it, are not there). Identifiers (patient, stay, and the administrative file
number) are replaced by text pseudonyms of the user's export scope for this
cohort (`workbench.projects.pseudonyms`: a re-export gives the same ones, an
export of another cohort or by another user unrelated ones), unless the user
has the nominative right; without it, the birth date is cut to the year. Every
cell goes through `workbench.output.spreadsheet_safe` (no cell a spreadsheet
would run as a formula), the file is written to a temporary path then moved
(`workbench.outputs.atomic_file`), and the export is audited with each table's
row count. Rows are counted before anything is read: beyond the limit
(`$WORKBENCH_EXPORT_MAX_ROWS`, default 500,000 rows over all tables) the export
is refused with one message, audited, and nothing is written.

XLSX: one sheet per table plus « Métadonnées » (cohort, version, criteria,
snapshot, user, date). CSV: a ZIP archive holding one CSV per table, each
starting with the same ``# key: value`` lines.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ibis
import pandas as pd

from workbench.errors import UserError

FORMATS = ("xlsx", "csv")
LIMIT_VARIABLE = "WORKBENCH_EXPORT_MAX_ROWS"
DEFAULT_MAX_ROWS = 500_000
XLSX_MAX_ROWS = 1_048_575  # a sheet's rows, header excluded

SHEETS = {"patients": "Patients", "stays": "Séjours", "diagnoses": "Diagnostics", "biology": "Biologie",
          "drugs": "Médicaments"}
COLUMNS = {
    "stays": ["stay_id", "person_id", "nda", "visit_type", "stay_type", "start_date", "end_date", "nights",
              "admission_mode", "discharge_mode", "hospital", "service", "uf", "ghm", "age"],
    "diagnoses": ["stay_id", "person_id", "datetime", "code", "status"],
    "biology": ["stay_id", "person_id", "datetime", "loinc", "local_code", "label", "value", "unit"],
    "drugs": ["stay_id", "person_id", "kind", "atc", "ucd", "label", "route", "quantity", "dose_unit",
              "start_datetime", "end_datetime"],
}
IDENTIFIERS = {"person_id": "person", "stay_id": "visit", "nda": "nda"}


@dataclass(frozen=True)
class ExportResult:
    """What was written: the file, its rows per table, and the stamp of its « Métadonnées »."""

    path: Path
    rows: dict[str, int]
    stamp: dict[str, Any] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def max_rows() -> int:
    """The export size limit (rows over all tables): `$WORKBENCH_EXPORT_MAX_ROWS`, else 500,000."""
    value = os.environ.get(LIMIT_VARIABLE)
    if not value:
        return DEFAULT_MAX_ROWS
    try:
        return int(value)
    except ValueError:
        raise UserError(f"${LIMIT_VARIABLE} : entier attendu, reçu {value!r}") from None


def check_output(out: Path, fmt: str) -> Path:
    """The output path, checked against the format (asked before any cohort is evaluated)."""
    if fmt not in FORMATS:
        raise UserError(f"--format {fmt} : attendu {' ou '.join(FORMATS)}")
    out = Path(out)
    if fmt == "csv" and out.suffix.lower() != ".zip":
        raise UserError(f"--format csv écrit une archive ZIP (un CSV par table) : --out doit finir par .zip, reçu {out}")
    if fmt == "xlsx" and out.suffix.lower() != ".xlsx":
        raise UserError(f"--format xlsx : --out doit finir par .xlsx, reçu {out}")
    return out


def _queries(warehouse: Any, persons: Any, biology: Sequence[str], drugs: Sequence[str]) -> dict[str, Any]:
    """The ibis expressions of each table, within the user's perimeter (`Warehouse.view`) and the cohort."""
    patients = warehouse.view("patients")
    queries: dict[str, Any] = {
        "patients": patients.filter(patients.person_id.isin(persons.person_id))
        .select("person_id", "sex", "birth_date", "death_date"),
    }
    for name in ("stays", "diagnoses"):
        view = warehouse.view(name)
        queries[name] = view.filter(view.person_id.isin(persons.person_id)).select(*COLUMNS[name])
    if biology:
        view = warehouse.view("biology")
        codes = [ibis.literal(code) for code in biology]
        wanted = view.loinc.isin(codes).fill_null(False) | view.local_code.isin(codes).fill_null(False)
        queries["biology"] = view.filter(view.person_id.isin(persons.person_id) & wanted).select(*COLUMNS["biology"])
    if drugs:
        view = warehouse.view("drugs")
        wanted = ibis.literal(False)
        for code in drugs:
            wanted = wanted | view.atc.startswith(ibis.literal(code)).fill_null(False) | (view.ucd == code).fill_null(False)
        queries["drugs"] = view.filter(view.person_id.isin(persons.person_id) & wanted).select(*COLUMNS["drugs"])
    return queries


def _sorted(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    keys = [c for c in ("person_id", "stay_id", "start_date", "datetime", "start_datetime") if c in frame.columns]
    return frame.sort_values(keys, kind="stable").reset_index(drop=True) if keys else frame


def _deidentify(frame: pd.DataFrame, scope: str, nominative: bool) -> pd.DataFrame:
    """Identifiers replaced by text pseudonyms (nominative users keep them); birth dates cut to the year."""
    from workbench.projects.pseudonyms import Pseudonymiser

    if nominative:
        return frame
    pseudonyms = Pseudonymiser(scope)
    for column, domain in IDENTIFIERS.items():
        if column in frame.columns:
            frame[column] = pseudonyms.column(frame[column], domain, as_text=True)
    if "birth_date" in frame.columns:
        frame = frame.rename(columns={"birth_date": "birth_year"})
        frame["birth_year"] = pd.to_datetime(frame["birth_year"]).dt.year.astype("Int64")
    return frame


def _refuse(user: Any, message: str, **fields: Any) -> UserError:
    from workbench.access import refused

    return refused(user, message, action="cohort.export", **fields)


def export_cohort(
    warehouse: Any,
    members: pd.DataFrame,
    out: Path,
    fmt: str = "xlsx",
    cohort: Mapping[str, Any] | None = None,
    biology: Sequence[str] = (),
    drugs: Sequence[str] = (),
    limit: int | None = None,
) -> ExportResult:
    """Write the export of `members` (person_id, optionally index_date) to `out` for the warehouse's user.

    `cohort` (name, version, definition) goes to the metadata; `biology` lists
    LOINC or local codes, `drugs` ATC prefixes or UCD codes (none: no such table).
    """
    from workbench import audit
    from workbench.access import require
    from workbench.output import csv_text, write_xlsx_sheets
    from workbench.outputs import write_with

    user = warehouse.user
    require(user, "cohort.export")
    out = check_output(out, fmt)
    if "person_id" not in members.columns:
        raise UserError("membres de la cohorte : colonne person_id absente")
    cohort = dict(cohort or {})
    if len(members) == 0:
        raise UserError(f"cohorte « {cohort.get('name', '?')} » vide : rien à exporter")
    ids = pd.DataFrame({"person_id": members["person_id"].astype("int64").unique()})
    persons = ibis.memtable(ids)
    queries = _queries(warehouse, persons, [str(c) for c in biology], [str(c) for c in drugs])
    counts = {name: int(warehouse.execute(expr.count())) for name, expr in queries.items()}
    limit = max_rows() if limit is None else limit
    total = sum(counts.values())
    largest = max(counts.values())
    if total > limit or (fmt == "xlsx" and largest > XLSX_MAX_ROWS):
        detail = ", ".join(f"{SHEETS[name]} {n:,}".replace(",", " ") for name, n in counts.items())
        raise _refuse(user, f"export trop volumineux : {total:,} lignes ({detail}) pour une limite de {limit:,} "
                            f"(${LIMIT_VARIABLE}) ; restreignez la cohorte, la biologie ou les médicaments choisis"
                      .replace(",", " "), rows=counts, limit=limit)
    if counts["patients"] == 0:
        raise UserError(f"cohorte « {cohort.get('name', '?')} » : aucun de ses {len(ids)} patients n'est dans "
                        "votre périmètre, rien à exporter")
    nominative = bool(getattr(user, "nominative", False))
    scope = f"export:{getattr(user, 'name', 'local')}:{cohort.get('name', '')}"
    tables: dict[str, pd.DataFrame] = {}
    for name, expr in queries.items():
        frame = warehouse.execute(expr)
        if name == "patients" and "index_date" in members.columns:
            first = members.groupby("person_id", as_index=False)["index_date"].min()
            frame = frame.merge(first, on="person_id", how="left")
        if name == "stays" and not nominative:
            frame = frame.drop(columns=["nda"])
        tables[name] = _deidentify(_sorted(name, frame), scope, nominative)
    rows = {name: len(frame) for name, frame in tables.items()}
    stamp = {
        "cohorte": cohort.get("name", ""),
        "version": cohort.get("version", ""),
        "critères": json.dumps(cohort.get("definition"), ensure_ascii=False, default=str),
        "instantané": warehouse.snapshot_id,
        "date d'extraction": str(warehouse.extraction_date),
        "utilisateur": getattr(user, "name", "local"),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "identifiants": "réels (droit nominatif)" if nominative else "pseudonymisés (propres à cet utilisateur et cette cohorte)",
        "biologie": ", ".join(biology) or "aucune",
        "médicaments": ", ".join(drugs) or "aucun",
        "lignes": json.dumps(rows, ensure_ascii=False),
    }
    if fmt == "xlsx":
        write_xlsx_sheets({SHEETS[name]: frame for name, frame in tables.items()}, out, stamp)
    else:
        def write(temporary: Path) -> None:
            with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                for name, frame in tables.items():
                    archive.writestr(f"{name}.csv", csv_text(frame, stamp))

        write_with(out, write)
    audit.export(user, indicator=None, format=fmt, rows=sum(rows.values()), destination=str(out),
                 what="cohort export", cohort=cohort.get("name"), cohort_version=cohort.get("version"),
                 tables=rows, snapshot=warehouse.snapshot_id, pseudonymised=not nominative)
    return ExportResult(out, rows, stamp)
