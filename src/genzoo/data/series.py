"""Real time series for forecasting: statsmodels' offline sets, any CSV, and a checksummed download.

A `Series` is one univariate series on a regular grid: float values, a pandas-style frequency, the
timestamp of its first point and its season length (12 for monthly data, 11 for yearly sunspots, ...).
Gaps (NaN, or timestamps missing from the grid) are filled by linear interpolation with a warning, or
refused with one clear line when `gaps="refuse"`; a forecaster never silently learns from holes.

Registered datasets return a `SeriesDataset`: the series (split="train" drops the last `holdout` points,
the benchmark's test window; "test"/"all" keep them) wrapped so that `.info` travels into a model's config.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from genzoo.data.info import DataInfo
from genzoo.data.registry import register_dataset
from genzoo.errors import GenzooError

GAP_POLICIES = ("interpolate", "refuse")


@dataclass
class Series:
    """One regular univariate series. `start` is an ISO date (or a number for plain year/step indices)."""

    name: str
    values: np.ndarray
    freq: str = ""
    start: str = "0"
    season_length: int = 1
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.values = np.asarray(self.values, dtype=np.float64).reshape(-1)

    def __len__(self) -> int:
        return len(self.values)

    def head(self, n: int) -> Series:
        """The first `n` points (the training part when the rest is held out)."""
        return Series(
            self.name, self.values[:n].copy(), self.freq, self.start, self.season_length, dict(self.meta)
        )

    def phase(self, steps: np.ndarray) -> np.ndarray:
        """Position of time steps `steps` (0 = first point) within the season: the calendar month of
        monthly data, the year of an 11-year cycle, ... Used for calendar covariates."""
        offset = 0
        month = int(self.start[5:7]) - 1 if len(self.start) >= 7 and self.start[4] == "-" else 0
        if self.freq.startswith("M"):
            offset = month
        elif self.freq.startswith("Q"):
            offset = month // 3
        return (np.asarray(steps) + offset) % max(1, self.season_length)

    def start_phase(self) -> int:
        """The season position of the first point (e.g. its calendar month - 1)."""
        return int(self.phase(np.array([0]))[0])

    def index(self, extra: int = 0) -> list[str]:
        """Timestamps of every point (and `extra` future points) as a person writes them (1871, 1990Q1,
        1990-01, 2020-03-01), for CSVs and plot axes."""
        from genzoo.data.timestamps import stamps

        return stamps(self.start, self.freq, len(self) + extra)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "freq": self.freq,
            "start": self.start,
            "season_length": self.season_length,
        }

    def info(self) -> DataInfo:
        return DataInfo(
            self.name,
            "series",
            None,
            None,
            (float(np.min(self.values)), float(np.max(self.values))),
            {
                **self.to_dict(),
                "length": len(self),
                "nonnegative": bool(np.all(self.values >= 0)),
                "integer": bool(np.all(np.mod(self.values, 1) == 0)),
            },
        )


class SeriesDataset(Dataset):
    """A series as a one-item dataset (the forecaster cuts its own training windows), with `.info`."""

    def __init__(self, series: Series) -> None:
        self.series = series
        self.info = series.info()

    def __len__(self) -> int:
        return 1

    def __getitem__(self, i: int) -> Series:
        if i != 0:
            raise IndexError(i)
        return self.series


def fill_gaps(values: np.ndarray, name: str, gaps: str = "interpolate") -> np.ndarray:
    """Linear interpolation over NaN (ends are filled with the nearest value), warned; or refused."""
    if gaps not in GAP_POLICIES:
        raise GenzooError(f"unknown gap policy {gaps!r}; choose one of {GAP_POLICIES}")
    values = np.asarray(values, dtype=np.float64)
    bad = ~np.isfinite(values)
    if not bad.any():
        return values
    if bad.all():
        raise GenzooError(f"series {name!r} has no finite values")
    if gaps == "refuse":
        first = int(np.flatnonzero(bad)[0])
        raise GenzooError(
            f"series {name!r} has {int(bad.sum())} missing values (first at position {first}); "
            "fill them or pass gaps='interpolate'"
        )
    warnings.warn(
        f"series {name!r}: {int(bad.sum())} missing values filled by linear interpolation", stacklevel=3
    )
    idx = np.arange(len(values))
    out = values.copy()
    out[bad] = np.interp(idx[bad], idx[~bad], values[~bad])
    return out


def _finish(series: Series, split: str, holdout: int) -> SeriesDataset:
    if split == "train":
        if holdout >= len(series) - 2 * max(1, series.season_length):
            raise GenzooError(
                f"holdout {holdout} leaves too little of {series.name!r} ({len(series)} points) to train on"
            )
        series = series.head(len(series) - holdout)
    return SeriesDataset(series)


# -- statsmodels' offline series -------------------------------------------------------------------------
def _co2(gaps: str) -> Series:
    import statsmodels.api as sm

    weekly = sm.datasets.co2.load_pandas().data["co2"]
    monthly = weekly.resample("MS").mean()  # 59 missing weeks vanish into the monthly means
    return on_grid("co2", monthly.index.astype(str), monthly.to_numpy(), 12, gaps, "co2")


def _yearly(name: str, frame: Any, year_col: str, value_col: str, season: int, gaps: str) -> Series:
    values = fill_gaps(frame[value_col].to_numpy(dtype=float), name, gaps)
    return Series(name, values, "", f"{int(frame[year_col].iloc[0])}", season)


def _sm(name: str) -> Any:
    import statsmodels.api as sm

    return getattr(sm.datasets, name).load_pandas().data


@register_dataset("co2", "Mauna Loa CO2, monthly means 1958-2001 (statsmodels; 526 points, season 12)")
def co2(split: str = "train", holdout: int = 36, gaps: str = "interpolate", **_: Any) -> SeriesDataset:
    return _finish(_co2(gaps), split, holdout)


@register_dataset("sunspots", "yearly sunspot numbers 1700-2008 (statsmodels; 309 points, ~11-year cycle)")
def sunspots(split: str = "train", holdout: int = 20, gaps: str = "interpolate", **_: Any) -> SeriesDataset:
    return _finish(_yearly("sunspots", _sm("sunspots"), "YEAR", "SUNACTIVITY", 11, gaps), split, holdout)


@register_dataset("nile", "yearly Nile flow at Aswan 1871-1970 (statsmodels; 100 points)")
def nile(split: str = "train", holdout: int = 10, gaps: str = "interpolate", **_: Any) -> SeriesDataset:
    return _finish(_yearly("nile", _sm("nile"), "year", "volume", 1, gaps), split, holdout)


@register_dataset("elnino", "monthly Pacific sea-surface temperature 1950-2010 (statsmodels; 732 points)")
def elnino(split: str = "train", holdout: int = 24, gaps: str = "interpolate", **_: Any) -> SeriesDataset:
    frame = _sm("elnino")
    values = fill_gaps(frame.iloc[:, 1:13].to_numpy(dtype=float).reshape(-1), "elnino", gaps)
    return _finish(Series("elnino", values, "MS", f"{int(frame['YEAR'].iloc[0])}-01-01", 12), split, holdout)


@register_dataset("macrodata", "US quarterly real GDP 1959-2009 (statsmodels macrodata; 203 points)")
def macrodata(
    split: str = "train", holdout: int = 8, gaps: str = "interpolate", column: str = "realgdp", **_: Any
) -> SeriesDataset:
    frame = _sm("macrodata")
    if column not in frame.columns:
        raise GenzooError(f"macrodata has no column {column!r}; columns: {', '.join(frame.columns)}")
    values = fill_gaps(frame[column].to_numpy(dtype=float), "macrodata", gaps)
    return _finish(Series(f"macrodata-{column}", values, "QS", "1959-01-01", 4), split, holdout)


# -- any CSV ---------------------------------------------------------------------------------------------
#: first-column names taken as the time column when none is named (a user's CSV rarely says --time-col)
TIME_NAMES = {"date", "time", "datetime", "timestamp", "ds", "period", "year", "quarter", "month", "week", "day"}


def load_csv(
    path: str | Path,
    time_col: str | None = None,
    value_col: str | None = None,
    season_length: int | None = None,
    gaps: str = "interpolate",
    name: str | None = None,
) -> Series:
    """A series from a CSV: `value_col` (default: the last column) indexed by dates in `time_col`.

    Without `time_col`, a first column named like a time (date, month, year, ds, ...) is the time column;
    otherwise the rows are taken as consecutive steps. Rows are sorted by time, the frequency is inferred,
    and gaps in the grid or NaN values follow `gaps`.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise GenzooError(f"no CSV file at {path}")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise GenzooError(f"{path} is not a readable CSV ({str(e).splitlines()[0]})") from None
    name = name or path.stem
    value_col = value_col or (frame.columns[-1] if len(frame.columns) else None)
    for col, what in ((value_col, "--value-col"), (time_col, "--time-col")):
        if col is not None and col not in frame.columns:
            raise GenzooError(
                f"{path} has no column {col!r} ({what}); columns: {', '.join(map(str, frame.columns))}"
            )
    if time_col is None and len(frame.columns) > 1 and str(frame.columns[0]).strip().lower() in TIME_NAMES:
        time_col = frame.columns[0]
    values = pd.to_numeric(frame[value_col], errors="coerce")
    if len(values) < 4:
        raise GenzooError(f"{path} has only {len(values)} rows; a series needs more")
    if time_col is None:
        return Series(name, fill_gaps(values.to_numpy(dtype=float), name, gaps), "", "0", season_length or 1)
    return on_grid(name, frame[time_col], values.to_numpy(dtype=float), season_length, gaps, str(path))


