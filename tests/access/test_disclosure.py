"""Disclosure policy: finite cube, small cells masked, complementary suppression, no differencing.

The hand-made lattices check the masking rule itself; the demo-warehouse tests
check what a référent pilotage (aggregates only) actually receives — care-site ×
period cells, alone or by one attribute (PMSI field, visit type, age band,
sex) — and an independent audit solves the linear system of totals, with exact
rational arithmetic, to prove that no masked cell can be recomputed from the
shown ones.
"""

from __future__ import annotations

import heapq
import random
from fractions import Fraction

import pandas as pd
import pytest

import workbench
from workbench import audit
from workbench.access.disclosure import determined, equations, levels, suppress
from workbench.errors import UserError
from workbench.indicators.dictionary import load_dictionary
from workbench.indicators.engine import compute

from .conftest import CARDIO, INJECTION, user

K = 10
YEAR = ("2024",)
Q1 = ("2024", "2024-Q1")
SITES = ("hospital", "pole", "service")
TIMES = ("year", "quarter", "month")
ATTRIBUTES = ("stay_type", "visit_type", "age_band", "sex")
Key = tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]


def cell(*site: str, time: tuple[str, ...] = YEAR, stay_type: str | None = None) -> Key:
    """A lattice key: care-site chain, period chain, and () or ("stay_type", member)."""
    return site, time, ("stay_type", stay_type) if stay_type else ()


# --- the rule on hand-made lattices ------------------------------------------------------------------


def test_a_lone_masked_child_takes_the_smallest_sibling_with_it():
    # AP-HP = H; H = A (50) + B (3) + C (20) + D (30): B is primary, C (the smallest shown) complementary
    patients = {cell(): 103, cell("H"): 103, cell("H", "A"): 50, cell("H", "B"): 3,
                cell("H", "C"): 20, cell("H", "D"): 30}
    assert suppress(patients, K) == {cell("H", "B"), cell("H", "C")}


def test_an_only_child_and_its_parent_fall_together_and_propagate_upwards():
    # AP-HP (45) = H1 (5) + H2 (40); H1 = P (5) only: P and H1 primary; then H2 so AP-HP - H2 hides H1
    patients = {cell(): 45, cell("H1"): 5, cell("H2"): 40, cell("H1", "P"): 5,
                cell("H2", "Q"): 25, cell("H2", "R"): 15}
    masked = suppress(patients, K)
    assert masked == {cell("H1"), cell("H1", "P"), cell("H2"), cell("H2", "R")}
    # H2 masked alone among its children Q, R would leak through H2's equation: R (smallest) goes too


def test_time_margins_are_protected_too():
    # year = Q1 (4) + Q2 (30) + Q3 (12) + Q4 (40) for the AP-HP total: Q1 primary, Q3 complementary
    quarters = {cell(time=("2024", f"2024-Q{q}")): n for q, n in zip((1, 2, 3, 4), (4, 30, 12, 40))}
    assert suppress({cell(): 86, **quarters}, K) == {cell(time=Q1), cell(time=("2024", "2024-Q3"))}


def test_nothing_small_nothing_masked():
    assert suppress({cell(): 30, cell("H"): 30}, K) == set()


def test_equations_follow_the_three_hierarchies():
    keys = [cell(), cell("H"), cell(time=Q1), cell("H", time=Q1), cell("H", stay_type="MCO"),
            cell("H", stay_type="SSR"), (("H",), YEAR, ("sex", "F"))]
    assert equations(keys) == [
        (cell(), [cell("H")]),
        (cell(time=Q1), [cell("H", time=Q1)]),
        (cell(), [cell(time=Q1)]),
        (cell("H"), [cell("H", time=Q1)]),
        (cell("H"), [(("H",), YEAR, ("sex", "F"))]),  # one equation per attribute: H = Σ sexes = Σ fields
        (cell("H"), [cell("H", stay_type="MCO"), cell("H", stay_type="SSR")]),
    ]


def test_a_small_member_of_an_attribute_takes_the_smallest_other_member():
    # H (103) = MCO (80) + SSR (3) + PSY (20), and AP-HP = H: SSR primary at both levels, PSY complementary
    patients = {cell(): 103, cell("H"): 103}
    for site in ((), ("H",)):
        patients |= {cell(*site, stay_type=field): n for field, n in (("MCO", 80), ("SSR", 3), ("PSY", 20))}
    assert suppress(patients, K) == {cell(*site, stay_type=field) for site in ((), ("H",)) for field in ("SSR", "PSY")}


