"""Issue 12, findings 1 and 2: masked counts recovered across indicators (linked tables), case-mix rows under k.

The attack: indicators count the same stays. As a référent pilotage,
``nb_sejours`` by hospital and month showed a total, by hospital, PMSI field
and month masked MCO and SSR, and ``exhaustivite_codage`` by hospital and
month published a denominator equal to the MCO count: total − MCO gave the
masked SSR stays. Every indicator was protected on its own lattice.

Everything here is computed independently of the implementation: the
populations of every additive indicator are rewritten in SQL from the wiki
definitions over the warehouse's canonical views (DuckDB on the exported
tables), the cube's levels are enumerated from the definitions, and every
level of every indicator is requested as a référent. Each publishable count
is written as a set of atoms (stays grouped by care site, attributes and the
exact set of published places that count them) with its exact value; two
counts with the same atoms count the same population.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from fractions import Fraction
from pathlib import Path

import duckdb
import pandas as pd
import pytest

import workbench
from workbench import paths
from workbench.access.disclosure import suppress
from workbench.indicators.dictionary import load_dictionary
from workbench.indicators.engine import compute
from workbench.warehouse import UserContext

K = 10
YEAR = 2024
SITES = ("hospital", "pole", "service")
TIMES = ("year", "quarter", "month")
ATTRIBUTES = ("stay_type", "visit_type", "age_band", "sex")
NULL = "<null>"
HCAS = "('hospitalisation_complete', 'ambulatoire', 'seance')"
ENDED = "end_date IS NOT NULL AND NOT coalesce(is_open, false)"

# Each additive indicator's population, rewritten from its wiki page: per stay, the month that places
# it, its member of the implementation's own breakdown, its numerator and denominator contributions.
POPULATIONS = {
    "nb_sejours": f"SELECT stay_id, end_month AS month, '' AS extra, 1 AS numerator, NULL AS denominator "
                  f"FROM s WHERE stay_category IN {HCAS} AND end_year = {YEAR}",
    "mortalite_hospitaliere": "SELECT stay_id, end_month, '', died::INT, 1 FROM s WHERE stay_category IN "
                              f"('hospitalisation_complete', 'ambulatoire') AND end_year = {YEAR}",
    "dms": "SELECT stay_id, end_month, '', nights, 1 FROM s WHERE stay_category = 'hospitalisation_complete' "
           f"AND nights IS NOT NULL AND end_year = {YEAR}",
    "journees": "SELECT stay_id, end_month, '', coalesce(nights, 0), NULL FROM s "
                f"WHERE stay_category = 'hospitalisation_complete' AND end_year = {YEAR}",
    "part_entrees_urgences": "SELECT stay_id, end_month, '', from_emergency::INT, 1 FROM s "
                             f"WHERE stay_category = 'hospitalisation_complete' AND end_year = {YEAR}",
    "passages_urgences": f"SELECT stay_id, start_month, '', 1, NULL FROM s WHERE visit_type = 'urgence' AND start_year = {YEAR}",
    "taux_ambulatoire": "SELECT stay_id, end_month, '', (ghm_severity = 'J')::INT, 1 FROM s WHERE ghm_type IN ('C', 'K') "
                        f"AND (cmd IS NULL OR cmd <> '28') AND end_year = {YEAR}",
    "case_mix": f"SELECT stay_id, end_month, cmd, 1, 1 FROM s WHERE {ENDED} AND stay_type = 'MCO' "
                f"AND stay_category IN {HCAS} AND ghm IS NOT NULL AND end_year = {YEAR}",
    "exhaustivite_codage": "SELECT stay_id, end_month, '', EXISTS (SELECT 1 FROM diagnoses d WHERE d.stay_id = s.stay_id "
                           "AND d.status = 'DP' AND d.source = 'AREM')::INT, 1 "
                           f"FROM s WHERE {ENDED} AND stay_type = 'MCO' AND stay_category IN {HCAS} AND end_year = {YEAR}",
    "completude_poids_taille": "SELECT stay_id, end_month, '', (EXISTS (SELECT 1 FROM biology b WHERE b.person_id = s.person_id "
                               "AND b.loinc = '29463-7' AND b.value IS NOT NULL AND b.datetime BETWEEN s.start_datetime AND "
                               "s.end_datetime) AND EXISTS (SELECT 1 FROM biology b WHERE b.person_id = s.person_id AND "
                               "b.loinc = '8302-2' AND b.value IS NOT NULL AND b.datetime BETWEEN s.start_datetime AND "
                               "s.end_datetime))::INT, 1 "
                               f"FROM s WHERE {ENDED} AND stay_category = 'hospitalisation_complete' AND end_year = {YEAR}",
    "taux_hospit_urgences": "SELECT v.stay_id, v.start_month, '', EXISTS (SELECT 1 FROM s a WHERE a.visit_type IN "
                            "('hospitalisés', 'hospitalisation incomplète') AND a.person_id = v.person_id AND ("
                            "coalesce(a.nda = v.nda, false) OR coalesce(a.preceding_stay_id = v.stay_id, false) OR "
                            "(a.start_datetime >= v.start_datetime AND a.start_datetime <= coalesce(v.end_datetime, "
                            "v.start_datetime) + INTERVAL 24 HOUR)))::INT, 1 "
                            f"FROM s v WHERE v.visit_type = 'urgence' AND v.start_year = {YEAR}",
    "ip_dms": "SELECT stay_id, end_month, CASE WHEN ghm_type = 'C' THEN 'chirurgie' WHEN ghm_type = 'M' THEN 'medecine' "
              "ELSE 'autre' END, sum(coalesce(nights, 0)), sum(reference_dms) FROM s JOIN reference USING (ghm) "
              f"WHERE {ENDED} AND stay_category = 'hospitalisation_complete' AND stay_type = 'MCO' "
              f"AND (cmd IS NULL OR cmd <> '28') AND end_year = {YEAR} GROUP BY ALL",
}
EXTRA = {"case_mix": "cmd", "ip_dms": "activite"}
"""The implementation's own breakdown column, where it has one."""
SUMMED = {("dms", "numerator"): "nights", ("journees", "numerator"): "nights", ("ip_dms", "numerator"): "nights",
          ("ip_dms", "denominator"): "reference_dms"}
