"""Plausibility checks: values and dates that are possible but not believable.

Atemporal (sex-specific diagnoses and acts, weight, height, biology units and
values, birth dates, lengths of stay, duplicate identities) and temporal (start
before end, events within their stay, during life, before the extraction date,
stays split at the end of the financial year).
"""

from __future__ import annotations

import datetime as dt
from functools import partial

import ibis
import ibis.expr.types as ir

from workbench.quality.conformance import PRIMARY_KEYS
from workbench.quality.context import CheckContext, flag
from workbench.quality.model import Category, Context, Level, Probe, Severity
from workbench.quality.registry import declare

PLAUS = dict(category=Category.plausibility, context=Context.verification)
TEMPORAL = dict(PLAUS, subcategory="temporal")
ATEMPORAL = dict(PLAUS, subcategory="atemporal")

OLDEST_BIRTH = dt.datetime(1900, 1, 1)


def _visits(ctx: CheckContext) -> ir.Table:
    """Stays with usable bounds: a stay ending before it starts has no "inside" (its own check reports it)."""
    visits = ctx.table("visit_occurrence", "visit_occurrence_id", "visit_start_datetime", "visit_end_datetime")
    usable = visits.filter(
        visits.visit_end_datetime.isnull() | (visits.visit_end_datetime >= visits.visit_start_datetime)
    )
    # timestamps whatever the source types them (a standard OMOP export may hold dates): `+ interval` needs them
    return usable.select(
        _visit=usable.visit_occurrence_id, _start=usable.visit_start_datetime.cast("timestamp"),
        _end=usable.visit_end_datetime.cast("timestamp"),
    )


# --- start before end ------------------------------------------------------------------

def _start_before_end(ctx: CheckContext, table_name: str, start: str, end: str) -> Probe:
    table = ctx.table(table_name, PRIMARY_KEYS[table_name], start, end)
    hospital = "care_site_id" if table_name == "visit_occurrence" and "care_site_id" in table.columns else None
    return flag(table, PRIMARY_KEYS[table_name], table[end] < table[start], hospital=hospital, at=start)


for _table, _start, _end, _label in [
    ("visit_occurrence", "visit_start_datetime", "visit_end_datetime", "La sortie du séjour"),
    ("visit_detail", "visit_detail_start_datetime", "visit_detail_end_datetime", "La fin du mouvement"),
    ("drug_exposure_prescription", "drug_exposure_start_datetime", "drug_exposure_end_datetime",
     "La fin de la prescription"),
    ("drug_exposure_administration", "drug_exposure_start_datetime", "drug_exposure_end_datetime",
     "La fin de l'administration"),
]:
    declare(
        f"{_table}_start_before_end", **TEMPORAL, level=Level.field, table=_table, field=_end,
        description=f"{_label} n'est pas antérieure à son début.", threshold=0.0, severity=Severity.error,
        build=partial(_start_before_end, table_name=_table, start=_start, end=_end),
    )


# --- events within their stay ---------------------------------------------------------

def _within_stay(ctx: CheckContext, table_name: str, start: str, end: str | None, slack_hours: int) -> Probe:
    """Rows attached to a stay but dated before its start or after its end (open stays: no upper bound).

    `slack_hours` tolerates documents written shortly after discharge (e.g. the CRH).
    """
    columns = [PRIMARY_KEYS[table_name], "visit_occurrence_id", start] + ([end] if end else [])
    table = ctx.table(table_name, *columns)
    visits = _visits(ctx)
    rows = table.select(
        _row=table[PRIMARY_KEYS[table_name]], _fk=table.visit_occurrence_id,
        _ev_start=table[start].cast("timestamp"), _ev_end=(table[end] if end else table[start]).cast("timestamp"),
    )
    joined = rows.join(visits, rows._fk == visits._visit)
    slack = ibis.interval(hours=slack_hours)
    before = joined._ev_start < joined._start
    after = joined._end.notnull() & (joined._ev_end > joined._end + slack)
    return flag(joined, "_row", before | after)