def test_an_attribute_mask_spreads_along_the_care_site_tree():
    # H = P1 (44) + P2 (45). P1 = MCO 40 + SSR 4: SSR primary, so P1-MCO too (P1's field equation);
    # then H-SSR = P1-SSR + P2-SSR and H-MCO = P1-MCO + P2-MCO each hold one: P2-SSR and P2-MCO go
    patients = {cell("H"): 89, cell("H", stay_type="MCO"): 70, cell("H", stay_type="SSR"): 19,
                cell("H", "P1"): 44, cell("H", "P1", stay_type="MCO"): 40, cell("H", "P1", stay_type="SSR"): 4,
                cell("H", "P2"): 45, cell("H", "P2", stay_type="MCO"): 30, cell("H", "P2", stay_type="SSR"): 15}
    assert suppress(patients, K) == {cell("H", pole, stay_type=field) for pole in ("P1", "P2") for field in ("MCO", "SSR")}


def _pole_of_all_non_mco_stays() -> dict[Key, int]:
    """H (77) = A (30, MCO only) + B (40, MCO only) + C (7 = PSY 3 + SSR 4)."""
    return {cell("H"): 77, cell("H", stay_type="MCO"): 70, cell("H", stay_type="PSY"): 3, cell("H", stay_type="SSR"): 4,
            cell("H", "A"): 30, cell("H", "A", stay_type="MCO"): 30, cell("H", "B"): 40,
            cell("H", "B", stay_type="MCO"): 40, cell("H", "C"): 7, cell("H", "C", stay_type="PSY"): 3,
            cell("H", "C", stay_type="SSR"): 4}


def test_two_masked_cells_per_equation_are_not_enough_across_three_hierarchies():
    """Primary: C, C-PSY, C-SSR, H-PSY, H-SSR. Two per equation adds A (smallest sibling of C), A-MCO
    (A's only field), B-MCO (H-MCO = A-MCO + B-MCO) and B (its only field, masked): every equation
    then holds 0 or ≥ 2 masked cells, yet C = C-PSY + C-SSR = H-PSY + H-SSR = H − H-MCO = 7."""
    patients = _pole_of_all_non_mco_stays()
    two_per_equation = {cell("H", "C"), cell("H", "C", stay_type="PSY"), cell("H", "C", stay_type="SSR"),
                        cell("H", stay_type="PSY"), cell("H", stay_type="SSR"), cell("H", "A"),
                        cell("H", "A", stay_type="MCO"), cell("H", "B", stay_type="MCO"), cell("H", "B")}
    system = equations(list(patients))
    assert all(sum(term in two_per_equation for term in (parent, *children)) != 1 for parent, children in system)
    assert determined(system, two_per_equation) == {cell("H", "C"): {cell("H"), cell("H", stay_type="MCO")}}
    # the repair masks the smaller shown cell of that combination (H-MCO): only the hospital total is left
    assert suppress(patients, K) == set(patients) - {cell("H")}


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


Level = tuple[int, int, "str | None"]


def breakdown(level: Level) -> tuple[str, ...]:
    s, t, attribute = level
    return (*SITES[:s], *((attribute,) if attribute else ()), *TIMES[:t])


@pytest.fixture(scope="module")
def cube(nb_sejours, pilote) -> dict[Level, pd.DataFrame]:
    """Every cell a référent can ask for in 2024: total/hospital/pole/service × year/quarter/month,
    alone or by one attribute (PMSI field, visit type, age band, sex)."""
    levels = [(s, t, a) for a in (None, *ATTRIBUTES) for s in range(4) for t in range(1, 4)]
    return {level: request(nb_sejours, pilote, breakdown(level), TIMES[level[1] - 1]) for level in levels}


def test_a_referent_never_receives_a_count_below_k(cube):
    for frame in cube.values():
        shown = frame[~frame["masked"]]
        assert (shown["n_patients"] >= K).all()
        hidden = frame[frame["masked"]]
        assert hidden[["value", "numerator", "denominator", "n_patients"]].isna().all().all()
    assert sum(int(f["masked"].sum()) for f in cube.values()) > 0  # the demo has small cells to protect


