"""``ClassifierConfig``: every setting of a classifier run, with its checks."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from torch import nn

from fashionlab.data.batches import EVAL_BATCH_SIZE
from fashionlab.data.fashion_mnist import data_dir_option
from fashionlab.errors import FashionlabError, reject_non_finite
from fashionlab.options import check_choices, option, positive_int
from fashionlab.runtime.budget import CLOCKS
from fashionlab.runtime.device import check_threads, device_option, threads_option
from fashionlab.runtime.registry import create_model, get_entry
from fashionlab.runtime.runs import read_config
from fashionlab.runtime.schedules import SCHEDULES

MAX_TTA_SHIFT = 3  # pixels: 49 positions (98 with the flip) per image


@dataclass
class ClassifierConfig:
    """Everything that defines a classifier run; stored in the run's config.json."""

    model: str = option("mlp", "a registered classifier (`fashionlab models`)")
    model_args: dict[str, Any] = option(
        factory=dict, flag="--model-arg",
        help="model keyword argument, VALUE as JSON, e.g. widths=[32,64,128] (repeatable)")
    epochs: int = option(20, "training epochs (the reference notebook trains 20)",
                         parse=positive_int, shown_default="20 (with --resume: the run's)")
    steps_per_epoch: int | None = option(
        None, "cap on the batches of an epoch (quick checks; default: a full pass)",
        parse=positive_int)
    time_budget: float = option(
        0.0, "stop after this much training time; the schedule follows the clock "
        "(--epochs is then the most); 0 = off", metavar="SECONDS")
    budget_clock: str = option(
        "wall", "count the time budget in wall-clock or in this process's CPU seconds "
        "(what a busy shared machine cannot steal)", choices=tuple(CLOCKS))
    batch_size: int = option(32, "images per step (Keras' default)", parse=positive_int)
    lr: float = option(1e-3, "peak learning rate; 1e-3 is Adam's default")
    weight_decay: float = option(0.0, "AdamW's decoupled decay, or SGD's L2 term; 0 = none")
    optimizer: str = option("adam", "adam (the reference) or sgd (Nesterov momentum)",
                            choices=("adam", "sgd"))
    momentum: float = option(0.9, "SGD Nesterov momentum")
    schedule: str = option("constant", "learning-rate schedule, per step", choices=SCHEDULES)
    warmup_epochs: float = option(0.0, "linear learning-rate warmup, in epochs")
    label_smoothing: float = option(0.0, "cross-entropy label smoothing; 0 = hard labels")
    crop_padding: int = option(0, "random crops after padding by this many pixels (0 = off)")
    flip: bool = option(False, "random left-right flips")
    erasing: float = option(0.0, "random-erasing probability per image (0 = off)")
    ema_decay: float = option(
        0.0, "evaluate and save an EMA of the weights (e.g. 0.999; 0 = off)")
    tta_flip: bool = option(False, "predict with the mean of each image and its mirror image")
    tta_shift: int = option(
        0, "and of them moved by up to PIXELS in each direction ((2 PIXELS + 1)^2 positions; "
        "in the final validation and test passes, evaluate and predict; the per-epoch "
        "validation curve uses the flip only)", metavar="PIXELS")
    precision: str = option("auto", "auto = bf16 autocast for convolutional models on a GPU "
                            "or a CPU with native bf16 (AVX512-BF16, AMX), else fp32",
                            choices=("auto", "fp32", "bf16"))
    compile: bool = option(False, "torch.compile the model (measured slower: the cnn on a CPU, "
                           "WRN-16-8 on an H200; see docs/classifiers.md)")
    fast_mlp: str = option("auto", "the hand-written step for the plain reference MLP",
                           choices=("auto", "on", "off"))
    threads: int = threads_option()
    n_val: int = option(5000, "validation images carved from the 60,000 training images")
    test_subset: int | None = None  # score only the first N test images (quick checks);
    #                                 None = all 10,000
    seed: int = option(0, "seeds the split, the initialisation, the batch order and "
                       "augmentation")
    split_seed: int | None = option(
        None, "seeds the validation split instead of --seed (runs you will average with "
        "`evaluate RUN RUN...` should share it)")
    device: str = device_option()
    data_dir: str | None = data_dir_option()
    out: str = option("runs/classifier", "run folder to write")
    eval_batch_size: int = EVAL_BATCH_SIZE  # batch size for validation and test passes
    figures: bool = option(True, "skip the figures", flag="--no-figures")

    def dry_run(self) -> ClassifierConfig:
        """Every stage on a few images: one epoch of two steps, scored on 200 validation
        and 200 test images (seconds, or minutes for a wide ResNet)."""
        return replace(self, epochs=1, steps_per_epoch=2, test_subset=200,
                       n_val=min(self.n_val, 200))

    def validate(self) -> None:
        """Check every option before any work starts; errors say what to change."""
        reject_non_finite(self)
        get_entry(self.model, "classifier")
        for name in ("epochs", "batch_size", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise FashionlabError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("steps_per_epoch", "test_subset"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise FashionlabError(f"{name} must be at least 1 (or None for all), "
                                      f"got {getattr(self, name)}")
        if self.lr <= 0:
            raise FashionlabError(f"lr must be positive, got {self.lr}")
        check_choices(self)
        ranges = {"label_smoothing": (0, 1), "erasing": (0, 1), "ema_decay": (0, 1)}
        for name, (low, high) in ranges.items():
            value = getattr(self, name)
            if not low <= value < high:
                raise FashionlabError(f"{name} must be in [{low}, {high}), got {value}")
        if self.crop_padding < 0 or self.warmup_epochs < 0 or self.weight_decay < 0 \
                or self.time_budget < 0:
            raise FashionlabError(
                "crop_padding, warmup_epochs, weight_decay and time_budget cannot be negative"
            )
        if self.optimizer != "sgd" and self.momentum != 0.9:
            raise FashionlabError(f"momentum applies only to --optimizer sgd, not {self.optimizer}")
        if self.budget_clock != "wall" and not self.time_budget:
            raise FashionlabError("budget_clock applies only with a time budget (--time-budget)")
        if self.n_val < 0:
            raise FashionlabError(f"n_val cannot be negative, got {self.n_val}")
        if not 0 <= self.tta_shift <= MAX_TTA_SHIFT:
            raise FashionlabError(f"tta_shift must be 0 to {MAX_TTA_SHIFT} pixels, "
                                  f"got {self.tta_shift}")
        check_threads(self.threads)
        model = create_model(self.model, "classifier", **self.model_args)  # checks model_args
        if self.fast_mlp == "on":
            blockers = fast_mlp_blockers(self, model)
            if blockers:
                raise FashionlabError(
                    f"--fast-mlp on does not apply here ({'; '.join(blockers)}); "
                    "use --fast-mlp auto or off"
                )


def fast_mlp_blockers(config: ClassifierConfig, model: nn.Module) -> list[str]:
    """Why the hand-written MLP step cannot run ``config`` (empty when it can)."""
    from fashionlab.classifier.models import MLP

    reasons = []
    if not isinstance(model, MLP):
        reasons.append(f"model {config.model!r} is not the dense mlp")
    plain = {"optimizer": "adam", "schedule": "constant", "warmup_epochs": 0.0,
             "weight_decay": 0.0, "label_smoothing": 0.0, "crop_padding": 0, "flip": False,
             "erasing": 0.0, "compile": False, "time_budget": 0.0}
    for name, value in plain.items():
        if getattr(config, name) != value:
            reasons.append(f"it trains only the plain recipe, not {name}={getattr(config, name)}")
    if config.precision == "bf16":
        reasons.append("it computes in float32, not bf16")
    return reasons


def read_run_config(run_dir: str | Path) -> dict[str, Any]:
    """A classifier run's config.json, its settings checked against ``ClassifierConfig``'s
    types, and its test-time shift against the range training allows."""
    config = read_config(run_dir, "classifier", ClassifierConfig)
    shift = config.get("tta_shift", 0)
    if not 0 <= shift <= MAX_TTA_SHIFT:
        raise FashionlabError(f"{Path(run_dir) / 'config.json'}: tta_shift must be 0 to "
                              f"{MAX_TTA_SHIFT} pixels, got {shift}")
    return config
