"""Small hand-written warehouses whose expected view contents the tests state by hand.

* `write_aphp(path)`: a DuckDB file in the AP-HP flavour (columns and types of
  `workbench/schema/aphp_tables.yaml`), a few rows per table.
* `write_omop_csv(folder, version)`: an OMOP 5.3 or 5.4 CSV export (one file per
  table), dates in the 22nd century and a negative person id, 5.3 with
  upper-case headers and date-only columns.

Comments on each row say what it exercises; the expected values in the tests
are derived from these rows by hand.
"""

from __future__ import annotations

import csv
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import yaml

SCHEMA = yaml.safe_load((Path(__file__).parents[2] / "workbench" / "schema" / "aphp_tables.yaml").read_text("utf-8"))
_SQL_TYPES = {"int64": "BIGINT", "string": "VARCHAR", "timestamp": "TIMESTAMP", "date": "DATE", "float64": "DOUBLE"}

D = datetime


def _cs(cid: int, code: str, kind: str, place: str | None = None) -> dict[str, Any]:
    return {"care_site_id": cid, "care_site_source_value": code, "care_site_name": f"Structure {code}",
            "care_site_type_source_value": kind, "place_of_service_source_value": place}


def _link(child: int, parent: int, relationship: int = 46233688) -> dict[str, Any]:
    return {"domain_concept_id_1": 57, "fact_id_1": child, "domain_concept_id_2": 57, "fact_id_2": parent,
            "relationship_concept_id": relationship}


def _visit(vid, pid, site, start, end, kind, field="MCO", prov=None, disch=None, status="courant", **extra):
    return {"visit_occurrence_id": vid, "person_id": pid, "care_site_id": site, "visit_start_datetime": start,
            "visit_end_datetime": end, "visit_source_value": kind, "stay_source_value": field,
            "provenance_source_value": prov, "discharge_to_source_value": disch, "row_status_source_value": status,
            "visit_occurrence_source_value": f"N{vid}", "cdm_source": "ORBIS", **extra}


def _detail(did, vid, site, start, kind, status="courant"):
    return {"visit_detail_id": did, "visit_occurrence_id": vid, "person_id": 1, "care_site_id": site,
            "visit_detail_start_datetime": start, "visit_detail_type_source_value": kind,
            "row_status_source_value": status}


