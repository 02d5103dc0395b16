"""The one CLI rule (issue 27): a damaged config.json or checkpoint.pt, non-finite weights or
results, an unreadable file and a file name that looks like mathtext are each one
``error:`` line with exit status 2 (or, for the name, simply work), never a traceback."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from conftest import write_untrained_classifier_run
from fashionlab.cli import main
from tiny_runs import one_error_line, save_picture, tiny_gan_run, tiny_inpaint_run

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """An untrained classifier run, a tiny GAN run and a tiny inpainting run, to copy."""
    root = tmp_path_factory.mktemp("runs")
    return {"classifier": write_untrained_classifier_run(root / "classifier"),
            "gan": tiny_gan_run(root / "gan"), "inpaint": tiny_inpaint_run(root / "inpaint")}


def copy_run(runs, kind: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(runs[kind], tmp_path / kind))


def edit_config(run: Path, change) -> None:
    """Rewrite run/config.json with ``change(config)`` (its return value, when not None)."""
    config = json.loads((run / "config.json").read_text())
    changed = change(config)
    (run / "config.json").write_text(json.dumps(config if changed is None else changed))


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def predict(capsys, run: Path, tmp_path: Path) -> tuple[int, str, str]:
    return cli(capsys, "predict", run, save_picture(tmp_path / "p.png"), "--device", "cpu")


# --------------------------------------------------------------------------- config.json


@pytest.mark.parametrize(("change", "says"), [
    (lambda c: [1, 2], "must be a JSON object"),
    (lambda c: "a string", "must be a JSON object"),
    (lambda c: c.update(model_args=[1]), "model_args must be a JSON object"),
    (lambda c: c.update(tta_shift="abc"), 'tta_shift must be a whole number, got "abc"'),
    (lambda c: c.update(tta_flip="no"), 'tta_flip must be true or false, got "no"'),
    (lambda c: c.update(tta_shift=99), "tta_shift must be 0 to 3 pixels, got 99"),
    (lambda c: c["trainer"].update(batch_size="32"), "batch_size must be a whole number"),
    (lambda c: c.update(kind=["classifier"]), "kind must be text"),
])
def test_a_classifier_config_of_wrong_types(capsys, runs, tmp_path, change, says):
    run = copy_run(runs, "classifier", tmp_path)
    edit_config(run, change)
    code, stdout, err = predict(capsys, run, tmp_path)
    assert says in one_error_line(code, err) and stdout == ""


def test_the_config_check_reads_the_dataclass_types():
    from fashionlab.errors import FashionlabError
    from fashionlab.gan.train import GanConfig
    from fashionlab.runtime.schema import check_fields

    check_fields(GanConfig, {"betas": [0.5, 0.999], "epochs": None, "lr_g": 1, "new": "x"}, "c")
    for bad, says in (({"betas": [0.5]}, "a list of 2 values"), ({"epochs": 1.5}, "a whole "
                      "number or null"), ({"lr_g": True}, "a number or null"),
                      ({"model_args": {"k": 1}, "figures": 0}, "figures must be true or false")):
        with pytest.raises(FashionlabError, match=says):
            check_fields(GanConfig, bad, "c")


def test_a_gan_config_of_wrong_types(capsys, runs, tmp_path):
    run = copy_run(runs, "gan", tmp_path)
    edit_config(run, lambda c: c.update(conditional="no"))
    code, _, err = cli(capsys, "generate", run, "--n", 4, "--out", tmp_path / "g.png",
                       "--device", "cpu")
    assert 'conditional must be true or false, got "no"' in one_error_line(code, err)
    edit_config(run, lambda c: c.update(conditional=False, model_args="g_width=16"))
    code, _, err = cli(capsys, "generate", run, "--n", 4, "--out", tmp_path / "g.png",
                       "--device", "cpu")
    assert "model_args must be a JSON object" in one_error_line(code, err)


def test_an_inpainting_config_of_wrong_types(capsys, runs, tmp_path):
    run = copy_run(runs, "inpaint", tmp_path)
    for change, says in ((lambda c: c.update(box_size="10"), "box_size must be a whole number"),
                         (lambda c: c.update(box_size=0), "--box-size must be between 1")):
        edit_config(run, change)
        code, _, err = cli(capsys, "fill", run, save_picture(tmp_path / "p.png"),
                           "--out", tmp_path / "f.png")
        assert says in one_error_line(code, err)


def test_an_unreadable_config_is_one_error_line(capsys, runs, tmp_path, monkeypatch):
    run = copy_run(runs, "classifier", tmp_path)
    config, real = run / "config.json", Path.read_text

    def denied(self, *args, **kwargs):
        if self == config:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", denied)
    code, _, err = predict(capsys, run, tmp_path)
    assert one_error_line(code, err) == f"error: {config}: Permission denied"


# --------------------------------------------------------------------------- checkpoint.pt


@pytest.mark.parametrize("kind", ["classifier", "gan"])
@pytest.mark.parametrize("payload", [{"format": 1}, {"format": 1, "epoch": "3"}])
def test_a_checkpoint_that_loads_safely_but_is_malformed(capsys, runs, tmp_path, kind, payload):
    run = copy_run(runs, kind, tmp_path)
    torch.save(payload, run / "checkpoint.pt")
    code, _, err = cli(capsys, "train", kind, "--resume", run, "--epochs", 5, "--device", "cpu")
    assert "checkpoint.pt is damaged" in one_error_line(code, err)


def test_a_checkpoint_with_a_damaged_random_state(capsys, runs, tmp_path):
    from fashionlab.errors import FashionlabError
    from fashionlab.runtime.checkpoints import restore_rng

    with pytest.raises(FashionlabError, match="random state is damaged"):
        restore_rng({"torch_cpu": "x"}, torch.Generator())


# --------------------------------------------------------------------------- non-finite numbers


def test_nan_weights_are_an_error_not_nan_percent(capsys, runs, tmp_path):
    run = copy_run(runs, "classifier", tmp_path)
    state = load_file(run / "model.safetensors")
    first = next(iter(state))
    state[first] = torch.full_like(state[first], float("nan"))
    save_file(state, run / "model.safetensors")
    code, stdout, err = predict(capsys, run, tmp_path)
    assert "not finite numbers" in one_error_line(code, err) and "nan" not in stdout


def test_weights_that_overflow_are_an_error(capsys, runs, tmp_path):
    run = copy_run(runs, "classifier", tmp_path)
    state = {k: v * 1e30 if v.is_floating_point() else v
             for k, v in load_file(run / "model.safetensors").items()}
    save_file(state, run / "model.safetensors")
    code, stdout, err = predict(capsys, run, tmp_path)
    assert "probabilities are not finite" in one_error_line(code, err) and stdout == ""


# --------------------------------------------------------------------------- figure titles


def test_a_file_name_that_looks_like_mathtext(capsys, runs, tmp_path):
    from PIL import Image

    mask = tmp_path / "m$\\foo$.png"
    picture = Image.new("L", (28, 28), 0)
    picture.paste(255, (8, 8, 20, 20))
    picture.save(mask)
    out = tmp_path / "f.png"
    code, stdout, err = cli(capsys, "fill", runs["inpaint"], save_picture(tmp_path / "p.png"),
                            "--mask", mask, "--out", out)
    assert code == 0 and err == "" and out.stat().st_size > 1000
