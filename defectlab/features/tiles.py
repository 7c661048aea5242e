"""Tile-pooled features: large images cut into tiles, the tiles' feature rows pooled into one row.

A whole scrap photo (800 x 600 and more) shrunk to one 160 x 160 working image loses its texture. With a
spec's :class:`~defectlab.features.TileParams`, :func:`~defectlab.features.extract` instead

1. cuts every image whose shorter side reaches ``min_side`` into tiles (:func:`tile_boxes`: a grid
   with overlap, or sliding squares), and keeps a smaller image whole (one tile: today's path);
2. extracts the families of all tiles of the batch in one call (each tile brought to the working size
   like a crop);
3. pools each image's tile rows with the spec's statistics (:func:`pool_rows`: mean, std, max, min,
   quantiles), vectorised over the whole batch;
4. with the ``whole`` pool (default), puts the whole image's own row beside them: the image brought to
   the working size whole, exactly the plain spec's row (:func:`tile_batch`, :func:`pool_batch`). Tiles
   see fine texture a shrunk photo loses; the whole view keeps what only the whole image shows (how
   large the pieces of a scrap pile are, the global colour and light), so tiling never loses
   information the single-resize path had.

:func:`auto_spec` is the automatic choice made at training time: a project whose images are large gets
tiles, a project of crops keeps the plain spec (same columns as before), at a smaller working size when
the crops are small (:mod:`defectlab.features.sizing`).
"""

from __future__ import annotations

import numpy as np

from .sizing import auto_working_size
from .spec import TileParams

__all__ = ["auto_spec", "pool_batch", "pool_rows", "tile_batch", "tile_boxes", "tiled_names"]

_QUANTILES = {"q10": 10.0, "q25": 25.0, "q50": 50.0, "q75": 75.0, "q90": 90.0}


def _starts(length, tile, n):
    if n <= 1 or tile >= length:
        return [0]
    return np.round(np.linspace(0, length - tile, n)).astype(int).tolist()


def tile_boxes(height, width, params, work_side=160):
    """The tiles of one image, as ``(y0, y1, x0, x1)`` tuples.

    Parameters
    ----------
    height, width : int
        Image size.
    params : TileParams
    work_side : int
        The working size's longer side: the tile side of the sliding mode when ``params.side`` is 0
        (tiles at the working scale: a tile is not shrunk before its features are computed).

    Returns
    -------
    list of tuple
        One tile covering the whole image when its shorter side is below ``params.min_side``.

    Examples
    --------
    >>> from defectlab.features import TileParams
    >>> tile_boxes(200, 200, TileParams())
    [(0, 200, 0, 200)]
    >>> len(tile_boxes(600, 800, TileParams(grid=(2, 3))))
    6
    """
    if min(height, width) < params.min_side:
        return [(0, height, 0, width)]
    o = params.overlap
    if params.mode == "grid":
        rows, cols = params.grid
        th = max(1, round(height / (rows - (rows - 1) * o)))
        tw = max(1, round(width / (cols - (cols - 1) * o)))
        ys, xs = _starts(height, th, rows), _starts(width, tw, cols)
    else:
        side = params.side or work_side
        th, tw = min(side, height), min(side, width)
        step = max(1.0, side * (1.0 - o))
        while True:
            ny = int(np.ceil(max(0, height - th) / step)) + 1
            nx = int(np.ceil(max(0, width - tw) / step)) + 1
            if ny * nx <= params.max_tiles:
                break
            step *= 1.2
        ys, xs = _starts(height, th, ny), _starts(width, tw, nx)
    return [(y, y + th, x, x + tw) for y in ys for x in xs]


def tile_batch(images, params, work_side=160):
    """The crops whose feature rows make a batch's tile-pooled rows.

    Parameters
    ----------
    images : sequence of ndarray
        Images of any sizes (grey or colour).
    params : TileParams
    work_side : int
        The working size's longer side (see :func:`tile_boxes`).

    Returns
    -------
    crops : list of ndarray
        Views (no copies): each image's tiles, then, with the ``whole`` pool, every tiled image whole.
    owners : (T,) ndarray of int
        Image index of each crop that is a tile; ``-1`` for a whole image added for the ``whole`` pool.
    whole : (n_images,) ndarray of int or None
        With the ``whole`` pool: the crop holding each image whole (an image that is not tiled is its
        own single tile); else ``None``.

    Examples
    --------
    >>> from defectlab.features import TileParams
    >>> ims = [np.zeros((600, 800), np.uint8), np.zeros((200, 200), np.uint8)]
    >>> crops, owners, whole = tile_batch(ims, TileParams(grid=(2, 2)))
    >>> owners.tolist(), whole.tolist()
    ([0, 0, 0, 0, 1, -1], [5, 4])
    """
    crops, owners, whole = [], [], []
    extra = []
    for k, im in enumerate(images):
        boxes = tile_boxes(im.shape[0], im.shape[1], params, work_side)
        if len(boxes) == 1 and boxes[0] == (0, im.shape[0], 0, im.shape[1]):
            whole.append(len(crops))  # not tiled: the one tile is the whole image
        else:
            whole.append(-1 - len(extra))
            extra.append(im)
        for y0, y1, x0, x1 in boxes:
            crops.append(im[y0:y1, x0:x1])
            owners.append(k)
    if "whole" not in params.pool:
        return crops, np.asarray(owners, dtype=np.int64), None
    n_tiles = len(crops)
    whole_idx = np.asarray(whole, dtype=np.int64)
    whole_idx = np.where(whole_idx >= 0, whole_idx, n_tiles - 1 - whole_idx)
    owners += [-1] * len(extra)
    return crops + extra, np.asarray(owners, dtype=np.int64), whole_idx


