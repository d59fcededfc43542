"""FHIR R4 resources → rows of the AP-HP-flavoured tables (`workbench/schema/aphp_tables.yaml`).

One function per resource type. A function receives the parsed resource and a
:class:`Resolver` (references → integer ids, concepts) and returns the rows it
produces as ``(table, row)`` pairs; it raises :class:`MappingError` with a
French reason when the resource cannot be placed (missing subject,
unresolvable reference, bad date), which sends it to quarantine.

Codes keep their system. Only the French nomenclatures (CIM-10, CCAM, UCD, ATC)
fill the ``*_source_value`` columns the canonical views read as such; any other
system (SNOMED CT, RxNorm, ICD-10-CM…) goes to ``source_code_system`` /
``source_code`` and the view sees no code rather than a foreign one. The same
constants drive the exporter (`workbench.fhir.export`), so a round trip keeps
the French codes where they were.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, Protocol

WORKBENCH = "https://eds-workbench.aphp.fr/fhir/CodeSystem/"
CIM10 = "https://smt.esante.gouv.fr/terminologie-cim-10/"
CCAM = "https://smt.esante.gouv.fr/terminologie-ccam/"
UCD = "https://smt.esante.gouv.fr/terminologie-ucd/"
ATC = "http://www.whocc.no/atc"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
ANABIO = WORKBENCH + "anabio"
#: Other spellings of the French systems met in French implementation guides.
ALIASES = {
    "http://hl7.org/fhir/sid/icd-10-fr": CIM10,
    "urn:oid:2.16.840.1.113883.6.3.FR": CIM10,
    "http://www.ameli.fr/ccam": CCAM,
    "urn:oid:1.2.250.1.213.2.5": CCAM,
    "https://www.whocc.no/atc": ATC,
}
#: Codes of what FHIR has no standard value set for (levels of care sites, PMSI fields…).
LEVEL = WORKBENCH + "niveau-structure"
UNIT_TYPE = WORKBENCH + "type-unite"
VISIT_TYPE = WORKBENCH + "type-visite"
STAY_FIELD = WORKBENCH + "champ-pmsi"
ADMISSION = WORKBENCH + "mode-entree"
PROVENANCE = WORKBENCH + "provenance"
DISCHARGE = WORKBENCH + "mode-sortie"
DESTINATION = WORKBENCH + "destination"
MOVEMENT = WORKBENCH + "type-mouvement"
DIAGNOSIS_STATUS = WORKBENCH + "statut-diagnostic"
NOTE_CLASS = WORKBENCH + "type-document"
PRESCRIPTION_TYPE = WORKBENCH + "type-prescription"
SOURCE = WORKBENCH + "systeme-source"
#: Extension of an Encounter carrying its PMSI grouping (GHM, with the classification version as coding version).
GHM_URL = "https://eds-workbench.aphp.fr/fhir/StructureDefinition/ghm"
GHM = WORKBENCH + "ghm"
#: Extension carrying the laboratory's own status (Validé, Disponible…), finer than Observation.status.
LAB_STATUS_URL = "https://eds-workbench.aphp.fr/fhir/StructureDefinition/statut-laboratoire"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
MEASURED_CATEGORIES = ("laboratory", "vital-signs")

VISIT_OF_CLASS = {"IMP": "hospitalisés", "ACUTE": "hospitalisés", "NONAC": "hospitalisés", "EMER": "urgence",
                  "AMB": "consultation externe", "SS": "hospitalisation incomplète", "OBSENC": "hospitalisation incomplète"}
CLASS_OF_VISIT = {"hospitalisés": "IMP", "urgence": "EMER", "consultation externe": "AMB", "hospitalisation incomplète": "SS"}
LAB_STATUS = {"final": "Validé", "amended": "Confirmé", "corrected": "Confirmé", "preliminary": "Initial",
              "registered": "Attendu", "cancelled": "Discontinué", "entered-in-error": "Discontinué"}
FHIR_STATUS = {"Validé": "final", "Confirmé": "amended", "Initial": "preliminary", "Attendu": "registered",
               "Discontinué": "cancelled", "Disponible": "final"}
SOURCE_SYSTEM = "FHIR"
CARE_SITE_DOMAIN = 57
IS_PART_OF = 46233688

Row = dict[str, Any]
Rows = list[tuple[str, Row]]


class MappingError(Exception):
    """A resource that cannot be mapped: its reason (a short French category, the filter of
    `workbench ingest quarantine --reason`) and the detail go to quarantine."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason} : {detail}")
        self.reason = reason
        self.detail = detail


