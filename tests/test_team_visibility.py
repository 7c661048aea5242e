"""Blind overlap: everything an annotator sees of an item's labels goes through defectlab.team.visibility
(library rules, then the Label book example pickers and the Cut crops captions through AppTest)."""


from ui_support import no_exception, signed_in_app, tiny_workspace

from defectlab import ingest, team
from defectlab.store import annotate, items_frame
from defectlab.team import ItemView, item_views, may_see_model, visible_label, visible_labels

PW = "Steel-2024!xyz"


def _team(root, plate=False):
    ws, project, ids = tiny_workspace(root, n_items=6, plate=plate, labeled=0)
    team.create_user(ws, "lead", PW, "lead", by="local", admin_password="Admin-pass-2024")
    for name in ("ann", "bob"):
        team.create_user(ws, name, PW, "annotator", by="lead")
    team.create_user(ws, "rev", PW, "reviewer", by="lead")
    return ws, project, ids


def _as(root, user, page):
    at = signed_in_app(root, user, page)
    no_exception(at)
    return at


def test_the_rules(tmp_path):
    ws, project, ids = _team(tmp_path / "ws")
    team.create_assignment(ws, project, ids[:4], ["ann", "bob"], overlap=1.0, overlap_k=2, gold_rate=0,
                           by="lead")
    annotate(ws, ids[0], "pit", user="bob")          # blind item, labeled by a colleague
    annotate(ws, ids[1], "scale", user="ann")        # blind item, ann's own label
    annotate(ws, ids[1], "pit", user="bob")
    annotate(ws, ids[5], "scratch", source="import")  # not in any assignment: visible to all
    views = item_views(ws, project, "ann")
    assert views[ids[0]] == ItemView(None, True, False)
    assert views[ids[1]] == ItemView("scale", True, False)
    assert views[ids[5]] == ItemView("scratch", False, False)
    assert visible_labels(ws, project, "ann", item_ids=[ids[0], ids[1]]) == {ids[0]: None, ids[1]: "scale"}
    assert visible_label(ws, ids[0], "ann") is None
    for privileged in ("lead", "rev", "local"):
        assert visible_label(ws, ids[0], privileged) == "pit"
        assert item_views(ws, project, privileged, [ids[0]])[ids[0]].others
    assert not may_see_model(ws, "ann") and may_see_model(ws, "lead")


def test_label_book_example_pickers_show_an_annotator_no_colleague_labels(tmp_path):
    from defectlab.store.browse import query_items

    ws, project, ids = _team(tmp_path / "ws")
    team.create_assignment(ws, project, ids[:4], ["ann", "bob"], overlap=1.0, overlap_k=2, gold_rate=0,
                           by="lead")
    annotate(ws, ids[0], "pit", user="bob")
    annotate(ws, ids[1], "pit", user="ann")
    at = _as(ws.root, "ann", "label_book")
    at.selectbox(key="lb_class").set_value("pit").run()
    no_exception(at)
    # annotators do not edit the label book: no picker (and so no colleague's label) on their page
    assert not [b for b in at.button if b.key and b.key.startswith("lbp_")]
    assert "lbp_show" not in [s.key for s in at.selectbox]
    # the picker's query goes through the one visibility filter: ann sees her own label only
    seen = {r["item_id"]: r["label"] for r in query_items(ws, project, user="ann", limit=100)["items"]}
    assert seen[ids[0]] is None and seen[ids[1]] == "pit"
    lead = _as(ws.root, "lead", "label_book")
    lead.selectbox(key="lb_class").set_value("pit").run()
    no_exception(lead)
    captions = " ".join(c.value for c in lead.caption)
    assert f"#{ids[0]}" in captions and f"#{ids[1]}" in captions  # the lead sees both


def test_cut_crops_captions_show_an_annotator_only_their_own_labels(tmp_path):
    ws, project, _ids = _team(tmp_path / "ws", plate=True)
    plate = int(items_frame(ws, project.id, role="plate", with_labels=False).iloc[0]["id"])
    report = ingest.add_crops(ws, project, plate, [(None, 0, 0, 40, 40), (None, 50, 50, 90, 90)], user="lead")
    crops = report.item_ids
    team.create_assignment(ws, project, crops, ["ann", "bob"], overlap=1.0, overlap_k=2, gold_rate=0, by="lead")
    annotate(ws, crops[0], "scale", user="bob")
    annotate(ws, crops[1], "pit", user="ann")
    at = _as(ws.root, "ann", "cut_crops")
    captions = " | ".join(c.value for c in at.caption).lower()
    assert "1 · unlabeled" in captions and "scale" not in captions  # bob's label of crop 1 stays hidden
    assert "2 · pit" in captions  # ann's own label
    options = [str(o) for o in at.multiselect(key="crop_remove").options]  # as formatted for the person
    assert options and not any("cale" in o for o in options)
    lead = _as(ws.root, "lead", "cut_crops")
    assert "cale" in " | ".join(c.value for c in lead.caption)
