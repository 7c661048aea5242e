"""The Label page's browser surface on the server side (AppTest runs it; it cannot see inside the
component, so the browser's outbox is put into the component's state by hand)."""

import pytest
from streamlit.testing.v1 import AppTest
from ui_support import APP, PAGES, no_exception, tiny_workspace

from defectlab.store import current_labels, label_history


@pytest.fixture
def tiny(tmp_path):
    return tiny_workspace(tmp_path / "ws", n_items=8)


def _label_page(root):
    at = AppTest.from_file(APP, default_timeout=30)
    at.session_state["workspace"] = str(root)
    at.session_state["lang"] = "en"
    at.session_state["label_surface"] = "browser"
    at.run()
    at.switch_page(f"{PAGES}/label.py").run()
    return at


def _send(at, ops, seq=1):
    ctx = at.session_state["labeler_label_single__ctx"]
    at.session_state["labeler_label_single"] = {"sync": {"cid": "tab-1", "seq": seq, "epoch": ctx["epoch"],
                                                         "pos": 0, "ops": ops, "have": [], "need": []}}
    return at.run()


def test_browser_surface_replaces_the_rerun_buttons(tiny):
    ws, _project, ids = tiny
    at = _label_page(ws.root)
    no_exception(at)
    assert not [b for b in at.button if b.key == "lbl_key_1"]  # no rerun-per-key buttons
    ctx = at.session_state["labeler_label_single__ctx"]
    assert ctx["sent"] == set(ids)  # the window of images went to the browser
    at.toggle(key="label_surface_on").set_value(False).run()
    assert at.button(key="lbl_key_1")  # the classic page is one toggle away


def test_outbox_operations_are_stored_once_and_refusals_answered(tiny):
    ws, project, ids = tiny
    at = _label_page(ws.root)
    ops = [{"op": "tab1-op-0001", "item": ids[0], "kind": "label", "label": "pit", "version": 0, "seconds": 2.0},
           {"op": "tab1-op-0002", "item": ids[1], "kind": "label", "label": "scale", "version": 0},
           {"op": "tab1-op-0003", "item": 10**6, "kind": "label", "label": "pit"},
           {"op": "tab1-op-0004", "item": ids[2], "kind": "review", "action": "accept"},
           {"op": "<img src=x>", "item": ids[3], "label": "pit"}]
    _send(at, ops)
    no_exception(at)
    _send(at, ops, seq=2)  # the same outbox again (its answer was lost)
    labels = current_labels(ws, project.id)
    assert {i: s.label for i, s in labels.items()} == {ids[0]: "pit", ids[1]: "scale"}
    assert len(label_history(ws, ids[0])) == 1 and label_history(ws, ids[0])[0]["seconds"] == 2.0
    results = at.session_state["labeler_label_single__ctx"]["results"]
    assert results["tab1-op-0001"]["status"] == "saved"
    assert results["tab1-op-0003"]["status"] == "error" and "not in this queue" in results["tab1-op-0003"]["text"]
    assert results["tab1-op-0004"]["status"] == "error"
    assert results["<img src=x>"]["status"] == "error"  # answered (so the browser drops it), shown as text only
    assert label_history(ws, ids[3]) == []


def test_a_conflict_is_answered_with_who_changed_the_item(tiny):
    from defectlab.store import annotate

    ws, project, ids = tiny
    at = _label_page(ws.root)
    annotate(ws, ids[0], "scale", user="local", source="import")
    _send(at, [{"op": "tab1-op-0010", "item": ids[0], "kind": "label", "label": "pit", "version": 0}])
    answer = at.session_state["labeler_label_single__ctx"]["results"]["tab1-op-0010"]
    assert answer["status"] == "conflict" and "changed by local" in answer["text"]
    assert current_labels(ws, project.id)[ids[0]].label == "scale"


def test_team_mode_labels_as_the_signed_in_person(tiny):
    import time

    from defectlab.team import create_user

    ws, _project, _ids = tiny
    create_user(ws, "lena", "a-long-enough-pass-1", "lead", admin_password="admin-long-pass-2")
    at = AppTest.from_file(APP, default_timeout=30)
    at.session_state["workspace"] = str(ws.root)
    at.session_state["lang"] = "en"
    at.session_state["label_surface"] = "browser"
    at.session_state["auth_user"] = "lena"
    at.session_state["last_seen"] = time.time()
    at.run()
    at.switch_page(f"{PAGES}/label.py").run()
    at.selectbox(key="lbl_order").set_value("unlabeled").run()  # a lead may label beyond assignments
    no_exception(at)
    ctx = at.session_state["labeler_label_single__ctx"]
    queued = ctx["ref"][0]
    at.session_state["labeler_label_single"] = {"sync": {"cid": "tab-2", "seq": 1, "epoch": ctx["epoch"], "pos": 0,
                                                         "ops": [{"op": "lena-op-0001", "item": queued,
                                                                  "label": "scale", "version": 0}]}}
    at.run()
    no_exception(at)
    row = label_history(ws, queued)[-1]
    assert (row["user"], row["label"], row["source"]) == ("lena", "scale", "human")


def _grid_payload(at):
    """The data the page sends to the grid surface (AppTest shows the component as an unknown element)."""
    import json

    def walk(node):
        children = getattr(node, "children", {})
        for child in (children.values() if isinstance(children, dict) else children):
            yield child
            yield from walk(child)

    for el in walk(at._tree):
        proto = getattr(el, "proto", None)
        if type(el).__name__ == "UnknownElement" and str(getattr(proto, "id", "")).endswith("labeler_label_grid"):
            return json.loads(proto.json)
    raise AssertionError("no grid surface on the page")


def _grid_as(ws, user, order=None):
    import time

    at = AppTest.from_file(APP, default_timeout=30)
    for key, value in dict(workspace=str(ws.root), lang="en", label_surface="browser", auth_user=user,
                           last_seen=time.time(), lbl_mode="grid").items():
        at.session_state[key] = value
    at.run()
    at.switch_page(f"{PAGES}/label.py").run()
    if order is not None:
        at.selectbox(key="lbl_order").set_value(order).run()
    no_exception(at)
    return {i["id"]: i for i in _grid_payload(at)["items"]}


def test_the_grid_shows_a_blind_labeler_no_one_elses_label_nor_a_gold_answer(tiny, make_team):
    """Found by a team pass in Chromium: the in-browser grid showed an annotator her colleague's labels on their
    shared (blind) items and the gold answers; the item's source path (class folders) gave them away too."""
    from defectlab.store import annotate
    from defectlab.team import create_assignment, set_gold

    ws, project, ids = tiny
    make_team(ws, annotators=("ann1", "ann2"))
    set_gold(ws, ids[7], "scale", by="lead")
    create_assignment(ws, project, ids[:6], ["ann1", "ann2"], overlap=1.0, overlap_k=2, gold_rate=0.5, by="lead")
    annotate(ws, ids[0], "pit", user="ann2")
    annotate(ws, ids[1], "scratch", user="ann1")
    items = _grid_as(ws, "ann1")
    assert ids[0] in items and ids[7] in items                         # the shared item and the gold item
    assert "label_text" not in items[ids[0]] and "label_text" not in items[ids[7]]
    for item in items.values():
        assert "/" not in item["caption"] and ".png" not in item["caption"]  # no source path: no folder name
    # the lead sees every label and the source (the same page, the queue of all items)
    items = _grid_as(ws, "lead", order="all")
    assert items[ids[0]]["label_text"] == "pit" and items[ids[1]]["label_text"] == "scratch"
    assert items[ids[7]]["label_text"] == "scale" and ".png" in items[ids[0]]["caption"]
