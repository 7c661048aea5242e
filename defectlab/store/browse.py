"""Find items: filtered, sorted, paged SQL over a project's items, their history and bulk actions.

The current label of an item is derived from its annotations (:func:`~defectlab.store.labels.derive_label`);
deriving it for 100,000 items on every query would cost a second. ``item_labels`` caches the derived
state and is refreshed incrementally: only items with annotations newer than the project's mark (and
everything after a class rename or merge) are derived again, so a query is indexed SQL with
``LIMIT/OFFSET`` and never loads the whole project.

Blind labeling: people who may not see others' work (annotators in team mode) get a page whose labels
are their own (:func:`~defectlab.store.visibility.visible_labels`), their own history only, and cannot
filter by other people's labels.
"""

from __future__ import annotations

import datetime as _dt
import fnmatch
import re
from dataclasses import asdict, dataclass

from ..errors import InputError, NotFoundError, PermissionDenied
from ..messages import msg
from .items import SQLITE_MAX_INT, sql_int
from .labels import GOLD_COMMENT, derive_label
from .permissions import can
from .projects import get_project
from .renames import class_events, map_by_time, map_label
from .visibility import item_views

__all__ = [
    "QUEUES",
    "SORTS",
    "ItemFilter",
    "item_detail",
    "item_history",
    "may_see_labels",
    "project_annotators",
    "project_batches",
    "query_items",
    "refresh_item_labels",
    "send_to_review",
]

SORTS = ("id", "-id", "newest_label", "confidence", "-confidence", "source")
"""``id`` (import order), ``-id`` (newest items first), ``newest_label`` (most recently labeled first),
``confidence`` (least confident prediction of the newest run first), ``-confidence``, ``source``."""

QUEUES = ("disagreement", "conflict", "sent_to_review", "label_issue", "duplicate", "outlier")
"""``disagreement``: people's votes differ; ``conflict``: the same picture imported under two labels (not
resolved); ``sent_to_review``: somebody asked for a review and no review decision came since;
``label_issue``, ``duplicate``, ``outlier``: the Review page's queues (ids given by the caller,
which computed them for the newest run)."""

_CHUNK = 500
_MAX_LIMIT = 1000


@dataclass
class ItemFilter:
    """What to show. Every field is optional; fields combine with AND.

    Attributes
    ----------
    label : str, optional
        A class (or ``"__unusable__"``): items whose current label is this.
    unlabeled : bool
        Items with no current label.
    annotator : str, optional
        Items with a live annotation by this person (inside ``since``/``until`` when given).
    source : str, optional
        Glob on the source path (``*scratch*``, ``line2/*.jpg``); text without ``*?[`` matches anywhere.
    min_confidence, max_confidence : float, optional
        Confidence (0-1) of the newest run's prediction (out-of-fold for labeled items, the
        prediction for predicted batches).
    since, until : str, optional
        ISO dates (``2026-11-30`` or a full time): an annotation in that range (the annotator's own
        when ``annotator`` is set). ``until`` is inclusive of that whole day.
    batch : int, optional
        The import / predict / crop batch id.
    queue : str, optional
        One of :data:`QUEUES`.
    queue_ids : list of int, optional
        The item ids of a computed queue (``label_issue``, ``duplicate``, ``outlier``).
    deleted : bool
        Show soft-deleted items instead of live ones (to restore them).
    item_id : int, optional
        Just this item (jump to an item by number).
    within_ids : list of int, optional
        Only these items (a set computed elsewhere, e.g. the newest run's margin band:
        :func:`defectlab.learn.margins.margin_item_ids`).
    """

    label: str | None = None
    unlabeled: bool = False
    annotator: str | None = None
    source: str | None = None
    min_confidence: float | None = None
    max_confidence: float | None = None
    since: str | None = None
    until: str | None = None
    batch: int | None = None
    queue: str | None = None
    queue_ids: list | None = None
    deleted: bool = False
    item_id: int | None = None
    within_ids: list | None = None

    def needs_labels(self, user=None):
        """Whether the filter looks at other people's labels or the model's predictions (refused to blind
        labelers; filtering by one's own annotations is not)."""
        return bool(self.label or self.annotator not in (None, user) or self.queue
                    or self.min_confidence is not None or self.max_confidence is not None
                    or self.within_ids is not None)


