"""defectlab._validation: the one input validator shared by learn, quality, features and demo."""

import subprocess
import sys

import numpy as np
import pytest

from defectlab._validation import (
    _check_choice,
    _check_classes,
    _check_features,
    _check_float,
    _check_int,
    _check_labels,
    _check_mask,
    _check_pred_probs,
    _encode_labels,
)
from defectlab.errors import InputError


def test_importing_the_validator_imports_no_sklearn_pandas_or_cv2():
    code = ("import sys, defectlab._validation; "
            "print(sorted(m for m in ('sklearn', 'pandas', 'cv2') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------- scalars

def test_check_int_returns_python_ints():
    assert _check_int(np.int64(3), "f", "k", 1) == 3
    assert type(_check_int(np.uint8(3), "f", "k", 1)) is int
    assert _check_int(32, "f", "k", 0, 32) == 32


@pytest.mark.parametrize("value, low, high, message", [
    (0, 1, None, "The 'k' parameter of f must be >= 1. Got 0. Pass an integer >= 1."),
    (33, 0, 32, "The 'k' parameter of f must be in [0, 32]. Got 33. Pass an integer >= 0 and <= 32."),
    (2.5, 1, 10, "The 'k' parameter of f must be an integer in [1, 10]. Got 2.5 of type float."),
    (True, 0, None, "The 'k' parameter of f must be an integer >= 0. Got True of type bool."),
    ("4", 0, None, "The 'k' parameter of f must be an integer >= 0. Got '4' of type str."),
])
def test_check_int_messages(value, low, high, message):
    with pytest.raises(InputError) as err:
        _check_int(value, "f", "k", low, high)
    assert str(err.value) == message


def test_check_float():
    assert _check_float(1, "f", "rate") == 1.0 and _check_float(np.float32(0.5), "f", "rate") == 0.5
    assert _check_float(0.999, "f", "t", 0.0, 0.999) == 0.999


@pytest.mark.parametrize("value, message", [
    (1.5, "The 'rate' parameter of f must be a number in [0.0, 1.0]. Got 1.5."),
    (float("nan"), "The 'rate' parameter of f must be a number in [0.0, 1.0]. Got nan."),
    ("high", "The 'rate' parameter of f must be a number in [0.0, 1.0]. Got 'high' of type str."),
    (False, "The 'rate' parameter of f must be a number in [0.0, 1.0]. Got False of type bool."),
])
def test_check_float_messages(value, message):
    with pytest.raises(InputError) as err:
        _check_float(value, "f", "rate", 0.0, 1.0)
    assert str(err.value) == message


def test_check_choice_and_mask():
    assert _check_choice("b", "f", "mode", ("a", "b")) == "b"
    with pytest.raises(InputError, match=r"^The 'mode' parameter of f must be one of \['a', 'b'\]. "
                                         r"Got 'c'.$"):
        _check_choice("c", "f", "mode", ("a", "b"))
    assert _check_mask(None, "f", "m", 3).tolist() == [True, True, True]
    assert _check_mask(np.array([True, False]), "f", "m", 2).tolist() == [True, False]
    with pytest.raises(InputError, match=r"'m' parameter of f must be a boolean array of shape "
                                         r"\(2,\). Got dtype int64 with shape \(2,\)"):
        _check_mask(np.array([1, 0]), "f", "m", 2)


# ---------------------------------------------------------------- features

def test_check_features_gives_float64():
    X = _check_features(np.array([[1, 2], [3, 4]], np.int32), "f")
    assert X.dtype == np.float64 and X.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert _check_features([[0.5]], "f", n_samples=1, n_features=1).tolist() == [[0.5]]


@pytest.mark.parametrize("X, kwargs, match", [
    ([[1.0], [1.0, 2.0]], {}, "'X' parameter of f must be a 2-D numeric array .*could not be converted"),
    (np.ones(3), {}, r"must be a 2-D numeric array \(n_samples, n_features\). Got dtype float64 with "
                     r"shape \(3,\)"),
    ([["a"]], {}, "Got dtype <U1"),
    (np.ones((0, 2)), {}, r"is empty \(shape \(0, 2\)\)"),
    (np.ones((3, 2)), {"n_samples": 4}, "has 3 rows but there are 4 items"),
    ([[1.0, np.inf]], {}, "must be finite; row 0, column 1 is inf"),
    (np.ones((1, 2)), {"n_features": 3}, "has 2 columns but the model was fitted on 3"),
])
def test_check_features_refusals(X, kwargs, match):
    with pytest.raises(InputError, match=match):
        _check_features(X, "f", **kwargs)


# ---------------------------------------------------------------- labels and classes

def test_check_labels():
    assert _check_labels(["a", "b"], "f", n_samples=2).tolist() == ["a", "b"]
    assert _check_labels([1, None], "f", allow_missing=True, dtype=object).tolist() == [1, None]


@pytest.mark.parametrize("labels, kwargs, message", [
    ([["a"]], {}, "The 'labels' parameter of f must be 1-D (one label per item). Got shape (1, 1)."),
    (["a"], {"n_samples": 2}, "The 'labels' parameter of f has 1 labels but there are 2 rows of "
                              "features/probabilities; give one label per row."),
    (["a"], {"n_samples": 2, "against": "pred_probs has {n} rows"},
     "The 'labels' parameter of f has 1 labels but pred_probs has 2 rows; give one label per row."),
    (["a", None], {}, "The 'labels' parameter of f has a missing label at position 1; drop "
                      "unlabeled items first."),
    (np.array([0.0, np.nan]), {}, "missing label at position 1"),
])
def test_check_labels_messages(labels, kwargs, message):
    with pytest.raises(InputError) as err:
        _check_labels(labels, "f", **kwargs)
    assert message in str(err.value)


def test_check_classes():
    assert _check_classes(np.array(["a", "b"]), "f") == ["a", "b"]
    assert _check_classes(None, "f", n_classes=3) == [0, 1, 2]
    with pytest.raises(InputError, match=r"has 3 names but pred_probs has 2 columns"):
        _check_classes(["a", "b", "c"], "f", n_classes=2)
    with pytest.raises(InputError, match=r"repeated class labels \['a', 'b', 'a'\]: it must hold "
                                         r"distinct names; 'a' appears twice"):
        _check_classes(["a", "b", "a"], "f")
    with pytest.raises(InputError, match=r"non-empty 1-D list .*Got shape \(0,\)"):
        _check_classes([], "f")


def test_encode_labels():
    assert _encode_labels(["b", "a", "b"], ["a", "b"], "f").tolist() == [1, 0, 1]
    assert _encode_labels(np.array(["b", "a"]), np.array(["a", "b"]), "f").tolist() == [1, 0]
    assert _encode_labels(["b", None, float("nan")], ["a", "b"], "f",
                          allow_missing=True).tolist() == [1, -1, -1]
    # integer labels that are not class names are column indices only when asked
    assert _encode_labels([0, 2, 2], ["x", "y", "z"], "f", allow_codes=True).tolist() == [0, 2, 2]
    with pytest.raises(InputError, match="holds 0 at position 0"):
        _encode_labels([0, 2], ["x", "y", "z"], "f")
    # class names win over codes; mixed Python values are kept as they are
    assert _encode_labels([2, "a"], ["a", 2], "f").tolist() == [1, 0]
    assert _encode_labels([1, 1], [1, 0], "f", allow_codes=True).tolist() == [0, 0]


def test_encode_labels_unknown_message():
    with pytest.raises(InputError) as err:
        _encode_labels(["a", "zz", "q", "zz"], ["a", "b"], "evaluate", name="y_true")
    assert str(err.value) == (
        "The 'y_true' parameter of evaluate holds 'zz' at position 1, which is not one of the "
        "classes ['a', 'b'] (labels not among the classes: 'q', 'zz'). Fix the label, add the class "
        "to the project, or pass the project's classes in pred_probs column order.")
    with pytest.raises(InputError, match=r"holds \['a'\] at position 0"):
        _encode_labels(np.array([["a"], ["b", "c"]], dtype=object), ["a"], "f")
    with pytest.raises(InputError, match="has 1 labels but P has 2 rows"):
        _encode_labels(["a"], ["a"], "f", n_samples=2, against="P has {n} rows")


# ---------------------------------------------------------------- probabilities

def test_check_pred_probs():
    P = _check_pred_probs([[1, 0], [0.25, 0.75]], "f")
    assert P.dtype == np.float64 and P.tolist() == [[1.0, 0.0], [0.25, 0.75]]
    near = np.array([[0.5, 0.5004]])
    assert _check_pred_probs(near, "f").tolist() == near.tolist()  # kept as given ...
    assert _check_pred_probs(near, "f", renormalize=True).sum() == pytest.approx(1.0, abs=1e-15)
    stack = _check_pred_probs([[[1.0, 0.0]], [[0.0, 1.0]]], "f", allow_stack=True)
    assert stack.shape == (2, 1, 2)
    assert _check_pred_probs([[1.0, 0.0]], "f", allow_stack=True).shape == (1, 1, 2)
    assert _check_pred_probs(np.array([[0.5, 0.5]], dtype=object), "f").dtype == np.float64


@pytest.mark.parametrize("P, kwargs, match", [
    (np.ones(4), {}, r"shape \(n_samples, n_classes\) with at least 2 classes and 1 sample. Got shape "
                     r"\(4,\)"),
    ([[1.0]], {}, r"at least 2 classes .*Got shape \(1, 1\)"),
    (np.ones((0, 2)), {}, r"Got shape \(0, 2\)"),
    (np.ones((2, 2, 2)) / 2, {}, r"Got shape \(2, 2, 2\)"),
    ([["a", "b"]], {}, "must be a numeric array .*Got dtype <U1"),
    ([[0.5, 0.5]], {"n_classes": 3}, "has 2 columns but 3 classes were given"),
    ([[0.5, 0.5], [np.nan, 1.0]], {}, r"probabilities in \[0, 1\]; row 1 holds nan"),
    ([[[0.5, 0.5]], [[0.5, np.inf]]], {"allow_stack": True}, "row 0 of model 1 holds inf"),
    ([[1.5, -0.5]], {}, "got values from -0.5 to 1.5"),
    ([[0.5, 0.5], [0.6, 0.6]], {}, "rows summing to 1; row 1 sums to 1.2. Pass predict_proba output"),
    ([[0.5, 0.5], [0.6, 0.2]], {"name": "retrain(exclude)"}, "'retrain\\(exclude\\)' parameter"),
])
def test_check_pred_probs_refusals(P, kwargs, match):
    with pytest.raises(InputError, match=match):
        _check_pred_probs(P, "f", **kwargs)
