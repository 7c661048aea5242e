"""HSV colour statistics of RGB images (grey images give zero saturation, zero hue columns).

OpenCV's 8-bit HSV: hue 0..179 (2 degrees per step), saturation and value 0..255. One
``cv2.cvtColor`` converts the stacked batch; every statistic comes from per-image histograms taken in
single ``cv2.calcHist`` calls over (channel, image index).

Columns: ``color.h_mean`` (circular mean hue in degrees of the coloured pixels, 0 if none),
``color.h_conc`` (hue concentration 0..1: 1 = a single hue), ``color.sat_frac`` (fraction of coloured
pixels: saturation and value >= 32), ``color.s_mean``, ``color.s_std``, ``color.v_mean``,
``color.v_std`` (0..255 units), ``color.hue<k>`` (fraction of all pixels that are coloured with a hue
in sector ``k`` of ``hue_bins`` equal sectors starting at red).
"""

from __future__ import annotations

import cv2
import numpy as np

from ._batch import batch_hist, blocked
from ._validate import check_batch
from .spec import ColorParams

__all__ = ["color_names", "extract_color"]

_COLOURED = 32


def color_names(params=None):
    """Column names of :func:`extract_color`."""
    params = params or ColorParams()
    return (["color.h_mean", "color.h_conc", "color.sat_frac", "color.s_mean", "color.s_std",
             "color.v_mean", "color.v_std"]
            + [f"color.hue{k}" for k in range(params.hue_bins)])


def _mean_std(hist):
    total = np.maximum(hist.sum(axis=1), 1)
    v = np.arange(hist.shape[1], dtype=np.float64)
    mean = hist @ v / total
    var = np.maximum(hist @ (v * v) / total - mean * mean, 0.0)
    return mean, np.sqrt(var)


def _block(images, params):
    n = images.shape[0]
    if images.ndim == 3:  # grey: H = S = 0, V = grey
        vh = batch_hist(images, 256, n)
        v_mean, v_std = _mean_std(vh)
        zeros = np.zeros((n, 5 + params.hue_bins))
        return np.column_stack([zeros[:, :3], np.zeros(n), np.zeros(n), v_mean, v_std,
                                zeros[:, 5:]])
    _, h, w, _ = images.shape
    hsv = cv2.cvtColor(images.reshape(n * h, w, 3), cv2.COLOR_RGB2HSV)
    hue, sat, val = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    s_mean, s_std = _mean_std(batch_hist(sat, 256, n))
    v_mean, v_std = _mean_std(batch_hist(val, 256, n))
    coloured = ((sat >= _COLOURED) & (val >= _COLOURED)).view(np.uint8)
    hue_hist = batch_hist(hue, 180, n, mask=coloured)  # (n, 180)
    n_col = hue_hist.sum(axis=1)
    ang = np.deg2rad(np.arange(180) * 2.0)
    c = hue_hist @ np.cos(ang)
    s = hue_hist @ np.sin(ang)
    safe = np.maximum(n_col, 1)
    h_mean = np.where(n_col > 0, np.mod(np.degrees(np.arctan2(s, c)), 360.0), 0.0)
    h_conc = np.where(n_col > 0, np.hypot(c, s) / safe, 0.0)
    sector = (np.arange(180) * params.hue_bins) // 180
    hue_frac = np.stack([hue_hist[:, sector == k].sum(axis=1) for k in range(params.hue_bins)],
                        axis=1) / float(h * w)
    return np.column_stack([h_mean, h_conc, n_col / float(h * w), s_mean, s_std, v_mean, v_std,
                            hue_frac])


def extract_color(images, params=None):
    """HSV colour statistics.

    Parameters
    ----------
    images : (N, H, W, 3) ndarray of np.uint8 (RGB) or (N, H, W) ndarray of np.uint8 (grey)
    params : ColorParams, optional

    Returns
    -------
    (N, F) ndarray of np.float32
        Columns named by :func:`color_names`.

    Examples
    --------
    >>> import numpy as np
    >>> red = np.zeros((1, 8, 8, 3), np.uint8); red[..., 0] = 255
    >>> x = extract_color(red)
    >>> float(x[0, 0]), float(x[0, 2]), float(x[0, 7])   # hue 0 deg, all coloured, sector 0
    (0.0, 1.0, 1.0)
    """
    images = check_batch(images, "extract_color", allow_color=True)
    params = params or ColorParams()
    return blocked(lambda b: _block(b, params), images, len(color_names(params)))
