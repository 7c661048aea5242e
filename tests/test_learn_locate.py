"""Defects located on full images: windows, maps, boxes, the background class, the CLI contract.

Everything here uses synthetic plates (defectlab.demo.make_plate_images): no network, no third-party data.
"""

import json
import os
import struct
import zlib

import cv2
import numpy as np
import pytest

from defectlab.demo import _voc_xml, make_plate_images
from defectlab.errors import InputError
from defectlab.ingest import import_source
from defectlab.learn import train_project
from defectlab.learn.box_ranker import ERROR_KINDS
from defectlab.learn.locate import (
    BACKGROUND,
    LOCATOR_DIR,
    LocateSettings,
    PlateResult,
    background_windows,
    boxes_from_map,
    boxes_from_windows,
    locate_image,
    locate_item,
    locate_source,
    locator_for_run,
    probability_map,
    search_windows,
    sliding_windows,
    stored_box_quality,
    window_sides,
)
from defectlab.store import open_workspace

# -- pure parts -----------------------------------------------------------------------------------

def test_window_sides_from_crop_sizes():
    assert window_sides([100], [100], scales=3) == (100,)
    assert window_sides([40, 60, 80, 100, 200], [40, 60, 80, 100, 200]) == (56, 80, 120)
    assert window_sides([4, 4], [4, 4], scales=1) == (8,)  # never below 8 pixels
    assert window_sides([20, 180], [180, 20], scales=1) == (60,)  # geometric mean of elongated crops
    with pytest.raises(InputError):
        window_sides([], [])


def test_sliding_windows_cover_the_image_and_respect_the_cap():
    wins = sliding_windows(200, 300, [100], stride=0.5)
    assert wins[:, 2].max() == 300 and wins[:, 3].max() == 200 and wins.min() == 0
    assert set(np.unique(wins[:, 2] - wins[:, 0])) == {100}
    cover = np.zeros((200, 300), bool)
    for x0, y0, x1, y1 in wins:
        cover[y0:y1, x0:x1] = True
    assert cover.all()
    big = sliding_windows(2048, 2048, [40, 80, 160], stride=0.5, max_windows=600)
    assert len(big) <= 600 and big[:, 2].max() == 2048
    small = sliding_windows(50, 60, [100])  # a window larger than the image is clipped to it
    assert small.tolist() == [[0, 0, 60, 50]]


def _overlaps(windows, box):
    x0, y0, x1, y1 = box
    return (np.minimum(windows[:, 2], x1) > np.maximum(windows[:, 0], x0)) & (
        np.minimum(windows[:, 3], y1) > np.maximum(windows[:, 1], y0))


def test_search_windows_is_the_grid_when_it_fits_and_goes_where_the_plate_stands_out_when_not():
    rng = np.random.default_rng(0)
    sides = (42, 68, (29, 150))
    plate = rng.normal(128, 6, (200, 200)).clip(0, 255).astype(np.uint8)
    # a NEU-sized plate: every window, as before
    assert search_windows(plate, sides).tolist() == sliding_windows(200, 200, sides, 0.5, 500).tolist()
    big = rng.normal(128, 6, (1600, 2048)).clip(0, 255).astype(np.uint8)
    big[1000:1060, 300:340] = 60  # one dark defect, 40 x 60 pixels
    wins = search_windows(big, sides, max_windows=300)
    grid = sliding_windows(1600, 2048, sides, 0.5, 300)
    assert len(wins) <= 300 and wins.dtype == np.int64
    assert {(int(w), int(h)) for w, h in zip(wins[:, 2] - wins[:, 0], wins[:, 3] - wins[:, 1], strict=True)} == {
        (42, 42), (68, 68), (29, 150)}  # every size
    assert wins[:, 0].min() == 0 and wins[:, 2].max() == 2048 and wins[:, 3].max() == 1600  # the whole plate
    assert set(map(tuple, sliding_windows(1600, 2048, sides, 0.5, 120).tolist())) <= set(map(tuple, wins.tolist()))
    # the stretched grid steps over the defect; the search puts a dozen windows on it (spread: not all its grid
    # neighbours, the test below)
    assert _overlaps(wins, (300, 1000, 340, 1060)).sum() >= 10 > 3 >= _overlaps(grid, (300, 1000, 340, 1060)).sum()
    assert search_windows(big, sides, max_windows=300).tolist() == wins.tolist()  # the same image, the same windows
    assert search_windows(np.dstack([big] * 3), sides, max_windows=300).tolist() == wins.tolist()  # colour = grey
    # a plate just over the budget keeps most of its grid: the coarse grid is the share the budget is of it
    mid = rng.normal(128, 6, (400, 600)).clip(0, 255).astype(np.uint8)
    full = sliding_windows(400, 600, sides, 0.5, 10**6)
    budget = int(len(full) * 0.8)
    kept = search_windows(mid, sides, max_windows=budget)
    coarse = sliding_windows(400, 600, sides, 0.5, round(budget * budget / len(full)))
    assert len(coarse) > 0.4 * budget and len(kept) <= budget
    assert set(map(tuple, coarse.tolist())) <= set(map(tuple, kept.tolist()))
    flat = np.full((1600, 2048), 128, np.uint8)  # nothing stands out: the stretched grid
    assert search_windows(flat, sides, max_windows=300).tolist() == grid.tolist()


