"""CLI command groups, one module per domain; each exposes ``register(app)``.

This package also holds what every command shares about *who* runs it. The
global ``--utilisateur`` (``workbench.cli``) puts the logged-in user's
`UserContext` in ``ctx.obj["user"]`` (None: the local administrator). Commands
open the warehouse with :func:`open_warehouse`, so the user's perimeter and
disclosure policy apply exactly as on the dashboards; work that cannot honour
them is refused with :func:`require_admin` or :func:`require_whole_warehouse`;
what a command hands out (``--out`` file or screen) is recorded by :func:`record_export`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Optional

import typer


def current_user(ctx: typer.Context) -> Any | None:  # -> UserContext | None
    """The user logged in with --utilisateur, or None for the local administrator."""
    return (ctx.obj or {}).get("user")


def open_warehouse(ctx: typer.Context, backend: str | None = None) -> Any:  # -> Warehouse
    """The warehouse of the global --catalog, seen by the command's user (the one way commands open it)."""
    from workbench.warehouse import open as open_catalog

    obj = ctx.obj or {}
    return open_catalog(obj.get("catalog"), backend=backend, user=obj.get("user"))


def _refuse(ctx: typer.Context, command: str, reason: str) -> None:
    """Raise the `UserError` of a refused command, after writing the attempt to the audit log."""
    from workbench.access import refused

    user = current_user(ctx)
    raise refused(user, f"accès refusé : la commande « workbench {command} » {reason} (utilisateur {user.name}, "
                         f"rôle {user.role})", command=command)


def require_admin(ctx: typer.Context, command: str, reason: str = "est réservée au rôle admin") -> None:
    """Refuse administrator work (accounts, audit log, kernels…) to a logged-in user who is not admin."""
    user = current_user(ctx)
    if user is not None and user.role != "admin":
        _refuse(ctx, command, reason)


def require_whole_warehouse(ctx: typer.Context, command: str) -> None:
    """Refuse results computed on the whole warehouse (stored quality runs) to a user restricted to part of it.

    The rule of the dashboards' quality page: only users without row filter
    (admin, patient-level role without perimeter) read whole-warehouse results.
    """
    from workbench.access import unrestricted

    user = current_user(ctx)
    if user is not None and not unrestricted(user):
        _refuse(ctx, command, "porte sur tout l'entrepôt : réservée aux utilisateurs sans restriction de lignes")


def output_path(ctx: typer.Context, value: Optional[Path]) -> Optional[Path]:
    """Callback of every output option: the path the command may write for the requested one (or an audited refusal)."""
    if value is None or ctx.resilient_parsing:
        return value
    from workbench.outputs import destination

    names, level = [], ctx
    while level.parent is not None:  # "wiki build", whatever the program was called (`python -m workbench.cli`)
        names.append(level.info_name or "")
        level = level.parent
    return destination(current_user(ctx), value, " ".join(reversed(names)))


def record_export(ctx: typer.Context, out: Path | None, format: Any, rows: int, *, indicator: str | None = None,
                  filters: Mapping[str, Sequence[str]] | None = None, **fields: Any) -> None:
    """Write the audit line of what a command handed out, under the command's user: a file written with
    --out, or the screen (`destination` ``stdout``) — a figure printed is as served as a figure saved.

    `rows` counts what was written (rows, checks, pages, cells); `destination` is the path written.
    """
    from workbench import audit
    from workbench.access.context import UserContext

    audit.export(current_user(ctx) or UserContext(), indicator=indicator, format=getattr(format, "value", format),
                 rows=rows, filters=filters, destination="stdout" if out is None else str(out), **fields)
