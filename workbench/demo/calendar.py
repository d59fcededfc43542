"""When things happen: a daily activity curve with a winter peak and a weekly pattern.

Dates are drawn by inverting the cumulative curve restricted to each row's own
window (e.g. after the patient's birth), so seasonality holds whatever the window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench.demo.common import DAY

# Monday..Sunday relative activity.
WEEKLY = {
    "programmed": np.array([1.3, 1.2, 1.15, 1.15, 1.1, 0.25, 0.15]),
    "urgent": np.array([1.12, 1.0, 0.98, 0.98, 1.0, 0.95, 0.97]),
    "consultation": np.array([1.2, 1.2, 1.2, 1.2, 1.1, 0.05, 0.0]),
}
WINTER_AMPLITUDE = 0.18  # +18 % mid-January, -18 % mid-July


@dataclass(frozen=True)
class Calendar:
    start: int  # seconds of the first day (2018-01-01)
    days: int
    cdf: dict[str, np.ndarray]

    @staticmethod
    def build(start: int, end: int) -> "Calendar":
        days = max(1, (end - start) // DAY)
        day_seconds = start + np.arange(days, dtype=np.int64) * DAY
        weekday = ((day_seconds // DAY) + 3) % 7  # 1970-01-01 was a Thursday
        day_of_year = (day_seconds // DAY) % 365.25
        seasonal = 1 + WINTER_AMPLITUDE * np.cos(2 * np.pi * (day_of_year - 15) / 365.25)
        cdf = {}
        for pattern, weekly in WEEKLY.items():
            weights = seasonal * weekly[weekday]
            cdf[pattern] = np.concatenate([[0.0], np.cumsum(weights)])
        return Calendar(start, days, cdf)

    def draw(self, rng: np.random.Generator, pattern: str, low: np.ndarray, high: np.ndarray) -> np.ndarray:
        """Midnight (seconds) of one day per row, within [low, high) in seconds, following the curve."""
        cdf = self.cdf[pattern]
        first = np.clip((low - self.start) // DAY, 0, self.days - 1)
        last = np.clip((high - self.start) // DAY, first + 1, self.days)
        u = cdf[first] + rng.random(len(low)) * (cdf[last] - cdf[first])
        day = np.clip(np.searchsorted(cdf, u, side="right") - 1, first, last - 1)
        return self.start + day * DAY
