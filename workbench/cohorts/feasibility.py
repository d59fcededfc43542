"""Feasibility: a cohort counted by hospital × year across the whole warehouse, protected outside the perimeter.

Each cell splits the cohort's members in two. Those inside the user's
patient-level perimeter (column ``perimeter``: the cohort evaluated on his own
rows, the count he gets himself) are exact. The others (column ``outside``:
members of the whole-warehouse evaluation that are not his) — and every
member, for a role without patient-level rights — are counted following the
i2b2 / SHRINE practice:

* a count under 10 (the access policy's ``min_count``) is shown as « < 10 »;
* any other count gets a deterministic noise: Gaussian, σ = 6.5, clamped to
  ±10 (SHRINE's obfuscation), never shown below the threshold.

The noise is drawn from an HMAC, under a server key kept in the state folder,
of the snapshot and the set of the patients (or stays) it counts. The same
normalised criteria on the same snapshot thus always get the same noise
(repeating a query does not average it away), and so does any rewording that
selects the same patients, or the same set met in another cell or attrition
step; two cohorts that differ by a few patients get
independent noises, so subtracting « A SAUF x » from « A » reveals nothing
reliable about a group under 10 (see tests/cohorts/test_feasibility.py).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import random
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ibis
import pandas as pd

from workbench import paths
from workbench.cohorts.definition import CohortDefinition
from workbench.cohorts.evaluate import CohortResult, evaluate

NOISE_SIGMA = 6.5
NOISE_CLAMP = 10
EXACT, NOISY, SMALL = "exact", "bruité", "< 10"
KEY_FILE = "cohorts-noise.key"


def noise_key(state: Path | None = None) -> bytes:
    """The server's secret for feasibility noise (created 0600 on first use; never shown to users)."""
    path = paths.state_path(state) / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it first
            return path.read_bytes()
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(secrets.token_bytes(32))
    return path.read_bytes()


def noise(key: bytes, label: str, members: Iterable[Any]) -> int:
    """Deterministic noise of one cell: Gaussian σ 6.5 clamped ±10, seeded by HMAC(key, label + members)."""
    digest = hmac.new(key, label.encode(), hashlib.sha256)
    for member in sorted(str(m) for m in members):
        digest.update(b"|" + member.encode())
    generator = random.Random(int.from_bytes(digest.digest()[:8], "big"))
    return max(-NOISE_CLAMP, min(NOISE_CLAMP, round(generator.gauss(0.0, NOISE_SIGMA))))


@dataclass(frozen=True)
class Protected:
    """A count as shown: its value (None for « < 10 ») and how it was protected."""

    value: int | None
    status: str

    @property
    def text(self) -> str:
        return SMALL if self.value is None else str(self.value)


def protect(count: int, key: bytes, label: str, members: Iterable[Any], threshold: int = 10) -> Protected:
    """A count from outside the perimeter: « < 10 » under the threshold, else noisy and never below it."""
    if count < threshold:
        return Protected(None, SMALL)
    return Protected(max(threshold, count + noise(key, label, members)), NOISY)


def _unit_ids(frame: pd.DataFrame, unit: str) -> pd.Series:
    return frame["person_id"] if unit == "patients" else frame["stay_id"]


def activity_cells(source: Any, definition: CohortDefinition) -> set[tuple[str, int]]:
    """Every hospital × year with stays in the definition's period: the cells feasibility always lists.

    An empty cell is listed « < 10 » like any small one; listing only the
    cohort's cells would tell, by a cell that vanishes from « A SAUF x », that
    x holds all of it.
    """
    stays = source.view("stays")
    period = definition.periode
    if period.debut is not None:
        stays = stays.filter(stays.start_date >= ibis.literal(period.debut))
    if period.fin is not None:
        stays = stays.filter(stays.start_date <= ibis.literal(period.fin))
    stays = stays.filter(stays.start_date.notnull())
    frame = source.execute(stays.select(hospital=stays.hospital.fill_null("inconnu"),
                                        year=stays.start_date.year().cast("int64")).distinct())
    return {(str(h), int(y)) for h, y in zip(frame["hospital"], frame["year"])}


