"""Conformance checks: the data obey the model (fields, types, keys, value sets, codes).

DQD families covered: cdmField, cdmDatatype, isRequired, isPrimaryKey,
isForeignKey (incl. orphan rows whose person is absent from `person`),
value sets of the AP-HP source values, code formats, and codes that must exist
in the French nomenclatures (CIM-10 codable codes, CCAM, UCD) or in `concept`.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import ibis
import yaml

from workbench.quality.context import CheckContext, flag
from workbench.quality.model import Category, Context, Level, NotApplicable, Probe, Severity
from workbench.quality.registry import declare

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema" / "aphp_tables.yaml"

CONF = dict(category=Category.conformance, context=Context.verification)


def _schema() -> dict:
    return yaml.safe_load(SCHEMA_FILE.read_text(encoding="utf-8"))


def _schema_rows(ctx: CheckContext, compare_types: bool) -> Probe:
    """One row per expected (table, column); violating when absent, or of another type."""
    ctx.require_aphp()
    ids, violated = [], []
    for table_name, spec in _schema().items():
        if not ctx.has_table(table_name):
            continue
        schema = ctx.warehouse.table(table_name).schema()
        for column, column_spec in spec["columns"].items():
            if compare_types:
                if column not in schema:
                    continue
                expected = ibis.dtype(column_spec["type"])
                bad = type(schema[column]) is not type(expected)
            else:
                bad = column not in schema
            ids.append(f"{table_name}.{column}")
            violated.append(bad)
    frame = ibis.memtable({"_id": ids or [""], "_violated": violated or [False]})
    return Probe(frame if ids else frame.filter(ibis.literal(False)))


declare(
    "cdm_fields_present", **CONF, subcategory="relational", level=Level.table, table="*", field=None,
    description="Toutes les colonnes attendues par le schéma AP-HP sont présentes dans les tables.",
    threshold=0.0, severity=Severity.error, build=partial(_schema_rows, compare_types=False),
)
declare(
    "cdm_field_types", **CONF, subcategory="value", level=Level.field, table="*", field=None,
    description="Chaque colonne a le type déclaré dans le schéma AP-HP (entier, texte, date, horodatage…).",
    threshold=0.0, severity=Severity.error, build=partial(_schema_rows, compare_types=True),
)


# --- primary keys -----------------------------------------------------------------

PRIMARY_KEYS = {
    "person": "person_id",
    "person_identity": "person_id",
    "visit_occurrence": "visit_occurrence_id",
    "visit_detail": "visit_detail_id",
    "care_site": "care_site_id",
    "condition_occurrence": "condition_occurrence_id",
    "procedure_occurrence": "procedure_occurrence_id",
    "measurement": "measurement_id",
    "drug_exposure_prescription": "drug_exposure_id",
    "drug_exposure_administration": "drug_exposure_id",
    "note": "note_id",
    "cost": "cost_id",
    "concept": "concept_id",
}


def _primary_key(ctx: CheckContext, table_name: str, key: str) -> Probe:
    """Rows whose key another row shares: the duplicated keys by a hash aggregate, joined back (a window
    over the key would partition and sort every row: 3× slower on 7 M measurements)."""
    table = ctx.table(table_name, key)
    rows = table.select(_key=table[key])
    counted = rows.group_by("_key").aggregate(_n=ibis._.count())
    duplicated = counted.filter(counted._key.notnull() & (counted._n > 1)).select(_dup=counted._key)
    joined = rows.left_join(duplicated, rows._key == duplicated._dup)
    return flag(joined, "_key", joined._dup.notnull())


for _table, _key in PRIMARY_KEYS.items():
    declare(
        f"{_table}_primary_key", **CONF, subcategory="relational", level=Level.field, table=_table, field=_key,
        description=f"La clé primaire {_key} de {_table} est unique.",
        threshold=0.0, severity=Severity.error, build=partial(_primary_key, table_name=_table, key=_key),
    )


# --- required fields ------------------------------------------------------------

REQUIRED = {
    "person": ["person_id", "birth_datetime"],
    "visit_occurrence": ["person_id", "care_site_id", "visit_start_datetime", "visit_source_value"],
    "visit_detail": ["visit_occurrence_id", "care_site_id", "visit_detail_start_datetime"],
    "condition_occurrence": ["person_id", "visit_occurrence_id", "condition_source_value", "condition_status_source_value"],
    "procedure_occurrence": ["person_id", "procedure_source_value", "procedure_datetime"],
    "measurement": ["person_id", "measurement_source_concept_id", "measurement_datetime"],
    "drug_exposure_administration": ["person_id", "drug_exposure_start_datetime"],
    "note": ["person_id", "note_datetime"],
}


def _required(ctx: CheckContext, table_name: str, column: str) -> Probe:
    table = ctx.table(table_name, PRIMARY_KEYS[table_name], column)
    return flag(table, PRIMARY_KEYS[table_name], table[column].isnull())


for _table, _columns in REQUIRED.items():
    for _column in _columns:
        declare(
            f"{_table}_{_column}_required", **CONF, subcategory="relational", level=Level.field,
            table=_table, field=_column,
            description=f"La colonne obligatoire {_column} de {_table} est renseignée.",
            threshold=0.0, severity=Severity.error, build=partial(_required, table_name=_table, column=_column),
        )


# --- foreign keys ------------------------------------------------------------------

def _orphans(ctx: CheckContext, child: str, column: str, parent: str, parent_key: str) -> Probe:
    """Rows whose non-null `column` matches no `parent_key` of `parent` (left join, any backend)."""
    child_table = ctx.table(child, PRIMARY_KEYS[child], column)
    parent_table = ctx.table(parent, parent_key)
    keys = parent_table.select(_key=parent_table[parent_key]).distinct()
    rows = child_table.select(_row=child_table[PRIMARY_KEYS[child]], _fk=child_table[column])
    joined = rows.left_join(keys, rows._fk == keys._key)
    return flag(joined, "_row", joined._fk.notnull() & joined._key.isnull())


FOREIGN_KEYS = [
    *[(child, "person_id", "person", "person_id") for child in (
        "person_identity", "visit_occurrence", "visit_detail", "condition_occurrence", "procedure_occurrence",
        "measurement", "drug_exposure_prescription", "drug_exposure_administration", "note",
    )],
    *[(child, "visit_occurrence_id", "visit_occurrence", "visit_occurrence_id") for child in (
        "visit_detail", "condition_occurrence", "procedure_occurrence", "measurement",
        "drug_exposure_prescription", "drug_exposure_administration", "note", "cost",
    )],
    ("visit_occurrence", "care_site_id", "care_site", "care_site_id"),
    ("visit_detail", "care_site_id", "care_site", "care_site_id"),
    ("measurement", "measurement_source_concept_id", "concept", "concept_id"),
]

for _child, _column, _parent, _parent_key in FOREIGN_KEYS:
    declare(
        f"{_child}_{_column}_foreign_key", **CONF, subcategory="relational",
        level=Level.concept if _parent == "concept" else Level.field, table=_child, field=_column,
        description=f"Chaque {_column} de {_child} existe dans {_parent} (pas de ligne orpheline).",
        threshold=0.0, severity=Severity.error,
        build=partial(_orphans, child=_child, column=_column, parent=_parent, parent_key=_parent_key),
    )


# --- value sets ----------------------------------------------------------------------

def _value_set(ctx: CheckContext, table_name: str, column: str, allowed: tuple[str, ...], null_violates: bool) -> Probe:
    ctx.require_aphp()
    table = ctx.table(table_name, PRIMARY_KEYS[table_name], column)
    value = table[column]
    outside = ~value.isin(list(allowed))
    violated = (value.isnull() | outside) if null_violates else (value.notnull() & outside)
    return flag(table, PRIMARY_KEYS[table_name], violated)


ROW_STATUS = ("courant", "supprimé")
VALUE_SETS = [
    ("person", "gender_source_value", ("m", "f"), True,
     "Le sexe du patient vaut « m » ou « f » (ni vide, ni variante comme « male » ou « F »)."),
    ("visit_occurrence", "visit_source_value",
     ("hospitalisés", "hospitalisation incomplète", "urgence", "consultation externe"), False,
     "Le type de visite appartient à la liste AP-HP."),
    ("visit_occurrence", "stay_source_value", ("MCO", "SSR", "Psychiatrie", "SLD"), False,
     "Le champ PMSI du séjour vaut MCO, SSR, Psychiatrie ou SLD."),
    ("visit_occurrence", "discharge_to_source_value", ("6", "7", "8", "9"), False,
     "Le mode de sortie PMSI vaut 6, 7, 8 ou 9."),
    ("visit_occurrence", "row_status_source_value", ROW_STATUS, True,
     "Le statut de ligne du séjour vaut « courant » ou « supprimé »."),
    ("visit_detail", "visit_detail_type_source_value", ("PASS UF", "PASS UH", "PASS UC", "RUM"), False,
     "Le type de mouvement vaut PASS UF, PASS UH, PASS UC ou RUM."),
    ("condition_occurrence", "condition_status_source_value", ("DP", "DR", "DAS", "DAD"), False,
     "Le statut du diagnostic vaut DP, DR, DAS ou DAD."),
    ("condition_occurrence", "cdm_source", ("ORBIS", "AREM"), False,
     "La source du diagnostic vaut ORBIS ou AREM."),
    ("measurement", "row_status_source_value",
     ("Validé", "Discontinué", "Disponible", "Attendu", "Confirmé", "Initial", "supprimé"), False,
     "Le statut du résultat de biologie appartient à la liste du laboratoire."),
    ("care_site", "care_site_type_source_value",
     ("AP-HP", "Hôpital", "Pôle/DMU", "Service/Département", "UF", "UM", "UH", "UC"), True,
     "Le niveau de la structure appartient à l'arbre AP-HP."),
]

for _table, _column, _allowed, _null_violates, _description in VALUE_SETS:
    declare(
        f"{_table}_{_column}_values", **CONF, subcategory="value", level=Level.field, table=_table, field=_column,
        description=_description, threshold=0.0, severity=Severity.error,
        build=partial(_value_set, table_name=_table, column=_column, allowed=_allowed, null_violates=_null_violates),
    )


# --- code formats ---------------------------------------------------------------------

def _pattern(ctx: CheckContext, table_name: str, column: str, regex: str) -> Probe:
    ctx.require_aphp()
    table = ctx.table(table_name, PRIMARY_KEYS[table_name], column)
    value = table[column]
    return flag(table, PRIMARY_KEYS[table_name], value.notnull() & ~value.re_search(regex))


PATTERNS = [
    ("cost", "drg_source_value", r"^[0-9]{2}[CKMZ][0-9]{2}[1-4ABCDJTEZ]$",
     "Le GHM suit le format CMD (2 chiffres), type (C, K, M, Z), numéro (2 chiffres), sévérité."),
    ("procedure_occurrence", "procedure_source_value", r"^[A-Z]{4}[0-9]{3}$",
     "Le code CCAM a 4 lettres suivies de 3 chiffres."),
    ("condition_occurrence", "condition_source_value", r"^[A-Z][0-9]{2}[0-9A-Z+]{0,3}$",
     "Le code CIM-10 est écrit sans point : une lettre, deux chiffres, puis au plus trois caractères."),
]

for _table, _column, _regex, _description in PATTERNS:
    declare(
        f"{_table}_{_column}_format", **CONF, subcategory="value", level=Level.field, table=_table, field=_column,
        description=_description, threshold=0.0, severity=Severity.error,
        build=partial(_pattern, table_name=_table, column=_column, regex=_regex),
    )


# --- codes in the nomenclatures ----------------------------------------------------------

def _known_codes(ctx: CheckContext, table_name: str, column: str, vocabulary: str) -> Probe:
    """Rows whose code is absent from the nomenclature (in-memory table joined in the database)."""
    ctx.require_aphp()
    table = ctx.table(table_name, PRIMARY_KEYS[table_name], column)
    codes = ctx.codes(vocabulary)
    rows = table.select(_row=table[PRIMARY_KEYS[table_name]], _code=table[column])
    joined = rows.left_join(codes, rows._code == codes.code)
    return flag(joined, "_row", joined._code.notnull() & joined.code.isnull())


CODE_CHECKS = [
    ("condition_occurrence", "condition_source_value", "cim10",
     "Le code diagnostic existe dans la CIM-10 FR et est codable (pas un en-tête de catégorie)."),
    ("procedure_occurrence", "procedure_source_value", "ccam", "Le code d'acte existe dans la CCAM."),
    ("drug_exposure_prescription", "drug_ucd_source_value", "ucd", "Le code UCD du médicament prescrit existe."),
    ("drug_exposure_administration", "drug_ucd_source_value", "ucd", "Le code UCD du médicament administré existe."),
]

for _table, _column, _vocabulary, _description in CODE_CHECKS:
    declare(
        f"{_table}_{_column}_in_{_vocabulary}", **CONF, subcategory="value", level=Level.concept,
        table=_table, field=_column, description=_description, threshold=0.0, severity=Severity.error,
        build=partial(_known_codes, table_name=_table, column=_column, vocabulary=_vocabulary),
    )


# --- soft-deleted rows ------------------------------------------------------------------

SOFT_DELETABLE = ("visit_occurrence", "visit_detail", "condition_occurrence", "procedure_occurrence", "measurement",
                  "drug_exposure_prescription", "drug_exposure_administration", "note")


def _soft_deleted(ctx: CheckContext, table_name: str) -> Probe:
    table = ctx.table(table_name, PRIMARY_KEYS[table_name], "row_status_source_value")
    return flag(table, PRIMARY_KEYS[table_name], table.row_status_source_value == "supprimé")


for _table in SOFT_DELETABLE:
    declare(
        f"{_table}_soft_deleted", **CONF, subcategory="value", level=Level.table, table=_table,
        field="row_status_source_value",
        description=f"Lignes de {_table} supprimées logiquement (statut « supprimé ») : présentes dans la table "
        "brute, exclues des vues canoniques ; à exclure de toute requête directe.",
        threshold=0.0, severity=Severity.info, build=partial(_soft_deleted, table_name=_table),
    )


# --- identifiers from a legacy system ----------------------------------------------------------

def _shape(value: "ibis.expr.types.StringValue") -> "ibis.expr.types.StringValue":
    """The shape of an identifier: every digit becomes 9, every letter A (``GLD123`` -> ``AAA999``)."""
    return value.re_replace("[0-9]", "9").re_replace("[A-Za-z]", "A")


def _legacy_ids(ctx: CheckContext) -> Probe:
    """NDA whose shape differs from the dominant shape of the table (another numbering system)."""
    ctx.require_aphp()
    visits = ctx.table("visit_occurrence", "visit_occurrence_id", "visit_occurrence_source_value")
    shaped = visits.select(_row=visits.visit_occurrence_id, _shape=_shape(visits.visit_occurrence_source_value))
    counted = shaped.filter(shaped._shape.notnull()).group_by("_shape").aggregate(_n=ibis._.count())
    dominant = counted.order_by([ibis.desc("_n"), "_shape"]).limit(1).select(_dominant=ibis._._shape)
    joined = shaped.cross_join(dominant)
    return flag(joined, "_row", joined._shape.notnull() & (joined._shape != joined._dominant))


declare(
    "visit_occurrence_nda_format", **CONF, subcategory="value", level=Level.field, table="visit_occurrence",
    field="visit_occurrence_source_value",
    description="Le NDA a la forme majoritaire des NDA de l'entrepôt (chiffres et lettres aux mêmes places) : "
    "une autre forme signale un identifiant hérité d'un ancien système.",
    threshold=0.0, severity=Severity.warning, build=_legacy_ids,
)


# --- values the catalogue's types could not read ------------------------------------------

def _cast_failures(ctx: CheckContext) -> Probe:
    """One row per column whose values are cast (text read as a number or a date): violating when some
    present values could not be read and became null (`workbench.schema.cdm`); its id names the table,
    the column, the count and examples, so the report shows them."""
    from workbench.catalog import cast_check, cast_failure_report

    wh = ctx.warehouse
    catalog = getattr(wh, "catalog", None)
    if catalog is None:
        raise NotApplicable("pas de catalogue")
    checked = {name: check for name in catalog.tables
               if (check := cast_check(catalog, name, wh.con, wh.backend_name)) is not None}
    if not checked:
        raise NotApplicable("aucune colonne à convertir : la source est déjà typée")
    failures = {(f.table, f.column): f for f in cast_failure_report(catalog, list(checked), wh.con, wh.backend_name)}
    ids, violated = [], []
    for name, check in checked.items():
        for column, type_ in check.columns:
            failure = failures.get((name, column))
            ids.append(failure.message() if failure else f"{name}.{column} ({type_})")
            violated.append(failure is not None)
    return Probe(ibis.memtable({"_id": ids, "_violated": violated}))


declare(
    "cdm_values_castable", **CONF, subcategory="value", level=Level.field, table="*", field=None,
    description="Chaque valeur d'une colonne typée (par le CDM OMOP ou le catalogue) se lit dans ce type : "
    "une valeur illisible est lue comme vide (colonne, nombre et exemples dans les identifiants).",
    threshold=0.0, severity=Severity.warning, build=_cast_failures,
)


def _unmapped_visit_concepts(ctx: CheckContext) -> Probe:
    """Standard OMOP: visits whose concept the visit-type mapping does not know (type `autre`), the
    concept named in each id so that the quality page shows which ones."""
    if getattr(ctx.warehouse, "flavour", "aphp") != "omop":
        raise NotApplicable("concepts de visite OMOP standard : source d'une autre saveur")
    visits = ctx.table("visit_occurrence", "visit_occurrence_id", "visit_concept_id")
    stays = ctx.view("stays", "stay_id", "visit_type")
    joined = visits.join(stays, visits.visit_occurrence_id == stays.stay_id)
    label = ibis.literal("concept ").concat(joined.visit_concept_id.cast("string"), ibis.literal(" (visite "),
                                            joined.visit_occurrence_id.cast("string"), ibis.literal(")"))
    return flag(joined, label, joined.visit_type == "autre")


declare(
    "visit_concepts_mapped", **CONF, subcategory="value", level=Level.concept, table="visit_occurrence",
    field="visit_concept_id",
    description="Chaque concept de visite se classe dans un type de séjour (hiérarchie des concepts de visite) : "
    "les autres visites sont comptées en « autre », jamais écartées ; les concepts en cause sont dans les identifiants.",
    threshold=0.0, severity=Severity.warning, build=_unmapped_visit_concepts,
)
