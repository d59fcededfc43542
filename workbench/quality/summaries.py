"""The once-per-snapshot summaries behind the quality badges: each check counted once, then summed per scope.

Split from :mod:`workbench.quality.status` (which decides the badge): this
module only counts. Per (warehouse snapshot, user policy), a check whose
units carry a hospital and a date is counted by hospital × month in one
grouped query (`Cells`), so a scope of whole months is the sum of its cells;
a check that cannot be restricted is run once (`Constant`); one whose grouped
count failed on this backend is run per scope (`PerScope`). See the status
module's docstring for why the sums equal a run restricted to the scope.
"""

from __future__ import annotations

import copy
import datetime as dt
import threading
import time
from collections import OrderedDict
from typing import Any, Iterable

import numpy as np
import pandas as pd

from workbench import access
from workbench.quality.checks import select_checks
from workbench.quality.context import CheckContext
from workbench.quality.engine import Scope, blank_result, classify, optional_attribute, plain_value, run_check
from workbench.quality.model import DATE_COLUMN, HOSPITAL_COLUMN, ID_COLUMN, VIOLATED_COLUMN, Check, CheckResult, Probe

SAMPLE_SIZE = 5
"""Violating ids kept per failing check of a badge."""


class Constant:
    """A check whose result is the same on every scope (not restrictable, not applicable, in error): run once."""

    def __init__(self, check: Check, result: CheckResult) -> None:
        self.check, self._result = check, result

    def result_for(self, scope: Scope) -> CheckResult:
        return copy.deepcopy(self._result)  # callers may annotate their results


class PerScope:
    """A restrictable check whose grouped count failed: it is run on each scope, as before."""

    def __init__(self, check: Check) -> None:
        self.check = check

    def result_for(self, scope: Scope) -> None:
        return None


class Cells:
    """A restrictable check counted by hospital × month: violations, denominator, smallest violating ids.

    A scope of whole months is a set of cells, so its counts are the sums of
    theirs; its smallest violating ids are among the `SAMPLE_SIZE` smallest of
    each of its cells. Hospitals and months are floats so that null keys (NaN)
    match no bound, as null values match no filter in the database.
    """

    def __init__(self, check: Check, cells: pd.DataFrame) -> None:
        self.check = check
        self._hospital = pd.to_numeric(cells["_h"]).to_numpy("float64", na_value=np.nan)
        self._month = pd.to_numeric(cells["_m"]).to_numpy("float64", na_value=np.nan)
        self._violated = cells["_violated"].fillna(0).to_numpy("int64")
        self._denominator = cells["_denominator"].fillna(0).to_numpy("int64")
        samples = [smallest_ids(ids if ids is not None else []) for ids in cells["_samples"].tolist()]
        lengths = [len(ids) for ids in samples]
        self._sample_hospital = np.repeat(self._hospital, lengths)
        self._sample_month = np.repeat(self._month, lengths)
        self._sample_ids = np.empty(sum(lengths), dtype=object)
        self._sample_ids[:] = [value for ids in samples for value in ids]

    @classmethod
    def count(cls, warehouse: Any, check: Check, probe: Probe) -> Cells:
        """One grouped query over the probe's rows: per cell, the counts and the smallest violating ids.

        Backends that cannot order an aggregate (Spark) return every violating
        id of each cell, and the smallest are kept here.
        """
        rows = probe.rows
        at = rows[DATE_COLUMN]
        cells = rows.select(_h=rows[HOSPITAL_COLUMN], _m=at.year() * 12 + at.month() - 1,
                            _id=rows[ID_COLUMN], _v=rows[VIOLATED_COLUMN])
        counts = {"_violated": cells._v.cast("int64").sum(), "_denominator": cells.count()}
        try:
            smallest = cells._id.collect(where=cells._v, order_by=cells._id, distinct=True)[:SAMPLE_SIZE]
            frame = warehouse.execute(cells.group_by("_h", "_m").aggregate(**counts, _samples=smallest))
        except Exception:  # noqa: BLE001 - unordered aggregate below, or the check runs per scope
            every = cells._id.collect(where=cells._v, distinct=True)
            frame = warehouse.execute(cells.group_by("_h", "_m").aggregate(**counts, _samples=every))
        return cls(check, frame)

    def result_for(self, scope: Scope) -> CheckResult | None:
        if not whole_months(scope):
            return None
        clock = time.perf_counter()
        result = blank_result(self.check)
        keep = cells_inside(self._hospital, self._month, scope)
        violated, denominator = int(self._violated[keep].sum()), int(self._denominator[keep].sum())
        classify(result, self.check, violated, denominator)
        if violated:
            inside = cells_inside(self._sample_hospital, self._sample_month, scope)
            result.sample_ids = smallest_ids(set(self._sample_ids[inside]))
        result.execution_time_s = round(time.perf_counter() - clock, 4)
        return result


