"""Standard OMOP CDM 5.3 / 5.4 flavour: categories carried by standard concept ids.

Differences handled: 5.3 `admitting_source_concept_id` / `discharge_to_concept_id`
vs 5.4 `admitted_from_concept_id` / `discharged_to_concept_id`; either
`*_datetime` or `*_date` may be filled; deaths in the `death` table.

Facts standard OMOP does not carry are null columns listed as unavailable: the
PMSI field (stay_type), GHM, provenance/destination, the ORBIS/AREM source, UCD.
Standard OMOP has no care-site hierarchy: each care site is its own
"hospital" (the best available proxy, level `autre`), and a stay's `uf` is the
code of the care site of its last `visit_detail` (the unit it left from);
when the visit has no care site, its hospital is that unit's care site.
`pole` and `service` are unavailable. `admission_mode` and `discharge_mode`
hold the concept ids as text.

Visit types come from the visit concept hierarchy: a visit concept is of the
type of the root it descends from in ``concept_ancestor`` (when the source
ships one) or in the built-in map `VISIT_TYPES` (the standard Visit concepts
and their usual descendants, from the OHDSI vocabulary):

| type | roots |
| --- | --- |
| hospitalisés | 9201 Inpatient Visit, 262 Emergency Room and Inpatient Visit, 8717 Inpatient Hospital |
| urgence | 9203 Emergency Room Visit |
| hospitalisation incomplète | 581385 Observation Room, 8883 Ambulatory Surgical Center |
| consultation externe | 9202 Outpatient Visit, 581477 Office Visit, 38004207 Ambulatory Clinic, 5083 Telehealth |

A concept under several roots takes the first type of this table (262 is
under both 9201 and 9203: one hospitalisation, ``from_emergency`` true). Any
other concept is `autre`, counted and shown (`unmapped_visit_concepts`), never
dropped. Deaths come from ``death`` and from visits discharged to 4216643
("Patient died").
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir

from workbench.semantic.common import column, finish_stays, last_per, when
from workbench.semantic.views import OTHER, Built, Sources, current_rows

INPATIENT, OUTPATIENT, EMERGENCY, EMERGENCY_INPATIENT, INPATIENT_HOSPITAL = 9201, 9202, 9203, 262, 8717
VISIT_TYPES: dict[int, str] = {
    INPATIENT: "hospitalisés",
    INPATIENT_HOSPITAL: "hospitalisés",
    EMERGENCY_INPATIENT: "hospitalisés",
    32037: "hospitalisés",  # Intensive Care
    581379: "hospitalisés",  # Inpatient Critical Care Facility
    8971: "hospitalisés",  # Inpatient Psychiatric Facility
    8920: "hospitalisés",  # Comprehensive Inpatient Rehabilitation Facility
    EMERGENCY: "urgence",
    8870: "urgence",  # Emergency Room - Hospital
    581385: "hospitalisation incomplète",  # Observation Room
    8883: "hospitalisation incomplète",  # Ambulatory Surgical Center
    OUTPATIENT: "consultation externe",
    8756: "consultation externe",  # Outpatient Hospital
    581477: "consultation externe",  # Office Visit
    38004207: "consultation externe",  # Ambulatory Clinic / Center
    5083: "consultation externe",  # Telehealth
}
VISIT_ROOTS: dict[int, str] = {
    INPATIENT: "hospitalisés", EMERGENCY_INPATIENT: "hospitalisés", INPATIENT_HOSPITAL: "hospitalisés",
    EMERGENCY: "urgence",
    581385: "hospitalisation incomplète", 8883: "hospitalisation incomplète",
    OUTPATIENT: "consultation externe", 581477: "consultation externe", 38004207: "consultation externe",
    5083: "consultation externe",
}
VISIT_TYPE_PRIORITY = ("hospitalisés", "urgence", "hospitalisation incomplète", "consultation externe")
EMERGENCY_ORIGINS = (EMERGENCY, 8870, EMERGENCY_INPATIENT)
DEATH_DISCHARGES = (4216643, 44814686)  # Patient died; Deceased
MALE, FEMALE = 8507, 8532
DIAGNOSIS_STATUSES: dict[int, str] = {
    32901: "DP",  # Primary admission diagnosis
    32902: "DP",  # Primary diagnosis
    32903: "DP",  # Primary discharge diagnosis
    32907: "DAS",  # Secondary admission diagnosis
    32908: "DAS",  # Secondary diagnosis
    32909: "DAS",  # Secondary discharge diagnosis
}
DRUG_KINDS: dict[int, str] = {
    38000177: "prescription",  # Prescription written
    32838: "prescription",  # EHR prescription
    38000175: "prescription",  # Prescription dispensed in pharmacy
    32839: "prescription",  # EHR dispensing record
    38000180: "administration",  # Inpatient administration
    32818: "administration",  # EHR administration record
    581373: "administration",  # Physician administered drug
}
ADMITTED_FROM = ("admitted_from_concept_id", "admitting_source_concept_id")
DISCHARGED_TO = ("discharged_to_concept_id", "discharge_to_concept_id")

REQUIRES: dict[str, tuple[str, ...]] = {
    "patients": ("person",),
    "care_sites": ("care_site",),
    "stays": ("visit_occurrence", "person"),
    "unit_stays": ("visit_detail",),
    "diagnoses": ("condition_occurrence",),
    "procedures": ("procedure_occurrence",),
    "biology": ("measurement",),
    "drugs": ("drug_exposure",),
    "notes": ("note",),
}


def visit_type_map(src: Sources) -> ir.Table | None:
    """concept_id → visit_type of the descendants of `VISIT_ROOTS` in ``concept_ancestor`` (None without
    that table), one type per concept: the first of `VISIT_TYPE_PRIORITY`. Built from the source's own
    table with CASE expressions (no in-memory table), so it runs on every backend; `VISIT_TYPES` still
    wins over it (see `visit_type`)."""
    if "concept_ancestor" not in src.tables:
        return None
    rank = {visit_type: i for i, visit_type in enumerate(VISIT_TYPE_PRIORITY)}
    ancestry = src.table("concept_ancestor")
    root = ancestry.ancestor_concept_id.cast("int64")
    found = ancestry.filter(root.isin(list(VISIT_ROOTS))).select(
        _vcid=ancestry.descendant_concept_id.cast("int64"),
        _vtype=root.substitute(VISIT_ROOTS, else_=ibis.null("string")),
        _rank=root.substitute({concept: rank[t] for concept, t in VISIT_ROOTS.items()}, else_=ibis.null("int64")),
    )
    first = found.mutate(_n=ibis.row_number().over(group_by=found._vcid, order_by=[found._rank, found._vtype]))
    return first.filter(first._n == 0).select("_vcid", "_vtype")


def missing_tables(view: str, tables: set[str]) -> list[str]:
    return [name for name in REQUIRES[view] if name not in tables]


def _concept(value: ir.Value, mapping: dict[int, str]) -> ir.StringValue:
    return value.cast("int64").substitute(mapping, else_=OTHER)


def patients(src: Sources) -> Built:
    person = src.table("person")
    year = column(person, ["year_of_birth"], "int64")
    month = column(person, ["month_of_birth"], "int64").fill_null(1)
    day = column(person, ["day_of_birth"], "int64").fill_null(1)
    from_parts = ibis.ifelse(year.notnull(), ibis.date(year, month, day), ibis.null("date"))
    birth = ibis.coalesce(column(person, ["birth_datetime"], "timestamp").date(), from_parts)
    table = person.mutate(
        sex=person.gender_concept_id.cast("int64").substitute({MALE: "M", FEMALE: "F"}, else_="inconnu"),
        birth_date=birth,
    )
    reads: tuple[str, ...] = ("person",)
    deaths = []
    if "death" in src.tables:
        death = src.table("death")
        deaths.append(death.select(_dead=death.person_id, _on=when(death, "death").date()))
        reads += ("death",)
    if "visit_occurrence" in src.tables:
        visit = current_rows(src.table("visit_occurrence"))
        died = visit.filter(column(visit, DISCHARGED_TO, "int64").isin(DEATH_DISCHARGES))
        deaths.append(died.select(_dead=died.person_id, _on=ibis.coalesce(
            column(died, ["visit_end_date"], "date"), when(died, "visit_end").date())))
        reads += ("visit_occurrence",)
    if deaths:
        every = deaths[0].union(deaths[1]) if len(deaths) > 1 else deaths[0]
        first = every.group_by("_dead").aggregate(death_date=every._on.min())
        table = table.left_join(first, table.person_id == first._dead)
    else:
        table = table.mutate(death_date=column(person, ["death_datetime"], "timestamp").date())
    return Built(table.select("person_id", "sex", "birth_date", "death_date"), reads)


def _code(table: ir.Table, id_column: str, source_column: str) -> ir.StringValue:
    return ibis.coalesce(column(table, [source_column], "string"), table[id_column].cast("string"))


def care_sites(src: Sources) -> Built:
    site = src.table("care_site")
    code = _code(site, "care_site_id", "care_site_source_value")
    table = site.select(
        care_site_id=site.care_site_id,
        code=code,
        name=column(site, ["care_site_name"], "string"),
        level=ibis.literal(OTHER),
        hospital=code,
        place_of_service=ibis.coalesce(
            column(site, ["place_of_service_source_value"], "string"),
            column(site, ["place_of_service_concept_id"], "string"),
        ),
    )
    return Built(table, ("care_site",), frozenset({"parent_id", "pole", "service", "uf"}))


def _site_codes(src: Sources, key: str, value: str) -> ir.Table | None:
    if "care_site" not in src.tables:
        return None
    sites = src.view("care_sites")
    return sites.select(**{key: sites.care_site_id, value: sites.code})


def _last_units(src: Sources) -> ir.Table:
    """The care site of each visit's last `visit_detail`; without that table, no row (an empty selection
    of the source's own table rather than an in-memory one, which Spark's materialised views cannot read)."""
    if "visit_detail" not in src.tables:
        visit = src.table("visit_occurrence")
        return visit.filter(ibis.literal(False)).select(
            unit_stay=visit.visit_occurrence_id, unit_hospital=ibis.null("string"), pole=ibis.null("string"),
            service=ibis.null("string"), uf=ibis.null("string"))
    detail = current_rows(src.table("visit_detail"))
    detail = detail.mutate(_start=when(detail, "visit_detail_start"))
    last = last_per(detail, "visit_occurrence_id", detail._start, "visit_detail_id")
    codes = _site_codes(src, "_unit_site", "uf")
    if codes is None:
        last = last.mutate(uf=last.care_site_id.cast("string"))
    else:
        last = last.left_join(codes, last.care_site_id == codes._unit_site)
        last = last.mutate(uf=ibis.coalesce(last.uf, last.care_site_id.cast("string")))  # a site care_site lacks
    return last.select(
        unit_stay=last.visit_occurrence_id,
        unit_hospital=last.uf,  # the hospital when the visit itself names no care site
        pole=ibis.null("string"),
        service=ibis.null("string"),
        uf=last.uf,
    )


def stays(src: Sources) -> Built:
    visit = current_rows(src.table("visit_occurrence"))
    start = when(visit, "visit_start")
    end = when(visit, "visit_end")
    admitted = column(visit, ADMITTED_FROM, "int64")
    discharged = column(visit, DISCHARGED_TO, "int64")
    types = visit_type_map(src)
    builtin = visit.visit_concept_id.cast("int64").substitute(VISIT_TYPES, else_=ibis.null("string"))
    if types is None:
        visit = visit.mutate(_vtype=builtin)
    else:
        visit = visit.left_join(types, visit.visit_concept_id.cast("int64") == types._vcid)
        visit = visit.mutate(_vtype=ibis.coalesce(builtin, visit._vtype))
    base = visit.select(
        stay_id=visit.visit_occurrence_id,
        person_id=visit.person_id,
        nda=column(visit, ["visit_source_value"], "string"),
        visit_type=visit._vtype.fill_null(OTHER),
        start_datetime=start,
        end_datetime=end,
        start_date=ibis.coalesce(column(visit, ["visit_start_date"], "date"), start.date()),
        end_date=ibis.coalesce(column(visit, ["visit_end_date"], "date"), end.date()),
        admission_mode=admitted.cast("string"),
        discharge_mode=discharged.cast("string"),
        from_emergency=(admitted.isin(EMERGENCY_ORIGINS) | (visit.visit_concept_id == EMERGENCY_INPATIENT)).fill_null(
            False
        ),
        died=discharged.isin(DEATH_DISCHARGES).fill_null(False),
        preceding_stay_id=column(visit, ["preceding_visit_occurrence_id"], "int64"),
        ghm=ibis.null("string"),
        _site=column(visit, ["care_site_id"], "int64"),
    )
    codes = _site_codes(src, "_site_code_id", "visit_hospital")
    if codes is None:
        base = base.mutate(visit_hospital=base._site.cast("string"))
    else:
        base = base.left_join(codes, base._site == codes._site_code_id).drop("_site_code_id")
        base = base.mutate(visit_hospital=ibis.coalesce(base.visit_hospital, base._site.cast("string")))
    table = finish_stays(base.drop("_site"), _last_units(src), src, death_within_stay=True)
    unavailable = frozenset(
        {"stay_type", "provenance", "destination", "ghm", "cmd", "ghm_type", "ghm_severity", "pole", "service", "source"}
    )
    reads = tuple(t for t in ("visit_occurrence", "person", "death", "care_site", "visit_detail", "concept_ancestor")
                  if t in src.tables)
    return Built(table, reads, unavailable)


def unit_stays(src: Sources) -> Built:
    detail = current_rows(src.table("visit_detail"))
    table = detail.mutate(
        _start=when(detail, "visit_detail_start"),
        _end=when(detail, "visit_detail_end"),
        _site=column(detail, ["care_site_id"], "int64"),
    )
    reads: tuple[str, ...] = ("visit_detail",)
    if "care_site" in src.tables:
        sites = src.view("care_sites").select(_sid="care_site_id", uf="code", place_of_service="place_of_service")
        table = table.left_join(sites, table._site == sites._sid)
        table = table.mutate(uf=ibis.coalesce(table.uf, table._site.cast("string")))
        reads += ("care_site",)
    else:
        table = table.mutate(uf=table._site.cast("string"), place_of_service=ibis.null("string"))
    if "visit_occurrence" in src.tables:
        visit = src.table("visit_occurrence")
        hospitals = visit.select(_vid=visit.visit_occurrence_id, _vsite=column(visit, ["care_site_id"], "int64"))
        codes = _site_codes(src, "_hid", "_vhospital")
        if codes is not None:
            hospitals = hospitals.left_join(codes, hospitals._vsite == codes._hid)
            hospitals = hospitals.mutate(_vhospital=ibis.coalesce(hospitals._vhospital, hospitals._vsite.cast("string")))
        else:
            hospitals = hospitals.mutate(_vhospital=hospitals._vsite.cast("string"))
        hospitals = hospitals.select("_vid", "_vhospital")
        table = table.left_join(hospitals, table.visit_occurrence_id == hospitals._vid)
        reads += ("visit_occurrence",)
    else:
        table = table.mutate(_vhospital=ibis.null("string"))
    table = table.mutate(hospital=ibis.coalesce(table._vhospital, table.uf))  # the unit's site when the visit has none
    table = table.select(
        unit_stay_id=table.visit_detail_id,
        stay_id=table.visit_occurrence_id,
        person_id=table.person_id,
        care_site_id=table._site,
        movement_type=ibis.literal("UF"),
        start_datetime=table._start,
        end_datetime=table._end,
        hospital=table.hospital,
        uf=table.uf,
        place_of_service=table.place_of_service,
    )
    return Built(table, reads, frozenset({"pole", "service"}))


def diagnoses(src: Sources) -> Built:
    cond = current_rows(src.table("condition_occurrence"))
    table = cond.select(
        diagnosis_id=cond.condition_occurrence_id,
        person_id=cond.person_id,
        stay_id=column(cond, ["visit_occurrence_id"], "int64"),
        unit_stay_id=column(cond, ["visit_detail_id"], "int64"),
        datetime=when(cond, "condition_start"),
        code=_code(cond, "condition_concept_id", "condition_source_value"),
        concept_id=column(cond, ["condition_concept_id"], "int64"),
        status=_concept(column(cond, ["condition_status_concept_id"], "int64"), DIAGNOSIS_STATUSES),
    )
    return Built(table, ("condition_occurrence",), frozenset({"source"}))


def procedures(src: Sources) -> Built:
    proc = current_rows(src.table("procedure_occurrence"))
    table = proc.select(
        procedure_id=proc.procedure_occurrence_id,
        person_id=proc.person_id,
        stay_id=column(proc, ["visit_occurrence_id"], "int64"),
        unit_stay_id=column(proc, ["visit_detail_id"], "int64"),
        datetime=when(proc, "procedure"),
        code=_code(proc, "procedure_concept_id", "procedure_source_value"),
        concept_id=column(proc, ["procedure_concept_id"], "int64"),
    )
    return Built(table, ("procedure_occurrence",), frozenset({"source"}))


def biology(src: Sources) -> Built:
    meas = current_rows(src.table("measurement"))
    meas = meas.mutate(
        _concept_id=meas.measurement_concept_id.cast("int64"),
        _local=_code(meas, "measurement_concept_id", "measurement_source_value"),
    )
    reads: tuple[str, ...] = ("measurement",)
    unavailable = {"status"}
    if "concept" in src.tables:
        concept = src.table("concept")
        names = concept.select(_cid=concept.concept_id.cast("int64"), label=concept.concept_name,
                               loinc=ibis.ifelse(concept.vocabulary_id == "LOINC", concept.concept_code, ibis.null("string")))
        meas = meas.left_join(names, meas._concept_id == names._cid)
        reads += ("concept",)
    else:
        meas = meas.mutate(label=ibis.null("string"), loinc=ibis.null("string"))
        unavailable |= {"label", "loinc"}
    table = meas.select(
        measurement_id=meas.measurement_id,
        person_id=meas.person_id,
        stay_id=column(meas, ["visit_occurrence_id"], "int64"),
        datetime=when(meas, "measurement"),
        local_code=meas._local,
        concept_id=meas._concept_id,
        loinc=meas.loinc,
        label=meas.label,
        value=column(meas, ["value_as_number"], "float64"),
        unit=column(meas, ["unit_source_value"], "string"),
        range_low=column(meas, ["range_low"], "float64"),
        range_high=column(meas, ["range_high"], "float64"),
    )
    return Built(table, reads, frozenset(unavailable))


def drugs(src: Sources) -> Built:
    drug = current_rows(src.table("drug_exposure"))
    table = drug.select(
        drug_id=drug.drug_exposure_id,
        person_id=drug.person_id,
        stay_id=column(drug, ["visit_occurrence_id"], "int64"),
        kind=_concept(column(drug, ["drug_type_concept_id"], "int64"), DRUG_KINDS),
        label=_code(drug, "drug_concept_id", "drug_source_value"),
        concept_id=column(drug, ["drug_concept_id"], "int64"),
        route=column(drug, ["route_source_value"], "string"),
        quantity=column(drug, ["quantity"], "float64"),
        dose_unit=column(drug, ["dose_unit_source_value"], "string"),
        start_datetime=when(drug, "drug_exposure_start"),
        end_datetime=when(drug, "drug_exposure_end"),
    )
    return Built(table, ("drug_exposure",), frozenset({"ucd", "atc"}))


def notes(src: Sources) -> Built:
    note = current_rows(src.table("note"))
    table = note.select(
        note_id=note.note_id,
        person_id=note.person_id,
        stay_id=column(note, ["visit_occurrence_id"], "int64"),
        datetime=when(note, "note"),
        note_class=ibis.coalesce(column(note, ["note_title"], "string"), column(note, ["note_class_concept_id"], "string")),
        text=column(note, ["note_text"], "string"),
    )
    return Built(table, ("note",), frozenset({"source"}))



def unmapped_visit_concepts(wh: Any) -> dict[int, int]:
    """Visit concept id → number of visits whose type is `autre` (concepts the mapping does not know),
    for the catalogue and the quality page: shown, never dropped."""
    stays = wh.view("stays")
    other = stays.filter(stays.visit_type == OTHER).select(_sid=stays.stay_id)
    visit = wh.table("visit_occurrence")
    joined = visit.join(other, visit.visit_occurrence_id == other._sid)
    counted = wh.execute(joined.group_by(concept=joined.visit_concept_id.cast("int64")).aggregate(visits=joined.count()))
    return {int(row.concept) if row.concept == row.concept else 0: int(row.visits) for row in counted.itertuples()}
