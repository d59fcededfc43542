"""Pilotage page: KPI cards, time series, breakdown by care-site level, SQL and exports.

Every figure comes from the indicator engine (``workbench.indicators.engine.compute``)
through :func:`dashboards.components.indicator_result`; the page only chooses
the request (indicator, period, care-site filters) and lays the answers out.
The view state lives in the URL, so a copied link reopens the same view.
"""

from __future__ import annotations

import datetime as dt
import html
from typing import Any

import pandas as pd
import panel as pn
import param

from dashboards import components as c
from dashboards.reports import report_form

DEFAULT_KPIS = ("nb_sejours", "dms", "mortalite_hospitaliere")
DEFAULT_DETAIL = "nb_sejours"
NOTEBOOK_TEMPLATE = "indicator_deep_dive"
ALL = ""
"""Widget value meaning 'no filter on this dimension'."""

GRAINS = {"Mois": "month", "Trimestre": "quarter", "Année": "year"}
STAY_TYPES = {"Tous les champs": ALL, "MCO": "MCO", "SSR": "SSR", "Psychiatrie": "PSY", "SLD": "SLD"}
LEVEL_LABELS = {"hospital": "Hôpital", "pole": "Pôle", "service": "Service", "uf": "UF"}
COLUMN_LABELS = {
    **LEVEL_LABELS,
    "month": "Mois", "quarter": "Trimestre", "year": "Année", "value": "Valeur", "numerator": "Numérateur",
    "denominator": "Dénominateur", "n_patients": "Patients", "indicator_version": "Version",
    "snapshot_id": "Instantané", "stay_type": "Champ", "visit_type": "Type de visite",
    "age_band": "Tranche d'âge", "sex": "Sexe", "libellé": "Libellé",
}
NUMBER_FORMAT = {"type": "money", "decimal": ",", "thousand": "\u202f", "precision": 2}
"""Tabulator's French number format for the value column (the download keeps full precision)."""


# --------------------------------------------------------------------------- periods

def shift_month(month: str, months: int) -> str:
    """'YYYY-MM' moved by `months` (negative for the past)."""
    year, number = (int(part) for part in month.split("-"))
    index = year * 12 + (number - 1) + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def month_options(last: str, count: int = 72) -> list[str]:
    """The `count` months up to `last`, most recent first."""
    return [shift_month(last, -offset) for offset in range(count)]


def last_complete_month(extraction: Any) -> str:
    """The month before the extraction date: the last month whose data is complete."""
    day = pd.Timestamp(extraction) if extraction is not None else pd.Timestamp(dt.date.today())
    return shift_month(f"{day.year:04d}-{day.month:02d}", -1)


# --------------------------------------------------------------------------- care sites

@pn.cache(max_items=8)
def _care_site_tree(catalog: str, snapshot: str) -> pd.DataFrame:
    """Hospitals, poles and services of the `care_sites` view (shared by all sessions)."""
    handle = c.warehouse()
    sites = handle.view("care_sites")
    expr = sites.filter(sites.level.isin(["hopital", "pole", "service"])).select(
        "code", "name", "level", "hospital", "pole"
    )
    return handle.execute(expr).sort_values(["level", "name"]).reset_index(drop=True)


def care_site_tree() -> pd.DataFrame:
    handle = c.warehouse()
    return _care_site_tree(str(c.catalog_path()), str(handle.snapshot_id))


def site_options(tree: pd.DataFrame, level: str, parent_column: str | None, parent: str, everything: str) -> dict[str, str]:
    """Options of one cascade level, restricted to the children of the chosen parent."""
    rows = tree[tree.level == level]
    if parent_column is not None:
        rows = rows[rows[parent_column] == parent] if parent else rows.iloc[0:0]
    return {everything: ALL, **{f"{row.name} ({row.code})": row.code for row in rows.itertuples()}}


