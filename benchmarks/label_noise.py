"""Benchmark: how well defectlab finds planted label errors on NEU-DET, against named peers.

Flip a fraction of NEU-DET's labels at random to another class (fixed seed), compute 5-fold
out-of-fold probabilities with the default model on the default features, and compare on the same
probabilities:

- ``naive``: "the OOF prediction differs from the given label";
- ``cleanlab``: ``cleanlab.filter.find_label_issues`` with its defaults;
- ``defectlab``: :func:`defectlab.quality.find_label_issues` (+ the feature-space neighbour vote, the
  ``"ranked"`` flag rule);
- ``defectlab+retrain``: :func:`defectlab.quality.find_label_issues_retrained` (one more round of
  out-of-fold probabilities from models that never trained on a suspect).

Reported: precision and recall of the flagged items against the flipped ones, average precision of
the score ranking, and cross-validated accuracy (against the *true* labels, same folds) of the
default model trained on the noise-free labels, on the noisy labels, and on the noisy labels after
the flagged items were corrected to the suggestion.

Run::

    .venv/bin/python benchmarks/label_noise.py            # NEU-DET, seeds 0-2, 10 % noise
    .venv/bin/python benchmarks/label_noise.py --seeds 0 1 2 3 4 5 --noise 0.05
    .venv/bin/python benchmarks/label_noise.py --set demo     # the demo's synthetic defect crops
    .venv/bin/python benchmarks/label_noise.py --set textures --noise 0   # a clean set: flags are false

Features are cached in ``$TMPDIR/defectlab-bench`` (``--cache``).
"""

import argparse
import functools
import hashlib
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing: the imports below need it

import cv2  # noqa: E402
from cleanlab.filter import find_label_issues as cleanlab_find_label_issues  # noqa: E402
from sklearn.metrics import average_precision_score  # noqa: E402

from defectlab.demo import make_defect_crops  # noqa: E402
from defectlab.features import extract, get_spec  # noqa: E402
from defectlab.learn import DEFAULT_MODEL, cross_val_oof, make_folds, make_model  # noqa: E402
from defectlab.quality import find_label_issues, find_label_issues_retrained  # noqa: E402

sys.path.insert(0, str(REPO / "tests"))
from synthetic import texture_image  # noqa: E402  (the tests' synthetic textures)

print = functools.partial(print, flush=True)
NEU = REPO.parent / "shared" / "datasets" / "neu-det" / "images"


def load_neu(directory):
    """Grey images ``(N, H, W) uint8`` and labels (file-name prefix before the last underscore)."""
    files = sorted(Path(directory).glob("*.jpg"))
    if not files:
        raise SystemExit(f"No NEU-DET images in {directory}; pass --neu DIR.")
    images = np.stack([cv2.imdecode(np.fromfile(str(f), np.uint8), cv2.IMREAD_GRAYSCALE)
                       for f in files])
    labels = np.array([f.stem.rsplit("_", 1)[0] for f in files])
    return images, labels, [f.name for f in files]


def synthetic_features(name, seed=0):
    """Default-spec features of a synthetic set: the demo's defect crops or the tests' textures."""
    rng = np.random.default_rng(seed)
    if name == "demo":
        images, labels = make_defect_crops(n_per_class=100, size=128, random_state=seed)
    else:
        kinds = ("dark", "stripes", "spots")
        images = np.stack([texture_image(k, rng) for k in kinds for _ in range(100)])
        labels = [k for k in kinds for _ in range(100)]
    t0 = time.perf_counter()
    X = extract(images, get_spec(None), n_jobs=2)
    return X, np.asarray(labels), time.perf_counter() - t0


