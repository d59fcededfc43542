"""The standard-OMOP check set, generated from the OHDSI Data Quality Dashboard's own specification.

DQD's check descriptions and its table, field and concept-level threshold files
(CDM 5.3 and 5.4, shipped in ``workbench/resources/dqd/`` with provenance and
licence) say which checks exist: each check type's ``evaluationFilter`` selects
rows of its level's file, and every selected row is one check, with DQD's
threshold. Generating the set from the files (instead of writing checks by hand)
keeps us at DQD's coverage on any standard OMOP warehouse, and lets
`coverage` compare our count with the specification's, per check type.

Checks are declared once for the union of both versions (id ``dqd_`` + DQD's
``checkId``); a run keeps those of the warehouse's CDM version and only on the
``omop`` flavour (the AP-HP flavour has its own checks). Every check is a
:class:`Measure` — a boolean "violated" and "counted" over a relation — and the
run aggregates all measures of one relation (a table, the table joined to
``person``/``death``, to its visits, to its key targets…) in **one** query:
about 15 scans per table instead of one query per check. DQD's "not
applicable" rules are applied afterwards from the same scans (table or field
missing, empty table, field never filled, concept absent), and the results
export in DQD's results JSON shape (:func:`dqd_json`).
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import time
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cache, partial
from pathlib import Path
from typing import Any, Callable, Iterable

import ibis
import ibis.expr.datatypes as dt_types
import ibis.expr.types as ir
import pandas as pd

from workbench.quality.context import CheckContext
from workbench.quality.model import (
    ID_COLUMN, VIOLATED_COLUMN, Category, Check, CheckResult, Context, Level, NotApplicable, Probe, RunResult,
    Severity, Status,
)
from workbench.quality.registry import declare, registered
from workbench.schema.cdm import cast_value, detect_version, normalise_version

RESOURCES = Path(__file__).resolve().parent.parent / "resources" / "dqd"
VERSIONS = ("5.3", "5.4")
PREFIX = "dqd_"
# DQD's default `tablesToExclude` (vocabulary tables) and its excluded field (a reserved word in some databases)
EXCLUDED_TABLES = frozenset({"concept", "vocabulary", "concept_ancestor", "concept_relationship", "concept_class",
                             "concept_synonym", "relationship", "domain"})
EXCLUDED_FIELDS = frozenset({"offset"})
LEVEL_FILES = {"TABLE": "Table_Level", "FIELD": "Field_Level", "CONCEPT": "Concept_Level"}
SEVERITIES = {"fatal": Severity.error, "convention": Severity.warning, "characterization": Severity.info}
MALE, FEMALE = 8507, 8532
# one aggregate query holds at most this many measures (two sums each): compile time stays small
CHUNK = 150

DESCRIPTIONS_FR = {
    "cdmTable": "La table {table} existe.",
    "measurePersonCompleteness": "Part des personnes sans aucune ligne dans {table}.",
    "measureConditionEraCompleteness": "Part des personnes ayant des diagnostics sans condition_era construite.",
    "measureObservationPeriodOverlap": "Part des personnes dont des périodes d'observation se chevauchent ou se touchent.",
    "cdmField": "Le champ {table}.{field} existe.",
    "isRequired": "Le champ obligatoire {table}.{field} est renseigné.",
    "cdmDatatype": "Le champ {table}.{field} ne contient que des entiers.",
    "isPrimaryKey": "La clé primaire {table}.{field} est unique.",
    "isForeignKey": "Chaque valeur de {table}.{field} existe dans la table référencée.",
    "fkDomain": "Les concepts de {table}.{field} sont du domaine attendu.",
    "fkClass": "Les concepts de {table}.{field} sont de la classe attendue.",
    "isStandardValidConcept": "Les concepts de {table}.{field} sont standard et valides.",
    "measureValueCompleteness": "Part des lignes de {table} où {field} est vide.",
    "standardConceptRecordCompleteness": "Part des lignes de {table} où le concept standard {field} vaut 0.",
    "sourceConceptRecordCompleteness": "Part des lignes de {table} où le concept source {field} vaut 0.",
    "sourceValueCompleteness": "Part des valeurs source distinctes de {table}.{field} non associées à un concept.",
    "plausibleValueLow": "{table}.{field} n'est pas sous la borne plausible basse.",
    "plausibleValueHigh": "{table}.{field} n'est pas au-dessus de la borne plausible haute.",
    "plausibleTemporalAfter": "{table}.{field} ne précède pas la date dont il doit suivre.",
    "plausibleDuringLife": "{table}.{field} n'est pas plus de 60 jours après le décès.",
    "withinVisitDates": "{table}.{field} est dans les dates de la visite (± 7 jours).",
    "plausibleAfterBirth": "{table}.{field} n'est pas avant la naissance.",
    "plausibleBeforeDeath": "{table}.{field} n'est pas plus de 60 jours après le décès.",
    "plausibleStartBeforeEnd": "Le début {table}.{field} n'est pas après la fin.",
    "plausibleGender": "Le concept {concept} de {table}.{field} concerne des personnes du sexe plausible.",
    "plausibleGenderUseDescendants": "Les descendants des concepts {concept} de {table}.{field} concernent des "
                                     "personnes du sexe plausible.",
    "plausibleUnitConceptIds": "Le concept {concept} de {table}.{field} a une unité plausible.",
}


# ------------------------------------------------------------------------ specification

def _read(name: str) -> list[dict[str, str]]:
    with open(RESOURCES / name, newline="", encoding="utf-8-sig") as stream:
        return list(csv.DictReader(stream))


@cache
def descriptions(version: str) -> list[dict[str, str]]:
    """DQD's check descriptions of a CDM version (one row per check type, in DQD's order)."""
    return _read(f"dqd_OMOP_CDMv{version}_Check_Descriptions.csv")


@cache
def level_rows(version: str, level: str) -> list[dict[str, str]]:
    """The rows of a level's threshold file, vocabulary tables and excluded fields removed (DQD's defaults)."""
    rows = _read(f"dqd_OMOP_CDMv{version}_{LEVEL_FILES[level]}.csv")
    return [row for row in rows if row["cdmTableName"].lower() not in EXCLUDED_TABLES
            and row.get("cdmFieldName", "").lower() not in EXCLUDED_FIELDS]


_TERM = re.compile(r"^\s*(\w+)\s*(==|!=)\s*'([^']*)'\s*$")


def evaluation_filter(expression: str) -> Callable[[dict[str, str]], bool]:
    """DQD's `evaluationFilter` (R terms ``name=='v'`` or ``name!='v'`` joined by ``&``) as a row predicate."""
    terms = []
    for text in expression.split("&"):
        match = _TERM.match(text)
        if match is None:
            raise ValueError(f"filtre DQD non reconnu : {expression!r}")
        terms.append(match.groups())

    def accepts(row: dict[str, str]) -> bool:
        return all(((row.get(name) or "") == value) == (op == "==") for name, op, value in terms)

    return accepts


def check_id(level: str, name: str, table: str, field: str | None = None, concept: str | None = None,
             unit: str | None = None) -> str:
    """DQD's `checkId` (`.getCheckId`): the parts, blanks removed, joined by `_`, lower case."""
    parts = [level, name, table, field, concept, unit]
    return "_".join(p.replace(" ", "") for p in parts if p and p.replace(" ", "")).lower()


