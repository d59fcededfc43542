"""Loading the wiki: indicator pages, other pages, referents and links.

A wiki is a folder of Markdown pages laid out like a git-hosted wiki (GitLab or
GitHub conventions: ``Home.md``, ``_Sidebar.md``, ``[[Page links]]``, sub-folders).
Indicator pages live in ``Indicateurs/<id>.md`` and start with a YAML front
matter that parses into :class:`~workbench.indicators.model.IndicatorDefinition`.

Loading never stops at the first bad page: every problem becomes a
:class:`PageError` naming the page, the field and the line, and the other pages
still load, so one referent's typo does not hide the whole dictionary.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from workbench.errors import UserError
from workbench.indicators.model import DeclarativeComputation, IndicatorDefinition

INDICATOR_FOLDER = "Indicateurs"
REFERENTS_PAGE = "Referents"
SIDEBAR_PAGE = "_Sidebar"
HOME_PAGE = "Home"

RATIO_UNITS = frozenset({"%", "‰", "ratio", "indice", "taux", "proportion"})
"""Units that only make sense as a quotient: a page using one needs a denominator."""

_LINK = re.compile(r"\[\[([^\]\|]+?)(?:\|([^\]]+?))?\]\]")
_FRONT_MATTER_FENCE = "---"

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class PageError:
    """One problem on one page, located as precisely as the source allows."""

    page: str
    field: str | None
    line: int | None
    message: str

    def __str__(self) -> str:
        where = self.page
        if self.line is not None:
            where += f", ligne {self.line}"
        if self.field:
            where += f", champ « {self.field} »"
        return f"{where} : {self.message}"


@dataclass(frozen=True)
class WikiPage:
    """Any wiki page: its name is its path relative to the wiki, without ``.md``."""

    name: str
    path: Path
    title: str
    body: str
    front_matter: dict[str, Any] = field(default_factory=dict)

    @property
    def links(self) -> list[str]:
        """The targets of the ``[[...]]`` links of the body, in order."""
        return [link_target(match) for match in _LINK.finditer(self.body)]


@dataclass(frozen=True)
class IndicatorPage:
    """An indicator page: the validated definition plus the prose written for humans."""

    definition: IndicatorDefinition
    page: WikiPage
    lines: dict[str, int] = field(default_factory=dict)
    """Line number of each front-matter field (dotted path, e.g. ``versions[0].computation``)."""

    @property
    def id(self) -> str:
        return self.definition.id

    @property
    def name(self) -> str:
        return self.page.name

    @property
    def body(self) -> str:
        return self.page.body

    def line_of(self, path: str) -> int | None:
        """The line of `path` or of its closest parent field present in the front matter."""
        while path:
            if path in self.lines:
                return self.lines[path]
            parent = re.sub(r"(\.[^.\[]+|\[\d+\])$", "", path)
            if parent == path:
                break
            path = parent
        return None


@dataclass(frozen=True)
class Referent:
    """A role that owns indicators (e.g. « Référent Pilote DIM ») and its perimeter."""

    role: str
    perimeter: str
    contact: str | None = None


@dataclass
class Dictionary:
    """The loaded wiki: valid indicators, other pages, referents and the errors found."""

    root: Path
    indicators: dict[str, IndicatorPage] = field(default_factory=dict)
    pages: dict[str, WikiPage] = field(default_factory=dict)
    referents: dict[str, Referent] = field(default_factory=dict)
    errors: list[PageError] = field(default_factory=list)

    def get(self, indicator_id: str) -> IndicatorPage:
        """The page of `indicator_id`; an unknown id is a user error naming close matches."""
        try:
            return self.indicators[indicator_id]
        except KeyError:
            pass
        close = difflib.get_close_matches(indicator_id, list(self.indicators), n=3, cutoff=0.5)
        hint = f" ; vouliez-vous dire : {', '.join(close)} ?" if close else ""
        broken = [e for e in self.errors if e.page == f"{INDICATOR_FOLDER}/{indicator_id}"]
        if broken:
            hint += f" (la page existe mais contient des erreurs : {broken[0]})"
        raise UserError(f"indicateur inconnu : {indicator_id!r} dans le dictionnaire {self.root}{hint}")

    def resolve(self, target: str) -> str | None:
        """The page name a ``[[target]]`` link points to, or None when no page matches.

        Like git-hosted wikis, a link matches a page by its full name or by its
        file name alone, ignoring case and treating spaces and dashes alike.
        """
        wanted = _link_key(target)
        names = list(self.pages) + [p.name for p in self.indicators.values()]
        for name in names:
            if _link_key(name) == wanted:
                return name
        for name in names:
            if _link_key(name.rsplit("/", 1)[-1]) == wanted:
                return name
        return None

    def all_pages(self) -> dict[str, WikiPage]:
        """Every page that loaded, indicator pages included, by name."""
        merged = dict(self.pages)
        merged.update({p.name: p.page for p in self.indicators.values()})
        return dict(sorted(merged.items()))


def link_target(match: re.Match[str]) -> str:
    """The page a link points to: ``[[Page]]`` or ``[[Texte|Page]]`` (GitHub order)."""
    return (match.group(2) or match.group(1)).strip()


def link_label(match: re.Match[str]) -> str:
    """The text shown for a link: the label when given, else the page name."""
    return match.group(1).strip()


LINK_PATTERN = _LINK


def _link_key(name: str) -> str:
    return re.sub(r"[\s_-]+", "-", name.strip().lower().removesuffix(".md"))


# --------------------------------------------------------------------------- front matter


@dataclass(frozen=True)
class _Split:
    front_matter: str | None
    body: str
    offset: int
    """Line number (1-based) of the first front-matter line in the file."""


def _split_front_matter(text: str) -> _Split:
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != _FRONT_MATTER_FENCE:
        return _Split(None, text, 0)
    for index in range(1, len(lines)):
        if lines[index].strip() == _FRONT_MATTER_FENCE:
            return _Split("".join(lines[1:index]), "".join(lines[index + 1:]), 2)
    raise _FrontMatterError("le bloc d'en-tête YAML ouvert par « --- » n'est jamais fermé", 1)


class _FrontMatterError(Exception):
    def __init__(self, message: str, line: int | None, field_name: str | None = None) -> None:
        super().__init__(message)
        self.line = line
        self.field_name = field_name


def _parse_front_matter(source: str, offset: int) -> tuple[dict[str, Any], dict[str, int]]:
    """The front matter as data plus the line of every field, with YAML errors located."""
    try:
        node = yaml.compose(source, Loader=yaml.SafeLoader)
        data = yaml.safe_load(source)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        line = mark.line + offset if mark is not None else None
        problem = getattr(error, "problem", None) or str(error)
        raise _FrontMatterError(f"en-tête YAML illisible : {problem}", line) from None
    if data is None:
        return {}, {}
    if not isinstance(data, dict):
        raise _FrontMatterError("l'en-tête YAML doit être un dictionnaire de champs", offset)
    lines: dict[str, int] = {}
    _index_lines(node, (), offset, lines)
    return data, lines


def _index_lines(node: yaml.Node, path: Path_, offset: int, lines: dict[str, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                raise _FrontMatterError(
                    "champ en double dans l'en-tête", key_node.start_mark.line + offset, _dotted(path + (key,))
                )
            seen.add(key)
            lines[_dotted(path + (key,))] = key_node.start_mark.line + offset
            _index_lines(value_node, path + (key,), offset, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[_dotted(path + (index,))] = item.start_mark.line + offset
            _index_lines(item, path + (index,), offset, lines)


def _dotted(path: Path_) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


_PYDANTIC_MESSAGES = {
    "missing": "champ obligatoire manquant",
    "extra_forbidden": "champ inconnu (voir les champs admis dans workbench/indicators/model.py)",
    "string_pattern_mismatch": "format invalide (minuscules, chiffres et « _ », commençant par une lettre)",
    "too_short": "liste vide : au moins un élément est attendu",
    "date_from_datetime_parsing": "date invalide (format attendu : AAAA-MM-JJ)",
    "date_parsing": "date invalide (format attendu : AAAA-MM-JJ)",
    "date_type": "date invalide (format attendu : AAAA-MM-JJ)",
    "string_type": "texte attendu (entre guillemets si la valeur ressemble à un nombre, ex. \"1\")",
    "list_type": "liste attendue",
    "dict_type": "dictionnaire de champs attendu",
    "model_type": "dictionnaire de champs attendu",
    "float_parsing": "nombre attendu",
    "union_tag_invalid": "« kind » doit valoir « declarative » ou « python »",
    "union_tag_not_found": "champ « kind » manquant (« declarative » ou « python »)",
}


def _located_errors(
    page: str, error: ValidationError, data: dict[str, Any], lines: dict[str, int], offset: int
) -> list[PageError]:
    """Pydantic errors as PageErrors whose field is the dotted path in the front matter."""
    found = []
    for item in error.errors():
        path = _path_in_data(item["loc"], data)
        dotted = _dotted(path)
        message = _PYDANTIC_MESSAGES.get(item["type"])
        if message is None:
            message = str(item["msg"]).removeprefix("Value error, ")
            if item["type"] == "literal_error":
                message = f"valeur {item.get('input')!r} non admise ({item['msg'].removeprefix('Input should be ')})"
        if not dotted and message.startswith("versions :"):
            path, message = _overlapping_version(message, data), message.removeprefix("versions : ")
            dotted = _dotted(path)
        line = _closest_line(path, lines) or (offset or None)
        found.append(PageError(page, dotted or None, line, message))
    return found


def _overlapping_version(message: str, data: dict[str, Any]) -> Path_:
    """The path of the later of two overlapping versions named in the model's message."""
    match = re.search(r" et (.+) se chevauchent", message)
    for index, version in enumerate(data.get("versions") or []):
        if match and isinstance(version, dict) and str(version.get("version")) == match.group(1):
            return ("versions", index, "effective_from")
    return ("versions",)


