"""Train a Fashion-MNIST classifier into a run folder.

The defaults are the reference notebook's: the dense ``mlp`` model, Adam with
learning rate 1e-3, batch 32, 20 epochs (Keras' defaults). The whole training set
lives as one normalised tensor on the device and batches are slices of it.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from fashionlab.data import load_fashion_mnist, normalize
from fashionlab.data.batches import shuffled_batches
from fashionlab.errors import FashionlabError
from fashionlab.models import create_model, get_entry
from fashionlab.train.device import (
    Distributed,
    all_reduce_sum,
    configure_cpu,
    init_distributed,
    seed_everything,
)
from fashionlab.train.runs import Run


@dataclass
class ClassifierConfig:
    """Everything that defines a classifier run; stored in the run's config.json."""

    model: str = "mlp"  # a registered classifier (see `fashionlab models`)
    model_args: dict[str, Any] = field(default_factory=dict)  # keyword arguments of the model
    epochs: int = 20  # the reference notebook trains 20 epochs
    batch_size: int = 32  # Keras' default batch size
    lr: float = 1e-3  # Adam's default learning rate
    weight_decay: float = 0.0  # decoupled (AdamW) weight decay; 0 = plain Adam
    n_val: int = 5000  # validation images carved from the 60,000 training images
    seed: int = 0  # seeds the split, the initialisation and the batch order
    device: str = "auto"  # auto | cpu | cuda
    data_dir: str | None = None  # Fashion-MNIST folder; None = $FASHIONLAB_DATA, cache, download
    out: str = "runs/classifier"  # the run folder
    eval_batch_size: int = 1000  # batch size for validation and test passes
    figures: bool = True  # write curves, prediction plot, confusion matrix, mistakes

    def validate(self) -> None:
        get_entry(self.model, "classifier")
        for name in ("epochs", "batch_size", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise FashionlabError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise FashionlabError(f"lr must be positive, got {self.lr}")


@dataclass
class ClassifierResult:
    """What a finished run reports: its folder and its last validation and test metrics."""

    run_dir: Path
    val_accuracy: float
    test_accuracy: float
    seconds_per_epoch: float
    history: list[dict[str, float]]


def train_step(
    model: nn.Module, optimizer: torch.optim.Optimizer, images: torch.Tensor, labels: torch.Tensor
) -> dict[str, torch.Tensor]:
    """One optimisation step; returns the summed loss and correct count (as tensors, no sync)."""
    logits = model(images)  # (B, 10)
    loss = F.cross_entropy(logits, labels)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    with torch.no_grad():
        correct = (logits.argmax(1) == labels).sum()
    return {"loss_sum": loss.detach() * len(labels), "correct": correct}


@torch.inference_mode()
def evaluate_tensors(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int
) -> dict[str, float]:
    """Mean loss and accuracy of ``model`` on normalised images already on its device."""
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), device=images.device)
    correct = torch.zeros((), device=images.device, dtype=torch.long)
    for start in range(0, len(images), batch_size):
        x, y = images[start : start + batch_size], labels[start : start + batch_size]
        logits = model(x).float()
        loss_sum += F.cross_entropy(logits, y, reduction="sum")
        correct += (logits.argmax(1) == y).sum()
    model.train(was_training)
    n = max(len(images), 1)
    return {"loss": loss_sum.item() / n, "accuracy": correct.item() / n}


def build_optimizer(model: nn.Module, config: ClassifierConfig) -> torch.optim.Optimizer:
    device_type = next(model.parameters()).device.type
    fused = device_type in ("cpu", "cuda")  # one kernel for the whole update
    if config.weight_decay:
        return torch.optim.AdamW(
            model.parameters(), lr=config.lr, weight_decay=config.weight_decay, fused=fused
        )
    return torch.optim.Adam(model.parameters(), lr=config.lr, fused=fused)


