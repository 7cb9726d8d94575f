"""The demo store's calendar: two years of days, holiday peaks, and the processes' own clocks."""

from __future__ import annotations

import datetime as dt

import numpy as np

HISTORY_DAYS = 730
DAY_US = 86_400_000_000


def thanksgiving(year: int) -> dt.date:
    nov1 = dt.date(year, 11, 1)
    first_thursday = nov1 + dt.timedelta(days=(3 - nov1.weekday()) % 7)
    return first_thursday + dt.timedelta(weeks=3)


def holiday_multiplier(start: dt.date, days: int) -> np.ndarray:
    """Shopping intensity per day: 1 normally, Black Friday to Cyber Monday up to 5x."""
    m = np.ones(days)
    dates = [start + dt.timedelta(days=i) for i in range(days)]
    boost = {}
    for year in {d.year for d in dates}:
        black_friday = thanksgiving(year) + dt.timedelta(days=1)
        for offset, factor in [(-1, 1.5), (0, 5.0), (1, 3.0), (2, 3.0), (3, 4.5), (4, 2.0)]:
            boost[black_friday + dt.timedelta(days=offset)] = factor
    for i, d in enumerate(dates):
        if d in boost:
            m[i] = boost[d]
        elif d.month == 12 and d.day <= 20:
            m[i] = 1.4
    return m


class Calendar:
    """Maps between real days since the start and 'operational' time of the processes."""

    def __init__(self, end_date: dt.date):
        self.start_date = end_date - dt.timedelta(days=HISTORY_DAYS - 1)
        self.start = dt.datetime.combine(self.start_date, dt.time(), tzinfo=dt.timezone.utc)
        self.end = self.start + dt.timedelta(days=HISTORY_DAYS)  # exclusive
        self.start_us = int(self.start.timestamp()) * 1_000_000
        self.days = np.arange(HISTORY_DAYS + 1, dtype=float)
        m = holiday_multiplier(self.start_date, HISTORY_DAYS)
        self.multiplier = m
        self.purchase_clock = np.concatenate([[0.0], np.cumsum(m)])
        # Sign-ups grow over the two years and bump (less) on the holidays.
        signup = np.sqrt(m) * (0.5 + np.arange(HISTORY_DAYS) / HISTORY_DAYS)
        self.signup_clock = np.concatenate([[0.0], np.cumsum(signup)])

    def to_purchase_time(self, t: np.ndarray) -> np.ndarray:
        return np.interp(t, self.days, self.purchase_clock)

    def from_purchase_time(self, s: np.ndarray) -> np.ndarray:
        return np.interp(s, self.purchase_clock, self.days)

    def random_signup_days(self, rng: np.random.Generator, n: int) -> np.ndarray:
        u = rng.random(n) * self.signup_clock[-1]
        return np.interp(u, self.signup_clock, self.days)

    def holiday_days(self) -> np.ndarray:
        return np.flatnonzero(self.multiplier >= 4.5)

