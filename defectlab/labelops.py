"""Decisions sent by the in-browser labeling surface, stored exactly once and answered one by one.

The browser does not wait for the server: it shows the next item at once and sends each decision as
an *operation* with an id it made itself, the item, the label (or review action) and the item's
version when it was shown. :func:`apply_ops` writes each operation through the store's ordinary
functions (:func:`defectlab.store.annotate`, :func:`defectlab.quality.review.review_item`) with
``expected_version``, and records the operation id in the ``label_ops`` table **in the same
transaction**. An operation sent again (its acknowledgement was lost to a dropped connection or a
server restart) is therefore answered "saved" with the first answer's annotation, never stored twice.

Every field comes from a browser, so :func:`parse_op` checks types, sizes and ranges before anything
touches the store, and the store functions check permissions and classes as for any other writer.

Examples
--------
>>> op = parse_op({"op": "a1b2c3d4e5", "item": 7, "label": "scratch", "version": 0, "seconds": 1.5})
>>> op.item_id, op.label, op.expected_version
(7, 'scratch', 0)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

from defectlab.errors import ConflictError, DefectlabError, InputError
from defectlab.messages import Message, msg

__all__ = ["KINDS", "MAX_OPS", "LabelOp", "OpResult", "applied_ops", "apply_op", "apply_ops", "label_states",
           "parse_op"]

#: What an operation does: a person's label, a review decision, a prediction confirmed or corrected,
#: or the undo of an earlier operation of the same person.
KINDS = ("label", "review", "predict", "undo")
#: At most this many operations are taken from one message of the browser.
MAX_OPS = 500
_OP_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_MAX_TEXT = 200
_MAX_SECONDS = 3600.0


@dataclass(frozen=True)
class LabelOp:
    """One decision sent by the browser.

    Attributes
    ----------
    op_id : str
        Made by the browser (8-64 letters, digits, ``-`` or ``_``); the same id is never stored twice.
    item_id : int
    kind : {"label", "review", "predict", "undo"}
    label : str or None
        The class to write (``"__unusable__"`` for unusable); None for ``keep`` and ``undo``.
    action : str or None
        Review: ``accept``, ``keep``, ``other`` or ``unusable``. Predict: ``confirm`` or ``correct``.
    expected_version : int or None
        The item's version when it was shown (a change by somebody else since is a conflict).
    after_op : str or None
        An earlier operation of the same browser on the same item: the expected version is the one
        that operation wrote (labeling an item again before the first answer arrived).
    seconds : float or None
        Time spent on the item, clamped to one hour.
    source : str
        The annotation source the server decided (``human``, ``review``, ``model``).
    comment : str or None
        Set by the server (a prediction's "confirmed" / "corrected from ...").
    run_id : str or None
        Set by the server (the run whose suggestion or prediction is decided on).
    target_op : str or None
        Undo: the operation whose annotation is retracted.
    """

    op_id: str
    item_id: int
    kind: str = "label"
    label: str | None = None
    action: str | None = None
    expected_version: int | None = None
    after_op: str | None = None
    seconds: float | None = None
    source: str = "human"
    comment: str | None = None
    run_id: str | None = None
    target_op: str | None = None


@dataclass(frozen=True)
class OpResult:
    """The answer to one operation.

    Attributes
    ----------
    op_id : str
    item_id : int
    status : {"saved", "conflict", "error"}
        ``saved``: stored (now or by an earlier copy of the same operation); ``conflict``: somebody
        changed the item meanwhile, nothing was written; ``error``: refused (``message`` says why).
    annotation_id : int or None
    version : int or None
        The item's version after the operation (pass it with the next operation on the item).
    message : str
        English text of a conflict or an error.
    by : str or None
        Conflict: who made the newest change.
    now_label : str or None
        Conflict: the item's newest label.
    """

    op_id: str
    item_id: int
    status: str
    annotation_id: int | None = None
    version: int | None = None
    message: str = ""
    by: str | None = None
    now_label: str | None = None

    def to_dict(self):
        """The answer as a JSON-ready dict (what the browser receives)."""
        return {"op": self.op_id, "item": self.item_id, "status": self.status, "annotation": self.annotation_id,
                "version": self.version, "message": self.message, "by": self.by, "now": self.now_label}


def _text(raw, name, where, allow_none=True):
    value = raw.get(name)
    if value is None and allow_none:
        return None
    if not isinstance(value, str) or not value or len(value) > _MAX_TEXT:
        raise InputError(msg("error.labelops.must_text_characters_got",
                "{where}: {name} must be a text of 1-{_MAX_TEXT} characters; got {value:.60}.",
                where=where, name=repr(name), _MAX_TEXT=_MAX_TEXT, value=repr(value)))
    return value


def _int(raw, name, where, allow_none=True):
    value = raw.get(name)
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**62:
        raise InputError(msg("error.labelops.must_non_negative_integer",
                "{where}: {name} must be a non-negative integer; got {value:.60}.",
                where=where, name=repr(name), value=repr(value)))
    return value


def _op_id(raw, name, where, allow_none=True):
    value = raw.get(name)
    if value is None and allow_none:
        return None
    if not isinstance(value, str) or not _OP_ID.match(value):
        raise InputError(msg("error.labelops.must_letters_digits_got",
                "{where}: {name} must be 8-64 letters, digits, '-' or '_'; got {value:.60}.",
                where=where, name=repr(name), value=repr(value)))
    return value


def parse_op(raw):
    """Check one operation from the browser and return it as a :class:`LabelOp`.

    Parameters
    ----------
    raw : dict
        ``{"op", "item", "kind", "label", "action", "version", "after", "seconds", "target"}``;
        only ``op`` and ``item`` are required.

    Returns
    -------
    LabelOp

    Raises
    ------
    InputError
        A field of the wrong type, size or range (the message names the field and what was received).
    """
    where = "label operation"
    if not isinstance(raw, dict):
        raise InputError(msg("error.labelops.expected_object_got",
                "{where}: expected an object; got {name}.",
                where=where, name=type(raw).__name__))
    op_id = _op_id(raw, "op", where, allow_none=False)
    kind = raw.get("kind", "label")
    if kind not in KINDS:
        raise InputError(msg("error.labelops.kind_must_one_got",
                "{where} {op_id}: 'kind' must be one of {join_kinds}; got {kind:.60}.",
                where=where, op_id=op_id, join_kinds=', '.join(KINDS), kind=repr(kind)))
    seconds = raw.get("seconds")
    if seconds is not None:
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not math.isfinite(seconds):
            raise InputError(msg("error.labelops.seconds_must_number_got",
                    "{where} {op_id}: 'seconds' must be a number; got {seconds:.60}.",
                    where=where, op_id=op_id, seconds=repr(seconds)))
        seconds = min(max(float(seconds), 0.0), _MAX_SECONDS)
    return LabelOp(
        op_id=op_id, item_id=_int(raw, "item", where, allow_none=False), kind=kind,
        label=_text(raw, "label", where), action=_text(raw, "action", where),
        expected_version=_int(raw, "version", where), after_op=_op_id(raw, "after", where),
        seconds=seconds, target_op=_op_id(raw, "target", where),
    )


def applied_ops(ws, op_ids):
    """Which of ``op_ids`` are stored: ``{op_id: annotation_id}``."""
    ids = [str(o) for o in op_ids][:MAX_OPS]
    if not ids:
        return {}
    with ws.read() as conn:
        rows = conn.execute(f"SELECT op_id, annotation_id FROM label_ops WHERE op_id IN ({','.join('?' * len(ids))})",
                            ids).fetchall()
    return {r[0]: r[1] for r in rows}


def label_states(ws, item_ids):
    """The derived :class:`~defectlab.store.LabelState` of a few items, by item id.

    Reads only those items' annotation rows (an index lookup per item): the browser's window asks for
    20 items of a queue that may hold 100,000, where a project-wide query would scan every item.

    Returns
    -------
    dict of int to LabelState
        Items without any annotation are left out (their version is 0).
    """
    from defectlab.store import derive_label
    from defectlab.store.renames import class_events, map_label

    ids = sorted({int(i) for i in item_ids})[:MAX_OPS]
    if not ids:
        return {}
    with ws.read() as conn:
        rows = [dict(r) for r in conn.execute(
            f"SELECT a.item_id, a.id, a.label, a.user, a.source, a.retracts, i.project_id FROM annotations a "
            f"JOIN items i ON i.id = a.item_id WHERE a.item_id IN ({','.join('?' * len(ids))}) "
            f"ORDER BY a.item_id, a.id", ids)]
        events = {p: class_events(conn, p) for p in {r["project_id"] for r in rows}}
    grouped = {}
    for r in rows:  # labels under today's class names (renames and merges)
        if events[r["project_id"]]:
            r["label"] = map_label(events[r["project_id"]], r["label"], r["id"])
        grouped.setdefault(r["item_id"], []).append(r)
    return {item: derive_label(rs) for item, rs in grouped.items()}


def _stored(conn, op_id):
    return conn.execute("SELECT user, item_id, annotation_id FROM label_ops WHERE op_id = ?", (op_id,)).fetchone()


def _write(ws, conn, op, user):
    """Write the operation's annotation inside ``conn``'s transaction; return its id."""
    from defectlab.store import annotate

    expected = op.expected_version
    if op.after_op is not None:
        before = _stored(conn, op.after_op)
        if before is not None and before["user"] == user and before["item_id"] == op.item_id:
            expected = before["annotation_id"]
    if op.kind == "review":
        from defectlab.quality.review import review_item

        return review_item(ws, op.item_id, op.action, label=op.label, user=user, run_id=op.run_id,
                           comment=op.comment, expected_version=expected, conn=conn)
    if op.label is None:
        raise InputError(msg("error.labelops.label_operation_no_label",
                "label operation {op_id}: no label given for item {item_id}.",
                op_id=op.op_id, item_id=op.item_id))
    return annotate(ws, op.item_id, op.label, user=user, source=op.source, seconds=op.seconds,
                    comment=op.comment, expected_version=expected, run_id=op.run_id, conn=conn)


def _undo(ws, conn, op, user):
    """Retract the annotation of ``op.target_op`` (an earlier operation of the same person)."""
    from defectlab.store import require
    from defectlab.store.labels import _SOURCE_ACTION
    from defectlab.store.workspace import utcnow

    target = _stored(conn, op.target_op) if op.target_op else None
    if target is None or target["user"] != user:
        raise InputError(msg("error.labelops.label_operation_nothing_yours",
                "label operation {op_id}: nothing of yours to undo ({target_op}).",
                op_id=op.op_id, target_op=op.target_op))
    ann = conn.execute("SELECT * FROM annotations WHERE id = ?", (target["annotation_id"],)).fetchone()
    if conn.execute("SELECT 1 FROM annotations WHERE retracts = ?", (ann["id"],)).fetchone():
        raise InputError(msg("error.labelops.label_operation_already_undone",
                "label operation {op_id}: {target_op} is already undone.",
                op_id=op.op_id, target_op=op.target_op))
    require(conn, user, _SOURCE_ACTION.get(ann["source"], "label"))
    cur = conn.execute(
        "INSERT INTO annotations (item_id, label, user, source, created_at, retracts) VALUES (?, NULL, ?, ?, ?, ?)",
        (ann["item_id"], user, ann["source"], utcnow(), ann["id"]))
    return cur.lastrowid


def _conflict(ws, op, exc):
    with ws.read() as conn:
        row = conn.execute("SELECT id, user, label FROM annotations WHERE item_id = ? ORDER BY id DESC LIMIT 1",
                           (op.item_id,)).fetchone()
    return OpResult(op.op_id, op.item_id, "conflict", version=row["id"] if row else 0, message=str(exc),
                    by=row["user"] if row else None, now_label=row["label"] if row else None)


def apply_op(ws, op, user):
    """Store one operation once; answer what happened.

    Parameters
    ----------
    ws : Workspace
    op : LabelOp
    user : str
        The signed-in person (never taken from the browser); needs the permission of ``op.source``.

    Returns
    -------
    OpResult
        Never raises for a problem of the operation itself: conflicts and refusals are answers.
    """
    from defectlab.store import item_version
    from defectlab.store.workspace import utcnow

    try:
        with ws.transaction() as conn:
            done = _stored(conn, op.op_id)
            if done is not None:
                if done["user"] != user or done["item_id"] != op.item_id:
                    raise InputError(msg("error.labelops.label_operation_id_was",
                            "label operation {op_id}: this id was already used for another item.",
                            op_id=op.op_id))
                return OpResult(op.op_id, op.item_id, "saved", done["annotation_id"],
                                item_version(conn, op.item_id))
            ann = _undo(ws, conn, op, user) if op.kind == "undo" else _write(ws, conn, op, user)
            conn.execute("INSERT INTO label_ops (op_id, user, item_id, annotation_id, created_at) "
                         "VALUES (?, ?, ?, ?, ?)", (op.op_id, user, op.item_id, ann, utcnow()))
            return OpResult(op.op_id, op.item_id, "saved", ann, ann)
    except ConflictError as exc:
        return _conflict(ws, op, exc)
    except DefectlabError as exc:
        # the error's Message (catalog key) when it has one: the labeling surface words it in the user's language
        first = exc.args[0] if exc.args else None
        return OpResult(op.op_id, op.item_id, "error", message=first if isinstance(first, Message) else str(exc))


def apply_ops(ws, ops, user, **fields):
    """Store several operations in order (one transaction each); a list of :class:`OpResult`.

    ``fields`` (``source``, ``comment``, ``run_id``) override those of every operation.
    """
    if len(ops) > MAX_OPS:
        raise InputError(msg("error.labelops.apply_ops_takes_most",
                "apply_ops takes at most {MAX_OPS} operations at a time; got {len_ops}.",
                MAX_OPS=MAX_OPS, len_ops=len(ops)))
    return [apply_op(ws, replace(op, **fields) if fields else op, user) for op in ops]
