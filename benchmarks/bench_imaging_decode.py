"""Cost of defectlab's safe decode compared with a bare ``cv2.imdecode`` (the peer), same bytes, same run.

    .venv/bin/python benchmarks/bench_imaging_decode.py

Cases: the NEU-DET JPEGs (if present), a large colour JPEG photo-like plate, a 16-bit TIFF and a
grey-stored-as-RGB PNG. Prints seconds per image for both and the ratio (ours / peer).
"""

import glob
import os
import statistics
import time

import cv2
import numpy as np

from defectlab.imaging import decode_image

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NEU = os.environ.get("DEFECTLAB_NEU_DIR", os.path.join(REPO, "..", "shared", "datasets", "neu-det"))


def _time(fn, datas, repeat=3):
    best = []
    for _ in range(repeat):
        t = time.perf_counter()
        for d in datas:
            fn(d)
        best.append((time.perf_counter() - t) / len(datas))
    return min(best), statistics.median(best)


def _case(name, datas, peer_flags):
    def peer(d):
        return cv2.imdecode(np.frombuffer(d, np.uint8), peer_flags)

    def ours(d):
        return decode_image(d, name)

    ours(datas[0]), peer(datas[0])  # warm up
    o, _ = _time(ours, datas)
    p, _ = _time(peer, datas)
    print(f"{name:<34} n={len(datas):>5}  ours {o * 1e3:8.2f} ms  cv2.imdecode {p * 1e3:8.2f} ms  ratio {o / p:5.2f}")


def main():
    rng = np.random.default_rng(0)
    paths = sorted(glob.glob(os.path.join(NEU, "images", "*.jpg")))
    if paths:
        datas = [open(p, "rb").read() for p in paths]
        _case("NEU-DET 200x200 JPEG", datas, cv2.IMREAD_ANYCOLOR)
    # a smooth, photo-like colour plate (random noise would make JPEG decoding unrealistically slow)
    h, w = 3000, 4000
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    plate = np.dstack([(xx / w * 255), (yy / h * 255), ((xx + yy) / (w + h) * 255)]).astype(np.uint8)
    plate = cv2.GaussianBlur(plate + rng.integers(0, 20, plate.shape, dtype=np.uint8), (5, 5), 0)
    jpg = cv2.imencode(".jpg", plate, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
    _case("4000x3000 colour JPEG (12 MP)", [jpg] * 3, cv2.IMREAD_COLOR)
    t16 = (rng.normal(2000, 300, (3000, 4000)).clip(0, 4095)).astype(np.uint16)
    tif = cv2.imencode(".tif", t16)[1].tobytes()
    _case("4000x3000 16-bit TIFF (12-bit data)", [tif] * 3, cv2.IMREAD_UNCHANGED)
    grey = cv2.cvtColor(plate, cv2.COLOR_BGR2GRAY)
    png = cv2.imencode(".png", cv2.merge([grey, grey, grey]))[1].tobytes()
    _case("4000x3000 grey-as-RGB PNG", [png] * 3, cv2.IMREAD_UNCHANGED)


if __name__ == "__main__":
    main()
