"""Issue 5's GAN quality table (docs/gans.md): 10,000 generated vs the 10,000 test images.

For each GAN run given on the command line (the first is the reference, normally
``dcgan``): FID, KID, precision, recall, and for conditional runs the classifier
agreement and the Classification Accuracy Score (CAS), plus the training wall time read
from the run's metrics log (the sum of the per-epoch ``seconds``). All distances are in
the penultimate features of ONE classifier run (``--classifier``): they are NOT
Inception-FID numbers. If the runs logged FID on a subset during training
(``--fid-every``), the table also says when each run first reached the reference's final
subset-FID, as a fraction of the reference's wall time (issue 5's <= 1/10 target).

    python benchmarks/gan_quality.py --classifier runs/cnn runs/dcgan runs/lite runs/cgan
    python benchmarks/gan_quality.py --smoke     # tiny runs trained here; checks the script

CAS trains ``--cas-model`` (default: ``cnn``, SGD one-cycle, see ``CASConfig``) on the
generated images; the same classifier trained on as many real images is reported beside
it (``--no-real-baseline`` skips it), since CAS only means something next to that number.
``--cas-fresh`` draws new generated images every CAS epoch, ``--cas-crop-padding`` and
``--cas-flip`` add the classifier trainer's augmentation (``fashionlab score``'s flags).

Nothing here tunes anything: the runs are scored once, as they are.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from fashionlab.errors import FashionlabError
from fashionlab.gan.score import ScoreConfig, score_run
from fashionlab.metrics.features import NOT_INCEPTION
from fashionlab.runtime.runs import read_config, read_metrics


def wall_time(run: str | Path) -> dict[str, Any]:
    """Training seconds and epochs from a run's metrics log (``None`` when not logged)."""
    rows = read_metrics(run)
    seconds = [r["seconds"] for r in rows if isinstance(r.get("seconds"), (int, float))]
    return {"epochs": len(rows), "seconds": sum(seconds) if seconds else None}


def time_to_fid(run: str | Path, target: float) -> float | None:
    """Training seconds until the run's logged subset-FID first reached ``target`` (or None)."""
    elapsed = 0.0
    for row in read_metrics(run):
        elapsed += float(row.get("seconds", 0.0))
        if row.get("fid") is not None and row["fid"] <= target:
            return elapsed
    return None


def last_logged_fid(run: str | Path) -> float | None:
    fids = [r["fid"] for r in read_metrics(run) if r.get("fid") is not None]
    return fids[-1] if fids else None


def score_runs(runs: list[str], config: ScoreConfig) -> list[dict[str, Any]]:
    """Score every run with the same settings; a run that fails is reported, not fatal."""
    rows = []
    for run in runs:
        start = time.perf_counter()
        row: dict[str, Any] = {"run": run, **wall_time(run)}
        try:
            row["model"] = read_config(run).get("model")
            row["report"] = score_run(ScoreConfig(**{**config.__dict__, "run": run}))
        except FashionlabError as exc:
            row["error"] = str(exc)
        row["score_seconds"] = round(time.perf_counter() - start, 1)
        print(f"scored {run} in {row['score_seconds']} s" + (f": {row['error']}"
              if "error" in row else ""), file=sys.stderr, flush=True)
        rows.append(row)
    reference = rows[0] if rows else None
    target = last_logged_fid(reference["run"]) if reference else None
    for row in rows:
        if target is not None and reference.get("seconds"):
            reached = time_to_fid(row["run"], target)
            row["reference_subset_fid"] = target
            row["seconds_to_reference_fid"] = reached
            row["fraction_of_reference_time"] = (
                None if reached is None else reached / reference["seconds"])
    return rows


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def markdown_table(rows: list[dict[str, Any]], config: ScoreConfig) -> str:
    """The docs table (docs/gans.md), its commands and the note on what the numbers are."""
    head = ("| run | model | epochs | train wall time (s) | FID | KID x 1000 | precision | recall "
            "| agreement | CAS |")
    lines = [head, "|" + "---|" * 10]
    features = None
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['run']} | {row.get('model') or '?'} | | | error: "
                         f"{row['error']} | | | | | |")
            continue
        r = row["report"]
        features = features or r["feature_network"]
        kid = r["kid"]
        lines.append(
            f"| {row['run']} | {row['model']} | {row['epochs']} | {_fmt(row['seconds'], '.0f')} "
            f"| {r['fid']:.2f} | {1000 * kid['mean']:.2f} +- {1000 * kid['std']:.2f} "
            f"| {r['precision_recall']['precision']:.3f} | {r['precision_recall']['recall']:.3f} "
            f"| {_fmt(r.get('agreement', {}).get('agreement'), '.3f')} "
            f"| {_fmt(r.get('cas', {}).get('cas'), '.3f')} |"
        )
    out = ["\n".join(lines), ""]
    if any("fraction_of_reference_time" in row for row in rows):
        out.append(f"Time to reach the reference's final subset-FID "
                   f"({rows[0]['reference_subset_fid']:.2f}, logged during training):")
        for row in rows:
            out.append(f"- {row['run']}: {_fmt(row.get('seconds_to_reference_fid'), '.0f')} s = "
                       f"{_fmt(row.get('fraction_of_reference_time'), '.3f')} of the reference's "
                       "wall time")
        out.append("")
    for row in rows:
        if "report" in row and "cas" in row["report"] and "real_accuracy" in row["report"]["cas"]:
            c = row["report"]["cas"]
            fresh = " (a new draw each epoch)" if c["classifier"].get("fresh_each_epoch") else ""
            out.append(f"CAS of {row['run']}: {c['cas']:.4f}{fresh}; the same classifier "
                       f"({c['classifier']['model']}, {c['classifier']['epochs']} epochs) trained "
                       f"on {c['train_samples']:,} real training images: {c['real_accuracy']:.4f}")
    if features:
        out.append(f"Feature network: {features['model']} from {features['run']} "
                   f"({features['feature_dim']} penultimate features). {config.n:,} generated "
                   f"images per run vs the 10,000 test images; KID: {config.kid_subsets} subsets "
                   f"of {config.kid_subset_size:,}; precision/recall: k={config.k}.")
    out.append(NOT_INCEPTION)
    out.append("")
    out.append("Commands (one per row):")
    extra = "".join(
        f" --{name.replace('_', '-')} {getattr(config, name)}"
        for name in ("n", "kid_subset_size", "cas_model", "cas_epochs", "cas_samples",
                     "cas_crop_padding", "noise_scale")
        if getattr(config, name) != getattr(ScoreConfig, name)
    ) + "".join(f" --{flag}" for flag, on in (
        ("cas-fresh", config.cas_fresh), ("cas-flip", config.cas_flip),
        ("cas-real-baseline", config.cas_real_baseline)) if on) + (
        " --best" if config.best else "")
    for row in rows:
        out.append(f"    fashionlab score {row['run']} --classifier {config.classifier}{extra}")
    return "\n".join(out)


