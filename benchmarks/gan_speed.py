"""GAN training speed: our trainer against a plain PyTorch port of the same DCGAN, same run.

Both sides train the reference DCGAN (TensorFlow tutorial architecture, batch 256,
Adam 1e-4, BCE on logits) on Fashion-MNIST for a fixed number of steps; seconds per
epoch are EXTRAPOLATED from the timed steps to one epoch of 60,000 images
(235 steps of 256), because a full epoch takes minutes on a CPU.

- "plain port": a per-sample ``Dataset`` + ``DataLoader(shuffle=True)`` and the
  pytorch/examples loop (real and fake through D separately, ``.item()`` every step).
- "fashionlab": ``fashionlab.gan.train.train_one_epoch`` exactly as ``train gan`` runs
  it (resident data tensor, sliced batches, one D pass over real+fake, losses kept
  as tensors), in fp32 and with bf16 autocast.
- "phase convT": the same trainer with ``--model-arg conv_transpose=phase``: the
  generator's transposed convolutions computed as stride-1 convolutions, one per output
  phase (``fashionlab/gan/conv_transpose.py``; equal outputs and gradients, tested).
- the ``lite`` default model, for scale.

bf16 rows run only where the CPU computes bf16 natively (AVX512-BF16 / AMX; or on a
GPU), or with ``--bf16``: emulated bf16 is many times slower than fp32.

Configurations are interleaved over ``--rounds`` and the median step time is kept,
so a machine busy with other work slows every row alike. Run with ``nice``:

    nice -n 10 python benchmarks/gan_speed.py --data-dir /work/shared/data/fashion-mnist

The TensorFlow tutorial takes 120 s per epoch on this CPU (146 s for its first).

Measured (2026-11-27, 2-core CPU shared with other jobs, load average ~10, so
absolute times are several times slower than an idle machine; ratios are the point):

    nice -n 10 python benchmarks/gan_speed.py --data-dir /work/shared/data/fashion-mnist --threads 1
    trainer                                  batch   s/step  images/s  s/epoch port/this
    plain PyTorch port (DataLoader), fp32      256   13.932      18.4   3265.4      1.00
    fashionlab trainer, fp32                   256   15.510      16.5   3635.1      0.90
    fashionlab trainer, bf16 autocast          256    8.646      29.6   2026.3      1.61
    lite model (default), fp32                 128    2.509      51.0   1176.2      2.78
    lite model (default), bf16 autocast        128    1.753      73.0    821.7      3.97

Second run, same day, load average ~5, PyTorch's default 2 threads:

    nice -n 10 python benchmarks/gan_speed.py --data-dir /work/shared/data/fashion-mnist
    trainer                                  batch   s/step  images/s  s/epoch port/this
    plain PyTorch port (DataLoader), fp32      256    4.635      55.2   1086.4      1.00
    fashionlab trainer, fp32                   256    4.123      62.1    966.3      1.12
    fashionlab trainer, bf16 autocast          256    9.916      25.8   2324.1      0.47
    lite model (default), fp32                 128    1.277     100.2    598.8      1.81
    lite model (default), bf16 autocast        128    4.260      30.0   1996.7      0.54

So the fp32 trainer is within about 10% of the port either way (0.90 and 1.12), and
CPU bf16 autocast helps with one thread but hurts with two: fp32 stays the CPU default
(``--precision bf16`` is there to try).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from fashionlab.data import load_fashion_mnist, to_tanh_range
from fashionlab.gan.step import make_amp
from fashionlab.gan.train import GanConfig, train_one_epoch
from fashionlab.models import create_model
from fashionlab.runtime.device import Distributed, configure_backends, fast_bf16, resolve_device
from fashionlab.runtime.threads import choose_threads, load_average

EPOCH_IMAGES = 60_000


class PerSampleImages(Dataset):
    """The usual port: one image at a time, converted to [-1, 1] on access."""

    def __init__(self, images: torch.Tensor):
        self.images = images.numpy()

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.from_numpy(self.images[i]).float().div(127.5).sub(1).unsqueeze(0)


def plain_port(images: torch.Tensor, batch: int, device: torch.device) -> Callable[[int], None]:
    """A step function in the style of pytorch/examples/dcgan (with logits + BCEWithLogits)."""
    torch.manual_seed(0)
    netG, netD = (m.to(device) for m in create_model("dcgan", "gan"))
    optG = torch.optim.Adam(netG.parameters(), 1e-4, betas=(0.9, 0.999))
    optD = torch.optim.Adam(netD.parameters(), 1e-4, betas=(0.9, 0.999))
    criterion = nn.BCEWithLogitsLoss()
    loader = DataLoader(PerSampleImages(images), batch_size=batch, shuffle=True, drop_last=True)
    batches = iter(loader)

    def run(steps: int) -> None:
        nonlocal batches
        for _ in range(steps):
            try:
                real = next(batches).to(device)
            except StopIteration:
                batches = iter(loader)
                real = next(batches).to(device)
            b = real.size(0)
            ones, zeros = torch.ones(b, device=device), torch.zeros(b, device=device)
            netD.zero_grad()
            err_real = criterion(netD(real), ones)
            err_real.backward()
            fake = netG(torch.randn(b, 100, device=device))
            err_fake = criterion(netD(fake.detach()), zeros)
            err_fake.backward()
            optD.step()
            netG.zero_grad()
            err_g = criterion(netD(fake), ones)
            err_g.backward()
            optG.step()
            (err_real + err_fake).item(), err_g.item()  # the usual per-step logging sync

    return run


def ours(images: torch.Tensor, model: str, precision: str, device: torch.device,
         batch: int | None = None, **model_args) -> Callable[[int], None]:
    """A step function running our trainer's epoch loop for ``steps`` steps."""
    torch.manual_seed(0)
    config = GanConfig(model=model, precision=precision, device=str(device.type),
                       batch_size=batch, model_args=model_args).resolved()
    generator, discriminator = (m.to(device) for m in create_model(model, "gan", **model_args))
    opt_g = torch.optim.Adam(generator.parameters(), config.lr_g, betas=config.betas,
                             fused=True)
    opt_d = torch.optim.Adam(discriminator.parameters(), config.lr_d, betas=config.betas,
                             fused=True)
    ema = None
    if config.ema:
        import copy

        ema = copy.deepcopy(generator).eval().requires_grad_(False)
    x = to_tanh_range(images).unsqueeze(1).to(device)
    labels = None  # unconditional models only here
    order = torch.Generator().manual_seed(0)
    amp = make_amp(device, precision)

    def run(steps: int) -> None:
        config.steps_per_epoch = steps
        train_one_epoch(generator, discriminator, opt_g, opt_d, ema, x, labels, config, order,
                        Distributed(), 1, amp, device)
        if device.type == "cuda":
            torch.cuda.synchronize()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--steps", type=int, default=10, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds (median kept)")
    parser.add_argument("--no-lite", action="store_true", help="skip the lite model rows")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch CPU threads (0 = what the command line would choose: the "
                             "cores no other program is using)")
    parser.add_argument("--bf16", action="store_true",
                        help="bf16 rows even where bf16 is emulated (slow)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads or choose_threads().threads)
    print(f"load average at start: {load_average()}")

    device = resolve_device(args.device)
    configure_backends()
    images = load_fashion_mnist(args.data_dir).train_images
    batch = 256
    rows: dict[str, tuple[Callable[[int], None], int]] = {
        "plain PyTorch port (DataLoader), fp32": (plain_port(images, batch, device), batch),
        "fashionlab trainer, fp32": (ours(images, "dcgan", "fp32", device), batch),
        "fashionlab trainer, fp32, phase convT": (
            ours(images, "dcgan", "fp32", device, conv_transpose="phase"), batch),
    }
    bf16 = args.bf16 or fast_bf16(device)
    if bf16:
        rows["fashionlab trainer, bf16 autocast"] = (ours(images, "dcgan", "bf16", device), batch)
    if not args.no_lite:
        lite_batch = GanConfig(model="lite").resolved().batch_size
        rows["lite model (default), fp32"] = (ours(images, "lite", "fp32", device), lite_batch)
        if bf16:
            rows["lite model (default), bf16 autocast"] = (ours(images, "lite", "bf16", device),
                                                           lite_batch)
    for run, _ in rows.values():  # warm-up: allocator, oneDNN kernel selection
        run(2)
    times: dict[str, list[float]] = {name: [] for name in rows}
    for _ in range(args.rounds):
        for name, (run, _) in rows.items():
            start = time.perf_counter()
            run(args.steps)
            times[name].append((time.perf_counter() - start) / args.steps)

    port_epoch = EPOCH_IMAGES / batch * statistics.median(times[next(iter(rows))])
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"{args.rounds} rounds x {args.steps} timed steps per row (median step kept); "
          f"s/epoch EXTRAPOLATED to {EPOCH_IMAGES:,} images; load average {load_average()}")
    if not bf16:
        print("no bf16 rows: this CPU has no native bf16 (AVX512-BF16 / AMX); --bf16 adds them")
    print(f"{'trainer':<40} {'batch':>5} {'s/step':>8} {'images/s':>9} {'s/epoch':>8} "
          f"{'port/this':>9}")
    for name, (_, b) in rows.items():
        step = statistics.median(times[name])
        epoch = EPOCH_IMAGES / b * step
        print(f"{name:<40} {b:>5} {step:>8.3f} {b / step:>9.1f} {epoch:>8.1f} "
              f"{port_epoch / epoch:>9.2f}")
    print("port/this = the port's s/epoch over this row's: > 1 is faster than the plain port "
          "(the lite rows train a different, smaller model)")


if __name__ == "__main__":
    main()
