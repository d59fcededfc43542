"""Calendar arithmetic on whole months: the one place that parses, shifts, aligns and labels periods.

Indicators are computed over whole months, widened to whole quarters or years
by their grain; the disclosure policy publishes cells labelled the way the
engine writes them; notebooks and dashboards move month pickers back and
forth. Each of those used to carry its own ``year * 12 + month`` arithmetic;
they now ask this module, so a month means the same everywhere.

Months are either ``datetime.date`` (first day of the month) or ``"YYYY-MM"``
labels; both forms are offered because the engine works with dates and the
pages and notebooks with labels.
"""

from __future__ import annotations

import datetime as dt
import re

from workbench.errors import UserError

GRAINS = ("month", "quarter", "year")
"""The time grains of an indicator request, finest first."""
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def parse_month(value: str | dt.date, argument: str) -> dt.date:
    """The first day of the month named by `value` (``YYYY-MM`` or a date); `argument` names it in the error."""
    if isinstance(value, dt.date):
        return value.replace(day=1)
    match = _MONTH.match(str(value).strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise UserError(f"{argument} : mois invalide {value!r} (format attendu AAAA-MM, ex. 2024-03)")
    return dt.date(int(match.group(1)), int(match.group(2)), 1)


def month_start(month: str) -> dt.date:
    """``"2025-03"`` → 2025-03-01 (a label already checked by its producer)."""
    return dt.date(int(month[:4]), int(month[5:7]), 1)


def next_month(first: dt.date) -> dt.date:
    """The first day of the month after the one of `first` (the exclusive bound of a period)."""
    return dt.date(first.year + first.month // 12, first.month % 12 + 1, 1)


def last_day(first: dt.date) -> dt.date:
    """The last day of the month of `first`."""
    return next_month(first) - dt.timedelta(days=1)


def shift_month(month: str, months: int) -> str:
    """``"YYYY-MM"`` moved by `months` (negative for the past)."""
    index = int(month[:4]) * 12 + int(month[5:7]) - 1 + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def shift_date(first: dt.date, months: int) -> dt.date:
    """The first day of the month `months` away from the month of `first`."""
    index = first.year * 12 + first.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def months_between(earlier: str, later: str) -> int:
    """Whole months from ``YYYY-MM`` `earlier` to `later` (2025-01 → 2025-03 is 2)."""
    return (int(later[:4]) - int(earlier[:4])) * 12 + int(later[5:7]) - int(earlier[5:7])


def align(first: dt.date, last_first: dt.date, grain: str) -> tuple[dt.date, dt.date]:
    """Widen [first month, last month] to whole quarters or years: (first day, last day)."""
    if grain == "quarter":
        first = first.replace(month=(first.month - 1) // 3 * 3 + 1)
        last_first = last_first.replace(month=(last_first.month - 1) // 3 * 3 + 3)
    elif grain == "year":
        first, last_first = first.replace(month=1), last_first.replace(month=12)
    return first, last_day(last_first)


def is_aligned(start: dt.date, end: dt.date, grain: str) -> bool:
    """True when [start, end] already covers whole periods of `grain` (nothing to widen)."""
    return align(start, end.replace(day=1), grain) == (start, end)


def resolve_period(
    start: str | dt.date | None, end: str | dt.date | None, grain: str, extraction_date: dt.date | None
) -> tuple[dt.date, dt.date]:
    """Whole-month bounds (first day, last day); default: the 12 months ending at the extraction month."""
    if grain not in GRAINS:
        raise UserError(f"grain : valeur invalide {grain!r} (valeurs possibles : {', '.join(GRAINS)})")
    reference = extraction_date or dt.date.today()
    last_first = parse_month(end, "end") if end is not None else reference.replace(day=1)
    first = parse_month(start, "start") if start is not None else shift_date(last_first, -11)
    if first > last_first:
        raise UserError(f"start/end : le début {first:%Y-%m} est après la fin {last_first:%Y-%m}")
    return align(first, last_first, grain)


def label(month: dt.date, grain: str) -> str:
    """The label of the period of `grain` holding `month`, as the engine writes it (2025, 2025-Q1, 2025-03)."""
    if grain == "year":
        return f"{month.year}"
    if grain == "quarter":
        return f"{month.year}-Q{(month.month - 1) // 3 + 1}"
    return f"{month:%Y-%m}"


def labels(start: dt.date, end: dt.date, grain: str) -> tuple[str, ...]:
    """The labels of the periods of `grain` covering [start, end], in order."""
    found: list[str] = []
    month = start.replace(day=1)
    while month <= end:
        name = label(month, grain)
        if name not in found:
            found.append(name)
        month = next_month(month)
    return tuple(found)