# --- the independent audit: the linear system of totals, solved exactly -----------------------------


def _key(row: pd.Series, level: Level, classes: tuple[str, ...] = ()) -> Key:
    """The cell of a received row: care-site chain, period chain, and flat (name, member…) pairs of its
    attribute and of the distribution `classes` it is broken down by."""
    s, t, attribute = level
    site = tuple("∅" if pd.isna(row[c]) else str(row[c]) for c in SITES[:s])
    flat = ((attribute,) if attribute else ()) + classes
    members = sum((((name, "∅" if pd.isna(row[name]) else str(row[name])),) for name in flat), ())
    return site, tuple(str(row[c]) for c in TIMES[:t]), sum(members, ())


def received(frames: dict[Level, pd.DataFrame]) -> dict[Key, Fraction | None]:
    """What the user holds: every cell received, its numerator or None when masked."""
    values: dict[Key, Fraction | None] = {}
    for level, frame in frames.items():
        for _, row in frame.iterrows():
            values[_key(row, level)] = None if row["masked"] else Fraction(int(row["numerator"]))
    return values


def totals(keys: set[Key]) -> list[list[tuple[Key, int]]]:
    """Every additive equation between the cells, as signed terms summing to 0: a parent minus its
    children along the care-site tree, along time, and over the members of one attribute (or class)."""
    groups: dict[tuple[Key, str], list[Key]] = {}
    for key in keys:
        site, time, member = key
        if site:
            groups.setdefault(((site[:-1], time, member), "site"), []).append(key)
        if len(time) > 1:
            groups.setdefault(((site, time[:-1], member), "time"), []).append(key)
        for start in range(0, len(member), 2):  # all members of one flat hierarchy at a time
            groups.setdefault(((site, time, member[:start] + member[start + 2:]), member[start]), []).append(key)
    return [[(parent, 1), *((child, -1) for child in children)]
            for (parent, _), children in groups.items() if parent in keys]


def null_vector(system: list[list[tuple[Key, int]]], masked: set[Key]) -> dict[Key, Fraction]:
    """A vector z over the masked cells with Σ sign·z = 0 on every equation, in exact rationals: Gaussian
    elimination (a column in the fewest remaining rows first), the free cells drawn at random, the
    pivots solved. Adding z to the true masked values changes none of the totals the user holds."""
    rows: dict[int, dict[Key, Fraction]] = {}
    for index, terms in enumerate(system):
        row: dict[Key, Fraction] = {}
        for term, sign in terms:
            if term in masked:
                row[term] = row.get(term, Fraction(0)) + sign
        rows[index] = {term: value for term, value in row.items() if value}
    where: dict[Key, set[int]] = {term: set() for term in masked}
    for index, row in rows.items():
        for term in row:
            where[term].add(index)
    queue = [(len(indices), term) for term, indices in where.items()]
    heapq.heapify(queue)
    pivots: list[tuple[Key, dict[Key, Fraction]]] = []
    pivoted: set[Key] = set()
    while queue:
        count, column = heapq.heappop(queue)
        if not count or column in pivoted or count != len(where[column]):
            continue  # free, done, or a stale count (each change of a count pushes the new one)
        chosen_index = min(where[column], key=lambda index: (len(rows[index]), index))
        chosen = rows.pop(chosen_index)
        pivots.append((column, chosen))
        pivoted.add(column)
        for term in chosen:
            where[term].discard(chosen_index)
        for index in sorted(where[column]):
            row, factor = rows[index], rows[index][column] / chosen[column]
            for term, value in chosen.items():
                row[term] = row.get(term, Fraction(0)) - factor * value
                where[term].add(index)
                if not row[term]:
                    del row[term]
                    where[term].discard(index)
        for term in chosen:
            heapq.heappush(queue, (len(where[term]), term))
    draw = random.Random(8)
    z = {term: Fraction(draw.randint(1, 10**6)) for term in sorted(masked - pivoted)}
    for column, row in reversed(pivots):
        z[column] = -sum(value * z[term] for term, value in row.items() if term != column) / row[column]
    return z


