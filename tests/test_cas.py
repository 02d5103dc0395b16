"""CAS options on tiny synthetic data: a fresh draw of generated images each epoch, and
the classifier trainer's augmentation (crops, flips)."""

from __future__ import annotations

import pytest
import torch

from conftest import synthetic_fashion
from fashionlab.errors import FashionlabError
from fashionlab.metrics.cas import CASConfig, classification_accuracy_score, train_on_images

pytestmark = pytest.mark.usefixtures("one_thread")


class RecordingSampler:
    """Well-labelled synthetic images, a new seeded draw for each epoch; records its calls."""

    def __init__(self):
        self.calls: list[tuple[int, int]] = []

    def __call__(self, n: int, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        self.calls.append((n, epoch))
        data = synthetic_fashion(n_train=n, n_test=1, seed=100 + epoch)
        return data.train_images, data.train_labels


def test_fresh_draws_are_what_later_epochs_train_on():
    data = synthetic_fashion(n_train=400, n_test=200, seed=1)
    wrong = data.train_labels[torch.randperm(400, generator=torch.Generator().manual_seed(0))]
    config = CASConfig(model="mlp", epochs=4, batch_size=32, device="cpu")
    fixed = classification_accuracy_score(data.train_images, wrong, data.test_images,
                                          data.test_labels, config)
    sampler = RecordingSampler()
    fresh_config = CASConfig(model="mlp", epochs=4, batch_size=32, device="cpu",
                             fresh_each_epoch=True)
    fresh = classification_accuracy_score(data.train_images, wrong, data.test_images,
                                          data.test_labels, fresh_config, sampler=sampler)
    # Epoch 1 is the given (wrongly labelled) set; epochs 2-4 are the sampler's good draws.
    assert sampler.calls == [(400, 2), (400, 3), (400, 4)]
    assert fixed["cas"] < 0.4 < 0.9 < fresh["cas"]
    assert fresh["train_samples"] == 400 and fresh["distinct_train_samples"] == 1600
    assert fixed["distinct_train_samples"] == 400
    assert fresh["classifier"]["fresh_each_epoch"] is True


def test_a_sampler_is_ignored_without_fresh_each_epoch():
    data = synthetic_fashion(n_train=100, n_test=50, seed=2)
    sampler = RecordingSampler()
    config = CASConfig(model="mlp", epochs=2, batch_size=32, device="cpu")
    classification_accuracy_score(data.train_images, data.train_labels, data.test_images,
                                  data.test_labels, config, sampler=sampler)
    assert sampler.calls == []


def test_fresh_each_epoch_without_a_sampler_is_a_clear_error():
    data = synthetic_fashion(n_train=20, n_test=20)
    config = CASConfig(model="mlp", epochs=2, device="cpu", fresh_each_epoch=True)
    with pytest.raises(FashionlabError, match="needs a sampler of generated images"):
        classification_accuracy_score(data.train_images, data.train_labels, data.test_images,
                                      data.test_labels, config)


@pytest.mark.parametrize("count, label, match", [
    (19, 0, "returned 19 images, asked for 20"),
    (20, 10, "labelled 0..9"),
])
def test_a_sampler_that_draws_the_wrong_images_is_a_clear_error(count, label, match):
    data = synthetic_fashion(n_train=20, n_test=20)
    config = CASConfig(model="mlp", epochs=2, device="cpu", fresh_each_epoch=True)

    def sampler(n, epoch):
        return synthetic_fashion(n_train=count, n_test=1).train_images, torch.full((count,), label)

    with pytest.raises(FashionlabError, match=match):
        classification_accuracy_score(data.train_images, data.train_labels, data.test_images,
                                      data.test_labels, config, sampler=sampler)


def _weights(config: CASConfig, sampler=None) -> torch.Tensor:
    data = synthetic_fashion(n_train=128, n_test=1, seed=3)
    model = train_on_images(data.train_images, data.train_labels, config, torch.device("cpu"),
                            sampler)
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_augmentation_changes_training_and_every_option_is_reproducible():
    plain = CASConfig(model="mlp", epochs=2, batch_size=32, device="cpu")
    augmented = CASConfig(model="mlp", epochs=2, batch_size=32, device="cpu", crop_padding=2,
                          flip=True)
    assert augmented.trainer_config().crop_padding == 2 and augmented.trainer_config().flip
    assert torch.equal(_weights(plain), _weights(plain))
    assert torch.equal(_weights(augmented), _weights(augmented))
    assert not torch.equal(_weights(plain), _weights(augmented))
    fresh = CASConfig(model="mlp", epochs=2, batch_size=32, device="cpu", fresh_each_epoch=True)
    assert torch.equal(_weights(fresh, RecordingSampler()), _weights(fresh, RecordingSampler()))
    assert not torch.equal(_weights(fresh, RecordingSampler()), _weights(plain))


def test_negative_crop_padding_is_a_clear_error():
    data = synthetic_fashion(n_train=20, n_test=20)
    with pytest.raises(FashionlabError, match="cannot be negative"):
        classification_accuracy_score(data.train_images, data.train_labels, data.test_images,
                                      data.test_labels,
                                      CASConfig(model="mlp", device="cpu", crop_padding=-1))
