"""Protected lattices are kept in the state folder: a later process on the same snapshot reads them back.

On the 2,000-patient demo, a référent's request for `nb_sejours` by hospital
and quarter in 2024 builds the year's lattice once: what is stored (frames and
masked cells) equals what was computed, and a fresh process reads the stored
lattice instead of computing it (shown by planting a value in the stored file
and finding it in the fresh process's answer). The threshold is 11, so that no
other test of the session has this lattice in memory already.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

import workbench
from workbench import paths
from workbench.access import lattices
from workbench.access.disclosure import year_lattice
from workbench.indicators.dictionary import load_dictionary
from workbench.indicators.engine import compute

from workbench.access.context import UserContext

K = 11
PROGRAM = """
import json, sys
import workbench
from workbench import paths
from workbench.access.context import UserContext
from workbench.indicators.dictionary import load_dictionary
from workbench.indicators.engine import compute
pilote = UserContext(name="pilote", role="referent_pilotage", perimeter=frozenset(), nominative=False, min_count=11)
definition = load_dictionary(paths.PROJECT_ROOT / "wiki").get("nb_sejours").definition
with workbench.open(sys.argv[1], user=pilote) as warehouse:
    frame = compute(definition, warehouse, by=["hospital", "quarter"], start="2024-01", end="2024-12",
                    grain="quarter").frame
print(frame.to_json(orient="records"))
"""


def stored_folders(state: Path) -> list[Path]:
    return sorted(p for p in (state / lattices.FOLDER).glob("*/*") if p.is_dir())


def test_a_lattice_is_stored_once_and_read_back_by_a_new_process(catalog: Path, state: Path) -> None:
    definition = load_dictionary(paths.PROJECT_ROOT / "wiki").get("nb_sejours").definition
    referent = UserContext(name="pilote", role="referent_pilotage", perimeter=frozenset(), nominative=False,
                           min_count=K)
    pilote = workbench.open(catalog, user=referent)
    answer = compute(definition, pilote, by=["hospital", "quarter"], start="2024-01", end="2024-12", grain="quarter")
    [folder] = stored_folders(state)
    assert folder.parent.name == pilote.snapshot_id
    source = pilote.unrestricted()
    built = year_lattice(definition, source, 2024, answer.version, {}, K)
    key = (definition.id, answer.version, "{}", 2024, source.snapshot_id, str(source.catalog_path), K)
    levels, masked = lattices.load(pilote.snapshot_id, key)
    assert masked == built.masked and len(masked) > 0
    assert set(levels) == set(built.frames)
    for level, stored in levels.items():
        pd.testing.assert_frame_equal(stored.frame, built.frames[level].frame)

    # plant a value in a shown cell of the stored (hospital, quarter) level: a fresh process answers from the store
    target = folder / "1-2-all.parquet"
    frame = pd.read_parquet(target)
    shown = [index for index, row in frame.iterrows()
             if ((str(row["hospital"]),), (str(row["year"]), str(row["quarter"])), ()) not in masked]
    frame.loc[shown[0], "numerator"] = 987654
    frame.to_parquet(target, index=False)
    env = {**os.environ, "WORKBENCH_STATE": str(state)}
    output = subprocess.run([sys.executable, "-c", PROGRAM, str(catalog)], env=env, capture_output=True, text=True,
                            check=True).stdout
    fresh = pd.DataFrame(json.loads(output.strip().splitlines()[-1]))
    assert 987654 in set(fresh["numerator"].dropna().astype(int))
    assert len(stored_folders(state)) == 1  # read, not stored again


def test_only_the_two_latest_snapshots_are_kept(state: Path) -> None:
    frame = pd.DataFrame({"hospital": ["014"], "numerator": [12]})
    level = lattices.StoredLevel(frame, "ok", "1", {}, {})
    for snapshot in ("s1", "s2", "s3"):
        lattices.save(snapshot, ("nb_sejours", snapshot), {(1, 1, None): level}, set())
    assert sorted(p.name for p in (state / lattices.FOLDER).iterdir()) == ["s2", "s3"]
    levels, masked = lattices.load("s3", ("nb_sejours", "s3"))
    pd.testing.assert_frame_equal(levels[(1, 1, None)].frame, frame)
    assert lattices.load("s1", ("nb_sejours", "s1")) is None
