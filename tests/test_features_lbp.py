"""riu2 LBP: hand-computed codes, scikit-image parity on NEU, rotation invariance, histograms."""

import glob

import cv2
import numpy as np
import pytest

from defectlab.errors import InputError
from defectlab.features.lbp import (
    LBPParams,
    _neighbours,
    extract_lbp,
    lbp_codes,
    lbp_names,
)


def test_codes_of_3x3_patterns_by_hand():
    ramp = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]], np.uint8)
    # centre 5: bits (p=0..7, counter-clockwise from the right) = 1 0 0 0 0 1 1 1 (the diagonal
    # neighbours interpolate to 3.586, 2.172, 6.414, 7.828): 2 transitions, four ones -> code 4
    assert lbp_codes(ramp[None], 8, 1)[0, 1, 1] == 4
    spot = np.zeros((3, 3), np.uint8)
    spot[1, 1] = 9
    assert lbp_codes(spot[None], 8, 1)[0, 1, 1] == 0  # bright spot: no neighbour >= centre
    pit = np.full((3, 3), 9, np.uint8)
    pit[1, 1] = 0
    assert lbp_codes(pit[None], 8, 1)[0, 1, 1] == 8  # dark pit: all neighbours >= centre
    flat = np.full((3, 3), 7, np.uint8)
    # centre of a flat patch: exact ties -> all ones; border pixels see zeros outside the image
    codes = lbp_codes(flat[None], 8, 1)[0]
    assert codes[1, 1] == 8
    assert codes[0, 1] == 5  # top-middle: the three upper neighbours are outside (0 < 7)
    stripes = np.zeros((5, 5), np.uint8)
    stripes[:, ::2] = 200
    # on a bright stripe only the up and down neighbours are >= centre: 4 transitions
    assert lbp_codes(stripes[None], 8, 1)[0, 2, 2] == 9  # non-uniform


def test_neighbour_weights_are_exact_fixed_point():
    for p, r in [(8, 1), (16, 2), (24, 3), (8, 5)]:
        for _, _, taps in _neighbours(p, r):
            assert sum(t[2] for t in taps) == 1 << 16


@pytest.fixture(scope="module")
def neu_images(neu_dir):
    files = sorted(glob.glob(str(neu_dir / "images" / "*.jpg")))[::450]
    return np.stack([cv2.imdecode(np.fromfile(f, np.uint8), cv2.IMREAD_GRAYSCALE) for f in files])


@pytest.mark.neu
@pytest.mark.parametrize("P, R", [(8, 1), (16, 2), (24, 3)])
def test_parity_with_skimage_on_neu(neu_images, P, R):
    _check_parity(neu_images, P, R)


@pytest.mark.parametrize("P, R", [(8, 1), (16, 2), (24, 3)])
def test_parity_with_skimage_on_its_own_pictures(skimage_images, P, R):
    """The same check on scikit-image's bundled pictures, so a clone without NEU-DET still runs it."""
    _check_parity(skimage_images, P, R)


def _check_parity(neu_images, P, R):
    skfeature = pytest.importorskip("skimage.feature")
    ours = lbp_codes(neu_images, P, R)
    ref = np.stack([skfeature.local_binary_pattern(im, P, R, method="uniform")
                    for im in neu_images]).astype(np.uint8)
    mismatch = ours != ref
    # Tolerance: our comparison is exact in 1/65536 fixed point; scikit-image's float64
    # (1-dr)(1-dc)a + ... can land just below the centre on a flat patch (an exact tie). Only such
    # (near-)ties may differ: at most 0.5 % of pixels, histograms within 0.3 percentage points.
    assert mismatch.mean() <= 0.005
    if P == 8:
        assert not mismatch.any()  # (8, 1): ties only on the grid, compared exactly by both
    for o, r in zip(ours, ref, strict=True):
        h_o = np.bincount(o.ravel(), minlength=P + 2) / o.size
        h_r = np.bincount(r.ravel(), minlength=P + 2) / r.size
        assert np.abs(h_o - h_r).max() <= 0.003
    # every differing pixel has an interpolated neighbour within 0.01 grey level of its centre
    q = R + 1
    for i, rr, cc in np.argwhere(mismatch)[:200]:
        pad = np.pad(neu_images[i].astype(np.float64), q)
        centre = pad[rr + q, cc + q]
        gaps = [abs(sum(w / 65536 * pad[rr + q + r0 + dr, cc + q + c0 + dc]
                        for dr, dc, w in taps) - centre) for r0, c0, taps in _neighbours(P, R)]
        assert min(gaps) < 0.01


@pytest.mark.parametrize("P, R", [(8, 1), (16, 2), (24, 3)])
def test_histograms_invariant_to_90_degree_rotation(P, R):
    rng = np.random.default_rng(P)
    smooth = cv2.GaussianBlur(rng.integers(0, 256, (1, 48, 40), dtype=np.uint8)[0], (5, 5), 1.5)
    images = np.stack([smooth, rng.integers(0, 4, (48, 40), dtype=np.uint8) * 60])  # ties too
    params = LBPParams(settings=((P, R, 1),))
    base = extract_lbp(images, params)
    for k in (1, 2, 3):
        rotated = np.ascontiguousarray(np.rot90(images, k, axes=(1, 2)))
        np.testing.assert_array_equal(extract_lbp(rotated, params), base)


def test_histograms_are_fractions_and_names_match():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 40, 40), dtype=np.uint8)
    params = LBPParams(settings=((8, 1, 1), (16, 2, 1), (8, 1, 2)))
    x = extract_lbp(images, params)
    names = lbp_names(params)
    assert x.shape == (5, len(names)) and x.dtype == np.float32
    assert names[:3] == ["lbp.p8r1.u0", "lbp.p8r1.u1", "lbp.p8r1.u2"]
    assert names[9] == "lbp.p8r1.nonuniform" and names[-1] == "lbp.x2.p8r1.nonuniform"
    np.testing.assert_allclose(x[:, :10].sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(x[:, 10:28].sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(x[:, 28:].sum(axis=1), 1.0, rtol=1e-6)


def test_pyramid_scale_is_lbp_of_the_2x2_mean_image():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (3, 32, 32), dtype=np.uint8)
    halved = np.stack([cv2.resize(im, (16, 16), interpolation=cv2.INTER_AREA) for im in images])
    np.testing.assert_array_equal(
        extract_lbp(images, LBPParams(settings=((8, 1, 2),))),
        extract_lbp(halved, LBPParams(settings=((8, 1, 1),))))


def test_wide_images_and_many_images():
    # more than 512 columns (OpenCV channel limit must not matter) and more than one block
    rng = np.random.default_rng(2)
    wide = rng.integers(0, 256, (2, 12, 700), dtype=np.uint8)
    assert extract_lbp(wide).shape == (2, len(lbp_names()))
    many = rng.integers(0, 256, (37, 16, 16), dtype=np.uint8)
    x = extract_lbp(many, LBPParams(settings=((8, 1, 1),)))
    np.testing.assert_array_equal(x[20], extract_lbp(many[20:21], LBPParams(settings=((8, 1, 1),)))[0])


@pytest.mark.parametrize("bad", [np.zeros((2, 8, 8), np.float32), np.zeros((8, 8), np.uint8), [1]])
def test_rejects_non_batches(bad):
    with pytest.raises(InputError, match="'images' parameter of extract_lbp must be a uint8"):
        extract_lbp(bad)
