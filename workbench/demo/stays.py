"""Stays and visits (``visit_occurrence``) following PMSI reality.

Each patient has a few base episodes over the history (emergency visits,
consultations, programmed full stays, ambulatory stays, séance series, SSR and
psychiatry stays). Full stays then produce what they produce in real life:
emergency visits lead to admissions (provenance 5), full stays end in death,
transfer (7, another hospital), mutation (6, SSR in the same hospital) or home
(8), and some are followed by a readmission. Deaths truncate the patient's
history. Feed flaws (late deployment, stopped feed, a hospital that records no
deaths) and the structural stay flaws (year-end split, visit after death) are
applied here because they change which rows exist; value flaws on the finished
rows live in :mod:`workbench.demo.defects`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from workbench.demo.calendar import Calendar
from workbench.demo.common import DAY, HOUR, NAT, group_positions, weighted_rows
from workbench.demo.flaws import FlawLog
from workbench.demo.patients import YEAR, Patients
from workbench.demo.profiles import KIND, Compiled

BASE_KINDS = np.array([KIND[k] for k in ("urg", "cons", "hc", "amb", "seance", "ssr", "psy")])
BASE_KIND_SHARES = np.array([0.30, 0.26, 0.16, 0.17, 0.02, 0.03, 0.03])
PATTERN = {"urg": "urgent", "hcu": "urgent", "cons": "consultation"}
HISTORY_YEARS = 8.8

ADMITTED_FROM = ["6", "7", "8"]
PROVENANCE = ["1", "5"]
DISCHARGE = ["6", "7", "8", "9"]
DESTINATION = ["1", "2"]
M6, M7, M8, M9 = 0, 1, 2, 3


@dataclass
class FeedPlan:
    """Which hospitals carry the feed flaws (indices) and from/until when (seconds)."""

    late_hospital: int
    deployed: int
    stopped_hospital: int
    stopped: int
    no_death_hospital: int


@dataclass
class Stays:
    person: np.ndarray  # position of the patient in the chunk
    hospital: np.ndarray
    kind: np.ndarray
    profile: np.ndarray
    start: np.ndarray
    end: np.ndarray  # NAT when still open
    admitted_from: np.ndarray  # index in ADMITTED_FROM, -1 null
    provenance: np.ndarray
    discharge: np.ndarray
    destination: np.ndarray
    parent: np.ndarray  # position of the stay it comes from, -1 none
    split: np.ndarray  # 0 plain, 1/2 first/second part of a year-end split
    after_death: np.ndarray  # bool: the event_after_death flaw

    def __len__(self) -> int:
        return len(self.start)

    def take(self, index: np.ndarray) -> "Stays":
        """Rows ``index`` (a position array or mask); parent links are remapped, lost parents become -1."""
        positions = np.flatnonzero(index) if np.asarray(index).dtype == bool else np.asarray(index)
        new_position = np.full(len(self) + 1, -1, dtype=np.int64)
        new_position[positions] = np.arange(len(positions))
        taken = Stays(**{f.name: getattr(self, f.name)[positions] for f in fields(self)})
        taken.parent = np.where(taken.parent >= 0, new_position[taken.parent], -1)
        return taken

    @staticmethod
    def concat(parts: list["Stays"]) -> "Stays":
        """Concatenate; parents of later parts already point at positions of the first part."""
        return Stays(**{f.name: np.concatenate([getattr(part, f.name) for part in parts]) for f in fields(Stays)})


def _new(person, hospital, kind, profile, start, end, admitted_from=None, provenance=None, parent=None) -> Stays:
    """New stays (discharged home by default, entering from home) with the given columns."""
    n = len(person)
    none = np.full(n, -1, dtype=np.int64)
    return Stays(
        person=person, hospital=hospital, kind=np.full(n, kind, dtype=np.int64), profile=profile, start=start, end=end,
        admitted_from=np.full(n, M8) if admitted_from is None else admitted_from,
        provenance=none.copy() if provenance is None else provenance,
        discharge=np.full(n, M8), destination=none.copy(), parent=none.copy() if parent is None else parent,
        split=np.zeros(n, dtype=np.int8), after_death=np.zeros(n, dtype=bool),
    )


@dataclass
class Context:
    rng: np.random.Generator
    now: int
    history_start: int
    calendar: Calendar
    profiles: Compiled
    n_hospitals: int


def pick_profiles(ctx: Context, kind: np.ndarray, sex: np.ndarray, age: np.ndarray) -> np.ndarray:
    """A profile per row allowed for its kind, sex and age (-1 when none is)."""
    p = ctx.profiles
    allowed = (p.age_min[None, :] <= age[:, None]) & (age[:, None] < p.age_max[None, :])
    allowed &= (p.sex[None, :] < 0) | (p.sex[None, :] == sex[:, None])
    return weighted_rows(ctx.rng, p.weights[kind] * allowed)


def _age(patients: Patients, person: np.ndarray, moment: np.ndarray) -> np.ndarray:
    return (moment - patients.birth[person]) / YEAR


def _hour(rng: np.random.Generator, kind: np.ndarray) -> np.ndarray:
    """Time of arrival in seconds after midnight: emergencies round the clock, the rest in the morning."""
    urgent = (kind == KIND["urg"]) | (kind == KIND["hcu"])
    office = rng.integers(7 * HOUR, 12 * HOUR, len(kind))
    anytime = rng.integers(0, 24 * HOUR, len(kind))
    consultation = rng.integers(8 * HOUR, 17 * HOUR, len(kind))
    return np.where(urgent, anytime, np.where(kind == KIND["cons"], consultation, office)) // 60 * 60


def _base_episodes(ctx: Context, patients: Patients) -> Stays:
    rng, now = ctx.rng, ctx.now
    low = np.maximum(patients.birth, ctx.history_start)
    age_now = (now - patients.birth) / YEAR
    rate = np.where(age_now < 15, 1.0, np.where(age_now < 65, 1.9, 3.2))
    count = 1 + rng.poisson(rate * (now - low) / YEAR / HISTORY_YEARS)
    person = np.repeat(np.arange(len(patients)), count)
    kind = BASE_KINDS[rng.choice(len(BASE_KINDS), size=len(person), p=BASE_KIND_SHARES / BASE_KIND_SHARES.sum())]
    start = np.zeros(len(person), dtype=np.int64)
    for name, pattern in (("urg", "urgent"), ("cons", "consultation")):
        rows = kind == KIND[name]
        start[rows] = ctx.calendar.draw(rng, pattern, low[person[rows]], np.full(rows.sum(), now))
    rows = (kind != KIND["urg"]) & (kind != KIND["cons"])
    start[rows] = ctx.calendar.draw(rng, "programmed", low[person[rows]], np.full(rows.sum(), now))
    start += _hour(rng, kind)
    start = np.maximum(start, patients.birth[person] + HOUR)
    sex, age = patients.sex[person], _age(patients, person, start)
    profile = pick_profiles(ctx, kind, sex, age)
    orphan = profile < 0
    kind[orphan] = KIND["cons"]
    profile[orphan] = pick_profiles(ctx, kind[orphan], sex[orphan], age[orphan])
    home = patients.home[person]
    elsewhere = rng.random(len(person)) < 0.15
    hospital = np.where(elsewhere, rng.integers(0, ctx.n_hospitals, len(person)), home)
    return _new(person, hospital, kind, profile, start, np.full(len(person), NAT))


def _expand_series(ctx: Context, stays: Stays) -> Stays:
    """Replace each séance episode by its series (chemotherapy cycles, dialysis sessions)."""
    seance = stays.kind == KIND["seance"]
    series = ctx.profiles.series[stays.profile[seance]]
    count = ctx.rng.integers(series[:, 0], series[:, 1] + 1)
    owner, position = group_positions(count)
    expanded = stays.take(np.flatnonzero(seance)[owner])
    expanded.start = expanded.start + position * np.repeat(series[:, 2], count) * DAY
    return Stays.concat([stays.take(~seance), expanded.take(expanded.start < ctx.now)])


def _durations(ctx: Context, stays: Stays) -> np.ndarray:
    """Planned end (seconds) of every stay from its kind and profile."""
    rng, kind, n = ctx.rng, stays.kind, len(stays)
    mean = ctx.profiles.nights[stays.profile]
    sigma = 0.75
    nights = np.maximum(1, np.rint(rng.lognormal(np.log(np.maximum(mean, 1)) - sigma**2 / 2, sigma)))
    full = np.isin(kind, [KIND["hc"], KIND["hcu"], KIND["ssr"], KIND["psy"]])
    nights = np.where(full & (rng.random(n) < 0.08) & ~np.isin(kind, [KIND["ssr"], KIND["psy"]]), 0, np.minimum(nights, 180))
    short_hours = np.select(
        [kind == KIND["cons"], kind == KIND["urg"], kind == KIND["seance"]],
        [rng.integers(20, 60, n) * 60, rng.integers(1 * 60, 10 * 60, n) * 60, rng.integers(2 * 60, 5 * 60, n) * 60],
        rng.integers(3 * 60, 10 * 60, n) * 60,
    )
    discharge_time = rng.integers(10 * HOUR, 18 * HOUR, n) // 60 * 60
    overnight = stays.start // DAY * DAY + nights.astype(np.int64) * DAY + discharge_time
    return np.where(full & (nights > 0), np.maximum(overnight, stays.start + HOUR), stays.start + short_hours)


def _death_probability(ctx: Context, age: np.ndarray, profile: np.ndarray) -> np.ndarray:
    base = np.select([age < 45, age < 65, age < 75, age < 85], [0.003, 0.013, 0.032, 0.058], 0.10)
    return base * np.where(ctx.profiles.critical[profile] >= 0, 2.0, 1.0)


def _outcomes(ctx: Context, patients: Patients, stays: Stays, rows: np.ndarray, derive: bool) -> list[Stays]:
    """Set the discharge modes of the full MCO stays ``rows`` and, when ``derive``, return the stays they lead to.

    Derived stays point at their origin through ``parent`` (positions in ``stays``).
    """
    rng, n = ctx.rng, len(rows)
    person = stays.person[rows]
    age = _age(patients, person, stays.start[rows])
    death = rng.random(n) < _death_probability(ctx, age, stays.profile[rows])
    u = rng.random(n)
    transfer = derive & ~death & (u < 0.035)
    mutation = derive & ~death & (u >= 0.035) & (u < 0.09) & (age >= 50)
    stays.discharge[rows] = np.select([death, transfer, mutation], [M9, M7, M6], M8)
    stays.destination[rows] = np.select([transfer, mutation], [0, 1], -1)
    if not derive:
        return []
    hc, moved, mutated, back = KIND["hc"], rows[transfer], rows[mutation], rows[~death & ~transfer & ~mutation]
    back = back[rng.random(len(back)) < 0.07]
    other_hospital = (stays.hospital[moved] + 1 + rng.integers(0, ctx.n_hospitals - 1, len(moved))) % ctx.n_hospitals
    transferred = _new(
        stays.person[moved], other_hospital, hc, stays.profile[moved], stays.end[moved] + rng.integers(1, 4, len(moved)) * HOUR,
        np.full(len(moved), NAT), admitted_from=np.full(len(moved), M7), provenance=np.zeros(len(moved), dtype=np.int64), parent=moved,
    )
    ssr_kind = np.full(len(mutated), KIND["ssr"])
    ssr_profile = pick_profiles(ctx, ssr_kind, patients.sex[stays.person[mutated]], _age(patients, stays.person[mutated], stays.end[mutated]))
    rehabilitation = _new(
        stays.person[mutated], stays.hospital[mutated], KIND["ssr"], ssr_profile, stays.end[mutated] + HOUR, np.full(len(mutated), NAT),
        admitted_from=np.full(len(mutated), M6), provenance=np.zeros(len(mutated), dtype=np.int64), parent=mutated,
    )
    readmitted = _new(
        stays.person[back], stays.hospital[back], hc, stays.profile[back],
        stays.end[back] // DAY * DAY + rng.integers(2, 31, len(back)) * DAY + rng.integers(8, 12, len(back)) * HOUR,
        np.full(len(back), NAT), parent=back,
    )
    return [transferred, rehabilitation, readmitted]


def _admissions(ctx: Context, patients: Patients, stays: Stays) -> Stays:
    """Emergency visits followed by a full stay in the same hospital (provenance 5)."""
    rng = ctx.rng
    urg = np.flatnonzero(stays.kind == KIND["urg"])
    age = _age(patients, stays.person[urg], stays.start[urg])
    admitted = urg[rng.random(len(urg)) < 0.155 + 0.07 * (age >= 60) + 0.08 * (age >= 80)]
    kind = np.full(len(admitted), KIND["hcu"])
    sex = patients.sex[stays.person[admitted]]
    profile = pick_profiles(ctx, kind, sex, _age(patients, stays.person[admitted], stays.start[admitted]))
    admitted, profile = admitted[profile >= 0], profile[profile >= 0]
    stays.discharge[admitted] = M6
    stays.destination[admitted] = 0
    return _new(
        stays.person[admitted], stays.hospital[admitted], KIND["hcu"], profile,
        stays.end[admitted] + rng.integers(0, 120, len(admitted)) * 60, np.full(len(admitted), NAT),
        provenance=np.ones(len(admitted), dtype=np.int64), parent=admitted,
    )


def _full(stays: Stays) -> np.ndarray:
    return np.isin(stays.kind, [KIND["hc"], KIND["hcu"]])


def _apply_deaths(ctx: Context, patients: Patients, stays: Stays) -> tuple[Stays, np.ndarray]:
    """Keep each patient's first in-hospital death, drop what would follow it, add deaths at home."""
    rng, n_patients = ctx.rng, len(patients)
    died = (stays.discharge == M9) & (stays.end < ctx.now)
    death = np.full(n_patients, np.iinfo(np.int64).max)
    np.minimum.at(death, stays.person[died], stays.end[died])
    first_death = died & (stays.end == death[stays.person])
    stays.discharge[died & ~first_death] = M8
    keep = (stays.start < death[stays.person]) & ((stays.end <= death[stays.person]) | first_death)
    stays = stays.take(keep)
    last_end = np.full(n_patients, ctx.history_start)
    np.maximum.at(last_end, stays.person, np.minimum(stays.end, ctx.now))
    age = (ctx.now - patients.birth) / YEAR
    at_home = (death == np.iinfo(np.int64).max) & (age >= 60) & (rng.random(n_patients) < 0.06)
    home_death = last_end + rng.integers(30, 1500, n_patients) * DAY + rng.integers(0, DAY, n_patients)
    death = np.where(at_home & (home_death < ctx.now), home_death, death)
    return stays, np.where(death == np.iinfo(np.int64).max, NAT, death)


