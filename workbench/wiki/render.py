"""Shared presentation of indicator values, so the terminal and the site print the same number."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

DIMENSION_LABELS = {
    "hospital": "hôpital", "pole": "pôle/DMU", "service": "service", "uf": "UF",
    "month": "mois", "quarter": "trimestre", "year": "année",
    "stay_type": "type de séjour", "visit_type": "type de visite", "age_band": "tranche d'âge", "sex": "sexe",
}
"""French labels of the dimensions, for readers of the dictionary."""


def dimension_labels(names: list[str]) -> str:
    """``["hospital", "month"]`` → ``"hôpital (hospital), mois (month)"``: the label and the name to type."""
    return ", ".join(f"{DIMENSION_LABELS.get(n, n)} ({n})" for n in names)


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

