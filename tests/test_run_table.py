"""`fashionlab runs`: a line per run folder, read from its files; and a torn metrics log."""

from __future__ import annotations

import json

import pytest

from conftest import synthetic_fashion
from fashionlab.classifier.train import ClassifierConfig, train_classifier
from fashionlab.cli import main
from fashionlab.errors import FashionlabError
from fashionlab.gan.train import GanConfig, train_gan
from fashionlab.inpaint.train import InpaintConfig, inpaint
from fashionlab.runtime.runs import read_metrics

pytestmark = pytest.mark.usefixtures("one_thread")


def test_every_kind_of_run_gets_a_line(classifier_data, tmp_path, capsys):
    root = tmp_path / "runs"
    result = train_classifier(ClassifierConfig(
        model="cnn", model_args={"widths": [8, 16, 16]}, epochs=2, n_val=64, device="cpu",
        out=str(root / "cnn"), figures=False))
    data = synthetic_fashion(n_train=96, n_test=32)
    train_gan(GanConfig(epochs=2, batch_size=32, samples=2, device="cpu", out=str(root / "gan"),
                        model_args={"g_width": 16, "d_width": 8}, figures=False), data)
    scores = inpaint(InpaintConfig(model="mlp", out=str(root / "nested" / "inpaint"),
                                   dry_run=True, n_val=100), synthetic_fashion(300, 40))
    (root / "notes").mkdir()  # not a run
    capsys.readouterr()  # the training's own lines
    assert main(["runs", str(root)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["run", "kind", "model", "trained", "result", "resume"]
    cnn, gan, nested = lines[1:]
    assert cnn.split()[:5] == [str(root / "cnn"), "classifier", "cnn", "2/2", "epochs"]
    assert f"test {result.test_accuracy:.4f}, val {result.val_accuracy:.4f}" in cnn
    assert cnn.endswith("-")  # finished: a plain --resume has nothing to do
    assert gan.split()[:5] == [str(root / "gan"), "gan", "lite", "2/2", "epochs"]
    assert "loss_g" in gan and gan.endswith("-")
    assert nested.split()[:4] == [str(root / "nested" / "inpaint"), "inpaint", "mlp", "5/5"]
    assert f"test RMSE {scores['test']['gain']['rmse']:.4f}" in nested and nested.endswith("-")

    scores_file = root / "cnn" / "scores.json"  # as a run stopped by Ctrl-C writes it
    scores_file.write_text(json.dumps({**json.loads(scores_file.read_text()),
                                       "stopped_by_user": True}))
    assert main(["runs", str(root / "cnn")]) == 0
    assert "2/2 epochs (Ctrl-C)" in capsys.readouterr().out


def test_a_folder_without_runs_is_a_clear_error(tmp_path, capsys):
    assert main(["runs", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith(f"error: no run folder in {tmp_path}")
    assert main(["runs", str(tmp_path / "missing")]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_a_metrics_log_torn_by_a_kill_loses_only_its_last_row(tmp_path):
    rows = [{"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": 0.4}]
    text = "".join(json.dumps(row) + "\n" for row in rows)
    (tmp_path / "metrics.jsonl").write_text(text + '{"epoch": 3, "lo')
    assert read_metrics(tmp_path) == rows
    (tmp_path / "metrics.jsonl").write_text('{"epo\n' + text)
    with pytest.raises(FashionlabError, match="line 1 is not JSON: the metrics log is damaged"):
        read_metrics(tmp_path)
