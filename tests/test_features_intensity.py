"""Intensity statistics: exact values on hand-made images."""

import numpy as np
import pytest

from defectlab.features.intensity import (
    IntensityParams,
    extract_intensity,
    intensity_names,
)


def _row(image, params=None):
    params = params or IntensityParams()
    return dict(zip(intensity_names(params), extract_intensity(image[None], params)[0], strict=True))


def test_two_level_image_by_hand():
    image = np.array([[0, 0], [255, 255]], np.uint8)
    got = _row(image, IntensityParams(percentiles=(0, 25, 50, 75, 100), bins=2))
    assert got["intensity.mean"] == 127.5
    assert got["intensity.std"] == 127.5
    assert got["intensity.skew"] == 0
    assert got["intensity.kurtosis"] == -2  # two equal spikes: 1 - 3
    assert got["intensity.min"] == 0 and got["intensity.max"] == 255
    assert got["intensity.entropy"] == 1  # bits
    # nearest rank: first level whose cumulative fraction reaches q
    assert [got[f"intensity.p{p}"] for p in (0, 25, 50, 75, 100)] == [0, 0, 0, 255, 255]
    assert got["intensity.h00"] == 0.5 and got["intensity.h01"] == 0.5


def test_skewed_image_by_hand():
    image = np.array([[10, 10, 10, 50]], np.uint8)
    got = _row(image)
    assert got["intensity.mean"] == 20
    assert got["intensity.std"] == pytest.approx(np.sqrt(300))
    # third central moment: (3 * (-10)^3 + 30^3) / 4 = 6000; skew = 6000 / 300^1.5
    assert got["intensity.skew"] == pytest.approx(6000 / 300 ** 1.5, rel=1e-6)
    assert got["intensity.p90"] == 50 and got["intensity.p50"] == 10


@pytest.mark.parametrize("value", [0, 77, 255])
def test_constant_image_is_finite(value):
    got = _row(np.full((8, 8), value, np.uint8))
    assert all(np.isfinite(v) for v in got.values())
    assert got["intensity.std"] == 0 and got["intensity.skew"] == 0
    assert got["intensity.kurtosis"] == 0 and got["intensity.entropy"] == 0
    assert got["intensity.p1"] == got["intensity.p99"] == value


def test_names_follow_params():
    names = intensity_names(IntensityParams(percentiles=(5, 95), bins=4))
    assert names == ["intensity.mean", "intensity.std", "intensity.skew", "intensity.kurtosis",
                     "intensity.min", "intensity.max", "intensity.entropy", "intensity.p5",
                     "intensity.p95", "intensity.h00", "intensity.h01", "intensity.h02",
                     "intensity.h03"]
