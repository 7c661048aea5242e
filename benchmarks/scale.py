"""Plant scale: import, train, warm retrain, workers and Dask at 1k / 10k / 100k crops, each with its peer.

    nice .venv/bin/python benchmarks/scale.py [--sizes 1000,10000,100000] [--sample 4000] [--no-dask]
        [--train-only | --import-only]

For each size a workspace is built from generated 64x64 synthetic texture crops (six classes, 3% of
the labels flipped at random) in a temporary folder that is removed at the end; the images are
written and imported in chunks (nothing holds them all in memory). Rows, each with its peer measured
in the same run:

* ``import``: ``defectlab import`` of the folder vs the floor (read + sha256 + ``cv2.imdecode`` of
  every file, one thread, no checks, no database). Target <= 2x. The readers are worker processes from
  ``MIN_PROCESS_IMAGES`` images with ``--jobs`` > 1 (else the storing thread); ``--import-jobs 1,2`` adds
  imports of the same folder with those settings (fresh workspaces, same floor), to compare them in one
  run. Every file is read once before the floor (untimed: both sides read from the page cache), and the
  floor is timed again after the imports; the faster of the two floors is the peer.
* ``train 5-fold``: ``defectlab train`` (default ensemble, default features, cold feature cache) in a
  fresh process; seconds, CPU seconds of that process and its feature worker processes (user + system:
  what the run costs whatever the machine's load) and peak RSS (the training process; beside it the
  largest child process's peak -- ``RUSAGE_CHILDREN``, which also counts short helpers forked from the
  big parent, whose RSS starts as the parent's -- and the peak of the sum over the process and all its
  children, sampled every 0.2 s).
  Peer: the issue's 250 s / 1.9 GB at 100k. Target < 90 s and < 1.5 GB.
* ``warm retrain``: the same again in a new process (every feature cached). Target < 30 s.
* ``features 1 vs 2 workers``: ``extract_cached`` of ``--sample`` images (with the spec training chooses
  for them) into an empty cache with ``n_jobs=1`` (the peer), 2 threads (the former path) and 2 worker
  processes (``features/procpool.py``, what training uses); the rows must be identical (measured at one
  size, ``--extras-at``: the sample does not depend on the workspace size). ``--pool-sizes 256,1024``
  adds 1 vs 2 processes on fewer images (where the pool's start-up pays off: ``MIN_POOL_IMAGES``).
* ``--all-features``: the same 1 vs 2 processes on *every* item of each size (with ``--train-only`` too).
* ``features Dask vs local``: the same sample through a ``LocalCluster`` of 2 worker processes vs
  local 2 threads (bit-identical rows checked), cluster start-up reported separately.

When ``benchmarks/scale_review.py`` exists (the quality queues' rows) its ``run_rows(n, ...)`` is called
on the same workspace and its rows are printed too. Run it with ``nice`` on a shared machine: the
numbers move with the load (the load average is printed with each size).
"""

import argparse
import inspect
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from import_speed import floor as import_floor  # noqa: E402 (the one read+sha256+decode floor)

CLASSES = ("crazing", "inclusion", "patches", "pitted", "scratches", "stripes")
PROJECT = "scale"
_GEN_CHUNK = 600


# -- data -------------------------------------------------------------------------------------------

def _texture_batch(rng, kind, n, size=64):
    """``n`` crops of class ``kind`` (index into CLASSES): noise plus a class-specific pattern."""
    img = rng.normal(128, 14, (n, size, size))
    yy, xx = np.mgrid[0:size, 0:size]
    if kind == 0:  # crazing: oblique fine waves
        f = rng.uniform(0.3, 0.6, (n, 1, 1))
        img += 25 * np.sin(f * xx + 1.3 * f * yy)
    elif kind == 1:  # inclusion: a few dark blobs
        for _ in range(3):
            c = rng.integers(8, size - 8, (n, 2))
            r = rng.uniform(2, 5, (n, 1, 1))
            img -= 60 * (((yy - c[:, 0, None, None]) ** 2 + (xx - c[:, 1, None, None]) ** 2) < r ** 2)
    elif kind == 2:  # patches: blocky bright areas
        img += 30 * (rng.random((n, 8, 8)) > 0.6).repeat(8, 1).repeat(8, 2)
    elif kind == 3:  # pitted: sparse dark pits
        img -= 70 * (rng.random((n, size, size)) > 0.985)
    elif kind == 4:  # scratches: one bright vertical line
        c = rng.integers(10, size - 10, (n, 1, 1))
        img += 60 * (np.abs(xx - c) < 1.5)
    else:  # stripes: horizontal bands
        f = rng.uniform(0.8, 1.2, (n, 1, 1))
        img += 35 * np.sin(f * yy)
    return np.clip(img, 0, 255).astype(np.uint8)


