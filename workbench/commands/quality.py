"""`workbench quality`: run the data-quality checks, browse stored runs, write the HTML report.

`run` exits 0 whenever the checks ran, whatever their statuses, unless
`--fail-on failed` (or `error`) asks for a non-zero exit, as a CI gate would.

Who reads what is the rule of the quality page too (`workbench.quality.disclosure`):
the équipe entrepôt gets the whole warehouse's runs masked (no ids, « < k »),
a user restricted to a perimeter runs the checks on their rows, a référent
pilotage is refused.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import pandas as pd
import typer

from workbench.commands import current_user, open_warehouse, output_path, record_export, require_whole_warehouse
from workbench.output import OutputFormat, emit, emit_json

TABLE = OutputFormat.table

quality_app = typer.Typer(help="Qualité des données : contrôles, historique, rapport.", no_args_is_help=True)


class RunFormat(str, Enum):
    table = "table"
    json = "json"
    dqd = "dqd"  # the OHDSI Data Quality Dashboard's results JSON (standard OMOP sources)


class FailOn(str, Enum):
    failed = "failed"
    error = "error"


def _stored_runs_reader(ctx: typer.Context, command: str) -> None:
    """Stored runs are the whole warehouse's: refused to a user restricted to a perimeter, and to a role
    without the quality right (audited); the équipe entrepôt reads them masked (`disclose`)."""
    from workbench.quality.disclosure import QualityAccess, quality_access

    if quality_access(current_user(ctx), command=command) is QualityAccess.own_rows:
        require_whole_warehouse(ctx, command)


def _shown_frame(results: list[Any], columns: list[str]) -> pd.DataFrame:
    """The results as a table; a masked count reads « < k » (JSON keeps null with `masked`)."""
    from workbench.quality.disclosure import shown_value

    return pd.DataFrame([{name: shown_value(r, name) for name in columns} for r in results], columns=columns)


def _split(values: list[str] | None) -> list[str] | None:
    """`--checks a,b --checks c` -> [a, b, c]."""
    if not values:
        return None
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


@quality_app.command("list")
def list_checks(
    fmt: Annotated[RunFormat, typer.Option("--format", help="table ou json.")] = RunFormat.table,
) -> None:
    """Lister les contrôles déclarés (identifiant, catégorie, niveau, seuil, description)."""
    from workbench.quality import all_checks

    described = [check.describe() for check in all_checks()]
    if fmt is RunFormat.json:
        emit_json(described)
        return
    frame = pd.DataFrame(described)[["id", "category", "level", "table", "threshold", "severity", "description"]]
    emit(frame, fmt=TABLE, title=f"{len(frame)} contrôles qualité")


@quality_app.command("run")
def run(
    ctx: typer.Context,
    checks: Annotated[Optional[list[str]], typer.Option("--checks", help="Contrôles à lancer (ids séparés par des virgules ; préfixe* accepté).")] = None,
    fmt: Annotated[RunFormat, typer.Option("--format", help="table, json ou dqd (JSON de résultats de DQD).")] = RunFormat.table,
    fail_on: Annotated[Optional[FailOn], typer.Option("--fail-on", help="Code de sortie 1 si un contrôle a ce statut (failed inclut error).")] = None,
    backend: Annotated[Optional[str], typer.Option("--backend", help="duckdb ou pyspark.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Écrire le résultat dans ce fichier.", callback=output_path)] = None,
) -> None:
    """Lancer les contrôles qualité sur l'entrepôt et enregistrer le résultat."""
    from workbench.quality import run_checks
    from workbench.quality.disclosure import disclose, masked_counts, quality_source
    from workbench.quality.engine import summarise
    from workbench.quality.store import ResultStore

    selection = _split(checks)
    user = current_user(ctx)
    warehouse = open_warehouse(ctx, backend)
    version = _dqd_version(warehouse) if fmt is RunFormat.dqd else None
    source, whole = quality_source(user, warehouse, command="quality run")
    run_result = run_checks(source, selection)
    run_result.catalog = str(ctx.obj["catalog"])
    if whole:  # a run on a perimeter's rows is not a run of the warehouse: not stored
        ResultStore().save(run_result)
    result = disclose(user, run_result, command="quality run")
    if fmt is RunFormat.json:
        emit_json(result.to_json(), out)
    elif fmt is RunFormat.dqd:
        from workbench.quality.dqd import dqd_json

        emit_json(dqd_json(result, version, {"cdmSourceName": str(ctx.obj["catalog"])}), out)
    else:
        frame = _shown_frame(result.results, ["id", "category", "status", "threshold", "num_violated_rows",
                                              "num_denominator_rows", "pct_violated_rows", "execution_time_s"])
        frame["status"] = [r.status.value for r in result.results]
        emit(frame, fmt=TABLE, out=out, title=f"Exécution {result.run_id} ({result.duration_s:.1f} s)")
    record_export(ctx, out, fmt, len(result.results), what="quality run", masked=masked_counts(result))
    counts = summarise(result.results)
    typer.echo(
        f"{len(result.results)} contrôles en {result.duration_s:.1f} s : {counts['passed']} réussis, "
        f"{counts['failed']} échoués, {counts['not_applicable']} non applicables, {counts['error']} en erreur "
        f"(exécution {result.run_id}, instantané {result.snapshot_id})",
        err=True,
    )
    _exit_on(result, fail_on)


