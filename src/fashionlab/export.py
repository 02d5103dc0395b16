"""Export the model of a run folder to ONNX, to run it without fashionlab or PyTorch.

* A classifier run: input ``images``, uint8 (N, 28, 28) as Fashion-MNIST stores them
  (a light garment on black; a photo goes through ``fashionlab.data.user_images`` first);
  output ``probabilities``, float32 (N, 10). The graph holds the run's whole prediction:
  the normalisation and its test-time averaging (mirror image, shifts), so it gives
  what ``fashionlab predict`` and ``evaluate`` compute.
* A GAN run: input ``noise``, float32 (N, noise_dim), and for a conditional generator
  ``labels``, int64 (N,); output ``images``, float32 (N, 1, 28, 28) in [-1, 1] (the
  generator's tanh; ``(images + 1) * 127.5`` gives pixel values).

N is free (a dynamic axis). Runs of other kinds (inpainting, imputation) are refused.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fashionlab.classifier.augment import tta_views
from fashionlab.data import normalize
from fashionlab.data.fashion_mnist import BACKGROUND
from fashionlab.errors import FashionlabError
from fashionlab.runtime.files import atomic_write_bytes, prepare_output_file
from fashionlab.runtime.runs import read_config

FORMATS = ("onnx",)
KINDS = ("classifier", "gan")
OPSET = 18  # onnxruntime 1.16 (2023) and later run it


class ClassifierGraph(nn.Module):
    """A classifier with its whole prediction: uint8 images (N, 28, 28) -> probabilities
    (N, classes), with the normalisation and the run's test-time averaging (the mean of
    the softmax over ``tta_views``, as ``tta_log_probs``; the views go through the model
    as one batch, so the graph holds the model once)."""

    def __init__(self, model: nn.Module, tta_flip: bool, tta_shift: int):
        super().__init__()
        self.model, self.tta_flip, self.tta_shift = model, tta_flip, tta_shift

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = normalize(images).unsqueeze(1)  # (N, 1, 28, 28)
        views = tta_views(x, self.tta_flip, self.tta_shift, BACKGROUND)
        logits = self.model(torch.cat(views))  # (V * N, classes)
        log_probs = logits.float().log_softmax(1).unflatten(0, (len(views), -1))  # (V, N, C)
        return log_probs.exp().mean(0)


class GeneratorGraph(nn.Module):
    """A generator with named inputs: noise (N, noise_dim) [, labels (N,)] -> images."""

    def __init__(self, generator: nn.Module):
        super().__init__()
        self.generator = generator

    def forward(self, noise: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.generator(noise, labels)  # (N, 1, 28, 28) in [-1, 1]


def export_run(run_dir: str | Path, out: str | Path, fmt: str = "onnx",
               best: bool = False) -> dict[str, Any]:
    """Write the model of the classifier or GAN run ``run_dir`` to the ONNX file ``out``
    (module docstring); ``best``: a GAN run's best-FID generator. Returns what was written:
    the kind, model, input and output names and shapes."""
    if fmt not in FORMATS:
        raise FashionlabError(f"unknown export format {fmt!r}; choose one of: "
                              f"{', '.join(FORMATS)}")
    out = prepare_output_file(out)
    if out.suffix.lower() != ".onnx":
        raise FashionlabError(f"--out must end in .onnx, got {out.name!r}")
    kind = read_config(run_dir).get("kind")
    if kind not in KINDS:
        raise FashionlabError(f"{run_dir} is a run of kind {kind!r}: only classifier and GAN "
                              "runs can be exported")
    if best and kind != "gan":
        raise FashionlabError("--best picks a GAN run's best-FID generator; drop it for a "
                              f"{kind} run")
    graph, example, names, outputs, described = _graph(run_dir, kind, best)
    batch = torch.export.Dim("n", min=1)
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # "torchvision is not installed...": not ours to fix
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # deprecations inside torch.export
            program = torch.onnx.export(
                graph, example, None, dynamo=True, verbose=False, opset_version=OPSET,
                input_names=names, output_names=outputs,
                dynamic_shapes=tuple({0: batch} for _ in example))
    except ImportError as exc:  # onnxscript, which torch's exporter needs, is missing
        raise FashionlabError(f"export needs the app extra: pip install -e \".[app]\" "
                              f"({exc})") from None
    finally:
        quiet.setLevel(level)
    atomic_write_bytes(out, program.model_proto.SerializeToString())
    return {"run": str(run_dir), "out": str(out), "kind": kind, **described}


def _graph(run_dir, kind: str, best: bool):
    """The module to export, an example input, its input and output names, and a
    description of them for the report."""
    if kind == "classifier":
        from fashionlab.classifier.predict import load_classifier

        loaded = load_classifier(run_dir, "cpu")
        graph = ClassifierGraph(loaded.model, loaded.tta_flip, loaded.tta_shift).eval()
        example = (torch.zeros(2, 28, 28, dtype=torch.uint8),)
        return graph, example, ["images"], ["probabilities"], {
            "model": loaded.config["model"],
            "inputs": {"images": "uint8 (N, 28, 28)"},
            "outputs": {"probabilities": "float32 (N, 10)"}}
    from fashionlab.gan.generate import load_generator

    loaded = load_generator(run_dir, "cpu", best)
    graph = GeneratorGraph(loaded.model).eval()
    noise = torch.zeros(2, loaded.model.noise_dim)
    inputs = {"noise": f"float32 (N, {loaded.model.noise_dim})"}
    if loaded.num_classes:
        inputs["labels"] = f"int64 (N,), 0-{loaded.num_classes - 1}"
        example: tuple = (noise, torch.zeros(2, dtype=torch.long))
    else:
        example = (noise,)
    return graph, example, list(inputs), ["images"], {
        "model": loaded.config["model"], "inputs": inputs,
        "outputs": {"images": "float32 (N, 1, 28, 28) in [-1, 1]"}}
