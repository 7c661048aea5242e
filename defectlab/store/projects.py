"""Projects: an ordered class list (the grade order when ``ordinal``), the label-book text, settings."""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import InputError, NotFoundError
from ..messages import msg
from .audit import log_action
from .permissions import require
from .renames import class_events, map_label
from .workspace import utcnow

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from typing import Any

    from defectlab._typing import ProjectRef
    from defectlab.messages import Message
    from defectlab.store import Workspace

__all__ = [
    "EXAMPLE_KINDS",
    "UNUSABLE",
    "Project",
    "add_class",
    "add_example",
    "class_name_problem",
    "create_project",
    "delete_project",
    "get_project",
    "list_projects",
    "merge_classes",
    "parse_classes",
    "project_summary",
    "remove_class",
    "remove_example",
    "rename_class",
    "rename_project",
    "reorder_classes",
    "restore_project",
    "unused_classes",
    "update_project",
]

UNUSABLE = "__unusable__"
"""The label a reviewer gives an item that is not a defect crop at all (blank frame, wrong camera...)."""

_NAME_MAX = 100
_NOT_IN_CLASS_NAMES = frozenset(',，/\\')
"""Characters a class name cannot hold: the list separators, and the path separators (a class is a folder
of an image-folder import and export)."""


def _hidden_chars(name):
    """Control and format characters (newline, escape, right-to-left override, zero-width ...): they break
    a ``classes.txt`` line, an XML file or a terminal, and make two names look alike."""
    return [ch for ch in name if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs")]


def class_name_problem(name: str) -> Message | None:
    """Why ``name`` (already stripped) cannot be a class name, or None.

    One rule for every way a class is made (creating or editing a project, an import that creates one).

    Examples
    --------
    >>> class_name_problem("rolled-in scale") is None, class_name_problem("划痕") is None
    (True, True)
    >>> class_name_problem("a/b") is not None, class_name_problem("x\\u202ey") is not None
    (True, True)
    """
    if not name or len(name) > _NAME_MAX:
        return msg("error.project.bad_class_name", "A class name must be 1-{max} characters; got {name!r}.",
                   max=_NAME_MAX, name=name[:40])
    if name == UNUSABLE or name.startswith("__") or not name.strip("."):
        return msg("error.projects.class_name_reserved_choose", "Class name {c} is reserved; choose another name.",
                   c=repr(name))
    if _hidden_chars(name) or _NOT_IN_CLASS_NAMES.intersection(name):
        return msg("error.project.class_name_chars",
                   "Class name {name!r} cannot hold {chars} or control or direction characters; choose another "
                   "name.", name=name[:40],
                   chars=" ".join(sorted(_NOT_IN_CLASS_NAMES, key=",，/\\".index)))
    return None


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


def parse_classes(classes: str | Sequence[str]) -> tuple[str, ...]:
    """Validate a class list (a list, or a comma-separated string); return a tuple of stripped names."""
    if isinstance(classes, str):
        classes = [c for c in re.split(r"[,，]", classes)]
    names = [str(c).strip() for c in classes]
    names = [c for c in names if c]
    if len(names) < 2:
        raise InputError(
            msg("error.projects.project_needs_least_two",
                "A project needs at least two classes; got {names}. Example: --classes "
                "crazing,scratches",
                names=repr(names))
        )
    seen = set()
    for c in names:
        if c in seen:
            raise InputError(msg("error.projects.class_listed_twice_class",
                    "Class {c} is listed twice; class names must be unique.",
                    c=repr(c)))
        problem = class_name_problem(c)
        if problem is not None:
            raise InputError(problem)
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


def create_project(ws: Workspace, name: str, classes: str | Sequence[str], ordinal: bool = False,
                   descriptions: Mapping[str, Mapping[str, Any]] | None = None, user: str = "local") -> Project:
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
    name = _check_name(name, what="project")
    classes = parse_classes(classes)
    descriptions = {c: dict(v) for c, v in (descriptions or {}).items() if c in classes}
    with ws.transaction() as conn:
        require(conn, user, "create_project")
        if conn.execute("SELECT 1 FROM projects WHERE name = ?", (name,)).fetchone():
            raise InputError(msg("error.projects.project_named_already_exists",
                    "A project named {name} already exists; choose another name.",
                    name=repr(name)))
        cur = conn.execute(
            "INSERT INTO projects (name, classes, ordinal, descriptions, created_at, created_by) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (name, json.dumps(list(classes), ensure_ascii=False), int(bool(ordinal)),
             json.dumps(descriptions, ensure_ascii=False), utcnow(), user),
        )
        log_action(conn, user, "project.create", cur.lastrowid, name,
                   {"classes": list(classes), "ordinal": bool(ordinal)})
    return get_project(ws, name)


