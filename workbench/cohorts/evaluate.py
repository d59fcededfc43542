"""Evaluate a cohort definition on a warehouse: members and attrition, ATLAS-style.

`evaluate(warehouse, definition)` reads only the canonical views (and the
reference table `concept_ancestor` for descendants of OMOP concepts) through
the object it is given, so the user's perimeter applies: a `Warehouse` opened
for a clinician sees his rows only; `Warehouse.unrestricted()` (feasibility,
whose counts leave only through `workbench.cohorts.feasibility`) sees all.

How it works: the entry event's rows give the **index** (one row per patient —
his earliest event in the period — or per stay, by unit); each inclusion rule
becomes one boolean column of the index (a criterion on events is a semi-join
of its events on the patient, filtered by the window relative to the index
date); the index with its rule columns is fetched once, and attrition and
members are read from it. Criteria `texte` and `tnm` take their mentions from
`workbench.nlp` (negated, hypothetical and family mentions already left out).

`CohortResult.members` is a pandas DataFrame (person_id, stay_id, index_date,
hospital, year, sex, age, age_band), not an ibis expression: it is small (one
row per member) and sampling, feasibility and exports all work on it.
"""

from __future__ import annotations

import bisect
import operator
import re
from dataclasses import dataclass
from functools import lru_cache, reduce
from typing import Any, Callable

import ibis
import ibis.expr.types as ir
import pandas as pd

from workbench.cohorts.definition import (
    Acte,
    Age,
    Biologie,
    CohortDefinition,
    Diagnostic,
    Ghm,
    Groupe,
    Medicament,
    Sejour,
    Sexe,
    Texte,
    Tnm,
    TNM_PATTERN,
    Window,
)
from workbench.errors import UserError

MEMBER_COLUMNS = ["person_id", "stay_id", "index_date", "hospital", "year", "sex", "age", "age_band"]
ENTRY_LABEL = "Événement d'entrée"


@dataclass(frozen=True)
class CohortResult:
    """Members and attrition of one definition on one snapshot.

    `attrition` has one row per step: step 0 is the entry event, step k the
    k-th inclusion rule; `patients`/`stays` count what remains after the rules
    up to k, `patients_alone`/`stays_alone` what the rule alone keeps of the
    entry events (as ATLAS reports them). `index` is every entry row with one
    boolean column per rule (``rule_1``…), what feasibility regroups.
    """

    definition: CohortDefinition
    members: pd.DataFrame
    attrition: pd.DataFrame
    index: pd.DataFrame
    snapshot_id: str

    @property
    def empty(self) -> bool:
        return self.members.empty

    def require_members(self) -> None:
        """A `UserError` naming the step that emptied the cohort, for work that needs members (sample, export)."""
        if not self.empty:
            return
        counts = self.attrition["patients"].tolist()
        step = next((i for i, count in enumerate(counts) if count == 0), len(counts) - 1)
        where = ("aucun événement d'entrée" if step == 0
                 else f"la règle « {self.attrition['rule'].iloc[step]} » ne laisse aucun patient")
        raise UserError(f"cohorte « {self.definition.nom} » vide : {where}")


def evaluate(warehouse: Any, definition: CohortDefinition) -> CohortResult:
    """Members and attrition of `definition` on `warehouse` (a `Warehouse` or its `unrestricted()` face)."""
    evaluator = _Evaluator(warehouse, definition)
    frame = evaluator.index_frame()
    rules = [f"rule_{k}" for k in range(1, len(definition.inclusion) + 1)]
    attrition = _attrition(frame, rules, [ENTRY_LABEL] + [rule.nom for rule in definition.inclusion])
    kept = frame[reduce(operator.and_, [frame[r] for r in rules], pd.Series(True, index=frame.index))]
    members = kept[MEMBER_COLUMNS].sort_values(["person_id", "stay_id"], na_position="last").reset_index(drop=True)
    return CohortResult(definition, members, attrition, frame, str(warehouse.snapshot_id))


def _count(frame: pd.DataFrame) -> tuple[int, int]:
    return int(frame["person_id"].nunique()), int(frame["stay_id"].dropna().nunique())


