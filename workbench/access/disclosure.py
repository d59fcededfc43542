"""Disclosure control for users without patient-level rights on the requested scope.

Such users (référents pilotage, équipe entrepôt, or a clinician asking beyond
their perimeter) query a **finite cube**: care-site levels hospital → pole →
service (plus the AP-HP total) crossed with year → quarter → month, whole
periods only, filter values drawn from the care-site tree, and at most one
**attribute** (PMSI field, visit type, age band, sex: a flat hierarchy, all
members → one member) per request. The answer is never computed on its own:
the engine computes the whole lattice of that cube (every level × every grain
× no attribute or each attribute by member, over the whole years of the
request, over the whole tree) so that the masking of a cell never depends on
how it was asked for — otherwise two requests could be differenced. The
lattice always holds every attribute the indicator allows, whatever the
request uses: masking is one decision per indicator, years, version and k, so
a request with an attribute and one without see the same masked cells.

A **distribution** indicator (case-mix: one row per CMD, GHM type or severity
of a cell) publishes one cell per class, and the cell's total as the shared
denominator of its rows: its classes are one more flat hierarchy (the total
equals the sum of its classes), the total's patients are bounded below by its
largest class, and a row is shown only when its class and its total both are.

Masking: a cell with fewer than k distinct patients is masked (primary);
then, to a fixed point, every additive equation of the lattice (a parent —
care-site total, coarser period or all members of an attribute — equals the
sum of its children) that would contain exactly one masked cell gets a second
one, the smallest shown child (or the parent when the masked cell is an only
child), so no masked value can be recomputed by subtraction. Masked cells are
returned as `masked: true` with value, numerator, denominator and n_patients
null.
"""

from __future__ import annotations

import datetime as dt
import heapq
import json
import random
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from workbench import access, audit, periods
from workbench.access import lattices
from workbench.cache import OnceCache
from workbench.errors import UserError
from workbench.indicators import plain
from workbench.indicators.compiler import Request
from workbench.indicators.model import IndicatorVersion
from workbench.indicators.result import IndicatorResult
from workbench.semantic.dimensions import ATTRIBUTES, SITE_LEVELS, TIME_LEVELS, TREE_LEVELS

NULL_MEMBER = "∅"
VALUE_COLUMNS = ("value", "numerator", "denominator", "n_patients")
Key = tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]
"""(site chain, time chain, members): the members are flat (name, member, name, member…) pairs, one per flat
hierarchy the cell is broken down by (an attribute, a distribution's class); () for all members."""
META_COLUMNS = ("masked", "indicator_version", "snapshot_id")
Level = tuple[int, int, str | None]  # (site depth, time depth, attribute or None)


# --- routing ------------------------------------------------------------------------------------


def applies(warehouse: Any, filters: Mapping[str, Sequence[str]] | None) -> bool:
    """True when the request must go through the policy.

    Admins and patient-level users without perimeter compute freely; a
    patient-level user with a perimeter computes freely (on their rows) when a
    care-site filter keeps the request inside the perimeter; everyone else
    gets the protected cube.
    """
    reading = access.row_access(getattr(warehouse, "user", None))
    if reading != access.PERIMETER_ROWS:
        return reading == access.AGGREGATES_ONLY
    covered = warehouse.perimeter_codes()
    for name in SITE_LEVELS + ("uf",):
        members = (filters or {}).get(name)
        if members:
            members = (members,) if isinstance(members, str) else members
            if set(map(str, members)) <= covered:
                return False
    return True


# --- request validation -------------------------------------------------------------------------


@dataclass(frozen=True)
class CubeRequest:
    """A request mapped onto the cube: the cell level in the three hierarchies and the selected members."""

    site_depth: int  # 0 = AP-HP total, 1 hospital, 2 pole, 3 service
    time_depth: int  # 1 year, 2 quarter, 3 month
    filters: dict[str, tuple[str, ...]]
    labels: tuple[str, ...]  # the requested periods at the cell's time level
    attribute: str | None = None  # the one attribute broken down by or filtered on

    @property
    def level(self) -> Level:
        return self.site_depth, self.time_depth, self.attribute


def _refuse(message: str) -> UserError:
    return UserError(f"politique de diffusion : {message}")


