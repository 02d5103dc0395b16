"""What the web app's tabs do, without Gradio: each function takes what the page sends
(a run's name, files the page uploaded into the app's temporary folder, numbers) and
returns what the page shows. A run is named by its folder relative to the runs folder
and looked up among the runs found there, so no path from the browser is ever opened.
Errors a user can cause are ``FashionlabError``: the page shows their message.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from fashionlab.data import CLASS_NAMES, parse_class
from fashionlab.data.user_images import (
    MAX_PIXELS,
    as_8bit,
    convert_picture,
    fit_mask,
    read_user_picture,
)
from fashionlab.errors import FashionlabError
from fashionlab.runtime.run_table import find_runs, summarize_run

KINDS = ("classifier", "gan", "inpaint")
# What makes a run of each kind, for a page that finds none.
MAKE_RUNS = {
    "classifier": "fashionlab demo --quick (all three kinds, in runs/demo), or fashionlab "
                  "train classifier --model mlp --out runs/mlp",
    "gan": "fashionlab demo --quick, or fashionlab train gan --model cgan --out runs/cgan",
    "inpaint": "fashionlab demo --quick, or fashionlab inpaint --out runs/inpaint",
}
GRID_MAX = 64  # images in a generated grid
PLOTTED_COLUMNS, PLOTTED_ROWS = 4, 500  # what the Impute tab's figure shows of a table
SHOWN = 168  # the 28x28 pictures are shown this many pixels wide (6x, nearest neighbour)


class Runs:
    """The run folders under ``root`` by kind, and their models, each loaded once."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self._lock = threading.Lock()
        self._loaded: dict[tuple[str, Path], Any] = {}
        self.found: dict[str, dict[str, dict[str, Any]]] = {kind: {} for kind in KINDS}
        self.refresh()

    def refresh(self) -> None:
        """Scan the runs folder again (a missing folder holds no run)."""
        found: dict[str, dict[str, dict[str, Any]]] = {kind: {} for kind in KINDS}
        for run in find_runs([self.root]) if self.root.is_dir() else []:
            summary = summarize_run(run)
            if summary["kind"] in found:
                name = run.relative_to(self.root).as_posix()
                found[summary["kind"]][name] = {**summary, "path": run}
        self.found = found

    def choices(self, kind: str) -> list[tuple[str, str]]:
        """(label, name) of each run of ``kind``: the label adds its model and result."""
        return [(f"{name} ({s['model']}, {s['result']})" if s["result"] != "-"
                 else f"{name} ({s['model']})", name) for name, s in self.found[kind].items()]

    def missing(self, kind: str) -> str:
        """What the page says when there is no run of ``kind``, or "" when there is one."""
        if self.found[kind]:
            return ""
        return (f"No {kind} run under {self.root}/. Make one with: {MAKE_RUNS[kind]}; then "
                "reload this page (or start the app with --runs DIR).")

    def load(self, kind: str, name: str | None) -> Any:
        """The loaded model of the run ``name`` of ``kind`` (a classifier, a generator, or an
        inpainting generator and its config)."""
        if not name:
            raise FashionlabError(self.missing(kind) or f"choose a {kind} run")
        if name not in self.found[kind]:
            raise FashionlabError(f"no {kind} run named {name!r} under {self.root}; "
                                  "reload the page to see the runs there now")
        path = self.found[kind][name]["path"]
        with self._lock:
            if (kind, path) not in self._loaded:
                self._loaded[(kind, path)] = _load(kind, path)
            return self._loaded[(kind, path)]


def _load(kind: str, path: Path) -> Any:
    if kind == "classifier":
        from fashionlab.classifier.predict import load_classifier

        return load_classifier(path, "cpu")
    if kind == "gan":
        from fashionlab.gan.generate import load_generator

        return load_generator(path, "cpu")
    from fashionlab.inpaint.fill import load_inpainter

    return load_inpainter(path)


# --------------------------------------------------------------------------- classify