def make_crops(root, n, seed=0, mislabel=0.03):
    """Write ``n`` PNG crops into ``root/<label>/`` (a few % with a wrong label); returns n flipped."""
    rng = np.random.default_rng(seed)
    for c in CLASSES:
        (root / c).mkdir(parents=True, exist_ok=True)
    k = flipped = 0
    for start in range(0, n, _GEN_CHUNK):
        kinds = rng.integers(0, len(CLASSES), min(_GEN_CHUNK, n - start))
        for kind in range(len(CLASSES)):
            for im in _texture_batch(rng, kind, int((kinds == kind).sum())):
                label = kind
                if rng.random() < mislabel:
                    label = int(rng.integers(0, len(CLASSES)))
                    flipped += label != kind
                cv2.imwrite(str(root / CLASSES[label] / f"c{k:06d}.png"), im)
                k += 1
    return flipped


# -- measured steps -----------------------------------------------------------------------------------

def _tree_rss_mb(pid):
    """RSS (MB) of ``pid`` and all its descendants, from /proc (Linux); 0 elsewhere."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/status") as fh:
                total += next((int(line.split()[1]) for line in fh if line.startswith("VmRSS:")), 0)
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    stack += [int(x) for x in fh.read().split()]
        except (OSError, ValueError):
            continue
    return total / 1024


def _sample_tree_rss(peak, stop):
    """Thread: keep ``peak[0]`` = the largest RSS of this process + its workers, sampled every 0.2 s."""
    while not stop.wait(0.2):
        peak[0] = max(peak[0], _tree_rss_mb(os.getpid()))


def _child_train(ws_path, n_jobs):
    """(In a fresh process) train the project; print timings and this process's peak RSS as JSON."""
    import threading

    from defectlab.learn import train_project
    from defectlab.store import open_workspace

    peak, stop = [0.0], threading.Event()
    sampler = threading.Thread(target=_sample_tree_rss, args=(peak, stop), daemon=True)
    sampler.start()
    t = time.perf_counter()
    s = train_project(open_workspace(ws_path, create=False), PROJECT, folds=5, seed=0, n_jobs=n_jobs,
                      scheduler="local")
    stop.set()
    use = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)  # the feature worker processes (joined)
    print(json.dumps({"seconds": time.perf_counter() - t, "timings": s["timings"], "accuracy": s["accuracy"],
                      "run_id": s["run_id"], "cpu_s": use.ru_utime + use.ru_stime + kids.ru_utime + kids.ru_stime,
                      "peak_rss_mb": use.ru_maxrss / 1024, "worker_peak_rss_mb": kids.ru_maxrss / 1024,
                      "peak_tree_rss_mb": peak[0]}))


def train_in_child(ws_path, n_jobs=2):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, __file__, "--child-train", str(ws_path), "--jobs", str(n_jobs)],
                         env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _sample(ws, n):
    """``n`` random sample items of the project (sha256, blob)."""
    from defectlab.store import get_project, items_frame

    df = items_frame(ws, get_project(ws, PROJECT).id, role="sample")
    return df.sample(n=min(n, len(df)), random_state=0).reset_index(drop=True)


def _train_spec(rows):
    """The spec ``train`` chooses for these crops (``auto_spec``: a 64 x 64 working size for 64 x 64 crops)."""
    from defectlab.features import auto_spec, get_spec

    return auto_spec(get_spec(None), rows["height"], rows["width"])


def _blob_files(ws, rows):
    from defectlab.features.procpool import BlobFiles

    return BlobFiles({sha: (str(ws.blob_path(b)), b) for sha, b in zip(rows["sha256"], rows["blob"], strict=True)})


