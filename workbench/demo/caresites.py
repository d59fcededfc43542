"""The care-site tree: AP-HP > hospitals > poles (DMU) > services > UF > UH/UC.

Every hospital gets the same template of services (a real group's hospitals do
not, but a uniform template keeps every clinical role available everywhere, so
stays never need a fallback). UF carry their PMSI unit type in
``place_of_service_source_value`` (the abbreviated label of
``mco_unit_types.json.gz``; urgences, consultations, SSR and psychiatry units
are not MCO medical units and carry a plain label). Hospital codes are 3 digits
and only 014 = Ambroise-Paré is a real correspondence; the rest are synthetic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench.demo.common import Cat, Table

RELATIONSHIP_IS_PART_OF = 46233688
DOMAIN_CARE_SITE = 57

HOSPITALS: list[tuple[str, str, str, float]] = [
    ("014", "Hôpital Ambroise-Paré", "APR", 0.13),
    ("028", "Hôpital Bicêtre", "BCT", 0.16),
    ("033", "Hôpital Henri-Mondor", "HMN", 0.17),
    ("047", "Hôpital Pitié-Salpêtrière", "PSL", 0.24),
    ("068", "Hôpital Saint-Antoine", "SAT", 0.14),
    ("076", "Hôpital Lariboisière", "LRB", 0.16),
]

# (pole, service, UF role, UF label, unit type code or plain place label, sub-units kind, count)
# Roles are what stays ask for; the unit type code is looked up in the vocabulary.
TEMPLATE: list[tuple[str, str, str, str, str, str, int]] = [
    ("Urgences – Réanimation", "Urgences", "URG", "Accueil des urgences", "URGENCES", "UH", 1),
    ("Urgences – Réanimation", "Urgences", "UHCD", "UHCD", "07A", "UH", 1),
    ("Urgences – Réanimation", "Réanimation médicale", "REA", "Réanimation médicale", "01A", "UH", 1),
    ("Urgences – Réanimation", "Réanimation médicale", "SC", "Surveillance continue", "03A", "UH", 1),
    ("Médecine", "Cardiologie", "USIC", "Soins intensifs cardiologiques", "02A", "UH", 1),
    ("Médecine", "Cardiologie", "CARDIO", "Cardiologie – hospitalisation", "29", "UH", 2),
    ("Médecine", "Cardiologie", "CONS", "Consultations de cardiologie", "CONSULTATIONS", "UC", 2),
    ("Médecine", "Médecine interne", "MEDINT", "Médecine interne – hospitalisation", "29", "UH", 2),
    ("Médecine", "Médecine interne", "HDJ", "Hôpital de jour de médecine", "29", "UH", 1),
    ("Médecine", "Pneumologie", "PNEUMO", "Pneumologie – hospitalisation", "29", "UH", 1),
    ("Médecine", "Gériatrie", "GERIA", "Médecine gériatrique", "27", "UH", 2),
    ("Médecine", "Néphrologie", "NEPHRO", "Néphrologie – hospitalisation", "29", "UH", 1),
    ("Médecine", "Néphrologie", "DIALYSE", "Hémodialyse en centre", "21", "UH", 1),
    ("Médecine", "Neurologie", "UNV", "Unité neurovasculaire – soins intensifs", "18", "UH", 1),
    ("Médecine", "Neurologie", "NEURO", "Neurologie – hospitalisation", "17", "UH", 1),
    ("Médecine", "Oncologie", "ONCO", "Oncologie médicale", "40", "UH", 1),
    ("Médecine", "Oncologie", "CHIMIO", "Chimiothérapie ambulatoire", "43", "UH", 1),
    ("Chirurgie", "Chirurgie digestive", "CHIR", "Chirurgie digestive", "52", "UH", 2),
    ("Chirurgie", "Orthopédie – traumatologie", "ORTHO", "Orthopédie – traumatologie", "52", "UH", 2),
    ("Chirurgie", "Chirurgie ambulatoire", "AMBU", "Unité de chirurgie ambulatoire", "52", "UH", 1),
    ("Chirurgie", "Chirurgie ambulatoire", "CONS_CHIR", "Consultations de chirurgie", "CONSULTATIONS", "UC", 2),
    ("Femme – Enfant", "Gynécologie-obstétrique", "OBST", "Maternité", "73", "UH", 2),
    ("Femme – Enfant", "Pédiatrie", "PEDIA", "Pédiatrie générale", "28", "UH", 1),
    ("Soins de suite – Psychiatrie", "Soins de suite et réadaptation", "SSR", "SSR polyvalent", "SSR", "UH", 2),
    ("Soins de suite – Psychiatrie", "Psychiatrie", "PSY", "Psychiatrie adulte", "PSYCHIATRIE", "UH", 1),
]

ROLES: list[str] = [row[2] for row in TEMPLATE]
ROLE = {role: index for index, role in enumerate(ROLES)}
#: Roles of units that hold beds (used for capacities).
BED_ROLES = [role for role in ROLES if role not in {"URG", "CONS", "CONS_CHIR"}]

LEVELS = ["AP-HP", "Hôpital", "Pôle/DMU", "Service/Département", "UF", "UH", "UC"]


@dataclass(frozen=True)
class CareSites:
    """The tree as tables plus lookup arrays the stay generator indexes into."""

    care_site: Table
    fact_relationship: Table
    hospital_ids: np.ndarray  # care_site_id per hospital index
    hospital_codes: list[str]
    hospital_weights: np.ndarray
    uf: np.ndarray  # (hospital, role) -> care_site_id of the UF
    sub_first: np.ndarray  # care_site_id -> first UH/UC id (0 if none)
    sub_count: np.ndarray  # care_site_id -> number of UH/UC


class _Builder:
    """Accumulates care-site rows with sequential ids."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, str, str, str, int, str, int]] = []  # id, code, name, short, level, place, parent

    def add(self, code: str, name: str, short: str, level: str, place: str, parent: int) -> int:
        care_site_id = len(self.rows) + 1
        self.rows.append((care_site_id, code, name, short, LEVELS.index(level), place, parent))
        return care_site_id