class Resolver(Protocol):
    """What a mapping function needs from the load: ids of this resource's rows and of referenced ones."""

    def own(self, table: str, part: str = "") -> int: ...

    def reference(self, value: Any, field: str, types: tuple[str, ...], required: bool = False) -> int | None: ...

    def concept(self, system: str, code: str, label: str | None) -> int: ...

    def maps_to(self, local_id: int, standard_id: int) -> None: ...


# ------------------------------------------------------------------ helpers


def system_of(coding: dict[str, Any]) -> str:
    """The system of a coding, French aliases folded onto the one URI the loader and the exporter use."""
    system = str(coding.get("system") or "")
    return ALIASES.get(system, ALIASES.get(system.rstrip("/"), system))


def codings(concept: Any) -> list[dict[str, Any]]:
    """The codings of a CodeableConcept that carry a code."""
    if not isinstance(concept, dict):
        return []
    return [c for c in concept.get("coding") or [] if isinstance(c, dict) and c.get("code")]


def code_in(concept: Any, *systems: str) -> str | None:
    """The code of the first coding of `concept` in one of `systems`."""
    for coding in codings(concept):
        if system_of(coding) in systems:
            return str(coding["code"])
    return None


def codes_of(concepts: Any, system: str) -> str | None:
    """The first code of `system` among a list of CodeableConcepts."""
    for concept in concepts or []:
        found = code_in(concept, system)
        if found is not None:
            return found
    return None


def label_of(concept: Any) -> str | None:
    """The text of a CodeableConcept, else its first display."""
    if not isinstance(concept, dict):
        return None
    if concept.get("text"):
        return str(concept["text"])
    return next((str(c["display"]) for c in codings(concept) if c.get("display")), None)


def foreign_code(concept: Any, french: tuple[str, ...]) -> tuple[str | None, str | None]:
    """(system, code) of the first coding outside the French systems `french`, kept as received."""
    for coding in codings(concept):
        if system_of(coding) not in french:
            return system_of(coding) or None, str(coding["code"])
    return None, None


def instant(value: Any, field: str) -> datetime | None:
    """A FHIR date/dateTime/instant as a naive timestamp (the wall-clock time written at the source)."""
    if value is None:
        return None
    text = str(value)
    try:
        if len(text) == 4:
            return datetime(int(text), 1, 1)
        if len(text) == 7:
            return datetime(int(text[:4]), int(text[5:7]), 1)
        return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=None)
    except ValueError as error:
        raise MappingError("date invalide", f"« {field} » : {text!r}") from error


def period(resource: dict[str, Any], field: str) -> tuple[datetime | None, datetime | None]:
    """(start, end) of a Period element of `resource`."""
    value = resource.get(field) or {}
    return instant(value.get("start"), f"{field}.start"), instant(value.get("end"), f"{field}.end")


def subject(resource: dict[str, Any], resolve: Resolver, field: str = "subject") -> int:
    """The person id of the resource's subject (required: a resource about nobody cannot be placed)."""
    found = resolve.reference(resource.get(field), field, ("Patient",), required=True)
    assert found is not None
    return found


def attachment_text(attachment: Any) -> str | None:
    """The text of an attachment: base64 `data` decoded as UTF-8 (text/* only)."""
    if not isinstance(attachment, dict) or not attachment.get("data"):
        return None
    content_type = str(attachment.get("contentType") or "text/plain")
    if not content_type.startswith("text/"):
        return None
    try:
        return base64.b64decode(attachment["data"], validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError) as error:
        raise MappingError("pièce jointe illisible", f"base64 UTF-8 attendu ({error})") from error


def _status() -> Row:
    return {"row_status_source_value": "courant"}


# ------------------------------------------------------------------ structures


