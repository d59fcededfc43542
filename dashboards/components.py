"""Pieces shared by every page: the warehouse handle, the template, errors, downloads.

Pages never open connections themselves: they ask :func:`warehouse` for the one
shared, read-only handle of the process, so every query of every session goes
through the same ``Warehouse.execute``.
"""

from __future__ import annotations

import functools
import io
import logging
import tempfile
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import pandas as pd
import panel as pn

from workbench import paths
from workbench.cache import OnceCache
from workbench.errors import UserError

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


def _open_warehouse(catalog: str, user: str | None) -> Any:
    from workbench.warehouse import open as open_warehouse

    return open_warehouse(catalog=Path(catalog), user=current_user() if user else None)


def current_user() -> Any | None:
    """The logged-in user's context (role, perimeter) from access.yaml; None when login is off.

    Read at each call, so a perimeter changed in access.yaml applies to the next request.
    """
    from dashboards.auth import access_file

    path = access_file()
    if path is None:
        return None
    from workbench.access import load_access, user_context

    name = pn.state.user
    # parsed once per version of the file: an edited access.yaml applies to the next request
    access = pn.state.as_cached(f"access:{path}:{path.stat().st_mtime_ns}", load_access, path=str(path))
    entry = access.users.get(name or "")
    if entry is None:
        raise UserError(f"compte inconnu ou retiré : {name!r} (reconnectez-vous)")
    return user_context(name, entry, access)


def policy() -> str:
    """What every cache of results includes: the user's role, perimeter and rights ('' without login)."""
    from workbench.access import policy_key

    user = current_user()
    return "" if user is None else policy_key(user)


def warehouse() -> Any:
    """The warehouse handle of the current user (opened once per user and process, shared by their sessions).

    Without login, one handle serves everyone. Opening failures are not cached,
    so a warehouse file that appears later is picked up by the next session
    without restarting the server.
    """
    user = current_user()
    name = None if user is None else user.name
    return pn.state.as_cached(f"warehouse:{catalog_path()}:{name}", _open_warehouse, catalog=str(catalog_path()), user=name)


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
    return pn.pane.Alert(
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


def page(route: str, main: list[Any], sidebar: list[Any] | None = None) -> pn.template.BaseTemplate:
    """The common template: site title, navigation menu, the page's own sidebar and body."""
    title = dict(PAGES)[route]
    links = "\n".join(
        f"- {'**' if slug == route else ''}[{label}](/{slug}){'**' if slug == route else ''}" for slug, label in PAGES
    )
    navigation = pn.pane.Markdown(f"### Pages\n{links}{_account()}", css_classes=["wb-nav"])
    # Bootstrap rather than Fast: Fast's design fetches a Google font, unreachable on a closed hospital network.
    template = pn.template.BootstrapTemplate(
        title=f"{SITE_TITLE} — {title}",
        sidebar=[navigation, *(sidebar or [])],
        main=main,
        header_background="#0063af",
        sidebar_width=330,
    )
    return template


def _account() -> str:
    """'Connecté : name (role)' and the logout link, when login is on."""
    try:
        user = current_user()
    except UserError:
        return ""
    if user is None:
        return ""
    perimeter = ", ".join(sorted(user.perimeter)) or "tout l'entrepôt"
    return (f"\n\n**Connecté** : <span class='wb-user'>{user.name}</span> ({user.role}, périmètre : {perimeter})"
            "\n\n[Se déconnecter](/logout)")


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
    return RESULTS.get(key, lambda: compute(
        scope.dictionary.get(indicator).definition, scope.warehouse, by=by, start=start, end=end, grain=grain,
        filters={dimension: list(members) for dimension, members in frozen},
    ))


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
    import datetime as dt

    from workbench.quality.status import badge

    scope = scope or session_scope()
    hospitals = tuple(sorted(hospitals))
    first = dt.date.fromisoformat(f"{start}-01")
    year, month = (int(part) for part in end.split("-"))
    last = dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)
    filters = {"hospital": list(hospitals)} if hospitals else {}
    key = ("quality", scope.catalog, scope.policy, scope.snapshot, indicator, start, end, hospitals)
    return RESULTS.get(key, lambda: badge(scope.warehouse, scope.dictionary.get(indicator).definition,
                                          first, last, filters))
