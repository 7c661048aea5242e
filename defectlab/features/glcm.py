"""Grey-level co-occurrence matrices (GLCM) and Haralick properties, batch-vectorised.

Definitions follow scikit-image ``graycomatrix(..., symmetric=True, normed=True)`` and
``graycoprops``. Pixel pairs are ``(image[r, c], image[r + dr, c + dc])`` with offsets (0, d), (d, d),
(d, 0), (d, -d) for the directions 0, 45, 90 and 135 degrees (for a diagonal this is the pair scikit-image
gets with distance ``d * sqrt(2)``). Images are quantised to ``levels`` grey levels by dropping low
bits (``image >> (8 - log2(levels))``; scikit-image equivalent: ``image // (256 // levels)``).

How it is fast: the quantised batch is stacked into one 2-D image and each offset is a single
``cv2.calcHist`` over three uint8 channels (grey level, paired grey level, image index), which returns
every image's co-occurrence matrix at once; pairs that would cross from one stacked image into the
next carry an out-of-range image index and are not counted. The properties are then computed for all
matrices together with NumPy.
"""

from __future__ import annotations

import cv2
import numpy as np

from ._batch import as_pyramid, blocked, image_index
from ._validate import check_batch
from .spec import GLCMParams

__all__ = ["extract_glcm", "glcm_matrices", "glcm_names", "glcm_props"]

_DIRECTIONS = ((0, 1), (1, 1), (1, 0), (1, -1))  # (drow, dcol) per unit distance


def glcm_names(params=None):
    """Column names of :func:`extract_glcm`, e.g. ``glcm.d2.contrast_mean``,
    ``glcm.d2.contrast_range`` (range = max - min over the four directions)."""
    params = params or GLCMParams()
    names = []
    for s in params.scales:
        pre = "glcm." if s == 1 else f"glcm.x{s}."
        for d in params.distances:
            for prop in params.props:
                names += [f"{pre}d{d}.{prop}_mean", f"{pre}d{d}.{prop}_range"]
    return names


def _quantise(images, levels):
    shift = 8 - int(levels).bit_length() + 1
    return images >> shift if shift else images


def _counts(q, levels, drow, dcol):
    """Co-occurrence counts of a quantised ``(n, h, w)`` block for one offset -> (n, L, L)."""
    n, h, w = q.shape
    if drow >= h or abs(dcol) >= w:
        return np.zeros((n, levels, levels), np.float64)
    flat = q.reshape(n * h, w)
    c0, c1 = (0, w - dcol) if dcol >= 0 else (-dcol, w)
    a = flat[: n * h - drow, c0:c1]
    b = flat[drow:, c0 + dcol: c1 + dcol]
    idx = image_index(n, h, c1 - c0, valid_rows=h - drow)[: n * h - drow]
    hist = cv2.calcHist([a, b, idx], [0, 1, 2], None, [levels, levels, n],
                        [0, levels, 0, levels, 0, n])
    return np.moveaxis(hist, 2, 0).astype(np.float64)


def glcm_matrices(images, distances=(1,), levels=32):
    """Symmetric, normalised co-occurrence matrices.

    Parameters
    ----------
    images : (N, H, W) ndarray of np.uint8
        Grey images (quantised inside to ``levels``).
    distances : sequence of int
    levels : int
        Power of two <= 256.

    Returns
    -------
    (N, L, L, n_distances, 4) ndarray of np.float64
        Same layout as scikit-image ``graycomatrix`` with a leading batch axis; directions
        0, 45, 90, 135 degrees. An image too small for an offset gives an all-zero matrix.
    """
    images = check_batch(images, "glcm_matrices")
    q = _quantise(images, levels)
    n = len(images)
    out = np.zeros((n, levels, levels, len(distances), 4))
    for start in range(0, n, 16):
        blk = q[start:start + 16]
        for i, d in enumerate(distances):
            for k, (dr, dc) in enumerate(_DIRECTIONS):
                out[start:start + 16, :, :, i, k] = _normalise(_symmetric(
                    _counts(blk, levels, dr * d, dc * d)))
    return out


