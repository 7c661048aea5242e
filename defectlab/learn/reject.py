"""The reject band: which predictions a person should look at.

A prediction is *accepted* automatically when its confidence (the largest class probability) is at
least the run's threshold; otherwise it *needs review*. The threshold is chosen on out-of-fold
predictions so that the accepted items reach a target accuracy, while accepting as many as possible.

Small-sample guard: the accuracy of an accepted set is estimated as ``correct / (accepted + 1)``, as if
one more, unseen, item had been wrong. A perfect record on 20 items therefore counts as 95.2%, not
100%, and claiming 99% needs at least 99 correct accepted items.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

from defectlab._validation import (
    _check_classes,
    _check_float,
    _check_labels,
    _check_pred_probs,
    _encode_labels,
)

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from defectlab._typing import ArrayLike

__all__ = ["CoverageCurve", "ThresholdChoice", "choose_threshold", "coverage_curve", "needs_review"]

#: A threshold above every possible confidence: nothing is accepted.
NEVER = float(np.nextafter(1.0, 2.0))


@dataclass(frozen=True)
class ThresholdChoice:
    """The chosen reject threshold and what it gives on the out-of-fold predictions.

    Attributes
    ----------
    threshold : float
        Accept a prediction when ``confidence >= threshold``. Slightly above 1 when the target cannot
        be reached: then every prediction needs review.
    coverage : float
        Fraction of items accepted.
    accuracy_on_accepted : float or None
        Plain accuracy of the accepted items (None when none is accepted).
    target_accuracy : float
    reached : bool
        Whether some threshold reaches the target (with the small-sample guard).
    n_accepted : int
    """

    threshold: float
    coverage: float
    accuracy_on_accepted: float | None
    target_accuracy: float
    reached: bool
    n_accepted: int

    def to_dict(self):
        """A JSON-able dict."""
        return asdict(self)


@dataclass(frozen=True)
class CoverageCurve:
    """Coverage and accuracy of the accepted items at each threshold (for the UI slider).

    Attributes
    ----------
    thresholds : list of float
    coverage : list of float
    accuracy : list of float or None
        None where nothing is accepted.
    """

    thresholds: list
    coverage: list
    accuracy: list

    def to_dict(self):
        """A JSON-able dict."""
        return asdict(self)


def _correct_and_confidence(y_true, pred_probs, classes, where):
    pred_probs = _check_pred_probs(pred_probs, where)
    y_true = _check_labels(y_true, where, name="y_true", n_samples=pred_probs.shape[0])
    # classes=None: the column indices
    n_columns = pred_probs.shape[1] if classes is None else None
    classes = _check_classes(classes, where, n_classes=n_columns)
    pred_probs = _check_pred_probs(pred_probs, where, n_classes=len(classes))
    t = _encode_labels(y_true, classes, where, name="y_true", allow_codes=True)
    p = np.argmax(pred_probs, axis=1)
    return t == p, pred_probs[np.arange(t.size), p]


def choose_threshold(y_true: ArrayLike, pred_probs: ArrayLike, target_accuracy: float = 0.99,
                     classes: Sequence[str] | None = None) -> ThresholdChoice:
    """The smallest confidence threshold whose accepted items reach ``target_accuracy``.

    Parameters
    ----------
    y_true : (N,) array-like
        Labels (values of ``classes``) or column indices when ``classes`` is None.
    pred_probs : (N, C) array-like of float
        Out-of-fold probabilities.
    target_accuracy : float, default=0.99
    classes : (C,) array-like or None

    Returns
    -------
    ThresholdChoice

    Examples
    --------
    >>> probs = [[0.99, 0.01]] * 99 + [[0.6, 0.4]]
    >>> choice = choose_threshold([0] * 99 + [1], probs, target_accuracy=0.99)
    >>> choice.threshold, choice.coverage
    (0.99, 0.99)
    """
    where = "choose_threshold"
    target = _check_float(target_accuracy, where, "target_accuracy", 0.0, 1.0)
    correct, conf = _correct_and_confidence(y_true, pred_probs, classes, where)
    order = np.argsort(-conf, kind="stable")
    conf_sorted, correct_sorted = conf[order], correct[order]
    n_acc = np.arange(1, conf.size + 1)
    n_ok = np.cumsum(correct_sorted)
    # Only cut between distinct confidences: a threshold accepts all ties together.
    last_of_tie = np.r_[conf_sorted[1:] != conf_sorted[:-1], True]
    guarded = n_ok / (n_acc + 1.0)
    ok = last_of_tie & (guarded >= target - 1e-12)
    if not ok.any():
        return ThresholdChoice(NEVER, 0.0, None, target, False, 0)
    k = int(np.flatnonzero(ok)[-1])  # the most items accepted = the smallest threshold
    return ThresholdChoice(
        threshold=float(conf_sorted[k]),
        coverage=float((k + 1) / conf.size),
        accuracy_on_accepted=float(n_ok[k] / (k + 1)),
        target_accuracy=target,
        reached=True,
        n_accepted=k + 1,
    )


def coverage_curve(y_true: ArrayLike, pred_probs: ArrayLike, classes: Sequence[str] | None = None,
                   thresholds: ArrayLike | None = None) -> Any:
    """Coverage and accuracy of the accepted items as the threshold moves.

    Parameters
    ----------
    y_true, pred_probs, classes
        As in :func:`choose_threshold`.
    thresholds : (T,) array-like of float or None
        Defaults to 0.00, 0.01, ..., 1.00.

    Returns
    -------
    CoverageCurve

    Examples
    --------
    >>> c = coverage_curve([0, 1], [[0.9, 0.1], [0.7, 0.3]], thresholds=[0.5, 0.8, 0.95])
    >>> c.coverage, c.accuracy
    ([1.0, 0.5, 0.0], [0.5, 1.0, None])
    """
    correct, conf = _correct_and_confidence(y_true, pred_probs, classes, "coverage_curve")
    if thresholds is None:
        thresholds = np.round(np.linspace(0.0, 1.0, 101), 2)
    thresholds = np.asarray(thresholds, dtype=np.float64).ravel()
    order = np.argsort(conf, kind="stable")
    conf_sorted = conf[order]
    ok_from = np.r_[np.cumsum(correct[order][::-1])[::-1], 0]  # correct among sorted[i:]
    start = np.searchsorted(conf_sorted, thresholds, side="left")  # first accepted position
    n_acc = conf.size - start
    acc = [float(ok_from[s] / n) if n else None for s, n in zip(start.tolist(), n_acc.tolist(), strict=True)]
    return CoverageCurve(
        thresholds=thresholds.tolist(),
        coverage=(n_acc / conf.size).tolist(),
        accuracy=acc,
    )


def needs_review(pred_probs: ArrayLike, threshold: float) -> np.ndarray:
    """Which predictions a person should look at, (N,) bool: ``max(pred_probs) < threshold``."""
    pred_probs = _check_pred_probs(pred_probs, "needs_review")
    return pred_probs.max(axis=1) < float(threshold)
