"""The audit trail: a hash-chained, append-only JSON-lines log in ``state_path()/audit.jsonl``.

Every record carries a sequence number (``seq``), the SHA-256 of the previous
record's line (``prev``) and its own hash (``hash``, the SHA-256 of the line
without that field), so an edited, deleted or inserted line breaks the chain.
A sidecar, ``audit.head.json``, holds the last sequence number, line hash and
log size (rewritten atomically after each append): a log shorter than the
sidecar says (truncated), different at its end, or missing while the sidecar
exists is an alarm, and writing is refused until an administrator runs
``workbench audit verify`` and starts a new chain with ``workbench audit reset
--raison …`` (the broken log is kept, renamed). Writers re-check the links of
the last 256 KB whenever the file changed other than by appends; the server
verifies the whole log at start (:func:`verify_at_start`).

Writers in several threads and processes (CLI runs, the server) serialise on
an OS lock (``fcntl.flock`` on ``audit.lock``) around "read the last record,
append, update the sidecar". Each record is written completely and
fdatasynced before the caller gets its result; a failed or short write (full
disk, file size limit) is undone (the file is cut back to its previous size)
and raises :class:`AuditError`, so the caller fails closed: a result whose
audit line cannot be written is not handed out, and leaves no record.

Untrusted values are bounded (a user name to 64 characters, any other text to
1,000, with the original length recorded) and failed logins are rate-limited
per (client, name): beyond a few lines a minute, one summary line says how
many attempts were not written.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import errno
import fcntl
import hashlib
import json
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from workbench import paths
from workbench.errors import UserError

FILE_NAME = "audit.jsonl"
HEAD_NAME = "audit.head.json"
LOCK_NAME = "audit.lock"
ARCHIVE_INFIX = ".rompu-"

SYSTEM_NAME = "système"
"""The identity of work nobody asked for (the server's warm-up): never an account's name."""
SYSTEM_ROLE = "system"

NAME_LIMIT = 64
"""Characters of a user name kept in a record (login names are typed by anyone)."""
TEXT_LIMIT = 1_000
"""Characters of any other text value kept in a record."""
ITEMS_LIMIT = 200
"""Items of a list kept in a record."""

LOGIN_BURST = 5
"""Failed-login lines written per (client, name) and per window; the rest are counted in one summary line."""
LOGIN_WINDOW = 60.0
"""Seconds of a failed-login window."""
LOGIN_GLOBAL = 100
"""Failed-login lines written per window over all names and clients (a flood of distinct names)."""

GENESIS = "genesis"
RESERVED = frozenset({"seq", "time", "event", "role", "as_role", "user_length", "truncated", "prev", "hash"})
"""Record fields the audit sets itself; `write` refuses them as event fields."""
ZERO_HASH = "0" * 64
_HASH_SUFFIX = re.compile(rb', "hash": "([0-9a-f]{64})"\}$')
_BLOCK = 65_536

_LOCK = threading.Lock()
TAIL_WINDOW = 262_144
"""Bytes at the end of the log a writer re-checks (links and hashes) whenever the file changed behind its back."""

_TAIL: dict[Path, tuple[tuple[int, int, int, int], "Head", int]] = {}
"""Per log: (device, inode, size, mtime) after this process's last append, the sidecar it wrote then and the
offset where its line starts. When the file and sidecar still match, nobody touched them since; when others
only appended, just their lines are checked; otherwise the last `TAIL_WINDOW` bytes are."""

_CONDEMNED: dict[Path, tuple[tuple[int, int], str]] = {}
"""Logs found broken by `verify_at_start` in this process, by (device, inode): their writes are refused."""

_SURFACE: contextvars.ContextVar[str | None] = contextvars.ContextVar("workbench_audit_surface", default=None)
_DEFAULT_SURFACE = ["api"]


class AuditError(UserError):
    """The audit log cannot be written (broken chain, missing log, full disk): the request is not served."""


def log_path(state: Path | None = None) -> Path:
    """Where the audit log lives (the state folder, never the warehouse)."""
    return paths.state_path(state) / FILE_NAME


def head_path(state: Path | None = None) -> Path:
    """The sidecar holding the last sequence number and line hash (the high-water mark)."""
    return paths.state_path(state) / HEAD_NAME


# --------------------------------------------------------------------------- surfaces and identities

def set_default_surface(name: str) -> None:
    """The surface of this process's records when none is set by :func:`surface` (``cli``, ``dashboard``…)."""
    _DEFAULT_SURFACE[0] = name


@contextlib.contextmanager
def surface(name: str) -> Iterator[None]:
    """Records written inside the block (on this thread or task) name `name` as their surface (e.g. ``site``)."""
    token = _SURFACE.set(name)
    try:
        yield
    finally:
        _SURFACE.reset(token)


def current_surface() -> str:
    """The surface a record written now would carry."""
    return _SURFACE.get() or _DEFAULT_SURFACE[0]


def _identity(user: Any) -> dict[str, Any]:
    """The user fields of a record: system work under the system identity, long names cut."""
    if getattr(user, "system", False):
        return {"user": SYSTEM_NAME, "role": SYSTEM_ROLE, "as_role": getattr(user, "role", None)}
    name = getattr(user, "name", user)
    out: dict[str, Any] = {"user": name, "role": getattr(user, "role", None)}
    if name is not None:
        text = str(name)
        out["user"] = text[:NAME_LIMIT]
        if len(text) > NAME_LIMIT:
            out["user_length"] = len(text)
    return out


def as_system(user: Any | None = None) -> Any:  # -> UserContext (lazy import: ibis)
    """`user`'s rights (default: the local administrator's) for system work, audited under the system identity."""
    import dataclasses

    from workbench.access.context import UserContext

    return dataclasses.replace(user or UserContext(), system=True)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    if isinstance(value, tuple):
        return list(value)
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def _bounded(value: Any) -> tuple[Any, bool]:
    """`value` with long texts and lists cut (and whether anything was cut): a record's size stays bounded."""
    if isinstance(value, str):
        return (value[:TEXT_LIMIT] + "…", True) if len(value) > TEXT_LIMIT else (value, False)
    if isinstance(value, Mapping):
        cut = False
        out: dict[str, Any] = {}
        for index, (key, item) in enumerate(value.items()):
            if index >= ITEMS_LIMIT:
                return out, True
            out[str(key)[:TEXT_LIMIT]], item_cut = _bounded(item)
            cut = cut or item_cut or len(str(key)) > TEXT_LIMIT
        return out, cut
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else list(value)
        bounded = [_bounded(item) for item in items[:ITEMS_LIMIT]]
        return [item for item, _ in bounded], len(items) > ITEMS_LIMIT or any(cut for _, cut in bounded)
    return value, False


# --------------------------------------------------------------------------- lines and hashes

def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Line:
    """One line of the log as read back: its record when it parses, and what its hashes say."""

    number: int
    raw: bytes
    record: dict[str, Any] | None
    chained: bool
    own_ok: bool
    known_hash: str | None = None

    @property
    def seq(self) -> int:
        """The sequence number (-1 for a line that is not a chained record)."""
        return (self.record or {})["seq"] if self.chained else -1

    @property
    def line_hash(self) -> str:
        return self.known_hash or _digest(self.raw)


def _parse(number: int, raw: bytes) -> Line:
    """A line's record (None when it does not parse: a torn write) and whether its own hash matches."""
    try:
        record = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return Line(number, raw, None, False, False)
    if not isinstance(record, dict):
        return Line(number, raw, None, False, False)
    found = _HASH_SUFFIX.search(raw)
    chained = isinstance(record.get("seq"), int) and "prev" in record and "hash" in record
    own_ok = bool(found) and chained and _digest(raw[: found.start()] + b"}") == record.get("hash")
    return Line(number, raw, record, chained, own_ok)


def _encode(record: Mapping[str, Any]) -> bytes:
    """The line of `record` (which holds ``prev``), with its own hash appended as the last field."""
    content = json.dumps(record, ensure_ascii=False, default=_jsonable).encode("utf-8")
    return content[:-1] + f', "hash": "{_digest(content)}"}}'.encode() + b"\n"


def _lines_backwards(descriptor: int, size: int) -> Iterator[bytes]:
    """Complete lines (without their newline) from the end of the file, last first.

    Bytes after the last newline are a torn write, not a line, and are skipped.
    """
    position, pending = size, b""
    while position > 0:
        start = max(0, position - _BLOCK)
        data = os.pread(descriptor, position - start, start) + pending
        position = start
        parts = data.split(b"\n")
        if len(parts) == 1:
            pending = data
            continue
        yield from reversed(parts[1:-1])
        if start == 0:
            yield parts[0]
        pending = parts[0] + b"\n"


# --------------------------------------------------------------------------- the sidecar (high-water mark)

@dataclass(frozen=True)
class Head:
    """The last record appended: its sequence number, its line's hash and the chain it belongs to."""

    seq: int
    hash: str
    chain: str
    size: int


def _load_head(path: Path) -> Head | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Head(int(data["seq"]), str(data["hash"]), str(data["chain"]), int(data["size"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise AuditError(f"registre du journal d'audit illisible ({path} : {error}) : "
                         "lancez `workbench audit verify`") from None


def _write_all(descriptor: int, data: bytes) -> None:
    """Write every byte (a short write is continued; a failing one raises `OSError`)."""
    view = memoryview(data)
    while view:
        written = os.write(descriptor, view)
        if written <= 0:
            raise OSError(errno.EIO, "écriture de 0 octet")
        view = view[written:]


def _save_head(path: Path, head: Head) -> None:
    """Replace the sidecar atomically (temporary file, rename): never half a high-water mark.

    Not fsynced (the log is): a crash can leave the previous sidecar, which
    lags behind the log — accepted by the next writer and noted by `verify` —
    while ext4 and XFS flush a file renamed over another before the rename.
    """
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        _write_all(descriptor, json.dumps(asdict(head)).encode("utf-8"))
    finally:
        os.close(descriptor)
    os.replace(temporary, path)


@contextlib.contextmanager
def _os_lock(folder: Path) -> Iterator[None]:
    """The exclusive lock every writer, in every process, holds around read-last-record + append."""
    descriptor = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # releases the lock


# --------------------------------------------------------------------------- appending

def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


def _broken(path: Path, detail: str) -> AuditError:
    return AuditError(f"journal d'audit {path} : {detail} ; aucune écriture tant que la rupture n'est pas "
                      "constatée : lancez `workbench audit verify` (administrateur)")


def _complete_end(descriptor: int, size: int) -> int:
    """The offset just after the last newline: what follows it is a torn write."""
    position = size
    while position > 0:
        start = max(0, position - _BLOCK)
        found = os.pread(descriptor, position - start, start).rfind(b"\n")
        if found >= 0:
            return start + found + 1
        position = start
    return 0


def _tail_lines(descriptor: int, size: int) -> list[Line]:
    """The records of the last `TAIL_WINDOW` bytes (at least the last record), oldest first; torn lines dropped."""
    lines: list[Line] = []
    taken = 0
    for raw in _lines_backwards(descriptor, size):
        line = _parse(0, raw)
        if line.record is not None:
            lines.append(line)
            if line.chained and line.record.get("event") == GENESIS and line.seq == 0:
                break
        taken += len(raw) + 1
        if taken >= TAIL_WINDOW and lines:
            break
    return lines[::-1]


def _lines_from(descriptor: int, start: int, size: int) -> list[Line]:
    """The records of the complete lines between offsets `start` and `size` (torn lines dropped)."""
    data = os.pread(descriptor, size - start, start)
    parsed = [_parse(0, raw) for raw in data.split(b"\n")[:-1]]
    return [line for line in parsed if line.record is not None]


def _checked_tail(path: Path, descriptor: int, size: int, head: Head, lines: Sequence[Line]) -> Line:
    """The last of `lines` (the end of the log), once checked against each other and the sidecar; else `AuditError`."""
    chained = [line for line in lines if line.chained]
    if not chained:
        raise _broken(path, f"journal tronqué : le registre annonce la séquence {head.seq}, "
                            "le journal n'en contient plus aucune")
    if len(chained) < len(lines):
        raise _broken(path, "ligne sans chaînage insérée dans la chaîne")
    for before, line in zip(chained, chained[1:]):
        if line.seq != before.seq + 1 or (line.record or {}).get("prev") != before.line_hash:
            raise _broken(path, f"chaîne rompue avant la séquence {line.seq} (ligne modifiée, insérée ou supprimée)")
    edited = [line.seq for line in chained if not line.own_ok]
    if edited:
        raise _broken(path, f"enregistrement de séquence {edited[0]} modifié")
    last = chained[-1]
    if last.seq < head.seq:
        raise _broken(path, f"journal tronqué : le registre annonce la séquence {head.seq}, "
                            f"le journal s'arrête à {last.seq}")
    if last.seq == head.seq and (last.line_hash != head.hash or _complete_end(descriptor, size) != head.size):
        raise _broken(path, f"journal modifié : la fin du journal (séquence {head.seq}) ne correspond plus au registre")
    marked = [line for line in chained if line.seq == head.seq]
    if last.seq > head.seq and marked and marked[0].line_hash != head.hash:
        raise _broken(path, f"enregistrement de séquence {head.seq} modifié")
    # last.seq > head.seq: a crash between an append and its sidecar update; `audit verify` checks the rest
    return last


def _append_line(descriptor: int, path: Path, data: bytes, size: int) -> None:
    """Append `data` after the file's `size` bytes, or leave the file as it was and raise `AuditError`."""
    torn = size > 0 and os.pread(descriptor, 1, size - 1) != b"\n"
    try:
        _write_all(descriptor, (b"\n" if torn else b"") + data)
        os.fdatasync(descriptor)  # the record and the file's new size are on disk before the result is returned
    except OSError as error:
        with contextlib.suppress(OSError):
            os.ftruncate(descriptor, size)  # no torn record left behind
        raise AuditError(f"journal d'audit {path} : écriture impossible ({error.strerror or error}) : "
                         "la demande n'est pas servie") from error


def _legacy(descriptor: int, size: int) -> dict[str, Any]:
    """What a genesis says of the unchained lines written before the chain existed (count, SHA-256)."""
    digest, lines, position = hashlib.sha256(), 0, 0
    while position < size:
        block = os.pread(descriptor, min(_BLOCK, size - position), position)
        digest.update(block)
        lines += block.count(b"\n")
        position += len(block)
    return {"legacy_lines": lines, "legacy_sha256": digest.hexdigest()}


def _genesis_body(reason: str, **fields: Any) -> dict[str, Any]:
    return {"time": _now(), "event": GENESIS, "user": SYSTEM_NAME, "role": SYSTEM_ROLE,
            "chain": uuid.uuid4().hex, "reason": reason, **fields}


def _start(descriptor: int, path: Path, size: int, body: dict[str, Any]) -> Head:
    """Write a genesis record (seq 0) after the file's `size` bytes; the sidecar that describes it."""
    data = _encode({"seq": 0, **body, "prev": ZERO_HASH})
    _append_line(descriptor, path, data, size)
    return Head(0, _digest(data[:-1]), body["chain"], _complete_end(descriptor, os.fstat(descriptor).st_size))


def _save(head_file: Path, head: Head) -> None:
    """Write the sidecar, or raise `AuditError` (the record is on disk, the request still fails closed)."""
    try:
        _save_head(head_file, head)
    except OSError as error:
        raise AuditError(f"registre du journal d'audit {head_file} : écriture impossible "
                         f"({error.strerror or error}) : la demande n'est pas servie") from error


def _identity_of(descriptor: int) -> tuple[int, int, int, int]:
    stat = os.fstat(descriptor)
    return stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns


def _append(body: dict[str, Any]) -> dict[str, Any]:
    """Chain and append one record under the thread and OS locks; the record as written."""
    folder = paths.state_path()
    folder.mkdir(parents=True, exist_ok=True)
    path, head_file = folder / FILE_NAME, folder / HEAD_NAME
    with _LOCK, _os_lock(folder):
        head = _load_head(head_file)
        try:
            descriptor = os.open(path, os.O_RDWR | os.O_APPEND)
        except FileNotFoundError:
            if head is not None:
                raise _broken(path, f"journal absent alors que le registre annonce {head.seq + 1} "
                                    "enregistrement(s)") from None
            descriptor = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        original = os.fstat(descriptor).st_size
        try:
            identity = _identity_of(descriptor)
            size = identity[2]
            condemned = _CONDEMNED.get(path)
            if condemned is not None and condemned[0] == identity[:2]:
                raise _broken(path, condemned[1])
            if head is None:
                head = _first_head(descriptor, path, size)
                _save(head_file, head)
                size = original = os.fstat(descriptor).st_size  # the chain exists now: a failure keeps it
                seq, previous = head.seq, head.hash
            else:
                last = _known_tail(path, descriptor, identity, head)
                seq, previous = last.seq, last.line_hash
            data = _encode({"seq": seq + 1, **body, "prev": previous})
            _append_line(descriptor, path, data, size)
            identity = _identity_of(descriptor)
            new = Head(seq + 1, _digest(data[:-1]), head.chain, identity[2])
            _save(head_file, new)
            _TAIL[path] = (identity, new, identity[2] - len(data))
        except AuditError:
            with contextlib.suppress(OSError):  # the request is not served: no record of it (nor a genesis alone)
                os.ftruncate(descriptor, original)
            raise
        finally:
            os.close(descriptor)
    return json.loads(data)


def _known_tail(path: Path, descriptor: int, identity: tuple[int, int, int, int], head: Head) -> Line:
    """The log's last record, checked as cheaply as what this process knows of the file allows."""
    size = identity[2]
    known = _TAIL.get(path)
    if known is not None and known[0] == identity and known[1] == head:
        return Line(0, b"", {"seq": head.seq}, True, True, head.hash)  # untouched since our own append
    if known is not None and known[0][:2] == identity[:2] and known[0][2] < size and known[1].seq < head.seq:
        lines = _lines_from(descriptor, known[2], size)  # others appended: check our line and theirs
        if not lines or lines[0].line_hash != known[1].hash:
            raise _broken(path, f"enregistrement de séquence {known[1].seq} modifié")
        return _checked_tail(path, descriptor, size, head, lines)
    return _checked_tail(path, descriptor, size, head, _tail_lines(descriptor, size))


def _first_head(descriptor: int, path: Path, size: int) -> Head:
    """Open the chain of a log without sidecar: a new log, or one written before chaining (counted, hashed)."""
    lines = _tail_lines(descriptor, size)
    if any(line.chained for line in lines):
        raise _broken(path, f"registre {HEAD_NAME} absent alors que le journal est chaîné")
    legacy = _legacy(descriptor, size) if lines else {}
    return _start(descriptor, path, size, _genesis_body("journal antérieur non chaîné" if legacy else "nouveau journal",
                                                        **legacy))


def write(event: str, user: Any = None, **fields: Any) -> dict[str, Any]:
    """Append one event (time, user name and role, surface, then `fields`) and return the record written.

    Raises :class:`AuditError` when the record cannot be written: the caller
    must not hand out the result it was about to audit.
    """
    reserved = RESERVED.intersection(fields)
    if reserved:  # a caller's field must never overwrite the chain or the identity
        raise TypeError(f"audit.write : champ(s) réservé(s) {sorted(reserved)}")
    bounded, cut = _bounded(fields)
    body: dict[str, Any] = {"time": _now(), "event": event, **_identity(user)}
    body["surface"] = bounded.pop("surface", None) or current_surface()
    body.update(bounded)
    if cut:
        body["truncated"] = True
    return _append(body)


# --------------------------------------------------------------------------- logins

class LoginLimiter:
    """How many failed-login lines each (client, name) may write per window; the rest become one summary."""

    GLOBAL = ("*", "*")
    MAX_KEYS = 100
    """Buckets with their own summary line per window; beyond, suppressed attempts join the global summary."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._started: float | None = None
        self._written: dict[tuple[str, str], int] = {}
        self._suppressed: dict[tuple[str, str], int] = {}
        self._total = 0

    def admit(self, client: str, name: str) -> tuple[bool, list[tuple[tuple[str, str], int]]]:
        """Whether this failure gets its own line, and the summaries of the window that just ended."""
        with self._lock:
            ended = []
            now = self.clock()
            if self._started is None or now - self._started >= LOGIN_WINDOW:
                ended = self._drain()
                self._started = now
            key = (client, name)
            if self._written.get(key, 0) >= LOGIN_BURST:  # this bucket's own summary, while buckets stay few
                bucket = key if key in self._suppressed or len(self._suppressed) < self.MAX_KEYS else self.GLOBAL
            elif self._total >= LOGIN_GLOBAL:  # a flood of distinct names: one summary for all
                bucket = self.GLOBAL
            else:
                self._written[key] = self._written.get(key, 0) + 1
                self._total += 1
                return True, ended
            self._suppressed[bucket] = self._suppressed.get(bucket, 0) + 1
            return False, ended

    def drain(self) -> list[tuple[tuple[str, str], int]]:
        """The suppressed counts so far, reset (for a summary written now, e.g. at shutdown)."""
        with self._lock:
            return self._drain()

    def _drain(self) -> list[tuple[tuple[str, str], int]]:
        ended = sorted(self._suppressed.items())
        self._written, self._suppressed, self._total = {}, {}, 0
        return ended


LOGINS = LoginLimiter()


def _write_summaries(ended: Sequence[tuple[tuple[str, str], int]]) -> None:
    for (client, name), count in ended:
        everyone = (client, name) == LoginLimiter.GLOBAL
        write("login", None if everyone else name, ok=False, outcome="suppressed", suppressed=count,
              client=None if everyone else client or None, window_seconds=LOGIN_WINDOW,
              message=f"{count} tentative(s) échouée(s) non journalisée(s)")


def flush_login_summaries() -> None:
    """Write the summary lines of failed logins suppressed so far (the server calls it at shutdown)."""
    _write_summaries(LOGINS.drain())


def log_login(name: Any, ok: bool, **fields: Any) -> dict[str, Any] | None:
    """A login attempt (never the password); `fields` say more (client, throttling).

    A success is always written. Failures are rate-limited per (client, name)
    by :data:`LOGINS`: beyond the burst, None is returned and the attempt is
    counted in a summary line written when its window ends.
    """
    if not ok:
        client = str(fields.get("client") or "")[:TEXT_LIMIT]
        admitted, ended = LOGINS.admit(client, str(name)[:NAME_LIMIT])
        _write_summaries(ended)
        if not admitted:
            return None
    return write("login", "" if name is None else str(name), ok=bool(ok), **fields)


def export(user: Any, *, indicator: str | None, format: str, rows: int,
           filters: Mapping[str, Sequence[str]] | None = None, destination: str | None = None,
           **fields: Any) -> dict[str, Any]:
    """Data leaving the workbench (a written or downloaded file, or the screen), called by the code that writes it.

    `indicator` is None for a listing or table that is not an indicator;
    `destination` is the file written (None for a browser download, ``stdout``
    for the screen); `fields` add the request (by, period, masked cells…).
    """
    return write("export", user, indicator=indicator, format=format, rows=int(rows),
                 filters={name: list(values) for name, values in (filters or {}).items()},
                 destination=destination, **fields)


# --------------------------------------------------------------------------- reading

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


# --------------------------------------------------------------------------- verifying and restarting the chain

@dataclass(frozen=True)
class Finding:
    """One thing `verify` found: where (line number, sequence) and what, in French."""

    kind: str
    message: str
    line: int | None = None
    seq: int | None = None


@dataclass
class Report:
    """The outcome of :func:`verify`: the chain is intact when there are no problems (notes are informative)."""

    path: str
    records: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    chain: str | None = None
    head: dict[str, Any] | None = None
    problems: list[Finding] = field(default_factory=list)
    notes: list[Finding] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {"intact": self.intact, "path": self.path, "records": self.records, "first_seq": self.first_seq,
                "last_seq": self.last_seq, "chain": self.chain, "head": self.head,
                "problems": [asdict(item) for item in self.problems], "notes": [asdict(item) for item in self.notes]}

    def text(self) -> str:
        """The French report printed by `workbench audit verify`."""
        span = (f" (séquences {self.first_seq} à {self.last_seq})" if self.first_seq is not None else "")
        head = (f"séquence {self.head['seq']}, empreinte {self.head['hash'][:12]}…" if self.head else "absent")
        lines = [f"Journal d'audit : {self.path}", f"Enregistrements chaînés : {self.records}{span}",
                 f"Chaîne : {self.chain or '—'}", f"Registre ({HEAD_NAME}) : {head}"]
        for title, items in (("Anomalies", self.problems), ("Remarques", self.notes)):
            if items:
                lines.append(f"{title} ({len(items)}) :")
                lines += [f"  - {_where(item)}{item.message}" for item in items]
        lines.append("Verdict : chaîne intacte." if self.intact else
                     "Verdict : CHAÎNE ROMPUE — écriture refusée tant qu'un administrateur n'a pas ouvert une "
                     "nouvelle chaîne (`workbench audit reset --raison …`, le journal rompu est conservé).")
        return "\n".join(lines)


def _where(item: Finding) -> str:
    parts = [f"ligne {item.line}" if item.line is not None else "", f"séquence {item.seq}" if item.seq is not None else ""]
    where = ", ".join(part for part in parts if part)
    return f"{where} : " if where else ""


def verify(state: Path | None = None) -> Report:
    """Check the chain of the log against itself and against the sidecar (gaps, edits, truncation, torn lines).

    Lock-free: the sidecar is read first, then the log up to its size at that
    moment, so an append running meanwhile looks like a sidecar lagging behind
    (a note), never like a truncation.
    """
    path, head_file = log_path(state), head_path(state)
    report = Report(str(path))
    try:
        head = _load_head(head_file)
    except AuditError as error:
        report.problems.append(Finding("registre", str(error)))
        head = None
    report.head = asdict(head) if head else None
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        if head is not None:
            report.problems.append(Finding("absent", f"journal absent alors que le registre annonce la séquence "
                                                     f"{head.seq} ({head.seq + 1} enregistrement(s))"))
        else:
            report.notes.append(Finding("vide", "aucun journal ni registre : aucune écriture pour l'instant"))
        return report
    with handle:
        size = os.fstat(handle.fileno()).st_size
        walked = _walk(report, handle, size)
    _check_head(report, head, walked)
    return report


@dataclass
class _Walked:
    last: Line | None = None
    marks: dict[int, str] = field(default_factory=dict)
    """Each sequence number's line hash."""
    end: int = 0
    """Bytes of complete lines (where a torn tail starts)."""


def _walk(report: Report, handle: Any, size: int) -> _Walked:
    """Read every line and report what breaks the chain."""
    walked = _Walked()
    previous: Line | None = None
    legacy, started = 0, False
    for number, raw in enumerate(handle, start=1):
        if walked.end + len(raw) > size:
            break  # appended after verify started
        if not raw.endswith(b"\n"):
            report.notes.append(Finding("incomplete", "dernière ligne incomplète (écriture interrompue), ignorée",
                                        line=number))
            break
        walked.end += len(raw)
        line = _parse(number, raw[:-1])
        if line.record is None:
            report.notes.append(Finding("incomplete", "ligne incomplète (écriture interrompue), ignorée", line=number))
            continue
        if not line.chained:
            if started:
                report.problems.append(Finding("insertion", "ligne sans chaînage au milieu de la chaîne (insérée ?)",
                                               line=number))
            else:
                legacy += 1
            continue
        seq = line.seq
        if not line.own_ok:
            report.problems.append(Finding("modification", "contenu modifié : l'empreinte de la ligne ne correspond "
                                                           "plus à son contenu", line=number, seq=seq))
        if line.record.get("event") == GENESIS and seq == 0:
            _genesis_seen(report, line, started, legacy)
            started = True
        elif not started:
            report.problems.append(Finding("genese", "enregistrement chaîné sans genèse avant lui (début du journal "
                                                     "supprimé ?)", line=number, seq=seq))
            started = True
        elif previous is not None:
            _link(report, previous, line)
        previous = walked.last = line
        walked.marks[seq] = line.line_hash
        report.records += 1
        report.first_seq = seq if report.first_seq is None else report.first_seq
        report.last_seq = seq
    if legacy:
        report.notes.append(Finding("legacy", f"{legacy} ligne(s) antérieure(s) à la chaîne, non vérifiables"))
    return walked


def _genesis_seen(report: Report, line: Line, started: bool, legacy: int) -> None:
    record = line.record or {}
    if started:
        report.problems.append(Finding("genese", "nouvelle genèse au milieu du journal (chaîne recommencée sur place)",
                                       line=line.number, seq=line.seq))
        return
    report.chain = str(record.get("chain"))
    if legacy and record.get("legacy_lines") != legacy:
        report.problems.append(Finding("legacy", f"la genèse annonce {record.get('legacy_lines')} ligne(s) "
                                                 f"antérieure(s), le journal en contient {legacy}",
                                       line=line.number, seq=0))
    if record.get("reset_by") is not None:
        report.notes.append(Finding("rupture", f"chaîne ouverte le {record.get('time')} par {record.get('reset_by')} "
                                               f"après une rupture (motif : {record.get('reason')}) ; journal rompu "
                                               f"conservé : {record.get('archive') or 'absent'}",
                                    line=line.number, seq=0))


def _link(report: Report, previous: Line, line: Line) -> None:
    """Check that `line` follows `previous`: the next sequence number and the previous line's hash."""
    expected, seq = previous.seq + 1, line.seq
    if seq > expected:
        span = f"séquence {expected} absente" if seq == expected + 1 else f"séquences {expected} à {seq - 1} absentes"
        report.problems.append(Finding("trou", f"{span} : {seq - expected} enregistrement(s) supprimé(s)",
                                       line=line.number, seq=seq))
    elif seq < expected:
        report.problems.append(Finding("ordre", f"séquence {seq} après {previous.seq} (ligne répétée ou déplacée)",
                                       line=line.number, seq=seq))
    elif (line.record or {}).get("prev") != previous.line_hash and previous.own_ok:
        report.problems.append(Finding("chainage", "ne suit pas la ligne précédente (empreinte « prev » différente : "
                                                   "ligne précédente remplacée)", line=line.number, seq=seq))


def _check_head(report: Report, head: Head | None, walked: _Walked) -> None:
    """Compare the log's end with the sidecar's high-water mark."""
    last = walked.last
    if head is None:
        if last is not None and report.head is None and not any(p.kind == "registre" for p in report.problems):
            report.problems.append(Finding("registre", f"registre {HEAD_NAME} absent alors que le journal est "
                                                       "chaîné (supprimé ?) : une troncature ne serait plus détectée"))
        return
    if report.chain is not None and head.chain != report.chain:
        report.problems.append(Finding("registre", f"le registre appartient à une autre chaîne ({head.chain}) "
                                                   f"que le journal ({report.chain})"))
    last_seq = last.seq if last is not None else None
    if last_seq is None or last_seq < head.seq:
        missing = head.seq - (last_seq if last_seq is not None else -1)
        report.problems.append(Finding("troncature", f"journal tronqué : le registre annonce la séquence {head.seq}, "
                                                     f"le journal s'arrête à {last_seq if last_seq is not None else '—'}"
                                                     f" ({missing} enregistrement(s) manquant(s))"))
    elif walked.marks.get(head.seq) != head.hash:
        report.problems.append(Finding("modification", f"l'enregistrement de séquence {head.seq} ne correspond pas "
                                                       "à l'empreinte du registre (modifié ou remplacé)", seq=head.seq))
    elif last_seq == head.seq and walked.end != head.size:
        report.problems.append(Finding("modification", f"taille du journal ({walked.end} octets) différente de celle "
                                                       f"du registre ({head.size}) : lignes modifiées"))
    elif last_seq > head.seq:
        report.notes.append(Finding("retard", f"registre en retard de {last_seq - head.seq} enregistrement(s) "
                                              "(interruption après une écriture) : rattrapé à la prochaine écriture"))


def verify_at_start(state: Path | None = None) -> Report:
    """Verify the whole log (the server calls it at start, off the event loop); when the chain is broken, log
    an error and refuse this process's writes to that file — writers alone only check its last 256 KB.

    A new chain (`workbench audit reset`, a new file) lifts the refusal.
    """
    import logging

    report = verify(state)
    if not report.intact:
        path = log_path(state)
        with contextlib.suppress(FileNotFoundError):  # a missing log is refused by every writer anyway
            stat = path.stat()
            _CONDEMNED[path] = ((stat.st_dev, stat.st_ino),
                                "vérification au démarrage : " + " ; ".join(p.message for p in report.problems[:3]))
        logging.getLogger("workbench.audit").error("journal d'audit rompu : %s",
                                                   " ; ".join(p.message for p in report.problems[:3]))
    return report


def reset(user: Any, reason: str, state: Path | None = None) -> dict[str, Any]:
    """Start a new chain after a break that `verify` reports: the broken log is kept, renamed, and named in the genesis.

    Refused when the chain is intact (nothing to acknowledge). Returns the new genesis record.
    """
    reason = (reason or "").strip()
    if not reason:
        raise UserError("--raison : indiquez pourquoi la chaîne est recommencée")
    folder = paths.state_path(state)
    folder.mkdir(parents=True, exist_ok=True)
    path, head_file = folder / FILE_NAME, folder / HEAD_NAME
    with _LOCK, _os_lock(folder):
        report = verify(state)
        if report.intact:
            raise UserError(f"journal d'audit {path} : chaîne intacte, rien à recommencer")
        archive = None
        if path.exists():
            stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
            archive = path.with_name(FILE_NAME + ARCHIVE_INFIX + stamp)
            os.replace(path, archive)
        bounded, _ = _bounded({"reason": reason, "problems": [item.message for item in report.problems[:20]]})
        who = _identity(user)
        previous = {"head": report.head, "chain": report.chain, "last_seq": report.last_seq}
        body = _genesis_body(bounded["reason"], reset_by=who["user"], reset_role=who["role"], previous=previous,
                             archive=archive and archive.name, problems=bounded["problems"],
                             problem_count=len(report.problems))
        descriptor = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            head = _start(descriptor, path, 0, body)
        finally:
            os.close(descriptor)
        _save(head_file, head)
        _TAIL.pop(path, None)
    return next(read(path))