"""The quantity a column sums when it is not a count of stays."""
NOT_ADDITIVE = ("file_active", "rh7", "rh30", "taux_occupation")
ONLY_NUMERATOR = ("nb_sejours", "journees", "passages_urgences")
"""Counts without denominator."""
NOTHING = (frozenset(), Fraction(0), frozenset())
"""The form of a zero: no atom, no patient."""


def exact(value) -> Fraction:
    """A published or summed value as a fraction (sums of reference lengths are decimals)."""
    return Fraction(str(round(float(value), 6)))
"""Distinct patients and bed-days: audited on their own totals."""


# --- fixtures ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory):
    with pytest.MonkeyPatch.context() as patch:
        folder = tmp_path_factory.mktemp("linked") / "state"
        patch.setenv("WORKBENCH_STATE", str(folder))
        yield folder


@pytest.fixture(scope="module")
def definitions():
    dictionary = load_dictionary(paths.wiki_path())
    return {ident: page.definition for ident, page in dictionary.indicators.items()}


@pytest.fixture(scope="module")
def pilote(demo_dir: Path, state: Path):
    user = UserContext(name="pilote", role="referent_pilotage", perimeter=frozenset(), nominative=False)
    return workbench.open(demo_dir / "catalog.yaml", user=user)


@pytest.fixture(scope="module")
def admin(demo_dir: Path, state: Path):
    return workbench.open(demo_dir / "catalog.yaml")


Level = tuple[int, int, "str | None"]


def cube_levels(definition) -> list[Level]:
    """Every breakdown the cube offers for an indicator: AP-HP/hospital/pole/service × year/quarter/month,
    alone or by one of the attributes its page allows."""
    attributes = [None, *(name for name in ATTRIBUTES if name in definition.dimensions)]
    return [(s, t, a) for a in attributes for s in range(4) for t in range(1, 4)]


