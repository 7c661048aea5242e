"""The one shared validator of image inputs, and the working-size normalisation (private module).

:func:`prepare_images` is re-exported by :mod:`defectlab.features`.

Language: the messages carry catalog keys; their ``{fix}`` / ``{describe_images}`` fragments stay English on
purpose: they fire only for API misuse (the app passes only batches the library decoded itself), see
``tests/test_i18n_nested.py``.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..errors import InputError
from ..messages import msg

__all__ = ["check_batch", "check_image_list", "prepare_images"]

_MAX_PIXELS = 200_000_000  # per image: a 14k x 14k plate photo still passes


def _describe(images):
    if isinstance(images, np.ndarray):
        return f"{images.dtype} with shape {images.shape}"
    if isinstance(images, (list, tuple)):
        return f"a {type(images).__name__} of {len(images)} items"
    return type(images).__name__


def check_batch(images, where, *, allow_color=False):
    """Validate the fast-path batch ``(N, H, W)`` uint8 (``(N, H, W, 3)`` too if ``allow_color``).

    Returns the array (C-contiguous). Raises :class:`~defectlab.errors.InputError` naming the
    function, what was received and the fix.
    """
    ok = (
        isinstance(images, np.ndarray)
        and images.dtype == np.uint8
        and (images.ndim == 3 or (allow_color and images.ndim == 4 and images.shape[-1] == 3))
        and images.shape[1] >= 1 and images.shape[2] >= 1
    )
    if not ok:
        shape = "(N, H, W)" + (" or (N, H, W, 3)" if allow_color else "")
        fix = ("Pass a list of 2-D/3-D arrays to have them converted (any size, uint8/uint16/"
               "float, grey or colour), or convert with prepare_images(list(images), spec)."
               if where == "extract" else "Convert with defectlab.features.prepare_images first.")
        raise InputError(msg("error.validate.images_parameter_must_uint",
                "The 'images' parameter of {where} must be a uint8 array of shape {shape}. Got "
                "{describe_images}. {fix}",
                where=where, shape=shape, describe_images=_describe(images), fix=fix))
    return np.ascontiguousarray(images)


def check_image_list(images, where):
    """Validate a list of single images of any size / dtype before any heavy work.

    Each item must be a 2-D array, or 3-D with 1, 3 (RGB) or 4 (RGBA) channels, of a bool,
    unsigned/signed integer or float dtype, non-empty, with finite values.
    """
    if not isinstance(images, (list, tuple)):
        raise InputError(msg("error.validate.images_parameter_must_uint_2",
                "The 'images' parameter of {where} must be a uint8 array of shape (N, H, W) or a "
                "list of arrays. Got {describe_images}. Wrap single images in a list.",
                where=where, describe_images=_describe(images)))
    for i, im in enumerate(images):
        if not isinstance(im, np.ndarray):
            raise InputError(msg("error.validate.images_passed_must_numpy",
                    "images[{i}] passed to {where} must be a numpy array. Got {name}. Decode files "
                    "first (cv2.imdecode / imaging).",
                    i=i, where=where, name=type(im).__name__))
        bad = None
        if im.ndim not in (2, 3) or (im.ndim == 3 and im.shape[2] not in (1, 3, 4)):
            bad = "must be 2-D (H, W) or 3-D (H, W, 1|3|4)"
        elif im.size == 0:
            bad = "is empty"
        elif im.dtype.kind not in "buif":
            bad = "must have a bool, integer or float dtype"
        elif im.shape[0] * im.shape[1] > _MAX_PIXELS:
            bad = f"has more than {_MAX_PIXELS} pixels"
        elif im.dtype.kind == "f" and not np.isfinite(im).all():
            bad = "contains NaN or infinity"
        if bad:
            raise InputError(msg("error.validate.images_passed_got_shape",
                    "images[{i}] passed to {where} {bad}. Got {dtype} with shape {shape}. Fix or "
                    "drop that image.",
                    i=i, where=where, bad=bad, dtype=im.dtype, shape=im.shape))
    return images


def _to_uint8(im, depth):
    """One image (any dtype, channels last) -> uint8 with the same shape."""
    if im.dtype == np.uint8:
        return im
    kind = im.dtype.kind
    if kind == "b":
        return im.astype(np.uint8) * 255
    if kind == "f":
        f = im.astype(np.float64, copy=False)
        lo, hi = float(f.min()), float(f.max())
        if lo >= 0.0 and hi <= 1.0:
            return np.rint(f * 255.0).astype(np.uint8)
        return _stretch(f, lo, hi)
    # integers
    if kind == "i" and im.min() < 0:
        f = im.astype(np.float64)
        return _stretch(f, float(f.min()), float(f.max()))
    if depth == "scale":
        top = 255 if im.dtype.itemsize == 1 else 65535 if im.dtype.itemsize == 2 else np.iinfo(
            im.dtype).max
        return np.rint(im.astype(np.float64) * (255.0 / top)).astype(np.uint8)
    lo, hi = np.percentile(im, (0.1, 99.9))
    if hi <= lo:
        lo, hi = float(im.min()), float(im.max())
    return _stretch(im.astype(np.float64), float(lo), float(hi))


def _stretch(f, lo, hi):
    if hi <= lo:
        # constant image: keep its level if it fits in 0..255, else mid-grey
        return np.full(f.shape, int(np.clip(lo, 0, 255)) if 0 <= lo <= 255 else 128, np.uint8)
    return np.clip(np.rint((f - lo) * (255.0 / (hi - lo))), 0, 255).astype(np.uint8)


def _crop_to_aspect(im, rows, cols):
    h, w = im.shape[:2]
    target = cols / rows
    if w / h > target:  # too wide
        nw = max(1, round(h * target))
        c0 = (w - nw) // 2
        return im[:, c0:c0 + nw]
    nh = max(1, round(w / target))
    r0 = (h - nh) // 2
    return im[r0:r0 + nh]


def _resize(im, rows, cols, mode):
    if mode == "crop":
        im = _crop_to_aspect(im, rows, cols)
    h, w = im.shape[:2]
    if (h, w) == (rows, cols):
        return im
    interp = cv2.INTER_AREA if (h >= rows and w >= cols) else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(im), (cols, rows), interpolation=interp)


def _prepare_one(im, spec, want_color):
    if im.ndim == 3 and im.shape[2] == 1:
        im = im[:, :, 0]
    if im.ndim == 3 and im.shape[2] == 4:
        im = im[:, :, :3]
    im8 = _to_uint8(im, spec.depth)
    rows, cols = spec.size
    if im8.ndim == 3:
        im8 = np.ascontiguousarray(im8)
        grey = cv2.cvtColor(im8, cv2.COLOR_RGB2GRAY)
        color = _resize(im8, rows, cols, spec.resize) if want_color else None
    else:
        grey, color = im8, None
    grey = _resize(grey, rows, cols, spec.resize)
    if want_color and color is None:
        color = np.repeat(grey[:, :, None], 3, axis=2)
    return grey, color


def prepare_images(images, spec=None):
    """Bring images to the spec's working form: grey uint8 at the working size (+ RGB if needed).

    Parameters
    ----------
    images : (N, H, W) or (N, H, W, 3) ndarray of np.uint8, or list of ndarray
        A uint8 batch, or a list of single images of any size and dtype: 2-D grey or 3-D
        ``(H, W, 1|3|4)`` RGB(A); uint8, uint16 (and other integers), bool or float.
    spec : FeatureSpec, str or None
        The working-size policy is the spec's ``size``, ``resize`` and ``depth`` (see
        :mod:`defectlab.features.spec`).

    Returns
    -------
    grey : (N, rows, cols) ndarray of np.uint8
    color : (N, rows, cols, 3) ndarray of np.uint8 or None
        RGB at the working size when the spec has the ``color`` family (grey inputs are
        replicated to three channels), else ``None``.

    Examples
    --------
    >>> import numpy as np
    >>> grey, color = prepare_images([np.zeros((300, 500), np.uint16)], "default")
    >>> grey.shape, grey.dtype.name, color.shape
    ((1, 160, 160), 'uint8', (1, 160, 160, 3))
    """
    from .spec import get_spec

    return _prepare(images, get_spec(spec), replicate_grey=True)


def _prepare(images, spec, replicate_grey):
    """:func:`prepare_images`; with ``replicate_grey=False`` an all-grey batch gives ``color=None``."""
    want_color = spec.needs_color
    rows, cols = spec.size
    if isinstance(images, np.ndarray):
        images = check_batch(images, "prepare_images", allow_color=True)
        if images.ndim == 3 and images.shape[1:] == (rows, cols):
            color = None
            if want_color and replicate_grey:
                color = np.repeat(images[..., None], 3, axis=3)
            return images, color
        images = list(images)
    check_image_list(images, "prepare_images")
    n = len(images)
    if want_color and not replicate_grey and not any(
            im.ndim == 3 and im.shape[2] in (3, 4) for im in images):
        want_color = False
    grey = np.empty((n, rows, cols), np.uint8)
    color = np.empty((n, rows, cols, 3), np.uint8) if want_color else None
    for i, im in enumerate(images):
        g, c = _prepare_one(im, spec, want_color)
        grey[i] = g
        if want_color:
            color[i] = c
    return grey, color