def _timed_extract(rows, loader, spec, cache, n_jobs):
    from defectlab.features import extract_cached

    t, kids = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    c = time.process_time()
    X = extract_cached(list(rows["sha256"]), loader, spec, cache, n_jobs=n_jobs)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = time.process_time() - c + (after.ru_utime + after.ru_stime) - (kids.ru_utime + kids.ru_stime)
    shutil.rmtree(cache, ignore_errors=True)
    return X, time.perf_counter() - t, cpu


def workers_rows(ws, rows, tmp, threads=True):
    """extract_cached of ``rows`` into empty caches: 1 worker, 2 threads (a plain loader) and 2 processes
    (BlobFiles); identical rows. Returns ``({mode: seconds}, {mode: CPU s}, X)``."""
    from defectlab.store import load_images

    blob = dict(zip(rows["sha256"], rows["blob"], strict=True))

    def loader(shas):  # a plain function: extract_cached uses threads for it
        return load_images(ws, [blob[s] for s in shas])

    spec, files = _train_spec(rows), _blob_files(ws, rows)
    modes = [("1", files, 1)] + ([("2 threads", loader, 2)] if threads else []) + [("2 processes", files, 2)]
    out, times, cpu = {}, {}, {}
    for name, load, n_jobs in modes:
        out[name], times[name], cpu[name] = _timed_extract(rows, load, spec, tmp / f"cache-{n_jobs}", n_jobs)
    for name in out:
        assert out[name].tobytes() == out["1"].tobytes(), f"{name} gave different features than 1 worker"
    return times, cpu, out["1"]


def pool_rows(ws, sample, tmp, sizes):
    """1 worker vs 2 processes on the first ``k`` images of the sample, for each ``k`` (pool forced on)."""
    from defectlab.features import procpool

    rows, floor = [], procpool.MIN_POOL_IMAGES
    procpool.MIN_POOL_IMAGES = 1
    try:
        for k in sizes:
            part = sample.iloc[:k]
            times, cpu, _ = workers_rows(ws, part, tmp, threads=False)
            rows.append(_row(len(part), f"features of {len(part)} images, 2 processes (pool forced; "
                                        f"CPU {cpu['2 processes']:.1f}s vs {cpu['1']:.1f}s)",
                             times["2 processes"], "s", "1 worker", times["1"], f"pool from {floor}"))
    finally:
        procpool.MIN_POOL_IMAGES = floor
    return rows


def _worker_table(n, times, cpu, label):
    rows = []
    for name in [m for m in times if m != "1"]:
        rows.append(_row(n, f"features of {label}, {name} (CPU {cpu[name]:.0f}s vs {cpu['1']:.0f}s)",
                         times[name], "s", "1 worker", times["1"], "speed-up = 1/ratio"))
    return rows


def dask_rows(ws, rows, local_X):
    """The sample's features through a 2-process LocalCluster vs the local rows (bit-identical)."""
    from distributed import Client, LocalCluster

    from defectlab.learn.distributed import extract_blobs_dask

    t = time.perf_counter()
    env = {"PYTHONPATH": str(REPO)}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      env=env) as cluster, Client(cluster) as client:
        t_start = time.perf_counter() - t
        root = str(ws.root.resolve())
        paths = [(root, str(b)) for b in rows["blob"]]
        t = time.perf_counter()
        X = extract_blobs_dask(client, paths, _train_spec(rows))
        t_dask = time.perf_counter() - t
    assert X.tobytes() == local_X.tobytes(), "Dask features differ from the local path"
    return t_start, t_dask