@dataclass(frozen=True)
class SpecCheck:
    """One check of the specification: a check type applied to one row of its level's file."""

    name: str
    level: str
    table: str
    field: str | None
    concept: str | None
    unit: str | None
    row: dict[str, str] = field(compare=False, repr=False)
    description: dict[str, str] = field(compare=False, repr=False)

    @property
    def dqd_id(self) -> str:
        return check_id(self.level, self.name, self.table, self.field, self.concept, self.unit)

    @property
    def id(self) -> str:
        return PREFIX + self.dqd_id

    @property
    def threshold(self) -> float:
        """DQD's threshold in percent (none given: 0, any violating row fails)."""
        value = (self.row.get(f"{self.name}Threshold") or "").strip()
        return float(value) if value else 0.0

    @property
    def notes(self) -> str | None:
        return self.row.get(f"{self.name}Notes") or None


@cache
def spec_checks(version: str) -> tuple[SpecCheck, ...]:
    """Every check the specification defines for `version`, as DQD's `executeDqChecks` expands it."""
    checks = []
    for description in descriptions(version):
        level, accepts = description["checkLevel"], evaluation_filter(description["evaluationFilter"])
        for row in level_rows(version, level):
            if accepts(row):
                checks.append(SpecCheck(
                    name=description["checkName"], level=level, table=row["cdmTableName"].lower(),
                    field=(row.get("cdmFieldName") or "").lower() or None,
                    concept=(row.get("conceptId") or "").strip() or None,
                    unit=(row.get("unitConceptId") or "").strip() or None,
                    row=row, description=description,
                ))
    return tuple(checks)


@cache
def by_id(version: str) -> dict[str, SpecCheck]:
    return {check.id: check for check in spec_checks(version)}


def check_types(version: str) -> list[str]:
    """The check type names of the description file, in its order."""
    return [row["checkName"] for row in descriptions(version)]


# ------------------------------------------------------------------------ relations and measures

@dataclass(frozen=True)
class Measure:
    """A check as two booleans over a shared relation: rows counted (denominator) and rows violating.

    Checks sharing `key` read the same relation and are aggregated in one query.
    """

    key: tuple[str, ...]
    violated: Callable[[ir.Table], ir.BooleanValue]
    counted: Callable[[ir.Table], ir.BooleanValue] | None = None
    id: Callable[[ir.Table], ir.Value] | None = None
    tally: "Tally | None" = None
    # counted by aggregates over another relation (`batch`) instead of row sums over `key` (distinct values)
    batch: tuple[str, ...] | None = None
    reduce: Callable[[ir.Table], tuple[ir.Scalar, ir.Scalar]] | None = None


@dataclass(frozen=True)
class Tally:
    """How a concept-level check is counted from one grouped query shared by its (table, field).

    Hundreds of concept checks (plausible gender, plausible units) read the
    same rows: one ``group by concept, gender-or-unit`` count, filtered on all
    their concepts, answers them all; `count` takes this check's
    (violated, denominator) from that small frame. The row-level `Measure`
    stays the definition (it lists the violating rows).
    """

    key: tuple[str, ...]
    column: Callable[[ir.Table], ir.Value]
    other: Callable[[ir.Table], ir.Value]
    values: tuple[int, ...]
    count: Callable[[pd.DataFrame], tuple[int, int]]


@dataclass(frozen=True)
class Direct:
    """A check decided without a query (a table or field is there or not)."""

    violated: int
    denominator: int = 1


def _as_date(value: ir.Value) -> ir.Value:
    """A date whatever the column holds (text of an untyped source: null where it is no date, as the catalogue reads)."""
    return cast_value(value, dt_types.date)


def _as_number(value: ir.Value) -> ir.Value:
    return value if value.type().is_numeric() else cast_value(value, dt_types.float64)


def _as_int(value: ir.Value) -> ir.Value:
    return value if value.type().is_integer() else cast_value(value, dt_types.int64)


# the columns of `concept` the vocabulary checks read, by the suffix they take in the `keys` relation
CONCEPT_ATTRIBUTES = {"domain": "domain_id", "class": "concept_class_id", "std": "standard_concept",
                      "invalid": "invalid_reason"}


