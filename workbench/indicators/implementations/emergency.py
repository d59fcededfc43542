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
from workbench.indicators.implementations._common import ADMISSION_VISIT_TYPES, group, literals


def emergency_visits(warehouse: Any, request: Request, window_hours: int) -> ir.Table:
    """Emergency visits of the period, with an `admitted` flag."""
    stays = warehouse.view("stays")
    visits = restrict(stays.filter(stays.visit_type == "urgence"), request, "start_date")
    admissions = stays.filter(stays.visit_type.isin(literals(ADMISSION_VISIT_TYPES)))
    admissions = admissions.select(
        person_a=admissions.person_id, nda_a=admissions.nda,
        preceding_a=admissions.preceding_stay_id, start_a=admissions.start_datetime,
    )
    left = visits.end_datetime.fill_null(visits.start_datetime)
    same_stay = (admissions.nda_a == visits.nda).fill_null(False) | (
        admissions.preceding_a == visits.stay_id
    ).fill_null(False)
    soon_after = (admissions.start_a >= visits.start_datetime) & (
        admissions.start_a <= left + ibis.interval(hours=window_hours)
    )
    pairs = visits.join(admissions, [visits.person_id == admissions.person_a, same_stay | soon_after])
    followed = pairs.select(pairs.stay_id).distinct()
    return visits.mutate(admitted=visits.stay_id.isin(followed.stay_id))


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
