"""The results store: every run of the checks, kept outside the warehouse (SQLite, WAL mode).

The warehouse is opened read-only and must stay a pure snapshot; runs live in
the state folder (`paths.state_path()`), keyed by run id and stamped with the
warehouse snapshot they measured, so a dashboard can show the history and the
difference between two runs while another process is writing a new one.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from typing import Any

from workbench.errors import UserError
from workbench.state import SqliteStore
from workbench.quality.model import CheckResult, RunResult, Status

FILENAME = "quality.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    snapshot_id TEXT,
    catalog TEXT,
    started_at TEXT NOT NULL,
    duration_s REAL
);
CREATE TABLE IF NOT EXISTS results (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    position INTEGER NOT NULL,
    id TEXT NOT NULL,
    category TEXT, context TEXT, level TEXT, "table" TEXT, field TEXT,
    description TEXT, severity TEXT, threshold REAL, status TEXT NOT NULL,
    num_violated_rows INTEGER, num_denominator_rows INTEGER, pct_violated_rows REAL,
    execution_time_s REAL, sql TEXT, sample_ids TEXT, reason TEXT,
    PRIMARY KEY (run_id, id)
);
"""

_COLUMNS = (
    "id", "category", "context", "level", "table", "field", "description", "severity", "threshold", "status",
    "num_violated_rows", "num_denominator_rows", "pct_violated_rows", "execution_time_s", "sql", "sample_ids",
    "reason",
)


@dataclass(frozen=True)
class Change:
    """How one check moved between two runs."""

    id: str
    before: str | None
    after: str | None
    pct_before: float | None
    pct_after: float | None
    verdict: str  # "dégradé", "amélioré", "nouveau", "retiré", "stable"

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class ResultStore(SqliteStore):
    """Runs of quality checks in `<state>/quality.sqlite`."""

    filename = FILENAME
    schema = _SCHEMA

    def save(self, run: RunResult) -> str:
        """Store a run and its results in one transaction; returns the run id."""
        with closing(self._connect()) as con, con:
            con.execute(
                "INSERT INTO runs VALUES (?, ?, ?, ?, ?)",
                (run.run_id, run.snapshot_id, run.catalog, run.started_at, run.duration_s),
            )
            marks = ", ".join("?" for _ in range(len(_COLUMNS) + 2))
            quoted = ", ".join(f'"{column}"' for column in _COLUMNS)
            con.executemany(
                f"INSERT INTO results (run_id, position, {quoted}) VALUES ({marks})",
                [(run.run_id, position, *_row(result)) for position, result in enumerate(run.results)],
            )
        return run.run_id

    def runs(self) -> list[dict[str, Any]]:
        """Every run, most recent first, with its count of checks per status."""
        with closing(self._connect()) as con:
            rows = con.execute(
                """SELECT r.run_id, r.snapshot_id, r.catalog, r.started_at, r.duration_s,
                          SUM(s.status = 'passed') AS passed, SUM(s.status = 'failed') AS failed,
                          SUM(s.status = 'not_applicable') AS not_applicable, SUM(s.status = 'error') AS error
                   FROM runs r LEFT JOIN results s USING (run_id)
                   GROUP BY r.run_id ORDER BY r.started_at DESC, r.rowid DESC"""
            ).fetchall()
        return [dict(row) for row in rows]

    def load(self, run_id: str | None = None) -> RunResult:
        """A stored run (the latest when `run_id` is None)."""
        with closing(self._connect()) as con:
            if run_id is None:
                head = con.execute("SELECT * FROM runs ORDER BY started_at DESC, rowid DESC LIMIT 1").fetchone()
                if head is None:
                    raise UserError(f"aucun contrôle qualité enregistré dans {self.path} (lancer `workbench quality run`)")
            else:
                head = con.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
                if head is None:
                    raise UserError(f"exécution qualité inconnue : {run_id} (voir `workbench quality history`)")
            rows = con.execute("SELECT * FROM results WHERE run_id = ? ORDER BY position", (head["run_id"],)).fetchall()
        return RunResult(
            run_id=head["run_id"], snapshot_id=head["snapshot_id"], started_at=head["started_at"],
            duration_s=head["duration_s"], catalog=head["catalog"], results=[_result(row) for row in rows],
        )

    def previous(self, run_id: str) -> RunResult | None:
        """The run stored just before `run_id` on the same catalogue (any catalogue if unknown)."""
        with closing(self._connect()) as con:
            row = con.execute(
                """SELECT p.run_id FROM runs p JOIN runs r ON r.run_id = ?
                   WHERE p.rowid < r.rowid AND (r.catalog IS NULL OR p.catalog IS r.catalog)
                   ORDER BY p.rowid DESC LIMIT 1""",
                (run_id,),
            ).fetchone()
        return None if row is None else self.load(row["run_id"])


def _row(result: CheckResult) -> tuple[Any, ...]:
    record = result.to_record()
    record["sample_ids"] = json.dumps(record["sample_ids"], default=str)
    return tuple(record[column] for column in _COLUMNS)


def _result(row: sqlite3.Row) -> CheckResult:
    values = {column: row[column] for column in _COLUMNS}
    values["sample_ids"] = json.loads(values["sample_ids"] or "[]")
    values["status"] = Status(values["status"])
    return CheckResult(**values)


_RANK = {Status.passed.value: 0, Status.not_applicable.value: 1, Status.failed.value: 2, Status.error.value: 2}


def compare(before: RunResult | None, after: RunResult) -> list[Change]:
    """What got better or worse from `before` to `after`, check by check (in `after`'s order).

    Worse: a status that moved to failed/error, or, same status, a higher share of
    violating rows. Better: the reverse. A check absent from one run is new or removed.
    """
    old = before.by_id() if before is not None else {}
    changes = [_change(old.get(result.id), result) for result in after.results]
    new_ids = {result.id for result in after.results}
    changes += [_change(result, None) for result in (before.results if before else []) if result.id not in new_ids]
    return changes


def _change(old: CheckResult | None, new: CheckResult | None) -> Change:
    ident = (new or old).id  # type: ignore[union-attr]
    before_status = old.status.value if old else None
    after_status = new.status.value if new else None
    pct_before = old.pct_violated_rows if old else None
    pct_after = new.pct_violated_rows if new else None
    if old is None:
        verdict = "nouveau"
    elif new is None:
        verdict = "retiré"
    elif _RANK[after_status] != _RANK[before_status]:
        verdict = "dégradé" if _RANK[after_status] > _RANK[before_status] else "amélioré"
    elif pct_before is not None and pct_after is not None and pct_after != pct_before:
        verdict = "dégradé" if pct_after > pct_before else "amélioré"
    else:
        verdict = "stable"
    return Change(ident, before_status, after_status, pct_before, pct_after, verdict)

