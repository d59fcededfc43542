"""Disclosure policy: finite cube, small cells masked, complementary suppression, no differencing.

The hand-made lattices check the masking rule itself; the demo-warehouse tests
check what a référent pilotage (aggregates only) actually receives, and an
independent audit solves the linear system of totals to prove that no masked
cell can be recomputed from the shown ones.
"""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest

import workbench
from workbench import audit
from workbench.access.disclosure import equations, suppress
from workbench.errors import UserError
from workbench.indicators.dictionary import load_dictionary
from workbench.indicators.engine import compute

from .conftest import CARDIO, INJECTION, user

K = 10
YEAR = ("2024",)
SITES = ("hospital", "pole", "service")
TIMES = ("year", "quarter", "month")


# --- the rule on hand-made lattices ------------------------------------------------------------------


def test_a_lone_masked_child_takes_the_smallest_sibling_with_it():
    # AP-HP = H; H = A (50) + B (3) + C (20) + D (30): B is primary, C (the smallest shown) complementary
    patients = {((), YEAR): 103, (("H",), YEAR): 103, (("H", "A"), YEAR): 50, (("H", "B"), YEAR): 3,
                (("H", "C"), YEAR): 20, (("H", "D"), YEAR): 30}
    assert suppress(patients, K) == {(("H", "B"), YEAR), (("H", "C"), YEAR)}


def test_an_only_child_and_its_parent_fall_together_and_propagate_upwards():
    # AP-HP (45) = H1 (5) + H2 (40); H1 = P (5) only: P and H1 primary; then H2 so AP-HP - H2 hides H1
    patients = {((), YEAR): 45, (("H1",), YEAR): 5, (("H2",), YEAR): 40, (("H1", "P"), YEAR): 5,
                (("H2", "Q"), YEAR): 25, (("H2", "R"), YEAR): 15}
    masked = suppress(patients, K)
    assert masked == {(("H1",), YEAR), (("H1", "P"), YEAR), (("H2",), YEAR), (("H2", "R"), YEAR)}
    # H2 masked alone among its children Q, R would leak through H2's equation: R (smallest) goes too


def test_time_margins_are_protected_too():
    # year = Q1 (4) + Q2 (30) + Q3 (12) + Q4 (40) for the AP-HP total: Q1 primary, Q3 complementary
    quarters = {((), ("2024", f"2024-Q{q}")): n for q, n in zip((1, 2, 3, 4), (4, 30, 12, 40))}
    assert suppress({((), YEAR): 86, **quarters}, K) == {((), ("2024", "2024-Q1")), ((), ("2024", "2024-Q3"))}


def test_nothing_small_nothing_masked():
    assert suppress({((), YEAR): 30, (("H",), YEAR): 30}, K) == set()


def test_equations_follow_both_hierarchies():
    keys = [((), YEAR), (("H",), YEAR), ((), ("2024", "2024-Q1")), (("H",), ("2024", "2024-Q1"))]
    assert equations(keys) == [
        (((), ("2024",)), [(("H",), ("2024",))]),
        (((), ("2024", "2024-Q1")), [(("H",), ("2024", "2024-Q1"))]),
        (((), ("2024",)), [((), ("2024", "2024-Q1"))]),
        ((("H",), ("2024",)), [(("H",), ("2024", "2024-Q1"))]),
    ]


# --- what a référent pilotage receives on the demo warehouse -----------------------------------------


@pytest.fixture(scope="module")
def nb_sejours():
    from workbench import paths

    return load_dictionary(paths.PROJECT_ROOT / "wiki").get("nb_sejours").definition


@pytest.fixture(scope="module")
def pilote(catalog):
    return workbench.open(catalog, user=user("referent_pilotage", name="pilote"))


def request(definition, warehouse, by, grain, **kwargs):
    return compute(definition, warehouse, by=list(by), start="2024-01", end="2024-12", grain=grain, **kwargs).frame


@pytest.fixture(scope="module")
def cube(nb_sejours, pilote) -> dict[tuple[int, int], pd.DataFrame]:
    """Every cell a référent can ask for in 2024: total/hospital/pole/service × year/quarter/month."""
    return {
        (s, t): request(nb_sejours, pilote, (*SITES[:s], *TIMES[:t]), TIMES[t - 1])
        for s in range(4) for t in range(1, 4)
    }


def test_a_referent_never_receives_a_count_below_k(cube):
    for frame in cube.values():
        shown = frame[~frame["masked"]]
        assert (shown["n_patients"] >= K).all()
        hidden = frame[frame["masked"]]
        assert hidden[["value", "numerator", "denominator", "n_patients"]].isna().all().all()
    assert sum(int(f["masked"].sum()) for f in cube.values()) > 0  # the demo has small cells to protect


