"""Every registered model, classifiers and GANs: importing this module registers them all."""

import fashionlab.classifier  # noqa: F401  (registers the classifiers)
import fashionlab.gan  # noqa: F401  (registers the GANs)
from fashionlab.runtime.registry import (
    create_model,
    get_entry,
    model_names,
    model_options,
    register,
)

__all__ = ["create_model", "get_entry", "model_names", "model_options", "register"]
