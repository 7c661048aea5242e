"""Box proposals from the class maps and the box scorer (defectlab.learn.box_proposals), and the locator's
fallback for projects with only a few boxed plates (every plate held out in turn)."""

import json

import cv2
import numpy as np
import pytest

from defectlab.demo import _voc_xml, make_plate_images
from defectlab.errors import ArtifactError, InputError
from defectlab.ingest import import_source
from defectlab.learn import train_project
from defectlab.learn.box_proposals import (
    KIND_STRUCTURE,
    PROPOSAL_FEATURES,
    BoxScorer,
    _new_model,
    proposal_targets,
    propose,
    structure_boxes,
    structure_scale,
)
from defectlab.learn.box_ranker import ERROR_KINDS, pairwise_overlap, suppress
from defectlab.learn.locate import (
    _LOCATOR_FORMAT,
    BACKGROUND,
    LOCATOR_DIR,
    SCORER_DIR,
    TIGHT_SUFFIX,
    LocateSettings,
    locate_image,
    locator_for_run,
    probability_map,
    remake_boxes,
    sliding_windows,
)
from defectlab.store import open_workspace

CLASSES = ["background", "band", "pit"]


def _plate(rng, h=120, w=160):
    """Window probabilities of a synthetic plate: a wide 'band' box and a small 'pit' box, noise elsewhere."""
    band = (0, int(rng.integers(10, 60)), w, 0)
    band = (band[0], band[1], band[2], band[1] + 30)
    px, py = int(rng.integers(0, w - 30)), int(rng.integers(0, h - 30))
    pit = (px, py, px + 24, py + 24)
    windows = sliding_windows(h, w, [24, 40], stride=0.5, max_windows=400)
    probs = np.tile([0.8, 0.1, 0.1], (len(windows), 1)) + rng.uniform(0, 0.1, (len(windows), 3))
    for col, (x0, y0, x1, y1) in ((1, band), (2, pit)):
        iw = np.clip(np.minimum(windows[:, 2], x1) - np.maximum(windows[:, 0], x0), 0, None)
        ih = np.clip(np.minimum(windows[:, 3], y1) - np.maximum(windows[:, 1], y0), 0, None)
        inside = iw * ih / ((windows[:, 2] - windows[:, 0]) * (windows[:, 3] - windows[:, 1]))
        probs[:, col] += 3 * inside
    probs /= probs.sum(axis=1, keepdims=True)
    truth = [("band", tuple(float(v) for v in band)), ("pit", tuple(float(v) for v in pit))]
    return probs, windows, h, w, truth


def _proposals(plate):
    probs, windows, h, w, truth = plate
    pmap, cell = probability_map(probs, windows, h, w)
    return (*propose(probs, windows, CLASSES, pmap, cell, h, w), truth)


def test_propose_follows_the_map_and_adds_the_whole_image_and_the_windows():
    pm = np.zeros((3, 30, 40), np.float32)
    pm[0] = 1.0
    pm[1, 5:10, :] = 0.9  # a band across the image, cells of 4 pixels
    pm[0, 5:10, :] = 0.1
    windows = np.array([[0, 0, 40, 40], [80, 80, 120, 120]])
    probs = np.array([[0.2, 0.7, 0.1], [0.2, 0.1, 0.7]])
    boxes, labels, feats = propose(probs, windows, CLASSES, pm, 4, 120, 160)
    assert feats.shape == (len(boxes), len(PROPOSAL_FEATURES)) and np.isfinite(feats).all()
    assert set(labels.tolist()) <= {1, 2}  # never the background
    found = {(tuple(b), int(c)) for b, c in zip(boxes.tolist(), labels.tolist(), strict=True)}
    assert ((0, 20, 160, 40), 1) in found  # the band's component, in pixels
    assert ((0, 0, 160, 120), 1) in found and ((0, 0, 160, 120), 2) in found  # the whole image, every class
    assert ((0, 0, 40, 40), 1) in found and ((80, 80, 120, 120), 2) in found  # windows, by their best class
    k = next(i for i in range(len(boxes)) if tuple(boxes[i]) == (0, 20, 160, 40) and labels[i] == 1)
    assert feats[k, 0] == pytest.approx(0.9) and feats[k, 4] == pytest.approx(1.0)  # inside, coverage
    truth = [("band", (0.0, 20.0, 160.0, 40.0))]
    y = proposal_targets(boxes, labels, CLASSES, truth)
    assert y[k] and not y[labels == 2].any()


def test_propose_on_an_empty_map_still_answers():
    pm = np.zeros((3, 4, 4), np.float32)
    pm[0] = 1.0
    boxes, labels, feats = propose(np.zeros((0, 3)), np.zeros((0, 4)), CLASSES, pm, 2, 8, 8)
    assert boxes.tolist() == [[0, 0, 8, 8], [0, 0, 8, 8]] and labels.tolist() == [1, 2]
    assert np.isfinite(feats).all()


@pytest.fixture
def tight_wins(monkeypatch):
    """The out-of-fold comparison made to prefer the tight score (on these synthetic plates it need not):
    for the tests of what a scorer with tight trees stores, loads and scores."""
    import defectlab.learn.box_proposals as bp

    # P(match) * sqrt(P(tight)) <= P(match): the lower total wins
    monkeypatch.setattr(bp, "_boxes_f1", lambda plates, scores, *a: -sum(float(np.sum(v)) for v in scores))


