"""Train a Fashion-MNIST classifier into a run folder.

The defaults are the reference notebook's: the dense ``mlp`` model, Adam with
learning rate 1e-3, batch 32, 20 epochs (Keras' defaults). The whole training set
lives as one normalised tensor on the device; each epoch gathers it once in a new
random order and batches are contiguous slices of that (the loops themselves are in
``fashionlab.train.classifier_loop``). Augmentation (crop, flip, erasing) runs per
batch on tensors (``fashionlab.train.augment``).

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
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from fashionlab.data import load_fashion_mnist, normalize
from fashionlab.data.batches import EVAL_BATCH_SIZE
from fashionlab.data.fashion_mnist import BACKGROUND
from fashionlab.errors import FashionlabError, reject_non_finite
from fashionlab.models import create_model, get_entry
from fashionlab.train.augment import Augment
from fashionlab.train.checkpoints import (
    CHECKPOINT,
    capture_rng,
    load_checkpoint,
    restore_rng,
    save_checkpoint,
)
from fashionlab.train.classifier_loop import (
    EpochLoop,
    build_optimizer,
    epoch_data,
    evaluate_tensors,
    fast_mlp_epoch,
    uses_convolutions,
)
from fashionlab.train.device import (
    configure_backends,
    init_distributed,
    seed_everything,
    torch_threads,
)
from fashionlab.train.fast_mlp import FastMLPTrainer
from fashionlab.train.recipe import EMA, SCHEDULES
from fashionlab.train.runs import Run, config_from, load_state, read_config
from fashionlab.train.stop import ctrl_c_stop

MAX_TTA_SHIFT = 3  # pixels: 49 positions (98 with the flip) per image
STOP_MESSAGE = "stopping after this batch; the run keeps, scores and saves what it trained"


@dataclass
class ClassifierConfig:
    """Everything that defines a classifier run; stored in the run's config.json."""

    model: str = "mlp"  # a registered classifier (see `fashionlab models`)
    model_args: dict[str, Any] = field(default_factory=dict)  # keyword arguments of the model
    epochs: int = 20  # the reference notebook trains 20 epochs
    steps_per_epoch: int | None = None  # cap on the batches of an epoch (quick checks);
    #                                     None = a full pass over the training images
    time_budget: float = 0.0  # seconds of training; the schedule follows the clock and
    #                           training stops when it is spent (epochs = the most); 0 = off
    budget_clock: str = "wall"  # wall | cpu: the budget counts wall-clock seconds, or this
    #                             process's CPU seconds (what a busy shared machine cannot steal)
    batch_size: int = 32  # Keras' default batch size
    lr: float = 1e-3  # peak learning rate; 1e-3 is Adam's default
    weight_decay: float = 0.0  # AdamW's decoupled decay, or SGD's L2 term; 0 = none
    optimizer: str = "adam"  # adam (the reference) | sgd (Nesterov momentum)
    momentum: float = 0.9  # SGD's Nesterov momentum (unused by adam)
    schedule: str = "constant"  # constant | cosine | onecycle (per step)
    warmup_epochs: float = 0.0  # linear learning-rate warmup, in epochs
    label_smoothing: float = 0.0  # cross-entropy label smoothing; 0 = hard labels
    crop_padding: int = 0  # random crops after padding by this many pixels; 0 = off
    flip: bool = False  # random left-right flips
    erasing: float = 0.0  # random-erasing probability per image; 0 = off
    ema_decay: float = 0.0  # EMA of the weights (e.g. 0.999): evaluated and saved; 0 = off
    tta_flip: bool = False  # predict with the average of the image and its mirror image
    tta_shift: int = 0  # and of them moved by up to this many pixels, (2 n + 1)^2 positions,
    #                     in the final validation and test passes, evaluate and predict (the
    #                     per-epoch validation curve uses the flip only: it would be 9x slower)
    precision: str = "auto"  # auto | fp32 | bf16; auto = bf16 for conv models (CPU AMX, GPU)
    compile: bool = False  # torch.compile the training model
    fast_mlp: str = "auto"  # auto | on | off: the hand-written MLP step (see fast_mlp.py)
    threads: int = 0  # CPU threads; 0 = PyTorch's default (all cores); 1 is faster when
    #                   other jobs keep the cores busy
    n_val: int = 5000  # validation images carved from the 60,000 training images; 0 = none
    test_subset: int | None = None  # score only the first N test images (quick checks);
    #                                 None = all 10,000
    seed: int = 0  # seeds the split, the initialisation, the batch order and augmentation
    split_seed: int | None = None  # seeds the validation split instead; None = seed (members
    #                                of an ensemble share a split and differ in their seed)
    device: str = "auto"  # auto | cpu | cuda
    data_dir: str | None = None  # Fashion-MNIST folder; None = $FASHIONLAB_DATA, cache, download
    out: str = "runs/classifier"  # the run folder
    eval_batch_size: int = EVAL_BATCH_SIZE  # batch size for validation and test passes
    figures: bool = True  # write curves, prediction plot, confusion matrix, mistakes

    def validate(self) -> None:
        """Check every option before any work starts; errors say what to change."""
        reject_non_finite(self)
        get_entry(self.model, "classifier")
        for name in ("epochs", "batch_size", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise FashionlabError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("steps_per_epoch", "test_subset"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise FashionlabError(f"{name} must be at least 1 (or None for all), "
                                      f"got {getattr(self, name)}")
        if self.lr <= 0:
            raise FashionlabError(f"lr must be positive, got {self.lr}")
        choices = {"optimizer": ("adam", "sgd"), "schedule": SCHEDULES,
                   "precision": ("auto", "fp32", "bf16"), "fast_mlp": ("auto", "on", "off"),
                   "budget_clock": ("wall", "cpu")}
        for name, valid in choices.items():
            if getattr(self, name) not in valid:
                raise FashionlabError(
                    f"unknown {name} {getattr(self, name)!r}; choose one of: {', '.join(valid)}"
                )
        ranges = {"label_smoothing": (0, 1), "erasing": (0, 1), "ema_decay": (0, 1)}
        for name, (low, high) in ranges.items():
            value = getattr(self, name)
            if not low <= value < high:
                raise FashionlabError(f"{name} must be in [{low}, {high}), got {value}")
        if self.crop_padding < 0 or self.warmup_epochs < 0 or self.weight_decay < 0 \
                or self.time_budget < 0:
            raise FashionlabError(
                "crop_padding, warmup_epochs, weight_decay and time_budget cannot be negative"
            )
        if self.optimizer != "sgd" and self.momentum != 0.9:
            raise FashionlabError(f"momentum applies only to --optimizer sgd, not {self.optimizer}")
        if self.budget_clock != "wall" and not self.time_budget:
            raise FashionlabError("budget_clock applies only with a time budget (--time-budget)")
        if self.n_val < 0:
            raise FashionlabError(f"n_val cannot be negative, got {self.n_val}")
        if not 0 <= self.tta_shift <= MAX_TTA_SHIFT:
            raise FashionlabError(f"tta_shift must be 0 to {MAX_TTA_SHIFT} pixels, "
                                  f"got {self.tta_shift}")
        if self.threads < 0:
            raise FashionlabError(f"threads must be 0 (PyTorch's default) or more, "
                                  f"got {self.threads}")
        model = create_model(self.model, "classifier", **self.model_args)  # checks model_args
        if self.fast_mlp == "on":
            blockers = fast_mlp_blockers(self, model)
            if blockers:
                raise FashionlabError(
                    f"--fast-mlp on does not apply here ({'; '.join(blockers)}); "
                    "use --fast-mlp auto or off"
                )


def fast_mlp_blockers(config: ClassifierConfig, model: nn.Module) -> list[str]:
    """Why the hand-written MLP step cannot run ``config`` (empty when it can)."""
    from fashionlab.models.classifiers import MLP

    reasons = []
    if not isinstance(model, MLP):
        reasons.append(f"model {config.model!r} is not the dense mlp")
    plain = {"optimizer": "adam", "schedule": "constant", "warmup_epochs": 0.0,
             "weight_decay": 0.0, "label_smoothing": 0.0, "crop_padding": 0, "flip": False,
             "erasing": 0.0, "compile": False, "time_budget": 0.0}
    for name, value in plain.items():
        if getattr(config, name) != value:
            reasons.append(f"it trains only the plain recipe, not {name}={getattr(config, name)}")
    if config.precision == "bf16":
        reasons.append("it computes in float32, not bf16")
    return reasons


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
    batch and the run is finished with what was trained (``fashionlab.train.stop``).
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
    if config.epochs <= checkpoint["epoch"]:
        raise FashionlabError(f"{run_dir} already has {checkpoint['epoch']} epochs; ask for "
                              f"more with --epochs (got {config.epochs})")
    if config.time_budget and checkpoint["train_seconds"] >= config.time_budget:
        raise FashionlabError(f"{run_dir} has spent its time budget of {config.time_budget:g} s;"
                              " nothing is left to continue")
    config.validate()
    with torch_threads(config.threads or None):
        return _train(config, stop_on_ctrl_c, checkpoint)


def _train(config: ClassifierConfig, stop_on_ctrl_c: bool,
           checkpoint: dict[str, Any] | None = None) -> ClassifierResult:
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
    bf16 = config.precision == "bf16" or (config.precision == "auto" and conv)
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
        run.write_config(run_config(config, model))
        history = run.keep_metrics_until(start_epoch)
    epoch_seconds = [row["seconds"] for row in history]
    with ctrl_c_stop(stop_on_ctrl_c and not ctx.enabled, STOP_MESSAGE) as stop:
        for epoch in range(start_epoch + 1, config.epochs + 1):
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
            from fashionlab.classify import write_classifier_figures

            write_classifier_figures(run.path, test["probs"], data, history)
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


def read_run_config(run_dir: str | Path) -> dict[str, Any]:
    """A classifier run's config.json, its settings checked against ``ClassifierConfig``'s
    types, and its test-time shift against the range training allows."""
    config = read_config(run_dir, "classifier", ClassifierConfig)
    shift = config.get("tta_shift", 0)
    if not 0 <= shift <= MAX_TTA_SHIFT:
        raise FashionlabError(f"{Path(run_dir) / 'config.json'}: tta_shift must be 0 to "
                              f"{MAX_TTA_SHIFT} pixels, got {shift}")
    return config


def run_config(config: ClassifierConfig, model: nn.Module) -> dict[str, Any]:
    """The config.json of a classifier run: enough to rebuild the model without code."""
    return {
        "kind": "classifier",
        "model": config.model,
        "model_args": config.model_args,
        "parameters": sum(p.numel() for p in model.parameters()),
        "tta_flip": config.tta_flip,
        "tta_shift": config.tta_shift,
        "trainer": asdict(config),
    }
