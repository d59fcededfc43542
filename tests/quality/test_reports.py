"""Problem reports: the workflow's allowed and refused moves, and the follow-up counts by hand.

Every timestamp is fixed, so the expected delays are plain arithmetic written
here (hours between two given instants), never read back from the store.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from workbench.errors import UserError
from workbench.quality.reports import ReportStore, count_reports

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)


def at(hours: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


@pytest.fixture
def store(tmp_path: Path) -> ReportStore:
    return ReportStore(tmp_path / "state")


def file(store: ReportStore, hours: float, what: str = "valeur suspecte") -> int:
    return store.file(what, "dr.martin", indicator="nb_sejours",
                      filters={"hospital": ["014"], "start": "2026-01", "end": "2026-01"}, now=at(hours)).report_id


def test_a_filed_report_is_new_with_what_where_and_who(store: ReportStore, tmp_path: Path) -> None:
    report = store.file("  trop peu de séjours en janvier ", "dr.martin", indicator="dms",
                        filters={"hospital": ["014"], "pole": [], "start": "2026-01"}, url="/pilotage?hopital=014", now=T0)
    assert (report.status, report.what, report.author, report.indicator) == ("nouveau", "trop peu de séjours en janvier",
                                                                              "dr.martin", "dms")
    assert report.where() == "hospital=014, start=2026-01"
    assert report.url == "/pilotage?hopital=014"
    assert report.created_at == T0
    assert [(e.status, e.at) for e in report.events] == [("nouveau", T0)]
    # stored in the state folder, in its own SQLite file
    assert store.path == tmp_path / "state" / "reports.sqlite"
    with sqlite3.connect(store.path) as con:
        assert con.execute("SELECT count(*) FROM reports").fetchone()[0] == 1


def test_empty_description_is_refused(store: ReportStore) -> None:
    with pytest.raises(UserError, match="vide"):
        store.file("   ", "dr.martin")
    assert store.list() == []


def test_workflow_allows_only_new_taken_then_resolved_or_rejected(store: ReportStore) -> None:
    first, second = file(store, 0), file(store, 1)
    for forbidden in ("résolu", "rejeté", "nouveau"):
        with pytest.raises(UserError, match="interdit"):
            store.move(first, forbidden, "equipe.eds", now=at(2))
    assert store.move(first, "pris en charge", "equipe.eds", now=at(2)).status == "pris en charge"
    with pytest.raises(UserError, match="interdit"):
        store.move(first, "pris en charge", "equipe.eds", now=at(3))
    assert store.move(first, "résolu", "equipe.eds", "flux rétabli", now=at(5)).status == "résolu"
    with pytest.raises(UserError, match="statut final"):
        store.move(first, "rejeté", "equipe.eds", now=at(6))

    store.move(second, "pris en charge", "equipe.eds", now=at(2))
    assert store.move(second, "rejeté", "equipe.eds", "chiffre exact", now=at(3)).status == "rejeté"
    with pytest.raises(UserError, match="statut final"):
        store.move(second, "résolu", "equipe.eds", now=at(4))
    history = store.get(first).events
    assert [(e.status, e.actor, e.comment) for e in history] == [
        ("nouveau", "dr.martin", None), ("pris en charge", "equipe.eds", None), ("résolu", "equipe.eds", "flux rétabli")]


def test_unknown_status_report_or_time_before_filing_is_refused(store: ReportStore) -> None:
    report = file(store, 10)
    with pytest.raises(UserError, match="statut inconnu"):
        store.move(report, "fermé", "equipe.eds", now=at(11))
    with pytest.raises(UserError, match="inconnu : n° 99"):
        store.move(99, "pris en charge", "equipe.eds", now=at(11))
    with pytest.raises(UserError, match="antérieure"):
        store.move(report, "pris en charge", "equipe.eds", now=at(9))
    assert store.get(report).status == "nouveau"


def test_counts_by_hand(store: ReportStore) -> None:
    # A: filed at 0 h, taken at 2 h, resolved at 26 h  -> response 2 h, resolution 26 h
    # B: filed at 1 h, taken at 7 h, rejected at 8 h    -> response 6 h (rejected: no resolution)
    # C: filed at 3 h, taken at 13 h                    -> response 10 h, still open
    # D: filed at 4 h, untouched                        -> open, no response
    # E: filed at 5 h, taken at 9 h, resolved at 15 h   -> response 4 h, resolution 10 h
    a, b, c, d, e = (file(store, hours) for hours in (0, 1, 3, 4, 5))
    store.move(a, "pris en charge", "x", now=at(2))
    store.move(a, "résolu", "x", now=at(26))
    store.move(b, "pris en charge", "x", now=at(7))
    store.move(b, "rejeté", "x", now=at(8))
    store.move(c, "pris en charge", "x", now=at(13))
    store.move(e, "pris en charge", "x", now=at(9))
    store.move(e, "résolu", "x", now=at(15))

    counts = store.counts()
    assert counts.total == 5
    assert counts.open == 2  # C (pris en charge) and D (nouveau)
    assert counts.by_status == {"nouveau": 1, "pris en charge": 1, "résolu": 2, "rejeté": 1}
    assert counts.responded == 4
    assert counts.first_response_hours == 5.0  # median of 2, 6, 10, 4 = (4 + 6) / 2
    assert counts.resolved == 2
    assert counts.resolution_hours == 18.0  # median of 26 and 10
    # ages, at 30 h: D was filed at 4 h
    assert store.get(d).age(at(30)) == dt.timedelta(hours=26)
    # most recent first
    assert [r.report_id for r in store.list()] == [e, d, c, b, a]
    assert [r.report_id for r in store.list("résolu")] == [e, a]


def test_counts_of_no_reports() -> None:
    counts = count_reports([])
    assert (counts.total, counts.open, counts.first_response_hours, counts.resolution_hours) == (0, 0, None, None)


def test_two_stores_on_one_folder_see_the_same_reports(tmp_path: Path) -> None:
    """The app and another process (CLI, second server) share the state folder."""
    writer, reader = ReportStore(tmp_path), ReportStore(tmp_path)
    report = writer.file("doublon", "a", now=T0)
    reader.move(report.report_id, "pris en charge", "b", now=at(1))
    assert writer.get(report.report_id).status == "pris en charge"


def test_cli_lists_moves_and_counts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from typer.testing import CliRunner

    from workbench.cli import app

    monkeypatch.setenv("WORKBENCH_STATE", str(tmp_path / "state"))
    store = ReportStore()
    first = store.file("flux arrêté à l'hôpital 014", "dr.martin", indicator="nb_sejours", filters={"hospital": ["014"]},
                       now=T0).report_id
    runner = CliRunner()
    refused = runner.invoke(app, ["reports", "move", str(first), "résolu", "--by", "equipe.eds"])
    assert refused.exit_code != 0 and "interdit" in (refused.output + str(refused.exception))
    taken = runner.invoke(app, ["reports", "move", str(first), "pris en charge", "--by", "equipe.eds"])
    assert taken.exit_code == 0, taken.output
    listed = runner.invoke(app, ["reports", "list", "--format", "json"])
    assert listed.exit_code == 0, listed.output
    (row,) = json.loads(listed.stdout)
    assert (row["report_id"], row["status"], row["filters"]) == (first, "pris en charge", {"hospital": ["014"]})
    counted = runner.invoke(app, ["reports", "stats", "--format", "json"])
    assert json.loads(counted.stdout)["open"] == 1
    assert runner.invoke(app, ["reports", "list"]).exit_code == 0
