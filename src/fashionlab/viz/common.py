"""Shared figure plumbing: atomic PNG saving."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib.pyplot as plt

from fashionlab.runtime.files import atomic_write_bytes


def save_figure(fig: plt.Figure, path: str | Path, dpi: int = 100) -> Path:
    """Save ``fig`` as a PNG atomically and close it."""
    path = Path(path)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
    return path
