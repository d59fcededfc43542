"""AP-HP flavour: categories carried by French `*_source_value` labels and codes.

Each builder returns the view's columns (any order, any type: `views.conform`
selects and casts), the raw tables it reads and the columns it cannot fill.
Soft-deleted rows (`row_status_source_value = 'supprimé'`) are excluded.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from workbench.semantic.common import ancestors, column, finish_stays, last_per
from workbench.semantic.views import Built, Sources, category, current_rows

LEVELS = {
    "AP-HP": "aphp",
    "Hôpital": "hopital",
    "Pôle/DMU": "pole",
    "Service/Département": "service",
    "UF": "uf",
    "UH": "uh",
    "UC": "uc",
}
VISIT_TYPES = {v: v for v in ("hospitalisés", "hospitalisation incomplète", "urgence", "consultation externe")}
STAY_TYPES = {"MCO": "MCO", "SSR": "SSR", "Psychiatrie": "PSY", "PSY": "PSY", "SLD": "SLD"}
SEXES = {"m": "M", "male": "M", "h": "M", "homme": "M", "f": "F", "female": "F", "femme": "F"}
MOVEMENTS = {"PASS UF": "UF", "PASS UH": "UH", "PASS UC": "UC", "RUM": "RUM"}
UNIT_MOVEMENTS = ("PASS UF", "RUM")
DIAGNOSIS_STATUSES = {s: s for s in ("DP", "DR", "DAS", "DAD")}
PMSI_SOURCES = {"ORBIS": "ORBIS", "AREM": "AREM"}
EMERGENCY_PROVENANCE = "5"
DEATH_DISCHARGE = "9"
IS_PART_OF = 46233688
CARE_SITE_DOMAIN = 57
DRUG_TABLES = {"drug_exposure_prescription": "prescription", "drug_exposure_administration": "administration"}

# standard OMOP concepts: an AP-HP extract usually carries only source codes; when it has the column, views use it
CONCEPT_COLUMNS = {"condition_occurrence": "condition_concept_id", "procedure_occurrence": "procedure_concept_id",
                   "measurement": "measurement_concept_id", "drug_exposure": "drug_concept_id"}

REQUIRES: dict[str, tuple[str, ...]] = {
    "patients": ("person",),
    "care_sites": ("care_site",),
    "stays": ("visit_occurrence", "person", "care_site"),
    "unit_stays": ("visit_detail", "care_site"),
    "diagnoses": ("condition_occurrence",),
    "procedures": ("procedure_occurrence",),
    "biology": ("measurement",),
    "notes": ("note",),
}


def missing_tables(view: str, tables: set[str]) -> list[str]:
    """Raw tables `view` needs that the catalogue lacks (drugs needs either drug table)."""
    if view == "drugs":
        return [] if tables & set(DRUG_TABLES) else [" ou ".join(DRUG_TABLES)]
    return [name for name in REQUIRES[view] if name not in tables]


def _no_concept(table: ir.Table, name: str) -> frozenset[str]:
    """``{"concept_id"}`` when the raw table has no standard concept column (the view's column is then null)."""
    return frozenset() if CONCEPT_COLUMNS[name] in table.columns else frozenset({"concept_id"})


def patients(src: Sources) -> Built:
    person = current_rows(src.table("person"))
    sex = person.gender_source_value.lower().substitute(SEXES, else_="inconnu")
    table = person.select(
        person_id=person.person_id,
        sex=sex,
        birth_date=person.birth_datetime.date(),
        death_date=person.death_datetime.date(),
    )
    return Built(table, ("person",))


def care_sites(src: Sources) -> Built:
    site = current_rows(src.table("care_site"))
    nodes = site.select(
        care_site_id=site.care_site_id,
        code=site.care_site_source_value,
        name=site.care_site_name,
        level=category(site.care_site_type_source_value, LEVELS),
        place_of_service=site.place_of_service_source_value,
    )
    reads: tuple[str, ...] = ("care_site",)
    unavailable: frozenset[str] = frozenset()
    if "fact_relationship" in src.tables:
        links = src.table("fact_relationship")
        links = links.filter(links.relationship_concept_id == IS_PART_OF, links.domain_concept_id_1 == CARE_SITE_DOMAIN)
        parents = links.group_by(_child=links.fact_id_1).aggregate(parent_id=links.fact_id_2.min())
        nodes = nodes.left_join(parents, nodes.care_site_id == parents._child).drop("_child")
        reads += ("fact_relationship",)
    else:
        nodes = nodes.mutate(parent_id=ibis.null("int64"))
        unavailable = frozenset({"parent_id"})
    found = ancestors(nodes, ("hopital", "pole", "service", "uf"))
    table = nodes.left_join(found, nodes.care_site_id == found._anc_id).rename(hospital="hopital")
    return Built(table, reads, unavailable)


def _ghm(src: Sources) -> ir.Table | None:
    """One GHM per stay (the largest code if the source has several), or None without `cost`."""
    if "cost" not in src.tables:
        return None
    cost = src.table("cost")
    return cost.group_by(_ghm_stay=cost.visit_occurrence_id).aggregate(ghm=cost.drg_source_value.max())


def _last_units(src: Sources) -> ir.Table:
    """Per stay, the ancestors of its last UF movement (PASS UF or RUM)."""
    columns = ["unit_stay", "unit_hospital", "pole", "service", "uf"]
    if "visit_detail" not in src.tables:
        return ibis.memtable({c: [] for c in columns}, schema={"unit_stay": "int64", **{c: "string" for c in columns[1:]}})
    detail = current_rows(src.table("visit_detail"))
    detail = detail.filter(detail.visit_detail_type_source_value.isin(UNIT_MOVEMENTS))
    last = last_per(detail, "visit_occurrence_id", detail.visit_detail_start_datetime, "visit_detail_id")
    sites = src.view("care_sites")
    joined = last.left_join(sites, last.care_site_id == sites.care_site_id)
    return joined.select(
        unit_stay=joined.visit_occurrence_id,
        unit_hospital=joined.hospital,
        pole=joined.pole,
        service=joined.service,
        uf=joined.uf,
    )


def stays(src: Sources) -> Built:
    visit = current_rows(src.table("visit_occurrence"))
    sites = src.view("care_sites").select(_site="care_site_id", visit_hospital="hospital")
    base = visit.left_join(sites, visit.care_site_id == sites._site)
    base = base.select(
        stay_id=base.visit_occurrence_id,
        person_id=base.person_id,
        nda=base.visit_occurrence_source_value,
        visit_type=category(base.visit_source_value, VISIT_TYPES),
        stay_type=category(base.stay_source_value, STAY_TYPES),
        start_datetime=base.visit_start_datetime,
        end_datetime=base.visit_end_datetime,
        start_date=base.visit_start_datetime.date(),
        end_date=base.visit_end_datetime.date(),
        admission_mode=base.admitted_from_source_value,
        provenance=base.provenance_source_value,
        discharge_mode=base.discharge_to_source_value,
        destination=base.destination_source_value,
        from_emergency=(base.provenance_source_value == EMERGENCY_PROVENANCE).fill_null(False),
        died=(base.discharge_to_source_value == DEATH_DISCHARGE).fill_null(False),
        preceding_stay_id=base.preceding_visit_occurrence_id,
        visit_hospital=base.visit_hospital,
        source=base.cdm_source,
    )
    ghm = _ghm(src)
    reads = ("visit_occurrence", "care_site", "fact_relationship", "visit_detail", "person")
    unavailable: frozenset[str] = frozenset()
    if ghm is None:
        base = base.mutate(ghm=ibis.null("string"))
        unavailable = frozenset({"ghm", "cmd", "ghm_type", "ghm_severity"})
    else:
        base = base.left_join(ghm, base.stay_id == ghm._ghm_stay).drop("_ghm_stay")
        reads += ("cost",)
    table = finish_stays(base, _last_units(src), src, death_within_stay=False)
    return Built(table, tuple(t for t in reads if t in src.tables), unavailable)


def unit_stays(src: Sources) -> Built:
    detail = current_rows(src.table("visit_detail"))
    sites = src.view("care_sites")
    joined = detail.left_join(sites, detail.care_site_id == sites.care_site_id)
    table = joined.select(
        unit_stay_id=joined.visit_detail_id,
        stay_id=joined.visit_occurrence_id,
        person_id=joined.person_id,
        care_site_id=joined.care_site_id,
        movement_type=category(joined.visit_detail_type_source_value, MOVEMENTS),
        start_datetime=joined.visit_detail_start_datetime,
        end_datetime=joined.visit_detail_end_datetime,
        hospital=joined.hospital,
        pole=joined.pole,
        service=joined.service,
        uf=joined.uf,
        place_of_service=joined.place_of_service,
    )
    return Built(table, ("visit_detail", "care_site", "fact_relationship"))


def diagnoses(src: Sources) -> Built:
    cond = current_rows(src.table("condition_occurrence"))
    table = cond.select(
        diagnosis_id=cond.condition_occurrence_id,
        person_id=cond.person_id,
        stay_id=cond.visit_occurrence_id,
        unit_stay_id=cond.visit_detail_id,
        datetime=cond.condition_start_datetime,
        code=cond.condition_source_value,
        concept_id=column(cond, [CONCEPT_COLUMNS["condition_occurrence"]], "int64"),
        status=category(cond.condition_status_source_value, DIAGNOSIS_STATUSES),
        source=category(cond.cdm_source, PMSI_SOURCES),
    )
    return Built(table, ("condition_occurrence",), _no_concept(cond, "condition_occurrence"))


def procedures(src: Sources) -> Built:
    proc = current_rows(src.table("procedure_occurrence"))
    table = proc.select(
        procedure_id=proc.procedure_occurrence_id,
        person_id=proc.person_id,
        stay_id=proc.visit_occurrence_id,
        unit_stay_id=proc.visit_detail_id,
        datetime=proc.procedure_datetime,
        code=proc.procedure_source_value,
        concept_id=column(proc, [CONCEPT_COLUMNS["procedure_occurrence"]], "int64"),
        source=category(proc.cdm_source, PMSI_SOURCES),
    )
    return Built(table, ("procedure_occurrence",), _no_concept(proc, "procedure_occurrence"))


def _loinc_of_local(src: Sources) -> ir.Table | None:
    """Local (ANABIO) concept → its code, label and LOINC code through 'Maps to'."""
    if "concept" not in src.tables:
        return None
    concept = src.table("concept")
    local = concept.select(_local_id="concept_id", local_code="concept_code", label="concept_name")
    if "concept_relationship" not in src.tables:
        return local.mutate(loinc=ibis.null("string"))
    rel = src.table("concept_relationship")
    rel = rel.filter(rel.relationship_id == "Maps to")
    target = concept.filter(concept.vocabulary_id.contains("LOINC"))
    maps = rel.join(target, rel.concept_id_2 == target.concept_id)
    loinc = maps.group_by(_from=maps.concept_id_1).aggregate(loinc=maps.concept_code.min())
    return local.left_join(loinc, local._local_id == loinc._from).drop("_from")


def biology(src: Sources) -> Built:
    meas = current_rows(src.table("measurement"))
    codes = _loinc_of_local(src)
    unavailable: frozenset[str] = frozenset()
    if codes is None:
        meas = meas.mutate(
            _local_id=meas.measurement_source_concept_id,
            local_code=meas.measurement_source_concept_id.cast("string"),
            label=ibis.null("string"),
            loinc=ibis.null("string"),
        )
        unavailable = frozenset({"loinc", "label"})
    else:
        meas = meas.left_join(codes, meas.measurement_source_concept_id == codes._local_id)
    table = meas.select(
        measurement_id=meas.measurement_id,
        person_id=meas.person_id,
        stay_id=meas.visit_occurrence_id,
        datetime=meas.measurement_datetime,
        local_code=meas.local_code,
        concept_id=column(meas, [CONCEPT_COLUMNS["measurement"]], "int64"),
        loinc=meas.loinc,
        label=meas.label,
        value=meas.value_as_number,
        unit=meas.unit_source_value,
        range_low=meas.range_low,
        range_high=meas.range_high,
        status=meas.row_status_source_value,
    )
    reads = tuple(t for t in ("measurement", "concept", "concept_relationship") if t in src.tables)
    return Built(table, reads, unavailable | _no_concept(meas, "measurement"))


def _drug_rows(src: Sources, name: str, kind: str) -> ir.Table:
    drug = current_rows(src.table(name))
    return drug.select(
        drug_id=drug.drug_exposure_id.cast("int64"),
        person_id=drug.person_id.cast("int64"),
        stay_id=drug.visit_occurrence_id.cast("int64"),
        kind=ibis.literal(kind),
        ucd=drug.drug_ucd_source_value.cast("string"),
        atc=drug.drug_class_source_value.cast("string"),
        concept_id=column(drug, [CONCEPT_COLUMNS["drug_exposure"]], "int64"),
        label=drug.drug_source_value.cast("string"),
        route=drug.route_source_value.cast("string"),
        quantity=drug.quantity.cast("float64"),
        dose_unit=drug.dose_unit_source_value.cast("string"),
        start_datetime=drug.drug_exposure_start_datetime.cast("timestamp"),
        end_datetime=drug.drug_exposure_end_datetime.cast("timestamp"),
    )


def drugs(src: Sources) -> Built:
    present = [(name, kind) for name, kind in DRUG_TABLES.items() if name in src.tables]
    parts = [_drug_rows(src, name, kind) for name, kind in present]
    table = parts[0] if len(parts) == 1 else ibis.union(*parts, distinct=False)
    concepts = all(CONCEPT_COLUMNS["drug_exposure"] in src.table(name).columns for name, _ in present)
    return Built(table, tuple(name for name, _ in present), frozenset() if concepts else frozenset({"concept_id"}))


def notes(src: Sources) -> Built:
    note = current_rows(src.table("note"))
    table = note.select(
        note_id=note.note_id,
        person_id=note.person_id,
        stay_id=note.visit_occurrence_id,
        datetime=note.note_datetime,
        note_class=note.note_class_source_value,
        text=note.note_text,
        source=note.cdm_source,
    )
    return Built(table, ("note",))

