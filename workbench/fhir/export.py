"""Warehouse → FHIR R4 bulk NDJSON (one file per resource type), the inverse of `workbench.fhir.mapping`.

French codes go out with their French systems (CIM-10, CCAM, UCD, ATC; ANABIO
and LOINC for biology), the PMSI fields FHIR has no element for with the
workbench's own code systems, so that `workbench ingest fhir` puts every value
back in the column it came from. Timestamps are the
warehouse's wall-clock times, written with the Europe/Paris offset of the day.

Soft-deleted rows are exported too, and listed in ``deleted/deleted.ndjson``
(the bulk-data deleted list: Bundles of DELETE requests), so that ingesting
the export with ``--deleted`` marks them again and the facts that point to a
deleted stay still find it.

The GHM of a stay travels in an extension of its Encounter. What FHIR does not
carry here (listed in docs/fhir.md): bed capacities, reference lengths of stay, the stay chain
(`preceding_visit_occurrence_id`), the RUM link of diagnoses and procedures
(`visit_detail_id`), unused vocabulary concepts.
"""

from __future__ import annotations

import base64
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from workbench.errors import UserError
from workbench.fhir import mapping as m

PARIS = ZoneInfo("Europe/Paris")
#: Raw table → (resource type, id prefix, key column) of the rows a deletion list can name.
DELETED_KINDS = {
    "visit_occurrence": ("Encounter", "v", "visit_occurrence_id"),
    "condition_occurrence": ("Condition", "c", "condition_occurrence_id"),
    "procedure_occurrence": ("Procedure", "a", "procedure_occurrence_id"),
    "drug_exposure_prescription": ("MedicationRequest", "rx", "drug_exposure_id"),
    "drug_exposure_administration": ("MedicationAdministration", "ad", "drug_exposure_id"),
    "note": ("DocumentReference", "n", "note_id"),
}
STRUCTURE = "https://eds-workbench.aphp.fr/fhir/sid/structure"
NDA = "https://eds-workbench.aphp.fr/fhir/sid/nda"
ORGANIZATION_LEVELS = frozenset({"AP-HP", "Hôpital", "Pôle/DMU", "Service/Département"})
VITAL_SIGNS = frozenset({"29463-7", "8302-2"})


def _value(value: Any) -> Any:
    """A plain Python value, None for missing ones (NaN, NaT, None)."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):
        return value.item()
    return value


def instant(value: Any) -> str | None:
    """A timestamp as a FHIR dateTime: the warehouse's wall-clock time with the Europe/Paris offset of that day (FHIR wants an offset once there is a time)."""
    value = _value(value)
    if value is None:
        return None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        return value.replace(tzinfo=PARIS).isoformat(timespec="seconds")
    return value.isoformat() if isinstance(value, date) else str(value)


def day(value: Any) -> str | None:
    """A date or timestamp as a FHIR date (YYYY-MM-DD)."""
    value = _value(value)
    if value is None:
        return None
    return (value.date() if isinstance(value, datetime) else value).isoformat()


def coding(system: str, code: Any, display: Any = None) -> dict[str, Any] | None:
    """A Coding, or None for a missing code (FHIR forbids empty elements)."""
    code = _value(code)
    if code is None or code == "":
        return None
    found = {"system": system, "code": str(code)}
    if _value(display):
        found["display"] = str(display)
    return found


def concept(*codings: dict[str, Any] | None, text: Any = None) -> dict[str, Any] | None:
    """A CodeableConcept of the codings present (and a text), or None when empty."""
    present = [c for c in codings if c]
    found: dict[str, Any] = {}
    if present:
        found["coding"] = present
    if _value(text):
        found["text"] = str(text)
    return found or None


def ref(kind: str, prefix: str, value: Any) -> dict[str, str] | None:
    """A literal reference to the exported resource of an integer id (ids are prefixed per table, so they never collide)."""
    value = _value(value)
    return None if value is None else {"reference": f"{kind}/{prefix}{int(value)}"}