def _visits_after_death(ctx: Context, patients: Patients, stays: Stays, death: np.ndarray, flaws: FlawLog) -> Stays:
    """The event_after_death flaw: a consultation recorded after the patient died in hospital."""
    rng = ctx.rng
    in_hospital = np.zeros(len(patients), dtype=bool)
    in_hospital[stays.person[stays.discharge == M9]] = True
    eligible = np.flatnonzero(in_hospital & (death != NAT) & (death < ctx.now - 30 * DAY))
    chosen = eligible[rng.random(len(eligible)) < flaws.rate("event_after_death")]
    room = (ctx.now - death[chosen]) // DAY
    start = death[chosen] // DAY * DAY + rng.integers(7, np.minimum(room, 180) + 1) * DAY + 10 * HOUR
    kind = np.full(len(chosen), KIND["cons"])
    profile = pick_profiles(ctx, kind, patients.sex[chosen], (start - patients.birth[chosen]) / YEAR)
    ghosts = _new(chosen, patients.home[chosen], KIND["cons"], profile, start, start + 30 * 60)
    ghosts.after_death[:] = True
    return ghosts


def _split_year_end(ctx: Context, stays: Stays, flaws: FlawLog) -> Stays:
    """The year_end_split flaw: a stay crossing 31 December becomes two rows at midnight."""
    rng = ctx.rng
    start_year = stays.start.astype("datetime64[s]").astype("datetime64[Y]")
    end_year = np.where(stays.end == NAT, stays.start, stays.end).astype("datetime64[s]").astype("datetime64[Y]")
    crossing = (end_year > start_year) & (stays.end != NAT) & np.isin(stays.kind, [KIND["hc"], KIND["hcu"], KIND["ssr"], KIND["psy"]])
    chosen = np.flatnonzero(crossing & (rng.random(len(stays)) < flaws.rate("year_end_split")) & ~stays.after_death)
    new_year = (start_year[chosen] + 1).astype("datetime64[s]").astype(np.int64)
    second = stays.take(chosen)
    second.parent = chosen.copy()
    second.start = new_year
    second.admitted_from = np.full(len(chosen), M6)
    second.provenance = np.zeros(len(chosen), dtype=np.int64)
    second.split[:] = 2
    stays.end[chosen] = new_year - 1
    stays.discharge[chosen] = M6
    stays.destination[chosen] = 0
    stays.split[chosen] = 1
    return Stays.concat([stays, second])