def _dqd_version(warehouse: Any) -> str:
    """The CDM version DQD's JSON is written for; a source of another flavour is refused before any check runs."""
    from workbench.errors import UserError
    from workbench.quality.context import CheckContext
    from workbench.quality.dqd import cdm_version

    version = cdm_version(CheckContext(warehouse))
    if version is None:
        raise UserError(f"--format dqd : source de saveur « {warehouse.flavour} » ; le JSON de DQD décrit les "
                        "contrôles de l'OMOP standard (catalogue --flavour omop)")
    return version


def _last_run_of(ctx: typer.Context, warehouse: Any) -> list[Any]:
    """The results of the last stored run when it is of this snapshot (its statuses join the coverage), else none."""
    from workbench.quality.store import ResultStore

    _stored_runs_reader(ctx, "quality dqd-coverage")
    store = ResultStore()
    if not store.runs():
        return []
    last = store.load()
    return last.results if last.snapshot_id == warehouse.snapshot_id else []


@quality_app.command("dqd-coverage")
def dqd_coverage(
    ctx: typer.Context,
    fmt: Annotated[RunFormat, typer.Option("--format", help="table ou json.")] = RunFormat.table,
) -> None:
    """Par type de contrôle DQD : contrôles de la spécification (version CDM, tables présentes), les nôtres et,
    si la dernière exécution enregistrée porte sur cet instantané, leurs statuts."""
    from workbench.quality.context import CheckContext
    from workbench.quality.dqd import coverage

    warehouse = open_warehouse(ctx)
    version = _dqd_version(warehouse)
    rows = coverage(CheckContext(warehouse), _last_run_of(ctx, warehouse))
    if fmt is not RunFormat.table:
        emit_json({"cdm_version": version, "check_types": rows})
        return
    ours, spec = sum(r["ours"] for r in rows), sum(r["spec_tables_present"] for r in rows)
    emit(pd.DataFrame(rows), fmt=TABLE,
         title=f"Couverture DQD, CDM {version} : {ours} contrôles pour {spec} dans la spécification "
               f"({len(rows)} types)")


def _exit_on(result, fail_on: FailOn | None) -> None:
    if fail_on is None:
        return
    statuses = {"failed", "error"} if fail_on is FailOn.failed else {"error"}
    bad = [r.id for r in result.results if r.status.value in statuses]
    if bad:
        typer.echo(f"{len(bad)} contrôle(s) au statut {' ou '.join(sorted(statuses))} : {', '.join(bad[:10])}", err=True)
        raise typer.Exit(code=1)


