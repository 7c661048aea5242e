"""Training fits alone at plant scale: the 5-fold OOF + final fit of the default model, variant vs peer.

    nice .venv/bin/python benchmarks/fits.py [--rows 100000] [--cols 235] [--repeats 1] [--modes shared,peer]

No images, no workspace: a synthetic float32 feature matrix (six classes whose means differ along a
few dozen columns, squared and product columns for the trees, 3% of the labels flipped) is built in a
second, then ``cross_val_oof(..., n_splits=5, refit=True, n_jobs=2)`` -- what ``train_project`` runs
after the features -- is timed in a fresh process per mode (wall, CPU = user + system of that
process, peak RSS), the modes alternating ``--repeats`` times in the same run:

* ``shared`` (this checkout): LightGBM bins ``X`` once (:class:`~defectlab.learn.models.SharedBins`);
  the folds and the final model take row subsets of it.
* ``peer``: the same ensemble with every fit binning its own rows (the code before ``SharedBins``:
  ``AverageProbaClassifier.fit(X[train], y[train])``).
* ``lgb1`` / ``lgb2``: one LightGBM fit on 80% of the rows with ``num_threads`` 1 / 2 (the choice
  between two single-threaded fits side by side and one fit on both cores).
* ``logreg`` / ``lightgbm``: one member of the ensemble alone, 5 folds + final (the ensemble's CPU minus
  both is its bookkeeping: binning, fold predictions, averaging).
* ``oldrule``: the ensemble without LightGBM's large-N rule (``scale_*`` off: 100 rounds at 0.1, leaves
  of 10 rows), the peer of ``shared`` for the rule (``--modes shared,oldrule``).

``--matrix FILE.npz`` (arrays ``X`` float32, ``y`` labels, optional ``groups``) replaces the synthetic
matrix with real features, e.g. texture features of many 64x64 crops cut from the NEU images (groups =
source image, so the folds hold out whole images); ``--rows`` then takes the first rows.

Prints one JSON line per measurement and a summary table with the ratio to the peer. The OOF accuracy
and the final model's probabilities on the first 1,000 rows are printed too: ``shared`` and ``peer``
must agree within noise (the final model is binned identically, so its probabilities match exactly).
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script: import this checkout's defectlab


def make_matrix(n, cols, seed=0, noise=0.03):
    """(n, cols) float32 features and (n,) labels of six classes, ``noise`` of the labels flipped."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 6, n)
    informative = min(cols, 40)
    centers = rng.normal(scale=0.45, size=(6, informative)).astype(np.float32)
    X = rng.standard_normal((n, cols), dtype=np.float32)
    X[:, :informative] += centers[y]
    k = min(cols - informative, informative)
    if k > 0:  # non-linear columns: what the trees find and the linear model does not
        X[:, informative:informative + k] = X[:, :k] ** 2 + 0.5 * X[:, 1:k + 1] * X[:, :k]
    flip = rng.random(n) < noise
    y[flip] = rng.integers(0, 6, int(flip.sum()))
    return X, np.array(["crazing", "inclusion", "patches", "pitted", "rolled", "scratches"])[y]


class _PerFitEnsemble:
    """Factory for the peer: the default ensemble without ``fit_rows`` (each fit bins its own rows)."""

    @staticmethod
    def make(seed):
        from defectlab.learn.models import AverageProbaClassifier, make_model

        class PerFit(AverageProbaClassifier):
            fit_rows = None  # cross_val_oof then calls fit(X[train], y[train]), as before SharedBins

        base = make_model("ensemble", random_state=seed, n_jobs=1)
        return PerFit(base.estimators, weights=base.weights)


def _load(matrix, rows, cols, seed):
    """(X, y, groups): the synthetic matrix, or the first ``rows`` of ``matrix``'s arrays."""
    if not matrix:
        return (*make_matrix(rows, cols, seed), None)
    with np.load(matrix, allow_pickle=False) as d:  # a file this benchmark's user made
        groups = d["groups"][:rows] if "groups" in d.files else None
        return np.ascontiguousarray(d["X"][:rows], np.float32), d["y"][:rows], groups


