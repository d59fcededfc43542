"""PMSI coding: diagnoses (CIM-10), acts (CCAM) and the GHM of each stay.

Diagnoses and acts are coded on the RUM of the discharge unit, first in ORBIS
(as physicians code, immediately) and, for the stays discharged long enough
before the extraction, again in AREM (the DIM-validated PMSI, 1–2 months later:
the ``arem_lag`` pattern). A GHM is derived from the profile's root and the
stay's length: 0 night gives severity J (surgical/interventional) or T
(medical), CMD 28 séances end in Z, longer stays get levels 1–4 and some deaths
E; the synthetic reference lengths (``ghm_reference_dms``) follow the same rule.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench.demo.common import DAY, NAT, Cat, Table, group_positions, timestamps
from workbench.demo.movements import Segments
from workbench.demo.profiles import KIND, Compiled
from workbench.demo.stays import M9, Stays

STATUS = ["DP", "DR", "DAS"]
SOURCES = ["ORBIS", "AREM"]
CODED = [KIND[k] for k in ("hc", "hcu", "amb", "seance", "ssr", "psy", "urg")]
GROUPED = [KIND[k] for k in ("hc", "hcu", "amb", "seance")]
SEVERITIES = ["1", "2", "3", "4", "J", "T", "Z", "E"]
SEVERITY_FACTOR = {"1": 0.7, "2": 1.2, "3": 1.9, "4": 3.0, "J": 0.0, "T": 0.0, "Z": 0.0, "E": 1.0}
AREM_LAG_DAYS = (30, 75)
#: Codes that look like CIM-10 / CCAM / UCD but are not in the nomenclatures (checked at compile time).
INVALID_CIM10 = ["A999", "E1199", "K9999", "I999", "J999", "U999"]
INVALID_CCAM = ["ZZZZ999", "AAFA999", "HHFA999", "QZZZ000"]


@dataclass
class Coding:
    """Per-stay codes the notes reuse (indices into the CIM-10 codable list, -1 none)."""

    dp: np.ndarray
    dr: np.ndarray
    das: np.ndarray


def arem_available(rng: np.random.Generator, stays: Stays, now: int) -> np.ndarray:
    """Whether a stay's AREM coding has arrived by the extraction date."""
    lag = rng.integers(AREM_LAG_DAYS[0], AREM_LAG_DAYS[1] + 1, len(stays)) * DAY
    coded = np.isin(stays.kind, CODED) & (stays.kind != KIND["urg"])
    return coded & (stays.end != NAT) & (stays.end <= now - lag)