class Relations:
    """The tables of one warehouse in lower case, and the joined relations the measures read (built once)."""

    def __init__(self, ctx: CheckContext, version: str) -> None:
        self.ctx = ctx
        self.version = version
        self._actual = {name.lower(): name for name in ctx.table_names}
        self._tables: dict[str, ir.Table] = {}
        self._relations: dict[tuple[str, ...], ir.Table] = {}

    @property
    def names(self) -> list[str]:
        return sorted(self._actual)

    def has(self, table: str) -> bool:
        return table in self._actual

    def table(self, name: str) -> ir.Table:
        if name not in self._actual:
            raise NotApplicable(f"Table {name} absente.")
        if name not in self._tables:
            table = self.ctx.warehouse.table(self._actual[name])
            renames = {c.lower(): c for c in table.columns if c != c.lower()}
            self._tables[name] = table.rename(renames) if renames else table
        return self._tables[name]

    def columns(self, name: str) -> set[str]:
        return set(self.table(name).columns) if self.has(name) else set()

    def need(self, name: str, *columns: str) -> ir.Table:
        table = self.table(name)
        missing = [c for c in columns if c not in table.columns]
        if missing:
            raise NotApplicable(f"Champ(s) {', '.join(f'{name}.{c}' for c in missing)} absent(s)")
        return table

    def relation(self, key: tuple[str, ...]) -> ir.Table:
        if key not in self._relations:
            builder = getattr(self, f"_rel_{key[0]}")
            self._relations[key] = builder(*key[1:])
        return self._relations[key]

    # the relations -------------------------------------------------------------------------
    def _rel_base(self, table: str) -> ir.Table:
        return self.table(table)

    def _rel_pk(self, table: str, column: str) -> ir.Table:
        """Each row's key and how many rows share it (lists the violating rows of one isPrimaryKey check)."""
        rows = self.table(table)
        keys = rows.select(_key=rows[column])
        return keys.mutate(_n=ibis._.count().over(group_by="_key"))

    def _rel_pkgroups(self, table: str, column: str) -> ir.Table:
        """One row per key value with its row count: a hash aggregate, where a window would sort the table."""
        rows = self.table(table)
        return rows.group_by(_key=rows[column]).aggregate(_n=ibis._.count())

    def _rel_fkvalues(self, table: str, *targets: str) -> ir.Table:
        """The distinct values of every foreign-key field of `table` (`_f`, `_v`, row count `_n`), with their target.

        Counting the vocabulary and key checks on distinct values (a few
        thousand) instead of rows (millions) keeps the joins small: `_ck` and
        the concept's attributes where the value is a concept id, `_tk` where it
        is a key of the field's other target table.
        """
        rows = self.table(table)
        values, others = [], []
        for item in targets:
            column, target = item.split("=")
            target_table, target_key = target.split(".")
            values.append(rows.group_by(_v=_as_int(rows[column])).aggregate(_n=ibis._.count())
                          .mutate(_f=ibis.literal(column)))
            if target_table != "concept":
                parent = self.table(target_table)
                others.append(parent.select(_tf=ibis.literal(column), _tk=_as_int(parent[target_key])).distinct())
        joined = ibis.union(*values) if len(values) > 1 else values[0]
        if self.has("concept"):
            concept = self.table("concept")
            attributes = {f"_c_{name}": concept[source] if source in concept.columns else ibis.null("string")
                          for name, source in CONCEPT_ATTRIBUTES.items()}
            # one row per concept id (max: any backend; a vocabulary holds each id once)
            concepts = concept.group_by(_ck=_as_int(concept.concept_id)).aggregate(
                **{name: value.max() for name, value in attributes.items()})
            joined = joined.left_join(concepts, joined._v == concepts._ck)
        else:
            joined = joined.mutate(_ck=ibis.null("int64"))
        if others:
            keys = ibis.union(*others) if len(others) > 1 else others[0]
            joined = joined.left_join(keys, (joined._f == keys._tf) & (joined._v == keys._tk))
        else:
            joined = joined.mutate(_tk=ibis.null("int64"))
        return joined

    def _rel_person(self, table: str) -> ir.Table:
        """`table` left-joined to its person's birth (DQD's fallback from year/month/day) and death date."""
        rows = self.need(table, "person_id")
        person = self.need("person", "person_id", "year_of_birth")
        birth = _as_date(person.birth_datetime) if "birth_datetime" in person.columns else ibis.null("date")
        month = person.month_of_birth if "month_of_birth" in person.columns else ibis.null("int64")
        day = person.day_of_birth if "day_of_birth" in person.columns else ibis.null("int64")
        built = ibis.date(_as_int(person.year_of_birth), _as_int(month).fill_null(1), _as_int(day).fill_null(1))
        gender = _as_int(person.gender_concept_id) if "gender_concept_id" in person.columns else ibis.null("int64")
        persons = person.group_by(_pid=person.person_id).aggregate(
            _p_birth=birth.min(), _p_built=built.min(), _p_year=_as_int(person.year_of_birth).min(),
            _p_gender=gender.max(),
        )
        joined = rows.left_join(persons, rows.person_id == persons._pid).drop("_pid")
        if self.has("death") and {"person_id", "death_date"} <= self.columns("death"):
            death = self.table("death")
            deaths = death.group_by(_did=death.person_id).aggregate(_d_death=_as_date(death.death_date).min())
            return joined.left_join(deaths, joined.person_id == deaths._did).drop("_did")
        return joined.mutate(_d_death=ibis.null("date"))

    def _rel_visit(self, table: str) -> ir.Table:
        rows = self.need(table, "visit_occurrence_id")
        visits = self.need("visit_occurrence", "visit_occurrence_id", "visit_start_date", "visit_end_date")
        bounds = visits.group_by(_vid=visits.visit_occurrence_id).aggregate(
            _v_start=_as_date(visits.visit_start_date).min(), _v_end=_as_date(visits.visit_end_date).max())
        return rows.join(bounds, rows.visit_occurrence_id == bounds._vid).drop("_vid")

    def _rel_keys(self, table: str, *targets: str) -> ir.Table:
        """`table` left-joined, per foreign-key field (`field=TABLE.key` items), to its target's keys."""
        joined = self.table(table)
        for item in targets:
            column, target = item.split("=")
            target_table, target_key = target.split(".")
            parent = self.table(target_table)
            if target_table == "concept":
                attributes = {name: parent[source] if source in parent.columns else ibis.null("string")
                              for name, source in CONCEPT_ATTRIBUTES.items()}
                keys = parent.group_by(**{f"_k_{column}": parent.concept_id}).aggregate(
                    **{f"_c_{column}_{name}": value.max() for name, value in attributes.items()})
            else:
                keys = parent.select(**{f"_k_{column}": parent[target_key]}).distinct()
            joined = joined.left_join(keys, _as_int(joined[column]) == _as_int(keys[f"_k_{column}"]))
        return joined

    def _rel_svc(self, table: str, column: str, standard: str) -> ir.Table:
        """One row per distinct source value (null included), flagged when some row maps it to concept 0."""
        rows = self.need(table, column, standard)
        return rows.group_by(_value=rows[column]).aggregate(
            _zero=(_as_int(rows[standard]) == 0).fill_null(False).any())

    def _rel_personcomp(self, *tables: str) -> ir.Table:
        """Every person, with whether each of `tables` has a row of theirs (`_in_<table>`)."""
        person = self.need("person", "person_id")
        joined = person.select(_person=person.person_id)
        for table in tables:
            rows = self.need(table, "person_id")
            present = rows.select(**{f"_in_{table}": rows.person_id}).distinct()
            joined = joined.left_join(present, joined._person == present[f"_in_{table}"])
        return joined

    def _rel_era(self, table: str) -> ir.Table:
        occurrences = self.need("condition_occurrence", "person_id", "condition_concept_id")
        eras = self.need(table, "person_id")
        coded = occurrences.filter(_as_int(occurrences.condition_concept_id) != 0)
        persons = coded.select(_person=coded.person_id).distinct()
        with_era = eras.select(_era=eras.person_id).distinct()
        return persons.left_join(with_era, persons._person == with_era._era)

    def _rel_overlap(self, table: str) -> ir.Table:
        periods = self.need(table, "person_id", "observation_period_id", "observation_period_start_date",
                            "observation_period_end_date")
        one = periods.select(_p=periods.person_id, _i=periods.observation_period_id,
                             _s=_as_date(periods.observation_period_start_date),
                             _e=_as_date(periods.observation_period_end_date))
        two = one.select(_p2=one._p, _i2=one._i, _s2=one._s, _e2=one._e)
        pairs = one.join(two, [one._p == two._p2, one._i != two._i2])
        day = ibis.interval(days=1)
        touching = ((pairs._s <= pairs._e2) & (pairs._e >= pairs._s2)) | (pairs._e + day == pairs._s2) \
            | (pairs._e2 + day == pairs._s)
        overlapping = pairs.filter(touching).select(_bad=pairs._p).distinct()
        persons = one.select(_person=one._p).distinct()
        return persons.left_join(overlapping, persons._person == overlapping._bad)

    def _rel_ancestor(self, table: str, column: str, *ancestors: str) -> ir.Table:
        rows = self.need(table, column, "person_id")
        ancestry = self.need("concept_ancestor", "ancestor_concept_id", "descendant_concept_id")
        wanted = ancestry.filter(_as_int(ancestry.ancestor_concept_id).isin([int(a) for a in ancestors]))
        wanted = wanted.select(_anc=_as_int(wanted.ancestor_concept_id), _desc=_as_int(wanted.descendant_concept_id))
        person = self.need("person", "person_id", "gender_concept_id")
        genders = person.group_by(_pid=person.person_id).aggregate(_p_gender=_as_int(person.gender_concept_id).max())
        joined = rows.join(wanted, _as_int(rows[column]) == wanted._desc)
        return joined.join(genders, joined.person_id == genders._pid)


# ------------------------------------------------------------------------ the 27 check types

def _present(check: SpecCheck, rel: Relations) -> ir.Table:
    """The check's table, with its field when it has one (else NotApplicable)."""
    return rel.need(check.table, check.field) if check.field else rel.table(check.table)


def _field(check: SpecCheck) -> Callable[[ir.Table], ir.Value]:
    return lambda t: t[check.field]


def _cdm_table(check: SpecCheck, rel: Relations) -> Direct:
    return Direct(0 if rel.has(check.table) else 1)


def _cdm_field(check: SpecCheck, rel: Relations) -> Direct:
    rel.table(check.table)
    return Direct(0 if check.field in rel.columns(check.table) else 1)


def _null(check: SpecCheck, rel: Relations) -> Measure:
    _present(check, rel)
    return Measure(("base", check.table), lambda t: t[check.field].isnull())


def _datatype(check: SpecCheck, rel: Relations) -> Measure:
    kind = _present(check, rel)[check.field].type()

    def violated(t: ir.Table) -> ir.BooleanValue:
        value = t[check.field]
        if kind.is_integer():
            return ibis.literal(False)
        if kind.is_numeric():
            return value.notnull() & (value != value.floor())
        if kind.is_string():
            return value.notnull() & ~value.strip().re_search(r"^[+-]?[0-9]+$")
        return value.notnull()

    return Measure(("base", check.table), violated)


