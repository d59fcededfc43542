"""The audit trail: append-only JSON lines in ``state_path()/audit.jsonl``.

One event per line, written with a single ``write`` on a file opened in append
mode, then fsynced, so concurrent processes never interleave lines and an
event is on disk before the result is returned. The reader skips a torn line
(a crash mid-write) instead of failing on the whole log, and the next writer
starts a fresh line after it so the following events stay readable.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from workbench import paths
from workbench.errors import UserError

FILE_NAME = "audit.jsonl"
_LOCK = threading.Lock()


def log_path(state: Path | None = None) -> Path:
    """Where the audit log lives (the state folder, never the warehouse)."""
    return paths.state_path(state) / FILE_NAME


def _jsonable(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return sorted(value) if isinstance(value, (set, frozenset)) else list(value)
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def write(event: str, user: Any = None, **fields: Any) -> dict[str, Any]:
    """Append one event (with time, user name and role) and return it."""
    record = {
        "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds"),
        "event": event,
        "user": getattr(user, "name", user),
        "role": getattr(user, "role", None),
        **fields,
    }
    line = json.dumps(record, ensure_ascii=False, default=_jsonable) + "\n"
    path = log_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with _LOCK:
        descriptor = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            size = os.fstat(descriptor).st_size
            torn = size > 0 and os.pread(descriptor, 1, size - 1) != b"\n"
            os.write(descriptor, (("\n" if torn else "") + line).encode("utf-8"))
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
    return record


def log_login(name: str, ok: bool, **fields: Any) -> dict[str, Any]:
    """A login attempt, successful or not (the password is never logged); `fields` say more (client, throttling)."""
    return write("login", name, ok=bool(ok), **fields)


def export(user: Any, *, indicator: str | None, format: str, rows: int,
           filters: Mapping[str, Sequence[str]] | None = None, destination: str | None = None,
           **fields: Any) -> dict[str, Any]:
    """Data leaving the workbench (a written or downloaded file), called by the code that writes it.

    `indicator` is None for a listing or table that is not an indicator;
    `destination` is the file written (None for a browser download);
    `fields` add the request (by, period, masked cells…).
    """
    return write("export", user, indicator=indicator, format=format, rows=int(rows),
                 filters={name: list(values) for name, values in (filters or {}).items()},
                 destination=destination, **fields)


def read(path: Path | None = None) -> Iterator[dict[str, Any]]:
    """Events in order; a line that does not parse (a torn write) is skipped."""
    path = path or log_path()
    if not path.is_file():
        return
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                yield record


def _since(value: str) -> str:
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise UserError(f"--since : date invalide {value!r} (format AAAA-MM-JJ ou AAAA-MM-JJTHH:MM)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.isoformat(timespec="milliseconds")


def search(user: str | None = None, event: str | None = None, since: str | None = None,
           path: Path | None = None) -> list[dict[str, Any]]:
    """Events matching every given criterion (user name, event kind, at or after a date)."""
    threshold = _since(since) if since else None
    return [
        record for record in read(path)
        if (user is None or record.get("user") == user)
        and (event is None or record.get("event") == event)
        and (threshold is None or str(record.get("time", "")) >= threshold)
    ]


def tail(count: int = 20, path: Path | None = None) -> list[dict[str, Any]]:
    """The last `count` events."""
    if count < 0:
        raise UserError("-n : nombre d'événements négatif")
    events = list(read(path))
    return events[-count:] if count else []
