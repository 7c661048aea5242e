"""Fuzz (issue 10 item 15): thousands of mutated PNG/JPEG/BMP/TIFF/XML/JSON/CSV/YOLO/zip files through the
importers. Only ImageError / InputError (a rejection) may come out, never another exception, and memory
stays bounded. Seeded and generated at test time: a failure prints the case to replay."""

import io
import json
import random
import resource
import struct
import sys
import zipfile

import cv2
import numpy as np
import pytest

from defectlab.errors import ImageError, InputError
from defectlab.imaging import ImageLimits, decode_image, encode_png
from defectlab.ingest.archive import safe_extract_zip
from defectlab.ingest.boxes import parse_coco, parse_voc, parse_yolo
from defectlab.ingest.scan import plan_import

SEED = 20261203
LIMITS = ImageLimits(max_file_bytes=8 * 1024 * 1024, max_pixels=4_000_000, max_decoded_bytes=64 * 1024 * 1024)
_INTERESTING = [0, 1, 0x7F, 0x80, 0xFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 0x10000, 65535, 2**31]


def _enc(ext, img):
    ok, buf = cv2.imencode(ext, img)
    assert ok
    return buf.tobytes()


def _image_seeds():
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (24, 20), dtype=np.uint8)
    rgb = rng.integers(0, 256, (18, 22, 3), dtype=np.uint8)
    rgba = rng.integers(0, 256, (12, 16, 4), dtype=np.uint8)
    return {
        "png": [_enc(".png", grey), _enc(".png", rgba), _enc(".png", (grey.astype(np.uint16) * 257))],
        "jpeg": [_enc(".jpg", grey), _enc(".jpg", rgb)],
        "bmp": [_enc(".bmp", grey), _enc(".bmp", rgb), _enc(".bmp", rgba)],
        "tiff": [_enc(".tiff", grey), _enc(".tiff", rgb), _enc(".tiff", rgba.astype(np.float32)),
                 _enc(".tiff", grey.astype(np.uint16))],
    }


def _mutate(data, rnd):
    """One to four random edits: bit flips, interesting integers, cuts, inserted or repeated bytes."""
    b = bytearray(data)
    for _ in range(rnd.randint(1, 4)):
        op = rnd.randrange(6)
        pos = rnd.randrange(max(1, len(b)))
        if op == 0 and b:
            b[pos] ^= 1 << rnd.randrange(8)
        elif op == 1 and len(b) >= pos + 4:
            fmt = rnd.choice(["<I", ">I", "<H", ">H"])
            size = struct.calcsize(fmt)
            value = rnd.choice(_INTERESTING) & ((1 << (8 * size)) - 1)
            if pos + size <= len(b):
                struct.pack_into(fmt, b, pos, value)
        elif op == 2:
            del b[pos:]
        elif op == 3:
            b[pos:pos] = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 16)))
        elif op == 4 and b:
            end = min(len(b), pos + rnd.randint(1, 64))
            b[pos:pos] = b[pos:end] * rnd.randint(1, 8)
        elif b:
            b[pos] = rnd.choice([0x00, 0xFF, ord("<"), ord("&"), ord('"')])
    return bytes(b)


class _Failures(list):
    def check(self, kind, case, func):
        try:
            func()
        except (ImageError, InputError):
            pass
        except Exception as exc:
            self.append(f"{kind} case {case}: {type(exc).__name__}: {str(exc)[:200]}")


def _max_rss_mb():
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 if sys.platform != "darwin" else kb / 1024 / 1024


def _voc_seed():
    return (b'<?xml version="1.0" encoding="utf-8"?><annotation><filename>a.png</filename><size><width>24</width>'
            b"<height>24</height></size><object><name>scratch</name><bndbox><xmin>1</xmin><ymin>2</ymin>"
            b"<xmax>20</xmax><ymax>22</ymax></bndbox></object></annotation>")


def _coco_seed():
    return json.dumps({"images": [{"id": 1, "file_name": "a.png", "width": 24, "height": 24}],
                       "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 10, 10]}],
                       "categories": [{"id": 1, "name": "scratch"}]}).encode()


def _zip_seed():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("images/a.png", encode_png(np.full((8, 8), 7, np.uint8)))
        zf.writestr("annotations/a.xml", _voc_seed())
        zf.writestr("划痕/b.png", encode_png(np.full((8, 8), 9, np.uint8)))
    return buf.getvalue()


def test_fuzz_importers_only_reject(tmp_path):
    rnd = random.Random(SEED)
    failures = _Failures()
    rss_before = _max_rss_mb()
    n = 0
    for fmt, seeds in _image_seeds().items():
        for k in range(1200):
            data = _mutate(rnd.choice(seeds), rnd)
            failures.check(fmt, k, lambda d=data: _decoded_ok(decode_image(d, "fuzz", LIMITS)))
            n += 1
    for k in range(500):
        p = tmp_path / "v.xml"
        p.write_bytes(_mutate(_voc_seed(), rnd))
        failures.check("voc", k, lambda p=p: parse_voc(p))
        n += 1
    for k in range(500):
        p = tmp_path / "c.json"
        p.write_bytes(_mutate(_coco_seed(), rnd))
        failures.check("coco", k, lambda p=p: parse_coco(p))
        n += 1
    root = tmp_path / "csvroot"
    root.mkdir()
    (root / "a.png").write_bytes(encode_png(np.full((8, 8), 5, np.uint8)))
    (root / "b.png").write_bytes(encode_png(np.full((8, 8), 6, np.uint8)))
    for k in range(300):
        (root / "labels.csv").write_bytes(_mutate("\ufeffpath,label\na.png,scratch\nb.png,'=pit\n".encode(), rnd))
        failures.check("csv", k, lambda: plan_import(root, layout="csv"))
        n += 1
    for k in range(300):
        p = tmp_path / "y.txt"
        p.write_bytes(_mutate(b"0 0.5 0.5 0.25 0.25\n1 0.1 0.2 0.1 0.1\n", rnd))
        failures.check("yolo", k, lambda p=p: parse_yolo(p, 24, 24, ["scratch", "pit"]))
        n += 1
    zseed = _zip_seed()
    for k in range(400):
        z = tmp_path / f"z{k}.zip"
        z.write_bytes(_mutate(zseed, rnd))
        out = tmp_path / f"out{k}"
        failures.check("zip", k, lambda z=z, out=out: _extract_and_plan(z, out))
        n += 1
    assert n >= 4000
    assert not failures, "\n".join(failures[:20])
    assert _max_rss_mb() - rss_before < 400  # bounded: no mutated file inflated the process


def _decoded_ok(image):
    assert image.dtype == np.uint8 and image.ndim in (2, 3)


def _extract_and_plan(z, out):
    result = safe_extract_zip(z, out)
    if result.files:
        plan_import(out)


@pytest.mark.parametrize("fmt", ["png", "jpeg", "bmp", "tiff"])
def test_fuzz_seeds_are_valid(fmt):
    for data in _image_seeds()[fmt]:
        assert decode_image(data, "seed", LIMITS).dtype == np.uint8
