"""Audit the Fashion-MNIST files: duplicates, train/test overlap, suspected label errors.

- Exact duplicates: images with the same 784 bytes, found by hashing them (a dict of the
  raw bytes), within each split and between them.
- Near duplicates: pairs whose root-mean-square pixel difference (pixels on [0, 1]) is at
  most ``NEAR_DUPLICATE_RMS`` = 0.03, about 8 grey levels of 255 on average: a Euclidean
  distance of 0.03 * 28 = 0.84. The value was chosen by looking at the closest test/train
  pairs of the official files (the figure of ``fashionlab audit-data``): the pairs below it
  are the same picture to the eye, above it the same product in another photograph or
  merely similar trousers begin. The search is exact and fast: the images are projected on
  ``PCA_DIMENSIONS`` principal components, a projection on orthonormal axes can only
  shorten distances, so every pair within the radius in pixels is also within it in the
  projection (no pair is missed); scikit-learn's radius search there gives candidates, and
  each candidate is checked on the full 784 pixels.
- Suspected label errors: images that a cross-validated model confidently puts in another
  class. The model is cheap on purpose (it must run in a minute or two on 2 CPU cores):
  ``LABEL_PCA`` principal components, standardised, then a multinomial logistic
  regression, ``LABEL_FOLDS``-fold cross-validation over the training and test images
  together, so that each image is judged by a model that never saw it. An image is a
  suspect when that model gives another class a probability of at least
  ``SUSPECT_CONFIDENCE``; the list shows the suspects whose own label got the lowest
  probability. This model is weaker than the project's CNNs (its out-of-fold accuracy is
  in the report): many suspects are hard images, not wrong labels; look at the figure.

Nothing is written into the data folder.
"""

from __future__ import annotations

import hashlib
import time
import warnings
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors

from fashionlab.data.fashion_mnist import (
    CLASS_NAMES,
    FashionMNIST,
    data_dir_option,
    load_fashion_mnist,
)
from fashionlab.errors import FashionlabError
from fashionlab.options import option, positive_int

NEAR_DUPLICATE_RMS = 0.03  # root-mean-square pixel difference on [0, 1] (module docstring)
PCA_DIMENSIONS = 32  # the near-duplicate search's projection (any number is exact)
PCA_FIT_IMAGES = 10_000  # images the projection is fitted on (any projection is exact)
LABEL_PCA = 50  # components the label model sees
LABEL_FOLDS = 5
SUSPECT_CONFIDENCE = 0.9  # another class at least this probable: a suspected label error
SUSPECTS_LISTED = 16
PAIRS_LISTED = 16


@dataclass
class AuditConfig:
    """What ``fashionlab audit-data`` checks and how."""

    data_dir: str | None = data_dir_option()
    out: str | None = option("runs/audit.png", "the figure to write", metavar="FIGURE.png")
    near_rms: float = option(NEAR_DUPLICATE_RMS, "near duplicates: root-mean-square pixel "
                             "difference (on [0, 1]) at most")
    folds: int = option(LABEL_FOLDS, "folds of the label model")
    confidence: float = option(SUSPECT_CONFIDENCE, "a suspected label error: the model gives "
                               "another class at least this")
    labels: bool = option(True, "skip the label check (the slow part)", flag="--no-labels")
    max_train: int | None = option(None, "only the first N training images (quick checks)",
                                   metavar="N", parse=positive_int)
    max_test: int | None = option(None, "only the first N test images (quick checks)",
                                  metavar="N", parse=positive_int)
    seed: int = option(0, "the folds and the projection's fit sample")

    def validate(self) -> None:
        if not 0 < self.near_rms < 1:
            raise FashionlabError(f"--near-rms must be between 0 and 1, got {self.near_rms}")
        if self.folds < 2:
            raise FashionlabError(f"--folds must be at least 2, got {self.folds}")
        if not 0 < self.confidence < 1:
            raise FashionlabError(f"--confidence must be between 0 and 1, got {self.confidence}")
        for name in ("max_train", "max_test"):
            value = getattr(self, name)
            if value is not None and value < 2:
                raise FashionlabError(f"--{name.replace('_', '-')} must be at least 2, "
                                      f"got {value}")


def _rows(images: torch.Tensor | np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(images, dtype=np.uint8).reshape(len(images), -1))