def test_box_scorer_drops_a_same_class_box_35_percent_inside_a_kept_one():
    # B lies 40 % inside A (IoU 0.13): the windows' suppression (half inside) keeps it, softly lowered; the box
    # scorer's (35 %, locator format 18) drops it -- a piece of a defect another box already holds. A box of
    # the other class at B's place, and a box beside A, stay.
    boxes = np.array([[0, 0, 100, 100], [60, 0, 160, 40], [60, 0, 160, 40], [120, 60, 200, 100]])
    labels, scores = np.array([1, 1, 2, 1]), np.array([0.9, 0.8, 0.7, 0.6])
    import defectlab.learn.box_proposals as bp
    from defectlab.learn.box_ranker import suppress

    assert len(suppress(scores, labels, boxes, CLASSES, 0.3, sigma=0.05)) == 4
    kept = bp._suppressed(scores, labels, boxes, CLASSES, 0.3)
    assert [(b["x"], b["label"]) for b in kept] == [(0, "band"), (60, "pit"), (120, "band")]


def test_box_scorer_learns_the_boxes_and_round_trips(tight_wins):
    rng = np.random.default_rng(0)
    train = [_proposals(_plate(rng)) for _ in range(16)]
    scorer = BoxScorer.fit(train, CLASSES, BACKGROUND, random_state=0)
    assert scorer is not None and scorer.classes == ["band", "pit"] and 0 < scorer.threshold < 1
    hits = total = found = 0
    from defectlab.learn.box_ranker import count_matches

    for _ in range(6):
        boxes, labels, feats, truth = _proposals(_plate(rng))
        out = scorer.boxes(boxes, labels, feats, CLASSES)
        hits += count_matches(out, truth)
        total += len(truth)
        found += len(out)
    assert hits / total >= 0.8 and hits / max(found, 1) >= 0.6, (hits, total, found)
    # the tight trees (IoU >= 0.5) were learned and enter the score: P(match) * sqrt(P(tight))
    assert scorer.tight is not None and scorer.meta()["tight"] is True
    names = np.asarray(CLASSES)[labels]
    design = np.column_stack([feats, (names[:, None] == np.asarray(scorer.classes)[None, :]).astype(float)])
    expected = scorer.model.predict_proba(design)[:, 1] * np.sqrt(scorer.tight.predict_proba(design)[:, 1])
    np.testing.assert_allclose(scorer.score(feats, names), expected)
    # its boxes: the candidates softly suppressed (sigma 0.05; dropped at IoU 0.3 or 35 % inside) at its
    # thresholds, by its scores
    from defectlab.learn.box_ranker import suppress

    scores, th = scorer.score(feats, names), scorer.thresholds_for(names)
    assert out == suppress(scores, labels, boxes, CLASSES, th, max_iou=0.3, max_inside=0.35, sigma=0.05) != []
    again = BoxScorer.from_meta(json.loads(json.dumps(scorer.meta())), scorer.model, tight_model=scorer.tight)
    assert again.threshold == scorer.threshold and again.class_thresholds == scorer.class_thresholds
    np.testing.assert_allclose(again.score(feats, names), scorer.score(feats, names))
    for bad in ({**scorer.meta(), "threshold": 1.5}, {**scorer.meta(), "classes": ["band"]},
                {**scorer.meta(), "class_thresholds": {"ghost": 0.5}}, {"classes": 3},
                {**scorer.meta(), "plate_size": [0, 5]}, {**scorer.meta(), "plate_size": "big"},
                {**scorer.meta(), "plate_size": [10**12, 10]}, {**scorer.meta(), "plate_size": [7]}):
        with pytest.raises(ArtifactError):
            BoxScorer.from_meta(bad, scorer.model, tight_model=scorer.tight)
    # a meta that claims tight trees without them, trees it does not claim, tight trees of another width
    narrow = _new_model(0, 5).fit(design[:, 1:], np.arange(len(design)) % 2)
    for meta, tight in ((scorer.meta(), None), ({**scorer.meta(), "tight": False}, scorer.tight),
                        (scorer.meta(), narrow), ({**scorer.meta(), "tight": "yes"}, scorer.tight)):
        with pytest.raises(ArtifactError):
            BoxScorer.from_meta(meta, scorer.model, tight_model=tight)


def test_box_scorer_without_tight_candidates_scores_by_match_alone(monkeypatch):
    """No candidate fitting a box at the tight IoU leaves the scorer without tight trees: score = P(match)."""
    import defectlab.learn.box_proposals as bp

    monkeypatch.setattr(bp, "_TIGHT_IOU", 1.01)  # no box reaches it
    rng = np.random.default_rng(3)
    train = [_proposals(_plate(rng)) for _ in range(12)]
    scorer = BoxScorer.fit(train, CLASSES, BACKGROUND, random_state=0)
    assert scorer is not None and scorer.tight is None and scorer.meta()["tight"] is False
    _, labels, feats, _ = train[0]
    names = np.asarray(CLASSES)[labels]
    design = np.column_stack([feats, (names[:, None] == np.asarray(scorer.classes)[None, :]).astype(float)])
    np.testing.assert_allclose(scorer.score(feats, names), scorer.model.predict_proba(design)[:, 1])
    again = BoxScorer.from_meta(json.loads(json.dumps(scorer.meta())), scorer.model)
    assert again.tight is None


def test_box_scorer_learns_tight_trees_only_from_eight_plates(tight_wins):
    rng = np.random.default_rng(4)
    plates = [_proposals(_plate(rng)) for _ in range(8)]
    assert BoxScorer.fit(plates[:7], CLASSES, BACKGROUND, random_state=0).tight is None
    assert BoxScorer.fit(plates, CLASSES, BACKGROUND, random_state=0).tight is not None


def test_box_scorer_keeps_tight_trees_only_when_they_make_better_boxes_out_of_fold(monkeypatch):
    import defectlab.learn.box_proposals as bp

    rng = np.random.default_rng(4)
    plates = [_proposals(_plate(rng)) for _ in range(10)]
    seen = []

    def f1(plates_, scores, classes, threshold, per_class):
        seen.append((threshold, dict(per_class)))
        return sum(float(np.sum(v)) for v in scores) * sign  # sign 1: the tight score (lower) loses

    monkeypatch.setattr(bp, "_boxes_f1", f1)
    sign = 1
    plain = BoxScorer.fit(plates, CLASSES, BACKGROUND, random_state=0)
    assert plain.tight is None and len(seen) == 2
    assert (plain.threshold, plain.class_thresholds) == seen[1]  # the match-only score's own thresholds
    sign, seen[:] = -1, []
    tight = BoxScorer.fit(plates, CLASSES, BACKGROUND, random_state=0)
    assert tight.tight is not None and (tight.threshold, tight.class_thresholds) == seen[0]


