"""Batch helpers shared by the feature families (private).

The families work on a *stacked* batch: ``(n, h, w)`` viewed as one ``(n*h, w)`` image, so one
OpenCV call processes every image. Two tricks keep images independent:

* per-image histograms in one ``cv2.calcHist`` call: a second uint8 channel holds the image index of
  each pixel (255 for pixels that must not count), and the histogram is taken over
  (value, image index);
* pyramid levels by exact 2x2 averaging (``cv2.INTER_AREA`` with factor 2 on even heights never mixes
  two stacked images).
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

__all__ = []

_IDX_CACHE = {}
_IDX_LOCK = threading.Lock()
_IDX_CACHE_MAX = 32


def image_index(n, h, w, valid_rows=None):
    """uint8 ``(n*h, w)`` array holding each stacked row's image index.

    Rows ``r`` of an image with ``r >= valid_rows`` hold 255 (outside every histogram range).
    """
    valid_rows = h if valid_rows is None else valid_rows
    key = (n, h, w, valid_rows)
    with _IDX_LOCK:
        out = _IDX_CACHE.get(key)
    if out is None:
        col = np.repeat(np.arange(n, dtype=np.uint8)[:, None], h, axis=1)
        col[:, valid_rows:] = 255
        out = np.ascontiguousarray(np.broadcast_to(col.reshape(n * h, 1), (n * h, w)))
        out.setflags(write=False)
        with _IDX_LOCK:
            if len(_IDX_CACHE) >= _IDX_CACHE_MAX:
                _IDX_CACHE.clear()
            _IDX_CACHE[key] = out
    return out


def interior_index(n, h, w, q):
    """Like :func:`image_index` for a batch padded by ``q`` on every side: ``(n*(h+2q), w+2q)``
    uint8 holding the image index on the interior and 255 on the padding ring."""
    key = ("interior", n, h, w, q)
    with _IDX_LOCK:
        out = _IDX_CACHE.get(key)
    if out is None:
        out = np.full((n, h + 2 * q, w + 2 * q), 255, np.uint8)
        out[:, q:q + h, q:q + w] = np.arange(n, dtype=np.uint8)[:, None, None]
        out = out.reshape(n * (h + 2 * q), w + 2 * q)
        out.setflags(write=False)
        with _IDX_LOCK:
            if len(_IDX_CACHE) >= _IDX_CACHE_MAX:
                _IDX_CACHE.clear()
            _IDX_CACHE[key] = out
    return out


def batch_hist(values, nbins, n, index=None, mask=None):
    """Per-image histograms of small non-negative integer codes in one ``calcHist`` call.

    Parameters
    ----------
    values : (n*h, w) or (n, h, w) ndarray of np.uint8
        Codes in ``[0, nbins)``; a 2-D strided view of a stacked batch is fine.
    nbins : int
        Number of bins (<= 256).
    n : int
        Number of images (<= 255).
    index : (n*h, w) ndarray of np.uint8, optional
        Image index per pixel (see :func:`image_index`); built when omitted.
    mask : (n*h, w) ndarray of np.uint8, optional
        Only pixels where the mask is non-zero count.

    Returns
    -------
    (n, nbins) ndarray of np.float64
        Counts.
    """
    if values.ndim == 3:
        nn, h, w = values.shape
        values = values.reshape(nn * h, w)
    if index is None:
        index = image_index(n, values.shape[0] // n, values.shape[1])
    hist = cv2.calcHist([values, index], [0, 1], mask, [nbins, n], [0, nbins, 0, n])
    return hist.T.astype(np.float64)


def halve(images):
    """Next pyramid level: exact 2x2 mean (rounded) of a ``(n, h, w)`` uint8 batch.

    An odd last row/column is dropped. The result does not depend on the other images.
    """
    n, h, w = images.shape
    h2, w2 = h // 2, w // 2
    src = images[:, : 2 * h2, : 2 * w2]
    src = np.ascontiguousarray(src).reshape(n * 2 * h2, 2 * w2)
    out = cv2.resize(src, (w2, n * h2), interpolation=cv2.INTER_AREA)
    return out.reshape(n, h2, w2)


class Pyramid:
    """Lazily computed pyramid levels of a ``(n, h, w)`` uint8 batch, keyed by scale 1, 2, 4, 8."""

    def __init__(self, images):
        self._levels = {1: images}

    def __getitem__(self, scale):
        if scale not in self._levels:
            self._levels[scale] = halve(self[scale // 2])
        return self._levels[scale]

    @property
    def n(self):
        return self._levels[1].shape[0]


def as_pyramid(images):
    """``images`` as a :class:`Pyramid` (returned unchanged if it already is one)."""
    return images if isinstance(images, Pyramid) else Pyramid(images)


#: Images per internal block: small enough to stay in the CPU cache, at most 255 (image index).
BLOCK = 16


def blocked(func, images, n_features):
    """Apply ``func((b, h, w) block) -> (b, F)`` to blocks of :data:`BLOCK` images.

    Results do not depend on the block size: every family computes each image independently.
    """
    n = images.shape[0]
    out = np.empty((n, n_features), np.float32)
    try:
        for start in range(0, n, BLOCK):
            out[start:start + BLOCK] = func(images[start:start + BLOCK])
    finally:
        release_scratch()
    return out


_LOCAL = threading.local()


def scratch(tag, shape, dtype):
    """A reusable per-thread scratch array (contents undefined).

    Fresh multi-megabyte temporaries cost page faults on every block; reusing a few buffers per
    thread keeps the families fast. Never return a scratch array to a caller. The public entry
    points call :func:`release_scratch` when they finish, so an idle thread holds no memory.
    """
    bufs = getattr(_LOCAL, "bufs", None)
    if bufs is None:
        bufs = _LOCAL.bufs = {}
    key = (tag, tuple(shape), np.dtype(dtype).str)
    buf = bufs.get(key)
    if buf is None:
        if len(bufs) > 96:
            bufs.clear()
        buf = bufs[key] = np.empty(shape, dtype)
    return buf


def release_scratch():
    """Drop the calling thread's scratch arrays (tens of MB during an extraction)."""
    bufs = getattr(_LOCAL, "bufs", None)
    if bufs:
        bufs.clear()
