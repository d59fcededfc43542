"""`workbench notebook list|new|run|kernel`: the templated notebooks from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from workbench.commands import output_path, record_export, require_admin
from workbench.output import emit_json

KERNEL_REASON = "lit l'entrepôt dans un noyau Jupyter, hors périmètre et politique de diffusion : réservée au rôle admin"

TemplatesOption = Annotated[
    Optional[Path],
    typer.Option(
        "--templates",
        envvar="WORKBENCH_TEMPLATES",
        help="Dossier des modèles (défaut : ./notebooks/templates, sinon ceux du paquet installé).",
    ),
]
ParamOption = Annotated[
    Optional[list[str]],
    typer.Option("--param", "-p", help="Paramètre nom=valeur (répétable ; listes séparées par des virgules)."),
]
WikiOption = Annotated[
    Optional[Path],
    typer.Option("--wiki", envvar="WORKBENCH_WIKI",
                 help="Dossier du wiki des indicateurs (défaut : ./wiki, sinon celui du paquet installé)."),
]


def ensure_data(catalog: Path) -> None:
    """Build the demo warehouse on first use, as `workbench serve` does (never touches a real catalogue)."""
    if catalog.exists():
        from workbench.commands.serve import ensure_demo

        ensure_demo(catalog)


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Notebooks modèles : lister, préparer, exécuter.", no_args_is_help=True)

    @group.command("list")
    def list_templates(
        templates: TemplatesOption = None,
        fmt: Annotated[str, typer.Option("--format", help="table ou json.")] = "table",
    ) -> None:
        """Lister les modèles, leur description et leurs paramètres."""
        from workbench.errors import UserError
        from workbench.notebooks import discover

        found = discover(templates)
        if fmt == "json":
            emit_json([t.as_dict() for t in found])
            return
        if fmt != "table":
            raise UserError(f"--format attend table ou json, reçu '{fmt}'")
        from rich.console import Console
        from rich.table import Table

        table = Table(title="Notebooks modèles")
        for column in ("modèle", "titre", "paramètres"):
            table.add_column(column)
        for template in found:
            params = ", ".join(f"{p.name}={p.default!r}" for p in template.parameters)
            table.add_row(template.name, template.title, params)
        Console().print(table)

    @group.command("new")
    def new_notebook(
        ctx: typer.Context,
        template: Annotated[str, typer.Argument(help="Identifiant du modèle (voir `notebook list`).")],
        out: Annotated[Path, typer.Option("--out", "-o", help="Notebook .ipynb à créer.", callback=output_path)],
        param: ParamOption = None,
        templates: TemplatesOption = None,
        wiki: WikiOption = None,
        force: Annotated[bool, typer.Option("--force", help="Remplacer le fichier s'il existe.")] = False,
    ) -> None:
        """Créer un notebook prêt à modifier, paramètres injectés (sans l'exécuter)."""
        from workbench import notebooks

        found = notebooks.find_template(template, templates)
        path = notebooks.new(
            found, notebooks.parse_assignments(param or []), out, catalog=ctx.obj["catalog"], wiki=wiki, overwrite=force
        )
        record_export(ctx, path, "ipynb", 1, what=f"notebook new {template}")
        typer.echo(f"Notebook créé : {path}")

    @group.command("run")
    def run_notebook(
        ctx: typer.Context,
        template: Annotated[str, typer.Argument(help="Identifiant du modèle (voir `notebook list`).")],
        out: Annotated[Optional[Path], typer.Option(
            "--out", "-o", help="Notebook exécuté .ipynb à écrire (défaut : ./<modèle>.ipynb, remplacé s'il existe).",
        )] = None,
        param: ParamOption = None,
        templates: TemplatesOption = None,
        wiki: WikiOption = None,
        html: Annotated[bool, typer.Option("--html", help="Écrire aussi un rapport HTML à côté.")] = False,
    ) -> None:
        """Exécuter un modèle sans interface (papermill, noyau eds-workbench)."""
        from workbench import notebooks

        require_admin(ctx, "notebook run", KERNEL_REASON)
        found = notebooks.find_template(template, templates)
        out = out or output_path(ctx, Path(f"{found.name}.ipynb"))  # like `wiki build`'s ./site: the current folder
        values = notebooks.parse_assignments(param or [])
        notebooks.validate(found, values)  # names and types first: a typo never triggers a demo build
        ensure_data(ctx.obj["catalog"])
        result = notebooks.run(found, values, out, catalog=ctx.obj["catalog"], wiki=wiki, html=html)
        for written in (result.notebook_path, result.html_path):
            if written:  # the outputs hold the kernel's figures: audited as handed out
                record_export(ctx, written, written.suffix.lstrip("."), 1, what=f"notebook run {template}",
                              surface="notebook", params=values)
        typer.echo(f"Notebook exécuté : {result.notebook_path}")
        if result.html_path:
            typer.echo(f"Rapport HTML : {result.html_path}")

    @group.command("kernel")
    def install_kernel() -> None:
        """Installer le noyau Jupyter « EDS Workbench » dans cet environnement."""
        from workbench.notebooks import ensure_kernel

        typer.echo(f"Noyau disponible : {ensure_kernel()}")

    app.add_typer(group, name="notebook")
