"""Assignments: who labels which items, with blind overlap and unannounced gold; each annotator's queue.

The lead (needs ``assign``) hands a batch of items to annotators with :func:`create_assignment`:

- items are spread evenly over the annotators (least-loaded first, ties at random);
- a fraction ``overlap`` of the items goes *blind* to ``overlap_k`` different annotators each (for
  agreement, :mod:`defectlab.team.agreement`); an item never goes twice to the same person, nor to
  somebody who has already labeled it or has it in another open assignment;
- about ``gold_rate`` x (their number of items) gold items (:mod:`defectlab.team.gold`, not from the
  qualification set) are mixed into each annotator's queue at random positions, unannounced.

Membership is stored in the tables ``assignments`` and ``assignment_items`` (with a stable ``position``),
so every queue is the same on every rerun and after a restart.

The annotator's side
--------------------
:func:`next_items` returns the next entries of ``user``'s queue, in this order:

1. while the user must still pass the qualification set: only the remaining qualification items
   (``reason="qualification"``), then nothing more if they failed it;
2. their labels that a reviewer rejected and they have not redone yet (``reason="rejected"``, with the
   reviewer's ``comment``);
3. items assigned to them (open assignments, live items) that they have not labeled yet, in assignment
   then position order (``reason="assigned"``; gold items look exactly the same).

An item leaves the queue when the user labels it (:func:`defectlab.store.annotate` with
``source="human"``); undoing that label puts it back. **Do not pass** ``expected_version`` **when an
annotator labels a queue item**: on an overlapped item every person's own latest label is one vote
(:func:`defectlab.store.derive_label`), so colleagues labeling the same item blind do not overwrite each
other; ``expected_version`` is for changing the item's *current* label (review and relabel pages).

Annotators never see other people's labels of an item before labeling it: for anybody without
``review`` / ``view_team`` (annotators, supervisors), :func:`visible_label` returns only their own label
for items that are in any assignment or gold, and None until they have labeled them. Leads, reviewers
and admins see the current (derived) label. The rule lives in :mod:`defectlab.team.visibility`.

Examples
--------
>>> # create_assignment(ws, "defects", ids, ["ann1", "ann2", "ann3"], overlap=0.1, overlap_k=2,
>>> #                   gold_rate=0.05, by="lead")
>>> # next_items(ws, "defects", "ann1", n=20)  # [{"item_id": 17, "reason": "assigned", ...}, ...]
"""

from __future__ import annotations

import json
import math
from collections import Counter
from typing import TYPE_CHECKING, Any

from .._validation import _check_float, _check_int
from ..errors import InputError, NotFoundError
from ..messages import msg
from ..store import can, log_action, require, utcnow
from ._common import (
    _annotation_rows,
    _check_live_items,
    _gold,
    _item_ids,
    _latest_votes,
    _project,
    _user_row,
)
from .gold import qualification_status
from .qc import _rejections
from .visibility import _blind_items, _privileged, visible_label, visible_labels  # noqa: F401 (re-exported)

if TYPE_CHECKING:
    import pandas as pd

    from defectlab._typing import ItemIds, ProjectRef, RandomState
    from defectlab.store import Workspace

if TYPE_CHECKING:
    from .._typing import ItemIds, ProjectRef, RandomState
    from ..store import Workspace

__all__ = [
    "assigned_items",
    "assignment_progress",
    "close_assignment",
    "create_assignment",
    "list_assignments",
    "next_items",
    "queue_counts",
    "reopen_assignment",
    "visible_label",
    "visible_labels",
]


def _round(x):
    return math.floor(x + 0.5)


