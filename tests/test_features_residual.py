"""The residual family: exact small cases, per-image independence, contrast polarity, old specs."""

import numpy as np
import pytest

from defectlab.errors import InputError
from defectlab.features import FeatureSpec, ResidualParams, extract, feature_names, get_spec
from defectlab.features.residual import extract_residual, residual_names

ONLY = FeatureSpec(size=(64, 64), intensity=None, lbp=None, glcm=None, hog=None, gabor=None, fft=None,
                   color=None, name="residual-only")


def test_names_and_constant_image():
    assert residual_names() == ["residual.dark", "residual.bright", "residual.skew", "residual.kurtosis",
                                "residual.p1", "residual.p99", "residual.coherence"]
    assert feature_names(ONLY) == residual_names()
    x = extract_residual(np.full((2, 40, 40), 77, np.uint8))
    assert x.shape == (2, 7) and x.dtype == np.float32 and not x.any()


def test_dark_streak_and_bright_scratch_have_opposite_tails():
    rng = np.random.default_rng(0)
    base = np.clip(128 + rng.normal(0, 4, (2, 64, 64)), 0, 255)
    base[0, 8:56, 30:32] -= 80  # a dark inclusion-like streak
    base[1, 8:56, 30:32] += 80  # a bright scratch-like line
    x = extract_residual(base.astype(np.uint8))
    dark, bright, skew = x[:, 0], x[:, 1], x[:, 2]
    assert dark[0] > bright[0] and bright[1] > dark[1]
    assert skew[0] < 0 < skew[1]
    assert x[0, 4] < -2 and x[1, 5] > 2  # p1 / p99 in standard deviations
    assert x[0, 6] > 0.3  # edges share one direction: a line


def test_coherence_of_stripes_and_noise():
    rng = np.random.default_rng(1)
    stripes = (128 + 60 * np.sin(np.arange(64) / 2.0))[None, :].repeat(64, 0)
    noise = rng.integers(0, 256, (64, 64))
    x = extract_residual(np.stack([stripes, noise]).astype(np.uint8))
    assert x[0, 6] > 0.9 and x[1, 6] < 0.2


def test_rows_are_independent_of_the_batch():
    rng = np.random.default_rng(2)
    ims = rng.integers(0, 256, (20, 48, 48), dtype=np.uint8)
    whole = extract_residual(ims)
    np.testing.assert_array_equal(whole[5], extract_residual(ims[5:6])[0])
    np.testing.assert_array_equal(extract(ims, ONLY)[7], extract(ims[7:8], ONLY)[0])


def test_default_spec_has_it_and_old_specs_keep_their_columns():
    assert get_spec().residual == ResidualParams() and feature_names()[-1] == "residual.coherence"
    old = get_spec().to_dict()
    del old["families"]["residual"]  # a run trained before the family existed
    spec = FeatureSpec.from_dict(old)
    assert spec.residual is None and "residual.dark" not in feature_names(spec)
    assert spec.hash == "2c3d6138d447d6d1de4333bce06cf5888cf84e46da011dc03d8a6f8516b75baf"  # its old hash
    with pytest.raises(InputError):
        ResidualParams(sigma=0)
    with pytest.raises(InputError):
        FeatureSpec.from_dict({**get_spec().to_dict(), "families": {"residual": {"sigma": "x"}}})