def test_search_windows_spreads_the_salient_windows_over_more_marks():
    import defectlab.learn.locate as locate_mod

    rng = np.random.default_rng(3)
    sides = (42, 68, (29, 150))
    big = rng.normal(128, 6, (1200, 1800)).clip(0, 255).astype(np.uint8)
    marks = []
    for k in range(60):  # 60 separated marks, from very strong to faint: the strong ones' neighbours crowd
        y, x = 60 + (k // 10) * 180, 60 + (k % 10) * 170
        big[y: y + 30, x: x + 30] = max(20, 125 - 2 * k) if k % 2 else min(235, 131 + 2 * k)
        marks.append((x, y, x + 30, y + 30))
    budget = 400
    spread = search_windows(big, sides, max_windows=budget)
    assert spread.tolist() == search_windows(big, sides, max_windows=budget, spread=0.75).tolist()  # the default
    crowded = search_windows(big, sides, max_windows=budget, spread=0)  # as before locator format 20
    for bad in (-0.5, float("nan"), float("inf"), "0.75", True):
        with pytest.raises(InputError, match="spread"):
            search_windows(big, sides, max_windows=budget, spread=bad)
    assert len(spread) <= budget and len(crowded) <= budget

    def marks_seen(wins):  # marks with a window of every size on them
        return sum(all(_overlaps(wins[(wins[:, 2] - wins[:, 0] == w) & (wins[:, 3] - wins[:, 1] == h)], m).any()
                       for w, h in ((42, 42), (68, 68), (29, 150))) for m in marks)

    assert marks_seen(spread) >= marks_seen(crowded) + 10
    # beyond the coarse grid, no two windows of one size are grid neighbours (half a window apart)
    share = max(1 - locate_mod._SALIENT_SHARE, budget / len(sliding_windows(1200, 1800, sides, 0.5, 200_000)))
    coarse = {tuple(r) for r in sliding_windows(1200, 1800, sides, 0.5, round(budget * share)).tolist()}
    salient = np.array([r for r in spread.tolist() if tuple(r) not in coarse])
    assert len(salient) > 100
    for w, h in ((42, 42), (68, 68), (29, 150)):
        one = salient[(salient[:, 2] - salient[:, 0] == w) & (salient[:, 3] - salient[:, 1] == h)]
        d = np.abs(one[:, None, :2] - one[None, :, :2])
        near = (d[..., 0] < 0.75 * w) & (d[..., 1] < 0.75 * h)
        assert near.sum() == len(one)  # each window only near itself


def test_probability_map_is_the_mean_of_covering_windows():
    wins = np.array([[0, 0, 4, 4], [2, 0, 6, 4]])
    probs = np.array([[1.0, 0.0], [0.0, 1.0]])
    pmap, cell = probability_map(probs, wins, 4, 8, cell=1)
    assert cell == 1 and pmap.shape == (2, 4, 8)
    np.testing.assert_allclose(pmap[1, 0], [0, 0, 0.5, 0.5, 1, 1, 0, 0])
    np.testing.assert_allclose(pmap[0, 3], [1, 1, 0.5, 0.5, 0, 0, 0, 0])
    coarse, cell = probability_map(probs, wins, 400, 800)
    assert cell == 7 and coarse.shape == (2, 58, 115)


def test_the_overlay_shows_no_defect_where_no_window_looked():
    windows = np.array([[0, 0, 40, 40], [120, 0, 160, 40]])  # a gap between them, as on a large image
    probs = np.array([[0.9, 0.1], [0.2, 0.8]])  # columns: background, pit
    pmap, cell = probability_map(probs, windows, 40, 160, cell=20)
    result = PlateResult(width=160, height=40, boxes=[], classes=[BACKGROUND, "pit"], prob_map=pmap, cell=cell,
                         n_windows=2)
    dmap = result.defect_map()
    assert dmap.dtype == np.float32 and dmap.shape == (2, 8)
    assert np.allclose(dmap[:, :2], 0.1) and np.allclose(dmap[:, 6:], 0.8)
    assert (dmap[:, 2:6] == 0).all()  # not looked at: no evidence, not "certainly a defect"


def test_boxes_from_map_components():
    pmap = np.zeros((3, 10, 10), np.float32)
    pmap[0] = 1.0  # background everywhere...
    pmap[0, 2:4, 2:6] = 0.1
    pmap[1, 2:4, 2:6] = 0.9  # ...except one defect of class "pit"
    pmap[0, 7:9, 7:9] = 0.4
    pmap[2, 7:9, 7:9] = 0.6  # and one weaker "scratch"
    boxes = boxes_from_map(pmap, [BACKGROUND, "pit", "scratch"], cell=10, height=100, width=100, threshold=0.5,
                           min_box=4)
    assert boxes == [{"x": 20, "y": 20, "w": 40, "h": 20, "label": "pit", "score": 0.9},
                     {"x": 70, "y": 70, "w": 20, "h": 20, "label": "scratch", "score": 0.6}]
    assert boxes_from_map(pmap, [BACKGROUND, "pit", "scratch"], 10, 100, 100, threshold=0.95) == []


def test_boxes_from_windows_suppresses_overlaps_of_one_class_only():
    wins = np.array([[0, 0, 40, 40], [10, 0, 50, 40], [5, 5, 25, 25], [0, 0, 40, 40], [60, 60, 100, 100]])
    probs = np.array([[0.1, 0.9, 0.0], [0.2, 0.8, 0.0], [0.3, 0.7, 0.0], [0.1, 0.0, 0.9], [0.6, 0.4, 0.0]])
    boxes = boxes_from_windows(probs, wins, [BACKGROUND, "pit", "scratch"], threshold=0.5)
    assert [(b["label"], b["x"], b["score"]) for b in boxes] == [("pit", 0, 0.9), ("scratch", 0, 0.9)]
    # the window inside the kept one and the overlapping one are gone; the background window never shows


def test_background_windows_avoid_every_box():
    image = np.zeros((200, 300), np.uint8)
    boxes = [(0, 0, 150, 200)]
    crops = background_windows(image, boxes, [50], per_image=50, rng=np.random.default_rng(0))
    assert crops
    for c in crops:
        assert c.base is image or c.base is not None  # views: no copies
    wins = sliding_windows(200, 300, [50], 0.5, 400)
    inside = [w for w in wins if w[0] < 150 - 5]  # windows mostly inside the box are never drawn
    assert len(crops) <= len(wins) - len(inside)
    assert background_windows(image, [(0, 0, 300, 200)], [50]) == []


def _crop_boxes(image, crops):
    """(x0, y0, x1, y1) of crops that are views of ``image`` (from their offset in its buffer)."""
    base = image.__array_interface__["data"][0]
    out = []
    for c in crops:
        y, x = divmod(c.__array_interface__["data"][0] - base, image.strides[0])
        out.append((x, y, x + c.shape[1], y + c.shape[0]))
    return np.array(out, np.int64).reshape(-1, 4)


def test_background_windows_of_a_searched_plate_include_the_marks_that_are_no_defect():
    rng = np.random.default_rng(5)
    plate = rng.normal(128, 6, (1600, 2048)).clip(0, 255).astype(np.uint8)
    defect, mark = (300, 1000, 340, 1060), (1500, 200, 1540, 240)
    plate[1000:1060, 300:340] = 60  # the boxed defect
    plate[200:240, 1500:1540] = 60  # a dark mark nobody boxed: what a searched plate's windows land on
    sides = [(42, 42), (68, 68)]
    kw = {"per_image": 2000, "stride": 0.25}  # every candidate (1,000 at most) clear of the boxed defect
    searched = background_windows(plate, [defect], sides, rng=np.random.default_rng(0), searched=True, **kw)
    grid = background_windows(plate, [defect], sides, rng=np.random.default_rng(0), **kw)
    assert 900 < len(searched) <= 1000 and 500 < len(grid) <= 1000
    at, at_grid = _crop_boxes(plate, searched), _crop_boxes(plate, grid)
    assert [plate[y0:y1, x0:x1].tolist() for x0, y0, x1, y1 in at[:3]] == [c.tolist() for c in searched[:3]]
    # several windows on the mark (spread: not its every grid neighbour), more than the stretched grid puts there
    assert _overlaps(at, mark).sum() >= 6 > 2 * _overlaps(at_grid, mark).sum()
    for x0, y0, x1, y1 in at:  # and still none mostly over the boxed defect
        inter = max(0, min(x1, 340) - max(x0, 300)) * max(0, min(y1, 1060) - max(y0, 1000))
        assert inter <= 0.10 * (x1 - x0) * (y1 - y0)


def test_settings_are_checked():
    for bad in ({"stride": 0}, {"threshold": 1.5}, {"max_windows": 0}, {"method": "magic"},
                {"window_sides": (2,)}, {"background": "yes"}, {"scales": 0}):
        with pytest.raises(InputError):
            LocateSettings(**bad)


# -- with a trained project on synthetic plates ---------------------------------------------------------

def _write_plates(root, plates, start=0):
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    for k, (image, boxes) in enumerate(plates, start):
        name = f"plate_{k:03d}.png"
        cv2.imwrite(str(root / "images" / name), image)
        (root / "annotations" / f"plate_{k:03d}.xml").write_text(
            _voc_xml(name, image.shape[0], image.shape[1], boxes), encoding="utf-8")


N_TRAIN = 26  # boxed plates the module's run learns from (from 8 on: the ranker holds them out in two halves)
N_HELD = 12  # new plates it locates (~37 boxes: 20 plates left the lowest versions at 10 of 17 found)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("locate")
    plates = make_plate_images(n_plates=N_TRAIN + N_HELD, height=240, width=320, random_state=3)
    _write_plates(root / "train", plates[:N_TRAIN])
    held = plates[N_TRAIN:]
    (root / "new").mkdir()
    for k, (image, _) in enumerate(held):
        cv2.imwrite(str(root / "new" / f"new_{k}.png"), image)
    ws = open_workspace(root / "ws")
    import_source(ws, "Plates", root / "train", layout="voc")
    summary = train_project(ws, "Plates", preset="fast", folds=3, seed=0, n_jobs=1)
    return ws, summary["run_id"], root, held


def _iou(a, b):
    iw = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_locator_trains_the_background_class_once_and_reuses_it(trained):
    ws, run_id, _, _ = trained
    _, classes, info = locator_for_run(ws, run_id)
    assert BACKGROUND in classes and info["background"] and info["n_background"] > 10
    directory = ws.runs_dir / run_id / LOCATOR_DIR
    stamp = os.stat(directory / "meta.json").st_mtime_ns
    _, classes2, _ = locator_for_run(ws, run_id)
    assert classes2 == classes and os.stat(directory / "meta.json").st_mtime_ns == stamp
    # switched off: the run's own model, without background
    _, plain_classes, info3 = locator_for_run(ws, run_id, background=False)
    assert BACKGROUND not in plain_classes and not info3["background"]
    # a damaged locator is retrained, not trusted
    (directory / "meta.json").write_text("{}")
    _, classes4, _ = locator_for_run(ws, run_id)
    assert classes4 == classes


def test_locate_finds_the_pasted_defects(trained):
    ws, run_id, root, held = trained
    result = locate_source(ws, "Plates", root / "new", run_id=run_id)
    assert result["run_id"] == run_id and result["rejected"] == [] and result["background"] is True
    plates = {p["source"]: p for p in result["plates"]}
    assert sorted(plates) == sorted(f"new_{k}.png" for k in range(len(held)))
    hits = total = 0
    for k, (_, truth) in enumerate(held):
        p = plates[f"new_{k}.png"]
        assert (p["width"], p["height"]) == (320, 240)
        for b in p["boxes"]:
            assert set(b) == {"x", "y", "w", "h", "label", "score"} and 0 <= b["score"] <= 1
            assert b["x"] >= 0 and b["y"] >= 0 and b["x"] + b["w"] <= 320 and b["y"] + b["h"] <= 240
        for _, x0, y0, x1, y1 in truth:
            total += 1
            hits += any(_iou((x0, y0, x1, y1), (b["x"], b["y"], b["x"] + b["w"], b["y"] + b["h"])) >= 0.3
                        for b in p["boxes"])
    assert hits / total >= 0.6, (hits, total)


def test_locate_one_file_and_a_stored_plate(trained):
    from defectlab.ingest import add_plate

    ws, run_id, root, _ = trained
    one = locate_source(ws, "Plates", root / "new" / "new_0.png", run_id=run_id)
    assert [p["source"] for p in one["plates"]] == ["new_0.png"]
    data = (root / "new" / "new_0.png").read_bytes()
    item_id, _ = add_plate(ws, "Plates", data, "new_0.png")
    res = locate_item(ws, "Plates", item_id, run_id=run_id)
    assert res.to_dict()["boxes"] == one["plates"][0]["boxes"]
    assert res.prob_map.shape[0] == len(res.classes) and res.defect_map().shape == res.prob_map.shape[1:]
    assert res.extra["item_id"] == item_id and res.extra["run_id"] == run_id


def _png_header(width, height):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) + \
        chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def test_bad_and_hostile_files_are_rejected_with_a_reason(trained):
    ws, run_id, root, _ = trained
    bad = root / "bad"
    bad.mkdir()
    (bad / "empty.png").write_bytes(b"")
    (bad / "text.jpg").write_bytes(b"not an image at all")
    (bad / "bomb.png").write_bytes(_png_header(100_000, 100_000))  # 10 gigapixels claimed
    (bad / "notes.xml").write_text("<a/>")  # annotation sidecars are skipped, not rejected
    cv2.imwrite(str(bad / "ok.png"), make_plate_images(1, 200, 200, random_state=9)[0][0])
    result = locate_source(ws, "Plates", bad, run_id=run_id)
    assert [p["source"] for p in result["plates"]] == ["ok.png"]
    reasons = {r["source"]: r["reason"] for r in result["rejected"]}
    assert set(reasons) == {"empty.png", "text.jpg", "bomb.png"} and all(reasons.values())
    with pytest.raises(InputError):
        locate_source(ws, "Plates", root / "missing", run_id=run_id)


