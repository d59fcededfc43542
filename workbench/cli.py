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
) -> None:
    from workbench import paths

    ctx.obj = {"catalog": paths.catalog_path(catalog)}


for _module in pkgutil.iter_modules(commands.__path__):
    importlib.import_module(f"{commands.__name__}.{_module.name}").register(app)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app and map failures to exit codes."""
    try:
        app(args=argv, standalone_mode=False)
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


if __name__ == "__main__":
    main()