def _check_assignment_args(annotators, overlap, overlap_k, gold_rate):
    """Validate the scalar arguments of :func:`create_assignment` (shared validator, its wording)."""
    where = "create_assignment"
    if isinstance(annotators, str):
        annotators = [annotators]
    annotators = [str(a) for a in annotators]
    if not annotators:
        raise InputError(msg("error.assignments.annotators_empty_pass_least",
                "annotators is empty; pass at least one user name."))
    if len(set(annotators)) != len(annotators):
        raise InputError(msg("error.assignments.annotators_lists_somebody_twice",
                "annotators lists somebody twice: {annotators}.",
                annotators=annotators))
    overlap = _check_float(overlap, where, "overlap", 0.0, 1.0)
    gold_rate = _check_float(gold_rate, where, "gold_rate", 0.0, 0.5)
    overlap_k = _check_int(overlap_k, where, "overlap_k", 2)
    if overlap > 0 and overlap_k > len(annotators):
        raise InputError(msg("error.assignments.overlap_k_needs_least",
                "overlap_k={overlap_k} needs at least {overlap_k} annotators; got {len_annotators}. "
                "Add annotators, lower overlap_k, or set overlap=0.",
                overlap_k=overlap_k, len_annotators=len(annotators)))
    return annotators, overlap, overlap_k, gold_rate


def _distribute(order, annotators, blocked, n_overlap, overlap_k, rng):
    """Spread ``order`` over ``annotators``, least-loaded first (ties at random).

    The first ``n_overlap`` items of ``order`` go to ``overlap_k`` people each, the rest to one. Nobody
    gets an ``(item, user)`` pair in ``blocked``. Pure: no database.

    Returns
    -------
    work : dict of str to list of int
        Each annotator's items, in the order given.
    skipped : list of int
        Items nobody eligible could take.
    short : int
        Overlapped items that got fewer than ``overlap_k`` people.

    Examples
    --------
    >>> import numpy as np
    >>> work, skipped, short = _distribute([1, 2, 3], ["a", "b"], {(3, "a"), (3, "b")}, 1, 2,
    ...                                    np.random.default_rng(0))
    >>> sorted(work["a"] + work["b"]), skipped, short
    ([1, 1, 2], [3], 0)
    """
    load = dict.fromkeys(annotators, 0)
    work = {u: [] for u in annotators}
    skipped, short = [], 0
    for index, item in enumerate(order):
        k = overlap_k if index < n_overlap else 1
        ties = rng.random(len(annotators))
        eligible = [(load[u], ties[j], u) for j, u in enumerate(annotators) if (item, u) not in blocked]
        chosen = [u for _, _, u in sorted(eligible)[:k]]
        if not chosen:
            skipped.append(item)
            continue
        short += len(chosen) < k
        for u in chosen:
            work[u].append(item)
            load[u] += 1
    return work, skipped, short


def _pick_gold(pool, own, user, blocked, gold_rate, rng):
    """Gold items for one queue: ``round(gold_rate * len(own))`` of the unused ones, and how many were wanted."""
    wanted = _round(gold_rate * len(own)) if own else 0
    free = [g for g in pool if (g, user) not in blocked and g not in own]
    n_gold = min(len(free), wanted)
    gold = [free[j] for j in sorted(rng.choice(len(free), size=n_gold, replace=False))] if n_gold else []
    return gold, wanted


def _interleave_gold(own, gold, rng):
    """Mix ``gold`` into ``own`` at random positions, keeping each list's order. Pure.

    Returns
    -------
    list of (int, str)
        ``(item_id, kind)`` in queue order, ``kind`` ``"work"`` or ``"gold"``.

    Examples
    --------
    >>> import numpy as np
    >>> queue = _interleave_gold([1, 2, 3], [9], np.random.default_rng(0))
    >>> [i for i, k in queue if k == "work"], [i for i, k in queue if k == "gold"]
    ([1, 2, 3], [9])
    """
    n = len(own) + len(gold)
    slots = set(rng.choice(n, size=len(gold), replace=False).tolist()) if gold else set()
    it_work, it_gold = iter(own), iter(gold)
    return [(next(it_gold), "gold") if position in slots else (next(it_work), "work") for position in range(n)]


