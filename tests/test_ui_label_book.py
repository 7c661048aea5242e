"""Label book page: description, criteria and example images are saved in the project."""

from ui_support import app, no_exception, tiny_workspace

from defectlab.store import get_project


def test_label_book_empty_workspace(tmp_path):
    from defectlab.i18n import t  # the app runs in English here (ui_support.app)

    at = app(tmp_path / "empty", "label_book")
    no_exception(at)
    assert [i.value for i in at.info] == [t("common.no_project", "en")]  # says where to go, shows no editor
    assert not at.text_area and not at.multiselect


def test_save_rule_criteria_and_examples(tmp_path):
    ws, project, ids = tiny_workspace(tmp_path / "ws", n_items=9, labeled=6)
    at = app(ws.root, "label_book")
    no_exception(at)
    at.selectbox(key="lb_class").set_value("pit").run()
    at.text_area(key="lb_desc_pit").input("A small round dark spot.")
    at.text_area(key="lb_crit_pit").input("length < 5x width")
    at.multiselect(key="lb_examples_pit").select(ids[1])
    at.multiselect(key="lb_counter_examples_pit").select(ids[0])
    at.button[0].click()
    at.run()
    no_exception(at)
    entry = get_project(ws, project.id).descriptions["pit"]
    assert entry["description"] == "A small round dark spot."
    assert entry["criteria"] == "length < 5x width"
    assert entry["examples"] == [ids[1]] and entry["counter_examples"] == [ids[0]]
    assert entry["borderline"] == []
    # shown beside the labeling view
    at.switch_page("defectlab/ui/pages/label.py").run()
    at.selectbox(key=f"lbl_book_{ids[6]}").set_value("pit").run()
    no_exception(at)
    assert any("A small round dark spot." in m.value for m in at.markdown)


def test_per_language_text_keeps_the_other_language(tmp_path):
    ws, project, _ids = tiny_workspace(tmp_path / "ws", n_items=3)
    from defectlab.store import update_project

    update_project(ws, project, descriptions={"scratch": {"description": {"en": "long line",
                                                                          "zh_CN": "长线"}}})
    at = app(ws.root, "label_book")
    assert at.text_area(key="lb_desc_scratch").value == "long line"
    at.text_area(key="lb_desc_scratch").input("a long straight line")
    at.button[0].click()
    at.run()
    d = get_project(ws, project.id).descriptions["scratch"]["description"]
    assert d == {"en": "a long straight line", "zh_CN": "长线"}
