"""Throughput and piece-rate pay report: per person and day, from the annotation and QC rows.

Columns of :func:`throughput` (one row per person and day with any activity):

============== ==========================================================================================
day            the calendar day (``YYYY-MM-DD``) in ``tz`` (default: this computer's time zone)
user           account name; ``display_name`` and ``role`` from the accounts
items_labeled  distinct items the person labeled (own ``human`` labels) that day and did not undo: the
               pieces of piece-rate pay (a relabel of the same item the same day is one piece; gold and
               qualification items count like any other item)
corrections    distinct items the person decided as ``review`` or ``model`` (reviewers, supervisors, leads)
qc_reviewed    QC decisions the person made that day (:mod:`defectlab.team.qc`)
accepted       of the person's labels made that day, how many a reviewer accepted / rejected (latest
rejected       decision per label, whenever it was made)
active_seconds sum of the ``seconds`` recorded with the person's annotations that day (undone ones too:
               the time was spent)
active_hours   active_seconds / 3600
items_per_hour items_labeled / active_hours (empty when no time was recorded)
============== ==========================================================================================

The UI must pass the time spent per item (``seconds=`` of :func:`defectlab.store.annotate`; for the
grid, the total of ``annotate_many``) for the hours to mean anything.

:func:`throughput_csv` returns the same table as CSV text that starts with a UTF-8 byte-order mark and
uses CRLF line ends, so Excel on a Chinese Windows opens it with the right characters: write it with
``.encode("utf-8")`` (or ``st.download_button(data=csv.encode("utf-8"))``). Cells that a spreadsheet
would read as a formula (starting with ``= + - @``, a tab or CR) are prefixed with ``'`` (:mod:`defectlab.csvio`).

People with ``view_team`` (leads, reviewers, admins) see everybody; anybody else sees only their own
rows.
"""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING

from ..csvio import csv_text
from ..errors import InputError
from ..messages import msg
from ..store import GOLD_COMMENT, can, require
from ._common import _day, _project, _tz

if TYPE_CHECKING:
    from collections.abc import Mapping

    import pandas as pd

    from defectlab._typing import ProjectRef, TimeLike
    from defectlab.store import Workspace

__all__ = ["THROUGHPUT_COLUMNS", "throughput", "throughput_csv"]

THROUGHPUT_COLUMNS = ["day", "user", "display_name", "role", "items_labeled", "corrections", "qc_reviewed",
                      "accepted", "rejected", "active_seconds", "active_hours", "items_per_hour"]


