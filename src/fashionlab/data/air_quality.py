"""Beijing Multi-Site Air-Quality data (Zhang et al. 2017): one wide hourly table, protocol splits.

The 12 station CSVs (``PRSA_Data_<Station>_20130301-20170228.csv``) become one table
indexed by timestamp with the 11 numeric variables of every station side by side:
12 x 11 = 132 columns named ``<Station>_<variable>``, station-major (all variables of
the first station, then the next station...). NaN marks a missing value.

The folder is looked for in this order: a folder the caller names, then the
``FASHIONLAB_AIR_QUALITY`` environment variable. A named folder without the files is
an error, never a silent fall-through.

Two published benchmark protocols split the 48 months differently:

* SAITS (Du et al. 2023): test = 2013-03..2013-12, validation = the next 10 months
  (2014-01..2014-10), train = the rest (2014-11..2017-02).
* TSI-Bench (Du et al. 2024, benchpots ``preprocess_beijing_air_quality``): train =
  the first 28 months (2013-03..2015-06), validation = 2015-07..2016-04,
  test = 2016-05..2017-02.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fashionlab.errors import FashionlabError

ENV_VAR = "FASHIONLAB_AIR_QUALITY"
VARIABLES: tuple[str, ...] = (
    "PM2.5", "PM10", "SO2", "NO2", "CO", "O3", "TEMP", "PRES", "DEWP", "RAIN", "WSPM",
)  # fmt: skip
STATIONS: tuple[str, ...] = (
    "Aotizhongxin", "Changping", "Dingling", "Dongsi", "Guanyuan", "Gucheng",
    "Huairou", "Nongzhanguan", "Shunyi", "Tiantan", "Wanliu", "Wanshouxigong",
)  # fmt: skip
FILE_PATTERN = "PRSA_Data_{station}_20130301-20170228.csv"

# protocol -> split name -> (first month, last month), both inclusive
PROTOCOLS: dict[str, dict[str, tuple[str, str]]] = {
    "saits": {
        "train": ("2014-11", "2017-02"),
        "val": ("2014-01", "2014-10"),
        "test": ("2013-03", "2013-12"),
    },
    "tsi-bench": {
        "train": ("2013-03", "2015-06"),
        "val": ("2015-07", "2016-04"),
        "test": ("2016-05", "2017-02"),
    },
}


def find_air_quality_dir(folder: str | Path | None = None) -> Path:
    """The folder of the 12 station CSVs: ``folder`` if given, else ``$FASHIONLAB_AIR_QUALITY``."""
    if folder is None:
        env = os.environ.get(ENV_VAR)
        if not env:
            raise FashionlabError(
                "no air-quality folder given: pass the folder of the 12 PRSA_Data_*.csv files "
                f"or set {ENV_VAR}"
            )
        folder, origin = env, f"${ENV_VAR}"
    else:
        origin = "the folder given"
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise FashionlabError(f"air-quality folder {path} ({origin}) does not exist: fix the path")
    missing = [s for s in STATIONS if not (path / FILE_PATTERN.format(station=s)).is_file()]
    if missing:
        raise FashionlabError(
            f"air-quality folder {path} lacks {len(missing)} station file(s), e.g. "
            f"{FILE_PATTERN.format(station=missing[0])}: point at the folder of the 12 CSVs"
        )
    return path


def column_names(stations: tuple[str, ...] = STATIONS) -> list[str]:
    """``<Station>_<variable>`` names in the station-major order of the wide table."""
    return [f"{s}_{v}" for s in stations for v in VARIABLES]


def _read_station(path: Path) -> pd.DataFrame:
    try:
        raw = pd.read_csv(path)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
        raise FashionlabError(f"{path} is not a readable CSV ({err}): restore the file") from err
    needed = ["year", "month", "day", "hour", *VARIABLES]
    lacking = [c for c in needed if c not in raw.columns]
    if lacking:
        raise FashionlabError(f"{path} lacks column(s) {', '.join(lacking)}: restore the file")
    stamps = pd.to_datetime(raw[["year", "month", "day", "hour"]])
    values = raw[list(VARIABLES)].apply(pd.to_numeric, errors="coerce").astype("float64")
    values.index = pd.DatetimeIndex(stamps, name="time")
    return values


def load_air_quality(folder: str | Path | None = None) -> pd.DataFrame:
    """Load the 12 stations into one hourly table of 132 float columns (NaN = missing).

    Parameters
    ----------
    folder : path, optional
        Folder of the 12 ``PRSA_Data_*.csv`` files; default ``$FASHIONLAB_AIR_QUALITY``.

    Returns
    -------
    DataFrame indexed by hourly timestamps (2013-03-01 00:00 .. 2017-02-28 23:00 for the
    published files: 35064 rows), columns ``column_names()``.
    """
    path = find_air_quality_dir(folder)
    parts = []
    for station in STATIONS:
        values = _read_station(path / FILE_PATTERN.format(station=station))
        values.columns = [f"{station}_{v}" for v in VARIABLES]
        parts.append(values)
    table = pd.concat(parts, axis=1, join="outer", sort=True)
    # a regular hourly timeline: hours absent from every file become rows of NaN
    full = pd.date_range(table.index[0], table.index[-1], freq="h", name="time")
    return table.reindex(full)


def protocol_splits(table: pd.DataFrame, protocol: str) -> dict[str, pd.DataFrame]:
    """Cut the wide table into ``{"train", "val", "test"}`` by the months of ``protocol``."""
    if protocol not in PROTOCOLS:
        raise FashionlabError(
            f"unknown protocol {protocol!r}: choose one of {', '.join(PROTOCOLS)}"
        )
    months = table.index.to_period("M")
    out = {}
    for split, (first, last) in PROTOCOLS[protocol].items():
        keep = (months >= pd.Period(first, "M")) & (months <= pd.Period(last, "M"))
        out[split] = table.loc[keep]
    return out


@dataclass
class Standardizer:
    """Per-column mean and standard deviation of the observed training values."""

    mean: np.ndarray  # (n_columns,)
    std: np.ndarray  # (n_columns,), never 0

    @classmethod
    def fit(cls, X: np.ndarray) -> Standardizer:
        X = np.asarray(X, dtype=float)
        mean = np.nanmean(X, axis=0)
        std = np.nanstd(X, axis=0)
        std = np.where(np.isfinite(std) & (std > 0), std, 1.0)
        return cls(np.nan_to_num(mean), std)

    def transform(self, X: np.ndarray) -> np.ndarray:
        return (np.asarray(X, dtype=float) - self.mean) / self.std

    def inverse_transform(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=float) * self.std + self.mean


def split_windows(n_rows: int, length: int) -> list[slice]:
    """Consecutive non-overlapping windows of ``length`` rows; a shorter last one if any."""
    if length < 1:
        raise ValueError(f"window length must be at least 1, got {length}")
    return [slice(start, min(start + length, n_rows)) for start in range(0, n_rows, length)]
