"""Metrics of a set of (out-of-fold) predictions, as plain JSON-able numbers.

``evaluate`` is data in, data out: labels and class probabilities, never a model. Everything it returns
is a Python ``float`` / ``int`` / ``str`` / ``list`` / ``dict`` (``None`` where a number is undefined,
e.g. kappa when every item has the same grade), so it can go straight into the run registry and the CLI.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np
from sklearn.metrics import (
    balanced_accuracy_score,
    cohen_kappa_score,
    confusion_matrix,
    f1_score,
    log_loss,
    precision_recall_fscore_support,
)

from defectlab._validation import (
    _check_classes,
    _check_labels,
    _check_pred_probs,
    _encode_labels,
)
from defectlab.errors import InputError
from defectlab.messages import msg

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from defectlab._typing import ArrayLike

__all__ = ["HEADLINE_KEYS", "evaluate", "expected_calibration_error"]

#: The numbers a run summary shows first (``evaluate`` returns these and more).
HEADLINE_KEYS = ("accuracy", "balanced_accuracy", "macro_f1")


def _float(x):
    x = float(x)
    return None if not np.isfinite(x) else x


def expected_calibration_error(correct, confidence, n_bins=15):
    """Expected calibration error: the gap between confidence and accuracy, weighted by bin size.

    Parameters
    ----------
    correct : (N,) array-like of bool
        Whether each prediction was right.
    confidence : (N,) array-like of float
        The probability given to the predicted class.
    n_bins : int, default=15
        Equal-width confidence bins ``(k/n_bins, (k+1)/n_bins]``.

    Returns
    -------
    float
        ``sum_b |B_b|/N * |accuracy(B_b) - mean confidence(B_b)|``, 0 = perfectly calibrated.

    Examples
    --------
    >>> expected_calibration_error([True, False], [0.9, 0.9])
    0.4
    """
    correct = np.asarray(correct, dtype=np.float64)
    confidence = np.asarray(confidence, dtype=np.float64)
    if correct.shape != confidence.shape or correct.ndim != 1 or correct.size == 0:
        raise InputError(
            msg("error.metrics.expected_calibration_error_needs",
                "expected_calibration_error needs two 1-D arrays of the same non-zero length; got "
                "shapes {shape} and {shape2}.",
                shape=correct.shape, shape2=confidence.shape)
        )
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)
    n = np.bincount(bins, minlength=n_bins).astype(np.float64)
    acc = np.bincount(bins, weights=correct, minlength=n_bins)
    conf = np.bincount(bins, weights=confidence, minlength=n_bins)
    used = n > 0
    gap = np.abs(acc[used] - conf[used])  # sums: |sum correct - sum conf| = n_b * |acc_b - conf_b|
    return float(round(gap.sum() / correct.size, 12))


def evaluate(y_true: ArrayLike, pred_probs: ArrayLike, classes: Sequence[str], ordinal: bool = False,
             cost_matrix: ArrayLike | None = None) -> dict[str, Any]:
    """Score class probabilities against the labels.

    Parameters
    ----------
    y_true : (N,) array-like
        The labels (values of ``classes``; integer column indices are accepted too).
    pred_probs : (N, C) array-like of float
        Probabilities, columns in the order of ``classes``; the prediction is the arg-max.
    classes : (C,) array-like
        Class labels; for ``ordinal`` projects in grade order.
    ordinal : bool, default=False
        Add the grade metrics ``mae``, ``within_one`` and ``qwk``.
    cost_matrix : (C, C) array-like of float or None
        ``cost_matrix[t][p]`` = cost of predicting class ``p`` for an item of class ``t``; adds
        ``expected_cost`` (mean cost per item) and ``total_cost``.

    Returns
    -------
    dict
        ``n_items``, ``n_classes``, ``classes``, ``accuracy``, ``balanced_accuracy``, ``macro_f1``,
        ``per_class`` ({class: {precision, recall, f1, support}}), ``confusion_matrix`` (list of lists,
        rows = true class, columns = predicted, in the order of ``classes``), ``log_loss``, ``ece``;
        and ``mae`` (grade steps), ``within_one``, ``qwk`` (quadratic weighted kappa) when
        ``ordinal``; ``expected_cost``, ``total_cost`` with a cost matrix.

    Examples
    --------
    >>> m = evaluate(["a", "b"], [[0.9, 0.1], [0.6, 0.4]], ["a", "b"])
    >>> m["accuracy"], m["confusion_matrix"]
    (0.5, [[1, 0], [1, 0]])
    """
    classes = _check_classes(classes, "evaluate")
    n_classes = len(classes)
    pred_probs = _check_pred_probs(pred_probs, "evaluate", n_classes=n_classes)
    y_true = _check_labels(y_true, "evaluate", name="y_true", n_samples=pred_probs.shape[0])
    t = _encode_labels(y_true, classes, "evaluate", name="y_true", allow_codes=True)
    p = np.argmax(pred_probs, axis=1)
    labels = np.arange(n_classes)
    correct = t == p
    confidence = pred_probs[np.arange(t.size), p]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "y_pred contains classes not in y_true" and the like
        prec, rec, f1, support = precision_recall_fscore_support(
            t, p, labels=labels, zero_division=0
        )
        present = np.union1d(t, p)
        out = {
            "n_items": int(t.size),
            "n_classes": int(n_classes),
            "classes": list(classes),
            "accuracy": float(correct.mean()),
            "balanced_accuracy": float(balanced_accuracy_score(t, p)),
            # macro over the classes that occur (labeled or predicted), as scikit-learn does
            "macro_f1": float(f1_score(t, p, labels=present, average="macro", zero_division=0)),
            "per_class": {
                str(c): {
                    "precision": float(prec[i]),
                    "recall": float(rec[i]),
                    "f1": float(f1[i]),
                    "support": int(support[i]),
                }
                for i, c in enumerate(classes)
            },
            "confusion_matrix": confusion_matrix(t, p, labels=labels).tolist(),
            "log_loss": _float(log_loss(t, pred_probs, labels=labels)),
            "ece": expected_calibration_error(correct, confidence, n_bins=15),
        }
        if ordinal:
            steps = np.abs(p - t)
            out["mae"] = float(steps.mean())
            out["within_one"] = float((steps <= 1).mean())
            out["qwk"] = _float(cohen_kappa_score(t, p, labels=labels, weights="quadratic"))
    if cost_matrix is not None:
        cost = np.asarray(cost_matrix, dtype=np.float64)
        if cost.shape != (n_classes, n_classes) or not np.all(np.isfinite(cost)):
            raise InputError(
                msg("error.metrics.cost_matrix_parameter_evaluate",
                    "The 'cost_matrix' parameter of evaluate must be a finite ({n_classes}, "
                    "{n_classes}) array (rows = true class, columns = predicted). Got shape {shape}.",
                    n_classes=n_classes, shape=cost.shape)
            )
        per_item = cost[t, p]
        out["expected_cost"] = float(per_item.mean())
        out["total_cost"] = float(per_item.sum())
    return out
