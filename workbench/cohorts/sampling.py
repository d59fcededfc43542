"""Samples of a cohort: seeded, optionally stratified, the same patients on every backend.

Each member gets the key ``sha256("<seed>:<person_id>")`` (``…:<stay_id>`` for a
cohort of stays), computed in Python on the evaluated members: the draw does
not depend on how a backend hashes or orders rows, so the same seed and
snapshot give the same patients on DuckDB and Spark. The sample is the ``n``
smallest keys; stratified, each stratum (hospital, sex, age band…) gets its
share of ``n`` by largest remainder, then its smallest keys.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import pandas as pd

from workbench.errors import UserError

STRATA = ("hospital", "sex", "age_band")


def draw_key(seed: int, person_id: int, stay_id: object = None) -> int:
    """The member's place in the draw: the first 8 bytes of sha256 of the seed and its ids."""
    text = f"{seed}:{int(person_id)}" if stay_id is None or pd.isna(stay_id) else f"{seed}:{int(person_id)}:{int(stay_id)}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def _keyed(members: pd.DataFrame, seed: int, by_stay: bool) -> pd.DataFrame:
    keyed = members.copy()
    stays = keyed["stay_id"] if by_stay else [None] * len(keyed)
    keyed["_draw"] = [draw_key(seed, p, s) for p, s in zip(keyed["person_id"], stays)]
    return keyed.sort_values(["_draw", "person_id"], kind="stable")


def _shares(sizes: pd.Series, n: int) -> pd.Series:
    """Largest-remainder allocation of `n` among strata proportional to `sizes` (ties: stratum order)."""
    total = int(sizes.sum())
    exact = sizes * n / total
    shares = exact.astype(int)
    left = n - int(shares.sum())
    remainders = (exact - shares).sort_values(ascending=False, kind="stable")
    for label in remainders.index[:left]:
        shares[label] += 1
    return shares.clip(upper=sizes)


def sample(members: pd.DataFrame, n: int, seed: int, strata: Sequence[str] = (), *, by_stay: bool = False) -> pd.DataFrame:
    """`n` members drawn by seed (all of them when the cohort is smaller), stratified on `strata` columns."""
    if n < 1:
        raise UserError(f"--n : taille d'échantillon {n} invalide (au moins 1)")
    unknown = [s for s in strata if s not in STRATA]
    if unknown:
        raise UserError(f"--strates : {', '.join(unknown)} inconnue(s) (strates possibles : {', '.join(STRATA)})")
    if members.empty:
        return members.copy()
    keyed = _keyed(members, seed, by_stay)
    if not strata:
        return keyed.head(n).drop(columns="_draw").reset_index(drop=True)
    labels = keyed[list(strata)].astype("string").fillna("inconnu").agg("|".join, axis=1)
    sizes = labels.value_counts().sort_index()
    shares = _shares(sizes, min(n, len(keyed)))
    chosen = pd.concat([group.head(int(shares[label])) for label, group in keyed.groupby(labels, sort=True)])
    return chosen.sort_values(["_draw", "person_id"]).drop(columns="_draw").reset_index(drop=True)