# -- the derived-label cache ----------------------------------------------------------------------
def _marks(conn, project_id):
    row = conn.execute("SELECT upto_annotation, upto_class_event FROM item_label_marks WHERE project_id = ?",
                       (project_id,)).fetchone()
    top = conn.execute("SELECT COALESCE(MAX(id), 0) FROM annotations").fetchone()[0]
    top_event = conn.execute("SELECT COALESCE(MAX(id), 0) FROM class_events WHERE project_id = ?",
                             (project_id,)).fetchone()[0]
    return row, top, top_event


def refresh_item_labels(ws, project_id):
    """Bring the project's ``item_labels`` cache up to date; return how many items were derived again.

    Cheap when nothing changed (two indexed MAX lookups); after new annotations only their items are
    derived; after a class rename or merge the whole project is.
    """
    project_id = int(project_id)
    with ws.read() as conn:
        row, top, top_event = _marks(conn, project_id)
    if row is not None and row[0] == top and row[1] == top_event:
        return 0
    with ws.transaction() as conn:
        row, top, top_event = _marks(conn, project_id)
        if row is not None and row[0] == top and row[1] == top_event:
            return 0
        if row is None or row[1] != top_event:
            conn.execute("DELETE FROM item_labels WHERE project_id = ?", (project_id,))
            stale = [r[0] for r in conn.execute(
                "SELECT DISTINCT a.item_id FROM annotations a JOIN items i ON i.id = a.item_id "
                "WHERE i.project_id = ? AND i.role = 'sample'", (project_id,))]
        else:
            stale = [r[0] for r in conn.execute(
                "SELECT DISTINCT a.item_id FROM annotations a JOIN items i ON i.id = a.item_id "
                "WHERE a.id > ? AND i.project_id = ? AND i.role = 'sample'", (row[0], project_id))]
        events = class_events(conn, project_id)
        for start in range(0, len(stale), _CHUNK):
            _derive_chunk(conn, project_id, stale[start:start + _CHUNK], events)
        conn.execute("INSERT OR REPLACE INTO item_label_marks (project_id, upto_annotation, upto_class_event) "
                     "VALUES (?, ?, ?)", (project_id, top, top_event))
    return len(stale)


def _derive_chunk(conn, project_id, ids, events):
    marks = ",".join("?" * len(ids))
    grouped = {}
    for r in conn.execute(f"SELECT id, item_id, label, user, source, retracts FROM annotations "
                          f"WHERE item_id IN ({marks}) ORDER BY item_id, id", ids):
        d = dict(r)
        d["label"] = map_label(events, d["label"], d["id"]) if events else d["label"]
        grouped.setdefault(d["item_id"], []).append(d)
    rows = []
    for item_id, rs in grouped.items():
        s = derive_label(rs)
        rows.append((item_id, project_id, s.label, s.source, s.user, s.version, s.n_votes, int(s.agreed),
                     int(s.source == "review")))
    conn.executemany("INSERT OR REPLACE INTO item_labels (item_id, project_id, label, source, user, version, "
                     "n_votes, agreed, reviewed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


# -- visibility -------------------------------------------------------------------------------------
def may_see_labels(ws, user):
    """Whether ``user`` may see other people's labels and history (leads, reviewers, admins; everybody in
    single-user mode)."""
    with ws.read() as conn:
        return can(conn, user, "review") or can(conn, user, "view_team")


def _require_view(conn, user):
    if not can(conn, user, "view"):
        raise PermissionDenied(msg("error.permission.view", "user {user!r} may not view items.", user=str(user)))


# -- the query ----------------------------------------------------------------------------------------
def _glob(pattern):
    pattern = str(pattern).strip()
    if len(pattern) > 500:
        raise InputError(msg("error.items.glob_long", "The source pattern is longer than 500 characters."))
    return pattern if re.search(r"[*?\[]", pattern) else f"*{pattern}*"


def _day_end(until):
    return until + "T99" if len(until) == 10 else until


def _check_date(value, name):
    if value is None:
        return None
    value = str(value).strip()
    try:  # the form and a real day (2026-13-45 is refused, not compared as text)
        ok = bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}([T ][\d:.+\-Z]*)?", value)) and bool(
            _dt.date.fromisoformat(value[:10]))
    except ValueError:
        ok = False
    if not ok:
        raise InputError(msg("error.items.bad_date", "{name} must be a date like 2026-11-30; got {value!r}.",
                             name=name, value=value[:40]))
    return value.replace(" ", "T")


