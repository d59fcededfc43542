"""`workbench indicators list|show|compute|check`: the dictionary from the command line.

The pages are read from the wiki (``--wiki``, ``$WORKBENCH_WIKI``, ``./wiki`` or the package's copy)
and computed by the engine on the catalogue's warehouse, so the figures are
the same as on the dashboards and the static site.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from workbench.commands import open_warehouse, output_path, record_export
from workbench.errors import UserError
from workbench.output import OutputFormat, emit, emit_json

WikiOption = Annotated[
    Optional[Path],
    typer.Option("--wiki", help="Dossier du wiki (défaut : $WORKBENCH_WIKI, ./wiki, sinon celui du paquet installé)."),
]
ByOption = Annotated[str, typer.Option("--by", help="Dimensions séparées par des virgules, ex. hospital,month.")]
FromOption = Annotated[Optional[str], typer.Option("--from", help="Premier mois (AAAA-MM).")]
ToOption = Annotated[Optional[str], typer.Option("--to", help="Dernier mois (AAAA-MM).")]
FilterOption = Annotated[
    Optional[list[str]],
    typer.Option("--filter", help="Filtre DIMENSION=VALEUR[,VALEUR…], répétable (ex. hospital=014)."),
]
VersionOption = Annotated[Optional[str], typer.Option("--version", help="Version de la définition à appliquer.")]


def wiki_folder(ctx: typer.Context, explicit: Path | None) -> Path:
    """The wiki: the command's --wiki, else the group's --wiki, else `paths.wiki_path`'s order."""
    from workbench import paths

    obj = ctx.obj or {}
    return paths.wiki_path(explicit or obj.get("wiki"))


def load(ctx: typer.Context, explicit: Path | None) -> Any:
    """Load the dictionary and warn (stderr) about pages that did not load."""
    from workbench.indicators.dictionary import load_dictionary

    dictionary = load_dictionary(wiki_folder(ctx, explicit))
    for error in dictionary.errors:
        typer.echo(f"Attention : {error}", err=True)
    return dictionary


def parse_by(text: str) -> tuple[str, ...]:
    """``hospital,month`` → ``("hospital", "month")``."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def parse_filters(items: list[str] | None) -> dict[str, list[str]]:
    """``["hospital=014,015", "sex=F"]`` → ``{"hospital": ["014", "015"], "sex": ["F"]}``."""
    filters: dict[str, list[str]] = {}
    for item in items or []:
        name, sep, values = item.partition("=")
        if not sep or not name.strip() or not values.strip():
            raise UserError(f"--filter : {item!r} n'a pas la forme DIMENSION=VALEUR (ex. hospital=014)")
        filters.setdefault(name.strip(), []).extend(v.strip() for v in values.split(",") if v.strip())
    return filters


def listing(dictionary: Any) -> list[dict[str, Any]]:
    """One summary row per indicator (the payload of ``list --format json``)."""
    rows = []
    for indicator_id, page in sorted(dictionary.indicators.items()):
        definition = page.definition
        rows.append({
            "id": indicator_id,
            "name": definition.name,
            "unit": definition.unit,
            "status": definition.status,
            "referent": definition.referent,
            "version": definition.version_at().version,
            "dimensions": list(definition.dimensions),
        })
    return rows


def _list(ctx: typer.Context, wiki: WikiOption = None,
          format: Annotated[OutputFormat, typer.Option("--format", help="table ou json.")] = OutputFormat.table) -> None:
    """Lister les indicateurs du dictionnaire."""
    rows = listing(load(ctx, wiki))
    if format is OutputFormat.json:
        emit_json(rows)
        return
    if format is not OutputFormat.table:
        raise UserError("--format : list accepte table ou json")
    import pandas as pd

    frame = pd.DataFrame(rows).drop(columns="dimensions") if rows else pd.DataFrame()
    emit(frame, OutputFormat.table, title="Indicateurs du dictionnaire")


def _show(ctx: typer.Context, indicator: Annotated[str, typer.Argument(help="Identifiant de l'indicateur.")],
          wiki: WikiOption = None, by: ByOption = "", start: FromOption = None, end: ToOption = None,
          filter: FilterOption = None, version: VersionOption = None) -> None:
    """Afficher la page d'un indicateur et sa valeur actuelle."""
    from workbench.wiki import terminal

    page = load(ctx, wiki).get(indicator)
    result, problem, quality = None, None, None
    try:
        warehouse = open_warehouse(ctx)
        from workbench.indicators.engine import compute
        from workbench.quality.status import quality_for_request

        request = dict(by=parse_by(by), start=start, end=end, filters=parse_filters(filter), version=version)
        result = compute(page.definition, warehouse, **request)
        quality = quality_for_request(warehouse, page.definition, **request)
    except UserError as error:
        problem = str(error)
    terminal.render(page, result, problem, quality=quality)


