"""`workbench lab`: JupyterLab on the project's kernel with the templates in a workspace; for a user who is not
admin, under his own system account in his projects folder (`workbench.notebooks.Sandbox`)."""

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
        project: Annotated[Optional[str], typer.Option(
            "--projet", help="Espace projet lu par défaut par les noyaux (utilisateurs autres qu'admin).")] = None,
    ) -> None:
        """Ouvrir JupyterLab avec les modèles copiés dans un dossier de travail (utilisateurs autres qu'admin :
        sous leur compte système, dans leur dossier de projets, sans accès à l'entrepôt)."""
        from workbench.commands.notebook import ensure_data, is_user
        from workbench.notebooks import lab_command, prepare_workspace

        if is_user(ctx):
            _lab_as_user(ctx, port, templates, wiki, token, browser, project)
            return
        ensure_data(ctx.obj["catalog"])
        folder = prepare_workspace(workspace, templates, ctx.obj["catalog"], wiki)
        typer.echo(f"Dossier de travail : {folder}", err=True)
        argv, env = lab_command(folder, port, token, browser, ctx.obj["catalog"], wiki)
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(argv[0], argv, env)


def _lab_as_user(ctx: typer.Context, port: int, templates: Optional[Path], wiki: Optional[Path],
                 token: Optional[str], browser: bool, project: Optional[str]) -> None:
    """JupyterLab under the user's system account, rooted at his projects folder; kernels read his projects only.

    A child running as the account copies the templates into ``<his projects>/notebooks/modeles`` (root never
    writes in his folder), then this process becomes the account and execs JupyterLab; the kernels' default catalogue is the chosen project's (--projet, else his only project, else none: `workbench.open(catalog=…)` in the notebook).
    """
    from workbench import projects
    from workbench.access import require
    from workbench.commands import current_user
    from workbench.commands.notebook import kernel_sandbox, user_project
    from workbench.notebooks import lab_environment, lab_command
    from workbench.projects import accounts

    user = current_user(ctx)
    require(user, "lab.open")
    chosen = (user_project(ctx, project, {}) if project is not None or len(projects.list_projects(user)) == 1
              else None)
    sandbox = kernel_sandbox(ctx, "lab", chosen)
    catalog = getattr(chosen, "catalog", None)
    folder = sandbox.work_folder()  # kernelspec and runtime files, outside his folder
    accounts.hand_over(folder, sandbox.account)
    argv, _ = lab_command(sandbox.home, port, token, browser, catalog, wiki)
    argv = [sandbox.python, *[a for a in argv[1:] if a != "--allow-root"]]
    env = lab_environment(sandbox, folder)
    sandbox.prepare_workspace(sandbox.home / "notebooks", templates, catalog, wiki)  # as the account
    typer.echo(f"Dossier de travail : {sandbox.home} (compte {sandbox.account.name})", err=True)
    sandbox.demote()
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(argv[0], argv, env)
