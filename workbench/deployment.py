"""The deployment's fixed configuration: which accounts, catalogue and state a logged-in user runs against.

With ``--utilisateur`` the CLI is a boundary between a user and the
warehouse, so the rules it enforces (accounts and their rights, the
catalogue, the audit log's folder) cannot come from the caller: a user who
could pass his own ``access.yaml`` would make himself admin. They come from
one YAML file owned by root and writable by root only — the file named by
``$WORKBENCH_CONFIG`` (so a service unit, or a test, may place it elsewhere),
else ``/etc/eds-workbench/config.yaml``::

    access: /srv/eds/access.yaml      # accounts and disclosure threshold
    catalog: /srv/eds/catalog.yaml    # the warehouse
    state: /srv/eds/state             # audit log, quality runs, problem reports
    exports: /srv/eds/exports         # optional: users' output folders (default <state>/exports)
    projects: /srv/eds/projects       # optional: users' project datamarts (default <state>/../projects)
    kernel_python: /usr/bin/python3.11  # optional: interpreter of users' kernels (default: the workbench's)
    wiki: /srv/eds/wiki               # optional: the indicator dictionary (default: the caller's)

Relative paths are relative to the file's folder. Ownership and mode are
checked on the opened file descriptor (no swap between check and read); a
file that fails the check is refused, never silently ignored, since a user
who can write it could rewrite every rule.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from workbench import audit, paths
from workbench.errors import UserError

CONFIG_VARIABLE = "WORKBENCH_CONFIG"
DEFAULT_CONFIG = Path("/etc/eds-workbench/config.yaml")
REQUIRED = ("access", "catalog", "state")
OPTIONAL = ("exports", "wiki", "projects", "kernel_python")


@dataclass(frozen=True)
class Deployment:
    """The fixed paths of a deployment (all absolute)."""

    path: Path
    access: Path
    catalog: Path
    state: Path
    exports: Path
    wiki: Path | None = None
    projects: Path | None = None
    kernel_python: Path | None = None



def config_path() -> Path:
    """The deployment file: `$WORKBENCH_CONFIG`, else /etc/eds-workbench/config.yaml."""
    value = os.environ.get(CONFIG_VARIABLE)
    return Path(value).expanduser() if value else DEFAULT_CONFIG


def _read_trusted(path: Path) -> str:
    """The file's text, if it is a regular file owned by root and writable by root only."""
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        raise UserError(f"configuration de déploiement introuvable : {path} (fichier appartenant à root, "
                        f"désigné par ${CONFIG_VARIABLE} ou {DEFAULT_CONFIG}) : --utilisateur exige une "
                        "configuration fixée par l'administrateur") from None
    except OSError as error:
        raise UserError(f"configuration de déploiement illisible : {path} ({error.strerror})") from None
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise UserError(f"configuration de déploiement {path} : ce n'est pas un fichier ordinaire")
        if info.st_uid != 0 or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise UserError(f"configuration de déploiement {path} refusée : elle doit appartenir à root et n'être "
                            f"modifiable que par lui (propriétaire uid {info.st_uid}, droits "
                            f"{stat.filemode(info.st_mode)})")
        with os.fdopen(descriptor, encoding="utf-8") as handle:
            descriptor = -1
            return handle.read()
    finally:
        if descriptor >= 0:
            os.close(descriptor)


def _absolute(path: Path, key: str, value: Any) -> Path:
    if not isinstance(value, str) or not value.strip():
        raise UserError(f"{path} : clé « {key} » : attendu un chemin")
    given = Path(value).expanduser()
    return Path(os.path.normpath(given if given.is_absolute() else path.parent / given))


def load_deployment(path: Path | None = None) -> Deployment:
    """Read and check the deployment file; every fault is a `UserError` naming the file and the key."""
    path = Path(os.path.abspath(path or config_path()))
    try:
        raw = yaml.safe_load(_read_trusted(path)) or {}
    except yaml.YAMLError as error:
        raise UserError(f"{path} : YAML invalide : {error}") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path} : attendu un dictionnaire (clés {', '.join(REQUIRED)})")
    unknown = set(raw) - set(REQUIRED) - set(OPTIONAL)
    if unknown:
        raise UserError(f"{path} : clé(s) inconnue(s) : {', '.join(sorted(map(str, unknown)))}")
    missing = [key for key in REQUIRED if key not in raw]
    if missing:
        raise UserError(f"{path} : clé(s) obligatoire(s) absente(s) : {', '.join(missing)}")
    fixed = {key: _absolute(path, key, raw[key]) for key in (*REQUIRED, *OPTIONAL) if raw.get(key) is not None}
    return Deployment(path=path, access=fixed["access"], catalog=fixed["catalog"], state=fixed["state"],
                      exports=fixed.get("exports", fixed["state"] / "exports"), wiki=fixed.get("wiki"),
                      projects=fixed.get("projects", fixed["state"].parent / "projects"),
                      kernel_python=fixed.get("kernel_python"))


def same_path(first: Path, second: Path) -> bool:
    """Whether two paths name the same file or folder (symbolic links and `..` resolved)."""
    return Path(first).expanduser().resolve() == Path(second).expanduser().resolve()


def mismatches(deployment: Deployment, **given: Path | None) -> dict[str, tuple[Path, Path]]:
    """The caller's paths (option or environment) that differ from the deployment's: name -> (given, fixed).

    A path the caller did not give is no mismatch; the deployment's applies.
    """
    found = {}
    for key, value in given.items():
        fixed = getattr(deployment, key)
        if value is not None and fixed is not None and not same_path(Path(value), fixed):
            found[key] = (Path(value), fixed)
    return found


_ACTIVE: list[tuple[Deployment, str]] = []


def active() -> Deployment | None:
    """The deployment applied in this process (a CLI run with --utilisateur), else None."""
    return _ACTIVE[-1][0] if _ACTIVE else None


def check_wiki(explicit: Path | None) -> None:
    """Refuse (audited) a command's --wiki that differs from the wiki the deployment fixes."""
    fixed = active()
    if fixed is None or fixed.wiki is None or explicit is None or same_path(explicit, fixed.wiki):
        return
    message = (f"configuration refusée : avec --utilisateur, le wiki est celui du déploiement ({fixed.wiki}) ; "
               f"reçu --wiki {explicit}")
    audit.write("refused", _ACTIVE[-1][1], reason=message, command="--wiki", given=str(explicit))
    raise UserError(message)


def apply(deployment: Deployment, user: str) -> None:
    """Make the deployment's paths the process's (read by `workbench.paths` and `workbench.access`) for `user`."""
    _ACTIVE.append((deployment, user))
    paths.guard_wiki(check_wiki)
    os.environ["WORKBENCH_ACCESS"] = str(deployment.access)
    os.environ["WORKBENCH_CATALOG"] = str(deployment.catalog)
    os.environ["WORKBENCH_STATE"] = str(deployment.state)
    os.environ["WORKBENCH_EXPORTS"] = str(deployment.exports)
    if deployment.projects is not None:
        os.environ["WORKBENCH_PROJECTS"] = str(deployment.projects)
    if deployment.kernel_python is not None:
        os.environ["WORKBENCH_KERNEL_PYTHON"] = str(deployment.kernel_python)
    if deployment.wiki is not None:
        os.environ["WORKBENCH_WIKI"] = str(deployment.wiki)
