"""Models and the registry that names them."""

from fashionlab.models.registry import create_model, get_entry, model_names, register

__all__ = ["create_model", "get_entry", "model_names", "register"]