def on_grid(
    name: str, times: Any, values: np.ndarray, season_length: int | None, gaps: str, where: str
) -> Series:
    """Values at timestamps `times` (any order; see `genzoo.data.timestamps`) -> a regular `Series`;
    stamps missing from the grid become gaps, filled or refused by `gaps`."""
    from genzoo.data.timestamps import parse

    stamps = parse(times, "time", where)
    grid = np.full(int(stamps.positions.max()) + 1, np.nan)
    grid[stamps.positions] = values
    missing = len(grid) - len(values)
    if missing and gaps == "refuse":
        raise GenzooError(f"{where}: {missing} missing values (timestamps absent from the {stamps.freq} grid); "
                          "fill them or pass gaps='interpolate'")
    season = season_length or stamps.season_length
    return Series(name, fill_gaps(grid, name, gaps), stamps.freq, stamps.start, season)


# -- a download loader ------------------------------------------------------------------------------------
AIRPASSENGERS_URLS = [
    "https://raw.githubusercontent.com/jbrownlee/Datasets/master/airline-passengers.csv",
]
#: sha256 of the 144 monthly counts joined by commas ("112,118,...,432"). The series circulates as CSVs
#: with different headers, quoting and line endings, so the check is on the values, not the file bytes.
AIRPASSENGERS_VALUES_SHA256 = "fe529825b8393b6873a1be3d9c484cbd0c7e6853b6ca082612f406a762e2de4e"


