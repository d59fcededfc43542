"""A small hand-made AP-HP warehouse for the cohort tests; the expected members are derived from it by hand.

Six patients, two hospitals (014 with its cardiology service S03 and UF 1001;
028 with UF 2801), 2023–2024:

| person | sex, birth | stays (hospital, dates) | diagnoses | troponin (LOINC 89579-7) | other |
| --- | --- | --- | --- | --- | --- |
| 1 | M 1950-06-15 | 101 (014, UF 1001, 2024-01-10→15); 102 (014, 2024-06-01→03) | 101: I210 DP, E119 DAS; 102: C61 DP | 101: 120 ng/L on 01-11, 90 ng/L on 01-12 | act DDAF001 in 101; aspirin prescribed in 101; GHM 05M042 |
| 2 | F 1990-01-01 | 103 (014, UF 1001, 2024-02-01→05); 108 (028, 2024-09-01→03) | 103: I214 DP; 108: I219 DP | 103: 20 ng/L on 02-02; 108: 80 ng/L on 09-02 | aspirin administered in 103; GHM 05K061 (103), 05K062 (108) |
| 3 | M 2010-03-01 | 104 (028, UF 2801, 2024-03-01→02) | 104: I211 DAS | — | — |
| 4 | F 1940-01-01 | 105 (028, UF 2801, 2023-05-01→10) | 105: I210 DP, C509 DAS | 105: 50 ng/L on 05-02 | bisoprolol prescribed; GHM 05M043 |
| 5 | M 1960-01-01 | 106 (014, 2024-04-01→04) | 106: I10 DP | — | — |
| 6 | F 1970-01-01 | 107 (028, 2024-07-01→02) | 107: I212 DP | 107: 0.2 µg/L on 07-01 (another unit) | GHM 05M042 |

Person 7 exists only as a soft-deleted diagnosis I210 DP: never a member.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

from semantic.fixtures import write_aphp

D = datetime
SERVICE = "S03"
# persons 1, 2, 4, 6 enter (I21 as DP); troponin > 34 ng/L in the index stay: 1 and 4; all adults
IMA_YAML = """\
nom: ima
unite: patients
periode: {debut: 2023-01-01, fin: 2024-12-31}
entree: {type: diagnostic, codes: [I21], statut: [DP]}
inclusion:
  - nom: troponine élevée
    criteres:
      - {type: biologie, codes: [89579-7], comparaison: ">", valeur: 34, unite: ng/L, fenetre: {meme_sejour: true}}
  - nom: adulte
    criteres: [{type: age, min: 18}]
