"""Issue 6's air-quality benchmark: every imputer on the two published protocols, same code.

Data: the 12 Beijing stations as one hourly table of 132 columns (11 variables x 12
stations, ``fashionlab.data.air_quality``). For each protocol, every method is fitted on
the training split and fills the validation and test splits, each cut into
non-overlapping 24-hour windows imputed on their own (no look across a window edge;
methods that only look at one hour, like kNN, are unaffected). Errors are on the hidden
cells only, in units standardised with the training split's mean and std:

* SAITS protocol (Du et al. 2023): test = 2013-03..2013-12, val = 2014-01..2014-10,
  train = 2014-11..2017-02; 10% of the observed val/test cells hidden (seeded); MAE,
  RMSE, MRE. Published MAE: SAITS 0.137, BRITS 0.153, Transformer 0.158, M-RNN 0.294,
  E2GAN 0.750, median 0.763; linear interpolation in 24-hour windows about 0.129.
* TSI-Bench protocol (Du et al. 2024; benchpots ``preprocess_beijing_air_quality`` with
  ``n_steps=24``, point rate 0.1, as in its ``dataset_generating_point01.py``): train =
  the first 28 months, val = 2015-07..2016-04, test = 2016-05..2017-02; standardised
  with the training statistics; non-overlapping 24-hour windows; 10% of the observed
  cells hidden in EVERY split (the training input loses them too); MAE, MSE. Published
  MAE: CSDI 0.102, linear 0.112, iTransformer 0.123, BRITS 0.127, US-GAN 0.137,
  SAITS 0.155.

kNN, MICE-like and MissForest-like are fitted on a random subsample of training rows
(``--tabular-rows``) and MissForest-like uses small forests, to stay affordable on two
cores: the table says so. The window GAN's settings (``GAN_PARAMS``) were chosen on the
validation split; test numbers are reported once.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/impute_air_quality.py --threads 1
    python benchmarks/impute_air_quality.py --quick         # smoke run on a few days

On a busy two-core machine one thread per library is much faster than two (threads
that spin-wait for a core collapse): hence the environment variables and ``--threads 1``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fashionlab.data.air_quality import load_air_quality
from fashionlab.errors import FashionlabError
from fashionlab.impute.baselines import (
    KNearestImputer,
    MedianImputer,
    MiceImputer,
    MissForestImputer,
)
from fashionlab.impute.masking import masked_errors
from fashionlab.impute.protocols import HIDE, WINDOW, prepare_protocol
from fashionlab.impute.timeseries import (
    LinearInterpolationImputer,
    LocfImputer,
    NearestStationImputer,
)
from fashionlab.impute.window_gain import WindowGainImputer

PUBLISHED_MAE = {
    "saits": {"SAITS": 0.137, "BRITS": 0.153, "Transformer": 0.158, "M-RNN": 0.294,
              "E2GAN": 0.750, "median": 0.763, "linear (issue 6)": 0.129},
    "tsi-bench": {"CSDI": 0.102, "linear": 0.112, "iTransformer": 0.123, "BRITS": 0.127,
                  "US-GAN": 0.137, "SAITS": 0.155},
}  # fmt: skip
TARGETS = {"saits": 0.129, "tsi-bench": 0.102}  # issue 6: the GAN's MAE must go below these
# The window GAN's settings. Chosen on the TSI-Bench validation split: lr 2e-3 gave val MAE
# 0.0979 and lr 1e-3 0.1061 (linear 0.1084), both with a 540 s budget on the busy machine.
GAN_PARAMS: dict[str, Any] = dict(
    d_model=128, n_layers=2, n_heads=4, epochs=1000, batch_size=64, lr=2e-3, hide_rate=0.2,
    hint_rate=0.9, adversarial_weight=0.05, observed_weight=0.5,
    max_seconds=810,  # 13.5 min: the 15-minute training budget, minus a margin
)  # fmt: skip
QUICK_GAN = dict(d_model=32, n_layers=1, n_heads=2, disc_hidden=32, epochs=2, batch_size=16,
                 max_seconds=None)  # fmt: skip


def methods(args) -> dict[str, tuple[Any, str]]:
    """name -> (unfitted imputer, note on how it was run)."""
    gan = {**GAN_PARAMS, **(QUICK_GAN if args.quick else {}), **json.loads(args.gan_params)}
    forest = dict(n_estimators=2, max_iter=1) if args.quick else dict(n_estimators=10, max_iter=3)
    mice_rounds = 1 if args.quick else 5
    budget = f"{gan['max_seconds']} s budget" if gan["max_seconds"] else f"{gan['epochs']} epochs"
    rows = f"fit on {args.tabular_rows} random training rows"
    table = {
        "median": (MedianImputer(), "training median per column"),
        "locf": (LocfImputer(window=WINDOW), "inside each 24 h window"),
        "linear": (LinearInterpolationImputer(window=WINDOW), "inside each 24 h window"),
        "nearest-station": (
            NearestStationImputer(n_variables=11, window=WINDOW),
            "best of 3 correlated stations; else interpolation in the window",
        ),
        "knn": (KNearestImputer(n_neighbors=5), rows),
        "mice": (
            MiceImputer(max_iter=mice_rounds, random_state=args.seed),
            f"{rows}; {mice_rounds} rounds",
        ),
        "missforest": (
            MissForestImputer(**forest, random_state=args.seed),
            f"{rows}; {forest['n_estimators']} trees, {forest['max_iter']} rounds",
        ),
        "window-gan": (
            WindowGainImputer(window=WINDOW, random_state=args.seed, **gan),
            f"GAIN+hint, transformer on 24 h windows, {budget}",
        ),
    }
    unknown = set(args.methods) - set(table)
    if unknown:
        raise FashionlabError(f"unknown method(s) {sorted(unknown)}: choose from {list(table)}")
    return {name: table[name] for name in args.methods}


def run_method(imputer, note, train, scored, args, rng) -> dict[str, Any]:
    """Fit on the training rows (a subsample for the tabular methods), score val and test."""
    row: dict[str, Any] = {"note": note}
    fit_rows = train
    if "random training rows" in note and len(train) > args.tabular_rows:
        keep = np.sort(rng.choice(len(train), args.tabular_rows, replace=False))
        fit_rows = train[keep]
    start = time.perf_counter()
    try:
        imputer.fit(fit_rows)
    except (ValueError, FashionlabError) as err:  # e.g. a column empty in a --quick slice
        return {**row, "error": str(err)}
    row["fit_seconds"] = round(time.perf_counter() - start, 2)
    for name in args.splits:
        split = scored[name]
        start = time.perf_counter()
        filled = imputer.transform(split.given)
        row[f"{name}_impute_seconds"] = round(time.perf_counter() - start, 2)
        errors = masked_errors(split.truth, filled, split.hidden)
        row.update({f"{name}_{k}": v for k, v in errors.items()})
    if hasattr(imputer, "history_"):
        row["train_epochs"] = len(imputer.history_)
    return row


def print_table(protocol: str, rows: dict[str, dict[str, Any]], splits: list[str]) -> None:
    ref = rows.get("linear", {}).get(f"{splits[-1]}_mae")
    head = f"{'method':16}" + "".join(f"{s + ' MAE':>10}" for s in splits)
    last = splits[-1]
    print(f"\n== {protocol} protocol ==")
    print(head + f"{'/linear':>9}{last + ' RMSE':>11}{last + ' MSE':>10}{last + ' MRE':>10}"
          f"{'fit s':>9}{'impute s':>10}  how")  # fmt: skip
    for name, row in rows.items():
        if "error" in row:
            print(f"{name:16}  failed: {row['error']}")
            continue
        ratio = row[f"{last}_mae"] / ref if ref else float("nan")
        seconds = sum(row.get(f"{s}_impute_seconds", 0) for s in splits)
        print(f"{name:16}" + "".join(f"{row[f'{s}_mae']:10.4f}" for s in splits)
              + f"{ratio:9.3f}{row[f'{last}_rmse']:11.4f}{row[f'{last}_mse']:10.4f}"
              f"{row[f'{last}_mre']:10.4f}{row['fit_seconds']:9.1f}{seconds:10.1f}"
              f"  {row['note']}")  # fmt: skip
    published = ", ".join(f"{k} {v}" for k, v in PUBLISHED_MAE[protocol].items())
    print(f"published test MAE (their runs, not this one): {published}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=None, help="air-quality folder (default: "
                        "$FASHIONLAB_AIR_QUALITY, else ../shared/data/air-quality)")  # fmt: skip
    parser.add_argument("--protocols", nargs="+", default=["saits", "tsi-bench"])
    parser.add_argument("--methods", nargs="+", default=["median", "locf", "linear",
                        "nearest-station", "knn", "mice", "missforest", "window-gan"])  # fmt: skip
    parser.add_argument(
        "--splits",
        nargs="+",
        default=["val", "test"],
        choices=["val", "test"],
        help="which splits to score ('val' alone while choosing settings)",
    )
    parser.add_argument(
        "--tabular-rows",
        type=int,
        default=2000,
        help="training rows the kNN/MICE/MissForest fits see",
    )
    parser.add_argument("--gan-params", default="{}", help="JSON overrides of GAN_PARAMS")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="a few days per split, tiny GAN")
    parser.add_argument("--out", default=None, help="results JSON (full run default: benchmarks/"
                        "results/impute_air_quality_<protocols>.json; --quick: none)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.quick:
        args.tabular_rows = min(args.tabular_rows, 300)
    if args.threads:
        torch.set_num_threads(args.threads)
    data_dir = args.data_dir
    if data_dir is None and not os.environ.get("FASHIONLAB_AIR_QUALITY"):
        data_dir = Path(__file__).resolve().parents[1].parent / "shared/data/air-quality"
    threads_env = [f"{k}={os.environ[k]}" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")
                   if k in os.environ]  # fmt: skip
    command = shlex.join(
        [*threads_env, "python", "benchmarks/impute_air_quality.py", *sys.argv[1:]]
    )
    print(command)
    print(f"torch threads {torch.get_num_threads()}, cpus {os.cpu_count()}, "
          f"load average at start {os.getloadavg()[0]:.2f}")  # fmt: skip
    table = load_air_quality(data_dir)
    results: dict[str, Any] = {
        "command": command, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "load_average_start": os.getloadavg()[0], "python": platform.python_version(),
                    "torch": torch.__version__},
        "window_hours": WINDOW, "hidden_fraction": HIDE, "seed": args.seed,
        "units": "standardised with the training split's mean and std",
        "published_test_mae": PUBLISHED_MAE, "targets_mae": TARGETS, "protocols": {},
    }  # fmt: skip
    for protocol in args.protocols:
        quick_days = {"train": 60, "val": 10, "test": 10} if args.quick else None
        prepared = prepare_protocol(table, protocol, args.seed, days=quick_days)
        train, scored = prepared.train, prepared.scored
        rows = {}
        for name, (imputer, note) in methods(args).items():
            rng = np.random.default_rng(args.seed)
            rows[name] = run_method(imputer, note, train, scored, args, rng)
            print(f"  {protocol} {name}: " + ", ".join(
                f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                for k, v in rows[name].items() if k.endswith(("mae", "seconds", "error"))),
                flush=True)  # fmt: skip
        results["protocols"][protocol] = {
            "train_rows": len(train),
            "scored_cells": {s: int(scored[s].hidden.sum()) for s in args.splits},
            "methods": rows,
        }
        print_table(protocol, rows, args.splits)
    results["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    results["machine"]["load_average_end"] = os.getloadavg()[0]
    default = f"benchmarks/results/impute_air_quality_{'_'.join(args.protocols)}.json"
    out = args.out or (None if args.quick else default)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(results, indent=2) + "\n")
        print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except FashionlabError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
