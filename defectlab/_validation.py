"""The one input validator shared by the packages of defectlab (private module).

Every public function checks its arguments here, first, before any heavy work (scikit-learn's
``check_array``, cleanlab's ``assert_valid_inputs``). Each check returns the value in the form the
caller computes with, or raises :class:`~defectlab.errors.InputError` with the project's message
template: what, where (``The 'name' parameter of where``), what was received, and the fix.

NumPy only: importing this module imports no scikit-learn, pandas or OpenCV. Image batches have their
own checks in :mod:`defectlab.features._validate`.

Language: the messages carry catalog keys, but their fragments (the parameter's name, ``{span}``, the fix
naming a Python call) stay English inside the translated sentence. That is on purpose: these checks fire only
for API misuse (a program calling a public function wrongly); the app passes only values from bounded widgets
(``tests/test_i18n_nested.py::test_developer_only_validation_messages_cannot_be_reached_from_a_page``).
"""

import numbers

import numpy as np

from defectlab.errors import InputError
from defectlab.messages import msg

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
            msg("error.validation.parameter_must_integer_got",
                "The {name} parameter of {where} must be an integer {span}. Got {value} of type "
                "{name2}.",
                name=repr(name), where=where, span=span, value=repr(value), name2=type(value).__name__)
        )
    if value < low or (high is not None and value > high):
        words = f">= {low}" if high is None else f">= {low} and <= {high}"
        raise InputError(
            msg("error.validation.parameter_must_got_pass",
                "The {name} parameter of {where} must be {span}. Got {value}. Pass an integer "
                "{words}.",
                name=repr(name), where=where, span=span, value=repr(value), words=words)
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
            msg("error.validation.parameter_must_number_got",
                "The {name} parameter of {where} must be a number in {span}. Got {got}.",
                name=repr(name), where=where, span=span, got=got)
        )
    return float(value)


