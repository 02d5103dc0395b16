"""Devices, seeding, mixed precision and torchrun/DDP helpers shared by every trainer."""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import random
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from fashionlab.errors import FashionlabError
from fashionlab.options import option

DEVICES = ("auto", "cpu", "cuda")


def parse_device_name(name: str | torch.device) -> tuple[str, int | None]:
    """("cuda", 1) for "cuda:1", ("cpu", None) for "cpu"; anything but auto, cpu, cuda and
    cuda:N (what ``str(torch.device)`` gives) is a FashionlabError."""
    kind, colon, index = str(name).partition(":")
    if kind not in DEVICES or (colon and (kind != "cuda" or not index.isdigit())):
        raise FashionlabError(f"unknown device {str(name)!r}; choose one of: {', '.join(DEVICES)}"
                              " (or cuda:N)")
    return kind, int(index) if colon else None


def _device_argument(text: str) -> str:
    """argparse type of --device: the name, checked as it is read."""
    import argparse

    try:
        parse_device_name(text)
    except FashionlabError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def device_option() -> str:
    """The ``device`` field of every config that runs models (``--device``)."""
    return option("auto", "auto (a GPU when there is one), cpu, cuda or cuda:N",
                  parse=_device_argument)


def threads_option() -> int:
    """The ``threads`` field of every config that trains on a CPU (``--threads``)."""
    return option(0, "CPU threads; 0 = the command line's choice: the cores no other "
                  "program is using when it starts (runtime/threads.py; from Python: "
                  "PyTorch's setting). The count changes the last bits of results; a run "
                  "records it in config.json (torch_threads)")


def check_threads(threads: int) -> None:
    """A FashionlabError for a negative ``threads``."""
    if threads < 0:
        raise FashionlabError(f"threads must be 0 (automatic) or more, got {threads}")


def resolve_device(name: str | torch.device = "auto", local_rank: int = 0) -> torch.device:
    """'auto' -> CUDA when present, else CPU; 'cuda' without a GPU is a clear error.

    Also takes what ``str(torch.device)`` gives ("cuda:1"): a GPU index picks that GPU.
    """
    kind, index = parse_device_name(name)
    if kind == "auto":
        kind = "cuda" if torch.cuda.is_available() else "cpu"
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise FashionlabError(f"--device {name} was asked for, but PyTorch sees no CUDA GPU")
        count = torch.cuda.device_count()
        if index is not None and index >= count:
            raise FashionlabError(f"--device {name}: PyTorch sees only {count} GPU(s)")
        return torch.device("cuda", local_rank % count if index is None else index)
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@functools.cache
def cpu_has_fast_bf16() -> bool:
    """The CPU computes bfloat16 natively (AVX512-BF16 or AMX-BF16, lscpu's flags).

    Without them PyTorch emulates bf16 and it is slower than float32, not faster: on
    an AVX2-only AMD EPYC a bf16 matrix product ran over 200 times slower and a
    bf16-autocast step of the ``cnn`` 12 times slower (docs/speed.md). Where
    /proc/cpuinfo cannot be read (not Linux), oneDNN's own check answers."""
    try:
        with open("/proc/cpuinfo") as f:
            return native_bf16(f.read())
    except OSError:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def native_bf16(cpuinfo: str) -> bool:
    """The ``flags`` of a /proc/cpuinfo text name a native bf16 instruction set."""
    flags = {word for line in cpuinfo.splitlines() if line.startswith("flags")
             for word in line.split()}
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def fast_bf16(device: torch.device) -> bool:
    """bf16 autocast is worth it on ``device``: any CUDA GPU, a CPU with native bf16."""
    return device.type == "cuda" or (device.type == "cpu" and cpu_has_fast_bf16())


def bf16_autocast(device: torch.device, enabled: bool = True) -> torch.autocast:
    """bfloat16 autocast on ``device`` when ``enabled``; float32 (autocast off) otherwise."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


def configure_backends() -> None:
    """Process-wide settings every trainer wants, on any device."""
    # Denormal floats make CPU matmuls many times slower as gradients shrink.
    torch.set_flush_denormal(True)
    # A run's batches all have one shape: let cuDNN time its convolution algorithms once
    # and keep the fastest (no effect without a GPU).
    torch.backends.cudnn.benchmark = True


@dataclass(frozen=True)
class Distributed:
    """Where this process stands in a torchrun job (rank 0 of 1 when run alone)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device_name: str = "auto") -> tuple[Distributed, torch.device]:
    """Join the process group when launched by torchrun (gloo on CPU, nccl on GPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Distributed(), resolve_device(device_name)
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_name, local_rank)
    if not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        atexit.register(_leave_process_group)
    return Distributed(rank, world, local_rank), device


def _leave_process_group() -> None:
    """At exit, tear the process group down (PyTorch's advice) rather than leave it to the
    interpreter's shutdown; a torchrun test once saw a rank abort at exit under load
    ("terminate called without an active exception")."""
    if dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(tensor: torch.Tensor, ctx: Distributed) -> torch.Tensor:
    """Sum a tensor over all processes (identity when run alone)."""
    if ctx.enabled:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def barrier(ctx: Distributed) -> None:
    if ctx.enabled:
        dist.barrier()


@contextlib.contextmanager
def torch_threads(n: int | None):
    """Run with ``n`` PyTorch CPU threads (None = leave as is), restoring the setting after."""
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
