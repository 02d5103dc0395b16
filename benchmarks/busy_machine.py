"""The default commands on an idle machine and beside one CPU-bound process.

Each measurement is a fresh ``python -m fashionlab.cli train ...`` with no thread
option, exactly as a user types it, so the command line's own choice of threads (the
cores no other program is using when it starts, ``fashionlab/runtime/threads.py``)
is what is measured. "busy" runs beside one ``python -c "while True: pass"`` at normal
priority, which this script starts a second before the command and stops after it;
"idle" is whatever else the machine is doing (the load average is printed: on a shared
machine idle is not idle, and both columns are then slower than on a quiet one).

Workloads (per-unit times from the runs' metrics.jsonl, the first epoch skipped as
warm-up):
- reference ``mlp``: seconds per epoch of 60,000 images, extrapolated from ``--mlp-steps``
  steps of 32 (all 1,875 by default);
- ``lite`` GAN (the default model): seconds per step of 128;
- ``cnn`` classifier: seconds per step of 128.
Targets (issue 25): busy at most 2x idle for the mlp, 2.5x for lite and cnn.

``--openmp`` adds the settings PyTorch's own defaults give (every core, OpenMP threads
spinning while they wait: ``OMP_NUM_THREADS`` set to the core count, which the command
line respects), beside the busy process, and the same with ``OMP_WAIT_POLICY=PASSIVE``,
idle and busy: what the choice avoids, and what sleeping threads would cost if the load
came after the start. Such a row can take minutes: each command has a ``--timeout``.

    python benchmarks/busy_machine.py --data-dir /work/shared/data/fashion-mnist --openmp
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from fashionlab.runtime.threads import allowed_cores, load_average

SRC = Path(__file__).resolve().parents[1] / "src"
TARGETS = {"mlp": 2.0, "lite": 2.5, "cnn": 2.5}


@dataclass(frozen=True)
class Workload:
    name: str
    unit: str
    args: list[str]  # after `fashionlab train`
    per_unit: float  # multiplies an epoch's seconds into the unit's


def workloads(args) -> list[Workload]:
    mlp_steps, steps = (20, 2) if args.dry_run else (args.mlp_steps, args.steps)
    return [
        Workload("mlp", "s/epoch", ["classifier", "--model", "mlp", "--epochs", "2", "--n-val",
                                    "0", "--steps-per-epoch", str(mlp_steps)], 1875 / mlp_steps),
        Workload("lite", "s/step", ["gan", "--model", "lite", "--epochs", "2",
                                    "--steps-per-epoch", str(steps)], 1 / steps),
        Workload("cnn", "s/step", ["classifier", "--model", "cnn", "--epochs", "2", "--n-val",
                                   "500", "--steps-per-epoch", str(steps)], 1 / steps),
    ]


def run_once(work: Workload, data_dir: str, env_extra: dict[str, str], busy: bool,
             timeout: float) -> tuple[float | None, int | None]:
    """(seconds per unit, torch threads used) of one fresh command; None when it ran past
    ``timeout``."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS",
                                                           "MKL_NUM_THREADS",
                                                           "OMP_WAIT_POLICY")}
    env.update(env_extra, PYTHONPATH=f"{SRC}{os.pathsep}{env.get('PYTHONPATH', '')}")
    competitor = None
    if busy:
        competitor = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        time.sleep(1.0)  # running before the command looks at the machine
    try:
        with tempfile.TemporaryDirectory() as out:
            command = [sys.executable, "-m", "fashionlab.cli", "train", *work.args,
                       "--no-figures", "--data-dir", data_dir, "--out", out]
            try:
                subprocess.run(command, env=env, check=True, timeout=timeout,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            except subprocess.TimeoutExpired:
                return None, None
            except subprocess.CalledProcessError as exc:
                raise SystemExit(f"{' '.join(command)} failed:\n{exc.stderr}") from None
            rows = [json.loads(line) for line in (Path(out) / "metrics.jsonl").open()]
            threads = json.loads((Path(out) / "config.json").read_text()).get("torch_threads")
    finally:
        if competitor is not None:
            competitor.kill()
            competitor.wait()
    seconds = [row["seconds"] for row in rows[1:]] or [rows[0]["seconds"]]
    return statistics.median(seconds) * work.per_unit, threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--mlp-steps", type=int, default=1875,
                        help="mlp steps per epoch timed (1,875 = a whole epoch)")
    parser.add_argument("--steps", type=int, default=20, help="lite and cnn steps per epoch")
    parser.add_argument("--rounds", type=int, default=2,
                        help="idle/busy pairs per workload (the median kept)")
    parser.add_argument("--only", nargs="+", choices=list(TARGETS), default=list(TARGETS))
    parser.add_argument("--openmp", action="store_true",
                        help="also PyTorch's defaults (all cores, spinning) and sleeping "
                             "OpenMP threads (OMP_WAIT_POLICY=PASSIVE)")
    parser.add_argument("--timeout", type=float, default=300,
                        help="seconds before one command is given up")
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes, one round")
    args = parser.parse_args()
    rounds = 1 if args.dry_run else args.rounds
    cores = str(allowed_cores())
    print(f"load average at start: {load_average()}; {cores} cores; {rounds} round(s)")
    settings = {"default": {}}
    if args.openmp:
        settings["all cores, spinning"] = {"OMP_NUM_THREADS": cores}
        settings["all cores, PASSIVE"] = {"OMP_NUM_THREADS": cores, "OMP_WAIT_POLICY": "PASSIVE"}
    print(f"{'workload':<8} {'setting':<20} {'unit':<8} {'idle':>8} {'busy':>8} {'busy/idle':>9} "
          f"{'target':>6} {'threads idle/busy':>17}")
    for work in workloads(args):
        if work.name not in args.only:
            continue
        for setting, env in settings.items():
            times = {False: [], True: []}
            used = {False: set(), True: set()}
            for _ in range(rounds):
                for busy in (False, True):
                    seconds, threads = run_once(work, args.data_dir, env, busy, args.timeout)
                    times[busy].append(float("inf") if seconds is None else seconds)
                    used[busy].add(threads)
            idle, busy = statistics.median(times[False]), statistics.median(times[True])
            target = f"{TARGETS[work.name]:.1f}x" if setting == "default" else ""
            threads = "/".join(",".join(str(t) for t in sorted(used[b], key=str))
                               for b in (False, True))
            print(f"{work.name:<8} {setting:<20} {work.unit:<8} {idle:>8.3f} {busy:>8.3f} "
                  f"{busy / idle:>8.2f}x {target:>6} {threads:>17}", flush=True)
    print(f"load average at the end: {load_average()}; inf = over --timeout {args.timeout:g} s")


if __name__ == "__main__":
    main()