def train_classifier(config: ClassifierConfig) -> ClassifierResult:
    """Train ``config.model`` and write the run folder; returns the final metrics."""
    config.validate()
    ctx, device = init_distributed(config.device)
    run = Run(config.out) if ctx.is_main else None
    data = load_fashion_mnist(config.data_dir)
    split = data.split(config.n_val, config.seed)
    configure_cpu()
    seed_everything(config.seed)

    model = create_model(config.model, "classifier", **config.model_args).to(device)
    train_model: nn.Module = model
    if ctx.enabled:
        train_model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    optimizer = build_optimizer(model, config)

    x_train = normalize(split.train_images).unsqueeze(1).to(device)  # (N, 1, 28, 28)
    y_train = split.train_labels.to(device)
    x_val = normalize(split.val_images).unsqueeze(1).to(device)
    y_val = split.val_labels.to(device)

    if run is not None:
        run.write_config(run_config(config, model))
        run.start_metrics()

    batch_order = torch.Generator().manual_seed(config.seed)
    history: list[dict[str, float]] = []
    epoch_seconds: list[float] = []
    for epoch in range(1, config.epochs + 1):
        start = time.perf_counter()
        row = train_one_epoch(
            train_model, optimizer, x_train, y_train, config, batch_order, ctx, epoch
        )
        epoch_seconds.append(time.perf_counter() - start)
        val = evaluate_tensors(model, x_val, y_val, config.eval_batch_size)
        row.update(val_loss=val["loss"], val_accuracy=val["accuracy"])
        row.update(epoch=epoch, seconds=round(epoch_seconds[-1], 3))
        history.append(row)
        if run is not None:
            run.log_metrics(row)
            tqdm.write(
                f"epoch {epoch:3d}  loss {row['loss']:.4f}  acc {row['accuracy']:.4f}  "
                f"val_loss {row['val_loss']:.4f}  val_acc {row['val_accuracy']:.4f}  "
                f"({epoch_seconds[-1]:.2f} s)"
            )

    x_test = normalize(data.test_images).unsqueeze(1).to(device)
    test = evaluate_tensors(model, x_test, data.test_labels.to(device), config.eval_batch_size)
    if run is not None:
        run.save_weights(model.state_dict())
        if config.figures:
            from fashionlab.classify import write_classifier_figures

            write_classifier_figures(run.path, model, data, history, device)
    return ClassifierResult(
        run_dir=Path(config.out),
        val_accuracy=history[-1]["val_accuracy"],
        test_accuracy=test["accuracy"],
        seconds_per_epoch=sum(epoch_seconds) / len(epoch_seconds),
        history=history,
    )


def train_one_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    images: torch.Tensor,
    labels: torch.Tensor,
    config: ClassifierConfig,
    generator: torch.Generator,
    ctx: Distributed,
    epoch: int,
) -> dict[str, float]:
    """One pass over this process's shard of the training set."""
    model.train()
    batches = list(
        shuffled_batches(len(images), config.batch_size, generator, shard=(ctx.rank, ctx.world_size))
    )
    totals = torch.zeros(3, device=images.device)  # loss sum, correct, count
    bar = tqdm(
        batches, desc=f"epoch {epoch}/{config.epochs}", leave=False, disable=not ctx.is_main,
        mininterval=0.5,
    )
    for i, idx in enumerate(bar):
        idx = idx.to(images.device, non_blocking=True)
        out = train_step(model, optimizer, images[idx], labels[idx])
        totals[0] += out["loss_sum"]
        totals[1] += out["correct"]
        totals[2] += len(idx)
        if i % 200 == 0 and ctx.is_main:
            loss, correct, count = totals.tolist()
            bar.set_postfix(loss=f"{loss / count:.4f}", acc=f"{correct / count:.4f}", refresh=False)
    all_reduce_sum(totals, ctx)
    loss, correct, count = totals.tolist()
    return {"loss": loss / count, "accuracy": correct / count}


def run_config(config: ClassifierConfig, model: nn.Module) -> dict[str, Any]:
    """The config.json of a classifier run: enough to rebuild the model without code."""
    return {
        "kind": "classifier",
        "model": config.model,
        "model_args": config.model_args,
        "parameters": sum(p.numel() for p in model.parameters()),
        "trainer": asdict(config),
    }