def get_project(ws: Workspace, project: ProjectRef, include_deleted: bool = False) -> Project:
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
        raise NotFoundError(msg("error.project.not_found", "No project {project!r} in this workspace (projects: "
                                "{known}).", project=str(project), known=", ".join(names) or "-"))
    return _row_to_project(row)


def list_projects(ws: Workspace, include_deleted: bool = False) -> list[Project]:
    """All projects, oldest first."""
    sql = "SELECT * FROM projects" + ("" if include_deleted else " WHERE deleted_at IS NULL")
    with ws.read() as conn:
        return [_row_to_project(r) for r in conn.execute(sql + " ORDER BY id")]


def update_project(ws: Workspace, project: ProjectRef, *, classes: str | Sequence[str] | None = None,
                   ordinal: bool | None = None, descriptions: Mapping[str, Mapping[str, Any]] | None = None,
                   settings: Mapping[str, Any] | None = None, user: str = "local") -> Project:
    """Change a project's classes (existing ones may only be added to or reordered), ordinal flag,
    label-book text or settings. Returns the updated :class:`Project`."""
    p = get_project(ws, project)
    changes: dict[str, Any] = {}
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
                        msg("error.projects.cannot_remove_class_es",
                            "Cannot remove class(es) {sorted_used_set_missing} from {name}: items "
                            "carry those labels. Relabel them first.",
                            sorted_used_set_missing=sorted(used & set(missing)), name=repr(p.name))
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


def delete_project(ws: Workspace, project: ProjectRef, user: str = "local") -> None:
    """Soft-delete a project (an admin can restore it)."""
    p = get_project(ws, project)
    with ws.transaction() as conn:
        require(conn, user, "delete")
        conn.execute("UPDATE projects SET deleted_at = ?, deleted_by = ? WHERE id = ?",
                     (utcnow(), user, p.id))
        log_action(conn, user, "project.delete", p.id, p.name)


def restore_project(ws: Workspace, project: ProjectRef, user: str = "local") -> Project:
    """Restore a soft-deleted project."""
    p = get_project(ws, project, include_deleted=True)
    with ws.transaction() as conn:
        require(conn, user, "restore")
        conn.execute("UPDATE projects SET deleted_at = NULL, deleted_by = NULL WHERE id = ?", (p.id,))
        log_action(conn, user, "project.restore", p.id, p.name)
    return get_project(ws, p.id)


def project_summary(ws: Workspace, project: ProjectRef) -> dict[str, Any]:
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


# -- renaming and class editing ----------------------------------------------------------------------
def _check_name(name, what="class"):
    name = str(name).strip()
    if what == "class":
        problem = class_name_problem(name)
        if problem is not None:
            raise InputError(problem)
        return name
    if not name or len(name) > _NAME_MAX or _hidden_chars(name):
        raise InputError(msg("error.project.bad_name", "A project name must be 1-{max} characters, none of them a "
                             "control or direction character; got {name!r}.", max=_NAME_MAX, name=name[:40]))
    return name


