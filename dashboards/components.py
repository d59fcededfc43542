"""Pieces shared by every page: the warehouse handle, the template, errors, downloads.

Pages never open connections themselves: they ask :func:`warehouse` for the one
shared, read-only handle of the process, so every query of every session goes
through the same ``Warehouse.execute``.
"""

from __future__ import annotations

import functools
import html
import io
import logging
import os
import tempfile
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import pandas as pd
import panel as pn
import param

from workbench import paths
from workbench.cache import OnceCache
from workbench.errors import UserError
from workbench.html import sanitize
from workbench.periods import last_day, month_start

log = logging.getLogger("workbench.dashboards")

SITE_TITLE = "EDS Workbench"

PAGES: tuple[tuple[str, str], ...] = (
    ("catalogue", "Catalogue"),
    ("pilotage", "Pilotage"),
    ("dictionnaire", "Dictionnaire des indicateurs"),
    ("qualite", "Qualité des données"),
    ("admin", "Administration"),
)
"""(route, French title) of each page, in the order of the navigation menu."""


def catalog_path() -> Path:
    """The catalogue this server serves (``$WORKBENCH_CATALOG``, set by `workbench serve`)."""
    return paths.catalog_path().resolve()


def wiki_path() -> Path:
    """The wiki folder: ``$WORKBENCH_WIKI``, ``./wiki``, ``wiki/`` beside the catalogue, else the package's."""
    return paths.wiki_path(near=catalog_path().parent)


def templates_path() -> Path:
    """The notebook templates: ``$WORKBENCH_TEMPLATES``, ``./notebooks/templates``, else the package's."""
    return paths.templates_path()


def notebook_download(template: str, values: Mapping[str, Any]) -> io.BytesIO:
    """A parameterised, unexecuted .ipynb of `template` reproducing a view (``workbench.notebooks.notebook_for``)."""
    from workbench.notebooks import notebook_for

    text = notebook_for(template, values, catalog=catalog_path(), wiki=wiki_path(), templates=templates_path())
    return io.BytesIO(text.encode("utf-8"))


def current_user() -> Any | None:
    """The logged-in user's context (role, perimeter) from access.yaml as it is now; None when login is off.

    The session is the server's (``dashboards.auth.SESSIONS``), found by the
    session cookie of the page's request and renewed by this call (a page in
    use does not expire); access.yaml is re-read when its content changed, so
    a perimeter edited while serving applies to the next request and a removed
    account is refused at once.
    """
    from dashboards import auth

    path = auth.access_file()
    if path is None:
        return None
    session = auth.session_user(None, page=(pn.state.cookies or {}).get(auth.PAGE_COOKIE, ""))
    if session is None:
        raise UserError("session expirée, fermée ou compte retiré : reconnectez-vous")
    from workbench.access import user_context

    access = auth.ACCESS.current(path)
    return user_context(session.user, access.users[session.user], access)


def policy() -> str:
    """What every cache of results includes: the user's role, perimeter and rights ('' without login)."""
    from workbench.access import policy_key

    user = current_user()
    return "" if user is None else policy_key(user)


@functools.lru_cache(maxsize=8)
def _database_file(catalog: str, catalog_stamp: int) -> str | None:
    """The DuckDB file of a catalogue (None for Parquet, CSV or Spark sources), read once per catalogue version."""
    from workbench.catalog import load_catalog

    loaded = load_catalog(Path(catalog))
    return next(iter(set(loaded.locations.values()))) if loaded.source_kind == "duckdb" else None


def data_generation() -> tuple[Any, ...]:
    """Which version of the warehouse file is in place now: (inode, size, mtime) of the DuckDB file, else ().

    Checked (one stat) at each request: a file replaced by a new snapshot
    changes it, and every user's next request opens the new snapshot.
    """
    catalog = catalog_path()
    database = _database_file(str(catalog), catalog.stat().st_mtime_ns)
    if database is None:
        return ()
    try:
        stat = os.stat(database)
    except FileNotFoundError:
        return ("absent",)
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns)


