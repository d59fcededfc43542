"""Feed completeness over time, per hospital (edsteva-style probes).

For each hospital h and month t, volume(h, t) is the number of distinct stays
with a row of the table dated in t (stays, not rows: events cluster by stay),
and c(h, t) = volume(h, t) / reference(h), where the reference is the median
monthly volume of h over the months where it has data (the extraction month is
prorated by the days elapsed before the extraction day). The stated rule: a
month is judged only when its expected volume is at least 8 stays (below, a
Poisson count is too noisy to tell an outage from chance), and it is *low* when
c < 0.25. A hospital whose feed **starts late** has low
months before its first normal month; one whose feed **stopped** has low months
after its last normal month. Isolated dips in between are seasonality or noise
and are not reported. Each violating unit is a cell ``"<care_site_id>:YYYY-MM"``
of the hospital × month grid (the grid spans the months the table covers).

Also here: AREM (DIM-validated PMSI) lagging behind ORBIS, and hospitals that
record no deaths although their activity makes some expected.
"""

from __future__ import annotations

import calendar
from functools import partial

import ibis
import ibis.expr.types as ir

from workbench.quality.context import CheckContext, month_key, month_start
from workbench.quality.model import (
    DATE_COLUMN, HOSPITAL_COLUMN, ID_COLUMN, VIOLATED_COLUMN, Category, Context, Level, Probe, Severity,
)
from workbench.quality.registry import declare

LOW_RATIO = 0.25
MIN_EXPECTED = 8.0
AREM_RATIO = 0.95
PMSI_VISITS = ("hospitalisés", "hospitalisation incomplète")
EXPECTED_DEATHS = 5.0

FEED = dict(category=Category.completeness, context=Context.validation)

# table -> its date column (events reach their hospital through their stay, except stays themselves).
FEED_TABLES = {
    "visit_occurrence": "visit_start_datetime",
    "visit_detail": "visit_detail_start_datetime",
    "condition_occurrence": "condition_start_datetime",
    "procedure_occurrence": "procedure_datetime",
    "measurement": "measurement_datetime",
    "drug_exposure_administration": "drug_exposure_start_datetime",
    "note": "note_datetime",
}


def _events(ctx: CheckContext, table_name: str) -> ir.Table:
    """(hospital, month) of every event of `table_name`, months up to the extraction month."""
    moment = FEED_TABLES[table_name]
    if table_name == "visit_occurrence":
        visits = ctx.table("visit_occurrence", "visit_occurrence_id", "care_site_id", moment)
        events = visits.select(_h=visits.care_site_id, _s=visits.visit_occurrence_id, _at=visits[moment])
    else:
        table = ctx.table(table_name, "visit_occurrence_id", moment)
        if table_name == "condition_occurrence" and "cdm_source" in table.columns:
            table = table.filter(table.cdm_source != "AREM")  # AREM lags by design: see arem_lag
        visits = ctx.table("visit_occurrence", "visit_occurrence_id", "care_site_id")
        hospitals = visits.select(_stay=visits.visit_occurrence_id, _h=visits.care_site_id)
        rows = table.select(_fk=table.visit_occurrence_id, _at=table[moment])
        events = rows.join(hospitals, rows._fk == hospitals._stay).select("_h", _s="_stay", _at="_at")
    events = events.filter(events._h.notnull() & events._at.notnull())
    events = events.select("_h", "_s", _m=month_key(events._at))
    return events.filter(events._m <= _current_month(ctx))


def _current_month(ctx: CheckContext) -> str:
    return f"{ctx.extraction_date:%Y-%m}"


def _elapsed_fraction(ctx: CheckContext) -> float:
    """Share of the extraction month before the extraction day (data run up to, not including, that day)."""
    day = ctx.extraction_date
    return (day.day - 1) / calendar.monthrange(day.year, day.month)[1]


def volume_grid(ctx: CheckContext, table_name: str) -> ir.Table:
    """Hospital × month grid with volume `_n`, ratio `_c` to the hospital's reference, and `_ok`."""
    events = _events(ctx, table_name)
    counts = events.group_by("_h", "_m").aggregate(_n=events._s.nunique())
    months = events.select("_m").distinct()
    hospitals = events.select(_hh=events._h).distinct()
    grid = hospitals.cross_join(months)
    grid = grid.left_join(counts, (grid._hh == counts._h) & (grid._m == counts._m))
    grid = grid.select(_h=grid._hh, _m=grid._m, _n=grid._n.fill_null(0))
    reference = counts.group_by(_rh="_h").aggregate(_ref=counts._n.median())
    grid = grid.join(reference, grid._h == reference._rh)
    prorata = ibis.ifelse(grid._m == _current_month(ctx), _elapsed_fraction(ctx), 1.0)
    grid = grid.mutate(_expected=grid._ref.cast("float64") * prorata)
    judged = grid.filter(grid._expected >= MIN_EXPECTED)
    return judged.select("_h", "_m", "_n", _c=judged._n / judged._expected,
                         _ok=judged._n >= LOW_RATIO * judged._expected)


