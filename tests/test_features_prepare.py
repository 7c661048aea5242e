"""prepare_images: the working-size policy for sizes, aspect ratios, colour, 16-bit and float."""

import cv2
import numpy as np
import pytest

from defectlab.errors import InputError
from defectlab.features import FeatureSpec, prepare_images

GREY = FeatureSpec(size=(32, 48), color=None)
COLOUR = FeatureSpec(size=(32, 48))


def test_fast_path_is_unchanged():
    batch = np.random.default_rng(0).integers(0, 256, (3, 32, 48), dtype=np.uint8)
    grey, color = prepare_images(batch, GREY)
    assert grey is batch or np.shares_memory(grey, batch)
    assert color is None
    grey, color = prepare_images(batch, COLOUR)
    assert color.shape == (3, 32, 48, 3) and (color == batch[..., None]).all()


def test_resize_uses_area_when_shrinking_and_linear_when_enlarging():
    big = np.random.default_rng(1).integers(0, 256, (64, 100), dtype=np.uint8)
    grey, _ = prepare_images([big], GREY)
    np.testing.assert_array_equal(grey[0], cv2.resize(big, (48, 32), interpolation=cv2.INTER_AREA))
    small = big[:8, :12]
    grey, _ = prepare_images([small], GREY)
    np.testing.assert_array_equal(grey[0],
                                  cv2.resize(small, (48, 32), interpolation=cv2.INTER_LINEAR))


def test_crop_mode_keeps_the_centre():
    image = np.zeros((32, 144), np.uint8)
    image[:, 48:96] = 200  # the centre third is bright
    stretched, _ = prepare_images([image], GREY)
    cropped, _ = prepare_images([image], GREY.replace(resize="crop"))
    assert (cropped[0] == 200).all()  # 32 x 48 centre box is all bright
    assert (stretched[0] == 0).any()


def test_colour_is_converted_to_grey_with_bt601():
    rgb = np.zeros((32, 48, 3), np.uint8)
    rgb[..., 0] = 200  # pure red
    grey, color = prepare_images([rgb], COLOUR)
    assert (grey == round(0.299 * 200)).all()
    assert (color[0] == rgb).all()
    rgba = np.concatenate([rgb, np.full((32, 48, 1), 7, np.uint8)], axis=2)
    np.testing.assert_array_equal(prepare_images([rgba], COLOUR)[0], grey)
    np.testing.assert_array_equal(prepare_images([rgb[..., :1]], GREY)[0], rgb[None, ..., 0])


def test_16bit_policies():
    # a 12-bit camera: values 0..4095 stored in uint16
    image = np.tile(np.linspace(0, 4095, 48), (32, 1)).astype(np.uint16)
    stretched, _ = prepare_images([image], GREY)
    scaled, _ = prepare_images([image], GREY.replace(depth="scale"))
    assert stretched.max() == 255 and stretched.min() == 0  # full contrast kept
    assert scaled.max() == round(4095 / 257)  # fixed /257: nearly black
    const, _ = prepare_images([np.full((32, 48), 1000, np.uint16)], GREY)
    assert (const == 128).all()  # constant and above 255: mid-grey, no division by zero


def test_float_policies():
    unit = np.linspace(0, 1, 32 * 48).reshape(32, 48)
    grey, _ = prepare_images([unit], GREY)
    assert grey.min() == 0 and grey.max() == 255
    wide = unit * 1000 - 500
    np.testing.assert_array_equal(prepare_images([wide], GREY)[0], grey)  # min-max stretched
    assert prepare_images([np.ones((32, 48), bool)], GREY)[0].min() == 255


def test_signed_integers_are_stretched():
    image = np.tile(np.arange(-24, 24, dtype=np.int16), (32, 1))
    grey, _ = prepare_images([image], GREY)
    assert grey.min() == 0 and grey.max() == 255


@pytest.mark.parametrize("bad, match", [
    (np.zeros((2, 8, 8), np.float32), "'images' parameter of prepare_images must be a uint8"),
    ([np.zeros((3, 3, 3, 3), np.uint8)], r"images\[0\] passed to prepare_images must be 2-D"),
    ([np.array([[np.inf]])], "NaN or infinity"),
    (42, "Got int"),
])
def test_errors(bad, match):
    with pytest.raises(InputError, match=match):
        prepare_images(bad, GREY)
