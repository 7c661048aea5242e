"""The one input validator shared by every module of :mod:`defectlab.quality`.

Each public function validates its arguments here, first, before any heavy work. Messages follow the
project template: what, where, what was received, and the fix.
"""

import numbers

import numpy as np

from defectlab.errors import InputError

__all__ = []  # private module


def _check_int(value, where, name, lo, hi=None):
    """Return ``value`` as an int in ``[lo, hi]`` or raise :class:`InputError`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < lo or (
        hi is not None and value > hi
    ):
        upper = "" if hi is None else f" and <= {hi}"
        raise InputError(
            f"The {name!r} parameter of {where} must be an integer >= {lo}{upper}. Got {value!r}."
        )
    return int(value)


def _check_float(value, where, name, lo, hi):
    """Return ``value`` as a float in ``[lo, hi]`` or raise :class:`InputError`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not lo <= value <= hi:
        raise InputError(
            f"The {name!r} parameter of {where} must be a number in [{lo}, {hi}]. Got {value!r}."
        )
    return float(value)


def _check_choice(value, where, name, choices):
    """Return ``value`` if it is one of ``choices`` or raise :class:`InputError`."""
    if not isinstance(value, str) or value not in choices:
        raise InputError(
            f"The {name!r} parameter of {where} must be one of {list(choices)}. Got {value!r}."
        )
    return value


def _check_pred_probs(pred_probs, where, name="pred_probs", allow_stack=False):
    """Return ``pred_probs`` as ``(N, K)`` float64 rows of probabilities.

    With ``allow_stack``, a list of ``(N, K)`` arrays or an ``(M, N, K)`` array (several models) is
    accepted and returned as ``(M, N, K)``.
    """
    try:
        arr = np.asarray(pred_probs, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"The {name!r} parameter of {where} must be a numeric array (n_samples, n_classes); it "
            f"could not be converted ({exc})."
        ) from None
    ok_ndim = (2, 3) if allow_stack else (2,)
    if arr.ndim not in ok_ndim or arr.shape[-1] < 2 or arr.shape[-2] == 0:
        shape = "(n_samples, n_classes) or (n_models, n_samples, n_classes)" if allow_stack else (
            "(n_samples, n_classes)")
        raise InputError(
            f"The {name!r} parameter of {where} must have shape {shape} with at least 2 classes "
            f"and 1 sample. Got shape {arr.shape}."
        )
    def _row(pos):
        pos = [int(v) for v in pos]
        return f"row {pos[-1]}" + (f" of model {pos[0]}" if len(pos) == 2 else "")

    finite = np.isfinite(arr)
    if not finite.all():
        bad = np.argwhere(~finite)[0]
        raise InputError(
            f"The {name!r} parameter of {where} must hold probabilities in [0, 1]; "
            f"{_row(bad[:-1])} holds {arr[tuple(bad)]}. Pass predict_proba output."
        )
    if arr.min() < 0 or arr.max() > 1 + 1e-6:
        raise InputError(
            f"The {name!r} parameter of {where} must hold probabilities in [0, 1]; got values from "
            f"{arr.min():.4g} to {arr.max():.4g}. Pass predict_proba output."
        )
    sums = arr.sum(axis=-1)
    bad = np.argwhere(np.abs(sums - 1.0) > 1e-3)
    if bad.size:
        raise InputError(
            f"The {name!r} parameter of {where} must have rows summing to 1; {_row(bad[0])} sums "
            f"to {sums[tuple(bad[0])]:.6g}. Pass predict_proba output, not raw scores."
        )
    arr = arr / sums[..., None]
    if allow_stack and arr.ndim == 2:
        arr = arr[None]
    return arr


def _check_classes(classes, n_classes, where):
    """Return ``classes`` as a list of ``n_classes`` distinct labels (``range`` when None)."""
    if classes is None:
        return list(range(n_classes))
    arr = np.asarray(classes)
    if arr.ndim != 1:
        raise InputError(
            f"The 'classes' parameter of {where} must be a 1-D list of class names in the order of "
            f"the pred_probs columns. Got shape {arr.shape}."
        )
    out = arr.tolist()
    if len(out) != n_classes:
        raise InputError(
            f"The 'classes' parameter of {where} has {len(out)} names but pred_probs has "
            f"{n_classes} columns; give one name per column, in column order."
        )
    if len(set(out)) != len(out):
        dup = next(c for c in out if out.count(c) > 1)
        raise InputError(
            f"The 'classes' parameter of {where} must hold distinct names; {dup!r} appears twice."
        )
    return out


