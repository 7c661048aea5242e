"""Server-side sessions: who is signed in, to which workspace, since when, until when.

A session is a row of the ``sessions`` table (id, user, workspace, created_at, last_seen, expires_at,
revoked_at, source). The UI starts one at sign-in (:func:`start_session`; the single-user ``local`` admin
gets one too) and checks it on every rerun (:func:`check_session`): the session must exist in *this*
workspace, be bound to this workspace's folder, not be revoked, not be idle for longer than
:data:`~defectlab.team.accounts.SESSION_IDLE_SECONDS`, not be older than :data:`SESSION_MAX_SECONDS`, and
its account must still be enabled. Disabling an account, resetting or changing its password revokes its
sessions (in the same transaction), so an open browser tab of that person is signed out at its next rerun.

A browser refresh or a link opened in a new tab resumes the session from a **token**
(:func:`session_token` / :func:`resume_session`): ``<session id>.<expiry>.<HMAC-SHA256>`` signed with a
per-workspace secret kept in the workspace (``secret/session.key``, mode 0600, never in the repository).
A token is useless without its session row: signing out, revocation and idle expiry end it as well.
Anybody with read access to the workspace folder can read the key and the session ids: file access to a
workspace is admin access (see the README's threat model).

Examples
--------
>>> import tempfile
>>> from defectlab.store import open_workspace
>>> ws = open_workspace(tempfile.mkdtemp())
>>> s = start_session(ws, "local", source="doc")
>>> check_session(ws, s["id"]) == "local"
True
>>> resume_session(ws, session_token(ws, s["id"]))["user"]
'local'
>>> end_session(ws, s["id"])
>>> check_session(ws, s["id"])
Traceback (most recent call last):
...
defectlab.team.sessions.SessionEnded: You were signed out; sign in again.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as _dt
import hashlib
import hmac
import os
import secrets
from typing import TYPE_CHECKING, Any

from ..messages import msg
from ..store import log_action, require, role_of, utcnow
from ._common import _user_row
from .accounts import (
    LOCAL_ADMIN,
    SESSION_IDLE_SECONDS,
    AuthenticationError,
    _require_admin_for,
    _revoke_sessions,
)

if TYPE_CHECKING:
    from defectlab.store import Workspace

__all__ = [
    "SESSION_MAX_SECONDS",
    "SessionEnded",
    "check_session",
    "end_session",
    "list_sessions",
    "resume_session",
    "revoke_sessions",
    "session_token",
    "start_session",
    "workspace_secret",
]

SESSION_MAX_SECONDS = 12 * 3600
"""A session ends this long after sign-in, however active (one working shift)."""

TOUCH_SECONDS = 20
"""``last_seen`` is written at most this often per session (a label key press must stay ~1 ms)."""

_SECRET_REL = ("secret", "session.key")


class SessionEnded(AuthenticationError):
    """The session is unknown, revoked, idle too long, too old, or its account is disabled.

    ``reason`` is one of ``signed_out``, ``revoked``, ``expired``, ``disabled``, ``unknown``, ``bad_token``;
    the message carries the i18n key ``session.<reason>``.
    """

    def __init__(self, reason, text):
        self.reason = reason
        super().__init__(msg(f"session.{reason}", text))


_TEXTS = {
    "signed_out": "You were signed out; sign in again.",
    "revoked": "Your session was ended (account disabled, password changed or reset, or signed out by an "
               "admin); sign in again.",
    "expired": "Your session expired; sign in again.",
    "disabled": "Your account is disabled; ask an admin.",
    "unknown": "This session does not belong to this workspace; sign in again.",
    "bad_token": "The sign-in link is not valid (changed, expired or from another workspace); sign in again.",
}


def _ended(reason):
    return SessionEnded(reason, _TEXTS[reason])


def _root(ws):
    return str(ws.root.resolve())


def _now():
    return _dt.datetime.now(_dt.UTC)


def _iso(dt):
    return dt.isoformat(timespec="microseconds")


# -- the secret -----------------------------------------------------------------------------------
def workspace_secret(ws):
    """The workspace's 32-byte token-signing key (``secret/session.key``), created on first use.

    Created atomically (``O_EXCL``, mode 0600) so that two server processes starting together agree.
    """
    folder = ws.root.joinpath(_SECRET_REL[0])
    path = folder / _SECRET_REL[1]
    with contextlib.suppress(FileNotFoundError):
        key = path.read_bytes()
        if len(key) == 32:
            return key
    folder.mkdir(mode=0o700, exist_ok=True)
    key = secrets.token_bytes(32)
    tmp = folder / f".tmp-{secrets.token_hex(8)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    try:
        os.link(tmp, path)  # fails if another process won the race: use theirs
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_bytes()


# -- sessions -------------------------------------------------------------------------------------
def start_session(ws: Workspace, username: str, source: str = "") -> dict[str, Any]:
    """Record a new session of an enabled account in this workspace; returns the session dict.

    Call it right after :func:`~defectlab.team.authenticate` (or for ``local`` in single-user mode).

    Parameters
    ----------
    ws : Workspace
    username : str
        An enabled account of this workspace.
    source : str
        Where the person is (``ui:<ip address>``); shown to admins, part of the audit row.

    Returns
    -------
    dict
        ``id, user, workspace, created_at, last_seen, expires_at, revoked_at, source``.
    """
    now = _now()
    sid = secrets.token_hex(16)
    row = {"id": sid, "user": str(username), "workspace": _root(ws), "created_at": _iso(now),
           "last_seen": _iso(now), "expires_at": _iso(now + _dt.timedelta(seconds=SESSION_MAX_SECONDS)),
           "revoked_at": None, "source": str(source)[:200]}
    with ws.transaction() as conn:
        if role_of(conn, row["user"]) is None:
            raise _ended("disabled")
        # sessions that ended a week ago are of no further use (sign-ins stay in the audit log)
        conn.execute("DELETE FROM sessions WHERE expires_at < ?",
                     (_iso(now - _dt.timedelta(days=7)),))
        conn.execute("INSERT INTO sessions (id, user, workspace, created_at, last_seen, expires_at, source) "
                     "VALUES (:id, :user, :workspace, :created_at, :last_seen, :expires_at, :source)", row)
    return row


def _verdict(conn, row, root, now, idle_seconds):
    """The reason the session row may not be used, or None."""
    if row is None or row["workspace"] != root:
        return "unknown"
    if row["revoked_at"]:
        return "signed_out" if row["revoked_reason"] == "sign_out" else "revoked"
    if role_of(conn, row["user"]) is None:
        return "disabled"
    seen = _dt.datetime.fromisoformat(row["last_seen"])
    if now >= _dt.datetime.fromisoformat(row["expires_at"]) or (now - seen).total_seconds() > idle_seconds:
        return "expired"
    return None


def check_session(ws: Workspace, session_id: str, idle_seconds: float = SESSION_IDLE_SECONDS,
                  touch: bool = True) -> str:
    """The user of a live session of this workspace; records the activity (``last_seen``).

    Parameters
    ----------
    ws : Workspace
    session_id : str
    idle_seconds : float
        Idle expiry (default :data:`~defectlab.team.accounts.SESSION_IDLE_SECONDS`).
    touch : bool, default True
        Update ``last_seen`` (at most every :data:`TOUCH_SECONDS`).

    Returns
    -------
    str
        The account name.

    Raises
    ------
    SessionEnded
        With ``reason`` and a translatable message; an expired session is also revoked.
    """
    now, root = _now(), _root(ws)
    with ws.read() as conn:
        row = conn.execute("SELECT * FROM sessions WHERE id = ?", (str(session_id),)).fetchone()
        reason = _verdict(conn, row, root, now, idle_seconds)
    if reason == "expired":
        with ws.transaction() as conn:
            conn.execute("UPDATE sessions SET revoked_at = ?, revoked_reason = 'expired' WHERE id = ? "
                         "AND revoked_at IS NULL", (utcnow(), row["id"]))
    if reason is not None:
        raise _ended(reason)
    if touch and (now - _dt.datetime.fromisoformat(row["last_seen"])).total_seconds() >= TOUCH_SECONDS:
        with ws.transaction() as conn:
            conn.execute("UPDATE sessions SET last_seen = ? WHERE id = ? AND revoked_at IS NULL",
                         (_iso(now), row["id"]))
    return row["user"]


def end_session(ws: Workspace, session_id: str, reason: str = "sign_out") -> None:
    """Revoke one session (sign-out). Unknown or already ended sessions are left as they are."""
    with ws.transaction() as conn:
        row = conn.execute("SELECT user FROM sessions WHERE id = ? AND revoked_at IS NULL",
                           (str(session_id),)).fetchone()
        if row is None:
            return
        conn.execute("UPDATE sessions SET revoked_at = ?, revoked_reason = ? WHERE id = ?",
                     (utcnow(), str(reason), str(session_id)))
        if reason == "sign_out":
            log_action(conn, row["user"], "user.sign_out", None, row["user"])


def revoke_sessions(ws: Workspace, username: str, by: str, reason: str = "ended_by_admin") -> int:
    """Sign ``username`` out everywhere (a lost device, a shared PC left open). Returns how many ended.

    Needs ``manage_users`` (an admin for an admin's sessions); anybody may end their own sessions.
    Disabling an account and password resets / changes do this by themselves.
    """
    with ws.transaction() as conn:
        row = _user_row(conn, username)
        if row["username"] != by:
            require(conn, by, "manage_users")
            _require_admin_for(conn, by, row["role"])
        n = _revoke_sessions(conn, row["username"], reason)
        log_action(conn, by, "user.sessions_ended", None, row["username"], {"n": n})
        return n


def list_sessions(ws: Workspace, username: str | None = None, open_only: bool = True,
                  by: str = LOCAL_ADMIN, idle_seconds: float = SESSION_IDLE_SECONDS) -> list[dict[str, Any]]:
    """Sessions of this workspace, newest first: a list of dicts (never the token).

    ``by`` needs ``manage_users`` unless it asks for its own sessions (``username == by``). ``open_only``:
    sessions that still work (not revoked, not too old, not idle longer than ``idle_seconds``: a browser
    closed without signing out is not listed as open once its session has lapsed).
    """
    sql, args = "SELECT * FROM sessions WHERE workspace = ?", [_root(ws)]
    with ws.read() as conn:
        if username is None or str(username) != str(by):
            require(conn, by, "manage_users")
        if username is not None:
            sql += " AND user = ?"
            args.append(str(username))
        if open_only:
            now = _now()
            sql += " AND revoked_at IS NULL AND expires_at > ? AND last_seen > ?"
            args += [_iso(now), _iso(now - _dt.timedelta(seconds=float(idle_seconds)))]
        return [dict(r) for r in conn.execute(sql + " ORDER BY created_at DESC", args)]


# -- tokens ---------------------------------------------------------------------------------------
def _sign(ws, payload):
    mac = hmac.new(workspace_secret(ws), payload.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode("ascii").rstrip("=")


def session_token(ws: Workspace, session_id: str) -> str:
    """A token that resumes ``session_id`` after a browser refresh: ``<id>.<expiry>.<signature>``.

    The signature covers the id, the expiry and the workspace folder, with the workspace's secret.
    """
    with ws.read() as conn:
        row = conn.execute("SELECT expires_at FROM sessions WHERE id = ?", (str(session_id),)).fetchone()
    if row is None:
        raise _ended("unknown")
    expiry = int(_dt.datetime.fromisoformat(row["expires_at"]).timestamp())
    payload = f"{session_id}.{expiry}"
    return f"{payload}.{_sign(ws, payload + '|' + _root(ws))}"


def resume_session(ws: Workspace, token: str, idle_seconds: float = SESSION_IDLE_SECONDS,
                   source: str | None = None) -> dict[str, Any]:
    """Check a token from :func:`session_token` and the session behind it; returns the session dict.

    Parameters
    ----------
    ws : Workspace
    token : str
    idle_seconds : float
    source : str, optional
        Where the request comes from (``ui:<ip address>``). When given, it must be the session's own
        source: a token copied to another computer (or planted in a link for somebody else) does not
        sign anybody in there.

    Raises
    ------
    SessionEnded
        ``bad_token`` for a malformed, altered, expired or foreign token, or one used from another
        source; otherwise as :func:`check_session`.
    """
    parts = str(token or "").split(".")
    if len(parts) != 3 or len(parts[0]) != 32 or not parts[1].isdigit() or len(parts[2]) > 64:
        raise _ended("bad_token")
    payload = f"{parts[0]}.{parts[1]}"
    if not hmac.compare_digest(_sign(ws, payload + "|" + _root(ws)), parts[2]):
        raise _ended("bad_token")
    if _now().timestamp() >= int(parts[1]):
        raise _ended("bad_token")
    if source is not None:
        with ws.read() as conn:
            row = conn.execute("SELECT source FROM sessions WHERE id = ?", (parts[0],)).fetchone()
        if row is None or row["source"] != str(source)[:200]:
            raise _ended("bad_token")
    user = check_session(ws, parts[0], idle_seconds=idle_seconds)
    with ws.read() as conn:
        return dict(conn.execute("SELECT * FROM sessions WHERE id = ?", (parts[0],)).fetchone()) | {"user": user}