def _care_site(resource: dict[str, Any], resolve: Resolver, default_level: str, parent_fields: tuple[str, ...]) -> Rows:
    site_id = resolve.own("care_site")
    identifier = next((str(i["value"]) for i in resource.get("identifier") or [] if isinstance(i, dict) and i.get("value")), None)
    types = resource.get("type") or []
    types = types if isinstance(types, list) else [types]
    row: Row = {
        "care_site_id": site_id,
        "care_site_source_value": identifier or resource.get("id"),
        "care_site_name": resource.get("name"),
        "care_site_short_name": (resource.get("alias") or [None])[0],
        "care_site_type_source_value": codes_of(types, LEVEL) or default_level,
        "place_of_service_source_value": codes_of(types, UNIT_TYPE),
        **_status(),
    }
    rows: Rows = [("care_site", row)]
    for field in parent_fields:
        parent = resolve.reference(resource.get(field), field, ("Organization", "Location"))
        if parent is not None:
            rows.append(("fact_relationship", {"domain_concept_id_1": CARE_SITE_DOMAIN, "fact_id_1": site_id,
                                               "domain_concept_id_2": CARE_SITE_DOMAIN, "fact_id_2": parent,
                                               "relationship_concept_id": IS_PART_OF}))
            break
    return rows


def organization(resource: dict[str, Any], resolve: Resolver) -> Rows:
    """Organization → care_site (level from the workbench's level code, else « Hôpital »), partOf → the tree."""
    return _care_site(resource, resolve, "Hôpital", ("partOf",))


def location(resource: dict[str, Any], resolve: Resolver) -> Rows:
    """Location → care_site (level « UF » unless coded), partOf or managingOrganization → the tree."""
    return _care_site(resource, resolve, "UF", ("partOf", "managingOrganization"))


# ------------------------------------------------------------------ patients and stays


def _birth_postcode(resource: dict[str, Any]) -> str | None:
    for extension in resource.get("extension") or []:
        if str(extension.get("url", "")).endswith("patient-birthPlace"):
            return (extension.get("valueAddress") or {}).get("postalCode")
    return None


def patient(resource: dict[str, Any], resolve: Resolver) -> Rows:
    """Patient → person (pseudonymised facts) and person_identity (names, birth data: nominative)."""
    person_id = resolve.own("person")
    gender = {"male": "m", "female": "f"}.get(str(resource.get("gender") or ""), resource.get("gender"))
    birth = instant(resource.get("birthDate"), "birthDate")
    death = instant(resource.get("deceasedDateTime"), "deceasedDateTime")
    names = [n for n in resource.get("name") or [] if isinstance(n, dict)]
    name = next((n for n in names if n.get("use") == "official"), names[0] if names else {})
    person = {"person_id": person_id, "gender_source_value": gender, "birth_datetime": birth,
              "death_datetime": death, "cdm_source": SOURCE_SYSTEM, **_status()}
    identity = {"person_id": person_id, "family_name": name.get("family"), "given_name": " ".join(name.get("given") or []) or None,
                "birth_date": None if birth is None else birth.date(), "sex": {"m": "M", "f": "F"}.get(str(gender)),
                "birth_postcode": _birth_postcode(resource), **_status()}
    return [("person", person), ("person_identity", identity)]