_MEMBERS = OnceCache(32)


def _members(warehouse: Any, level: str) -> set[str]:
    """The care-site codes of a level, read once per snapshot (every protected request checks its filters)."""

    def read() -> set[str]:
        sites = warehouse.view("care_sites")
        return set(warehouse.execute(sites.filter(sites.level == TREE_LEVELS[level]).code).dropna())

    key = (str(getattr(warehouse, "catalog_path", "")), getattr(warehouse, "snapshot_id", None), level)
    return _MEMBERS.get(key, read)


def _attribute(by: tuple[str, ...], filters: Mapping[str, tuple[str, ...]]) -> str | None:
    """The request's attribute: one at most, since crossing two would publish a table the lattice lacks."""
    used = sorted({name for name in (*by, *filters) if name in ATTRIBUTES})
    if len(used) > 1:
        raise _refuse(f"une seule dimension parmi {', '.join(ATTRIBUTES)} par requête "
                      f"(ventilation ou filtre) : {', '.join(used)} demandées")
    if used and used[0] not in by and len(filters[used[0]]) != 1:
        raise _refuse(f"un filtre sur {used[0]} non ventilé doit désigner une seule valeur")
    return used[0] if used else None


def validate(warehouse: Any, by: tuple[str, ...], filters: Mapping[str, tuple[str, ...]],
             start: dt.date, end: dt.date, grain: str) -> CubeRequest:
    """Map a request onto the cube or refuse it with a message naming what is not allowed."""
    allowed = SITE_LEVELS + TIME_LEVELS + tuple(ATTRIBUTES)
    for name in by:
        if name not in allowed:
            raise _refuse(f"ventilation par {name!r} non autorisée (autorisées : {', '.join(allowed)})")
    filterable = SITE_LEVELS + tuple(ATTRIBUTES)
    for name, members in filters.items():
        if name not in filterable:
            raise _refuse(f"filtre sur {name!r} non autorisé (autorisés : {', '.join(filterable)})")
        known, where = ((set(ATTRIBUTES[name]), "parmi les valeurs publiées") if name in ATTRIBUTES
                        else (_members(warehouse, name), "dans l'arbre des unités"))
        unknown = sorted(set(members) - known)
        if unknown:
            raise _refuse(f"filtre {name} : valeur(s) inconnue(s) {where} : {', '.join(unknown)}")
    attribute = _attribute(by, filters)
    used = [i + 1 for i, level in enumerate(SITE_LEVELS) if level in by or level in filters]
    site_depth = max(used, default=0)
    if site_depth and SITE_LEVELS[site_depth - 1] not in by and len(filters[SITE_LEVELS[site_depth - 1]]) != 1:
        raise _refuse(f"un filtre sur {SITE_LEVELS[site_depth - 1]} non ventilé doit désigner une seule unité")
    times = [i + 1 for i, level in enumerate(TIME_LEVELS) if level in by]
    time_depth = max(times, default=TIME_LEVELS.index(grain) + 1)
    level = TIME_LEVELS[time_depth - 1]
    if not periods.is_aligned(start, end, level):
        raise _refuse(f"la période doit couvrir des périodes « {level} » entières")
    labels = periods.labels(start, end, level)
    if not times and len(labels) != 1:
        raise _refuse(f"sans ventilation temporelle, la période doit être une seule période « {level} »")
    return CubeRequest(site_depth, time_depth, dict(filters), labels, attribute)


# --- the lattice and its masking ------------------------------------------------------------------


@dataclass
class Lattice:
    """Every cell of the cube over whole years: frames per level and the masked keys."""

    frames: dict[Level, Any]  # (site depth, time depth, attribute) -> IndicatorResult
    masked: set[Key]


_LATTICES = OnceCache(64)
"""One lattice per year, shared by every user and thread (the policy's dearest computation)."""


def classes(frame: pd.DataFrame) -> list[str]:
    """The columns of a distribution indicator's classes (case-mix's ``cmd``…): those naming no dimension,
    value or stamp; [] for an indicator with one row per cell."""
    known = {*SITE_LEVELS, *TIME_LEVELS, *ATTRIBUTES, *VALUE_COLUMNS, *META_COLUMNS}
    return [column for column in frame.columns if column not in known]


