"""Session fixtures shared by every test folder: the vocabularies and one small demo warehouse."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench import paths

DEMO_PATIENTS = 2_000
DEMO_SEED = 42


@pytest.fixture(scope="session")
def vocab_dir() -> Path:
    """The shared French nomenclatures (``$WORKBENCH_VOCAB`` or ``../shared/vocab``)."""
    folder = paths.vocab_path()
    assert (folder / "cim10_fr.csv.gz").is_file(), f"vocabularies not found in {folder}"
    return folder


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory: pytest.TempPathFactory, vocab_dir: Path) -> Path:
    """A 2,000-patient, seed-42 demo warehouse built once per session (eds.duckdb, parquet/, flaws.json, catalog.yaml)."""
    from workbench.demo import build_demo

    out = tmp_path_factory.mktemp("demo") / "warehouse"
    build_demo(out, patients=DEMO_PATIENTS, seed=DEMO_SEED, vocab=vocab_dir, progress=False)
    return out
