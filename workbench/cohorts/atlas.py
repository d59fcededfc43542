"""OHDSI ATLAS / Circe cohort definitions, translated into the workbench's cohort model.

An OMOP site's cohorts are written in ATLAS, whose export is Circe's JSON: concept
sets, primary criteria (the index event), inclusion rules, limits and windows.
:func:`translate` turns such a document into the cohort language of
`workbench.cohorts.definition` (whose `load_definition` reads ATLAS JSON files
through it), counting the same persons on a standard-OMOP warehouse. The JSON is first checked
against the published Circe schema (``ohdsi-cohort-schemas``); the translation
then reads the document itself, key by key, because that schema drops what it
does not know (``Op`` of a numeric range, for one) and a criterion silently
dropped would count other patients. Whatever the cohort model cannot express
exactly is refused with its path in the document (``InclusionRules[1]
.expression.CriteriaList[0].StartWindow``) and the reason.

What translates (everything else is an error):

- concept sets of standard concepts with their descendants (``includeDescendants``;
  exclusions and mapped concepts are refused);
- one primary criterion on ``ConditionOccurrence``, ``ProcedureOccurrence``,
  ``DrugExposure``, ``Measurement`` or ``VisitOccurrence``, with its
  ``OccurrenceStartDate`` (the cohort's period), ``Age`` and ``Gender`` (rules on
  the index date), ``First``; the earliest event per person (limits ``First``) or
  every event (``All``: one entry per stay);
- inclusion rules ``ALL`` / ``ANY`` of criteria of the same five domains, with a
  start window around the index date that contains it (``All`` days = no bound),
  ``RestrictVisit`` (same stay), ``Occurrence`` "at least N" or "exactly/at most 0"
  (a SAUF group), demographic criteria (age at index, gender) and nested groups;
- ``EndStrategy`` and ``CollapseSettings``, which shape cohort eras, not who is in
  the cohort, are not needed for counts and are left aside.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError

from workbench.errors import UserError
from workbench.semantic.omop import FEMALE, MALE, VISIT_TYPES

ALL_DAYS = 54_750
"""A window bound of "All" days: 150 years, longer than any patient's history."""
DOMAINS = {
    "ConditionOccurrence": "diagnostic",
    "ProcedureOccurrence": "acte",
    "DrugExposure": "medicament",
    "Measurement": "biologie",
    "VisitOccurrence": "sejour",
}
SEXES = {MALE: "M", FEMALE: "F"}
COMPARISONS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "eq": "="}
EMPTY = (None, False, [], {}, "")