def _eligible(conn, project_id, ids, annotators):
    """Check the annotators and items; return the gold pool and the blocked ``(item, user)`` pairs."""
    for a in annotators:
        row = _user_row(conn, a, enabled_only=True)
        if not can(conn, row["username"], "label"):
            raise InputError(msg("error.assignments.user_role_may_not",
                    "User {a} (role {row_role}) may not label; assign annotators.",
                    a=repr(a), row_role=row['role']))
    _check_live_items(conn, project_id, ids)
    taken = {(r["item_id"], r["user"]) for r in conn.execute(
        "SELECT ai.item_id, ai.user FROM assignment_items ai JOIN assignments s "
        "ON s.id = ai.assignment_id WHERE s.project_id = ? AND s.closed_at IS NULL", (project_id,))}
    pool = list(_gold(conn, project_id, qualification=False))
    labeled = set(_latest_votes(_annotation_rows(conn, project_id, item_ids=set(ids) | set(pool))))
    return pool, taken | labeled


def _distribution_warnings(short, skipped, overlap_k, gold_rate, pool):
    warnings = []
    if short:
        warnings.append(msg("team.warn.short_overlap", "{n} overlapped item(s) got fewer than {k} people (the "
                            "others had already labeled or been given them).", n=short, k=overlap_k))
    if skipped:
        warnings.append(msg("team.warn.skipped", "{n} item(s) were not assigned: every annotator had already "
                            "labeled or been given them.", n=len(skipped)))
    if gold_rate > 0 and not pool:
        warnings.append(msg("team.warn.no_gold", "No gold items outside the qualification set: no gold was "
                            "mixed in. Mark some under \"Gold items\" on the Assignments page."))
    return warnings