def _require_class(p, cls):
    if cls not in p.classes:
        raise InputError(msg("error.project.unknown_class",
                             "Project {project!r} has no class {cls!r}; its classes are: {classes}.",
                             project=p.name, cls=str(cls), classes=", ".join(p.classes)))


def _set_classes(conn, p, classes, descriptions=None):
    conn.execute("UPDATE projects SET classes = ? WHERE id = ?",
                 (json.dumps(list(classes), ensure_ascii=False), p.id))
    if descriptions is not None:
        conn.execute("UPDATE projects SET descriptions = ? WHERE id = ?",
                     (json.dumps(descriptions, ensure_ascii=False), p.id))


def _class_event(conn, p, kind, old, new, user):
    """Record ``old -> new`` for every annotation written so far; move gold answers along."""
    upto = conn.execute("SELECT COALESCE(MAX(id), 0) FROM annotations").fetchone()[0]
    conn.execute("INSERT INTO class_events (project_id, kind, old, new, upto_annotation, at, by) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?)", (p.id, kind, old, new, upto, utcnow(), user))
    # gold answers are settings of the project (not history): they follow the class
    conn.execute("UPDATE gold_items SET label = ? WHERE project_id = ? AND label = ?", (new, p.id, old))


def rename_project(ws: Workspace, project: ProjectRef, new_name: str, user: str = "local") -> Project:
    """Rename a project (runs, items and history stay attached: they refer to its id).

    Returns
    -------
    Project
    """
    p = get_project(ws, project)
    new_name = _check_name(new_name, what="project")
    with ws.transaction() as conn:
        require(conn, user, "edit_project")
        if new_name != p.name and conn.execute("SELECT 1 FROM projects WHERE name = ?", (new_name,)).fetchone():
            raise InputError(msg("error.project.exists",
                                 "A project named {name!r} already exists; choose another name.", name=new_name))
        conn.execute("UPDATE projects SET name = ? WHERE id = ?", (new_name, p.id))
        log_action(conn, user, "project.rename", p.id, new_name, {"old": p.name, "new": new_name})
    return get_project(ws, p.id)


def add_class(ws: Workspace, project: ProjectRef, cls: str, user: str = "local",
              position: int | None = None) -> Project:
    """Add a class (at the end, or at 0-based ``position``). Returns the updated :class:`Project`."""
    p = get_project(ws, project)
    cls = _check_name(cls)
    if cls in p.classes:
        raise InputError(msg("error.project.class_exists", "Project {project!r} already has a class {cls!r}.",
                             project=p.name, cls=cls))
    classes = list(p.classes)
    classes.insert(len(classes) if position is None else max(0, min(int(position), len(classes))), cls)
    with ws.transaction() as conn:
        require(conn, user, "edit_project")
        _set_classes(conn, p, classes)
        log_action(conn, user, "project.add_class", p.id, p.name, {"class": cls, "classes": classes})
    return get_project(ws, p.id)


def rename_class(ws: Workspace, project: ProjectRef, old: str, new: str, user: str = "local") -> Project:
    """Rename a class. Every annotation keeps its meaning: the rename is a recorded event applied when
    labels are read (:mod:`defectlab.store.renames`); nothing already written is changed.

    Raises
    ------
    InputError
        ``old`` is not a class, or ``new`` is already one (merge them instead).
    """
    p = get_project(ws, project)
    _require_class(p, old)
    new = _check_name(new)
    if new == old:
        return p
    if new in p.classes:
        raise InputError(msg("error.project.rename_onto_existing",
                             "Class {new!r} already exists in {project!r}; to put {old!r} into it, merge the classes.",
                             new=new, old=old, project=p.name))
    classes = [new if c == old else c for c in p.classes]
    descriptions = {(new if c == old else c): v for c, v in p.descriptions.items()}
    with ws.transaction() as conn:
        require(conn, user, "edit_project")
        _set_classes(conn, p, classes, descriptions)
        _class_event(conn, p, "rename", old, new, user)
        log_action(conn, user, "project.rename_class", p.id, p.name, {"old": old, "new": new})
    return get_project(ws, p.id)


