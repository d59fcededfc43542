"""Value flaws injected into finished chunk tables (see :mod:`workbench.demo.flaws` for the manifest).

Structural flaws (feeds, year-end split, visits after death) are made by the
stay generator; everything here edits values of existing rows, records their
primary keys and reserves them so that no row carries two flaws. Children
(movements, results) are only made wrong in stays that carry no flaw
themselves, so each flaw stays attributable to one rule.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from workbench.demo.biology import CREATININE, HEIGHT, LOCAL_CONCEPT_BASE, UNITS, WEIGHT
from workbench.demo.common import DAY, HOUR, NAT, Cat, Table, epoch_seconds
from workbench.demo.flaws import FlawLog
from workbench.demo.movements import PASS_UF
from workbench.demo.patients import Patients
from workbench.demo.drugs import INVALID_UCD
from workbench.demo.pmsi import INVALID_CCAM, INVALID_CIM10
from workbench.demo.profiles import KIND
from workbench.demo.stays import Stays

LEGACY_BEFORE = epoch_seconds(date(2019, 1, 1))
OLDEST_IMPLAUSIBLE = epoch_seconds(date(1850, 1, 1))
SEX_NOISE = {0: [2, 4], 1: [3, 4]}  # m -> 'male' or blank, f -> 'F' or blank


def _seconds(column: np.ndarray) -> np.ndarray:
    """Writable int64 view of a datetime64[s] column."""
    return column.view(np.int64)


def person(rng: np.random.Generator, table: Table, patients: Patients, first_start: np.ndarray, measured: np.ndarray, now: int,
           flaws: FlawLog) -> None:
    """sex_noise, birth_date_missing, birth_date_implausible on ``person``.

    An implausible birth date would make the patient's weight and height look
    implausible for the age too, so it only goes to patients never weighed or measured.
    """
    n = len(patients)
    flaws.mark("person", patients.duplicates, n)
    everyone = np.ones(n, dtype=bool)
    noisy = flaws.pick(rng, "sex_noise", everyone)
    gender = table["gender_source_value"]
    choices = np.where(patients.sex[noisy] == 0, 2, 3)
    gender.codes[noisy] = np.where(rng.random(len(noisy)) < 0.7, choices, 4)
    birth = _seconds(table["birth_datetime"])
    missing = flaws.pick(rng, "birth_date_missing", everyone)
    birth[missing] = NAT
    implausible = flaws.pick(rng, "birth_date_implausible", ~measured & (first_start != NAT) & (first_start < now - DAY))
    too_old = rng.random(len(implausible)) < 0.5
    old = OLDEST_IMPLAUSIBLE + rng.integers(0, 49 * 365, len(implausible)) * DAY
    late = np.minimum(first_start[implausible] + rng.integers(1, 400, len(implausible)) * DAY, now - HOUR)
    birth[implausible] = np.where(too_old, old, late)
    for flaw_id, rows in (("sex_noise", noisy), ("birth_date_missing", missing), ("birth_date_implausible", implausible)):
        flaws.record(flaw_id, patients.person_id[rows])


def nda(stays: Stays, stay_ids: np.ndarray, hospital_codes: list[str]) -> pa.Array:
    """Administrative file number: hospital code, 2-digit year, 8-digit sequence."""
    year = (stays.start.astype("datetime64[s]").astype("datetime64[Y]").astype(np.int64) + 1970) % 100
    parts = [
        pc.take(pa.array(hospital_codes), pa.array(stays.hospital)),
        pc.utf8_lpad(pc.cast(pa.array(year), pa.string()), 2, "0"),
        pc.utf8_lpad(pc.cast(pa.array(stay_ids), pa.string()), 8, "0"),
    ]
    return pc.binary_join_element_wise(*parts, "")


def visits(rng: np.random.Generator, table: Table, stays: Stays, now: int, flaws: FlawLog) -> np.ndarray:
    """Stay flaws on ``visit_occurrence``; returns the mask of stays that carry one."""
    n = len(stays)
    ids = table["visit_occurrence_id"]
    for flaw_id, rows in (("year_end_split", np.flatnonzero(stays.split > 0)), ("event_after_death", np.flatnonzero(stays.after_death))):
        flaws.mark("visit_occurrence", rows, n)
        flaws.record(flaw_id, ids[rows])
    closed = stays.end != NAT
    end = _seconds(table["visit_end_datetime"])
    before = flaws.pick(rng, "stay_end_before_start", closed)
    end[before] = stays.start[before] - rng.integers(1, 48, len(before)) * HOUR
    has_later = np.append(stays.person[1:] == stays.person[:-1], False)
    old_open = flaws.pick(rng, "stay_end_missing_old", closed & has_later & (stays.start < now - 90 * DAY) & (stays.kind != KIND["cons"]))
    end[old_open] = NAT
    table["discharge_to_source_value"].codes[old_open] = -1
    table["destination_source_value"].codes[old_open] = -1
    legacy = flaws.pick(rng, "legacy_visit_id", stays.start < LEGACY_BEFORE)
    is_legacy = np.zeros(n, dtype=bool)
    is_legacy[legacy] = True
    old_format = pc.binary_join_element_wise("GLD", pc.utf8_lpad(pc.cast(pa.array(ids), pa.string()), 9, "0"), "")
    table["visit_occurrence_source_value"] = pc.if_else(pa.array(is_legacy), old_format, table["visit_occurrence_source_value"])
    deleted = flaws.pick(rng, "soft_deleted", np.ones(n, dtype=bool))
    table["row_status_source_value"].codes[deleted] = 1
    delete_at = _seconds(table["delete_datetime"])
    delete_at[deleted] = np.minimum(stays.start[deleted] + rng.integers(1, 60, len(deleted)) * DAY, now - DAY)
    for flaw_id, rows in (("stay_end_before_start", before), ("stay_end_missing_old", old_open), ("legacy_visit_id", legacy), ("soft_deleted", deleted)):
        flaws.record(flaw_id, ids[rows])
    return flaws.taken("visit_occurrence", n).copy()


def movements(rng: np.random.Generator, table: Table, stay_of_row: np.ndarray, stays: Stays, flawed: np.ndarray, flaws: FlawLog) -> None:
    """movement_outside_stay: a UF passage of a clean closed stay moved after the stay's end."""
    clean = ~flawed[stay_of_row] & (stays.end[stay_of_row] != NAT)
    rows = flaws.pick(rng, "movement_outside_stay", clean & (table["visit_detail_type_source_value"].codes == PASS_UF))
    start, end = _seconds(table["visit_detail_start_datetime"]), _seconds(table["visit_detail_end_datetime"])
    shift = stays.end[stay_of_row[rows]] - start[rows] + rng.integers(1, 10, len(rows)) * DAY
    start[rows] += shift
    end[rows] += shift
    flaws.record("movement_outside_stay", table["visit_detail_id"][rows])


