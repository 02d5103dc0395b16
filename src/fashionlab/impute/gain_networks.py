"""GAIN networks (Yoon et al. 2018): a generator that fills cells, a discriminator that spots them.

The MLPs of the paper, on rows of cells. Only the ``nn.Module`` s live here (torch only,
explicit arguments); the training step and loop are in ``fashionlab.impute.gain_training``,
their users ``fashionlab.impute.gain`` (tables) and ``fashionlab.inpaint.train`` (pictures,
the 784 pixels as one row; its convolutional pair is in ``fashionlab.inpaint.networks``).

Conventions: values are scaled to [0, 1]; ``mask`` is 1 where a value is given
to the generator and 0 where it must be filled. The generator returns values in
[0, 1] (sigmoid); the discriminator returns *logits* that a cell was given
(use ``BCEWithLogitsLoss``), one per cell.
"""

from __future__ import annotations

import torch
from torch import nn


def _mlp(n_in: int, hidden: int, n_out: int, depth: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = n_in
    for _ in range(depth):
        layers += [nn.Linear(width, hidden), nn.ReLU()]
        width = hidden
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


class GainGenerator(nn.Module):
    """MLP generator: (values with noise in the gaps, mask) -> a value for every cell.

    Args:
        n_features: cells per row.
        hidden: width of the hidden layers (GAIN uses ``n_features``).
        depth: number of hidden layers (GAIN uses 2).
    """

    def __init__(self, n_features: int, hidden: int, depth: int = 2):
        super().__init__()
        self.net = _mlp(2 * n_features, hidden, n_features, depth)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # x, mask: (B, D) -> (B, D) in [0, 1]
        return torch.sigmoid(self.net(torch.cat([x, mask], dim=1)))


class GainDiscriminator(nn.Module):
    """MLP discriminator: (completed row, hint) -> per-cell logit that the cell was given.

    Args:
        n_features: cells per row.
        hidden: width of the hidden layers.
        depth: number of hidden layers.
    """

    def __init__(self, n_features: int, hidden: int, depth: int = 2):
        super().__init__()
        self.net = _mlp(2 * n_features, hidden, n_features, depth)

    def forward(self, x_hat: torch.Tensor, hint: torch.Tensor) -> torch.Tensor:
        # x_hat, hint: (B, D) -> logits (B, D)
        return self.net(torch.cat([x_hat, hint], dim=1))