def _attrition(frame: pd.DataFrame, rules: list[str], labels: list[str]) -> pd.DataFrame:
    patients, stays = _count(frame)
    rows = [{"step": 0, "rule": labels[0], "patients": patients, "stays": stays,
             "patients_alone": patients, "stays_alone": stays}]
    mask = pd.Series(True, index=frame.index)
    for k, rule in enumerate(rules, start=1):
        mask = mask & frame[rule]
        patients, stays = _count(frame[mask])
        alone_patients, alone_stays = _count(frame[frame[rule]])
        rows.append({"step": k, "rule": labels[k], "patients": patients, "stays": stays,
                     "patients_alone": alone_patients, "stays_alone": alone_stays})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ the evaluator


def _prefixes(value: ir.StringValue, codes: list[str]) -> ir.BooleanValue:
    """`value` starts with one of `codes` (codes reach the query as literals only)."""
    return reduce(operator.or_, [value.startswith(ibis.literal(code)) for code in codes], ibis.literal(False))


def _code(value: ir.StringValue) -> ir.StringValue:
    """A stored code in the shape of the definition's: upper case, no dot."""
    return value.upper().replace(".", "")


_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "=": operator.eq, "!=": operator.ne,
}


class _Evaluator:
    """Builds the index and the rule columns of one definition as ibis expressions over `source`'s views."""

    def __init__(self, source: Any, definition: CohortDefinition):
        self.source = source
        self.definition = definition
        self.aphp = source.flavour == "aphp"

    # --------------------------------------------------------------- index
    def index_frame(self) -> pd.DataFrame:
        index = self._index()
        columns = {f"rule_{k}": self._rule(rule.operateur, rule.criteres, index, f"inclusion[{k - 1}]")
                   for k, rule in enumerate(self.definition.inclusion, start=1)}
        frame = self.source.execute(index.mutate(**columns) if columns else index)
        frame = frame.drop(columns=["_key", "birth_date"])
        for name in columns:
            frame[name] = frame[name].fillna(False).astype(bool)
        frame["index_date"] = pd.to_datetime(frame["index_date"]).dt.date
        frame["year"] = pd.to_datetime(frame["index_date"]).dt.year.astype("Int64")
        frame["person_id"] = frame["person_id"].astype("int64")
        frame["stay_id"] = frame["stay_id"].astype("Int64")
        frame["age"] = frame["age"].astype("Int64")
        return frame

    def _index(self) -> ir.Table:
        events = self._events(self.definition.entree, "entree")
        events = events.filter(events.event_date.notnull())  # an undated event cannot give an index date
        period = self.definition.periode
        if period.debut is not None:
            events = events.filter(events.event_date >= ibis.literal(period.debut))
        if period.fin is not None:
            events = events.filter(events.event_date <= ibis.literal(period.fin))
        if self.definition.unite == "patients":
            rank = ibis.row_number().over(group_by=events.person_id,
                                          order_by=[events.event_date, events.stay_id])
            first = events.mutate(_rank=rank).filter(ibis._["_rank"] == 0)
            index = first.select(person_id="person_id", stay_id="stay_id", index_date="event_date")
            key = index.person_id
        else:
            stays = events.filter(events.stay_id.notnull())
            index = stays.group_by("stay_id").aggregate(person_id=stays.person_id.min(),
                                                        index_date=stays.event_date.min())
            key = index.stay_id
        index = index.mutate(_key=key)
        stays_view = self.source.view("stays").select(_sid="stay_id", hospital="hospital")
        patients = self.source.view("patients").select(_pid="person_id", sex="sex", birth_date="birth_date")
        joined = index.left_join(stays_view, index.stay_id == stays_view._sid).drop("_sid")
        joined = joined.left_join(patients, joined.person_id == patients._pid).drop("_pid")
        from workbench.semantic.views import age_band, whole_years

        age = whole_years(joined.index_date, joined.birth_date)
        return joined.mutate(hospital=joined.hospital.fill_null("inconnu"), age=age, age_band=age_band(age))

    # --------------------------------------------------------------- rules
    def _rule(self, operateur: str, criteria: list[Any], index: ir.Table, path: str) -> ir.BooleanValue:
        parts = [self._criterion(c, index, f"{path}.criteres[{i}]") for i, c in enumerate(criteria)]
        if operateur == "ET":
            return reduce(operator.and_, parts)
        union = reduce(operator.or_, parts)
        return union if operateur == "OU" else ~union

    def _criterion(self, criterion: Any, index: ir.Table, path: str) -> ir.BooleanValue:
        if isinstance(criterion, Groupe):
            return self._rule(criterion.operateur, criterion.criteres, index, path)
        if isinstance(criterion, Age):
            bounds = []
            if criterion.min is not None:
                bounds.append(index.age >= criterion.min)
            if criterion.max is not None:
                bounds.append(index.age <= criterion.max)
            return reduce(operator.and_, bounds).fill_null(False)
        if isinstance(criterion, Sexe):
            return (index.sex == criterion.valeur).fill_null(False)
        events = self._events(criterion, path)
        keys = index.select(_ikey="_key", _iperson="person_id", _istay="stay_id", _idate="index_date")
        joined = keys.join(events, keys._iperson == events.person_id)
        joined = _within(joined, criterion.fenetre)
        matched = joined.group_by("_ikey").aggregate(_n=joined.count())
        matched = matched.filter(matched._n >= criterion.au_moins)
        return index._key.isin(matched._ikey)

    # --------------------------------------------------------------- events
    def _events(self, criterion: Any, path: str) -> ir.Table:
        """(person_id, stay_id, event_date) rows of an event criterion."""
        builder = {Diagnostic: self._diagnoses, Acte: self._procedures, Ghm: self._ghm, Biologie: self._biology,
                   Medicament: self._drugs, Sejour: self._stays, Texte: self._text, Tnm: self._tnm}[type(criterion)]
        table, date = builder(criterion, path)
        return table.select(person_id=table.person_id.cast("int64"), stay_id=table.stay_id.cast("int64"),
                            event_date=date.cast("date"))

    def _check_concepts(self, ids: list[int], path: str) -> None:
        """Concept ids the warehouse's vocabulary (``concept``, when present) does not know are an error."""
        if "concept" not in self.source.tables:
            return
        concept = self.source.table("concept")
        found = self.source.execute(concept.filter(concept.concept_id.cast("int64").isin(ids))
                                    .select(c=concept.concept_id.cast("int64")))["c"].tolist()
        missing = sorted(set(ids) - {int(c) for c in found})
        if missing:
            raise UserError(f"{path}.concepts : concept(s) inconnu(s) du vocabulaire de l'entrepôt : "
                            f"{', '.join(map(str, missing))}")

    def _coded(self, view: str, criterion: Any, path: str, check: Callable[[list[str], str], None] | None,
               code_column: str = "code") -> ir.Table:
        table = self.source.view(view)
        predicates = []
        if criterion.codes:
            if check is not None and self.aphp:
                check(criterion.codes, f"{path}.codes")
            predicates.append(_prefixes(_code(table[code_column]), criterion.codes))
        if criterion.concepts:
            predicates.append(self._in_concepts(table, view, criterion.concepts, path))
        return table.filter(reduce(operator.or_, predicates).fill_null(False))

    def _require(self, view: str, column: str, path: str, what: str) -> None:
        """A criterion on a fact the flavour lacks is an error, not an empty cohort."""
        if column in self.source.unavailable(view):
            raise UserError(f"{path} : l'entrepôt ({self.source.flavour}) ne porte pas {what} "
                            f"(colonne « {column} » de la vue « {view} » indisponible)")

    def _in_concepts(self, table: ir.Table, view: str, ids: list[int], path: str) -> ir.BooleanValue:
        """`table.concept_id` is one of `ids` or one of their descendants through ``concept_ancestor`` (literals
        and a semi-join on the source's own table: no in-memory table, so the same query runs on Spark)."""
        self._require(view, "concept_id", f"{path}.concepts", "de concepts standard OMOP")
        wanted = sorted({int(i) for i in ids})
        self._check_concepts(wanted, path)
        predicate = table.concept_id.isin(wanted)
        if "concept_ancestor" in self.source.tables:
            ancestry = self.source.table("concept_ancestor")
            below = ancestry.filter(ancestry.ancestor_concept_id.cast("int64").isin(wanted))
            predicate = predicate | table.concept_id.isin(below.descendant_concept_id.cast("int64"))
        return predicate

    def _diagnoses(self, criterion: Diagnostic, path: str) -> tuple[ir.Table, ir.Value]:
        table = self._coded("diagnoses", criterion, path, _check_cim10)
        if criterion.statut:
            table = table.filter(table.status.isin(list(criterion.statut)))
        return table, table.datetime.date()

    def _procedures(self, criterion: Acte, path: str) -> tuple[ir.Table, ir.Value]:
        table = self._coded("procedures", criterion, path, _check_ccam)
        return table, table.datetime.date()

    def _ghm(self, criterion: Ghm, path: str) -> tuple[ir.Table, ir.Value]:
        self._require("stays", "ghm", f"{path}.codes", "de GHM")
        stays = self.source.view("stays")
        table = stays.filter(_prefixes(stays.ghm.upper(), criterion.codes).fill_null(False))
        return table, table.start_date

    def _biology(self, criterion: Biologie, path: str) -> tuple[ir.Table, ir.Value]:
        table = self.source.view("biology")
        predicates = []
        if criterion.codes:
            if self.aphp and "concept" in self.source.tables:
                self._check_lab_codes(criterion.codes, f"{path}.codes")
            codes = [ibis.literal(c) for c in criterion.codes]
            predicates += [table.loinc.isin(codes), table.local_code.isin(codes)]
        if criterion.concepts:
            predicates.append(self._in_concepts(table, "biology", criterion.concepts, path))
        table = table.filter(reduce(operator.or_, predicates).fill_null(False))
        if criterion.valeur is not None:
            unit = criterion.unite.strip().lower()  # type: ignore[union-attr]
            self._check_unit(table, unit, criterion, path)
            table = table.filter((table.unit.strip().lower() == unit).fill_null(False))
            compare = _COMPARE[criterion.comparaison]  # type: ignore[index]
            table = table.filter(compare(table.value, ibis.literal(float(criterion.valeur))).fill_null(False))
        return table, table.datetime.date()

    def _check_lab_codes(self, codes: list[str], path: str) -> None:
        """AP-HP biology codes (ANABIO local codes, LOINC) are concepts of the warehouse's `concept` table."""
        concept = self.source.table("concept")
        found = self.source.execute(concept.filter(concept.concept_code.isin(codes)).select("concept_code").distinct())
        missing = sorted(set(codes) - set(found["concept_code"]))
        if missing:
            raise UserError(f"{path} : code(s) de biologie inconnu(s) (ni ANABIO ni LOINC dans le vocabulaire de "
                            f"l'entrepôt) : {', '.join(missing)}")

    def _check_unit(self, table: ir.Table, unit: str, criterion: Biologie, path: str) -> None:
        """A threshold in a unit none of the code's results carry is an error, not an empty cohort."""
        found = self.source.execute(table.select(u=table.unit.strip().lower()).distinct())["u"].dropna().tolist()
        if found and unit not in found:
            raise UserError(f"{path}.unite : unité « {criterion.unite} » incompatible avec les résultats des codes "
                            f"{', '.join(criterion.codes or map(str, criterion.concepts))} "
                            f"(unités trouvées : {', '.join(sorted(found))}) ; convertissez le seuil")

    def _drugs(self, criterion: Medicament, path: str) -> tuple[ir.Table, ir.Value]:
        table = self.source.view("drugs")
        predicates = []
        if criterion.atc:
            self._require("drugs", "atc", f"{path}.atc", "de codes ATC")
            predicates.append(_prefixes(table.atc.upper(), criterion.atc))
        if criterion.ucd:
            self._require("drugs", "ucd", f"{path}.ucd", "de codes UCD")
            if self.aphp:
                _check_ucd(criterion.ucd, f"{path}.ucd")
            predicates.append(table.ucd.isin([ibis.literal(c) for c in criterion.ucd]))
        if criterion.concepts:
            predicates.append(self._in_concepts(table, "drugs", criterion.concepts, path))
        table = table.filter(reduce(operator.or_, predicates).fill_null(False))
        if criterion.mode != "tous":
            table = table.filter(table.kind == criterion.mode)
        return table, table.start_datetime.date()

    def _stays(self, criterion: Sejour, path: str) -> tuple[ir.Table, ir.Value]:
        table = self.source.view("stays")
        if criterion.type_visite:
            table = table.filter(table.visit_type.isin(criterion.type_visite))
        if criterion.champ:
            table = table.filter(table.stay_type.isin(list(criterion.champ)))
        if criterion.sites:
            sites = [ibis.literal(s) for s in criterion.sites]
            table = table.filter(reduce(operator.or_, [table[c].isin(sites).fill_null(False)
                                                      for c in ("hospital", "pole", "service", "uf")]))
        if criterion.debut is not None:
            table = table.filter(table.start_date >= ibis.literal(criterion.debut))
        if criterion.fin is not None:
            table = table.filter(table.start_date <= ibis.literal(criterion.fin))
        return table, table.start_date

    def _mentions(self, frame: pd.DataFrame) -> tuple[ir.Table, ir.Value]:
        rows = pd.DataFrame({
            "person_id": pd.to_numeric(frame["person_id"]).astype("int64"),
            "stay_id": pd.to_numeric(frame["stay_id"]).astype("Int64"),
            "event_date": pd.to_datetime(frame["datetime"]).dt.date,
        }).drop_duplicates()
        table = ibis.memtable(rows, schema={"person_id": "int64", "stay_id": "int64", "event_date": "date"})
        return table, table.event_date

    def _text(self, criterion: Texte, path: str) -> tuple[ir.Table, ir.Value]:
        from workbench import nlp

        return self._mentions(nlp.find_mentions(self.source, criterion.termes, regex=criterion.regex))

    def _tnm(self, criterion: Tnm, path: str) -> tuple[ir.Table, ir.Value]:
        from workbench import nlp

        mentions = nlp.tnm_mentions(self.source)
        return self._mentions(mentions[tnm_matches(mentions, criterion.stade)])