def values_digest(values: np.ndarray) -> str:
    """sha256 of integer-valued data written as "v1,v2,...", the checksum of `airpassengers`."""
    import hashlib

    return hashlib.sha256(",".join(str(int(v)) for v in values).encode()).hexdigest()


def _download(urls: list[str], target: Path) -> Path:
    """The cached file, or a fresh download of it; offline, one line saying where to put it by hand."""
    import os
    import urllib.request

    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".part")
    reasons = []
    for url in urls:
        try:
            with urllib.request.urlopen(url, timeout=30) as r:  # noqa: S310 - fixed https URLs
                tmp.write_bytes(r.read())
            os.replace(tmp, target)
            return target
        except OSError as e:
            reasons.append(f"{url}: {getattr(e, 'reason', e)}")
            tmp.unlink(missing_ok=True)
    raise GenzooError(
        f"could not download {target.name} ({reasons[0]}); offline? place the CSV by hand at "
        f"{target} (from {urls[0]})"
    )


@register_dataset(
    "airpassengers", "Box-Jenkins airline passengers 1949-1960, monthly (download, checksummed)"
)
def airpassengers(
    split: str = "train", holdout: int = 24, gaps: str = "interpolate", **_: Any
) -> SeriesDataset:
    from genzoo.data.cache import cache_dir

    path = _download(AIRPASSENGERS_URLS, cache_dir() / "airpassengers" / "airline-passengers.csv")
    series = load_csv(path, None, None, 12, gaps, "airpassengers")
    if len(series) != 144 or values_digest(series.values) != AIRPASSENGERS_VALUES_SHA256:
        raise GenzooError(
            f"{path} is not the AirPassengers series (checksum of its values differs); delete it and retry"
        )
    import pandas as pd

    time_col = pd.read_csv(path, nrows=1).columns[0]
    series = load_csv(path, time_col, None, 12, gaps, "airpassengers")
    return _finish(series, split, holdout)