STEPS = ("tout l'entrepôt", "votre périmètre", "protection des cellules")


def feasibility(warehouse: Any, definition: CohortDefinition, state: Path | None = None,
                progress: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Counts by hospital × year: hospital, year, perimeter (the user's own members, exact; null without
    patient-level rights), outside (the other members: an int, null for « < 10 »), outside_text and
    protection (exact, bruité, < 10) of the outside count.

    Showing the outside count apart, never a total, keeps the exact perimeter count from narrowing a
    protected one: « 9 » inside and « < 10 » in all would say that nobody is outside.
    `progress` is called with each of `STEPS` as it starts (the CLI's progress bar)."""
    from workbench import access

    step = progress or (lambda _name: None)
    user = warehouse.user
    step(STEPS[0])
    whole = evaluate(warehouse.unrestricted(), definition)
    step(STEPS[1])
    reading = access.row_access(user)
    own: CohortResult | None = (whole if reading == access.ALL_ROWS else None if reading == access.AGGREGATES_ONLY
                                else evaluate(warehouse, definition))
    step(STEPS[2])
    key = noise_key(state)
    unit = definition.unite
    threshold = getattr(user, "min_count", 10)
    rows = []
    cells = sorted(activity_cells(warehouse.unrestricted(), definition)
                   | set(zip(whole.members["hospital"], whole.members["year"].astype("Int64"))), key=str)
    for hospital, year in cells:
        ids = set(_unit_ids(_cell(whole.members, hospital, year), unit).dropna())
        mine: set[Any] = set() if own is None else set(_unit_ids(_cell(own.members, hospital, year), unit).dropna())
        others = sorted(ids - mine)
        if reading == access.ALL_ROWS:
            shown = Protected(len(others), EXACT)  # nobody is outside: 0
        else:
            shown = protect(len(others), key, _label(whole.snapshot_id, unit), others, threshold)
        rows.append({"hospital": hospital, "year": None if pd.isna(year) else int(year),
                     "perimeter": None if own is None else len(mine),
                     "outside": shown.value, "outside_text": shown.text, "protection": shown.status})
    frame = pd.DataFrame(rows, columns=["hospital", "year", "perimeter", "outside", "outside_text", "protection"])
    return frame.astype({"perimeter": "Int64", "outside": "Int64"})


def _label(snapshot: str, unit: str) -> str:
    """The noise label of a set of patients (or stays): the same set gets the same noise in every cell,
    attrition step or cohort, so no two views of one count can be averaged."""
    return f"{snapshot}|{'patients' if unit == 'patients' else 'stays'}"


def _cell(members: pd.DataFrame, hospital: str, year: Any) -> pd.DataFrame:
    return members[(members["hospital"] == hospital) & (members["year"] == year)]


def protected_attrition(result: CohortResult, user: Any, state: Path | None = None) -> pd.DataFrame:
    """The attrition of a whole-warehouse evaluation as a role without patient-level rights may see it:
    every count through :func:`protect` (its noise keyed by the patients or stays it counts)."""
    key = noise_key(state)
    threshold = getattr(user, "min_count", 10)
    frame = result.index
    rules = [c for c in frame.columns if c.startswith("rule_")]
    rows = []
    mask = pd.Series(True, index=frame.index)
    for step, row in result.attrition.iterrows():
        alone = pd.Series(True, index=frame.index)
        if step > 0:
            mask = mask & frame[rules[step - 1]]
            alone = frame[rules[step - 1]]
        out = {"step": row["step"], "rule": row["rule"]}
        for column, selected in (("patients", mask), ("stays", mask), ("patients_alone", alone), ("stays_alone", alone)):
            unit = "patients" if column.startswith("patients") else "sejours"
            ids = _unit_ids(frame.loc[selected], unit).dropna().unique()
            out[column] = protect(len(ids), key, _label(result.snapshot_id, unit), ids, threshold).text
        rows.append(out)
    return pd.DataFrame(rows, columns=["step", "rule", "patients", "stays", "patients_alone", "stays_alone"])
