"""Words and TNM stages in the reports, read through the cache: the query-time half of the NLP.

Notes are read through the warehouse's ``notes`` canonical view (so the user's
perimeter applies and the read is audited), analysed once into the per-note
cache (:class:`workbench.nlp.cache.NoteCache`), and the user's words are then
matched against the cached sentences: a term against the normalised tokens
(case and accents ignored, whole tokens), a regular expression against the
sentence as written (case ignored). A mention is negated, hypothetical or
family history when one of its tokens is in the scope edsnlp found.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ibis
import pandas as pd
from ibis.common.exceptions import IbisError

from workbench.errors import UserError
from workbench.nlp.cache import NoteCache
from workbench.nlp.pipeline import FAMILY, HASH_LENGTH, HYPOTHETICAL, NEGATED, content_hash, hashed_content, normalise_term

NOTE_COLUMNS = ["note_id", "person_id", "stay_id", "datetime"]
MENTION_COLUMNS = [*NOTE_COLUMNS, "sentence", "matched", "term", "negated", "hypothetical", "family"]
STAGE_COLUMNS = [*NOTE_COLUMNS, "sentence", "tnm", "t", "n", "m"]


def _keyed(warehouse: Any, view: Any) -> pd.DataFrame:
    """NOTE_COLUMNS and each note's content hash, computed by the engine (no report text leaves it)."""
    content = (ibis.literal(hashed_content("")) + view.text).hexdigest("sha256").substr(0, HASH_LENGTH)
    try:
        return warehouse.execute(view.filter(view.text.notnull()).select(*NOTE_COLUMNS, hash=content))
    except (IbisError, NotImplementedError):  # a backend without SQL SHA-256 (PostgreSQL): hash the texts here, the same way
        notes = warehouse.execute(view.filter(view.text.notnull()).select(*NOTE_COLUMNS, "text"))
        notes["hash"] = [content_hash(text) for text in notes["text"].tolist()]
        return notes.drop(columns="text")


def _texts(warehouse: Any, view: Any, todo: pd.DataFrame) -> pd.DataFrame:
    """`todo` (note_id, hash) with the text of each note (a few ids by list, many by one full read)."""
    ids = todo["note_id"].tolist()
    chosen = view.filter(view.note_id.isin(ids)) if len(ids) <= 10_000 else view
    texts = warehouse.execute(chosen.select("note_id", "text"))
    return todo[["note_id", "hash"]].merge(texts, on="note_id", how="inner")


def cached_notes(warehouse: Any, *, progress: bool | None = None, state: Path | None = None) -> tuple[pd.DataFrame, NoteCache]:
    """The notes the user may read (NOTE_COLUMNS and hash), every one analysed into the cache.

    A set of notes already seen whole (same ids, same contents) costs one query
    and a digest; otherwise the notes not cached yet are read and analysed.
    """
    view = warehouse.view("notes")
    notes = _keyed(warehouse, view)
    cache = NoteCache(state)
    digest = f"{int(pd.util.hash_pandas_object(notes[['note_id', 'hash']], index=False).sum()) & (2**64 - 1):016x}-{len(notes)}"
    if not cache.is_complete(digest):
        todo = cache.missing(notes[["note_id", "hash"]])
        if not todo.empty:
            cache.build(_texts(warehouse, view, todo), progress=progress)
        cache.mark_complete(digest)
    return notes, cache


def _patterns(terms: Sequence[str], regex: bool) -> list[tuple[str, re.Pattern[str], bool]]:
    """(term, compiled pattern, on_norms) per term; a bad term or pattern is a UserError naming it."""
    if isinstance(terms, str) or not terms:
        raise UserError("recherche dans les comptes rendus : donnez une liste non vide de termes")
    out = []
    for term in terms:
        if not isinstance(term, str) or not term.strip():
            raise UserError(f"recherche dans les comptes rendus : terme vide ou invalide {term!r}")
        if regex:
            try:
                out.append((term, re.compile(term, re.IGNORECASE), False))
            except re.error as error:
                raise UserError(f"recherche dans les comptes rendus : expression régulière invalide « {term} » ({error})") from None
        else:
            norms = normalise_term(term)
            if not norms:
                raise UserError(f"recherche dans les comptes rendus : terme sans mot « {term} »")
            out.append((term, re.compile(r"(?<!\S)" + re.escape(norms) + r"(?!\S)"), True))
    return out