def _check_id(value, name):
    """A filter's id as an int SQLite can compare (a hostile 10**20 is refused, not an OverflowError)."""
    number = sql_int(value)
    if number is None:
        raise InputError(msg("error.items.bad_id", "{name} must be a whole number from 0 to {max}; got {value}.",
                             name=name, max=SQLITE_MAX_INT, value=repr(value)[:40]))
    return number


def _check_confidence(value, name):
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not 0.0 <= number <= 1.0:  # NaN too
        raise InputError(msg("error.items.bad_confidence", "{name} must be a number from 0 to 1; got {value}.",
                             name=name, value=repr(value)[:40]))
    return number


def _item_id(item_id):
    """An item id to look up; one no item can have (negative, beyond SQLite's range) is not found."""
    number = sql_int(item_id)
    if number is None:
        raise NotFoundError(msg("error.items.not_found", "No item with id {item_id}.", item_id=repr(item_id)[:40]))
    return number


def _newest_run(conn, project_id):
    row = conn.execute("SELECT id FROM runs WHERE project_id = ? AND status = 'done' "
                       "ORDER BY created_at DESC LIMIT 1", (project_id,)).fetchone()
    return None if row is None else row[0]


_CONFIDENCE = ("COALESCE((SELECT ri.confidence FROM run_items ri WHERE ri.run_id = :run AND ri.item_id = i.id), "
               "(SELECT pr.confidence FROM predictions pr WHERE pr.run_id = :run AND pr.item_id = i.id "
               "ORDER BY pr.id DESC LIMIT 1))")
_PREDICTED = ("COALESCE((SELECT ri.pred_label FROM run_items ri WHERE ri.run_id = :run AND ri.item_id = i.id), "
              "(SELECT pr.label FROM predictions pr WHERE pr.run_id = :run AND pr.item_id = i.id "
              "ORDER BY pr.id DESC LIMIT 1))")


def _where(f, args, me=None):
    """SQL conditions of a filter (appends the named parameters to ``args``). ``me``: the blind labeler who
    looks (``unlabeled`` and the dates then mean their own labels), None for people who see labels."""
    cond = ["i.project_id = :project", "i.role = 'sample'",
            "i.deleted_at IS NOT NULL" if f.deleted else "i.deleted_at IS NULL"]
    if f.item_id is not None:
        cond.append("i.id = :item_id")
        args["item_id"] = _check_id(f.item_id, "item_id")
    if f.label:
        cond.append("l.label = :label")
        args["label"] = str(f.label)
    if f.unlabeled and me is not None:  # a blind labeler: items with no live label of their own
        cond.append("NOT EXISTS (SELECT 1 FROM annotations a WHERE a.item_id = i.id AND a.user = :me "
                    "AND a.retracts IS NULL AND NOT EXISTS (SELECT 1 FROM annotations b WHERE b.retracts = a.id))")
    elif f.unlabeled:
        cond.append("l.label IS NULL")
    if f.source and me is not None:  # a blind labeler: paths of blind items (they may name the answer) do not match
        cond.append("i.source GLOB :glob AND i.id NOT IN (SELECT item_id FROM assignment_items UNION "
                    "SELECT item_id FROM gold_items WHERE removed_at IS NULL)")
        args["glob"] = _glob(f.source)
    elif f.source:
        cond.append("i.source GLOB :glob")
        args["glob"] = _glob(f.source)
    if f.batch is not None:
        cond.append("i.batch_id = :batch")
        args["batch"] = _check_id(f.batch, "batch")
    since, until = _check_date(f.since, "since"), _check_date(f.until, "until")
    annotator = me if me is not None and (since or until) else f.annotator  # a blind labeler's dates: own labels
    if annotator or since or until:
        sub = ("i.id IN (SELECT a.item_id FROM annotations a WHERE a.retracts IS NULL "
               "AND NOT EXISTS (SELECT 1 FROM annotations b WHERE b.retracts = a.id)")
        if annotator:
            sub += " AND a.user = :annotator"
            args["annotator"] = str(annotator)
        if since:
            sub += " AND a.created_at >= :since"
            args["since"] = since
        if until:
            sub += " AND a.created_at <= :until"
            args["until"] = _day_end(until)
        cond.append(sub + ")")
    for bound, op in (("min_confidence", ">="), ("max_confidence", "<=")):
        value = getattr(f, bound)
        if value is not None:
            cond.append(f"{_CONFIDENCE} {op} :{bound}")
            args[bound] = _check_confidence(value, bound)
    if f.queue:
        cond.append(_queue_condition(f, args))
    if f.within_ids is not None:
        cond.append("i.id IN (SELECT item_id FROM temp.browse_within)")
    return cond


