"""Tests of defectlab.learn.reject on constructed probabilities."""

import numpy as np
import pytest

from defectlab.errors import InputError
from defectlab.learn.reject import NEVER, choose_threshold, coverage_curve, needs_review


def _probs(conf, pred):
    """Two-class probability rows with the given confidence for column ``pred``."""
    conf = np.asarray(conf, float)
    out = np.empty((conf.size, 2))
    out[np.arange(conf.size), pred] = conf
    out[np.arange(conf.size), 1 - np.asarray(pred)] = 1 - conf
    return out


def test_smallest_threshold_reaching_target():
    # 150 right at 0.95; 50 at 0.60 of which 25 right
    conf = [0.95] * 150 + [0.6] * 50
    y = [0] * 175 + [1] * 25
    choice = choose_threshold(y, _probs(conf, [0] * 200), target_accuracy=0.99)
    assert choice.reached
    assert choice.threshold == 0.95
    assert choice.coverage == 0.75 and choice.n_accepted == 150
    assert choice.accuracy_on_accepted == 1.0
    # a laxer target takes everything: 175 / 201 = 0.8706
    assert choose_threshold(y, _probs(conf, [0] * 200), target_accuracy=0.87).threshold == 0.6


def test_small_sample_guard():
    probs = _probs([0.9] * 50, [0] * 50)
    strict = choose_threshold([0] * 50, probs, target_accuracy=0.99)  # 50/51 = 0.980 < 0.99
    assert not strict.reached and strict.threshold == NEVER and strict.threshold > 1.0
    assert strict.coverage == 0.0 and strict.accuracy_on_accepted is None
    assert choose_threshold([0] * 50, probs, target_accuracy=0.98).coverage == 1.0


def test_ties_are_accepted_together():
    # three items at the same confidence, one wrong: they cannot be split by a threshold
    conf = [0.99] * 200 + [0.7, 0.7, 0.7]
    y = [0] * 200 + [0, 0, 1]
    # splitting the tie after the two right ones would give 202/203 >= 0.995; all three give 202/204
    choice = choose_threshold(y, _probs(conf, [0] * 203), target_accuracy=0.995)
    assert choice.threshold == 0.99 and choice.n_accepted == 200


def test_labels_with_classes_and_needs_review():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.55, 0.45]])
    c = choose_threshold(["ok"] * 100 + ["pit", "ok"], np.vstack([np.tile(probs[0], (100, 1)),
                                                                   probs[1:]]),
                         target_accuracy=0.9, classes=["ok", "pit"])
    assert c.n_accepted == 102
    assert needs_review(probs, 0.8).tolist() == [False, False, True]
    assert c.to_dict()["threshold"] == c.threshold


def test_coverage_curve_hand_values():
    c = coverage_curve([0, 1, 0], [[0.9, 0.1], [0.7, 0.3], [0.6, 0.4]],
                       thresholds=[0.0, 0.65, 0.8, 0.95])
    assert c.coverage == pytest.approx([1.0, 2 / 3, 1 / 3, 0.0])
    assert c.accuracy[0] == pytest.approx(2 / 3)
    assert c.accuracy[1:] == [0.5, 1.0, None]
    default = coverage_curve([0], [[0.9, 0.1]])
    assert len(default.thresholds) == 101 and default.thresholds[50] == 0.5


@pytest.mark.parametrize("target, match", [(1.5, r"in \[0.0, 1.0\]"), ("high", "must be a number")])
def test_invalid_target(target, match):
    with pytest.raises(InputError, match=match):
        choose_threshold([0], [[1.0, 0.0]], target_accuracy=target)
