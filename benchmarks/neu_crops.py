"""Texture features of many 64x64 crops cut from the NEU-DET images: a realistic plant-scale matrix for fits.py.

    nice .venv/bin/python benchmarks/neu_crops.py [--per-image 40] [--out neu-crops.npz]
    nice .venv/bin/python benchmarks/fits.py --matrix neu-crops.npz --rows 72000 --modes shared,oldrule

Each of the 1,800 NEU images (``$DEFECTLAB_NEU_DIR`` or ``../shared/datasets/neu-det``) gives ``--per-image``
random 64x64 crops (half of them mirrored), labelled with the image's class; ``groups`` is the source image,
so grouped folds hold whole images out (crops of one image are near-duplicates). The features are those
training computes for 64x64 crops (``auto_spec`` of the default spec), extracted in 2 processes. Writes an
``.npz`` of ``X`` (float32), ``y`` and ``groups``.
"""

import argparse
import os
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _neu_images():
    root = Path(os.environ.get("DEFECTLAB_NEU_DIR") or REPO.parent / "shared" / "datasets" / "neu-det")
    files = sorted((root / "images").glob("*.jpg")) or sorted(root.rglob("*.jpg"))
    if not files:
        sys.exit(f"NEU-DET images not found under {root} (set DEFECTLAB_NEU_DIR)")
    return files


def _chunk(args):
    """Crops of some images and their features (runs in a worker process)."""
    from defectlab.features import auto_spec, extract, get_spec

    paths, per_image, seed, first = args
    cv2.setNumThreads(1)
    rng = np.random.default_rng(seed)
    crops, labels, groups = [], [], []
    for k, path in enumerate(paths):
        image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        for _ in range(per_image):
            r, c = rng.integers(0, image.shape[0] - 64, 2)  # NEU images are square (200x200)
            crop = image[r:r + 64, c:c + 64]
            crops.append(np.ascontiguousarray(crop[:, ::-1] if rng.random() < 0.5 else crop))
        labels += [re.sub(r"_\d+$", "", Path(path).stem)] * per_image
        groups += [first + k] * per_image
    spec = auto_spec(get_spec(None), [64] * len(crops), [64] * len(crops))
    return extract(crops, spec).astype(np.float32), labels, groups


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--per-image", type=int, default=40)
    ap.add_argument("--out", default="neu-crops.npz", help="output .npz (default: ./neu-crops.npz)")
    args = ap.parse_args(argv)
    files = _neu_images()
    t = time.perf_counter()
    tasks = [(files[s:s + 30], args.per_image, s, s) for s in range(0, len(files), 30)]
    with ProcessPoolExecutor(2) as pool:
        parts = list(pool.map(_chunk, tasks))
    X = np.concatenate([p[0] for p in parts])
    np.savez(args.out, X=X, y=np.concatenate([p[1] for p in parts]), groups=np.concatenate([p[2] for p in parts]))
    print(f"{X.shape[0]} crops x {X.shape[1]} features -> {args.out} in {time.perf_counter() - t:.0f} s")


if __name__ == "__main__":
    main()