def test_boxes_f1_counts_label_matched_boxes_at_each_class_threshold():
    from defectlab.learn.box_proposals import _boxes_f1

    boxes = np.array([[0, 0, 10, 10], [20, 20, 30, 30], [50, 50, 60, 60]])
    labels = np.array([1, 2, 1])  # band, pit, band
    truth = [("band", (0, 0, 10, 10)), ("pit", (20, 20, 30, 30))]
    scores = np.array([0.9, 0.4, 0.6])
    plates = [(boxes, labels, None, truth)]
    # one threshold 0.5: the band hit and the stray band (2 boxes, 1 hit) -> F1 = 2 * 1 / (2 + 2)
    assert _boxes_f1(plates, [scores], CLASSES, 0.5, {}) == pytest.approx(0.5)
    # pit from 0.3, band from 0.7: both hits, no stray -> 1
    assert _boxes_f1(plates, [scores], CLASSES, 0.5, {"pit": 0.3, "band": 0.7}) == pytest.approx(1.0)
    assert _boxes_f1([(boxes[:0], labels[:0], None, [])], [scores[:0]], CLASSES, 0.5, {}) == 0.0


def test_the_estimate_counts_label_matched_boxes_at_each_threshold_and_at_the_calibrated_ones():
    import defectlab.learn.box_proposals as bp

    boxes = np.array([[0, 0, 10, 10], [50, 50, 60, 60], [100, 100, 110, 110]])
    truth = [("band", (0.0, 0.0, 10.0, 10.0)), ("pit", (100.0, 100.0, 110.0, 110.0)),
             ("pit", (200.0, 200.0, 210.0, 210.0))]
    plates = [(boxes, np.array([1, 1, 2]), None, truth), (boxes[:0], np.zeros(0, np.int64), None, [])]
    scores = [np.array([0.9, 0.3, 0.6]), np.zeros(0)]
    est = bp._estimate(plates, scores, CLASSES, ["band", "pit"], 0.2, {"pit": 0.7})
    at = dict(zip(est["thresholds"], zip(est["recall"], est["precision"], strict=True), strict=True))
    assert at[0.5] == (round(2 / 3, 4), 1.0)  # the band and the pit found, nothing wrong
    assert at[0.2] == (round(2 / 3, 4), round(2 / 3, 4))  # plus a band box on nothing
    assert at[0.95] == (0.0, 1.0)  # no box: nothing wrong
    assert est["calibrated"] == [round(1 / 3, 4), 0.5]  # both band boxes (0.2), the pit below its 0.7
    # where those calibrated boxes went wrong: the pit scored below its 0.7, no pit candidate near the far pit,
    # the band box at (50, 50) far from the plate's band
    assert est["errors"] == {**dict.fromkeys(ERROR_KINDS, 0), "missed_low_score": 1, "missed_no_candidate": 1,
                             "wrong_elsewhere": 1}
    scorer = BoxScorer(["band", "pit"], None, 0.2, {"pit": 0.7}, estimate=est)
    assert scorer.expected() == tuple(est["calibrated"])
    assert scorer.expected(0.5) == at[0.5]
    lo, hi = np.array(at[0.5]), np.array(at[0.55])
    np.testing.assert_allclose(scorer.expected(0.525), (lo + hi) / 2)
    assert scorer.expected(0.005) is None and scorer.expected(0.99) is None  # outside the recorded thresholds
    assert BoxScorer(["band", "pit"], None, 0.2).expected() is None  # a scorer stored before the estimate


def test_box_scorer_stores_its_estimate_and_refuses_a_damaged_one():
    rng = np.random.default_rng(3)
    plates = [_proposals(_plate(rng)) for _ in range(10)]
    scorer = BoxScorer.fit(plates, CLASSES, BACKGROUND, random_state=0)
    est = scorer.estimate
    assert len(est["thresholds"]) == len(est["recall"]) == len(est["precision"]) and est["thresholds"][0] == 0.01
    assert np.all(np.diff(est["recall"]) <= 0)  # a higher threshold keeps a subset of the boxes
    assert 0 < est["calibrated"][0] <= 1 and 0 < est["calibrated"][1] <= 1
    tights = {"tight_model": scorer.tight}
    again = BoxScorer.from_meta(json.loads(json.dumps(scorer.meta())), scorer.model, **tights)
    assert again.estimate == est and again.expected(0.3) == scorer.expected(0.3)
    old = {k: v for k, v in scorer.meta().items() if k != "estimate"}  # stored before estimates: still loads
    assert BoxScorer.from_meta(old, scorer.model, **tights).expected() is None
    # the breakdown of the calibrated boxes adds up to what the calibrated recall and precision leave out
    errors, n_true = est["errors"], sum(len(p[3]) for p in plates)
    assert set(errors) == set(ERROR_KINDS) and all(type(v) is int and v >= 0 for v in errors.values())
    tp = round(est["calibrated"][0] * n_true)
    assert sum(v for k, v in errors.items() if k.startswith("missed_")) == n_true - tp
    assert sum(v for k, v in errors.items() if k.startswith("wrong_")) == round(tp / est["calibrated"][1]) - tp
    older = {k: v for k, v in est.items() if k != "errors"}  # stored before the breakdown: still loads
    assert "errors" not in BoxScorer.from_meta({**scorer.meta(), "estimate": older}, scorer.model, **tights).estimate
    hostile = [{**errors, "missed_low_score": -1}, {**errors, "missed_low_score": 1.5},
               {**errors, "missed_low_score": "3"}, {**errors, "missed_low_score": True},
               {**errors, "missed_low_score": 10**12}, {**errors, "<script>": 1},
               {k: v for k, v in errors.items() if k != "wrong_piece"}, [1, 2, 3], "errors"]
    for bad in hostile:
        with pytest.raises(ArtifactError):
            BoxScorer.from_meta({**scorer.meta(), "estimate": {**est, "errors": bad}}, scorer.model, **tights)
    for bad in ("high", {**est, "recall": [2.0] * len(est["recall"])}, {**est, "recall": est["recall"][:-1]},
                {**est, "thresholds": est["thresholds"][::-1]}, {**est, "calibrated": [0.5]},
                {**est, "thresholds": [0.0, *est["thresholds"][1:]]}, {**est, "precision": None},
                {k: v for k, v in est.items() if k != "calibrated"},
                {"thresholds": [i / 1000 for i in range(1, 999)], "recall": [0.5] * 998, "precision": [0.5] * 998,
                 "calibrated": [0.5, 0.5]}):
        with pytest.raises(ArtifactError):
            BoxScorer.from_meta({**scorer.meta(), "estimate": bad}, scorer.model, **tights)


