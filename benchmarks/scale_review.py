"""Benchmark: the review side at plant scale (1k / 10k / 100k items), each row beside a named peer.

Rows (the review rows of issue 11's table), timed in one process, same sizes, same repeats (best of
``--repeats``), ratio = defectlab / peer:

- ``label-issues``: :func:`defectlab.quality.find_label_issues` with the feature-space neighbour vote
  on synthetic features (228 columns, like the default spec) and out-of-fold-like probabilities with 3 %
  flipped labels; peers: ``cleanlab alone`` (``cleanlab.filter.find_label_issues`` on the same
  probabilities) and the ``old brute force`` neighbour vote (scikit-learn cosine ``NearestNeighbors``, all
  pairs; at 1k / 10k only unless ``--full``). Peak memory (tracemalloc) is reported too.
- ``duplicates``: the pigeonhole pHash index vs ``all-pairs Hamming`` (the old path), on random 64-bit
  hashes with planted near pairs; both must find the same pairs (checked).
- ``outliers``: :func:`defectlab.quality.find_outliers` (whole: search, scores and reasons) vs
  ``find_outliers before`` (the implementation at commit 70be0db, ``benchmarks/_outliers_before.py``),
  with the quality beside it: the flagged sets' Jaccard index, the overlap of the two rankings' most
  unusual 1 %, the median difference of the distance ratios; and its k-NN distances vs the ``old brute
  force`` k-NN (scikit-learn's exact search on all robust-standardised columns; 1k / 10k only unless
  ``--full``).

Besides wall seconds, rows give ``cpu_s`` (process CPU seconds, all threads): on a machine shared with
other work the wall time swings, the CPU time much less.
- ``queues after training`` (computed in a background thread, as the training job does) and ``projects
  rerun during it``: another session's Projects page rerun while the queues are computed, beside the same
  rerun with nothing running (the server is not blocked; it shares the two cores).
- ``review page first open`` and ``projects page rerun``: a real workspace (synthetic crops, a few %
  mislabeled, one trained run with its stored queues), pages timed through AppTest; peers: computing
  the label-error queue as the old page did on open (``label_issues_for_run``), and the four full label
  scans the old Projects page made per rerun (``current_labels`` x 4). Up to ``--page-max`` items
  (default 10,000) the workspace's run is trained on real image features; larger ones, up to
  ``--page-synthetic-max`` (default 100,000), use stand-in features (:func:`build_workspace_synthetic`:
  real crops, store, training, queues and pages; only the image features are drawn from each item's
  true class, so the build takes minutes instead of the hour ``benchmarks/scale.py`` spends).

Usage::

    .venv/bin/python benchmarks/scale_review.py                 # 1k, 10k, 100k
    .venv/bin/python benchmarks/scale_review.py --sizes 1000 --page-max 1000
    .venv/bin/python benchmarks/scale_review.py --full          # also the slow peers at 100k
    .venv/bin/python benchmarks/scale_review.py --sizes 100000 --rows outliers

Other benchmarks call :func:`run_rows`, or :func:`time_pages` on a workspace they built (e.g.
``benchmarks/scale.py`` at 100k).
"""

import argparse
import functools
import shutil
import sys
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))  # the peer of the outlier rows (_outliers_before.py)

print = functools.partial(print, flush=True)

N_FEATURES = 228
N_CLASSES = 6
NOISE = 0.03


# -- synthetic inputs -----------------------------------------------------------------------------