def _token_range(row: Any, start: int, end: int, on_norms: bool) -> tuple[int, int]:
    """First and last token index of a match (`start`, `end` in the norms string or in the sentence text)."""
    if on_norms:
        return row.norms.count(" ", 0, start), row.norms.count(" ", 0, end)
    spans = [tuple(map(int, span.split(":"))) for span in row.spans.split(",")]
    inside = [i for i, (a, b) in enumerate(spans) if a < end and b > start] or [0]
    return inside[0], inside[-1]


def _matches(sentences: pd.DataFrame, patterns: list[tuple[str, re.Pattern[str], bool]]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for term, pattern, on_norms in patterns:
        column = sentences["norms"] if on_norms else sentences["text"]
        hit = column.str.contains(pattern, regex=True)
        for row in sentences[hit.to_numpy()].itertuples(index=False):
            for found in pattern.finditer(row.norms if on_norms else row.text):
                first, last = _token_range(row, found.start(), found.end(), on_norms)
                spans = row.spans.split(",")
                a, b = int(spans[first].split(":")[0]), int(spans[last].split(":")[1])
                flags = 0
                for digit in row.flags[first:last + 1]:
                    flags |= int(digit)
                rows.append({"note_id": row.note_id, "hash": row.hash, "sentence": row.text, "matched": row.text[a:b], "term": term,
                             "negated": bool(flags & NEGATED), "hypothetical": bool(flags & HYPOTHETICAL), "family": bool(flags & FAMILY)})
    return rows


def find_mentions(warehouse: Any, terms: Sequence[str], *, regex: bool = False, qualified: bool = False,
                  progress: bool | None = None, state: Path | None = None) -> pd.DataFrame:
    """Mentions of any of `terms` in the reports the user may read, one row per mention.

    Columns: note_id, person_id, stay_id, datetime, sentence, matched (the words
    as written), term (the query term that matched), negated, hypothetical, family.
    Negated, hypothetical and family-history mentions are left out unless
    `qualified` is true (then the flag columns tell them apart). `regex`: the
    terms are regular expressions on the sentence text instead of words.
    """
    patterns = _patterns(terms, regex)
    notes, cache = cached_notes(warehouse, progress=progress, state=state)
    words = None if regex else [normalise_term(term) for term in terms]
    sentences = cache.sentences(norms_containing=words).merge(notes[["note_id", "hash"]], on=["note_id", "hash"])
    found = pd.DataFrame(_matches(sentences, patterns), columns=["note_id", "hash", *MENTION_COLUMNS[4:]])
    if not qualified:
        found = found[~(found["negated"] | found["hypothetical"] | found["family"])]
    out = found.merge(notes, on=["note_id", "hash"], how="inner")[MENTION_COLUMNS]
    return out.sort_values(["person_id", "datetime", "note_id"], kind="stable").reset_index(drop=True)


def tnm_mentions(warehouse: Any, *, progress: bool | None = None, state: Path | None = None) -> pd.DataFrame:
    """TNM stages written in the reports the user may read: note_id, person_id, stay_id, datetime, sentence, tnm, t, n, m.

    `t`, `n`, `m` are the values as edsnlp reads them, sub-category included
    (``"2"``, ``"1a"``, ``"x"``…; None when the stage omits the letter);
    `workbench.cohorts.evaluate.tnm_matches` compares them with ``T>=3``, ``M1``…
    """
    notes, cache = cached_notes(warehouse, progress=progress, state=state)
    out = cache.stages().merge(notes, on=["note_id", "hash"], how="inner")
    for column in ("t", "n", "m"):  # None, never NaN, for a letter the stage omits
        out[column] = out[column].astype(object).where(out[column].notna(), None)
    return out[STAGE_COLUMNS].sort_values(["person_id", "datetime", "note_id"], kind="stable").reset_index(drop=True)
