import datetime as dt

import pytest

from defectlab.errors import InputError, NotFoundError, PermissionDenied
from defectlab.store import (
    annotate,
    create_project,
    delete_items,
    get_project,
    list_audit,
    require,
    restore_items,
    update_project,
)
from defectlab.team import accounts
from defectlab.team.accounts import (
    SESSION_IDLE_SECONDS,
    AuthenticationError,
    authenticate,
    change_password,
    check_password_policy,
    create_user,
    disable_user,
    enable_user,
    get_user,
    hash_password,
    is_team_mode,
    list_users,
    reset_password,
    session_expired,
    set_display_name,
    set_role,
    verify_password,
)

ADMIN_PW = "local-Admin-1"


@pytest.fixture
def team(ws):
    """local (admin, with a password) + lead + annotator + reviewer."""
    create_user(ws, "lead", "lead-pass-1", "lead", by="local", admin_password=ADMIN_PW)
    create_user(ws, "ann", "ann-pass-1", "annotator", display_name="张伟", by="lead")
    create_user(ws, "rev", "rev-pass-1", "reviewer", by="lead")
    return ws


# -- hashing ---------------------------------------------------------------------------------------
@pytest.mark.real_scrypt
def test_hash_format_salt_and_verify():
    h1, h2 = hash_password("correct horse"), hash_password("correct horse")
    scheme, n, r, p, _salt, _key = h1.split("$")
    assert (scheme, n, r, p) == ("scrypt", str(2**17), "8", "1")  # current OWASP guidance
    assert h1 != h2  # a fresh random salt each time
    assert verify_password("correct horse", h1) and verify_password("correct horse", h2)
    assert not verify_password("correct horsE", h1)


def test_verify_normalizes_full_width_characters():
    # a Chinese IME may type full-width letters and digits: NFKC makes them equal
    assert verify_password("ＡＢＣｄｅｆ１２", hash_password("ABCdef12"))


@pytest.mark.parametrize("encoded", [
    None, "", "plain", "scrypt$16384$8$1$xx", "md5$1$1$1$AAAA$AAAA",
    "scrypt$1073741824$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAA",  # tampered: would need 1 TB of memory
    "scrypt$1000$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAA",  # n not a power of two
    "scrypt$16384$8$1$!!!$AAAA",
])
def test_verify_refuses_malformed_hashes(encoded):
    assert verify_password("whatever1", encoded) is False


@pytest.mark.parametrize("password, username, match", [
    ("short1", None, "too short .6 characters.*at least 8"),
    ("x" * 257, None, "too long"),
    ("        ", None, "only spaces"),
    ("Zhang.Wei", "zhang.wei", "must not be the user name"),
    ("88888888", None, "most common"),
    (12345678, None, "must be text"),
])
def test_password_policy(password, username, match):
    with pytest.raises(InputError, match=match):
        check_password_policy(password, username)


def test_password_policy_accepts_chinese_passphrase():
    assert check_password_policy("钢板表面有一条划痕") == "钢板表面有一条划痕"  # 9 characters
    with pytest.raises(InputError, match=r"too short .7 characters"):
        check_password_policy("钢板表面有划痕")


# -- single-user -> team mode ----------------------------------------------------------------------
def test_fresh_workspace_is_single_user(ws):
    assert is_team_mode(ws) is False
    (local,) = list_users(ws)
    assert local["username"] == "local" and local["role"] == "admin" and local["has_password"] is False
    with pytest.raises(AuthenticationError):  # no password: single-user mode needs no login
        authenticate(ws, "local", "")


def test_first_account_needs_the_local_admin_password(ws):
    with pytest.raises(InputError, match=r"team mode.*admin_password"):
        create_user(ws, "lead", "lead-pass-1", "lead", by="local")
    assert is_team_mode(ws) is False and len(list_users(ws)) == 1  # nothing was written
    with pytest.raises(InputError, match="too short"):
        create_user(ws, "lead", "lead-pass-1", "lead", by="local", admin_password="short")
    user = create_user(ws, "lead", "lead-pass-1", "lead", by="local", admin_password=ADMIN_PW)
    assert user["role"] == "lead" and user["must_change_password"] is True
    assert is_team_mode(ws) is True
    assert authenticate(ws, "local", ADMIN_PW)["role"] == "admin"
    with pytest.raises(InputError, match="only used for the first"):
        create_user(ws, "ann", "ann-pass-1", "annotator", by="local", admin_password=ADMIN_PW)


