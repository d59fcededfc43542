"""Paths of the FHIR fixtures and helpers of the FHIR tests (a module of its own: test modules cannot import a conftest)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from workbench.paths import PROJECT_ROOT

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
BULK = FIXTURES / "fhir-bulk-10-patients"
HANDWRITTEN = FIXTURES / "fhir-handwritten"


def resources(folder: Path, kind: str) -> list[dict]:
    """The resources of one type of a bulk folder, read with nothing but json (the tests' independent count)."""
    lines = []
    for path in sorted(folder.glob(f"{kind}.*ndjson")):
        lines += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return lines


def workbench(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`workbench ARGS` in a subprocess, as the local administrator."""
    return subprocess.run([sys.executable, "-m", "workbench.cli", *args], cwd=PROJECT_ROOT, env=env or dict(os.environ),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600, check=False)
