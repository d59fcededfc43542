"""DMS version 1 (2015–2023): open stays counted up to the extraction date.

Before the referents' decision of 14/11/2023, a full-hospitalisation stay
still open at the extraction date was counted with a length stopped at that
date and placed in the extraction month. Kept so that a figure published
then can be recomputed under the definition in force at the time.
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir

from workbench.indicators.compiler import Request, restrict
from workbench.indicators.implementations import register
from workbench.indicators.implementations.common import FULL_HOSPITALISATION, group


@register("dms")  # DMS version 1 (open stays counted up to the extraction date)
def dms_open_stays(warehouse: Any, request: Request) -> ir.Table:
    """Σ nights ÷ full-hospitalisation stays, open stays stopped at the extraction date."""
    stays = warehouse.view("stays")
    now = ibis.literal(request.extraction_date or request.end)
    open_ = stays.is_open.fill_null(False) | stays.end_date.isnull()
    stays = stays.filter(
        (stays.stay_category == FULL_HOSPITALISATION) | (open_ & (stays.visit_type == "hospitalisés"))
    )
    stays = stays.mutate(
        counted_until=ibis.ifelse(open_, now, stays.end_date),
        counted_nights=ibis.ifelse(open_, now.delta(stays.start_date, unit="day"), stays.nights),
    )
    stays = stays.filter(stays.counted_nights.notnull(), stays.counted_nights >= 0)
    stays = restrict(stays, request, "counted_until")
    return group(
        stays, request,
        numerator=stays.counted_nights.sum(),
        denominator=stays.count(),
        n_patients=stays.person_id.nunique(),
    )
