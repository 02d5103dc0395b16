"""Issue 22's gap benchmark (first cut): methods on realistic gaps of the 132-column Beijing table.

Split in time: the first ``--fit-days`` days fit every method (standardised with their
statistics), the next ``--test-days`` days are scored once. In the scored period, observed
cells are hidden twice, seeded: ``block`` gaps (each column's own gap lengths) and whole-
station ``outage`` gaps (``fashionlab.impute.patterns``). Errors (MAE, RMSE, standardised
units) are reported per gap-length bucket (the length of the missing run the cell lies in,
real and hidden gaps together) and for the outage cells. Every learned method gets the
same wall-clock budget (``--budget`` seconds, stated in the table). The window GAN's
``--samples`` draws give a 90% interval calibrated on the fit period (``impute.intervals``);
its coverage and CRPS (of the draws, stretched) are reported per bucket.

Not done yet (issue 22): a validation period that chooses settings (defaults are used,
nothing is tuned), MissForest-like, GAIN and PyPOTS peers.

    OMP_NUM_THREADS=1 python benchmarks/impute_gaps.py                # ~10 min on 2 busy cores
    OMP_NUM_THREADS=1 python benchmarks/impute_gaps.py --fit-days 20 --test-days 7 --budget 20
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from fashionlab.data.air_quality import Standardizer, load_air_quality
from fashionlab.impute.base import make_imputer
from fashionlab.impute.patterns import apply_mask, gap_lengths, pattern_mask, station_groups

BUCKETS = ((1, 1, "1 h"), (2, 6, "2-6 h"), (7, 24, "7-24 h"), (25, 72, "25-72 h"),
           (73, 10**9, ">72 h"))


def run_lengths(missing: np.ndarray) -> np.ndarray:
    """Per cell, the length of the missing run (in its column) it lies in; 0 if observed."""
    out = np.zeros(missing.shape, dtype=int)
    for j in range(missing.shape[1]):
        padded = np.concatenate([[False], missing[:, j], [False]]).astype(np.int8)
        edges = np.flatnonzero(np.diff(padded))
        for start, stop in zip(edges[::2], edges[1::2], strict=True):
            out[start:stop, j] = stop - start
    return out


def score_rows(truth, filled, cells, lengths, outage) -> dict[str, tuple[float, float, int]]:
    rows = {}
    for low, high, name in BUCKETS:
        sel = cells & (lengths >= low) & (lengths <= high) & ~outage
        if sel.any():
            err = filled[sel] - truth[sel]
            rows[name] = (float(np.abs(err).mean()), float(np.sqrt((err**2).mean())),
                          int(sel.sum()))
    if outage.any():
        err = filled[outage] - truth[outage]
        rows["outage"] = (float(np.abs(err).mean()), float(np.sqrt((err**2).mean())),
                          int(outage.sum()))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit-days", type=int, default=60)
    parser.add_argument("--test-days", type=int, default=14)
    parser.add_argument("--budget", type=float, default=120.0, help="seconds per learned method")
    parser.add_argument("--fraction", type=float, default=0.1)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    table = load_air_quality()
    columns = list(table.columns)
    fit_rows, test_rows = 24 * args.fit_days, 24 * args.test_days
    fit_raw = table.iloc[:fit_rows].to_numpy()
    test_raw = table.iloc[fit_rows:fit_rows + test_rows].to_numpy()
    scaler = Standardizer.fit(fit_raw)
    fit, truth = scaler.transform(fit_raw), scaler.transform(test_raw)
    block = pattern_mask(truth, "block", args.fraction, args.seed)
    outage = pattern_mask(truth, "outage", args.fraction, args.seed + 1, columns=columns)
    outage &= ~block
    given, hidden = apply_mask(truth, block | outage)
    lengths = run_lengths(np.isnan(given))
    methods = {
        "interpolate": {},
        "nearest-station": {},
        "mice": {"max_iter": 5},
        "window-gain": {"max_seconds": args.budget, "epochs": 1000},
    }
    print(f"fit {args.fit_days} days, scored {args.test_days} days; hidden {hidden.sum():,} "
          f"cells ({block.sum():,} block, {outage.sum():,} outage over "
          f"{len(station_groups(columns))} stations); budget {args.budget:g} s per learned "
          f"method; gaps in the scored period: {len(gap_lengths(np.isnan(given).ravel()))}")
    results = {}
    for name, params in methods.items():
        start = time.perf_counter()
        imputer = make_imputer(name, params, args.seed).fit(fit)
        filled = imputer.transform(given)
        results[name] = score_rows(truth, filled, hidden, lengths, outage)
        print(f"  {name}: {time.perf_counter() - start:.0f} s", flush=True)
        if name == "window-gain":
            coverage_rows(imputer, fit, truth, given, hidden, lengths, outage, args)
    names = list(results)
    buckets = [b for _, _, b in BUCKETS] + ["outage"]
    print("\n| bucket | cells | " + " | ".join(f"{n} MAE / RMSE" for n in names) + " |")
    print("|---|---:|" + "---:|" * len(names))
    for b in buckets:
        if all(b in results[n] for n in names):
            cells = results[names[0]][b][2]
            cols = " | ".join(f"{results[n][b][0]:.3f} / {results[n][b][1]:.3f}" for n in names)
            print(f"| {b} | {cells:,} | {cols} |")


def coverage_rows(imputer, fit, truth, given, hidden, lengths, outage, args) -> None:
    """Coverage of the draws' 5%-95% (raw) and after the split-conformal stretch chosen on the
    fit period's own hidden cells, per bucket; CRPS of the stretched draws."""
    from fashionlab.impute.intervals import draw_fills

    calib_given, calib = apply_mask(fit, pattern_mask(fit, "block", args.fraction, args.seed + 7))
    draws = draw_fills(imputer, calib_given, args.samples, args.seed)
    med = np.median(draws, axis=0)
    q05, q95 = np.quantile(draws, [0.05, 0.95], axis=0)
    y = fit[calib]
    side = np.where(y >= med[calib], q95[calib] - med[calib], med[calib] - q05[calib])
    need = np.sort(np.abs(y - med[calib]) / np.maximum(side, 1e-9))
    scale = float(need[min(len(need), int(np.ceil((len(need) + 1) * 0.9))) - 1])
    draws = draw_fills(imputer, given, args.samples, args.seed + 1)
    med = np.median(draws, axis=0)
    q05, q95 = np.quantile(draws, [0.05, 0.95], axis=0)
    low, high = med - scale * (med - q05), med + scale * (q95 - med)
    stretched = med + scale * (draws - med)
    print(f"  window-gain intervals: stretch x{scale:.3g} (calibrated on the fit period)")
    print("| bucket | raw coverage | calibrated coverage | CRPS |")
    print("|---|---:|---:|---:|")
    for lo, hi, name in (*BUCKETS, (0, 10**9, "outage")):
        sel = hidden & (outage if name == "outage" else (lengths >= lo) & (lengths <= hi) & ~outage)
        if not sel.any():
            continue
        t = truth[sel]
        raw = np.mean((q05[sel] <= t) & (t <= q95[sel]))
        cal = np.mean((low[sel] <= t) & (t <= high[sel]))
        s = stretched[:, sel]  # CRPS of the ensemble: E|X - y| - E|X - X'| / 2
        crps = np.mean(np.abs(s - t).mean(0) - np.abs(s[:, None] - s[None]).mean((0, 1)) / 2)
        print(f"| {name} | {raw:.3f} | {cal:.3f} | {crps:.3f} |")


if __name__ == "__main__":
    main()
