"""The peer of the outlier rows in ``benchmarks/scale_review.py``: ``find_outliers`` as it was at
commit 70be0db (robust standardisation of every row in float64, the per-item reasons loop), kept
verbatim apart from its name and docstrings so the benchmark times both in the same run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from defectlab._validation import _check_features, _check_float, _check_int
from defectlab.errors import InputError
from defectlab.messages import msg
from defectlab.quality._knn import kneighbors
from defectlab.quality._standardize import _standardize

if TYPE_CHECKING:
    from collections.abc import Sequence

    from defectlab._typing import ArrayLike

__all__ = ["find_outliers_before"]

_COLUMNS = ["index", "score", "reason", "reason_parts", "is_outlier", "distance_ratio"]
_CLIP = 10.0  # standardised values are clipped to +-_CLIP typical spreads


def find_outliers_before(features: ArrayLike, *, n_neighbors: int = 10, threshold: float = 2 / 3,
                         feature_names: Sequence[str] | None = None, n_jobs: int = 1) -> pd.DataFrame:
    """:func:`defectlab.quality.find_outliers` before the sampled float32 standardisation (the peer)."""
    where = "find_outliers"
    X = _check_features(features, where, name="features")
    n, f = X.shape
    if n < 3:
        raise InputError(msg("error.outliers.needs_least_items_compare",
                "{where} needs at least 3 items to compare; got {n}.",
                where=where, n=n))
    k = min(_check_int(n_neighbors, where, "n_neighbors", 1), n - 1)
    threshold = _check_float(threshold, where, "threshold", 0.0, 0.999)
    n_jobs = _check_int(n_jobs, where, "n_jobs", 1)
    if feature_names is not None:
        feature_names = [str(x) for x in feature_names]
        if len(feature_names) != f:
            raise InputError(
                msg("error.outliers.feature_names_parameter_has",
                    "The 'feature_names' parameter of {where} has {len_feature_names} names for {f} "
                    "feature columns; pass the names of these features (feature_names(spec)).",
                    where=where, len_feature_names=len(feature_names), f=f)
            )
    else:
        feature_names = [f"feature {j}" for j in range(f)]

    Z = _standardize(X, robust=True)
    np.clip(Z, -_CLIP, _CLIP, out=Z)
    _, dist = kneighbors(Z, k + 1)
    d = dist[:, 1:].mean(axis=1)  # drop one zero-distance column: the item itself
    typical = np.median(d)
    if typical <= 0:  # more than half the items have k exact copies: compare with the mean
        typical = d.mean() if d.mean() > 0 else 1.0
    ratio = d / typical
    ratio[np.isclose(ratio, 1.0, rtol=1e-9, atol=0)] = 1.0  # rounding must not make "apart" items
    score = np.clip(1.0 - 1.0 / np.maximum(ratio, 1e-12), 0.0, 1.0)
    is_out = score >= threshold

    reasons, parts = _reasons(ratio, is_out, k, Z, feature_names)
    order = np.lexsort((np.arange(n), -score))
    df = pd.DataFrame({
        "index": np.arange(n),
        "score": score,
        "reason": reasons,
        "reason_parts": parts,
        "is_outlier": is_out,
        "distance_ratio": ratio,
    }, columns=_COLUMNS)
    return df.iloc[order].reset_index(drop=True)


def _top_columns(A, rows, n_top=3):
    """For each row of ``rows``: the ``n_top`` columns of ``A`` with the largest values, largest first,
    ties by column (what a stable ``argsort(-A)`` gives), without sorting whole rows."""
    n_top = min(n_top, A.shape[1])
    sub = A[rows]
    if sub.shape[0] == 0 or sub.shape[1] <= n_top:
        return np.argsort(-sub, axis=1, kind="stable")[:, :n_top]
    cut = -np.partition(-sub, n_top - 1, axis=1)[:, n_top - 1]  # the n_top-th largest value per row
    above = sub >= cut[:, None]
    simple = above.sum(axis=1) == n_top  # no tie at the cut: exactly n_top columns qualify
    out = np.empty((sub.shape[0], n_top), dtype=np.int64)
    cols = np.nonzero(above[simple])[1].reshape(-1, n_top)  # in column order
    order = np.argsort(-np.take_along_axis(sub[simple], cols, axis=1), axis=1, kind="stable")
    out[simple] = np.take_along_axis(cols, order, axis=1)
    tied = ~simple
    out[tied] = np.argsort(-sub[tied], axis=1, kind="stable")[:, :n_top]
    return out


def _reasons(ratio, is_out, k, Z, feature_names):
    """Each item's reason: the English sentence, and its clauses as catalog messages.

    Every clause is written once below as (catalog key, args, English text); the English text and
    the ``en`` catalog's message for the key say the same (tests check this). Items no farther from
    their neighbours than a typical item share one sentence; only the others look at their features.
    """
    typical_text = "as close to its neighbours as a typical item"
    apart = np.flatnonzero(ratio > 1.0)
    cols = _top_columns(np.abs(Z), apart)
    z_top = np.take_along_axis(Z[apart], cols, axis=1)
    top = dict(zip(apart.tolist(), zip(cols.tolist(), z_top.tolist(), strict=True), strict=True))
    ratios, flags = ratio.tolist(), is_out.tolist()
    texts, parts = [], []
    for i in range(Z.shape[0]):
        r = ratios[i]
        if r <= 1.0:
            texts.append(typical_text)
            parts.append([{"key": "quality.reason.outlier_typical", "args": {}}])
            continue
        far = flags[i]
        clauses = [("quality.reason.outlier_far" if far else "quality.reason.outlier_apart",
                    {"ratio": r, "k": int(k)},
                    f"{'far from every other item' if far else 'somewhat apart'}: {r:.1f}x the "
                    f"usual distance to its {k} nearest items")]
        features = []
        for j, z in zip(*top[i], strict=True):
            if abs(z) < 2:
                continue
            side = "high" if z > 0 else "low"
            clipped = abs(z) >= _CLIP
            features.append(
                (f"quality.reason.feature_{side}{'_clipped' if clipped else ''}",
                 {"feature": feature_names[j], "spreads": abs(z)},
                 f"{feature_names[j]} ({side}, {'over ' if clipped else ''}{abs(z):.0f} typical "
                 "spreads away)"))
        if features:
            clauses.append(
                ("quality.reason.most_unusual",
                 {"features": [{"key": key, "args": args} for key, args, _ in features]},
                 "most unusual: " + ", ".join(text for _, _, text in features)))
        texts.append("; ".join(text for _, _, text in clauses))
        parts.append([{"key": key, "args": args} for key, args, _ in clauses])
    return texts, parts
