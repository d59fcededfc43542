"""Biology and physiological data (``measurement``, ``concept``, ``concept_relationship``).

A curated short list of common tests: local ANABIO-like codes (synthetic, in
vocabulary ``ITM - ANABIO``) mapped "Maps to" the real LOINC code of the test
(``ITM - LOINC``), with the unit and reference range the lab reports. Values
are drawn around the range, a share of them abnormal. Weight (LOINC 29463-7,
kg) and height (8302-2, cm) are recorded for most full stays, from age and sex.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from workbench.demo.common import HOUR, NAT, Cat, Table, choice, group_positions, timestamps
from workbench.demo.profiles import KIND, KINDS
from workbench.demo.stays import Stays

# local code, label, LOINC, LOINC label, unit, low, high, decimals, weight (how often it is ordered)
TESTS: list[tuple[str, str, str, str, str, float, float, int, float]] = [
    ("A0163", "Hémoglobine", "718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", 12.0, 17.0, 1, 10),
    ("A0174", "Leucocytes", "6690-2", "Leukocytes [#/volume] in Blood by Automated count", "G/L", 4.0, 10.0, 1, 10),
    ("A0230", "Plaquettes", "777-3", "Platelets [#/volume] in Blood by Automated count", "G/L", 150.0, 400.0, 0, 10),
    ("A1336", "Sodium", "2951-2", "Sodium [Moles/volume] in Serum or Plasma", "mmol/L", 135.0, 145.0, 0, 9),
    ("A2380", "Potassium", "2823-3", "Potassium [Moles/volume] in Serum or Plasma", "mmol/L", 3.5, 5.0, 1, 9),
    ("A0094", "Créatinine", "14682-9", "Creatinine [Moles/volume] in Serum or Plasma", "µmol/L", 60.0, 110.0, 0, 9),
    ("A1245", "Glucose", "15074-8", "Glucose [Moles/volume] in Blood", "mmol/L", 3.9, 6.1, 1, 6),
    ("A0248", "Protéine C réactive", "1988-5", "C reactive protein [Mass/volume] in Serum or Plasma", "mg/L", 0.0, 5.0, 1, 7),
    ("A0002", "ALAT", "1742-6", "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma", "UI/L", 5.0, 45.0, 0, 4),
    ("A0022", "ASAT", "1920-8", "Aspartate aminotransferase [Enzymatic activity/volume] in Serum or Plasma", "UI/L", 5.0, 35.0, 0, 4),
    ("A3124", "Bilirubine totale", "14631-6", "Bilirubin.total [Moles/volume] in Serum or Plasma", "µmol/L", 3.0, 21.0, 0, 3),
    ("A0283", "Troponine I hypersensible", "89579-7", "Troponin I.cardiac [Mass/volume] in Serum or Plasma by High sensitivity method", "ng/L", 0.0, 34.0, 0, 2),
    ("A1271", "Hémoglobine glyquée", "4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%", 4.0, 6.0, 1, 1.5),
    ("A1831", "TSH", "3016-3", "Thyrotropin [Units/volume] in Serum or Plasma", "mUI/L", 0.4, 4.0, 2, 1.5),
    ("A0269", "INR", "6301-6", "INR in Platelet poor plasma by Coagulation assay", "", 0.8, 1.2, 2, 3),
]
PHYSIO: list[tuple[str, str, str, str, str]] = [
    ("P0001", "Poids", "29463-7", "Body weight", "kg"),
    ("P0002", "Taille", "8302-2", "Body height", "cm"),
]
CREATININE = 5
WEIGHT, HEIGHT = len(TESTS), len(TESTS) + 1
LOCAL_CONCEPT_BASE = 2_000_000
LOINC_CONCEPT_BASE = 3_000_000
STATUSES = ["Validé", "Discontinué", "Disponible", "Attendu", "Confirmé", "Initial"]
STATUS_WEIGHTS = np.array([0.93, 0.015, 0.015, 0.01, 0.02, 0.01])
UNITS = sorted({t[4] for t in TESTS} | {p[4] for p in PHYSIO} | {"mg/dL"})
MEAN_RESULTS = {"hc": 5.0, "hcu": 5.0, "urg": 1.2, "amb": 0.4, "seance": 0.8, "ssr": 2.0, "psy": 1.0, "cons": 0.0}

# Growth (age in years -> median weight kg / height cm) for children; adults by sex.
CHILD_AGE = np.array([0, 1, 2, 5, 10, 15, 18])
CHILD_WEIGHT = np.array([3.5, 10, 12.5, 18.5, 32, 55, 65])
CHILD_HEIGHT = np.array([50, 75, 87, 110, 138, 168, 172])


def concepts() -> tuple[Table, Table]:
    """``concept`` (local codes and LOINC) and ``concept_relationship`` (Maps to / Mapped from)."""
    local = [(t[0], t[1]) for t in TESTS] + [(p[0], p[1]) for p in PHYSIO]
    loinc = [(t[2], t[3]) for t in TESTS] + [(p[2], p[3]) for p in PHYSIO]
    n = len(local)
    local_ids = LOCAL_CONCEPT_BASE + np.arange(n, dtype=np.int64)
    loinc_ids = LOINC_CONCEPT_BASE + np.arange(n, dtype=np.int64)
    concept = {
        "concept_id": np.concatenate([local_ids, loinc_ids]),
        "concept_name": np.array([label for _, label in local + loinc], dtype=object),
        "vocabulary_id": np.array(["ITM - ANABIO"] * n + ["ITM - LOINC"] * n, dtype=object),
        "concept_code": np.array([code for code, _ in local + loinc], dtype=object),
    }
    relationship = {
        "concept_id_1": np.concatenate([local_ids, loinc_ids]),
        "concept_id_2": np.concatenate([loinc_ids, local_ids]),
        "relationship_id": np.array(["Maps to"] * n + ["Mapped from"] * n, dtype=object),
    }
    return concept, relationship


def _values(rng: np.random.Generator, test: np.ndarray) -> np.ndarray:
    low = np.array([t[5] for t in TESTS])[test]
    high = np.array([t[6] for t in TESTS])[test]
    centre, spread = (low + high) / 2, (high - low) / 4
    value = rng.normal(centre, spread)
    abnormal = rng.random(len(test)) < 0.15
    value = np.where(abnormal, value * rng.choice([0.7, 1.6, 2.5], len(test)), value)
    decimals = np.array([t[7] for t in TESTS])[test]
    scale = 10.0**decimals
    return np.maximum(np.round(value * scale) / scale, 0.0)


def _physio(rng: np.random.Generator, age: np.ndarray, sex: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Plausible weight (kg) and height (cm) for an age and sex."""
    n = len(age)
    adult_weight = np.where(sex == 0, 80.0, 66.0) * rng.lognormal(0, 0.17, n)
    adult_height = np.where(sex == 0, 176.0, 163.0) + rng.normal(0, 7, n)
    child_weight = np.interp(age, CHILD_AGE, CHILD_WEIGHT) * rng.lognormal(0, 0.12, n)
    child_height = np.interp(age, CHILD_AGE, CHILD_HEIGHT) + rng.normal(0, 4, n)
    weight = np.where(age >= 18, adult_weight, child_weight)
    height = np.where(age >= 18, adult_height, child_height)
    return np.round(weight, 1), np.round(height)


