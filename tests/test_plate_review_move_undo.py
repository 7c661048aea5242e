"""A supervisor moves the model's box before storing it, and undoes a decision (defectlab.learn.plate_review):
what is stored, what is remembered, who may, and the places and undos an attacker would try."""

import cv2
import numpy as np
import pytest
from synthetic import write_voc_plates

from defectlab.demo import make_plate_images
from defectlab.errors import ConflictError, InputError, PermissionDenied
from defectlab.ingest import add_plate, import_source
from defectlab.learn import train_project
from defectlab.learn.locate import LocateSettings, dismissed_boxes
from defectlab.learn.plate_review import (
    REPORT_COLUMNS,
    box_decisions,
    decide_box,
    locate_plate,
    open_boxes,
    plate_memory,
    results_csv,
    review_comment_parts,
    undo_box,
)
from defectlab.store import annotate, get_item, items_frame, label_history, list_audit, open_workspace
from defectlab.store.browse import item_history
from defectlab.team import create_user


@pytest.fixture(scope="module")
def team(tmp_path_factory):
    root = tmp_path_factory.mktemp("moveundo")
    write_voc_plates(root / "src", 12, random_state=3)
    ws = open_workspace(root / "ws")
    import_source(ws, "Plates", root / "src", layout="voc")
    train_project(ws, "Plates", model="logreg", preset="fast", folds=3, seed=0, n_jobs=1)
    for k, (name, role) in enumerate((("sam", "supervisor"), ("sue", "supervisor"), ("ann", "annotator"),
                                      ("lee", "lead"))):
        create_user(ws, name, "a long enough password 1", role, admin_password=None if k else "the admin password 1")
    images = make_plate_images(14, 300, 400, random_state=91)
    return ws, [cv2.imencode(".png", image)[1].tobytes() for image, _ in images]


def _searched(ws, data, user="sam"):
    """A new plate uploaded and searched (a low fixed threshold: these tests are about the review)."""
    plate_id, _ = add_plate(ws, "Plates", data.pop(), f"plate{len(data)}.png", user=user, purpose="predict")
    result = locate_plate(ws, "Plates", plate_id, user=user, settings=LocateSettings(threshold=0.05))
    assert result.boxes, "the synthetic plate should show at least one defect"
    return plate_id, result


def _nudged(box, dx=3, dy=-2, dw=4, dh=0, width=400, height=300):
    x, y = max(box["x"] + dx, 0), max(box["y"] + dy, 0)
    w, h = min(box["w"] + dw, width - x), min(box["h"] + dh, height - y)
    return [x, y, w, h]


def test_a_moved_box_is_stored_where_the_supervisor_put_it_and_said_so(team):
    ws, data = team
    plate_id, result = _searched(ws, data)
    rid, box = result.extra["result_id"], result.boxes[0]
    place = _nudged(box)
    out = decide_box(ws, "Plates", rid, 0, "accept", user="sam", place=place)
    # the model's class at another place: a correction of the box, its label still the model's
    assert out["decision"] == "corrected" and out["label"] == box["label"] and out["place"] == place
    crop = get_item(ws, out["crop_id"])
    x, y, w, h = place
    assert list(crop["box"]) == [x, y, x + w, y + h] and crop["parent_id"] == plate_id
    (ann,) = label_history(ws, out["crop_id"])
    assert ann["source"] == "model" and ann["comment"].startswith(f"prediction review: moved {box['label']} box")
    assert review_comment_parts(ann["comment"])["kind"] == "moved"
    assert box_decisions(ws, rid, user="sam")[0]["place"] == place
    assert next(m for m in plate_memory(ws, plate_id, user="sam") if m["result_id"] == rid)["place"] == place
    audit = list_audit(ws, action="plates.box_decision", user="sam")[-1]["details"]
    assert audit["place"] == place and audit["decision"] == "corrected"
    # the shift's report gives the model's box and the stored place
    report = results_csv(ws, "Plates", [rid], user="sam").lstrip("\ufeff").splitlines()
    header, first = report[0].split(","), report[1].split(",")
    assert tuple(header) == REPORT_COLUMNS
    row = dict(zip(header, first, strict=True))
    assert [int(row[k]) for k in ("stored_x", "stored_y", "stored_w", "stored_h")] == place
    assert [int(row[k]) for k in ("x", "y", "w", "h")] == [box["x"], box["y"], box["w"], box["h"]]
    # another class at another place: both corrections said
    if len(result.boxes) > 2:
        b = result.boxes[2]
        other = "scratches" if b["label"] != "scratches" else "patches"
        out = decide_box(ws, "Plates", rid, 2, "correct", other, user="sam", place=_nudged(b))
        (ann,) = label_history(ws, out["crop_id"])
        assert review_comment_parts(ann["comment"])["kind"] == "corrected_moved"
    # the model's own place given back is no move: an accept
    if len(result.boxes) > 1:
        b = result.boxes[1]
        out = decide_box(ws, "Plates", rid, 1, "accept", user="sam", place=[b["x"], b["y"], b["w"], b["h"]])
        assert out["decision"] == "accepted" and out["place"] is None


