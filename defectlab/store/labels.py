"""Append-only annotations and the *derived* current label of each item.

Nothing is ever overwritten: a label, a relabel, a review decision and an undo are all new rows. The
current label is derived from them (see :func:`derive_label`), so history, audit, agreement and undo come
from the same rows.

Concurrency: each item has a *version*, the id of its newest annotation row (0 when it has none). A writer
that passes ``expected_version`` gets :class:`~defectlab.errors.ConflictError` ("changed by X meanwhile")
instead of silently overwriting somebody else's decision made since it looked.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import ConflictError, InputError, NotFoundError
from ..messages import msg
from .permissions import require
from .projects import UNUSABLE
from .renames import class_events, map_label
from .workspace import utcnow

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Iterable, Mapping, Sequence
    from typing import Any

    from defectlab._typing import ItemIds
    from defectlab.store import Workspace

__all__ = [
    "GOLD_COMMENT",
    "SOURCES",
    "LabelState",
    "annotate",
    "annotate_many",
    "current_label",
    "current_labels",
    "derive_label",
    "item_version",
    "label_history",
    "retract",
    "retract_many",
    "undo_last",
]

GOLD_COMMENT = "gold answer"
"""The comment of the review annotation :func:`defectlab.team.set_gold` writes with a gold answer: a setting
of the project, which the throughput report does not count as a correction and the pages show in words."""

SOURCES = ("human", "review", "model", "import")

# The permission each annotation source needs.
_SOURCE_ACTION = {"human": "label", "review": "review", "model": "correct_predictions", "import": "import"}


@dataclass(frozen=True)
class LabelState:
    """The derived label of one item.

    Attributes
    ----------
    label : str or None
        The current label (``None``: unlabeled; ``"__unusable__"``: marked not usable).
    source : str or None
        Where it came from: ``review`` (a reviewer's decision wins), ``consensus`` (a majority of several
        people), or the source of the single latest vote (``human``, ``model``, ``import``).
    user : str or None
        Who gave the deciding annotation.
    version : int
        Id of the newest annotation row of the item (0 when none): pass it back as ``expected_version``.
    n_votes : int
        How many people's latest labels went into the decision.
    agreed : bool
        Whether all those people agree.
    """

    label: str | None
    source: str | None
    user: str | None
    version: int
    n_votes: int = 0
    agreed: bool = True


def derive_label(rows: Iterable[Any]) -> LabelState:
    """Derive the current label from an item's annotation rows.

    Parameters
    ----------
    rows : sequence of mapping
        The item's annotation rows (``id, label, user, source, retracts``), any order.

    Returns
    -------
    LabelState

    Notes
    -----
    Rules, in order: undo rows and the rows they retract are ignored; the latest ``review`` decision wins;
    otherwise each person's latest label is one vote and the majority wins, a tie going to the most
    recent vote.

    Examples
    --------
    >>> rows = [dict(id=1, label="a", user="ann", source="human", retracts=None),
    ...         dict(id=2, label="b", user="bob", source="human", retracts=None),
    ...         dict(id=3, label="b", user="cy", source="human", retracts=None)]
    >>> derive_label(rows).label
    'b'
    """
    rows = sorted(rows, key=lambda r: r["id"])
    version = rows[-1]["id"] if rows else 0
    retracted = {r["retracts"] for r in rows if r["retracts"] is not None}
    live = [r for r in rows if r["retracts"] is None and r["id"] not in retracted]
    if not live:
        return LabelState(None, None, None, version, 0, True)
    reviews = [r for r in live if r["source"] == "review"]
    if reviews:
        r = reviews[-1]
        return LabelState(r["label"], "review", r["user"], version, 1, True)
    latest_by_user = {}
    for r in live:
        latest_by_user[r["user"]] = r
    votes = sorted(latest_by_user.values(), key=lambda r: r["id"])
    counts = Counter(r["label"] for r in votes)
    best = max(counts.values())
    # tie -> the most recent vote among the tied labels
    winner = next(r for r in reversed(votes) if counts[r["label"]] == best)
    agreed = len(counts) == 1
    source = winner["source"] if len(votes) == 1 else "consensus"
    return LabelState(winner["label"], source, winner["user"], version, len(votes), agreed)


def _item_rows(conn, item_id):
    return conn.execute(
        "SELECT id, label, user, source, retracts FROM annotations WHERE item_id = ? ORDER BY id",
        (item_id,),
    ).fetchall()


def item_version(conn: sqlite3.Connection, item_id: int) -> int:
    """The id of the item's newest annotation row, 0 when none."""
    row = conn.execute("SELECT MAX(id) FROM annotations WHERE item_id = ?", (item_id,)).fetchone()
    return row[0] or 0


def _item_and_classes(conn, item_id):
    row = conn.execute(
        "SELECT i.id, i.project_id, i.deleted_at, i.role, p.classes FROM items i "
        "JOIN projects p ON p.id = i.project_id WHERE i.id = ?", (int(item_id),)
    ).fetchone()
    if row is None:
        raise NotFoundError(msg("error.labels.no_item_id", "No item with id {item_id}.", item_id=item_id))
    if row["deleted_at"]:
        raise InputError(msg("error.label.deleted_item", "Item {item_id} is deleted; restore it before labeling it.",
                             item_id=int(item_id)))
    import json

    return row, json.loads(row["classes"])