def _path_in_data(loc: tuple[Any, ...], data: Any) -> Path_:
    """Drop the parts of a pydantic location that are not keys of the data (union tags)."""
    path: list[str | int] = []
    current = data
    for part in loc:
        if isinstance(current, dict) and part in current:
            current = current[part]
            path.append(part)
        elif isinstance(current, list) and isinstance(part, int) and part < len(current):
            current = current[part]
            path.append(part)
        elif isinstance(current, dict) and isinstance(part, str) and part not in ("declarative", "python"):
            path.append(part)  # a missing key: name it, its line is its parent's
            current = None
    return tuple(path)


def _closest_line(path: Path_, lines: dict[str, int]) -> int | None:
    for length in range(len(path), 0, -1):
        line = lines.get(_dotted(path[:length]))
        if line is not None:
            return line
    return None


def is_ratio_unit(unit: str) -> bool:
    """Whether `unit` expresses a quotient (percent, rate, index, « x / y »)."""
    text = unit.strip().lower()
    return text in RATIO_UNITS or text.startswith("%") or "/" in text or text.startswith("taux")


def _ratio_errors(page: str, definition: IndicatorDefinition, lines: dict[str, int]) -> list[PageError]:
    """A quotient unit needs a denominator, in the prose and in every declarative version."""
    if not is_ratio_unit(definition.unit):
        return []
    errors = []
    if not definition.denominator:
        errors.append(PageError(
            page, "denominator", lines.get("denominator") or lines.get("unit"),
            f"l'unité « {definition.unit} » est un rapport mais aucun dénominateur n'est décrit",
        ))
    for index, version in enumerate(definition.versions):
        computation = version.computation
        if isinstance(computation, DeclarativeComputation) and computation.denominator is None:
            where = f"versions[{index}].computation"
            errors.append(PageError(
                page, f"{where}.denominator", lines.get(where),
                f"l'unité « {definition.unit} » est un rapport mais la version {version.version} "
                "ne calcule pas de dénominateur",
            ))
    return errors


