"""extract / feature_names: shapes, invariances, determinism, threads, validation, light import."""

import subprocess
import sys

import numpy as np
import pytest

from defectlab.errors import InputError
from defectlab.features import (
    FAMILY_TITLES,
    FEATURES_VERSION,
    FeatureSpec,
    extract,
    feature_names,
    get_spec,
)

SMALL = FeatureSpec(size=(48, 48), name="small-test")


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (21, 48, 48), dtype=np.uint8)
    base[3] = 0  # all black
    base[4] = 255  # all white
    base[5] = 90  # constant
    base[6] = 0
    base[6, 20, 30] = 255  # one-pixel defect
    base[7] = 255
    base[7, 0, 0] = 0  # one dark pixel in a corner
    base[8] = np.tile(np.arange(48, dtype=np.uint8) * 5, (48, 1))  # ramp
    return base


def test_shape_dtype_names(images):
    x = extract(images, SMALL)
    names = feature_names(SMALL)
    assert x.shape == (len(images), len(names)) and x.dtype == np.float32
    assert len(set(names)) == len(names)
    assert {n.split(".", 1)[0] for n in names} <= set(FAMILY_TITLES)
    assert all("." in n for n in names)


def test_default_spec_column_count():
    assert 200 <= len(feature_names()) <= 400


def test_finite_on_degenerate_images(images):
    x = extract(images, SMALL)
    assert np.isfinite(x).all()
    assert not np.array_equal(x[3], x[6])  # a single pixel changes the features
    assert not np.array_equal(x[4], x[7])
    for preset in ("fast", "default"):
        assert np.isfinite(extract(images[3:9], preset)).all()


def test_rows_depend_only_on_their_image(images):
    x = extract(images, SMALL)
    for i in (0, 5, 6, 17, 20):
        np.testing.assert_array_equal(extract(images[i:i + 1], SMALL)[0], x[i])
    np.testing.assert_array_equal(extract(images[::-1], SMALL)[::-1], x)


def test_chunk_size_and_threads_do_not_change_results(images):
    ref = extract(images, SMALL)
    np.testing.assert_array_equal(extract(images, SMALL, chunk_size=5), ref)
    np.testing.assert_array_equal(extract(images, SMALL, n_jobs=2), ref)
    np.testing.assert_array_equal(extract(images, SMALL, n_jobs=2, chunk_size=16), ref)
    np.testing.assert_array_equal(extract(images, SMALL, n_jobs=-1), ref)


