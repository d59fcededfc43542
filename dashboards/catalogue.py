"""Catalogue page: what the warehouse holds, since when, and whether each feed is alive.

Tables come with their French description and row count, canonical views with
their columns, and the monthly volume of each view per hospital: a hospital
whose feed stopped shows an empty band in the heat map at a glance.
"""

from __future__ import annotations

import asyncio

import html
from typing import Any

import pandas as pd
import panel as pn

from dashboards import components as c
from dashboards.months import last_complete_month, shift_month
from workbench import catalog


TABLE_CSS = """
table.wb-tables th, table.wb-tables td { padding: 4px 8px; border-bottom: 1px solid #e3e6ea; vertical-align: top; }
table.wb-tables th { background: #f3f5f8; text-align: left; }
"""

# --------------------------------------------------------------------------- cached queries

def _tables_summary(handle: Any) -> pd.DataFrame:
    """One row per raw table, counted by `workbench.catalog.summary` (the numbers of `catalog show`)."""
    rows = []
    for name in sorted(handle.tables):
        info = handle.catalog.tables[name]
        row = {"table": name, "description": info.description, "source": info.source_system,
               "lignes": None, "premiere_date": None, "derniere_date": None}
        if handle.readable(name):  # a refused table is listed and marked, as `catalog list` does
            counted = catalog.summary(handle, name)
            row.update(lignes=counted["rows"], premiere_date=counted["first_date"], derniere_date=counted["last_date"])
        rows.append(row)
    return pd.DataFrame(rows, dtype=object)  # a refused table's count stays None, the others plain ints


def tables_summary(scope: c.Scope | None = None) -> pd.DataFrame:
    """One row per raw table: description, source, rows, first and last date (shared by all sessions;
    one full scan per table, so computed off the event loop and by the server's warm-up)."""
    scope = scope or c.session_scope()
    return c.served(("tables_summary", scope.catalog, scope.policy, scope.snapshot),
                    lambda: _tables_summary(scope.warehouse), scope, "execute",
                    lambda summary: {"what": "tables_summary", "rows": len(summary)})


def volumes(months: int = 60) -> pd.DataFrame:
    """Monthly rows per canonical view and hospital, zeros included (a stopped feed is a 0); shared by the
    sessions of one policy and snapshot, each serve audited."""
    from workbench.analysis import completeness_over_time, monthly_volumes

    scope = c.Scope(str(c.catalog_path()), c.policy(), c.warehouse(), None)  # no dictionary needed here
    end = shift_month(last_complete_month(getattr(scope.warehouse, "extraction_date", None)), 1)
    start = shift_month(end, -(months - 1))
    return c.served(("volumes", scope.catalog, scope.policy, scope.snapshot, start, end),
                    lambda: completeness_over_time(monthly_volumes(scope.warehouse, start, end)), scope, "execute",
                    lambda frame: {"what": "volumes", "period": f"{start}/{end}", "rows": len(frame)})


# --------------------------------------------------------------------------- rendering

def _date(value: Any) -> str:
    if value is None or pd.isna(value):
        return "—"
    return pd.Timestamp(value).strftime("%d/%m/%Y")