for _table, _start, _end, _slack, _threshold, _label in [
    ("visit_detail", "visit_detail_start_datetime", "visit_detail_end_datetime", 0, 0.0,
     "Le mouvement se situe entre l'entrée et la sortie de son séjour."),
    ("measurement", "measurement_datetime", None, 0, 0.0,
     "Le prélèvement de biologie est daté pendant le séjour auquel il est rattaché."),
    ("condition_occurrence", "condition_start_datetime", None, 0, 1.0,
     "Le diagnostic est daté pendant son séjour."),
    ("procedure_occurrence", "procedure_datetime", None, 0, 1.0,
     "L'acte est daté pendant son séjour."),
    ("drug_exposure_administration", "drug_exposure_start_datetime", None, 0, 1.0,
     "L'administration du médicament a lieu pendant le séjour."),
    ("note", "note_datetime", None, 24 * 30, 5.0,
     "Le document est daté pendant le séjour ou dans le mois qui suit la sortie."),
]:
    declare(
        f"{_table}_within_stay", **TEMPORAL, level=Level.field, table=_table, field=_start,
        description=_label, threshold=_threshold, severity=Severity.error if _threshold == 0 else Severity.warning,
        build=partial(_within_stay, table_name=_table, start=_start, end=_end, slack_hours=_slack),
    )


# --- during life --------------------------------------------------------------------------

def _persons(ctx: CheckContext) -> ir.Table:
    person = ctx.table("person", "person_id", "birth_datetime", "death_datetime")
    return person.select(_person=person.person_id, _birth=person.birth_datetime, _death=person.death_datetime)


def _after_death(ctx: CheckContext, table_name: str, moment: str) -> Probe:
    """Events dated on a day after the patient's death day (same-day events are legitimate)."""
    table = ctx.table(table_name, PRIMARY_KEYS[table_name], "person_id", moment)
    stays = table_name == "visit_occurrence" and "care_site_id" in table.columns
    rows = table.select(_row=table[PRIMARY_KEYS[table_name]], _fk=table.person_id, _at=table[moment],
                        _h=table.care_site_id if stays else ibis.null("int64"))
    persons = _persons(ctx)
    joined = rows.join(persons, rows._fk == persons._person)
    return flag(joined, "_row", joined._death.notnull() & (joined._at.date() > joined._death.date()),
                hospital="_h" if stays else None, at="_at")


for _table, _moment, _label in [
    ("visit_occurrence", "visit_start_datetime", "Le séjour ne commence pas après le décès du patient."),
    ("visit_detail", "visit_detail_start_datetime", "Le mouvement ne commence pas après le décès du patient."),
    ("condition_occurrence", "condition_start_datetime", "Le diagnostic n'est pas daté après le décès."),
    ("procedure_occurrence", "procedure_datetime", "L'acte n'est pas daté après le décès."),
    ("measurement", "measurement_datetime", "Le prélèvement n'est pas daté après le décès."),
    ("drug_exposure_administration", "drug_exposure_start_datetime",
     "Le médicament n'est pas administré après le décès."),
]:
    declare(
        f"{_table}_before_death", **TEMPORAL, level=Level.field, table=_table, field=_moment,
        description=_label, threshold=0.0, severity=Severity.error,
        build=partial(_after_death, table_name=_table, moment=_moment),
    )


def _birth_plausible(ctx: CheckContext) -> Probe:
    """Birth dates before 1900, after the extraction date, or after the patient's first stay."""
    persons = _persons(ctx)
    visits = ctx.table("visit_occurrence", "person_id", "visit_start_datetime")
    first = visits.group_by(_p=visits.person_id).aggregate(_first=visits.visit_start_datetime.min())
    joined = persons.left_join(first, persons._person == first._p)
    extraction = ibis.timestamp(dt.datetime.combine(ctx.extraction_date, dt.time()))
    birth = joined._birth
    violated = (birth < ibis.timestamp(OLDEST_BIRTH)) | (birth > extraction) | (
        joined._first.notnull() & (birth.date() > joined._first.date())
    )
    return flag(joined, "_person", violated)


declare(
    "person_birth_datetime_plausible", **ATEMPORAL, level=Level.field, table="person", field="birth_datetime",
    description="La date de naissance est postérieure au 1er janvier 1900, antérieure à l'extraction "
    "et au premier séjour du patient.",
    threshold=0.0, severity=Severity.error, build=_birth_plausible,
)


