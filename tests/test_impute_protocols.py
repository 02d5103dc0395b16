"""impute.protocols: the published splits, standardisation and hidden cells."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fashionlab.errors import FashionlabError
from fashionlab.impute.protocols import HIDE, prepare_protocol


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    index = pd.date_range("2013-03-01", "2017-02-28 23:00", freq="h", name="time")
    rng = np.random.default_rng(0)
    values = rng.normal(5.0, 2.0, size=(len(index), 3))
    values[rng.random(values.shape) < 0.05] = np.nan  # real gaps
    return pd.DataFrame(values, index=index, columns=["A_x", "A_y", "B_x"])


def test_saits_splits_standardise_with_training_statistics(table):
    p = prepare_protocol(table, "saits", seed=1)
    assert p.scored["test"].index[0] == pd.Timestamp("2013-03-01")
    assert p.scored["test"].index[-1] == pd.Timestamp("2013-12-31 23:00")
    assert p.scored["val"].index[0] == pd.Timestamp("2014-01-01")
    assert np.allclose(np.nanmean(p.train, axis=0), 0, atol=1e-9)
    assert np.allclose(np.nanstd(p.train, axis=0), 1, atol=1e-9)
    assert np.isnan(p.train).mean() == pytest.approx(0.05, abs=0.005)  # SAITS keeps train whole


@pytest.mark.parametrize("protocol", ["saits", "tsi-bench"])
def test_hidden_cells_are_a_tenth_of_the_observed_ones(table, protocol):
    p = prepare_protocol(table, protocol, seed=1)
    for split in p.scored.values():
        observed = ~np.isnan(split.truth)
        assert not (split.hidden & ~observed).any()
        assert split.hidden.sum() == round(HIDE * observed.sum())
        assert np.isnan(split.given[split.hidden]).all()
        keep = observed & ~split.hidden
        assert np.array_equal(split.given[keep], split.truth[keep])


def test_tsi_bench_also_hides_training_cells(table):
    saits_gaps = np.isnan(prepare_protocol(table, "tsi-bench", seed=1).train).mean()
    assert saits_gaps == pytest.approx(0.05 + 0.95 * HIDE, abs=0.005)


def test_same_seed_same_masks_and_days_cut(table):
    a = prepare_protocol(table, "tsi-bench", seed=3, days={"train": 60, "val": 10, "test": 10})
    b = prepare_protocol(table, "tsi-bench", seed=3, days={"train": 60, "val": 10, "test": 10})
    assert len(a.train) == 24 * 60 and len(a.scored["test"].truth) == 24 * 10
    assert np.array_equal(a.scored["test"].hidden, b.scored["test"].hidden)


def test_unknown_protocol(table):
    with pytest.raises(FashionlabError, match="unknown protocol"):
        prepare_protocol(table, "brits", seed=0)
