"""One GAN training step and its parts: losses on logits, eval-mode sampling, autocast.

A step is a function from (models, optimizers, batch) to a dict of tensors: no host
synchronisation, so the caller decides when to read the numbers.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from fashionlab.runtime.device import bf16_autocast

LOSSES = ("bce", "hinge")
# alternating: D is updated, then run again on the fakes for G's step (pytorch/examples);
# shared: both losses from one D pass, both updates from the same D (the TensorFlow tutorial)
STEP_ORDERS = ("alternating", "shared")


def d_loss(real: torch.Tensor, fake: torch.Tensor, kind: str) -> torch.Tensor:
    """Discriminator loss from logits on real and fake images."""
    if kind == "hinge":
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
    return (F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
            + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))


def g_loss(fake: torch.Tensor, kind: str) -> torch.Tensor:
    """Generator loss from the discriminator's logits on fakes (non-saturating for BCE)."""
    if kind == "hinge":
        return -fake.mean()
    return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))


def gan_step(
    generator: nn.Module, discriminator: nn.Module, opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer, real: torch.Tensor, labels: torch.Tensor | None,
    noise: torch.Tensor, loss: str, amp: Any, order: str = "alternating",
) -> dict[str, torch.Tensor]:
    """One D step and one G step in ``order`` (``STEP_ORDERS``); returns tensors (no host sync).

    alternating: D steps on real + detached fakes, then G steps against the updated D.
    shared: one D pass over real + fakes gives both losses, and both networks step from
    it, as the TensorFlow tutorial's two tapes do; it skips a D pass on the fakes.
    """
    if order == "shared":
        return _shared_step(generator, discriminator, opt_g, opt_d, real, labels, noise, loss,
                            amp)
    with amp():
        fake = generator(noise, labels)  # (B, 1, 28, 28)
        both_labels = None if labels is None else torch.cat([labels, labels])
        # one forward over real and fake together (also what DDP wants: one forward, one backward)
        logits = discriminator(torch.cat([real, fake.detach().to(real.dtype)]), both_labels)
    real_logits, fake_logits = logits.float().chunk(2)
    loss_d = d_loss(real_logits, fake_logits, loss)
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()

    with amp():
        gen_logits = discriminator(fake, labels).float()
    loss_g = g_loss(gen_logits, loss)
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()  # also fills D's gradients; the next D step clears them
    opt_g.step()
    return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(),
            "d_real": real_logits.detach().mean(), "d_fake": fake_logits.detach().mean()}


def _shared_step(
    generator: nn.Module, discriminator: nn.Module, opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer, real: torch.Tensor, labels: torch.Tensor | None,
    noise: torch.Tensor, loss: str, amp: Any,
) -> dict[str, torch.Tensor]:
    """Both losses from one D pass; G's gradient reaches the fakes before D's update."""
    with amp():
        fake = generator(noise, labels)
        # two D calls: one over both would also take G's gradient through the real half
        real_logits = discriminator(real, labels).float()
        fake_logits = discriminator(fake.to(real.dtype), labels).float()
    loss_d = d_loss(real_logits, fake_logits, loss)
    loss_g = g_loss(fake_logits, loss)
    # the gradient at the fakes only (no D parameter gradients, so DDP's hooks stay quiet)
    (grad_fake,) = torch.autograd.grad(loss_g, fake, retain_graph=True)
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward(inputs=list(discriminator.parameters()))
    opt_g.zero_grad(set_to_none=True)
    fake.backward(grad_fake)
    opt_d.step()
    opt_g.step()
    return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(),
            "d_real": real_logits.detach().mean(), "d_fake": fake_logits.detach().mean()}


@torch.no_grad()
def sample(generator: nn.Module, noise: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    """Images on [-1, 1] from ``generator`` in eval mode; its train/eval mode is restored."""
    was_training = generator.training
    generator.eval()
    try:
        return generator(noise, labels).float()
    finally:
        generator.train(was_training)


def make_amp(device: torch.device, precision: str):
    """A context factory: bf16 autocast or nothing."""
    use_bf16 = precision == "bf16" or (precision == "auto" and device.type == "cuda")
    return lambda: bf16_autocast(device, use_bf16)
