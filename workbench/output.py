"""Writing command results as table, JSON, CSV or XLSX, stamped with provenance.

Every data output carries the same stamp (catalogue, versions, snapshot id), so
a figure found in a file can be traced back to its definition and data. Files
are written atomically (`workbench.outputs.atomic_file`), and every CSV or XLSX
cell goes through :func:`spreadsheet_safe` first: a text a spreadsheet would
run as a formula is neutralised.
"""

from __future__ import annotations

import io
import json
import re
import sys
from enum import Enum
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from workbench.errors import UserError
from workbench.outputs import write_text, write_with

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet (Excel, LibreOffice) read a cell as a formula or a DDE command."""


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    xlsx = "xlsx"


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if pd.isna(value):
        return None
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def to_json(payload: Any) -> str:
    """JSON with dates as ISO strings and NaN/NA as null."""
    return json.dumps(payload, default=_json_default, ensure_ascii=False, indent=2)


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A DataFrame as a list of plain dicts, missing values as None."""
    clean = frame.astype(object).where(frame.notna(), None)
    return clean.to_dict(orient="records")


def safe_cell(value: Any) -> Any:
    """A text starting like a formula (``=``, ``+``, ``-``, ``@``, tab, CR) gets a leading apostrophe; anything else is kept.

    OWASP's rule for CSV injection: the apostrophe makes the spreadsheet show
    the text as typed instead of evaluating it. Numbers are not text, so a
    negative count stays a number.
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with every text cell passed through :func:`safe_cell` (numeric columns untouched); the one
    neutralisation used by every CSV and XLSX writer. Column names are cells too."""
    safe = frame.copy()
    for column in safe.columns:
        values = safe[column].tolist()
        if any(safe_cell(value) is not value for value in values):  # only then: other columns keep their dtype
            safe[column] = pd.Series([safe_cell(value) for value in values], index=safe.index, dtype=object)
    safe.columns = [safe_cell(str(column)) for column in safe.columns]
    return safe


def _stamp_frame(stamp: Mapping[str, Any]) -> pd.DataFrame:
    return pd.DataFrame({"clé": [str(key) for key in stamp], "valeur": [str(v) for v in stamp.values()]})


XLSX_OPTIONS = {"constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
                "default_date_format": "yyyy-mm-dd hh:mm:ss", "nan_inf_to_errors": True}
"""XlsxWriter streaming rows (constant memory) writes a cohort export of 150,000 rows two to three times faster
than pandas over openpyxl; with these options it never turns a text into a formula or a link, whatever
`spreadsheet_safe` let through."""


def write_xlsx(frame: pd.DataFrame, path: Path, stamp: Mapping[str, Any], sheet: str = "Données") -> None:
    """An XLSX workbook with the data sheet and a 'Métadonnées' sheet holding the stamp, written atomically."""
    write_xlsx_sheets({sheet: frame}, path, stamp)


def write_xlsx_sheets(sheets: Mapping[str, pd.DataFrame], path: Path, stamp: Mapping[str, Any]) -> None:
    """An XLSX workbook with one sheet per frame, then a 'Métadonnées' sheet holding the stamp, written atomically.

    Rows are written in order (constant-memory mode needs it), missing values as empty cells.
    """
    import xlsxwriter

    def write(temporary: Path) -> None:
        book = xlsxwriter.Workbook(str(temporary), XLSX_OPTIONS)
        try:
            for sheet, frame in [*sheets.items(), ("Métadonnées", _stamp_frame(stamp))]:
                safe = spreadsheet_safe(frame)
                worksheet = book.add_worksheet(sheet)
                worksheet.write_row(0, 0, list(safe.columns))
                cells = safe.astype(object).where(safe.notna(), None)
                for number, row in enumerate(cells.itertuples(index=False, name=None), start=1):
                    worksheet.write_row(number, 0, row)
        finally:
            book.close()

    write_with(path, write)


def csv_text(frame: pd.DataFrame, stamp: Mapping[str, Any]) -> str:
    """The CSV: ``# key: value`` comment lines (one line each, whatever the value holds), then the neutralised rows."""
    header = "".join(f"# {_one_line(key)}: {_one_line(value)}\n" for key, value in stamp.items())
    return header + spreadsheet_safe(frame).to_csv(index=False)


_FORMULA_AFTER_SEPARATOR = re.compile(r"([,;\t]\s*)(?=[=+\-@])")


def _one_line(value: Any) -> str:
    """The value on one line; a piece a spreadsheet would split off at a separator (comma, semicolon, tab) and
    read as a formula gets the apostrophe, like a cell (a criterion « x,=HYPERLINK(…) » in a stamp line)."""
    return _FORMULA_AFTER_SEPARATOR.sub(r"\1'", " ".join(str(value).splitlines()))


def emit(
    frame: pd.DataFrame,
    fmt: OutputFormat,
    out: Path | None = None,
    stamp: Mapping[str, Any] | None = None,
    title: str | None = None,
) -> None:
    """Write `frame` in `fmt` to `out` (or stdout), with the provenance stamp.

    JSON is ``{"metadata": stamp, "rows": [...]}``; CSV starts with ``# key: value``
    comment lines; XLSX has a 'Métadonnées' sheet; the table format is for humans.
    """
    stamp = dict(stamp or {})
    if fmt is OutputFormat.xlsx:
        if out is None:
            raise UserError("--format xlsx demande --out FICHIER.xlsx")
        write_xlsx(frame, out, stamp)
        return
    if fmt is OutputFormat.json:
        text = to_json({"metadata": stamp, "rows": records(frame)}) + "\n"
    elif fmt is OutputFormat.csv:
        text = csv_text(frame, stamp)
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title)
        for column in frame.columns:
            table.add_column(str(column))
        for row in frame.itertuples(index=False):
            table.add_row(*["" if pd.isna(v) else str(v) for v in row])
        if out is None:
            Console(file=sys.stdout).print(table)
            return
        buffer = io.StringIO()
        Console(file=buffer).print(table)
        text = buffer.getvalue()
    if out is None:
        sys.stdout.write(text)
    else:
        write_text(Path(out), text)


def emit_json(payload: Any, out: Path | None = None) -> None:
    """Write a plain JSON payload (lists of objects with snake_case keys)."""
    text = to_json(payload) + "\n"
    if out is None:
        sys.stdout.write(text)
    else:
        write_text(Path(out), text)
