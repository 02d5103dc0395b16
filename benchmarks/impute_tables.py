"""GainImputer against the plain-table baselines, with 20% of the cells hidden at random.

Protocol (GAIN's, Yoon et al. 2018): hide 20% of the observed cells of a numeric
table completely at random (the *scored* cells), fill them, and report the RMSE
over those cells on values min-max scaled per column (with each column's
observed range), so every column weighs the same. Tables:

* ``air``: the 12 Beijing air-quality station CSVs stacked (11 numeric
  variables), without time order: a seeded sample of rows, real gaps included;
* ``cancer``, ``diabetes``, ``wine``: scikit-learn's bundled data sets (no download).

GAIN is tuned on a *validation* mask, never on the scored one: a further 20% of
the cells still observed after hiding are hidden, each candidate setting
(``GAIN_GRID``: the current defaults, and the previous ones: GAIN's noise input,
a fixed 4000 steps, learning rate 1e-3) is fitted on that table and scored on
those validation cells (MissForest-like is scored there too, for the printed
``/missforest`` validation ratio), and the best setting is then fitted on the
table with only the scored cells hidden. The baselines run with their defaults
(MissForest-like: 100 extra-trees, 10 rounds).

Target (issue 6): GAIN's RMSE no worse than the MissForest-like baseline; the
``gain/missforest`` column is that ratio (<= 1 meets it).

Run: ``OMP_NUM_THREADS=1 nice -n 10 python benchmarks/impute_tables.py --seed 0``
(``--help`` for options). Measured by that command, then with ``--seed 1`` and
``--seed 2`` (new masks, a new air sample), with GainImputer's defaults of commit
cbd4bdd (generator corrects the fill of a mixture of 1-3 normals chosen on held-out
cells, step 0 = no correction allowed by early stopping) and a validation mask hiding
10% more cells; 2-core CPU shared with other jobs (the runs were paused part of the time):

    seed  table     rows x cols  cells  gain    mean    knn     mice    missforest  gain/mf picked
    0     air           1000x11   2177  0.0877  0.1605  0.1145  0.0937  0.0851    1.031  new
    0     cancer         569x30   3414  0.0453  0.1402  0.0719  0.0501  0.0524    0.865  new
    0     diabetes       442x10    884  0.2194  0.2810  0.2525  0.2249  0.2164    1.014  new
    0     wine           178x13    463  0.1404  0.2058  0.1503  0.1537  0.1421    0.988  new
    1     air           1000x11   2163  0.0869  0.1554  0.1150  0.0940  0.0871    0.998  old
    1     cancer         569x30   3414  0.0505  0.1433  0.0756  0.0559  0.0578    0.873  new
    1     diabetes       442x10    884  0.2207  0.2694  0.2437  0.2161  0.2156    1.024  old
    1     wine           178x13    463  0.1299  0.2042  0.1424  0.1412  0.1265    1.027  new
    2     air           1000x11   2165  0.0872  0.1578  0.1127  0.0965  0.0868    1.004  old
    2     cancer         569x30   3414  0.0459  0.1467  0.0766  0.0503  0.0554    0.829  new
    2     diabetes       442x10    884  0.2162  0.2965  0.2587  0.2244  0.2112    1.023  old
    2     wine           178x13    463  0.1429  0.2059  0.1493  0.1473  0.1350    1.058  new

(``picked``: which GAIN_GRID entry won on the validation mask; ``new`` = defaults,
``old`` = the noise-input GAIN.) Validation ratios GAIN/MissForest-like of the new
defaults, seeds 0 / 1 / 2: air 0.997 / 1.004 / 1.029, cancer 0.844 / 0.904 / 0.883,
diabetes 0.943 / 1.108 / 1.045, wine 0.981 / 0.962 / 0.954; on air, diabetes and
wine the picked setting's ratio grew from validation to test in 7 of 9 cases (by up
to 11%).

Before (commit 35f6dbf's defaults, 20% validation mask), seeds 0 / 1 / 2: air
1.049 / 0.998 / 0.997, cancer 0.864 / 0.875 / 0.846, diabetes 1.025 / 1.005 / 1.070,
wine 1.053 / 1.068 / 1.020 (mean of the 12 ratios 0.989; now 0.978). The target is
met on cancer (every seed), on air for seed 1 and on wine for seed 0; not on diabetes
(1.014-1.024) nor on air seeds 0 and 2 or wine seeds 1 and 2. Seconds per final GAIN
fit: 17-79. One mask of a few hundred cells is a noisy judge: on 12 validation masks
of diabetes (10% hidden) the ratio of the same fill spread with a standard deviation
of about 0.06, more than the gaps measured here.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.exceptions import ConvergenceWarning

from fashionlab.impute import GainImputer, get_imputer_class, hide_completely_at_random
from fashionlab.impute.masking import minmax_errors

AIR_QUALITY = Path(__file__).resolve().parents[2] / "shared" / "data" / "air-quality"
AIR_VARIABLES = ["PM2.5", "PM10", "SO2", "NO2", "CO", "O3", "TEMP", "PRES", "DEWP", "RAIN", "WSPM"]
BASELINES = ("mean", "knn", "mice", "missforest")
# Further fraction of the still-observed cells hidden for the validation mask. 10% leaves
# 28% of the cells hidden, nearer the scored run's 20% than the earlier 20% (36% hidden),
# under which GAIN/MissForest-like came out 2-21% lower than in the scored runs on air,
# diabetes and wine (MissForest-like loses more when more cells are hidden).
VALIDATION_FRACTION = 0.1
# Candidate GAIN settings, chosen between on the validation mask: the defaults (Gaussian
# starting fill corrected by a residual generator, early stopping on held-out cells), and
# the previous defaults (GAIN's noise input, a fixed 4000 steps, learning rate 1e-3).
GAIN_GRID = (
    {},
    {"start": "noise", "validation_fraction": 0.0, "learning_rate": 1e-3},
)


def air_quality_table(rows: int, seed: int) -> np.ndarray:
    """The stacked station CSVs, 11 numeric columns, a seeded sample of ``rows`` rows."""
    files = sorted(AIR_QUALITY.glob("PRSA_Data_*.csv"))
    if not files:
        raise SystemExit(f"no air-quality CSVs in {AIR_QUALITY}")
    frame = pd.concat([pd.read_csv(f, usecols=AIR_VARIABLES) for f in files], ignore_index=True)
    frame = frame.dropna(how="all")
    return frame.sample(n=rows, random_state=seed).to_numpy(dtype=float)


def load_table(name: str, rows: int, seed: int) -> np.ndarray:
    if name == "air":
        return air_quality_table(rows, seed)
    loaders = {"cancer": load_breast_cancer, "diabetes": lambda: load_diabetes(scaled=False),
               "wine": load_wine}
    return loaders[name]().data.astype(float)


def fit_score(name: str, params: dict, X_hidden: np.ndarray, X_true: np.ndarray,
              mask: np.ndarray, seed: int) -> tuple[float, float]:
    cls = get_imputer_class(name)
    if "random_state" in cls().get_params():
        params = {**params, "random_state": seed}
    start = time.perf_counter()
    filled = cls(**params).fit_transform(X_hidden)
    return minmax_errors(X_true, filled, mask)["rmse"], time.perf_counter() - start


def run_table(name: str, rows: int, seed: int, iterations: int) -> dict:
    X = load_table(name, rows, seed)
    X_scored, scored = hide_completely_at_random(X, 0.2, random_state=seed)
    X_val, val = hide_completely_at_random(X_scored, VALIDATION_FRACTION, random_state=seed + 1)
    result = {"table": name, "shape": X.shape, "scored_cells": int(scored.sum())}
    best, best_rmse = None, np.inf
    forest, _ = fit_score("missforest", {}, X_val, X_scored, val, seed)
    print(f"  {name}: missforest validation RMSE {forest:.4f}", flush=True)
    for setting in GAIN_GRID:
        params = {"n_iterations": iterations, **setting}
        rmse, seconds = fit_score("gain", params, X_val, X_scored, val, seed)
        print(f"  {name}: gain {setting} validation RMSE {rmse:.4f} "
              f"(/missforest {rmse / forest:.3f}, {seconds:.0f} s)", flush=True)
        if rmse < best_rmse:
            best, best_rmse = params, rmse
    result["gain_setting"] = best
    result["gain"], result["gain_seconds"] = fit_score("gain", best, X_scored, X, scored, seed)
    for method in BASELINES:
        result[method], result[f"{method}_seconds"] = fit_score(
            method, {}, X_scored, X, scored, seed)
        print(f"  {name}: {method} {result[method]:.4f}", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", default="air,cancer,diabetes,wine")
    parser.add_argument("--rows", type=int, default=1000, help="rows sampled from the air table")
    parser.add_argument("--iterations", type=int, default=GainImputer().n_iterations)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=ConvergenceWarning)

    results = [run_table(t, args.rows, args.seed, args.iterations)
               for t in args.tables.split(",")]
    print(f"\nRMSE on the 20% hidden cells, min-max scaled values (seed {args.seed}); "
          f"GAIN tuned on a separate validation mask")
    header = f"{'table':<9} {'rows x cols':>11} {'cells':>6} " + " ".join(
        f"{m:>10}" for m in ("gain",) + BASELINES) + f" {'gain/missforest':>16}  gain setting"
    print(header)
    for r in results:
        shape = f"{r['shape'][0]}x{r['shape'][1]}"
        values = " ".join(f"{r[m]:>10.4f}" for m in ("gain",) + BASELINES)
        ratio = r["gain"] / r["missforest"]
        setting = ", ".join(f"{k}={v}" for k, v in r["gain_setting"].items())
        print(f"{r['table']:<9} {shape:>11} {r['scored_cells']:>6} {values} {ratio:>16.3f}  "
              f"{setting}")
    print("seconds:", "; ".join(
        f"{r['table']} " + " ".join(f"{m} {r[m + '_seconds']:.0f}" for m in ("gain",) + BASELINES)
        for r in results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
