"""Imputation: scikit-learn-style imputers (GAN-based and baselines), masking and scoring.

``IMPUTERS`` maps every registered method name to its class (the CLI's ``--method``).

Where things are:

* ``base``: the contract every imputer shares, its parameter rules, the name registry;
* ``baselines``: mean, median, kNN, MICE-like, MissForest-like (scikit-learn's);
* ``mixture_forest``: the mixture-and-forests fill (``gaussian``, ``forests``: its parts);
* ``gain``: GAIN on tables, correcting that fill; ``gain_networks``: its MLPs;
* ``gain_training``: the one GAIN step and loop (tables, windows, and ``fashionlab.inpaint``);
* ``timeseries``: LOCF, interpolation, nearest station; ``window_gain`` (with
  ``window_networks``): GAIN on windows of hours;
* ``masking``, ``protocols``: hidden cells and their scores; ``table``: the CSV command;
* ``fit_apply``, ``persist`` (``saved_state``, ``array_models``): fit once, save without
  pickle, apply; ``chunked`` (``csv_chunks``, ``time_order``): apply in chunks of rows;
  ``on_dask``: fill a Dask DataFrame.
"""

from fashionlab.impute.base import (
    IMPUTERS,
    BaseImputer,
    get_imputer_class,
    imputer_names,
    make_imputer,
)
from fashionlab.impute.baselines import (
    KNearestImputer,
    MeanImputer,
    MedianImputer,
    MiceImputer,
    MissForestImputer,
)
from fashionlab.impute.gain import GainImputer
from fashionlab.impute.masking import hide_completely_at_random, masked_errors
from fashionlab.impute.mixture_forest import MixtureForestImputer
from fashionlab.impute.on_dask import fill_dask  # needs the dask extra only when called
from fashionlab.impute.timeseries import (  # registers locf, interpolate, nearest-station
    LinearInterpolationImputer,
    LocfImputer,
)
from fashionlab.impute.window_gain import WindowGainImputer  # registers window-gain

__all__ = [
    "IMPUTERS",
    "BaseImputer",
    "GainImputer",
    "KNearestImputer",
    "LinearInterpolationImputer",
    "LocfImputer",
    "MeanImputer",
    "MedianImputer",
    "MiceImputer",
    "MissForestImputer",
    "MixtureForestImputer",
    "WindowGainImputer",
    "fill_dask",
    "get_imputer_class",
    "hide_completely_at_random",
    "imputer_names",
    "make_imputer",
    "masked_errors",
]
