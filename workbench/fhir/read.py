"""Reading a FHIR source: a bulk-data export folder (NDJSON, optionally gzipped) or a Bundle JSON.

Every resource comes out as a :class:`Record` carrying its file and line, so a
quarantined resource can be found again in the source. A line that is not JSON
is still a record (``resource`` is None): it goes to quarantine, the load goes
on. What makes the whole source unreadable — no NDJSON in the folder, a file
whose resources are not of the type its name says, a corrupt gzip — is one
`UserError` before anything is written.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.errors import UserError


@dataclass
class Record:
    """One resource of the source, as read: raw text, where it was, and once `parse` ran, its JSON
    (None when unparseable, with the `error`). Parsing is left to the loader, which skips the lines
    it has already loaded unchanged (an incremental load parses what changed)."""

    resource_type: str
    raw: str
    resource: dict[str, Any] | None
    file: str
    line: int
    error: str | None = None
    checked: bool = False
    path: str = ""

    @property
    def fhir_id(self) -> str | None:
        """The resource's `id`, or None when absent or not a string (quarantined)."""
        value = (self.resource or {}).get("id")
        return value if isinstance(value, str) and value else None

    def parse(self) -> None:
        """Parse the raw line; a resource of another type than its file's is a `UserError` (the whole source is wrong)."""
        if self.checked:
            return
        self.checked = True
        self.resource, self.error = _parse(self.raw)
        if self.resource is not None and self.resource.get("resourceType") != self.resource_type:
            raise UserError(f"{self.path or self.file}, ligne {self.line} : ressource de type « {self.resource.get('resourceType')} » dans un "
                            f"fichier de type « {self.resource_type} » (le nom d'un fichier d'export FHIR donne son type)")


def _type_of_file(path: Path) -> str:
    """The resource type a bulk file is named after (``Patient.000.ndjson.gz`` → ``Patient``)."""
    return path.name.split(".", 1)[0]


def _ndjson_files(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.is_file() and (p.name.endswith(".ndjson") or p.name.endswith(".ndjson.gz")))
    if not files:
        raise UserError(f"{folder} : aucun fichier NDJSON (*.ndjson ou *.ndjson.gz) dans ce dossier d'export FHIR")
    return files


def _lines(path: Path) -> Iterator[str]:
    """The lines of a NDJSON file, decompressed when gzipped; a corrupt gzip is a `UserError`."""
    if path.name.endswith(".gz"):
        try:
            with gzip.open(path, "rt", encoding="utf-8") as handle:
                yield from handle
        except (OSError, EOFError, zlib.error) as error:
            raise UserError(f"{path} : fichier gzip corrompu ({error})") from error
        return
    with path.open(encoding="utf-8") as handle:
        yield from handle


def _parse(text: str) -> tuple[dict[str, Any] | None, str | None]:
    try:
        value = json.loads(text)
    except ValueError as error:
        return None, f"JSON illisible ({error.args[0] if error.args else error})"
    if not isinstance(value, dict):
        return None, "JSON illisible (un objet ressource est attendu)"
    return value, None


def _read_ndjson(path: Path) -> Iterator[Record]:
    expected = _type_of_file(path)
    for number, text in enumerate(_lines(path), start=1):
        text = text.strip()
        if text:
            yield Record(expected, text, None, path.name, number, path=str(path))


def _read_bundle(path: Path) -> Iterator[Record]:
    try:
        bundle = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UserError(f"{path} : Bundle FHIR illisible ({error})") from error
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise UserError(f"{path} : un fichier JSON doit être un Bundle FHIR (resourceType « Bundle »)")
    for number, entry in enumerate(bundle.get("entry") or [], start=1):
        resource = (entry or {}).get("resource")
        if not isinstance(resource, dict):
            yield Record("?", json.dumps(entry, ensure_ascii=False), None, path.name, number, "entrée de Bundle sans ressource", True)
            continue
        kind = str(resource.get("resourceType") or "?")
        full_url = str(entry.get("fullUrl") or "")
        if not resource.get("id") and full_url.startswith("urn:uuid:"):
            resource = {**resource, "id": full_url[len("urn:uuid:"):]}  # a transaction's new resource: its fullUrl names it
        yield Record(kind, json.dumps(resource, ensure_ascii=False), resource, path.name, number, checked=True)


def read_source(source: Path) -> Iterator[Record]:
    """Every resource of `source` (a bulk export folder or a Bundle JSON file), in file then line order."""
    source = Path(source).expanduser()
    if source.is_dir():
        for path in _ndjson_files(source):
            yield from _read_ndjson(path)
    elif source.is_file():
        yield from _read_bundle(source)
    else:
        raise UserError(f"{source} : source FHIR introuvable (dossier d'export NDJSON ou Bundle JSON attendu)")


def read_deleted(path: Path) -> Iterator[tuple[str, str, str, int]]:
    """(type, id, file, line) of each deletion of a bulk export's deleted list.

    The list is NDJSON of Bundles (or one Bundle) whose entries carry
    ``request: {method: DELETE, url: "Type/id"}``, as the bulk-data spec writes it.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"--deleted {path} : fichier introuvable")
    texts = list(_lines(path)) if path.name.endswith((".ndjson", ".ndjson.gz")) else [path.read_text(encoding="utf-8")]
    for number, text in enumerate(texts, start=1):
        if not text.strip():
            continue
        bundle, error = _parse(text)
        if bundle is None or bundle.get("resourceType") != "Bundle":
            raise UserError(f"--deleted {path}, ligne {number} : un Bundle FHIR de suppressions est attendu ({error or 'autre type'})")
        for entry in bundle.get("entry") or []:
            request = (entry or {}).get("request") or {}
            url = str(request.get("url") or "")
            kind, _, fhir_id = url.partition("/")
            if str(request.get("method", "DELETE")).upper() != "DELETE" or not kind or not fhir_id:
                raise UserError(f"--deleted {path}, ligne {number} : entrée sans « request » DELETE Type/id ({url!r})")
            yield kind, fhir_id, path.name, number


def read_by_type(source: Path, order: tuple[str, ...]) -> Iterator[tuple[str, list[Record]]]:
    """The resources of `source` grouped by type, the types of `order` first and in that order.

    A loader resolves references to what it has already placed, so the
    resources others point to (organisations, locations, patients, stays) come
    first; one type at a time is held in memory.
    """
    source = Path(source).expanduser()
    rank = {kind: index for index, kind in enumerate(order)}
    if source.is_dir():
        files = _ndjson_files(source)
        types = sorted({_type_of_file(p) for p in files}, key=lambda kind: (rank.get(kind, len(rank)), kind))
        for kind in types:
            records: list[Record] = []
            for path in files:
                if _type_of_file(path) == kind:
                    records.extend(_read_ndjson(path))
            yield kind, records
        return
    grouped: dict[str, list[Record]] = {}
    for record in read_source(source):
        grouped.setdefault(record.resource_type, []).append(record)
    for kind in sorted(grouped, key=lambda kind: (rank.get(kind, len(rank)), kind)):
        yield kind, grouped[kind]
