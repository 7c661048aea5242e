"""Benchmark: tile-pooled features vs one shrunk working image, on large images, 5-fold.

    .venv/bin/python benchmarks/large_images.py [--n 30] [--folds 5] [--seed 0]

Two sets, generated here (no download):

* **scrap photos**: the demo's ordinal scrap-pile photos (``defectlab.demo.make_scrap_photos``) at
  640 x 640, four grades;
* **large textures**: 600 x 800 grey images whose four classes differ only in fine texture (grain,
  fine stripes one way or the other, tiny pits), under random illumination and contrast: what a
  whole photo shrunk to 160 x 160 loses.

For each set the same default model (``make_model()``, the ensemble) is cross-validated on the features
of the default spec (every image shrunk whole to 160 x 160: the peer) and on the tile-pooled spec that
``auto_spec`` chooses for such images (3 x 3 tiles with 25 % overlap, mean + std), and on sliding tiles at
the working scale (160 x 160 tiles, not shrunk, at most 16). Same folds, same seed.
Prints accuracy, balanced accuracy, macro-F1 and feature milliseconds per image, then one JSON line.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from defectlab.demo import make_scrap_photos  # noqa: E402
from defectlab.features import TileParams, auto_spec, extract, get_spec  # noqa: E402
from defectlab.learn.cv import cross_val_oof  # noqa: E402
from defectlab.learn.metrics import evaluate  # noqa: E402
from defectlab.learn.models import make_model  # noqa: E402

TEXTURES = ("grain", "stripes_h", "stripes_v", "pits")


def large_textures(n_per_class, seed=0, height=600, width=800):
    """Grey (N, height, width) images; the class is a fine texture under random light and contrast."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    for cls in TEXTURES:
        for _ in range(n_per_class):
            light = cv2.resize(rng.normal(0, 1, (4, 5)).astype(np.float32), (width, height),
                               interpolation=cv2.INTER_CUBIC)
            base = 120 + 25 * light + rng.normal(0, 6, (height, width))
            amp = rng.uniform(6, 12)
            if cls == "grain":
                tex = cv2.GaussianBlur(rng.normal(0, 1, (height, width)).astype(np.float32), (0, 0), 0.7) * amp * 2
            elif cls in ("stripes_h", "stripes_v"):
                period = rng.uniform(3, 4.5)
                angle = rng.normal(0, 0.08) + (0 if cls == "stripes_h" else np.pi / 2)
                coord = yy * np.cos(angle) + xx * np.sin(angle)
                tex = amp * np.sin(2 * np.pi * coord / period + rng.uniform(0, 2 * np.pi))
            else:
                tex = np.zeros((height, width), np.float32)
                n = int(rng.uniform(600, 1200))
                ys, xs = rng.integers(2, height - 2, n), rng.integers(2, width - 2, n)
                for dy in (-1, 0, 1):
                    for dx in (-1, 0, 1):
                        tex[ys + dy, xs + dx] = -amp * 4
            images.append(np.clip(base + tex, 0, 255).astype(np.uint8))
            labels.append(cls)
    return images, labels


def _score(name, images, labels, spec, folds, seed):
    t0 = time.perf_counter()
    X = np.asarray(extract(list(images), spec), dtype=np.float64)
    ms = 1000 * (time.perf_counter() - t0) / len(images)
    y = np.asarray(labels)
    res = cross_val_oof(X, y, model=make_model(random_state=seed), n_splits=folds, random_state=seed)
    m = evaluate(y, res.pred_probs, list(res.classes))
    return {"features": name, "n_features": X.shape[1], "accuracy": round(m["accuracy"], 4),
            "balanced_accuracy": round(m["balanced_accuracy"], 4), "macro_f1": round(m["macro_f1"], 4),
            "ms_per_image": round(ms, 1)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=30, help="images per class")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    plain = get_spec()
    sets = {}
    photos, grades = make_scrap_photos(n_per_grade=args.n, size=640, random_state=args.seed)
    sets["scrap photos 640x640"] = (list(photos), grades)
    sets["large textures 800x600"] = large_textures(args.n, seed=args.seed)
    out = {}
    print(f"{'set':<24}{'features':<22}{'F':>5}{'acc':>8}{'bal.acc':>9}{'macroF1':>9}{'ms/img':>8}")
    for name, (images, labels) in sets.items():
        tiled = auto_spec(plain, [im.shape[0] for im in images], [im.shape[1] for im in images])
        assert tiled.tiles is not None
        sliding = tiled.replace(tiles=TileParams(mode="sliding"))
        rows = [_score("single resize (peer)", images, labels, plain, args.folds, args.seed),
                _score("tiles 3x3 grid (auto)", images, labels, tiled, args.folds, args.seed),
                _score("tiles sliding 160px", images, labels, sliding, args.folds, args.seed)]
        for r in rows:
            print(f"{name:<24}{r['features']:<22}{r['n_features']:>5}{r['accuracy']:>8.3f}"
                  f"{r['balanced_accuracy']:>9.3f}{r['macro_f1']:>9.3f}{r['ms_per_image']:>8.1f}")
        out[name] = rows
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