def perimeter_hospitals(tree: pd.DataFrame, user: Any) -> list[str] | None:
    """Hospitals of a patient-level user's perimeter (None: every hospital may be chosen).

    Inside them the figures are exact (computed on the user's rows); the other
    hospitals would only give the protected cube of the disclosure policy.
    """
    from workbench import access

    if user is None or access.unrestricted(user) or not access.is_patient_level(user):
        return None
    by_code = tree.set_index("code")
    found = []
    for code in sorted(user.perimeter):
        if code in by_code.index:
            row = by_code.loc[code]
            hospital = code if row["level"] == "hopital" else row["hospital"]
            if hospital not in found:
                found.append(hospital)
    return found or None


# --------------------------------------------------------------------------- the page

class Request(param.Parameterized):
    """The settled request of a session: what every figure of the page is computed for."""

    value = param.Dict(default={})


class Pilotage:
    """The widgets of one session and the views bound to them."""

    def __init__(self) -> None:
        handle = c.warehouse()
        self.dictionary = c.dictionary()
        self.tree = care_site_tree()
        last = last_complete_month(getattr(handle, "extraction_date", None))
        months = month_options(last)
        names = {f"{page.definition.name} ({ident})": ident for ident, page in sorted(self.dictionary.indicators.items())}
        kpis = [ident for ident in DEFAULT_KPIS if ident in self.dictionary.indicators]
        detail = DEFAULT_DETAIL if DEFAULT_DETAIL in self.dictionary.indicators else next(iter(names.values()))

        hospitals = site_options(self.tree, "hopital", None, ALL, "Tous les hôpitaux")
        allowed = perimeter_hospitals(self.tree, c.current_user())
        if allowed is not None:  # a user with a perimeter chooses among its hospitals only
            hospitals = {label: code for label, code in hospitals.items() if code in allowed}
        first = next(iter(hospitals.values()), ALL)
        self.hospital = pn.widgets.Select(name="Hôpital", options=hospitals, value=first, css_classes=["wb-hopital"])
        self.pole = pn.widgets.Select(name="Pôle", options=site_options(self.tree, "pole", "hospital", first, "Tous les pôles"), css_classes=["wb-pole"])
        self.service = pn.widgets.Select(name="Service", options=site_options(self.tree, "service", "pole", ALL, "Tous les services"), css_classes=["wb-service"])
        self.start = pn.widgets.Select(name="Du mois", options=months, value=shift_month(last, -11), css_classes=["wb-debut"])
        self.end = pn.widgets.Select(name="Au mois", options=months, value=last, css_classes=["wb-fin"])
        self.grain = pn.widgets.RadioButtonGroup(name="Grain", options=GRAINS, value="month", button_type="primary", css_classes=["wb-grain"])
        self.stay_type = pn.widgets.Select(name="Champ PMSI", options=STAY_TYPES, value=ALL, css_classes=["wb-champ"])
        self.kpis = pn.widgets.MultiChoice(name="Indicateurs des cartes", options=names, value=kpis, css_classes=["wb-cartes"])
        self.detail = pn.widgets.Select(name="Indicateur détaillé", options=names, value=detail, css_classes=["wb-indicateur"])

        self.request = Request()
        self._settling = 0
        # the cascade runs before the request is published (watchers run by increasing precedence)
        self.hospital.param.watch(self._hospital_changed, "value", precedence=0)
        self.pole.param.watch(self._pole_changed, "value", precedence=0)
        self._sync_url()
        self._publish()
        for widget in self.state:
            widget.param.watch(self._publish, "value", precedence=1)

    def site_names(self) -> dict[str, str]:
        """Care-site code → name, to label the breakdown rows (hospitals, poles, services)."""
        return dict(zip(self.tree["code"], self.tree["name"]))

    # -- cascade

    def _hospital_changed(self, event: Any) -> None:
        self._settling += 1
        try:
            self.pole.param.update(options=site_options(self.tree, "pole", "hospital", event.new, "Tous les pôles"), value=ALL)
        finally:
            self._settling -= 1

    def _pole_changed(self, event: Any) -> None:
        self._settling += 1
        try:
            self.service.param.update(
                options=site_options(self.tree, "service", "pole", event.new, "Tous les services"), value=ALL
            )
        finally:
            self._settling -= 1

    def _publish(self, *_: Any) -> None:
        """Announce the request once the cascade has settled, so one user action computes once.

        Choosing a hospital also resets the pole and the service: without this,
        every figure would be computed for each intermediate state.
        """
        if self._settling:
            return
        start, end = self.period()
        self.request.value = {"filters": self.filters(), "start": start, "end": end, "grain": self.grain.value}

    def _sync_url(self) -> None:
        """Every choice in the query string; the cascade is restored parents first."""
        c.sync_url([
            (self.hospital, "value", "hopital"), (self.pole, "value", "pole"), (self.service, "value", "service"),
            (self.start, "value", "debut"), (self.end, "value", "fin"), (self.grain, "value", "grain"),
            (self.stay_type, "value", "champ"), (self.kpis, "value", "cartes"), (self.detail, "value", "indicateur"),
        ])

    # -- the request

    def filters(self) -> dict[str, list[str]]:
        chosen = {
            "hospital": self.hospital.value, "pole": self.pole.value, "service": self.service.value,
            "stay_type": self.stay_type.value,
        }
        return {dimension: [value] for dimension, value in chosen.items() if value}

    def period(self) -> tuple[str, str]:
        start, end = self.start.value, self.end.value
        return (start, end) if start <= end else (end, start)

    def breakdown_level(self) -> str:
        """The care-site level just below the current selection."""
        if self.service.value:
            return "uf"
        if self.pole.value:
            return "service"
        if self.hospital.value:
            return "pole"
        return "hospital"

    def result(self, indicator: str, by: tuple[str, ...] = (), years_back: int = 0, grain: str | None = None) -> Any:
        start, end = self.period()
        return c.indicator_result(
            indicator, by=by, start=shift_month(start, -12 * years_back), end=shift_month(end, -12 * years_back),
            grain=grain or self.grain.value, filters=self.filters(),
        )

    # -- views

    def kpi_cards(self, kpis: list[str]) -> pn.viewable.Viewable:
        """One card per chosen indicator, each refreshed on its own when a filter changes."""
        if not kpis:
            return pn.pane.Markdown("*Choisissez au moins un indicateur.*")
        cards = [
            pn.panel(pn.bind(self._kpi_card, indicator, self.request.param.value), defer_load=True, loading_indicator=True,
                     width=340, min_height=200)
            for indicator in kpis
        ]
        return pn.FlexBox(*cards, sizing_mode="stretch_width")

    def _kpi_card(self, indicator: str, *_: Any) -> pn.viewable.Viewable:
        @c.guarded(f"L'indicateur « {indicator} »")
        def build() -> pn.viewable.Viewable:
            definition = self.dictionary.get(indicator).definition
            # a card covers exactly the chosen months, whatever the grain of the series
            result = self.result(indicator, grain="month")
            previous = single_value(self.result(indicator, years_back=1, grain="month").frame)
            quality = c.indicator_quality(indicator, *self.period(), hospitals=tuple(self.filters().get("hospital", ())))
            return pn.pane.HTML(kpi_html(definition, result, previous, quality), width=330, margin=6)

        return build()

    def series(self, indicator: str, *_: Any) -> pn.viewable.Viewable:
        """The chosen period and, dashed, the same months one year earlier, on one time axis.

        One engine call covers both years: a month's value does not depend on
        the rest of the period, so the previous year is the same request shifted.
        """

        @c.guarded("La série temporelle")
        def build() -> pn.viewable.Viewable:
            grain = self.grain.value
            definition = self.dictionary.get(indicator).definition
            start, end = self.period()
            both = c.indicator_result(indicator, by=(grain,), start=shift_month(start, -12), end=end, grain=grain,
                                      filters=self.filters()).frame
            data = two_years(both, grain, start, end)
            if data.empty:
                return pn.pane.Alert("Aucune donnée pour cette sélection.", alert_type="warning")
            plot = data.hvplot.line(
                x="période", y="value", by="série", xlabel="Période", ylabel=f"{definition.name} ({definition.unit})",
                title=f"{definition.name} : période choisie et année précédente", height=340, responsive=True,
                line_dash=["dashed", "solid"], hover_cols=["libellé", "numerator", "denominator"],
            ) * data.hvplot.scatter(x="période", y="value", by="série", responsive=True, height=340, hover_cols=["libellé"])
            return pn.pane.HoloViews(plot, sizing_mode="stretch_width", height=360, css_classes=["wb-series"])

        return build()

    def breakdown(self, indicator: str, *_: Any) -> pn.viewable.Viewable:
        @c.guarded("Le tableau par niveau")
        def build() -> pn.viewable.Viewable:
            level = self.breakdown_level()
            result = self.result(indicator, by=(level,))
            frame = result.frame
            definition = self.dictionary.get(indicator).definition
            name = f"{indicator}_{level}_{'_'.join(self.period())}"
            downloads = pn.Row(
                pn.widgets.FileDownload(
                    callback=lambda: c.stamped_csv(frame, result.stamp), filename=f"{name}.csv",
                    label="Télécharger CSV", button_type="primary", css_classes=["wb-download-csv"],
                ),
                pn.widgets.FileDownload(
                    callback=lambda: c.stamped_xlsx(frame, result.stamp), filename=f"{name}.xlsx",
                    label="Télécharger XLSX", button_type="primary", css_classes=["wb-download-xlsx"],
                ),
            )
            shown = frame.copy()
            shown.insert(1, "libellé", shown[level].map(self.site_names()).fillna(""))
            table = pn.widgets.Tabulator(
                shown, titles={column: COLUMN_LABELS.get(column, column) for column in shown.columns},
                show_index=False, disabled=True, sizing_mode="stretch_width", height=min(480, 70 + 42 * len(shown)),
                formatters={"value": NUMBER_FORMAT}, hidden_columns=["indicator_version", "snapshot_id"],
                pagination=None, css_classes=["wb-breakdown"],
            )
            return pn.Column(
                pn.pane.Markdown(f"#### {definition.name} par {LEVEL_LABELS[level].lower()}", css_classes=["wb-breakdown-title"]),
                table, downloads,
                sizing_mode="stretch_width",
            )

        return build()

    def definition(self, indicator: str) -> pn.viewable.Viewable:
        @c.guarded("La définition")
        def build() -> pn.viewable.Viewable:
            page = self.dictionary.get(indicator)
            return pn.pane.Markdown(definition_markdown(page.definition), sizing_mode="stretch_width", css_classes=["wb-definition"])

        return build()

    def sql(self, shown: bool, indicator: str, *_: Any) -> pn.viewable.Viewable:
        """The SQL of the breakdown table, translated to Spark only when asked for (it costs a compilation)."""
        if not shown:
            return pn.pane.Markdown("")

        @c.guarded("Le SQL")
        def build() -> pn.viewable.Viewable:
            result = self.result(indicator, by=(self.breakdown_level(),))
            serving, spark = sql_texts(result)
            return pn.Tabs(
                ("SQL exécuté (DuckDB)", pn.pane.Markdown(f"```sql\n{serving}\n```", sizing_mode="stretch_width")),
                ("SQL Spark", pn.pane.Markdown(f"```sql\n{spark}\n```", sizing_mode="stretch_width")),
                sizing_mode="stretch_width",
            )

        return build()

    def notebook(self, indicator: str, *_: Any) -> pn.viewable.Viewable:
        """« Ouvrir comme notebook » : the `indicator_deep_dive` template with this view's parameters.

        The template reproduces a view restricted to at most one hospital; with a
        pole, a service or a PMSI field chosen it would compute another figure,
        so the button is then disabled and says why.
        """
        start, end = self.period()
        values = {"indicator": indicator, "by": [], "start": start, "end": end, "hospital": self.hospital.value}
        beyond = [label for label, widget in (("pôle", self.pole), ("service", self.service), ("champ PMSI", self.stay_type))
                  if widget.value]
        button = pn.widgets.FileDownload(
            callback=lambda: c.notebook_download(NOTEBOOK_TEMPLATE, values),
            filename=f"{NOTEBOOK_TEMPLATE}_{indicator}_{start}_{end}{'_' + self.hospital.value if self.hospital.value else ''}.ipynb",
            label="Ouvrir comme notebook", button_type="success", css_classes=["wb-notebook"], disabled=bool(beyond),
            width=220,
        )
        note = (f"Le modèle de notebook ne reproduit pas le filtre {', '.join(beyond)} : choisissez au plus un hôpital."
                if beyond else "Notebook Jupyter (modèle « analyse approfondie ») qui recalcule l'indicateur détaillé "
                               "sur la même période et le même hôpital.")
        return pn.Row(button, pn.pane.Markdown(note, css_classes=["wb-notebook-note"], sizing_mode="stretch_width"),
                      sizing_mode="stretch_width")

    def report_context(self) -> dict[str, Any]:
        """What a problem report records about the figure: the detailed indicator, the filters, the view's link."""
        start, end = self.period()
        location = pn.state.location
        url = f"{location.pathname}{location.search}" if location is not None else None
        return {"indicator": self.detail.value, "filters": {**self.filters(), "start": start, "end": end,
                                                              "grain": self.grain.value}, "url": url}

    @property
    def state(self) -> tuple[pn.widgets.Widget, ...]:
        """The widgets that make up the request (the indicator choice aside)."""
        return (self.hospital, self.pole, self.service, self.start, self.end, self.grain, self.stay_type)

    def layout(self) -> pn.template.BaseTemplate:
        def deferred(view: Any, *extra: Any) -> pn.viewable.Viewable:
            return pn.panel(pn.bind(view, *extra, self.detail, self.request.param.value), defer_load=True,
                            loading_indicator=True,
                            sizing_mode="stretch_width")

        show_sql = pn.widgets.Toggle(name="Voir le SQL", button_type="light", css_classes=["wb-sql-toggle"], width=160)
        main = [
            pn.Column(pn.pane.Markdown("## Indicateurs clés (évolution par rapport à la même période l'année précédente)"),
                      pn.panel(pn.bind(self.kpi_cards, self.kpis), sizing_mode="stretch_width"), sizing_mode="stretch_width"),
            pn.panel(pn.bind(self.notebook, self.detail, self.request.param.value), sizing_mode="stretch_width"),
            report_form(self.report_context),
            pn.Row(pn.Column(deferred(self.series), deferred(self.breakdown), sizing_mode="stretch_width"),
                   pn.Column(pn.pane.Markdown("### Définition"), pn.panel(pn.bind(self.definition, self.detail)), width=420),
                   sizing_mode="stretch_width"),
            pn.Column(show_sql, pn.panel(pn.bind(self.sql, show_sql, self.detail, self.request.param.value), loading_indicator=True,
                                         sizing_mode="stretch_width"), css_classes=["wb-sql"], sizing_mode="stretch_width"),
        ]
        sidebar = [
            pn.pane.Markdown("### Filtres"), self.hospital, self.pole, self.service, self.start, self.end,
            pn.pane.Markdown("Grain"), self.grain, self.stay_type, pn.pane.Markdown("### Indicateurs"), self.kpis,
            self.detail,
        ]
        return c.page("pilotage", main, sidebar)


