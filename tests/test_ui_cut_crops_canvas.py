"""Cut crops page, the drawing canvas through a stand-in component (the real one needs a browser): what is on the
canvas survives saving, a new suggestion and a box typed by coordinates; refused boxes are reported after the
rerun and stay on the canvas; the canvas fits the page's column; the size warning is worded for this page."""

import sys
import types

import pytest
from ui_support import app, no_exception, tiny_workspace

from defectlab import ingest
from defectlab.store import current_labels, items_frame

DRAW = "#ff3b30"


class FakeCanvas:
    """``st_canvas`` that returns what the person "drew" under its key, else the drawing it was given."""

    def __init__(self):
        self.calls, self.drawn = [], {}

    def st_canvas(self, **kw):
        import cv2
        import numpy as np

        self.calls.append(kw)
        drawing = self.drawn.get(kw["key"], kw["initial_drawing"])
        # the component's "contain" fit of the background and its boxes in background pixels
        bg = cv2.imdecode(np.frombuffer(kw["background_image"], np.uint8), cv2.IMREAD_COLOR)
        h, w = bg.shape[:2]
        s = min(kw["width"] / w, kw["height"] / h)
        ox, oy = (kw["width"] - w * s) / 2, (kw["height"] - h * s) / 2
        boxes = [{"label": o.get("label", ""), "left": (o["left"] - ox) / s, "top": (o["top"] - oy) / s,
                  "width": o["width"] * o.get("scaleX", 1) / s, "height": o["height"] * o.get("scaleY", 1) / s}
                 for o in (drawing or {}).get("objects", [])]
        return types.SimpleNamespace(json_data=drawing, background_fit=None, boxes_in_image_space=boxes)

    @property
    def last(self):
        return self.calls[-1]

    def objects(self):
        return [dict(o) for o in (self.last["initial_drawing"] or {}).get("objects", [])]

    def draw(self, objects):
        self.drawn[self.last["key"]] = {"version": "6.0.0", "objects": objects}


@pytest.fixture
def canvas(monkeypatch):
    fake = FakeCanvas()
    module = types.ModuleType("streamlit_drawable_canvas")
    module.st_canvas = fake.st_canvas
    monkeypatch.setitem(sys.modules, "streamlit_drawable_canvas", module)
    return fake


def _crops(ws, project):
    frame = items_frame(ws, project.id)
    return frame[frame["parent_id"].notna()]


def _plate(ws, project):
    return items_frame(ws, project.id, role="plate").iloc[0]


def _suggest(at, plate_id, boxes, **extra):
    """What "Suggest boxes" leaves in the session (a new dict each time)."""
    at.session_state["crop_suggestions"] = {
        "plate": int(plate_id), "generation": at.session_state["crop_canvas_n"]
        if "crop_canvas_n" in at.session_state else 0, "boxes": boxes, "expected": None, "run_id": None,
        "estimate": None, "tiled": None, "size": (200, 160), **extra}


SUGGESTED = [{"x": 10, "y": 10, "w": 30, "h": 20, "label": "scratch"},
             {"x": 60, "y": 10, "w": 30, "h": 20, "label": "pit"},
             {"x": 110, "y": 10, "w": 30, "h": 20, "label": "scale"},
             {"x": 10, "y": 80, "w": 40, "h": 40, "label": "pit"}]


def _suggested(tmp_path, boxes=SUGGESTED, lang=None, runs=2, **extra):
    """A workspace with one plate, Cut crops open on it with ``boxes`` suggested (``runs`` page runs: the canvas
    takes them on the second). Returns ``(ws, project, plate, at)``."""
    ws, project, _ids = tiny_workspace(tmp_path / "ws", n_items=2, plate=True)
    plate = _plate(ws, project)
    at = app(ws.root, "cut_crops")
    if lang:
        at.session_state["lang"] = lang
    _suggest(at, plate["id"], boxes, **extra)
    for _ in range(runs):
        at.run()
    return ws, project, plate, at


def _saved_boxes(ws, project):
    return sorted(tuple(int(v) for v in b) for b in _crops(ws, project)["box"])


def _texts(elements):
    return " ".join(str(e.value) for e in elements)


def _canvas_boxes(fake, px):
    return sorted((o["label"], round(o["left"] / px), round(o["top"] / px)) for o in fake.objects())


def test_a_refused_box_is_reported_after_the_rerun_and_stays_on_the_canvas(tmp_path, canvas):
    ws, project, _shown, at = _suggested(tmp_path)
    no_exception(at)
    objects = canvas.objects()
    assert len(objects) == 4
    objects[0]["label"] = "Patchs"  # retyped on the canvas, misspelt
    canvas.draw(objects)
    at.run()
    save = at.button(key="crop_save_drawn")
    assert save.label == "Save 4 new boxes as crops"
    save.click().run()
    no_exception(at)
    assert len(_crops(ws, project)) == 3
    warnings = _texts(at.warning)
    assert "Patchs" in warnings and "box 1" in warnings and "scratch, pit, scale" in warnings
    assert "3 crops added." in _texts(at.success)
    at.run()  # the canvas reruns the page by itself: the warning is still there
    assert "Patchs" in _texts(at.warning)
    left = canvas.objects()  # the refused box stays on the canvas, the saved ones are gone
    assert [o["label"] for o in left] == ["Patchs"]
    assert at.button(key="crop_save_drawn").label == "Save 1 new boxes as crops"
    # its class chosen in the list below the canvas, then saved
    pick = next(s for s in at.selectbox if s.key and s.key.startswith("crop_box_cls_"))
    pick.set_value("scratch").run()
    assert [o["label"] for o in canvas.objects()] == ["scratch"]
    at.button(key="crop_save_drawn").click().run()
    no_exception(at)
    assert len(_crops(ws, project)) == 4 and canvas.objects() == []
    labels = current_labels(ws, project.id)
    crops = _crops(ws, project)
    by_box = {tuple(int(v) for v in b): labels[int(i)].label for i, b in zip(crops["id"], crops["box"], strict=True)}
    assert by_box[(10, 10, 40, 30)] == "scratch"