def _death_after_birth(ctx: CheckContext) -> Probe:
    persons = _persons(ctx)
    return flag(persons, "_person", persons._death < persons._birth)


declare(
    "person_death_after_birth", **TEMPORAL, level=Level.field, table="person", field="death_datetime",
    description="Le décès est postérieur à la naissance.", threshold=0.0, severity=Severity.error,
    build=_death_after_birth,
)


def _after_extraction(ctx: CheckContext, table_name: str, moment: str) -> Probe:
    table = ctx.table(table_name, PRIMARY_KEYS[table_name], moment)
    limit = ibis.timestamp(dt.datetime.combine(ctx.extraction_date + dt.timedelta(days=1), dt.time()))
    return flag(table, PRIMARY_KEYS[table_name], table[moment] >= limit)


for _table, _moment in [("visit_occurrence", "visit_start_datetime"), ("measurement", "measurement_datetime"),
                        ("person", "death_datetime")]:
    declare(
        f"{_table}_{_moment}_not_future", **TEMPORAL, level=Level.field, table=_table, field=_moment,
        description=f"{_moment} de {_table} n'est pas postérieure à la date d'extraction.",
        threshold=0.0, severity=Severity.error, build=partial(_after_extraction, table_name=_table, moment=_moment),
    )


def _stay_length(ctx: CheckContext, max_days: int) -> Probe:
    visits = ctx.table("visit_occurrence", "visit_occurrence_id", "visit_start_datetime", "visit_end_datetime",
                       "stay_source_value")
    too_long = visits.visit_end_datetime > visits.visit_start_datetime + ibis.interval(days=max_days)
    return flag(visits, "visit_occurrence_id", (visits.stay_source_value == "MCO") & too_long)


declare(
    "visit_occurrence_mco_length_plausible", **ATEMPORAL, level=Level.field, table="visit_occurrence",
    field="visit_end_datetime",
    description="Un séjour MCO dure moins d'un an.", threshold=0.1, severity=Severity.warning,
    build=partial(_stay_length, max_days=365),
)


# --- year-end splits ---------------------------------------------------------------------------

def _year_end_split(ctx: CheckContext) -> Probe:
    """Both halves of a stay cut at 31 December and reopened on 1 January, same patient, same hospital."""
    visits = ctx.table("visit_occurrence", "visit_occurrence_id", "person_id", "care_site_id",
                       "visit_start_datetime", "visit_end_datetime")
    ends = visits.filter((visits.visit_end_datetime.month() == 12) & (visits.visit_end_datetime.day() == 31))
    ends = ends.select(_a=ends.visit_occurrence_id, _pa=ends.person_id, _ha=ends.care_site_id,
                       _ya=ends.visit_end_datetime.year())
    starts = visits.filter((visits.visit_start_datetime.month() == 1) & (visits.visit_start_datetime.day() == 1))
    starts = starts.select(_b=starts.visit_occurrence_id, _pb=starts.person_id, _hb=starts.care_site_id,
                           _yb=starts.visit_start_datetime.year())
    pairs = ends.join(starts, (ends._pa == starts._pb) & (ends._ha == starts._hb) & (starts._yb == ends._ya + 1))
    halves = pairs.select(_split=pairs._a).union(pairs.select(_split=pairs._b)).distinct()
    rows = visits.select(_row=visits.visit_occurrence_id)
    joined = rows.left_join(halves, rows._row == halves._split)
    return flag(joined, "_row", joined._split.notnull())


declare(
    "visit_occurrence_year_end_split", **TEMPORAL, level=Level.table, table="visit_occurrence", field=None,
    description="Aucun séjour n'est coupé au 31 décembre et rouvert le 1er janvier (découpage administratif "
    "de fin d'exercice : les deux moitiés sont signalées).",
    threshold=0.0, severity=Severity.warning, build=_year_end_split,
)


# --- sex-specific codes ---------------------------------------------------------------------

