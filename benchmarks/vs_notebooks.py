"""fashionlab against the seed's Keras notebooks, side by side in one run, on one machine.

The Keras side is the TensorFlow tutorials' code as written (``keras_notebooks.py``: the
dense classifier and the DCGAN), run by ``tensorflow-cpu`` in its own environment, as a
subprocess that keeps its models warm between turns. The fashionlab side is the reference
``mlp`` (``train_classifier`` as ``fashionlab train classifier --model mlp`` runs it, plain
and with the weight average ``--ema-decay 0.999``) and the reference ``dcgan`` (the
trainer's epoch loop, fp32; bf16 autocast too where the CPU computes bf16 natively). Both
read the same IDX files and use the same batch sizes (32 and 256) and thread count.

The two sides alternate, round by round, so that a machine busy with other work slows
both alike:
- MLP: each round trains Keras's model for ``mlp_epochs / rounds`` more epochs, then one
  whole fashionlab run per row (``mlp_epochs`` epochs, seed = round); seconds per epoch
  are medians over every timed epoch, test accuracy is Keras's after all its epochs and
  fashionlab's mean over the rounds' seeds;
- DCGAN: each round times ``--gan-steps`` steps of each side; seconds per epoch are
  EXTRAPOLATED from the median step to 60,000 images (235 steps of 256), as
  ``gan_speed.py`` does; a whole epoch takes minutes.
Wall-clock and CPU seconds are both printed: with other work on the machine, CPU seconds
(this process's, or the Keras subprocess's) are the steadier measure of the work done.

The machine's matrix-product rate is measured in the same run (``torch.matmul`` of square
float32 and bfloat16 matrices, the size doubled until one product takes 0.2 s; at the
start and at the end, the higher kept), and each row's achieved fraction of it printed.
FLOPs per image are counted by ``torch.utils.flop_counter`` on one training step of each
algorithm, in plain PyTorch modules of the same architecture: 2 x the multiply-adds of
the matrix products and convolutions, forward and backward (element-wise layers,
BatchNorm and Adam not counted). The tutorial's DCGAN step takes both gradients from one
forward pass, and so does fashionlab's ``dcgan`` (``--step-order shared``, its default).

    python -m venv /work/venvs/tf && /work/venvs/tf/bin/pip install tensorflow-cpu numpy
    python benchmarks/vs_notebooks.py --data-dir /work/shared/data/fashion-mnist

Without that environment only fashionlab's rows are printed (the script says how to make
it). ``--dry-run`` runs every part on tiny sizes, to check the script, not to measure.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from fashionlab.classifier.train import ClassifierConfig, train_classifier
from fashionlab.data import load_fashion_mnist
from fashionlab.data.fashion_mnist import locate
from fashionlab.gan.step import gan_step, make_amp
from fashionlab.gan.train import GanConfig
from fashionlab.models import create_model
from fashionlab.runtime.device import configure_backends, cpu_has_fast_bf16
from fashionlab.runtime.threads import allowed_cores, choose_threads, load_average
from gan_speed import EPOCH_IMAGES, ours

HERE = Path(__file__).resolve().parent
TF_PYTHON = "/work/venvs/tf/bin/python"
MAKE_VENV = ("python -m venv /work/venvs/tf && /work/venvs/tf/bin/pip install tensorflow-cpu "
             "numpy")


# --------------------------------------------------------------------------- the machine

def cpu_model() -> str:
    """The CPU's name as lscpu gives it (the machine's architecture off Linux)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def matmul_rate(dtype: torch.dtype, seconds: float = 0.2, largest: int = 4096) -> float:
    """FLOP/s of ``torch.matmul`` on square ``dtype`` matrices: the size doubles from 256
    until one product takes ``seconds``; the best of three products at that size."""
    n = 256
    while True:
        a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
        start = time.perf_counter()
        torch.matmul(a, b)
        took = time.perf_counter() - start
        if took >= seconds or n >= largest:
            break
        n *= 2
    best = took
    for _ in range(2):
        start = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def matmul_rates() -> dict[str, float]:
    return {"fp32": matmul_rate(torch.float32), "bf16": matmul_rate(torch.bfloat16)}


