"""ATLAS / Circe cohort JSON imported into the cohort model (issue 15 part 6).

The warehouse is the hand-made OMOP fixture of `fixtures.py`: persons 1 (M),
2 (F), 3 (M), born 1960, one inpatient visit each on 2024-03-01; conditions
101 (person 1), 102 (person 2), 200 (person 3), where 101 and 102 descend from
100; a drug 501 (descendant of 500) for person 2 on 2024-03-02.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

import workbench
from workbench.cohorts.atlas import translate
from workbench.cohorts.definition import CohortDefinition, load_definition, parse_definition
from workbench.cohorts.evaluate import evaluate
from workbench.errors import UserError


def concept(concept_id: int, name: str, domain: str = "Condition", code: str = "x") -> dict[str, Any]:
    return {"CONCEPT_ID": concept_id, "CONCEPT_NAME": name, "CONCEPT_CODE": code, "VOCABULARY_ID": "SNOMED",
            "DOMAIN_ID": domain, "STANDARD_CONCEPT": "S"}


def concept_set(set_id: int, concept_id: int, name: str, domain: str = "Condition") -> dict[str, Any]:
    return {"id": set_id, "name": name, "expression": {"items": [
        {"concept": concept(concept_id, name, domain), "includeDescendants": True, "isExcluded": False,
         "includeMapped": False}]}}


# As ATLAS exports it: a condition cohort (concept set 0 = concept 100 and descendants), first event per person,
# in 2024, and one inclusion rule: a drug of concept set 1 (500 and descendants) from the index date to 30 days after.
ATLAS: dict[str, Any] = {
    "ConceptSets": [concept_set(0, 100, "Ischaemic heart disease"), concept_set(1, 500, "Antiplatelet", "Drug")],
    "PrimaryCriteria": {
        "CriteriaList": [{"ConditionOccurrence": {
            "CodesetId": 0, "First": True,
            "OccurrenceStartDate": {"Value": "2024-01-01", "Op": "bt", "Extent": "2024-12-31"}}}],
        "ObservationWindow": {"PriorDays": 0, "PostDays": 0},
        "PrimaryCriteriaLimit": {"Type": "First"},
    },
    "QualifiedLimit": {"Type": "First"},
    "ExpressionLimit": {"Type": "First"},
    "InclusionRules": [{
        "name": "antiagrégant dans les 30 jours",
        "expression": {"Type": "ALL", "CriteriaList": [{
            "Criteria": {"DrugExposure": {"CodesetId": 1}},
            "StartWindow": {"Start": {"Days": 0, "Coeff": -1}, "End": {"Days": 30, "Coeff": 1}},
            "Occurrence": {"Type": 2, "Count": 1}}],
            "DemographicCriteriaList": [], "Groups": []},
    }],
    "EndStrategy": {"DateOffset": {"DateField": "EndDate", "Offset": 0}},
    "CensoringCriteria": [],
    "CollapseSettings": {"CollapseType": "ERA", "EraPad": 0},
    "CensorWindow": {},
}

# The same cohort written by hand in the workbench's own language.
HAND_WRITTEN = {
    "nom": "cardiopathie-ischemique", "unite": "patients",
    "periode": {"debut": "2024-01-01", "fin": "2024-12-31"},
    "entree": {"type": "diagnostic", "concepts": [100]},
    "inclusion": [{"nom": "antiagrégant", "criteres": [
        {"type": "medicament", "concepts": [500], "fenetre": {"jours_avant": 0, "jours_apres": 30}}]}],
}


def from_atlas(document: dict[str, Any], name: str, source: str = "définition ATLAS") -> CohortDefinition:
    return parse_definition(translate(document, name, source), source)


def persons(catalog: Path, definition: Any) -> list[int]:
    with workbench.open(catalog) as warehouse:
        return sorted(evaluate(warehouse, definition).members["person_id"].tolist())


def test_an_atlas_condition_cohort_counts_the_persons_of_the_hand_written_one(omop_cohort_catalog: Path,
                                                                             tmp_path: Path) -> None:
    path = tmp_path / "ischemie.json"
    path.write_text(json.dumps(ATLAS), encoding="utf-8")
    imported = load_definition(path)  # what `workbench cohort new|count` read
    assert imported.nom == "ischemie" and imported.unite == "patients"
    assert persons(omop_cohort_catalog, imported) == [2]  # 1 and 2 enter (101, 102 under 100); only 2 has 501
    assert persons(omop_cohort_catalog, imported) == persons(omop_cohort_catalog, parse_definition(HAND_WRITTEN))
    with workbench.open(omop_cohort_catalog) as warehouse:
        attrition = evaluate(warehouse, imported).attrition
    assert attrition["patients"].tolist() == [2, 1]


def test_demographic_criteria_and_groups_translate(omop_cohort_catalog: Path) -> None:
    document = copy.deepcopy(ATLAS)
    document["InclusionRules"] = [{"name": "femmes adultes", "expression": {
        "Type": "ALL", "CriteriaList": [],
        "DemographicCriteriaList": [{"Age": {"Value": 18, "Op": "gte"}, "Gender": [concept(8532, "FEMALE", "Gender")]}],
        "Groups": []}}]
    assert persons(omop_cohort_catalog, from_atlas(document, "femmes")) == [2]  # person 2 is the woman
    document["InclusionRules"][0]["expression"]["DemographicCriteriaList"] = [{"Age": {"Value": 70, "Op": "gte"}}]
    assert persons(omop_cohort_catalog, from_atlas(document, "ages")) == []  # born 1960: 64 in 2024


def test_no_occurrence_becomes_a_sauf_group(omop_cohort_catalog: Path) -> None:
    document = copy.deepcopy(ATLAS)
    document["InclusionRules"][0]["expression"]["CriteriaList"][0]["Occurrence"] = {"Type": 0, "Count": 0}
    assert persons(omop_cohort_catalog, from_atlas(document, "sans")) == [1]


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d["PrimaryCriteria"]["CriteriaList"][0].update(
        {"DrugEra": {"CodesetId": 1}, "ConditionOccurrence": None}),
     "PrimaryCriteria.CriteriaList[0].DrugEra : critère « DrugEra » non traduisible"),
    (lambda d: d["ConceptSets"][0]["expression"]["items"][0].update({"isExcluded": True}),
     "ConceptSets[0].expression.items[0].isExcluded"),
    (lambda d: d["PrimaryCriteria"]["ObservationWindow"].update({"PriorDays": 365}),
     "PrimaryCriteria.ObservationWindow"),
    (lambda d: d["InclusionRules"][0]["expression"]["CriteriaList"][0]["StartWindow"]["End"].update({"Coeff": -1}),
     "InclusionRules[0].expression.CriteriaList[0].StartWindow : fenêtre [0 ; -30] jours"),
    (lambda d: d["PrimaryCriteria"]["CriteriaList"][0]["ConditionOccurrence"].update(
        {"ConditionType": [concept(32020, "EHR", "Type Concept")]}),
     "PrimaryCriteria.CriteriaList[0].ConditionOccurrence.ConditionType : attribut non traduisible"),
    (lambda d: d["InclusionRules"][0]["expression"].update({"Type": "AT_LEAST", "Count": 2}),
     "InclusionRules[0].expression.Type"),
])
def test_what_cannot_be_translated_is_named_never_dropped(edit, message: str) -> None:
    document = copy.deepcopy(ATLAS)
    edit(document)
    with pytest.raises(UserError, match="non traduisible") as error:
        from_atlas(document, "x", "cohorte.json")
    assert str(error.value).startswith("cohorte.json : non traduisible : ") and message in str(error.value)


def test_a_document_that_is_not_circe_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="clé « PrimaryCriteria » absente"):
        from_atlas({"nom": "x"}, "x")
    broken = copy.deepcopy(ATLAS)
    del broken["PrimaryCriteria"]["CriteriaList"]
    with pytest.raises(UserError, match="PrimaryCriteria.CriteriaList : non conforme au schéma Circe"):
        from_atlas(broken, "x")
    path = tmp_path / "vide.json"
    path.write_text("{", encoding="utf-8")
    with pytest.raises(UserError, match="vide.json : fichier illisible"):
        load_definition(path)
