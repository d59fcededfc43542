"""Fixtures of the generator tests: a read-only connection to the session demo warehouse and its manifest."""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest


@pytest.fixture(scope="session")
def con(demo_dir: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect(str(demo_dir / "eds.duckdb"), read_only=True)
    yield connection
    connection.close()


@pytest.fixture(scope="session")
def manifest(demo_dir: Path) -> dict:
    return json.loads((demo_dir / "flaws.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def flawed(manifest: dict) -> dict[str, set[int]]:
    """Flaw id -> row ids (empty for feed flaws)."""
    return {flaw["id"]: set(flaw.get("row_ids", [])) for flaw in manifest["flaws"]}


@pytest.fixture(scope="session")
def vocab_sets(vocab_dir: Path) -> dict[str, set[str]]:
    """Codes of the nomenclatures read straight from the files (not through workbench.vocab)."""
    with gzip.open(vocab_dir / "cim10_fr.csv.gz", "rt", encoding="utf-8") as handle:
        cim10 = {row["code"] for row in csv.DictReader(handle)}
    with gzip.open(vocab_dir / "ccam_actes.json.gz", "rt", encoding="utf-8") as handle:
        ccam = {row["code"] for row in json.load(handle)}
    with gzip.open(vocab_dir / "ucd_drugs.json.gz", "rt", encoding="utf-8") as handle:
        ucd = {str(row["code_ucd"]) for row in json.load(handle)}
    return {"cim10": cim10, "ccam": ccam, "ucd": ucd}
