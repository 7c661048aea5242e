"""Tests for defectlab.imaging: safe decode, limits, normalisation, encoding, crops."""

import json
import struct
import zlib

import cv2
import numpy as np
import pytest

from defectlab.errors import ImageError, InputError
from defectlab.imaging import (
    DEFAULT_LIMITS,
    IMAGE_EXTENSIONS,
    ImageLimits,
    crop_box,
    decode_image,
    decode_image_with_info,
    encode_jpeg,
    encode_png,
    is_image_name,
    load_image,
    load_image_with_info,
    make_thumbnail,
    read_image_bytes,
    read_image_size,
    sha256_bytes,
    to_grey,
)

# ------------------------------------------------------------------ hand-made files

def _chunk(ctype, data):
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", zlib.crc32(ctype + data))


def _png(width, height, color_type, bit_depth, rows, extra=b"", idat=None, iend=True):
    """A PNG built by hand; ``rows`` are raw scanlines (filter byte 0 is added)."""
    ihdr = _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0))
    if idat is None:
        idat = zlib.compress(b"".join(b"\x00" + r for r in rows))
    out = b"\x89PNG\r\n\x1a\n" + ihdr + extra + _chunk(b"IDAT", idat)
    return out + (_chunk(b"IEND", b"") if iend else b"")


