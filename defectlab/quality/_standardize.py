"""Column standardisation of feature matrices, shared by the quality modules (private module).

Duplicates (cosine similarity), label issues (the neighbour vote), active learning (diversity) and
outliers (robust distances) all compare items on standardised features, so that no feature wins by
its units alone.
"""

import numpy as np

__all__ = []  # private module


def _standardize(X, robust=False):
    """Standardise columns: ``(x - centre) / scale``; constant columns become 0.

    Parameters
    ----------
    X : (N, F) ndarray of np.float64
        Checked features (``defectlab._validation._check_features``).
    robust : bool
        ``False``: mean and standard deviation. ``True``: median and IQR / 1.349 (so that a few
        extreme rows do not shrink everybody else's spread), falling back to the standard deviation
        for columns whose IQR is 0.

    Returns
    -------
    (N, F) ndarray of np.float64
    """
    if not robust:
        mean = X.mean(axis=0)
        std = X.std(axis=0)
        return (X - mean) / np.where(std > 1e-12 * (1 + np.abs(mean)), std, 1.0)
    q25, med, q75 = np.percentile(X, [25, 50, 75], axis=0)  # one partition pass for the three
    scale = (q75 - q25) / 1.349
    std = X.std(axis=0)
    scale = np.where(scale > 1e-12 * (1 + np.abs(med)), scale, std)
    scale = np.where(scale > 1e-12 * (1 + np.abs(med)), scale, 1.0)
    out = X - med
    out /= scale
    return out


def _robust_centre_scale(X, sample_rows=20_000, seed=0):
    """Median and robust spread of every column, from a row sample when ``X`` is larger than it.

    The median and interquartile range of 20,000 random rows are within a few thousandths of a spread
    of those of all rows (their standard error is ~1 / sqrt(rows)), at a fraction of the cost of
    partitioning every column of a 100,000-row matrix. Columns whose sampled IQR is 0 fall back to
    the standard deviation of all rows (rare values must still set a spread), then to 1.

    Parameters
    ----------
    X : (N, F) ndarray of np.float32 or np.float64
        Checked features.
    sample_rows : int
        Rows the quartiles come from; all rows when ``N <= sample_rows`` (then the result equals
        :func:`_standardize`'s with ``robust=True``).
    seed : int
        Seeds the row sample (the result is deterministic).

    Returns
    -------
    centre, scale : (F,) ndarray of np.float64
        ``(X - centre) / scale`` is the robust standardisation; ``scale > 0``.
    """
    n = X.shape[0]
    if n > sample_rows:
        rows = np.sort(np.random.default_rng(seed).choice(n, sample_rows, replace=False))
        sample = X[rows].astype(np.float64)
    else:
        sample = np.asarray(X, dtype=np.float64)
    q25, med, q75 = np.percentile(sample, [25, 50, 75], axis=0)
    scale = (q75 - q25) / 1.349
    tiny = 1e-12 * (1 + np.abs(med))
    flat = np.flatnonzero(scale <= tiny)
    if flat.size:
        scale[flat] = X[:, flat].astype(np.float64).std(axis=0)
    return med, np.where(scale > tiny, scale, 1.0)


def _robust_standardize(X, clip, dtype=np.float64, sample_rows=20_000, seed=0):
    """Robustly standardised columns (:func:`_robust_centre_scale`), clipped to ``+-clip``, as a new
    C-contiguous matrix of ``dtype`` (one copy of ``X``, no temporaries of its size).

    Parameters
    ----------
    X : (N, F) ndarray of np.float32 or np.float64
        Checked features; not modified.
    clip : float
        Values beyond ``+-clip`` spreads are set to ``+-clip``.
    dtype : np.float32 or np.float64
        Of the result (float32 halves the memory and the time of the neighbour search on large sets).
    sample_rows, seed : int
        See :func:`_robust_centre_scale`.

    Returns
    -------
    (N, F) ndarray of ``dtype``
    """
    centre, scale = _robust_centre_scale(X, sample_rows, seed)
    Z = np.array(X, dtype=dtype, order="C", copy=True)
    Z -= centre.astype(dtype)
    Z /= scale.astype(dtype)
    np.clip(Z, -clip, clip, out=Z)
    return Z
