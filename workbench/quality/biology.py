"""Biology and physiological data: units and values that can be believed.

Units are checked against the unit each local test code is mostly reported in
(the modal unit: no external reference needed, and a result converted into
another unit stands out), values against the normal range the laboratory sent
(a value ten times beyond it is almost always a unit or typing error), and
weight and height (LOINC 29463-7 in kg, 8302-2 in cm) against human limits.
"""

from __future__ import annotations

from functools import partial

import ibis
import ibis.expr.types as ir

from workbench.quality.context import CheckContext, flag
from workbench.quality.model import Category, Context, Level, Probe, Severity
from workbench.quality.registry import declare

ATEMPORAL = dict(category=Category.plausibility, context=Context.verification, subcategory="atemporal")

WEIGHT_LOINC, HEIGHT_LOINC = "29463-7", "8302-2"
ADULT_YEARS = 18
# Beyond these a measure is a data error, not a patient: absolute low, then the upper
# limit by age band (weight varies with age: a child's weight times ten is still
# "possible" for an adult, not for a child), and the adult floor.
WEIGHT_MAX_BY_AGE = ((1, 15.0), (3, 25.0), (6, 40.0), (12, 100.0), (ADULT_YEARS, 200.0), (200, 350.0))
HEIGHT_MAX_BY_AGE = ((200, 250.0),)
LIMITS = {
    WEIGHT_LOINC: (0.3, WEIGHT_MAX_BY_AGE, 25.0),
    HEIGHT_LOINC: (20.0, HEIGHT_MAX_BY_AGE, 100.0),
}


def _measurements(ctx: CheckContext) -> ir.Table:
    table = ctx.table("measurement", "measurement_id", "person_id", "measurement_source_concept_id",
                      "measurement_datetime", "value_as_number", "unit_source_value")
    return table.select(
        _row=table.measurement_id, _fk=table.person_id, _concept=table.measurement_source_concept_id,
        _at=table.measurement_datetime, _value=table.value_as_number, _unit=table.unit_source_value,
    )


def _loinc_of(ctx: CheckContext) -> ir.Table:
    """Local concept id -> LOINC code, through `concept_relationship` "Maps to"."""
    relationship = ctx.table("concept_relationship", "concept_id_1", "concept_id_2", "relationship_id")
    concept = ctx.table("concept", "concept_id", "concept_code", "vocabulary_id")
    maps = relationship.filter(relationship.relationship_id == "Maps to")
    loinc = concept.filter(concept.vocabulary_id.contains("LOINC"))
    joined = maps.join(loinc, maps.concept_id_2 == loinc.concept_id)
    return joined.select(_local=joined.concept_id_1, _loinc=joined.concept_code).distinct()


def _upper_limit(age: ir.IntegerValue, bands: tuple[tuple[int, float], ...]) -> ir.FloatingValue:
    """The upper limit for an age in whole years (unknown age: the most permissive limit)."""
    limit = ibis.cases(*[(age < below, high) for below, high in bands], else_=max(high for _, high in bands))
    return ibis.ifelse(age.isnull(), max(high for _, high in bands), limit)


def _physiological(ctx: CheckContext, loinc: str) -> Probe:
    """Weight or height measures outside human limits for the patient's age."""
    low, bands, adult_low = LIMITS[loinc]
    rows = _measurements(ctx)
    codes = _loinc_of(ctx).filter(ibis._._loinc == loinc)
    person = ctx.table("person", "person_id", "birth_datetime")
    births = person.select(_person=person.person_id, _birth=person.birth_datetime)
    joined = rows.join(codes, rows._concept == codes._local).left_join(births, rows._fk == births._person)
    # Age in whole years from calendar years: portable, and one year of error is immaterial here.
    age = joined._at.year() - joined._birth.year()
    value = joined._value
    adult = age.notnull() & (age > ADULT_YEARS)
    violated = (value < low) | (value > _upper_limit(age, bands)) | (adult & (value < adult_low))
    return flag(joined, "_row", violated)


declare(
    "measurement_weight_plausible", **ATEMPORAL, level=Level.concept, table="measurement", field="value_as_number",
    description="Le poids (LOINC 29463-7) est d'au moins 0,3 kg (25 kg chez l'adulte) et ne dépasse pas la limite "
    "de l'âge : 15 kg avant 1 an, 25 kg avant 3 ans, 40 kg avant 6 ans, 100 kg avant 12 ans, 200 kg avant 18 ans, "
    "350 kg ensuite.",
    threshold=0.0, severity=Severity.error, build=partial(_physiological, loinc=WEIGHT_LOINC),
)
declare(
    "measurement_height_plausible", **ATEMPORAL, level=Level.concept, table="measurement", field="value_as_number",
    description="La taille (LOINC 8302-2) est comprise entre 20 et 250 cm, et au moins 100 cm chez l'adulte.",
    threshold=0.0, severity=Severity.error, build=partial(_physiological, loinc=HEIGHT_LOINC),
)


def _modal_units(rows: ir.Table) -> ir.Table:
    """The most frequent unit of each local code (ties broken by the unit's text, for determinism)."""
    counted = rows.filter(rows._unit.notnull()).group_by("_concept", "_unit").aggregate(_n=ibis._.count())
    ranked = counted.mutate(
        _rank=ibis.row_number().over(group_by="_concept", order_by=[ibis.desc("_n"), "_unit"])
    )
    return ranked.filter(ranked._rank == 0).select(_ref_concept=ranked._concept, _ref_unit=ranked._unit)


def _unit_conformance(ctx: CheckContext) -> Probe:
    rows = _measurements(ctx)
    reference = _modal_units(rows)
    joined = rows.left_join(reference, rows._concept == reference._ref_concept)
    return flag(joined, "_row", joined._unit.notnull() & (joined._unit != joined._ref_unit))


declare(
    "measurement_unit_plausible", **ATEMPORAL, level=Level.concept, table="measurement", field="unit_source_value",
    description="Chaque résultat est exprimé dans l'unité habituelle de son code d'analyse (unité majoritaire "
    "du code) : une autre unité signale une conversion ou une erreur de saisie.",
    threshold=0.0, severity=Severity.error, build=_unit_conformance,
)


def _value_vs_range(ctx: CheckContext, factor: float) -> Probe:
    table = ctx.table("measurement", "measurement_id", "value_as_number", "range_low", "range_high")
    value, low, high = table.value_as_number, table.range_low, table.range_high
    far = ((low > 0) & (value < low / factor)) | ((high > 0) & (value > high * factor))
    return flag(table, "measurement_id", far)


declare(
    "measurement_value_plausible", **ATEMPORAL, level=Level.field, table="measurement", field="value_as_number",
    description="La valeur ne s'écarte pas de plus d'un facteur 10 des bornes de normalité transmises par le "
    "laboratoire (au-delà : erreur d'unité ou de saisie probable).",
    threshold=0.5, severity=Severity.warning, build=partial(_value_vs_range, factor=10.0),
)


def _value_negative(ctx: CheckContext) -> Probe:
    table = ctx.table("measurement", "measurement_id", "value_as_number")
    return flag(table, "measurement_id", table.value_as_number < 0)


declare(
    "measurement_value_not_negative", **ATEMPORAL, level=Level.field, table="measurement", field="value_as_number",
    description="Aucun résultat de biologie ou mesure physiologique n'est négatif.",
    threshold=0.0, severity=Severity.error, build=_value_negative,
)
