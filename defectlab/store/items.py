"""Items: one image (or one crop cut from a plate image) in a project, stored content-addressed."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, cast

from ..errors import NotFoundError
from ..messages import msg
from .audit import log_action
from .permissions import require
from .workspace import utcnow

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Mapping, Sequence
    from typing import Any

    import numpy as np
    import pandas as pd

    from defectlab._typing import ItemIds
    from defectlab.store import Workspace

__all__ = [
    "add_item",
    "create_batch",
    "delete_items",
    "find_item",
    "finish_batch",
    "get_item",
    "item_ids",
    "items_frame",
    "load_images",
    "load_item_image",
    "restore_items",
]


def create_batch(conn: sqlite3.Connection, project_id: int, kind: str, source: str, user: str,
                 summary: Mapping[str, Any] | None = None) -> int:
    """Record an import / predict / crop batch; returns its id (inside the caller's transaction)."""
    cur = conn.execute(
        "INSERT INTO batches (project_id, kind, source, created_at, created_by, summary) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (int(project_id), kind, str(source), utcnow(), user, json.dumps(summary or {}, ensure_ascii=False)),
    )
    return cast(int, cur.lastrowid)  # an INSERT always sets it


def finish_batch(conn: sqlite3.Connection, batch_id: int, summary: Mapping[str, Any]) -> None:
    conn.execute("UPDATE batches SET summary = ? WHERE id = ?",
                 (json.dumps(summary, ensure_ascii=False, default=str), int(batch_id)))


def add_item(conn: sqlite3.Connection, project_id: int, *, sha256: str, blob: str, width: int, height: int,
             channels: int, source: str, batch_id: int | None = None, role: str = "sample",
             parent_id: int | None = None, box: Sequence[int] | None = None, box_index: int | None = None,
             meta: Mapping[str, Any] | None = None) -> int:
    """Insert an item row (inside the caller's transaction) and return its id.

    The caller has already stored the blob (:meth:`Workspace.put_blob`) and checked for an existing item
    with the same content (:func:`find_item`).
    """
    cur = conn.execute(
        "INSERT INTO items (project_id, role, sha256, blob, width, height, channels, source, batch_id, "
        "parent_id, box, box_index, meta, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (int(project_id), role, sha256, blob, int(width), int(height), int(channels), str(source),
         batch_id, parent_id, None if box is None else json.dumps([int(v) for v in box]), box_index,
         json.dumps(meta or {}, ensure_ascii=False), utcnow()),
    )
    return cast(int, cur.lastrowid)  # an INSERT always sets it


def find_item(conn: sqlite3.Connection, project_id: int, sha256: str, role: str = "sample") -> sqlite3.Row | None:
    """The row of the project's item with this content (deleted ones included), or None."""
    return conn.execute(
        "SELECT * FROM items WHERE project_id = ? AND role = ? AND sha256 = ?",
        (int(project_id), role, sha256),
    ).fetchone()


SQLITE_MAX_INT = 2**63 - 1
"""The largest integer SQLite stores: a larger id, offset or count is refused before it reaches a query
(where it would raise ``OverflowError``)."""


def sql_int(value: Any) -> int | None:
    """``value`` as an int from 0 to :data:`SQLITE_MAX_INT`, or None (a bool, a non-number, out of range)."""
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return None if isinstance(value, bool) or not 0 <= number <= SQLITE_MAX_INT else number


def get_item(ws: Workspace, item_id: int) -> dict[str, Any]:
    """One item as a dict (``box`` and ``meta`` decoded); raises NotFoundError (also for an id no item can
    have: negative or beyond SQLite's integers)."""
    key = sql_int(item_id)
    row = None
    if key is not None:
        with ws.read() as conn:
            row = conn.execute("SELECT * FROM items WHERE id = ?", (key,)).fetchone()
    if row is None:
        raise NotFoundError(msg("error.items.no_item_id", "No item with id {item_id}.", item_id=item_id))
    return _decode(dict(row))


def _decode(d):
    d["box"] = None if d.get("box") is None else json.loads(d["box"])
    d["meta"] = json.loads(d.get("meta") or "{}")
    return d