def _sexes(ctx: CheckContext) -> ir.Table:
    ctx.require_aphp()  # m/f source values and CIM-10/CCAM codes
    person = ctx.table("person", "person_id", "gender_source_value")
    return person.select(_person=person.person_id, _sex=person.gender_source_value.lower())


# CIM-10 chapters and categories reserved to one sex (pregnancy, female and male genital organs).
FEMALE_ONLY_CIM10 = r"^(O|N7[0-7]|N8|N9[0-8]|C5[1-8]|D06|D25|D26|D27|Z3[2-7]|Z39)"
MALE_ONLY_CIM10 = r"^(C6[0-3]|D07[4-6]|D29|N4[0-9]|N50|N51)"


def _gender_diagnosis(ctx: CheckContext) -> Probe:
    table = ctx.table("condition_occurrence", "condition_occurrence_id", "person_id", "condition_source_value")
    rows = table.select(_row=table.condition_occurrence_id, _fk=table.person_id, _code=table.condition_source_value)
    sexes = _sexes(ctx)
    joined = rows.join(sexes, rows._fk == sexes._person)
    violated = ((joined._sex == "m") & joined._code.re_search(FEMALE_ONLY_CIM10)) | (
        (joined._sex == "f") & joined._code.re_search(MALE_ONLY_CIM10)
    )
    return flag(joined, "_row", violated)


declare(
    "condition_occurrence_gender_plausible", **ATEMPORAL, level=Level.concept, table="condition_occurrence",
    field="condition_source_value",
    description="Pas de diagnostic obstétrical ou gynécologique chez un homme, ni de diagnostic de la prostate "
    "ou des organes génitaux masculins chez une femme.",
    threshold=0.0, severity=Severity.error, build=_gender_diagnosis,
)


def _gender_procedure(ctx: CheckContext) -> Probe:
    from workbench import vocab

    acts = vocab.ccam()
    reserved = acts[acts["sex"].isin(["1", "2"])]
    reference = ibis.memtable({"code": reserved["code"].tolist(), "only": reserved["sex"].tolist()})
    table = ctx.table("procedure_occurrence", "procedure_occurrence_id", "person_id", "procedure_source_value")
    rows = table.select(_row=table.procedure_occurrence_id, _fk=table.person_id, _code=table.procedure_source_value)
    sexes = _sexes(ctx)
    joined = rows.join(sexes, rows._fk == sexes._person).left_join(reference, rows._code == reference.code)
    violated = ((joined.only == "1") & (joined._sex == "f")) | ((joined.only == "2") & (joined._sex == "m"))
    return flag(joined, "_row", violated)


declare(
    "procedure_occurrence_gender_plausible", **ATEMPORAL, level=Level.concept, table="procedure_occurrence",
    field="procedure_source_value",
    description="Un acte CCAM réservé à un sexe (compatibilité sexe de la CCAM) n'est pas réalisé chez l'autre.",
    threshold=0.0, severity=Severity.error, build=_gender_procedure,
)


# --- duplicate identities ---------------------------------------------------------------------

def _duplicate_identity(ctx: CheckContext) -> Probe:
    """Every person_id sharing family name, given name and birth date with another person_id."""
    identity = ctx.table("person_identity", "person_id", "family_name", "given_name", "birth_date")
    keyed = identity.select(
        "person_id",
        _family=identity.family_name.upper().strip(),
        _given=identity.given_name.upper().strip(),
        _birth=identity.birth_date,
    )
    groups = keyed.group_by("_family", "_given", "_birth").aggregate(_n=keyed.person_id.nunique())
    duplicated = groups.filter(groups._n > 1)
    joined = keyed.left_join(
        duplicated,
        (keyed._family == duplicated._family) & (keyed._given == duplicated._given) & (keyed._birth == duplicated._birth),
    )
    return flag(joined, "person_id", joined._n.notnull())


declare(
    "person_identity_duplicates", category=Category.plausibility, context=Context.validation,
    subcategory="atemporal", level=Level.table, table="person_identity", field=None,
    description="Aucune identité (nom, prénom, date de naissance) n'est portée par deux identifiants patient "
    "différents (doublons d'identité : tous les identifiants du groupe sont signalés).",
    threshold=0.0, severity=Severity.error, build=_duplicate_identity,
)