def test_box_scorer_needs_two_plates_and_both_kinds_of_candidates():
    rng = np.random.default_rng(1)
    one = _proposals(_plate(rng))
    assert BoxScorer.fit([one], CLASSES) is None
    no_truth = [(*p[:3], []) for p in (one, _proposals(_plate(rng)))]
    assert BoxScorer.fit(no_truth, CLASSES) is None


@pytest.fixture(scope="module")
def few(tmp_path_factory):
    """A project with only four boxed plates (as on the demo or after a few plates on the Cut-crops page)."""
    root = tmp_path_factory.mktemp("few")
    (root / "train" / "images").mkdir(parents=True)
    (root / "train" / "annotations").mkdir(parents=True)
    plates = make_plate_images(n_plates=6, height=240, width=320, random_state=8)
    for k, (image, boxes) in enumerate(plates[:4]):
        cv2.imwrite(str(root / "train" / "images" / f"p{k}.png"), image)
        (root / "train" / "annotations" / f"p{k}.xml").write_text(
            _voc_xml(f"p{k}.png", image.shape[0], image.shape[1], boxes), encoding="utf-8")
    ws = open_workspace(root / "ws")
    import_source(ws, "Plates", root / "train", layout="voc")
    run_id = train_project(ws, "Plates", model="logreg", preset="fast", folds=3, seed=0, n_jobs=1)["run_id"]
    return ws, run_id, plates[4:]


def test_a_project_with_four_plates_gets_a_ranker_and_a_scorer_from_every_plate(few):
    ws, run_id, new = few
    model, classes, info = locator_for_run(ws, run_id)
    assert info["n_ranker_plates"] == 4  # each plate scored by a locator that did not see it
    assert info["ranker"] is not None and isinstance(info["scorer"], BoxScorer)
    assert (ws.runs_dir / run_id / LOCATOR_DIR / SCORER_DIR / "meta.json").exists()
    image = new[0][0]
    res = locate_image(image, model, classes, info["spec"], info["sides"], LocateSettings(),
                       ranker=info["ranker"], scorer=info["scorer"])
    assert res.boxes == remake_boxes(res, LocateSettings(method="proposals"), scorer=info["scorer"])
    assert all(b["label"] != BACKGROUND and 0 <= b["score"] <= 1 for b in res.boxes)
    # the boxes are the crop stage's when the plate's candidates were scored by it, else the first stage's
    stage = info["scorer"].crop if res.proposals is not None and info["scorer"].crop is not None else info["scorer"]
    assert all(b["score"] >= stage.thresholds_for([b["label"]])[0] for b in res.boxes)
    # and what such boxes were like on the plates the scorer learned from comes with them
    assert res.extra["expected"] == stage.expected() and res.extra["expected"] is not None
    assert res.extra["estimate"] == stage.estimate  # the whole curve, for a threshold slider
    at = locate_image(image, model, classes, info["spec"], info["sides"], LocateSettings(threshold=0.3),
                      ranker=info["ranker"], scorer=info["scorer"])
    assert at.extra["expected"] == stage.expected(0.3)
    ranked = locate_image(image, model, classes, info["spec"], info["sides"], LocateSettings(method="ranked"),
                          ranker=info["ranker"], scorer=info["scorer"])
    assert ranked.extra["expected"] is None and ranked.extra["estimate"] is None  # the ranker has no such numbers
    with pytest.raises(InputError, match="box scorer"):
        remake_boxes(res, LocateSettings(method="proposals"), ranker=info["ranker"])


def test_a_damaged_scorer_is_not_trusted_and_the_locator_is_trained_again(few):
    ws, run_id, _ = few
    _, _, info = locator_for_run(ws, run_id)
    scorer_dir = ws.runs_dir / run_id / LOCATOR_DIR / SCORER_DIR
    model_file = next(p for p in scorer_dir.iterdir() if p.suffix == ".txt")
    model_file.write_text(model_file.read_text().replace("Tree=0", "Tree=0\nnum_leaves=999999", 1))
    _, _, again = locator_for_run(ws, run_id)
    assert isinstance(again["scorer"], BoxScorer) and again["scorer"].meta() == info["scorer"].meta()
    meta_path = ws.runs_dir / run_id / LOCATOR_DIR / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["extra"]["scorer"]["threshold"] = 7
    meta_path.write_text(json.dumps(meta))
    _, _, third = locator_for_run(ws, run_id)
    assert 0 < third["scorer"].threshold < 1


