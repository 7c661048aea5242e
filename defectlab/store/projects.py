"""Projects: an ordered class list (the grade order when ``ordinal``), the label-book text, settings."""

import json
import re
from dataclasses import dataclass, field

from ..errors import InputError, NotFoundError
from .audit import log_action
from .permissions import require
from .workspace import utcnow

__all__ = [
    "UNUSABLE",
    "Project",
    "create_project",
    "delete_project",
    "get_project",
    "list_projects",
    "parse_classes",
    "project_summary",
    "restore_project",
    "update_project",
]

UNUSABLE = "__unusable__"
"""The label a reviewer gives an item that is not a defect crop at all (blank frame, wrong camera...)."""

_NAME_MAX = 100


@dataclass(frozen=True)
class Project:
    """A labeling project.

    Attributes
    ----------
    id : int
    name : str
    classes : tuple of str
        In order; for ordinal projects the order is the grade scale.
    ordinal : bool
    descriptions : dict
        ``{class: {"description": str, "criteria": str}}`` — the label book text.
    settings : dict
    """

    id: int
    name: str
    classes: tuple
    ordinal: bool
    descriptions: dict = field(default_factory=dict, compare=False)
    settings: dict = field(default_factory=dict, compare=False)
    created_at: str = ""
    created_by: str = ""
    deleted_at: str | None = None

    @property
    def class_index(self):
        """``{class: position}``."""
        return {c: i for i, c in enumerate(self.classes)}


def parse_classes(classes):
    """Validate a class list (a list, or a comma-separated string); return a tuple of stripped names."""
    if isinstance(classes, str):
        classes = [c for c in re.split(r"[,，]", classes)]
    names = [str(c).strip() for c in classes]
    names = [c for c in names if c]
    if len(names) < 2:
        raise InputError(
            f"A project needs at least two classes; got {names!r}. Example: --classes crazing,scratches"
        )
    seen = set()
    for c in names:
        if c in seen:
            raise InputError(f"Class {c!r} is listed twice; class names must be unique.")
        if c == UNUSABLE or c.startswith("__"):
            raise InputError(f"Class name {c!r} is reserved; choose another name.")
        if len(c) > _NAME_MAX:
            raise InputError(f"Class name {c[:20]!r}... is longer than {_NAME_MAX} characters.")
        seen.add(c)
    return tuple(names)


def _row_to_project(row):
    return Project(
        id=row["id"],
        name=row["name"],
        classes=tuple(json.loads(row["classes"])),
        ordinal=bool(row["ordinal"]),
        descriptions=json.loads(row["descriptions"] or "{}"),
        settings=json.loads(row["settings"] or "{}"),
        created_at=row["created_at"],
        created_by=row["created_by"],
        deleted_at=row["deleted_at"],
    )


def create_project(ws, name, classes, ordinal=False, descriptions=None, user="local"):
    """Create a project.

    Parameters
    ----------
    ws : Workspace
    name : str
    classes : list of str or str
        Ordered class names, or one comma-separated string.
    ordinal : bool, default False
        The classes are grades on an ordered scale (scrap grades): off-by-one is a smaller error.
    descriptions : dict, optional
        Label-book text per class.
    user : str
        Who acts (needs the ``create_project`` permission).

    Returns
    -------
    Project
    """
    name = str(name).strip()
    if not name or len(name) > _NAME_MAX:
        raise InputError(f"Project name must be 1-{_NAME_MAX} characters; got {name!r}.")
    classes = parse_classes(classes)
    descriptions = {c: dict(v) for c, v in (descriptions or {}).items() if c in classes}
    with ws.transaction() as conn:
        require(conn, user, "create_project")
        if conn.execute("SELECT 1 FROM projects WHERE name = ?", (name,)).fetchone():
            raise InputError(f"A project named {name!r} already exists; choose another name.")
        cur = conn.execute(
            "INSERT INTO projects (name, classes, ordinal, descriptions, created_at, created_by) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (name, json.dumps(list(classes), ensure_ascii=False), int(bool(ordinal)),
             json.dumps(descriptions, ensure_ascii=False), utcnow(), user),
        )
        log_action(conn, user, "project.create", cur.lastrowid, name,
                   {"classes": list(classes), "ordinal": bool(ordinal)})
    return get_project(ws, name)


def get_project(ws, project, include_deleted=False):
    """A project by name, id or :class:`Project`; raises :class:`NotFoundError`."""
    if isinstance(project, Project):
        project = project.id
    with ws.read() as conn:
        if isinstance(project, int):
            row = conn.execute("SELECT * FROM projects WHERE id = ?", (project,)).fetchone()
        else:
            row = conn.execute("SELECT * FROM projects WHERE name = ?", (str(project),)).fetchone()
        names = [r[0] for r in conn.execute(
            "SELECT name FROM projects WHERE deleted_at IS NULL ORDER BY id")]
    if row is None or (row["deleted_at"] and not include_deleted):
        known = ", ".join(names) or "none yet"
        raise NotFoundError(f"No project {project!r} in this workspace (projects: {known}).")
    return _row_to_project(row)


