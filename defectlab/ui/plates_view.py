"""Full images in the app: the defect map over a plate, the located boxes, and box suggestions.

* :func:`locate_panel` (Predict page): full images (one or a batch uploaded, or a plate already in the project)
  are searched with a run, one at a time with a progress bar, and each result recorded
  (:func:`defectlab.learn.plate_review.locate_plates`; a corrupt file is named with its reason and the others go
  on). A batch is a table (boxes per class, best score, boxes still open) above the plate being reviewed, chosen
  by a row or Previous / Next. The page shows the defect map as a colour overlay with the numbered boxes, and
  each box can be accepted as the
  model labeled it, corrected to another class, moved a little (the row's "Adjust box" popover, previewed by
  :func:`place_preview`), or dismissed (:func:`~defectlab.learn.plate_review.decide_box`: a line supervisor may,
  without the Cut crops page). An accepted or corrected box becomes a labeled crop linked to its plate; a
  dismissed one is remembered (a ``background`` crop when the project has that class). A decided row has an
  "Undo" (:func:`~defectlab.learn.plate_review.undo_box`) for the person who decided it (and leads, admins).
* :func:`suggest_panel` + :func:`initial_drawing` (Cut-crops page): the model's boxes are pre-drawn on
  the canvas; the annotator moves, relabels or deletes them and saves the rest as crops.

Pure helpers (:func:`overlay_image`, :func:`initial_drawing`) take arrays and return arrays / dicts.
"""

from __future__ import annotations

import uuid

import cv2
import numpy as np
import pandas as pd
import streamlit as st

from defectlab.errors import ConflictError, DefectlabError
from defectlab.learn import plate_review
from defectlab.learn.box_proposals import expected_from
from defectlab.learn.locate import BACKGROUND, LocateSettings, locate_item
from defectlab.store import get_item, items_frame, load_item_image
from defectlab.ui import common
from defectlab.ui.common import t, t_plain

__all__ = ["box_colour", "initial_drawing", "locate_panel", "overlay_image", "place_preview", "suggest_panel"]

_PALETTE = [(230, 57, 70), (42, 157, 143), (233, 196, 106), (69, 123, 157), (244, 162, 97), (131, 56, 236),
            (6, 214, 160), (255, 0, 110), (58, 134, 255), (141, 153, 174)]


def box_colour(label, classes):
    """RGB colour of a class (stable per class position)."""
    try:
        k = list(classes).index(label)
    except ValueError:
        k = len(_PALETTE) - 1
    return _PALETTE[k % len(_PALETTE)]