def test_a_large_image_is_proposed_tile_by_tile_like_the_plates_the_scorer_knows():
    from defectlab.learn.box_proposals import propose_tiled

    rng = np.random.default_rng(2)
    probs, windows, h, w, _ = _plate(rng)
    pmap, cell = probability_map(probs, windows, h, w)
    same = propose_tiled(probs, windows, CLASSES, pmap, cell, h, w, plate_size=(w, h))
    for a, b in zip(same, propose(probs, windows, CLASSES, pmap, cell, h, w), strict=True):
        np.testing.assert_array_equal(a, b)  # a plate-sized image is not tiled
    # four plates side by side (2 x 2): proposals stay inside their tile, each tile has its whole-image box
    big_w, big_h = 2 * w, 2 * h
    shifted = [windows + np.array([dx, dy, dx, dy]) for dy in (0, h) for dx in (0, w)]
    big_windows, big_probs = np.vstack(shifted), np.vstack([probs] * 4)
    big_map, big_cell = probability_map(big_probs, big_windows, big_h, big_w)
    boxes, labels, feats = propose_tiled(big_probs, big_windows, CLASSES, big_map, big_cell, big_h, big_w,
                                         plate_size=(w, h))
    assert len(boxes) and np.isfinite(feats).all() and set(labels.tolist()) <= {1, 2}
    tile_x, tile_y = boxes[:, 0] // w, boxes[:, 1] // h
    assert ((boxes[:, 2] - 1) // w == tile_x).all() and ((boxes[:, 3] - 1) // h == tile_y).all()
    wholes = {tuple(b) for b, k in zip(boxes.tolist(), feats[:, PROPOSAL_FEATURES.index("kind")], strict=True)
              if k == 2}
    assert wholes == {(0, 0, w, h), (w, 0, 2 * w, h), (0, h, w, 2 * h), (w, h, 2 * w, 2 * h)}
    assert propose_tiled(big_probs, big_windows, CLASSES, big_map, big_cell, big_h, big_w)[0].shape[1] == 4


def test_on_a_much_larger_image_candidate_sizes_are_measured_against_the_plates_the_scorer_knows():
    rng = np.random.default_rng(2)
    probs, windows, h, w, _ = _plate(rng)
    pmap, cell = probability_map(probs, windows, h, w)
    alone = propose(probs, windows, CLASSES, pmap, cell, h, w)
    same = propose(probs, windows, CLASSES, pmap, cell, h, w, plate_size=(w, h))
    for a, b in zip(same, alone, strict=True):
        np.testing.assert_array_equal(a, b)  # a plate-sized image: nothing changes
    big_w, big_h = 2 * w, 2 * h
    shifted = [windows + np.array([dx, dy, dx, dy]) for dy in (0, h) for dx in (0, w)]
    big_windows, big_probs = np.vstack(shifted), np.vstack([probs] * 4)
    big_map, big_cell = probability_map(big_probs, big_windows, big_h, big_w)
    sizes = [PROPOSAL_FEATURES.index(c) for c in ("log_width", "log_height", "area")]
    for plate_size, factor in (((w, h), 1.0), (None, 2.0)):
        boxes, _, feats = propose(big_probs, big_windows, CLASSES, big_map, big_cell, big_h, big_w,
                                  plate_size=plate_size)
        kind = feats[:, PROPOSAL_FEATURES.index("kind")]
        for k in np.flatnonzero(kind == 0)[:20]:  # windows: each one's size is the window's, in pixels
            bw, bh = boxes[k, 2] - boxes[k, 0], boxes[k, 3] - boxes[k, 1]
            expect = [np.log(bw / w / factor), np.log(bh / h / factor), bw * bh / (w * h * factor ** 2)]
            np.testing.assert_allclose(feats[k, sizes], expect, rtol=0.05, atol=0.05)


def test_suppression_can_keep_one_class_a_spot_after_each_class_kept_its_own_best():
    boxes = np.array([[0, 0, 40, 40],  # pit, best
                      [20, 0, 60, 40],  # band on the same spot (IoU 0.33 with the pit)
                      [36, 0, 76, 40],  # band shifted against it (IoU 0.43), barely touching the pit (0.05)
                      [100, 0, 140, 40]])  # band elsewhere
    scores, labels, classes = [0.9, 0.8, 0.7, 0.6], [1, 2, 2, 2], ["bg", "pit", "band"]
    plain = suppress(scores, labels, boxes, classes, 0.5, sigma=0.05)
    assert [(b["label"], b["x"]) for b in plain] == [("pit", 0), ("band", 20), ("band", 100)]
    # the band on the pit goes, and its shifted copy (suppressed by it first) does not take its place
    for sigma in (0.05, None):
        one = suppress(scores, labels, boxes, classes, 0.5, sigma=sigma, other_iou=0.1)
        assert [(b["label"], b["x"]) for b in one] == [("pit", 0), ("band", 100)]
    # boxes of other classes that barely touch are both kept
    apart = suppress([0.9, 0.8], [1, 2], np.array([[0, 0, 40, 40], [36, 0, 76, 40]]), classes, 0.5, other_iou=0.1)
    assert len(apart) == 2
    for bad in (-0.1, 1.5, float("nan"), "0.1", True):  # a clear refusal, not a silent no-op or every box gone
        with pytest.raises(InputError, match="IoU"):
            suppress(scores, labels, boxes, classes, 0.5, other_iou=bad)


# -- the crop stage: each candidate's own pixels ----------------------------------------------------

def test_crop_columns_name_the_crops_class_evidence():
    from defectlab.learn.box_proposals import CROP_FEATURES, crop_columns

    probs = np.array([[0.1, 0.6, 0.3], [0.7, 0.2, 0.1], [0.0, 0.5, 0.5]])
    cols = crop_columns(probs, np.array([2, 1, 1]), CLASSES, BACKGROUND)
    assert cols.shape == (3, len(CROP_FEATURES))
    np.testing.assert_allclose(cols[0], [0.3, 0.6, 0.1, 1])  # own, best other, background, rank
    np.testing.assert_allclose(cols[1], [0.2, 0.1, 0.7, 0])
    np.testing.assert_allclose(cols[2], [0.5, 0.5, 0.0, 0])  # a tie is not ranked below
    no_bg = crop_columns(probs[:, 1:], np.array([1, 0, 0]), ["band", "pit"], BACKGROUND)
    assert (no_bg[:, 2] == 0).all()


def test_crop_numbers_reuse_the_windows_and_cut_every_other_box_once():
    from defectlab.learn.box_proposals import crop_numbers, window_index

    image = np.arange(60 * 80, dtype=np.uint8).reshape(60, 80)
    windows = np.array([[0, 0, 20, 20], [10, 10, 30, 30]])  # cell 4: the second becomes (8, 8, 32, 32)
    wx, wp = np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[0.5, 0.3, 0.2], [0.2, 0.2, 0.6]])
    boxes = np.array([[0, 0, 20, 20], [8, 8, 32, 32], [0, 0, 80, 60], [0, 0, 80, 60], [4, 4, 12, 12]])
    labels = np.array([1, 2, 1, 2, 1])
    np.testing.assert_array_equal(window_index(boxes, windows, 4, 60, 80), [0, 1, -1, -1, -1])
    seen = []

    def classify(crops):
        seen.extend(c.shape for c in crops)
        return np.array([[float(c.shape[0]), float(c.shape[1])] for c in crops]), np.tile([0.1, 0.2, 0.7],
                                                                                         (len(crops), 1))

    cols = crop_numbers(boxes, labels, windows, wx, wp, CLASSES, 4, image, classify, BACKGROUND)
    assert sorted(seen) == [(8, 8), (60, 80)]  # the whole image once for its two classes; windows never
    assert cols.shape == (5, 4 + 2)
    np.testing.assert_allclose(cols[0], [0.3, 0.2, 0.5, 0, 1.0, 2.0])
    np.testing.assert_allclose(cols[1], [0.6, 0.2, 0.2, 0, 3.0, 4.0])
    np.testing.assert_allclose(cols[2, 4:], [60, 80])
    np.testing.assert_allclose(cols[3, :2], [0.7, 0.2])


