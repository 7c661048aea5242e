"""Moving (or copying) items to another project of the workspace.

A crop imported into the wrong project, scrap photos that landed among the plate defects: the items go to
the project they belong to with their current label, instead of an export, a re-import and a lost history.

An item is never rewritten in place (its annotations are written in its own project's class names, and runs
of that project refer to it): the target project gets a new item on the same stored image, labeled with
the item's label of today (one ``import`` annotation by the person who moved it), and a record of where it
came from (``meta["moved_from"]``: project id and name, item id). A move then soft-deletes the original,
so its history, its runs and the audit trail stay where they were and an admin can restore it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..errors import InputError, NotFoundError
from ..messages import msg
from .audit import log_action
from .items import add_item, find_item, sql_int
from .labels import annotate, current_labels
from .permissions import require
from .projects import UNUSABLE, add_class, get_project
from .workspace import utcnow

if TYPE_CHECKING:
    from defectlab._typing import ItemIds, ProjectRef

    from .workspace import Workspace

__all__ = ["move_items"]

_MAX_SHOWN = 10  # ids named in a message


def move_items(ws: Workspace, item_ids: ItemIds, to_project: ProjectRef, user: str = "local", *, copy: bool = False,
               add_classes: bool = False, from_project: ProjectRef | None = None) -> dict[str, Any]:
    """Move items (a plate with its crops) to another project, with their current labels.

    Parameters
    ----------
    ws : Workspace
    item_ids : sequence of int
        Items of one project. A plate brings its live crops, which stay linked to it; a crop moved without
        its plate becomes a loose crop (its ``source`` still names the plate and box).
    to_project : str, int or Project
        Another live project of the workspace.
    user : str
        Needs ``import`` (and ``delete`` for a move; ``edit_project`` to add classes).
    copy : bool
        Keep the originals (default: soft-delete them, restorable by an admin).
    add_classes : bool
        Add the labels the target project lacks as classes (at the end). Without it such a move is refused
        before anything is written, naming the classes; an ordinal target refuses it (a grade belongs in its
        place on the scale, not at the end).
    from_project : str, int or Project, optional
        The project the items must be in (the command line names it: a mistyped id is refused, not moved).

    Returns
    -------
    dict
        ``project`` (target name), ``n`` (items written), ``ids`` (``{old id: new id}``), ``labeled`` (how
        many carry a label), ``skipped`` (``[{"item_id", "existing_id"}]``: the target already holds that
        image; nothing is written for it and a move keeps it in place), ``added_classes``.

    Raises
    ------
    NotFoundError
        An id that is no item, or a target project that does not exist.
    InputError
        Items of several projects or not of ``from_project``, the target is their own project, a deleted
        item, an item in an open assignment or a gold item (a move only: close or remove it first), labels
        the target lacks.
    PermissionDenied
    """
    ids = _ids(item_ids)
    target = get_project(ws, to_project)
    with ws.read() as conn:
        require(conn, user, "import")
        if not copy:
            require(conn, user, "delete")
        rows = _rows(conn, ids)
        source = get_project(ws, rows[0]["project_id"])
        if from_project is not None and get_project(ws, from_project).id != source.id:
            raise InputError(msg("error.move.other_project", "Item(s) {ids} are not in project {project}.",
                                 ids=[r["id"] for r in rows][:_MAX_SHOWN],
                                 project=get_project(ws, from_project).name))
        if target.id == source.id:
            raise InputError(msg("error.move.same_project", "The items are already in project {project}.",
                                 project=target.name))
        rows += _crops_of_plates(conn, rows)
        if not copy:
            _refuse_team_items(conn, [r["id"] for r in rows])
        labels = _labels(ws, source, rows, conn)
    missing = sorted({lab for lab in labels.values() if lab != UNUSABLE} - set(target.classes))
    if missing and add_classes and target.ordinal:  # a grade added at the end would be the highest: refuse
        raise InputError(msg("error.move.ordinal_classes", "{project} is graded on an ordinal scale: add {classes} "
                             "in its place among the grades first (Project & classes), then move.",
                             project=target.name, classes=", ".join(missing)))
    if missing and not add_classes:
        raise InputError(msg("error.move.missing_classes",
                             "Project {project} has no class {classes}: add them first, or move with the "
                             "classes added.", project=target.name, classes=", ".join(missing)))
    for cls in missing:
        target = add_class(ws, target, cls, user=user)
    return _write(ws, rows, source, target, user, copy, missing)


def _labels(ws, source, rows, conn):
    return {k: v.label for k, v in current_labels(ws, source.id, [r["id"] for r in rows], conn=conn).items()
            if v.label is not None}


def _ids(item_ids):
    ids = []
    for v in item_ids:
        key = sql_int(v)
        if key is None:
            raise NotFoundError(msg("error.items.no_item_id", "No item with id {item_id}.", item_id=v))
        ids.append(key)
    ids = list(dict.fromkeys(ids))
    if not ids:
        raise InputError(msg("error.move.nothing", "No items to move."))
    return ids


def _rows(conn, ids):
    found = {}
    for start in range(0, len(ids), 500):
        part = ids[start:start + 500]
        for r in conn.execute(f"SELECT * FROM items WHERE id IN ({','.join('?' * len(part))})", part):
            found[r["id"]] = dict(r)
    missing = [i for i in ids if i not in found]
    if missing:
        raise NotFoundError(msg("error.items.no_item_s_id", "No item(s) with id {missing_10}.",
                                missing_10=missing[:_MAX_SHOWN]))
    rows = [found[i] for i in ids]
    if len({r["project_id"] for r in rows}) > 1:
        raise InputError(msg("error.move.several_projects", "The items belong to several projects: move the "
                                                            "items of one project at a time."))
    deleted = [r["id"] for r in rows if r["deleted_at"]]
    if deleted:
        raise InputError(msg("error.move.deleted", "Item(s) {ids} are deleted: restore them first.",
                             ids=deleted[:_MAX_SHOWN]))
    return rows


def _crops_of_plates(conn, rows):
    chosen = {r["id"] for r in rows}
    plates = [r["id"] for r in rows if r["role"] == "plate"]
    extra = []
    for start in range(0, len(plates), 500):
        part = plates[start:start + 500]
        extra += [dict(r) for r in conn.execute(
            f"SELECT * FROM items WHERE parent_id IN ({','.join('?' * len(part))}) AND deleted_at IS NULL "
            "ORDER BY id", part) if r["id"] not in chosen]
    return extra


def team_held(conn, ids):
    """(item ids in an open assignment, item ids in the gold set) of ``ids``: items the team's work holds, which a
    move or an undo must not make vanish without a word."""
    busy, gold = [], []
    for start in range(0, len(ids), 500):
        part = [int(i) for i in ids[start:start + 500]]
        marks = ",".join("?" * len(part))
        busy += [r[0] for r in conn.execute(
            f"SELECT DISTINCT ai.item_id FROM assignment_items ai JOIN assignments a ON a.id = ai.assignment_id "
            f"WHERE a.closed_at IS NULL AND ai.item_id IN ({marks})", part)]
        gold += [r[0] for r in conn.execute(
            f"SELECT item_id FROM gold_items WHERE removed_at IS NULL AND item_id IN ({marks})", part)]
    return busy, gold


def _refuse_team_items(conn, ids):
    """A moved item would vanish from an annotator's open queue or from the gold set without a word."""
    busy, gold = team_held(conn, ids)
    if busy:
        raise InputError(msg("error.move.assigned", "Item(s) {ids} are in an open assignment: close it first, or "
                                                    "copy them instead.", ids=sorted(busy)[:_MAX_SHOWN]))
    if gold:
        raise InputError(msg("error.move.gold", "Item(s) {ids} are gold items: remove them from the gold set "
                                                "first, or copy them instead.", ids=sorted(gold)[:_MAX_SHOWN]))


