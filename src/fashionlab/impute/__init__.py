"""Imputation: scikit-learn-style imputers (GAN-based and baselines), masking and scoring.

``IMPUTERS`` maps every registered method name to its class (the CLI's ``--method``).
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
    "get_imputer_class",
    "hide_completely_at_random",
    "imputer_names",
    "make_imputer",
    "masked_errors",
]