def _no_rule(seed):
    from defectlab.learn.models import make_model

    return make_model("ensemble", random_state=seed, n_jobs=1).set_params(
        lightgbm__scale_learning_rate=None, lightgbm__scale_n_estimators=None, lightgbm__scale_min_leaf_rows=None)


def _child(mode, rows, cols, seed, matrix=None):
    from sklearn.metrics import balanced_accuracy_score

    from defectlab.learn.cv import cross_val_oof
    from defectlab.learn.models import make_model

    X, y, groups = _load(matrix, rows, cols, seed)
    rows = X.shape[0]
    t, c = time.perf_counter(), time.process_time()
    out = {"mode": mode, "rows": rows, "cols": cols}
    if mode in ("lgb1", "lgb2"):
        est = make_model("lightgbm", random_state=seed, n_jobs=1 if mode == "lgb1" else 2)
        n_tr = int(0.8 * rows)
        est.fit(X[:n_tr], y[:n_tr])
        out["accuracy"] = float(np.mean(est.predict(X[n_tr:]) == y[n_tr:]))
        out["n_iter"] = est.n_iter_
    else:
        model = {"shared": lambda: make_model("ensemble", random_state=seed, n_jobs=1),
                 "oldrule": lambda: _no_rule(seed),
                 "peer": lambda: _PerFitEnsemble.make(seed),
                 "logreg": lambda: make_model("logreg", random_state=seed, n_jobs=1),
                 "lightgbm": lambda: make_model("lightgbm", random_state=seed, n_jobs=1)}[mode]()
        res = cross_val_oof(X, y, groups=groups, model=model, n_splits=5, random_state=seed, refit=True, n_jobs=2)
        pred = res.classes[res.pred_probs.argmax(1)]
        out["accuracy"] = float(np.mean(pred == y))
        out["balanced_accuracy"] = float(balanced_accuracy_score(y, pred))
        out["final_probs_head"] = res.model.predict_proba(X[:1000]).round(6).tolist()[:3]
        lgb = getattr(res.model, "estimators_", [res.model])[0]
        out["n_iter"] = getattr(lgb, "n_iter_", None)
    use = resource.getrusage(resource.RUSAGE_SELF)
    out.update(seconds=round(time.perf_counter() - t, 2), cpu_s=round(time.process_time() - c, 2),
               peak_rss_mb=round(use.ru_maxrss / 1024), load=round(os.getloadavg()[0], 1))
    print(json.dumps(out))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--cols", type=int, default=235)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--modes", default="shared,peer")
    ap.add_argument("--matrix", default=None, help="an .npz of X, y (and groups) to use instead of the synthetic one")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        _child(args.child, args.rows, args.cols, args.seed, args.matrix)
        return
    env = dict(os.environ, PYTHONPATH=str(REPO))
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    results = {m: [] for m in modes}
    for _ in range(args.repeats):
        for mode in modes:
            cmd = [sys.executable, __file__, "--child", mode, "--rows", str(args.rows), "--cols", str(args.cols),
                   "--seed", str(args.seed)] + (["--matrix", args.matrix] if args.matrix else [])
            line = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout.strip()
            row = json.loads(line.splitlines()[-1])
            print(json.dumps(row), flush=True)
            results[mode].append(row)
    peer = results.get("peer") or results.get("oldrule")
    print(f"\n{'mode':8} {'wall s':>8} {'CPU s':>8} {'RSS MB':>8} {'accuracy':>9} {'bal. acc':>9} {'CPU / peer':>10}"
          f"  (peer: {'peer' if 'peer' in results else 'oldrule'})")
    for mode, rows in results.items():
        wall, cpu = np.median([r["seconds"] for r in rows]), np.median([r["cpu_s"] for r in rows])
        ratio = cpu / np.median([r["cpu_s"] for r in peer]) if peer else float("nan")
        print(f"{mode:8} {wall:8.1f} {cpu:8.1f} {max(r['peak_rss_mb'] for r in rows):8d} "
              f"{rows[0]['accuracy']:9.4f} {rows[0].get('balanced_accuracy', float('nan')):9.4f} {ratio:10.2f}")


if __name__ == "__main__":
    main()