def _keys(frame: pd.DataFrame, level: Level, *, totals: bool = False) -> list[Key]:
    """The key of every row of a lattice frame (column-wise: frames reach tens of thousands of rows): its
    class cell, or with `totals` the cell its class belongs to (the row's denominator)."""
    site_depth, time_depth, attribute = level

    def members(column: str) -> list[str]:
        return [NULL_MEMBER if value is None or pd.isna(value) else str(value) for value in frame[column]]

    def pairs(column: str) -> list[tuple[str, str]]:
        return [(column, member) for member in members(column)]

    sites = list(zip(*(members(c) for c in SITE_LEVELS[:site_depth]))) if site_depth else [()] * len(frame)
    times = list(zip(*(members(c) for c in TIME_LEVELS[:time_depth])))
    flat = [attribute] if attribute else []
    if not totals:
        flat += classes(frame)
    groups = [sum(row, ()) for row in zip(*(pairs(c) for c in flat))] if flat else [()] * len(frame)
    return list(zip(sites, times, groups))


def cells(frames: Mapping[Level, Any]) -> dict[Key, float]:
    """Every lattice cell and its number of distinct patients (null counts as 0: masked); a distribution's
    totals count at least the patients of their largest class."""
    found: dict[Key, float] = {}
    for level, result in frames.items():
        patients = result.frame["n_patients"].astype(float).fillna(0.0)
        found.update(zip(_keys(result.frame, level), patients))
        if classes(result.frame):
            for total, count in zip(_keys(result.frame, level, totals=True), patients):
                found[total] = max(found.get(total, 0.0), count)
    return found


def _parents(key: Key) -> list[tuple[int, Key, str]]:
    """The cell's parent in each hierarchy (site, time, each flat one), with the flat hierarchy's name
    naming its group."""
    site, time, members = key
    found = []
    if site:
        found.append((0, (site[:-1], time, members), ""))
    if len(time) > 1:
        found.append((1, (site, time[:-1], members), ""))
    for start in range(0, len(members), 2):  # all members = the sum over the members of one hierarchy at a time
        found.append((2, (site, time, members[:start] + members[start + 2:]), members[start]))
    return found


def equations(keys: Sequence[Key]) -> list[tuple[Key, list[Key]]]:
    """The additive equations of the lattice: (parent, children) along the care-site tree, along time
    and over each attribute's members."""
    present = set(keys)
    groups: dict[tuple[int, Key, str], list[Key]] = {}
    for key in sorted(present):
        for family, parent, name in _parents(key):
            if parent in present:
                groups.setdefault((family, parent, name), []).append(key)
    return [(parent, children) for (_, parent, _), children in sorted(groups.items())]


def _complete(system: Sequence[tuple[Key, list[Key]]], holding: Mapping[Key, list[int]],
              patients: Mapping[Key, float], masked: set[Key], pending: Sequence[int]) -> None:
    """Complementary suppression to a fixed point: an equation holding one masked cell gets a second.

    A worklist (the `pending` equations, then those of each newly masked cell)
    rather than repeated sweeps: the lattice with attributes holds ~10^4 equations.
    """
    queue = deque(pending)
    queued = set(queue)
    while queue:
        index = queue.popleft()
        queued.discard(index)
        parent, children = system[index]
        if sum(term in masked for term in (parent, *children)) != 1:
            continue
        shown = sorted((patients[c], c) for c in children if c not in masked)
        added = shown[0][1] if shown else parent
        masked.add(added)
        for other in holding[added]:
            if other not in queued:
                queue.append(other)
                queued.add(other)


PRIME = 2**61 - 1
"""Exact linear algebra modulo a prime: the system's coefficients are ±1, its minors far smaller."""


