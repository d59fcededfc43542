"""`workbench reports`: the data-quality problem reports users file from the dashboards.

`list` shows them with status and age, `move` follows the workflow
(nouveau → pris en charge → résolu | rejeté; any other move is refused), and
`stats` gives the counts the quality page shows. With ``--utilisateur`` a user
restricted to a perimeter lists and counts the reports of his perimeter
(`workbench.quality.reports.visible`), and only the équipe entrepôt and the
admin move reports, under their own name (``--by`` naming someone else is
refused).
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any, Optional

import pandas as pd
import typer

from workbench.commands import current_user, open_warehouse
from workbench.errors import UserError
from workbench.output import OutputFormat, emit, emit_json

reports_app = typer.Typer(help="Signalements de problèmes de données : liste, suivi, délais.", no_args_is_help=True)


class Format(str, Enum):
    table = "table"
    json = "json"


def _visible(ctx: typer.Context, status: str | None = None) -> list[Any]:
    """The reports the command's user may read (all for the local administrator and users without perimeter)."""
    from workbench.quality.reports import ReportStore, perimeter_codes, visible

    user = current_user(ctx)
    covered = None if user is None or not user.perimeter else perimeter_codes(open_warehouse(ctx))
    return visible(ReportStore().list(status), user, covered)


@reports_app.command("list")
def list_reports(
    ctx: typer.Context,
    status: Annotated[Optional[str], typer.Option("--status", help="Seulement ce statut (nouveau, pris en charge, résolu, rejeté).")] = None,
    fmt: Annotated[Format, typer.Option("--format", help="table ou json.")] = Format.table,
) -> None:
    """Lister les signalements (le plus récent d'abord)."""
    reports = _visible(ctx, status)
    if fmt is Format.json:
        emit_json([report.to_json() for report in reports])
        return
    frame = pd.DataFrame(
        [{"n°": r.report_id, "statut": r.status, "déposé": r.created_at.isoformat(timespec="minutes"),
          "âge (h)": round(r.age().total_seconds() / 3600, 1), "auteur": r.author, "indicateur": r.indicator or "",
          "filtres": r.where(), "problème": r.what} for r in reports],
        columns=["n°", "statut", "déposé", "âge (h)", "auteur", "indicateur", "filtres", "problème"],
    )
    emit(frame, fmt=OutputFormat.table, title=f"{len(frame)} signalement(s)")


@reports_app.command("move")
def move(
    ctx: typer.Context,
    report_id: Annotated[int, typer.Argument(help="Numéro du signalement.")],
    status: Annotated[str, typer.Argument(help="Nouveau statut : « pris en charge », « résolu » ou « rejeté ».")],
    by: Annotated[Optional[str], typer.Option(
        "--by", help="Nom enregistré pour l'administrateur local ; avec --utilisateur, c'est ce compte.")] = None,
    comment: Annotated[Optional[str], typer.Option("--comment", help="Commentaire.")] = None,
) -> None:
    """Faire avancer un signalement dans le circuit (équipe entrepôt et admin ; transitions vérifiées)."""
    from workbench import audit
    from workbench.quality.reports import ReportStore, move_as
    from workbench.access.context import UserContext

    user = current_user(ctx)
    if user is not None and by is not None and by != user.name:
        message = (f"accès refusé : --by {by} : un signalement est changé au nom de l'utilisateur connecté "
                   f"({user.name}), jamais d'un autre")
        audit.write("refused", user, reason=message, command="reports move", by=by, report_id=report_id)
        raise UserError(message)
    report = move_as(ReportStore(), user or UserContext(name=by or "local"), report_id, status, comment)
    typer.echo(f"Signalement n° {report.report_id} : « {report.status} »", err=True)


@reports_app.command("stats")
def stats(ctx: typer.Context,
          fmt: Annotated[Format, typer.Option("--format", help="table ou json.")] = Format.table) -> None:
    """Signalements ouverts, délai médian de première réponse et de résolution (heures)."""
    from workbench.quality.reports import count_reports

    counts = count_reports(_visible(ctx))
    if fmt is Format.json:
        emit_json(counts.to_json())
        return
    typer.echo(
        f"{counts.open} ouvert(s) sur {counts.total} ; première réponse : "
        f"{'—' if counts.first_response_hours is None else f'{counts.first_response_hours} h'} (médiane, {counts.responded}) ; "
        f"résolution : {'—' if counts.resolution_hours is None else f'{counts.resolution_hours} h'} (médiane, {counts.resolved})"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(reports_app, name="reports")