def create_assignment(ws: Workspace, project: ProjectRef, item_ids: ItemIds, annotators: str | list[str],
                      overlap: float = 0.1, overlap_k: int = 2, gold_rate: float = 0.05, by: str = "local",
                      random_state: RandomState = 0, name: str = "", reassign: bool = False) -> dict[str, Any]:
    """Assign a batch of items to annotators.

    Parameters
    ----------
    ws : Workspace
    project : str, int or Project
    item_ids : sequence of int
        Live sample items of the project, each once.
    annotators : sequence of str
        Enabled accounts allowed to ``label``, each once.
    overlap : float in [0, 1], default 0.1
        Fraction of the items that go blind to ``overlap_k`` annotators each.
    overlap_k : int >= 2, default 2
        How many people label each overlapped item (at most ``len(annotators)``).
    gold_rate : float in [0, 0.5], default 0.05
        Gold items mixed into each queue, as a fraction of that person's items (rounded; none when the
        project has no gold items outside the qualification set: a warning says so).
    by : str
        The lead (needs ``assign``).
    random_state : None, int or numpy random generator, default 0
        Makes the split repeatable.
    name : str, optional
        A label for the lead ("week 12 coil batch").
    reassign : bool, default False
        Also give out items already in an open assignment (to other people than those who have them). Off:
        such items are left out (``already_assigned``, with a warning): a second batch never hands out the
        first one's items again as overlap nobody planned.

    Returns
    -------
    dict
        ``assignment_id``, ``n_items`` (items assigned at least once), ``n_overlap`` (items given to
        several people), ``per_user`` (``{user: {"work": int, "gold": int}}``), ``skipped`` (item ids
        nobody eligible could take), ``already_assigned`` (item ids left out as in an open assignment),
        ``warnings`` (list of :class:`~defectlab.messages.Message`).
    """
    from sklearn.utils import check_random_state

    p = _project(ws, project)
    ids = _item_ids(item_ids)
    annotators, overlap, overlap_k, gold_rate = _check_assignment_args(annotators, overlap, overlap_k, gold_rate)
    rng = check_random_state(random_state)
    name = str(name or "").strip()[:200]

    with ws.transaction() as conn:
        require(conn, by, "assign")
        pool, blocked = _eligible(conn, p.id, ids, annotators)
        already = [] if reassign else sorted(set(ids) & {r[0] for r in conn.execute(
            "SELECT ai.item_id FROM assignment_items ai JOIN assignments s ON s.id = ai.assignment_id "
            "WHERE s.project_id = ? AND s.closed_at IS NULL", (p.id,))})
        if already:
            taken = set(already)
            ids = [i for i in ids if i not in taken]
            if not ids:  # nothing left: no empty assignment
                raise InputError(msg("error.assignments.all_assigned", "All {n} item(s) are already in an open "
                                     "assignment; nothing was assigned.", n=len(already)))
        order = [ids[j] for j in rng.permutation(len(ids))]
        n_overlap = _round(overlap * len(ids)) if overlap > 0 else 0
        work, skipped, short = _distribute(order, annotators, blocked, n_overlap, overlap_k, rng)
        warnings = _distribution_warnings(short, skipped, overlap_k, gold_rate, pool)
        if already:
            warnings.insert(0, msg("team.warn.already_assigned", "{n} item(s) are already in an open assignment "
                                   "and were left out.", n=len(already)))
        cur = conn.execute(
            "INSERT INTO assignments (project_id, name, params, created_at, created_by) VALUES (?, ?, ?, ?, ?)",
            (p.id, name, json.dumps({"overlap": overlap, "overlap_k": overlap_k, "gold_rate": gold_rate,
                                     "random_state": random_state if isinstance(random_state, int) else None,
                                     "annotators": annotators}), utcnow(), by))
        assignment_id = cur.lastrowid
        per_user: dict[str, dict[str, int]] = {}
        rows: list[tuple[int, int, str, int, str]] = []
        for u in annotators:
            gold, wanted = _pick_gold(pool, work[u], u, blocked, gold_rate, rng)
            if gold and len(gold) < wanted:
                warnings.append(msg("team.warn.gold_short", "Only {n} unused gold item(s) left for {user} "
                                    "({wanted} wanted).", n=len(gold), user=u, wanted=wanted))
            queue = _interleave_gold(work[u], gold, rng)
            rows.extend((assignment_id, item, u, position, kind) for position, (item, kind) in enumerate(queue))
            per_user[u] = {"work": len(work[u]), "gold": len(gold)}
        conn.executemany("INSERT INTO assignment_items (assignment_id, item_id, user, position, kind) "
                         "VALUES (?, ?, ?, ?, ?)", rows)
        n_assigned = len(ids) - len(skipped)
        times = Counter(item for w in work.values() for item in w)
        n_multi = sum(1 for c in times.values() if c > 1)
        log_action(conn, by, "assignment.create", p.id, assignment_id,
                   {"name": name, "n_items": n_assigned, "n_overlap": n_multi, "per_user": per_user})
    return {"assignment_id": assignment_id, "n_items": n_assigned, "n_overlap": n_multi,
            "per_user": per_user, "skipped": skipped, "already_assigned": already, "warnings": warnings}


def close_assignment(ws: Workspace, assignment_id: int, by: str) -> None:
    """Close an assignment: its unlabeled items leave everybody's queue (labels stay). Needs ``assign``."""
    with ws.transaction() as conn:
        require(conn, by, "assign")
        row = conn.execute("SELECT project_id, closed_at FROM assignments WHERE id = ?",
                           (int(assignment_id),)).fetchone()
        if row is None:
            raise NotFoundError(msg("error.assignments.no_assignment",
                    "No assignment {assignment_id}.",
                    assignment_id=assignment_id))
        if row["closed_at"] is None:
            conn.execute("UPDATE assignments SET closed_at = ?, closed_by = ? WHERE id = ?",
                         (utcnow(), by, int(assignment_id)))
            log_action(conn, by, "assignment.close", row["project_id"], int(assignment_id))


