"""Dismissed boxes feed the locator's background class (defectlab.learn.locate.dismissed_boxes): a box a
supervisor dismissed before a run was trained is a hard negative of that run's locator; later dismissals,
dismissals on deleted plates and boxes over a drawn defect are not."""

import cv2
import numpy as np
import pytest
from synthetic import write_voc_plates

from defectlab.demo import make_plate_images
from defectlab.ingest import add_plate, import_source
from defectlab.learn import train_project
from defectlab.learn.locate import LocateSettings, dismissed_boxes, locator_for_run
from defectlab.learn.plate_review import decide_box, locate_plate
from defectlab.store import get_project, open_workspace


@pytest.fixture(scope="module")
def flow(tmp_path_factory):
    """A trained run, a predict plate with two boxes dismissed and one accepted, then a second run."""
    root = tmp_path_factory.mktemp("hardneg")
    write_voc_plates(root / "src", 10, random_state=3)
    ws = open_workspace(root / "ws")
    import_source(ws, "Plates", root / "src", layout="voc")
    first = train_project(ws, "Plates", model="logreg", preset="fast", folds=3, seed=0, n_jobs=1)["run_id"]
    image, _ = make_plate_images(1, 300, 400, random_state=11)[0]
    plate_id, _ = add_plate(ws, "Plates", cv2.imencode(".png", image)[1].tobytes(), "line.png", purpose="predict")
    # a low threshold: this test is about what a dismissal teaches, not about which boxes are found
    loose = LocateSettings(method="windows", threshold=0.05)
    result = locate_plate(ws, "Plates", plate_id, run_id=first, settings=loose)
    assert len(result.boxes) >= 3, "the synthetic plate should give a few boxes"
    rid = result.extra["result_id"]
    # accept the best box; dismiss the next two that lie (mostly) outside it, so that they stay negatives
    accepted = 0
    dismissed = [k for k in range(1, len(result.boxes))
                 if _inside_share(result.boxes[k], result.boxes[accepted]) <= 0.10][:2]
    assert len(dismissed) == 2, "the synthetic plate should give boxes away from the best one"
    for k in dismissed:
        decide_box(ws, "Plates", rid, k, "dismiss")
    decide_box(ws, "Plates", rid, accepted, "accept")
    second = train_project(ws, "Plates", model="logreg", preset="fast", folds=3, seed=0, n_jobs=1)["run_id"]
    result.boxes[:] = [result.boxes[k] for k in (*dismissed, accepted)]  # dismissed, dismissed, accepted
    return ws, first, second, plate_id, result


def _inside_share(box, other):
    """Share of ``box``'s area inside ``other`` (both ``{"x", "y", "w", "h"}``)."""
    iw = max(0, min(box["x"] + box["w"], other["x"] + other["w"]) - max(box["x"], other["x"]))
    ih = max(0, min(box["y"] + box["h"], other["y"] + other["h"]) - max(box["y"], other["y"]))
    return iw * ih / max(box["w"] * box["h"], 1)


def test_dismissed_boxes_lists_the_latest_dismissals_of_live_plates(flow):
    ws, _, _, plate_id, result = flow
    found = dismissed_boxes(ws, get_project(ws, "Plates").id)
    assert dismissed_boxes(ws.root, get_project(ws, "Plates").id) == found  # a path works as every ws argument does
    assert list(found) == [plate_id]
    boxes = [box for box, _ in found[plate_id]]
    expected = [(b["x"], b["y"], b["x"] + b["w"], b["y"] + b["h"]) for b in result.boxes[:2]]
    assert boxes == [tuple(float(v) for v in e) for e in expected]
    assert dismissed_boxes(ws, get_project(ws, "Plates").id, before="2000-01-01") == {}


def test_a_run_trained_after_dismissals_learns_them_as_background(flow):
    ws, first, second, _, _ = flow
    _, classes, info_first = locator_for_run(ws, first)
    _, _, info_second = locator_for_run(ws, second)
    assert "background" in classes
    # the first run's locator was trained before the decisions (on the first locate)
    assert info_first["n_dismissed"] == 0
    # the accepted box became a crop of the plate: a dismissed box over it would be dropped, these two are not
    assert info_second["n_dismissed"] in (1, 2)
    assert info_second["n_background"] > info_second["n_dismissed"]


def test_a_dismissed_box_over_a_drawn_defect_is_not_a_negative(flow, tmp_path):
    ws, _, second, plate_id, result = flow
    from defectlab.learn.locate import _hard_negatives, _training_items
    from defectlab.learn.runs import get_run

    run = get_run(ws, second, with_items=True)
    rows = _training_items(ws, run)
    crops = _hard_negatives(ws, run, rows, cap=10)
    accepted = result.boxes[2]
    ax = np.array([accepted["x"], accepted["y"], accepted["x"] + accepted["w"], accepted["y"] + accepted["h"]])
    for k, box in enumerate(result.boxes[:2]):
        bx = np.array([box["x"], box["y"], box["x"] + box["w"], box["y"] + box["h"]])
        iw = max(0, min(ax[2], bx[2]) - max(ax[0], bx[0]))
        ih = max(0, min(ax[3], bx[3]) - max(ax[1], bx[1]))
        overlaps = iw * ih / (box["w"] * box["h"]) > 0.10
        assert overlaps or any(c.shape[:2] == (box["h"], box["w"]) for c in crops), k
    assert len(crops) <= 2
    assert _hard_negatives(ws, run, rows, cap=10, exclude=[plate_id]) == []
    assert _hard_negatives(ws, run, rows, cap=0) == []
