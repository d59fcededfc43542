"""Cohort evaluation on the hand-made warehouse of `fixtures.py`: every expected member is read off its table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import workbench
from workbench.access.context import UserContext
from workbench.cohorts.definition import parse_definition
from workbench.cohorts.evaluate import evaluate
from workbench.errors import UserError

from cohorts.fixtures import SERVICE

I21_DP = {"type": "diagnostic", "codes": ["I21"], "statut": ["DP"]}
TROPONIN_HIGH = {"type": "biologie", "codes": ["89579-7"], "comparaison": ">", "valeur": 34, "unite": "ng/L"}


@pytest.fixture(scope="module")
def wh(cohort_catalog: Path):
    with workbench.open(cohort_catalog) as warehouse:
        yield warehouse


def cohort(entry: dict[str, Any] | None = None, *rules: Any, unit: str = "patients", **more: Any):
    """A definition: `rules` are lists of criteria (ET) or (operator, criteria) pairs."""
    inclusion = []
    for k, rule in enumerate(rules):
        operator, criteria = rule if isinstance(rule, tuple) else ("ET", rule)
        inclusion.append({"nom": f"règle {k + 1}", "operateur": operator, "criteres": criteria})
    return parse_definition({"nom": "test", "unite": unit, "entree": entry or I21_DP, "inclusion": inclusion, **more})


def persons(wh, *rules: Any, entry: dict[str, Any] | None = None, **more: Any) -> list[int]:
    return sorted(evaluate(wh, cohort(entry, *rules, **more)).members["person_id"].tolist())


# ------------------------------------------------------------------ entry event and index


def test_entry_event_takes_each_patients_earliest_dp_of_i21(wh) -> None:
    result = evaluate(wh, cohort())
    members = result.members.set_index("person_id")
    # person 3's I211 is a DAS; person 5 has I10; person 7's I210 is soft-deleted
    assert sorted(members.index) == [1, 2, 4, 6]
    assert members.loc[2, "stay_id"] == 103 and str(members.loc[2, "index_date"]) == "2024-02-01"  # 103 before 108
    assert members.loc[4, "hospital"] == "028" and members.loc[4, "year"] == 2023
    assert members.loc[1, "age"] == 73 and members.loc[4, "age"] == 83  # 1950-06-15 → 2024-01-10; 1940-01-01 → 2023-05-01


def test_without_status_every_i21_counts_and_the_unit_of_stays_keeps_each_stay(wh) -> None:
    assert persons(wh, entry={"type": "diagnostic", "codes": ["I21"]}) == [1, 2, 3, 4, 6]
    stays = evaluate(wh, cohort(unit="sejours"))
    assert sorted(stays.members["stay_id"].tolist()) == [101, 103, 105, 107, 108]


def test_period_bounds_the_index_date(wh) -> None:
    assert persons(wh, periode={"debut": "2024-01-01"}) == [1, 2, 6]
    assert persons(wh, periode={"fin": "2024-01-31"}) == [1, 4]


def test_codes_with_a_dot_match_the_stored_codes(wh) -> None:
    assert persons(wh, entry={"type": "diagnostic", "codes": ["i21.0"], "statut": ["DP"]}) == [1, 4]


# ------------------------------------------------------------------ one test per criterion type


def test_diagnostic_any_time_and_by_status(wh) -> None:
    assert persons(wh, [{"type": "diagnostic", "codes": ["C"]}]) == [1, 4]  # C61 (1), C509 (4)
    assert persons(wh, [{"type": "diagnostic", "codes": ["C"], "statut": ["DP"]}]) == [1]


def test_acte(wh) -> None:
    assert persons(wh, [{"type": "acte", "codes": ["DDAF"]}]) == [1]


def test_ghm_prefix(wh) -> None:
    assert persons(wh, [{"type": "ghm", "codes": ["05K"]}]) == [2]  # 05K061 (103), 05K062 (108)
    assert persons(wh, [{"type": "ghm", "codes": ["05"]}]) == [1, 2, 4, 6]


def test_biologie_threshold_in_its_unit(wh) -> None:
    # > 34 ng/L: person 1 (120, 90), 2 (80 in stay 108), 4 (50); person 6's 0.2 is in µg/L, not compared
    assert persons(wh, [TROPONIN_HIGH]) == [1, 2, 4]
    assert persons(wh, [{**TROPONIN_HIGH, "comparaison": "<=", "valeur": 20}]) == [2]
    assert persons(wh, [{"type": "biologie", "codes": ["A0283"]}]) == [1, 2, 4, 6]  # local code, no threshold


def test_biologie_at_least_n_results(wh) -> None:
    assert persons(wh, [{**TROPONIN_HIGH, "au_moins": 2}]) == [1]


def test_medicament_atc_and_mode(wh) -> None:
    assert persons(wh, [{"type": "medicament", "atc": ["B01AC"]}]) == [1, 2]
    assert persons(wh, [{"type": "medicament", "atc": ["B01AC"], "mode": "prescription"}]) == [1]
    assert persons(wh, [{"type": "medicament", "atc": ["B01AC"], "mode": "administration"}]) == [2]
    assert persons(wh, [{"type": "medicament", "atc": ["C07"]}]) == [4]


def test_age_at_the_index_date(wh) -> None:
    assert persons(wh, [{"type": "age", "max": 40}]) == [2]  # 34
    assert persons(wh, [{"type": "age", "min": 54, "max": 73}]) == [1, 6]  # 73 and 54 (1970-01-01 → 2024-07-01)


def test_sexe(wh) -> None:
    assert persons(wh, [{"type": "sexe", "valeur": "F"}]) == [2, 4, 6]


def test_sejour_site_and_period(wh) -> None:
    assert persons(wh, [{"type": "sejour", "sites": ["028"]}]) == [2, 4, 6]  # 108, 105, 107
    assert persons(wh, [{"type": "sejour", "sites": [SERVICE]}]) == [1, 2]  # 101, 103 through UF 1001
    assert persons(wh, [{"type": "sejour", "debut": "2024-05-01", "fin": "2024-06-30"}]) == [1]  # 102


# ------------------------------------------------------------------ groups and temporal constraints


def test_groups_or_and_not(wh) -> None:
    female, minor_hf = {"type": "sexe", "valeur": "F"}, {"type": "age", "max": 40}
    assert persons(wh, ("OU", [{"type": "acte", "codes": ["DDAF"]}, minor_hf])) == [1, 2]
    assert persons(wh, ("SAUF", [female])) == [1]
    nested = {"type": "groupe", "operateur": "OU", "criteres": [{"type": "acte", "codes": ["DDAF"]}, minor_hf]}
    assert persons(wh, [female, nested]) == [2]


def test_same_stay(wh) -> None:
    # index stays: 101 (120 ng/L), 103 (20), 105 (50), 107 (µg/L); person 2's 80 is in stay 108
    assert persons(wh, [{**TROPONIN_HIGH, "fenetre": {"meme_sejour": True}}]) == [1, 4]


def test_days_after_with_inclusive_bounds(wh) -> None:
    # index 2024-01-10 → results on +1 and +2 days; 2023-05-01 → +1
    assert persons(wh, [{**TROPONIN_HIGH, "fenetre": {"jours_apres": 1}}]) == [1, 4]
    assert persons(wh, [{**TROPONIN_HIGH, "fenetre": {"jours_apres": 0}}]) == []


def test_days_before(wh) -> None:
    cancer_before = {"type": "diagnostic", "codes": ["C"], "fenetre": {"jours_avant": 365}}
    # person 1's C61 is 143 days after his index; person 4's C509 is on his index date
    assert persons(wh, [cancer_before]) == [4]
    assert persons(wh, ("SAUF", [cancer_before])) == [1, 2, 6]


def test_a_stay_cohort_compares_each_criterion_to_its_own_index_stay(wh) -> None:
    result = evaluate(wh, cohort(None, [{**TROPONIN_HIGH, "fenetre": {"meme_sejour": True}}], unit="sejours"))
    assert sorted(result.members["stay_id"].tolist()) == [101, 105, 108]


# ------------------------------------------------------------------ attrition


def test_attrition_after_each_rule_and_each_rule_alone(wh) -> None:
    definition = cohort(None, [{**TROPONIN_HIGH, "fenetre": {"meme_sejour": True}}], [{"type": "age", "min": 18}],
                        ("SAUF", [{"type": "diagnostic", "codes": ["C"]}]))
    attrition = evaluate(wh, definition).attrition
    rows = [tuple(r) for r in attrition[["step", "patients", "stays", "patients_alone", "stays_alone"]].itertuples(
        index=False)]
    assert rows == [
        (0, 4, 4, 4, 4),  # persons 1, 2, 4, 6
        (1, 2, 2, 2, 2),  # troponin in the index stay: 1, 4
        (2, 2, 2, 4, 4),  # all four are adults
        (3, 0, 0, 2, 2),  # no cancer ever: 2 and 6 alone; 1 and 4 both have one
    ]
    assert attrition["rule"].tolist() == ["Événement d'entrée", "règle 1", "règle 2", "règle 3"]


def test_attrition_of_a_stay_cohort_counts_patients_and_stays(wh) -> None:
    attrition = evaluate(wh, cohort(None, [TROPONIN_HIGH], unit="sejours")).attrition
    # entry stays 101, 103, 105, 107, 108 of persons 1, 2, 4, 6; troponin > 34 ng/L: persons 1, 2, 4
    assert attrition[["patients", "stays"]].values.tolist() == [[4, 5], [3, 4]]


# ------------------------------------------------------------------ the perimeter applies


def test_a_clinician_counts_his_service_only(cohort_catalog: Path) -> None:
    clinician = UserContext(name="cardio", role="clinicien", perimeter=frozenset({SERVICE}), nominative=False)
    with workbench.open(cohort_catalog, user=clinician) as warehouse:
        result = evaluate(warehouse, cohort())
    assert sorted(result.members["person_id"].tolist()) == [1, 2]  # stays 101 and 103 pass through UF 1001


# ------------------------------------------------------------------ standard OMOP concepts and descendants


def test_omop_concepts_include_their_descendants(omop_cohort_catalog: Path) -> None:
    entry = {"type": "diagnostic", "concepts": [100]}
    with workbench.open(omop_cohort_catalog) as warehouse:
        assert persons(warehouse, entry=entry) == [1, 2]  # 101 and 102 descend from 100
        assert persons(warehouse, entry={"type": "diagnostic", "concepts": [101]}) == [1]
        assert persons(warehouse, entry={"type": "diagnostic", "codes": ["I21"]}) == [1]  # source code I21.0
        assert persons(warehouse, [{"type": "medicament", "concepts": [500]}], entry=entry) == [2]
        with pytest.raises(UserError, match=r"inclusion\[0\]\.criteres\[0\]\.concepts : concept\(s\) inconnu\(s\) "
                                            r"du vocabulaire de l'entrepôt : 999"):
            persons(warehouse, [{"type": "diagnostic", "concepts": [101, 999]}], entry=entry)


# ------------------------------------------------------------------ bad input


def test_unknown_code_names_the_criterion(wh) -> None:
    with pytest.raises(UserError, match=r"inclusion\[0\]\.criteres\[1\]\.codes : code\(s\) CIM-10 inconnu\(s\) : X99Z"):
        evaluate(wh, cohort(None, [{"type": "sexe", "valeur": "F"}, {"type": "diagnostic", "codes": ["I10", "X99Z"]}]))
    with pytest.raises(UserError, match=r"entree\.codes : code\(s\) CCAM inconnu\(s\) : ZZZZ999"):
        evaluate(wh, cohort({"type": "acte", "codes": ["ZZZZ999"]}))


def test_unit_mismatch_in_a_biology_threshold(wh) -> None:
    definition = cohort(None, [{**TROPONIN_HIGH, "unite": "mmol/L"}])
    with pytest.raises(UserError, match=r"inclusion\[0\]\.criteres\[0\]\.unite : unité « mmol/L » incompatible.*"
                                        r"unités trouvées : ng/l, µg/l"):
        evaluate(wh, definition)


def test_concepts_on_a_warehouse_without_them(wh) -> None:
    with pytest.raises(UserError, match=r"entree\.concepts : l'entrepôt \(aphp\) ne porte pas de concepts standard"):
        evaluate(wh, cohort({"type": "diagnostic", "concepts": [100]}))


def test_unknown_biology_code(wh) -> None:
    with pytest.raises(UserError, match=r"inclusion\[0\]\.criteres\[0\]\.codes : code\(s\) de biologie inconnu\(s\) "
                                        r".* : 99999-9$"):
        evaluate(wh, cohort(None, [{"type": "biologie", "codes": ["A0283", "99999-9"]}]))


def test_atc_on_a_standard_omop_warehouse_is_refused(omop_cohort_catalog: Path) -> None:
    with workbench.open(omop_cohort_catalog) as warehouse, pytest.raises(
            UserError, match=r"inclusion\[0\]\.criteres\[0\]\.atc : l'entrepôt \(omop\) ne porte pas de codes ATC"):
        evaluate(warehouse, cohort({"type": "diagnostic", "concepts": [100]}, [{"type": "medicament", "atc": ["B01"]}]))


def test_an_empty_cohort_names_the_rule_that_emptied_it(wh) -> None:
    result = evaluate(wh, cohort(None, [{"type": "sexe", "valeur": "M"}], [{"type": "age", "max": 30}]))
    assert result.empty and result.attrition["patients"].tolist() == [4, 1, 0]
    with pytest.raises(UserError, match="cohorte « test » vide : la règle « règle 2 » ne laisse aucun patient"):
        result.require_members()
    nothing = evaluate(wh, cohort({"type": "diagnostic", "codes": ["A00"]}))
    with pytest.raises(UserError, match="vide : aucun événement d'entrée"):
        nothing.require_members()


# ------------------------------------------------------------------ reports (workbench.nlp)


def test_texte_leaves_out_negated_hypothetical_and_family_mentions(wh) -> None:
    # notes: 1 « Pas de diabète » (negated), 2 family history, 3 « Diabète de type 2 connu », 4 « Suspicion de diabète »
    assert persons(wh, [{"type": "texte", "termes": ["diabète"]}]) == [4]
    assert persons(wh, [{"type": "texte", "termes": ["douleur thoracique", "metformine"]}]) == [1, 4]
    assert persons(wh, [{"type": "texte", "termes": [r"type\s+2"], "regex": True}]) == [4]


def test_tnm_stage_conditions(wh) -> None:
    # person 4: « pT3 N1 M0 » (2023-05-09); person 1: « pT2 N0 M1 » (2024-06-03, after his index)
    assert persons(wh, [{"type": "tnm", "stade": ["T>=3"]}]) == [4]
    assert persons(wh, [{"type": "tnm", "stade": ["M1"]}]) == [1]
    assert persons(wh, [{"type": "tnm", "stade": ["T>=2", "N0"]}]) == [1]
    assert persons(wh, [{"type": "tnm", "stade": ["M1"], "fenetre": {"jours_avant": 30}}]) == []


@pytest.mark.spark
def test_omop_concepts_on_spark(spark, omop_cohort_catalog: Path) -> None:
    with workbench.open(omop_cohort_catalog, backend="pyspark") as warehouse:
        assert persons(warehouse, entry={"type": "diagnostic", "concepts": [100]}) == [1, 2]
