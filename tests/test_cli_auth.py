"""The CLI in team mode (INTERFACES.md): credentials from --user / DEFECTLAB_USER and DEFECTLAB_PASSWORD
or a prompt on a terminal; without valid ones exit 1 with one line on stderr and nothing changed; the
acting account is the authenticated one; role checks as in the UI. Single-user mode asks nothing."""

import json
import os
import subprocess
import sys

import pytest

from defectlab import cli
from defectlab.store import create_project, list_audit, list_projects, open_workspace
from defectlab.team import accounts, authenticate, create_user
from defectlab.team.accounts import AuthenticationError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ADMIN_PW = "local-Admin-1"


@pytest.fixture
def team_ws(tmp_path, monkeypatch):
    for var in ("DEFECTLAB_USER", "DEFECTLAB_PASSWORD", "DEFECTLAB_NEW_PASSWORD", "DEFECTLAB_WORKSPACE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    ws = open_workspace(tmp_path / "ws")
    create_user(ws, "lead1", "lead-pass-1", "lead", by="local", admin_password=ADMIN_PW)
    create_user(ws, "ann", "ann-pass-1", "annotator", by="lead1")
    with ws.transaction() as conn:
        conn.execute("UPDATE users SET must_change_password = 0")
    create_project(ws, "plates", ["a", "b"], user="lead1")
    return ws


def _run(ws, capsys, *argv):
    code = cli.main(["--workspace", str(ws.root), *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _state(ws):
    with ws.read() as conn:
        projects = conn.execute("SELECT name, classes FROM projects ORDER BY id").fetchall()
    return [tuple(r) for r in projects]


@pytest.mark.parametrize("argv, env", [
    (["project", "create", "x", "--classes", "a,b"], {}),                                   # no name
    (["project", "create", "x", "--classes", "a,b", "--user", "lead1"], {}),                # no password
    (["project", "create", "x", "--classes", "a,b", "--user", "lead1"],
     {"DEFECTLAB_PASSWORD": "ann-pass-1"}),                                                 # forging lead1
    (["project", "create", "x", "--classes", "a,b"],
     {"DEFECTLAB_USER": "lead1", "DEFECTLAB_PASSWORD": "wrong-pass"}),
    (["project", "create", "x", "--classes", "a,b", "--user", "ann"],
     {"DEFECTLAB_PASSWORD": "ann-pass-1"}),                                                 # role
    (["label-issues", "plates", "--user", "ann"], {"DEFECTLAB_PASSWORD": "ann-pass-1"}),    # blind labels
    (["runs", "plates", "--user", "ann"], {"DEFECTLAB_PASSWORD": "ann-pass-1"}),
    (["demo", "--user", "ann"], {"DEFECTLAB_PASSWORD": "ann-pass-1"}),
    (["project", "list"], {}),
])
def test_without_valid_credentials_or_role_exit_1_one_line_nothing_changed(team_ws, capsys, monkeypatch,
                                                                            argv, env):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    before = _state(team_ws)
    code, out, err = _run(team_ws, capsys, "--json", *argv)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("defectlab: error: "), err
    assert _state(team_ws) == before


def test_the_acting_account_is_the_authenticated_one(team_ws, capsys, monkeypatch):
    monkeypatch.setenv("DEFECTLAB_USER", "lead1")
    monkeypatch.setenv("DEFECTLAB_PASSWORD", "lead-pass-1")
    code, out, _err = _run(team_ws, capsys, "--json", "project", "create", "new", "--classes", "a,b")
    assert code == 0 and json.loads(out)["project"] == "new"
    assert list_audit(team_ws, action="project.create")[0]["user"] == "lead1"
    logins = list_audit(team_ws, action="user.login")
    assert logins[0]["target"] == "lead1" and logins[0]["details"]["source"].startswith("cli:")


def test_names_ignore_case_but_the_actor_is_the_canonical_account(team_ws, capsys, monkeypatch):
    monkeypatch.setenv("DEFECTLAB_PASSWORD", "lead-pass-1")
    code, _out, _err = _run(team_ws, capsys, "project", "create", "n2", "--classes", "a,b", "--user", "LEAD1")
    assert code == 0 and list_audit(team_ws, action="project.create")[0]["user"] == "lead1"


def test_annotator_may_list_projects(team_ws, capsys, monkeypatch):
    monkeypatch.setenv("DEFECTLAB_PASSWORD", "ann-pass-1")
    code, out, _err = _run(team_ws, capsys, "--json", "project", "list", "--user", "ann")
    assert code == 0 and [p["name"] for p in json.loads(out)["projects"]] == ["plates"]


def test_password_prompt_on_a_terminal(team_ws, capsys, monkeypatch):
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    asked = []
    monkeypatch.setattr(cli.getpass, "getpass", lambda prompt, stream=None: asked.append(prompt) or "lead-pass-1")
    code, _out, _err = _run(team_ws, capsys, "project", "create", "p3", "--classes", "a,b", "--user", "lead1")
    assert code == 0 and asked == ["Password for lead1: "]


def test_an_account_that_must_change_its_password_is_refused(team_ws, capsys, monkeypatch):
    create_user(team_ws, "new1", "new-pass-123", "lead", by="lead1")
    monkeypatch.setenv("DEFECTLAB_PASSWORD", "new-pass-123")
    code, _out, err = _run(team_ws, capsys, "project", "list", "--user", "new1")
    assert code == 1 and "new password first" in err


def test_single_user_mode_asks_nothing_and_acts_as_local(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("DEFECTLAB_PASSWORD", raising=False)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr(cli.getpass, "getpass", lambda *a, **k: pytest.fail("asked for a password"))
    ws = open_workspace(tmp_path / "solo")
    code, _out, _err = _run(ws, capsys, "project", "create", "solo", "--classes", "a,b")
    assert code == 0 and list_audit(ws, action="project.create")[0]["user"] == "local"


def test_recovery_commands_unlock_and_reset_without_an_account(team_ws, capsys, monkeypatch):
    for k in range(accounts.MAX_FAILED_LOGINS):
        with pytest.raises(AuthenticationError):
            authenticate(team_ws, "local", f"guess-{k}", source="cli:mallory")
    with pytest.raises(AuthenticationError, match="Too many"):
        authenticate(team_ws, "local", ADMIN_PW, source="cli:mallory")
    code, out, _err = _run(team_ws, capsys, "--json", "user", "unlock", "local")
    assert code == 0 and json.loads(out) == {"user": "local", "unlocked": True, "password_reset": False}
    assert authenticate(team_ws, "local", ADMIN_PW, source="cli:mallory")["role"] == "admin"
    monkeypatch.setenv("DEFECTLAB_NEW_PASSWORD", "Temp-pass-123")
    code, _out, _err = _run(team_ws, capsys, "user", "reset-password", "ann")
    assert code == 0 and authenticate(team_ws, "ann", "Temp-pass-123")["must_change_password"] is True
    assert list_audit(team_ws, action="user.reset_password")[0]["user"].startswith("file-access:")
    monkeypatch.delenv("DEFECTLAB_NEW_PASSWORD")
    code, _out, err = _run(team_ws, capsys, "user", "reset-password", "ann")  # no terminal, no variable
    assert code == 2 and "nothing was changed" in err


def test_subprocess_contract(team_ws):
    env = {**os.environ, "PYTHONPATH": REPO, "DEFECTLAB_USER": "lead1", "DEFECTLAB_PASSWORD": "bad-guess-1"}
    env.pop("DEFECTLAB_WORKSPACE", None)
    cmd = [sys.executable, "-m", "defectlab.cli", "--workspace", str(team_ws.root), "--json",
           "project", "create", "evil", "--classes", "a,b"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.strip().count("\n") == 0 and "Wrong user name or password" in proc.stderr
    assert [p.name for p in list_projects(team_ws)] == ["plates"]
    proc = subprocess.run(cmd, env={**env, "DEFECTLAB_PASSWORD": "lead-pass-1"}, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=120)
    assert proc.returncode == 0 and json.loads(proc.stdout)["project"] == "evil"
