"""Filling a Dask DataFrame with a fitted model, on a local cluster of 2 worker processes:
the same cells as filling the whole frame in one process."""

from __future__ import annotations

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from distributed import Client, LocalCluster

from conftest import STATION_COLUMNS, station_values
from fashionlab.errors import FashionlabError
from fashionlab.impute.base import make_imputer
from fashionlab.impute.on_dask import fill_dask

COLUMNS = STATION_COLUMNS


def frame(rows: int, seed: int = 0) -> pd.DataFrame:
    values = station_values(rows, seed, 0.2, slice(40, 60))  # outage across a partition edge
    out = pd.DataFrame(values, columns=COLUMNS)
    out.insert(0, "station", "x")
    return out


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                      dashboard_address=None, silence_logs=40) as cluster, \
            Client(cluster) as client:
        yield client


@pytest.mark.parametrize("method, params", [
    ("mice", {"max_iter": 3}),  # row-wise: map_partitions
    ("interpolate", {"window": 24}),  # windowed: map_overlap
    ("locf", {"window": 7}),
])
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_dask_fills_as_one_process(client, method, params):
    imputer = make_imputer(method, params, 0).fit(frame(200)[COLUMNS].to_numpy())
    new = frame(150, seed=1)
    expected = imputer.transform(new[COLUMNS].to_numpy())
    parts = dd.from_pandas(new, npartitions=4)  # 38 rows each: windows cross the edges
    filled = fill_dask(parts, imputer, COLUMNS).compute(scheduler=client.get)
    assert len(client.scheduler_info()["workers"]) == 2
    np.testing.assert_array_equal(filled[COLUMNS].to_numpy(), expected)
    assert (filled["station"] == "x").all() and filled.index.equals(new.index)


def test_dask_fills_shifted_window_gain_grids_as_one_process(client):
    params = {"epochs": 2, "d_model": 16, "disc_hidden": 8, "n_heads": 2, "window": 12,
              "shifts": 2}
    imputer = make_imputer("window-gain", params, 0).fit(frame(200)[COLUMNS].to_numpy())
    new = frame(150, seed=1)
    expected = imputer.transform(new[COLUMNS].to_numpy())
    parts = dd.from_pandas(new, npartitions=4)  # 38 rows: 22 are lent before each
    filled = fill_dask(parts, imputer, COLUMNS).compute(scheduler=client.get)
    np.testing.assert_allclose(filled[COLUMNS].to_numpy(), expected, rtol=0, atol=1e-5)
    with pytest.raises(FashionlabError, match="partition 0 holds 19 rows, fewer than the 22"):
        fill_dask(dd.from_pandas(new, npartitions=8), imputer, COLUMNS)


def test_dask_refuses_what_partitions_cannot_split():
    whole = make_imputer("interpolate", {}, 0).fit(frame(50)[COLUMNS].to_numpy())
    with pytest.raises(FashionlabError, match="window=None"):
        fill_dask(dd.from_pandas(frame(50), npartitions=2), whole, COLUMNS)
    windowed = make_imputer("interpolate", {"window": 24}, 0).fit(frame(50)[COLUMNS].to_numpy())
    with pytest.raises(FashionlabError, match="partition 0 holds 10 rows, fewer than the 23"):
        fill_dask(dd.from_pandas(frame(50), npartitions=5), windowed, COLUMNS)
    with pytest.raises(FashionlabError, match="lacks the model's column"):
        fill_dask(dd.from_pandas(frame(50).drop(columns="b_t"), npartitions=2), windowed,
                  COLUMNS)
