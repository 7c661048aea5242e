"""Quality-control review: a random sample of each annotator's labels, accept / reject, approval rates.

Workflow
--------
1. A reviewer (quality inspector; needs ``review``) calls :func:`qc_sample`: it tops up the reviewer's
   pending list so that about ``rate`` of each annotator's current labels in the project have been drawn
   (``ceil(rate * n_labels)`` per annotator, counting earlier draws), chosen at random
   (``random_state``), and returns the reviewer's pending list. A reviewer never gets their own labels;
   gold items are left out (they are checked automatically, see :mod:`defectlab.team.gold`).
   :func:`qc_pending` returns the pending list without drawing.
2. For each entry the reviewer calls :func:`qc_decide` (``accept=True``, or ``False`` with a comment
   saying what is wrong). Decisions are append-only; a later decision on the same annotation replaces
   the earlier one in the rates.
3. A rejected label goes back to its annotator: :func:`defectlab.team.assignments.next_items` serves it
   first, with ``reason="rejected"`` and the reviewer's ``comment``, until the annotator labels the item
   again. That new label comes back to the rejecting reviewer (``reason="fix"``) at the next
   :func:`qc_sample`.
4. :func:`approval_rates` and :func:`qc_decisions` report the results (``view_team``; an annotator may
   read their own decisions).

Only ``human`` labels (an annotator's own work) are reviewed here; the current label of the item is not
changed by a decision. To overrule a label, the reviewer annotates the item with ``source="review"``
(:func:`defectlab.store.annotate`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from .._validation import _check_float
from ..errors import InputError, NotFoundError
from ..messages import msg
from ..store import can, require, utcnow
from ._common import _annotation_rows, _gold, _latest_votes, _project

if TYPE_CHECKING:
    from typing import Any

    import pandas as pd

    from defectlab._typing import ProjectRef, RandomState
    from defectlab.store import Workspace

__all__ = ["approval_rates", "qc_decide", "qc_decisions", "qc_pending", "qc_sample"]

_COMMENT_MAX = 2000


def _latest_decisions(conn, project_id, annotator=None):
    """``{annotation_id: decision row}`` keeping the newest decision per annotation."""
    sql = "SELECT * FROM qc_decisions WHERE project_id = ?"
    args = [int(project_id)]
    if annotator is not None:
        sql += " AND annotator = ?"
        args.append(annotator)
    return {r["annotation_id"]: dict(r) for r in conn.execute(sql + " ORDER BY id", args)}


def _rejections(conn, project_id, user):
    """The user's rejected labels not yet redone: list of dicts, oldest rejection first."""
    decisions = [d for d in _latest_decisions(conn, project_id, user).values() if not d["accept"]]
    if not decisions:
        return []
    rows = _annotation_rows(conn, project_id, user=user, item_ids=[d["item_id"] for d in decisions])
    votes = _latest_votes(rows, user=user)
    out = []
    for d in sorted(decisions, key=lambda d: d["id"]):
        vote = votes.get((d["item_id"], user))
        if vote is not None and vote["id"] == d["annotation_id"]:
            out.append({"item_id": d["item_id"], "annotation_id": d["annotation_id"], "label": vote["label"],
                        "comment": d["comment"], "reviewer": d["reviewer"], "rejected_at": d["created_at"]})
    return out


def _pending(conn, project_id, reviewer, votes=None):
    """The reviewer's drawn, undecided entries whose label is still current, fixes first."""
    if votes is None:
        votes = _latest_votes(_annotation_rows(conn, project_id))
    current = {r["id"]: r for r in votes.values()}
    decided = set(_latest_decisions(conn, project_id))
    out = []
    for q in conn.execute("SELECT annotation_id, reason FROM qc_queue WHERE project_id = ? AND reviewer = ? "
                          "ORDER BY annotation_id", (int(project_id), reviewer)):
        a = current.get(q["annotation_id"])
        if a is None or q["annotation_id"] in decided:
            continue
        out.append({"annotation_id": a["id"], "item_id": a["item_id"], "annotator": a["user"],
                    "label": a["label"], "created_at": a["created_at"], "seconds": a["seconds"],
                    "reason": q["reason"]})
    return sorted(out, key=lambda e: (e["reason"] != "fix", e["annotation_id"]))