def _clean(resource: dict[str, Any]) -> dict[str, Any]:
    """Drop empty elements (FHIR forbids nulls and empty objects)."""
    out = {}
    for key, value in resource.items():
        if isinstance(value, dict):
            value = _clean(value)
        elif isinstance(value, list):
            value = [_clean(v) if isinstance(v, dict) else v for v in value if v is not None]
            value = [v for v in value if v not in ({}, None)]
        if value is None or value == {} or value == []:
            continue
        out[key] = value
    return out


# ------------------------------------------------------------------ one function per table


def care_sites(sites: pd.DataFrame, parents: dict[int, int]) -> Iterator[tuple[str, dict[str, Any]]]:
    """care_site → Organization (levels down to the service) or Location (UF, UH, UC), the tree in partOf / managingOrganization."""
    levels = dict(zip(sites.care_site_id, sites.care_site_type_source_value))
    for row in sites.itertuples(index=False):
        is_org = row.care_site_type_source_value in ORGANIZATION_LEVELS
        kind, prefix = ("Organization", "cs") if is_org else ("Location", "cs")
        parent = parents.get(int(row.care_site_id))
        parent_kind = None if parent is None else ("Organization" if levels.get(parent) in ORGANIZATION_LEVELS else "Location")
        resource = {
            "resourceType": kind, "id": f"{prefix}{int(row.care_site_id)}",
            "identifier": [{"system": STRUCTURE, "value": _value(row.care_site_source_value)}],
            "name": _value(row.care_site_name),
            "alias": [_value(row.care_site_short_name)] if _value(row.care_site_short_name) else None,
            "type": [concept(coding(m.LEVEL, row.care_site_type_source_value), coding(m.UNIT_TYPE, row.place_of_service_source_value))],
        }
        if parent is not None:
            if is_org and parent_kind == "Organization":
                resource["partOf"] = ref("Organization", "cs", parent)
            elif not is_org:
                resource["partOf" if parent_kind == "Location" else "managingOrganization"] = ref(parent_kind, "cs", parent)
        yield kind, resource


def patients(person: pd.DataFrame, identity: pd.DataFrame | None) -> Iterator[tuple[str, dict[str, Any]]]:
    """person (+ person_identity when readable: names and birth postcode) → Patient."""
    names = {} if identity is None else {int(r.person_id): r for r in identity.itertuples(index=False)}
    for row in person.itertuples(index=False):
        gender = {"m": "male", "f": "female"}.get(str(_value(row.gender_source_value) or "").lower(), "unknown")
        who = names.get(int(row.person_id))
        resource = {
            "resourceType": "Patient", "id": f"p{int(row.person_id)}", "gender": gender,
            "birthDate": day(row.birth_datetime), "deceasedDateTime": instant(row.death_datetime),
        }
        if who is not None:
            resource["name"] = [{"use": "official", "family": _value(who.family_name),
                                 "given": [_value(who.given_name)] if _value(who.given_name) else None}]
            if _value(who.birth_postcode):
                resource["extension"] = [{"url": "http://hl7.org/fhir/StructureDefinition/patient-birthPlace",
                                          "valueAddress": {"postalCode": _value(who.birth_postcode)}}]
        yield "Patient", resource


