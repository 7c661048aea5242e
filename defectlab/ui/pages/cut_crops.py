"""Cut crops: open a full plate image, draw boxes with the mouse (or type coordinates), give each box a
class or leave it unlabeled; every box becomes a crop item linked to its plate and box, exactly like
an imported VOC box. Existing boxes are drawn on the image and can be removed (soft delete)."""


import streamlit as st

from defectlab import ingest
from defectlab.store import delete_items, get_item, items_frame
from defectlab.team import visible_labels
from defectlab.ui import common, plates_view
from defectlab.ui.common import t

ws = common.workspace()
project = common.require_project(ws, title_key="nav.cut_crops")
st.title(t("crops.title", project=project.name))
common.show_flash()

DISPLAY_MAX = 1600
UNLABELED = ""


def _add_plate(upload):
    """Store an uploaded image as a plate item; True when it was new."""
    return ingest.add_plate(ws, project, upload.getvalue(), upload.name, user=common.user())[1]


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
        cv2.putText(image, str(index), (p0[0] + 3, p0[1] + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                    (40, 200, 80), 1, cv2.LINE_AA)
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


def _save(boxes):
    with common.guard():
        report = ingest.add_crops(ws, project, plate["id"], boxes, user=common.user())
        for r in report.rejected:
            st.warning(common.rejected_text(r))
        if report.imported:
            common.flash("success", t("crops.saved", n=report.imported), keep_seconds=4)  # the new canvas reruns
            st.session_state["crop_canvas_n"] = st.session_state.get("crop_canvas_n", 0) + 1
            st.session_state["lbl_ctx"] = None
            st.rerun()


# -- draw with the mouse -------------------------------------------------------------------------------
st.subheader(t("crops.draw"))
suggested = plates_view.suggest_panel(ws, project, plate, st.session_state.get("crop_canvas_n", 0))
box_class = st.selectbox(t("crops.class_for_boxes"), options, format_func=_fmt, key="crop_class")
try:
    from streamlit_drawable_canvas import st_canvas  # lazy: importing it outside a page run fails
except Exception:
    st_canvas = None
if st_canvas is None:
    st.caption(t("crops.no_canvas"))
else:
    disp_w = round(plate["width"] * scale)
    disp_h = round(plate["height"] * scale)
    # small plates are shown enlarged (the canvas scales the image to fit, "contain")
    canvas_w = min(max(disp_w, 720), 1000)
    canvas_h = round(disp_h * canvas_w / disp_w)
    st.write("")  # room for the canvas toolbar
    result = st_canvas(
        drawing_mode="labeled_rect", label=shown_names.get(box_class, box_class), background_image=background,
        background_image_fit="contain", width=canvas_w, height=canvas_h, stroke_width=2,
        stroke_color="#ff3b30", fill_color="rgba(255, 59, 48, 0.12)", font_size=14,
        key=f"crop_canvas_{plate['id']}_{st.session_state.get('crop_canvas_n', 0)}",
        max_display_height=720,
        initial_drawing=plates_view.initial_drawing(suggested, scale * canvas_w / disp_w, project.classes, 14,
                                                    names=shown_names),
    )
    drawn = []
    for b in (result.boxes_in_image_space or []):
        # canvas -> displayed JPEG pixels (boxes_in_image_space) -> plate pixels (/ scale)
        x0, y0 = b["left"] / scale, b["top"] / scale
        x1, y1 = (b["left"] + b["width"]) / scale, (b["top"] + b["height"]) / scale
        x0, x1 = sorted((max(0, round(x0)), min(plate["width"], round(x1))))
        y0, y1 = sorted((max(0, round(y0)), min(plate["height"], round(y1))))
        drawn.append((class_of_name.get(b["label"], b["label"]) or None, x0, y0, x1, y1))
    for k, (label, x0, y0, x1, y1) in enumerate(drawn, start=1):
        shown = common.cls_name(label) if label else t("crops.unlabeled_box")
        st.caption(t("crops.drawn_line", k=k, label=shown, x0=x0, y0=y0, x1=x1, y1=y1))
    if st.button(t("crops.save_drawn", n=len(drawn)), key="crop_save_drawn", type="primary",
                 disabled=not drawn):
        _save(drawn)
    st.caption(t("crops.draw_help"))

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
        _save([(cls or None, int(x0), int(y0), int(x1), int(y1))])

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
                st.caption(f"{int(r.box_index)} · {common.md(common.label_text(crop_labels.get(int(r.id))))}")
    remove = st.multiselect(t("crops.remove"), [int(i) for i in crops["id"]], key="crop_remove",
                            placeholder=t("common.choose"), select_all=False,
                            format_func=lambda i: f"{int(crops.set_index('id').loc[i, 'box_index'])} · "
                                                  f"{common.label_text(crop_labels.get(int(i)))}")
    if st.button(t("crops.remove_go", n=len(remove)), key="crop_remove_go", disabled=not remove):
        with common.guard():
            delete_items(ws, remove, user=common.user())
            common.flash("success", t("crops.removed", n=len(remove)))
            st.session_state["lbl_ctx"] = None
            st.rerun()
