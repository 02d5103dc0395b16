"""`fashionlab impute fit` / `impute apply`: saved models, same fills, and every bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from fashionlab.cli import main
from fashionlab.errors import FashionlabError
from fashionlab.impute.base import IMPUTERS, make_imputer
from fashionlab.impute.persist import load_imputer, save_imputer


def series(rows: int, start: str = "2020-01-01", seed: int = 0) -> pd.DataFrame:
    """2 stations x 2 variables, hourly, with gaps, and a time column."""
    rng = np.random.default_rng(seed)
    t = np.arange(rows)[:, None]
    values = 10 + np.sin(t / 12 + np.arange(4)) + 0.1 * rng.standard_normal((rows, 4))
    values[rng.random(values.shape) < 0.15] = np.nan
    values[30:40, 0:2] = np.nan  # a station outage
    frame = pd.DataFrame(values.round(4), columns=["a_pm", "a_t", "b_pm", "b_t"])
    frame.insert(0, "time", pd.date_range(start, periods=rows, freq="h").astype(str))
    return frame


def write(path, frame: pd.DataFrame):
    frame.to_csv(path, index=False)
    return path


def run(capsys, *args):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


FAST = {"window-gain": {"epochs": 2, "d_model": 16, "disc_hidden": 8, "n_heads": 2},
        "gain": {"n_iterations": 20, "forest_trees": 3, "n_generators": 2, "n_components": 1,
                 "start_folds": 2, "batch_size": 32},
        "mixture-forest": {"forest_trees": 3, "n_components": 1, "n_folds": 2},
        "mice": {"max_iter": 3}, "missforest": {"n_estimators": 5, "max_iter": 2},
        "nearest-station": {"n_variables": 2}}
ROW_WISE = ["mean", "median", "knn", "mice", "missforest", "mixture-forest", "gain"]


def fitted(method: str, rows: int = 96):
    params = FAST.get(method, {})
    return make_imputer(method, params, random_state=0).fit(series(rows).iloc[:, 1:].to_numpy())


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("method", list(IMPUTERS))
def test_a_saved_imputer_fills_as_the_fitted_one(tmp_path, method):
    new = series(48, seed=1).iloc[:, 1:].to_numpy()
    imputer = fitted(method)
    save_imputer(imputer, tmp_path / "model", ["a_pm", "a_t", "b_pm", "b_t"])
    text = (tmp_path / "model" / "model.json").read_text()
    assert "pickle" not in text and "ExtraTrees" not in text
    loaded, meta = load_imputer(tmp_path / "model")
    assert meta["method"] == method and meta["columns"][0] == "a_pm"
    assert type(loaded) is type(imputer)
    np.testing.assert_array_equal(loaded.transform(new), imputer.transform(new))
    save_imputer(loaded, tmp_path / "again", meta["columns"])  # a loaded model saves too
    np.testing.assert_array_equal(load_imputer(tmp_path / "again")[0].transform(new),
                                  imputer.transform(new))


def test_loading_never_unpickles(tmp_path, monkeypatch):
    import pickle

    def refuse(*args, **kwargs):
        raise AssertionError("unpickled")

    imputer = fitted("missforest")
    save_imputer(imputer, tmp_path / "model", ["a_pm", "a_t", "b_pm", "b_t"])
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(np, "load", refuse)
    assert load_imputer(tmp_path / "model")[1]["method"] == "missforest"


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("method", ROW_WISE)
def test_the_fill_of_a_row_takes_nothing_from_the_new_file(tmp_path, method):
    """Rows from another distribution beside a row change neither its fill nor the model."""
    save_imputer(fitted(method), tmp_path / "model", ["a_pm", "a_t", "b_pm", "b_t"])
    before = {p.name: p.read_bytes() for p in (tmp_path / "model").iterdir()}
    model = load_imputer(tmp_path / "model")[0]
    new = series(48, seed=1).iloc[:, 1:].to_numpy()
    other = series(200, seed=2).iloc[:, 1:].to_numpy() * 3 + 5  # another distribution
    alone = model.transform(new)
    beside = model.transform(np.concatenate([other, new, other]))[200:248]
    np.testing.assert_allclose(beside, alone, rtol=1e-12, atol=1e-12)
    assert {p.name: p.read_bytes() for p in (tmp_path / "model").iterdir()} == before


def test_apply_on_a_later_period_fills_as_the_fitted_model_on_the_whole_file(tmp_path, capsys):
    frame = series(24 * 8)
    history, later = frame.iloc[: 24 * 6], frame.iloc[24 * 6:]
    write(tmp_path / "history.csv", history)
    write(tmp_path / "later.csv", later)
    code, out, err = run(capsys, "impute", "fit", tmp_path / "history.csv", "--method",
                         "window-gain", "--out", tmp_path / "model", "--param", "window=24",
                         *sum((["--param", f"{k}={v}"] for k, v in FAST["window-gain"].items()),
                              []))
    assert code == 0, err
    assert "fitted window-gain on 144 rows of 4 numeric columns" in out
    code, out, err = run(capsys, "impute", "apply", tmp_path / "model", tmp_path / "later.csv",
                         "--out", tmp_path / "filled.csv")
    assert code == 0, err
    filled = pd.read_csv(tmp_path / "filled.csv")
    model, _ = load_imputer(tmp_path / "model")
    whole = model.transform(frame.iloc[:, 1:].to_numpy())[24 * 6:]  # windows line up
    np.testing.assert_allclose(filled.iloc[:, 1:].to_numpy(), whole, atol=1e-4)
    assert filled["time"].tolist() == later["time"].tolist()
    assert not filled.isna().any().any()


def test_apply_uses_no_statistic_of_the_new_file(tmp_path, capsys):
    write(tmp_path / "history.csv", series(48))
    later = series(48, start="2021-01-01")
    later.loc[:, "a_pm"] = [np.nan] * 47 + [11.0]  # its own mean would be 11
    write(tmp_path / "later.csv", later)
    assert run(capsys, "impute", "fit", tmp_path / "history.csv", "--method", "mean",
               "--out", tmp_path / "m")[0] == 0
    assert run(capsys, "impute", "apply", tmp_path / "m", tmp_path / "later.csv", "--out",
               tmp_path / "f.csv")[0] == 0
    history_mean = series(48)["a_pm"].mean()
    filled = pd.read_csv(tmp_path / "f.csv")["a_pm"].iloc[0]  # written with 1 decimal, as 11.0
    assert abs(filled - history_mean) <= 0.05 and abs(history_mean - 11) > 0.3


def test_plain_impute_still_reads_a_file_named_like_the_words(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "fit", series(30))
    code, out, err = run(capsys, "impute", "./fit", "--method", "mean", "--out", "out.csv")
    assert code == 0, err


def bad(tmp_path):
    history = write(tmp_path / "history.csv", series(48))
    assert main(["impute", "fit", str(history), "--method", "interpolate", "--out",
                 str(tmp_path / "model")]) == 0
    return tmp_path / "model"


def check_error(capsys, tmp_path, args, message):
    code = main([str(a) for a in args])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and message in err, err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out.csv").exists()


def test_apply_with_a_model_fitted_on_other_columns_is_refused(tmp_path, capsys):
    model = bad(tmp_path)
    other = write(tmp_path / "other.csv", series(24).drop(columns=["b_t"]))
    check_error(capsys, tmp_path, ["impute", "apply", model, other, "--out",
                                   tmp_path / "out.csv"], "it lacks 'b_t'")
    extra = series(24)
    extra["c_pm"] = 1.0
    check_error(capsys, tmp_path, ["impute", "apply", model, write(tmp_path / "extra.csv", extra),
                                   "--out", tmp_path / "out.csv"], "it has 'c_pm' the model")
    swapped = write(tmp_path / "swapped.csv", series(24)[["time", "a_t", "a_pm", "b_pm", "b_t"]])
    check_error(capsys, tmp_path, ["impute", "apply", model, swapped, "--out",
                                   tmp_path / "out.csv"], "they are in another order")
    units = series(24)
    units["a_t"] *= 1000  # kelvin to millikelvin
    path = write(tmp_path / "units.csv", units)
    check_error(capsys, tmp_path, ["impute", "apply", model, path, "--out",
                                   tmp_path / "out.csv"], "'a_t' looks like other units")


@pytest.mark.parametrize("fault, message", [
    ("shuffle", "comes before the row above it"),
    ("repeat", "appears twice"),
])
def test_a_time_series_method_refuses_rows_out_of_time_order(tmp_path, capsys, fault,
                                                             message):
    frame = series(48)
    if fault == "shuffle":
        frame = frame.iloc[[0, 2, 1, *range(3, 48)]]
    else:
        frame.loc[5, "time"] = frame.loc[4, "time"]
    path = write(tmp_path / "in.csv", frame)
    check_error(capsys, tmp_path, ["impute", "fit", path, "--method", "interpolate", "--out",
                                   tmp_path / "model"], message)
    assert not (tmp_path / "model" / "model.json").exists()
    model = bad(tmp_path)
    check_error(capsys, tmp_path, ["impute", "apply", model, path, "--out",
                                   tmp_path / "out.csv"], message)
    check_error(capsys, tmp_path, ["impute", "apply", model, path, "--out",
                                   tmp_path / "out.csv", "--chunk-rows", "2"], message)
    for method in ("interpolate", "window-gain"):  # the one-shot command too
        check_error(capsys, tmp_path, ["impute", path, "--method", method, "--out",
                                       tmp_path / "out.csv"], message)
    assert main(["impute", str(path), "--method", "mean", "--out",  # row-wise: no clock needed
                 str(tmp_path / "mean.csv")]) == 0


@pytest.mark.parametrize("damage, message", [
    ("version", "from another version"),
    ("arrays", "is damaged"),
    ("json", "is damaged"),
    ("missing", "is not a model folder"),
])
def test_a_damaged_or_foreign_model_folder_is_refused(tmp_path, capsys, damage, message):
    model = bad(tmp_path)
    meta = json.loads((model / "model.json").read_text())
    if damage == "version":
        meta["version"] = 0
        (model / "model.json").write_text(json.dumps(meta))
    elif damage == "arrays":
        (model / "arrays.safetensors").write_bytes(b"\x00" * 10)
    elif damage == "json":
        (model / "model.json").write_text("{not json")
    else:
        (model / "model.json").unlink()
    new = write(tmp_path / "new.csv", series(24))
    check_error(capsys, tmp_path, ["impute", "apply", model, new, "--out",
                                   tmp_path / "out.csv"], message)


def test_a_fitted_value_without_a_pickle_free_form_is_refused_when_saved(tmp_path):
    imputer = fitted("mean")
    imputer.odd_ = object()
    with pytest.raises(FashionlabError, match="mean cannot be saved: object at model/odd_"):
        save_imputer(imputer, tmp_path / "m", ["a", "b", "c", "d"])
    assert not (tmp_path / "m" / "model.json").exists()


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("method", list(IMPUTERS))
def test_every_saved_method_refuses_a_damaged_or_foreign_folder(tmp_path, capsys, method):
    save_imputer(fitted(method), tmp_path / "model", ["a_pm", "a_t", "b_pm", "b_t"])
    new = write(tmp_path / "new.csv", series(24))
    model_json, arrays = (tmp_path / "model" / name for name in ("model.json",
                                                                   "arrays.safetensors"))
    good_json, good_arrays = model_json.read_text(), arrays.read_bytes()
    damages = {
        "one byte of the arrays": lambda: arrays.write_bytes(
            good_arrays[:-1] + bytes([good_arrays[-1] ^ 1])),
        "arrays cut short": lambda: arrays.write_bytes(good_arrays[: len(good_arrays) // 2]),
        "references renamed": lambda: model_json.write_text(
            good_json.replace('"model/', '"lost/').replace('"model"', '"lost"')),
        "another method": lambda: model_json.write_text(
            good_json.replace(f'"method": "{method}"', '"method": "nope"', 1)),
        "another version": lambda: model_json.write_text(
            good_json.replace('"version": 2', '"version": 1')),
    }
    for name, damage in damages.items():
        damage()
        message = "from another version" if name == "another version" else "is damaged"
        check_error(capsys, tmp_path, ["impute", "apply", tmp_path / "model", new, "--out",
                                       tmp_path / "out.csv"], message)
        model_json.write_text(good_json)
        arrays.write_bytes(good_arrays)


def test_samples_write_a_median_and_a_calibrated_interval(tmp_path, capsys):
    src = write(tmp_path / "in.csv", series(24 * 8))
    fast = sum((["--param", f"{k}={v}"] for k, v in FAST["window-gain"].items()), [])
    code, out, err = run(capsys, "impute", src, "--method", "window-gain", "--samples", "5",
                         "--out", tmp_path / "out.csv", *fast)
    assert code == 0, err
    assert "stretched x" in out and "calibration cells" in out
    filled = pd.read_csv(tmp_path / "out.csv")
    gaps = series(24 * 8)["a_pm"].isna()
    low, high = filled.loc[gaps, "a_pm_q05"], filled.loc[gaps, "a_pm_q95"]
    assert (low <= filled.loc[gaps, "a_pm"] + 1e-4).all()
    assert (filled.loc[gaps, "a_pm"] <= high + 1e-4).all() and (high > low).any()
    assert filled.loc[~gaps, "a_pm_q05"].isna().all()  # bounds only where a cell was filled


def test_samples_zero_is_one_error_line(tmp_path, capsys):
    src = write(tmp_path / "in.csv", series(30))
    check_error(capsys, tmp_path, ["impute", src, "--method", "window-gain", "--samples", "0",
                                   "--out", tmp_path / "out.csv"], "--samples must be a positive")
    check_error(capsys, tmp_path, ["impute", src, "--method", "mean", "--samples", "3",
                                   "--out", tmp_path / "out.csv"], "needs a method that draws")
