"""LightGBM's large-N rule (models.SCALE_ROWS): fewer rounds, a higher rate, larger leaves -- only above it."""

import numpy as np
import pytest

from defectlab.learn.models import SCALE_ROWS, LightGBMClassifier, make_model, model_params


def _data(n, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = rng.normal(size=(n, 6)).astype(np.float32)
    X[:, 0] += y
    return X, np.array(["a", "b", "c"])[y]


def test_the_fast_preset_carries_the_rule_and_records_it():
    clf = make_model("lightgbm")
    assert (clf.scale_rows, clf.scale_learning_rate, clf.scale_n_estimators, clf.scale_min_leaf_rows) == (
        SCALE_ROWS, 0.15, 67, 400)
    recorded = model_params("ensemble")["lightgbm"]
    assert recorded["scale_rows"] == SCALE_ROWS and recorded["scale_n_estimators"] == 67
    assert "scale_learning_rate" not in model_params("lightgbm", "accurate")  # the accurate preset: no rule
    assert LightGBMClassifier().scale_learning_rate is None  # off unless asked for


def test_the_rule_changes_the_parameters_only_from_scale_rows_on():
    clf = make_model("lightgbm")
    below = clf._lgb_params(6, SCALE_ROWS - 1, seed=0)
    at = clf._lgb_params(6, 80_000, seed=0)
    assert (below["learning_rate"], below["min_data_in_leaf"], clf._rounds(SCALE_ROWS - 1)) == (0.1, 10, 100)
    assert (at["learning_rate"], at["min_data_in_leaf"], clf._rounds(80_000)) == (0.15, 200, 67)
    # bagging and columns stay what LARGE_ROWS gives
    assert (below["bagging_fraction"], below["feature_fraction"]) == (at["bagging_fraction"], at["feature_fraction"])
    plain = LightGBMClassifier(**{k: v for k, v in clf.get_params().items() if not k.startswith("scale_")})
    assert plain._lgb_params(6, 80_000, seed=0)["learning_rate"] == 0.1 and plain._rounds(80_000) == 100


def test_below_the_threshold_the_model_is_bit_identical_to_one_without_the_rule():
    X, y = _data(600)
    params = make_model("lightgbm", random_state=0).get_params()
    with_rule = LightGBMClassifier(**params).fit(X, y)
    without = LightGBMClassifier(**{**params, "scale_learning_rate": None, "scale_n_estimators": None,
                                    "scale_min_leaf_rows": None}).fit(X, y)
    assert with_rule.booster_.model_to_string() == without.booster_.model_to_string()
    assert with_rule.fit_params_["scale_rule"] is False and with_rule.fit_params_["rounds"] == 100


def test_above_a_lowered_threshold_the_rule_applies_and_says_so():
    X, y = _data(600)
    params = {**make_model("lightgbm", random_state=0).get_params(), "scale_rows": 500, "scale_min_leaf_rows": 20}
    fitted = LightGBMClassifier(**params).fit(X, y)
    assert fitted.fit_params_["scale_rule"] is True
    assert fitted.fit_params_["rounds"] == 67 and fitted.n_iter_ <= 67
    assert fitted.fit_params_["learning_rate"] == 0.15 and fitted.fit_params_["min_data_in_leaf"] == 30
    assert np.mean(fitted.predict(X) == y) > 0.8


@pytest.mark.parametrize("model", ["lightgbm", "ensemble"])
def test_a_run_records_the_settings_of_its_final_lightgbm_fit(ws, model):
    from defectlab.imaging import encode_png
    from defectlab.learn import get_run, train_project
    from defectlab.store import add_item, annotate, create_project

    proj = create_project(ws, "P", ["a", "b"])
    rng = np.random.default_rng(2)
    for k in range(30):
        img = np.clip(rng.normal(90 + 60 * (k % 2), 20, (24, 24)), 0, 255).astype(np.uint8)
        sha, rel = ws.put_blob(encode_png(img), "png")
        with ws.transaction() as conn:
            item = add_item(conn, proj.id, sha256=sha, blob=rel, width=24, height=24, channels=1, source=f"{k}.png")
        annotate(ws, item, "ab"[k % 2], source="import")
    s = train_project(ws, "P", model=model, folds=3, n_jobs=1)
    fit = get_run(ws, s["run_id"])["params"]["lightgbm_fit"]
    assert fit["rows"] == 30 and fit["scale_rule"] is False and fit["learning_rate"] == 0.1
