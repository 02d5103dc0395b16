"""PyPOTS peers for issue 22's gap benchmark: SAITS, BRITS, USGAN (and CSDI) fill a table's gaps.

This script runs in PyPOTS's own environment, never in fashionlab's: it imports numpy,
torch and pypots only (no fashionlab), and ``benchmarks/impute_gaps.py`` calls it as a
subprocess. Make the environment once (``torch==2.13.0`` is the only torch allowed, so it
is pinned in the same command)::

    python -m venv /work/venvs/pypots
    /work/venvs/pypots/bin/pip install torch==2.13.0 pypots

Run it (``--self-test`` checks the whole path on synthetic sine waves, 2 epochs each)::

    OMP_NUM_THREADS=1 /work/venvs/pypots/bin/python benchmarks/pypots_peers.py \\
        --input DATA.npz --out FILLS.npz --methods saits,brits,usgan --budget 600 \\
        --threads 1 --seed 0
    /work/venvs/pypots/bin/python benchmarks/pypots_peers.py --self-test

Input, ``DATA.npz``: float arrays ``train``, ``val``, ``test`` (time x columns,
standardised, NaN where missing; the cells to be scored are already NaN in ``val`` and
``test``) and an int ``window``. Output, ``FILLS.npz``, per method: ``<m>_val`` and
``<m>_test`` (the arrays filled, same shapes, observed cells unchanged), ``<m>_cpu_seconds``
(process CPU seconds of fit + fill, the probe below included), ``<m>_epochs`` (epochs
trained) and ``<m>_best_epoch``; a method whose single epoch plus fill does not fit the
budget is left out and named in ``skipped`` (with the reason printed).

Protocol:
- every array is cut into consecutive windows of ``window`` rows (the last partial window
  padded with NaN, the padding cut off again after filling); PyPOTS trains on the train
  windows with its own objectives (SAITS: ORT + MIT on a fresh 20% MCAR hiding of each
  window per batch, PyPOTS's default; BRITS and USGAN: their reconstruction losses; CSDI:
  its random target strategy);
- early stopping (patience 10, as TSI-Bench) watches PyPOTS's validation MSE on the val
  windows with a further 10% of their observed cells hidden by ``pygrinder.mcar``, as
  PyPOTS's examples build a validation set; the cells hidden for scoring stay unknown, and
  the test array is only filled, never used for fitting or choosing;
- settings: TSI-Bench's tuned ones for the Beijing multi-site air quality table (24 steps,
  132 features; ``benchmark_code/hpo_results/beijing_air.py`` in WenjieDu/Awesome_Imputation),
  batch 32. Two changes. TSI-Bench stops at 100 epochs; here the budget does (early
  stopping still applies; ``--max-epochs`` caps it): capped at 100, SAITS used 210 of its
  600 CPU s and its best epoch was the 99th (the smoke run of ``pypots_peers_check.py``).
  TSI-Bench's SAITS has ``d_model=64, n_heads=4, d_k=256``, which PyPOTS >= 1.0 rewrites to
  ``d_model=n_heads*d_k=1024``; here ``d_k=d_model/n_heads=16`` keeps its tuned width of 64.
  CSDI's fill is the mean of 10 samples, as TSI-Bench's;
- the CPU budget (``time.process_time``, fit + fill): a probe fits one epoch on a quarter of
  the train and val windows and fills 8 windows; the epoch count is then the number of whole
  epochs (probe-estimated, 5% spare) that fit in what is left after the estimated fill, and a
  fresh model trains that many. The probe counts against the budget. It overestimates:
  3.6 CPU s per SAITS epoch against 2.1 measured in the smoke run, so a run may end
  under its budget.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

METHODS = ("saits", "brits", "usgan", "csdi")
BATCH_SIZE = 32
PATIENCE = 10  # TSI-Bench's patience
VAL_HIDE = 0.1  # share of observed val cells hidden for early stopping
PROBE_FRACTION = 0.25  # share of the windows the timing probe trains on
PROBE_FILL = 8  # windows the timing probe fills
SPARE = 0.95  # share of the estimated remaining budget given to epochs
CSDI_SAMPLES = 10  # TSI-Bench's CSDI fill: mean of 10 samples

# TSI-Bench's tuned settings for BeijingAir (lr apart; see the module docstring for d_k)
SETTINGS = {
    "saits": dict(n_layers=1, d_model=64, d_ffn=256, n_heads=4, d_k=16, d_v=64,
                  dropout=0.1, attn_dropout=0.1, lr=0.00125059883141597),
    "brits": dict(rnn_hidden_size=512, lr=0.006242554068503864),
    "usgan": dict(rnn_hidden_size=512, dropout=0.1, lr=0.0005217674009036597),
    "csdi": dict(n_layers=6, n_heads=8, n_channels=32, d_time_embedding=256,
                 d_feature_embedding=16, d_diffusion_embedding=32, lr=0.0036662098229766093),
}


def to_windows(X: np.ndarray, length: int) -> np.ndarray:
    """Cut ``(time, columns)`` into ``(n, length, columns)`` windows, the last padded with NaN."""
    n = math.ceil(len(X) / length)
    padded = np.full((n * length, X.shape[1]), np.nan, dtype=np.float32)
    padded[: len(X)] = X
    return padded.reshape(n, length, X.shape[1])


def from_windows(windows: np.ndarray, n_rows: int) -> np.ndarray:
    """Join windows back into ``(n_rows, columns)``, dropping the padding."""
    return windows.reshape(-1, windows.shape[-1])[:n_rows]


def build_model(method: str, n_steps: int, n_features: int, epochs: int, verbose: bool):
    """A PyPOTS imputer with the method's settings, trained on CPU for ``epochs`` epochs."""
    from pypots.imputation import BRITS, CSDI, SAITS, USGAN
    from pypots.optim import Adam

    settings = dict(SETTINGS[method])
    lr = settings.pop("lr")
    common = dict(n_steps=n_steps, n_features=n_features, batch_size=BATCH_SIZE,
                  epochs=epochs, patience=PATIENCE if epochs > PATIENCE else None,
                  device="cpu", saving_path=None, verbose=verbose)
    if method == "usgan":
        return USGAN(**settings, **common, G_optimizer=Adam(lr=lr), D_optimizer=Adam(lr=lr))
    model_class = {"saits": SAITS, "brits": BRITS, "csdi": CSDI}[method]
    return model_class(**settings, **common, optimizer=Adam(lr=lr))


