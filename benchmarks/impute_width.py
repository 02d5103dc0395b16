"""How GainImputer's default fit grows with the number of columns, against kNN.

Synthetic tables: ``--rows`` rows of a rank-5 signal plus noise (seeded), 10% of the
cells emptied at random; each method's ``fit_transform`` is timed once per width, on
``--threads`` torch threads (GainImputer's default: one). Run it alone or with
``OMP_NUM_THREADS=1``: the other core's load changes the times.

Measured (session 10, the same steps as a scratch script before this file existed, one
core, the other busy): GainImputer 500 x 60 in 88 s, 500 x 300 in 1191 s; an earlier
session, before the mixture's fill solved systems the size of the gaps: 500 x 60 in
241 s, 500 x 300 not finished in 10 minutes (``fashionlab impute``); kNN 0.1 s and 0.5 s.

    OMP_NUM_THREADS=1 python benchmarks/impute_width.py --columns 60 300
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from fashionlab.impute import make_imputer


def synthetic_table(rows: int, columns: int, seed: int = 0) -> np.ndarray:
    """A rank-5 signal plus noise, with 10% of the cells empty (NaN)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 5)) @ rng.normal(size=(5, columns))
    X = X + 0.3 * rng.normal(size=(rows, columns))
    X[rng.random(X.shape) < 0.1] = np.nan
    return X


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500)
    parser.add_argument("--columns", type=int, nargs="+", default=[60, 300])
    parser.add_argument("--methods", nargs="+", default=["gain", "knn"])
    args = parser.parse_args()
    print(f"{'method':<8} {'rows x cols':>11} {'seconds':>9}")
    for columns in args.columns:
        X = synthetic_table(args.rows, columns)
        for method in args.methods:
            imputer = make_imputer(method, random_state=0)
            start = time.perf_counter()
            filled = imputer.fit_transform(X)
            seconds = time.perf_counter() - start
            assert np.isfinite(filled).all()
            print(f"{method:<8} {f'{args.rows}x{columns}':>11} {seconds:>9.1f}", flush=True)


if __name__ == "__main__":
    main()
