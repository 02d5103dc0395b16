"""Train a Fashion-MNIST classifier into a run folder.

The defaults are the reference notebook's: the dense ``mlp`` model, Adam with
learning rate 1e-3, batch 32, 20 epochs (Keras' defaults). The whole training set
lives as one normalised tensor on the device; each epoch gathers it once in a new
random order and batches are contiguous slices of that (the loops themselves are in
``fashionlab.classifier.loop``). Augmentation (crop, flip, erasing) runs per
batch on tensors (``fashionlab.classifier.augment``).

The plain reference recipe on the ``mlp`` trains through ``FastMLPTrainer`` (a
hand-written backward pass with the same gradients, tested against autograd);
every other model or recipe goes through autograd.

After every whole epoch the run folder's ``checkpoint.pt`` holds what is needed to
continue exactly (``resume_classifier``, ``train classifier --resume RUN``): after a
Ctrl-C, a kill, or to train for more epochs.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from fashionlab.classifier.augment import Augment
from fashionlab.classifier.config import ClassifierConfig, fast_mlp_blockers, read_run_config
from fashionlab.classifier.fast_mlp import FastMLPTrainer
from fashionlab.classifier.loop import (
    EpochLoop,
    build_optimizer,
    epoch_data,
    evaluate_tensors,
    fast_mlp_epoch,
    uses_convolutions,
)
from fashionlab.data import load_fashion_mnist, normalize
from fashionlab.data.fashion_mnist import BACKGROUND
from fashionlab.errors import FashionlabError
from fashionlab.runtime.checkpoints import (
    CHECKPOINT,
    capture_rng,
    load_checkpoint,
    restore_rng,
    save_checkpoint,
)
from fashionlab.runtime.device import (
    configure_backends,
    fast_bf16,
    init_distributed,
    seed_everything,
    torch_threads,
)
from fashionlab.runtime.registry import create_model
from fashionlab.runtime.runs import Run, config_from, load_state, run_finished
from fashionlab.runtime.schedules import EMA
from fashionlab.runtime.stop import ctrl_c_stop

STOP_MESSAGE = "stopping after this batch; the run keeps, scores and saves what it trained"


@dataclass
class ClassifierResult:
    """What a finished run reports: its folder and its last validation and test metrics."""

    run_dir: Path
    val_accuracy: float
    test_accuracy: float
    seconds_per_epoch: float
    history: list[dict[str, float]]
    n_test: int  # test images scored (10,000 unless test_subset)
    stopped_by_user: bool = False  # Ctrl-C ended training before its epochs or budget
    config: ClassifierConfig | None = None  # the settings it ran with (a resumed run's own)


def train_classifier(config: ClassifierConfig, stop_on_ctrl_c: bool = False) -> ClassifierResult:
    """Train ``config.model`` and write the run folder; returns the final metrics.

    With ``stop_on_ctrl_c``, a Ctrl-C during the epochs ends training after the current
    batch and the run is finished with what was trained (``fashionlab.runtime.stop``).
    """
    config.validate()
    with torch_threads(config.threads or None):
        return _train(config, stop_on_ctrl_c)


def resume_classifier(
    run_dir: str | Path, epochs: int | None = None, device: str | None = None,
    data_dir: str | None = None, stop_on_ctrl_c: bool = False,
) -> ClassifierResult:
    """Continue the classifier run in ``run_dir`` from the checkpoint of its last finished
    epoch, with its own settings, exactly as if it had not stopped (the weights, optimizer,
    weight average, schedule, clock and random states are restored).

    ``epochs`` sets a new total, beyond the checkpoint's epoch (the learning-rate schedule
    then stretches or shrinks to it); ``device`` and ``data_dir`` may differ from the run's.
    """
    stored = read_run_config(run_dir)
    config = config_from(ClassifierConfig, stored.get("trainer"), f"{run_dir} trainer settings")
    checkpoint = load_checkpoint(Path(run_dir) / CHECKPOINT, keys=CHECKPOINT_KEYS)
    config = replace(config, out=str(run_dir), epochs=epochs or config.epochs,
                     device=device or config.device, data_dir=data_dir or config.data_dir)
    # A run killed after its last checkpoint, before its weights, scores or figures were
    # all written, is finished without training: nothing else would complete it.
    unfinished = not run_finished(run_dir)
    spent = bool(config.time_budget) and checkpoint["train_seconds"] >= config.time_budget
    if config.epochs < checkpoint["epoch"] or (
            config.epochs == checkpoint["epoch"] and not unfinished):
        raise FashionlabError(f"{run_dir} already has {checkpoint['epoch']} epochs; ask for "
                              f"more with --epochs (got {config.epochs})")
    if spent and not unfinished:
        raise FashionlabError(f"{run_dir} has spent its time budget of {config.time_budget:g} s;"
                              " nothing is left to continue")
    config.validate()
    with torch_threads(config.threads or None):
        return _train(config, stop_on_ctrl_c, checkpoint,
                      finish_only=spent or config.epochs == checkpoint["epoch"])


def _train(config: ClassifierConfig, stop_on_ctrl_c: bool,
           checkpoint: dict[str, Any] | None = None, finish_only: bool = False
           ) -> ClassifierResult:
    """Train (or continue from ``checkpoint``), then score, save and draw the run;
    ``finish_only``: no more epochs, only what comes after them."""
    ctx, device = init_distributed(config.device)
    if ctx.enabled and config.time_budget:
        raise FashionlabError("time_budget does not apply under torchrun (ranks would stop "
                              "at different steps); give --epochs instead")
    run = Run(config.out) if ctx.is_main else None
    data = load_fashion_mnist(config.data_dir)
    if config.test_subset:
        data = replace(data, test_images=data.test_images[: config.test_subset],
                       test_labels=data.test_labels[: config.test_subset])
    split = data.split(config.n_val, config.seed if config.split_seed is None
                       else config.split_seed)
    configure_backends()
    seed_everything(config.seed)

    model = create_model(config.model, "classifier", **config.model_args).to(device)
    conv = uses_convolutions(model)
    # auto: bf16 only where it is computed natively (emulated, it is slower than fp32)
    bf16 = config.precision == "bf16" or (config.precision == "auto" and conv
                                          and fast_bf16(device))
    memory_format = torch.channels_last if conv else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    train_model: nn.Module = model
    if ctx.enabled:
        train_model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    if config.compile:
        train_model = torch.compile(train_model)
    optimizer = build_optimizer(model, config)
    ema = EMA(model, config.ema_decay, every=5) if config.ema_decay else None
    eval_model = ema.model if ema is not None else model
    fast = None
    if config.fast_mlp != "off" and not ctx.enabled and not fast_mlp_blockers(config, model):
        fast = FastMLPTrainer(model, lr=config.lr, ema=ema)

    def on_device(images: torch.Tensor) -> torch.Tensor:
        x = normalize(images).unsqueeze(1).to(device)  # (N, 1, 28, 28)
        return x.contiguous(memory_format=memory_format)

    x_train, y_train = on_device(split.train_images), split.train_labels.to(device)
    x_val, y_val = on_device(split.val_images), split.val_labels.to(device)

    batch_order = torch.Generator().manual_seed(config.seed)
    aug_generator = torch.Generator(device).manual_seed(config.seed * 1000 + ctx.rank + 1)
    augment = Augment(config.crop_padding, config.flip, config.erasing, fill=BACKGROUND)
    steps_per_epoch = math.ceil(len(x_train) // ctx.world_size / config.batch_size)
    steps_per_epoch = min(steps_per_epoch, config.steps_per_epoch or steps_per_epoch)
    per_epoch = steps_per_epoch * config.batch_size  # images each process trains on an epoch
    loop = EpochLoop(config, train_model, optimizer, augment, aug_generator, ema, bf16,
                     total_steps=steps_per_epoch * config.epochs,
                     warmup_steps=round(config.warmup_epochs * steps_per_epoch))
    history: list[dict[str, float]] = []
    cpu_seconds, start_epoch = 0.0, 0
    if checkpoint is not None:
        _restore(checkpoint, model, optimizer, ema, fast, loop, batch_order, aug_generator)
        start_epoch, cpu_seconds = checkpoint["epoch"], checkpoint["cpu_seconds"]
    if run is not None and checkpoint is None:
        run.start(run_config(config, model))
    elif run is not None:  # the epochs after the checkpoint are trained again
        run.reopen("classifier")
        run.write_config(run_config(config, model))
        history = run.keep_metrics_until(start_epoch)
    epoch_seconds = [row["seconds"] for row in history]
    with ctrl_c_stop(stop_on_ctrl_c and not ctx.enabled, STOP_MESSAGE) as stop:
        last_epoch = start_epoch if finish_only else config.epochs
        for epoch in range(start_epoch + 1, last_epoch + 1):
            start, cpu_start = time.perf_counter(), time.process_time()
            if fast is not None:  # gathers 16 batches at a time: a whole-epoch copy costs more
                order = torch.randperm(len(x_train), generator=batch_order)[:per_epoch]
                row = fast_mlp_epoch(fast, x_train, y_train, order, config.batch_size,
                                     f"epoch {epoch}", stop=stop)
                finished = row["images"] == len(order)
            else:
                xs, ys = epoch_data(x_train, y_train, batch_order, ctx)
                row = loop.run_epoch(xs[:per_epoch], ys[:per_epoch], ctx,
                                     f"epoch {epoch}/{config.epochs}", stop)
                finished = not loop.cut_short
            epoch_seconds.append(time.perf_counter() - start)
            row["train_seconds"] = round(sum(epoch_seconds), 2)
            cpu_seconds += time.process_time() - cpu_start
            row["train_cpu_seconds"] = round(cpu_seconds, 2)
            nan = float("nan")
            val = (evaluate_tensors(eval_model, x_val, y_val, config.eval_batch_size,
                                    config.tta_flip, bf16)
                   if len(x_val) else {"loss": nan, "accuracy": nan})
            row.update(val_loss=val["loss"], val_accuracy=val["accuracy"])
            row.update(epoch=epoch, seconds=round(epoch_seconds[-1], 3))
            history.append(row)
            if run is not None:
                run.log_metrics(row)
                val_text = (f"val_loss {row['val_loss']:.4f}  val_acc {row['val_accuracy']:.4f}  "
                            if len(x_val) else "")
                tqdm.write(
                    f"epoch {epoch:3d}  loss {row['loss']:.4f}  acc {row['accuracy']:.4f}  "
                    f"{val_text}({epoch_seconds[-1]:.2f} s)"
                )
                if finished:  # a checkpoint holds whole epochs: a resume starts at the next
                    save_checkpoint(run.path / CHECKPOINT, _training_state(
                        epoch, model, optimizer, ema, fast, loop, cpu_seconds, batch_order,
                        aug_generator))
            if loop.out_of_time or stop.requested:
                break

    # Weights first: a run stopped during the final passes keeps what it trained.
    final_model = eval_model.to(memory_format=torch.contiguous_format).float()
    if run is not None:
        run.save_weights(final_model.state_dict())
    # Final numbers in float32, as `fashionlab evaluate` computes them.
    x_test = normalize(data.test_images).unsqueeze(1).to(device)
    test = evaluate_tensors(final_model, x_test, data.test_labels.to(device),
                            config.eval_batch_size, config.tta_flip, tta_shift=config.tta_shift)
    if len(x_val):
        val = evaluate_tensors(final_model, x_val.contiguous(), y_val, config.eval_batch_size,
                               config.tta_flip, tta_shift=config.tta_shift)
        history[-1]["val_accuracy_fp32"] = val["accuracy"]
    result = ClassifierResult(
        run_dir=Path(config.out),
        val_accuracy=history[-1].get("val_accuracy_fp32", history[-1]["val_accuracy"]),
        test_accuracy=test["accuracy"],
        seconds_per_epoch=sum(epoch_seconds) / len(epoch_seconds),
        history=history,
        n_test=len(data.test_labels),
        stopped_by_user=stop.requested,
        config=config,
    )
    if run is not None:
        run.write_scores({
            "test_accuracy": result.test_accuracy, "test_images": result.n_test,
            "validation_accuracy": result.val_accuracy if len(x_val) else None,
            "validation_images": len(x_val), "epochs": len(history),
            "train_seconds": history[-1]["train_seconds"],
            "stopped_by_user": result.stopped_by_user,
            "note": "final weights (the weight average when there is one), float32, with the "
                    "run's test-time averaging (tta_flip, tta_shift in config.json)",
        })
        if config.figures:
            from fashionlab.classifier.predict import write_classifier_figures

            write_classifier_figures(run.path, test["probs"], data, history)
        run.finish("classifier")
    return result


CHECKPOINT_KEYS = {"epoch": int, "model": dict, "optimizer": dict, "ema": dict,
                   "ema_updates": int, "fast": dict, "step": int, "train_seconds": (int, float),
                   "cpu_seconds": (int, float), "rng": dict, "augment": torch.Tensor}
"""What ``_training_state`` writes, and ``resume_classifier`` checks before reading it."""


def _training_state(epoch, model, optimizer, ema, fast, loop, cpu_seconds, batch_order,
                    aug_generator) -> dict[str, Any]:
    """What ``resume_classifier`` needs to continue after ``epoch`` exactly."""
    return {
        "epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
        "ema": ema.model.state_dict() if ema is not None else {},
        "ema_updates": ema.updates if ema is not None else 0,
        "fast": fast.state_dict() if fast is not None else {},
        "step": loop.step, "train_seconds": loop.train_seconds, "cpu_seconds": cpu_seconds,
        "rng": capture_rng(batch_order), "augment": aug_generator.get_state(),
    }


def _restore(checkpoint, model, optimizer, ema, fast, loop, batch_order, aug_generator) -> None:
    """Put the state of ``_training_state`` back into a freshly built run."""
    load_state(model, checkpoint["model"], "the checkpoint's model")
    try:
        optimizer.load_state_dict(checkpoint["optimizer"])
    except (ValueError, KeyError) as exc:
        raise FashionlabError(f"the optimizer state does not fit the model: {exc}") from None
    if ema is not None:
        load_state(ema.model, checkpoint["ema"], "the checkpoint's weight average")
        ema.updates = checkpoint["ema_updates"]
    if fast is not None:
        fast.load_state_dict(checkpoint["fast"])
    loop.step, loop.train_seconds = checkpoint["step"], checkpoint["train_seconds"]
    restore_rng(checkpoint["rng"], batch_order)
    aug_generator.set_state(checkpoint["augment"])


def run_config(config: ClassifierConfig, model: nn.Module) -> dict[str, Any]:
    """The config.json of a classifier run: enough to rebuild the model without code."""
    return {
        "kind": "classifier",
        "model": config.model,
        "model_args": config.model_args,
        "parameters": sum(p.numel() for p in model.parameters()),
        "tta_flip": config.tta_flip,
        "tta_shift": config.tta_shift,
        "torch_threads": torch.get_num_threads(),  # what --threads 0 chose: it moves last bits
        "trainer": asdict(config),
    }
