"""The prediction review of located boxes (defectlab.learn.plate_review): who may store a located box as a
crop, what is stored (label, plate link, annotation source, audit), dismissals remembered, and the ways an
attacker would try to store a box that is not the model's."""

import json

import cv2
import numpy as np
import pytest
from synthetic import write_voc_plates

from defectlab.demo import make_plate_images
from defectlab.errors import ConflictError, InputError, NotFoundError, PermissionDenied
from defectlab.ingest import add_crops, add_plate, import_source
from defectlab.learn import train_project
from defectlab.learn.locate import LocateSettings
from defectlab.learn.plate_review import (
    box_decisions,
    decide_box,
    locate_plate,
    locate_plates,
    plate_memory,
    plate_summary,
    recorded_results,
    reopen_result,
)
from defectlab.store import (
    create_project,
    current_labels,
    get_item,
    items_frame,
    label_history,
    list_audit,
    open_workspace,
)
from defectlab.team import create_user, disable_user

CLASSES = ("crazing", "inclusion", "patches", "pitted_surface", "rolled-in_scale", "scratches")


@pytest.fixture(scope="module")
def team(tmp_path_factory):
    """Synthetic VOC plates with a trained run, a second project, and one account per role."""
    root = tmp_path_factory.mktemp("platereview")
    src = root / "src"
    write_voc_plates(src, 16, random_state=5)
    ws = open_workspace(root / "ws")
    import_source(ws, "Plates", src, layout="voc")
    run = train_project(ws, "Plates", model="logreg", preset="fast", folds=3, seed=0, n_jobs=1)
    create_project(ws, "Other", list(CLASSES))
    for k, (name, role) in enumerate((("sam", "supervisor"), ("ann", "annotator"), ("rita", "reviewer"),
                                      ("lee", "lead"), ("gone", "supervisor"))):
        create_user(ws, name, "a long enough password 1", role,
                    admin_password=None if k else "the admin password 1")
    disable_user(ws, "gone", by="local")  # a supervisor who left: their account may do nothing
    images = make_plate_images(16, 300, 400, random_state=77)
    return ws, run["run_id"], [cv2.imencode(".png", image)[1].tobytes() for image, _ in images]


def _plate(ws, data, user="sam", name="line3.png"):
    """A new plate (the next image of the fixture's list) uploaded on the Predict page."""
    plate_id, new = add_plate(ws, "Plates", data.pop(), name, user=user, purpose="predict")
    assert new
    return plate_id


def _result(ws, plate_id, user="sam"):
    # one low fixed threshold: the fixture's run (logreg on 16 small plates) calibrates its thresholds on a few
    # held-out plates, high enough to show no box on some new plates (and its scores differ between library
    # versions); these tests are about the review
    result = locate_plate(ws, "Plates", plate_id, user=user, settings=LocateSettings(threshold=0.05))
    assert result.boxes, "the synthetic plate should show at least one defect"
    return result


def test_a_supervisor_uploads_a_plate_on_predict_but_may_not_cut_crops(team):
    ws, _, data = team
    plate_id = _plate(ws, data)
    assert get_item(ws, plate_id)["role"] == "plate"
    with pytest.raises(PermissionDenied):
        add_plate(ws, "Plates", data[0], "x.png", user="sam")  # the Cut crops purpose stays cut_crops
    with pytest.raises(PermissionDenied):
        add_crops(ws, "Plates", plate_id, [("scratches", 0, 0, 50, 50)], user="sam")
    with pytest.raises(PermissionDenied):
        add_plate(ws, "Plates", data[0], "y.png", user="rita", purpose="predict")  # a reviewer does not predict
    with pytest.raises(InputError, match="purpose"):
        add_plate(ws, "Plates", data[0], "y.png", user="sam", purpose="anything")
    newest = list_audit(ws, action="plate.add", user="sam")[0]
    assert newest["details"]["purpose"] == "predict" and newest["details"]["item_id"] == plate_id


