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

import asyncio
import html
import threading
import time
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


RERUN_SECONDS = 300
"""Fewest seconds between two « Relancer les contrôles » of one user (a run reads the whole warehouse)."""
_GENERATIONS: dict[str, int] = {}
"""Reruns per snapshot: part of the run's cache key, so a rerun replaces the run for every session."""
_LAST_RERUN: dict[str, float] = {}
_RERUN_LOCK = threading.Lock()


def _run_for(catalog: str, policy: str, snapshot: str, user: Any, handle: Any) -> Any:
    """The latest complete stored run of this snapshot, else a new run, stored (computed once for all sessions).

    Which rows the checks read is the library's rule (``quality_source``): a
    user restricted to a perimeter sees the checks run on their rows only,
    neither read from nor written to the store of whole-warehouse runs; the
    équipe entrepôt reads the whole warehouse's run, masked by `current_run`.
    Runs on a worker thread: `user` and `handle` come from the session.
    """
    from workbench.quality import ResultStore, all_checks, run_checks
    from workbench.quality.disclosure import quality_source
    from workbench.quality.dqd import applicable_ids

    def compute() -> Any:
        source, whole = quality_source(user, handle, surface="qualite")
        if not whole:
            return run_checks(source)
        store = ResultStore()
        expected = applicable_ids(source, all_checks())  # DQD's checks of this CDM version only
        for head in store.runs():
            if head["snapshot_id"] == snapshot:
                stored = store.load(head["run_id"])
                if _complete(stored, expected):
                    return stored
        run = run_checks(source)
        run.catalog = catalog
        store.save(run)
        return run

    return c.RESULTS.get(("quality-run", catalog, policy, snapshot, _GENERATIONS.get(snapshot, 0)), compute)


def current_run(catalog: str, policy: str, user: Any, handle: Any) -> Any:
    """The run this user may see (masked for the équipe entrepôt); each read is audited. Worker-thread safe."""
    from workbench.quality.disclosure import disclose

    run = _run_for(catalog, policy, str(handle.snapshot_id), user, handle)
    return disclose(user, run, surface="qualite")


def rerun_wait(user_name: str, now: float | None = None) -> float:
    """Seconds `user_name` must still wait before his next rerun (0: allowed now, and counted as done)."""
    now = time.monotonic() if now is None else now
    with _RERUN_LOCK:
        last = _LAST_RERUN.get(user_name)
        if last is not None and now - last < RERUN_SECONDS:
            return RERUN_SECONDS - (now - last)
        _LAST_RERUN[user_name] = now
        return 0.0


