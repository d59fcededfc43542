"""`workbench cohort`: define, save, count, study the feasibility of and sample cohorts.

One typer group, `cohort`; each subcommand is a plain function registered in
:func:`register` (other issues add theirs — export, prescreen — the same way).
A cohort is given as a definition file (``.yaml``, ``.yml``, ``.json``) or as
the name of one of the user's saved cohorts (``NAME`` or ``NAME@VERSION``).
Every action asks `workbench.access.require` first (the role × action table).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from workbench.commands import current_user, open_warehouse, record_export
from workbench.errors import UserError
from workbench.output import OutputFormat, emit, emit_json

FormatOption = Annotated[OutputFormat, typer.Option("--format", help="table ou json.")]
CohortArgument = Annotated[str, typer.Argument(help="Cohorte enregistrée (NOM ou NOM@VERSION) ou fichier de définition.")]


def owner(ctx: typer.Context) -> str:
    """The name saved cohorts are filed under: the logged-in user, else the local administrator."""
    from workbench.cohorts.store import owner_of

    return owner_of(current_user(ctx))


def resolve(ctx: typer.Context, reference: str) -> tuple[Any, int | None]:
    """The definition a command works on, and its saved version (None for a file)."""
    from workbench.cohorts.store import resolve_cohort

    return resolve_cohort(current_user(ctx), reference)


def _require(ctx: typer.Context, action: str) -> None:
    from workbench.access import require

    require(current_user(ctx), action, "cli")


def _json_or_table(format: OutputFormat) -> OutputFormat:
    if format not in (OutputFormat.table, OutputFormat.json):
        raise UserError("--format : table ou json")
    return format


def _new(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Nom de la cohorte.")],
         definition: Annotated[Path, typer.Option("--definition", help="Fichier YAML ou JSON de la définition.")],
         format: FormatOption = OutputFormat.table) -> None:
    """Enregistrer une définition de cohorte (nouvelle version si ses critères ont changé)."""
    from workbench import audit
    from workbench.cohorts.definition import load_definition
    from workbench.cohorts.store import CohortStore

    _require(ctx, "cohort.create")
    _json_or_table(format)
    loaded = load_definition(definition)
    saved = CohortStore().save(owner(ctx), loaded.model_copy(update={"nom": name}))
    audit.write("cohort.save", current_user(ctx), cohort=saved.name, version=saved.version, digest=saved.digest)
    if format is OutputFormat.json:
        emit_json(saved.summary())
    else:
        typer.echo(f"Cohorte « {saved.name} » enregistrée : version {saved.version}")


def _list(ctx: typer.Context, format: FormatOption = OutputFormat.table) -> None:
    """Lister ses cohortes enregistrées (dernière version de chacune)."""
    import pandas as pd

    from workbench.cohorts.store import CohortStore

    rows = [saved.summary() for saved in CohortStore().list(owner(ctx))]
    if _json_or_table(format) is OutputFormat.json:
        emit_json(rows)
        return
    columns = ["name", "version", "created_at", "unit", "rules", "description"]
    emit(pd.DataFrame(rows, columns=columns), OutputFormat.table, title="Cohortes enregistrées")


def _show(ctx: typer.Context, cohort: CohortArgument, format: FormatOption = OutputFormat.table) -> None:
    """Afficher une définition de cohorte (YAML, ou JSON avec --format json)."""
    import yaml

    definition, version = resolve(ctx, cohort)
    data = definition.model_dump(mode="json", exclude_defaults=True)
    if _json_or_table(format) is OutputFormat.json:
        emit_json({"name": definition.nom, "version": version, "digest": definition.digest(), "definition": data})
        return
    if version is not None:
        typer.echo(f"# version {version}")
    typer.echo(yaml.safe_dump(data, allow_unicode=True, sort_keys=False).rstrip())


@contextmanager
def _steps(total: int, title: str) -> Iterator[Callable[[str], None]]:
    """A rich progress bar on stderr over the steps of long work (stdout keeps the table or the JSON)."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
               TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(title, total=total)
        started = False

        def step(name: str) -> None:
            nonlocal started
            bar.update(task, advance=1 if started else 0, description=f"{title} : {name}")
            started = True

        yield step
        bar.update(task, completed=total)


def _stamp(result: Any, version: int | None) -> dict[str, Any]:
    return {"cohorte": result.definition.nom, "version": version, "criteres": result.definition.digest(),
            "snapshot": result.snapshot_id}


def _count(ctx: typer.Context, cohort: CohortArgument, format: FormatOption = OutputFormat.table) -> None:
    """Compter une cohorte : attrition après chaque règle et règle par règle (patients, séjours)."""
    from workbench import access
    from workbench.cohorts.evaluate import evaluate
    from workbench.cohorts.feasibility import protected_attrition

    _require(ctx, "cohort.count")
    definition, version = resolve(ctx, cohort)
    warehouse = open_warehouse(ctx)
    user = warehouse.user
    if access.is_patient_level(user):
        result = evaluate(warehouse, definition)
        frame = result.attrition
    else:  # aggregates only: counted on the whole warehouse, every figure protected
        result = evaluate(warehouse.unrestricted(), definition)
        frame = protected_attrition(result, user)
    emit(frame, _json_or_table(format), stamp=_stamp(result, version),
         title=f"Attrition de la cohorte « {definition.nom} »")
    if result.empty:
        typer.echo(f"Attention : cohorte « {definition.nom} » vide", err=True)
    record_export(ctx, None, format, len(frame), what="cohort.count", cohort=definition.nom, version=version)