def synthetic_features(n, seed=0):
    """Features with class structure (a 12-D latent space, noisy, 228 columns), true and given labels
    (3 % flipped) and out-of-fold-like probabilities that mostly follow the true class."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, N_CLASSES, n)
    centres = rng.normal(0, 3, (N_CLASSES, 12))
    latent = centres[truth] + rng.normal(0, 1, (n, 12))
    X = latent @ rng.normal(0, 1, (12, N_FEATURES)) + rng.normal(0, 0.5, (n, N_FEATURES))
    given = truth.copy()
    flip = rng.random(n) < NOISE
    given[flip] = (truth[flip] + rng.integers(1, N_CLASSES, int(flip.sum()))) % N_CLASSES
    logits = rng.normal(0, 1, (n, N_CLASSES))
    logits[np.arange(n), truth] += 3.0
    P = np.exp(logits)
    P /= P.sum(axis=1, keepdims=True)
    return X.astype(np.float64), given, P, flip


def synthetic_hashes(n, seed=0):
    """Random 64-bit hashes with n/500 planted near pairs (0-4 bits apart)."""
    rng = np.random.default_rng(seed)
    h = rng.integers(0, 2**64 - 1, n, dtype=np.uint64, endpoint=True)
    k = max(1, n // 500)
    src, dst = rng.choice(n, k, replace=False), rng.choice(n, k, replace=False)
    for a, b in zip(src.tolist(), dst.tolist(), strict=True):
        v = int(h[a])
        for bit in rng.choice(64, int(rng.integers(0, 5)), replace=False).tolist():
            v ^= 1 << bit
        h[b] = np.uint64(v)
    return h


# -- timing helpers -------------------------------------------------------------------------------

_CPU = {}  # CPU seconds (all threads) of the last _best call's best repeat: stable on a busy machine


def _best(fn, repeats):
    best, out, cpu = np.inf, None, None
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        wall = time.perf_counter() - t0
        if wall < best:
            best, cpu = wall, time.process_time() - c0
    _CPU["last"] = cpu
    return best, out


def _peak_mb(fn):
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def _row(name, n, seconds, peer, peer_seconds, target=None, **extra):
    ratio = None if peer_seconds is None else seconds / peer_seconds
    return {"row": name, "n": n, "seconds": round(seconds, 4), "peer": peer,
            "peer_seconds": None if peer_seconds is None else round(peer_seconds, 4),
            "ratio": None if ratio is None else round(ratio, 3), "target": target, **extra}


# -- old paths (the peers) ------------------------------------------------------------------------

def old_neighbor_votes(X, codes, n_classes, k=10):
    """The neighbour vote before this change: cosine NearestNeighbors (brute force, all pairs)."""
    from sklearn.neighbors import NearestNeighbors

    from defectlab.quality._standardize import _standardize

    Z = _standardize(X)
    _, idx = NearestNeighbors(n_neighbors=k + 1, metric="cosine").fit(Z).kneighbors(Z)
    counts = np.zeros((X.shape[0], n_classes))
    np.add.at(counts, (np.repeat(np.arange(X.shape[0]), k), codes[idx[:, 1:]].ravel()), 1.0)
    return counts


def old_outlier_distances(X, k=10):
    """The outlier k-NN before this change: scikit-learn's exact search on all robust columns."""
    from sklearn.neighbors import NearestNeighbors

    from defectlab.quality._standardize import _standardize

    Z = np.clip(_standardize(X, robust=True), -10, 10)
    dist, _ = NearestNeighbors(n_neighbors=k + 1).fit(Z).kneighbors(Z)
    return dist[:, 1:].mean(axis=1)


def new_outlier_distances(X, k=10, search="cells"):
    """The same distances as :func:`old_outlier_distances` through the linear-cost search
    :func:`~defectlab.quality.find_outliers` uses (``"cells"``; ``"candidates"``: the one it used before)."""
    from defectlab.quality._knn import kneighbors
    from defectlab.quality._standardize import _standardize

    Z = np.clip(_standardize(X, robust=True), -10, 10)
    _, dist = kneighbors(Z, k + 1, search=search)
    return dist[:, 1:].mean(axis=1)


# -- rows -----------------------------------------------------------------------------------------

