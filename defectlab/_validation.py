"""The one input validator shared by the packages of defectlab (private module).

Every public function checks its arguments here, first, before any heavy work (scikit-learn's
``check_array``, cleanlab's ``assert_valid_inputs``). Each check returns the value in the form the
caller computes with, or raises :class:`~defectlab.errors.InputError` with the project's message
template: what, where (``The 'name' parameter of where``), what was received, and the fix.

NumPy only: importing this module imports no scikit-learn, pandas or OpenCV. Image batches have their
own checks in :mod:`defectlab.features._validate`.
"""

import numbers

import numpy as np

from defectlab.errors import InputError

__all__ = []  # private module

#: How a label-count message names the rows the labels must match (``{n}``: their count).
_ROWS = "there are {n} rows of features/probabilities"


# -- scalars --------------------------------------------------------------------------------------

def _check_int(value, where, name, low, high=None):
    """Return ``value`` as an int in ``[low, high]`` (``high=None``: no upper bound).

    Parameters
    ----------
    value : object
        Any integer type (NumPy integers too); ``bool`` is refused.
    where : str
        The public function doing the check, for the message.
    name : str
        The parameter's name.
    low, high : int
        Inclusive bounds.

    Examples
    --------
    >>> _check_int(np.int64(3), "f", "k", 1)
    3
    >>> _check_int(0, "f", "k", 1)
    Traceback (most recent call last):
    ...
    defectlab.errors.InputError: The 'k' parameter of f must be >= 1. Got 0. Pass an integer >= 1.
    """
    span = f">= {low}" if high is None else f"in [{low}, {high}]"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputError(
            f"The {name!r} parameter of {where} must be an integer {span}. Got {value!r} of type "
            f"{type(value).__name__}."
        )
    if value < low or (high is not None and value > high):
        words = f">= {low}" if high is None else f">= {low} and <= {high}"
        raise InputError(
            f"The {name!r} parameter of {where} must be {span}. Got {value!r}. Pass an integer "
            f"{words}."
        )
    return int(value)


def _check_float(value, where, name, low=0.0, high=1.0, *, low_open=False):
    """Return ``value`` as a float in ``[low, high]`` (``(low, high]`` with ``low_open``; NaN and ``bool``
    are refused).

    Examples
    --------
    >>> _check_float(1, "f", "rate")
    1.0
    >>> _check_float(0, "f", "rate", low_open=True)
    Traceback (most recent call last):
    ...
    defectlab.errors.InputError: The 'rate' parameter of f must be a number in (0.0, 1.0]. Got 0.
    """
    above = (lambda v: low < v) if low_open else (lambda v: low <= v)
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (above(value) and value <= high):
        got = f"{value!r}" if isinstance(value, numbers.Real) and not isinstance(value, bool) else (
            f"{value!r} of type {type(value).__name__}")
        span = f"({low}, {high}]" if low_open else f"[{low}, {high}]"
        raise InputError(
            f"The {name!r} parameter of {where} must be a number in {span}. Got {got}."
        )
    return float(value)


