"""`workbench serve`: build the demo warehouse if needed, then serve the Panel app.

The server runs in this very process (``panel.serve``), so the PID a test or a
supervisor records is the server's own, and stopping it stops everything.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from workbench.errors import UserError


def _catalog_document(catalog: Path) -> dict[str, Any]:
    """The catalogue's YAML, read without opening the warehouse (whose file may not exist yet)."""
    import yaml

    if not catalog.is_file():
        raise UserError(f"catalogue introuvable : {catalog}")
    try:
        document = yaml.safe_load(catalog.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise UserError(f"{catalog.name} : YAML illisible ({error})") from None
    if not isinstance(document, dict):
        raise UserError(f"{catalog.name} : le catalogue doit être un dictionnaire YAML")
    return document


def demo_database(catalog: Path) -> Path | None:
    """The DuckDB file of a demo catalogue, or None when the catalogue is not a demo one."""
    from workbench.catalog import resolve_location

    document = _catalog_document(catalog)
    metadata = document.get("metadata") or {}
    if not (isinstance(metadata, dict) and metadata.get("demo")):
        return None
    for key, data in (document.get("data") or {}).items():
        url = ((data or {}).get("kwargs") or {}).get("url")
        if isinstance(url, str) and url.endswith(".duckdb"):
            return Path(resolve_location(url, catalog.parent))
    raise UserError(f"{catalog.name} : catalogue de démonstration sans fichier DuckDB (clé « data.*.kwargs.url »)")


def ensure_demo(catalog: Path) -> bool:
    """Build the demo warehouse when the catalogue is a demo one and its file is missing.

    Returns True when a build happened. A real (non-demo) catalogue is never
    touched: a missing file there is reported by the app, not silently replaced.
    """
    database = demo_database(catalog)
    if database is None or database.exists():
        return False
    from workbench.demo import build_demo

    typer.echo(f"Entrepôt de démonstration absent : construction dans {database.parent} …", err=True)
    build_demo(database.parent)
    return True


def configure_login(access: Path | None, no_auth: bool) -> Path | None:
    """Turn login on (the access file, validated now) or off, for the app read through the environment."""
    from workbench.access import access_path, load_access

    os.environ.pop("WORKBENCH_AUTH", None)
    if no_auth:
        return None
    path = access_path(access)
    if not path.is_file():
        if access is not None:
            raise UserError(f"fichier des comptes introuvable : {access}")
        return None
    load_access(path)  # a malformed file stops the server now, with the entry named
    os.environ["WORKBENCH_ACCESS"] = str(path.resolve())
    os.environ["WORKBENCH_AUTH"] = "1"
    typer.echo(f"Connexion exigée : comptes de {path}", err=True)
    return path


def configure_transport(cert: Path | None, key: Path | None, proxies: list[str] | None) -> tuple[str, str] | None:
    """Check the TLS files and the trusted proxies now (a clear error before serving); the TLS pair, if any."""
    from dashboards.auth import PROXIES_VARIABLE, trusted_proxies

    if proxies:
        os.environ[PROXIES_VARIABLE] = ",".join(proxies)
    trusted_proxies()  # a malformed address stops the server now, named
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise UserError("--tls-cert et --tls-key vont ensemble : donnez le certificat et sa clé")
    for path in (cert, key):
        if not path.is_file():
            raise UserError(f"fichier TLS introuvable : {path}")
    return str(cert.resolve()), str(key.resolve())


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        ctx: typer.Context,
        port: Annotated[int, typer.Option("--port", help="Port d'écoute.")] = 5006,
        address: Annotated[str, typer.Option("--address", help="Adresse d'écoute.")] = "127.0.0.1",
        allow_origin: Annotated[
            list[str] | None,
            typer.Option("--allow-websocket-origin", help="Origine autorisée en plus de ADRESSE:PORT (répétable)."),
        ] = None,
        show: Annotated[bool, typer.Option("--show/--no-show", help="Ouvrir un navigateur.")] = False,
        access: Annotated[
            Path | None,
            typer.Option("--access", help="Fichier des comptes (access.yaml) : connexion exigée. Défaut : $WORKBENCH_ACCESS ou ./access.yaml s'il existe."),
        ] = None,
        no_auth: Annotated[bool, typer.Option("--no-auth", help="Servir sans connexion (tests, poste personnel).")] = False,
        tls_cert: Annotated[Path | None, typer.Option("--tls-cert", help="Certificat TLS (PEM) : servir en HTTPS (cookies « Secure »).")] = None,
        tls_key: Annotated[Path | None, typer.Option("--tls-key", help="Clé privée TLS (PEM) du certificat.")] = None,
        trusted_proxy: Annotated[
            list[str] | None,
            typer.Option("--proxy-de-confiance", help="Adresse ou réseau (CIDR) d'un proxy dont les en-têtes X-Forwarded-* sont crus (répétable). Défaut : $WORKBENCH_TRUSTED_PROXIES."),
        ] = None,
    ) -> None:
        """Servir les tableaux de bord (catalogue, pilotage, dictionnaire, qualité), avec connexion si un access.yaml existe."""
        from workbench.commands import require_admin

        require_admin(ctx, "serve")  # the server runs with the service's rights; its users log in on its pages
        catalog = Path(ctx.obj["catalog"]).resolve()
        configure_login(access or ctx.obj.get("access"), no_auth)
        ensure_demo(catalog)
        # The app reads its catalogue from the environment, as under `panel serve`.
        os.environ["WORKBENCH_CATALOG"] = str(catalog)
        from dashboards.app import serve as serve_app

        origins = [f"{address}:{port}", f"localhost:{port}", *(allow_origin or [])]
        serve_app(port=port, address=address, websocket_origin=origins, show=show,
                  tls=configure_transport(tls_cert, tls_key, trusted_proxy))
