"""Problem reports: a user flags a figure as suspect, the warehouse team follows it up.

A report says what is wrong (free text), where (the indicator and the filters of
the figure: hospital, pole, service, period...) and who filed it. It lives in
the application state (SQLite in ``paths.state_path()``), never in the
warehouse, and follows one workflow::

    nouveau → pris en charge → résolu | rejeté

Any other move is refused with a clear error. Every move is kept (who, when,
comment), so the counts the quality page shows are computed from the history:
open reports, time to first response (filing → 'pris en charge') and time to
resolution (filing → 'résolu').

Who may do what (the CLI and the app call the same three functions,
:func:`file_as`, :func:`move_as` and :func:`visible`): anyone logged in files a
report, under his own name; only the équipe entrepôt and the admin move one,
and the actor recorded is the authenticated user, never a name the caller
types; filings and moves are written to the audit log (``report``). A user
restricted to a perimeter sees his own reports and those about a care site
his perimeter covers (the most precise of the report's hospital, pole and
service filters); users without perimeter see them all.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any, Mapping

from workbench.errors import UserError
from workbench.state import SqliteStore

FILENAME = "reports.sqlite"

NEW, TAKEN, RESOLVED, REJECTED = "nouveau", "pris en charge", "résolu", "rejeté"
STATUSES = (NEW, TAKEN, RESOLVED, REJECTED)
TRANSITIONS: dict[str, tuple[str, ...]] = {NEW: (TAKEN,), TAKEN: (RESOLVED, REJECTED), RESOLVED: (), REJECTED: ()}
"""Allowed moves from each status; résolu and rejeté are final."""
OPEN = (NEW, TAKEN)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS reports (
    report_id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    author TEXT NOT NULL,
    what TEXT NOT NULL,
    indicator TEXT,
    filters TEXT NOT NULL,
    url TEXT,
    status TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS report_events (
    report_id INTEGER NOT NULL REFERENCES reports(report_id),
    at TEXT NOT NULL,
    status TEXT NOT NULL,
    actor TEXT NOT NULL,
    comment TEXT
);
"""


@dataclass(frozen=True)
class Event:
    at: dt.datetime
    status: str
    actor: str
    comment: str | None = None


@dataclass
class Report:
    """One filed report and its history (the filing is the first event, status 'nouveau')."""

    report_id: int
    created_at: dt.datetime
    author: str
    what: str
    indicator: str | None
    filters: dict[str, Any]
    url: str | None
    status: str
    events: list[Event] = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    def age(self, now: dt.datetime | None = None) -> dt.timedelta:
        return _utc(now) - self.created_at

    def reached(self, status: str) -> dt.datetime | None:
        """When the report first reached `status` (None if never)."""
        return next((event.at for event in self.events if event.status == status), None)

    def first_response(self) -> dt.timedelta | None:
        taken = self.reached(TAKEN)
        return None if taken is None else taken - self.created_at

    def resolution(self) -> dt.timedelta | None:
        resolved = self.reached(RESOLVED)
        return None if resolved is None else resolved - self.created_at

    def where(self) -> str:
        """The filters as one readable line ('hospital=014, start=2025-01')."""
        return ", ".join(f"{key}={_text(value)}" for key, value in self.filters.items() if value not in (None, "", [], ()))

    def to_json(self) -> dict[str, Any]:
        return {
            "report_id": self.report_id, "created_at": self.created_at.isoformat(), "author": self.author,
            "what": self.what, "indicator": self.indicator, "filters": self.filters, "url": self.url,
            "status": self.status,
            "events": [{"at": e.at.isoformat(), "status": e.status, "actor": e.actor, "comment": e.comment} for e in self.events],
        }


