"""The one input validator shared by every module of :mod:`defectlab.learn`.

Each public function validates its arguments here, first, before any heavy work; messages follow the
project template: what, where, what was received, and the fix.
"""

import numbers

import numpy as np

from defectlab.errors import InputError

__all__ = []  # private module


def _check_features(X, where, name="X", n_features=None):
    """Return ``X`` as a finite 2-D float array or raise :class:`InputError`.

    Parameters
    ----------
    X : (N, F) array-like of numbers
    where : str
        The public function doing the check, for the message.
    n_features : int, optional
        The number of columns the model was fitted on.
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
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InputError(
            f"The {name!r} parameter of {where} is empty (shape {arr.shape}); give at least one row "
            "and one column."
        )
    if arr.dtype != np.float64:
        # float32 features would give float32 probabilities (rows off 1 by ~1e-7) in scikit-learn
        arr = arr.astype(np.float64)
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


def _check_labels(y, where, name="y", n_samples=None):
    """Return ``y`` as a 1-D array of labels (no missing values)."""
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise InputError(
            f"The {name!r} parameter of {where} must be 1-D (one label per item). Got shape {arr.shape}."
        )
    if n_samples is not None and arr.shape[0] != n_samples:
        raise InputError(
            f"The {name!r} parameter of {where} has {arr.shape[0]} labels but there are {n_samples} "
            "rows of features/probabilities; give one label per row."
        )
    if arr.dtype == object:
        missing = [i for i, v in enumerate(arr) if v is None or (isinstance(v, float) and v != v)]
        if missing:
            raise InputError(
                f"The {name!r} parameter of {where} has a missing label at position {missing[0]}; "
                "drop unlabeled items first."
            )
    return arr


def _check_pred_probs(pred_probs, where, n_classes=None, name="pred_probs"):
    """Return ``pred_probs`` as an (N, C) float64 array whose rows are probability vectors."""
    arr = np.asarray(pred_probs)
    if arr.ndim != 2 or arr.dtype.kind not in "biuf":
        raise InputError(
            f"The {name!r} parameter of {where} must be a 2-D float array (n_samples, n_classes). "
            f"Got dtype {arr.dtype} with shape {arr.shape}."
        )
    arr = arr.astype(np.float64, copy=False)
    if arr.shape[0] == 0:
        raise InputError(f"The {name!r} parameter of {where} has no rows; give at least one item.")
    if n_classes is not None and arr.shape[1] != n_classes:
        raise InputError(
            f"The {name!r} parameter of {where} has {arr.shape[1]} columns but {n_classes} classes "
            "were given; the columns must follow the classes."
        )
    if not np.all(np.isfinite(arr)) or arr.min() < 0 or arr.max() > 1 + 1e-6:
        raise InputError(
            f"The {name!r} parameter of {where} must hold probabilities in [0, 1]; got values from "
            f"{np.nanmin(arr)} to {np.nanmax(arr)}."
        )
    sums = arr.sum(axis=1)
    bad = np.flatnonzero(np.abs(sums - 1.0) > 1e-3)
    if bad.size:
        raise InputError(
            f"The {name!r} parameter of {where} must have rows summing to 1; row {bad[0]} sums to "
            f"{sums[bad[0]]:.6g}. Pass predict_proba output, not scores."
        )
    return arr


def _check_classes(classes, where, name="classes"):
    """Return ``classes`` as a 1-D array of distinct labels."""
    arr = np.asarray(classes)
    if arr.ndim != 1 or arr.shape[0] < 1:
        raise InputError(
            f"The {name!r} parameter of {where} must be a non-empty 1-D list of class labels. "
            f"Got shape {arr.shape}."
        )
    if len(set(arr.tolist())) != arr.shape[0]:
        raise InputError(
            f"The {name!r} parameter of {where} has repeated class labels: {arr.tolist()}."
        )
    return arr


def _encode_labels(y, classes, where, name="y"):
    """Map labels to column indices of ``classes``; unknown labels raise :class:`InputError`.

    Integer ``y`` that is not made of class labels but lies in ``range(len(classes))`` is taken
    as column indices already.
    """
    index = {c: i for i, c in enumerate(classes.tolist())}
    values = y.tolist()
    try:
        return np.fromiter((index[v] for v in values), dtype=np.intp, count=len(values))
    except (KeyError, TypeError):
        pass
    if y.dtype.kind in "iu" and (y.size == 0 or (y.min() >= 0 and y.max() < len(classes))):
        return y.astype(np.intp)
    unknown = sorted({str(v) for v in values if v not in index})
    raise InputError(
        f"The {name!r} parameter of {where} has labels that are not among the classes "
        f"{classes.tolist()}: {unknown[:5]}. Add the class to the project or fix the label."
    )


def _check_int(value, where, name, low, high=None):
    """Return ``value`` as an int in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputError(
            f"The {name!r} parameter of {where} must be an integer. Got {value!r} "
            f"({type(value).__name__})."
        )
    if value < low or (high is not None and value > high):
        span = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise InputError(f"The {name!r} parameter of {where} must be {span}. Got {value}.")
    return int(value)


def _check_fraction(value, where, name, low=0.0, high=1.0, inclusive=True):
    """Return ``value`` as a float in ``[low, high]`` (or the open interval)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(
            f"The {name!r} parameter of {where} must be a number. Got {value!r} "
            f"({type(value).__name__})."
        )
    v = float(value)
    ok = (low <= v <= high) if inclusive else (low < v < high)
    if not ok:
        br = "[]" if inclusive else "()"
        raise InputError(
            f"The {name!r} parameter of {where} must be in {br[0]}{low}, {high}{br[1]}. Got {value}."
        )
    return v
