"""The Panel application served by `workbench serve`: one route per page.

Nothing is computed at import time: each route is a function Panel calls once
per browser session, and the heavy results are shared between sessions through
the results cache of ``dashboards.components`` (``RESULTS``) or ``pn.cache``; a
background thread started with the server computes the default Pilotage view.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

import panel as pn

RAW_CSS = """
.wb-kpi { border: 1px solid #d0d7de; border-radius: 6px; padding: 4px 12px; background: #fff; }
.wb-error { font-size: 1.05em; }
"""


def _extension() -> None:
    """Load Panel's front-end pieces once per process (hvplot's Bokeh backend, Tabulator)."""
    import hvplot.pandas  # noqa: F401 - registers .hvplot on DataFrames

    pn.extension("tabulator", raw_css=[RAW_CSS], loading_indicator=True, notifications=True)


PAGE_MODULES = {"catalogue": "dashboards.catalogue", "pilotage": "dashboards.pilotage", "dictionnaire": "dashboards.dictionary",
                "qualite": "dashboards.quality", "admin": "dashboards.admin"}


def _page(route: str) -> Callable[[], Any]:
    """A session's page builder; whatever fails, the visitor gets a French message, not a traceback."""

    def build() -> Any:
        from dashboards import components

        try:
            return importlib.import_module(PAGE_MODULES[route]).build()
        except Exception as error:  # noqa: BLE001 - last line of defence of one session
            return components.page(route, [components.error_alert(error, f"La page « {dict(components.PAGES)[route]} »")])

    return build


def routes() -> dict[str, Callable[[], Any]]:
    """URL slug → page builder. The root shows the catalogue, the first page."""
    return {"/": _page("catalogue"), **{route: _page(route) for route in PAGE_MODULES}}


def serve(port: int, address: str, websocket_origin: list[str], show: bool = False,
          tls: tuple[str, str] | None = None) -> None:
    """Serve every page in this process until interrupted (over HTTPS when `tls` = (certificate, key) files)."""
    import logging
    import threading

    from dashboards.components import PAGES, SITE_TITLE
    from dashboards.warmup import warm_up
    from dashboards.security import SecurityHeaders
    from workbench import audit

    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s : %(message)s"))
    logging.getLogger("workbench").addHandler(handler)
    logging.getLogger("workbench").setLevel(logging.INFO)
    _extension()
    audit.set_default_surface("dashboard")
    threading.Thread(target=audit.verify_at_start, name="wb-audit-verify", daemon=True).start()
    threading.Thread(target=warm_up, name="wb-warm-up", daemon=True).start()
    secure = {"ssl_certfile": tls[0], "ssl_keyfile": tls[1]} if tls else {}
    try:
        pn.serve(
            routes(), port=port, address=address, websocket_origin=websocket_origin, show=show,
            title={"/": SITE_TITLE, **dict(PAGES)}, transforms=[SecurityHeaders], **secure, **_login_options(),
        )
    finally:
        audit.flush_login_summaries()  # failed logins counted but not yet summarised


def _login_options() -> dict[str, Any]:
    """Panel's auth provider and a cookie secret when login is on (`workbench serve --access`).

    Sessions live in the server (``dashboards.auth.SESSIONS``): the cookie
    secret only signs Panel's own cookies, so one per process is enough.
    """
    import secrets

    from dashboards.auth import SESSION_COOKIE, WorkbenchAuthProvider, access_file

    if access_file() is None:
        return {}
    # the session id never goes into the pages' session tokens (scripts of the page can read those)
    return {"auth_provider": WorkbenchAuthProvider(), "cookie_secret": secrets.token_urlsafe(32),
            "exclude_cookies": [SESSION_COOKIE]}