def test_cli_locate_contract(trained, capsys):
    from defectlab.cli import main

    ws, run_id, root, _ = trained
    code = main(["locate", "Plates", str(root / "new"), "--run", run_id, "--workspace", str(ws.root), "--json"])
    out, _ = capsys.readouterr()
    assert code == 0
    d = json.loads(out)
    assert set(d) >= {"plates"} and len(d["plates"]) == N_HELD
    p = d["plates"][0]
    assert set(p) == {"source", "width", "height", "boxes", "tiled"} and isinstance(p["width"], int)
    assert p["tiled"] is False  # a plate the size of those the run learned from
    # what such boxes were like on the plates the run learned from (the box scorer's out-of-fold numbers)
    _, _, info = locator_for_run(ws, run_id)
    stage = info["scorer"].crop or info["scorer"]
    assert d["expected"] == dict(zip(("recall", "precision"), stage.expected(), strict=True))
    # and where its calibrated boxes went wrong there (why true boxes were missed, what the wrong boxes were)
    assert d["expected_errors"] == stage.estimate["errors"] and list(d["expected_errors"]) == list(ERROR_KINDS)
    code = main(["locate", "Plates", str(root / "nowhere"), "--workspace", str(ws.root), "--json"])
    out, err = capsys.readouterr()
    assert code == 1 and out == "" and "does not exist" in err and "\n" == err[-1]
    code = main(["locate", "Plates", str(root / "new"), "--workspace", str(ws.root)])
    out, _ = capsys.readouterr()
    assert code == 0 and "new_0.png" in out and "of the boxed defects" in out
    assert "went wrong on the plates the run learned from" in out and "Missed: proposed, but scored below" in out