def _feed_gaps(stays: Stays, plan: FeedPlan) -> Stays:
    """Feed flaws: a hospital deployed late, another whose feed stopped, one recording no death."""
    missing = ((stays.hospital == plan.late_hospital) & (stays.start < plan.deployed)) | (
        (stays.hospital == plan.stopped_hospital) & (stays.start >= plan.stopped)
    )
    stays = stays.take(~missing)
    silent = (stays.hospital == plan.no_death_hospital) & (stays.discharge == M9)
    stays.discharge[silent] = M8
    return stays


def generate(ctx: Context, patients: Patients, plan: FeedPlan, flaws: FlawLog) -> tuple[Stays, np.ndarray]:
    """All stays of a chunk of patients, sorted by patient then start; and each patient's death (seconds or NAT)."""
    stays = _expand_series(ctx, _base_episodes(ctx, patients))
    stays.end = _durations(ctx, stays)
    admissions = _admissions(ctx, patients, stays)
    admissions.end = _durations(ctx, admissions)
    stays = Stays.concat([stays, admissions])
    derived = Stays.concat(_outcomes(ctx, patients, stays, np.flatnonzero(_full(stays)), derive=True))
    derived.end = _durations(ctx, derived)
    _outcomes(ctx, patients, derived, np.flatnonzero(_full(derived)), derive=False)
    stays = Stays.concat([stays, derived])
    other = np.isin(stays.kind, [KIND["ssr"], KIND["psy"]])
    age = _age(patients, stays.person, stays.start)
    stays.discharge[other & (age >= 75) & (ctx.rng.random(len(stays)) < 0.02)] = M9
    stays = stays.take(stays.start < ctx.now)
    stays, death = _apply_deaths(ctx, patients, stays)
    stays = Stays.concat([stays, _visits_after_death(ctx, patients, stays, death, flaws)])
    stays = _feed_gaps(stays, plan)
    open_stays = stays.end >= ctx.now
    stays.end[open_stays] = NAT
    stays.discharge[open_stays] = -1
    stays.destination[open_stays] = -1
    stays = _split_year_end(ctx, stays, flaws)
    order = np.lexsort((stays.split, stays.kind, stays.start, stays.person))
    return stays.take(order), death
