"""The canonical views' contract: names, columns, types, categories, descriptions.

Both flavour mappings (`aphp.py`, `omop.py`) build ibis expressions; `conform`
then forces every view into exactly this shape, so an indicator written against
a view runs unchanged on either flavour and on either engine. A column whose
fact a flavour lacks is a typed null listed in ``unavailable`` — never zeros.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Protocol

import ibis
import ibis.expr.types as ir

from workbench.errors import UserError
from workbench.semantic.dimensions import AGE_BANDS, OTHER, SEXES, STAY_TYPES, VISIT_TYPES

STAY_CATEGORIES = ("hospitalisation_complete", "ambulatoire", "seance", "urgence", "consultation", OTHER)
LEVELS = ("aphp", "hopital", "pole", "service", "uf", "uh", "uc", OTHER)
MOVEMENT_TYPES = ("UF", "UH", "UC", "RUM", OTHER)
DIAGNOSIS_STATUSES = ("DP", "DR", "DAS", "DAD", OTHER)
PMSI_SOURCES = ("ORBIS", "AREM", OTHER)
DRUG_KINDS = ("prescription", "administration", OTHER)


@dataclass(frozen=True)
class Column:
    """One column of a canonical view: ibis type, French description, allowed values."""

    type: str
    description: str
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class ViewSpec:
    """A canonical view: what a user reads in `catalog show` and what `conform` enforces."""

    name: str
    description: str
    columns: Mapping[str, Column]
    date_column: str | None = None


@dataclass(frozen=True)
class Built:
    """A flavour's expression for a view, the raw tables it reads and the facts it lacks."""

    table: ir.Table
    reads: tuple[str, ...]
    unavailable: frozenset[str] = field(default_factory=frozenset)


class Sources(Protocol):
    """What a mapping needs from the warehouse: raw tables and already built views."""

    tables: list[str]

    def table(self, name: str) -> ir.Table: ...

    def view(self, name: str) -> ir.Table: ...


Builder = Callable[[Sources], Built]


def _c(type_: str, description: str, categories: tuple[str, ...] = ()) -> Column:
    return Column(type_, description, categories)


_ID = "int64"
_TS = "timestamp"

