"""Fashion-MNIST classifiers: models, recipes, training, evaluate/predict and their figures."""

from fashionlab.classifier import models  # noqa: F401  (registers the classifiers)
