"""Compute an indicator: one validated request, one ibis expression, one execution.

The definition comes from the wiki page (:class:`IndicatorDefinition`); the
engine picks the version in force, refuses what the indicator cannot be broken
down by, says "non disponible pour cette source" rather than computing from a
fact the source lacks, builds a single expression (declarative block compiled
by :mod:`compiler`, or a registered Python implementation), executes it through
``warehouse.execute`` and returns a tidy frame with the SQL, the lineage and a
provenance stamp, so every surface shows the same number with its origin.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import OrderedDict
from typing import Any, Callable, Literal, Mapping, Sequence

import ibis.expr.types as ir
import pandas as pd

from workbench.errors import UserError
from workbench.indicators import implementations
from workbench.indicators.compiler import METRICS, Request, compile_declarative, with_value
from workbench.indicators.lineage import Lineage, lineage
from workbench.indicators.model import (
    DIMENSIONS,
    DeclarativeComputation,
    IndicatorDefinition,
    IndicatorVersion,
    PythonComputation,
)

OK = "ok"
UNAVAILABLE = "non disponible pour cette source"
GRAINS = ("month", "quarter", "year")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class IndicatorResult:
    """The answer to one request: the tidy frame and everything needed to trace it.

    The SQL text and the lineage are produced on first access (by `trace`):
    compiling them costs as much as running the query on a dashboard's small
    requests, and most callers (KPI cards, series) never look at them.
    """

    def __init__(
        self,
        indicator_id: str,
        frame: pd.DataFrame,
        status: str,
        version: str,
        sql: str | None = None,
        expr: ir.Table | None = None,
        lineage: Lineage | None = None,
        stamp: dict[str, Any] | None = None,
        missing: dict[str, list[str]] | None = None,
        trace: Callable[[], tuple[str, Lineage]] | None = None,
    ) -> None:
        self.indicator_id, self.frame, self.status, self.version = indicator_id, frame, status, version
        self.expr = expr
        self.stamp = stamp or {}
        self.missing = missing or {}  # when not available: the facts the source lacks, per view
        self.trace = trace
        self._traced = None if trace is not None else (sql or "", lineage or {})

    def __repr__(self) -> str:
        return f"IndicatorResult({self.indicator_id!r}, status={self.status!r}, version={self.version!r}, rows={len(self.frame)})"

    def _trace(self) -> tuple[str, Lineage]:
        if self._traced is None:
            self._traced = self.trace()  # type: ignore[misc]
        return self._traced

    @property
    def sql(self) -> str:
        return self._trace()[0]

    @property
    def lineage(self) -> Lineage:
        return self._trace()[1]

    @property
    def available(self) -> bool:
        return self.status == OK


# --- request validation -------------------------------------------------------------------------


def _month(value: str | dt.date, argument: str) -> dt.date:
    """The first day of the month named by `value` (``YYYY-MM`` or a date)."""
    if isinstance(value, dt.date):
        return value.replace(day=1)
    match = _MONTH.match(str(value).strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise UserError(f"{argument} : mois invalide {value!r} (format attendu AAAA-MM, ex. 2024-03)")
    return dt.date(int(match.group(1)), int(match.group(2)), 1)


def _last_day(first: dt.date) -> dt.date:
    following = dt.date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return following - dt.timedelta(days=1)


def _align(first: dt.date, last_first: dt.date, grain: str) -> tuple[dt.date, dt.date]:
    """Widen [first month, last month] to whole quarters or years."""
    if grain == "quarter":
        first = first.replace(month=(first.month - 1) // 3 * 3 + 1)
        last_first = last_first.replace(month=(last_first.month - 1) // 3 * 3 + 3)
    elif grain == "year":
        first, last_first = first.replace(month=1), last_first.replace(month=12)
    return first, _last_day(last_first)


def resolve_period(
    start: str | dt.date | None, end: str | dt.date | None, grain: str, extraction_date: dt.date | None
) -> tuple[dt.date, dt.date]:
    """Whole-month bounds (first day, last day); default: the 12 months ending at the extraction month."""
    if grain not in GRAINS:
        raise UserError(f"grain : valeur invalide {grain!r} (valeurs possibles : {', '.join(GRAINS)})")
    reference = extraction_date or dt.date.today()
    last_first = _month(end, "end") if end is not None else reference.replace(day=1)
    if start is not None:
        first = _month(start, "start")
    else:
        index = last_first.year * 12 + last_first.month - 1 - 11
        first = dt.date(index // 12, index % 12 + 1, 1)
    if first > last_first:
        raise UserError(f"start/end : le début {first:%Y-%m} est après la fin {last_first:%Y-%m}")
    return _align(first, last_first, grain)


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
    from workbench.access import disclosure

    if disclosure.applies(warehouse, filters):
        return disclosure.compute_protected(definition, warehouse, by, start, end, grain, filters, version, params)
    chosen, request = prepare(definition, warehouse, by, start, end, grain, filters, version, params)
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


def _audit(warehouse: Any, definition: IndicatorDefinition, request: Request, cells: int) -> None:
    """An indicator computed without the disclosure policy (the user may read the rows behind it)."""
    user = getattr(warehouse, "user", None)
    if user is None or getattr(warehouse, "unrestricted", None) is None:
        return  # the policy's own lattice computations: audited by the policy as one request
    from workbench import audit

    audit.write("indicator", user, indicator=definition.id, by=list(request.by), filters=dict(request.filters),
                period=f"{request.start:%Y-%m}/{request.end:%Y-%m}", cells=cells, masked=0, policy=False,
                snapshot=getattr(warehouse, "snapshot_id", None))


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