def tnm_matches(mentions: pd.DataFrame, conditions: list[str]) -> pd.Series:
    """Mentions whose stage meets every condition (``T>=3``, ``M1``); an unreadable component (``x``) never does."""
    mask = pd.Series(True, index=mentions.index)
    for condition in conditions:
        found = TNM_PATTERN.match(condition)
        assert found is not None  # validated by the definition
        letter, sign, number = found.group(1).lower(), found.group(2) or "=", int(found.group(3))
        values = pd.to_numeric(mentions[letter].astype("string").str.extract(r"(\d)", expand=False), errors="coerce")
        mask &= _COMPARE[sign](values, number).fillna(False).astype(bool)
    return mask


def _within(joined: ir.Table, window: Window | None) -> ir.Table:
    """Events inside the window relative to the index row (same stay; N days before to M days after)."""
    if window is None:
        return joined
    if window.meme_sejour:
        joined = joined.filter((joined.stay_id == joined._istay).fill_null(False))
    if window.jours_avant is not None or window.jours_apres is not None:
        before, after = window.jours_avant or 0, window.jours_apres or 0
        days = joined.event_date.delta(joined._idate, unit="day")
        joined = joined.filter(((days >= -before) & (days <= after)).fill_null(False))
    return joined


# ------------------------------------------------------------------ codes that exist


