"""`workbench wiki sync|build`: fetch the git-hosted wiki, publish it as static HTML."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from workbench.commands import current_user, output_path, record_export, require_admin
from workbench.errors import UserError


def _sync(
    ctx: typer.Context,
    remote: Annotated[str, typer.Option("--remote", help="Adresse du dépôt git du wiki (GitLab/GitHub).")],
    into: Annotated[Path, typer.Option("--into", help="Dossier local, hors du dépôt du projet.")],
) -> None:
    """Cloner ou mettre à jour (avance rapide) un wiki hébergé sous git."""
    from workbench.wiki.sync import sync

    require_admin(ctx, "wiki sync", "écrit un dépôt git sur le serveur : réservée au rôle admin")
    result = sync(remote, into)
    typer.echo(f"Wiki {result.action} : {result.path} (commit {result.commit[:10]})")


def _reader(ctx: typer.Context, no_policy: bool) -> Any:  # -> UserContext | None
    """Who the site reads the warehouse as: a logged-in non-admin user as themself, else a référent pilotage.

    The site is read by référents, so by default it is built under their
    disclosure policy (no cell under k); --sans-politique (admin only) reads
    as the administrator.
    """
    from workbench.wiki.site import site_user

    user = current_user(ctx)
    if user is not None and user.role != "admin":
        return user
    return None if no_policy else site_user((ctx.obj or {}).get("access"))


def _build(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="Dossier du site à produire.", callback=output_path)] = Path("site"),
    wiki: Annotated[Optional[Path], typer.Option(
        "--wiki", help="Dossier du wiki (défaut : $WORKBENCH_WIKI, ./wiki, sinon celui du paquet installé).",
    )] = None,
    no_data: Annotated[bool, typer.Option("--sans-donnees", help="Sans entrepôt : pas de tableau de valeurs.")] = False,
    no_policy: Annotated[bool, typer.Option(
        "--sans-politique",
        help="Valeurs exactes, sans la politique de diffusion du référent pilotage (site interne, à ne pas diffuser).",
    )] = False,
) -> None:
    """Produire le dictionnaire en HTML statique (ouvrable sans serveur)."""
    from workbench import paths
    from workbench.indicators.dictionary import load_dictionary
    from workbench.wiki.site import build_site

    dictionary = load_dictionary(paths.wiki_path(wiki))
    for error in dictionary.errors:
        typer.echo(f"Attention : {error}", err=True)
    if no_policy:
        require_admin(ctx, "wiki build --sans-politique", "publie des valeurs exactes : réservée au rôle admin")
    warehouse = None
    if not no_data:
        from workbench.warehouse import open as open_catalog

        try:
            warehouse = open_catalog(catalog=(ctx.obj or {}).get("catalog"), user=_reader(ctx, no_policy))
        except UserError as error:
            raise UserError(f"{error} (ou --sans-donnees pour un site sans valeurs)") from None
    from workbench import audit

    with audit.surface("site"):  # the figures of the pages are audited as served by the static site
        written = build_site(dictionary, out, warehouse)
    record_export(ctx, out, "html", len(written), what="wiki build", surface="site")
    typer.echo(f"Site écrit dans {out} : {len(written)} pages (ouvrir {out / 'index.html'})")


def register(app: typer.Typer) -> None:
    """Add the `wiki` sub-application."""
    group = typer.Typer(help="Wiki Pilote : synchronisation git et site statique.", no_args_is_help=True)
    group.command("sync")(_sync)
    group.command("build")(_build)
    app.add_typer(group, name="wiki")
