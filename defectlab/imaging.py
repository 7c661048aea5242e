"""Safe image decoding, normalisation and encoding.

Every image that enters defectlab goes through :func:`decode_image` (or :func:`load_image`):

* the format is recognised from the first bytes, never from the file name: PNG, JPEG, BMP and TIFF
  (BigTIFF too) are accepted, anything else is rejected with a reason;
* the header is parsed by hand **before** any pixel is decoded, so a 30000x30000 "decompression
  bomb" is refused without allocating it (:class:`ImageLimits`);
* truncated files are refused (a JPEG without its end marker, a PNG without ``IEND``, a BMP or TIFF
  whose pixel data runs past the end of the file) instead of decoding into a half-grey picture;
* pixels are decoded with ``cv2.imdecode`` from bytes, so non-ASCII paths such as ``划痕_001.png``
  work on every platform.

What callers get back is always ``np.uint8`` and C-contiguous:

* ``(H, W)`` for grey images, including colour files whose three channels are identical
  (many grey cameras and the NEU set store grey as RGB);
* ``(H, W, 3)`` in **RGB** order for colour images (the PIL / Streamlit convention, not OpenCV's BGR).

Normalisation rules (see :class:`ImageInfo` for what was done to a given file):

* **16-bit and float images** are contrast-stretched per image: the 0.1th and 99.9th percentiles of
  all channels together map to 0 and 255 (clipped; one mapping for all channels, so colours keep their
  balance). Industrial cameras usually fill only 10-14 of the 16 bits, so a fixed ``/257`` would
  give a nearly black picture. A constant image maps linearly from the full range of its type. Absolute
  brightness is therefore not comparable between 16-bit files; the range used is
  ``ImageInfo.value_range``.
* **Alpha** is composited onto black (``value * alpha / 255``), so whatever colour hides under
  transparent pixels never leaks into features. An alpha channel that is 0 everywhere (32-bit BMPs and
  TIFFs that leave it unset) or 255 everywhere is ignored.
* **Palette** images are expanded to their colours; 1-bit images become 0/255.
* **EXIF orientation** is applied (JPEG ``APP1``, PNG ``eXIf``, the TIFF orientation tag), as
  ``cv2.imread`` does with ``IMREAD_COLOR``; width and height are those of the upright image.
* Multi-page TIFFs give their first page.
"""

from __future__ import annotations

import hashlib
import math
import os
import stat
import struct
import zlib
from dataclasses import dataclass

import cv2
import numpy as np

from defectlab.errors import ImageError, InputError
from defectlab.messages import Message, msg, os_reason

__all__ = [
    "DEFAULT_LIMITS",
    "IMAGE_EXTENSIONS",
    "LIMIT_VARIABLES",
    "ImageInfo",
    "ImageLimits",
    "crop_box",
    "decode_image",
    "decode_image_with_info",
    "encode_jpeg",
    "encode_png",
    "is_image_name",
    "limits_from_env",
    "load_image",
    "load_image_with_info",
    "make_thumbnail",
    "read_image_bytes",
    "read_image_size",
    "sha256_bytes",
    "to_grey",
]

#: File name extensions (lower case, with the dot) that the importers treat as images.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")

_MB = 1024 * 1024


@dataclass(frozen=True)
class ImageLimits:
    """Upper bounds checked before an image is decoded.

    Parameters
    ----------
    max_file_bytes : int, default 200 MB
        Largest encoded file accepted, in bytes.
    max_pixels : int, default 100 megapixels
        Largest ``width * height`` accepted, read from the header before decoding.
    max_decoded_bytes : int, default 512 MB
        Largest decoded pixel buffer accepted: ``width * height * channels * bytes per sample`` as
        the decoder will allocate it (a float64 RGBA TIFF needs 32 bytes per pixel), read from the
        header before decoding. Also bounds a TIFF's strip or tile buffer.

    Examples
    --------
    >>> ImageLimits(max_pixels=400_000_000).max_pixels
    400000000
    """

    max_file_bytes: int = 200 * _MB
    max_pixels: int = 100_000_000
    max_decoded_bytes: int = 512 * _MB

    def __post_init__(self):
        for name in ("max_file_bytes", "max_pixels", "max_decoded_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
                raise InputError(
                    msg("error.imaging.imagelimits_must_positive_integer",
                        "ImageLimits.{name} must be a positive integer. Got {value}.",
                        name=name, value=repr(value))
                )


#: Environment variables that set :data:`DEFAULT_LIMITS` for a whole installation (a plant whose line-scan
#: plates are over 100 megapixels): ``ImageLimits`` field -> (variable, unit in the field's units).
LIMIT_VARIABLES = {
    "max_file_bytes": ("DEFECTLAB_MAX_FILE_MB", _MB),
    "max_pixels": ("DEFECTLAB_MAX_MEGAPIXELS", 1_000_000),
    "max_decoded_bytes": ("DEFECTLAB_MAX_DECODED_MB", _MB),
}


def limits_from_env(environ=None):
    """The default :class:`ImageLimits`, with the ones set in the environment.

    ``DEFECTLAB_MAX_FILE_MB``, ``DEFECTLAB_MAX_MEGAPIXELS`` and ``DEFECTLAB_MAX_DECODED_MB`` (positive
    numbers, e.g. ``400`` or ``1.5``) replace the matching limit; unset or empty ones keep the default.
    :data:`DEFAULT_LIMITS` is read from the process's environment once, when the module is imported: set
    them before the app or the command starts.

    Parameters
    ----------
    environ : mapping or None
        The variables (None: ``os.environ``).

    Returns
    -------
    ImageLimits

    Raises
    ------
    InputError
        A variable that is not a positive number, named with its value.

    Examples
    --------
    >>> limits_from_env({"DEFECTLAB_MAX_MEGAPIXELS": "400"}).max_pixels
    400000000
    >>> limits_from_env({}) == ImageLimits()
    True
    """
    environ = os.environ if environ is None else environ
    values = {}
    for field, (name, unit) in LIMIT_VARIABLES.items():
        raw = str(environ.get(name, "") or "").strip()
        if not raw:
            continue
        try:
            number = float(raw)
        except ValueError:
            number = math.nan
        if not math.isfinite(number) or number <= 0 or number * unit > 2 ** 62:
            raise InputError(msg("error.imaging.limit_variable_must_positive",
                                 "{name} must be a positive number. Got {value}.", name=name, value=repr(raw)))
        values[field] = max(1, int(number * unit))
    return ImageLimits(**values)


DEFAULT_LIMITS = limits_from_env()


@dataclass(frozen=True)
class ImageInfo:
    """What :func:`decode_image_with_info` found in a file and did to it.

    Attributes
    ----------
    format : str
        ``"png"``, ``"jpeg"``, ``"bmp"`` or ``"tiff"``.
    width, height : int
        Size of the returned (upright) image in pixels.
    channels : int
        Channels of the returned image: 1 (grey, shape ``(H, W)``) or 3 (RGB, ``(H, W, 3)``).
    channels_in : int
        Channels as decoded from the file, alpha included (1, 2, 3 or 4).
    dtype_in : str
        Sample type in the file, e.g. ``"uint8"``, ``"uint16"``, ``"float32"``.
    orientation : int
        EXIF / TIFF orientation found in the file (1 = upright; it has been applied).
    alpha : bool
        True when an alpha channel was composited onto black.
    value_range : tuple of float or None
        For non-8-bit files, the input values mapped to 0 and 255; None for 8-bit files.
    """

    format: str
    width: int
    height: int
    channels: int
    channels_in: int
    dtype_in: str
    orientation: int = 1
    alpha: bool = False
    value_range: tuple[float, float] | None = None


def is_image_name(name) -> bool:
    """True when ``name`` (a file name or path) has one of :data:`IMAGE_EXTENSIONS`, any case."""
    return os.path.splitext(str(name))[1].lower() in IMAGE_EXTENSIONS


# --------------------------------------------------------------------------------------------
# reading bytes
# --------------------------------------------------------------------------------------------

def _fmt_bytes(n):
    if n >= _MB:
        return f"{n / _MB:.1f} MB"
    if n >= 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n} bytes"


