"""Item browser page (AppTest): filters, paging, selection + keys, bulk actions, the open item, in en and zh_CN."""

import pytest
from streamlit.testing.v1 import AppTest
from ui_support import APP, app, no_exception, tiny_workspace

from defectlab.store import annotate, current_label, get_project
from defectlab.store.browse import query_items


def _grid_ids(at):
    return sorted(int(c.key.split("_")[-1]) for c in at.checkbox if c.key and c.key.startswith("ib_sel_"))


@pytest.mark.parametrize("lang", ["en", "zh_CN"])
def test_browse_filter_and_page(tmp_path, lang):
    _ws, _project, ids = tiny_workspace(tmp_path / "ws", n_items=30, labeled=9)
    at = AppTest.from_file(APP, default_timeout=30)
    at.session_state["workspace"] = str(tmp_path / "ws")
    at.session_state["lang"] = lang
    at.run()
    at.switch_page("defectlab/ui/pages/items.py").run()
    no_exception(at)
    assert _grid_ids(at) == ids[:24]            # first page of 24
    at.button(key="ib_next").click().run()
    assert _grid_ids(at) == ids[24:]
    at.selectbox(key="ib_label").set_value("pit").run()
    no_exception(at)
    assert _grid_ids(at) == [ids[1], ids[4], ids[7]]  # the filter went back to page 1
    at.text_input(key="ib_source").input("crops/004*").run()
    assert _grid_ids(at) == [ids[4]]


def test_select_and_label_with_number_keys(tmp_path):
    ws, _project, ids = tiny_workspace(tmp_path / "ws", n_items=8)
    at = app(tmp_path / "ws", page="items")
    at.checkbox(key=f"ib_sel_{ids[2]}").check()
    at.checkbox(key=f"ib_sel_{ids[3]}").check().run()
    at.button(key="ib_lab_2").click().run()       # the "3" key: the third class
    no_exception(at)
    assert current_label(ws, ids[2]).label == "scale" and current_label(ws, ids[3]).label == "scale"
    assert current_label(ws, ids[4]).label is None
    assert not at.checkbox(key=f"ib_sel_{ids[2]}").value  # the selection was cleared
    assert any("2" in s.value for s in at.success)


def test_a_page_labeled_by_one_stray_key_is_undone_with_one_click(tmp_path):
    """Found by a fresh-user pass: Select page, then a stray "2", relabeled a whole page with no way back."""
    ws, _project, ids = tiny_workspace(tmp_path / "ws", n_items=8, labeled=4)
    before = {i: current_label(ws, i).label for i in ids}
    at = app(tmp_path / "ws", page="items")
    at.button(key="ib_select_all").click().run()
    at.button(key="ib_lab_1").click().run()          # the "2" key
    no_exception(at)
    assert {current_label(ws, i).label for i in ids} == {"pit"}
    at.button(key="ib_undo_go").click().run()
    no_exception(at)
    assert {i: current_label(ws, i).label for i in ids} == before
    assert any("8" in s.value for s in at.success) and not [b for b in at.button if b.key == "ib_undo_go"]


def test_bulk_review_delete_restore(tmp_path):
    ws, project, ids = tiny_workspace(tmp_path / "ws", n_items=6)
    at = app(tmp_path / "ws", page="items")
    at.checkbox(key=f"ib_sel_{ids[0]}").check().run()
    at.button(key="ib_review").click().run()
    assert query_items(ws, project.name, {"queue": "sent_to_review"})["total"] == 1
    at.checkbox(key=f"ib_sel_{ids[1]}").check().run()
    at.button(key="ib_delete").click().run()
    no_exception(at)
    assert ids[1] not in _grid_ids(at)
    at.checkbox(key="ib_deleted").check().run()
    assert _grid_ids(at) == [ids[1]]
    at.checkbox(key=f"ib_sel_{ids[1]}").check().run()
    at.button(key="ib_restore").click().run()
    no_exception(at)
    assert query_items(ws, project.name)["total"] == 6


def test_open_item_shows_plate_history_and_labelbook_buttons(tmp_path):
    ws, project, ids = tiny_workspace(tmp_path / "ws", n_items=4, labeled=2)
    annotate(ws, ids[0], "pit", source="review", comment="looked again", seconds=3.0)
    at = app(tmp_path / "ws", page="items")
    at.number_input(key="ib_jump").set_value(ids[0])
    at.button(key="ib_jump_go").click().run()
    no_exception(at)
    assert at.session_state["ib_open"] == ids[0]
    history = at.dataframe[0].value
    assert list(history["Who"]) == ["Local admin", "Local admin"] and "looked again" in list(history["Comment"])
    at.button(key="ib_lb_counter_examples").click().run()
    no_exception(at)
    assert get_project(ws, project.name).descriptions["pit"]["counter_examples"] == [ids[0]]
    at.number_input(key="ib_jump").set_value(99999)
    at.button(key="ib_jump_go").click().run()
    assert at.warning and "99999" in at.warning[0].value


