"""Image inpainting with GAIN: fill a removed box, or scattered pixels, of Fashion-MNIST images.

A GAIN pair, the MLP of the paper on the 784 pixels (``model="mlp"``) or a convolutional
one (``model="conv"``, ``fashionlab.inpaint.networks``), is trained on training images with
masks drawn like the ones it will face (fresh masks every batch), by the GAIN loop it shares
with GainImputer (``fashionlab.impute.gain_training``). It is scored on held-out images, on
the hidden pixels only, against two baselines:

* mean fill: each hidden pixel gets that pixel's mean over the training images;
* nearest neighbour: the training image closest on the visible pixels (Euclidean,
  over a pool of ``n_pool`` training images) lends its hidden pixels.

Errors are MAE and RMSE on pixel values in [0, 1], over the hidden pixels of
``n_eval`` images (validation images carved from the training set, and test
images), with masks drawn from a fixed seed so every method fills the same pixels.

Measured (12x12 box, 1,000 validation images, 144,000 hidden pixels; 2-core CPU
shared with other jobs, so the seconds are inflated), validation RMSE:
``--model mlp --steps 2000 --width 16`` 0.1666 in 578 s of training;
``--model conv --steps 500 --width 16`` 0.1663 in 449 s; ``--model mlp --steps 500``
0.1893; nearest neighbour 0.1908; mean fill 0.3207. The convolutional model learns
far more per step but costs about 3x more per step here (0.90 s against 0.29 s), so
the MLP is the default.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from fashionlab.data import load_fashion_mnist
from fashionlab.data.fashion_mnist import FashionMNIST, data_dir_option
from fashionlab.errors import FashionlabError, reject_non_finite
from fashionlab.impute.gain_networks import GainDiscriminator, GainGenerator
from fashionlab.impute.gain_training import (
    GainLoss,
    GainNetworks,
    GainSchedule,
    gain_objective,
    noise_fill,
    train_gain,
)
from fashionlab.inpaint.networks import ConvGainDiscriminator, ConvGainGenerator
from fashionlab.options import check_choices, fraction, option, positive_int
from fashionlab.runtime.checkpoints import (
    CHECKPOINT,
    capture_rng,
    load_checkpoint,
    restore_rng,
    save_checkpoint,
)
from fashionlab.runtime.device import bf16_autocast, fast_bf16, torch_threads
from fashionlab.runtime.runs import (
    Run,
    config_from,
    load_state,
    read_config,
    run_finished,
)
from fashionlab.runtime.stop import StopRequest, ctrl_c_stop

MODELS = ("conv", "mlp")
MASKS = ("box", "pixels")
MAX_FILL = 16  # pictures per `fashionlab fill` call: the columns of its figure
STOP_MESSAGE = "stopping after this step; the run keeps, scores and saves what it trained"


@dataclass
class InpaintConfig:
    """Everything that defines an inpainting run; stored in the run's config.json."""

    model: str = option("mlp", "mlp (GAIN's MLP on the 784 pixels) or conv (convolutional "
                        "GAIN)", choices=MODELS)
    mask: str = option("box", "box (a square removed) or pixels (scattered pixels removed)",
                       choices=MASKS)
    box_size: int = option(12, "side of the removed square, in pixels (box masks)",
                           parse=positive_int)
    pixel_fraction: float = option(0.5, "fraction of pixels removed (pixels masks)",
                                   parse=fraction)
    steps: int = option(2000, "training steps (one D and one G update each)",
                        parse=positive_int)
    batch_size: int = option(64, "images per step", parse=positive_int)
    lr: float = option(1e-3, "Adam learning rate of both networks (cosine decay to 0)")
    alpha: float = 100.0  # reconstruction weight against the adversarial loss (GAIN: 100)
    hint_rate: float = 0.9  # probability that the hint reveals a pixel's mask value to D
    width: int = option(16, "conv: channels of the first stage; mlp: hidden units = "
                        "784 * width // 32", parse=positive_int)
    n_val: int = 5000  # validation images carved from the training set
    n_eval: int = option(1000, "validation and test images scored (each)", parse=positive_int)
    n_pool: int = option(20000, "training images searched by the nearest-neighbour baseline",
                         parse=positive_int)
    n_figure: int = 8  # test images shown in the figure
    bf16: bool = True  # conv model: bfloat16 autocast where the CPU computes bf16 natively
    #                    (about 2.5x faster per step there; emulated bf16 is slower than fp32)
    threads: int = option(1, "PyTorch CPU threads (1 is fastest on a busy 2-core machine); "
                          "0 = PyTorch's default")
    seed: int = option(0, "seeds the split, weights, batches and masks")
    data_dir: str | None = data_dir_option()
    out: str = option("runs/inpaint", "run folder to write")
    checkpoint_every: int = option(100, "steps between checkpoints, what --resume continues "
                                   "from (one is always written at the end)", parse=positive_int)
    dry_run: bool = option(False, "a few steps on few images: checks the whole pipeline in "
                           "seconds")

    def validate(self) -> None:
        """Check every option before any work starts."""
        reject_non_finite(self)
        check_choices(self)
        if not 1 <= self.box_size <= 27:
            raise FashionlabError(f"--box-size must be between 1 and 27, got {self.box_size}")
        if not 0 < self.pixel_fraction < 1:
            raise FashionlabError(
                f"--pixel-fraction must be between 0 and 1, got {self.pixel_fraction}")
        for name in ("steps", "batch_size", "n_eval", "n_pool", "width"):
            if getattr(self, name) < 1:
                raise FashionlabError(f"--{name.replace('_', '-')} must be at least 1")
        if self.lr <= 0:
            raise FashionlabError(f"--lr must be positive, got {self.lr}")
        if self.threads < 0:
            raise FashionlabError(f"--threads must be 0 (PyTorch's default) or more, "
                                  f"got {self.threads}")

    def effective(self) -> InpaintConfig:
        """The config actually run: ``dry_run`` shrinks the work to seconds."""
        if not self.dry_run:
            return self
        small = dict(steps=min(self.steps, 5), n_val=min(self.n_val, 200),
                     n_eval=min(self.n_eval, 64), n_pool=min(self.n_pool, 500),
                     width=min(self.width, 4))
        return InpaintConfig(**{**asdict(self), **small})


