"""Where the workbench finds its files.

Commands run from the project folder find `catalog.yaml`, `wiki/` and
`notebooks/templates/` there; elsewhere they take explicit paths or environment
variables, so an installed wheel works against any project folder.

The wiki and the notebook templates are looked up in this order: the command's
option, the environment variable, the current project folder, then the
installed package's own copy (`packaged`), so `workbench wiki build` works from
any folder. The French nomenclatures ship with the package: `--vocab` or
`$WORKBENCH_VOCAB` override them. The access file never has a packaged
fallback: the demo's passwords are public.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RESOURCES = Path(__file__).resolve().parent / "resources"
"""Files shipped inside the package: `vocab/` (committed), `wiki/` and `templates/` (copied by the wheel build, setup.py)."""


def _from_env(variable: str, default: Path) -> Path:
    value = os.environ.get(variable)
    return Path(value).expanduser() if value else default


def catalog_path(explicit: Path | None = None) -> Path:
    """The catalogue file: explicit path, `$WORKBENCH_CATALOG`, or `./catalog.yaml`."""
    return explicit or _from_env("WORKBENCH_CATALOG", Path.cwd() / "catalog.yaml")


def packaged(name: str, source: str) -> Path:
    """The installed package's copy of the project folder `source` (``wiki``, ``notebooks/templates``).

    A wheel carries it as ``workbench/resources/<name>`` (copied at build time by
    setup.py); a source checkout — a clone, an editable install — has no such
    copy and reads the project's own folder, so what is edited is what is served.
    """
    copy = RESOURCES / name
    return copy if copy.is_dir() else PROJECT_ROOT / source


def _project_or_packaged(source: str, name: str, near: Path | None = None) -> Path:
    """`source` in the current folder, else in `near`, else the package's copy."""
    for folder in (Path.cwd(), near):
        if folder is not None and (folder / source).is_dir():
            return folder / source
    return packaged(name, source)


_WIKI_GUARDS: list[Callable[[Path | None], None]] = []


def guard_wiki(check: Callable[[Path | None], None]) -> None:
    """Make every explicit wiki go through `check` (which raises to refuse it).

    The fixed deployment installs its audited check when it is applied: this
    module only finds paths, and must not import the deployment (which audits,
    and the audit finds its log through this module).
    """
    if check not in _WIKI_GUARDS:
        _WIKI_GUARDS.append(check)


def wiki_path(explicit: Path | None = None, near: Path | None = None) -> Path:
    """The wiki folder: explicit path, `$WORKBENCH_WIKI`, `./wiki`, `wiki/` in `near`, else the package's copy.

    `near` is the served catalogue's folder for the dashboards. A deployment
    that fixes the wiki refuses another explicit one (see :func:`guard_wiki`).
    """
    for check in _WIKI_GUARDS:
        check(explicit)
    return explicit or _from_env("WORKBENCH_WIKI", _project_or_packaged("wiki", "wiki", near))


def templates_path(explicit: Path | None = None) -> Path:
    """The notebook templates: explicit path, `$WORKBENCH_TEMPLATES`, `./notebooks/templates`, else the package's copy."""
    return explicit or _from_env("WORKBENCH_TEMPLATES", _project_or_packaged("notebooks/templates", "templates"))


def vocab_path(explicit: Path | None = None) -> Path:
    """The French nomenclatures: explicit path, `$WORKBENCH_VOCAB`, else the copy shipped in the package."""
    return explicit or _from_env("WORKBENCH_VOCAB", RESOURCES / "vocab")


def state_path(explicit: Path | None = None) -> Path:
    """Application state (audit, quality runs, reports): never inside the warehouse file."""
    return explicit or _from_env("WORKBENCH_STATE", Path.cwd() / ".workbench")


def projects_path(explicit: Path | None = None) -> Path:
    """Users' project datamarts (`workbench project`): `$WORKBENCH_PROJECTS` (set from the deployment's
    ``projects``), else ``projects/`` beside the state folder — never inside it, since users' kernels read
    their projects and must not reach the audit log."""
    return explicit or _from_env("WORKBENCH_PROJECTS", state_path().resolve().parent / "projects")
