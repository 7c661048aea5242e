"""Import throughput: 10,000 small images into a fresh workspace, then the same folder again.

Peer in the same run: the bare floor — read each file, hash it (sha256) and decode it with OpenCV, no
validation and no database — timed before and after the imports (every file read once first, so both
sides read from the page cache); the faster of the two is the peer. The ratio says what the safety (header
checks, truncation checks, limits), content-addressed storage and transactions cost on top of that floor.

    .venv/bin/python benchmarks/import_speed.py [--n 10000] [--size 64]
"""

import argparse
import hashlib
import shutil
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from defectlab.ingest import import_source
from defectlab.store import open_workspace


def make_images(root, n, size):
    rng = np.random.default_rng(0)
    classes = ["crazing", "inclusion", "patches", "pitted_surface", "rolled-in_scale", "scratches"]
    for c in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        img = rng.integers(0, 256, (size, size), dtype=np.uint8)
        cv2.imwrite(str(root / classes[i % 6] / f"{classes[i % 6]}_{i}.png"), img)


def floor(root):
    t = time.perf_counter()
    for p in sorted(root.rglob("*.png")):
        data = p.read_bytes()
        hashlib.sha256(data).hexdigest()
        cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--size", type=int, default=64)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    try:
        src = tmp / "src"
        make_images(src, args.n, args.size)
        ws = open_workspace(tmp / "ws")
        for p in src.rglob("*.png"):  # untimed: both sides read from the page cache
            p.read_bytes()
        floors = [floor(src)]
        t = time.perf_counter()
        first = import_source(ws, "bench", src)
        t_first = time.perf_counter() - t
        t = time.perf_counter()
        second = import_source(ws, "bench", src)
        t_second = time.perf_counter() - t
        floors.append(floor(src))  # again after the imports: the faster floor is the peer
        t_floor = min(floors)
        print(f"images: {args.n} of {args.size}x{args.size} PNG")
        print(f"floor (read + sha256 + cv2.imdecode):  {t_floor:7.2f} s  {1000 * t_floor / args.n:6.3f} ms/image"
              f"  (before / after the imports: {floors[0]:.2f} / {floors[1]:.2f} s)")
        print(f"defectlab import, first:               {t_first:7.2f} s  {1000 * t_first / args.n:6.3f} ms/image"
              f"  imported={first.imported}  ratio to floor {t_first / t_floor:.1f}x")
        print(f"defectlab import, same folder again:   {t_second:7.2f} s  imported={second.imported}"
              f"  duplicates={second.duplicates}  ratio to floor {t_second / t_floor:.1f}x")
        print(f"integrity_check: {ws.integrity_check()}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