def _queue_condition(f, args):
    if f.queue not in QUEUES:
        raise InputError(msg("error.items.bad_queue", "Unknown queue {queue!r}; expected one of {queues}.",
                             queue=str(f.queue), queues=", ".join(QUEUES)))
    if f.queue == "disagreement":
        return "l.agreed = 0"
    if f.queue == "conflict":
        return "i.id IN (SELECT item_id FROM import_conflicts WHERE resolved_at IS NULL)"
    if f.queue == "sent_to_review":
        return ("i.id IN (SELECT q.item_id FROM review_requests q WHERE q.project_id = :project AND NOT EXISTS "
                "(SELECT 1 FROM annotations a WHERE a.item_id = q.item_id AND a.source = 'review' "
                "AND a.created_at > q.at))")
    return "i.id IN (SELECT item_id FROM temp.browse_queue)"


_OWN_NEWEST = ("(SELECT MAX(a.id) FROM annotations a WHERE a.item_id = i.id AND a.user = :me)")
_BLIND_ITEM = ("i.id IN (SELECT item_id FROM assignment_items UNION "
               "SELECT item_id FROM gold_items WHERE removed_at IS NULL)")
_SCRAMBLED = f"CASE WHEN {_BLIND_ITEM} THEN (i.id * 2654435761) % 4294967296 END"
_BLIND_ORDER = {
    "newest_label": f"{_OWN_NEWEST} IS NULL, {_OWN_NEWEST} DESC, i.id",
    # blind items come in a scrambled (stable) order, not by import order or path: a class-folder import
    # gives a class consecutive ids and a path that names it, so either order would group the answers
    "id": f"{_SCRAMBLED} IS NOT NULL, {_SCRAMBLED}, i.id",
    "-id": f"{_SCRAMBLED} IS NOT NULL, {_SCRAMBLED}, i.id DESC",
    "source": f"{_SCRAMBLED} IS NOT NULL, {_SCRAMBLED}, i.source, i.id",
}
"""Sorts for a blind labeler: most recently labeled by themselves; the other items first in the order asked
for, then the blind ones scrambled (the confidence sorts are refused)."""

_ORDER = {
    "id": "i.id",
    "-id": "i.id DESC",
    "newest_label": "l.version IS NULL, l.version DESC, i.id",
    "confidence": f"{_CONFIDENCE} IS NULL, {_CONFIDENCE}, i.id",
    "-confidence": f"{_CONFIDENCE} IS NULL, {_CONFIDENCE} DESC, i.id",
    "source": "i.source, i.id",
}


