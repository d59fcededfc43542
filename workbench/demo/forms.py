"""Forms filled in the patient record (FormBuilder, FHIR QuestionnaireResponse): the `formulaire` table.

Two forms, one row per answered item, as the FHIR loader writes them
(`workbench.fhir`), so that a demo exported to FHIR carries
QuestionnaireResponses and comes back the same:

- *Évaluation de la douleur* on about a third of the hospital stays, a few
  hours after admission: pain intensity (EVA, integer 0–10) and its site (text);
- *Autonomie à la sortie* on about a fifth of the ended hospital stays, the day
  before discharge: walks alone (boolean) and the evaluation date.

The forms draw from their own random stream (seeded by the chunk's first form
id), so adding them changed no other table of the demo.
"""

from __future__ import annotations

import numpy as np

from workbench.demo.common import DAY, HOUR, NAT, Cat, Table, dates, timestamps
from workbench.demo.profiles import KIND
from workbench.demo.stays import Stays

FORMS_STREAM = 16
PAIN = "https://eds.aphp.fr/fhir/Questionnaire/evaluation-douleur"
AUTONOMY = "https://eds.aphp.fr/fhir/Questionnaire/autonomie-sortie"
PAIN_SITES = ["thorax", "abdomen", "dos", "tête", "membre inférieur", "membre supérieur"]
HOSPITALISED = [KIND[name] for name in ("hc", "ssr", "psy")]  # full hospitalisation, MCO, SSR and psychiatry
ANSWER_TYPES = ["integer", "string", "boolean", "date"]
ITEMS = [("eva", "Intensité de la douleur (EVA 0-10)"), ("localisation", "Localisation de la douleur"),
         ("marche_seul", "Marche seul"), ("date_evaluation", "Date de l'évaluation")]


def generate(stays: Stays, ids: dict[str, np.ndarray], now: int, first_id: int) -> Table:
    """The chunk's answered items; responses of stays still open are dated before the extraction."""
    rng = np.random.default_rng([first_id, len(stays), FORMS_STREAM])
    hospitalised = np.isin(stays.kind, HOSPITALISED)
    pain = np.flatnonzero(hospitalised & (rng.random(len(stays)) < 0.35))
    ended = np.flatnonzero(hospitalised & (stays.end != NAT) & (rng.random(len(stays)) < 0.2))
    pain_when = np.minimum(stays.start[pain] + rng.integers(2, 8, len(pain)) * HOUR, now - 60)
    autonomy_when = np.maximum(stays.end[ended] - DAY, stays.start[ended])
    # two items per response: (stay, when, questionnaire, item) in response order
    stay = np.repeat(np.concatenate([pain, ended]), 2)
    when = np.repeat(np.concatenate([pain_when, autonomy_when]), 2)
    questionnaire = np.repeat(np.r_[np.zeros(len(pain), np.int32), np.ones(len(ended), np.int32)], 2)
    item = np.concatenate([np.tile([0, 1], len(pain)), np.tile([2, 3], len(ended))]).astype(np.int32)
    n = len(stay)
    number = np.full(n, np.nan)
    number[item == 0] = rng.integers(0, 11, int((item == 0).sum()))
    text = np.full(n, -1, dtype=np.int32)
    text[item == 1] = rng.integers(0, len(PAIN_SITES), int((item == 1).sum()))
    walks = rng.random(int((item == 2).sum())) < 0.7
    labels = np.array([*PAIN_SITES, "true", "false"], dtype=object)
    text[item == 2] = np.where(walks, len(PAIN_SITES), len(PAIN_SITES) + 1)
    answered_on = np.full(n, NAT)
    answered_on[item == 3] = dates(when[item == 3]).astype("datetime64[s]").astype(np.int64)
    return {
        "formulaire_id": first_id + np.arange(n, dtype=np.int64),
        "person_id": ids["person"][stay],
        "visit_occurrence_id": ids["stay"][stay],
        "questionnaire": Cat.of(questionnaire, [PAIN, AUTONOMY]),
        "authored_datetime": timestamps(when),
        "item_link_id": Cat.of(item, [link for link, _ in ITEMS]),
        "item_text": Cat.of(item, [label for _, label in ITEMS]),
        "answer_type": Cat.of(item, ANSWER_TYPES),
        "value_string": Cat.of(text, labels),
        "value_number": number,
        "value_datetime": timestamps(answered_on),
        "value_code": Cat.of(np.full(n, -1, dtype=np.int32), ["_"]),
        "value_code_system": Cat.of(np.full(n, -1, dtype=np.int32), ["_"]),
        "form_status": Cat.of(np.zeros(n, dtype=np.int32), ["completed"]),
        "row_status_source_value": Cat.of(np.zeros(n, dtype=np.int32), ["courant", "supprimé"]),
    }
