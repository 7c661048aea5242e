"""Roles and what each may do, checked inside the library functions that the UI and the CLI call.

A fresh workspace runs in single-user mode with one local ``admin`` named ``local``; team mode starts when
the first extra account is created (:mod:`defectlab.team`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import PermissionDenied
from ..messages import msg

if TYPE_CHECKING:
    import sqlite3

__all__ = ["ACTIONS", "ROLES", "ROLE_ACTIONS", "can", "require", "role_of"]

ROLES = ("admin", "lead", "annotator", "reviewer", "supervisor")

ACTIONS = (
    "view",             # see projects, items, runs
    "label",            # add human annotations, undo one's own
    "review",           # QC review, label-issue review decisions (source 'review')
    "correct_predictions",  # confirm / correct model predictions on a batch
    "predict",          # run a model on a new batch
    "import",
    "cut_crops",
    "train",
    "export",
    "edit_project",     # classes, label book, settings
    "create_project",
    "delete",           # soft-delete items / projects
    "restore",          # undo a soft delete
    "manage_users",     # create accounts, change roles
    "reset_password",
    "assign",           # assignments, overlap, gold items
    "view_team",        # agreement, throughput, audit
    "approve_run",
    "open_workspace",   # open another workspace from the browser (under the data roots)
)

_ALL = frozenset(ACTIONS)
ROLE_ACTIONS = {
    "admin": _ALL,
    "lead": _ALL - {"restore", "reset_password", "open_workspace"},
    "annotator": frozenset({"view", "label", "cut_crops"}),
    "reviewer": frozenset({"view", "label", "review", "view_team"}),
    # a supervisor's correction of a prediction is a person's label (source "human"); correct_predictions also
    # lets them store the boxes of a recorded locate result as crops of its plate (learn.plate_review), never
    # boxes of their own: drawing boxes is cut_crops
    "supervisor": frozenset({"view", "label", "predict", "correct_predictions", "export", "import"}),
}


def role_of(conn: sqlite3.Connection, username: str) -> str | None:
    """The role of an enabled user, or ``None`` when there is no such enabled user."""
    row = conn.execute(
        "SELECT role FROM users WHERE username = ? AND disabled_at IS NULL", (username,)
    ).fetchone()
    return None if row is None else row[0]


def can(conn: sqlite3.Connection, username: str, action: str) -> bool:
    """Whether ``username`` may do ``action``."""
    if action not in _ALL:
        raise ValueError(f"Unknown action {action!r}; expected one of {', '.join(ACTIONS)}.")
    role = role_of(conn, username)
    return role is not None and action in ROLE_ACTIONS[role]


def require(conn: sqlite3.Connection, username: str, action: str) -> None:
    """Raise :class:`PermissionDenied` unless ``username`` may do ``action``."""
    if not can(conn, username, action):
        role = role_of(conn, username)
        if role in ("lead", "admin"):  # only an admin can do what a lead may not
            raise PermissionDenied(msg("error.permission.denied_admin", "user {user!r} (role {role}) may not "
                                       "{action}; only an admin may.", user=str(username), role=_role_word(role),
                                       action=_action_words(action)))
        if role:
            raise PermissionDenied(msg("error.permission.denied", "user {user!r} (role {role}) may not {action}; "
                                       "ask a lead or an admin.", user=str(username), role=_role_word(role),
                                       action=_action_words(action)))
        raise PermissionDenied(msg("error.permission.unknown_user", "user {user!r} (unknown or disabled) may not "
                                   "{action}; ask a lead or an admin.", user=str(username),
                                   action=_action_words(action)))


def _action_words(action):
    """``action`` in the words of a sentence (``"edit project"``), with its catalog key for the UI."""
    return msg(f"permission.action.{action}", action.replace("_", " "))


def _role_word(role):
    """A role name in a sentence (``"annotator"``), with its catalog key for the UI."""
    return msg(f"role.{role}", role)
