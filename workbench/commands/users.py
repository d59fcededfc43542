"""`workbench users add|list`: the accounts of access.yaml (passwords stored as scrypt hashes only)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from workbench.commands import require_admin
from workbench.errors import UserError
from workbench.output import OutputFormat, emit, emit_json

app = typer.Typer(help="Comptes, rôles et périmètres (access.yaml).", no_args_is_help=True)
AccessOption = Annotated[
    Optional[Path], typer.Option("--access", help="Fichier des accès (défaut : $WORKBENCH_ACCESS ou ./access.yaml).")
]


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="users")


@app.callback()
def _admin_only(ctx: typer.Context) -> None:
    require_admin(ctx, "users")


def _access_file(ctx: typer.Context, explicit: Path | None) -> Path:
    """The command's --access, else the global one, else $WORKBENCH_ACCESS or ./access.yaml."""
    from workbench.access import access_path

    return access_path(explicit or (ctx.obj or {}).get("access"))


def _password(from_stdin: bool) -> str:
    """The new password: first line of stdin, or typed twice at a hidden prompt."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Mot de passe", hide_input=True, confirmation_prompt="Confirmation")
    if not password:
        raise UserError("mot de passe vide")
    return password


@app.command("add")
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Identifiant de connexion.")],
    role: Annotated[str, typer.Option("--role", help="clinicien, analyste_dim, referent_pilotage, equipe_entrepot, admin.")],
    perimeter: Annotated[str, typer.Option("--perimeter", help="Codes d'unités séparés par des virgules (ex. 014-S03).")] = "",
    nominative: Annotated[bool, typer.Option("--nominative", help="Droit de lire l'identité des patients.")] = False,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Lire le mot de passe sur l'entrée standard.")] = False,
    access_file: AccessOption = None,
) -> None:
    """Ajouter (ou remplacer) un compte."""
    from workbench.access.model import AccessFile, empty_access, hash_password, load_access, save_access, user_entry

    path = _access_file(ctx, access_file)
    current = load_access(path) if path.is_file() else empty_access(path)
    raw = {
        "role": role,
        "perimeter": [code.strip() for code in perimeter.split(",") if code.strip()],
        "nominative": nominative,
        "password_hash": hash_password(_password(password_stdin)),
    }
    entry = user_entry(path, name, raw)
    save_access(AccessFile(path, current.policy, {**current.users, name: entry}))
    typer.echo(f"Compte « {name} » ({role}) enregistré dans {path}.", err=True)


@app.command("list")
def list_(
    ctx: typer.Context,
    format: Annotated[OutputFormat, typer.Option("--format", "-f", help="table ou json.")] = OutputFormat.table,
    access_file: AccessOption = None,
) -> None:
    """Lister les comptes (sans les empreintes de mot de passe)."""
    import pandas as pd

    from workbench.access.model import load_access

    access = load_access(_access_file(ctx, access_file))
    rows = [
        {"name": name, "role": entry.role, "perimeter": list(entry.perimeter), "nominative": entry.nominative}
        for name, entry in sorted(access.users.items())
    ]
    if format is OutputFormat.json:
        emit_json({"min_count": access.policy.min_count, "users": rows})
        return
    frame = pd.DataFrame(rows, columns=["name", "role", "perimeter", "nominative"])
    frame["perimeter"] = frame["perimeter"].map(lambda codes: ", ".join(codes) or "(tous)")
    emit(frame, format, None, {"fichier": str(access.path), "seuil": access.policy.min_count}, title="Comptes")
