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
and admins see the current (derived) label.

Examples
--------
>>> # create_assignment(ws, "defects", ids, ["ann1", "ann2", "ann3"], overlap=0.1, overlap_k=2,
>>> #                   gold_rate=0.05, by="lead")
>>> # next_items(ws, "defects", "ann1", n=20)  # [{"item_id": 17, "reason": "assigned", ...}, ...]
"""

import json
import math
from collections import Counter

from ..errors import InputError, NotFoundError
from ..messages import msg
from ..store import can, current_label, current_labels, log_action, require, utcnow
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

__all__ = [
    "assignment_progress",
    "close_assignment",
    "create_assignment",
    "list_assignments",
    "next_items",
    "queue_counts",
    "visible_label",
    "visible_labels",
]


def _check_fraction(value, name, upper=1.0):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= upper:
        raise InputError(f"{name} must be a fraction between 0 and {upper}; got {value!r}.")
    return float(value)


def _round(x):
    return math.floor(x + 0.5)


def create_assignment(ws, project, item_ids, annotators, overlap=0.1, overlap_k=2, gold_rate=0.05,
                      by="local", random_state=0, name=""):
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

    Returns
    -------
    dict
        ``assignment_id``, ``n_items`` (items assigned at least once), ``n_overlap`` (items given to
        several people), ``per_user`` (``{user: {"work": int, "gold": int}}``), ``skipped`` (item ids
        nobody eligible could take), ``warnings`` (list of str).
    """
    from sklearn.utils import check_random_state

    p = _project(ws, project)
    ids = _item_ids(item_ids)
    if isinstance(annotators, str):
        annotators = [annotators]
    annotators = [str(a) for a in annotators]
    if not annotators:
        raise InputError("annotators is empty; pass at least one user name.")
    if len(set(annotators)) != len(annotators):
        raise InputError(f"annotators lists somebody twice: {annotators}.")
    overlap = _check_fraction(overlap, "overlap")
    gold_rate = _check_fraction(gold_rate, "gold_rate", 0.5)
    if isinstance(overlap_k, bool) or int(overlap_k) != overlap_k or overlap_k < 2:
        raise InputError(f"overlap_k must be a whole number >= 2 (people per overlapped item); "
                         f"got {overlap_k!r}.")
    overlap_k = int(overlap_k)
    if overlap > 0 and overlap_k > len(annotators):
        raise InputError(f"overlap_k={overlap_k} needs at least {overlap_k} annotators; got "
                         f"{len(annotators)}. Add annotators, lower overlap_k, or set overlap=0.")
    rng = check_random_state(random_state)
    name = str(name or "").strip()[:200]

    with ws.transaction() as conn:
        require(conn, by, "assign")
        for a in annotators:
            row = _user_row(conn, a, enabled_only=True)
            if not can(conn, row["username"], "label"):
                raise InputError(f"User {a!r} (role {row['role']}) may not label; assign annotators.")
        _check_live_items(conn, p.id, ids)
        taken = {(r["item_id"], r["user"]) for r in conn.execute(
            "SELECT ai.item_id, ai.user FROM assignment_items ai JOIN assignments s "
            "ON s.id = ai.assignment_id WHERE s.project_id = ? AND s.closed_at IS NULL", (p.id,))}
        pool = list(_gold(conn, p.id, qualification=False))
        labeled = set(_latest_votes(_annotation_rows(conn, p.id, item_ids=set(ids) | set(pool))))
        blocked = taken | labeled

        order = [ids[j] for j in rng.permutation(len(ids))]
        n_overlap = _round(overlap * len(ids)) if overlap > 0 else 0
        load = {u: 0 for u in annotators}
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

        warnings = []
        if short:
            warnings.append(msg("team.warn.short_overlap", "{n} overlapped item(s) got fewer than {k} people (the "
                                "others had already labeled or been given them).", n=short, k=overlap_k))
        if skipped:
            warnings.append(msg("team.warn.skipped", "{n} item(s) were not assigned: every annotator had already "
                                "labeled or been given them.", n=len(skipped)))
        if gold_rate > 0 and not pool:
            warnings.append(msg("team.warn.no_gold", "No gold items outside the qualification set: no gold was "
                                "mixed in. Mark some under \"Gold items\" on the Assign page."))
        cur = conn.execute(
            "INSERT INTO assignments (project_id, name, params, created_at, created_by) VALUES (?, ?, ?, ?, ?)",
            (p.id, name, json.dumps({"overlap": overlap, "overlap_k": overlap_k, "gold_rate": gold_rate,
                                     "random_state": random_state if isinstance(random_state, int) else None,
                                     "annotators": annotators}), utcnow(), by))
        assignment_id = cur.lastrowid
        per_user, rows = {}, []
        for u in annotators:
            own = work[u]
            free = [g for g in pool if (g, u) not in blocked and g not in own]
            n_gold = min(len(free), _round(gold_rate * len(own))) if own else 0
            gold = [free[j] for j in sorted(rng.choice(len(free), size=n_gold, replace=False))] if n_gold else []
            if n_gold and n_gold < _round(gold_rate * len(own)):
                warnings.append(f"Only {n_gold} unused gold item(s) left for {u}.")
            slots = set(rng.choice(len(own) + n_gold, size=n_gold, replace=False).tolist()) if n_gold else set()
            it_work, it_gold = iter(own), iter(gold)
            for position in range(len(own) + n_gold):
                if position in slots:
                    rows.append((assignment_id, next(it_gold), u, position, "gold"))
                else:
                    rows.append((assignment_id, next(it_work), u, position, "work"))
            per_user[u] = {"work": len(own), "gold": n_gold}
        conn.executemany("INSERT INTO assignment_items (assignment_id, item_id, user, position, kind) "
                         "VALUES (?, ?, ?, ?, ?)", rows)
        n_assigned = len(ids) - len(skipped)
        times = Counter(item for w in work.values() for item in w)
        n_multi = sum(1 for c in times.values() if c > 1)
        log_action(conn, by, "assignment.create", p.id, assignment_id,
                   {"name": name, "n_items": n_assigned, "n_overlap": n_multi, "per_user": per_user})
    return {"assignment_id": assignment_id, "n_items": n_assigned, "n_overlap": n_multi,
            "per_user": per_user, "skipped": skipped, "warnings": warnings}