def _file_size(path, source):
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ImageError(source, msg("imaging.reason.not_found", "file not found")) from None
    except OSError as e:
        raise ImageError(
            source, msg("imaging.reason.unreadable", "cannot read the file ({detail})", detail=os_reason(e))
        ) from None
    if not os.path.isfile(path):
        raise ImageError(source, msg("imaging.reason.not_a_file", "is a folder or a special file, not an image file"))
    return st.st_size


def _check_file_size(size, source, limits):
    if size > limits.max_file_bytes:
        raise ImageError(
            source,
            msg("imaging.reason.file_too_large",
                "too large: the file has {size}, over the {limit} limit; to accept it, raise "
                "DEFECTLAB_MAX_FILE_MB (ImageLimits.max_file_bytes)", size=_fmt_bytes(size),
                limit=_fmt_bytes(limits.max_file_bytes)),
        )


def read_image_bytes(path, limits: ImageLimits = DEFAULT_LIMITS, source=None) -> bytes:
    """Read an image file's bytes, refusing files over ``limits.max_file_bytes`` before reading.

    Parameters
    ----------
    path : str or os.PathLike
        The file; any characters (``划痕_001.png``) are fine.
    limits : ImageLimits, optional
    source : str, optional
        Name used in error messages (e.g. the path relative to the import folder); default ``path``.

    Returns
    -------
    bytes
        The file content, unchanged (hash it with :func:`sha256_bytes`).

    Raises
    ------
    ImageError
        The file is missing, a folder, unreadable, or too large.
    """
    source = str(path) if source is None else str(source)
    try:
        # One open and one fstat (no separate stat / isfile lookups); O_NONBLOCK so that a FIFO among the
        # files is refused below instead of blocking the open.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise ImageError(source, msg("imaging.reason.not_found", "file not found")) from None
    except OSError as e:
        if os.path.isdir(path):
            raise ImageError(source, msg("imaging.reason.not_a_file",
                                         "is a folder or a special file, not an image file")) from None
        raise ImageError(
            source, msg("imaging.reason.unreadable", "cannot read the file ({detail})", detail=os_reason(e))
        ) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ImageError(source, msg("imaging.reason.not_a_file",
                                         "is a folder or a special file, not an image file"))
        _check_file_size(st.st_size, source, limits)
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb", buffering=0) as f:
        try:
            # exactly the size (one allocation; read(max_file_bytes + 1) reserved 200 MB per call) and
            # whatever the file grew by since, up to the limit
            data = f.read(st.st_size + 1)
            if len(data) > st.st_size:
                data += f.read(limits.max_file_bytes + 1 - len(data)) or b""
        except OSError as e:
            raise ImageError(
                source, msg("imaging.reason.unreadable", "cannot read the file ({detail})", detail=os_reason(e))
            ) from None
    _check_file_size(len(data), source, limits)
    return data


# --------------------------------------------------------------------------------------------
# header parsing (no pixel decoding)
# --------------------------------------------------------------------------------------------

class _FileBuffer:
    """Read-only ``bytes``-like view of a file: ``len()`` and slicing, read lazily with seeks."""

    _HEAD = 65536

    def __init__(self, f, size):
        self._f = f
        self._size = size
        f.seek(0)
        self._head = f.read(self._HEAD)

    def __len__(self):
        return self._size

    def __getitem__(self, s):
        start, stop, _ = s.indices(self._size)
        if stop <= len(self._head):
            return self._head[start:stop]
        if stop <= start:
            return b""
        self._f.seek(start)
        return self._f.read(stop - start)


@dataclass
class _Header:
    format: str
    width: int
    height: int
    orientation: int = 1
    sos: int = -1  # JPEG: offset of the first start-of-scan marker
    components: int = 0  # JPEG: colour components in the frame header
    channels: int = 4  # channels of the buffer the decoder allocates (an upper estimate)
    sample_bytes: int = 1  # bytes per sample of that buffer
    chunk_bytes: int = 0  # TIFF: the largest strip or tile buffer the decoder allocates

    @property
    def decoded_bytes(self):
        """Bytes of the pixel buffer the decoder will allocate."""
        return self.width * self.height * self.channels * self.sample_bytes


class _Corrupt(Exception):
    """Internal: the header is unreadable; the message is the reason shown to the user."""


_SIGNATURES_OTHER = (  # signature, what it is (English), catalog key of the rejection reason
    (b"GIF87a", "a GIF image", "imaging.reason.unsupported_gif"),
    (b"GIF89a", "a GIF image", "imaging.reason.unsupported_gif"),
    (b"%PDF", "a PDF document", "imaging.reason.unsupported_pdf"),
    (b"PK\x03\x04", "a zip archive (import it as an archive instead)", "imaging.reason.unsupported_zip"),
    (b"\x00\x00\x00\x0cjP  ", "a JPEG 2000 image", "imaging.reason.unsupported_jp2"),
    (b"\xff\x4f\xff\x51", "a JPEG 2000 codestream", "imaging.reason.unsupported_j2k"),
    (b"P5", "a PGM image", "imaging.reason.unsupported_pgm"),
    (b"P6", "a PPM image", "imaging.reason.unsupported_ppm"),
    (b"8BPS", "a Photoshop PSD file", "imaging.reason.unsupported_psd"),
    (b"\x76\x2f\x31\x01", "an OpenEXR image", "imaging.reason.unsupported_exr"),
)
_UNSUPPORTED_TEMPLATE = (
    "unsupported format: the content is {what}; defectlab reads PNG/JPEG/BMP/TIFF, convert it to PNG"
)


