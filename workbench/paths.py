"""Where the workbench finds its files.

Commands run from the project folder find `catalog.yaml`, `wiki/` and
`notebooks/templates/` there; elsewhere they take explicit paths or environment
variables, so an installed wheel works against any project folder.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _from_env(variable: str, default: Path) -> Path:
    value = os.environ.get(variable)
    return Path(value).expanduser() if value else default


def catalog_path(explicit: Path | None = None) -> Path:
    """The catalogue file: explicit path, `$WORKBENCH_CATALOG`, or `./catalog.yaml`."""
    return explicit or _from_env("WORKBENCH_CATALOG", Path.cwd() / "catalog.yaml")


def wiki_path(explicit: Path | None = None) -> Path:
    """The wiki folder: explicit path, `$WORKBENCH_WIKI`, or `./wiki` (a deployment that fixes it refuses another)."""
    from workbench.deployment import check_wiki

    check_wiki(explicit)
    return explicit or _from_env("WORKBENCH_WIKI", Path.cwd() / "wiki")


def templates_path(explicit: Path | None = None) -> Path:
    """The notebook templates: explicit path, `$WORKBENCH_TEMPLATES`, or `./notebooks/templates`."""
    return explicit or _from_env("WORKBENCH_TEMPLATES", Path.cwd() / "notebooks" / "templates")


def vocab_path(explicit: Path | None = None) -> Path:
    """The French nomenclatures: explicit path, `$WORKBENCH_VOCAB`, or `../shared/vocab` beside the project."""
    return explicit or _from_env("WORKBENCH_VOCAB", PROJECT_ROOT.parent / "shared" / "vocab")


def state_path(explicit: Path | None = None) -> Path:
    """Application state (audit, quality runs, reports): never inside the warehouse file."""
    return explicit or _from_env("WORKBENCH_STATE", Path.cwd() / ".workbench")
