"""Pilotage page: KPI cards, time series, breakdown by care-site level, SQL and exports.

Every figure comes from the indicator engine (``workbench.indicators.engine.compute``)
through :func:`dashboards.components.indicator_result`; the page only chooses
the request (indicator, period, care-site filters) and lays the answers out.
The view state lives in the URL, so a copied link reopens the same view.
"""

from __future__ import annotations

import asyncio
import html
import io
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

import holoviews as hv
import pandas as pd
import panel as pn
from panel.io.document import hold

from dashboards import components as c
from dashboards.cards import BADGE_COLOURS, kpi_html, quality_html, single_value, unit_digits  # noqa: F401 - shown here, owned there
from dashboards.months import last_complete_month, month_options, shift_month
from workbench.html import plain
from workbench import access, audit
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
    "age_band": "Tranche d'âge", "sex": "Sexe", "libellé": "Libellé", "masked": "Masqué (effectif < 10)",
}


# --------------------------------------------------------------------------- care sites

def _care_site_tree(handle: Any) -> pd.DataFrame:
    sites = handle.view("care_sites")
    expr = sites.filter(sites.level.isin(["hopital", "pole", "service"])).select(
        "code", "name", "level", "hospital", "pole"
    )
    return handle.execute(expr).sort_values(["level", "name"]).reset_index(drop=True)


def care_site_tree(scope: c.Scope) -> pd.DataFrame:
    """Hospitals, poles and services of the `care_sites` view (one query per snapshot and policy)."""
    key = ("care_sites", scope.catalog, scope.policy, scope.snapshot)
    return c.RESULTS.get(key, lambda: _care_site_tree(scope.warehouse))


@dataclass(frozen=True)
class Reach:
    """The care sites a patient-level user with a perimeter may choose: those inside it, and those above it.

    Choosing a site above the perimeter (the user's hospital when the perimeter
    is one service) only leads to the next level; a figure is computed for a
    site inside the perimeter, on the user's own rows. ``None`` instead of a
    Reach means every site may be chosen.
    """

    inside: frozenset[str]
    above: frozenset[str]


def reach(tree: pd.DataFrame, user: Any) -> Reach | None:
    if access.row_access(user) != access.PERIMETER_ROWS:
        return None
    perimeter = set(user.perimeter)
    rows = tree.set_index("code")
    inside = {row.code for row in tree.itertuples() if {row.code, row.hospital, row.pole} & perimeter}
    above = {parent for code in perimeter if code in rows.index
             for parent in (rows.loc[code, "hospital"], rows.loc[code, "pole"]) if isinstance(parent, str)}
    return Reach(frozenset(inside), frozenset(above - inside))


def site_options(tree: pd.DataFrame, level: str, parent_column: str | None, parent: str, everything: str,
                 reach_: Reach | None = None) -> dict[str, str]:
    """Options of one cascade level: children of the chosen parent, within the user's reach.

    "All" (no filter at this level) is offered only when the parent itself is
    inside the perimeter: otherwise it would ask for sites the user may not see.
    """
    rows = tree[tree.level == level]
    if parent_column is not None:
        rows = rows[rows[parent_column] == parent] if parent else rows.iloc[0:0]
    if reach_ is not None:
        rows = rows[rows.code.isin(reach_.inside | reach_.above)]
    options = {plain(f"{row.name} ({row.code})"): row.code for row in rows.itertuples()}
    whole = reach_ is None or (parent_column is not None and parent in reach_.inside)
    return {everything: ALL, **options} if whole else options


def first_value(options: dict[str, str]) -> str:
    return ALL if ALL in options.values() else next(iter(options.values()), ALL)


# --------------------------------------------------------------------------- figures

