"""The three validation stages of the indicator dictionary.

Like a metric layer's CI, a page is checked in three stages, each cheaper than the next:

a. **syntaxe** — the page parses, every required field is there, versions do not overlap;
b. **noms** — every view, column, dimension, implementation, quality check and referent
   the page names exists (columns against the real schema of the canonical view);
c. **exécution** — the indicator computes on the current warehouse over the default period.

A page that fails a stage is not tried at the next one: its later errors would only
repeat the first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from workbench.errors import UserError
from workbench.indicators.dictionary import LINK_PATTERN, Dictionary, IndicatorPage, PageError, link_target
from workbench.indicators.model import (
    TIME_DIMENSIONS,
    DeclarativeComputation,
    PythonComputation,
)

STAGES = ("syntaxe", "noms", "exécution")
STAGE_TITLES = {
    "syntaxe": "a. Syntaxe des pages et champs obligatoires",
    "noms": "b. Vues, colonnes, dimensions, implémentations, contrôles de qualité et référents",
    "exécution": "c. Exécution sur l'entrepôt courant",
}


@dataclass(frozen=True)
class Outcome:
    """The verdict of one stage on one page."""

    stage: str
    page: str
    errors: tuple[PageError, ...] = ()
    note: str = ""

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class Report:
    """Every stage's outcomes, page by page."""

    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(outcome.ok for outcome in self.outcomes)

    def stage(self, name: str) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.stage == name]

    def errors(self, stage: str | None = None) -> list[PageError]:
        return [e for o in self.outcomes if stage is None or o.stage == stage for e in o.errors]

    def to_json(self) -> list[dict[str, Any]]:
        return [
            {
                "stage": o.stage, "page": o.page, "ok": o.ok, "note": o.note,
                "errors": [{"field": e.field, "line": e.line, "message": e.message} for e in o.errors],
            }
            for o in self.outcomes
        ]


# --------------------------------------------------------------------------- stage a


def check_syntax(dictionary: Dictionary) -> list[Outcome]:
    """Stage a: loader errors per page, plus ``[[links]]`` that lead nowhere."""
    by_page: dict[str, list[PageError]] = {}
    for error in dictionary.errors:
        by_page.setdefault(error.page, []).append(error)
    for name, page in dictionary.all_pages().items():
        for number, line in enumerate(page.body.splitlines(), start=1):
            for target in _links_in(line):
                if dictionary.resolve(target) is None:
                    by_page.setdefault(name, []).append(
                        PageError(name, "lien", _body_line(page.path, number), f"lien [[{target}]] vers une page inexistante")
                    )
    pages = sorted(set(dictionary.all_pages()) | set(by_page))
    return [Outcome("syntaxe", name, tuple(by_page.get(name, ()))) for name in pages]


def _links_in(line: str) -> list[str]:
    return [link_target(match) for match in LINK_PATTERN.finditer(line)]


