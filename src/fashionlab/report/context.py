"""What the demo's sections share: the profiles' budgets, the demo's settings and the context
every section receives."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from fashionlab.classifier.recipes import FIVE_MINUTE_CNN
from fashionlab.data import FashionMNIST, load_fashion_mnist
from fashionlab.data.fashion_mnist import data_dir_option
from fashionlab.options import option
from fashionlab.report.html import Section
from fashionlab.runtime.device import device_option


@dataclass(frozen=True)
class Budget:
    """How much work each section does under one profile."""

    mlp_epochs: int  # the reference dense classifier (the notebook: 20)
    cnn_model: str  # the convolutional classifier trained in section 3
    cnn_args: dict  # its model arguments (--model-arg)
    cnn_epochs: int  # the most epochs; the schedule follows cnn_seconds
    cnn_seconds: float  # training-time budget of the CNN (the best CNN the time allows)
    gan_epochs: int  # the reference DCGAN (the notebook: 100 on 60,000 images)
    gan_train_subset: int  # 0 = all training images
    cgan_model: str
    cgan_epochs: int
    cgan_train_subset: int
    impute_quick: bool  # small slices of the air-quality protocol, a tiny GAN
    impute_gan_seconds: float  # training budget of the window GAN imputer (full protocol)
    inpaint_steps: int  # training steps of the inpainting GAIN


PROFILES: dict[str, Budget] = {
    # CI runs this one: every section, each a few seconds to a few tens of seconds.
    "quick": Budget(
        mlp_epochs=1, cnn_model="cnn", cnn_args=FIVE_MINUTE_CNN, cnn_epochs=1, cnn_seconds=25,
        gan_epochs=2, gan_train_subset=1024, cgan_model="cgan", cgan_epochs=2,
        cgan_train_subset=2048, impute_quick=True, impute_gan_seconds=0, inpaint_steps=150,
    ),
    "default": Budget(
        mlp_epochs=20, cnn_model="cnn", cnn_args=FIVE_MINUTE_CNN, cnn_epochs=30, cnn_seconds=180,
        gan_epochs=8, gan_train_subset=3000, cgan_model="cgan", cgan_epochs=5,
        cgan_train_subset=20000, impute_quick=False, impute_gan_seconds=120, inpaint_steps=1500,
    ),
    "full": Budget(
        mlp_epochs=20, cnn_model="wrn", cnn_args={}, cnn_epochs=60, cnn_seconds=0,
        gan_epochs=100, gan_train_subset=0, cgan_model="cgan", cgan_epochs=50,
        cgan_train_subset=0, impute_quick=False, impute_gan_seconds=840, inpaint_steps=3000,
    ),
}


@dataclass
class DemoConfig:
    """Settings of ``fashionlab demo``."""

    profile: str = "default"  # quick (CI, ~3 min) | default (~15 min on 2 cores) | full
    out: str = option("runs/demo", "demo folder (report.html, results.json)")
    data_dir: str | None = data_dir_option()
    air_quality_dir: str | None = option(
        None, "folder with the Beijing air-quality CSVs (default: $FASHIONLAB_AIR_QUALITY)")
    device: str = device_option()
    seed: int = option(0, "seeds every section")
    only: list[str] = option(factory=list, help="run only these sections", metavar="SECTION")


@dataclass
class DemoContext:
    """What every section receives."""

    config: DemoConfig
    budget: Budget
    out: Path
    device: torch.device
    results: dict[str, Section] = field(default_factory=dict)
    _data: FashionMNIST | None = None

    @property
    def data(self) -> FashionMNIST:
        if self._data is None:
            self._data = load_fashion_mnist(self.config.data_dir)
        return self._data

    def path(self, name: str) -> Path:
        return self.out / name


SectionFn = Callable[[DemoContext], Section]