def _primary_key(check: SpecCheck, rel: Relations) -> Measure:
    _present(check, rel)

    def reduce(t: ir.Table) -> tuple[ir.Scalar, ir.Scalar]:
        return t._n.sum(where=t._key.notnull() & (t._n > 1)).fill_null(0), t._n.sum().fill_null(0)

    return Measure(("pk", check.table, check.field), lambda t: t._key.notnull() & (t._n > 1), id=lambda t: t._key,
                   batch=("pkgroups", check.table, check.field), reduce=reduce)


def _fk_target(check: SpecCheck) -> str:
    return f"{check.row['fkTableName'].lower()}.{(check.row.get('fkFieldName') or '').lower()}"


def _keys_key(check: SpecCheck, rel: Relations) -> tuple[str, ...]:
    """The `keys` relation of the check's table: every foreign key of the table whose target is present."""
    targets = []
    for other in spec_checks(rel.version):
        if other.name == "isForeignKey" and other.table == check.table \
                and other.field in rel.columns(check.table):
            target_table, target_key = _fk_target(other).split(".")
            if target_key in rel.columns(target_table):
                targets.append(f"{other.field}={target_table}.{target_key}")
    return ("keys", check.table, *sorted(set(targets)))


def _keyed(check: SpecCheck, rel: Relations) -> tuple[str, ...]:
    """Checks reading the key target of the check's field: NotApplicable when the target is absent."""
    _present(check, rel)
    target_table, target_key = _fk_target(check).split(".") if check.name == "isForeignKey" else ("concept",
                                                                                                   "concept_id")
    rel.need(target_table, target_key)
    key = _keys_key(check, rel)
    if not any(item.startswith(f"{check.field}=") for item in key[2:]):
        raise NotApplicable(f"{check.table}.{check.field} n'a pas de clé étrangère vers {target_table}")
    return key


def _on_values(check: SpecCheck, violated: Callable[[ir.Table], ir.BooleanValue],
               counted: Callable[[ir.Table], ir.BooleanValue] | None = None) -> Callable:
    """The (violated, counted) row counts of a key check, from the distinct values of its field (`fkvalues`)."""
    def reduce(t: ir.Table) -> tuple[ir.Scalar, ir.Scalar]:
        mine = t._f == check.field
        base = mine & counted(t) if counted else mine
        return (t._n.sum(where=(base & violated(t)).fill_null(False)).fill_null(0),
                t._n.sum(where=base.fill_null(False)).fill_null(0))

    return reduce


def _foreign_key(check: SpecCheck, rel: Relations) -> Measure:
    key = _keyed(check, rel)
    concept = _fk_target(check).startswith("concept.")
    return Measure(key, lambda t: t[check.field].notnull() & t[f"_k_{check.field}"].isnull(),
                   batch=("fkvalues", *key[1:]),
                   reduce=_on_values(check, lambda t: t._v.notnull() & (t._ck if concept else t._tk).isnull()))


def _concept_attribute(check: SpecCheck, rel: Relations, attribute: str, expected: str) -> Measure:
    key = _keyed(check, rel)
    rel.need("concept", CONCEPT_ATTRIBUTES[attribute])
    return Measure(key, lambda t: (t[f"_k_{check.field}"] != 0) & (t[f"_c_{check.field}_{attribute}"] != expected),
                   batch=("fkvalues", *key[1:]),
                   reduce=_on_values(check, lambda t: (t._ck != 0) & (t[f"_c_{attribute}"] != expected)))


def _fk_domain(check: SpecCheck, rel: Relations) -> Measure:
    return _concept_attribute(check, rel, "domain", check.row["fkDomain"])


def _fk_class(check: SpecCheck, rel: Relations) -> Measure:
    return _concept_attribute(check, rel, "class", check.row["fkClass"])


def _standard_valid(check: SpecCheck, rel: Relations) -> Measure:
    key = _keyed(check, rel)
    rel.need("concept", "standard_concept")
    f = check.field

    def violated(t: ir.Table) -> ir.BooleanValue:
        standard = t[f"_c_{f}_std"]
        return (t[f"_k_{f}"] != 0) & ((standard != "S") | standard.isnull() | t[f"_c_{f}_invalid"].notnull()) \
            & t[f"_k_{f}"].notnull()

    def on_values(t: ir.Table) -> ir.BooleanValue:
        standard = t._c_std
        return t._ck.notnull() & (t._ck != 0) & ((standard != "S") | standard.isnull() | t._c_invalid.notnull())

    return Measure(key, violated, counted=lambda t: t[f].notnull(), batch=("fkvalues", *key[1:]),
                   reduce=_on_values(check, on_values, counted=lambda t: t._v.notnull()))


# DQD's field_concept_record_completeness: these concept fields also violate when null while their source is filled
_SOURCES = {
    "admitted_from_concept_id": "admitted_from_source_value", "admitting_source_concept_id": "admitting_source_value",
    "discharged_to_concept_id": "discharged_to_source_value", "discharge_to_concept_id": "discharge_to_source_value",
    "condition_status_concept_id": "condition_status_source_value", "route_concept_id": "route_source_value",
    "modifier_concept_id": "modifier_source_value", "qualifier_concept_id": "qualifier_source_value",
    "cause_concept_id": "cause_source_value", "cause_source_concept_id": "cause_source_value",
    "anatomic_site_concept_id": "anatomic_site_source_value",
    "disease_status_concept_id": "disease_status_source_value", "country_concept_id": "country_source_value",
    "place_of_service_concept_id": "place_of_service_source_value",
    "specialty_concept_id": "specialty_source_value", "specialty_source_concept_id": "specialty_source_value",
    "payer_concept_id": "payer_source_value", "payer_source_concept_id": "payer_source_value",
    "plan_concept_id": "plan_source_value", "plan_source_concept_id": "plan_source_value",
    "sponsor_concept_id": "sponsor_source_value", "sponsor_source_concept_id": "sponsor_source_value",
    "stop_reason_concept_id": "stop_reason_source_value", "stop_reason_source_concept_id": "stop_reason_source_value",
}


def _source_of(table: str, column: str) -> str | None:
    if column in ("unit_concept_id", "unit_source_concept_id") and table != "dose_era":
        return "unit_source_value"
    if table == "provider" and column in ("gender_concept_id", "gender_source_concept_id"):
        return "gender_source_value"
    return _SOURCES.get(column)


def _concept_completeness(check: SpecCheck, rel: Relations) -> Measure:
    columns = _present(check, rel).columns
    source = _source_of(check.table, check.field)
    source = source if source in columns else None
    f = check.field

    def violated(t: ir.Table) -> ir.BooleanValue:
        zero = _as_int(t[f]) == 0
        return zero | (t[f].isnull() & t[source].notnull()) if source else zero

    def counted(t: ir.Table) -> ir.BooleanValue:
        return t[f].notnull() | t[source].notnull() if source else t[f].notnull()

    return Measure(("base", check.table), violated, counted)


def _source_value_completeness(check: SpecCheck, rel: Relations) -> Measure:
    """Distinct source values (null counts as one) of rows mapped to concept 0, among all distinct values."""
    standard = check.row["standardConceptFieldName"].lower()
    rel.need(check.table, check.field, standard)

    def reduce(t: ir.Table) -> tuple[ir.Scalar, ir.Scalar]:
        value, zero = t[check.field], (_as_int(t[standard]) == 0).fill_null(False)
        null_zero = ibis.ifelse((value.isnull() & zero).any(), 1, 0)
        null_any = ibis.ifelse(value.isnull().any(), 1, 0)
        return value.nunique(where=zero) + null_zero, value.nunique() + null_any

    return Measure(("svc", check.table, check.field, standard), lambda t: t._zero, id=lambda t: t._value,
                   batch=("base", check.table), reduce=reduce)


