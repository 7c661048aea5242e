"""Tile-pooled features for large images: exact small cases, invariances, the automatic choice, caching."""

import dataclasses
import hashlib

import numpy as np
import pytest

from defectlab.errors import InputError
from defectlab.features import FeatureSpec, TileParams, auto_spec, extract, extract_cached, feature_names, get_spec
from defectlab.features.tiles import pool_rows, tile_boxes

SMALL = FeatureSpec(size=(32, 32), lbp=None, hog=None, gabor=None, fft=None, glcm=None, color=None,
                    name="tiles-test")
TILED = SMALL.replace(tiles=TileParams(grid=(2, 2), overlap=0.0, min_side=64, pool=("mean", "std", "max", "q50")))


def test_pool_rows_exact():
    rows = np.array([[1.0, 10.0], [3.0, 30.0], [2.0, 20.0], [7.0, -1.0]])
    owners = np.array([0, 0, 0, 1])
    out = pool_rows(rows, owners, 2, ("mean", "std", "max", "min", "q50"))
    np.testing.assert_allclose(out[0], [2, 20, np.std([1, 3, 2]), np.std([10, 30, 20]), 3, 30, 1, 10, 2, 20],
                               rtol=1e-6)
    np.testing.assert_allclose(out[1], [7, -1, 0, 0, 7, -1, 7, -1, 7, -1])
    assert out.dtype == np.float32


def test_tile_boxes_grid_and_sliding_cover_the_image():
    assert tile_boxes(100, 100, TileParams(min_side=128)) == [(0, 100, 0, 100)]
    boxes = tile_boxes(600, 800, TileParams(grid=(2, 2), overlap=0.0))
    assert boxes == [(0, 300, 0, 400), (0, 300, 400, 800), (300, 600, 0, 400), (300, 600, 400, 800)]
    over = tile_boxes(600, 800, TileParams(grid=(3, 3), overlap=0.5))
    assert len(over) == 9 and over[-1][1] == 600 and over[-1][3] == 800
    assert over[0][1] - over[0][0] == 300  # 600 / (3 - 2 * 0.5)
    slide = tile_boxes(1000, 3000, TileParams(mode="sliding", side=200, overlap=0.5, max_tiles=12))
    assert 1 < len(slide) <= 12
    assert all(y1 - y0 == 200 and x1 - x0 == 200 for y0, y1, x0, x1 in slide)
    assert max(x1 for *_, x1 in slide) == 3000 and max(y1 for _, y1, *_ in slide) == 1000


def test_names_and_columns():
    names = feature_names(TILED)
    base = feature_names(SMALL)
    assert names[:len(base)] == [f"{n}@mean" for n in base]
    assert names[-1] == f"{base[-1]}@q50" and len(names) == 4 * len(base) == len(set(names))
    x = extract([np.zeros((128, 128), np.uint8)], TILED)
    assert x.shape == (1, len(names)) and x.dtype == np.float32


def test_small_image_keeps_todays_path():
    rng = np.random.default_rng(0)
    im = rng.integers(0, 256, (48, 40), dtype=np.uint8)
    tiled = extract([im], TILED)[0]
    plain = extract([im], SMALL)[0]
    f = len(plain)
    np.testing.assert_allclose(tiled[:f], plain, rtol=1e-6)  # mean of one tile
    assert np.all(tiled[f:2 * f] == 0)  # std
    np.testing.assert_allclose(tiled[2 * f:3 * f], plain, rtol=1e-6)  # max
    np.testing.assert_allclose(tiled[3 * f:], plain, rtol=1e-6)  # median


def test_large_image_pools_its_tiles_exactly():
    rng = np.random.default_rng(1)
    im = rng.integers(0, 256, (128, 96), dtype=np.uint8)
    tiles = [im[y0:y1, x0:x1] for y0, y1, x0, x1 in tile_boxes(128, 96, TILED.tiles)]
    rows = extract(tiles, SMALL).astype(np.float64)
    want = np.concatenate([rows.mean(0), rows.std(0), rows.max(0), np.median(rows, 0)])
    np.testing.assert_allclose(extract([im], TILED)[0], want, rtol=1e-5, atol=1e-6)