def _place_labels(unit_types: dict[str, str]) -> dict[str, str]:
    """Template unit codes -> place label (vocabulary short label for MCO unit types)."""
    return {row[4]: unit_types.get(row[4], row[4]) for row in TEMPLATE}


def build(unit_types: dict[str, str], valid_from: np.datetime64) -> CareSites:
    """Build the tree. ``unit_types`` maps PMSI unit code -> abbreviated label."""
    places = _place_labels(unit_types)
    builder = _Builder()
    root = builder.add("APHP", "Assistance Publique – Hôpitaux de Paris", "AP-HP", "AP-HP", "", 0)
    uf = np.zeros((len(HOSPITALS), len(ROLES)), dtype=np.int64)
    subs: list[tuple[int, int, int]] = []
    hospital_ids = []
    for h, (code, name, short, _weight) in enumerate(HOSPITALS):
        hospital = builder.add(code, name, short, "Hôpital", "", root)
        hospital_ids.append(hospital)
        poles: dict[str, int] = {}
        services: dict[str, int] = {}
        for r, (pole, service, role, label, unit, sub_kind, sub_n) in enumerate(TEMPLATE):
            if pole not in poles:
                poles[pole] = builder.add(f"{code}-P{len(poles) + 1}", f"Pôle {pole} ({short})", pole, "Pôle/DMU", "", hospital)
            if service not in services:
                services[service] = builder.add(
                    f"{code}-S{len(services) + 1:02d}", f"Service {service} ({short})", service, "Service/Département", "", poles[pole]
                )
            uf_code = f"{h + 1}{r + 1:03d}"
            uf[h, r] = builder.add(uf_code, f"{label} ({short})", label, "UF", places[unit], services[service])
            first = len(builder.rows) + 1
            for k in range(sub_n):
                sub_label = "Unité d'hébergement" if sub_kind == "UH" else "Unité de consultation"
                builder.add(f"{uf_code}{sub_kind}{k + 1}", f"{sub_label} {k + 1} – {label} ({short})", f"{sub_kind} {k + 1}", sub_kind, places[unit], uf[h, r])
            subs.append((int(uf[h, r]), first, sub_n))
    rows = builder.rows
    n = len(rows)
    sub_first = np.zeros(n + 1, dtype=np.int64)
    sub_count = np.zeros(n + 1, dtype=np.int64)
    for parent, first, count in subs:
        sub_first[parent], sub_count[parent] = first, count
    ids = np.array([row[0] for row in rows], dtype=np.int64)
    care_site = {
        "care_site_id": ids,
        "care_site_source_value": np.array([row[1] for row in rows], dtype=object),
        "care_site_name": np.array([row[2] for row in rows], dtype=object),
        "care_site_short_name": np.array([row[3] for row in rows], dtype=object),
        "care_site_type_source_value": Cat.of([row[4] for row in rows], LEVELS),
        "place_of_service_source_value": np.array([row[5] or None for row in rows], dtype=object),
        "valid_start_date": np.full(n, valid_from, dtype="datetime64[D]"),
        "valid_end_date": np.full(n, np.datetime64("NaT"), dtype="datetime64[D]"),
    }
    children = ids[1:]
    parents = np.array([row[6] for row in rows[1:]], dtype=np.int64)
    fact_relationship = {
        "domain_concept_id_1": np.full(n - 1, DOMAIN_CARE_SITE, dtype=np.int64),
        "fact_id_1": children,
        "domain_concept_id_2": np.full(n - 1, DOMAIN_CARE_SITE, dtype=np.int64),
        "fact_id_2": parents,
        "relationship_concept_id": np.full(n - 1, RELATIONSHIP_IS_PART_OF, dtype=np.int64),
    }
    weights = np.array([row[3] for row in HOSPITALS])
    return CareSites(
        care_site, fact_relationship, np.array(hospital_ids), [row[0] for row in HOSPITALS], weights / weights.sum(), uf, sub_first, sub_count
    )