@lru_cache(maxsize=None)
def _known(nomenclature: str) -> tuple[str, ...]:
    """The sorted codes of a nomenclature (read once per process: prefix checks bisect it)."""
    from workbench import vocab

    if nomenclature == "CIM-10":
        codes = {re.sub(r"[^0-9A-Z]", "", c) for c in vocab.cim10_codes()}
    elif nomenclature == "CCAM":
        codes = set(vocab.ccam_codes())
    else:
        codes = set(vocab.ucd_codes())
    return tuple(sorted(codes))


def unknown_codes(codes: list[str], nomenclature: str) -> list[str]:
    """The codes (prefixes) that start no code of `nomenclature` (CIM-10, CCAM or UCD)."""
    known = _known(nomenclature)
    missing = []
    for code in codes:
        at = bisect.bisect_left(known, code)
        if at == len(known) or not known[at].startswith(code):
            missing.append(code)
    return missing


def _refuse_unknown(codes: list[str], nomenclature: str, path: str) -> None:
    missing = unknown_codes(codes, nomenclature)
    if missing:
        raise UserError(f"{path} : code(s) {nomenclature} inconnu(s) : {', '.join(missing)} "
                        "(ni code ni début de code de la nomenclature)")


def _check_cim10(codes: list[str], path: str) -> None:
    _refuse_unknown(codes, "CIM-10", path)


def _check_ccam(codes: list[str], path: str) -> None:
    _refuse_unknown(codes, "CCAM", path)


def _check_ucd(codes: list[str], path: str) -> None:
    _refuse_unknown(codes, "UCD", path)