def qc_pending(ws: Workspace, project: ProjectRef, reviewer: str) -> list[dict[str, Any]]:
    """The reviewer's pending entries (see :func:`qc_sample`) without drawing new ones."""
    p = _project(ws, project)
    with ws.read() as conn:
        require(conn, reviewer, "review")
        return _pending(conn, p.id, reviewer)


def qc_sample(ws: Workspace, project: ProjectRef, reviewer: str, rate: float = 0.1,
              random_state: RandomState | None = None) -> list[dict[str, Any]]:
    """Draw a random sample of each annotator's labels for ``reviewer`` and return the pending list.

    Parameters
    ----------
    ws : Workspace
    project : str, int or Project
    reviewer : str
        Needs ``review``.
    rate : float in (0, 1], default 0.1
        Fraction of each annotator's current labels to review (at least one label per annotator).
    random_state : None, int or numpy.random.Generator / RandomState
        Makes the draw repeatable.

    Returns
    -------
    list of dict
        ``annotation_id, item_id, annotator, label, created_at, seconds, reason`` (``"fix"``: a relabel
        after this reviewer's rejection, listed first; ``"sample"``: a random draw).
    """
    from sklearn.utils import check_random_state

    rate = _check_float(rate, "qc_sample", "rate", 0.0, 1.0, low_open=True)
    rng = check_random_state(random_state)
    p = _project(ws, project)
    with ws.transaction() as conn:
        require(conn, reviewer, "review")
        votes = _latest_votes(_annotation_rows(conn, p.id))
        gold = set(_gold(conn, p.id))
        queued = {r["annotation_id"]: dict(r) for r in conn.execute(
            "SELECT q.annotation_id, q.reason, a.user FROM qc_queue q JOIN annotations a "
            "ON a.id = q.annotation_id WHERE q.project_id = ?", (p.id,))}
        decisions = _latest_decisions(conn, p.id)
        now = utcnow()
        # relabels after a rejection go back to the reviewer who rejected
        current_by_key = {key: r["id"] for key, r in votes.items()}
        for d in decisions.values():
            new_id = current_by_key.get((d["item_id"], d["annotator"]))
            if not d["accept"] and new_id is not None and new_id > d["annotation_id"] \
                    and new_id not in queued:
                conn.execute("INSERT INTO qc_queue (annotation_id, project_id, reviewer, reason, created_at) "
                             "VALUES (?, ?, ?, 'fix', ?)", (new_id, p.id, d["reviewer"], now))
                queued[new_id] = {"annotation_id": new_id, "reason": "fix", "user": d["annotator"]}
        by_annotator: dict[str, list[Any]] = {}
        for (item, user), r in votes.items():
            if item not in gold and user != reviewer:
                by_annotator.setdefault(user, []).append(r["id"])
        drawn_by: dict[str, int] = {}
        for q in queued.values():
            if q["reason"] == "sample":
                drawn_by[q["user"]] = drawn_by.get(q["user"], 0) + 1
        for user in sorted(by_annotator):
            ids = sorted(by_annotator[user])
            drawn = drawn_by.get(user, 0)
            candidates = [i for i in ids if i not in queued and i not in decisions]
            k = min(len(candidates), max(0, math.ceil(rate * len(ids) - 1e-9) - drawn))
            if k:
                picks = sorted(candidates[j] for j in rng.choice(len(candidates), size=k, replace=False))
                conn.executemany(
                    "INSERT INTO qc_queue (annotation_id, project_id, reviewer, reason, created_at) "
                    "VALUES (?, ?, ?, 'sample', ?)", [(i, p.id, reviewer, now) for i in picks])
        return _pending(conn, p.id, reviewer, votes)