def test_first_account_when_local_already_has_a_password(ws):
    change_password(ws, "local", None, ADMIN_PW)
    assert is_team_mode(ws) is False and get_user(ws, "local")["has_password"]
    with pytest.raises(InputError, match="already has a password"):
        create_user(ws, "lead", "lead-pass-1", "lead", by="local", admin_password="other-pass-1")
    create_user(ws, "lead", "lead-pass-1", "lead", by="local")
    assert is_team_mode(ws)


# -- create_user -----------------------------------------------------------------------------------
@pytest.mark.parametrize("username, role, match", [
    ("LEAD", "annotator", "already exists .names ignore case"),
    ("has space", "annotator", "not valid"),
    ("", "annotator", "not valid"),
    ("__system", "annotator", "reserved"),
    ("zhao", "boss", "Unknown role 'boss'"),
])
def test_create_user_validates(team, username, role, match):
    with pytest.raises(InputError, match=match):
        create_user(team, username, "good-pass-1", role, by="local")


def test_chinese_user_names_are_allowed(team):
    create_user(team, "王芳", "good-pass-1", "annotator", by="lead")
    assert authenticate(team, "王芳", "good-pass-1")["username"] == "王芳"


def test_only_admins_grant_admin_and_annotators_manage_nobody(team):
    with pytest.raises(PermissionDenied, match="admin"):
        create_user(team, "boss", "good-pass-1", "admin", by="lead")
    with pytest.raises(PermissionDenied, match="manage users"):
        create_user(team, "x1", "good-pass-1", "annotator", by="ann")
    with pytest.raises(PermissionDenied, match="admin"):
        set_role(team, "ann", "admin", by="lead")
    assert create_user(team, "boss", "good-pass-1", "admin", by="local")["role"] == "admin"


# -- authenticate ----------------------------------------------------------------------------------
def test_authenticate(team):
    user = authenticate(team, "Ann", "ann-pass-1")  # names ignore case
    assert user["username"] == "ann" and user["display_name"] == "张伟" and "password_hash" not in user
    for name, pw in (("ann", "wrong-pass-1"), ("nobody", "ann-pass-1")):
        with pytest.raises(AuthenticationError, match=r"^Wrong user name or password.$"):
            authenticate(team, name, pw)
    actions = [(r["action"], r["target"]) for r in list_audit(team, action=None)[:3]]
    assert actions == [("user.login_failed", "nobody"), ("user.login_failed", "ann"), ("user.login", "ann")]


def test_disabled_account_cannot_log_in_or_act(team, add_items):
    p = create_project(team, "p", ["a", "b"], user="lead")
    (item,) = add_items(team, p, 1)
    disable_user(team, "ann", by="lead")
    with pytest.raises(AuthenticationError, match="disabled"):
        authenticate(team, "ann", "ann-pass-1")
    with pytest.raises(PermissionDenied, match="unknown or disabled"):
        annotate(team, item, "a", user="ann")
    enable_user(team, "ann", by="lead")
    assert annotate(team, item, "a", user="ann") > 0
    assert authenticate(team, "ann", "ann-pass-1")["disabled"] is False


def test_lockout_after_failed_logins_and_reset_lifts_it(team, monkeypatch):
    monkeypatch.setattr(accounts, "MAX_FAILED_LOGINS", 3)
    for _ in range(3):
        with pytest.raises(AuthenticationError, match="Wrong"):
            authenticate(team, "ann", "wrong-pass-1")
    with pytest.raises(AuthenticationError, match="Too many failed logins"):
        authenticate(team, "ann", "ann-pass-1")  # even the right password
    reset_password(team, "ann", "new-pass-12", by="local")
    assert authenticate(team, "ann", "new-pass-12")["must_change_password"] is True


# -- passwords -------------------------------------------------------------------------------------
def test_reset_password_is_admin_only(team):
    with pytest.raises(PermissionDenied, match="reset password"):
        reset_password(team, "ann", "new-pass-12", by="lead")
    with pytest.raises(PermissionDenied):
        reset_password(team, "lead", "new-pass-12", by="ann")
    with pytest.raises(NotFoundError):
        reset_password(team, "ghost", "new-pass-12", by="local")
    reset_password(team, "ann", "new-pass-12", by="local")
    with pytest.raises(AuthenticationError):
        authenticate(team, "ann", "ann-pass-1")
    assert list_audit(team, action="user.reset_password")[0]["target"] == "ann"


