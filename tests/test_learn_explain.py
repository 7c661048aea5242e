"""Tests of defectlab.learn.explain: contributions summed by family, exact for linear and tree models."""

import importlib

import numpy as np
import pytest

from defectlab.errors import InputError
from defectlab.learn.explain import explain, family_of
from defectlab.learn.models import make_model

# the package re-exports the function explain(), which shadows the module of the same name
explain_mod = importlib.import_module("defectlab.learn.explain")

NAMES = ["glcm.contrast", "glcm.energy", "lbp.bin0", "hog.cell0"]


def _data(n=120):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 4))
    y = np.array(["crack", "pit", "seam"])[(X[:, 0] > 0).astype(int) + (X[:, 2] > 0.5)]
    return X, y


def test_family_of():
    assert family_of("lbp.u8_r1.bin3") == "lbp" and family_of("plain") == "plain"


def test_linear_contributions_are_coef_times_standardised_value():
    X, y = _data()
    clf = make_model("logreg").fit(X, y)
    row = X[:1]
    k = int(np.argmax(clf.predict_proba(row)))
    z = clf[0].transform(row)[0]
    per_col = clf[-1].coef_[k] * z
    expected = {"glcm": per_col[0] + per_col[1], "lbp": per_col[2], "hog": per_col[3]}
    got = explain(clf, row, NAMES, top=3)[0]
    assert {d["family"]: d["contribution"] for d in got} == pytest.approx(expected)
    assert [d["contribution"] for d in got] == sorted(expected.values(), reverse=True)
    assert got[0]["method"] == "linear"


def test_lightgbm_family_contributions_add_up_to_the_raw_score():
    X, y = _data()
    clf = make_model("lightgbm", n_jobs=1).set_params(n_estimators=20).fit(X, y)
    out = explain(clf, X[:5], NAMES, top=3)
    raw = clf.booster_.predict(X[:5], raw_score=True)
    contrib = clf.pred_contrib(X[:5])
    for i, row in enumerate(out):
        k = int(np.argmax(raw[i]))
        bias = contrib[i, k, -1]
        assert sum(d["contribution"] for d in row) + bias == pytest.approx(raw[i, k])
        assert row[0]["method"] == "tree_shap"


def test_titles_come_from_the_features_package(monkeypatch):
    X, y = _data()
    clf = make_model("logreg").fit(X, y)
    monkeypatch.setattr(explain_mod, "family_titles", lambda: {"glcm": "Grey-level co-occurrence"})
    titles = {d["family"]: d["title"] for d in explain(clf, X[:1], NAMES, top=3)[0]}
    assert titles == {"glcm": "Grey-level co-occurrence", "lbp": "lbp", "hog": "hog"}


@pytest.mark.slow  # ~30 s on a busy 2-core machine: two calibrated SVM fits plus occlusion over 30 rows
def test_occlusion_for_other_models_and_background_required():
    X, y = _data()
    svm = make_model("svm").fit(X, y)
    with pytest.raises(InputError, match="needs a 'background' row"):
        explain(svm, X[:2], NAMES)
    out = explain(svm, X[:2], NAMES, top=2, background=X.mean(axis=0))
    assert len(out) == 2 and len(out[0]) == 2 and out[0][0]["method"] == "occlusion"
    # a constant column cannot matter: occluding it changes nothing
    Xc = X.copy()
    Xc[:, 3] = 0.0
    svm = make_model("svm").fit(Xc, y)
    rows = explain(svm, Xc[:30], NAMES, top=3, background=Xc.mean(axis=0))
    assert all({d["family"]: d["contribution"] for d in row}.get("hog", 0.0) == 0.0 for row in rows)
    assert {row[0]["family"] for row in rows if row[0]["contribution"] > 0} == {"glcm", "lbp"}


def test_ensemble_is_explained_by_its_members():
    X, y = _data()
    ens = make_model("ensemble", n_jobs=1).set_params(lightgbm__n_estimators=20).fit(X, y)
    out = explain(ens, X[:3], NAMES, top=1)
    assert out[0][0]["method"] == "ensemble"


def test_names_must_match_columns():
    X, y = _data()
    clf = make_model("logreg").fit(X, y)
    with pytest.raises(InputError, match="has 2 names but X has 4 columns"):
        explain(clf, X[:1], NAMES[:2])
