"""Months as 'YYYY-MM' strings: the period pickers shared by the pilotage, catalogue and dictionary pages.

Its own module so that those pages share it without importing each other.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from workbench.periods import shift_month

__all__ = ["last_complete_month", "month_options", "shift_month"]


def month_options(last: str, count: int = 72) -> list[str]:
    """The `count` months up to `last`, most recent first."""
    return [shift_month(last, -offset) for offset in range(count)]


def last_complete_month(extraction: Any) -> str:
    """The month before the extraction date: the last month whose data is complete."""
    day = pd.Timestamp(extraction) if extraction is not None else pd.Timestamp(dt.date.today())
    return shift_month(f"{day.year:04d}-{day.month:02d}", -1)