def unused_classes(ws: Workspace, project: ProjectRef, user: str = "local") -> list[str]:
    """The project's classes no annotation (live, undone or renamed into it) and no gold answer carries: the
    ones :func:`remove_class` may remove, in the project's order (``user`` needs ``view``)."""
    p = get_project(ws, project)
    with ws.read() as conn:
        require(conn, user, "view")
        return [c for c in p.classes if c not in _used_labels(conn, p)]


def _used_labels(conn, p):
    """Every label the project's annotations mean today (class events applied) and its gold answers."""
    events = class_events(conn, p.id)
    written = [r[0] for r in conn.execute(  # one row per distinct label, not per annotation
        "SELECT DISTINCT a.label FROM annotations a JOIN items i ON i.id = a.item_id "
        "WHERE i.project_id = ? AND a.label IS NOT NULL", (p.id,))]
    renamed = {ev["old"] for ev in events}
    used = {label for label in written if label not in renamed}
    for label in set(written) & renamed:  # only these need each annotation's id to know what it means today
        used |= {map_label(events, label, r[0]) for r in conn.execute(
            "SELECT a.id FROM annotations a JOIN items i ON i.id = a.item_id WHERE i.project_id = ? "
            "AND a.label = ?", (p.id, label))}
    used |= {r[0] for r in conn.execute("SELECT label FROM gold_items WHERE project_id = ?", (p.id,))}
    return used


def remove_class(ws: Workspace, project: ProjectRef, cls: str, user: str = "local") -> Project:
    """Remove a class nothing was ever labeled with (a typo, a grade added by mistake); its label-book entry
    goes with it. A class with labels is merged into another instead (:func:`merge_classes`).

    Raises
    ------
    InputError
        ``cls`` is not a class, carries labels (or a gold answer), or is one of the last two classes.
    """
    p = get_project(ws, project)
    _require_class(p, cls)
    if len(p.classes) <= 2:
        raise InputError(msg("error.project.remove_too_few", "A project needs at least two classes; {cls!r} is "
                             "one of the last two.", cls=cls))
    with ws.transaction() as conn:
        require(conn, user, "edit_project")
        if cls in _used_labels(conn, p):
            raise InputError(msg("error.project.remove_used", "Class {cls!r} carries labels; merge it into another "
                                 "class instead of removing it.", cls=cls))
        classes = [c for c in p.classes if c != cls]
        _set_classes(conn, p, classes, {c: v for c, v in p.descriptions.items() if c != cls})
        log_action(conn, user, "project.remove_class", p.id, p.name, {"class": cls, "classes": classes})
    return get_project(ws, p.id)


def reorder_classes(ws: Workspace, project: ProjectRef, classes: str | Sequence[str], user: str = "local") -> Project:
    """Put the same classes in a new order (the grade order of an ordinal project; the number keys)."""
    p = get_project(ws, project)
    new = parse_classes(classes)
    if sorted(new) != sorted(p.classes):
        raise InputError(msg("error.project.reorder_mismatch",
                             "A new order must list exactly the classes of {project!r} ({classes}); got {got}.",
                             project=p.name, classes=", ".join(p.classes), got=", ".join(new)))
    with ws.transaction() as conn:
        require(conn, user, "edit_project")
        _set_classes(conn, p, new)
        log_action(conn, user, "project.reorder_classes", p.id, p.name, {"classes": list(new)})
    return get_project(ws, p.id)


