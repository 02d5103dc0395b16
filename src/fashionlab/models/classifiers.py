"""Fashion-MNIST classifiers.

Every classifier takes normalised images (B, 1, 28, 28) and returns logits (B, 10);
``features(x)`` returns the penultimate activations (B, feature_dim), which the
GAN metrics use as their feature space.
"""

from __future__ import annotations

import torch
from torch import nn

from fashionlab.models.registry import register


class MLP(nn.Module):
    """The reference dense network: Flatten -> Dense(hidden, ReLU) -> Dense(classes)."""

    def __init__(self, hidden: int = 128, num_classes: int = 10, in_pixels: int = 28 * 28):
        super().__init__()
        self.feature_dim = hidden
        self.hidden = nn.Linear(in_pixels, hidden)
        self.head = nn.Linear(hidden, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.hidden(x.flatten(1)))  # (B, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))  # (B, classes)


@register("mlp", "classifier", "the reference dense network 784-128-10 (Keras tutorial)")
def mlp(hidden: int = 128, num_classes: int = 10) -> MLP:
    return MLP(hidden=hidden, num_classes=num_classes)
