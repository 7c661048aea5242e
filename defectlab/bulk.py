"""Bulk actions on a selection of items (the Items page): label, mark unusable, send to review, assign to a
person, delete, restore — all or nothing, each within the acting user's role.

It sits above the store and the team package (an ``assign`` creates a team assignment), so the store's
item browser (:mod:`defectlab.store.browse`) stays below the team layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._typing import ProjectRef
from .errors import InputError
from .messages import msg
from .store.browse import _CHUNK, send_to_review
from .store.items import delete_items, restore_items
from .store.labels import annotate_many
from .store.projects import UNUSABLE, get_project
from .store.workspace import Workspace
from .team.assignments import create_assignment

__all__ = ["BULK_ACTIONS", "bulk_action"]

#: The actions :func:`bulk_action` knows.
BULK_ACTIONS = ("label", "unusable", "review", "assign", "delete", "restore")


def bulk_action(ws: Workspace, project: ProjectRef, item_ids: Sequence[int], action: str, user: str = "local",
                label: str | None = None, assignee: str | None = None) -> dict[str, Any]:
    """Apply one action to a selection of items, all or nothing, within the acting user's role.

    Parameters
    ----------
    ws : Workspace
    project : str, int or Project
        The items must belong to it.
    item_ids : sequence of int
    action : {"label", "unusable", "review", "assign", "delete", "restore"}
        ``label`` (needs ``label``: a class), ``unusable`` (marks them not usable), ``review`` (sends
        them to review), ``assign`` (a new assignment of them to ``assignee``; needs ``assign``),
        ``delete`` (soft; needs ``delete``), ``restore`` (needs ``restore``).
    user : str
    label : str, optional
    assignee : str, optional

    Returns
    -------
    dict
        ``{"action": str, "n": int}`` (and ``assignment_id`` and ``warnings`` for ``assign``; ``annotation_ids``
        for ``label`` and ``unusable``: what :func:`defectlab.store.retract_many` undoes).
    """
    p = get_project(ws, project)
    ids = sorted({int(i) for i in item_ids})
    if not ids:
        raise InputError(msg("error.items.empty_selection", "Select at least one item."))
    if action not in BULK_ACTIONS:
        raise InputError(msg("error.items.bad_action", "Unknown action {action!r}; expected one of {actions}.",
                             action=str(action), actions=", ".join(BULK_ACTIONS)))
    with ws.read() as conn:
        marks = ",".join("?" * len(ids)) if len(ids) <= _CHUNK else None
        if marks:
            other = conn.execute(f"SELECT COUNT(*) FROM items WHERE id IN ({marks}) AND project_id != ?",
                                 [*ids, p.id]).fetchone()[0]
            if other:
                raise InputError(msg("error.items.mixed_projects", "The selected items belong to several projects."))
    if action == "label":
        if not label:
            raise InputError(msg("error.items.need_label", "Choose the label to give."))
        written = annotate_many(ws, ids, label, user=user)
        return {"action": action, "n": len(written), "annotation_ids": written}
    if action == "unusable":
        written = annotate_many(ws, ids, UNUSABLE, user=user)
        return {"action": action, "n": len(written), "annotation_ids": written}
    if action == "review":
        return {"action": action, "n": send_to_review(ws, ids, user=user)}
    if action == "assign":
        if not assignee:
            raise InputError(msg("error.items.need_assignee", "Choose the person to assign the items to."))
        res = create_assignment(ws, p, ids, [assignee], overlap=0.0, gold_rate=0.0, by=user,
                                name=f"browser: {len(ids)} items", reassign=True)  # chosen one by one: as asked
        return {"action": action, "n": res["n_items"], "assignment_id": res["assignment_id"],
                "warnings": res["warnings"]}
    if action == "delete":
        return {"action": action, "n": delete_items(ws, ids, user=user)}
    return {"action": action, "n": restore_items(ws, ids, user=user)}