def _not_an_image(data):
    """The 'not an image' reason, saying whether the content is text or binary (never echoing it)."""
    head = bytes(data[:16])
    run = 0
    while run < len(head) and (32 <= head[run] < 127 or head[run] in b"\t\r\n"):
        run += 1
    if run >= min(2, len(head)) and run > 0:
        return msg("imaging.reason.not_an_image_text",
                   "not an image: the content is text, not PNG/JPEG/BMP/TIFF")
    return msg("imaging.reason.not_an_image_bytes",
               "not an image: the content is not PNG/JPEG/BMP/TIFF (unknown binary data)")


def _sniff(head):
    """Return 'png'/'jpeg'/'bmp'/'tiff' or raise _Corrupt with a 'not an image' reason."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"BM"):
        return "bmp"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    what = key = None
    for sig, name, name_key in _SIGNATURES_OTHER:
        if head.startswith(sig):
            what, key = name, name_key
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        what, key = "a WebP image", "imaging.reason.unsupported_webp"
    if head[4:8] == b"ftyp":
        what, key = "a HEIC/AVIF/MP4 file", "imaging.reason.unsupported_heic"
    if what is not None:
        raise _Corrupt(Message(_UNSUPPORTED_TEMPLATE.format(what=what), key))
    raise _Corrupt(_not_an_image(head))


def _u16(b, off, e=">"):
    return struct.unpack_from(e + "H", b, off)[0]


def _u32(b, off, e=">"):
    return struct.unpack_from(e + "I", b, off)[0]


_TIFF_TYPES = {1: "u1", 3: "u2", 4: "u4", 6: "i1", 8: "i2", 9: "i4", 16: "u8", 17: "i8", 18: "u8"}
_TIFF_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8,
               13: 4, 16: 8, 17: 8, 18: 8}


def _tiff_ifd0(buf, wanted):
    """Integer values of the ``wanted`` tags of the first IFD of a TIFF structure.

    ``buf`` is bytes or a :class:`_FileBuffer` starting with the TIFF header (a TIFF file or the
    payload of an EXIF block). Returns ``{tag: ndarray of int64}``; raises :class:`_Corrupt`.
    """
    n = len(buf)
    head = buf[0:16]
    if len(head) < 8:
        raise _Corrupt(msg(
            "imaging.reason.header_cut", "truncated or corrupt {format} (the header is cut short)", format="TIFF"
        ))
    if head[:2] == b"II":
        e = "<"
    elif head[:2] == b"MM":
        e = ">"
    else:
        raise _Corrupt(msg("imaging.reason.tiff_byte_order", "corrupt TIFF (bad byte-order mark)"))
    magic = _u16(head, 2, e)
    if magic == 42:
        big, ifd = False, _u32(head, 4, e)
        cnt_fmt, cnt_size, entry_size, inline = "H", 2, 12, 4
    elif magic == 43 and len(head) >= 16:
        big, ifd = True, struct.unpack_from(e + "Q", head, 8)[0]
        cnt_fmt, cnt_size, entry_size, inline = "Q", 8, 20, 8
    else:
        raise _Corrupt(msg("imaging.reason.tiff_magic", "corrupt TIFF (bad magic number)"))
    if ifd < 8 or ifd + cnt_size > n:
        raise _Corrupt(msg(
            "imaging.reason.tiff_ifd_outside", "truncated or corrupt TIFF (the first directory lies outside the file)"
        ))
    count = struct.unpack(e + cnt_fmt, buf[ifd:ifd + cnt_size])[0]
    if count == 0 or count > 4096:
        raise _Corrupt(msg(
            "imaging.reason.tiff_ifd_count", "corrupt TIFF (the first directory claims {count} entries)", count=count
        ))
    table = buf[ifd + cnt_size:ifd + cnt_size + count * entry_size]
    if len(table) < count * entry_size:
        raise _Corrupt(msg("imaging.reason.tiff_ifd_cut", "truncated TIFF (the first directory is cut short)"))
    out = {}
    for i in range(count):
        off = i * entry_size
        if big:
            tag, typ, num = struct.unpack_from(e + "HHQ", table, off)
            value = table[off + 12:off + 20]
        else:
            tag, typ, num = struct.unpack_from(e + "HHI", table, off)
            value = table[off + 8:off + 12]
        if tag not in wanted or typ not in _TIFF_TYPES:
            continue
        nbytes = num * _TIFF_SIZES[typ]
        if nbytes > n:
            raise _Corrupt(msg(
                "imaging.reason.tiff_tag_count", "corrupt TIFF (tag {tag} claims {num} values)", tag=tag, num=num
            ))
        if nbytes <= inline:
            raw = value[:nbytes]
        else:
            where = struct.unpack(e + ("Q" if big else "I"), value)[0]
            raw = buf[where:where + nbytes]
            if len(raw) < nbytes:
                raise _Corrupt(msg(
                    "imaging.reason.tiff_tag_past_end",
                    "truncated TIFF (the values of tag {tag} lie past the end of the file)",
                    tag=tag,
                ))
        out[tag] = np.frombuffer(raw, dtype=np.dtype(_TIFF_TYPES[typ]).newbyteorder(e)).astype(np.int64)
    return out


def _exif_orientation(payload):
    """Orientation (1-8) from a TIFF-structured EXIF block; 1 when absent or unreadable."""
    try:
        tags = _tiff_ifd0(payload, {274})
    except (_Corrupt, struct.error, ValueError):
        return 1
    v = tags.get(274)
    if v is None or len(v) == 0 or not 1 <= int(v[0]) <= 8:
        return 1
    return int(v[0])


_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _probe_jpeg(buf, to_scan):
    n = len(buf)
    p = 2
    hdr = None
    orientation = 1
    while True:
        b = buf[p:p + 4]
        if len(b) < 4:
            raise _Corrupt(msg(
                "imaging.reason.jpeg_header_end", "truncated or corrupt JPEG (the file ends inside the header)"
            ))
        if b[0] != 0xFF:
            # stray bytes between segments: libjpeg skips them with a warning, and so do we
            window = buf[p:p + 65536]
            skip = window.find(b"\xff")
            if skip < 0:
                raise _Corrupt(msg(
                    "imaging.reason.jpeg_no_marker", "truncated or corrupt JPEG (no marker after byte {p})", p=p
                ))
            p += skip
            continue
        if b[1] == 0xFF:  # fill byte
            p += 1
            continue
        m = b[1]
        if m == 0x01 or 0xD0 <= m <= 0xD8:
            p += 2
            continue
        if m == 0xD9:
            raise _Corrupt(msg(
                "imaging.reason.jpeg_no_pixels", "truncated or corrupt JPEG (the image ends before any pixel data)"
            ))
        seglen = _u16(b, 2)
        if seglen < 2 or p + 2 + seglen > n:
            raise _Corrupt(msg(
                "imaging.reason.jpeg_segment_past_end",
                "truncated or corrupt JPEG (a header segment runs past the end of the file)",
            ))
        if m == 0xE1 and orientation == 1:
            seg = buf[p + 4:p + 2 + seglen]
            if seg.startswith(b"Exif\x00\x00"):
                orientation = _exif_orientation(seg[6:])
        elif m in _SOF_MARKERS and hdr is None:
            seg = buf[p + 4:p + 10]
            if len(seg) < 6:
                raise _Corrupt(msg("imaging.reason.jpeg_short_frame", "truncated or corrupt JPEG (short frame header)"))
            h, w = _u16(seg, 1), _u16(seg, 3)
            if w == 0 or h == 0:
                raise _Corrupt(msg(
                    "imaging.reason.jpeg_bad_size",
                    "corrupt or unsupported JPEG (the header says {w}x{h} pixels)",
                    w=w, h=h,
                ))
            # 12/16-bit precision decodes to 16-bit samples; CMYK is converted through 4 channels
            hdr = _Header("jpeg", w, h, components=seg[5], channels=max(1, min(seg[5], 4)),
                          sample_bytes=2 if seg[0] > 8 else 1)
            if not to_scan:
                break
        elif m == 0xDA:
            if hdr is None:
                raise _Corrupt(msg(
                    "imaging.reason.jpeg_scan_before_frame", "corrupt JPEG (pixel data before the frame header)"
                ))
            hdr.sos = p
            break
        p += 2 + seglen
    hdr.orientation = orientation
    return hdr


def _probe_png(buf):
    head = buf[0:33]
    if len(head) < 33 or head[12:16] != b"IHDR" or _u32(head, 8) != 13:
        raise _Corrupt(msg("imaging.reason.png_no_ihdr", "truncated or corrupt PNG (no IHDR header)"))
    if zlib.crc32(head[12:29]) != _u32(head, 29):
        raise _Corrupt(msg("imaging.reason.png_ihdr_crc", "corrupt PNG (the IHDR header checksum does not match)"))
    w, h = _u32(head, 16), _u32(head, 20)
    if w == 0 or h == 0 or w > 2**31 - 1 or h > 2**31 - 1:
        raise _Corrupt(msg(
            "imaging.reason.bad_size", "corrupt {format} (the header says {w}x{h} pixels)", format="PNG", w=w, h=h
        ))
    depth, colour = head[24], head[25]
    # grey (+ a tRNS key) may come back with alpha; palette and grey+alpha expand to BGRA
    channels = {0: 2, 2: 4, 3: 4, 4: 4, 6: 4}.get(colour, 4)
    return _Header("png", w, h, channels=channels, sample_bytes=2 if depth > 8 else 1)


def _probe_bmp(buf):
    head = buf[0:34]
    if len(head) < 26:
        raise _Corrupt(msg(
            "imaging.reason.header_cut", "truncated or corrupt {format} (the header is cut short)", format="BMP"
        ))
    dib = _u32(head, 14, "<")
    if dib == 12:
        w, h = _u16(head, 18, "<"), _u16(head, 20, "<")
        bpp = _u16(head, 24, "<")
    elif dib >= 40 and len(head) >= 34:
        w, h = struct.unpack_from("<ii", head, 18)
        h = abs(h)  # negative height = rows stored top-down
        bpp = _u16(head, 28, "<")
    else:
        raise _Corrupt(msg("imaging.reason.bmp_header_size", "corrupt or unsupported BMP (header size {dib})", dib=dib))
    if w <= 0 or h == 0:
        raise _Corrupt(msg(
            "imaging.reason.bad_size", "corrupt {format} (the header says {w}x{h} pixels)", format="BMP", w=w, h=h
        ))
    return _Header("bmp", w, h, channels=4 if bpp == 32 else 3)


def _tag(tags, tag, default):
    v = tags.get(tag)
    return int(v.max()) if v is not None and len(v) else default


def _tiff_layout(tags, w, h):
    """(channels, bytes per sample, largest strip/tile buffer) the TIFF decoder will allocate.

    Upper estimates from SamplesPerPixel (277), BitsPerSample (258), Photometric (262; palette,
    YCbCr and CIELab decode to colour), RowsPerStrip (278) and TileWidth/TileLength (322/323).
    Samples that are not 8/16/32/64 bits go through libtiff's RGBA reader (4 bytes per pixel).
    """
    spp = max(1, _tag(tags, 277, 1))
    bits = max(1, _tag(tags, 258, 1))
    channels = max(spp, 3 if _tag(tags, 262, 1) in (2, 3, 6, 8) else 1)
    if bits in (8, 16, 32, 64):
        sample_bytes = bits // 8
    elif bits < 8:
        sample_bytes = 1
    else:
        channels, sample_bytes = max(channels, 4), 8
    if 322 in tags or 323 in tags:
        rows, cols = max(1, _tag(tags, 323, 1)), max(1, _tag(tags, 322, 1))
    else:
        rows, cols = min(h, max(1, _tag(tags, 278, h))), w
    chunk = rows * cols * max(channels, 4) * sample_bytes
    return channels, sample_bytes, chunk


def _probe_tiff(buf):
    tags = _tiff_ifd0(buf, {256, 257, 258, 262, 274, 277, 278, 322, 323})
    if 256 not in tags or 257 not in tags or not len(tags[256]) or not len(tags[257]):
        raise _Corrupt(msg(
            "imaging.reason.tiff_no_size", "corrupt TIFF (no image width/height in the first directory)"
        ))
    w, h = int(tags[256][0]), int(tags[257][0])
    if w <= 0 or h <= 0:
        raise _Corrupt(msg(
            "imaging.reason.bad_size", "corrupt {format} (the header says {w}x{h} pixels)", format="TIFF", w=w, h=h
        ))
    o = int(tags[274][0]) if 274 in tags and len(tags[274]) else 1
    channels, sample_bytes, chunk = _tiff_layout(tags, w, h)
    return _Header("tiff", w, h, orientation=o if 1 <= o <= 8 else 1, channels=channels,
                   sample_bytes=sample_bytes, chunk_bytes=chunk)


def _probe(buf, to_scan=True):
    fmt = _sniff(bytes(buf[0:16]))
    if fmt == "png":
        return _probe_png(buf)
    if fmt == "jpeg":
        return _probe_jpeg(buf, to_scan)
    if fmt == "bmp":
        return _probe_bmp(buf)
    return _probe_tiff(buf)


def _png_walk(buf, hdr):
    """Walk a PNG's chunks: set ``hdr.orientation`` from ``eXIf``; True when ``IEND`` is reached."""
    n = len(buf)
    p = 8
    while p + 8 <= n:
        head = buf[p:p + 8]
        length, ctype = _u32(head, 0), head[4:8]
        if length > 2**31 - 1:
            raise _Corrupt(msg(
                "imaging.reason.png_chunk_length", "corrupt PNG (a chunk claims {length} bytes)", length=length
            ))
        if ctype == b"IEND":
            return True
        if ctype == b"eXIf" and hdr.orientation == 1:
            hdr.orientation = _exif_orientation(buf[p + 8:p + 8 + length])
        p += 12 + length
    return False


