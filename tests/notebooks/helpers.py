"""Helpers for the notebook tests: the real CLI in a subprocess, the demo's DuckDB file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
TEMPLATES = PROJECT / "notebooks" / "templates"
WIKI = PROJECT / "wiki"
TEMPLATE_IDS = (
    "pmsi_casemix", "coding_lag", "patient_pathways", "cohort_profile", "indicator_deep_dive", "data_quality",
)


def workbench(
    *args: str, catalog: Path | None = None, timeout: float = 900, cwd: Path = PROJECT
) -> subprocess.CompletedProcess[str]:
    """Run the `workbench` command line as a user would (new process, real exit code), from `cwd`."""
    env = dict(os.environ)
    env.pop("WORKBENCH_TEMPLATES", None)
    command = [sys.executable, "-m", "workbench.cli"]
    if catalog is not None:
        command += ["--catalog", str(catalog)]
    return subprocess.run(
        command + list(args), capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout
    )


def duckdb_file(demo_dir: Path) -> Path:
    """The demo warehouse's DuckDB file, for independent SQL."""
    found = sorted(Path(demo_dir).rglob("*.duckdb"))
    assert found, f"no .duckdb file under {demo_dir}"
    return found[0]


