"""Train a GAN into a run folder: per-epoch samples, GIF, loss plot, exact resume, DDP.

The reference is the TensorFlow DCGAN tutorial (``--model dcgan``: BCE on logits,
Adam 1e-4, batch 256, 100 epochs). Other models bring their own defaults
(``fashionlab.gan.models.TRAINING_DEFAULTS``); options left at ``None`` take them.

Run folder::

    config.json, metrics.jsonl        what was run; one row per epoch (losses, seconds, FID)
    checkpoint.pt                     everything to resume exactly (see runtime/checkpoints.py)
    generator.safetensors             the weights to sample with (the EMA copy when EMA is on)
    generator_best.safetensors        the best epoch by FID, when FID is tracked
    discriminator.safetensors
    figures/samples/epoch_NNN.png     the fixed noise batch, epoch 0 = the untrained generator
    figures/progress.gif, figures/losses.png
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from fashionlab.data import FashionMNIST, load_fashion_mnist, to_tanh_range
from fashionlab.data.batches import shuffled_batches
from fashionlab.data.fashion_mnist import data_dir_option
from fashionlab.errors import FashionlabError, reject_non_finite
from fashionlab.gan.figures import drop_frames_after, save_epoch_grid, save_progress_gif
from fashionlab.gan.step import LOSSES, STEP_ORDERS, gan_step, make_amp, sample
from fashionlab.options import check_choices, option
from fashionlab.runtime.checkpoints import (
    CHECKPOINT,
    capture_rng,
    load_checkpoint,
    restore_rng,
    save_checkpoint,
)
from fashionlab.runtime.device import (
    Distributed,
    all_reduce_sum,
    check_threads,
    configure_backends,
    device_option,
    init_distributed,
    seed_everything,
    threads_option,
    torch_threads,
)
from fashionlab.runtime.registry import create_model, get_entry
from fashionlab.runtime.runs import (
    Run,
    config_from,
    load_state,
    read_config,
    read_metrics,
    run_finished,
)
from fashionlab.runtime.schedules import average_into, ema_rate
from fashionlab.runtime.stop import ctrl_c_stop

PRECISIONS = ("auto", "fp32", "bf16")
STOP_MESSAGE = ("stopping after this epoch; its checkpoint, weights and figures are written "
                "(--resume continues the run)")


@dataclass
class GanConfig:
    """Everything that defines a GAN run; stored (resolved) in the run's config.json."""

    model: str | None = option(
        None, "a registered GAN (`fashionlab models`)",
        shown_default="lite, or the model of the --resume run")
    model_args: dict[str, Any] = option(
        factory=dict, flag="--model-arg",
        help="model option, VALUE as JSON, e.g. leaky=true (repeatable)")
    epochs: int | None = option(None, "training epochs", shown_default="the model's (dcgan: 100)")
    batch_size: int | None = option(None, "images per step, per process",
                                    shown_default="the model's (dcgan: 256)")
    loss: str | None = option(None, "bce (on logits) or hinge", choices=LOSSES,
                              shown_default="the model's")
    step_order: str | None = option(None, "alternating: G steps against the updated D; shared: "
                                    "both from one D pass (the TensorFlow tutorial)",
                                    choices=STEP_ORDERS, shown_default="the model's")
    lr_g: float | None = option(None, "generator Adam learning rate",
                                shown_default="the model's")
    lr_d: float | None = option(None, "discriminator Adam learning rate",
                                shown_default="the model's")
    betas: tuple[float, float] | None = option(None, "Adam betas", metavar=("B1", "B2"),
                                               shown_default="the model's")
    ema: float | None = option(None, "EMA decay of the generator; 0 = off",
                               shown_default="the model's")
    train_subset: int | None = option(
        None, "train on a seeded random subset of N training images", metavar="N")
    samples: int = option(4, "fixed-noise images per epoch grid (per class for conditional "
                          "models)")
    checkpoint_every: int = option(10, "epochs between checkpoints (one is always written at "
                                   "the end)", metavar="EPOCHS")
    fid_every: int = option(0, "FID on a subset every EPOCHS epochs, best epoch kept (0 = off; "
                            "needs --fid-classifier)", metavar="EPOCHS")
    fid_classifier: str | None = option(
        None, "classifier run whose penultimate features FID uses", metavar="CLASSIFIER_RUN")
    fid_samples: int = option(2000, "generated and held-out real images per FID check")
    steps_per_epoch: int | None = option(None, "cap on the steps of an epoch (quick checks)")
    seed: int = option(0, "seeds the initialisation, subset, noise and batch order")
    device: str = device_option()
    precision: str = option("auto", "auto: bf16 autocast on CUDA, fp32 on CPU",
                            choices=PRECISIONS)
    threads: int = threads_option()
    data_dir: str | None = data_dir_option()
    out: str = option("runs/gan", "run folder to write")
    resume: str | None = None  # a run folder to continue (its settings win except epochs)
    figures: bool = option(True, "skip the figures (per-epoch PNGs, GIF, loss plot)",
                           flag="--no-figures")

    def dry_run(self) -> GanConfig:
        """One epoch of two steps: every stage runs, in seconds."""
        return replace(self, epochs=1, steps_per_epoch=2)

    def resolved(self) -> GanConfig:
        """A copy with the model's training defaults filled in and every value checked."""
        from fashionlab.gan.models import DEFAULT_MODEL, TRAINING_DEFAULTS

        model = self.model or DEFAULT_MODEL
        get_entry(model, "gan")
        defaults = TRAINING_DEFAULTS.get(model, TRAINING_DEFAULTS["dcgan"])
        filled = {k: v for k, v in defaults.items() if getattr(self, k) is None}
        config = replace(self, model=model, **filled)
        config.betas = tuple(float(b) for b in config.betas)  # Adam rejects (0, 0.9)
        config.validate()
        return config

    def validate(self) -> None:
        reject_non_finite(self)
        for name in ("epochs", "batch_size", "samples", "checkpoint_every", "fid_samples"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise FashionlabError(f"{name} must be at least 1, got {value}")
        for name in ("train_subset", "steps_per_epoch"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise FashionlabError(f"{name} must be at least 1 when given, got {value}")
        check_choices(self)
        for name in ("lr_g", "lr_d"):
            if getattr(self, name) is not None and getattr(self, name) <= 0:
                raise FashionlabError(f"{name} must be positive, got {getattr(self, name)}")
        if self.betas is not None and (len(self.betas) != 2
                                       or not all(0 <= b < 1 for b in self.betas)):
            raise FashionlabError(f"betas must be two numbers in [0, 1), got {self.betas}")
        if self.ema is not None and not 0 <= self.ema < 1:
            raise FashionlabError(f"ema must be in [0, 1), got {self.ema}")
        if self.fid_every < 0:
            raise FashionlabError(f"fid_every must be 0 (off) or positive, got {self.fid_every}")
        check_threads(self.threads)
        if self.fid_every and not self.fid_classifier:
            raise FashionlabError("FID during training needs a feature network: "
                                  "give --fid-classifier CLASSIFIER_RUN (or --fid-every 0)")


@dataclass
class GanResult:
    """A finished run: its folder, per-epoch history and the trained networks (in memory)."""

    run_dir: Path
    history: list[dict[str, Any]]
    seconds_per_epoch: float
    generator: nn.Module
    discriminator: nn.Module
    best_fid: float | None = None
    stopped_by_user: bool = False  # Ctrl-C ended training after ``history[-1]``'s epoch


def fixed_inputs(
    generator: nn.Module, samples: int, seed: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The fixed noise batch (and labels: one row per class for a conditional model)."""
    g = torch.Generator().manual_seed(seed + 1)
    classes = getattr(generator, "num_classes", 0)
    n = samples * classes if classes else samples
    noise = torch.randn(n, generator.noise_dim, generator=g)
    labels = torch.arange(classes).repeat_interleave(samples) if classes else None
    return noise.to(device), None if labels is None else labels.to(device)


# --------------------------------------------------------------------------- the run


def train_gan(
    config: GanConfig, data: FashionMNIST | None = None, stop_on_ctrl_c: bool = False
) -> GanResult:
    """Train ``config.model`` (or continue ``config.resume``) and write the run folder.

    ``data`` replaces loading Fashion-MNIST from ``config.data_dir`` (tests, notebooks).
    With ``stop_on_ctrl_c``, a Ctrl-C during the epochs ends training after the current
    epoch, with its checkpoint, and the run is finished (``fashionlab.runtime.stop``).
    """
    checkpoint = None
    if config.resume:
        config, checkpoint = _resume_config(config)
    config = config.resolved()
    with torch_threads(config.threads or None):
        return _train(config, checkpoint, data, stop_on_ctrl_c)


def _train(config: GanConfig, checkpoint: dict[str, Any] | None, data: FashionMNIST | None,
           stop_on_ctrl_c: bool) -> GanResult:
    """``train_gan`` once the settings are final."""
    ctx, device = init_distributed(config.device)
    run = Run(config.out) if ctx.is_main else None
    if data is None:
        data = load_fashion_mnist(config.data_dir)
    configure_backends()
    seed_everything(config.seed)

    generator, discriminator = create_model(config.model, "gan", **config.model_args)
    generator, discriminator = generator.to(device), discriminator.to(device)
    conditional = getattr(generator, "num_classes", 0) > 0
    ema = copy.deepcopy(generator).eval().requires_grad_(False) if config.ema else None
    fused = device.type in ("cpu", "cuda")  # one kernel for the whole update
    opt_g = torch.optim.Adam(generator.parameters(), config.lr_g, betas=config.betas, fused=fused)
    opt_d = torch.optim.Adam(discriminator.parameters(), config.lr_d, betas=config.betas,
                             fused=fused)
    fixed_noise, fixed_labels = fixed_inputs(generator, config.samples, config.seed, device)
    images, labels = _training_tensors(data, config, device)
    batch_order = torch.Generator().manual_seed(config.seed)
    start_epoch, best = 0, {"fid": None, "epoch": None}

    if checkpoint is not None:
        _load_training_state(checkpoint, generator, discriminator, ema, opt_g, opt_d, config)
        fixed_noise = checkpoint["fixed_noise"].to(device)
        start_epoch, best = checkpoint["epoch"], dict(checkpoint["best"])
        restore_rng(checkpoint["rng"], batch_order)

    g_train, d_train = generator, discriminator
    if ctx.enabled:
        ids = [device.index] if device.type == "cuda" else None
        g_train = nn.parallel.DistributedDataParallel(generator, device_ids=ids)
        d_train = nn.parallel.DistributedDataParallel(discriminator, device_ids=ids)
    sampler = ema if ema is not None else generator
    fid = _FidMonitor(config, data, device) if config.fid_every and ctx.is_main else None

    if run is not None:
        if checkpoint is None:
            run.start(run_config(config, generator, discriminator))
        else:
            run.reopen("gan")
            run.write_config(run_config(config, generator, discriminator))
            # the epochs after the checkpoint are trained again: drop their rows and frames
            run.keep_metrics_until(start_epoch)
            drop_frames_after(run.path, start_epoch)
        if config.figures and start_epoch == 0:
            save_epoch_grid(sample(sampler, fixed_noise, fixed_labels), run, 0, conditional,
                            config.samples)

    history: list[dict[str, Any]] = []
    amp = make_amp(device, config.precision)
    with ctrl_c_stop(stop_on_ctrl_c and not ctx.enabled, STOP_MESSAGE) as stop:
        for epoch in range(start_epoch + 1, config.epochs + 1):
            start = time.perf_counter()
            row = train_one_epoch(g_train, d_train, opt_g, opt_d, ema, images, labels, config,
                                  batch_order, ctx, epoch, amp, device)
            row.update(epoch=epoch, seconds=round(time.perf_counter() - start, 3))
            last = epoch == config.epochs
            if fid is not None and (epoch % config.fid_every == 0 or last or stop.requested):
                row["fid"] = fid(sampler)
                if best["fid"] is None or row["fid"] < best["fid"]:
                    best = {"fid": row["fid"], "epoch": epoch}
                    run.save_weights(sampler.state_dict(), "generator_best.safetensors")
            history.append(row)
            if run is not None:
                run.log_metrics(row)
                fid_text = f"  fid {row['fid']:.2f}" if "fid" in row else ""
                tqdm.write(f"epoch {epoch:3d}  loss_g {row['loss_g']:.4f}  "
                           f"loss_d {row['loss_d']:.4f}{fid_text}  ({row['seconds']:.2f} s)")
                if config.figures:
                    save_epoch_grid(sample(sampler, fixed_noise, fixed_labels), run, epoch,
                                    conditional, config.samples)
            stopping = stop.requested  # read once: the checkpoint and the break agree
            if run is not None and (epoch % config.checkpoint_every == 0 or last or stopping):
                save_checkpoint(run.path / CHECKPOINT, _training_state(
                    generator, discriminator, ema, opt_g, opt_d, epoch, fixed_noise, best,
                    batch_order, config))
            if stopping:
                break

    if ctx.enabled:
        _broadcast_buffers((generator, discriminator) + ((ema,) if ema else ()))
    if run is not None:
        run.save_weights(sampler.state_dict(), "generator.safetensors")
        run.save_weights(discriminator.state_dict(), "discriminator.safetensors")
        if config.figures:
            _final_figures(run)
        run.finish("gan")
    seconds = [row["seconds"] for row in history]
    return GanResult(Path(config.out), history, sum(seconds) / max(len(seconds), 1),
                     generator, discriminator, best["fid"], stop.requested)


def train_one_epoch(
    generator: nn.Module, discriminator: nn.Module, opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer, ema: nn.Module | None, images: torch.Tensor,
    labels: torch.Tensor | None, config: GanConfig, batch_order: torch.Generator,
    ctx: Distributed, epoch: int, amp: Any, device: torch.device,
) -> dict[str, float]:
    """One pass over this process's shard; losses are averaged over all processes."""
    generator.train()
    discriminator.train()
    batches = list(shuffled_batches(len(images), config.batch_size, batch_order,
                                    shard=(ctx.rank, ctx.world_size)))
    if config.steps_per_epoch:
        batches = batches[: config.steps_per_epoch]
    noise_dim = _unwrap(generator).noise_dim
    first_step = _optimizer_steps(opt_g)  # one host read per epoch, for the EMA warm-up
    totals = torch.zeros(6, device=device)  # loss_d, loss_g, d_real, d_fake, steps, images
    bar = tqdm(batches, desc=f"epoch {epoch}/{config.epochs}", leave=False,
               disable=not ctx.is_main, mininterval=1.0)
    for i, idx in enumerate(bar):
        idx = idx.to(device, non_blocking=True)
        noise = torch.randn(len(idx), noise_dim, device=device)
        out = gan_step(generator, discriminator, opt_g, opt_d, images[idx],
                       None if labels is None else labels[idx], noise, config.loss, amp,
                       config.step_order)
        if ema is not None:
            average_into(ema, _unwrap(generator), ema_rate(config.ema, first_step + i))
        totals[:4] += torch.stack([out["loss_d"], out["loss_g"], out["d_real"], out["d_fake"]])
        totals[4] += 1
        totals[5] += len(idx)
        if i % 20 == 19 and ctx.is_main:  # one host sync every 20 steps, for the progress bar
            loss_d, loss_g, _, _, steps, _ = totals.tolist()
            bar.set_postfix(loss_g=f"{loss_g / steps:.4f}", loss_d=f"{loss_d / steps:.4f}",
                            refresh=False)
    all_reduce_sum(totals, ctx)
    loss_d, loss_g, d_real, d_fake, steps, seen = totals.tolist()
    steps = max(steps, 1)  # summed over processes, like the losses
    return {"loss_g": loss_g / steps, "loss_d": loss_d / steps, "d_real": d_real / steps,
            "d_fake": d_fake / steps, "steps": round(steps / ctx.world_size), "images": int(seen)}


# --------------------------------------------------------------------------- helpers


RUN_FIELDS = {"conditional": bool, "num_classes": int, "noise_dim": int}
"""The entries of a GAN run's config.json beyond ``GanConfig``'s, with their types."""


def read_run_config(run_dir: str | Path) -> dict[str, Any]:
    """A GAN run's config.json, its settings checked against the types of ``GanConfig``
    and ``RUN_FIELDS``."""
    return read_config(run_dir, "gan", GanConfig, RUN_FIELDS)


def run_config(config: GanConfig, generator: nn.Module, discriminator: nn.Module) -> dict[str, Any]:
    """The config.json of a GAN run: enough to rebuild the generator without code."""
    return {
        "kind": "gan",
        "model": config.model,
        "model_args": config.model_args,
        "conditional": getattr(generator, "num_classes", 0) > 0,
        "num_classes": getattr(generator, "num_classes", 0),
        "noise_dim": generator.noise_dim,
        "parameters": {"generator": sum(p.numel() for p in generator.parameters()),
                       "discriminator": sum(p.numel() for p in discriminator.parameters())},
        "torch_threads": torch.get_num_threads(),  # what --threads 0 chose: it moves last bits
        "trainer": asdict(config),
    }


def _optimizer_steps(optimizer: torch.optim.Optimizer) -> int:
    for state in optimizer.state.values():
        return int(state["step"])
    return 0


def _unwrap(module: nn.Module) -> nn.Module:
    return module.module if isinstance(module, nn.parallel.DistributedDataParallel) else module


def _training_tensors(
    data: FashionMNIST, config: GanConfig, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor | None]:
    images, labels = data.train_images, data.train_labels
    if config.train_subset is not None:
        if config.train_subset > len(images):
            raise FashionlabError(f"train_subset {config.train_subset} is larger than the "
                                  f"{len(images)} training images")
        pick = torch.randperm(len(images), generator=torch.Generator().manual_seed(config.seed))
        images, labels = images[pick[: config.train_subset]], labels[pick[: config.train_subset]]
    x = to_tanh_range(images).unsqueeze(1).to(device)  # (N, 1, 28, 28) on [-1, 1]
    return x, labels.to(device)


def _resume_config(config: GanConfig) -> tuple[GanConfig, dict[str, Any]]:
    """The stored config of ``config.resume`` (epochs may be raised) and its checkpoint."""
    run_dir = Path(config.resume)
    stored = read_run_config(run_dir)
    if config.model is not None and config.model != stored.get("model"):
        raise FashionlabError(
            f"{run_dir} was trained with model {stored['model']!r}, not {config.model!r}; "
            "drop --model to continue it, or start a new run with --out"
        )
    base = config_from(GanConfig, stored.get("trainer"), f"{run_dir} trainer settings")
    checkpoint = load_checkpoint(run_dir / CHECKPOINT, keys=CHECKPOINT_KEYS)
    epochs = config.epochs if config.epochs is not None else base.epochs
    # A run killed after its last checkpoint, before its weights and figures were all
    # written, is finished without training (the loop below then runs no epoch).
    if epochs is not None and (epochs < checkpoint["epoch"] or (
            epochs == checkpoint["epoch"] and run_finished(run_dir))):
        raise FashionlabError(f"{run_dir} already has {checkpoint['epoch']} epochs; "
                              f"ask for more with --epochs (got {epochs})")
    return replace(base, epochs=epochs, out=str(run_dir), resume=None,
                   device=config.device), checkpoint


CHECKPOINT_KEYS = {"model": str, "epoch": int, "generator": dict, "discriminator": dict,
                   "ema": dict, "opt_g": dict, "opt_d": dict, "fixed_noise": torch.Tensor,
                   "best": dict, "rng": dict}
"""What ``_training_state`` writes, and ``--resume`` checks before reading it."""


def _training_state(generator, discriminator, ema, opt_g, opt_d, epoch, fixed_noise, best,
                    batch_order, config) -> dict[str, Any]:
    return {
        "model": config.model,
        "epoch": epoch,
        "generator": generator.state_dict(),
        "discriminator": discriminator.state_dict(),
        "ema": ema.state_dict() if ema is not None else {},
        "opt_g": opt_g.state_dict(),
        "opt_d": opt_d.state_dict(),
        "fixed_noise": fixed_noise.cpu(),
        "best": best,
        "rng": capture_rng(batch_order),
    }


def _load_training_state(checkpoint, generator, discriminator, ema, opt_g, opt_d, config) -> None:
    if checkpoint.get("model") != config.model:
        raise FashionlabError(f"the checkpoint holds model {checkpoint.get('model')!r}, "
                              f"but the run's config says {config.model!r}")
    load_state(generator, checkpoint["generator"], "the generator checkpoint")
    load_state(discriminator, checkpoint["discriminator"], "the discriminator checkpoint")
    if ema is not None:
        load_state(ema, checkpoint["ema"], "the EMA generator checkpoint")
    try:
        opt_g.load_state_dict(checkpoint["opt_g"])
        opt_d.load_state_dict(checkpoint["opt_d"])
    except (ValueError, KeyError) as exc:
        raise FashionlabError(f"the optimizer state does not fit the model: {exc}") from None


def _broadcast_buffers(modules) -> None:
    # BatchNorm statistics drift apart across processes within an epoch: keep rank 0's
    import torch.distributed as dist

    for module in modules:
        for buffer in module.buffers():
            dist.broadcast(buffer, src=0)


def _final_figures(run: Run) -> None:
    from fashionlab.viz.curves import save_loss_curves

    rows = read_metrics(run.path)
    if rows:
        save_loss_curves({"generator": [r["loss_g"] for r in rows],
                          "discriminator": [r["loss_d"] for r in rows]},
                         run.figure("losses.png"), title="GAN losses (epoch means)")
    save_progress_gif(run)


class _FidMonitor:
    """FID on a subset every few epochs, in a classifier's features (never the test set)."""

    def __init__(self, config: GanConfig, data: FashionMNIST, device: torch.device):
        from fashionlab.metrics.features import load_feature_network

        self.features = load_feature_network(config.fid_classifier, str(device))
        n = min(config.fid_samples, len(data.train_images))
        g = torch.Generator().manual_seed(config.seed + 2)
        pick = torch.randperm(len(data.train_images), generator=g)[:n]
        self.reference = self.features(data.train_images[pick].to(device))
        self.labels = data.train_labels[pick].to(device)
        self.n, self.seed, self.device = n, config.seed + 3, device

    def __call__(self, generator: nn.Module) -> float:
        from fashionlab.data import from_tanh_range
        from fashionlab.metrics.fid import fid_on_subset

        g = torch.Generator().manual_seed(self.seed)  # the same noise every check
        noise = torch.randn(self.n, generator.noise_dim, generator=g).to(self.device)
        labels = self.labels if getattr(generator, "num_classes", 0) else None
        fake = torch.cat([from_tanh_range(sample(generator, noise[i : i + 500],
                                                 None if labels is None else labels[i : i + 500]))
                          for i in range(0, self.n, 500)])[:, 0]
        return round(fid_on_subset(fake, self.reference, self.features), 4)
