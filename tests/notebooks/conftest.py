"""Fixtures of the notebook tests: the demo catalogue and independent SQL on its DuckDB file."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from .helpers import duckdb_file


@pytest.fixture(scope="session")
def demo_catalog(demo_dir: Path) -> Path:
    return Path(demo_dir) / "catalog.yaml"


@pytest.fixture(scope="session")
def sql(demo_dir: Path):
    """A read-only DuckDB connection on the demo file: `sql(query, *params)` → list of tuples."""
    import duckdb

    con = duckdb.connect(str(duckdb_file(demo_dir)), read_only=True)

    def run(query: str, *params: object) -> list[tuple]:
        return con.execute(query, list(params)).fetchall()

    yield run
    con.close()


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    """The `workbench` command run in this process (fast), with its real exit code and streams.

    For checks that stop before any kernel starts; runs that execute notebooks
    go through a subprocess (`helpers.workbench`).
    """
    from workbench.cli import main

    from .helpers import PROJECT

    monkeypatch.chdir(PROJECT)
    monkeypatch.delenv("WORKBENCH_TEMPLATES", raising=False)
    monkeypatch.delenv("WORKBENCH_CATALOG", raising=False)

    def run(*args: str, catalog: Path | None = None) -> subprocess.CompletedProcess[str]:
        argv = (["--catalog", str(catalog)] if catalog is not None else []) + list(args)
        capsys.readouterr()
        try:
            main(argv)
            code = 0
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else 1
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(argv, code, out, err)

    return run