def encounters(visits: pd.DataFrame, details: pd.DataFrame, costs: pd.DataFrame | None) -> Iterator[tuple[str, dict[str, Any]]]:
    """visit_occurrence → Encounter: PMSI fields as workbench codes, movements as `location`, the GHM as an extension."""
    groupings: dict[int, list[dict[str, Any]]] = {}
    for row in ([] if costs is None else costs.sort_values("cost_id").itertuples(index=False)):
        if _value(row.drg_source_value) is not None and _value(row.visit_occurrence_id) is not None:
            groupings.setdefault(int(row.visit_occurrence_id), []).append(
                {"url": m.GHM_URL, "valueCoding": {"system": m.GHM, "version": _value(row.ghm_version), "code": row.drg_source_value}})
    moves: dict[int, list[dict[str, Any]]] = {}
    for row in details.sort_values(["visit_occurrence_id", "visit_detail_id"]).itertuples(index=False):
        moves.setdefault(int(row.visit_occurrence_id), []).append({
            "location": ref("Location", "cs", row.care_site_id),
            "physicalType": concept(coding(m.MOVEMENT, row.visit_detail_type_source_value)),
            "period": {"start": instant(row.visit_detail_start_datetime), "end": instant(row.visit_detail_end_datetime)},
        })
    for row in visits.itertuples(index=False):
        visit_type = _value(row.visit_source_value)
        end = _value(row.visit_end_datetime)
        hospitalization = {
            "admitSource": concept(coding(m.ADMISSION, row.admitted_from_source_value)),
            "dischargeDisposition": concept(coding(m.DISCHARGE, row.discharge_to_source_value)),
            "extension": [{"url": system, "valueCodeableConcept": concept(coding(system, value))}
                          for system, value in ((m.PROVENANCE, row.provenance_source_value), (m.DESTINATION, row.destination_source_value))
                          if _value(value) is not None],
        }
        yield "Encounter", {
            "resourceType": "Encounter", "id": f"v{int(row.visit_occurrence_id)}",
            "extension": groupings.get(int(row.visit_occurrence_id)),
            "identifier": [{"system": NDA, "value": _value(row.visit_occurrence_source_value)}],
            "status": "in-progress" if end is None else "finished",
            "class": {"system": m.ACT_CODE, "code": m.CLASS_OF_VISIT.get(str(visit_type), "AMB")},
            "type": [concept(coding(m.VISIT_TYPE, visit_type)), concept(coding(m.STAY_FIELD, row.stay_source_value)),
                     concept(coding(m.SOURCE, row.cdm_source))],
            "subject": ref("Patient", "p", row.person_id),
            "period": {"start": instant(row.visit_start_datetime), "end": instant(end)},
            "hospitalization": hospitalization,
            "serviceProvider": ref("Organization", "cs", row.care_site_id),
            "location": moves.get(int(row.visit_occurrence_id)),
        }


def conditions(rows: pd.DataFrame) -> Iterator[tuple[str, dict[str, Any]]]:
    """condition_occurrence → Condition (CIM-10; status DP/DR/DAS/DAD and source ORBIS/AREM as categories)."""
    for row in rows.itertuples(index=False):
        yield "Condition", {
            "resourceType": "Condition", "id": f"c{int(row.condition_occurrence_id)}",
            "category": [concept(coding(m.DIAGNOSIS_STATUS, row.condition_status_source_value)), concept(coding(m.SOURCE, row.cdm_source))],
            "code": concept(coding(m.CIM10, row.condition_source_value), foreign(row)),
            "subject": ref("Patient", "p", row.person_id), "encounter": ref("Encounter", "v", row.visit_occurrence_id),
            "onsetDateTime": instant(row.condition_start_datetime),
        }


def procedures(rows: pd.DataFrame) -> Iterator[tuple[str, dict[str, Any]]]:
    """procedure_occurrence → Procedure (CCAM)."""
    for row in rows.itertuples(index=False):
        yield "Procedure", {
            "resourceType": "Procedure", "id": f"a{int(row.procedure_occurrence_id)}", "status": "completed",
            "category": concept(coding(m.SOURCE, row.cdm_source)),
            "code": concept(coding(m.CCAM, row.procedure_source_value), foreign(row)),
            "subject": ref("Patient", "p", row.person_id), "encounter": ref("Encounter", "v", row.visit_occurrence_id),
            "performedDateTime": instant(row.procedure_datetime),
        }


