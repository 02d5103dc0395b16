"""Classifier training speed: our loop against a plain PyTorch ``DataLoader`` loop, same run.

``--mode mlp`` (issue 2's target): the reference MLP (784-128-10, Adam 1e-3, batch 32).
  - "DataLoader loop": the usual PyTorch tutorial loop: a per-sample ``Dataset``
    (normalising one image at a time), ``DataLoader(batch_size=32, shuffle=True)``,
    ``nn.Module`` forward, autograd, ``torch.optim.Adam`` with its defaults; timed over
    ``--baseline-epochs`` full epochs.
  - "fashionlab": ``train_classifier`` exactly as ``fashionlab train classifier --model
    mlp`` runs it (resident data, one gather per epoch, the hand-written MLP step with the
    fused Adam kernel), for ``--epochs`` epochs; its test accuracy is printed too.
  Both train on all 60,000 training images, like the reference notebook (``n_val=0``:
  nothing is chosen here, the recipe is the reference's), and on the same number of
  torch threads (``--threads``, default all cores; on a shared, busy machine give 1, as
  two OpenMP threads then wait for each other). ``--seeds N`` trains ours N times
  (seeds 0..N-1): the test accuracy of this model moves by about half a point by seed.
  ``--ema-decay D`` adds a row for the same training with a weight average (``fashionlab
  train classifier --model mlp --ema-decay D``): same model, batch size and epochs, the
  averaged weights evaluated. 0.999 was chosen on the validation split (docs/classifiers.md).

``--mode cnn`` (issue 4): training throughput of the ``cnn`` model at batch 128, SGD, on
``--device`` (default cpu; on cuda the DataLoader loop copies each batch to the GPU).
  - "DataLoader loop": the same per-sample ``Dataset``/``DataLoader``, fp32, no augmentation.
  - "fashionlab": the trainer's ``EpochLoop`` with the recipe's augmentation (crop, flip,
    erasing), label smoothing and EMA, channels_last, with bf16 autocast (what
    ``--precision auto`` picks on a GPU or a CPU with native bf16; emulated bf16, on an
    AVX2-only CPU, is about 10x slower than fp32) and in fp32.
  Each timed round trains ``--cnn-batches`` batches; rounds are interleaved and the
  median is kept, so a machine busy with other work slows every row alike.
  ``--model``, ``--widths`` and ``--batch-size`` time another registered conv model (the
  GPU recipe's WRN-16-8: ``--model wrn --widths 128 256 512 --batch-size 256``);
  ``--compile`` adds a row for the bf16 loop under ``torch.compile`` (as ``--compile``
  of the trainer), its compilation counted only in the printed warm-up time.

Run with ``nice``; the load average is printed, since the machine is shared:

    nice -n 10 python benchmarks/classifier_speed.py --mode mlp --seeds 5 --ema-decay 0.999 \
        --data-dir DIR
    nice -n 10 python benchmarks/classifier_speed.py --mode cnn --data-dir DIR
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from fashionlab.classifier.augment import Augment
from fashionlab.classifier.loop import EpochLoop, build_optimizer
from fashionlab.classifier.train import ClassifierConfig, train_classifier
from fashionlab.data import load_fashion_mnist, normalize
from fashionlab.data.fashion_mnist import BACKGROUND
from fashionlab.models import create_model
from fashionlab.runtime.device import DEVICES, Distributed, configure_backends, resolve_device
from fashionlab.runtime.threads import load_average


class PerSampleImages(Dataset):
    """The usual tutorial dataset: one normalised image (1, 28, 28) and label per access."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        self.images, self.labels = images.numpy(), labels.numpy()

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        x = normalize(torch.from_numpy(self.images[i])).unsqueeze(0)
        return x, int(self.labels[i])


def dataloader_loop(model, optimizer, loader, max_batches: int | None = None,
                    device: torch.device | None = None) -> int:
    """The tutorial loop; returns the number of images it trained on."""
    model.train()
    seen = 0
    for i, (x, y) in enumerate(loader):
        if max_batches is not None and i >= max_batches:
            break
        if device is not None:
            x, y = x.to(device), y.to(device)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        seen += len(y)
    return seen