def exact_groups(images: torch.Tensor | np.ndarray) -> list[list[int]]:
    """Groups (each of 2+ indices, in order) of byte-identical images."""
    seen: dict[bytes, list[int]] = defaultdict(list)
    for i, row in enumerate(_rows(images)):
        seen[row.tobytes()].append(i)
    return [group for group in seen.values() if len(group) > 1]


def exact_matches(queries: torch.Tensor | np.ndarray,
                  reference: torch.Tensor | np.ndarray) -> list[tuple[int, int]]:
    """(query index, first reference index) of each query with a byte-identical reference."""
    first: dict[bytes, int] = {}
    for j, row in enumerate(_rows(reference)):
        first.setdefault(row.tobytes(), j)
    matches = ((i, first.get(row.tobytes())) for i, row in enumerate(_rows(queries)))
    return [(i, j) for i, j in matches if j is not None]


def rms_radius(rms: float) -> float:
    """The Euclidean distance of 28x28 images on [0, 1] whose RMS difference is ``rms``."""
    return rms * 28.0


def near_pairs(queries: torch.Tensor | np.ndarray, reference: torch.Tensor | np.ndarray,
               rms: float = NEAR_DUPLICATE_RMS, same_set: bool = False,
               seed: int = 0) -> list[tuple[int, int, float]]:
    """(query, reference, distance) of every pair at most ``rms`` apart (as RMS pixel
    difference, distance on [0, 1] pixels) but not identical. ``same_set``: queries and
    reference are one set; each pair is listed once (query < reference)."""
    q = _rows(queries).astype(np.float32) / 255
    r = _rows(reference).astype(np.float32) / 255
    radius = rms_radius(rms)
    pick = np.random.default_rng(seed).permutation(len(r))[:PCA_FIT_IMAGES]
    axes = PCA(min(PCA_DIMENSIONS, len(pick), r.shape[1]), random_state=seed).fit(r[pick])
    search = NearestNeighbors(radius=radius * (1 + 1e-4) + 1e-5, algorithm="brute")
    # the projection can only shorten distances: candidates hold every true pair
    candidates = search.fit(axes.transform(r)).radius_neighbors(axes.transform(q),
                                                                return_distance=False)
    rows = np.repeat(np.arange(len(q)), [len(c) for c in candidates])
    cols = np.concatenate(candidates) if len(candidates) else np.zeros(0, dtype=int)
    if same_set:
        rows, cols = rows[rows < cols], cols[rows < cols]
    pairs = []
    for start in range(0, len(rows), 20_000):
        i, j = rows[start : start + 20_000], cols[start : start + 20_000]
        d = np.linalg.norm(q[i].astype(np.float64) - r[j], axis=1)
        keep = (d > 0) & (d <= radius)
        pairs += zip(i[keep].tolist(), j[keep].tolist(), d[keep].tolist(), strict=True)
    return sorted(pairs, key=lambda p: p[2])


_CLEAN_CACHE: dict[tuple[str, float], np.ndarray] = {}


def _digest(*arrays: torch.Tensor) -> str:
    h = hashlib.blake2b(digest_size=16)
    for a in arrays:
        h.update(_rows(a).data)
    return h.hexdigest()


def training_copies(train: torch.Tensor, test: torch.Tensor,
                rms: float = NEAR_DUPLICATE_RMS) -> dict[str, np.ndarray]:
    """Boolean masks (test images) ``exact``: a byte-identical training image exists;
    ``near``: a training image at most ``rms`` away (not identical) exists. Computed once
    per process for the same images (a digest of their bytes), never stored on disk."""
    key = (_digest(train, test), rms)
    if key not in _CLEAN_CACHE:
        exact = np.zeros(len(test), dtype=bool)
        near = np.zeros(len(test), dtype=bool)
        exact[[i for i, _ in exact_matches(test, train)]] = True
        near[[i for i, _, _ in near_pairs(test, train, rms)]] = True
        _CLEAN_CACHE[key] = np.stack([exact, near])
    exact, near = _CLEAN_CACHE[key]
    return {"exact": exact.copy(), "near": near.copy()}


