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
