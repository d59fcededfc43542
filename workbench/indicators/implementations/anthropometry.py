"""Weight/height completeness: full-hospitalisation stays with both a weight and a height measured during the stay.

Population: ended full-hospitalisation stays (all fields), placed by
discharge date. A measurement counts when it is a weight (LOINC 29463-7) or a
height (LOINC 8302-2) of the same patient, with a value, taken between the
admission and the discharge (a measurement dated outside the stay does not
count, even if it is linked to it).
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir

from workbench.indicators.compiler import Request, restrict
from workbench.indicators.implementations import register
from workbench.indicators.implementations.common import FULL_HOSPITALISATION, ended, group

WEIGHT_LOINC = "29463-7"
HEIGHT_LOINC = "8302-2"


def _measured(stays: ir.Table, biology: ir.Table, loinc: str) -> ir.Table:
    """Ids of the stays with a measurement of `loinc` taken during the stay."""
    found = biology.filter(biology.loinc == ibis.literal(loinc), biology.value.notnull())
    found = found.select(person_m=found.person_id, at=found.datetime)
    pairs = stays.join(
        found,
        [
            stays.person_id == found.person_m,
            found.at >= stays.start_datetime,
            found.at <= stays.end_datetime,
        ],
    )
    return pairs.select(pairs.stay_id).distinct()


@register("completude_poids_taille", scale=100.0)
def weight_height_completeness(warehouse: Any, request: Request) -> ir.Table:
    """Stays with a weight and a height measured during the stay ÷ full-hospitalisation stays (× 100)."""
    stays = ended(warehouse.view("stays"))
    stays = restrict(stays.filter(stays.stay_category == FULL_HOSPITALISATION), request, "end_date")
    biology = warehouse.view("biology")
    weighed = _measured(stays, biology, WEIGHT_LOINC)
    measured = _measured(stays, biology, HEIGHT_LOINC)
    complete = stays.stay_id.isin(weighed.stay_id) & stays.stay_id.isin(measured.stay_id)
    stays = stays.mutate(complete=complete)
    return group(
        stays, request,
        numerator=stays.count(where=stays.complete),
        denominator=stays.count(),
        n_patients=stays.person_id.nunique(),
    )