# --------------------------------------------------------------------------- pages


def _title(name: str, body: str, front_matter: dict[str, Any]) -> str:
    for line in body.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    title = front_matter.get("title") or front_matter.get("name")
    return str(title) if title else name.rsplit("/", 1)[-1].replace("-", " ")


def _read_page(wiki: Path, path: Path, errors: list[PageError]) -> tuple[WikiPage, dict[str, int], int] | None:
    name = path.relative_to(wiki).with_suffix("").as_posix()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        errors.append(PageError(name, None, None, f"page illisible : {error}"))
        return None
    try:
        split = _split_front_matter(text)
        data, lines = _parse_front_matter(split.front_matter, split.offset) if split.front_matter is not None else ({}, {})
    except _FrontMatterError as error:
        errors.append(PageError(name, error.field_name, error.line, str(error)))
        return None
    has_front_matter = split.front_matter is not None
    page = WikiPage(name, path, _title(name, split.body, data), split.body, data)
    return page, lines, (split.offset if has_front_matter else 0)


def _load_indicator(page: WikiPage, lines: dict[str, int], offset: int, errors: list[PageError]) -> IndicatorPage | None:
    data = page.front_matter
    if offset == 0:
        errors.append(PageError(page.name, None, 1, "page d'indicateur sans en-tête YAML (bloc « --- » en tête de page)"))
        return None
    try:
        definition = IndicatorDefinition.model_validate(data)
    except ValidationError as error:
        errors.extend(_located_errors(page.name, error, data, lines, offset))
        return None
    problems = _ratio_errors(page.name, definition, lines)
    stem = page.name.rsplit("/", 1)[-1]
    if definition.id != stem:
        problems.append(PageError(
            page.name, "id", lines.get("id"),
            f"l'identifiant « {definition.id} » doit être le nom du fichier (« {stem}.md »)",
        ))
    if problems:
        errors.extend(problems)
        return None
    return IndicatorPage(definition, page, lines)


