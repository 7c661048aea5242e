"""The browser session through AppTest: workspace binding (Settings), data roots (Import), sessions that
end when an admin disables the account, and a refresh (a new AppTest run with the ?s= token) that keeps
the person signed in."""

import time

from streamlit.testing.v1 import AppTest
from ui_support import APP, PAGES, no_exception, tiny_workspace

from defectlab import team
from defectlab.store import list_projects, open_workspace

ADMIN_PW = "Admin-pass-2024"
PW = "Steel-2024!xyz"


def _team_ws(root):
    ws, project, ids = tiny_workspace(root, n_items=4)
    team.create_user(ws, "ann", PW, "annotator", by="local", admin_password=ADMIN_PW)
    team.create_user(ws, "boss", PW, "admin", by="local")
    for u in ("ann", "boss"):
        team.change_password(ws, u, PW, PW + "1")
    return ws, project, ids


def _fresh(root, query=None):
    at = AppTest.from_file(APP, default_timeout=30)
    at.session_state["workspace"] = str(root)
    at.session_state["lang"] = "en"
    if query:
        at.query_params.update(query)
    return at


def _sign_in(root, user, password):
    """A real sign-in through the login form; returns the AppTest."""
    at = _fresh(root)
    at.run()
    at.text_input(key="login_user").input(user)
    at.text_input(key="login_password").input(password)
    at.button[0].click()
    at.run()
    no_exception(at)
    assert at.session_state["auth_user"] == user
    return at


def _token(at):
    value = at.query_params.get("s")
    return value[0] if isinstance(value, list) else value


def test_sign_in_records_a_session_bound_to_the_workspace(tmp_path):
    ws, _p, _ids = _team_ws(tmp_path / "ws")
    at = _sign_in(ws.root, "ann", PW + "1")
    (record,) = team.list_sessions(ws, "ann")
    assert record["id"] == at.session_state["auth_session"]
    assert record["workspace"] == str(ws.root.resolve()) and record["source"].startswith("ui:")


def test_annotator_cannot_open_another_workspace_through_settings(tmp_path):
    ws, _p, _ids = _team_ws(tmp_path / "ws")
    other = tmp_path / "other"
    at = _sign_in(ws.root, "ann", PW + "1")
    at.switch_page(f"{PAGES}/settings.py").run()
    no_exception(at)
    assert not [b for b in at.button if b.key == "settings_ws_open"]
    assert not [w for w in at.text_input if w.key == "settings_ws"]
    # even with the widgets forged into the session state, nothing opens
    at.session_state["settings_ws"] = str(other)
    at.run()
    assert at.session_state["workspace"] == str(ws.root) and not other.exists()
    assert at.session_state["auth_user"] == "ann"


def test_admin_opens_a_workspace_under_the_roots_and_must_sign_in_there(tmp_path):
    ws, _p, _ids = _team_ws(tmp_path / "ws")
    other_ws, _p2, _ids2 = tiny_workspace(tmp_path / "other", n_items=2, name="other-project")
    team.create_user(other_ws, "boss", "Other-boss-pw1", "lead", by="local", admin_password="Other-admin-1")
    at = _sign_in(ws.root, "boss", PW + "1")
    at.switch_page(f"{PAGES}/settings.py").run()
    at.text_input(key="settings_ws").input(str(tmp_path / "ws" / ".." / "other"))
    at.button(key="settings_ws_open").click()
    at.run()
    no_exception(at)
    assert at.session_state["workspace"] == str((tmp_path / "other").resolve())
    assert "auth_user" not in at.session_state  # the identity does not carry over
    assert at.text_input(key="login_user")


def test_admin_cannot_escape_the_roots(tmp_path, monkeypatch):
    roots = tmp_path / "plant"
    ws, _p, _ids = _team_ws(roots / "ws")
    (roots / "link").symlink_to(tmp_path)
    monkeypatch.setenv("DEFECTLAB_DATA_ROOTS", str(roots))
    at = _sign_in(ws.root, "boss", PW + "1")
    at.switch_page(f"{PAGES}/settings.py").run()
    for bad in (tmp_path / "escape", roots / ".." / "escape", roots / "link" / "escape", "/tmp"):
        at.text_input(key="settings_ws").input(str(bad))
        at.button(key="settings_ws_open").click()
        at.run()
        no_exception(at)
        assert at.error and "outside the folders this server may use" in at.error[0].value
        assert at.session_state["workspace"] == str(ws.root)
    assert not (tmp_path / "escape").exists()


