"""CDM typing (workbench.schema.cdm): types from the OHDSI specification, never from the data."""

from __future__ import annotations

import csv

import ibis
import pandas as pd
import pytest

from workbench.schema import cdm


def test_spec_types_every_field_of_both_versions() -> None:
    for version in cdm.VERSIONS:
        with open(cdm.spec_file(version), newline="", encoding="utf-8") as stream:
            rows = list(csv.DictReader(stream))
        fields = cdm.cdm_fields(version)
        assert sum(len(f) for f in fields.values()) == len(rows)
        for row in rows:
            declared = row["cdmDatatype"].lower()
            got = fields[row["cdmTableName"].lower()][row["cdmFieldName"].lower()].type
            expected = ("int64" if declared == "integer" else "float64" if declared == "float" else
                        "timestamp" if declared == "datetime" else "date" if declared == "date" else "string")
            assert got == expected, (version, row["cdmTableName"], row["cdmFieldName"])
    assert cdm.cdm_types("5.3", "visit_occurrence")["admitting_source_concept_id"] == "int64"
    assert "admitting_source_concept_id" not in cdm.cdm_types("5.4", "visit_occurrence")
    assert cdm.cdm_types("5.4", "not_a_cdm_table") == {}


def test_version_from_declaration_then_columns() -> None:
    assert cdm.detect_version({}, "v5.3.1") == "5.3"
    assert cdm.detect_version({}, "5.4") == "5.4"
    assert cdm.detect_version({"VISIT_OCCURRENCE": ["ADMITTING_SOURCE_CONCEPT_ID"]}, "inconnue") == "5.3"
    assert cdm.detect_version({"visit_occurrence": ["admitted_from_concept_id"]}) == "5.4"
    assert cdm.detect_version({"person": ["person_id"]}) == "5.4"  # nothing telling: the current version


def test_text_typed_by_the_cdm_and_failures_counted() -> None:
    raw = ibis.memtable(pd.DataFrame({
        "PERSON_ID": ["1", "-2", "3.0", "x", "", None, "9007199254740993"],
        "year_of_birth": ["1990", "3.7", " ", "1", "2", "3", "4"],
        "birth_datetime": ["19900101", "1990-01-01 10:00:00", "bad", None, None, None, "2190-05-01"],
        "gender_concept_id": [None] * 7,
        "extra": list("abcdefg"),
    }))
    table, check = cdm.typed("person", raw, "5.4")
    assert dict(table.schema().items()) == {
        "person_id": ibis.dtype("int64"), "year_of_birth": ibis.dtype("int64"),
        "birth_datetime": ibis.dtype("timestamp"), "gender_concept_id": ibis.dtype("int64"),
        "extra": ibis.dtype("string"),
    }
    frame = table.execute()
    assert frame["person_id"].tolist()[:3] == [1, -2, 3]
    assert table.person_id.max().to_pyarrow().as_py() == 9007199254740993  # a 64-bit id keeps every digit
    assert frame["person_id"].iloc[3:6].isna().all()
    assert frame["year_of_birth"].iloc[1:3].isna().all()  # "3.7" is not an integer; blank is absent
    assert frame["birth_datetime"].tolist()[:2] == [pd.Timestamp("1990-01-01"), pd.Timestamp("1990-01-01 10:00")]
    assert frame["birth_datetime"].iloc[6] == pd.Timestamp("2190-05-01")  # date-shifted sets: far future kept
    failures = {(f.column, f.count, tuple(f.examples)) for f in check.run()}
    assert failures == {("person_id", 1, ("x",)), ("year_of_birth", 1, ("3.7",)), ("birth_datetime", 1, ("bad",))}


def test_typed_database_columns_need_no_scan() -> None:
    raw = ibis.memtable(pd.DataFrame({"person_id": pd.Series([1, 2], dtype="int32"), "extra": ["a", "b"]}))
    table, check = cdm.typed("person", raw, "5.3")
    assert table.schema()["person_id"] == ibis.dtype("int64")
    assert check is None


def test_unknown_version_is_refused() -> None:
    with pytest.raises(ValueError):
        cdm.cdm_fields("6.0")