def throughput(ws: Workspace, project: ProjectRef | None = None, start: TimeLike | None = None,
               end: TimeLike | None = None, user: str | None = None, tz: str | None = None,
               by: str = "local") -> pd.DataFrame:
    """Per person and day: items labeled, QC outcomes, active time and items per hour.

    Parameters
    ----------
    ws : Workspace
    project : str, int, Project or None
        None: all projects together.
    start, end : date, datetime or ``"YYYY-MM-DD"``, optional
        First and last day to include (both inclusive), in ``tz``.
    user : str, optional
        Only this person.
    tz : str or tzinfo, optional
        The time zone that decides where a day starts (e.g. ``"Asia/Shanghai"``); default this computer's.
    by : str
        Who asks: with ``view_team`` anybody's rows, otherwise only their own.

    Returns
    -------
    pandas.DataFrame
        :data:`THROUGHPUT_COLUMNS`, sorted by day then user.
    """
    import numpy as np
    import pandas as pd

    zone = _tz(tz)
    first, last = _day(start, "start"), _day(end, "end")
    if first and last and first > last:
        raise InputError(msg("error.throughput.start_after_end",
                "start ({first}) is after end ({last}).",
                first=first, last=last))
    p = None if project is None else _project(ws, project)
    with ws.read() as conn:
        if not can(conn, by, "view_team"):
            if user not in (None, by):
                require(conn, by, "view_team")
            require(conn, by, "view")
            user = by
        where, args = [], []
        if p is not None:
            where.append("i.project_id = ?")
            args.append(p.id)
        if user is not None:
            where.append("a.user = ?")
            args.append(user)
        # a day in any time zone lies within one day either side of the UTC day
        if first is not None:
            where.append("a.created_at >= ?")
            args.append((first - _dt.timedelta(days=1)).isoformat())
        if last is not None:
            where.append("a.created_at < ?")
            args.append((last + _dt.timedelta(days=2)).isoformat())
        cond = (" AND " + " AND ".join(where)) if where else ""
        ann = pd.DataFrame([dict(r) for r in conn.execute(
            "SELECT a.id, a.item_id, a.user, a.source, a.created_at, a.seconds, a.retracts, "
            "a.comment IS ? AND EXISTS (SELECT 1 FROM gold_items g WHERE g.item_id = a.item_id "
            "AND g.created_by = a.user) AS gold "  # set_gold's own row, not a typed comment
            "FROM annotations a JOIN items i ON i.id = a.item_id WHERE 1 = 1" + cond,
            [GOLD_COMMENT, *args])],
            columns=["id", "item_id", "user", "source", "created_at", "seconds", "retracts", "gold"])
        undone = {r[0] for r in conn.execute("SELECT retracts FROM annotations WHERE retracts IS NOT NULL")}
        qc_where = " WHERE d.project_id = ?" if p is not None else ""
        qc = pd.DataFrame([dict(r) for r in conn.execute(
            "SELECT d.id, d.annotation_id, d.annotator, d.reviewer, d.accept, d.created_at AS decided_at, "
            "a.created_at AS labeled_at FROM qc_decisions d JOIN annotations a ON a.id = d.annotation_id"
            + qc_where, [p.id] if p is not None else [])],
            columns=["id", "annotation_id", "annotator", "reviewer", "accept", "decided_at", "labeled_at"])
        accounts = {r["username"]: (r["display_name"], r["role"])
                    for r in conn.execute("SELECT username, display_name, role FROM users")}

    def days(col):
        return pd.to_datetime(col, utc=True, format="ISO8601").dt.tz_convert(zone).dt.strftime("%Y-%m-%d")

    parts = []
    work = ann[ann["retracts"].isna()].copy()
    if len(work):
        work["day"] = days(work["created_at"])
        live = work[~work["id"].isin(undone)]
        labeled = live[live["source"] == "human"].groupby(["day", "user"])["item_id"].nunique()
        # a gold answer set by a lead is a setting of the project, not a correction (nor paid work)
        decided = live[live["source"].isin(["review", "model"]) & ~live["gold"].astype(bool)]
        corrected = decided.groupby(["day", "user"])["item_id"].nunique()
        seconds = work.groupby(["day", "user"])["seconds"].sum(min_count=1).fillna(0.0)
        parts += [labeled.rename("items_labeled"), corrected.rename("corrections"),
                  seconds.rename("active_seconds")]
    if len(qc):
        latest = qc.sort_values("id").groupby("annotation_id").tail(1).copy()
        latest["day"] = days(latest["labeled_at"])
        latest = latest.rename(columns={"annotator": "user"})
        parts += [latest[latest["accept"] == 1].groupby(["day", "user"]).size().rename("accepted"),
                  latest[latest["accept"] == 0].groupby(["day", "user"]).size().rename("rejected")]
        qc = qc.copy()
        qc["day"] = days(qc["decided_at"])
        parts.append(qc.rename(columns={"reviewer": "user"}).groupby(["day", "user"]).size()
                     .rename("qc_reviewed"))
    if parts:
        df = pd.concat(parts, axis=1).reset_index()
        df.columns = ["day", "user", *df.columns[2:]]
    else:
        df = pd.DataFrame(columns=["day", "user"])
    for col in ("items_labeled", "corrections", "qc_reviewed", "accepted", "rejected"):
        df[col] = (df[col] if col in df else pd.Series(0, index=df.index)).fillna(0).astype("int64")
    df["active_seconds"] = (df["active_seconds"] if "active_seconds" in df
                            else pd.Series(0.0, index=df.index)).fillna(0.0).astype("float64")
    if user is not None:
        df = df[df["user"] == user]
    if first is not None:
        df = df[df["day"] >= first.isoformat()]
    if last is not None:
        df = df[df["day"] <= last.isoformat()]
    df = df.copy()
    df["display_name"] = [accounts.get(u, ("", ""))[0] for u in df["user"]]
    df["role"] = [accounts.get(u, ("", ""))[1] for u in df["user"]]
    df["active_hours"] = df["active_seconds"] / 3600.0
    with np.errstate(divide="ignore", invalid="ignore"):
        df["items_per_hour"] = np.where(df["active_seconds"] > 0,
                                        df["items_labeled"] / df["active_hours"].where(df["active_hours"] > 0),
                                        np.nan)
    df["items_per_hour"] = df["items_per_hour"].astype("float64")
    return df[THROUGHPUT_COLUMNS].sort_values(["day", "user"]).reset_index(drop=True)


def throughput_csv(ws: Workspace, project: ProjectRef | None = None, start: TimeLike | None = None,
                   end: TimeLike | None = None, user: str | None = None, tz: str | None = None, by: str = "local",
                   columns: Mapping[str, str] | None = None) -> str:
    """:func:`throughput` as CSV text for Excel: UTF-8 BOM, CRLF line ends, hours and rates to 2 decimals.

    Parameters
    ----------
    columns : dict, optional
        Rename the header (e.g. translated column names): ``{"items_labeled": "标注数量", ...}``.

    Returns
    -------
    str
        Starts with ``"\\ufeff"``; encode with UTF-8 to write the file.
    """
    df = throughput(ws, project=project, start=start, end=end, user=user, tz=tz, by=by)
    df["active_seconds"] = df["active_seconds"].round(1)
    df["active_hours"] = df["active_hours"].round(2)
    df["items_per_hour"] = df["items_per_hour"].round(2)
    if columns:
        df = df.rename(columns=dict(columns))
    return csv_text([str(c) for c in df.columns], df.itertuples(index=False, name=None))
