"""Small synthetic images shared by tests (textures a classifier tells apart easily)."""

import numpy as np


def texture_image(kind, rng, size=48):
    """One of three easily told apart textures with noise: ``dark``, ``stripes``, else bright spots."""
    base = rng.normal(0, 12, (size, size))
    if kind == "dark":
        img = 60 + base
    elif kind == "stripes":
        img = 128 + 60 * np.sin(np.arange(size) / 1.5)[None, :] + base
    else:
        img = 128 + base
        for r, c in rng.integers(4, size - 4, (12, 2)):
            img[r - 2:r + 2, c - 2:c + 2] = 250
    return np.clip(img, 0, 255).astype(np.uint8)
