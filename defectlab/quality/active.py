"""What to label next: the unlabeled items the current model is least sure about, spread out.

Uncertainty alone picks 50 near-copies of the same confusing picture; ``"margin_diverse"`` takes a
pool of the most uncertain items, groups it with k-means in feature space, and picks the most
uncertain item of each group, so a batch covers different kinds of doubt.

Data in, data out: the latest model's probabilities for the unlabeled items (and their features) in,
item positions out.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from defectlab._validation import (
    _check_choice,
    _check_features,
    _check_int,
    _check_pred_probs,
)
from defectlab.errors import InputError
from defectlab.messages import msg
from defectlab.quality._standardize import _standardize

if TYPE_CHECKING:
    from defectlab._typing import ArrayLike, RandomState

__all__ = ["STRATEGIES", "rank_for_labeling", "uncertainty"]

#: Values of ``strategy`` for :func:`rank_for_labeling`.
STRATEGIES = ("margin_diverse", "margin", "entropy", "random")


def uncertainty(pred_probs: ArrayLike, method: str = "margin") -> np.ndarray:
    """How unsure the model is about each item, in [0, 1].

    Parameters
    ----------
    pred_probs : (N, K) array-like of float
        Class probabilities of unlabeled items.
    method : {"margin", "entropy"}, default="margin"
        ``"margin"``: ``1 - (p_top - p_second)``; ``"entropy"``: the entropy of the row divided by
        ``log K``.

    Returns
    -------
    (N,) ndarray of float64
        0 = certain, 1 = a coin toss between the top two classes (margin) or over all (entropy).

    Examples
    --------
    >>> uncertainty([[1.0, 0.0], [0.5, 0.5], [0.8, 0.2]]).round(3).tolist()
    [0.0, 1.0, 0.4]
    """
    where = "uncertainty"
    P = _check_pred_probs(pred_probs, where, renormalize=True)
    _check_choice(method, where, "method", ("margin", "entropy"))
    return _uncertainty(P, method)


def _uncertainty(P, method):
    if method == "margin":
        top2 = np.sort(P, axis=1)[:, -2:]
        return np.clip(1.0 - (top2[:, 1] - top2[:, 0]), 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(P > 0, P * np.log(P), 0.0).sum(axis=1)
    return np.clip(h / np.log(P.shape[1]), 0.0, 1.0)


def rank_for_labeling(pred_probs: ArrayLike, features: ArrayLike | None = None, batch_size: int = 50,
                      strategy: str = "margin_diverse", random_state: RandomState | None = None, *,
                      pool_factor: int = 5) -> np.ndarray:
    """Choose the next batch of unlabeled items to label.

    Parameters
    ----------
    pred_probs : (N, K) array-like of float
        The latest model's probabilities for the N unlabeled items.
    features : (N, F) array-like of float or None
        Their features; needed by ``"margin_diverse"``.
    batch_size : int, default=50
        Items to return (fewer when N is smaller).
    strategy : {"margin_diverse", "margin", "entropy", "random"}, default="margin_diverse"
        - ``"margin_diverse"``: the ``pool_factor * batch_size`` items with the smallest margin
          between the top two classes are clustered into ``batch_size`` groups (k-means on
          standardised features); the least certain item of each group is taken.
        - ``"margin"`` / ``"entropy"``: the most uncertain items (:func:`uncertainty`).
        - ``"random"``: a uniform sample (the baseline).
    random_state : int, RandomState instance or None
        Seeds k-means and ``"random"``; the same seed gives the same batch.
    pool_factor : int, default=5
        Size of the uncertain pool, in batches (``"margin_diverse"`` only).

    Returns
    -------
    (batch_size,) ndarray of np.intp
        Row positions into ``pred_probs``, the most uncertain first (random order for "random").

    Examples
    --------
    >>> import numpy as np
    >>> P = np.array([[0.9, 0.1], [0.5, 0.5], [0.6, 0.4], [0.99, 0.01]])
    >>> rank_for_labeling(P, batch_size=2, strategy="margin").tolist()
    [1, 2]
    """
    where = "rank_for_labeling"
    P = _check_pred_probs(pred_probs, where, renormalize=True)
    n = P.shape[0]
    batch_size = _check_int(batch_size, where, "batch_size", 1)
    _check_choice(strategy, where, "strategy", STRATEGIES)
    pool_factor = _check_int(pool_factor, where, "pool_factor", 1)
    X = None
    if strategy == "margin_diverse":
        if features is None:
            raise InputError(
                msg("error.active.strategy_margin_diverse_needs",
                    "strategy='margin_diverse' of {where} needs 'features' (one row per unlabeled "
                    "item) to spread the batch out; pass them or use strategy='margin'.",
                    where=where)
            )
        X = _check_features(features, where, name="features", n_samples=n)
    rng = check_random_state(random_state)
    m = min(batch_size, n)
    if strategy == "random":
        return rng.permutation(n)[:m].astype(np.intp)
    u = _uncertainty(P, "entropy" if strategy == "entropy" else "margin")
    by_doubt = np.lexsort((np.arange(n), -u))  # most uncertain first, ties by position
    if strategy in ("margin", "entropy") or m == n:
        return by_doubt[:m].astype(np.intp)

    pool = by_doubt[:min(n, pool_factor * m)]
    Z = _standardize(X)[pool]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # fewer distinct points than groups
        km = KMeans(n_clusters=m, n_init=3, random_state=rng.randint(2**31 - 1)).fit(Z)
    chosen = []
    for c in range(m):
        members = np.flatnonzero(km.labels_ == c)
        if members.size:
            chosen.append(members[0])  # pool is sorted by doubt: the first is the least certain
    chosen = np.sort(np.asarray(chosen, dtype=np.intp))
    if chosen.size < m:  # empty groups (duplicated points): fill with the next most uncertain
        rest = np.setdiff1d(np.arange(pool.size), chosen)
        chosen = np.sort(np.r_[chosen, rest[:m - chosen.size]])
    return pool[chosen].astype(np.intp)