class Untranslatable(Exception):
    """A part of the document the cohort model cannot express: its path and why."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path} : {reason}")


def is_atlas(document: Any) -> bool:
    """True when `document` looks like a Circe cohort expression (its ``PrimaryCriteria`` key)."""
    return isinstance(document, Mapping) and "PrimaryCriteria" in document


def translate(document: Any, name: str, source: str = "définition ATLAS") -> dict[str, Any]:
    """The cohort language's document (validated next by `workbench.cohorts.definition.parse_definition`) of
    a Circe document, or a `UserError` naming what cannot be translated."""
    from ohdsi_cohort_schemas import CohortExpression

    if not is_atlas(document):
        raise UserError(f"{source} : pas une définition de cohorte ATLAS/Circe (clé « PrimaryCriteria » absente)")
    try:
        CohortExpression.model_validate(document)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise UserError(f"{source} : {where} : non conforme au schéma Circe ({first['msg']})") from None
    try:
        return _Translator(document).cohort(re.sub(r"[^A-Za-z0-9_.-]", "-", name)[:80] or "atlas")
    except Untranslatable as error:
        raise UserError(f"{source} : non traduisible : {error}") from None


class _Translator:
    """One document's translation; concept sets are resolved once."""

    def __init__(self, document: Mapping[str, Any]):
        self.document = document
        self.concept_sets = {entry["id"]: (index, entry) for index, entry in enumerate(document.get("ConceptSets", []))}

    # -- the cohort --------------------------------------------------------------------------

    def cohort(self, name: str) -> dict[str, Any]:
        document = self.document
        if document.get("CensoringCriteria") or any((document.get("CensorWindow") or {}).values()):
            raise Untranslatable("CensoringCriteria", "la censure n'a pas d'équivalent")
        primary = document["PrimaryCriteria"]
        window = primary.get("ObservationWindow") or {}
        if window.get("PriorDays") or window.get("PostDays"):
            raise Untranslatable("PrimaryCriteria.ObservationWindow",
                                 "une durée d'observation avant/après la date index n'a pas d'équivalent")
        items = primary.get("CriteriaList") or []
        if len(items) != 1:
            raise Untranslatable("PrimaryCriteria.CriteriaList",
                                 f"un seul événement d'entrée est traduisible ({len(items)} donnés)")
        entry, rules, period, first = self._primary(items[0], "PrimaryCriteria.CriteriaList[0]")
        inclusion = rules + [self._rule(rule, f"InclusionRules[{index}]")
                             for index, rule in enumerate(document.get("InclusionRules") or [])]
        return {"nom": name, "description": "importée d'ATLAS", "unite": "patients" if first else self._unit(),
                "periode": period, "entree": entry, "inclusion": inclusion}

    def _unit(self) -> str:
        """Every event (one entry per stay) when every limit is ``All``, else the earliest event per person."""
        limits = {"PrimaryCriteria.PrimaryCriteriaLimit": self.document["PrimaryCriteria"].get("PrimaryCriteriaLimit"),
                  "QualifiedLimit": self.document.get("QualifiedLimit"),
                  "ExpressionLimit": self.document.get("ExpressionLimit")}
        kinds = {path: (limit or {}).get("Type", "First") for path, limit in limits.items()}
        for path, kind in kinds.items():
            if kind == "Last":
                raise Untranslatable(path, "la limite « Last » (dernier événement) n'a pas d'équivalent")
        return "sejours" if set(kinds.values()) == {"All"} else "patients"

    # -- criteria ----------------------------------------------------------------------------

    def _primary(self, item: Mapping[str, Any], path: str) -> tuple[dict[str, Any], list[dict[str, Any]], dict, bool]:
        """The entry event, the rules its own attributes become (age, gender at the index date), the period,
        and whether only each person's first event counts (``First``)."""
        domain, criterion = _single_domain(item, path)
        path = f"{path}.{domain}"
        rules: list[dict[str, Any]] = []
        if criterion.get("Age"):
            rules.append({"nom": "âge à la date index (ATLAS)", "criteres": [self._age(criterion["Age"], f"{path}.Age")]})
        if criterion.get("Gender"):
            rules.append({"nom": "sexe (ATLAS)", "operateur": "OU",
                          "criteres": self._genders(criterion["Gender"], f"{path}.Gender")})
        period = _period(criterion.get("OccurrenceStartDate"), f"{path}.OccurrenceStartDate")
        entry = self._event(domain, criterion, path, allowed=("Age", "Gender", "OccurrenceStartDate", "First"))
        return entry, rules, period, bool(criterion.get("First"))

    def _event(self, domain: str, criterion: Mapping[str, Any], path: str, allowed: tuple[str, ...] = ()) -> dict[str, Any]:
        """A domain criterion with its concept set (and a measurement's threshold)."""
        kind = DOMAINS[domain]
        handled = ("CodesetId", "ValueAsNumber", "Unit") if kind == "biologie" else ("CodesetId",)
        _refuse_other_keys(criterion, path, handled + allowed)
        concepts = self._concepts(criterion.get("CodesetId"), f"{path}.CodesetId")
        if kind == "sejour":
            return {"type": "sejour", "type_visite": _visit_types(concepts, f"{path}.CodesetId")}
        event: dict[str, Any] = {"type": kind, "concepts": concepts}
        if kind == "biologie" and criterion.get("ValueAsNumber"):
            event.update(_threshold(criterion["ValueAsNumber"], criterion.get("Unit"), path))
        elif kind == "biologie" and criterion.get("Unit"):
            raise Untranslatable(f"{path}.Unit", "une unité sans seuil (ValueAsNumber) n'a pas d'équivalent")
        return event

    def _concepts(self, codeset: Any, path: str) -> list[int]:
        """The standard concepts of a concept set (their descendants are always included by the cohort model)."""
        if codeset is None:
            raise Untranslatable(path, "un critère sans jeu de concepts (CodesetId) compterait tous les événements")
        if codeset not in self.concept_sets:
            raise Untranslatable(path, f"jeu de concepts {codeset} absent de ConceptSets")
        index, entry = self.concept_sets[codeset]
        concepts = []
        for position, item in enumerate(entry["expression"]["items"]):
            where = f"ConceptSets[{index}].expression.items[{position}]"
            if item.get("isExcluded"):
                raise Untranslatable(f"{where}.isExcluded", "l'exclusion d'un concept n'a pas d'équivalent")
            if item.get("includeMapped"):
                raise Untranslatable(f"{where}.includeMapped", "les concepts non standard associés ne sont pas lus")
            if not item.get("includeDescendants", True):
                raise Untranslatable(f"{where}.includeDescendants",
                                     "un concept sans ses descendants n'a pas d'équivalent (descendants toujours inclus)")
            concepts.append(int(item["concept"]["CONCEPT_ID"]))
        if not concepts:
            raise Untranslatable(f"ConceptSets[{index}].expression.items", "jeu de concepts vide")
        return concepts

    def _age(self, bounds: Mapping[str, Any], path: str) -> dict[str, Any]:
        low, high = _integer_bounds(bounds, path)
        return {"type": "age", **({"min": low} if low is not None else {}), **({"max": high} if high is not None else {})}

    def _genders(self, concepts: list[Mapping[str, Any]], path: str) -> list[dict[str, Any]]:
        found = []
        for position, concept in enumerate(concepts):
            value = SEXES.get(int(concept["CONCEPT_ID"]))
            if value is None:
                raise Untranslatable(f"{path}[{position}]", f"sexe {concept['CONCEPT_ID']} inconnu (8507 ou 8532)")
            found.append({"type": "sexe", "valeur": value})
        return found

    # -- inclusion rules -----------------------------------------------------------------------

    def _rule(self, rule: Mapping[str, Any], path: str) -> dict[str, Any]:
        expression = rule.get("expression")
        if not expression:
            raise Untranslatable(f"{path}.expression", "règle sans expression")
        group = self._group(expression, f"{path}.expression")
        return {"nom": rule.get("name") or f"règle {path}", "operateur": group["operateur"],
                "criteres": group["criteres"]}

    def _group(self, group: Mapping[str, Any], path: str) -> dict[str, Any]:
        kind = group.get("Type")
        operators = {"ALL": "ET", "ANY": "OU"}
        if kind not in operators:
            raise Untranslatable(f"{path}.Type", f"type de groupe « {kind} » non traduisible (ALL ou ANY)")
        _refuse_other_keys(group, path, ("Type", "CriteriaList", "DemographicCriteriaList", "Groups", "Count"))
        if group.get("Count") not in (None, 0):
            raise Untranslatable(f"{path}.Count", "un nombre de critères requis n'a pas d'équivalent")
        criteria: list[dict[str, Any]] = []
        for index, item in enumerate(group.get("CriteriaList") or []):
            criteria.append(self._correlated(item, f"{path}.CriteriaList[{index}]"))
        for index, item in enumerate(group.get("DemographicCriteriaList") or []):
            criteria.extend(self._demographic(item, f"{path}.DemographicCriteriaList[{index}]"))
        for index, item in enumerate(group.get("Groups") or []):
            nested = self._group(item, f"{path}.Groups[{index}]")
            criteria.append({"type": "groupe", **nested})
        if not criteria:
            raise Untranslatable(path, "groupe vide")
        return {"operateur": operators[kind], "criteres": criteria}

    def _correlated(self, item: Mapping[str, Any], path: str) -> dict[str, Any]:
        """A criterion of a rule: its domain event, window and occurrence count."""
        _refuse_other_keys(item, path, ("Criteria", "StartWindow", "RestrictVisit", "Occurrence",
                                        "IgnoreObservationPeriod"))
        domain, criterion = _single_domain(item["Criteria"], f"{path}.Criteria")
        event = self._event(domain, criterion, f"{path}.Criteria.{domain}")
        window = _window(item.get("StartWindow"), bool(item.get("RestrictVisit")), f"{path}.StartWindow")
        if window:
            event["fenetre"] = window
        occurrence = item.get("Occurrence") or {"Type": 2, "Count": 1}
        kind, count = occurrence.get("Type"), occurrence.get("Count")
        if occurrence.get("IsDistinct"):
            raise Untranslatable(f"{path}.Occurrence.IsDistinct", "le décompte d'occurrences distinctes n'a pas d'équivalent")
        if kind == 2 and count >= 1:
            if count > 1:
                event["au_moins"] = count
            return event
        if kind in (0, 1) and count == 0:
            return {"type": "groupe", "operateur": "SAUF", "criteres": [event]}
        raise Untranslatable(f"{path}.Occurrence", f"occurrence (type {kind}, nombre {count}) non traduisible : "
                                                   "« au moins N » ou « aucune » seulement")

    def _demographic(self, item: Mapping[str, Any], path: str) -> list[dict[str, Any]]:
        _refuse_other_keys(item, path, ("Age", "Gender"))
        found: list[dict[str, Any]] = []
        if item.get("Age"):
            found.append(self._age(item["Age"], f"{path}.Age"))
        if item.get("Gender"):
            genders = self._genders(item["Gender"], f"{path}.Gender")
            found.append(genders[0] if len(genders) == 1 else {"type": "groupe", "operateur": "OU", "criteres": genders})
        return found


