"""Completeness checks: facts that should be there and are not.

Person completeness (patients without any stay), values without result or
unit, local biology codes without LOINC mapping, stays without diagnosis,
grouping or movement, stays left open long after they should have closed,
care sites outside the tree, deaths recorded on one side only.
"""

from __future__ import annotations

import datetime as dt
from functools import partial

import ibis
import ibis.expr.types as ir

from workbench.quality.context import CheckContext, flag
from workbench.quality.model import Category, Context, Level, Probe, Severity
from workbench.quality.registry import declare

COMPL = dict(category=Category.completeness, context=Context.verification)
OPEN_STAY_DAYS = 90
LATE_CODING_DAYS = 90


def _rows_without(ctx: CheckContext, parent: ir.Table, parent_key: str, child: ir.Table, child_key: str,
                  hospital: str | None = None, at: str | None = None) -> Probe:
    """Rows of `parent` that no row of `child` refers to (left join on distinct keys)."""
    keys = child.select(_key=child[child_key]).distinct()
    scope = {"_h": parent[hospital], "_at": parent[at]} if hospital and at else {}
    rows = parent.select(_row=parent[parent_key], **scope)
    joined = rows.left_join(keys, rows._row == keys._key)
    return flag(joined, "_row", joined._key.isnull(), hospital="_h" if scope else None, at="_at" if scope else None)


def _person_without_stay(ctx: CheckContext) -> Probe:
    return _rows_without(ctx, ctx.table("person", "person_id"), "person_id",
                         ctx.table("visit_occurrence", "person_id"), "person_id")


declare(
    "person_has_stay", **COMPL, level=Level.table, table="person", field=None,
    description="Chaque patient a au moins un séjour ou passage.",
    threshold=5.0, severity=Severity.warning, build=_person_without_stay,
)


def _closed_hospital_stays(ctx: CheckContext, *extra: str) -> ir.Table:
    """MCO full-hospitalisation stays discharged long enough ago to be coded and grouped."""
    visits = ctx.table("visit_occurrence", "visit_occurrence_id", "visit_source_value", "stay_source_value",
                       "visit_end_datetime", "care_site_id", *extra)
    limit = ibis.timestamp(dt.datetime.combine(ctx.extraction_date - dt.timedelta(days=LATE_CODING_DAYS), dt.time()))
    return visits.filter(
        (visits.visit_source_value == "hospitalisés") & (visits.stay_source_value == "MCO")
        & (visits.visit_end_datetime < limit)
    )


def _stay_without_dp(ctx: CheckContext) -> Probe:
    conditions = ctx.table("condition_occurrence", "visit_occurrence_id", "condition_status_source_value")
    dp = conditions.filter(conditions.condition_status_source_value == "DP")
    return _rows_without(ctx, _closed_hospital_stays(ctx), "visit_occurrence_id", dp, "visit_occurrence_id",
                         hospital="care_site_id", at="visit_end_datetime")


declare(
    "visit_occurrence_has_dp", **COMPL, level=Level.table, table="visit_occurrence", field=None,
    description=f"Chaque séjour MCO d'hospitalisation sorti depuis plus de {LATE_CODING_DAYS} jours a un "
    "diagnostic principal (DP).",
    threshold=5.0, severity=Severity.warning, build=_stay_without_dp,
)


def _stay_without_ghm(ctx: CheckContext) -> Probe:
    return _rows_without(ctx, _closed_hospital_stays(ctx), "visit_occurrence_id",
                         ctx.table("cost", "visit_occurrence_id"), "visit_occurrence_id",
                         hospital="care_site_id", at="visit_end_datetime")


declare(
    "visit_occurrence_has_ghm", **COMPL, level=Level.table, table="visit_occurrence", field=None,
    description=f"Chaque séjour MCO d'hospitalisation sorti depuis plus de {LATE_CODING_DAYS} jours est "
    "groupé (GHM dans cost).",
    threshold=5.0, severity=Severity.warning, build=_stay_without_ghm,
)


def _stay_without_movement(ctx: CheckContext) -> Probe:
    visits = ctx.table("visit_occurrence", "visit_occurrence_id", "visit_source_value")
    hospital = visits.filter(visits.visit_source_value == "hospitalisés")
    return _rows_without(ctx, hospital, "visit_occurrence_id",
                         ctx.table("visit_detail", "visit_occurrence_id"), "visit_occurrence_id")


declare(
    "visit_occurrence_has_movement", **COMPL, level=Level.table, table="visit_occurrence", field=None,
    description="Chaque séjour d'hospitalisation a au moins un mouvement dans une unité.",
    threshold=5.0, severity=Severity.warning, build=_stay_without_movement,
)


def _open_stays(ctx: CheckContext, days: int) -> Probe:
    """Stays without discharge, started long ago, although the patient has started a stay since.

    A stay still running at extraction is legitimately open; one the patient has
    left (a later stay exists) and that is older than `days` was never closed.
    """
    visits = ctx.table("visit_occurrence", "visit_occurrence_id", "person_id", "care_site_id",
                       "visit_start_datetime", "visit_end_datetime")
    last = visits.group_by(_p=visits.person_id).aggregate(_last=visits.visit_start_datetime.max())
    limit = ibis.timestamp(dt.datetime.combine(ctx.extraction_date - dt.timedelta(days=days), dt.time()))
    joined = visits.join(last, visits.person_id == last._p)
    violated = (
        joined.visit_end_datetime.isnull() & (joined.visit_start_datetime < limit)
        & (joined._last > joined.visit_start_datetime)
    )
    return flag(joined, "visit_occurrence_id", violated, hospital="care_site_id", at="visit_start_datetime")


