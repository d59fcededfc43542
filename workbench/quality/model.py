"""The vocabulary of data-quality checks: declarations, probes and results.

The model follows the Kahn framework used by the OHDSI Data Quality Dashboard:
a *context* (verification against the model's own rules, validation against
external truth), a *category* (conformance, completeness, plausibility) and a
*level* (table, field, concept). Each check tolerates a share of violating
rows (its threshold, in percent) before it fails.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from workbench.quality.context import CheckContext


class Context(str, Enum):
    verification = "verification"
    validation = "validation"


class Category(str, Enum):
    conformance = "conformance"
    completeness = "completeness"
    plausibility = "plausibility"


class Level(str, Enum):
    table = "table"
    field = "field"
    concept = "concept"


class Severity(str, Enum):
    """How much a failure matters: `error` makes indicators unfit, `warning` calls for caution."""

    error = "error"
    warning = "warning"
    info = "info"


class Status(str, Enum):
    passed = "passed"
    failed = "failed"
    not_applicable = "not_applicable"
    error = "error"


ID_COLUMN = "_id"
VIOLATED_COLUMN = "_violated"
# Optional columns of a probe that let a run be restricted to hospitals and a period
# (the "fit for use" status of an indicator on the figures a user is looking at).
HOSPITAL_COLUMN = "_scope_hospital"
DATE_COLUMN = "_scope_date"


class NotApplicable(Exception):
    """Raised while building a probe when this source lacks what the check needs."""


@dataclass(frozen=True)
class Probe:
    """What a check measures: one row per checked unit, with its id and whether it violates.

    `rows` has two columns, ``_id`` and ``_violated`` (boolean, never null),
    and, when the unit belongs to a hospital and a date, ``_scope_hospital``
    (care_site_id) and ``_scope_date``; its row count is the denominator. Keeping every check in this one
    shape lets the engine count, sample and list violations the same way on
    every backend, with one aggregate query per check.
    """

    rows: "ir.Table"

    @property
    def scoped(self) -> bool:
        """Whether this probe can be restricted to hospitals and a period."""
        return HOSPITAL_COLUMN in self.rows.columns and DATE_COLUMN in self.rows.columns


@dataclass(frozen=True)
class Check:
    """A declared check: identity, Kahn classification, French description, tolerance."""

    id: str
    context: Context
    category: Category
    level: Level
    table: str
    field: str | None
    description: str
    threshold: float
    severity: Severity
    build: Callable[["CheckContext"], Probe] = field(repr=False, compare=False)
    subcategory: str | None = None

    def describe(self) -> dict[str, Any]:
        """The declaration as plain values (for listings and the results store)."""
        return {
            "id": self.id,
            "context": self.context.value,
            "category": self.category.value,
            "subcategory": self.subcategory,
            "level": self.level.value,
            "table": self.table,
            "field": self.field,
            "description": self.description,
            "threshold": self.threshold,
            "severity": self.severity.value,
        }


@dataclass
class CheckResult:
    """The outcome of one check on one warehouse snapshot."""

    id: str
    category: str
    context: str
    level: str
    table: str
    field: str | None
    description: str
    severity: str
    threshold: float
    status: Status
    num_violated_rows: int | None = None
    num_denominator_rows: int | None = None
    pct_violated_rows: float | None = None
    execution_time_s: float = 0.0
    sql: str | None = None
    sample_ids: list[Any] = field(default_factory=list)
    reason: str | None = None

    JSON_KEYS = (
        "id", "category", "context", "level", "table", "field", "status", "threshold",
        "num_violated_rows", "num_denominator_rows", "pct_violated_rows",
        "execution_time_s", "sql", "sample_ids", "reason",
    )

    def to_json(self) -> dict[str, Any]:
        """The contract of `workbench quality run --format json` for one check."""
        values = {key: getattr(self, key) for key in self.JSON_KEYS}
        values["status"] = self.status.value
        return values

    def to_record(self) -> dict[str, Any]:
        """Every field, for the results store and the report."""
        record = self.to_json()
        record.update(description=self.description, severity=self.severity)
        return record


@dataclass
class RunResult:
    """A run of checks: the results in declaration order, stamped with the snapshot."""

    run_id: str
    snapshot_id: str | None
    started_at: str
    duration_s: float
    results: list[CheckResult]
    catalog: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "snapshot_id": self.snapshot_id,
            "checks": [result.to_json() for result in self.results],
        }

    def by_id(self) -> dict[str, CheckResult]:
        return {result.id: result for result in self.results}
