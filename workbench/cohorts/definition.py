"""Cohort definitions: the criteria language, validated by pydantic, loaded from YAML or JSON.

Shaped like an OHDSI ATLAS cohort so that attrition is well defined: one
**entry event** (a criterion whose date is the index date), an ordered list of
**inclusion rules** (each a group of criteria combined with ET / OU / SAUF), a
unit (``patients``: the earliest entry event of each patient; ``sejours``: each
stay holding an entry event) and a period bounding the index date.

Keys are French, like the rest of what users type. A criterion is chosen by
its ``type``; criteria that look at events (all but ``age`` and ``sexe``) may
carry a ``fenetre``, the temporal constraint relative to the index date, and
``au_moins`` (at least N events). docs/cohorts.md shows a whole definition and
the keys of every criterion type.

An error names the criterion's path (``inclusion[1].criteres[0].valeur``) and
the reason, through :func:`load_definition` / :func:`parse_definition`.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from workbench.cohorts import atlas
from workbench.errors import UserError

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")
COMPARISONS = (">", ">=", "<", "<=", "=", "!=")
DIAGNOSIS_STATUSES = ("DP", "DR", "DAS", "DAD")
TNM_PATTERN = re.compile(r"^\s*([TNM])\s*(>=|<=|>|<|=)?\s*([0-4])\s*$", re.IGNORECASE)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _stripped(values: list[str]) -> list[str]:
    """Trimmed texts; an empty one is an error (a stray comma in the file)."""
    cleaned = [str(v).strip() for v in values]
    if any(not text for text in cleaned):
        raise ValueError("valeur vide dans la liste")
    return cleaned


def _clean_codes(values: list[str]) -> list[str]:
    """Codes as stored: trimmed, upper case, without the dots some sources write (``I21.0`` → ``I210``)."""
    return [code.upper().replace(".", "") for code in _stripped(values)]


def _stages(values: list[str]) -> list[str]:
    for value in values:
        if not TNM_PATTERN.match(value):
            raise ValueError(f"stade {value!r} non reconnu (attendu par ex. T>=3, N>0, M1)")
    return [re.sub(r"\s+", "", v).upper() for v in values]


SourceCodes = Annotated[list[str], AfterValidator(_clean_codes)]
Texts = Annotated[list[str], AfterValidator(_stripped)]


class Window(_Strict):
    """A temporal constraint relative to the index date: same stay, and/or within N days before / M days after.

    Giving only ``jours_avant`` means "between N days before and the index date";
    only ``jours_apres``, "between the index date and M days after".
    """

    meme_sejour: bool = False
    jours_avant: int | None = Field(default=None, ge=0)
    jours_apres: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _something(self) -> "Window":
        if not self.meme_sejour and self.jours_avant is None and self.jours_apres is None:
            raise ValueError("fenêtre vide : indiquez meme_sejour, jours_avant ou jours_apres")
        return self


class _Event(_Strict):
    """A criterion matched by dated events (optionally within a window, at least N of them)."""

    fenetre: Window | None = None
    au_moins: int = Field(default=1, ge=1)


class _Coded(_Event):
    """Source codes (prefixes) or standard OMOP concept ids (their descendants included)."""

    codes: SourceCodes = Field(default_factory=list)
    concepts: list[int] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_kind(self) -> "_Coded":
        if not self.codes and not self.concepts:
            raise ValueError("indiquez des codes ou des concepts")
        return self


class Diagnostic(_Coded):
    """CIM-10 codes or prefixes, optionally restricted to a PMSI status (DP, DR, DAS, DAD)."""

    type: Literal["diagnostic"]
    statut: list[Literal["DP", "DR", "DAS", "DAD"]] = Field(default_factory=list)


class Acte(_Coded):
    """CCAM codes or prefixes."""

    type: Literal["acte"]


class Ghm(_Event):
    """GHM or CMD prefixes of the stay's grouping (``05`` a CMD, ``05M09`` a GHM root)."""

    type: Literal["ghm"]
    codes: SourceCodes = Field(min_length=1)


class Biologie(_Coded):
    """LOINC or local codes; optionally a comparison with a value in a stated unit."""

    type: Literal["biologie"]
    codes: Texts = Field(default_factory=list)  # LOINC and local codes keep their case and dash
    comparaison: Literal[">", ">=", "<", "<=", "=", "!="] | None = None
    valeur: float | None = None
    unite: str | None = None

    @model_validator(mode="after")
    def _threshold(self) -> "Biologie":
        if (self.comparaison is None) != (self.valeur is None):
            raise ValueError("comparaison et valeur vont ensemble")
        if self.valeur is not None and not (self.unite or "").strip():
            raise ValueError("un seuil exige son unité (clé « unite »)")
        return self