def suspected_label_errors(images: np.ndarray, labels: np.ndarray, folds: int = LABEL_FOLDS,
                           confidence: float = SUSPECT_CONFIDENCE,
                           seed: int = 0) -> tuple[np.ndarray, dict[str, Any]]:
    """Out-of-fold class probabilities (N, 10) of the label model (module docstring), and
    its accuracy and settings."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = _rows(images).astype(np.float32) / 255
    if np.bincount(labels, minlength=len(CLASS_NAMES)).min() < folds:
        raise FashionlabError(f"{folds}-fold cross-validation needs at least {folds} images of "
                              "every class: audit more images or lower --folds")
    model = make_pipeline(PCA(min(LABEL_PCA, x.shape[0] // 2), random_state=seed),
                          StandardScaler(), LogisticRegression(max_iter=300))
    split = StratifiedKFold(folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():  # lbfgs's last digits do not change the suspects
        warnings.simplefilter("ignore", ConvergenceWarning)
        probs = cross_val_predict(model, x, labels, cv=split, method="predict_proba")
    return probs, {"model": f"PCA {LABEL_PCA} + standardised logistic regression",
                   "folds": folds, "accuracy": float((probs.argmax(1) == labels).mean()),
                   "confidence": confidence}


def _label_report(data: FashionMNIST, folds: int, confidence: float,
                  seed: int) -> dict[str, Any]:
    images = np.concatenate([_rows(data.train_images), _rows(data.test_images)])
    labels = np.concatenate([data.train_labels.numpy(), data.test_labels.numpy()])
    probs, report = suspected_label_errors(images, labels, folds, confidence, seed)
    predicted, top = probs.argmax(1), probs.max(1)
    own = probs[np.arange(len(labels)), labels]
    flagged = np.flatnonzero((predicted != labels) & (top >= confidence))
    flagged = flagged[np.argsort(own[flagged], kind="stable")]
    n_train = len(data.train_images)
    report["suspects"] = {split: int(((flagged < n_train) == (split == "train")).sum())
                          for split in ("train", "test")}
    report["listed"] = [
        {"split": "train" if i < n_train else "test",
         "index": int(i if i < n_train else i - n_train),
         "label": CLASS_NAMES[labels[i]], "predicted": CLASS_NAMES[predicted[i]],
         "probability": float(top[i]), "label_probability": float(own[i])}
        for i in flagged[:SUSPECTS_LISTED]
    ]
    return report


def _pairs(pairs: list[tuple[int, int, float]], first: str, second: str) -> list[dict]:
    return [{first: i, second: j, "distance": round(d, 4)} for i, j, d in pairs[:PAIRS_LISTED]]


def audit(data: FashionMNIST, config: AuditConfig) -> dict[str, Any]:
    """The audit report of ``data`` (see the module docstring); no figure."""
    config.validate()
    train, test = data.train_images[: config.max_train], data.test_images[: config.max_test]
    clock = time.perf_counter()
    train_exact, test_exact = exact_groups(train), exact_groups(test)
    overlap = exact_matches(test, train)
    train_near = near_pairs(train, train, config.near_rms, same_set=True, seed=config.seed)
    test_near = near_pairs(test, test, config.near_rms, same_set=True, seed=config.seed)
    cross_near = near_pairs(test, train, config.near_rms, seed=config.seed)
    report: dict[str, Any] = {
        "source": str(data.source),
        "images": {"train": len(train), "test": len(test)},
        "exact": {
            "train_groups": len(train_exact),
            "train_extra_copies": sum(len(g) - 1 for g in train_exact),
            "test_groups": len(test_exact),
            "test_extra_copies": sum(len(g) - 1 for g in test_exact),
            "test_in_train": len({i for i, _ in overlap}),
            "train_groups_listed": train_exact[:PAIRS_LISTED],
            "test_in_train_listed": [{"test": i, "train": j} for i, j in overlap[:PAIRS_LISTED]],
        },
        "near": {
            "rms": config.near_rms, "distance": rms_radius(config.near_rms),
            "train_pairs": len(train_near),
            "train_images": len({i for p in train_near for i in p[:2]}),
            "test_pairs": len(test_near),
            "test_in_train": len({i for i, _, _ in cross_near}),
            "train_listed": _pairs(train_near, "train", "other_train"),
            "test_in_train_listed": _pairs(cross_near, "test", "train"),
        },
        "seconds": {"duplicates": round(time.perf_counter() - clock, 2)},
    }
    if config.labels:
        clock = time.perf_counter()
        subset = FashionMNIST(train, data.train_labels[: config.max_train], test,
                              data.test_labels[: config.max_test], data.source)
        report["labels"] = _label_report(subset, config.folds, config.confidence, config.seed)
        report["seconds"]["labels"] = round(time.perf_counter() - clock, 2)
    report["config"] = asdict(config)
    return report


def audit_data(config: AuditConfig) -> dict[str, Any]:
    """Read the official files (read only), audit them and draw the figure (``config.out``)."""
    from fashionlab.runtime.files import prepare_output_file

    config.validate()
    out = prepare_output_file(config.out) if config.out else None  # fail before the work
    data = load_fashion_mnist(config.data_dir)
    report = audit(data, config)
    if out is not None:
        report["figure"] = str(save_audit_figure(report, data, out))
    return report


def save_audit_figure(report: dict[str, Any], data: FashionMNIST, path: str | Path,
                      columns: int = 8) -> Path:
    """Rows of the closest pairs within the training set, of test images over their
    nearest training copy, then the suspected label errors, each captioned."""
    from fashionlab.viz.grids import pair_cells, save_captioned_grid

    images = {"train": data.train_images, "test": data.test_images}
    near = report["near"]
    cells, captions, parts = [], [], []
    sections = (("train", "other_train", near["train_listed"], "near duplicates in train"),
                ("test", "train", near["test_in_train_listed"], "test images near a training one"))
    for first, second, pairs, title in sections:
        pairs = pairs[:columns]
        if not pairs:
            continue
        one = images["train" if first == "train" else "test"][[p[first] for p in pairs]]
        two = data.train_images[[p[second] for p in pairs]]
        c, t = pair_cells(one, two, [f"{first} {p[first]}" for p in pairs],
                          [f"train {p[second]}\nd={p['distance']:.2f}" for p in pairs], columns)
        cells.append(c)
        captions += t
        parts.append(f"{title} (pairs in columns)")
    listed = report.get("labels", {}).get("listed", [])
    if listed:
        suspects = torch.stack([images[s["split"]][s["index"]] for s in listed])
        pad = -len(listed) % columns
        cells += [suspects, torch.zeros(pad, 28, 28, dtype=torch.uint8)]
        captions += [f"{s['split']} {s['index']}: {s['label']}\nmodel: {s['predicted']} "
                     f"{100 * s['probability']:.0f}%" for s in listed] + [None] * pad
        parts.append("suspected label errors")
    if not cells:
        cells, captions = [torch.zeros(1, 28, 28, dtype=torch.uint8)], [None]
        parts = ["no duplicate, overlap or suspect found"]
    return save_captioned_grid(torch.cat(cells), captions, path, columns=columns,
                               title="; ".join(parts))


def format_audit(report: dict[str, Any]) -> str:
    """The counts as text, with how each was found."""
    n, exact, near = report["images"], report["exact"], report["near"]
    lines = [
        f"{report['source']}: {n['train']:,} training and {n['test']:,} test images",
        (f"exact duplicates: train {exact['train_groups']} groups ({exact['train_extra_copies']} "
         f"extra copies), test {exact['test_groups']} groups; test images also in train: "
         f"{exact['test_in_train']}"),
        (f"near duplicates (RMS pixel difference <= {near['rms']:g}, distance <= "
         f"{near['distance']:.2f}, not identical): train {near['train_pairs']} pairs "
         f"({near['train_images']} images), test {near['test_pairs']} pairs; test images "
         f"near a training image: {near['test_in_train']}"),
    ]
    for pair in near["test_in_train_listed"][:5]:
        lines.append(f"  test {pair['test']} ~ train {pair['train']} (distance "
                     f"{pair['distance']:.3f})")
    if "labels" in report:
        lab = report["labels"]
        lines.append(
            f"suspected label errors: train {lab['suspects']['train']}, test "
            f"{lab['suspects']['test']} (another class at >= {lab['confidence']:g} by "
            f"{lab['model']}, {lab['folds']}-fold out-of-fold accuracy {lab['accuracy']:.4f}); "
            "the most suspect:")
        for s in lab["listed"][:10]:
            lines.append(f"  {s['split']} {s['index']}: labelled {s['label']}, model says "
                         f"{s['predicted']} {s['probability']:.3f} ({s['label']} "
                         f"{s['label_probability']:.4f})")
    if "figure" in report:
        lines.append(f"figure: {report['figure']}")
    return "\n".join(lines)