_GETDATE = re.compile(r"^DATEADD\(dd,\s*(-?\d+),\s*GETDATE\(\)\)$", re.I)


def _bound(text: str, now: dt.date) -> dt.date | float:
    """A plausible value of the specification: '18500101' (a date), DATEADD(dd,1,GETDATE()), YEAR(GETDATE())+1, 12."""
    value = text.strip().strip("'")
    if re.fullmatch(r"\d{8}", value):
        return dt.date(int(value[:4]), int(value[4:6]), int(value[6:]))
    match = _GETDATE.match(value)
    if match:
        return now + dt.timedelta(days=int(match.group(1)))
    if value.upper().replace(" ", "") == "YEAR(GETDATE())+1":
        return float(now.year + 1)
    return float(value)


def _now(rel: Relations) -> dt.date:
    """DQD's GETDATE(): the warehouse's extraction date (a date-shifted export's "now"), else today."""
    try:
        return rel.ctx.extraction_date
    except Exception:  # noqa: BLE001 - no extraction date known: the day of the run, as DQD does
        return dt.date.today()


def _plausible_value(check: SpecCheck, rel: Relations, high: bool) -> Measure:
    _present(check, rel)
    bound = _bound(check.row["plausibleValueHigh" if high else "plausibleValueLow"], _now(rel))
    is_date = isinstance(bound, dt.date) or check.row["cdmDatatype"].lower() in ("date", "datetime")

    def violated(t: ir.Table) -> ir.BooleanValue:
        if is_date:
            if not isinstance(bound, dt.date):
                raise NotApplicable(f"borne {bound} non datée pour un champ daté")
            value, limit = _as_date(t[check.field]), ibis.date(bound)
        else:
            value, limit = _as_number(t[check.field]), ibis.literal(bound)
        return value > limit if high else value < limit

    violated(rel.table(check.table))  # a bound the field cannot be compared with is known now
    return Measure(("base", check.table), violated, counted=lambda t: t[check.field].notnull())


def _birth(t: ir.Table) -> ir.Value:
    return t._p_birth.fill_null(t._p_built)


def _temporal_after(check: SpecCheck, rel: Relations) -> Measure:
    _present(check, rel)
    target_table = check.row["plausibleTemporalAfterTableName"].lower()
    target = check.row["plausibleTemporalAfterFieldName"].lower()
    if target_table == "person":
        rel.need("person", "person_id", "year_of_birth")

        def after_person(t: ir.Table) -> ir.BooleanValue:
            year = ibis.date(t._p_year, 6, 1)
            before = _as_date(t._p_birth).fill_null(year) if target == "birth_datetime" else year
            return before > _as_date(t[check.field])

        return Measure(("person", check.table), after_person, counted=lambda t: ibis.literal(True))
    if target_table != check.table:
        raise NotApplicable(f"comparaison avec la table {target_table} non prise en charge")
    rel.need(check.table, target)
    return Measure(("base", check.table), lambda t: _as_date(t[target]) > _as_date(t[check.field]))


def _after_death(check: SpecCheck, rel: Relations, counted_all: bool) -> Measure:
    _present(check, rel)
    rel.need("person", "person_id", "year_of_birth")
    rel.need("death", "person_id", "death_date")

    def counted(t: ir.Table) -> ir.BooleanValue:
        return t._d_death.notnull() if counted_all else t._d_death.notnull() & t[check.field].notnull()

    return Measure(("person", check.table), lambda t: _as_date(t[check.field]) > t._d_death + ibis.interval(days=60),
                   counted=counted)


def _after_birth(check: SpecCheck, rel: Relations) -> Measure:
    _present(check, rel)
    rel.need("person", "person_id", "year_of_birth")
    return Measure(("person", check.table), lambda t: _as_date(t[check.field]) < _birth(t),
                   counted=lambda t: t[check.field].notnull())


def _within_visit(check: SpecCheck, rel: Relations) -> Measure:
    _present(check, rel)
    rel.need("visit_occurrence", "visit_occurrence_id", "visit_start_date", "visit_end_date")
    week = ibis.interval(days=7)

    def violated(t: ir.Table) -> ir.BooleanValue:
        value = _as_date(t[check.field])
        return (value < t._v_start - week) | (value > t._v_end + week)

    return Measure(("visit", check.table), violated)


def _start_before_end(check: SpecCheck, rel: Relations) -> Measure:
    end = check.row["plausibleStartBeforeEndFieldName"].lower()
    rel.need(check.table, check.field, end)
    return Measure(("base", check.table), lambda t: _as_date(t[check.field]) > _as_date(t[end]),
                   counted=lambda t: t[check.field].notnull() & t[end].notnull())


def _gender_tally(key: tuple[str, ...], column: Callable[[ir.Table], ir.Value], mine: list[int],
                  expected: int) -> Tally:
    def count(frame: pd.DataFrame) -> tuple[int, int]:
        rows = frame[frame._a.isin(mine)]
        wrong = rows[rows._b.notna() & (rows._b != expected)]
        return int(wrong._n.sum()), int(rows._n.sum())

    return Tally(key, column, lambda t: t._p_gender, tuple(mine), count)


def _gender(check: SpecCheck, rel: Relations) -> Measure:
    _present(check, rel)
    rel.need("person", "person_id", "year_of_birth", "gender_concept_id")
    expected = MALE if check.row["plausibleGender"] == "Male" else FEMALE
    concept = int(check.concept)
    key = ("person", check.table)

    def column(t: ir.Table) -> ir.Value:
        return _as_int(t[check.field])

    return Measure(key, lambda t: t._p_gender != expected, counted=lambda t: column(t) == concept,
                   tally=_gender_tally(key + ("gender", check.field), column, [concept], expected))


def _gender_descendants(check: SpecCheck, rel: Relations) -> Measure:
    _present(check, rel)
    ancestors = sorted({part.strip() for other in spec_checks(rel.version)
                        if other.name == check.name and other.table == check.table and other.field == check.field
                        for part in (other.concept or "").split(",") if part.strip()})
    rel.need("concept_ancestor", "ancestor_concept_id", "descendant_concept_id")
    rel.need("person", "person_id", "gender_concept_id")
    expected = MALE if check.row["plausibleGenderUseDescendants"] == "Male" else FEMALE
    mine = [int(part) for part in check.concept.split(",")]
    key = ("ancestor", check.table, check.field, *ancestors)
    return Measure(key, lambda t: t._p_gender != expected, counted=lambda t: t._anc.isin(mine),
                   tally=_gender_tally(key + ("gender",), lambda t: t._anc, mine, expected))