# -- M4 monthly (a chosen subset of its 48,000 series) -----------------------------------------------------
M4_BASE = "https://raw.githubusercontent.com/Mcompetitions/M4-methods/master/Dataset/"
M4_FILES = {"train": "Train/Monthly-train.csv", "test": "Test/Monthly-test.csv"}
M4_HORIZON = 18


def _pinned(path: Path) -> Path:
    """Trust on first use: the M4 organisers publish no checksums, so the sha256 of the first copy is
    recorded beside it and every later load must match it (a changed or truncated file is refused)."""
    from genzoo.data.cache import file_digest

    digest = file_digest(path, "sha256")
    stamp = path.with_name(path.name + ".sha256")
    if not stamp.is_file():
        stamp.write_text(digest + "\n")
    elif stamp.read_text().strip() != digest:
        raise GenzooError(f"{path} changed since it was first downloaded (sha256 differs); delete it and retry")
    return path


def _m4_row(path: Path, series_id: str) -> np.ndarray:
    """Values of one series from an M4 CSV ("V1","V2",... header; id then values, short rows padded with
    empty fields), read line by line: the monthly training file is ~90 MB of mostly padding."""
    key = f'"{series_id}",'
    with open(path) as f:
        header = f.readline()
        if not header.startswith('"V1"'):
            raise GenzooError(f"{path} is not an M4 CSV (its header does not start with \"V1\")")
        for line in f:
            if line.startswith(key):
                fields = [v.strip().strip('"') for v in line.rstrip("\n").split(",")[1:]]
                try:
                    return np.array([float(v) for v in fields if v], dtype=np.float64)
                except ValueError:
                    raise GenzooError(f"{path}: series {series_id} has a non-numeric value") from None
    raise GenzooError(f"no series {series_id!r} in {path.name} (M4 monthly ids are M1 ... M48000)")


@register_dataset(
    "m4_monthly",
    "M4 competition, one monthly series by id (series='M1'...); train = its official history, all = + 18 test",
)
def m4_monthly(
    split: str = "train", series: str = "M1", holdout: int = M4_HORIZON, gaps: str = "interpolate", **_: Any
) -> SeriesDataset:
    from genzoo.data.cache import cache_dir

    root = cache_dir() / "m4"
    paths = {k: _pinned(_download([M4_BASE + f], root / Path(f).name)) for k, f in M4_FILES.items()}
    history, future = _m4_row(paths["train"], series), _m4_row(paths["test"], series)
    if len(future) != M4_HORIZON:
        raise GenzooError(f"series {series} has {len(future)} test values in {paths['test']}, not {M4_HORIZON}")
    values = fill_gaps(np.concatenate([history, future]), f"m4-{series}", gaps)
    return _finish(Series(f"m4-{series}", values, "", "0", 12, {"m4_id": series}), split, holdout)