@dataclass(frozen=True)
class ReportCounts:
    """What the quality page shows about the follow-up of reports (durations in hours)."""

    total: int
    open: int
    by_status: dict[str, int]
    first_response_hours: float | None  # median over reports taken in charge
    resolution_hours: float | None  # median over resolved reports
    responded: int
    resolved: int

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class ReportStore(SqliteStore):
    """Problem reports in ``<state>/reports.sqlite`` (WAL: the app and the CLI may use it at once)."""

    filename = FILENAME
    schema = _SCHEMA

    def file(
        self,
        what: str,
        author: str,
        indicator: str | None = None,
        filters: Mapping[str, Any] | None = None,
        url: str | None = None,
        now: dt.datetime | None = None,
    ) -> Report:
        """Record a new report (status 'nouveau'); an empty description is refused."""
        what = (what or "").strip()
        if not what:
            raise UserError("signalement vide : décrivez le problème constaté")
        author = (author or "").strip() or "anonyme"
        at = _utc(now)
        with closing(self._connect()) as con, con:
            cursor = con.execute(
                "INSERT INTO reports (created_at, author, what, indicator, filters, url, status) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (at.isoformat(), author, what, indicator, json.dumps(dict(filters or {}), ensure_ascii=False, default=str),
                 url, NEW),
            )
            report_id = int(cursor.lastrowid)
            con.execute("INSERT INTO report_events VALUES (?, ?, ?, ?, ?)", (report_id, at.isoformat(), NEW, author, None))
        return self.get(report_id)

    def move(self, report_id: int, status: str, actor: str, comment: str | None = None,
             now: dt.datetime | None = None) -> Report:
        """Move a report along the workflow; a move the workflow does not allow is refused."""
        if status not in STATUSES:
            raise UserError(f"statut inconnu : « {status} » (statuts : {', '.join(STATUSES)})")
        at = _utc(now)
        with closing(self._connect()) as con, con:
            row = con.execute("SELECT status, created_at FROM reports WHERE report_id = ?", (report_id,)).fetchone()
            if row is None:
                raise UserError(f"signalement inconnu : n° {report_id}")
            current = row["status"]
            if status not in TRANSITIONS[current]:
                allowed = " ou ".join(f"« {s} »" for s in TRANSITIONS[current]) or "aucun (statut final)"
                raise UserError(f"signalement n° {report_id} : passage de « {current} » à « {status} » interdit "
                                f"(possible : {allowed})")
            if at < dt.datetime.fromisoformat(row["created_at"]):
                raise UserError(f"signalement n° {report_id} : date antérieure au dépôt du signalement")
            con.execute("UPDATE reports SET status = ? WHERE report_id = ?", (status, report_id))
            con.execute("INSERT INTO report_events VALUES (?, ?, ?, ?, ?)",
                        (report_id, at.isoformat(), status, (actor or "").strip() or "anonyme", comment))
        return self.get(report_id)

    def get(self, report_id: int) -> Report:
        reports = self._load("WHERE report_id = ?", (report_id,))
        if not reports:
            raise UserError(f"signalement inconnu : n° {report_id}")
        return reports[0]

    def list(self, status: str | None = None) -> list[Report]:
        """Every report, most recent first (only those with `status` if given)."""
        if status is None:
            return self._load("", ())
        return self._load("WHERE status = ?", (status,))

    def _load(self, where: str, args: tuple[Any, ...]) -> list[Report]:
        with closing(self._connect()) as con:
            rows = con.execute(f"SELECT * FROM reports {where} ORDER BY created_at DESC, report_id DESC", args).fetchall()
            events = con.execute("SELECT * FROM report_events ORDER BY at, rowid").fetchall()
        history: dict[int, list[Event]] = {}
        for event in events:
            history.setdefault(event["report_id"], []).append(
                Event(dt.datetime.fromisoformat(event["at"]), event["status"], event["actor"], event["comment"]))
        return [
            Report(
                report_id=row["report_id"], created_at=dt.datetime.fromisoformat(row["created_at"]), author=row["author"],
                what=row["what"], indicator=row["indicator"], filters=json.loads(row["filters"]), url=row["url"],
                status=row["status"], events=history.get(row["report_id"], []),
            )
            for row in rows
        ]

    def counts(self) -> ReportCounts:
        return count_reports(self.list())


MOVERS = ("equipe_entrepot", "admin")
"""Roles that follow reports up (move them along the workflow)."""
SITE_FILTERS = ("service", "pole", "hospital")
"""Filters naming the care site a report is about, most precise first."""


