"""Quality page: the data-quality checks of the served snapshot, failing checks first.

The checks are run by the library (``workbench.quality.run_checks``) at most
once per warehouse snapshot: the latest complete run stored for this snapshot
in the results store (``ResultStore``, SQLite in the state folder) is loaded,
otherwise the checks run once and the run is stored. The page then shows the
summary by Kahn category, every check (failing first), the drill-down of one
check (definition, SQL, sample ids), the monthly volumes per hospital, and the
problem reports users filed from the pilotage page.
"""

from __future__ import annotations

import html
from typing import Any

import pandas as pd
import panel as pn

from dashboards import components as c
from dashboards.catalogue import VOLUME_VIEWS, volume_figure
from dashboards.reports import reports_view

STATUS_LABELS = {"failed": "échoué", "error": "erreur", "not_applicable": "non applicable", "passed": "réussi"}
STATUS_ORDER = {"failed": 0, "error": 1, "not_applicable": 2, "passed": 3}
CATEGORY_LABELS = {"conformance": "Conformité", "completeness": "Complétude", "plausibility": "Plausibilité"}
SEVERITY_LABELS = {"error": "bloquant", "warning": "avertissement", "info": "information"}
CONTEXT_LABELS = {"verification": "vérification", "validation": "validation"}
TABLE_CSS = """
table.wb-quality-summary th, table.wb-quality-summary td { padding: 4px 10px; border-bottom: 1px solid #e3e6ea; text-align: right; }
table.wb-quality-summary th:first-child, table.wb-quality-summary td:first-child { text-align: left; }
table.wb-quality-summary th { background: #f3f5f8; }
"""


# --------------------------------------------------------------------------- the run

def _complete(run: Any, expected: set[str]) -> bool:
    """Whether a stored run covers every declared check (a `--checks` subset does not)."""
    return expected <= {result.id for result in run.results}


@pn.cache(max_items=16)
def _run_for(catalog: str, policy: str, snapshot: str) -> Any:
    """The latest complete stored run of this snapshot, else a new run, stored (shared by all sessions).

    Which rows the checks read is the library's rule (``quality_source``): a
    user restricted to a perimeter sees the checks run on their rows only,
    neither read from nor written to the store of whole-warehouse runs; the
    équipe entrepôt reads the whole warehouse's run, masked by `current_run`.
    """
    from workbench.quality import ResultStore, all_checks, run_checks
    from workbench.quality.disclosure import quality_source

    source, whole = quality_source(c.current_user(), c.warehouse(), surface="qualite")
    if not whole:
        return run_checks(source)
    store = ResultStore()
    expected = {check.id for check in all_checks()}
    for head in store.runs():
        if head["snapshot_id"] == snapshot:
            stored = store.load(head["run_id"])
            if _complete(stored, expected):
                return stored
    run = run_checks(source)
    run.catalog = catalog
    store.save(run)
    return run


def current_run() -> Any:
    """The run this session's user may see (masked for the équipe entrepôt); each read is audited."""
    from workbench.quality.disclosure import disclose

    run = _run_for(str(c.catalog_path()), c.policy(), str(c.warehouse().snapshot_id))
    return disclose(c.current_user(), run, surface="qualite")


def rerun() -> Any:
    """Run every check again now (the button 'Relancer les contrôles'); only a whole-warehouse run is stored."""
    from workbench.quality import ResultStore, run_checks
    from workbench.quality.disclosure import quality_source

    source, whole = quality_source(c.current_user(), c.warehouse(), surface="qualite")
    run = None
    if whole:  # a perimeter's run is recomputed by the next page load, never stored as the warehouse's
        run = run_checks(source)
        run.catalog = str(c.catalog_path())
        ResultStore().save(run)
    _run_for.clear()
    return run


def ordered(results: list[Any]) -> list[Any]:
    """Failing checks first, then errors, not applicable and passed; declaration order within a status."""
    return sorted(results, key=lambda r: STATUS_ORDER.get(r.status.value, 9))


def results_frame(results: list[Any]) -> pd.DataFrame:
    """One row per check, failing first; a masked count reads « < k »."""
    from workbench.quality.disclosure import shown_value

    return pd.DataFrame([
        {"contrôle": r.id, "statut": STATUS_LABELS.get(r.status.value, r.status.value),
         "catégorie": CATEGORY_LABELS.get(r.category, r.category), "table": r.table, "champ": r.field or "",
         "sévérité": SEVERITY_LABELS.get(r.severity, r.severity), "violations": shown_value(r, "num_violated_rows"),
         "contrôlées": shown_value(r, "num_denominator_rows"), "% violations": r.pct_violated_rows, "seuil %": r.threshold,
         "description": r.description}
        for r in ordered(results)
    ])