def _encode_labels(labels, classes, n_samples, where, name="labels", allow_missing=False):
    """Map ``labels`` (names or codes) to int codes ``0..K-1`` following ``classes``.

    Returns an ``(N,)`` intp array; with ``allow_missing``, ``None``/NaN become ``-1``.
    """
    arr = np.asarray(labels, dtype=object) if not isinstance(labels, np.ndarray) else labels
    if arr.ndim != 1:
        raise InputError(
            f"The {name!r} parameter of {where} must be 1-D (one label per item). Got shape "
            f"{arr.shape}."
        )
    if n_samples is not None and arr.shape[0] != n_samples:
        raise InputError(
            f"The {name!r} parameter of {where} has {arr.shape[0]} labels but pred_probs/features "
            f"have {n_samples} rows; give one label per row."
        )
    lookup = {c: i for i, c in enumerate(classes)}
    # numbers given as names of int classes, and numpy scalars, map through .item()
    values = arr.tolist()
    codes = np.empty(len(values), dtype=np.intp)
    for i, v in enumerate(values):
        if v is None or (isinstance(v, float) and v != v):
            if allow_missing:
                codes[i] = -1
                continue
            raise InputError(
                f"The {name!r} parameter of {where} has a missing label at position {i}; drop "
                "unlabeled items first."
            )
        code = lookup.get(v)
        if code is None:
            raise InputError(
                f"The {name!r} parameter of {where} holds {v!r} at position {i}, which is not one "
                f"of the classes {classes}. Pass the project's classes in pred_probs column order."
            )
        codes[i] = code
    return codes


def _check_features(features, where, n_samples=None, name="features"):
    """Return ``features`` as a finite ``(N, F)`` float64 array."""
    try:
        arr = np.asarray(features)
    except Exception as exc:  # ragged lists and the like
        raise InputError(
            f"The {name!r} parameter of {where} must be a 2-D numeric array (n_samples, "
            f"n_features); it could not be converted ({exc})."
        ) from None
    if arr.ndim != 2 or arr.dtype.kind not in "biuf" or 0 in arr.shape:
        raise InputError(
            f"The {name!r} parameter of {where} must be a non-empty 2-D numeric array (n_samples, "
            f"n_features). Got dtype {arr.dtype} with shape {arr.shape}."
        )
    if n_samples is not None and arr.shape[0] != n_samples:
        raise InputError(
            f"The {name!r} parameter of {where} has {arr.shape[0]} rows but there are {n_samples} "
            "items; give one feature row per item, in the same order."
        )
    arr = arr.astype(np.float64, copy=False)
    if not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise InputError(
            f"The {name!r} parameter of {where} must be finite; row {bad[0]}, column {bad[1]} is "
            f"{arr[bad[0], bad[1]]}. Recompute the features or drop that item."
        )
    return arr


def _check_mask(mask, where, name, n_samples):
    """Return an ``(N,)`` bool mask (``None`` -> all True)."""
    if mask is None:
        return np.ones(n_samples, dtype=bool)
    arr = np.asarray(mask)
    if arr.dtype != bool or arr.shape != (n_samples,):
        raise InputError(
            f"The {name!r} parameter of {where} must be a boolean array of shape ({n_samples},). "
            f"Got dtype {arr.dtype} with shape {arr.shape}."
        )
    return arr


def _standardize(X, robust=False):
    """Standardise columns: ``(x - centre) / scale``; constant columns become 0.

    ``robust=False``: mean and standard deviation. ``robust=True``: median and IQR / 1.349 (so
    that a few extreme rows do not shrink everybody else's spread), falling back to the standard
    deviation for columns whose IQR is 0.
    """
    if not robust:
        mean = X.mean(axis=0)
        std = X.std(axis=0)
        return (X - mean) / np.where(std > 1e-12 * (1 + np.abs(mean)), std, 1.0)
    med = np.median(X, axis=0)
    q75, q25 = np.percentile(X, [75, 25], axis=0)
    scale = (q75 - q25) / 1.349
    std = X.std(axis=0)
    scale = np.where(scale > 1e-12 * (1 + np.abs(med)), scale, std)
    scale = np.where(scale > 1e-12 * (1 + np.abs(med)), scale, 1.0)
    return (X - med) / scale
