"""Coding exhaustivity: the share of ended stays that have a principal diagnosis (DP), per PMSI source.

Population: ended MCO hospital stays (full hospitalisation, ambulatory,
séances), placed by discharge date. A stay is coded for a source when a DP
diagnosis of that source (ORBIS: coded day by day; AREM: DIM-validated, 1–2
months late) is linked to it. Measured as the data stand at the extraction
date, so recent months show the AREM lag. With ``source`` unset the result
carries a ``source`` column (one row per source); otherwise it is restricted
to that source.
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir

from workbench.errors import UserError
from workbench.indicators.compiler import Request, restrict
from workbench.indicators.implementations import register
from workbench.indicators.implementations.common import HOSPITAL_CATEGORIES, ended, group, literals

SOURCES = ("ORBIS", "AREM")


def _coded_for(stays: ir.Table, diagnoses: ir.Table, source: str) -> ir.Table:
    principal = diagnoses.filter(diagnoses.status == "DP", diagnoses.source == ibis.literal(source))
    return stays.mutate(source=ibis.literal(source), coded=stays.stay_id.isin(principal.stay_id))


@register("exhaustivite_codage", scale=100.0, requires={"diagnoses": ("source",)}, params={"source": None})
def coding_exhaustivity(warehouse: Any, request: Request) -> ir.Table:
    """Ended stays with a DP of the source ÷ ended stays (× 100)."""
    wanted = request.params["source"]
    if wanted is not None and wanted not in SOURCES:
        raise UserError(f"params : source doit valoir {', '.join(SOURCES)} (reçu {wanted!r})")
    stays = ended(warehouse.view("stays"))
    stays = stays.filter(stays.stay_type == "MCO", stays.stay_category.isin(literals(HOSPITAL_CATEGORIES)))
    stays = restrict(stays, request, "end_date")
    diagnoses = warehouse.view("diagnoses")
    per_source = [_coded_for(stays, diagnoses, source) for source in ([wanted] if wanted else SOURCES)]
    rows = ibis.union(*per_source) if len(per_source) > 1 else per_source[0]
    return group(
        rows, request, () if wanted else ("source",),
        numerator=rows.count(where=rows.coded),
        denominator=rows.count(),
        n_patients=rows.person_id.nunique(),
    )
