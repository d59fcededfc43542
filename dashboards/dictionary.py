"""Dictionnaire des indicateurs: search the wiki, read an indicator page, see its live value.

The page shows the wiki as loaded by ``workbench.indicators.dictionary``; the
live value comes from the same engine call as the Pilotage page, so the
number a referent reads here is the one the dashboard shows.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd
import panel as pn

from dashboards import components as c
from workbench.html import plain
from workbench.indicators.dictionary import HOME_PAGE, LINK_PATTERN, REFERENTS_PAGE, link_label, link_target
from dashboards.months import last_complete_month, shift_month
from dashboards.cards import distribution_html, kpi_html, single_value

ANY = ""
STATUS_LABELS = {"validated": "validé", "draft": "brouillon"}


def wiki_markdown(body: str, dictionary: Any) -> str:
    """Wiki ``[[links]]`` as links into this page (indicators or other pages)."""
    def replace(match: re.Match[str]) -> str:
        target = dictionary.resolve(link_target(match))
        label = link_label(match)
        if target is None:
            return label
        indicator = target.removeprefix("Indicateurs/")
        if indicator in dictionary.indicators:
            return f"[{label}](/dictionnaire?indicateur={indicator})"
        return f"[{label}](/dictionnaire?onglet=1&page={target})"

    return LINK_PATTERN.sub(replace, body)


def matches(definition: Any, search: str, theme: str, referent: str, status: str) -> bool:
    """Whether an indicator passes the search box and the three filters."""
    if theme and definition.theme != theme:
        return False
    if referent and definition.referent != referent:
        return False
    if status and definition.status != status:
        return False
    if not search:
        return True
    haystack = " ".join([definition.id, definition.name, definition.definition, definition.theme]).lower()
    return all(word in haystack for word in search.lower().split())


def _choices(values: set[str], everything: str, labels: dict[str, str] | None = None) -> dict[str, str]:
    return {everything: ANY, **{plain((labels or {}).get(v, v)): v for v in sorted(values)}}


def versions_frame(definition: Any) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "Version": v.version,
                "Du": v.effective_from.isoformat(),
                "Au": v.effective_to.isoformat() if v.effective_to else "en vigueur",
                "Changement": v.change,
                "Calcul": "déclaratif" if v.computation.kind == "declarative" else f"Python : {v.computation.implementation}",
            }
            for v in sorted(definition.versions, key=lambda v: v.effective_from)
        ]
    )


def _bullets(items: list[str], empty: str = "aucun") -> str:
    return "\n".join(f"- {item}" for item in items) if items else f"*{empty}*"


def indicator_markdown(page: Any, dictionary: Any) -> str:
    """The structured part of an indicator page (front matter in words)."""
    d = page.definition
    sources = [f"`{s.table}` : {', '.join(f'`{col}`' for col in s.columns) or 'toutes colonnes'}" for s in d.sources]
    return "\n".join([
        f"## {d.name}", f"`{d.id}` · thème **{d.theme}** · statut **{STATUS_LABELS.get(d.status, d.status)}** · "
        f"référent **{d.referent}** · unité **{d.unit}**", "",
        f"**Définition.** {d.definition}", "",
        f"**Numérateur.** {d.numerator}", "",
        f"**Dénominateur.** {d.denominator or 'sans objet (comptage)'}", "",
        "### Inclusions", _bullets(d.inclusions), "### Exclusions", _bullets(d.exclusions),
        "### Sources", _bullets(sources),
        "### Pièges connus", _bullets(d.pitfalls),
        "### Contrôles qualité requis", _bullets([f"`{q}`" for q in d.quality_checks]),
        "### Dimensions", ", ".join(d.dimensions),
    ])


def lineage_markdown(result: Any) -> str:
    """Which tables and columns the computation actually read (derived by the engine)."""
    lineage = getattr(result, "lineage", None)
    if not lineage:
        return "*lignage indisponible*"
    if isinstance(lineage, dict):
        return "\n".join(f"- `{table}` : {', '.join(f'`{col}`' for col in sorted(columns))}" for table, columns in sorted(lineage.items()))
    return "\n".join(f"- `{item}`" for item in lineage)


class DictionaryPage:
    """Widgets and views of one session."""

    def __init__(self) -> None:
        self.dictionary = c.dictionary()
        definitions = [page.definition for page in self.dictionary.indicators.values()]
        self.search = pn.widgets.TextInput(name="Rechercher", placeholder="mot du nom ou de la définition", css_classes=["wb-search"])
        self.theme = pn.widgets.Select(name="Thème", options=_choices({d.theme for d in definitions}, "Tous les thèmes"), css_classes=["wb-theme"])
        self.referent = pn.widgets.Select(name="Référent", options=_choices({d.referent for d in definitions}, "Tous les référents"), css_classes=["wb-referent"])
        self.status = pn.widgets.Select(name="Statut", options=_choices({d.status for d in definitions}, "Tous les statuts", STATUS_LABELS), css_classes=["wb-status"])
        self.indicator = pn.widgets.Select(name="Indicateur", options=self._indicator_options(), css_classes=["wb-indicator-select"])
        pages = sorted(name for name in self.dictionary.pages if not name.startswith("_"))
        home = HOME_PAGE if HOME_PAGE in pages else (pages[0] if pages else None)
        self.wiki_page = pn.widgets.Select(name="Page du wiki", options=pages, value=home, css_classes=["wb-wiki-select"])
        self.tabs = pn.Tabs(
            ("Indicateurs", pn.Column(pn.bind(self.listing, self.search, self.theme, self.referent, self.status),
                                       pn.bind(c.guarded("La page de l'indicateur")(self.indicator_view), self.indicator),
                                       sizing_mode="stretch_width")),
            ("Autres pages du wiki", pn.Column(self.wiki_page, pn.bind(self.wiki_view, self.wiki_page), sizing_mode="stretch_width")),
            sizing_mode="stretch_width",
        )
        for widget in (self.search, self.theme, self.referent, self.status):
            widget.param.watch(self._filters_changed, "value")
        c.sync_url([
            (self.search, "value", "q"), (self.theme, "value", "theme"), (self.referent, "value", "referent"),
            (self.status, "value", "statut"), (self.indicator, "value", "indicateur"), (self.wiki_page, "value", "page"),
            (self.tabs, "active", "onglet"),
        ])

    def _filtered(self) -> list[Any]:
        """Indicator definitions passing the search box and the filters, by name."""
        return [
            p.definition for p in sorted(self.dictionary.indicators.values(), key=lambda p: p.definition.name)
            if matches(p.definition, self.search.value, self.theme.value, self.referent.value, self.status.value)
        ]

    def _indicator_options(self) -> dict[str, str]:
        return {plain(f"{d.name} ({d.id})"): d.id for d in self._filtered()}

    def _filters_changed(self, *_: Any) -> None:
        options = self._indicator_options()
        self.indicator.options = options
        if options and self.indicator.value not in options.values():
            self.indicator.value = next(iter(options.values()))

    def listing(self, *_: Any) -> pn.viewable.Viewable:
        """The indicators passing the filters, each linking to its page."""
        rows = [
            f"| [{d.name}](/dictionnaire?indicateur={d.id}) | {d.theme} | {d.referent} | {STATUS_LABELS.get(d.status, d.status)} |"
            for d in self._filtered()
        ]
        if not rows:
            return c.Markdown("*Aucun indicateur ne correspond à la recherche.*")
        table = "| Indicateur | Thème | Référent | Statut |\n| --- | --- | --- | --- |\n" + "\n".join(rows)
        return c.Markdown(f"{len(rows)} indicateur(s)\n\n{table}", css_classes=["wb-listing"], sizing_mode="stretch_width")

    def indicator_view(self, indicator: str | None) -> pn.viewable.Viewable:
        if not indicator:
            return c.Markdown("*Choisissez un indicateur.*")
        page = self.dictionary.get(indicator)
        return pn.Column(
            pn.Row(
                c.Markdown(indicator_markdown(page, self.dictionary), sizing_mode="stretch_width", css_classes=["wb-indicator"]),
                pn.Column(c.Markdown("### Valeur actuelle"), pn.panel(pn.bind(self.live_value, indicator), defer_load=True, loading_indicator=True), width=380),
                sizing_mode="stretch_width",
            ),
            c.Markdown("### Versions"),
            pn.widgets.Tabulator(versions_frame(page.definition), show_index=False, disabled=True, sizing_mode="stretch_width",
                                 layout="fit_data_stretch"),
            c.Markdown("### Page du wiki"),
            c.Markdown(wiki_markdown(page.body, self.dictionary), sizing_mode="stretch_width", css_classes=["wb-wiki-body"]),
            sizing_mode="stretch_width",
        )

    def live_value(self, indicator: str) -> pn.viewable.Viewable:
        """The indicator over the last twelve complete months, all AP-HP, and the tables it reads."""

        @c.guarded("La valeur actuelle")
        def build() -> pn.viewable.Viewable:
            last = last_complete_month(getattr(c.warehouse(), "extraction_date", None))
            start = shift_month(last, -11)
            current = c.indicator_result(indicator, start=start, end=last)
            previous = c.indicator_result(indicator, start=shift_month(start, -12), end=shift_month(last, -12))
            definition = self.dictionary.get(indicator).definition
            if len(current.frame) > 1:  # a distribution (case-mix): its shares, not one of them
                figure = distribution_html(definition, current)
            else:
                figure = kpi_html(definition, current, single_value(previous.frame),
                                  c.indicator_quality(indicator, start, last))
            return pn.Column(
                c.HTML(figure),
                c.Markdown(f"De {start} à {last}, toute l'AP-HP.\n\n**Lignage** (tables et colonnes lues) :\n\n"
                                 f"{lineage_markdown(current)}", css_classes=["wb-lineage"]),
            )

        return build()

    def wiki_view(self, name: str | None) -> pn.viewable.Viewable:
        if not name or name not in self.dictionary.pages:
            return c.Markdown("*Aucune page.*")
        page = self.dictionary.pages[name]
        body = wiki_markdown(page.body, self.dictionary)
        text = body if body.lstrip().startswith("# ") else f"# {page.title}\n\n{body}"
        if name == REFERENTS_PAGE and self.dictionary.referents:
            text += "\n\n| Rôle | Périmètre | Contact |\n| --- | --- | --- |\n" + "\n".join(
                f"| {r.role} | {r.perimeter} | {r.contact or ''} |" for r in self.dictionary.referents.values()
            )
        return c.Markdown(text, sizing_mode="stretch_width", css_classes=["wb-wiki-page"])

    def layout(self) -> pn.template.BaseTemplate:
        problems = self.dictionary.errors
        main: list[Any] = [self.tabs]
        if problems:
            main.insert(0, c.Alert(f"{len(problems)} page(s) du wiki contiennent des erreurs et ne sont pas affichées : "
                                         + " ; ".join(str(p) for p in problems[:5]), alert_type="warning"))
        sidebar = [c.Markdown("### Recherche"), self.search, self.theme, self.referent, self.status, self.indicator]
        return c.page("dictionnaire", main, sidebar)


def build() -> pn.template.BaseTemplate:
    """The dictionary page of one browser session."""
    return DictionaryPage().layout()
