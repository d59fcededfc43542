"""Shared presentation of indicator values, so the terminal and the site print the same number."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd


def format_value(value: Any, unit: str = "") -> str:
    """A value in French notation: thousands separated by a space, two decimals for non-integers.

    Missing values (no denominator, masked) read « – ».
    """
    if value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value):
        return "–"
    number = float(value)
    if number.is_integer():
        text = f"{int(number):,}".replace(",", " ")
    else:
        text = f"{number:,.2f}".replace(",", " ").replace(".", ",")
    return f"{text} {unit}".strip() if unit and unit not in ("indice", "ratio") else text