def close_assignment(ws, assignment_id, by):
    """Close an assignment: its unlabeled items leave everybody's queue (labels stay). Needs ``assign``."""
    with ws.transaction() as conn:
        require(conn, by, "assign")
        row = conn.execute("SELECT project_id, closed_at FROM assignments WHERE id = ?",
                           (int(assignment_id),)).fetchone()
        if row is None:
            raise NotFoundError(f"No assignment {assignment_id}.")
        if row["closed_at"] is None:
            conn.execute("UPDATE assignments SET closed_at = ?, closed_by = ? WHERE id = ?",
                         (utcnow(), by, int(assignment_id)))
            log_action(conn, by, "assignment.close", row["project_id"], int(assignment_id))


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


def list_assignments(ws, project, by="local"):
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


def assignment_progress(ws, project, by="local"):
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


def next_items(ws, project, user, n=1):
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
    if n is not None and (isinstance(n, bool) or int(n) != n or n < 1):
        raise InputError(f"n must be a positive whole number or None (all); got {n!r}.")
    p = _project(ws, project)
    _, queue, _ = _queue(ws, p, user, limit=None if n is None else int(n))
    return queue if n is None else queue[:int(n)]


def queue_counts(ws, project, user):
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


def _privileged(conn, user):
    return can(conn, user, "view_team") or can(conn, user, "review")


def _blind_items(conn, project_id, item_ids=None):
    """Items of ``item_ids`` (default all) that are in any assignment or gold."""
    if item_ids is not None and len(item_ids) <= 500:
        ids = sorted({int(i) for i in item_ids})
        marks = ",".join("?" * len(ids))
        return {r[0] for r in conn.execute(
            f"SELECT item_id FROM assignment_items WHERE item_id IN ({marks}) UNION "
            f"SELECT item_id FROM gold_items WHERE removed_at IS NULL AND item_id IN ({marks})", ids + ids)}
    blind = {r[0] for r in conn.execute(
        "SELECT DISTINCT ai.item_id FROM assignment_items ai JOIN assignments s ON s.id = ai.assignment_id "
        "WHERE s.project_id = ?", (project_id,))}
    blind |= set(_gold(conn, project_id))
    return blind if item_ids is None else blind & {int(i) for i in item_ids}


def visible_label(ws, item_id, user):
    """The label ``user`` may see for an item, or None.

    Leads, reviewers and admins see the current label. Anybody else sees, for an item that is in any
    assignment or is gold, only their own latest label (None before they labeled it); for other items,
    the current label.
    """
    with ws.read() as conn:
        row = conn.execute("SELECT project_id FROM items WHERE id = ?", (int(item_id),)).fetchone()
        if row is None:
            raise NotFoundError(f"No item with id {item_id}.")
        if _privileged(conn, user) or not _blind_items(conn, row["project_id"], [int(item_id)]):
            return current_label(ws, item_id, conn=conn).label
        votes = _latest_votes(_annotation_rows(conn, row["project_id"], user=user, item_ids=[int(item_id)]),
                              user=user)
    vote = votes.get((int(item_id), user))
    return None if vote is None else vote["label"]


def visible_labels(ws, project, user, item_ids=None):
    """:func:`visible_label` for many items at once (for a grid): ``{item_id: label or None}``.

    ``item_ids`` default: every live sample item of the project. Pass the ids of the page on screen: the
    whole project costs about 0.4 s for 20,000 items (the derived labels), a page of 50 a few ms.
    """
    p = _project(ws, project)
    with ws.read() as conn:
        if item_ids is None:
            ids = [r[0] for r in conn.execute("SELECT id FROM items WHERE project_id = ? AND role = 'sample' "
                                              "AND deleted_at IS NULL ORDER BY id", (p.id,))]
        else:
            ids = [int(i) for i in item_ids]
        states = current_labels(ws, p.id, item_ids=None if item_ids is None else ids, conn=conn)
        out = {i: states[i].label if i in states else None for i in ids}
        if _privileged(conn, user):
            return out
        blind = _blind_items(conn, p.id, ids)
        if blind:
            votes = _latest_votes(_annotation_rows(conn, p.id, user=user, item_ids=blind), user=user)
            for i in blind:
                vote = votes.get((i, user))
                out[i] = None if vote is None else vote["label"]
    return out
