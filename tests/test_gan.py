"""GAN models and trainer on tiny synthetic data: architecture, step, run folder, exact resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from conftest import synthetic_fashion
from fashionlab.errors import FashionlabError
from fashionlab.gan.step import gan_step, make_amp, sample
from fashionlab.gan.train import GanConfig, train_gan
from fashionlab.models import create_model, model_names
from fashionlab.runtime import checkpoints
from fashionlab.runtime.runs import read_metrics

SMALL = {"g_width": 16, "d_width": 8}  # lite/cgan shrunk: same code paths, a fraction of the work


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data():
    return synthetic_fashion(n_train=96, n_test=32)


def tiny(out: Path, **overrides) -> GanConfig:
    settings = dict(epochs=2, batch_size=32, samples=2, device="cpu", out=str(out))
    if overrides.get("model", "lite") != "dcgan":
        settings["model_args"] = dict(SMALL)
    settings.update(overrides)
    return GanConfig(**settings)


def without_seconds(rows):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


# --------------------------------------------------------------------------- models


@pytest.mark.parametrize("name", model_names("gan"))
def test_every_gan_maps_noise_to_images_and_images_to_logits(name):
    generator, discriminator = create_model(name, "gan")
    z = torch.randn(5, generator.noise_dim)
    labels = torch.arange(5) if generator.num_classes else None
    images = generator(z, labels)
    assert images.shape == (5, 1, 28, 28)
    assert images.min() >= -1 and images.max() <= 1  # tanh output, the data's range
    logits = discriminator(images, labels)
    assert logits.shape == (5,) and torch.isfinite(logits).all()


def test_dcgan_is_the_tutorial_architecture():
    generator, discriminator = create_model("dcgan", "gan")
    assert generator.noise_dim == 100
    # Dense(no bias) + BN, ConvT 256->128, 128->64, 64->1 (5x5, no bias) with BN between
    g_params = 100 * 12544 + 2 * 12544 + 256 * 128 * 25 + 2 * 128 + 128 * 64 * 25 + 2 * 64 + 64 * 25
    assert sum(p.numel() for p in generator.parameters()) == g_params
    # Conv 1->64 and 64->128 (5x5, bias), Dense(6272 -> 1)
    d_params = 25 * 64 + 64 + 64 * 128 * 25 + 128 + 128 * 7 * 7 + 1
    assert sum(p.numel() for p in discriminator.parameters()) == d_params
    shapes = []
    x = generator.project(torch.randn(2, 100)).view(-1, 256, 7, 7)
    for layer in generator.up:
        x = layer(x)
        if isinstance(layer, torch.nn.ConvTranspose2d):
            shapes.append(tuple(x.shape[1:]))
    assert shapes == [(128, 7, 7), (64, 14, 14), (1, 28, 28)]
    dropouts = [m.p for m in discriminator.modules() if isinstance(m, torch.nn.Dropout)]
    assert dropouts == [0.3, 0.3]
    leaky, _ = create_model("dcgan", "gan", leaky=True)
    assert any(isinstance(m, torch.nn.LeakyReLU) for m in leaky.modules())


def test_dcgan_starts_from_the_keras_initialisation():
    torch.manual_seed(0)
    keras, _ = create_model("dcgan", "gan")
    torch_default, _ = create_model("dcgan", "gan", init="torch")
    last = keras.up[-2].weight  # ConvTranspose 64 -> 1: Glorot bound sqrt(6 / (25 * 65))
    assert last.abs().max() <= (6 / (25 * 65)) ** 0.5
    assert torch_default.up[-2].weight.abs().max() > 3 * last.abs().max()
    with torch.no_grad():
        images = keras.eval()(torch.randn(64, 100))
    assert (images.abs() > 0.99).float().mean() < 0.01  # tanh not saturated at the start
    with pytest.raises(FashionlabError, match="init must be 'keras' or 'torch'"):
        create_model("dcgan", "gan", init="zeros")


def test_dcgan_trains_with_the_tutorial_settings_unless_told_otherwise():
    config = GanConfig(model="dcgan").resolved()
    assert (config.epochs, config.batch_size, config.loss) == (100, 256, "bce")
    assert (config.lr_g, config.lr_d, config.betas, config.ema) == (1e-4, 1e-4, (0.9, 0.999), 0)
    assert config.step_order == "shared"  # the tutorial's two tapes over one D pass
    assert GanConfig().resolved().model == "lite"
    assert GanConfig().resolved().step_order == "alternating"
    assert GanConfig(model="dcgan", lr_g=3e-4, betas=(0, 0.9)).resolved().betas == (0.0, 0.9)


def test_gan_step_updates_both_networks_and_returns_tensors():
    torch.manual_seed(0)
    generator, discriminator = create_model("dcgan", "gan")
    opt_g = torch.optim.Adam(generator.parameters(), 1e-3)
    opt_d = torch.optim.Adam(discriminator.parameters(), 1e-3)
    g0 = [p.clone() for p in generator.parameters()]
    d0 = [p.clone() for p in discriminator.parameters()]
    real = torch.rand(8, 1, 28, 28) * 2 - 1
    out = gan_step(generator, discriminator, opt_g, opt_d, real, None, torch.randn(8, 100),
                   "bce", make_amp(torch.device("cpu"), "fp32"))
    assert set(out) == {"loss_d", "loss_g", "d_real", "d_fake"}
    assert all(isinstance(v, torch.Tensor) and not v.requires_grad for v in out.values())
    assert all(torch.isfinite(v) for v in out.values())
    assert all(not torch.equal(a, b) for a, b in zip(g0, generator.parameters(), strict=True))
    assert all(not torch.equal(a, b) for a, b in zip(d0, discriminator.parameters(), strict=True))


def test_shared_step_is_the_tutorials_two_tapes_over_one_pass():
    # the TensorFlow tutorial: D and G gradients from one D pass, both at the same D
    torch.manual_seed(0)
    generator, discriminator = create_model("dcgan", "gan", dropout=0.0)
    real, noise = torch.rand(8, 1, 28, 28) * 2 - 1, torch.randn(8, 100)
    fake = generator(noise)
    real_logits, fake_logits = discriminator(real), discriminator(fake)
    loss_d = (F.binary_cross_entropy_with_logits(real_logits, torch.ones(8))
              + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros(8)))
    loss_g = F.binary_cross_entropy_with_logits(fake_logits, torch.ones(8))
    want_g = torch.autograd.grad(loss_g, list(generator.parameters()), retain_graph=True)
    want_d = torch.autograd.grad(loss_d, list(discriminator.parameters()))
    before = [p.detach().clone() for p in (*generator.parameters(), *discriminator.parameters())]

    opt_g = torch.optim.SGD(generator.parameters(), lr=1.0)  # a step is then minus the gradient
    opt_d = torch.optim.SGD(discriminator.parameters(), lr=1.0)
    out = gan_step(generator, discriminator, opt_g, opt_d, real, None, noise, "bce",
                   make_amp(torch.device("cpu"), "fp32"), order="shared")
    after = [*generator.parameters(), *discriminator.parameters()]
    for old, new, grad in zip(before, after, [*want_g, *want_d], strict=True):
        torch.testing.assert_close(old - new, grad, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(out["loss_g"], loss_g.detach())


def test_keras_dropout_keeps_one_minus_p_and_scales_as_nn_dropout():
    from fashionlab.gan.models import KerasDropout
    layer = KerasDropout(0.3)
    x = torch.ones(200_000)
    torch.manual_seed(1)
    y = layer(x)
    kept = y != 0
    assert abs(kept.float().mean().item() - 0.7) < 0.005
    torch.testing.assert_close(y[kept], torch.full_like(y[kept], 1 / 0.7))
    torch.manual_seed(1)
    assert torch.equal(layer(x), y)  # seeded
    assert torch.equal(layer.eval()(x), x)


def test_sample_uses_eval_mode_and_restores_train_mode():
    generator, _ = create_model("dcgan", "gan")
    generator.train()
    z = torch.randn(4, 100)
    batch = sample(generator, z, None)
    assert generator.training
    single = sample(generator, z[:1], None)  # eval BatchNorm: an image does not depend on its batch
    torch.testing.assert_close(single[0], batch[0])


# --------------------------------------------------------------------------- runs


def test_run_folder_has_config_metrics_samples_gif_plot_and_checkpoint(tmp_path, data):
    result = train_gan(tiny(tmp_path / "run", model="dcgan"), data)
    run = tmp_path / "run"
    config = json.loads((run / "config.json").read_text())
    assert config["kind"] == "gan" and config["model"] == "dcgan" and not config["conditional"]
    trainer = config["trainer"]
    assert (trainer["loss"], trainer["lr_g"], trainer["lr_d"]) == ("bce", 1e-4, 1e-4)
    rows = read_metrics(run)
    assert [r["epoch"] for r in rows] == [1, 2]
    assert all(torch.isfinite(torch.tensor([r["loss_g"], r["loss_d"]])).all() for r in rows)
    frames = sorted(p.name for p in (run / "figures" / "samples").iterdir())
    assert frames == ["epoch_000.png", "epoch_001.png", "epoch_002.png"]
    with Image.open(run / "figures" / "progress.gif") as gif:
        assert gif.n_frames == 3
    assert (run / "figures" / "losses.png").stat().st_size > 1000
    state = checkpoints.load_checkpoint(run / "checkpoint.pt")
    assert state["epoch"] == 2 and state["fixed_noise"].shape == (2, 100)
    for key in ("generator", "discriminator", "opt_g", "opt_d", "rng"):
        assert state[key]
    assert result.history == rows


def test_train_subset_is_seeded(tmp_path, data):
    a = train_gan(tiny(tmp_path / "a", epochs=1, train_subset=64, figures=False), data)
    b = train_gan(tiny(tmp_path / "b", epochs=1, train_subset=64, figures=False), data)
    assert without_seconds(a.history) == without_seconds(b.history)
    with pytest.raises(FashionlabError, match="larger than"):
        train_gan(tiny(tmp_path / "c", train_subset=1000), data)


@pytest.mark.parametrize("model", ["dcgan", "cgan"])
def test_resume_continues_exactly_like_an_unbroken_run(tmp_path, data, model):
    unbroken = train_gan(tiny(tmp_path / "a", model=model, figures=False), data)
    train_gan(tiny(tmp_path / "b", model=model, epochs=1), data)
    resumed = train_gan(GanConfig(epochs=2, resume=str(tmp_path / "b"), device="cpu"), data)
    assert without_seconds(read_metrics(tmp_path / "a")) == without_seconds(
        read_metrics(tmp_path / "b"))
    assert resumed.history[0]["epoch"] == 2
    for a, b in zip(unbroken.generator.state_dict().values(),
                    resumed.generator.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    frames = sorted(p.name for p in (tmp_path / "b" / "figures" / "samples").iterdir())
    assert frames == ["epoch_000.png", "epoch_001.png", "epoch_002.png"]


def test_resume_drops_metrics_rows_logged_after_the_checkpoint(tmp_path, data):
    train_gan(tiny(tmp_path / "run", epochs=2, checkpoint_every=1, figures=False), data)
    ckpt = tmp_path / "run" / "checkpoint.pt"
    state = checkpoints.load_checkpoint(ckpt)
    state["epoch"] = 1  # as if killed after logging epoch 2 but before its checkpoint
    checkpoints.save_checkpoint(ckpt, {k: v for k, v in state.items() if k != "format"})
    train_gan(GanConfig(epochs=2, resume=str(tmp_path / "run"), device="cpu"), data)
    assert [r["epoch"] for r in read_metrics(tmp_path / "run")] == [1, 2]


def test_ema_generator_is_what_gets_saved(tmp_path, data):
    from safetensors.torch import load_file

    result = train_gan(tiny(tmp_path / "run", model="lite", ema=0.9, figures=False), data)
    saved = load_file(tmp_path / "run" / "generator.safetensors")
    state = checkpoints.load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert all(torch.equal(saved[k], v) for k, v in state["ema"].items())
    trained = result.generator.state_dict()
    assert any(not torch.equal(saved[k], trained[k]) for k in saved)


def test_bf16_autocast_trains_with_finite_losses(tmp_path, data):
    result = train_gan(tiny(tmp_path / "run", model="lite", epochs=1, precision="bf16",
                            figures=False), data)
    row = result.history[0]
    assert torch.isfinite(torch.tensor([row["loss_g"], row["loss_d"]])).all()


# --------------------------------------------------------------------------- checkpoints


def test_a_kill_while_saving_leaves_the_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    checkpoints.save_checkpoint(path, {"epoch": 1})

    def killed(obj, f):
        f.write(b"half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoints.torch, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        checkpoints.save_checkpoint(path, {"epoch": 2})
    assert checkpoints.load_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]  # no temp file left


def test_checkpoint_loading_executes_no_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"format": checkpoints.FORMAT, "x": Evil()}, tmp_path / "checkpoint.pt")
    with pytest.raises(FashionlabError, match="damaged or not a fashionlab checkpoint"):
        checkpoints.load_checkpoint(tmp_path / "checkpoint.pt")


def test_rng_states_round_trip():
    import random

    import numpy as np

    order = torch.Generator().manual_seed(5)
    state = checkpoints.capture_rng(order)
    def draw():
        return torch.rand(3), np.random.rand(3), random.random(), torch.randperm(9, generator=order)

    expected = draw()
    draw()
    checkpoints.restore_rng(state, order)
    again = draw()
    assert torch.equal(expected[0], again[0]) and (expected[1] == again[1]).all()
    assert expected[2] == again[2] and torch.equal(expected[3], again[3])


# --------------------------------------------------------------------------- bad input


def test_resume_of_another_architecture_is_an_error(tmp_path, data):
    train_gan(tiny(tmp_path / "run", model="lite", epochs=1, figures=False), data)
    with pytest.raises(FashionlabError, match="trained with model 'lite', not 'dcgan'"):
        train_gan(GanConfig(model="dcgan", epochs=2, resume=str(tmp_path / "run")), data)
    # a checkpoint swapped in from another architecture is caught too
    train_gan(tiny(tmp_path / "other", model="cgan", epochs=1, figures=False), data)
    (tmp_path / "run" / "checkpoint.pt").write_bytes(
        (tmp_path / "other" / "checkpoint.pt").read_bytes())
    with pytest.raises(FashionlabError, match="checkpoint holds model 'cgan'"):
        train_gan(GanConfig(epochs=2, resume=str(tmp_path / "run"), device="cpu"), data)


def test_resume_of_a_truncated_checkpoint_is_an_error(tmp_path, data):
    train_gan(tiny(tmp_path / "run", epochs=1, figures=False), data)
    ckpt = tmp_path / "run" / "checkpoint.pt"
    ckpt.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])
    with pytest.raises(FashionlabError, match="damaged or not a fashionlab checkpoint"):
        train_gan(GanConfig(epochs=2, resume=str(tmp_path / "run")), data)


def test_resume_needs_more_epochs_and_a_gan_run(tmp_path, data):
    train_gan(tiny(tmp_path / "run", epochs=1, figures=False), data)
    with pytest.raises(FashionlabError, match="already has 1 epochs"):
        train_gan(GanConfig(epochs=1, resume=str(tmp_path / "run")), data)
    (tmp_path / "clf").mkdir()
    (tmp_path / "clf" / "config.json").write_text('{"kind": "classifier"}')
    with pytest.raises(FashionlabError, match="not a gan run"):
        train_gan(GanConfig(resume=str(tmp_path / "clf")), data)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"epochs": 0}, "epochs must be at least 1, got 0"),
        ({"epochs": -3}, "epochs must be at least 1, got -3"),
        ({"batch_size": 0}, "batch_size must be at least 1"),
        ({"lr_g": -1.0}, "lr_g must be positive"),
        ({"ema": 1.0}, "ema must be in"),
        ({"model": "mlp"}, "unknown gan model 'mlp'"),
        ({"fid_every": 2}, "needs a feature network"),
        ({"threads": -1}, r"threads must be 0 \(automatic\) or more, got -1"),
    ],
)
def test_bad_settings_are_clear_errors(tmp_path, data, overrides, message):
    with pytest.raises(FashionlabError, match=message):
        train_gan(tiny(tmp_path / "run", **overrides), data)
    assert not (tmp_path / "run").exists()  # nothing written before the settings are checked


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_cuda_without_a_gpu_is_a_clear_error(tmp_path, data):
    with pytest.raises(FashionlabError, match="no CUDA GPU"):
        train_gan(tiny(tmp_path / "run", device="cuda"), data)


def test_a_new_run_in_the_folder_of_an_earlier_one_replaces_it(tmp_path, data):
    run = tmp_path / "run"
    train_gan(tiny(run, epochs=3, fid_every=0), data)
    (run / "generator_best.safetensors").write_bytes(b"an earlier run's best epoch")
    (run / "notes.txt").write_text("mine")  # not a file runs write: kept
    train_gan(tiny(run, epochs=1), data)
    frames = sorted(p.name for p in (run / "figures" / "samples").iterdir())
    assert frames == ["epoch_000.png", "epoch_001.png"]  # not the earlier run's 2 and 3
    with Image.open(run / "figures" / "progress.gif") as gif:
        assert gif.n_frames == 2
    assert not (run / "generator_best.safetensors").exists()
    assert (run / "notes.txt").read_text() == "mine"
    assert [r["epoch"] for r in read_metrics(run)] == [1]


def test_resume_drops_the_frames_of_epochs_after_the_checkpoint(tmp_path, data):
    run = tmp_path / "run"
    train_gan(tiny(run, epochs=3), data)
    state = checkpoints.load_checkpoint(run / "checkpoint.pt")
    state["epoch"] = 1  # as if killed after drawing epochs 2 and 3 but before a checkpoint
    checkpoints.save_checkpoint(run / "checkpoint.pt",
                              {k: v for k, v in state.items() if k != "format"})
    train_gan(GanConfig(epochs=2, resume=str(run), device="cpu"), data)
    frames = sorted(p.name for p in (run / "figures" / "samples").iterdir())
    assert frames == ["epoch_000.png", "epoch_001.png", "epoch_002.png"]
    with Image.open(run / "figures" / "progress.gif") as gif:
        assert gif.n_frames == 3
