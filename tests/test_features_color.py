"""HSV colour statistics on hand-made colours; grey images give zero colour."""

import numpy as np
import pytest

from defectlab.errors import InputError
from defectlab.features.color import ColorParams, color_names, extract_color


def _row(image):
    return dict(zip(color_names(), extract_color(image[None])[0], strict=True))


@pytest.mark.parametrize("rgb, hue, sector", [((255, 0, 0), 0, 0), ((0, 255, 0), 120, 4),
                                              ((0, 0, 255), 240, 8)])
def test_pure_colours(rgb, hue, sector):
    image = np.zeros((6, 6, 3), np.uint8)
    image[:] = rgb
    got = _row(image)
    assert got["color.h_mean"] == pytest.approx(hue, abs=1e-3)
    assert got["color.h_conc"] == pytest.approx(1.0)
    assert got["color.sat_frac"] == 1 and got["color.s_mean"] == 255 and got["color.v_mean"] == 255
    assert got[f"color.hue{sector}"] == 1
    assert sum(got[f"color.hue{k}"] for k in range(12)) == 1


def test_half_coloured_image():
    image = np.zeros((4, 4, 3), np.uint8)
    image[:2] = (255, 0, 0)
    image[2:] = (100, 100, 100)  # grey: saturation 0
    got = _row(image)
    assert got["color.sat_frac"] == 0.5 and got["color.hue0"] == 0.5
    assert got["color.s_mean"] == 127.5 and got["color.v_mean"] == (255 + 100) / 2


def test_grey_batch_and_grey_rgb_agree():
    grey = np.random.default_rng(0).integers(0, 256, (3, 8, 8), dtype=np.uint8)
    a = extract_color(grey)
    b = extract_color(np.repeat(grey[..., None], 3, axis=3))
    np.testing.assert_array_equal(a, b)
    got = dict(zip(color_names(), a[0], strict=True))
    assert got["color.sat_frac"] == 0 and got["color.h_mean"] == 0
    assert got["color.v_mean"] == pytest.approx(grey[0].mean())


def test_names_and_errors():
    assert color_names(ColorParams(hue_bins=4))[-1] == "color.hue3"
    with pytest.raises(InputError, match=r"\(N, H, W\) or \(N, H, W, 3\)"):
        extract_color(np.zeros((2, 8, 8, 4), np.uint8))
