"""Login, server-side sessions and live accounts of the served app (OWASP ASVS V3).

`workbench serve --access access.yaml` (or an ``access.yaml`` in the current
folder) turns login on. What this module guarantees:

- **Server-side sessions.** A successful login creates a session in the
  server's memory (:class:`SessionStore`): the browser only holds a random
  session id (cookie ``wb_session``: ``HttpOnly``, ``SameSite=Lax``, ``Secure``
  when the request came over TLS, directly or through a trusted proxy). The
  session ends at logout (revoked: replaying the old cookie shows the login
  page), after ``$WORKBENCH_SESSION_IDLE_MINUTES`` (30) minutes without a
  request or a page callback, and after ``$WORKBENCH_SESSION_MAX_HOURS`` (12)
  hours in any case. A new id is issued at every login (no fixation). The
  pages find their session by a second value, the page key (``wb_page``):
  Bokeh copies cookies into each page's session token, readable by the page's
  scripts, so the session id is excluded from those tokens.
- **CSRF.** The login form carries a token also set in a ``SameSite=Strict``
  cookie (double submit); logout is a POST whose token is the session's own.
  A GET on /logout is refused (405).
- **Throttling.** After 5 failures for one (account, client address) pair, or
  20 for one account from any address, within ten minutes, the pair (or the
  account) is refused without checking the password (audited ``throttled``).
  One address failing does not lock out the other accounts behind the same
  proxy. The client address is the TCP peer, or — only when the peer is one of
  ``$WORKBENCH_TRUSTED_PROXIES`` — the last untrusted hop of
  ``X-Forwarded-For`` (and the scheme of ``X-Forwarded-Proto``).
- **Live accounts.** :data:`ACCESS` re-reads access.yaml when its content
  hash changes (stat checked at each request): a removed account's sessions
  are revoked at once, a changed perimeter applies to the next request.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tornado.escape
import tornado.web
from panel.auth import BasicAuthProvider, BasicLoginHandler, _validate_next_url
from panel.io.state import state

LOGIN_TEMPLATE = Path(__file__).with_name("login.html")
ACCESS_VARIABLE = "WORKBENCH_ACCESS"
PROXIES_VARIABLE = "WORKBENCH_TRUSTED_PROXIES"
IDLE_VARIABLE = "WORKBENCH_SESSION_IDLE_MINUTES"
LIFETIME_VARIABLE = "WORKBENCH_SESSION_MAX_HOURS"
SESSION_COOKIE = "wb_session"
PAGE_COOKIE = "wb_page"
LOGIN_CSRF_COOKIE = "wb_login_csrf"
CSRF_FIELD = "csrf"
REFUSED = "Identifiant ou mot de passe incorrect."
THROTTLED = "Trop de tentatives : réessayez dans quelques minutes."
FORM_EXPIRED = "Formulaire expiré ou invalide : saisissez à nouveau vos identifiants."
LOGGED_OUT = "Vous êtes déconnecté."
EXPIRED = "Votre session a expiré : reconnectez-vous."
# The page shows only these messages, chosen by a code in the URL: text taken
# from the URL itself would let anyone show their own words (or markup) on it.
MESSAGES = {"identifiants": REFUSED, "tentatives": THROTTLED, "formulaire": FORM_EXPIRED, "deconnecte": LOGGED_OUT,
            "expiree": EXPIRED}
MAX_FAILURES = 5
"""Failures of one (account, address) pair before that pair is throttled."""
MAX_ACCOUNT_FAILURES = 20
"""Failures of one account, from any address, before the account is throttled (distributed guessing)."""
WINDOW_SECONDS = 600.0


def access_file() -> Path | None:
    """The access file of this server when login is on (set by `workbench serve`), else None."""
    value = os.environ.get("WORKBENCH_AUTH") and os.environ.get(ACCESS_VARIABLE)
    return Path(value) if value else None


def _minutes(variable: str, default: float) -> float:
    """A positive number of an environment variable, else `default` (a bad value stops nothing: the default holds)."""
    try:
        value = float(os.environ.get(variable, ""))
    except ValueError:
        return default
    return value if value > 0 else default


# --------------------------------------------------------------------------- client address


def trusted_proxies() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """The networks of ``$WORKBENCH_TRUSTED_PROXIES`` (comma-separated addresses or CIDR blocks)."""
    from workbench.errors import UserError

    networks = []
    for item in os.environ.get(PROXIES_VARIABLE, "").split(","):
        if item.strip():
            try:
                networks.append(ipaddress.ip_network(item.strip(), strict=False))
            except ValueError:
                raise UserError(f"{PROXIES_VARIABLE} : adresse de proxy invalide « {item.strip()} »") from None
    return networks


def _trusted(address: str, proxies: list[Any]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def client_of(request: Any) -> tuple[str, str]:
    """(client address, scheme) of a request: forwarded headers count only when the peer is a trusted proxy.

    ``X-Forwarded-For`` is read from the right (the hop the trusted proxy
    added) to the first address that is not itself a trusted proxy: the left
    part of the header is written by the client and proves nothing.
    """
    peer = request.remote_ip or ""
    proxies = trusted_proxies()
    if not _trusted(peer, proxies):
        return peer, request.protocol
    client = peer
    for hop in reversed([part.strip() for part in request.headers.get("X-Forwarded-For", "").split(",") if part.strip()]):
        client = hop
        if not _trusted(hop, proxies):
            break
    scheme = request.headers.get("X-Forwarded-Proto", request.protocol).split(",")[0].strip().lower()
    return client, scheme if scheme in ("http", "https") else request.protocol


def cookie_options(request: Any, samesite: str = "Lax") -> dict[str, Any]:
    """Flags of every cookie the app sets: HttpOnly, SameSite, and Secure when the browser talks TLS."""
    return {"httponly": True, "samesite": samesite, "secure": client_of(request)[1] == "https", "path": "/"}


# --------------------------------------------------------------------------- throttling


class LoginThrottle:
    """Recent failed logins per key, in memory, thread-safe.

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

    def clear(self, *keys: str) -> None:
        """Forget keys' failures (a successful login of that account from that address)."""
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)


