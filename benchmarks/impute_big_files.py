"""Time and peak memory of ``fashionlab impute apply`` on files of 35k, 350k and 3.5M rows.

The files repeat one Beijing station's four years (35,064 hourly rows, 11 variables, their
own gaps), each repeat's observed values perturbed (x (1 + 2% noise), one decimal), with a
text clock column 10 minutes apart (hours would pass pandas' last date, 2262) and the wind
direction and station as text. A model is fitted once on the station's own file
(``impute fit``); each ``impute apply`` runs in its own process under ``/usr/bin/time -v``,
which reports its wall time and peak resident memory (RSS). Results and the command:
``docs/imputation-gaps.md`` ("Big files").

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/impute_big_files.py --work /tmp/big
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from fashionlab.data.air_quality import find_air_quality_dir

VARIABLES = ["PM2.5", "PM10", "SO2", "NO2", "CO", "O3", "TEMP", "PRES", "DEWP", "RAIN", "WSPM"]
METHODS = {  # name: (method, its parameters)
    "mice": ("mice", ["--param", "max_iter=3"]),  # row-wise
    "interpolate, window 24": ("interpolate", ["--param", "window=24"]),  # windowed
    "interpolate, one series": ("interpolate", []),  # window=None: carried to each observation
}


def station(folder: Path, name: str = "Aotizhongxin") -> pd.DataFrame:
    """One station's file: a text clock, its 11 variables, wind direction and station."""
    raw = pd.read_csv(next(folder.glob(f"PRSA_Data_{name}_*.csv")))
    out = pd.DataFrame({"time": pd.to_datetime(raw[["year", "month", "day", "hour"]])
                        .dt.strftime("%Y-%m-%d %H:%M")})
    for column in VARIABLES:
        out[column] = raw[column]
    out["wd"], out["station"] = raw["wd"], raw["station"]
    return out


def write_big(source: pd.DataFrame, rows: int, path: Path, seed: int = 0) -> None:
    """``rows`` rows: ``source`` repeated, each repeat perturbed, written in pieces."""
    rng = np.random.default_rng(seed)
    clock = pd.Timestamp("1990-01-01")
    with open(path, "w", newline="") as f:
        done = 0
        while done < rows:
            part = source.iloc[: rows - done].copy()
            noise = 1 + 0.02 * rng.standard_normal((len(part), len(VARIABLES)))
            part[VARIABLES] = (part[VARIABLES].to_numpy() * (noise if done else 1)).round(1)
            part["time"] = pd.date_range(clock, periods=len(part), freq="10min").strftime(
                "%Y-%m-%d %H:%M")
            clock += pd.Timedelta(minutes=10 * len(part))
            part.to_csv(f, index=False, header=not done, lineterminator="\n")
            done += len(part)


def timed(command: list[str]) -> dict:
    """Run ``command`` under ``/usr/bin/time -v``: wall seconds and peak RSS in MiB."""
    done = subprocess.run(["/usr/bin/time", "-v", *command], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", done.stderr)
    hours, minutes, seconds = (float(g or 0) for g in wall.groups())
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr).group(1))
    return {"seconds": hours * 3600 + minutes * 60 + seconds, "rss_mib": rss / 1024}


def slug(name: str) -> str:
    return re.sub(r"\W+", "_", name)


def load() -> str:
    """The load average over 1, 5 and 15 minutes (``/proc/loadavg``)."""
    return " / ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="folder for files and models")
    parser.add_argument("--rows", default="35064,350640,3506400")
    parser.add_argument("--chunk-rows", type=int, default=50_000)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    source = station(find_air_quality_dir())
    cli = [sys.executable, "-m", "fashionlab.cli"]
    history = args.work / "history.csv"
    write_big(source, len(source), history)
    for name, (method, params) in METHODS.items():
        model = args.work / f"model_{slug(name)}"
        if not (model / "model.json").exists():
            subprocess.run([*cli, "impute", "fit", str(history), "--method", method, "--out",
                            str(model), *params], check=True)
    print(f"load average before: {load()}", flush=True)
    print("| rows | file MiB | method | wall s | peak RSS MiB |\n|---:|---:|---|---:|---:|")
    for rows in map(int, args.rows.split(",")):
        path = args.work / f"big_{rows}.csv"
        if not path.exists():
            write_big(source, rows, path)
        for name in METHODS:
            out = args.work / f"filled_{slug(name)}_{rows}.csv"
            got = timed([*cli, "impute", "apply", str(args.work / f"model_{slug(name)}"), str(path),
                         "--out", str(out), "--force", "--chunk-rows", str(args.chunk_rows)])
            print(f"| {rows:,} | {os.path.getsize(path) / 2**20:.1f} | {name} | "
                  f"{got['seconds']:.1f} | {got['rss_mib']:.0f} |", flush=True)
            out.unlink()
    print(f"load average after: {load()}")


if __name__ == "__main__":
    main()
