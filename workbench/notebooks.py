"""Templated notebooks: discovery, parameters, preparation, headless runs.

A template is a Jupytext percent file (``notebooks/templates/<id>.py``), the
reviewed source of truth. Its first Markdown cell gives the title (first heading)
and the description (the text after it); its cell tagged ``parameters`` declares
typed defaults (``year: int = 2025``) that papermill overrides. Everything the
command line shows about a template is read from the template itself, so a new
file in the folder is a new template with nothing to register.

Parameters are checked before any kernel starts: names, types, and values that
refer to the data (hospital codes, care-site codes, indicator ids, months) are
refused with one French line, so a run never fails halfway on a typo.

Templates publish their key results with :func:`workbench.analysis.record`,
a display output with a workbench MIME type; :func:`workbench.records.read_records` reads them
back from an executed notebook (for the run's metadata and for the tests).
"""

from __future__ import annotations

import ast
import datetime as dt
import hashlib
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import nbformat

from workbench import paths
from workbench.errors import UserError
from workbench.outputs import write_text, write_with
from workbench.records import RECORD_MIME, read_records

KERNEL_NAME = "eds-workbench"
KERNEL_DISPLAY_NAME = "EDS Workbench"

SUPPORTED_TYPES = ("str", "int", "float", "bool", "list[str]")
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class Parameter:
    """One declared parameter: ``name: type = default  # help``."""

    name: str
    type: str
    default: Any
    help: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "default": self.default, "help": self.help}


@dataclass(frozen=True)
class Template:
    """A notebook template as read from its Jupytext file."""

    name: str
    path: Path
    title: str
    description: str
    parameters: tuple[Parameter, ...]
    sha256: str

    def parameter(self, name: str) -> Parameter | None:
        return next((p for p in self.parameters if p.name == name), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "path": str(self.path),
            "parameters": [p.as_dict() for p in self.parameters],
        }


# --------------------------------------------------------------------------- reading templates


def read_notebook(path: Path) -> nbformat.NotebookNode:
    """The template as an nbformat v4 notebook (Jupytext percent file or .ipynb)."""
    import jupytext

    try:
        return jupytext.read(path)
    except Exception as error:  # noqa: BLE001 - any parse failure is the file's fault
        raise UserError(f"{path} : modèle de notebook illisible ({error})") from error


