"""Histogram of oriented gradients (HOG), batch-vectorised and pooled to a compact descriptor.

OpenCV 5 has no ``HOGDescriptor``; this is the scikit-image ``hog`` definition (central-difference
gradients with zero gradient on the image border, unsigned orientation 0..180 degrees in
``orientations`` equal bins without interpolation, cell histograms = mean magnitude per bin, L2-Hys
block normalisation with eps 1e-5) computed for a whole batch at once:

* gradients: ``cv2.Sobel(ksize=1)`` (the [-1, 0, 1] kernel) over the stacked batch, then the first and
  last row / column of every image set to zero (this also removes the rows where the vertical kernel
  reaches into the neighbouring stacked image);
* magnitude and angle: one ``cv2.cartToPolar`` (angle accurate to ~0.01 degree, so a pixel within that
  of a bin edge may fall in the neighbouring bin compared with scikit-image's float64 ``arctan2``);
* cell histograms: per orientation bin, the masked magnitude averaged over cells by ``cv2.resize``
  with ``INTER_AREA`` at an integer factor (an exact cell mean);
* blocks: all overlapping ``block x block`` cell groups normalised together with NumPy.

Instead of concatenating thousands of block descriptors (position-dependent, and 1,764 columns for a
64x64 crop), the normalised block descriptors are **averaged over the image**: ``block*block*bins``
columns, ``hog.c<k>.b<b>`` = mean over blocks of cell ``k`` (row-major within the block), bin ``b``.
"""

from __future__ import annotations

import cv2
import numpy as np

from ._batch import blocked, scratch
from ._validate import check_batch
from .spec import HOGParams

__all__ = ["extract_hog", "hog_blocks", "hog_names"]


def hog_names(params=None):
    """Column names of :func:`extract_hog`: ``hog.c<cell in block>.b<orientation bin>``."""
    params = params or HOGParams()
    return [f"hog.c{k}.b{b}" for k in range(params.block ** 2)
            for b in range(params.orientations)]


def _cell_base(n, h, w, cell, orientations):
    """intp ``(n*h, w)``: index of (image, cell) * orientations per pixel; pixels outside full
    cells point to one extra trash bin at the end."""
    key = ("hogbase", n, h, w, cell, orientations)
    base = _BASES.get(key)
    if base is None:
        nr, nc = h // cell, w // cell
        r = np.arange(h) // cell
        c = np.arange(w) // cell
        cellmap = r[:, None] * nc + c[None, :]
        cellmap[(r >= nr)[:, None] | (c >= nc)[None, :]] = -1
        img = np.arange(n)[:, None, None] * (nr * nc)
        base = np.where(cellmap[None] >= 0, (img + cellmap[None]) * orientations,
                        n * nr * nc * orientations)
        base = base.reshape(n * h, w).astype(np.intp)
        base.setflags(write=False)
        if len(_BASES) >= 4:  # a few MB each; only the block shapes of the current spec recur
            _BASES.clear()
        _BASES[key] = base
    return base


_BASES = {}