def measurements(rng: np.random.Generator, stays: Stays, ids: dict[str, np.ndarray], age: np.ndarray, sex: np.ndarray, now: int, first_id: int) -> Table:
    """``measurement``: lab results within each stay, weight and height at admission of full stays."""
    means = np.array([MEAN_RESULTS[kind] for kind in KINDS])
    count = rng.poisson(means[stays.kind])
    owner, _ = group_positions(count)
    test = choice(rng, len(owner), np.array([t[8] for t in TESTS]))
    full = np.flatnonzero(np.isin(stays.kind, [KIND["hc"], KIND["hcu"]]) & (rng.random(len(stays)) < 0.85))
    stay = np.concatenate([owner, full, full])
    kind = np.concatenate([test, np.full(len(full), WEIGHT), np.full(len(full), HEIGHT)])
    end = np.where(stays.end == NAT, now, stays.end)[stay]
    start = stays.start[stay]
    offset = np.where(kind >= WEIGHT, np.minimum(rng.integers(1, 6, len(stay)) * HOUR, (end - start) // 2), (end - start) * rng.random(len(stay)))
    when = start + offset.astype(np.int64) // 60 * 60
    weight, height = _physio(rng, age[stay], sex[stay])
    value = np.select([kind == WEIGHT, kind == HEIGHT], [weight, height], 0.0)
    lab = kind < WEIGHT
    value[lab] = _values(rng, kind[lab])
    order = np.lexsort((kind, when, stay))
    stay, kind, when, value = stay[order], kind[order], when[order], value[order]
    unit_of = np.array([UNITS.index(t[4]) for t in TESTS] + [UNITS.index(p[4]) for p in PHYSIO])
    low = np.array([t[5] for t in TESTS] + [np.nan, np.nan])[kind]
    high = np.array([t[6] for t in TESTS] + [np.nan, np.nan])[kind]
    n = len(stay)
    return {
        "measurement_id": first_id + np.arange(n, dtype=np.int64),
        "person_id": ids["person"][stay],
        "visit_occurrence_id": ids["stay"][stay],
        "measurement_source_concept_id": LOCAL_CONCEPT_BASE + kind.astype(np.int64),
        "measurement_datetime": timestamps(when),
        "value_as_number": value,
        "unit_source_value": Cat.of(unit_of[kind], UNITS),
        "range_low": low,
        "range_high": high,
        "row_status_source_value": Cat.of(choice(rng, n, STATUS_WEIGHTS), STATUSES),
    }


def value_text(values: np.ndarray) -> pa.Array:
    """``value_source_value``: the value as the lab sent it (text), computed once values are final."""
    return pc.cast(pa.array(values), pa.string())
