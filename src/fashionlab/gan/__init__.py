"""GANs: models, the training step and loop, generate, score and their figures."""

from fashionlab.gan import models  # noqa: F401  (registers the GANs)