"""


def _cs(cid: int, code: str, kind: str) -> dict[str, Any]:
    return {"care_site_id": cid, "care_site_source_value": code, "care_site_name": f"Structure {code}",
            "care_site_type_source_value": kind}


def _link(child: int, parent: int) -> dict[str, Any]:
    return {"domain_concept_id_1": 57, "fact_id_1": child, "domain_concept_id_2": 57, "fact_id_2": parent,
            "relationship_concept_id": 46233688}


def _visit(vid: int, pid: int, site: int, start: datetime, end: datetime) -> dict[str, Any]:
    return {"visit_occurrence_id": vid, "person_id": pid, "care_site_id": site, "visit_start_datetime": start,
            "visit_end_datetime": end, "visit_source_value": "hospitalisés", "stay_source_value": "MCO",
            "row_status_source_value": "courant", "visit_occurrence_source_value": f"N{vid}", "cdm_source": "ORBIS"}


def _detail(did: int, vid: int, pid: int, site: int, start: datetime) -> dict[str, Any]:
    return {"visit_detail_id": did, "visit_occurrence_id": vid, "person_id": pid, "care_site_id": site,
            "visit_detail_start_datetime": start, "visit_detail_type_source_value": "PASS UF",
            "row_status_source_value": "courant"}


def _dx(cid: int, pid: int, vid: int, code: str, status: str, when: datetime, row: str = "courant") -> dict[str, Any]:
    return {"condition_occurrence_id": cid, "person_id": pid, "visit_occurrence_id": vid, "condition_source_value": code,
            "condition_status_source_value": status, "cdm_source": "AREM", "condition_start_datetime": when,
            "row_status_source_value": row}


def _lab(mid: int, pid: int, vid: int, when: datetime, value: float, unit: str) -> dict[str, Any]:
    return {"measurement_id": mid, "person_id": pid, "visit_occurrence_id": vid, "measurement_source_concept_id": 1001,
            "measurement_datetime": when, "value_as_number": value, "unit_source_value": unit,
            "row_status_source_value": "Validé"}


def _drug(did: int, pid: int, vid: int, atc: str, when: datetime) -> dict[str, Any]:
    return {"drug_exposure_id": did, "person_id": pid, "visit_occurrence_id": vid, "drug_class_source_value": atc,
            "drug_exposure_start_datetime": when}


def _note(nid: int, pid: int, vid: int, when: datetime, text: str, kind: str = "CRH") -> dict[str, Any]:
    return {"note_id": nid, "person_id": pid, "visit_occurrence_id": vid, "note_class_source_value": kind,
            "note_text": text, "note_datetime": when, "row_status_source_value": "courant", "cdm_source": "ORBIS"}


ROWS: dict[str, list[dict[str, Any]]] = {
    "care_site": [_cs(1, "APHP", "AP-HP"), _cs(10, "014", "Hôpital"), _cs(11, "028", "Hôpital"),
                  _cs(100, "P01", "Pôle/DMU"), _cs(1000, SERVICE, "Service/Département"), _cs(10000, "1001", "UF"),
                  _cs(20000, "2801", "UF")],
    "fact_relationship": [_link(10, 1), _link(11, 1), _link(100, 10), _link(1000, 100), _link(10000, 1000),
                          _link(20000, 11)],
    "person": [
        {"person_id": 1, "gender_source_value": "m", "birth_datetime": D(1950, 6, 15)},
        {"person_id": 2, "gender_source_value": "f", "birth_datetime": D(1990, 1, 1)},
        {"person_id": 3, "gender_source_value": "m", "birth_datetime": D(2010, 3, 1)},
        {"person_id": 4, "gender_source_value": "f", "birth_datetime": D(1940, 1, 1)},
        {"person_id": 5, "gender_source_value": "m", "birth_datetime": D(1960, 1, 1)},
        {"person_id": 6, "gender_source_value": "f", "birth_datetime": D(1970, 1, 1)},
        {"person_id": 7, "gender_source_value": "f", "birth_datetime": D(1980, 1, 1)},
    ],
    "visit_occurrence": [
        _visit(101, 1, 10, D(2024, 1, 10, 8), D(2024, 1, 15, 10)),
        _visit(102, 1, 10, D(2024, 6, 1, 8), D(2024, 6, 3, 10)),
        _visit(103, 2, 10, D(2024, 2, 1, 8), D(2024, 2, 5, 10)),
        _visit(104, 3, 11, D(2024, 3, 1, 8), D(2024, 3, 2, 10)),
        _visit(105, 4, 11, D(2023, 5, 1, 8), D(2023, 5, 10, 10)),
        _visit(106, 5, 10, D(2024, 4, 1, 8), D(2024, 4, 4, 10)),
        _visit(107, 6, 11, D(2024, 7, 1, 8), D(2024, 7, 2, 10)),
        _visit(108, 2, 11, D(2024, 9, 1, 8), D(2024, 9, 3, 10)),
    ],
    "visit_detail": [
        _detail(1, 101, 1, 10000, D(2024, 1, 10, 8)),
        _detail(2, 103, 2, 10000, D(2024, 2, 1, 8)),
        _detail(3, 104, 3, 20000, D(2024, 3, 1, 8)),
        _detail(4, 105, 4, 20000, D(2023, 5, 1, 8)),
    ],
    "cost": [{"cost_id": i, "visit_occurrence_id": vid, "drg_source_value": ghm, "ghm_version": "2024"}
             for i, (vid, ghm) in enumerate([(101, "05M042"), (103, "05K061"), (105, "05M043"), (107, "05M042"),
                                             (108, "05K062")], start=1)],
    "condition_occurrence": [
        _dx(1, 1, 101, "I210", "DP", D(2024, 1, 10)),
        _dx(2, 1, 101, "E119", "DAS", D(2024, 1, 10)),
        _dx(3, 1, 102, "C61", "DP", D(2024, 6, 1)),
        _dx(4, 2, 103, "I214", "DP", D(2024, 2, 1)),
        _dx(5, 2, 108, "I219", "DP", D(2024, 9, 1)),
        _dx(6, 3, 104, "I211", "DAS", D(2024, 3, 1)),
        _dx(7, 4, 105, "I210", "DP", D(2023, 5, 1)),
        _dx(8, 4, 105, "C509", "DAS", D(2023, 5, 1)),
        _dx(9, 5, 106, "I10", "DP", D(2024, 4, 1)),
        _dx(10, 6, 107, "I212", "DP", D(2024, 7, 1)),
        _dx(11, 7, 106, "I210", "DP", D(2024, 4, 1), row="supprimé"),
    ],
    "procedure_occurrence": [
        {"procedure_occurrence_id": 1, "person_id": 1, "visit_occurrence_id": 101, "procedure_source_value": "DDAF001",
         "cdm_source": "AREM", "procedure_datetime": D(2024, 1, 11), "row_status_source_value": "courant"},
    ],
    "concept": [
        {"concept_id": 1001, "concept_name": "Troponine I hypersensible", "vocabulary_id": "ITM - ANABIO",
         "concept_code": "A0283"},
        {"concept_id": 2001, "concept_name": "Troponin I", "vocabulary_id": "ITM - LOINC", "concept_code": "89579-7"},
    ],
    "concept_relationship": [{"concept_id_1": 1001, "concept_id_2": 2001, "relationship_id": "Maps to"}],
    "measurement": [
        _lab(1, 1, 101, D(2024, 1, 11, 7), 120.0, "ng/L"),
        _lab(2, 1, 101, D(2024, 1, 12, 7), 90.0, "ng/L"),
        _lab(3, 2, 103, D(2024, 2, 2, 7), 20.0, "ng/L"),
        _lab(4, 2, 108, D(2024, 9, 2, 7), 80.0, "ng/L"),
        _lab(5, 4, 105, D(2023, 5, 2, 7), 50.0, "ng/L"),
        _lab(6, 6, 107, D(2024, 7, 1, 9), 0.2, "µg/L"),
    ],
    "drug_exposure_prescription": [
        _drug(1, 1, 101, "B01AC06", D(2024, 1, 10, 12)),
        _drug(2, 4, 105, "C07AB07", D(2023, 5, 3, 12)),
    ],
    "drug_exposure_administration": [_drug(1, 2, 103, "B01AC06", D(2024, 2, 1, 14))],
    "note": [
        _note(1, 1, 101, D(2024, 1, 15), "Douleur thoracique typique. Pas de diabète."),
        _note(2, 2, 103, D(2024, 2, 5), "Antécédents familiaux : diabète chez la mère."),
        _note(3, 4, 105, D(2023, 5, 10), "Diabète de type 2 connu, sous metformine."),
        _note(4, 6, 107, D(2024, 7, 2), "Suspicion de diabète, à confirmer."),
        _note(5, 4, 105, D(2023, 5, 9), "Carcinome canalaire infiltrant du sein, stade pT3 N1 M0.", "CR-ANAPATH"),
        _note(6, 1, 102, D(2024, 6, 3), "Adénocarcinome prostatique pT2 N0 M1.", "CR-ANAPATH"),
    ],
    "_metadata": [{"extraction_date": date(2024, 12, 31), "generator": "tests", "seed": 0, "n_patients": 7,
                   "snapshot_id": "cohorts-fixture", "created_at": D(2025, 1, 1)}],
}


def write_cohort_warehouse(folder: Path) -> Path:
    """The fixture's DuckDB file and its catalogue; returns the catalogue's path."""
    from workbench.catalog import write_catalog

    folder.mkdir(parents=True, exist_ok=True)
    write_aphp(folder / "eds.duckdb", ROWS)
    write_catalog(folder / "eds.duckdb", "aphp", folder / "catalog.yaml")
    return folder / "catalog.yaml"


# ------------------------------------------------------------------ standard OMOP with concept_ancestor

OMOP_TABLES: dict[str, list[dict[str, Any]]] = {
    # concept 100 (say "ischaemic heart disease") has descendants 101 and 102; 200 is unrelated
    "person": [{"person_id": p, "gender_concept_id": 8507 if p % 2 else 8532, "year_of_birth": 1960,
                "month_of_birth": 1, "day_of_birth": 1} for p in (1, 2, 3)],
    "care_site": [{"care_site_id": 10, "care_site_name": "Hopital A", "care_site_source_value": "HA"}],
    "visit_occurrence": [{"visit_occurrence_id": 10 + p, "person_id": p, "visit_concept_id": 9201,
                          "visit_start_date": "2024-03-01", "visit_end_date": "2024-03-04", "care_site_id": 10}
                         for p in (1, 2, 3)],
    "condition_occurrence": [
        {"condition_occurrence_id": 1, "person_id": 1, "visit_occurrence_id": 11, "condition_concept_id": 101,
         "condition_source_value": "I21.0", "condition_start_date": "2024-03-01"},
        {"condition_occurrence_id": 2, "person_id": 2, "visit_occurrence_id": 12, "condition_concept_id": 102,
         "condition_source_value": "I25.1", "condition_start_date": "2024-03-01"},
        {"condition_occurrence_id": 3, "person_id": 3, "visit_occurrence_id": 13, "condition_concept_id": 200,
         "condition_source_value": "J18.9", "condition_start_date": "2024-03-01"},
    ],
    "drug_exposure": [
        {"drug_exposure_id": 1, "person_id": 2, "visit_occurrence_id": 12, "drug_concept_id": 501,
         "drug_type_concept_id": 38000177, "drug_exposure_start_date": "2024-03-02"},
    ],
    "concept": [{"concept_id": c, "concept_name": f"Concept {c}", "vocabulary_id": "SNOMED", "concept_code": str(c)}
                for c in (100, 101, 102, 200, 500, 501)],
    "concept_ancestor": [
        {"ancestor_concept_id": a, "descendant_concept_id": d, "min_levels_of_separation": 1,
         "max_levels_of_separation": 1} for a, d in ((100, 101), (100, 102), (500, 501))
    ],
}


def write_omop_warehouse(folder: Path) -> Path:
    """The OMOP fixture as CSV files and its catalogue; returns the catalogue's path."""
    import csv

    from workbench.catalog import write_catalog

    data = folder / "csv"
    data.mkdir(parents=True, exist_ok=True)
    for table, records in OMOP_TABLES.items():
        columns = list(dict.fromkeys(c for record in records for c in record))
        with open(data / f"{table}.csv", "w", newline="", encoding="utf-8") as stream:
            writer = csv.writer(stream)
            writer.writerow(columns)
            writer.writerows([["" if r.get(c) is None else r.get(c) for c in columns] for r in records])
    write_catalog(data, "omop", folder / "catalog.yaml")
    return folder / "catalog.yaml"