def _crop_plates(rng, n):
    """Synthetic plates with crop columns: the crop stage sees each candidate's 'pixels' as its true IoU."""
    out = []
    for _ in range(n):
        boxes, labels, feats, truth = _proposals(_plate(rng))
        y = proposal_targets(boxes, labels, CLASSES, truth)
        cols = np.column_stack([rng.uniform(0, 1, (len(boxes), 4)), y + rng.normal(0, 0.3, len(boxes)),
                                rng.normal(size=len(boxes))])
        out.append((boxes, labels, np.column_stack([feats, cols]), truth))
    return out


def test_a_crop_stage_round_trips_and_a_damaged_one_is_refused(tight_wins):
    rng = np.random.default_rng(3)
    plates = _crop_plates(rng, 12)
    scorer = BoxScorer.fit([(b, lab, f[:, :len(PROPOSAL_FEATURES)], t) for b, lab, f, t in plates], CLASSES)
    scorer.crop = BoxScorer.fit(plates, CLASSES, n_crop=2)
    assert scorer.crop.n_crop == 2 and scorer.crop.n_columns == len(PROPOSAL_FEATURES) + 4 + 2
    meta = json.loads(json.dumps(scorer.meta()))
    assert meta["tight"] is True and meta["crop"]["tight"] is True
    tights = scorer.tight, scorer.crop.tight
    again = BoxScorer.from_meta(meta, scorer.model, scorer.crop.model, *tights)
    assert again.crop is not None and again.crop.meta() == scorer.crop.meta() and again.n_crop == 0
    b, lab, f, _ = _crop_plates(rng, 1)[0]
    assert again.crop.boxes(b, lab, f, CLASSES) == scorer.crop.boxes(b, lab, f, CLASSES)
    with pytest.raises(ArtifactError):  # the crop stage's tight trees missing, or the map scorer's in their place
        BoxScorer.from_meta(meta, scorer.model, scorer.crop.model, scorer.tight, None)
    with pytest.raises(ArtifactError):
        BoxScorer.from_meta(meta, scorer.model, scorer.crop.model, scorer.tight, scorer.tight)
    crop = meta["crop"]
    for bad, crop_model in (
            (meta, None),  # a crop stage without its trees
            ({**meta, "crop": {**crop, "n_crop": 3}}, scorer.crop.model),  # columns the trees do not have
            ({**meta, "crop": {**crop, "n_crop": 0}}, scorer.crop.model),
            ({**meta, "crop": {**crop, "crop": crop}}, scorer.crop.model),  # a stage of a stage
            ({**meta, "crop": {**crop, "classes": ["pit", "band"]}}, scorer.crop.model),
            ({**meta, "crop": "big"}, scorer.crop.model),
            ({**meta, "crop": {**crop, "n_crop": 10**9}}, scorer.crop.model),
            ({**meta, "n_crop": 2}, scorer.crop.model),  # the map scorer claiming crop columns
            ({**meta}, scorer.model)):  # the map scorer's trees as the crop stage's
        with pytest.raises(ArtifactError):
            BoxScorer.from_meta(bad, scorer.model, crop_model, *tights)


