"""defectlab.quality.outliers: a blank frame among textures ranks first; exact ratios; validation."""

import cv2
import numpy as np
import pytest
from quality_support import render_reason

from defectlab.errors import InputError
from defectlab.features import extract, feature_names
from defectlab.quality import find_outliers


def _textures(n, size=64, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        noise = rng.normal(0, 1, (size, size)).astype(np.float32)
        img = cv2.GaussianBlur(noise, (0, 0), 1.0 + (i % 4))
        img = (img - img.mean()) / (img.std() + 1e-9) * 30 + 120
        out.append(np.clip(img, 0, 255).astype(np.uint8))
    return np.stack(out)


def test_blank_frame_among_textures_ranks_first():
    images = _textures(40)
    images[17] = 128  # a blank frame
    df = find_outliers(extract(images), feature_names=feature_names())
    assert df.loc[0, "index"] == 17 and df.loc[0, "is_outlier"]
    assert df["is_outlier"].sum() == 1
    assert df.loc[0, "reason"].startswith("far from every other item: ")
    assert "most unusual: " in df.loc[0, "reason"]


def test_exact_ratios_on_a_line():
    # ten points 1 apart and one at 100. Median 5, IQR 5 -> one typical spread = 5 / 1.349;
    # in spreads the neighbours are 1.349 / 5 apart, 9 sits at 4 * 1.349 / 5 and 100 is clipped to 10
    X = np.r_[np.arange(10.0), 100.0][:, None]
    df = find_outliers(X, n_neighbors=1, feature_names=["width"])
    top = df.iloc[0]
    assert top["index"] == 10
    ratio = (10 - 4 * 1.349 / 5) / (1.349 / 5)
    assert top["distance_ratio"] == pytest.approx(ratio)
    assert top["score"] == pytest.approx(1 - 1 / ratio)
    assert top["reason"] == ("far from every other item: 33.1x the usual distance to its 1 nearest "
                             "items; most unusual: width (high, over 10 typical spreads away)")
    rest = df.iloc[1:]
    assert (rest["score"] == 0).all() and not rest["is_outlier"].any()
    assert rest["index"].tolist() == list(range(10))  # ties by index
    assert (rest["reason"] == "as close to its neighbours as a typical item").all()


def test_reason_parts_exact():
    # five points: median 1, IQR 2 -> one typical spread = 2 / 1.349, so -4 is 5 * 1.349 / 2 spreads
    # low and 4 neighbour gaps (4 * 1.349 / 2) from 0, whose own gap is the usual 1.349 / 2
    X = np.array([[0.0], [1.0], [2.0], [3.0], [-4.0]])
    typical = [{"key": "quality.reason.outlier_typical", "args": {}}]
    for threshold, key in [(0.8, "quality.reason.outlier_apart"), (0.7, "quality.reason.outlier_far")]:
        df = find_outliers(X, n_neighbors=1, threshold=threshold, feature_names=["width"])
        assert df["index"].tolist() == [4, 0, 1, 2, 3]
        assert df.loc[0, "reason_parts"] == [
            {"key": key, "args": {"ratio": pytest.approx(4.0), "k": 1}},
            {"key": "quality.reason.most_unusual", "args": {"features": [
                {"key": "quality.reason.feature_low",
                 "args": {"feature": "width", "spreads": pytest.approx(5 * 1.349 / 2)}}]}},
        ]
        assert df["reason_parts"].tolist()[1:] == [typical] * 4
        assert [render_reason(p) for p in df["reason_parts"]] == df["reason"].tolist()
    assert df.loc[0, "reason"] == ("far from every other item: 4.0x the usual distance to its 1 "
                                   "nearest items; most unusual: width (low, 3 typical spreads away)")
    apart = find_outliers(X, n_neighbors=1, threshold=0.8, feature_names=["width"]).loc[0]
    assert not apart["is_outlier"] and apart["reason"].startswith("somewhat apart: 4.0x the usual")
    assert render_reason(apart["reason_parts"], "zh_CN") == (
        "略有偏离：到最近 1 个样本的距离是通常的 4.0 倍；最反常的特征：width（偏低，偏离 3 倍典型波动）")
    clipped = find_outliers(np.r_[np.arange(10.0), 100.0][:, None], n_neighbors=1,
                            feature_names=["width"]).loc[0, "reason_parts"]
    assert clipped[1]["args"]["features"] == [{"key": "quality.reason.feature_high_clipped",
                                               "args": {"feature": "width", "spreads": 10.0}}]
    spreads = clipped[1]["args"]["features"][0]["args"]["spreads"]
    types = [type(v) for v in (*clipped[0]["args"].values(), spreads)]
    assert types == [float, int, float]  # JSON-able, no NumPy scalars


def test_reason_parts_say_the_reason_in_every_wording():
    X = np.random.default_rng(0).normal(size=(40, 5))
    X[3] = [60, 0, 0, 0, 0]       # far: one feature over the clip
    X[7] = [0, -6, 5, 0, 0]       # far: a low and a high feature
    X[9] = [0, 0, 0, -60, 0]      # far: one feature under the clip
    names = ["mean", "std", "lbp_3", "glcm_contrast", "hog_0"]
    df = find_outliers(X, n_neighbors=5, threshold=0.0, feature_names=names)  # every item
    keys = set()
    for r in df.itertuples(index=False):
        parts = r.reason_parts
        keys |= {p["key"] for p in parts}
        keys |= {f["key"] for p in parts for f in p["args"].get("features", [])}
        assert render_reason(parts, "en") == r.reason
    assert keys == {"quality.reason.outlier_far", "quality.reason.outlier_typical",
                    "quality.reason.most_unusual", "quality.reason.feature_high",
                    "quality.reason.feature_low", "quality.reason.feature_high_clipped",
                    "quality.reason.feature_low_clipped"}
    top = df.set_index("index").loc[3, "reason_parts"]
    assert render_reason(top, "zh_CN").startswith("与其他样本都相距很远：到最近 5 个样本的距离是通常的 ")
    assert "mean（偏高，偏离超过 10 倍典型波动）" in render_reason(top, "zh_CN")


def test_two_copies_of_an_odd_item_are_still_outliers():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 5))
    X[[3, 40]] = 30.0
    df = find_outliers(X, n_neighbors=5)
    assert set(df.loc[:1, "index"]) == {3, 40} and df.loc[:1, "is_outlier"].all()


