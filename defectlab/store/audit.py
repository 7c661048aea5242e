"""The audit log: who did what, when. Append-only, like the annotations.

Labeling decisions are not duplicated here: every annotation row already records who, what and when, and
:func:`defectlab.store.labels.label_history` shows them. The audit log records everything else: imports,
deletions and restores, training, exports, user and label-book changes.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from .workspace import utcnow

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Mapping
    from typing import Any

    from defectlab.store import Workspace

__all__ = ["list_audit", "log_action"]


def log_action(conn: sqlite3.Connection, user: str, action: str, project_id: int | None = None, target: object = None,
               details: Mapping[str, Any] | None = None) -> None:
    """Append one audit row inside the caller's transaction."""
    conn.execute(
        "INSERT INTO audit (at, user, action, project_id, target, details) VALUES (?, ?, ?, ?, ?, ?)",
        (utcnow(), user, action, project_id, None if target is None else str(target),
         json.dumps(details or {}, ensure_ascii=False, default=str)),
    )


def list_audit(ws: Workspace, project_id: int | None = None, user: str | None = None, action: str | None = None,
               limit: int = 500) -> list[dict[str, Any]]:
    """The newest audit rows first, optionally filtered; a list of dicts."""
    where, args = [], []
    for column, value in (("project_id", project_id), ("user", user), ("action", action)):
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    sql = "SELECT * FROM audit" + (" WHERE " + " AND ".join(where) if where else "")
    sql += " ORDER BY id DESC LIMIT ?"
    with ws.read() as conn:
        rows = conn.execute(sql, (*args, int(limit))).fetchall()
    out = []
    for r in rows:
        d = dict(r)
        d["details"] = json.loads(d["details"] or "{}")
        out.append(d)
    return out