def query_items(ws, project, filters=None, sort="id", limit=50, offset=0, user="local"):
    """A page of a project's items matching ``filters``.

    Parameters
    ----------
    ws : Workspace
    project : str, int or Project
    filters : ItemFilter or dict, optional
    sort : {"id", "-id", "newest_label", "confidence", "-confidence", "source"}, default "id"
    limit : int, default 50
        Page size (1-1000).
    offset : int, default 0
    user : str
        Who looks (needs ``view``; people who may not see others' labels get their own labels only and
        may not filter by labels, annotators, queues or confidence).

    Returns
    -------
    dict
        ``total`` (int, all matches) and ``items``: a list of dicts ``item_id, source, label`` (str or None),
        ``label_source, n_votes, agreed, reviewed, batch_id, created_at, deleted_at, blob, width, height,
        parent_id, box_index, confidence, predicted`` (the newest run's prediction, or None) and ``run_id``.
        For a blind labeler, ``source`` is None on blind items (assigned or gold: a class folder in the path
        names the answer), and the ``source`` filter does not match them.

    Examples
    --------
    >>> query_items(ws, "NEU", {"label": "scratches", "annotator": "anna", "since": "2026-11-23"})  # doctest: +SKIP
    """
    p = get_project(ws, project)
    f = filters if isinstance(filters, ItemFilter) else ItemFilter(**(filters or {}))
    if sort not in SORTS:
        raise InputError(msg("error.items.bad_sort", "Unknown sort {sort!r}; expected one of {sorts}.",
                             sort=str(sort), sorts=", ".join(SORTS)))
    limit, offset = int(limit), int(offset)
    if not 1 <= limit <= _MAX_LIMIT or sql_int(offset) is None:
        raise InputError(msg("error.items.bad_page", "limit must be 1-{max} and offset >= 0; got {limit}, {offset}.",
                             max=_MAX_LIMIT, limit=limit, offset=offset))
    privileged = may_see_labels(ws, user)
    if not privileged and (f.needs_labels(user) or sort in ("confidence", "-confidence")):
        raise PermissionDenied(msg("error.items.blind", "user {user!r} labels blind and may not filter by other "
                                   "people's labels, annotators, queues or predictions.", user=str(user)))
    refresh_item_labels(ws, p.id)
    args = {"project": p.id}
    if not privileged:
        args["me"] = str(user)
    with ws.read() as conn:
        _require_view(conn, user)
        args["run"] = _newest_run(conn, p.id)
        if f.queue in ("label_issue", "duplicate", "outlier"):
            conn.execute("CREATE TEMP TABLE browse_queue (item_id INTEGER PRIMARY KEY)")
            conn.executemany("INSERT OR IGNORE INTO temp.browse_queue VALUES (?)",
                             [(int(i),) for i in (f.queue_ids or [])])
        if f.within_ids is not None:
            conn.execute("CREATE TEMP TABLE browse_within (item_id INTEGER PRIMARY KEY)")
            conn.executemany("INSERT OR IGNORE INTO temp.browse_within VALUES (?)", [(int(i),) for i in f.within_ids])
        where = " AND ".join(_where(f, args, me=args.get("me")))
        order = _ORDER[sort] if privileged else _BLIND_ORDER.get(sort, _ORDER[sort])
        base = f"FROM items i LEFT JOIN item_labels l ON l.item_id = i.id WHERE {where}"
        total = conn.execute(f"SELECT COUNT(*) {base}", args).fetchone()[0]
        rows = conn.execute(
            f"SELECT i.id AS item_id, i.source, i.batch_id, i.created_at, i.deleted_at, i.blob, i.width, i.height, "
            f"i.parent_id, i.box_index, l.label, l.source AS label_source, l.n_votes, l.agreed, l.reviewed, "
            f"{_CONFIDENCE} AS confidence, {_PREDICTED} AS predicted {base} "
            f"ORDER BY {order} LIMIT :limit OFFSET :offset", {**args, "limit": limit, "offset": offset},
        ).fetchall()
    items = [_row(r, args["run"]) for r in rows]
    if not privileged and items:
        views = item_views(ws, p, user, item_ids=[r["item_id"] for r in items])
        for r in items:
            view = views.get(r["item_id"])
            r["label"] = None if view is None else view.label
            r.update(label_source=None, n_votes=None, agreed=None, reviewed=None, confidence=None, predicted=None)
            if view is not None and view.own:  # a blind item: its path may name the answer
                r["source"] = None
    return {"total": int(total), "items": items}


def _row(r, run_id):
    d = dict(r)
    d["agreed"] = None if d["agreed"] is None else bool(d["agreed"])
    d["reviewed"] = bool(d["reviewed"])
    d["n_votes"] = d["n_votes"] or 0
    d["run_id"] = run_id
    return d


