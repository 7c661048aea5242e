"""What a person may see of an item's labels: the one filter every page and command goes through.

Blind overlap only measures something if annotators never see other people's labels of an item they
label. So whatever shows an item's label to somebody (the Label page and its grid, the Label book's
example pickers, the Cut crops captions...) asks :func:`item_views` (or its shorthands
:func:`visible_labels` / :func:`visible_label`) instead of reading the derived label itself.

Rules
-----
- Everybody in single-user mode, and leads, reviewers and admins in team mode (``review`` or
  ``view_team``), see the current (derived) label, its history and the model's predictions.
- Anybody else (annotators, supervisors) sees, for an item in any assignment or gold, only their own
  latest label (None before they labeled it); for other items, the current label.
- Source paths: hidden from them on those blind items (:func:`hidden_sources`; class folders name the answer).
- Model suggestions: annotators in team mode get none (:func:`may_see_model`): a hint would steer them
  and inflate the measured agreement and gold accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import NotFoundError
from ..messages import msg
from ._votes import _annotation_rows, _gold, _latest_votes
from .labels import current_labels
from .permissions import can, role_of
from .projects import Project, get_project

if TYPE_CHECKING:
    from defectlab._typing import ItemIds, ProjectRef
    from defectlab.store import Workspace

__all__ = ["ItemView", "hidden_sources", "item_views", "may_see_model", "visible_label", "visible_labels"]


def _project(ws, project):
    return project if isinstance(project, Project) else get_project(ws, project)


@dataclass(frozen=True)
class ItemView:
    """What one person may see of one item.

    Attributes
    ----------
    label : str or None
        The label to show them (their own vote on a blind item).
    own : bool
        ``label`` is the person's own latest vote, not the item's current label.
    others : bool
        They may see other people's labels, the item's history and model predictions of it.
    """

    label: str | None
    own: bool
    others: bool


def _privileged(conn, user):
    return can(conn, user, "view_team") or can(conn, user, "review")


def _team_mode(conn):
    return conn.execute("SELECT 1 FROM users WHERE username != 'local' LIMIT 1").fetchone() is not None


def _blind_items(conn, project_id, item_ids=None):
    """Items of ``item_ids`` (default all) that are in any assignment or gold."""
    if item_ids is not None and len(item_ids) <= 500:
        ids = sorted({int(i) for i in item_ids})
        if not ids:
            return set()
        marks = ",".join("?" * len(ids))
        return {r[0] for r in conn.execute(
            f"SELECT item_id FROM assignment_items WHERE item_id IN ({marks}) UNION "
            f"SELECT item_id FROM gold_items WHERE removed_at IS NULL AND item_id IN ({marks})", ids + ids)}
    blind = {r[0] for r in conn.execute(
        "SELECT DISTINCT ai.item_id FROM assignment_items ai JOIN assignments s ON s.id = ai.assignment_id "
        "WHERE s.project_id = ?", (project_id,))}
    blind |= set(_gold(conn, project_id))
    return blind if item_ids is None else blind & {int(i) for i in item_ids}


def item_views(ws: Workspace, project: ProjectRef, user: str, item_ids: ItemIds | None = None) -> dict[int, ItemView]:
    """What ``user`` may see of each item: ``{item_id: ItemView}``.

    Parameters
    ----------
    ws : Workspace
    project : str, int or Project
    user : str
        The acting account (``local`` in single-user mode).
    item_ids : sequence of int, optional
        Default: every live sample item of the project. Pass the ids on screen: the whole project costs
        about 0.4 s for 20,000 items (the derived labels), a page of 50 a few ms.

    Returns
    -------
    dict of int to ItemView
    """
    p = _project(ws, project)
    with ws.read() as conn:
        if item_ids is None:
            ids = [r[0] for r in conn.execute("SELECT id FROM items WHERE project_id = ? AND role = 'sample' "
                                              "AND deleted_at IS NULL ORDER BY id", (p.id,))]
        else:
            ids = [int(i) for i in item_ids]
        states = current_labels(ws, p.id, item_ids=None if item_ids is None else ids, conn=conn)
        others = not _team_mode(conn) or _privileged(conn, user)
        out = {i: ItemView(states[i].label if i in states else None, False, others) for i in ids}
        if others:
            return out
        blind = _blind_items(conn, p.id, ids)
        if blind:
            votes = _latest_votes(_annotation_rows(conn, p.id, user=user, item_ids=blind), user=user)
            for i in blind:
                vote = votes.get((i, user))
                out[i] = ItemView(None if vote is None else vote["label"], True, False)
    return out


def visible_labels(ws: Workspace, project: ProjectRef, user: str,
                   item_ids: ItemIds | None = None) -> dict[int, str | None]:
    """:func:`item_views` reduced to the labels: ``{item_id: label or None}``."""
    return {i: v.label for i, v in item_views(ws, project, user, item_ids).items()}


def visible_label(ws: Workspace, item_id: int, user: str) -> str | None:
    """The label ``user`` may see for one item, or None (see :func:`item_views`)."""
    with ws.read() as conn:
        row = conn.execute("SELECT project_id FROM items WHERE id = ?", (int(item_id),)).fetchone()
    if row is None:
        raise NotFoundError(msg("error.visibility.no_item_id", "No item with id {item_id}.", item_id=item_id))
    return item_views(ws, row["project_id"], user, [int(item_id)])[int(item_id)].label


def hidden_sources(ws: Workspace, project: ProjectRef, user: str, item_ids: ItemIds) -> set[int]:
    """Items of ``item_ids`` whose source path ``user`` may not see: the blind ones of a blind labeler (an
    item imported from a class folder, ``crazing/crazing_004.png``, names its answer in its path; a gold
    item's too)."""
    return {i for i, v in item_views(ws, project, user, item_ids).items() if v.own}


def may_see_model(ws: Workspace, user: str) -> bool:
    """Whether ``user`` may see model suggestions (and queue orders built from them): not annotators in
    team mode."""
    with ws.read() as conn:
        return not _team_mode(conn) or role_of(conn, user) != "annotator"