def tables_html(summary: pd.DataFrame) -> str:
    """The table list as HTML, each count carrying its exact value for checks and tooltips."""
    escape = html.escape
    rows = "".join(
        f'<tr data-table="{escape(r.table)}"><td><code>{escape(r.table)}</code></td><td>{escape(r.description)}</td>'
        f"<td>{escape(r.source)}</td>"
        + (f'<td class="wb-count" data-count="{r.lignes}" style="text-align:right">{c.french_number(r.lignes)}</td>'
           if r.lignes is not None else '<td class="wb-count wb-refused"><i>accès refusé</i></td>')
        + f"<td>{_date(r.premiere_date)}</td><td>{_date(r.derniere_date)}</td></tr>"
        for r in summary.itertuples()
    )
    return (
        '<table class="wb-tables" style="width:100%;border-collapse:collapse">'
        "<thead><tr><th>Table</th><th>Description</th><th>Source</th><th>Lignes</th>"
        "<th>Première date</th><th>Dernière date</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def columns_frame(handle: Any, name: str) -> pd.DataFrame:
    """Columns of a raw table with type, French description and examples from the rows the user may read."""
    described = handle.catalog.tables[name].columns
    examples = catalog.column_examples(handle, name)
    return pd.DataFrame(
        [
            {"colonne": column, "type": str(dtype),
             "description": described[column].description if column in described else "",
             "exemples": ", ".join(str(v) for v in examples.get(column, []))}
            for column, dtype in handle.table(name).schema().items()
        ]
    )


def view_columns_frame(name: str) -> pd.DataFrame:
    from workbench.semantic.views import VIEWS

    return pd.DataFrame(
        [
            {"colonne": column, "type": spec.type, "description": spec.description,
             "valeurs": ", ".join(spec.categories)}
            for column, spec in VIEWS[name].columns.items()
        ]
    )


CLINICAL_TABLES = ("visit_occurrence", "person")
"""What the page opens on: the stays, else the patients, else the first table that is not internal (`_metadata`)."""


def first_table(tables: list[str]) -> str | None:
    """The table the page shows first: a clinical one, never the warehouse's internal `_metadata`."""
    return next((t for t in CLINICAL_TABLES if t in tables), next((t for t in tables if not t.startswith("_")),
                                                                    tables[0] if tables else None))


class CataloguePage:
    def __init__(self) -> None:
        self.handle = c.warehouse()
        tables = sorted(self.handle.tables)
        from workbench.semantic.views import VIEWS

        self.views = VIEWS
        self.table = pn.widgets.Select(name="Table", options=tables, value=first_table(tables))
        self.view = pn.widgets.Select(name="Vue canonique", options=list(VIEWS), value="stays" if "stays" in VIEWS else None)
        self.volume_view = pn.widgets.Select(name="Volumes mensuels de la vue", options=VOLUME_VIEWS, value="stays")
        c.sync_url([(self.table, "value", "table"), (self.view, "value", "vue"), (self.volume_view, "value", "volumes")])
        self.scope = c.session_scope()
        self.table_list = pn.Column(sizing_mode="stretch_width", min_height=120, loading=True)
        pn.state.onload(self._fill_table_list)

    async def _fill_table_list(self) -> None:
        """The tables and their antériorité, computed on a worker thread once the page is loaded
        (a full scan of each table: the event loop keeps serving the other sessions)."""
        try:
            summary = await asyncio.get_running_loop().run_in_executor(c.WORKERS, tables_summary, self.scope)
            shown: list[Any] = [
                c.Markdown(f"## Tables de l'entrepôt ({len(summary)})\n"
                                 "Nombre de lignes et antériorité (première et dernière date de la colonne de date de "
                                 "chaque table)."),
                c.HTML(tables_html(summary), sizing_mode="stretch_width", css_classes=["wb-table-list"],
                             stylesheets=[TABLE_CSS]),
            ]
        except Exception as error:  # noqa: BLE001 - shown in place of the list, logged in full
            shown = [c.error_alert(error, "La liste des tables")]
        self.table_list[:] = shown
        self.table_list.loading = False

    @c.guarded("Le détail de la table")
    def table_detail(self, name: str) -> pn.viewable.Viewable:
        frame = columns_frame(c.warehouse(), name)  # the user's rights and snapshot as they are now
        return pn.widgets.Tabulator(frame, show_index=False, disabled=True, sizing_mode="stretch_width", layout="fit_data_stretch")

    @c.guarded("Le détail de la vue")
    def view_detail(self, name: str) -> pn.viewable.Viewable:
        spec = self.views[name]
        return pn.Column(
            c.Markdown(f"**{name}** : {spec.description}"),
            pn.widgets.Tabulator(view_columns_frame(name), show_index=False, disabled=True, sizing_mode="stretch_width",
                                 layout="fit_data_stretch"),
            sizing_mode="stretch_width",
        )

    def layout(self) -> pn.template.BaseTemplate:
        main = [
            self.table_list,
            pn.Tabs(
                ("Colonnes d'une table", pn.Column(self.table, pn.bind(self.table_detail, self.table), sizing_mode="stretch_width")),
                ("Vues canoniques", pn.Column(self.view, pn.bind(self.view_detail, self.view), sizing_mode="stretch_width")),
                ("Volumes mensuels", pn.Column(self.volume_view, pn.panel(pn.bind(volume_figure, self.volume_view), loading_indicator=True),
                                               sizing_mode="stretch_width")),
                sizing_mode="stretch_width", dynamic=True,
            ),
        ]
        stamp = (f"Instantané des données : `{self.handle.snapshot_id}`\n\n"
                 f"Date d'extraction : {_date(getattr(self.handle, 'extraction_date', None))}\n\n"
                 f"Saveur : {getattr(self.handle, 'flavour', '—')}")
        return c.page("catalogue", main, [c.Markdown(f"### Entrepôt\n{stamp}")])


VOLUME_VIEWS = ["stays", "unit_stays", "diagnoses", "procedures", "biology", "drugs", "notes"]
"""Canonical views whose monthly volumes per hospital can be plotted."""


@c.guarded("Les volumes mensuels")
def volume_figure(name: str) -> pn.viewable.Viewable:
    """Monthly rows of a canonical view per hospital, and the completeness heat map (a stopped feed is a red band).

    Shared by the catalogue and the quality pages.
    """
    frame = volumes()
    frame = frame[frame["table"] == name]
    if frame.empty:
        return c.Alert("Aucune ligne sur la période.", alert_type="warning")
    hospitals = dict(zip(*_hospital_names(c.warehouse())))
    frame = frame.assign(hopital=frame["hopital"].map(lambda code: hospitals.get(code, code)),
                         mois=pd.to_datetime(frame["mois"] + "-01"))
    lines = frame.hvplot.line(
        x="mois", y="lignes", by="hopital", height=320, responsive=True, xlabel="Mois", ylabel="Lignes",
        title=f"Lignes par mois et par hôpital : {name}", legend="right",
    )
    heat = frame.hvplot.heatmap(
        x="mois", y="hopital", C="completude", cmap="RdYlGn", clim=(0, 1), height=300, responsive=True,
        xlabel="Mois", ylabel="Hôpital", title="Complétude (volume du mois ÷ volume maximal) : une bande rouge = flux arrêté",
        colorbar=True,
    )
    return pn.Column(pn.pane.HoloViews(lines, sizing_mode="stretch_width"), pn.pane.HoloViews(heat, sizing_mode="stretch_width"),
                     sizing_mode="stretch_width")


def _hospital_names(handle: Any) -> tuple[list[str], list[str]]:
    from workbench.analysis import hospital_names

    names = hospital_names(handle)
    return list(names), [f"{name} ({code})" for code, name in names.items()]


def build() -> pn.template.BaseTemplate:
    """The catalogue page of one browser session."""
    return CataloguePage().layout()