def test_the_locator_has_a_crop_stage_used_on_plates_and_on_much_larger_images(few, monkeypatch):
    from defectlab.features import feature_names
    from defectlab.learn.locate import CROP_SCORER_DIR

    ws, run_id, new = few
    model, classes, info = locator_for_run(ws, run_id)
    scorer = info["scorer"]
    assert scorer.crop is not None and scorer.crop.n_crop == len(feature_names(info["spec"]))
    assert (ws.runs_dir / run_id / LOCATOR_DIR / CROP_SCORER_DIR / "meta.json").exists()
    for stage, name in ((scorer, SCORER_DIR), (scorer.crop, CROP_SCORER_DIR)):  # tight trees stored beside
        tight_dir = ws.runs_dir / run_id / LOCATOR_DIR / (name + TIGHT_SUFFIX)
        assert (stage.tight is not None) == (tight_dir / "meta.json").exists()
    image = new[0][0]
    res = locate_image(image, model, classes, info["spec"], info["sides"], LocateSettings(), scorer=scorer)
    b, lab, cols = res.proposals
    assert cols.shape == (len(b), scorer.crop.n_columns) and np.isfinite(cols).all()
    # from 4 plates the crop stage does not learn the plate's own marks (from 8 on: test_learn_locate)
    assert not scorer.crop.structure and not (cols[:, PROPOSAL_FEATURES.index("kind")] == KIND_STRUCTURE).any()
    assert scorer.tight is None and scorer.crop.tight is None  # nor tight trees (from 8 held-out plates on)
    sides = np.minimum(res.windows[:, 2] - res.windows[:, 0], res.windows[:, 3] - res.windows[:, 1])
    min_box = min(max(1, int(sides.min()) // 2), *image.shape[:2])
    assert res.boxes == scorer.crop.boxes(b, lab, cols, classes, min_box=min_box)
    low = remake_boxes(res, LocateSettings(threshold=0.01), scorer=scorer)  # the recorded crops, scored again
    assert low == scorer.crop.boxes(b, lab, cols, classes, threshold=0.01, min_box=min_box)
    assert len(low) >= len(res.boxes)
    # another method, or no crop stage: nothing recorded, the map scorer answers
    ranked = locate_image(image, model, classes, info["spec"], info["sides"], LocateSettings(method="ranked"),
                          ranker=info["ranker"], scorer=scorer)
    assert ranked.proposals is None
    plain = BoxScorer(scorer.classes, scorer.model, scorer.threshold, scorer.class_thresholds, scorer.plate_size)
    assert remake_boxes(res, LocateSettings(method="proposals"), scorer=plain) == locate_image(
        image, model, classes, info["spec"], info["sides"], LocateSettings(), scorer=plain).boxes
    # a much larger image goes through the crop stage too, its candidates' sizes measured against the plates
    big = np.tile(image, (3, 3) if image.ndim == 2 else (3, 3, 1))
    larger = locate_image(big, model, classes, info["spec"], info["sides"], LocateSettings(), scorer=scorer)
    bb, blab, bcols = larger.proposals
    assert larger.boxes and len(bb) > len(b)
    assert bcols.shape == (len(bb), scorer.crop.n_columns) and np.isfinite(bcols).all()
    assert larger.extra["tiled"] == tuple(scorer.plate_size) and larger.extra["estimate"] is None
    assert larger.boxes == scorer.crop.boxes(bb, blab, bcols, classes, min_box=min_box, other_iou=0.1)
    xy = np.array([[f["x"], f["y"], f["x"] + f["w"], f["y"] + f["h"]] for f in larger.boxes]).reshape(-1, 4)
    iou = pairwise_overlap(xy, xy)[0]
    other = np.array([f["label"] for f in larger.boxes])[:, None] != np.array([f["label"] for f in larger.boxes])
    assert not (other & (iou >= 0.1)).any()  # one class a spot on such an image
    # with the switch off (the benchmark's peer, before): tile by tile, the map scorer, nothing cut
    monkeypatch.setattr("defectlab.learn.locate._CROP_STAGE_LARGER", False)
    tiled = locate_image(big, model, classes, info["spec"], info["sides"], LocateSettings(), scorer=scorer)
    assert tiled.proposals is None and tiled.extra["tiled"] == tuple(scorer.plate_size)


def test_a_crop_stage_of_the_wrong_width_is_not_trusted_and_the_locator_is_trained_again(few):
    ws, run_id, _ = few
    _, _, info = locator_for_run(ws, run_id)
    meta_path = ws.runs_dir / run_id / LOCATOR_DIR / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["extra"]["scorer"]["crop"]["n_crop"] = 5
    meta_path.write_text(json.dumps(meta))
    _, _, again = locator_for_run(ws, run_id)
    assert again["scorer"].crop is not None and again["scorer"].crop.n_crop == info["scorer"].crop.n_crop


def test_a_locator_of_the_previous_format_is_trained_again_with_its_crop_stage(few):
    ws, run_id, _ = few
    locator_for_run(ws, run_id)
    meta_path = ws.runs_dir / run_id / LOCATOR_DIR / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["extra"]["key"]["format"] = 12  # a locator stored before the crop stage (no crop_scorer/)
    meta["extra"]["scorer"].pop("crop")
    meta_path.write_text(json.dumps(meta))
    _, _, info = locator_for_run(ws, run_id)
    assert info["scorer"].crop is not None
    assert json.loads(meta_path.read_text())["extra"]["key"]["format"] == _LOCATOR_FORMAT
    # a format-15 locator (scorers without tight trees) is trained again too, and gets them
    meta = json.loads(meta_path.read_text())
    meta["extra"]["key"]["format"] = 15
    meta["extra"]["scorer"]["tight"] = meta["extra"]["scorer"]["crop"]["tight"] = False
    meta_path.write_text(json.dumps(meta))
    _, _, info = locator_for_run(ws, run_id)
    stored = json.loads(meta_path.read_text())["extra"]
    assert stored["key"]["format"] == _LOCATOR_FORMAT
    assert stored["scorer"]["crop"]["tight"] is (info["scorer"].crop.tight is not None)


def _textured(rng, h=200, w=200):
    return rng.normal(128, 6, (h, w)).clip(0, 255).astype(np.uint8)


def _iou(a, b):
    iw = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_structure_boxes_fit_a_thin_scratch_and_a_pit_that_the_map_would_blur():
    rng = np.random.default_rng(1)
    plate = _textured(rng)
    plate[120:123, 20:170] = 70  # a dark horizontal scratch, 3 pixels wide
    cv2.circle(plate, (60, 50), 8, 210, -1)  # a bright pit
    boxes, strength = structure_boxes(plate)
    assert boxes.dtype == np.int64 and boxes.shape[1] == 4 and len(boxes) == len(strength) > 0
    assert np.all(np.diff(strength) <= 0)  # strongest first
    assert max(_iou(b, (20, 120, 170, 123)) for b in boxes.tolist()) >= 0.7
    assert max(_iou(b, (52, 42, 69, 59)) for b in boxes.tolist()) >= 0.7
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 2] <= 200).all() and (boxes[:, 1] >= 0).all()
    assert ((boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])).all()
    # colour input: the same boxes as its grey
    rgb_boxes, _ = structure_boxes(np.dstack([plate] * 3))
    assert rgb_boxes.tolist() == boxes.tolist()


