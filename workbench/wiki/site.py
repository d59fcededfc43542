"""`workbench wiki build`: the whole wiki as static HTML a referent opens without a server.

Every page becomes one file in a flat folder (``Indicateurs/dms`` →
``Indicateurs-dms.html``, ``Home`` → ``index.html``), so relative links work from
``file://``. Indicator pages add the front matter as a readable card (definition,
versions, lineage) and a live values table computed by the engine — the same
call as the CLI and the dashboards, hence the same numbers.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from markdown_it import MarkdownIt

from workbench.indicators.dictionary import (
    HOME_PAGE,
    LINK_PATTERN,
    REFERENTS_PAGE,
    SIDEBAR_PAGE,
    Dictionary,
    IndicatorPage,
    WikiPage,
    link_label,
    link_target,
)
from workbench.outputs import write_text
from workbench.wiki import templates
from workbench.wiki.render import dimension_labels, format_value
from workbench.wiki.terminal import describe_computation, effective

LIVE_MONTHS = 12
"""The live table of an indicator page covers the last twelve months of the warehouse."""

_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")


def page_file(name: str) -> str:
    """The HTML file name of a wiki page (flat layout; Home is the index)."""
    return "index.html" if name == HOME_PAGE else re.sub(r"[^\w.-]+", "-", name.replace("/", "-")) + ".html"


def resolve_links(markdown: str, dictionary: Dictionary) -> str:
    """``[[Page]]`` / ``[[Texte|Page]]`` → Markdown links to the page's HTML file (broken ones marked)."""

    def replace(match: re.Match[str]) -> str:
        label = link_label(match).replace("[", "(").replace("]", ")")
        target = dictionary.resolve(link_target(match))
        if target is None:
            return f"*{label} (page absente)*"
        return f"[{label}]({page_file(target)})"

    return LINK_PATTERN.sub(replace, markdown)


def markdown_to_html(markdown: str, dictionary: Dictionary) -> str:
    from workbench.html import sanitize

    return sanitize(_MARKDOWN.render(resolve_links(markdown, dictionary)))  # the one sanitiser of every surface


# --------------------------------------------------------------------------- indicator cards


def _row(label: str, value: str) -> str:
    return f"<tr><th>{html.escape(label)}</th><td>{value}</td></tr>"


def _items(values: list[str]) -> str:
    return "<ul>" + "".join(f"<li>{html.escape(v)}</li>" for v in values) + "</ul>" if values else "—"


def indicator_card(page: IndicatorPage, dictionary: Dictionary) -> str:
    """The front matter as a readable card: definition, facts, versions, pitfalls."""
    d = page.definition
    referent = dictionary.referents.get(d.referent)
    referent_html = html.escape(d.referent)
    if referent is not None:
        referent_html = f'<a href="{page_file(REFERENTS_PAGE)}">{referent_html}</a> — {html.escape(referent.perimeter)}'
    status = "validé" if d.status == "validated" else "brouillon"
    facts = "".join([
        _row("Identifiant", f"<code>{html.escape(d.id)}</code>"),
        _row("Thème", html.escape(d.theme)),
        _row("Numérateur", html.escape(d.numerator)),
        _row("Dénominateur", html.escape(d.denominator or "—")),
        _row("Unité", html.escape(d.unit)),
        _row("Dimensions", html.escape(dimension_labels(list(d.dimensions)))),
        _row("Inclusions", _items(d.inclusions)),
        _row("Exclusions", _items(d.exclusions)),
        _row("Sources", _items([f"{s.table} : {', '.join(s.columns)}" for s in d.sources])),
        _row("Contrôles de qualité requis", _items(d.quality_checks)),
        _row("Référent", referent_html),
        _row("Statut", f'<span class="statut-{d.status}">{status}</span>'),
    ])
    versions = "".join(
        f"<tr><td>{html.escape(v.version)}</td><td>{effective(v)}</td><td>{html.escape(v.change)}</td>"
        f"<td>{html.escape(describe_computation(v))}</td></tr>"
        for v in sorted(d.versions, key=lambda v: v.effective_from)
    )
    pitfalls = "".join(f"<li>{html.escape(p)}</li>" for p in d.pitfalls)
    return (
        f'<h1>{html.escape(d.name)}</h1>\n<p class="definition">{html.escape(d.definition)}</p>\n'
        f'<h2>Fiche</h2>\n<table class="fiche">{facts}</table>\n'
        "<h2>Versions</h2>\n<table><tr><th>Version</th><th>En vigueur</th><th>Changement</th><th>Calcul</th></tr>"
        f"{versions}</table>\n" + (f"<h2>Pièges connus</h2>\n<ul>{pitfalls}</ul>\n" if pitfalls else "")
    )