def label_issue_rows(n, repeats=1, full=False):
    from cleanlab.filter import find_label_issues as cleanlab_find

    from defectlab.quality import find_label_issues

    X, given, P, flip = synthetic_features(n)
    classes = [f"c{k}" for k in range(N_CLASSES)]
    labels = np.asarray(classes, dtype=object)[given]

    def ours():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return find_label_issues(labels, P, classes, features=X)

    seconds, df = _best(ours, repeats)
    cpu = _CPU["last"]
    found = set(df.loc[df["is_issue"], "index"].tolist())
    planted = set(np.flatnonzero(flip).tolist())
    precision = len(found & planted) / max(len(found), 1)
    recall = len(found & planted) / max(len(planted), 1)
    mb = _peak_mb(ours)
    cl_seconds, _ = _best(lambda: cleanlab_find(given, P), repeats)
    rows = [_row("label-issues", n, seconds, "cleanlab alone", cl_seconds, "< 20 s, < 1 GB at 100k",
                 cpu_s=round(cpu, 2), peak_mb=round(mb, 1), precision=round(precision, 3),
                 recall=round(recall, 3))]
    if n <= 10_000 or full:
        from defectlab.quality.label_issues import _neighbor_votes

        ours_votes, _ = _best(lambda: _neighbor_votes(X, given, N_CLASSES, 10, np.ones(n, bool), 1),
                              repeats)
        votes_cpu = _CPU["last"]
        old, counts = _best(lambda: old_neighbor_votes(X, given, N_CLASSES), repeats)
        old_cpu = _CPU["last"]
        old_mb = _peak_mb(lambda: old_neighbor_votes(X, given, N_CLASSES))
        exact = _flagged_with_votes(labels, P, classes, X, counts)
        rows.append(_row("  neighbour vote", n, ours_votes, "old brute force (cosine)", old,
                         cpu_s=round(votes_cpu, 2), peer_cpu_s=round(old_cpu, 2),
                         peer_peak_mb=round(old_mb, 1), flagged=len(found), flagged_exact=len(exact),
                         same_flags=round(len(found & exact) / max(len(found | exact), 1), 3)))
    return rows


def _flagged_with_votes(labels, P, classes, X, counts, k=10):
    """The items :func:`find_label_issues` flags when the neighbour vote comes from the exact (old
    brute force) neighbours: the quality peer of the index."""
    from defectlab.quality import find_label_issues, label_issues

    votes = (counts + label_issues._SMOOTH) / (k + label_issues._SMOOTH * len(classes))
    real = label_issues._neighbor_votes
    label_issues._neighbor_votes = lambda *a, **kw: votes
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            df = find_label_issues(labels, P, classes, features=X)
    finally:
        label_issues._neighbor_votes = real
    return set(df.loc[df["is_issue"], "index"].tolist())


def duplicate_rows(n, repeats=1, full=False):
    from defectlab.quality.duplicates import _near_pairs_hash, _near_pairs_hash_all

    h = synthetic_hashes(n)
    seconds, ours = _best(lambda: _near_pairs_hash(h, 4), repeats)
    peer = same = None
    if n <= 10_000 or full:
        peer, theirs = _best(lambda: _near_pairs_hash_all(h, 4), repeats)
        same = all(np.array_equal(a, b) for a, b in zip(ours, theirs, strict=True))
    return [_row("duplicates (pHash pairs)", n, seconds, "all-pairs Hamming", peer, "< 1 s at 100k",
                 pairs=int(ours[0].size), same_pairs=same)]