def test_supervisor_accepts_and_corrects_located_boxes(team):
    ws, run_id, data = team
    plate_id = _plate(ws, data)
    result = _result(ws, plate_id)
    rid = result.extra["result_id"]
    box = result.boxes[0]
    out = decide_box(ws, "Plates", rid, 0, "accept", user="sam")
    assert out["decision"] == "accepted" and out["label"] == box["label"]
    crop = get_item(ws, out["crop_id"])
    assert crop["parent_id"] == plate_id
    assert list(crop["box"]) == [box["x"], box["y"], box["x"] + box["w"], box["y"] + box["h"]]
    (ann,) = label_history(ws, out["crop_id"])
    assert (ann["label"], ann["source"], ann["user"], ann["run_id"]) == (box["label"], "model", "sam", run_id)
    assert ann["comment"].startswith("prediction review: confirmed")
    if len(result.boxes) > 1:
        other = next(c for c in CLASSES if c != result.boxes[1]["label"])
        out2 = decide_box(ws, "Plates", rid, 1, "correct", other, user="sam")
        assert out2["decision"] == "corrected" and current_labels(ws, 1)[out2["crop_id"]].label == other
        (ann,) = label_history(ws, out2["crop_id"])
        assert ann["source"] == "human" and "corrected from " + result.boxes[1]["label"] in ann["comment"]
    decisions = box_decisions(ws, rid, user="sam")
    assert decisions[0]["crop_id"] == out["crop_id"] and decisions[0]["user"] == "sam"
    audit = list_audit(ws, action="plates.box_decision", user="sam")
    assert audit[-1]["target"] == "line3.png" and audit[-1]["details"]["crop_id"] == out["crop_id"]
    assert audit[-1]["details"]["model_label"] == box["label"] and audit[-1]["details"]["decision"] == "accepted"
    # the same box twice is a conflict, nothing new is stored
    n = len(items_frame(ws, 1))
    with pytest.raises(ConflictError, match="already stored as crop"):
        decide_box(ws, "Plates", rid, 0, "correct", "crazing", user="sam")
    assert len(items_frame(ws, 1)) == n


def test_a_lead_correction_is_a_review_decision(team):
    ws, _, data = team
    result = _result(ws, _plate(ws, data), user="lee")
    k = len(result.boxes) - 1
    other = next(c for c in CLASSES if c != result.boxes[k]["label"])
    out = decide_box(ws, "Plates", result.extra["result_id"], k, "correct", other, user="lee")
    assert label_history(ws, out["crop_id"])[0]["source"] == "review"


@pytest.mark.parametrize("user", ["ann", "rita", "nobody", "gone"])
def test_annotators_reviewers_and_unknown_users_may_not_decide(team, user):
    ws, _, data = team
    result = _result(ws, _plate(ws, data))
    n = len(items_frame(ws, 1))
    for decision in ("accept", "correct", "dismiss"):
        with pytest.raises(PermissionDenied):
            decide_box(ws, "Plates", result.extra["result_id"], 0, decision, "crazing", user=user)
    with pytest.raises(PermissionDenied):
        locate_plate(ws, "Plates", result.extra["item_id"], user=user)
    assert len(items_frame(ws, 1)) == n
    assert not box_decisions(ws, result.extra["result_id"], user="lee")


def test_hostile_requests_are_refused_and_store_nothing(team):
    ws, _, data = team
    result = _result(ws, _plate(ws, data))
    rid = result.extra["result_id"]
    n = len(items_frame(ws, 1))
    with pytest.raises(InputError, match="another project"):
        decide_box(ws, "Other", rid, 0, "accept", user="sam")  # boxes of Plates into Other
    with pytest.raises(InputError, match="no box"):
        decide_box(ws, "Plates", rid, len(result.boxes), "accept", user="sam")
    with pytest.raises(NotFoundError):
        decide_box(ws, "Plates", rid + 1000, 0, "accept", user="sam")
    for bad in (-1, 1.5, True, "0"):
        with pytest.raises(InputError):
            decide_box(ws, "Plates", rid, bad, "accept", user="sam")
    with pytest.raises(InputError, match="decision"):
        decide_box(ws, "Plates", rid, 0, "store", user="sam")
    with pytest.raises(InputError, match="not a class"):
        decide_box(ws, "Plates", rid, 0, "correct", "../../etc", user="sam")
    with pytest.raises(InputError, match="not a class"):
        decide_box(ws, "Plates", rid, 0, "correct", ["crazing"], user="sam")
    assert len(items_frame(ws, 1)) == n and not box_decisions(ws, rid, user="sam")