def _check_choice(value, where, name, choices):
    """Return ``value`` if it is one of the strings ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise InputError(
            f"The {name!r} parameter of {where} must be one of {list(choices)}. Got {value!r}."
        )
    return value


def _check_mask(mask, where, name, n_samples):
    """Return an ``(n_samples,)`` bool mask (``None``: all True)."""
    if mask is None:
        return np.ones(n_samples, dtype=bool)
    arr = np.asarray(mask)
    if arr.dtype != bool or arr.shape != (n_samples,):
        raise InputError(
            f"The {name!r} parameter of {where} must be a boolean array of shape ({n_samples},). "
            f"Got dtype {arr.dtype} with shape {arr.shape}."
        )
    return arr


# -- feature matrices -----------------------------------------------------------------------------

def _check_features(X, where, name="X", n_samples=None, n_features=None, allow_float32=False):
    """Return ``X`` as a finite, non-empty ``(N, F)`` float64 array (float32 kept with ``allow_float32``).

    Parameters
    ----------
    X : (N, F) array-like of numbers
    where, name : str
    n_samples : int, optional
        The number of items the rows must match.
    n_features : int, optional
        The number of columns the model was fitted on.
    allow_float32 : bool, default False
        Keep a float32 array as it is (no float64 copy): for callers that handle float32 themselves
        (the training path at 100,000 rows, where each copy of the matrix costs hundreds of MB).
    """
    try:
        arr = np.asarray(X)
    except Exception as exc:  # ragged lists and the like
        raise InputError(
            f"The {name!r} parameter of {where} must be a 2-D numeric array (n_samples, n_features); "
            f"it could not be converted ({exc})."
        ) from None
    if arr.ndim != 2 or arr.dtype.kind not in "biuf":
        raise InputError(
            f"The {name!r} parameter of {where} must be a 2-D numeric array (n_samples, n_features). "
            f"Got dtype {arr.dtype} with shape {arr.shape}."
        )
    if 0 in arr.shape:
        raise InputError(
            f"The {name!r} parameter of {where} is empty (shape {arr.shape}); give at least one row "
            "and one column."
        )
    if n_samples is not None and arr.shape[0] != n_samples:
        raise InputError(
            f"The {name!r} parameter of {where} has {arr.shape[0]} rows but there are {n_samples} "
            "items; give one feature row per item, in the same order."
        )
    # float32 features would give float32 probabilities (rows off 1 by ~1e-7) in scikit-learn
    if not (allow_float32 and arr.dtype == np.float32):
        arr = arr.astype(np.float64, copy=False)
    if not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise InputError(
            f"The {name!r} parameter of {where} must be finite; row {bad[0]}, column {bad[1]} is "
            f"{arr[bad[0], bad[1]]}. Recompute the features or drop that item."
        )
    if n_features is not None and arr.shape[1] != n_features:
        raise InputError(
            f"The {name!r} parameter of {where} has {arr.shape[1]} columns but the model was fitted "
            f"on {n_features}. Use the same feature spec as the training run."
        )
    return arr


# -- labels and classes ---------------------------------------------------------------------------

def _missing(arr):
    """``(N,)`` bool: which labels are missing (``None`` or NaN)."""
    if arr.dtype == object:
        return np.fromiter(
            (v is None or (isinstance(v, (float, np.floating)) and v != v) for v in arr.tolist()),
            dtype=bool, count=arr.shape[0])
    if arr.dtype.kind in "fc":
        return np.isnan(arr)
    return np.zeros(arr.shape[0], dtype=bool)


def _check_labels(labels, where, name="labels", n_samples=None, *, against=_ROWS,
                  allow_missing=False, dtype=None):
    """Return ``labels`` as a 1-D array, one label per item.

    Parameters
    ----------
    labels : (N,) array-like
        An ndarray is kept as it is; anything else goes through ``np.asarray(labels, dtype)``
        (``dtype=object`` keeps mixed Python values as they are).
    where, name : str
    n_samples : int, optional
        The number of rows the labels must match; ``against`` names those rows in the message
        (``{n}``: their count).
    allow_missing : bool
        Accept ``None`` / NaN labels (unlabeled items); else they raise.
    """
    arr = labels if isinstance(labels, np.ndarray) else np.asarray(labels, dtype=dtype)
    if arr.ndim != 1:
        raise InputError(
            f"The {name!r} parameter of {where} must be 1-D (one label per item). Got shape "
            f"{arr.shape}."
        )
    if n_samples is not None and arr.shape[0] != n_samples:
        raise InputError(
            f"The {name!r} parameter of {where} has {arr.shape[0]} labels but "
            f"{against.format(n=n_samples)}; give one label per row."
        )
    if not allow_missing:
        missing = np.flatnonzero(_missing(arr))
        if missing.size:
            raise InputError(
                f"The {name!r} parameter of {where} has a missing label at position {missing[0]}; "
                "drop unlabeled items first."
            )
    return arr


def _check_classes(classes, where, name="classes", n_classes=None):
    """Return ``classes`` as a list of distinct labels (one per ``pred_probs`` column).

    ``classes=None`` with ``n_classes`` given means the column indices ``[0, n_classes)``.
    """
    if classes is None and n_classes is not None:
        return list(range(n_classes))
    arr = np.asarray(classes)
    if arr.ndim != 1 or arr.shape[0] < 1:
        raise InputError(
            f"The {name!r} parameter of {where} must be a non-empty 1-D list of class names in the "
            f"order of the pred_probs columns. Got shape {arr.shape}."
        )
    out = arr.tolist()
    if n_classes is not None and len(out) != n_classes:
        raise InputError(
            f"The {name!r} parameter of {where} has {len(out)} names but pred_probs has "
            f"{n_classes} columns; give one name per column, in column order."
        )
    if len(set(out)) != len(out):
        dup = next(c for c in out if out.count(c) > 1)
        raise InputError(
            f"The {name!r} parameter of {where} has repeated class labels {out}: it must hold "
            f"distinct names; {dup!r} appears twice. Give each class once, in column order."
        )
    return out


def _lookup(index, value):
    try:
        return index.get(value, -2)
    except TypeError:  # an unhashable label (a list, ...) is no class
        return -2


def _encode_labels(labels, classes, where, name="labels", n_samples=None, *, against=_ROWS,
                   allow_missing=False, allow_codes=False):
    """Map labels to column indices of ``classes``: an ``(N,)`` intp array.

    Parameters
    ----------
    labels : (N,) array-like
        Values of ``classes``; with ``allow_missing``, ``None`` / NaN become ``-1``.
    classes : list or (K,) ndarray
        As returned by :func:`_check_classes`.
    where, name, n_samples, against
        As for :func:`_check_labels`.
    allow_codes : bool
        Integer labels that are not all class names but all lie in ``range(len(classes))`` are
        taken as column indices already.

    Examples
    --------
    >>> _encode_labels(["b", None], ["a", "b"], "f", allow_missing=True).tolist()
    [1, -1]
    """
    arr = _check_labels(labels, where, name, n_samples, against=against,
                        allow_missing=allow_missing, dtype=object)
    classes = classes.tolist() if isinstance(classes, np.ndarray) else list(classes)
    index = {c: i for i, c in enumerate(classes)}
    values = arr.tolist()
    codes = np.fromiter((_lookup(index, v) for v in values), dtype=np.intp, count=len(values))
    bad = codes == -2
    if allow_missing and bad.any():
        missing = bad & _missing(arr)
        codes[missing] = -1
        bad &= ~missing
    if not bad.any():
        return codes
    if allow_codes and all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) and 0 <= v < len(classes)
            for v in values):
        return np.asarray(values, dtype=np.intp)
    first = int(np.flatnonzero(bad)[0])
    unknown = sorted({repr(values[i]) for i in np.flatnonzero(bad).tolist()})
    raise InputError(
        f"The {name!r} parameter of {where} holds {values[first]!r} at position {first}, which is "
        f"not one of the classes {classes} (labels not among the classes: "
        f"{', '.join(unknown[:5])}{', ...' if len(unknown) > 5 else ''}). Fix the label, add the "
        "class to the project, or pass the project's classes in pred_probs column order."
    )


# -- probabilities --------------------------------------------------------------------------------

def _check_pred_probs(pred_probs, where, name="pred_probs", n_classes=None, *, allow_stack=False,
                      renormalize=False):
    """Return ``pred_probs`` as ``(N, K)`` float64 rows of probabilities (K >= 2, N >= 1).

    Parameters
    ----------
    pred_probs : (N, K) array-like of float
        Rows must sum to 1 within 1e-3.
    where, name : str
    n_classes : int, optional
        The number of classes the columns must follow.
    allow_stack : bool
        Accept a list of ``(N, K)`` arrays or an ``(M, N, K)`` array (several models) and return
        ``(M, N, K)``.
    renormalize : bool
        Divide each row by its sum, so rows sum to 1 to the last bit.
    """
    try:
        arr = np.asarray(pred_probs)
        if arr.dtype == object:
            arr = arr.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"The {name!r} parameter of {where} must be a numeric array (n_samples, n_classes); it "
            f"could not be converted ({exc})."
        ) from None
    if arr.dtype.kind not in "biuf":
        raise InputError(
            f"The {name!r} parameter of {where} must be a numeric array (n_samples, n_classes). Got "
            f"dtype {arr.dtype} with shape {arr.shape}."
        )
    arr = arr.astype(np.float64, copy=False)
    if arr.ndim not in ((2, 3) if allow_stack else (2,)) or arr.shape[-1] < 2 or arr.shape[-2] == 0:
        shape = "(n_samples, n_classes) or (n_models, n_samples, n_classes)" if allow_stack else (
            "(n_samples, n_classes)")
        raise InputError(
            f"The {name!r} parameter of {where} must have shape {shape} with at least 2 classes "
            f"and 1 sample. Got shape {arr.shape}."
        )
    if n_classes is not None and arr.shape[-1] != n_classes:
        raise InputError(
            f"The {name!r} parameter of {where} has {arr.shape[-1]} columns but {n_classes} classes "
            "were given; the columns must follow the classes."
        )

    def row(pos):
        pos = [int(v) for v in pos]
        return f"row {pos[-1]}" + (f" of model {pos[0]}" if len(pos) == 2 else "")

    finite = np.isfinite(arr)
    if not finite.all():
        bad = np.argwhere(~finite)[0]
        raise InputError(
            f"The {name!r} parameter of {where} must hold probabilities in [0, 1]; "
            f"{row(bad[:-1])} holds {arr[tuple(bad)]}. Pass predict_proba output."
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
            f"The {name!r} parameter of {where} must have rows summing to 1; {row(bad[0])} sums "
            f"to {sums[tuple(bad[0])]:.6g}. Pass predict_proba output, not raw scores."
        )
    if renormalize:
        arr = arr / sums[..., None]
    if allow_stack and arr.ndim == 2:
        arr = arr[None]
    return arr
