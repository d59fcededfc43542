"""Prescreening: the patients of a clinician's care team, seen lately, who may be eligible for a trial.

A trial's criteria are a cohort definition (`workbench.cohorts.definition`).
The candidates are the patients of the user's perimeter with a stay in the
last N days, counted back from the warehouse's extraction date (its "now", not
the clock: a warehouse extracted a month ago still shows that month). Each
candidate holding the entry event is listed with the number of criteria he
meets (the entry event plus each inclusion rule, as `evaluate` decides them),
eligible when he meets them all, ranked by criteria met then by his latest
visit; and with the evidence of each leaf criterion: codes and dates, the
report sentence with the matched words, the TNM stage as written.

Showing report text is nominative: prescreening is refused (and the refusal
audited) to a role the action table does not allow and to a user without the
nominative right on his perimeter.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from functools import reduce
from typing import Any

import ibis
import pandas as pd

from workbench.cohorts.definition import (
    Acte, Age, Biologie, CohortDefinition, Diagnostic, Ghm, Groupe, Medicament, Sejour, Sexe, Texte, Tnm,
)
from workbench.cohorts.evaluate import evaluate, tnm_matches
from workbench.errors import UserError

#: Evidence rows kept per patient and criterion (the most recent ones).
EVIDENCE_PER_CRITERION = 3
EVIDENCE_COLUMNS = ["person_id", "criterion", "type", "date", "code", "detail", "matched"]
PATIENT_COLUMNS = ["rank", "person_id", "criteria_met", "criteria_total", "eligible", "last_seen", "index_date",
                   "hospital", "sex", "age"]


@dataclass(frozen=True)
class Prescreening:
    """The ranked candidates (`patients`, PATIENT_COLUMNS) and their `evidence` (EVIDENCE_COLUMNS)."""

    definition: CohortDefinition
    days: int
    since: date
    until: date
    snapshot_id: str
    patients: pd.DataFrame
    evidence: pd.DataFrame


def check_access(user: Any) -> None:
    """Refuse prescreening to a role not allowed and to a user without the nominative right (audited)."""
    from workbench.access import refused, require

    require(user, "cohort.prescreen")
    if user is not None and not user.nominative:
        raise refused(user, f"accès refusé : le préscreening affiche des extraits de comptes rendus et exige le droit "
                            f"nominatif sur le périmètre, que l'utilisateur {user.name} n'a pas", action="cohort.prescreen")


def prescreen(warehouse: Any, definition: CohortDefinition, days: int = 30) -> Prescreening:
    """Candidates of `definition` among the patients seen in the last `days` days, within the warehouse user's rights."""
    if days < 1:
        raise UserError(f"--days {days} : le nombre de jours doit être au moins 1")
    check_access(warehouse.user)
    until = warehouse.extraction_date
    since = until - timedelta(days=days)
    seen = _seen(warehouse, since, until)
    result = evaluate(warehouse, definition)
    rules = [f"rule_{k}" for k in range(1, len(definition.inclusion) + 1)]
    index = result.index.merge(seen, on="person_id", how="inner")
    met = index[rules].sum(axis=1).astype(int) + 1 if rules else pd.Series(1, index=index.index)
    patients = index.assign(criteria_met=met, criteria_total=len(rules) + 1, eligible=met == len(rules) + 1)
    patients = (patients.sort_values(["criteria_met", "last_seen", "person_id"], ascending=[False, False, True])
                .drop_duplicates("person_id").reset_index(drop=True))
    patients["rank"] = range(1, len(patients) + 1)
    patients = patients[PATIENT_COLUMNS]
    evidence = _evidence(warehouse, definition, patients)
    from workbench import audit

    audit.write("prescreen", warehouse.user, cohort=definition.nom, criteria=definition.digest(), days=days,
                since=since.isoformat(), until=until.isoformat(), patients=len(patients),
                eligible=int(patients["eligible"].sum()), snapshot=str(warehouse.snapshot_id))
    return Prescreening(definition, days, since, until, str(warehouse.snapshot_id), patients, evidence)


