"""The edsnlp pipeline that reads a note once, whatever the query will be.

Rule-based pipes only (no torch): sentences, normaliser, TNM, and the three
qualifiers run on every token (``on_ents_only=False``) so that the scopes of
negation, hypothesis and family history are known before anyone says which
words they look for. What a note yields (:class:`Analysis`) is what the cache
keeps; the user's words are matched later against the normalised tokens
(:func:`normalise_term`), with the same tokenizer and normaliser.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

#: Bumped when what the cache holds changes meaning (pipes, their settings, the flag encoding):
#: every note is then analysed again.
PIPELINE_VERSION = "3"
NEGATED, HYPOTHETICAL, FAMILY = 1, 2, 4


@dataclass(frozen=True)
class Sentence:
    """One sentence of a note: its text, its tokens' normalised forms, offsets and qualifier flags.

    ``norms`` are space-separated (a whitespace token becomes ``_``), so that a
    normalised term is found with one regular expression; ``spans`` holds
    ``start:end`` character offsets of each token within ``text``; ``flags``
    one digit per token (sum of NEGATED, HYPOTHETICAL, FAMILY).
    """

    index: int
    text: str
    norms: str
    spans: str
    flags: str


@dataclass(frozen=True)
class Stage:
    """A TNM mention: the sentence it is in (index, text), the stage as written and its T, N, M values (None when absent)."""

    sentence: int
    text: str
    tnm: str
    t: str | None
    n: str | None
    m: str | None


@dataclass(frozen=True)
class Analysis:
    """What a note yields independently of any query."""

    sentences: list[Sentence]
    stages: list[Stage]


#: Hex digits kept of the SHA-256 of a note's content.
HASH_LENGTH = 20


def hashed_content(text: str) -> str:
    """What a note's key hashes: the pipeline version and the text (a new pipeline re-reads every note)."""
    return f"{PIPELINE_VERSION}|{text}"


def content_hash(text: str) -> str:
    """The key of a note's content in the cache (the engine computes the same with SQL, see `workbench.nlp.mentions`)."""
    return hashlib.sha256(hashed_content(text).encode()).hexdigest()[:HASH_LENGTH]


@lru_cache(maxsize=1)
def _pipeline() -> Any:
    """The full pipeline, loaded once per process (~3 s)."""
    import edsnlp
    import edsnlp.pipes as eds
    from loguru import logger

    # eds.family warns on every load that eds.sections is absent: its section rule is simply not used.
    logger.disable("edsnlp.pipes.qualifiers.family")
    nlp = edsnlp.blank("eds")
    nlp.add_pipe(eds.sentences())
    nlp.add_pipe(eds.normalizer())
    nlp.add_pipe(eds.tnm())
    nlp.add_pipe(eds.negation(on_ents_only=False))
    nlp.add_pipe(eds.hypothesis(on_ents_only=False))
    nlp.add_pipe(eds.family(on_ents_only=False))
    return nlp


@lru_cache(maxsize=1)
def _normaliser() -> Any:
    """Tokenizer and normaliser only: how the user's words are put in the form of the cached tokens."""
    import edsnlp
    import edsnlp.pipes as eds

    nlp = edsnlp.blank("eds")
    nlp.add_pipe(eds.normalizer())
    return nlp


def _norm(token: Any) -> str:
    return "_" if token.is_space else token.norm_.replace(" ", "_")


def normalise_term(term: str) -> str:
    """`term` as the cache's ``norms`` spell it (lower case, no accents, tokens separated by one space)."""
    return " ".join(_norm(token) for token in _normaliser()(term) if not token.is_space)


def _flags(token: Any) -> int:
    return (NEGATED if token._.negation else 0) | (HYPOTHETICAL if token._.hypothesis else 0) | (FAMILY if token._.family else 0)


def _part(value: Any, specification: Any) -> str | None:
    """A T, N or M value with its sub-category as written (``1`` + ``a`` → ``1a``); None when the letter is absent."""
    if value is None:
        return None
    return f"{value}{specification or ''}"


def _analysis(doc: Any) -> Analysis:
    sentences: list[Sentence] = []
    starts = []
    for index, sent in enumerate(doc.sents):
        tokens = list(sent)
        base = sent.start_char
        sentences.append(Sentence(
            index=index, text=sent.text, norms=" ".join(_norm(t) for t in tokens),
            spans=",".join(f"{t.idx - base}:{t.idx - base + len(t.text)}" for t in tokens),
            flags="".join(str(_flags(t)) for t in tokens),
        ))
        starts.append(sent.start)
    stages = []
    for span in doc.spans.get("tnm", []):
        value = span._.value
        sentence = max((i for i, start in enumerate(starts) if start <= span.start), default=0)
        stages.append(Stage(sentence, sentences[sentence].text if sentences else "", span.text, _part(value.tumour, value.tumour_specification),
                            _part(value.node, value.node_specification), _part(value.metastasis, value.metastasis_specification)))
    return Analysis(sentences, stages)


def _analyse_chunk(texts: list[str]) -> list[Analysis]:
    """A worker process's share: the pipeline is loaded once per process (`_pipeline` is cached)."""
    return [_analysis(doc) for doc in _pipeline().pipe(texts, batch_size=256)]


def analyse(texts: Iterable[str], batch_size: int = 256, workers: int = 1) -> Iterator[Analysis]:
    """Analyse each text, in order: ~400 report-sized notes/s of CPU per core (qualifiers on every token).

    With `workers` > 1 the texts are shared, in chunks of `batch_size`, between
    that many processes (edsnlp's own multiprocessing backend needs torch).
    """
    if workers <= 1:
        for doc in _pipeline().pipe(texts, batch_size=batch_size):
            yield _analysis(doc)
        return
    from concurrent.futures import ProcessPoolExecutor

    items = list(texts)
    chunks = [items[i:i + batch_size] for i in range(0, len(items), batch_size)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for analyses in pool.map(_analyse_chunk, chunks):
            yield from analyses