def reopen_assignment(ws: Workspace, assignment_id: int, by: str) -> None:
    """Open a closed assignment again: its unlabeled items come back to their people's queues. Needs
    ``assign``."""
    with ws.transaction() as conn:
        require(conn, by, "assign")
        row = conn.execute("SELECT project_id, closed_at FROM assignments WHERE id = ?",
                           (int(assignment_id),)).fetchone()
        if row is None:
            raise NotFoundError(msg("error.assignments.no_assignment", "No assignment {assignment_id}.",
                                    assignment_id=assignment_id))
        if row["closed_at"] is not None:
            clash = conn.execute(  # given out again while it was closed: reopening would double them
                "SELECT COUNT(DISTINCT a.item_id) FROM assignment_items a JOIN assignment_items b "
                "ON b.item_id = a.item_id JOIN assignments s ON s.id = b.assignment_id "
                "WHERE a.assignment_id = ? AND b.assignment_id != ? AND s.closed_at IS NULL",
                (int(assignment_id), int(assignment_id))).fetchone()[0]
            if clash:
                raise InputError(msg("error.assignments.reopen_clash", "{n} item(s) of assignment {assignment_id} "
                                     "were given out again while it was closed; reopening it would give them "
                                     "twice. Close the newer assignment first.", n=clash,
                                     assignment_id=int(assignment_id)))
            conn.execute("UPDATE assignments SET closed_at = NULL, closed_by = NULL WHERE id = ?",
                         (int(assignment_id),))
            log_action(conn, by, "assignment.reopen", row["project_id"], int(assignment_id))


def assigned_items(ws: Workspace, project: ProjectRef, by: str = "local") -> set[int]:
    """Items of the project in an open assignment (to anybody): a new assignment leaves them out by default,
    so nobody gets an item somebody else already has (which would be overlap nobody planned). Needs
    ``assign``."""
    p = _project(ws, project)
    with ws.read() as conn:
        require(conn, by, "assign")
        return {r[0] for r in conn.execute(
            "SELECT DISTINCT ai.item_id FROM assignment_items ai JOIN assignments s ON s.id = ai.assignment_id "
            "WHERE s.project_id = ? AND s.closed_at IS NULL", (p.id,))}


def _progress_rows(conn, project_id):
    members = [dict(r) for r in conn.execute(
        "SELECT ai.assignment_id, ai.item_id, ai.user, ai.kind FROM assignment_items ai "
        "JOIN assignments s ON s.id = ai.assignment_id JOIN items i ON i.id = ai.item_id "
        "WHERE s.project_id = ? AND i.deleted_at IS NULL ORDER BY ai.assignment_id, ai.user, ai.position",
        (project_id,))]
    votes = _latest_votes(_annotation_rows(conn, project_id, item_ids={m["item_id"] for m in members}))
    stats = {}
    for m in members:
        key = (m["assignment_id"], m["user"])
        s = stats.setdefault(key, {"assignment_id": key[0], "user": key[1], "n_items": 0, "n_gold": 0,
                                   "n_done": 0})
        s["n_items"] += 1
        s["n_gold"] += m["kind"] == "gold"
        s["n_done"] += (m["item_id"], m["user"]) in votes
    for s in stats.values():
        s["n_remaining"] = s["n_items"] - s["n_done"]
    return list(stats.values())


def list_assignments(ws: Workspace, project: ProjectRef, by: str = "local") -> list[dict[str, Any]]:
    """The project's assignments, newest first (needs ``view_team``).

    Returns
    -------
    list of dict
        ``id, name, created_at, created_by, closed_at, params`` (dict) and ``progress``: a list of
        ``{user, n_items, n_gold, n_done, n_remaining}``.
    """
    p = _project(ws, project)
    with ws.read() as conn:
        require(conn, by, "view_team")
        progress = _progress_rows(conn, p.id)
        out = []
        for r in conn.execute("SELECT id, name, created_at, created_by, closed_at, params FROM assignments "
                              "WHERE project_id = ? ORDER BY id DESC", (p.id,)):
            d = dict(r)
            d["params"] = json.loads(d["params"] or "{}")
            d["progress"] = [{k: v for k, v in s.items() if k != "assignment_id"}
                             for s in progress if s["assignment_id"] == d["id"]]
            out.append(d)
    return out