def test_a_box_outside_the_image_is_refused(team):
    """A result whose box lies outside its plate (a tampered or stale row) stores nothing."""
    ws, run_id, data = team
    plate_id = _plate(ws, data)
    with ws.transaction() as conn:
        cur = conn.execute(
            "INSERT INTO locate_results (project_id, plate_id, run_id, user, created_at, width, height, boxes) "
            "VALUES (1, ?, ?, 'sam', '2026-01-01T00:00:00Z', 400, 300, ?)",
            (plate_id, run_id, json.dumps([{"x": 500, "y": 10, "w": 40, "h": 40, "label": "crazing", "score": 0.9},
                                           {"x": 10, "y": 10, "w": 0, "h": 40, "label": "crazing", "score": 0.9}])))
        rid = cur.lastrowid
    n = len(items_frame(ws, 1))
    with pytest.raises(InputError, match="outside the 400x300 image"):
        decide_box(ws, "Plates", rid, 0, "accept", user="sam")
    with pytest.raises(InputError, match="zero or negative area"):
        decide_box(ws, "Plates", rid, 1, "accept", user="sam")
    assert len(items_frame(ws, 1)) == n and not box_decisions(ws, rid, user="sam")


def test_a_dismissed_box_is_remembered_and_not_stored_without_a_background_class(team):
    ws, _, data = team
    plate_id = _plate(ws, data, name="dismiss.png")
    result = _result(ws, plate_id)
    rid = result.extra["result_id"]
    n = len(items_frame(ws, 1))
    out = decide_box(ws, "Plates", rid, 0, "dismiss", user="sam")
    assert out == {"decision": "dismissed", "label": None, "crop_id": None, "box": result.boxes[0], "place": None}
    assert len(items_frame(ws, 1)) == n
    with pytest.raises(ConflictError, match="already dismissed"):
        decide_box(ws, "Plates", rid, 0, "dismiss", user="sam")
    memory = plate_memory(ws, plate_id, user="sam")
    assert memory[-1]["decision"] == "dismissed" and memory[-1]["model_label"] == result.boxes[0]["label"]
    again = _result(ws, plate_id)  # the same plate searched again
    assert again.extra["earlier"][0]["decision"] == "dismissed"
    # a person may change their mind: accepting a dismissed box stores it
    assert decide_box(ws, "Plates", rid, 0, "accept", user="sam")["crop_id"] is not None
    with pytest.raises(ConflictError):
        decide_box(ws, "Plates", rid, 0, "dismiss", user="sam")
    with pytest.raises(Exception, match="append-only"), ws.transaction() as conn:
        conn.execute("DELETE FROM locate_decisions")


def test_a_dismissed_box_becomes_a_background_crop_when_the_project_has_that_class(tmp_path):
    from defectlab.store import add_class

    src = tmp_path / "src"
    write_voc_plates(src, 12, random_state=3)
    ws = open_workspace(tmp_path / "ws")
    import_source(ws, "Plates", src, layout="voc")
    train_project(ws, "Plates", model="logreg", preset="fast", folds=3, seed=0, n_jobs=1)
    add_class(ws, "Plates", "background")
    image = make_plate_images(1, 300, 400, random_state=77)[0][0]
    plate_id, _ = add_plate(ws, "Plates", cv2.imencode(".png", image)[1].tobytes(), "new.png", purpose="predict")
    # plain windows at 0.5 (not the box ranker, whose calibrated thresholds may find nothing on this
    # synthetic plate): this test is about what a dismissal stores, not about which boxes are found
    result = locate_plate(ws, "Plates", plate_id, settings=LocateSettings(method="windows"))
    assert result.boxes
    out = decide_box(ws, "Plates", result.extra["result_id"], 0, "dismiss")
    assert out["label"] == "background" and get_item(ws, out["crop_id"])["parent_id"] == plate_id
    assert current_labels(ws, 1)[out["crop_id"]].label == "background"
    assert "dismissed" in label_history(ws, out["crop_id"])[0]["comment"]


