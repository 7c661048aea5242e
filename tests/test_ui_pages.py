"""Every page renders without an exception on an empty workspace and on the demo workspace
(the demo has two projects, plates with boxes, a trained run per project and a batch folder)."""

import time

import pytest
from ui_support import PAGES, app, no_exception

SINGLE_USER_PAGES = ["projects", "import_data", "cut_crops", "label_book", "label", "train", "runs",
                     "review", "predict", "settings", "team_users"]
TEAM_PAGES = ["team_assign", "team_agreement", "team_qc", "team_report", "team_audit"]


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory):
    from defectlab.demo import build_demo_workspace
    from defectlab.store import open_workspace

    root = tmp_path_factory.mktemp("demo") / "ws"
    build_demo_workspace(open_workspace(root))
    return root


@pytest.mark.parametrize("page", SINGLE_USER_PAGES)
def test_page_on_empty_workspace(tmp_path, page):
    at = app(tmp_path / "empty", page)
    no_exception(at)
    assert at.title


@pytest.mark.parametrize("page", SINGLE_USER_PAGES)
@pytest.mark.parametrize("lang", ["en", "zh_CN"])
def test_page_on_demo_workspace(demo_root, page, lang):
    from streamlit.testing.v1 import AppTest
    from ui_support import APP

    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["workspace"] = str(demo_root)
    at.session_state["lang"] = lang
    at.run()
    at.switch_page(f"{PAGES}/{page}.py").run()
    no_exception(at)
    assert at.title
    assert not at.error, [e.value for e in at.error]


@pytest.mark.parametrize("page", TEAM_PAGES)
def test_team_pages_on_demo_copy_in_team_mode(tmp_path, demo_root, page):
    import shutil

    from streamlit.testing.v1 import AppTest
    from ui_support import APP

    from defectlab import team
    from defectlab.store import open_workspace

    root = tmp_path / "ws"
    shutil.copytree(demo_root, root)
    ws = open_workspace(root)
    team.create_user(ws, "li.na", "Steel-2024!xyz", "annotator", by="local", admin_password="Admin-pass-2024")
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["workspace"] = str(root)
    at.session_state["auth_user"] = "local"
    at.session_state["last_seen"] = time.time()
    at.run()
    at.switch_page(f"{PAGES}/{page}.py").run()
    no_exception(at)
    assert at.title


def test_the_app_never_reloads_changed_code_under_live_sessions():
    """Found by a fresh-user pass: an update on disk while the app ran (git pull, pip install -U) reloaded some
    modules under live sessions and every page failed with a traceback until a restart."""
    import tomllib
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    server = tomllib.loads((repo / ".streamlit" / "config.toml").read_text(encoding="utf-8"))["server"]
    assert server["fileWatcherType"] == "none" and server["runOnSave"] is False
    assert "--server.fileWatcherType none" in (repo / "Makefile").read_text(encoding="utf-8")
