"""KEY=VALUE options: what a message shows can be typed back as an option."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fashionlab.cli import main
from fashionlab.errors import FashionlabError
from fashionlab.options import format_key_values, parse_key_values


def test_values_are_read_as_json_else_as_text():
    assert parse_key_values(["k=15", "s=text", "n=null", "w=[8,16]", "f=true", "m=NaN"],
                            "--param") == {"k": 15, "s": "text", "n": None, "w": [8, 16],
                                           "f": True, "m": pytest.approx(math.nan, nan_ok=True)}
    for bad in ("k", "=3"):
        with pytest.raises(FashionlabError, match=f"--param wants KEY=VALUE, got '{bad}'"):
            parse_key_values([bad], "--param")


def test_values_are_written_in_the_form_they_are_read():
    values = {"widths": (32, 64), "flip": True, "seed": None, "missing": np.nan,
              "n": np.int64(3), "rate": np.float32(0.5), "name": "median"}
    text = format_key_values(values)
    assert text == ('widths=[32,64], flip=true, seed=null, missing=NaN, n=3, rate=0.5, '
                    'name="median"')
    back = parse_key_values(text.split(", "), "--param")
    assert back == {"widths": [32, 64], "flip": True, "seed": None,
                    "missing": pytest.approx(math.nan, nan_ok=True), "n": 3, "rate": 0.5,
                    "name": "median"}
    assert format_key_values({"state": np.random.RandomState(0)}).startswith("state=RandomState")


def test_the_defaults_an_impute_error_lists_can_be_typed_back(tmp_path, capsys):
    # before, the list said random_state=None, and --param random_state=None was refused
    src = tmp_path / "in.csv"
    src.write_text("a,b,c\n1,2,3\n4,,6\n7,8,\n10,11,12\n13,14,15\n")
    out = tmp_path / "out.csv"
    assert main(["impute", str(src), "--out", str(out), "--method", "mice",
                 "--param", "bogus=1"]) == 2
    listed = capsys.readouterr().err.split("their defaults: ")[1].strip().split(", ")
    assert "random_state=null" in listed and "missing_values=NaN" in listed
    argv = [arg for pair in listed for arg in ("--param", pair)]
    assert main(["impute", str(src), "--out", str(out), "--method", "mice", *argv]) == 0
    assert out.is_file()


def test_the_resume_refusal_names_what_each_trainer_lets_change():
    from fashionlab.inpaint.train import InpaintConfig
    from fashionlab.options import refuse_with_resume

    with pytest.raises(FashionlabError) as caught:
        refuse_with_resume(InpaintConfig, {"steps": 5}, {"steps": 10}, ("data_dir",))
    assert str(caught.value) == ("--steps cannot be given with --resume: a resumed run keeps "
                                 "its settings (only --data-dir may change)")
    refuse_with_resume(InpaintConfig, {"steps": 10}, {"steps": 10}, ("data_dir",))  # unchanged