def observations(rows: pd.DataFrame) -> Iterator[tuple[str, dict[str, Any]]]:
    """Rows of the `biology` view (local code, LOINC, label already joined) as Observations."""
    for row in rows.itertuples(index=False):
        loinc = _value(row.loinc)
        category = "vital-signs" if loinc in VITAL_SIGNS else "laboratory"
        local = None if _value(row.local_code) in (None, loinc) else coding(m.ANABIO, row.local_code, row.label)
        value, unit = _value(row.value), _value(row.unit)
        resource = {
            "resourceType": "Observation", "id": f"m{int(row.measurement_id)}",
            "status": m.FHIR_STATUS.get(str(_value(row.status)), "final"),
            "extension": [{"url": m.LAB_STATUS_URL, "valueCode": _value(row.status)}] if _value(row.status) else None,
            "category": [concept(coding(m.OBSERVATION_CATEGORY, category))],
            "code": concept(local, coding(m.LOINC, loinc, row.label), text=row.label),
            "subject": ref("Patient", "p", row.person_id), "encounter": ref("Encounter", "v", row.stay_id),
            "effectiveDateTime": instant(row.datetime),
            "referenceRange": [{"low": None if _value(row.range_low) is None else {"value": _value(row.range_low)},
                                "high": None if _value(row.range_high) is None else {"value": _value(row.range_high)}}],
        }
        unit = unit.strip() or None if isinstance(unit, str) else None
        if value is not None:
            resource["valueQuantity"] = {"value": value, "unit": unit, "system": m.UCUM if unit else None, "code": unit}
        yield "Observation", resource


def foreign(row: Any) -> dict[str, Any] | None:
    """The coding of a code kept with its own system (a warehouse loaded from FHIR), or None."""
    system = _value(getattr(row, "source_code_system", None))
    return None if system is None else coding(system, getattr(row, "source_code", None))


def _medication(row: Any) -> dict[str, Any] | None:
    return concept(coding(m.UCD, row.drug_ucd_source_value, row.drug_source_value), coding(m.ATC, row.drug_class_source_value),
                   foreign(row), text=row.drug_source_value)


def prescriptions(rows: pd.DataFrame) -> Iterator[tuple[str, dict[str, Any]]]:
    """drug_exposure_prescription → MedicationRequest (UCD, ATC; quantity in dispenseRequest)."""
    for row in rows.itertuples(index=False):
        quantity = _value(row.quantity)
        yield "MedicationRequest", {
            "resourceType": "MedicationRequest", "id": f"rx{int(row.drug_exposure_id)}", "status": "completed", "intent": "order",
            "category": [concept(coding(m.PRESCRIPTION_TYPE, row.prescription_type_source_value))],
            "medicationCodeableConcept": _medication(row),
            "subject": ref("Patient", "p", row.person_id), "encounter": ref("Encounter", "v", row.visit_occurrence_id),
            "authoredOn": instant(row.drug_exposure_start_datetime),
            "dosageInstruction": [{"route": concept(text=row.route_source_value),
                                   "timing": {"repeat": {"boundsPeriod": {"start": instant(row.drug_exposure_start_datetime),
                                                                          "end": instant(row.drug_exposure_end_datetime)}}}}],
            "dispenseRequest": {"quantity": None if quantity is None else {"value": quantity, "unit": _value(row.dose_unit_source_value)}},
        }


def administrations(rows: pd.DataFrame) -> Iterator[tuple[str, dict[str, Any]]]:
    """drug_exposure_administration → MedicationAdministration."""
    for row in rows.itertuples(index=False):
        quantity = _value(row.quantity)
        yield "MedicationAdministration", {
            "resourceType": "MedicationAdministration", "id": f"ad{int(row.drug_exposure_id)}", "status": "completed",
            "medicationCodeableConcept": _medication(row),
            "subject": ref("Patient", "p", row.person_id), "context": ref("Encounter", "v", row.visit_occurrence_id),
            "effectivePeriod": {"start": instant(row.drug_exposure_start_datetime), "end": instant(row.drug_exposure_end_datetime)},
            "dosage": {"route": concept(text=row.route_source_value),
                       "dose": None if quantity is None else {"value": quantity, "unit": _value(row.dose_unit_source_value)}},
        }