# --------------------------------------------------------------------------- FLOPs

def counted(step) -> int:
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


def mlp_flops_per_image(batch: int = 32) -> float:
    """One Adam step of the reference MLP (forward, backward) per image."""
    model = create_model("mlp", "classifier")
    x, y = torch.randn(batch, 1, 28, 28), torch.randint(0, 10, (batch,))
    return counted(lambda: F.cross_entropy(model(x), y).backward()) / batch


def gan_flops_per_image(batch: int = 8) -> dict[str, float]:
    """FLOPs per real image of a DCGAN step: the tutorial's and fashionlab's."""
    generator, discriminator = create_model("dcgan", "gan")
    real, noise = torch.randn(batch, 1, 28, 28), torch.randn(batch, 100)

    def tutorial() -> None:  # both tapes over one forward pass, as the TensorFlow tutorial
        fake = generator(noise)
        real_out, fake_out = discriminator(real), discriminator(fake)
        gen_loss = F.binary_cross_entropy_with_logits(fake_out, torch.ones_like(fake_out))
        disc_loss = (F.binary_cross_entropy_with_logits(real_out, torch.ones_like(real_out))
                     + F.binary_cross_entropy_with_logits(fake_out, torch.zeros_like(fake_out)))
        torch.autograd.grad(gen_loss, list(generator.parameters()), retain_graph=True)
        torch.autograd.grad(disc_loss, list(discriminator.parameters()))

    opt_g = torch.optim.Adam(generator.parameters(), 1e-4)
    opt_d = torch.optim.Adam(discriminator.parameters(), 1e-4)
    amp = make_amp(torch.device("cpu"), "fp32")
    order = GanConfig(model="dcgan").resolved().step_order  # what the trainer runs
    return {"tutorial": counted(tutorial) / batch,
            "fashionlab": counted(lambda: gan_step(generator, discriminator, opt_g, opt_d, real,
                                                   None, noise, "bce", amp, order)) / batch}


# --------------------------------------------------------------------------- Keras side

class Keras:
    """The ``keras_notebooks.py`` subprocess: one JSON command, one JSON answer."""

    def __init__(self, python: str, data_dir: str, threads: int, limit: int | None):
        self.process = subprocess.Popen(
            [python, str(HERE / "keras_notebooks.py")], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True)
        self.info = self.ask(cmd="setup", data_dir=data_dir, threads=threads, limit=limit)

    def ask(self, **command) -> dict:
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit(f"the Keras worker stopped (exit {self.process.wait()}); "
                             "its error is above")
        return json.loads(line)

    def close(self) -> None:
        self.process.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
        self.process.stdin.close()
        self.process.wait(timeout=60)


def keras_or_none(args, data_dir: str, threads: int) -> Keras | None:
    if not Path(args.tf_python).is_file():
        print(f"no TensorFlow environment at {args.tf_python}: only fashionlab's rows below. "
              f"To add the Keras notebooks' rows, make it:\n    {MAKE_VENV}")
        return None
    keras = Keras(args.tf_python, data_dir, threads, 2000 if args.dry_run else None)
    print(f"Keras side: TensorFlow {keras.info['tf']}, Keras {keras.info['keras']}, "
          f"{keras.info['intra_op_threads']} intra-op threads")
    return keras


# --------------------------------------------------------------------------- the runs