def _unit(check: SpecCheck, rel: Relations) -> Measure:
    rel.need(check.table, check.field, "unit_concept_id")
    concept = int(check.concept)
    units = [int(u) for u in check.row["plausibleUnitConceptIds"].split(",") if u.strip()]

    def violated(t: ir.Table) -> ir.BooleanValue:
        unit = _as_int(t.unit_concept_id)
        if units == [-1]:
            return unit.notnull() & (unit != 0)
        return unit.notnull() & ~unit.isin(units + [0])

    def count(frame: pd.DataFrame) -> tuple[int, int]:
        rows = frame[(frame._a == concept) & ((frame._b != 0) | frame._b.isna())]
        unit = rows._b
        wrong = rows[unit.notna() & ((unit != 0) if units == [-1] else ~unit.isin(units + [0]))]
        return int(wrong._n.sum()), int(rows._n.sum())

    def column(t: ir.Table) -> ir.Value:
        return _as_int(t[check.field])

    key = ("base", check.table)
    return Measure(key, violated,
                   counted=lambda t: (column(t) == concept)
                   & ((_as_int(t.unit_concept_id) != 0) | t.unit_concept_id.isnull()),
                   tally=Tally(key + ("unit", check.field), column, lambda t: _as_int(t.unit_concept_id),
                               (concept,), count))


def _person_completeness(check: SpecCheck, rel: Relations) -> Measure:
    rel.need(check.table, "person_id")
    rel.need("person", "person_id")
    tables = sorted({spec.table for spec in spec_checks(rel.version) if spec.name == check.name
                     and "person_id" in rel.columns(spec.table)})
    return Measure(("personcomp", *tables), lambda t: t[f"_in_{check.table}"].isnull(), id=lambda t: t._person)


def _era_completeness(check: SpecCheck, rel: Relations) -> Measure:
    rel.need(check.table, "person_id")
    rel.need("condition_occurrence", "person_id", "condition_concept_id")
    return Measure(("era", check.table), lambda t: t._era.isnull(), id=lambda t: t._person)


def _overlap(check: SpecCheck, rel: Relations) -> Measure:
    rel.need(check.table, "person_id")
    return Measure(("overlap", check.table), lambda t: t._bad.notnull(), id=lambda t: t._person)


MEASURES: dict[str, Callable[[SpecCheck, Relations], Measure | Direct]] = {
    "cdmTable": _cdm_table,
    "measurePersonCompleteness": _person_completeness,
    "measureConditionEraCompleteness": _era_completeness,
    "measureObservationPeriodOverlap": _overlap,
    "cdmField": _cdm_field,
    "isRequired": _null,
    "cdmDatatype": _datatype,
    "isPrimaryKey": _primary_key,
    "isForeignKey": _foreign_key,
    "fkDomain": _fk_domain,
    "fkClass": _fk_class,
    "isStandardValidConcept": _standard_valid,
    "measureValueCompleteness": _null,
    "standardConceptRecordCompleteness": _concept_completeness,
    "sourceConceptRecordCompleteness": _concept_completeness,
    "sourceValueCompleteness": _source_value_completeness,
    "plausibleValueLow": partial(_plausible_value, high=False),
    "plausibleValueHigh": partial(_plausible_value, high=True),
    "plausibleTemporalAfter": _temporal_after,
    "plausibleDuringLife": partial(_after_death, counted_all=True),
    "withinVisitDates": _within_visit,
    "plausibleAfterBirth": _after_birth,
    "plausibleBeforeDeath": partial(_after_death, counted_all=False),
    "plausibleStartBeforeEnd": _start_before_end,
    "plausibleGender": _gender,
    "plausibleGenderUseDescendants": _gender_descendants,
    "plausibleUnitConceptIds": _unit,
}


# ------------------------------------------------------------------------ version and applicability

def cdm_version(ctx: CheckContext) -> str | None:
    """The CDM version of an `omop`-flavour warehouse (`cdm_source.cdm_version`, else its columns); None otherwise."""
    warehouse = ctx.warehouse
    if getattr(warehouse, "flavour", None) != "omop":
        return None
    catalog = getattr(warehouse, "catalog", None)
    declared = normalise_version((getattr(catalog, "metadata", None) or {}).get("cdm_version"))
    if declared:  # stamped by `catalog init`
        return declared
    rel = Relations(ctx, "")
    if rel.has("cdm_source") and "cdm_version" in rel.columns("cdm_source"):
        try:
            values = warehouse.execute(rel.table("cdm_source").cdm_version.cast("string").limit(1))
            declared = values.iloc[0] if len(values) else None
        except Exception:  # noqa: BLE001 - an unreadable cdm_source: the columns decide
            declared = None
    return detect_version({name: rel.columns(name) for name in rel.names}, declared)


def is_dqd(check: Check) -> bool:
    return check.id.startswith(PREFIX)


def applicable_ids(warehouse: Any, checks: Iterable[Check]) -> set[str]:
    """The ids among `checks` a run on `warehouse` gives results for: all but the DQD checks of another CDM
    version (or of any version, on a flavour other than `omop`). A stored run covering them is complete."""
    version = cdm_version(CheckContext(warehouse))
    mine = by_id(version) if version else {}
    return {check.id for check in checks if not is_dqd(check) or check.id in mine}


# ------------------------------------------------------------------------ the run

@dataclass
class _Pending:
    spec: SpecCheck
    result: CheckResult
    measure: Measure | None = None


def run(ctx: CheckContext, checks: Iterable[Check], unscoped_reason: str | None = None) -> dict[str, CheckResult]:
    """Run the DQD checks among `checks` for the warehouse's CDM version; the others are left out.

    Measures on the same relation are aggregated together (one query per
    relation and chunk); DQD's "not applicable" rules are then applied. Like
    DQD, a run gives counts only: no sample of violating ids (compiling one
    query per failed check would cost more than the whole run);
    `workbench quality violations ID` lists them for one check.
    """
    wanted = [check for check in checks if is_dqd(check)]
    version = cdm_version(ctx) if wanted else None
    if version is None:
        return {}
    rel = Relations(ctx, version)
    specs = by_id(version)
    declared = {check.id: check for check in registered()}
    pending = [_pending(specs[check.id], check, rel) for check in wanted if check.id in specs]
    # DQD always runs measureValueCompleteness: its counts say which tables are empty and fields never filled
    chosen = {item.spec.id for item in pending}
    basis_items = [item for item in pending if item.spec.name == "measureValueCompleteness"] + [
        _pending(spec, declared[spec.id], rel) for spec in spec_checks(version)
        if spec.name == "measureValueCompleteness" and spec.id not in chosen]
    _count(rel, [p for p in pending + basis_items if p.measure is not None and p.spec.id not in chosen]
           + [p for p in pending if p.measure is not None])
    basis = _basis(basis_items)
    for item in pending:
        _not_applicable(item, basis, rel)
        if unscoped_reason and item.result.status is not Status.not_applicable:
            item.result.reason = item.result.reason or unscoped_reason
    return {item.result.id: item.result for item in pending}


def _pending(spec: SpecCheck, check: Check, rel: Relations) -> _Pending:
    result = CheckResult(
        id=check.id, category=check.category.value, context=check.context.value, level=check.level.value,
        table=check.table, field=check.field, description=check.description, severity=check.severity.value,
        threshold=spec.threshold, status=Status.error,
    )
    item = _Pending(spec, result)
    try:
        outcome = MEASURES[spec.name](spec, rel)
    except NotApplicable as reason:
        result.status, result.reason = Status.not_applicable, str(reason)
        return item
    except Exception as error:  # noqa: BLE001 - one broken check must not stop the run
        result.reason = f"{type(error).__name__}: {error}"
        return item
    if isinstance(outcome, Direct):
        _classify(result, outcome.violated, outcome.denominator)
    else:
        item.measure = outcome
    return item


def _count(rel: Relations, pending: list[_Pending]) -> None:
    """One aggregate per relation (and chunk of measures), one grouped count per tally."""
    groups: dict[tuple[str, ...], list[_Pending]] = defaultdict(list)
    tallies: dict[tuple[str, ...], list[_Pending]] = defaultdict(list)
    for item in pending:
        if item.measure.tally is not None:
            tallies[item.measure.tally.key].append(item)
        else:
            groups[item.measure.batch or item.measure.key].append(item)
    for items in tallies.values():
        _run_part(rel, items, _tally)
    for items in groups.values():
        for start in range(0, len(items), CHUNK):
            _run_part(rel, items[start:start + CHUNK], _sums)


