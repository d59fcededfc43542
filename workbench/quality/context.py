"""What a check sees while it is built: tables, views, vocabularies, the extraction date.

Checks ask for the columns they read (`ctx.table("person", "birth_datetime")`),
so a source that lacks one (standard OMOP has no `gender_source_value` filled the
AP-HP way, no `person_identity`...) yields `not_applicable` with the reason
instead of an error, and the other checks still run.
"""

from __future__ import annotations

import datetime as dt
from functools import cached_property
from typing import Any

import ibis
import ibis.expr.types as ir

from workbench.quality.model import DATE_COLUMN, HOSPITAL_COLUMN, ID_COLUMN, VIOLATED_COLUMN, NotApplicable, Probe
from workbench.errors import UserError
from workbench.quality import vocabularies


class CheckContext:
    """A read-only facade over the warehouse for check builders."""

    def __init__(self, warehouse: Any) -> None:
        self.warehouse = warehouse
        self._codes: dict[str, ir.Table] = {}

    @cached_property
    def table_names(self) -> set[str]:
        return set(_names(self.warehouse.tables))

    @cached_property
    def view_names(self) -> set[str]:
        return set(_names(getattr(self.warehouse, "views", [])))

    def require_aphp(self) -> None:
        """Value sets, code formats and nomenclatures are AP-HP conventions: other flavours are not judged."""
        flavour = getattr(self.warehouse, "flavour", "aphp")
        if flavour != "aphp":
            raise NotApplicable(f"convention AP-HP non applicable à la saveur « {flavour} »")

    def has_table(self, name: str) -> bool:
        return name in self.table_names

    def table(self, name: str, *columns: str) -> ir.Table:
        """The raw table `name`, after checking it has `columns` (else NotApplicable)."""
        if name not in self.table_names:
            raise NotApplicable(f"table « {name} » absente de cette source")
        table = self.warehouse.table(name)
        _require_columns(table, columns, f"table « {name} »")
        return table

    def view(self, name: str, *columns: str) -> ir.Table:
        """The canonical view `name`, after checking its `columns` are available in this flavour."""
        if name not in self.view_names:
            raise NotApplicable(f"vue « {name} » indisponible pour cette source")
        unavailable = set(self.warehouse.unavailable(name) or [])
        missing = [column for column in columns if column in unavailable]
        if missing:
            raise NotApplicable(f"vue « {name} » : colonne(s) {', '.join(missing)} non disponible(s) pour cette saveur")
        view = self.warehouse.view(name)
        _require_columns(view, columns, f"vue « {name} »")
        return view

    @cached_property
    def extraction_date(self) -> dt.date:
        """The warehouse's "now": events after it are in the future."""
        value = getattr(self.warehouse, "extraction_date", None)
        if value is None:
            raise NotApplicable("date d'extraction inconnue pour cette source")
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, str):
            return dt.date.fromisoformat(value[:10])
        return value

    def codes(self, vocabulary: str) -> ir.Table:
        """An in-memory table (column `code`) of the valid codes of a French nomenclature."""
        if vocabulary not in self._codes:
            try:
                values = vocabularies.valid_codes(vocabulary)
            except UserError as error:
                raise NotApplicable(f"nomenclature {vocabulary} introuvable ({error})") from error
            self._codes[vocabulary] = ibis.memtable({"code": sorted(values)})
        return self._codes[vocabulary]


def _names(value: Any) -> list[str]:
    """Table or view names whether the warehouse exposes a list, a mapping or a method."""
    if callable(value):
        value = value()
    return list(value)


def _require_columns(table: ir.Table, columns: tuple[str, ...], where: str) -> None:
    missing = [column for column in columns if column not in table.columns]
    if missing:
        raise NotApplicable(f"{where} : colonne(s) absente(s) {', '.join(missing)}")


def flag(
    table: ir.Table,
    id_column: str | ir.Value,
    violated: ir.BooleanValue,
    hospital: str | ir.Value | None = None,
    at: str | ir.Value | None = None,
) -> Probe:
    """A probe over `table`: one row per row of `table`, violating where `violated` is true.

    A null predicate (comparison with a missing value) counts as not violating:
    missing values are the business of completeness checks. `hospital` and `at`
    (care_site_id and date of each row) make the probe restrictable to a scope.
    """
    def column(value: str | ir.Value) -> ir.Value:
        return table[value] if isinstance(value, str) else value

    columns = {ID_COLUMN: column(id_column), VIOLATED_COLUMN: violated.fill_null(False)}
    if hospital is not None and at is not None:
        columns[HOSPITAL_COLUMN] = column(hospital)
        columns[DATE_COLUMN] = column(at).cast("timestamp")
    return Probe(table.select(**columns))


def month_start(month: ir.StringValue) -> ir.TimestampValue:
    """The first instant of a `YYYY-MM` month key (the date of a hospital × month cell)."""
    return month.concat("-01").cast("date").cast("timestamp")


def month_key(timestamp: ir.TimestampValue) -> ir.StringValue:
    """`YYYY-MM` of a timestamp, built from integers so every backend agrees."""
    return timestamp.year().cast("string").concat("-", timestamp.month().cast("string").lpad(2, "0"))
