"""The `workbench` command line.

Each domain contributes its commands through a module in `workbench.commands`
exposing ``register(app)``; this module only wires global options and turns
exceptions into exit codes: 0 done, 1 user error (one line on stderr), 2 bug.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
import traceback
from pathlib import Path
from typing import Annotated, Optional

import typer

from typer._click.exceptions import ClickException  # typer 0.29 vendors click: not click's own classes

from workbench import commands
from workbench.errors import UserError

app = typer.Typer(
    name="workbench",
    help="EDS Workbench : catalogue, indicateurs, tableaux de bord et notebooks de l'entrepôt.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _global_options(
    ctx: typer.Context,
    catalog: Annotated[
        Optional[Path],
        typer.Option("--catalog", envvar="WORKBENCH_CATALOG", help="Fichier catalog.yaml (défaut : ./catalog.yaml)."),
    ] = None,
    user: Annotated[
        str | None,
        typer.Option("--utilisateur", envvar="WORKBENCH_USER",
                     help="Agir en tant que ce compte (périmètre, politique de diffusion, audit). Comptes, catalogue "
                          "et état : ceux de la configuration de déploiement ($WORKBENCH_CONFIG ou "
                          "/etc/eds-workbench/config.yaml, propriété de root). Mot de passe : $WORKBENCH_PASSWORD, "
                          "sinon demandé. Sans option : administrateur local."),
    ] = None,
    access: Annotated[
        Path | None,
        typer.Option("--access", help="Fichier des comptes (défaut : $WORKBENCH_ACCESS ou ./access.yaml)."),
    ] = None,
) -> None:
    from workbench import paths

    ctx.obj = {"catalog": paths.catalog_path(catalog), "access": access, "user": None}
    if user is not None and not ctx.resilient_parsing:
        deployment = _fixed_deployment(user, catalog, access)
        ctx.obj.update(catalog=deployment.catalog, access=deployment.access, deployment=deployment)
        ctx.obj["user"] = _login(user, deployment.access)


def _fixed_deployment(name: str, catalog: Path | None, access: Path | None):  # -> Deployment
    """The deployment's paths, made the process's; the caller's own choice, when it differs, is refused and audited.

    `catalog` holds --catalog or $WORKBENCH_CATALOG (typer merged them), `access`
    --access; $WORKBENCH_ACCESS, $WORKBENCH_STATE and $WORKBENCH_WIKI are read
    here, before the deployment replaces them.
    """
    from workbench import audit, deployment

    fixed = deployment.load_deployment()
    given = {"catalog": catalog, "access": access or _environ_path("WORKBENCH_ACCESS"),
             "state": _environ_path("WORKBENCH_STATE"), "wiki": _environ_path("WORKBENCH_WIKI")}
    wrong = deployment.mismatches(fixed, **given)
    deployment.apply(fixed, name)
    if wrong:
        listed = " ; ".join(f"{key} {value} au lieu de {expected}" for key, (value, expected) in wrong.items())
        message = (f"configuration refusée : avec --utilisateur, comptes, catalogue, état et wiki sont ceux du "
                   f"déploiement ({fixed.path}) ; reçu {listed}")
        audit.write("refused", name, reason=message, command="--utilisateur", config=str(fixed.path),
                    given={key: str(value) for key, (value, _) in wrong.items()})
        raise UserError(message)
    return fixed


def _environ_path(variable: str) -> Path | None:
    value = os.environ.get(variable)
    return Path(value) if value else None


def _password(name: str) -> str:
    """$WORKBENCH_PASSWORD, else typed at a hidden prompt when a terminal is attached."""
    password = os.environ.get("WORKBENCH_PASSWORD")
    if password is not None:
        return password
    if not sys.stdin.isatty():
        raise UserError(f"--utilisateur {name} : mot de passe requis ($WORKBENCH_PASSWORD, ou saisie dans un terminal)")
    return typer.prompt(f"Mot de passe de {name}", hide_input=True, err=True)


def _login(name: str, path: Path):  # -> UserContext
    """The user's context, checked like a login on the served app (the attempt is audited either way)."""
    from workbench.access import authenticate

    user = authenticate(name, _password(name), path)
    if user is None:
        raise UserError(f"connexion refusée : identifiant ou mot de passe incorrect ({name}, comptes de {path})")
    return user


for _module in pkgutil.iter_modules(commands.__path__):
    importlib.import_module(f"{commands.__name__}.{_module.name}").register(app)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app and map failures to exit codes."""
    from workbench import audit

    audit.set_default_surface("cli")  # `serve` switches its process to "dashboard"
    try:
        code = app(args=argv, standalone_mode=False)  # a command's `typer.Exit(n)` comes back as n here
    except UserError as error:
        typer.echo(f"Erreur : {error}", err=True)
        sys.exit(1)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except typer.Abort:
        typer.echo("Interrompu.", err=True)
        sys.exit(1)
    except ClickException as error:  # bad option or argument: the user's to fix
        error.show()
        sys.exit(1)
    except Exception as error:  # noqa: BLE001 - the last line of defence
        typer.echo(f"Erreur interne : {type(error).__name__}: {error}", err=True)
        if os.environ.get("WORKBENCH_DEBUG"):
            traceback.print_exc()
        sys.exit(2)
    if isinstance(code, int) and code:
        sys.exit(code)


if __name__ == "__main__":
    main()
