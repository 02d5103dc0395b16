"""How GainImputer's default fit grows with the number of columns, against kNN.

Synthetic tables: ``--rows`` rows of a rank-5 signal plus noise (seeded), 10% of the
cells emptied at random; each method's ``fit_transform`` is timed once per width, with
its defaults or, for GAIN, ``--gain-params`` (JSON). Run it alone or with
``OMP_NUM_THREADS=1``: the other core's load changes the times.

Measured (session 10, the same steps as a scratch script before this file existed, one
core, the other busy): GainImputer 500 x 60 in 88 s, 500 x 300 in 1191 s; an earlier
session, before the mixture's fill solved systems the size of the gaps: 500 x 60 in
241 s, 500 x 300 not finished in 10 minutes (``fashionlab impute``); kNN 0.1 s and 0.5 s.

    OMP_NUM_THREADS=1 python benchmarks/impute_width.py --columns 60 300

Forests on both cores (session 11, idle machine, one command after the other; the fill is
the same): ``--columns 60 --methods gain`` 75.7 s, with ``--gain-params '{"n_jobs": 2}'``
63.0 s (1.20x); ``--columns 150`` 331.6 s and 239.7 s (1.38x).
"""

from __future__ import annotations

import argparse
import json
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
    parser.add_argument("--gain-params", type=json.loads, default={},
                        help='JSON of GainImputer parameters, e.g. \'{"n_jobs": 2}\'')
    args = parser.parse_args()
    print(f"{'method':<8} {'rows x cols':>11} {'seconds':>9}")
    for columns in args.columns:
        X = synthetic_table(args.rows, columns)
        for method in args.methods:
            imputer = make_imputer(method, args.gain_params if method == "gain" else {},
                                   random_state=0)
            start = time.perf_counter()
            filled = imputer.fit_transform(X)
            seconds = time.perf_counter() - start
            assert np.isfinite(filled).all()
            print(f"{method:<8} {f'{args.rows}x{columns}':>11} {seconds:>9.1f}", flush=True)


if __name__ == "__main__":
    main()