def _batch_images(n, seed):
    return [cv2.imencode(".png", image)[1].tobytes() for image, _ in make_plate_images(n, 300, 400, random_state=seed)]


def test_a_batch_of_full_images_is_stored_searched_and_recorded_plate_by_plate(team):
    """A shift's plates at once: each stored as a plate and searched with one run, each result recorded (its boxes
    can be decided); a corrupt file is named with its reason and the rest go on; the same picture twice is searched
    once; stored plates join the batch by id."""
    ws, run_id, _ = team
    good = _batch_images(3, 401)
    earlier = _plate(ws, _batch_images(1, 402), name="earlier.png")
    plates_before = set(items_frame(ws, 1, role="plate")["id"])
    calls = []
    files = [("划痕_001.png", good[0]), ("broken.jpg", b"\xff\xd8\xff" + b"\x00" * 30), ("b.png", good[1]),
             ("copy of 划痕.png", good[0]), ("c.png", bytearray(good[2]))]
    out = locate_plates(ws, "Plates", files,
                        item_ids=[earlier], user="sam", settings=LocateSettings(threshold=0.05),
                        progress=lambda *a: calls.append(a))
    assert out["run_id"] == run_id
    results = out["results"]
    assert [r.source for r in results] == ["划痕_001.png", "b.png", "c.png", "earlier.png"]
    new = set(items_frame(ws, 1, role="plate")["id"]) - plates_before
    assert {r.extra["item_id"] for r in results[:3]} == new and results[3].extra["item_id"] == earlier
    (bad,) = out["rejected"]
    assert bad["source"] == "broken.jpg" and bad["reason"] and bad["reason_key"].startswith("imaging.reason.")
    assert out["repeated"] == [{"source": "copy of 划痕.png", "item_id": results[0].extra["item_id"]}]
    assert calls == [(k, 6, name) for k, name in enumerate(
        ["划痕_001.png", "broken.jpg", "b.png", "copy of 划痕.png", "c.png", "earlier.png"], start=1)]
    # each result is recorded as locate_plate's, and one alone gives the same boxes
    assert len({r.extra["result_id"] for r in results}) == 4
    alone = locate_plate(ws, "Plates", results[1].extra["item_id"], user="sam", settings=LocateSettings(threshold=0.05))
    assert alone.boxes == results[1].boxes
    r = next(r for r in results if r.boxes)
    assert decide_box(ws, "Plates", r.extra["result_id"], 0, "accept", user="sam")["crop_id"] is not None
    summary = plate_summary(r)
    assert summary["n_boxes"] == len(r.boxes) == sum(summary["counts"].values())
    assert summary["top_score"] == max(b["score"] for b in r.boxes)
    assert summary["tiled"] is (r.extra["tiled"] is not None)
    assert list(summary["counts"].values()) == sorted(summary["counts"].values(), reverse=True)
    assert summary["result_id"] == r.extra["result_id"] and summary["source"] == r.source
    assert all("uploaded_as" not in r.extra for r in results)
    # found by a supervisor pass: the same picture uploaded again under another name showed under the old name
    again = locate_plates(ws, "Plates", [("shift_2_cam4.png", good[1])], user="sam",
                          settings=LocateSettings(threshold=0.05))["results"]
    assert again[0].source == "b.png" and again[0].extra["uploaded_as"] == "shift_2_cam4.png"


@pytest.mark.parametrize("user", ["ann", "rita", "gone", "nobody"])
def test_a_batch_is_refused_before_any_file_is_read_without_the_predict_role(team, user):
    ws, _, _ = team
    n = len(items_frame(ws, 1))
    with pytest.raises(PermissionDenied):
        locate_plates(ws, "Plates", [("a.png", _batch_images(1, 403)[0]), ("b.png", b"not an image")], user=user)
    assert len(items_frame(ws, 1)) == n