def outlier_rows(n, repeats=1, full=False):
    from _outliers_before import find_outliers_before

    from defectlab.quality import find_outliers

    X, _, _, _ = synthetic_features(n, seed=1)
    X[:5] += 40.0  # a few items unlike any other
    for fn in (find_outliers, find_outliers_before):  # warm both up (imports, first allocations): untimed
        fn(X[:5000])
    seconds, df = _best(lambda: find_outliers(X), repeats)
    cpu = _CPU["last"]
    before, df_before = _best(lambda: find_outliers_before(X), repeats)
    before_cpu = _CPU["last"]
    top = set(df["index"].head(5).tolist())
    flagged = set(df.loc[df["is_outlier"], "index"].tolist())
    flagged_before = set(df_before.loc[df_before["is_outlier"], "index"].tolist())
    m = max(1, n // 100)  # the most unusual 1 %: the head of the queue a reviewer works through
    head = set(df["index"].head(m).tolist())
    head_before = set(df_before["index"].head(m).tolist())
    ratios = df.sort_values("index")["distance_ratio"].to_numpy()
    ratios_before = df_before.sort_values("index")["distance_ratio"].to_numpy()
    knn, d_new = _best(lambda: new_outlier_distances(X), repeats)
    knn_cpu = _CPU["last"]
    peer = peer_cpu = None
    excess = {}
    if n <= 10_000 or full:
        peer, d_exact = _best(lambda: old_outlier_distances(X), repeats)
        peer_cpu = _CPU["last"]
        # how much farther than the exact k nearest the found ones are (median over items)
        excess = {"excess_vs_exact": round(float(np.median(d_new / d_exact - 1)), 4),
                  "excess_vs_exact_before": round(float(np.median(
                      new_outlier_distances(X, search="candidates") / d_exact - 1)), 4)}
    return [_row("outliers", n, seconds, "find_outliers before (70be0db)", before, "< 5 s at 100k",
                 cpu_s=round(cpu, 2), peer_cpu_s=round(before_cpu, 2), planted_found=len(top & set(range(5))),
                 flagged=len(flagged), flagged_before=len(flagged_before),
                 flagged_jaccard=round(len(flagged & flagged_before) / max(len(flagged | flagged_before), 1), 3),
                 top1pct_overlap=round(len(head & head_before) / m, 3),
                 ratio_median_abs_diff=round(float(np.median(np.abs(ratios - ratios_before))), 4)),
            _row("  outlier k-NN distances", n, knn, "old brute force k-NN", peer, cpu_s=round(knn_cpu, 2),
                 peer_cpu_s=None if peer_cpu is None else round(peer_cpu, 2), **excess)]


def _add_crops(ws, project_id, n, seed):
    """``n`` synthetic 32x32 crops (one PNG blob each) in 6 classes; their ids, true and given labels
    (3 % given wrong)."""
    import cv2

    from defectlab.store import add_item, create_batch

    rng = np.random.default_rng(seed)
    truth = rng.integers(0, N_CLASSES, n)
    given = truth.copy()
    flip = rng.random(n) < NOISE
    given[flip] = (truth[flip] + 1) % N_CLASSES
    ids = []
    yy, xx = np.mgrid[0:32, 0:32]
    with ws.transaction() as conn:
        batch = create_batch(conn, project_id, "import", "bench", "local")
        for i in range(n):
            c = int(truth[i])
            wave = 40 * np.sin((xx * (c + 1) + yy * (N_CLASSES - c)) / 3.0 + rng.random() * 6)
            img = np.clip(128 + wave + rng.normal(0, 12, (32, 32)), 0, 255).astype(np.uint8)
            sha, rel = ws.put_blob(cv2.imencode(".png", img)[1].tobytes(), "png")
            ids.append(add_item(conn, project_id, sha256=sha, blob=rel, width=32, height=32, channels=1,
                                source=f"crops/{i:06d}.png", batch_id=batch))
    return np.asarray(ids, dtype=np.int64), truth, given


def build_workspace(root, n, seed=0):
    """A workspace of ``n`` synthetic 32x32 crops in 6 classes (3 % labeled wrong) and one trained run
    (fast features, logistic regression, 3 folds)."""
    from defectlab.learn import train_project
    from defectlab.store import annotate_many, create_project, open_workspace

    ws = open_workspace(root)
    classes = [f"class{k}" for k in range(N_CLASSES)]
    p = create_project(ws, "bench", classes)
    ids, _, given = _add_crops(ws, p.id, n, seed)
    for k, name in enumerate(classes):
        annotate_many(ws, ids[given == k].tolist(), name, source="import")
    run = train_project(ws, "bench", model="logreg", preset="fast", folds=3, seed=0)
    return ws, p, run["run_id"]


class _SyntheticFeatures:
    """Stands in for the image features of a big page workspace (``--page-synthetic``): each item's row
    comes from its true class (:func:`synthetic_features`' recipe), by item id or by sha256. Everything
    else -- the store, training, the run, the queues, the pages -- is the real code."""

    def __init__(self, ws, ids, truth, spec="fast", seed=0):
        from defectlab.features import feature_names, get_spec

        self.spec = get_spec(spec)
        f = len(feature_names(self.spec))
        rng = np.random.default_rng(seed)
        centres = rng.normal(0, 3, (N_CLASSES, 12))
        mix = rng.normal(0, 1, (12, f))
        latent = centres[truth] + rng.normal(0, 1, (ids.size, 12))
        self.X = (latent @ mix + rng.normal(0, 0.5, (ids.size, f))).astype(np.float32)
        self.row_of_id = {int(i): r for r, i in enumerate(ids.tolist())}
        with ws.read() as conn:
            self.row_of_sha = {sha: self.row_of_id[int(i)] for i, sha in
                               conn.execute("SELECT id, sha256 FROM items")}

    def by_ids(self, item_ids):
        return self.X[[self.row_of_id[int(i)] for i in item_ids]].astype(np.float64)

    def patches(self):
        """(module, name, replacement) for the feature look-ups of training and of the queues."""
        import defectlab.features as features
        import defectlab.learn as learn
        import defectlab.learn.runs as runs

        def train_features(ws, data, proj, spec, progress, n_jobs, scheduler):
            return self.by_ids(data.item_ids), data

        def run_features(ws, run_id, item_ids, progress=None, n_jobs=2):
            return self.by_ids(item_ids)

        def extract_cached(shas, load_images, spec, cache_dir, n_jobs=1, progress=None):
            return self.X[[self.row_of_sha[s] for s in shas]].astype(np.float64)

        return [(runs, "_features_of_training_set", train_features), (learn, "run_features", run_features),
                (features, "extract_cached", extract_cached)]


def build_workspace_synthetic(root, n, seed=0):
    """Like :func:`build_workspace` (real crops, labels, a real logistic-regression run and its stored
    queues) but with :class:`_SyntheticFeatures` instead of computing image features, so a 100,000-item
    workspace builds in minutes. Returns ``(ws, project, run_id, undo)``; call ``undo()`` after timing."""
    from defectlab.learn import train_project
    from defectlab.store import annotate_many, create_project, open_workspace

    ws = open_workspace(root)
    classes = [f"class{k}" for k in range(N_CLASSES)]
    p = create_project(ws, "bench", classes)
    ids, truth, given = _add_crops(ws, p.id, n, seed)
    for k, name in enumerate(classes):
        annotate_many(ws, ids[given == k].tolist(), name, source="import")
    fake = _SyntheticFeatures(ws, ids, truth)
    saved = []
    for module, name, replacement in fake.patches():
        saved.append((module, name, getattr(module, name)))
        setattr(module, name, replacement)

    def undo():
        for module, name, original in saved:
            setattr(module, name, original)

    run = train_project(ws, "bench", model="logreg", preset="fast", folds=3, seed=0)
    return ws, p, run["run_id"], undo


def _apptest(ws_root, page, timeout=600):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=timeout)
    at.session_state["workspace"] = str(ws_root)
    at.session_state["lang"] = "en"
    at.run()
    return at


