"""Building blocks shared by the Python implementations (stay populations, final grouping)."""

from __future__ import annotations

from typing import Any, Iterable

import ibis
import ibis.expr.types as ir

from workbench.indicators.compiler import METRICS, Request

FULL_HOSPITALISATION = "hospitalisation_complete"
HOSPITAL_CATEGORIES = ("hospitalisation_complete", "ambulatoire", "seance")
ADMISSION_VISIT_TYPES = ("hospitalisés", "hospitalisation incomplète")


def literals(values: Iterable[Any]) -> list[ir.Value]:
    """Values as ibis literals, for `isin` (parameters never become SQL text)."""
    return [ibis.literal(value) for value in values]


def ended(stays: ir.Table) -> ir.Table:
    """Stays with a usable discharge date: open stays have no place in a discharge month."""
    return stays.filter(stays.end_date.notnull(), ~stays.is_open.fill_null(False))


def full_mco_stays(stays: ir.Table) -> ir.Table:
    """Ended MCO full-hospitalisation stays (≥ 1 night), the population of length-of-stay indicators."""
    stays = ended(stays)
    return stays.filter(stays.stay_category == FULL_HOSPITALISATION, stays.stay_type == "MCO")


def not_in_cmd(table: ir.Table, cmds: Iterable[str]) -> ir.BooleanValue:
    """True when the stay's CMD is not listed (a stay without GHM is kept)."""
    cmds = list(cmds)
    if not cmds:
        return ibis.literal(True)
    return table.cmd.isnull() | table.cmd.notin(literals(cmds))


def starts_with_any(column: ir.StringValue, prefixes: Iterable[str]) -> ir.BooleanValue:
    """True when `column` starts with one of `prefixes` (False when none, or when the column is null)."""
    predicate = ibis.literal(False)
    for prefix in prefixes:
        predicate = predicate | column.startswith(ibis.literal(prefix)).fill_null(False)
    return predicate


def group(table: ir.Table, request: Request, extra: tuple[str, ...] = (), **metrics: ir.Scalar) -> ir.Table:
    """Aggregate `metrics` by the requested dimensions (plus `extra`), in the engine's column order."""
    keys = list(request.by) + list(extra)
    grouped = table.group_by(keys).aggregate(**metrics) if keys else table.aggregate(**metrics)
    return grouped.select(*keys, *METRICS)