def encounter(resource: dict[str, Any], resolve: Resolver) -> Rows:
    """Encounter → visit_occurrence, one visit_detail (movement) per `location` entry, its GHM (extension) → cost."""
    visit_id = resolve.own("visit_occurrence")
    person_id = subject(resource, resolve)
    start, end = period(resource, "period")
    klass = resource.get("class") or {}
    types = resource.get("type") or []
    hospitalization = resource.get("hospitalization") or {}
    visit_type = codes_of(types, VISIT_TYPE) or VISIT_OF_CLASS.get(str(klass.get("code")), klass.get("code"))
    nda = next((str(i["value"]) for i in resource.get("identifier") or [] if isinstance(i, dict) and i.get("value")), None)
    rows: Rows = [("visit_occurrence", {
        "visit_occurrence_id": visit_id,
        "person_id": person_id,
        "care_site_id": resolve.reference(resource.get("serviceProvider"), "serviceProvider", ("Organization", "Location")),
        "visit_start_datetime": start,
        "visit_end_datetime": end,
        "visit_source_value": visit_type,
        "stay_source_value": codes_of(types, STAY_FIELD),
        "admitted_from_source_value": code_in(hospitalization.get("admitSource"), ADMISSION),
        "provenance_source_value": code_in(_extension_concept(hospitalization, PROVENANCE), PROVENANCE),
        "discharge_to_source_value": code_in(hospitalization.get("dischargeDisposition"), DISCHARGE),
        "destination_source_value": code_in(_extension_concept(hospitalization, DESTINATION), DESTINATION),
        "visit_occurrence_source_value": nda or resource.get("id"),
        "cdm_source": codes_of(types, SOURCE) or SOURCE_SYSTEM,
        "source_code_system": ACT_CODE if klass.get("code") else None,
        "source_code": klass.get("code"),
        **_status(),
    })]
    for index, extension in enumerate(e for e in resource.get("extension") or [] if e.get("url") == GHM_URL):
        grouping = extension.get("valueCoding") or {}
        rows.append(("cost", {"cost_id": resolve.own("cost", f"ghm/{index}"), "visit_occurrence_id": visit_id,
                              "drg_source_value": grouping.get("code"), "ghm_version": grouping.get("version")}))
    for index, place in enumerate(resource.get("location") or []):
        detail_start, detail_end = period(place, "period")
        rows.append(("visit_detail", {
            "visit_detail_id": resolve.own("visit_detail", f"location/{index}"),
            "visit_occurrence_id": visit_id,
            "person_id": person_id,
            "care_site_id": resolve.reference(place.get("location"), f"location[{index}].location", ("Location",), required=True),
            "visit_detail_start_datetime": detail_start or start,
            "visit_detail_end_datetime": detail_end or (end if detail_start is None else None),
            "visit_detail_type_source_value": code_in(place.get("physicalType"), MOVEMENT) or "PASS UF",
            **_status(),
        }))
    return rows


def _extension_concept(element: dict[str, Any], system: str) -> dict[str, Any] | None:
    """A CodeableConcept carried by an extension whose url is the code system (PMSI fields FHIR lacks)."""
    for extension in element.get("extension") or []:
        if extension.get("url") == system:
            return extension.get("valueCodeableConcept")
    return None


def _visit(resource: dict[str, Any], resolve: Resolver, field: str = "encounter") -> int | None:
    return resolve.reference(resource.get(field), field, ("Encounter",))


# ------------------------------------------------------------------ clinical facts


def condition(resource: dict[str, Any], resolve: Resolver) -> Rows:
    """Condition → condition_occurrence: CIM-10 in condition_source_value (no dot), any other system kept aside."""
    code = resource.get("code")
    cim10 = code_in(code, CIM10)
    system, foreign = (None, None) if cim10 else foreign_code(code, (CIM10,))
    if cim10 is None and foreign is None:
        raise MappingError("code manquant", "diagnostic sans « code.coding »")
    return [("condition_occurrence", {
        "condition_occurrence_id": resolve.own("condition_occurrence"),
        "person_id": subject(resource, resolve),
        "visit_occurrence_id": _visit(resource, resolve),
        "condition_start_datetime": instant(resource.get("onsetDateTime") or resource.get("recordedDate"), "onsetDateTime"),
        "condition_source_value": None if cim10 is None else cim10.replace(".", ""),
        "condition_status_source_value": codes_of(resource.get("category"), DIAGNOSIS_STATUS),
        "cdm_source": codes_of(resource.get("category"), SOURCE) or SOURCE_SYSTEM,
        "source_code_system": system,
        "source_code": foreign,
        **_status(),
    })]


