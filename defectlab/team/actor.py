"""Who acts, for callers without a browser session (the command line).

In single-user mode nothing is asked and the actor is ``local``. In team mode the caller names an
account and proves it with its password (:func:`~defectlab.team.authenticate`: the same lock-out, the
same audit rows as the sign-in page); the acting account is the authenticated one, so ``--user lead1``
without lead1's password acts as nobody. ``actions`` are checked before anything runs, so a refused
command changes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import PermissionDenied
from ..messages import msg
from ..store import can
from .accounts import LOCAL_ADMIN, AuthenticationError, authenticate, is_team_mode

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from defectlab.store import Workspace

__all__ = ["authenticate_actor"]


def authenticate_actor(ws: Workspace, username: str | None = None, password: str | None = None,
                       ask: Callable[[str], str | None] | None = None, source: str = "",
                       actions: Sequence[str] = ()) -> str:
    """The account a non-browser caller acts as.

    Parameters
    ----------
    ws : Workspace
    username : str, optional
        The account named by the caller (``--user`` / ``DEFECTLAB_USER``); ignored in single-user mode.
    password : str, optional
        Its password (``DEFECTLAB_PASSWORD``).
    ask : callable, optional
        ``ask(username) -> str``: prompt for the password when none was given (a terminal).
    source : str
        Where the attempt comes from (``cli:<os user>``), for the lock-out and the audit.
    actions : sequence of str
        The caller needs at least one of these permissions (empty: any enabled account).

    Returns
    -------
    str
        ``local`` in single-user mode, else the authenticated account's name.

    Raises
    ------
    AuthenticationError
        Team mode without a name or password, a wrong password, a locked or disabled account, or an
        account that must first choose its own password.
    PermissionDenied
        The account's role allows none of ``actions``.
    """
    if not is_team_mode(ws):
        return LOCAL_ADMIN
    if not username:
        raise AuthenticationError(msg(
            "actor.need_user", "This workspace has accounts (team mode): name yours with --user NAME (or "
            "DEFECTLAB_USER) and give its password in DEFECTLAB_PASSWORD or at the prompt."))
    if password is None and ask is not None:
        password = ask(username)
    if password is None:
        raise AuthenticationError(msg(
            "actor.need_password", "No password for {user}: set DEFECTLAB_PASSWORD or run the command in a "
            "terminal to be asked.", user=repr(str(username))))
    account = authenticate(ws, username, password, source=source)
    if account["must_change_password"]:
        raise AuthenticationError(msg(
            "actor.must_change", "{user} must choose a new password first: sign in to the app once.",
            user=repr(account["username"])))
    if actions:
        with ws.read() as conn:
            if not any(can(conn, account["username"], a) for a in actions):
                raise PermissionDenied(msg(
                    "actor.denied", "{user} (role {role}) may not {action}; ask a lead or an admin.",
                    user=repr(account["username"]), role=msg(f"role.{account['role']}", account["role"]),
                    action=msg(f"permission.action.{actions[0]}", actions[0].replace("_", " "))))
    return account["username"]