def _key(row: pd.Series, s: int, t: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    site = tuple("∅" if pd.isna(row[c]) else str(row[c]) for c in SITES[:s])
    return site, tuple(str(row[c]) for c in TIMES[:t])


def test_independent_audit_no_masked_cell_is_recoverable_from_the_totals(cube):
    """Write every additive equation between the cells received (parent = sum of children, along the
    care-site tree and along time), move the shown values to the right-hand side and check, with the
    null space of the system restricted to the masked cells, that no masked cell is determined."""
    values: dict = {}
    for (s, t), frame in cube.items():
        for _, row in frame.iterrows():
            values[_key(row, s, t)] = None if row["masked"] else float(row["numerator"])
    keys = set(values)
    system = []
    for site, time in keys:
        for children in (
            [k for k in keys if k[1] == time and len(k[0]) == len(site) + 1 and k[0][:-1] == site],
            [k for k in keys if k[0] == site and len(k[1]) == len(time) + 1 and k[1][:-1] == time],
        ):
            if children:
                system.append(((site, time), children))
    masked = sorted(k for k, v in values.items() if v is None)
    column = {k: i for i, k in enumerate(masked)}
    rows, rhs = [], []
    for parent, children in system:
        row, known = np.zeros(len(masked)), 0.0
        for term, sign in [(parent, 1.0)] + [(c, -1.0) for c in children]:
            if term in column:
                row[column[term]] += sign
            else:
                known -= sign * values[term]
        if row.any():
            rows.append(row)
            rhs.append(known)
        else:
            assert abs(known) < 1e-9  # shown cells add up: the equations really hold
    matrix = np.array(rows)
    _, singular, vt = np.linalg.svd(matrix)
    null_space = vt[int((singular > 1e-9).sum()):]
    determined = [masked[i] for i in range(len(masked)) if np.abs(null_space[:, i]).max(initial=0) < 1e-9]
    assert len(masked) > 50 and len(system) > 100
    assert determined == []


def test_differencing_parent_minus_children_meets_two_unknowns(cube):
    """Hospital-quarter minus its poles' quarters, and a pole's year minus its quarters: an equation that
    holds a masked cell always holds at least two, so the subtraction leaves a sum of unknowns."""
    parents = cube[(1, 2)].set_index(["hospital", "quarter"])["masked"]
    for (hospital, quarter), poles in cube[(2, 2)].groupby(["hospital", "quarter"]):
        hidden = int(poles["masked"].sum()) + int(parents[(hospital, quarter)])
        assert hidden != 1, (hospital, quarter)
    years = cube[(2, 1)].set_index("pole")["masked"]
    checked = 0
    for pole, quarters in cube[(2, 2)].groupby("pole"):
        hidden = int(quarters["masked"].sum()) + int(years[pole])
        assert hidden != 1, pole
        checked += hidden > 0
    assert checked > 0


def test_masking_does_not_depend_on_how_the_cell_is_asked_for(nb_sejours, pilote, cube):
    filtered = request(nb_sejours, pilote, ("hospital", "pole", "month"), "month", filters={"hospital": ["014"]})
    reference = cube[(2, 3)]
    reference = reference[reference["hospital"] == "014"].reset_index(drop=True)
    pd.testing.assert_frame_equal(filtered, reference[filtered.columns], check_dtype=False)
    one = compute(nb_sejours, pilote, start="2024-03", end="2024-03", grain="month", filters={"pole": ["014-P2"]}).frame
    row = reference[(reference["pole"] == "014-P2") & (reference["month"] == "2024-03")]
    assert list(one["masked"]) == list(row["masked"]) and list(one["numerator"]) == list(row["numerator"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"by": ["sex"], "grain": "year"}, "ventilation par 'sex' non autorisée"),
        ({"by": ["uf", "year"], "grain": "year"}, "ventilation par 'uf' non autorisée"),
        ({"by": ["year"], "grain": "year", "filters": {"stay_type": ["MCO"]}}, "filtre sur 'stay_type' non autorisé"),
        ({"by": ["hospital"], "grain": "month"}, "la période doit être une seule période"),
        ({"by": ["year"], "grain": "year", "filters": {"hospital": [INJECTION]}}, "valeur(s) inconnue(s)"),
        ({"by": ["year"], "grain": "year", "filters": {"pole": ["014-P1", "014-P2"]}}, "une seule unité"),
    ],
)
def test_requests_outside_the_cube_are_refused(nb_sejours, pilote, kwargs, message):
    with pytest.raises(UserError, match="politique de diffusion") as error:
        compute(nb_sejours, pilote, start="2024-01", end="2024-12", **kwargs)
    assert message in str(error.value)


def test_two_overlapping_periods_cannot_be_differenced(nb_sejours, pilote):
    # a total over Jan-Jun and one over Jan-May would give June by subtraction: both are refused
    for end in ("2024-06", "2024-05"):
        with pytest.raises(UserError, match="une seule période"):
            compute(nb_sejours, pilote, by=["hospital"], start="2024-01", end=end, grain="month")
    with pytest.raises(UserError, match="entières"):
        compute(nb_sejours, pilote, by=["hospital", "year"], start="2024-03", end="2024-12", grain="month")