def procedure(resource: dict[str, Any], resolve: Resolver) -> Rows:
    """Procedure → procedure_occurrence: CCAM in procedure_source_value, any other system kept aside."""
    code = resource.get("code")
    ccam = code_in(code, CCAM)
    system, foreign = (None, None) if ccam else foreign_code(code, (CCAM,))
    if ccam is None and foreign is None:
        raise MappingError("code manquant", "acte sans « code.coding »")
    when = resource.get("performedDateTime") or (resource.get("performedPeriod") or {}).get("start")
    return [("procedure_occurrence", {
        "procedure_occurrence_id": resolve.own("procedure_occurrence"),
        "person_id": subject(resource, resolve),
        "visit_occurrence_id": _visit(resource, resolve),
        "procedure_source_value": ccam,
        "procedure_datetime": instant(when, "performed"),
        "cdm_source": code_in(resource.get("category"), SOURCE) or SOURCE_SYSTEM,
        "source_code_system": system,
        "source_code": foreign,
        **_status(),
    })]


def observation(resource: dict[str, Any], resolve: Resolver) -> Rows | None:
    """Observation (laboratory, vital signs) → measurement; the local (ANABIO) code maps to LOINC through `concept`.

    Other categories (social history, surveys…) have no destination: None (counted as ignored).
    """
    categories = {c["code"] for concept in resource.get("category") or [] for c in codings(concept)}
    if not categories & set(MEASURED_CATEGORIES):
        return None
    code = resource.get("code")
    loinc = code_in(code, LOINC)
    local = code_in(code, ANABIO)
    if loinc is None and local is None:
        raise MappingError("code manquant", "résultat sans code LOINC ni code local dans « code.coding »")
    label = label_of(code)
    loinc_id = None if loinc is None else resolve.concept(LOINC, loinc, label)
    local_id = loinc_id if local is None else resolve.concept(ANABIO, local, label)
    if loinc_id is not None and local_id is not None:
        resolve.maps_to(local_id, loinc_id)
    quantity = resource.get("valueQuantity") or {}
    ranges = (resource.get("referenceRange") or [{}])[0]
    if "valueQuantity" in resource:
        received = quantity.get("value")
    else:
        received = next((resource[k] for k in ("valueString", "valueInteger", "valueBoolean") if k in resource), None)
        if received is None and "valueCodeableConcept" in resource:
            received = label_of(resource["valueCodeableConcept"])
    return [("measurement", {
        "measurement_id": resolve.own("measurement"),
        "person_id": subject(resource, resolve),
        "visit_occurrence_id": _visit(resource, resolve),
        "measurement_source_concept_id": local_id,
        "measurement_datetime": instant(resource.get("effectiveDateTime") or (resource.get("effectivePeriod") or {}).get("start")
                                        or resource.get("issued"), "effectiveDateTime"),
        "value_as_number": quantity.get("value"),
        "unit_source_value": quantity.get("code") if quantity.get("system") == UCUM and quantity.get("code") else quantity.get("unit"),
        "range_low": (ranges.get("low") or {}).get("value"),
        "range_high": (ranges.get("high") or {}).get("value"),
        "value_source_value": None if received is None else str(received),
        "row_status_source_value": _lab_status(resource),
        "source_code_system": LOINC if loinc else ANABIO,
        "source_code": loinc or local,
    })]


def _lab_status(resource: dict[str, Any]) -> str:
    """The laboratory's own status when the workbench's extension carries it, else the FHIR status's French name."""
    for extension in resource.get("extension") or []:
        if extension.get("url") == LAB_STATUS_URL and extension.get("valueCode"):
            return str(extension["valueCode"])
    return LAB_STATUS.get(str(resource.get("status")), "Disponible")


def _medication(resource: dict[str, Any]) -> tuple[Row, dict[str, Any]]:
    concept = resource.get("medicationCodeableConcept") or {}
    if not concept and isinstance(resource.get("medicationReference"), dict):
        concept = {"text": resource["medicationReference"].get("display")}
    ucd, atc = code_in(concept, UCD), code_in(concept, ATC)
    system, foreign = foreign_code(concept, (UCD, ATC))
    label = label_of(concept)
    if ucd is None and atc is None and foreign is None and label is None:
        raise MappingError("code manquant", "médicament sans code ni libellé (« medicationCodeableConcept »)")
    return {"drug_source_value": label, "drug_ucd_source_value": ucd, "drug_class_source_value": atc,
            "source_code_system": system, "source_code": foreign}, concept


