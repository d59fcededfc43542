"""`workbench ingest`: feed a warehouse from FHIR (bulk NDJSON or Bundle), see its loads and its quarantine.

Reserved to the roles of the action « ingest » (équipe entrepôt, admin:
`workbench.access.actions`). The load itself is `workbench.fhir.load`.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from workbench.commands import current_user, record_export

ingest_app = typer.Typer(help="Alimentation de l'entrepôt depuis FHIR : chargements, état, quarantaine.", no_args_is_help=True)

INTO = typer.Option("--into", help="Dossier de l'entrepôt (eds.duckdb, catalog.yaml) : nouveau ou déjà chargé depuis FHIR.")


class ReportFormat(str, Enum):
    table = "table"
    json = "json"


class ListFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


def _require(ctx: typer.Context) -> None:
    from workbench.access.actions import require

    require(current_user(ctx), "ingest")


@ingest_app.command("fhir")
def ingest_fhir(
    ctx: typer.Context,
    source: Annotated[Path, typer.Argument(help="Dossier d'export FHIR bulk (NDJSON, éventuellement .gz) ou Bundle JSON.")],
    into: Annotated[Path, INTO],
    deleted: Annotated[Optional[Path], typer.Option("--deleted", help="Liste des suppressions de l'export (Bundles NDJSON).")] = None,
    format: Annotated[ReportFormat, typer.Option("--format", help="Rapport : table (lisible) ou json.")] = ReportFormat.table,
) -> None:
    """Charge un export FHIR dans l'entrepôt : validation, correspondance AP-HP, quarantaine, chargement incrémental atomique."""
    from workbench import audit
    from workbench.fhir.load import load, report_of
    from workbench.output import emit_json

    _require(ctx)
    user = current_user(ctx)
    report = load(source, into, deleted=deleted, user=getattr(user, "name", None) or "admin",
                  progress=format is ReportFormat.table)
    summary = report.as_dict()
    audit.write("ingest", user, source=str(source), into=str(into), load_id=report.load_id, received=report.received,
                snapshot=report.snapshot_after)
    if format is ReportFormat.json:
        emit_json(summary)
    else:
        typer.echo(report_of(summary))


@ingest_app.command("status")
def ingest_status(
    ctx: typer.Context,
    into: Annotated[Path, INTO],
    format: Annotated[ListFormat, typer.Option("--format")] = ListFormat.table,
) -> None:
    """Liste les chargements de l'entrepôt (comptes, invariant, instantané)."""
    import pandas as pd

    from workbench.fhir.load import loads
    from workbench.output import OutputFormat, emit

    _require(ctx)
    rows = loads(into)
    emit(pd.DataFrame(rows), OutputFormat(format.value), title="Chargements FHIR")
    record_export(ctx, None, format, len(rows), what="ingest status")


@ingest_app.command("quarantine")
def ingest_quarantine(
    ctx: typer.Context,
    into: Annotated[Path, INTO],
    reason: Annotated[Optional[str], typer.Option("--reason", help="Seulement ce motif (ex. « JSON illisible »).")] = None,
    format: Annotated[ListFormat, typer.Option("--format")] = ListFormat.table,
) -> None:
    """Liste les ressources en quarantaine (fichier, ligne, motif, texte reçu)."""
    import pandas as pd

    from workbench.fhir.load import quarantine
    from workbench.output import OutputFormat, emit

    _require(ctx)
    rows = quarantine(into, reason)
    frame = pd.DataFrame(rows, columns=["load_id", "source_file", "source_line", "resource_type", "fhir_id", "reason", "detail", "raw"])
    if format is ListFormat.table:
        frame = frame.assign(raw=frame.raw.str.slice(0, 60))
    emit(frame, OutputFormat(format.value), title="Quarantaine FHIR")
    record_export(ctx, None, format, len(rows), what="ingest quarantine")


def register(app: typer.Typer) -> None:
    app.add_typer(ingest_app, name="ingest")
