"""Data: Fashion-MNIST files, user images, on-device batching."""

from fashionlab.data.fashion_mnist import (
    CLASS_NAMES,
    FashionMNIST,
    Split,
    from_tanh_range,
    load_fashion_mnist,
    normalize,
    parse_class,
    to_tanh_range,
)

__all__ = [
    "CLASS_NAMES",
    "FashionMNIST",
    "Split",
    "from_tanh_range",
    "load_fashion_mnist",
    "normalize",
    "parse_class",
    "to_tanh_range",
]