def _feed_probe(ctx: CheckContext, table_name: str, side: str) -> Probe:
    """Low months before the first normal month (`start`) or after the last one (`stop`)."""
    grid = volume_grid(ctx, table_name)
    bounds = grid.filter(grid._ok).group_by(_bh="_h").aggregate(_first=ibis._._m.min(), _last=ibis._._m.max())
    joined = grid.join(bounds, grid._h == bounds._bh)
    outside = joined._m < joined._first if side == "start" else joined._m > joined._last
    return _cells(joined, outside & ~joined._ok)


def _cells(table: ir.Table, violated: ir.BooleanValue) -> Probe:
    """A probe over hospital (`_h`) × month (`_m`) cells, id ``"<care_site_id>:YYYY-MM"``, scoped."""
    return Probe(table.select(**{
        ID_COLUMN: table._h.cast("string").concat(":", table._m),
        VIOLATED_COLUMN: violated,
        HOSPITAL_COLUMN: table._h,
        DATE_COLUMN: month_start(table._m),
    }))


for _table in FEED_TABLES:
    declare(
        f"{_table}_feed_start", **FEED, subcategory="temporal", level=Level.table, table=_table, field=None,
        description=f"Le flux de {_table} de chaque hôpital ne démarre pas en retard : aucun mois avant le "
        f"premier mois normal n'a un volume inférieur à {LOW_RATIO:.0%} du volume mensuel médian de l'hôpital.",
        threshold=0.0, severity=Severity.error, build=partial(_feed_probe, table_name=_table, side="start"),
    )
    declare(
        f"{_table}_feed_stop", **FEED, subcategory="temporal", level=Level.table, table=_table, field=None,
        description=f"Le flux de {_table} de chaque hôpital ne s'arrête pas : aucun mois après le dernier mois "
        f"normal n'a un volume inférieur à {LOW_RATIO:.0%} du volume mensuel médian (mois d'extraction au prorata).",
        threshold=0.0, severity=Severity.error, build=partial(_feed_probe, table_name=_table, side="stop"),
    )


def _arem_lag(ctx: CheckContext) -> Probe:
    """Hospital × discharge-month cells where AREM covers fewer than 95% of the stays ORBIS coded.

    Only hospitalisation stays (full or partial) are sent to the PMSI, hence to
    AREM; emergency and outpatient visits are coded in ORBIS only.
    """
    conditions = ctx.table("condition_occurrence", "visit_occurrence_id", "cdm_source")
    visits = ctx.table("visit_occurrence", "visit_occurrence_id", "care_site_id", "visit_end_datetime",
                       "visit_source_value")
    stays = visits.filter(visits.visit_source_value.isin(PMSI_VISITS) & visits.visit_end_datetime.notnull())
    stays = stays.select(_stay=stays.visit_occurrence_id, _h=stays.care_site_id, _m=month_key(stays.visit_end_datetime))
    coded = conditions.select(_fk=conditions.visit_occurrence_id, _src=conditions.cdm_source)
    joined = coded.join(stays, coded._fk == stays._stay).filter(ibis._._m <= _current_month(ctx))
    cells = joined.group_by("_h", "_m").aggregate(
        _orbis=joined._stay.nunique(where=joined._src == "ORBIS"),
        _arem=joined._stay.nunique(where=joined._src == "AREM"),
    )
    cells = cells.filter(cells._orbis > 0)
    return _cells(cells, cells._arem < AREM_RATIO * cells._orbis)


declare(
    "condition_occurrence_arem_lag", **FEED, subcategory="temporal", level=Level.table,
    table="condition_occurrence", field="cdm_source",
    description=f"Pour chaque hôpital et chaque mois de sortie, le PMSI validé (AREM) couvre au moins "
    f"{AREM_RATIO:.0%} des séjours d'hospitalisation codés dans ORBIS (sinon : retard de validation, mois "
    "récents sous-estimés).",
    threshold=0.0, severity=Severity.warning, build=_arem_lag,
)


def _no_deaths(ctx: CheckContext) -> Probe:
    """Hospitals without any death (mode de sortie 9) where the group's death rate predicts ≥ 5."""
    ctx.require_aphp()
    visits = ctx.table("visit_occurrence", "care_site_id", "visit_source_value", "discharge_to_source_value")
    stays = visits.filter(visits.visit_source_value == "hospitalisés")
    died = (stays.discharge_to_source_value == "9").cast("int64")
    per_hospital = stays.group_by(_h=stays.care_site_id).aggregate(_stays=ibis._.count(), _deaths=died.sum())
    overall = per_hospital.aggregate(_all_stays=per_hospital._stays.sum(), _all_deaths=per_hospital._deaths.sum())
    joined = per_hospital.cross_join(overall)
    expected = joined._stays * joined._all_deaths.cast("float64") / joined._all_stays
    return Probe(joined.select(**{ID_COLUMN: joined._h, VIOLATED_COLUMN: (joined._deaths == 0) & (expected >= EXPECTED_DEATHS)}))


declare(
    "visit_occurrence_hospital_deaths", **FEED, subcategory="atemporal", level=Level.table,
    table="visit_occurrence", field="discharge_to_source_value",
    description="Chaque hôpital enregistre des décès (mode de sortie 9) dès que son activité d'hospitalisation, "
    f"au taux de décès de l'ensemble des hôpitaux, en laisse attendre au moins {EXPECTED_DEATHS:.0f}.",
    threshold=0.0, severity=Severity.error, build=_no_deaths,
)