def list_projects(ws, include_deleted=False):
    """All projects, oldest first."""
    sql = "SELECT * FROM projects" + ("" if include_deleted else " WHERE deleted_at IS NULL")
    with ws.read() as conn:
        return [_row_to_project(r) for r in conn.execute(sql + " ORDER BY id")]


def update_project(ws, project, *, classes=None, ordinal=None, descriptions=None, settings=None,
                   user="local"):
    """Change a project's classes (existing ones may only be added to or reordered), ordinal flag,
    label-book text or settings. Returns the updated :class:`Project`."""
    p = get_project(ws, project)
    changes = {}
    with ws.transaction() as conn:
        require(conn, user, "edit_project")
        if classes is not None:
            new = parse_classes(classes)
            missing = [c for c in p.classes if c not in new]
            if missing:
                used = {r[0] for r in conn.execute(
                    "SELECT DISTINCT a.label FROM annotations a JOIN items i ON i.id = a.item_id "
                    "WHERE i.project_id = ? AND a.label IS NOT NULL", (p.id,))}
                if used & set(missing):
                    raise InputError(
                        f"Cannot remove class(es) {sorted(used & set(missing))} from {p.name!r}: "
                        "items carry those labels. Relabel them first."
                    )
            conn.execute("UPDATE projects SET classes = ? WHERE id = ?",
                         (json.dumps(list(new), ensure_ascii=False), p.id))
            changes["classes"] = list(new)
        if ordinal is not None:
            conn.execute("UPDATE projects SET ordinal = ? WHERE id = ?", (int(bool(ordinal)), p.id))
            changes["ordinal"] = bool(ordinal)
        if descriptions is not None:
            merged = dict(p.descriptions)
            for c, v in descriptions.items():
                merged[c] = {**merged.get(c, {}), **dict(v)}
            conn.execute("UPDATE projects SET descriptions = ? WHERE id = ?",
                         (json.dumps(merged, ensure_ascii=False), p.id))
            changes["descriptions"] = sorted(descriptions)
        if settings is not None:
            merged = {**p.settings, **dict(settings)}
            conn.execute("UPDATE projects SET settings = ? WHERE id = ?",
                         (json.dumps(merged, ensure_ascii=False), p.id))
            changes["settings"] = sorted(settings)
        if changes:
            log_action(conn, user, "project.update", p.id, p.name, changes)
    return get_project(ws, p.id)


def delete_project(ws, project, user="local"):
    """Soft-delete a project (an admin can restore it)."""
    p = get_project(ws, project)
    with ws.transaction() as conn:
        require(conn, user, "delete")
        conn.execute("UPDATE projects SET deleted_at = ?, deleted_by = ? WHERE id = ?",
                     (utcnow(), user, p.id))
        log_action(conn, user, "project.delete", p.id, p.name)


def restore_project(ws, project, user="local"):
    """Restore a soft-deleted project."""
    p = get_project(ws, project, include_deleted=True)
    with ws.transaction() as conn:
        require(conn, user, "restore")
        conn.execute("UPDATE projects SET deleted_at = NULL, deleted_by = NULL WHERE id = ?", (p.id,))
        log_action(conn, user, "project.restore", p.id, p.name)
    return get_project(ws, p.id)


def project_summary(ws, project):
    """Counts for the projects page and ``project list``.

    Returns
    -------
    dict
        ``name, classes, ordinal, n_items, n_labeled, n_unlabeled, n_unusable, n_plates, per_class,
        last_run`` (the newest run's id and headline metrics, or None), ``n_needs_review`` (items
        whose voters disagree). Counts come from one SQL aggregate, cached until the labels change
        (:func:`defectlab.store.summary.label_counts`).
    """
    from .summary import label_counts

    p = get_project(ws, project)
    with ws.read() as conn:
        counts = label_counts(ws, p.id, conn=conn)
        n_items = counts["n_items"]
        n_plates = conn.execute(
            "SELECT COUNT(*) FROM items WHERE project_id = ? AND role = 'plate' AND deleted_at IS NULL",
            (p.id,)).fetchone()[0]
        run = conn.execute(
            "SELECT id, model, metrics, created_at FROM runs WHERE project_id = ? AND status = 'done' "
            "ORDER BY created_at DESC LIMIT 1", (p.id,)).fetchone()
    per_class = {c: counts["labels"].get(c, 0) for c in p.classes}
    n_unusable = counts["labels"].get(UNUSABLE, 0)
    n_labeled = sum(per_class.values())
    last_run = None
    if run is not None:
        last_run = {"run_id": run["id"], "model": run["model"], "created_at": run["created_at"],
                    "metrics": json.loads(run["metrics"] or "{}")}
    return {
        "name": p.name,
        "classes": list(p.classes),
        "ordinal": p.ordinal,
        "n_items": n_items,
        "n_labeled": n_labeled,
        "n_unlabeled": n_items - n_labeled - n_unusable,
        "n_unusable": n_unusable,
        "n_plates": n_plates,
        "per_class": per_class,
        "last_run": last_run,
        "n_needs_review": counts["n_disagreed"],
    }