def _echelon(rows: list[dict[int, int]], unknown: int) -> list[tuple[int, dict[int, int]]]:
    """Gaussian elimination modulo PRIME pivoting on the unknown cells (ids below `unknown`), fewest rows
    first, which keeps the tree-shaped system sparse; known cells are carried along. The pivot rows, in
    order, each normalised to 1 on its pivot."""
    active = dict(enumerate(rows))
    holding: dict[int, set[int]] = {}
    for index, row in active.items():
        for cell in row:
            if cell < unknown:
                holding.setdefault(cell, set()).add(index)
    heap = [(len(indices), cell) for cell, indices in holding.items()]
    heapq.heapify(heap)
    pivots: list[tuple[int, dict[int, int]]] = []
    done: set[int] = set()
    while heap:
        count, cell = heapq.heappop(heap)
        if cell in done or not holding[cell]:
            continue
        if count != len(holding[cell]):
            heapq.heappush(heap, (len(holding[cell]), cell))
            continue
        index = min(holding[cell], key=lambda i: (len(active[i]), i))
        row = active.pop(index)
        if row[cell] != 1:
            inverse = pow(row[cell], PRIME - 2, PRIME)
            row = {c: v * inverse % PRIME for c, v in row.items()}
        done.add(cell)
        pivots.append((cell, row))
        for term in row:
            if term < unknown:
                holding[term].discard(index)
        for other_index in sorted(holding[cell]):
            other = active[other_index]
            factor = other[cell]
            for term, value in row.items():
                new = (other.get(term, 0) - factor * value) % PRIME
                if new:
                    if term < unknown and term not in other:
                        holding[term].add(other_index)
                    other[term] = new
                else:
                    other.pop(term, None)
                    if term < unknown:
                        holding[term].discard(other_index)
        for term in row:
            if term < unknown and term not in done:
                heapq.heappush(heap, (len(holding[term]), term))
    return pivots


def determined(system: Sequence[tuple[Key, list[Key]]], masked: set[Key]) -> dict[Key, set[Key]]:
    """The masked cells a user can recompute by combining the equations, each with the shown cells of a
    combination that gives it.

    Two masked cells per equation do not suffice across three hierarchies: with
    a pole holding all of a hospital's PSY and SSR stays, hospital − MCO gives
    the pole. A masked cell is determined when every vector of the null space
    of the equations (restricted to masked cells) is zero on it: one random null
    vector (free cells drawn at random, the pivots solved) is zero there, and
    only there but with probability ~1/PRIME per cell.
    """
    hidden = [(parent, children) for parent, children in system
              if parent in masked or any(child in masked for child in children)]
    cells_ = sorted(masked) + sorted({c for p, cs in hidden for c in (p, *cs)} - masked)
    ids = {cell: i for i, cell in enumerate(cells_)}
    unknown = len(masked)  # masked cells first: id < unknown
    rows = []
    for parent, children in hidden:
        row = {ids[parent]: 1}
        for child in children:
            row[ids[child]] = (row.get(ids[child], 0) - 1) % PRIME
        rows.append(row)
    pivots = _echelon(rows, unknown)
    rank = {cell: position for position, (cell, _) in enumerate(pivots)}
    draw = random.Random(0)
    vector = {cell: draw.randrange(1, PRIME) for cell in range(unknown) if cell not in rank}
    for cell, row in reversed(pivots):
        vector[cell] = -sum(v * vector[c] for c, v in row.items() if c != cell and c < unknown) % PRIME
    found: dict[Key, set[Key]] = {}
    for cell in (c for c in range(unknown) if vector[c] == 0):
        combination = dict(pivots[rank[cell]][1])  # back-substituted until the cell is the only masked term
        later = [rank[c] for c in combination if c in rank and c != cell]
        heapq.heapify(later)
        while later:
            position = heapq.heappop(later)
            term, row = pivots[position]
            factor = combination.get(term, 0)
            if not factor:
                continue
            for c, v in row.items():
                combination[c] = (combination.get(c, 0) - factor * v) % PRIME
                if c in rank and c != term and combination[c]:
                    heapq.heappush(later, rank[c])
        found[cells_[cell]] = {cells_[c] for c, v in combination.items() if v and c >= unknown}
    return found