def by_of(level: Level) -> list[str]:
    s, t, attribute = level
    return [*SITES[:s], *([attribute] if attribute else []), *TIMES[:t]]


def ask(definition, warehouse, level: Level) -> pd.DataFrame:
    return compute(definition, warehouse, by=by_of(level), start=f"{YEAR}-01", end=f"{YEAR}-12",
                   grain=TIMES[level[1] - 1]).frame


@pytest.fixture(scope="module")
def published(definitions, pilote) -> dict[str, dict[Level, pd.DataFrame]]:
    """Everything a référent pilotage can request for the year: every indicator at every level."""
    return {ident: {level: ask(definition, pilote, level) for level in cube_levels(definition)}
            for ident, definition in sorted(definitions.items())}


def member(value) -> str:
    return NULL if value is None or pd.isna(value) else str(value)


def cell_key(row, level: Level, extra: str | None) -> tuple:
    """(indicator's own breakdown member, sites, periods, attribute member) of a row or a stay."""
    s, t, attribute = level
    return ((member(row[extra]) if extra else ""), tuple(member(row[c]) for c in SITES[:s]),
            tuple(member(row[c]) for c in TIMES[:t]), (attribute, member(row[attribute])) if attribute else ())


# --- the independent populations and atoms --------------------------------------------------------------


@pytest.fixture(scope="module")
def stays(admin) -> pd.DataFrame:
    return admin.execute(admin.view("stays"))


@pytest.fixture(scope="module")
def places(admin, stays) -> pd.DataFrame:
    """Per additive indicator, column and counted stay: month, own breakdown member and contribution."""
    con = duckdb.connect()
    frame = stays.assign(end_month=pd.to_datetime(stays["end_date"]).dt.strftime("%Y-%m"),
                         start_month=pd.to_datetime(stays["start_date"]).dt.strftime("%Y-%m"),
                         end_year=pd.to_datetime(stays["end_date"]).dt.year,
                         start_year=pd.to_datetime(stays["start_date"]).dt.year)
    con.register("s", frame)
    con.register("diagnoses", admin.execute(admin.view("diagnoses")))
    con.register("biology", admin.execute(admin.view("biology")))
    con.register("reference", admin.execute(admin.table("ghm_reference_dms").select("ghm", "reference_dms")))
    parts = []
    for ident, sql in POPULATIONS.items():
        rows = con.execute(sql).df()
        rows.columns = ["stay_id", "month", "extra", "numerator", "denominator"]
        for column in ("numerator", "denominator"):
            counted = rows[rows[column].notna() & (rows[column] != 0)]
            parts.append(pd.DataFrame({"indicator": ident, "column": column, "stay_id": counted["stay_id"],
                                       "month": counted["month"], "extra": counted["extra"].map(member),
                                       "weight": counted[column].map(exact),
                                       "quantity": SUMMED.get((ident, column), "stays")}))
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def atoms(places, stays) -> pd.DataFrame:
    """Each counted stay's atom: stays of one quantity with the same care site, attributes and places."""
    places = places.assign(place=places["indicator"] + "|" + places["column"] + "|" + places["month"] + "|"
                           + places["extra"].astype(str))
    coordinates = stays.set_index("stay_id")[[*SITES, *ATTRIBUTES]].astype(object)
    coordinates = coordinates.where(coordinates.notna(), NULL).astype(str)
    found = []
    for quantity, group in places.groupby("quantity"):
        signature = group.groupby("stay_id")["place"].agg(lambda values: "\n".join(sorted(values)))
        keyed = coordinates.loc[signature.index].assign(signature=signature)
        ids = keyed.groupby(list(keyed.columns)).ngroup()
        found.append(pd.DataFrame({"quantity": quantity, "stay_id": ids.index, "atom": quantity + ":" + ids.astype(str)}))
    return pd.concat(found, ignore_index=True)


