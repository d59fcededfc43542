"""Array helpers shared by the generator modules.

The generator is vectorised: every table of a chunk is a dict of numpy arrays,
timestamps are int64 seconds since 1970 (``NAT`` = missing, which numpy reads as
``NaT`` once viewed as ``datetime64[s]``) and categorical strings are
:class:`Cat` (indices into a label array), turned into Arrow dictionaries only
when written. No Python loop ever runs per stay or per patient.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import pyarrow as pa

NAT = np.iinfo(np.int64).min
DAY = 86_400
HOUR = 3_600

Table = dict[str, object]


def epoch_seconds(moment: date | datetime) -> int:
    """Seconds since 1970 of a naive date or datetime (the warehouse has no time zone)."""
    if not isinstance(moment, datetime):
        moment = datetime(moment.year, moment.month, moment.day)
    return int((moment - datetime(1970, 1, 1)).total_seconds())


@dataclass(frozen=True)
class Cat:
    """A categorical string column: ``labels[codes]``, code -1 = null."""

    codes: np.ndarray
    labels: np.ndarray

    @staticmethod
    def of(codes: np.ndarray, labels: list[str] | np.ndarray) -> "Cat":
        return Cat(np.asarray(codes, dtype=np.int32), np.asarray(labels, dtype=object))

    def to_arrow(self) -> pa.Array:
        indices = pa.array(self.codes, type=pa.int32(), mask=self.codes < 0)
        return pa.DictionaryArray.from_arrays(indices, pa.array(self.labels, type=pa.string()))

    def __len__(self) -> int:
        return len(self.codes)


def to_arrow(values: object) -> pa.Array:
    """Arrow array of a generated column: Cat, Arrow array, or numpy (NaN and NaT become nulls)."""
    if isinstance(values, Cat):
        return values.to_arrow()
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values
    array = np.asarray(values)
    if array.dtype.kind == "f":
        return pa.array(array, mask=np.isnan(array))
    if array.dtype.kind == "M":
        return pa.array(array, from_pandas=True)
    return pa.array(array)


def timestamps(seconds: np.ndarray) -> np.ndarray:
    """View int64 seconds as datetime64[s] (``NAT`` becomes NaT, written as null)."""
    return np.asarray(seconds, dtype=np.int64).view("datetime64[s]")


def dates(seconds: np.ndarray) -> np.ndarray:
    """Calendar dates of int64 seconds (nulls kept)."""
    return timestamps(seconds).astype("datetime64[D]")


def nullable_ids(ids: np.ndarray) -> pa.Array:
    """Int64 ids where -1 means null (e.g. a stay without a preceding stay)."""
    ids = np.asarray(ids, dtype=np.int64)
    return pa.array(ids, type=pa.int64(), mask=ids < 0)


def choice(rng: np.random.Generator, n: int, weights: np.ndarray) -> np.ndarray:
    """Indices drawn with the given (unnormalised) weights."""
    cumulative = np.cumsum(np.asarray(weights, dtype=float))
    return np.searchsorted(cumulative, rng.random(n) * cumulative[-1], side="right").clip(0, len(cumulative) - 1)


def weighted_rows(rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    """One column index per row of a (rows x options) weight matrix; -1 where a row has no option."""
    cumulative = np.cumsum(weights, axis=1)
    total = cumulative[:, -1]
    target = rng.random(len(weights)) * total
    picked = (cumulative <= target[:, None]).sum(axis=1)
    return np.where(total > 0, np.minimum(picked, weights.shape[1] - 1), -1)


def group_positions(group_sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For items repeated ``group_sizes`` times: (owner index, position within its group)."""
    owner = np.repeat(np.arange(len(group_sizes)), group_sizes)
    starts = np.cumsum(group_sizes) - group_sizes
    return owner, np.arange(len(owner)) - starts[owner]


@dataclass(frozen=True)
class Pools:
    """Groups of candidate values stored flat (CSR): group g owns values[offsets[g]:offsets[g]+sizes[g]].

    Drawing a value per row for its own group is then one vectorised index computation.
    """

    values: np.ndarray
    offsets: np.ndarray
    sizes: np.ndarray

    @staticmethod
    def build(groups: list[np.ndarray]) -> "Pools":
        sizes = np.array([len(group) for group in groups], dtype=np.int64)
        offsets = np.cumsum(sizes) - sizes
        values = np.concatenate(groups) if groups else np.array([], dtype=np.int64)
        return Pools(values.astype(np.int64), offsets, sizes)

    def draw(self, rng: np.random.Generator, group: np.ndarray) -> np.ndarray:
        """One value per row from its group (-1 where the group is empty)."""
        sizes = self.sizes[group]
        pick = self.offsets[group] + np.floor(rng.random(len(group)) * np.maximum(sizes, 1)).astype(np.int64)
        return np.where(sizes > 0, self.values[np.minimum(pick, len(self.values) - 1)], -1)