def _body_line(path: Any, body_line: int) -> int:
    """The file line of the body's line `body_line` (the front matter comes first)."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    if lines and lines[0].strip() == "---":
        for index in range(1, len(lines)):
            if lines[index].strip() == "---":
                return index + 1 + body_line
    return body_line


# --------------------------------------------------------------------------- stage b


class _Schemas:
    """Column names of views and raw tables, read once from the warehouse."""

    def __init__(self, warehouse: Any) -> None:
        self.warehouse = warehouse
        self.views = set(warehouse.views)
        self.tables = set(warehouse.tables)
        self._cache: dict[str, set[str] | None] = {}

    def columns(self, name: str) -> set[str] | None:
        """Columns of view (or else raw table) `name`; None when neither exists."""
        if name not in self._cache:
            if name in self.views:
                self._cache[name] = set(self.warehouse.view(name).schema().names)
            elif name in self.tables:
                self._cache[name] = set(self.warehouse.table(name).schema().names)
            else:
                self._cache[name] = None
        return self._cache[name]

    def known(self) -> str:
        return ", ".join(sorted(self.views))


def _declarative_columns(comp: DeclarativeComputation) -> list[tuple[str, str]]:
    """Every (field path under the computation, column) the block names."""
    named = [("period_column", comp.period_column), ("patient_column", comp.patient_column)]
    named += [(f"filters[{i}].column", f.column) for i, f in enumerate(comp.filters)]
    named += [(f"requires[{i}]", c) for i, c in enumerate(comp.requires)]
    for part in ("numerator", "denominator"):
        measure = getattr(comp, part)
        if measure is None:
            continue
        if measure.column:
            named.append((f"{part}.column", measure.column))
        named += [(f"{part}.filters[{i}].column", f.column) for i, f in enumerate(measure.filters)]
    return named


def _column_errors(page: IndicatorPage, schemas: _Schemas, where: str, view: str, columns: list[tuple[str, str]]) -> list[PageError]:
    available = schemas.columns(view)
    if available is None:
        return [page_error(page, where, f"vue ou table « {view} » inconnue (vues : {schemas.known()})")]
    return [
        page_error(page, ".".join(part for part in (where, path) if part), f"colonne « {column} » absente de « {view} »")
        for path, column in columns if column not in available
    ]


def page_error(page: IndicatorPage, path: str, message: str) -> PageError:
    """An error on `path` of `page`, located at the line of that field in the front matter."""
    return PageError(page.name, path, page.line_of(path), message)


def _dimension_errors(page: IndicatorPage, schemas: _Schemas, view: str, where: str) -> list[PageError]:
    """Each non-time dimension must be a column of the view the computation reads."""
    available = schemas.columns(view) or set()
    return [
        page_error(page, f"dimensions[{i}]", f"dimension « {d} » impossible : pas de colonne « {d} » dans « {view} » ({where})")
        for i, d in enumerate(page.definition.dimensions)
        if d not in TIME_DIMENSIONS and d not in available
    ]


def _python_errors(page: IndicatorPage, comp: PythonComputation, schemas: _Schemas, where: str) -> list[PageError]:
    from workbench.indicators import implementations

    try:
        registered = implementations.get(comp.implementation)
    except UserError as error:
        return [page_error(page, f"{where}.implementation", str(error))]
    errors = []
    try:
        params = registered.resolve_params(comp.params)
    except UserError as error:
        errors.append(page_error(page, f"{where}.params", str(error).removeprefix("params : ")))
        params = dict(registered.params)
    # a raw table the implementation reads but the source lacks (an AP-HP reference table on a standard
    # OMOP source) makes the indicator "non disponible pour cette source" at stage c, not a page error
    for view, columns in registered.required(params).items():
        errors += _column_errors(page, schemas, f"{where}.implementation", view, [("", c) for c in columns])
    return errors


def _quality_errors(page: IndicatorPage) -> list[PageError]:
    """Each required quality check must name a check of the quality module (id or DQD-style reference)."""
    from workbench.quality.status import resolve

    checks = page.definition.quality_checks
    _, unknown = resolve(checks)
    return [
        page_error(page, f"quality_checks[{i}]", f"contrôle de qualité inconnu « {name} »")
        for i, name in enumerate(checks) if name in unknown
    ]


def check_names_of(page: IndicatorPage, dictionary: Dictionary, schemas: _Schemas) -> list[PageError]:
    """Stage b on one page."""
    definition = page.definition
    errors: list[PageError] = []
    if definition.referent not in dictionary.referents:
        errors.append(page_error(page, "referent",
                                 f"référent « {definition.referent} » absent de la page Referents "
                                 f"(référents : {', '.join(dictionary.referents) or 'aucun'})"))
    errors += _quality_errors(page)
    optional = _implementation_tables(definition)
    for index, source in enumerate(definition.sources):
        if source.table in optional and schemas.columns(source.table) is None:
            continue  # see `_python_errors`: the source lacks it, the indicator is unavailable here
        errors += _column_errors(page, schemas, f"sources[{index}]", source.table,
                                 [(f"columns[{i}]", c) for i, c in enumerate(source.columns)])
    for index, version in enumerate(definition.versions):
        where = f"versions[{index}].computation"
        comp = version.computation
        if isinstance(comp, DeclarativeComputation):
            found = _column_errors(page, schemas, where, comp.view, _declarative_columns(comp))
            if schemas.columns(comp.view) is not None:
                found += _dimension_errors(page, schemas, comp.view, f"version {version.version}")
            errors += [e if e.field != where else page_error(page, f"{where}.view", e.message) for e in found]
        else:
            errors += _python_errors(page, comp, schemas, where)
    return _unique(errors)


def _implementation_tables(definition: Any) -> set[str]:
    """Raw tables the page's Python implementations declare they read (reference tables, capacities)."""
    from workbench.indicators import implementations

    found: set[str] = set()
    for version in definition.versions:
        if not isinstance(version.computation, DeclarativeComputation):
            try:
                found |= set(implementations.get(version.computation.implementation).tables)
            except UserError:
                continue  # an unknown implementation is reported by `_python_errors`
    return found


