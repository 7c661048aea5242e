"""Gold items (items with a known answer), per-annotator gold accuracy and the qualification set.

Gold items
----------
The lead marks an item as gold with its known answer (:func:`set_gold`, needs ``assign``). The answer
is also written as a ``review`` annotation by the lead (unless the item already carries that reviewed
label), so it is the item's current label for training whatever annotators answer. Gold items are mixed
unannounced into assignment queues (:func:`defectlab.team.assignments.create_assignment`,
``gold_rate``); :func:`defectlab.team.assignments.visible_label` never shows their answer to an
annotator. :func:`gold_accuracy` compares each person's latest own label with the answer.

Qualification
-------------
Gold items marked ``qualification=True`` form the project's qualification set. A user with the role
``annotator`` must answer ``n_items`` of them (default: all) with accuracy >= ``threshold`` (default
0.8, :func:`set_qualification_rule`) before getting real work:
:func:`defectlab.team.assignments.next_items` serves only the remaining qualification items until then.
A project without qualification items requires no qualification.

:func:`qualification_status` returns the state: ``not_required``, ``in_progress``, ``passed``,
``failed`` (every item answered, accuracy below the threshold: the queue is empty until the lead calls
:func:`reset_qualification` for a new attempt, or :func:`waive_qualification`), or ``waived``. Passing
is recorded once (table ``qualification_events``) and stays passed when the lead later adds
qualification items. Only answers given after the latest reset count.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from .._validation import _check_float, _check_int
from ..errors import InputError, NotFoundError
from ..messages import msg
from ..store import GOLD_COMMENT, UNUSABLE, annotate, current_label, log_action, require, utcnow
from ._common import _annotation_rows, _gold, _latest_votes, _project, _user_row

if TYPE_CHECKING:
    from typing import Any

    import pandas as pd

    from defectlab._typing import ProjectRef
    from defectlab.store import Workspace

__all__ = [
    "DEFAULT_QUALIFICATION_THRESHOLD",
    "gold_accuracy",
    "gold_items",
    "qualification_rule",
    "qualification_status",
    "reset_qualification",
    "set_gold",
    "set_qualification_rule",
    "unset_gold",
    "waive_qualification",
]

DEFAULT_QUALIFICATION_THRESHOLD = 0.8


def set_gold(ws: Workspace, item_id: int, label: str, by: str, qualification: bool = False) -> dict[str, Any]:
    """Mark an item as gold with its known answer (or change the answer / the qualification flag).

    Parameters
    ----------
    ws : Workspace
    item_id : int
        A live sample item.
    label : str
        One of the project's classes, or ``"__unusable__"``.
    by : str
        Who decides (needs ``assign`` and ``review``: a lead or an admin).
    qualification : bool, default False
        Part of the qualification set new annotators must pass.

    Returns
    -------
    dict
        ``item_id, project_id, label, qualification``.
    """
    with ws.transaction() as conn:
        require(conn, by, "assign")
        row = conn.execute(
            "SELECT i.id, i.project_id, i.role, i.deleted_at, p.classes FROM items i "
            "JOIN projects p ON p.id = i.project_id WHERE i.id = ?", (int(item_id),)).fetchone()
        if row is None:
            raise NotFoundError(msg("error.gold.no_item_id", "No item with id {item_id}.", item_id=item_id))
        if row["deleted_at"] or row["role"] != "sample":
            raise InputError(msg("error.gold.item_deleted_plate_image",
                    "Item {item_id} is deleted or a plate image; gold items must be live crops.",
                    item_id=item_id))
        classes = json.loads(row["classes"])
        if label != UNUSABLE and label not in classes:
            raise InputError(msg("error.gold.unknown_gold_label_project",
                    "Unknown gold label {label}; the project's classes are: {join_classes} (or "
                    "{UNUSABLE}).",
                    label=repr(label), join_classes=', '.join(classes), UNUSABLE=UNUSABLE))
        now = utcnow()
        conn.execute(
            "INSERT INTO gold_items (item_id, project_id, label, qualification, created_at, created_by) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (item_id) DO UPDATE SET label = excluded.label, "
            "qualification = excluded.qualification, removed_at = NULL, removed_by = NULL",
            (int(item_id), row["project_id"], label, int(bool(qualification)), now, by))
        state = current_label(ws, item_id, conn=conn)
        if state.label != label or state.source != "review":
            annotate(ws, item_id, label, user=by, source="review", comment=GOLD_COMMENT, conn=conn)
        log_action(conn, by, "gold.set", row["project_id"], item_id,
                   {"label": label, "qualification": bool(qualification)})
    return {"item_id": int(item_id), "project_id": row["project_id"], "label": label,
            "qualification": bool(qualification)}


def unset_gold(ws: Workspace, item_id: int, by: str) -> None:
    """Stop using an item as gold (its reviewed label stays). Needs ``assign``."""
    with ws.transaction() as conn:
        require(conn, by, "assign")
        row = conn.execute("SELECT project_id FROM gold_items WHERE item_id = ? AND removed_at IS NULL",
                           (int(item_id),)).fetchone()
        if row is None:
            raise NotFoundError(msg("error.gold.item_not_gold_item",
                    "Item {item_id} is not a gold item.",
                    item_id=item_id))
        conn.execute("UPDATE gold_items SET removed_at = ?, removed_by = ? WHERE item_id = ?",
                     (utcnow(), by, int(item_id)))
        log_action(conn, by, "gold.unset", row["project_id"], item_id)


def gold_items(ws: Workspace, project: ProjectRef, by: str = "local") -> list[dict[str, Any]]:
    """The project's active gold items with their answers (secret: needs ``assign``).

    Returns
    -------
    list of dict
        ``item_id, label, qualification, created_at, created_by``, oldest first.
    """
    p = _project(ws, project)
    with ws.read() as conn:
        require(conn, by, "assign")
        return [{**g, "qualification": bool(g["qualification"])} for g in _gold(conn, p.id).values()]


def set_qualification_rule(ws: Workspace, project: ProjectRef, n_items: int | None = None,
                           threshold: float = DEFAULT_QUALIFICATION_THRESHOLD, by: str = "local") -> dict[str, Any]:
    """Set how many qualification items a new annotator answers and the accuracy to reach.

    Parameters
    ----------
    n_items : int or None
        None: every qualification item of the project; otherwise the first ``n_items`` (in the order they
        were marked), or all when fewer exist.
    threshold : float in (0, 1]
    by : str
        Needs ``assign``.
    """
    p = _project(ws, project)
    if n_items is not None:
        n_items = _check_int(n_items, "set_qualification_rule", "n_items", 1)
    threshold = _check_float(threshold, "set_qualification_rule", "threshold", 0.0, 1.0, low_open=True)
    with ws.transaction() as conn:
        require(conn, by, "assign")
        conn.execute(
            "INSERT INTO qualification_rules (project_id, n_items, threshold, updated_at, updated_by) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (project_id) DO UPDATE SET n_items = excluded.n_items, "
            "threshold = excluded.threshold, updated_at = excluded.updated_at, "
            "updated_by = excluded.updated_by",
            (p.id, None if n_items is None else int(n_items), float(threshold), utcnow(), by))
        log_action(conn, by, "qualification.rule", p.id, p.name,
                   {"n_items": n_items, "threshold": float(threshold)})
    return qualification_rule(ws, p)


def _rule(conn, project_id):
    row = conn.execute("SELECT n_items, threshold FROM qualification_rules WHERE project_id = ?",
                       (project_id,)).fetchone()
    return (None, DEFAULT_QUALIFICATION_THRESHOLD) if row is None else (row["n_items"], row["threshold"])


def qualification_rule(ws: Workspace, project: ProjectRef) -> dict[str, Any]:
    """``{"n_items": int or None, "threshold": float, "n_available": int}`` for a project."""
    p = _project(ws, project)
    with ws.read() as conn:
        n_items, threshold = _rule(conn, p.id)
        available = len(_gold(conn, p.id, qualification=True))
    return {"n_items": n_items, "threshold": threshold, "n_available": available}


def _qualification(conn, project_id, user, record=True):
    """Compute (and, when ``record``, persist a pass / fail of) ``user``'s qualification state."""
    urow = _user_row(conn, user)
    n_items, threshold = _rule(conn, project_id)
    qual = _gold(conn, project_id, qualification=True)
    items = list(qual)[:n_items] if n_items is not None else list(qual)
    status = {"required": False, "state": "not_required", "n_required": len(items), "n_answered": 0,
              "n_correct": 0, "accuracy": None, "threshold": threshold, "remaining": []}
    last = conn.execute(
        "SELECT id, event, at FROM qualification_events WHERE project_id = ? AND user = ? "
        "ORDER BY id DESC LIMIT 1", (project_id, urow["username"])).fetchone()
    if last is not None and last["event"] in ("passed", "waived"):
        return {**status, "required": True, "state": last["event"]}
    if urow["role"] != "annotator" or not items:
        return status
    since = last["at"] if last is not None and last["event"] == "reset" else ""
    votes = _latest_votes(_annotation_rows(conn, project_id, user=urow["username"], item_ids=items),
                          user=urow["username"])
    answers = {item: votes[(item, urow["username"])]["label"] for item in items
               if (item, urow["username"]) in votes and votes[(item, urow["username"])]["created_at"] > since}
    n_correct = sum(answers[i] == qual[i]["label"] for i in answers)
    status.update(required=True, state="in_progress", n_answered=len(answers), n_correct=n_correct,
                  accuracy=n_correct / len(answers) if answers else None,
                  remaining=[i for i in items if i not in answers])
    if last is not None and last["event"] == "failed":
        return {**status, "state": "failed", "remaining": []}
    if len(answers) == len(items):
        passed = n_correct >= threshold * len(items) - 1e-9
        status["state"] = "passed" if passed else "failed"
        if record:
            conn.execute(
                "INSERT INTO qualification_events (project_id, user, event, n_answered, n_correct, at, by) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (project_id, urow["username"], status["state"], len(answers), n_correct, utcnow(),
                 urow["username"]))
    return status