def smoke_runs(root: Path, data_dir: str | None) -> tuple[str, list[str]]:
    """A 1-epoch classifier and three tiny GAN runs (a few steps each), for checking the script."""
    from fashionlab.classifier.train import ClassifierConfig, train_classifier
    from fashionlab.gan.train import GanConfig, train_gan

    classifier = root / "classifier"
    train_classifier(ClassifierConfig(model="mlp", epochs=1, batch_size=256, out=str(classifier),
                                      data_dir=data_dir, device="cpu", figures=False))
    runs = []
    for model in ("dcgan", "lite", "cgan"):
        out = root / model
        train_gan(GanConfig(model=model, epochs=2, steps_per_epoch=3, train_subset=2048,
                            figures=False, fid_every=1, fid_classifier=str(classifier),
                            fid_samples=200, out=str(out), data_dir=data_dir, device="cpu"))
        runs.append(str(out))
    return str(classifier), runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="*", help="GAN run folders; the first is the reference")
    parser.add_argument("--classifier", help="classifier run folder (the feature network)")
    parser.add_argument("--n", type=int, default=10_000, help="generated images per run")
    parser.add_argument("--kid-subset-size", type=int, default=1000)
    parser.add_argument("--cas-model", default=ScoreConfig.cas_model,
                        help="the classifier CAS trains on generated images")
    parser.add_argument("--cas-epochs", type=int, default=ScoreConfig.cas_epochs)
    parser.add_argument("--cas-samples", type=int, default=ScoreConfig.cas_samples,
                        help="generated images CAS trains on (0 = the --n scored ones)")
    parser.add_argument("--cas-fresh", action="store_true",
                        help="CAS trains each epoch on a new draw of generated images")
    parser.add_argument("--cas-crop-padding", type=int, default=ScoreConfig.cas_crop_padding,
                        help="CAS augmentation: random crops after padding (0 = off)")
    parser.add_argument("--cas-flip", action="store_true", help="CAS augmentation: random flips")
    parser.add_argument("--no-real-baseline", action="store_true",
                        help="skip training the CAS classifier on as many real images")
    parser.add_argument("--best", action="store_true",
                        help="score each run's best-FID epoch (generator_best.safetensors)")
    parser.add_argument("--noise-scale", type=float, default=ScoreConfig.noise_scale,
                        help="sample every generator's noise as N(0, S^2 I) (1.0 = as trained)")
    parser.add_argument("--json", help="also write all reports to this JSON file")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--smoke", action="store_true",
                        help="train tiny runs in a temporary folder and score 300 images each")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="gan_quality_") as tmp:
        if args.smoke:
            args.classifier, args.runs = smoke_runs(Path(tmp), args.data_dir)
            args.n, args.kid_subset_size, args.cas_epochs = 300, 100, 1
        if not args.runs or not args.classifier:
            parser.error("give GAN run folders and --classifier (or --smoke)")
        config = ScoreConfig(run="", classifier=args.classifier, n=args.n,
                             kid_subset_size=args.kid_subset_size, cas_model=args.cas_model,
                             cas_epochs=args.cas_epochs, cas_samples=args.cas_samples,
                             cas_real_baseline=not args.no_real_baseline,
                             cas_fresh=args.cas_fresh, cas_crop_padding=args.cas_crop_padding,
                             cas_flip=args.cas_flip, best=args.best,
                             noise_scale=args.noise_scale, device=args.device,
                             data_dir=args.data_dir)
        rows = score_runs(args.runs, config)
        print(markdown_table(rows, config))
        if args.json:
            Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 1 if any("error" in row for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
