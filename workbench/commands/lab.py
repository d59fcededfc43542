"""`workbench lab`: JupyterLab on the project's kernel with the templates in a workspace."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command("lab")
    def lab(
        ctx: typer.Context,
        port: Annotated[int, typer.Option("--port", help="Port d'écoute (sur 127.0.0.1).")] = 8888,
        workspace: Annotated[
            Optional[Path],
            typer.Option("--workspace", help="Dossier de travail (défaut : .workbench/notebooks)."),
        ] = None,
        templates: Annotated[
            Optional[Path], typer.Option("--templates", envvar="WORKBENCH_TEMPLATES", help="Dossier des modèles.")
        ] = None,
        wiki: Annotated[
            Optional[Path], typer.Option("--wiki", envvar="WORKBENCH_WIKI", help="Dossier du wiki des indicateurs.")
        ] = None,
        token: Annotated[
            Optional[str], typer.Option("--token", help="Jeton d'accès (défaut : généré par Jupyter).")
        ] = None,
        browser: Annotated[bool, typer.Option("--browser/--no-browser", help="Ouvrir un navigateur.")] = False,
    ) -> None:
        """Ouvrir JupyterLab avec les modèles copiés dans un dossier de travail."""
        from workbench.commands import require_admin
        from workbench.commands.notebook import KERNEL_REASON, ensure_data
        from workbench.notebooks import lab_command, prepare_workspace

        require_admin(ctx, "lab", KERNEL_REASON)
        ensure_data(ctx.obj["catalog"])
        folder = prepare_workspace(workspace, templates, ctx.obj["catalog"], wiki)
        typer.echo(f"Dossier de travail : {folder}", err=True)
        argv, env = lab_command(folder, port, token, browser, ctx.obj["catalog"], wiki)
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(argv[0], argv, env)