def suppress(patients: Mapping[Key, float], min_count: int) -> set[Key]:
    """Primary suppression (< `min_count` patients), complementary suppression to a fixed point, then
    until no masked cell is determined by the equations: the smallest shown cell of the combination
    that gives a determined cell is masked too, and the fixed point resumed from there."""
    masked = {key for key, count in patients.items() if count < min_count}
    system = equations(list(patients))
    holding: dict[Key, list[int]] = {}
    for index, (parent, children) in enumerate(system):
        for term in (parent, *children):
            holding.setdefault(term, []).append(index)
    pending: Sequence[int] = range(len(system))
    while True:
        _complete(system, holding, patients, masked, pending)
        exposed = determined(system, masked)
        added = {min(shown, key=lambda c: (patients[c], c)) for shown in exposed.values() if shown}
        if not added:
            return masked
        masked |= added
        pending = sorted({index for cell in added for index in holding[cell]})


def levels(definition: Any) -> dict[Level, list[str]]:
    """The lattice's levels for `definition` and the breakdown computing each: every site depth × time
    depth, without attribute and by each attribute the indicator allows."""
    site_levels = [level for level in SITE_LEVELS if level in definition.dimensions]
    time_levels = [level for level in TIME_LEVELS if level in definition.dimensions]
    attributes = [None, *(name for name in ATTRIBUTES if name in definition.dimensions)]
    return {
        (site_depth, time_depth, attribute): [*site_levels[:site_depth], *([attribute] if attribute else []),
                                              *time_levels[:time_depth]]
        for attribute in attributes for site_depth in range(len(site_levels) + 1)
        for time_depth in range(1, len(time_levels) + 1)
    }


def lattice(definition: Any, source: Any, years: tuple[int, int], version: str | None,
            params: Mapping[str, Any] | None, min_count: int) -> Lattice:
    """The cube's lattice over whole `years`: the union of one lattice per year.

    No equation of the cube crosses a year (the year is the top of the time
    hierarchy), so each year's masking is decided on its own and the union is
    as safe as its parts; per year, a two-year series and the two one-year
    cards of a page share the same computation.
    """
    parts = [year_lattice(definition, source, year, version, params, min_count)
             for year in range(years[0], years[1] + 1)]
    if len(parts) == 1:
        return parts[0]
    return Lattice({level: _joined([part.frames[level] for part in parts]) for level in parts[0].frames},
                   set().union(*(part.masked for part in parts)))


def year_lattice(definition: Any, source: Any, year: int, version: str | None,
                 params: Mapping[str, Any] | None, min_count: int) -> Lattice:
    """The lattice of one year, computed with the engine once per snapshot, policy threshold and version
    (kept in the state folder by `workbench.access.lattices`, so once across processes too).

    Every attribute the indicator allows is in it whatever the request uses, so
    the masking is one decision: the attribute-free cells are masked the same way
    for a request with or without an attribute, and none can be differenced.
    """
    key = (definition.id, version, json.dumps(params or {}, sort_keys=True, default=str), year,
           getattr(source, "snapshot_id", None), str(source.catalog_path), min_count)

    breakdowns = levels(definition)

    def level_result(level: Level) -> IndicatorResult:
        return plain.compute(definition, source, by=breakdowns[level], start=f"{year}-01", end=f"{year}-12",
                             grain=TIME_LEVELS[level[1] - 1], version=version, params=params)

    def restored(level: Level, stored: lattices.StoredLevel) -> IndicatorResult:
        """A stored level as a result; its SQL and lineage are compiled again only if someone asks for them."""
        def trace() -> tuple[str, Any]:
            again = level_result(level)
            return again.sql, again.lineage

        return IndicatorResult(indicator_id=definition.id, frame=stored.frame, status=stored.status,
                               version=stored.version, stamp=stored.stamp, missing=stored.missing, trace=trace)

    def build() -> Lattice:
        snapshot = getattr(source, "snapshot_id", None)
        stored = lattices.load(snapshot, key)
        if stored is not None and set(stored[0]) == set(breakdowns):
            return Lattice({level: restored(level, part) for level, part in stored[0].items()}, stored[1])
        frames = {level: level_result(level) for level in breakdowns}
        built = Lattice(frames, suppress(cells(frames), min_count))
        lattices.save(snapshot, key, {level: lattices.StoredLevel(result.frame, result.status, result.version,
                                                                  result.stamp, result.missing)
                                      for level, result in frames.items()}, built.masked)
        return built

    return _LATTICES.get(key, build)


