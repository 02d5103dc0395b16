"""Ctrl-C during training: the first one stops early and keeps what was trained, the
second one quits; the classifier and the GAN, in the library and through the CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from PIL import Image

import fashionlab.classifier.loop as loop
import fashionlab.classifier.predict as classify
import fashionlab.classifier.train as trainer
import fashionlab.gan.train as gan_trainer
from conftest import synthetic_fashion
from fashionlab.classifier.train import ClassifierConfig, train_classifier
from fashionlab.cli import main
from fashionlab.gan.train import GanConfig, train_gan
from fashionlab.runtime import checkpoints
from fashionlab.runtime.runs import read_metrics
from fashionlab.runtime.stop import ctrl_c_stop

# every test here presses Ctrl-C (or starts a process that gets one): each installs the
# default SIGINT handler first, since the suite may run with SIGINT ignored (nohup, `&`)
pytestmark = pytest.mark.usefixtures("one_thread", "ctrl_c_raises")


def ctrl_c() -> None:
    signal.raise_signal(signal.SIGINT)


def ctrl_c_at_call(monkeypatch, module, name: str, call: int) -> list[int]:
    """Replace ``module.name`` by a wrapper that presses Ctrl-C as call ``call`` starts."""
    original, calls = getattr(module, name), [0]

    def wrapper(*args, **kwargs):
        calls[0] += 1
        if calls[0] == call:
            ctrl_c()
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)
    return calls


# --------------------------------------------------------------------------- the handler


def test_the_first_ctrl_c_asks_to_stop_and_the_second_quits(capsys):
    before = signal.getsignal(signal.SIGINT)
    with ctrl_c_stop(True, "stopping soon") as stop:
        assert not stop.requested
        ctrl_c()
        assert stop.requested
        assert "Ctrl-C: stopping soon (Ctrl-C again to quit at once)" in capsys.readouterr().out
        with pytest.raises(KeyboardInterrupt):
            ctrl_c()
    assert signal.getsignal(signal.SIGINT) is before


def test_ctrl_c_keeps_its_meaning_when_not_enabled_or_ignored():
    with ctrl_c_stop(False, "unused") as stop, pytest.raises(KeyboardInterrupt):
        ctrl_c()
    assert not stop.requested
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as in `nohup` or `cmd &`
    try:
        with ctrl_c_stop(True, "unused") as stop:
            ctrl_c()  # ignored, as the user set it up
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        assert not stop.requested
    finally:
        signal.signal(signal.SIGINT, previous)


# --------------------------------------------------------------------------- classifier


@pytest.mark.usefixtures("classifier_data")
@pytest.mark.parametrize(("model", "step"), [("cnn", "train_step"), ("mlp", "step_rows")])
def test_a_stopped_classifier_keeps_scores_and_saves_what_it_trained(
    model, step, monkeypatch, tmp_path
):
    # 320 training images in batches of 32: 10 steps an epoch; Ctrl-C as step 14 starts
    module = loop if step == "train_step" else trainer.FastMLPTrainer
    calls = ctrl_c_at_call(monkeypatch, module, step, call=14)
    args = {"widths": [8, 16, 16]} if model == "cnn" else {"hidden": 32}
    run_dir = tmp_path / "run"
    result = train_classifier(ClassifierConfig(
        model=model, model_args=args, epochs=50, n_val=64, device="cpu", out=str(run_dir),
        fast_mlp="on" if model == "mlp" else "auto"), stop_on_ctrl_c=True)

    assert result.stopped_by_user and len(result.history) == 2
    last = result.history[-1]
    # the cnn stops before its next batch; the fast mlp after the batches it gathered
    assert last["images"] == (32 * 4 if model == "cnn" else 320)
    assert calls[0] == (14 if model == "cnn" else 20)
    assert [row["epoch"] for row in read_metrics(run_dir)] == [1, 2]
    assert 0 <= last["val_accuracy"] <= 1
    assert (run_dir / "model.safetensors").is_file()
    assert (run_dir / "figures" / "predictions.png").is_file()
    report = classify.evaluate_run(run_dir, device="cpu")  # the saved weights are the scored ones
    assert report["accuracy"] == pytest.approx(result.test_accuracy)


@pytest.mark.usefixtures("classifier_data")
def test_without_being_asked_the_library_lets_ctrl_c_interrupt(monkeypatch, tmp_path):
    ctrl_c_at_call(monkeypatch, loop, "train_step", call=3)
    with pytest.raises(KeyboardInterrupt):
        train_classifier(ClassifierConfig(model="cnn", model_args={"widths": [8, 16, 16]},
                                          epochs=5, n_val=64, device="cpu",
                                          out=str(tmp_path / "run")))


@pytest.mark.usefixtures("classifier_data")
def test_a_second_ctrl_c_quits_training_at_once(monkeypatch, tmp_path):
    original = loop.train_step

    def twice(*args, **kwargs):
        ctrl_c()
        ctrl_c()
        return original(*args, **kwargs)

    monkeypatch.setattr(loop, "train_step", twice)
    with pytest.raises(KeyboardInterrupt):
        train_classifier(ClassifierConfig(model="cnn", model_args={"widths": [8, 16, 16]},
                                          epochs=5, n_val=64, device="cpu",
                                          out=str(tmp_path / "run")), stop_on_ctrl_c=True)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler removed


# --------------------------------------------------------------------------- GAN


def gan_config(out: Path, **overrides) -> GanConfig:
    settings = dict(epochs=3, batch_size=32, samples=2, device="cpu", out=str(out),
                    model_args={"g_width": 16, "d_width": 8}, checkpoint_every=10)
    return GanConfig(**{**settings, **overrides})


def test_a_stopped_gan_finishes_its_epoch_and_resumes_exactly(monkeypatch, tmp_path):
    data = synthetic_fashion(n_train=96, n_test=32)  # 3 steps an epoch
    unbroken = train_gan(gan_config(tmp_path / "a", figures=False), data)
    ctrl_c_at_call(monkeypatch, gan_trainer, "gan_step", call=5)  # in epoch 2
    stopped = train_gan(gan_config(tmp_path / "b"), data, stop_on_ctrl_c=True)

    assert stopped.stopped_by_user
    assert [row["epoch"] for row in stopped.history] == [1, 2]
    assert stopped.history[-1]["steps"] == 3  # the epoch was finished
    run = tmp_path / "b"
    assert checkpoints.load_checkpoint(run / "checkpoint.pt")["epoch"] == 2  # not a multiple of 10
    assert (run / "generator.safetensors").is_file()
    with Image.open(run / "figures" / "progress.gif") as gif:
        assert gif.n_frames == 3  # epochs 0, 1, 2

    monkeypatch.undo()
    resumed = train_gan(GanConfig(epochs=3, resume=str(run), device="cpu"), data)
    for a, b in zip(unbroken.generator.state_dict().values(),
                    resumed.generator.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_the_gan_command_says_how_to_continue(monkeypatch, tmp_path, capsys):
    data = synthetic_fashion(n_train=96, n_test=32)
    monkeypatch.setattr(gan_trainer, "load_fashion_mnist", lambda *args, **kwargs: data)
    original_step = gan_trainer.gan_step
    ctrl_c_at_call(monkeypatch, gan_trainer, "gan_step", call=2)
    code = main(["train", "gan", "--epochs", "4", "--batch-size", "32", "--samples", "2",
                 "--model-arg", "g_width=16", "--model-arg", "d_width=8", "--device", "cpu",
                 "--out", str(tmp_path / "run")])
    out = capsys.readouterr().out
    assert code == 0
    assert (f"stopped by Ctrl-C after epoch 1; `fashionlab train gan --resume {tmp_path / 'run'}` "
            "continues it") in out
    assert "1 epochs" in out
    capsys.readouterr()
    monkeypatch.setattr(gan_trainer, "gan_step", original_step)
    assert main(["train", "gan", "--resume", str(tmp_path / "run"), "--device", "cpu"]) == 0
    assert [row["epoch"] for row in read_metrics(tmp_path / "run")] == [1, 2, 3, 4]


# --------------------------------------------------------------------------- a real Ctrl-C


def test_ctrl_c_in_the_train_command_keeps_the_run(fashion_dir, tmp_path):
    """A real SIGINT to a real `fashionlab train classifier` process on the real data."""
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "fashionlab.cli", "train", "classifier", "--epochs", "500",
               "--steps-per-epoch", "40", "--n-val", "500", "--no-figures", "--threads", "1",
               "--data-dir", str(fashion_dir), "--out", str(run_dir)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # a shell's background job starts with SIGINT ignored; the child must see Ctrl-C
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env, cwd=tmp_path,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    lines = []
    for line in process.stdout:  # wait until training runs: its first epoch line
        lines.append(line)
        if line.startswith("epoch   1") or time.monotonic() > deadline:
            break
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    out = "".join(lines) + out
    assert process.returncode == 0, err
    assert "Ctrl-C: stopping after this batch" in out
    assert "mlp: stopped by Ctrl-C in epoch" in out
    assert "test accuracy" in out
    assert (run_dir / "model.safetensors").is_file()
    assert len(read_metrics(run_dir)) < 500


# --------------------------------------------------------------------------- inpainting


def test_a_stopped_inpainting_run_is_scored_and_saved(monkeypatch, tmp_path):
    import fashionlab.impute.gain_training as training
    import fashionlab.inpaint.train as inpainting

    data = synthetic_fashion(n_train=300, n_test=40)
    calls = ctrl_c_at_call(monkeypatch, training, "gain_train_step", call=4)
    results = inpainting.inpaint(inpainting.InpaintConfig(
        model="mlp", steps=50, width=4, n_val=100, n_eval=40, n_pool=100,
        out=str(tmp_path / "run")), data, stop_on_ctrl_c=True)
    assert calls[0] == 4  # the step under way was finished, no other begun
    assert results["steps"] == 4 and results["stopped_by_user"]
    assert read_metrics(tmp_path / "run")[-1]["step"] == 4
    assert (tmp_path / "run" / "model.safetensors").is_file()
    assert "mlp GAIN trained 4 steps (stopped by Ctrl-C) in" in inpainting.format_results(results)
