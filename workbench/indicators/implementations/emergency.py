"""Hospitalisation after an emergency visit.

Emergency visits: stays of visit type ``urgence``, placed by arrival date (the
same population as ``passages_urgences``). A visit is followed by an
admission when the same patient has a hospital stay (visit type
``hospitalisés`` or ``hospitalisation incomplète``) that belongs to the same
administrative stay (same NDA, or recorded as following the visit), or that
starts between the arrival and 24 hours after the end of the visit. The
window is a parameter (``window_hours``).
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir

from workbench.indicators.compiler import Request, restrict
from workbench.indicators.implementations import register
from workbench.indicators.implementations.common import ADMISSION_VISIT_TYPES, group, literals


def _admissions(stays: ir.Table) -> ir.Table:
    """Hospital stays, under the column names `_pairs` joins on."""
    admissions = stays.filter(stays.visit_type.isin(literals(ADMISSION_VISIT_TYPES)))
    return admissions.select(
        stay_a=admissions.stay_id, person_a=admissions.person_id, nda_a=admissions.nda,
        preceding_a=admissions.preceding_stay_id, start_a=admissions.start_datetime,
    )


def _pairs(visits: ir.Table, admissions: ir.Table, window_hours: int) -> ir.Table:
    """(emergency visit, admission) pairs of one administrative stay: same NDA, recorded as following the
    visit, or starting between the arrival and `window_hours` after the visit ended."""
    left = visits.end_datetime.fill_null(visits.start_datetime)
    same_stay = (admissions.nda_a == visits.nda).fill_null(False) | (
        admissions.preceding_a == visits.stay_id
    ).fill_null(False)
    soon_after = (admissions.start_a >= visits.start_datetime) & (
        admissions.start_a <= left + ibis.interval(hours=window_hours)
    )
    return visits.join(admissions, [visits.person_id == admissions.person_a, same_stay | soon_after])


def emergency_visits(warehouse: Any, request: Request, window_hours: int) -> ir.Table:
    """Emergency visits of the period, with an `admitted` flag."""
    stays = warehouse.view("stays")
    visits = restrict(stays.filter(stays.visit_type == "urgence"), request, "start_date")
    followed = _pairs(visits, _admissions(stays), window_hours).select("stay_id").distinct()
    return visits.mutate(admitted=visits.stay_id.isin(followed.stay_id))


def merged_emergency_admissions(warehouse: Any, request: Request, window_hours: int) -> ir.Table:
    """Hospitalisations of the period that came through the emergency department (`from_emergency`)
    without an emergency visit of their own: the passage is merged into the stay (standard OMOP's
    262 "Emergency Room and Inpatient Visit"), so no `urgence` visit counts it."""
    stays = warehouse.view("stays")
    hospital = stays.visit_type.isin(literals(ADMISSION_VISIT_TYPES)) & stays.from_emergency.fill_null(False)
    candidates = restrict(stays.filter(hospital), request, "start_date")
    visits = stays.filter(stays.visit_type == "urgence")
    linked = _pairs(visits, _admissions(stays), window_hours).select("stay_a").distinct()
    return candidates.filter(candidates.stay_id.notin(linked.stay_a))


@register("passages_urgences_fusionnes", ratio=False, params={"window_hours": 24})
def emergency_passages(warehouse: Any, request: Request) -> ir.Table:
    """Emergency passages: emergency visits plus hospitalisations that came through the emergency
    department without a visit of their own (`merged_emergency_admissions`), by arrival date."""
    stays = warehouse.view("stays")
    window = int(request.params["window_hours"])
    visits = restrict(stays.filter(stays.visit_type == "urgence"), request, "start_date")
    merged = merged_emergency_admissions(warehouse, request, window)
    columns = ["person_id", *request.by]
    passages = visits.select(*columns).union(merged.select(*columns)).mutate(_none=ibis.null("int64"))
    return group(passages, request, numerator=passages.count(), denominator=passages._none.max(),
                 n_patients=passages.person_id.nunique())


@register("taux_hospit_urgences", scale=100.0, params={"window_hours": 24})
def hospitalisation_after_emergency(warehouse: Any, request: Request) -> ir.Table:
    """Emergency visits followed by an admission ÷ emergency visits (× 100)."""
    visits = emergency_visits(warehouse, request, int(request.params["window_hours"]))
    return group(
        visits, request,
        numerator=visits.count(where=visits.admitted),
        denominator=visits.count(),
        n_patients=visits.person_id.nunique(),
    )