def test_tile_order_invariance_and_batch_independence():
    rng = np.random.default_rng(2)
    a = rng.integers(0, 256, (128, 128), dtype=np.uint8)
    # swapping the four quadrants permutes the tiles: pooled statistics do not change
    b = np.block([[a[64:, 64:], a[64:, :64]], [a[:64, 64:], a[:64, :64]]])
    xa, xb = extract([a], TILED), extract([b], TILED)
    np.testing.assert_allclose(xa, xb, rtol=1e-5, atol=1e-6)
    c = rng.integers(0, 256, (40, 50), dtype=np.uint8)
    both = extract([c, a, c], TILED, chunk_size=16)
    np.testing.assert_array_equal(both[1], xa[0])
    np.testing.assert_array_equal(both[0], both[2])
    # a uint8 batch works the same as a list
    np.testing.assert_array_equal(extract(np.stack([a, b]), TILED), np.vstack([xa, xb]))


def test_whole_pool_keeps_the_single_resize_row():
    rng = np.random.default_rng(6)
    spec = SMALL.replace(tiles=TileParams(grid=(2, 2), overlap=0.0, min_side=64))  # default pools
    assert spec.tiles.pool == ("whole", "mean", "std")
    ims = [rng.integers(0, 256, (128, 96, 3), dtype=np.uint8), rng.integers(0, 256, (48, 40), dtype=np.uint8),
           rng.integers(0, 256, (200, 64), dtype=np.uint8)]
    x = extract(ims, spec, chunk_size=8)
    plain = extract(ims, SMALL)
    f = plain.shape[1]
    assert feature_names(spec)[:f] == [f"{n}@whole" for n in feature_names(SMALL)]
    np.testing.assert_array_equal(x[:, :f], plain)  # exactly what the single resize sees
    tiles = [ims[0][y0:y1, x0:x1] for y0, y1, x0, x1 in tile_boxes(128, 96, spec.tiles)]
    assert len(tiles) == 4
    np.testing.assert_allclose(x[0, f:2 * f], extract(tiles, SMALL).mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(x[1, f:2 * f], plain[1])  # a small image is its own one tile
    assert np.all(x[1, 2 * f:] == 0)


def test_whole_view_tells_apart_what_pooled_tiles_cannot():
    # left half bright vs top half bright: the same four uniform tiles, so any pooled tile statistic
    # is identical; only the whole image sees the edge's direction
    spec = SMALL.replace(hog=get_spec().hog)
    left = np.full((128, 128), 40, np.uint8)
    left[:, :64] = 200
    top = np.ascontiguousarray(left.T)
    params = TileParams(grid=(2, 2), overlap=0.0, min_side=64)
    tiles_only = extract([left, top], spec.replace(tiles=dataclasses.replace(params, pool=("mean", "std"))))
    np.testing.assert_allclose(tiles_only[0], tiles_only[1], atol=1e-6)
    with_whole = extract([left, top], spec.replace(tiles=params))
    assert np.abs(with_whole[0] - with_whole[1]).max() > 0.1


def test_old_tilings_keep_their_columns():
    old = {**get_spec().replace(tiles=TileParams()).to_dict()}
    old["tiles"] = {**old["tiles"], "pool": ["mean", "std"]}  # a spec saved before the whole view
    spec = FeatureSpec.from_dict(old)
    assert spec.tiles.pool == ("mean", "std")
    assert len(feature_names(spec)) == 2 * len(feature_names(get_spec()))
    assert spec.hash != get_spec().replace(tiles=TileParams()).hash


def test_colour_photo_and_16_bit():
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
    spec = get_spec("fast").replace(tiles=TileParams(min_side=200))
    x = extract([rgb, rgb.astype(np.uint16) * 257], spec)
    assert np.isfinite(x).all() and x.shape == (2, len(feature_names(spec)))


def test_spec_hash_json_and_validation():
    plain = get_spec()
    tiled = plain.replace(tiles=TileParams())
    assert "tiles" not in plain.to_dict()  # existing specs keep their hash
    assert tiled.hash != plain.hash
    assert tiled.replace(tiles=TileParams(pool=("mean", "max"))).hash != tiled.hash
    assert FeatureSpec.from_json(tiled.to_json()) == tiled
    assert get_spec(tiled.to_dict()).tiles == TileParams()
    for bad in ({"mode": "spiral"}, {"grid": (0, 2)}, {"overlap": 0.9}, {"pool": ("mean", "mean")},
                {"pool": ("median",)}, {"min_side": 4}, {"max_tiles": 10**6}, {"unknown": 1}):
        with pytest.raises(InputError):
            FeatureSpec.from_dict({**tiled.to_dict(), "tiles": {**tiled.to_dict()["tiles"], **bad}})
    with pytest.raises(InputError):
        plain.replace(tiles="yes")


def test_auto_choice_from_image_size():
    spec = get_spec()
    assert auto_spec(spec, [200] * 10, [200] * 10) is spec  # NEU crops: today's path, today's hash
    photo = auto_spec(spec, [600] * 10, [800] * 10)
    assert photo.tiles == TileParams() and photo.hash != spec.hash
    mixed = auto_spec(spec, [200] * 6 + [600] * 5, [200] * 6 + [800] * 5)
    assert mixed is spec  # the median image decides
    assert auto_spec(photo, [10], [10]) is photo  # an explicit tiling is kept
    assert auto_spec(spec, [], []) is spec


def test_cached_like_every_feature(tmp_path):
    rng = np.random.default_rng(4)
    store = {}
    for k in range(5):
        im = rng.integers(0, 256, (100 + 10 * k, 140), dtype=np.uint8)
        store[hashlib.sha256(im.tobytes()).hexdigest()] = im
    shas = list(store)
    calls = []

    def loader(s):
        calls.extend(s)
        return [store[k] for k in s]

    x1 = extract_cached(shas, loader, TILED, tmp_path)
    assert sorted(calls) == sorted(shas)
    x2 = extract_cached(shas[::-1], lambda s: 1 / 0, TILED, tmp_path)  # all cached: nothing loaded
    np.testing.assert_array_equal(x2, x1[::-1])
    assert (tmp_path / TILED.hash).is_dir() and not (tmp_path / SMALL.hash).exists()
    np.testing.assert_array_equal(x1, extract([store[s] for s in shas], TILED))


def test_training_on_large_photos_chooses_tiles_and_predicts_with_them(ws, tmp_path):
    import cv2

    from defectlab.ingest import import_source
    from defectlab.learn import get_run, predict_batch, train_project

    rng = np.random.default_rng(5)
    for cls in ("smooth", "grainy"):
        (tmp_path / "src" / cls).mkdir(parents=True)
        for k in range(6):
            noise = rng.normal(0, 3 if cls == "smooth" else 25, (360, 480))
            cv2.imwrite(str(tmp_path / "src" / cls / f"{k}.png"), np.clip(120 + noise, 0, 255).astype(np.uint8))
    import_source(ws, "Photos", tmp_path / "src", layout="folders")
    summary = train_project(ws, "Photos", model="logreg", folds=2, n_jobs=1)
    run = get_run(ws, summary["run_id"], with_items=False)
    assert run["feature_spec"]["tiles"] == FeatureSpec(tiles=TileParams()).to_dict()["tiles"]
    assert summary["accuracy"] == 1.0
    (tmp_path / "new").mkdir()
    cv2.imwrite(str(tmp_path / "new" / "x.png"), np.clip(120 + rng.normal(0, 25, (360, 480)), 0, 255).astype(np.uint8))
    preds = predict_batch(ws, "Photos", summary["run_id"], tmp_path / "new")["predictions"]
    assert [p["label"] for p in preds] == ["grainy"]
