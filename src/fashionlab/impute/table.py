"""``fashionlab impute``: fill the empty numeric cells of a CSV file, or score methods on it.

The file is read and written by ``fashionlab.impute.csv_io`` (every cell kept as its
text); the output is written atomically to a new file and the input is never touched.
``--method auto`` scores candidate methods on hidden cells and fills with the best.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fashionlab.errors import FashionlabError
from fashionlab.impute.base import IMPUTERS, get_imputer_class, make_imputer
from fashionlab.impute.csv_io import Table, read_table, write_table
from fashionlab.impute.evaluation import evaluate_methods, fit_fill
from fashionlab.impute.patterns import PATTERNS, load_mask, named_groups, pattern_mask, save_mask
from fashionlab.impute.progress import shown
from fashionlab.impute.time_order import TIME_SERIES, check_time_order
from fashionlab.options import format_key_values, fraction, option
from fashionlab.runtime.files import prepare_output_file

WIDE = 30  # numeric columns of the widest table GainImputer's defaults were chosen on
AUTO = "auto"  # --method auto: the candidate below with the lowest RMSE on hidden cells
AUTO_METHODS = ("mean", "mice", "gain", "interpolate", "locf", "window-gain")
AUTO_FRACTION = 0.1  # share of the observed cells that --method auto hides to choose
AUTO_MIN_CELLS = 50  # fewer hidden cells than this choose nothing: auto then takes GAIN
AUTO_MAX_CELLS = 200_000  # a larger table is scored on a seeded block of rows of this many
#                           cells: 4,000 rows of 50 columns scored the five candidates in 127 s
#                           where MICE alone took 498 s on all 100,000 rows (on a loaded
#                           machine: docs/impute-large-tables.md)


def check_output_path(input_path: Path, out: Path, force: bool) -> Path:
    """Refuse to overwrite the input, or an existing file without ``force``."""
    out = Path(out).expanduser()
    same = out.resolve() == input_path.resolve() or (
        out.exists() and input_path.exists() and os.path.samefile(out, input_path)
    )
    if same:
        raise FashionlabError(f"--out {out} is the input file; choose a new file name")
    if out.exists() and not force:
        raise FashionlabError(f"{out} already exists; choose another --out or pass --force")
    return prepare_output_file(out)


# --------------------------------------------------------------------------- the command


@dataclass
class ImputeConfig:
    """What ``fashionlab impute`` does."""

    input: Path = option(help="CSV file to read (never written)", positional=True)
    out: Path | None = option(None, "CSV file to write (must not exist, see --force); none: "
                              "evaluate only")
    method: str = option(
        AUTO, f"auto, or one of: {', '.join(IMPUTERS)} (for rows in time order, an hourly "
        "series, interpolate, locf and window-gain use the neighbouring rows). auto scores "
        f"{', '.join(AUTO_METHODS)} on {AUTO_FRACTION:g} of the observed cells, hidden (of a "
        f"seeded block of rows when the table has more than {AUTO_MAX_CELLS:,} cells), and "
        "fills with the best")
    force: bool = option(False, "overwrite an existing --out file")
    flags: bool = option(False, "add a <column>_imputed column (1 = filled) for each column "
                         "with gaps")
    evaluate: float | None = option(
        None, "hide this fraction of the observed numeric cells and print each method's error "
        "on them", parse=fraction, metavar="FRACTION")
    evaluate_methods: tuple[str, ...] | None = option(
        None, "comma-separated methods that --evaluate scores (default: the candidates of "
        f"auto: {','.join(AUTO_METHODS)})", flag="--compare", metavar="NAMES",
        parse=lambda text: tuple(text.split(",")))
    pattern: str = option(
        "random", f"shape of the cells --evaluate hides, one of: {', '.join(PATTERNS)} (block: "
        "runs drawn from each column's own gap lengths; outage: every column of one station, "
        "named <station>_<variable>, see --groups; subsequence: runs of 24 rows)")
    groups: tuple[str, ...] | None = option(
        None, "comma-separated column-name prefixes, one per station, for --pattern outage "
        "(default: the names before '_', else every column at once)", metavar="PREFIXES",
        parse=lambda text: tuple(text.split(",")))
    mask_file: Path | None = option(
        None, "score on the cells marked 1 in this mask (.npy or CSV of 0/1, one row per data "
        "row, one column per numeric column) instead of --evaluate's")
    save_mask: Path | None = option(None, "write the cells --evaluate hid to this file (.npy "
                                    "or CSV of 0/1), for --mask-file")
    samples: int | None = option(None, "draw this many fills (window-gain): write the median "
                                 "and a calibrated 90% interval, <col>_q05 and <col>_q95")
    seed: int = option(0, "seeds the imputer and the hidden cells")
    params: dict = option(
        factory=dict, flag="--param",
        help="a keyword argument of the --method imputer, VALUE as JSON (repeatable; --evaluate "
        "scores that method with it too), e.g. --method knn --param n_neighbors=10; an unknown "
        "KEY lists the method's parameters")


@dataclass
class ImputeResult:
    """What ``impute_csv`` did: cells filled, file written, and evaluation rows."""

    rows: int
    numeric_columns: list[str]
    text_columns: list[str]  # kept as they are, never filled
    missing_cells: int
    out: Path | None
    scores: list[dict] = field(default_factory=list)  # method, mae, rmse, cells, seconds
    method: str | None = None  # the method that filled the file (AUTO's choice)
    choice: list[dict] = field(default_factory=list)  # AUTO's scores, as ``scores``
    choice_note: str = ""  # why AUTO chose without scores, when it did
    choice_rows: range | None = None  # the block of rows AUTO scored on; None = every row
    intervals: object = None  # --samples: ``fashionlab.impute.intervals.Intervals``


def impute_csv(config: ImputeConfig,
               progress: Callable[[str], None] | None = None) -> ImputeResult:
    """Check everything, then fill the CSV file (and/or evaluate the methods on it).

    ``progress`` receives a line before each long step (the CLI prints it on stderr);
    with it, the imputers' progress bars are shown too (``fashionlab.impute.progress``).
    """
    with shown() if progress else nullcontext():
        return _impute_csv(config, progress)


def _impute_csv(config: ImputeConfig, progress: Callable[[str], None] | None) -> ImputeResult:
    say = progress or (lambda line: None)
    input_path = Path(config.input).expanduser()
    if config.method == AUTO:
        if config.params:
            raise FashionlabError("--param sets options of a named --method, not of auto")
    elif config.method not in IMPUTERS:
        raise FashionlabError(f"unknown imputation method {config.method!r}; choose auto or "
                              f"one of: {', '.join(IMPUTERS)}")
    else:
        make_imputer(config.method, config.params)  # an unknown parameter fails first
    if config.samples is not None:
        from fashionlab.impute.intervals import check_samples
        check_samples(config.samples, config.method)
    if config.out is None and config.evaluate is None and config.mask_file is None:
        raise FashionlabError("give --out OUTPUT.csv to write the filled file, or --evaluate")
    if config.pattern not in PATTERNS:
        raise FashionlabError(f"unknown gap pattern {config.pattern!r}; choose one of: "
                              f"{', '.join(PATTERNS)}")
    if config.mask_file is not None and config.evaluate is not None:
        raise FashionlabError("give --evaluate FRACTION or --mask-file, not both")
    if config.evaluate is not None and not 0 < config.evaluate < 1:
        raise FashionlabError(
            f"--evaluate must be a fraction between 0 and 1, got {config.evaluate}"
        )
    for name in config.evaluate_methods or ():
        get_imputer_class(name)
    out = check_output_path(input_path, config.out, config.force) if config.out else None
    table = read_table(input_path)
    if config.method in TIME_SERIES:
        check_time_order(input_path, table.header, table.rows, table.text_indexes)
    result = ImputeResult(
        rows=len(table.rows), numeric_columns=[table.header[j] for j in table.numeric],
        text_columns=table.text_columns,
        missing_cells=int(np.isnan(table.values).sum()), out=out,
    )
    columns = len(result.numeric_columns)
    shape = f"{_count(columns, 'numeric column')} of {_count(result.rows, 'row')}"
    if config.evaluate is not None or config.mask_file is not None:
        result.scores = _evaluate(config, table, result.numeric_columns, shape, say)
    if out is not None:
        result.method = config.method
        if config.method == AUTO:
            rows = result.choice_rows = scoring_rows(len(table.rows), columns, config.seed)
            if rows is not None:
                say(f"the table is large: --method auto scores on {_rows(rows, result.rows)}")
            result.method, result.choice, result.choice_note = choose_method(
                table.values[rows.start : rows.stop] if rows else table.values, config.seed,
                say)
        if config.method == AUTO and result.method in TIME_SERIES:
            check_time_order(input_path, table.header, table.rows, table.text_indexes)
        say(f"filling {_count(result.missing_cells, 'empty cell')} in {shape} with "
            f"{result.method}...{_slow_note(result.method, columns)}")
        if config.samples is None:
            filled = fit_fill(result.method, config.params, config.seed, table.values)
        else:
            from fashionlab.impute.intervals import sample_intervals, with_interval_columns
            result.intervals = sample_intervals(result.method, config.params, table.values,
                                                config.samples, config.seed,
                                                result.numeric_columns)
            filled, table = result.intervals.median, with_interval_columns(table, result.intervals)
        write_table(table, filled, out, config.flags, exclusive=not config.force)
    return result


def _evaluate(config: ImputeConfig, table: Table, columns: list[str], shape: str,
              say: Callable[[str], None]) -> list[dict]:
    """``--evaluate`` / ``--mask-file``: the scores of each method on the hidden cells."""
    methods = config.evaluate_methods or auto_methods(len(columns))
    note = _slow_note("gain", len(columns)) if "gain" in methods else ""
    if config.mask_file is not None:
        mask = load_mask(config.mask_file, table.values.shape)
        what = f"the cells of {config.mask_file}"
    else:
        groups = named_groups(columns, config.groups) if config.groups else None
        mask = pattern_mask(table.values, config.pattern, config.evaluate, config.seed,
                            columns=columns, groups=groups)
        shaped = "" if config.pattern == "random" else f" ({config.pattern} pattern)"
        what = f"{config.evaluate:g} of the observed cells{shaped}"
        if config.save_mask is not None:
            save_mask(config.save_mask, mask)
    say(f"scoring {_count(len(methods), 'method')} on {what} of {shape}...{note}")
    return evaluate_methods(table.values, config.evaluate, methods, config.seed,
                            {config.method: config.params}, say, mask=mask)


def auto_methods(columns: int) -> tuple[str, ...]:
    """The candidates of ``--method auto`` for a table of ``columns`` numeric columns: GAIN
    only up to ``WIDE`` columns (beyond, its fit takes minutes to tens of minutes)."""
    return tuple(m for m in AUTO_METHODS if m != "gain" or columns <= WIDE)


def scoring_rows(rows: int, columns: int, seed: int = 0) -> range | None:
    """The rows ``--method auto`` scores its candidates on: every row (None) for a table of
    at most ``AUTO_MAX_CELLS`` cells, else a block of consecutive rows of that many cells
    (rows in time order stay in order for interpolate, locf and window-gain), at a
    seeded place."""
    most = max(1, AUTO_MAX_CELLS // max(columns, 1))
    if rows <= most:
        return None
    start = int(np.random.default_rng(seed).integers(0, rows - most + 1))
    return range(start, start + most)


def _rows(block: range, rows: int) -> str:
    return (f"rows {block.start + 1:,}-{block.stop:,}, a seeded block of {len(block):,} of "
            f"the {rows:,} rows")


def choose_method(values: np.ndarray, seed: int = 0,
                  say: Callable[[str], None] = lambda line: None) -> tuple[str, list[dict], str]:
    """``--method auto``: hide ``AUTO_FRACTION`` of the observed cells, score every candidate
    on them, and return the one with the lowest RMSE, the scores, and a note ("" when the
    scores chose). A table too small to choose on (fewer than ``AUTO_MIN_CELLS`` hidden
    cells, or a column emptied by hiding) gets GAIN (MICE beyond ``WIDE`` columns), with
    the reason in the note."""
    candidates = auto_methods(values.shape[1])
    fallback = "gain" if "gain" in candidates else "mice"
    observed = int((~np.isnan(values)).sum())
    if observed * AUTO_FRACTION < AUTO_MIN_CELLS:
        needed = math.ceil(AUTO_MIN_CELLS / AUTO_FRACTION)
        return fallback, [], (f"chose {fallback} without scoring: {observed:,} observed cells "
                              f"are too few to choose on (it hides {AUTO_FRACTION:g} of them "
                              f"and needs {needed:,} to hide {AUTO_MIN_CELLS})")
    say(f"choosing a method (--method auto): scoring {', '.join(candidates)} on "
        f"{AUTO_FRACTION:g} of the {observed:,} observed cells...")
    try:
        scores = evaluate_methods(values, AUTO_FRACTION, candidates, seed, say=say)
    except FashionlabError as exc:
        return fallback, [], f"chose {fallback}: it could not score the methods ({exc})"
    return min(scores, key=lambda row: row["rmse"])["method"], scores, ""


def _slow_note(method: str, columns: int) -> str:
    """A warning for tables wider than the ones the GAN imputer's defaults were timed on."""
    if method != "gain" or columns <= WIDE:
        return ""
    return (f" ({columns} columns: GAIN's default fit grows faster than the number of "
            f"columns: about 1.5 minutes for 500 rows of 60 columns and 20 minutes for 300 "
            f"columns on one core, where --method knn takes under a second; --param n_jobs=-1 "
            f"fits its forests on every core, --param forest_max_columns=15 fitted a "
            f"132-column table in two thirds of the time)")


