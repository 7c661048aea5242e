"""Benchmark: choosing what to label next on NEU-DET -- defectlab's strategies against random picks.

Simulation: a fixed stratified held-out set (30 %) is never labeled; the rest is the unlabeled pool.
Start from a small labeled seed (``--seed-per-class`` items per class), then repeatedly train the
default model on what is labeled, score the pool, and "label" the next ``--batch`` items chosen by
:func:`defectlab.quality.rank_for_labeling` (``margin_diverse``, ``margin``, ``entropy``) or at
random (the peer). Reported: held-out accuracy after the same number of labeled items, per strategy,
averaged over ``--reps`` repetitions, and the ratio of errors against random.

Run::

    .venv/bin/python benchmarks/active_learning.py
    .venv/bin/python benchmarks/active_learning.py --reps 5 --rounds 12 --batch 24
"""

import argparse
import functools
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: import this checkout's defectlab
sys.path.insert(0, str(Path(__file__).resolve().parent))

from label_noise import NEU, neu_features
from sklearn.model_selection import train_test_split

from defectlab.learn import DEFAULT_MODEL, make_model
from defectlab.quality import rank_for_labeling

print = functools.partial(print, flush=True)

STRATS = ("random", "margin_diverse", "margin", "entropy")


def simulate(X, y, strategy, rep, seed_per_class, batch, rounds, copies=1):
    """Held-out accuracy after each round (``rounds + 1`` values, the seed first)."""
    rng = np.random.default_rng(1000 + rep)
    idx = np.arange(len(y))
    pool, test = train_test_split(idx, test_size=0.3, stratify=y, random_state=rep)
    if copies > 1:  # near-identical extra shots of every pool image
        jitter = np.random.default_rng(rep).normal(0, 1e-3, (pool.size * (copies - 1), X.shape[1]))
        X = np.r_[X, np.repeat(X[pool], copies - 1, axis=0) + jitter * X.std(axis=0)]
        y = np.r_[y, np.repeat(y[pool], copies - 1)]
        pool = np.r_[pool, np.arange(len(idx), len(y))]
    labeled = np.concatenate([rng.choice(pool[y[pool] == c], seed_per_class, replace=False)
                              for c in np.unique(y)])
    unlabeled = np.setdiff1d(pool, labeled)
    accs, sizes = [], []
    for r in range(rounds + 1):
        model = make_model(DEFAULT_MODEL, random_state=rep, n_jobs=1).fit(X[labeled], y[labeled])
        accs.append(float((model.predict(X[test]) == y[test]).mean()))
        sizes.append(labeled.size)
        if r == rounds:
            break
        P = model.predict_proba(X[unlabeled])
        pick = rank_for_labeling(P, X[unlabeled], batch_size=batch, strategy=strategy,
                                 random_state=rep * 100 + r)
        labeled = np.concatenate([labeled, unlabeled[pick]])
        unlabeled = np.delete(unlabeled, pick)
    return np.array(accs), sizes


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--neu", default=str(NEU))
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--copies", type=int, default=1, help="copies of each pool image")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--batch", type=int, default=24)
    ap.add_argument("--seed-per-class", type=int, default=4)
    ap.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "defectlab-bench"))
    args = ap.parse_args(argv)
    X, labels, _ = neu_features(args.neu, args.cache)
    y = np.searchsorted(np.unique(labels), labels)
    print(f"NEU-DET: {X.shape[0]} images, {X.shape[1]} features; model {DEFAULT_MODEL!r}; "
          f"seed {args.seed_per_class}/class, {args.rounds} rounds of {args.batch}, "
          f"{args.reps} repetitions; 30 % held out; {args.copies} cop"
          f"{'y' if args.copies == 1 else 'ies'} of each pool image")
    curves, secs = {}, {}
    for s in STRATS:
        t0 = time.perf_counter()
        runs = [simulate(X, y, s, rep, args.seed_per_class, args.batch, args.rounds, args.copies)
                for rep in range(args.reps)]
        curves[s] = np.mean([a for a, _ in runs], axis=0)
        sizes = runs[0][1]
        secs[s] = time.perf_counter() - t0
    print("\nheld-out accuracy (mean over repetitions) by number of labeled items")
    print(f"  {'labeled':>7s} " + " ".join(f"{s:>15s}" for s in STRATS))
    for i, n in enumerate(sizes):
        print(f"  {n:7d} " + " ".join(f"{curves[s][i]:15.4f}" for s in STRATS))
    base = curves["random"]
    print("\nsummary (after the seed round):")
    for s in STRATS:
        c = curves[s]
        err_ratio = (1 - c[1:]).mean() / max((1 - base[1:]).mean(), 1e-9)
        print(f"  {s:15s} mean accuracy {c[1:].mean():.4f}  final {c[-1]:.4f}  "
              f"errors / random's x{err_ratio:.2f}  ({secs[s]:.0f} s)")
    best = curves["margin_diverse"]
    wins = int((best[1:] > base[1:]).sum())
    print(f"\nmargin_diverse beats random at {wins} of {len(base) - 1} budgets; final accuracy "
          f"{best[-1]:.4f} vs {base[-1]:.4f}")


if __name__ == "__main__":
    main()
