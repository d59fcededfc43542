"""Small AP-HP warehouses written row by row by the tests, opened through `workbench.open`.

A test describes patients, stays, diagnoses, measurements and bed capacities
in a few readable lines; :func:`build_warehouse` turns them into the raw
AP-HP tables (`visit_occurrence`, `visit_detail`, `care_site`,
`fact_relationship`, `cost`, `condition_occurrence`, `measurement`…) of a
DuckDB file, writes its catalogue with ``write_catalog(..., "aphp", ...)`` and
opens it, so the whole chain — raw tables, semantic layer, engine — is under
test. Expected figures are computed by hand in the tests from these rows.

Care-site tree of every fixture (codes are what the dimensions show)::

    APHP
    ├── 014 (hôpital)  ── P14 (pôle) ── S14 (service) ─┬─ 1401 (UF)
    │                                                  └─ 1402 (UF)
    └── 028 (hôpital)  ── P28 (pôle) ── S28 (service) ─── 2801 (UF)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import ibis
import pandas as pd
import yaml

from workbench import paths
from workbench.indicators.model import DIMENSIONS, IndicatorDefinition

SCHEMA = yaml.safe_load((paths.PROJECT_ROOT / "workbench" / "schema" / "aphp_tables.yaml").read_text(encoding="utf-8"))
COMPUTATIONS = paths.PROJECT_ROOT / "docs" / "indicator_computations.yaml"

# care_site_id, code, level, parent
CARE_SITES: list[tuple[int, str, str, int | None]] = [
    (1, "APHP", "AP-HP", None),
    (10, "014", "Hôpital", 1),
    (11, "P14", "Pôle/DMU", 10),
    (12, "S14", "Service/Département", 11),
    (13, "1401", "UF", 12),
    (14, "1402", "UF", 12),
    (20, "028", "Hôpital", 1),
    (21, "P28", "Pôle/DMU", 20),
    (22, "S28", "Service/Département", 21),
    (23, "2801", "UF", 22),
]
SITE_ID = {code: site_id for site_id, code, _, _ in CARE_SITES}
HOSPITAL_OF_UF = {"1401": "014", "1402": "014", "2801": "028"}

WEIGHT, HEIGHT = "29463-7", "8302-2"
_ANABIO = {WEIGHT: (1001, 2001, "Poids"), HEIGHT: (1002, 2002, "Taille")}


def ts(text: str | None) -> pd.Timestamp | None:
    """'2024-01-10' or '2024-01-10 08:00' as a timestamp (None stays None)."""
    return None if text is None else pd.Timestamp(text)


@dataclass
class Stay:
    """One visit_occurrence row (and its unit movement, GHM) in readable form."""

    id: int
    person: int
    start: str
    end: str | None
    uf: str = "1401"
    visit: str = "hospitalisés"
    field: str = "MCO"
    ghm: str | None = None
    admission: str = "8"
    provenance: str | None = None
    discharge: str | None = "8"
    status: str = "courant"
    nda: str | None = None
    preceding: int | None = None
    movements: list[tuple[str, str, str | None]] | None = None
    """(UF code, start, end) unit movements; default one movement spanning the stay in `uf`."""


@dataclass
class Person:
    id: int
    sex: str = "f"
    birth: str = "1970-06-15"


@dataclass
class Diagnosis:
    stay: int
    status: str = "DP"
    source: str = "ORBIS"
    code: str = "I10"
    row_status: str = "courant"


@dataclass
class Measure:
    person: int
    stay: int | None
    loinc: str
    at: str
    value: float | None = 70.0


@dataclass
class Capacity:
    uf: str
    beds: int
    valid_from: str
    valid_to: str | None = None


@dataclass
class Fixture:
    """Everything a test warehouse holds."""

    stays: list[Stay]
    persons: list[Person] = field(default_factory=list)
    diagnoses: list[Diagnosis] = field(default_factory=list)
    measures: list[Measure] = field(default_factory=list)
    capacities: list[Capacity] = field(default_factory=list)
    reference_dms: dict[str, float] = field(default_factory=dict)
    extraction_date: str = "2024-12-31"
    omit: tuple[str, ...] = ()
    """Raw tables left out of the warehouse (e.g. `cost`: a source without GHM)."""


# --- raw rows -----------------------------------------------------------------------------------


def _care_site_rows() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    sites = [
        {
            "care_site_id": site_id, "care_site_source_value": code, "care_site_name": f"Structure {code}",
            "care_site_short_name": code, "care_site_type_source_value": level,
            "place_of_service_source_value": "MEDECINE" if level == "UF" else None,
            "valid_start_date": dt.date(2000, 1, 1), "valid_end_date": None,
        }
        for site_id, code, level, _ in CARE_SITES
    ]
    tree = [
        {"domain_concept_id_1": 57, "fact_id_1": site_id, "domain_concept_id_2": 57, "fact_id_2": parent,
         "relationship_concept_id": 46233688}
        for site_id, _, _, parent in CARE_SITES if parent is not None
    ]
    return sites, tree


def _visit_rows(stays: list[Stay]) -> list[dict[str, Any]]:
    return [
        {
            "visit_occurrence_id": s.id, "person_id": s.person, "care_site_id": SITE_ID[HOSPITAL_OF_UF[s.uf]],
            "visit_start_datetime": ts(s.start), "visit_end_datetime": ts(s.end),
            "visit_source_value": s.visit, "stay_source_value": s.field,
            "admitted_from_source_value": s.admission, "provenance_source_value": s.provenance,
            "discharge_to_source_value": s.discharge if s.end else None, "destination_source_value": None,
            "row_status_source_value": s.status, "visit_occurrence_source_value": s.nda or f"NDA{s.id}",
            "preceding_visit_occurrence_id": s.preceding, "cdm_source": "ORBIS",
            "delete_datetime": ts(s.end or s.start) if s.status == "supprimé" else None,
        }
        for s in stays
    ]


def _movement_rows(stays: list[Stay]) -> list[dict[str, Any]]:
    rows = []
    for s in stays:
        for uf, start, end in s.movements or [(s.uf, s.start, s.end)]:
            rows.append({
                "visit_detail_id": 100_000 + len(rows), "visit_occurrence_id": s.id, "person_id": s.person,
                "care_site_id": SITE_ID[uf], "visit_detail_start_datetime": ts(start),
                "visit_detail_end_datetime": ts(end), "visit_detail_type_source_value": "PASS UF",
                "visit_detail_parent_id": None, "row_status_source_value": s.status,
            })
    return rows


def _person_rows(fixture: Fixture) -> list[dict[str, Any]]:
    given = {p.id: p for p in fixture.persons}
    for stay in fixture.stays:
        given.setdefault(stay.person, Person(stay.person))
    return [
        {"person_id": p.id, "gender_source_value": p.sex, "birth_datetime": ts(p.birth), "death_datetime": None,
         "location_id": None, "cdm_source": "ORBIS"}
        for p in given.values()
    ]


def _diagnosis_rows(fixture: Fixture) -> list[dict[str, Any]]:
    stays = {s.id: s for s in fixture.stays}
    return [
        {"condition_occurrence_id": i + 1, "person_id": stays[d.stay].person, "visit_occurrence_id": d.stay,
         "visit_detail_id": None, "condition_start_datetime": ts(stays[d.stay].start),
         "condition_source_value": d.code, "condition_status_source_value": d.status, "cdm_source": d.source,
         "row_status_source_value": d.row_status}
        for i, d in enumerate(fixture.diagnoses)
    ]


def _measurement_rows(fixture: Fixture) -> list[dict[str, Any]]:
    return [
        {"measurement_id": i + 1, "person_id": m.person, "visit_occurrence_id": m.stay,
         "measurement_source_concept_id": _ANABIO[m.loinc][0], "measurement_datetime": ts(m.at),
         "value_as_number": m.value, "unit_source_value": "kg" if m.loinc == WEIGHT else "cm",
         "range_low": None, "range_high": None, "value_source_value": None, "row_status_source_value": "Validé"}
        for i, m in enumerate(fixture.measures)
    ]


def _concept_rows() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    concepts, links = [], []
    for loinc, (local, standard, label) in _ANABIO.items():
        concepts.append({"concept_id": local, "concept_name": label, "vocabulary_id": "ITM - ANABIO",
                         "concept_code": f"A{local}"})
        concepts.append({"concept_id": standard, "concept_name": label, "vocabulary_id": "ITM - LOINC",
                         "concept_code": loinc})
        links.append({"concept_id_1": local, "concept_id_2": standard, "relationship_id": "Maps to"})
        links.append({"concept_id_1": standard, "concept_id_2": local, "relationship_id": "Mapped from"})
    return concepts, links


def raw_tables(fixture: Fixture) -> dict[str, list[dict[str, Any]]]:
    """The raw AP-HP rows of a fixture, table by table (tables not listed are written empty)."""
    sites, tree = _care_site_rows()
    concepts, links = _concept_rows()
    return {
        "person": _person_rows(fixture),
        "visit_occurrence": _visit_rows(fixture.stays),
        "visit_detail": _movement_rows(fixture.stays),
        "care_site": sites,
        "fact_relationship": tree,
        "condition_occurrence": _diagnosis_rows(fixture),
        "cost": [
            {"cost_id": s.id, "visit_occurrence_id": s.id, "drg_source_value": s.ghm, "ghm_version": "2024"}
            for s in fixture.stays if s.ghm
        ],
        "measurement": _measurement_rows(fixture),
        "concept": concepts,
        "concept_relationship": links,
        "care_site_capacity": [
            {"care_site_id": SITE_ID[c.uf], "beds_installed": c.beds,
             "valid_from": dt.date.fromisoformat(c.valid_from),
             "valid_to": dt.date.fromisoformat(c.valid_to) if c.valid_to else None}
            for c in fixture.capacities
        ],
        "ghm_reference_dms": [
            {"ghm": ghm, "reference_dms": dms, "source": "test"} for ghm, dms in fixture.reference_dms.items()
        ],
        "_metadata": [{
            "extraction_date": dt.date.fromisoformat(fixture.extraction_date), "generator": "tests",
            "seed": 0, "n_patients": len(fixture.persons), "snapshot_id": "snapshot-test",
            "created_at": pd.Timestamp("2025-01-01"),
        }],
    }


def _frame(name: str, rows: list[dict[str, Any]]) -> ibis.Table:
    schema = ibis.schema({column: spec["type"] for column, spec in SCHEMA[name]["columns"].items()})
    frame = pd.DataFrame(rows, columns=list(schema.names)).astype(object)
    frame = frame.where(frame.notna(), None)
    return ibis.memtable(frame, schema=schema)


def write_duckdb(fixture: Fixture, path: Path) -> Path:
    """Write every raw table of the AP-HP schema into a DuckDB file."""
    rows = raw_tables(fixture)
    con = ibis.duckdb.connect(str(path))
    try:
        for name in (n for n in SCHEMA if n not in fixture.omit):
            con.create_table(name, _frame(name, rows.get(name, [])), overwrite=True)
    finally:
        con.disconnect()
    return path


def build_warehouse(fixture: Fixture, folder: Path) -> Any:
    """Raw tables → DuckDB file → catalogue → `workbench.open`: the warehouse the engine computes on."""
    from workbench import warehouse
    from workbench.catalog import write_catalog

    folder.mkdir(parents=True, exist_ok=True)
    database = write_duckdb(fixture, folder / "eds.duckdb")
    write_catalog(database, "aphp", folder / "catalog.yaml")
    return warehouse.open(catalog=folder / "catalog.yaml", backend="duckdb")


# --- definitions --------------------------------------------------------------------------------


def computations() -> dict[str, Any]:
    """The computation blocks of `docs/indicator_computations.yaml`, by indicator id."""
    return yaml.safe_load(COMPUTATIONS.read_text(encoding="utf-8"))


def definition(
    indicator_id: str,
    dimensions: Iterable[str] = DIMENSIONS,
    versions: list[dict[str, Any]] | None = None,
) -> IndicatorDefinition:
    """A minimal definition around the documented computation of `indicator_id` (one version since 2015)."""
    block = computations()[indicator_id]
    return IndicatorDefinition.model_validate({
        "id": indicator_id, "name": indicator_id, "theme": "tests", "definition": "test",
        "numerator": "n", "unit": "u", "dimensions": list(dimensions),
        "sources": [{"table": "stays"}], "referent": "tests", "status": "draft",
        "versions": versions or [
            {"version": "1", "effective_from": "2015-01-01", "change": "création", "computation": block}
        ],
    })


def cells(result: Any, *keys: str) -> dict[Any, dict[str, Any]]:
    """The result frame as ``{key tuple (or single key): row dict}`` for readable assertions."""
    out = {}
    for row in result.frame.to_dict(orient="records"):
        key = tuple(row[k] for k in keys)
        out[key[0] if len(key) == 1 else key] = row
    return out