# -- one item ---------------------------------------------------------------------------------------
def item_history(ws, item_id, user="local"):
    """Every event of an item's label, oldest first.

    Annotations (labels, review decisions, undos), the class renames / merges that changed what they
    mean, and for a crop stored from a located box the undos of that decision (source ``prediction_undo``: the
    crop was deleted then; :func:`defectlab.learn.plate_review.undo_box`). People who label blind see their own
    rows only.

    Returns
    -------
    list of dict
        ``label`` (what it means today; None for an undo), ``written`` (the label as written), ``user``,
        ``source`` (``human``, ``review``, ``model``, ``import``; ``rename`` / ``merge`` for class events;
        ``prediction_undo``),
        ``at``, ``seconds``, ``comment``, ``run_id``, ``annotation_id``, ``retracts`` and ``gold`` (True for
        the row that set the item's gold answer, not a comment that only reads like one).
    """
    with ws.read() as conn:
        _require_view(conn, user)
        item_id = _item_id(item_id)
        item = conn.execute("SELECT id, project_id FROM items WHERE id = ?", (item_id,)).fetchone()
        if item is None:
            raise NotFoundError(msg("error.items.not_found", "No item with id {item_id}.", item_id=item_id))
        rows = [dict(r) for r in conn.execute("SELECT * FROM annotations WHERE item_id = ? ORDER BY id",
                                              (int(item_id),))]
        events = class_events(conn, item["project_id"])
        privileged = can(conn, user, "review") or can(conn, user, "view_team")
        gold_by = {r[0] for r in conn.execute("SELECT created_by FROM gold_items WHERE item_id = ?", (item_id,))}
        undos = [dict(r) for r in conn.execute(
            "SELECT u.user, u.created_at, d.result_id, d.box_index FROM locate_undos u JOIN locate_decisions d "
            "ON d.id = u.decision_id WHERE d.crop_id = ? ORDER BY u.decision_id", (int(item_id),))]
    if not privileged:
        rows = [r for r in rows if r["user"] == user]
        undos = [u for u in undos if u["user"] == user]
    out = [{"label": map_label(events, r["label"], r["id"]), "written": r["label"], "user": r["user"],
            "source": r["source"], "at": r["created_at"], "seconds": r["seconds"], "comment": r["comment"],
            "run_id": r["run_id"], "annotation_id": r["id"], "retracts": r["retracts"],
            "gold": r["comment"] == GOLD_COMMENT and r["source"] == "review" and r["user"] in gold_by} for r in rows]
    out += _class_event_rows(rows, events)
    out += [{"label": None, "written": None, "user": u["user"], "source": "prediction_undo", "at": u["created_at"],
             "seconds": None, "comment": f"prediction review: undone (locate result {u['result_id']}, box "
                                         f"{u['box_index'] + 1})", "run_id": None, "annotation_id": None,
             "retracts": None, "gold": False} for u in undos]  # a stored box's decision undone: the crop deleted
    return sorted(out, key=lambda e: e["at"])


def _class_event_rows(rows, events):
    """The class events that changed the meaning of at least one of these annotation rows."""
    current = {r["id"]: r["label"] for r in rows if r["label"] is not None}
    out = []
    for ev in events:
        touched = [k for k, lab in current.items() if lab == ev["old"] and k <= ev["upto_annotation"]]
        for k in touched:
            current[k] = ev["new"]
        if touched:
            out.append({"label": ev["new"], "written": ev["old"], "user": ev["by"], "source": ev["kind"],
                        "at": ev["at"], "seconds": None, "comment": f"{ev['old']} → {ev['new']}", "run_id": None,
                        "annotation_id": None, "retracts": None, "gold": False})
    return out


def item_detail(ws, item_id, user="local"):
    """Everything about one item for the item page.

    Returns
    -------
    dict
        ``item`` (the item row, ``box`` decoded), ``plate`` (the plate it was cut from, or None),
        ``label`` (current label visible to ``user``), ``history`` (:func:`item_history`) and
        ``predictions``: one dict per run that saw it (``run_id, model, created_at, kind`` ``oof`` or
        ``predict``, ``label`` the run trained on, ``predicted, confidence``), under today's class names.
    """
    from .items import get_item

    item_id = _item_id(item_id)
    item = get_item(ws, item_id)
    history = item_history(ws, item_id, user=user)
    view = item_views(ws, item["project_id"], user, [item_id])[item_id]
    label = view.label
    plate = get_item(ws, item["parent_id"]) if item.get("parent_id") else None
    if view.own:  # a blind item of a blind labeler: no path that may name the answer
        item["source"] = None
        if plate is not None:
            plate["source"] = None
    predictions = []
    if may_see_labels(ws, user):
        with ws.read() as conn:
            events = class_events(conn, item["project_id"])
            for r in conn.execute(
                    "SELECT ri.run_id, r.model, r.created_at, ri.label, ri.pred_label, ri.confidence FROM run_items ri "
                    "JOIN runs r ON r.id = ri.run_id WHERE ri.item_id = ? ORDER BY r.created_at", (int(item_id),)):
                predictions.append({"run_id": r["run_id"], "model": r["model"], "created_at": r["created_at"],
                                    "kind": "oof", "label": map_by_time(events, r["label"], r["created_at"]),
                                    "predicted": map_by_time(events, r["pred_label"], r["created_at"]),
                                    "confidence": r["confidence"]})
            for r in conn.execute(
                    "SELECT pr.run_id, r.model, r.created_at, pr.label, pr.confidence FROM predictions pr "
                    "JOIN runs r ON r.id = pr.run_id WHERE pr.item_id = ? ORDER BY pr.id", (int(item_id),)):
                predictions.append({"run_id": r["run_id"], "model": r["model"], "created_at": r["created_at"],
                                    "kind": "predict", "label": None,
                                    "predicted": map_by_time(events, r["label"], r["created_at"]),
                                    "confidence": r["confidence"]})
    return {"item": item, "plate": plate, "label": label, "history": history, "predictions": predictions}


