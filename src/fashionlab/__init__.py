"""fashionlab: deep learning on Fashion-MNIST and beyond.

Library first: every command of the ``fashionlab`` CLI is one call into this package.
"""

__version__ = "0.1.0"
