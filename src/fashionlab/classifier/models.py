"""Fashion-MNIST classifiers.

Every classifier takes normalised images (B, 1, 28, 28) and returns logits (B, 10);
``features(x)`` returns the penultimate activations (B, feature_dim), which the
GAN metrics use as their feature space.

- ``mlp``: the reference dense network of the Keras tutorial.
- ``cnn``: a small fast CNN (conv-BN-ReLU, two poolings), designed for a CPU budget.
- ``resnet``: a pre-activation wide-ResNet-style network (basic blocks, three stages).
"""

from __future__ import annotations

import operator
from collections.abc import Sequence

import torch
from torch import nn

from fashionlab.runtime.registry import register


def stage_sizes(name: str, values: Sequence[int], count: int = 3) -> list[int]:
    """``values`` as ``count`` positive whole numbers; anything else is a TypeError naming
    ``name`` (the registry turns it into a user error)."""
    try:
        sizes = [operator.index(v) for v in values]
    except TypeError:
        sizes = []
    if len(sizes) != count or min(sizes) < 1:
        raise TypeError(f"{name} must list {count} positive whole numbers, got {values!r}")
    return sizes


class MLP(nn.Module):
    """The reference dense network: Flatten -> Dense(hidden, ReLU) -> Dense(classes)."""

    def __init__(
        self, hidden: int = 128, num_classes: int = 10, in_pixels: int = 28 * 28,
        init: str = "torch",
    ):
        super().__init__()
        self.feature_dim = hidden
        self.hidden = nn.Linear(in_pixels, hidden)
        self.head = nn.Linear(hidden, num_classes)
        if init == "keras":  # Keras' Dense defaults: Glorot-uniform weights, zero biases
            for layer in (self.hidden, self.head):
                nn.init.xavier_uniform_(layer.weight)
                nn.init.zeros_(layer.bias)
        elif init != "torch":
            raise TypeError(f"init must be 'torch' or 'keras', got {init!r}")

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.hidden(x.flatten(1)))  # (B, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))  # (B, classes)


