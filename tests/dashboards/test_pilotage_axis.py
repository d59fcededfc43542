"""The pilotage chart's vertical axis holds both series, rendered by Bokeh (issue 15 part 8: the previous year's
line used to leave the plot when it was higher than the chosen period)."""

from __future__ import annotations

import holoviews as hv
import pandas as pd
import pytest

from dashboards.pilotage import series_plot, value_range
from workbench.indicators.dictionary import load_dictionary
from dashboard_support import PROJECT


def series(chosen: list[float], previous: list[float]) -> pd.DataFrame:
    months = [f"2025-{m:02d}" for m in range(1, len(chosen) + 1)]
    rows = [("Période choisie", pd.Timestamp(m), m, v) for m, v in zip(months, chosen)]
    rows += [("Année précédente", pd.Timestamp(m), m, v) for m, v in zip(months, previous)]
    frame = pd.DataFrame(rows, columns=["série", "période", "libellé", "value"])
    return frame.assign(numerator=frame["value"], denominator=None)


@pytest.mark.parametrize("chosen, previous", [([5.0, 6.0, 5.5], [9.0, 12.0, 10.0]), ([40.0, 45.0], [3.0, 2.0])])
def test_the_axis_holds_both_series(chosen: list[float], previous: list[float]) -> None:
    definition = load_dictionary(PROJECT / "wiki").get("dms").definition
    plot = hv.renderer("bokeh").get_plot(series_plot(series(chosen, previous), definition))
    y_range = plot.state.y_range
    assert y_range.start <= 0 and y_range.end > max(chosen + previous)


def test_value_range_margins() -> None:
    assert value_range(pd.Series([2.0, 10.0])) == (0.0, pytest.approx(10.64))
    assert value_range(pd.Series([-4.0, 6.0])) == (pytest.approx(-4.8), pytest.approx(6.8))
    assert value_range(pd.Series([None, None])) == (None, None)
