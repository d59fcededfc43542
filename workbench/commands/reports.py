"""`workbench reports`: the data-quality problem reports users file from the dashboards.

`list` shows them with status and age, `move` follows the workflow
(nouveau → pris en charge → résolu | rejeté; any other move is refused), and
`stats` gives the counts the quality page shows.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Optional

import pandas as pd
import typer

from workbench.output import OutputFormat, emit, emit_json

reports_app = typer.Typer(help="Signalements de problèmes de données : liste, suivi, délais.", no_args_is_help=True)


class Format(str, Enum):
    table = "table"
    json = "json"


@reports_app.command("list")
def list_reports(
    status: Annotated[Optional[str], typer.Option("--status", help="Seulement ce statut (nouveau, pris en charge, résolu, rejeté).")] = None,
    fmt: Annotated[Format, typer.Option("--format", help="table ou json.")] = Format.table,
) -> None:
    """Lister les signalements (le plus récent d'abord)."""
    from workbench.quality.reports import ReportStore

    reports = ReportStore().list(status)
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
    report_id: Annotated[int, typer.Argument(help="Numéro du signalement.")],
    status: Annotated[str, typer.Argument(help="Nouveau statut : « pris en charge », « résolu » ou « rejeté ».")],
    by: Annotated[str, typer.Option("--by", help="Qui fait le changement.")],
    comment: Annotated[Optional[str], typer.Option("--comment", help="Commentaire.")] = None,
) -> None:
    """Faire avancer un signalement dans le circuit (transitions vérifiées)."""
    from workbench.quality.reports import ReportStore

    report = ReportStore().move(report_id, status, by, comment)
    typer.echo(f"Signalement n° {report.report_id} : « {report.status} »", err=True)


@reports_app.command("stats")
def stats(fmt: Annotated[Format, typer.Option("--format", help="table ou json.")] = Format.table) -> None:
    """Signalements ouverts, délai médian de première réponse et de résolution (heures)."""
    from workbench.quality.reports import ReportStore

    counts = ReportStore().counts()
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
