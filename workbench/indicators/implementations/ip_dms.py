"""IP-DMS: actual hospital days ÷ expected days at the reference length of stay of each GHM.

Population: ended MCO full-hospitalisation stays with a GHM that has a
reference (stays whose GHM is missing from the reference table cannot have an
expected length and are left out of both terms). Séances (CMD 28) are
excluded. Expected days = Σ over stays of the reference DMS of their GHM,
which is Σ over GHM of n stays × reference DMS. Medicine (GHM type M) and
surgery (type C) are reported separately: with ``activity`` unset the result
carries an ``activite`` column, otherwise it is restricted to that activity.
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir

from workbench.errors import UserError
from workbench.indicators.compiler import Request, restrict
from workbench.indicators.implementations import register
from workbench.indicators.implementations.common import full_mco_stays, group, not_in_cmd

ACTIVITIES = {"chirurgie": ("C",), "medecine": ("M",), "autre": ("K", "Z")}
"""GHM type letters of each activity (K: non-operative procedures, Z: undifferentiated)."""


def activity_of(ghm_type: ir.StringValue) -> ir.StringValue:
    """The activity label of a GHM type letter."""
    cases = [(ghm_type.isin([ibis.literal(t) for t in types]), ibis.literal(name)) for name, types in ACTIVITIES.items()]
    return ibis.cases(*cases, else_=ibis.literal("autre"))


@register("ip_dms", requires={"stays": ("ghm", "ghm_type")}, tables=("ghm_reference_dms",), params={"activity": None})
def ip_dms(warehouse: Any, request: Request) -> ir.Table:
    """Actual journées ÷ expected journées (reference DMS per GHM); 1 = as expected."""
    activity = request.params["activity"]
    if activity is not None and activity not in ACTIVITIES:
        raise UserError(f"params : activity doit valoir {', '.join(ACTIVITIES)} (reçu {activity!r})")
    stays = full_mco_stays(warehouse.view("stays"))
    stays = stays.filter(stays.ghm.notnull(), not_in_cmd(stays, ["28"]))
    stays = restrict(stays.mutate(activite=activity_of(stays.ghm_type)), request, "end_date")
    if activity is not None:
        stays = stays.filter(stays.activite == ibis.literal(activity))
    reference = warehouse.table("ghm_reference_dms").select("ghm", "reference_dms")
    joined = stays.join(reference, stays.ghm == reference.ghm)
    extra = () if activity is not None else ("activite",)
    return group(
        joined, request, extra,
        numerator=joined.nights.sum().cast("float64"),
        denominator=joined.reference_dms.sum(),
        n_patients=joined.person_id.nunique(),
    )