class Medicament(_Event):
    """ATC prefixes, UCD codes or standard drug concepts; prescribed, administered or either."""

    type: Literal["medicament"]
    atc: SourceCodes = Field(default_factory=list)
    ucd: SourceCodes = Field(default_factory=list)
    concepts: list[int] = Field(default_factory=list)
    mode: Literal["prescription", "administration", "tous"] = "tous"

    @model_validator(mode="after")
    def _one_kind(self) -> "Medicament":
        if not self.atc and not self.ucd and not self.concepts:
            raise ValueError("indiquez des codes atc, ucd ou des concepts")
        return self


class Age(_Strict):
    """Age in whole years at the index date, bounds included."""

    type: Literal["age"]
    min: int | None = Field(default=None, ge=0, le=130)
    max: int | None = Field(default=None, ge=0, le=130)

    @model_validator(mode="after")
    def _bounds(self) -> "Age":
        if self.min is None and self.max is None:
            raise ValueError("indiquez min ou max")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) supérieur à max ({self.max})")
        return self


class Sexe(_Strict):
    """The patient's sex (M or F)."""

    type: Literal["sexe"]
    valeur: Literal["M", "F"]


class Sejour(_Event):
    """A stay of a visit type, PMSI field, care site (hospital, pole, service or UF code) and period."""

    type: Literal["sejour"]
    type_visite: list[str] = Field(default_factory=list)
    champ: list[Literal["MCO", "SSR", "PSY", "SLD"]] = Field(default_factory=list)
    sites: list[str] = Field(default_factory=list)
    debut: date | None = None
    fin: date | None = None


class Texte(_Event):
    """Words (or regular expressions) in reports; negated, hypothetical and family mentions do not count."""

    type: Literal["texte"]
    termes: Texts = Field(min_length=1)
    regex: bool = False

    @model_validator(mode="after")
    def _patterns(self) -> "Texte":
        if self.regex:
            for term in self.termes:
                try:
                    re.compile(term)
                except re.error as error:
                    raise ValueError(f"expression régulière invalide {term!r} : {error}") from None
        return self


class Tnm(_Event):
    """A TNM stage read from reports: ``T>=3``, ``N>0``, ``M1`` (every condition must hold on one mention)."""

    type: Literal["tnm"]
    stade: Annotated[list[str], AfterValidator(_stages)] = Field(min_length=1)


class Groupe(_Strict):
    """Criteria combined: ET (all), OU (at least one), SAUF (none)."""

    type: Literal["groupe"]
    operateur: Literal["ET", "OU", "SAUF"] = "ET"
    criteres: list["Criterion"] = Field(min_length=1)


CRITERION_TYPES = ("diagnostic", "acte", "ghm", "biologie", "medicament", "age", "sexe", "sejour", "texte", "tnm",
                   "groupe")
EVENT_TYPES = ("diagnostic", "acte", "ghm", "biologie", "medicament", "sejour", "texte", "tnm")

Criterion = Annotated[
    Union[Diagnostic, Acte, Ghm, Biologie, Medicament, Age, Sexe, Sejour, Texte, Tnm, Groupe],
    Field(discriminator="type"),
]
EventCriterion = Annotated[
    Union[Diagnostic, Acte, Ghm, Biologie, Medicament, Sejour, Texte, Tnm],
    Field(discriminator="type"),
]
Groupe.model_rebuild()


class Rule(_Strict):
    """One inclusion rule: a named group of criteria (its count after the previous rules is a step of attrition)."""

    nom: str = Field(min_length=1)
    operateur: Literal["ET", "OU", "SAUF"] = "ET"
    criteres: list[Criterion] = Field(min_length=1)


class Period(_Strict):
    """Bounds of the index date, both included."""

    debut: date | None = None
    fin: date | None = None

    @model_validator(mode="after")
    def _order(self) -> "Period":
        if self.debut and self.fin and self.debut > self.fin:
            raise ValueError(f"début ({self.debut}) après fin ({self.fin})")
        return self


class CohortDefinition(_Strict):
    """A cohort: entry event, inclusion rules, unit, period."""

    nom: str
    description: str = ""
    unite: Literal["patients", "sejours"] = "patients"
    periode: Period = Field(default_factory=Period)
    entree: EventCriterion
    inclusion: list[Rule] = Field(default_factory=list)

    @field_validator("nom")
    @classmethod
    def _name(cls, value: str) -> str:
        check_name(value)
        return value

    @model_validator(mode="after")
    def _entry_window(self) -> "CohortDefinition":
        if getattr(self.entree, "fenetre", None) is not None:
            raise ValueError("l'événement d'entrée définit la date index : pas de fenêtre (clé « entree.fenetre »)")
        return self

    def normalised(self) -> str:
        """Canonical JSON of the criteria (name and description left out): what feasibility noise and
        versions are keyed on, so that key order or spacing in the file changes nothing."""
        data = self.model_dump(mode="json", exclude={"nom", "description"})
        return json.dumps(_sorted_lists(data), sort_keys=True, ensure_ascii=False, separators=(",", ":"))

    def digest(self) -> str:
        """Short hash of :meth:`normalised`."""
        return hashlib.sha256(self.normalised().encode()).hexdigest()[:16]