# --------------------------------------------------------------------------- rendering

def summary_html(results: list[Any]) -> str:
    """Checks per Kahn category and status, and the headline count of failed checks."""
    escape = html.escape
    failed = sum(r.status.value == "failed" for r in results)
    head = "".join(f"<th>{STATUS_LABELS[s]}</th>" for s in STATUS_ORDER)
    rows = ""
    for category, label in CATEGORY_LABELS.items():
        cells = "".join(
            f'<td data-status="{s}">{sum(r.category == category and r.status.value == s for r in results)}</td>'
            for s in STATUS_ORDER
        )
        rows += f'<tr data-category="{category}"><td>{escape(label)}</td>{cells}</tr>'
    colour = "#cf222e" if failed else "#1a7f37"
    return (
        f'<div class="wb-failed-count" data-count="{failed}" style="font-size:1.4em;font-weight:600;color:{colour}">'
        f"{failed} contrôle(s) en échec sur {len(results)}</div>"
        f'<table class="wb-quality-summary" style="border-collapse:collapse;margin-top:8px"><thead><tr><th>Catégorie</th>'
        f"{head}</tr></thead><tbody>{rows}</tbody></table>"
    )


def detail_markdown(result: Any, definition: dict[str, Any] | None) -> str:
    """The drill-down of one check: its declaration, outcome, sample ids and SQL."""
    from workbench.quality.disclosure import shown_count

    definition = definition or {}
    lines = [
        f"### `{result.id}`", "", result.description, "",
        f"- **Statut** : {STATUS_LABELS.get(result.status.value, result.status.value)}",
        f"- **Catégorie** : {CATEGORY_LABELS.get(result.category, result.category)}"
        + (f" ({definition['subcategory']})" if definition.get("subcategory") else ""),
        f"- **Contexte** : {CONTEXT_LABELS.get(result.context, result.context)} · **niveau** : {result.level}",
        f"- **Table** : `{result.table}`" + (f" · **champ** : `{result.field}`" if result.field else ""),
        f"- **Sévérité** : {SEVERITY_LABELS.get(result.severity, result.severity)} · **seuil toléré** : {result.threshold} %",
        f"- **Lignes en violation / contrôlées** : {shown_count(result, 'num_violated_rows', c.french_number)} / "
        f"{shown_count(result, 'num_denominator_rows', c.french_number)} "
        f"({shown_count(result, 'pct_violated_rows', lambda pct: c.french_number(pct, 2) + ' %')})",
    ]
    if result.reason:
        lines.append(f"- **Remarque** : {result.reason}")
    return "\n".join(lines)


def samples_html(result: Any, hidden: bool = False) -> str:
    """The sample of violating ids; `hidden` says they are withheld rather than absent (aggregates-only reader)."""
    from workbench.quality.disclosure import HIDDEN_IDS

    if hidden:
        return f'<p class="wb-samples-hidden"><i>{html.escape(HIDDEN_IDS[0].upper() + HIDDEN_IDS[1:])}.</i></p>'
    ids = "".join(f'<li class="wb-sample-id">{html.escape(str(value))}</li>' for value in result.sample_ids)
    if not ids:
        return "<p><i>Aucun identifiant en violation.</i></p>"
    return (f"<p><b>Exemples d'identifiants en violation</b> ({len(result.sample_ids)} premiers, triés) :</p>"
            f'<ul class="wb-samples" style="columns:4">{ids}</ul>')


# --------------------------------------------------------------------------- the page

