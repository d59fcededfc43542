"""Accounts on the 2,000-patient demo warehouse, an isolated state folder (audit log) per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.access.model import AccessFile, Policy, UserEntry, hash_password, save_access
from workbench.access.context import UserContext

CARDIO = "014-S03"  # Service Cardiologie (APR), hospital 014, pole 014-P2
INJECTION = "014' OR 1=1 --"


@pytest.fixture(autouse=True)
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test writes its audit log in its own folder."""
    folder = tmp_path / "state"
    monkeypatch.setenv("WORKBENCH_STATE", str(folder))
    return folder


@pytest.fixture()
def access_file(tmp_path: Path) -> Path:
    path = tmp_path / "access.yaml"
    users = {
        "cardio": UserEntry(role="clinicien", perimeter=(CARDIO,), password_hash=hash_password("c@rdio")),
        "pilote": UserEntry(role="referent_pilotage", password_hash=hash_password("p1lote")),
    }
    save_access(AccessFile(path, Policy(min_count=10), users))
    return path


def user(role: str, perimeter: tuple[str, ...] = (), nominative: bool = False, name: str = "testeur") -> UserContext:
    return UserContext(name=name, role=role, perimeter=frozenset(perimeter), nominative=nominative)


@pytest.fixture(scope="session")
def catalog(demo_dir: Path) -> Path:
    return demo_dir / "catalog.yaml"


@pytest.fixture(scope="session")
def duckdb_file(demo_dir: Path) -> Path:
    return demo_dir / "eds.duckdb"