def impute_windows(model, method: str, windows: np.ndarray) -> np.ndarray:
    """The model's fill of ``windows``, observed cells kept as they were."""
    if method == "csdi":
        draws = model.predict({"X": windows}, n_sampling_times=CSDI_SAMPLES)["imputation"]
        imputed = draws.mean(axis=1)
    else:
        imputed = model.predict({"X": windows})["imputation"]
    return np.where(np.isnan(windows), imputed, windows).astype(np.float32)


def validation_set(val_windows: np.ndarray) -> dict[str, np.ndarray]:
    """PyPOTS's validation dict: ``X`` with VAL_HIDE of the observed cells hidden (MCAR)."""
    from pygrinder import mcar

    return {"X": mcar(val_windows, VAL_HIDE), "X_ori": val_windows}


def epochs_run(model, planned: int) -> int:
    """Epochs PyPOTS trained: early stopping ends ``patience`` epochs after the best one."""
    if planned > PATIENCE:
        return min(planned, model.best_epoch + PATIENCE)
    return planned


def run_method(method: str, train_w: np.ndarray, val_w: np.ndarray, test_w: np.ndarray,
               budget: float, seed: int, max_epochs: int | None = None,
               verbose: bool = False) -> dict:
    """Fit ``method`` within ``budget`` CPU seconds and fill the val and test windows.

    Returns a dict with ``val``/``test`` (filled windows), ``cpu_seconds``, ``epochs``,
    ``best_epoch``, or with ``skipped`` (the reason) when one epoch and the fill do not fit.
    """
    from pypots.utils.random import set_random_seed

    start = time.process_time()
    set_random_seed(seed)
    val_set = validation_set(val_w)
    n_steps, n_features = train_w.shape[1:]
    # timing probe: one epoch on a quarter of the windows, then a fill of PROBE_FILL windows
    probe_train = max(1, min(len(train_w), math.ceil(PROBE_FRACTION * len(train_w))))
    share = probe_train / len(train_w)
    probe_val = max(1, math.ceil(share * len(val_w)))
    probe = build_model(method, n_steps, n_features, 1, verbose)
    probe.fit({"X": train_w[np.random.permutation(len(train_w))[:probe_train]]},
              {key: value[:probe_val] for key, value in val_set.items()})
    epoch_cost = (time.process_time() - start) / share
    t0 = time.process_time()
    impute_windows(probe, method, val_w[:PROBE_FILL])
    per_window = (time.process_time() - t0) / min(PROBE_FILL, len(val_w))
    fill_cost = per_window * (len(val_w) + len(test_w))
    left = budget - (time.process_time() - start) - fill_cost
    epochs = int(SPARE * left / epoch_cost)
    epochs = epochs if max_epochs is None else min(max_epochs, epochs)
    if epochs < 1:
        return {"skipped": f"one epoch ~{epoch_cost:.0f} CPU s and the fill ~{fill_cost:.0f} "
                           f"CPU s leave no epoch within {budget:.0f} s"}
    print(f"{method}: probe ~{epoch_cost:.1f} CPU s per epoch, fill ~{fill_cost:.1f} s: "
          f"{epochs} epochs planned", flush=True)
    set_random_seed(seed)
    model = build_model(method, n_steps, n_features, epochs, verbose)
    model.fit({"X": train_w}, val_set)
    fit_end = time.process_time()
    filled = {"val": impute_windows(model, method, val_w),
              "test": impute_windows(model, method, test_w)}
    end = time.process_time()
    return {**filled, "cpu_seconds": end - start,
            "epochs": epochs_run(model, epochs), "best_epoch": model.best_epoch,
            "planned_epochs": epochs, "epoch_estimate": epoch_cost, "fill_seconds": end - fit_end}


