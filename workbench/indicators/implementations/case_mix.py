"""Case-mix: the share of stays in each CMD, GHM type or severity level.

Population: ended MCO hospital stays (full hospitalisation, ambulatory,
séances) with a GHM, placed by discharge date. The result carries one extra
column named after the ``axis`` parameter (``cmd``, ``ghm_type`` or
``ghm_severity``): numerator = stays of that class in the cell, denominator =
stays of the cell over all classes, value = share in %.
"""

from __future__ import annotations

from typing import Any

import ibis.expr.types as ir

from workbench.errors import UserError
from workbench.indicators.compiler import METRICS, Request, restrict
from workbench.indicators.implementations import register
from workbench.indicators.implementations.common import HOSPITAL_CATEGORIES, ended, literals

AXES = ("cmd", "ghm_type", "ghm_severity")


@register("case_mix", scale=100.0, requires={"stays": ("ghm", "cmd", "ghm_type", "ghm_severity")}, params={"axis": "cmd"})
def case_mix(warehouse: Any, request: Request) -> ir.Table:
    """Stays of each class ÷ stays of the cell (× 100)."""
    axis = request.params["axis"]
    if axis not in AXES:
        raise UserError(f"params : axis doit valoir {', '.join(AXES)} (reçu {axis!r})")
    stays = ended(warehouse.view("stays"))
    stays = stays.filter(
        stays.stay_type == "MCO", stays.stay_category.isin(literals(HOSPITAL_CATEGORIES)), stays.ghm.notnull()
    )
    stays = restrict(stays, request, "end_date")
    keys = [*request.by, axis]
    counts = stays.group_by(keys).aggregate(numerator=stays.count(), n_patients=stays.person_id.nunique())
    window = {"group_by": list(request.by)} if request.by else {}
    total = counts.numerator.sum().over(**window)
    return counts.mutate(denominator=total).select(*keys, *METRICS)