# ------------------------------------------------------------------ the differencing attack

ATTACK_CODES = ("E10", "E11", "E13", "E14", "J44", "J45", "K21", "K29", "N18")  # code j goes to persons 1..j+1
ATTACK_PATIENTS = 40


def attack_rows() -> dict[str, list[dict[str, Any]]]:
    """40 patients, each one I21 DP stay in hospital 028 in 2024; the first j+1 also have ATTACK_CODES[j]."""
    rows: dict[str, list[dict[str, Any]]] = {name: ROWS[name] for name in ("care_site", "fact_relationship", "_metadata")}
    rows["person"] = [{"person_id": p, "gender_source_value": "f", "birth_datetime": D(1960, 1, 1)}
                      for p in range(1, ATTACK_PATIENTS + 1)]
    rows["visit_occurrence"] = [_visit(1000 + p, p, 11, D(2024, 3, 1, 8), D(2024, 3, 4, 8))
                                for p in range(1, ATTACK_PATIENTS + 1)]
    diagnoses = [_dx(p, p, 1000 + p, "I210", "DP", D(2024, 3, 1)) for p in range(1, ATTACK_PATIENTS + 1)]
    for j, code in enumerate(ATTACK_CODES):
        diagnoses += [_dx(1000 * (j + 1) + p, p, 1000 + p, code, "DAS", D(2024, 3, 1)) for p in range(1, j + 2)]
    rows["condition_occurrence"] = diagnoses
    return rows


def write_attack_warehouse(folder: Path) -> Path:
    from workbench.catalog import write_catalog

    folder.mkdir(parents=True, exist_ok=True)
    write_aphp(folder / "eds.duckdb", attack_rows())
    write_catalog(folder / "eds.duckdb", "aphp", folder / "catalog.yaml")
    return folder / "catalog.yaml"