def test_score_meaning_and_columns():
    rng = np.random.default_rng(1)
    df = find_outliers(rng.normal(size=(200, 6)))
    assert list(df.columns) == ["index", "score", "reason", "reason_parts", "is_outlier",
                                "distance_ratio"]
    assert df["score"].between(0, 1).all() and df["score"].is_monotonic_decreasing
    expected = np.clip(1 - 1 / df["distance_ratio"], 0, 1)
    assert np.allclose(df["score"], expected)
    assert np.median(df["distance_ratio"]) == pytest.approx(1.0)


def test_n_jobs_does_not_change_the_result():
    X = np.random.default_rng(2).normal(size=(150, 8))
    assert find_outliers(X, n_jobs=1).equals(find_outliers(X, n_jobs=2))


@pytest.mark.parametrize("kwargs, match", [
    (dict(features=np.ones((2, 3))), "at least 3 items"),
    (dict(features=np.ones(5)), "2-D numeric array"),
    (dict(features=[[1.0, np.nan]] * 4), "must be finite; row 0, column 1"),
    (dict(features=np.ones((5, 2)), n_neighbors=0), "'n_neighbors'.*>= 1"),
    (dict(features=np.ones((5, 2)), threshold=1.0), r"'threshold'.*\[0.0, 0.999\]"),
    (dict(features=np.ones((5, 2)), feature_names=["a"]), "1 names for 2 feature columns"),
])
def test_invalid(kwargs, match):
    with pytest.raises(InputError, match=match):
        find_outliers(**kwargs)
