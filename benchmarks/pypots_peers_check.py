"""A full-size smoke check of pypots_peers.py on the 132-column Beijing table (issue 22).

Not the gap benchmark (that is ``impute_gaps.py``): this only checks that the PyPOTS peers
run at full size within their CPU budget and fill sensibly. Split in time: train
2013-03..2015-12, val 2016-01..2016-06, test 2016-07..2017-02, standardised with train's
mean and std; 10% of the observed val and test cells are hidden at random (seeded). It
writes DATA.npz, runs ``pypots_peers.py`` in the PyPOTS environment (its docstring says how
to make it), and prints each method's epochs, CPU seconds and MAE (standardised units) on
the hidden test cells, beside linear interpolation's on the same cells::

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/pypots_peers_check.py \\
        --air-quality-dir ../shared/data/air-quality --budget 600
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from fashionlab.data.air_quality import Standardizer, load_air_quality
from fashionlab.impute.base import make_imputer
from fashionlab.impute.patterns import apply_mask, pattern_mask

SPLITS = {"train": ("2013-03", "2015-12"), "val": ("2016-01", "2016-06"),
          "test": ("2016-07", "2017-02")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=600.0, help="CPU seconds per method")
    parser.add_argument("--methods", default="saits,brits,usgan,csdi")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--python", default="/work/venvs/pypots/bin/python",
                        help="the PyPOTS environment's python")
    parser.add_argument("--air-quality-dir", default=None)
    parser.add_argument("--work", type=Path, default=None, help="folder for DATA/FILLS.npz")
    args = parser.parse_args()
    table = load_air_quality(args.air_quality_dir)
    raw = {name: table.loc[a:b].to_numpy() for name, (a, b) in SPLITS.items()}
    scaler = Standardizer.fit(raw["train"])
    truth = {name: scaler.transform(X).astype(np.float32) for name, X in raw.items()}
    data, hidden = {"train": truth["train"], "window": np.int64(24)}, {}
    for k, name in enumerate(("val", "test")):
        mask = pattern_mask(truth[name], "random", 0.1, args.seed + k)
        data[name], hidden[name] = apply_mask(truth[name], mask)
    work = args.work or Path(tempfile.mkdtemp(prefix="pypots-peers-"))
    work.mkdir(parents=True, exist_ok=True)
    np.savez(work / "DATA.npz", **data)
    command = [args.python, str(Path(__file__).with_name("pypots_peers.py")),
               "--input", str(work / "DATA.npz"), "--out", str(work / "FILLS.npz"),
               "--methods", args.methods, "--budget", str(args.budget), "--threads", "1",
               "--seed", str(args.seed)]
    print(" ".join(command), flush=True)
    subprocess.run(command, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    cells = hidden["test"]
    rows = [("interpolate", "-", "-",
             make_imputer("interpolate").fit(data["train"]).transform(data["test"]))]
    with np.load(work / "FILLS.npz") as fills:
        for method in args.methods.split(","):
            if f"{method}_test" in fills.files:
                seconds = f"{float(fills[f'{method}_cpu_seconds']):.0f}"
                rows.append((method, int(fills[f"{method}_epochs"]), seconds,
                             fills[f"{method}_test"]))
            else:
                print(f"{method}: skipped (see above)")
    print(f"\nhidden test cells: {cells.sum():,}; load {os.getloadavg()}")
    print("| method | epochs | CPU s (fit + fill) | test MAE |\n|---|---:|---:|---:|")
    for method, epochs, seconds, filled in rows:
        mae = float(np.abs(filled[cells] - truth["test"][cells]).mean())
        print(f"| {method} | {epochs} | {seconds} | {mae:.3f} |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