def source_matches(pattern, source):
    """Whether a source path matches a browser glob (the same rule as the SQL filter), for tests and UIs."""
    return fnmatch.fnmatchcase(str(source), _glob(pattern))


def filter_dict(f):
    """An :class:`ItemFilter` as a plain dict (for URLs and session state)."""
    return asdict(f)


# -- what the filters offer -----------------------------------------------------------------------------
def project_annotators(ws, project):
    """The people who annotated the project's items, sorted."""
    p = get_project(ws, project)
    with ws.read() as conn:
        return [r[0] for r in conn.execute(
            "SELECT DISTINCT a.user FROM annotations a JOIN items i ON i.id = a.item_id WHERE i.project_id = ? "
            "ORDER BY a.user", (p.id,))]


def project_batches(ws, project):
    """The project's batches, oldest first, numbered per project (``number`` 1, 2, ... whatever other
    projects did): dicts ``batch_id, number, kind, source, created_at, n_items``."""
    p = get_project(ws, project)
    with ws.read() as conn:
        rows = conn.execute(
            "SELECT b.id, b.kind, b.source, b.created_at, (SELECT COUNT(*) FROM items i WHERE i.batch_id = b.id) n "
            "FROM batches b WHERE b.project_id = ? ORDER BY b.id", (p.id,)).fetchall()
    return [{"batch_id": r["id"], "number": k, "kind": r["kind"], "source": r["source"],
             "created_at": r["created_at"], "n_items": r["n"]} for k, r in enumerate(rows, start=1)]


# -- review requests (bulk actions on a selection: :mod:`defectlab.bulk`) ----------------------------
def send_to_review(ws, item_ids, user="local", note=""):
    """Ask a reviewer to look at items (the ``sent_to_review`` queue until a review decision is written
    after the request). Anybody who may label may ask. Returns the number of requests."""
    from .audit import log_action
    from .permissions import require
    from .workspace import utcnow

    ids = sorted({int(i) for i in item_ids})
    with ws.transaction() as conn:
        require(conn, user, "label")
        rows = _live_rows(conn, ids)
        now = utcnow()
        conn.executemany("INSERT INTO review_requests (project_id, item_id, by, at, note) VALUES (?, ?, ?, ?, ?)",
                         [(r["project_id"], r["id"], user, now, str(note)[:1000]) for r in rows])
        if rows:
            log_action(conn, user, "items.send_to_review", rows[0]["project_id"], f"{len(rows)} items",
                       {"item_ids": ids[:1000]})
    return len(ids)


def _live_rows(conn, ids):
    rows = []
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start:start + _CHUNK]
        rows += conn.execute(f"SELECT id, project_id FROM items WHERE id IN ({','.join('?' * len(chunk))}) "
                             "AND deleted_at IS NULL", chunk).fetchall()
    if len(rows) != len(ids):
        missing = sorted(set(ids) - {r["id"] for r in rows})
        raise NotFoundError(msg("error.items.missing", "No live item(s) with id {ids}.",
                                ids=", ".join(map(str, missing[:10]))))
    if len({r["project_id"] for r in rows}) > 1:
        raise InputError(msg("error.items.mixed_projects", "The selected items belong to several projects."))
    return rows
