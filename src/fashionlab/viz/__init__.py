"""Figures. Every function writes one PNG and returns its path; matplotlib runs headless."""

import matplotlib

matplotlib.use("Agg")