def overlay_image(image, defect_map, boxes, classes, max_side=1200, alpha=0.45):
    """The plate with its defect map as a heat overlay and the numbered boxes drawn on it.

    Parameters
    ----------
    image : (H, W) or (H, W, 3) ndarray of np.uint8
    defect_map : (mh, mw) ndarray
        Probability of "some defect" on a coarse grid (resized to the image).
    boxes : list of dict
        ``{"x", "y", "w", "h", "label", "score"}`` in image pixels.
    classes : list of str
        For the box colours.
    max_side : int
        The result is shrunk so its longer side is at most this.
    alpha : float
        Strength of the overlay where the map is 1 (it fades out to nothing at 0.25 and below).

    Returns
    -------
    rgb : (h, w, 3) ndarray of np.uint8
    scale : float
        Result pixels per image pixel.
    """
    rgb = image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=2)
    h, w = rgb.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale < 1:
        rgb = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    rgb = np.ascontiguousarray(rgb)
    oh, ow = rgb.shape[:2]
    heat = cv2.resize(np.clip(np.asarray(defect_map, np.float32), 0, 1), (ow, oh), interpolation=cv2.INTER_LINEAR)
    colour = cv2.applyColorMap(np.round(heat * 255).astype(np.uint8), cv2.COLORMAP_JET)[..., ::-1]
    a = (alpha * np.clip((heat - 0.25) / 0.75, 0, 1))[..., None]  # unlikely areas stay as they are
    out = np.clip(rgb * (1 - a) + colour * a, 0, 255).astype(np.uint8)
    thick = max(1, round(max(oh, ow) / 400))
    rects = [(round(b["x"] * scale), round(b["y"] * scale), round((b["x"] + b["w"]) * scale) - 1,
              round((b["y"] + b["h"]) * scale) - 1) for b in boxes]
    for b, (x0, y0, x1, y1) in zip(boxes, rects, strict=True):
        cv2.rectangle(out, (x0, y0), (x1, y1), box_colour(b["label"], classes), thick + 1)
    for k, (b, (tx, ty, tw, th)) in enumerate(zip(boxes, tag_places(rects, (ow, oh)), strict=True), start=1):
        # the number on a tag of the box's colour (dark or light text, whichever reads): legible over the heat map
        c = box_colour(b["label"], classes)
        cv2.rectangle(out, (tx, ty), (tx + tw - 1, ty + th - 1), c, -1)
        ink = (0, 0, 0) if 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2] > 140 else (255, 255, 255)
        (_, text_h), _ = cv2.getTextSize(str(k), cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
        cv2.putText(out, str(k), (tx + 3, ty + text_h + 2), cv2.FONT_HERSHEY_SIMPLEX, 0.5, ink, 1, cv2.LINE_AA)
    return out, scale


def shown_width(width, at_least=480):
    """The width to show an overlay of ``width`` pixels: the column's ("stretch") from ``at_least`` pixels on, a
    smaller image enlarged by a whole factor up to that (a 20 x 20 upload is not blown up to the whole page)."""
    width = max(1, int(width))
    return "stretch" if width >= at_least else width * max(1, at_least // width)


def tag_places(rects, size):
    """Where each box's number tag goes: ``(x, y, w, h)`` per box (``rects``: ``(x0, y0, x1, y1)``, image of
    ``size`` = ``(w, h)``). A corner of its box (top left first, then top right, bottom left, bottom right, just
    above, just below) where it covers no tag placed before it; the top left when every place is taken."""
    placed = []
    for k, (x0, y0, x1, y1) in enumerate(rects, start=1):
        (tw, th), base = cv2.getTextSize(str(k), cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
        tw, th = tw + 5, th + base + 4
        spots = [(x0, y0), (x1 - tw + 1, y0), (x0, y1 - th + 1), (x1 - tw + 1, y1 - th + 1), (x0, y0 - th),
                 (x0, y1 + 1)]
        fits = [(min(max(x, 0), max(0, size[0] - tw)), min(max(y, 0), max(0, size[1] - th))) for x, y in spots]
        free = [p for p in fits if not any(p[0] < q[0] + q[2] and q[0] < p[0] + tw and p[1] < q[1] + q[3]
                                           and q[1] < p[1] + th for q in placed)]
        x, y = (free or fits)[0]
        placed.append((int(x), int(y), int(tw), int(th)))
    return placed


def initial_drawing(boxes, factor, classes=(), font_size=14, names=None):
    """Fabric.js JSON for ``st_canvas(initial_drawing=...)``: one labeled rectangle per box.

    Parameters
    ----------
    boxes : list of dict
        ``{"x", "y", "w", "h", "label"}`` in image pixels.
    factor : float
        Canvas pixels per image pixel.
    classes : sequence of str
        For the colours.
    names : dict or None
        The tag shown on each box for its class (the class in the session's language); the class itself when
        None or absent. The page maps the tags back to classes when the boxes are saved.

    Returns
    -------
    dict or None
        ``None`` when there is no box (the canvas stays as the annotator left it).
    """
    if not boxes:
        return None
    objects = []
    for b in boxes:
        r, g, bl = box_colour(b["label"], classes)
        objects.append({
            "type": "LabeledRect", "version": "6.0.0", "originX": "left", "originY": "top",
            "left": float(b["x"]) * factor, "top": float(b["y"]) * factor,
            "width": float(b["w"]) * factor, "height": float(b["h"]) * factor,
            "fill": f"rgba({r}, {g}, {bl}, 0.12)", "stroke": f"#{r:02x}{g:02x}{bl:02x}", "strokeWidth": 2,
            "strokeUniform": True, "scaleX": 1, "scaleY": 1, "angle": 0,
            "label": str((names or {}).get(b["label"], b["label"])),
            "fontSize": font_size,
        })
    return {"version": "6.0.0", "objects": objects}


def _run_choice(ws, project, key):
    from defectlab import learn

    runs = learn.list_runs(ws, project.name)
    if not runs:
        st.caption(t("plates.no_run"))
        return None
    ordered = [r for r in runs if r.get("approved")] + [r for r in runs if not r.get("approved")]
    ids = [r["run_id"] for r in ordered]
    return st.selectbox(t("predict.run"), ids, key=key)


# -- Predict page --------------------------------------------------------------------------------------

def _plate_choices(ws, project):
    plates = items_frame(ws, project.id, role="plate", with_labels=False)
    return {int(i): f"#{i} · {s} ({w}×{h})" for i, s, w, h in
            zip(plates["id"], plates["source"], plates["width"], plates["height"], strict=True)}


def _find(ws, project, run_id, uploads, pick, threshold=None):
    """Search the uploaded full images (or else the picked plate) through the library, one at a time with a progress
    bar when there are several; the batch and its first plate go in the session."""
    bar = st.progress(0.0, text=t("plates.finding")) if len(uploads) > 1 else None

    def _progress(done, total, source):
        if bar is not None:
            bar.progress(done / max(total, 1), text=t("plates.batch_progress", done=done, total=total))

    out = plate_review.locate_plates(ws, project, [(f.name, f.getvalue()) for f in uploads],
                                     item_ids=[] if uploads else [pick], run_id=run_id,
                                     settings=LocateSettings(threshold=threshold), user=common.user(),
                                     progress=_progress)
    entries = [{"item_id": int(r.extra["item_id"]), "run_id": run_id, "result": r, "done": {},
                "threshold": threshold} for r in out["results"]]
    _fresh_rows(entries)
    st.session_state["plates_batch"] = {"run_id": run_id, "serial": uuid.uuid4().hex, "entries": entries,
                                        "rejected": out["rejected"], "repeated": out["repeated"]}
    st.session_state["plates_pos"] = 0
    st.session_state["plates_result"] = entries[0] if entries else None


def _fresh_rows(entries):
    """A new search (or a reopened one) of a plate starts with the model's class and place in every row: the
    rows' fields are keyed by plate and box number, and box k of another search is another box."""
    prefixes = tuple(f"plates_{kind}_{e['item_id']}_" for e in entries for kind in ("cls", "place"))
    for key in [k for k in st.session_state if isinstance(k, str) and k.startswith(prefixes)]:
        del st.session_state[key]


def _threshold_choice(prefix="plates", estimate=None):
    """None (the locator's calibrated thresholds, per class) or the lowest box score the person chose: lower
    finds more defects and more wrong boxes (a supervisor who must not miss a defect, or an annotator who
    would rather delete a wrong suggestion than draw a missed box, goes lower). ``estimate``: the box
    scorer's numbers from the last search with this run (what the chosen threshold gave on its own plates,
    shown as the slider moves)."""
    if st.toggle(t("plates.calibrated"), value=True, key=f"{prefix}_calibrated", help=t("plates.calibrated_help")):
        return None
    value = float(st.slider(t("plates.threshold"), 0.01, 0.99, value=0.3, step=0.01, key=f"{prefix}_threshold",
                            help=t("plates.threshold_help")))
    expected = expected_from(estimate, value)
    if expected is not None:
        st.caption(t("plates.expected_at", value=value, recall=expected[0], precision=expected[1]))
    return value


def _tiled_warning(width, height, tiled):
    """A warning when an image is much larger than the run's plates (``tiled``: the scorer's plate size, else None): the
    numbers of the plates the run learned from do not hold for it."""
    if tiled:
        st.warning(t("plates.tiled", width=width, height=height, plate_width=tiled[0], plate_height=tiled[1]))


def _expected_caption(expected):
    """What such boxes were like on the run's own plates (``(recall, precision)``; nothing when None)."""
    if expected is not None:
        st.caption(t("plates.expected", recall=expected[0], precision=expected[1]))


def _errors_expander(estimate):
    """Where the locator's boxes at its calibrated thresholds went wrong on the plates it learned from (the box
    scorer's :func:`~defectlab.learn.box_ranker.error_breakdown`, out of fold), each kind that happened with
    what helps; nothing for a locator stored before it had the breakdown."""
    errors = (estimate or {}).get("errors")
    if not errors:
        return
    missed = sum(v for k, v in errors.items() if k.startswith("missed_"))
    wrong = sum(v for k, v in errors.items() if k.startswith("wrong_"))
    with st.expander(t("plates.errors_title"), icon=":material/troubleshoot:"):
        st.caption(t("plates.errors_caption", missed=missed, wrong=wrong))
        of = {"missed": max(missed, 1), "wrong": max(wrong, 1)}
        rows = [{t_plain("plates.errors_col_what"): t_plain(f"plates.errors.{kind}"),
                 t_plain("plates.errors_col_count"): n,
                 t_plain("plates.errors_col_share"): f"{n / of[kind.split('_')[0]]:.0%}",
                 t_plain("plates.errors_col_help"): t_plain(f"plates.errors_help.{kind}")}
                for kind, n in errors.items() if n]  # the kinds that happened
        if rows:  # a static table: the help texts wrap (a data grid would cut them off); catalog texts, numbers
            st.table(pd.DataFrame(rows).set_index(t_plain("plates.errors_col_what")))


def _record(ws, project, state, k, decision, label, place=None):
    """One box's decision through the library (which checks the role and the box), kept in the batch's state."""
    out = plate_review.decide_box(ws, project, state["result"].extra["result_id"], k, decision, label,
                                  user=common.user(), place=place)
    state["done"][k] = out["decision"]
    state.setdefault("labels", {})[k] = out["label"]
    state.setdefault("moved", {})[k] = out["place"]
    if out["crop_id"] is not None:
        st.session_state["lbl_ctx"] = None  # the Label page's plate context has a new crop
    return out


def _decide(ws, project, state, k, decision, label=None, place=None):
    """One box's decision, an error shown on the page; True when stored."""
    with common.guard():
        if _record(ws, project, state, k, decision, label, place)["crop_id"] is not None:
            common.flash("success", t("plates.saved", n=1))
        return True
    return False


def _forget_row(state, k):
    """Box ``k``'s row as the search showed it: no decision kept in the page, the model's class and place in its
    fields."""
    state["done"].pop(k, None)
    state.get("labels", {}).pop(k, None)
    state.get("moved", {}).pop(k, None)
    for key in (f"plates_cls_{state['item_id']}_{k}", *(f"plates_place_{state['item_id']}_{k}_{n}" for n in "xywh")):
        st.session_state.pop(key, None)


def _undo(ws, project, state, k, earlier=None):
    """Undo box ``k``'s latest decision (its crop soft-deleted): the row is open again, or shows the decision
    before it. ``earlier``: the decision was made on another search of the plate (the row's ``earlier`` entry)."""
    with common.guard():
        if earlier is None:
            out = plate_review.undo_box(ws, project, state["result"].extra["result_id"], k, user=common.user())
        else:
            out = plate_review.undo_box(ws, project, earlier["result_id"], earlier["box_index"], user=common.user())
            rows = state["result"].extra["earlier"]  # every box of this search that repeats the undone one
            for j in [j for j, e in rows.items() if (e.get("result_id"), e.get("box_index")) ==
                      (earlier["result_id"], earlier["box_index"])]:
                rows.pop(j)
        _forget_row(state, k)
        if out["decision"] is not None and earlier is None:
            state["done"][k] = out["decision"]
        if out["crop_id"] is not None:
            st.session_state["lbl_ctx"] = None  # the Label page's plate context lost a crop
        common.flash("success", t("plates.undone_crop", crop=out["crop_id"]) if out["crop_id"] is not None
                     else t("plates.undone"))
        st.rerun()


def place_preview(image, box, place, side=220):
    """The plate around a box with the model's box (grey, thin) and the moved one (orange) drawn: what the
    "Adjust box" fields change, enlarged or shrunk so its longer side is about ``side`` pixels. Returns RGB."""
    h, w = image.shape[:2]
    x0, y0 = min(box["x"], place[0]), min(box["y"], place[1])
    x1 = max(box["x"] + box["w"], place[0] + place[2])
    y1 = max(box["y"] + box["h"], place[1] + place[3])
    pad = max(8, (x1 - x0) // 4, (y1 - y0) // 4)
    cx0, cy0, cx1, cy1 = max(0, x0 - pad), max(0, y0 - pad), min(w, x1 + pad), min(h, y1 + pad)
    part = image[cy0:cy1, cx0:cx1]
    rgb = cv2.cvtColor(part, cv2.COLOR_GRAY2RGB) if part.ndim == 2 else np.ascontiguousarray(part[..., :3])
    f = side / max(rgb.shape[:2])
    rgb = cv2.resize(rgb, (max(1, round(rgb.shape[1] * f)), max(1, round(rgb.shape[0] * f))),
                     interpolation=cv2.INTER_NEAREST if f >= 1 else cv2.INTER_AREA)

    def rect(x, y, bw, bh, colour, thick):
        p0 = (round((x - cx0) * f), round((y - cy0) * f))
        p1 = (round((x + bw - cx0) * f) - 1, round((y + bh - cy0) * f) - 1)
        cv2.rectangle(rgb, p0, p1, colour, thick)

    rect(box["x"], box["y"], box["w"], box["h"], (200, 200, 200), 1)
    rect(*place, (255, 140, 0), 2)
    return rgb


def _place_fields(state, k, image, may_decide):
    """The "Adjust box" popover of box ``k``: x, y, width, height (the model's box to start) and a preview;
    returns the checked place (None: the model's box), or False when the typed place is refused (the reason is
    shown there)."""
    b = state["result"].boxes[k]
    h, w = image.shape[:2]
    key = f"plates_place_{state['item_id']}_{k}"
    with st.popover(t("plates.adjusted") if _moved(state, k) else t("plates.adjust"), icon=":material/crop:",
                    disabled=not may_decide):
        st.caption(t("plates.adjust_help"))  # not a tooltip: one would cover the rows above
        cols = st.columns(4)
        limits = {"x": (0, w - 2), "y": (0, h - 2), "w": (2, w), "h": (2, h)}
        for col, n in zip(cols, ("x", "y", "w", "h"), strict=True):
            start = {} if f"{key}_{n}" in st.session_state else {"value": b[n]}  # set by the reset callback
            col.number_input(t(f"plates.place_{n}"), min_value=limits[n][0], max_value=limits[n][1], step=1,
                             key=f"{key}_{n}", **start)
        place = _row_place(state, k, w, h)
        if place is False:  # the reason, as the library words it
            try:
                plate_review.check_place(_typed_place(state, k), b, w, h)
            except DefectlabError as exc:
                st.warning(common.error_text(exc))
        if place is None:  # the row's own thumbnail shows the model's box (no image sent per row and rerun)
            st.caption(t("plates.adjust_caption_unmoved"))
            return None
        st.image(place_preview(image, b, _typed_place(state, k)), caption=t("plates.adjust_caption"))
        st.button(t("plates.adjust_reset"), key=f"{key}_reset", icon=":material/restart_alt:", on_click=_reset_place,
                  args=(key, {n: int(b[n]) for n in ("x", "y", "w", "h")}))
    return place


def _reset_place(key, box):
    """The "Adjust box" fields back to the model's box (a callback: set before the fields are drawn, so the
    browser shows and sends the model's numbers, not the typed ones)."""
    for n, v in box.items():
        st.session_state[f"{key}_{n}"] = v


def _moved(state, k):
    """Whether box ``k``'s "Adjust box" fields differ from the model's box (refused or not)."""
    b = state["result"].boxes[k]
    return _typed_place(state, k) != [b["x"], b["y"], b["w"], b["h"]]


def _typed_place(state, k):
    """The x, y, width, height typed in box ``k``'s "Adjust box" fields (the model's box before any)."""
    b = state["result"].boxes[k]
    return [int(st.session_state.get(f"plates_place_{state['item_id']}_{k}_{n}", b[n])) for n in ("x", "y", "w", "h")]


def _row_place(state, k, width, height):
    """Box ``k``'s typed place, checked (:func:`~defectlab.learn.plate_review.check_place`): None for the
    model's box, False when refused."""
    try:
        return plate_review.check_place(_typed_place(state, k), state["result"].boxes[k], width, height)
    except DefectlabError:
        return False


def _earlier_caption(earlier):
    if earlier["decision"] == "cut":  # cut by hand on Cut crops (or stored from another box): already training data
        return t("plates.earlier_cut", crop=earlier["crop_id"], label=common.label_text(earlier["label"]))
    if earlier["crop_id"] is not None:
        return t("plates.earlier_stored", crop=earlier["crop_id"], label=common.cls_name(earlier["label"] or ""))
    return t("plates.earlier_dismissed")


def _box_row(ws, project, state, k, image, may_decide, may_undo):
    b = state["result"].boxes[k]
    earlier = state["result"].extra.get("earlier", {}).get(k)
    cols = st.columns([1, 3, 3, 2, 2])
    x, y, w, h = state.get("moved", {}).get(k) or (b["x"], b["y"], b["w"], b["h"])  # the crop as stored
    cols[0].image(image[y:y + h, x:x + w], width=64, clamp=True)
    cols[1].markdown(t("plates.box_line", n=k + 1, label=common.cls_name(b["label"]), score=b["score"]))
    done = state["done"].get(k)
    if done:
        stored_as = state.get("labels", {}).get(k)
        if done == "corrected" and stored_as and state.get("moved", {}).get(k):
            cols[2].caption(t("plates.box_moved_as", label=common.cls_name(stored_as)))
        else:
            cols[2].caption(t("plates.box_corrected_as", label=common.cls_name(stored_as))
                            if done == "corrected" and stored_as else t(f"plates.box_{done}"))
        if done != "repeated" and may_undo(state["decisions"].get(k)) and cols[3].button(
                t("plates.undo"), key=f"plates_undo_{state['item_id']}_{k}", icon=":material/undo:",
                help=t("plates.undo_help")):
            _undo(ws, project, state, k)
        return
    if earlier is not None:
        cols[1].caption(_earlier_caption(earlier))
        if earlier["decision"] != "cut" and may_undo(earlier) and cols[1].button(
                t("plates.undo"), key=f"plates_undo_{state['item_id']}_{k}", icon=":material/undo:",
                help=t("plates.undo_help")):
            _undo(ws, project, state, k, earlier)
        if earlier["crop_id"] is not None:
            return
    options = list(project.classes)
    default = options.index(b["label"]) if b["label"] in options else 0
    label = cols[2].selectbox(t("common.class"), options, index=default, format_func=common.cls_name,
                              key=f"plates_cls_{state['item_id']}_{k}", label_visibility="collapsed",
                              disabled=not may_decide)
    with cols[2]:
        place = _place_fields(state, k, image, may_decide)
    words = (t("plates.correct") if label != b["label"] else t("plates.save_moved") if _moved(state, k)
             else t("plates.accept"))  # a refused place too: the button says moved (disabled)
    if cols[3].button(words, key=f"plates_ok_{state['item_id']}_{k}", type="primary",
                      disabled=not may_decide or place is False):
        if _decide(ws, project, state, k, "accept" if label == b["label"] else "correct", label, place or None):
            st.rerun()
    if cols[4].button(t("plates.dismiss"), key=f"plates_no_{state['item_id']}_{k}", disabled=not may_decide,
                      help=t("plates.dismiss_help")):
        if _decide(ws, project, state, k, "dismiss"):
            st.rerun()


def _row_class(state, k):
    """The class chosen in box ``k``'s row (its select box), else the model's."""
    b = state["result"].boxes[k]
    return st.session_state.get(f"plates_cls_{state['item_id']}_{k}", b["label"])


def _all_boxes(ws, project, state, open_boxes):
    """"Accept all" (each box as the class its row shows: a class changed in a row is a correction) and "Dismiss
    all", each after a confirmation: one click stores or dismisses every open box of the plate."""
    ss = st.session_state
    key = f"plates_bulk_{state['item_id']}"
    pending = ss.get(key)
    if pending not in ("accept", "dismiss"):
        cols = st.columns(2)
        if cols[0].button(t("plates.accept_all", n=len(open_boxes)), key=f"plates_all_{state['item_id']}",
                          icon=":material/done_all:", help=t("plates.accept_all_help")):
            ss[key] = "accept"
            st.rerun()
        if cols[1].button(t("plates.dismiss_all", n=len(open_boxes)), key=f"plates_none_{state['item_id']}",
                          icon=":material/remove_done:", help=t("plates.dismiss_help")):
            ss[key] = "dismiss"
            st.rerun()
        return
    width, height = state["result"].width, state["result"].height
    places = {k: _row_place(state, k, width, height) for k in open_boxes}
    refused = [k for k in open_boxes if places[k] is False]
    storing = [k for k in open_boxes if places[k] is not False]
    corrected = sum(1 for k in storing if _row_class(state, k) != state["result"].boxes[k]["label"])
    moved = sum(1 for k in storing if places[k])
    with st.container(border=True):
        st.warning(t("plates.confirm_accept_all", n=len(storing), corrected=corrected) if pending == "accept"
                   else t("plates.confirm_dismiss_all", n=len(open_boxes)))
        if pending == "accept" and (moved or refused):
            st.caption(t("plates.confirm_moved", moved=moved, refused=len(refused),
                         boxes=", ".join(str(k + 1) for k in refused) or "-"))
        cols = st.columns(2)
        go = cols[0].button(t("plates.confirm_go"), key=f"plates_bulk_go_{state['item_id']}", type="primary")
        if cols[1].button(t("action.cancel"), key=f"plates_bulk_cancel_{state['item_id']}"):
            ss.pop(key, None)
            st.rerun()
    if not go:
        return
    ss.pop(key, None)
    stored, repeated = 0, 0
    for k in open_boxes:
        label = _row_class(state, k) if pending == "accept" else None
        place = _row_place(state, k, width, height) if pending == "accept" else None
        if place is False:  # a refused place in the row: that box is left for the person, said
            common.flash("warning", t("plates.bulk_bad_place", n=k + 1))
            continue
        decision = "dismiss" if pending == "dismiss" else (
            "accept" if label == state["result"].boxes[k]["label"] else "correct")
        try:
            _record(ws, project, state, k, decision, label, place)
        except ConflictError as exc:
            if getattr(exc.args[0] if exc.args else None, "key", None) == "error.plates.repeats_crop":
                state["done"][k] = "repeated"  # it repeats a crop just stored from an overlapping box
                repeated += 1
            else:  # decided meanwhile in another tab or by another person: said, and the others go on
                common.flash("warning", common.error_text(exc))
            continue
        except DefectlabError as exc:
            common.flash("error", common.error_text(exc))
            break
        stored += 1
    if stored:
        common.flash("success", t("plates.saved", n=stored) if pending == "accept" else t("plates.dismissed_n",
                                                                                            n=stored))
    if repeated:
        common.flash("info", t("plates.bulk_repeated", n=repeated))
    st.rerun()


def _show_result(ws, project, state):
    result = state["result"]
    recorded = result.extra.get("recorded")
    if recorded is not None and not result.extra.get("map") and not state.get("map_tried"):
        state["map_tried"] = True  # a reopened search: its map once, by the same run (the boxes stay as recorded)
        with common.guard(), st.spinner(t("plates.finding")):
            result = state["result"] = plate_review.reopen_result(ws, project, result.extra["result_id"],
                                                                  user=common.user())
    item = get_item(ws, state["item_id"])
    image = load_item_image(ws, item)
    heat = st.toggle(t("plates.show_map"), value=True, key="plates_show_map", help=t("plates.show_map_help"))
    dmap = result.defect_map()
    shown, _ = overlay_image(image, dmap if heat else np.zeros_like(dmap), result.boxes, project.classes)
    if not heat:  # the colours are off: the caption does not explain them
        caption = t("plates.overlay_caption_plain", source=item["source"], n=len(result.boxes))
    elif recorded is None:
        caption = t("plates.overlay_caption", source=item["source"], n=len(result.boxes), windows=result.n_windows)
    else:
        caption = t("plates.overlay_caption_recorded", source=item["source"], n=len(result.boxes))
    st.image(shown, caption=caption, width=shown_width(shown.shape[1]))
    if result.extra.get("uploaded_as"):  # the rows of the batch would not match the files the person chose
        st.caption(t("plates.stored_before", name=result.extra["uploaded_as"], source=item["source"],
                     item_id=item["id"]))
    used = state.get("threshold")
    if recorded is not None:
        when = str(recorded["at"])[:16].replace("T", " ")
        st.caption(t("plates.recorded_by", at=when, user=common.who(recorded["user"]),
                     run=result.extra.get("run_id", "")))
    else:
        st.caption(t("plates.threshold_calibrated") if used is None else t("plates.threshold_used", value=used))
    _tiled_warning(result.width, result.height, result.extra.get("tiled"))
    _expected_caption(result.extra.get("expected"))
    _errors_expander(result.extra.get("estimate"))
    if not result.extra.get("background"):
        st.caption(t("plates.no_background"))
    if not result.boxes:
        st.info(t("plates.no_boxes"))
        _missed_defect(ws, state["item_id"])
        return
    may = common.permissions(ws)
    may_decide = may("correct_predictions")
    if not may_decide:
        st.caption(t("plates.may_not_decide"))
    reopened = _sync_decisions(ws, state)
    if reopened:
        st.info(t("plates.undone_elsewhere", boxes=", ".join(str(k + 1) for k in reopened)))
    earlier = result.extra.get("earlier", {})
    open_boxes = [k for k in range(len(result.boxes)) if k not in state["done"] and k not in earlier]
    if may_decide and open_boxes:
        _all_boxes(ws, project, state, open_boxes)
    may_undo = lambda d: bool(may_decide and d and (d.get("user") == common.user() or may("delete")))  # noqa: E731
    for k in range(len(result.boxes)):
        _box_row(ws, project, state, k, image, may_decide, may_undo)
    _missed_defect(ws, state["item_id"])


def _sync_decisions(ws, state):
    """The rows as the library has them: a box decided or undone meanwhile (another tab, another person, the
    command line) shows so. Returns the boxes undone elsewhere (open again)."""
    decisions = plate_review.box_decisions(ws, state["result"].extra["result_id"], user=common.user())
    state["decisions"] = decisions
    gone = sorted(k for k, v in state["done"].items() if v != "repeated" and k not in decisions)
    for k in gone:
        _forget_row(state, k)
    for k, d in decisions.items():
        state["done"][k] = d["decision"]
        state.setdefault("labels", {})[k] = d["label"]
        state.setdefault("moved", {})[k] = d["place"]
    return gone


def _missed_defect(ws, plate_id):
    """A defect the model did not find: drawn on the Cut crops page with this plate open (for those who may cut
    crops; a supervisor is told who can)."""
    if not common.permissions(ws)("cut_crops"):
        st.caption(t("plates.missed_ask", plate=plate_id))
        return
    if st.button(t("plates.draw_missed"), key=f"plates_missed_{plate_id}", icon=":material/add_box:",
                 help=t("plates.draw_missed_help")):
        st.session_state["crop_plate"] = int(plate_id)  # the Cut crops page's plate picker
        common.go_to("cut_crops")


def _open_count(state):
    """Boxes of a searched plate nobody has decided yet (in this session or before)."""
    result = state["result"]
    earlier = result.extra.get("earlier", {})
    return sum(1 for k in range(len(result.boxes)) if k not in state["done"] and k not in earlier)


def _long_columns():
    """The batch tables' long text columns share the width (a long class list hid the file name at 1100 px)."""
    return {t_plain("plates.col_classes"): st.column_config.TextColumn(width="medium"),
            t_plain("plates.col_source"): st.column_config.TextColumn(width="medium")}


def _step(delta, n):
    ss = st.session_state
    ss["plates_pos"] = (int(ss.get("plates_pos", 0)) + delta) % n


def _batch_view(ws, project, batch):
    """The batch's plates as a table (boxes per class, best score, boxes still open) and the plate shown below it
    chosen by the table's row, the plate picker or the previous / next buttons. Returns the shown plate's state."""
    ss = st.session_state
    entries = batch["entries"]
    for r in batch["rejected"]:
        st.warning(common.rejected_text(r))
    for r in batch["repeated"]:
        st.caption(t("plates.batch_repeated", source=r["source"], item_id=r["item_id"]))
    if not entries:
        return None
    if len(entries) == 1:
        return entries[0]
    pos = min(max(int(ss.get("plates_pos", 0)), 0), len(entries) - 1)
    rows = []
    for k, e in enumerate(entries, start=1):
        s = plate_review.plate_summary(e["result"])
        classes = common.list_text(f"{common.cls_name(c)} {n}" for c, n in s["counts"].items())
        # the counts before the long columns: whole at 1100 px without scrolling the table
        rows.append({t_plain("plates.col_number"): k, t_plain("plates.col_open"): _open_count(e),
                     t_plain("plates.col_boxes"): s["n_boxes"],
                     t_plain("plates.col_top"): "—" if s["top_score"] is None else f"{s['top_score']:.2f}",
                     t_plain("plates.col_classes"): classes,
                     t_plain("plates.col_source"): s["source"] if not e["result"].extra.get("uploaded_as") else
                     t_plain("plates.source_uploaded_as", name=e["result"].extra["uploaded_as"], source=s["source"])})
    found = sum(1 for e in entries if e["result"].boxes)
    n_boxes = sum(len(e["result"].boxes) for e in entries)
    st.caption(t("plates.batch_caption", n=len(entries), found=found, boxes=n_boxes))
    # user text (file names) only as data-grid cells, never as Markdown
    picked = st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", on_select="rerun",
                          selection_mode="single-row", key=f"plates_table_{batch['serial']}",
                          column_config=_long_columns())
    st.download_button(t("plates.report_csv"), lambda: plate_review.results_csv(
        ws, project, [e["result"].extra["result_id"] for e in entries], user=common.user()),
        file_name=f"plates_{batch['serial'][:8]}.csv", mime="text/csv", key=f"plates_report_{batch['serial']}",
        icon=":material/download:", help=t("plates.report_csv_help"), on_click="ignore")
    chosen = (picked or {}).get("selection", {}).get("rows") or []
    if chosen and ss.get("plates_table_pick") != chosen[0]:  # a new row clicked: show that plate
        pos = int(chosen[0])
    ss["plates_table_pick"] = chosen[0] if chosen else None
    ss["plates_pos"] = pos
    cols = st.columns([2, 5, 2], vertical_alignment="center")  # "Previous" stays whole at 1100 px
    cols[0].button(t("plates.previous"), key="plates_prev", icon=":material/arrow_back:", width="stretch",
                   on_click=_step, args=(-1, len(entries)))
    cols[1].markdown(t("plates.batch_at", k=pos + 1, n=len(entries), source=entries[pos]["result"].source))
    cols[2].button(t("plates.next"), key="plates_next", icon=":material/arrow_forward:", width="stretch",
                   on_click=_step, args=(1, len(entries)))
    return entries[pos]


def _earlier_searches(ws, project):
    """The plates searched before (in other tabs, by other people, on other days) whose boxes are not all decided:
    a table to pick from and a button that opens them as the batch (their recorded boxes, decisions kept)."""
    ss = st.session_state
    if not st.toggle(t("plates.earlier_toggle"), key="plates_earlier", help=t("plates.earlier_help")):
        return
    rows = plate_review.recorded_results(ws, project, user=common.user(), open_only=True)
    if not rows:
        st.caption(t("plates.earlier_none"))
        return
    table = pd.DataFrame([{  # the counts before the long columns: visible without scrolling the table
        t_plain("plates.col_when"): str(r["created_at"])[:16].replace("T", " "),
        t_plain("plates.col_source"): r["source"], t_plain("plates.col_who"): common.who(r["user"]),
        t_plain("plates.col_boxes"): r["n_boxes"], t_plain("plates.col_open"): r["n_open"],
        t_plain("plates.col_classes"): common.list_text(f"{common.cls_name(c)} {n}" for c, n in r["counts"].items()),
        t_plain("plates.col_run"): r["run_id"]} for r in rows])
    picked = st.dataframe(table, hide_index=True, width="stretch", on_select="rerun", selection_mode="multi-row",
                          key="plates_earlier_table", column_config=_long_columns())
    chosen = sorted(k for k in (picked or {}).get("selection", {}).get("rows") or [] if k < len(rows))  # rows go
    targets = [rows[k] for k in chosen] or rows  # as their boxes are decided: a stale tick is ignored
    label = t("plates.earlier_open", n=len(targets)) if chosen else t("plates.earlier_open_all", n=len(targets))
    if st.button(label, key="plates_earlier_go", icon=":material/history:"):
        with common.guard():
            results = [plate_review.reopen_result(ws, project, r["result_id"], user=common.user(), with_map=False)
                       for r in targets]
            entries = [{"item_id": int(r.extra["item_id"]), "run_id": r.extra["run_id"], "result": r,
                        "done": dict(r.extra["decided"]), "threshold": None} for r in results]
            _fresh_rows(entries)
            ss["plates_batch"] = {"run_id": None, "serial": uuid.uuid4().hex, "entries": entries, "rejected": [],
                                  "repeated": [], "reopened": True}
            ss["plates_pos"] = 0
            ss["plates_result"] = entries[0]
            st.rerun()


def locate_panel(ws, project, run_id):
    """The Predict page's "full images" section (see the module notes)."""
    ss = st.session_state
    batch = ss.get("plates_batch")
    if batch is not None and not batch.get("reopened") and batch.get("run_id") != run_id:
        batch = None  # searched with another run than the one now chosen (a reopened batch keeps its runs)
    state = ss.get("plates_result") if batch is not None else None
    with st.expander(t("plates.section"), expanded=batch is not None, icon=":material/crop_free:"):
        st.caption(t("plates.help"))
        choices = _plate_choices(ws, project)
        uploads = st.file_uploader(t("plates.upload"), type=["jpg", "jpeg", "png", "bmp", "tif", "tiff"],
                                   key="plates_upload", accept_multiple_files=True) or []
        pick = None
        if choices:
            pick = st.selectbox(t("plates.pick"), list(choices), format_func=choices.get, key="plates_pick")
        threshold = _threshold_choice(estimate=None if state is None else state["result"].extra.get("estimate"))
        if st.button(t("plates.find") if len(uploads) < 2 else t("plates.find_n", n=len(uploads)), key="plates_find",
                     icon=":material/search:", disabled=not uploads and pick is None):
            with common.guard(), st.spinner(t("plates.finding")):
                _find(ws, project, run_id, uploads, pick, threshold)
                st.rerun()
        _earlier_searches(ws, project)
        if batch is not None:
            state = _batch_view(ws, project, batch)
            ss["plates_result"] = state
        if state is not None:
            _show_result(ws, project, state)


# -- Cut-crops page ------------------------------------------------------------------------------------

def _new_boxes(ws, project, plate, boxes):
    """The located boxes of known classes that do not repeat a crop already cut from the plate, nor a box dismissed
    there (the rule of the Predict page: :func:`plate_review.repeated_place`)."""
    frame = items_frame(ws, project.id)
    crops = frame[(frame["parent_id"] == plate["id"]) & frame["box"].notna()]
    places = [(int(i), [b[0], b[1], b[2] - b[0], b[3] - b[1]], str(v) if isinstance(v, str) else None)
              for i, b, v in zip(crops["id"], crops["box"], crops["label"], strict=True)]
    # a box dismissed on the Predict page (a false positive) is not suggested again
    places += [("dismissed", [m["x"], m["y"], m["w"], m["h"]], m["model_label"])
               for m in plate_review.plate_memory(ws, plate["id"], user=common.user()) if m["decision"] == "dismissed"]
    keep = [b for b in boxes if b["label"] != BACKGROUND and b["label"] in project.classes]
    return [b for b in keep if plate_review.repeated_place(b, places) is None]


def suggest_panel(ws, project, plate, generation):
    """The "suggest boxes" control of the Cut-crops page.

    Parameters
    ----------
    plate : dict
        The plate item shown.
    generation : int
        The canvas generation (bumped by the page after each save): suggestions belong to one.

    Returns
    -------
    list of dict
        The model's boxes for this plate and canvas generation (image pixels), else ``[]``.
    """
    ss = st.session_state
    if project.ordinal:  # grades belong to whole photos: the model has no boxes to suggest
        return []
    cols = st.columns([2, 3])
    with cols[0]:
        run_id = _run_choice(ws, project, "crop_suggest_run")
    sug = ss.get("crop_suggestions") or {}
    with cols[1]:
        estimate = sug.get("estimate") if sug.get("run_id") == run_id else None
        threshold = _threshold_choice("crop_suggest", estimate) if run_id is not None else None
    if run_id is not None and cols[1].button(t("plates.suggest"), key="crop_suggest", icon=":material/auto_awesome:",
                                             help=t("plates.suggest_help")):
        with common.guard(), st.spinner(t("plates.finding")):
            result = locate_item(ws, project, plate["id"], run_id=run_id, settings=LocateSettings(threshold=threshold),
                                 user=common.user(), purpose="cut")  # an annotator may (cut_crops)
            boxes = _new_boxes(ws, project, plate, result.boxes)
            ss["crop_suggestions"] = {"plate": int(plate["id"]), "generation": generation, "boxes": boxes,
                                      "expected": result.extra.get("expected"), "run_id": run_id,
                                      "estimate": result.extra.get("estimate"), "tiled": result.extra.get("tiled"),
                                      "size": (result.width, result.height)}
            if not boxes:  # nothing found, or all of it already cut (or dismissed) on this plate
                common.flash("info", t("plates.no_new_boxes", n=len(result.boxes)) if result.boxes
                             else t("plates.no_boxes"))
            st.rerun()
    if sug.get("plate") == int(plate["id"]) and sug.get("generation") == generation and sug.get("boxes"):
        st.caption(t("plates.suggested", n=len(sug["boxes"])))
        _tiled_warning(*sug.get("size", (0, 0)), sug.get("tiled"))
        _expected_caption(sug.get("expected"))
        return list(sug["boxes"])
    return []
