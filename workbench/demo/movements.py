"""Unit movements (``visit_detail``) that tile each stay in time.

A hospitalisation is one to three consecutive unit segments (critical care, or
a few hours in the emergency short-stay unit, first when the case calls for
it); each segment is a RUM in its UF with two passages under it, the UF
passage and the bed passage (UH). Emergency visits
and consultations have a UF passage and a UH/UC passage. Open stays leave their
last segment open. Segments always lie in units of the stay's hospital.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench.demo.caresites import ROLE, CareSites
from workbench.demo.common import NAT, Cat, Table, group_positions, nullable_ids, timestamps
from workbench.demo.profiles import KIND, Compiled
from workbench.demo.stays import Stays

TYPES = ["PASS UF", "PASS UH", "PASS UC", "RUM"]
PASS_UF, PASS_UH, PASS_UC, RUM = range(4)
HOSPITALISATION = [KIND[k] for k in ("hc", "hcu", "amb", "seance", "ssr", "psy")]


@dataclass
class Segments:
    """One row per unit segment of a stay."""

    stay: np.ndarray
    uf: np.ndarray  # care_site_id
    start: np.ndarray
    end: np.ndarray  # NAT for the open end of an open stay
    last: np.ndarray  # bool: the discharge segment (carries the coding)


def segments(rng: np.random.Generator, stays: Stays, sites: CareSites, profiles: Compiled, now: int) -> Segments:
    """Cut every stay into consecutive unit segments."""
    n = len(stays)
    full = np.isin(stays.kind, [KIND["hc"], KIND["hcu"]])
    end = np.where(stays.end == NAT, now, stays.end)
    length = end - stays.start
    critical_role = profiles.critical[stays.profile]
    critical = full & (critical_role >= 0) & (rng.random(n) < profiles.critical_p[stays.profile])
    # Some admissions through the emergency unit first spend a few hours in its short-stay unit (UHCD).
    short_stay = (stays.kind == KIND["hcu"]) & ~critical & (length > 86_400) & (rng.random(n) < 0.15)
    first_elsewhere = critical | short_stay
    first_role = np.where(critical, critical_role, ROLE["UHCD"])
    extra = full & (length > 3 * 86_400) & (rng.random(n) < 0.25)
    count = 1 + first_elsewhere + extra
    stay, position = group_positions(count)
    cuts = np.sort(rng.uniform(0.1, 0.9, (n, 2)), axis=1)
    hours_in_uhcd = rng.integers(4, 21, n) * 3_600 / np.maximum(length, 1)
    cuts[:, 0] = np.where(short_stay, np.minimum(cuts[:, 0], hours_in_uhcd), cuts[:, 0])
    bounds = np.zeros((n, 4))
    bounds[:, 1] = np.where(count == 1, 1, cuts[:, 0])
    bounds[:, 2] = np.where(count == 3, cuts[:, 1], 1)
    bounds[:, 3] = 1
    seg_start = stays.start[stay] + (length[stay] * bounds[stay, position]).astype(np.int64) // 60 * 60
    seg_end = stays.start[stay] + (length[stay] * bounds[stay, position + 1]).astype(np.int64) // 60 * 60
    last = position == count[stay] - 1
    seg_start = np.where(position == 0, stays.start[stay], seg_start)
    seg_end = np.where(last, np.where(stays.end[stay] == NAT, NAT, stays.end[stay]), seg_end)
    main_role = profiles.role[stays.profile[stay]]
    middle_role = np.where(main_role == ROLE["MEDINT"], ROLE["GERIA"], ROLE["MEDINT"])
    role = np.where(last, main_role, np.where(first_elsewhere[stay] & (position == 0), first_role[stay], middle_role))
    return Segments(stay, sites.uf[stays.hospital[stay], role], seg_start, seg_end, last)


def table(rng: np.random.Generator, stays: Stays, stay_ids: np.ndarray, person_ids: np.ndarray, segs: Segments, sites: CareSites, first_id: int) -> tuple[Table, np.ndarray]:
    """``visit_detail`` rows (RUM + passages) and, per segment, the id of the row that carries its coding."""
    hospitalised = np.isin(stays.kind[segs.stay], HOSPITALISATION)
    consultation = stays.kind[segs.stay] == KIND["cons"]
    per_segment = np.where(hospitalised, 3, 2)
    owner, position = group_positions(per_segment)
    ids = first_id + np.arange(len(owner), dtype=np.int64)
    kind = np.select(
        [hospitalised[owner] & (position == 0), position == 0 + hospitalised[owner]],
        [RUM, PASS_UF],
        np.where(consultation[owner], PASS_UC, PASS_UH),
    )
    head = first_id + np.cumsum(per_segment) - per_segment  # first row of each segment
    parent = np.where(position == 0, -1, head[owner])
    sub = sites.sub_first[segs.uf[owner]] + (rng.random(len(owner)) * sites.sub_count[segs.uf[owner]]).astype(np.int64)
    care_site = np.where((kind == PASS_UH) | (kind == PASS_UC), sub, segs.uf[owner])
    rows = {
        "visit_detail_id": ids,
        "visit_occurrence_id": stay_ids[segs.stay[owner]],
        "person_id": person_ids[segs.stay[owner]],
        "care_site_id": care_site,
        "visit_detail_start_datetime": timestamps(segs.start[owner]),
        "visit_detail_end_datetime": timestamps(segs.end[owner].copy()),
        "visit_detail_type_source_value": Cat.of(kind, TYPES),
        "visit_detail_parent_id": nullable_ids(parent),
        "row_status_source_value": Cat.of(np.zeros(len(owner), dtype=np.int32), ["courant", "supprimé"]),
    }
    return rows, head


def discharge_segments(segs: Segments, head: np.ndarray, n_stays: int) -> tuple[np.ndarray, Segments]:
    """Per stay: the id of the row carrying its coding (RUM, or UF passage) and its discharge segment."""
    last = np.flatnonzero(segs.last)
    stay = segs.stay[last]
    coding_row = np.empty(n_stays, dtype=np.int64)
    coding_row[stay] = head[last]
    start = np.empty(n_stays, dtype=np.int64)
    end = np.empty(n_stays, dtype=np.int64)
    uf = np.empty(n_stays, dtype=np.int64)
    start[stay], end[stay], uf[stay] = segs.start[last], segs.end[last], segs.uf[last]
    return coding_row, Segments(np.arange(n_stays), uf, start, end, np.ones(n_stays, dtype=bool))
