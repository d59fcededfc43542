"""`workbench wiki sync`: keep a local copy of a git-hosted wiki (GitLab/GitHub).

The copy lives **outside** the project repository: a wiki cloned inside it would
be a nested repository that the project's own git would see as changes. The
first sync clones; the next ones pull, fast-forward only, so a local edit is
never merged silently into the referents' wiki.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from workbench.errors import UserError
from workbench.paths import PROJECT_ROOT


@dataclass(frozen=True)
class SyncResult:
    action: str
    """« clone », « mise à jour » or « déjà à jour »."""
    path: Path
    commit: str


def _git(*args: str, cwd: Path | None = None) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise UserError("git est introuvable : installez git pour synchroniser le wiki") from None
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise UserError(f"git {args[0]} a échoué : {detail[-1] if detail else 'erreur inconnue'}")
    return done.stdout.strip()


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


def check_destination(into: Path, project_root: Path = PROJECT_ROOT) -> Path:
    """The resolved destination; a path inside the project repository is refused."""
    resolved = into.expanduser().resolve()
    root = project_root.resolve()
    if _inside(resolved, root):
        raise UserError(
            f"--into {into} : le wiki doit être synchronisé hors du dépôt du projet ({root}) ; "
            "choisissez par exemple ~/wiki-pilote"
        )
    return resolved


def sync(remote: str, into: Path, project_root: Path = PROJECT_ROOT) -> SyncResult:
    """Clone `remote` into `into`, or pull it (fast-forward only) when already cloned."""
    target = check_destination(into, project_root)
    if target.exists() and any(target.iterdir()):
        if not (target / ".git").exists():
            raise UserError(f"--into {into} : le dossier existe, n'est pas vide et n'est pas un dépôt git")
        origin = _git("remote", "get-url", "origin", cwd=target)
        if origin != remote and Path(origin).expanduser().resolve() != Path(remote).expanduser().resolve():
            raise UserError(f"--into {into} : ce dossier suit {origin}, pas {remote}")
        before = _git("rev-parse", "HEAD", cwd=target)
        _git("pull", "--ff-only", "--quiet", cwd=target)
        after = _git("rev-parse", "HEAD", cwd=target)
        return SyncResult("déjà à jour" if before == after else "mise à jour", target, after)
    target.parent.mkdir(parents=True, exist_ok=True)
    _git("clone", "--quiet", remote, str(target))
    return SyncResult("clone", target, _git("rev-parse", "HEAD", cwd=target))