# --------------------------------------------------------------------------- live values


@dataclass(frozen=True)
class LiveValues:
    """What the engine returned for the page's live table (or why it could not)."""

    html: str
    lineage: dict[str, list[str]]


def site_user(access: Path | None = None) -> Any:  # -> UserContext
    """Who `workbench wiki build` reads as: a référent pilotage (aggregates under the disclosure policy).

    The threshold k comes from access.yaml when there is one, else the default (10).
    """
    from workbench.access import DEFAULT_MIN_COUNT, load_access
    from workbench.errors import UserError
    from workbench.access.context import UserContext

    try:
        min_count = load_access(access).policy.min_count
    except UserError:
        min_count = DEFAULT_MIN_COUNT
    return UserContext(name="wiki-build", role="referent_pilotage", perimeter=frozenset(), nominative=False,
                       min_count=min_count)


def live_values(page: IndicatorPage, warehouse: Any | None) -> LiveValues:
    """The indicator by hospital and month over the last twelve months, as an HTML table."""
    title = f"<h2>Valeurs des {LIVE_MONTHS} derniers mois</h2>\n"
    if warehouse is None:
        return LiveValues(title + '<p class="avertissement">Entrepôt non disponible lors de la génération.</p>', {})
    from workbench.indicators.engine import compute

    dims = page.definition.dimensions
    by = tuple(d for d in ("hospital", "month") if d in dims)
    try:
        result = compute(page.definition, warehouse, by=by)
    except Exception as error:  # noqa: BLE001 - one failing indicator must not stop the site
        return LiveValues(title + f'<p class="avertissement">Calcul impossible : {html.escape(str(error))}</p>', {})
    if result.status != "ok":
        return LiveValues(title + f"<p>{html.escape(result.status)}.</p>", {})
    user = getattr(warehouse, "user", None)
    protected = user is not None and user.role == "referent_pilotage"
    secrecy = (f"Politique de diffusion : les cellules de moins de {user.min_count} patients sont masquées."
               if protected else "Construit sans politique de diffusion : les effectifs inférieurs à 10 n'y sont "
               "pas masqués, ne pas les diffuser.")
    caption = (f"<p>Période {html.escape(str(result.stamp.get('periode')))}, version {html.escape(result.version)}, "
               f"instantané <code>{html.escape(str(result.stamp.get('snapshot_id')))}</code>, "
               f"unité : {html.escape(page.definition.unit)}. {html.escape(secrecy)}</p>\n")
    badge = quality_badge(page, warehouse)
    return LiveValues(title + caption + badge + values_table(result.frame, page.definition.unit, by), dict(result.lineage))


def quality_badge(page: IndicatorPage, warehouse: Any) -> str:
    """The fit-for-use badge of the live values' period, with the failing checks."""
    from workbench.quality.status import quality_for_request

    # under a référent the badge is the whole warehouse's (quality.status.badge); only its status and
    # the checks' descriptions reach the page
    quality = quality_for_request(warehouse, page.definition)
    reasons = "".join(f"<li>{html.escape(reason)}</li>" for reason in quality.reasons())
    return (f'<p class="qualite" data-quality="{quality.status}"><strong>Qualité des données d\'entrée :</strong> '
            f"{html.escape(quality.label)}</p>\n" + (f"<ul>{reasons}</ul>\n" if reasons else ""))