def test_a_hostile_batch_is_refused_whole_before_anything_is_stored(team):
    """Malformed entries and other projects' items are refused up front: no plate of the batch is stored and no
    result recorded, however late in the batch the bad entry comes."""
    ws, _, _ = team
    image = _batch_images(1, 404)[0]
    other = add_plate(ws, "Other", _batch_images(1, 405)[0], "other.png", user="lee")[0]
    n = len(items_frame(ws, 1))
    with ws.read() as conn:
        results = conn.execute("SELECT COUNT(*) FROM locate_results").fetchone()[0]
    bad_batches = [
        ({"files": [("a.png", image), "b.png"]}, "pair"),
        ({"files": [("a.png", image), ("b.png", "text, not bytes")]}, "pair"),
        ({"files": [("a.png", image), (b"name.png", image)]}, "pair"),
        ({"files": [("a.png", image)], "item_ids": [True]}, "item id"),
        ({"files": [("a.png", image)], "item_ids": [-1]}, "item id"),
        ({"files": [("a.png", image)], "item_ids": ["3"]}, "item id"),
        ({"files": [("a.png", image)], "item_ids": [other]}, "another project"),
    ]
    for kwargs, match in bad_batches:
        with pytest.raises(InputError, match=match):
            locate_plates(ws, "Plates", user="sam", **kwargs)
    with pytest.raises(NotFoundError):
        locate_plates(ws, "Plates", [("a.png", image)], item_ids=[10**9], user="sam")
    assert len(items_frame(ws, 1)) == n
    with ws.read() as conn:
        assert conn.execute("SELECT COUNT(*) FROM locate_results").fetchone()[0] == results


def test_plate_summary_of_a_plate_without_boxes_and_of_a_tiled_one():
    from defectlab.learn.locate import PlateResult

    empty = PlateResult(200, 100, [], ["a"], np.zeros((1, 2, 4), np.float32), 50, 8, source="x.png",
                        extra={"item_id": 7, "result_id": 3, "tiled": None})
    assert plate_summary(empty) == {"item_id": 7, "source": "x.png", "width": 200, "height": 100, "n_boxes": 0,
                                    "counts": {}, "top_score": None, "tiled": False, "result_id": 3}
    boxes = [{"x": 0, "y": 0, "w": 5, "h": 5, "label": lab, "score": s} for lab, s in
             (("b", 0.4), ("a", 0.9), ("b", 0.2), ("c", 0.5))]
    big = PlateResult(4000, 3000, boxes, ["a", "b", "c"], np.zeros((3, 2, 2), np.float32), 2000, 4,
                      extra={"tiled": (600, 400)})
    s = plate_summary(big)
    assert s["counts"] == {"b": 2, "a": 1, "c": 1} and list(s["counts"]) == ["b", "a", "c"]
    assert s["top_score"] == 0.9 and s["tiled"] is True and s["item_id"] is None