declare(
    "visit_occurrence_end_missing_old", **COMPL, level=Level.field, table="visit_occurrence",
    field="visit_end_datetime",
    description=f"Un séjour commencé plus de {OPEN_STAY_DAYS} jours avant l'extraction, suivi d'un autre séjour "
    "du même patient, a une date de sortie (sinon : séjour jamais clôturé, qui fausse les durées).",
    threshold=0.0, severity=Severity.error, build=partial(_open_stays, days=OPEN_STAY_DAYS),
)


def _closed_stay_field(ctx: CheckContext, column: str) -> Probe:
    """Discharged MCO hospitalisation stays whose PMSI `column` is empty."""
    stays = _closed_hospital_stays(ctx, column)
    return flag(stays, "visit_occurrence_id", stays[column].isnull(), hospital="care_site_id",
                at="visit_end_datetime")


for _column, _label in [("discharge_to_source_value", "le mode de sortie"),
                        ("admitted_from_source_value", "le mode d'entrée")]:
    declare(
        f"visit_occurrence_{_column}_present", **COMPL, level=Level.field, table="visit_occurrence", field=_column,
        description=f"Chaque séjour MCO d'hospitalisation sorti depuis plus de {LATE_CODING_DAYS} jours a "
        f"{_label} PMSI renseigné.",
        threshold=1.0, severity=Severity.warning, build=partial(_closed_stay_field, column=_column),
    )


def _beds_missing(ctx: CheckContext) -> Probe:
    capacity = ctx.table("care_site_capacity", "care_site_id", "beds_installed")
    return flag(capacity, "care_site_id", capacity.beds_installed.isnull())


declare(
    "care_site_capacity_beds_installed_required", **COMPL, level=Level.field, table="care_site_capacity",
    field="beds_installed",
    description="Chaque période de capacité d'une unité indique son nombre de lits installés.",
    threshold=0.0, severity=Severity.error, build=_beds_missing,
)


def _value_missing(ctx: CheckContext) -> Probe:
    table = ctx.table("measurement", "measurement_id", "value_as_number", "value_source_value")
    return flag(table, "measurement_id", table.value_as_number.isnull() & table.value_source_value.isnull())


declare(
    "measurement_value_present", **COMPL, level=Level.field, table="measurement", field="value_as_number",
    description="Chaque résultat de biologie a une valeur (numérique ou telle que reçue).",
    threshold=5.0, severity=Severity.warning, build=_value_missing,
)


def _unit_missing(ctx: CheckContext) -> Probe:
    table = ctx.table("measurement", "measurement_id", "value_as_number", "unit_source_value")
    return flag(table, "measurement_id", table.value_as_number.notnull() & table.unit_source_value.isnull())


declare(
    "measurement_unit_present", **COMPL, level=Level.field, table="measurement", field="unit_source_value",
    description="Chaque résultat numérique a une unité.",
    threshold=5.0, severity=Severity.warning, build=_unit_missing,
)


def _unmapped_codes(ctx: CheckContext) -> Probe:
    table = ctx.table("measurement", "measurement_id", "measurement_source_concept_id")
    relationship = ctx.table("concept_relationship", "concept_id_1", "relationship_id")
    mapped = relationship.filter(relationship.relationship_id == "Maps to")
    rows = table.select(_row=table.measurement_id, _concept=table.measurement_source_concept_id)
    keys = mapped.select(_key=mapped.concept_id_1).distinct()
    joined = rows.left_join(keys, rows._concept == keys._key)
    return flag(joined, "_row", joined._concept.notnull() & joined._key.isnull())


declare(
    "measurement_concept_mapped", **COMPL, level=Level.concept, table="measurement",
    field="measurement_source_concept_id",
    description="Le code local d'analyse (ANABIO) est relié à un code standard (LOINC) par « Maps to ».",
    threshold=5.0, severity=Severity.warning, build=_unmapped_codes,
)


def _care_site_orphan(ctx: CheckContext) -> Probe:
    sites = ctx.table("care_site", "care_site_id", "care_site_type_source_value")
    non_root = sites.filter(sites.care_site_type_source_value != "AP-HP")
    relations = ctx.table("fact_relationship", "fact_id_1")
    return _rows_without(ctx, non_root, "care_site_id", relations, "fact_id_1")


declare(
    "care_site_in_tree", **COMPL, level=Level.table, table="care_site", field=None,
    description="Chaque structure (sauf la racine AP-HP) a un parent dans l'arbre des structures.",
    threshold=0.0, severity=Severity.error, build=_care_site_orphan,
)


def _death_without_date(ctx: CheckContext) -> Probe:
    visits = ctx.table("visit_occurrence", "visit_occurrence_id", "person_id", "discharge_to_source_value")
    deaths = visits.filter(visits.discharge_to_source_value == "9")
    person = ctx.table("person", "person_id", "death_datetime")
    dead = person.filter(person.death_datetime.notnull()).select(_key=person.person_id)
    rows = deaths.select(_row=deaths.visit_occurrence_id, _p=deaths.person_id)
    joined = rows.left_join(dead, rows._p == dead._key)
    return flag(joined, "_row", joined._key.isnull())


declare(
    "visit_occurrence_death_recorded", **COMPL, level=Level.field, table="visit_occurrence",
    field="discharge_to_source_value",
    description="Un séjour terminé par un décès (mode de sortie 9) correspond à un patient dont la date de "
    "décès est renseignée.",
    threshold=1.0, severity=Severity.warning, build=_death_without_date,
)
