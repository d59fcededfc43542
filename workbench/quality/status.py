"""Fit for use: the quality status of an indicator for the hospitals and period a figure shows.

An indicator page lists the checks its figures depend on (`quality_checks`,
either check ids or DQD-style references such as
``plausibleStartBeforeEnd:stays``). Those checks are run restricted to the
figure's hospitals and months, and the status is:

- ``unfit`` when a check of severity `error` fails there;
- ``caution`` when only warnings fail, or a check could not be judged
  (error, unknown reference), so the figure should be read with care;
- ``fit`` otherwise.

The badge is asked for on every KPI card of every filter change, so the checks
are not re-run per scope. Once per (warehouse snapshot, user policy), each check
whose units carry a hospital and a date (stays' dates and PMSI fields, stays
after death, feed start/stop and AREM-lag cells...) is counted by hospital ×
month in one grouped query: violations, denominator, and the five smallest
violating ids of each cell. A scope's result is then the sum of its cells,
classified by the engine's own rule: exactly what running the check restricted
to the scope gives. The other checks cannot be decomposed (no hospital or date
on their units: identity duplicates, codes in the nomenclatures, biology
plausibility, deaths per hospital...) or could not be built (not applicable,
in error): their result is the same for every scope, so they are run once per
snapshot, as `run_checks` runs them. Still run on the scope itself, as before:
a period that does not start on a first of the month or end on a last day (it
cuts month cells), and a check whose grouped count failed on this backend.
Differences with a run restricted to the scope: the SQL text of the scope's
count query is not compiled (``sql`` is None on summed results; compiling it
was a third of the badge's cost and no surface shows it), and
``execution_time_s`` is the time of the sum.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from workbench import access
from workbench.indicators.engine import prepare
from workbench.quality.checks import all_checks
from workbench.quality.context import CheckContext
from workbench.quality.disclosure import DEFAULT_MIN_COUNT, masked_result
from workbench.quality.engine import Scope, run_check, run_checks
from workbench.quality.model import CheckResult, Status
from workbench.quality.summaries import SAMPLE_SIZE, snapshot_quality

FIT, CAUTION, UNFIT = "fit", "caution", "unfit"
BADGE_LABELS = {FIT: "✔ données conformes", CAUTION: "⚠ à lire avec prudence", UNFIT: "✖ données non fiables"}
"""The French wording of the badge, the same on every surface (dashboard, terminal, static site)."""

# DQD-style references used on the wiki pages -> the checks that implement them here.
REFERENCES: dict[str, tuple[str, ...]] = {
    "plausibleStartBeforeEnd:stays": ("visit_occurrence_start_before_end",),
    "plausibleStartBeforeEnd:unit_stays": ("visit_detail_start_before_end",),
    "measureValueCompleteness:stays.end_datetime": ("visit_occurrence_end_missing_old",),
    "measureValueCompleteness:stays.ghm": ("visit_occurrence_has_ghm",),
    "measureValueCompleteness:stays.discharge_mode": ("visit_occurrence_discharge_to_source_value_present",),
    "measureValueCompleteness:stays.provenance": ("visit_occurrence_admitted_from_source_value_present",),
    "measureValueCompleteness:care_site_capacity.beds_installed": ("care_site_capacity_beds_installed_required",),
    "isValidCode:stays.ghm": ("cost_drg_source_value_format",),
    "isValidCode:diagnoses.code": ("condition_occurrence_condition_source_value_in_cim10",),
    "plausibleValueHigh:biology.value": (
        "measurement_weight_plausible", "measurement_height_plausible", "measurement_value_plausible"),
    "withinVisitDates:biology": ("measurement_within_stay",),
    "duplicatePersons:patients": ("person_identity_duplicates",),
    "plausibleDeathConsistency:stays.died": ("visit_occurrence_death_recorded", "visit_occurrence_hospital_deaths"),
    "volumeStep:stays.hospital": ("visit_occurrence_feed_start", "visit_occurrence_feed_stop"),
}


@dataclass
class QualityStatus:
    """The badge of one indicator on one scope, with the checks behind it."""

    status: str
    failing: list[CheckResult] = field(default_factory=list)
    checks: list[CheckResult] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return BADGE_LABELS.get(self.status, self.status)

    def reasons(self) -> list[str]:
        """Why the badge is not 'fit': the failing checks, then the references that match no check."""
        return [f"{r.id} : {r.description}" for r in self.failing] + [f"contrôle inconnu : {u}" for u in self.unknown]

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "failing": [result.to_json() for result in self.failing],
            "checks": [result.id for result in self.checks],
            "unknown": self.unknown,
        }


def resolve(references: Iterable[str]) -> tuple[list[str], list[str]]:
    """Check ids for the references of a page, and the references that match nothing."""
    known = {check.id for check in all_checks()}
    ids: list[str] = []
    unknown: list[str] = []
    for reference in references:
        matched = (reference,) if reference in known else REFERENCES.get(reference, ())
        if not matched:
            unknown.append(reference)
        ids += [check_id for check_id in matched if check_id not in ids]
    return ids, unknown


def quality_status(
    warehouse: Any,
    indicator_definition: Any,
    start: dt.date | None = None,
    end: dt.date | None = None,
    filters: Mapping[str, Any] | None = None,
) -> QualityStatus:
    """fit / caution / unfit for `indicator_definition` (or a list of references) on a scope.

    `filters` may restrict hospitals by code (``{"hospital": "014"}`` or a list of
    codes, as in the canonical views) or by id (``{"care_site_id": [...]}``).
    The first call for a snapshot and user policy counts the checks once (see
    the module docstring); the following ones sum cells in memory. Safe to call
    from several threads at once.
    """
    ids, unknown = resolve(_references(indicator_definition))
    snapshot = snapshot_quality(warehouse)
    if snapshot is None:  # nothing identifies the snapshot: no cache can be trusted
        return quality_status_by_run(warehouse, indicator_definition, start, end, filters)
    scope = Scope(start, end, _hospitals(filters or {}, lambda codes: snapshot.hospitals(warehouse, codes)))
    summaries = snapshot.summaries(warehouse, ids)
    context: CheckContext | None = None
    results = []
    for check_id in ids:
        result = summaries[check_id].result_for(scope)
        if result is None:  # not summable on this scope: run restricted to it, as `run_checks` does
            context = context or CheckContext(warehouse)
            result = run_check(context, summaries[check_id].check, SAMPLE_SIZE, scope)
        results.append(result)
    return _badge(results, unknown)


def quality_status_by_run(
    warehouse: Any,
    indicator_definition: Any,
    start: dt.date | None = None,
    end: dt.date | None = None,
    filters: Mapping[str, Any] | None = None,
) -> QualityStatus:
    """The badge by running the checks restricted to the scope: the definition `quality_status` must equal.

    Used when a warehouse has no snapshot id, and by the tests as the reference.
    """
    ids, unknown = resolve(_references(indicator_definition))
    scope = Scope(start, end, _hospitals(filters or {}, _look_up(warehouse)))
    results = run_checks(warehouse, ids, sample_size=SAMPLE_SIZE, scope=scope).results if ids else []
    return _badge(results, unknown)


def warm_quality(warehouse: Any, definitions: Iterable[Any] | None = None) -> None:
    """Count the checks of `definitions` (default: every check a DQD reference names) for this snapshot and user.

    Meant for a background thread at server start, so that the first badge a
    user sees is as fast as the next ones; badges asked meanwhile wait for it.
    """
    if definitions is None:
        references: list[str] = list(REFERENCES)
    else:
        references = [reference for definition in definitions for reference in _references(definition)]
    snapshot = snapshot_quality(warehouse)
    if snapshot is not None:
        snapshot.summaries(warehouse, resolve(references)[0])


def _references(indicator_definition: Any) -> list[str]:
    return list(getattr(indicator_definition, "quality_checks", indicator_definition) or [])


def _badge(results: list[CheckResult], unknown: list[str]) -> QualityStatus:
    failing = [r for r in results if r.status is Status.failed]
    if any(r.severity == "error" for r in failing):
        status = UNFIT
    elif failing or unknown or any(r.status is Status.error for r in results):
        status = CAUTION
    else:
        status = FIT
    return QualityStatus(status, failing, results, unknown)


def _hospitals(filters: Mapping[str, Any], look_up: Callable[[list[str]], tuple[int, ...]]) -> tuple[int, ...] | None:
    """care_site_ids of the hospitals in `filters` (codes turned into ids by `look_up`), or None."""
    if "care_site_id" in filters:
        return tuple(int(v) for v in _as_list(filters["care_site_id"]))
    if "hospital" not in filters:
        return None
    return look_up([str(code) for code in _as_list(filters["hospital"])])


def _look_up(warehouse: Any) -> Callable[[list[str]], tuple[int, ...]]:
    """Hospital codes -> care_site_ids by a query on `care_site` (the reference path: one query per badge)."""
    def look_up(codes: list[str]) -> tuple[int, ...]:
        table = warehouse.table("care_site")
        found = warehouse.execute(
            table.filter(table.care_site_source_value.isin(codes)).select("care_site_id")
        )["care_site_id"].tolist()
        return tuple(int(v) for v in found)

    return look_up


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple, set, frozenset)) else [value]


__all__ = [
    "FIT", "CAUTION", "UNFIT", "QualityStatus", "quality_status", "quality_status_by_run", "warm_quality", "resolve",
    "REFERENCES",
]


def badge(warehouse: Any, indicator_definition: Any, start: dt.date | None = None, end: dt.date | None = None,
          filters: Mapping[str, Any] | None = None) -> QualityStatus:
    """The fit-for-use badge as the warehouse's user may see it: the one rule of every surface.

    A patient-level user's badge reads his own rows. A user who sees
    aggregates only (référent pilotage, équipe entrepôt) gets the whole
    warehouse's badge — his own handle refuses the raw tables the checks read —
    with its check results masked as for any aggregates-only reader (no failing
    ids, no count under k): the status and the checks' descriptions remain.
    """
    user = getattr(warehouse, "user", None)
    if access.row_access(user) != access.AGGREGATES_ONLY:
        return quality_status(warehouse, indicator_definition, start, end, filters)
    whole = quality_status(warehouse.unrestricted(), indicator_definition, start, end, filters)
    k = getattr(user, "min_count", DEFAULT_MIN_COUNT)
    return QualityStatus(whole.status, failing=[masked_result(result, k) for result in whole.failing],
                         checks=[masked_result(result, k) for result in whole.checks], unknown=whole.unknown)


def quality_for_request(warehouse: Any, definition: Any, **request: Any) -> QualityStatus:
    """The badge for the same request as `engine.compute(definition, warehouse, **request)`.

    The period is resolved by the engine's own rules, so the badge always covers
    exactly the months of the figure it stands beside.
    """
    _, resolved = prepare(definition, warehouse, **request)
    return badge(warehouse, definition, resolved.start, resolved.end, resolved.filters)
