"""No lost work under concurrency: version conflicts, and several processes labeling one workspace."""

import multiprocessing as mp
import time

import pytest

from defectlab.errors import ConflictError
from defectlab.store import (
    annotate,
    create_project,
    current_label,
    label_history,
    open_workspace,
)
from defectlab.team.accounts import create_user

N_PROCS, N_EACH = 4, 500


@pytest.fixture
def team(ws, monkeypatch, add_items):
    create_user(ws, "lead", "lead-pass-1", "lead", by="local", admin_password="local-pass-1")
    for k in range(N_PROCS):
        create_user(ws, f"ann{k}", "ann-pass-1", "annotator", by="lead")
    p = create_project(ws, "p", ["a", "b"], user="lead")
    return ws, p, add_items(ws, p, 50)


def test_two_people_relabeling_the_same_item_get_a_conflict(team):
    ws, _p, items = team
    item = items[0]
    annotate(ws, item, "a", user="ann0")
    seen_by_lead = current_label(ws, item).version  # both look at the item...
    seen_by_ann1 = current_label(ws, item).version
    annotate(ws, item, "b", user="lead", source="review", expected_version=seen_by_lead)  # ...the lead saves
    with pytest.raises(ConflictError, match=r"changed by lead meanwhile \(now b"):
        annotate(ws, item, "a", user="ann1", expected_version=seen_by_ann1)  # ann1's stale save is refused
    assert [r["user"] for r in label_history(ws, item)] == ["ann0", "lead"]  # nothing was written
    fresh = current_label(ws, item)
    annotate(ws, item, "a", user="ann1", expected_version=fresh.version)  # looking again, it works
    assert len(label_history(ws, item)) == 3


def _label_many(root, user, item_ids, n):
    """Worker: ``n`` annotations by ``user``, each tagged ``user:k`` in its comment."""
    ws = open_workspace(root, create=False)
    start = time.perf_counter()
    for k in range(n):
        annotate(ws, item_ids[k % len(item_ids)], "ab"[k % 2], user=user, seconds=1.0, comment=f"{user}:{k}")
    return time.perf_counter() - start


def _relabel_checked(root, user, item_ids, n):
    """Worker: read the version, then save with ``expected_version``; the comment records what was seen."""
    ws = open_workspace(root, create=False)
    saved = conflicts = 0
    for k in range(n):
        item = item_ids[k % len(item_ids)]
        seen = current_label(ws, item).version
        try:
            annotate(ws, item, "ab"[k % 2], user=user, source="human", expected_version=seen,
                     comment=f"{user}:{k}:{seen}")
            saved += 1
        except ConflictError:
            conflicts += 1
    return saved, conflicts


def test_processes_labeling_concurrently_lose_nothing(team):
    ws, _p, items = team
    users = [f"ann{k}" for k in range(N_PROCS)]
    ctx = mp.get_context("spawn")
    start = time.perf_counter()
    with ctx.Pool(N_PROCS) as pool:
        seconds = pool.starmap(_label_many, [(str(ws.root), u, items, N_EACH) for u in users])
    wall = time.perf_counter() - start
    print(f"\n{N_PROCS} processes x {N_EACH} annotations: {wall:.1f} s wall (incl. spawn), "
          f"per process {', '.join(f'{s:.1f}' for s in seconds)} s, "
          f"{N_PROCS * N_EACH / max(seconds):.0f} annotations/s overall")
    with ws.read() as conn:
        rows = conn.execute("SELECT user, comment, item_id, label FROM annotations").fetchall()
    assert len(rows) == N_PROCS * N_EACH
    tags = sorted(r["comment"] for r in rows)
    assert tags == sorted(f"{u}:{k}" for u in users for k in range(N_EACH))  # each exactly once
    for r in rows:  # and each row is the one its process wrote
        u, k = r["comment"].split(":")
        assert (r["user"], r["item_id"], r["label"]) == (u, items[int(k) % len(items)], "ab"[int(k) % 2])
    assert ws.integrity_check() == "ok"
    # every person's latest label of every item is one vote
    assert {current_label(ws, i).n_votes for i in items} == {N_PROCS}


def test_version_checks_hold_across_processes(team):
    ws, _p, items = team
    shared = items[:2]
    users = [f"ann{k}" for k in range(N_PROCS)]
    n = 100
    with mp.get_context("spawn").Pool(N_PROCS) as pool:
        results = pool.starmap(_relabel_checked, [(str(ws.root), u, shared, n) for u in users])
    saved = sum(s for s, _ in results)
    assert saved + sum(c for _, c in results) == N_PROCS * n
    total = 0
    for item in shared:
        history = label_history(ws, item)
        total += len(history)
        previous = 0
        for row in history:  # every saved label was decided on the newest version at that moment
            assert int(row["comment"].rsplit(":", 1)[1]) == previous
            previous = row["id"]
    assert total == saved
    assert ws.integrity_check() == "ok"
