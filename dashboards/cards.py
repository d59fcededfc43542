"""The HTML of the indicator cards (KPI value, change on last year, quality badge) shared by the pilotage and
dictionary pages.

Its own module so that the pages lay cards out without holding their markup:
every value is escaped here, once, and the badge shows what
:mod:`workbench.quality.status` decided (this module computes nothing).
"""

from __future__ import annotations

import html
from typing import Any

import pandas as pd

from dashboards import components as c


def single_value(frame: pd.DataFrame) -> float | None:
    """The value of a request without breakdown (None when nothing matched)."""
    if frame.empty or pd.isna(frame["value"].iloc[0]):
        return None
    return float(frame["value"].iloc[0])


def unit_digits(unit: str) -> int:
    return 0 if unit.lower() in {"séjours", "patients", "passages", "journées", "nombre"} else 2


BADGE_COLOURS = {"fit": "#1a7f37", "caution": "#9a6700", "unfit": "#cf222e"}


def quality_html(quality: Any | None) -> str:
    """The quality badge: status of the checks the indicator depends on, failing checks in the tooltip."""
    if quality is None:
        return '<div class="wb-quality" data-quality="">Qualité : non évaluée</div>'
    colour = BADGE_COLOURS.get(quality.status, "#555")
    tooltip = html.escape("\n".join(quality.reasons()) or "tous les contrôles requis passent sur ce périmètre")
    return (f'<div class="wb-quality" data-quality="{quality.status}" title="{tooltip}" style="font-size:0.85em;'
            f'color:{colour};font-weight:600">Qualité : {quality.label}'
            f'{f" ({len(quality.failing)} contrôle(s) en échec)" if quality.failing else ""}</div>')


RESULT_COLUMNS = ("value", "numerator", "denominator", "n_patients", "indicator_version", "snapshot_id", "masked")


def distribution_html(definition: Any, result: Any) -> str:
    """A distribution (the case-mix: one share per CMD, GHM type or severity) as the table of its shares:
    one figure would show a single member's share as if it were the indicator's value."""
    axis = next((column for column in result.frame.columns if column not in RESULT_COLUMNS), None)
    digits = unit_digits(definition.unit)
    escape = html.escape
    rows = "".join(
        f'<tr data-member="{escape(str(row[axis]))}" data-value="{"" if pd.isna(row["value"]) else repr(float(row["value"]))}">'
        f"<td>{escape(str(row[axis]))}</td><td style=\"text-align:right\">"
        f"{c.french_number(None if pd.isna(row['value']) else float(row['value']), digits)} {escape(definition.unit)}</td></tr>"
        for _, row in result.frame.sort_values("value", ascending=False).iterrows()
    )
    return (f'<div class="wb-distribution" data-indicator="{escape(definition.id)}">'
            f'<div style="font-weight:600">{escape(definition.name)} (répartition par {escape(str(axis))})</div>'
            f'<table style="border-collapse:collapse">{rows}</table>'
            f'<div style="font-size:0.8em;color:#555">Référent : {escape(definition.referent)} · version '
            f"{escape(result.version)}</div></div>")


def kpi_html(definition: Any, result: Any, previous: float | None, quality: Any | None = None) -> str:
    """One KPI card: value, change vs previous year, definition, referent, version, quality badge."""
    indicator = definition.id
    current = single_value(result.frame)
    digits = unit_digits(definition.unit)
    masked = "masked" in result.frame and bool(result.frame["masked"].any())
    if masked:
        evolution = "valeur masquée : moins de 10 patients (politique de diffusion)"
    elif not result.available:
        evolution = f"{result.status} (données manquantes : " + ", ".join(
            f"{view}.{column}" for view, columns in result.missing.items() for column in columns) + ")"
    elif current is not None and previous not in (None, 0):
        change = (current - previous) / abs(previous) * 100
        arrow = "▲" if change > 0 else ("▼" if change < 0 else "=")
        evolution = f"{arrow} {c.french_number(change, 1)} % vs N-1 ({c.french_number(previous, digits)})"
    else:
        evolution = "pas de comparaison possible avec N-1"
    version = result.version
    escape = html.escape
    return (
        f'<div class="wb-kpi" data-indicator="{escape(indicator)}" data-value="{"" if current is None else repr(current)}"'
        f' data-previous="{"" if previous is None else repr(previous)}">'
        f'<div style="font-weight:600">{escape(definition.name)}</div>'
        f'<div class="wb-kpi-value" style="font-size:2em">{c.french_number(current, digits)}'
        f' <span style="font-size:0.5em">{escape(definition.unit)}</span></div>'
        f'<div class="wb-kpi-change">{escape(evolution)}</div>'
        f'<div style="font-size:0.85em;color:#555">{escape(definition.definition)}</div>'
        f'<div style="font-size:0.8em;color:#555">Référent : {escape(definition.referent)} · version {escape(version)}</div>'
        f"{quality_html(quality)}"
        "</div>"
    )