def values_table(frame: pd.DataFrame, unit: str, by: tuple[str, ...]) -> str:
    """Hospitals in rows, months in columns; each cell carries its exact value in ``data-value``."""
    if frame.empty:
        return "<p>Aucune donnée sur la période.</p>"
    extra = [c for c in frame.columns if c not in (*by, "value", "numerator", "denominator", "n_patients", "masked",
                                                   "indicator_version", "snapshot_id")]
    frame = frame.copy()
    row_key = "hospital" if "hospital" in by else None
    if extra:  # e.g. the case-mix's own breakdown: one row per (hospital, category)
        frame["_ligne"] = frame[[*([row_key] if row_key else []), *extra]].astype(str).agg(" · ".join, axis=1)
        row_key = "_ligne"
    months = sorted(frame["month"].astype(str).unique()) if "month" in by else ["période"]
    rows = sorted(frame[row_key].astype(str).unique()) if row_key else ["AP-HP"]
    header = "<tr><th>Hôpital</th>" + "".join(f"<th>{html.escape(m)}</th>" for m in months) + "</tr>"
    cells = {}
    for _, record in frame.iterrows():
        key = (str(record[row_key]) if row_key else "AP-HP", str(record["month"]) if "month" in by else "période")
        cells[key] = record["value"]
    body = []
    for row in rows:
        tds = []
        for month in months:
            value = cells.get((row, month))
            data = "" if value is None or pd.isna(value) else f' data-value="{float(value)!r}"'
            tds.append(f'<td class="nombre" data-hospital="{html.escape(row)}" data-month="{html.escape(month)}"{data}>'
                       f"{html.escape(format_value(value, unit if unit == '%' else ''))}</td>")
        body.append(f"<tr><th>{html.escape(row)}</th>{''.join(tds)}</tr>")
    return f'<table class="valeurs">{header}{"".join(body)}</table>'


def lineage_html(lineage: dict[str, list[str]]) -> str:
    if not lineage:
        return ""
    items = "".join(f"<li><code>{html.escape(t)}</code> : {html.escape(', '.join(c))}</li>" for t, c in sorted(lineage.items()))
    return f"<h2>Lignage (tables et colonnes lues, déduit du calcul)</h2>\n<ul>{items}</ul>\n"


# --------------------------------------------------------------------------- site


def _summary(text: str, length: int = 220) -> str:
    plain = re.sub(r"[#*`\[\]|>_]+", " ", text)
    plain = re.sub(r"\s+", " ", plain).strip()
    return plain[:length] + ("…" if len(plain) > length else "")


def search_index(dictionary: Dictionary) -> list[dict[str, str]]:
    """Entries for the client-side search: indicators first, then the other pages."""
    entries = []
    for page in sorted(dictionary.indicators.values(), key=lambda p: p.id):
        d = page.definition
        entries.append({"id": d.id, "title": d.name, "url": page_file(page.name), "kind": "indicateur",
                        "summary": d.definition, "text": " ".join([d.definition, d.numerator, d.theme, *d.pitfalls])})
    for name, page in dictionary.pages.items():
        if name == SIDEBAR_PAGE:
            continue
        kind = "guide" if name.startswith("Guide/") else "compte rendu" if name.startswith("Comptes-rendus/") else "page"
        entries.append({"id": name, "title": page.title, "url": page_file(name), "kind": kind,
                        "summary": _summary(page.body), "text": _summary(page.body, 4000)})
    return entries


def _cards(dictionary: Dictionary) -> str:
    cards = "".join(
        f'<div class="carte"><h3><a href="{page_file(p.name)}">{html.escape(p.definition.name)}</a></h3>'
        f"<p><code>{html.escape(p.id)}</code> · {html.escape(p.definition.theme)} · {html.escape(p.definition.unit)}</p>"
        f"<p>{html.escape(p.definition.definition)}</p></div>"
        for p in sorted(dictionary.indicators.values(), key=lambda p: (p.definition.theme, p.id))
    )
    return f'<h2>Les {len(dictionary.indicators)} indicateurs</h2>\n<div class="cartes">{cards}</div>\n'