def _sorted_lists(value: Any) -> Any:
    """Lists of codes are sets: sorted; lists of rules and criteria keep their order (attrition steps)."""
    if isinstance(value, dict):
        return {k: (_sorted_lists(v) if k in ("inclusion", "criteres") else _sort_codes(_sorted_lists(v)))
                for k, v in value.items()}
    if isinstance(value, list):
        return [_sorted_lists(v) for v in value]
    return value


def _sort_codes(value: Any) -> Any:
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
        return sorted(set(value), key=str)
    return value


def check_name(name: str) -> str:
    """A cohort name usable as a key and a file name, or a `UserError`."""
    if not NAME_PATTERN.match(name or ""):
        raise UserError(f"nom de cohorte {name!r} invalide : lettres, chiffres, « _ », « - » ou « . », "
                        "80 caractères au plus")
    return name


def _path(loc: tuple[Any, ...]) -> str:
    """``('inclusion', 2, 'criteres', 0, 'biologie', 'valeur')`` → ``inclusion[2].criteres[0].valeur``."""
    text = ""
    previous_index = False
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
            previous_index = True
            continue
        if (previous_index or text in ("entree",)) and part in CRITERION_TYPES:
            previous_index = False
            continue  # the discriminator's tag pydantic inserts
        if part in ("function-after", "union_tag_invalid"):
            continue
        text += f".{part}" if text else str(part)
        previous_index = False
    return text or "(racine)"


_REASONS = {
    "missing": "clé obligatoire absente",
    "extra_forbidden": "clé inconnue",
    "union_tag_not_found": "clé « type » absente",
}


def _reason(error: Any, loc: tuple[Any, ...]) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "union_tag_invalid":
        found = ctx.get("tag")
        if loc[:1] == ("entree",) and found in CRITERION_TYPES:
            return f"l'événement d'entrée doit être un critère daté (types : {', '.join(EVENT_TYPES)}), pas « {found} »"
        return f"type de critère « {found} » inconnu (types : {', '.join(CRITERION_TYPES)})"
    if kind == "literal_error":
        return f"valeur {error.get('input')!r} invalide (attendu : {ctx.get('expected')})"
    if kind in ("float_parsing", "float_type"):
        return f"nombre attendu, pas {error.get('input')!r}"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"nombre entier attendu, pas {error.get('input')!r}"
    if kind in ("date_parsing", "date_from_datetime_parsing", "date_type"):
        return f"date AAAA-MM-JJ attendue, pas {error.get('input')!r}"
    if kind in ("list_type",):
        return "liste attendue"
    if kind in ("string_type",):
        return "texte attendu"
    if kind in ("bool_parsing", "bool_type"):
        return "true ou false attendu"
    if kind in ("greater_than_equal", "less_than_equal"):
        bound = ctx.get("ge", ctx.get("le"))
        return f"valeur {error.get('input')!r} hors bornes ({'≥' if 'ge' in ctx else '≤'} {bound})"
    if kind == "too_short":
        return "liste vide"
    if kind in _REASONS:
        return _REASONS[kind]
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def parse_definition(data: Any, source: str = "définition") -> CohortDefinition:
    """Validate `data` (a mapping read from YAML/JSON); the first error names its path and reason."""
    if not isinstance(data, dict):
        raise UserError(f"{source} : une définition de cohorte est un objet (clés nom, entree, inclusion…)")
    try:
        return CohortDefinition.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        others = len(error.errors()) - 1
        more = f" (et {others} autre(s) erreur(s))" if others else ""
        raise UserError(f"{source} : {_path(tuple(first['loc']))} : {_reason(first, tuple(first['loc']))}{more}") from None


def load_definition(path: Path) -> CohortDefinition:
    """Read and validate a YAML or JSON definition file (an ATLAS/Circe JSON export is translated first)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"définition de cohorte introuvable : {path}")
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError, UnicodeDecodeError) as error:
        raise UserError(f"{path} : fichier illisible ({str(error).splitlines()[0]})") from None
    if atlas.is_atlas(data):  # an ATLAS/Circe export: translated, or refused naming what cannot be
        data = atlas.translate(data, path.stem, str(path))
    return parse_definition(data, str(path))