def conv_bn_relu(c_in: int, c_out: int, pool: bool = False) -> nn.Sequential:
    """3x3 convolution (no bias: BatchNorm follows) -> [2x2 max pool] -> BatchNorm -> ReLU."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        *([nn.MaxPool2d(2)] if pool else []),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class FastCNN(nn.Module):
    """A small CNN: most of its work runs at 14x14 and 7x7 so that a CPU epoch takes seconds.

    28x28 -> conv(w0) -> pool -> 14x14 conv(w1) x2 -> pool -> 7x7 conv(w2) x2 -> global
    average -> dropout -> linear.

    ``pool_first`` pools each pooled layer's convolution output before its BatchNorm and
    ReLU (as in Keller Jordan's airbench), so those two run on a quarter of the pixels.
    On a CPU they are memory-bound and cost as much as the convolutions.

    ``head_grid`` is the side of the grid the last 7x7 maps are averaged to before the
    linear layer: 1 is the global average; 3 (3x3 cells) or 7 (every position) keep where
    a feature is, which separates shirts from T-shirts and coats for little extra work.
    """

    def __init__(
        self, widths: Sequence[int] = (32, 64, 128), num_classes: int = 10, dropout: float = 0.0,
        pool_first: bool = False, head_grid: int = 1,
    ):
        super().__init__()
        if not isinstance(pool_first, bool):
            raise TypeError(f"pool_first must be true or false, got {pool_first!r}")
        w0, w1, w2 = stage_sizes("widths", widths)
        if not isinstance(head_grid, int) or isinstance(head_grid, bool) \
                or not 1 <= head_grid <= 7:
            raise TypeError(f"head_grid must be a whole number from 1 to 7, got {head_grid!r}")
        self.head_grid = head_grid
        self.feature_dim = w2 * head_grid * head_grid

        def pooled(c_in: int, c_out: int) -> list[nn.Module]:
            if pool_first:
                return [conv_bn_relu(c_in, c_out, pool=True)]
            return [conv_bn_relu(c_in, c_out), nn.MaxPool2d(2)]

        self.body = nn.Sequential(
            *pooled(1, w0),  # (B, w0, 14, 14)
            conv_bn_relu(w0, w1),
            *pooled(w1, w1),  # (B, w1, 7, 7)
            conv_bn_relu(w1, w2),
            conv_bn_relu(w2, w2),  # (B, w2, 7, 7)
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.feature_dim, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        maps = self.body(x)  # (B, w2, 7, 7)
        if self.head_grid == 1:
            return maps.mean((2, 3))  # (B, w2)
        return nn.functional.adaptive_avg_pool2d(maps, self.head_grid).flatten(1)  # (B, w2*g*g)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(x)))  # (B, classes)


class PreActBlock(nn.Module):
    """Pre-activation basic block (BN-ReLU-conv x2) with a 1x1 projection when the shape changes."""

    def __init__(self, c_in: int, c_out: int, stride: int, dropout: float):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.shortcut = (
            nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False)
            if stride != 1 or c_in != c_out
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(x))
        skip = x if self.shortcut is None else self.shortcut(out)
        out = self.conv1(out)
        out = self.conv2(self.dropout(torch.relu(self.bn2(out))))
        return out + skip


class ResNet(nn.Module):
    """A wide-ResNet-style classifier: stem conv, three stages at 28, 14 and 7 pixels.

    ``widths`` are the channels of the three stages and ``blocks`` the basic blocks in
    each; WRN-16-4 (Zagoruyko & Komodakis) is ``widths=(64, 128, 256), blocks=(2, 2, 2)``.
    """

    def __init__(
        self,
        widths: Sequence[int] = (32, 64, 128),
        blocks: Sequence[int] = (2, 2, 2),
        stem: int = 16,
        num_classes: int = 10,
        dropout: float = 0.0,
    ):
        super().__init__()
        widths, blocks = stage_sizes("widths", widths), stage_sizes("blocks", blocks)
        self.feature_dim = widths[-1]
        self.stem = nn.Conv2d(1, stem, 3, padding=1, bias=False)  # (B, stem, 28, 28)
        layers: list[nn.Module] = []
        c_in = stem
        for stage, (width, count) in enumerate(zip(widths, blocks, strict=True)):
            for i in range(count):
                stride = 2 if stage > 0 and i == 0 else 1
                layers.append(PreActBlock(c_in, width, stride, dropout))
                c_in = width
        self.stages = nn.Sequential(*layers)  # (B, widths[-1], 7, 7)
        self.bn = nn.BatchNorm2d(c_in)
        self.head = nn.Linear(c_in, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn(self.stages(self.stem(x))))  # (B, C, 7, 7)
        return out.mean((2, 3))  # (B, C)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))  # (B, classes)


# The registered builders take what a user may set with --model-arg; the number of classes
# is Fashion-MNIST's 10 (the modules' default), not an option.


@register("mlp", "classifier", "the reference dense network 784-128-10 (Keras tutorial)")
def mlp(hidden: int = 128, init: str = "torch") -> MLP:
    return MLP(hidden=hidden, init=init)


@register("cnn", "classifier", "small fast CNN: 5 conv-BN-ReLU layers, most work at 14/7 px")
def cnn(
    widths: Sequence[int] = (32, 64, 128), dropout: float = 0.0, pool_first: bool = False,
    head_grid: int = 1,
) -> FastCNN:
    return FastCNN(widths=widths, dropout=dropout, pool_first=pool_first, head_grid=head_grid)


@register("resnet", "classifier", "pre-activation wide-ResNet style, 3 stages of basic blocks")
def resnet(
    widths: Sequence[int] = (32, 64, 128),
    blocks: Sequence[int] = (2, 2, 2),
    stem: int = 16,
    dropout: float = 0.0,
) -> ResNet:
    return ResNet(widths=widths, blocks=blocks, stem=stem, dropout=dropout)


@register("wrn", "classifier", "WRN-16-4 (wide ResNet, widths 64/128/256): the long-run model")
def wrn(
    widths: Sequence[int] = (64, 128, 256),
    blocks: Sequence[int] = (2, 2, 2),
    dropout: float = 0.0,
) -> ResNet:
    return ResNet(widths=widths, blocks=blocks, stem=16, dropout=dropout)