def qualification_status(ws: Workspace, project: ProjectRef, user: str) -> dict[str, Any]:
    """Where ``user`` stands with the project's qualification set.

    Returns
    -------
    dict
        ``required`` (bool), ``state`` (``not_required``, ``in_progress``, ``passed``, ``failed``,
        ``waived``), ``n_required``, ``n_answered``, ``n_correct``, ``accuracy`` (None before any
        answer), ``threshold`` and ``remaining`` (qualification item ids still to answer, in order).
    """
    p = _project(ws, project)
    with ws.read() as conn:
        status = _qualification(conn, p.id, user, record=False)
    if status["state"] in ("passed", "failed") and status["n_answered"]:
        with ws.transaction() as conn:  # record the outcome once (re-checked under the write lock)
            status = _qualification(conn, p.id, user, record=True)
    return status


def _event(ws, project, user, by, event):
    p = _project(ws, project)
    with ws.transaction() as conn:
        require(conn, by, "assign")
        urow = _user_row(conn, user)
        conn.execute(
            "INSERT INTO qualification_events (project_id, user, event, at, by) VALUES (?, ?, ?, ?, ?)",
            (p.id, urow["username"], event, utcnow(), by))
        log_action(conn, by, f"qualification.{event}", p.id, urow["username"])


def reset_qualification(ws: Workspace, project: ProjectRef, user: str, by: str) -> None:
    """Start a new qualification attempt for ``user`` (earlier answers no longer count). Needs ``assign``."""
    _event(ws, project, user, by, "reset")


