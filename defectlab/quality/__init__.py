"""Label quality: likely label errors, duplicates, outliers, misclassification views, what to label next.

The algorithms are data in, data out (cleanlab's ``find_label_issues(labels, pred_probs)``): they take
labels, out-of-fold probabilities, feature matrices and hashes -- never a model or a database -- and
return ranked tables with a score in [0, 1] and a plain-language reason. Only
:mod:`defectlab.quality.review` talks to the store (import it from there).

- :mod:`~defectlab.quality.label_issues` -- ``find_label_issues``, ``find_label_issues_retrained``,
  ``neighbor_label_probs``
- :mod:`~defectlab.quality.duplicates` -- ``phash``, ``hamming_distances``, ``find_duplicates``
- :mod:`~defectlab.quality.outliers` -- ``find_outliers``
- :mod:`~defectlab.quality.confusion` -- ``confusion_counts``, ``confusion_items``
- :mod:`~defectlab.quality.active` -- ``uncertainty``, ``rank_for_labeling``
"""

from defectlab.quality.active import STRATEGIES, rank_for_labeling, uncertainty
from defectlab.quality.confusion import confusion_counts, confusion_items
from defectlab.quality.duplicates import find_duplicates, hamming_distances, phash
from defectlab.quality.label_issues import (
    FILTERS,
    SmallClassWarning,
    find_label_issues,
    find_label_issues_retrained,
    neighbor_label_probs,
)
from defectlab.quality.outliers import find_outliers

__all__ = [
    "FILTERS",
    "SmallClassWarning",
    "find_label_issues",
    "find_label_issues_retrained",
    "neighbor_label_probs",
    "phash",
    "hamming_distances",
    "find_duplicates",
    "find_outliers",
    "confusion_counts",
    "confusion_items",
    "STRATEGIES",
    "uncertainty",
    "rank_for_labeling",
]
