"""Writing command results as table, JSON, CSV or XLSX, stamped with provenance.

Every data output carries the same stamp (catalogue, versions, snapshot id), so
a figure found in a file can be traced back to its definition and data.
"""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from workbench.errors import UserError


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


def write_xlsx(frame: pd.DataFrame, path: Path, stamp: Mapping[str, Any], sheet: str = "Données") -> None:
    """An XLSX workbook with the data sheet and a 'Métadonnées' sheet holding the stamp."""
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        frame.to_excel(writer, sheet_name=sheet, index=False)
        pd.DataFrame({"clé": list(stamp), "valeur": [str(v) for v in stamp.values()]}).to_excel(
            writer, sheet_name="Métadonnées", index=False
        )


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
        header = "".join(f"# {key}: {value}\n" for key, value in stamp.items())
        text = header + frame.to_csv(index=False)
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title)
        for column in frame.columns:
            table.add_column(str(column))
        for row in frame.itertuples(index=False):
            table.add_row(*["" if pd.isna(v) else str(v) for v in row])
        Console(file=sys.stdout if out is None else open(out, "w", encoding="utf-8")).print(table)
        return
    if out is None:
        sys.stdout.write(text)
    else:
        Path(out).write_text(text, encoding="utf-8")


def emit_json(payload: Any, out: Path | None = None) -> None:
    """Write a plain JSON payload (lists of objects with snake_case keys)."""
    text = to_json(payload) + "\n"
    if out is None:
        sys.stdout.write(text)
    else:
        Path(out).write_text(text, encoding="utf-8")
