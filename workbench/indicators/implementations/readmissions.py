"""Readmissions within N days (RH7, RH30), after the DGOS/ATIH 2018 method.

Index stays: MCO full-hospitalisation stays ending in the period, excluding
stays ending by a transfer or a mutation (mode de sortie 7/6: the patient did
not go home, the next stay is a continuation) and deaths (mode 9: no
readmission possible), and stays in the excluded CMDs (obstetrics 14/15 for
RH30). Séances and 0-night stays are never index stays nor readmissions.

Readmission: another MCO full-hospitalisation stay of the same patient whose
admission date is 1 to N days after the index discharge date, that is neither
planned (GHM in the planned list: séances, chemotherapy…) nor in an excluded
CMD. Counted in patients: numerator = patients with at least one readmitted
index stay in the cell, denominator = patients with an index stay in the cell.
"""

from __future__ import annotations

from typing import Any, Mapping

import ibis
import ibis.expr.types as ir

from workbench.indicators.compiler import Request, restrict
from workbench.indicators.implementations import register
from workbench.indicators.implementations.common import full_mco_stays, group, literals, not_in_cmd, starts_with_any

NOT_HOME_DISCHARGES = ("6", "7", "9")
"""Mutation, transfer, death: the index stay is excluded."""


def _requires(params: Mapping[str, Any]) -> Mapping[str, tuple[str, ...]]:
    needs_ghm = bool(params.get("excluded_cmd")) or bool(params.get("planned_ghm_prefixes"))
    return {"stays": ("ghm", "cmd")} if needs_ghm else {}


def readmission_flags(warehouse: Any, request: Request) -> ir.Table:
    """Index stays of the period (with dimensions) and whether each was followed by a readmission."""
    params = request.params
    window = int(params["window_days"])
    stays = full_mco_stays(warehouse.view("stays"))
    eligible = stays.filter(not_in_cmd(stays, params["excluded_cmd"]))
    index = eligible.filter(
        eligible.discharge_mode.isnull() | eligible.discharge_mode.notin(literals(NOT_HOME_DISCHARGES))
    )
    index = restrict(index, request, "end_date")
    later = eligible.filter(~starts_with_any(eligible.ghm, params["planned_ghm_prefixes"]))
    later = later.select(person_id_r=later.person_id, start_r=later.start_date)
    pairs = index.join(
        later,
        [
            index.person_id == later.person_id_r,
            later.start_r >= index.end_date + ibis.interval(days=1),
            later.start_r <= index.end_date + ibis.interval(days=window),
        ],
    )
    readmitted = pairs.select(pairs.stay_id).distinct()
    return index.mutate(readmitted=index.stay_id.isin(readmitted.stay_id))


@register(  # RH7: one module for both indicators, each registered under its wiki id
    "rh7",
    scale=100.0,
    requires=_requires,
    params={"window_days": 7, "excluded_cmd": [], "planned_ghm_prefixes": ["28"]},
)
@register(
    "rh30",
    scale=100.0,
    requires=_requires,
    params={"window_days": 30, "excluded_cmd": ["14", "15"], "planned_ghm_prefixes": ["28", "17M05", "17M06"]},
)
def readmissions(warehouse: Any, request: Request) -> ir.Table:
    """Patients readmitted 1–N days after an index stay ÷ patients with an index stay (× 100)."""
    index = readmission_flags(warehouse, request)
    patients = index.person_id.nunique()
    return group(
        index, request,
        numerator=index.person_id.nunique(where=index.readmitted),
        denominator=patients,
        n_patients=patients,
    )
