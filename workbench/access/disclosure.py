"""Disclosure control for users without patient-level rights on the requested scope.

Such users (référents pilotage, équipe entrepôt, or a clinician asking beyond
their perimeter) query a **finite cube**: care-site levels hospital → pole →
service (plus the AP-HP total) crossed with year → quarter → month, whole
periods only, filter values drawn from the care-site tree. The answer is never
computed on its own: the engine computes the whole lattice of that cube (every
level × every grain, over the whole years of the request, over the whole tree)
so that the masking of a cell never depends on how it was asked for —
otherwise two requests could be differenced.

Masking: a cell with fewer than k distinct patients is masked (primary);
then, to a fixed point, every additive equation of the lattice (a parent —
care-site total or coarser period — equals the sum of its children) that would
contain exactly one masked cell gets a second one, the smallest shown child
(or the parent when the masked cell is an only child), so no masked value can
be recomputed by subtraction. Masked cells are returned as `masked: true`
with value, numerator, denominator and n_patients null.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import pandas as pd

from workbench import access
from workbench.errors import UserError

SITE_LEVELS = ("hospital", "pole", "service")
TIME_LEVELS = ("year", "quarter", "month")
TREE_LEVELS = {"hospital": "hopital", "pole": "pole", "service": "service"}
NULL_MEMBER = "∅"
VALUE_COLUMNS = ("value", "numerator", "denominator", "n_patients")
Key = tuple[tuple[str, ...], tuple[str, ...]]  # (site chain, time chain)


# --- routing ------------------------------------------------------------------------------------


def applies(warehouse: Any, filters: Mapping[str, Sequence[str]] | None) -> bool:
    """True when the request must go through the policy.

    Admins and patient-level users without perimeter compute freely; a
    patient-level user with a perimeter computes freely (on their rows) when a
    care-site filter keeps the request inside the perimeter; everyone else
    gets the protected cube.
    """
    user = getattr(warehouse, "user", None)
    if user is None or access.unrestricted(user):
        return False
    if not access.is_patient_level(user):
        return True
    covered = warehouse._row_filter().coverage.codes
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
    """A request mapped onto the cube: the cell level in both hierarchies and the selected members."""

    site_depth: int  # 0 = AP-HP total, 1 hospital, 2 pole, 3 service
    time_depth: int  # 1 year, 2 quarter, 3 month
    filters: dict[str, tuple[str, ...]]
    labels: tuple[str, ...]  # the requested periods at the cell's time level


def _refuse(message: str) -> UserError:
    return UserError(f"politique de diffusion : {message}")


def _labels(start: dt.date, end: dt.date, level: str) -> tuple[str, ...]:
    """The period labels (as the engine writes them) of level `level` covering [start, end]."""
    labels, month = [], start
    while month <= end:
        label = {"year": f"{month.year}", "quarter": f"{month.year}-Q{(month.month - 1) // 3 + 1}",
                 "month": f"{month:%Y-%m}"}[level]
        if label not in labels:
            labels.append(label)
        month = dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return tuple(labels)


def _aligned(start: dt.date, end: dt.date, level: str) -> bool:
    from workbench.indicators.engine import _align

    return _align(start, end.replace(day=1), level) == (start, end)


def _members(warehouse: Any, level: str) -> set[str]:
    sites = warehouse.view("care_sites")
    codes = warehouse.con.execute(sites.filter(sites.level == TREE_LEVELS[level]).code)
    return set(codes.dropna())


def validate(warehouse: Any, by: tuple[str, ...], filters: Mapping[str, tuple[str, ...]],
             start: dt.date, end: dt.date, grain: str) -> CubeRequest:
    """Map a request onto the cube or refuse it with a message naming what is not allowed."""
    allowed = SITE_LEVELS + TIME_LEVELS
    for name in by:
        if name not in allowed:
            raise _refuse(f"ventilation par {name!r} non autorisée (autorisées : {', '.join(allowed)})")
    for name, members in filters.items():
        if name not in SITE_LEVELS:
            raise _refuse(f"filtre sur {name!r} non autorisé (autorisés : {', '.join(SITE_LEVELS)})")
        unknown = sorted(set(members) - _members(warehouse, name))
        if unknown:
            raise _refuse(f"filtre {name} : valeur(s) inconnue(s) dans l'arbre des unités : {', '.join(unknown)}")
    used = [i + 1 for i, level in enumerate(SITE_LEVELS) if level in by or level in filters]
    site_depth = max(used, default=0)
    if site_depth and SITE_LEVELS[site_depth - 1] not in by and len(filters[SITE_LEVELS[site_depth - 1]]) != 1:
        raise _refuse(f"un filtre sur {SITE_LEVELS[site_depth - 1]} non ventilé doit désigner une seule unité")
    times = [i + 1 for i, level in enumerate(TIME_LEVELS) if level in by]
    time_depth = max(times, default=TIME_LEVELS.index(grain) + 1)
    level = TIME_LEVELS[time_depth - 1]
    if not _aligned(start, end, level):
        raise _refuse(f"la période doit couvrir des périodes « {level} » entières")
    labels = _labels(start, end, level)
    if not times and len(labels) != 1:
        raise _refuse(f"sans ventilation temporelle, la période doit être une seule période « {level} »")
    return CubeRequest(site_depth, time_depth, dict(filters), labels)


# --- the lattice and its masking ------------------------------------------------------------------


@dataclass
class Lattice:
    """Every cell of the cube over whole years: frames per (site depth, time depth) and the masked keys."""

    frames: dict[tuple[int, int], Any]  # (site depth, time depth) -> IndicatorResult
    masked: set[Key]


_LATTICES: OrderedDict[tuple, Lattice] = OrderedDict()
_LATTICE_CACHE = 16
_LATTICE_LOCK = threading.Lock()  # dashboard sessions share the cache


def _key(row: pd.Series, site_depth: int, time_depth: int) -> Key:
    def member(value: Any) -> str:
        return NULL_MEMBER if value is None or pd.isna(value) else str(value)

    return (tuple(member(row[c]) for c in SITE_LEVELS[:site_depth]),
            tuple(member(row[c]) for c in TIME_LEVELS[:time_depth]))


def cells(frames: Mapping[tuple[int, int], Any]) -> dict[Key, float]:
    """Every lattice cell and its number of distinct patients (null counts as 0: masked)."""
    found: dict[Key, float] = {}
    for (site_depth, time_depth), result in frames.items():
        for _, row in result.frame.iterrows():
            patients = row["n_patients"]
            found[_key(row, site_depth, time_depth)] = 0.0 if pd.isna(patients) else float(patients)
    return found


def equations(keys: Sequence[Key]) -> list[tuple[Key, list[Key]]]:
    """The additive equations of the lattice: (parent, children) along the care-site tree and along time."""
    present = set(keys)
    children: dict[Key, list[Key]] = {}
    for key in sorted(present):
        site, time = key
        if site and (site[:-1], time) in present:
            children.setdefault((site[:-1], time), []).append(key)
    site_equations = list(children.items())
    children = {}
    for key in sorted(present):
        site, time = key
        if len(time) > 1 and (site, time[:-1]) in present:
            children.setdefault((site, time[:-1]), []).append(key)
    return sorted(site_equations) + sorted(children.items())


def suppress(patients: Mapping[Key, float], min_count: int) -> set[Key]:
    """Primary suppression (< `min_count` patients) then complementary suppression to a fixed point."""
    masked = {key for key, count in patients.items() if count < min_count}
    system = equations(list(patients))
    changed = True
    while changed:
        changed = False
        for parent, children in system:
            terms = [parent, *children]
            hidden = [term for term in terms if term in masked]
            if len(hidden) != 1:
                continue
            shown = sorted((patients[c], c) for c in children if c not in masked)
            masked.add(shown[0][1] if shown else parent)
            changed = True
    return masked


def lattice(definition: Any, source: Any, years: tuple[int, int], version: str | None,
            params: Mapping[str, Any] | None, min_count: int) -> Lattice:
    """The cube's lattice over whole `years`, computed with the engine (cached per snapshot and policy)."""
    from workbench.indicators.engine import compute

    site_levels = [level for level in SITE_LEVELS if level in definition.dimensions]
    time_levels = [level for level in TIME_LEVELS if level in definition.dimensions]
    key = (definition.id, version, json.dumps(params or {}, sort_keys=True, default=str), years,
           getattr(source, "snapshot_id", None), str(source.catalog_path), min_count)
    with _LATTICE_LOCK:
        if key in _LATTICES:
            _LATTICES.move_to_end(key)
            return _LATTICES[key]
    frames = {}
    for site_depth in range(len(site_levels) + 1):
        for time_depth in range(1, len(time_levels) + 1):
            frames[(site_depth, time_depth)] = compute(
                definition, source, by=[*site_levels[:site_depth], *time_levels[:time_depth]],
                start=f"{years[0]}-01", end=f"{years[1]}-12", grain=time_levels[time_depth - 1],
                version=version, params=params,
            )
    result = Lattice(frames, suppress(cells(frames), min_count))
    with _LATTICE_LOCK:
        _LATTICES[key] = result
        if len(_LATTICES) > _LATTICE_CACHE:
            _LATTICES.popitem(last=False)
    return result