APHP_ROWS: dict[str, list[dict[str, Any]]] = {
    "care_site": [
        _cs(1, "APHP", "AP-HP"), _cs(10, "014", "Hôpital"), _cs(11, "028", "Hôpital"),
        _cs(100, "P01", "Pôle/DMU"), _cs(1000, "S01", "Service/Département"),
        _cs(10000, "1001", "UF", "REA ADULTE"), _cs(10001, "1002", "UF"), _cs(100000, "UH1", "UH"),
        _cs(20000, "2001", "UF"),  # a UF hung directly under its hospital: pole/service stay null
        _cs(99, "XX", "Bizarre"),  # unknown level -> autre, no parent
    ],
    "fact_relationship": [
        _link(10, 1), _link(11, 1), _link(100, 10), _link(1000, 100), _link(10000, 1000), _link(10001, 1000),
        _link(100000, 10000), _link(20000, 11),
        _link(1, 10, relationship=46233689),  # another relationship: ignored
    ],
    "person": [
        {"person_id": 1, "gender_source_value": "m", "birth_datetime": D(1950, 6, 15)},
        {"person_id": 2, "gender_source_value": "F", "birth_datetime": D(1990, 1, 1), "death_datetime": D(2020, 3, 5, 11)},
        {"person_id": 3, "gender_source_value": "male", "birth_datetime": D(2010, 12, 31)},
        {"person_id": 4, "gender_source_value": " ", "birth_datetime": D(1930, 2, 1)},
        {"person_id": 5, "gender_source_value": None, "birth_datetime": None},
        {"person_id": 6, "gender_source_value": "f", "birth_datetime": D(2000, 5, 5)},
    ],
    "visit_occurrence": [
        _visit(101, 1, 10, D(2020, 1, 10, 8), D(2020, 1, 15, 10), "hospitalisés", prov="5", disch="8"),
        _visit(102, 2, 10, D(2020, 3, 1, 10), D(2020, 3, 5, 12), "hospitalisés", disch="9"),
        _visit(103, 3, 11, D(2020, 2, 1, 9), D(2020, 2, 1, 17), "hospitalisation incomplète"),
        _visit(104, 4, 11, D(2020, 2, 3, 9), D(2020, 2, 3, 18), "hospitalisation incomplète"),
        _visit(105, 1, 10, D(2020, 6, 1, 9), None, "hospitalisés", field="Psychiatrie"),
        _visit(106, 5, 10, D(2020, 4, 1, 23), D(2020, 4, 2, 2), "urgence"),
        _visit(107, 6, 10, D(2020, 5, 5, 10), D(2020, 5, 5, 11), "consultation externe", field=None),
        _visit(108, 6, 10, D(2020, 7, 10, 9), D(2020, 7, 8, 9), "hospitalisés", field="SSR"),  # ends before start
        _visit(109, 2, 10, D(2020, 9, 1, 9), D(2020, 9, 1, 9, 30), "téléconsultation", field="XYZ"),  # unknown codes
        _visit(110, 1, 10, D(2020, 10, 1), D(2020, 10, 3), "hospitalisés", status="supprimé"),  # soft-deleted
        _visit(111, 3, None, D(2020, 8, 1, 3), D(2020, 8, 1, 5), "urgence"),  # no hospital: taken from its UF
    ],
    "visit_detail": [
        _detail(1, 101, 10000, D(2020, 1, 10, 8), "PASS UF"),
        _detail(2, 101, 10001, D(2020, 1, 12, 8), "PASS UF"),  # last UF movement of 101
        _detail(3, 101, 100000, D(2020, 1, 13, 8), "PASS UH"),  # later, but a UH: not a UF movement
        _detail(4, 103, 20000, D(2020, 2, 1, 9), "RUM"),
        _detail(5, 111, 10000, D(2020, 8, 1, 3), "PASS UF"),
        _detail(6, 101, 10000, D(2020, 1, 14, 8), "PASS UF", status="supprimé"),  # latest but deleted
        _detail(7, 104, 20000, D(2020, 2, 3, 9), "PASS XX"),  # unknown movement type -> autre
    ],
    "cost": [
        {"cost_id": 1, "visit_occurrence_id": 101, "drg_source_value": "05C021", "ghm_version": "2020"},
        {"cost_id": 2, "visit_occurrence_id": 102, "drg_source_value": "04M053", "ghm_version": "2020"},
        {"cost_id": 3, "visit_occurrence_id": 103, "drg_source_value": "28Z07Z", "ghm_version": "2020"},
        {"cost_id": 4, "visit_occurrence_id": 104, "drg_source_value": "23M20T", "ghm_version": "2020"},
    ],
    "condition_occurrence": [
        {"condition_occurrence_id": 1, "person_id": 1, "visit_occurrence_id": 101, "condition_source_value": "E112",
         "condition_status_source_value": "DP", "cdm_source": "ORBIS", "condition_start_datetime": D(2020, 1, 10)},
        {"condition_occurrence_id": 2, "person_id": 1, "visit_occurrence_id": 101, "condition_source_value": "I10",
         "condition_status_source_value": "DAS", "cdm_source": "AREM", "condition_start_datetime": D(2020, 1, 10)},
        {"condition_occurrence_id": 3, "person_id": 2, "visit_occurrence_id": 102, "condition_source_value": "J189",
         "condition_status_source_value": "DR", "cdm_source": "ORBIS", "condition_start_datetime": D(2020, 3, 1)},
        {"condition_occurrence_id": 4, "person_id": 3, "visit_occurrence_id": 103, "condition_source_value": "Z511",
         "condition_status_source_value": "XX", "cdm_source": "OTHER", "condition_start_datetime": D(2020, 2, 1)},
        {"condition_occurrence_id": 5, "person_id": 2, "visit_occurrence_id": 102, "condition_source_value": "K35",
         "condition_status_source_value": "DP", "cdm_source": "ORBIS", "row_status_source_value": "supprimé"},
    ],
    "procedure_occurrence": [
        {"procedure_occurrence_id": 1, "person_id": 1, "visit_occurrence_id": 101, "procedure_source_value": "DZEA001",
         "cdm_source": "ORBIS", "procedure_datetime": D(2020, 1, 11)},
        {"procedure_occurrence_id": 2, "person_id": 3, "visit_occurrence_id": 103, "procedure_source_value": "ZZQX001",
         "cdm_source": "AREM", "row_status_source_value": "supprimé"},
    ],
    "concept": [
        {"concept_id": 1001, "concept_name": "Hémoglobine", "vocabulary_id": "ITM - ANABIO", "concept_code": "A0163"},
        {"concept_id": 2001, "concept_name": "Hemoglobin", "vocabulary_id": "ITM - LOINC", "concept_code": "718-7"},
        {"concept_id": 1002, "concept_name": "Poids", "vocabulary_id": "ITM - ANABIO", "concept_code": "P001"},
        {"concept_id": 2002, "concept_name": "Body weight", "vocabulary_id": "ITM - LOINC", "concept_code": "29463-7"},
        {"concept_id": 1003, "concept_name": "Sans correspondance", "vocabulary_id": "ITM - ANABIO", "concept_code": "A9999"},
    ],
    "concept_relationship": [
        {"concept_id_1": 1001, "concept_id_2": 2001, "relationship_id": "Maps to"},
        {"concept_id_1": 2001, "concept_id_2": 1001, "relationship_id": "Mapped from"},
        {"concept_id_1": 1002, "concept_id_2": 2002, "relationship_id": "Maps to"},
    ],
    "measurement": [
        {"measurement_id": 1, "person_id": 1, "visit_occurrence_id": 101, "measurement_source_concept_id": 1001,
         "measurement_datetime": D(2020, 1, 11, 7), "value_as_number": 13.5, "unit_source_value": "g/dl",
         "row_status_source_value": "Validé"},
        {"measurement_id": 2, "person_id": 1, "visit_occurrence_id": 101, "measurement_source_concept_id": 1002,
         "measurement_datetime": D(2020, 1, 10, 9), "value_as_number": 70.0, "unit_source_value": "kg",
         "row_status_source_value": "Validé"},
        {"measurement_id": 3, "person_id": 2, "visit_occurrence_id": 102, "measurement_source_concept_id": 1003,
         "measurement_datetime": D(2020, 3, 2, 7), "value_as_number": 1.0, "row_status_source_value": "Validé"},
        {"measurement_id": 4, "person_id": 2, "visit_occurrence_id": 102, "measurement_source_concept_id": 1001,
         "measurement_datetime": D(2020, 3, 2, 7), "value_as_number": 9.0, "row_status_source_value": "supprimé"},
    ],
    "drug_exposure_prescription": [
        {"drug_exposure_id": 1, "person_id": 1, "visit_occurrence_id": 101, "drug_ucd_source_value": "9000001",
         "drug_class_source_value": "N02BE01", "drug_exposure_start_datetime": D(2020, 1, 10, 12)},
        {"drug_exposure_id": 2, "person_id": 2, "visit_occurrence_id": 102, "drug_ucd_source_value": "9000002",
         "drug_exposure_start_datetime": D(2020, 3, 1, 12)},
    ],
    "drug_exposure_administration": [
        {"drug_exposure_id": 1, "person_id": 1, "visit_occurrence_id": 101, "drug_ucd_source_value": "9000001",
         "quantity": 2.0, "drug_exposure_start_datetime": D(2020, 1, 10, 14)},
        {"drug_exposure_id": 2, "person_id": 1, "visit_occurrence_id": 101, "row_status_source_value": "supprimé"},
    ],
    "note": [
        {"note_id": 1, "person_id": 1, "visit_occurrence_id": 101, "note_class_source_value": "CRH",
         "note_text": "Compte rendu", "note_datetime": D(2020, 1, 15)},
        {"note_id": 2, "person_id": 1, "visit_occurrence_id": 110, "note_class_source_value": "CRH",
         "row_status_source_value": "supprimé"},
    ],
    "_metadata": [
        {"extraction_date": date(2020, 12, 31), "generator": "tests", "seed": 0, "n_patients": 6,
         "snapshot_id": "fixture-snapshot", "created_at": D(2021, 1, 1)},
    ],
}


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def write_aphp(path: Path, rows: dict[str, list[dict[str, Any]]] | None = None) -> Path:
    """Write the AP-HP fixture (or `rows`) as a DuckDB file with the schema's exact columns and types."""
    rows = APHP_ROWS if rows is None else rows
    con = duckdb.connect(str(path))
    try:
        for table, records in rows.items():
            columns = SCHEMA[table]["columns"]
            ddl = ", ".join(f"{_quoted(c)} {_SQL_TYPES[spec['type']]}" for c, spec in columns.items())
            con.execute(f"CREATE TABLE {_quoted(table)} ({ddl})")
            marks = ", ".join("?" for _ in columns)
            con.executemany(
                f"INSERT INTO {_quoted(table)} VALUES ({marks})",
                [[record.get(c) for c in columns] for record in records],
            )
    finally:
        con.close()
    return path


