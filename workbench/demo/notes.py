"""Clinical reports (``note``): short French texts that name the stay's diagnoses.

Discharge letters (CRH) for hospitalisations, emergency and consultation
reports, operative reports for surgical profiles and pathology reports for
cancer stays. Cancer stays (a DP or DR in C00–D48) mention a TNM stage, so text
search and cohort criteria on words have something true to find. Texts are
assembled column-wise with Arrow string kernels, never row by row.
"""

from __future__ import annotations

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
             sex: np.ndarray, profiles: Compiled, now: int, first_id: int) -> Table:
    """One or more reports per stay, depending on its kind and profile."""
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
    text = _text(rng, stays, stay, note_class, dp, coding, cancer, age, sex, profiles)
    n = len(stay)
    return {
        "note_id": first_id + np.arange(n, dtype=np.int64),
        "person_id": ids["person"][stay],
        "visit_occurrence_id": ids["stay"][stay],
        "note_datetime": timestamps(when),
        "note_class_source_value": Cat.of(note_class, CLASSES),
        "note_text": text,
        "cdm_source": Cat.of(np.zeros(n, dtype=np.int32), ["ORBIS"]),
        "row_status_source_value": Cat.of(np.zeros(n, dtype=np.int32), ["courant", "supprimé"]),
    }


def _text(rng: np.random.Generator, stays: Stays, stay: np.ndarray, note_class: np.ndarray, dp: np.ndarray, coding: Coding,
          cancer: np.ndarray, age: np.ndarray, sex: np.ndarray, profiles: Compiled) -> pa.Array:
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
    stage = _join(" Stade TNM : pT", pc.cast(pa.array(rng.integers(1, 5, n)), pa.string()), "N", pc.cast(pa.array(rng.integers(0, 3, n)), pa.string()),
                  "M", pc.cast(pa.array((rng.random(n) < 0.2).astype(np.int64)), pa.string()), ".", n=n)
    tnm = pc.if_else(pa.array(cancer[stay]), stage, "")
    discharge = stays.discharge[stay]
    outcome_words = _pick(_texts([DISCHARGE_WORDS[m] for m in (M6, M7, M8, M9)]), discharge)
    outcome = pc.if_else(pa.array((discharge >= 0) & np.isin(note_class, [CRH, URGENCE])), _join(" Sortie : ", outcome_words, ".", n=n), "")
    return _join(
        _pick(headers, note_class), who, years, " ans", stay_words, ". Motif : ", reason, ". Diagnostic principal : ",
        _pick(diagnosis, dp[stay]), ".", related, comorbidity, tnm, outcome, n=n,
    )