# --- the protected answer -------------------------------------------------------------------------


def _select(frame: pd.DataFrame, cube: CubeRequest) -> pd.DataFrame:
    time_level = TIME_LEVELS[cube.time_depth - 1]
    keep = frame[time_level].isin(cube.labels)
    for name, members in cube.filters.items():
        keep &= frame[name].isin(members)
    return frame[keep]


def _columns(by: tuple[str, ...], cube: CubeRequest) -> list[str]:
    """The request's dimensions, with the ancestors of a care-site level (so every row names one cell)."""
    deepest = max((SITE_LEVELS.index(level) for level in by if level in SITE_LEVELS), default=-1)
    sites = list(SITE_LEVELS[: deepest + 1])
    times = [level for level in by if level in TIME_LEVELS]
    return sites + times


def protect(frame: pd.DataFrame, lattice_: Lattice, cube: CubeRequest) -> pd.DataFrame:
    """Add `masked` and null the value columns of the masked cells."""
    keys = [_key(row, cube.site_depth, cube.time_depth) for _, row in frame.iterrows()]
    hidden = pd.Series([key in lattice_.masked for key in keys], index=frame.index, dtype=bool)
    out = frame.copy()
    for column in VALUE_COLUMNS:
        out[column] = out[column].astype(object).where(~hidden, None)
    out["masked"] = hidden
    return out


