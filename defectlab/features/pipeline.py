"""The feature pipeline: images -> one float32 row per image, for a :class:`FeatureSpec`."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .._validation import _check_int
from ..errors import InputError
from ..messages import msg
from . import color as _color
from . import fft as _fft
from . import gabor as _gabor
from . import glcm as _glcm
from . import hog as _hog
from . import intensity as _intensity
from . import lbp as _lbp
from . import residual as _residual
from ._batch import BLOCK, Pyramid, release_scratch
from ._validate import _prepare, check_batch, check_image_list
from .spec import FEATURES_VERSION, get_spec
from .spectrum import power_spectrum
from .tiles import pool_batch, tile_batch, tiled_names

__all__ = ["extract", "feature_names"]

_NAMERS = {
    "intensity": _intensity.intensity_names,
    "lbp": _lbp.lbp_names,
    "glcm": _glcm.glcm_names,
    "hog": _hog.hog_names,
    "gabor": _gabor.gabor_names,
    "fft": _fft.fft_names,
    "color": _color.color_names,
    "residual": _residual.residual_names,
}


def _resolve(spec):
    spec = get_spec(spec)
    if spec.version != FEATURES_VERSION:
        raise InputError(
            msg("error.pipeline.feature_spec_was_made",
                "The feature spec was made for feature version {version}, but this defectlab "
                "computes version {FEATURES_VERSION}: its features would not match. Got spec {name} "
                "(hash {spec_hash_12}). Re-extract features and retrain with a current spec (e.g. "
                "get_spec('default')).",
                version=spec.version,
                FEATURES_VERSION=FEATURES_VERSION,
                name=repr(spec.name),
                spec_hash_12=spec.hash[:12]))
    return spec


def feature_names(spec=None):
    """Names of the columns :func:`extract` returns for ``spec``.

    Parameters
    ----------
    spec : FeatureSpec, str or None
        ``None`` is the default preset.

    Returns
    -------
    list of str
        ``"<family>.<detail>"``, e.g. ``"lbp.p8r1.u3"``, ``"glcm.d2.contrast_mean"``; the family
        (before the first dot) is a key of ``FAMILY_TITLES``.

    Examples
    --------
    >>> names = feature_names()
    >>> names[0], len(names) == len(set(names))
    ('intensity.mean', True)
    """
    spec = _resolve(spec)
    names = []
    for fam in spec.families:
        names += _NAMERS[fam](getattr(spec, fam))
    if spec.tiles is not None:
        names = tiled_names(names, spec.tiles)
    return names


def _features(grey, color, spec):
    """Feature rows of one prepared block: grey ``(b, h, w)`` uint8, colour ``(b, h, w, 3)``/None."""
    parts = []
    pyr = Pyramid(grey)
    power = None
    if spec.gabor is not None or spec.fft is not None:
        power = power_spectrum(grey)
    width = grey.shape[2]
    for fam in spec.families:
        params = getattr(spec, fam)
        if fam == "intensity":
            parts.append(_intensity._block(grey, params))
        elif fam == "lbp":
            parts.append(_lbp._block(pyr, params))
        elif fam == "glcm":
            parts.append(_glcm._block(pyr, params))
        elif fam == "hog":
            parts.append(_hog._block(grey, params))
        elif fam == "gabor":
            parts.append(_gabor.gabor_from_power(power, width, params))
        elif fam == "fft":
            parts.append(_fft.fft_from_power(power, width, params))
        elif fam == "color":
            parts.append(_color._block(grey if color is None else color, params))
        elif fam == "residual":
            parts.append(_residual._block(grey, params))
    return np.concatenate(parts, axis=1).astype(np.float32)


def extract(images, spec=None, *, chunk_size=256, n_jobs=1):
    """Texture features of a batch of images.

    Parameters
    ----------
    images : (N, H, W) ndarray of np.uint8, or list of ndarray
        The fast path is a grey uint8 batch (resized to the working size if it differs); a uint8
        ``(N, H, W, 3)`` RGB batch is accepted too. A list may mix sizes, dtypes (uint8, uint16,
        float, bool) and grey / RGB(A) images; each is normalised as :func:`prepare_images`
        documents.
    spec : FeatureSpec, str or None
        Feature spec or preset name; ``None`` is the default preset.
    chunk_size : int
        Images prepared at a time (bounds memory for large lists: about ``chunk_size`` working-size
        images plus the output).
    n_jobs : int
        Worker threads (OpenCV and NumPy release the GIL); ``-1`` = all cores. The result is
        identical for any value.

    Returns
    -------
    (N, F) ndarray of np.float32
        Finite values; columns named by :func:`feature_names` for the same spec. Each row depends
        only on its own image.

    Raises
    ------
    InputError
        Wrong image type/shape/dtype, an empty or non-finite image, a bad parameter, or a spec of
        another feature version.

    Examples
    --------
    >>> import numpy as np
    >>> from defectlab.features import extract, feature_names
    >>> images = np.random.default_rng(0).integers(0, 256, (4, 64, 64), dtype=np.uint8)
    >>> X = extract(images)
    >>> X.shape == (4, len(feature_names())), X.dtype.name, bool(np.isfinite(X).all())
    (True, 'float32', True)
    """
    spec = _resolve(spec)
    chunk_size = _check_int(chunk_size, "extract", "chunk_size", 1)
    n_jobs = os.cpu_count() or 1 if n_jobs == -1 else _check_int(n_jobs, "extract", "n_jobs", 1)
    if isinstance(images, np.ndarray):
        images = check_batch(images, "extract", allow_color=True)
    else:
        check_image_list(images, "extract")
    if spec.tiles is not None:
        return _extract_tiled(images, spec, chunk_size, n_jobs)
    n = len(images)
    n_features = len(feature_names(spec))
    out = np.empty((n, n_features), np.float32)
    if n == 0:
        return out

    def run(start):
        grey, color = _prepare(images[start:start + BLOCK], spec, replicate_grey=False)
        out[start:start + len(grey)] = _features(grey, color, spec)

    chunk_size = max(BLOCK, chunk_size - chunk_size % BLOCK)
    pool = ThreadPoolExecutor(n_jobs) if n_jobs > 1 else None
    try:
        for c0 in range(0, n, chunk_size):
            starts = range(c0, min(n, c0 + chunk_size), BLOCK)
            if pool is None:
                for s in starts:
                    run(s)
            else:
                list(pool.map(run, starts))
    finally:
        if pool is not None:
            pool.shutdown()  # worker threads end: their scratch arrays go with them
        release_scratch()
    return out


def _extract_tiled(images, spec, chunk_size, n_jobs):
    """Tile-pooled rows (see :mod:`defectlab.features.tiles`): tiles of a chunk of images in one batch."""
    base = spec.replace(tiles=None)
    n = len(images)
    out = np.empty((n, len(feature_names(spec))), np.float32)
    step = max(1, chunk_size // 8)  # a large image gives up to max_tiles tiles: bound the batch
    for c0 in range(0, n, step):
        chunk = images[c0:c0 + step]
        crops, owners, whole = tile_batch(chunk, spec.tiles, max(spec.size))
        rows = extract(crops, base, chunk_size=chunk_size, n_jobs=n_jobs)
        out[c0:c0 + len(chunk)] = pool_batch(rows, owners, whole, len(chunk), spec.tiles.pool)
    return out