def test_a_box_that_repeats_a_crop_cut_by_hand_is_marked_and_cannot_be_stored_twice(team):
    """An annotator cut a defect on Cut crops; a supervisor's search then finds the same defect: the box is marked
    as that crop (with its label) and none of accept / correct / dismiss stores a second copy or a background
    crop over it."""
    ws, _, data = team
    plate_id = _plate(ws, data, name="cut_first.png")
    found = _result(ws, plate_id)
    b = found.boxes[0]
    n_before = len(items_frame(ws, 1))
    add_crops(ws, "Plates", plate_id, [("scratches", b["x"] + 1, b["y"], b["x"] + b["w"] + 1, b["y"] + b["h"])],
              user="lee")
    frame = items_frame(ws, 1)
    crop_id = int(frame.loc[frame["parent_id"] == plate_id, "id"].max())
    again = _result(ws, plate_id)
    xywh = (b["x"], b["y"], b["w"], b["h"])
    k = next(i for i, x in enumerate(again.boxes) if (x["x"], x["y"], x["w"], x["h"]) == xywh)
    assert again.extra["earlier"][k] == {"decision": "cut", "label": "scratches", "crop_id": crop_id}
    n = len(items_frame(ws, 1))
    assert n == n_before + 1
    for decision, label in (("accept", None), ("correct", "crazing"), ("dismiss", None)):
        with pytest.raises(ConflictError, match=f"repeats crop #{crop_id}"):
            decide_box(ws, "Plates", again.extra["result_id"], k, decision, label, user="sam")
    assert len(items_frame(ws, 1)) == n and not box_decisions(ws, again.extra["result_id"], user="sam")
    # the first search's box is the same defect: refused too, though that search came before the crop
    with pytest.raises(ConflictError, match="repeats crop"):
        decide_box(ws, "Plates", found.extra["result_id"], 0, "accept", user="sam")
    # listed and reopened later, the box is still the crop's: not open, no buttons
    row = next(r for r in recorded_results(ws, "Plates", user="sam") if r["result_id"] == again.extra["result_id"])
    assert row["n_open"] == len(again.boxes) - len(again.extra["earlier"])
    reopened = reopen_result(ws, "Plates", again.extra["result_id"], user="sam", with_map=False)
    assert reopened.extra["earlier"][k]["decision"] == "cut" and reopened.extra["earlier"][k]["crop_id"] == crop_id
    # once the crop is deleted the box may be stored again
    from defectlab.store import delete_items

    delete_items(ws, [crop_id], user="lee")
    assert decide_box(ws, "Plates", again.extra["result_id"], k, "accept", user="sam")["crop_id"] is not None


def test_earlier_searches_are_listed_with_their_open_boxes_and_reopened_with_their_decisions(team):
    ws, run_id, _ = team
    out = locate_plates(ws, "Plates", [(f"shift_{k}.png", d) for k, d in enumerate(_batch_images(2, 406))],
                        user="sam", settings=LocateSettings(threshold=0.05))
    first, second = out["results"]
    assert first.boxes and second.boxes
    decide_box(ws, "Plates", first.extra["result_id"], 0, "dismiss", user="sam")
    rows = {r["result_id"]: r for r in recorded_results(ws, "Plates", user="lee")}  # a lead sees what sam searched
    one, two = rows[first.extra["result_id"]], rows[second.extra["result_id"]]
    assert (one["source"], one["user"], one["run_id"], one["item_id"]) == ("shift_0.png", "sam", run_id,
                                                                          first.extra["item_id"])
    assert one["n_boxes"] == len(first.boxes) and one["n_open"] == len(first.boxes) - 1
    assert two["n_open"] == two["n_boxes"] == len(second.boxes)
    assert sum(one["counts"].values()) == one["n_boxes"]
    newest = recorded_results(ws, "Plates", user="sam", limit=2)
    assert [r["result_id"] for r in newest] == [second.extra["result_id"], first.extra["result_id"]]
    # reopened: the recorded boxes, the decision kept, and deciding goes on under the same result
    again = reopen_result(ws, "Plates", first.extra["result_id"], user="sam", with_map=False)
    assert again.boxes == first.boxes and again.extra["decided"] == {0: "dismissed"}
    assert again.extra["map"] is False and again.defect_map().shape == (1, 1)
    assert again.extra["recorded"]["user"] == "sam" and again.extra["expected"] is None
    with_map = reopen_result(ws, "Plates", first.extra["result_id"], user="sam")
    assert with_map.extra["map"] is True and with_map.boxes == first.boxes
    assert np.allclose(with_map.prob_map, first.prob_map)  # the same run on the same plate
    for k in range(1, len(first.boxes)):
        try:
            decide_box(ws, "Plates", first.extra["result_id"], k, "dismiss", user="sam")
        except ConflictError:  # a box that repeats a crop stored meanwhile
            pass
    assert all(r["result_id"] != first.extra["result_id"]
               for r in recorded_results(ws, "Plates", user="sam", open_only=True))
    # a newer search of a plate replaces its row; a deleted plate drops out
    newer = locate_plate(ws, "Plates", second.extra["item_id"], user="sam", settings=LocateSettings(threshold=0.05))
    ids = [r["result_id"] for r in recorded_results(ws, "Plates", user="sam")]
    assert newer.extra["result_id"] in ids and second.extra["result_id"] not in ids
    from defectlab.store import delete_items

    delete_items(ws, [second.extra["item_id"]], user="lee")
    assert newer.extra["result_id"] not in [r["result_id"] for r in recorded_results(ws, "Plates", user="sam")]
    with pytest.raises(InputError, match="deleted"):
        reopen_result(ws, "Plates", newer.extra["result_id"], user="sam")