def _unique(errors: list[PageError]) -> list[PageError]:
    seen: dict[tuple[Any, ...], PageError] = {}
    for error in errors:
        seen.setdefault((error.field, error.message), error)
    return list(seen.values())


def check_names(dictionary: Dictionary, warehouse: Any) -> list[Outcome]:
    """Stage b: names against the warehouse's schemas, the registry and the referents."""
    schemas = _Schemas(warehouse)
    return [
        Outcome("noms", page.name, tuple(check_names_of(page, dictionary, schemas)))
        for page in sorted(dictionary.indicators.values(), key=lambda p: p.id)
    ]


# --------------------------------------------------------------------------- stage c


Compute = Callable[..., Any]


def check_execution(dictionary: Dictionary, warehouse: Any, pages: Iterable[IndicatorPage] | None = None,
                    compute: Compute | None = None) -> list[Outcome]:
    """Stage c: compute each indicator over the engine's default period, under every version.

    The version in force gives the summary; older versions are computed too, since a
    value must remain recomputable under the definition in force at the time.
    """
    if compute is None:
        from workbench.indicators.engine import compute
    outcomes = []
    for page in sorted(pages if pages is not None else dictionary.indicators.values(), key=lambda p: p.id):
        errors, current = [], None
        for index, version in enumerate(page.definition.versions):
            try:
                result = compute(page.definition, warehouse, version=version.version)
            except Exception as error:  # noqa: BLE001 - every failure is a finding of the stage
                errors.append(page_error(page, f"versions[{index}].computation",
                                         f"version {version.version} : le calcul échoue : {type(error).__name__}: {error}"))
                continue
            if version is page.definition.version_at():
                current = result
        note = _summary(current, page.definition.unit) if current is not None else ""
        outcomes.append(Outcome("exécution", page.name, tuple(errors), note))
    return outcomes


def _summary(result: Any, unit: str) -> str:
    from workbench.wiki.render import format_value

    status = getattr(result, "status", "ok")
    if status != "ok":
        return str(status)
    frame = result.frame
    if len(frame) == 1 and "value" in frame:
        return f"période {result.stamp.get('periode')} : {format_value(frame['value'].iloc[0], unit)}"
    return f"{len(frame)} ligne(s)"


# --------------------------------------------------------------------------- all stages


def validate(dictionary: Dictionary, warehouse: Any | None = None, stages: Iterable[str] = STAGES,
             compute: Compute | None = None) -> Report:
    """Run the requested stages; a page failing one stage is skipped by the next ones."""
    wanted = set(stages)
    report = Report()
    failed: set[str] = set()
    if "syntaxe" in wanted:
        syntax = check_syntax(dictionary)
        report.outcomes += syntax
    failed |= {error.page for error in dictionary.errors}  # broken links do not stop a page
    if warehouse is None:
        return report
    if "noms" in wanted:
        names = [o for o in check_names(dictionary, warehouse) if o.page not in failed]
        report.outcomes += names
        failed |= {o.page for o in names if not o.ok}
    if "exécution" in wanted:
        runnable = [p for p in dictionary.indicators.values() if p.name not in failed]
        report.outcomes += check_execution(dictionary, warehouse, runnable, compute)
    return report
