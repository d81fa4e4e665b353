"""Timestamps of a CSV's time column, read the way a person would, and written back the same way.

pandas alone gets common cases wrong for forecasting: an all-integer column of years (1871 ... 1970) is
read as nanoseconds since 1970, quarterly labels ('1990Q1', 'Q1 1990') are not dates at all, and an
irregular column is silently accepted. So the column is classified first:

- integers that look like years (1000..2999) -> yearly; YYYYMM -> monthly; YYYYMMDD -> dates; other
  integers -> plain steps;
- quarter labels -> quarterly periods; 'YYYY-MM' / 'Jan 1990' month labels -> monthly;
- anything pandas reads as dates (ISO dates, date-times) -> dates, frequency inferred.

Stamps off any regular grid are refused in one line (a forecaster's steps must be equal); stamps on a grid
with some missing are returned with the grid, so the caller can fill or refuse the gaps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from genzoo.errors import GenzooError

_QUARTER = re.compile(r"^\s*(?:(\d{4})\s*-?\s*[Qq]([1-4])|[Qq]([1-4])\s*[-/ ]?\s*(\d{4}))\s*$")
_MONTH = re.compile(r"^\s*(\d{4})[-/.](\d{1,2})\s*$")
#: season length implied by a pandas frequency's leading letters
SEASONS = {"Y": 1, "A": 1, "Q": 4, "M": 12, "W": 52, "B": 5, "D": 7, "h": 24, "H": 24}


@dataclass
class Stamps:
    """A parsed time column: the grid's first stamp, its frequency ('' for plain steps), and for each row
    its position on the grid (0, 1, 2, ...; a jump means missing stamps)."""

    start: str
    freq: str
    positions: np.ndarray

    @property
    def season_length(self) -> int:
        return season_of(self.freq)


def season_of(freq: str) -> int:
    """The natural season of a frequency: 12 for monthly, 4 quarterly, 7 daily, 24 hourly, 1 yearly."""
    if not freq:
        return 1
    letters = freq.lstrip("0123456789")
    if letters.startswith("30min") or letters == "min":
        return 48 if freq.startswith("30") else 60
    return SEASONS.get(letters[:1], 1)


def _positions(index: Any, name: str, freq: str, where: str) -> np.ndarray:
    """Grid positions of sorted timestamps `index` on the regular grid `freq` that starts at index[0]."""
    import pandas as pd

    grid = pd.date_range(index[0], index[-1], freq=freq)
    pos = grid.get_indexer(index)
    if (pos < 0).any():
        bad = index[int(np.flatnonzero(pos < 0)[0])]
        raise GenzooError(f"{where}: {name!r} timestamps are irregular ({bad} is off the {freq} grid); "
                          "resample the series to regular steps first")
    return pos


def _ordered(pos: np.ndarray, labels: Any, where: str, name: str) -> np.ndarray:
    if len(np.unique(pos)) != len(pos):
        dup = labels[int(np.flatnonzero(np.diff(np.sort(pos)) == 0)[0])]
        raise GenzooError(f"{where}: column {name!r} has duplicate timestamps (e.g. {dup})")
    return pos


def parse(column: Any, name: str = "time", where: str = "CSV") -> Stamps:
    """Classify and parse a time column (see the module docstring). Rows need not be sorted; positions
    follow the rows. Raises GenzooError with one line for anything that is not a regular time axis."""
    import pandas as pd

    values = pd.Series(column).reset_index(drop=True)
    if values.isna().any():
        raise GenzooError(f"{where}: column {name!r} has an empty timestamp (row {int(values.isna().idxmax())})")
    text = values.astype(str).str.strip()
    numeric = pd.to_numeric(text, errors="coerce")
    if numeric.notna().all() and np.all(np.mod(numeric, 1) == 0):
        ints = numeric.to_numpy(dtype=np.int64)
        pos = _ordered(ints - ints.min(), text, where, name)
        if 1000 <= ints.min() and ints.max() <= 2999:
            return Stamps(f"{int(ints.min())}-01-01", "YS", pos)
        month = ints % 100
        if 100001 <= ints.min() and ints.max() <= 299912 and ((month >= 1) & (month <= 12)).all():  # YYYYMM
            m = (ints // 100) * 12 + month - 1
            start = int(m.min())
            return Stamps(f"{start // 12}-{start % 12 + 1:02d}-01", "MS", _ordered(m - start, text, where, name))
        if not (10000101 <= ints.min() and ints.max() <= 29991231):  # YYYYMMDD falls through to dates
            return Stamps(str(int(ints.min())), "", pos)
    quarters = text.str.extract(_QUARTER)
    if quarters.notna().any(axis=1).all():
        year = quarters[0].fillna(quarters[3]).astype(int).to_numpy()
        quarter = quarters[1].fillna(quarters[2]).astype(int).to_numpy()
        q = year * 4 + quarter - 1
        start = int(q.min())
        return Stamps(f"{start // 4}-{3 * (start % 4) + 1:02d}-01", "QS", _ordered(q - start, text, where, name))
    months = text.str.extract(_MONTH)
    if months.notna().all(axis=1).all():
        year, month = months[0].astype(int).to_numpy(), months[1].astype(int).to_numpy()
        if ((month < 1) | (month > 12)).any():
            row = int(np.flatnonzero((month < 1) | (month > 12))[0])
            raise GenzooError(f"{where}: column {name!r} row {row} ({text[row]!r}) is not a month")
        m = year * 12 + month - 1
        start = int(m.min())
        return Stamps(f"{start // 12}-{start % 12 + 1:02d}-01", "MS", _ordered(m - start, text, where, name))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "could not infer format": the fallback parser is what we want
        times = pd.to_datetime(text, errors="coerce", format="%Y%m%d" if text.str.fullmatch(r"\d{8}").all() else None)
        if times.isna().any():
            times = pd.to_datetime(text, errors="coerce", format="mixed")
    if times.isna().any():
        row = int(times.isna().idxmax())
        raise GenzooError(f"{where}: column {name!r} row {row} ({text[row]!r}) is not a date, year or period")
    index = pd.DatetimeIndex(times.sort_values())
    if index.has_duplicates:
        raise GenzooError(f"{where}: column {name!r} has duplicate timestamps (e.g. {index[index.duplicated()][0]})")
    if len(index) < 3:
        raise GenzooError(f"{where}: column {name!r} has too few timestamps to find the series' frequency")
    freq = pd.infer_freq(index) or _grid_freq(index, name, where)
    pos_sorted = _positions(index, name, freq, where)
    rank = np.argsort(np.argsort(times.to_numpy(), kind="stable"), kind="stable")
    return Stamps(str(index[0].date()) if index[0] == index[0].normalize() else str(index[0]), freq,
                  pos_sorted[rank])


def _grid_freq(index: Any, name: str, where: str) -> str:
    """The frequency of stamps with some missing: the smallest spacing, named as a calendar unit."""
    import pandas as pd

    days = np.diff(index.asi8) / 86_400e9
    step = float(days.min())
    if 28 <= step <= 31 and (index.day == index[0].day).all():
        return "MS" if index[0].day == 1 else "ME"
    if 89 <= step <= 92 and (index.day == index[0].day).all():
        return "QS"
    if 365 <= step <= 366:
        return "YS"
    if step > 0 and np.allclose(days / step, np.round(days / step), atol=1e-6):
        return pd.tseries.frequencies.to_offset(pd.Timedelta(days=step)).freqstr
    raise GenzooError(f"{where}: {name!r} timestamps are irregular (spacing from {days.min():g} to "
                      f"{days.max():g} days); resample the series to regular steps first")


def stamps(start: str, freq: str, n: int) -> list[str]:
    """`n` timestamps from `start` at `freq`, written as a person reads them: 1871, 1990Q1, 1990-01,
    2020-03-01 (or step numbers when the series has no dates)."""
    if not freq:
        try:
            first = float(start)
        except ValueError:
            first = 0.0
        return [f"{first + i:g}" for i in range(n)]
    year, month = int(start[:4]), int(start[5:7]) if len(start) >= 7 else 1
    if freq.startswith(("Y", "A")):  # integer years: no pandas bounds (sunspots start in 1700)
        return [str(year + i) for i in range(n)]
    if freq.startswith("Q"):
        q0 = year * 4 + (month - 1) // 3
        return [f"{(q0 + i) // 4}Q{(q0 + i) % 4 + 1}" for i in range(n)]
    if freq.startswith("M"):
        m0 = year * 12 + month - 1
        return [f"{(m0 + i) // 12}-{(m0 + i) % 12 + 1:02d}" for i in range(n)]
    import pandas as pd

    times = pd.date_range(start, periods=n, freq=freq)
    daily = all(t == t.normalize() for t in times[:2])
    return [str(t.date()) if daily else t.strftime("%Y-%m-%d %H:%M") for t in times]
