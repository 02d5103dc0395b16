"""The GAN metrics' known ways to lie, each a test that fails if they do: a one-image
generator, a generator that copies its training images, real against real, fewer samples
than feature dimensions, a KID subset larger than the sample, and sets of one image."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from conftest import synthetic_fashion
from fashionlab.errors import FashionlabError
from fashionlab.gan.score import format_score, score_images
from fashionlab.metrics.features import ClassifierFeatures
from fashionlab.metrics.fid import frechet_distance, kernel_distance
from fashionlab.metrics.memorisation import (
    KAGGLE_EPSILON,
    memorisation_report,
    mifid,
    near_copy_threshold,
    self_nearest,
)
from fashionlab.metrics.prdc import precision_recall
from fashionlab.models import create_model

pytestmark = pytest.mark.usefixtures("one_thread")


def gaussian(n: int, d: int = 8, shift: float = 0.0, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64) + shift


def mlp_features() -> ClassifierFeatures:
    torch.manual_seed(0)
    return ClassifierFeatures(create_model("mlp", "classifier"), {"run": None, "model": "mlp"})


# --------------------------------------------------------------------------- mode collapse


def test_a_one_image_generator_has_precision_but_no_recall_and_no_coverage():
    real = gaussian(500, seed=1)
    collapsed = real[:1].repeat(200, 1)  # the same realistic image, 200 times
    result = precision_recall(real, collapsed, k=3)
    assert result["precision"] == 1.0  # every sample is realistic...
    assert result["recall"] <= 0.01  # ...but the variety of the data is lost
    assert result["coverage"] <= 0.02
    varied = precision_recall(real, gaussian(200, seed=2), k=3)
    assert varied["recall"] > 0.5 and varied["coverage"] > 0.5  # the same test can pass


# --------------------------------------------------------------------------- real vs real


def test_real_against_real_gives_fid_near_zero_and_a_kid_interval_covering_zero():
    a, b = gaussian(2000, seed=3), gaussian(2000, seed=4)
    assert frechet_distance(a, b) < 0.05
    kid = kernel_distance(a, b, subset_size=500, subsets=50)
    low, high = kid["interval"]
    assert low < 0 < high and low == pytest.approx(kid["mean"] - 1.96 * kid["std"])
    shifted = kernel_distance(a, gaussian(2000, shift=0.5, seed=5), subset_size=500, subsets=50)
    assert shifted["interval"][0] > 0  # a real difference is not covered
    assert frechet_distance(a, gaussian(2000, shift=0.5, seed=5)) > 1.0


# --------------------------------------------------------------------------- few samples


@pytest.mark.parametrize("seed", range(5))
def test_fid_from_fewer_samples_than_dimensions_warns_and_stays_real_and_non_negative(seed):
    a, b = gaussian(20, d=64, seed=seed), gaussian(20, d=64, seed=seed + 100)
    with pytest.warns(UserWarning, match="FID from 20 samples in 64 feature dimensions"):
        self_fid = frechet_distance(a, a)
    # the non-symmetric square root gives -2e-6 and imaginary parts here (scipy's sqrtm)
    assert type(self_fid) is float and 0 <= self_fid < 1e-9
    with pytest.warns(UserWarning, match="singular"):
        fid = frechet_distance(a, b * 1e-3)  # a nearly zero covariance against a full one
    assert type(fid) is float and math.isfinite(fid) and fid > 0
    expected_means = float(((a.mean(0) - (b * 1e-3).mean(0)) ** 2).sum())
    assert fid >= expected_means  # the covariance terms add a non-negative amount


def test_fid_with_enough_samples_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        frechet_distance(gaussian(100, d=8), gaussian(100, d=8, seed=1))


def test_a_kid_subset_larger_than_the_sample_is_lowered_and_said_so():
    a, b = gaussian(300, seed=6), gaussian(120, seed=7)
    with pytest.warns(UserWarning, match="KID subset size 1000 is larger.*subsets of 120"):
        kid = kernel_distance(a, b, subset_size=1000, subsets=5)
    assert kid["subset_size"] == 120 and kid["requested_subset_size"] == 1000
    assert "requested_subset_size" not in kernel_distance(a, b, subset_size=100, subsets=5)


@pytest.mark.filterwarnings("ignore:FID from 60 samples")
def test_score_images_lowers_the_kid_subset_and_the_report_says_so():
    data = synthetic_fashion(n_train=60, n_test=200)
    with pytest.warns(UserWarning, match="subsets of 60"):
        report = score_images(data.train_images, data.test_images, mlp_features(),
                              kid_subset_size=100, kid_subsets=5)
    assert report["kid"]["subset_size"] == 60 and report["kid"]["requested_subset_size"] == 100
    assert "subsets of 60, lowered from 100: fewer images than that" in format_score(report)


@pytest.mark.parametrize("which", ["generated", "real"])
def test_sets_of_one_image_are_refused(which):
    data = synthetic_fashion(n_train=50, n_test=50)
    one, many = data.train_images[:1], data.test_images
    generated, real = (one, many) if which == "generated" else (many, one)
    with pytest.raises(FashionlabError, match=f"1 {which} image.* cannot be scored"):
        score_images(generated, real, mlp_features(), kid_subset_size=10)


# --------------------------------------------------------------------------- memorisation


def test_self_nearest_finds_the_nearest_other_image_and_duplicates():
    points = np.array([[0.0], [1.0], [3.0], [3.0], [10.0]], dtype=np.float32)
    distances = self_nearest(points, queries=5, seed=0)
    pick = np.random.default_rng(0).permutation(5)
    expected = {0: 1.0, 1: 1.0, 2: 0.0, 3: 0.0, 4: 7.0}
    assert distances.tolist() == [expected[int(i)] for i in pick]
    assert near_copy_threshold(np.arange(101.0), 0.01) == pytest.approx(1.0)
    with pytest.raises(FashionlabError, match="between 0 and 1"):
        near_copy_threshold(distances, 0.0)


def _memorisation(generated, train, features, fid=1.0):
    return memorisation_report(generated, train, features(generated), features(train), fid,
                               queries=300)


def test_a_generator_that_outputs_training_images_is_flagged():
    features = mlp_features()
    train = synthetic_fashion(n_train=400, n_test=1, seed=3).train_images
    copies = _memorisation(train[:100], train, features)
    assert copies["pixels"]["near_copy_fraction"] == 1.0
    assert copies["features"]["near_copy_fraction"] == 1.0
    assert copies["pixels"]["min_nearest"] == 0.0
    assert copies["closest_pairs"][0]["pixel_distance"] == 0.0
    assert copies["mifid"]["penalised"] and copies["mifid"]["value"] > 1e6  # FID 1 / ~0

    fresh = synthetic_fashion(n_train=100, n_test=1, seed=4).train_images  # new draws
    new = _memorisation(fresh, train, features)
    assert new["pixels"]["near_copy_fraction"] < 0.1
    assert new["pixels"]["min_nearest"] > new["pixels"]["threshold"] * 0.5


def test_a_slightly_changed_copy_is_still_a_near_copy_in_pixels():
    features = mlp_features()
    train = synthetic_fashion(n_train=400, n_test=1, seed=5).train_images
    noisy = (train[:50].int() + torch.randint(-2, 3, (50, 28, 28),
                                              generator=torch.Generator().manual_seed(0)))
    report = _memorisation(noisy.clamp(0, 255).to(torch.uint8), train, features)
    assert report["pixels"]["near_copy_fraction"] == 1.0
    assert {p["train"] for p in report["closest_pairs"]} <= set(range(50))


def test_mifid_is_fid_divided_by_the_memorisation_distance_below_epsilon():
    g = np.random.default_rng(0)
    train = np.abs(g.normal(size=(200, 16)))
    far = np.abs(g.normal(size=(50, 16))) + np.eye(16)[g.integers(0, 16, 50)] * 5
    close = train[:50] + np.abs(g.normal(scale=0.05, size=(50, 16)))

    def reference_distance(x):
        unit = lambda v: v / np.linalg.norm(v, axis=1, keepdims=True)  # noqa: E731
        return float((1 - np.abs(unit(x) @ unit(train).T)).min(1).mean())

    result = mifid(2.0, far, train, epsilon=0.1)
    assert result["memorisation_distance"] == pytest.approx(reference_distance(far))
    assert result["memorisation_distance"] >= 0.1 and not result["penalised"]
    assert result["value"] == pytest.approx(2.0)
    copied = mifid(2.0, close, train, epsilon=0.01)
    assert copied["memorisation_distance"] == pytest.approx(reference_distance(close))
    assert copied["penalised"] and 0 < copied["memorisation_distance"] < 0.01
    assert copied["value"] == pytest.approx(2.0 / copied["memorisation_distance"], rel=1e-6)
    assert copied["value_at_kaggle_epsilon"] == copied["value"]  # also below Kaggle's 0.1
    strict = mifid(2.0, close, train, epsilon=copied["memorisation_distance"] / 2)
    assert strict["value"] == pytest.approx(2.0) and not strict["penalised"]
    assert strict["value_at_kaggle_epsilon"] == pytest.approx(copied["value"])
    # 1 - |cos|: a feature pointing the opposite way is as close as the same one
    assert mifid(2.0, -train[:5], train, 0.1)["memorisation_distance"] == pytest.approx(
        0, abs=1e-9)


def test_self_nearest_in_cosine_is_one_minus_the_largest_absolute_cosine():
    g = np.random.default_rng(1)
    points = g.normal(size=(40, 5))
    points[7] = -3 * points[3]  # opposite direction: cosine distance 0 in 1 - |cos|
    unit = points / np.linalg.norm(points, axis=1, keepdims=True)
    cd = 1 - np.abs(unit @ unit.T)
    np.fill_diagonal(cd, np.inf)
    pick = np.random.default_rng(0).permutation(40)
    got = self_nearest(points, queries=40, seed=0, cosine=True)
    assert got == pytest.approx(cd.min(1)[pick], abs=1e-9)
    assert got[list(pick).index(3)] == pytest.approx(0, abs=1e-12)


def test_mifid_epsilon_comes_from_the_training_images_and_spares_new_images():
    features = mlp_features()
    train = synthetic_fashion(n_train=400, n_test=1, seed=3).train_images
    fresh = synthetic_fashion(n_train=100, n_test=1, seed=4).train_images
    new = _memorisation(fresh, train, features)["mifid"]
    copies = _memorisation(train[:100], train, features)["mifid"]
    assert 0 < new["epsilon"] == copies["epsilon"] < KAGGLE_EPSILON
    assert not new["penalised"] and new["value"] == pytest.approx(1.0)
    assert copies["penalised"] and copies["value"] > 1e6
    assert new["epsilon_rule"].startswith("the 0.01 quantile of 1 - |cos|")


def test_score_images_reports_memorisation_and_mifid_beside_fid():
    data = synthetic_fashion(n_train=300, n_test=300, seed=6)
    report = score_images(data.train_images[:150], data.test_images, mlp_features(),
                          kid_subset_size=100, kid_subsets=5, train=data.train_images)
    assert report["memorisation"]["pixels"]["near_copy_fraction"] == 1.0
    assert report["mifid"]["penalised"] and report["mifid"]["value"] > report["fid"]
    text = format_score(report)
    assert "MiFID" in text and "FID divided by it" in text
    assert "near copies of training images (pixels): 150 (100.00%" in text
    assert "near copies of training images (features): 150 (100.00%" in text


def test_the_real_against_real_benchmark_scores_test_images_as_a_perfect_generator():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "metric_floor.py"
    spec = importlib.util.spec_from_file_location("metric_floor", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)

    data = synthetic_fashion(n_train=600, n_test=200, seed=9)
    report = bench.real_against_real(mlp_features(), data, n=200, kid_subset_size=100,
                                     kid_subsets=10)
    assert report["samples"]["generated"] == report["samples"]["real"] == 200
    assert report["samples"]["generated_source"] == "the first 200 test images"
    low, high = report["kid"]["interval"]
    assert low < 0 < high
    assert report["memorisation"]["training_images"] == 600
    assert report["memorisation"]["pixels"]["near_copy_fraction"] < 0.1
    assert report["memorisation"]["self_queries"] == 600
