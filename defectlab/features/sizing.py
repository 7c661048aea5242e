"""The working size chosen from a project's crop sizes: no CPU is spent on pixels that are not there.

The ``default`` preset brings every image to 160 x 160, which suits NEU-sized crops (200 x 200). A
plant camera's 64 x 64 crops would be *enlarged* 2.5x on each side: 6.25x the pixels to filter, with
nothing new in them (measured on ``benchmarks/scale.py``'s crops: 2.5 ms of CPU per image at 160,
0.66 ms at 64). :func:`auto_working_size` therefore picks the working side from the images:

* ``s`` = the 90th percentile, over the images, of ``sqrt(height * width)`` (the side of a square
  with the image's pixel count; the percentile lets a few odd large images not decide for all);
* the working side is the smallest rung of :data:`WORKING_SIDES` (64, 96, 160) that is ``>= s``,
  and never more than the spec's own side: a few fixed rungs keep a growing project on the same spec
  (and feature cache) instead of a new one for every few pixels.

So 64 x 64 crops get 64, 80 x 80 crops 96, the demo's 128 x 128 crops, NEU's 200 x 200 crops (and
anything larger, which is shrunk) keep 160 and today's hash. The columns (names and count) are the same
at every size; the size is part of :attr:`FeatureSpec.hash`, so caches and models of different sizes
are never mixed, and a run records the spec it was trained with (prediction uses that spec, whatever
the new images' size). Asking for a preset by name (``train --features default``) skips the choice.

Evidence (5-fold ensemble, mean of 3 CV seeds; see README): the lengths in the family parameters are in
working-size pixels, so a smaller working size looks at coarser structure. On the scale benchmark's
64-px textures, 64 and 160 gave the same accuracy (1.000 on clean labels). On the demo defect
renderer's crops at 128 px, a 128 rung cost 0.3 pt (95.9 % vs 96.2 %, 3 data seeds), so there is no
128 rung. Rendered at 64 px (8 data seeds): 160 gave 97.1 %, 96 gave 96.9 %, 64 gave 96.6 % (log-loss
0.099 / 0.099 / 0.115): for fine marks on tiny crops the native size costs about half a point, for 4x
less feature CPU (0.66 vs 2.5 ms per image); ``--features default`` keeps 160.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SIZE_PERCENTILE", "WORKING_SIDES", "auto_working_size", "working_side"]

#: The rungs a chosen working side snaps up to (the largest is the ``default`` preset's side).
WORKING_SIDES = (64, 96, 160)

#: Percentile of the images' ``sqrt(height * width)`` the working side must reach.
SIZE_PERCENTILE = 90.0


def working_side(heights, widths, max_side=WORKING_SIDES[-1]):
    """The working side for images of these sizes (see the module docstring).

    Parameters
    ----------
    heights, widths : array-like of int
        Sizes of the images (one entry per image).
    max_side : int
        The spec's own side: the result never exceeds it.

    Returns
    -------
    int or None
        A rung of :data:`WORKING_SIDES` below ``max_side``, or None when the images need the full
        ``max_side`` (or there are none).

    Examples
    --------
    >>> working_side([64] * 5, [64] * 5)
    64
    >>> working_side([80, 90], [80, 90])
    96
    >>> working_side([200], [200]) is None
    True
    """
    h = np.asarray(heights, dtype=np.float64).ravel()
    w = np.asarray(widths, dtype=np.float64).ravel()
    if h.size == 0 or h.size != w.size:
        return None
    s = float(np.percentile(np.sqrt(np.maximum(h, 1.0) * np.maximum(w, 1.0)), SIZE_PERCENTILE))
    for side in WORKING_SIDES:
        if side >= s:
            return side if side < max_side else None
    return None


def auto_working_size(spec, heights, widths):
    """``spec`` at the working size its images need: smaller for small crops, else ``spec`` itself.

    Parameters
    ----------
    spec : FeatureSpec
        A square, untiled spec is shrunk when its images are small; a non-square or tiled spec is
        returned as is (its size was chosen on purpose / its tiles are cut at the working size).
    heights, widths : array-like of int

    Returns
    -------
    FeatureSpec
        Same families and parameters (same column names and count), ``size`` possibly smaller.

    Examples
    --------
    >>> from defectlab.features import get_spec
    >>> auto_working_size(get_spec(), [64, 64], [64, 64]).size
    (64, 64)
    >>> auto_working_size(get_spec(), [200], [200]) is get_spec()
    True
    """
    rows, cols = spec.size
    if spec.tiles is not None or rows != cols:
        return spec
    side = working_side(heights, widths, max_side=rows)
    if side is None or not _pyramid_fits(spec, side):
        return spec
    return spec.replace(size=(side, side))


def _pyramid_fits(spec, side):
    """Whether every pyramid level of ``spec`` keeps 8 pixels at ``side`` (the spec's own check)."""
    scales = [s for _, _, s in spec.lbp.settings] if spec.lbp is not None else []
    scales += list(spec.glcm.scales) if spec.glcm is not None else []
    return all(side // s >= 8 for s in scales)