class QualityPage:
    """The widgets of one session and the views bound to them."""

    def __init__(self) -> None:
        from workbench.quality import all_checks
        from workbench.quality.disclosure import QualityAccess, quality_access

        self.handle = c.warehouse()
        user = c.current_user()
        self.masked = quality_access(user, surface="qualite") is QualityAccess.masked
        self.min_count = getattr(user, "min_count", None)
        self.run = current_run()

        self.definitions = {check.id: check.describe() for check in all_checks()}
        results = ordered(self.run.results)
        self.check = pn.widgets.Select(
            name="Contrôle à détailler",
            options={f"{r.id} ({STATUS_LABELS.get(r.status.value, r.status.value)})": r.id for r in results},
            value=results[0].id if results else None, css_classes=["wb-check"],
        )
        self.volume_view = pn.widgets.Select(name="Vue", options=VOLUME_VIEWS, value="stays", css_classes=["wb-volume-view"])
        c.sync_url([(self.check, "value", "controle"), (self.volume_view, "value", "volumes")])

    @c.guarded("Le tableau des contrôles")
    def table(self) -> pn.viewable.Viewable:
        frame = results_frame(self.run.results)
        table = pn.widgets.Tabulator(
            frame, show_index=False, disabled=True, sizing_mode="stretch_width", height=460, pagination=None,
            selectable=1, layout="fit_data_stretch", css_classes=["wb-checks"],
            formatters={"% violations": {"type": "money", "decimal": ",", "thousand": "\u202f", "precision": 3}},
        )

        def select(event: Any) -> None:
            if event.new:
                self.check.value = frame["contrôle"].iloc[event.new[0]]

        table.param.watch(select, "selection")
        return table

    def detail(self, check_id: str) -> pn.viewable.Viewable:
        @c.guarded("Le détail du contrôle")
        def build() -> pn.viewable.Viewable:
            result = self.run.by_id()[check_id]
            return pn.Column(
                pn.pane.Markdown(detail_markdown(result, self.definitions.get(check_id)), sizing_mode="stretch_width"),
                pn.pane.HTML(samples_html(result, hidden=self.masked), sizing_mode="stretch_width"),
                pn.pane.Markdown(f"**Requête de comptage**\n\n```sql\n{result.sql or '(non disponible)'}\n```",
                                 sizing_mode="stretch_width", css_classes=["wb-check-sql"]),
                css_classes=["wb-check-detail"], sizing_mode="stretch_width",
            )

        return build()

    def volumes(self) -> pn.viewable.Viewable:
        """The monthly volumes, read on the user's own handle: not for an aggregates-only reader (counts of rows)."""
        if self.masked:
            return pn.pane.Alert("Les volumes mensuels par hôpital sont des comptes de lignes non soumis à la politique "
                                 "de diffusion : ils ne sont pas affichés pour votre rôle.", alert_type="info",
                                 css_classes=["wb-volumes-hidden"])
        return pn.Column(self.volume_view, pn.panel(pn.bind(volume_figure, self.volume_view), loading_indicator=True),
                         sizing_mode="stretch_width")

    def layout(self) -> pn.template.BaseTemplate:
        run = self.run
        main = [
            pn.pane.Markdown("## Synthèse par catégorie (cadre de Kahn)"),
            pn.pane.HTML(summary_html(run.results), stylesheets=[TABLE_CSS], css_classes=["wb-quality-synthese"]),
            pn.pane.Markdown("## Contrôles (en échec d'abord)\nCliquez sur une ligne pour voir sa définition, "
                             + (f"sa requête et ses comptes (« < {self.min_count} » : moins de lignes que le seuil "
                                "de diffusion)." if self.masked else "sa requête et des identifiants en violation.")),
            self.table(),
            pn.Column(self.check, pn.bind(self.detail, self.check), sizing_mode="stretch_width"),
            pn.pane.Markdown("## Volumes mensuels par hôpital"),
            self.volumes(),
            pn.pane.Markdown("## Problèmes signalés"),
            reports_view(),
        ]
        button = pn.widgets.Button(name="Relancer les contrôles", button_type="primary", css_classes=["wb-rerun"])

        def again(_: Any) -> None:
            button.loading = True
            try:
                rerun()
            finally:
                button.loading = False
            if pn.state.location is not None:
                pn.state.location.reload = True

        button.on_click(again)
        stamp = (f"### Exécution\n`{run.run_id}`\n\nDébut : {run.started_at}\n\nDurée : {c.french_number(run.duration_s, 1)} s"
                 f"\n\nInstantané : `{run.snapshot_id}`")
        return c.page("qualite", main, [pn.pane.Markdown(stamp, css_classes=["wb-run"]), button])


def build() -> pn.template.BaseTemplate:
    """The quality page of one browser session, or a clear refusal (audited) for a role without quality right."""
    from workbench.errors import UserError
    from workbench.quality.disclosure import quality_access

    try:
        quality_access(c.current_user(), surface="qualite")
    except UserError as refused:
        text = str(refused)
        return c.page("qualite", [pn.pane.Alert(text[0].upper() + text[1:] + ".", alert_type="danger",
                                                css_classes=["wb-refused"])])
    return QualityPage().layout()
