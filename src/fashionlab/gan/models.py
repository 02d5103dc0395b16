"""GAN generators and discriminators for 28x28 single-channel images on [-1, 1].

Every generator has ``noise_dim`` and ``num_classes`` (0 = unconditional) and maps
noise (B, noise_dim) [and labels (B,)] to images (B, 1, 28, 28) through tanh.
Every discriminator maps images (B, 1, 28, 28) [and labels (B,)] to logits (B,).
A registered GAN builder returns the pair ``(generator, discriminator)``.

``TRAINING_DEFAULTS`` holds the settings each model was designed to train with
(loss, learning rates, betas, EMA); the GAN trainer fills unset options from it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from fashionlab.gan.conv_transpose import PhaseConvTranspose2d
from fashionlab.runtime.registry import register

CLASSES = 10  # Fashion-MNIST's classes, made by the conditional GAN


def _maybe_sn(module: nn.Module, enabled: bool) -> nn.Module:
    return spectral_norm(module) if enabled else module


def keras_init(module: nn.Module) -> nn.Module:
    """Glorot-uniform weights and zero biases, as Keras initialises Dense and Conv layers.

    PyTorch's default ConvTranspose2d init takes its fan from the *output* channels, so
    the final 64 -> 1 layer starts with weights ~8x larger and saturates tanh.
    """
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module


# --------------------------------------------------------------------------- reference DCGAN


CONV_TRANSPOSE = {"native": nn.ConvTranspose2d, "phase": PhaseConvTranspose2d}


class DCGANGenerator(nn.Module):
    """The TensorFlow tutorial's generator: Dense -> 256x7x7 -> ConvT 128 -> ConvT 64 -> ConvT 1.

    ``conv_transpose="phase"`` computes the transposed convolutions as stride-1
    convolutions, one per output phase (``gan/conv_transpose.py``): the same parameters
    and the same function, so a state dict loads either way; only the speed differs.
    """

    def __init__(self, noise_dim: int = 100, leaky: bool = False,
                 conv_transpose: str = "native"):
        super().__init__()
        self.noise_dim, self.num_classes = noise_dim, 0
        if conv_transpose not in CONV_TRANSPOSE:
            raise TypeError(f"conv_transpose must be one of {', '.join(CONV_TRANSPOSE)}, "
                            f"got {conv_transpose!r}")
        ConvT = CONV_TRANSPOSE[conv_transpose]  # noqa: N806 (a class)

        def act() -> nn.Module:
            return nn.LeakyReLU(0.3) if leaky else nn.ReLU()  # 0.3: Keras' LeakyReLU default

        self.project = nn.Sequential(
            nn.Linear(noise_dim, 7 * 7 * 256, bias=False), nn.BatchNorm1d(7 * 7 * 256), act()
        )
        # kernel 5, "same" padding: stride 1 keeps 7x7; stride 2 doubles (output_padding 1)
        self.up = nn.Sequential(
            ConvT(256, 128, 5, stride=1, padding=2, bias=False),
            nn.BatchNorm2d(128),
            act(),
            ConvT(128, 64, 5, stride=2, padding=2, output_padding=1, bias=False),
            nn.BatchNorm2d(64),
            act(),
            ConvT(64, 1, 5, stride=2, padding=2, output_padding=1, bias=False),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        x = self.project(z).view(-1, 256, 7, 7)  # (B, 256, 7, 7)
        return self.up(x)  # (B, 1, 28, 28)


class KerasDropout(nn.Dropout):
    """Dropout as Keras computes it: keep where a uniform draw is >= p, scale by 1/(1-p).

    The same function as ``nn.Dropout`` (which draws a Bernoulli mask); on CPUs the
    uniform draw is about twice as fast, and the tutorial's discriminator drops 30% of
    two large activations at every step.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        keep = torch.rand_like(x) >= self.p
        return x * keep * (1.0 / (1.0 - self.p))


class DCGANDiscriminator(nn.Module):
    """The tutorial's discriminator: Conv 64 -> Conv 128 (stride 2, LeakyReLU, dropout) -> logit."""

    def __init__(self, dropout: float = 0.3, negative_slope: float = 0.3):
        super().__init__()
        self.num_classes = 0
        self.body = nn.Sequential(
            nn.Conv2d(1, 64, 5, stride=2, padding=2),  # (B, 64, 14, 14)
            nn.LeakyReLU(negative_slope),
            KerasDropout(dropout),
            nn.Conv2d(64, 128, 5, stride=2, padding=2),  # (B, 128, 7, 7)
            nn.LeakyReLU(negative_slope),
            KerasDropout(dropout),
            nn.Flatten(),
        )
        self.head = nn.Linear(128 * 7 * 7, 1)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.body(x)).squeeze(1)  # (B,)


# --------------------------------------------------------------------------- light, fast GAN


