"""train_classifier with every model and the full recipe on tiny synthetic data;
evaluate / predict / figures for every model; weights that do not match the config."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

import fashionlab.classifier.loop as loop
import fashionlab.classifier.predict as classify
import fashionlab.classifier.train as trainer
from fashionlab.classifier.augment import tta_log_probs
from fashionlab.classifier.train import ClassifierConfig, train_classifier
from fashionlab.cli import main
from fashionlab.data import load_fashion_mnist
from fashionlab.data.user_images import load_user_image
from fashionlab.errors import FashionlabError
from fashionlab.models import create_model
from fashionlab.runtime.runs import Run, read_metrics

TINY = {  # small widths keep every model's test to a second or two
    "mlp": {"hidden": 32},
    "cnn": {"widths": [8, 16, 16]},
    "resnet": {"widths": [8, 16, 16], "blocks": [1, 1, 1], "stem": 8},
    "wrn": {"widths": [8, 16, 16], "blocks": [1, 1, 1]},
}


@pytest.fixture
def data(classifier_data):
    return classifier_data


def assert_png(path: Path) -> None:
    with Image.open(path) as img:
        assert img.format == "PNG"


@pytest.mark.parametrize("name", sorted(TINY))
def test_every_model_trains_evaluates_predicts_and_draws(name, data, tmp_path, capsys):
    config = ClassifierConfig(model=name, model_args=TINY[name], epochs=3, batch_size=32,
                              n_val=64, device="cpu", out=str(tmp_path / name), lr=3e-3)
    result = train_classifier(config)
    assert result.test_accuracy > 0.3  # chance is 0.1; 3 short epochs on easy synthetic bands
    for figure in ("training_curves", "predictions", "confusion_matrix", "mistakes"):
        assert_png(tmp_path / name / "figures" / f"{figure}.png")

    report = classify.evaluate_run(tmp_path / name, device="cpu")
    assert report["model"] == name and report["samples"] == 64
    assert report["accuracy"] == pytest.approx(result.test_accuracy)

    image = tmp_path / "garment.png"
    Image.fromarray(data.test_images[0].numpy()).resize((90, 120)).save(image)
    capsys.readouterr()  # drop the training log
    assert main(["predict", str(tmp_path / name), str(image), "--json", "--device", "cpu"]) == 0
    top = json.loads(capsys.readouterr().out)[0]["top"]
    assert len(top) == 3 and sum(t["probability"] for t in top) <= 1.0 + 1e-6

    loaded = classify.load_classifier(tmp_path / name, "cpu")
    features = loaded.features(data.test_images[:5])
    assert features.shape == (5, loaded.model.feature_dim)


def test_the_full_recipe_runs_and_is_recorded(data, tmp_path):
    config = ClassifierConfig(
        model="cnn", model_args=TINY["cnn"], epochs=3, batch_size=32, n_val=64, device="cpu",
        out=str(tmp_path / "run"), optimizer="sgd", lr=0.05, weight_decay=5e-4,
        schedule="onecycle", warmup_epochs=1, label_smoothing=0.1, crop_padding=2, flip=True,
        erasing=0.5, ema_decay=0.99, tta_flip=True, figures=False,
    )
    result = train_classifier(config)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["tta_flip"] is True and saved["trainer"]["erasing"] == 0.5
    assert [row["epoch"] for row in result.history] == [1, 2, 3]
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    # what `evaluate` reports is what training reported: the EMA weights, with flip averaging
    report = classify.evaluate_run(tmp_path / "run", device="cpu")
    assert report["accuracy"] == pytest.approx(result.test_accuracy)
    assert result.test_accuracy > 0.2  # chance is 0.1; 30 heavily augmented steps


def test_tta_flip_averages_the_image_and_its_mirror(data):
    torch.manual_seed(0)
    model = create_model("cnn", "classifier", **TINY["cnn"]).eval()
    images = data.test_images[:8]
    plain = classify.predict_proba(model, images, torch.device("cpu"))
    mirrored = classify.predict_proba(model, images.flip(2), torch.device("cpu"))
    both = classify.predict_proba(model, images, torch.device("cpu"), tta_flip=True)
    torch.testing.assert_close(both, 0.5 * (plain + mirrored))


def test_tta_shift_averages_every_moved_copy_of_the_image_and_its_mirror():
    # a linear model of the pixels shows which view it was given; the views are built
    # here pixel by pixel, independently of the padding and slicing in the library
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))
    images = torch.randn(2, 1, 4, 4)
    fill = -0.8

    def view(dy, dx, mirror):
        x = images.flip(3) if mirror else images
        out = torch.full_like(x, fill)
        for i in range(4):
            for j in range(4):
                if 0 <= i + dy < 4 and 0 <= j + dx < 4:
                    out[..., i, j] = x[..., i + dy, j + dx]
        return out

    views = [view(dy, dx, m) for dy in (-1, 0, 1) for dx in (-1, 0, 1) for m in (False, True)]
    expected = torch.stack([model(v).softmax(1) for v in views]).mean(0)
    with torch.no_grad():
        got = tta_log_probs(model, images, flip=True, shift=1, fill=fill).exp()
        torch.testing.assert_close(got, expected)
        plain = tta_log_probs(model, images)  # no averaging: the model's own output
        torch.testing.assert_close(plain, model(images).log_softmax(1))


def test_tta_shift_is_recorded_and_used_by_evaluate_and_predict(data, tmp_path):
    config = ClassifierConfig(model="cnn", model_args=TINY["cnn"], epochs=1, batch_size=32,
                              n_val=64, device="cpu", out=str(tmp_path / "run"), tta_flip=True,
                              tta_shift=1, figures=False)
    result = train_classifier(config)
    loaded = classify.load_classifier(tmp_path / "run", "cpu")
    assert loaded.tta_shift == 1
    report = classify.evaluate_run(tmp_path / "run", device="cpu")
    assert report["accuracy"] == pytest.approx(result.test_accuracy)
    images = data.test_images[:6]
    shifted = loaded.predict_proba(images)
    flipped = classify.predict_proba(loaded.model, images, torch.device("cpu"), tta_flip=True)
    assert not torch.allclose(shifted, flipped)  # the shifts change the prediction
    with pytest.raises(FashionlabError, match="tta_shift must be 0 to 3 pixels, got 4"):
        ClassifierConfig(tta_shift=4).validate()


def test_the_fast_mlp_path_and_autograd_reach_the_same_accuracy(data, tmp_path):
    results = {
        mode: train_classifier(ClassifierConfig(
            model="mlp", epochs=2, n_val=64, device="cpu", out=str(tmp_path / mode),
            fast_mlp=mode, figures=False))
        for mode in ("on", "off")
    }
    assert abs(results["on"].test_accuracy - results["off"].test_accuracy) <= 2 / 64
    losses = [r.history[0]["loss"] for r in results.values()]
    assert losses[0] == pytest.approx(losses[1], rel=0.05)


@pytest.mark.parametrize("clock", ["wall", "cpu"])
def test_a_time_budget_stops_training_early(data, tmp_path, clock):
    result = train_classifier(ClassifierConfig(
        model="cnn", model_args=TINY["cnn"], epochs=1000, time_budget=1.0, budget_clock=clock,
        n_val=64, device="cpu", out=str(tmp_path / "run"), schedule="onecycle", figures=False))
    assert 1 <= len(result.history) < 1000
    last = result.history[-1]
    spent = last["train_seconds"] if clock == "wall" else last["train_cpu_seconds"]
    assert 1.0 <= spent < 3.0


def test_training_without_validation_images(data, tmp_path):
    result = train_classifier(ClassifierConfig(
        model="cnn", model_args=TINY["cnn"], epochs=1, n_val=0, device="cpu",
        out=str(tmp_path / "run")))
    assert result.test_accuracy >= 0.0
    assert (tmp_path / "run" / "figures" / "training_curves.png").is_file()


def test_weights_that_do_not_match_the_config_are_an_error(data, tmp_path, capsys):
    run_dir = tmp_path / "run"
    train_classifier(ClassifierConfig(model="cnn", model_args=TINY["cnn"], epochs=1, n_val=64,
                                      device="cpu", out=str(run_dir), figures=False))
    config = json.loads((run_dir / "config.json").read_text())
    config["model_args"] = {"widths": [8, 16, 32]}  # the saved weights are 8/16/16
    (run_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(FashionlabError, match="do not match its config"):
        classify.evaluate_run(run_dir, device="cpu")
    image = tmp_path / "x.png"
    Image.fromarray(data.test_images[0].numpy()).save(image)
    capsys.readouterr()
    assert main(["predict", str(run_dir), str(image)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "do not match" in err and "Traceback" not in err

    other = Run(tmp_path / "swapped")  # an mlp's weights under a cnn config
    other.write_config({"kind": "classifier", "model": "cnn", "model_args": TINY["cnn"]})
    other.save_weights(create_model("mlp", "classifier").state_dict())
    assert main(["evaluate", str(tmp_path / "swapped"), "--device", "cpu"]) == 2
    assert "do not match" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "message"), [
    (["--model", "vgg"], "unknown classifier model 'vgg'; choose one of: cnn, mlp, resnet"),
    (["--model", "cnn", "--fast-mlp", "on"], "--fast-mlp on does not apply"),
    (["--model", "mlp", "--model-arg", "widths=[8,8,8]"], "'mlp' has no option 'widths'"),
    (["--model", "cnn", "--model-arg", "widths"], "--model-arg wants KEY=VALUE"),
    (["--threads", "-1"], "threads must be 0 (automatic) or more, got -1"),
    (["--tta-shift", "-1"], "tta_shift must be 0 to 3 pixels, got -1"),
    (["--lr", "nan"], "lr must be a finite number, got nan"),
    (["--time-budget", "inf"], "time_budget must be a finite number, got inf"),
    (["--model", "cnn", "--model-arg", "widths=[8,8]"],
     "model 'cnn' does not accept these options: widths must list 3 positive whole numbers"),
])
def test_cli_option_errors(argv, message, capsys, tmp_path):
    code = main(["train", "classifier", *argv, "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "run" / "config.json").exists()


def test_an_ensemble_shares_a_split_and_averages_its_members(data, tmp_path, monkeypatch,
                                                             capsys):
    import fashionlab.data.fashion_mnist as fashion_mnist

    seeds = []
    real_split = fashion_mnist.split_train_val

    def spy(images, labels, n_val, seed):
        seeds.append(seed)
        return real_split(images, labels, n_val, seed)

    monkeypatch.setattr(fashion_mnist, "split_train_val", spy)
    runs = [tmp_path / f"member{k}" for k in (1, 2)]
    for seed, run_dir in zip((1, 2), runs, strict=True):
        train_classifier(ClassifierConfig(
            model="cnn", model_args=TINY["cnn"], epochs=1, batch_size=32, n_val=64, seed=seed,
            split_seed=7, device="cpu", out=str(run_dir), figures=False))
    assert seeds == [7, 7]  # both members were validated on the same images
    members = [classify.load_classifier(r, "cpu") for r in runs]
    first, second = (m.model.state_dict()["body.0.0.weight"] for m in members)
    assert not torch.equal(first, second)  # ... and trained from different seeds

    report = classify.evaluate_run(runs, device="cpu")
    mean = 0.5 * (members[0].predict_proba(data.test_images)
                  + members[1].predict_proba(data.test_images))
    expected = (mean.argmax(1) == data.test_labels).float().mean().item()
    assert report["accuracy"] == pytest.approx(expected)
    assert report["model"] == "ensemble of 2 (cnn, cnn)"
    assert report["runs"] == [str(r) for r in runs]

    capsys.readouterr()
    assert main(["evaluate", *map(str, runs), "--device", "cpu"]) == 0
    assert capsys.readouterr().out.startswith("ensemble of 2 (cnn, cnn) on the 64 test images")
    with pytest.raises(FashionlabError, match="at least one classifier run"):
        classify.evaluate_run([], device="cpu")

    # predict with the pair: the mean of the members' probabilities, as evaluate
    picture = tmp_path / "picture.png"
    Image.fromarray(data.test_images[0].numpy()).save(picture)
    assert main(["predict", str(runs[0]), str(picture), "--with", str(runs[1]), "--json",
                 "--device", "cpu", "--top", "10"]) == 0
    top = json.loads(capsys.readouterr().out)[0]["top"]
    seen = load_user_image(picture)[None]  # the picture as predict reads it
    mean = 0.5 * (members[0].predict_proba(seen) + members[1].predict_proba(seen))
    assert [t["index"] for t in top] == mean[0].argsort(descending=True).tolist()
    assert [t["probability"] for t in top] == pytest.approx(mean[0].sort(descending=True)
                                                            .values.tolist(), abs=1e-6)


@pytest.mark.parametrize("val, labels", [(0.5, ["train", "validation"]),
                                         (float("nan"), ["train"])])
def test_training_curves_show_validation_only_when_there_was_a_split(
        monkeypatch, tmp_path, val, labels):
    import fashionlab.viz.curves as curves

    drawn = []
    monkeypatch.setattr(curves, "save_figure", lambda fig, path: drawn.append(fig) or path)
    history = [{"epoch": e, "loss": 1 / e, "accuracy": 0.5, "val_loss": val,
                "val_accuracy": val} for e in (1, 2, 3)]
    curves.save_training_curves(history, tmp_path / "curves.png")
    for ax in drawn[0].axes:
        assert [line.get_label() for line in ax.get_lines()] == labels
        assert all(float(t).is_integer() for t in ax.get_xticks())  # whole epochs only


def test_tta_choice_benchmark_scores_each_averaging_on_validation(fashion_dir, tmp_path, capsys):
    from test_noise_scale import load_benchmark

    runs = []
    for seed in (0, 1):
        run = tmp_path / f"member{seed}"
        train_classifier(ClassifierConfig(model="mlp", epochs=1, steps_per_epoch=20, n_val=300,
                                          seed=seed, split_seed=7, device="cpu", out=str(run),
                                          data_dir=str(fashion_dir), figures=False))
        runs.append(str(run))
    results = load_benchmark("tta_choice").main([*runs, "--data-dir", str(fashion_dir)])
    assert list(results) == ["none", "flip", "flip + shift 1", "flip + shift 2"]
    split = load_fashion_mnist(fashion_dir).split(300, 7)
    members = [classify.load_classifier(run, "cpu") for run in runs]
    probs = [classify.predict_proba(m.model, split.val_images, m.device, tta_flip=True,
                                    tta_shift=1) for m in members]
    for p, accuracy in zip(probs, results["flip + shift 1"]["runs"], strict=True):
        assert accuracy == pytest.approx(float((p.argmax(1) == split.val_labels).float().mean()))
    together = (torch.stack(probs).mean(0).argmax(1) == split.val_labels).float().mean()
    assert results["flip + shift 1"]["together"] == pytest.approx(float(together))
    assert "best together on validation: " in capsys.readouterr().out
    other = tmp_path / "other"  # another split: the runs cannot be compared
    train_classifier(ClassifierConfig(model="mlp", epochs=1, steps_per_epoch=2, n_val=300,
                                      seed=3, device="cpu", out=str(other),
                                      data_dir=str(fashion_dir), figures=False))
    with pytest.raises(SystemExit, match="must share one validation split"):
        load_benchmark("tta_choice").main([runs[0], str(other), "--data-dir", str(fashion_dir)])


def test_a_new_run_replaces_the_earlier_one_only_once_it_starts(data, tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    train_classifier(ClassifierConfig(model="cnn", model_args=TINY["cnn"], epochs=1, n_val=64,
                                      device="cpu", out=str(run_dir)))
    earlier = (run_dir / "model.safetensors").read_bytes()

    def no_data(*args, **kwargs):
        raise FashionlabError("Fashion-MNIST not found")

    monkeypatch.setattr(trainer, "load_fashion_mnist", no_data)
    with pytest.raises(FashionlabError):  # a run that cannot start leaves the earlier one whole
        train_classifier(ClassifierConfig(model="mlp", out=str(run_dir)))
    assert (run_dir / "model.safetensors").read_bytes() == earlier
    assert (run_dir / "figures" / "predictions.png").is_file()

    monkeypatch.setattr(trainer, "load_fashion_mnist", lambda *args, **kwargs: data)
    train_classifier(ClassifierConfig(model="mlp", model_args=TINY["mlp"], epochs=1, n_val=64,
                                      device="cpu", out=str(run_dir), figures=False))
    assert not (run_dir / "figures" / "predictions.png").exists()  # not the earlier run's
    assert json.loads((run_dir / "config.json").read_text())["model"] == "mlp"


RECIPE = dict(optimizer="sgd", lr=0.05, schedule="onecycle", warmup_epochs=1, weight_decay=5e-4,
              label_smoothing=0.1, crop_padding=2, flip=True, erasing=0.5, ema_decay=0.9,
              tta_flip=True)


@pytest.mark.parametrize(("model", "settings", "steps"), [
    ("cnn", {"model_args": {**TINY["cnn"], "dropout": 0.2}, "batch_size": 32, **RECIPE}, 10),
    ("mlp", {"model_args": TINY["mlp"], "batch_size": 8, "ema_decay": 0.9, "fast_mlp": "on"},
     40),
])
@pytest.mark.usefixtures("ctrl_c_raises")  # it stops the run with a Ctrl-C
def test_resume_continues_exactly_like_an_unbroken_run(data, tmp_path, monkeypatch, model,
                                                       settings, steps):
    def config(out):
        return ClassifierConfig(model=model, epochs=3, n_val=64, device="cpu",
                                out=str(tmp_path / out), figures=False, **settings)

    unbroken = train_classifier(config("a"))
    # Ctrl-C as the first step of epoch 3 starts: the run stops inside that epoch
    module, name = (loop, "train_step") if model == "cnn" else (trainer.FastMLPTrainer,
                                                                   "step_rows")
    original, calls = getattr(module, name), [0]

    def press_ctrl_c(*args, **kwargs):
        calls[0] += 1
        if calls[0] == 2 * steps + 1:
            signal.raise_signal(signal.SIGINT)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, press_ctrl_c)
    stopped = train_classifier(config("b"), stop_on_ctrl_c=True)
    monkeypatch.setattr(module, name, original)
    assert stopped.stopped_by_user and len(stopped.history) == 3
    assert stopped.history[-1]["images"] < unbroken.history[-1]["images"]

    resumed = trainer.resume_classifier(tmp_path / "b")
    assert [row["epoch"] for row in resumed.history] == [1, 2, 3]
    assert resumed.test_accuracy == unbroken.test_accuracy
    timing = ("seconds", "train_seconds", "train_cpu_seconds")
    assert ([{k: v for k, v in row.items() if k not in timing} for row in read_metrics(
        tmp_path / "b")] == [{k: v for k, v in row.items() if k not in timing}
                             for row in read_metrics(tmp_path / "a")])
    a = load_file(tmp_path / "a" / "model.safetensors")
    b = load_file(tmp_path / "b" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_resume_can_raise_the_epochs_and_refuses_what_it_cannot_do(data, tmp_path):
    run_dir = tmp_path / "run"
    train_classifier(ClassifierConfig(model="cnn", model_args=TINY["cnn"], epochs=1, n_val=64,
                                      device="cpu", out=str(run_dir), figures=False))
    with pytest.raises(FashionlabError, match="already has 1 epochs; ask for more with --epochs"):
        trainer.resume_classifier(run_dir)
    result = trainer.resume_classifier(run_dir, epochs=2)
    assert [row["epoch"] for row in result.history] == [1, 2]
    assert json.loads((run_dir / "config.json").read_text())["trainer"]["epochs"] == 2
    (run_dir / "checkpoint.pt").unlink()
    with pytest.raises(FashionlabError, match="has no checkpoint.pt"):
        trainer.resume_classifier(run_dir, epochs=3)
    with pytest.raises(FashionlabError, match="is a gan run, not a classifier run"):
        (tmp_path / "gan").mkdir()
        (tmp_path / "gan" / "config.json").write_text('{"kind": "gan"}')
        trainer.resume_classifier(tmp_path / "gan")


def test_the_command_resumes_a_run_and_refuses_other_settings(data, tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main(["train", "classifier", "--model", "cnn", "--model-arg", "widths=[8,16,16]",
                 "--epochs", "1", "--n-val", "64", "--no-figures", "--device", "cpu",
                 "--out", str(run_dir)]) == 0
    capsys.readouterr()
    assert main(["train", "classifier", "--resume", str(run_dir), "--lr", "0.1",
                 "--model", "resnet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --model, --lr cannot be given with --resume: a resumed run "
                          "keeps its settings (only --epochs, --device and --data-dir may "
                          "change)")
    assert main(["train", "classifier", "--resume", str(run_dir), "--epochs", "2",
                 "--device", "cpu", "--model", "cnn"]) == 0  # the run's own model: no change
    assert "cnn: validation accuracy" in capsys.readouterr().out
    assert [row["epoch"] for row in read_metrics(run_dir)] == [1, 2]
    assert not (run_dir / "figures").exists()  # the run's own --no-figures is kept
