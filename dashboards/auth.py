"""Login on the served app: Panel's basic-auth pages, with passwords checked by `workbench.access`.

`workbench serve --access access.yaml` (or an ``access.yaml`` in the current
folder) turns it on. The login form posts to ``/login``; the handler asks
``workbench.access.authenticate`` (scrypt hashes, every attempt written to the
audit log) and, on success, sets Panel's signed ``user`` cookie, so
``pn.state.user`` is the account name in every session. The pages then open
the warehouse as that user (:func:`dashboards.components.warehouse`).
"""

from __future__ import annotations

import os
from pathlib import Path

import tornado.escape
from panel.auth import BasicAuthProvider, BasicLoginHandler, _validate_next_url
from panel.io.state import state

LOGIN_TEMPLATE = Path(__file__).with_name("login.html")
ACCESS_VARIABLE = "WORKBENCH_ACCESS"
REFUSED = "Identifiant ou mot de passe incorrect."


def access_file() -> Path | None:
    """The access file of this server when login is on (set by `workbench serve`), else None."""
    value = os.environ.get("WORKBENCH_AUTH") and os.environ.get(ACCESS_VARIABLE)
    return Path(value) if value else None


class WorkbenchLoginHandler(BasicLoginHandler):
    """Panel's login page, French, checking the password through `workbench.access.authenticate`."""

    def _validate(self, username: str, password: str) -> bool:
        from workbench.access import authenticate

        return bool(username) and authenticate(username, password, access_file()) is not None

    def post(self) -> None:
        username = self.get_argument("username", "").strip()
        password = self.get_argument("password", "")
        if self._validate(username, password):
            self.set_current_user(username)
            self.redirect(_validate_next_url(self.get_cookie("next_url", state.base_url)) or "/")
        else:
            self.redirect(f"{self._login_endpoint}?error=" + tornado.escape.url_escape(REFUSED))


class WorkbenchAuthProvider(BasicAuthProvider):
    """Basic auth whose login handler checks accounts of access.yaml."""

    def __init__(self) -> None:
        super().__init__(login_template=str(LOGIN_TEMPLATE))

    @property
    def login_handler(self):  # type: ignore[override]
        WorkbenchLoginHandler._login_endpoint = self._login_endpoint
        WorkbenchLoginHandler._login_template = self._login_template
        return WorkbenchLoginHandler