@pytest.mark.parametrize("place, match", [
    ("1234", "four whole numbers"), ({"x": 1, "y": 2, "w": 3, "h": 4}, "four whole numbers"),
    ([1, 2, 3], "four whole numbers"), ([float("nan"), 0, 10, 10], "four whole numbers"),
    ([1e300, 0, 10, 10], "four whole numbers"), (["a", 0, 10, 10], "four whole numbers"),
    ([-5, 0, 40, 40], "does not lie inside"), ([0, 0, 10_000, 40], "does not lie inside"),
    ([10, 10, 1, 40], "does not lie inside"),
])
def test_a_hostile_place_is_refused_and_nothing_is_stored(team, place, match):
    ws, data = team
    if not hasattr(test_a_hostile_place_is_refused_and_nothing_is_stored, "searched"):
        test_a_hostile_place_is_refused_and_nothing_is_stored.searched = _searched(ws, data)
    _, result = test_a_hostile_place_is_refused_and_nothing_is_stored.searched
    n = len(items_frame(ws, 1))
    with pytest.raises(InputError, match=match):
        decide_box(ws, "Plates", result.extra["result_id"], 0, "accept", user="sam", place=place)
    assert len(items_frame(ws, 1)) == n and box_decisions(ws, result.extra["result_id"], user="sam") == {}


def test_a_place_far_from_the_models_box_is_another_box_and_a_dismissal_has_no_place(team):
    ws, data = team
    _, result = _searched(ws, data)
    rid, box = result.extra["result_id"], result.boxes[0]
    # the same size moved by its own width: IoU 0 -> drawing a box of one's own is Cut crops, not a correction
    far = [box["x"] + box["w"] if box["x"] + 2 * box["w"] <= 400 else box["x"] - box["w"], box["y"], box["w"],
           box["h"]]
    with pytest.raises(InputError, match="another box"):
        decide_box(ws, "Plates", rid, 0, "correct", "scratches", user="sam", place=far)
    with pytest.raises(InputError, match="no place"):
        decide_box(ws, "Plates", rid, 0, "dismiss", user="sam", place=_nudged(box))
    assert box_decisions(ws, rid, user="sam") == {}


def test_an_undo_deletes_the_stored_crop_and_opens_the_box_again(team):
    ws, data = team
    plate_id, result = _searched(ws, data)
    rid = result.extra["result_id"]
    other = "scratches" if result.boxes[0]["label"] != "scratches" else "patches"
    out = decide_box(ws, "Plates", rid, 0, "correct", other, user="sam")
    assert plate_id not in open_boxes(ws, [plate_id]) or len(open_boxes(ws, [plate_id])[plate_id]) < len(
        result.boxes)
    undone = undo_box(ws, "Plates", rid, 0, user="sam")
    assert undone == {"undone": "corrected", "crop_id": out["crop_id"], "decision": None}
    assert get_item(ws, out["crop_id"])["deleted_at"] is not None  # soft-deleted: restorable by an admin
    assert 0 not in box_decisions(ws, rid, user="sam")
    assert all(m["result_id"] != rid or m["box_index"] != 0 for m in plate_memory(ws, plate_id, user="sam"))
    assert len(open_boxes(ws, [plate_id])[plate_id]) >= 1
    audit = list_audit(ws, action="plates.box_undo", user="sam")[-1]["details"]
    assert (audit["crop_id"], audit["decision"], audit["decided_by"]) == (out["crop_id"], "corrected", "sam")
    # the box is open again: decided anew, as the model's class; the same pixels are that crop again, restored,
    # its history keeping the undone label
    again = decide_box(ws, "Plates", rid, 0, "accept", user="sam")
    assert again["crop_id"] == out["crop_id"] and box_decisions(ws, rid, user="sam")[0]["decision"] == "accepted"
    assert get_item(ws, again["crop_id"])["deleted_at"] is None
    assert [a["label"] for a in label_history(ws, again["crop_id"])] == [other, again["label"]]
    # the item's history says the decision was undone between the two labels
    events = item_history(ws, again["crop_id"])
    assert [e["source"] for e in events] == ["human", "prediction_undo", "model"]
    assert review_comment_parts(events[1]["comment"]) == {"kind": "undone", "model_label": None, "result_id": rid,
                                                          "box": 1}
    with pytest.raises(ConflictError, match="already stored"):
        decide_box(ws, "Plates", rid, 0, "dismiss", user="sam")
    # the restored crop's decision is undone again (its newest label is that decision's)
    assert undo_box(ws, "Plates", rid, 0, user="sam")["crop_id"] == out["crop_id"]
    assert get_item(ws, out["crop_id"])["deleted_at"] is not None