# ------------------------------------------------------------------------ OMOP

def _omop_rows(version: str) -> dict[str, list[dict[str, Any]]]:
    admitted = "admitted_from_concept_id" if version == "5.4" else "admitting_source_concept_id"
    discharged = "discharged_to_concept_id" if version == "5.4" else "discharge_to_concept_id"

    def visit(vid, pid, concept, start, end, site=10, adm=None, dis=None):
        row = {"visit_occurrence_id": vid, "person_id": pid, "visit_concept_id": concept,
               "visit_start_date": start.date().isoformat(), "visit_end_date": end.date().isoformat() if end else "",
               "care_site_id": site, "visit_source_value": f"V{vid}", admitted: adm, discharged: dis,
               "preceding_visit_occurrence_id": None}
        if version == "5.4":  # 5.4 fixture fills datetimes; the 5.3 one has dates only
            row["visit_start_datetime"] = start.isoformat(sep=" ")
            row["visit_end_datetime"] = end.isoformat(sep=" ") if end else ""
        return row

    rows = {
        "person": [
            {"person_id": -1, "gender_concept_id": 8507, "year_of_birth": 2050, "month_of_birth": 3,
             "day_of_birth": 10, "birth_datetime": "2050-03-10 00:00:00"},
            {"person_id": 2, "gender_concept_id": 8532, "year_of_birth": 2080, "month_of_birth": None,
             "day_of_birth": None, "birth_datetime": None},
            {"person_id": 3, "gender_concept_id": 0, "year_of_birth": 2100, "month_of_birth": 1,
             "day_of_birth": 1, "birth_datetime": None},
        ],
        "death": [{"person_id": 2, "death_date": "2110-05-03"}],
        "care_site": [
            {"care_site_id": 10, "care_site_name": "Hopital A", "care_site_source_value": "HA",
             "place_of_service_source_value": "Hospital"},
            {"care_site_id": 20, "care_site_name": "Intensive care", "care_site_source_value": "ICU1",
             "place_of_service_source_value": "ICU"},
        ],
        "visit_occurrence": [
            visit(-100, -1, 9201, D(2110, 1, 1, 10), D(2110, 1, 4, 12), adm=8870, dis=8536),
            visit(101, 2, 9203, D(2110, 5, 1, 2), D(2110, 5, 1, 6)),
            visit(102, 2, 262, D(2110, 5, 1, 6), D(2110, 5, 3, 9)),  # death on 2110-05-03, within the stay
            visit(103, 3, 9202, D(2110, 6, 1, 9), D(2110, 6, 1, 10)),
            visit(104, 3, 8717, D(2110, 7, 1, 8), D(2110, 7, 1, 18), dis=4216643),  # 0 night, "patient died"
            visit(105, 3, 581385, D(2110, 7, 2, 8), D(2110, 7, 3, 8)),  # observation room, 1 night
            visit(106, -1, 99999, D(2110, 8, 1, 8), D(2110, 8, 1, 9)),  # a concept the mapping does not know
            visit(107, -1, 9201, D(2110, 9, 1, 8), None),  # still open
        ],
        "visit_detail": [
            {"visit_detail_id": 1, "person_id": -1, "visit_occurrence_id": -100, "care_site_id": 10,
             "visit_detail_concept_id": 9201, "visit_detail_start_date": "2110-01-01", "visit_detail_end_date": "2110-01-02"},
            {"visit_detail_id": 2, "person_id": -1, "visit_occurrence_id": -100, "care_site_id": 20,
             "visit_detail_concept_id": 32037, "visit_detail_start_date": "2110-01-02", "visit_detail_end_date": "2110-01-04"},
        ],
        "condition_occurrence": [
            {"condition_occurrence_id": 1, "person_id": -1, "visit_occurrence_id": -100, "condition_concept_id": 201826,
             "condition_source_value": "E11.9", "condition_status_concept_id": 32902, "condition_start_date": "2110-01-01"},
            {"condition_occurrence_id": 2, "person_id": 2, "visit_occurrence_id": 102, "condition_concept_id": 4329847,
             "condition_source_value": None, "condition_status_concept_id": 32908, "condition_start_date": "2110-05-01"},
            {"condition_occurrence_id": 3, "person_id": 3, "visit_occurrence_id": 103, "condition_concept_id": 320128,
             "condition_source_value": "I10", "condition_status_concept_id": 0, "condition_start_date": "2110-06-01"},
        ],
        "procedure_occurrence": [
            {"procedure_occurrence_id": 1, "person_id": -1, "visit_occurrence_id": -100, "procedure_concept_id": 4000,
             "procedure_source_value": "0DTJ4ZZ", "procedure_date": "2110-01-02"},
        ],
        "measurement": [
            {"measurement_id": 1, "person_id": -1, "visit_occurrence_id": -100, "measurement_concept_id": 3000963,
             "measurement_source_value": "HGB", "measurement_date": "2110-01-02", "value_as_number": 13.2,
             "unit_source_value": "g/dL"},
            {"measurement_id": 2, "person_id": 2, "visit_occurrence_id": 101, "measurement_concept_id": 3025315,
             "measurement_source_value": "WT", "measurement_date": "2110-05-01", "value_as_number": 70,
             "unit_source_value": "kg"},
        ],
        "drug_exposure": [
            {"drug_exposure_id": 1, "person_id": -1, "visit_occurrence_id": -100, "drug_concept_id": 1125315,
             "drug_type_concept_id": 38000177, "drug_source_value": "paracetamol", "drug_exposure_start_date": "2110-01-01"},
            {"drug_exposure_id": 2, "person_id": 2, "visit_occurrence_id": 102, "drug_concept_id": 1125315,
             "drug_type_concept_id": 32818, "drug_source_value": "paracetamol", "drug_exposure_start_date": "2110-05-02"},
            {"drug_exposure_id": 3, "person_id": 3, "visit_occurrence_id": 103, "drug_concept_id": 1125315,
             "drug_type_concept_id": 32865, "drug_source_value": "paracetamol", "drug_exposure_start_date": "2110-06-01"},
        ],
    }
    if version == "5.4":  # the 5.3 export comes without vocabulary: loinc/label unavailable
        rows["concept"] = [
            {"concept_id": 3000963, "concept_name": "Hemoglobin", "vocabulary_id": "LOINC", "concept_code": "718-7"},
            {"concept_id": 3025315, "concept_name": "Body weight", "vocabulary_id": "LOINC", "concept_code": "29463-7"},
        ]
    return rows


