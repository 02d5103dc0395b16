"""Training checkpoints: everything needed to continue a run exactly, written atomically.

A checkpoint holds the networks (and their weight averages), the optimizers, the
epoch and every random-number state the training reads (torch CPU and CUDA, NumPy,
Python, the batch-order generator); the GAN adds its fixed noise, the classifier its
augmentation generator and clock. It is written with
``torch.save`` into a temporary file beside the target and renamed over it, so a
kill at any moment leaves the previous checkpoint or the new one, never a torn
file; it is read with ``torch.load(weights_only=True)``, which executes no code.
Only tensors, numbers, strings, lists and dicts go in.
"""

from __future__ import annotations

import io
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fashionlab.errors import FashionlabError
from fashionlab.runtime.files import atomic_write_bytes

CHECKPOINT = "checkpoint.pt"
FORMAT = 1  # bump when the layout below changes


def capture_rng(batch_order: torch.Generator) -> dict[str, Any]:
    """Every random state the training loop reads, as weights_only-loadable values."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, py_state, gauss_next = random.getstate()
    return {
        "torch_cpu": torch.get_rng_state(),
        "torch_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "python": {"version": version, "state": list(py_state), "gauss_next": gauss_next},
        "batch_order": batch_order.get_state(),
    }


def restore_rng(state: dict[str, Any], batch_order: torch.Generator) -> None:
    """Undo ``capture_rng``: put every random state back; a state of the wrong shape (a
    damaged checkpoint) is a FashionlabError."""
    try:
        _restore_rng(state, batch_order)
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as exc:
        raise FashionlabError(f"the checkpoint's random state is damaged ({exc!r}); start "
                              "a new run or restore the file") from None


def _restore_rng(state: dict[str, Any], batch_order: torch.Generator) -> None:
    torch.set_rng_state(state["torch_cpu"])
    if state["torch_cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["torch_cuda"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"],
                         n["has_gauss"], n["cached"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss_next"]))
    batch_order.set_state(state["batch_order"])


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """``torch.save`` into memory, then an atomic write: a kill never leaves half a file."""
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, **payload}, buffer)
    atomic_write_bytes(Path(path), buffer.getvalue())


def load_checkpoint(path: str | Path, device: torch.device | str = "cpu",
                    keys: Mapping[str, type | tuple[type, ...]] | None = None) -> dict[str, Any]:
    """Read a checkpoint without executing code; damage is a one-line user error, and so
    is one that lacks an entry of ``keys`` (name -> type: what its trainer wrote) or holds
    one of another type (a file that loads safely but is not what it claims to be)."""
    path = Path(path)
    if not path.is_file():
        raise FashionlabError(
            f"{path.parent} has no {path.name}: only a run with a checkpoint (a GAN run, or a "
            "classifier run that finished an epoch) can be resumed"
        )
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # torch raises several types for torn or foreign files
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FashionlabError(
            f"{path} is damaged or not a fashionlab checkpoint ({reason[:120]}); "
            "start a new run or restore the file"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise FashionlabError(f"{path} is not a fashionlab checkpoint (format {FORMAT})")
    for key, kind in (keys or {}).items():
        value = payload.get(key)
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise FashionlabError(f"{path} is damaged: its entry {key!r} is "
                                  f"{type(value).__name__}, not what its trainer writes; "
                                  "start a new run or restore the file")
    return payload
