"""Sessions bound to a workspace, signed refresh tokens, revocation, the data roots, atomic login lockout
per account and source, scrypt rehash, and control characters kept out of the audit log."""

import datetime as dt
import os
import shutil
import threading

import cv2
import numpy as np
import pytest

from defectlab.errors import InputError, PermissionDenied
from defectlab.ingest import import_server_folder
from defectlab.store import (
    create_project,
    data_roots,
    escape_controls,
    list_audit,
    list_projects,
    open_workspace,
    open_workspace_as,
    resolve_under_roots,
)
from defectlab.team import accounts, sessions
from defectlab.team.accounts import (
    AuthenticationError,
    authenticate,
    change_password,
    create_user,
    disable_user,
    recover_account,
    reset_password,
    unlock_user,
)
from defectlab.team.sessions import (
    SessionEnded,
    check_session,
    end_session,
    list_sessions,
    resume_session,
    session_token,
    start_session,
)

ADMIN_PW = "local-Admin-1"


@pytest.fixture
def team(ws):
    create_user(ws, "lead", "lead-pass-1", "lead", by="local", admin_password=ADMIN_PW)
    create_user(ws, "ann", "ann-pass-1", "annotator", by="lead")
    return ws


# -- sessions --------------------------------------------------------------------------------------
def test_session_record_holds_user_workspace_and_times(team):
    s = start_session(team, "ann", source="ui:10.0.0.7")
    (row,) = list_sessions(team, "ann")
    assert row["id"] == s["id"] and row["workspace"] == str(team.root.resolve())
    assert row["source"] == "ui:10.0.0.7" and row["revoked_at"] is None and row["created_at"] == row["last_seen"]
    assert check_session(team, s["id"]) == "ann"


@pytest.mark.parametrize("end, reason", [
    (lambda ws: disable_user(ws, "ann", by="lead"), "revoked"),
    (lambda ws: reset_password(ws, "ann", "new-pass-123", by="local"), "revoked"),
    (lambda ws: change_password(ws, "ann", "ann-pass-1", "own-pass-123"), "revoked"),
    (lambda ws: [end_session(ws, s["id"]) for s in list_sessions(ws, "ann")], "signed_out"),
])
def test_disable_reset_password_change_and_sign_out_end_open_sessions(team, end, reason):
    a, b = start_session(team, "ann"), start_session(team, "ann")
    lead = start_session(team, "lead")
    end(team)
    for s in (a, b):
        with pytest.raises(SessionEnded) as info:
            check_session(team, s["id"])
        assert info.value.reason == reason
    assert check_session(team, lead["id"]) == "lead"  # other people stay signed in
    assert list_sessions(team, "ann") == []


def test_ending_sessions_and_listing_them_need_manage_users(team):
    from defectlab.team.sessions import revoke_sessions

    a, lead = start_session(team, "ann"), start_session(team, "lead")
    with pytest.raises(PermissionDenied):
        revoke_sessions(team, "lead", by="ann")
    with pytest.raises(PermissionDenied):
        list_sessions(team, by="ann")
    with pytest.raises(PermissionDenied, match="admin"):
        revoke_sessions(team, "local", by="lead")
    assert [s["id"] for s in list_sessions(team, "ann", by="ann")] == [a["id"]]  # one's own: fine
    assert revoke_sessions(team, "ann", by="lead") == 1
    with pytest.raises(SessionEnded) as info:
        check_session(team, a["id"])
    assert info.value.reason == "revoked"
    assert check_session(team, lead["id"]) == "lead"
    assert list_audit(team, action="user.sessions_ended")[0]["target"] == "ann"


def test_a_disabled_account_cannot_start_a_session(team):
    disable_user(team, "ann", by="lead")
    with pytest.raises(SessionEnded, match="disabled"):
        start_session(team, "ann")