def waive_qualification(ws: Workspace, project: ProjectRef, user: str, by: str) -> None:
    """Let ``user`` get real work without passing the qualification set. Needs ``assign``."""
    _event(ws, project, user, by, "waived")


def gold_accuracy(ws: Workspace, project: ProjectRef, include_qualification: bool = False,
                  by: str = "local") -> pd.DataFrame:
    """Each person's accuracy on the project's gold items (their latest own label vs the answer).

    Parameters
    ----------
    include_qualification : bool, default False
        Count the qualification set too (off: only gold mixed into real work).
    by : str
        Needs ``view_team``.

    Returns
    -------
    pandas.DataFrame
        One row per person who labeled gold items: ``user, n_gold, n_correct, accuracy``, by user.
    """
    import pandas as pd

    p = _project(ws, project)
    with ws.read() as conn:
        require(conn, by, "view_team")
        gold = _gold(conn, p.id, qualification=None if include_qualification else False)
        votes = _latest_votes(_annotation_rows(conn, p.id, item_ids=list(gold)))
    stats: dict[str, tuple[int, int]] = {}
    for (item, user), row in votes.items():
        n, k = stats.get(user, (0, 0))
        stats[user] = (n + 1, k + int(row["label"] == gold[item]["label"]))
    df = pd.DataFrame([(u, n, k, k / n) for u, (n, k) in sorted(stats.items())],
                      columns=["user", "n_gold", "n_correct", "accuracy"])
    return df.astype({"n_gold": "int64", "n_correct": "int64", "accuracy": "float64"})
