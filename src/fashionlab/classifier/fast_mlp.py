"""A fast path for the reference MLP: hand-written backward pass plus PyTorch's fused Adam.

The reference model (784 -> 128 ReLU -> 10, batch 32) is so small that autograd,
``nn.Module`` calls and the optimizer's Python bookkeeping cost more than the
arithmetic. ``FastMLPTrainer`` does the same computation with about a dozen tensor
calls per step:

    h = relu(x W1 + b1); z = h W2 + b2; loss = mean(cross_entropy(z, y))
    g = softmax(z) - onehot(y)              B * dL/dz (Adam divides by B)
    dW2 = h^T g; db2 = sum(g); dh = g W2^T * [h > 0]; dW1 = x^T dh; db1 = sum(dh)

with the weights written (in, out), the transpose of ``nn.Linear``'s layout, and each
bias stored as the last row of its weight matrix: with a column of ones beside ``x`` and
``h``, ``[x 1] [W1; b1]`` is the first layer and ``[x 1]^T dh`` is ``[dW1; db1]``, so
each layer is one matrix product forward and one backward. Then one call of the kernel
that ``torch.optim.Adam(fused=True)`` calls, with the same
hyper-parameters and bias correction. ``tests/test_classifier_fast_mlp.py`` checks that
the gradients equal autograd's and that the weights after several steps equal those of
``torch.optim.Adam``. With an ``EMA``, the weight average is kept in the same flat
layout and updated with the same rule as ``train.recipe.EMA`` (tested equal too).
"""

from __future__ import annotations

import torch

from fashionlab.classifier.models import MLP
from fashionlab.runtime.schedules import EMA