def test_idle_and_absolute_expiry(team, monkeypatch):
    s = start_session(team, "ann")
    with pytest.raises(SessionEnded) as info:
        check_session(team, s["id"], idle_seconds=-1)
    assert info.value.reason == "expired"
    with pytest.raises(SessionEnded):  # an expired session stays ended
        check_session(team, s["id"])
    monkeypatch.setattr(sessions, "SESSION_MAX_SECONDS", -1)
    old = start_session(team, "ann")
    with pytest.raises(SessionEnded, match="expired"):
        check_session(team, old["id"])


def test_long_ended_sessions_and_old_attempts_are_pruned(team):
    with team.transaction() as conn:
        conn.execute("INSERT INTO sessions (id, user, workspace, created_at, last_seen, expires_at) VALUES "
                     "('old', 'ann', 'x', '2020-01-01', '2020-01-01', '2020-01-02')")
        conn.execute("INSERT INTO login_attempts (username, source, at, outcome) VALUES "
                     "('ann', 's', '2020-01-01T00:00:00+00:00', 'failed')")
    start_session(team, "ann")
    with pytest.raises(AuthenticationError):
        authenticate(team, "ann", "wrong-pass-1")
    with team.read() as conn:
        assert conn.execute("SELECT COUNT(*) FROM sessions WHERE id = 'old'").fetchone()[0] == 0
        assert conn.execute("SELECT COUNT(*) FROM login_attempts WHERE at < '2021'").fetchone()[0] == 0


def test_session_is_bound_to_its_workspace(team, tmp_path):
    s = start_session(team, "ann")
    copy = tmp_path / "copy"
    shutil.copytree(team.root, copy)
    other = open_workspace(copy)
    with pytest.raises(SessionEnded) as info:  # the same database at another path: not this session
        check_session(other, s["id"])
    assert info.value.reason == "unknown"
    with pytest.raises(SessionEnded):
        check_session(open_workspace(tmp_path / "fresh"), s["id"])


def test_token_resumes_and_cannot_be_forged(team, tmp_path):
    s = start_session(team, "ann")
    token = session_token(team, s["id"])
    assert resume_session(team, token)["user"] == "ann"
    sid, expiry, mac = token.split(".")
    lead = start_session(team, "lead")
    for bad in (f"{lead['id']}.{expiry}.{mac}",                # another session id under ann's signature
                f"{sid}.{int(expiry) + 3600}.{mac}",             # a later expiry
                f"{sid}.{expiry}.{mac[:-2]}AA", "", "x.y.z", "a" * 5000,
                f"{sid}.{expiry}"):
        with pytest.raises(SessionEnded, match="not valid"):
            resume_session(team, bad)
    other = open_workspace(tmp_path / "other")  # another workspace has another secret
    with pytest.raises(SessionEnded, match="not valid"):
        resume_session(other, token)
    end_session(team, s["id"])
    with pytest.raises(SessionEnded, match="signed out"):
        resume_session(team, token)


def test_token_works_only_from_the_source_it_was_issued_to(team):
    s = start_session(team, "ann", source="ui:10.0.0.7")
    token = session_token(team, s["id"])
    assert resume_session(team, token, source="ui:10.0.0.7")["user"] == "ann"
    with pytest.raises(SessionEnded, match="not valid"):  # a copied link on another PC, or a planted one
        resume_session(team, token, source="ui:10.0.0.99")
    assert check_session(team, s["id"]) == "ann"  # the owner's session goes on


def test_workspace_secret_is_private_and_stable(team):
    key = sessions.workspace_secret(team)
    path = team.root / "secret" / "session.key"
    assert len(key) == 32 and path.read_bytes() == key and sessions.workspace_secret(team) == key
    assert oct(path.stat().st_mode & 0o777) == "0o600"