def _load_referents(page: WikiPage, lines: dict[str, int], errors: list[PageError]) -> dict[str, Referent]:
    entries = page.front_matter.get("referents")
    if not isinstance(entries, list):
        errors.append(PageError(page.name, "referents", lines.get("referents"),
                                "liste « referents » attendue dans l'en-tête (rôle et périmètre de chacun)"))
        return {}
    referents: dict[str, Referent] = {}
    for index, entry in enumerate(entries):
        where = f"referents[{index}]"
        if not isinstance(entry, dict) or not entry.get("role") or not entry.get("perimeter"):
            errors.append(PageError(page.name, where, lines.get(where),
                                    "chaque référent déclare « role » et « perimeter »"))
            continue
        referents[str(entry["role"])] = Referent(str(entry["role"]), str(entry["perimeter"]),
                                                 entry.get("contact"))
    return referents


def load_dictionary(wiki: Path) -> Dictionary:
    """Load every page of the wiki folder; errors are collected, never raised per page."""
    wiki = Path(wiki)
    if not wiki.is_dir():
        raise UserError(f"dossier du wiki introuvable : {wiki} (option --wiki ou variable WORKBENCH_WIKI)")
    dictionary = Dictionary(root=wiki)
    for path in sorted(wiki.rglob("*.md")):
        if any(part.startswith(".") for part in path.relative_to(wiki).parts):
            continue
        read = _read_page(wiki, path, dictionary.errors)
        if read is None:
            continue
        page, lines, offset = read
        if page.name.startswith(f"{INDICATOR_FOLDER}/"):
            indicator = _load_indicator(page, lines, offset, dictionary.errors)
            if indicator is not None:
                if indicator.id in dictionary.indicators:
                    dictionary.errors.append(PageError(page.name, "id", lines.get("id"),
                                                       f"identifiant « {indicator.id} » déjà utilisé"))
                else:
                    dictionary.indicators[indicator.id] = indicator
            continue
        if page.name == REFERENTS_PAGE:
            dictionary.referents = _load_referents(page, lines, dictionary.errors)
        dictionary.pages[page.name] = page
    return dictionary