# --- pieces ------------------------------------------------------------------------------------


def _single_domain(item: Mapping[str, Any], path: str) -> tuple[str, Mapping[str, Any]]:
    """The one domain key of a criterion (``{"ConditionOccurrence": {...}}``), translatable, or the refusal."""
    present = [key for key, value in item.items() if value is not None]
    if len(present) != 1:
        raise Untranslatable(path, f"un critère porte un seul domaine ({', '.join(present) or 'aucun'})")
    domain = present[0]
    if domain not in DOMAINS:
        raise Untranslatable(f"{path}.{domain}", f"critère « {domain} » non traduisible "
                                                 f"(traduits : {', '.join(DOMAINS)})")
    return domain, item[domain]


def _refuse_other_keys(entry: Mapping[str, Any], path: str, handled: tuple[str, ...]) -> None:
    """Any meaningful key not translated is an error: a criterion silently dropped counts other patients."""
    for key, value in entry.items():
        if key not in handled and value not in EMPTY:
            raise Untranslatable(f"{path}.{key}", "attribut non traduisible")


def _integer_bounds(bounds: Mapping[str, Any], path: str) -> tuple[int | None, int | None]:
    """(min, max) included, of a Circe numeric range on whole numbers (ages)."""
    op, value, extent = bounds.get("Op"), bounds.get("Value"), bounds.get("Extent")
    shapes: dict[str, Callable[[], tuple[int | None, int | None]]] = {
        "gte": lambda: (int(value), None), "gt": lambda: (int(value) + 1, None),
        "lte": lambda: (None, int(value)), "lt": lambda: (None, int(value) - 1),
        "eq": lambda: (int(value), int(value)), "bt": lambda: (int(value), int(extent)),
    }
    if op not in shapes or value is None or (op == "bt" and extent is None):
        raise Untranslatable(f"{path}.Op", f"intervalle « {op} » non traduisible (gt, gte, lt, lte, eq, bt)")
    return shapes[op]()


