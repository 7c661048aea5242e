"""GLCM: the 4x4 hand example, scikit-image parity on NEU, degenerate images."""

import glob

import cv2
import numpy as np
import pytest

from defectlab.features.glcm import (
    GLCMParams,
    extract_glcm,
    glcm_matrices,
    glcm_names,
    glcm_props,
)

# scikit-image's own test image (levels 0..3)
IMAGE4 = np.array([[0, 0, 1, 1], [0, 0, 1, 1], [0, 2, 2, 2], [2, 2, 3, 3]], np.uint8)


def test_4x4_matrix_and_props_by_hand():
    # levels=4 keeps the top two bits: scale 0..3 up to 0..192
    p = glcm_matrices((IMAGE4 * 64)[None], distances=(1,), levels=4)[0, :, :, 0, 0]
    # pairs (r, c) -> (r, c+1): [[2,2,1,0],[0,2,0,0],[0,0,3,1],[0,0,0,1]]; symmetric: + transpose
    counts = np.array([[4, 2, 1, 0], [2, 4, 0, 0], [1, 0, 6, 1], [0, 0, 1, 2]])
    np.testing.assert_allclose(p, counts / 24.0, rtol=0, atol=1e-15)
    props = dict(zip(("contrast", "dissimilarity", "homogeneity", "ASM"),
                     glcm_props(p, ("contrast", "dissimilarity", "homogeneity", "ASM")), strict=True))
    assert props["contrast"] == pytest.approx((2 * 2 * 1 + 2 * 1 * 4 + 2 * 1 * 1) / 24)  # 14/24
    assert props["dissimilarity"] == pytest.approx((4 * 1 + 2 * 2 + 2 * 1) / 24)  # 10/24
    assert props["homogeneity"] == pytest.approx((16 + 4 / 2 + 2 / 5 + 2 / 2) / 24)
    assert props["ASM"] == pytest.approx((counts.astype(float) ** 2).sum() / 24 ** 2)


def test_vertical_and_diagonal_offsets_by_hand():
    image = np.array([[0, 1], [2, 3]], np.uint8) * 64
    m = glcm_matrices(image[None], distances=(1,), levels=4)[0, :, :, 0]
    # 90 deg pairs (0,2), (1,3); 45 deg: (0,3); 135 deg: (1,2) -- each counted both ways
    assert m[0, 2, 2] == m[2, 0, 2] == m[1, 3, 2] == m[3, 1, 2] == 0.25
    assert m[0, 3, 1] == m[3, 0, 1] == 0.5
    assert m[1, 2, 3] == m[2, 1, 3] == 0.5


@pytest.mark.neu
def test_parity_with_skimage_on_neu(neu_dir):
    files = sorted(glob.glob(str(neu_dir / "images" / "*.jpg")))[::600]
    _check_parity(np.stack([cv2.imdecode(np.fromfile(f, np.uint8), cv2.IMREAD_GRAYSCALE) for f in files]))


def test_parity_with_skimage_on_its_own_pictures(skimage_images):
    """The same check on scikit-image's bundled pictures, so a clone without NEU-DET still runs it."""
    _check_parity(skimage_images)


def _check_parity(images):
    skfeature = pytest.importorskip("skimage.feature")
    ours = glcm_matrices(images, (1, 2, 4), 32)
    props = ("contrast", "dissimilarity", "homogeneity", "energy", "correlation", "ASM")
    for i, d in enumerate((1, 2, 4)):
        # our diagonal offset (d, d) is scikit-image's distance d * sqrt(2)
        for k, (angle, dist) in enumerate([(0, d), (np.pi / 4, d * 2 ** 0.5), (np.pi / 2, d),
                                           (3 * np.pi / 4, d * 2 ** 0.5)]):
            for j, im in enumerate(images):
                ref = skfeature.graycomatrix(im // 8, [dist], [angle], levels=32, symmetric=True,
                                             normed=True)
                # exact same counts; only float summation order differs
                np.testing.assert_allclose(ours[j, :, :, i, k], ref[:, :, 0, 0], rtol=0,
                                           atol=1e-15)
                want = [skfeature.graycoprops(ref, p)[0, 0] for p in props]
                np.testing.assert_allclose(glcm_props(ours[j, :, :, i, k], props), want,
                                           rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("value", [0, 128, 255])
def test_constant_images(value):
    x = extract_glcm(np.full((2, 16, 16), value, np.uint8))
    names = glcm_names()
    got = dict(zip(names, x[0], strict=True))
    assert np.isfinite(x).all()
    assert got["glcm.d1.contrast_mean"] == 0
    assert got["glcm.d1.ASM_mean"] == 1 and got["glcm.d1.energy_mean"] == 1
    assert got["glcm.d1.correlation_mean"] == 1  # scikit-image convention for zero variance
    assert got["glcm.d4.homogeneity_range"] == 0


def test_distance_larger_than_image_gives_defined_values():
    x = extract_glcm(np.arange(9, dtype=np.uint8).reshape(1, 3, 3) * 20,
                     GLCMParams(distances=(4,)))
    assert np.isfinite(x).all()
    got = dict(zip(glcm_names(GLCMParams(distances=(4,))), x[0], strict=True))
    assert got["glcm.d4.contrast_mean"] == 0 and got["glcm.d4.correlation_mean"] == 1


def test_names_and_pyramid_scales():
    params = GLCMParams(levels=16, distances=(1, 2), scales=(1, 2), props=("contrast", "ASM"))
    names = glcm_names(params)
    assert names[:2] == ["glcm.d1.contrast_mean", "glcm.d1.contrast_range"]
    assert names[-1] == "glcm.x2.d2.ASM_range"
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 24, 24), dtype=np.uint8)
    x = extract_glcm(images, params)
    assert x.shape == (3, len(names))
    halved = np.stack([cv2.resize(im, (12, 12), interpolation=cv2.INTER_AREA) for im in images])
    np.testing.assert_array_equal(
        x[:, len(names) // 2:],
        extract_glcm(halved, GLCMParams(levels=16, distances=(1, 2), props=("contrast", "ASM"))))


def test_extract_equals_props_of_the_matrices():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 40, 40), dtype=np.uint8)
    params = GLCMParams()
    x = extract_glcm(images, params)
    m = glcm_matrices(images, params.distances, params.levels)  # (n, L, L, d, 4)
    want = []
    for i in range(len(params.distances)):
        v = glcm_props(np.moveaxis(m[:, :, :, i, :], 3, 1), params.props)  # (n, 4, props)
        want.append(np.stack([v.mean(axis=1), v.max(axis=1) - v.min(axis=1)], axis=2)
                    .reshape(len(images), -1))
    np.testing.assert_allclose(x, np.concatenate(want, axis=1), rtol=1e-6, atol=1e-7)