def _write(ws, rows, source, target, user, copy, added):
    new_ids, skipped, labeled = {}, [], 0
    moved_ids = {r["id"] for r in rows}
    now = utcnow()
    with ws.transaction() as conn:
        # read again under the write lock: a label given or an assignment made since the checks counts
        if not copy:
            _refuse_team_items(conn, [r["id"] for r in rows])
        labels = _labels(ws, source, rows, conn)
        # plates first: their crops link to the new plate
        for r in sorted(rows, key=lambda r: r["role"] != "plate"):
            existing = find_item(conn, target.id, r["sha256"], r["role"])
            if existing is not None:
                skipped.append({"item_id": r["id"], "existing_id": existing["id"]})
                continue
            parent = new_ids.get(r["parent_id"]) if r["parent_id"] in moved_ids else None
            meta = {**json.loads(r["meta"] or "{}"),
                    "moved_from": {"project_id": source.id, "project": source.name, "item_id": r["id"]}}
            new = add_item(conn, target.id, sha256=r["sha256"], blob=r["blob"], width=r["width"],
                           height=r["height"], channels=r["channels"], source=r["source"], role=r["role"],
                           parent_id=parent, box=json.loads(r["box"]) if parent and r["box"] else None,
                           box_index=r["box_index"] if parent else None, meta=meta)
            new_ids[r["id"]] = new
            if r["id"] in labels and r["role"] == "sample":
                annotate(ws, new, labels[r["id"]], user=user, source="import", conn=conn)
                labeled += 1
        gone = [] if copy else list(new_ids)
        for start in range(0, len(gone), 500):
            part = gone[start:start + 500]
            conn.execute(f"UPDATE items SET deleted_at = ?, deleted_by = ? WHERE id IN ({','.join('?' * len(part))})",
                         [now, user, *part])
        log_action(conn, user, "items.copy" if copy else "items.move", source.id, target.name,
                   {"to_project": target.name, "item_ids": list(new_ids)[:1000],
                    "new_ids": list(new_ids.values())[:1000], "already_there": len(skipped), "added_classes": added})
    return {"project": target.name, "n": len(new_ids), "ids": new_ids, "labeled": labeled, "skipped": skipped,
            "added_classes": added}
