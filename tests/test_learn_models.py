"""Tests of defectlab.learn.models: every model name builds, fits and follows scikit-learn."""

import numpy as np
import pytest
from sklearn.base import clone

from defectlab.errors import InputError
from defectlab.learn.models import (
    DEFAULT_MODEL,
    MODEL_NAMES,
    AverageProbaClassifier,
    CalibratedSVC,
    LightGBMClassifier,
    make_model,
    model_params,
)


def _data(n=90, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    y = np.array(["seam", "crack", "pit"])[(X[:, 0] > 0).astype(int) + (X[:, 1] > 0.6)]
    return X, y


def _small(name):
    model = make_model(name, n_jobs=1)
    small = {"lightgbm": {"n_estimators": 20}, "random_forest": {"n_estimators": 10},
             "extra_trees": {"n_estimators": 10}, "ensemble": {"estimators": [
                 ("lightgbm", make_model("lightgbm", n_jobs=1).set_params(n_estimators=20)),
                 ("logreg", make_model("logreg"))]}}
    return model.set_params(**small.get(name, {}))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_model_fits_and_columns_follow_classes(name):
    X, y = _data()
    model = _small(name).fit(X, y)
    assert model.classes_.tolist() == ["crack", "pit", "seam"]
    proba = model.predict_proba(X)
    assert proba.shape == (90, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    assert np.array_equal(model.predict(X), model.classes_[proba.argmax(axis=1)])
    assert (model.predict(X) == y).mean() > 0.7  # learned something


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("preset", ["fast", "accurate"])
def test_presets_build_and_clone(name, preset):
    model = make_model(name, preset=preset)
    assert clone(model).get_params().keys() == model.get_params().keys()
    assert isinstance(model_params(name, preset), dict)


def test_default_is_a_known_model():
    assert DEFAULT_MODEL in MODEL_NAMES


def test_class_weight_is_passed_on():
    assert make_model("logreg", class_weight="balanced")[-1].class_weight == "balanced"
    assert make_model("lightgbm", class_weight=None).class_weight is None
    assert make_model("random_forest").class_weight == "balanced_subsample"


def test_balanced_weights_help_a_rare_class():
    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(0, 1, (285, 2)), rng.normal(1.5, 1, (15, 2))]
    y = np.array(["ok"] * 285 + ["hole"] * 15)
    plain = make_model("logreg", class_weight=None).fit(X, y)
    balanced = make_model("logreg", class_weight="balanced").fit(X, y)
    assert (balanced.predict(X[285:]) == "hole").sum() > (plain.predict(X[285:]) == "hole").sum()


def test_lightgbm_early_stopping_and_determinism():
    X, y = _data(400)
    a = LightGBMClassifier(n_estimators=500, early_stopping=True, random_state=1, n_jobs=1).fit(X, y)
    b = LightGBMClassifier(n_estimators=500, early_stopping=True, random_state=1, n_jobs=1).fit(X, y)
    assert a.n_iter_ < 500  # early stopping ended it
    assert LightGBMClassifier(n_estimators=40, n_jobs=1).fit(X, y).n_iter_ == 40  # "auto": off < 2000
    assert np.array_equal(a.predict_proba(X), b.predict_proba(X))
    off = LightGBMClassifier(n_estimators=30, early_stopping=False, n_jobs=1).fit(X, y)
    assert off.n_iter_ == 30


def test_lightgbm_binary_and_tiny():
    X = np.array([[0.0], [0.1], [0.2], [1.0], [1.1], [1.2]])
    clf = LightGBMClassifier(n_estimators=10, n_jobs=1).fit(X, [0, 0, 0, 1, 1, 1])
    assert clf.predict([[0.05], [1.15]]).tolist() == [0, 1]
    contrib = clf.pred_contrib(X)
    assert contrib.shape == (6, 2, 2)
    np.testing.assert_allclose(contrib[:, 0], -contrib[:, 1])


def test_calibrated_svc_survives_a_single_member_class():
    X, y = _data(60)
    y = y.astype(object)
    y[0] = "hole"
    proba = CalibratedSVC(random_state=0).fit(X, y).predict_proba(X)
    assert proba.shape == (60, 4)


def test_average_is_the_weighted_mean_of_members():
    X, y = _data()
    lr = make_model("logreg").fit(X, y)
    svm = make_model("svm").fit(X, y)
    ens = AverageProbaClassifier([("lr", make_model("logreg")), ("svm", make_model("svm"))],
                                 weights=[3, 1]).fit(X, y)
    expected = 0.75 * lr.predict_proba(X) + 0.25 * svm.predict_proba(X)
    np.testing.assert_allclose(ens.predict_proba(X), expected)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(name="xgboost"), "must be one of"),
        (dict(preset="best"), "'preset' parameter"),
        (dict(class_weight="auto"), "'class_weight' parameter"),
    ],
)
def test_make_model_rejects_unknown_options(kwargs, match):
    with pytest.raises(InputError, match=match):
        make_model(**kwargs)


def test_fit_needs_two_classes_and_finite_features():
    with pytest.raises(InputError, match="at least 2 classes"):
        LightGBMClassifier().fit([[0.0], [1.0]], ["a", "a"])
    with pytest.raises(InputError, match="must be finite"):
        LightGBMClassifier().fit([[0.0], [np.inf]], ["a", "b"])
    clf = LightGBMClassifier(n_estimators=5, n_jobs=1).fit([[0.0], [1.0]] * 5, ["a", "b"] * 5)
    with pytest.raises(InputError, match="fitted on 1"):
        clf.predict_proba([[0.0, 1.0]])


def test_lightgbm_samples_rows_and_columns_on_large_sets():
    from defectlab.learn.models import LARGE_ROWS, LightGBMClassifier

    clf = LightGBMClassifier()
    small = clf._lgb_params(6, LARGE_ROWS - 1, 0)
    large = clf._lgb_params(6, LARGE_ROWS, 0)
    assert (small["bagging_fraction"], small["feature_fraction"]) == (0.8, 0.5)
    assert (large["bagging_fraction"], large["feature_fraction"]) == (0.3, 0.3)
    assert large["num_threads"] == 1 and large["bagging_freq"] == 1
    # an explicit smaller fraction is kept
    assert LightGBMClassifier(subsample=0.2)._lgb_params(6, LARGE_ROWS, 0)["bagging_fraction"] == 0.2


def test_logistic_regression_preset_tolerance():
    clf = make_model("logreg").steps[-1][1]
    assert clf.tol == 1e-3 and clf.max_iter == 2000