def assert_no_masked_cell_is_determined(values: dict[Key, Fraction | None]) -> list[list[tuple[Key, int]]]:
    """The null-space argument, with its certificate checked exactly: the shown cells add up, and one
    vector z of the null space of the equations (restricted to the masked cells) is non-zero on every
    masked cell, so each masked value can move without changing anything the user holds."""
    masked = {key for key, value in values.items() if value is None}
    system = totals(set(values))
    for terms in system:
        if not any(term in masked for term, _ in terms):
            assert sum(sign * values[term] for term, sign in terms) == 0  # the equations really hold
    z = null_vector(system, masked)
    for terms in system:
        assert sum(sign * z[term] for term, sign in terms if term in masked) == 0
    assert sorted(key for key in masked if z[key] == 0) == []
    return system


def test_independent_audit_no_masked_cell_is_recoverable_from_the_totals(cube):
    """Every additive equation between the cells received (along the care-site tree, along time and over
    each attribute's members), shown values on the right-hand side: no masked cell is determined."""
    values = received(cube)
    system = assert_no_masked_cell_is_determined(values)
    masked = [key for key, value in values.items() if value is None]
    assert len(masked) > 1000 and len(system) > 2000
    assert {key[2][0] for key in masked if key[2]} == set(ATTRIBUTES)


def test_differencing_parent_minus_children_meets_two_unknowns(cube):
    """Hospital-quarter minus its poles' quarters, and a pole's year minus its quarters: an equation that
    holds a masked cell always holds at least two, so the subtraction leaves a sum of unknowns."""
    parents = cube[(1, 2, None)].set_index(["hospital", "quarter"])["masked"]
    for (hospital, quarter), poles in cube[(2, 2, None)].groupby(["hospital", "quarter"]):
        hidden = int(poles["masked"].sum()) + int(parents[(hospital, quarter)])
        assert hidden != 1, (hospital, quarter)
    years = cube[(2, 1, None)].set_index("pole")["masked"]
    checked = 0
    for pole, quarters in cube[(2, 2, None)].groupby("pole"):
        hidden = int(quarters["masked"].sum()) + int(years[pole])
        assert hidden != 1, pole
        checked += hidden > 0
    assert checked > 0


def test_masking_does_not_depend_on_how_the_cell_is_asked_for(nb_sejours, pilote, cube):
    filtered = request(nb_sejours, pilote, ("hospital", "pole", "month"), "month", filters={"hospital": ["014"]})
    reference = cube[(2, 3, None)]
    reference = reference[reference["hospital"] == "014"].reset_index(drop=True)
    pd.testing.assert_frame_equal(filtered, reference[filtered.columns], check_dtype=False)
    one = compute(nb_sejours, pilote, start="2024-03", end="2024-03", grain="month", filters={"pole": ["014-P2"]}).frame
    row = reference[(reference["pole"] == "014-P2") & (reference["month"] == "2024-03")]
    assert list(one["masked"]) == list(row["masked"]) and list(one["numerator"]) == list(row["numerator"])


# --- attributes: PMSI field, visit type, age band, sex -------------------------------------------------


def test_every_attribute_is_in_the_lattice_whatever_the_request(nb_sejours):
    """One masking decision per indicator and years: a request without attribute and one with see the
    attribute-free cells masked the same way, so they cannot be differenced."""
    assert {attribute for _, _, attribute in levels(nb_sejours)} == {None, *ATTRIBUTES}


def test_a_referent_gets_stays_by_pmsi_field_and_by_sex_for_a_hospital_year(nb_sejours, pilote, catalog):
    """Answered, not refused: every hospital × member cell, shown cells exact and ≥ k patients. (On the
    2,000-patient demo every hospital's PSY and SSR are small, and the pole structure then hides MCO
    too; the AP-HP fields and the hospitals by sex are shown.)"""
    admin = workbench.open(catalog)
    shown_cells = 0
    for by in (("hospital", "stay_type", "year"), ("hospital", "sex", "year"), ("stay_type", "year")):
        frame = request(nb_sejours, pilote, by, "year")
        exact = request(nb_sejours, admin, by, "year")
        assert list(frame.columns[: len(by)]) == list(by) and len(frame) == len(exact)
        shown = frame[~frame["masked"]]
        assert (shown["n_patients"] >= K).all()
        assert frame.loc[frame["masked"], ["value", "numerator", "denominator", "n_patients"]].isna().all().all()
        merged = shown.merge(exact, on=list(by), suffixes=("", "_exact"))
        assert len(merged) == len(shown) and (merged["numerator"] == merged["numerator_exact"]).all()
        shown_cells += len(shown)
    assert shown_cells >= 12


