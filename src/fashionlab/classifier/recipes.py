"""Named classifier recipes: settings chosen on the validation split."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fashionlab.classifier.config import ClassifierConfig

# The CNN training recipe chosen on the validation split (benchmarks/classifier_accuracy.py),
# as ClassifierConfig keyword arguments: SGD with Nesterov momentum, one-cycle, label
# smoothing, crops and flips on tensors, an EMA of the weights, test-time flip averaging.
CNN_RECIPE = dict(batch_size=128, optimizer="sgd", lr=0.1, momentum=0.9, weight_decay=5e-4,
                  schedule="onecycle", warmup_epochs=1, label_smoothing=0.1, crop_padding=2,
                  flip=True, ema_decay=0.999, tta_flip=True)
# The cnn the five-minute runs chose ("narrow pool-first grid 3"): widths 24/48/96,
# pooling before BatchNorm and ReLU, the last maps averaged to a 3x3 grid.
FIVE_MINUTE_CNN = {"widths": [24, 48, 96], "pool_first": True, "head_grid": 3}


@dataclass(frozen=True)
class Recipe:
    """A named starting point for ``train classifier --recipe NAME``: ClassifierConfig
    settings (options given beside ``--recipe`` win over them)."""

    about: str
    settings: dict[str, Any]

    def config(self, **options: Any) -> ClassifierConfig:
        """The recipe's ClassifierConfig, ``options`` winning over its settings."""
        return ClassifierConfig(**{**self.settings, **options})


RECIPES: dict[str, Recipe] = {
    "reference": Recipe("the notebook's dense mlp, Adam 1e-3, batch 32, 20 epochs", {}),
    "cnn": Recipe("the cnn with the recipe above: SGD one-cycle, crops, flips, label "
                  "smoothing, weight average, flip averaging at test time",
                  {"model": "cnn", **CNN_RECIPE}),
    "five-minute": Recipe(
        "the narrow pool-first cnn with a 3x3 grid head and the cnn recipe, shift "
        "averaging at test time, for 300 CPU seconds on one thread (docs/classifiers.md)",
        {"model": "cnn", "model_args": FIVE_MINUTE_CNN, **CNN_RECIPE, "tta_shift": 1,
         "epochs": 100, "time_budget": 300.0, "budget_clock": "cpu", "threads": 1}),
}
