"""One protected release per snapshot, policy threshold and year: every indicator's cube, masked jointly.

Why: indicators count the same populations. ``exhaustivite_codage``'s
denominator for a hospital-month is the MCO stay count, which is also
``nb_sejours``'s (hospital, month, stay_type = MCO) cell; masking each
indicator on its own lattice let a user subtract one indicator's shown cell
from another's total and recover a masked count. This is the *linked tables*
problem of statistical disclosure control (τ-ARGUS): cells of different
tables that count the same units must be protected together.

The release of a year holds the lattice (:mod:`workbench.access.disclosure`)
of every indicator of the deployment's dictionary, each in the version in
force at the end of the year with its page's parameters, and masks them in
one decision:

1. primary suppression: every cell (of any indicator, each row of the
   case-mix breakdown its own cell) with fewer than k patients;
2. complementary suppression to a fixed point over the union of every
   indicator's additive equations (care-site tree, time, attribute members,
   case-mix rows to their total);
3. the exact linear check over the combined system, where the indicators are
   *linked through their units*: each additive count or sum an indicator
   publishes (numerators and denominators that count stays or sum a stay
   column) is written as a sum of **atoms** — the stays grouped by their
   care-site, attributes and the exact set of (indicator, column, month,
   breakdown member) they are counted in. Two cells that count the same stays
   are then the same linear form, and any combination of cells of any
   indicators that gives a masked count is found. Each masked cell a
   combination determines gets its smallest shown cell in that combination
   masked too, and steps 2–3 resume until nothing is determined.

The atoms come from the indicators' own expressions computed once per stay
(the request broken down by month and stay id), so the linkage is exact for
every additive indicator, declarative or Python, without a second
definition of the populations. Distinct-patient counts (``n_patients``, file
active, readmissions) are not additive: no linear combination gives them, and
two equal distinct counts are either both under k (both masked) or both
publishable; bed-days (occupancy) count another unit. Those indicators take
part in steps 1–2 and in the check through their own equations.

Masking is deterministic and independent of the request: one release per
(catalogue, snapshot, k, year, dictionary), shared by every user and surface.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.access.disclosure import (
    ATTRIBUTES,
    NULL_MEMBER,
    SITE_LEVELS,
    TIME_LEVELS,
    Key,
    Lattice,
    complete,
    determined,
    extras,
    equations,
    extra_columns,
    levels,
    row_cells,
)
from workbench.cache import OnceCache

Extra = tuple[tuple[str, str], ...]
Cell = tuple[str, Extra, Key]
"""A masking unit: (indicator id, members of the implementation's own breakdown, lattice key)."""
UNITS = {"stays": "stay_id"}
"""The views whose rows the additive indicators count, and the column identifying a row."""
CELL = "cell"
"""The quantity standing for a whole cell of an indicator without additive columns."""


@dataclass(frozen=True)
class Member:
    """One indicator of the release: its definition, version and parameters for the year, and what it adds up."""

    definition: Any
    version: Any  # IndicatorVersion
    params: dict[str, Any]
    additive: dict[str, str]  # metric column -> the unit quantity it sums ("stays", "stays.nights"…)
    total: bool  # the denominator is the cell's total over the implementation's own breakdown

    @property
    def id(self) -> str:
        return self.definition.id


def member(definition: Any, year: int) -> Member | None:
    """The release member of `definition` for `year`: the version in force on 31 December, the page's
    parameters, and the additive columns its computation declares (None when no version is in force)."""
    from workbench.indicators import implementations
    from workbench.indicators.engine import resolved_params
    from workbench.indicators.model import DeclarativeComputation

    try:
        version = definition.version_at(dt.date(year, 12, 31))
    except LookupError:
        return None
    computation = version.computation
    if isinstance(computation, DeclarativeComputation):
        additive: dict[str, str] = {}
        if computation.view in UNITS:
            for column, measure in (("numerator", computation.numerator), ("denominator", computation.denominator)):
                if measure is not None and measure.agg == "count":
                    additive[column] = computation.view
                elif measure is not None and measure.agg == "sum":
                    additive[column] = f"{computation.view}.{measure.column}"
        return Member(definition, version, resolved_params(computation, None), additive, False)
    registered = implementations.get(computation.implementation)
    return Member(definition, version, resolved_params(computation, None), dict(registered.additive), registered.total)


# --- the members' cells and equations --------------------------------------------------------------


Quantity = tuple[str, str, Extra, Key]
"""One published number: (indicator id, metric column, breakdown members, key)."""
Atom = tuple[str, str, int]
"""("~atom", unit quantity, index): the stays of one care site, attributes and set of counted places."""


@dataclass
class Table:
    """One member's lattice frames turned into cells, their patients, equations and published quantities."""

    member: Member
    frames: dict[Any, Any]
    patients: dict[Cell, float]
    system: list[tuple[Cell, list[Cell]]]
    quantities: dict[Quantity, float]  # each published quantity and its exact value
    quantity_system: list[tuple[Quantity, list[Quantity]]]


def _columns_of(m: Member, extra: Extra) -> list[str]:
    """The quantities a cell of `m` publishes: its additive columns (the case-mix rows their numerator,
    their total the denominator), or the whole cell for an indicator without additive columns."""
    if not m.additive:
        return [CELL]
    if m.total:
        return ["denominator"] if not extra else ["numerator"]
    return list(m.additive)


def table(m: Member, frames: Mapping[Any, Any]) -> Table:
    """The cells of one member's lattice: rows (and, for the case-mix, each key's total), their patients,
    the additive equations between them and the quantities they publish."""
    patients: dict[Cell, float] = {}
    values: dict[Quantity, float] = {}
    for level, result in frames.items():
        frame = result.frame
        counts = frame["n_patients"].astype(float).fillna(0.0).tolist()
        numerators = frame["numerator"].astype(float).fillna(0.0).tolist()
        denominators = frame["denominator"].astype(float).fillna(0.0).tolist()
        for (extra, key), n, numerator, denominator in zip(row_cells(frame, level), counts, numerators, denominators):
            patients[(m.id, extra, key)] = n
            row = {"numerator": numerator, "denominator": denominator, CELL: n}
            for column in _columns_of(m, extra):
                values[(m.id, column, extra, key)] = row[column]
            if m.total:  # the key's total: at least as many patients as its largest row (a lower bound)
                total = (m.id, (), key)
                patients[total] = max(patients.get(total, 0.0), n)
                values[(m.id, "denominator", (), key)] = denominator
    groups: dict[Extra, list[Key]] = {}
    for ident, extra, key in patients:
        groups.setdefault(extra, []).append(key)
    system: list[tuple[Cell, list[Cell]]] = []
    quantity_system: list[tuple[Quantity, list[Quantity]]] = []
    for extra, keys in sorted(groups.items()):
        for parent, children in equations(keys):
            system.append(((m.id, extra, parent), [(m.id, extra, child) for child in children]))
            for column in _columns_of(m, extra):
                quantity_system.append(((m.id, column, extra, parent), [(m.id, column, extra, c) for c in children]))
    if m.total:  # each key's total is the sum of its rows
        rows: dict[Key, list[Extra]] = {}
        for ident, extra, key in patients:
            if extra:
                rows.setdefault(key, []).append(extra)
        for key, members in sorted(rows.items()):
            system.append(((m.id, (), key), [(m.id, extra, key) for extra in sorted(members)]))
            quantity_system.append(((m.id, "denominator", (), key),
                                    [(m.id, "numerator", extra, key) for extra in sorted(members)]))
    return Table(m, dict(frames), patients, system, values, quantity_system)


def unit_frame(m: Member, source: Any, year: int) -> pd.DataFrame:
    """The member's numerator and denominator per counted stay and month: its own expression, broken
    down by month and stay id (one row per stay and breakdown member)."""
    from workbench.indicators.compiler import Request
    from workbench.indicators.engine import build_expression

    unit = UNITS[next(iter(m.additive.values())).split(".")[0]]
    request = Request(indicator_id=m.id, by=("month", unit), start=dt.date(year, 1, 1), end=dt.date(year, 12, 31),
                      grain="month", params=m.params, extraction_date=getattr(source, "extraction_date", None))
    return source.execute(build_expression(m.version.computation, source, request))


def _finest(m: Member) -> tuple[int, int, list[str | None]]:
    """The deepest site and time levels of the member's lattice and the attributes its finest cells use."""
    dimensions = m.definition.dimensions
    site_depth = sum(level in dimensions for level in SITE_LEVELS)
    time_depth = sum(level in dimensions for level in TIME_LEVELS)
    attributes: list[str | None] = [name for name in ATTRIBUTES if name in dimensions]
    return site_depth, time_depth, attributes or [None]


def atom_equations(tables: Mapping[str, Table], source: Any, year: int) -> list[tuple[Quantity, list[Atom]]]:
    """Each finest published quantity of an additive member as the sum of the atoms it counts.

    An atom is a set of stays with the same care site and attributes that
    are counted in exactly the same (indicator, column, month, breakdown
    member) places for one unit quantity (stays counted, nights summed…):
    every published quantity is a sum of atoms, two quantities counting the
    same stays are the same sum, and the coarser cells follow from the finest
    through the lattice equations.
    """
    linked = [t.member for t in tables.values() if t.member.additive]
    if not linked:
        return []
    places, named = [], {}
    for m in linked:
        frame = unit_frame(m, source, year)
        members = extras(frame)
        named.update((repr(extra), extra) for extra in members)
        extra = pd.Series([repr(extra) for extra in members], index=frame.index, dtype=object)
        unit = UNITS[next(iter(m.additive.values())).split(".")[0]]
        for column, quantity in m.additive.items():
            counted = frame[column].astype(float).fillna(0.0) != 0
            places.append(pd.DataFrame({
                "unit": frame.loc[counted, unit], "quantity": quantity, "indicator": m.id, "column": column,
                "month": frame.loc[counted, "month"].astype(str), "extra": extra[counted],
            }))
    placed = pd.concat(places, ignore_index=True)
    stays = source.view("stays")
    coordinates = source.execute(stays.select("stay_id", *SITE_LEVELS, *ATTRIBUTES))
    coordinates = coordinates.drop_duplicates("stay_id").set_index("stay_id")
    coordinates = coordinates.astype(object).where(coordinates.notna(), NULL_MEMBER).astype(str)
    placed["place"] = placed["indicator"] + "\t" + placed["column"] + "\t" + placed["month"] + "\t" + placed["extra"]
    by_member = {m.id: m for m in linked}
    found: dict[Quantity, list[Atom]] = {}
    for quantity, group in placed.groupby("quantity", sort=True):
        signature = group.groupby("unit")["place"].agg(lambda places_: "\n".join(sorted(places_)))
        atoms = coordinates.reindex(signature.index).fillna(NULL_MEMBER).assign(signature=signature)
        index = atoms.groupby(list(atoms.columns), sort=True).ngroup()
        pairs = group.assign(atom=group["unit"].map(index)).drop_duplicates(["place", "atom"])
        first = atoms.assign(atom=index).drop_duplicates("atom").set_index("atom")
        for row in pairs.itertuples(index=False):
            m = by_member[row.indicator]
            site_depth, time_depth, attributes = _finest(m)
            where = first.loc[row.atom]
            column, extra = ("denominator", ()) if m.total and row.column == "denominator" else (row.column, named[row.extra])
            month = row.month
            times = (month[:4], f"{month[:4]}-Q{(int(month[5:7]) - 1) // 3 + 1}", month)[:time_depth]
            site = tuple(where[level] for level in SITE_LEVELS[:site_depth])
            atom: Atom = ("~atom", str(quantity), int(row.atom))
            for attribute in attributes:
                member_ = (attribute, where[attribute]) if attribute else ()
                found.setdefault((m.id, column, extra, (site, times, member_)), []).append(atom)
    return sorted(found.items())


# --- the joint masking -----------------------------------------------------------------------------


def same_populations(quantity_system: Sequence[tuple[Any, list[Any]]], linked: Sequence[tuple[Quantity, list[Atom]]],
                     values: Mapping[Quantity, float]) -> list[tuple[Cell, list[Cell]]]:
    """Equalities between the cells of quantities that count exactly the same units (the same atoms):
    ``exhaustivite_codage``'s denominator at a key and ``nb_sejours``'s MCO cell are one population, so
    complementary suppression masks them together instead of leaving it to the exact check, round
    after round. Identical sums of atoms are found by a random weight per atom (two 31-bit draws: a
    collision would only add a harmless equality)."""
    draw = random.Random(0)
    weights: dict[Atom, tuple[int, int]] = {}
    forms: dict[Any, tuple[int, int, int]] = {}  # quantity -> (hash, hash, atoms counted)
    for quantity, terms in linked:
        first = second = 0
        for atom in terms:
            if atom not in weights:
                weights[atom] = (draw.getrandbits(31), draw.getrandbits(31))
            first, second = first + weights[atom][0], second + weights[atom][1]
        forms[quantity] = (first, second, len(terms))
    parents: dict[Any, list[Any]] = {}
    for parent, children in quantity_system:
        parents.setdefault(parent, children)

    def form(quantity: Any) -> tuple[int, int, int] | None:
        if quantity not in forms and quantity[1] != CELL and not values.get(quantity, 1):
            forms[quantity] = (0, 0, 0)  # a zero count: no atom
        if quantity not in forms:
            children = parents.get(quantity)
            if children is None:
                return None
            parts = [form(child) for child in children]
            if any(part is None for part in parts):
                return None
            forms[quantity] = tuple(sum(values) for values in zip(*parts)) if parts else (0, 0, 0)
        return forms[quantity]

    classes: dict[tuple[int, int, int], list[Cell]] = {}
    for quantity in sorted(parents.keys() | {q for q, _ in linked}):
        found = form(quantity)
        if found is not None and found[2]:
            classes.setdefault(found, []).append((quantity[0], quantity[2], quantity[3]))
    equalities = []
    for members in classes.values():
        distinct = sorted(set(members))
        equalities.extend((first, [second]) for first, second in zip(distinct, distinct[1:]))
    return equalities


def suppress_jointly(tables: Mapping[str, Table], linked: Sequence[tuple[Quantity, list[Atom]]],
                     min_count: int) -> set[Cell]:
    """Primary suppression over every member, complementary suppression to a fixed point over the union
    of their equations, then until no masked quantity is determined by the combined system (every
    member's equations and the atoms): the smallest shown cell of a combination giving a masked
    quantity is masked too, and the fixed point resumed from there."""
    patients: dict[Cell, float] = {}
    system: list[tuple[Cell, list[Cell]]] = []
    quantities: dict[Quantity, float] = {}
    quantity_system: list[tuple[Any, list[Any]]] = list(linked)
    for ident in sorted(tables):
        part = tables[ident]
        patients.update(part.patients)
        system.extend(part.system)
        quantities.update(part.quantities)
        quantity_system.extend(part.quantity_system)
    system.extend(same_populations(quantity_system, linked, quantities))
    holding: dict[Cell, list[int]] = {}
    for index, (parent, children) in enumerate(system):
        for term in (parent, *children):
            holding.setdefault(term, []).append(index)
    parts = components(quantity_system)
    masked = {cell for cell, count in patients.items() if count < min_count}
    pending: Sequence[int] = range(len(system))
    changed: set[Cell] | None = None  # None: check every component
    while True:
        complete(system, holding, patients, masked, pending)
        added: set[Cell] = set()
        for equations_, cells_ in parts:
            if changed is not None and not cells_ & changed:
                continue  # nothing of this component changed since its last check
            hidden = {q for q in {term for parent, children in equations_ for term in (parent, *children)}
                      if q[0] == "~atom" or (q[0], q[2], q[3]) in masked}
            for quantity, shown in determined(equations_, hidden).items():
                if quantity[0] == "~atom" or not quantities.get(quantity):
                    continue  # an atom alone, or a zero the support gives away: nothing to hide
                choices = {(q[0], q[2], q[3]) for q in shown}
                if choices:
                    added.add(min(choices, key=lambda cell: (patients[cell], cell)))
        added -= masked
        if not added:
            return masked
        before = set(masked)
        masked |= added
        pending = sorted({index for cell in added for index in holding.get(cell, [])})
        complete(system, holding, patients, masked, pending)
        pending = ()
        changed = masked - before


def components(system: Sequence[tuple[Any, list[Any]]]) -> list[tuple[list[tuple[Any, list[Any]]], set[Cell]]]:
    """The combined system split into independent parts (no term in common): each quantity family
    (stays counted, nights summed…) linked through its atoms, and each indicator without additive
    columns on its own. Each part is checked alone, and again only when one of its cells changes."""
    parent: dict[Any, Any] = {}

    def root(term: Any) -> Any:
        while parent.setdefault(term, term) != term:
            parent[term] = parent[parent[term]]
            term = parent[term]
        return term

    for head, children in system:
        for child in children:
            a, b = root(head), root(child)
            if a != b:
                parent[a] = b
    grouped: dict[Any, list[tuple[Any, list[Any]]]] = {}
    for equation in system:
        grouped.setdefault(root(equation[0]), []).append(equation)
    found = []
    for key in sorted(grouped, key=repr):
        equations_ = grouped[key]
        cells_ = {(q[0], q[2], q[3]) for head, children in equations_ for q in (head, *children) if q[0] != "~atom"}
        found.append((equations_, cells_))
    return found


# --- the release -----------------------------------------------------------------------------------


@dataclass
class Release:
    """One year's joint masking: each member's masked cells (breakdown members, key), and the members."""

    masked: dict[str, set[tuple[Extra, Key]]]
    members: dict[str, Member]


FORMAT = 1
"""Version of the release computation and of its stored form: a change recomputes every release."""
_RELEASES = OnceCache(8)
"""One release per catalogue, snapshot, threshold, year and dictionary, shared by every user and thread."""


def fingerprint(definitions: Sequence[Any]) -> str:
    """A digest of the dictionary's definitions: another wiki is another release."""
    digest = hashlib.sha256()
    for definition in sorted(definitions, key=lambda d: d.id):
        digest.update(definition.model_dump_json().encode())
    return digest.hexdigest()


def build(definitions: Sequence[Any], source: Any, year: int, min_count: int) -> dict[str, set[tuple[Extra, Key]]]:
    """Compute every member's lattice for `year` and mask them jointly: the masked cells per member."""
    from workbench.indicators.engine import compute

    members = [m for m in (member(d, year) for d in sorted(definitions, key=lambda d: d.id)) if m is not None]
    tables = {}
    for m in members:
        frames = {level: compute(m.definition, source, by=by, start=f"{year}-01", end=f"{year}-12",
                                 grain=TIME_LEVELS[level[1] - 1], version=m.version.version)
                  for level, by in levels(m.definition).items()}
        if all(result.available for result in frames.values()):
            tables[m.id] = table(m, frames)
    masked = suppress_jointly(tables, atom_equations(tables, source, year), min_count)
    found: dict[str, set[tuple[Extra, Key]]] = {m.id: set() for m in members}
    for ident, extra, key in masked:
        found[ident].add((extra, key))
    return found


def _stored(key: tuple[Any, ...]) -> Path:
    """Where the release of `key` is kept between processes: the state folder (the audit log's trust)."""
    from workbench import paths

    digest = hashlib.sha256(json.dumps([FORMAT, *key], default=str).encode()).hexdigest()
    return paths.state_path() / "releases" / f"{digest}.json"


def _load(path: Path) -> dict[str, set[tuple[Extra, Key]]] | None:
    def cell(value: list[Any]) -> tuple[Extra, Key]:
        extra, (site, time, attribute) = value
        return tuple(tuple(pair) for pair in extra), (tuple(site), tuple(time), tuple(attribute))

    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
        return {ident: {cell(value) for value in cells_} for ident, cells_ in stored.items()}
    except (OSError, ValueError, TypeError):
        return None  # absent or unreadable: computed again


def _save(path: Path, masked: Mapping[str, set[tuple[Extra, Key]]]) -> None:
    """Written atomically; a state folder that cannot be written only costs the next process a rebuild."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps({ident: sorted(cells_) for ident, cells_ in masked.items()}), encoding="utf-8")
        os.replace(temporary, path)
    except OSError:
        pass


def year_release(source: Any, year: int, min_count: int) -> Release:
    """The release of `year` for the deployment's dictionary, computed once and shared: in memory, and
    across processes (CLI runs, server restarts) through the state folder."""
    definitions = dictionary_definitions()
    key = (str(source.catalog_path), getattr(source, "snapshot_id", None), min_count, year, fingerprint(definitions))

    def compute_or_load() -> Release:
        members = {m.id: m for m in (member(d, year) for d in definitions) if m is not None}
        path = _stored(key)
        masked = _load(path)
        if masked is None or set(masked) != set(members):
            masked = build(definitions, source, year, min_count)
            _save(path, masked)
        return Release(masked, members)

    return _RELEASES.get(key, compute_or_load)


def release_lattice(definition: Any, source: Any, year: int, min_count: int, level: Any) -> Lattice:
    """`definition`'s part of the year's release at one cube level: the level's frame and the masked cells."""
    from workbench.indicators.engine import compute

    release = year_release(source, year, min_count)
    published = release.members[definition.id]
    result = compute(definition, source, by=levels(definition)[level], start=f"{year}-01", end=f"{year}-12",
                     grain=TIME_LEVELS[level[1] - 1], version=published.version.version)
    return Lattice({level: result}, release.masked.get(definition.id, set()), published.total)


_DICTIONARIES = OnceCache(4)


def dictionary_definitions() -> list[Any]:
    """The deployment's indicator definitions (its wiki): the only ones the policy publishes. Read again
    when a page changes (every protected request checks its definition against them)."""
    from workbench import paths
    from workbench.indicators.dictionary import load_dictionary

    wiki = paths.wiki_path()
    pages = sorted(wiki.rglob("*.md"))
    stamp = (str(wiki), tuple((str(page), page.stat().st_mtime_ns) for page in pages))
    return _DICTIONARIES.get(stamp, lambda: [page.definition for page in load_dictionary(wiki).indicators.values()])


def check_request(definition: Any, source: Any, years: tuple[int, int], version: str | None,
                  params: Mapping[str, Any]) -> None:
    """Refuse what the release does not publish: an indicator other than the deployment's page, a forced
    version other than the one in force each year, parameters other than the page's."""
    from workbench.errors import UserError

    definitions = {d.id: d for d in dictionary_definitions()}
    if definitions.get(definition.id) != definition:
        raise UserError(f"politique de diffusion : l'indicateur {definition.id} n'est publié que tel que défini "
                        "dans le dictionnaire du déploiement")
    for year in range(years[0], years[1] + 1):
        published = member(definition, year)
        if published is None:
            raise UserError(f"politique de diffusion : {definition.id} n'a pas de version en vigueur en {year}")
        if version is not None and version != published.version.version:
            raise UserError(f"politique de diffusion : {year} est publié dans la version en vigueur "
                            f"({published.version.version}), pas dans la version {version}")
        if dict(params) != published.params:
            raise UserError("politique de diffusion : les paramètres sont ceux de la page de l'indicateur "
                            f"({', '.join(f'{k}={v}' for k, v in published.params.items()) or 'aucun'})")
