"""Many real series that ship offline: the corpus a forecaster is judged on (and a global model trains on).

A forecaster tuned on two series tells little about the next one. This collection gathers every suitable
series bundled with statsmodels and pmdarima (no downloads): 40 series, yearly to business-daily, 52 to
3000 points: CO2, sunspots (yearly and monthly), the Nile, El Nino, twelve US quarterly macro aggregates,
Danish money demand, inflation and interest rates, fertility rates of eight countries, the Box-Jenkins
airline passengers, Australian beer and residents, wine sales, wool production, lynx trappings, a heart
rate trace and Microsoft's closing prices. (pmdarima's half-hourly Taylor demand is left out: a seasonal
AutoARIMA with season 48 takes minutes per fit.)

Each series has a fixed horizon by its frequency (the M4 convention: 6 yearly, 8 quarterly, 18 monthly,
14 business-daily; 10 for a plain sequence) and the benchmark holds out `origins` rolling windows of
that horizon at its end. `split="train"` drops them all (what a model may learn from); "all" keeps them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from genzoo.data.info import DataInfo
from genzoo.data.registry import register_dataset
from genzoo.data.series import Series, fill_gaps, on_grid
from genzoo.errors import GenzooError

HORIZONS = {"YS": 6, "QS": 8, "MS": 18, "B": 14, "": 10}
MACRO = ("realgdp", "realcons", "realinv", "realgovt", "realdpi", "cpi", "m1", "tbilrate", "unemp", "pop",
         "infl", "realint")
DANISH = ("lrm", "lry", "lpy", "ibo", "ide")
COUNTRIES = ("BRA", "CHN", "DEU", "EGY", "IND", "JPN", "NGA", "USA")
LONGEST = 3000  # longer series keep their most recent points (MSFT: 7983 days)


def horizon_of(series: Series) -> int:
    """The benchmark horizon of a series, by its frequency."""
    return HORIZONS.get(series.freq, 10)


def _sm(name: str) -> Any:
    import statsmodels.api as sm

    return getattr(sm.datasets, name).load_pandas().data


def _pm(name: str) -> Any:
    try:
        import pmdarima.datasets as pm
    except ImportError:
        raise GenzooError("the series collection needs pmdarima for its bundled series: pip install pmdarima") from None
    return getattr(pm, f"load_{name}")


def _regular(name: str, values: Any, freq: str, start: str, season: int) -> Series:
    """A regular series; one longer than LONGEST keeps its last LONGEST points (and its start moves on)."""
    values = fill_gaps(np.asarray(values, dtype=float), name, "interpolate")
    dropped = max(0, len(values) - LONGEST)
    if dropped and freq:
        import pandas as pd

        start = str(pd.date_range(start, periods=dropped + 1, freq=freq)[-1])
    return Series(name, values[dropped:], freq, start, season)


def _statsmodels() -> list[Series]:
    from genzoo.data.series import _co2

    out = [_co2("interpolate")]
    spots = _sm("sunspots")
    out.append(_regular("sunspots", spots["SUNACTIVITY"], "YS", f"{int(spots['YEAR'][0])}-01-01", 11))
    nile = _sm("nile")
    out.append(_regular("nile", nile["volume"], "YS", f"{int(nile['year'][0])}-01-01", 1))
    nino = _sm("elnino")
    out.append(_regular("elnino", nino.iloc[:, 1:13].to_numpy().reshape(-1), "MS", f"{int(nino['YEAR'][0])}-01-01", 12))
    macro = _sm("macrodata")
    out += [_regular(f"macro-{c}", macro[c], "QS", "1959-01-01", 4) for c in MACRO]
    rates = _sm("interest_inflation")
    start = f"{int(rates['year'][0])}-{3 * (int(rates['quarter'][0]) - 1) + 1:02d}-01"
    out += [_regular(f"interest-{c}", rates[c], "QS", start, 4) for c in ("Dp", "R")]
    danish = _sm("danish_data")
    out += [_regular(f"danish-{c}", danish[c], "QS", str(danish.index[0].date()), 4) for c in DANISH]
    fert = _sm("fertility").set_index("Country Code")
    years = [c for c in fert.columns if c.isdigit() and fert[c].notna().any()]
    out += [_regular(f"fertility-{c}", fert.loc[c, years], "YS", f"{years[0]}-01-01", 1) for c in COUNTRIES]
    return out


def _pmdarima() -> list[Series]:
    def monthly(name: str, start: str) -> Series:
        return _regular(name, _pm(name)(as_series=True), "MS", start, 12)

    def quarterly(name: str, start: str) -> Series:
        return _regular(name, _pm(name)(as_series=True), "QS", start, 4)

    lynx = _pm("lynx")(as_series=True)
    spots = _pm("sunspots")(as_series=True)
    msft = _pm("msft")()
    return [
        monthly("airpassengers", "1949-01-01"),
        monthly("wineind", "1980-01-01"),
        # no calendar season: the ~11-year cycle (132 months) is too long for a seasonal ARIMA
        on_grid("sunspots-monthly", spots.index, spots.to_numpy(), 1, "interpolate", "pmdarima sunspots"),
        quarterly("ausbeer", "1956-01-01"),
        quarterly("austres", "1971-04-01"),
        quarterly("woolyrnq", "1965-01-01"),
        _regular("lynx", lynx, "YS", f"{int(lynx.index[0])}-01-01", 10),
        _regular("heartrate", _pm("heartrate")(as_series=True), "", "0", 1),
        _regular("msft", msft["Close"], "B", str(msft["Date"].iloc[0]), 5),
    ]


SOURCES: dict[str, Callable[[], list[Series]]] = {"statsmodels": _statsmodels, "pmdarima": _pmdarima}


def all_series() -> list[Series]:
    """Every series of the collection, full length, sorted by name."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the few gaps (co2, fertility) are interpolated on purpose
        series = [s for load in SOURCES.values() for s in load()]
    return sorted(series, key=lambda s: s.name)


class SeriesCollection(Dataset):
    """Many series (each a `Series`); `.series` is the first, so single-series tools still find one."""

    def __init__(self, members: list[Series], origins: int) -> None:
        if not members:
            raise GenzooError("the series collection is empty (check the names given)")
        self.members = members
        self.origins = origins
        self.series = members[0]
        self.info = DataInfo(
            "series_collection", "series", None, None, None,
            {**members[0].to_dict(), "length": len(members[0]), "members": len(members)},
        )

    def __len__(self) -> int:
        return len(self.members)

    def __getitem__(self, i: int) -> Series:
        return self.members[i]


@register_dataset(
    "series_collection",
    "40 real series shipped offline (statsmodels + pmdarima), yearly to business-daily, 52-3000 points",
)
def series_collection(
    split: str = "train", origins: int = 2, names: str | list[str] | None = None, **_: Any
) -> SeriesCollection:
    """split="train": each series without its last `origins` horizons; "test"/"all": full length.
    names: a comma-separated list (or a list) to keep only some series."""
    members = all_series()
    if names is not None:
        wanted = names.split(",") if isinstance(names, str) else list(names)
        unknown = sorted(set(wanted) - {s.name for s in members})
        if unknown:
            raise GenzooError(f"series_collection has no series {unknown}; it has {[s.name for s in members]}")
        members = [s for s in members if s.name in wanted]
    if split == "train":
        members = [s.head(len(s) - origins * horizon_of(s)) for s in members]
    return SeriesCollection(members, origins)
