"""Calendar arithmetic of workbench.periods: the hand-checked cases around year ends, leap years and quarters."""

from __future__ import annotations

import datetime as dt

import pytest

from workbench import periods
from workbench.errors import UserError

D = dt.date


def test_months_shift_across_year_ends_both_ways() -> None:
    assert periods.shift_month("2025-01", -1) == "2024-12"
    assert periods.shift_month("2024-11", 3) == "2025-02"
    assert periods.shift_month("2025-03", -27) == "2022-12"
    assert periods.shift_date(D(2025, 1, 15), -11) == D(2024, 2, 1)
    assert periods.months_between("2024-11", "2025-02") == 3
    assert periods.next_month(D(2024, 12, 1)) == D(2025, 1, 1)


def test_last_day_knows_leap_years_and_december() -> None:
    assert periods.last_day(D(2024, 2, 1)) == D(2024, 2, 29)
    assert periods.last_day(D(2023, 2, 1)) == D(2023, 2, 28)
    assert periods.last_day(D(2025, 12, 1)) == D(2025, 12, 31)


def test_alignment_widens_to_whole_quarters_and_years() -> None:
    assert periods.align(D(2024, 2, 1), D(2024, 5, 1), "quarter") == (D(2024, 1, 1), D(2024, 6, 30))
    assert periods.align(D(2024, 2, 1), D(2025, 5, 1), "year") == (D(2024, 1, 1), D(2025, 12, 31))
    assert periods.align(D(2024, 2, 1), D(2024, 5, 1), "month") == (D(2024, 2, 1), D(2024, 5, 31))
    assert periods.is_aligned(D(2024, 4, 1), D(2024, 9, 30), "quarter")
    assert not periods.is_aligned(D(2024, 5, 1), D(2024, 9, 30), "quarter")


def test_labels_are_written_as_the_engine_writes_them() -> None:
    assert periods.labels(D(2024, 11, 1), D(2025, 2, 28), "month") == ("2024-11", "2024-12", "2025-01", "2025-02")
    assert periods.labels(D(2024, 11, 1), D(2025, 2, 28), "quarter") == ("2024-Q4", "2025-Q1")
    assert periods.labels(D(2024, 11, 1), D(2025, 2, 28), "year") == ("2024", "2025")


def test_the_default_period_is_the_twelve_months_ending_at_the_extraction_month() -> None:
    assert periods.resolve_period(None, None, "month", D(2025, 3, 17)) == (D(2024, 4, 1), D(2025, 3, 31))
    assert periods.resolve_period("2024-02", "2024-02", "quarter", None) == (D(2024, 1, 1), D(2024, 3, 31))


@pytest.mark.parametrize(("start", "end", "grain", "message"), [
    ("2024-13", "2024-12", "month", "start : mois invalide '2024-13'"),
    ("2024-01", "24-12", "month", "end : mois invalide '24-12'"),
    ("2024-05", "2024-01", "month", "le début 2024-05 est après la fin 2024-01"),
    ("2024-01", "2024-02", "week", "grain : valeur invalide 'week'"),
])
def test_bad_periods_are_one_clear_error(start: str, end: str, grain: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        periods.resolve_period(start, end, grain, None)