def rerun(catalog: str, user: Any, handle: Any) -> Any:
    """Run every check again now (the button 'Relancer les contrôles'); only a whole-warehouse run is stored."""
    from workbench.quality import ResultStore, run_checks
    from workbench.quality.disclosure import quality_source

    source, whole = quality_source(user, handle, surface="qualite")
    run = None
    if whole:  # a perimeter's run is recomputed by the next page load, never stored as the warehouse's
        run = run_checks(source)
        run.catalog = catalog
        ResultStore().save(run)
    snapshot = str(handle.snapshot_id)
    with _RERUN_LOCK:
        _GENERATIONS[snapshot] = _GENERATIONS.get(snapshot, 0) + 1
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
    """The widgets of one session and the views bound to them.

    The page is sent at once with a loading placeholder; the run (minutes of
    queries on a new snapshot) is computed on a worker thread once the page
    is loaded, so one user's first visit never blocks the other sessions.
    """

    def __init__(self) -> None:
        from workbench.quality import all_checks
        from workbench.quality.disclosure import QualityAccess, quality_access

        self.handle = c.warehouse()
        self.user = c.current_user()
        self.masked = quality_access(self.user, surface="qualite") is QualityAccess.masked
        self.min_count = getattr(self.user, "min_count", None)
        self.catalog, self.policy = str(c.catalog_path()), c.policy()
        self.run: Any = None
        self.definitions = {check.id: check.describe() for check in all_checks()}
        self.check = pn.widgets.Select(name="Contrôle à détailler", options={}, css_classes=["wb-check"])
        self.volume_view = pn.widgets.Select(name="Vue", options=VOLUME_VIEWS, value="stays", css_classes=["wb-volume-view"])
        self.body = pn.Column(c.Markdown("*Contrôles de qualité en cours de chargement…*", css_classes=["wb-quality-loading"]),
                              sizing_mode="stretch_width", min_height=200, loading=True)
        self.stamp = c.Markdown("", css_classes=["wb-run"])
        self.button = pn.widgets.Button(name="Relancer les contrôles", button_type="primary", css_classes=["wb-rerun"])
        self.rerun_message = c.Markdown("", css_classes=["wb-rerun-message"])
        self.button.on_click(self._again)
        pn.state.onload(self._fill)

    async def _fill(self) -> None:
        """The run, computed (or loaded from the store) on a worker thread, then shown."""
        try:
            self.run = await asyncio.get_running_loop().run_in_executor(
                c.WORKERS, current_run, self.catalog, self.policy, self.user, self.handle)
            self._show()
        except Exception as error:  # noqa: BLE001 - shown in place of the page's body, logged in full
            self.body[:] = [c.error_alert(error, "Les contrôles de qualité")]
        self.body.loading = False

    def _show(self) -> None:
        run = self.run
        results = ordered(run.results)
        self.check.options = {f"{r.id} ({STATUS_LABELS.get(r.status.value, r.status.value)})": r.id for r in results}
        self.check.value = results[0].id if results else None
        c.sync_url([(self.check, "value", "controle"), (self.volume_view, "value", "volumes")])
        self.body[:] = [
            c.Markdown("## Synthèse par catégorie (cadre de Kahn)"),
            c.HTML(summary_html(run.results), stylesheets=[TABLE_CSS], css_classes=["wb-quality-synthese"]),
            c.Markdown("## Contrôles (en échec d'abord)\nCliquez sur une ligne pour voir sa définition, "
                       + (f"sa requête et ses comptes (« < {self.min_count} » : moins de lignes que le seuil "
                          "de diffusion)." if self.masked else "sa requête et des identifiants en violation.")),
            self.table(),
            pn.Column(self.check, pn.bind(self.detail, self.check), sizing_mode="stretch_width"),
            c.Markdown("## Volumes mensuels par hôpital"),
            self.volumes(),
            c.Markdown("## Problèmes signalés"),
            reports_view(),
        ]
        self.stamp.object = (f"### Exécution\n`{run.run_id}`\n\nDébut : {run.started_at}\n\n"
                             f"Durée : {c.french_number(run.duration_s, 1)} s\n\nInstantané : `{run.snapshot_id}`")

    async def _again(self, _: Any) -> None:
        """« Relancer les contrôles »: at most once per `RERUN_SECONDS` per user, on a worker thread."""
        try:  # the rights and snapshot of now: an account changed or removed since the page opened
            user, handle = c.current_user(), c.warehouse()
        except Exception as error:  # noqa: BLE001 - said on the page
            self.rerun_message.object = f"La relance est impossible : {c.error_message(error)}."
            return
        wait = rerun_wait(getattr(user, "name", None) or "anonyme")
        if wait:
            minutes = max(1, round(wait / 60))
            self.rerun_message.object = (f"Les contrôles ont déjà été relancés il y a moins de {RERUN_SECONDS // 60} "
                                         f"minutes : réessayez dans {minutes} minute(s).")
            return
        self.button.loading = True
        self.rerun_message.object = ""
        try:
            await asyncio.get_running_loop().run_in_executor(c.WORKERS, rerun, self.catalog, user, handle)
        except Exception as error:  # noqa: BLE001 - a failed rerun is said, the page stays
            self.rerun_message.object = f"La relance a échoué : {c.error_message(error)}."
            return
        finally:
            self.button.loading = False
        if pn.state.location is not None:
            pn.state.location.reload = True

    @c.guarded("Le tableau des contrôles")
    def table(self) -> pn.viewable.Viewable:
        frame = results_frame(self.run.results)
        table = pn.widgets.Tabulator(
            frame, show_index=False, disabled=True, sizing_mode="stretch_width", height=460, pagination=None,
            selectable=1, layout="fit_data_stretch", css_classes=["wb-checks"],
            configuration={"renderVertical": "basic"},  # ~150 rows: all in the page (find, copy, read in order)
            formatters={"% violations": {"type": "money", "decimal": ",", "thousand": "\u202f", "precision": 3}},
        )

        def select(event: Any) -> None:
            if event.new:
                self.check.value = frame["contrôle"].iloc[event.new[0]]

        table.param.watch(select, "selection")
        return table

    def detail(self, check_id: str | None) -> pn.viewable.Viewable:
        @c.guarded("Le détail du contrôle")
        def build() -> pn.viewable.Viewable:
            if self.run is None or check_id is None:
                return c.Markdown("")
            result = self.run.by_id()[check_id]
            return pn.Column(
                c.Markdown(detail_markdown(result, self.definitions.get(check_id)), sizing_mode="stretch_width"),
                c.HTML(samples_html(result, hidden=self.masked), sizing_mode="stretch_width"),
                c.Markdown(f"**Requête de comptage**\n\n```sql\n{result.sql or '(non disponible)'}\n```",
                           sizing_mode="stretch_width", css_classes=["wb-check-sql"]),
                css_classes=["wb-check-detail"], sizing_mode="stretch_width",
            )

        return build()

    def volumes(self) -> pn.viewable.Viewable:
        """The monthly volumes, read on the user's own handle: not for an aggregates-only reader (counts of rows)."""
        if self.masked:
            return c.Alert("Les volumes mensuels par hôpital sont des comptes de lignes non soumis à la politique "
                           "de diffusion : ils ne sont pas affichés pour votre rôle.", alert_type="info",
                           css_classes=["wb-volumes-hidden"])
        return pn.Column(self.volume_view, pn.panel(pn.bind(volume_figure, self.volume_view), loading_indicator=True),
                         sizing_mode="stretch_width")

    def layout(self) -> pn.template.BaseTemplate:
        return c.page("qualite", [self.body], [self.stamp, self.button, self.rerun_message])


def build() -> pn.template.BaseTemplate:
    """The quality page of one browser session, or a clear refusal (audited) for a role without quality right."""
    from workbench.errors import UserError
    from workbench.quality.disclosure import quality_access

    try:
        quality_access(c.current_user(), surface="qualite")
    except UserError as refused:
        text = str(refused)
        return c.page("qualite", [c.Alert(text[0].upper() + text[1:] + ".", alert_type="danger",
                                                css_classes=["wb-refused"])])
    return QualityPage().layout()
