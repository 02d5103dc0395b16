"""`fashionlab train gan` and `fashionlab generate` through the CLI, with their bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import fashionlab.gan.train as gan_trainer
from conftest import synthetic_fashion
from fashionlab.cli import main
from fashionlab.data import CLASS_NAMES
from fashionlab.models import create_model
from fashionlab.runtime.runs import Run

SMALL = ["--model-arg", "g_width=16", "--model-arg", "d_width=8"]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(autouse=True)
def _synthetic_data(monkeypatch):
    # the trainer reads these tiny learnable images instead of Fashion-MNIST
    data = synthetic_fashion(n_train=96, n_test=32)
    monkeypatch.setattr(gan_trainer, "load_fashion_mnist", lambda *args, **kwargs: data)


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """A tiny unconditional run, a tiny conditional run and an (untrained) classifier run."""
    root = tmp_path_factory.mktemp("runs")
    data = synthetic_fashion(n_train=96, n_test=32)
    for model in ("lite", "cgan"):
        config = gan_trainer.GanConfig(model=model, model_args={"g_width": 16, "d_width": 8},
                                       epochs=1, batch_size=32, samples=2, device="cpu",
                                       out=str(root / model))
        gan_trainer.train_gan(config, data)
    classifier = Run(root / "mlp")
    classifier.write_config({"kind": "classifier", "model": "mlp", "model_args": {}})
    torch.manual_seed(0)
    classifier.save_weights(create_model("mlp", "classifier").state_dict())
    return {"lite": root / "lite", "cgan": root / "cgan", "mlp": root / "mlp"}


# --------------------------------------------------------------------------- train gan


def test_train_gan_then_resume_through_the_cli(capsys, tmp_path):
    out = tmp_path / "run"
    code, stdout, _ = cli(capsys, "train", "gan", *SMALL, "--epochs", 1, "--batch-size", 32,
                          "--out", out, "--device", "cpu")
    assert code == 0 and "1 epochs" in stdout and str(out) in stdout
    # the run's own settings may be repeated (the same batch size, the same model arguments)
    code, stdout, _ = cli(capsys, "train", "gan", "--resume", out, "--epochs", 2,
                          "--batch-size", 32, *SMALL)
    assert code == 0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    assert json.loads((out / "config.json").read_text())["trainer"]["epochs"] == 2


@pytest.mark.parametrize("epochs", ["0", "-2"])
def test_train_gan_rejects_epochs_below_one(capsys, tmp_path, epochs):
    code, _, err = cli(capsys, "train", "gan", "--epochs", epochs, "--out", tmp_path / "r")
    assert_one_line_error(code, err, f"epochs must be at least 1, got {epochs}")


@pytest.mark.parametrize(("option", "message"), [
    (["--betas", "0.5", "1.5"], "betas must be two numbers in [0, 1), got (0.5, 1.5)"),
    (["--betas", "0.5", "nan"], "betas must be a finite number, got (0.5, nan)"),
    (["--lr-d", "nan"], "lr_d must be a finite number, got nan"),
    (["--model-arg", "leaky"], "--model-arg wants KEY=VALUE, got 'leaky'"),
])
def test_train_gan_rejects_bad_optimizer_settings(capsys, tmp_path, option, message):
    code, _, err = cli(capsys, "train", "gan", *option, "--out", tmp_path / "r")
    assert_one_line_error(code, err, message)
    assert not (tmp_path / "r").exists()


def test_train_gan_rejects_an_unwritable_run_folder(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    code, _, err = cli(capsys, "train", "gan", "--epochs", 1, "--out", blocker / "run")
    assert_one_line_error(code, err, "cannot write to the output folder")


def test_resume_errors_through_the_cli(capsys, tmp_path, runs):
    code, _, err = cli(capsys, "train", "gan", "--model", "dcgan", "--resume", runs["lite"],
                       "--epochs", 3)
    assert_one_line_error(code, err, "trained with model 'lite', not 'dcgan'")
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("config.json", "checkpoint.pt"):
        (broken / name).write_bytes((runs["cgan"] / name).read_bytes())
    ckpt = broken / "checkpoint.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:1000])
    code, _, err = cli(capsys, "train", "gan", "--resume", broken, "--epochs", 3)
    assert_one_line_error(code, err, "damaged or not a fashionlab checkpoint")
    code, _, err = cli(capsys, "train", "gan", "--resume", runs["lite"], "--epochs", 3,
                       "--lr", 0.001, "--batch-size", 64)
    assert_one_line_error(code, err, "--batch-size, --lr/--lr-g, --lr/--lr-d cannot be given "
                          "with --resume: a resumed run keeps its settings (only --epochs, "
                          "--device and --data-dir may change)")


def test_dcgan_dry_run_on_the_real_data(capsys, tmp_path, fashion_dir, monkeypatch):
    monkeypatch.undo()  # the real Fashion-MNIST this time
    out = tmp_path / "dcgan"
    code, _, _ = cli(capsys, "train", "gan", "--model", "dcgan", "--dry-run", "--batch-size", 64,
                     "--train-subset", 512, "--data-dir", fashion_dir, "--out", out,
                     "--device", "cpu")
    assert code == 0
    trainer = json.loads((out / "config.json").read_text())["trainer"]
    assert (trainer["epochs"], trainer["steps_per_epoch"], trainer["train_subset"]) == (1, 2, 512)
    assert trainer["betas"] == [0.9, 0.999] and trainer["lr_g"] == trainer["lr_d"] == 1e-4
    assert (out / "figures" / "samples" / "epoch_001.png").is_file()
    assert (out / "figures" / "progress.gif").is_file()


# --------------------------------------------------------------------------- generate


def test_generate_npy_is_seeded_and_uses_eval_mode(capsys, tmp_path, runs):
    paths = {}
    for name, n, seed in (("a", 6, 1), ("b", 6, 1), ("c", 6, 2), ("one", 1, 1)):
        paths[name] = tmp_path / f"{name}.npy"
        code, _, _ = cli(capsys, "generate", runs["lite"], "--n", n, "--seed", seed,
                         "--out", paths[name], "--device", "cpu")
        assert code == 0
    a, b, c, one = (np.load(paths[k]) for k in ("a", "b", "c", "one"))
    assert a.dtype == np.uint8 and a.shape == (6, 28, 28)
    assert (a == b).all() and not (a == c).all()
    assert (one[0] == a[0]).all()  # eval-mode BatchNorm: an image does not depend on its batch


def test_generate_png_grid(capsys, tmp_path, runs):
    out = tmp_path / "grid.png"
    code, stdout, _ = cli(capsys, "generate", runs["lite"], "--n", 10, "--out", out)
    assert code == 0 and str(out) in stdout
    with Image.open(out) as img:
        assert img.format == "PNG" and img.width > 8 * 28


def test_generate_classify_reports_histogram_and_confidence(capsys, tmp_path, runs):
    out = tmp_path / "classified.png"
    code, stdout, _ = cli(capsys, "generate", runs["lite"], "--n", 12, "--out", out,
                          "--classify", runs["mlp"], "--json")
    assert code == 0
    report = json.loads(stdout)
    counts = [row["count"] for row in report["histogram"]["classes"].values()]
    assert sum(counts) == 12 and list(report["histogram"]["classes"]) == list(CLASS_NAMES)
    assert 0.1 <= report["histogram"]["mean_confidence"] <= 1.0
    assert "agreement" not in report  # nothing was asked for, nothing to agree with
    with Image.open(out) as img:
        assert img.format == "PNG"


def test_conditional_generate_by_class_name_or_index_with_agreement(capsys, tmp_path, runs):
    code, stdout, _ = cli(capsys, "generate", runs["cgan"], "--class", "sneaker", "--n", 5,
                          "--out", tmp_path / "s.npy", "--classify", runs["mlp"], "--json")
    assert code == 0
    report = json.loads(stdout)
    assert report["requested"] == {"Sneaker": 5}
    assert list(report["agreement"]["per_class"]) == ["Sneaker"]
    code, _, _ = cli(capsys, "generate", runs["cgan"], "--class", "7", "--n", 5,
                     "--out", tmp_path / "i.npy")
    assert code == 0
    assert (np.load(tmp_path / "s.npy") == np.load(tmp_path / "i.npy")).all()


def test_conditional_generate_without_class_makes_every_class(capsys, tmp_path, runs):
    code, stdout, _ = cli(capsys, "generate", runs["cgan"], "--n", 20, "--out",
                          tmp_path / "all.png", "--classify", runs["mlp"])
    assert code == 0
    assert "classes asked for: " + ", ".join(f"{c} 2" for c in CLASS_NAMES) in stdout
    assert "agreement with the class asked for" in stdout


@pytest.mark.parametrize("n", ["0", "-4"])
def test_generate_rejects_n_below_one(capsys, tmp_path, runs, n):
    code, _, err = cli(capsys, "generate", runs["lite"], "--n", n, "--out", tmp_path / "x.png")
    assert_one_line_error(code, err, f"--n must be at least 1, got {n}")


@pytest.mark.parametrize(("n", "out", "message"), [
    # a grid that tall is a useless picture (and PIL calls it a decompression bomb)
    ("1025", "x.png", "a .png grid holds at most 1,024 images, got --n 1,025"),
    ("1000001", "x.npy", "--n is at most 1,000,000 images per call"),
])
def test_generate_rejects_more_images_than_the_output_holds(capsys, tmp_path, runs, n, out,
                                                             message):
    code, _, err = cli(capsys, "generate", runs["lite"], "--n", n, "--out", tmp_path / out)
    assert_one_line_error(code, err, message)
    assert not (tmp_path / out).exists()


def test_generate_classify_counts_more_images_than_its_figure_shows(capsys, tmp_path, runs):
    out = tmp_path / "many.png"
    code, stdout, _ = cli(capsys, "generate", runs["lite"], "--n", "1100", "--out", out,
                          "--classify", runs["mlp"])
    assert code == 0 and "wrote 1100 images" in stdout
    with Image.open(out) as img:
        assert img.format == "PNG"


def test_generate_rejects_an_unwritable_output(capsys, tmp_path, runs):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, _, err = cli(capsys, "generate", runs["lite"], "--out", blocker / "grid.png")
    assert_one_line_error(code, err, "cannot write to the output folder")
    code, _, err = cli(capsys, "generate", runs["lite"], "--out", tmp_path / "grid.jpg")
    assert_one_line_error(code, err, ".png", ".npy")


def test_generate_classify_with_a_run_that_is_not_a_classifier(capsys, tmp_path, runs):
    code, _, err = cli(capsys, "generate", runs["lite"], "--classify", runs["cgan"],
                       "--out", tmp_path / "x.png")
    assert_one_line_error(code, err, "is a gan run, not a classifier run")


def test_generate_from_a_run_that_is_not_a_gan(capsys, tmp_path, runs):
    code, _, err = cli(capsys, "generate", runs["mlp"], "--out", tmp_path / "x.png")
    assert_one_line_error(code, err, "is a classifier run, not a gan run")


def test_unknown_class_lists_the_valid_names(capsys, tmp_path, runs):
    code, _, err = cli(capsys, "generate", runs["cgan"], "--class", "shoe",
                       "--out", tmp_path / "x.png")
    assert_one_line_error(code, err, "unknown class 'shoe'", "7=Sneaker", "9=Ankle boot")
    code, _, err = cli(capsys, "generate", runs["lite"], "--class", "bag",
                       "--out", tmp_path / "x.png")
    assert_one_line_error(code, err, "unconditional GAN")


def test_fid_during_training_keeps_the_best_epoch(capsys, tmp_path, runs):
    out = tmp_path / "fid"
    code, stdout, _ = cli(capsys, "train", "gan", *SMALL, "--epochs", 2, "--batch-size", 32,
                          "--fid-every", 1, "--fid-classifier", runs["mlp"], "--fid-samples", 64,
                          "--no-figures", "--out", out, "--device", "cpu")
    assert code == 0 and "best FID" in stdout
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    fids = [row["fid"] for row in rows]
    assert len(fids) == 2 and all(f >= 0 for f in fids)
    assert (out / "generator_best.safetensors").is_file()
    code, _, _ = cli(capsys, "generate", out, "--best", "--n", 4, "--out", tmp_path / "b.npy")
    assert code == 0
    code, _, err = cli(capsys, "generate", runs["lite"], "--best", "--out", tmp_path / "c.npy")
    assert_one_line_error(code, err, "no best epoch")