@dataclass
class Classified:
    """A classified picture: the 28x28 image the model saw and its probabilities."""

    seen: np.ndarray  # uint8 (28, 28)
    probabilities: np.ndarray  # (10,)
    true_class: int | None

    @property
    def predicted(self) -> int:
        return int(self.probabilities.argmax())

    def top(self, k: int = 3) -> dict[str, float]:
        order = self.probabilities.argsort()[::-1][:k]
        return {CLASS_NAMES[i]: float(self.probabilities[i]) for i in order}

    def bars(self) -> dict[str, list]:
        """The bar chart's data: class, probability and colour key (the seed's picture:
        the predicted class red, the true class blue, both blue when they agree)."""
        keys = []
        for i in range(len(CLASS_NAMES)):
            if i == self.true_class:
                keys.append("true class")
            elif i == self.predicted:
                keys.append("predicted" if self.true_class is not None else "top class")
            else:
                keys.append("other")
        return {"class": list(CLASS_NAMES), "probability": self.probabilities.tolist(),
                "bar": keys}

    def verdict(self) -> tuple[str, str]:
        """The label under the picture, and its colour (blue right, red wrong, none)."""
        name = CLASS_NAMES[self.predicted]
        text = f"{name} {100 * self.probabilities[self.predicted]:.0f}%"
        if self.true_class is None:
            return text, "black"
        right = self.predicted == self.true_class
        return (f"{text} ({CLASS_NAMES[self.true_class]})",
                "blue" if right else "red")


def classify(runs: Runs, name: str | None, picture: str | Path | np.ndarray | None,
             true_class: str | None = None) -> Classified:
    """Classify an uploaded picture (a file path) or a sketch (an RGBA array) with the run
    ``name``; ``true_class`` (a name, or None/"") colours the answer."""
    if picture is None:
        raise FashionlabError("upload a picture or draw one first")
    classifier = runs.load("classifier", name)
    if isinstance(picture, np.ndarray):
        seen, _ = convert_picture(as_8bit(Image.fromarray(picture)), name="the sketch")
        seen = torch.from_numpy(seen)
    else:
        seen = read_user_picture(picture).image
    probabilities = classifier.predict_proba(seen[None])[0].numpy()
    truth = parse_class(true_class) if true_class else None
    return Classified(seen.numpy(), probabilities, truth)


def enlarge(image: np.ndarray, width: int = SHOWN) -> Image.Image:
    """A small picture scaled up with nearest neighbours, so its pixels stay visible."""
    picture = Image.fromarray(image)
    return picture.resize((width, round(width * picture.height / picture.width)),
                          Image.Resampling.NEAREST)


# --------------------------------------------------------------------------- generate


def generate_grid(runs: Runs, name: str | None, class_name: str | None, seed: int,
                  noise_scale: float, n: int, folder: Path) -> Path:
    """A PNG grid of ``n`` images from the GAN run ``name`` (of ``class_name`` for a
    conditional run; "" or None: every class in turn), written into ``folder``."""
    from fashionlab.gan.figures import grid_image, save_png
    from fashionlab.gan.generate import balanced_classes, sample_images

    loaded = runs.load("gan", name)
    n = int(n)
    if not 1 <= n <= GRID_MAX:
        raise FashionlabError(f"a grid holds 1 to {GRID_MAX} images, got {n}")
    labels = None
    if class_name and not loaded.num_classes:
        raise FashionlabError(f"{name} is an unconditional GAN: it cannot make a chosen class; "
                              "choose 'any class' or a conditional (cgan) run")
    if loaded.num_classes:
        labels = (torch.full((n,), parse_class(class_name)) if class_name
                  else balanced_classes(n, int(seed)))
    images = sample_images(loaded, n, int(seed), labels, noise_scale=noise_scale)
    return save_png(grid_image(images, min(8, n)), _new_file(folder, "grid", ".png"))


