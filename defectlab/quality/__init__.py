"""Label quality: likely label errors, duplicates, outliers, misclassifications, what to label next.

The algorithms are data in, data out (cleanlab's ``find_label_issues(labels, pred_probs)``): they
take labels, out-of-fold probabilities, feature matrices and hashes -- never a model or a database --
and return ranked tables with a score in [0, 1] and a plain-language reason. Only
:mod:`defectlab.quality.review` talks to the store and the run registry (it imports them only
when called, so importing this package stays light).

- :mod:`~defectlab.quality.label_issues` -- ``find_label_issues``, ``find_label_issues_retrained``,
  ``neighbor_label_probs``
- :mod:`~defectlab.quality.duplicates` -- ``phash``, ``hamming_distances``, ``find_duplicates``
- :mod:`~defectlab.quality.outliers` -- ``find_outliers``
- :mod:`~defectlab.quality.confusion` -- ``confusion_counts``, ``confusion_items``
- :mod:`~defectlab.quality.active` -- ``uncertainty``, ``rank_for_labeling``
- :mod:`~defectlab.quality.review` -- ``review_item(s)``, ``label_issues_for_run``,
  ``confusion_for_run``, ``conflicts_queue``, ``duplicates_queue``, ``outliers_queue``
- :mod:`~defectlab.quality.queues` -- ``compute_run_queues`` (once, when a run finishes),
  ``read_run_queue``, ``queue_status``, ``confusion_cells``, ``confusion_cell_items``
"""

from defectlab.quality.active import STRATEGIES, rank_for_labeling, uncertainty
from defectlab.quality.confusion import confusion_counts, confusion_items
from defectlab.quality.duplicates import find_duplicates, hamming_distances, phash
from defectlab.quality.label_issues import (
    FILTERS,
    FLAG_RULES,
    SmallClassWarning,
    find_label_issues,
    find_label_issues_retrained,
    neighbor_label_probs,
)
from defectlab.quality.outliers import find_outliers
from defectlab.quality.queues import (
    QUEUE_KINDS,
    compute_run_queues,
    confusion_cell_items,
    confusion_cells,
    queue_status,
    read_run_queue,
)
from defectlab.quality.review import (
    REVIEW_ACTIONS,
    conflicts_queue,
    confusion_for_run,
    duplicates_queue,
    item_phashes,
    label_issues_for_run,
    outliers_queue,
    review_item,
    review_items,
)

__all__ = [
    "FILTERS",
    "FLAG_RULES",
    "QUEUE_KINDS",
    "REVIEW_ACTIONS",
    "STRATEGIES",
    "SmallClassWarning",
    "compute_run_queues",
    "conflicts_queue",
    "confusion_cell_items",
    "confusion_cells",
    "confusion_counts",
    "confusion_for_run",
    "confusion_items",
    "duplicates_queue",
    "find_duplicates",
    "find_label_issues",
    "find_label_issues_retrained",
    "find_outliers",
    "hamming_distances",
    "item_phashes",
    "label_issues_for_run",
    "neighbor_label_probs",
    "outliers_queue",
    "phash",
    "queue_status",
    "rank_for_labeling",
    "read_run_queue",
    "review_item",
    "review_items",
    "uncertainty",
]
