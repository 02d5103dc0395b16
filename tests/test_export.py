"""`fashionlab export RUN --format onnx`: onnxruntime gives what PyTorch gives."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from fashionlab.classify import load_classifier
from fashionlab.cli import main
from fashionlab.generate import load_generator
from fashionlab.models import create_model
from fashionlab.train.runs import Run

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")
pytestmark = pytest.mark.usefixtures("one_thread")


def perturb_batch_norm(model: torch.nn.Module) -> None:
    """Running statistics away from 0 and 1, so that an export in training mode (batch
    statistics) could not pass for one in eval mode."""
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)


def classifier_run(path, model: str, model_args: dict | None = None, **config) -> Run:
    run = Run(path)
    run.write_config({"kind": "classifier", "model": model, "model_args": model_args or {},
                      **config})
    torch.manual_seed(0)
    net = create_model(model, "classifier", **(model_args or {}))
    perturb_batch_norm(net)
    run.save_weights(net.state_dict())
    return run


def gan_run(path, model: str) -> Run:
    run = Run(path)
    run.write_config({"kind": "gan", "model": model, "model_args": {}})
    torch.manual_seed(0)
    generator, _ = create_model(model, "gan")
    perturb_batch_norm(generator)
    run.save_weights(generator.state_dict(), "generator.safetensors")
    return run


@pytest.mark.parametrize("model, settings", [
    ("mlp", {}),
    # a narrow cnn (the graph is the same) with the recipe's test-time averaging: 18 views
    ("cnn", {"model_args": {"widths": [8, 16, 32], "pool_first": True, "head_grid": 3},
             "tta_flip": True, "tta_shift": 1}),
])
def test_an_exported_classifier_gives_pytorchs_probabilities(fashion, tmp_path, capsys,
                                                             model, settings):
    run = classifier_run(tmp_path / model, model, **settings)
    out = tmp_path / "classifier.onnx"
    assert main(["export", str(run.path), "--format", "onnx", "--out", str(out)]) == 0
    assert capsys.readouterr().out.startswith(f"wrote {out}: the {model} classifier")
    images = fashion.test_images[:1000]
    expected = load_classifier(run.path, "cpu").predict_proba(images).numpy()
    # the README's three lines
    session = ort.InferenceSession(str(out))
    probabilities = session.run(None, {"images": images.numpy()})[0]
    assert probabilities.shape == (1000, 10)
    assert np.abs(probabilities - expected).max() < 1e-4
    assert probabilities.argmax(1).tolist() == expected.argmax(1).tolist()


@pytest.mark.parametrize("model", ["dcgan", "cgan"])  # lite: cgan without labels
def test_an_exported_generator_gives_pytorchs_images(tmp_path, capsys, model):
    run = gan_run(tmp_path / model, model)
    out = tmp_path / "generator.onnx"
    assert main(["export", str(run.path), "--out", str(out)]) == 0
    loaded = load_generator(run.path, "cpu")
    noise = torch.randn(1000, loaded.model.noise_dim, generator=torch.Generator().manual_seed(2))
    feeds = {"noise": noise.numpy()}
    labels = None
    if loaded.num_classes:
        labels = torch.arange(1000) % loaded.num_classes
        feeds["labels"] = labels.numpy()
    with torch.no_grad():
        expected = loaded.model(noise, labels).numpy()
    session = ort.InferenceSession(str(out))
    assert [i.name for i in session.get_inputs()] == list(feeds)
    images = session.run(None, feeds)[0]
    assert images.shape == (1000, 1, 28, 28)
    assert np.abs(images - expected).max() < 1e-4
    if labels is not None:  # the class input is used: another class, other images
        feeds["labels"] = ((labels + 1) % 10).numpy()
        assert np.abs(session.run(None, feeds)[0] - expected).max() > 0.01


def test_runs_that_cannot_be_exported_are_clear_errors(tmp_path, capsys):
    inpaint = Run(tmp_path / "inpaint")
    inpaint.write_config({"kind": "inpaint", "model": "mlp"})
    classifier = classifier_run(tmp_path / "mlp", "mlp")
    out = tmp_path / "model.onnx"
    for argv, message in (
        ([str(inpaint.path), "--out", str(out)],
         "is a run of kind 'inpaint': only classifier and GAN runs can be exported"),
        ([str(tmp_path / "nothing"), "--out", str(out)], "does not exist"),
        ([str(classifier.path), "--out", str(tmp_path / "model.pt")], "must end in .onnx"),
        ([str(classifier.path), "--out", str(out), "--best"], "drop it for a classifier run"),
    ):
        assert main(["export", *argv]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and err.count("\n") == 1
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text(json.dumps({"kind": "classifier"}))
    assert main(["export", str(tmp_path / "broken"), "--out", str(out)]) == 2
    assert capsys.readouterr().err.startswith("error: ")
    assert not out.exists()