def review_rows(n, ws, run_id):
    """Rows of benchmarks/scale_review.py (the quality queues) on the same workspace, if present."""
    try:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import scale_review
    except ImportError:
        return None
    kwargs = {"ws": ws, "workspace": ws, "ws_path": ws.root, "project": PROJECT, "run_id": run_id,
              "run": run_id}
    accepted = inspect.signature(scale_review.run_rows).parameters
    try:
        return scale_review.run_rows(n, **{k: v for k, v in kwargs.items() if k in accepted})
    except Exception as exc:  # their rows must not lose ours
        print(f"scale_review.run_rows({n}) failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return [f"scale_review.run_rows failed: {type(exc).__name__}: {exc}"]


# -- table -------------------------------------------------------------------------------------------

def _row(size, step, value, unit, peer, peer_value, target):
    ratio = value / peer_value if peer_value else float("nan")
    return {"n": size, "step": step, "value": round(value, 3), "unit": unit, "peer": peer,
            "peer_value": round(peer_value, 3) if peer_value else peer_value, "ratio": round(ratio, 3),
            "target": target}


def _import_jobs(args):
    """The ``--import-jobs`` settings measured besides ``--jobs`` (whose workspace the other rows use)."""
    return [j for j in (int(v) for v in args.import_jobs.split(",") if v) if j != args.jobs]


def _read_all(src):
    for p in src.rglob("*"):
        if p.is_file():
            p.read_bytes()


def _timed_floor(src):
    t, c = time.perf_counter(), time.process_time()
    import_floor(src)
    return time.perf_counter() - t, time.process_time() - c


def _import(n, src, ws_path, jobs):
    """``(readers, seconds, CPU seconds of this process)`` of importing ``src`` into a new workspace."""
    from defectlab.ingest import MIN_PROCESS_IMAGES, import_source
    from defectlab.store import open_workspace

    ws = open_workspace(ws_path)
    t, c = time.perf_counter(), time.process_time()
    report = import_source(ws, PROJECT, src, n_jobs=jobs)
    t_import, c_import = time.perf_counter() - t, time.process_time() - c
    assert report.imported == n, report.to_dict()
    readers = f"{jobs} processes" if jobs > 1 and n >= MIN_PROCESS_IMAGES else "the storing thread"
    return readers, t_import, c_import


def run_size(n, args, tmp):
    from defectlab.store import open_workspace

    rows = []
    src, ws_path = tmp / f"src-{n}", tmp / f"ws-{n}"
    t = time.perf_counter()
    flipped = make_crops(src, n)
    print(f"[{n}] generated {n} crops ({flipped} mislabeled) in {time.perf_counter() - t:.1f}s, "
          f"load average {os.getloadavg()[0]:.1f}", file=sys.stderr)
    os.sync()  # the generated files' write-back is not charged to the floor or the import
    _read_all(src)  # both sides read from the page cache (the machine may have dropped the new files)
    floors = [_timed_floor(src)]
    imports = []
    for jobs in _import_jobs(args):  # the extra settings first, into workspaces of their own
        imports.append(_import(n, src, tmp / f"ws-{n}-jobs{jobs}", jobs))
        shutil.rmtree(tmp / f"ws-{n}-jobs{jobs}", ignore_errors=True)
        os.sync()
    imports.append(_import(n, src, ws_path, args.jobs))
    floors.append(_timed_floor(src))  # again after the imports: the faster floor is the peer
    t_floor, c_floor = min(floors)
    for label, t_import, c_import in imports:
        rows.append(_row(n, f"import, readers: {label} (CPU of this process {c_import:.0f}s vs floor's "
                            f"{c_floor:.0f}s; floors before / after {floors[0][0]:.1f} / {floors[1][0]:.1f}s)",
                         t_import, "s", "floor read+sha256+decode (1 thread)", t_floor, "<= 2x"))
    ws = open_workspace(ws_path)
    shutil.rmtree(src, ignore_errors=True)
    if args.import_only:
        shutil.rmtree(ws_path, ignore_errors=True)
        return rows, None

    cold = train_in_child(ws_path, args.jobs)
    rows.append(_row(n, f"train 5-fold cold, {args.jobs} jobs (features {cold['timings']['features']:.0f}s, "
                        f"fit {cold['timings']['fit']:.0f}s, CPU {cold['cpu_s']:.0f}s, acc {cold['accuracy']:.4f})",
                     cold["seconds"], "s", "issue: 250 s at 100k", 250.0 * n / 100_000, "< 90 s at 100k"))
    rows.append(_row(n, f"train peak RSS (largest child {cold.get('worker_peak_rss_mb', 0):.0f} MB; "
                        f"all processes at once {cold.get('peak_tree_rss_mb', 0):.0f} MB)",
                     cold["peak_rss_mb"], "MB", "issue: 1.9 GB at 100k",
                     1900.0 * n / 100_000 if n >= 100_000 else None, "< 1500 MB"))
    warm = train_in_child(ws_path, args.jobs)
    rows.append(_row(n, f"warm retrain (features {warm['timings']['features']:.1f}s, "
                        f"fit {warm['timings']['fit']:.1f}s, CPU {warm['cpu_s']:.0f}s)",
                     warm["seconds"], "s",
                     "cold train", cold["seconds"], "< 30 s at 100k"))
    if args.all_features:
        from defectlab.store import get_project, items_frame

        everything = items_frame(ws, get_project(ws, PROJECT).id, role="sample")
        times, cpu, _ = workers_rows(ws, everything, tmp, threads=False)
        rows += _worker_table(n, times, cpu, f"all {len(everything)} images")
    if args.train_only:
        shutil.rmtree(ws_path, ignore_errors=True)
        return rows, None

    if n != args.extras_at:
        _print(rows, [], file=sys.stderr)  # ours first: the review rows can take many minutes at 100k
        extra = review_rows(n, ws, cold["run_id"])
        shutil.rmtree(ws_path, ignore_errors=True)
        return rows, extra
    sample = _sample(ws, args.sample)
    times, cpu, local_X = workers_rows(ws, sample, tmp)
    rows += _worker_table(n, times, cpu, f"{len(sample)} images")
    if args.pool_sizes:
        rows += pool_rows(ws, sample, tmp, [int(k) for k in args.pool_sizes.split(",") if k])
    if not args.no_dask:
        try:
            t_start, t_dask = dask_rows(ws, sample, local_X)
            rows.append(_row(n, f"features of {len(sample)} images, Dask 2 processes "
                                f"(+{t_start:.1f}s cluster start)", t_dask, "s", "local 2 processes",
                             times["2 processes"], "bit-identical"))
        except ImportError:
            print("dask.distributed not installed: Dask row skipped", file=sys.stderr)
    _print(rows, [], file=sys.stderr)  # ours first: the review rows can take many minutes at 100k
    extra = review_rows(n, ws, cold["run_id"])
    shutil.rmtree(ws_path, ignore_errors=True)
    return rows, extra


def _print(rows, extras, file=None):
    print(f"\n{'n':>7}  {'step':<72} {'value':>9}  {'peer':<38} {'peer':>9} {'ratio':>7}  target", file=file)
    for r in rows:
        pv = "" if r["peer_value"] is None else f"{r['peer_value']:9.2f}"
        print(f"{r['n']:>7}  {r['step']:<72} {r['value']:9.2f}{r['unit']:<2} {r['peer']:<38} {pv:>9} "
              f"{r['ratio']:7.2f}  {r['target']}", file=file, flush=True)
    for n, extra in extras:
        if extra:
            print(f"\nscale_review rows at {n}:")
            for r in extra:
                print("  " + (json.dumps(r, default=str) if not isinstance(r, str) else r))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--sample", type=int, default=4000, help="images for the workers / Dask rows")
    ap.add_argument("--jobs", type=int, default=2, help="training's n_jobs (feature workers and parallel fits)")
    ap.add_argument("--pool-sizes", default="", help="e.g. 256,512,1024,2048: 1 vs 2 processes on that many images")
    ap.add_argument("--all-features", action="store_true",
                    help="1 vs 2 feature worker processes on every item of each size (also with --train-only)")
    ap.add_argument("--no-dask", action="store_true")
    ap.add_argument("--extras-at", type=int, default=None,
                    help="size at which the workers / Dask rows (on --sample images) are measured "
                         "(default: the smallest size >= --sample, else the largest)")
    ap.add_argument("--train-only", action="store_true",
                    help="only the import, train and warm-retrain rows (no workers / Dask / review rows)")
    ap.add_argument("--import-only", action="store_true", help="only the import row")
    ap.add_argument("--import-jobs", default="",
                    help="e.g. 1,2: also import the same folder with these n_jobs (each beside the same floor)")
    ap.add_argument("--child-train", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child_train:
        _child_train(args.child_train, args.jobs)
        return
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.extras_at is None:
        args.extras_at = min([n for n in sizes if n >= args.sample] or [max(sizes)])
    tmp = Path(tempfile.mkdtemp(prefix="defectlab-scale-"))
    rows, extras = [], []
    try:
        for n in sizes:
            r, extra = run_size(n, args, tmp)
            rows += r
            extras.append((n, extra))
            _print(r, [])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\n== all sizes ({os.cpu_count()} cores, load average now {os.getloadavg()[0]:.1f}) ==")
    _print(rows, extras)
    print(json.dumps({"rows": rows}))


if __name__ == "__main__":
    main()