def _dose(dosage: dict[str, Any]) -> tuple[Any, Any, Any]:
    """(quantity, unit, route) of a Dosage or of a MedicationAdministration.dosage."""
    dose = dosage.get("dose") or next((d.get("doseQuantity") for d in dosage.get("doseAndRate") or [] if d.get("doseQuantity")), None) or {}
    return dose.get("value"), dose.get("unit") or dose.get("code"), label_of(dosage.get("route"))


def medication_request(resource: dict[str, Any], resolve: Resolver) -> Rows:
    """MedicationRequest → drug_exposure_prescription (UCD, ATC in their columns; RxNorm… kept aside)."""
    drug, _ = _medication(resource)
    dosage = (resource.get("dosageInstruction") or [{}])[0]
    quantity, unit, route = _dose(dosage)
    supply = (resource.get("dispenseRequest") or {}).get("quantity") or {}
    bounds = ((dosage.get("timing") or {}).get("repeat") or {}).get("boundsPeriod") or {}
    start = instant(bounds.get("start") or resource.get("authoredOn"), "authoredOn")
    return [("drug_exposure_prescription", {
        "drug_exposure_id": resolve.own("drug_exposure_prescription"),
        "person_id": subject(resource, resolve),
        "visit_occurrence_id": _visit(resource, resolve),
        **drug,
        "route_source_value": route,
        "dose_unit_source_value": supply.get("unit") or unit,
        "quantity": supply.get("value", quantity),
        "drug_exposure_start_datetime": start,
        "drug_exposure_end_datetime": instant(bounds.get("end"), "boundsPeriod.end"),
        "prescription_type_source_value": codes_of(resource.get("category"), PRESCRIPTION_TYPE),
        **_status(),
    })]


def medication_administration(resource: dict[str, Any], resolve: Resolver) -> Rows:
    """MedicationAdministration → drug_exposure_administration."""
    drug, _ = _medication(resource)
    quantity, unit, route = _dose(resource.get("dosage") or {})
    start = resource.get("effectiveDateTime") or (resource.get("effectivePeriod") or {}).get("start")
    end = (resource.get("effectivePeriod") or {}).get("end")
    return [("drug_exposure_administration", {
        "drug_exposure_id": resolve.own("drug_exposure_administration"),
        "person_id": subject(resource, resolve),
        "visit_occurrence_id": _visit(resource, resolve, "context"),
        **drug,
        "route_source_value": route,
        "dose_unit_source_value": unit,
        "quantity": quantity,
        "drug_exposure_start_datetime": instant(start, "effectiveDateTime"),
        "drug_exposure_end_datetime": instant(end, "effectivePeriod.end"),
        **_status(),
    })]


def _note(resource: dict[str, Any], resolve: Resolver, *, text: str | None, when: Any, kind: Any, visit: int | None) -> Rows:
    if not text:
        raise MappingError("texte manquant", "document sans texte (pièce jointe text/* en base64 attendue)")
    return [("note", {
        "note_id": resolve.own("note"),
        "person_id": subject(resource, resolve),
        "visit_occurrence_id": visit,
        "note_datetime": instant(when, "date"),
        "note_class_source_value": code_in(kind, NOTE_CLASS) or label_of(kind),
        "note_text": text,
        "cdm_source": SOURCE_SYSTEM,
        **_status(),
    })]


def document_reference(resource: dict[str, Any], resolve: Resolver) -> Rows:
    """DocumentReference → note (first text attachment), linked to the stay of `context.encounter`."""
    text = next((t for content in resource.get("content") or [] if (t := attachment_text(content.get("attachment")))), None)
    encounters = (resource.get("context") or {}).get("encounter") or []
    visit = resolve.reference(encounters[0], "context.encounter", ("Encounter",)) if encounters else None
    return _note(resource, resolve, text=text, when=resource.get("date"), kind=resource.get("type"), visit=visit)


def diagnostic_report(resource: dict[str, Any], resolve: Resolver) -> Rows:
    """DiagnosticReport → note: its presented text, else its conclusion."""
    text = next((t for form in resource.get("presentedForm") or [] if (t := attachment_text(form))), None) or resource.get("conclusion")
    when = resource.get("effectiveDateTime") or (resource.get("effectivePeriod") or {}).get("start") or resource.get("issued")
    return _note(resource, resolve, text=text, when=when, kind=resource.get("code"), visit=_visit(resource, resolve))