def test_filtering_a_pmsi_field_returns_the_row_of_the_breakdown(nb_sejours, pilote):
    by_field = request(nb_sejours, pilote, ("hospital", "stay_type", "year"), "year")
    mco = request(nb_sejours, pilote, ("hospital", "year"), "year", filters={"stay_type": ["MCO"]})
    expected = by_field[by_field["stay_type"] == "MCO"].drop(columns="stay_type").reset_index(drop=True)
    pd.testing.assert_frame_equal(mco, expected, check_dtype=False)
    # a field of one hospital without breakdown: the single cell of the field level
    row = expected.iloc[0]
    one = compute(nb_sejours, pilote, start="2024-01", end="2024-12", grain="year",
                  filters={"hospital": [row["hospital"]], "stay_type": ["MCO"]}).frame
    assert len(one) == 1 and bool(one["masked"][0]) == bool(row["masked"])
    assert one["numerator"].tolist() == [row["numerator"]]


def test_a_masked_pmsi_field_cannot_be_recomputed_from_the_hospital_total(nb_sejours, pilote):
    """Hospital total − its shown fields leaves a sum of at least two masked fields; with everything else
    the user can ask about them (AP-HP total and fields, poles and their fields), the system of totals
    still leaves every masked cell free."""
    levels_ = [(s, 1, attribute) for s in range(3) for attribute in (None, "stay_type")]
    frames = {level: request(nb_sejours, pilote, breakdown(level), "year") for level in levels_}
    hospitals = frames[(1, 1, None)].set_index("hospital")
    checked = 0
    for hospital, fields in frames[(1, 1, "stay_type")].groupby("hospital"):
        if not hospitals.loc[hospital, "masked"] and fields["masked"].any():
            assert fields["masked"].sum() >= 2, hospital
            checked += 1
    assert checked > 0
    assert_no_masked_cell_is_determined(received(frames))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"by": ["uf", "year"], "grain": "year"}, "ventilation par 'uf' non autorisée"),
        ({"by": ["year"], "grain": "year", "filters": {"uf": ["014-U1"]}}, "filtre sur 'uf' non autorisé"),
        ({"by": ["sex", "stay_type"], "grain": "year"}, "une seule dimension parmi"),
        ({"by": ["sex", "year"], "grain": "year", "filters": {"stay_type": ["MCO"]}}, "une seule dimension parmi"),
        ({"by": ["year"], "grain": "year", "filters": {"stay_type": ["MCO", "SSR"]}}, "une seule valeur"),
        ({"by": ["year"], "grain": "year", "filters": {"stay_type": [INJECTION]}}, "valeur(s) inconnue(s) parmi"),
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
    pd.testing.assert_frame_equal(wide, cube[(2, 3, None)][wide.columns], check_dtype=False)


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
    reference = cube[(2, 2, None)]
    reference = reference[reference["hospital"] == "028"].reset_index(drop=True)
    pd.testing.assert_frame_equal(other, reference[other.columns], check_dtype=False)


def test_a_ratio_indicator_is_masked_on_its_patients(catalog):
    from workbench import paths

    dms = load_dictionary(paths.PROJECT_ROOT / "wiki").get("dms").definition
    pilote = workbench.open(catalog, user=user("referent_pilotage"))
    for by in (("hospital", "quarter"), ("hospital", "sex", "year")):
        frame = request(dms, pilote, by, by[-1])
        shown = frame[~frame["masked"]]
        assert len(shown) > 0 and (shown["n_patients"] >= K).all()
        assert frame.loc[frame["masked"], ["value", "numerator", "denominator"]].isna().all().all()
    frame = request(dms, pilote, ("hospital", "quarter"), "quarter")
    parents = request(dms, pilote, ("quarter",), "quarter").set_index("quarter")["masked"]
    for quarter, hospitals in frame.groupby("quarter"):
        assert int(hospitals["masked"].sum()) + int(parents[quarter]) != 1, quarter