def smallest_ids(ids: Iterable[Any]) -> list[Any]:
    """The `SAMPLE_SIZE` smallest ids, as `run_check` returns them (plain values, nulls last)."""
    return sorted((plain_value(value) for value in ids), key=lambda value: (value is None, value))[:SAMPLE_SIZE]


def whole_months(scope: Scope) -> bool:
    """Whether the scope's period starts on a first of the month and ends on a last day (or is unbounded)."""
    try:
        return (scope.start is None or scope.start.day == 1) and (
            scope.end is None or (scope.end + dt.timedelta(days=1)).day == 1)
    except OverflowError:  # the last representable day: left to the database
        return False


def cells_inside(hospital: np.ndarray, month: np.ndarray, scope: Scope) -> np.ndarray:
    """The cells a scope of whole months covers (a null month is outside any period, a null hospital any list)."""
    keep = np.ones(len(hospital), dtype=bool)
    if scope.hospitals is not None:
        keep &= np.isin(hospital, np.array(scope.hospitals, dtype="float64"))
    if scope.start is not None:
        keep &= month >= scope.start.year * 12 + scope.start.month - 1
    if scope.end is not None:
        keep &= month <= scope.end.year * 12 + scope.end.month - 1
    return keep


def summarise(context: CheckContext, check: Check) -> Constant | PerScope | Cells:
    """Once per snapshot: how `check` will answer every scope."""
    try:
        probe: Probe | None = check.build(context)
    except Exception:  # noqa: BLE001 - run_check below reports it, the same for every scope
        probe = None
    if probe is None or not probe.scoped:
        return Constant(check, run_check(context, check, SAMPLE_SIZE, Scope()))
    try:
        return Cells.count(context.warehouse, check, probe)
    except Exception:  # noqa: BLE001 - a backend that cannot group it still gets the badge, scope by scope
        return PerScope(check)


class SnapshotQuality:
    """The check summaries and hospital codes of one warehouse snapshot, as one user policy sees it."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._summaries: dict[str, Constant | PerScope | Cells] = {}
        self._sites: dict[str, tuple[int, ...]] | None = None

    def summaries(self, warehouse: Any, ids: list[str]) -> dict[str, Constant | PerScope | Cells]:
        """The summaries of `ids`, counting those not yet counted (one thread counts, the others wait)."""
        if any(check_id not in self._summaries for check_id in ids):
            with self._lock:
                missing = [check_id for check_id in ids if check_id not in self._summaries]
                if missing:
                    context = CheckContext(warehouse)
                    for check in select_checks(missing):
                        self._summaries[check.id] = summarise(context, check)
        return {check_id: self._summaries[check_id] for check_id in ids}

    def hospitals(self, warehouse: Any, codes: list[str]) -> tuple[int, ...]:
        """care_site_ids of hospital codes, from every code -> ids read once (not one query per badge)."""
        if self._sites is None:
            with self._lock:
                if self._sites is None:
                    table = warehouse.table("care_site")
                    frame = warehouse.execute(table.select("care_site_source_value", "care_site_id"))
                    sites: dict[str, tuple[int, ...]] = {}
                    pairs = zip(frame["care_site_source_value"].tolist(), frame["care_site_id"].tolist(), strict=True)
                    for code, site in pairs:
                        if not pd.isna(code) and not pd.isna(site):
                            sites[str(code)] = (*sites.get(str(code), ()), int(site))
                    self._sites = sites
        return tuple(site for code in dict.fromkeys(codes) for site in self._sites.get(code, ()))


CACHED_SNAPSHOTS = 64
"""Snapshot × policy entries kept (least recently used dropped): a few hundred kB each."""
_CACHE: OrderedDict[tuple[str, ...], SnapshotQuality] = OrderedDict()
_CACHE_LOCK = threading.Lock()


def snapshot_quality(warehouse: Any) -> SnapshotQuality | None:
    """The cache entry of this warehouse's catalogue, backend, snapshot and user policy (None: no snapshot id).

    The catalogue path is part of the key because snapshot ids are stamps
    (test warehouses share one); the policy because checks count only the
    rows of the user's perimeter.
    """
    snapshot = optional_attribute(warehouse, "snapshot_id")
    if not snapshot:
        return None
    user = getattr(warehouse, "user", None)
    key = (str(getattr(warehouse, "catalog_path", "")), str(getattr(warehouse, "backend_name", "")), str(snapshot),
           access.policy_key(user) if user is not None else "")
    with _CACHE_LOCK:
        entry = _CACHE.get(key)
        if entry is None:
            entry = _CACHE[key] = SnapshotQuality()
            while len(_CACHE) > CACHED_SNAPSHOTS:
                _CACHE.popitem(last=False)
        _CACHE.move_to_end(key)
    return entry