def pool_batch(rows, owners, whole, n_images, pools):
    """Pool the feature rows of :func:`tile_batch`'s crops into one row per image.

    Parameters
    ----------
    rows : (T, F) ndarray
        Feature rows of the crops, in :func:`tile_batch` order.
    owners, whole
        As returned by :func:`tile_batch`.
    n_images : int
    pools : sequence of str
        Statistics over the tiles (see :func:`pool_rows`) and ``whole`` (the image's whole row).

    Returns
    -------
    (n_images, len(pools) * F) ndarray of np.float32
        Pool by pool, in ``pools`` order (as :func:`tiled_names`).

    Examples
    --------
    >>> rows = np.array([[1.0], [3.0], [5.0], [9.0]])
    >>> pool_batch(rows, np.array([0, 0, 1, -1]), np.array([3, 2]), 2, ("whole", "mean")).tolist()
    [[9.0, 2.0], [5.0, 5.0]]
    """
    rows = np.asarray(rows)
    owners = np.asarray(owners)
    stats = [p for p in pools if p != "whole"]
    tiles = owners >= 0
    pooled = pool_rows(rows[tiles], owners[tiles], n_images, stats) if stats else None
    f = rows.shape[1]
    parts = []
    for p in pools:
        if p == "whole":
            parts.append(rows[np.asarray(whole)].astype(np.float32))
        else:
            j = stats.index(p)
            parts.append(pooled[:, j * f:(j + 1) * f])
    return np.concatenate(parts, axis=1).astype(np.float32)


def tiled_names(names, params):
    """Column names of pooled features: ``<name>@<pool>`` for each pool, pool by pool."""
    return [f"{n}@{p}" for p in params.pool for n in names]


def pool_rows(rows, owners, n_images, pools):
    """Pool tile rows into one row per image.

    Parameters
    ----------
    rows : (T, F) ndarray
        Feature rows of all tiles; the tiles of one image are consecutive.
    owners : (T,) ndarray of int
        Image index of each tile row (non-decreasing, every image present).
    n_images : int
    pools : sequence of str
        Statistics (see :class:`~defectlab.features.TileParams`).

    Returns
    -------
    (n_images, len(pools) * F) ndarray of np.float32

    Examples
    --------
    >>> rows = np.array([[1.0], [3.0], [5.0]])
    >>> pool_rows(rows, np.array([0, 0, 1]), 2, ("mean", "std", "max")).tolist()
    [[2.0, 1.0, 3.0], [5.0, 0.0, 5.0]]
    """
    rows = np.asarray(rows, dtype=np.float64)
    owners = np.asarray(owners)
    starts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])
    counts = np.diff(np.r_[starts, len(owners)])[:, None]
    if len(starts) != n_images:
        raise ValueError("every image needs at least one tile")
    mean = np.add.reduceat(rows, starts, axis=0) / counts
    parts = []
    for p in pools:
        if p == "mean":
            parts.append(mean)
        elif p == "std":
            sq = np.add.reduceat((rows - mean[owners]) ** 2, starts, axis=0) / counts
            parts.append(np.sqrt(sq))
        elif p == "max":
            parts.append(np.maximum.reduceat(rows, starts, axis=0))
        elif p == "min":
            parts.append(np.minimum.reduceat(rows, starts, axis=0))
        else:
            parts.append(_quantile(rows, starts, counts[:, 0], _QUANTILES[p]))
    return np.concatenate(parts, axis=1).astype(np.float32)


def _quantile(rows, starts, counts, q):
    """Per-image percentile, vectorised over images that have the same number of tiles."""
    out = np.empty((len(starts), rows.shape[1]))
    for n in np.unique(counts).tolist():
        which = np.flatnonzero(counts == n)
        idx = starts[which][:, None] + np.arange(n)[None, :]
        out[which] = np.percentile(rows[idx], q, axis=1)
    return out


def auto_spec(spec, heights, widths, tiles=None):
    """The spec to train with, chosen from the images' sizes.

    Parameters
    ----------
    spec : FeatureSpec
        The spec asked for (kept as is when it already has tiles).
    heights, widths : array-like of int
        Sizes of the training images.
    tiles : TileParams or None
        The tiling to use for large images (default ``TileParams()``).

    Returns
    -------
    FeatureSpec
        ``spec`` with ``tiles`` when the median image's shorter side reaches ``tiles.min_side``
        (an 800 x 600 photo); else, for crops, ``spec`` at the working size they need
        (:func:`~defectlab.features.sizing.auto_working_size`: 64 x 64 crops get 64 x 64, 200 x 200
        crops keep the spec unchanged, today's path and hash).

    Examples
    --------
    >>> from defectlab.features import get_spec
    >>> auto_spec(get_spec(), [200, 200], [200, 200]) is get_spec()
    True
    >>> auto_spec(get_spec(), [600], [800]).tiles is not None
    True
    """
    tiles = TileParams() if tiles is None else tiles
    h = np.asarray(heights, dtype=np.float64)
    w = np.asarray(widths, dtype=np.float64)
    if spec.tiles is not None or h.size == 0:
        return spec
    if float(np.median(np.minimum(h, w))) >= tiles.min_side:
        return spec.replace(tiles=tiles)
    return auto_working_size(spec, h, w)  # small crops: a smaller working size (features.sizing)
