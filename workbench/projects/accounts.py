"""System accounts that run users' notebook kernels, and the folders they own.

When the workbench runs as root, each workbench user's kernels run under a
system account of his own (``eds-<name>-<hash>``), created with ``useradd``
on first use: no login shell, no password, its home his projects folder. The
account owns that folder (mode 0700) and nothing else; the warehouse file,
the state folder (audit log, pseudonymisation secret) and other users'
projects stay unreadable to it, so a kernel's Python code — whatever the user
types in it — meets the operating system's permission check, not ours.
"""

from __future__ import annotations

import grp
import hashlib
import os
import pwd
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from workbench.errors import UserError

PREFIX = "eds-"


@dataclass(frozen=True)
class Account:
    """A system account: its name, uid and gid."""

    name: str
    uid: int
    gid: int


def running_as_root() -> bool:
    """Whether this process may create accounts and start processes under them."""
    return hasattr(os, "geteuid") and os.geteuid() == 0


def account_name(user: str) -> str:
    """The system account of workbench user `user`: lower-case, safe characters, a hash against collisions
    (``dim.014`` and ``dim_014`` differ), at most 32 characters (the limit of `useradd`)."""
    safe = re.sub(r"[^a-z0-9]", "-", user.lower()).strip("-")[:18] or "u"
    return f"{PREFIX}{safe}-{hashlib.sha256(user.encode()).hexdigest()[:8]}"


def lookup(user: str) -> Account | None:
    """The account of `user` when it exists."""
    try:
        entry = pwd.getpwnam(account_name(user))
    except KeyError:
        return None
    return Account(entry.pw_name, entry.pw_uid, entry.pw_gid)


def ensure_account(user: str, home: Path) -> Account:
    """The account of `user`, created on first use (root only): system account, own group, no shell."""
    found = lookup(user)
    if found is not None:
        return found
    if not running_as_root():
        raise UserError(f"compte système de {user} absent et création impossible sans les droits root")
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    name = account_name(user)
    result = subprocess.run(
        [useradd, "--system", "--user-group", "--no-create-home", "--home-dir", str(home),
         "--shell", "/usr/sbin/nologin", "--comment", f"EDS Workbench, noyaux de {user}", name],
        capture_output=True, text=True, check=False,
    )
    if result.returncode not in (0, 9):  # 9: created meanwhile by another process
        raise RuntimeError(f"useradd {name} a échoué : {result.stderr.strip()}")
    found = lookup(user)
    if found is None:
        raise RuntimeError(f"compte système {name} introuvable après useradd")
    return found


def hand_over(folder: Path, account: Account, recursive: bool = True) -> None:
    """Give `folder` (and, `recursive`, what root just created under it) to `account`, folders mode 0700.

    Done through file descriptors opened without following symbolic links (``lchown``, ``O_NOFOLLOW`` then
    ``fchmod``), and never walking into a link: a link the account plants cannot turn root's chown or chmod on a
    file of the system. Call it recursively only on trees root built (a new project, a run folder).
    """
    paths = []
    if recursive:
        for top, folders, files in os.walk(folder, followlinks=False):
            paths.extend(Path(top) / name for name in [*folders, *files])
    paths.sort(key=lambda path: len(path.parts), reverse=True)  # the top last: nothing is his before it is all his
    for path in [*paths, folder]:
        os.lchown(path, account.uid, account.gid)
        try:
            descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError:  # a file or a link: its mode stays as written
            continue
        try:
            os.fchmod(descriptor, 0o700)
        finally:
            os.close(descriptor)


def group_name(account: Account) -> str:
    """The account's primary group name (for messages and tests)."""
    return grp.getgrgid(account.gid).gr_name