def bench_mlp(args, data) -> None:
    torch.manual_seed(0)
    model = create_model("mlp", "classifier")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(PerSampleImages(data.train_images, data.train_labels),
                        batch_size=32, shuffle=True)
    baseline, baseline_cpu = [], []
    for _ in range(args.baseline_epochs):
        start, cpu = time.perf_counter(), time.process_time()
        dataloader_loop(model, optimizer, loader)
        baseline.append(time.perf_counter() - start)
        baseline_cpu.append(time.process_time() - cpu)
    base_epoch, base_cpu = statistics.median(baseline), statistics.median(baseline_cpu)

    rows = {"fashionlab": mlp_runs(args, ema_decay=0.0)}
    if args.ema_decay:
        rows[f"fashionlab EMA {args.ema_decay:g}"] = mlp_runs(args, ema_decay=args.ema_decay)
    print(f"\nMLP 784-128-10, Adam 1e-3, batch 32, 60,000 training images per epoch; "
          f"{torch.get_num_threads()} torch thread(s) each; load average {load_average()}")
    print("wall s = median seconds per epoch on the clock; CPU s = the process's CPU seconds "
          "per epoch; test acc = mean over seeds")
    print(f"{'approach':<24} {'epochs':>6} {'wall s':>7} {'CPU s':>7} {'test acc':>8} "
          f"{'wall ratio':>10} {'CPU ratio':>9}")
    print(f"{'DataLoader loop':<24} {len(baseline):>6} {base_epoch:>7.2f} {base_cpu:>7.2f} "
          f"{'-':>8} {1.0:>9.1f}x {1.0:>8.1f}x")
    for name, results in rows.items():
        ours = [row["seconds"] for result in results for row in result.history]
        ours_epoch = statistics.median(ours)
        ours_cpu = statistics.median(
            result.history[-1]["train_cpu_seconds"] / len(result.history) for result in results)
        tests = [result.test_accuracy for result in results]
        print(f"{name:<24} {len(ours):>6} {ours_epoch:>7.2f} {ours_cpu:>7.2f} "
              f"{statistics.mean(tests):>8.4f} {base_epoch / ours_epoch:>9.1f}x "
              f"{base_cpu / ours_cpu:>8.1f}x")
    for name, results in rows.items():
        print(f"{name} test accuracy by seed (0..{len(results) - 1}): "
              f"{', '.join(f'{r.test_accuracy:.4f}' for r in results)}")
        seconds = [row["seconds"] for r in results for row in r.history]
        print(f"{name} epochs (wall s): {', '.join(f'{s:.2f}' for s in seconds)}")


def mlp_runs(args, ema_decay: float) -> list:
    """``train_classifier`` for seeds 0..N-1, as ``fashionlab train classifier`` runs it."""
    results = []
    for seed in range(args.seeds):
        with tempfile.TemporaryDirectory() as out:
            results.append(train_classifier(ClassifierConfig(
                model="mlp", epochs=args.epochs, data_dir=args.data_dir, device="cpu",
                out=out, figures=False, threads=args.threads, n_val=0, seed=seed,
                ema_decay=ema_decay)))
    return results


