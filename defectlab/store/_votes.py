"""Annotation rows and each person's latest vote (private): what the visibility rule
(:mod:`defectlab.store.visibility`) and the team modules (agreement, QC, gold) read."""

from .renames import class_events, map_label

__all__ = []


_ROW_COLUMNS = "a.id, a.item_id, a.label, a.user, a.source, a.created_at, a.seconds, a.comment, a.retracts"


def _annotation_rows(conn, project_id, user=None, item_ids=None):
    """Annotation rows (dicts) of a project's live sample items, oldest first.

    With ``user``: only that person's rows, plus the undo rows (by anybody, e.g. a lead) that retract
    them: enough for :func:`_latest_votes` with the same ``user``. With ``item_ids``: only those items.
    Labels read as they mean today (class renames and merges applied, :mod:`defectlab.store.renames`).
    """
    sql = (f"SELECT {_ROW_COLUMNS} FROM annotations a JOIN items i ON i.id = a.item_id "
           "WHERE i.project_id = ? AND i.role = 'sample' AND i.deleted_at IS NULL")
    args = [int(project_id)]
    if user is not None:
        sql += " AND a.user = ?"
        args.append(str(user))
    wanted = None
    if item_ids is not None:
        wanted = {int(i) for i in item_ids}
        if not wanted:
            return []
        if len(wanted) <= 500:
            sql += f" AND a.item_id IN ({','.join('?' * len(wanted))})"
            args += sorted(wanted)
    rows = [dict(r) for r in conn.execute(sql + " ORDER BY a.id", args)]
    if user is not None:
        own = {r["id"] for r in rows}
        rows += [dict(r) for r in conn.execute(
            f"SELECT {_ROW_COLUMNS} FROM annotations a WHERE a.retracts IS NOT NULL AND a.user != ?",
            (str(user),)) if r["retracts"] in own]
        rows.sort(key=lambda r: r["id"])
    if wanted is not None and len(wanted) > 500:
        rows = [r for r in rows if r["item_id"] in wanted]
    events = class_events(conn, project_id)
    if events:  # a label counts under its class's name today: a merge turns two votes into agreement
        for r in rows:
            r["label"] = map_label(events, r["label"], r["id"])
    return rows


def _latest_votes(rows, sources=("human",), user=None):
    """Each person's latest live vote per item: ``{(item_id, user): row}``.

    Undo rows and the rows they retract are ignored, as in :func:`defectlab.store.derive_label`; only
    rows whose source is in ``sources`` count.
    """
    retracted = {r["retracts"] for r in rows if r["retracts"] is not None}
    out = {}
    for r in rows:  # oldest first: later rows replace earlier ones
        if r["retracts"] is not None or r["id"] in retracted or r["source"] not in sources:
            continue
        if user is not None and r["user"] != user:
            continue
        out[(r["item_id"], r["user"])] = r
    return out


def _gold(conn, project_id, qualification=None):
    """Active gold items of a project: ``{item_id: row}`` in (created_at, item_id) order."""
    sql = ("SELECT g.item_id, g.label, g.qualification, g.created_at, g.created_by FROM gold_items g "
           "JOIN items i ON i.id = g.item_id WHERE g.project_id = ? AND g.removed_at IS NULL "
           "AND i.deleted_at IS NULL")
    args = [int(project_id)]
    if qualification is not None:
        sql += " AND g.qualification = ?"
        args.append(int(bool(qualification)))
    return {r["item_id"]: dict(r) for r in conn.execute(sql + " ORDER BY g.created_at, g.item_id", args)}
