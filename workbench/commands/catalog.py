"""`workbench catalog list|show|search|init`: what the warehouse holds, since when, how much."""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Annotated, Any, Optional

import pandas as pd
import typer

from workbench.commands import open_warehouse, output_path, record_export, require_admin
from workbench.output import OutputFormat, emit, emit_json

FormatOption = Annotated[OutputFormat, typer.Option("--format", "-f", help="table, json ou csv.")]
BackendOption = Annotated[Optional[str], typer.Option(
    "--backend", help="duckdb (défaut), pyspark, ou postgres (défaut d'une source PostgreSQL).")]
OutOption = Annotated[Optional[Path], typer.Option("--out", "-o", help="Fichier de sortie (défaut : écran).",
                                                       callback=output_path)]

app = typer.Typer(help="Catalogue de l'entrepôt : tables, vues canoniques, colonnes, antériorité.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="catalog")


def _stamp(wh: Any) -> dict[str, Any]:
    return {"catalogue": str(wh.catalog_path), "flavour": wh.flavour, "snapshot_id": wh.snapshot_id}


REFUSED = {"rows": None, "first_date": None, "last_date": None}
"""What a listing shows of a table or view the user may not read: its name and description, no figure."""


def _rows(wh: Any) -> list[dict[str, Any]]:
    """One row per raw table then per canonical view, with counts and first/last dates of what the user
    may read (`readable`); the others are listed, marked, without figures (and without a refusal in the audit)."""
    from workbench.catalog import summary
    from workbench.semantic.views import VIEWS

    def figures(name: str) -> dict[str, Any]:
        return {"readable": True, **summary(wh, name)} if wh.readable(name) else {"readable": False, **REFUSED}

    rows = []
    for name, info in wh.catalog.tables.items():
        rows.append({"name": name, "kind": "table", "flavour": wh.flavour, "source": info.source_system,
                     "description": info.description, **figures(name)})
    for name in wh.views:
        rows.append({"name": name, "kind": "view", "flavour": wh.flavour, "source": ", ".join(wh.view_reads(name)),
                     "description": VIEWS[name].description, **figures(name)})
    return rows


@app.command("list")
def list_(ctx: typer.Context, format: FormatOption = OutputFormat.table, out: OutOption = None,
          backend: BackendOption = None) -> None:
    """Toutes les tables et vues, avec leur nombre de lignes et leurs premières et dernières dates."""
    with open_warehouse(ctx, backend) as wh:
        rows = _rows(wh)
        frame = pd.DataFrame(rows)
        if format is OutputFormat.json:
            emit_json(rows, out)
        elif format is OutputFormat.table:
            compact = frame[["name", "kind", "rows", "first_date", "last_date", "description"]].astype(object)
            compact.loc[~frame["readable"], "rows"] = "accès refusé"
            emit(compact, format, out, _stamp(wh), title=f"Catalogue {wh.catalog_path.name} ({wh.flavour})")
        else:
            emit(frame, format, out, _stamp(wh), title=f"Catalogue {wh.catalog_path.name}")
    record_export(ctx, out, format, len(rows), what="catalog list")


def _columns(wh: Any, name: str, kind: str) -> list[dict[str, Any]]:
    """The columns; a raw table's examples come from the rows the user may read (never from the catalogue)."""
    from workbench.catalog import column_examples
    from workbench.semantic.views import VIEWS

    if kind == "table":
        examples = column_examples(wh, name)
        return [{"name": c, "type": spec.type, "description": spec.description, "examples": examples.get(c, []),
                 "available": True} for c, spec in wh.catalog.tables[name].columns.items()]
    lacking = wh.unavailable(name)
    return [{"name": c, "type": meta.type, "description": meta.description,
             "examples": list(meta.categories), "available": c not in lacking}
            for c, meta in VIEWS[name].columns.items()]


def _describe(wh: Any, name: str) -> dict[str, Any]:
    from workbench import access
    from workbench.catalog import activity_line, cast_failure_report, monthly_rows, other_counts, summary
    from workbench.semantic.views import VIEWS

    kind = "table" if name in wh.tables else "view"
    info = wh.catalog.tables.get(name)
    monthly = monthly_rows(wh, name)
    detail: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "flavour": wh.flavour,
        "source": info.source_system if info else ", ".join(wh.view_reads(name)),
        "description": info.description if info else VIEWS[name].description,
        **summary(wh, name),
        "activity": activity_line(monthly),
        "monthly": monthly.to_dict(orient="records"),
        "columns": _columns(wh, name, kind),
    }
    if kind == "view":
        detail["unavailable"] = sorted(wh.unavailable(name))
        detail["autre"] = other_counts(wh, name)
        detail |= _unmapped_concepts(wh, name)
    elif access.unrestricted(wh.user):  # raw values, so only for those who read every row
        detail["cast_failures"] = [vars(f) for f in cast_failure_report(wh.catalog, [name], wh.con, wh.backend_name)]
    return detail


def _unmapped_concepts(wh: Any, name: str) -> dict[str, Any]:
    """Standard OMOP: the visit concepts behind the stays typed `autre` (shown, never dropped)."""
    from workbench.semantic.omop import unmapped_visit_concepts

    if name != "stays" or wh.flavour != "omop" or "visit_occurrence" not in wh.tables or not wh.readable(name):
        return {}
    return {"autre_visit_concepts": {str(k): v for k, v in unmapped_visit_concepts(wh).items()}}