def _seen(warehouse: Any, since: date, until: date) -> pd.DataFrame:
    """person_id, last_seen: patients with a stay overlapping [since, until] (an open stay counts until `until`)."""
    stays = warehouse.view("stays")
    end = stays.end_date.fill_null(ibis.literal(until))
    recent = stays.filter((stays.start_date <= ibis.literal(until)) & (end >= ibis.literal(since)))
    last = ibis.least(end, ibis.literal(until))
    frame = warehouse.execute(recent.group_by("person_id").aggregate(last_seen=last.max()))
    frame["person_id"] = frame["person_id"].astype("int64")
    frame["last_seen"] = pd.to_datetime(frame["last_seen"]).dt.date
    return frame


def _leaves(definition: CohortDefinition) -> Iterator[tuple[str, Any]]:
    """(path, criterion) of every leaf criterion: the entry event, then the inclusion rules' criteria, groups opened."""
    def walk(path: str, criterion: Any) -> Iterator[tuple[str, Any]]:
        if isinstance(criterion, Groupe):
            for i, inner in enumerate(criterion.criteres):
                yield from walk(f"{path}.criteres[{i}]", inner)
        else:
            yield path, criterion

    yield from walk("entree", definition.entree)
    for k, rule in enumerate(definition.inclusion):
        for i, criterion in enumerate(rule.criteres):
            yield from walk(f"inclusion[{k}].criteres[{i}]", criterion)


def _prefixed(column: Any, codes: list[str]) -> Any:
    return reduce(operator.or_, [column.upper().replace(".", "").startswith(ibis.literal(c)) for c in codes], ibis.literal(False))


def _coded(warehouse: Any, view: str, criterion: Any, code: str, people: list[int]) -> Any:
    """Rows of `view` for `people` matching the criterion's codes (prefixes) or concepts (as given)."""
    table = warehouse.view(view)
    table = table.filter(table.person_id.isin(people))
    tests = []
    if getattr(criterion, "codes", None):
        tests.append(_prefixed(table[code], criterion.codes))
    if getattr(criterion, "concepts", None) and "concept_id" not in warehouse.unavailable(view):
        tests.append(table.concept_id.isin([int(c) for c in criterion.concepts]))
    return table.filter(reduce(operator.or_, tests, ibis.literal(False)).fill_null(False))


def _events(warehouse: Any, criterion: Any, people: list[int]) -> pd.DataFrame:
    """Evidence rows (person_id, date, code, detail, matched) of one leaf criterion for `people`."""
    if isinstance(criterion, Diagnostic):
        table = _coded(warehouse, "diagnoses", criterion, "code", people)
        if criterion.statut:
            table = table.filter(table.status.isin(list(criterion.statut)))
        return _frame(warehouse, table.select("person_id", date=table.datetime, code=table.code, detail=table.status))
    if isinstance(criterion, Acte):
        table = _coded(warehouse, "procedures", criterion, "code", people)
        return _frame(warehouse, table.select("person_id", date=table.datetime, code=table.code, detail=ibis.literal("")))
    if isinstance(criterion, Ghm):
        table = warehouse.view("stays").filter(lambda t: t.person_id.isin(people))
        table = table.filter(_prefixed(table.ghm, criterion.codes).fill_null(False))
        return _frame(warehouse, table.select("person_id", date=table.start_datetime, code=table.ghm, detail=table.hospital))
    if isinstance(criterion, Biologie):
        table = warehouse.view("biology").filter(lambda t: t.person_id.isin(people))
        table = table.filter((table.loinc.isin(criterion.codes) | table.local_code.isin(criterion.codes)).fill_null(False))
        detail = table.value.cast("string").fill_null("") + ibis.literal(" ") + table.unit.fill_null("")
        return _frame(warehouse, table.select("person_id", date=table.datetime, code=table.loinc.fill_null(table.local_code),
                                              detail=detail))
    if isinstance(criterion, Medicament):
        table = warehouse.view("drugs").filter(lambda t: t.person_id.isin(people))
        tests = [_prefixed(table.atc, criterion.atc)] if criterion.atc else []
        tests += [table.ucd.isin(criterion.ucd)] if criterion.ucd else []
        table = table.filter(reduce(operator.or_, tests, ibis.literal(False)).fill_null(False))
        if criterion.mode != "tous":
            table = table.filter(table.kind == criterion.mode)
        return _frame(warehouse, table.select("person_id", date=table.start_datetime, code=table.atc.fill_null(table.ucd),
                                              detail=table.label))
    if isinstance(criterion, Sejour):
        return pd.DataFrame(columns=["person_id", "date", "code", "detail", "matched"])
    if isinstance(criterion, Texte):
        from workbench.nlp import find_mentions

        found = find_mentions(warehouse, criterion.termes, regex=criterion.regex)
        found = found[found["person_id"].isin(people)]
        return pd.DataFrame({"person_id": found["person_id"], "date": found["datetime"], "code": found["term"],
                             "detail": found["sentence"], "matched": found["matched"]})
    if isinstance(criterion, Tnm):
        from workbench.nlp import tnm_mentions

        stages = tnm_mentions(warehouse)
        stages = stages[stages["person_id"].isin(people)]
        stages = stages[tnm_matches(stages, criterion.stade)]
        return pd.DataFrame({"person_id": stages["person_id"], "date": stages["datetime"], "code": stages["tnm"],
                             "detail": stages["sentence"], "matched": stages["tnm"]})
    raise AssertionError(f"critère sans preuve : {type(criterion).__name__}")


