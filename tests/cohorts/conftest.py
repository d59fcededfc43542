"""Fixtures of the cohort tests: the hand-made warehouses of `fixtures.py`, opened once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from cohorts.fixtures import write_cohort_warehouse, write_omop_warehouse


@pytest.fixture(scope="session")
def cohort_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_cohort_warehouse(tmp_path_factory.mktemp("cohorts-aphp"))


@pytest.fixture(scope="session")
def omop_cohort_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_omop_warehouse(tmp_path_factory.mktemp("cohorts-omop"))


@pytest.fixture(scope="session")
def attack_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from cohorts.fixtures import write_attack_warehouse

    return write_attack_warehouse(tmp_path_factory.mktemp("cohorts-attack"))