def _new_file(folder: Path, stem: str, suffix: str) -> Path:
    """A new file name in ``folder`` (requests never share a file)."""
    return Path(folder) / f"{stem}-{uuid.uuid4().hex[:12]}{suffix}"


# --------------------------------------------------------------------------- fill


def fill_region(runs: Runs, name: str | None, picture: np.ndarray | None,
                layers: list[np.ndarray] | None) -> Image.Image:
    """Fill the region painted on ``layers`` (RGBA arrays whose opaque pixels mark it) of
    ``picture`` (an array, as the page's editor sends it) with the inpainting run
    ``name``. Returns one image: the 28x28 picture the model saw, the region in red, and
    the fill, side by side (enlarged)."""
    from fashionlab.inpaint.train import fill

    if picture is None:
        raise FashionlabError("upload a picture first")
    if picture.shape[0] * picture.shape[1] > MAX_PIXELS:
        raise FashionlabError(f"the picture is larger than the {MAX_PIXELS:,}-pixel limit")
    generator, _ = runs.load("inpaint", name)
    photo = as_8bit(Image.fromarray(picture))
    seen, placement = convert_picture(photo, name="the picture")
    painted = np.zeros((photo.height, photo.width), dtype=bool)
    for layer in layers or []:
        alpha = Image.fromarray(layer).convert("RGBA").getchannel("A")
        painted |= np.asarray(alpha.resize(photo.size, Image.Resampling.BOX)) >= 128
    mask = fit_mask(Image.fromarray(painted.astype(np.uint8) * 255), photo.size, placement)
    if mask is None or not mask.any():
        raise FashionlabError("paint the region to fill on the garment first")
    image = torch.from_numpy(seen).float().div(255)[None, None]
    visible = torch.from_numpy(~mask).float()[None, None]
    filled = fill(generator, image, visible)[0, 0].mul(255).round().byte().numpy()
    marked = np.stack([seen] * 3, axis=-1)
    marked[mask] = (220, 30, 30)
    gap = np.full((28, 2, 3), 255, dtype=np.uint8)
    row = np.concatenate([np.stack([seen] * 3, -1), gap, marked, gap,
                          np.stack([filled] * 3, -1)], axis=1)
    return enlarge(row, SHOWN * 3)


# --------------------------------------------------------------------------- impute


def impute_file(path: str | Path | None, method: str, folder: Path,
                ) -> tuple[Path, Any, str]:
    """Fill the empty numeric cells of the uploaded CSV with ``method`` (or auto). Returns
    the filled file (in ``folder``), a figure of the filled points and a summary line."""
    import pandas as pd

    from fashionlab.impute.table import ImputeConfig, impute_csv, read_table
    from fashionlab.viz.impute import plot_filled_series

    if path is None:
        raise FashionlabError("upload a CSV file first")
    path = Path(path)
    out = _new_file(folder, Path(path).stem[:40] + "-filled", ".csv")
    result = impute_csv(ImputeConfig(input=path, out=out, method=method or "auto"))
    before, after = read_table(path), read_table(out)
    names = [before.header[j] for j in before.numeric]
    gaps = [k for k in range(len(names)) if np.isnan(before.values[:, k]).any()]
    shown = (gaps or [0])[:PLOTTED_COLUMNS]  # the first columns that had empty cells
    frames = [pd.DataFrame(table.values[:, shown], columns=[f"csv_{names[k]}" for k in shown])
              for table in (before, after)]
    rows = min(len(before.rows), PLOTTED_ROWS)
    figure = plot_filled_series(*frames, "csv", hours=rows, title=(
        f"the first {rows} rows: observed (blue) and filled (red) values"))
    summary = (f"filled {result.missing_cells} empty cell(s) in "
               f"{len(result.numeric_columns)} numeric column(s) of {result.rows} rows "
               f"with {result.method}")
    if result.text_columns:
        summary += f"; text columns kept as they are: {', '.join(result.text_columns)}"
    return out, figure, summary