def time_pages(ws, project, run_id, repeats=1):
    """Rows for an existing workspace (e.g. ``benchmarks/scale.py``'s 100k one): the run's queues
    computed once (as the training job does) beside the old on-open computation, the Review page's
    first open, and a Projects page rerun beside the old label scans."""
    from defectlab.quality import label_issues_for_run
    from defectlab.store import current_labels, get_project

    p = get_project(ws, project)
    home = _apptest(ws.root, None)  # another person's session on the Projects page
    computed, t_queues, during = _queues_beside_reruns(ws, run_id, home)
    n = sum(1 for _ in current_labels(ws, p.id))
    warm = _apptest(ws.root, None)  # a running server has the page's modules imported already
    warm.switch_page("defectlab/ui/pages/review.py").run()
    first, first_cpu = [], []  # a new session's first open of the Review page (confusion, then the error queue)
    for _ in range(max(repeats, 2)):
        at = _apptest(ws.root, None)
        at.session_state["project"] = p.name
        t0, c0 = time.perf_counter(), time.process_time()
        at.switch_page("defectlab/ui/pages/review.py").run()
        at.radio(key="rev_view").set_value("issues").run()
        first.append(time.perf_counter() - t0)
        first_cpu.append(time.process_time() - c0)
        assert not at.exception, [e.value for e in at.exception]
    old, _ = _best(lambda: label_issues_for_run(ws, p.name, run_id), repeats)
    old_cpu = _CPU["last"]
    at = _apptest(ws.root, None)  # the home page is the Projects page
    at.run()
    rerun, _ = _best(lambda: at.run(), max(repeats, 3))
    rerun_cpu = _CPU["last"]
    assert not at.exception, [e.value for e in at.exception]
    scans, _ = _best(lambda: [current_labels(ws, p.id) for _ in range(4)], max(repeats, 3))
    return [_row("queues after training", n, t_queues, None, None, None,
                 per_queue=computed["seconds"]),
            _row("projects rerun during it", n, float(np.median(during)) if during else float("nan"),
                 "the same rerun, nothing running", rerun, "another session is not blocked",
                 reruns=len(during), slowest=round(max(during), 3) if during else None),
            _row("review page first open", n, min(first), "old open (label_issues_for_run)", old,
                 "< 2 s at 100k", cpu_s=round(first_cpu[int(np.argmin(first))], 2), peer_cpu_s=round(old_cpu, 2)),
            _row("projects page rerun", n, rerun, "old label scans (current_labels x 4)", scans,
                 "< 0.3 s at 100k", cpu_s=round(rerun_cpu, 3))]


