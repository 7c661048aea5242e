"""Feature extraction speed (and, with --cv, discrimination) of defectlab vs scikit-image.

Runs, in the same process and on the same images (NEU-DET by default):

1. JPEG decode time per image;
2. defectlab's default spec, single-threaded: ms/image per family and end to end (``extract``);
3. the reference: the same seven families computed the usual way, one image at a time with
   scikit-image 0.26 (+ ``cv2.filter2D`` for the Gabor bank), single-threaded:
   LBP riu2 (8,1), (16,2), (24,3) histograms; GLCM 32 levels, d = 1, 2, 4, 4 angles, 6 props
   (mean and range); HOG 9 bins, 8x8 cells, 2x2 blocks; intensity statistics + histogram; Gabor bank
   3 wavelengths x 8 orientations, 31x31 kernels (mean and std of the magnitude); LBP (8,1) on two
   pyramid levels; FFT radial / angular power spectrum;
   and prints two ratios, with the same number of repeats (best of ``--repeats``) on both sides:
   *equal size* (both compute on the images shrunk to defectlab's working size, e.g. 160x160) and
   *native size* (the reference on the original 200x200 images, defectlab end to end including its
   resize: what each does with the same files);
4. cold and warm extraction of all images through the on-disk cache (``extract_cached``, decode
   included in cold);
5. with ``--cv``: 5-fold stratified CV accuracy and fit time of LightGBM, logistic regression and an
   RBF SVM on the default spec's features.

Usage::

    .venv/bin/python benchmarks/features.py [--data DIR] [--limit 300] [--cv] [--spec default]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: import this checkout's defectlab

from defectlab.features import color as f_color
from defectlab.features import (
    extract,
    extract_cached,
    feature_names,
    get_spec,
    prepare_images,
)
from defectlab.features import fft as f_fft
from defectlab.features import gabor as f_gabor
from defectlab.features import glcm as f_glcm
from defectlab.features import hog as f_hog
from defectlab.features import intensity as f_intensity
from defectlab.features import lbp as f_lbp
from defectlab.features._batch import BLOCK, Pyramid
from defectlab.features.spectrum import power_spectrum

REPO = Path(__file__).resolve().parents[1]


def _load(paths):
    return [cv2.imdecode(np.fromfile(str(p), np.uint8), cv2.IMREAD_UNCHANGED) for p in paths]


def _best(fn, repeats):
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


# ----------------------------------------------------------------------------------------------
# reference: scikit-image (+ cv2.filter2D Gabor), one image at a time

def _reference_families(h, w):
    from scipy import stats
    from skimage.feature import graycomatrix, graycoprops, hog, local_binary_pattern

    angles = [0, np.pi / 4, np.pi / 2, 3 * np.pi / 4]
    props = ("contrast", "dissimilarity", "homogeneity", "energy", "correlation", "ASM")
    kernels = []
    for lam in (4, 8, 16):
        for k in range(8):
            kr = cv2.getGaborKernel((31, 31), 0.56 * lam, np.pi * k / 8, lam, 0.5, 0, cv2.CV_32F)
            ki = cv2.getGaborKernel((31, 31), 0.56 * lam, np.pi * k / 8, lam, 0.5, np.pi / 2,
                                    cv2.CV_32F)
            kernels.append((kr - kr.mean(), ki))
    fy, fx = np.meshgrid(np.fft.fftfreq(h), np.fft.fftfreq(w), indexing="ij")
    radius = np.hypot(fy, fx)
    ring = np.minimum((radius / 0.5 * 8).astype(int), 7)
    sector = (np.mod(np.degrees(np.arctan2(fy, fx)), 180) // 22.5).astype(int)

    def lbp(im):
        out = []
        for p, r in ((8, 1), (16, 2), (24, 3)):
            codes = local_binary_pattern(im, p, r, method="uniform")
            out.append(np.histogram(codes, bins=p + 2, range=(0, p + 2), density=True)[0])
        return np.concatenate(out)

    def glcm(im):
        m = graycomatrix(im // 8, [1, 2, 4], angles, levels=32, symmetric=True, normed=True)
        v = np.stack([graycoprops(m, p) for p in props])  # (props, d, angles)
        return np.concatenate([v.mean(axis=2).ravel(), np.ptp(v, axis=2).ravel()])

    def hog_(im):
        return hog(im, orientations=9, pixels_per_cell=(8, 8), cells_per_block=(2, 2))

    def intensity(im):
        f = im.ravel().astype(np.float64)
        return np.concatenate([[f.mean(), f.std(), stats.skew(f), stats.kurtosis(f), f.min(),
                                f.max()], np.percentile(f, [1, 5, 10, 25, 50, 75, 90, 95, 99]),
                               np.histogram(f, bins=16, range=(0, 256))[0] / f.size])

    def gabor(im):
        f = im.astype(np.float32)
        out = []
        for kr, ki in kernels:
            mag = cv2.magnitude(cv2.filter2D(f, cv2.CV_32F, kr), cv2.filter2D(f, cv2.CV_32F, ki))
            out += [mag.mean(), mag.std()]
        return np.array(out)

    def pyramid_lbp(im):
        out = []
        level = im
        for _ in range(2):
            level = cv2.pyrDown(level)
            codes = local_binary_pattern(level, 8, 1, method="uniform")
            out.append(np.histogram(codes, bins=10, range=(0, 10), density=True)[0])
        return np.concatenate(out)

    def fft(im):
        f = im.astype(np.float64)
        power = np.abs(np.fft.fft2(f - f.mean())) ** 2
        return np.concatenate([np.bincount(ring.ravel(), power.ravel(), 8),
                               np.bincount(sector.ravel(), power.ravel(), 8)]) / power.sum()

    return {"lbp": lbp, "glcm": glcm, "hog": hog_, "intensity": intensity, "gabor": gabor,
            "lbp pyramid": pyramid_lbp, "fft": fft}


def _reference_jobs(images):
    """``{family: callable}`` running one scikit-image family over every image of ``images``."""
    h, w = images[0].shape
    if any(im.shape != (h, w) for im in images):
        raise SystemExit("the reference needs images of one size")
    return {name: (lambda fn=fn: [fn(im) for im in images]) for name, fn in _reference_families(h, w).items()}


def _interleaved(jobs, repeats):
    """Best time of each job over ``repeats`` rounds; each round runs every job once, one after the other,
    so both sides of a ratio meet the same load on a shared machine."""
    best = dict.fromkeys(jobs, float("inf"))
    for _ in range(repeats):
        for name, fn in jobs.items():
            t0 = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


# ----------------------------------------------------------------------------------------------
# ours, per family (the same internals extract() runs, block by block)

def _time_ours(images, spec, repeats):
    grey, _ = prepare_images(images, spec)
    blocks = [grey[i:i + BLOCK] for i in range(0, len(grey), BLOCK)]
    width = grey.shape[2]
    pyramids = [Pyramid(b) for b in blocks]
    for p in pyramids:
        for s in (2, 4, 8):
            if min(p[1].shape[1:]) // s >= 8:
                p[s]
    powers = [power_spectrum(b) for b in blocks]
    jobs = {
        "intensity": lambda: [f_intensity._block(b, spec.intensity) for b in blocks],
        "lbp": lambda: [f_lbp._block(p, spec.lbp) for p in pyramids],
        "glcm": lambda: [f_glcm._block(p, spec.glcm) for p in pyramids],
        "hog": lambda: [f_hog._block(b, spec.hog) for b in blocks],
        "spectrum (gabor+fft)": lambda: [power_spectrum(b) for b in blocks],
        "gabor": lambda: [f_gabor.gabor_from_power(p, width, spec.gabor) for p in powers],
        "fft": lambda: [f_fft.fft_from_power(p, width, spec.fft) for p in powers],
        "color": lambda: [f_color._block(b, spec.color) for b in blocks],
        "pyramid": lambda: [Pyramid(b)[4] for b in blocks],
    }
    times = {}
    for name, fn in jobs.items():
        fam = name.split(" ")[0]
        if fam in ("intensity", "lbp", "glcm", "hog", "gabor", "fft", "color") and \
                getattr(spec, fam) is None:
            continue
        times[name] = _best(fn, repeats) / len(images)
    times["prepare (resize)"] = _best(lambda: prepare_images(images, spec), repeats) / len(images)
    times["extract() end to end"] = _best(lambda: extract(images, spec), repeats) / len(images)
    return times


def _cross_validate(x, y, seed=0):
    import lightgbm as lgb
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    models = {
        "LightGBM (200 trees, 15 leaves, lr 0.1)": lambda: lgb.LGBMClassifier(
            n_estimators=200, num_leaves=15, learning_rate=0.1, verbose=-1, n_jobs=2,
            random_state=seed),
        "StandardScaler + LogisticRegression(C=1)": lambda: make_pipeline(
            StandardScaler(), LogisticRegression(C=1.0, max_iter=5000)),
        "StandardScaler + LogisticRegression(C=10)": lambda: make_pipeline(
            StandardScaler(), LogisticRegression(C=10.0, max_iter=5000)),
        "StandardScaler + SVC(rbf, C=10)": lambda: make_pipeline(
            StandardScaler(), SVC(C=10.0, gamma="scale")),
    }
    folds = list(StratifiedKFold(5, shuffle=True, random_state=seed).split(x, y))
    rows = []
    for name, make in models.items():
        accs, fit = [], 0.0
        for tr, te in folds:
            model = make()
            t0 = time.perf_counter()
            model.fit(x[tr], y[tr])
            fit += time.perf_counter() - t0
            accs.append(float((model.predict(x[te]) == y[te]).mean()))
        rows.append((name, float(np.mean(accs)), float(np.std(accs)), fit / len(folds)))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=os.environ.get("DEFECTLAB_NEU_DIR", str(
        REPO.parent / "shared" / "datasets" / "neu-det")) + "/images", help="folder of images (NEU-DET images/)")
    parser.add_argument("--limit", type=int, default=300,
                        help="images used for the per-family timing (spread over the folder)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timing repeats for defectlab and the reference alike (best is kept)")
    parser.add_argument("--spec", default="default", help="feature preset to time")
    parser.add_argument("--cv", action="store_true", help="also run 5-fold CV on all images")
    parser.add_argument("--no-reference", action="store_true", help="skip scikit-image")
    args = parser.parse_args(argv)

    paths = sorted(p for p in Path(args.data).iterdir()
                   if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"))
    if not paths:
        sys.exit(f"no images in {args.data}")
    spec = get_spec(args.spec)
    cv2.setNumThreads(1)
    from threadpoolctl import threadpool_limits

    limits = threadpool_limits(1)  # BLAS single-threaded for the timing (restored before --cv)
    step = max(1, len(paths) // args.limit)
    subset = paths[::step][: args.limit]
    print(f"images: {len(paths)} in {args.data}; timing subset: {len(subset)}; spec "
          f"{spec.name!r} ({len(feature_names(spec))} columns, working size {spec.size}); "
          f"single-threaded; load average {os.getloadavg()[0]:.1f}")

    decode = _best(lambda: _load(subset), args.repeats) / len(subset)
    grey = [cv2.cvtColor(im, cv2.COLOR_BGR2GRAY) if im.ndim == 3 else im for im in _load(subset)]
    same = len({im.shape for im in grey}) == 1
    batch = np.stack(grey) if same else grey
    print(f"\nJPEG decode: {decode * 1e3:.3f} ms/image")

    ours = _time_ours(batch, spec, args.repeats)
    print(f"\n{'defectlab (' + spec.name + ')':34s} {'ms/image':>9s}")
    for name, t in ours.items():
        print(f"  {name:32s} {t * 1e3:9.3f}")
    if not args.no_reference:
        # equal size: both sides get the images already at defectlab's working size
        small_batch, _ = prepare_images(batch, spec)  # (N, h, w) uint8 at the working size
        small = list(small_batch)
        jobs = {("ours", "small"): lambda: extract(small_batch, spec),
                ("ours", "native"): lambda: extract(batch, spec)}
        jobs.update({("small", k): fn for k, fn in _reference_jobs(small).items()})
        jobs.update({("native", k): fn for k, fn in _reference_jobs(grey).items()})
        best = {k: v / len(small) for k, v in _interleaved(jobs, args.repeats).items()}
        ref_small = {k: v for (side, k), v in best.items() if side == "small"}
        ref_native = {k: v for (side, k), v in best.items() if side == "native"}
        ref_small["total"], ref_native["total"] = sum(ref_small.values()), sum(ref_native.values())
        ours_small, total = best[("ours", "small")], best[("ours", "native")]
        for title, ref in ((f"scikit-image reference at {small[0].shape[0]}x{small[0].shape[1]} (equal size)",
                            ref_small),
                           (f"scikit-image reference at {grey[0].shape[0]}x{grey[0].shape[1]} (native size)",
                            ref_native)):
            print(f"\n{title:34s} {'ms/image':>9s}")
            for name, t in ref.items():
                print(f"  {name:32s} {t * 1e3:9.3f}")
        print(f"\nRATIO reference / defectlab, best of {args.repeats} interleaved rounds on both sides:")
        print(f"  equal size  ({small[0].shape[0]}x{small[0].shape[1]} in, both): "
              f"{ref_small['total'] / ours_small:.1f}x ({ref_small['total'] * 1e3:.2f} vs "
              f"{ours_small * 1e3:.3f} ms/image)")
        print(f"  native size (reference on {grey[0].shape[0]}x{grey[0].shape[1]}, defectlab end to end incl. "
              f"its resize): {ref_native['total'] / total:.1f}x ({ref_native['total'] * 1e3:.2f} vs "
              f"{total * 1e3:.3f} ms/image)")

    # all images through the cache: cold (decode + extract + write) and warm (read + verify)
    import hashlib

    data, label_of = {}, {}
    for p in paths:
        raw = p.read_bytes()
        sha = hashlib.sha256(raw).hexdigest()
        data[sha] = raw
        label_of[sha] = p.stem.rsplit("_", 1)[0]

    def load(shas):
        return [cv2.imdecode(np.frombuffer(data[s], np.uint8), cv2.IMREAD_UNCHANGED) for s in shas]

    print(f"\nall {len(data)} distinct images via extract_cached (decode included when cold):")
    for jobs in (1, 2):
        with tempfile.TemporaryDirectory() as root:
            t0 = time.perf_counter()
            x = extract_cached(list(data), load, spec, root, n_jobs=jobs)
            cold = time.perf_counter() - t0
            t0 = time.perf_counter()
            x2 = extract_cached(list(data), load, spec, root, n_jobs=jobs)
            warm = time.perf_counter() - t0
        assert np.array_equal(x, x2)
        print(f"  n_jobs={jobs}: cold {cold:.2f} s ({cold / len(data) * 1e3:.2f} ms/image), "
              f"warm {warm:.3f} s")
    limits.restore_original_limits()
    cv2.setNumThreads(-1)

    if args.cv:
        y = np.array([label_of[s] for s in data])
        xs = x
        print(f"\n5-fold stratified CV on {len(y)} images, {xs.shape[1]} columns:")
        for name, acc, sd, fit in _cross_validate(xs, y):
            print(f"  {name:44s} accuracy {acc * 100:6.2f} % (+- {sd * 100:.2f})  "
                  f"fit {fit:6.2f} s/fold")


if __name__ == "__main__":
    main()