@quality_app.command("history")
def history(ctx: typer.Context,
            fmt: Annotated[RunFormat, typer.Option("--format", help="table ou json.")] = RunFormat.table) -> None:
    """Lister les exécutions enregistrées (la plus récente d'abord)."""
    _stored_runs_reader(ctx, "quality history")
    from workbench.quality.store import ResultStore

    runs = ResultStore().runs()
    if fmt is RunFormat.json:
        emit_json(runs)
    else:
        emit(pd.DataFrame(runs), fmt=TABLE, title="Exécutions des contrôles qualité")


@quality_app.command("compare")
def compare(
    ctx: typer.Context,
    run_id: Annotated[Optional[str], typer.Option("--run", help="Exécution à examiner (défaut : la dernière).")] = None,
    against: Annotated[Optional[str], typer.Option("--against", help="Exécution de référence (défaut : la précédente).")] = None,
    fmt: Annotated[RunFormat, typer.Option("--format", help="table ou json.")] = RunFormat.table,
    all_checks: Annotated[bool, typer.Option("--all", help="Montrer aussi les contrôles stables.")] = False,
) -> None:
    """Comparer deux exécutions : ce qui s'est amélioré ou dégradé."""
    from workbench.quality.disclosure import disclose
    from workbench.quality.store import ResultStore, compare as compare_runs

    _stored_runs_reader(ctx, "quality compare")
    store = ResultStore()
    after = disclose(current_user(ctx), store.load(run_id), command="quality compare")
    before = store.load(against) if against else store.previous(after.run_id)
    if before is not None:
        before = disclose(current_user(ctx), before, command="quality compare")
    changes = [c.to_json() for c in compare_runs(before, after) if all_checks or c.verdict != "stable"]
    if fmt is RunFormat.json:
        emit_json({"run_id": after.run_id, "against": before.run_id if before else None, "changes": changes})
    else:
        emit(pd.DataFrame(changes, columns=["id", "before", "after", "pct_before", "pct_after", "verdict"]),
             fmt=TABLE, title=f"{after.run_id} comparé à {before.run_id if before else '(aucune)'}")


@quality_app.command("violations")
def violations(
    ctx: typer.Context,
    check_id: Annotated[str, typer.Argument(help="Identifiant du contrôle.")],
    backend: Annotated[Optional[str], typer.Option("--backend", help="duckdb ou pyspark.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Fichier JSON de sortie.", callback=output_path)] = None,
) -> None:
    """La liste complète des identifiants en violation d'un contrôle."""
    from workbench.quality import violating_ids

    ids = violating_ids(open_warehouse(ctx, backend), check_id)
    emit_json({"check": check_id, "count": len(ids), "ids": ids}, out)
    record_export(ctx, out, "json", len(ids), what=f"quality violations {check_id}")


@quality_app.command("report")
def report(
    ctx: typer.Context,
    html: Annotated[Path, typer.Option("--html", help="Fichier HTML à écrire.", callback=output_path)],
    run_id: Annotated[Optional[str], typer.Option("--run", help="Exécution (défaut : la dernière).")] = None,
) -> None:
    """Écrire un rapport HTML lisible (synthèse, graphiques, évolution depuis l'exécution précédente)."""
    from workbench.quality.disclosure import disclose
    from workbench.quality.report import write_report
    from workbench.quality.store import ResultStore

    _stored_runs_reader(ctx, "quality report")
    store = ResultStore()
    user = current_user(ctx)
    current = store.load(run_id)
    previous = store.previous(current.run_id)
    shown = disclose(user, current, command="quality report")
    write_report(shown, disclose(user, previous, command="quality report") if previous is not None else None, html)
    record_export(ctx, html, "html", len(shown.results), what="quality report", run=shown.run_id)
    typer.echo(f"Rapport écrit : {html}", err=True)


def register(app: typer.Typer) -> None:
    app.add_typer(quality_app, name="quality")
