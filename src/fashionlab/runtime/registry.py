"""A tiny name -> builder registry, so the CLI can list models and one test can run them all.

Models register when their package is imported (``fashionlab.classifier``, ``fashionlab.gan``),
as timm's do; ``fashionlab.models`` imports both, so it sees every model."""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fashionlab.errors import FashionlabError
from fashionlab.options import format_key_values


@dataclass(frozen=True)
class ModelEntry:
    """One registered model: its name, its task kind and the function that builds it."""

    name: str
    kind: str  # "classifier" or "gan"
    builder: Callable[..., Any]
    description: str


_REGISTRY: dict[str, ModelEntry] = {}


def register(name: str, kind: str, description: str) -> Callable[[Callable], Callable]:
    """Decorator: register ``builder`` under ``name`` for task ``kind``."""

    def decorator(builder: Callable) -> Callable:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        _REGISTRY[name] = ModelEntry(name, kind, builder, description)
        return builder

    return decorator


def model_names(kind: str | None = None) -> list[str]:
    """Names of the registered models, optionally only those of one kind."""
    return sorted(n for n, e in _REGISTRY.items() if kind is None or e.kind == kind)


def get_entry(name: str, kind: str | None = None) -> ModelEntry:
    """Look a model up by name; an unknown name is an error listing the valid ones."""
    entry = _REGISTRY.get(name)
    if entry is None or (kind is not None and entry.kind != kind):
        valid = ", ".join(model_names(kind))
        what = f"{kind} model" if kind else "model"
        raise FashionlabError(f"unknown {what} {name!r}; choose one of: {valid}")
    return entry


def model_options(name: str, kind: str | None = None) -> dict[str, Any]:
    """The keyword arguments of the model ``name`` (``--model-arg KEY=VALUE``), with their
    defaults."""
    builder = get_entry(name, kind).builder
    return {p.name: p.default for p in inspect.signature(builder).parameters.values()}


def create_model(name: str, kind: str | None = None, **kwargs: Any) -> Any:
    """Build the model registered as ``name`` with keyword arguments ``kwargs``; an option
    it does not have is an error that lists the ones it has, with their defaults."""
    entry = get_entry(name, kind)
    options = model_options(name, kind)
    unknown = [key for key in kwargs if key not in options]
    if unknown:
        raise FashionlabError(f"model {name!r} has no option {unknown[0]!r}; its options and "
                              f"their defaults: {format_key_values(options)}")
    try:
        with warnings.catch_warnings():  # a size of 0 is reported below, as a user error
            warnings.filterwarnings("ignore", "Initializing zero-element tensors")
            model = entry.builder(**kwargs)
    except (TypeError, ValueError, RuntimeError) as exc:  # unknown option, or a bad value
        raise FashionlabError(f"model {name!r} does not accept these options: {exc}") from None
    parts = model if isinstance(model, tuple) else (model,)  # a GAN is (generator, critic)
    empty = [n for part in parts for n, p in part.named_parameters() if p.numel() == 0]
    if empty:
        raise FashionlabError(f"model {name!r} does not accept these options ({kwargs}): "
                              f"they leave {empty[0]} with no weights (a size of 0?)")
    return model