def _print_detail(detail: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()

    def say(text: str) -> None:
        console.print(text, soft_wrap=True)  # long lines wrap in the terminal, not mid-sentence by rich

    label = "Table" if detail["kind"] == "table" else "Vue canonique"
    say(f"[bold]{label} {detail['name']}[/bold] ({detail['flavour']}, source : {detail['source']})")
    say(detail["description"])
    span = f"du {detail['first_date']} au {detail['last_date']}" if detail.get("first_date") else "sans date"
    rows = f"{detail['rows']:,}".replace(",", "\u202f")
    say(f"{rows} lignes, {span}")
    if detail["activity"]:
        say(f"Volume : {detail['activity']}")
    if detail.get("unavailable"):
        say(f"Non disponible pour cette source : {', '.join(detail['unavailable'])}")
    others = {c: n for c, n in detail.get("autre", {}).items() if n}
    if others:
        say("Codes non reconnus (catégorie « autre ») : " + ", ".join(f"{c} {n}" for c, n in others.items()))
    if detail.get("autre_visit_concepts"):
        say("Concepts de visite classés « autre » : "
            + ", ".join(f"{c} ({n} visites)" for c, n in detail["autre_visit_concepts"].items()))
    for failure in detail.get("cast_failures", []):
        shown = ", ".join(f"« {v} »" for v in failure["examples"])
        say(f"Valeurs illisibles : {failure['column']} ({failure['type']}) : {failure['count']}, lues comme vides "
            f"(ex. {shown})")
    table = Table()
    for header in ("colonne", "type", "description", "exemples / valeurs"):
        table.add_column(header)
    for column in detail["columns"]:
        note = "" if column["available"] else " (non disponible)"
        table.add_row(column["name"], column["type"], column["description"] + note,
                      ", ".join(str(v) for v in column["examples"]))
    console.print(table)


@app.command("show")
def show(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Table ou vue (ex. stays).")],
         format: FormatOption = OutputFormat.table, out: OutOption = None, backend: BackendOption = None) -> None:
    """Colonnes et descriptions d'une table ou d'une vue, lignes, antériorité, volume mensuel."""
    from workbench.catalog import kind_of

    with open_warehouse(ctx, backend) as wh:
        kind_of(wh, name)
        if name not in wh.tables:
            wh.view(name)  # a view this catalogue cannot build: one clear error
        detail = _describe(wh, name)
        if format is OutputFormat.json:
            emit_json(detail, out)
        elif format is OutputFormat.table and out is None:
            _print_detail(detail)
        else:
            emit(pd.DataFrame(detail["columns"]), format, out, {**_stamp(wh), "name": name}, title=name)
    record_export(ctx, out, format, len(detail["columns"]), what=f"catalog show {name}")


def _folded(text: str) -> str:
    """Lower case without accents, so `sejour` finds « Séjours »."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _matches(catalog: Any, word: str) -> list[dict[str, Any]]:
    from workbench.semantic import mapping_for
    from workbench.semantic.views import VIEWS

    wanted = _folded(word)
    found = []

    def consider(name: str, kind: str, description: str) -> None:
        if wanted in _folded(name) or wanted in _folded(description):
            found.append({"name": name, "kind": kind, "description": description})

    for table, info in catalog.tables.items():
        consider(table, "table", info.description)
        for column, spec in info.columns.items():
            consider(f"{table}.{column}", "column", spec.description)
    mapping = mapping_for(catalog.flavour)
    for view in [v for v in VIEWS if not mapping.missing_tables(v, set(catalog.tables))]:
        consider(view, "view", VIEWS[view].description)
        for column, meta in VIEWS[view].columns.items():
            consider(f"{view}.{column}", "view_column", meta.description)
    return found


@app.command("search")
def search(ctx: typer.Context, word: Annotated[str, typer.Argument(help="Mot cherché (sans accents ni casse).")],
           format: FormatOption = OutputFormat.table, out: OutOption = None) -> None:
    """Tables, vues et colonnes dont le nom ou la description contient le mot."""
    from workbench.catalog import load_catalog

    catalog = load_catalog(ctx.obj["catalog"])
    found = _matches(catalog, word)
    if format is OutputFormat.json:
        emit_json(found, out)
    else:
        frame = pd.DataFrame(found, columns=["name", "kind", "description"])
        emit(frame, format, out, {"catalogue": str(catalog.path), "recherche": word}, title=f"« {word} »")
    record_export(ctx, out, format, len(found), what=f"catalog search {word}")


@app.command("init")
def init(
    ctx: typer.Context,
    source: Annotated[str, typer.Option("--source", help="Base DuckDB, dossier Parquet/CSV, archive .zip de CSV, "
                                        "spark:BASE ou postgresql://UTILISATEUR@HÔTE:PORT/BASE?schema=SCHÉMA "
                                        "(mot de passe : $PGPASSWORD, ~/.pgpass ou &password_file=CHEMIN).")],
    flavour: Annotated[str, typer.Option("--flavour", help="aphp ou omop.")],
    out: Annotated[Path, typer.Option("--out", help="Catalogue à écrire.")] = Path("catalog.yaml"),
) -> None:
    """Inspecter un entrepôt existant et écrire son catalogue."""
    from workbench.catalog import load_catalog, write_catalog

    require_admin(ctx, "catalog init", "lit la source sans filtre de lignes : réservée au rôle admin")
    failures = write_catalog(source, flavour, out)
    catalog = load_catalog(out)
    record_export(ctx, out, "yaml", len(catalog.tables), what="catalog init", source=str(source))
    version = f", CDM {catalog.metadata['cdm_version']}" if catalog.metadata.get("cdm_version") else ""
    typer.echo(f"{out} : {len(catalog.tables)} tables ({catalog.source_kind}, {catalog.flavour}{version})")
    for failure in failures:
        typer.echo(failure.message())