# --------------------------------------------------------------------------- formatting

def single_value(frame: pd.DataFrame) -> float | None:
    """The value of a request without breakdown (None when nothing matched)."""
    if frame.empty or pd.isna(frame["value"].iloc[0]):
        return None
    return float(frame["value"].iloc[0])


PERIODS_PER_YEAR = {"month": 12, "quarter": 4, "year": 1}


def two_years(frame: pd.DataFrame, grain: str, start: str, end: str) -> pd.DataFrame:
    """Split a series spanning [start - 12 months, end] into the chosen period and the same
    period a year earlier (the two overlap when the period is longer than a year), the
    latter moved one year forward so both share the time axis."""
    freq = {"month": "M", "quarter": "Q", "year": "Y"}[grain]
    if frame.empty:
        return frame.assign(période=pd.Series(dtype="datetime64[ns]"), série="", libellé="")
    periods = pd.PeriodIndex(frame[grain].astype(str), freq=freq)
    first, last = pd.Period(start, freq="M").asfreq(freq), pd.Period(end, freq="M").asfreq(freq)
    step = PERIODS_PER_YEAR[grain]
    parts = []
    for label, shift in (("Période choisie", 0), ("Année précédente", step)):
        kept = (periods >= first - shift) & (periods <= last - shift)
        parts.append(frame[kept].assign(période=(periods[kept] + shift).to_timestamp(), série=label,
                                        libellé=frame[grain][kept].astype(str)))
    return pd.concat(parts, ignore_index=True).sort_values(["série", "période"]).reset_index(drop=True)