def _queues_beside_reruns(ws, run_id, home):
    """Compute the run's queues in a background thread (as the training job does) while another session
    reruns the Projects page; (result, seconds of the computation, seconds of each rerun meanwhile)."""
    import threading

    from defectlab.quality import compute_run_queues

    home.run()
    out = {}

    def compute():
        t0 = time.perf_counter()
        out["computed"] = compute_run_queues(ws, run_id)
        out["seconds"] = time.perf_counter() - t0

    worker = threading.Thread(target=compute)
    worker.start()
    during = []
    while worker.is_alive():
        t0 = time.perf_counter()
        home.run()
        if worker.is_alive():
            during.append(time.perf_counter() - t0)
        time.sleep(0.5)
    worker.join()
    assert not home.exception, [e.value for e in home.exception]
    return out["computed"], out["seconds"], during


_RUNNING = ("[data-testid='stToolbar'] button:has-text('Stop'), [data-testid='stSkeleton'], "
            "[data-testid='stStatusWidget'] button:has-text('Stop')")


def _seconds_until_drawn(page, t0, selector, timeout=120.0):
    """Seconds from ``t0`` until ``selector`` is visible and Streamlit's run has ended.

    The end is the first of three consecutive calm polls (50 ms apart), so the figure is what a person
    waits for, without the calm tail the tests' ``wait_ready`` adds (at least 0.7 s)."""
    page.locator(selector).first.wait_for(timeout=timeout * 1000)
    first_calm, calm = None, 0
    while calm < 3 and time.perf_counter() - t0 < timeout:
        if page.locator(_RUNNING).count() > 0:
            first_calm, calm = None, 0
        else:
            first_calm = first_calm or time.perf_counter()
            calm += 1
        page.wait_for_timeout(50)
    return (first_calm or time.perf_counter()) - t0


_CHART = "[data-testid='stVegaLiteChart'], [data-testid='stArrowVegaLiteChart']"


