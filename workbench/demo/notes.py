"""Clinical reports (``note``): short French texts that name the stay's diagnoses.

Discharge letters (CRH) for hospitalisations, emergency and consultation
reports, operative reports for surgical profiles and pathology reports for
cancer stays. Cancer stays (a DP or DR in C00–D48) mention a TNM stage, so text
search and cohort criteria on words have something true to find. Reports also
carry up to two clinical findings (:data:`FINDINGS`, words no CIM-10 label of
the demo uses), each affirmed, negated, hypothetical or family history, so that
the NLP has qualifiers to get right; :class:`NotesTruth` records every finding
and stage written, into ``notes_truth.json`` beside the flaw manifest. Texts are
assembled column-wise with Arrow string kernels, never row by row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from workbench.demo.common import DAY, HOUR, NAT, Cat, Table, timestamps
from workbench.demo.pmsi import Coding
from workbench.demo.profiles import KIND, Compiled
from workbench.demo.stays import M6, M7, M8, M9, Stays

CLASSES = ["CRH", "URGENCE", "CR-CONS", "CR-OPER", "CR-ANAPATH"]
CRH, URGENCE, CR_CONS, CR_OPER, CR_ANAPATH = range(5)
HOSPITALISED = [KIND[k] for k in ("hc", "hcu", "amb", "ssr", "psy")]
DISCHARGE_WORDS = {M6: "mutation", M7: "transfert vers un autre établissement", M8: "retour à domicile", M9: "décès"}


#: Findings written in reports: (term, "de …" form, "une …" form). None appears in a CIM-10 label of the demo.
FINDINGS = [
    ("métastase hépatique", "de métastase hépatique", "une métastase hépatique"),
    ("ascite", "d'ascite", "une ascite"),
    ("dénutrition", "de dénutrition", "une dénutrition"),
    ("dyspnée", "de dyspnée", "une dyspnée"),
    ("épilepsie", "d'épilepsie", "une épilepsie"),
]
STATUSES = ["affirmé", "nié", "hypothétique", "familial"]
#: Sentence templates per status ({de}, {une}: the finding's forms; {X}: the term, capitalised).
TEMPLATES = [
    ["Présence {de}.", "On retient {une}.", "Le bilan confirme {une}.", "{X} constatée à l'examen."],
    ["Pas {de}.", "Absence {de}.", "Aucun argument pour {une}.", "Le scanner ne retrouve pas {de}."],
    ["Suspicion {de}.", "Possible {une}, à confirmer.", "Hypothèse {de} à discuter."],
    ["Antécédent familial {de}.", "Sa mère a présenté {une}.", "Père suivi pour {une}."],
]
STATUS_WEIGHTS = [0.4, 0.3, 0.15, 0.15]
#: Probability of 0, 1 or 2 findings in a report.
FINDING_COUNTS = [0.5, 0.35, 0.15]
#: Stream of the findings, apart from the generator's: the other tables stay as they were before findings existed.
FINDINGS_STREAM = 14


@dataclass
class NotesTruth:
    """What the reports say, as written by the generator: findings with their status, and TNM stages."""

    mentions: dict[str, list] = field(default_factory=lambda: {"note_id": [], "person_id": [], "term": [], "status": []})
    stages: dict[str, list] = field(default_factory=lambda: {"note_id": [], "person_id": [], "t": [], "n": [], "m": []})

    def add_mentions(self, note_id: np.ndarray, person_id: np.ndarray, finding: np.ndarray, status: np.ndarray) -> None:
        self.mentions["note_id"] += note_id.tolist()
        self.mentions["person_id"] += person_id.tolist()
        self.mentions["term"] += [FINDINGS[i][0] for i in finding.tolist()]
        self.mentions["status"] += [STATUSES[i] for i in status.tolist()]

    def add_stages(self, note_id: np.ndarray, person_id: np.ndarray, t: np.ndarray, n: np.ndarray, m: np.ndarray) -> None:
        for key, values in (("note_id", note_id), ("person_id", person_id), ("t", t), ("n", n), ("m", m)):
            self.stages[key] += values.tolist()

    def write(self, path: Path) -> None:
        """``notes_truth.json``: column-wise lists (compact at a million patients), statuses in French."""
        document = {"description": "Vérité des comptes rendus : constats (affirmé, nié, hypothétique, familial) et stades TNM écrits",
                    "termes": [f[0] for f in FINDINGS], "statuts": STATUSES, "mentions": self.mentions, "stades": self.stages}
        path.write_text(json.dumps(document, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")


def _texts(values: list[str]) -> pa.Array:
    return pa.array(values, type=pa.string())


def _pick(labels: pa.Array, index: np.ndarray) -> pa.Array:
    """labels[index] with "" where index is -1 (labels get a trailing empty string)."""
    padded = pa.concat_arrays([labels, _texts([""])])
    return pc.take(padded, pa.array(np.where(index < 0, len(labels), index)))


def _join(*parts: pa.Array | str, n: int) -> pa.Array:
    arrays = [part if isinstance(part, (pa.Array, pa.ChunkedArray)) else pa.array([part] * n, type=pa.string()) for part in parts]
    return pc.binary_join_element_wise(*arrays, "")


def _cancer(code_index: np.ndarray, tumour: np.ndarray) -> np.ndarray:
    """Whether each CIM-10 code index (-1 = none) is a tumour (C00–D48)."""
    return np.where(code_index >= 0, tumour[np.maximum(code_index, 0)], False)


def generate(rng: np.random.Generator, stays: Stays, ids: dict[str, np.ndarray], coding: Coding, age: np.ndarray,
             sex: np.ndarray, profiles: Compiled, now: int, first_id: int, truth: NotesTruth | None = None) -> Table:
    """One or more reports per stay, depending on its kind and profile; what they say goes to `truth`."""
    closed = stays.end != NAT
    kind = stays.kind
    surgical = profiles.surgical[stays.profile]
    dp = np.where(coding.dp >= 0, coding.dp, profiles.dp.draw(rng, stays.profile))
    cancer = _cancer(dp, profiles.cim10_tumour) | _cancer(coding.dr, profiles.cim10_tumour)
    groups = [
        (np.flatnonzero(closed & np.isin(kind, HOSPITALISED)), CRH),
        (np.flatnonzero(closed & (kind == KIND["urg"]) & (rng.random(len(stays)) < 0.7)), URGENCE),
        (np.flatnonzero(closed & (kind == KIND["cons"]) & (rng.random(len(stays)) < 0.8)), CR_CONS),
        (np.flatnonzero(surgical & np.isin(kind, HOSPITALISED)), CR_OPER),
        (np.flatnonzero(closed & cancer & np.isin(kind, HOSPITALISED) & surgical), CR_ANAPATH),
    ]
    stay = np.concatenate([rows for rows, _ in groups])
    note_class = np.concatenate([np.full(len(rows), cls) for rows, cls in groups])
    end = stays.end[stay]
    when = np.select(
        [note_class == CR_OPER, note_class == CR_ANAPATH],
        [stays.start[stay] + np.minimum(4 * HOUR, np.where(end == NAT, 4 * HOUR, (end - stays.start[stay]) // 2)), end - np.minimum(DAY, (end - stays.start[stay]) // 2)],
        end,
    )
    when = np.minimum(when, now - 60)  # a report of a stay still open is not dated after the extraction
    order = np.lexsort((note_class, stay))
    stay, note_class, when = stay[order], note_class[order], when[order]
    text, stage = _text(rng, stays, stay, note_class, dp, coding, cancer, age, sex, profiles)
    n = len(stay)
    note_id = first_id + np.arange(n, dtype=np.int64)
    person_id = ids["person"][stay]
    slots = _findings(np.random.default_rng([first_id, n, FINDINGS_STREAM]), n)
    text = _join(text, *(words for words, _, _ in slots), n=n)
    if truth is not None:
        for _, finding, status in slots:
            rows = np.flatnonzero(finding >= 0)
            truth.add_mentions(note_id[rows], person_id[rows], finding[rows], status[rows])
        staged = np.flatnonzero(cancer[stay])
        truth.add_stages(note_id[staged], person_id[staged], *(part[staged] for part in stage))
    return {
        "note_id": note_id,
        "person_id": person_id,
        "visit_occurrence_id": ids["stay"][stay],
        "note_datetime": timestamps(when),
        "note_class_source_value": Cat.of(note_class, CLASSES),
        "note_text": text,
        "cdm_source": Cat.of(np.zeros(n, dtype=np.int32), ["ORBIS"]),
        "row_status_source_value": Cat.of(np.zeros(n, dtype=np.int32), ["courant", "supprimé"]),
    }


def _finding_sentences() -> tuple[list[str], np.ndarray]:
    """Every finding sentence (" …"), and its index by (status, template, finding); -1 where a status has fewer templates."""
    sentences, lookup = [], np.full((len(TEMPLATES), max(map(len, TEMPLATES)), len(FINDINGS)), -1)
    for s, templates in enumerate(TEMPLATES):
        for k, form in enumerate(templates):
            for f, (term, de, une) in enumerate(FINDINGS):
                lookup[s, k, f] = len(sentences)
                sentences.append(" " + form.format(de=de, une=une, X=term[0].upper() + term[1:]))
    return sentences, lookup


SENTENCES, SENTENCE_INDEX = _finding_sentences()


def _findings(rng: np.random.Generator, n: int) -> list[tuple[pa.Array, np.ndarray, np.ndarray]]:
    """Two finding slots per report: (sentence or "", finding index or -1, status index) each.

    A report has 0, 1 or 2 findings (:data:`FINDING_COUNTS`); a second one is
    another finding than the first (shifted past it).
    """
    count = rng.choice(len(FINDING_COUNTS), size=n, p=FINDING_COUNTS)
    first = rng.integers(0, len(FINDINGS), n)
    second = (first + rng.integers(1, len(FINDINGS), n)) % len(FINDINGS)
    slots = []
    for slot, finding in enumerate((first, second)):
        finding = np.where(count > slot, finding, -1)
        status = rng.choice(len(STATUSES), size=n, p=STATUS_WEIGHTS)
        template = np.floor(rng.random(n) * np.array([len(t) for t in TEMPLATES])[status]).astype(np.int64)
        chosen = np.where(finding >= 0, SENTENCE_INDEX[status, template, np.maximum(finding, 0)], -1)
        slots.append((_pick(_texts(SENTENCES), chosen), finding, status))
    return slots


def _text(rng: np.random.Generator, stays: Stays, stay: np.ndarray, note_class: np.ndarray, dp: np.ndarray, coding: Coding,
          cancer: np.ndarray, age: np.ndarray, sex: np.ndarray, profiles: Compiled) -> tuple[pa.Array, tuple[np.ndarray, ...]]:
    """The report texts and the (T, N, M) drawn for each (written only for cancer stays)."""
    n = len(stay)
    diagnosis = _join(pa.array(profiles.cim10_labels, type=pa.string()), " (", pa.array(profiles.cim10_codes, type=pa.string()), ")", n=len(profiles.cim10_codes))
    headers = _texts(["Compte rendu d'hospitalisation. ", "Passage aux urgences. ", "Compte rendu de consultation. ",
                      "Compte rendu opératoire. ", "Compte rendu d'anatomopathologie. "])
    who = _pick(_texts(["Patient de ", "Patiente de "]), sex[stay])
    years = pc.cast(pa.array(np.floor(np.maximum(age[stay], 0)).astype(np.int64)), pa.string())
    start = pc.strftime(pa.array(timestamps(stays.start[stay])), format="%d/%m/%Y")
    end_date = pc.fill_null(pc.strftime(pa.array(timestamps(stays.end[stay].copy()), type=pa.timestamp("s")), format="%d/%m/%Y"), "")
    stay_words = pc.if_else(pa.array(note_class == CRH), _join(", hospitalisation du ", start, " au ", end_date, n=n), _join(", vu(e) le ", start, n=n))
    reason = _pick(_texts([p.name for p in profiles.profiles]), stays.profile[stay])
    dr = coding.dr[stay]
    das = coding.das[stay]
    related = pc.if_else(pa.array(dr >= 0), _join(" Diagnostic relié : ", _pick(diagnosis, dr), ".", n=n), "")
    comorbidity = pc.if_else(pa.array(das >= 0), _join(" Comorbidité : ", _pick(diagnosis, das), ".", n=n), "")
    t, n_stage, m = rng.integers(1, 5, n), rng.integers(0, 3, n), (rng.random(n) < 0.2).astype(np.int64)
    stage = _join(" Stade TNM : pT", pc.cast(pa.array(t), pa.string()), "N", pc.cast(pa.array(n_stage), pa.string()),
                  "M", pc.cast(pa.array(m), pa.string()), ".", n=n)
    tnm = pc.if_else(pa.array(cancer[stay]), stage, "")
    discharge = stays.discharge[stay]
    outcome_words = _pick(_texts([DISCHARGE_WORDS[m] for m in (M6, M7, M8, M9)]), discharge)
    outcome = pc.if_else(pa.array((discharge >= 0) & np.isin(note_class, [CRH, URGENCE])), _join(" Sortie : ", outcome_words, ".", n=n), "")
    text = _join(
        _pick(headers, note_class), who, years, " ans", stay_words, ". Motif : ", reason, ". Diagnostic principal : ",
        _pick(diagnosis, dp[stay]), ".", related, comorbidity, tnm, outcome, n=n,
    )
    return text, (t, n_stage, m)
