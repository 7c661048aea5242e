"""Cut crops: open a full plate image, draw boxes with the mouse (or type coordinates), give each box a
class or leave it unlabeled; every box becomes a crop item linked to its plate and box, exactly like
an imported VOC box. Existing boxes are drawn on the image and can be removed (soft delete)."""

import hashlib

import numpy as np
import streamlit as st

from defectlab import ingest
from defectlab.learn.box_ranker import pairwise_overlap
from defectlab.store import delete_items, get_item, items_frame
from defectlab.team import visible_labels
from defectlab.ui import common, plates_view
from defectlab.ui.common import t, t_plain

ws = common.workspace()
project = common.require_project(ws, title_key="nav.cut_crops")
st.title(t("crops.title", project=project.name))
common.show_flash()

DISPLAY_MAX = 1600
UNLABELED = ""


def _add_plate(upload):
    """Store an uploaded image as a plate item and show it (the picker switches to it); True when it was new."""
    plate_id, new = ingest.add_plate(ws, project, upload.getvalue(), upload.name, user=common.user())
    st.session_state["crop_plate"] = int(plate_id)
    return new


plates = items_frame(ws, project.id, role="plate", with_labels=False)
with st.expander(t("crops.upload_plate"), expanded=plates.empty):
    up = st.file_uploader(t("crops.upload_plate_file"), type=["jpg", "jpeg", "png", "bmp", "tif", "tiff"],
                          key="crop_upload")
    if up is not None and st.button(t("crops.add_plate"), key="crop_add_plate"):
        with common.guard():
            if _add_plate(up):
                common.flash("success", t("crops.plate_added", name=up.name))
            else:
                common.flash("info", t("crops.plate_exists", name=up.name))
            st.rerun()

if plates.empty:
    st.info(t("crops.no_plates"))
    st.stop()

labels = {i: f"#{i} · {s} ({w}×{h})" for i, s, w, h in
          zip(plates["id"], plates["source"], plates["width"], plates["height"], strict=True)}
plate_id = st.selectbox(t("crops.plate"), list(labels), format_func=labels.get, key="crop_plate")
plate = get_item(ws, int(plate_id))
samples = items_frame(ws, project.id, with_labels=False)
crops = samples[samples["parent_id"] == plate["id"]].sort_values("box_index")
# the labels this person may see of these crops (blind overlap: an annotator sees only their own)
crop_labels = visible_labels(ws, project, common.user(), item_ids=[int(i) for i in crops["id"]])


