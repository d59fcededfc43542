"""The answer to one indicator request, whichever path computed it (plain engine or disclosure policy).

Its own module so that the plain engine, the disclosure policy and the router
that chooses between them all build it without importing each other.
"""

from __future__ import annotations

from typing import Any, Callable

import ibis.expr.types as ir
import pandas as pd

from workbench.indicators.lineage import Lineage

OK = "ok"
UNAVAILABLE = "non disponible pour cette source"


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