def test_change_password(team):
    with pytest.raises(AuthenticationError, match="current password is wrong"):
        change_password(team, "ann", "bad-pass-1", "new-pass-12")
    with pytest.raises(InputError, match="same as the current"):
        change_password(team, "ann", "ann-pass-1", "ann-pass-1")
    with pytest.raises(InputError, match="too short"):
        change_password(team, "ann", "ann-pass-1", "x")
    change_password(team, "ann", "ann-pass-1", "new-pass-12")
    assert authenticate(team, "ann", "new-pass-12")["must_change_password"] is False


# -- roles -----------------------------------------------------------------------------------------
def test_last_admin_is_protected(team):
    with pytest.raises(InputError, match="last enabled admin"):
        set_role(team, "local", "lead", by="local")
    with pytest.raises(InputError, match="your own account"):
        disable_user(team, "local", by="local")
    with pytest.raises(PermissionDenied, match="admin"):
        disable_user(team, "local", by="lead")
    create_user(team, "boss", "good-pass-1", "admin", by="local")
    assert set_role(team, "local", "lead", by="boss")["role"] == "lead"
    with pytest.raises(InputError, match="last enabled admin"):
        set_role(team, "boss", "annotator", by="boss")


def test_set_role_and_display_name_are_logged(team):
    assert set_role(team, "ann", "reviewer", by="lead")["role"] == "reviewer"
    assert set_display_name(team, "ann", "Zhang Wei", by="ann")["display_name"] == "Zhang Wei"
    with pytest.raises(PermissionDenied):
        set_display_name(team, "rev", "x", by="ann")
    row = list_audit(team, action="user.role")[0]
    assert (row["user"], row["target"], row["details"]) == ("lead", "ann", {"old": "annotator", "new": "reviewer"})
    assert {r["target"] for r in list_audit(team, action="user.create")} == {"lead", "ann", "rev"}


# -- the refusals: an annotator cannot delete, train, export or change the label book ---------
def test_annotator_refusals(team, add_items):
    p = create_project(team, "p", ["a", "b"], user="lead")
    items = add_items(team, p, 2)
    with pytest.raises(PermissionDenied, match=r"'ann' .role annotator. may not delete"):
        delete_items(team, items, user="ann")
    with pytest.raises(PermissionDenied, match="may not edit project"):
        update_project(team, p, descriptions={"a": {"description": "changed"}}, user="ann")
    assert get_project(team, p.id).descriptions == {}
    # learn/ and export are written by others: they call require(conn, user, "train" / "export")
    with team.read() as conn:
        for action in ("train", "export", "manage_users", "assign"):
            with pytest.raises(PermissionDenied, match=f"may not {action.replace('_', ' ')}"):
                require(conn, "ann", action)
        require(conn, "ann", "label")  # ...but may label
    delete_items(team, items[:1], user="lead")
    with pytest.raises(PermissionDenied, match="may not restore"):
        restore_items(team, items[:1], user="lead")
    assert restore_items(team, items[:1], user="local") == 1


# -- idle logout -----------------------------------------------------------------------------------
@pytest.mark.parametrize("last_seen, now, expired", [
    (0.0, float(SESSION_IDLE_SECONDS), False),
    (0.0, SESSION_IDLE_SECONDS + 0.001, True),
    (None, 0.0, True),
    ("2025-01-01T08:00:00+08:00", "2025-01-01T00:29:59+00:00", False),
    ("2025-01-01T08:00:00+08:00", "2025-01-01T00:30:01+00:00", True),
    (dt.datetime(2025, 1, 1, 0, 0), dt.datetime(2025, 1, 1, 0, 31, tzinfo=dt.UTC), True),
    (100.0, 50.0, False),  # clock skew: never expire into the past
])
def test_session_expired(last_seen, now, expired):
    assert session_expired(last_seen, now=now) is expired


def test_session_expired_rejects_garbage():
    with pytest.raises(InputError, match="ISO-8601"):
        session_expired("yesterday", now=0.0)
    with pytest.raises(InputError, match="datetime"):
        session_expired([1], now=0.0)