def draw_masks(n: int, config: InpaintConfig, generator: torch.Generator) -> torch.Tensor:
    """Float masks (n, 1, 28, 28): 1 = pixel visible, 0 = removed."""
    if config.mask == "pixels":
        return (torch.rand(n, 1, 28, 28, generator=generator) >= config.pixel_fraction).float()
    size = config.box_size
    top = torch.randint(0, 28 - size + 1, (n,), generator=generator)
    left = torch.randint(0, 28 - size + 1, (n,), generator=generator)
    rows = torch.arange(28)
    inside_r = (rows[None, :] >= top[:, None]) & (rows[None, :] < (top + size)[:, None])
    inside_c = (rows[None, :] >= left[:, None]) & (rows[None, :] < (left + size)[:, None])
    removed = inside_r[:, :, None] & inside_c[:, None, :]  # (n, 28, 28)
    return (~removed).float()[:, None]


def build_models(config: InpaintConfig) -> tuple[torch.nn.Module, torch.nn.Module]:
    """The generator and discriminator named by ``config.model``, both on images: (B, 1, 28,
    28) pairs in, (B, 1, 28, 28) out (the MLPs wrapped by ``_Flat``)."""
    if config.model == "conv":
        return ConvGainGenerator(1, config.width), ConvGainDiscriminator(1, config.width)
    hidden = max(16, 784 * config.width // 32)
    return _Flat(GainGenerator(784, hidden)), _Flat(GainDiscriminator(784, hidden))


class _Flat(torch.nn.Module):
    """Runs an MLP GAIN network on images: (B, 1, 28, 28) pairs in, (B, 1, 28, 28) out."""

    def __init__(self, net: torch.nn.Module):
        super().__init__()
        self.net = net

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.net(a.flatten(1), b.flatten(1)).view_as(a)


def fill(generator: torch.nn.Module, images: torch.Tensor, masks: torch.Tensor,
         batch_size: int = 500) -> torch.Tensor:
    """Images in [0, 1] with the masked pixels replaced by the generator's values."""
    out = []
    with torch.no_grad():
        for i in range(0, len(images), batch_size):
            x, m = images[i : i + batch_size], masks[i : i + batch_size]
            g = generator(m * x + (1 - m) * 0.005, m)
            out.append(m * x + (1 - m) * g)
    return torch.cat(out)


def mean_fill(train: torch.Tensor, images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Baseline: hidden pixels get the training mean of that pixel."""
    return masks * images + (1 - masks) * train.mean(0, keepdim=True)


def nearest_fill(pool: torch.Tensor, images: torch.Tensor, masks: torch.Tensor,
                 batch_size: int = 256) -> torch.Tensor:
    """Baseline: hidden pixels come from the pool image nearest on the visible pixels."""
    flat_pool = pool.flatten(1)  # (P, 784)
    out = []
    for i in range(0, len(images), batch_size):
        x, m = images[i : i + batch_size].flatten(1), masks[i : i + batch_size].flatten(1)
        # sum over visible pixels of (x - p)^2 = sum m x^2 - 2 (m x) . p + m . p^2
        dist = (m * x * x).sum(1, keepdim=True) - 2 * (m * x) @ flat_pool.T + m @ (flat_pool**2).T
        nearest = flat_pool[dist.argmin(1)]
        out.append((m * x + (1 - m) * nearest).view_as(images[i : i + batch_size]))
    return torch.cat(out)


def pixel_errors(truth: torch.Tensor, filled: torch.Tensor, masks: torch.Tensor) -> dict:
    """MAE and RMSE over the hidden pixels (values in [0, 1])."""
    hidden = masks == 0
    error = (filled - truth)[hidden]
    return {"mae": error.abs().mean().item(), "rmse": error.pow(2).mean().sqrt().item(),
            "pixels": int(hidden.sum())}


def inpaint(
    config: InpaintConfig, data: FashionMNIST | None = None, stop_on_ctrl_c: bool = False
) -> dict:
    """Train the inpainting GAIN, score it and the baselines, write the run folder and figure.

    With ``stop_on_ctrl_c``, a Ctrl-C during training ends it after the current step and
    the run is finished (scored, drawn, saved) with what was trained.
    """
    config.validate()
    return _run(config.effective(), data, stop_on_ctrl_c)


def resume_inpaint(run_dir: str | Path, data: FashionMNIST | None = None,
                   stop_on_ctrl_c: bool = False, data_dir: str | None = None) -> dict:
    """Continue the inpainting run in ``run_dir`` from its last checkpoint, exactly as if it
    had not stopped (weights, optimizers, schedules and random states restored); a run
    killed after its last step is finished without training."""
    stored = read_config(run_dir, "inpaint")
    config = config_from(InpaintConfig, {k: v for k, v in stored.items() if k != "kind"})
    config = InpaintConfig(**{**asdict(config), "out": str(run_dir),
                              "data_dir": data_dir or config.data_dir})
    config.validate()
    checkpoint = load_checkpoint(Path(run_dir) / CHECKPOINT, keys=_CHECKPOINT_KEYS)
    if checkpoint["step"] >= config.steps and run_finished(run_dir):
        raise FashionlabError(f"{run_dir} already has its {config.steps} steps; start a new "
                              "run with more --steps")
    return _run(config, data, stop_on_ctrl_c, checkpoint)


_CHECKPOINT_KEYS = {"step": int, "seconds": float, "generator": dict, "discriminator": dict,
                    "opt_g": dict, "opt_d": dict, "decay": list, "rng": dict}


def _run(cfg: InpaintConfig, data: FashionMNIST | None, stop_on_ctrl_c: bool,
         checkpoint: dict | None = None) -> dict:
    run = Run(cfg.out)
    data = data if data is not None else load_fashion_mnist(cfg.data_dir)
    split = data.split(cfg.n_val, cfg.seed)
    train = split.train_images.float().div(255)[:, None]  # (N, 1, 28, 28) in [0, 1]
    if cfg.dry_run:
        train = train[:1000]
    val = split.val_images.float().div(255)[:, None][: cfg.n_eval]
    test = data.test_images.float().div(255)[:, None][: cfg.n_eval]
    if checkpoint is None:
        run.start({"kind": "inpaint", **asdict(cfg)})
    else:  # the steps after the checkpoint are trained again
        run.reopen("inpaint")
        run.keep_metrics_until(checkpoint["step"], key="step")

    torch.manual_seed(cfg.seed)
    with torch_threads(cfg.threads or None):
        generator, discriminator = build_models(cfg)
        with ctrl_c_stop(stop_on_ctrl_c, STOP_MESSAGE) as stop:
            seconds, steps = _train(generator, discriminator, train, cfg, run, stop, checkpoint)
        generator.eval()
        pool = train[torch.randperm(len(train), generator=torch.Generator().manual_seed(cfg.seed))
                     [: cfg.n_pool]]
        results: dict = {"train_seconds": seconds, "steps": steps, "model": cfg.model,
                         "mask": cfg.mask, "stopped_by_user": stop.requested}
        for name, images, seed in (("val", val, cfg.seed + 1), ("test", test, cfg.seed + 2)):
            masks = draw_masks(len(images), cfg, torch.Generator().manual_seed(seed))
            with precision(cfg):
                gain_filled = fill(generator, images, masks).float()
            filled = {"gain": gain_filled,
                      "mean": mean_fill(train, images, masks),
                      "nearest": nearest_fill(pool, images, masks)}
            results[name] = {k: pixel_errors(images, v, masks) for k, v in filled.items()}
            if name == "test":
                k = min(cfg.n_figure, len(images))
                figure = inpaint_figure(images[:k], masks[:k], filled["gain"][:k],
                                 filled["nearest"][:k], run.figure("inpaint.png"), cfg,
                                 f"inpainting, {cfg.mask} mask")
    results["figure"] = str(figure)
    run.save_weights(generator.state_dict())
    run.write_scores(results)
    run.finish("inpaint")
    results["run_dir"] = str(run.path)
    return results


def precision(cfg: InpaintConfig):
    """bfloat16 autocast for the conv model when asked and the CPU computes bf16 natively
    (the MLP gains nothing from it)."""
    cpu = torch.device("cpu")
    return bf16_autocast(cpu, cfg.bf16 and cfg.model == "conv" and fast_bf16(cpu))


def _train(generator, discriminator, train: torch.Tensor, cfg: InpaintConfig, run: Run,
           stop: StopRequest, checkpoint: dict | None = None) -> tuple[float, int]:
    """Train up to ``cfg.steps`` steps (from ``checkpoint``'s, when given), or until
    ``stop`` is requested, writing a checkpoint every ``cfg.checkpoint_every`` steps and at
    the end; (seconds, steps done in all)."""
    opt_g = torch.optim.Adam(generator.parameters(), lr=cfg.lr)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=cfg.lr)
    decay = [torch.optim.lr_scheduler.CosineAnnealingLR(o, cfg.steps) for o in (opt_g, opt_d)]
    masks_rng = torch.Generator().manual_seed(cfg.seed + 3)
    first, earlier = 0, 0.0
    if checkpoint is not None:
        load_state(generator, checkpoint["generator"], "the checkpoint's generator")
        load_state(discriminator, checkpoint["discriminator"], "the checkpoint's discriminator")
        try:
            for target, state in ((opt_g, checkpoint["opt_g"]), (opt_d, checkpoint["opt_d"]),
                                  *zip(decay, checkpoint["decay"], strict=True)):
                target.load_state_dict(state)
        except (ValueError, KeyError, TypeError) as exc:
            raise FashionlabError(f"the checkpoint's optimizer state does not fit: {exc}") from None
        restore_rng(checkpoint["rng"], masks_rng)
        first, earlier = checkpoint["step"], checkpoint["seconds"]
    start = time.perf_counter() - earlier
    generator.train()
    log_every = max(1, cfg.steps // 20)

    def save(step: int) -> None:
        save_checkpoint(run.path / CHECKPOINT, {
            "step": step, "seconds": time.perf_counter() - start,
            "generator": generator.state_dict(), "discriminator": discriminator.state_dict(),
            "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
            "decay": [d.state_dict() for d in decay], "rng": capture_rng(masks_rng)})

    def next_batch(_: int) -> dict[str, torch.Tensor]:
        rows = torch.randint(0, len(train), (cfg.batch_size,), generator=masks_rng)
        x = train[rows]
        given = draw_masks(cfg.batch_size, cfg, masks_rng)
        return {"inputs": noise_fill(x, given), "real": x, "given": given, "target": x,
                "observed": torch.ones_like(x)}

    def log(done: int, losses: dict[str, float]) -> None:
        step = first + done
        if step % log_every == 0 or step == cfg.steps or stop.requested:
            run.log_metrics({"step": step, **losses,
                             "seconds": round(time.perf_counter() - start, 2)})
        if step % cfg.checkpoint_every == 0 or step == cfg.steps or stop.requested:
            save(step)

    done = train_gain(
        GainNetworks(generator, discriminator, opt_g, opt_d),
        GainLoss(cfg.hint_rate, gain_objective(cfg.alpha)), next_batch,
        GainSchedule(cfg.steps - first, schedulers=decay, stop_requested=lambda: stop.requested),
        log, precision=lambda: precision(cfg))
    return time.perf_counter() - start, first + done


def inpaint_figure(images, masks, filled, nearest, path, cfg: InpaintConfig, title: str):
    """Rows: original, masked (removed pixels in red), GAIN fill, and the nearest-neighbour
    fill when ``nearest`` is given."""
    import matplotlib.pyplot as plt

    from fashionlab.viz.common import save_figure

    n = len(images)
    rows = [("original", images), ("masked", None), (f"GAIN ({cfg.model})", filled)]
    if nearest is not None:
        rows.append(("nearest", nearest))
    fig, axes = plt.subplots(len(rows), n, figsize=(1.3 * n, 1.4 * len(rows)), squeeze=False)
    for r, (label, batch) in enumerate(rows):
        for c in range(n):
            ax = axes[r, c]
            ax.axis("off")
            if batch is None:  # gray image, removed pixels in red
                gray = images[c, 0].numpy()
                rgb = np.stack([gray] * 3, axis=-1)
                rgb[masks[c, 0].numpy() == 0] = (0.85, 0.1, 0.1)
                ax.imshow(rgb)
            else:
                ax.imshow(batch[c, 0].numpy(), cmap="gray", vmin=0, vmax=1)
            if c == 0:
                ax.set_title(label, fontsize=8, loc="left")
    fig.suptitle(title, fontsize=9, parse_math=False)  # a file name may hold "$"
    return save_figure(fig, path)


def format_results(results: dict) -> str:
    """The table ``fashionlab inpaint`` prints."""
    lines = [f"{'split':<5} {'method':<8} {'MAE':>7} {'RMSE':>7}  "
             "(hidden pixels, values in [0, 1])"]
    for split in ("val", "test"):
        for method, row in results[split].items():
            lines.append(f"{split:<5} {method:<8} {row['mae']:>7.4f} {row['rmse']:>7.4f}")
    pixels = results["test"]["gain"]["pixels"]
    stopped = " (stopped by Ctrl-C)" if results.get("stopped_by_user") else ""
    lines.append(f"{results['model']} GAIN trained {results['steps']} steps{stopped} in "
                 f"{results['train_seconds']:.0f} s; {pixels:,} hidden test pixels; "
                 f"figure {results['figure']}; run folder {results['run_dir']}")
    return "\n".join(lines)


__all__ = ["InpaintConfig", "draw_masks", "format_results", "inpaint", "inpaint_figure",
           "resume_inpaint"]