def assignment_progress(ws: Workspace, project: ProjectRef, by: str = "local") -> pd.DataFrame:
    """Per assignment and person: ``assignment_id, user, n_items, n_gold, n_done, n_remaining``
    (a DataFrame; needs ``view_team``)."""
    import pandas as pd

    p = _project(ws, project)
    with ws.read() as conn:
        require(conn, by, "view_team")
        rows = _progress_rows(conn, p.id)
    return pd.DataFrame(rows, columns=["assignment_id", "user", "n_items", "n_gold", "n_done", "n_remaining"])


def _queue(ws, p, user, limit=None):
    """(qualification status, queue list, number of assigned items done).

    With ``limit`` the list stops after that many entries (and the done count is then partial).
    """
    status = qualification_status(ws, p, user)
    with ws.read() as conn:
        urow = _user_row(conn, user, enabled_only=True)
        user = urow["username"]
        if status["state"] == "in_progress":
            return status, [{"item_id": i, "reason": "qualification", "comment": None, "assignment_id": None}
                            for i in status["remaining"]], 0
        if status["state"] == "failed":
            return status, [], 0
        queue = [{"item_id": r["item_id"], "reason": "rejected", "comment": r["comment"],
                  "assignment_id": None} for r in _rejections(conn, p.id, user)]
        seen = {e["item_id"] for e in queue}
        votes = _latest_votes(_annotation_rows(conn, p.id, user=user), user=user)
        done = 0
        for r in conn.execute(
            "SELECT ai.item_id, ai.assignment_id FROM assignment_items ai "
            "JOIN assignments s ON s.id = ai.assignment_id JOIN items i ON i.id = ai.item_id "
            "WHERE ai.user = ? AND s.project_id = ? AND s.closed_at IS NULL AND i.deleted_at IS NULL "
            "ORDER BY ai.assignment_id, ai.position", (user, p.id)):
            if r["item_id"] in seen:
                continue
            seen.add(r["item_id"])
            if (r["item_id"], user) in votes:
                done += 1
                continue
            if limit is not None and len(queue) >= limit:
                break
            queue.append({"item_id": r["item_id"], "reason": "assigned", "comment": None,
                          "assignment_id": r["assignment_id"]})
    return status, queue, done


def next_items(ws: Workspace, project: ProjectRef, user: str, n: int | None = 1) -> list[dict[str, Any]]:
    """The next entries of ``user``'s queue (see the module docstring for the order).

    Parameters
    ----------
    ws : Workspace
    project : str, int or Project
    user : str
        An enabled account.
    n : int or None, default 1
        How many entries; None for the whole queue.

    Returns
    -------
    list of dict
        ``item_id`` (int), ``reason`` (``"qualification"``, ``"rejected"`` or ``"assigned"``),
        ``comment`` (the reviewer's comment for a rejected label, else None), ``assignment_id``.
        Empty when there is nothing to do (or the qualification was failed: see
        :func:`defectlab.team.gold.qualification_status`).
    """
    if n is not None:
        n = _check_int(n, "next_items", "n", 1)
    p = _project(ws, project)
    _, queue, _ = _queue(ws, p, user, limit=None if n is None else int(n))
    return queue if n is None else queue[:int(n)]


def queue_counts(ws: Workspace, project: ProjectRef, user: str) -> dict[str, Any]:
    """Progress of ``user`` for a progress bar.

    Returns
    -------
    dict
        ``remaining`` (entries in the queue), ``rejected`` (of which rejected labels to redo), ``done``
        (assigned items labeled, in open assignments), ``qualification`` (the qualification state).
    """
    p = _project(ws, project)
    status, queue, done = _queue(ws, p, user)
    return {"remaining": len(queue), "rejected": sum(e["reason"] == "rejected" for e in queue),
            "done": done, "qualification": status["state"]}