def test_an_indicator_with_list_parameters_goes_through_the_policy(pilote):
    """RH30's implementation takes list parameters (planned GHM prefixes): the policy's
    lattice cache must key on them without failing, and still never show a count below k."""
    from workbench import paths

    rh30 = load_dictionary(paths.PROJECT_ROOT / "wiki").get("rh30").definition
    frame = request(rh30, pilote, ("hospital", "year"), "year")
    assert len(frame) > 0
    shown = frame[~frame["masked"]]
    assert (shown["n_patients"] >= 10).all()


# --- a distribution: case-mix, one row per CMD of each cell ---------------------------------------------


def test_a_small_class_of_a_distribution_takes_the_smallest_other_class_with_it():
    # H (30 patients) = CMD 05 (25) + CMD 11 (5): the total is every row's denominator, so 11 alone would
    # be 30 - 25; 05 (the only other class) is masked with it
    total, big, small = cell("H"), (("H",), YEAR, ("cmd", "05")), (("H",), YEAR, ("cmd", "11"))
    assert suppress({cell(): 30, total: 30, big: 25, small: 5,
                     ((), YEAR, ("cmd", "05")): 25, ((), YEAR, ("cmd", "11")): 5}, K) == {
        big, small, ((), YEAR, ("cmd", "05")), ((), YEAR, ("cmd", "11"))}


@pytest.fixture(scope="module")
def case_mix_cube(pilote) -> dict[Level, pd.DataFrame]:
    """Every case-mix cell a référent can ask for in 2024, alone or by one attribute, one row per CMD."""
    from workbench import paths

    case_mix = load_dictionary(paths.PROJECT_ROOT / "wiki").get("case_mix").definition
    attributes = [name for name in ATTRIBUTES if name in case_mix.dimensions]
    levels_ = [(s, t, a) for a in (None, *attributes) for s in range(4) for t in range(1, 4)]
    return {level: request(case_mix, pilote, breakdown(level), TIMES[level[1] - 1]) for level in levels_}


def test_case_mix_rows_name_their_cmd_and_never_show_a_class_below_k(case_mix_cube, catalog):
    """Finding 2 of issue 12: every CMD row is a cell of its own (it was decided by the last row's count)."""
    from workbench import paths

    case_mix = load_dictionary(paths.PROJECT_ROOT / "wiki").get("case_mix").definition
    exact = request(case_mix, workbench.open(catalog), ("hospital", "year"), "year")
    frame = case_mix_cube[(1, 1, None)]
    assert list(frame.columns[:3]) == ["hospital", "cmd", "year"]
    assert len(frame) == len(exact) and frame["cmd"].notna().all()
    for received_frame in case_mix_cube.values():
        shown = received_frame[~received_frame["masked"]]
        assert (shown["n_patients"] >= K).all()
    merged = frame[~frame["masked"]].merge(exact, on=["hospital", "cmd", "year"], suffixes=("", "_exact"))
    assert len(merged) > 0 and (merged["numerator"] == merged["numerator_exact"]).all()
    assert (exact["n_patients"] < K).sum() > 0  # the demo has small classes to protect


def test_a_masked_cmd_cannot_be_recomputed_from_the_denominator(case_mix_cube):
    """The denominator shown on a cell's rows is the sum of its classes: one masked class alone among
    shown ones would be the denominator minus the others."""
    for level, frame in case_mix_cube.items():
        cell_columns = [c for c in frame.columns if c in (*SITES, *TIMES, *ATTRIBUTES)]
        for _, rows in frame.groupby(cell_columns, dropna=False):
            total_shown = rows["denominator"].notna().any()
            assert not total_shown or int(rows["masked"].sum()) != 1, (level, rows)


def test_independent_audit_of_the_case_mix_no_masked_class_is_recoverable(case_mix_cube):
    """Class cells (numerators) and cell totals (the denominators received, unknown when every row of the
    cell is masked), with every additive equation along the tree, time, attributes and CMDs."""
    values: dict[Key, Fraction | None] = {}
    for level, frame in case_mix_cube.items():
        for _, row in frame.iterrows():
            values[_key(row, level, ("cmd",))] = None if row["masked"] else Fraction(int(row["numerator"]))
            total = _key(row, level)
            if pd.notna(row["denominator"]):
                values[total] = Fraction(int(row["denominator"]))
            else:
                values.setdefault(total, None)
    assert_no_masked_cell_is_determined(values)
    assert sum(value is None for value in values.values()) > 100
