"""The plain indicator path: one validated request, one ibis expression, one execution.

The definition comes from the wiki page (:class:`IndicatorDefinition`); the
engine picks the version in force, refuses what the indicator cannot be broken
down by, says "non disponible pour cette source" rather than computing from a
fact the source lacks, builds a single expression (declarative block compiled
by :mod:`compiler`, or a registered Python implementation), executes it through
``warehouse.execute`` and returns a tidy frame with the SQL, the lineage and a
provenance stamp, so every surface shows the same number with its origin.

This is the path of users who may read the rows behind the figure; the
router :func:`workbench.indicators.engine.compute` sends the others to the
disclosure policy, which itself computes its lattice through this module.
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from typing import Any, Literal, Mapping, Sequence

import ibis.expr.types as ir
import pandas as pd

from workbench import audit
from workbench.errors import UserError
from workbench.indicators import implementations
from workbench.indicators.compiler import METRICS, Request, compile_declarative, with_value
from workbench.indicators.lineage import Lineage, lineage
from workbench.indicators.model import (
    DeclarativeComputation,
    IndicatorDefinition,
    IndicatorVersion,
    PythonComputation,
)
from workbench.indicators.result import OK, UNAVAILABLE, IndicatorResult
from workbench.periods import resolve_period
from workbench.semantic.dimensions import DIMENSIONS



# --- request validation -------------------------------------------------------------------------


def _check_dimensions(names: Sequence[str], allowed: Sequence[str], indicator_id: str, argument: str) -> None:
    for name in names:
        if name not in DIMENSIONS:
            raise UserError(
                f"{argument} : dimension inconnue {name!r} (dimensions possibles : {', '.join(DIMENSIONS)})"
            )
        if name not in allowed:
            raise UserError(
                f"{argument} : l'indicateur {indicator_id} ne se ventile pas par {name!r} "
                f"(dimensions autorisées : {', '.join(allowed)})"
            )


def _check_by(by: Sequence[str] | str, definition: IndicatorDefinition) -> tuple[str, ...]:
    by = (by,) if isinstance(by, str) else tuple(by)
    _check_dimensions(by, definition.dimensions, definition.id, "by")
    if len(set(by)) != len(by):
        raise UserError(f"by : dimension répétée dans {', '.join(by)}")
    return by


def _check_filters(
    filters: Mapping[str, Sequence[str] | str] | None, definition: IndicatorDefinition
) -> dict[str, tuple[str, ...]]:
    checked: dict[str, tuple[str, ...]] = {}
    for name, members in (filters or {}).items():
        _check_dimensions([name], definition.dimensions, definition.id, "filters")
        members = (members,) if isinstance(members, str) else tuple(members)
        if not members:
            raise UserError(f"filters : aucune valeur donnée pour {name!r}")
        checked[name] = tuple(str(member) for member in members)
    return checked


def _pick_version(definition: IndicatorDefinition, version: str | None, end: dt.date) -> IndicatorVersion:
    try:
        return definition.get_version(version) if version else definition.version_at(end)
    except LookupError as error:
        raise UserError(f"version : {error}") from None


# --- availability and expression ----------------------------------------------------------------


def _required(computation: DeclarativeComputation | PythonComputation, params: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    if isinstance(computation, DeclarativeComputation):
        return {computation.view: tuple(computation.requires)} if computation.requires else {}
    return dict(implementations.get(computation.implementation).required(params))


def missing_facts(warehouse: Any, required: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """Required columns the warehouse's flavour does not carry, per view."""
    missing = {}
    for view, columns in required.items():
        lacking = sorted(set(columns) & set(warehouse.unavailable(view)))
        if lacking:
            missing[view] = lacking
    return missing


def missing_tables(warehouse: Any, computation: DeclarativeComputation | PythonComputation) -> list[str]:
    """Raw tables a Python implementation reads (capacities, reference DMS) that the catalogue lacks."""
    if not isinstance(computation, PythonComputation):
        return []
    present = set(getattr(warehouse, "tables", ()))
    return [t for t in implementations.get(computation.implementation).tables if t not in present]


def build_expression(
    computation: DeclarativeComputation | PythonComputation, warehouse: Any, request: Request
) -> ir.Table:
    """The one expression answering `request`: dimensions, extra breakdowns, value and the metrics."""
    if isinstance(computation, DeclarativeComputation):
        table = compile_declarative(computation, warehouse, request)
        scale, ratio = computation.scale, computation.denominator is not None
    else:
        registered = implementations.get(computation.implementation)
        table = registered.function(warehouse, request)
        scale, ratio = registered.scale, registered.ratio
    table = with_value(table, scale, ratio)
    keys = [name for name in table.columns if name not in (*METRICS, "value")]
    table = table.select(*keys, "value", *METRICS)
    return table.order_by(keys) if keys else table


def _params(computation: DeclarativeComputation | PythonComputation, params: Mapping[str, Any] | None) -> dict[str, Any]:
    if isinstance(computation, PythonComputation):
        return implementations.get(computation.implementation).resolve_params(computation.params, params)
    if params:
        raise UserError("params : un indicateur déclaratif n'accepte pas de paramètres")
    return {}