VIEWS: dict[str, ViewSpec] = {
    spec.name: spec
    for spec in [
        ViewSpec(
            "patients",
            "Patients : sexe normalisé, date de naissance, date de décès.",
            {
                "person_id": _c(_ID, "Identifiant du patient"),
                "sex": _c("string", "Sexe normalisé (M, F, inconnu)", SEXES),
                "birth_date": _c("date", "Date de naissance"),
                "death_date": _c("date", "Date de décès (vide si vivant ou inconnu)"),
            },
            "birth_date",
        ),
        ViewSpec(
            "care_sites",
            "Arbre des structures : chaque structure avec son niveau, son parent et les codes de ses ancêtres.",
            {
                "care_site_id": _c(_ID, "Identifiant de la structure"),
                "code": _c("string", "Code de la structure"),
                "name": _c("string", "Libellé"),
                "level": _c("string", "Niveau (aphp, hopital, pole, service, uf, uh, uc)", LEVELS),
                "parent_id": _c(_ID, "Structure parente"),
                "hospital": _c("string", "Code de l'hôpital d'appartenance"),
                "pole": _c("string", "Code du pôle/DMU (vide au-dessus de ce niveau)"),
                "service": _c("string", "Code du service (vide au-dessus de ce niveau)"),
                "uf": _c("string", "Code de l'UF (vide au-dessus de ce niveau)"),
                "place_of_service": _c("string", "Type d'unité PMSI (réanimation, USI, SC…)"),
            },
        ),
        ViewSpec(
            "stays",
            "Séjours non supprimés : type, catégorie, durée en nuits, modes d'entrée et de sortie, GHM, "
            "structure de sortie, âge et sexe du patient.",
            {
                "stay_id": _c(_ID, "Identifiant du séjour (visit_occurrence_id)"),
                "person_id": _c(_ID, "Identifiant du patient"),
                "nda": _c("string", "Numéro de dossier administratif"),
                "visit_type": _c("string", "Type de visite", VISIT_TYPES),
                "stay_type": _c("string", "Champ PMSI (MCO, SSR, PSY, SLD)", STAY_TYPES),
                "stay_category": _c(
                    "string",
                    "Catégorie : hospitalisation complète (≥ 1 nuit), ambulatoire (0 nuit), séance (CMD 28), "
                    "urgence, consultation",
                    STAY_CATEGORIES,
                ),
                "start_datetime": _c(_TS, "Date et heure d'entrée"),
                "end_datetime": _c(_TS, "Date et heure de sortie (vide si séjour en cours)"),
                "start_date": _c("date", "Date d'entrée"),
                "end_date": _c("date", "Date de sortie"),
                "nights": _c("int64", "Nombre de nuits : date de sortie − date d'entrée (vide si en cours ou incohérent)"),
                "is_open": _c("boolean", "Séjour non clos (pas de date de sortie)"),
                "admission_mode": _c("string", "Mode d'entrée (PMSI ; concept OMOP pour une source OMOP)"),
                "provenance": _c("string", "Provenance PMSI (5 = urgences)"),
                "discharge_mode": _c("string", "Mode de sortie (PMSI ; concept OMOP pour une source OMOP)"),
                "destination": _c("string", "Destination PMSI"),
                "from_emergency": _c("boolean", "Entrée par les urgences"),
                "died": _c("boolean", "Décès au cours du séjour"),
                "ghm": _c("string", "GHM complet"),
                "cmd": _c("string", "Catégorie majeure de diagnostic (2 premiers caractères du GHM)"),
                "ghm_type": _c("string", "Type de GHM (C, K, M, Z…)"),
                "ghm_severity": _c("string", "Niveau de sévérité du GHM (1–4, J, T, E…)"),
                "preceding_stay_id": _c(_ID, "Séjour précédent du patient"),
                "hospital": _c("string", "Code de l'hôpital du séjour"),
                "pole": _c("string", "Code du pôle de la dernière UF du séjour"),
                "service": _c("string", "Code du service de la dernière UF du séjour"),
                "uf": _c("string", "Code de la dernière UF du séjour"),
                "sex": _c("string", "Sexe du patient", SEXES),
                "age": _c("int64", "Âge en années révolues à l'entrée"),
                "age_band": _c("string", "Tranche d'âge", AGE_BANDS),
                "source": _c("string", "Système source"),
            },
            "start_date",
        ),
        ViewSpec(
            "unit_stays",
            "Mouvements entre unités (UF, UH, UC) et RUM, avec les structures d'appartenance.",
            {
                "unit_stay_id": _c(_ID, "Identifiant du mouvement"),
                "stay_id": _c(_ID, "Séjour"),
                "person_id": _c(_ID, "Identifiant du patient"),
                "care_site_id": _c(_ID, "Unité"),
                "movement_type": _c("string", "Type de mouvement (UF, UH, UC, RUM)", MOVEMENT_TYPES),
                "start_datetime": _c(_TS, "Début du mouvement"),
                "end_datetime": _c(_TS, "Fin du mouvement"),
                "hospital": _c("string", "Code de l'hôpital"),
                "pole": _c("string", "Code du pôle"),
                "service": _c("string", "Code du service"),
                "uf": _c("string", "Code de l'UF"),
                "place_of_service": _c("string", "Type d'unité PMSI"),
            },
            "start_datetime",
        ),
        ViewSpec(
            "diagnoses",
            "Diagnostics (CIM-10 pour l'AP-HP) avec leur statut PMSI et leur source.",
            {
                "diagnosis_id": _c(_ID, "Identifiant du diagnostic"),
                "person_id": _c(_ID, "Identifiant du patient"),
                "stay_id": _c(_ID, "Séjour"),
                "unit_stay_id": _c(_ID, "RUM ou mouvement"),
                "datetime": _c(_TS, "Date du diagnostic"),
                "code": _c("string", "Code du diagnostic"),
                "concept_id": _c(_ID, "Concept standard OMOP (vide si la source ne porte que des codes locaux)"),
                "status": _c("string", "Statut (DP, DR, DAS, DAD)", DIAGNOSIS_STATUSES),
                "source": _c("string", "Source : ORBIS ou AREM", PMSI_SOURCES),
            },
            "datetime",
        ),
        ViewSpec(
            "procedures",
            "Actes (CCAM pour l'AP-HP).",
            {
                "procedure_id": _c(_ID, "Identifiant de l'acte"),
                "person_id": _c(_ID, "Identifiant du patient"),
                "stay_id": _c(_ID, "Séjour"),
                "unit_stay_id": _c(_ID, "RUM ou mouvement"),
                "datetime": _c(_TS, "Date de réalisation"),
                "code": _c("string", "Code de l'acte"),
                "concept_id": _c(_ID, "Concept standard OMOP (vide si la source ne porte que des codes locaux)"),
                "source": _c("string", "Source : ORBIS ou AREM", PMSI_SOURCES),
            },
            "datetime",
        ),
        ViewSpec(
            "biology",
            "Résultats de biologie et données physiologiques (poids LOINC 29463-7, taille 8302-2).",
            {
                "measurement_id": _c(_ID, "Identifiant du résultat"),
                "person_id": _c(_ID, "Identifiant du patient"),
                "stay_id": _c(_ID, "Séjour"),
                "datetime": _c(_TS, "Date du prélèvement"),
                "local_code": _c("string", "Code local (ANABIO)"),
                "loinc": _c("string", "Code LOINC"),
                "concept_id": _c(_ID, "Concept standard OMOP (vide si la source ne porte que des codes locaux)"),
                "label": _c("string", "Libellé de l'analyse"),
                "value": _c("float64", "Valeur numérique"),
                "unit": _c("string", "Unité"),
                "range_low": _c("float64", "Borne basse de normalité"),
                "range_high": _c("float64", "Borne haute de normalité"),
                "status": _c("string", "Statut du résultat (Validé…)"),
            },
            "datetime",
        ),
        ViewSpec(
            "drugs",
            "Médicaments prescrits et administrés.",
            {
                "drug_id": _c(_ID, "Identifiant (unique avec kind)"),
                "person_id": _c(_ID, "Identifiant du patient"),
                "stay_id": _c(_ID, "Séjour"),
                "kind": _c("string", "Prescription ou administration", DRUG_KINDS),
                "ucd": _c("string", "Code UCD"),
                "atc": _c("string", "Code ATC"),
                "concept_id": _c(_ID, "Concept standard OMOP (vide si la source ne porte que des codes locaux)"),
                "label": _c("string", "Libellé du médicament"),
                "route": _c("string", "Voie d'administration"),
                "quantity": _c("float64", "Quantité"),
                "dose_unit": _c("string", "Unité de dose"),
                "start_datetime": _c(_TS, "Début"),
                "end_datetime": _c(_TS, "Fin"),
            },
            "start_datetime",
        ),
        ViewSpec(
            "notes",
            "Documents cliniques (comptes rendus).",
            {
                "note_id": _c(_ID, "Identifiant du document"),
                "person_id": _c(_ID, "Identifiant du patient"),
                "stay_id": _c(_ID, "Séjour"),
                "datetime": _c(_TS, "Date du document"),
                "note_class": _c("string", "Type de document (CRH, CR-CONS…)"),
                "text": _c("string", "Texte"),
                "source": _c("string", "Système source"),
            },
            "datetime",
        ),
    ]
}


