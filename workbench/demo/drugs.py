"""Drugs prescribed and administered (``drug_exposure_prescription`` / ``_administration``).

AP-HP keeps prescriptions and administrations apart. Drugs come from the UCD
referential (real UCD codes with their ATC class) under the profile's ATC
prefixes; each prescription is followed by one to four administrations within
its period. Route and dose unit follow the pharmaceutical form.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.demo.common import DAY, NAT, Cat, Table, group_positions, timestamps
from workbench.demo.profiles import KINDS, Compiled
from workbench.demo.stays import Stays

MEAN_PRESCRIPTIONS = {"hc": 2.5, "hcu": 3.0, "amb": 0.3, "seance": 1.2, "urg": 0.3, "cons": 0.0, "ssr": 1.0, "psy": 1.0}
ROUTES = ["ORALE", "INTRAVEINEUSE", "SOUS-CUTANEE", "AUTRE"]
DOSE_UNITS = ["comprimé", "gélule", "mL", "flacon", "unité"]
PRESCRIPTION_TYPES = ["hospitalière", "de sortie", "conditionnelle"]
INVALID_UCD = ["9999999", "0000000", "1234567"]


def _form_columns(ucd: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Route and dose unit index per UCD row, from its pharmaceutical form."""
    form = ucd["form"].to_numpy(dtype=str)
    oral = np.isin(form, ["COMPRIME", "GELULE", "CAPSULE MOLLE", "GRANULES", "GRANULE", "SUSPENSION"])
    injectable = np.isin(form, ["SOLUTION", "POUDRE", "LYOPHILISAT", "SOLVANT", "DISPERSION"])
    route = np.where(oral, 0, np.where(injectable, 1, 3))
    unit = np.select([form == "COMPRIME", form == "GELULE", form == "SOLUTION", form == "POUDRE"], [0, 1, 2, 3], 4)
    return route, unit


def _drug_columns(drug: np.ndarray, profiles: Compiled) -> dict[str, object]:
    ucd = profiles.ucd
    route, unit = _form_columns(ucd)
    n_ucd = len(ucd)
    return {
        "drug_source_value": Cat.of(drug, ucd["label"].to_numpy(dtype=object)),
        "drug_class_source_value": Cat.of(drug, ucd["atc"].to_numpy(dtype=object)),
        "drug_ucd_source_value": Cat.of(drug, np.concatenate([ucd["ucd"].to_numpy(dtype=object), INVALID_UCD])),
        "route_source_value": Cat.of(route[np.minimum(drug, n_ucd - 1)], ROUTES),
        "dose_unit_source_value": Cat.of(unit[np.minimum(drug, n_ucd - 1)], DOSE_UNITS),
    }


def generate(rng: np.random.Generator, stays: Stays, ids: dict[str, np.ndarray], profiles: Compiled, now: int,
             first_prescription: int, first_administration: int) -> tuple[Table, Table]:
    """Prescriptions within each stay, and their administrations."""
    means = np.array([MEAN_PRESCRIPTIONS[kind] for kind in KINDS])
    count = rng.poisson(means[stays.kind])
    stay, _ = group_positions(count)
    drug = profiles.drugs.draw(rng, stays.profile[stay])
    stay, drug = stay[drug >= 0], drug[drug >= 0]
    end_of_stay = np.where(stays.end == NAT, now - 60, stays.end)[stay]
    start = stays.start[stay] + ((end_of_stay - stays.start[stay]) * rng.random(len(stay)) * 0.5).astype(np.int64) // 60 * 60
    # One to five days, never beyond the end of the stay (or the extraction for a stay still open).
    end = np.maximum(np.minimum(start + rng.integers(1, 6, len(stay)) * DAY, end_of_stay), start)
    n = len(stay)
    prescriptions = {
        "drug_exposure_id": first_prescription + np.arange(n, dtype=np.int64),
        "person_id": ids["person"][stay],
        "visit_occurrence_id": ids["stay"][stay],
        **_drug_columns(drug, profiles),
        "quantity": rng.integers(1, 4, n).astype(float),
        "drug_exposure_start_datetime": timestamps(start),
        "drug_exposure_end_datetime": timestamps(end),
        "prescription_type_source_value": Cat.of(rng.choice(3, n, p=[0.85, 0.1, 0.05]), PRESCRIPTION_TYPES),
        "row_status_source_value": Cat.of(np.zeros(n, dtype=np.int32), ["courant", "supprimé"]),
    }
    given = rng.integers(1, 5, n)
    owner, position = group_positions(given)
    when = start[owner] + ((end[owner] - start[owner]) * position / given[owner]).astype(np.int64) // 60 * 60
    m = len(owner)
    administrations = {
        "drug_exposure_id": first_administration + np.arange(m, dtype=np.int64),
        "person_id": ids["person"][stay[owner]],
        "visit_occurrence_id": ids["stay"][stay[owner]],
        **_drug_columns(drug[owner], profiles),
        "quantity": prescriptions["quantity"][owner],
        "drug_exposure_start_datetime": timestamps(when),
        "drug_exposure_end_datetime": timestamps(np.maximum(np.minimum(when + 30 * 60, now - 60), when)),
        "row_status_source_value": Cat.of(np.zeros(m, dtype=np.int32), ["courant", "supprimé"]),
    }
    return prescriptions, administrations