def test_an_image_far_larger_than_the_plates_is_marked_tiled_and_gets_no_plate_numbers(trained, tmp_path, capsys):
    from defectlab.cli import main

    ws, run_id, _, _ = trained
    model, classes, info = locator_for_run(ws, run_id)
    stage = info["scorer"].crop
    pw, ph = info["scorer"].plate_size
    big, _ = make_plate_images(1, 3 * ph, 3 * pw, random_state=21)[0]  # 3x the plates: much larger
    result = locate_image(big, model, classes, info["spec"], info["sides"], ranker=info["ranker"],
                          scorer=info["scorer"])
    assert result.extra["tiled"] == (pw, ph) and result.to_dict()["tiled"] is True
    # numbers learned on plates of the run's size do not hold for it: none are given
    assert result.extra["expected"] is None and result.extra["estimate"] is None
    plate, _ = make_plate_images(1, ph, pw, random_state=22)[0]
    same = locate_image(plate, model, classes, info["spec"], info["sides"], ranker=info["ranker"],
                        scorer=info["scorer"])
    assert same.extra["tiled"] is None and same.to_dict()["tiled"] is False
    assert same.extra["expected"] == stage.expected() and same.extra["estimate"] == stage.estimate
    folder = tmp_path / "mixed"
    folder.mkdir()
    cv2.imwrite(str(folder / "camera.png"), big)
    cv2.imwrite(str(folder / "plate.png"), plate)
    d = locate_source(ws, "Plates", folder, run_id=run_id)
    assert {p["source"]: p["tiled"] for p in d["plates"]} == {"camera.png": True, "plate.png": False}
    assert main(["locate", "Plates", str(folder), "--run", run_id, "--workspace", str(ws.root)]) == 0
    out, _ = capsys.readouterr()
    assert "1 of these images is much larger than the plates the run learned from" in out
    assert main(["locate", "Plates", str(folder / "plate.png"), "--run", run_id, "--workspace", str(ws.root)]) == 0
    out, _ = capsys.readouterr()
    assert "much larger than the plates" not in out