def _parameters_cell(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode | None:
    return next(
        (c for c in notebook.cells if c.cell_type == "code" and "parameters" in c.get("metadata", {}).get("tags", [])),
        None,
    )


def _inline_comments(source: str) -> dict[int, str]:
    """Trailing ``# comment`` of each line (1-based), used as the parameter's help."""
    import io
    import tokenize

    comments: dict[int, str] = {}
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.COMMENT:
                comments[token.start[0]] = token.string.lstrip("#").strip()
    except (tokenize.TokenError, IndentationError):
        pass
    return comments


def parse_parameters(source: str, where: str) -> tuple[Parameter, ...]:
    """Typed parameters of a ``parameters`` cell: only ``name: type = literal`` lines.

    A plain ``name = literal`` is accepted with its type inferred, so papermill's
    own convention still works; anything else (calls, expressions) is refused,
    because a default that is not a literal cannot be shown or validated.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        raise UserError(f"{where} : cellule 'parameters' invalide ({error.msg}, ligne {error.lineno})") from error
    comments = _inline_comments(source)
    found: list[Parameter] = []
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            name, type_name, value_node = node.target.id, ast.unparse(node.annotation).replace(" ", ""), node.value
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name, type_name, value_node = node.targets[0].id, None, node.value
        else:
            raise UserError(
                f"{where} : ligne {node.lineno} de la cellule 'parameters' : seules des affectations "
                "'nom: type = valeur' sont permises"
            )
        try:
            default = ast.literal_eval(value_node)
        except ValueError as error:
            raise UserError(f"{where} : la valeur par défaut de '{name}' n'est pas une constante") from error
        type_name = type_name or _infer_type(default)
        if type_name == "list":
            type_name = "list[str]"
        if type_name not in SUPPORTED_TYPES:
            raise UserError(
                f"{where} : type '{type_name}' du paramètre '{name}' non pris en charge "
                f"(types : {', '.join(SUPPORTED_TYPES)})"
            )
        default = _coerce(Parameter(name, type_name, None), default, where)
        found.append(Parameter(name, type_name, default, comments.get(node.lineno, "")))
    return tuple(found)


def _infer_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, list):
        return "list[str]"
    return type(value).__name__


def _title_and_description(notebook: nbformat.NotebookNode) -> tuple[str, str]:
    markdown = next((c for c in notebook.cells if c.cell_type == "markdown"), None)
    if markdown is None:
        return "", ""
    lines = markdown.source.strip().splitlines()
    title = ""
    if lines and lines[0].startswith("#"):
        title = lines.pop(0).lstrip("#").strip()
    description = " ".join(line.strip() for line in lines if line.strip() and not line.startswith("#"))
    return title, description


def load_template(path: Path) -> Template:
    """Read one template file: title, description, parameters and content hash."""
    path = Path(path)
    notebook = read_notebook(path)
    cell = _parameters_cell(notebook)
    if cell is None:
        raise UserError(f"{path} : aucune cellule marquée 'parameters' (# %% tags=[\"parameters\"])")
    title, description = _title_and_description(notebook)
    return Template(
        name=path.stem,
        path=path.resolve(),
        title=title or path.stem,
        description=description,
        parameters=parse_parameters(cell.source, str(path)),
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
    )


def discover(folder: Path | None = None) -> list[Template]:
    """Every template of the folder (``--templates``, ``$WORKBENCH_TEMPLATES`` or the project's)."""
    folder = paths.templates_path(folder)
    if not folder.is_dir():
        raise UserError(f"dossier de modèles introuvable : {folder}")
    return [load_template(p) for p in sorted(folder.glob("*.py")) if not p.name.startswith("_")]


def find_template(name: str, folder: Path | None = None) -> Template:
    """The template named `name` (its file stem), or a path to a template file."""
    candidate = Path(name)
    if candidate.suffix in (".py", ".ipynb") and candidate.is_file():
        return load_template(candidate)
    templates = discover(folder)
    for template in templates:
        if template.name == name:
            return template
    known = ", ".join(t.name for t in templates) or "aucun"
    raise UserError(f"modèle de notebook inconnu : '{name}' (modèles : {known})")


# --------------------------------------------------------------------------- parameter values


def parse_assignments(pairs: Sequence[str]) -> dict[str, str]:
    """``["year=2024", "hospital=014"]`` → dict; a pair without '=' is refused."""
    values: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise UserError(f"--param attend nom=valeur, reçu '{pair}'")
        values[name.strip()] = value.strip()
    return values


_TRUE = {"true", "1", "oui", "yes", "vrai"}
_FALSE = {"false", "0", "non", "no", "faux"}


def _coerce(parameter: Parameter, value: Any, where: str) -> Any:
    """`value` converted to the parameter's type; strings are parsed as the CLI gives them."""
    kind = parameter.type
    wrong = UserError(f"{where} : le paramètre '{parameter.name}' attend {_TYPE_LABELS[kind]}, reçu {value!r}")
    if kind == "str":
        if not isinstance(value, str):
            raise wrong
        return value
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        raise wrong
    if kind == "int":
        if isinstance(value, bool):
            raise wrong
        if isinstance(value, int):
            return value
        if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
            return int(value)
        raise wrong
    if kind == "float":
        if isinstance(value, bool):
            raise wrong
        if isinstance(value, (int, float)):
            return float(value)
        try:
            return float(value)
        except (TypeError, ValueError):
            raise wrong from None
    # list[str]
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                raise wrong from None
        else:
            value = [item.strip() for item in text.split(",") if item.strip()]
    if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        return list(value)
    raise wrong


_TYPE_LABELS = {
    "str": "du texte",
    "int": "un entier",
    "float": "un nombre",
    "bool": "un booléen (true/false)",
    "list[str]": "une liste de textes séparés par des virgules",
}


class DataChecks:
    """Checks of parameter values against the data and the dictionary, loaded lazily.

    The warehouse and the wiki are opened only if a template has a parameter
    that needs them, so listing or preparing a notebook stays cheap.
    """

    def __init__(self, catalog: Path | None, wiki: Path | None) -> None:
        self.catalog = catalog
        self.wiki = wiki
        self._warehouse: Any = None
        self._codes: dict[str, list[str]] | None = None
        self._dictionary: Any = None

    @property
    def warehouse(self) -> Any:
        if self._warehouse is None:
            import workbench

            self._warehouse = workbench.open(catalog=self.catalog)
        return self._warehouse

    def care_site_codes(self) -> dict[str, list[str]]:
        if self._codes is None:
            from workbench.analysis import care_site_codes

            self._codes = care_site_codes(self.warehouse)
        return self._codes

    def dictionary(self) -> Any:
        if self._dictionary is None:
            from workbench.indicators.dictionary import load_dictionary

            self._dictionary = load_dictionary(paths.wiki_path(self.wiki))
        return self._dictionary

    def indicator_ids(self) -> list[str]:
        return indicator_ids(self.dictionary())


def indicator_ids(dictionary: Any) -> list[str]:
    """The identifiers of the valid indicator pages of a loaded dictionary."""
    return sorted(dictionary.indicators)


def _check_month(name: str, value: Any, checks: DataChecks) -> str | None:
    if value and not _MONTH.match(value):
        return f"le paramètre '{name}' attend un mois AAAA-MM, reçu '{value}'"
    return None


def _check_hospital(name: str, value: Any, checks: DataChecks) -> str | None:
    if not value:
        return None
    codes = checks.care_site_codes()["hopital"]
    if value not in codes:
        return f"code hôpital inconnu pour '{name}' : '{value}' (hôpitaux : {', '.join(codes)})"
    return None


def _check_care_site(name: str, value: Any, checks: DataChecks) -> str | None:
    if value and value not in checks.care_site_codes()["all"]:
        return f"code de structure inconnu pour '{name}' : '{value}' (voir la vue care_sites)"
    return None


def _check_indicator(name: str, value: Any, checks: DataChecks) -> str | None:
    ids = checks.indicator_ids()
    if value not in ids:
        return f"indicateur inconnu pour '{name}' : '{value}' (indicateurs : {', '.join(ids)})"
    return None


def _check_members(allowed: Sequence[str]) -> Callable[[str, Any, DataChecks], str | None]:
    def check(name: str, value: Any, checks: DataChecks) -> str | None:
        values = value if isinstance(value, list) else [value] if value else []
        unknown = [v for v in values if v not in allowed]
        if unknown:
            return f"valeur inconnue pour '{name}' : {', '.join(map(repr, unknown))} (valeurs : {', '.join(allowed)})"
        return None

    return check


def _value_checks() -> dict[str, Callable[[str, Any, DataChecks], str | None]]:
    """Checks keyed by parameter name: the naming convention templates follow."""
    from workbench.indicators.model import AGE_BANDS, DIMENSIONS

    return {
        "start": _check_month,
        "end": _check_month,
        "hospital": _check_hospital,
        "care_site": _check_care_site,
        "indicator": _check_indicator,
        "by": _check_members(DIMENSIONS),
        "grain": _check_members(("month", "quarter", "year")),
        "age_bands": _check_members(AGE_BANDS),
        "sex": _check_members(("M", "F", "inconnu")),
        "source": _check_members(("ORBIS", "AREM")),
        "stay_type": _check_members(("MCO", "SSR", "PSY", "SLD", "autre")),
        "level": _check_members(("hospital", "pole", "service", "uf")),
    }


def validate(
    template: Template,
    values: Mapping[str, Any],
    checks: DataChecks | None = None,
) -> dict[str, Any]:
    """The typed values to inject, or a :class:`UserError` naming the bad parameter.

    Unknown names and wrong types are refused first; then values that name
    things in the data (hospital, care site, indicator, month...) are checked
    against the warehouse and the dictionary when `checks` is given.
    """
    where = f"modèle '{template.name}'"
    declared = {p.name: p for p in template.parameters}
    unknown = [name for name in values if name not in declared]
    if unknown:
        raise UserError(
            f"{where} : paramètre inconnu '{unknown[0]}' (paramètres : {', '.join(declared) or 'aucun'})"
        )
    typed = {name: _coerce(declared[name], value, where) for name, value in values.items()}
    if checks is not None:
        rules = _value_checks()
        effective = {p.name: p.default for p in template.parameters} | typed
        for name, value in effective.items():
            rule = rules.get(name)
            problem = rule(name, value, checks) if rule else None
            if problem:
                raise UserError(f"{where} : {problem}")
        if effective.get("indicator") and effective.get("version"):
            page = checks.dictionary().get(effective["indicator"])
            known = [v.version for v in page.definition.versions]
            if effective["version"] not in known:
                raise UserError(
                    f"{where} : version inconnue '{effective['version']}' de l'indicateur "
                    f"{effective['indicator']} (versions : {', '.join(known)})"
                )
        start, end = effective.get("start"), effective.get("end")
        if start and end and start > end:
            raise UserError(f"{where} : la période est vide (start {start} après end {end})")
    return typed


def default_context(template: Template, catalog: Path | None, wiki: Path | None) -> dict[str, str]:
    """Absolute catalogue and wiki paths for templates that declare them.

    The kernel may run in another folder than the command, so the paths the
    command resolved are injected rather than left to the notebook's own lookup.
    """
    context: dict[str, str] = {}
    if template.parameter("catalog") is not None:
        context["catalog"] = str(paths.catalog_path(catalog).resolve())
    if template.parameter("wiki") is not None:
        context["wiki"] = str(paths.wiki_path(wiki).resolve())
    return context


# --------------------------------------------------------------------------- new / run


def ensure_kernel() -> str:
    """Install the project's kernelspec into this environment if it is missing.

    Same as ``python -m ipykernel install --sys-prefix --name eds-workbench``:
    the kernel runs this interpreter, so notebooks import this workbench.
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(KERNEL_NAME)
    except NoSuchKernel:
        from ipykernel.kernelspec import install

        install(kernel_name=KERNEL_NAME, display_name=KERNEL_DISPLAY_NAME, prefix=sys.prefix)
    return KERNEL_NAME


def _base_notebook(template: Template, kernel: str) -> nbformat.NotebookNode:
    notebook = read_notebook(template.path)
    notebook.metadata["kernelspec"] = {"name": kernel, "display_name": KERNEL_DISPLAY_NAME, "language": "python"}
    notebook.metadata.setdefault("language_info", {"name": "python"})
    notebook.metadata.pop("jupytext", None)
    for cell in notebook.cells:  # papermill reads ``metadata.tags`` of every cell
        cell.metadata.setdefault("tags", [])
    return notebook


def _stamp(template: Template, parameters: Mapping[str, Any], warehouse: Any, catalog: Path | None) -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        workbench_version = version("eds-workbench")
    except PackageNotFoundError:
        workbench_version = "dev"
    stamp: dict[str, Any] = {
        "template": template.name,
        "template_path": str(template.path),
        "template_sha256": template.sha256,
        "parameters": dict(parameters),
        "catalog": str(paths.catalog_path(catalog).resolve()),
        "workbench_version": workbench_version,
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if warehouse is not None:
        stamp["snapshot_id"] = getattr(warehouse, "snapshot_id", None)
        extraction = getattr(warehouse, "extraction_date", None)
        stamp["extraction_date"] = extraction.isoformat() if hasattr(extraction, "isoformat") else extraction
    return stamp


@dataclass
class Prepared:
    """A validated request: the template's notebook, the values to inject, the data checks used."""

    template: Template
    parameters: dict[str, Any]
    notebook: nbformat.NotebookNode
    checks: DataChecks = field(repr=False)


def prepare(
    template: Template,
    values: Mapping[str, Any],
    catalog: Path | None = None,
    wiki: Path | None = None,
    check_data: bool = True,
    kernel: str = KERNEL_NAME,
) -> Prepared:
    """Validate `values` and add the catalogue and wiki paths the template declares."""
    checks = DataChecks(catalog, wiki)
    typed = validate(template, values, checks if check_data else None)
    parameters = default_context(template, catalog, wiki) | typed
    return Prepared(template, parameters, _base_notebook(template, kernel), checks)


def _papermill(prepared: Prepared, out: Path | None, kernel: str, execute: bool) -> nbformat.NotebookNode:
    """Inject the parameters after the ``parameters`` cell (papermill) and, if asked, execute."""
    import papermill

    return papermill.execute_notebook(
        prepared.notebook,
        str(out) if out is not None else None,
        parameters=prepared.parameters,
        kernel_name=kernel,
        language="python",
        prepare_only=not execute,
        progress_bar=False,
        cwd=str(out.parent) if out is not None else None,
    )


def notebook_for(
    template: Template | str,
    values: Mapping[str, Any],
    catalog: Path | None = None,
    wiki: Path | None = None,
    templates: Path | None = None,
) -> str:
    """The .ipynb text of a parameterised, unexecuted notebook, for a download button.

    This is how a dashboard view opens as a notebook that reproduces it: the
    view's state becomes the parameters of a template (e.g. indicator_deep_dive).
    """
    if isinstance(template, str):
        template = find_template(template, templates)
    prepared = prepare(template, values, catalog, wiki)
    prepared.notebook.metadata["workbench"] = _stamp(template, prepared.parameters, None, catalog)
    return nbformat.writes(_papermill(prepared, None, KERNEL_NAME, execute=False))


def new(
    template: Template,
    values: Mapping[str, Any],
    out: Path,
    catalog: Path | None = None,
    wiki: Path | None = None,
    overwrite: bool = False,
    check_data: bool = True,
) -> Path:
    """Write a ready-to-edit .ipynb: the template with the parameters injected, not executed."""
    out = _output_path(out, overwrite)
    prepared = prepare(template, values, catalog, wiki, check_data=check_data)
    prepared.notebook.metadata["workbench"] = _stamp(template, prepared.parameters, None, catalog)
    write_with(out, lambda temporary: _papermill(prepared, temporary, KERNEL_NAME, execute=False))
    return out


def _output_path(out: Path, overwrite: bool) -> Path:
    out = Path(out)
    if out.suffix != ".ipynb":
        raise UserError(f"--out doit être un fichier .ipynb, reçu '{out}'")
    if out.exists() and not overwrite:
        raise UserError(f"{out} existe déjà (--force pour le remplacer)")
    out.parent.mkdir(parents=True, exist_ok=True)
    return out


@dataclass
class RunResult:
    notebook_path: Path
    html_path: Path | None
    records: dict[str, Any]
    metadata: dict[str, Any]


def run(
    template: Template,
    values: Mapping[str, Any],
    out: Path,
    catalog: Path | None = None,
    wiki: Path | None = None,
    html: bool = False,
    overwrite: bool = True,
    kernel: str | None = None,
    sandbox: "Sandbox | None" = None,
) -> RunResult:
    """Execute the template headless with papermill on the project's kernel.

    The output notebook's metadata carries the parameters, the template's
    content hash, the catalogue and the data snapshot, plus the results the
    notebook recorded; with `html`, a report is written next to it. With a
    `sandbox`, the kernel runs under the user's own system account (see
    :class:`Sandbox`) and only the finished notebook comes back.
    """
    from papermill.exceptions import PapermillExecutionError

    out = _output_path(out, overwrite)
    kernel = kernel or ensure_kernel()
    prepared = prepare(template, values, catalog, wiki, kernel=kernel)
    warehouse = prepared.checks.warehouse if template.parameter("catalog") is not None else None
    stamp = _stamp(template, prepared.parameters, warehouse, catalog)
    prepared.notebook.metadata["workbench"] = stamp
    try:
        if sandbox is not None:
            sandbox.execute(prepared, out, kernel)
        else:
            _papermill(prepared, out, kernel, execute=True)
    except PapermillExecutionError as error:
        raise UserError(
            f"le notebook '{template.name}' a échoué à la cellule {error.exec_count} : "
            f"{error.ename}: {error.evalue} (voir {out})"
        ) from error
    executed = _drop_empty_outputs(nbformat.read(out, as_version=4))
    results = read_records(executed)
    executed.metadata["workbench"] = stamp | {"results": results}
    write_with(out, lambda temporary: nbformat.write(executed, temporary))
    html_path = export_html(executed, out.with_suffix(".html")) if html else None
    return RunResult(out, html_path, results, dict(executed.metadata["workbench"]))


def _drop_empty_outputs(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Remove display outputs without any data (HoloViews' comm placeholders), which nothing can render."""
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if o.output_type != "display_data" or o.get("data")]
    return notebook


def export_html(notebook: nbformat.NotebookNode, path: Path) -> Path:
    """An HTML report of an executed notebook (nbconvert, plots embedded)."""
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(notebook)
    return write_text(path, body)


# --------------------------------------------------------------------------- kernels as the user


class Sandbox:
    """Where and as whom a user's kernels run: his system account, his projects folder, never the warehouse.

    Only root can start a process under another account; the workbench (root,
    the server's service) prepares the notebook in a fresh *work folder* it
    creates outside anything the account can write (`workbench.projects.work_folder`),
    with the account's kernelspec, hands that folder over, runs papermill there
    under the account (no supplementary groups), then reads the executed
    notebook back (never through a link). Root never walks or writes the
    user's own folder, where the account could plant links. The kernel's
    environment names the project's catalogue and a state folder of the
    user's own (its audit lines stay his; the run itself is audited by the
    command), and nothing of the deployment.
    """

    def __init__(self, user_name: str, home: Path, catalog: Path | None):
        from workbench.projects import accounts

        if not accounts.running_as_root():
            raise UserError(NOT_ROOT)
        self.user_name = user_name
        self.home = Path(home)
        self.catalog = catalog
        self.python = kernel_python()
        self.account = accounts.ensure_account(user_name, self.home)
        accounts.hand_over(self.home, self.account, recursive=False)

    def work_folder(self) -> Path:
        """A fresh root-made folder holding the account's kernelspec (first in its Jupyter path: the interpreter
        it can execute), handed over to the account; the caller removes it."""
        from workbench.projects import accounts, work_folder

        folder = work_folder()
        kernels = folder / "jupyter-data" / "kernels" / KERNEL_NAME
        kernels.mkdir(parents=True)
        spec = {"argv": [self.python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": KERNEL_DISPLAY_NAME, "language": "python"}
        (kernels / "kernel.json").write_text(json.dumps(spec, indent=1), encoding="utf-8")
        return folder

    def environment(self, folder: Path) -> dict[str, str]:
        """The kernel's environment: the workbench's packages, the locale, the user's folders, no deployment."""
        import site

        kept = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TZ")}
        packages = [*site.getsitepackages(), str(Path(__file__).resolve().parent.parent)]
        env = {
            **kept, "HOME": str(self.home), "USER": self.account.name, "LOGNAME": self.account.name,
            "PYTHONPATH": os.pathsep.join(packages),
            "WORKBENCH_STATE": str(self.home / ".etat"), "WORKBENCH_PROJECTS": str(self.home.parent),
            "JUPYTER_RUNTIME_DIR": str(folder / "runtime"), "JUPYTER_DATA_DIR": str(folder / "jupyter-data"),
            "IPYTHONDIR": str(self.home / ".ipython"), "MPLCONFIGDIR": str(self.home / ".matplotlib"),
        }
        if self.catalog is not None:
            env["WORKBENCH_CATALOG"] = str(self.catalog)
        return env

    def demote(self) -> None:
        """No supplementary group, then the account's gid and uid (in that order): in a child before exec, or in
        the `lab` process itself before it prepares the workspace and execs JupyterLab."""
        os.setgroups([])
        os.setgid(self.account.gid)
        os.setuid(self.account.uid)

    def prepare_workspace(self, folder: Path, templates: Path | None, catalog: Path | None,
                          wiki: Path | None) -> Path:
        """`prepare_workspace` in his folder, run as the account (a child on the kernel interpreter): root never
        writes where the account could have planted a link."""
        import subprocess

        work = self.work_folder()
        try:
            from workbench.projects import accounts

            accounts.hand_over(work, self.account)
            arguments = [str(folder), str(paths.templates_path(templates).resolve()),
                         str(catalog or ""), str(paths.wiki_path(wiki).resolve())]
            done = subprocess.run([self.python, "-c", _PREPARE_WORKSPACE, *arguments], cwd=work,
                                  env=self.environment(work), preexec_fn=self.demote, capture_output=True, text=True,
                                  check=False)
            if done.returncode != 0:
                raise UserError(f"préparation du dossier de travail de {self.user_name} impossible : "
                                f"{(done.stderr.strip().splitlines() or ['?'])[-1]}")
        finally:
            import shutil

            shutil.rmtree(work, ignore_errors=True)
        return folder

    def execute(self, prepared: "Prepared", out: Path, kernel: str) -> None:
        """Run the prepared notebook under the account; the executed notebook is written to `out` (by root)."""
        import shutil
        import subprocess

        from workbench.projects import accounts

        folder = self.work_folder()
        try:
            source, target = folder / "entree.ipynb", folder / "sortie.ipynb"
            nbformat.write(_papermill(prepared, None, kernel, execute=False), source)
            accounts.hand_over(folder, self.account)
            done = subprocess.run(
                [self.python, "-m", "papermill", str(source), str(target), "--kernel", kernel, "--cwd",
                 str(folder), "--no-progress-bar", "--log-level", "ERROR"],
                cwd=folder, env=self.environment(folder), preexec_fn=self.demote,
                capture_output=True, text=True, check=False,
            )
            executed = _read_regular(target)
            if executed is None:
                raise UserError(f"le noyau de {self.user_name} n'a pas pu s'exécuter : "
                                f"{(done.stderr.strip().splitlines() or ['?'])[-1]}")
            write_with(out, lambda temporary: nbformat.write(executed, temporary))
            if done.returncode != 0:
                failed = _first_error(executed)
                raise UserError(f"le notebook '{prepared.template.name}' a échoué (noyau de {self.user_name}) : "
                                f"{failed} (voir {out})")
        finally:
            shutil.rmtree(folder, ignore_errors=True)


_PREPARE_WORKSPACE = """
import sys
from pathlib import Path
from workbench.notebooks import prepare_workspace
folder, templates, catalog, wiki = sys.argv[1:]
prepare_workspace(Path(folder), Path(templates), Path(catalog) if catalog else None, Path(wiki))
"""


def _read_regular(path: Path) -> nbformat.NotebookNode | None:
    """The notebook the account wrote at `path`, read without following a link (None when absent or not a file)."""
    import stat

    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(descriptor, encoding="utf-8") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return None
        return nbformat.read(handle, as_version=4)


KERNEL_PYTHON_VARIABLE = "WORKBENCH_KERNEL_PYTHON"


def kernel_python() -> str:
    """The interpreter of users' kernels: the deployment's ``kernel_python`` ($WORKBENCH_KERNEL_PYTHON), else this
    one; it must be executable by any account (no private folder on its path), or a `UserError` says which folder
    closes it. It runs the workbench's own packages (same Python minor version), put on its PYTHONPATH."""
    chosen = os.environ.get(KERNEL_PYTHON_VARIABLE) or sys.executable
    closed = closed_to_others(Path(chosen))
    if closed is not None:
        raise UserError(f"l'interpréteur des noyaux {chosen} n'est pas exécutable par les comptes des utilisateurs "
                        f"({closed} leur est fermé) : installez Python hors d'un dossier privé, ou nommez un autre "
                        f"interpréteur 3.{sys.version_info.minor} (clé kernel_python de la configuration)")
    return chosen


def closed_to_others(path: Path) -> Path | None:
    """The first folder or file on `path` (symbolic links followed) that an unrelated account cannot traverse or
    execute, else None."""
    import stat

    current = Path(path.anchor)
    for part in Path(path).parts[1:]:
        current = current / part
        if current.is_symlink():
            target = Path(os.readlink(current))
            return closed_to_others(target if target.is_absolute() else current.parent / target)
        if not current.stat().st_mode & stat.S_IXOTH:
            return current
    return None


NOT_ROOT = ("les noyaux des utilisateurs s'exécutent sous leur propre compte système, que seul root peut créer "
             "et utiliser : lancez la commande sur le serveur de l'entrepôt, en root (sinon réservée au rôle admin)")


def _first_error(notebook: nbformat.NotebookNode) -> str:
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return f"{output.get('ename')}: {output.get('evalue')}"
    return "erreur inconnue"


# --------------------------------------------------------------------------- JupyterLab


def prepare_workspace(
    workspace: Path | None,
    templates: Path | None = None,
    catalog: Path | None = None,
    wiki: Path | None = None,
) -> Path:
    """A writable folder holding every template as a ready-to-edit .ipynb.

    Copies already there are left alone, so the analyst's edits survive a
    restart; the templates folder itself is never written to.
    """
    folder = Path(workspace or paths.state_path() / "notebooks").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    copies = folder / "modeles"
    copies.mkdir(exist_ok=True)
    for template in discover(templates):
        target = copies / f"{template.name}.ipynb"
        if not target.exists():
            new(template, {}, target, catalog=catalog, wiki=wiki, check_data=False)
    return folder


def lab_environment(sandbox: Sandbox, folder: Path) -> dict[str, str]:
    """The environment of a user's JupyterLab: the sandbox's, plus this installation's JupyterLab assets (the
    kernel interpreter may be another prefix's)."""
    env = sandbox.environment(folder)
    env["JUPYTERLAB_DIR"] = str(Path(sys.prefix) / "share" / "jupyter" / "lab")
    if sandbox.catalog is None:
        env.pop("WORKBENCH_CATALOG", None)
    return env


def lab_command(
    workspace: Path,
    port: int,
    token: str | None = None,
    browser: bool = False,
    catalog: Path | None = None,
    wiki: Path | None = None,
) -> tuple[list[str], dict[str, str]]:
    """The JupyterLab command line and environment: local address, the workspace as root, our kernel.

    The catalogue and wiki paths go into the environment so that every kernel
    the server starts, in any folder, opens the same warehouse.
    """
    ensure_kernel()
    argv = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={workspace}",
        f"--MultiKernelManager.default_kernel_name={KERNEL_NAME}",
    ]
    if not browser:
        argv.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers often run as root
        argv.append("--allow-root")
    if token is not None:
        argv.append(f"--IdentityProvider.token={token}")
    env = dict(os.environ)
    env["WORKBENCH_CATALOG"] = str(paths.catalog_path(catalog).resolve())
    env["WORKBENCH_WIKI"] = str(paths.wiki_path(wiki).resolve())
    return argv, env