@pytest.fixture(scope="module")
def forms(definitions, places, atoms, stays) -> dict[tuple, tuple[frozenset, Fraction, frozenset]]:
    """Every publishable additive quantity of the year (indicator, column, key) as its set of atoms, exact
    value and patients: the cells of every level, the case-mix denominator being the total of its key."""
    placed = places.merge(atoms, on=["quantity", "stay_id"]).merge(
        stays[["stay_id", "person_id", *SITES, *ATTRIBUTES]], on="stay_id")
    placed["year"] = placed["month"].str[:4]
    placed["quarter"] = placed["year"] + "-Q" + ((placed["month"].str[5:7].astype(int) - 1) // 3 + 1).astype(str)
    found: dict[tuple, tuple[frozenset, Fraction, frozenset]] = {}
    for (ident, column), group in placed.groupby(["indicator", "column"]):
        total = ident == "case_mix" and column == "denominator"
        extra = EXTRA.get(ident) if not total else None
        group = group.rename(columns={"extra": EXTRA[ident]}) if ident in EXTRA else group
        for level in cube_levels(definitions[ident]):
            s, t, attribute = level
            keys = [*([EXTRA[ident]] if extra else []), *SITES[:s], *TIMES[:t], *([attribute] if attribute else [])]
            cells = group.groupby(keys, dropna=False).agg(atoms=("atom", frozenset), value=("weight", list),
                                                           persons=("person_id", frozenset))
            for values, atoms_, weights, persons in zip(cells.index, cells["atoms"], cells["value"], cells["persons"]):
                row = dict(zip(keys, values if isinstance(values, tuple) else (values,)))
                found[(ident, column, cell_key(row, level, extra))] = (atoms_, sum(weights, Fraction(0)), persons)
    return found


def received(published) -> tuple[dict[tuple, Fraction], set[tuple]]:
    """What the référent holds: each shown additive quantity's value, and the masked ones, keyed by
    (indicator, column, key). A case-mix key's total (the rows' denominator) is masked when a shown row
    withholds it; when every row of the key is masked it is neither shown nor withheld (the policy
    publishes it only through a shown row, which has k patients or more, so the total has too)."""
    shown: dict[tuple, Fraction] = {}
    masked: set[tuple] = set()
    withheld: set[tuple] = set()
    for ident in POPULATIONS:
        for level, frame in published[ident].items():
            extra = EXTRA.get(ident)
            for _, row in frame.iterrows():
                key = cell_key(row, level, extra)
                for column in ["numerator"] if ident in ONLY_NUMERATOR else ["numerator", "denominator"]:
                    total = ident == "case_mix" and column == "denominator"
                    quantity = (ident, column, ("", *key[1:]) if total else key)
                    value = row[column]
                    if total and not bool(row["masked"]) and (value is None or pd.isna(value)):
                        withheld.add(quantity)
                    elif total:
                        if not bool(row["masked"]):
                            shown[quantity] = exact(value)
                    elif bool(row["masked"]) or value is None or pd.isna(value):
                        masked.add(quantity)
                    else:
                        shown[quantity] = exact(value)
    return shown, masked | withheld


# --- (a) the subtraction of the issue ------------------------------------------------------------------------


def own_masking(definition, admin) -> dict[tuple, bool]:
    """The previous policy, rebuilt: the indicator's own lattice masked alone (primary, complementary, exact)."""
    patients = {}
    frames = {level: ask(definition, admin, level) for level in cube_levels(definition)}
    for level, frame in frames.items():
        for _, row in frame.iterrows():
            _, site, time, attribute = cell_key(row, level, None)
            patients[(site, time, attribute)] = float(row["n_patients"])
    masked = suppress(patients, K)
    return {key: key in masked for key in patients}


def test_the_nb_sejours_minus_exhaustivite_subtraction_worked_alone_and_fails_jointly(definitions, admin, published,
                                                                                    forms):
    nb, exhaustivite = definitions["nb_sejours"], definitions["exhaustivite_codage"]
    alone_nb, alone_exh = own_masking(nb, admin), own_masking(exhaustivite, admin)
    recovered = []
    for key, hidden in alone_nb.items():
        site, time, attribute = key
        if len(site) != 1 or len(time) != 3 or attribute != ("stay_type", "MCO") or not hidden:
            continue
        total, denominator = (site, time, ()), ("exhaustivite_codage", "denominator", ("", site, time, ()))
        mco = ("nb_sejours", "numerator", ("", site, time, ("stay_type", "MCO")))
        if (not alone_nb[total] and not alone_exh.get((site, time, ()), True)
                and forms.get(mco, NOTHING)[0] == forms.get(denominator, NOTHING)[0]):
            recovered.append((site, time, forms[mco][1]))  # the denominator shown alone IS the masked MCO count
    assert recovered, "the demo reproduces the attack under the per-indicator policy"
    shown, masked = received(published)
    for site, time, value in recovered:
        mco = ("nb_sejours", "numerator", ("", site, time, ("stay_type", "MCO")))
        denominator = ("exhaustivite_codage", "denominator", ("", site, time, ()))
        assert mco in masked or mco in shown  # the MCO cell exists in what the référent gets
        if mco in masked:  # jointly: the same population is masked in both indicators
            assert denominator in masked, (site, time, value)


# --- (b) every pair of indicators sharing a population ---------------------------------------------------------


def test_no_population_is_masked_in_one_indicator_and_shown_in_another(published, forms):
    shown, masked = received(published)
    by_population: dict[frozenset, list[tuple]] = defaultdict(list)
    for quantity, (atoms_, _, _) in forms.items():
        if atoms_:
            by_population[atoms_].append(quantity)
    pairs, leaks = set(), []
    for quantities in by_population.values():
        indicators = {q[0] for q in quantities}
        pairs |= {tuple(sorted(pair)) for pair in itertools.combinations(indicators, 2)}
        if any(q in shown for q in quantities):
            leaks += [q for q in quantities if q in masked]
    assert ("exhaustivite_codage", "nb_sejours") in pairs and ("dms", "journees") in pairs
    assert ("case_mix", "exhaustivite_codage") in pairs and ("completude_poids_taille", "part_entrees_urgences") in pairs
    assert len(pairs) >= 10
    assert leaks == [], leaks[:20]


# --- indicators that are not sums over stays ---------------------------------------------------------------------


def test_indicators_of_distinct_patients_and_bed_days_hold_on_their_own_totals(published):
    """Not sums over stays, so no atom links them: their own additive equations (care-site tree, time,
    attribute members) leave every masked cell free."""
    from access.test_disclosure import null_vector, totals

    for ident in NOT_ADDITIVE:
        masked, keys = set(), set()
        for level, frame in published[ident].items():
            for _, row in frame.iterrows():
                _, site, time, attribute = cell_key(row, level, None)
                keys.add((site, time, attribute))
                if row["masked"]:
                    masked.add((site, time, attribute))
        system = totals(keys)
        z = null_vector(system, masked)
        for terms in system:
            assert sum(sign * z[term] for term, sign in terms if term in masked) == 0
        assert masked and sorted(key for key in masked if z[key] == 0) == [], ident


# --- (d) case-mix --------------------------------------------------------------------------------------------------------


def test_case_mix_publishes_no_row_under_k_and_keeps_its_cmd_column(published, stays):
    frames = published["case_mix"]
    rows = 0
    for level, frame in frames.items():
        assert "cmd" in frame.columns
        shown = frame[~frame["masked"].astype(bool)]
        assert (shown["n_patients"] >= K).all()
        rows += len(shown)
    assert rows > 0
    # the rows shown are the exact patients of their CMD (independent count on the stays)
    ended = stays[stays["end_date"].notna() & ~stays["is_open"].fillna(False).astype(bool)]
    ended = ended[(ended["stay_type"] == "MCO") & ended["ghm"].notna()
                  & ended["stay_category"].isin(["hospitalisation_complete", "ambulatoire", "seance"])
                  & (pd.to_datetime(ended["end_date"]).dt.year == YEAR)]
    expected = ended.groupby("cmd")["person_id"].nunique()
    year = frames[(0, 1, None)]
    for _, row in year[~year["masked"].astype(bool)].iterrows():
        assert row["n_patients"] == expected[row["cmd"]]
    hidden = year[year["masked"].astype(bool)]
    assert set(hidden["cmd"]) >= set(expected[expected < K].index)