def fill_arrays(data: dict[str, np.ndarray], methods: list[str], budget: float, seed: int,
                max_epochs: int | None = None, verbose: bool = False) -> dict[str, np.ndarray]:
    """Run every method on ``data`` (train, val, test, window); the FILLS.npz arrays."""
    length = int(data["window"])
    train_w, val_w, test_w = (to_windows(data[k].astype(np.float32), length)
                              for k in ("train", "val", "test"))
    out: dict[str, np.ndarray] = {}
    skipped = []
    for method in methods:
        result = run_method(method, train_w, val_w, test_w, budget, seed, max_epochs, verbose)
        if "skipped" in result:
            skipped.append(method)
            print(f"{method}: skipped, {result['skipped']}", flush=True)
            continue
        out[f"{method}_val"] = from_windows(result["val"], len(data["val"]))
        out[f"{method}_test"] = from_windows(result["test"], len(data["test"]))
        out[f"{method}_cpu_seconds"] = np.float64(result["cpu_seconds"])
        out[f"{method}_epochs"] = np.int64(result["epochs"])
        out[f"{method}_best_epoch"] = np.int64(result["best_epoch"])
        print(f"{method}: {result['epochs']} epochs (best {result['best_epoch']}, planned "
              f"{result['planned_epochs']} at ~{result['epoch_estimate']:.1f} CPU s each), "
              f"fit + fill {result['cpu_seconds']:.1f} CPU s (fill {result['fill_seconds']:.1f} s, "
              f"budget {budget:.0f} s)", flush=True)
    out["skipped"] = np.array(skipped, dtype=str)
    return out


def load_input(path: Path) -> dict[str, np.ndarray]:
    """DATA.npz's arrays, checked."""
    if not path.is_file():
        fail(f"input file {path} does not exist")
    with np.load(path) as npz:
        missing = {"train", "val", "test", "window"} - set(npz.files)
        if missing:
            fail(f"{path} lacks {', '.join(sorted(missing))}")
        data = {key: npz[key] for key in ("train", "val", "test", "window")}
    widths = {data[k].shape[1] if data[k].ndim == 2 else -1 for k in ("train", "val", "test")}
    if len(widths) != 1 or -1 in widths:
        fail("train, val and test must be 2-D arrays with the same number of columns")
    if int(data["window"]) < 2:
        fail(f"window must be at least 2 rows, got {int(data['window'])}")
    return data


