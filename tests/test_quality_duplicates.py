"""defectlab.quality.duplicates: pHash, exact / near groups, every cross-label duplicate reported."""

import cv2
import numpy as np
import pytest
from quality_support import render_reason

from defectlab.errors import InputError
from defectlab.quality import find_duplicates, hamming_distances, phash


def _textures(n, size=96, seed=0):
    """Distinct smooth random textures (uint8), each from its own noise field."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        noise = rng.normal(0, 1, (size, size)).astype(np.float32)
        sigma = 1.5 + (i % 5)
        img = cv2.GaussianBlur(noise, (0, 0), sigma)
        img = (img - img.min()) / (np.ptp(img) + 1e-9) * 255
        out.append(img.astype(np.uint8))
    return np.stack(out)


def _jpeg(img, quality=70):
    _ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)


# ---------------------------------------------------------------- phash


def test_hamming_distances_exact():
    a = np.array([0, 0b1111], np.uint64)
    b = np.array([0b1, 0b1111, np.iinfo(np.uint64).max], np.uint64)
    assert hamming_distances(a, b).tolist() == [[1, 4, 64], [3, 0, 60]]


def test_phash_tiny_hand_checkable():
    # a left-to-right ramp: only horizontal frequencies (row 0 of the DCT) are non-zero
    ramp = np.tile(np.arange(32, dtype=np.uint8) * 8, (32, 1))
    h = int(phash(ramp[None])[0])
    coeffs = cv2.dct(ramp.astype(np.float32))[:8, :8].ravel()
    expected = sum(1 << i for i, c in enumerate(coeffs) if c > np.median(coeffs[1:]) + 1e-6 * np.abs(coeffs[1:]).max())
    assert h == expected
    assert phash(np.zeros((1, 16, 16), np.uint8))[0] == 0  # a blank frame has no structure


def test_phash_is_stable_under_reencoding_resizing_and_brightness():
    imgs = _textures(6)
    base = phash(imgs)
    variants = {
        "jpeg q60": np.stack([_jpeg(i, 60) for i in imgs]),
        "half size": np.stack([cv2.resize(i, (48, 48), interpolation=cv2.INTER_AREA) for i in imgs]),
        "brighter": np.clip(imgs.astype(int) * 0.8 + 40, 0, 255).astype(np.uint8),
        "16-bit": imgs.astype(np.uint16) * 257,
        "rgb": np.repeat(imgs[..., None], 3, axis=-1),
    }
    for name, v in variants.items():
        d = np.diag(hamming_distances(base, phash(v)))
        assert d.max() <= 4, (name, d)
    between = hamming_distances(base, base)[np.triu_indices(6, 1)]
    assert between.min() >= 12


def test_phash_batch_equals_list_and_single():
    imgs = _textures(4)
    assert (phash(imgs) == phash(list(imgs))).all()
    assert phash(imgs)[2] == phash(imgs[2:3])[0]
    mixed = [imgs[0], cv2.resize(imgs[1], (150, 120)), np.repeat(imgs[2][..., None], 4, axis=-1)]
    assert phash(mixed).dtype == np.uint64 and phash(mixed).shape == (3,)


@pytest.mark.parametrize("images, match", [
    (np.zeros((4, 4), np.uint8), r"batch \(N, H, W\).*shape \(4, 4\)"),
    ([], "non-empty batch or list"),
    ("img.png", "non-empty batch or list of images. Got str"),
    ([np.zeros((4, 4, 2))], r"Image 0 .* shape \(4, 4, 2\)"),
    ([np.full((4, 4), np.nan)], "Image 0 .* NaN"),
    ([np.array([["a"]])], "non-empty numeric array"),
])
def test_phash_invalid(images, match):
    with pytest.raises(InputError, match=match):
        phash(images)


# ---------------------------------------------------------------- find_duplicates


@pytest.fixture(scope="module")
def planted():
    """40 distinct textures + planted copies: exact, re-encoded, resized; some under other labels."""
    base = _textures(40, seed=1)
    labels = np.array(["crazing", "patches", "scratches", "inclusion"] * 10, dtype=object)
    images = list(base)
    hashes = [f"sha{i}" for i in range(40)]
    labs = list(labels)
    plant = [  # (source, how, label of the copy)
        (0, "exact", "crazing"),       # same-label exact copy
        (1, "exact", "scratches"),     # cross-label exact copy  -> conflict
        (2, "jpeg", "scratches"),      # same-label near copy
        (3, "jpeg", "crazing"),        # cross-label near copy   -> conflict
        (5, "resize", "crazing"),      # cross-label near copy   -> conflict
        (6, "resize", None),           # unlabeled copy: no conflict
        (7, "exact", "patches"),       # three copies, two labels -> conflict
        (7, "jpeg", "inclusion"),
    ]
    for src, how, lab in plant:
        img = base[src]
        if how == "jpeg":
            img = _jpeg(img, 75)
        elif how == "resize":
            img = cv2.resize(img, (130, 130), interpolation=cv2.INTER_LINEAR)
        images.append(img)
        hashes.append(hashes[src] if how == "exact" else f"sha-copy-{len(hashes)}")
        labs.append(lab)
    return images, hashes, labs, plant


def test_every_planted_duplicate_found(planted):
    images, hashes, labels, _plant = planted
    df = find_duplicates(hashes=hashes, images=images, labels=labels)
    exact = {tuple(m) for m in df.loc[df.kind == "exact", "indices"]}
    near = {tuple(m) for m in df.loc[df.kind == "near", "indices"]}
    assert exact == {(0, 40), (1, 41), (7, 46)}
    assert near == {(2, 42), (3, 43), (5, 44), (6, 45), (7, 46, 47)}
    assert len(df) == 8 and df["group"].tolist() == list(range(8))


def test_every_cross_label_duplicate_is_a_conflict(planted):
    images, hashes, labels, _plant = planted
    df = find_duplicates(hashes=hashes, images=images, labels=labels)
    conflicts = {tuple(m) for m in df.loc[df.conflict, "indices"]}
    assert conflicts == {(1, 41), (3, 43), (5, 44), (7, 46), (7, 46, 47)}
    assert df["conflict"].tolist() == sorted(df["conflict"].tolist(), reverse=True)  # conflicts first
    row = df[df["indices"].map(tuple) == (1, 41)].iloc[0]
    assert row["kind"] == "exact" and row["labels"] == ["patches", "scratches"]
    assert row["reason"] == ("2 identical files labeled patches / scratches: a certain conflict, "
                             "only one label can be right")
    same = df[df["indices"].map(tuple) == (2, 42)].iloc[0]
    assert not same["conflict"] and same["reason"].endswith("all labeled scratches: keep one copy")
    unlabeled = df[df["indices"].map(tuple) == (6, 45)].iloc[0]
    assert not unlabeled["conflict"] and unlabeled["labels"] == ["scratches", None]


def test_phashes_give_the_same_groups_as_images(planted):
    images, hashes, labels, _plant = planted
    a = find_duplicates(hashes=hashes, images=images, labels=labels)
    b = find_duplicates(hashes=hashes, phashes=phash(images), labels=labels)
    assert a.equals(b)


def test_exact_only_and_near_only():
    df = find_duplicates(hashes=["x", "y", "x", "x", None, None])
    assert df["indices"].tolist() == [[0, 2, 3]] and df["distance"].tolist() == [0.0]
    h = np.array([0, 0b111, 2**40 - 1, 0b1], np.uint64)
    near = find_duplicates(phashes=h, max_distance=3)
    assert near["indices"].tolist() == [[0, 1, 3]] and near["distance"].tolist() == [3.0]
    assert find_duplicates(phashes=h, max_distance=0).empty


def test_near_duplicates_by_feature_similarity():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 8))
    X[29] = X[4] * 1.001 + 0.0001
    df = find_duplicates(features=X, min_similarity=0.999, labels=["a"] * 29 + ["b"])
    assert df["indices"].tolist() == [[4, 29]] and df["conflict"].tolist() == [True]
    assert 0 <= df.loc[0, "distance"] < 0.001


def test_no_groups_among_distinct_textures():
    imgs = _textures(60, seed=3)
    df = find_duplicates(images=imgs, hashes=[str(i) for i in range(60)])
    assert df.empty and list(df.columns) == ["group", "kind", "n", "indices", "labels", "conflict",
                                             "distance", "reason", "reason_parts"]


def _pairs_phashes(n, near, seed=0):
    """``n`` random 64-bit hashes (about 32 bits apart), the pairs in ``near`` one bit apart."""
    h = np.random.default_rng(seed).integers(0, 2**63, n, dtype=np.uint64)
    for a, b in near:
        h[b] = h[a] ^ np.uint64(1)
    return h


def test_reason_parts_exact():
    # exact: 0-1-2 (two labels), 3-4 (one label), 5-6 (unlabeled); near: 7-8, 9-10, 11-12
    hashes = ["e1", "e1", "e1", "e2", "e2", "e3", "e3", "n7", "n8", "n9", "n10", "n11", "n12"]
    labels = ["scratch", "pit", "scratch", "pit", "pit", None, float("nan"),
              "scratch", "pit", "pit", None, None, None]
    phashes = _pairs_phashes(13, [(7, 8), (9, 10), (11, 12)])
    df = find_duplicates(hashes=hashes, phashes=phashes, labels=labels)
    assert df["indices"].tolist() == [[0, 1, 2], [7, 8], [3, 4], [5, 6], [9, 10], [11, 12]]
    assert df["reason_parts"].tolist() == [
        [{"key": "quality.reason.exact_conflict", "args": {"n": 3, "classes": ["pit", "scratch"]}}],
        [{"key": "quality.reason.near_conflict", "args": {"n": 2, "classes": ["pit", "scratch"]}}],
        [{"key": "quality.reason.exact_same", "args": {"n": 2, "cls": "pit"}}],
        [{"key": "quality.reason.exact_unlabeled", "args": {"n": 2}}],
        [{"key": "quality.reason.near_same", "args": {"n": 2, "cls": "pit"}}],
        [{"key": "quality.reason.near_unlabeled", "args": {"n": 2}}],
    ]
    assert all(type(p[0]["args"]["n"]) is int for p in df["reason_parts"])  # JSON-able
    assert [render_reason(p) for p in df["reason_parts"]] == df["reason"].tolist()
    assert render_reason(df.loc[0, "reason_parts"], "zh_CN") == (
        "3 个完全相同的文件分别标为 pit / scratch：肯定有冲突，只可能有一个类别是对的")


def test_reason_parts_say_the_reason_for_every_wording():
    rng = np.random.default_rng(3)
    base = rng.integers(0, 2**63, 6, dtype=np.uint64)
    phashes = np.repeat(base, 2)
    phashes[1::2] ^= np.uint64(1)  # each pair differs in one bit
    hashes = ["e1", "e1", "e2", "e2", "e3", "e3", "n1", "n2", "n3", "n4", "n5", "n6"]
    labels = ["x", "y", "x", "x", None, None, "x", "y", "y", "y", None, None]
    df = find_duplicates(hashes=hashes, phashes=phashes, labels=labels)
    keys = set()
    for r in df.itertuples(index=False):
        parts = r.reason_parts
        keys |= {p["key"] for p in parts}
        assert render_reason(parts, "en") == r.reason
        assert "identical" not in render_reason(parts, "zh_CN")
    assert keys == {f"quality.reason.{k}_{w}" for k in ("exact", "near")
                    for w in ("conflict", "same", "unlabeled")}


@pytest.mark.parametrize("kwargs, match", [
    (dict(), "needs at least one of 'hashes', 'images', 'phashes'"),
    (dict(hashes=["a", "b"], labels=["x"]), "same items, one entry each. Got lengths"),
    (dict(images=[np.zeros((4, 4))], phashes=np.zeros(1, np.uint64)), "either 'images' or 'phashes'"),
    (dict(phashes=np.zeros(3)), "integer array of shape"),
    (dict(phashes=np.zeros(3, np.uint64), max_distance=40), r"'max_distance'.*<= 32"),
    (dict(features=np.ones((3, 2)), min_similarity=2.0), r"'min_similarity'.*\[0.0, 1.0\]"),
    (dict(hashes=[["a"]]), "'hashes'.*must be 1-D"),
    (dict(hashes=["a"], min_similarity=0.9), "'min_similarity' of find_duplicates needs 'features'"),
])
def test_invalid(kwargs, match):
    with pytest.raises(InputError, match=match):
        find_duplicates(**kwargs)
