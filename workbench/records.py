"""Results a notebook publishes with :func:`workbench.analysis.record`, and how they are read back.

Its own module so that `analysis` (which writes records, inside the kernel) and
`notebooks` (which runs notebooks and reads them) share the format without
importing each other.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import nbformat

RECORD_MIME = "application/vnd.eds-workbench.record+json"
"""MIME type of the outputs :func:`workbench.analysis.record` displays."""


def read_records(notebook: nbformat.NotebookNode | Path) -> dict[str, Any]:
    """Results a notebook published with :func:`workbench.analysis.record`, by name."""
    if not isinstance(notebook, nbformat.NotebookNode):
        notebook = nbformat.read(notebook, as_version=4)
    found: dict[str, Any] = {}
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if RECORD_MIME in data:
                payload = data[RECORD_MIME]
                if isinstance(payload, str):
                    payload = json.loads(payload)
                found[payload["name"]] = copy.deepcopy(payload["value"])
    return found
