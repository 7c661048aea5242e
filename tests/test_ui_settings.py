"""Settings page: language switch, opening another workspace, project defaults."""

from ui_support import app, no_exception, tiny_workspace

from defectlab.store import get_project


def test_settings_empty_and_language_switch(tmp_path):
    at = app(tmp_path / "empty", "settings")
    no_exception(at)
    at.radio(key="settings_lang").set_value("zh_CN").run()
    no_exception(at)
    assert at.session_state["lang"] == "zh_CN"


def test_open_other_workspace(tmp_path):
    ws, _project, _ids = tiny_workspace(tmp_path / "other", n_items=2)
    at = app(tmp_path / "first", "settings")
    at.text_input(key="settings_ws").input(str(ws.root))
    at.button(key="settings_ws_open").click().run()
    no_exception(at)
    assert at.session_state["workspace"] == str(ws.root)
    assert at.session_state["project"] == "defects"


def test_save_training_defaults(tmp_path):
    ws, project, _ids = tiny_workspace(tmp_path / "ws", n_items=2)
    at = app(ws.root, "settings")
    at.number_input(key="settings_folds").set_value(3)
    assert at.checkbox(key="settings_threshold_auto").value is True  # by default each run's own threshold
    at.checkbox(key="settings_threshold_auto").set_value(False)
    at.slider(key="settings_threshold").set_value(0.9)
    at.button[-1].click()
    at.run()
    no_exception(at)
    s = get_project(ws, project.id).settings
    assert s["default_folds"] == 3 and s["review_threshold"] == 0.9
    assert at.checkbox(key="settings_threshold_auto").value is False
    at.checkbox(key="settings_threshold_auto").set_value(True)
    at.button[-1].click()
    at.run()
    assert get_project(ws, project.id).settings["review_threshold"] is None