# -- data roots ------------------------------------------------------------------------------------
def test_data_roots_default_to_the_parent_and_follow_the_environment(tmp_path):
    assert data_roots(tmp_path / "ws", env={}) == [tmp_path.resolve()]
    env = {"DEFECTLAB_DATA_ROOTS": os.pathsep.join([str(tmp_path / "a"), "", str(tmp_path / "b")])}
    assert data_roots(tmp_path / "ws", env=env) == [(tmp_path / "a").resolve(), (tmp_path / "b").resolve()]


def test_resolve_under_roots_refuses_dot_dot_and_symlinks_out(tmp_path):
    root = tmp_path / "root"
    (root / "inside").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (root / "link").symlink_to(tmp_path / "outside")
    roots = [root]
    assert resolve_under_roots(root / "inside", roots) == (root / "inside").resolve()
    assert resolve_under_roots(str(root / "inside" / ".." / "new"), roots) == (root / "new").resolve()
    for bad in (tmp_path / "outside", root / ".." / "outside", root / "link", root / "link" / "x",
                root / "nope" / ".." / ".." / "outside", "/etc", tmp_path):
        with pytest.raises(PermissionDenied, match="outside the folders"):
            resolve_under_roots(bad, roots)
    for bad in ("", "   ", "a\0b"):
        with pytest.raises((InputError, PermissionDenied)):
            resolve_under_roots(bad, roots)


def test_only_admins_open_another_workspace_and_only_under_the_roots(team, tmp_path):
    roots = [tmp_path]
    for who in ("ann", "lead", "ghost"):
        with pytest.raises(PermissionDenied, match="open workspace"):
            open_workspace_as(team, who, tmp_path / "other", roots)
    assert not (tmp_path / "other").exists()
    with pytest.raises(PermissionDenied, match="outside"):
        open_workspace_as(team, "local", tmp_path / ".." / "escape", roots)
    assert not (tmp_path.parent / "escape").exists()
    other = open_workspace_as(team, "local", tmp_path / "other", roots)
    assert other.root == (tmp_path / "other").resolve() and other.integrity_check() == "ok"


def _png_folder(folder):
    for k, cls in enumerate(("scratch", "pit")):
        (folder / cls).mkdir(parents=True)
        image = np.random.default_rng(k).integers(0, 256, (32, 32), dtype=np.uint8)
        cv2.imwrite(str(folder / cls / f"{k}.png"), image)
    return folder


def test_import_from_a_server_folder_is_confined_to_the_roots(team, tmp_path):
    root = tmp_path / "data"
    inside = _png_folder(root / "batch1")
    outside = _png_folder(tmp_path / "secret-elsewhere")
    (root / "sneaky").symlink_to(outside)
    for bad in (outside, root / ".." / "secret-elsewhere", root / "sneaky"):
        with pytest.raises(PermissionDenied, match="outside"):
            import_server_folder(team, "p", bad, [root], user="lead")
    assert list_projects(team) == []  # nothing read, nothing created
    with pytest.raises(PermissionDenied, match="import"):
        import_server_folder(team, "p", inside, [root], user="ann")
    report = import_server_folder(team, "p", inside, [root], user="lead")
    assert report.imported == 2


