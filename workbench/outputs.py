"""Where a command may write, and how every file is written.

A logged-in user who is not admin writes **only under his own exports
folder**, ``<exports>/<user>/`` (``<exports>`` is the deployment's
``exports``, default ``<state>/exports``; see `workbench.deployment`). A
relative ``--out``/``--into``/``--html`` is taken inside that folder; an
absolute path is accepted only when it lies inside it too, once symbolic
links and ``..`` are resolved. Anything else — the audit log, ``access.yaml``,
the warehouse file, the catalogue, another user's exports — is refused
(exit 1, audited ``refused``). One rule, with no list of forbidden places to
keep up to date. The administrator (no ``--utilisateur``, or role admin)
writes where he asks.

Every writer goes through :func:`atomic_file`: the content is written to a
temporary file in the destination's folder, flushed and fsynced, then moved
over the destination with ``os.replace``, so a reader (or a crash) never sees
half a file, and a symbolic link at the destination is replaced, not followed.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from workbench import paths
from workbench.errors import UserError

EXPORTS_VARIABLE = "WORKBENCH_EXPORTS"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]*$")


def exports_root() -> Path:
    """The folder holding every user's exports: `$WORKBENCH_EXPORTS` (set from the deployment), else <state>/exports."""
    value = os.environ.get(EXPORTS_VARIABLE)
    return Path(value).expanduser() if value else paths.state_path() / "exports"


def user_folder(user: Any) -> Path:
    """``<exports>/<user>/``, the only place a non-admin user's outputs go (created on first use, mode 0700)."""
    name = str(getattr(user, "name", ""))
    if not _SAFE_NAME.fullmatch(name) or ".." in name:
        raise UserError(f"nom d'utilisateur « {name} » inutilisable comme dossier d'exports")
    folder = exports_root() / name
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


def may_write_anywhere(user: Any) -> bool:
    """The local administrator and the admin role choose their paths; every other user writes in his folder."""
    return user is None or getattr(user, "role", None) == "admin"


def destination(user: Any, path: Path, command: str) -> Path:
    """The path a command of `user` writes for the requested `path`, or a refusal (audited) outside his folder."""
    if may_write_anywhere(user):
        return path
    folder = user_folder(user).resolve()
    target = (Path(path).expanduser() if Path(path).expanduser().is_absolute() else folder / path).resolve()
    if target == folder or not target.is_relative_to(folder):
        from workbench import audit

        message = (f"sortie refusée : « workbench {command} » n'écrit que dans votre dossier d'exports {folder} "
                   f"(chemin relatif ou absolu dans ce dossier) ; reçu {path}")
        audit.write("refused", user, reason=message, command=command, destination=str(path))
        raise UserError(message)
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


@contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; once the block has written it, fsync it and move it over `path`.

    On an error inside the block the temporary file is removed and `path`
    is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.parent / f".{path.stem}.{secrets.token_hex(6)}.tmp{path.suffix}"  # writers may need the suffix
    try:
        yield temporary
        with open(temporary, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()


def write_text(path: Path, text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically."""
    with atomic_file(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return Path(path)


def write_with(path: Path, writer: Callable[[Path], None]) -> Path:
    """Let `writer` produce the file at a temporary path (an XLSX engine, a notebook writer…), then move it into place."""
    with atomic_file(path) as temporary:
        writer(temporary)
    return Path(path)