def _exif(orientation, e=">"):
    """A TIFF-structured EXIF block holding only the orientation tag."""
    bo = b"MM" if e == ">" else b"II"
    return (bo + struct.pack(e + "HI", 42, 8) + struct.pack(e + "H", 1)
            + struct.pack(e + "HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(e + "I", 0))


def _jpeg_with_orientation(bgr, orientation):
    _ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 95])
    b = buf.tobytes()
    app1 = b"Exif\x00\x00" + _exif(orientation)
    return b[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + b[2:]


def _tiff_grey8(pixels, orientation=1, width=None, height=None):
    """An uncompressed little-endian 8-bit grey TIFF built by hand."""
    h, w = pixels.shape
    width = w if width is None else width
    height = h if height is None else height
    entries = [(256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, 1), (262, 3, 1),
               (273, 4, 0), (274, 3, orientation), (277, 3, 1), (278, 4, h), (279, 4, w * h)]
    data_off = 8 + 2 + len(entries) * 12 + 4
    out = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", len(entries))
    for tag, typ, val in entries:
        val = data_off if tag == 273 else val
        if typ == 3:
            out += struct.pack("<HHIHH", tag, typ, 1, val, 0)
        else:
            out += struct.pack("<HHII", tag, typ, 1, val)
    return out + struct.pack("<I", 0) + pixels.tobytes()


def _encode(ext, img):
    ok, buf = cv2.imencode(ext, img)
    assert ok
    return buf.tobytes()


def _quadrants_bgr(h=24, w=40):
    """A colour image (BGR, as cv2 writes) with four distinct flat quadrants."""
    img = np.zeros((h, w, 3), np.uint8)
    img[: h // 2, : w // 2] = (0, 0, 255)
    img[: h // 2, w // 2:] = (0, 255, 0)
    img[h // 2:, : w // 2] = (255, 0, 0)
    img[h // 2:, w // 2:] = (255, 255, 255)
    return img


# ------------------------------------------------------------------ happy paths

def test_png_grey_round_trip_exact():
    img = np.arange(20, dtype=np.uint8).reshape(4, 5) * 12
    out, info = decode_image_with_info(encode_png(img), "a.png")
    assert out.dtype == np.uint8 and out.flags.c_contiguous
    np.testing.assert_array_equal(out, img)
    assert (info.format, info.width, info.height, info.channels, info.channels_in, info.dtype_in) == (
        "png", 5, 4, 1, 1, "uint8")
    assert info.value_range is None and info.alpha is False and info.orientation == 1


@pytest.mark.parametrize("ext,fmt", [(".png", "png"), (".bmp", "bmp"), (".tif", "tiff")])
def test_colour_is_returned_in_rgb_order(ext, fmt):
    bgr = np.zeros((2, 3, 3), np.uint8)
    bgr[0, 0] = (255, 0, 0)  # pure blue in OpenCV's BGR order
    bgr[1, 2] = (0, 0, 200)  # red
    out, info = decode_image_with_info(_encode(ext, bgr), "c" + ext)
    assert out.shape == (2, 3, 3) and info.channels == 3 and info.format == fmt
    assert out[0, 0].tolist() == [0, 0, 255]
    assert out[1, 2].tolist() == [200, 0, 0]


def test_grey_stored_as_three_identical_channels_becomes_2d():
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    bgr = np.dstack([grey, grey, grey])
    out, info = decode_image_with_info(_encode(".png", bgr), "g.png")
    assert out.shape == (3, 4)
    np.testing.assert_array_equal(out, grey)
    assert info.channels == 1 and info.channels_in == 3


def test_one_coloured_pixel_far_down_keeps_the_image_in_colour():
    bgr = np.full((40, 30, 3), 90, np.uint8)
    bgr[37, 5] = (90, 90, 91)  # below the rows the quick check looks at
    out, info = decode_image_with_info(_encode(".png", bgr), "c.png")
    assert out.shape == (40, 30, 3) and info.channels == 3
    assert out[37, 5].tolist() == [91, 90, 90] and out[0, 0].tolist() == [90, 90, 90]


def test_rgb_round_trip_through_encode_png_is_exact():
    rgb = np.random.default_rng(0).integers(0, 256, (7, 9, 3), dtype=np.uint8)
    np.testing.assert_array_equal(decode_image(encode_png(rgb), "x"), rgb)


def test_jpeg_decodes_close_to_original_and_trailing_bytes_are_fine():
    img = np.full((16, 16), 100, np.uint8)
    data = encode_jpeg(img, quality=95)
    out = decode_image(data + b"\x00\x00 trailing junk after EOI", "j.jpg")
    assert out.shape == (16, 16)
    assert np.abs(out.astype(int) - 100).max() <= 2


def test_jpeg_with_stray_bytes_between_segments_is_read_like_libjpeg():
    data = _encode(".jpg", _quadrants_bgr())
    app0_end = 4 + struct.unpack(">H", data[4:6])[0]
    padded = data[:app0_end] + b"\x00\x00\x00" + data[app0_end:]
    np.testing.assert_array_equal(decode_image(padded, "p.jpg"), decode_image(data, "d.jpg"))


def test_non_ascii_file_name(tmp_path):
    p = tmp_path / "划痕_001.png"
    img = np.full((3, 6), 42, np.uint8)
    p.write_bytes(encode_png(img))
    np.testing.assert_array_equal(load_image(p), img)
    assert read_image_size(p) == (6, 3)
    _, info = load_image_with_info(str(p))
    assert info.width == 6


def test_16bit_png_and_tiff_are_stretched_by_percentiles():
    img16 = np.full((4, 10), 1000, np.uint16)
    img16[:, 5:] = 3000  # half the pixels at 1000, half at 3000: percentiles are 1000 and 3000
    for ext in (".png", ".tif"):
        out, info = decode_image_with_info(_encode(ext, img16), "s" + ext)
        assert info.dtype_in == "uint16" and info.value_range == (1000.0, 3000.0)
        assert out.dtype == np.uint8
        np.testing.assert_array_equal(out[:, :5], 0)
        np.testing.assert_array_equal(out[:, 5:], 255)


def test_16bit_ramp_is_monotonic_and_uses_the_full_8bit_range():
    ramp = (np.arange(4096, dtype=np.uint16) + 100).reshape(64, 64)  # a 12-bit camera
    out = decode_image(_encode(".tif", ramp), "r.tif")
    flat = out.ravel().astype(int)
    assert np.all(np.diff(flat) >= 0)
    assert flat[0] == 0 and flat[-1] == 255
    # the middle value maps to the middle of the output range
    assert abs(int(out.ravel()[2048]) - 128) <= 1


def test_16bit_constant_image_maps_linearly():
    out, info = decode_image_with_info(_encode(".png", np.full((2, 2), 257 * 80, np.uint16)), "c.png")
    np.testing.assert_array_equal(out, 80)
    assert info.value_range == (0.0, 65535.0)


def test_16bit_colour_keeps_channel_balance():
    bgr = np.zeros((2, 2, 3), np.uint16)
    bgr[..., 2] = 4000  # red
    bgr[..., 0] = 2000  # blue, half as bright
    bgr[1, 1] = 0
    out = decode_image(_encode(".png", bgr), "c16.png")
    # one mapping for all channels: values are 0, 2000 and 4000 in the file
    lo, hi = np.percentile([4000, 4000, 4000, 0, 0, 0, 0, 0, 0, 2000, 2000, 2000], [0.1, 99.9])
    assert out.shape == (2, 2, 3)
    assert out[0, 0, 0] == np.clip(round((4000 - lo) * 255 / (hi - lo)), 0, 255)
    assert out[0, 0, 1] == 0
    assert out[0, 0, 2] == round((2000 - lo) * 255 / (hi - lo))


def test_alpha_is_composited_on_black():
    bgra = np.zeros((1, 3, 4), np.uint8)
    bgra[..., :3] = (10, 100, 200)  # B G R
    bgra[0, :, 3] = (0, 128, 255)
    out, info = decode_image_with_info(_encode(".png", bgra), "a.png")
    assert info.alpha is True and info.channels_in == 4
    expected_r = [0, round(200 * 128 / 255), 200]
    assert out[0, :, 0].tolist() == expected_r
    assert out[0, 2].tolist() == [200, 100, 10]


@pytest.mark.parametrize("alpha", [0, 255])
@pytest.mark.parametrize("ext", [".png", ".bmp", ".tif"])
def test_unset_or_opaque_alpha_is_ignored(ext, alpha):
    bgra = np.zeros((2, 2, 4), np.uint8)
    bgra[..., :3] = (30, 60, 90)
    bgra[..., 3] = alpha
    out, info = decode_image_with_info(_encode(ext, bgra), "x" + ext)
    assert info.alpha is False
    assert out[0, 0].tolist() == [90, 60, 30]


def test_grey_alpha_png():
    # colour type 4 (grey + alpha), 8 bit: pixels (100, alpha 51) and (200, alpha 255)
    data = _png(2, 1, 4, 8, [bytes([100, 51, 200, 255])])
    out, info = decode_image_with_info(data, "ga.png")
    assert out.shape == (1, 2) and info.alpha is True
    assert out.tolist() == [[20, 200]]


def test_palette_png():
    plte = _chunk(b"PLTE", bytes([255, 0, 0, 0, 255, 0, 0, 0, 255]))
    data = _png(2, 2, 3, 8, [bytes([0, 1]), bytes([2, 0])], extra=plte)
    out = decode_image(data, "p.png")
    assert out.tolist() == [[[255, 0, 0], [0, 255, 0]], [[0, 0, 255], [255, 0, 0]]]


def test_palette_png_with_transparency():
    plte = _chunk(b"PLTE", bytes([200, 0, 0, 0, 200, 0]))
    trns = _chunk(b"tRNS", bytes([0, 255]))  # entry 0 fully transparent
    data = _png(2, 1, 3, 8, [bytes([0, 1])], extra=plte + trns)
    out, info = decode_image_with_info(data, "pt.png")
    assert info.alpha is True
    assert out.tolist() == [[[0, 0, 0], [0, 200, 0]]]


def test_one_bit_png_becomes_0_and_255():
    data = _png(8, 1, 0, 1, [bytes([0b10100000])])
    assert decode_image(data, "b.png").tolist() == [[255, 0, 255, 0, 0, 0, 0, 0]]


# ------------------------------------------------------------------ orientation

@pytest.mark.parametrize("orientation", range(1, 9))
def test_jpeg_exif_orientation_matches_opencv_imread_color(orientation):
    data = _jpeg_with_orientation(_quadrants_bgr(), orientation)
    out, info = decode_image_with_info(data, "o.jpg")
    ref = cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    assert info.orientation == orientation
    assert out.shape == ((40, 24, 3) if orientation >= 5 else (24, 40, 3))
    np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_png_exif_orientation_matches_opencv_imread_color(orientation, tmp_path):
    bgr = _quadrants_bgr(6, 10)
    rows = [r.tobytes() for r in cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)]
    data = _png(10, 6, 2, 8, rows, extra=_chunk(b"eXIf", _exif(orientation, "<")))
    out, info = decode_image_with_info(data, "o.png")
    ref = cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    assert info.orientation == orientation
    np.testing.assert_array_equal(out, ref)
    p = tmp_path / "o.png"
    p.write_bytes(data)
    assert read_image_size(p) == (out.shape[1], out.shape[0])


def test_png_orientation_6_is_a_clockwise_quarter_turn():
    img = np.arange(6, dtype=np.uint8).reshape(2, 3) * 40
    data = _png(3, 2, 0, 8, [r.tobytes() for r in img], extra=_chunk(b"eXIf", _exif(6)))
    np.testing.assert_array_equal(decode_image(data, "o.png"), np.rot90(img, k=-1))


def test_tiff_orientation_tag_is_applied(tmp_path):
    img = np.arange(6, dtype=np.uint8).reshape(2, 3) * 40
    data = _tiff_grey8(img, orientation=6)
    out, info = decode_image_with_info(data, "o.tif")
    assert info.orientation == 6
    np.testing.assert_array_equal(out, np.rot90(img, k=-1))
    p = tmp_path / "o.tif"
    p.write_bytes(data)
    assert read_image_size(p) == (2, 3)


def test_read_image_size_of_rotated_jpeg(tmp_path):
    p = tmp_path / "r.jpg"
    p.write_bytes(_jpeg_with_orientation(_quadrants_bgr(24, 40), 6))
    assert read_image_size(p) == (24, 40)


# ------------------------------------------------------------------ rejections

def _bomb_png(w=30000, h=30000):
    return _png(w, h, 0, 8, [], idat=zlib.compress(b"\x00" * 10))


def _bomb_jpeg(w=30000, h=30000):
    b = bytearray(_encode(".jpg", np.zeros((8, 8), np.uint8)))
    i = b.find(b"\xff\xc0")
    struct.pack_into(">HH", b, i + 5, h, w)
    return bytes(b)


def _bomb_bmp(w=30000, h=30000):
    b = bytearray(_encode(".bmp", np.zeros((8, 8, 3), np.uint8)))
    struct.pack_into("<ii", b, 18, w, h)
    return bytes(b)


def _bomb_tiff(w=30000, h=30000):
    return _tiff_grey8(np.zeros((2, 2), np.uint8), width=w, height=h)


@pytest.mark.parametrize("make", [_bomb_png, _bomb_jpeg, _bomb_bmp, _bomb_tiff])
def test_decompression_bomb_is_refused_from_the_header(make, tmp_path):
    data = make()
    assert len(data) < 2000  # nothing big was built
    msg = (r"too large: 30000x30000 pixels = 900 MP exceeds the 100 MP limit; "
           r"to accept it, raise DEFECTLAB_MAX_MEGAPIXELS \(ImageLimits.max_pixels\)")
    with pytest.raises(ImageError, match=msg) as exc:
        decode_image(data, "bomb")
    assert exc.value.source == "bomb"
    assert _assert_translatable(exc.value.reason).startswith("图像过大：30000x30000 像素 = 900 MP")
    p = tmp_path / "bomb.img"
    p.write_bytes(data)
    assert read_image_size(p) == (30000, 30000)  # header only, no pixels decoded


def test_pixel_limit_is_settable():
    data = encode_png(np.zeros((10, 20), np.uint8))
    with pytest.raises(ImageError, match=r"20x10 pixels = 200 pixels exceeds the 100 pixels limit"):
        decode_image(data, "x", ImageLimits(max_pixels=100))
    assert decode_image(data, "x", ImageLimits(max_pixels=200)).shape == (10, 20)
    with pytest.raises(ImageError, match=r"= 1.5 MP exceeds the 1.2 MP limit"):
        decode_image(_bomb_png(1500, 1000), "x", ImageLimits(max_pixels=1_200_000))


def test_limits_from_the_environment():
    from defectlab.imaging import limits_from_env

    got = limits_from_env({"DEFECTLAB_MAX_MEGAPIXELS": " 400 ", "DEFECTLAB_MAX_FILE_MB": "1.5",
                           "DEFECTLAB_MAX_DECODED_MB": ""})
    assert got == ImageLimits(max_pixels=400_000_000, max_file_bytes=int(1.5 * 1024 * 1024))
    assert limits_from_env({}) == ImageLimits()
    assert limits_from_env({"DEFECTLAB_MAX_MEGAPIXELS": "0.0000001"}).max_pixels == 1  # never 0
    # a bad value is refused with the variable's name, never read as "no limit"
    for bad in ["abc", "0", "-5", "nan", "inf", "1e300", "100MP"]:
        with pytest.raises(InputError, match=r"DEFECTLAB_MAX_MEGAPIXELS must be a positive number. Got '"):
            limits_from_env({"DEFECTLAB_MAX_MEGAPIXELS": bad})
    with pytest.raises(InputError) as exc:
        limits_from_env({"DEFECTLAB_MAX_DECODED_MB": "lots"})
    from defectlab import i18n

    reason = exc.value.args[0]
    assert i18n.t(reason.key, lang="zh_CN", **reason.args) == "DEFECTLAB_MAX_DECODED_MB 必须是正数。收到 'lots'。"


def test_default_limits_are_read_when_the_program_starts(tmp_path):
    """A plant with 150-megapixel line-scan plates sets one variable before starting the app or a command;
    a bad value is an error naming it as soon as images are read."""
    import os
    import subprocess
    import sys

    data = _bomb_png(15000, 10000)  # 150 MP, header only
    path = tmp_path / "plate.png"
    path.write_bytes(data)
    code = ("import sys\nfrom defectlab.imaging import DEFAULT_LIMITS, read_image_size, decode_image\n"
            "print(DEFAULT_LIMITS.max_pixels)\n"
            "try:\n    decode_image(open(sys.argv[1], 'rb').read(), 'plate.png')\n"
            "except Exception as e:\n    print(type(e).__name__, e)\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEFECTLAB_MAX_")}
    out = subprocess.run([sys.executable, "-c", code, str(path)], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == "100000000"
    assert "exceeds the 100 MP limit; to accept it, raise DEFECTLAB_MAX_MEGAPIXELS" in out.stdout
    out = subprocess.run([sys.executable, "-c", code, str(path)], env={**env, "DEFECTLAB_MAX_MEGAPIXELS": "200"},
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == "200000000"
    assert "exceeds" not in out.stdout  # past the pixel limit: the (fake) pixel data is what is refused now
    out = subprocess.run([sys.executable, "-c", code, str(path)], env={**env, "DEFECTLAB_MAX_MEGAPIXELS": "big"},
                         capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert "DEFECTLAB_MAX_MEGAPIXELS must be a positive number. Got 'big'." in out.stderr


def test_a_bad_limit_variable_is_one_error_line_in_the_cli(tmp_path):
    """The CLI refuses the import with the variable's name (exit 1, no traceback) and stores nothing."""
    import os
    import subprocess
    import sys

    folder = tmp_path / "imgs" / "scratch"
    folder.mkdir(parents=True)
    (folder / "划痕_001.png").write_bytes(encode_png(np.zeros((40, 40), np.uint8)))
    env = {**os.environ, "DEFECTLAB_MAX_MEGAPIXELS": "-1"}
    cmd = [sys.executable, "-m", "defectlab.cli", "import", "P", str(tmp_path / "imgs"), "--workspace",
           str(tmp_path / "ws")]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1] == ("defectlab: error: DEFECTLAB_MAX_MEGAPIXELS must be a positive "
                                                   "number. Got '-1'.")
    assert "Traceback" not in out.stderr
    listed = subprocess.run([sys.executable, "-m", "defectlab.cli", "project", "list", "--workspace",
                             str(tmp_path / "ws"), "--json"], capture_output=True, text=True, timeout=120)
    assert json.loads(listed.stdout)["projects"] == []


def test_file_size_limit(tmp_path):
    data = encode_png(np.zeros((10, 10), np.uint8))
    limits = ImageLimits(max_file_bytes=len(data) - 1)
    with pytest.raises(ImageError, match=r"the file has .* limit; to accept it, raise DEFECTLAB_MAX_FILE_MB"):
        decode_image(data, "x", limits)
    p = tmp_path / "x.png"
    p.write_bytes(data)
    with pytest.raises(ImageError, match=r"raise DEFECTLAB_MAX_FILE_MB \(ImageLimits\.max_file_bytes\)"):
        read_image_bytes(p, limits)
    assert read_image_bytes(p) == data


def _truncate(data, n):
    return data[:n]


_RNG_IMG = np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)


@pytest.mark.parametrize(
    "data,match",
    [
        (b"", r"^x: empty file \(0 bytes\)$"),
        (b"hello\n", r"^x: not an image: the content is text, not PNG/JPEG/BMP/TIFF$"),
        (b"\x00\x01\x02\x03\x04", r"^x: not an image: .*\(unknown binary data\)$"),
        (b"GIF89a\x01\x00\x01\x00", r"unsupported format: the content is a GIF image; .* convert it to PNG"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", r"unsupported format: the content is a WebP image"),
        (_encode(".jpg", _RNG_IMG)[:600], r"truncated or corrupt JPEG"),
        (_encode(".jpg", _RNG_IMG)[:-2], r"truncated or corrupt JPEG \(the end-of-image marker is missing\)"),
        (_encode(".jpg", _RNG_IMG)[:100], r"truncated or corrupt JPEG \(.*header"),
        (_encode(".png", _RNG_IMG)[:-12], r"truncated PNG \(the file ends before its IEND chunk\)"),
        (_encode(".png", _RNG_IMG)[:20], r"truncated or corrupt PNG \(no IHDR header\)"),
        (_encode(".bmp", _RNG_IMG)[:-50], r"truncated BMP"),
        (_encode(".tif", _RNG_IMG)[:500], r"truncated or corrupt TIFF"),
        (_tiff_grey8(np.zeros((4, 4), np.uint8))[:-3], r"truncated TIFF \(the pixel data ends at byte"),
    ],
    ids=["empty", "text", "binary", "gif", "webp", "jpeg-half", "jpeg-no-eoi", "jpeg-header",
         "png-no-iend", "png-header", "bmp", "tiff-ifd-missing", "tiff-strip-cut"],
)
def test_bad_files_are_rejected_with_a_reason(data, match):
    with pytest.raises(ImageError, match=match) as exc:
        decode_image(data, "x")
    assert exc.value.source == "x"
    _assert_translatable(exc.value.reason)


def _assert_translatable(reason):
    """The reason is a Message whose key and args say exactly it in English, and say it in Chinese."""
    import re

    from defectlab.i18n import t
    from defectlab.messages import Message

    assert isinstance(reason, Message), reason
    assert reason.key.startswith("imaging.reason.")
    assert t(reason.key, lang="en", **reason.args) == reason
    zh = t(reason.key, lang="zh_CN", **reason.args)
    assert zh != reason and re.search(r"[\u4e00-\u9fff]", zh), zh
    return zh


@pytest.mark.parametrize("case", ["missing", "folder", "file-limit", "pixel-limit", "header-size"])
def test_reasons_of_files_and_limits_are_translatable(case, tmp_path):
    data = encode_png(np.zeros((10, 20), np.uint8))
    (tmp_path / "x.png").write_bytes(data)
    calls = {
        "missing": lambda: read_image_bytes(tmp_path / "none.png"),
        "folder": lambda: read_image_size(tmp_path),
        "file-limit": lambda: decode_image(data, "x", ImageLimits(max_file_bytes=len(data) - 1)),
        "pixel-limit": lambda: decode_image(data, "x", ImageLimits(max_pixels=100)),
        "header-size": lambda: read_image_size(_write(tmp_path / "cut.png", data[:30])),
    }
    with pytest.raises(ImageError) as exc:
        calls[case]()
    zh = _assert_translatable(exc.value.reason)
    if case == "pixel-limit":
        assert exc.value.reason.args == {"width": 20, "height": 10, "pixels": "200 pixels", "limit": "100 pixels"}
        assert zh.startswith("图像过大：20x10 像素")


def _write(path, data):
    path.write_bytes(data)
    return path


def test_png_with_bad_ihdr_checksum():
    data = bytearray(encode_png(np.zeros((2, 2), np.uint8)))
    data[17] ^= 0xFF  # width byte changes, CRC does not
    with pytest.raises(ImageError, match=r"corrupt PNG \(the IHDR header checksum does not match\)"):
        decode_image(bytes(data), "x")


def _jpeg_without_segment(marker):
    data = bytearray(_encode(".jpg", _RNG_IMG))
    i = data.find(b"\xff" + bytes([marker]))
    length = struct.unpack(">H", data[i + 2:i + 4])[0]
    return data, i, length


def test_jpeg_with_garbage_huffman_table_is_rejected_by_the_decoder():
    data, i, length = _jpeg_without_segment(0xC4)
    data[i + 4:i + 2 + length] = b"\x00" * (length - 2)
    with pytest.raises(ImageError, match=r"truncated or corrupt JPEG: the pixel data could not be decoded"):
        decode_image(bytes(data), "x")


def test_jpeg_without_frame_header_is_rejected():
    data, i, length = _jpeg_without_segment(0xC0)
    del data[i:i + 2 + length]
    with pytest.raises(ImageError, match=r"corrupt JPEG \(pixel data before the frame header\)"):
        decode_image(bytes(data), "x")


def test_text_file_named_png_on_disk(tmp_path):
    p = tmp_path / "fake.png"
    p.write_text("hello, I am not a picture")
    with pytest.raises(ImageError, match=r"the content is text, not PNG") as exc:
        load_image(p)
    assert exc.value.source == str(p)
    with pytest.raises(ImageError, match="not an image"):
        read_image_size(p)


def test_zero_byte_file_on_disk(tmp_path):
    p = tmp_path / "empty.jpg"
    p.write_bytes(b"")
    with pytest.raises(ImageError, match=r"empty file \(0 bytes\)"):
        load_image(p)
    with pytest.raises(ImageError, match=r"empty file \(0 bytes\)"):
        read_image_size(p)


def test_source_names_the_file_in_errors(tmp_path):
    p = tmp_path / "x.png"
    p.write_text("hello")
    for call in (lambda: load_image(p, source="imgs/x.png"),
                 lambda: load_image_with_info(p, DEFAULT_LIMITS, "imgs/x.png"),
                 lambda: read_image_size(p, source="imgs/x.png")):
        with pytest.raises(ImageError, match=r"^imgs/x\.png: not an image") as exc:
            call()
        assert exc.value.source == "imgs/x.png"
    with pytest.raises(ImageError, match=r"^rel/none\.png: file not found$"):
        read_image_bytes(tmp_path / "none.png", source="rel/none.png")


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ImageError, match="file not found"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(ImageError, match="is a folder"):
        read_image_bytes(tmp_path)


@pytest.mark.parametrize("data", ["a.png", 123, None, np.zeros(3, np.uint8)])
def test_decode_image_wants_bytes(data):
    with pytest.raises(InputError, match="must be bytes"):
        decode_image(data, "x")


@pytest.mark.parametrize("kwargs", [{"max_pixels": 0}, {"max_file_bytes": -1}, {"max_pixels": 1.5},
                                    {"max_pixels": True}])
def test_invalid_limits(kwargs):
    with pytest.raises(InputError, match="must be a positive integer"):
        ImageLimits(**kwargs)


def test_default_limits():
    assert DEFAULT_LIMITS.max_file_bytes == 200 * 1024 * 1024
    assert DEFAULT_LIMITS.max_pixels == 100_000_000


# ------------------------------------------------------------------ helpers

def test_to_grey():
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]]], np.uint8)
    assert to_grey(rgb).tolist() == [[76, 150, 29, 255]]
    grey = np.zeros((2, 2), np.uint8)
    assert to_grey(grey) is grey


@pytest.mark.parametrize(
    "image",
    [np.zeros((4, 4), np.float32), np.zeros((4, 4, 4), np.uint8), np.zeros((4,), np.uint8),
     np.zeros((0, 4), np.uint8), [[1, 2]]],
    ids=["float", "4ch", "1d", "empty", "list"],
)
@pytest.mark.parametrize("func", [to_grey, encode_png, encode_jpeg, make_thumbnail])
def test_image_validation(func, image):
    with pytest.raises(InputError, match="'image' parameter of"):
        func(image)


def test_encode_jpeg_quality():
    img = np.random.default_rng(2).integers(0, 256, (64, 64), dtype=np.uint8)
    assert len(encode_jpeg(img, 30)) < len(encode_jpeg(img, 95))
    with pytest.raises(InputError, match=r"integer in 1\.\.100"):
        encode_jpeg(img, 0)


def test_make_thumbnail_keeps_aspect_ratio():
    big = np.zeros((200, 400, 3), np.uint8)
    thumb = make_thumbnail(big)
    assert thumb[:3] == b"\xff\xd8\xff"
    assert decode_image(thumb, "t").shape == (80, 160)  # black RGB comes back as grey
    small = np.zeros((10, 20), np.uint8)
    small[:, 10:] = 255
    out = decode_image(make_thumbnail(small, size=40), "t")
    assert out.shape == (20, 40)
    assert out[:, :18].max() < 10 and out[:, 22:].min() > 245  # nearest-neighbour: sharp edge
    with pytest.raises(InputError, match="positive integer"):
        make_thumbnail(small, size=0)


class _BoxLike:
    def __init__(self, x0, y0, x1, y1):
        self.x0, self.y0, self.x1, self.y1 = x0, y0, x1, y1


def test_crop_box():
    img = np.arange(16, dtype=np.uint8).reshape(4, 4)
    assert crop_box(img, (1, 2, 3, 4)).tolist() == [[9, 10], [13, 14]]
    assert crop_box(img, _BoxLike(1, 2, 3, 4)).tolist() == [[9, 10], [13, 14]]
    assert crop_box(img, (1.5, 2.2, 2.5, 3.0)).tolist() == [[9, 10]]  # pixel edges, outward
    assert crop_box(img, (1, 1, 2, 2), pad=1).tolist() == [[0, 1, 2], [4, 5, 6], [8, 9, 10]]
    assert crop_box(img, (-5, -5, 1, 1)).tolist() == [[0]]  # clipped
    out = crop_box(img, (0, 0, 2, 2))
    out[0, 0] = 99
    assert img[0, 0] == 0  # a copy
    rgb = np.zeros((4, 4, 3), np.uint8)
    assert crop_box(rgb, (0, 0, 2, 3)).shape == (3, 2, 3)


@pytest.mark.parametrize(
    "box,pad,match",
    [((5, 5, 9, 9), 0, "lies outside the 4x4 image"), ((2, 2, 2, 3), 0, "empty"),
     ((1, 2, 3), 0, r"\(x0, y0, x1, y1\)"), ((0, 0, float("nan"), 1), 0, "finite"),
     (("a", 0, 1, 1), 0, "finite"), ((0, 0, 1, 1), -1, "non-negative integer")],
)
def test_crop_box_invalid(box, pad, match):
    with pytest.raises(InputError, match=match):
        crop_box(np.zeros((4, 4), np.uint8), box, pad=pad)


def test_sha256_bytes():
    assert sha256_bytes(b"abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_is_image_name():
    assert IMAGE_EXTENSIONS == (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
    assert is_image_name("A.JPG") and is_image_name("划痕_001.Tiff") and is_image_name("x.jpeg")
    assert not is_image_name("a.gif") and not is_image_name("jpg") and not is_image_name("a.xml")


@pytest.mark.neu
def test_neu_images_decode_as_200x200_grey(neu_dir):
    paths = sorted((neu_dir / "images").glob("*.jpg"))[::30]
    for p in paths:
        img, info = load_image_with_info(p)
        assert img.shape == (200, 200) and info.channels == 1 and info.format == "jpeg"
        assert read_image_size(p) == (200, 200)


# ------------------------------------------------------------------ decode limits in bytes (issue 10 item 10)

def _tiff_header_only(width, height, spp, bits, sample_format=1, extra=(), strip=b"\x00" * 64):
    """A little-endian TIFF whose directory claims any layout; one small (deflate) strip of junk."""
    entries = [(256, 4, [width]), (257, 4, [height]), (258, 3, [bits] * spp), (259, 3, [8]),
               (262, 3, [2 if spp >= 3 else 1]), (273, 4, [0]), (277, 3, [spp]), (278, 4, [height]),
               (279, 4, [len(strip)]), (339, 3, [sample_format] * spp), *extra]
    entries.sort()
    head = 8 + 2 + len(entries) * 12 + 4
    blobs = b""
    table = b""
    for tag, typ, vals in entries:
        size = {3: 2, 4: 4}[typ]
        raw = struct.pack("<" + ("H" if typ == 3 else "I") * len(vals), *vals)
        if tag == 273:
            raw = struct.pack("<I", 0)  # patched below
        if len(raw) <= 4:
            table += struct.pack("<HHI", tag, typ, len(vals)) + raw.ljust(4, b"\x00")
        else:
            table += struct.pack("<HHII", tag, typ, len(vals), head + len(blobs))
            blobs += raw
        assert size
    strip_off = head + len(blobs)
    out = bytearray(b"II*\x00" + struct.pack("<IH", 8, len(entries)) + table + b"\x00" * 4 + blobs + strip)
    i = 10 + [t for t, _, _ in entries].index(273) * 12
    struct.pack_into("<I", out, i + 8, strip_off)
    return bytes(out)


def _png_header_only(width, height, color_type, depth):
    return _png(width, height, color_type, depth, [], idat=zlib.compress(b"\x00" * 10))


def _jpeg_precision(width, height, components, precision):
    """A baseline JPEG whose frame header claims another size, precision and component count."""
    b = bytearray(_encode(".jpg", np.zeros((8, 8, 3), np.uint8)))
    i = b.find(b"\xff\xc0")
    b[i + 4] = precision
    struct.pack_into(">HH", b, i + 5, height, width)
    b[i + 9] = components
    return bytes(b)


@pytest.mark.parametrize("data,channels,sample_bytes", [
    (_tiff_header_only(8000, 8000, 4, 64, sample_format=3), 4, 8),      # float64 RGBA: 2 GB
    (_tiff_header_only(9000, 9000, 3, 16), 3, 2),                       # 16-bit RGB: 486 MB + strip
    (_png_header_only(9000, 9000, 6, 16), 4, 2),                        # 16-bit RGBA PNG: 648 MB
    (_jpeg_precision(9000, 9000, 4, 12), 4, 2),                         # 12-bit CMYK JPEG: 648 MB
], ids=["tiff-float64-rgba", "tiff-16bit-rgb", "png-16bit-rgba", "jpeg-12bit-cmyk"])
def test_decoded_bytes_are_limited_from_the_header(data, channels, sample_bytes):
    import tracemalloc

    assert len(data) < 4000
    tracemalloc.start()
    try:
        with pytest.raises(ImageError, match=r"need .* to decode, over the 512.0 MB limit; to accept it, "
                                             r"raise DEFECTLAB_MAX_DECODED_MB") as exc:
            decode_image(data, "bomb.tif")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5 * 1024 * 1024  # refused from the header: nothing was decoded
    reason = exc.value.reason
    assert reason.key == "imaging.reason.too_many_bytes"
    assert (reason.args["channels"], reason.args["sample_bytes"]) == (channels, sample_bytes)
    assert _assert_translatable(reason).startswith("图像过大")


def test_bmp_bytes_follow_its_bit_depth():
    data = _bomb_bmp(3000, 3000)  # 24-bit: 27 MB decoded
    with pytest.raises(ImageError, match="max_decoded_bytes"):
        decode_image(data, "x.bmp", ImageLimits(max_decoded_bytes=20 * 1024 * 1024))
    with pytest.raises(ImageError) as exc:  # within the byte limit: the (junk) pixel data is what fails
        decode_image(data, "x.bmp", ImageLimits(max_decoded_bytes=30 * 1024 * 1024))
    assert exc.value.reason.key != "imaging.reason.too_many_bytes"


def test_tiff_tile_buffer_is_limited():
    data = _tiff_header_only(64, 64, 1, 8, extra=[(322, 4, [60000]), (323, 4, [60000])])
    with pytest.raises(ImageError, match="max_decoded_bytes") as exc:
        decode_image(data, "tiles.tif")
    assert exc.value.reason.args["width"] == 64


def test_float64_rgba_within_the_limit_decodes_with_bounded_working_memory():
    import tracemalloc

    img = np.random.default_rng(0).random((600, 800, 4))
    img[..., 3] = 0.5
    data = _encode(".tiff", img)
    decoded = 600 * 800 * 4 * 8
    with pytest.raises(ImageError, match="max_decoded_bytes"):
        decode_image(data, "f.tif", ImageLimits(max_decoded_bytes=decoded - 1))
    tracemalloc.start()
    try:
        out, info = decode_image_with_info(data, "f.tif", ImageLimits(max_decoded_bytes=decoded))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert info.dtype_in == "float64" and info.alpha and out.shape == (600, 800, 3)
    # the decoded buffer, the input bytes and small per-band copies; not several float copies
    assert peak < decoded + len(data) + 24 * 1024 * 1024, peak


def test_default_byte_limit():
    assert DEFAULT_LIMITS.max_decoded_bytes == 512 * 1024 * 1024
    with pytest.raises(InputError, match="must be a positive integer"):
        ImageLimits(max_decoded_bytes=0)
