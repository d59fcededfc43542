"""Compute an indicator: the one entry point every surface calls (`workbench.compute` is this function).

A request is validated once (:func:`workbench.indicators.plain.prepare`:
version, dimensions, filters, whole periods), then takes one of two paths: the
plain engine (:mod:`workbench.indicators.plain`) for users who may read the
rows behind the figure, or the disclosure policy
(:mod:`workbench.access.disclosure`) for everyone else. The policy computes
its lattice through the plain engine, never through this router, so neither
imports the other.

The names of the plain engine (``prepare``, ``build_expression``,
``IndicatorResult``…) stay importable from here for the callers written
before the split.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal, Mapping, Sequence

from workbench.access import disclosure
from workbench.errors import UserError
from workbench.indicators.model import IndicatorDefinition
from workbench.indicators.plain import build_expression, compiled, compute_prepared, missing_facts, missing_tables, prepare
from workbench.indicators.result import OK, UNAVAILABLE, IndicatorResult
from workbench.periods import GRAINS, resolve_period

__all__ = [
    "GRAINS", "OK", "UNAVAILABLE", "IndicatorResult", "build_expression", "compiled", "compute", "compute_by_id",
    "missing_facts", "missing_tables", "prepare", "resolve_period",
]


def compute(
    definition: IndicatorDefinition,
    warehouse: Any,
    by: Sequence[str] = (),
    start: str | dt.date | None = None,
    end: str | dt.date | None = None,
    grain: Literal["month", "quarter", "year"] = "month",
    filters: Mapping[str, Sequence[str]] | None = None,
    version: str | None = None,
    params: Mapping[str, Any] | None = None,
) -> IndicatorResult:
    """Compute `definition` on `warehouse`, broken down `by` dimensions over whole months [start, end].

    `grain` widens the period to whole quarters or years; `filters` keep the
    listed members of a dimension; `version` forces a version (default: the
    one in force at the end of the period); `params` override the parameters
    of a Python implementation (e.g. ``{"source": "AREM"}``). A user without
    patient-level rights on the requested scope gets the cube cells of the
    disclosure policy instead (:mod:`workbench.access.disclosure`).
    """
    chosen, request = prepare(definition, warehouse, by, start, end, grain, filters, version, params)
    if disclosure.applies(warehouse, request.filters):
        return disclosure.compute_protected(definition, warehouse, chosen, request)
    return compute_prepared(definition, warehouse, chosen, request)


def compute_by_id(indicator_id: str, warehouse: Any, dictionary: Any, **request: Any) -> IndicatorResult:
    """Look the indicator up in the dictionary (wiki pages) and compute it."""
    try:
        page = dictionary.get(indicator_id)
    except (KeyError, LookupError):
        page = None
    if page is None:
        raise UserError(f"indicateur inconnu : {indicator_id!r}")
    definition = getattr(page, "definition", page)
    return compute(definition, warehouse, **request)