def _period(dates: Mapping[str, Any] | None, path: str) -> dict[str, str]:
    """The cohort's index-date bounds from the primary criterion's ``OccurrenceStartDate``."""
    if not dates:
        return {}
    op, value, extent = dates.get("Op"), dates.get("Value"), dates.get("Extent")
    try:
        first = dt.date.fromisoformat(str(value)[:10])
        last = dt.date.fromisoformat(str(extent)[:10]) if extent else None
    except ValueError:
        raise Untranslatable(path, f"date {value!r} illisible (AAAA-MM-JJ)") from None
    day = dt.timedelta(days=1)
    shapes = {"gte": {"debut": first}, "gt": {"debut": first + day}, "lte": {"fin": first},
              "lt": {"fin": first - day}, "eq": {"debut": first, "fin": first}, "bt": {"debut": first, "fin": last}}
    if op not in shapes or (op == "bt" and last is None):
        raise Untranslatable(f"{path}.Op", f"intervalle de dates « {op} » non traduisible")
    return {key: value.isoformat() for key, value in shapes[op].items()}


def _threshold(bounds: Mapping[str, Any], units: list[Mapping[str, Any]] | None, path: str) -> dict[str, Any]:
    """A measurement's comparison with a value in one UCUM unit."""
    op = bounds.get("Op")
    if op not in COMPARISONS or bounds.get("Value") is None:
        raise Untranslatable(f"{path}.ValueAsNumber.Op", f"comparaison « {op} » non traduisible (gt, gte, lt, lte, eq)")
    if not units or len(units) != 1:
        raise Untranslatable(f"{path}.Unit", "un seuil exige exactement une unité")
    return {"comparaison": COMPARISONS[op], "valeur": float(bounds["Value"]), "unite": str(units[0]["CONCEPT_CODE"])}


def _window(window: Mapping[str, Any] | None, same_stay: bool, path: str) -> dict[str, Any]:
    """The cohort model's window (same stay; N days before to M days after the index date)."""
    found: dict[str, Any] = {"meme_sejour": True} if same_stay else {}
    if not window:
        return found
    if window.get("UseEventEnd") or window.get("UseIndexEnd"):
        raise Untranslatable(path, "une fenêtre sur la date de fin n'a pas d'équivalent")
    start, end = window.get("Start") or {}, window.get("End") or {}
    low = -ALL_DAYS if start.get("Days") is None else start["Days"] * start.get("Coeff", -1)
    high = ALL_DAYS if end.get("Days") is None else end["Days"] * end.get("Coeff", 1)
    if low > 0 or high < 0:
        raise Untranslatable(path, f"fenêtre [{low} ; {high}] jours : seules les fenêtres qui contiennent la date "
                                   "index sont traduisibles")
    return {**found, "jours_avant": -low, "jours_apres": high}


def _visit_types(concepts: list[int], path: str) -> list[str]:
    """The canonical visit types of visit concepts (the semantic layer's map)."""
    unknown = [concept for concept in concepts if concept not in VISIT_TYPES]
    if unknown:
        raise Untranslatable(path, f"concepts de visite {', '.join(map(str, unknown))} sans type de séjour connu")
    return sorted({VISIT_TYPES[concept] for concept in concepts})
