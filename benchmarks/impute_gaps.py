"""Issue 22's gap benchmark: every method on realistic gaps of the 132-column Beijing table.

Protocol. Split in time: every method is fitted on 2013-03..2015-12 (``fit``), settings
are chosen on 2016-01..2016-06 (``--split val``, which never reads the last period) and
the choice is scored once on 2016-07..2017-02 (``--split test``, which also prints the
validation rows). All values are standardised with the fit period's statistics. In the
validation and test periods observed cells are hidden twice, seeded: ``block`` gaps (runs
drawn from each column's own gap lengths, 10% of the cells) and whole-station ``outage``
gaps (every variable of one station, runs drawn from that station's own outages, 10%),
from ``fashionlab.impute.patterns``; the masks are saved (``--masks``, a compressed ``.npz``)
and read back by later runs, so every run scores the same cells. The fit period loses cells
the same way (seeds apart): every method is fitted without them.

Scores: MAE and RMSE on the hidden cells by gap-length bucket (the length of the missing
run the cell lies in, real and hidden gaps together; block cells only) and on the outage
cells. Every learned method gets the same CPU budget (``--budget`` CPU seconds of its own
process, one thread): the window GANs and GAIN stop training when it is spent; MICE-like
and MissForest-like have no clock: their sizes (rows, rounds, trees; ``TABULAR``) were set
beforehand, and the table prints the CPU seconds each used.
The PyPOTS peers (SAITS, BRITS, USGAN) run in their own environment
(``--peers-python``, default ``/work/venvs/pypots/bin/python``) through
``benchmarks/pypots_peers.py`` with the same budget; they are skipped with a printed line
when that python or that file is missing.

Intervals: ``--samples K`` draws of the window GAN; per bucket, the coverage of the 90%
interval calibrated per gap class and variable (``fashionlab.impute.intervals``) on the
hidden cells of ``--calibrate``'s period (``fit``, the default: the fit period's hidden
cells, which the models never saw but whose hours they were fitted on; ``val``: the period
just before the test, so its coverage there is in-sample; it has few cells of gaps over 72
hours, and gave lower test coverage on them, docs/imputation-gaps.md), and the CRPS of the
normal with the interval's width (sigma = half-width / 1.645) against a reference normal
centred on the same median fill with the standard deviation of the validation residuals of
that bucket.

    OMP_NUM_THREADS=1 python benchmarks/impute_gaps.py --split val --budget 150
    OMP_NUM_THREADS=1 python benchmarks/impute_gaps.py --split test --budget 150
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from fashionlab.data.air_quality import Standardizer, load_air_quality
from fashionlab.impute.base import make_imputer
from fashionlab.impute.intervals import (
    BUCKETS,
    CLASSES,
    by_variable,
    calibrate_by_gap,
    draw_fills,
    gap_classes,
    gap_interval,
    gaussian_crps,
)
from fashionlab.impute.patterns import pattern_mask, run_lengths, station_groups

PERIODS = {"fit": ("2013-03-01", "2015-12-31"), "val": ("2016-01-01", "2016-06-30"),
           "test": ("2016-07-01", "2017-02-28")}
FRACTION = 0.1  # share of observed cells hidden by each pattern
# The window GAN for gaps, chosen on the validation period (docs/imputation-gaps.md): a grid
# over window 48 and 72, hide_rate 0.5 and d_model 64 kept the others; 4 shifted grids of
# windows, then the one-normal start and batches of 32 were better there.
GAP_GAN = dict(start="gaussian", hide_pattern="gaps", hide_rate=0.3, epochs=100000,
               lr=2e-3, batch_size=32, shifts=4)
FIRST_CUT_GAN = dict(epochs=100000, lr=2e-3, batch_size=64)  # today's start: interpolation
# MICE-like and MissForest-like have no clock: their sizes were set beforehand to fit the
# budget (10 trees and 2 rounds took 188 CPU s of 120). GAIN stops at its budget (it gets
# --budget as max_seconds); its starting fill was sized from its cost alone (the default's
# mixture of up to 3 normals took 268 CPU s on these 132 columns, 10-tree forests 49 more):
# one normal on 2 folds, no forests, about 25 CPU s. The table prints the CPU s each used.
TABULAR = {
    "mice": dict(max_iter=5),
    "missforest": dict(n_estimators=5, max_iter=2, n_jobs=1),
    "gain": dict(n_iterations=10**6, n_components=1, start_folds=2, start_blend=0.0),
}
TABULAR_ROWS = 4000  # rows of the fit period the tabular methods are fitted on (random)
PEERS = ("saits", "brits", "usgan")
N_VARIABLES = 11  # per station: the intervals are calibrated per gap class and variable


def split_masks(truth, name, columns, seed, path: Path):
    """The (block, outage) masks of one period: read from the ``.npz`` at ``path`` or drawn
    (seeded) and added to it."""
    saved = {}
    if path.exists():
        with np.load(path, allow_pickle=False) as stored:
            saved = {key: stored[key] for key in stored.files}
    keys = (f"{name}_block", f"{name}_outage")
    if all(k in saved for k in keys):
        if saved[keys[0]].shape != truth.shape:
            raise SystemExit(f"{path}: the {name} masks have shape {saved[keys[0]].shape}, "
                             f"the period {truth.shape}")
        return saved[keys[0]], saved[keys[1]]
    offset = {"fit": 0, "val": 10, "test": 20}[name]
    block = pattern_mask(truth, "block", FRACTION, seed + offset)
    outage = pattern_mask(truth, "outage", FRACTION, seed + offset + 1, columns=columns)
    outage &= ~block
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **saved, **dict(zip(keys, (block, outage), strict=True)))
    return block, outage


class Period:
    """One scored period: truth, the given array (hidden cells NaN) and the scoring masks."""

    def __init__(self, truth, block, outage):
        self.truth = truth
        self.hidden = (block | outage) & ~np.isnan(truth)
        self.outage = outage & self.hidden
        self.given = np.where(self.hidden, np.nan, truth)
        self.lengths = run_lengths(np.isnan(self.given))

    def selections(self):
        """(bucket name, cells) for each bucket and the outages."""
        for low, high, name in BUCKETS:
            yield name, self.hidden & ~self.outage & (self.lengths >= low) & (
                self.lengths <= high)
        yield "outage", self.outage

    def score(self, filled) -> dict[str, list]:
        rows = {}
        for name, sel in self.selections():
            if sel.any():
                err = filled[sel] - self.truth[sel]
                rows[name] = [float(np.abs(err).mean()), float(np.sqrt((err**2).mean())),
                              int(sel.sum())]
        return rows


def learned_methods(args) -> dict[str, tuple[str, dict, bool]]:
    """name -> (registered imputer, params, fitted on a row sample)."""
    gan = dict(max_seconds=args.budget, budget_clock="cpu", random_state=args.seed)
    table = {
        "interpolate": ("interpolate", {}, False),
        "nearest-station": ("nearest-station", {}, False),
        "mice": ("mice", {**TABULAR["mice"], "random_state": args.seed}, True),
        "missforest": ("missforest", {**TABULAR["missforest"], "random_state": args.seed},
                       True),
        "gain": ("gain", {**TABULAR["gain"], "max_seconds": args.budget,
                          "budget_clock": "cpu", "random_state": args.seed}, True),
        "window-gain-first-cut": ("window-gain", {**FIRST_CUT_GAN, **gan}, False),
    }
    chosen = {k: v for k, v in table.items() if k in args.methods}
    if "window-gain" in args.methods:
        grid = json.loads(args.gan_params)
        for i, extra in enumerate(grid if isinstance(grid, list) else [grid]):
            label = "window-gain" + (f" {json.dumps(extra)}" if i else "")
            chosen[label] = ("window-gain", {**GAP_GAN, **gan, **extra}, False)
    return chosen


def run_peers(args, fit, periods, results, cpu) -> None:
    """The PyPOTS peers in their own environment, through ``pypots_peers.py``."""
    script = Path(args.peers_script)
    peers = [m for m in args.methods if m in PEERS]
    if not peers:
        return
    if not Path(args.peers_python).exists() or not script.exists():
        print(f"  skipped {','.join(peers)}: {args.peers_python} or {script} is missing")
        return
    with tempfile.TemporaryDirectory() as tmp:
        data, fills = Path(tmp) / "data.npz", Path(tmp) / "fills.npz"
        test = periods.get("test", periods["val"])  # --split val never reads the test period
        np.savez(data, train=fit.astype(np.float32), val=periods["val"].given.astype(
            np.float32), test=test.given.astype(np.float32), window=np.int64(24))
        command = [args.peers_python, str(script), "--input", str(data), "--out", str(fills),
                   "--methods", ",".join(peers), "--budget", f"{args.budget:g}",
                   "--threads", "1", "--seed", str(args.seed)]
        print("  " + shlex.join(command), flush=True)
        done = subprocess.run(command, check=False, env={**os.environ, "OMP_NUM_THREADS": "1"})
        if done.returncode != 0:
            print(f"  the peers failed (exit status {done.returncode}); their rows are missing")
            return
        with np.load(fills, allow_pickle=False) as out:
            for m in peers:
                if f"{m}_val" not in out.files:
                    print(f"  {m}: no fill (skipped by pypots_peers.py)")
                    continue
                results[m] = {name: p.score(out[f"{m}_{name}"].astype(float))
                              for name, p in periods.items()}
                cpu[m] = float(out[f"{m}_cpu_seconds"])


def interval_rows(imputer, calibrate: Period, periods, groups, args) -> dict:
    """Calibrate on the hidden cells of ``calibrate``, then per bucket of each period: the
    draws' raw coverage, the calibrated coverage, CRPS and the Gaussian reference's CRPS."""
    def classes(given):
        return by_variable(gap_classes(np.isnan(given), groups), N_VARIABLES)

    draws = draw_fills(imputer, calibrate.given, args.samples, args.seed)
    calibration = calibrate_by_gap(draws, calibrate.truth, calibrate.hidden,
                                   classes(calibrate.given),
                                   n_classes=len(CLASSES) * N_VARIABLES)
    del draws
    scale = calibration.scale.reshape(len(CLASSES), N_VARIABLES)
    print(f"  calibration: {calibration.cells.sum():,} cells in {len(CLASSES)} gap classes x "
          f"{N_VARIABLES} variables; raw coverage {calibration.raw_coverage:.3f}; stretch "
          + ", ".join(f"{c} x{s.min():.3g}-{s.max():.3g}" for c, s in zip(
              CLASSES, scale, strict=True)))
    fills, reference = {}, {}
    for name, p in periods.items():
        draws = draw_fills(imputer, p.given, args.samples, args.seed + 1)
        q05, q95 = np.quantile(draws, [0.05, 0.95], axis=0)
        fills[name] = (*gap_interval(draws, classes(p.given), calibration), q05, q95)
    median = fills["val"][0]
    for bucket, sel in periods["val"].selections():  # the reference: val residuals' spread
        reference[bucket] = float(np.std(median[sel] - periods["val"].truth[sel]))
    rows = {}
    for name, p in periods.items():
        median, low, high, q05, q95 = fills[name]
        for bucket, sel in p.selections():
            if not sel.any():
                continue
            y = p.truth[sel]
            sigma = (high[sel] - low[sel]) / 2 / 1.645
            rows[f"{name} {bucket}"] = {
                "raw": float(np.mean((q05[sel] <= y) & (y <= q95[sel]))),
                "coverage": float(np.mean((low[sel] <= y) & (y <= high[sel]))),
                "crps": float(gaussian_crps(median[sel], sigma, y).mean()),
                "crps_reference": float(gaussian_crps(
                    median[sel], np.full(len(y), reference[bucket]), y).mean()),
                "cells": int(sel.sum())}
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("val", "test"), default="val",
                        help="val: choose settings (never reads the test period); test: once")
    parser.add_argument("--budget", type=float, default=150.0,
                        help="CPU seconds per learned method")
    parser.add_argument("--methods", nargs="+", default=[
        "interpolate", "nearest-station", "mice", "missforest", "gain",
        "window-gain-first-cut", "window-gain", *PEERS])
    parser.add_argument("--gan-params", default="{}", help="JSON overrides of GAP_GAN, or a "
                        "list of them (--split val: one row each; intervals for the first)")
    parser.add_argument("--samples", type=int, default=10, help="window-GAN draws (0: none)")
    parser.add_argument("--calibrate", choices=("fit", "val"), default="fit",
                        help="the period whose hidden cells calibrate the intervals")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--masks", type=Path, default=None, help="masks .npz (default: "
                        "benchmarks/results/impute_gaps_masks_seed<SEED>.npz)")
    parser.add_argument("--peers-python", default="/work/venvs/pypots/bin/python")
    parser.add_argument("--peers-script", default=str(Path(__file__).with_name(
        "pypots_peers.py")), help="the PyPOTS peers' script (default: beside this one)")
    parser.add_argument("--out", type=Path, default=None, help="results JSON")
    parser.add_argument("--merge", type=Path, nargs="+", default=None, help="print one table "
                        "from the results JSON of runs on the same masks (methods run apart)")
    args = parser.parse_args()
    if args.merge:
        merge_runs(args.merge)
        return
    args.masks = args.masks or Path(f"benchmarks/results/impute_gaps_masks_seed{args.seed}.npz")
    torch.set_num_threads(1)
    table = load_air_quality()
    columns = list(table.columns)
    groups = station_groups(columns)
    raw = {name: table.loc[start:stop].to_numpy() for name, (start, stop) in PERIODS.items()}
    scaler = Standardizer.fit(raw["fit"])
    fit = scaler.transform(raw["fit"])
    fit_cells = Period(fit, *split_masks(fit, "fit", columns, args.seed, args.masks))
    names = ["val"] + (["test"] if args.split == "test" else [])
    periods = {n: Period(scaler.transform(raw[n]), *split_masks(
        scaler.transform(raw[n]), n, columns, args.seed, args.masks)) for n in names}
    print(f"load {Path('/proc/loadavg').read_text().split()[:3]}; fit {len(fit):,} rows "
          f"({fit_cells.hidden.sum():,} cells hidden); " + "; ".join(
              f"{n} {len(p.truth):,} rows, {p.hidden.sum():,} hidden ({p.outage.sum():,} "
              "outage)" for n, p in periods.items()) + f"; budget {args.budget:g} CPU s",
          flush=True)
    rng = np.random.default_rng(args.seed)
    sample = np.sort(rng.choice(len(fit), min(TABULAR_ROWS, len(fit)), replace=False))
    results, cpu, intervals = {}, {}, {}
    for label, (method, params, sampled) in learned_methods(args).items():
        start = time.process_time()
        imputer = make_imputer(method, params, args.seed).fit(
            fit_cells.given[sample] if sampled else fit_cells.given)
        results[label] = {n: p.score(imputer.transform(p.given)) for n, p in periods.items()}
        cpu[label] = time.process_time() - start
        steps = f", {len(imputer.history_)} epochs" if hasattr(imputer, "history_") else ""
        print(f"  {label}: {cpu[label]:.0f} CPU s{steps}", flush=True)
        if label == "window-gain" and args.samples:
            intervals = interval_rows(imputer, periods["val"] if args.calibrate == "val"
                                      else fit_cells, periods, groups, args)
    run_peers(args, fit_cells.given, periods, results, cpu)
    print_tables(results, cpu, intervals, periods, args)
    out = args.out or Path(f"benchmarks/results/impute_gaps_{args.split}_budget"
                           f"{args.budget:g}.json")
    out.write_text(json.dumps({"command": shlex.join(sys.argv), "budget": args.budget,
                               "samples": args.samples, "calibrate": args.calibrate,
                               "cpu_seconds": cpu, "results": results,
                               "intervals": intervals}, indent=1))
    print(f"wrote {out}; load {Path('/proc/loadavg').read_text().split()[:3]}")


def merge_runs(paths: list[Path]) -> None:
    """The tables of several runs' JSON (same split, seed and masks), side by side."""
    results, cpu, intervals, samples, calibrate = {}, {}, {}, 0, "fit"
    for path in paths:
        run = json.loads(path.read_text())
        print(f"{path}: {run['command']}")
        results.update(run["results"])
        cpu.update(run["cpu_seconds"])
        if run["intervals"]:
            intervals, samples = run["intervals"], run.get("samples", 10)
            calibrate = run.get("calibrate", "fit")  # runs before --calibrate used fit
    periods = next(iter(results.values())).keys()
    print_tables(results, cpu, intervals, periods,
                 argparse.Namespace(samples=samples, calibrate=calibrate))


