"""Fixtures of the semantic-layer tests: hand-written warehouses (the SparkSession is in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from semantic.fixtures import catalog_for_aphp, catalog_for_omop


@pytest.fixture(scope="session")
def aphp_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return catalog_for_aphp(tmp_path_factory.mktemp("aphp"))


@pytest.fixture(scope="session", params=["5.3", "5.4"])
def omop_catalog(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    version = request.param
    return version, catalog_for_omop(tmp_path_factory.mktemp(f"omop{version}"), version)
