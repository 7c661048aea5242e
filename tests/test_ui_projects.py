"""Projects (home) page: first-run guidance, counts, creating a project, picking the active one."""

from ui_support import app, no_exception, tiny_workspace

from defectlab.store import get_project, list_projects


def _create(at):
    return next(b for b in at.button if b.label == "Create")


def test_empty_workspace_says_what_to_do(tmp_path):
    at = app(tmp_path / "empty")
    no_exception(at)
    assert at.title[0].value
    assert any("project" in m.value.lower() for m in at.markdown)


def test_create_project_with_ordered_classes(tmp_path):
    at = app(tmp_path / "ws")
    at.text_input(key="new_name").input("scrap")
    at.text_area(key="new_classes").input("heavy\nmedium, light\nthin")
    at.checkbox(key="new_ordinal").check()
    _create(at).click()
    at.run()
    no_exception(at)
    ws_root = tmp_path / "ws"
    from defectlab.store import open_workspace

    p = get_project(open_workspace(ws_root), "scrap")
    assert p.classes == ("heavy", "medium", "light", "thin") and p.ordinal
    assert at.session_state["project"] == "scrap"


def test_bad_project_shows_error_not_traceback(tmp_path):
    at = app(tmp_path / "ws")
    at.text_input(key="new_name").input("x")
    at.text_area(key="new_classes").input("only_one")
    _create(at).click()
    at.run()
    no_exception(at)
    assert at.error and "two classes" in at.error[0].value


def test_counts_and_switching_project(tmp_path):
    ws, _project, _ids = tiny_workspace(tmp_path / "ws", n_items=10, labeled=4)
    tiny_workspace_second = __import__("defectlab.store", fromlist=["create_project"]).create_project
    tiny_workspace_second(ws, "grades", ["a", "b"], ordinal=True)
    at = app(ws.root)
    no_exception(at)
    metrics = {m.label: m.value for m in at.metric}
    assert list(metrics.values())[:3] == ["10", "4", "6"]
    at.selectbox(key="home_pick").set_value("grades").run()
    no_exception(at)
    assert at.session_state["project"] == "grades"
    assert [p.name for p in list_projects(ws)] == ["defects", "grades"]


def test_first_run_builds_the_demo_workspace(tmp_path):
    at = app(tmp_path / "ws")
    at.button(key="build_demo").click().run(timeout=120)
    no_exception(at)
    from defectlab.store import open_workspace

    names = [p.name for p in list_projects(open_workspace(tmp_path / "ws"))]
    assert len(names) >= 2
    assert at.session_state["project"] in names