def neu_features(directory, cache_dir):
    """Default-spec features of NEU-DET, cached per (file list, spec hash)."""
    images, labels, names = load_neu(directory)
    spec = get_spec(None)
    key = hashlib.sha256(("\n".join(names) + spec.hash).encode()).hexdigest()[:16]
    path = Path(cache_dir) / f"neu_{key}.npy"
    if path.exists():
        return np.load(path), labels, 0.0
    t0 = time.perf_counter()
    X = extract(images, spec, n_jobs=2)
    seconds = time.perf_counter() - t0
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, X)
    return X, labels, seconds


def flip_labels(labels, classes, fraction, seed):
    """Flip ``fraction`` of the labels to another class, uniformly at random (fixed seed)."""
    rng = np.random.default_rng(seed)
    n, k = len(labels), len(classes)
    codes = np.searchsorted(classes, labels)
    flipped = rng.choice(n, round(fraction * n), replace=False)
    noisy = codes.copy()
    noisy[flipped] = (codes[flipped] + rng.integers(1, k, flipped.size)) % k
    truth = np.zeros(n, dtype=bool)
    truth[flipped] = True
    return classes[noisy], truth


def precision_recall(flagged, truth):
    tp = int((flagged & truth).sum())
    return tp / max(int(flagged.sum()), 1), tp / max(int(truth.sum()), 1)


def cv_accuracy(X, train_labels, true_labels, fold_ids, seed):
    """Accuracy against the true labels of the default model trained on ``train_labels`` (same folds)."""
    correct = 0
    for k in np.unique(fold_ids):
        train, test = fold_ids != k, fold_ids == k
        model = make_model(DEFAULT_MODEL, random_state=seed, n_jobs=1).fit(X[train], train_labels[train])
        correct += int((model.predict(X[test]) == true_labels[test]).sum())
    return correct / len(true_labels)


