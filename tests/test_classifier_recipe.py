"""Recipe pieces: batch augmentation, schedules, EMA, and the config's errors."""

from __future__ import annotations

import pytest
import torch

from fashionlab.classifier.augment import Augment, random_crop, random_erasing, random_flip
from fashionlab.classifier.train import ClassifierConfig
from fashionlab.errors import FashionlabError
from fashionlab.runtime.schedules import EMA, lr_factor


def images(n: int = 16) -> torch.Tensor:
    return torch.randn(n, 1, 28, 28, generator=torch.Generator().manual_seed(0))


def test_random_crop_cuts_a_shifted_window_of_the_padded_image():
    x = images()
    before = x.clone()
    out = random_crop(x, 3, torch.Generator().manual_seed(1), fill=-9.0)
    assert torch.equal(x, before) and out.shape == x.shape
    padded = torch.nn.functional.pad(x, (3, 3, 3, 3), value=-9.0)
    shifts = set()
    for i in range(len(x)):
        found = [(dy, dx) for dy in range(7) for dx in range(7)
                 if torch.equal(out[i], padded[i, :, dy : dy + 28, dx : dx + 28])]
        assert found, f"image {i} is not a window of its padded image"
        shifts.add(found[0])
    assert len(shifts) > 3  # each image gets its own shift
    assert torch.equal(random_crop(x, 0, torch.Generator()), x)


def test_random_flip_mirrors_some_images_and_keeps_the_others():
    x = images(64)
    out = random_flip(x, torch.Generator().manual_seed(0))
    same = [torch.equal(a, b) for a, b in zip(out, x, strict=True)]
    mirrored = [torch.equal(a, b.flip(2)) for a, b in zip(out, x, strict=True)]
    assert all(s or m for s, m in zip(same, mirrored, strict=True))
    assert 10 < sum(mirrored) < 54


def test_random_erasing_blanks_one_rectangle_per_chosen_image():
    x = images(64)
    out = random_erasing(x, torch.Generator().manual_seed(0), p=0.5, fill=5.0)
    erased = 0
    for a, b in zip(out, x, strict=True):
        changed = (a != b)[0]
        if not changed.any():
            continue
        erased += 1
        rows, cols = changed.any(1).nonzero().flatten(), changed.any(0).nonzero().flatten()
        box = a[0, rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
        assert (box == 5.0).all()  # one solid rectangle
        assert changed.sum() <= 0.25 * 28 * 28 + 28  # at most the largest area (+rounding)
    assert 15 < erased < 50
    assert torch.equal(random_erasing(x, torch.Generator(), p=0.0), x)


def test_augment_pipeline_is_seeded_and_inactive_by_default():
    x = images()
    assert not Augment().active
    pipeline = Augment(crop_padding=2, flip=True, erasing=0.5)
    first = pipeline(x, torch.Generator().manual_seed(3))
    again = pipeline(x, torch.Generator().manual_seed(3))
    assert torch.equal(first, again) and not torch.equal(first, x)


def test_schedules_warm_up_peak_and_decay():
    total, warmup = 100, 10
    onecycle = [lr_factor("onecycle", s, total, warmup) for s in range(total)]
    assert onecycle[0] == pytest.approx(0.19) and max(onecycle) == pytest.approx(1.0)
    assert onecycle[warmup - 1] == pytest.approx(1.0) and onecycle[-1] < 0.02
    cosine = [lr_factor("cosine", s, total, 0) for s in range(total)]
    assert cosine[0] == 1.0 and all(a >= b for a, b in zip(cosine, cosine[1:], strict=False))
    assert lr_factor("constant", 50, total, warmup) == 1.0


def test_ema_averages_weights_and_copies_buffers():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    ema = EMA(model, decay=0.5, every=1)
    start = model[0].weight.detach().clone()
    with torch.no_grad():
        model[0].weight.add_(1.0)
        model[1].running_mean.fill_(3.0)
    ema.update(0)  # first update: decay min(0.5, 2/11)
    expected = start + (1 - 2 / 11) * 1.0
    torch.testing.assert_close(ema.model[0].weight, expected)
    assert torch.equal(ema.model[1].running_mean, model[1].running_mean)
    assert not ema.model[0].weight.requires_grad


@pytest.mark.parametrize(("options", "message"), [
    ({"model": "mlp", "model_args": {"widths": [8, 8, 8]}}, "'mlp' has no option"),
    ({"model": "cnn", "fast_mlp": "on"}, "--fast-mlp on does not apply"),
    ({"model": "mlp", "fast_mlp": "on", "flip": True}, "flip=True"),
    ({"optimizer": "rmsprop"}, "unknown optimizer 'rmsprop'"),
    ({"schedule": "step"}, "unknown schedule"),
    ({"erasing": 1.5}, "erasing must be in"),
    ({"label_smoothing": -0.1}, "label_smoothing must be in"),
    ({"crop_padding": -1}, "cannot be negative"),
    ({"model": "vgg"}, "choose one of: "),
    ({"optimizer": "adam", "momentum": 0.5}, "momentum applies only to --optimizer sgd"),
    ({"budget_clock": "cpu"}, "budget_clock applies only with a time budget"),
])
def test_config_errors_say_what_to_change(options, message):
    with pytest.raises(FashionlabError, match=message):
        ClassifierConfig(**options).validate()


def test_the_reference_config_is_valid():
    ClassifierConfig().validate()
    ClassifierConfig(model="cnn", crop_padding=2, flip=True, erasing=0.5, ema_decay=0.999,
                     schedule="onecycle", optimizer="sgd", tta_flip=True).validate()
