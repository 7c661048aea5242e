"""Benchmark: tile-pooled features vs one shrunk working image, on large images, 5-fold.

    .venv/bin/python benchmarks/large_images.py [--n 30] [--folds 5] [--seeds 0 1 2] [--sliding]

Two sets, generated here (no download), a new draw per seed:

* **scrap photos**: the demo's ordinal scrap-pile photos (``defectlab.demo.make_scrap_photos``) at
  640 x 640, four grades;
* **large textures**: 600 x 800 grey images whose four classes differ only in fine texture (grain,
  fine stripes one way or the other, tiny pits), under random illumination and contrast: what a
  whole photo shrunk to 160 x 160 loses.

For each set and seed the same default model (``make_model()``, the ensemble) is cross-validated (same
folds) on the features of

* the default spec: every image shrunk whole to 160 x 160 (**the peer**);
* the tile-pooled spec ``auto_spec`` chooses for such images: 3 x 3 tiles with 25 % overlap, pooled
  mean + std, beside the whole image's own row (``whole``);
* the same tiles without the whole view (mean + std only: the rule before; its columns are taken from
  the row above, so it costs nothing);
* with ``--sliding``: sliding tiles at the working scale (160 x 160 tiles, not shrunk, at most 16).

Prints balanced accuracy, accuracy, macro-F1 and feature milliseconds per image per seed, the mean over
seeds, then one JSON line. 120 photos a set: one photo is 0.008 of accuracy, so compare means.
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
from defectlab.features import TileParams, auto_spec, extract, feature_names, get_spec  # noqa: E402
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


def _score(name, X, labels, folds, seed, ms):
    y = np.asarray(labels)
    res = cross_val_oof(X, y, model=make_model(random_state=seed), n_splits=folds, random_state=seed)
    m = evaluate(y, res.pred_probs, list(res.classes))
    return {"features": name, "n_features": X.shape[1], "accuracy": round(m["accuracy"], 4),
            "balanced_accuracy": round(m["balanced_accuracy"], 4), "macro_f1": round(m["macro_f1"], 4),
            "ms_per_image": round(ms, 1)}


def _features(images, spec):
    t0 = time.perf_counter()
    X = np.asarray(extract(list(images), spec), dtype=np.float64)
    return X, 1000 * (time.perf_counter() - t0) / len(images)


def _rows(images, labels, folds, seed, sliding):
    plain = get_spec()
    tiled = auto_spec(plain, [im.shape[0] for im in images], [im.shape[1] for im in images])
    assert tiled.tiles is not None and "whole" in tiled.tiles.pool
    X0, ms0 = _features(images, plain)
    X1, ms1 = _features(images, tiled)
    names = feature_names(tiled)
    no_whole = [j for j, n in enumerate(names) if not n.endswith("@whole")]
    rows = [_score("single resize (peer)", X0, labels, folds, seed, ms0),
            _score("tiles + whole (auto)", X1, labels, folds, seed, ms1),
            _score("tiles mean+std only", X1[:, no_whole], labels, folds, seed, ms1)]
    if sliding:
        X2, ms2 = _features(images, tiled.replace(tiles=TileParams(mode="sliding")))
        rows.append(_score("sliding 160px + whole", X2, labels, folds, seed, ms2))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=30, help="images per class")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--sliding", action="store_true", help="also sliding tiles at the working scale")
    args = ap.parse_args(argv)
    out = {}
    print(f"{'set':<24}{'seed':>5} {'features':<24}{'F':>5}{'bal.acc':>9}{'acc':>8}{'macroF1':>9}{'ms/img':>8}")
    for seed in args.seeds:
        photos, grades = make_scrap_photos(n_per_grade=args.n, size=640, random_state=seed)
        sets = {"scrap photos 640x640": (list(photos), grades),
                "large textures 800x600": large_textures(args.n, seed=seed)}
        for name, (images, labels) in sets.items():
            for r in _rows(images, labels, args.folds, seed, args.sliding):
                print(f"{name:<24}{seed:>5} {r['features']:<24}{r['n_features']:>5}{r['balanced_accuracy']:>9.3f}"
                      f"{r['accuracy']:>8.3f}{r['macro_f1']:>9.3f}{r['ms_per_image']:>8.1f}")
                out.setdefault(name, {}).setdefault(r["features"], []).append(r)
    print(f"\nmean balanced accuracy over seeds {args.seeds} (min):")
    for name, by_features in out.items():
        for feat, rs in by_features.items():
            b = np.array([r["balanced_accuracy"] for r in rs])
            print(f"  {name:<24}{feat:<24}{b.mean():.3f} ({b.min():.3f})")
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
