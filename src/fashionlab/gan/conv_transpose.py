"""A transposed convolution computed as stride-1 convolutions, one per output phase.

On a CPU, PyTorch runs a float32 ``nn.ConvTranspose2d`` through its slow reference
kernel (matrix product, then col2im), while ``conv2d`` goes to oneDNN. A transposed
convolution is exactly a set of ordinary convolutions (the sub-pixel or pixel-shuffle
view, Shi et al. 2016): along each dimension, with stride ``s``, kernel ``k`` and
padding ``p``, the output pixel ``o`` with ``o + p = s*q + r`` (phase ``r`` in 0..s-1) is

    y[o] = sum_m x[q - m] * w[r + s*m]        (m such that 0 <= r + s*m < k)

a stride-1 correlation of the input with the taps ``w[r], w[r+s], ...`` reversed. So
each of the ``s*s`` phases of a 2-D layer is one ``conv2d`` with a slice of the same
weight, and the phases interleave into the output (a pixel shuffle when they have equal
sizes). Nothing is approximated: the same products are summed, in another order, so
outputs and gradients equal ``nn.ConvTranspose2d``'s to float32 rounding
(``tests/test_gan_conv_transpose.py``). The weight keeps ``nn.ConvTranspose2d``'s
layout ``(in, out, kH, kW)``, so state dicts load either way.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class _Phase:
    """One output phase along one dimension."""

    taps: slice  # the kernel taps of this phase: r, r + s, ... (reversed when applied)
    pad_before: int  # input zeros before (negative: input rows dropped)
    pad_after: int
    start: int  # first output index of this phase (then every s-th)
    count: int  # output pixels of this phase


def _phases(size_in: int, kernel: int, stride: int, padding: int, size_out: int) -> list[_Phase]:
    """The phases of one dimension, in order of their first output pixel."""
    phases = []
    for r in range(stride):
        n_taps = len(range(r, kernel, stride))
        q_min = -((r - padding) // stride)  # ceil((padding - r) / stride): o >= 0
        q_max = (size_out - 1 + padding - r) // stride  # o <= size_out - 1
        count = q_max - q_min + 1
        if n_taps == 0 or count <= 0:
            # No tap lands here (kernel < stride) or no pixel: these outputs are the bias.
            start = stride * q_min + r - padding
            phases.append(_Phase(slice(r, r), 0, 0, start, max(count, 0)))
            continue
        phases.append(_Phase(slice(r, kernel, stride), n_taps - 1 - q_min,
                             q_max - (size_in - 1), stride * q_min + r - padding, count))
    return sorted(phases, key=lambda phase: phase.start)


def phase_conv_transpose2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                           stride: tuple[int, int], padding: tuple[int, int],
                           output_padding: tuple[int, int]) -> torch.Tensor:
    """``F.conv_transpose2d(x, weight, bias, stride, padding, output_padding)`` (groups 1,
    dilation 1) as ``stride[0] * stride[1]`` stride-1 convolutions.

    x: (B, C_in, H, W); weight: (C_in, C_out, kH, kW); returns (B, C_out, H_out, W_out).
    """
    (h, w), (kh, kw) = x.shape[-2:], weight.shape[-2:]
    out_h = (h - 1) * stride[0] - 2 * padding[0] + kh + output_padding[0]
    out_w = (w - 1) * stride[1] - 2 * padding[1] + kw + output_padding[1]
    rows = _phases(h, kh, stride[0], padding[0], out_h)
    cols = _phases(w, kw, stride[1], padding[1], out_w)
    outputs = [[_one_phase(x, weight, row, col, bias) for col in cols] for row in rows]
    shuffle = len({p.count for p in rows}) == 1 and len({p.count for p in cols}) == 1 and \
        [p.start for p in rows] == list(range(stride[0])) and \
        [p.start for p in cols] == list(range(stride[1]))
    if shuffle:  # every phase (B, C_out, Hq, Wq): interleave as a pixel shuffle
        b, c, hq, wq = outputs[0][0].shape
        y = torch.stack([torch.stack(line, dim=-1) for line in outputs], dim=3)  # (B,C,Hq,sH,Wq,sW)
        return y.reshape(b, c, hq * stride[0], wq * stride[1])
    y = x.new_zeros(x.shape[0], weight.shape[1], out_h, out_w)  # every pixel is overwritten
    for row, line in zip(rows, outputs, strict=True):
        for col, out in zip(cols, line, strict=True):
            if out is not None:
                y[:, :, row.start::stride[0], col.start::stride[1]] = out
    return y


def _one_phase(x: torch.Tensor, weight: torch.Tensor, row: _Phase, col: _Phase,
               bias: torch.Tensor | None) -> torch.Tensor | None:
    """The stride-1 convolution of one (row, column) phase: (B, C_out, rows, cols)."""
    if row.count == 0 or col.count == 0:
        return None
    if row.taps.start == row.taps.stop or col.taps.start == col.taps.stop:  # no tap: the bias
        out = x.new_zeros(x.shape[0], weight.shape[1], row.count, col.count)
        return out if bias is None else out + bias.view(1, -1, 1, 1)
    # (C_in, C_out, taps) -> conv2d's (C_out, C_in, taps), reversed: a correlation
    kernel = weight[:, :, row.taps, col.taps].transpose(0, 1).flip(-2, -1)
    pads = (col.pad_before, col.pad_after, row.pad_before, row.pad_after)
    if pads[0] == pads[1] >= 0 and pads[2] == pads[3] >= 0:
        return F.conv2d(x, kernel, bias, padding=(pads[2], pads[0]))
    return F.conv2d(F.pad(x, pads), kernel, bias)


class PhaseConvTranspose2d(nn.ConvTranspose2d):
    """``nn.ConvTranspose2d`` (same parameters, state dict and initialisation) computed by
    ``phase_conv_transpose2d``: stride-1 convolutions, one per output phase.

    Falls back to the parent's kernel for what it does not cover: groups, dilation,
    an ``output_size`` argument, or an input without a batch dimension.
    """

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        if (self.groups != 1 or self.dilation != (1, 1) or output_size is not None
                or self.padding_mode != "zeros" or x.dim() != 4):
            return super().forward(x, output_size)
        return phase_conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                      self.output_padding)