def test_an_undone_dismissal_is_no_hard_negative_from_its_undo_on(team):
    ws, data = team
    plate_id, result = _searched(ws, data)
    rid = result.extra["result_id"]
    decide_box(ws, "Plates", rid, 0, "dismiss", user="sam")  # no background class: a record only
    project_id = get_item(ws, plate_id)["project_id"]
    assert plate_id in dismissed_boxes(ws, project_id)
    before = box_decisions(ws, rid, user="sam")[0]["at"]
    assert undo_box(ws, "Plates", rid, 0, user="sam") == {"undone": "dismissed", "crop_id": None, "decision": None}
    assert plate_id not in dismissed_boxes(ws, project_id)
    # a run made before the undo still learns from the dismissal it saw (its training does not change)
    assert plate_id in dismissed_boxes(ws, project_id, before=before)
    # undo is a stack: dismissed, then stored, then the store undone -> dismissed again
    decide_box(ws, "Plates", rid, 0, "dismiss", user="sam")
    decide_box(ws, "Plates", rid, 0, "accept", user="sam")
    assert undo_box(ws, "Plates", rid, 0, user="sam")["decision"] == "dismissed"
    assert box_decisions(ws, rid, user="sam")[0]["decision"] == "dismissed"


def test_who_may_undo_and_what_an_undo_refuses(team):
    ws, data = team
    _, result = _searched(ws, data)
    rid = result.extra["result_id"]
    with pytest.raises(ConflictError, match="no decision to undo"):
        undo_box(ws, "Plates", rid, 0, user="sam")
    out = decide_box(ws, "Plates", rid, 0, "accept", user="sam")
    for user in ("ann", "nobody"):  # an annotator may not correct predictions; an unknown user nothing
        with pytest.raises(PermissionDenied):
            undo_box(ws, "Plates", rid, 0, user=user)
    with pytest.raises(PermissionDenied):  # another supervisor's decision: undoing it deletes their crop
        undo_box(ws, "Plates", rid, 0, user="sue")
    assert get_item(ws, out["crop_id"])["deleted_at"] is None
    # the crop labeled again since: the undo would silently throw that label away
    annotate(ws, out["crop_id"], "crazing" if out["label"] != "crazing" else "patches", user="lee")
    with pytest.raises(ConflictError, match="changed since"):
        undo_box(ws, "Plates", rid, 0, user="lee")
    assert get_item(ws, out["crop_id"])["deleted_at"] is None and 0 in box_decisions(ws, rid, user="sam")
    if len(result.boxes) > 1:  # a lead may undo a supervisor's untouched decision
        decide_box(ws, "Plates", rid, 1, "accept", user="sam")
        assert undo_box(ws, "Plates", rid, 1, user="lee")["undone"] == "accepted"
    for bad in ("1", -1, 2**70, None, 1.5):
        with pytest.raises((InputError, TypeError)):
            undo_box(ws, "Plates", rid, bad, user="sam")
    with pytest.raises(InputError, match="there is no box"):
        undo_box(ws, "Plates", rid, len(result.boxes), user="sam")


def test_undo_rows_are_append_only(team):
    ws, _ = team
    import sqlite3

    with ws.transaction() as conn:
        rows = conn.execute("SELECT decision_id FROM locate_undos").fetchall()
    assert rows, "the tests above undo decisions"
    for sql in ("DELETE FROM locate_undos", "UPDATE locate_undos SET user = 'x'"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"), ws.transaction() as conn:
            conn.execute(sql)
    assert np.all([r[0] for r in rows])


def test_an_annotator_gets_the_models_boxes_to_cut_crops_but_may_not_predict(team):
    """The Cut crops page's suggested boxes are for the annotators who cut crops (the issue's "the annotator
    accepts, moves or deletes"); searching to predict stays the supervisors'."""
    from defectlab.learn.locate import locate_item

    ws, data = team
    plate_id, _ = add_plate(ws, "Plates", data.pop(), "to_cut.png", user="lee", purpose="cut")
    result = locate_item(ws, "Plates", plate_id, user="ann", purpose="cut", settings=LocateSettings(threshold=0.05))
    assert result.extra["item_id"] == plate_id
    with pytest.raises(PermissionDenied):
        locate_item(ws, "Plates", plate_id, user="ann")
    with pytest.raises(PermissionDenied):  # a supervisor does not cut crops
        locate_item(ws, "Plates", plate_id, user="sam", purpose="cut")
    with pytest.raises(InputError, match="'predict' or 'cut'"):
        locate_item(ws, "Plates", plate_id, user="lee", purpose="<script>")
