"""Convolutional GAIN networks for pictures: a generator that fills pixels, a discriminator
that spots them.

Only the ``nn.Module`` s live here (torch only, explicit arguments); they are trained by
``fashionlab.inpaint.train`` with the loop of ``fashionlab.impute.gain_training``. The
conventions are those of :mod:`fashionlab.impute.gain_networks`: values in [0, 1], ``mask``
1 where a pixel is given, the generator's values in [0, 1] (sigmoid), the discriminator's
per-pixel *logits* that a pixel was given.
"""

from __future__ import annotations

import torch
from torch import nn


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
