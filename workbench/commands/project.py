"""`workbench project create|list|show|delete`: project datamarts (see `workbench.projects`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from workbench.commands import current_user, open_warehouse, output_path, record_export
from workbench.errors import UserError
from workbench.output import OutputFormat, emit, emit_json

FormatOption = Annotated[OutputFormat, typer.Option("--format", help="table ou json.")]


def _table(rows: list[dict], fmt: OutputFormat, title: str) -> None:
    if fmt is OutputFormat.json:
        emit_json(rows)
        return
    if fmt is not OutputFormat.table:
        raise UserError(f"--format attend table ou json, reçu '{fmt.value}'")
    import pandas as pd

    frame = pd.DataFrame(rows)
    if not frame.empty and "tables" in frame.columns:
        frame = frame.drop(columns=["tables"])
    emit(frame, OutputFormat.table, title=title)


def cohort_export(
    ctx: typer.Context,
    cohort: Annotated[str, typer.Argument(help="Cohorte enregistrée (NOM ou NOM@VERSION) ou fichier de définition.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Fichier à écrire (.xlsx, ou .zip pour csv).",
                                      callback=output_path)],
    fmt: Annotated[str, typer.Option("--format", help="xlsx (une feuille par table) ou csv (ZIP d'un CSV par table).")]
    = "xlsx",
    biology: Annotated[Optional[str], typer.Option(
        "--biologie", help="Codes LOINC ou locaux des résultats à joindre, séparés par des virgules.")] = None,
    drugs: Annotated[Optional[str], typer.Option(
        "--medicaments", help="Préfixes ATC ou codes UCD des médicaments à joindre, séparés par des virgules.")] = None,
) -> None:
    """Exporter une cohorte (patients, séjours, diagnostics, biologie et médicaments choisis) dans votre périmètre."""
    from workbench import exports, projects
    from workbench.access import require
    from workbench.cohorts.store import resolve_cohort

    require(current_user(ctx), "cohort.export")
    exports.check_output(out, fmt)
    definition, version = resolve_cohort(current_user(ctx), cohort)
    warehouse = open_warehouse(ctx)
    members, described = projects.cohort_members(warehouse, definition, version)
    result = exports.export_cohort(warehouse, members, out, fmt, described, _codes(biology), _codes(drugs))
    typer.echo(f"Export écrit : {result.path} ({', '.join(f'{t} {n}' for t, n in result.rows.items())})")


def _codes(text: str | None) -> list[str]:
    return [code.strip() for code in (text or "").split(",") if code.strip()]


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Espaces projet : entrepôts d'une cohorte, pseudonymisés par projet.", no_args_is_help=True)

    @group.command("create")
    def create(
        ctx: typer.Context,
        name: Annotated[str, typer.Argument(help="Nom du projet (lettres, chiffres, . _ -).")],
        cohort: Annotated[Optional[str], typer.Option(
            "--cohort", help="Cohorte enregistrée (NOM ou NOM@VERSION, voir workbench cohort new) ou fichier.")] = None,
        perimeter: Annotated[bool, typer.Option(
            "--perimetre", help="Tout votre périmètre, sans cohorte (analystes DIM).")] = False,
        fmt: FormatOption = OutputFormat.table,
    ) -> None:
        """Créer un espace projet : la cohorte, dans votre périmètre, en DuckDB avec son catalogue."""
        from workbench import projects
        from workbench.access import require

        user = current_user(ctx)
        require(user, "project.perimeter" if perimeter else "project.create")
        if cohort is not None and perimeter:
            raise UserError("--cohort et --perimetre s'excluent : choisissez l'un des deux")
        if cohort is None and not perimeter:
            raise UserError("indiquez --cohort NOM (cohorte enregistrée) ou --perimetre (tout votre périmètre)")
        projects.check_name(name)
        warehouse = open_warehouse(ctx)
        members, described = None, None
        if cohort is not None:
            from workbench.cohorts.store import resolve_cohort

            members, described = projects.cohort_members(warehouse, *resolve_cohort(current_user(ctx), cohort))
        project = projects.create_project(warehouse, name, members, described, progress=True)
        record_export(ctx, project.datamart, "duckdb", project.patients, what=f"project create {name}",
                      tables=project.tables)
        _table([project.as_dict()], fmt, f"Projet {name}")

    @group.command("list")
    def list_(ctx: typer.Context, fmt: FormatOption = OutputFormat.table) -> None:
        """Lister vos espaces projet."""
        from workbench import projects

        _table([p.as_dict() for p in projects.list_projects(current_user(ctx))], fmt, "Projets")

    @group.command("show")
    def show(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Nom du projet.")],
             fmt: FormatOption = OutputFormat.table) -> None:
        """Montrer un espace projet : cohorte, version, instantané source, tables et effectifs."""
        from workbench import projects

        project = projects.get_project(current_user(ctx), name)
        if fmt is OutputFormat.json:
            emit_json(project.as_dict())
            return
        _table([{"table": t, "lignes": n} for t, n in project.tables.items()], fmt,
               f"Projet {name} (cohorte {project.cohort or '—'}, version {project.cohort_version or '—'})")

    @group.command("delete")
    def delete(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Nom du projet.")]) -> None:
        """Supprimer un espace projet (son entrepôt et ses notebooks)."""
        from workbench import projects

        project = projects.delete_project(current_user(ctx), name)
        typer.echo(f"Projet supprimé : {project.path}")

    app.add_typer(group, name="project")