# -- login lockout ---------------------------------------------------------------------------------
def test_parallel_wrong_guesses_are_checked_at_most_the_limit(team, monkeypatch):
    tried = []
    lock = threading.Lock()
    real_verify = accounts.verify_password

    def counting_verify(password, encoded):
        with lock:
            tried.append(password)
        return real_verify(password, encoded)

    monkeypatch.setattr(accounts, "verify_password", counting_verify)
    outcomes = []

    def guess(k):
        try:
            authenticate(team, "ann", f"guess-{k:04d}", source="ui:203.0.113.9")
        except AuthenticationError as exc:
            with lock:
                outcomes.append(str(exc))

    threads = [threading.Thread(target=guess, args=(k,)) for k in range(60)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(outcomes) == 60
    assert len(tried) <= accounts.MAX_FAILED_LOGINS == 10
    assert sum("Too many failed logins" in o for o in outcomes) >= 60 - accounts.MAX_FAILED_LOGINS
    assert len(list_audit(team, action="user.login_failed")) <= accounts.MAX_FAILED_LOGINS
    with pytest.raises(AuthenticationError, match="Too many"):  # even the right password, from there
        authenticate(team, "ann", "ann-pass-1", source="ui:203.0.113.9")


def test_lockout_is_per_source_so_the_only_admin_keeps_a_way_in(team):
    for k in range(accounts.MAX_FAILED_LOGINS):
        with pytest.raises(AuthenticationError, match="Wrong"):
            authenticate(team, "local", f"guess-{k}", source="ui:198.51.100.1")
    with pytest.raises(AuthenticationError, match="Too many"):
        authenticate(team, "local", ADMIN_PW, source="ui:198.51.100.1")
    assert authenticate(team, "local", ADMIN_PW, source="ui:10.0.0.2")["role"] == "admin"


def test_admin_unlock_and_file_access_recovery_lift_the_lockout(team):
    for k in range(accounts.MAX_FAILED_LOGINS):
        with pytest.raises(AuthenticationError):
            authenticate(team, "ann", f"guess-{k}", source="ui:x")
    with pytest.raises(PermissionDenied):
        unlock_user(team, "ann", by="lead")
    unlock_user(team, "ann", by="local")
    assert authenticate(team, "ann", "ann-pass-1", source="ui:x")["username"] == "ann"
    for k in range(accounts.MAX_FAILED_LOGINS):
        with pytest.raises(AuthenticationError):
            authenticate(team, "local", f"guess-{k}", source="ui:x")
    recover_account(team, "local", operator="root")
    assert authenticate(team, "local", ADMIN_PW, source="ui:x")["role"] == "admin"
    s = start_session(team, "ann")
    account = recover_account(team, "ann", operator="root", new_password="Fresh-pass-9")
    assert account["must_change_password"] is True
    with pytest.raises(SessionEnded):
        check_session(team, s["id"])
    assert list_audit(team, action="user.reset_password")[0]["user"] == "file-access:root"


# -- scrypt ----------------------------------------------------------------------------------------
def test_an_old_hash_is_rehashed_at_the_next_login(team, monkeypatch):
    def stored():
        with team.read() as conn:
            return conn.execute("SELECT password_hash FROM users WHERE username = 'ann'").fetchone()[0]

    old = stored()
    assert old.split("$")[1] == str(accounts.SCRYPT_N)
    monkeypatch.setattr(accounts, "SCRYPT_N", accounts.SCRYPT_N * 2)  # the guidance moved on
    assert accounts.needs_rehash(old)
    with pytest.raises(AuthenticationError):
        authenticate(team, "ann", "wrong-pass-1")
    assert stored() == old  # a failed login changes nothing
    authenticate(team, "ann", "ann-pass-1")
    new = stored()
    assert new != old and new.split("$")[1] == str(accounts.SCRYPT_N) and not accounts.needs_rehash(new)
    assert authenticate(team, "ann", "ann-pass-1")["username"] == "ann"
    assert stored() == new  # no rehash when current
    assert list_audit(team, action="user.login")[1]["details"] == {"source": "", "rehashed": True}


@pytest.mark.real_scrypt
def test_real_cost_hash_verifies_within_the_memory_cap():
    h = accounts.hash_password("correct horse battery")
    assert h.split("$")[1:4] == [str(2**17), "8", "1"]
    assert accounts.verify_password("correct horse battery", h)
    assert not accounts.needs_rehash(h)


# -- audit -----------------------------------------------------------------------------------------
def test_control_characters_never_reach_the_audit_log_raw(team):
    evil = "ann\nuser.login\tlocal\x1b[2J\u202egnp.exe\x85"
    with pytest.raises(AuthenticationError):
        authenticate(team, evil, "whatever-1")
    row = list_audit(team, action="user.login_failed")[0]
    for value in (row["target"], row["user"]):
        assert not any(ord(c) < 32 or c in "\x85\u202e" for c in value), value
    assert row["target"].startswith("ann\\nuser.login\\x09local\\x1b[2J\\u202egnp.exe")
    assert escape_controls("张伟 zhang.wei") == "张伟 zhang.wei"
    with pytest.raises(InputError, match="control"):  # such names are refused before they reach the log at all
        create_project(team, "plates\r\nuser.delete\x1b", ["a", "b"], user="lead")
    with pytest.raises(InputError, match="control"):
        create_project(team, "plates", ["a\x07", "b"], user="lead")
    assert list_audit(team, action="project.create") == []


def test_audit_details_are_escaped_too(team):
    from defectlab.store import log_action

    with team.transaction() as conn:
        log_action(conn, "lead", "project.rename", None, "p\x00", {"old": "a\u2028b", "k\x07": ["\x1b"]})
    row = list_audit(team, action="project.rename")[0]
    assert row["target"] == "p\\x00"
    assert row["details"] == {"old": "a\\u2028b", "k\\x07": ["\\x1b"]}


def test_recent_session_times_are_utc_iso(team):
    s = start_session(team, "ann")
    created = dt.datetime.fromisoformat(s["created_at"])
    assert created.tzinfo is not None and abs((dt.datetime.now(dt.UTC) - created).total_seconds()) < 60


def test_comments_reach_the_activity_log_escaped(team, add_items):
    from defectlab.store import annotate
    from defectlab.team import activity

    p = create_project(team, "p", ["a", "b"], user="lead")
    (item,) = add_items(team, p, 1)
    annotate(team, item, "a", user="ann", comment="fine\x1b[2J\nqc.accept by lead\u202e")
    (row,) = activity(team, p, actions=["label"], by="lead").to_dict("records")
    assert row["details"]["comment"] == "fine\\x1b[2J\\nqc.accept by lead\\u202e"


def test_guessing_across_made_up_names_is_capped_per_source(team, monkeypatch):
    monkeypatch.setattr(accounts, "MAX_FAILED_PER_SOURCE", 5)
    for k in range(5):
        with pytest.raises(AuthenticationError, match="Wrong"):
            authenticate(team, f"nobody{k}", "guess-pass-1", source="ui:203.0.113.50")
    with pytest.raises(AuthenticationError, match="from this place"):
        authenticate(team, "ann", "ann-pass-1", source="ui:203.0.113.50")
    assert authenticate(team, "ann", "ann-pass-1", source="ui:10.0.0.3")["username"] == "ann"


def test_a_tampered_hash_cannot_make_a_login_allocate_gigabytes():
    h = accounts.hash_password("pw-123456")
    scheme, _n, _r, _p, salt, key = h.split("$")
    assert not accounts.verify_password("pw-123456", "$".join([scheme, str(2**20), "16", "1", salt, key]))


def test_a_lapsed_session_is_not_listed_as_open(team):
    """Found by a team pass: closed browsers stayed in the open-sessions table after their session had lapsed."""
    s = start_session(team, "ann")
    with team.transaction() as conn:  # last seen an hour ago: idle longer than the idle limit (30 minutes)
        old = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat(timespec="microseconds")
        conn.execute("UPDATE sessions SET last_seen = ? WHERE id = ?", (old, s["id"]))
    assert list_sessions(team, "ann") == []
    assert [r["id"] for r in list_sessions(team, "ann", open_only=False)] == [s["id"]]
    assert [r["id"] for r in list_sessions(team, "ann", idle_seconds=2 * 3600)] == [s["id"]]
    with pytest.raises(SessionEnded):
        check_session(team, s["id"])


def test_a_lead_refused_a_password_reset_is_told_only_an_admin_may(team):
    with pytest.raises(PermissionDenied, match="only an admin may"):
        reset_password(team, "ann", "new-pass-123", by="lead")