def _run_part(rel: Relations, items: list[_Pending],
              counter: Callable[[Relations, list[_Pending]], list[tuple[int, int]]]) -> None:
    """Count `items` with one query; a failure is theirs only (not applicable or error), the run goes on."""
    clock = time.perf_counter()
    try:
        counts = counter(rel, items)
    except NotApplicable as reason:
        for item in items:
            item.result.status, item.result.reason = Status.not_applicable, str(reason)
        return
    except Exception as error:  # noqa: BLE001 - these checks are in error, the others still run
        for item in items:
            item.result.reason = f"{type(error).__name__}: {error}"
        return
    share = round((time.perf_counter() - clock) / len(items), 4)
    for item, (violated, denominator) in zip(items, counts):
        item.result.execution_time_s = share
        _classify(item.result, violated, denominator)


def _sums(rel: Relations, items: list[_Pending]) -> list[tuple[int, int]]:
    """Violated and counted rows of each measure as sums over their shared relation (equal sums computed once)."""
    measure = items[0].measure
    relation = rel.relation(measure.batch or measure.key)
    names: dict[Any, str] = {}
    metrics: dict[str, ir.Scalar] = {}

    def metric(expr: ir.Scalar) -> str:
        name = names.setdefault(expr.op(), f"m{len(names)}")
        metrics[name] = expr
        return name

    wanted = []
    for item in items:
        measure = item.measure
        if measure.reduce is not None:
            violated, counted = measure.reduce(relation)
            wanted.append((metric(violated), metric(counted)))
            continue
        counted = (measure.counted(relation) if measure.counted else ibis.literal(True)).fill_null(False)
        violated = counted & measure.violated(relation).fill_null(False)
        wanted.append((metric(_rows(relation, violated)), metric(_rows(relation, counted))))
    frame = rel.ctx.warehouse.execute(relation.aggregate(**metrics))
    value = lambda name: int(frame[name].iloc[0] or 0)  # noqa: E731
    return [(value(v), value(d)) for v, d in wanted]


def _tally(rel: Relations, items: list[_Pending]) -> list[tuple[int, int]]:
    """One grouped count (column × other) over the concepts of every check of the tally."""
    tally = items[0].measure.tally
    relation = rel.relation(items[0].measure.key)
    values = sorted({value for item in items for value in item.measure.tally.values})
    column = tally.column(relation)
    rows = relation.filter(column.isin(values))
    grouped = rows.group_by(_a=tally.column(rows), _b=tally.other(rows)).aggregate(_n=ibis._.count())
    frame = rel.ctx.warehouse.execute(grouped)
    return [item.measure.tally.count(frame) for item in items]


def _rows(relation: ir.Table, flag: ir.BooleanValue) -> ir.IntegerScalar:
    """How many rows of `relation` `flag` holds for (a constant flag: all rows or none)."""
    if isinstance(flag, ir.Scalar):
        return ibis.ifelse(flag, relation.count(), 0)
    return flag.cast("int64").sum()


def _classify(result: CheckResult, violated: int, denominator: int) -> None:
    """DQD's `.evaluateThresholds`: a zero threshold fails on any violating row, else on the share in percent."""
    result.num_violated_rows, result.num_denominator_rows = violated, denominator
    result.pct_violated_rows = round(100.0 * violated / denominator, 4) if denominator else 0.0
    if result.threshold == 0:
        failed = violated > 0
    else:
        failed = result.pct_violated_rows > result.threshold
    result.status = Status.failed if failed else Status.passed


@dataclass
class _Basis:
    """What DQD's not-applicable rules look at: tables present and empty, fields present and never filled."""

    rows: dict[str, int] = field(default_factory=dict)
    empty_fields: set[tuple[str, str]] = field(default_factory=set)


def _basis(items: list[_Pending]) -> _Basis:
    """Row counts and never-filled fields, from the measureValueCompleteness results (as DQD does)."""
    basis = _Basis()
    for item in items:
        result = item.result
        if result.num_denominator_rows is None:
            continue
        basis.rows[item.spec.table] = result.num_denominator_rows
        if result.num_violated_rows == result.num_denominator_rows:
            basis.empty_fields.add((item.spec.table, item.spec.field))
    return basis


def _not_applicable(item: _Pending, basis: _Basis, rel: Relations) -> None:
    """DQD's `.applyNotApplicable`, with the reasons in French."""
    spec, result = item.spec, item.result
    if result.status is Status.not_applicable:
        return
    table_missing = not rel.has(spec.table)
    field_missing = bool(spec.field) and not table_missing and spec.field not in rel.columns(spec.table)
    if spec.name == "cdmTable":
        return
    if spec.name in ("cdmField", "measurePersonCompleteness"):
        if table_missing:
            _mark(result, f"Table {spec.table} absente.")
        return
    if spec.name == "measureConditionEraCompleteness":
        if basis.rows.get("condition_occurrence", 0) == 0:
            _mark(result, "Table condition_occurrence absente ou vide.")
        return
    if table_missing or field_missing:
        _mark(result, f"Table {spec.table} absente." if table_missing else f"Champ {spec.table}.{spec.field} absent.")
        return
    if result.status is Status.error:
        return
    if basis.rows.get(spec.table, 0) == 0:
        _mark(result, f"Table {spec.table} vide.")
    elif spec.name == "measureValueCompleteness":
        return
    elif spec.field and (spec.table, spec.field) in basis.empty_fields:
        _mark(result, f"Champ {spec.table}.{spec.field} jamais renseigné.")
    elif spec.level == "CONCEPT" and result.num_denominator_rows == 0:
        _mark(result, f"{spec.field}={spec.concept} absent de la table {spec.table}.")


def _mark(result: CheckResult, reason: str) -> None:
    result.status, result.reason = Status.not_applicable, reason


def _probe(rel: Relations, measure: Measure, spec: SpecCheck) -> Probe:
    relation = rel.relation(measure.key)
    if measure.id is not None:
        ident = measure.id(relation)
    else:
        ident = _row_id(relation, spec, rel.version)
    counted = measure.counted(relation).fill_null(False) if measure.counted else ibis.literal(True)
    rows = relation.filter(counted).select(**{ID_COLUMN: ident,
                                              VIOLATED_COLUMN: measure.violated(relation).fill_null(False)})
    return Probe(rows)


def _row_id(relation: ir.Table, spec: SpecCheck, version: str) -> ir.Value:
    """The row's primary key when the table has one (DQD's isPrimaryKey rows), else its person, else the field."""
    for other in spec_checks(version):
        if other.name == "isPrimaryKey" and other.table == spec.table and other.field in relation.columns:
            return relation[other.field]
    for column in ("person_id", spec.field):
        if column and column in relation.columns:
            return relation[column]
    return ibis.literal(0)


def build_probe(ctx: CheckContext, check_id: str) -> Probe:
    """The rows one DQD check counts, for `quality violations` (the same measure the batched run aggregates)."""
    version = cdm_version(ctx)
    if version is None:
        raise NotApplicable("spécification DQD de l'OMOP standard : source d'une autre saveur")
    spec = by_id(version).get(check_id)
    if spec is None:
        raise NotApplicable(f"contrôle absent de la spécification DQD du CDM {version}")
    rel = Relations(ctx, version)
    outcome = MEASURES[spec.name](spec, rel)
    if isinstance(outcome, Direct):
        frame = ibis.memtable({ID_COLUMN: [spec.dqd_id], VIOLATED_COLUMN: [bool(outcome.violated)]})
        return Probe(frame)
    return _probe(rel, outcome, spec)


