"""The audit log: who did what, when. Append-only, like the annotations.

Labeling decisions are not duplicated here: every annotation row already records who, what and when, and
:func:`defectlab.store.labels.label_history` shows them. The audit log records everything else: imports,
deletions and restores, training, exports, user and label-book changes.
"""

from __future__ import annotations

import json
import unicodedata
from typing import TYPE_CHECKING

from .workspace import utcnow

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Mapping
    from typing import Any

    from defectlab.store import Workspace

__all__ = ["escape_controls", "escape_controls_in", "list_audit", "log_action"]

_CONTROL_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def escape_controls(text: object) -> str:
    """``text`` with control, format (bidi overrides, zero-width) and line-separator characters written as
    ``\\xNN`` / ``\\uNNNN`` escapes, so a crafted name cannot forge log lines or reorder what a reader sees.

    Examples
    --------
    >>> escape_controls("ann\\nuser.login local")
    'ann\\\\nuser.login local'
    >>> escape_controls("abc\\u202edcba"), escape_controls("张伟")
    ('abc\\\\u202edcba', '张伟')
    """
    text = str(text)
    if all(unicodedata.category(ch) not in _CONTROL_CATEGORIES for ch in text):
        return text
    out = []
    for ch in text:
        if unicodedata.category(ch) not in _CONTROL_CATEGORIES:
            out.append(ch)
        elif ch == "\n":
            out.append("\\n")
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(f"\\u{ord(ch):04x}" if ord(ch) < 0x10000 else f"\\U{ord(ch):08x}")
    return "".join(out)


def escape_controls_in(value):
    """``value`` with every string in it (dict keys, lists) passed through :func:`escape_controls`."""
    if isinstance(value, str):
        return escape_controls(value)
    if isinstance(value, dict):
        return {escape_controls(k): escape_controls_in(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [escape_controls_in(v) for v in value]
    return value


def log_action(conn: sqlite3.Connection, user: str, action: str, project_id: int | None = None, target: object = None,
               details: Mapping[str, Any] | None = None) -> None:
    """Append one audit row inside the caller's transaction.

    The user, target and every string in ``details`` go through :func:`escape_controls` first.
    """
    conn.execute(
        "INSERT INTO audit (at, user, action, project_id, target, details) VALUES (?, ?, ?, ?, ?, ?)",
        (utcnow(), escape_controls(user), action, project_id, None if target is None else escape_controls(target),
         json.dumps(escape_controls_in(details or {}), ensure_ascii=False, default=str)),
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
