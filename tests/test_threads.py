"""The thread count the command line chooses (runtime/threads.py) and the bf16 check."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from fashionlab.classifier.models import MLP
from fashionlab.runtime import threads
from fashionlab.runtime.device import cpu_has_fast_bf16, native_bf16, torch_threads
from fashionlab.runtime.threads import (
    ThreadChoice,
    allowed_cores,
    busy_cores,
    choose_threads,
    prepare_process,
    read_cpu_times,
    threads_for,
)

SRC = Path(__file__).resolve().parents[1] / "src"


def stat_text(*cores: tuple[int, int]) -> str:
    """A /proc/stat text: the total line, then one line per core of (busy, idle) ticks
    (busy split over user and system, as the kernel writes them)."""
    lines = [f"cpu  {sum(b for b, _ in cores)} 0 0 {sum(i for _, i in cores)} 0 0 0 0 0 0"]
    for n, (busy, idle) in enumerate(cores):
        lines.append(f"cpu{n} {busy - busy // 2} 0 {busy // 2} {idle} 0 0 0 0 0 0")
    return "\n".join(lines + ["intr 1 2 3", "procs_running 3"])


def test_read_cpu_times_sums_the_cores_asked_for():
    text = stat_text((30, 70), (100, 0))
    assert read_cpu_times(text) == (130, 200)
    assert read_cpu_times(text, {1}) == (100, 100)


def test_io_wait_is_idle_and_steal_is_busy():
    # user nice system idle iowait irq softirq steal guest guest_nice
    text = "cpu0 10 0 0 50 20 0 0 20 0 0"
    assert read_cpu_times(text) == (30, 100)


def test_busy_cores_takes_our_own_time_out():
    before, after = (0, 0), (150, 200)  # 2 cores, 100 ticks each: 150 busy
    assert busy_cores(before, after, 2) == pytest.approx(1.5)
    assert busy_cores(before, after, 2, own_ticks=50) == pytest.approx(1.0)
    assert busy_cores(before, before, 2) == 0.0  # no tick passed: nothing known to be busy


@pytest.mark.parametrize(("allowed", "busy", "expected"), [
    (2, 0.0, 2),  # idle: every core
    (2, 0.2, 2),  # a little background work is tolerated
    (2, 0.3, 1),  # past a quarter of a core it costs a thread
    (2, 1.0, 1),  # one CPU-bound process beside us
    (2, 8.0, 1),  # never fewer than one
    (16, 4.0, 12),
    (4, None, 4),  # unknown (not Linux): PyTorch's default
])
def test_threads_for(allowed, busy, expected):
    assert threads_for(allowed, busy) == expected


def test_choose_threads_from_a_given_measurement():
    choice = choose_threads(allowed=2, busy=1.0)
    assert choice == ThreadChoice(1, 2, 1.0) and choice.machine_busy
    assert not choose_threads(allowed=2, busy=0.0).machine_busy


def test_the_measurement_is_of_this_machine():
    choice = choose_threads()
    assert 1 <= choice.threads <= choice.allowed == allowed_cores()
    assert choice.busy is None or choice.busy >= 0


def test_allowed_cores_reads_a_cgroup_quota(tmp_path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")  # 1.5 CPUs -> 2 threads at most
    assert allowed_cores(tmp_path) == min(2, len(os.sched_getaffinity(0)))
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert allowed_cores(tmp_path) == len(os.sched_getaffinity(0))


def test_prepare_process_passive_only_when_busy(monkeypatch):
    monkeypatch.setattr(threads, "measure_busy_cores", lambda: 1.0)
    monkeypatch.setattr(threads, "allowed_cores", lambda: 2)
    environ: dict[str, str] = {}
    assert prepare_process(environ) == ThreadChoice(1, 2, 1.0)
    assert environ == {"OMP_WAIT_POLICY": "PASSIVE"}
    environ = {"OMP_WAIT_POLICY": "ACTIVE"}  # the user's setting wins
    prepare_process(environ)
    assert environ == {"OMP_WAIT_POLICY": "ACTIVE"}
    monkeypatch.setattr(threads, "measure_busy_cores", lambda: 0.0)
    environ = {}
    assert prepare_process(environ) == ThreadChoice(2, 2, 0.0) and environ == {}
    environ = {"OMP_NUM_THREADS": "1"}  # the user chose: nothing is measured or set
    assert prepare_process(environ) is None and environ == {"OMP_NUM_THREADS": "1"}


def test_the_command_line_chooses_before_torch_loads():
    code = ("import sys, fashionlab.runtime.threads as t; seen = []; chosen = t.prepare_process; "
            "t.prepare_process = lambda: seen.append('torch' in sys.modules) or chosen(); "
            "import fashionlab.cli as cli; print(seen, cli.THREADS is not None)")
    env = {k: v for k, v in os.environ.items() if k not in threads.USER_THREAD_VARIABLES}
    env["PYTHONPATH"] = str(SRC)
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    assert run.stdout.split() == ["[False]", "True"]  # chosen once, torch not yet loaded
    env["OMP_NUM_THREADS"] = "1"
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    assert run.stdout.split() == ["[False]", "False"]  # the user's count: nothing chosen


def test_runs_are_deterministic_for_a_given_thread_count():
    """The same thread count gives the same bits (counts differ in the last bits only)."""
    x, y = torch.randn(256, 784), torch.randint(0, 10, (256,))

    def train(n: int) -> torch.Tensor:
        torch.manual_seed(0)
        model = MLP()
        optimizer = torch.optim.Adam(model.parameters(), 1e-3)
        with torch_threads(n):
            for i in range(0, 256, 32):
                loss = torch.nn.functional.cross_entropy(model(x[i:i + 32]), y[i:i + 32])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        return torch.cat([p.detach().flatten() for p in model.parameters()])

    assert torch.equal(train(1), train(1))
    assert torch.equal(train(2), train(2))
    assert torch.allclose(train(1), train(2), atol=1e-5)


def test_native_bf16_reads_the_cpu_flags():
    assert not native_bf16("processor : 0\nflags : fpu sse avx2 fma\n")
    assert native_bf16("processor : 0\nflags : fpu avx512f avx512_bf16\n")
    assert native_bf16("processor : 0\nflags\t: fpu amx_tile amx_bf16\n")
    assert not native_bf16("processor : 0\nbugs : avx512_bf16\n")  # a flag, not a word
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        assert cpu_has_fast_bf16() == native_bf16(cpuinfo.read_text())