@st.cache_data(show_spinner=False, max_entries=64)
def _background(root, blob, source, boxes, max_side):
    """The plate as JPEG (at most ``max_side`` px) with its existing boxes drawn and numbered."""
    import cv2
    import numpy as np

    decode, _, encode = common._codec()
    image = decode(common._open(root).read_blob(blob), source=source)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    h, w = image.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale < 1:
        image = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    image = np.ascontiguousarray(image)
    for index, (x0, y0, x1, y1) in boxes:
        p0, p1 = (round(x0 * scale), round(y0 * scale)), (round(x1 * scale), round(y1 * scale))
        cv2.rectangle(image, p0, p1, (40, 200, 80), 2)
        # the saved box's number (from 1, as listed below) on a filled tag: legible on any plate
        (tw, th), base = cv2.getTextSize(str(index + 1), cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
        cv2.rectangle(image, p0, (p0[0] + tw + 5, p0[1] + th + base + 4), (40, 200, 80), -1)
        cv2.putText(image, str(index + 1), (p0[0] + 3, p0[1] + th + 2), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                    (0, 0, 0), 1, cv2.LINE_AA)
    return encode(image), scale


existing = tuple((int(i), tuple(b)) for i, b in zip(crops["box_index"], crops["box"], strict=True) if b is not None)
background, scale = _background(str(ws.root.resolve()), plate["blob"], plate["source"], existing,
                                DISPLAY_MAX)
options = [UNLABELED, *list(project.classes)]


def _fmt(c):
    return t("crops.unlabeled_box") if c == UNLABELED else common.cls_name(c)


# the canvas tags its boxes with the class as the person reads it (划痕, not scratches) and gives the tag back:
# shown names map back to classes, unless two classes read the same (then the tags are the classes themselves)
shown_names = {c: common.cls_name(c) for c in project.classes}
if len(set(shown_names.values())) < len(shown_names):
    shown_names = {c: c for c in project.classes}
class_of_name = {v: k for k, v in shown_names.items()}


# -- the canvas: what is on it is kept in the session (per plate) until it is saved ---------------------------
# The canvas component keeps its drawing while its key stays the same; the page changes its content (suggestions
# merged in, saved boxes taken off, a box relabeled below it) by giving it a new drawing under a new key. Boxes are
# kept in plate pixels, so any canvas size maps them back correctly. Boxes the person drew (or edited) carry the
# drawing colour; the model's untouched suggestions carry their class colour.
DRAW_STROKE = "#ff3b30"
DRAW_FILL = "rgba(255, 59, 48, 0.12)"
FONT_SIZE = 14
# the main column is 640 px wide in a 1100 px window with the sidebar open: a wider canvas would hide (and make
# undrawable) the right part of the plate
CANVAS_MAX_W = 620
REJECT_SECONDS = 8  # a refused box's warning outlives the reruns the canvas starts by itself
_ORIGIN = {"left": 0.0, "top": 0.0, "center": 0.5, "right": 1.0, "bottom": 1.0}
ss = st.session_state


def canvas_geometry(width, height, scale, max_w=CANVAS_MAX_W):
    """``(canvas_w, canvas_h, px, off_x, off_y)``: the canvas size for a plate of ``width`` x ``height`` shown as
    a JPEG at ``scale``, canvas pixels per plate pixel and the image's offset on the canvas (the component's
    "contain" fit of the JPEG)."""
    disp_w, disp_h = max(1, round(width * scale)), max(1, round(height * scale))
    canvas_w = int(max_w)  # small plates enlarged, large ones reduced: the whole plate fits the column
    canvas_h = max(1, round(disp_h * canvas_w / disp_w))
    fit = min(canvas_w / disp_w, canvas_h / disp_h)
    return canvas_w, canvas_h, scale * fit, (canvas_w - disp_w * fit) / 2, (canvas_h - disp_h * fit) / 2


def boxes_from_drawing(drawing, px, off_x, off_y):
    """The labeled rectangles of a Fabric.js drawing as ``{"label", "x0", "y0", "x1", "y1", "own"}`` in plate
    pixels (floats); ``own``: drawn (or edited) by the person, not an untouched suggestion."""
    out = []
    for o in (drawing or {}).get("objects", []) or []:
        if o.get("type") != "LabeledRect":
            continue
        w = float(o.get("width", 0)) * float(o.get("scaleX", 1) or 1)
        h = float(o.get("height", 0)) * float(o.get("scaleY", 1) or 1)
        left = float(o.get("left", 0)) - _ORIGIN.get(o.get("originX", "left"), 0.0) * w
        top = float(o.get("top", 0)) - _ORIGIN.get(o.get("originY", "top"), 0.0) * h
        x0, y0 = (left - off_x) / px, (top - off_y) / px
        out.append({"label": str(o.get("label") or ""), "x0": x0, "y0": y0, "x1": x0 + w / px, "y1": y0 + h / px,
                    "own": str(o.get("stroke", "")).lower() == DRAW_STROKE})
    return out


def drawing_of(boxes, px, off_x, off_y, classes, class_of):
    """The Fabric.js drawing of ``boxes`` (plate pixels) for the canvas."""
    objects = []
    for b in boxes:
        if b["own"]:
            stroke, fill = DRAW_STROKE, DRAW_FILL
        else:
            r, g, bl = plates_view.box_colour(class_of(b["label"]), classes)
            stroke, fill = f"#{r:02x}{g:02x}{bl:02x}", f"rgba({r}, {g}, {bl}, 0.12)"
        objects.append({
            "type": "LabeledRect", "version": "6.0.0", "originX": "left", "originY": "top",
            "left": b["x0"] * px + off_x, "top": b["y0"] * px + off_y,
            "width": (b["x1"] - b["x0"]) * px, "height": (b["y1"] - b["y0"]) * px,
            "fill": fill, "stroke": stroke, "strokeWidth": 2, "strokeUniform": True, "scaleX": 1, "scaleY": 1,
            "angle": 0, "label": b["label"], "fontSize": FONT_SIZE,
        })
    return {"version": "6.0.0", "objects": objects}


def _overlapping(a, b, max_iou):
    """(len(a), len(b)) bool: which boxes of ``a`` overlap which of ``b`` at IoU >= ``max_iou`` (plate pixels)."""
    xyxy = lambda boxes: np.array([[x["x0"], x["y0"], x["x1"], x["y1"]] for x in boxes], np.float64)  # noqa: E731
    if not a or not b:
        return np.zeros((len(a), len(b)), bool)
    return pairwise_overlap(xyxy(a), xyxy(b))[0] >= max_iou


def _same(a, b, tol):
    return a["label"] == b["label"] and all(abs(a[k] - b[k]) <= tol for k in ("x0", "y0", "x1", "y1"))


def merge_suggestions(live, originals, new, tol, max_iou=0.5):
    """What the canvas holds after a new "Suggest boxes": ``live`` the boxes on it now, ``originals`` the earlier
    suggestions as they were put on it, ``new`` the new suggestions.

    The person's boxes stay: drawn ones, and suggestions they moved, resized or relabeled (kept as their own). The
    untouched suggestions are replaced by the new ones, minus new ones that overlap a kept box (IoU >= ``max_iou``)
    and ones of the class of a suggestion the person deleted there. Returns ``(boxes, left_out)``.
    """
    kept = [b if b["own"] else {**b, "own": True} for b in live
            if b["own"] or not any(_same(b, o, tol) for o in originals)]
    gone = [o for o in originals if not any(_same(o, b, tol) for b in live)]
    deleted = [o for o, near in zip(gone, _overlapping(gone, kept, max_iou).any(axis=1), strict=True) if not near]
    on_kept = _overlapping(new, kept, max_iou).any(axis=1)
    on_deleted = _overlapping(new, deleted, max_iou) & np.array(
        [[b["label"] == d["label"] for d in deleted] for b in new], bool).reshape(len(new), len(deleted))
    left = on_kept | on_deleted.any(axis=1)
    return kept + [b for b, out in zip(new, left, strict=True) if not out], int(left.sum())


def _canvases():
    return ss.setdefault("crop_canvases", {})


def set_canvas(plate_id, boxes, originals=None):
    """Give the canvas of ``plate_id`` these boxes (a new drawing under a new key). ``originals``: the model's
    suggestions as they were put on the canvas (to tell the untouched ones from those the person changed); None
    keeps the earlier ones."""
    ss["crop_canvas_rev"] = ss.get("crop_canvas_rev", 0) + 1
    if originals is None:
        originals = (_canvases().get(int(plate_id)) or {}).get("originals", [])
    _canvases()[int(plate_id)] = {"rev": ss["crop_canvas_rev"], "boxes": [dict(b) for b in boxes],
                                  "live": [dict(b) for b in boxes], "originals": [dict(b) for b in originals]}


def _int_box(b, width, height):
    x0, x1 = sorted((max(0, round(b["x0"])), min(int(width), round(b["x1"]))))
    y0, y1 = sorted((max(0, round(b["y0"])), min(int(height), round(b["y1"]))))
    return x0, y0, x1, y1


def _box_problems():
    return ss.setdefault("crop_box_problems", {})


def _box_key(plate_id, label, xyxy):
    return (int(plate_id), str(label), *[int(v) for v in xyxy])


def _box_index(source):
    try:
        return int(str(source).rsplit("#", 1)[1])
    except (IndexError, ValueError):
        return None


def _save(boxes, numbers=None):
    """Store ``boxes`` (plate pixels, the canvas's tags) as crops and say what happened to each, after the rerun
    too (``common.flash``). ``numbers``: the boxes' numbers on the page (None: a box typed by coordinates).
    Returns the positions of the boxes now stored (or already in the project), or None after a library error."""
    problems = _box_problems()
    valid, where, handled = [], [], set()

    def _what(k, label, xyxy):
        shown = common.cls_name(label) if label else t_plain("crops.unlabeled_box")
        if numbers is None:
            return t_plain("crops.typed_box", label=shown, x0=xyxy[0], y0=xyxy[1], x1=xyxy[2], y1=xyxy[3])
        return t_plain("crops.box_n", k=numbers[k], label=shown, x0=xyxy[0], y0=xyxy[1], x1=xyxy[2], y1=xyxy[3])

    def _refuse(k, tag, xyxy, reason):
        text = t("crops.box_not_saved", box=_what(k, tag, xyxy), reason=reason)
        problems[_box_key(plate["id"], tag, xyxy)] = str(reason)
        common.flash("warning", text, keep_seconds=REJECT_SECONDS)

    for k, b in enumerate(boxes):
        xyxy = _int_box(b, plate["width"], plate["height"])
        label = class_for_tag(b["label"])
        if label is False:
            _refuse(k, b["label"], xyxy, t_plain("crops.not_a_class", tag=b["label"], names=valid_names()))
            continue
        valid.append((label, *xyxy))
        where.append(k)
    if valid:
        report = None
        with common.guard():
            report = ingest.add_crops(ws, project, plate["id"], valid, user=common.user())
        if report is None:
            return None
        outcome = {}
        for r in report.rejected:
            outcome.setdefault(_box_index(r.get("source")), []).append(r)
        for source, _item, _dup in report.batch_items:
            outcome.setdefault(_box_index(source), []).append(None)
        indices = [i for i in outcome if i is not None]
        start = min(indices) if indices else None
        mapped = start is not None and sorted(indices) == list(range(start, start + len(valid)))
        for j, (_label, *xyxy) in enumerate(valid):
            rows = outcome.get(start + j) if mapped else None
            if mapped and all(r is None for r in rows):
                handled.add(where[j])
                problems.pop(_box_key(plate["id"], boxes[where[j]]["label"], xyxy), None)
            elif mapped:
                for r in rows:
                    if r is not None:
                        _refuse(where[j], boxes[where[j]]["label"], xyxy,
                                common.reason_text(r.get("reason", ""), r.get("reason_key"), r.get("reason_args")))
        if not mapped:  # (never expected) say every rejection as the library wrote it
            for r in report.rejected:
                common.flash("warning", common.rejected_text(r), keep_seconds=REJECT_SECONDS)
            if not report.rejected:
                handled.update(where)
        if report.imported:
            common.flash("success", t("crops.saved", n=report.imported), keep_seconds=4)  # the canvas reruns
            st.session_state["lbl_ctx"] = None
        if report.duplicates:
            common.flash("info", t("crops.saved_duplicates", n=report.duplicates), keep_seconds=4)
    if numbers is not None and len(handled) < len(boxes):
        common.flash("info", t("crops.rejected_kept", n=len(boxes) - len(handled)), keep_seconds=REJECT_SECONDS)
    return handled


def class_for_tag(tag):
    """The class of a canvas tag: None for no tag (unlabeled), False when it names no class."""
    tag = str(tag or "").strip()
    if not tag:
        return None
    if tag in class_of_name:
        return class_of_name[tag]
    if tag in project.classes:
        return tag
    folded = {k.casefold(): v for k, v in class_of_name.items()} | {c.casefold(): c for c in project.classes}
    return folded.get(tag.casefold(), False)


def valid_names():
    return ", ".join(shown_names[c] for c in project.classes)


def _tag(cls):
    return shown_names.get(cls, cls) if cls else ""


# -- draw with the mouse -------------------------------------------------------------------------------
st.subheader(t("crops.draw"))
pid = int(plate["id"])
# the size warning of the suggestions, worded for this page (the shared one sends the reader to this page)
sug_state = ss.get("crop_suggestions")
if isinstance(sug_state, dict) and sug_state.get("tiled"):
    sug_state["cut_tiled"] = sug_state.pop("tiled")
generation = ss.get("crop_canvas_n", 0)
suggested = plates_view.suggest_panel(ws, project, plate, generation)
sug_state = ss.get("crop_suggestions") or {}
if suggested and sug_state.get("cut_tiled"):
    tiled = sug_state["cut_tiled"]
    width, height = sug_state.get("size") or (plate["width"], plate["height"])
    st.warning(t("crops.tiled", width=width, height=height, plate_width=tiled[0], plate_height=tiled[1]))
box_class = st.selectbox(t("crops.class_for_boxes"), options, format_func=_fmt, key="crop_class")
try:
    from streamlit_drawable_canvas import st_canvas  # lazy: importing it outside a page run fails
except Exception:
    st_canvas = None
if st_canvas is None:
    st.caption(t("crops.no_canvas"))
else:
    canvas_w, canvas_h, px, off_x, off_y = canvas_geometry(plate["width"], plate["height"], scale)
    tol = 0.5 / px  # half a canvas pixel, in plate pixels
    state = _canvases().get(pid)
    if state is None or ss.get("crop_canvas_shown") != pid or (
            f"crop_canvas_{pid}_{state['rev']}" not in ss and state["live"] != state["boxes"]):
        # this plate opened again (or this page, whose canvas Streamlit forgot): its unsaved boxes come back
        set_canvas(pid, (state or {}).get("live", []))
        ss["crop_canvas_shown"] = pid
        state = _canvases()[pid]
    st.caption(t("crops.canvas_help"))
    result = st_canvas(
        drawing_mode="labeled_rect", label=_tag(box_class), background_image=background,
        background_image_fit="contain", width=canvas_w, height=canvas_h, stroke_width=2,
        stroke_color=DRAW_STROKE, fill_color=DRAW_FILL, font_size=FONT_SIZE,
        key=f"crop_canvas_{pid}_{state['rev']}", max_display_height=720,
        initial_drawing=drawing_of(state["boxes"], px, off_x, off_y, project.classes,
                                   lambda tag: class_for_tag(tag) or None),
    )
    live = boxes_from_drawing(result.json_data, px, off_x, off_y)
    state["live"] = live
    sug = ss.get("crop_suggestions") or {}
    if suggested and not sug.get("merged"):  # a new "Suggest boxes": merged with what is on the canvas
        sug["merged"] = True
        new = [{"label": _tag(b["label"]), "x0": float(b["x"]), "y0": float(b["y"]),
                "x1": float(b["x"]) + float(b["w"]), "y1": float(b["y"]) + float(b["h"]), "own": False}
               for b in suggested]
        merged, left_out = merge_suggestions(live, state.get("originals", []), new, tol)
        kept = sum(1 for b in merged if b["own"])
        if kept:
            common.flash("info", t("crops.kept_on_suggest", n=kept), keep_seconds=REJECT_SECONDS)
        if left_out:
            common.flash("info", t("crops.left_out_on_suggest", n=left_out), keep_seconds=REJECT_SECONDS)
        set_canvas(pid, merged, originals=[b for b in merged if not b["own"]])
        st.rerun()
    # every box on the canvas, with its class: a select box changes it (the canvas's own way, clicking a
    # selected box again in edit mode and typing, is hard to find)
    problems = _box_problems()
    for k, b in enumerate(live, start=1):
        xyxy = _int_box(b, plate["width"], plate["height"])
        label = class_for_tag(b["label"])
        cols = st.columns([3, 2], vertical_alignment="center")
        cols[0].markdown(t("crops.drawn_line", k=k, label=common.cls_name(label) if label else (
            t_plain("crops.unlabeled_box") if label is None else b["label"]), x0=xyxy[0], y0=xyxy[1],
            x1=xyxy[2], y1=xyxy[3]))
        if label is False:
            cols[0].caption(t("crops.not_a_class", tag=b["label"], names=valid_names()))
        elif (why := problems.get(_box_key(pid, b["label"], xyxy))) is not None:
            cols[0].caption(t("crops.box_problem", reason=why))
        current = None if label is False else (label or UNLABELED)
        digest = hashlib.sha256(f"{b['label']}|{xyxy}|{b['own']}".encode()).hexdigest()[:10]
        picked = cols[1].selectbox(
            t("crops.box_class", k=k), options, index=None if current is None else options.index(current),
            format_func=_fmt, key=f"crop_box_cls_{state['rev']}_{k}_{digest}", label_visibility="collapsed",
            placeholder=t_plain("crops.pick_class", tag=b["label"]))
        if picked is not None and picked != current:
            changed = [dict(x) for x in live]
            changed[k - 1].update(label=_tag(picked), own=True)
            set_canvas(pid, changed)
            st.rerun()
    if st.button(t("crops.save_drawn", n=len(live)), key="crop_save_drawn", type="primary", disabled=not live):
        done = _save(live, numbers=list(range(1, len(live) + 1)))
        if done is not None:
            if done:
                set_canvas(pid, [b for k, b in enumerate(live) if k not in done])
                ss["crop_canvas_n"] = generation + 1  # the suggestions' caption goes: they are on the canvas
            st.rerun()

# -- or type the coordinates ---------------------------------------------------------------------------
with st.expander(t("crops.by_numbers")):
    with st.form("crop_numeric"):
        c = st.columns(5)
        x0 = c[0].number_input("x0", 0, int(plate["width"]) - 1, 0, key="crop_x0")
        y0 = c[1].number_input("y0", 0, int(plate["height"]) - 1, 0, key="crop_y0")
        x1 = c[2].number_input("x1", 1, int(plate["width"]), min(64, int(plate["width"])), key="crop_x1")
        y1 = c[3].number_input("y1", 1, int(plate["height"]), min(64, int(plate["height"])), key="crop_y1")
        cls = c[4].selectbox(t("common.class"), options, format_func=_fmt, key="crop_num_class")
        add = st.form_submit_button(t("crops.add_box"))
    if add:
        # only this box is saved: the boxes on the canvas stay there, unsaved
        box = {"label": _tag(cls), "x0": int(x0), "y0": int(y0), "x1": int(x1), "y1": int(y1), "own": True}
        if _save([box]) is not None:
            st.rerun()

# -- the boxes already cut from this plate ---------------------------------------------------------------
st.subheader(t("crops.existing", n=len(crops)))
if crops.empty:
    st.caption(t("crops.none_yet"))
else:
    per_row = 8
    rows = list(crops.itertuples(index=False))
    for start in range(0, len(rows), per_row):
        cols = st.columns(per_row)
        for col, r in zip(cols, rows[start:start + per_row], strict=False):
            with col:
                st.image(common.thumb(r._asdict(), 96), width="content")  # tall crops stay at most 96 px
                st.caption(f"{int(r.box_index) + 1} · {common.md(common.label_text(crop_labels.get(int(r.id))))}")
    remove = st.multiselect(t("crops.remove"), [int(i) for i in crops["id"]], key="crop_remove",
                            placeholder=t("common.choose"), select_all=False,
                            format_func=lambda i: f"{int(crops.set_index('id').loc[i, 'box_index']) + 1} · "
                                                  f"{common.label_text(crop_labels.get(int(i)))}")
    if st.button(t("crops.remove_go", n=len(remove)), key="crop_remove_go", disabled=not remove):
        with common.guard():
            delete_items(ws, remove, user=common.user())
            common.flash("success", t("crops.removed", n=len(remove)))
            st.session_state["lbl_ctx"] = None
            st.rerun()
