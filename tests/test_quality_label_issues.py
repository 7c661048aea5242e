"""defectlab.quality.label_issues: planted label errors found, ranked, explained, validated."""

import warnings

import numpy as np
import pandas as pd
import pytest
from quality_support import render_reason
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from defectlab.errors import InputError
from defectlab.i18n import catalog
from defectlab.quality import (
    SmallClassWarning,
    find_label_issues,
    find_label_issues_retrained,
    neighbor_label_probs,
)

COLUMNS = ["index", "given", "suggested", "score", "reason", "reason_parts", "is_issue",
           "p_given", "p_suggested", "model_p_suggested", "neighbors_agree"]


def _blobs(seed=0, n_per=100, k=4, d=5, n_flip=20):
    """Well-separated Gaussian blobs with ``n_flip`` labels flipped to another class."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 6, (k, d))
    X = np.concatenate([c + rng.normal(0, 1, (n_per, d)) for c in centers])
    y = np.repeat(np.arange(k), n_per)
    flip = rng.choice(y.size, n_flip, replace=False)
    noisy = y.copy()
    noisy[flip] = (y[flip] + rng.integers(1, k, n_flip)) % k
    names = np.array(["crazing", "inclusion", "patches", "scratches"])[:k]
    return X, names[y], names[noisy], np.sort(flip), list(names)


def _oof(X, labels, exclude=None):
    """5-fold OOF logistic-regression probabilities, never trained on excluded rows."""
    exclude = np.zeros(len(labels), bool) if exclude is None else exclude
    classes = np.unique(labels)
    P = np.zeros((len(labels), classes.size))
    for train, test in StratifiedKFold(5, shuffle=True, random_state=0).split(X, labels):
        train = train[~exclude[train]]
        P[test] = LogisticRegression(max_iter=1000).fit(X[train], labels[train]).predict_proba(X[test])
    return P


@pytest.fixture(scope="module")
def blobs():
    X, truth, noisy, flip, classes = _blobs()
    return X, truth, noisy, flip, classes, _oof(X, noisy)


def _flagged(df):
    return set(df.loc[df["is_issue"], "index"].tolist())


# ---------------------------------------------------------------- hand-checkable


def test_exact_scores_suggestions_and_reasons():
    labels = ["a"] * 10 + ["b"] * 10
    P = np.array([[0.9, 0.1]] * 10 + [[0.2, 0.8]] * 10)
    P[0] = [0.03, 0.97]  # labeled a, looks like b
    P[10] = [0.6, 0.4]   # labeled b, leans to a
    df = find_label_issues(labels, P, ["a", "b"])
    assert list(df.columns) == COLUMNS
    assert len(df) == 20 and sorted(df["index"]) == list(range(20))
    row = df.set_index("index")
    assert row.loc[0, "score"] == pytest.approx(0.97)       # 1 - p(given)
    assert row.loc[0, "suggested"] == "b" and row.loc[0, "is_issue"]
    assert row.loc[0, "reason"] == "model is 97% sure this is b"
    assert row.loc[0, "reason_parts"] == [
        {"key": "quality.reason.model_sure", "args": {"pct": 97, "cls": "b"}}]
    assert row.loc[10, "score"] == pytest.approx(0.6)
    assert row.loc[1, "score"] == pytest.approx(0.1)
    assert row.loc[1, "suggested"] == "a" and row.loc[1, "reason"] == "model agrees (90% a)"
    assert row.loc[1, "reason_parts"] == [
        {"key": "quality.reason.model_agrees", "args": {"pct": 90, "cls": "a"}}]
    assert row.loc[10, "reason_parts"] == [
        {"key": "quality.reason.model_leans", "args": {"pct": 60, "cls": "a"}}]
    assert row.loc[5, "p_given"] == pytest.approx(0.9) and np.isnan(row.loc[5, "neighbors_agree"])
    assert df.loc[0, "index"] == 0  # flagged first


def test_order_flagged_first_then_score_then_index(blobs):
    _X, _truth, noisy, _flip, classes, P = blobs
    df = find_label_issues(noisy, P, classes)
    flags = df["is_issue"].to_numpy()
    assert not np.any(~flags[:-1] & flags[1:])  # all True before all False
    for part in (df[df.is_issue], df[~df.is_issue]):
        key = list(zip(-part["score"], part["index"], strict=True))
        assert key == sorted(key)
    assert df["score"].between(0, 1).all()


def test_int_labels_without_class_names():
    P = np.array([[0.9, 0.1, 0.0]] * 8 + [[0.05, 0.9, 0.05]] * 8 + [[0.0, 0.1, 0.9]] * 8)
    labels = np.repeat([0, 1, 2], 8)
    labels[3] = 2
    df = find_label_issues(labels, P, min_class_size=5)
    top = df.iloc[0]
    assert (top["index"], top["given"], top["suggested"], top["is_issue"]) == (3, 2, 0, True)


# ---------------------------------------------------------------- planted flips


def test_planted_flips_found_on_blobs(blobs):
    X, _truth, noisy, flip, classes, P = blobs
    found = _flagged(find_label_issues(noisy, P, classes, features=X))
    tp = len(found & set(flip.tolist()))
    assert tp / len(found) >= 0.95 and tp / len(flip) >= 0.85


def test_retrained_round_finds_every_planted_flip(blobs):
    X, truth, noisy, flip, classes, P = blobs
    seen = []

    def retrain(exclude):
        seen.append(exclude.copy())
        return _oof(X, noisy, exclude)

    df = find_label_issues_retrained(noisy, P, classes, retrain, features=X)
    assert _flagged(df) == set(flip.tolist())
    assert len(seen) == 1 and seen[0].dtype == bool and seen[0][flip].all()
    assert seen[0].sum() < 2 * len(flip)  # suspects: generous, not everything
    suggested = df.set_index("index").loc[flip, "suggested"].to_numpy()
    assert (suggested == truth[flip]).all()  # the suggestion is the true class


def test_ranked_rule_holds_cleanlab_items_and_fills_along_the_ranking(blobs):
    X, _truth, noisy, _flip, classes, P = blobs
    df = find_label_issues(noisy, P, classes, features=X).set_index("index").sort_index()
    cl = _flagged(find_label_issues(noisy, P, classes, flag_rule="cleanlab"))  # on the model's probs
    m = len(cl)
    disagree = df["suggested"] != df["given"]
    flagged = df.index[df["is_issue"]]
    assert set(df.index[disagree]) & cl <= set(flagged)  # cleanlab's items the evidence agrees with
    assert disagree[flagged].all()  # a flag always suggests another class
    assert m <= len(flagged) <= 2 * m
    cut = np.sort(df["score"].to_numpy())[::-1][m - 1]
    assert df[~df["is_issue"] & disagree & (df["score"] >= cut)].empty  # none above the M-th score left


def test_ranked_rule_finds_a_clear_error_cleanlab_skips():
    # 3 classes, 30 items each; cleanlab's per-class threshold for "c" is the mean p(c) of items
    # labeled c (about 0.93 here), so item 0 (labeled a, p(c) = 0.85, p(a) = 0.01) is not counted in
    # the confident joint and cleanlab skips it, although it ranks first by self-confidence.
    P = np.array([[0.96, 0.02, 0.02]] * 30 + [[0.02, 0.96, 0.02]] * 30 + [[0.02, 0.02, 0.96]] * 30)
    labels = np.repeat(["a", "b", "c"], 30)
    P[0] = [0.01, 0.14, 0.85]   # labeled a: clearly c
    P[30] = [0.97, 0.02, 0.01]  # labeled b: clearly a (cleanlab finds it)
    P[31] = [0.96, 0.03, 0.01]  # labeled b: clearly a
    old = _flagged(find_label_issues(labels, P, ["a", "b", "c"], flag_rule="cleanlab"))
    new = _flagged(find_label_issues(labels, P, ["a", "b", "c"]))
    assert 0 not in old and {30, 31} <= old
    assert new == {0, 30, 31}


@pytest.mark.parametrize("seed", [0, 2])
def test_a_clean_project_gets_few_flags(seed):
    X, truth, _noisy, _flip, classes = _blobs(seed=seed, n_flip=0)[:5]
    X = X + np.random.default_rng(seed).normal(0, 2.5, X.shape)  # overlapping classes: real mistakes
    P = _oof(X, truth)
    df = find_label_issues(truth, P, classes, features=X)
    wrong = int((P.argmax(1) != np.searchsorted(classes, truth)).sum())
    assert wrong >= 4  # the model makes mistakes, so there is something to (not) flag
    assert df["is_issue"].sum() <= max(2, 0.02 * len(truth))
    before = find_label_issues(truth, P, classes, features=X, flag_rule="cleanlab")
    assert df["is_issue"].sum() <= 2 * max(1, before["is_issue"].sum())
    retrained = find_label_issues_retrained(truth, P, classes, lambda e: _oof(X, truth, e), features=X)
    assert retrained["is_issue"].sum() <= max(2, 0.02 * len(truth))


def test_two_rounds_call_retrain_twice(blobs):
    X, _truth, noisy, _flip, classes, P = blobs
    calls = []
    find_label_issues_retrained(noisy, P, classes, lambda e: calls.append(1) or _oof(X, noisy, e),
                                rounds=2)
    assert len(calls) == 2


@pytest.mark.parametrize("bad, match", [
    (lambda e: np.ones((3, 4)) / 4, r"must return \(400, 4\)"),
    (lambda e: np.ones((400, 4)), "summing to 1"),
])
def test_retrain_result_validated(blobs, bad, match):
    _X, _truth, noisy, _flip, classes, P = blobs
    with pytest.raises(InputError, match=match):
        find_label_issues_retrained(noisy, P, classes, bad)


def test_retrain_must_be_callable(blobs):
    _X, _truth, noisy, _flip, classes, P = blobs
    with pytest.raises(InputError, match="must be a function retrain"):
        find_label_issues_retrained(noisy, P, classes, "lightgbm")


def test_several_models_are_averaged(blobs):
    _X, _truth, noisy, _flip, classes, P = blobs
    Q = np.roll(P, 1, axis=1) * 0.5 + P * 0.5
    both = find_label_issues(noisy, [P, Q], classes)
    mean = find_label_issues(noisy, (P + Q) / 2, classes)
    reasons = ["reason", "reason_parts"]
    pd.testing.assert_frame_equal(both.drop(columns=reasons), mean.drop(columns=reasons))
    assert both["reason"].str.startswith("models ").all()
    assert all(p[0]["key"].startswith("quality.reason.models_") for p in both["reason_parts"])


def test_neighbour_vote_adds_evidence():
    # the model is unsure (55%) about item 0; its 5 neighbours are all labeled b
    X = np.r_[np.zeros((1, 2)), np.random.default_rng(0).normal(0, 0.1, (5, 2)),
              np.random.default_rng(1).normal(5, 0.1, (14, 2))]
    labels = ["a"] + ["b"] * 5 + ["a"] * 14
    P = np.array([[0.45, 0.55]] + [[0.1, 0.9]] * 5 + [[0.9, 0.1]] * 14)
    alone = find_label_issues(labels, P, ["a", "b"], min_class_size=1).set_index("index")
    knn = find_label_issues(labels, P, ["a", "b"], features=X, n_neighbors=5, knn_weight=0.5,
                            min_class_size=1).set_index("index")
    assert knn.loc[0, "neighbors_agree"] == pytest.approx(1.0)
    assert knn.loc[0, "score"] > alone.loc[0, "score"]
    # evidence = 0.5 * model + 0.5 * smoothed vote (5 + 0.1) / (5 + 0.2) for b
    assert knn.loc[0, "p_suggested"] == pytest.approx(0.5 * 0.55 + 0.5 * 5.1 / 5.2)
    assert "5 of 5 most similar items are labeled b" in knn.loc[0, "reason"]


def test_neighbor_label_probs_excludes_self_and_non_voters():
    X = np.array([[0.0, 1], [0.0, 1.1], [0.0, 1.2], [1, 0], [1.1, 0], [1.2, 0]])
    labels = ["a", "a", "b", "b", "b", None]
    p = neighbor_label_probs(X, labels, ["a", "b"], n_neighbors=2)
    assert p.shape == (6, 2) and np.allclose(p.sum(axis=1), 1)
    k, s = 2, 0.1
    assert p[2].tolist() == pytest.approx([(2 + s) / (k + 2 * s), s / (k + 2 * s)])
    assert p[0].tolist() == pytest.approx([(1 + s) / (k + 2 * s), (1 + s) / (k + 2 * s)])
    # item 2 may not vote: item 1's neighbours are then 0 and a "b" item
    voters = np.array([True, True, False, True, True, True])
    q = neighbor_label_probs(X, labels, ["a", "b"], n_neighbors=2, voters=voters)
    assert q[1].tolist() == pytest.approx([(1 + s) / (k + 2 * s), (1 + s) / (k + 2 * s)])
    # the unlabeled item 5 gets a vote of its own but never votes
    assert p[5].tolist() == pytest.approx([s / (k + 2 * s), (2 + s) / (k + 2 * s)])


# ---------------------------------------------------------------- ordinal


def test_ordinal_three_grades_off_ranks_above_one_grade_off():
    grades = ["g0", "g1", "g2", "g3", "g4"]
    labels = np.repeat(grades, 12).tolist()
    P = np.repeat(np.eye(5) * 0.875 + 0.025, 12, axis=0)
    P[0] = [0.025, 0.025, 0.025, 0.9, 0.025]   # labeled g0, surely g3: three grades off
    P[1] = [0.025, 0.9, 0.025, 0.025, 0.025]   # labeled g0, surely g1: one grade off
    nominal = find_label_issues(labels, P, grades).set_index("index")
    assert nominal.loc[0, "score"] == pytest.approx(nominal.loc[1, "score"])  # same to a nominal view
    df = find_label_issues(labels, P, grades, ordinal=True)
    assert df["index"].tolist()[:2] == [0, 1]
    r = df.set_index("index")
    # 0.5 * (1 - p_given) + 0.5 * E|d| / (K - 1)
    e0 = (0.025 * (1 + 2 + 4) + 0.9 * 3) / 4
    assert r.loc[0, "score"] == pytest.approx(0.5 * 0.975 + 0.5 * e0)
    assert r.loc[0, "reason"].endswith("3 grades from the given g0")
    assert r.loc[1, "reason"].endswith("1 grade from the given g0")
    assert r.loc[0, "is_issue"] and r.loc[1, "is_issue"]


# ---------------------------------------------------------------- small classes


def test_small_class_warns_and_is_not_flagged():
    labels = ["common"] * 30 + ["other"] * 30 + ["rare"] * 4
    P = np.array([[0.9, 0.05, 0.05]] * 30 + [[0.05, 0.9, 0.05]] * 30 + [[0.05, 0.05, 0.9]] * 4)
    P[60] = [0.97, 0.02, 0.01]  # a "rare" item that looks common
    P[0] = [0.02, 0.97, 0.01]   # a "common" item that looks like other
    with pytest.warns(SmallClassWarning, match=r"'rare' \(4\).*too few to judge"):
        df = find_label_issues(labels, P, ["common", "other", "rare"])
    r = df.set_index("index")
    assert not r.loc[60, "is_issue"] and r.loc[60, "score"] == pytest.approx(0.99)
    assert r.loc[60, "reason"] == "class rare has only 4 labeled items (fewer than 10): too few to judge"
    assert r.loc[0, "is_issue"]


def test_no_warning_when_every_class_is_large_enough(blobs):
    _X, _truth, noisy, _flip, classes, P = blobs
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        find_label_issues(noisy, P, classes)


def test_class_without_items_does_not_crash():
    labels = ["a"] * 12 + ["b"] * 12
    P = np.array([[0.8, 0.1, 0.1]] * 12 + [[0.1, 0.8, 0.1]] * 12)
    P[0] = [0.05, 0.9, 0.05]
    df = find_label_issues(labels, P, ["a", "b", "c"])
    assert df.iloc[0]["index"] == 0 and df.iloc[0]["is_issue"]


def test_a_single_used_class_flags_nothing():
    df = find_label_issues(["a"] * 15, [[0.2, 0.8]] * 15, ["a", "b"])
    assert not df["is_issue"].any() and (df["suggested"] == "b").all()


# ---------------------------------------------------------------- determinism


def test_n_jobs_does_not_change_the_result(blobs):
    X, _truth, noisy, _flip, classes, P = blobs
    one = find_label_issues(noisy, P, classes, features=X, n_jobs=1)
    two = find_label_issues(noisy, P, classes, features=X, n_jobs=2)
    pd.testing.assert_frame_equal(one, two)
    pd.testing.assert_frame_equal(one, find_label_issues(noisy, P, classes, features=X))


@pytest.mark.parametrize("filter_by", ["prune_by_class", "both", "confident_learning",
                                       "predicted_neq_given"])
def test_other_filters_find_the_flips_too(blobs, filter_by):
    _X, _truth, noisy, flip, classes, P = blobs
    found = _flagged(find_label_issues(noisy, P, classes, filter_by=filter_by))
    assert len(found & set(flip.tolist())) >= 15


# ---------------------------------------------------------------- validation


GOOD_P = np.array([[0.9, 0.1]] * 10 + [[0.1, 0.9]] * 10)
GOOD_Y = ["a"] * 10 + ["b"] * 10


@pytest.mark.parametrize("kwargs, match", [
    (dict(pred_probs=np.ones(20)), r"shape \(n_samples, n_classes\).*Got shape \(20,\)"),
    (dict(pred_probs=GOOD_P * 2), r"probabilities in \[0, 1\]"),
    (dict(pred_probs=GOOD_P * 0.5), "must have rows summing to 1; row 0 sums to 0.5"),
    (dict(pred_probs=[GOOD_P, GOOD_P[::-1] * 0.5]), "row 0 of model 1 sums to 0.5"),
    (dict(pred_probs=np.full((20, 2), np.nan)), r"in \[0, 1\]; row 0 holds nan"),
    (dict(labels=GOOD_Y[:-1]), "has 19 labels but pred_probs/features have 20 rows"),
    (dict(labels=["a"] * 19 + ["z"]), "holds 'z' at position 19, which is not one of the classes"),
    (dict(labels=["a"] * 19 + [None]), "missing label at position 19"),
    (dict(classes=["a", "b", "c"]), "has 3 names but pred_probs has 2 columns"),
    (dict(classes=["a", "a"]), "distinct names; 'a' appears twice"),
    (dict(features=np.ones((3, 2))), "features.*has 3 rows but there are 20 items"),
    (dict(features=np.full((20, 2), np.inf)), "must be finite"),
    (dict(filter_by="magic"), r"'filter_by'.*must be one of \['prune_by_noise_rate'"),
    (dict(flag_rule="topk"), r"'flag_rule'.*must be one of \['ranked', 'cleanlab'\]"),
    (dict(knn_weight=1.5), r"'knn_weight'.*\[0.0, 1.0\]. Got 1.5"),
    (dict(n_neighbors=0), "'n_neighbors'.*integer >= 1"),
    (dict(min_class_size=True), "'min_class_size'.*integer"),
    (dict(ordinal="yes"), "'ordinal'.*True or False"),
    (dict(voters=np.ones(3, bool)), r"'voters'.*shape \(20,\)"),
])
def test_invalid_inputs(kwargs, match):
    args = dict(labels=GOOD_Y, pred_probs=GOOD_P, classes=["a", "b"])
    args.update(kwargs)
    with pytest.raises(InputError, match=match):
        find_label_issues(**args)


def test_tiny_sets_do_not_crash_and_say_what_they_can():
    df = find_label_issues(["a", "b"], [[0.1, 0.9], [0.9, 0.1]], ["a", "b"],
                           features=[[0.0, 1.0], [1.0, 0.0]], min_class_size=1)
    assert df.set_index("index").loc[0, "neighbors_agree"] == 1.0
    assert "1 of 1 most similar items are labeled b" in df.set_index("index").loc[0, "reason"]
    with pytest.warns(SmallClassWarning):
        one = find_label_issues(["a", "b", "c"], np.eye(3) * 0.7 + 0.1, ["a", "b", "c"],
                                features=np.eye(3))
    assert not one["is_issue"].any()
    assert one.set_index("index").loc[0, "reason"] == (
        "class a has only 1 labeled item (fewer than 10): too few to judge")


# ---------------------------------------------------------------- reasons as catalog messages


def _all_reasons(blobs):
    """Reasons of every kind: agree / sure / lean, neighbours, grades, small classes, 2 models."""
    X, _truth, noisy, _flip, classes, P = blobs
    frames = [
        find_label_issues(noisy, P, classes, features=X),
        find_label_issues(noisy, [P, np.roll(P, 1, axis=1) * 0.3 + P * 0.7], classes, features=X),
        find_label_issues(noisy, P, classes, ordinal=True, features=X),
        find_label_issues(["a", "b"], [[0.1, 0.9], [0.9, 0.1]], ["a", "b"],
                          features=[[0.0, 1.0], [1.0, 0.0]], min_class_size=1),
    ]
    with pytest.warns(SmallClassWarning):
        frames.append(find_label_issues(["a"] * 12 + ["b"] * 4 + ["c"], np.full((17, 3), 1 / 3),
                                        ["a", "b", "c"]))
    return pd.concat(frames, ignore_index=True)


def test_reason_parts_say_the_reason_in_the_catalog_words(blobs):
    df = _all_reasons(blobs)
    keys = {p["key"] for parts in df["reason_parts"] for p in parts}
    assert keys == {f"quality.reason.{k}" for k in (
        "model_agrees", "models_agree", "model_sure", "models_sure", "model_leans", "models_lean",
        "neighbors", "grades_off", "grade_off_one", "too_few", "too_few_one")}
    assert keys <= set(catalog("en")) and keys <= set(catalog("zh_CN"))
    for reason, parts in zip(df["reason"], df["reason_parts"], strict=True):
        assert render_reason(parts, "en") == reason
        for p in parts:  # plain values that survive JSON
            assert all(isinstance(v, (int, str)) for v in p["args"].values()), p


def test_reason_parts_in_chinese():
    planted = find_label_issues(["a"] * 10 + ["b"] * 10, [[0.03, 0.97]] + [[0.9, 0.1]] * 9
                                + [[0.1, 0.9]] * 10, ["a", "b"], ordinal=True,
                                features=[[1.0, 0.0]] + [[0.0, 1.0]] * 9 + [[1.0, 0.0]] * 10)
    top = planted.iloc[0]
    assert top["reason"] == ("model is 97% sure this is b; 10 of 10 most similar items are labeled b; "
                             "1 grade from the given a")
    assert render_reason(top["reason_parts"], "zh_CN") == (
        "模型有 97% 的把握认为这是 b；最相似的 10 个样本中有 10 个标为 b；与现有标注 a 相差 1 个等级")