def print_tables(results, cpu, intervals, periods, args) -> None:
    names = list(results)
    for period in periods:
        print(f"\n{period}: MAE / RMSE (standardised units); CPU s: "
              + ", ".join(f"{n} {cpu[n]:.0f}" for n in names))
        print("| bucket | cells | " + " | ".join(names) + " |")
        print("|---|---:|" + "---:|" * len(names))
        for bucket in [b for _, _, b in BUCKETS] + ["outage"]:
            row = [results[n][period].get(bucket) for n in names]
            if row[0] is None:
                continue
            best = min(r[0] for r in row if r)
            cells = " | ".join(
                f"{'**' if r[0] == best else ''}{r[0]:.3f}{'**' if r[0] == best else ''}"
                f" / {r[1]:.3f}" if r else "-" for r in row)
            print(f"| {bucket} | {row[0][2]:,} | {cells} |")
    if intervals:
        print(f"\nwindow-gain 90% intervals ({args.samples} draws, calibrated per gap class "
              f"and variable on the {args.calibrate} period's hidden cells)")
        print("| period, bucket | cells | raw coverage | coverage | CRPS | reference CRPS |")
        print("|---|---:|---:|---:|---:|---:|")
        for key, r in intervals.items():
            print(f"| {key} | {r['cells']:,} | {r['raw']:.3f} | {r['coverage']:.3f} | "
                  f"{r['crps']:.3f} | {r['crps_reference']:.3f} |")


if __name__ == "__main__":
    main()
