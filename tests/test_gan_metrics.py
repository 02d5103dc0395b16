"""GAN metrics on tiny synthetic data: FID/KID against NumPy/SciPy references,
precision/recall on constructed manifolds, classifier agreement, CAS, and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch
from torchmetrics.image.fid import FrechetInceptionDistance

from conftest import synthetic_fashion, write_untrained_classifier_run
from fashionlab.errors import FashionlabError
from fashionlab.gan.generate import balanced_classes
from fashionlab.gan.score import ScoreConfig, format_score, score_images, score_run
from fashionlab.metrics.agreement import class_agreement, class_histogram
from fashionlab.metrics.cas import CASConfig, classification_accuracy_score
from fashionlab.metrics.features import (
    NOT_INCEPTION,
    ClassifierFeatures,
    as_uint8_images,
    load_feature_network,
)
from fashionlab.metrics.fid import fid_on_subset, frechet_distance, kernel_distance
from fashionlab.metrics.prdc import precision_recall
from fashionlab.models import create_model

pytestmark = pytest.mark.usefixtures("one_thread")


def gaussian(n: int, d: int = 6, shift: float = 0.0, scale: float = 1.0, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64) * scale + shift


def reference_fid(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.numpy(), b.numpy()
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def reference_kid(a: torch.Tensor, b: torch.Tensor) -> float:
    """Unbiased MMD^2 with the kernel (x.y / d + 1)^3 (Binkowski et al. 2018), in NumPy."""
    x, y = a.numpy(), b.numpy()
    d, m = x.shape[1], len(x)
    kxx, kyy, kxy = (((p @ q.T) / d + 1) ** 3 for p, q in ((x, x), (y, y), (x, y)))
    return float((kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
                 - 2 * kxy.mean())


def mlp_features() -> ClassifierFeatures:
    torch.manual_seed(0)
    return ClassifierFeatures(create_model("mlp", "classifier"), {"run": None, "model": "mlp"})


# --------------------------------------------------------------------------- FID


def test_fid_matches_scipy_reference():
    a, b = gaussian(400, seed=1), gaussian(300, shift=0.4, scale=1.3, seed=2)
    assert frechet_distance(a, b) == pytest.approx(reference_fid(a, b), rel=1e-6)


def test_fid_of_a_set_with_itself_is_zero_and_grows_with_a_shift():
    a = gaussian(500, seed=3)
    assert abs(frechet_distance(a, a)) < 1e-8
    fids = [frechet_distance(a, gaussian(500, shift=s, seed=4)) for s in (0.0, 0.5, 1.0, 2.0)]
    assert fids == sorted(fids)
    # a shift of s in each of the 6 dimensions adds 6 s^2 to the mean term
    assert fids[3] - fids[0] == pytest.approx(6 * 4.0, rel=0.1)


def test_fid_rejects_mismatched_features():
    with pytest.raises(FashionlabError, match="same d"):
        frechet_distance(gaussian(10, d=3), gaussian(10, d=4))


# --------------------------------------------------------------------------- KID


def test_kid_matches_numpy_reference_on_the_full_sets():
    a, b = gaussian(60, seed=5), gaussian(60, shift=0.3, seed=6)
    # one subset as large as the sets: the subset is the whole set, in some order
    kid = kernel_distance(a, b, subset_size=60, subsets=1)
    assert kid["mean"] == pytest.approx(reference_kid(a, b), rel=1e-6, abs=1e-9)
    assert kid["std"] == 0.0 and kid["interval"] == [kid["mean"], kid["mean"]]


def test_kid_is_near_zero_for_one_distribution_larger_for_a_shift_and_seeded():
    a, b, c = gaussian(400, seed=7), gaussian(400, seed=8), gaussian(400, shift=1.0, seed=9)
    same = kernel_distance(a, b, subset_size=100, subsets=20)["mean"]
    shifted = kernel_distance(a, c, subset_size=100, subsets=20)["mean"]
    assert abs(same) < 0.05 < shifted
    assert kernel_distance(a, c, 100, 20, seed=3) == kernel_distance(a, c, 100, 20, seed=3)


# --------------------------------------------------------------------------- precision / recall


def test_precision_and_recall_of_identical_sets_are_one():
    a = gaussian(200, seed=10)
    result = precision_recall(a, a, k=3)
    assert result["precision"] == result["recall"] == result["coverage"] == 1.0


def test_precision_and_recall_of_disjoint_clusters_are_zero():
    result = precision_recall(gaussian(200, seed=11), gaussian(200, shift=50.0, seed=12))
    assert result["precision"] == result["recall"] == result["density"] == 0.0


def test_mode_collapse_keeps_precision_and_loses_recall():
    real = torch.cat([gaussian(200, seed=13), gaussian(200, shift=50.0, seed=14)])
    collapsed = gaussian(400, seed=15)  # every sample from the first mode only
    result = precision_recall(real, collapsed)
    assert result["precision"] > 0.9
    assert 0.25 < result["recall"] <= 0.5
    assert 0.25 < result["coverage"] <= 0.5


def test_precision_recall_needs_more_samples_than_k():
    with pytest.raises(FashionlabError, match="more than 3 generated samples"):
        precision_recall(gaussian(50), gaussian(3), k=3)


# --------------------------------------------------------------------------- features


def test_classifier_features_work_as_a_torchmetrics_feature_module():
    features = mlp_features()
    data = synthetic_fashion(n_train=64, n_test=64)
    real, fake = data.train_images, data.test_images
    out = features(real)
    assert out.shape == (64, features.num_features) == (64, 128) and out.dtype == torch.float32
    # torchmetrics driving the module on the images == our path on precomputed features
    direct = FrechetInceptionDistance(feature=features)
    direct.update(real, real=True)
    direct.update(fake, real=False)
    assert float(direct.compute()) == pytest.approx(
        frechet_distance(features(real), features(fake)), rel=1e-3)
    assert not features.training and not features.model.training
    assert features.describe() == {"run": None, "model": "mlp", "feature_dim": 128,
                                   "layer": "penultimate"}


def test_fid_on_subset_uses_precomputed_reference_features():
    features = mlp_features()
    data = synthetic_fashion(n_train=200, n_test=200)
    reference = features(data.train_images)
    same = fid_on_subset(data.test_images, reference, features)
    noise = torch.randint(0, 256, (200, 28, 28), dtype=torch.uint8, generator=torch.Generator())
    assert 0 <= same < fid_on_subset(noise, reference, features)


def test_images_must_be_uint8_28x28():
    with pytest.raises(FashionlabError, match="uint8 images of shape"):
        as_uint8_images(torch.rand(4, 28, 28))
    with pytest.raises(FashionlabError, match="uint8 images of shape"):
        as_uint8_images(np.zeros((4, 32, 32), dtype=np.uint8))
    assert as_uint8_images(np.zeros((4, 1, 28, 28), dtype=np.uint8)).shape == (4, 28, 28)


def test_feature_network_is_loaded_from_a_classifier_run_only(tmp_path):
    from fashionlab.runtime.runs import Run

    run_path = write_untrained_classifier_run(tmp_path / "clf")
    features = load_feature_network(run_path, "cpu")
    assert features.describe()["run"] == str(run_path) and features.num_features == 128

    other = Run(tmp_path / "gan")
    other.write_config({"kind": "gan", "model": "dcgan"})
    with pytest.raises(FashionlabError, match="is a gan run, not a classifier run"):
        load_feature_network(other.path, "cpu")


# --------------------------------------------------------------------------- classifier judgements


def test_class_agreement_per_requested_class():
    requested = torch.tensor([0, 0, 0, 0, 7, 7])
    predicted = torch.tensor([0, 0, 0, 6, 7, 5])
    probs = torch.nn.functional.one_hot(predicted, 10).float() * 0.9 + 0.01
    result = class_agreement(probs, requested)
    assert result["agreement"] == pytest.approx(4 / 6)
    assert result["per_class"]["T-shirt/top"] == {
        "requested": 4, "agreement": 0.75,
        "mean_confidence": pytest.approx(0.91 * 3 / 4 + 0.01 / 4), "most_confused_with": "Shirt"}
    assert result["per_class"]["Sneaker"]["most_confused_with"] == "Sandal"
    assert set(result["per_class"]) == {"T-shirt/top", "Sneaker"}
    hist = class_histogram(probs)
    assert hist["classes"]["T-shirt/top"]["count"] == 3 and hist["samples"] == 6


def test_class_agreement_needs_one_class_per_image():
    with pytest.raises(FashionlabError, match="one requested class per image"):
        class_agreement(torch.rand(5, 10), torch.tensor([1, 2]))


def test_cas_learns_from_well_labelled_images_and_not_from_shuffled_labels():
    data = synthetic_fashion(n_train=500, n_test=200, seed=1)
    config = CASConfig(model="mlp", epochs=5, batch_size=32, device="cpu")
    good = classification_accuracy_score(data.train_images, data.train_labels,
                                         data.test_images, data.test_labels, config)
    shuffled = data.train_labels[torch.randperm(500, generator=torch.Generator().manual_seed(0))]
    bad = classification_accuracy_score(data.train_images, shuffled,
                                        data.test_images, data.test_labels, config)
    assert good["cas"] > 0.9
    assert bad["cas"] < 0.4
    assert good["train_samples"] == 500 and good["test_samples"] == 200
    assert good["classifier"]["model"] == "mlp" and good["classifier"]["epochs"] == 5


def test_cas_rejects_labels_outside_the_classes():
    data = synthetic_fashion(n_train=20, n_test=20)
    with pytest.raises(FashionlabError, match="labelled 0..9"):
        classification_accuracy_score(data.train_images, data.train_labels + 10,
                                      data.test_images, data.test_labels)


# --------------------------------------------------------------------------- the whole report


def test_score_images_reports_every_metric_and_how_it_was_made():
    features = mlp_features()
    data = synthetic_fashion(n_train=300, n_test=300, seed=2)
    labels = balanced_classes(300)
    assert torch.bincount(labels).tolist() == [30] * 10
    report = score_images(data.train_images, data.test_images, features, labels=data.train_labels,
                          real_labels=data.test_labels, kid_subset_size=100, kid_subsets=10,
                          cas=CASConfig(model="mlp", epochs=3, device="cpu"))
    assert report["note"] == NOT_INCEPTION and "NOT Inception" in report["note"]
    assert report["feature_network"]["feature_dim"] == 128
    assert report["samples"] == {"generated": 300, "real": 300}
    assert report["kid"]["subset_size"] == 100 and report["kid"]["subsets"] == 10
    assert 0 < report["fid"] < 50 and report["precision_recall"]["precision"] > 0.5
    assert 0 <= report["agreement"]["agreement"] <= 1 and report["cas"]["cas"] > 0.8
    text = format_score(report)
    assert "NOT Inception" in text and "300 generated vs 300 real" in text
    assert "KID" in text and "100 subsets" not in text and "10 subsets of 100" in text

    self_report = score_images(data.test_images, data.test_images, features, kid_subset_size=100,
                               kid_subsets=5)
    assert abs(self_report["fid"]) < 1e-3 and self_report["precision_recall"]["recall"] == 1.0
    assert "agreement" not in self_report and "cas" not in self_report


# --------------------------------------------------------------------------- fashionlab score


def test_score_of_a_run_that_is_not_a_gan_is_a_clear_error(capsys, classifier_run):
    from fashionlab.cli import main

    code = main(["score", str(classifier_run), "--classifier", str(classifier_run)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip() == (f"error: {classifier_run} is a classifier run, not a GAN run: "
                           "`fashionlab score` scores the run folder of `fashionlab train gan`")


def test_score_of_one_image_is_refused_before_any_work(capsys, tmp_path):
    from fashionlab.cli import main

    code = main(["score", str(tmp_path / "missing"), "--classifier", "x", "--n", "1"])
    err = capsys.readouterr().err
    assert code == 2 and err == "error: --n must be at least 2, got 1\n"


@pytest.fixture(scope="module")
def gan_runs(tmp_path_factory):
    """A tiny unconditional and a tiny conditional GAN run (3 steps on synthetic data)."""
    from fashionlab.gan.train import GanConfig, train_gan

    root = tmp_path_factory.mktemp("gans")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    for model in ("lite", "cgan"):
        train_gan(GanConfig(model=model, epochs=1, steps_per_epoch=3, batch_size=32,
                            figures=False, out=str(root / model), device="cpu"),
                  data=synthetic_fashion(n_train=256, n_test=16))
    torch.set_num_threads(threads)
    return {"lite": root / "lite", "cgan": root / "cgan"}


def small_score(run, classifier, fashion_dir, **kwargs) -> ScoreConfig:
    kwargs.setdefault("memorisation", False)  # one test below measures it on the real data
    return ScoreConfig(run=str(run), classifier=str(classifier), n=200, kid_subset_size=100,
                       kid_subsets=5, cas_epochs=1, device="cpu", data_dir=str(fashion_dir),
                       **kwargs)


def test_score_run_of_an_unconditional_gan(gan_runs, classifier_run, fashion_dir, tmp_path,
                                           monkeypatch):
    import fashionlab.metrics.memorisation as memorisation

    monkeypatch.setattr(memorisation, "SELF_QUERIES", 500)  # the threshold's sample: faster
    figure = tmp_path / "pairs.png"
    report = score_run(small_score(gan_runs["lite"], classifier_run, fashion_dir,
                                   memorisation=True, figure=str(figure)))
    assert report["samples"] == {"generated": 200, "real": 10_000,
                                 "real_source": "Fashion-MNIST test set"}
    assert report["run"]["model"] == "lite" and not report["run"]["conditional"]
    assert report["feature_network"]["run"] == str(classifier_run)
    assert report["fid"] > 0 and "agreement" not in report and "cas" not in report
    assert sum(c["count"] for c in report["class_histogram"]["classes"].values()) == 200
    # memorisation against the 60,000 training images: a GAN trained 3 steps copies nothing
    memo = report["memorisation"]
    assert memo["training_images"] == 60_000 and memo["quantile"] == 0.01
    assert memo["self_queries"] == 500
    assert memo["pixels"]["near_copies"] == 0 and memo["pixels"]["threshold"] > 0
    assert memo["pixels"]["min_nearest"] > memo["pixels"]["threshold"]
    assert len(memo["closest_pairs"]) == 10 and memo["figure"] == str(figure)
    assert figure.stat().st_size > 0
    distances = [p["pixel_distance"] for p in memo["closest_pairs"]]
    assert distances == sorted(distances) and distances[0] == memo["pixels"]["min_nearest"]
    mifid = report["mifid"]
    assert mifid["value"] == pytest.approx(report["fid"] / (
        mifid["memorisation_distance"] if mifid["penalised"] else 1.0))
    text = format_score(report)
    assert "MiFID" in text and "near copies of training images (pixels): 0 (0.00%" in text


def test_score_run_of_a_conditional_gan_asks_for_every_class_equally(
    gan_runs, classifier_run, fashion_dir
):
    report = score_run(small_score(gan_runs["cgan"], classifier_run, fashion_dir))
    assert report["run"]["conditional"]
    assert [row["requested"] for row in report["agreement"]["per_class"].values()] == [20] * 10
    assert report["cas"]["train_samples"] == 200 and report["cas"]["test_samples"] == 10_000
    assert 0 <= report["cas"]["cas"] <= 1

    one = score_run(small_score(gan_runs["cgan"], classifier_run, fashion_dir,
                                class_name="sneaker"))
    assert one["samples"]["real"] == 1000 and one["run"]["class"] == "Sneaker"
    assert list(one["agreement"]["per_class"]) == ["Sneaker"] and "cas" not in one


def test_cas_can_train_on_its_own_larger_draw_of_generated_images(
    gan_runs, classifier_run, fashion_dir
):
    report = score_run(small_score(gan_runs["cgan"], classifier_run, fashion_dir,
                                   cas_samples=300, cas_model="mlp"))
    assert report["samples"]["generated"] == 200  # FID and agreement: the n scored images
    assert report["cas"]["train_samples"] == 300 and report["config"]["cas_samples"] == 300
    with pytest.raises(FashionlabError, match="--cas-samples cannot be negative"):
        score_run(small_score(gan_runs["cgan"], classifier_run, fashion_dir, cas_samples=-1))


def test_cas_can_draw_fresh_generated_images_each_epoch_with_augmentation(
    gan_runs, classifier_run, fashion_dir
):
    from fashionlab.gan.score import generator_sampler

    config = small_score(gan_runs["cgan"], classifier_run, fashion_dir, cas_model="mlp",
                         cas_fresh=True, cas_crop_padding=2, cas_flip=True)
    config.cas_epochs = 3
    report = score_run(config)
    cas = report["cas"]
    assert cas["train_samples"] == 200 and cas["distinct_train_samples"] == 600
    assert cas["classifier"]["fresh_each_epoch"] and cas["classifier"]["crop_padding"] == 2
    assert cas["classifier"]["flip"] and report["config"]["cas_fresh"]
    assert "a new draw of 200 generated images each epoch, crop padding 2 and flips" in (
        format_score(report))

    draw = generator_sampler(gan_runs["cgan"], seed=0, device="cpu")
    images, labels = draw(50, 2)
    again, again_labels = draw(50, 2)
    other, _ = draw(50, 3)
    assert images.dtype == torch.uint8 and images.shape == (50, 28, 28)
    assert torch.equal(images, again) and torch.equal(labels, again_labels)
    assert torch.bincount(labels, minlength=10).tolist() == [5] * 10
    assert not torch.equal(images, other)


def test_score_with_negative_cas_crop_padding_is_a_clear_error(capsys, gan_runs, classifier_run):
    from fashionlab.cli import main

    code = main(["score", str(gan_runs["cgan"]), "--classifier", str(classifier_run),
                 "--cas-fresh", "--cas-crop-padding", "-1"])
    err = capsys.readouterr().err
    assert code == 2 and err == "error: --cas-crop-padding cannot be negative, got -1\n"


def test_score_of_an_unknown_class_lists_the_valid_names(capsys, gan_runs, classifier_run):
    from fashionlab.cli import main

    code = main(["score", str(gan_runs["cgan"]), "--classifier", str(classifier_run),
                 "--class", "hat"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("error: unknown class 'hat'; choose a name or index: 0=T-shirt/top")
    assert "7=Sneaker" in err


def test_score_of_a_class_from_an_unconditional_gan_is_a_clear_error(
    capsys, gan_runs, classifier_run
):
    from fashionlab.cli import main

    code = main(["score", str(gan_runs["lite"]), "--classifier", str(classifier_run),
                 "--class", "bag"])
    err = capsys.readouterr().err
    assert code == 2 and "is an unconditional GAN: it cannot make a chosen class" in err


def test_score_cli_prints_json_and_text(capsys, gan_runs, classifier_run, fashion_dir, tmp_path):
    import json

    from fashionlab.cli import main

    common = [str(gan_runs["lite"]), "--classifier", str(classifier_run), "--n", "200",
              "--kid-subset-size", "100", "--kid-subsets", "5", "--data-dir", str(fashion_dir),
              "--device", "cpu", "--no-memorisation"]
    assert main(["score", *common, "--json", "--out", str(tmp_path / "score.json")]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads((tmp_path / "score.json").read_text())
    assert printed["note"] == NOT_INCEPTION and printed["kid"]["subset_size"] == 100
    assert main(["score", *common]) == 0
    text = capsys.readouterr().out
    assert "200 generated vs 10,000 real images" in text and "NOT Inception" in text


def test_gan_quality_benchmark_table(gan_runs, classifier_run, fashion_dir):
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "gan_quality.py"
    spec = importlib.util.spec_from_file_location("gan_quality", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)

    config = small_score("", classifier_run, fashion_dir, cas=False)
    runs = [str(gan_runs["lite"]), str(gan_runs["cgan"]), str(classifier_run)]
    rows = bench.score_runs(runs, config)
    assert [row["epochs"] for row in rows[:2]] == [1, 1] and rows[0]["seconds"] > 0
    assert "is a classifier run, not a GAN run" in rows[2]["error"]  # reported, not fatal
    table = bench.markdown_table(rows, config)
    lines = table.splitlines()
    assert lines[0].startswith("| run | model | epochs | train wall time (s) | FID | KID")
    assert lines[2].startswith(f"| {gan_runs['lite']} | lite | 1 |")
    assert f"fashionlab score {gan_runs['cgan']} --classifier {classifier_run} --n 200" in table
    assert NOT_INCEPTION in table and "200 generated images per run" in table


def test_gan_quality_benchmark_commands_carry_the_cas_options():
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "gan_quality.py"
    spec = importlib.util.spec_from_file_location("gan_quality", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)

    config = ScoreConfig(run="", classifier="CNN", cas_samples=60_000, cas_fresh=True,
                         cas_crop_padding=2, cas_flip=True, best=True)
    table = bench.markdown_table([{"run": "CGAN", "model": "cgan", "error": "not scored"}], config)
    assert ("fashionlab score CGAN --classifier CNN --cas-samples 60000 --cas-crop-padding 2 "
            "--cas-fresh --cas-flip --best") in table
    plain = bench.markdown_table([{"run": "CGAN", "error": "x"}],
                                 ScoreConfig(run="", classifier="CNN"))
    assert plain.rstrip().endswith("fashionlab score CGAN --classifier CNN")
