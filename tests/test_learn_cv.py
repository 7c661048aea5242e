"""Tests of defectlab.learn.cv: out-of-fold means out-of-fold, groups stay whole, never a crash."""

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin

from defectlab.errors import InputError
from defectlab.learn.cv import cross_val_oof, make_folds
from defectlab.learn.models import make_model


class LookupClassifier(ClassifierMixin, BaseEstimator):
    """Memorises training rows: one-hot on a row seen in training, uniform on an unseen row."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        self.memory_ = {tuple(r): lab for r, lab in zip(np.asarray(X).tolist(), y, strict=True)}
        return self

    def predict_proba(self, X):
        out = np.full((len(X), len(self.classes_)), 1.0 / len(self.classes_))
        for i, r in enumerate(np.asarray(X).tolist()):
            if tuple(r) in self.memory_:
                out[i] = 0.0
                out[i, list(self.classes_).index(self.memory_[tuple(r)])] = 1.0
        return out


def _data(n=120, n_features=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_features))
    y = np.where(X[:, 0] + 0.3 * rng.normal(size=n) > 0, "scratch", "pit")
    return X, y


def test_every_item_is_scored_by_a_model_that_never_saw_it():
    X, y = _data()
    res = cross_val_oof(X, y, model=LookupClassifier(), n_splits=5)
    assert np.all(res.pred_probs == 0.5)  # never memorised: no row was in its own training set
    assert sorted(np.unique(res.fold_ids).tolist()) == [0, 1, 2, 3, 4]


def test_groups_never_on_both_sides():
    # 20 groups of 6 identical crops; a memoriser would recognise a group-mate from training
    rng = np.random.default_rng(1)
    base = rng.normal(size=(20, 4))
    X = np.repeat(base, 6, axis=0)
    y = np.repeat(np.array(["a", "b", "c", "d"] * 5), 6)
    groups = np.repeat(np.arange(20), 6)
    res = cross_val_oof(X, y, groups=groups, model=LookupClassifier(), n_splits=5)
    for g in range(20):
        assert len(set(res.fold_ids[groups == g].tolist())) == 1
    assert np.all(res.pred_probs == 0.25)
    # without groups the memoriser does recognise group-mates: the test above can fail
    ungrouped = cross_val_oof(X, y, model=LookupClassifier(), n_splits=5)
    assert np.any(ungrouped.pred_probs == 1.0)


def test_rare_class_warns_instead_of_crashing():
    X, y = _data(60)
    y = y.astype(object)
    y[:2] = "hole"  # 2 items, 5 folds
    y[2] = "seam"  # a single item
    res = cross_val_oof(X, y, model="logreg", n_splits=5)
    assert res.pred_probs.shape == (60, 4)
    np.testing.assert_allclose(res.pred_probs.sum(axis=1), 1.0)
    text = " ".join(res.warnings)
    assert "'hole' has only 2 labeled items" in text
    assert "'seam' has a single labeled item" in text
    assert res.pred_probs[2, res.classes.tolist().index("seam")] == 0.0


def test_fewer_items_than_folds():
    X = np.array([[0.0], [0.1], [5.0], [5.1]])
    res = cross_val_oof(X, ["a", "a", "b", "b"], model="logreg", n_splits=5)
    assert res.n_splits == 2
    assert any("folds instead of 5" in w for w in res.warnings)


def test_fewer_groups_than_folds():
    X, y = _data(30)
    groups = np.arange(30) % 3
    res = cross_val_oof(X, y, groups=groups, model="logreg", n_splits=5)
    assert res.n_splits == 3 and any("Only 3 groups" in w for w in res.warnings)


def test_single_class_training_fold_is_reported():
    X = np.arange(6, dtype=float)[:, None]
    y = ["a", "a", "a", "a", "a", "b"]
    res = cross_val_oof(X, y, model="logreg", n_splits=2)
    assert res.pred_probs.shape == (6, 2)
    np.testing.assert_allclose(res.pred_probs.sum(axis=1), 1.0)


def test_deterministic_and_independent_of_n_jobs():
    X, y = _data(150)
    model = make_model("lightgbm", random_state=3)
    model.set_params(n_estimators=15)
    a = cross_val_oof(X, y, model=model, random_state=7, n_jobs=1)
    b = cross_val_oof(X, y, model=model, random_state=7, n_jobs=2)
    c = cross_val_oof(X, y, model=model, random_state=7, n_jobs=2)
    assert np.array_equal(a.pred_probs, b.pred_probs) and np.array_equal(b.pred_probs, c.pred_probs)
    assert np.array_equal(a.fold_ids, b.fold_ids)
    d = cross_val_oof(X, y, model=model, random_state=8)
    assert not np.array_equal(a.fold_ids, d.fold_ids)


def test_holdout_fraction_and_mask():
    X, y = _data(100)
    res = cross_val_oof(X, y, model=LookupClassifier(), holdout=0.2, n_splits=4)
    assert res.holdout_mask.sum() == 20
    assert np.all(res.fold_ids[res.holdout_mask] == -1)
    assert np.all(res.fold_ids[~res.holdout_mask] >= 0)
    assert np.all(res.pred_probs == 0.5)  # hold-out items were not trained on either
    mask = np.zeros(100, bool)
    mask[:10] = True
    res = cross_val_oof(X, y, model="logreg", holdout=mask)
    assert np.array_equal(res.holdout_mask, mask)
    groups = np.arange(100) // 5
    res = cross_val_oof(X, y, groups=groups, model="logreg", holdout=0.25)
    held = set(groups[res.holdout_mask].tolist())
    assert held and held.isdisjoint(groups[~res.holdout_mask].tolist())


def test_progress_is_called_per_fit():
    X, y = _data(40)
    calls = []
    cross_val_oof(X, y, model="logreg", n_splits=4, progress=lambda d, n, msg: calls.append((d, n)))
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_make_folds_is_stratified():
    y = np.array(["a"] * 50 + ["b"] * 10)
    folds, used, notes = make_folds(y, n_splits=5, random_state=0)
    assert used == 5 and notes == []
    for k in range(5):
        assert (y[folds == k] == "b").sum() == 2


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(X=[[0.0], [np.nan]], y=["a", "b"]), "must be finite"),
        (dict(X=[[0.0], [1.0]], y=["a"]), "has 1 labels but there are 2"),
        (dict(X=[[0.0], [1.0]], y=["a", "b"], n_splits=1), r"'n_splits' .* must be >= 2"),
        (dict(X=[[0.0], [1.0]], y=["a", "b"], model="xgboost"), "must be one of"),
        (dict(X=[[0.0], [1.0]], y=["a", "a"]), "at least 2 classes"),
        (dict(X=[[0.0], [1.0]], y=["a", "b"], groups=[1, 1]), "at least 2 groups"),
        (dict(X=[[0.0], [1.0]], y=["a", "b"], holdout=1.5), "fraction in"),
    ],
)
def test_invalid_inputs(kwargs, match):
    with pytest.raises(InputError, match=match):
        cross_val_oof(**kwargs)


def test_float32_features_are_not_copied_to_float64_and_give_proper_probabilities(monkeypatch):
    """Training keeps a float32 matrix float32 (at 100,000 rows each float64 copy is ~190 MB); the
    probabilities still come back float64 with rows summing to 1, as with float64 input."""
    from defectlab.learn import models

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 6)).astype(np.float32)
    y = np.where(X[:, 0] + 0.3 * rng.normal(size=300) > 0, "pit", "scratch")
    seen = []
    real_fit = models.LightGBMClassifier.fit

    def spy(self, Xf, yf, sample_weight=None):
        seen.append(np.asarray(Xf).dtype)
        return real_fit(self, Xf, yf, sample_weight)

    monkeypatch.setattr(models.LightGBMClassifier, "fit", spy)
    res32 = cross_val_oof(X, y, model="ensemble", n_splits=3, refit=True)
    res64 = cross_val_oof(X.astype(np.float64), y, model="ensemble", n_splits=3)
    assert set(seen) == {np.dtype(np.float32), np.dtype(np.float64)}  # float32 reached the model as is
    assert res32.pred_probs.dtype == np.float64
    np.testing.assert_allclose(res32.pred_probs.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(res32.pred_probs, res64.pred_probs, atol=1e-4)
    proba = res32.model.predict_proba(X)
    assert proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)


def test_large_sets_split_early_stopping_from_one_binned_dataset(monkeypatch):
    """From LARGE_ROWS rows on, LightGBM bins the training rows once and takes the early-stopping sets as
    row subsets; the model is as good as with two separately binned sets."""
    from defectlab.learn import models

    rng = np.random.default_rng(1)
    X = rng.normal(size=(3000, 8)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    same = {"random_state": 0, "early_stopping": True, "large_subsample": 0.8, "large_colsample": 0.5}
    small = models.LightGBMClassifier(**same).fit(X, y)
    monkeypatch.setattr(models, "LARGE_ROWS", 2000)  # only the binning path differs
    large = models.LightGBMClassifier(**same).fit(X, y)
    acc = [float((m.predict(X) == y).mean()) for m in (small, large)]
    assert min(acc) > 0.95 and abs(acc[0] - acc[1]) < 0.02, acc
    assert large.n_iter_ >= 1
