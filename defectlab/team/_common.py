"""Small helpers shared by the team modules (private)."""

import datetime as _dt
import json

from ..errors import InputError, NotFoundError
from ..messages import msg
from ..store import get_project
from ..store.projects import Project

__all__ = []


def _project(ws, project):
    """A :class:`Project` from a name, id or Project (raises NotFoundError)."""
    return project if isinstance(project, Project) else get_project(ws, project)


def _user_row(conn, username, enabled_only=False):
    """The users row of ``username`` or NotFoundError."""
    row = conn.execute("SELECT * FROM users WHERE username = ?", (str(username),)).fetchone()
    if row is None or (enabled_only and row["disabled_at"]):
        state = "disabled" if row is not None else "unknown"
        raise NotFoundError(msg("error.common.no_user_see_team",
                "No {enabled_if_enabled_only}user {username} ({state}); see the Team page for the "
                "list of accounts.",
                enabled_if_enabled_only='enabled ' if enabled_only else '', username=repr(username), state=state))
    return row


def _item_ids(item_ids, name="item_ids"):
    """Validate a sequence of item ids: ints, no duplicates, not empty."""
    if isinstance(item_ids, (str, bytes)) or not hasattr(item_ids, "__iter__"):
        raise InputError(msg("error.common.must_list_item_ids",
                "{name} must be a list of item ids; got {name2}.",
                name=name, name2=type(item_ids).__name__))
    out = []
    for v in item_ids:
        try:
            out.append(int(v))
        except (TypeError, ValueError):
            raise InputError(msg("error.common.must_hold_integer_item",
                    "{name} must hold integer item ids; got {v}.",
                    name=name, v=repr(v))) from None
    if not out:
        raise InputError(msg("error.common.empty_pass_least_one",
                "{name} is empty; pass at least one item id.",
                name=name))
    if len(set(out)) != len(out):
        raise InputError(msg("error.common.lists_some_items_twice",
                "{name} lists some items twice; pass each item id once.",
                name=name))
    return out


def _check_live_items(conn, project_id, ids):
    """Refuse ids that are not live sample items of the project."""
    found = {}
    for start in range(0, len(ids), 900):
        chunk = ids[start:start + 900]
        marks = ",".join("?" * len(chunk))
        for r in conn.execute(
            f"SELECT id, project_id, role, deleted_at FROM items WHERE id IN ({marks})", chunk
        ):
            found[r["id"]] = r
    bad = [i for i in ids if i not in found or found[i]["project_id"] != project_id
           or found[i]["role"] != "sample" or found[i]["deleted_at"]]
    if bad:
        raise InputError(
            msg("error.common.item_s_are_not",
                "Item(s) {bad_10} are not live sample items of this project (unknown, deleted, "
                "plates or another project's); pass ids from items_frame(ws, project).",
                bad_10=bad[:10])
        )


def _parse_time(value, name):
    """A timezone-aware datetime from a datetime, ISO string or POSIX seconds; naive means UTC."""
    if isinstance(value, _dt.datetime):
        dt = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        dt = _dt.datetime.fromtimestamp(float(value), _dt.UTC)
    elif isinstance(value, str):
        try:
            dt = _dt.datetime.fromisoformat(value)
        except ValueError:
            raise InputError(msg("error.common.must_iso_time_such",
                    "{name} must be an ISO-8601 time such as 2025-01-31T08:00:00+08:00; got {value}.",
                    name=name, value=repr(value))) from None
    else:
        raise InputError(msg("error.common.must_datetime_iso_string",
                "{name} must be a datetime, an ISO-8601 string or POSIX seconds; got {name2}.",
                name=name, name2=type(value).__name__))
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=_dt.UTC)


def _json(value):
    return json.dumps(value, ensure_ascii=False, default=str)


# the annotation rows and votes behind blind visibility live in the store (below its callers); the team
# modules use them from here
from ..store._votes import _ROW_COLUMNS, _annotation_rows, _gold, _latest_votes  # noqa: E402, F401


def _day(value, name):
    if value is None:
        return None
    if isinstance(value, _dt.datetime):
        return value.date()
    if isinstance(value, _dt.date):
        return value
    try:
        return _dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        raise InputError(msg("error.common.must_date_such_got",
                "{name} must be a date such as 2025-01-31; got {value}.",
                name=name, value=repr(value))) from None


def _tz(tz):
    if tz is None:
        return _dt.datetime.now().astimezone().tzinfo
    if isinstance(tz, _dt.tzinfo):
        return tz
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(str(tz))
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(msg("error.common.unknown_time_zone_use",
                "Unknown time zone {tz}; use a name such as 'Asia/Shanghai'.",
                tz=repr(tz))) from None
