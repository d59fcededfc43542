"""`workbench notebook list|new|run|kernel`: the templated notebooks from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from workbench.commands import output_path, record_export
from workbench.output import emit_json

KERNEL_REASON = "lit l'entrepôt dans un noyau Jupyter, hors périmètre et politique de diffusion : réservée au rôle admin"
ProjectOption = Annotated[
    Optional[str],
    typer.Option("--projet", help="Espace projet dont le noyau lit l'entrepôt (utilisateurs autres qu'admin ; "
                                  "défaut : votre seul projet, ou celui de --param cohorte=NOM)."),
]


def is_user(ctx: typer.Context) -> bool:
    """Whether the command runs for a logged-in user who is not admin (his kernels read only his projects)."""
    from workbench.commands import current_user

    user = current_user(ctx)
    return user is not None and user.role != "admin"


def user_project(ctx: typer.Context, name: str | None, values: dict[str, str]) -> object:  # -> Project
    """The project a user's notebook reads: --projet, else the project of ``--param cohorte=NOM`` (built on first
    use from his saved cohort, within his perimeter), else his only project."""
    from workbench import projects
    from workbench.commands import current_user, open_warehouse
    from workbench.errors import UserError

    user = current_user(ctx)
    cohort = values.pop("cohorte", "") if "cohorte" in values else ""
    if name is None and cohort:
        name = f"cohorte-{cohort.replace('@', '-v')}"
        if name not in {p.name for p in projects.list_projects(user)}:
            from workbench.access import require
            from workbench.cohorts.store import resolve_cohort

            require(user, "project.create")
            warehouse = open_warehouse(ctx)
            members, described = projects.cohort_members(warehouse, *resolve_cohort(user, cohort))
            projects.create_project(warehouse, name, members, described, progress=True)
    if name is not None:
        return projects.get_project(user, name)
    found = projects.list_projects(user)
    if len(found) != 1:
        listed = ", ".join(p.name for p in found) or "aucun (workbench project create NOM --cohort C)"
        raise UserError(f"choisissez l'espace projet du notebook avec --projet NOM (vos projets : {listed})")
    return found[0]


def kernel_sandbox(ctx: typer.Context, command: str, project: object) -> object:  # -> notebooks.Sandbox
    """The user's kernel sandbox, or an audited refusal when this process cannot start one (not root)."""
    from workbench.access import refused, require
    from workbench.commands import current_user
    from workbench.notebooks import Sandbox
    from workbench.projects import accounts, user_root

    user = current_user(ctx)
    require(user, "lab.open")
    if not accounts.running_as_root():
        from workbench.notebooks import NOT_ROOT

        raise refused(user, f"accès refusé : « workbench {command} » : {NOT_ROOT}", command=command)
    return Sandbox(user.name, user_root(user.name), getattr(project, "catalog", None))

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
        project: ProjectOption = None,
    ) -> None:
        """Créer un notebook prêt à modifier, paramètres injectés (sans l'exécuter)."""
        from workbench import notebooks

        found = notebooks.find_template(template, templates)
        values = notebooks.parse_assignments(param or [])
        catalog = ctx.obj["catalog"]
        if is_user(ctx):  # his notebook reads his project, never the warehouse
            from workbench.access import require
            from workbench.commands import current_user

            require(current_user(ctx), "lab.open")
            catalog = user_project(ctx, project, values).catalog
        path = notebooks.new(found, values, out, catalog=catalog, wiki=wiki, overwrite=force)
        record_export(ctx, path, "ipynb", 1, what=f"notebook new {template}")
        typer.echo(f"Notebook créé : {path}")

    @group.command("run")
    def run_notebook(
        ctx: typer.Context,
        template: Annotated[str, typer.Argument(help="Identifiant du modèle (voir `notebook list`).")],
        out: Annotated[Optional[Path], typer.Option(
            "--out", "-o", help="Notebook exécuté .ipynb à écrire (défaut : ./<modèle>.ipynb, remplacé s'il existe).",
            callback=output_path,
        )] = None,
        param: ParamOption = None,
        templates: TemplatesOption = None,
        wiki: WikiOption = None,
        html: Annotated[bool, typer.Option("--html", help="Écrire aussi un rapport HTML à côté.")] = False,
        project: ProjectOption = None,
    ) -> None:
        """Exécuter un modèle sans interface (papermill, noyau eds-workbench ; utilisateurs : sous leur compte
        système, sur leur espace projet)."""
        from workbench import notebooks

        found = notebooks.find_template(template, templates)
        out = out or output_path(ctx, Path(f"{found.name}.ipynb"))  # like `wiki build`'s ./site: the current folder
        values = notebooks.parse_assignments(param or [])
        catalog, sandbox = ctx.obj["catalog"], None
        if is_user(ctx):
            from workbench.access import require
            from workbench.commands import current_user

            require(current_user(ctx), "lab.open")
            chosen = user_project(ctx, project, values)
            sandbox, catalog = kernel_sandbox(ctx, "notebook run", chosen), chosen.catalog
        notebooks.validate(found, values)  # names and types first: a typo never triggers a demo build
        if sandbox is None:
            ensure_data(catalog)
        result = notebooks.run(found, values, out, catalog=catalog, wiki=wiki, html=html, sandbox=sandbox)
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