def test_deterministic_across_processes(images):
    code = ("import numpy as np; from defectlab.features import extract, FeatureSpec; "
            "rng = np.random.default_rng(0); "
            "x = extract(rng.integers(0, 256, (3, 48, 48), dtype=np.uint8), "
            "FeatureSpec(size=(48, 48))); import sys; sys.stdout.write(x.tobytes().hex())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    rng = np.random.default_rng(0)
    x = extract(rng.integers(0, 256, (3, 48, 48), dtype=np.uint8), FeatureSpec(size=(48, 48)))
    assert out.stdout == x.tobytes().hex()


def test_list_of_mixed_inputs(images):
    rng = np.random.default_rng(1)
    items = [
        images[0],  # uint8 at the working size: same as the fast path
        rng.integers(0, 65536, (100, 70), dtype=np.uint16),
        rng.random((30, 30)),  # float in [0, 1]
        rng.integers(0, 256, (60, 90, 3), dtype=np.uint8),  # RGB
        rng.integers(0, 256, (20, 20, 4), dtype=np.uint8),  # RGBA
        np.ones((1, 1), bool),  # a single pixel
        rng.integers(0, 256, (5, 400), dtype=np.uint8),  # extreme aspect ratio
    ]
    x = extract(items, SMALL)
    assert x.shape == (len(items), len(feature_names(SMALL))) and np.isfinite(x).all()
    np.testing.assert_array_equal(x[0], extract(images[:1], SMALL)[0])
    # colour columns see the colour; grey inputs have none
    names = feature_names(SMALL)
    sat = names.index("color.sat_frac")
    assert x[3, sat] > 0.5 and x[0, sat] == 0


def test_large_colour_photo_and_16bit_image():
    rng = np.random.default_rng(4)
    photo = np.zeros((1500, 2000, 3), np.uint8)
    photo[..., 0] = rng.integers(100, 256, (1500, 2000))  # reddish texture
    tiff12 = rng.integers(0, 4096, (600, 900), dtype=np.uint16)  # 12-bit camera in uint16
    x = extract([photo, tiff12])
    names = feature_names()
    assert x.shape == (2, len(names)) and np.isfinite(x).all()
    assert x[0, names.index("color.sat_frac")] > 0.5
    # percentile-stretched to the 8-bit range (a fixed /257 would give a mean near 8)
    assert 110 < x[1, names.index("intensity.mean")] < 145


def test_uint8_batch_of_another_size_is_resized(images):
    big = np.repeat(np.repeat(images[:2], 2, axis=1), 2, axis=2)  # 96 x 96
    x = extract(big, SMALL)
    np.testing.assert_array_equal(x, extract(list(big), SMALL))


def test_rgb_batch(images):
    rgb = np.repeat(images[:3, :, :, None], 3, axis=3)
    np.testing.assert_array_equal(extract(rgb, SMALL), extract(images[:3], SMALL))


def test_odd_working_size_and_every_preset():
    rng = np.random.default_rng(3)
    images = [rng.integers(0, 256, (50, 70), dtype=np.uint8) for _ in range(3)]
    odd = FeatureSpec(size=(37, 53))
    x = extract(images, odd)
    assert x.shape == (3, len(feature_names(odd))) and np.isfinite(x).all()
    for preset in ("fast", "default", "rich"):
        y = extract(images, preset)
        assert y.shape == (3, len(feature_names(preset))) and np.isfinite(y).all()


def test_empty_batch():
    x = extract(np.zeros((0, 48, 48), np.uint8), SMALL)
    assert x.shape == (0, len(feature_names(SMALL)))
    assert extract([], SMALL).shape == x.shape


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros((4, 64, 64, 3)), (r"The 'images' parameter of extract must be a uint8 array of "
                                    r"shape \(N, H, W\) or \(N, H, W, 3\)\. Got float64 with "
                                    r"shape \(4, 64, 64, 3\)\. Pass a list")),
        (np.zeros((64, 64), np.uint8), r"Got uint8 with shape \(64, 64\)"),
        (np.zeros((2, 8, 8), np.uint16), r"Got uint16 with shape \(2, 8, 8\)"),
        ("image.png", "Got str"),
        ([np.zeros((4, 4, 2), np.uint8)], r"images\[0\] passed to extract must be 2-D"),
        ([np.zeros((0, 4), np.uint8)], r"images\[0\] passed to extract is empty"),
        ([np.full((4, 4), np.nan)], r"images\[0\] passed to extract contains NaN"),
        ([np.zeros((4, 4), complex)], "bool, integer or float dtype"),
        ([np.zeros((4, 4), np.uint8), "x.png"], r"images\[1\] passed to extract must be a numpy"),
    ],
)
def test_validation_errors(bad, match):
    with pytest.raises(InputError, match=match):
        extract(bad, SMALL)


@pytest.mark.parametrize("kwargs, match", [({"chunk_size": 0}, "chunk_size"),
                                           ({"n_jobs": 0}, "n_jobs"),
                                           ({"n_jobs": 1.5}, "n_jobs")])
def test_parameter_errors(kwargs, match):
    with pytest.raises(InputError, match=match):
        extract(np.zeros((1, 48, 48), np.uint8), SMALL, **kwargs)


def test_spec_of_another_version_is_refused():
    old = get_spec("default").replace(version=FEATURES_VERSION + 1)
    with pytest.raises(InputError, match="feature version"):
        extract(np.zeros((1, 48, 48), np.uint8), old)
    with pytest.raises(InputError, match="feature version"):
        feature_names(old)


def test_import_is_light():
    code = ("import sys, defectlab.features; "
            "bad = [m for m in ('skimage', 'sklearn', 'scipy', 'streamlit', 'lightgbm', 'pandas') "
            "if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_docstring_examples_run():
    import doctest
    import importlib

    for name in ("spec", "pipeline", "_validate", "cache", "intensity", "lbp", "glcm", "hog",
                 "gabor", "fft", "color"):
        module = importlib.import_module(f"defectlab.features.{name}")
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0, name
