"""Conditions on TNM stages (``T>=3``, ``M1``, ``N>0 M0``), as cohort criteria and prescreening write them."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable

import pandas as pd

from workbench.errors import UserError

_CONDITION = re.compile(r"^\s*([TNM])\s*(>=|<=|>|<|=|==)?\s*(\d)\s*$", re.IGNORECASE)
_OPERATORS: dict[str, Callable[[int, int], bool]] = {
    ">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt, "=": operator.eq, "==": operator.eq,
}


def stage_level(value: str | None) -> int | None:
    """The number of a T, N or M value (``"1a"`` → 1, ``"is"`` → 0); None for ``x``, absent or unreadable."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    text = str(value).strip().lower()
    if text in ("is", "a"):  # carcinoma in situ, no evidence of primary tumour
        return 0
    match = re.match(r"\d", text)
    return int(match.group()) if match else None


def parse_condition(condition: str) -> list[tuple[str, Callable[[int, int], bool], int]]:
    """``"T>=3 M1"`` → [(column, comparison, level)…]; every part must hold. A bad condition is a UserError."""
    parts = [part for part in re.split(r"[\s,;]+|\bet\b", condition or "") if part.strip()]
    if not parts:
        raise UserError(f"condition TNM vide : {condition!r} (exemples : T>=3, M1, N>0 M0)")
    out = []
    for part in parts:
        match = _CONDITION.match(part)
        if not match:
            raise UserError(f"condition TNM illisible « {part} » dans « {condition} » (exemples : T>=3, M1, N>0 M0)")
        letter, op, level = match.groups()
        out.append((letter.lower(), _OPERATORS[op or "="], int(level)))
    return out


def stage_filter(stages: pd.DataFrame, condition: str) -> pd.DataFrame:
    """The rows of `stages` (columns t, n, m) that satisfy `condition`; a letter absent or ``x`` never satisfies it."""
    keep = pd.Series(True, index=stages.index)
    for column, compare, level in parse_condition(condition):
        levels = stages[column].map(stage_level)
        keep &= levels.map(lambda value: value is not None and not pd.isna(value) and compare(int(value), level)).astype(bool)
    return stages[keep]