@pytest.mark.parametrize("user", ["ann", "rita", "gone", "nobody"])
def test_earlier_searches_need_the_predict_role(team, user):
    ws, _, _ = team
    with pytest.raises(PermissionDenied):
        recorded_results(ws, "Plates", user=user)
    with pytest.raises(PermissionDenied):
        reopen_result(ws, "Plates", 1, user=user, with_map=False)  # refused before the result is looked up


def test_a_hostile_reopen_is_refused(team):
    ws, _, data = team
    if not recorded_results(ws, "Plates", user="sam"):  # run alone (or first on its worker): one search of its own
        _result(ws, _plate(ws, data))
    rid = recorded_results(ws, "Plates", user="sam")[0]["result_id"]
    with pytest.raises(InputError, match="another project"):
        reopen_result(ws, "Other", rid, user="sam", with_map=False)
    with pytest.raises(NotFoundError):
        reopen_result(ws, "Plates", 10**9, user="sam", with_map=False)
    for bad in (-1, True, "1", 1.5):
        with pytest.raises(InputError):
            reopen_result(ws, "Plates", bad, user="sam", with_map=False)
    for bad in (0, -3, True, "5"):
        with pytest.raises(InputError):
            recorded_results(ws, "Plates", user="sam", limit=bad)


def test_a_partly_reviewed_plate_gives_no_background_over_its_open_boxes_and_no_scorer_truth(team, monkeypatch):
    """A supervisor accepted one box of a plate and left the others: those may be defects. The next run's locator
    draws no "no defect" window over them, and its box scorer does not learn from the plate (its boxes are not
    all its defects); once every box is decided the plate counts again."""
    from defectlab.learn import locate as L
    from defectlab.learn.plate_review import open_boxes

    ws, _, data = team
    plate_id = _plate(ws, data, name="half_done.png")
    result = _result(ws, plate_id)
    assert len(result.boxes) >= 2
    decide_box(ws, "Plates", result.extra["result_id"], 0, "accept", user="sam")
    still = open_boxes(ws, [plate_id])[plate_id]
    expected = [k for k in range(1, len(result.boxes)) if k not in _result_repeats(ws, result)]
    assert len(still) == len(expected) >= 1
    assert all(b in L._plate_boxes(ws, [plate_id], with_open=True)[plate_id] for b in still)
    assert not any(b in L._plate_boxes(ws, [plate_id])[plate_id] for b in still)  # crops alone by default
    # the scorer's plates: a run trained now leaves the plate out
    seen = {}

    class Stop(Exception):
        pass

    def spy(truth, seed):
        seen["plates"] = set(truth)
        raise Stop

    run = train_project(ws, "Plates", model="logreg", preset="fast", folds=3, seed=1, n_jobs=1)
    monkeypatch.setattr(L, "_held_out_groups", spy)
    with pytest.raises(Stop):
        L.locator_for_run(ws, run["run_id"])
    assert plate_id not in seen["plates"] and len(seen["plates"]) >= 2
    # every box decided: nothing open, the plate is whole again
    for k in range(1, len(result.boxes)):
        try:
            decide_box(ws, "Plates", result.extra["result_id"], k, "dismiss", user="sam")
        except ConflictError:  # a box that repeats the accepted one's crop
            pass
    assert plate_id not in open_boxes(ws, [plate_id])


def _result_repeats(ws, result):
    """Indices of a result's boxes that repeat a crop of its plate now (not open)."""
    from defectlab.learn.plate_review import _plate_crops, repeated_place

    with ws.read() as conn:
        crops = _plate_crops(conn, result.extra["item_id"])
    return {k for k, b in enumerate(result.boxes) if repeated_place(b, crops) is not None}


