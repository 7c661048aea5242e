"""Model probability columns placed into a project's class order (private module).

One function for the two situations that used to have two functions of the same name: training, where a
model class missing from the project is a bug (raise), and review of an older run, where the project may
have lost a class since (drop it and renormalise).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from defectlab.errors import InputError
from defectlab.messages import msg

if TYPE_CHECKING:
    from collections.abc import Sequence

    from defectlab._typing import ArrayLike

__all__: list[str] = []


def _to_project_columns(pred_probs: ArrayLike, model_classes: Sequence[str], classes: Sequence[str], *,
                        unknown: str = "raise") -> np.ndarray:
    """Probabilities with one column per project class, in project order (classes the model lacks: 0).

    Parameters
    ----------
    pred_probs : (N, K) array of float
        Columns follow ``model_classes``.
    model_classes : sequence of str, length K
    classes : sequence of str
        The project's classes, in project order.
    unknown : {"raise", "drop"}
        A model class that is not a project class: ``"raise"`` an :class:`InputError`, or ``"drop"`` its
        column and renormalise each row to sum to 1 (rows left with nothing stay 0).

    Returns
    -------
    (N, len(classes)) ndarray of float64

    Examples
    --------
    >>> p = np.array([[0.2, 0.5, 0.3]])
    >>> _to_project_columns(p, ["b", "a", "c"], ["a", "b", "c"])
    array([[0.5, 0.2, 0.3]])
    >>> _to_project_columns(p, ["b", "a", "gone"], ["a", "b"], unknown="drop").round(3)
    array([[0.714, 0.286]])
    """
    probs = np.asarray(pred_probs, dtype=np.float64)
    out = np.zeros((probs.shape[0], len(classes)))
    col = {c: i for i, c in enumerate(classes)}
    missing = [c for c in model_classes if c not in col]
    if missing and unknown != "drop":
        raise InputError(msg("error.columns.model_predicts_classes_are",
                "The model predicts classes {missing} that are not classes of the project "
                "{list_classes}. Retrain on the project's current classes.",
                missing=missing, list_classes=list(classes)))
    for j, c in enumerate(model_classes):
        if c in col:
            out[:, col[c]] = probs[:, j]
    if unknown == "drop":
        sums = out.sum(axis=1, keepdims=True)
        out = out / np.where(sums > 0, sums, 1.0)
    return out
