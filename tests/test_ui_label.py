"""Label page: number keys label the item at the server-side position and advance; skip, undo, grid."""

import pytest
from ui_support import app, no_exception, tiny_workspace

from defectlab.store import UNUSABLE, current_labels, label_history


@pytest.fixture
def tiny(tmp_path):
    return tiny_workspace(tmp_path / "ws", n_items=8)


def test_label_page_empty_workspace(tmp_path):
    at = app(tmp_path / "empty", "label")
    no_exception(at)
    assert any("project" in i.value.lower() for i in at.info)


def test_number_keys_label_in_queue_order_and_record_seconds(tiny):
    ws, project, ids = tiny
    at = app(ws.root, "label")
    no_exception(at)
    at.button(key="lbl_key_2").click().run()
    at.button(key="lbl_key_1").click().run()
    at.button(key="lbl_key_3").click().run()
    no_exception(at)
    labels = current_labels(ws, project.id)
    assert {i: labels[i].label for i in labels} == {ids[0]: "pit", ids[1]: "scratch", ids[2]: "scale"}
    rows = label_history(ws, ids[0])
    assert rows[0]["source"] == "human" and rows[0]["user"] == "local"
    assert rows[0]["seconds"] is not None and 0 <= rows[0]["seconds"] < 60


def test_skip_undo_and_unusable(tiny):
    ws, project, ids = tiny
    at = app(ws.root, "label")
    at.button(key="lbl_skip").click().run()
    at.button(key="lbl_key_1").click().run()      # labels ids[1]
    at.button(key="lbl_undo").click().run()       # retracts it and goes back to ids[1]
    labels = current_labels(ws, project.id)
    assert labels[ids[1]].label is None
    at.button(key="lbl_unusable").click().run()
    assert current_labels(ws, project.id)[ids[1]].label == UNUSABLE
    assert ids[0] not in current_labels(ws, project.id)
    no_exception(at)


def test_grid_select_all_and_assign(tiny):
    ws, project, ids = tiny
    at = app(ws.root, "label")
    at.segmented_control(key="lbl_mode").set_value("grid").run()
    no_exception(at)
    at.checkbox(key=f"gsel_{ids[2]}").check().run()
    at.checkbox(key=f"gsel_{ids[5]}").check().run()
    at.button(key="grid_range").click().run()
    at.button(key="grid_key_3").click().run()
    no_exception(at)
    labels = current_labels(ws, project.id)
    assert sorted(labels) == ids[2:6]
    assert {s.label for s in labels.values()} == {"scale"}
    seconds = [label_history(ws, i)[0]["seconds"] for i in ids[2:6]]
    assert all(s is not None for s in seconds)
    at.button(key="grid_undo").click().run()
    assert all(s.label is None for s in current_labels(ws, project.id).values())


def test_grid_select_all_labels_the_whole_page(tiny):
    ws, project, ids = tiny
    at = app(ws.root, "label")
    at.segmented_control(key="lbl_mode").set_value("grid").run()
    at.button(key="grid_all").click().run()
    at.button(key="grid_key_1").click().run()
    labels = current_labels(ws, project.id)
    assert sorted(labels) == ids and {s.label for s in labels.values()} == {"scratch"}


def test_model_suggestion_and_what_to_label_next(tmp_path):
    from ui_support import demo_workspace

    ws, project, _labeled, unlabeled = demo_workspace(tmp_path / "ws", train=True)
    at = app(ws.root, "label")
    no_exception(at)
    assert any("Model suggests" in i.value for i in at.info)
    at.selectbox(key="lbl_order").set_value("next").run()
    no_exception(at)
    queue = at.session_state["lbl_queue"]
    assert sorted(queue) == sorted(unlabeled)
    at.button(key="lbl_key_1").click().run()
    assert current_labels(ws, project.id)[queue[0]].label == "crazing"


def test_team_annotator_labels_blind_without_model_suggestion(tmp_path):
    """Team mode: an annotator gets no model hint (it would steer overlap / gold items); an admin does."""
    from test_ui_team import ADMIN_PW, PW, _as
    from ui_support import demo_workspace

    from defectlab import team
    from defectlab.ui.labeling import model_hints_allowed

    ws, project, _labeled, unlabeled = demo_workspace(tmp_path / "ws", train=True)
    team.create_user(ws, "ann", PW, "annotator", by="local", admin_password=ADMIN_PW)
    team.change_password(ws, "ann", PW, PW + "1")
    team.create_assignment(ws, project, unlabeled[:4], ["ann"], overlap=0.0, gold_rate=0.0, by="local")
    assert not model_hints_allowed(ws, "ann", team=True)
    assert model_hints_allowed(ws, "ann", team=False)
    assert model_hints_allowed(ws, "local", team=True)

    at = _as(ws.root, "ann", "label")
    no_exception(at)
    assert at.session_state["lbl_queue"]  # ann has items to label ...
    assert not any("Model suggests" in i.value for i in at.info)  # ... but no hint
    assert all(at.button(key=f"lbl_key_{k}").proto.type == "secondary" for k in (1, 2, 3))

    at = _as(ws.root, "local", "label")
    at.selectbox(key="lbl_order").set_value("unlabeled").run()
    no_exception(at)
    assert any("Model suggests" in i.value for i in at.info)
