"""Device names: what `--device` and the trainers accept, and the errors a user can cause."""

from __future__ import annotations

import pytest
import torch

from fashionlab.errors import FashionlabError
from fashionlab.runtime.device import resolve_device


def test_cpu_names_and_torch_devices_resolve_to_the_cpu():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected


@pytest.mark.parametrize("name", ["tpu", "cuda:x", "cpu:0", "cuda:", ":0", "CUDA"])
def test_unknown_device_names_are_one_line_errors(name):
    with pytest.raises(FashionlabError, match="unknown device"):
        resolve_device(name)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
@pytest.mark.parametrize("name", ["cuda", "cuda:0", "cuda:3"])
def test_asking_for_a_gpu_without_one_is_a_clear_error(name):
    with pytest.raises(FashionlabError, match="sees no CUDA GPU"):
        resolve_device(name)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_gpu_index_picks_that_gpu_and_str_of_a_device_round_trips():
    device = resolve_device("cuda:0")
    assert device == torch.device("cuda", 0)
    assert resolve_device(str(device)) == device  # what the GAN trainer's FID monitor passes
    with pytest.raises(FashionlabError, match="only"):
        resolve_device(f"cuda:{torch.cuda.device_count()}")


def test_the_command_line_refuses_an_unknown_device_before_any_work(tmp_path, capsys):
    from fashionlab.cli import main

    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "classifier", "--device", "tpu", "--out", str(out)])
    assert exit_info.value.code == 2
    assert "unknown device 'tpu'" in capsys.readouterr().err
    assert not out.exists()


def test_the_command_line_accepts_a_gpu_index():
    from fashionlab.cli import build_parser

    args = build_parser().parse_args(["evaluate", "RUN", "--device", "cuda:1"])
    assert args.device == "cuda:1"
