"""Security headers on every HTTP response of the served app (a Tornado output transform).

The app's pages are Bokeh/Panel documents: their HTML carries inline
``<script>`` blocks (the document's bootstrap) and Bokeh compiles some
callbacks with ``new Function``. The policy below is the strictest under
which every page renders and works in Chromium (tested by
tests/security/test_web.py): scripts only from this server, inline scripts
only with the response's nonce (so an injected inline handler such as
``onerror=…`` never runs even if markup slipped past the sanitiser),
``'unsafe-eval'`` because BokehJS needs it, styles inline (Bokeh sets styles
on every element), images from this server and ``data:`` URLs,
connections only back to this server (its websocket), no plugin, no ``<base>``
rewrite, forms posting only here, and no framing at all (``frame-ancestors
'none'`` and ``X-Frame-Options: DENY`` against clickjacking).
"""

from __future__ import annotations

import re
import secrets
from typing import Any

import tornado.httputil
import tornado.web

SCRIPT_TAG = re.compile(rb"<script(?=[\s>])", re.IGNORECASE)


def content_security_policy(nonce: str) -> str:
    """The Content-Security-Policy of a response whose inline scripts carry `nonce`."""
    return "; ".join([
        "default-src 'self'",
        f"script-src 'self' 'nonce-{nonce}' 'unsafe-eval'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])


HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
"""Headers every response gets besides the CSP (HSTS is added to responses sent over HTTPS)."""


class SecurityHeaders(tornado.web.OutputTransform):
    """Adds the CSP and the other security headers to every response, and the nonce to the page's own scripts.

    Only the page's server-rendered HTML gets nonces: everything the pages show
    from data reaches the browser later, through the websocket, as text that
    is sanitised (``workbench.html``) and inserted as DOM, where a ``<script>``
    never runs and an inline handler is blocked by this policy.
    """

    def __init__(self, request: tornado.httputil.HTTPServerRequest) -> None:
        super().__init__(request)
        self.request = request
        self.nonce = secrets.token_urlsafe(18)

    def transform_first_chunk(self, status_code: int, headers: tornado.httputil.HTTPHeaders, chunk: bytes,
                              finishing: bool) -> tuple[int, tornado.httputil.HTTPHeaders, bytes]:
        for name, value in HEADERS.items():
            headers[name] = value
        headers["Content-Security-Policy"] = content_security_policy(self.nonce)
        if _https(self.request):
            headers["Strict-Transport-Security"] = "max-age=31536000"
        if headers.get("Content-Type", "").startswith("text/html") and chunk:
            chunk = SCRIPT_TAG.sub(b'<script nonce="' + self.nonce.encode("ascii") + b'"', chunk)
            if "Content-Length" in headers:
                headers["Content-Length"] = str(len(chunk))
        return status_code, headers, chunk

    def transform_chunk(self, chunk: bytes, finishing: bool) -> bytes:
        return chunk


def _https(request: Any) -> bool:
    from dashboards.auth import client_of

    return client_of(request)[1] == "https"
