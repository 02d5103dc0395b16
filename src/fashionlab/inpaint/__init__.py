"""Picture inpainting: a GAIN model trained on Fashion-MNIST, and fill for your own pictures."""
