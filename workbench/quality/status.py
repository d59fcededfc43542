"""Fit for use: the quality status of an indicator for the hospitals and period a figure shows.

An indicator page lists the checks its figures depend on (`quality_checks`,
either check ids or DQD-style references such as
``plausibleStartBeforeEnd:stays``). Those checks are run restricted to the
figure's hospitals and months, and the status is:

- ``unfit`` when a check of severity `error` fails there;
- ``caution`` when only warnings fail, or a check could not be judged
  (error, unknown reference), so the figure should be read with care;
- ``fit`` otherwise.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping


from workbench.quality.checks import all_checks
from workbench.quality.engine import Scope, run_checks
from workbench.quality.model import CheckResult, Status

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
    """
    references = getattr(indicator_definition, "quality_checks", indicator_definition)
    ids, unknown = resolve(references or [])
    scope = Scope(start, end, _hospitals(warehouse, filters or {}))
    results = run_checks(warehouse, ids, sample_size=5, scope=scope).results if ids else []
    failing = [r for r in results if r.status is Status.failed]
    if any(r.severity == "error" for r in failing):
        status = UNFIT
    elif failing or unknown or any(r.status is Status.error for r in results):
        status = CAUTION
    else:
        status = FIT
    return QualityStatus(status, failing, results, unknown)


def _hospitals(warehouse: Any, filters: Mapping[str, Any]) -> tuple[int, ...] | None:
    """care_site_ids of the hospitals in `filters` (codes looked up in `care_site`), or None."""
    if "care_site_id" in filters:
        return tuple(int(v) for v in _as_list(filters["care_site_id"]))
    if "hospital" not in filters:
        return None
    codes = [str(code) for code in _as_list(filters["hospital"])]
    sites = warehouse.table("care_site")
    found = warehouse.execute(
        sites.filter(sites.care_site_source_value.isin(codes)).select("care_site_id")
    )["care_site_id"].tolist()
    return tuple(int(v) for v in found)


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple, set, frozenset)) else [value]


__all__ = ["FIT", "CAUTION", "UNFIT", "QualityStatus", "quality_status", "resolve", "REFERENCES"]


def quality_for_request(warehouse: Any, definition: Any, **request: Any) -> QualityStatus:
    """The badge for the same request as `engine.compute(definition, warehouse, **request)`.

    The period is resolved by the engine's own rules, so the badge always covers
    exactly the months of the figure it stands beside.
    """
    from workbench.indicators.engine import prepare

    _, resolved = prepare(definition, warehouse, **request)
    return quality_status(warehouse, definition, resolved.start, resolved.end, resolved.filters)