# ------------------------------------------------------------------------ declarations

def _declare_all() -> None:
    """Declare each check of either version once (5.4's declaration wins where both define it)."""
    seen: dict[str, SpecCheck] = {}
    for version in reversed(VERSIONS):
        for spec in spec_checks(version):
            seen.setdefault(spec.id, spec)
    for spec in seen.values():
        description = spec.description
        declare(
            spec.id,
            category=Category(description["kahnCategory"].lower()),
            context=Context(description["kahnContext"].lower()),
            level=Level(spec.level.lower()),
            table=spec.table, field=spec.field,
            description=DESCRIPTIONS_FR[spec.name].format(table=spec.table, field=spec.field, concept=spec.concept),
            threshold=spec.threshold,
            severity=SEVERITIES.get(description["severity"], Severity.warning),
            build=partial(build_probe, check_id=spec.id),
            subcategory=(description["kahnSubcategory"] or "").lower() or None,
        )


_declare_all()


# ------------------------------------------------------------------------ coverage and DQD's JSON

def coverage(ctx: CheckContext, results: Iterable[CheckResult] = ()) -> list[dict[str, Any]]:
    """Per check type: the specification's count (all tables, tables present) next to ours for this warehouse,
    and, given a run's `results`, how many of ours ended in each status."""
    version = cdm_version(ctx)
    if version is None:
        return []
    present = {name.lower() for name in ctx.table_names}
    declared = {check.id for check in registered() if is_dqd(check)}
    statuses = {result.id: result.status.value for result in results}
    rows = []
    for name in check_types(version):
        specs = [spec for spec in spec_checks(version) if spec.name == name]
        in_tables = [spec for spec in specs if spec.table in present]
        ours = [spec for spec in in_tables if spec.id in declared and spec.name in MEASURES]
        rows.append({
            "check": name, "level": specs[0].level if specs else "", "cdm_version": version,
            "spec_all_tables": len(specs), "spec_tables_present": len(in_tables), "ours": len(ours),
            "gap_pct": round(100.0 * (len(in_tables) - len(ours)) / len(in_tables), 1) if in_tables else 0.0,
        })
        if statuses:
            for status in Status:
                rows[-1][status.value] = sum(1 for spec in ours if statuses.get(spec.id) == status.value)
    return rows


# the fields DQD writes per check (R/recordResult.R, R/evaluateThresholds.R, R/calculateNotApplicableStatus.R)
DQD_RESULT_FIELDS = (
    "numViolatedRows", "pctViolatedRows", "numDenominatorRows", "executionTime", "queryText", "checkName",
    "checkLevel", "checkDescription", "cdmTableName", "cdmFieldName", "conceptId", "unitConceptId", "sqlFile",
    "category", "subcategory", "context", "warning", "error", "checkId", "failed", "passed", "isError",
    "notApplicable", "notApplicableReason", "thresholdValue", "notesValue",
)
# the overview DQD writes (R/summarizeResults.R)
DQD_OVERVIEW_FIELDS = (
    "countTotal", "countPassed", "countErrorFailed", "countThresholdFailed", "countOverallFailed", "percentPassed",
    "percentFailed", "countTotalPlausibility", "countTotalConformance", "countTotalCompleteness",
    "countFailedPlausibility", "countFailedConformance", "countFailedCompleteness", "countPassedPlausibility",
    "countPassedConformance", "countPassedCompleteness",
)


def _render(template: str, spec: SpecCheck) -> str:
    """DQD's description template with its @parameters filled from the check's row (upper case, as DQD does)."""
    values = {key: str(value).upper() for key, value in spec.row.items() if value is not None}
    return re.sub(r"@(\w+)", lambda m: values.get(m.group(1), m.group(0)), template)


def dqd_record(result: CheckResult, spec: SpecCheck) -> dict[str, Any]:
    """One check result with exactly DQD's fields (pctViolatedRows a fraction, flags 0/1, names upper case)."""
    na = result.status is Status.not_applicable
    error = result.status is Status.error
    failed = result.status is Status.failed
    pct = None if result.pct_violated_rows is None else round(result.pct_violated_rows / 100.0, 6)
    return {
        "numViolatedRows": result.num_violated_rows,
        "pctViolatedRows": pct,
        "numDenominatorRows": result.num_denominator_rows,
        "executionTime": f"{result.execution_time_s:f} secs",
        "queryText": result.sql,
        "checkName": spec.name,
        "checkLevel": spec.level,
        "checkDescription": _render(spec.description["checkDescription"], spec),
        "cdmTableName": spec.table.upper(),
        "cdmFieldName": spec.field.upper() if spec.field else None,
        "conceptId": spec.concept,
        "unitConceptId": spec.unit,
        "sqlFile": spec.description["sqlFile"],
        "category": spec.description["kahnCategory"],
        "subcategory": spec.description["kahnSubcategory"] or None,
        "context": spec.description["kahnContext"],
        "warning": None,
        "error": result.reason if error else None,
        "checkId": spec.dqd_id,
        "failed": int(failed),
        "passed": int(result.status is Status.passed),
        "isError": int(error),
        "notApplicable": int(na),
        "notApplicableReason": result.reason if na else None,
        "thresholdValue": spec.threshold,
        "notesValue": spec.notes,
    }


def _overview(records: list[dict[str, Any]]) -> dict[str, Any]:
    """DQD's `.summarizeResults` over the records."""
    def count(**where: Any) -> int:
        return sum(1 for r in records if all(r[k] == v for k, v in where.items()))

    total, failed = len(records), count(failed=1)
    passed = total - failed
    errors = count(isError=1)
    overview: dict[str, Any] = {
        "countTotal": total, "countPassed": passed, "countErrorFailed": errors,
        "countThresholdFailed": failed, "countOverallFailed": failed,
        "percentPassed": round(100.0 * passed / (passed + failed), 2) if total else 0.0,
        "percentFailed": round(100.0 * failed / (passed + failed), 2) if total else 0.0,
    }
    for category in ("Plausibility", "Conformance", "Completeness"):
        overview[f"countTotal{category}"] = count(category=category)
        overview[f"countFailed{category}"] = count(category=category, failed=1)
        overview[f"countPassed{category}"] = count(category=category, passed=1)
    return {key: overview[key] for key in DQD_OVERVIEW_FIELDS}


def dqd_json(run_result: RunResult, version: str, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """A run's DQD checks in DQD's results JSON shape (`startTimestamp`, `CheckResults`, `Metadata`, `Overview`)."""
    specs = by_id(version)
    records = [dqd_record(result, specs[result.id]) for result in run_result.results if result.id in specs]
    started = dt.datetime.fromisoformat(run_result.started_at)
    ended = started + dt.timedelta(seconds=run_result.duration_s)
    return {
        "startTimestamp": started.isoformat(timespec="seconds"),
        "endTimestamp": ended.isoformat(timespec="seconds"),
        "executionTime": f"{run_result.duration_s:.0f} secs",
        "executionTimeSeconds": run_result.duration_s,
        "CheckResults": records,
        "Metadata": [{"cdmVersion": version, "dqdVersion": f"workbench ({PREFIX}spec)",
                      "snapshotId": run_result.snapshot_id, **(metadata or {})}],
        "Overview": _overview(records),
    }
