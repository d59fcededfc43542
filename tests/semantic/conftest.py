"""Fixtures of the semantic-layer tests: hand-written warehouses and one local SparkSession."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from semantic.fixtures import catalog_for_aphp, catalog_for_omop


@pytest.fixture(scope="session")
def aphp_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return catalog_for_aphp(tmp_path_factory.mktemp("aphp"))


@pytest.fixture(scope="session", params=["5.3", "5.4"])
def omop_catalog(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    version = request.param
    return version, catalog_for_omop(tmp_path_factory.mktemp(f"omop{version}"), version)


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    """One local SparkSession for the whole test session (reused if another suite made it)."""
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("workbench-tests")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )
    yield session
