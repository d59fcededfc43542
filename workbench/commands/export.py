"""`workbench export fhir`: the warehouse as FHIR R4 bulk NDJSON (`workbench.fhir.export`).

Reserved to the roles of the action « export.fhir » (équipe entrepôt, admin:
`workbench.access.actions`); the files go where `--out` may write for the user
(`workbench.outputs`), and the export is audited.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from workbench.commands import current_user, open_warehouse, output_path, record_export

export_app = typer.Typer(help="Exports de l'entrepôt dans des formats d'échange.", no_args_is_help=True)


@export_app.command("fhir")
def export_fhir(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", callback=output_path, help="Dossier de sortie (un fichier NDJSON par type de ressource).")],
) -> None:
    """Écrit l'entrepôt en FHIR R4 bulk NDJSON (codes français, biologie, administrations, formulaires)."""
    from workbench.access.actions import require
    from workbench.fhir.export import export
    from workbench.fhir.load import progress_bars

    require(current_user(ctx), "export.fhir")
    warehouse = open_warehouse(ctx)
    with progress_bars(True) as bars:
        counts = export(warehouse, out, progress=bars)
    record_export(ctx, out, "fhir-ndjson", sum(counts.values()), what="export fhir", snapshot=warehouse.snapshot_id)
    typer.echo(f"Export FHIR écrit dans {out} (instantané {warehouse.snapshot_id}) : "
               + ", ".join(f"{kind} {count}" for kind, count in counts.items()))


def register(app: typer.Typer) -> None:
    app.add_typer(export_app, name="export")