def test_a_box_repeating_another_is_named_with_its_reason(tmp_path, canvas):
    same = {**SUGGESTED[1], "label": "scale"}  # the geometry of box 2, another class
    ws, project, _shown, at = _suggested(tmp_path, [*SUGGESTED, same])
    at.button(key="crop_save_drawn").click().run()
    no_exception(at)
    assert len(_crops(ws, project)) == 4
    warnings = _texts(at.warning)
    assert "box 5" in warnings and "already exists" in warnings
    assert len(canvas.objects()) == 1


def test_new_suggestions_keep_the_persons_boxes_and_edits(tmp_path, canvas):
    _ws, _project, plate, at = _suggested(tmp_path)
    px = canvas.last["width"] / 200
    objects = canvas.objects()
    objects[1]["left"] += 5 * px  # box 2 moved by 5 plate pixels
    del objects[2]  # box 3 deleted
    objects.append({**objects[0], "left": 150 * px, "top": 120 * px, "width": 30 * px, "height": 20 * px,
                    "label": "pit", "stroke": DRAW})  # a box of their own
    canvas.draw(objects)
    at.run()
    # a new "Suggest boxes" (another threshold): box 1 again, box 3 again, and a new one
    _suggest(at, plate["id"], [SUGGESTED[0], SUGGESTED[2], {"x": 150, "y": 40, "w": 20, "h": 20, "label": "scale"},
                               {"x": 66, "y": 10, "w": 30, "h": 20, "label": "pit"}])
    at.run()
    at.run()
    no_exception(at)
    assert _canvas_boxes(canvas, px) == sorted([
        ("scratch", 10, 10),  # untouched: replaced by the same new one
        ("pit", 65, 10),  # moved: kept (the new one overlapping it is left out)
        ("pit", 150, 120),  # drawn: kept
        ("scale", 150, 40),  # new
    ])  # box 3, deleted, is not suggested again; box 4, untouched and not suggested again, is replaced
    assert "stay on the image" in _texts(at.info) and "were left out" in _texts(at.info)


def test_a_box_typed_by_coordinates_keeps_the_canvas(tmp_path, canvas):
    extra = {"x": 150, "y": 100, "w": 30, "h": 30, "label": "scale"}
    ws, project, _shown, at = _suggested(tmp_path, [*SUGGESTED, extra])
    assert at.button(key="crop_save_drawn").label == "Save 5 new boxes as crops"
    at.number_input(key="crop_x0").set_value(100)
    at.number_input(key="crop_y0").set_value(100)
    at.number_input(key="crop_x1").set_value(140)
    at.number_input(key="crop_y1").set_value(150)
    next(b for b in at.button if b.label == "Add box").click()
    at.run()
    at.run()
    no_exception(at)
    assert _saved_boxes(ws, project) == [(100, 100, 140, 150)]
    assert len(canvas.objects()) == 5
    assert at.button(key="crop_save_drawn").label == "Save 5 new boxes as crops"


@pytest.mark.parametrize("size", [(600, 400), (1600, 400), (200, 900)])
def test_the_canvas_fits_the_column_and_boxes_map_to_plate_pixels(tmp_path, canvas, size):
    import cv2
    import numpy as np

    ws, project, _ids = tiny_workspace(tmp_path / "ws", n_items=2)
    w, h = size
    image = np.random.default_rng(1).integers(0, 256, (h, w, 3), dtype=np.uint8)
    plate_id, _ = ingest.add_plate(ws, project, cv2.imencode(".png", image)[1].tobytes(), "wide.png")
    at = app(ws.root, "cut_crops")
    _suggest(at, plate_id, [{"x": w - 50, "y": h - 40, "w": 50, "h": 40, "label": "pit"}], size=size)
    at.run()
    at.run()
    no_exception(at)
    assert canvas.last["width"] <= 620  # the main column at 1100 px with the sidebar open is 640 px wide
    # the person draws a box at the plate's bottom-right corner; it is stored in plate pixels
    obj = canvas.objects()[0]
    canvas.draw([obj, {**obj, "left": obj["left"] - obj["width"], "label": "", "stroke": DRAW}])
    at.run()
    at.button(key="crop_save_drawn").click().run()
    no_exception(at)
    assert _saved_boxes(ws, project) == sorted([(w - 100, h - 40, w - 50, h), (w - 50, h - 40, w, h)])


def test_the_size_warning_speaks_of_this_page(tmp_path, canvas):
    _ws, _project, _shown, at = _suggested(tmp_path, runs=1, tiled=(64, 64))
    no_exception(at)
    text = _texts(at.warning)
    assert "far from the size of the plates" in text and "Boxing a few plates of this size here" in text
    assert "on the Cut crops page" not in text


def test_the_page_in_chinese_explains_the_toolbar_and_lists_box_classes(tmp_path, canvas):
    _ws, _project, _shown, at = _suggested(tmp_path, lang="zh_CN")
    no_exception(at)
    assert "铅笔是编辑开关" in _texts(at.caption)
    assert sum(1 for s in at.selectbox if s.key and s.key.startswith("crop_box_cls_")) == 4
