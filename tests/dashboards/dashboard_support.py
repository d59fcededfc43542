"""Starting and stopping a real `workbench serve`, shared by the browser tests and the benchmark."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[2]
ARTIFACTS = PROJECT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
BOKEH_IDLE = (
    "() => window.Bokeh !== undefined && Bokeh.documents.length > 0"
    " && Object.values(Bokeh.index).every(v => v.has_finished())"
)
SERVER_START_TIMEOUT = 180.0
"""Seconds allowed for the server to listen (imports of Panel/HoloViews, maybe a demo build)."""


def _die_with_parent() -> None:
    """Linux: the server gets SIGTERM if the test run dies before its teardown (no orphans)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def log_in(page: Any, name: str, password: str) -> None:
    """Fill and send the app's login form, which the page is showing."""
    page.locator("#username").fill(name)
    page.locator("#password").fill(password)
    page.locator("#login-submit").click()


@dataclass
class Reply:
    """One HTTP answer of the served app, as a plain client sees it."""

    status: int
    location: str
    cookies: dict[str, str]
    """Set-Cookie headers by cookie name (the whole header, flags included)."""
    body: str
    headers: dict[str, str]


def http(url: str, method: str, path: str, *, client: str = "127.0.0.1", body: dict[str, str] | None = None,
         cookies: dict[str, str] | None = None, headers: dict[str, str] | None = None,
         certificate: Path | None = None) -> Reply:
    """One request to the server from the loopback address `client` (127.0.0.0/8: each test its own addresses).

    An https `url` is checked against `certificate` (the test's self-signed one)."""
    import http.client
    import ssl
    import urllib.parse

    address = urllib.parse.urlsplit(url)
    if address.scheme == "https":
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            address.hostname, address.port, timeout=120, source_address=(client, 0),
            context=ssl.create_default_context(cafile=str(certificate)))
    else:
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=120, source_address=(client, 0))
    sent = dict(headers or {})
    if cookies:
        sent["Cookie"] = "; ".join(f"{name}={value}" for name, value in cookies.items())
    if body is not None:
        sent["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        connection.request(method, path, urllib.parse.urlencode(body) if body is not None else None, sent)
        response = connection.getresponse()
        text = response.read().decode("utf-8", "replace")
        set_cookies = {header.split("=", 1)[0]: header for header in response.headers.get_all("Set-Cookie") or []}
        return Reply(response.status, response.headers.get("Location", ""), set_cookies, text, dict(response.headers))
    finally:
        connection.close()


def cookie_value(header: str) -> str:
    """The value of a Set-Cookie header (``name=value; flags``)."""
    return header.split(";", 1)[0].split("=", 1)[1].strip('"')


def post_login(url: str, client: str, name: str, password: str, headers: dict[str, str] | None = None,
               csrf: bool = True) -> tuple[str, str | None]:
    """Send the login form as a browser does (GET the form, POST it with its CSRF token and cookie).

    Returns where the server redirects and the new session id (None when not logged in).
    """
    import re

    form = http(url, "GET", "/login", client=client, headers=headers)
    token = re.search(r'name="csrf" value="([^"]+)"', form.body).group(1)
    cookies = {"wb_login_csrf": cookie_value(form.cookies["wb_login_csrf"])} if csrf else {}
    fields = {"username": name, "password": password, **({"csrf": token} if csrf else {})}
    reply = http(url, "POST", "/login", client=client, body=fields, cookies=cookies, headers=headers)
    session = reply.cookies.get("wb_session")
    return reply.location, cookie_value(session) if session else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Server:
    """A running `workbench serve`: its URL, its own PID and what it printed."""

    url: str
    pid: int
    process: subprocess.Popen
    output: list[str] = field(default_factory=list)

    def alive(self) -> bool:
        return self.process.poll() is None


def start_server(catalog: Path, log_name: str, env: dict[str, str] | None = None, access: Path | None = None,
                 args: tuple[str, ...] = (), scheme: str = "http") -> Server:
    """Start `workbench --catalog CATALOG serve` and return once it listens.

    Without `access` the server runs with `--no-auth` (the project's own
    access.yaml would otherwise require a login); with it, `--access ACCESS`.

    Readiness is Panel's own "Launching server at" line, printed after the
    sockets are bound; a server that exits first fails the fixture with its output.
    """
    port = free_port()
    environment = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    environment.pop("WORKBENCH_CATALOG", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "workbench.cli", "--catalog", str(catalog), "serve",
         "--port", str(port), "--address", "127.0.0.1", *(["--access", str(access)] if access else ["--no-auth"]),
         *args],
        cwd=PROJECT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        preexec_fn=_die_with_parent,
    )
    server = Server(url=f"{scheme}://127.0.0.1:{port}", pid=process.pid, process=process)
    ready = threading.Event()
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / f"{log_name}.server.log"

    def pump() -> None:
        with log_path.open("w", encoding="utf-8") as log:
            for line in process.stdout:  # type: ignore[union-attr]
                server.output.append(line)
                log.write(line)
                log.flush()
                if "Launching server at" in line:
                    ready.set()
        ready.set()  # the process ended: wake the waiter, which then sees it dead

    threading.Thread(target=pump, daemon=True).start()
    if not ready.wait(SERVER_START_TIMEOUT) or not any("Launching server at" in line for line in server.output):
        stop_server(server)
        raise RuntimeError("le serveur n'a pas démarré :\n" + "".join(server.output[-40:]))
    return server


def stop_server(server: Server) -> None:
    """Stop exactly the server we started (its PID), then reap it."""
    if server.alive():
        os.kill(server.pid, signal.SIGTERM)
        try:
            server.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.kill(server.pid, signal.SIGKILL)
            server.process.wait(timeout=30)