@dataclass(frozen=True)
class View:
    """Everything the page shows, as plain values read from the widgets: what the worker computes."""

    kpis: tuple[str, ...]
    detail: str
    start: str
    end: str
    grain: str
    filters: dict[str, list[str]]
    level: str
    protected: bool

    @property
    def card_grain(self) -> str:
        """A card covers exactly the chosen months; under the disclosure policy, the chosen year as one cell."""
        return "year" if self.protected else "month"

    @property
    def table_grain(self) -> str:
        return "year" if self.protected else self.grain

    @property
    def hospitals(self) -> tuple[str, ...]:
        return tuple(self.filters.get("hospital", ()))


@dataclass
class Figures:
    """The computed figures of one view; a failed figure holds its exception instead."""

    cards: dict[str, tuple[Any, float | None, Any] | BaseException] = field(default_factory=dict)
    series: pd.DataFrame | BaseException | None = None
    table: Any = None


def _attempt(compute: Any) -> Any:
    try:
        return compute()
    except Exception as error:  # noqa: BLE001 - shown in place of the figure, logged in full
        c.log.error("calcul du tableau de bord : %s", error, exc_info=True)
        return error


def compute_figures(scope: c.Scope, view: View) -> Figures:
    """Every figure of the view, on a worker thread (the event loop keeps serving other sessions)."""

    def result(indicator: str, by: tuple[str, ...] = (), years_back: int = 0, grain: str = "month",
               start: str | None = None) -> Any:
        return c.indicator_result(
            indicator, by=by, start=shift_month(start or view.start, -12 * years_back),
            end=shift_month(view.end, -12 * years_back), grain=grain, filters=view.filters, scope=scope,
        )

    def card(indicator: str) -> tuple[Any, float | None, Any]:
        current = result(indicator, grain=view.card_grain)
        previous = single_value(result(indicator, years_back=1, grain=view.card_grain).frame)
        quality = c.indicator_quality(indicator, view.start, view.end, hospitals=view.hospitals, scope=scope)
        return current, previous, quality

    figures = Figures()
    for indicator in view.kpis:
        figures.cards[indicator] = _attempt(lambda indicator=indicator: card(indicator))
    figures.series = _attempt(lambda: two_years(
        result(view.detail, by=(view.grain,), grain=view.grain, start=shift_month(view.start, -12)).frame,
        view.grain, view.start, view.end))
    figures.table = _attempt(lambda: result(view.detail, by=(view.level,), grain=view.table_grain))
    return figures


FIRST_WAIT = 0.25
"""Seconds a new page waits for its first figures before being sent without them."""



# --------------------------------------------------------------------------- the page