def test_roles_are_enforced_in_the_library(trained, tmp_path, make_team):
    import shutil

    from defectlab.errors import PermissionDenied

    ws, run_id, root, _ = trained
    copy = open_workspace(shutil.copytree(ws.root, tmp_path / "ws"))
    make_team(copy, annotators=("ann1",), supervisors=("sup",))
    with pytest.raises(PermissionDenied):
        locate_source(copy, "Plates", root / "new" / "new_0.png", run_id=run_id, user="ann1")
    result = locate_source(copy, "Plates", root / "new" / "new_0.png", run_id=run_id, user="sup")
    assert len(result["plates"]) == 1


def test_locator_learns_a_box_ranker_from_held_out_plates(trained):
    from defectlab.learn.artifacts import read_meta
    from defectlab.learn.box_ranker import BoxRanker

    ws, run_id, root, _ = trained
    model, classes, info = locator_for_run(ws, run_id)
    ranker = info["ranker"]
    assert isinstance(ranker, BoxRanker) and info["n_ranker_plates"] == N_TRAIN  # every plate held out once
    assert 0 < ranker.threshold < 1 and set(ranker.classes) == set(classes) - {BACKGROUND}
    directory = ws.runs_dir / run_id / LOCATOR_DIR
    assert read_meta(directory)["extra"]["ranker"] == ranker.to_dict()  # plain numbers, no pickle
    # the default (auto) uses it; the windows method at 0.5 is the old behaviour, from the same windows
    from defectlab.imaging import load_image
    from defectlab.learn.locate import locate_image, remake_boxes

    image = load_image(root / "new" / "new_0.png")
    res = locate_image(image, model, classes, info["spec"], info["sides"], LocateSettings(), ranker=ranker)
    assert res.boxes == remake_boxes(res, LocateSettings(method="ranked"), ranker)
    assert all(b["score"] >= ranker.thresholds_for([b["label"]])[0] for b in res.boxes)
    strict = remake_boxes(res, LocateSettings(method="ranked", threshold=0.99), ranker)
    assert len(strict) <= len(res.boxes)
    # a damaged ranker entry in the locator's metadata is not trusted: the locator is trained again
    meta_path = directory / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["extra"]["ranker"]["coef"] = meta["extra"]["ranker"]["coef"][:3]
    meta_path.write_text(json.dumps(meta))
    _, _, info2 = locator_for_run(ws, run_id)
    assert info2["ranker"] is not None and len(info2["ranker"].coef) == len(ranker.coef)