def write_omop_csv(folder: Path, version: str) -> Path:
    """Write the OMOP fixture as one CSV per table; 5.3 uses upper-case file names and headers."""
    folder.mkdir(parents=True, exist_ok=True)
    for table, records in _omop_rows(version).items():
        columns = list(dict.fromkeys(c for record in records for c in record))
        name = table.upper() if version == "5.3" else table
        with open(folder / f"{name}.csv", "w", newline="", encoding="utf-8") as stream:
            writer = csv.writer(stream)
            writer.writerow([c.upper() if version == "5.3" else c for c in columns])
            for record in records:
                writer.writerow(["" if record.get(c) is None else record.get(c) for c in columns])
    return folder


# ------------------------------------------------------------------ helpers


def plain(value: Any) -> Any:
    """A comparable Python value: None for any missing value, int for whole floats, ISO text for times."""
    import numpy as np
    import pandas as pd

    if value is None or (not isinstance(value, (str, bool, np.bool_, list)) and pd.isna(value)):
        return None
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return int(value) if float(value).is_integer() else float(value)
    if hasattr(value, "isoformat"):
        return pd.Timestamp(value).isoformat()
    return value


def fingerprint(frame) -> tuple[int, str]:
    """Row count and an order-independent checksum of a view's content (SHA-256 of its sorted plain rows)."""
    import hashlib

    rows = sorted(repr(tuple(plain(v) for v in row)) for row in frame.itertuples(index=False))
    return len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest()