def spec(name: str) -> ViewSpec:
    """The contract of view `name`, or a `UserError` listing the known views."""
    try:
        return VIEWS[name]
    except KeyError:
        raise UserError(f"vue « {name} » inconnue (vues : {', '.join(VIEWS)})") from None


def conform(name: str, built: Built) -> ir.Table:
    """Select the contract's columns in order, cast to the contract's types.

    Unavailable columns become typed nulls. A column the mapping forgot and did
    not declare unavailable is a bug of the mapping, so it raises immediately
    rather than silently returning nulls.
    """
    contract = VIEWS[name]
    present = set(built.table.columns)
    columns = []
    for column, meta in contract.columns.items():
        if column in built.unavailable:
            columns.append(ibis.null(meta.type).name(column))
        elif column in present:
            columns.append(built.table[column].cast(meta.type).name(column))
        else:
            raise RuntimeError(f"view {name}: the mapping produced no column {column!r}")
    return built.table.select(columns)


def category(value: ir.StringValue, mapping: Mapping[str, str]) -> ir.StringValue:
    """Map raw codes to canonical values; anything else (null included) becomes `autre`."""
    return value.substitute(dict(mapping), else_=OTHER)


def age_band(age: ir.IntegerValue) -> ir.StringValue:
    """The contract's age bands; null when the age is unknown or negative (aberrant birth date)."""
    return ibis.cases(
        (age < 0, ibis.null("string")),
        (age < 18, "0-17"),
        (age < 45, "18-44"),
        (age < 65, "45-64"),
        (age < 75, "65-74"),
        (age < 85, "75-84"),
        (age >= 85, "85+"),
        else_=ibis.null("string"),
    )


def whole_years(start: ir.DateValue, birth: ir.DateValue) -> ir.IntegerValue:
    """Age in whole years at `start`: year difference minus one before the birthday."""
    before_birthday = (start.month() * 100 + start.day()) < (birth.month() * 100 + birth.day())
    return start.year() - birth.year() - before_birthday.cast("int64")


def nights(start: ir.DateValue, end: ir.DateValue) -> ir.IntegerValue:
    """Calendar nights between two dates; null when the stay is open or ends before it starts."""
    return ibis.ifelse(end >= start, end.delta(start, unit="day"), ibis.null("int64"))


def current_rows(table: ir.Table) -> ir.Table:
    """Rows not soft-deleted (`row_status_source_value = 'supprimé'`), when the table has the column, nor
    marked deleted by a loader (`delete_datetime` set: how the FHIR loader marks a deleted `measurement`,
    whose status column is the lab's own)."""
    if "delete_datetime" in table.columns:
        table = table.filter(table.delete_datetime.isnull())
    if "row_status_source_value" not in table.columns:
        return table
    return table.filter(table.row_status_source_value.fill_null("") != "supprimé")