def _symmetric(counts):
    return counts + counts.transpose(0, 2, 1)


def _normalise(counts):
    total = counts.sum(axis=(1, 2), keepdims=True)
    return counts / np.maximum(total, 1e-300)


def glcm_props(p, props):
    """Haralick properties of normalised matrices.

    Parameters
    ----------
    p : (..., L, L) ndarray of float64
        Normalised co-occurrence matrices (an all-zero matrix is allowed).
    props : sequence of str

    Returns
    -------
    (..., len(props)) ndarray of float64
        scikit-image ``graycoprops`` values; correlation is 1 where a marginal has zero variance
        (also for an all-zero matrix), the other properties are 0 there.
    """
    levels = p.shape[-1]
    i = np.arange(levels, dtype=np.float64)
    diff = i[:, None] - i[None, :]
    out = []
    for prop in props:
        if prop == "contrast":
            v = np.einsum("...ij,ij->...", p, diff ** 2)
        elif prop == "dissimilarity":
            v = np.einsum("...ij,ij->...", p, np.abs(diff))
        elif prop == "homogeneity":
            v = np.einsum("...ij,ij->...", p, 1.0 / (1.0 + diff ** 2))
        elif prop in ("ASM", "energy"):
            v = np.einsum("...ij,...ij->...", p, p)
            if prop == "energy":
                v = np.sqrt(v)
        elif prop == "correlation":
            pi = p.sum(axis=-1)  # row marginal
            pj = p.sum(axis=-2)
            mi = pi @ i
            mj = pj @ i
            vi = pi @ (i * i) - mi * mi
            vj = pj @ (i * i) - mj * mj
            cov = np.einsum("...ij,i,j->...", p, i, i) - mi * mj
            si = np.sqrt(np.maximum(vi, 0.0))
            sj = np.sqrt(np.maximum(vj, 0.0))
            flat = (si < 1e-7) | (sj < 1e-7)
            v = np.where(flat, 1.0, cov / np.where(flat, 1.0, si * sj))
        else:  # validated by GLCMParams
            raise ValueError(prop)
        out.append(v)
    return np.stack(out, axis=-1)


def _block(pyramid, params):
    pyr = as_pyramid(pyramid)
    cols = []
    for s in params.scales:
        q = _quantise(pyr[s], params.levels)
        n = q.shape[0]
        for d in params.distances:
            counts = np.stack([_counts(q, params.levels, dr * d, dc * d)
                               for dr, dc in _DIRECTIONS], axis=1)  # (n, 4, L, L)
            counts += counts.transpose(0, 1, 3, 2)  # symmetric
            mats = counts / np.maximum(counts.sum(axis=(2, 3), keepdims=True), 1e-300)
            v = glcm_props(mats, params.props)  # (n, 4, n_props)
            stats = np.stack([v.mean(axis=1), v.max(axis=1) - v.min(axis=1)], axis=2)
            cols.append(stats.reshape(n, -1))
    return np.concatenate(cols, axis=1)


def extract_glcm(images, params=None):
    """Haralick properties (mean and range over four directions) at several distances.

    Parameters
    ----------
    images : (N, H, W) ndarray of np.uint8
    params : GLCMParams, optional

    Returns
    -------
    (N, F) ndarray of np.float32
        Columns as named by :func:`glcm_names`.

    Examples
    --------
    >>> import numpy as np
    >>> x = extract_glcm(np.zeros((1, 8, 8), np.uint8), GLCMParams(distances=(1,)))
    >>> x.shape
    (1, 12)
    """
    images = check_batch(images, "extract_glcm")
    params = params or GLCMParams()
    return blocked(lambda b: _block(b, params), images, len(glcm_names(params)))
