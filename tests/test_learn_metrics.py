"""Tests of defectlab.learn.metrics: exact values on hand-checkable vectors."""

import json
import math

import numpy as np
import pytest

from defectlab.errors import InputError
from defectlab.learn.metrics import evaluate, expected_calibration_error

CLASSES = ["light", "medium", "heavy"]  # grade order
# true grades 0, 1, 2, 2; arg-max predictions 0, 2, 2, 1
Y = ["light", "medium", "heavy", "heavy"]
P = [
    [0.75, 0.15, 0.10],  # right, confidence 0.75
    [0.10, 0.28, 0.62],  # wrong (medium -> heavy), 0.62
    [0.20, 0.18, 0.62],  # right, 0.62
    [0.10, 0.52, 0.38],  # wrong (heavy -> medium), 0.52
]


def test_headline_metrics_by_hand():
    m = evaluate(Y, P, CLASSES)
    assert m["n_items"] == 4 and m["n_classes"] == 3 and m["classes"] == CLASSES
    assert m["accuracy"] == 0.5
    # recalls 1, 0, 1/2 -> 0.5 ; precisions 1, 0, 1/2 -> f1 1, 0, 0.5 -> 0.5
    assert m["balanced_accuracy"] == pytest.approx(0.5)
    assert m["macro_f1"] == pytest.approx(0.5)
    assert m["per_class"]["heavy"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert m["per_class"]["medium"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert m["confusion_matrix"] == [[1, 0, 0], [0, 0, 1], [0, 1, 1]]
    assert m["log_loss"] == pytest.approx(-(math.log(0.75) + math.log(0.28) + math.log(0.62)
                                            + math.log(0.38)) / 4)
    # bins: 0.75 (right) alone, 0.62 twice (one right), 0.52 (wrong) alone
    assert m["ece"] == pytest.approx((0.25 + abs(1 - 1.24) + 0.52) / 4)
    assert "qwk" not in m and "expected_cost" not in m


def test_ordinal_metrics_by_hand():
    m = evaluate(Y, P, CLASSES, ordinal=True)
    assert m["mae"] == 0.5  # steps 0, 1, 0, 1
    assert m["within_one"] == 1.0
    # observed weighted disagreement 2; expected sum (i-j)^2 r_i c_j / N = 22 / 4 -> 1 - 2 / 5.5
    assert m["qwk"] == pytest.approx(7 / 11)


def test_cost_matrix():
    cost = [[0, 10, 20], [10, 0, 10], [20, 10, 0]]
    m = evaluate(Y, P, CLASSES, cost_matrix=cost)
    assert m["expected_cost"] == 5.0 and m["total_cost"] == 20.0


def test_json_serialisable_and_undefined_kappa_is_none():
    m = evaluate(["a", "a"], [[1.0, 0.0], [1.0, 0.0]], ["a", "b"], ordinal=True)
    assert m["qwk"] is None  # nobody disagrees and nobody could: kappa is undefined
    assert json.loads(json.dumps(m, allow_nan=False)) == m


def test_integer_labels_as_column_indices():
    assert evaluate([0, 1, 2, 2], P, CLASSES)["accuracy"] == 0.5


def test_ece_hand_values():
    assert expected_calibration_error([True, False], [0.9, 0.9]) == pytest.approx(0.4)
    assert expected_calibration_error([True, True], [1.0, 1.0]) == 0.0


@pytest.mark.parametrize(
    "y, probs, classes, match",
    [
        (["a", "b"], [[0.5, 0.5]], ["a", "b"], "has 2 labels but there are 1 rows"),
        (["a"], [[0.5, 0.6]], ["a", "b"], "rows summing to 1"),
        (["a"], [[0.5, 0.5, 0.0]], ["a", "b"], "3 columns but 2 classes"),
        (["zz"], [[0.5, 0.5]], ["a", "b"], "not among the classes"),
        (["a"], [[np.nan, 1.0]], ["a", "b"], "probabilities in"),
        (["a"], [[0.5, 0.5]], ["a", "a"], "repeated class labels"),
    ],
)
def test_invalid_inputs(y, probs, classes, match):
    with pytest.raises(InputError, match=match):
        evaluate(y, probs, classes)


def test_bad_cost_matrix():
    with pytest.raises(InputError, match="cost_matrix"):
        evaluate(Y, P, CLASSES, cost_matrix=[[0, 1], [1, 0]])
