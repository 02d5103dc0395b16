"""How far a garment in a photo is turned from upright.

Fashion-MNIST's garments are upright: each was photographed straight and trimmed to its
axis-aligned box, so that box is as tight as it can be. A photo turned by a few degrees
widens the box, and the garment lands on other pixels of the 28x28 frame (a dense network
such as the ``mlp`` sees pixels, not shapes). ``upright_angle`` finds the turn that makes
the box of the garment's pixels smallest (a minimum-area rectangle, searched among small
angles only: a garment is never photographed far from upright), and the conversion turns
the photo back by it (``fashionlab.data.user_images``).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import ConvexHull, QhullError

STEP = 0.25  # degrees between the angles tried


def upright_angle(mask: np.ndarray, max_angle: float, step: float = STEP) -> float:
    """The angle in degrees, counter-clockwise as PIL's ``Image.rotate`` turns, that gives
    the True pixels of the bool (H, W) ``mask`` the smallest axis-aligned box, among the
    multiples of ``step`` within [-max_angle, max_angle]; 0.0 when no turn is smaller than
    the box as it is (or the mask holds too few pixels to tell)."""
    if max_angle <= 0 or mask.sum() < 3:
        return 0.0
    # The hull depends only on each row's first and last pixel; their corners, so that a
    # one-pixel-wide line still has an area.
    rows = np.flatnonzero(mask.any(1))
    first = mask[rows].argmax(1)
    last = mask.shape[1] - 1 - mask[rows, ::-1].argmax(1)
    points = np.concatenate([np.stack([x, rows + dy], 1) for x in (first, last + 1)
                             for dy in (0, 1)]).astype(np.float64)
    try:
        points = points[ConvexHull(points).vertices]  # the box depends on the hull only
    except QhullError:  # all the points on one line
        return 0.0
    points -= points.mean(0)
    count = int(max_angle // step)
    angles = np.arange(-count, count + 1) * step
    radians = np.radians(angles)[:, None]
    # Image.rotate(a) moves a point (x, y) (y pointing down) to
    # (x cos a + y sin a, -x sin a + y cos a) about the centre.
    xs = np.cos(radians) * points[:, 0] + np.sin(radians) * points[:, 1]  # (angles, points)
    ys = -np.sin(radians) * points[:, 0] + np.cos(radians) * points[:, 1]
    areas = np.ptp(xs, axis=1) * np.ptp(ys, axis=1)
    best = int(np.argmin(areas))
    # Ties (a box that no small turn changes) keep the picture as it is.
    return 0.0 if areas[best] >= areas[count] else float(angles[best])