def compute_protected(definition: Any, warehouse: Any, by: Sequence[str], start: Any, end: Any, grain: str,
                      filters: Mapping[str, Sequence[str]] | None, version: str | None,
                      params: Mapping[str, Any] | None) -> Any:
    """The engine's answer for a user without patient-level rights on the scope: cube cells, masked."""
    from workbench import audit
    from workbench.indicators.engine import IndicatorResult, prepare

    source = warehouse.unrestricted()
    chosen, request = prepare(definition, source, by, start, end, grain, filters, version, params)
    user = warehouse.user
    try:
        cube = validate(source, request.by, request.filters, request.start, request.end, request.grain)
    except UserError as error:  # a request outside the cube is an attempt: audited before it is refused
        audit.write("refused", user, indicator=definition.id, by=list(request.by), filters=request.filters,
                    reason=str(error))
        raise
    built = lattice(definition, source, (request.start.year, request.end.year), chosen.version,
                    request.params, user.min_count)
    base = built.frames[(cube.site_depth, cube.time_depth)]
    if not base.available:
        return base
    selected = protect(_select(base.frame, cube), built, cube)
    columns = _columns(request.by, cube)
    frame = selected[[*columns, *VALUE_COLUMNS, "masked", "indicator_version", "snapshot_id"]]
    frame = frame.reset_index(drop=True)
    stamp = {**base.stamp, "periode": f"{request.start:%Y-%m}/{request.end:%Y-%m}", "grain": request.grain,
             "by": ",".join(request.by), "filters": "; ".join(f"{k}={'|'.join(v)}" for k, v in request.filters.items()),
             "politique": f"k={user.min_count}, suppression complémentaire"}
    audit.write("indicator", user, indicator=definition.id, by=list(request.by), filters=request.filters,
                period=stamp["periode"], cells=len(frame), masked=int(frame["masked"].sum()), policy=True)
    return IndicatorResult(
        indicator_id=definition.id, frame=frame, status=base.status, version=base.version,
        sql=base.sql, expr=base.expr, lineage=base.lineage, stamp=stamp,
    )
