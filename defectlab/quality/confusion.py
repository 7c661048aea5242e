"""Misclassification views: the items behind each cell of a run's confusion matrix.

For out-of-fold predictions, cell ``(given, predicted)`` counts the items labeled ``given`` that the
model called ``predicted``; :func:`confusion_items` lists them, most confident first, so a reviewer
can open "labeled crazing, predicted rolled-in_scale" and look at the worst cases first.

Data in, data out: labels and out-of-fold probabilities in, tables out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from defectlab._validation import (
    _check_classes,
    _check_pred_probs,
    _encode_labels,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from defectlab._typing import ArrayLike

__all__ = ["confusion_counts", "confusion_items"]

_COLUMNS = ["index", "given", "predicted", "confidence", "p_given", "correct"]


def _prepare(labels, pred_probs, classes, where):
    P = _check_pred_probs(pred_probs, where, renormalize=True)
    classes = _check_classes(classes, where, n_classes=P.shape[1])
    codes = _encode_labels(labels, classes, where, n_samples=P.shape[0],
                           against="pred_probs/features have {n} rows")
    return P, classes, codes


def confusion_counts(labels: ArrayLike, pred_probs: ArrayLike, classes: Sequence[str] | None = None) -> pd.DataFrame:
    """The confusion matrix of the predictions, as a table.

    Parameters
    ----------
    labels : (N,) array-like
        Given labels (class names, or int codes when ``classes`` is None).
    pred_probs : (N, K) array-like of float
        Out-of-fold probabilities, columns in ``classes`` order; the prediction is the argmax.
    classes : sequence of K names or None

    Returns
    -------
    pandas.DataFrame
        ``K x K`` int counts: rows = given label (index named "given"), columns = predicted
        (named "predicted"), both in ``classes`` order.

    Examples
    --------
    >>> cm = confusion_counts(["a", "a", "b"], [[0.9, 0.1], [0.2, 0.8], [0.3, 0.7]], ["a", "b"])
    >>> cm.values.tolist()
    [[1, 1], [0, 1]]
    """
    P, classes, codes = _prepare(labels, pred_probs, classes, "confusion_counts")
    K = len(classes)
    pred = P.argmax(axis=1)
    counts = np.bincount(codes * K + pred, minlength=K * K).reshape(K, K)
    return pd.DataFrame(counts, index=pd.Index(classes, name="given"),
                        columns=pd.Index(classes, name="predicted"))


def confusion_items(labels: ArrayLike, pred_probs: ArrayLike, classes: Sequence[str] | None = None, *,
                    given: str | None = None, predicted: str | None = None,
                    include_correct: bool = False) -> pd.DataFrame:
    """The items behind the confusion-matrix cells, most confident mistakes first.

    Parameters
    ----------
    labels : (N,) array-like
        Given labels (class names, or int codes when ``classes`` is None).
    pred_probs : (N, K) array-like of float
        Out-of-fold probabilities, columns in ``classes`` order.
    classes : sequence of K names or None
    given, predicted : class name or None
        Keep only this row / column of the matrix (``None`` = all).
    include_correct : bool, default=False
        Also list the diagonal (correctly predicted items).

    Returns
    -------
    pandas.DataFrame
        Columns ``index`` (int), ``given``, ``predicted`` (class names), ``confidence`` (float,
        the probability of ``predicted``), ``p_given`` (float, the probability of the given label),
        ``correct`` (bool). Sorted by cell (given, then predicted, in ``classes`` order), then
        ``confidence`` highest first, then ``index``.

    Examples
    --------
    >>> probs = [[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.3, 0.7]]
    >>> df = confusion_items(["a", "a", "a", "b"], probs, ["a", "b"], given="a", predicted="b")
    >>> df["index"].tolist(), df["confidence"].tolist()
    ([1, 2], [0.8, 0.6])
    """
    where = "confusion_items"
    P, classes, codes = _prepare(labels, pred_probs, classes, where)
    n = P.shape[0]
    pred = P.argmax(axis=1)
    keep = np.ones(n, dtype=bool) if include_correct else pred != codes
    if given is not None:
        keep &= codes == _encode_labels([given], classes, where, name="given")[0]
    if predicted is not None:
        keep &= pred == _encode_labels([predicted], classes, where, name="predicted")[0]
    idx = np.flatnonzero(keep)
    conf = P[idx, pred[idx]]
    order = np.lexsort((idx, -conf, pred[idx], codes[idx]))
    idx, conf = idx[order], conf[order]
    cls = np.asarray(classes, dtype=object)
    return pd.DataFrame({
        "index": idx,
        "given": cls[codes[idx]],
        "predicted": cls[pred[idx]],
        "confidence": conf,
        "p_given": P[idx, codes[idx]],
        "correct": pred[idx] == codes[idx],
    }, columns=_COLUMNS)
