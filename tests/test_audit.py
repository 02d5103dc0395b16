"""fashionlab audit-data and the clean-test accuracy: planted duplicates, overlaps and
flipped labels in tiny synthetic data, an exactness check of the near-duplicate search,
bad data folders, and one run on (the first part of) the real files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import synthetic_fashion
from fashionlab.classifier.predict import clean_test_accuracy
from fashionlab.cli import main
from fashionlab.data.audit import (
    AuditConfig,
    audit,
    exact_groups,
    exact_matches,
    format_audit,
    near_pairs,
    rms_radius,
    save_audit_figure,
    training_copies,
)
from fashionlab.data.fashion_mnist import FILES, FashionMNIST
from fashionlab.errors import FashionlabError

pytestmark = pytest.mark.usefixtures("one_thread")


def nudged(image: torch.Tensor, levels: int, seed: int = 0) -> torch.Tensor:
    """``image`` with every pixel moved by up to ``levels`` grey levels (a near copy)."""
    noise = torch.randint(-levels, levels + 1, image.shape,
                          generator=torch.Generator().manual_seed(seed))
    return (image.int() + noise).clamp(0, 255).to(torch.uint8)


@pytest.fixture
def flawed() -> FashionMNIST:
    """Synthetic data with known flaws: train 10 = train 20 (exact), train 40 ~ train 30
    (near), test 5 = train 50 (exact), test 6 ~ train 60 (near), test 8 = test 9 (exact),
    and train 100..104 labelled 5 classes off."""
    data = synthetic_fashion(n_train=400, n_test=100, seed=7)
    train, test, labels = (data.train_images.clone(), data.test_images.clone(),
                           data.train_labels.clone())
    train[20] = train[10]
    train[40] = nudged(train[30], 2)
    test[5] = train[50]
    test[6] = nudged(train[60], 3, seed=1)
    test[9] = test[8]
    labels[100:105] = (labels[100:105] + 5) % 10
    return FashionMNIST(train, labels, test, data.test_labels, data.source)


# --------------------------------------------------------------------------- the searches


def test_exact_duplicates_are_found_by_their_bytes(flawed):
    assert exact_groups(flawed.train_images) == [[10, 20]]
    assert exact_groups(flawed.test_images) == [[8, 9]]
    assert exact_matches(flawed.test_images, flawed.train_images) == [(5, 50)]


def test_near_pairs_are_exactly_the_pairs_within_the_radius():
    # images at every distance around the radius: the PCA filter must miss none of them
    base = synthetic_fashion(n_train=60, n_test=1, seed=8).train_images
    copies = torch.stack([nudged(base[i % 60], 1 + i % 7, seed=i) for i in range(120)])
    images = torch.cat([base, copies])
    rms = 0.015
    pairs = near_pairs(images, images, rms, same_set=True)
    x = images.reshape(len(images), -1).double() / 255
    d = torch.cdist(x, x)
    i, j = torch.nonzero((d > 0) & (d <= rms_radius(rms)), as_tuple=True)
    expected = sorted((a, b) for a, b in zip(i.tolist(), j.tolist(), strict=True) if a < b)
    assert sorted((a, b) for a, b, _ in pairs) == expected
    assert 50 < len(expected) < len(images) * (len(images) - 1) // 2  # some in, some out
    distances = [dist for _, _, dist in pairs]
    assert distances == sorted(distances)
    assert distances == pytest.approx(sorted(d[i, j][i < j].tolist()))


def test_training_copies_marks_exact_and_near_copies_of_training_images(flawed):
    copies = training_copies(flawed.train_images, flawed.test_images)
    assert np.flatnonzero(copies["exact"]).tolist() == [5]
    assert np.flatnonzero(copies["near"]).tolist() == [6]
    again = training_copies(flawed.train_images, flawed.test_images)  # cached: the same
    assert all((again[k] == copies[k]).all() for k in copies)


def test_clean_test_accuracy_leaves_out_the_copied_test_images(flawed):
    labels = flawed.test_labels
    probs = torch.nn.functional.one_hot(labels, 10).float()
    probs[20:30] = torch.nn.functional.one_hot((labels[20:30] + 1) % 10, 10).float()  # wrong
    probs[5] = torch.nn.functional.one_hot((labels[5] + 1) % 10, 10).float()
    probs[6] = torch.nn.functional.one_hot((labels[6] + 1) % 10, 10).float()
    clean = clean_test_accuracy(probs, flawed)
    assert clean["samples"] == 98 and clean["excluded"] == {"exact": 1, "near": 1}
    assert clean["accuracy"] == pytest.approx(88 / 98)  # 12 wrong in all, 2 of them left out


# --------------------------------------------------------------------------- the audit


def test_audit_counts_the_planted_flaws_and_lists_the_flipped_labels(flawed, tmp_path):
    report = audit(flawed, AuditConfig(folds=3))
    exact, near = report["exact"], report["near"]
    assert (exact["train_groups"], exact["train_extra_copies"]) == (1, 1)
    assert (exact["test_groups"], exact["test_in_train"]) == (1, 1)
    assert exact["test_in_train_listed"] == [{"test": 5, "train": 50}]
    assert (near["train_pairs"], near["train_images"], near["test_in_train"]) == (1, 2, 1)
    assert near["train_listed"][0]["train"] == 30 and near["train_listed"][0]["other_train"] == 40
    assert near["test_in_train_listed"][0]["test"] == 6
    assert near["distance"] == pytest.approx(0.84)
    labels = report["labels"]
    assert labels["folds"] == 3 and labels["accuracy"] > 0.9
    flagged = {s["index"] for s in labels["listed"] if s["split"] == "train"}
    assert set(range(100, 105)) <= flagged
    assert labels["suspects"]["train"] >= 5
    text = format_audit(report)
    assert "test images also in train: 1" in text and "test 6 ~ train 60" in text
    path = save_audit_figure(report, flawed, tmp_path / "audit.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_audit_options_are_checked():
    for bad, match in ((AuditConfig(near_rms=0), "--near-rms"), (AuditConfig(folds=1), "--folds"),
                       (AuditConfig(confidence=1.0), "--confidence"),
                       (AuditConfig(max_train=1), "--max-train")):
        with pytest.raises(FashionlabError, match=match):
            bad.validate()


def test_audit_data_on_a_damaged_data_folder_is_one_error_line(capsys, tmp_path):
    folder = tmp_path / "damaged"
    folder.mkdir()
    for name in FILES:
        (folder / name).write_bytes(b"\x1f\x8b\x08\x00" + b"not really gzip" * 10)
    before = sorted(p.name for p in folder.iterdir())
    code = main(["audit-data", "--data-dir", str(folder), "--out", str(tmp_path / "a.png")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("error: ") and "is not a complete gzip file" in err
    assert sorted(p.name for p in folder.iterdir()) == before  # nothing written there
    assert not (tmp_path / "a.png").exists()

    code = main(["audit-data", "--data-dir", str(tmp_path / "empty")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: the Fashion-MNIST folder")
    assert "does not hold" in err


# --------------------------------------------------------------------------- the real files


def test_audit_data_on_the_first_part_of_the_real_files(capsys, tmp_path, fashion_dir):
    """The near copies across the split found in the official files (docs/metrics.md), in
    the first 20,000 training and 5,000 test images; the data folder stays untouched."""
    before = {p.name: p.stat().st_mtime_ns for p in Path(fashion_dir).iterdir()}
    out = tmp_path / "audit.png"
    code = main(["audit-data", "--data-dir", str(fashion_dir), "--out", str(out), "--json",
                 "--max-train", "20000", "--max-test", "5000", "--folds", "3"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["images"] == {"train": 20_000, "test": 5_000}
    assert report["exact"]["train_groups"] == report["exact"]["test_in_train"] == 0
    cross = {(p["test"], p["train"]) for p in report["near"]["test_in_train_listed"]}
    assert {(4998, 13360), (2605, 11932), (2115, 18494)} <= cross
    assert report["near"]["test_in_train_listed"][0]["distance"] == pytest.approx(0.082, abs=1e-3)
    assert 0.8 < report["labels"]["accuracy"] < 0.9 and report["labels"]["listed"]
    assert report["figure"] == str(out) and out.stat().st_size > 0
    assert {p.name: p.stat().st_mtime_ns for p in Path(fashion_dir).iterdir()} == before