class LiteGenerator(nn.Module):
    """A DCGAN generator sized for CPU speed: Dense -> C x 7x7 -> ConvT(4, s2) x 2.

    With ``num_classes > 0`` a learned class embedding multiplies the noise
    (a cheap, effective way to condition: every noise value is modulated per class).
    """

    def __init__(self, noise_dim: int = 64, width: int = 128, num_classes: int = 0):
        super().__init__()
        self.noise_dim, self.num_classes, self.width = noise_dim, num_classes, width
        self.embed = nn.Embedding(num_classes, noise_dim) if num_classes else None
        self.project = nn.Sequential(
            nn.Linear(noise_dim, width * 7 * 7, bias=False),
            nn.BatchNorm1d(width * 7 * 7),
            nn.ReLU(),
        )
        self.up = nn.Sequential(
            nn.ConvTranspose2d(width, width // 2, 4, stride=2, padding=1, bias=False),  # 14x14
            nn.BatchNorm2d(width // 2),
            nn.ReLU(),
            nn.ConvTranspose2d(width // 2, 1, 4, stride=2, padding=1),  # 28x28
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            if labels is None:
                raise ValueError("this generator is conditional: pass class labels")
            z = z * self.embed(labels)  # (B, noise_dim)
        x = self.project(z).view(-1, self.width, 7, 7)  # (B, width, 7, 7)
        return self.up(x)  # (B, 1, 28, 28)


class LiteDiscriminator(nn.Module):
    """Two strided 4x4 convolutions and a linear head, optionally spectrally normalised.

    With ``num_classes > 0`` it is a projection discriminator (Miyato & Koyama 2018):
    logit = head(h) + <embed(y), h>, with h the flattened features.
    """

    def __init__(
        self, width: int = 64, num_classes: int = 0, spectral: bool = True, dropout: float = 0.0
    ):
        super().__init__()
        self.num_classes = num_classes
        self.body = nn.Sequential(
            _maybe_sn(nn.Conv2d(1, width, 4, stride=2, padding=1), spectral),  # (B, w, 14, 14)
            nn.LeakyReLU(0.2),
            nn.Dropout(dropout),
            _maybe_sn(nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), spectral),  # 7x7
            nn.LeakyReLU(0.2),
            nn.Dropout(dropout),
            nn.Flatten(),
        )
        features = 2 * width * 7 * 7
        self.head = _maybe_sn(nn.Linear(features, 1), spectral)
        self.embed = None
        if num_classes:
            self.embed = _maybe_sn(nn.Embedding(num_classes, features), spectral)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = self.body(x)  # (B, features)
        logits = self.head(h).squeeze(1)  # (B,)
        if self.embed is not None:
            if labels is None:
                raise ValueError("this discriminator is conditional: pass class labels")
            logits = logits + (self.embed(labels) * h).sum(1)
        return logits


# --------------------------------------------------------------------------- registry

DEFAULT_MODEL = "lite"  # `fashionlab train gan` without --model

# What each model was designed to train with; the trainer fills unset options from here.
TRAINING_DEFAULTS: dict[str, dict[str, Any]] = {
    # the TensorFlow tutorial: BCE, Adam(1e-4) with Keras' default betas, batch 256, 100 epochs
    # and both updates from one discriminator pass (its two gradient tapes)
    "dcgan": dict(loss="bce", lr_g=1e-4, lr_d=1e-4, betas=(0.9, 0.999), ema=0.0,
                  batch_size=256, epochs=100, step_order="shared"),
    # hinge loss + spectral norm allow a large learning rate; EMA smooths the generator
    "lite": dict(loss="hinge", lr_g=4e-4, lr_d=4e-4, betas=(0.0, 0.9), ema=0.999,
                 batch_size=128, epochs=20, step_order="alternating"),
    "cgan": dict(loss="hinge", lr_g=4e-4, lr_d=4e-4, betas=(0.0, 0.9), ema=0.999,
                 batch_size=128, epochs=20, step_order="alternating"),
}


@register("dcgan", "gan", "the reference DCGAN of the TensorFlow tutorial (noise 100)")
def dcgan(noise_dim: int = 100, leaky: bool = False, dropout: float = 0.3, init: str = "keras",
          conv_transpose: str = "native"):
    # conv_transpose: "native" (nn.ConvTranspose2d) or "phase" (one stride-1 conv per
    # output phase): equal outputs; "native" measured faster on an AVX2 CPU (docs/speed.md)
    generator = DCGANGenerator(noise_dim, leaky, conv_transpose)
    discriminator = DCGANDiscriminator(dropout)
    if init == "keras":  # the tutorial's initialisation; "torch" keeps PyTorch's defaults
        keras_init(generator), keras_init(discriminator)
    elif init != "torch":
        raise TypeError(f"init must be 'keras' or 'torch', got {init!r}")
    return generator, discriminator


@register("lite", "gan", "fast unconditional DCGAN: 4x4 convs, spectral norm D, hinge, EMA")
def lite(noise_dim: int = 64, g_width: int = 128, d_width: int = 64, spectral: bool = True):
    return LiteGenerator(noise_dim, g_width), LiteDiscriminator(d_width, 0, spectral)


@register("cgan", "gan", "class-conditional lite GAN: class-modulated noise, projection D")
def cgan(noise_dim: int = 64, g_width: int = 128, d_width: int = 64, spectral: bool = True):
    # the classes are Fashion-MNIST's 10, not an option (--model-arg)
    return LiteGenerator(noise_dim, g_width, CLASSES), LiteDiscriminator(d_width, CLASSES, spectral)