class FastMLPTrainer:
    """Trains an ``MLP`` with plain Adam (no weight decay, constant learning rate).

    The four parameters live in one flat buffer, and so do their gradients and Adam's
    two moments, so that the fused Adam kernel runs once per step over one tensor. The
    weights are kept transposed, (in, out) and contiguous, because ``x @ W`` with such
    a ``W`` is faster than ``x @ W.t()`` for these shapes on a CPU; Adam is elementwise,
    so the layout changes nothing else. Call ``sync()`` before reading the model (the
    trainer's epoch loop does, after every epoch).

    Parameters
    ----------
    model : MLP
        The reference network.
    lr, betas, eps : float
        Adam's hyper-parameters, as in ``torch.optim.Adam``.
    ema : EMA, optional
        A weight average of ``model``: ``ema.due`` gives each update's weight, the
        average is kept in the flat layout, and ``sync()`` writes it into ``ema.model``.
    """

    def __init__(
        self,
        model: MLP,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        ema: EMA | None = None,
    ):
        if not isinstance(model, MLP):
            raise TypeError("FastMLPTrainer trains the reference MLP only")
        self.model = model
        self.lr, self.betas, self.eps = lr, betas, eps
        layers = [model.hidden, model.head]
        self.shapes = []
        for layer in layers:
            self.shapes += [layer.weight.t().shape, layer.bias.shape]
        sizes = self._sizes = [shape.numel() for shape in self.shapes]
        flat = torch.cat([t.detach().flatten() for layer in layers
                          for t in (layer.weight.t().contiguous(), layer.bias)])
        self.flat = flat  # [W1 (784, hidden), b1, W2 (hidden, classes), b2]
        self.flat_grad = torch.zeros_like(flat)
        self.exp_avg, self.exp_avg_sq = torch.zeros_like(flat), torch.zeros_like(flat)
        self.params = self._views(flat, sizes)
        self.grads = self._views(self.flat_grad, sizes)
        self.step_count = torch.zeros((), dtype=torch.float32, device=flat.device)
        self._one = torch.ones((), dtype=torch.float32, device=flat.device)
        self._w2_t = self.params[2].t()
        hidden, classes = self.shapes[1][0], self.shapes[3][0]
        # [W1; b1] and [W2; b2]: each bias follows its (in, out) weight in the flat buffer.
        self._layers = [flat[: sizes[0] + sizes[1]].view(-1, hidden),
                        flat[sizes[0] + sizes[1]:].view(-1, classes)]
        self._layer_grads = [self.flat_grad[: sizes[0] + sizes[1]].view(-1, hidden),
                             self.flat_grad[sizes[0] + sizes[1]:].view(-1, classes)]
        self._per_batch: dict[int, _Buffers] = {}
        self._rows: torch.Tensor | None = None
        self._batch = 0
        self.steps = 0
        self.ema = ema
        self.average = flat.clone() if ema is not None else None

    def _views(self, flat: torch.Tensor, sizes: list[int]) -> list[torch.Tensor]:
        return [part.view(shape) for part, shape in zip(flat.split(sizes), self.shapes,
                                                        strict=True)]

    @torch.no_grad()
    def gradients(
        self, x: torch.Tensor, y: torch.Tensor, logits: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Forward and backward pass for images ``x`` (B, ...) and labels ``y`` (B,).

        Fills ``self.grads`` (weights transposed, like ``self.params``) with the gradients
        of the *summed* cross-entropy, B times those of the mean (``apply_adam`` divides
        them by B inside the fused kernel, as a gradient scaler would), and returns the
        logits (B, classes), written into ``logits`` when given.
        """
        buf = self._buffers(len(x))
        buf.x.copy_(x.flatten(1))  # beside the column of ones
        return self._gradients(buf.x_1, y, logits)

    def _gradients(
        self, x_1: torch.Tensor, y: torch.Tensor, logits: torch.Tensor | None
    ) -> torch.Tensor:
        """``gradients`` for inputs already laid out as ``[x 1]`` (B, inputs + 1)."""
        buf = self._buffers(len(x_1))
        self._batch = len(x_1)
        (w1b, w2b), (g_w1b, g_w2b) = self._layers, self._layer_grads
        torch.mm(x_1, w1b, out=buf.pre)  # x W1 + b1, (B, hidden)
        torch.clamp_min(buf.pre, 0, out=buf.h)  # h = relu, beside a column of ones
        z = torch.mm(buf.h_1, w2b, out=logits)  # h W2 + b2, (B, classes)
        g = torch.softmax(z, 1, out=buf.g)
        g.scatter_add_(1, y.view(-1, 1), buf.minus_ones)  # B * dL/dz
        torch.mm(buf.h_1.t(), g, out=g_w2b)  # [dW2; db2]
        dh = torch.ops.aten.threshold_backward(torch.mm(g, self._w2_t, out=buf.dh), buf.pre, 0)
        torch.mm(x_1.t(), dh, out=g_w1b)  # [dW1; db1]
        return z

    @torch.no_grad()
    def step(
        self, x: torch.Tensor, y: torch.Tensor, logits: torch.Tensor | None = None
    ) -> torch.Tensor:
        """One Adam step on the batch; returns its logits (computed before the update)."""
        return self._after_gradients(self.gradients(x, y, logits))

    @torch.no_grad()
    def step_rows(
        self, x_1: torch.Tensor, y: torch.Tensor, logits: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``step`` for a batch of rows of an ``input_rows`` buffer (images beside ones)."""
        return self._after_gradients(self._gradients(x_1, y, logits))

    def _after_gradients(self, z: torch.Tensor) -> torch.Tensor:
        self.apply_adam()
        self.steps += 1
        if self.ema is not None:
            rate = self.ema.due(self.steps - 1)
            if rate is not None:
                self.average.lerp_(self.flat, rate)
        return z

    @torch.no_grad()
    def apply_adam(self) -> None:
        """Update the weights from the last ``gradients`` with torch's fused Adam kernel."""
        self.step_count.add_(self._one)
        torch._fused_adam_(
            [self.flat], [self.flat_grad], [self.exp_avg], [self.exp_avg_sq], [],
            [self.step_count], lr=self.lr, beta1=self.betas[0], beta2=self.betas[1],
            weight_decay=0.0, eps=self.eps, amsgrad=False, maximize=False,
            grad_scale=self._per_batch[self._batch].size,
        )

    @torch.no_grad()
    def sync(self) -> None:
        """Copy the trained parameters into the model (weights back to (out, in)), and the
        weight average into ``ema.model``."""
        self._copy_into(self.model, self.params)
        if self.ema is not None:
            self._copy_into(self.ema.model, self._views(self.average, self._sizes))

    def state_dict(self) -> dict[str, torch.Tensor | int]:
        """Weights, Adam's moments and step, and the weight average: what a checkpoint needs
        to continue exactly."""
        state = {"flat": self.flat, "exp_avg": self.exp_avg, "exp_avg_sq": self.exp_avg_sq,
                 "step_count": self.step_count, "steps": self.steps}
        if self.average is not None:
            state["average"] = self.average
        return {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in state.items()}

    @torch.no_grad()
    def load_state_dict(self, state: dict[str, torch.Tensor | int]) -> None:
        """Undo ``state_dict`` (in place: the views into the weights stay valid) and
        ``sync`` the model."""
        for name in ("flat", "exp_avg", "exp_avg_sq", "step_count"):
            getattr(self, name).copy_(state[name])
        if self.average is not None:
            self.average.copy_(state["average"])
        self.steps = int(state["steps"])
        self.sync()

    @staticmethod
    def _copy_into(model: MLP, params: list[torch.Tensor]) -> None:
        w1, b1, w2, b2 = params
        for layer, weight, bias in ((model.hidden, w1, b1), (model.head, w2, b2)):
            layer.weight.copy_(weight.t())
            layer.bias.copy_(bias)

    def input_rows(self, rows: int) -> torch.Tensor:
        """A reusable (rows, 785) buffer ``[x 1]``: gather many batches' images into its
        first 784 columns with one call, then pass row slices to ``step_rows``."""
        if self._rows is None or len(self._rows) < rows:
            self._rows = torch.ones(rows, self.shapes[0][0] + 1, dtype=self.flat.dtype,
                                    device=self.flat.device)
        return self._rows[:rows]

    def _buffers(self, batch: int) -> _Buffers:
        if batch not in self._per_batch:
            self._per_batch[batch] = _Buffers(batch, *self.shapes[0], self.shapes[3][0],
                                              self.flat)
        return self._per_batch[batch]


class _Buffers:
    """Tensors reused by every step of one batch size (allocation and views cost more
    than the arithmetic at batch 32)."""

    def __init__(self, batch: int, inputs: int, hidden: int, classes: int,
                 like: torch.Tensor):
        def new(*shape: int) -> torch.Tensor:
            return torch.empty(shape, dtype=like.dtype, device=like.device)

        self.x_1, self.h_1 = new(batch, inputs + 1), new(batch, hidden + 1)  # [x 1], [h 1]
        self.x_1[:, -1] = 1
        self.h_1[:, -1] = 1
        self.x, self.h = self.x_1[:, :-1], self.h_1[:, :-1]  # views, written in place
        self.pre, self.dh, self.g = new(batch, hidden), new(batch, hidden), new(batch, classes)
        self.minus_ones = torch.full((batch, 1), -1.0, dtype=like.dtype, device=like.device)
        self.size = torch.tensor(float(batch), dtype=like.dtype, device=like.device)
