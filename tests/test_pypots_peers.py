"""benchmarks/pypots_peers.py: the PyPOTS peers' script, run in its own environment.

Its windowing and input checks run here on fashionlab's numpy; its self-test (SAITS, BRITS
and USGAN on sine waves, 2 epochs) runs only where the PyPOTS environment of its docstring
exists (/work/venvs/pypots, or $PYPOTS_PYTHON), and is skipped elsewhere, as in CI.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "pypots_peers.py"
PYPOTS_PYTHON = Path(os.environ.get("PYPOTS_PYTHON", "/work/venvs/pypots/bin/python"))


def load_script():
    spec = importlib.util.spec_from_file_location("pypots_peers", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def imported(nodes) -> set[str]:
    """Top-level package names the import statements among ``nodes`` bring in."""
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_the_script_never_imports_fashionlab_nor_pypots_at_module_level():
    tree = ast.parse(SCRIPT.read_text())
    anywhere, top = imported(ast.walk(tree)), imported(tree.body)
    assert "fashionlab" not in anywhere
    assert {"pypots", "torch"} <= anywhere and not {"pypots", "torch"} & top


def test_windows_pad_the_last_partial_window_and_join_back():
    peers = load_script()
    X = np.arange(50 * 3, dtype=np.float32).reshape(50, 3)
    windows = peers.to_windows(X, 24)
    assert windows.shape == (3, 24, 3)
    assert np.array_equal(windows[1, 0], X[24]) and np.isnan(windows[2, 2:]).all()
    assert np.array_equal(peers.from_windows(windows, 50), X)


def test_bad_input_gets_one_error_line_and_status_2(tmp_path, capsys):
    peers = load_script()
    path = tmp_path / "data.npz"
    np.savez(path, train=np.zeros((48, 3)), val=np.zeros((24, 2)), test=np.zeros((24, 3)),
             window=np.int64(24))
    cases = [(["--input", str(path), "--out", str(tmp_path / "f.npz"), "--methods", "gain"],
              "unknown method(s) gain"),
             (["--input", str(path), "--out", str(tmp_path / "f.npz")],
              "train, val and test must be 2-D arrays with the same number of columns"),
             (["--input", str(tmp_path / "none.npz"), "--out", str(tmp_path / "f.npz")],
              "does not exist"),
             (["--budget", "0", "--self-test"], "--budget must be positive")]
    for argv, message in cases:
        with pytest.raises(SystemExit) as stop:
            peers.main(argv)
        err = capsys.readouterr().err
        assert stop.value.code == 2 and err.startswith("error: ") and err.count("\n") == 1
        assert message in err
    assert not (tmp_path / "f.npz").exists()


@pytest.mark.slow  # about 30 s idle, and only where the benchmark's own environment exists
@pytest.mark.skipif(not PYPOTS_PYTHON.is_file(), reason="no PyPOTS environment (see the script)")
def test_self_test_fills_sine_waves_in_the_pypots_environment(tmp_path):
    env = {**os.environ, "HOME": str(tmp_path), "OMP_NUM_THREADS": "1"}  # PyPOTS writes ~/.pypots
    done = subprocess.run([str(PYPOTS_PYTHON), str(SCRIPT), "--self-test", "--methods",
                           "saits,brits,usgan", "--seed", "1"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "self-test ok: saits, brits, usgan" in done.stdout
    assert done.stdout.count(" 2 epochs (best ") == 3