def _cells(images, cell, orientations):
    """Cell histograms of a ``(n, h, w)`` uint8 block -> ``(n, rows, cols, orientations)``."""
    n, h, w = images.shape
    nr, nc = h // cell, w // cell
    if nr == 0 or nc == 0:
        return np.zeros((n, nr, nc, orientations), np.float64)
    flat = images.reshape(n * h, w)
    gx = cv2.Sobel(flat, cv2.CV_32F, 1, 0, dst=scratch("hog.gx", (n * h, w), np.float32),
                   ksize=1, borderType=cv2.BORDER_REPLICATE)
    gy = cv2.Sobel(flat, cv2.CV_32F, 0, 1, dst=scratch("hog.gy", (n * h, w), np.float32),
                   ksize=1, borderType=cv2.BORDER_REPLICATE)
    gx[:, 0] = 0
    gx[:, -1] = 0
    gy3 = gy.reshape(n, h, w)
    gy3[:, 0] = 0
    gy3[:, -1] = 0
    mag, ang = cv2.cartToPolar(gx, gy, magnitude=scratch("hog.mag", (n * h, w), np.float32),
                               angle=scratch("hog.ang", (n * h, w), np.float32),
                               angleInDegrees=True)
    # unsigned orientation bin: floor(angle * bins / 180) folded modulo bins by a lookup table
    raw = scratch("hog.raw", (n * h, w), np.uint8)
    np.multiply(ang, np.float32(orientations / 180.0), out=ang)
    np.copyto(raw, ang, casting="unsafe")
    bins = cv2.LUT(raw, _fold_table(orientations), dst=scratch("hog.bins", (n * h, w), np.uint8))
    index = np.add(_cell_base(n, h, w, cell, orientations), bins,
                   out=scratch("hog.index", (n * h, w), np.intp))
    total = n * nr * nc * orientations
    sums = np.bincount(index.ravel(), weights=mag.ravel(), minlength=total + 1)[:total]
    return sums.reshape(n, nr, nc, orientations) / float(cell * cell)


def _fold_table(orientations):
    return (np.arange(256) % orientations).astype(np.uint8)


def _normalised_blocks(cells, block):
    """L2-Hys normalised blocks -> ``(n, block_rows, block_cols, block, block, bins)``."""
    n, nr, nc, nb = cells.shape
    br, bc = nr - block + 1, nc - block + 1
    if br <= 0 or bc <= 0:
        return np.zeros((n, 0, 0, block, block, nb))
    parts = np.empty((n, br, bc, block, block, nb))
    for i in range(block):
        for j in range(block):
            parts[:, :, :, i, j] = cells[:, i:i + br, j:j + bc]
    eps = 1e-5
    norm = np.sqrt((parts ** 2).sum(axis=(3, 4, 5), keepdims=True) + eps ** 2)
    out = np.minimum(parts / norm, 0.2)
    norm = np.sqrt((out ** 2).sum(axis=(3, 4, 5), keepdims=True) + eps ** 2)
    return out / norm


def hog_blocks(images, cell=8, orientations=9, block=2):
    """Normalised HOG blocks, scikit-image layout.

    Parameters
    ----------
    images : (N, H, W) ndarray of np.uint8
    cell, orientations, block : int
        As in :class:`~defectlab.features.spec.HOGParams`.

    Returns
    -------
    (N, block_rows, block_cols, block, block, orientations) ndarray of np.float64
        What ``skimage.feature.hog(image, orientations, (cell, cell), (block, block),
        feature_vector=False)`` returns for each image.
    """
    images = check_batch(images, "hog_blocks")
    return np.concatenate([_normalised_blocks(_cells(images[i:i + 16], cell, orientations), block)
                           for i in range(0, max(len(images), 1), 16)]) if len(images) else \
        np.zeros((0, 0, 0, block, block, orientations))


def _block(images, params):
    blocks = _normalised_blocks(_cells(images, params.cell, params.orientations), params.block)
    n = images.shape[0]
    if blocks.shape[1] == 0 or blocks.shape[2] == 0:
        return np.zeros((n, params.block ** 2 * params.orientations))
    return blocks.mean(axis=(1, 2)).reshape(n, -1)


def extract_hog(images, params=None):
    """Average-pooled, block-normalised HOG of a batch.

    Parameters
    ----------
    images : (N, H, W) ndarray of np.uint8
    params : HOGParams, optional

    Returns
    -------
    (N, F) ndarray of np.float32
        ``block * block * orientations`` columns named by :func:`hog_names`; zeros for an image
        smaller than one block.

    Examples
    --------
    >>> import numpy as np
    >>> extract_hog(np.zeros((3, 32, 32), np.uint8)).shape
    (3, 36)
    """
    images = check_batch(images, "extract_hog")
    params = params or HOGParams()
    return blocked(lambda b: _block(b, params), images, len(hog_names(params)))