def format_result(result: ImputeResult, config: ImputeConfig) -> str:
    """The lines ``fashionlab impute`` prints."""
    lines = []
    if result.scores:
        lines.append(
            f"error on {result.scores[0]['cells']:,} hidden cells ({_hidden_how(config)}), "
            "values min-max scaled per column:"
        )
        lines += _score_lines(result.scores)
        if config.params and any(row["method"] == config.method for row in result.scores):
            lines.append(f"({config.method} with {format_key_values(config.params)})")
    if result.choice:
        where = f" in {_rows(result.choice_rows, result.rows)}" if result.choice_rows else ""
        lines.append(
            f"--method auto chose {result.method}: the lowest RMSE on {result.choice[0]['cells']:,}"
            f" hidden cells ({AUTO_FRACTION:g} of the observed ones{where}; seed {config.seed}):"
        )
        lines += _score_lines(result.choice)
    elif result.choice_note:
        lines.append(f"--method auto {result.choice_note}")
    if result.out is not None:
        given = f" ({format_key_values(config.params)})" if config.params else ""
        lines.append(
            f"filled {_count(result.missing_cells, 'empty cell')} in "
            f"{_count(len(result.numeric_columns), 'numeric column')} of "
            f"{_count(result.rows, 'row')} with {result.method}{given}; wrote {result.out}"
        )
    if result.intervals is not None:
        iv = result.intervals
        cal = iv.calibration
        lines.append(f"90% intervals from {config.samples} draws: their own 5%-95% spread "
                     f"covered {iv.raw_coverage:.3f} of {iv.cells:,} calibration cells; "
                     f"stretched x{cal.scale.min():.3g}-x{cal.scale.max():.3g} to cover 0.9 "
                     "per gap length (split conformal)")
    if result.text_columns:
        names = ", ".join(repr(name) for name in result.text_columns)
        lines.append(f"kept as text (not numeric, not filled): {names}")
    return "\n".join(lines)


def _hidden_how(config: ImputeConfig) -> str:
    if config.mask_file is not None:
        return f"the cells marked in {config.mask_file}"
    shape = "" if config.pattern == "random" else f", pattern {config.pattern}"
    return f"{config.evaluate:g} of the observed numeric cells{shape}, seed {config.seed}"


def _score_lines(scores: list[dict]) -> list[str]:
    """A table of methods, best RMSE first."""
    lines = [f"{'method':<12} {'MAE':>8} {'RMSE':>8} {'seconds':>8}"]
    for row in sorted(scores, key=lambda r: r["rmse"]):
        lines.append(
            f"{row['method']:<12} {row['mae']:>8.4f} {row['rmse']:>8.4f} {row['seconds']:>8.1f}"
        )
    return lines


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"