def assert_same_views(expected: Any, got: Any) -> list[str]:
    """Every canonical view of warehouse `got` has the columns and rows of the same view on `expected`
    (another engine, or the same data in another database); returns the views compared."""
    assert expected.views == got.views
    for name in expected.views:
        reference = expected.execute(expected.view(name))
        other = got.execute(got.view(name))
        assert list(other.columns) == list(reference.columns), name
        assert fingerprint(other) == fingerprint(reference), name
    return expected.views


def plain_rows(frame, columns: list[str], key: str | list[str]) -> list[tuple]:
    """The frame's `columns` as tuples of plain values, sorted by `key`."""
    ordered = frame.sort_values(key)
    return [tuple(plain(v) for v in row) for row in ordered[columns].itertuples(index=False)]


def catalog_for_aphp(folder: Path) -> Path:
    """The AP-HP fixture's DuckDB file and its catalogue written by `write_catalog`."""
    from workbench.catalog import write_catalog

    write_aphp(folder / "eds.duckdb")
    write_catalog(folder / "eds.duckdb", "aphp", folder / "catalog.yaml")
    return folder / "catalog.yaml"


def catalog_for_omop(folder: Path, version: str) -> Path:
    """The OMOP CSV fixture of `version` and its catalogue written by `write_catalog`."""
    from workbench.catalog import write_catalog

    write_omop_csv(folder / "csv", version)
    write_catalog(folder / "csv", "omop", folder / "catalog.yaml")
    return folder / "catalog.yaml"