def _check_complete(data, hdr):
    """Raise _Corrupt when the pixel data of an in-memory file is cut short."""
    n = len(data)
    if hdr.format == "jpeg":
        # Inside entropy-coded data 0xFF is always stuffed (FF 00), so FF D9 after the first
        # start-of-scan can only be the end-of-image marker.
        if data.find(b"\xff\xd9", hdr.sos) < 0:
            raise _Corrupt(msg(
                "imaging.reason.jpeg_no_eoi", "truncated or corrupt JPEG (the end-of-image marker is missing)"
            ))
    elif hdr.format == "png":
        if not _png_walk(data, hdr):
            raise _Corrupt(msg("imaging.reason.png_no_iend", "truncated PNG (the file ends before its IEND chunk)"))
    elif hdr.format == "bmp":
        dib = _u32(data, 14, "<")
        if dib >= 40 and n >= 34:
            bpp, comp = _u16(data, 28, "<"), _u32(data, 30, "<")
            if comp in (0, 3, 6) and bpp in (1, 4, 8, 16, 24, 32):
                need = _u32(data, 10, "<") + ((hdr.width * bpp + 31) // 32) * 4 * hdr.height
                if need > n:
                    raise _Corrupt(
                        msg(
                            "imaging.reason.bmp_pixels_cut",
                            "truncated BMP (the pixel data needs {need} bytes, the file has {n})",
                            need=need, n=n,
                        )
                    )
    elif hdr.format == "tiff":
        tags = _tiff_ifd0(data, {273, 279, 324, 325})
        for off_tag, cnt_tag in ((273, 279), (324, 325)):
            offs, cnts = tags.get(off_tag), tags.get(cnt_tag)
            if offs is not None and cnts is not None and len(offs) == len(cnts) and len(offs):
                end = int((offs + cnts).max())
                if end > n:
                    raise _Corrupt(
                        msg(
                            "imaging.reason.tiff_pixels_cut",
                            "truncated TIFF (the pixel data ends at byte {end}, the file has {n} bytes)",
                            end=end, n=n,
                        )
                    )


def _fmt_mp(pixels):
    if pixels < 1_000_000:
        return f"{pixels} pixels"
    return f"{pixels / 1e6:.2f}".rstrip("0").rstrip(".") + " MP"


def _check_pixels(hdr, source, limits):
    pixels = hdr.width * hdr.height
    if pixels > limits.max_pixels:
        raise ImageError(
            source,
            msg("imaging.reason.too_many_pixels",
                "too large: {width}x{height} pixels = {pixels} exceeds the {limit} limit; to accept it, raise "
                "DEFECTLAB_MAX_MEGAPIXELS (ImageLimits.max_pixels)", width=hdr.width, height=hdr.height,
                pixels=_fmt_mp(pixels), limit=_fmt_mp(limits.max_pixels)),
        )


def _check_bytes(hdr, source, limits):
    """Refuse an image whose decoded buffer (or a TIFF strip/tile buffer) is over the byte limit."""
    need = max(hdr.decoded_bytes, hdr.chunk_bytes)
    if need > limits.max_decoded_bytes:
        raise ImageError(
            source,
            msg("imaging.reason.too_many_bytes",
                "too large: {width}x{height} pixels of {channels} x {sample_bytes}-byte samples need {size} "
                "to decode, over the {limit} limit; to accept it, raise DEFECTLAB_MAX_DECODED_MB "
                "(ImageLimits.max_decoded_bytes)",
                width=hdr.width, height=hdr.height, channels=hdr.channels, sample_bytes=hdr.sample_bytes,
                size=_fmt_bytes(need), limit=_fmt_bytes(limits.max_decoded_bytes)),
        )


def read_image_size(path, source=None) -> tuple[int, int]:
    """Width and height of an image file from its header only, without decoding pixels.

    Reads a few KB (a JPEG's markers, a TIFF's first directory), so it is cheap on large plates.
    The size is that of the upright image, i.e. swapped when the EXIF/TIFF orientation is 5-8,
    exactly as :func:`load_image` will return it.

    Parameters
    ----------
    path : str or os.PathLike
    source : str, optional
        Name used in error messages; default ``path``.

    Returns
    -------
    (width, height) : tuple of int

    Raises
    ------
    ImageError
        Missing file, not a PNG/JPEG/BMP/TIFF, or an unreadable header.
    """
    source = str(path) if source is None else str(source)
    size = _file_size(path, source)
    if size == 0:
        raise ImageError(source, msg("imaging.reason.empty", "empty file (0 bytes)"))
    try:
        with open(path, "rb") as f:
            hdr = _probe(_FileBuffer(f, size), to_scan=False)
            if hdr.format == "png":
                _png_walk(_FileBuffer(f, size), hdr)
    except _Corrupt as e:
        raise ImageError(source, e.args[0]) from None
    except struct.error:
        raise ImageError(
            source, msg("imaging.reason.header_cut_unknown", "truncated or corrupt image (the header is cut short)")
        ) from None
    except OSError as e:
        raise ImageError(
            source, msg("imaging.reason.unreadable", "cannot read the file ({detail})", detail=os_reason(e))
        ) from None
    if hdr.orientation >= 5:
        return hdr.height, hdr.width
    return hdr.width, hdr.height


# --------------------------------------------------------------------------------------------
# decoding
# --------------------------------------------------------------------------------------------

def _to_uint8(arr):
    """Map any numeric array to uint8 by a joint 0.1-99.9 percentile stretch (see module doc)."""
    if arr.dtype == np.uint8:
        return arr, None
    with np.errstate(all="ignore"):  # NaN, inf and extreme values are mapped explicitly below
        return _stretch(arr)


def _stretch(arr):
    # percentiles from a regular grid of at most ~1M samples (all of them for small images)
    step = max(1, math.ceil(math.sqrt(arr.shape[0] * arr.shape[1] / 1_000_000)))
    sample = arr[::step, ::step].astype(np.float64).reshape(-1)
    finite = sample[np.isfinite(sample)]
    if finite.size:
        lo, hi = np.percentile(finite, [0.1, 99.9])
    else:
        lo = hi = 0.0
    lo, hi = float(lo), float(hi)
    if not hi > lo:
        # constant image: map linearly from the type's full range
        if np.issubdtype(arr.dtype, np.integer):
            info = np.iinfo(arr.dtype)
            lo, hi = float(min(info.min, 0)), float(info.max)
        else:
            lo, hi = 0.0, 1.0
    if arr.dtype == np.uint16:
        # a 65536-entry lookup table keeps memory at one byte per sample
        v = np.arange(65536, dtype=np.float64)
        lut = np.clip(np.rint((v - lo) * (255.0 / (hi - lo))), 0, 255).astype(np.uint8)
        return lut[arr], (lo, hi)
    # band by band, so the float working copies stay a few MB whatever the image size
    out = np.empty(arr.shape, np.uint8)
    row_samples = max(1, arr.size // arr.shape[0])
    band = max(1, (1 << 20) // row_samples)
    for r in range(0, arr.shape[0], band):
        part = np.nan_to_num(arr[r:r + band].astype(np.float32), nan=lo, posinf=hi, neginf=lo)
        out[r:r + band] = np.clip(np.rint((part - lo) * (255.0 / (hi - lo))), 0, 255)
    return out, (lo, hi)


def _alpha_to_uint8(alpha):
    if alpha.dtype == np.uint8:
        return alpha
    if alpha.dtype == np.uint16:
        return ((alpha.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    if np.issubdtype(alpha.dtype, np.floating):
        with np.errstate(over="ignore", invalid="ignore"):  # a huge alpha saturates to 255
            return np.clip(np.rint(np.nan_to_num(alpha.astype(np.float64)) * 255), 0, 255).astype(np.uint8)
    info = np.iinfo(alpha.dtype)
    return np.clip(np.rint(alpha.astype(np.float64) * 255 / info.max), 0, 255).astype(np.uint8)


def _orient(img, o):
    """Apply EXIF orientation ``o`` (1-8) to an (H, W[, C]) array."""
    if o == 2:
        img = img[:, ::-1]
    elif o == 3:
        img = img[::-1, ::-1]
    elif o == 4:
        img = img[::-1]
    elif o == 5:
        img = np.swapaxes(img, 0, 1)
    elif o == 6:
        img = np.swapaxes(img, 0, 1)[:, ::-1]
    elif o == 7:
        img = np.swapaxes(img, 0, 1)[::-1, ::-1]
    elif o == 8:
        img = np.swapaxes(img, 0, 1)[::-1]
    return np.ascontiguousarray(img)


def _colour_to_output(img, is_rgb):
    """(H, W, 3) uint8 -> (H, W) when the three channels are identical, else (H, W, 3) RGB."""
    img = np.ascontiguousarray(img)
    probe = img[: min(8, img.shape[0])]
    if np.array_equal(probe[..., 0], probe[..., 1]) and np.array_equal(probe[..., 1], probe[..., 2]):
        c0 = cv2.extractChannel(img, 0)
        if cv2.norm(img, cv2.cvtColor(c0, cv2.COLOR_GRAY2BGR), cv2.NORM_INF) == 0:
            return c0
    return img if is_rgb else cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


# OpenCV >= 4.11 can decode colour JPEGs straight to RGB, saving a conversion pass
_IMREAD_JPEG_RGB = getattr(cv2, "IMREAD_COLOR_RGB", None)


def _as_bytes(data, source):
    if isinstance(data, (bytes, bytearray, memoryview)):
        return data
    raise InputError(
        msg("error.imaging.data_parameter_decode_image",
            "The 'data' parameter of decode_image must be bytes (the encoded file) for {source}. Got "
            "{name}; use load_image(path) for a path.",
            source=source, name=type(data).__name__)
    )


def decode_image_with_info(data, source, limits: ImageLimits = DEFAULT_LIMITS):
    """Decode an encoded image safely; also say what was found and done.

    Parameters
    ----------
    data : bytes
        The encoded file content (PNG, JPEG, BMP or TIFF).
    source : str
        Name used in error messages (file path, archive member, ...).
    limits : ImageLimits, optional
        Size and pixel limits, checked before decoding.

    Returns
    -------
    image : (H, W) or (H, W, 3) ndarray of np.uint8
        Grey, or colour in RGB order; C-contiguous. See the module docstring for the rules.
    info : ImageInfo

    Raises
    ------
    ImageError
        Empty, not an image, unsupported format, truncated or corrupt, or over the limits; the
        ``reason`` says which.

    Examples
    --------
    >>> png = encode_png(np.full((2, 3), 7, np.uint8))
    >>> image, info = decode_image_with_info(png, "x.png")
    >>> image.shape, info.format, info.channels
    ((2, 3), 'png', 1)
    """
    image, hdr, arr_in, used_alpha, value_range = _decode(data, source, limits)
    info = ImageInfo(
        format=hdr.format,
        width=int(image.shape[1]),
        height=int(image.shape[0]),
        channels=1 if image.ndim == 2 else 3,
        channels_in=int(1 if arr_in.ndim == 2 else arr_in.shape[2]),
        dtype_in=arr_in.dtype.name,
        orientation=hdr.orientation,
        alpha=used_alpha,
        value_range=value_range,
    )
    return image, info


def _decode(data, source, limits):
    """``(image, header, decoded array, alpha used, value range)``: the work of :func:`decode_image_with_info`
    (:func:`decode_image` skips building the :class:`ImageInfo`)."""
    data = _as_bytes(data, source)
    source = str(source)
    if len(data) == 0:
        raise ImageError(source, msg("imaging.reason.empty", "empty file (0 bytes)"))
    _check_file_size(len(data), source, limits)
    if isinstance(data, memoryview):
        data = data.tobytes()
    hdr = _checked_header(data, source, limits)
    arr, decoded_rgb = _decode_pixels(data, hdr, source)
    arr_in = arr
    channels_in = 1 if arr.ndim == 2 else arr.shape[2]
    alpha = None
    if arr.ndim == 3 and channels_in in (2, 4):
        alpha = arr[..., -1]
        arr = arr[..., 0] if channels_in == 2 else arr[..., :3]
    elif arr.ndim == 3 and channels_in != 3:
        arr = arr[..., :3] if channels_in > 3 else arr[..., 0]
    image, value_range = _to_uint8(arr)
    image, used_alpha = _composite_alpha(image, alpha)
    if image.ndim == 3:
        image = _colour_to_output(image, decoded_rgb)
    if hdr.format == "png" and hdr.orientation != 1:
        image = _orient(image, hdr.orientation)
    return np.ascontiguousarray(image), hdr, arr_in, used_alpha, value_range


def _checked_header(data, source, limits):
    """The parsed header, after the pixel, byte and completeness checks (ImageError otherwise)."""
    try:
        hdr = _probe(data)
        _check_pixels(hdr, source, limits)
        _check_bytes(hdr, source, limits)
        _check_complete(data, hdr)
    except _Corrupt as e:
        raise ImageError(source, e.args[0]) from None
    except struct.error:
        raise ImageError(source, _header_cut(data)) from None
    return hdr


def _decode_pixels(data, hdr, source):
    """``(array, decoded_rgb)`` from OpenCV.

    JPEG: colour (incl. CMYK/YCCK) straight to RGB where OpenCV can, grey as grey; both apply EXIF
    orientation. Others: UNCHANGED keeps 16-bit samples and alpha (OpenCV applies the TIFF orientation
    itself; PNG eXIf is applied by the caller).
    """
    decoded_rgb = hdr.format == "jpeg" and hdr.components >= 3 and _IMREAD_JPEG_RGB is not None
    if decoded_rgb:
        flags = _IMREAD_JPEG_RGB
    elif hdr.format == "jpeg":
        flags = cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH
    else:
        flags = cv2.IMREAD_UNCHANGED
    try:
        arr = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    except cv2.error as e:
        detail = str(e).strip().splitlines()[-1] if str(e).strip() else "decoder error"
        raise ImageError(source, msg("imaging.reason.opencv_error",
                                     "corrupt {format}: OpenCV could not decode it ({detail})",
                                     format=hdr.format.upper(), detail=detail)) from None
    if arr is None or arr.size == 0:
        raise ImageError(source, msg("imaging.reason.pixels_undecodable",
                                     "truncated or corrupt {format}: the pixel data could not be decoded",
                                     format=hdr.format.upper()))
    return arr, decoded_rgb


def _composite_alpha(image, alpha):
    """``(image, used)``: alpha composited onto black, unless it is unset (all 0) or opaque (all 255)."""
    if alpha is None:
        return image, False
    a = _alpha_to_uint8(alpha)
    lo, hi = int(a.min()), int(a.max())
    if hi == 0 or lo == 255:
        return image, False
    a = np.ascontiguousarray(a)
    image = np.ascontiguousarray(image)
    if image.ndim == 3:
        a = cv2.merge([a, a, a])
    return cv2.multiply(image, a, scale=1.0 / 255.0), True


def _header_cut(data):
    """The reason for a header cut short, naming the format when the signature is known."""
    name = _format_name(data)
    if name == "image":
        return msg("imaging.reason.header_cut_unknown", "truncated or corrupt image (the header is cut short)")
    return msg("imaging.reason.header_cut", "truncated or corrupt {format} (the header is cut short)", format=name)


def _format_name(data):
    try:
        return _sniff(bytes(data[:16])).upper()
    except _Corrupt:
        return "image"


def decode_image(data, source, limits: ImageLimits = DEFAULT_LIMITS) -> np.ndarray:
    """Decode an encoded image safely: :func:`decode_image_with_info` without the info.

    Returns
    -------
    image : (H, W) or (H, W, 3) ndarray of np.uint8
        Grey, or RGB.
    """
    return _decode(data, source, limits)[0]


def load_image_with_info(path, limits: ImageLimits = DEFAULT_LIMITS, source=None):
    """Read and decode an image file: :func:`read_image_bytes` then :func:`decode_image_with_info`.

    Returns
    -------
    image : (H, W) or (H, W, 3) ndarray of np.uint8
    info : ImageInfo
    """
    source = str(path) if source is None else str(source)
    return decode_image_with_info(read_image_bytes(path, limits, source), source, limits)


def load_image(path, limits: ImageLimits = DEFAULT_LIMITS, source=None) -> np.ndarray:
    """Read and decode an image file (any file name, e.g. ``划痕_001.png``).

    Parameters
    ----------
    path : str or os.PathLike
    limits : ImageLimits, optional
    source : str, optional
        Name used in error messages; default ``path``.

    Returns
    -------
    image : (H, W) or (H, W, 3) ndarray of np.uint8
        Grey, or RGB.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "划痕_001.png"
    >>> _ = p.write_bytes(encode_png(np.zeros((4, 5), np.uint8)))
    >>> load_image(p).shape
    (4, 5)
    """
    return load_image_with_info(path, limits, source)[0]


# --------------------------------------------------------------------------------------------
# conversions and encoding
# --------------------------------------------------------------------------------------------

def _check_image(image, func):
    """The one validator: a uint8 ndarray of shape (H, W) or (H, W, 3), H and W >= 1."""
    if not isinstance(image, np.ndarray):
        raise InputError(
            msg("error.imaging.image_parameter_must_numpy",
                "The 'image' parameter of {func} must be a numpy array of shape (H, W) or (H, W, 3). "
                "Got {name}.",
                func=func, name=type(image).__name__)
        )
    if image.dtype != np.uint8 or not (
        image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)
    ) or image.shape[0] < 1 or image.shape[1] < 1:
        raise InputError(
            msg("error.imaging.image_parameter_must_uint",
                "The 'image' parameter of {func} must be a uint8 array of shape (H, W) or (H, W, 3). "
                "Got {dtype} with shape {shape}.",
                func=func, dtype=image.dtype, shape=image.shape)
        )
    return image


def _to_bgr(image):
    if image.ndim == 3:
        return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR)
    return np.ascontiguousarray(image)


def to_grey(image: np.ndarray) -> np.ndarray:
    """Grey version of an image (ITU-R BT.601 luma: 0.299 R + 0.587 G + 0.114 B).

    Parameters
    ----------
    image : (H, W) or (H, W, 3) ndarray of np.uint8
        Grey or RGB.

    Returns
    -------
    (H, W) ndarray of np.uint8
        A grey input is returned as it is (not copied).

    Examples
    --------
    >>> to_grey(np.array([[[255, 0, 0]]], np.uint8))
    array([[76]], dtype=uint8)
    """
    _check_image(image, "to_grey")
    if image.ndim == 2:
        return image
    return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)


def _encode(image, ext, params, func):
    ok, buf = cv2.imencode(ext, _to_bgr(image), params)
    if not ok:  # pragma: no cover - cv2 only fails on invalid input, which was checked
        raise InputError(msg("error.imaging.could_not_encode_image",
                "{func} could not encode an image of shape {shape}.",
                func=func, shape=image.shape))
    return buf.tobytes()


def encode_png(image: np.ndarray) -> bytes:
    """Lossless PNG bytes of a grey or RGB uint8 image (what crops are stored as).

    Parameters
    ----------
    image : (H, W) or (H, W, 3) ndarray of np.uint8
        Grey or RGB.

    Returns
    -------
    bytes
        Round-trips exactly through :func:`decode_image` (an RGB image with identical channels
        comes back as (H, W) grey).
    """
    _check_image(image, "encode_png")
    return _encode(image, ".png", [cv2.IMWRITE_PNG_COMPRESSION, 3], "encode_png")


def encode_jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    """JPEG bytes of a grey or RGB uint8 image.

    Parameters
    ----------
    image : (H, W) or (H, W, 3) ndarray of np.uint8
        Grey or RGB.
    quality : int, default 90
        1-100.
    """
    _check_image(image, "encode_jpeg")
    if isinstance(quality, bool) or not isinstance(quality, (int, np.integer)) or not 1 <= quality <= 100:
        raise InputError(msg("error.imaging.quality_parameter_encode_jpeg",
                "The 'quality' parameter of encode_jpeg must be an integer in 1..100. Got {quality}.",
                quality=repr(quality)))
    return _encode(image, ".jpg", [cv2.IMWRITE_JPEG_QUALITY, int(quality)], "encode_jpeg")


def make_thumbnail(image: np.ndarray, size: int = 160, quality: int = 85) -> bytes:
    """JPEG thumbnail whose longer side is ``size`` pixels (for ``st.image``; cache the bytes).

    Shrinking uses area averaging; small crops are enlarged with nearest-neighbour so their real
    pixels stay visible instead of being blurred.

    Parameters
    ----------
    image : (H, W) or (H, W, 3) ndarray of np.uint8
        Grey or RGB.
    size : int, default 160
        Longer side of the thumbnail in pixels; the aspect ratio is kept.
    quality : int, default 85

    Returns
    -------
    bytes
        A JPEG file.
    """
    _check_image(image, "make_thumbnail")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise InputError(msg("error.imaging.size_parameter_make_thumbnail",
                "The 'size' parameter of make_thumbnail must be a positive integer. Got {size}.",
                size=repr(size)))
    h, w = image.shape[:2]
    scale = size / max(h, w)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    if (nw, nh) != (w, h):
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_NEAREST
        image = cv2.resize(np.ascontiguousarray(image), (nw, nh), interpolation=interp)
    return encode_jpeg(image, quality)


def _box_coords(box):
    if all(hasattr(box, k) for k in ("x0", "y0", "x1", "y1")):
        vals = (box.x0, box.y0, box.x1, box.y1)
    else:
        try:
            vals = tuple(box)
        except TypeError:
            vals = ()
    try:
        vals = tuple(float(v) for v in vals)
    except (TypeError, ValueError):
        vals = ()
    if len(vals) != 4 or not all(math.isfinite(v) for v in vals):
        raise InputError(
            msg("error.imaging.box_parameter_crop_box",
                "The 'box' parameter of crop_box must be (x0, y0, x1, y1) finite pixel coordinates "
                "or an object with x0, y0, x1, y1. Got {box}.",
                box=repr(box))
        )
    return vals


def crop_box(image: np.ndarray, box, pad: int = 0) -> np.ndarray:
    """Cut a box out of an image, clipped to the image.

    Coordinates are pixel edges: pixel column ``c`` spans ``[c, c+1)``, so ``(x0, y0, x1, y1)`` covers
    columns ``floor(x0) .. ceil(x1)-1`` and rows ``floor(y0) .. ceil(y1)-1``
    (``image[y0:y1, x0:x1]`` for integer boxes).

    Parameters
    ----------
    image : (H, W) or (H, W, 3) ndarray of np.uint8
    box : (x0, y0, x1, y1) or an object with those attributes (e.g. ``ingest.boxes.Box``)
    pad : int, default 0
        Pixels added on every side before clipping.

    Returns
    -------
    (h, w) or (h, w, 3) ndarray of np.uint8
        A copy (the plate can be freed).

    Raises
    ------
    InputError
        The box does not overlap the image, or is empty.

    Examples
    --------
    >>> img = np.arange(16, dtype=np.uint8).reshape(4, 4)
    >>> crop_box(img, (1, 2, 3, 4))
    array([[ 9, 10],
           [13, 14]], dtype=uint8)
    """
    _check_image(image, "crop_box")
    x0, y0, x1, y1 = _box_coords(box)
    if isinstance(pad, bool) or not isinstance(pad, (int, np.integer)) or pad < 0:
        raise InputError(msg("error.imaging.pad_parameter_crop_box",
                "The 'pad' parameter of crop_box must be a non-negative integer. Got {pad}.",
                pad=repr(pad)))
    h, w = image.shape[:2]
    c0 = max(0, math.floor(x0 + 1e-6) - pad)
    r0 = max(0, math.floor(y0 + 1e-6) - pad)
    c1 = min(w, math.ceil(x1 - 1e-6) + pad)
    r1 = min(h, math.ceil(y1 - 1e-6) + pad)
    if c1 <= c0 or r1 <= r0:
        raise InputError(
            msg("error.imaging.box_empty_lies_outside",
                "The box ({x0:g}, {y0:g}, {x1:g}, {y1:g}) is empty or lies outside the {w}x{h} image.",
                x0=x0, y0=y0, x1=x1, y1=y1, w=w, h=h)
        )
    return image[r0:r1, c0:c1].copy()


def sha256_bytes(data) -> str:
    """Hex SHA-256 of ``data`` (64 lower-case characters), the content address of a blob.

    Examples
    --------
    >>> sha256_bytes(b"")[:16]
    'e3b0c44298fc1c14'
    """
    return hashlib.sha256(data).hexdigest()