def _per_stay(rng: np.random.Generator, stays: Stays, profiles: Compiled, age: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(stay, code, status) of every diagnosis, plus the first DAS per stay."""
    coded = np.flatnonzero(np.isin(stays.kind, CODED))
    profile = stays.profile[coded]
    dp = profiles.dp.draw(rng, profile)
    dr = profiles.dr.draw(rng, profile)
    adult = (age[coded] >= 30) & (stays.kind[coded] != KIND["urg"])
    n_das = np.where(adult, rng.poisson(0.3 + 0.025 * np.maximum(age[coded] - 30, 0)), 0).clip(0, 6)
    n_das += (profiles.das.sizes[profile] > 0) & (rng.random(len(coded)) < 0.5) & (stays.kind[coded] != KIND["urg"])
    owner, position = group_positions(n_das)
    specific = profiles.das.draw(rng, profile[owner])
    common = profiles.comorbidity.draw(rng, np.zeros(len(owner), dtype=np.int64))
    das = np.where((position == 0) & (specific >= 0) & (rng.random(len(owner)) < 0.6), specific, common)
    has_dr = dr >= 0
    stay = np.concatenate([coded, coded[has_dr], coded[owner]])
    code = np.concatenate([dp, dr[has_dr], das])
    status = np.concatenate([np.zeros(len(coded)), np.ones(has_dr.sum()), np.full(len(owner), 2)]).astype(np.int32)
    first_das = np.full(len(stays), -1)
    first_das[coded[owner[position == 0]]] = das[position == 0]
    return stay, code, status, first_das


def conditions(rng: np.random.Generator, stays: Stays, ids: dict[str, np.ndarray], coding_row: np.ndarray, age: np.ndarray,
               arem: np.ndarray, profiles: Compiled, first_id: int) -> tuple[Table, Coding]:
    """``condition_occurrence`` rows (ORBIS, plus AREM where arrived) and the per-stay coding."""
    stay, code, status, first_das = _per_stay(rng, stays, profiles, age)
    order = np.lexsort((status, stay))
    stay, code, status = stay[order], code[order], status[order]
    copy = arem[stay]
    stay = np.concatenate([stay, stay[copy]])
    source = np.concatenate([np.zeros(len(code)), np.ones(copy.sum())]).astype(np.int32)
    code, status = np.concatenate([code, code[copy]]), np.concatenate([status, status[copy]])
    dp = np.full(len(stays), -1)
    dp[stay[status == 0]] = code[status == 0]
    dr = np.full(len(stays), -1)
    dr[stay[status == 1]] = code[status == 1]
    n = len(stay)
    table = {
        "condition_occurrence_id": first_id + np.arange(n, dtype=np.int64),
        "person_id": ids["person"][stay],
        "visit_occurrence_id": ids["stay"][stay],
        "visit_detail_id": coding_row[stay],
        "condition_start_datetime": timestamps(stays.start[stay]),
        "condition_source_value": Cat.of(code, np.concatenate([profiles.cim10_codes, INVALID_CIM10])),
        "condition_status_source_value": Cat.of(status, STATUS),
        "cdm_source": Cat.of(source, SOURCES),
        "row_status_source_value": Cat.of(np.zeros(n, dtype=np.int32), ["courant", "supprimé"]),
    }
    return table, Coding(dp, dr, first_das)


def procedures(rng: np.random.Generator, stays: Stays, ids: dict[str, np.ndarray], coding_row: np.ndarray, discharge_unit: Segments,
               sex: np.ndarray, arem: np.ndarray, profiles: Compiled, now: int, first_id: int) -> Table:
    """``procedure_occurrence`` rows: CCAM acts of the profile, compatible with the patient's sex."""
    coded = np.flatnonzero(np.isin(stays.kind, CODED))
    count = rng.poisson(profiles.ccam_mean[stays.profile[coded]])
    owner, _ = group_positions(count)
    stay = coded[owner]
    code = profiles.ccam.draw(rng, stays.profile[stay] * 2 + sex[stay])
    stay, code = stay[code >= 0], code[code >= 0]
    start = discharge_unit.start[stay]
    end = np.where(discharge_unit.end[stay] == NAT, now, discharge_unit.end[stay])
    when = start + ((end - start) * rng.random(len(stay))).astype(np.int64) // 60 * 60
    copy = arem[stay]
    stay, code, when = (np.concatenate([a, a[copy]]) for a in (stay, code, when))
    source = np.concatenate([np.zeros(len(copy)), np.ones(copy.sum())]).astype(np.int32)
    n = len(stay)
    return {
        "procedure_occurrence_id": first_id + np.arange(n, dtype=np.int64),
        "person_id": ids["person"][stay],
        "visit_occurrence_id": ids["stay"][stay],
        "visit_detail_id": coding_row[stay],
        "procedure_source_value": Cat.of(code, np.concatenate([profiles.ccam_codes, INVALID_CCAM])),
        "procedure_datetime": timestamps(when),
        "cdm_source": Cat.of(source, SOURCES),
        "row_status_source_value": Cat.of(np.zeros(n, dtype=np.int32), ["courant", "supprimé"]),
    }


def ghm_labels(profiles: Compiled) -> np.ndarray:
    """Every GHM the generator can produce: profile root x severity (index = profile * 8 + severity)."""
    return np.array([root + severity for root in profiles.ghm_root for severity in SEVERITIES], dtype=object)


def cost(rng: np.random.Generator, stays: Stays, ids: dict[str, np.ndarray], age: np.ndarray, profiles: Compiled, first_id: int) -> Table:
    """``cost``: one GHM per closed MCO hospitalisation stay."""
    grouped = np.flatnonzero(np.isin(stays.kind, GROUPED) & (stays.end != NAT) & (profiles.ghm_root[stays.profile] != ""))
    profile = stays.profile[grouped]
    nights = (stays.end[grouped] // DAY - stays.start[grouped] // DAY).clip(0)
    root_type = np.array([root[2] if root else "" for root in profiles.ghm_root])  # one per profile
    ghm_type = root_type[profile]
    level = (1 + (nights >= 5) + (nights >= 10) + (nights >= 20) + ((age[grouped] >= 80) & (rng.random(len(grouped)) < 0.3))).clip(1, 4) - 1
    died = (stays.discharge[grouped] == M9) & (rng.random(len(grouped)) < 0.4)
    zero_night = np.where(ghm_type == "Z", 6, np.where(np.isin(ghm_type, ["C", "K"]), 4, 5))
    severity = np.where(stays.kind[grouped] == KIND["seance"], 6, np.where(nights == 0, zero_night, np.where(died, 7, level)))
    year = stays.end[grouped].astype("datetime64[s]").astype("datetime64[Y]").astype(np.int64) + 1970
    versions = [f"V{y}" for y in range(2018, 2031)]
    return {
        "cost_id": first_id + np.arange(len(grouped), dtype=np.int64),
        "visit_occurrence_id": ids["stay"][grouped],
        "drg_source_value": Cat.of(profile * len(SEVERITIES) + severity, ghm_labels(profiles)),
        "ghm_version": Cat.of(np.clip(year - 2018, 0, len(versions) - 1), versions),
    }


def reference_dms(profiles: Compiled) -> Table:
    """Synthetic reference length per GHM: the mean nights of the profiles sharing its root, by severity."""
    roots = sorted({root for root in profiles.ghm_root if root})
    ghm, dms = [], []
    for root in roots:
        nights = [n for r, n in zip(profiles.ghm_root, profiles.nights) if r == root and n > 0]
        base = float(np.mean(nights)) if nights else 0.0
        for severity in SEVERITIES:
            ghm.append(root + severity)
            dms.append(round(base * SEVERITY_FACTOR[severity], 2))
    return {"ghm": np.array(ghm, dtype=object), "reference_dms": np.array(dms), "source": np.full(len(ghm), "synthétique, cohérent avec le générateur", dtype=object)}
