"""`workbench audit tail|search|verify|reset`: read the hash-chained audit log, check it, restart a broken chain."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from workbench.commands import require_admin
from workbench.output import OutputFormat, emit, emit_json

app = typer.Typer(help="Journal d'audit : requêtes, exports, connexions.", no_args_is_help=True)
FormatOption = Annotated[OutputFormat, typer.Option("--format", "-f", help="table ou json.")]


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="audit")


@app.callback()
def _admin_only(ctx: typer.Context) -> None:
    require_admin(ctx, "audit")


def _show(events: list[dict], format: OutputFormat) -> None:
    import pandas as pd

    if format is OutputFormat.json:
        emit_json(events)
        return
    frame = pd.DataFrame(events).drop(columns=["prev", "hash"], errors="ignore")  # the chain: see `audit verify`
    if not frame.empty:
        frame = frame.astype(str)
    emit(frame, format, None, {"evenements": len(events)}, title="Journal d'audit")


@app.command("tail")
def tail(
    n: Annotated[int, typer.Option("-n", help="Nombre d'événements (les plus récents).")] = 20,
    format: FormatOption = OutputFormat.table,
) -> None:
    """Les derniers événements."""
    from workbench import audit

    _show(audit.tail(n), format)


@app.command("search")
def search(
    user: Annotated[Optional[str], typer.Option("--user", help="Nom d'utilisateur.")] = None,
    event: Annotated[Optional[str], typer.Option("--event", help="execute, indicator, export, login, refused.")] = None,
    since: Annotated[Optional[str], typer.Option("--since", help="À partir de (AAAA-MM-JJ[THH:MM]).")] = None,
    format: FormatOption = OutputFormat.table,
) -> None:
    """Les événements correspondant à tous les critères donnés."""
    from workbench import audit

    _show(audit.search(user=user, event=event, since=since), format)


@app.command("verify")
def verify(format: FormatOption = OutputFormat.table) -> None:
    """Vérifie la chaîne du journal : trous, lignes modifiées, troncature, lignes incomplètes (code 1 si rompue)."""
    from workbench import audit

    report = audit.verify()
    if format is OutputFormat.json:
        emit_json(report.to_dict())
    else:
        typer.echo(report.text())
    if not report.intact:
        raise typer.Exit(1)


@app.command("reset")
def reset(
    ctx: typer.Context,
    reason: Annotated[str, typer.Option("--raison", "--reason", help="Pourquoi la chaîne est recommencée (obligatoire).")],
) -> None:
    """Ouvre une nouvelle chaîne après une rupture constatée par `audit verify` (le journal rompu est conservé)."""
    from workbench import audit
    from workbench.commands import current_user
    from workbench.access.context import UserContext

    genesis = audit.reset(current_user(ctx) or UserContext(), reason)
    typer.echo(f"Nouvelle chaîne {genesis['chain']} ouverte ; journal rompu conservé : {genesis.get('archive') or 'absent'}.")