def browser_rows(ws_root, n, port=8630, repeats=2):
    """What a person sees, in Chromium (the harness of ``tests/browser``), timed to the content drawn and
    the run ended (:func:`_seconds_until_drawn`).

    Rows: a new tab opens the Review page (confusion matrix drawn), then picks "Likely label errors" (the
    first issue's image shown); and a person already on the Projects page clicks "Review" in the sidebar.
    Each repeat is a fresh tab of one browser context; the server keeps running (modules imported), as on
    a plant's server. Peers: the Projects page opened the same ways (new tab; from the Review page)."""
    import os
    import signal
    import subprocess
    import urllib.request

    sys.path.insert(0, str(REPO / "tests" / "browser"))
    from conftest import CHROMIUM, CHROMIUM_ARGS, new_page, wait_ready
    from playwright.sync_api import sync_playwright

    env = {**os.environ, "DEFECTLAB_WORKSPACE": str(ws_root), "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(REPO / "app.py"), "--server.headless",
                             "true", "--server.port", str(port), "--browser.gatherUsageStats", "false",
                             "--server.fileWatcherType", "none"], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    times = {"opened": [], "issues": [], "home": [], "nav_review": [], "nav_home": []}
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):  # noqa: S310 (fixed local url)
                    break
            except OSError:
                time.sleep(0.5)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            page = new_page(browser)  # warm-up: the server imports the pages' modules once
            context = page.context
            page.goto(f"{url}/review")
            _seconds_until_drawn(page, time.perf_counter(), _CHART, timeout=300)
            wait_ready(page)
            page.close()
            for _ in range(repeats):
                _time_new_tabs(context, url, times)
                _time_navigation(context, url, times)
            browser.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    best = {k: min(v) for k, v in times.items()}
    return [_row("review page open (Chromium)", n, best["opened"], "projects page open (Chromium)", best["home"],
                 "< 2 s at 100k", then_issue_queue_s=round(best["issues"], 3)),
            _row("review via sidebar (Chromium)", n, best["nav_review"], "projects via sidebar (Chromium)",
                 best["nav_home"], "< 2 s at 100k")]


def _time_new_tabs(context, url, times):
    """A new tab on the Review page, then its label-error view; a new tab on the Projects page."""
    page = context.new_page()
    t0 = time.perf_counter()
    page.goto(f"{url}/review")
    times["opened"].append(_seconds_until_drawn(page, t0, _CHART))
    t0 = time.perf_counter()
    page.get_by_text("Likely label errors", exact=True).click()
    times["issues"].append(_seconds_until_drawn(page, t0, "[data-testid='stImage'] img, .dl-canvas img"))
    page.close()
    page = context.new_page()
    t0 = time.perf_counter()
    page.goto(f"{url}/")
    times["home"].append(_seconds_until_drawn(page, t0, "[data-testid='stMetric']"))
    page.close()


def _time_navigation(context, url, times):
    """On the Projects page, click "Review" in the sidebar; then "Projects" back."""
    page = context.new_page()
    page.goto(f"{url}/")
    _seconds_until_drawn(page, time.perf_counter(), "[data-testid='stMetric']")
    nav = page.locator("[data-testid='stSidebarNav']")
    t0 = time.perf_counter()
    nav.get_by_text("Review", exact=True).click()
    times["nav_review"].append(_seconds_until_drawn(page, t0, _CHART))
    t0 = time.perf_counter()
    nav.get_by_text("Projects", exact=True).click()
    times["nav_home"].append(_seconds_until_drawn(page, t0, "[data-testid='stMetric']"))
    page.close()


