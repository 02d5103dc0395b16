"""`fashionlab export RUN --format onnx`: onnxruntime gives what PyTorch gives."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import make_classifier_run, make_gan_run
from fashionlab.classifier.predict import load_classifier
from fashionlab.cli import main
from fashionlab.gan.generate import load_generator
from fashionlab.runtime.runs import Run

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("model, settings", [
    ("mlp", {}),
    # a narrow cnn (the graph is the same) with the recipe's test-time averaging: 18 views
    ("cnn", {"model_args": {"widths": [8, 16, 32], "pool_first": True, "head_grid": 3},
             "tta_flip": True, "tta_shift": 1}),
])
def test_an_exported_classifier_gives_pytorchs_probabilities(fashion, tmp_path, capsys,
                                                             model, settings):
    run = make_classifier_run(tmp_path / model, model, **settings)
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
    run = make_gan_run(tmp_path / model, model)
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
    classifier = make_classifier_run(tmp_path / "mlp", "mlp")
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
