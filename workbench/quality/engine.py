"""Running checks: one aggregate query per check, through the warehouse's single execution point.

Each probe is counted in the database (violations and denominator in one
query); only a short sample of violating ids is fetched, and the full list only
on request. A check that cannot be built is `not_applicable` (the source lacks
a table or column) or `error` (anything else, with the reason): the others
still run.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import ibis
import pandas as pd

from workbench.quality import dqd
from workbench.quality.checks import select_checks
from workbench.quality.context import CheckContext
from workbench.quality.model import (
    DATE_COLUMN, HOSPITAL_COLUMN, ID_COLUMN, VIOLATED_COLUMN, Check, CheckResult, NotApplicable, Probe,
    RunResult, Status,
)

SAMPLE_SIZE = 20

Progress = Callable[[Check, CheckResult], None]
UNSCOPED = "contrôle global : il ne peut pas être restreint aux hôpitaux et à la période demandés"


@dataclass(frozen=True)
class Scope:
    """Hospitals (care_site_id) and period [start, end] a run is restricted to (None: no bound)."""

    start: dt.date | None = None
    end: dt.date | None = None
    hospitals: tuple[int, ...] | None = None

    def restrict(self, probe: Probe) -> Probe:
        rows = probe.rows
        if self.start is not None:
            rows = rows.filter(rows[DATE_COLUMN] >= ibis.timestamp(dt.datetime.combine(self.start, dt.time())))
        if self.end is not None:
            after = dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time())
            rows = rows.filter(rows[DATE_COLUMN] < ibis.timestamp(after))
        if self.hospitals is not None:
            rows = rows.filter(rows[HOSPITAL_COLUMN].isin(list(self.hospitals)))
        return Probe(rows)


def run_checks(
    warehouse: Any,
    check_ids: Sequence[str] | None = None,
    sample_size: int = SAMPLE_SIZE,
    progress: Progress | None = None,
    scope: Scope | None = None,
) -> RunResult:
    """Run the selected checks (all by default) on `warehouse` and return their results.

    With a `scope`, checks whose units have a hospital and a date count only the
    units inside it; the others run on the whole warehouse and say so in `reason`.
    """
    started = dt.datetime.now(dt.timezone.utc)
    clock = time.perf_counter()
    context = CheckContext(warehouse)
    selected = select_checks(check_ids)
    # DQD's checks run batched (one query per relation), for the warehouse's CDM version only
    batched = dqd.run(context, selected, UNSCOPED if scope is not None else None)
    results = []
    for check in selected:
        if dqd.is_dqd(check):
            if check.id not in batched:
                continue
            result = batched[check.id]
        else:
            result = run_check(context, check, sample_size, scope)
        results.append(result)
        if progress is not None:
            progress(check, result)
    return RunResult(
        run_id=f"{started:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}",
        snapshot_id=optional_attribute(warehouse, "snapshot_id"),
        started_at=started.isoformat(timespec="seconds"),
        duration_s=round(time.perf_counter() - clock, 3),
        results=results,
    )


def run_check(
    context: CheckContext, check: Check, sample_size: int = SAMPLE_SIZE, scope: Scope | None = None
) -> CheckResult:
    """Build, count and sample one check; never raises for a data or source problem."""
    result = blank_result(check)
    clock = time.perf_counter()
    try:
        probe = check.build(context)
        if scope is not None:
            if probe.scoped:
                probe = scope.restrict(probe)
            else:
                result.reason = UNSCOPED
        counts = _counts_expr(probe)
        result.sql = _sql(context.warehouse, counts)
        frame = context.warehouse.execute(counts)
        violated, denominator = int(frame["violated"].iloc[0] or 0), int(frame["denominator"].iloc[0] or 0)
        classify(result, check, violated, denominator)
        if violated and sample_size:
            result.sample_ids = _ids(context.warehouse, probe, limit=sample_size)
    except NotApplicable as reason:
        result.status, result.reason = Status.not_applicable, str(reason)
    except Exception as error:  # noqa: BLE001 - one broken check must not stop the run
        result.status, result.reason = Status.error, f"{type(error).__name__}: {error}"
    result.execution_time_s = round(time.perf_counter() - clock, 4)
    return result


def violating_ids(warehouse: Any, check_id: str) -> list[Any]:
    """The full list of ids violating one check, sorted (for `quality violations` and the tests)."""
    (check,) = select_checks([check_id])
    return _ids(warehouse, check.build(CheckContext(warehouse)), limit=None)


def _counts_expr(probe: Probe) -> ibis.Table:
    rows = probe.rows
    return rows.aggregate(
        violated=rows[VIOLATED_COLUMN].cast("int64").sum(),
        denominator=rows.count(),
    )


def _ids(warehouse: Any, probe: Probe, limit: int | None) -> list[Any]:
    rows = probe.rows
    expr = rows.filter(rows[VIOLATED_COLUMN]).select(ID_COLUMN).distinct().order_by(ID_COLUMN)
    if limit is not None:
        expr = expr.limit(limit)
    return [plain_value(value) for value in warehouse.execute(expr)[ID_COLUMN].tolist()]


def classify(result: CheckResult, check: Check, violated: int, denominator: int) -> None:
    """Fill `result` from its counts against the check's threshold (shared with the indicator badges, which
    count the same checks per hospital and month)."""
    result.num_violated_rows, result.num_denominator_rows = violated, denominator
    if denominator == 0:
        result.status, result.reason = Status.not_applicable, result.reason or "aucune ligne à contrôler"
        result.pct_violated_rows = 0.0
        return
    result.pct_violated_rows = round(100.0 * violated / denominator, 4)
    result.status = Status.failed if result.pct_violated_rows > check.threshold else Status.passed


def blank_result(check: Check) -> CheckResult:
    """A result for `check` still in error: the state every run starts from until its counts come in."""
    return CheckResult(
        id=check.id, category=check.category.value, context=check.context.value, level=check.level.value,
        table=check.table, field=check.field, description=check.description, severity=check.severity.value,
        threshold=check.threshold, status=Status.error,
    )


def _sql(warehouse: Any, expr: ibis.Table) -> str | None:
    """The SQL of the count query, from the warehouse, else from the expression's own backend."""
    for compile_sql in (warehouse.to_sql, ibis.to_sql):
        try:
            return str(compile_sql(expr))
        except Exception:  # noqa: BLE001 - the SQL text is informative, never required
            continue
    return None


def plain_value(value: Any) -> Any:
    """A numpy scalar or pandas missing value as a plain Python value (JSON-ready sample ids)."""
    if hasattr(value, "item"):
        return value.item()
    if pd.isna(value):
        return None
    return value


def optional_attribute(obj: Any, attribute: str) -> Any:
    """`obj.attribute`, or None when it is absent or cannot be read (provenance stamps are best effort)."""
    try:
        return getattr(obj, attribute, None)
    except Exception:  # noqa: BLE001 - a stamp that cannot be read is left empty
        return None


def summarise(results: Iterable[CheckResult]) -> dict[str, int]:
    """Count of checks per status, for one-line summaries."""
    counts = {status.value: 0 for status in Status}
    for result in results:
        counts[result.status.value] += 1
    return counts