def qc_decide(ws: Workspace, annotation_id: int, reviewer: str, accept: bool, comment: str = "") -> int:
    """Accept or reject one annotator label.

    Parameters
    ----------
    ws : Workspace
    annotation_id : int
        A ``human`` annotation (from :func:`qc_sample`).
    reviewer : str
        Needs ``review``; may not review their own label.
    accept : bool
    comment : str
        Required when rejecting: what is wrong, so the annotator learns (shown in their queue).

    Returns
    -------
    int
        The id of the decision row.
    """
    if not isinstance(accept, bool):
        raise InputError(msg("error.qc.accept_must_true_false",
                "accept must be True or False; got {accept}.",
                accept=repr(accept)))
    comment = "" if comment is None else str(comment).strip()
    if not accept and not comment:
        raise InputError(msg("error.qc.rejection_needs_comment_saying",
                "A rejection needs a comment saying what is wrong (the annotator sees it)."))
    if len(comment) > _COMMENT_MAX:
        raise InputError(msg("error.qc.comment_longer_than_characters",
                "The comment is longer than {_COMMENT_MAX} characters; shorten it.",
                _COMMENT_MAX=_COMMENT_MAX))
    with ws.transaction() as conn:
        require(conn, reviewer, "review")
        a = conn.execute(
            "SELECT a.id, a.item_id, a.user, a.source, a.retracts, i.project_id, i.deleted_at "
            "FROM annotations a JOIN items i ON i.id = a.item_id WHERE a.id = ?", (int(annotation_id),)
        ).fetchone()
        if a is None or a["retracts"] is not None:
            raise NotFoundError(msg("error.qc.no_label_annotation_id",
                    "No label with annotation id {annotation_id}.",
                    annotation_id=annotation_id))
        if a["source"] != "human":
            raise InputError(msg("error.qc.annotation_label_qc_reviews",
                    "Annotation {annotation_id} is a {a_source} label; QC reviews annotators' own "
                    "(human) labels only.",
                    annotation_id=annotation_id, a_source=a['source']))
        if a["user"] == reviewer:
            raise InputError(msg("error.qc.you_cannot_review_your",
                    "You cannot review your own label; another reviewer must."))
        if a["deleted_at"]:
            raise InputError(msg("error.qc.item_deleted_restore_before",
                    "Item {a_item_id} is deleted; restore it before reviewing it.",
                    a_item_id=a['item_id']))
        cur = conn.execute(
            "INSERT INTO qc_decisions (annotation_id, project_id, item_id, annotator, reviewer, accept, "
            "comment, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (a["id"], a["project_id"], a["item_id"], a["user"], reviewer, int(accept), comment, utcnow()))
        return cur.lastrowid


def approval_rates(ws: Workspace, project: ProjectRef, by: str = "local") -> pd.DataFrame:
    """Per annotator: how many labels were reviewed, accepted, rejected (latest decision per label).

    Returns
    -------
    pandas.DataFrame
        ``annotator, n_reviewed, n_accepted, n_rejected, approval_rate``, by annotator. Needs
        ``view_team``.
    """
    import pandas as pd

    p = _project(ws, project)
    with ws.read() as conn:
        require(conn, by, "view_team")
        decisions = _latest_decisions(conn, p.id)
    stats: dict[str, tuple[int, int]] = {}
    for d in decisions.values():
        n, k = stats.get(d["annotator"], (0, 0))
        stats[d["annotator"]] = (n + 1, k + int(d["accept"]))
    df = pd.DataFrame([(u, n, k, n - k, k / n) for u, (n, k) in sorted(stats.items())],
                      columns=["annotator", "n_reviewed", "n_accepted", "n_rejected", "approval_rate"])
    return df.astype({"n_reviewed": "int64", "n_accepted": "int64", "n_rejected": "int64",
                      "approval_rate": "float64"})


def qc_decisions(ws: Workspace, project: ProjectRef, annotator: str | None = None, reviewer: str | None = None,
                 by: str = "local") -> pd.DataFrame:
    """Every QC decision, newest first, as a DataFrame.

    Columns: ``id, annotation_id, item_id, annotator, reviewer, accept, comment, created_at, label``.
    With ``view_team`` any decision; otherwise only decisions on ``by``'s own labels.
    """
    import pandas as pd

    p = _project(ws, project)
    with ws.read() as conn:
        if not can(conn, by, "view_team"):
            if annotator not in (None, by):
                require(conn, by, "view_team")
            annotator = by
        sql = ("SELECT d.id, d.annotation_id, d.item_id, d.annotator, d.reviewer, d.accept, d.comment, "
               "d.created_at, a.label FROM qc_decisions d JOIN annotations a ON a.id = d.annotation_id "
               "WHERE d.project_id = ?")
        args = [p.id]
        for col, value in (("annotator", annotator), ("reviewer", reviewer)):
            if value is not None:
                sql += f" AND d.{col} = ?"
                args.append(value)
        rows = [dict(r) for r in conn.execute(sql + " ORDER BY d.id DESC", args)]
    cols = ["id", "annotation_id", "item_id", "annotator", "reviewer", "accept", "comment", "created_at",
            "label"]
    df = pd.DataFrame(rows, columns=cols)
    df["accept"] = df["accept"].astype(bool)
    return df