def item_ids(ws: Workspace, project_id: int, role: str = "sample") -> list[int]:
    """Ids of a project's live items of a role, in id order."""
    with ws.read() as conn:
        return [r[0] for r in conn.execute(
            "SELECT id FROM items WHERE project_id = ? AND role = ? AND deleted_at IS NULL ORDER BY id",
            (int(project_id), role))]


def items_frame(ws: Workspace, project_id: int, role: str = "sample", include_deleted: bool = False,
                with_labels: bool = True) -> pd.DataFrame:
    """A project's items as a pandas DataFrame, one row per item, in id order.

    Columns: ``id, sha256, blob, width, height, channels, source, batch_id, parent_id, box, box_index,
    meta, created_at, deleted_at`` and, with ``with_labels``, ``label, label_source, label_user,
    version, n_votes, agreed`` from the derived current label.
    """
    import pandas as pd

    from .labels import current_labels

    sql = "SELECT * FROM items WHERE project_id = ? AND role = ?"
    if not include_deleted:
        sql += " AND deleted_at IS NULL"
    with ws.read() as conn:
        rows = [_decode(dict(r)) for r in conn.execute(sql + " ORDER BY id", (int(project_id), role))]
    cols = ["id", "sha256", "blob", "width", "height", "channels", "source", "batch_id", "parent_id",
            "box", "box_index", "meta", "created_at", "deleted_at"]
    df = pd.DataFrame(rows, columns=cols + [c for c in (rows[0] if rows else {}) if c not in cols])
    df = df[cols]
    if with_labels:
        states = current_labels(ws, project_id) if role == "sample" else {}
        df["label"] = [states[i].label if i in states else None for i in df["id"]]
        df["label_source"] = [states[i].source if i in states else None for i in df["id"]]
        df["label_user"] = [states[i].user if i in states else None for i in df["id"]]
        df["version"] = [states[i].version if i in states else 0 for i in df["id"]]
        df["n_votes"] = [states[i].n_votes if i in states else 0 for i in df["id"]]
        df["agreed"] = [states[i].agreed if i in states else True for i in df["id"]]
    return df


def load_item_image(ws: Workspace, item: Any) -> np.ndarray:  # item: an id, or a dict / sqlite3.Row
    """Decode an item's image (``item`` is an id or a dict/row with ``blob``): (H, W) or (H, W, 3) uint8."""
    from ..imaging import decode_image

    if not hasattr(item, "keys"):
        item = get_item(ws, item)
    return decode_image(ws.read_blob(item["blob"]), source=item["source"])


def load_images(ws: Workspace, blobs: Sequence[str], sources: Sequence[str] | None = None) -> list[np.ndarray]:
    """Decode several blobs; a list of uint8 arrays (grey or RGB), in order."""
    from ..imaging import decode_image

    sources = sources if sources is not None else blobs
    return [decode_image(ws.read_blob(b), source=s) for b, s in zip(blobs, sources, strict=True)]


def _set_deleted(ws, ids, user, deleted, action):
    ids = [int(i) for i in ids]
    if not ids:
        return 0
    with ws.transaction() as conn:
        require(conn, user, action)
        marks = ",".join("?" * len(ids))
        found = conn.execute(f"SELECT id, project_id FROM items WHERE id IN ({marks})", ids).fetchall()
        if len(found) != len(set(ids)):
            missing = sorted(set(ids) - {r[0] for r in found})
            raise NotFoundError(msg("error.items.no_item_s_id",
                    "No item(s) with id {missing_10}.",
                    missing_10=missing[:10]))
        if deleted:
            conn.execute(f"UPDATE items SET deleted_at = ?, deleted_by = ? WHERE id IN ({marks})",
                         [utcnow(), user, *ids])
        else:
            conn.execute(f"UPDATE items SET deleted_at = NULL, deleted_by = NULL WHERE id IN ({marks})", ids)
        log_action(conn, user, "items.delete" if deleted else "items.restore", found[0][1],
                   f"{len(ids)} items", {"item_ids": ids[:1000]})
    return len(ids)


def delete_items(ws: Workspace, ids: ItemIds, user: str = "local") -> int:
    """Soft-delete items (kept on disk and restorable by an admin). Returns the count."""
    return _set_deleted(ws, ids, user, True, "delete")


def restore_items(ws: Workspace, ids: ItemIds, user: str = "local") -> int:
    """Restore soft-deleted items. Returns the count."""
    return _set_deleted(ws, ids, user, False, "restore")