def test_structure_boxes_of_flat_tiny_noisy_and_large_images_are_bounded():
    for image in (np.full((200, 200), 128, np.uint8), np.zeros((1, 300), np.uint8), np.zeros((3, 3, 3), np.uint8)):
        boxes, strength = structure_boxes(image)
        assert boxes.shape == (0, 4) and strength.shape == (0,)
    noise = np.random.default_rng(0).integers(0, 256, (2048, 2048), dtype=np.uint8)  # nothing stands out
    boxes, _ = structure_boxes(noise)
    assert len(boxes) <= 120
    big = _textured(np.random.default_rng(2), 1500, 3000)  # a large image: looked at shrunk, boxes in its pixels
    big[700:730, 400:2600] = 40
    boxes, _ = structure_boxes(big, max_boxes=5)
    assert 0 < len(boxes) <= 5 and (boxes[:, 2] <= 3000).all() and (boxes[:, 3] <= 1500).all()
    # 30 pixels are 2.6 pixels at the working scale: the box is taller than the mark, but matches it
    assert max(_iou(b, (400, 700, 2600, 730)) for b in boxes.tolist()) >= 0.3


def test_structure_scale_follows_the_smallest_defect_within_a_pixel_budget():
    assert structure_scale(200, 200) == structure_scale(200, 200, min_side=42) == 1.0  # a NEU plate: full size
    assert structure_scale(1600, 2048) == 256 / 2048  # no defect size known: the longer side at 256
    # windows from 64 pixels: a 64-pixel defect spans 16 working pixels
    assert structure_scale(1600, 2048, min_side=64) == 0.25
    assert structure_scale(400, 600, min_side=63) == 256 / 600  # the 256 rule is the larger one here
    # tiny windows on a huge photo: at most 1024 x 1024 working pixels
    scale = structure_scale(6000, 8000, min_side=8)
    assert 6000 * 8000 * scale**2 <= 1024 * 1024 + 1 and scale > 256 / 8000
    for odd in (0, -5, None, float("nan"), float("inf")):  # no size: the 256 rule
        assert structure_scale(1600, 2048, min_side=odd) == 256 / 2048


def test_structure_boxes_find_a_small_pit_on_a_camera_plate_at_the_defects_scale():
    plate = _textured(np.random.default_rng(4), 1600, 2048)
    cv2.circle(plate, (1500, 400), 12, 40, -1)  # a dark pit of 24 pixels on a 2048-pixel plate
    pit = (1488, 388, 1513, 413)
    shrunk, _ = structure_boxes(plate)  # at 256 pixels the pit is 3 x 3 working pixels: lost
    assert not any(_iou(b, pit) >= 0.3 for b in shrunk.tolist())
    boxes, _ = structure_boxes(plate, min_side=40)  # windows from 40 pixels: looked at 0.4 x
    assert max(_iou(b, pit) for b in boxes.tolist()) >= 0.5
    assert (boxes[:, 2] <= 2048).all() and (boxes[:, 3] <= 1600).all()


@pytest.mark.parametrize("image", [np.zeros((50, 50), np.uint16), np.zeros((50, 50), np.float32),
                                   np.zeros((50, 50, 4), np.uint8), np.zeros((0, 50), np.uint8), "plate.png"])
def test_structure_boxes_refuse_what_is_not_an_8_bit_grey_or_rgb_image(image):
    with pytest.raises(InputError):
        structure_boxes(image)


def test_structure_boxes_refuse_a_negative_or_absurd_box_count():
    plate = _textured(np.random.default_rng(0))
    for bad in (-1, 10**9, 2.5, True):
        with pytest.raises(InputError, match="max_boxes"):
            structure_boxes(plate, max_boxes=bad)
    assert structure_boxes(plate, max_boxes=0)[0].shape == (0, 4)


def test_propose_with_the_image_adds_its_marks_as_candidates_of_every_defect_class():
    rng = np.random.default_rng(3)
    image = _textured(rng, 120, 160)
    image[60:63, 10:150] = 60
    pm = np.zeros((3, 30, 40), np.float32)
    pm[0] = 1.0
    windows = np.array([[0, 0, 40, 40]])
    probs = np.array([[0.2, 0.7, 0.1]])
    plain = propose(probs, windows, CLASSES, pm, 4, 120, 160)
    boxes, labels, feats = propose(probs, windows, CLASSES, pm, 4, 120, 160, image=image)
    kind = feats[:, PROPOSAL_FEATURES.index("kind")]
    assert (kind != KIND_STRUCTURE).sum() == len(plain[0])  # the map's candidates are all still there
    marks = boxes[kind == KIND_STRUCTURE]
    assert len(marks) and set(labels[kind == KIND_STRUCTURE].tolist()) == {1, 2}  # never the background
    assert max(_iou(b, (8, 60, 152, 64)) for b in marks.tolist()) >= 0.5  # on the map's 4-pixel cells
    # a flat image adds nothing
    flat = propose(probs, windows, CLASSES, pm, 4, 120, 160, image=np.full((120, 160), 90, np.uint8))
    assert flat[0].tolist() == plain[0].tolist()