def run_seed(X, labels, classes, fraction, seed, n_splits):
    noisy, truth = flip_labels(labels, classes, fraction, seed)
    rows = {}
    t0 = time.perf_counter()
    oof = cross_val_oof(X, noisy, model=None, n_splits=n_splits, random_state=seed)
    t_oof = time.perf_counter() - t0
    assert list(oof.classes) == list(classes)
    P = oof.pred_probs
    codes = np.searchsorted(classes, noisy)

    naive = P.argmax(axis=1) != codes
    rows["naive (pred != given)"] = (naive, (P[np.arange(len(codes)), codes] * -1), 0.0)

    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cl = cleanlab_find_label_issues(codes, P, n_jobs=1)
    rows["cleanlab defaults"] = (cl, -P[np.arange(len(codes)), codes], time.perf_counter() - t0)

    def as_mask(df):
        mask = np.zeros(len(codes), dtype=bool)
        mask[df.loc[df.is_issue, "index"].to_numpy()] = True
        score = np.empty(len(codes))
        score[df["index"].to_numpy()] = df["score"].to_numpy()
        return mask, score

    t0 = time.perf_counter()
    df = find_label_issues(noisy, P, classes, features=X)
    rows["defectlab (+ neighbours)"] = (*as_mask(df), time.perf_counter() - t0)

    def retrain(exclude):
        return cross_val_oof(X, noisy, model=None, n_splits=n_splits, random_state=seed,
                             holdout=exclude).pred_probs

    t0 = time.perf_counter()
    df_r = find_label_issues_retrained(noisy, P, classes, retrain, features=X)
    final_mask, final_score = as_mask(df_r)
    rows["defectlab + retrain"] = (final_mask, final_score, time.perf_counter() - t0)

    results = {}
    for name, (mask, score, secs) in rows.items():
        p, r = precision_recall(mask, truth)
        results[name] = dict(n=int(mask.sum()), precision=p, recall=r,
                             ap=average_precision_score(truth, score) if truth.any() else float("nan"),
                             seconds=secs)

    # accuracy of models trained on noise-free / noisy / corrected labels, against the true labels
    corrected = noisy.copy()
    sugg = df_r.set_index("index")["suggested"]
    idx = np.flatnonzero(final_mask)
    corrected[idx] = sugg.loc[idx].to_numpy()
    fold_ids, _, _ = make_folds(noisy, n_splits=n_splits, random_state=seed)
    acc = {name: cv_accuracy(X, train, labels, fold_ids, seed)
           for name, train in [("noise-free", labels), ("noisy", noisy), ("corrected", corrected)]}
    acc["corrected labels still wrong"] = int((corrected != labels).sum())
    acc["noisy labels wrong"] = int((noisy != labels).sum())
    return results, acc, t_oof


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--neu", default=str(NEU), help="NEU-DET images folder")
    ap.add_argument("--noise", type=float, default=0.10, help="fraction of labels flipped")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="noise seeds")
    ap.add_argument("--set", choices=("neu", "demo", "textures"), default="neu",
                    help="NEU-DET, the demo's synthetic defect crops (6 x 100, 128 px) or the tests' "
                         "synthetic textures (3 x 100, 48 px)")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "defectlab-bench"))
    args = ap.parse_args(argv)

    if args.set == "neu":
        X, labels, t_feat = neu_features(args.neu, args.cache)
    else:
        X, labels, t_feat = synthetic_features(args.set)
    classes = np.unique(labels)
    title = {"neu": "NEU-DET", "demo": "demo defect crops", "textures": "test textures"}[args.set]
    print(f"{title}: {X.shape[0]} images, {X.shape[1]} features (default spec"
          f"{'' if t_feat == 0 else f', extracted in {t_feat:.1f} s'}), {len(classes)} classes; "
          f"model {DEFAULT_MODEL!r}, {args.folds}-fold OOF, {args.noise:.0%} labels flipped")
    all_res, all_acc = [], []
    for seed in args.seeds:
        res, acc, t_oof = run_seed(X, labels, classes, args.noise, seed, args.folds)
        all_res.append(res)
        all_acc.append(acc)
        print(f"\nseed {seed}: one OOF round {t_oof:.1f} s")
        print(f"  {'method':28s} {'flagged':>7s} {'precision':>9s} {'recall':>7s} {'AP':>6s} {'s':>6s}")
        for name, r in res.items():
            print(f"  {name:28s} {r['n']:7d} {r['precision']:9.3f} {r['recall']:7.3f} "
                  f"{r['ap']:6.4f} {r['seconds']:6.1f}")
        print(f"  CV accuracy vs true labels: noise-free {acc['noise-free']:.4f}, noisy "
              f"{acc['noisy']:.4f}, corrected {acc['corrected']:.4f} "
              f"(corrected - noise-free = {100 * (acc['corrected'] - acc['noise-free']):+.2f} points;"
              f" wrong labels {acc['noisy labels wrong']} -> {acc['corrected labels still wrong']})")
    if len(args.seeds) > 1:
        print(f"\nmean (min) over seeds {args.seeds}:")
        for name in all_res[0]:
            p = np.array([r[name]["precision"] for r in all_res])
            r_ = np.array([r[name]["recall"] for r in all_res])
            n_ = np.array([r[name]["n"] for r in all_res])
            print(f"  {name:28s} precision {p.mean():.3f} ({p.min():.3f})  recall {r_.mean():.3f} "
                  f"({r_.min():.3f})  flagged {n_.mean():.1f} of {X.shape[0]}"
                  f"{' (all false: no label was flipped)' if args.noise == 0 else ''}")
        for key in ("noise-free", "noisy", "corrected"):
            a = np.array([x[key] for x in all_acc])
            print(f"  accuracy {key:10s} {a.mean():.4f} ({a.min():.4f})")
    ours = all_res[0]["defectlab + retrain"]
    base = all_res[0]["cleanlab defaults"]
    print(f"\nseed {args.seeds[0]}: defectlab+retrain / cleanlab defaults: precision x"
          f"{ours['precision'] / max(base['precision'], 1e-9):.3f}, recall x"
          f"{ours['recall'] / max(base['recall'], 1e-9):.3f}")


if __name__ == "__main__":
    main()
