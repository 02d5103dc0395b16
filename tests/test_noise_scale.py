"""The generator's noise scale: z ~ N(0, s^2 I) in generate, score, CAS and cas_choice.py."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import synthetic_fashion
from fashionlab.data import from_tanh_range
from fashionlab.errors import FashionlabError
from fashionlab.gan.generate import (
    GenerateConfig,
    balanced_classes,
    check_noise_scale,
    load_generator,
    sample_images,
)
from fashionlab.gan.score import ScoreConfig, format_score, generator_sampler, score_run

pytestmark = pytest.mark.usefixtures("one_thread")

BAD_SCALES = [0, 0.0, -1.0, float("nan"), float("inf"), "abc", None]


@pytest.fixture(scope="module")
def cgan_run(tmp_path_factory):
    """A tiny conditional GAN run (3 steps on synthetic data)."""
    from fashionlab.gan.train import GanConfig, train_gan

    out = tmp_path_factory.mktemp("gans") / "cgan"
    train_gan(GanConfig(model="cgan", epochs=1, steps_per_epoch=3, batch_size=32, figures=False,
                        out=str(out), device="cpu"), data=synthetic_fashion(n_train=256, n_test=16))
    return out


def test_check_noise_scale_accepts_positive_finite_numbers_only():
    assert check_noise_scale(1) == 1.0 and check_noise_scale("1.5") == 1.5
    for bad in BAD_SCALES:
        with pytest.raises(FashionlabError, match="--noise-scale must be a positive finite "
                                                  f"number, got {bad!r}"):
            check_noise_scale(bad)


def test_the_noise_is_the_seeded_normal_draw_times_the_scale(cgan_run):
    loaded = load_generator(cgan_run, "cpu")
    labels = balanced_classes(20, 3)
    z = torch.randn(20, loaded.model.noise_dim, generator=torch.Generator().manual_seed(3))
    for scale in (1.0, 0.5, 1.6):
        with torch.no_grad():
            expected = from_tanh_range(loaded.model(z * scale, labels).float())[:, 0]
        got = sample_images(loaded, 20, 3, labels, noise_scale=scale)
        assert torch.equal(got, expected), scale
    default = sample_images(loaded, 20, 3, labels)
    assert torch.equal(default, sample_images(loaded, 20, 3, labels, noise_scale=1.0))
    assert not torch.equal(default, sample_images(loaded, 20, 3, labels, noise_scale=1.6))
    with pytest.raises(FashionlabError, match="--noise-scale must be a positive"):
        sample_images(loaded, 20, 3, labels, noise_scale=-1.0)


def test_cas_draws_use_the_same_noise_scale(cgan_run):
    loaded = load_generator(cgan_run, "cpu")
    draw = generator_sampler(cgan_run, seed=5, device="cpu", noise_scale=1.4)
    images, labels = draw(30, 2)
    assert torch.equal(labels, balanced_classes(30, 7))
    assert torch.equal(images, sample_images(loaded, 30, 7, labels, noise_scale=1.4))
    with pytest.raises(FashionlabError, match="--noise-scale must be a positive"):
        generator_sampler(cgan_run, 0, "cpu", noise_scale=0.0)


def test_score_samples_every_metric_and_cas_at_the_noise_scale(
    cgan_run, classifier_run, fashion_dir, monkeypatch
):
    import fashionlab.gan.score as score

    asked = []
    real_sampler = score.generator_sampler

    def recording_sampler(run, seed, device="auto", best=False, noise_scale=1.0):
        asked.append(noise_scale)
        return real_sampler(run, seed, device, best, noise_scale)

    monkeypatch.setattr(score, "generator_sampler", recording_sampler)

    def small(scale: float) -> ScoreConfig:
        return ScoreConfig(run=str(cgan_run), classifier=str(classifier_run), n=200,
                           kid_subset_size=100, kid_subsets=5, cas_model="mlp", cas_epochs=2,
                           cas_samples=100, cas_fresh=True, device="cpu",
                           data_dir=str(fashion_dir), noise_scale=scale, memorisation=False)

    plain, wide = score_run(small(1.0)), score_run(small(1.5))
    assert asked == [1.0, 1.5]  # CAS's own draws
    assert plain["run"]["noise_scale"] == 1.0 and wide["config"]["noise_scale"] == 1.5
    assert plain["fid"] != wide["fid"]  # the scored images differ too
    assert "noise scale 1.5" in format_score(wide).splitlines()[0]
    assert "noise scale" not in format_score(plain).splitlines()[0]
    with pytest.raises(FashionlabError, match="--noise-scale must be a positive"):
        score_run(small(float("nan")))


def test_generate_cli_writes_the_scaled_images_and_rejects_bad_scales(
    capsys, cgan_run, tmp_path
):
    from fashionlab.cli import main

    out = tmp_path / "wide.npy"
    assert main(["generate", str(cgan_run), "--n", "20", "--seed", "2", "--noise-scale", "1.3",
                 "--out", str(out), "--device", "cpu"]) == 0
    assert "seed 2, noise scale 1.3)" in capsys.readouterr().out
    expected = sample_images(load_generator(cgan_run, "cpu"), 20, 2, balanced_classes(20, 2),
                             noise_scale=1.3)
    assert np.array_equal(np.load(out), expected.numpy())
    for bad in ("0", "-2", "nan", "inf"):
        code = main(["generate", str(cgan_run), "--noise-scale", bad,
                     "--out", str(tmp_path / "x.png")])
        err = capsys.readouterr().err
        assert code == 2 and err.startswith("error: --noise-scale must be a positive finite")
    with pytest.raises(FashionlabError, match="--noise-scale"):
        GenerateConfig(run=str(cgan_run), noise_scale=0.0).validate()


def test_score_cli_rejects_a_bad_noise_scale_before_any_work(capsys, tmp_path):
    from fashionlab.cli import main

    code = main(["score", str(tmp_path / "missing"), "--classifier", "x", "--noise-scale", "-1"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "--noise-scale must be a positive finite number, got -1.0" in err


def load_benchmark(name: str):
    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cas_choice_picks_on_validation_and_tests_beside_scale_one(
    cgan_run, fashion_dir, tmp_path, capsys
):
    bench = load_benchmark("cas_choice")
    out = tmp_path / "choice.json"
    results = bench.main([str(cgan_run), "--models", "mlp", "--noise-scales", "1.0", "1.5",
                          "--samples", "100", "--test-samples", "150", "--epochs", "1",
                          "--no-real-baseline", "--device", "cpu",
                          "--data-dir", str(fashion_dir), "--json", str(out)])
    validation = results["validation"]
    assert [(row["model"], row["noise_scale"]) for row in validation] == [("mlp", 1.0),
                                                                          ("mlp", 1.5)]
    best = max(validation, key=lambda row: row["cas"])
    assert results["chosen"] == {"model": "mlp", "noise_scale": best["noise_scale"]}
    tested = {float(s) for s in results["test"]}
    assert tested == {best["noise_scale"], 1.0}  # the chosen scale beside 1.0
    assert all(t["train_samples"] == 150 and t["test_samples"] == 10_000
               and "real_accuracy" not in t for t in results["test"].values())
    assert json.loads(out.read_text())["chosen"] == results["chosen"]
    assert "chosen on validation: 'mlp'" in capsys.readouterr().out
    only = bench.main([str(cgan_run), "--models", "mlp", "--noise-scales", "1.0", "1.5",
                       "--samples", "100", "--epochs", "1", "--validation-only", "--device",
                       "cpu", "--data-dir", str(fashion_dir)])
    assert [row["cas"] for row in only["validation"]] == [row["cas"] for row in validation]
    assert only["chosen"] == results["chosen"] and only["test"] == {}  # seeded: the same choice
    with pytest.raises(SystemExit) as exit_info:
        bench.main([str(cgan_run), "--noise-scales", "1.0", "0"])
    assert exit_info.value.code == 2
    assert "--noise-scale must be a positive finite number, got 0.0" in capsys.readouterr().err


def test_gan_quality_commands_carry_the_noise_scale():
    bench = load_benchmark("gan_quality")
    config = ScoreConfig(run="", classifier="CNN", best=True, noise_scale=1.4)
    table = bench.markdown_table([{"run": "CGAN", "error": "x"}], config)
    assert table.rstrip().endswith("fashionlab score CGAN --classifier CNN --noise-scale 1.4 "
                                   "--best")