def _insert(conn, item_id, label, user, source, seconds, comment, run_id, expected_version):
    if source not in SOURCES:
        raise InputError(msg("error.labels.unknown_annotation_source_expected",
                "Unknown annotation source {source}; expected one of {join_sources}.",
                source=repr(source), join_sources=', '.join(SOURCES)))
    _row, classes = _item_and_classes(conn, item_id)
    if label != UNUSABLE and label not in classes:
        raise InputError(msg("error.label.unknown", "Unknown label {label!r} for item {item_id}; the project's "
                             "classes are: {classes}.", label=str(label), item_id=int(item_id),
                             classes=", ".join(classes)))
    if seconds is not None and not (0 <= float(seconds) < 86400):
        raise InputError(msg("error.labels.seconds_must_between_got",
                "seconds must be between 0 and 86400; got {seconds}.",
                seconds=repr(seconds)))
    if expected_version is not None:
        current = item_version(conn, item_id)
        if current != int(expected_version):
            who = conn.execute(
                "SELECT user, label, created_at FROM annotations WHERE id = ?", (current,)
            ).fetchone()
            raise ConflictError(msg(
                "error.label.conflict", "Item {item_id} was changed by {user} meanwhile (now {label} at {at}); "
                "nothing was saved. Look again and decide.", item_id=int(item_id), user=who["user"],
                label=who["label"] or "undone", at=who["created_at"][:19].replace("T", " ")))
    cur = conn.execute(
        "INSERT INTO annotations (item_id, label, user, source, created_at, seconds, comment, run_id) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (int(item_id), label, user, source, utcnow(),
         None if seconds is None else float(seconds), comment, run_id),
    )
    return cur.lastrowid


def annotate(ws: Workspace, item_id: int, label: str, user: str = "local", source: str = "human",
             seconds: float | None = None, comment: str | None = None, expected_version: int | None = None,
             run_id: str | None = None, conn: sqlite3.Connection | None = None) -> int:
    """Append one annotation and return its id.

    Parameters
    ----------
    ws : Workspace
    item_id : int
    label : str
        One of the project's classes, or ``"__unusable__"``.
    user : str
        Who decides; must have the permission of ``source`` (human: label, review: review,
        model: correct_predictions, import: import).
    source : {"human", "review", "model", "import"}
    seconds : float, optional
        Time spent on the item (throughput and pay reports).
    comment : str, optional
        Why (review decisions).
    expected_version : int, optional
        The item's version when the person looked at it; a later change by somebody else raises
        :class:`ConflictError` and nothing is written.
    run_id : str, optional
        The run whose suggestion was accepted, when there is one.
    conn : sqlite3.Connection, optional
        Write inside the caller's transaction instead of opening one.
    """
    if conn is not None:
        require(conn, user, _SOURCE_ACTION.get(source, "label"))
        return _insert(conn, item_id, label, user, source, seconds, comment, run_id, expected_version)
    with ws.transaction() as c:
        require(c, user, _SOURCE_ACTION.get(source, "label"))
        return _insert(c, item_id, label, user, source, seconds, comment, run_id, expected_version)


def annotate_many(ws: Workspace, item_ids: ItemIds, label: str, user: str = "local", source: str = "human",
                  seconds: float | None = None, comment: str | None = None,
                  expected_versions: Mapping[int, int] | None = None) -> list[int]:
    """Label several items at once (grid mode), in one transaction: all or nothing.

    ``seconds`` is the total time, shared equally among the items. ``expected_versions`` maps item id to
    the version seen. Returns the new annotation ids.
    """
    item_ids = [int(i) for i in item_ids]
    per_item = None if seconds is None or not item_ids else float(seconds) / len(item_ids)
    with ws.transaction() as conn:
        require(conn, user, _SOURCE_ACTION.get(source, "label"))
        return [
            _insert(conn, i, label, user, source, per_item, comment, None,
                    None if expected_versions is None else expected_versions.get(i))
            for i in item_ids
        ]


def retract(ws: Workspace, annotation_id: int, user: str = "local") -> int:
    """Undo one annotation (a new row that retracts it). Only its author, a lead or an admin may."""
    with ws.transaction() as conn:
        row = conn.execute("SELECT * FROM annotations WHERE id = ?", (int(annotation_id),)).fetchone()
        if row is None or row["retracts"] is not None:
            raise NotFoundError(msg("error.labels.no_annotation_undo",
                    "No annotation {annotation_id} to undo.",
                    annotation_id=annotation_id))
        if row["user"] != user:
            require(conn, user, "assign")  # leads and admins may undo others' work
        else:
            require(conn, user, _SOURCE_ACTION.get(row["source"], "label"))
        if conn.execute("SELECT 1 FROM annotations WHERE retracts = ?", (row["id"],)).fetchone():
            raise InputError(msg("error.labels.annotation_already_undone",
                    "Annotation {annotation_id} is already undone.",
                    annotation_id=annotation_id))
        conn.execute(
            "INSERT INTO annotations (item_id, label, user, source, created_at, retracts) "
            "VALUES (?, NULL, ?, ?, ?, ?)",
            (row["item_id"], user, row["source"], utcnow(), row["id"]),
        )
        return row["item_id"]