def documents(rows: pd.DataFrame) -> Iterator[tuple[str, dict[str, Any]]]:
    """note → DocumentReference (text as a base64 text/plain attachment)."""
    for row in rows.itertuples(index=False):
        text = _value(row.note_text) or ""
        yield "DocumentReference", {
            "resourceType": "DocumentReference", "id": f"n{int(row.note_id)}", "status": "current",
            "type": concept(coding(m.NOTE_CLASS, row.note_class_source_value)),
            "subject": ref("Patient", "p", row.person_id), "date": instant(row.note_datetime),
            "content": [{"attachment": {"contentType": "text/plain; charset=utf-8",
                                        "data": base64.b64encode(text.encode("utf-8")).decode("ascii")}}],
            "context": {"encounter": [ref("Encounter", "v", row.visit_occurrence_id)]},
        }


def forms(rows: pd.DataFrame) -> Iterator[tuple[str, dict[str, Any]]]:
    """`formulaire` rows grouped back into QuestionnaireResponses (one per form, patient, stay and time)."""
    keys = ["questionnaire", "person_id", "visit_occurrence_id", "authored_datetime", "form_status"]
    for number, (_, group) in enumerate(rows.sort_values("formulaire_id").groupby(keys, dropna=False, sort=False), start=1):
        first = group.iloc[0]
        items = []
        for row in group.itertuples(index=False):
            kind = str(row.answer_type)
            answer: dict[str, Any]
            if kind == "boolean":
                answer = {"valueBoolean": row.value_string == "true"}
            elif kind == "integer":
                answer = {"valueInteger": int(row.value_number)}
            elif kind == "decimal":
                answer = {"valueDecimal": _value(row.value_number)}
            elif kind == "quantity":
                answer = {"valueQuantity": {"value": _value(row.value_number), "unit": _value(row.value_string)}}
            elif kind == "date":
                answer = {"valueDate": day(row.value_datetime)}
            elif kind == "datetime":
                answer = {"valueDateTime": instant(row.value_datetime)}
            elif kind == "coding":
                answer = {"valueCoding": coding(str(_value(row.value_code_system) or ""), row.value_code, row.value_string)}
            else:
                answer = {"valueString": _value(row.value_string)}
            items.append({"linkId": row.item_link_id, "text": _value(row.item_text), "answer": [answer]})
        yield "QuestionnaireResponse", {
            "resourceType": "QuestionnaireResponse", "id": f"f{number}", "questionnaire": _value(first.questionnaire),
            "status": _value(first.form_status) or "completed", "subject": ref("Patient", "p", first.person_id),
            "encounter": ref("Encounter", "v", first.visit_occurrence_id), "authored": instant(first.authored_datetime), "item": items,
        }


# ------------------------------------------------------------------ the export


