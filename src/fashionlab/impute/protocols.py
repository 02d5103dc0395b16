"""The published air-quality imputation protocols as data: training input and scored splits.

Shared by ``benchmarks/impute_air_quality.py`` and the demo, so that every number
comes from the same code. See the benchmark's docstring for the protocols' sources.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from fashionlab.data.air_quality import Standardizer, protocol_splits
from fashionlab.impute.masking import hide_completely_at_random

WINDOW = 24  # hours per window, both protocols
HIDE = 0.1  # share of observed cells hidden in the scored splits


@dataclass
class ScoredSplit:
    """A scored split: true values, the input with hidden cells, and which cells were hidden."""

    truth: np.ndarray  # standardised values, NaN where the data has a real gap
    given: np.ndarray  # ``truth`` with the hidden cells set to NaN
    hidden: np.ndarray  # bool mask of the hidden (scored) cells
    index: pd.DatetimeIndex  # the hours of the rows


@dataclass
class Protocol:
    """Everything an imputer needs to be scored on one protocol."""

    name: str
    train: np.ndarray  # standardised training input (TSI-Bench: 10% of it hidden too)
    scored: dict[str, ScoredSplit]  # "val" and "test"
    scaler: Standardizer  # fitted on the training split
    columns: list[str]


def prepare_protocol(table: pd.DataFrame, protocol: str, seed: int = 0,
                     days: dict[str, int] | None = None) -> Protocol:
    """Standardise with training statistics and hide 10% of the scored splits' observed cells.

    ``days`` keeps only the first N days of a split (``{"train": 60, "val": 10, "test": 10}``)
    for smoke runs: such numbers check the pipeline and measure nothing.
    """
    parts = protocol_splits(table, protocol)
    if days:
        parts = {k: v.iloc[: 24 * days[k]] if k in days else v for k, v in parts.items()}
    scaler = Standardizer.fit(parts["train"].to_numpy())
    rng = np.random.default_rng(seed)
    train = scaler.transform(parts["train"].to_numpy())
    if protocol == "tsi-bench":  # TSI-Bench hides 10% of the training input as well
        train, _ = hide_completely_at_random(train, HIDE, rng)
    scored = {}
    for name in ("val", "test"):
        truth = scaler.transform(parts[name].to_numpy())
        given, hidden = hide_completely_at_random(truth, HIDE, rng)
        scored[name] = ScoredSplit(truth, given, hidden, parts[name].index)
    return Protocol(protocol, train, scored, scaler, list(table.columns))