def save_output(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write FILLS.npz atomically (a temporary file in the same folder, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
    with os.fdopen(handle, "wb") as stream:
        np.savez(stream, **arrays)
    os.replace(tmp, path)


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def parse_methods(text: str) -> list[str]:
    methods = [m.strip().lower() for m in text.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        given = ", ".join(unknown) or "(none given)"
        fail(f"unknown method(s) {given}; choose from {', '.join(METHODS)}")
    return methods


def sine_data(seed: int, rows: int = 24 * 16, columns: int = 4) -> dict[str, np.ndarray]:
    """Synthetic standardised sine waves with 20% of cells missing, split 50/25/25 in time."""
    rng = np.random.default_rng(seed)
    t = np.arange(rows)[:, None]
    X = np.sin(2 * np.pi * t / 24 + rng.uniform(0, 2 * np.pi, columns)) * np.sqrt(2)
    X = (X + 0.1 * rng.standard_normal(X.shape)).astype(np.float32)
    X[rng.random(X.shape) < 0.2] = np.nan
    a, b = rows // 2, 3 * rows // 4 + 5  # a last partial window in val and test
    return {"train": X[:a], "val": X[a:b], "test": X[b:], "window": np.int64(24)}


def self_test(methods: list[str], seed: int) -> None:
    """Fill sine waves through the whole path (files included), 2 epochs per method."""
    data = sine_data(seed)
    with tempfile.TemporaryDirectory() as folder:
        src, dst = Path(folder) / "data.npz", Path(folder) / "fills.npz"
        np.savez(src, **data)
        save_output(dst, fill_arrays(load_input(src), methods, budget=1e9, seed=seed, max_epochs=2))
        with np.load(dst) as npz:
            fills = {key: npz[key] for key in npz.files}
    for method in methods:
        for split in ("val", "test"):
            given, filled = data[split], fills[f"{method}_{split}"]
            observed = ~np.isnan(given)
            assert filled.shape == given.shape, (method, split, filled.shape)
            assert np.isfinite(filled).all(), f"{method} left NaN in {split}"
            assert np.array_equal(filled[observed], given[observed]), f"{method} changed {split}"
        assert int(fills[f"{method}_epochs"]) == 2, (method, int(fills[f"{method}_epochs"]))
        assert float(fills[f"{method}_cpu_seconds"]) > 0
    print(f"self-test ok: {', '.join(methods)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, help="DATA.npz: train, val, test, window")
    parser.add_argument("--out", type=Path, help="FILLS.npz to write")
    parser.add_argument("--methods", help=f"comma-separated, from {','.join(METHODS)} (default: "
                        "saits,brits,usgan; all four with --self-test)")
    parser.add_argument("--budget", type=float, default=600.0,
                        help="process CPU seconds per method, fit + fill")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-epochs", type=int, default=None,
                        help="cap on epochs (default: none, the budget decides; TSI-Bench: 100)")
    parser.add_argument("--verbose", action="store_true", help="PyPOTS's per-epoch log")
    parser.add_argument("--self-test", action="store_true",
                        help="synthetic sine data, 2 epochs per method; no files needed")
    args = parser.parse_args(argv)
    default = ",".join(METHODS) if args.self_test else "saits,brits,usgan"
    methods = parse_methods(args.methods or default)
    if args.budget <= 0:
        fail(f"--budget must be positive, got {args.budget}")
    if args.threads < 1:
        fail(f"--threads must be at least 1, got {args.threads}")
    import torch

    torch.set_num_threads(args.threads)
    if args.self_test:
        self_test(methods, args.seed)
        return
    if args.input is None or args.out is None:
        fail("--input and --out are required (or --self-test)")
    data = load_input(args.input)
    print(f"pypots peers: train {data['train'].shape}, val {data['val'].shape}, test "
          f"{data['test'].shape}, window {int(data['window'])}, budget {args.budget:.0f} CPU s, "
          f"{args.threads} thread(s), load {os.getloadavg()[0]:.2f}", flush=True)
    save_output(args.out, fill_arrays(data, methods, args.budget, args.seed, args.max_epochs,
                                      args.verbose))


if __name__ == "__main__":
    main()
