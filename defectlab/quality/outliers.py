"""Outliers: items far from everything else in feature space.

A wrong camera, a blank or over-exposed frame, a box cut from the wrong place: such items look like
no other item, so in feature space their nearest neighbours are far away. The score compares an
item's mean distance to its ``k`` nearest neighbours with the same quantity for a typical item.

Data in, data out: a feature matrix in, a ranked table out.
"""

from __future__ import annotations

import contextlib
import gc
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from defectlab._validation import _check_features, _check_float, _check_int
from defectlab.errors import InputError
from defectlab.messages import msg
from defectlab.quality._knn import kneighbors
from defectlab.quality._standardize import _robust_standardize

if TYPE_CHECKING:
    from collections.abc import Sequence

    from defectlab._typing import ArrayLike

__all__ = ["find_outliers"]

_COLUMNS = ["index", "score", "reason", "reason_parts", "is_outlier", "distance_ratio"]
_CLIP = 10.0  # standardised values are clipped to +-_CLIP typical spreads
_SAMPLE_ROWS = 20_000  # above this many items: medians and IQRs from this many rows, float32 features
_NAMED = 2.0  # a feature is named in a reason from this many typical spreads away


def find_outliers(features: ArrayLike, *, n_neighbors: int = 10, threshold: float = 2 / 3,
                  feature_names: Sequence[str] | None = None, n_jobs: int = 1) -> pd.DataFrame:
    """Rank items by how far they are from every other item.

    Features are standardised robustly (median and interquartile range, so the outliers themselves
    do not set the scale; above 20,000 items both come from a 20,000-row sample and the standardised
    features are float32) and clipped to +-10 typical spreads (so one wild feature cannot decide
    alone); ``d_i`` is item ``i``'s mean Euclidean distance to its ``n_neighbors`` nearest other
    items (exact on small sets; on large ones the nearest among the rows of the few inverted-file
    cells around the item's, by exact distances on all features, so the cost grows linearly), and
    ``ratio_i = d_i / median(d)``. On NEU-DET no real image reaches ratio 3.4, while a
    blank frame, a near-white frame, a gradient, pure noise and half-masked crops all score above 4.

    Parameters
    ----------
    features : (N, F) array-like of float
        One feature row per item (e.g. :func:`defectlab.features.extract`); N >= 3. float32 is used
        as it is (no float64 copy); the array is not modified.
    n_neighbors : int, default=10
        Neighbours averaged; use more than the number of copies an odd item may have (two blank
        frames are still outliers with ``n_neighbors`` >= 2). Capped at N - 1.
    threshold : float in [0, 1), default=2/3
        ``is_outlier`` is ``score >= threshold``; 2/3 = three times the usual distance.
    feature_names : sequence of F str or None
        Names used in the reasons (e.g. :func:`defectlab.features.feature_names`).
    n_jobs : int, default=1
        Accepted for compatibility; the neighbour search runs in NumPy (BLAS threads).

    Returns
    -------
    pandas.DataFrame
        One row per item, highest score first (ties by index). Columns: ``index`` (int),
        ``score`` (float in [0, 1]: ``max(0, 1 - 1 / ratio)``; 0 = as close to its neighbours as a
        typical item or closer, 0.5 = twice as far, 0.9 = ten times as far), ``reason`` (str: the
        distance and the three most unusual features), ``reason_parts`` (list of dict: the same
        reason as :mod:`defectlab.i18n` catalog messages, see below), ``is_outlier`` (bool),
        ``distance_ratio`` (float, ``ratio`` above).

        ``reason_parts`` follows :func:`~defectlab.quality.find_label_issues`: one
        ``{"key", "args"}`` per clause of ``reason`` (``quality.reason.outlier_typical``;
        ``outlier_far`` or ``outlier_apart`` with ``ratio`` and ``k``; ``most_unusual`` whose
        ``features`` arg is a list of parts ``feature_high`` / ``feature_low`` (``_clipped`` at the
        clip), each with ``feature`` and ``spreads``).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(50, 4)); X[7] = [9, 0, 0, 0]
    >>> df = find_outliers(X, feature_names=["mean", "std", "lbp", "hog"])
    >>> int(df.loc[0, "index"]), bool(df.loc[0, "is_outlier"])
    (7, True)
    >>> df.loc[0, "reason"].split(";")[1].strip().startswith("most unusual: mean")
    True
    >>> [part["key"] for part in df.loc[0, "reason_parts"]]
    ['quality.reason.outlier_far', 'quality.reason.most_unusual']
    """
    where = "find_outliers"
    X = _check_features(features, where, name="features", allow_float32=True)
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

    Z = _robust_standardize(X, _CLIP, np.float32 if n > _SAMPLE_ROWS else np.float64, _SAMPLE_ROWS)
    _, dist = kneighbors(Z, k + 1, search="cells")
    d = dist[:, 1:].mean(axis=1)  # drop one zero-distance column: the item itself
    typical = np.median(d)
    if typical <= 0:  # more than half the items have k exact copies: compare with the mean
        typical = d.mean() if d.mean() > 0 else 1.0
    ratio = d / typical
    ratio[np.isclose(ratio, 1.0, rtol=1e-9, atol=0)] = 1.0  # rounding must not make "apart" items
    score = np.clip(1.0 - 1.0 / np.maximum(ratio, 1e-12), 0.0, 1.0)
    is_out = score >= threshold

    with _cycle_collector_paused():
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