def page_rows(n, repeats=1, synthetic=False, browser=False):
    """Page rows on a workspace built here: real features (:func:`build_workspace`), or with
    ``synthetic`` stand-in features (:func:`build_workspace_synthetic`, for 100k)."""
    tmp = Path(tempfile.mkdtemp(prefix="defectlab-scale-review-"))
    undo = None
    try:
        t0 = time.perf_counter()
        if synthetic:
            ws, p, run_id, undo = build_workspace_synthetic(tmp / "ws", n)
        else:
            ws, p, run_id = build_workspace(tmp / "ws", n)
        print(f"  (workspace of {n} items built and trained in {time.perf_counter() - t0:.0f} s"
              f"{', synthetic features' if synthetic else ''})")
        rows = time_pages(ws, p.name, run_id, repeats)
        if browser:
            rows += browser_rows(ws.root, n)
        return rows
    finally:
        if undo is not None:
            undo()
        shutil.rmtree(tmp, ignore_errors=True)


ROW_GROUPS = ("label-issues", "duplicates", "outliers", "pages")


def run_rows(n, *, repeats=1, full=False, pages=True, synthetic_pages=False, browser=False, only=None):
    """Every row of this benchmark at ``n`` items, as dicts.

    Parameters
    ----------
    n : int
    repeats : int
        Best of this many timings, for defectlab and its peer alike.
    full : bool
        Also time the slow peers (old brute force, all-pairs Hamming) above 10,000 items.
    pages : bool
        Also build a real workspace of ``n`` items and time the pages through AppTest.
    synthetic_pages : bool
        Build that workspace with stand-in features (:func:`build_workspace_synthetic`).
    browser : bool
        Also time the Review page in Chromium on that workspace (:func:`browser_rows`).
    only : sequence of str or None
        Run only these groups of :data:`ROW_GROUPS` (``None``: all; ``pages`` still needs ``pages``).

    Returns
    -------
    list of dict
        ``row, n, seconds, peer, peer_seconds, ratio, target`` and row-specific extras.
    """
    only = set(ROW_GROUPS if only is None else only)
    rows = []
    for group, fn in (("label-issues", label_issue_rows), ("duplicates", duplicate_rows),
                      ("outliers", outlier_rows)):
        if group in only:
            rows += fn(n, repeats, full)
    if pages and "pages" in only:
        rows += page_rows(n, repeats, synthetic=synthetic_pages, browser=browser)
    return rows


def _fmt(row):
    if row["peer"] is None:
        peer = ""
    else:
        peer = "" if row["peer_seconds"] is None else (
            f"  vs {row['peer']}: {row['peer_seconds']:.3f} s  (ratio {row['ratio']:.3f})")
    extra = {k: v for k, v in row.items() if k not in
             ("row", "n", "seconds", "peer", "peer_seconds", "ratio", "target")}
    if row["peer_seconds"] is None and row["peer"]:
        peer = f"  ({row['peer']}: not run at this size)"
    return (f"{row['row']:<28} n={row['n']:<7} {row['seconds']:8.3f} s{peer}"
            + (f"  {extra}" if extra else ""))


def main(argv=None):
    import logging

    logging.getLogger("streamlit").setLevel(logging.ERROR)  # AppTest's bare-mode notes
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--full", action="store_true", help="slow peers also above 10k items")
    ap.add_argument("--page-max", type=int, default=10_000,
                    help="largest workspace built with real image features for the page rows")
    ap.add_argument("--page-synthetic-max", type=int, default=100_000,
                    help="larger workspaces up to this size are built with stand-in features "
                         "(real store, training, queues and pages; see build_workspace_synthetic)")
    ap.add_argument("--browser", action="store_true", help="also open the Review page in Chromium (port 8630)")
    ap.add_argument("--rows", nargs="+", choices=ROW_GROUPS, default=list(ROW_GROUPS),
                    help="run only these groups of rows (e.g. --rows outliers)")
    args = ap.parse_args(argv)
    for n in args.sizes:
        print(f"== {n} items")
        for row in run_rows(n, repeats=args.repeats, full=args.full, pages=n <= args.page_synthetic_max,
                            synthetic_pages=n > args.page_max, browser=args.browser, only=args.rows):
            print(_fmt(row))


if __name__ == "__main__":
    main()