def _referents_table(dictionary: Dictionary) -> str:
    owned: dict[str, list[IndicatorPage]] = {}
    for page in dictionary.indicators.values():
        owned.setdefault(page.definition.referent, []).append(page)
    rows = "".join(
        f"<tr><td>{html.escape(role)}</td><td>{html.escape(r.perimeter)}</td><td>"
        + ", ".join(f'<a href="{page_file(p.name)}">{html.escape(p.definition.name)}</a>'
                    for p in sorted(owned.get(role, []), key=lambda p: p.id))
        + "</td></tr>"
        for role, r in dictionary.referents.items()
    )
    return ("<h2>Indicateurs par référent</h2>\n<table><tr><th>Rôle</th><th>Périmètre</th><th>Indicateurs</th></tr>"
            f"{rows}</table>\n")


class SiteBuilder:
    """Writes one HTML file per page plus the index, the search index, CSS and JS."""

    def __init__(self, dictionary: Dictionary, out: Path, warehouse: Any | None = None) -> None:
        self.dictionary = dictionary
        self.out = Path(out)
        self.warehouse = warehouse
        sidebar = dictionary.pages.get(SIDEBAR_PAGE)
        self.sidebar = markdown_to_html(sidebar.body, dictionary) if sidebar else self._default_sidebar()
        snapshot = getattr(warehouse, "snapshot_id", None) if warehouse is not None else None
        self.snapshot = f" · instantané {html.escape(str(snapshot))}" if snapshot else ""
        self.generated = dt.datetime.now().strftime("%d/%m/%Y %H:%M")

    def _default_sidebar(self) -> str:
        links = "".join(f'<li><a href="{page_file(n)}">{html.escape(p.title)}</a></li>'
                        for n, p in self.dictionary.all_pages().items())
        return f"<ul>{links}</ul>"

    def _write(self, name: str, title: str, content: str, search: bool = False) -> Path:
        return write_text(self.out / page_file(name), templates.PAGE.substitute(
            title=html.escape(title), sidebar=self.sidebar, content=content, generated=self.generated,
            snapshot=self.snapshot, scripts=templates.SEARCH_SCRIPTS if search else "",
        ))

    def indicator(self, page: IndicatorPage) -> Path:
        live = live_values(page, self.warehouse)
        body = markdown_to_html(_without_title(page.body), self.dictionary)
        content = (indicator_card(page, self.dictionary) + live.html + lineage_html(live.lineage)
                   + f"<h2>Documentation</h2>\n{body}")
        return self._write(page.name, page.definition.name, content)

    def page(self, page: WikiPage) -> Path:
        content = markdown_to_html(page.body, self.dictionary)
        if page.name == REFERENTS_PAGE:
            content += _referents_table(self.dictionary)
        if page.name == HOME_PAGE:
            content = templates.SEARCH_BOX + content + _cards(self.dictionary)
        return self._write(page.name, page.title, content, search=page.name == HOME_PAGE)

    def build(self) -> list[Path]:
        self.out.mkdir(parents=True, exist_ok=True)
        written = [self.indicator(p) for p in sorted(self.dictionary.indicators.values(), key=lambda p: p.id)]
        written += [self.page(p) for n, p in sorted(self.dictionary.pages.items()) if n != SIDEBAR_PAGE]
        if HOME_PAGE not in self.dictionary.pages:
            written.append(self._write(HOME_PAGE, "Accueil", templates.SEARCH_BOX + _cards(self.dictionary), search=True))
        write_text(self.out / "style.css", templates.CSS)
        write_text(self.out / "search.js", templates.SEARCH_JS)
        index = json.dumps(search_index(self.dictionary), ensure_ascii=False)
        write_text(self.out / "search-index.js", f"window.WIKI_INDEX = {index};\n")
        return written


def _without_title(body: str) -> str:
    """The body without its first ``# Title`` (the card already shows the name)."""
    return re.sub(r"\A\s*# [^\n]*\n", "", body, count=1)


def build_site(dictionary: Dictionary, out: Path, warehouse: Any | None = None) -> list[Path]:
    """Write the static dictionary into `out`; returns the HTML files written."""
    return SiteBuilder(dictionary, out, warehouse).build()