def measurements(rng: np.random.Generator, table: Table, stay_of_row: np.ndarray, stays: Stays, flawed: np.ndarray, adult: np.ndarray, flaws: FlawLog) -> None:
    """measurement_outside_stay, biology_wrong_unit, weight_implausible, height_implausible."""
    concept = table["measurement_source_concept_id"] - LOCAL_CONCEPT_BASE
    clean = ~flawed[stay_of_row] & (stays.end[stay_of_row] != NAT)
    when = _seconds(table["measurement_datetime"])
    outside = flaws.pick(rng, "measurement_outside_stay", clean)
    when[outside] = stays.start[stay_of_row[outside]] - rng.integers(2, 60, len(outside)) * DAY
    value = table["value_as_number"]
    wrong_unit = flaws.pick(rng, "biology_wrong_unit", concept == CREATININE)
    value[wrong_unit] = np.round(value[wrong_unit] / 88.4, 2)
    table["range_low"][wrong_unit] = np.round(table["range_low"][wrong_unit] / 88.4, 2)
    table["range_high"][wrong_unit] = np.round(table["range_high"][wrong_unit] / 88.4, 2)
    table["unit_source_value"].codes[wrong_unit] = UNITS.index("mg/dL")
    heavy = flaws.pick(rng, "weight_implausible", (concept == WEIGHT) & adult)
    value[heavy] = np.round(value[heavy] * 10, 1)
    tiny = flaws.pick(rng, "height_implausible", (concept == HEIGHT) & adult)
    value[tiny] = rng.integers(25, 41, len(tiny)).astype(float)
    ids = table["measurement_id"]
    for flaw_id, rows in (("measurement_outside_stay", outside), ("biology_wrong_unit", wrong_unit), ("weight_implausible", heavy), ("height_implausible", tiny)):
        flaws.record(flaw_id, ids[rows])


def unknown_code(rng: np.random.Generator, flaw_id: str, table: Table, id_column: str, code_column: str, n_valid: int, n_invalid: int, flaws: FlawLog) -> None:
    """Replace a share of codes by codes that do not exist (stored after the valid labels of the Cat)."""
    codes: Cat = table[code_column]
    rows = flaws.pick(rng, flaw_id, np.ones(len(codes), dtype=bool))
    codes.codes[rows] = n_valid + rng.integers(0, n_invalid, len(rows))
    flaws.record(flaw_id, table[id_column][rows])


INVALID = {"unknown_cim10": INVALID_CIM10, "unknown_ccam": INVALID_CCAM, "unknown_ucd": INVALID_UCD}
