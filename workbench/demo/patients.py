"""Patients: a French hospital population (age/sex pyramid), their identities and home hospital.

Identities (names, birth place) are synthetic, drawn from lists of common
French names; the duplicate-identity flaw is injected here because a duplicate
is a second record of the same human, so it must share age and sex before any
stay is generated for it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from workbench.demo.common import DAY, Cat, Table, dates, timestamps
from workbench.demo.flaws import FlawLog

YEAR = 365.25 * DAY
# Age at extraction: band edges and share of the hospital population (older than the general one).
AGE_EDGES = np.array([0, 1, 5, 15, 25, 35, 45, 55, 65, 75, 85, 100])
AGE_SHARES = np.array([0.035, 0.035, 0.06, 0.08, 0.11, 0.105, 0.115, 0.13, 0.135, 0.12, 0.075])
FEMALE_SHARE = 0.53

FAMILY_NAMES = [
    "Martin", "Bernard", "Thomas", "Petit", "Robert", "Richard", "Durand", "Dubois", "Moreau", "Laurent",
    "Simon", "Michel", "Lefebvre", "Leroy", "Roux", "David", "Bertrand", "Morel", "Fournier", "Girard",
    "Bonnet", "Dupont", "Lambert", "Fontaine", "Rousseau", "Vincent", "Muller", "Lefèvre", "Faure", "André",
    "Mercier", "Blanc", "Guérin", "Boyer", "Garnier", "Chevalier", "François", "Legrand", "Gauthier", "Garcia",
    "Perrin", "Robin", "Clément", "Morin", "Nicolas", "Henry", "Roussel", "Mathieu", "Gautier", "Masson",
    "Marchand", "Duval", "Denis", "Dumont", "Marie", "Lemaire", "Noël", "Meyer", "Dufour", "Meunier",
    "Brun", "Blanchard", "Giraud", "Joly", "Rivière", "Lucas", "Brunet", "Gaillard", "Barbier", "Arnaud",
    "Martinez", "Gérard", "Roche", "Renard", "Schmitt", "Roy", "Leroux", "Colin", "Vidal", "Caron",
    "Benali", "Nguyen", "Diallo", "Traoré", "Haddad", "Mendes", "Da Silva", "Cohen", "Benoit", "Lopez",
]
GIVEN_NAMES = {
    0: ["Jean", "Pierre", "Michel", "André", "Philippe", "Alain", "Nicolas", "Christophe", "Patrick", "Daniel",
        "Thomas", "Julien", "David", "Stéphane", "Éric", "Laurent", "Frédéric", "Sébastien", "Lucas", "Hugo",
        "Louis", "Gabriel", "Léo", "Arthur", "Mohamed", "Karim", "Antoine", "Maxime", "Paul", "Jacques"],
    1: ["Marie", "Nathalie", "Isabelle", "Sylvie", "Catherine", "Françoise", "Valérie", "Christine", "Monique", "Sandrine",
        "Julie", "Céline", "Sophie", "Aurélie", "Camille", "Emma", "Léa", "Chloé", "Manon", "Jade",
        "Louise", "Alice", "Inès", "Fatima", "Aïcha", "Anne", "Jeanne", "Hélène", "Martine", "Claire"],
}
# Birth departments (Île-de-France heavy) and their weights.
DEPARTMENTS = np.array(["75", "92", "93", "94", "91", "95", "77", "78", "59", "69", "13", "33", "99"])
DEPARTMENT_WEIGHTS = np.array([0.2, 0.09, 0.1, 0.09, 0.06, 0.06, 0.06, 0.05, 0.05, 0.04, 0.04, 0.03, 0.13])


@dataclass
class Patients:
    person_id: np.ndarray
    sex: np.ndarray  # 0 = M, 1 = F
    birth: np.ndarray  # seconds
    home: np.ndarray  # hospital index
    family: np.ndarray
    given: np.ndarray
    postcode: pa.Array
    duplicates: np.ndarray  # positions flagged duplicate_identity

    def __len__(self) -> int:
        return len(self.person_id)


def _postcodes(rng: np.random.Generator, n: int) -> pa.Array:
    department = rng.choice(len(DEPARTMENTS), size=n, p=DEPARTMENT_WEIGHTS / DEPARTMENT_WEIGHTS.sum())
    commune = pa.array((rng.integers(0, 100, n) * 10).astype(np.int64))
    padded = pc.utf8_lpad(pc.cast(commune, pa.string()), 3, "0")
    return pc.binary_join_element_wise(pa.array(DEPARTMENTS[department]), padded, "")


def generate(rng: np.random.Generator, n: int, first_id: int, now: int, hospital_weights: np.ndarray, flaws: FlawLog) -> Patients:
    """Draw ``n`` patients; ids start at ``first_id``."""
    band = rng.choice(len(AGE_SHARES), size=n, p=AGE_SHARES / AGE_SHARES.sum())
    age = AGE_EDGES[band] + rng.random(n) * (AGE_EDGES[band + 1] - AGE_EDGES[band])
    birth = (now - age * YEAR).astype(np.int64) // DAY * DAY + rng.integers(0, 24, n) * 3600
    sex = (rng.random(n) < FEMALE_SHARE).astype(np.int8)
    family = rng.integers(0, len(FAMILY_NAMES), n)
    given = rng.integers(0, 30, n)
    postcode = _postcodes(rng, n)
    duplicates = flaws.pick(rng, "duplicate_identity", np.ones(n, dtype=bool)) if n > 1 else np.array([], dtype=np.int64)
    # Originals are drawn among patients that are not duplicates themselves, so each copy has a twin.
    singles = np.setdiff1d(np.arange(n), duplicates)
    original = singles[rng.integers(0, len(singles), len(duplicates))]
    for column in (sex, birth, family, given):
        column[duplicates] = column[original]
    source = np.arange(n)
    source[duplicates] = original
    postcode = pc.take(postcode, pa.array(source))
    home = rng.choice(len(hospital_weights), size=n, p=hospital_weights)
    person_id = first_id + np.arange(n, dtype=np.int64)
    flaws.record("duplicate_identity", person_id[duplicates])
    return Patients(person_id, sex, birth, home, family, given, postcode, duplicates)


def identity_table(patients: Patients) -> Table:
    """``person_identity``: nominative identity as the identity server holds it."""
    given_labels = np.array(GIVEN_NAMES[0] + GIVEN_NAMES[1], dtype=object)
    return {
        "person_id": patients.person_id,
        "family_name": Cat.of(patients.family, FAMILY_NAMES),
        "given_name": Cat.of(patients.given + 30 * patients.sex, given_labels),
        "birth_date": dates(patients.birth),
        "sex": Cat.of(patients.sex, ["M", "F"]),
        "birth_postcode": patients.postcode,
    }


def person_table(patients: Patients, death: np.ndarray) -> Table:
    """``person`` before flaws: sex m/f, birth and death datetimes."""
    return {
        "person_id": patients.person_id,
        "gender_source_value": Cat.of(patients.sex, ["m", "f", "male", "F", ""]),
        "birth_datetime": timestamps(patients.birth.copy()),
        "death_datetime": timestamps(death),
        "location_id": patients.person_id + 5_000_000,
        "cdm_source": Cat.of(np.zeros(len(patients), dtype=np.int32), ["ORBIS"]),
    }
