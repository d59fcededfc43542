"""The FHIR fixtures and one load of the 10-patient sample, shared by the FHIR tests (copied before any change)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fhir_fixtures import BULK

@pytest.fixture(scope="session")
def loaded_bulk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 10-patient sample loaded once into a new warehouse folder (never modified: copy it with `warehouse_copy`)."""
    from workbench.fhir.load import load

    folder = tmp_path_factory.mktemp("fhir") / "warehouse"
    load(BULK, folder, progress=False)
    return folder


@pytest.fixture()
def warehouse_copy(loaded_bulk: Path, tmp_path: Path) -> Path:
    """A private copy of the loaded sample's warehouse folder."""
    target = tmp_path / "warehouse"
    shutil.copytree(loaded_bulk, target)
    return target
