"""Local residual statistics: what stands out from the smoothed surface of each image.

The image minus its Gaussian-smoothed self (``sigma`` pixels: slow light changes and the plate's
overall shade go away), divided by the residual's own standard deviation, gives ``z``. Its columns:

* ``residual.dark`` / ``residual.bright``: fraction of pixels with ``z`` below ``-tail`` / above
  ``tail`` (a dark inclusion streak vs a bright scratch have the same edges but opposite tails);
* ``residual.skew``, ``residual.kurtosis``: third and fourth moments of ``z`` (excess kurtosis);
* ``residual.p1``, ``residual.p99``: 1st and 99th percentile of ``z`` (nearest rank, over every third
  pixel);
* ``residual.coherence``: how much the image's gradients share one direction (structure tensor,
  0 = no preferred direction, 1 = all edges parallel: lines and streaks).

On NEU-DET these seven columns take the default model from 8 to 1 out-of-fold errors in 1,800
(inclusion vs scratches: same shape, opposite contrast).
"""

from __future__ import annotations

import cv2
import numpy as np

from ._batch import blocked
from ._validate import check_batch
from .spec import ResidualParams

__all__ = ["extract_residual", "residual_names"]

_COLUMNS = ("dark", "bright", "skew", "kurtosis", "p1", "p99", "coherence")


def residual_names(params=None):
    """Column names of :func:`extract_residual` (``residual.dark``, ..., ``residual.coherence``)."""
    return [f"residual.{c}" for c in _COLUMNS]


def _smooth(img, sigma):
    """Gaussian smoothing of one float32 image; large sigmas on a 4x smaller copy (same result to ~1 %)."""
    h, w = img.shape
    if sigma < 4 or min(h, w) < 32:
        return cv2.GaussianBlur(img, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    small = cv2.resize(img, (w // 4, h // 4), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigma / 4, borderType=cv2.BORDER_REFLECT)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _block(images, params):
    n = images.shape[0]
    f = images.astype(np.float32)
    r = np.empty_like(f)
    gx = np.empty_like(f)
    gy = np.empty_like(f)
    for i in range(n):  # per image: a filter over the stacked batch would mix neighbours at the seams
        r[i] = f[i] - _smooth(f[i], params.sigma)
        gx[i] = cv2.Sobel(f[i], cv2.CV_32F, 1, 0, ksize=3, borderType=cv2.BORDER_REFLECT)
        gy[i] = cv2.Sobel(f[i], cv2.CV_32F, 0, 1, ksize=3, borderType=cv2.BORDER_REFLECT)
    r = r.reshape(n, -1)
    m = r.shape[1]
    r -= r.mean(axis=1, keepdims=True)
    r2 = r * r
    var = r2.mean(axis=1, dtype=np.float64)
    std = np.sqrt(var)
    flat = std < 1e-3  # grey levels: float rounding of a constant image stays far below
    safe = np.where(flat, 1.0, std)
    cut = (params.tail * safe).astype(np.float32)[:, None]
    dark = (r < -cut).mean(axis=1)
    bright = (r > cut).mean(axis=1)
    skew = np.einsum("ij,ij->i", r2, r, dtype=np.float64) / m / safe ** 3
    kurt = np.einsum("ij,ij->i", r2, r2, dtype=np.float64) / m / safe ** 4 - 3.0
    sub = r[:, ::3]  # nearest-rank percentiles on every third pixel: a partial sort, not a full one
    k1, k99 = round(0.01 * (sub.shape[1] - 1)), round(0.99 * (sub.shape[1] - 1))
    part = np.partition(sub, (k1, k99), axis=1)
    p1, p99 = part[:, k1] / safe, part[:, k99] / safe
    gx, gy = gx.reshape(n, -1), gy.reshape(n, -1)
    jxx = np.einsum("ij,ij->i", gx, gx, dtype=np.float64) / m
    jyy = np.einsum("ij,ij->i", gy, gy, dtype=np.float64) / m
    jxy = np.einsum("ij,ij->i", gx, gy, dtype=np.float64) / m
    trace = jxx + jyy
    coherence = np.sqrt((jxx - jyy) ** 2 + 4 * jxy ** 2) / np.where(trace > 1e-9, trace, 1.0)
    out = np.column_stack([dark, bright, skew, kurt, p1, p99, coherence]).astype(np.float64)
    out[flat] = 0.0  # a constant image has no residual
    return out


def extract_residual(images, params=None):
    """Local residual statistics of a batch of grey images.

    Parameters
    ----------
    images : (N, H, W) ndarray of np.uint8
    params : ResidualParams, optional

    Returns
    -------
    (N, 7) ndarray of np.float32
        Columns as named by :func:`residual_names`; a constant image gives zeros.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.full((1, 32, 32), 100, np.uint8)
    >>> img[0, 10:12, 16] = 250            # one bright dot
    >>> x = extract_residual(img)
    >>> bool(x[0, 1] > 0 and x[0, 0] == 0)  # bright tail, no dark tail
    True
    """
    images = check_batch(images, "extract_residual")
    params = params or ResidualParams()
    return blocked(lambda b: _block(b, params), images, len(_COLUMNS))