def test_blind_annotator_cannot_filter_labels(tmp_path):
    from defectlab.team import create_user

    ws, _project, _ids = tiny_workspace(tmp_path / "ws", n_items=4, labeled=2)
    create_user(ws, "anna", "correct horse battery", "annotator", admin_password="admin horse battery")
    at = app(tmp_path / "ws")
    at.session_state["auth_user"] = "anna"
    at.session_state["last_seen"] = __import__("time").time()
    at.run()
    at.switch_page("defectlab/ui/pages/items.py").run()
    no_exception(at)
    assert at.selectbox(key="ib_label").disabled
    assert "blind" in at.caption[0].value


def test_own_class_names_are_shown_as_typed_and_known_sets_translated(tmp_path):
    """Found by a fresh-user pass: a user's own class "light" was shown as the demo's "Light scrap"."""
    _ws, _project, _ids = tiny_workspace(tmp_path / "own", n_items=3, classes=("重废", "中废", "light"))
    at = app(tmp_path / "own", page="items")
    no_exception(at)
    names = [b.label for b in at.button if b.key and b.key.startswith("ib_lab_")]
    assert names == ["重废", "中废", "light"]
    _ws, _project, _ids = tiny_workspace(tmp_path / "demo", n_items=3, classes=("heavy", "medium", "light"))
    at = app(tmp_path / "demo", page="items")
    assert [b.label for b in at.button if b.key and b.key.startswith("ib_lab_")] == [
        "Heavy scrap", "Medium scrap", "Light scrap"]


@pytest.mark.parametrize("lang", ["en", "zh_CN"])
def test_selected_items_move_to_another_project_with_their_labels(tmp_path, lang):
    """Found as a leftover of a data pass: items imported into the wrong project could only be exported and
    re-imported (losing their history); now they move, with their labels and a link back."""
    from defectlab.store import create_project, get_item

    ws, _project, ids = tiny_workspace(tmp_path / "ws", n_items=6, labeled=3)
    create_project(ws, "scrap", ["light", "heavy"])
    at = app(tmp_path / "ws", page="items")
    at.session_state["lang"] = lang
    at.run()
    at.checkbox(key=f"ib_sel_{ids[0]}").check()
    at.checkbox(key=f"ib_sel_{ids[5]}").check().run()
    at.selectbox(key="ib_move_to").set_value("scrap").run()
    at.button(key="ib_move_go").click().run()  # "scratch" is no class of scrap: refused, nothing moved
    no_exception(at)
    assert at.error and "scratch" in at.error[0].value and query_items(ws, "scrap")["total"] == 0
    at.checkbox(key=f"ib_sel_{ids[0]}").check()
    at.checkbox(key=f"ib_sel_{ids[5]}").check()
    at.checkbox(key="ib_move_add").check().run()
    at.button(key="ib_move_go").click().run()
    no_exception(at)
    moved = query_items(ws, "scrap")["items"]
    assert sorted(r["label"] or "" for r in moved) == ["", "scratch"]
    assert query_items(ws, "defects")["total"] == 4 and get_item(ws, ids[0])["deleted_at"] is not None
    assert at.success and "scrap" in at.success[0].value
    assert not at.checkbox(key="ib_move_add").value  # the next move is chosen anew
    # the moved item, opened in its new project, says where it came from
    new = next(r["item_id"] for r in moved if r["label"] == "scratch")
    at.session_state["project"] = "scrap"
    at.session_state["ib_open"] = new
    at.run()
    no_exception(at)
    assert any(f"{ids[0]}" in c.value and "defects" in c.value for c in at.caption)


def test_the_prediction_reviews_comments_read_in_the_pages_language(tmp_path):
    """Found by a supervisor pass: an item's history in 简体中文 read "prediction review: corrected from patches
    (locate result 17, box 4)" (stored in English, as written; shown in the reader's language)."""
    ws, _project, ids = tiny_workspace(tmp_path / "ws", n_items=3)
    annotate(ws, ids[0], "scratch", source="review", comment="prediction review: corrected from pit "
                                                             "(locate result 17, box 4)")
    annotate(ws, ids[1], "pit", comment="looks like a pit to me")
    at = app(tmp_path / "ws", page="items")
    at.session_state["lang"] = "zh_CN"
    for item, expected in ((ids[0], "预测复核：由 pit 更正（查找 17，框 4）"), (ids[1], "looks like a pit to me")):
        at.session_state["ib_open"] = item
        at.run()
        no_exception(at)
        history = at.dataframe[0].value
        assert list(history.iloc[:, -1]) == [expected]