def test_one_rule_for_a_box_that_repeats_a_crop_or_a_dismissed_box():
    """Found by a supervisor pass: after a retrain, a patches box over an accepted patches crop (IoU 0.27, half of
    the box inside the crop) was open on Predict while Cut crops hid it: one defect could become two crops."""
    from defectlab.learn.plate_review import repeated_place

    crop = (7, [0, 0, 100, 40], "patches")
    shifted = {"x": 50, "y": 0, "w": 100, "h": 40, "label": "patches"}  # IoU 1/3, half of it inside
    assert repeated_place(shifted, [crop]) == 7
    assert repeated_place({**shifted, "label": "scratches"}, [crop]) is None  # another class: another defect
    assert repeated_place({**shifted, "x": 80}, [crop]) is None  # a fifth inside: a neighbour
    same = {"x": 2, "y": 0, "w": 100, "h": 40, "label": "scratches"}  # the same place, any class
    assert repeated_place(same, [crop, ("dismissed", [300, 0, 20, 20], "pit")]) == 7
    assert repeated_place(same, []) is None


def test_a_correction_names_its_class(team):
    """Found by a supervisor pass: ``decide-box ... correct`` without ``--label`` stored the model's class as
    "accepted" (exit 0)."""
    ws, _, data = team
    result = _result(ws, _plate(ws, data, name="correct_no_label.png"))
    with pytest.raises(InputError, match="needs the class"):
        decide_box(ws, "Plates", result.extra["result_id"], 0, "correct", user="sam")
    assert not box_decisions(ws, result.extra["result_id"], user="sam")


def test_a_conflict_names_the_local_admin_in_the_readers_language(team):
    """Found by a supervisor pass: "...stored as crop #409 by local" on a Chinese page."""
    from defectlab import i18n
    from defectlab.messages import Message

    ws, _, data = team
    result = _result(ws, _plate(ws, data, user="local", name="local_first.png"), user="local")
    decide_box(ws, "Plates", result.extra["result_id"], 0, "accept", user="local")
    with pytest.raises(ConflictError) as exc:
        decide_box(ws, "Plates", result.extra["result_id"], 0, "accept", user="local")
    message = exc.value.args[0]
    assert isinstance(message, Message) and "by Local admin" in str(message)
    assert "本机管理员" in i18n.translate(message, lang="zh_CN")


def test_a_shifts_report_lists_every_box_and_what_became_of_it(team):
    """A supervisor's wish from a plates pass: the page's CSV covered crop batches only."""
    import csv
    import io

    from defectlab.learn.plate_review import REPORT_COLUMNS, results_csv

    ws, _, data = team
    hostile = _plate(ws, data, name="=HYPERLINK(1).png")  # a formula as a file name stays text
    result = _result(ws, hostile)
    rid = result.extra["result_id"]
    decide_box(ws, "Plates", rid, 0, "accept", user="sam")
    if len(result.boxes) > 1:
        decide_box(ws, "Plates", rid, 1, "dismiss", user="sam")
    text = results_csv(ws, "Plates", [rid], user="sam")
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text[1:])))
    assert list(rows[0]) == list(REPORT_COLUMNS) and len(rows) == len(result.boxes)
    assert rows[0]["source"] == "'=HYPERLINK(1).png"
    first = rows[0]
    assert (first["box"], first["label"], first["decision"], first["decided_by"]) == (
        "1", result.boxes[0]["label"], "accepted", "sam")
    assert first["stored_label"] == result.boxes[0]["label"] and first["crop_id"]
    if len(rows) > 1:
        assert rows[1]["decision"] == "dismissed"
    assert {r["decision"] for r in rows[2:]} <= {"open", "cut"}
    for who in ("ann", "rita"):  # neither predicts nor corrects predictions
        with pytest.raises(PermissionDenied):
            results_csv(ws, "Plates", [rid], user=who)
    with pytest.raises(NotFoundError):
        results_csv(ws, "Other", [rid], user="sam")  # another project's search
    with pytest.raises(NotFoundError):
        results_csv(ws, "Plates", [10**30], user="sam")
