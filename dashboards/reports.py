"""Problem reports in the app: filing one from a pilotage figure, listing and following them up.

The store and the workflow are the library's (``workbench.quality.reports``);
this module only lays out the form, the list and the counts.
"""

from __future__ import annotations

import datetime as dt
import html
from typing import Any, Callable, Mapping

import panel as pn

from dashboards import components as c

STATUS_COLOURS = {"nouveau": "#cf222e", "pris en charge": "#9a6700", "résolu": "#1a7f37", "rejeté": "#57606a"}


def store() -> Any:
    from workbench.quality.reports import ReportStore

    return ReportStore()


def current_user() -> Any:
    """The logged-in user's context, or an 'anonyme' administrator when the app runs without login
    (the app then is the local administrator's tool, as the CLI without --utilisateur)."""
    from workbench.access.context import UserContext

    return c.current_user() or UserContext(name="anonyme")


def readable(user: Any) -> list[Any]:
    """The reports this user may read (`workbench.quality.reports.visible`: his perimeter's, or all)."""
    from workbench.quality.reports import perimeter_codes, visible

    covered = perimeter_codes(c.warehouse()) if user.perimeter else None
    return visible(store().list(), user, covered)


def age_text(delta: dt.timedelta) -> str:
    """An age in French: '3 j 4 h', '5 h', '12 min'."""
    minutes = int(delta.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} j {hours} h"
    if hours:
        return f"{hours} h"
    return f"{minutes} min"


def hours_text(hours: float | None) -> str:
    return "—" if hours is None else f"{c.french_number(hours, 1)} h"


def reports_html(reports: list[Any], now: dt.datetime | None = None) -> str:
    escape = html.escape
    if not reports:
        return '<p class="wb-reports-empty"><i>Aucun problème signalé.</i></p>'
    rows = "".join(
        f'<tr class="wb-report" data-report-id="{r.report_id}" data-status="{escape(r.status)}">'
        f"<td>{r.report_id}</td>"
        f'<td><span style="color:{STATUS_COLOURS.get(r.status, "#000")};font-weight:600">{escape(r.status)}</span></td>'
        f"<td>{age_text(r.age(now))}</td><td>{escape(r.author)}</td><td><code>{escape(r.indicator or '')}</code></td>"
        f"<td>{escape(r.where())}</td><td class=\"wb-report-what\">{escape(r.what)}</td>"
        f"<td>{f'<a href={chr(34)}{escape(r.url)}{chr(34)}>vue</a>' if r.url else ''}</td></tr>"
        for r in reports
    )
    return (
        '<table class="wb-reports" style="width:100%;border-collapse:collapse">'
        "<thead><tr><th>N°</th><th>Statut</th><th>Âge</th><th>Auteur</th><th>Indicateur</th><th>Filtres</th>"
        f"<th>Problème</th><th>Lien</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def counts_html(counts: Any) -> str:
    return (
        f'<div class="wb-report-counts" data-open="{counts.open}" data-total="{counts.total}">'
        f"<b>{counts.open}</b> signalement(s) ouvert(s) sur {counts.total} · "
        f"délai médian de première réponse : {hours_text(counts.first_response_hours)} ({counts.responded} pris en charge) · "
        f"délai médian de résolution : {hours_text(counts.resolution_hours)} ({counts.resolved} résolu(s))</div>"
    )


REPORTS_CSS = """
table.wb-reports th, table.wb-reports td { padding: 4px 8px; border-bottom: 1px solid #e3e6ea; vertical-align: top; text-align: left; }
table.wb-reports th { background: #f3f5f8; }
"""


@c.guarded("La liste des signalements")
def reports_view() -> pn.viewable.Viewable:
    """Counts, the list (status and age) of the reports the user may read, and — for the équipe entrepôt and
    the admin only — the follow-up form (moves recorded under the logged-in user, audited)."""
    from workbench.quality.reports import TRANSITIONS, count_reports, may_move, move_as

    user = current_user()

    listing = c.HTML(sizing_mode="stretch_width", stylesheets=[REPORTS_CSS], css_classes=["wb-reports-list"])
    report = pn.widgets.Select(name="Signalement", options={}, width=220, css_classes=["wb-report-id"])
    status = pn.widgets.Select(name="Nouveau statut", options=[], width=200, css_classes=["wb-report-status"])
    comment = pn.widgets.TextInput(name="Commentaire", placeholder="facultatif", width=300)
    apply = pn.widgets.Button(name="Changer le statut", button_type="primary", css_classes=["wb-report-move"])
    message = c.Markdown("", css_classes=["wb-report-move-message"])

    def refresh() -> None:
        reports = readable(user)
        listing.object = counts_html(count_reports(reports)) + reports_html(reports)
        report.options = {f"n° {r.report_id} ({r.status})": r.report_id for r in reports if TRANSITIONS[r.status]}

    def statuses(*_: Any) -> None:
        current = next((r for r in store().list() if r.report_id == report.value), None)
        status.options = list(TRANSITIONS[current.status]) if current else []

    def move(_: Any) -> None:
        if report.value is None or not status.value:
            return
        try:
            move_as(store(), user, report.value, status.value, comment.value or None)
            message.object = f"Signalement n° {report.value} : « {status.value} »."
            comment.value = ""
        except Exception as error:  # noqa: BLE001 - a refused move is shown, not raised
            message.object = f"**Refusé** : {c.error_message(error)}"
        refresh()

    report.param.watch(statuses, "options")
    report.param.watch(statuses, "value")
    apply.on_click(move)
    refresh()
    statuses()
    if not may_move(user):
        return pn.Column(listing, sizing_mode="stretch_width")
    return pn.Column(listing, pn.Row(report, status, comment, apply), message, sizing_mode="stretch_width")


def report_form(context: Callable[[], Mapping[str, Any]]) -> pn.viewable.Viewable:
    """« Signaler un problème » : a short form filing a report on the figure described by `context()`.

    `context()` returns ``indicator``, ``filters`` and ``url`` of the view at the
    moment the user sends the report.
    """
    text = pn.widgets.TextAreaInput(name="Quel problème constatez-vous sur cette figure ?", height=90,
                                    sizing_mode="stretch_width", css_classes=["wb-report-text"])
    from workbench.quality.reports import file_as

    send = pn.widgets.Button(name="Envoyer le signalement", button_type="warning", css_classes=["wb-report-send"])
    message = c.Markdown("", css_classes=["wb-report-message"])

    def file(_: Any) -> None:
        try:
            details = context()
            filed = file_as(store(), current_user(), text.value_input or text.value,
                            indicator=details.get("indicator"), filters=details.get("filters"), url=details.get("url"))
        except Exception as error:  # noqa: BLE001 - shown in French to the user
            message.object = f"**Signalement non enregistré** : {c.error_message(error)}"
            return
        message.object = (f"Signalement n° {filed.report_id} enregistré (statut « {filed.status} »), "
                          "visible sur la page [Qualité des données](/qualite).")
        text.value = ""

    send.on_click(file)
    return pn.Card(text, send, message, title="Signaler un problème", collapsed=True, sizing_mode="stretch_width",
                   css_classes=["wb-report-card"])
