"""Accounts, roles, password hashing, login and idle logout.

Modes
-----
A fresh workspace is in **single-user mode**: its only account is the passwordless admin ``local``, and
nobody logs in (the UI acts as ``local``). The workspace switches to **team mode** when the first extra
account is created; from then on :func:`is_team_mode` is True and everybody, ``local`` included, logs in
with :func:`authenticate`.

Because ``local`` must not stay passwordless in team mode, creating the first extra account needs
``admin_password=...``: the new password of ``local``, set in the same transaction (unless ``local``
already has one, set earlier with :func:`change_password`). Only ``local`` can do that (it is the only
account in single-user mode).

Roles (see :mod:`defectlab.store.permissions` for what each may do): ``admin``, ``lead`` (the AI trainer),
``annotator``, ``reviewer`` (quality inspector), ``supervisor`` (line supervisor). Rules enforced here:

- ``manage_users`` (admins and leads) is needed to create accounts, change roles, disable and enable;
  only an admin may grant or take away the admin role, or disable / re-enable an admin;
- ``reset_password`` is admin-only; everybody may change their own password (:func:`change_password`);
- the last enabled admin cannot be demoted or disabled, and nobody can disable their own account;
- accounts are never deleted (their names stay in the annotations); they are disabled.

Passwords
---------
Hashed with scrypt (``hashlib.scrypt``, n=2**17, r=8, p=1 — current OWASP guidance —, 16-byte random
salt per password, 32-byte key; a hash with older parameters is replaced at the next successful login)
and stored as ``scrypt$n$r$p$salt_b64$hash_b64``; compared in constant time. Passwords are
NFKC-normalised first (a full-width ``Ａ`` typed by a Chinese IME equals ``A``). Policy
(:func:`check_password_policy`): at least :data:`MIN_PASSWORD_LENGTH` characters, at most
:data:`MAX_PASSWORD_LENGTH`, not only spaces, not the user name, not a well-known password. An account
created or reset by somebody else gets ``must_change_password=True``: the UI should ask the person to
choose their own password after logging in.

After :data:`MAX_FAILED_LOGINS` failed logins within :data:`LOCKOUT_SECONDS` from one source, the
account refuses logins from that source until that time has passed or an admin unlocks it
(:func:`unlock_user`, or :func:`recover_account` for somebody with file access). The check and the
record of an attempt are one transaction, so parallel guesses cannot overrun the limit. Logins, failed logins and every
account change are written to the audit log (``user.*`` actions).

Idle logout
-----------
The UI stores the time of the user's last action and calls :func:`session_expired` on every rerun;
after :data:`SESSION_IDLE_SECONDS` of inactivity it logs the user out.

Examples
--------
>>> import tempfile
>>> from defectlab.store import open_workspace
>>> ws = open_workspace(tempfile.mkdtemp())
>>> is_team_mode(ws)
False
>>> _ = create_user(ws, "zhang.wei", "Steel-2024!", "annotator", display_name="张伟",
...                 by="local", admin_password="Admin-pass-1")
>>> is_team_mode(ws), authenticate(ws, "zhang.wei", "Steel-2024!")["role"]
(True, 'annotator')
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import hmac
import re
import secrets
import unicodedata
from typing import TYPE_CHECKING

from ..errors import InputError, PermissionDenied
from ..messages import msg
from ..store import ROLES, log_action, require, role_of, utcnow
from ._common import _parse_time, _user_row

if TYPE_CHECKING:
    from typing import Any

    from defectlab._typing import TimeLike
    from defectlab.store import Workspace

__all__ = [
    "LOCAL_ADMIN",
    "LOCKOUT_SECONDS",
    "MAX_FAILED_LOGINS",
    "MAX_FAILED_PER_SOURCE",
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "SESSION_IDLE_SECONDS",
    "AuthenticationError",
    "authenticate",
    "change_password",
    "check_password_policy",
    "create_user",
    "disable_user",
    "enable_user",
    "get_user",
    "hash_password",
    "is_team_mode",
    "list_users",
    "needs_rehash",
    "recover_account",
    "reset_password",
    "session_expired",
    "set_display_name",
    "set_role",
    "unlock_user",
    "verify_password",
]

LOCAL_ADMIN = "local"
"""The built-in admin of single-user mode."""

SESSION_IDLE_SECONDS = 30 * 60
"""Log a user out after this many seconds without any action (shared plant PCs)."""

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256
MAX_FAILED_LOGINS = 10
MAX_FAILED_PER_SOURCE = 50
"""Failed logins from one source, over all account names, within LOCKOUT_SECONDS before it must wait."""
LOCKOUT_SECONDS = 15 * 60

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**17, 8, 1  # OWASP 2024 guidance for scrypt; ~0.6 s, 128 MiB
_SALT_BYTES, _KEY_BYTES = 16, 32
# bounds accepted when reading a stored hash (refuses a tampered hash that would exhaust memory)
_MAX_N, _MAX_R, _MAX_P = 2**20, 16, 16
_MAX_MEM = 256 << 20  # bytes scrypt may use for one check (the current cost needs 128 MiB)

_USERNAME_RE = re.compile(r"^[\w.@-]{1,64}$")
_COMMON_PASSWORDS = frozenset({
    "password", "password1", "passw0rd", "12345678", "123456789", "1234567890", "87654321",
    "11111111", "00000000", "88888888", "66666666", "12341234", "abcd1234", "abc12345", "a1234567",
    "qwertyui", "qwerty123", "iloveyou", "1qaz2wsx", "admin123", "administrator", "changeme",
    "welcome1", "letmein1", "woaini1314", "5201314520",
})


class AuthenticationError(PermissionDenied):
    """A login failed: wrong name or password, a disabled or locked account."""


# -- hashing -------------------------------------------------------------------------------------
def _normalize(password):
    if not isinstance(password, str):
        raise InputError(msg("error.accounts.password_must_text_str",
                "A password must be text (str); got {name}.",
                name=type(password).__name__))
    return unicodedata.normalize("NFKC", password)


def _b64(data):
    return base64.b64encode(data).decode("ascii")


def _maxmem(n, r, p):
    # scrypt needs 128 * r * (n + p) bytes; hashlib's default cap (32 MiB) is below N=2**17, r=8
    return 128 * r * (n + p) + (2 << 20)


def hash_password(password: str) -> str:
    """Hash a password with scrypt and a fresh random salt.

    Parameters
    ----------
    password : str

    Returns
    -------
    str
        ``scrypt$131072$8$1$<salt base64>$<key base64>``.
    """
    salt = secrets.token_bytes(_SALT_BYTES)
    key = hashlib.scrypt(_normalize(password).encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R,
                         p=SCRYPT_P, dklen=_KEY_BYTES, maxmem=_maxmem(SCRYPT_N, SCRYPT_R, SCRYPT_P))
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, encoded: str) -> bool:
    """Whether ``password`` matches a hash made by :func:`hash_password` (constant-time compare).

    A malformed or missing hash never matches (returns False rather than raising).
    """
    if not encoded or not isinstance(password, str):
        return False
    try:
        scheme, n, r, p, salt_b64, key_b64 = encoded.split("$")
        n, r, p = int(n), int(r), int(p)
        salt, key = base64.b64decode(salt_b64, validate=True), base64.b64decode(key_b64, validate=True)
    except ValueError:
        return False
    if scheme != "scrypt" or not (1 < n <= _MAX_N and n & (n - 1) == 0 and 0 < r <= _MAX_R
                                  and 0 < p <= _MAX_P and salt and key):
        return False
    if _maxmem(n, r, p) > _MAX_MEM:  # a tampered hash must not make a login allocate gigabytes
        return False
    candidate = hashlib.scrypt(_normalize(password).encode("utf-8"), salt=salt, n=n, r=r, p=p,
                               dklen=len(key), maxmem=_maxmem(n, r, p))
    return hmac.compare_digest(candidate, key)


# A hash to check against when the user does not exist, so that the time taken does not tell.
_DUMMY_HASH = None


def _dummy_hash():
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = hash_password(secrets.token_hex(16))
    return _DUMMY_HASH


def check_password_policy(password: str, username: str | None = None) -> str:
    """Validate a new password and return it NFKC-normalised.

    Raises
    ------
    InputError
        With the rule broken and how to fix it.
    """
    pw = _normalize(password)
    if len(pw) < MIN_PASSWORD_LENGTH:
        raise InputError(msg("error.accounts.password_too_short_characters",
                "The password is too short ({len_pw} characters); use at least {MIN_PASSWORD_LENGTH} "
                "characters, e.g. a short sentence.",
                len_pw=len(pw), MIN_PASSWORD_LENGTH=MIN_PASSWORD_LENGTH))
    if len(pw) > MAX_PASSWORD_LENGTH:
        raise InputError(msg("error.accounts.password_too_long_characters",
                "The password is too long ({len_pw} characters); use at most {MAX_PASSWORD_LENGTH}.",
                len_pw=len(pw), MAX_PASSWORD_LENGTH=MAX_PASSWORD_LENGTH))
    if not pw.strip():
        raise InputError(msg("error.accounts.password_only_spaces_choose",
                "The password is only spaces; choose one with letters or digits."))
    if username is not None and pw.casefold() == str(username).casefold():
        raise InputError(msg("error.accounts.password_must_not_user",
                "The password must not be the user name; choose another one."))
    if pw.casefold() in _COMMON_PASSWORDS:
        raise InputError(msg("error.accounts.password_one_most_common",
                "That password is one of the most common passwords and easy to guess; choose another "
                "one."))
    return pw


def _check_username(username):
    if not isinstance(username, str):
        raise InputError(msg("error.accounts.user_name_must_text",
                "A user name must be text; got {name}.",
                name=type(username).__name__))
    name = unicodedata.normalize("NFKC", username).strip()
    if not _USERNAME_RE.match(name):
        raise InputError(
            msg("error.accounts.user_name_not_valid",
                "User name {username} is not valid: use 1-64 letters (Chinese letters too), digits, "
                "'.', '_', '-' or '@', without spaces; e.g. zhang.wei",
                username=repr(username))
        )
    if name.startswith("__"):
        raise InputError(msg("error.accounts.user_name_reserved_choose",
                "User name {name} is reserved; choose a name not starting with '__'.",
                name=repr(name)))
    return name


def _check_role(role):
    if role not in ROLES:
        raise InputError(msg("error.accounts.unknown_role_expected_one",
                "Unknown role {role}; expected one of {join_roles}.",
                role=repr(role), join_roles=', '.join(ROLES)))
    return role


def _check_display_name(display_name):
    name = "" if display_name is None else str(display_name).strip()
    if len(name) > 100:
        raise InputError(msg("error.accounts.display_name_longer_than",
                "The display name is longer than 100 characters ({len_name}); shorten it.",
                len_name=len(name)))
    return name


# -- reading -------------------------------------------------------------------------------------
def _public(row):
    return {
        "username": row["username"],
        "display_name": row["display_name"],
        "role": row["role"],
        "created_at": row["created_at"],
        "disabled_at": row["disabled_at"],
        "disabled": row["disabled_at"] is not None,
        "has_password": row["password_hash"] is not None,
        "must_change_password": bool(row["must_change_password"]),
    }


def _team_mode(conn):
    return conn.execute("SELECT 1 FROM users WHERE username != ? LIMIT 1", (LOCAL_ADMIN,)).fetchone() \
        is not None


def is_team_mode(ws: Workspace) -> bool:
    """Whether the workspace has any account besides ``local`` (then everybody logs in)."""
    with ws.read() as conn:
        return _team_mode(conn)


def get_user(ws: Workspace, username: str) -> dict[str, Any]:
    """One account as a dict (see :func:`list_users`); raises NotFoundError."""
    with ws.read() as conn:
        return _public(_user_row(conn, username))


def list_users(ws: Workspace, include_disabled: bool = True) -> list[dict[str, Any]]:
    """All accounts, oldest first.

    Returns
    -------
    list of dict
        ``username, display_name, role, created_at, disabled_at, disabled, has_password,
        must_change_password`` (never the password hash).
    """
    sql = "SELECT * FROM users" + ("" if include_disabled else " WHERE disabled_at IS NULL")
    with ws.read() as conn:
        return [_public(r) for r in conn.execute(sql + " ORDER BY id")]


def _find_login(conn, username):
    """The users row whose name matches ``username`` ignoring case and width, or None."""
    name = unicodedata.normalize("NFKC", str(username)).strip().casefold()
    for row in conn.execute("SELECT * FROM users ORDER BY id"):
        if row["username"].casefold() == name:
            return row
    return None


def _enabled_admins(conn):
    return conn.execute(
        "SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled_at IS NULL").fetchone()[0]


def _require_admin_for(conn, by, target_role, new_role=None):
    """Only an admin may touch admin accounts or grant the admin role."""
    if "admin" in (target_role, new_role) and role_of(conn, by) != "admin":
        raise PermissionDenied(msg("error.accounts.user_may_not_change",
                "User {by} may not change admin accounts or grant the admin role; ask an admin.",
                by=repr(by)))


# -- changing ------------------------------------------------------------------------------------
def create_user(ws: Workspace, username: str, password: str, role: str, display_name: str = "", by: str = LOCAL_ADMIN,
                admin_password: str | None = None) -> dict[str, Any]:
    """Create an account.

    Parameters
    ----------
    ws : Workspace
    username : str
        1-64 letters, digits, ``._-@``; unique ignoring case.
    password : str
        The initial password (policy: :func:`check_password_policy`); the person is asked to change it.
    role : {"admin", "lead", "annotator", "reviewer", "supervisor"}
    display_name : str, optional
        The name shown in the UI and reports (e.g. the person's name in Chinese).
    by : str
        Who creates it (needs ``manage_users``; only an admin may create an admin).
    admin_password : str, optional
        Required when this is the first extra account and ``local`` has no password yet: the new
        password of ``local`` (team mode starts now and everybody logs in).

    Returns
    -------
    dict
        The new account (see :func:`list_users`).
    """
    username = _check_username(username)
    role = _check_role(role)
    display_name = _check_display_name(display_name)
    pw = check_password_policy(password, username)
    new_hash = hash_password(pw)
    admin_hash = None
    if admin_password is not None:
        admin_hash = hash_password(check_password_policy(admin_password, LOCAL_ADMIN))
    with ws.transaction() as conn:
        require(conn, by, "manage_users")
        _require_admin_for(conn, by, None, role)
        clash = _find_login(conn, username)
        if clash is not None:
            raise InputError(msg("error.accounts.account_named_already_exists",
                    "An account named {clash_username} already exists (names ignore case); choose "
                    "another user name.",
                    clash_username=repr(clash['username'])))
        starts_team = not _team_mode(conn)
        if starts_team:
            local = _user_row(conn, LOCAL_ADMIN)
            if local["password_hash"] is None:
                if admin_hash is None:
                    raise InputError(
                        msg("error.accounts.creating_first_extra_account",
                            "Creating the first extra account switches this workspace to team mode, "
                            "where everybody logs in, the '{LOCAL_ADMIN}' admin too. Pass "
                            "admin_password=... to set the password of '{LOCAL_ADMIN}' at the same "
                            "time.",
                            LOCAL_ADMIN=LOCAL_ADMIN)
                    )
                conn.execute("UPDATE users SET password_hash = ?, must_change_password = 0 "
                             "WHERE username = ?", (admin_hash, LOCAL_ADMIN))
                log_action(conn, by, "user.password", None, LOCAL_ADMIN, {"reason": "team mode starts"})
            elif admin_hash is not None:
                raise InputError(msg("error.accounts.already_has_password_leave",
                        "'{LOCAL_ADMIN}' already has a password; leave admin_password out (change it "
                        "with change_password).",
                        LOCAL_ADMIN=LOCAL_ADMIN))
        elif admin_hash is not None:
            raise InputError(msg("error.accounts.admin_password_only_used",
                    "admin_password is only used for the first extra account; leave it out."))
        conn.execute(
            "INSERT INTO users (username, display_name, role, password_hash, created_at, "
            "must_change_password) VALUES (?, ?, ?, ?, ?, 1)",
            (username, display_name, role, new_hash, utcnow()),
        )
        log_action(conn, by, "user.create", None, username,
                   {"role": role, "display_name": display_name, "team_mode_started": starts_team})
        return _public(_user_row(conn, username))


def _login_source(source):
    return str(source or "")[:200]


def _failed_logins(conn, username, source):
    """Failed (and in-flight) logins of ``username`` from ``source`` within LOCKOUT_SECONDS, counted after
    the last success from that source and the last admin reset or unlock (any source)."""
    since = (_dt.datetime.now(_dt.UTC) - _dt.timedelta(seconds=LOCKOUT_SECONDS)).isoformat(
        timespec="microseconds")
    last_ok = conn.execute(
        "SELECT MAX(id) FROM login_attempts WHERE username = ? AND ((outcome = 'ok' AND source = ?) "
        "OR outcome = 'reset')", (username, source)).fetchone()[0] or 0
    return conn.execute(
        "SELECT COUNT(*) FROM login_attempts WHERE username = ? AND source = ? AND outcome IN "
        "('failed', 'pending') AND at >= ? AND id > ?", (username, source, since, last_ok)).fetchone()[0]


def _failed_from(conn, source):
    """Failed (and in-flight) logins from ``source`` for any account within LOCKOUT_SECONDS: guessing
    across many (made-up) account names costs a password hash each, so it is capped per source too."""
    since = (_dt.datetime.now(_dt.UTC) - _dt.timedelta(seconds=LOCKOUT_SECONDS)).isoformat(
        timespec="microseconds")
    return conn.execute("SELECT COUNT(*) FROM login_attempts WHERE source = ? AND outcome IN ('failed', "
                        "'pending') AND at >= ?", (source, since)).fetchone()[0]


def _reserve_attempt(ws, username, source):
    """Check the lock-out and record a pending attempt in one write transaction (atomic: of N parallel
    guesses at most MAX_FAILED_LOGINS get to the password check). Returns ``(row, name, attempt_id)``."""
    with ws.transaction() as conn:
        row = _find_login(conn, username)
        name = row["username"] if row is not None else unicodedata.normalize("NFKC", str(username))[:64]
        if source and _failed_from(conn, source) >= MAX_FAILED_PER_SOURCE:
            raise AuthenticationError(msg(
                "login.source_locked", "Too many failed logins from this place; wait {minutes} minutes.",
                minutes=LOCKOUT_SECONDS // 60))
        if _failed_logins(conn, name, source) >= MAX_FAILED_LOGINS:
            raise AuthenticationError(msg(
                "login.locked", "Too many failed logins for {name}; wait {minutes} minutes or ask an admin "
                "to unlock the account (defectlab user unlock NAME).", name=repr(name),
                minutes=LOCKOUT_SECONDS // 60))
        # attempts older than the lock-out window no longer count (the audit log keeps the history)
        keep = _dt.timedelta(seconds=max(86400, 2 * LOCKOUT_SECONDS))
        conn.execute("DELETE FROM login_attempts WHERE at < ?",
                     ((_dt.datetime.now(_dt.UTC) - keep).isoformat(timespec="microseconds"),))
        attempt = conn.execute("INSERT INTO login_attempts (username, source, at, outcome) "
                               "VALUES (?, ?, ?, 'pending')", (name, source, utcnow())).lastrowid
    return row, name, attempt


def needs_rehash(encoded: str) -> bool:
    """Whether a stored hash was made with weaker scrypt parameters than the current ones."""
    try:
        scheme, n, r, p, *_ = str(encoded).split("$")
        return scheme != "scrypt" or (int(n), int(r), int(p)) != (SCRYPT_N, SCRYPT_R, SCRYPT_P)
    except ValueError:
        return True


def authenticate(ws: Workspace, username: str, password: str, source: str = "") -> dict[str, Any]:
    """Check a login and return the account.

    The lock-out is checked and the attempt recorded atomically, per account **and** source: after
    :data:`MAX_FAILED_LOGINS` failures from one source within :data:`LOCKOUT_SECONDS`, that source may not
    try that account any more (other sources still may, so nobody can lock the only admin out from
    everywhere); an admin lifts it with :func:`unlock_user` or a password reset. A hash made with older
    scrypt parameters is replaced on a successful login.

    Parameters
    ----------
    ws : Workspace
    username : str
        Matched ignoring case and character width.
    password : str
    source : str, optional
        Where the attempt comes from (``ui:<ip address>``, ``cli:<os user>``).

    Returns
    -------
    dict
        The account (see :func:`list_users`); show a change-password form when
        ``must_change_password`` is True.

    Raises
    ------
    AuthenticationError
        Wrong name or password (one message for both), a disabled or locked account, or an account
        without a password (``local`` in single-user mode needs no login: check :func:`is_team_mode`).
    """
    source = _login_source(source)
    row, name, attempt = _reserve_attempt(ws, username, source)
    ok, new_hash = False, None
    try:
        ok = verify_password(password, row["password_hash"] if row is not None else _dummy_hash())
        ok = ok and row is not None and row["password_hash"] is not None
        new_hash = hash_password(password) if ok and needs_rehash(row["password_hash"]) else None
    finally:
        with ws.transaction() as conn:
            conn.execute("UPDATE login_attempts SET outcome = ? WHERE id = ?", ("ok" if ok else "failed", attempt))
            if not ok:
                log_action(conn, name, "user.login_failed", None, name, {"source": source})
            elif row["disabled_at"]:
                log_action(conn, name, "user.login_failed", None, name, {"reason": "disabled", "source": source})
            else:
                if new_hash is not None:
                    conn.execute("UPDATE users SET password_hash = ? WHERE username = ? AND password_hash = ?",
                                 (new_hash, name, row["password_hash"]))
                log_action(conn, name, "user.login", None, name,
                           {"source": source, **({"rehashed": True} if new_hash else {})})
    if not ok:
        raise AuthenticationError(msg("login.wrong", "Wrong user name or password."))
    if row["disabled_at"]:
        raise AuthenticationError(msg("login.disabled", "The account {name} is disabled; ask an admin.",
                                      name=repr(name)))
    return _public(row)


def unlock_user(ws: Workspace, username: str, by: str) -> None:
    """Lift a login lock-out of ``username`` (all sources). Needs ``reset_password`` (admins)."""
    with ws.transaction() as conn:
        require(conn, by, "reset_password")
        _unlock(conn, _user_row(conn, username)["username"], by)


def _unlock(conn, username, by):
    conn.execute("INSERT INTO login_attempts (username, source, at, outcome) VALUES (?, '*', ?, 'reset')",
                 (username, utcnow()))
    log_action(conn, by, "user.unlock", None, username)


def recover_account(ws: Workspace, username: str, operator: str, new_password: str | None = None) -> dict[str, Any]:
    """Break-glass recovery for somebody with write access to the workspace files (which is admin access).

    Lifts the login lock-out of ``username`` and, with ``new_password``, sets it (the person must change
    it at the next login) and ends the account's sessions. No role is checked: whoever can call this can
    already change ``defectlab.sqlite`` directly. The CLI's ``defectlab user unlock`` /
    ``defectlab user reset-password`` use it; the audit names ``file-access:<operator>``.

    Returns
    -------
    dict
        The account (see :func:`list_users`).
    """
    pw = None if new_password is None else hash_password(check_password_policy(new_password, username))
    actor = f"file-access:{operator}"
    with ws.transaction() as conn:
        row = _user_row(conn, username)
        _unlock(conn, row["username"], actor)
        if pw is not None:
            conn.execute("UPDATE users SET password_hash = ?, must_change_password = 1 WHERE username = ?",
                         (pw, row["username"]))
            _revoke_sessions(conn, row["username"], "password_reset")
            log_action(conn, actor, "user.reset_password", None, row["username"], {"recovery": True})
        return _public(_user_row(conn, row["username"]))


def _revoke_sessions(conn, username, reason):
    """Revoke every open session of ``username`` inside the caller's transaction; returns how many."""
    return conn.execute("UPDATE sessions SET revoked_at = ?, revoked_reason = ? WHERE user = ? AND "
                        "revoked_at IS NULL", (utcnow(), str(reason), str(username))).rowcount


def change_password(ws: Workspace, username: str, old_password: str | None, new_password: str) -> None:
    """A person changes their own password (clears ``must_change_password``).

    ``old_password`` is checked; it may be None only for an account without a password (``local`` in
    single-user mode). Raises AuthenticationError when it is wrong.
    """
    with ws.read() as conn:
        row = _user_row(conn, username, enabled_only=True)
    pw = check_password_policy(new_password, row["username"])
    if row["password_hash"] is not None:
        if not verify_password(old_password if old_password is not None else "", row["password_hash"]):
            raise AuthenticationError(msg("error.accounts.current_password_wrong_nothing",
                    "The current password is wrong; nothing was changed."))
        if verify_password(pw, row["password_hash"]):
            raise InputError(msg("error.accounts.new_password_same_current",
                    "The new password is the same as the current one; choose a new one."))
    new_hash = hash_password(pw)
    with ws.transaction() as conn:
        current = _user_row(conn, row["username"], enabled_only=True)
        if current["password_hash"] != row["password_hash"]:
            raise AuthenticationError(msg("error.accounts.password_was_changed_meanwhile",
                    "The password was changed meanwhile; log in again."))
        conn.execute("UPDATE users SET password_hash = ?, must_change_password = 0 WHERE username = ?",
                     (new_hash, row["username"]))
        _revoke_sessions(conn, row["username"], "password_changed")
        log_action(conn, row["username"], "user.password", None, row["username"])


def reset_password(ws: Workspace, username: str, new_password: str, by: str) -> None:
    """An admin sets a new password for somebody who forgot theirs (they must change it after login).

    Also lifts a login lock-out. Needs ``reset_password`` (admins only).
    """
    with ws.read() as conn:
        require(conn, by, "reset_password")
        row = _user_row(conn, username)
    new_hash = hash_password(check_password_policy(new_password, row["username"]))
    with ws.transaction() as conn:
        require(conn, by, "reset_password")
        conn.execute("UPDATE users SET password_hash = ?, must_change_password = ? WHERE username = ?",
                     (new_hash, int(row["username"] != by), row["username"]))
        _revoke_sessions(conn, row["username"], "password_reset")
        _unlock(conn, row["username"], by)
        log_action(conn, by, "user.reset_password", None, row["username"])


def set_role(ws: Workspace, username: str, role: str, by: str) -> dict[str, Any]:
    """Change an account's role; returns the account. Needs ``manage_users`` (admin role: an admin)."""
    role = _check_role(role)
    with ws.transaction() as conn:
        require(conn, by, "manage_users")
        row = _user_row(conn, username)
        _require_admin_for(conn, by, row["role"], role)
        if row["role"] == role:
            return _public(row)
        if row["role"] == "admin" and not row["disabled_at"] and _enabled_admins(conn) <= 1:
            raise InputError(msg("error.accounts.last_enabled_admin_make",
                    "{row_username} is the last enabled admin; make another account admin first.",
                    row_username=repr(row['username'])))
        conn.execute("UPDATE users SET role = ? WHERE username = ?", (role, row["username"]))
        log_action(conn, by, "user.role", None, row["username"], {"old": row["role"], "new": role})
        return _public(_user_row(conn, row["username"]))


def set_display_name(ws: Workspace, username: str, display_name: str, by: str) -> dict[str, Any]:
    """Change the name shown for an account. The person themselves or ``manage_users`` may."""
    display_name = _check_display_name(display_name)
    with ws.transaction() as conn:
        row = _user_row(conn, username)
        if by != row["username"]:
            require(conn, by, "manage_users")
        conn.execute("UPDATE users SET display_name = ? WHERE username = ?",
                     (display_name, row["username"]))
        log_action(conn, by, "user.display_name", None, row["username"],
                   {"old": row["display_name"], "new": display_name})
        return _public(_user_row(conn, row["username"]))


def disable_user(ws: Workspace, username: str, by: str) -> dict[str, Any]:
    """Disable an account (it can no longer log in or act; its work stays). Returns the account."""
    with ws.transaction() as conn:
        require(conn, by, "manage_users")
        row = _user_row(conn, username)
        _require_admin_for(conn, by, row["role"])
        if row["username"] == by:
            raise InputError(msg("error.accounts.you_cannot_disable_your",
                    "You cannot disable your own account; ask another admin."))
        if row["disabled_at"]:
            return _public(row)
        if row["role"] == "admin" and _enabled_admins(conn) <= 1:
            raise InputError(msg("error.accounts.last_enabled_admin_cannot",
                    "{row_username} is the last enabled admin and cannot be disabled.",
                    row_username=repr(row['username'])))
        conn.execute("UPDATE users SET disabled_at = ? WHERE username = ?", (utcnow(), row["username"]))
        _revoke_sessions(conn, row["username"], "disabled")
        log_action(conn, by, "user.disable", None, row["username"])
        return _public(_user_row(conn, row["username"]))


def enable_user(ws: Workspace, username: str, by: str) -> dict[str, Any]:
    """Re-enable a disabled account. Returns the account."""
    with ws.transaction() as conn:
        require(conn, by, "manage_users")
        row = _user_row(conn, username)
        _require_admin_for(conn, by, row["role"])
        if not row["disabled_at"]:
            return _public(row)
        conn.execute("UPDATE users SET disabled_at = NULL WHERE username = ?", (row["username"],))
        log_action(conn, by, "user.enable", None, row["username"])
        return _public(_user_row(conn, row["username"]))


# -- sessions ------------------------------------------------------------------------------------
def session_expired(last_seen: TimeLike | None, now: TimeLike | None = None,
                    idle_seconds: float = SESSION_IDLE_SECONDS) -> bool:
    """Whether a session idle since ``last_seen`` should be logged out.

    Parameters
    ----------
    last_seen : datetime, str (ISO-8601), float (POSIX seconds) or None
        The time of the user's last action; None (never seen) counts as expired. Naive datetimes are UTC.
    now : same types, optional
        Default: the current time.
    idle_seconds : float, default SESSION_IDLE_SECONDS

    Returns
    -------
    bool

    Examples
    --------
    >>> session_expired(1000.0, now=1000.0 + SESSION_IDLE_SECONDS)
    False
    >>> session_expired(1000.0, now=1001.0 + SESSION_IDLE_SECONDS)
    True
    """
    if last_seen is None:
        return True
    seen = _parse_time(last_seen, "last_seen")
    current = _dt.datetime.now(_dt.UTC) if now is None else _parse_time(now, "now")
    return (current - seen).total_seconds() > float(idle_seconds)
