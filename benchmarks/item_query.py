"""Benchmark: one page of the item browser at 100,000 items -- defectlab's indexed SQL query
(:func:`defectlab.store.browse.query_items`, LIMIT/OFFSET over the derived-label cache) against the
peer, loading the whole project as a DataFrame with its derived labels and filtering it in pandas
(:func:`defectlab.store.items_frame`, what the pages did before the browser).

Both answer the same question ("page 3 of items labeled B whose source matches d/1*", 48 per page) on the
same synthetic workspace, same repeats; the answers are checked equal. Also timed: the first query
(the cache is built once) and a query after 100 new labels (incremental refresh).

Run::

    .venv/bin/python benchmarks/item_query.py            # 100,000 items
    .venv/bin/python benchmarks/item_query.py --n 20000 --repeats 3
"""

import argparse
import fnmatch
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from defectlab.store import annotate_many, create_project, items_frame, open_workspace
from defectlab.store.browse import query_items, refresh_item_labels


def build(root, n):
    ws = open_workspace(root)
    p = create_project(ws, "Big", ["a", "b", "c"])
    with ws.transaction() as conn:
        conn.executemany(
            "INSERT INTO items (project_id, sha256, blob, width, height, channels, source, created_at) "
            "VALUES (?, ?, 'blobs/x', 8, 8, 1, ?, '2026-01-01')",
            [(p.id, f"{k:064x}", f"d/{k}.png") for k in range(n)])
        conn.executemany(
            "INSERT INTO annotations (item_id, label, user, source, created_at) VALUES (?, ?, ?, 'human', ?)",
            [(k + 1, "abc"[k % 3], ("ann", "bob")[k % 2], "2026-01-02") for k in range(0, n, 2)])
    return ws, p


def peer(ws, p, offset, limit):
    df = items_frame(ws, p.id)
    sel = df[(df["label"] == "b") & df["source"].map(lambda s: fnmatch.fnmatchcase(s, "d/1*"))]
    return len(sel), [int(i) for i in sel["id"].iloc[offset:offset + limit]]


def ours(ws, p, offset, limit):
    res = query_items(ws, p, {"label": "b", "source": "d/1*"}, limit=limit, offset=offset)
    return res["total"], [r["item_id"] for r in res["items"]]


def timed(func, repeats):
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = func()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ws, p = build(Path(tmp) / "ws", args.n)
        start = time.perf_counter()
        refresh_item_labels(ws, p.id)
        first = time.perf_counter() - start
        t_ours, a = timed(lambda: ours(ws, p, 96, 48), args.repeats)
        t_peer, b = timed(lambda: peer(ws, p, 96, 48), args.repeats)
        assert a == b, "the two answers differ"
        annotate_many(ws, list(range(2, 202, 2)), "b")
        start = time.perf_counter()
        ours(ws, p, 96, 48)
        incremental = time.perf_counter() - start
    print(f"items: {args.n:,}, page of 48, median of {args.repeats}")
    print(f"  query_items (SQL, label cache)   {t_ours * 1000:8.1f} ms")
    print(f"  items_frame + pandas (peer)      {t_peer * 1000:8.1f} ms   ratio peer/ours {t_peer / t_ours:6.1f}x")
    print(f"  building the label cache once    {first * 1000:8.1f} ms")
    print(f"  query after 100 new labels       {incremental * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
