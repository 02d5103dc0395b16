"""Networks of the window-based multi-station GAN imputer (torch only, explicit arguments).

A window is ``T`` consecutive hours of all ``C`` columns (every station's variables side
by side). Each hour is one token, so attention mixes the neighbouring hours while the
token's features mix the stations.

* ``WindowGenerator``: input the window filled by linear interpolation in time plus the
  observed mask; a transformer encoder over the hours, with a depth-wise temporal
  convolution in front, predicts a correction added to the interpolation. With
  ``n_starts=2`` it is also given a second start (the nearest-station or the one-normal
  fill) and each cell's distance in time to the nearest observation; a per-cell gate, from
  that distance and the encoder, blends the two starts, and the correction is added to the
  blend.
* ``WindowDiscriminator``: GAIN's discriminator on windows: input the imputed window and
  the hint; output one logit per cell, "this cell was observed".
"""

from __future__ import annotations

import torch
from torch import nn


class WindowGenerator(nn.Module):
    """Impute a window: ``(x_filled, mask) -> x_hat``, all ``(B, T, C)``.

    With ``n_starts=2``, ``x_filled`` is ``(B, T, 3C)``: the interpolation, the second
    start and the distance to the nearest observation (in windows), side by side.
    """

    def __init__(
        self,
        n_columns: int,
        max_len: int,
        d_model: int = 128,
        n_layers: int = 2,
        n_heads: int = 4,
        dropout: float = 0.1,
        n_starts: int = 1,
    ) -> None:
        super().__init__()
        self.max_len = max_len
        self.n_starts = n_starts
        width = 2 if n_starts == 1 else 4  # values (+ second start + distance) and the mask
        self.embed = nn.Linear(width * n_columns, d_model)
        self.position = nn.Parameter(torch.zeros(1, max_len, d_model))
        nn.init.normal_(self.position, std=0.02)
        # a short depth-wise convolution over time: local slopes before global attention
        self.local = nn.Conv1d(d_model, d_model, kernel_size=3, padding=1, groups=d_model)
        layer = nn.TransformerEncoderLayer(
            d_model,
            n_heads,
            dim_feedforward=2 * d_model,
            dropout=dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, n_columns)
        nn.init.zeros_(self.head.weight)  # start as the interpolation itself
        nn.init.zeros_(self.head.bias)
        if n_starts == 2:
            # the weight of the interpolation: high next to an observation, low far from one
            self.gate = nn.Linear(d_model, n_columns)
            nn.init.zeros_(self.gate.weight)
            nn.init.constant_(self.gate.bias, 1.0)
            self.gate_distance = nn.Parameter(torch.full((n_columns,), -4.0))

    def forward(self, x_filled: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        t = x_filled.shape[1]
        h = self.embed(torch.cat([x_filled, mask], dim=-1))  # (B, T, D)
        h = h + self.position[:, :t]
        h = h + self.local(h.transpose(1, 2)).transpose(1, 2)  # (B, T, D)
        h = self.norm(self.encoder(h))  # (B, T, D)
        if self.n_starts == 1:
            return x_filled + self.head(h)  # (B, T, C)
        interp, second, distance = x_filled.chunk(3, dim=-1)  # each (B, T, C)
        weight = torch.sigmoid(self.gate(h) + self.gate_distance * distance)  # (B, T, C)
        return weight * interp + (1 - weight) * second + self.head(h)  # (B, T, C)


class WindowDiscriminator(nn.Module):
    """GAIN discriminator on windows: ``(x_imputed, hint) -> logits``, all ``(B, T, C)``."""

    def __init__(self, n_columns: int, hidden: int = 128) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv1d(2 * n_columns, hidden, kernel_size=3, padding=1),
            nn.GELU(),
            nn.Conv1d(hidden, hidden, kernel_size=3, padding=1),
            nn.GELU(),
            nn.Conv1d(hidden, n_columns, kernel_size=1),
        )

    def forward(self, x_imputed: torch.Tensor, hint: torch.Tensor) -> torch.Tensor:
        h = torch.cat([x_imputed, hint], dim=-1).transpose(1, 2)  # (B, 2C, T)
        return self.net(h).transpose(1, 2)  # (B, T, C) logits