class Pilotage:
    """The widgets of one session and the panes they fill.

    A change of the widgets computes the figures on a worker thread, then
    updates the existing panes in place (new card text, new table data, new
    plot) in one batch: the event loop is free while queries run, other
    sessions stay responsive, and the browser only receives the changed data.
    """

    def __init__(self) -> None:
        self.scope = c.session_scope()
        self.doc = pn.state.curdoc
        self.dictionary = self.scope.dictionary
        self.tree = care_site_tree(self.scope)
        user = c.current_user()
        self.user = user
        self.reach = reach(self.tree, user)
        self.protected = user is not None and not _patient_level(user)
        last = last_complete_month(getattr(self.scope.warehouse, "extraction_date", None))
        names = {plain(f"{page.definition.name} ({ident})"): ident for ident, page in sorted(self.dictionary.indicators.items())}
        kpis = [ident for ident in DEFAULT_KPIS if ident in self.dictionary.indicators]
        detail = DEFAULT_DETAIL if DEFAULT_DETAIL in self.dictionary.indicators else next(iter(names.values()))

        hospitals = site_options(self.tree, "hopital", None, ALL, "Tous les hôpitaux", self.reach)
        first = first_value(hospitals)
        poles = site_options(self.tree, "pole", "hospital", first, "Tous les pôles", self.reach)
        services = site_options(self.tree, "service", "pole", first_value(poles), "Tous les services", self.reach)
        self.hospital = pn.widgets.Select(name="Hôpital", options=hospitals, value=first, css_classes=["wb-hopital"])
        self.pole = pn.widgets.Select(name="Pôle", options=poles, value=first_value(poles), css_classes=["wb-pole"])
        self.service = pn.widgets.Select(name="Service", options=services, value=first_value(services),
                                         css_classes=["wb-service"])
        if self.protected:  # the disclosure policy publishes whole periods only: the user chooses a year
            years = year_options(last)
            self.start = pn.widgets.Select(name="Année", options=years, value=default_year(last), css_classes=["wb-debut"])
            self.end = pn.widgets.Select(name="Au mois", options=[last], value=last, visible=False, css_classes=["wb-fin"])
        else:
            months = month_options(last)
            self.start = pn.widgets.Select(name="Du mois", options=months, value=shift_month(last, -11), css_classes=["wb-debut"])
            self.end = pn.widgets.Select(name="Au mois", options=months, value=last, css_classes=["wb-fin"])
        self.grain = pn.widgets.RadioButtonGroup(name="Grain", options=GRAINS, value="month", button_type="primary", css_classes=["wb-grain"])
        self.stay_type = pn.widgets.Select(name="Champ PMSI", options=STAY_TYPES, value=ALL, css_classes=["wb-champ"])
        self.kpis = pn.widgets.MultiChoice(name="Indicateurs des cartes", options=names, value=kpis, css_classes=["wb-cartes"])
        self.detail = pn.widgets.Select(name="Indicateur détaillé", options=names, value=detail, css_classes=["wb-indicateur"])

        self.notice = c.Alert("", alert_type="warning", visible=False, css_classes=["wb-notice"], sizing_mode="stretch_width")
        self.period_note = c.Markdown("", css_classes=["wb-periode"], sizing_mode="stretch_width")
        self.cards = pn.FlexBox(sizing_mode="stretch_width")
        self.series_data = hv.streams.Pipe(data=None)
        self.series_pane = pn.pane.HoloViews(None, sizing_mode="stretch_width", height=360, css_classes=["wb-series"])
        self.series_note = c.Markdown("", css_classes=["wb-series-note"], sizing_mode="stretch_width")
        self.series_slot = pn.Column(self.series_pane, self.series_note, sizing_mode="stretch_width")
        self.table_title = c.Markdown("", css_classes=["wb-breakdown-title"])
        self.table = pn.widgets.Tabulator(
            pd.DataFrame(), show_index=False, disabled=True, sizing_mode="stretch_width", height=200,
            hidden_columns=["indicator_version", "snapshot_id"], pagination=None, css_classes=["wb-breakdown"],
        )
        self.table_result: Any = None
        self.csv = pn.widgets.FileDownload(callback=lambda: self._download("csv"), filename="indicateur.csv",
                                           label="Télécharger CSV", button_type="primary", css_classes=["wb-download-csv"])
        self.xlsx = pn.widgets.FileDownload(callback=lambda: self._download("xlsx"), filename="indicateur.xlsx",
                                            label="Télécharger XLSX", button_type="primary", css_classes=["wb-download-xlsx"])
        self.table_slot = pn.Column(self.table_title, self.table, pn.Row(self.csv, self.xlsx), sizing_mode="stretch_width")
        self.body = pn.Column(self.cards, self.series_slot, self.table_slot, sizing_mode="stretch_width")
        self.definition = c.Markdown("", sizing_mode="stretch_width", css_classes=["wb-definition"])
        self.notebook_values: dict[str, Any] = {}
        self.notebook_button = pn.widgets.FileDownload(
            callback=lambda: c.notebook_download(NOTEBOOK_TEMPLATE, self.notebook_values), filename="notebook.ipynb",
            label="Ouvrir comme notebook", button_type="success", css_classes=["wb-notebook"], width=220,
        )
        self.notebook_note = c.Markdown("", css_classes=["wb-notebook-note"], sizing_mode="stretch_width")
        self.show_sql = pn.widgets.Toggle(name="Voir le SQL", button_type="light", css_classes=["wb-sql-toggle"], width=160)
        self.sql_slot = pn.Column(sizing_mode="stretch_width")

        self._settling = 0
        self._generation = 0
        # the cascade runs before the figures are asked for (watchers run by increasing precedence)
        self.hospital.param.watch(self._hospital_changed, "value", precedence=0)
        self.pole.param.watch(self._pole_changed, "value", precedence=0)
        self._sync_url()
        for widget in (*self.state, self.kpis, self.detail):
            widget.param.watch(self._refresh, "value", precedence=1)
        self.show_sql.param.watch(self._show_sql, "value")
        self._prefetched: tuple[View, Any] | None = None
        self._first_figures()

    def site_names(self) -> dict[str, str]:
        """Care-site code → name, to label the breakdown rows (hospitals, poles, services)."""
        return dict(zip(self.tree["code"], self.tree["name"]))

    # -- cascade

    def _cascade(self, child: pn.widgets.Select, level: str, parent_column: str, parent: str, everything: str) -> None:
        self._settling += 1
        try:
            options = site_options(self.tree, level, parent_column, parent, everything, self.reach)
            child.param.update(options=options, value=first_value(options))
        finally:
            self._settling -= 1

    def _hospital_changed(self, event: Any) -> None:
        self._cascade(self.pole, "pole", "hospital", event.new, "Tous les pôles")

    def _pole_changed(self, event: Any) -> None:
        self._cascade(self.service, "service", "pole", event.new, "Tous les services")

    def _sync_url(self) -> None:
        """Every choice in the query string; the cascade is restored parents first."""
        c.sync_url([
            (self.hospital, "value", "hopital"), (self.pole, "value", "pole"), (self.service, "value", "service"),
            (self.start, "value", "debut"), (self.end, "value", "fin"), (self.grain, "value", "grain"),
            (self.stay_type, "value", "champ"), (self.kpis, "value", "cartes"), (self.detail, "value", "indicateur"),
        ], refused=self._refused)

    def _refused(self, key: str, value: str) -> None:
        """A link asked for something this user is not offered: ignored, said on the page, audited."""
        shown = html.escape(value[:60])
        self.notice.object = (f"Le lien demandait « {key} = {shown} », qui ne fait pas partie des choix proposés "
                              "(valeur inconnue ou hors de votre périmètre) : ce paramètre a été ignoré.")
        self.notice.visible = True
        if self.user is not None:
            audit.write("refused", self.user, surface="dashboard", parameter=key, value=value[:200],
                        reason="paramètre d'URL non proposé")

    # -- the request

    def filters(self) -> dict[str, list[str]]:
        chosen = {
            "hospital": self.hospital.value, "pole": self.pole.value, "service": self.service.value,
            "stay_type": self.stay_type.value,
        }
        return {dimension: [value] for dimension, value in chosen.items() if value}

    def period(self) -> tuple[str, str]:
        if self.protected:
            year = self.start.value[:4]
            return f"{year}-01", f"{year}-12"
        start, end = self.start.value, self.end.value
        return (start, end) if start <= end else (end, start)

    def breakdown_level(self) -> str:
        """The care-site level just below the current selection (the policy's cube stops at the service)."""
        if self.service.value:
            return "service" if self.protected else "uf"
        if self.pole.value:
            return "service"
        if self.hospital.value:
            return "pole"
        return "hospital"

    def view(self) -> View:
        start, end = self.period()
        return View(tuple(self.kpis.value), self.detail.value, start, end, self.grain.value, self.filters(),
                    self.breakdown_level(), self.protected)

    # -- computing and showing

    def _first_figures(self) -> None:
        """Figures already in the shared cache go out with the page itself; others follow once it is loaded.

        The wait is bounded, so a cold request never holds the event loop (and
        the other sessions) for longer than `FIRST_WAIT` seconds.
        """
        view = self.view()
        future = c.WORKERS.submit(compute_figures, self.scope, view)
        try:
            figures = future.result(timeout=FIRST_WAIT)
        except FutureTimeout:
            self._prefetched = (view, future)  # computed while the browser loads the page
            self.body.loading = True
            pn.state.onload(self._refresh)
            return
        self._show(view, figures)

    async def _refresh(self, *_: Any) -> None:
        """Compute the view's figures off the event loop, then show them if no newer request came meanwhile."""
        if self._settling:
            return
        self._generation += 1
        generation, view = self._generation, self.view()
        prefetched, self._prefetched = self._prefetched, None
        self.body.loading = True
        try:
            if prefetched is not None and prefetched[0] == view:
                figures = await asyncio.wrap_future(prefetched[1])
            else:
                self.scope = c.session_scope()  # rights and snapshot as they are now (access.yaml, warehouse file)
                figures = await asyncio.get_running_loop().run_in_executor(c.WORKERS, compute_figures, self.scope, view)
        except Exception as error:  # noqa: BLE001 - the worker itself failed: shown, the session lives on
            figures = Figures(series=error, table=error, cards={indicator: error for indicator in view.kpis})
        if generation != self._generation:
            return  # a newer request is on its way: its figures will replace these
        with hold(self.doc):
            self._show(view, figures)
            self.body.loading = False

    def _show(self, view: View, figures: Figures) -> None:
        self.period_note.object = period_markdown(view)
        self._show_cards(view, figures)
        self._show_notebook(view)
        definition = self.dictionary.get(view.detail).definition
        self.definition.object = definition_markdown(definition)
        if self.show_sql.value:
            pn.state.execute(self._show_sql)
        if isinstance(figures.series, BaseException):
            self.series_slot[:] = [c.error_alert(figures.series, "La série temporelle")]
        elif figures.series.empty:
            self.series_slot[:] = [c.Alert("Aucune donnée pour cette sélection.", alert_type="warning",
                                                 css_classes=["wb-series-empty"])]
        else:
            self.series_data.send((figures.series, definition))  # the drawn plot's data change in place
            if self.series_pane.object is None:
                self.series_pane.object = hv.DynamicMap(lambda data: series_plot(*data), streams=[self.series_data])
            self.series_note.object = masked_note(figures.series)
            if self.series_slot.objects != [self.series_pane, self.series_note]:
                self.series_slot[:] = [self.series_pane, self.series_note]
        if isinstance(figures.table, BaseException):
            self.table_result = None
            self.table_slot[:] = [c.error_alert(figures.table, "Le tableau par niveau")]
            return
        self._show_table(view, figures.table, definition)

    def _show_cards(self, view: View, figures: Figures) -> None:
        panes = []
        for indicator in view.kpis:
            figure = figures.cards[indicator]
            if isinstance(figure, BaseException):
                panes.append(c.error_alert(figure, f"L'indicateur « {indicator} »"))
                continue
            current, previous, quality = figure
            text = kpi_html(self.dictionary.get(indicator).definition, current, previous, quality)
            panes.append(c.HTML(text, width=330, margin=6, css_classes=["wb-card"]))
        if not panes:
            panes = [c.Markdown("*Choisissez au moins un indicateur.*")]
        old = self.cards.objects
        if len(old) == len(panes) and all(type(a) is type(b) is c.HTML for a, b in zip(old, panes)):
            for pane, new in zip(old, panes):  # same layout: only the text changes
                pane.object = new.object
        else:
            self.cards[:] = panes

    def _show_table(self, view: View, result: Any, definition: Any) -> None:
        shown = result.frame.copy()
        shown.insert(1, "libellé", shown[view.level].map(self.site_names()).fillna(""))
        self.table_result = (result, view.filters)
        name = f"{view.detail}_{view.level}_{view.start}_{view.end}"
        self.csv.filename, self.xlsx.filename = f"{name}.csv", f"{name}.xlsx"
        self.table_title.object = f"#### {definition.name} par {LEVEL_LABELS[view.level].lower()}"
        layout = {"titles": {column: COLUMN_LABELS.get(column, column) for column in shown.columns},
                  "formatters": number_formats(definition.unit), "height": min(480, 70 + 42 * len(shown))}
        changed = {name: value for name, value in layout.items() if getattr(self.table, name) != value}
        self.table.param.update(value=shown, **changed)  # same columns: only the data is sent
        if not any(pane is self.table for pane in self.table_slot.objects):
            self.table_slot[:] = [self.table_title, self.table, pn.Row(self.csv, self.xlsx)]

    def _download(self, kind: str) -> io.BytesIO:
        """What the table shows, stamped as the CLI's outputs are, and written to the audit log."""
        if self.table_result is None:
            raise c.UserError("aucun tableau à télécharger")
        result, filters = self.table_result
        return c.download(result, kind, self.user, filters)

    # -- the parts computed on demand

    async def _show_sql(self, *_: Any) -> None:
        """The SQL of the breakdown table, compiled (and translated to Spark) only while asked for."""
        if not self.show_sql.value:
            self.sql_slot[:] = []
            return
        view, scope = self.view(), self.scope

        def texts() -> tuple[str, str]:
            result = c.indicator_result(view.detail, by=(view.level,), start=view.start, end=view.end,
                                        grain=view.table_grain, filters=view.filters, scope=scope)
            return sql_texts(result, scope.warehouse)

        self.sql_slot.loading = True
        try:
            serving, spark = await asyncio.get_running_loop().run_in_executor(c.WORKERS, texts)
            shown: pn.viewable.Viewable = pn.Tabs(
                ("SQL exécuté (DuckDB)", c.Markdown(f"```sql\n{serving}\n```", sizing_mode="stretch_width")),
                ("SQL Spark", c.Markdown(f"```sql\n{spark}\n```", sizing_mode="stretch_width")),
                sizing_mode="stretch_width",
            )
        except Exception as error:  # noqa: BLE001 - shown in place of the SQL
            shown = c.error_alert(error, "Le SQL")
        self.sql_slot[:] = [shown]
        self.sql_slot.loading = False

    def _show_notebook(self, view: View) -> None:
        """« Ouvrir comme notebook » : the `indicator_deep_dive` template with this view's parameters.

        The template reproduces a view restricted to at most one hospital; with a
        pole, a service or a PMSI field chosen it would compute another figure,
        so the button is then disabled and says why.
        """
        hospital = self.hospital.value
        beyond = [label for label, widget in (("pôle", self.pole), ("service", self.service), ("champ PMSI", self.stay_type))
                  if widget.value]
        self.notebook_values = {"indicator": view.detail, "by": [], "start": view.start, "end": view.end,
                                "hospital": hospital}
        self.notebook_button.param.update(
            disabled=bool(beyond),
            filename=f"{NOTEBOOK_TEMPLATE}_{view.detail}_{view.start}_{view.end}{'_' + hospital if hospital else ''}.ipynb",
        )
        self.notebook_note.object = (
            f"Le modèle de notebook ne reproduit pas le filtre {', '.join(beyond)} : choisissez au plus un hôpital."
            if beyond else "Notebook Jupyter (modèle « analyse approfondie ») qui recalcule l'indicateur détaillé "
                           "sur la même période et le même hôpital.")

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
        main = [
            self.notice,
            pn.Column(c.Markdown("## Indicateurs clés (évolution par rapport à la même période l'année précédente)"),
                      self.period_note, self.cards, sizing_mode="stretch_width"),
            pn.Row(self.notebook_button, self.notebook_note, sizing_mode="stretch_width"),
            report_form(self.report_context),
            pn.Row(pn.Column(self.series_slot, self.table_slot, sizing_mode="stretch_width"),
                   pn.Column(c.Markdown("### Définition"), self.definition, width=420),
                   sizing_mode="stretch_width"),
            pn.Column(self.show_sql, self.sql_slot, css_classes=["wb-sql"], sizing_mode="stretch_width"),
        ]
        sidebar = [
            c.Markdown("### Filtres"), self.hospital, self.pole, self.service, self.start, self.end,
            c.Markdown("Grain"), self.grain, self.stay_type, c.Markdown("### Indicateurs"), self.kpis,
            self.detail,
        ]
        return c.page("pilotage", main, sidebar)