def _frame(warehouse: Any, expr: Any) -> pd.DataFrame:
    frame = warehouse.execute(expr)
    frame["matched"] = frame["code"]
    return frame


def _evidence(warehouse: Any, definition: CohortDefinition, patients: pd.DataFrame) -> pd.DataFrame:
    """The most recent evidence rows of every leaf criterion for the listed patients."""
    people = [int(p) for p in patients["person_id"]]
    parts = []
    for path, criterion in _leaves(definition) if people else ():
        if isinstance(criterion, (Age, Sexe)):
            column = "age" if isinstance(criterion, Age) else "sex"
            rows = pd.DataFrame({"person_id": patients["person_id"], "date": patients["index_date"], "code": column,
                                 "detail": patients[column].astype(str), "matched": patients[column].astype(str)})
        else:
            rows = _events(warehouse, criterion, people)
        rows = rows.assign(criterion=path, type=criterion.type)
        rows["date"] = pd.to_datetime(rows["date"])
        rows = rows.drop_duplicates(["person_id", "date", "code", "detail"])  # a code coded twice (ORBIS and AREM)
        parts.append(rows.sort_values("date", ascending=False).groupby("person_id").head(EVIDENCE_PER_CRITERION))
    if not parts:
        return pd.DataFrame(columns=EVIDENCE_COLUMNS)
    evidence = pd.concat(parts, ignore_index=True)[EVIDENCE_COLUMNS]
    order = {person: rank for rank, person in enumerate(people)}
    evidence = evidence.assign(_order=evidence["person_id"].map(order))
    return evidence.sort_values(["_order", "criterion", "date"], ascending=[True, True, False]).drop(columns="_order").reset_index(drop=True)


def summary(screened: Prescreening) -> pd.DataFrame:
    """One line per candidate for a screen: rank, patient, criteria met, latest visit and the evidence in words."""
    evidence = screened.evidence
    words = {}
    for person, rows in evidence.groupby("person_id", sort=False):
        items = []
        for row in rows.itertuples(index=False):
            when = "" if pd.isna(row.date) else f" le {row.date:%d/%m/%Y}"
            if row.type in ("texte", "tnm"):
                items.append(f"{row.type} « {row.matched} »{when} : {row.detail}")
            else:
                items.append(f"{row.type} {row.code}{when}")
        words[person] = " ; ".join(items)
    patients = screened.patients
    return pd.DataFrame({
        "rang": patients["rank"], "patient": patients["person_id"],
        "criteres": patients["criteria_met"].astype(str) + "/" + patients["criteria_total"].astype(str),
        "eligible": patients["eligible"].map({True: "oui", False: "non"}), "derniere_venue": patients["last_seen"],
        "preuves": patients["person_id"].map(words).fillna(""),
    })
