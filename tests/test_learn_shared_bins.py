"""One binned LightGBM dataset for all the fits of a cross-validation (``SharedBins``)."""

import numpy as np
import pytest

from defectlab.learn import cv, models
from defectlab.learn.models import AverageProbaClassifier, LightGBMClassifier, SharedBins, make_model


def _data(n=900, seed=0, n_classes=3):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    X = rng.normal(size=(n, 6)).astype(np.float32)
    X[:, 0] += 2.5 * y
    X[:, 1] += (y == 1) * 3.0
    return X, np.array(["crazing", "pitted", "scratches", "rolled"])[y]


@pytest.fixture
def large_from_300(monkeypatch):
    """Make 300 training rows count as a large set (the shared-bins path) so the tests stay small."""
    monkeypatch.setattr(models, "LARGE_ROWS", 300)


def _lgb(**kw):
    return LightGBMClassifier(n_estimators=30, random_state=0, **kw)


def _spy_bins(monkeypatch):
    made = []

    class Spy(SharedBins):
        def __init__(self, X):
            super().__init__(X)
            made.append(self)

    monkeypatch.setattr(cv, "SharedBins", Spy)
    return made


def test_folds_and_final_model_bin_once(large_from_300, monkeypatch):
    made = _spy_bins(monkeypatch)
    X, y = _data()
    res = cv.cross_val_oof(X, y, model=make_model("ensemble", random_state=0), n_splits=5, refit=True)
    assert len(made) == 1 and made[0].constructions == 1  # six LightGBM fits, one binning
    assert float((res.classes[res.pred_probs.argmax(1)] == y).mean()) > 0.8
    np.testing.assert_allclose(res.pred_probs.sum(axis=1), 1.0, atol=1e-12)


def test_final_model_identical_to_a_plain_fit(large_from_300):
    """The final model always binned all rows: through the shared bins it is the very same model."""
    X, y = _data()
    res = cv.cross_val_oof(X, y, model=_lgb(class_weight="balanced"), n_splits=3, refit=True)
    plain = _lgb(class_weight="balanced").fit(X, y)
    assert res.model.booster_.model_to_string() == plain.booster_.model_to_string()


def test_fold_models_match_their_own_binning_in_accuracy(large_from_300):
    X, y = _data(n=1500, seed=3)
    shared = cv.cross_val_oof(X, y, model=_lgb(), n_splits=5)

    class PerFit(LightGBMClassifier):
        fit_rows = None  # each fold bins its own rows, as before SharedBins

    own = cv.cross_val_oof(X, y, model=PerFit(n_estimators=30, random_state=0), n_splits=5)
    acc = [float((r.classes[r.pred_probs.argmax(1)] == y).mean()) for r in (shared, own)]
    assert min(acc) > 0.8 and abs(acc[0] - acc[1]) < 0.02, acc
    assert not np.array_equal(shared.pred_probs, own.pred_probs)  # the shared path was really taken


def test_deterministic_for_a_seed_and_independent_of_n_jobs(large_from_300):
    X, y = _data()
    runs = [cv.cross_val_oof(X, y, model="ensemble", n_splits=4, random_state=7, n_jobs=j, refit=True)
            for j in (2, 2, 1)]
    for other in runs[1:]:
        np.testing.assert_array_equal(runs[0].pred_probs, other.pred_probs)
        np.testing.assert_array_equal(runs[0].model.predict_proba(X), other.model.predict_proba(X))


def test_fit_rows_below_large_rows_is_a_plain_fit_of_the_rows():
    X, y = _data(n=400)
    rows = np.arange(0, 400, 2)
    a = _lgb().fit_rows(X, y, rows, bins=SharedBins(X))
    b = _lgb().fit(X[rows], y[rows])
    assert a.booster_.model_to_string() == b.booster_.model_to_string()


def test_fit_rows_with_a_class_missing_from_the_rows(large_from_300):
    X, y = _data(n=1200, n_classes=4)
    rows = np.flatnonzero(y != "rolled")
    assert rows.size >= 300
    clf = _lgb(class_weight="balanced").fit_rows(X, y, rows, bins=SharedBins(X))
    assert clf.classes_.tolist() == ["crazing", "pitted", "scratches"]
    assert clf.predict_proba(X).shape == (1200, 3)
    assert float((clf.predict(X[rows]) == y[rows]).mean()) > 0.8


def test_fit_rows_ignores_bins_of_another_matrix(large_from_300):
    X, y = _data()
    rows = np.arange(600)
    other = SharedBins(X.copy())
    a = _lgb().fit_rows(X, y, rows, bins=other)
    assert other.constructions == 0
    assert a.booster_.model_to_string() == _lgb().fit(X[rows], y[rows]).booster_.model_to_string()


def test_ensemble_fit_rows_copies_rows_once_for_the_linear_member(large_from_300):
    X, y = _data()
    rows = np.arange(100, 900)
    bins = SharedBins(X)
    ens = make_model("ensemble", random_state=0).fit_rows(X, y, rows, bins=bins)
    ref = make_model("ensemble", random_state=0).fit(X[rows], y[rows])
    assert bins.constructions == 1
    np.testing.assert_allclose(ens.estimators_[1].predict_proba(X), ref.estimators_[1].predict_proba(X))
    assert isinstance(ens, AverageProbaClassifier) and ens.classes_.tolist() == ref.classes_.tolist()


def test_shared_bins_float64_matrix(large_from_300):
    X, y = _data()
    res = cv.cross_val_oof(X.astype(np.float64), y, model=_lgb(), n_splits=3, refit=True)
    assert float((res.classes[res.pred_probs.argmax(1)] == y).mean()) > 0.8


def test_dask_member_never_takes_local_bins(monkeypatch):
    from defectlab.learn.distributed import DaskLightGBMClassifier

    seen = []
    monkeypatch.setattr(DaskLightGBMClassifier, "fit", lambda self, X, y, sample_weight=None: seen.append(X.shape))
    X, y = _data()
    bins = SharedBins(X)
    DaskLightGBMClassifier(scheduler="tcp://nowhere:1").fit_rows(X, y, np.arange(50), bins=bins)
    assert seen == [(50, 6)] and bins.constructions == 0


def test_below_large_rows_results_are_exactly_the_per_fit_ones():
    """NEU (1,800 items) and the demo sets are far below LARGE_ROWS: bit-identical to the code before."""
    X, y = _data(n=600)
    base = make_model("ensemble", random_state=0)

    class PerFit(AverageProbaClassifier):
        fit_rows = None

    new = cv.cross_val_oof(X, y, model=base, n_splits=5, refit=True)
    old = cv.cross_val_oof(X, y, model=PerFit(base.estimators), n_splits=5, refit=True)
    np.testing.assert_array_equal(new.pred_probs, old.pred_probs)
    np.testing.assert_array_equal(new.model.predict_proba(X), old.model.predict_proba(X))