def _patient_level(user: Any) -> bool:
    return access.row_access(user) != access.AGGREGATES_ONLY


def year_options(last: str, count: int = 6) -> dict[str, str]:
    """Whole years up to the one of `last`, most recent first (the current one says where its data stops)."""
    year = int(last[:4])
    current = f"{year} (jusqu'à {last[5:]}/{year})" if not last.endswith("-12") else str(year)
    return {current: f"{year}-01", **{str(y): f"{y}-01" for y in range(year - 1, year - count, -1)}}


def default_year(last: str) -> str:
    """The last complete year: the one a policy user compares with the year before."""
    year = int(last[:4]) if last.endswith("-12") else int(last[:4]) - 1
    return f"{year}-01"


def masked_note(series: pd.DataFrame) -> str:
    """Say how many points the disclosure policy left out of the plot (they are not drawn as zero)."""
    hidden = int(series["masked"].sum()) if "masked" in series else 0
    return f"*{hidden} point(s) masqué(s) : moins de 10 patients (politique de diffusion).*" if hidden else ""


def period_markdown(view: View) -> str:
    if view.protected:
        return (f"Année {view.start[:4]} (comparée à {int(view.start[:4]) - 1}) — données agrégées protégées : "
                "les effectifs de moins de 10 patients sont masqués.")
    return f"Du {view.start} au {view.end} (comparé à la même période un an plus tôt)."


