"""Who is signed in to this browser session: the server-side session record, its refresh token, sign-in
and sign-out (the rules live in :mod:`defectlab.team.sessions`; this module only keeps them in
``st.session_state`` and the URL).

State kept per browser tab: ``auth_user`` (the account), ``auth_session`` (the session id in the
workspace's ``sessions`` table), ``last_seen`` (idle logout). In team mode the URL carries
``?s=<token>``, a signed token of the session, so a refresh or a copied link resumes it; signing out,
an admin disabling the account or resetting its password, or the idle limit end it everywhere.
"""

from __future__ import annotations

import time

import streamlit as st

from defectlab import team
from defectlab.team import SessionEnded
from defectlab.ui import common
from defectlab.ui.common import t

__all__ = ["TOKEN_PARAM", "gate", "sign_in", "sign_out", "source"]

TOKEN_PARAM = "s"  # noqa: S105 (the name of a URL parameter, not a secret)


def source():
    """Where this browser session comes from: ``ui:<ip address>`` (lockout and session records)."""
    try:
        ip = st.context.ip_address
    except Exception:
        ip = None
    return f"ui:{ip if isinstance(ip, str) and ip else 'unknown'}"  # AppTest has a mock here


def _set_token(token):
    if token and st.query_params.get(TOKEN_PARAM) != token:
        st.query_params[TOKEN_PARAM] = token
    elif not token and TOKEN_PARAM in st.query_params:
        del st.query_params[TOKEN_PARAM]


def _forget():
    ss = st.session_state
    for key in ("auth_user", "auth_session", "auth_token"):
        ss.pop(key, None)
    _set_token(None)


def sign_in(ws, username, with_token=True):
    """Start a session of ``username`` (already authenticated) in ``ws`` and remember it in this tab."""
    ss = st.session_state
    if ss.get("auth_session"):
        team.end_session(ws, ss["auth_session"], reason="replaced")
    record = team.start_session(ws, username, source=source())
    ss["auth_user"] = record["user"]
    ss["auth_session"] = record["id"]
    ss["last_seen"] = time.time()
    ss["auth_token"] = team.session_token(ws, record["id"]) if with_token else None
    _set_token(ss["auth_token"])


def sign_out(ws, reason="sign_out"):
    """End this tab's session (revoked in the workspace: the token stops working too)."""
    sid = st.session_state.get("auth_session")
    if sid:
        team.end_session(ws, sid, reason=reason)
    _forget()


def _ended(exc):
    _forget()
    common.flash("info", common.reason_text(exc.args[0] if exc.args else str(exc)))


def _resume(ws):
    """Sign the tab in from the URL token after a refresh / in a new tab; True when it worked."""
    token = st.query_params.get(TOKEN_PARAM)
    if not token:
        return False
    try:
        record = team.resume_session(ws, token, source=source())  # only where it was signed in
    except SessionEnded as exc:
        _ended(exc)
        return False
    ss = st.session_state
    ss["auth_user"], ss["auth_session"], ss["auth_token"] = record["user"], record["id"], token
    ss["last_seen"] = time.time()
    return True


def _check_team(ws):
    ss = st.session_state
    if team.session_expired(ss.get("last_seen")):
        sign_out(ws, reason="expired")
        common.flash("info", t("login.expired"))
        return
    if not ss.get("auth_session"):
        # a signed-in user set by trusted server code (the first-account form, tests) gets its record now
        try:
            sign_in(ws, ss["auth_user"])
        except SessionEnded as exc:
            _ended(exc)
        return
    try:
        user = team.check_session(ws, ss["auth_session"])
    except SessionEnded as exc:
        _ended(exc)
        return
    if user != ss["auth_user"]:
        sign_out(ws, reason="mismatch")
        return
    ss["last_seen"] = time.time()
    if not ss.get("auth_token"):
        ss["auth_token"] = team.session_token(ws, ss["auth_session"])
    _set_token(ss["auth_token"])


def gate(ws, team_mode):
    """Check (or resume) this tab's session on every rerun; returns the acting user or None.

    Team mode: the signed-in account, None when nobody is (the app shows the login page). Single-user
    mode: ``local``, with a session record of its own.
    """
    ss = st.session_state
    if team_mode:
        if not ss.get("auth_user"):
            _resume(ws)
        if ss.get("auth_user"):
            _check_team(ws)
        return ss.get("auth_user")
    _set_token(None)
    sid = ss.get("auth_session")
    try:
        if not sid or team.check_session(ws, sid) != team.LOCAL_ADMIN:
            raise SessionEnded("unknown", "")
    except SessionEnded:
        ss.pop("auth_session", None)
        sign_in(ws, team.LOCAL_ADMIN, with_token=False)
    ss.pop("auth_user", None)
    return team.LOCAL_ADMIN
