"""A fast path for the reference MLP: hand-written backward pass plus PyTorch's fused Adam.

The reference model (784 -> 128 ReLU -> 10, batch 32) is so small that autograd,
``nn.Module`` calls and the optimizer's Python bookkeeping cost more than the
arithmetic. ``FastMLPTrainer`` does the same computation with about fifteen tensor
calls per step:

    h = relu(x W1^T + b1); z = h W2^T + b2; loss = mean(cross_entropy(z, y))
    g = (softmax(z) - onehot(y)) / B        dL/dz
    dW2 = g^T h; db2 = sum(g); dh = g W2 * [h > 0]; dW1 = dh^T x; db1 = sum(dh)

(the 1/B is folded into the gradient products; W1 is kept transposed, see below)

and then calls the kernel that ``torch.optim.Adam(fused=True)`` calls, with the same
hyper-parameters and bias correction. ``tests/test_classifier_fast_mlp.py`` checks that
the gradients equal autograd's and that the weights after several steps equal those of
``torch.optim.Adam``.
"""

from __future__ import annotations

import torch

from fashionlab.models.classifiers import MLP


class FastMLPTrainer:
    """Trains an ``MLP`` with plain Adam (no weight decay, constant learning rate).

    The trainer keeps the first layer's weight transposed, (784, hidden) and contiguous,
    because ``x @ W1t`` is much faster than ``x @ W1.t()`` for these shapes on a CPU;
    Adam is elementwise, so the layout changes nothing else. The other tensors are the
    model's own. Call ``sync()`` before reading the model (the trainer's epoch loop does,
    after every epoch).

    Parameters
    ----------
    model : MLP
        The reference network.
    lr, betas, eps : float
        Adam's hyper-parameters, as in ``torch.optim.Adam``.
    """

    def __init__(
        self,
        model: MLP,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ):
        if not isinstance(model, MLP):
            raise TypeError("FastMLPTrainer trains the reference MLP only")
        self.model = model
        self.lr, self.betas, self.eps = lr, betas, eps
        w1t = model.hidden.weight.detach().t().contiguous()  # (784, hidden)
        self.params = [w1t, model.hidden.bias.data, model.head.weight.data, model.head.bias.data]
        self.grads = [torch.zeros_like(p) for p in self.params]
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]
        # One step counter shared by the four tensors (torch.optim keeps one each, all equal).
        self.step_count = torch.zeros((), dtype=torch.float32, device=w1t.device)
        self._minus_one: dict[int, torch.Tensor] = {}

    @torch.no_grad()
    def gradients(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Forward and backward pass for images ``x`` (B, ...) and labels ``y`` (B,).

        Fills ``self.grads`` (the first one transposed, like its weight) with the
        gradients of the mean cross-entropy and returns the logits (B, classes).
        """
        w1t, b1, w2, b2 = self.params
        g_w1t, g_b1, g_w2, g_b2 = self.grads
        x = x.flatten(1)  # (B, 784)
        scale = 1.0 / len(x)  # the loss is the batch mean
        h = torch.addmm(b1, x, w1t).relu_()  # (B, hidden)
        z = torch.addmm(b2, h, w2.t())  # (B, classes)
        g = torch.softmax(z, 1)  # (B, classes)
        g.scatter_add_(1, y.view(-1, 1), self._minus_ones(len(x), g))  # B * dL/dz
        torch.addmm(g_w2, g.t(), h, beta=0, alpha=scale, out=g_w2)
        torch.mean(g, 0, out=g_b2)
        dh = torch.ops.aten.threshold_backward(torch.mm(g, w2), h, 0)  # B * dL/dh
        torch.addmm(g_w1t, x.t(), dh, beta=0, alpha=scale, out=g_w1t)
        torch.mean(dh, 0, out=g_b1)
        return z

    @torch.no_grad()
    def step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """One Adam step on the batch; returns its logits (computed before the update)."""
        z = self.gradients(x, y)
        self.apply_adam()
        return z

    @torch.no_grad()
    def apply_adam(self) -> None:
        """Update the weights from ``self.grads`` with torch's fused Adam kernel."""
        self.step_count += 1
        steps = [self.step_count] * len(self.params)
        torch._fused_adam_(
            self.params, self.grads, self.exp_avg, self.exp_avg_sq, [], steps,
            lr=self.lr, beta1=self.betas[0], beta2=self.betas[1], weight_decay=0.0,
            eps=self.eps, amsgrad=False, maximize=False,
        )

    @torch.no_grad()
    def sync(self) -> None:
        """Copy the trained first-layer weight into the model."""
        self.model.hidden.weight.copy_(self.params[0].t())

    def _minus_ones(self, batch: int, like: torch.Tensor) -> torch.Tensor:
        if batch not in self._minus_one:
            self._minus_one[batch] = torch.full((batch, 1), -1.0, dtype=like.dtype,
                                                device=like.device)
        return self._minus_one[batch]
