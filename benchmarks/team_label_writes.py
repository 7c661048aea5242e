"""Cost of one label save (``store.annotate``) and of several processes labeling one workspace.

    .venv/bin/python benchmarks/team_label_writes.py [--n 300] [--procs 4]

Measures, in the same run and on the same kind of workspace:

1. ``annotate`` called alone, as the store does it (a fresh connection per call, closed afterwards);
2. the same while one more connection to the database stays open (the peer): SQLite then skips the
   checkpoint + fsync it does when the *last* connection to a WAL database closes;
3. ``annotate`` inside one caller transaction (``conn=``), the floor;
4. ``--procs`` processes x ``--n`` annotations concurrently (spawn), wall time and rate.

Prints ms per save and the ratios (alone / with the connection kept open). Timings are noisy on a shared
machine: look at the ratio. Measured here (2 shared cores): before the store kept an idle anchor
connection, 21 ms alone vs 1.3 ms with a connection open (16x: every save paid a WAL checkpoint + fsync
on close) and 430 saves/s for 4 processes; after it, 0.9 ms both ways (ratio ~1) and ~1,000 saves/s.
A ratio well above 1 again means that regression is back.
"""

import argparse
import multiprocessing as mp
import sqlite3
import statistics
import tempfile
import time

from defectlab.store import add_item, annotate, create_project, open_workspace


def _workspace(n_items):
    ws = open_workspace(tempfile.mkdtemp(prefix="dl-bench-"))
    p = create_project(ws, "p", ["a", "b"])
    with ws.transaction() as conn:
        ids = [add_item(conn, p.id, sha256=f"{i:064x}", blob="blobs/none", width=1, height=1, channels=1,
                        source=f"{i}.png") for i in range(n_items)]
    return ws, ids


def _per_save(ws, ids, n, conn=None):
    start = time.perf_counter()
    for k in range(n):
        annotate(ws, ids[k % len(ids)], "ab"[k % 2], seconds=1.0, conn=conn)
    return (time.perf_counter() - start) / n


def _worker(root, user, ids, n):
    ws = open_workspace(root, create=False)
    return _per_save(ws, ids, n) * n


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="saves per measurement (default 300)")
    parser.add_argument("--procs", type=int, default=4, help="processes for the concurrent run")
    args = parser.parse_args()

    ws, ids = _workspace(100)
    alone, kept = [], []
    for _ in range(3):
        alone.append(_per_save(ws, ids, args.n))
        keeper = sqlite3.connect(ws.db_path)
        keeper.execute("SELECT 1 FROM users").fetchall()
        kept.append(_per_save(ws, ids, args.n))
        keeper.close()
    with ws.transaction() as conn:
        floor = _per_save(ws, ids, args.n, conn=conn)
    a, k = statistics.median(alone), statistics.median(kept)
    print(f"annotate alone (store as is)          {a * 1e3:7.2f} ms/save")
    print(f"annotate, another connection open     {k * 1e3:7.2f} ms/save   ratio alone/open {a / k:6.1f}x")
    print(f"annotate inside one transaction       {floor * 1e3:7.2f} ms/save")

    ws, ids = _workspace(100)
    with ws.transaction() as conn:
        for k in range(args.procs):
            conn.execute("INSERT INTO users (username, role, created_at) VALUES (?, 'annotator', '')",
                         (f"ann{k}",))
    start = time.perf_counter()
    with mp.get_context("spawn").Pool(args.procs) as pool:
        busy = pool.starmap(_worker, [(str(ws.root), f"ann{k}", ids, args.n) for k in range(args.procs)])
    wall = time.perf_counter() - start
    total = args.procs * args.n
    print(f"{args.procs} processes x {args.n} saves: {wall:.1f} s wall incl. spawn, slowest process "
          f"{max(busy):.1f} s -> {total / max(busy):.0f} saves/s overall, integrity {ws.integrity_check()}")


if __name__ == "__main__":
    main()