def _feasibility(ctx: typer.Context, cohort: CohortArgument, format: FormatOption = OutputFormat.table) -> None:
    """Faisabilité : la cohorte par hôpital × année sur tout l'entrepôt (hors périmètre : « < 10 » ou bruité)."""
    from workbench.cohorts.feasibility import STEPS, feasibility

    _require(ctx, "cohort.feasibility")
    definition, version = resolve(ctx, cohort)
    warehouse = open_warehouse(ctx)
    with _steps(len(STEPS), "Faisabilité") as step:
        frame = feasibility(warehouse, definition, progress=step)
    stamp = {"cohorte": definition.nom, "version": version, "criteres": definition.digest(),
             "snapshot": warehouse.snapshot_id}
    if _json_or_table(format) is OutputFormat.json:
        emit(frame, format, stamp=stamp)
    else:
        shown = frame.drop(columns=["outside"]).rename(columns={"perimeter": "périmètre", "outside_text": "hors périmètre"})
        emit(shown, format, stamp=stamp, title=f"Faisabilité de la cohorte « {definition.nom} »")
    record_export(ctx, None, format, len(frame), what="cohort.feasibility", cohort=definition.nom, version=version)


def _sample(ctx: typer.Context, cohort: CohortArgument,
            n: Annotated[int, typer.Option("--n", help="Taille de l'échantillon.")],
            seed: Annotated[int, typer.Option("--seed", help="Graine du tirage.")],
            strata: Annotated[Optional[str], typer.Option("--strates", help="Strates : hospital,sex,age_band.")] = None,
            format: FormatOption = OutputFormat.table) -> None:
    """Échantillonner une cohorte : mêmes patients pour la même graine et le même instantané, sur tout moteur."""
    from workbench.cohorts.evaluate import evaluate
    from workbench.cohorts.sampling import sample

    _require(ctx, "cohort.sample")
    definition, version = resolve(ctx, cohort)
    layers = [s.strip() for s in (strata or "").split(",") if s.strip()]
    result = evaluate(open_warehouse(ctx), definition)
    result.require_members()
    drawn = sample(result.members, n, seed, layers, by_stay=definition.unite == "sejours")
    stamp = {**_stamp(result, version), "graine": seed, "strates": ",".join(layers)}
    emit(drawn, _json_or_table(format), stamp=stamp, title=f"Échantillon de la cohorte « {definition.nom} »")
    record_export(ctx, None, format, len(drawn), what="cohort.sample", cohort=definition.nom, version=version,
                  seed=seed, strata=layers)


def _prescreen(ctx: typer.Context, cohort: CohortArgument,
               days: Annotated[int, typer.Option("--days", help="Patients vus dans les N derniers jours (avant la date d'extraction).")] = 30,
               format: FormatOption = OutputFormat.table) -> None:
    """Préscreening : patients de votre périmètre vus récemment, classés par critères remplis, avec leurs preuves."""
    from workbench.cohorts.prescreen import check_access, prescreen, summary

    check_access(current_user(ctx))
    definition, version = resolve(ctx, cohort)
    screened = prescreen(open_warehouse(ctx), definition, days)
    stamp = {"cohorte": definition.nom, "version": version, "criteres": definition.digest(), "snapshot": screened.snapshot_id,
             "jours": days, "depuis": screened.since.isoformat(), "jusqu_au": screened.until.isoformat()}
    if _json_or_table(format) is OutputFormat.json:
        emit_json({"metadata": stamp, "patients": screened.patients.to_dict("records"),
                   "preuves": screened.evidence.to_dict("records")})
    else:
        emit(summary(screened), format, stamp=stamp,
             title=f"Préscreening « {definition.nom} » : patients vus du {screened.since:%d/%m/%Y} au {screened.until:%d/%m/%Y}")
    record_export(ctx, None, format, len(screened.patients), what="cohort.prescreen", cohort=definition.nom,
                  version=version, days=days)


def register(app: typer.Typer) -> None:
    """Add the `cohort` group (more subcommands are registered on `group` the same way)."""
    group = typer.Typer(help="Cohortes : définir, enregistrer, compter, faisabilité, échantillon.", no_args_is_help=True)
    group.command("new")(_new)
    group.command("list")(_list)
    group.command("show")(_show)
    group.command("count")(_count)
    group.command("feasibility")(_feasibility)
    group.command("sample")(_sample)
    group.command("prescreen")(_prescreen)
    from workbench.commands.project import cohort_export  # issue 14 part 4, with the project datamarts

    group.command("export")(cohort_export)
    app.add_typer(group, name="cohort")