PAIR_THROTTLE = LoginThrottle(MAX_FAILURES)
ACCOUNT_THROTTLE = LoginThrottle(MAX_ACCOUNT_FAILURES)


# --------------------------------------------------------------------------- sessions


@dataclass
class Session:
    """One logged-in browser: whose it is, its CSRF token and page key, when it started and was last used."""

    user: str
    csrf: str
    started: float
    seen: float
    page: str = ""


class SessionStore:
    """Server-side sessions: the cookie holds a random id, only this store knows whose it is.

    Ids are 256-bit random values, kept here by their SHA-256 (a memory dump
    does not hand out live cookies). A session is dropped at logout, after
    `idle` seconds without use and after `lifetime` seconds in any case.
    """

    def __init__(self, idle: Callable[[], float], lifetime: Callable[[], float],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.idle, self.lifetime, self.clock = idle, lifetime, clock
        self._sessions: dict[str, Session] = {}
        self._pages: dict[str, str] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(session_id: str) -> str:
        return hashlib.sha256(session_id.encode("utf-8")).hexdigest()

    def open(self, user: str) -> tuple[str, str]:
        """A new session for `user`: (session id, page key), the values of the two cookies.

        The page key identifies the session inside the pages only (Bokeh copies
        the cookies it is given into each page's session token, readable by the
        page's scripts): it never authenticates an HTTP request or a websocket,
        which need the session id, kept out of the tokens.
        """
        session_id, page = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = self.clock()
        key = self._key(session_id)
        with self._lock:
            self._sweep(now)
            self._sessions[key] = Session(user, secrets.token_urlsafe(32), now, now, page)
            self._pages[page] = key
        return session_id, page

    def _alive(self, session: Session, now: float) -> bool:
        return now - session.seen < self.idle() and now - session.started < self.lifetime()

    def _drop(self, key: str) -> Session:
        session = self._sessions.pop(key)
        self._pages.pop(session.page, None)
        return session

    def _sweep(self, now: float) -> None:
        for key in [key for key, session in self._sessions.items() if not self._alive(session, now)]:
            self._drop(key)

    def _get(self, key: str | None, touch: bool) -> Session | None:
        now = self.clock()
        with self._lock:
            session = self._sessions.get(key or "")
            if session is None:
                return None
            if not self._alive(session, now):
                self._drop(key or "")
                return None
            if touch:
                session.seen = now
            return session

    def get(self, session_id: str | None, touch: bool = True) -> Session | None:
        """The live session of an id (its use time renewed when `touch`), or None: unknown, revoked or expired."""
        return self._get(self._key(session_id), touch) if session_id else None

    def by_page(self, page: str | None, touch: bool = True) -> Session | None:
        """The live session of a page key (a page's callbacks), or None."""
        with self._lock:
            key = self._pages.get(page or "")
        return self._get(key, touch) if key else None

    def revoke(self, session_id: str | None) -> Session | None:
        """End a session (logout); returns it when it was live."""
        if not session_id:
            return None
        with self._lock:
            key = self._key(session_id)
            return self._drop(key) if key in self._sessions else None

    def keep_users(self, users: set[str]) -> list[str]:
        """Revoke the sessions of every account not in `users` (removed from access.yaml); their names."""
        with self._lock:
            gone = [key for key, session in self._sessions.items() if session.user not in users]
            return sorted({self._drop(key).user for key in gone})

    def users(self) -> set[str]:
        with self._lock:
            return {session.user for session in self._sessions.values()}


SESSIONS = SessionStore(idle=lambda: 60 * _minutes(IDLE_VARIABLE, 30), lifetime=lambda: 3600 * _minutes(LIFETIME_VARIABLE, 12))


# --------------------------------------------------------------------------- live accounts


class LiveAccess:
    """access.yaml as it is now: re-parsed when its content changes, checked (one stat) at each use.

    The stat (inode, size, mtime) decides whether to read the file; the SHA-256
    of its bytes decides whether it changed (an editor may rewrite it
    unchanged). On a change, sessions of removed accounts are revoked and the
    listeners (the pages' caches of handles) are told.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stat: tuple[str, int, int, int] | None = None
        self._digest: str | None = None
        self._access: Any = None
        self.listeners: list[Callable[[], None]] = []

    def current(self, path: Path) -> Any:
        """The parsed access file (``workbench.access.AccessFile``); a malformed edit keeps the last good one."""
        from workbench.access import load_access

        stat = path.stat()
        signature = (str(path), stat.st_ino, stat.st_size, stat.st_mtime_ns)
        with self._lock:
            if signature == self._stat and self._access is not None:
                return self._access
            data = path.read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            if digest == self._digest and self._access is not None:
                self._stat = signature
                return self._access
            try:
                access = load_access(path)
            except Exception as error:  # noqa: BLE001 - a half-written or wrong edit must not log everyone out
                if self._access is None:
                    raise
                self._stat = signature  # said once; the next edit is read again
                logging.getLogger("workbench.dashboards").warning("access.yaml modifié mais invalide, version "
                                                                  "précédente conservée : %s", error)
                return self._access
            changed = self._access is not None
            self._stat, self._digest, self._access = signature, digest, access
        if changed:
            SESSIONS.keep_users(set(access.users))
            for listener in list(self.listeners):
                listener()
        return access

    @property
    def digest(self) -> str:
        """The content hash of the last version read (part of every cache key of users' handles)."""
        return self._digest or ""


ACCESS = LiveAccess()


def session_user(session_id: str | None, touch: bool = True, page: str | None = None) -> Session | None:
    """The live session of an id (or of a page key) whose account still exists in access.yaml, else None."""
    path = access_file()
    session = SESSIONS.by_page(page, touch=touch) if page is not None else SESSIONS.get(session_id, touch=touch)
    if session is None or path is None:
        return None
    users = set(ACCESS.current(path).users)
    if session.user not in users:  # removed before this server first read the file: revoked now
        SESSIONS.keep_users(users)
        return None
    return session


# --------------------------------------------------------------------------- handlers


class WorkbenchLoginHandler(BasicLoginHandler):
    """The French login page: CSRF token, throttling, password checked by `workbench.access.authenticate`."""

    def get(self) -> None:
        next_url = _validate_next_url(self.get_argument("next", state.base_url))
        if next_url:
            self.set_cookie("next_url", next_url, **cookie_options(self.request, "Strict"))
        token = secrets.token_urlsafe(32)
        self.set_cookie(LOGIN_CSRF_COOKIE, token, **cookie_options(self.request, "Strict"))
        message = MESSAGES.get(self.get_argument("error", ""), "")
        self.write(self._login_template.render(login_endpoint=self._login_endpoint, errormessage=message,
                                               csrf_field=CSRF_FIELD, csrf_token=token))

    def _validate(self, username: str, password: str) -> bool:
        from workbench.access import authenticate

        return bool(username) and authenticate(username, password, access_file()) is not None

    def post(self) -> None:
        from workbench import audit

        expected = self.get_cookie(LOGIN_CSRF_COOKIE, "")
        sent = self.get_argument(CSRF_FIELD, "")
        if not (expected and sent and hmac.compare_digest(expected, sent)):
            self._refuse("formulaire")
            return
        username = self.get_argument("username", "").strip()
        password = self.get_argument("password", "")
        client, _ = client_of(self.request)
        account, pair = f"name:{username}", f"pair:{username}\n{client}"
        if ACCOUNT_THROTTLE.blocked(account) or PAIR_THROTTLE.blocked(pair):
            audit.log_login(username, False, outcome="throttled", client=client)
            self._refuse("tentatives")
        elif self._validate(username, password):
            ACCOUNT_THROTTLE.clear(account)
            PAIR_THROTTLE.clear(pair)
            SESSIONS.revoke(self.get_cookie(SESSION_COOKIE))  # a new id at every login: no session fixation
            session_id, page = SESSIONS.open(username)
            self.set_cookie(SESSION_COOKIE, session_id, **cookie_options(self.request))
            self.set_cookie(PAGE_COOKIE, page, **cookie_options(self.request))
            self.clear_cookie(LOGIN_CSRF_COOKIE, **cookie_options(self.request, "Strict"))
            self.redirect(_validate_next_url(self.get_cookie("next_url", state.base_url)) or "/")
        else:
            ACCOUNT_THROTTLE.failed(account)
            PAIR_THROTTLE.failed(pair)
            self._refuse("identifiants")

    def _refuse(self, code: str) -> None:
        self.redirect(f"{self._login_endpoint}?error=" + tornado.escape.url_escape(code))


class WorkbenchLogoutHandler(tornado.web.RequestHandler):
    """Logout: a POST carrying the session's CSRF token revokes the session server-side; GET is refused."""

    _login_endpoint = "/login"

    def get(self) -> None:
        raise tornado.web.HTTPError(405)

    def post(self) -> None:
        session_id = self.get_cookie(SESSION_COOKIE)
        session = SESSIONS.get(session_id, touch=False)
        sent = self.get_argument(CSRF_FIELD, "")
        if session is None:
            self._clear()
            self.redirect(f"{self._login_endpoint}?error=expiree")
            return
        if not (sent and hmac.compare_digest(session.csrf, sent)):
            raise tornado.web.HTTPError(403)
        SESSIONS.revoke(session_id)
        self._clear()
        self.redirect(f"{self._login_endpoint}?error=deconnecte")

    def _clear(self) -> None:
        for name in (SESSION_COOKIE, PAGE_COOKIE):
            self.clear_cookie(name, **cookie_options(self.request))


class WorkbenchAuthProvider(BasicAuthProvider):
    """Login against access.yaml, with the sessions of :data:`SESSIONS` instead of Panel's signed user cookie."""

    def __init__(self) -> None:
        super().__init__(login_template=str(LOGIN_TEMPLATE))

    @property
    def get_user(self):  # type: ignore[override]
        def get_user(handler: Any) -> str | None:
            session = session_user(handler.get_cookie(SESSION_COOKIE))
            return None if session is None else session.user

        return get_user

    @property
    def login_handler(self):  # type: ignore[override]
        WorkbenchLoginHandler._login_endpoint = self._login_endpoint
        WorkbenchLoginHandler._login_template = self._login_template
        return WorkbenchLoginHandler

    @property
    def logout_handler(self):  # type: ignore[override]
        WorkbenchLogoutHandler._login_endpoint = self._login_endpoint
        return WorkbenchLogoutHandler
