"""The run folder's lifecycle guarantees: one trainer at a time (a lock that a killed
process cannot leave stale), only a fashionlab run's own files replaced, and the
temporary files of a killed run cleared by the next one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from fashionlab.cli import main
from fashionlab.errors import FashionlabError
from fashionlab.runtime.runs import CONFIG, MARKER, Run

HOLD = ("import sys, time; from fashionlab.runtime.runs import Run; Run(sys.argv[1]); "
        "print('locked', flush=True); time.sleep(60)")


def _holder(folder: Path) -> subprocess.Popen:
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    return holder


def test_a_second_trainer_is_refused_with_the_first_ones_pid(tmp_path):
    holder = _holder(tmp_path / "run")
    try:
        with pytest.raises(FashionlabError, match=f"in use by process {holder.pid}"):
            Run(tmp_path / "run")
    finally:
        holder.kill()
        holder.wait()


def test_a_killed_trainers_lock_does_not_stay(tmp_path):
    holder = _holder(tmp_path / "run")
    holder.kill()
    holder.wait()
    Run(tmp_path / "run")  # taken over at once


def test_two_cli_trainings_into_one_folder_do_not_mix(tmp_path, capsys, classifier_data):
    holder = _holder(tmp_path / "run")
    try:
        code = main(["train", "classifier", "--dry-run", "--out", str(tmp_path / "run")])
    finally:
        holder.kill()
        holder.wait()
    err = capsys.readouterr().err
    assert code == 2 and err.count("error:") == 1 and "in use by process" in err
    assert not (tmp_path / "run" / CONFIG).exists()


def test_a_folder_no_run_wrote_is_refused_and_left_whole(tmp_path, capsys, classifier_data):
    folder = tmp_path / "mine"
    (folder / "figures").mkdir(parents=True)
    (folder / CONFIG).write_text(json.dumps({"kind": "classifier", "mine": True}))
    (folder / "precious_model.safetensors").write_bytes(b"precious")
    (folder / "figures" / "my_chart.png").write_bytes(b"chart")
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    code = main(["train", "classifier", "--dry-run", "--out", str(folder)])
    err = capsys.readouterr().err
    assert code == 2 and "no fashionlab run wrote" in err
    after = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file() and p.name[0] != "."}
    assert after == before


def test_a_runs_own_folder_is_replaced_by_the_next_run(tmp_path):
    run = Run(tmp_path / "run")
    run.start({"kind": "classifier"})
    run.save_weights({})
    stale = run.figure("old.png")
    stale.write_bytes(b"old")
    (run.path / "notes.txt").write_text("mine")
    run.start({"kind": "classifier"})
    assert (run.path / MARKER).is_file() and not stale.exists()
    assert not (run.path / "model.safetensors").exists()
    assert (run.path / "notes.txt").read_text() == "mine"  # not a file runs write


def test_temporary_files_of_a_killed_run_are_removed(tmp_path):
    folder = tmp_path / "run"
    (folder / "figures").mkdir(parents=True)
    left = [folder / ".checkpoint.pt.x1.tmp", folder / ".model.safetensors.x2.tmp",
            folder / "figures" / ".loss.png.x3.tmp"]
    for path in left:
        path.write_bytes(b"partial")
    (folder / "keep.tmp").write_bytes(b"a user's file")
    Run(folder)
    assert not any(path.exists() for path in left)
    assert (folder / "keep.tmp").exists()


class _Killed(BaseException):
    """Stands for a kill -9 at a chosen point: nothing after it runs."""


def test_resume_finishes_a_classifier_killed_after_its_last_epoch(
        tmp_path, monkeypatch, classifier_data, capsys):
    from fashionlab.classifier.train import ClassifierConfig, resume_classifier, train_classifier
    from fashionlab.runtime.runs import Run, run_finished

    config = ClassifierConfig(epochs=2, n_val=64, device="cpu", out=str(tmp_path / "run"))
    whole = train_classifier(ClassifierConfig(**{**vars(config), "out": str(tmp_path / "w")}))

    def killed(self, scores):
        raise _Killed

    with monkeypatch.context() as patch:
        patch.setattr(Run, "write_scores", killed)
        with pytest.raises(_Killed):
            train_classifier(config)
    folder = tmp_path / "run"
    assert not (folder / "scores.json").exists() and not run_finished(folder)
    capsys.readouterr()
    assert main(["runs", str(folder)]) == 0
    assert capsys.readouterr().out.splitlines()[1].endswith("yes")
    result = resume_classifier(folder)  # trains nothing more: finishes
    assert len(result.history) == 2 and result.test_accuracy == whole.test_accuracy
    assert (folder / "scores.json").is_file() and (folder / "figures").is_dir()
    assert run_finished(folder)
    with pytest.raises(FashionlabError, match="already has 2 epochs"):
        resume_classifier(folder)


def test_resume_finishes_a_gan_killed_while_writing_its_weights(tmp_path, monkeypatch):
    from conftest import synthetic_fashion
    from fashionlab.gan.train import GanConfig, train_gan
    from fashionlab.runtime.runs import Run, read_weights, run_finished

    data = synthetic_fashion(n_train=64, n_test=16)
    config = GanConfig(epochs=1, batch_size=32, samples=2, device="cpu", figures=False,
                       model_args={"g_width": 16, "d_width": 8}, out=str(tmp_path / "gan"))
    saving = Run.save_weights

    def killed(self, tensors, name="model.safetensors"):
        if name == "generator.safetensors":
            raise _Killed
        saving(self, tensors, name)

    with monkeypatch.context() as patch:
        patch.setattr(Run, "save_weights", killed)
        with pytest.raises(_Killed):
            train_gan(config, data)
    assert not (tmp_path / "gan" / "generator.safetensors").exists()
    train_gan(GanConfig(**{**vars(config), "out": str(tmp_path / "w")}), data)
    result = train_gan(GanConfig(resume=str(tmp_path / "gan"), device="cpu"), data)
    assert result.history == []  # nothing trained again
    finished = read_weights(tmp_path / "gan", "generator.safetensors")
    expected = read_weights(tmp_path / "w", "generator.safetensors")
    assert finished.keys() == expected.keys()
    assert all(torch.equal(finished[k], expected[k]) for k in expected)
    assert run_finished(tmp_path / "gan")


def test_inpaint_resumes_bit_for_bit_after_a_kill(tmp_path, monkeypatch):
    from conftest import synthetic_fashion
    from fashionlab.inpaint import train as inpainting
    from fashionlab.runtime.runs import read_weights

    data = synthetic_fashion(n_train=300, n_test=40)
    settings = dict(model="mlp", steps=10, checkpoint_every=3, n_val=100, n_eval=20,
                    n_pool=50, width=4, batch_size=16)
    whole = inpainting.inpaint(inpainting.InpaintConfig(**settings, out=str(tmp_path / "w")),
                               data)
    log = inpainting.Run.log_metrics

    def killed_at_step_8(self, row):
        if row["step"] == 8:
            raise _Killed
        log(self, row)

    with monkeypatch.context() as patch:
        patch.setattr(inpainting.Run, "log_metrics", killed_at_step_8)
        with pytest.raises(_Killed):
            inpainting.inpaint(inpainting.InpaintConfig(**settings, out=str(tmp_path / "k")),
                               data)
    resumed = inpainting.resume_inpaint(tmp_path / "k", data)  # from the step-6 checkpoint
    assert resumed["steps"] == 10 and resumed["test"] == whole["test"]
    a, b = read_weights(tmp_path / "w"), read_weights(tmp_path / "k")
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(FashionlabError, match="already has its 10 steps"):
        inpainting.resume_inpaint(tmp_path / "k", data)