def _check_choice(value, where, name, choices):
    """Return ``value`` if it is one of the strings ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise InputError(
            msg("error.validation.parameter_must_one_got",
                "The {name} parameter of {where} must be one of {list_choices}. Got {value}.",
                name=repr(name), where=where, list_choices=list(choices), value=repr(value))
        )
    return value


def _check_mask(mask, where, name, n_samples):
    """Return an ``(n_samples,)`` bool mask (``None``: all True)."""
    if mask is None:
        return np.ones(n_samples, dtype=bool)
    arr = np.asarray(mask)
    if arr.dtype != bool or arr.shape != (n_samples,):
        raise InputError(
            msg("error.validation.parameter_must_boolean_array",
                "The {name} parameter of {where} must be a boolean array of shape ({n_samples},). "
                "Got dtype {dtype} with shape {shape}.",
                name=repr(name), where=where, n_samples=n_samples, dtype=arr.dtype, shape=arr.shape)
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
            msg("error.validation.parameter_must_d_numeric_2",
                "The {name} parameter of {where} must be a 2-D numeric array (n_samples, "
                "n_features); it could not be converted ({exc}).",
                name=repr(name), where=where, exc=exc)
        ) from None
    if arr.ndim != 2 or arr.dtype.kind not in "biuf":
        raise InputError(
            msg("error.validation.parameter_must_d_numeric",
                "The {name} parameter of {where} must be a 2-D numeric array (n_samples, "
                "n_features). Got dtype {dtype} with shape {shape}.",
                name=repr(name), where=where, dtype=arr.dtype, shape=arr.shape)
        )
    if 0 in arr.shape:
        raise InputError(
            msg("error.validation.parameter_empty_shape_give",
                "The {name} parameter of {where} is empty (shape {shape}); give at least one row and "
                "one column.",
                name=repr(name), where=where, shape=arr.shape)
        )
    if n_samples is not None and arr.shape[0] != n_samples:
        raise InputError(
            msg("error.validation.parameter_has_rows_but",
                "The {name} parameter of {where} has {arr_shape_0} rows but there are {n_samples} "
                "items; give one feature row per item, in the same order.",
                name=repr(name), where=where, arr_shape_0=arr.shape[0], n_samples=n_samples)
        )
    # float32 features would give float32 probabilities (rows off 1 by ~1e-7) in scikit-learn
    if not (allow_float32 and arr.dtype == np.float32):
        arr = arr.astype(np.float64, copy=False)
    if not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise InputError(
            msg("error.validation.parameter_must_finite_row",
                "The {name} parameter of {where} must be finite; row {bad_0}, column {bad_1} is "
                "{arr_bad_0_bad_1}. Recompute the features or drop that item.",
                name=repr(name), where=where, bad_0=bad[0], bad_1=bad[1], arr_bad_0_bad_1=arr[bad[0], bad[1]])
        )
    if n_features is not None and arr.shape[1] != n_features:
        raise InputError(
            msg("error.validation.parameter_has_columns_but",
                "The {name} parameter of {where} has {arr_shape_1} columns but the model was fitted "
                "on {n_features}. Use the same feature spec as the training run.",
                name=repr(name), where=where, arr_shape_1=arr.shape[1], n_features=n_features)
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
            msg("error.validation.parameter_must_d_one",
                "The {name} parameter of {where} must be 1-D (one label per item). Got shape {shape}.",
                name=repr(name), where=where, shape=arr.shape)
        )
    if n_samples is not None and arr.shape[0] != n_samples:
        raise InputError(
            msg("error.validation.parameter_has_labels_but",
                "The {name} parameter of {where} has {arr_shape_0} labels but "
                "{against_format_n_n_sampl}; give one label per row.",
                name=repr(name),
                where=where,
                arr_shape_0=arr.shape[0],
                against_format_n_n_sampl=against.format(n=n_samples))
        )
    if not allow_missing:
        missing = np.flatnonzero(_missing(arr))
        if missing.size:
            raise InputError(
                msg("error.validation.parameter_has_missing_label",
                    "The {name} parameter of {where} has a missing label at position {missing_0}; "
                    "drop unlabeled items first.",
                    name=repr(name), where=where, missing_0=missing[0])
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
            msg("error.validation.parameter_must_non_empty",
                "The {name} parameter of {where} must be a non-empty 1-D list of class names in the "
                "order of the pred_probs columns. Got shape {shape}.",
                name=repr(name), where=where, shape=arr.shape)
        )
    out = arr.tolist()
    if n_classes is not None and len(out) != n_classes:
        raise InputError(
            msg("error.validation.parameter_has_names_but",
                "The {name} parameter of {where} has {len_out} names but pred_probs has {n_classes} "
                "columns; give one name per column, in column order.",
                name=repr(name), where=where, len_out=len(out), n_classes=n_classes)
        )
    if len(set(out)) != len(out):
        dup = next(c for c in out if out.count(c) > 1)
        raise InputError(
            msg("error.validation.parameter_has_repeated_class",
                "The {name} parameter of {where} has repeated class labels {out}: it must hold "
                "distinct names; {dup} appears twice. Give each class once, in column order.",
                name=repr(name), where=where, out=out, dup=repr(dup))
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
        msg("error.validation.parameter_holds_position_which",
            "The {name} parameter of {where} holds {values_first} at position {first}, which is not "
            "one of the classes {classes} (labels not among the classes: "
            "{join_unknown_5}{if_len_unknown_5_else}). Fix the label, add the class to the project, "
            "or pass the project's classes in pred_probs column order.",
            name=repr(name),
            where=where,
            values_first=repr(values[first]),
            first=first,
            classes=classes,
            join_unknown_5=', '.join(unknown[:5]),
            if_len_unknown_5_else=', ...' if len(unknown) > 5 else '')
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
            msg("error.validation.parameter_must_numeric_array_2",
                "The {name} parameter of {where} must be a numeric array (n_samples, n_classes); it "
                "could not be converted ({exc}).",
                name=repr(name), where=where, exc=exc)
        ) from None
    if arr.dtype.kind not in "biuf":
        raise InputError(
            msg("error.validation.parameter_must_numeric_array",
                "The {name} parameter of {where} must be a numeric array (n_samples, n_classes). Got "
                "dtype {dtype} with shape {shape}.",
                name=repr(name), where=where, dtype=arr.dtype, shape=arr.shape)
        )
    arr = arr.astype(np.float64, copy=False)
    if arr.ndim not in ((2, 3) if allow_stack else (2,)) or arr.shape[-1] < 2 or arr.shape[-2] == 0:
        shape = "(n_samples, n_classes) or (n_models, n_samples, n_classes)" if allow_stack else (
            "(n_samples, n_classes)")
        raise InputError(
            msg("error.validation.parameter_must_have_shape",
                "The {name} parameter of {where} must have shape {shape} with at least 2 classes and "
                "1 sample. Got shape {shape2}.",
                name=repr(name), where=where, shape=shape, shape2=arr.shape)
        )
    if n_classes is not None and arr.shape[-1] != n_classes:
        raise InputError(
            msg("error.validation.parameter_has_columns_but_2",
                "The {name} parameter of {where} has {arr_shape_1} columns but {n_classes} classes "
                "were given; the columns must follow the classes.",
                name=repr(name), where=where, arr_shape_1=arr.shape[-1], n_classes=n_classes)
        )

    def row(pos):
        pos = [int(v) for v in pos]
        return f"row {pos[-1]}" + (f" of model {pos[0]}" if len(pos) == 2 else "")

    finite = np.isfinite(arr)
    if not finite.all():
        bad = np.argwhere(~finite)[0]
        raise InputError(
            msg("error.validation.parameter_must_hold_probabilities",
                "The {name} parameter of {where} must hold probabilities in [0, 1]; {row_bad_1} "
                "holds {arr_tuple_bad}. Pass predict_proba output.",
                name=repr(name), where=where, row_bad_1=row(bad[:-1]), arr_tuple_bad=arr[tuple(bad)])
        )
    if arr.min() < 0 or arr.max() > 1 + 1e-6:
        raise InputError(
            msg("error.validation.parameter_must_hold_probabilities_2",
                "The {name} parameter of {where} must hold probabilities in [0, 1]; got values from "
                "{arr_min:.4g} to {arr_max:.4g}. Pass predict_proba output.",
                name=repr(name), where=where, arr_min=arr.min(), arr_max=arr.max())
        )
    sums = arr.sum(axis=-1)
    bad = np.argwhere(np.abs(sums - 1.0) > 1e-3)
    if bad.size:
        raise InputError(
            msg("error.validation.parameter_must_have_rows",
                "The {name} parameter of {where} must have rows summing to 1; {row_bad_0} sums to "
                "{sums_tuple_bad_0:.6g}. Pass predict_proba output, not raw scores.",
                name=repr(name), where=where, row_bad_0=row(bad[0]), sums_tuple_bad_0=sums[tuple(bad[0])])
        )
    if renormalize:
        arr = arr / sums[..., None]
    if allow_stack and arr.ndim == 2:
        arr = arr[None]
    return arr
