"""Feasibility by hospital × year: exact inside the perimeter, « < 10 » or noisy outside; the differencing attack fails.

Each expected cell reads (members inside the user's perimeter, members outside as shown, protection).

Expected cells are read off `fixtures.py`: with the entry event "I21 as DP",
the cohort is person 1 (014, 2024), 2 (014, 2024), 4 (028, 2023), 6 (028, 2024).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import workbench
from workbench.access.context import UserContext
from workbench.cohorts.definition import parse_definition
from workbench.cohorts.feasibility import KEY_FILE, feasibility, noise, protect

from cohorts.fixtures import ATTACK_CODES, ATTACK_PATIENTS, SERVICE

I21_DP = {"type": "diagnostic", "codes": ["I21"], "statut": ["DP"]}
CLINICIAN = UserContext(name="cardio", role="clinicien", perimeter=frozenset({SERVICE}), nominative=False)
DIM_014 = UserContext(name="dim", role="analyste_dim", perimeter=frozenset({"014"}), nominative=False)
PILOTAGE = UserContext(name="pilote", role="referent_pilotage", nominative=False)
KEY = bytes(range(32))


@pytest.fixture()
def state(tmp_path: Path) -> Path:
    """A state folder with a fixed noise key, so that the noise of these tests is fixed too."""
    (tmp_path / KEY_FILE).write_bytes(KEY)
    return tmp_path


def cells(catalog: Path, user: UserContext | None, definition: dict, state: Path) -> dict[tuple, tuple]:
    with workbench.open(catalog, user=user) as warehouse:
        frame = feasibility(warehouse, parse_definition({"nom": "f", **definition}), state)
    return {(r.hospital, r.year): (None if pd.isna(r.perimeter) else int(r.perimeter),
                                   r.outside_text, r.protection) for r in frame.itertuples()}


def test_the_administrator_sees_every_cell_exactly(cohort_catalog: Path, state: Path) -> None:
    assert cells(cohort_catalog, None, {"entree": I21_DP}, state) == {
        ("014", 2024): (2, "0", "exact"), ("028", 2023): (1, "0", "exact"), ("028", 2024): (1, "0", "exact")}


def test_a_clinician_sees_his_own_members_exactly_and_the_rest_protected(cohort_catalog: Path, state: Path) -> None:
    # his service S03 covers stays 101 and 103 (persons 1 and 2, 014, 2024); no hospital is wholly his
    assert cells(cohort_catalog, CLINICIAN, {"entree": I21_DP}, state) == {
        ("014", 2024): (2, "< 10", "< 10"), ("028", 2023): (0, "< 10", "< 10"), ("028", 2024): (0, "< 10", "< 10")}


def test_a_dim_analyst_sees_his_hospitals_members_exactly_and_no_total(cohort_catalog: Path, state: Path) -> None:
    # persons 1 and 2 are his (hospital 014); 4 and 6 are outside, each cell of 028 « < 10 »
    assert cells(cohort_catalog, DIM_014, {"entree": I21_DP}, state) == {
        ("014", 2024): (2, "< 10", "< 10"), ("028", 2023): (0, "< 10", "< 10"), ("028", 2024): (0, "< 10", "< 10")}


def test_a_role_without_patient_rows_gets_protected_counts_only(cohort_catalog: Path, state: Path) -> None:
    assert cells(cohort_catalog, PILOTAGE, {"entree": I21_DP}, state) == {
        ("014", 2024): (None, "< 10", "< 10"), ("028", 2023): (None, "< 10", "< 10"),
        ("028", 2024): (None, "< 10", "< 10")}


def test_every_hospital_year_with_stays_is_listed_even_when_empty(cohort_catalog: Path, state: Path) -> None:
    # the only man entering is person 1 (014, 2024; person 3's I211 is a DAS); 028's cells have stays, no member
    men = {"entree": I21_DP, "inclusion": [{"nom": "hommes", "criteres": [{"type": "sexe", "valeur": "M"}]}]}
    assert cells(cohort_catalog, None, men, state) == {
        ("014", 2024): (1, "0", "exact"), ("028", 2023): (0, "0", "exact"), ("028", 2024): (0, "0", "exact")}
    assert cells(cohort_catalog, PILOTAGE, men, state) == {
        ("014", 2024): (None, "< 10", "< 10"), ("028", 2023): (None, "< 10", "< 10"),
        ("028", 2024): (None, "< 10", "< 10")}


def test_protection_rules() -> None:
    assert protect(9, KEY, "cell", range(9)).text == "< 10"
    shown = [protect(50, KEY, "cell", range(k, k + 50)).value for k in range(200)]
    assert all(40 <= v <= 60 for v in shown)  # clamped at ±10
    assert len(set(shown)) > 5  # the noise varies with the members…
    assert protect(50, KEY, "cell", range(50)) == protect(50, KEY, "cell", reversed(range(50)))  # …not their order
    assert all(protect(10, KEY, "cell", range(k, k + 10)).value >= 10 for k in range(100))  # never shown under 10
    assert noise(KEY, "a", [1, 2]) == noise(KEY, "a", [2, 1])


def test_repeating_or_rewording_a_query_gives_the_same_noise(attack_catalog: Path, state: Path) -> None:
    plain = cells(attack_catalog, PILOTAGE, {"entree": I21_DP}, state)
    reworded = {"entree": {"type": "diagnostic", "codes": ["I210", "I21"], "statut": ["DP"]},
                "inclusion": [{"nom": "tout âge", "criteres": [{"type": "age", "min": 0}]}]}
    assert plain == cells(attack_catalog, PILOTAGE, {"entree": I21_DP}, state)
    assert plain == cells(attack_catalog, PILOTAGE, reworded, state)
    (_, text, status), = plain.values()
    assert status == "bruité" and abs(int(text) - ATTACK_PATIENTS) <= 10


def test_the_differencing_attack_fails(attack_catalog: Path, state: Path) -> None:
    """« A » minus « A SAUF x » for nine groups x of 1 to 9 patients (by construction of the fixture): the
    attacker's differences are not the true sizes, and none of them is even certain."""
    whole = cells(attack_catalog, PILOTAGE, {"entree": I21_DP}, state)[("028", 2024)][1]
    guesses = []
    for j, code in enumerate(ATTACK_CODES):
        without = {"entree": I21_DP, "inclusion": [{"nom": "sauf x", "operateur": "SAUF",
                                                    "criteres": [{"type": "diagnostic", "codes": [code]}]}]}
        shown = cells(attack_catalog, PILOTAGE, without, state)[("028", 2024)]
        assert shown[2] == "bruité"  # 31 to 39 patients: over the threshold
        guesses.append((int(whole) - int(shown[1]), j + 1))
    right = [size for guess, size in guesses if guess == size]
    assert len(right) <= 2, guesses
    assert any(guess < 0 or guess >= 10 for guess, _ in guesses), guesses  # noise far larger than the groups