def unit_digits(unit: str) -> int:
    return 0 if unit.lower() in {"séjours", "patients", "passages", "journées", "nombre"} else 2


BADGE_COLOURS = {"fit": "#1a7f37", "caution": "#9a6700", "unfit": "#cf222e"}


def quality_html(quality: Any | None) -> str:
    """The quality badge: status of the checks the indicator depends on, failing checks in the tooltip."""
    if quality is None:
        return '<div class="wb-quality" data-quality="">Qualité : non évaluée</div>'
    colour = BADGE_COLOURS.get(quality.status, "#555")
    tooltip = html.escape("\n".join(quality.reasons()) or "tous les contrôles requis passent sur ce périmètre")
    return (f'<div class="wb-quality" data-quality="{quality.status}" title="{tooltip}" style="font-size:0.85em;'
            f'color:{colour};font-weight:600">Qualité : {quality.label}'
            f'{f" ({len(quality.failing)} contrôle(s) en échec)" if quality.failing else ""}</div>')


def kpi_html(definition: Any, result: Any, previous: float | None, quality: Any | None = None) -> str:
    """One KPI card: value, change vs previous year, definition, referent, version, quality badge."""
    indicator = definition.id
    current = single_value(result.frame)
    digits = unit_digits(definition.unit)
    if not result.available:
        evolution = f"{result.status} (données manquantes : " + ", ".join(
            f"{view}.{column}" for view, columns in result.missing.items() for column in columns) + ")"
    elif current is not None and previous not in (None, 0):
        change = (current - previous) / abs(previous) * 100
        arrow = "▲" if change > 0 else ("▼" if change < 0 else "=")
        evolution = f"{arrow} {c.french_number(change, 1)} % vs N-1 ({c.french_number(previous, digits)})"
    else:
        evolution = "pas de comparaison possible avec N-1"
    version = result.version
    escape = html.escape
    return (
        f'<div class="wb-kpi" data-indicator="{escape(indicator)}" data-value="{"" if current is None else repr(current)}"'
        f' data-previous="{"" if previous is None else repr(previous)}">'
        f'<div style="font-weight:600">{escape(definition.name)}</div>'
        f'<div class="wb-kpi-value" style="font-size:2em">{c.french_number(current, digits)}'
        f' <span style="font-size:0.5em">{escape(definition.unit)}</span></div>'
        f'<div class="wb-kpi-change">{escape(evolution)}</div>'
        f'<div style="font-size:0.85em;color:#555">{escape(definition.definition)}</div>'
        f'<div style="font-size:0.8em;color:#555">Référent : {escape(definition.referent)} · version {escape(version)}</div>'
        f"{quality_html(quality)}"
        "</div>"
    )


def definition_markdown(definition: Any) -> str:
    """The wiki's definition of the indicator, shown beside its figures."""
    lines = [
        f"**{definition.name}** (`{definition.id}`)", "", definition.definition, "",
        f"- **Numérateur** : {definition.numerator}",
    ]
    if definition.denominator:
        lines.append(f"- **Dénominateur** : {definition.denominator}")
    lines += [
        f"- **Unité** : {definition.unit}",
        f"- **Référent** : {definition.referent}",
        f"- **Version en vigueur** : {definition.version_at().version}",
        "", f"[Page du dictionnaire](/dictionnaire?indicateur={definition.id})",
    ]
    return "\n".join(lines)


def sql_texts(result: Any) -> tuple[str, str]:
    """The SQL the warehouse ran and its Spark translation, from the engine's own expression."""
    serving = result.sql
    expression = getattr(result, "expr", None)
    if expression is None:
        return serving, "(traduction Spark indisponible pour cet indicateur)"
    return serving, c.warehouse().to_sql(expression, "spark")


def build() -> pn.template.BaseTemplate:
    """The Pilotage page of one browser session."""
    return Pilotage().layout()
