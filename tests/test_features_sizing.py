"""The working size chosen from the crops' sizes (defectlab.features.sizing) and its use by training."""

import cv2
import numpy as np
import pytest
from synthetic import texture_image

from defectlab.features import (
    WORKING_SIDES,
    TileParams,
    auto_spec,
    auto_working_size,
    extract,
    extract_cached,
    feature_names,
    get_spec,
)
from defectlab.features.sizing import working_side
from defectlab.learn import runs
from defectlab.store import add_item, annotate, create_project, items_frame, open_workspace


@pytest.mark.parametrize(("side", "expected"), [(16, 64), (64, 64), (65, 96), (96, 96), (97, None),
                                                (128, None), (160, None), (200, None), (4000, None)])
def test_the_working_side_snaps_up_to_a_rung_and_never_enlarges(side, expected):
    assert working_side([side] * 3, [side] * 3) == expected


def test_the_pixel_count_and_the_90th_percentile_decide():
    assert working_side([32], [128]) == 64  # sqrt(32 * 128) = 64: same pixels as a 64 x 64 crop
    assert working_side([64] * 95 + [200] * 5, [64] * 95 + [200] * 5) == 64  # a few large ones do not decide
    assert working_side([64] * 50 + [200] * 50, [64] * 50 + [200] * 50) is None  # half large: full size
    assert working_side([], []) is None
    assert working_side([64], [64], max_side=64) is None  # never above the spec's own side
    assert working_side([64], [64], max_side=96) == 64


def test_same_columns_at_every_size_and_hash_follows_the_size():
    spec = get_spec()
    names = feature_names(spec)
    hashes = {spec.hash}
    for side in WORKING_SIDES:
        small = spec.replace(size=(side, side))
        assert feature_names(small) == names
        hashes.add(small.hash)
    assert len(hashes) == len(WORKING_SIDES)  # 160 is the default itself: one hash per size


def test_auto_spec_shrinks_only_plain_square_specs_of_small_crops():
    spec = get_spec()
    small = auto_spec(spec, [64] * 10, [64] * 10)
    assert small.size == (64, 64) and small.replace(size=spec.size) == spec
    assert auto_spec(spec, [200] * 10, [200] * 10) is spec  # NEU crops keep today's spec and hash
    assert auto_spec(spec, [600] * 10, [800] * 10).tiles == TileParams()  # photos: tiles, full size
    assert auto_spec(spec, [600] * 10, [800] * 10).size == spec.size
    assert auto_working_size(spec.replace(size=(64, 128)), [32], [32]).size == (64, 128)  # chosen on purpose
    tiled = spec.replace(tiles=TileParams())
    assert auto_working_size(tiled, [32], [32]) is tiled
    assert auto_spec(get_spec("fast"), [64] * 4, [64] * 4).size == (64, 64)
    assert auto_spec(get_spec("rich"), [200] * 4, [200] * 4) is get_spec("rich")


def test_small_spec_on_native_and_mixed_size_crops():
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (6, 64, 64), dtype=np.uint8)
    small = auto_spec(get_spec(), [64] * 6, [64] * 6)
    x = extract(crops, small)
    assert x.shape == (6, len(feature_names())) and np.isfinite(x).all()
    # a mixed list (a few larger crops and an RGB one) goes through the same spec, one row each
    mixed = [crops[0], rng.integers(0, 256, (200, 180), dtype=np.uint8),
             rng.integers(0, 256, (40, 90, 3), dtype=np.uint8), crops[1]]
    xm = extract(mixed, small)
    assert xm.shape == (4, x.shape[1]) and np.isfinite(xm).all()
    np.testing.assert_array_equal(xm[[0, 3]], x[:2])  # a native-size crop is not resampled


def test_cache_keeps_sizes_apart(tmp_path):
    rng = np.random.default_rng(1)
    ims = {f"{k:064x}": rng.integers(0, 256, (64, 64), dtype=np.uint8) for k in range(4)}
    small = auto_spec(get_spec(), [64], [64])
    x_small = extract_cached(list(ims), lambda s: [ims[k] for k in s], small, tmp_path)
    x_full = extract_cached(list(ims), lambda s: [ims[k] for k in s], get_spec(), tmp_path)
    assert {p.name for p in tmp_path.iterdir()} >= {small.hash, get_spec().hash}
    assert not np.array_equal(x_small, x_full)
    np.testing.assert_array_equal(x_small, extract(np.stack(list(ims.values())), small))


def _png(img):
    ok, buf = cv2.imencode(".png", img)
    assert ok
    return buf.tobytes()


def test_training_small_crops_records_the_small_spec_and_predicts_with_it(tmp_path):
    ws = open_workspace(tmp_path / "ws")
    classes = ("dark", "stripes", "spots")
    proj = create_project(ws, "Small", list(classes))
    rng = np.random.default_rng(0)
    for k in range(30):
        kind = classes[k % 3]
        img = texture_image(kind, rng, size=64)
        sha, rel = ws.put_blob(_png(img), "png")
        with ws.transaction() as conn:
            iid = add_item(conn, proj.id, sha256=sha, blob=rel, width=64, height=64, channels=1,
                           source=f"{kind}_{k}.png")
        annotate(ws, iid, kind, source="import")
    s = runs.train_project(ws, "Small", folds=3, seed=0)
    run = runs.get_run(ws, s["run_id"], with_items=False)
    assert run["feature_spec"]["size"] == [64, 64] and s["spec_hash"] == auto_spec(get_spec(), [64], [64]).hash
    assert s["accuracy"] > 0.9
    assert (ws.features_dir / s["spec_hash"]).is_dir() and not (ws.features_dir / get_spec().hash).exists()
    ids = items_frame(ws, proj.id, role="sample")["id"].tolist()[:5]
    out = runs.predict_items(ws, "Small", s["run_id"], ids, explain_top=0)
    assert len(out["predictions"]) == 5
    # warming the cache for these items chooses the same spec train does
    assert runs.warm_feature_cache(ws, ids) == 5
    assert not (ws.features_dir / get_spec().hash).exists()
