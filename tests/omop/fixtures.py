"""A hand-made standard OMOP CDM 5.4 export, shaped like real ones, zipped; and the public Synthea export.

`write_export_zip(path)` writes ``export.zip``: upper-case file names and
headers, a ``__MACOSX/`` folder, header-only tables (CARE_SITE, NOTE), an
all-null column, a value that is not a number, an extra non-CDM table, and
no ``cdm_source`` (the version comes from the columns). Its rows:

| visit | person | concept | what it exercises |
| --- | --- | --- | --- |
| 1 | 1 | 262 ER and inpatient | one hospitalisation, from_emergency, a merged emergency passage |
| 2 | 2 | 9203 ER | an emergency visit… |
| 3 | 2 | 9201 inpatient, admitted from 9203 | …followed 1 h later by its hospitalisation (one passage, not two) |
| 4 | 3 | 9201 inpatient | no emergency; discharged to 4216643 (died), no `death` row |
| 5 | 3 | 2000000001 | a local child of 9203 in CONCEPT_ANCESTOR: an emergency visit |
| 6 | 1 | 99999 | a concept nobody maps: `autre`, counted and shown |
| 7 | 4 | 9202 outpatient | no visit care site; its visit_detail names care site 70 |

PERSON row 4 has year_of_birth ``19x0``: it reads as null and is reported.
Expected values in the tests are derived from these rows by hand.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

SYNTHEA_ZIP = Path(__file__).resolve().parents[1] / "fixtures" / "omop-synthea27nj" / "Synthea27Nj_5.4.zip"

CSV: dict[str, str] = {
    "PERSON.csv": """PERSON_ID,GENDER_CONCEPT_ID,YEAR_OF_BIRTH,MONTH_OF_BIRTH,DAY_OF_BIRTH,BIRTH_DATETIME,RACE_CONCEPT_ID,ETHNICITY_CONCEPT_ID,LOCATION_ID
1,8507,1950,1,1,,0,0,
2,8532,1980,6,15,,0,0,
3,8507,1940,,,,0,0,
4,8532,19x0,,,,0,0,
""",
    "VISIT_OCCURRENCE.csv": """VISIT_OCCURRENCE_ID,PERSON_ID,VISIT_CONCEPT_ID,VISIT_START_DATE,VISIT_START_DATETIME,VISIT_END_DATE,VISIT_END_DATETIME,VISIT_TYPE_CONCEPT_ID,CARE_SITE_ID,VISIT_SOURCE_VALUE,ADMITTED_FROM_CONCEPT_ID,DISCHARGED_TO_CONCEPT_ID,PRECEDING_VISIT_OCCURRENCE_ID
1,1,262,2024-03-01,2024-03-01 08:00:00,2024-03-05,2024-03-05 10:00:00,32817,,V1,0,0,
2,2,9203,2024-03-10,2024-03-10 20:00:00,2024-03-10,2024-03-10 23:00:00,32817,,V2,0,0,
3,2,9201,2024-03-11,2024-03-11 00:00:00,2024-03-14,2024-03-14 12:00:00,32817,,V3,9203,0,
4,3,9201,2024-04-01,2024-04-01 09:00:00,2024-04-03,2024-04-03 18:00:00,32817,,V4,0,4216643,
5,3,2000000001,2024-03-20,2024-03-20 10:00:00,2024-03-20,2024-03-20 14:00:00,32817,,V5,0,0,
6,1,99999,2024-05-01,2024-05-01 10:00:00,2024-05-01,2024-05-01 11:00:00,32817,,V6,,,
7,4,9202,2024-05-02,2024-05-02 10:00:00,2024-05-02,2024-05-02 10:30:00,32817,,V7,,,
""",
    "VISIT_DETAIL.csv": """VISIT_DETAIL_ID,PERSON_ID,VISIT_DETAIL_CONCEPT_ID,VISIT_DETAIL_START_DATE,VISIT_DETAIL_START_DATETIME,VISIT_DETAIL_END_DATE,VISIT_DETAIL_END_DATETIME,VISIT_DETAIL_TYPE_CONCEPT_ID,CARE_SITE_ID,VISIT_OCCURRENCE_ID
70,4,9202,2024-05-02,2024-05-02 10:00:00,2024-05-02,2024-05-02 10:30:00,32817,70,7
""",
    "CARE_SITE.csv": "CARE_SITE_ID,CARE_SITE_NAME,PLACE_OF_SERVICE_CONCEPT_ID,LOCATION_ID,CARE_SITE_SOURCE_VALUE,"
                     "PLACE_OF_SERVICE_SOURCE_VALUE\n",
    "NOTE.csv": "NOTE_ID,PERSON_ID,NOTE_DATE,NOTE_DATETIME,NOTE_TYPE_CONCEPT_ID,NOTE_CLASS_CONCEPT_ID,NOTE_TITLE,NOTE_TEXT,"
                "ENCODING_CONCEPT_ID,LANGUAGE_CONCEPT_ID,VISIT_OCCURRENCE_ID\n",
    "DEATH.csv": "PERSON_ID,DEATH_DATE,DEATH_DATETIME,DEATH_TYPE_CONCEPT_ID,CAUSE_CONCEPT_ID\n",
    "CONCEPT_ANCESTOR.csv": """ANCESTOR_CONCEPT_ID,DESCENDANT_CONCEPT_ID,MIN_LEVELS_OF_SEPARATION,MAX_LEVELS_OF_SEPARATION
9203,9203,0,0
9203,2000000001,1,1
9201,262,1,1
9203,262,1,1
""",
    "OBSERVATION_PERIOD.csv": """OBSERVATION_PERIOD_ID,PERSON_ID,OBSERVATION_PERIOD_START_DATE,OBSERVATION_PERIOD_END_DATE,PERIOD_TYPE_CONCEPT_ID
1,1,2020-01-01,2024-12-31,32817
2,2,2020-01-01,2024-12-31,32817
""",
    "LOCAL_AUDIT.csv": "run,rows\n2024-06-01,7\n",  # a table outside the CDM: sniffed types, kept
}


def write_export_zip(path: Path, without: tuple[str, ...] = ()) -> Path:
    """The export as a zip (members in `without` left out), with the `__MACOSX/` shadow files macOS adds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in CSV.items():
            if name in without:
                continue
            archive.writestr(name, text)
            archive.writestr(f"__MACOSX/._{name}", b"\x00\x05\x16\x07 resource fork")
    return path
