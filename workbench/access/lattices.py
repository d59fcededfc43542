"""Protected lattices kept in the state folder, one folder per snapshot, so a process computes each once.

The disclosure policy's lattice of an indicator and year (`workbench.access.
disclosure.year_lattice`) is its dearest computation: tens of engine queries,
then the suppression. Keeping it in memory only made every new process pay for
it again — a server restart, each `workbench --utilisateur …` command, `wiki
build` under the policy. Here each lattice is written once, atomically, as one
Parquet file per level plus a JSON file of the masked cells, under
``<state>/lattices/<snapshot id>/<key digest>/``, and read back by any later
process on the same snapshot. A new snapshot gets new folders (the key holds
the snapshot id, so a stale lattice is never read); only the two most recent
snapshots are kept. The state folder is the server's own (never a user's
kernel's), like the audit log beside it.

This module handles files and primitive values only; the policy builds its
results from them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from workbench import paths

FOLDER = "lattices"
KEPT_SNAPSHOTS = 2
Key = tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]
Level = tuple[int, int, str | None]


@dataclass(frozen=True)
class StoredLevel:
    """One level of a lattice as stored: its frame and the result's status, version, stamp and, when the
    indicator is not available for the source, the facts it lacks."""

    frame: pd.DataFrame
    status: str
    version: str
    stamp: dict[str, Any]
    missing: dict[str, list[str]]


def _root() -> Path:
    return paths.state_path() / FOLDER


def _folder(snapshot: str, key: tuple[Any, ...]) -> Path:
    digest = hashlib.sha256(json.dumps(key, default=str).encode()).hexdigest()[:32]
    return _root() / snapshot / digest


def _level_name(level: Level) -> str:
    site, time, attribute = level
    return f"{site}-{time}-{attribute or 'all'}"


def load(snapshot: str | None, key: tuple[Any, ...]) -> tuple[dict[Level, StoredLevel], set[Key]] | None:
    """The stored lattice of `key` on `snapshot`, or None when none was stored (or it cannot be read)."""
    if not snapshot:
        return None
    folder = _folder(snapshot, key)
    try:
        meta = json.loads((folder / "lattice.json").read_text(encoding="utf-8"))
        levels = {}
        for entry in meta["levels"]:
            level = (entry["level"][0], entry["level"][1], entry["level"][2])
            frame = pd.read_parquet(folder / f"{_level_name(level)}.parquet")
            levels[level] = StoredLevel(frame, entry["status"], entry["version"], entry["stamp"], entry["missing"])
        masked = {(tuple(site), tuple(time), tuple(members)) for site, time, members in meta["masked"]}
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return levels, masked


def save(snapshot: str | None, key: tuple[Any, ...], levels: Mapping[Level, StoredLevel], masked: set[Key]) -> None:
    """Store a lattice (written into a temporary folder, then renamed into place: readers never see half of it).

    A lattice stored by another process in the meantime is kept; a state folder
    that cannot be written leaves the lattice in memory only.
    """
    if not snapshot:
        return
    folder = _folder(snapshot, key)
    if folder.exists():
        return
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".lattice-", dir=folder.parent))
        entries = []
        for level, stored in levels.items():
            stored.frame.to_parquet(staging / f"{_level_name(level)}.parquet", index=False)
            entries.append({"level": list(level), "status": stored.status, "version": stored.version,
                            "stamp": stored.stamp, "missing": stored.missing})
        document = {"key": [str(part) for part in key], "levels": entries,
                    "masked": sorted([list(site), list(time), list(members)] for site, time, members in masked)}
        (staging / "lattice.json").write_text(json.dumps(document, ensure_ascii=False, default=str), encoding="utf-8")
        try:
            os.rename(staging, folder)
        except OSError:  # stored by another process meanwhile
            shutil.rmtree(staging, ignore_errors=True)
        _prune(snapshot)
    except OSError:
        return


def _prune(current: str) -> None:
    """Keep the lattices of the current snapshot and of the most recent others, up to `KEPT_SNAPSHOTS` in all."""
    snapshots = sorted((p for p in _root().iterdir() if p.is_dir() and p.name != current),
                       key=lambda p: p.stat().st_mtime, reverse=True)
    for old in snapshots[KEPT_SNAPSHOTS - 1:]:
        shutil.rmtree(old, ignore_errors=True)
