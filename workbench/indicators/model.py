"""What an indicator page declares, as validated data.

The YAML front matter of `wiki/Indicateurs/<id>.md` parses into
:class:`IndicatorDefinition`. The same object drives the human page, the
validation stages and the engine: there is no second definition anywhere.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# owned by workbench.semantic.dimensions; importable from here while in-progress code moves over
from workbench.semantic.dimensions import AGE_BANDS, CARE_SITE_DIMENSIONS, DIMENSIONS, TIME_DIMENSIONS  # noqa: F401

Dimension = Literal[
    "hospital", "pole", "service", "uf", "month", "quarter", "year",
    "stay_type", "visit_type", "age_band", "sex",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Filter(_Strict):
    """A condition on one column of the view: ``column op value``."""

    column: str
    op: Literal["eq", "ne", "in", "not_in", "is_null", "not_null", "gt", "ge", "lt", "le", "startswith"] = "eq"
    value: Any = None

    @model_validator(mode="after")
    def _value_matches_op(self) -> "Filter":
        if self.op in ("in", "not_in") and not isinstance(self.value, list):
            raise ValueError(f"le filtre '{self.column} {self.op}' attend une liste de valeurs")
        if self.op not in ("is_null", "not_null") and self.value is None:
            raise ValueError(f"le filtre '{self.column} {self.op}' attend une valeur")
        return self


class Measure(_Strict):
    """An aggregate over the filtered view: count rows, sum or count distinct a column."""

    agg: Literal["count", "sum", "count_distinct"]
    column: str | None = None
    filters: list[Filter] = Field(default_factory=list)
    """Extra conditions that apply to this measure only (e.g. deaths among stays)."""

    @model_validator(mode="after")
    def _column_when_needed(self) -> "Measure":
        if self.agg != "count" and not self.column:
            raise ValueError(f"l'agrégat '{self.agg}' demande une colonne")
        return self


class DeclarativeComputation(_Strict):
    """A count, sum, distinct count or ratio over one canonical view.

    ``value = numerator / denominator * scale`` when a denominator is given,
    else ``value = numerator``.
    """

    kind: Literal["declarative"] = "declarative"
    view: str
    period_column: str
    """Date column that places a row in a month (e.g. ``end_date``: by discharge)."""
    filters: list[Filter] = Field(default_factory=list)
    numerator: Measure
    denominator: Measure | None = None
    scale: float = 1.0
    patient_column: str = "person_id"
    requires: list[str] = Field(default_factory=list)
    """Columns whose fact must exist in the source's flavour (else 'non disponible')."""


class PythonComputation(_Strict):
    """A registered Python implementation, for what a declarative block cannot say."""

    kind: Literal["python"] = "python"
    implementation: str
    params: dict[str, Any] = Field(default_factory=dict)


Computation = DeclarativeComputation | PythonComputation


class IndicatorVersion(_Strict):
    """One version of the definition, in force from `effective_from` to `effective_to` (inclusive)."""

    version: str
    effective_from: dt.date
    effective_to: dt.date | None = None
    change: str
    computation: DeclarativeComputation | PythonComputation = Field(discriminator="kind")

    def in_force(self, day: dt.date) -> bool:
        return self.effective_from <= day and (self.effective_to is None or day <= self.effective_to)


class Source(_Strict):
    table: str
    columns: list[str] = Field(default_factory=list)


class IndicatorDefinition(_Strict):
    """The front matter of one indicator page."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    theme: str
    definition: str
    numerator: str
    denominator: str | None = None
    unit: str
    dimensions: list[Dimension]
    inclusions: list[str] = Field(default_factory=list)
    exclusions: list[str] = Field(default_factory=list)
    sources: list[Source]
    referent: str
    status: Literal["draft", "validated"]
    pitfalls: list[str] = Field(default_factory=list)
    quality_checks: list[str] = Field(default_factory=list)
    versions: list[IndicatorVersion] = Field(min_length=1)

    @model_validator(mode="after")
    def _versions_do_not_overlap(self) -> "IndicatorDefinition":
        ordered = sorted(self.versions, key=lambda v: v.effective_from)
        for earlier, later in zip(ordered, ordered[1:]):
            if earlier.effective_to is None or earlier.effective_to >= later.effective_from:
                raise ValueError(
                    f"versions : les périodes de {earlier.version} et {later.version} se chevauchent"
                )
        return self

    def version_at(self, day: dt.date | None = None) -> IndicatorVersion:
        """The version in force on `day` (today's latest when None)."""
        ordered = sorted(self.versions, key=lambda v: v.effective_from)
        if day is None:
            return ordered[-1]
        for version in ordered:
            if version.in_force(day):
                return version
        raise LookupError(f"{self.id} : aucune version en vigueur le {day.isoformat()}")

    def get_version(self, version: str) -> IndicatorVersion:
        for candidate in self.versions:
            if candidate.version == version:
                return candidate
        known = ", ".join(v.version for v in self.versions)
        raise LookupError(f"{self.id} : version inconnue {version!r} (versions : {known})")