def _compute(ctx: typer.Context, indicator: Annotated[str, typer.Argument(help="Identifiant de l'indicateur.")],
             wiki: WikiOption = None, by: ByOption = "", start: FromOption = None, end: ToOption = None,
             filter: FilterOption = None, version: VersionOption = None,
             grain: Annotated[str, typer.Option("--grain", help="month, quarter ou year.")] = "month",
             format: Annotated[OutputFormat, typer.Option("--format", help="table, csv, json ou xlsx.")] = OutputFormat.table,
             out: Annotated[Optional[Path], typer.Option("--out", help="Fichier de sortie.", callback=output_path)] = None) -> None:
    """Calculer un indicateur (ventilations, période, filtres, version)."""
    from workbench.indicators.engine import compute

    page = load(ctx, wiki).get(indicator)
    warehouse = open_warehouse(ctx)
    filters = parse_filters(filter)
    result = compute(page.definition, warehouse, by=parse_by(by), start=start, end=end, grain=grain,
                     filters=filters, version=version)
    if result.status != "ok":
        typer.echo(f"{indicator} : {result.status} ({_missing(result)})", err=True)
    emit(result.frame, format, out, stamp=result.stamp, title=f"{page.definition.name} — version {result.version}")
    masked = int(result.frame["masked"].sum()) if "masked" in result.frame else 0
    record_export(ctx, out, format, len(result.frame), indicator=indicator, filters=filters, by=parse_by(by),
                  period=[start, end], version=result.version, masked=masked)


def _missing(result: Any) -> str:
    return "; ".join(f"{view} : {', '.join(cols)}" for view, cols in (result.missing or {}).items()) or "faits absents"


def _check(ctx: typer.Context, wiki: WikiOption = None,
           format: Annotated[OutputFormat, typer.Option("--format", help="table ou json.")] = OutputFormat.table,
           no_data: Annotated[bool, typer.Option("--sans-donnees", help="Étape a seulement (sans entrepôt).")] = False) -> None:
    """Valider le dictionnaire en trois étapes : syntaxe, noms, exécution."""
    from workbench.indicators.dictionary import load_dictionary
    from workbench.indicators.validation import STAGE_TITLES, validate

    dictionary = load_dictionary(wiki_folder(ctx, wiki))
    warehouse = None if no_data else open_warehouse(ctx)
    report = validate(dictionary, warehouse)
    if format is OutputFormat.json:
        emit_json({"ok": report.ok, "outcomes": report.to_json()})
    else:
        for stage, title in STAGE_TITLES.items():
            outcomes = report.stage(stage)
            if not outcomes:
                continue
            failed = [o for o in outcomes if not o.ok]
            typer.echo(f"\n{title} : {len(outcomes) - len(failed)}/{len(outcomes)} page(s) conforme(s)")
            for outcome in outcomes:
                mark = "ok    " if outcome.ok else "ERREUR"
                note = f" — {outcome.note}" if outcome.note else ""
                typer.echo(f"  {mark} {outcome.page}{note}")
                for error in outcome.errors:
                    typer.echo(f"         {error}")
        typer.echo("\nDictionnaire valide." if report.ok else f"\n{len(report.errors())} erreur(s).")
    if not report.ok:
        sys.stdout.flush()
        raise UserError(f"{len(report.errors())} erreur(s) dans le dictionnaire {dictionary.root}")


def register(app: typer.Typer) -> None:
    """Add the `indicators` sub-application."""
    group = typer.Typer(help="Dictionnaire des indicateurs (pages du wiki) : lister, afficher, calculer, valider.",
                        no_args_is_help=True)

    @group.callback()
    def _options(ctx: typer.Context, wiki: WikiOption = None) -> None:
        if ctx.obj is None:
            ctx.obj = {}
        ctx.obj["wiki"] = wiki

    group.command("list")(_list)
    group.command("show")(_show)
    group.command("compute")(_compute)
    group.command("check")(_check)
    app.add_typer(group, name="indicators")
