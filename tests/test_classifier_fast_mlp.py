"""The hand-written MLP step computes what autograd and torch.optim.Adam compute."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from fashionlab.classifier.fast_mlp import FastMLPTrainer
from fashionlab.classifier.models import MLP, FastCNN
from fashionlab.runtime.schedules import EMA


def batch(seed: int, n: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g)


def autograd_grads(model: MLP) -> list[torch.Tensor]:
    """Autograd's gradients in the trainer's layout (weights transposed)."""
    return [p.grad.t() if p.ndim == 2 else p.grad.clone() for p in model.parameters()]


def mean_grads(trainer: FastMLPTrainer, batch_size: int) -> list[torch.Tensor]:
    """The trainer's gradients of the summed loss, divided back to the batch mean's."""
    return [g / batch_size for g in trainer.grads]


def test_gradients_equal_autograd():
    torch.manual_seed(0)
    model = MLP()
    x, y = batch(1)
    loss = F.cross_entropy(model(x), y)
    loss.backward()

    trainer = FastMLPTrainer(model)
    logits = trainer.gradients(x, y)
    for got, want in zip(mean_grads(trainer, 32), autograd_grads(model), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(logits, model(x).detach())
    torch.testing.assert_close(F.cross_entropy(logits, y), loss.detach())


def test_gradients_of_a_short_last_batch_equal_autograd():
    torch.manual_seed(1)
    model = MLP()
    x, y = batch(2, n=7)
    F.cross_entropy(model(x), y).backward()
    trainer = FastMLPTrainer(model)
    trainer.gradients(x, y)
    for got, want in zip(mean_grads(trainer, 7), autograd_grads(model), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)


def test_adam_updates_equal_torch_optim_adam_given_the_same_gradients():
    # Multi-step trajectories of Adam amplify float rounding where gradients are ~0,
    # so the optimizer is compared on identical gradients, the backward pass above.
    torch.manual_seed(0)
    reference, fast = MLP(), MLP()
    fast.load_state_dict(reference.state_dict())
    optimizer = torch.optim.Adam(reference.parameters(), lr=1e-3, foreach=False)
    trainer = FastMLPTrainer(fast, lr=1e-3)
    for step in range(6):
        x, y = batch(10 + step)
        trainer.gradients(x, y)
        grads = [g.t() if g.ndim == 2 else g for g in mean_grads(trainer, 32)]
        for p, g in zip(reference.parameters(), grads, strict=True):
            p.grad = g.clone()
        optimizer.step()
        trainer.apply_adam()
    trainer.sync()
    for name, want in reference.state_dict().items():
        torch.testing.assert_close(fast.state_dict()[name], want, rtol=1e-6, atol=1e-7)
    assert not torch.equal(fast.hidden.weight, MLP().hidden.weight)


def test_training_steps_track_autograd_and_adam():
    torch.manual_seed(0)
    reference, fast = MLP(), MLP()
    fast.load_state_dict(reference.state_dict())
    optimizer = torch.optim.Adam(reference.parameters(), lr=1e-3)
    trainer = FastMLPTrainer(fast, lr=1e-3)
    for step in range(20):
        x, y = batch(100 + step)
        optimizer.zero_grad()
        loss = F.cross_entropy(reference(x), y)
        loss.backward()
        optimizer.step()
        logits = trainer.step(x, y)
        torch.testing.assert_close(F.cross_entropy(logits, y), loss.detach(), rtol=1e-3,
                                   atol=1e-4)
    trainer.sync()
    x, y = batch(999, n=256)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), reference(x), rtol=1e-2, atol=1e-2)


def test_the_weight_average_follows_recipe_ema_over_the_same_weights():
    # The reference EMA watches a model into which the trainer syncs after every step.
    torch.manual_seed(0)
    fast, watched = MLP(), MLP()
    watched.load_state_dict(fast.state_dict())
    trainer = FastMLPTrainer(fast, lr=1e-2, ema=EMA(fast, decay=0.9, every=3))
    reference = EMA(watched, decay=0.9, every=3)
    for step in range(10):
        trainer.step(*batch(200 + step))
        trainer.sync()
        watched.load_state_dict(fast.state_dict())
        reference.update(step)
    assert trainer.ema.updates == reference.updates == 3
    for name, want in reference.model.state_dict().items():
        torch.testing.assert_close(trainer.ema.model.state_dict()[name], want)
    assert not torch.allclose(trainer.ema.model.hidden.weight, fast.hidden.weight)


def test_only_the_mlp_is_accepted():
    with pytest.raises(TypeError):
        FastMLPTrainer(FastCNN())


@pytest.mark.parametrize("batches_per_gather", [2, 3, 50])
def test_an_epoch_gathered_many_batches_at_a_time_trains_the_same_batches(batches_per_gather):
    from fashionlab.classifier.loop import fast_mlp_epoch

    images, labels = batch(7, n=100)  # 100 images: batches of 32, 32, 32 and 4
    order = torch.randperm(100, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(0)
    models = [MLP(), MLP()]
    models[1].load_state_dict(models[0].state_dict())
    trainers = [FastMLPTrainer(model) for model in models]
    rows = [fast_mlp_epoch(trainer, images, labels, order, 32, "", every)
            for trainer, every in zip(trainers, [1, batches_per_gather], strict=True)]
    assert trainers[0].steps == trainers[1].steps == 4
    assert rows[0] == pytest.approx(rows[1], rel=1e-5)
    for one_at_a_time, gathered in zip(*(m.parameters() for m in models), strict=True):
        torch.testing.assert_close(gathered, one_at_a_time, rtol=1e-5, atol=1e-6)