def bench_cnn(args, split) -> None:
    batch, n_batches = args.batch_size, args.cnn_batches
    model_args = {"widths": args.widths} if args.widths else {}
    n = batch * n_batches
    device = resolve_device(args.device)
    loader = DataLoader(PerSampleImages(split.train_images, split.train_labels),
                        batch_size=batch, shuffle=True)
    x_all = normalize(split.train_images).unsqueeze(1).to(device)
    y_all = split.train_labels.to(device)
    config = ClassifierConfig(model=args.model, batch_size=batch, optimizer="sgd", lr=0.05,
                              weight_decay=5e-4, label_smoothing=0.1, schedule="onecycle",
                              epochs=100, ema_decay=0.999)
    augment = Augment(crop_padding=2, flip=True, erasing=0.5, fill=BACKGROUND)

    def plain():
        torch.manual_seed(0)
        model = create_model(args.model, "classifier", **model_args).to(device)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
        return lambda: dataloader_loop(model, optimizer, loader, n_batches, device)

    def ours(bf16: bool, compiled: bool = False):
        from fashionlab.runtime.schedules import EMA

        torch.manual_seed(0)
        model = create_model(args.model, "classifier", **model_args).to(
            device, memory_format=torch.channels_last)
        x = x_all.contiguous(memory_format=torch.channels_last)
        optimizer = build_optimizer(model, config)
        # As `--compile` does: the optimizer and EMA hold the eager module's parameters.
        train_model = torch.compile(model) if compiled else model
        loop = EpochLoop(config, train_model, optimizer, augment,
                         torch.Generator(device).manual_seed(0), EMA(model, 0.999, every=5), bf16,
                         total_steps=100 * n_batches, warmup_steps=0)
        order = torch.Generator().manual_seed(1)

        def run():
            pick = torch.randperm(len(x), generator=order)[:n].to(device)  # one gather a round
            return loop.run_epoch(x[pick], y_all[pick], Distributed(), "")["images"]
        return run

    rows = {"DataLoader loop (fp32)": plain(), "fashionlab (fp32)": ours(False),
            "fashionlab (bf16)": ours(True)}
    if args.compile:
        rows["fashionlab (bf16, compiled)"] = ours(True, compiled=True)
    for name, step in rows.items():  # warm-up round (oneDNN primitives; compilation)
        start = time.perf_counter()
        step()
        print(f"warm-up round of {name}: {time.perf_counter() - start:.1f} s", flush=True)
    rates: dict[str, list[float]] = {name: [] for name in rows}
    cpu_rates: dict[str, list[float]] = {name: [] for name in rows}
    for _ in range(args.rounds):
        for name, step in rows.items():
            start, cpu = time.perf_counter(), time.process_time()
            seen = step()
            if device.type == "cuda":
                torch.cuda.synchronize()
            rates[name].append(seen / (time.perf_counter() - start))
            cpu_rates[name].append(seen / (time.process_time() - cpu))
    base = statistics.median(rates["DataLoader loop (fp32)"])
    cpu_base = statistics.median(cpu_rates["DataLoader loop (fp32)"])
    print(f"\n{args.model} ({model_args or 'default widths'}), batch {batch}, SGD, on {device}; "
          f"{n:,} images per round, "
          f"median of {args.rounds} interleaved rounds; torch threads {torch.get_num_threads()}; "
          f"load average {load_average()}")
    print(f"{'approach':<28} {'images/s':>9} {'ratio':>6} {'images/CPU s':>12} {'ratio':>6}")
    for name, values in rates.items():
        rate, cpu_rate = statistics.median(values), statistics.median(cpu_rates[name])
        print(f"{name:<28} {rate:>9.0f} {rate / base:>5.1f}x {cpu_rate:>12.0f} "
              f"{cpu_rate / cpu_base:>5.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["mlp", "cnn", "both"], default="both")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--epochs", type=int, default=20, help="fashionlab MLP epochs")
    parser.add_argument("--ema-decay", type=float, default=0.0,
                        help="also train ours with this weight average (--ema-decay of "
                             "`fashionlab train classifier`); 0 = only the plain recipe")
    parser.add_argument("--baseline-epochs", type=int, default=2, help="DataLoader MLP epochs")
    parser.add_argument("--cnn-batches", type=int, default=20, help="batches per CNN round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved CNN rounds")
    parser.add_argument("--model", default="cnn", help="--mode cnn: the registered conv model")
    parser.add_argument("--widths", type=int, nargs="+", default=None,
                        help="--mode cnn: the model's widths (default: the model's own)")
    parser.add_argument("--batch-size", type=int, default=128, help="--mode cnn: batch size")
    parser.add_argument("--compile", action="store_true",
                        help="--mode cnn: add a row for the bf16 loop under torch.compile "
                             "(the warm-up round, printed, includes the compilation)")
    parser.add_argument("--device", default="cpu", choices=DEVICES,
                        help="where --mode cnn trains (the MLP rows are the CPU target)")
    parser.add_argument("--seeds", type=int, default=1,
                        help="fashionlab MLP runs (seeds 0, 1, ...): accuracy varies by seed")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads for every loop (0 = PyTorch's default, all cores; "
                             "1 is faster when other jobs keep the cores busy)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    configure_backends()
    print(f"load average at start: {load_average()}")
    data = load_fashion_mnist(args.data_dir)
    split = data.split(5000, 0)
    if args.mode in ("mlp", "both"):
        bench_mlp(args, data)
    if args.mode in ("cnn", "both"):
        bench_cnn(args, split)


if __name__ == "__main__":
    main()
