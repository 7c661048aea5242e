"""One activity view over everything people did, and the admin's restore of soft-deleted work.

:func:`activity` merges three append-only sources, newest first:

- the store's ``audit`` table (``kind="audit"``): imports, deletions and restores, training, exports,
  label-book and project changes (``project.*``), accounts (``user.*``: create, role, disable, enable,
  password, reset_password, login, login_failed), assignments, gold and qualification;
- the annotations (``kind="annotation"``), one row each, named ``label.create`` (a person's first
  label of the item), ``label.relabel`` (a change of their own earlier label), ``label.undo``,
  ``label.review`` (a reviewer's / lead's decision), ``label.prediction`` (a model prediction accepted
  by a supervisor) and, only with ``include_import_labels=True``, ``label.import``;
- the QC decisions (``kind="qc"``): ``qc.accept`` / ``qc.reject``.

Filter by project, person, action (``"label"`` matches every ``label.*``; exact names work too) and
time. Needs ``view_team``; anybody else may read only their own activity.

Restore: items and projects are only ever soft-deleted (:func:`defectlab.store.delete_items`,
:func:`defectlab.store.delete_project`); :func:`deleted_items` and :func:`deleted_projects` list them,
and :func:`restore_items` / :func:`restore_project` (the store's functions, re-exported here) bring them
back. Only an admin may restore (the ``restore`` permission); others get PermissionDenied.
"""

from __future__ import annotations

import datetime as _dt
import json
from typing import TYPE_CHECKING

from .._validation import _check_int
from ..errors import InputError
from ..messages import msg
from ..store import (
    can,
    escape_controls,
    require,
    restore_items,  # re-exported for the admin page
    restore_project,  # re-exported for the admin page
)
from ..store.audit import escape_controls_in
from ._common import _parse_time, _project, _tz

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    import pandas as pd

    from defectlab._typing import ProjectRef, TimeLike
    from defectlab.store import Workspace

__all__ = ["ANNOTATION_ACTIONS", "activity", "activity_actions", "deleted_items", "deleted_projects",
           "restore_items", "restore_project"]

ANNOTATION_ACTIONS = ("label.create", "label.relabel", "label.undo", "label.review", "label.prediction",
                      "label.import")

_ANNOTATION_SQL = """
SELECT a.created_at AS at, a.user AS user,
  CASE WHEN a.retracts IS NOT NULL THEN 'label.undo'
       WHEN a.source = 'review' THEN 'label.review'
       WHEN a.source = 'model' THEN 'label.prediction'
       WHEN a.source = 'import' THEN 'label.import'
       WHEN EXISTS (SELECT 1 FROM annotations b WHERE b.item_id = a.item_id AND b.id < a.id
                    AND b.user = a.user AND b.retracts IS NULL AND b.source = 'human') THEN 'label.relabel'
       ELSE 'label.create' END AS action,
  'annotation' AS kind, i.project_id AS project_id, CAST(a.item_id AS TEXT) AS target,
  json_object('annotation_id', a.id, 'label', a.label, 'seconds', a.seconds, 'comment', a.comment,
              'undoes', a.retracts) AS details
FROM annotations a JOIN items i ON i.id = a.item_id
"""

_QC_SQL = """
SELECT d.created_at AS at, d.reviewer AS user,
  CASE d.accept WHEN 1 THEN 'qc.accept' ELSE 'qc.reject' END AS action,
  'qc' AS kind, d.project_id AS project_id, CAST(d.item_id AS TEXT) AS target,
  json_object('annotation_id', d.annotation_id, 'annotator', d.annotator, 'comment', d.comment) AS details
FROM qc_decisions d
"""

_AUDIT_SQL = """
SELECT at, user, action, 'audit' AS kind, project_id, target, details FROM audit
"""


def _bound(value, name, tz, end=False):
    """A UTC ISO string from a datetime / ISO time, or a ``YYYY-MM-DD`` day in ``tz`` (end: next midnight)."""
    if value is None:
        return None
    if (isinstance(value, _dt.date) and not isinstance(value, _dt.datetime)) or \
            (isinstance(value, str) and len(value) == 10):
        try:
            day = value if isinstance(value, _dt.date) else _dt.date.fromisoformat(value)
        except ValueError:
            raise InputError(msg("error.audit_view.must_date_such_iso",
                    "{name} must be a date such as 2025-01-31 or an ISO time; got {value}.",
                    name=name, value=repr(value))) from None
        if end:
            day = day + _dt.timedelta(days=1)
        moment = _dt.datetime.combine(day, _dt.time(), tzinfo=_tz(tz))
    else:
        moment = _parse_time(value, name)
        if end:
            moment = moment + _dt.timedelta(microseconds=1)
    return moment.astimezone(_dt.UTC).isoformat(timespec="microseconds")