def test_the_policy_request_is_audited_with_its_masked_cells(nb_sejours, pilote, cube):
    frame = request(nb_sejours, pilote, ("hospital", "pole", "quarter"), "quarter")
    (event,) = [e for e in audit.read() if e["event"] == "indicator"]
    assert (event["user"], event["indicator"], event["policy"]) == ("pilote", "nb_sejours", True)
    assert (event["cells"], event["masked"]) == (len(frame), int(frame["masked"].sum()))


# --- clinicians: free inside their perimeter, the policy outside it -----------------------------------


def test_a_clinician_sees_own_service_unmasked_and_the_rest_through_the_policy(nb_sejours, catalog, cube):
    cardio = workbench.open(catalog, user=user("clinicien", (CARDIO,)))
    own = request(nb_sejours, cardio, ("service", "month"), "month", filters={"service": [CARDIO]})
    stays = cardio.execute(cardio.view("stays"))
    end = pd.to_datetime(stays["end_date"])
    discharged = stays[(end >= pd.Timestamp("2024-01-01")) & (end <= pd.Timestamp("2024-12-31"))
                       & (stays["service"] == CARDIO)
                       & stays["stay_category"].isin(["hospitalisation_complete", "ambulatoire", "seance"])]
    assert "masked" not in own.columns
    assert own["numerator"].sum() == len(discharged)
    wide = request(nb_sejours, cardio, ("hospital", "pole", "month"), "month")
    assert "masked" in wide.columns and (wide.loc[~wide["masked"], "n_patients"] >= K).all()
    pd.testing.assert_frame_equal(wide, cube[(2, 3)][wide.columns], check_dtype=False)


def test_injection_through_engine_filters(nb_sejours, catalog):
    cardio = workbench.open(catalog, user=user("clinicien", (CARDIO,)))
    literal = request(nb_sejours, cardio, ("month",), "month", filters={"service": [CARDIO], "hospital": [INJECTION]})
    assert literal.empty  # inside the perimeter: a literal that matches nothing
    with pytest.raises(UserError, match="politique de diffusion"):
        request(nb_sejours, cardio, ("month",), "month", filters={"service": [CARDIO, INJECTION]})
    admin = workbench.open(catalog)
    assert request(nb_sejours, admin, ("month",), "month", filters={"hospital": [INJECTION]}).empty


def test_a_dim_analyst_is_exact_on_own_hospital_and_protected_elsewhere(nb_sejours, catalog, cube):
    dim = workbench.open(catalog, user=user("analyste_dim", ("014",)))
    own = request(nb_sejours, dim, ("hospital", "quarter"), "quarter", filters={"hospital": ["014"]})
    admin = request(nb_sejours, workbench.open(catalog), ("hospital", "quarter"), "quarter",
                    filters={"hospital": ["014"]})
    assert "masked" not in own.columns
    assert list(own["numerator"]) == list(admin["numerator"])
    other = request(nb_sejours, dim, ("hospital", "pole", "quarter"), "quarter", filters={"hospital": ["028"]})
    reference = cube[(2, 2)]
    reference = reference[reference["hospital"] == "028"].reset_index(drop=True)
    pd.testing.assert_frame_equal(other, reference[other.columns], check_dtype=False)


def test_a_ratio_indicator_is_masked_on_its_patients(catalog):
    from workbench import paths

    dms = load_dictionary(paths.PROJECT_ROOT / "wiki").get("dms").definition
    pilote = workbench.open(catalog, user=user("referent_pilotage"))
    frame = request(dms, pilote, ("hospital", "pole", "quarter"), "quarter")
    shown = frame[~frame["masked"]]
    assert len(shown) > 0 and (shown["n_patients"] >= K).all()
    assert frame.loc[frame["masked"], ["value", "numerator", "denominator"]].isna().all().all()
    parents = request(dms, pilote, ("hospital", "quarter"), "quarter").set_index(["hospital", "quarter"])["masked"]
    for cell, poles in frame.groupby(["hospital", "quarter"]):
        assert int(poles["masked"].sum()) + int(parents[cell]) != 1, cell


def test_an_indicator_with_list_parameters_goes_through_the_policy(pilote):
    """RH30's implementation takes list parameters (planned GHM prefixes): the policy's
    lattice cache must key on them without failing, and still never show a count below k."""
    from workbench import paths

    rh30 = load_dictionary(paths.PROJECT_ROOT / "wiki").get("rh30").definition
    frame = request(rh30, pilote, ("hospital", "year"), "year")
    assert len(frame) > 0
    shown = frame[~frame["masked"]]
    assert (shown["n_patients"] >= 10).all()