def retract_many(ws: Workspace, annotation_ids: Sequence[int], user: str = "local") -> int:
    """Undo several annotations at once, all or nothing (the Undo of a bulk label on the Items page).

    The same rules as :func:`retract` for each: its author, or a lead or an admin; one already undone is
    skipped (a second Undo changes nothing). Returns how many were undone.
    """
    ids = sorted({int(i) for i in annotation_ids})
    n = 0
    with ws.transaction() as conn:
        now = utcnow()
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            rows = conn.execute(f"SELECT * FROM annotations WHERE id IN ({marks}) AND retracts IS NULL AND NOT EXISTS "
                                f"(SELECT 1 FROM annotations b WHERE b.retracts = annotations.id)", chunk).fetchall()
            for row in rows:
                if row["user"] != user:
                    require(conn, user, "assign")
                else:
                    require(conn, user, _SOURCE_ACTION.get(row["source"], "label"))
            conn.executemany("INSERT INTO annotations (item_id, label, user, source, created_at, retracts) "
                             "VALUES (?, NULL, ?, ?, ?, ?)",
                             [(r["item_id"], user, r["source"], now, r["id"]) for r in rows])
            n += len(rows)
    return n


def undo_last(ws: Workspace, user: str = "local", project_id: int | None = None) -> int | None:
    """Undo ``user``'s newest annotation that is not undone yet; return the item id, or None."""
    sql = (
        "SELECT a.id FROM annotations a JOIN items i ON i.id = a.item_id "
        "WHERE a.user = ? AND a.retracts IS NULL "
        "AND NOT EXISTS (SELECT 1 FROM annotations b WHERE b.retracts = a.id)"
    )
    args: list[Any] = [user]
    if project_id is not None:
        sql += " AND i.project_id = ?"
        args.append(int(project_id))
    with ws.read() as conn:
        row = conn.execute(sql + " ORDER BY a.id DESC LIMIT 1", args).fetchone()
    return None if row is None else retract(ws, row[0], user)


def current_labels(ws: Workspace, project_id: int, item_ids: ItemIds | None = None,
                   conn: sqlite3.Connection | None = None) -> dict[int, LabelState]:
    """Derived labels of a project's live sample items.

    Returns
    -------
    dict of int to LabelState
        Only items that have at least one annotation row appear.
    """
    sql = (
        "SELECT a.item_id, a.id, a.label, a.user, a.source, a.retracts FROM annotations a "
        "JOIN items i ON i.id = a.item_id "
        "WHERE i.project_id = ? AND i.role = 'sample' AND i.deleted_at IS NULL"
    )
    args = [int(project_id)]
    if item_ids is not None:
        ids = [int(i) for i in item_ids]
        sql += f" AND a.item_id IN ({','.join('?' * len(ids))})"
        args += ids
    if conn is None:
        with ws.read() as c:
            rows = c.execute(sql + " ORDER BY a.item_id, a.id", args).fetchall()
            events = class_events(c, project_id)
    else:
        rows = conn.execute(sql + " ORDER BY a.item_id, a.id", args).fetchall()
        events = class_events(conn, project_id)
    if events:
        rows = _mapped(rows, events)
    grouped: dict[int, list[Any]] = {}
    for r in rows:
        grouped.setdefault(r["item_id"], []).append(r)
    return {item: derive_label(rs) for item, rs in grouped.items()}


def current_label(ws: Workspace, item_id: int, conn: sqlite3.Connection | None = None) -> LabelState:
    """The :class:`LabelState` of one item (version 0 and label None when it has no annotation)."""
    if conn is None:
        with ws.read() as c:
            return _current_label(c, int(item_id))
    return _current_label(conn, int(item_id))


def _current_label(conn, item_id):
    rows = _item_rows(conn, item_id)
    project = conn.execute("SELECT project_id FROM items WHERE id = ?", (item_id,)).fetchone()
    events = class_events(conn, project[0]) if project is not None else []
    return derive_label(_mapped(rows, events) if events else rows)


def _mapped(rows, events):
    """Annotation rows with their labels as they read today (class renames and merges applied)."""
    out = []
    for r in rows:
        d = dict(r)
        d["label"] = map_label(events, d["label"], d["id"])
        out.append(d)
    return out


def label_history(ws: Workspace, item_id: int) -> list[dict[str, Any]]:
    """Every annotation row of an item, oldest first, as dicts (undo rows included)."""
    with ws.read() as conn:
        return [dict(r) for r in conn.execute(
            "SELECT * FROM annotations WHERE item_id = ? ORDER BY id", (int(item_id),))]