ANSWER_TYPES = ("valueString", "valueInteger", "valueDecimal", "valueBoolean", "valueDate", "valueDateTime",
                "valueCoding", "valueQuantity", "valueTime", "valueUri")


def _answers(items: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(item, answer) of every answered item, nested items included (depth first, in order)."""
    for item in items or []:
        for answer in item.get("answer") or []:
            yield item, answer
            yield from _answers(answer.get("item") or [])
        yield from _answers(item.get("item") or [])


def _typed(answer: dict[str, Any], link: str) -> Row:
    kind = next((k for k in ANSWER_TYPES if k in answer), None)
    if kind is None:
        raise MappingError("réponse invalide", f"réponse sans valeur typée (item « {link} »)")
    value = answer[kind]
    row: Row = {"answer_type": kind[len("value"):].lower(), "value_string": None, "value_number": None,
                "value_datetime": None, "value_code": None, "value_code_system": None}
    if kind in ("valueInteger", "valueDecimal"):
        row["value_number"] = float(value)
    elif kind == "valueQuantity":
        row["value_number"], row["value_string"] = value.get("value"), value.get("unit") or value.get("code")
    elif kind in ("valueDate", "valueDateTime"):
        row["value_datetime"] = instant(value, f"item {link}")
    elif kind == "valueCoding":
        row["value_code"], row["value_code_system"], row["value_string"] = value.get("code"), value.get("system"), value.get("display")
    elif kind == "valueBoolean":
        row["value_string"] = "true" if value else "false"
    else:
        row["value_string"] = str(value)
    return row


def questionnaire_response(resource: dict[str, Any], resolve: Resolver) -> Rows:
    """QuestionnaireResponse → formulaire: one row per answer (questionnaire, item link id, typed answer)."""
    person_id = subject(resource, resolve)
    visit = _visit(resource, resolve)
    authored = instant(resource.get("authored"), "authored")
    rows: Rows = []
    for index, (item, answer) in enumerate(_answers(resource.get("item") or [])):
        link = str(item.get("linkId") or "")
        rows.append(("formulaire", {
            "formulaire_id": resolve.own("formulaire", f"answer/{index}"),
            "person_id": person_id,
            "visit_occurrence_id": visit,
            "questionnaire": resource.get("questionnaire"),
            "authored_datetime": authored,
            "item_link_id": link,
            "item_text": item.get("text"),
            **_typed(answer, link),
            "form_status": resource.get("status"),
            **_status(),
        }))
    if not rows:
        raise MappingError("réponse invalide", "formulaire sans aucune réponse (« item.answer » vide)")
    return rows


Mapper = Callable[[dict[str, Any], Resolver], "Rows | None"]
#: Resource types with a destination, in the order they are loaded (what others reference first).
MAPPERS: dict[str, Mapper] = {
    "Organization": organization,
    "Location": location,
    "Patient": patient,
    "Encounter": encounter,
    "Condition": condition,
    "Procedure": procedure,
    "Observation": observation,
    "MedicationRequest": medication_request,
    "MedicationAdministration": medication_administration,
    "DocumentReference": document_reference,
    "DiagnosticReport": diagnostic_report,
    "QuestionnaireResponse": questionnaire_response,
}
#: Columns the loader adds to the contract's tables: codes of foreign systems and a deletion date.
CODE_COLUMNS = {"source_code_system": "string", "source_code": "string"}
EXTRA_COLUMNS: dict[str, dict[str, str]] = {
    "visit_occurrence": CODE_COLUMNS,
    "condition_occurrence": CODE_COLUMNS,
    "procedure_occurrence": CODE_COLUMNS,
    "measurement": CODE_COLUMNS,
    "drug_exposure_prescription": CODE_COLUMNS,
    "drug_exposure_administration": CODE_COLUMNS,
    "person": {"row_status_source_value": "string"},
    "person_identity": {"row_status_source_value": "string"},
    "care_site": {"row_status_source_value": "string"},
}
