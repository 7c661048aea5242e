"""Pooled HOG: scikit-image parity on NEU, a hand-made edge, degenerate images."""

import glob

import cv2
import numpy as np
import pytest

from defectlab.features.hog import HOGParams, extract_hog, hog_blocks, hog_names


@pytest.mark.neu
def test_parity_with_skimage_on_neu(neu_dir):
    skfeature = pytest.importorskip("skimage.feature")
    files = sorted(glob.glob(str(neu_dir / "images" / "*.jpg")))[::450]
    images = np.stack([cv2.imdecode(np.fromfile(f, np.uint8), cv2.IMREAD_GRAYSCALE) for f in files])
    ours = hog_blocks(images, cell=8, orientations=9, block=2)
    ref = np.stack([skfeature.hog(im, 9, (8, 8), (2, 2), feature_vector=False) for im in images])
    assert ours.shape == ref.shape
    # Same definition; magnitudes are float32 here (1e-7 relative) and OpenCV's angle is accurate
    # to ~0.01 degree, so a pixel that close to a bin edge could switch bins. Observed: 5e-8.
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-5)
    pooled = extract_hog(images, HOGParams(cell=8, orientations=9, block=2))
    np.testing.assert_allclose(pooled, ref.mean(axis=(1, 2)).reshape(len(images), -1), atol=1e-5)


def test_vertical_edge_votes_only_bin_zero():
    image = np.zeros((1, 32, 32), np.uint8)
    image[:, :, 13:] = 200  # left-right intensity change: gradient angle 0 degrees
    x = extract_hog(image)[0]
    names = hog_names()
    assert names[:2] == ["hog.c0.b0", "hog.c0.b1"] and len(names) == 36
    bins = np.array([int(n.split(".b")[1]) for n in names])
    assert x[bins == 0].max() > 0.1
    assert np.all(x[bins != 0] == 0)


def test_horizontal_edge_votes_the_90_degree_bin():
    image = np.zeros((1, 32, 32), np.uint8)
    image[:, 13:, :] = 200
    x = extract_hog(image, HOGParams(orientations=4))[0]
    bins = np.array([int(n.split(".b")[1]) for n in hog_names(HOGParams(orientations=4))])
    assert x[bins == 2].max() > 0.1 and np.all(x[bins != 2] == 0)  # 90 deg in [90, 135)


@pytest.mark.parametrize("value", [0, 255])
def test_constant_and_tiny_images_are_finite_zeros(value):
    assert not extract_hog(np.full((2, 32, 32), value, np.uint8)).any()
    tiny = extract_hog(np.full((1, 10, 10), value, np.uint8))  # smaller than one 2x2-cell block
    assert tiny.shape == (1, 36) and not tiny.any()
