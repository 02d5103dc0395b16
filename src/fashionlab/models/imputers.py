"""GAIN networks (Yoon et al. 2018): a generator that fills cells, a discriminator that spots them.

Only the ``nn.Module`` s live here (torch only, explicit arguments); the training
step and the scikit-learn style user API are in ``fashionlab.impute.gain`` and
``fashionlab.inpaint.train``.

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


def _conv_block(c_in: int, c_out: int, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=dilation, dilation=dilation),
        nn.GroupNorm(8 if c_out % 8 == 0 else 1, c_out),
        nn.SiLU(),
    )


class ConvGainGenerator(nn.Module):
    """Convolutional generator for images: a small encoder-decoder with dilated middle layers.

    Input is the image (gaps filled with noise) and its mask as two channels; the
    output is one value in [0, 1] per pixel. Sizes must be divisible by 4.

    Args:
        channels: image channels (1 for Fashion-MNIST).
        width: channels of the first stage (doubled once after each downsampling).
    """

    def __init__(self, channels: int = 1, width: int = 32):
        super().__init__()
        w = width
        self.enc1 = _conv_block(2 * channels, w)
        self.enc2 = nn.Sequential(nn.Conv2d(w, 2 * w, 4, stride=2, padding=1), nn.SiLU(),
                                  _conv_block(2 * w, 2 * w))
        self.mid = nn.Sequential(nn.Conv2d(2 * w, 4 * w, 4, stride=2, padding=1), nn.SiLU(),
                                 _conv_block(4 * w, 4 * w, 2), _conv_block(4 * w, 4 * w, 1))
        self.up2 = nn.ConvTranspose2d(4 * w, 2 * w, 4, stride=2, padding=1)
        self.dec2 = _conv_block(4 * w, 2 * w)
        self.up1 = nn.ConvTranspose2d(2 * w, w, 4, stride=2, padding=1)
        self.dec1 = _conv_block(2 * w, w)
        self.out = nn.Conv2d(w, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # x, mask: (B, C, H, W) -> (B, C, H, W) in [0, 1]
        e1 = self.enc1(torch.cat([x, mask], dim=1))  # (B, w, H, W)
        e2 = self.enc2(e1)  # (B, 2w, H/2, W/2)
        m = self.mid(e2)  # (B, 4w, H/4, W/4)
        d2 = self.dec2(torch.cat([self.up2(m), e2], dim=1))  # (B, 2w, H/2, W/2)
        d1 = self.dec1(torch.cat([self.up1(d2), e1], dim=1))  # (B, w, H, W)
        return torch.sigmoid(self.out(d1))


class ConvGainDiscriminator(nn.Module):
    """Fully convolutional discriminator: (completed image, hint) -> per-pixel logits.

    Args:
        channels: image channels.
        width: channels of the hidden layers.
    """

    def __init__(self, channels: int = 1, width: int = 32):
        super().__init__()
        self.net = nn.Sequential(
            _conv_block(2 * channels, width),
            _conv_block(width, width, 2),
            _conv_block(width, width, 4),
            nn.Conv2d(width, channels, 3, padding=1),
        )

    def forward(self, x_hat: torch.Tensor, hint: torch.Tensor) -> torch.Tensor:
        # x_hat, hint: (B, C, H, W) -> logits (B, C, H, W)
        return self.net(torch.cat([x_hat, hint], dim=1))