def _empty_frame(by: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame(columns=[*by, "value", *METRICS, "indicator_version", "snapshot_id"])


def _stamp(warehouse: Any, definition: IndicatorDefinition, chosen: IndicatorVersion, request: Request) -> dict[str, Any]:
    catalog = getattr(warehouse, "catalog_path", None) or getattr(warehouse, "catalog", None)
    return {
        "catalogue": str(catalog) if catalog is not None else None,
        "indicateur": definition.id,
        "version": chosen.version,
        "snapshot_id": getattr(warehouse, "snapshot_id", None),
        "extraction_date": request.extraction_date.isoformat() if request.extraction_date else None,
        "periode": f"{request.start:%Y-%m}/{request.end:%Y-%m}",
        "grain": request.grain,
        "by": ",".join(request.by),
        "filters": "; ".join(f"{k}={'|'.join(v)}" for k, v in request.filters.items()),
        "params": ", ".join(f"{k}={v}" for k, v in request.params.items()),
        "computed_at": dt.datetime.now().isoformat(timespec="seconds"),
    }


# --- compiling once ------------------------------------------------------------------------------

_COMPILED: OrderedDict[tuple[str, Any], tuple[str, Lineage]] = OrderedDict()
_COMPILED_SIZE = 256


def compiled(warehouse: Any, expr: ir.Table) -> tuple[str, Lineage]:
    """The SQL and the lineage of `expr`, computed once per distinct expression.

    Compiling the expression (views included) to SQL costs more than running
    it on a small warehouse; dashboards repeat the same requests, so the SQL
    text and the lineage walk are memoised by the expression's structure
    (which includes the connection it reads from).
    """
    key = (getattr(warehouse, "backend_name", ""), expr.op())
    hit = _COMPILED.get(key)
    if hit is None:
        hit = _COMPILED[key] = (warehouse.to_sql(expr), lineage(expr))
        if len(_COMPILED) > _COMPILED_SIZE:
            _COMPILED.popitem(last=False)
    else:
        _COMPILED.move_to_end(key)
    return hit


# --- public API ---------------------------------------------------------------------------------


def prepare(
    definition: IndicatorDefinition,
    warehouse: Any,
    by: Sequence[str] = (),
    start: str | dt.date | None = None,
    end: str | dt.date | None = None,
    grain: Literal["month", "quarter", "year"] = "month",
    filters: Mapping[str, Sequence[str]] | None = None,
    version: str | None = None,
    params: Mapping[str, Any] | None = None,
) -> tuple[IndicatorVersion, Request]:
    """Validate a request against the definition: the version to use and the normalised request."""
    extraction = getattr(warehouse, "extraction_date", None)
    first, last = resolve_period(start, end, grain, extraction)
    request_by = _check_by(by, definition)
    checked_filters = _check_filters(filters, definition)
    chosen = _pick_version(definition, version, last)
    request = Request(
        indicator_id=definition.id, by=request_by, start=first, end=last, grain=grain,
        filters=checked_filters, params=_params(chosen.computation, params), extraction_date=extraction,
    )
    return chosen, request


def compute_prepared(
    definition: IndicatorDefinition, warehouse: Any, chosen: IndicatorVersion, request: Request
) -> IndicatorResult:
    """Compute a request already validated by :func:`prepare`, on every row `warehouse` gives (no policy)."""
    stamp = _stamp(warehouse, definition, chosen, request)
    missing = missing_facts(warehouse, _required(chosen.computation, request.params))
    absent = missing_tables(warehouse, chosen.computation)
    if absent:
        missing["tables"] = absent
    if missing:
        return IndicatorResult(
            indicator_id=definition.id, frame=_empty_frame(request.by), status=UNAVAILABLE,
            version=chosen.version, stamp={**stamp, "statut": UNAVAILABLE}, missing=missing,
        )
    expr = build_expression(chosen.computation, warehouse, request)
    frame = warehouse.execute(expr)
    frame = frame.assign(indicator_version=chosen.version, snapshot_id=getattr(warehouse, "snapshot_id", None))
    _audit(warehouse, definition, request, len(frame))
    return IndicatorResult(
        indicator_id=definition.id, frame=frame.reset_index(drop=True), status=OK, version=chosen.version,
        expr=expr, stamp={**stamp, "statut": OK}, trace=lambda: compiled(warehouse, expr),
    )


def compute(definition: IndicatorDefinition, warehouse: Any, **request: Any) -> IndicatorResult:
    """The plain path of :func:`workbench.indicators.engine.compute` (same keyword arguments: by, start, end,
    grain, filters, version, params), without the disclosure policy.

    Only for callers that already are the policy (its lattice computes every
    cell on the unrestricted face of the warehouse) or that read rows anyway;
    every other caller goes through the engine's router.
    """
    chosen, prepared = prepare(definition, warehouse, **request)
    return compute_prepared(definition, warehouse, chosen, prepared)


def _audit(warehouse: Any, definition: IndicatorDefinition, request: Request, cells: int) -> None:
    """An indicator computed without the disclosure policy (the user may read the rows behind it)."""
    user = getattr(warehouse, "user", None)
    if user is None or getattr(warehouse, "unrestricted", None) is None:
        return  # the policy's own lattice computations: audited by the policy as one request
    audit.write("indicator", user, indicator=definition.id, by=list(request.by), filters=dict(request.filters),
                period=f"{request.start:%Y-%m}/{request.end:%Y-%m}", cells=cells, masked=0, policy=False,
                snapshot=getattr(warehouse, "snapshot_id", None))
