"""Login on the served app: Panel's basic-auth pages, with passwords checked by `workbench.access`.

`workbench serve --access access.yaml` (or an ``access.yaml`` in the current
folder) turns it on. The login form posts to ``/login``; the handler asks
``workbench.access.authenticate`` (scrypt hashes, every attempt written to the
audit log) and, on success, sets Panel's signed ``user`` cookie, so
``pn.state.user`` is the account name in every session. The pages then open
the warehouse as that user (:func:`dashboards.components.warehouse`).

Password guessing is slowed by :class:`LoginThrottle`: after five failures
for one account name or one client address within ten minutes, that name or
address is refused without checking the password until the window has
passed (audited as ``throttled``).
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

import tornado.escape
from panel.auth import BasicAuthProvider, BasicLoginHandler, _validate_next_url
from panel.io.state import state

LOGIN_TEMPLATE = Path(__file__).with_name("login.html")
ACCESS_VARIABLE = "WORKBENCH_ACCESS"
REFUSED = "Identifiant ou mot de passe incorrect."
THROTTLED = "Trop de tentatives : réessayez dans quelques minutes."
# The page shows only these messages, chosen by a code in the URL: text taken
# from the URL itself would let anyone show their own words (or markup) on it.
MESSAGES = {"identifiants": REFUSED, "tentatives": THROTTLED}
MAX_FAILURES = 5
WINDOW_SECONDS = 600.0


def access_file() -> Path | None:
    """The access file of this server when login is on (set by `workbench serve`), else None."""
    value = os.environ.get("WORKBENCH_AUTH") and os.environ.get(ACCESS_VARIABLE)
    return Path(value) if value else None


class LoginThrottle:
    """Recent failed logins per key (account name, client address), in memory, thread-safe.

    A key is blocked while it has `limit` failures younger than `window`
    seconds; only the last `limit` failures of a key are kept, and keys whose
    failures have all expired are dropped, so memory stays small. The server
    is one process: a restart forgets the counts, which gives a guesser one
    more round of `limit` attempts, not a bypass.
    """

    PRUNE_ABOVE = 10_000  # keys, before expired ones are swept (names sprayed by a guesser)

    def __init__(self, limit: int = MAX_FAILURES, window: float = WINDOW_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> int:
        """Failures of `key` still in the window (caller holds the lock); an expired key is dropped."""
        times = self._failures.get(key)
        while times and times[0] <= now - self.window:
            times.popleft()
        if times is not None and not times:
            del self._failures[key]
        return len(times or ())

    def blocked(self, *keys: str) -> bool:
        """True when one of the keys has reached the limit within the window."""
        now = self.clock()
        with self._lock:
            return any(self._recent(key, now) >= self.limit for key in keys)

    def failed(self, *keys: str) -> None:
        """Count one failed attempt against each key."""
        now = self.clock()
        with self._lock:
            for key in keys:
                self._failures.setdefault(key, deque(maxlen=self.limit)).append(now)
            if len(self._failures) > self.PRUNE_ABOVE:
                for key in list(self._failures):
                    self._recent(key, now)

    def clear(self, key: str) -> None:
        """Forget a key's failures (a successful login of that account)."""
        with self._lock:
            self._failures.pop(key, None)


THROTTLE = LoginThrottle()


class WorkbenchLoginHandler(BasicLoginHandler):
    """Panel's login page, French, checking the password through `workbench.access.authenticate`."""

    def get(self) -> None:
        next_url = _validate_next_url(self.get_argument("next", state.base_url))
        if next_url:
            self.set_cookie("next_url", next_url)
        message = MESSAGES.get(self.get_argument("error", ""), "")
        self.write(self._login_template.render(login_endpoint=self._login_endpoint, errormessage=message))

    def _validate(self, username: str, password: str) -> bool:
        from workbench.access import authenticate

        return bool(username) and authenticate(username, password, access_file()) is not None

    def post(self) -> None:
        from workbench import audit

        username = self.get_argument("username", "").strip()
        password = self.get_argument("password", "")
        client = self.request.remote_ip or ""
        keys = (f"name:{username}", f"client:{client}")
        if THROTTLE.blocked(*keys):
            audit.log_login(username, False, outcome="throttled", client=client)
            self._refuse("tentatives")
        elif self._validate(username, password):
            THROTTLE.clear(keys[0])
            self.set_current_user(username)
            self.redirect(_validate_next_url(self.get_cookie("next_url", state.base_url)) or "/")
        else:
            THROTTLE.failed(*keys)
            self._refuse("identifiants")

    def _refuse(self, code: str) -> None:
        self.redirect(f"{self._login_endpoint}?error=" + tornado.escape.url_escape(code))


class WorkbenchAuthProvider(BasicAuthProvider):
    """Basic auth whose login handler checks accounts of access.yaml."""

    def __init__(self) -> None:
        super().__init__(login_template=str(LOGIN_TEMPLATE))

    @property
    def login_handler(self):  # type: ignore[override]
        WorkbenchLoginHandler._login_endpoint = self._login_endpoint
        WorkbenchLoginHandler._login_template = self._login_template
        return WorkbenchLoginHandler