# --------------------------------------------------------------------------- formatting

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


def sql_texts(result: Any, warehouse: Any) -> tuple[str, str]:
    """The SQL the warehouse ran and its Spark translation, from the engine's own expression."""
    serving = result.sql
    expression = getattr(result, "expr", None)
    if expression is None:
        return serving, "(traduction Spark indisponible pour cet indicateur)"
    return serving, warehouse.to_sql(expression, "spark")


SERIES_STYLE = (("Année précédente", "dashed", "#8c959f"), ("Période choisie", "solid", "#0063af"))
"""Each series' line dash and colour; both are always drawn (maybe empty), so an update only changes data."""


def series_plot(data: pd.DataFrame, definition: Any) -> hv.Overlay:
    """The chosen period and, dashed, the same months one year earlier, on one time axis."""
    elements = []
    for label, dash, colour in SERIES_STYLE:
        part = data[data["série"] == label]
        elements += [
            hv.Curve(part, "période", ["value", "libellé", "numerator", "denominator", "série"], label=label)
            .opts(line_dash=dash, color=colour, line_width=2, tools=["hover"]),
            hv.Scatter(part, "période", ["value", "libellé", "série"], label=label)
            .opts(color=colour, size=6, tools=["hover"]),
        ]
    return hv.Overlay(elements).opts(
        title=f"{definition.name} : période choisie et année précédente", xlabel="Période",
        ylabel=f"{definition.name} ({definition.unit})", responsive=True, height=340, legend_position="top_left",
        framewise=True, ylim=value_range(data["value"]),
    )


def value_range(values: pd.Series) -> tuple[float | None, float | None]:
    """A vertical range holding every point of both series with a margin (from 0 when all are positive):
    the previous year's line must never leave the plot, whichever series is higher."""
    numbers = pd.to_numeric(values, errors="coerce").dropna()
    if numbers.empty:
        return (None, None)
    low, high = float(numbers.min()), float(numbers.max())
    margin = (high - low) * 0.08 or abs(high) * 0.1 or 1.0
    return (0.0 if low >= 0 else low - margin, high + margin)


def number_formats(unit: str) -> dict[str, dict[str, Any]]:
    """Tabulator's French number formats: counts without decimals, the value with its unit's digits
    (the download keeps full precision)."""
    french = {"type": "money", "decimal": ",", "thousand": "\u202f", "symbol": ""}
    return {"value": {**french, "precision": unit_digits(unit)},
            **{column: {**french, "precision": 0} for column in ("numerator", "denominator", "n_patients")}}


def build() -> pn.template.BaseTemplate:
    """The Pilotage page of one browser session."""
    return Pilotage().layout()