def merge_classes(ws: Workspace, project: ProjectRef, sources: Iterable[str], into: str,
                  user: str = "local") -> Project:
    """Merge classes into one (an existing class or a new name).

    Each annotation that said one of ``sources`` now counts as ``into`` (recorded ``merge`` events, so
    two people who chose two merged classes now agree); nothing already written is changed. The label-book
    text of ``into`` is kept (or taken from the first source when ``into`` is new).

    Returns
    -------
    Project
    """
    p = get_project(ws, project)
    into = _check_name(into)
    sources = [str(s).strip() for s in sources]
    for s in sources:
        _require_class(p, s)
    sources = [s for s in dict.fromkeys(sources) if s != into]
    if not sources:
        raise InputError(msg("error.project.merge_nothing", "Name at least one class to merge into {into!r}.",
                             into=into))
    if into in p.classes:
        classes = [c for c in p.classes if c not in sources]
        descriptions = {c: v for c, v in p.descriptions.items() if c not in sources}
    else:
        first = min(p.classes.index(s) for s in sources)
        classes = [c for c in p.classes if c not in sources]
        classes.insert(min(first, len(classes)), into)
        descriptions = {c: v for c, v in p.descriptions.items() if c not in sources}
        if sources[0] in p.descriptions:
            descriptions[into] = p.descriptions[sources[0]]
    if len(classes) < 2:
        raise InputError(msg("error.project.merge_too_few",
                             "A project needs at least two classes; merging {sources} into {into!r} leaves one.",
                             sources=", ".join(sources), into=into))
    with ws.transaction() as conn:
        require(conn, user, "edit_project")
        _set_classes(conn, p, classes, descriptions)
        for s in sources:
            _class_event(conn, p, "merge", s, into, user)
        log_action(conn, user, "project.merge_classes", p.id, p.name, {"sources": sources, "into": into})
    return get_project(ws, p.id)


EXAMPLE_KINDS = ("examples", "counter_examples", "borderline")
"""The label book's picture lists per class: examples, counter-examples (look alike but are not), borderline."""
_MAX_EXAMPLES = 8


def add_example(ws: Workspace, project: ProjectRef, cls: str, kind: str, item_id: int, user: str = "local") -> Project:
    """Put an item into a class's label-book examples, counter-examples or borderline cases.

    The newest goes first; each list keeps at most 8 pictures (the oldest drops out) and an item appears in
    one list of a class at a time. Needs ``edit_project``. Returns the updated :class:`Project`.
    """
    p = get_project(ws, project)
    _require_class(p, cls)
    if kind not in EXAMPLE_KINDS:
        raise InputError(msg("error.project.bad_example_kind", "Unknown example kind {kind!r}; expected one of "
                             "{kinds}.", kind=str(kind), kinds=", ".join(EXAMPLE_KINDS)))
    item_id = int(item_id)
    with ws.read() as conn:
        row = conn.execute("SELECT project_id FROM items WHERE id = ? AND deleted_at IS NULL", (item_id,)).fetchone()
    if row is None or row[0] != p.id:
        raise NotFoundError(msg("error.items.not_in_project", "No live item {item_id} in project {project!r}.",
                                item_id=item_id, project=p.name))
    entry = dict(p.descriptions.get(cls) or {}) if isinstance(p.descriptions.get(cls), dict) else {}
    update = {k: [int(i) for i in entry.get(k) or [] if int(i) != item_id] for k in EXAMPLE_KINDS}
    update[kind] = [item_id, *update[kind]][:_MAX_EXAMPLES]
    return update_project(ws, p, descriptions={cls: update}, user=user)


def remove_example(ws: Workspace, project: ProjectRef, cls: str, item_id: int, user: str = "local") -> Project:
    """Take an item out of every label-book picture list of a class. Returns the updated :class:`Project`."""
    p = get_project(ws, project)
    _require_class(p, cls)
    entry = (p.descriptions.get(cls) or {}) if isinstance(p.descriptions.get(cls), dict) else {}
    update = {k: [int(i) for i in entry.get(k) or [] if int(i) != int(item_id)] for k in EXAMPLE_KINDS}
    return update_project(ws, p, descriptions={cls: update}, user=user)