def activity(ws: Workspace, project: ProjectRef | None = None, user: str | None = None,
             actions: Sequence[str] | None = None, start: TimeLike | None = None, end: TimeLike | None = None,
             limit: int = 1000, include_import_labels: bool = False, tz: str | None = None,
             by: str = "local") -> pd.DataFrame:
    """The merged activity log, newest first.

    Parameters
    ----------
    ws : Workspace
    project : str, int, Project or None
        Only this project (account changes, which belong to no project, are then left out).
    user : str, optional
        Only what this person did.
    actions : str or sequence of str, optional
        Action names or families (``"label"`` matches ``label.create``, ``label.undo``, ...).
    start, end : date / ``"YYYY-MM-DD"`` (a day in ``tz``) or datetime / ISO time, optional
        Inclusive bounds.
    limit : int, default 1000
    include_import_labels : bool, default False
        Also list the one-per-item labels that came with an import (the import itself is always listed).
    tz : str or tzinfo, optional
        For day bounds; default this computer's time zone.
    by : str
        Needs ``view_team``, unless ``user == by``.

    Returns
    -------
    pandas.DataFrame
        ``at`` (UTC ISO text), ``user, action, kind`` (``audit``, ``annotation``, ``qc``),
        ``project_id, target`` (item id, user name, run id... as text) and ``details`` (dict).
    """
    import pandas as pd

    limit = _check_int(limit, "activity", "limit", 1)
    if isinstance(actions, str):
        actions = [actions]
    lo, hi = _bound(start, "start", tz), _bound(end, "end", tz, end=True)
    p = None if project is None else _project(ws, project)
    parts = [_AUDIT_SQL, _QC_SQL,
             _ANNOTATION_SQL + ("" if include_import_labels else " WHERE a.source != 'import'")]
    sql = "SELECT * FROM (" + " UNION ALL ".join(parts) + ") WHERE 1 = 1"
    args = []
    if p is not None:
        sql += " AND project_id = ?"
        args.append(p.id)
    if user is not None:
        sql += " AND user = ?"
        args.append(str(user))
    if actions:
        sql += " AND (" + " OR ".join("action = ? OR substr(action, 1, ?) = ?" for _ in actions) + ")"
        for a in actions:
            args += [str(a), len(str(a)) + 1, str(a) + "."]
    if lo is not None:
        sql += " AND at >= ?"
        args.append(lo)
    if hi is not None:
        sql += " AND at < ?"
        args.append(hi)
    sql += " ORDER BY at DESC LIMIT ?"
    args.append(int(limit))
    with ws.read() as conn:
        if not can(conn, by, "view_team") and user != by:
            require(conn, by, "view_team")
        rows = [dict(r) for r in conn.execute(sql, args)]
    for r in rows:
        details = json.loads(r["details"] or "{}")
        # annotation and QC comments come straight from people: control characters escaped, as in audit
        r["details"] = escape_controls_in({k: v for k, v in details.items() if v is not None})
        r["user"], r["target"] = escape_controls(r["user"]), escape_controls_in(r["target"])
    return pd.DataFrame(rows, columns=["at", "user", "action", "kind", "project_id", "target", "details"])


def activity_actions(ws: Workspace, by: str = "local") -> list[str]:
    """Every action name that occurs in the log (for a filter menu), sorted."""
    with ws.read() as conn:
        require(conn, by, "view_team")
        names = {r[0] for r in conn.execute("SELECT DISTINCT action FROM audit")}
    return sorted(names | set(ANNOTATION_ACTIONS) | {"qc.accept", "qc.reject"})


def deleted_items(ws: Workspace, project: ProjectRef | None = None, by: str = "local") -> pd.DataFrame:
    """Soft-deleted items, newest deletion first: DataFrame ``id, project_id, role, source, deleted_at,
    deleted_by`` (needs ``view_team``)."""
    import pandas as pd

    sql = "SELECT id, project_id, role, source, deleted_at, deleted_by FROM items WHERE deleted_at IS NOT NULL"
    args = []
    if project is not None:
        sql += " AND project_id = ?"
        args.append(_project(ws, project).id)
    with ws.read() as conn:
        require(conn, by, "view_team")
        rows = [dict(r) for r in conn.execute(sql + " ORDER BY deleted_at DESC, id", args)]
    return pd.DataFrame(rows, columns=["id", "project_id", "role", "source", "deleted_at", "deleted_by"])


def deleted_projects(ws: Workspace, by: str = "local") -> list[dict[str, Any]]:
    """Soft-deleted projects: list of dicts ``id, name, deleted_at, deleted_by`` (needs ``view_team``)."""
    with ws.read() as conn:
        require(conn, by, "view_team")
        return [dict(r) for r in conn.execute(
            "SELECT id, name, deleted_at, deleted_by FROM projects WHERE deleted_at IS NOT NULL "
            "ORDER BY deleted_at DESC")]
