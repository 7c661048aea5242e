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
    at.button[0].click()
    at.run()
    no_exception(at)
    # the visual picker: pictures of the class first, then other labels
    at.button(key=f"lbp_examples_{ids[1]}").click().run()
    at.selectbox(key="lbp_show").set_value("other").run()
    at.button(key=f"lbp_counter_examples_{ids[0]}").click().run()
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
    assert any(m.value == "A small round dark spot." for m in at.markdown)  # shown as text (common.md)


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


def test_picker_filters_and_removes(tmp_path):
    ws, project, ids = tiny_workspace(tmp_path / "ws", n_items=30, labeled=9)
    at = app(ws.root, "label_book")
    at.selectbox(key="lbp_show").set_value("unlabeled").run()
    shown = sorted(int(b.key.rsplit("_", 1)[1]) for b in at.button if b.key and b.key.startswith("lbp_examples_"))
    assert shown == ids[9:21]                       # a page of 12 unlabeled items
    at.button(key="lbp_next").click().run()
    at.text_input(key="lbp_source").input("crops/02*").run()
    shown = sorted(int(b.key.rsplit("_", 1)[1]) for b in at.button if b.key and b.key.startswith("lbp_examples_"))
    assert shown == ids[20:30]                      # the filter went back to page 1
    at.button(key=f"lbp_borderline_{ids[20]}").click().run()
    assert get_project(ws, project.id).descriptions["scratch"]["borderline"] == [ids[20]]
    at.button(key=f"lbp_rm_{ids[20]}").click().run()
    no_exception(at)
    assert get_project(ws, project.id).descriptions["scratch"]["borderline"] == []


def test_use_as_example_from_the_label_and_review_pages(tmp_path):
    from ui_support import demo_workspace

    ws, project, _labeled, unlabeled = demo_workspace(tmp_path / "ws", n_per_class=6, n_unlabeled=3, train=True)
    at = app(ws.root, "label")
    at.button(key="lbl_lb_borderline").click().run()
    no_exception(at)
    book = get_project(ws, project.id).descriptions
    picked = [i for v in book.values() if isinstance(v, dict) for i in v.get("borderline", [])]
    assert len(picked) == 1 and picked[0] in unlabeled + _labeled
    at.switch_page("defectlab/ui/pages/review.py").run()
    no_exception(at)
    keys = {b.key for b in at.button}
    if "rev_accept" in keys:        # an issue is on screen: its label-book buttons are there too
        at.button(key="rev_lb_examples").click().run()
        no_exception(at)