def _name(user: Any) -> str:
    return getattr(user, "name", None) or "local"


def file_as(store: ReportStore, user: Any, what: str, indicator: str | None = None,
            filters: Mapping[str, Any] | None = None, url: str | None = None) -> Report:
    """File a report under the authenticated `user` (None: the local administrator), audited."""
    from workbench import audit

    report = store.file(what, _name(user), indicator=indicator, filters=filters, url=url)
    audit.write("report", user or _name(user), action="file", report_id=report.report_id,
                indicator=indicator, status=report.status)
    return report


def may_move(user: Any) -> bool:
    """The local administrator (None), the équipe entrepôt and the admin move reports; nobody else."""
    return user is None or getattr(user, "role", None) in MOVERS


def move_as(store: ReportStore, user: Any, report_id: int, status: str, comment: str | None = None,
            now: dt.datetime | None = None) -> Report:
    """Move a report as the authenticated `user`: refused (audited) to roles that do not follow reports up;
    the recorded actor is the user's name; the move is audited with both statuses."""
    from workbench import audit

    if not may_move(user):
        message = (f"accès refusé : seuls l'équipe entrepôt et l'administrateur changent le statut d'un signalement "
                   f"(utilisateur {user.name}, rôle {user.role})")
        audit.write("refused", user, reason=message, command="reports move", report_id=report_id)
        raise UserError(message)
    before = store.get(report_id).status
    report = store.move(report_id, status, _name(user), comment, now)
    audit.write("report", user or _name(user), action="move", report_id=report_id,
                before=before, after=report.status)
    return report


def perimeter_codes(warehouse: Any) -> frozenset[str] | None:
    """The care-site codes the warehouse's user covers, or None when he is not restricted to a perimeter."""
    from workbench.access import unrestricted
    from workbench.access.perimeter import resolve

    user = warehouse.user
    if not user.perimeter or unrestricted(user):
        return None
    return resolve(warehouse.execute(warehouse.view("care_sites")), user.perimeter).codes


def about_sites(report: Report) -> tuple[str, ...]:
    """The care sites a report is about: the values of its most precise site filter (service, else pole,
    else hospital); empty for a figure of the whole AP-HP."""
    for key in SITE_FILTERS:
        value = report.filters.get(key)
        values = tuple(str(v) for v in (value if isinstance(value, (list, tuple)) else [value]) if v not in (None, ""))
        if values:
            return values
    return ()


def visible(reports: list[Report], user: Any, covered: frozenset[str] | None) -> list[Report]:
    """The reports `user` may read: all without perimeter (`covered` None); else his own and those whose
    care sites all lie inside `covered` (from :func:`perimeter_codes`)."""
    if covered is None:
        return list(reports)
    return [r for r in reports if r.author == _name(user) or (about_sites(r) and set(about_sites(r)) <= covered)]


def count_reports(reports: list[Report]) -> ReportCounts:
    """Open reports and the median delays of the follow-up, in hours."""
    responses = [r.first_response() for r in reports if r.first_response() is not None]
    resolutions = [r.resolution() for r in reports if r.resolution() is not None]
    return ReportCounts(
        total=len(reports),
        open=sum(r.is_open for r in reports),
        by_status={status: sum(r.status == status for r in reports) for status in STATUSES},
        first_response_hours=_median_hours(responses),
        resolution_hours=_median_hours(resolutions),
        responded=len(responses),
        resolved=len(resolutions),
    )


def _median_hours(delays: list[dt.timedelta]) -> float | None:
    if not delays:
        return None
    return round(statistics.median(delay.total_seconds() / 3600 for delay in delays), 3)


def _utc(moment: dt.datetime | None) -> dt.datetime:
    if moment is None:
        return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.timezone.utc)


def _text(value: Any) -> str:
    return ",".join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value)


__all__ = ["ReportStore", "Report", "ReportCounts", "Event", "count_reports", "STATUSES", "TRANSITIONS", "OPEN",
           "NEW", "TAKEN", "RESOLVED", "REJECTED", "MOVERS", "file_as", "move_as", "may_move", "perimeter_codes",
           "visible", "about_sites"]