def test_cli_threshold_defaults_to_the_calibrated_one(trained, capsys):
    from defectlab.cli import main

    ws, run_id, root, _ = trained
    base = ["locate", "Plates", str(root / "new" / "new_1.png"), "--run", run_id, "--workspace", str(ws.root),
            "--json"]
    assert main(base) == 0
    default = json.loads(capsys.readouterr()[0])["plates"][0]["boxes"]
    assert main([*base, "--threshold", "0.99"]) == 0
    strict = json.loads(capsys.readouterr()[0])["plates"][0]["boxes"]
    assert len(strict) <= len(default) and all(b["score"] >= 0.99 for b in strict)


def test_from_eight_boxed_plates_the_crop_stage_also_boxes_the_plates_own_marks(trained):
    from defectlab.imaging import load_image
    from defectlab.learn.box_proposals import KIND_STRUCTURE, PROPOSAL_FEATURES
    from defectlab.learn.locate import locate_image

    ws, run_id, root, _ = trained
    model, classes, info = locator_for_run(ws, run_id)
    crop = info["scorer"].crop
    assert crop is not None and crop.structure  # N_TRAIN (>= 8) boxed plates
    meta = json.loads((ws.runs_dir / run_id / LOCATOR_DIR / "meta.json").read_text())
    assert meta["extra"]["scorer"]["crop"]["structure"] is True  # stored, and read back on the next load
    image = load_image(root / "new" / "new_0.png")
    res = locate_image(image, model, classes, info["spec"], info["sides"], LocateSettings(), scorer=info["scorer"])
    kind = res.proposals[2][:, PROPOSAL_FEATURES.index("kind")]
    assert (kind == KIND_STRUCTURE).any()
    # the map-only scorer (tiled images) never learned them
    _, _, again = locator_for_run(ws, run_id)
    assert again["scorer"].crop.structure and not again["scorer"].structure
    # from N_TRAIN (>= 8) plates the scorers tried tight trees (kept where they made better boxes out of fold): what the
    # meta says is what is loaded again
    for stage, stored in ((again["scorer"], meta["extra"]["scorer"]), (again["scorer"].crop,
                                                                      meta["extra"]["scorer"]["crop"])):
        assert stored["tight"] is (stage.tight is not None)
        assert (ws.runs_dir / run_id / LOCATOR_DIR / ("crop_scorer" if stage.n_crop else "scorer")).exists()


