"""Brightness statistics and grey-level histogram, all from one 256-bin histogram per image."""

from __future__ import annotations

import numpy as np

from ._batch import batch_hist, blocked
from ._validate import check_batch
from .spec import IntensityParams

__all__ = ["extract_intensity", "intensity_names"]

_MOMENTS = ("mean", "std", "skew", "kurtosis", "min", "max", "entropy")


def intensity_names(params=None):
    """Column names of :func:`extract_intensity` (``intensity.mean``, ``intensity.p90``, ...)."""
    params = params or IntensityParams()
    names = [f"intensity.{m}" for m in _MOMENTS]
    names += [f"intensity.p{p}" for p in params.percentiles]
    names += [f"intensity.h{i:02d}" for i in range(params.bins)]
    return names


def stats_from_hist(hist, params):
    """Statistics from per-image 256-bin histograms.

    Parameters
    ----------
    hist : (n, 256) ndarray of float64
        Pixel counts per grey level.
    params : IntensityParams

    Returns
    -------
    (n, F) ndarray of np.float64
        Mean and std in grey levels, skewness and excess kurtosis (0 for a constant image), min,
        max, entropy in bits, nearest-rank percentiles, histogram fractions.
    """
    n = hist.shape[0]
    total = hist.sum(axis=1, keepdims=True)
    p = hist / np.maximum(total, 1)
    v = np.arange(256, dtype=np.float64)
    mean = p @ v
    d = v[None, :] - mean[:, None]
    var = np.einsum("ij,ij->i", p, d * d)
    std = np.sqrt(var)
    m3 = np.einsum("ij,ij->i", p, d ** 3)
    m4 = np.einsum("ij,ij->i", p, d ** 4)
    flat = var < 1e-12
    safe = np.where(flat, 1.0, var)
    skew = np.where(flat, 0.0, m3 / safe ** 1.5)
    kurt = np.where(flat, 0.0, m4 / safe ** 2 - 3.0)
    nz = hist > 0
    vmin = np.argmax(nz, axis=1).astype(np.float64)
    vmax = 255.0 - np.argmax(nz[:, ::-1], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -np.where(p > 0, p * np.log2(np.where(p > 0, p, 1.0)), 0.0).sum(axis=1)
    cdf = np.cumsum(p, axis=1)
    q = np.asarray(params.percentiles, np.float64) / 100.0
    # nearest rank: first grey level whose cumulative fraction reaches q (q=0 -> the minimum).
    pct = np.empty((n, len(q)))
    for j, qq in enumerate(q):
        pct[:, j] = vmin if qq == 0 else np.argmax(cdf >= qq - 1e-12, axis=1)
    k = 256 // params.bins
    coarse = p.reshape(n, params.bins, k).sum(axis=2)
    return np.column_stack([mean, std, skew, kurt, vmin, vmax, ent, pct, coarse])


def _block(images, params):
    n = images.shape[0]
    hist = batch_hist(images, 256, n)
    return stats_from_hist(hist, params)


def extract_intensity(images, params=None):
    """Brightness statistics of a batch of grey images.

    Parameters
    ----------
    images : (N, H, W) ndarray of np.uint8
    params : IntensityParams, optional

    Returns
    -------
    (N, F) ndarray of np.float32
        Columns as named by :func:`intensity_names`.

    Examples
    --------
    >>> import numpy as np
    >>> x = extract_intensity(np.full((1, 4, 4), 7, np.uint8))
    >>> float(x[0, 0]), float(x[0, 1])
    (7.0, 0.0)
    """
    images = check_batch(images, "extract_intensity")
    params = params or IntensityParams()
    return blocked(lambda b: _block(b, params), images, len(intensity_names(params)))
