"""SQLite stores in the application's state folder, never in the warehouse file.

Quality runs and problem reports are written by the served app and the CLI at
the same time: WAL mode lets readers and one writer work concurrently, and the
warehouse file stays read-only (see docs/architecture.md, connection policy).
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import ClassVar

from workbench import paths


class SqliteStore:
    """A SQLite file `<state>/<filename>` created with `schema` on first use."""

    filename: ClassVar[str]
    schema: ClassVar[str]

    def __init__(self, folder: Path | None = None) -> None:
        self.path = paths.state_path(folder) / self.filename
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as con, con:
            con.executescript(self.schema)

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=30)
        con.execute("PRAGMA journal_mode=WAL")
        con.row_factory = sqlite3.Row
        return con