class Handles:
    """The warehouse handles of the process: one per (snapshot file version, user and rights), swapped together.

    When the file version changes, every handle of the old version is dropped
    at once (their connection closes when the last query running on it ends),
    so all users read the new snapshot from their next request; when
    access.yaml changes, every handle is dropped, so a changed perimeter gets
    a new, correctly filtered handle.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._handles: dict[tuple[Any, ...], Any] = {}
        self._generation: tuple[Any, ...] | None = None

    def get(self, catalog: Path, generation: tuple[Any, ...], user: Any) -> Any:
        from workbench.access import policy_key
        from workbench.warehouse import open as open_warehouse

        key = (str(catalog), None if user is None else (user.name, policy_key(user)))
        with self._lock:
            if generation != self._generation:
                self._handles.clear()
                self._generation = generation
            handle = self._handles.get(key)
        if handle is None:  # opened outside the lock; a failure is not cached (a file that appears later is found)
            handle = open_warehouse(catalog=catalog, user=user)
            with self._lock:
                if generation == self._generation:
                    handle = self._handles.setdefault(key, handle)
        return handle

    def clear(self) -> None:
        with self._lock:
            self._handles.clear()


HANDLES = Handles()


def _access_changed() -> None:
    HANDLES.clear()


def warehouse() -> Any:
    """The warehouse handle of the current user (opened once per user, rights and snapshot; shared by their sessions).

    Without login, one handle serves everyone. Opening failures are not cached,
    so a warehouse file that appears later is picked up by the next session
    without restarting the server.
    """
    from dashboards import auth

    if _access_changed not in auth.ACCESS.listeners:
        auth.ACCESS.listeners.append(_access_changed)
    user = current_user()
    return HANDLES.get(catalog_path(), data_generation(), user)


class SanitisedMarkdown:
    """Mixin of Markdown panes: the HTML Panel renders from the Markdown goes through `workbench.html.sanitize`.

    Wiki pages, definitions, names and messages hold text written by others;
    Panel's renderer lets raw HTML through, so the rendered HTML is cleaned
    before it reaches the browser, at creation and at every update.
    """

    def _transform_object(self, obj: Any) -> dict[str, Any]:
        rendered = super()._transform_object(obj)  # type: ignore[misc]
        return dict(object=html.escape(sanitize(html.unescape(rendered["object"]))))


class Markdown(SanitisedMarkdown, pn.pane.Markdown):
    """``pn.pane.Markdown`` whose HTML is sanitised: the Markdown pane of every page."""


class Alert(SanitisedMarkdown, pn.pane.Alert):
    """``pn.pane.Alert`` whose HTML is sanitised (messages may quote values from data or links)."""


class HTML(pn.pane.HTML):
    """``pn.pane.HTML`` sanitised by `workbench.html.sanitize`: the HTML pane of every page."""

    sanitize_html = param.Boolean(default=True)
    sanitize_hook = param.Callable(default=sanitize)


def error_message(error: BaseException) -> str:
    """One French sentence for the page; the traceback goes to the server log only."""
    if isinstance(error, UserError):
        return str(error)
    if isinstance(error, (FileNotFoundError, PermissionError, OSError)):
        return f"l'entrepôt de données est inaccessible ({error})"
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return f"la requête a échoué ({type(error).__name__} : {text})"


def error_alert(error: BaseException, what: str = "Cette vue") -> pn.pane.Alert:
    """The French error panel shown in place of a figure whose query failed."""
    log.error("%s : %s\n%s", what, error, traceback.format_exc())
    return Alert(
        f"**{what} n'a pas pu être affichée** : {error_message(error)}.\n\n"
        "Les autres pages restent disponibles ; réessayez plus tard ou contactez l'équipe de l'entrepôt.",
        alert_type="danger",
        css_classes=["wb-error"],
        sizing_mode="stretch_width",
    )


def guarded(what: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a view builder so that any failure becomes a French error panel.

    One session's failing query must never take the server (or other sessions) down.
    """

    def decorate(builder: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(builder)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return builder(*args, **kwargs)
            except Exception as error:  # noqa: BLE001 - shown to the user, logged in full
                return error_alert(error, what)

        return wrapper

    return decorate


DATA_UPDATED = ("**Données mises à jour** : un nouvel instantané de l'entrepôt est en place. "
                "Rechargez la page pour voir les chiffres à jour.")
CHECK_SECONDS = 5
"""How often an open page checks whether the warehouse file was replaced (one stat)."""


def page(route: str, main: list[Any], sidebar: list[Any] | None = None) -> pn.template.BaseTemplate:
    """The common template: site title, navigation menu, the page's own sidebar and body.

    Every page also carries the « données mises à jour » notice, shown when the
    warehouse file is replaced while the page is open.
    """
    title = dict(PAGES)[route]
    links = "\n".join(
        f"- {'**' if slug == route else ''}[{label}](/{slug}){'**' if slug == route else ''}" for slug, label in PAGES
    )
    navigation = [Markdown(f"### Pages\n{links}", css_classes=["wb-nav"])]
    account = _account()
    if account is not None:
        navigation.append(account)
    # Bootstrap rather than Fast: Fast's design fetches a Google font, unreachable on a closed hospital network.
    template = pn.template.BootstrapTemplate(
        title=f"{SITE_TITLE} — {title}",
        sidebar=[*navigation, *(sidebar or [])],
        main=[_update_notice(), *main],
        header_background="#0063af",
        sidebar_width=330,
    )
    return template


def _update_notice() -> pn.pane.Alert:
    """A hidden notice that a periodic check (one stat every few seconds) shows once the warehouse file changes."""
    notice = Alert(DATA_UPDATED, alert_type="info", visible=False, css_classes=["wb-data-updated"],
                   sizing_mode="stretch_width")
    try:
        opened = data_generation()
    except Exception:  # noqa: BLE001 - no catalogue: the page says so itself; nothing to watch
        return notice

    def check() -> None:
        try:
            changed = data_generation() != opened
        except Exception:  # noqa: BLE001 - a file being replaced: look again at the next tick
            return
        if changed and not notice.visible:
            notice.visible = True

    if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
        pn.state.add_periodic_callback(check, period=CHECK_SECONDS * 1000)
    return notice


def _account() -> pn.pane.HTML | None:
    """'Connecté : name (role)' and the logout button (a POST carrying the session's CSRF token), when login is on.

    Built from escaped values only (the markup is the app's own: a form,
    which the sanitiser of data strings would rightly remove).
    """
    from dashboards import auth

    try:
        user = current_user()
    except UserError:
        return None
    if user is None:
        return None
    session = auth.SESSIONS.by_page((pn.state.cookies or {}).get(auth.PAGE_COOKIE), touch=False)
    perimeter = ", ".join(sorted(user.perimeter)) or "tout l'entrepôt"
    escape = html.escape
    form = ("" if session is None else
            f'<form class="wb-logout" method="post" action="/logout">'
            f'<input type="hidden" name="{auth.CSRF_FIELD}" value="{escape(session.csrf)}">'
            '<button type="submit" class="wb-logout-button">Se déconnecter</button></form>')
    return pn.pane.HTML(
        f"<p><b>Connecté</b> : <span class='wb-user'>{escape(user.name)}</span> ({escape(user.role)}, "
        f"périmètre : {escape(perimeter)})</p>{form}", css_classes=["wb-account"], sizing_mode="stretch_width")


def stamped_csv(frame: pd.DataFrame, stamp: Mapping[str, Any]) -> io.BytesIO:
    """CSV bytes in exactly the CLI's format (``# key: value`` lines, then the table)."""
    from workbench.output import OutputFormat, emit

    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "export.csv"
        emit(frame, OutputFormat.csv, out=target, stamp=stamp)
        return io.BytesIO(target.read_bytes())


def stamped_xlsx(frame: pd.DataFrame, stamp: Mapping[str, Any]) -> io.BytesIO:
    """XLSX bytes in the CLI's format (data sheet plus a 'Métadonnées' sheet)."""
    from workbench.output import write_xlsx

    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "export.xlsx"
        write_xlsx(frame, target, stamp)
        return io.BytesIO(target.read_bytes())


def download(result: Any, kind: str, user: Any, filters: Mapping[str, Sequence[str]]) -> io.BytesIO:
    """The bytes of a download button (CSV or XLSX) for an engine result, written to the audit log when login is on."""
    frame = result.frame
    data = stamped_csv(frame, result.stamp) if kind == "csv" else stamped_xlsx(frame, result.stamp)
    if user is not None:
        from workbench import audit

        audit.export(user, indicator=result.indicator_id, format=kind, rows=len(frame), filters=filters,
                     surface="dashboard", period=result.stamp.get("periode"),
                     masked=int(frame["masked"].sum()) if "masked" in frame else 0)
    return data


def french_number(value: Any, digits: int = 0) -> str:
    """A number the French way (thin space thousands, comma decimals); '—' when missing."""
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return "—"
    text = f"{float(value):,.{digits}f}"
    return text.replace(",", "\u202f").replace(".", ",")


def dictionary() -> Any:
    """The loaded wiki dictionary, shared by every session (read once per process)."""
    from workbench.indicators.dictionary import load_dictionary

    return pn.state.as_cached(f"dictionary:{wiki_path()}", load_dictionary, wiki=wiki_path())


def _frozen_filters(filters: Mapping[str, Any]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Filters as a hashable, order-independent key; empty selections mean 'no filter'."""
    items = []
    for dimension, members in sorted(filters.items()):
        if members in (None, "", [], ()):
            continue
        values = (members,) if isinstance(members, str) else tuple(members)
        items.append((dimension, tuple(sorted(str(v) for v in values))))
    return tuple(items)


@dataclass(frozen=True)
class Scope:
    """Who asks and on what: captured on the session's thread, so a worker thread can compute for it.

    ``pn.state`` knows the current user only on the thread that runs the
    session's callbacks; the figures are computed on worker threads, which get
    the user's warehouse handle and the policy key of the caches from here.
    """

    catalog: str
    policy: str
    warehouse: Any
    dictionary: Any

    @property
    def snapshot(self) -> str:
        return str(self.warehouse.snapshot_id)


def session_scope() -> Scope:
    """The scope of the current session (call it from the session's own callbacks)."""
    return Scope(str(catalog_path()), policy(), warehouse(), dictionary())


WORKERS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="wb-worker")
"""Threads computing the pages' heavy results; DuckDB releases the GIL while it runs a query."""

RESULTS = OnceCache(1024)
"""Engine results and quality badges of every session, keyed by the whole request, the user's policy and the snapshot."""


def indicator_result(
    indicator: str,
    by: tuple[str, ...] = (),
    start: str | None = None,
    end: str | None = None,
    grain: str = "month",
    filters: Mapping[str, Any] | None = None,
    scope: Scope | None = None,
) -> Any:
    """The engine's result for this request, computed once across sessions.

    The snapshot id is part of the key, so a rebuilt warehouse never serves stale figures.
    """
    from workbench.indicators.engine import compute

    scope = scope or session_scope()
    frozen = _frozen_filters(filters or {})
    key = ("result", scope.catalog, scope.policy, scope.snapshot, indicator, tuple(by), start, end, grain, frozen)
    return served(key, lambda: compute(
        scope.dictionary.get(indicator).definition, scope.warehouse, by=by, start=start, end=end, grain=grain,
        filters={dimension: list(members) for dimension, members in frozen},
    ), scope, "indicator", lambda result: {
        "indicator": indicator, "by": list(by), "filters": dict(frozen), "period": f"{start}/{end}", "grain": grain,
        "cells": len(result.frame), "masked": int(result.frame["masked"].sum()) if "masked" in result.frame else 0,
    })


def served(key: Any, compute: Callable[[], Any], scope: Scope, event: str,
           describe: Callable[[Any], Mapping[str, Any]]) -> Any:
    """`RESULTS.get` for figures handed to a user: a value served from the cache writes its own audit line
    (`event`, under the session's user, with `cache: true`, the snapshot and `describe(value)`), since
    only its first computation went through the engine's audit."""
    value, computed = RESULTS.lookup(key, compute)
    if not computed:
        from workbench import audit

        audit.write(event, scope.warehouse.user, snapshot=scope.snapshot, cache=True, **describe(value))
    return value


def _decode(text: str, current: Any) -> Any:
    """A query-string value back into the widget's type (lists are comma-separated)."""
    if isinstance(current, (list, tuple)):
        return [item for item in text.split(",") if item]
    if isinstance(current, bool):
        return text.lower() in ("1", "true", "oui")
    if isinstance(current, int):
        return int(text)
    return text


def _encode(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(str(item) for item in value)
    return "" if value is None else str(value)


def _offered(owner: Any, value: Any) -> bool:
    """Whether a choice widget offers `value` (every item of a list); other widgets accept anything."""
    options = getattr(owner, "options", None)
    if options is None:
        return True
    offered = set(options.values()) if isinstance(options, dict) else set(options)
    return all(item in offered for item in value) if isinstance(value, list) else value in offered


def sync_url(bindings: list[tuple[Any, str, str]], refused: Callable[[str, str], None] | None = None) -> None:
    """Mirror widget parameters in the query string, so a copied link reopens the same view.

    `bindings` are ``(widget, parameter, key)`` in restore order (parents of a
    cascade before their children). Values stay strings: Panel's own
    ``location.sync`` turns a care-site code such as ``047`` into the number 47.
    A value the widget does not offer (an unknown code in an old link, a care
    site outside the user's perimeter) is ignored and passed to `refused`.
    """
    from urllib.parse import parse_qs, urlencode

    location = pn.state.location
    if location is None:
        return
    query = {key: values[-1] for key, values in parse_qs((location.search or "").lstrip("?")).items()}
    for owner, parameter, key in bindings:
        if key not in query:
            continue
        try:
            value = _decode(query[key], getattr(owner, parameter))
            if not _offered(owner, value):
                raise ValueError("valeur non proposée")
            setattr(owner, parameter, value)
        except Exception as error:  # noqa: BLE001 - a stale or crafted link must still open the page
            log.warning("paramètre d'URL ignoré %s=%r : %s", key, query[key], error)
            if refused is not None:
                refused(key, query[key])

    def write(*_: Any) -> None:
        values = {key: _encode(getattr(owner, parameter)) for owner, parameter, key in bindings}
        location.search = "?" + urlencode({key: value for key, value in values.items() if value != ""})

    for owner, parameter, _ in bindings:
        owner.param.watch(write, parameter)


def indicator_quality(indicator: str, start: str, end: str, hospitals: tuple[str, ...] = (),
                      scope: Scope | None = None) -> Any:
    """Whether the checks an indicator depends on pass for these months and hospitals (shared by all sessions)."""
    from workbench.quality.status import badge

    scope = scope or session_scope()
    hospitals = tuple(sorted(hospitals))
    first = month_start(start)
    last = last_day(month_start(end))
    filters = {"hospital": list(hospitals)} if hospitals else {}
    key = ("quality", scope.catalog, scope.policy, scope.snapshot, indicator, start, end, hospitals)
    return RESULTS.get(key, lambda: badge(scope.warehouse, scope.dictionary.get(indicator).definition,
                                          first, last, filters))
