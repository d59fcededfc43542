"""`workbench demo`: build the synthetic AP-HP-flavoured demo warehouse."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Optional

import typer

from workbench.errors import UserError


def _extraction_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as error:
        raise UserError(f"--extraction-date {text} : date invalide (format attendu AAAA-MM-JJ)") from error


def _summary(database: Path) -> str:
    """A short French summary: where, which snapshot, rows per table."""
    import duckdb

    from workbench.demo.writer import schema

    with duckdb.connect(str(database), read_only=True) as con:
        snapshot, n_patients, seed = con.execute("SELECT snapshot_id, n_patients, seed FROM _metadata").fetchone()
        counts = {table: con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] for table in schema()}
    width = max(len(table) for table in counts)
    lines = [f"Entrepôt de démonstration écrit dans {database.parent} ({n_patients} patients, graine {seed}, instantané {snapshot})"]
    lines += [f"  {table:<{width}}  {count:>12,}".replace(",", " ") for table, count in counts.items()]
    return "\n".join(lines)


def demo(
    ctx: typer.Context,
    patients: Annotated[int, typer.Option("--patients", help="Nombre de patients à générer.")] = 20_000,
    seed: Annotated[int, typer.Option("--seed", help="Graine du générateur (même graine, même entrepôt).")] = 42,
    out: Annotated[Path, typer.Option("--out", help="Dossier de sortie (eds.duckdb, parquet/, flaws.json, notes_truth.json, catalog.yaml).")] = Path("data"),
    vocab: Annotated[Optional[Path], typer.Option("--vocab", envvar="WORKBENCH_VOCAB", help="Dossier des nomenclatures (CIM-10, CCAM, UCD).")] = None,
    extraction_date: Annotated[str, typer.Option("--extraction-date", help="Date d'extraction AAAA-MM-JJ (le « maintenant » de l'entrepôt).")] = "2026-10-31",
) -> None:
    """Construit l'entrepôt de démonstration synthétique (format AP-HP), avec ses défauts documentés."""
    from workbench.commands import record_export, require_admin
    from workbench.demo import build_demo

    require_admin(ctx, "demo", "écrit un entrepôt et son catalogue sur le serveur : réservée au rôle admin")

    database = build_demo(out, patients=patients, seed=seed, vocab=vocab, extraction_date=_extraction_date(extraction_date), progress=True)
    record_export(ctx, database, "duckdb", patients, what="demo", seed=seed)
    typer.echo(_summary(database))


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