def test_stored_box_quality_reads_the_stored_locators_numbers_without_training_one(trained, tmp_path):
    import shutil

    ws, run_id, _, _ = trained
    copy = open_workspace(shutil.copytree(ws.root, tmp_path / "ws"))
    directory = copy.runs_dir / run_id / LOCATOR_DIR
    shutil.rmtree(directory, ignore_errors=True)
    assert stored_box_quality(copy, run_id) is None  # not located with yet: nothing is trained to answer
    assert not directory.exists()
    _, _, info = locator_for_run(copy, run_id)
    stage = info["scorer"].crop or info["scorer"]
    q = stored_box_quality(copy, run_id)
    assert (q["recall"], q["precision"]) == stage.expected() and q["errors"] == stage.estimate["errors"]
    # an outdated, damaged or hostile locator description is no answer (locating retrains it), never an error
    meta_path = directory / "meta.json"
    good = json.loads(meta_path.read_text())
    crop = good["extra"]["scorer"]["crop"] or good["extra"]["scorer"]
    hostile = [
        {**good, "extra": {**good["extra"], "key": {**good["extra"]["key"], "format": 1}}},
        {**good, "extra": [1, 2]},
        {**good, "extra": {**good["extra"], "scorer": "nope"}},
        {**good, "extra": {**good["extra"], "scorer": {**good["extra"]["scorer"],
                                                        "crop": {**crop, "estimate": {"calibrated": [2, 2]}}}}},
        {**good, "extra": {**good["extra"], "scorer": {**good["extra"]["scorer"], "crop": {
            **crop, "estimate": {**crop["estimate"], "errors": {"missed_low_score": -5}}}}}},
    ]
    for bad in hostile:
        meta_path.write_text(json.dumps(bad))
        assert stored_box_quality(copy, run_id) is None
    meta_path.write_text("{not json")
    assert stored_box_quality(copy, run_id) is None