def mlp_rounds(args, keras: Keras | None) -> dict[str, dict]:
    """Wall and CPU seconds per epoch and test accuracies, the two sides alternating."""
    rows = {"Keras notebook": {"wall": [], "cpu": [], "test": []},
            "fashionlab mlp": {"wall": [], "cpu": [], "test": []},
            "fashionlab mlp, EMA 0.999": {"wall": [], "cpu": [], "test": []}}
    per_round = -(-args.mlp_epochs // args.rounds)
    done = 0
    for seed in range(args.rounds):
        if keras is not None and done < args.mlp_epochs:
            answer = keras.ask(cmd="mlp", epochs=min(per_round, args.mlp_epochs - done))
            rows["Keras notebook"]["wall"] += answer["seconds"]
            rows["Keras notebook"]["cpu"] += answer["cpu"]
            done += len(answer["seconds"])
        for name, decay in (("fashionlab mlp", 0.0), ("fashionlab mlp, EMA 0.999", 0.999)):
            with tempfile.TemporaryDirectory() as out:
                result = train_classifier(ClassifierConfig(
                    model="mlp", epochs=args.mlp_epochs, data_dir=args.data_dir, device="cpu",
                    out=out, figures=False, n_val=0, seed=seed, ema_decay=decay,
                    steps_per_epoch=60 if args.dry_run else None))
            cpu = [row["train_cpu_seconds"] for row in result.history]
            rows[name]["wall"] += [row["seconds"] for row in result.history]
            rows[name]["cpu"] += [b - a for a, b in zip([0.0] + cpu[:-1], cpu, strict=True)]
            rows[name]["test"].append(result.test_accuracy)
    if keras is not None:
        rows["Keras notebook"]["test"].append(keras.ask(cmd="mlp_test")["accuracy"])
    return rows


def gan_rounds(args, keras: Keras | None, bf16: bool) -> dict[str, dict]:
    """Wall and CPU seconds per step of each side, alternating round by round."""
    images = load_fashion_mnist(args.data_dir).train_images
    device = torch.device("cpu")
    steps: dict[str, object] = {}
    if keras is not None:
        def keras_steps(n: int) -> tuple[float, float]:
            answer = keras.ask(cmd="gan", steps=n)
            return answer["seconds"], answer["cpu"]
        steps["Keras notebook"] = keras_steps
    sides = {"fashionlab dcgan fp32": ours(images, "dcgan", "fp32", device)}
    if bf16:
        sides["fashionlab dcgan bf16"] = ours(images, "dcgan", "bf16", device)
    for name, run in sides.items():
        steps[name] = _timed(run)
    for step in steps.values():  # warm-up: tracing, allocator, oneDNN kernel choice
        step(2)
    rows = {name: {"wall": [], "cpu": []} for name in steps}
    for _ in range(args.rounds):
        for name, step in steps.items():
            wall, cpu = step(args.gan_steps)
            rows[name]["wall"].append(wall / args.gan_steps)
            rows[name]["cpu"].append(cpu / args.gan_steps)
    return rows


def _timed(run):
    def step(n: int) -> tuple[float, float]:
        start, cpu = time.perf_counter(), time.process_time()
        run(n)
        return time.perf_counter() - start, time.process_time() - cpu
    return step


# --------------------------------------------------------------------------- the tables

def print_table(title: str, rows: dict[str, dict], per_epoch: float, flops: dict[str, float],
                rates: dict[str, float], anchor: str) -> None:
    """One row per side: s per epoch (wall, CPU), speed-up over ``anchor``, GFLOP/s and
    the fraction of the matmul rate; ``per_epoch`` multiplies a row's unit to an epoch."""
    print(f"\n{title}")
    print(f"{'':<28} {'wall s/ep':>9} {'CPU s/ep':>9} {'x Keras':>8} {'x (CPU)':>8} "
          f"{'GFLOP/s':>8} {'of matmul':>9} {'test acc':>8}")
    base = rows.get(anchor)
    for name, row in rows.items():
        if not row["wall"]:
            continue
        wall = statistics.median(row["wall"]) * per_epoch
        cpu = statistics.median(row["cpu"]) * per_epoch
        ratio = cpu_ratio = "-"
        if base and base["wall"]:
            ratio = f"{statistics.median(base['wall']) * per_epoch / wall:.2f}"
            cpu_ratio = f"{statistics.median(base['cpu']) * per_epoch / cpu:.2f}"
        achieved = flops[name] * EPOCH_IMAGES / wall
        rate = rates["bf16" if "bf16" in name else "fp32"]
        test = f"{statistics.mean(row['test']):.4f}" if row.get("test") else "-"
        print(f"{name:<28} {wall:>9.2f} {cpu:>9.2f} {ratio:>8} {cpu_ratio:>8} "
              f"{achieved / 1e9:>8.2f} {achieved / rate:>9.1%} {test:>8}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--mlp-epochs", type=int, default=20,
                        help="epochs of each MLP (the seed's notebook trains 20)")
    parser.add_argument("--gan-steps", type=int, default=10, help="timed DCGAN steps per round")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per part")
    parser.add_argument("--threads", type=int, default=0,
                        help="CPU threads of both sides (0 = what the fashionlab command line "
                             "would choose: the cores no other program is using)")
    parser.add_argument("--tf-python", default=TF_PYTHON,
                        help="the python of the environment with tensorflow-cpu")
    parser.add_argument("--only", choices=["mlp", "dcgan"], default=None)
    parser.add_argument("--dry-run", action="store_true",
                        help="tiny sizes: checks every part in about a minute, measures nothing")
    args = parser.parse_args()
    if args.dry_run:
        args.mlp_epochs, args.gan_steps, args.rounds = 1, 1, 1
    args.data_dir = str(locate(args.data_dir))  # the folder both sides read
    threads = args.threads or choose_threads().threads
    torch.set_num_threads(threads)
    configure_backends()
    bf16 = cpu_has_fast_bf16()
    print(f"load average at start: {load_average()}; {cpu_model()}, {allowed_cores()} cores"
          f", torch {torch.__version__}, {threads} thread(s) each side; native bf16: "
          f"{'yes' if bf16 else 'no (bf16 rows skipped)'}")
    rates = matmul_rates()
    keras = keras_or_none(args, args.data_dir, threads)
    try:
        mlp = gan = None
        if args.only in (None, "mlp"):
            mlp = mlp_rounds(args, keras)
        if args.only in (None, "dcgan"):
            gan = gan_rounds(args, keras, bf16)
    finally:
        if keras is not None:
            keras.close()
    for dtype, rate in matmul_rates().items():
        rates[dtype] = max(rates[dtype], rate)
    print(f"\nload average at the end: {load_average()}")
    print(f"matmul rate, {threads} thread(s): fp32 {rates['fp32'] / 1e9:.1f} GFLOP/s, "
          f"bf16 {rates['bf16'] / 1e9:.1f} GFLOP/s (best of the start and the end)")
    if mlp is not None:
        flops = mlp_flops_per_image()
        print(f"MLP: {flops / 1e6:.3f} MFLOP per training image (forward + backward)")
        how = ("DRY RUN: 60 steps an epoch, Keras on 2,000 images" if args.dry_run
               else "median epoch")
        print_table(f"MLP 784-128-10, Adam, batch 32, {args.mlp_epochs} epochs of 60,000 images"
                    f" ({how})", mlp, 1.0, dict.fromkeys(mlp, flops), rates, "Keras notebook")
    if gan is not None:
        flops = gan_flops_per_image()
        print(f"\nDCGAN: {flops['tutorial'] / 1e6:.0f} MFLOP per image for the tutorial's step, "
              f"{flops['fashionlab'] / 1e6:.0f} for fashionlab's step")
        per_name = {name: flops["tutorial" if name.startswith("Keras") else "fashionlab"]
                    for name in gan}
        print_table(f"DCGAN, batch 256, {args.rounds} rounds x {args.gan_steps} steps, "
                    f"s/epoch EXTRAPOLATED to {EPOCH_IMAGES:,} images", gan,
                    EPOCH_IMAGES / 256, per_name, rates, "Keras notebook")
    print("\nx Keras: the Keras row's seconds over this row's (> 1: faster than the notebook)")


if __name__ == "__main__":
    main()