@contextlib.contextmanager
def _cycle_collector_paused():
    """Pause Python's cycle collector while the reasons are built: at 100,000 items they are ~500,000
    small lists and dicts, and the collector would rescan the growing heap again and again (half the
    reasons' time). Nothing built there forms a cycle, so nothing is left for it to collect after."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _top_columns(A, n_top=3):
    """For each row of ``A`` (overwritten): the ``n_top`` columns with the largest values, largest
    first, ties by column (what a stable ``argsort(-A)`` gives): ``n_top`` passes of ``argmax`` (the
    first maximum), each masking the column it found, instead of sorting or partitioning whole rows."""
    n_top = min(n_top, A.shape[1])
    out = np.empty((A.shape[0], n_top), dtype=np.int64)
    rows = np.arange(A.shape[0])
    for t in range(n_top):
        out[:, t] = A.argmax(axis=1)
        A[rows, out[:, t]] = -np.inf
    return out


def _reasons(ratio, is_out, k, Z, feature_names):
    """Each item's reason: the English sentence, and its clauses as catalog messages.

    Every clause is written once below as (catalog key, args, English text); the English text and
    the ``en`` catalog's message for the key say the same (tests check this). Items no farther from
    their neighbours than a typical item share one sentence; only the others (about half) look at
    their features (:func:`_named_features`); the loop here only assembles.
    """
    n = Z.shape[0]
    texts = ["as close to its neighbours as a typical item"] * n
    parts = [[{"key": "quality.reason.outlier_typical", "args": {}}] for _ in range(n)]
    apart = np.flatnonzero(ratio > 1.0)
    feature_parts, feature_texts, bounds = _named_features(Z[apart], feature_names)
    k = int(k)
    rows = zip(apart.tolist(), ratio[apart].tolist(), is_out[apart].tolist(), bounds[:-1], bounds[1:],
               strict=True)
    for i, r, far, a, b in rows:
        if far:
            head = f"far from every other item: {r:.1f}x the usual distance to its {k} nearest items"
            clauses = [{"key": "quality.reason.outlier_far", "args": {"ratio": r, "k": k}}]
        else:
            head = f"somewhat apart: {r:.1f}x the usual distance to its {k} nearest items"
            clauses = [{"key": "quality.reason.outlier_apart", "args": {"ratio": r, "k": k}}]
        if b > a:
            clauses.append({"key": "quality.reason.most_unusual", "args": {"features": feature_parts[a:b]}})
            head = f"{head}; most unusual: {', '.join(feature_texts[a:b])}"
        texts[i] = head
        parts[i] = clauses
    return texts, parts


_FEATURE_KEYS = ("quality.reason.feature_low", "quality.reason.feature_low_clipped",
                 "quality.reason.feature_high", "quality.reason.feature_high_clipped")


def _feature_text(name, kind, spreads):
    """The English text of a named feature (``kind`` indexes :data:`_FEATURE_KEYS`)."""
    side = "high" if kind >= 2 else "low"
    return f"{name} ({side}, {'over ' if kind % 2 else ''}{spreads:.0f} typical spreads away)"


def _named_features(Z, feature_names):
    """The up to three most unusual features of every row of ``Z`` that are at least :data:`_NAMED`
    spreads away, row after row, largest first.

    Returns
    -------
    parts : list of dict
        Each named feature's catalog part (``quality.reason.feature_*`` with ``feature`` and ``spreads``).
    texts : list of str
        Its English text; a text depends only on (column, side, clipped, the spreads shown rounded),
        so each distinct one is formatted once.
    bounds : list of int
        Row ``r``'s features are ``parts[bounds[r]:bounds[r + 1]]`` (none: an empty slice).
    """
    cols = _top_columns(np.abs(Z))
    z_top = np.take_along_axis(Z, cols, axis=1).astype(np.float64)
    spreads = np.abs(z_top)
    named = spreads >= _NAMED  # a prefix of each row: the columns come largest first
    cols, spreads = cols[named], spreads[named]  # row after row
    kind = 2 * (z_top[named] > 0) + (spreads >= _CLIP)
    shown = np.minimum(np.rint(spreads), 63).astype(np.int64)  # what "{:.0f}" shows: both round half to even
    code = ((cols * 4 + kind) * 64 + shown).tolist()
    cols, kind, spreads = cols.tolist(), kind.tolist(), spreads.tolist()
    text_of = {}
    for c, j, kd, sp in zip(code, cols, kind, spreads, strict=True):
        if c not in text_of:
            text_of[c] = _feature_text(feature_names[j], kd, sp)
    parts = [{"key": _FEATURE_KEYS[kd], "args": {"feature": feature_names[j], "spreads": sp}}
             for j, kd, sp in zip(cols, kind, spreads, strict=True)]
    texts = [text_of[c] for c in code]
    bounds = [0, *np.cumsum(named.sum(axis=1)).tolist()]
    return parts, texts, bounds
