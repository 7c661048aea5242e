"""Honest evaluation: out-of-fold (OOF) class probabilities by stratified, optionally grouped, k-fold.

Every item is scored by a model that never saw it (nor, with ``groups``, any other crop of the same
source image / coil). These OOF probabilities feed the metrics, the reject band and the label-issue
review. Small or uneven label sets never crash: what cannot be evaluated properly is said in
``OOFResult.warnings``.

Use of the two cores: the folds (and, with ``refit``, the final model) run two at a time in threads,
each model single-threaded (LightGBM, LAPACK and libsvm release the GIL). Measured on the shared
2-core machine, one LightGBM fit with two OpenMP threads was 7-30x *slower* than with one (OpenMP
threads spin-wait for a core another process holds), while two single-threaded fits side by side use
both cores fully; it also makes the result independent of ``n_jobs``.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.model_selection import (
    GroupKFold,
    KFold,
    StratifiedGroupKFold,
    StratifiedKFold,
    train_test_split,
)
from threadpoolctl import threadpool_limits

from defectlab._validation import _check_features, _check_int, _check_labels
from defectlab.errors import InputError
from defectlab.learn.models import DEFAULT_MODEL, MODEL_NAMES, SharedBins, make_model
from defectlab.messages import msg

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from defectlab._typing import ArrayLike, RandomState

__all__ = ["OOFResult", "cross_val_oof", "make_folds", "resolve_model"]


@dataclass
class OOFResult:
    """Out-of-fold predictions of :func:`cross_val_oof`.

    Attributes
    ----------
    pred_probs : (N, C) ndarray of float64
        Row ``i`` comes from a model that did not train on item ``i``; columns follow ``classes``.
    classes : (C,) ndarray
        Sorted distinct labels.
    fold_ids : (N,) ndarray of int
        The fold each item was scored in, ``-1`` for hold-out items.
    warnings : list of str
        Plain-language notes on what could not be evaluated properly (rare classes, few groups).
    fit_seconds : float
        Wall time of all the fits.
    n_splits : int
        Folds actually used (may be fewer than asked for, see ``warnings``).
    holdout_mask : (N,) ndarray of bool
        Items kept out of the cross-validation and scored by a model fitted on all the others.
    model : estimator or None
        With ``refit=True``: the model fitted on all N items (hold-out included), else None.
    """

    pred_probs: np.ndarray
    classes: np.ndarray
    fold_ids: np.ndarray
    warnings: list = field(default_factory=list)
    fit_seconds: float = 0.0
    n_splits: int = 0
    holdout_mask: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    model: object = None


def resolve_model(model, random_state=0, n_jobs=2):
    """An unfitted estimator from a model name, ``None`` (the default model) or an estimator."""
    if model is None:
        model = DEFAULT_MODEL
    if isinstance(model, str):
        if model not in MODEL_NAMES:
            raise InputError(
                msg("error.cv.model_parameter_must_one",
                    "The 'model' parameter must be one of {list_model_names} or an estimator. Got "
                    "{model}.",
                    list_model_names=list(MODEL_NAMES), model=repr(model))
            )
        return make_model(model, random_state=random_state, n_jobs=n_jobs)
    if not (hasattr(model, "fit") and hasattr(model, "predict_proba")):
        raise InputError(
            msg("error.cv.model_parameter_must_model",
                "The 'model' parameter must be a model name or a classifier with fit and "
                "predict_proba. Got {name}.",
                name=type(model).__name__)
        )
    return model


def _single_thread(estimator):
    """A clone of ``estimator`` with every ``n_jobs`` parameter set to 1."""
    est = clone(estimator)
    params = {
        k: 1 for k, v in est.get_params(deep=True).items()
        if (k == "n_jobs" or k.endswith("__n_jobs")) and v is not None
    }
    if params:
        est.set_params(**params)
    return est


def _count_warnings(y, classes, n_splits):
    notes = []
    _, counts = np.unique(y, return_counts=True)
    for c, n in zip(classes.tolist(), counts.tolist(), strict=True):
        if n == 1:
            notes.append(msg("learn.note.single_item", "Class {cls} has a single labeled item: it cannot be "
                             "evaluated (when it is scored, no example of its class is left to learn from). Label "
                             "more items of this class.", cls=repr(c)))
        elif n < n_splits:
            notes.append(msg("learn.note.fewer_than_folds", "Class {cls} has only {n} labeled items, fewer than "
                             "the {folds} folds: some folds train without it and its out-of-fold scores are "
                             "pessimistic. Label more items of this class.", cls=repr(c), n=n, folds=n_splits))
    return notes


def make_folds(y: ArrayLike, groups: ArrayLike | None = None, n_splits: int = 5,
               random_state: RandomState = 0) -> tuple[np.ndarray, int, list[str]]:
    """Assign each item to a fold: stratified by label, and by group when ``groups`` is given.

    Parameters
    ----------
    y : (N,) array-like of labels
    groups : (N,) array-like or None
        Items with the same group (the source image of a crop, a coil) land in the same fold.
    n_splits : int, default=5
    random_state : int, default=0

    Returns
    -------
    fold_ids : (N,) ndarray of int
        Values in ``range(n_used)``.
    n_used : int
        Folds used: fewer than asked when there are fewer items or groups than folds.
    notes : list of str
        Plain-language warnings.
    """
    y = _check_labels(y, "make_folds", name="y")
    n_splits = _check_int(n_splits, "make_folds", "n_splits", 2)
    n = y.shape[0]
    notes = []
    if groups is not None:
        groups = _check_labels(groups, "make_folds", name="groups", n_samples=n)
        _, g_codes = np.unique(groups, return_inverse=True)
        n_units = int(g_codes.max()) + 1
    else:
        g_codes, n_units = None, n
    if n_units < 2:
        if groups is not None:
            raise InputError(msg("error.cv.groups_too_few", "Cross-validation needs at least 2 groups (source "
                                 "images / coils); got {n}. Add more labeled items from other source images.",
                                 n=n_units))
        raise InputError(msg("error.cv.items_too_few", "Cross-validation needs at least 2 items; got {n}. Add "
                             "more labeled items.", n=n_units))
    if n_units < n_splits:
        notes.append(msg("learn.note.few_groups", "Only {n} groups (source images / coils): using {n} folds "
                         "instead of {folds}.", n=n_units, folds=n_splits) if groups is not None else
                     msg("learn.note.few_items", "Only {n} items: using {n} folds instead of {folds}.", n=n_units,
                         folds=n_splits))
        n_splits = n_units
    classes, y_enc = np.unique(y, return_inverse=True)
    counts = np.bincount(y_enc)
    if counts.max() < n_splits and groups is None:
        # StratifiedKFold refuses outright; fewer folds keeps most of the stratification.
        n_new = max(2, int(counts.max()))
        notes.append(msg("learn.note.classes_small", "Every class has fewer than {folds} items: using {n} folds "
                         "instead.", folds=n_splits, n=n_new))
        n_splits = n_new
    notes.extend(_count_warnings(y, classes, n_splits))
    fold_ids = np.full(n, -1, dtype=np.intp)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # our own notes say it in plain words
        try:
            if groups is None:
                splitter = StratifiedKFold(n_splits, shuffle=True, random_state=random_state)
                splits = list(splitter.split(np.zeros(n), y_enc))
            else:
                splitter = StratifiedGroupKFold(n_splits, shuffle=True, random_state=random_state)
                splits = list(splitter.split(np.zeros(n), y_enc, g_codes))
        except ValueError:
            if groups is None:
                splits = list(KFold(n_splits, shuffle=True, random_state=random_state).split(
                    np.zeros(n)))
            else:
                splits = list(GroupKFold(n_splits).split(np.zeros(n), y_enc, g_codes))
            notes.append(msg("learn.note.not_stratified", "The folds could not be stratified by class; they are "
                             "plain random folds."))
    for k, (_, test) in enumerate(splits):
        fold_ids[test] = k
    used = len(np.unique(fold_ids))
    if used < n_splits:  # a grouped splitter may leave a fold empty
        remap = {old: new for new, old in enumerate(np.unique(fold_ids).tolist())}
        fold_ids = np.array([remap[f] for f in fold_ids.tolist()], dtype=np.intp)
    return fold_ids, used, notes


def _holdout_mask(holdout, y, groups, random_state):
    n = y.shape[0]
    if holdout is None:
        return np.zeros(n, dtype=bool)
    arr = np.asarray(holdout)
    if arr.ndim == 0:
        frac = float(arr)
        if not 0.0 < frac < 0.9:
            raise InputError(
                msg("error.cv.holdout_parameter_cross_val_2",
                    "The 'holdout' parameter of cross_val_oof must be a fraction in (0, 0.9), a "
                    "boolean mask or item indices. Got {holdout}.",
                    holdout=repr(holdout))
            )
        if groups is not None:
            n_parts = max(2, round(1.0 / frac))
            ids, _, _ = make_folds(y, groups, n_splits=n_parts, random_state=random_state)
            return ids == 0
        _, y_enc, counts = np.unique(y, return_inverse=True, return_counts=True)
        strat = y_enc if counts.min() >= 2 else None
        _, test = train_test_split(np.arange(n), test_size=frac, stratify=strat,
                                   random_state=random_state)
        mask = np.zeros(n, dtype=bool)
        mask[test] = True
        return mask
    if arr.dtype == bool:
        if arr.shape != (n,):
            raise InputError(
                msg("error.cv.holdout_mask_cross_val",
                    "The 'holdout' mask of cross_val_oof must have shape ({n},). Got {shape}.",
                    n=n, shape=arr.shape)
            )
        return arr.copy()
    if arr.ndim == 1 and arr.dtype.kind in "iu":
        if arr.size and (arr.min() < 0 or arr.max() >= n):
            raise InputError(
                msg("error.cv.holdout_indices_cross_val",
                    "The 'holdout' indices of cross_val_oof must be in [0, {n}). Got "
                    "{arr_min}..{arr_max}.",
                    n=n, arr_min=arr.min(), arr_max=arr.max())
            )
        mask = np.zeros(n, dtype=bool)
        mask[arr] = True
        return mask
    raise InputError(
        msg("error.cv.holdout_parameter_cross_val",
            "The 'holdout' parameter of cross_val_oof must be None, a fraction, a boolean mask or "
            "item indices. Got {name}.",
            name=type(holdout).__name__)
    )


def _fit_rows(estimator, X, y, rows, bins):
    """``estimator`` fitted on the rows ``rows``: by index with the shared bins when it can take them."""
    if bins is not None and callable(getattr(estimator, "fit_rows", None)):
        return estimator.fit_rows(X, y, rows, bins=bins)
    every = rows.size == X.shape[0] and bool(np.array_equal(rows, np.arange(X.shape[0])))
    return estimator.fit(X if every else X[rows], y[rows])  # all rows: no copy of X


def _fit_predict(estimator, X, y, train, test, classes, bins=None):
    """Fit on ``train`` rows, return (N_test, C) probabilities aligned to ``classes`` and a note.

    With ``test`` None, return the fitted estimator instead (the final model). A float32 ``X`` is
    passed to the model as float32 (no float64 copy); the probabilities are returned in float64 with
    rows summing to 1. ``bins`` (a :class:`~defectlab.learn.models.SharedBins` of ``X``) goes to a
    model with a ``fit_rows`` method.
    """
    if test is None:
        return _fit_rows(estimator, X, y, train, bins), None
    out = np.zeros((test.size, classes.size))
    col = {c: i for i, c in enumerate(classes.tolist())}
    present = np.unique(y[train])
    if present.size == 1:
        out[:, col[present[0]]] = 1.0
        return out, (
            f"A training fold held only class {present[0]!r}; its items were all predicted as that "
            "class. Label more items of the other classes."
        )
    est = _fit_rows(estimator, X, y, train, bins)
    proba = np.asarray(est.predict_proba(X[test]), dtype=np.float64)
    if X.dtype == np.float32:  # float32 fits (logistic regression) give rows off 1 by ~1e-7
        proba /= proba.sum(axis=1, keepdims=True)
    out[:, [col[c] for c in est.classes_.tolist()]] = proba
    return out, None


def cross_val_oof(X: ArrayLike, y: ArrayLike, groups: ArrayLike | None = None, model: Any | None = None,
                  n_splits: int = 5, random_state: RandomState = 0, holdout: float | ArrayLike | None = None,
                  progress: Callable[..., Any] | None = None, n_jobs: int = 2, refit: bool = False) -> OOFResult:
    """Out-of-fold class probabilities by stratified (grouped) k-fold cross-validation.

    Parameters
    ----------
    X : (N, F) array-like of float
        Features. A float32 array is kept in float32 (no float64 copy: at 100,000 rows each copy is
        hundreds of MB); the models then fit on float32 (LightGBM bins it anyway; logistic regression
        fitted 2x faster at the same accuracy on ``benchmarks/scale.py``'s 80,000-row folds).
    y : (N,) array-like
        Labels.
    groups : (N,) array-like or None, default=None
        Items of one group (crops of one source image, one coil) are never on both sides of a split.
    model : str or estimator or None, default=None
        A name from :data:`~defectlab.learn.models.MODEL_NAMES`, an unfitted classifier, or None
        for the default model.
    n_splits : int, default=5
    random_state : int, default=0
        Seeds the folds (and the model when ``model`` is a name). Same data and seed give identical
        results, whatever ``n_jobs``.
    holdout : float or (N,) bool array or index array or None, default=None
        Items kept out of the cross-validation; they are scored by one model fitted on all the other
        items (``fold_ids == -1``). A fraction draws them stratified (and grouped).
    progress : callable or None
        Called as ``progress(done, total, message)`` in the calling thread after each fit.
    n_jobs : int, default=2
        Folds fitted at once (each fit single-threaded).
    refit : bool, default=False
        Also fit the model on all items, alongside the folds (``OOFResult.model``): the final model
        then costs no extra wall time on two cores.

    Returns
    -------
    OOFResult

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 3)); y = np.where(X[:, 0] > 0, "pit", "scratch")
    >>> res = cross_val_oof(X, y, model="logreg", n_splits=4)
    >>> res.pred_probs.shape, res.classes.tolist()
    ((40, 2), ['pit', 'scratch'])
    """
    X = _check_features(X, "cross_val_oof", allow_float32=True)
    y = _check_labels(y, "cross_val_oof", name="y", n_samples=X.shape[0])
    n_splits = _check_int(n_splits, "cross_val_oof", "n_splits", 2)
    n_jobs = _check_int(n_jobs, "cross_val_oof", "n_jobs", 1)
    if groups is not None:
        groups = _check_labels(groups, "cross_val_oof", name="groups", n_samples=X.shape[0])
    classes = np.unique(y)
    if classes.size < 2:
        raise InputError(
            msg("error.cv.cross_val_oof_needs",
                "cross_val_oof needs labeled items of at least 2 classes; got only {classes_tolist}. "
                "Label items of another class first.",
                classes_tolist=classes.tolist())
        )
    estimator = _single_thread(resolve_model(model, random_state=random_state, n_jobs=1))
    hold = _holdout_mask(holdout, y, groups, random_state)
    inner = np.flatnonzero(~hold)
    fold_inner, used, notes = make_folds(
        y[inner], None if groups is None else groups[inner], n_splits, random_state
    )
    fold_ids = np.full(y.shape[0], -1, dtype=np.intp)
    fold_ids[inner] = fold_inner
    jobs = [(inner[fold_inner != k], inner[fold_inner == k]) for k in range(used)]
    if hold.any():
        jobs.append((inner, np.flatnonzero(hold)))
    if refit:  # the biggest fit first, so that the folds fill the other core meanwhile
        jobs.insert(0, (np.arange(y.shape[0]), None))
        for c in np.setdiff1d(classes, y[inner]).tolist():
            notes.append(
                f"Class {c!r} has items only in the hold-out set: the model never learns it there."
            )
    pred_probs = np.zeros((y.shape[0], classes.size))
    final = None
    start = time.perf_counter()
    bins = SharedBins(X)  # LightGBM bins X once for all the fits (from LARGE_ROWS training rows on)
    with threadpool_limits(limits=1):
        runner = Parallel(n_jobs=min(n_jobs, len(jobs)), prefer="threads", return_as="generator")
        results = runner(
            delayed(_fit_predict)(clone(estimator), X, y, tr, te, classes, bins) for tr, te in jobs
        )
        for done, ((_tr, te), (proba, note)) in enumerate(zip(jobs, results, strict=True), start=1):
            if te is None:
                final = proba
            else:
                pred_probs[te] = proba
            if note and note not in notes:
                notes.append(note)
            if progress is not None:
                progress(done, len(jobs), f"fitted {done} of {len(jobs)} models")
    return OOFResult(
        pred_probs=pred_probs,
        classes=classes,
        fold_ids=fold_ids,
        warnings=notes,
        fit_seconds=time.perf_counter() - start,
        n_splits=used,
        holdout_mask=hold,
        model=final,
    )