@contextmanager
def _target(out: Path) -> Iterator[Path]:
    """A temporary folder beside `out`, moved in place of `out` once every file is written."""
    out = Path(out).expanduser()
    if out.exists() and (not out.is_dir() or any(p for p in out.iterdir() if not p.name.endswith(".ndjson") and p.name != "deleted")):
        raise UserError(f"--out {out} : le dossier existe et ne contient pas que des fichiers NDJSON (choisissez un dossier nouveau)")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{out.name}.export-", dir=out.parent))
    except OSError as error:
        raise UserError(f"--out {out} : dossier non inscriptible ({error.strerror or error})") from error
    try:
        yield work
        if out.exists():
            shutil.rmtree(out)
        os.replace(work, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def export(warehouse: Any, out: Path, progress: Callable[[str, int], Callable[[], None]] | None = None) -> dict[str, int]:
    """Write the current rows of an AP-HP-flavoured `warehouse` as FHIR bulk NDJSON into `out`; returns counts per type."""
    if warehouse.flavour != "aphp":
        raise UserError(f"export FHIR : seul un entrepôt de saveur AP-HP s'exporte (saveur {warehouse.flavour})")

    deleted: list[str] = []

    def read(table: str) -> pd.DataFrame | None:
        """Every row of a raw table; the soft-deleted ones also go to the deleted list."""
        if table not in warehouse.tables or not warehouse.readable(table):
            return None
        frame = warehouse.execute(warehouse.table(table))
        if table in DELETED_KINDS and "row_status_source_value" in frame.columns:
            kind, prefix, key = DELETED_KINDS[table]
            gone = frame[frame.row_status_source_value == "supprimé"]
            deleted.extend(f"{kind}/{prefix}{int(i)}" for i in gone[key])
        return frame

    sites = read("care_site")
    links = read("fact_relationship")
    parents: dict[int, int] = {}
    if links is not None:
        part_of = links[(links.relationship_concept_id == m.IS_PART_OF) & (links.domain_concept_id_1 == m.CARE_SITE_DOMAIN)]
        parents = {int(a): int(b) for a, b in zip(part_of.fact_id_1, part_of.fact_id_2)}
    empty = pd.DataFrame()
    sources: list[tuple[str, Callable[[], Iterator[tuple[str, dict[str, Any]]]]]] = [
        ("Structures", lambda: care_sites(sites if sites is not None else empty, parents)),
        ("Patient", lambda: patients(read("person"), read("person_identity"))),
        ("Encounter", lambda: encounters(read("visit_occurrence"), read("visit_detail"), read("cost"))),
        ("Condition", lambda: conditions(read("condition_occurrence"))),
        ("Procedure", lambda: procedures(read("procedure_occurrence"))),
        ("Observation", lambda: observations(warehouse.execute(warehouse.view("biology")))),
        ("MedicationRequest", lambda: prescriptions(read("drug_exposure_prescription"))),
        ("MedicationAdministration", lambda: administrations(read("drug_exposure_administration"))),
        ("DocumentReference", lambda: documents(read("note"))),
        ("QuestionnaireResponse", lambda: forms(read("formulaire"))),
    ]
    needed = {"Structures": "care_site", "Patient": "person", "Encounter": "visit_occurrence", "Condition": "condition_occurrence",
              "Procedure": "procedure_occurrence", "Observation": "measurement", "MedicationRequest": "drug_exposure_prescription",
              "MedicationAdministration": "drug_exposure_administration", "DocumentReference": "note", "QuestionnaireResponse": "formulaire"}
    counts: dict[str, int] = {}
    with _target(out) as work:
        handles: dict[str, Any] = {}
        try:
            for label, produce in sources:
                if needed[label] not in warehouse.tables or not warehouse.readable(needed[label]):
                    continue
                advance = progress(label, 0) if progress else (lambda: None)
                for kind, resource in produce():
                    handle = handles.get(kind)
                    if handle is None:
                        handle = handles[kind] = (work / f"{kind}.000.ndjson").open("w", encoding="utf-8")
                    handle.write(json.dumps(_clean(resource), ensure_ascii=False, separators=(",", ":")) + "\n")
                    counts[kind] = counts.get(kind, 0) + 1
                    advance()
        finally:
            for handle in handles.values():
                handle.close()
        if deleted:
            (work / "deleted").mkdir()
            bundle = {"resourceType": "Bundle", "type": "transaction",
                      "entry": [{"request": {"method": "DELETE", "url": url}} for url in deleted]}
            (work / "deleted" / "deleted.ndjson").write_text(json.dumps(bundle) + "\n", encoding="utf-8")
            counts["deleted"] = len(deleted)
    return counts