def test_import_from_a_folder_outside_the_roots_is_refused(tmp_path, monkeypatch):
    import cv2
    import numpy as np

    outside = tmp_path / "elsewhere"
    for k, cls in enumerate(("scratch", "pit")):
        (outside / cls).mkdir(parents=True)
        cv2.imwrite(str(outside / cls / f"{k}.png"), np.full((16, 16), k * 90, np.uint8))
    ws, _project, _ids = tiny_workspace(tmp_path / "plant" / "ws", n_items=2)
    at = AppTest.from_file(APP, default_timeout=30)
    at.session_state["workspace"] = str(ws.root)
    at.session_state["lang"] = "en"
    at.run()
    at.switch_page(f"{PAGES}/import_data.py").run()
    at.radio(key="imp_target").set_value("new").run()
    at.text_input(key="imp_new_project").input("stolen").run()
    at.radio(key="imp_source").set_value("folder").run()
    at.text_input(key="imp_folder").input(str(tmp_path / "plant" / ".." / "elsewhere")).run()
    at.button(key="imp_go").click().run()
    no_exception(at)
    assert at.error and "outside the folders" in at.error[0].value
    assert [p.name for p in list_projects(ws)] == ["defects"]


def test_disabling_a_user_ends_their_open_session_at_the_next_rerun(tmp_path):
    ws, _p, _ids = _team_ws(tmp_path / "ws")
    at = _sign_in(ws.root, "ann", PW + "1")
    token = _token(at)
    team.disable_user(ws, "ann", by="boss")
    at.run()
    no_exception(at)
    assert "auth_user" not in at.session_state
    assert at.text_input(key="login_user")
    assert any("session was ended" in m.value for m in at.info)
    again = _fresh(ws.root, {"s": token})  # the token of the ended session does not work either
    again.run()
    assert "auth_user" not in again.session_state and again.text_input(key="login_user")


def test_password_reset_ends_the_open_session(tmp_path):
    ws, _p, _ids = _team_ws(tmp_path / "ws")
    at = _sign_in(ws.root, "ann", PW + "1")
    team.reset_password(ws, "ann", "Reset-pass-77", by="boss")
    at.run()
    assert "auth_user" not in at.session_state


def test_refresh_with_the_token_keeps_the_user_signed_in(tmp_path):
    ws, _p, _ids = _team_ws(tmp_path / "ws")
    at = _sign_in(ws.root, "ann", PW + "1")
    token = _token(at)
    assert token and at.session_state["auth_session"] in token
    refreshed = _fresh(ws.root, {"s": token})  # a refresh / a link in a new tab: a new session state
    refreshed.run()
    no_exception(refreshed)
    assert refreshed.session_state["auth_user"] == "ann"
    assert not [w for w in refreshed.text_input if w.key == "login_user"]
    refreshed.switch_page(f"{PAGES}/label_book.py").run()
    no_exception(refreshed)
    assert _token(refreshed) == token  # the URL keeps the token on other pages


def test_a_forged_or_foreign_token_is_refused(tmp_path):
    ws, _p, _ids = _team_ws(tmp_path / "ws")
    at = _sign_in(ws.root, "ann", PW + "1")
    sid, expiry, mac = _token(at).split(".")
    boss = team.start_session(ws, "boss")
    for bad in (f"{boss['id']}.{expiry}.{mac}", f"{sid}.{expiry}.{'A' * len(mac)}", "garbage"):
        other = _fresh(ws.root, {"s": bad})
        other.run()
        no_exception(other)
        assert "auth_user" not in other.session_state and other.text_input(key="login_user")


def test_sign_out_revokes_the_token(tmp_path):
    ws, _p, _ids = _team_ws(tmp_path / "ws")
    at = _sign_in(ws.root, "ann", PW + "1")
    token = _token(at)
    at.button(key="sign_out").click().run()
    assert "auth_user" not in at.session_state and not _token(at)
    again = _fresh(ws.root, {"s": token})
    again.run()
    assert "auth_user" not in again.session_state


def test_idle_expiry_still_signs_out_a_resumed_session(tmp_path):
    ws, _p, _ids = _team_ws(tmp_path / "ws")
    at = _sign_in(ws.root, "ann", PW + "1")
    at.session_state["last_seen"] = time.time() - team.SESSION_IDLE_SECONDS - 5
    at.run()
    assert "auth_user" not in at.session_state


def test_single_user_mode_has_a_local_session(tmp_path):
    ws, _p, _ids = tiny_workspace(tmp_path / "ws", n_items=2)
    at = _fresh(ws.root)
    at.run()
    no_exception(at)
    (record,) = team.list_sessions(open_workspace(ws.root), "local")
    assert at.session_state["auth_session"] == record["id"] and not _token(at)


def test_admin_signs_a_person_out_everywhere_from_users_and_roles(tmp_path):
    ws, _p, _ids = _team_ws(tmp_path / "ws")
    ann = _sign_in(ws.root, "ann", PW + "1")
    admin = _sign_in(ws.root, "boss", PW + "1")
    admin.switch_page(f"{PAGES}/team_users.py").run()
    no_exception(admin)
    assert any("ann" in str(df.value.values.tolist()) for df in admin.dataframe)
    admin.selectbox(key="users_pick").set_value("ann").run()
    admin.button(key="users_end_sessions").click().run()
    no_exception(admin)
    assert admin.session_state["auth_user"] == "boss"  # the admin's own session goes on
    ann.run()
    assert "auth_user" not in ann.session_state