def _joined(results: Sequence[Any]) -> Any:
    """One level's results of consecutive years as one result (the last year's provenance)."""
    unavailable = [result for result in results if not result.available]
    if unavailable:
        return unavailable[0]
    last = results[-1]
    return IndicatorResult(
        indicator_id=last.indicator_id, frame=pd.concat([result.frame for result in results], ignore_index=True),
        status=last.status, version=last.version, expr=last.expr, stamp=last.stamp, trace=lambda: (last.sql, last.lineage),
    )


# --- the protected answer -------------------------------------------------------------------------


def _select(frame: pd.DataFrame, cube: CubeRequest) -> pd.DataFrame:
    time_level = TIME_LEVELS[cube.time_depth - 1]
    keep = frame[time_level].isin(cube.labels)
    for name, members in cube.filters.items():
        keep &= frame[name].isin(members)
    return frame[keep]


def _columns(by: tuple[str, ...], frame: pd.DataFrame) -> list[str]:
    """The request's dimensions, with the ancestors of a care-site level, and a distribution's classes (so
    every row names one cell)."""
    deepest = max((SITE_LEVELS.index(level) for level in by if level in SITE_LEVELS), default=-1)
    sites = list(SITE_LEVELS[: deepest + 1])
    attributes = [name for name in by if name in ATTRIBUTES]
    times = [level for level in by if level in TIME_LEVELS]
    return sites + attributes + classes(frame) + times


def protect(frame: pd.DataFrame, lattice_: Lattice, cube: CubeRequest) -> pd.DataFrame:
    """Add `masked` and null the value columns of the masked cells; a distribution's row whose total is
    masked keeps its class's count but loses the total it is shared as (denominator, and the share)."""
    def hidden(keys: list[Key]) -> pd.Series:
        return pd.Series([key in lattice_.masked for key in keys], index=frame.index, dtype=bool)

    masked = hidden(_keys(frame, cube.level))
    out = frame.copy()
    for column in VALUE_COLUMNS:
        out[column] = out[column].astype(object).where(~masked, None)
    if classes(frame):
        total_masked = hidden(_keys(frame, cube.level, totals=True))
        for column in ("denominator", "value"):
            out[column] = out[column].where(~total_masked, None)
    out["masked"] = masked
    return out


def compute_protected(definition: Any, warehouse: Any, chosen: IndicatorVersion, request: Request) -> IndicatorResult:
    """The engine's answer for a user without patient-level rights on the scope: cube cells, masked.

    `chosen` and `request` come from the engine's one validation
    (:func:`workbench.indicators.plain.prepare`)."""
    source = warehouse.unrestricted()
    user = warehouse.user
    try:
        cube = validate(source, request.by, request.filters, request.start, request.end, request.grain)
    except UserError as error:  # a request outside the cube is an attempt: audited before it is refused
        audit.write("refused", user, indicator=definition.id, by=list(request.by), filters=request.filters,
                    reason=str(error))
        raise
    built = lattice(definition, source, (request.start.year, request.end.year), chosen.version,
                    request.params, user.min_count)
    base = built.frames[cube.level]
    if not base.available:
        return base
    selected = protect(_select(base.frame, cube), built, cube)
    columns = _columns(request.by, base.frame)
    frame = selected[[*columns, *VALUE_COLUMNS, "masked", "indicator_version", "snapshot_id"]]
    frame = frame.reset_index(drop=True)
    stamp = {**base.stamp, "periode": f"{request.start:%Y-%m}/{request.end:%Y-%m}", "grain": request.grain,
             "by": ",".join(request.by), "filters": "; ".join(f"{k}={'|'.join(v)}" for k, v in request.filters.items()),
             "politique": f"k={user.min_count}, suppression complémentaire"}
    audit.write("indicator", user, indicator=definition.id, by=list(request.by), filters=request.filters,
                period=stamp["periode"], cells=len(frame), masked=int(frame["masked"].sum()), policy=True)
    return IndicatorResult(
        indicator_id=definition.id, frame=frame, status=base.status, version=base.version,
        expr=base.expr, stamp=stamp, trace=lambda: (base.sql, base.lineage),
    )
