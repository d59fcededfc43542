"""Turn an indicator request into one ibis expression over the canonical views.

The engine never aggregates in pandas: a declarative computation block (view,
filters, numerator, denominator) compiles here into a single grouped ibis
expression, and the Python implementations reuse the same helpers (period
restriction, dimension columns, request filters) so that every indicator
places a row in a month, a hospital or an age band the same way.

User input (filter members, period bounds) only ever reaches the expression as
ibis literals, never as SQL text.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Mapping

import ibis
import ibis.expr.types as ir

from workbench.indicators.model import DeclarativeComputation, Filter, Measure
from workbench.semantic.dimensions import TIME_DIMENSIONS

METRICS: tuple[str, ...] = ("numerator", "denominator", "n_patients")
"""Columns every compiled expression (declarative or Python) must return besides its dimensions."""


@dataclass(frozen=True)
class Request:
    """A validated request: dimensions, whole-month period, member filters, parameters.

    `start` is the first day of the first month and `end` the last day of the
    last month, so periods are always whole months (inclusive).
    """

    indicator_id: str
    by: tuple[str, ...] = ()
    start: dt.date = dt.date(2000, 1, 1)
    end: dt.date = dt.date(2000, 12, 31)
    grain: str = "month"
    filters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    extraction_date: dt.date | None = None

    @property
    def end_exclusive(self) -> dt.date:
        """The day after the period, for half-open interval arithmetic."""
        return self.end + dt.timedelta(days=1)

    @property
    def dimensions_needed(self) -> tuple[str, ...]:
        """Dimensions to materialise: the breakdown plus those only filtered on."""
        return self.by + tuple(name for name in self.filters if name not in self.by)


def time_dimension(day: ir.DateValue, name: str) -> ir.StringValue:
    """The `month` (YYYY-MM), `quarter` (YYYY-Qn) or `year` (YYYY) label of a date."""
    year = day.year().cast("string")
    if name == "month":
        return day.strftime("%Y-%m")
    if name == "quarter":
        return year + "-Q" + day.quarter().cast("string")
    if name == "year":
        return year
    raise ValueError(f"not a time dimension: {name}")


def with_dimensions(table: ir.Table, names: tuple[str, ...], period_column: str) -> ir.Table:
    """Add the time dimension columns; the other dimensions are view columns already."""
    period = table[period_column]
    added = {name: time_dimension(period, name) for name in names if name in TIME_DIMENSIONS}
    return table.mutate(**added) if added else table


def in_period(day: ir.DateValue, request: Request) -> ir.BooleanValue:
    """True when `day` falls inside the requested whole months."""
    return (day >= ibis.literal(request.start)) & (day <= ibis.literal(request.end))


def member_filter(table: ir.Table, request: Request) -> ir.Table:
    """Keep rows whose dimension values are among the requested members (as literals)."""
    predicates = [
        table[name].isin([ibis.literal(str(member)) for member in members])
        for name, members in request.filters.items()
    ]
    return table.filter(*predicates) if predicates else table


def restrict(table: ir.Table, request: Request, period_column: str) -> ir.Table:
    """Rows placed in the period by `period_column`, with dimension columns and member filters applied."""
    table = table.filter(in_period(table[period_column], request))
    table = with_dimensions(table, request.dimensions_needed, period_column)
    return member_filter(table, request)


def filter_predicate(table: ir.Table, condition: Filter) -> ir.BooleanValue:
    """One declarative condition as an ibis predicate.

    `ne` and `not_in` keep rows where the column is null: a stay without a GHM
    is "not in CMD 28", which is what an exclusion means on an indicator page.
    """
    column = table[condition.column]
    op, value = condition.op, condition.value
    if op == "is_null":
        return column.isnull()
    if op == "not_null":
        return column.notnull()
    if op in ("in", "not_in"):
        members = [ibis.literal(v) for v in value]
        return column.isin(members) if op == "in" else column.isnull() | column.notin(members)
    literal = ibis.literal(value)
    if op == "ne":
        return column.isnull() | (column != literal)
    if op == "startswith":
        return column.startswith(literal)
    comparisons = {
        "eq": column.__eq__, "gt": column.__gt__, "ge": column.__ge__,
        "lt": column.__lt__, "le": column.__le__,
    }
    return comparisons[op](literal)


def all_of(table: ir.Table, conditions: list[Filter]) -> ir.BooleanValue | None:
    """The conjunction of `conditions`, or None when there are none."""
    predicate = None
    for condition in conditions:
        term = filter_predicate(table, condition)
        predicate = term if predicate is None else predicate & term
    return predicate


def _measure(table: ir.Table, measure: Measure) -> ir.Scalar:
    where = all_of(table, measure.filters)
    if measure.agg == "count":
        return table.count(where=where)
    column = table[measure.column]
    if measure.agg == "count_distinct":
        return column.nunique(where=where)
    return column.sum(where=where).fill_null(0)


def _patients(table: ir.Table, comp: DeclarativeComputation) -> ir.Scalar:
    """Distinct patients behind the cell: those counted in the numerator or the denominator."""
    scopes = [all_of(table, m.filters) for m in (comp.numerator, comp.denominator) if m is not None]
    if any(scope is None for scope in scopes):
        return table[comp.patient_column].nunique()
    where = scopes[0]
    for scope in scopes[1:]:
        where = where | scope
    return table[comp.patient_column].nunique(where=where)


def compile_declarative(comp: DeclarativeComputation, warehouse: Any, request: Request) -> ir.Table:
    """A declarative block as one grouped expression: dimensions, numerator, denominator, n_patients."""
    view = warehouse.view(comp.view)
    base = all_of(view, comp.filters)
    if base is not None:
        view = view.filter(base)
    view = restrict(view, request, comp.period_column)
    metrics = {"numerator": _measure(view, comp.numerator)}
    if comp.denominator is not None:
        metrics["denominator"] = _measure(view, comp.denominator)
    metrics["n_patients"] = _patients(view, comp)
    grouped = view.group_by(list(request.by)).aggregate(**metrics) if request.by else view.aggregate(**metrics)
    if comp.denominator is None:
        grouped = grouped.mutate(denominator=ibis.null("int64"))
    return grouped.select(*request.by, *METRICS)


def with_value(table: ir.Table, scale: float, ratio: bool) -> ir.Table:
    """Add `value`: numerator / denominator × scale for ratios (null when the denominator is 0), else the numerator."""
    if not ratio:
        return table.mutate(value=table.numerator.cast("float64"))
    quotient = table.numerator.cast("float64") / table.denominator.cast("float64") * scale
    empty = table.denominator.isnull() | (table.denominator == 0)
    return table.mutate(value=ibis.ifelse(empty, ibis.null("float64"), quotient))
