"""Widgets of the item browser: the filter form, the plate-context picture, the label-book buttons."""

from __future__ import annotations

import datetime as _dt

import streamlit as st

from defectlab.store import EXAMPLE_KINDS, UNUSABLE, add_example, get_item
from defectlab.store.browse import QUEUES, SORTS, project_annotators, project_batches
from defectlab.ui import common
from defectlab.ui.common import t

__all__ = ["filters_form", "in_plate", "labelbook_buttons", "plate_context"]

_ANY = "__any__"
_UNLABELED = "__unlabeled__"


def _label_options(project):
    return [_ANY, _UNLABELED, *project.classes, UNUSABLE]


def _fixed(lang, classes=None):
    """``t`` bound to the language (and the project's classes) of this run: format functions are also called
    outside the script run (AppTest), where the session cannot be read."""
    from defectlab import i18n

    def tr(key, **kwargs):
        return i18n.t(key, lang=lang, **kwargs)

    def label(value):
        if value == _ANY:
            return tr("items.any")
        if value == _UNLABELED:
            return tr("common.unlabeled")
        if value == UNUSABLE:
            return tr("common.unusable")
        return i18n.class_label(str(value), lang=lang, classes=classes)

    return tr, label


def filters_form(ws, project, see_labels, may_restore):
    """Draw the filters; return ``(filters dict, sort, page size)`` for :func:`query_items`."""
    tr, _label_fmt = _fixed(common.lang(), tuple(project.classes))
    with st.expander(t("items.filters"), expanded=True):
        c = st.columns(4)
        label = c[0].selectbox(t("common.label"), _label_options(project), key="ib_label", format_func=_label_fmt,
                               disabled=not see_labels)
        people = [_ANY, *project_annotators(ws, project)] if see_labels else [_ANY]
        annotator = c[1].selectbox(t("items.annotator"), people, key="ib_annotator", disabled=not see_labels,
                                   format_func=lambda u: tr("items.any") if u == _ANY else u)
        source = c[2].text_input(t("items.source"), key="ib_source", help=t("items.source_help"))
        batches = {b["batch_id"]: b for b in project_batches(ws, project)}
        batch = c[3].selectbox(t("items.batch"), [_ANY, *batches], key="ib_batch",
                               format_func=lambda b: tr("items.any") if b == _ANY else tr(
                                   "items.batch_option", number=batches[b]["number"],
                                   kind=tr(f"items.batch_kind.{batches[b]['kind']}"), n=batches[b]["n_items"]))
        c = st.columns(4)
        queue = c[0].selectbox(t("items.queue"), [_ANY, *QUEUES], key="ib_queue", disabled=not see_labels,
                               format_func=lambda q: tr("items.any") if q == _ANY else tr(f"items.queue.{q}"))
        dates = c[1].date_input(t("items.dates"), value=(), key="ib_dates", help=t("items.dates_help"),
                                max_value=_dt.date.today() + _dt.timedelta(days=1))
        confidence = c[2].slider(t("items.confidence"), 0.0, 1.0, (0.0, 1.0), step=0.05, key="ib_conf",
                                 disabled=not see_labels, help=t("items.confidence_help"))
        sorts = SORTS if see_labels else [s for s in SORTS if not s.endswith("confidence")]  # no predictions
        sort = c[3].selectbox(t("items.sort"), sorts, key="ib_sort",
                              format_func=lambda s: tr(f"items.sort.{s.replace('-', 'desc_')}"))
        c = st.columns(4)
        size = c[0].selectbox(t("items.page_size"), [24, 48, 96], key="ib_size")
        deleted = c[1].checkbox(t("items.deleted"), key="ib_deleted", disabled=not may_restore)
        margin = c[2].slider(t("items.margin"), 0.0, 1.0, (0.0, 1.0), step=0.05, key="ib_margin",
                             disabled=not see_labels, help=t("items.margin_help"))
    f = {"source": source.strip() or None, "deleted": bool(deleted)}
    if label == _UNLABELED:
        f["unlabeled"] = True
    elif label != _ANY:
        f["label"] = label
    if annotator != _ANY:
        f["annotator"] = annotator
    if batch != _ANY:
        f["batch"] = int(batch)
    if queue != _ANY:
        f["queue"] = queue
    if len(dates) >= 1:
        f["since"] = dates[0].isoformat()
    if len(dates) == 2:
        f["until"] = dates[1].isoformat()
    if tuple(margin) != (0.0, 1.0):
        from defectlab.learn.margins import margin_item_ids

        f["within_ids"] = margin_item_ids(ws, project, float(margin[0]), float(margin[1]))
    if tuple(confidence) != (0.0, 1.0):
        f["min_confidence"], f["max_confidence"] = float(confidence[0]), float(confidence[1])
    return f, sort, int(size)


@st.cache_data(show_spinner=False, max_entries=64)
def _plate_jpeg(root, blob, source, box, max_side=900):
    import cv2

    from defectlab.imaging import decode_image, encode_jpeg

    image = decode_image(common._open(root).read_blob(blob), source=source)
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    scale = min(1.0, max_side / max(image.shape[:2]))
    if scale < 1.0:
        image = cv2.resize(image, (int(image.shape[1] * scale), int(image.shape[0] * scale)),
                           interpolation=cv2.INTER_AREA)
    x0, y0, x1, y1 = (round(v * scale) for v in box)
    cv2.rectangle(image, (x0, y0), (max(x0, x1 - 1), max(y0, y1 - 1)), (255, 60, 40), 2)
    return encode_jpeg(image)


def plate_context(plate, box):
    """JPEG bytes of the plate with the crop's box drawn on it."""
    return _plate_jpeg(str(common.workspace().root.resolve()), plate["blob"], str(plate["source"]), tuple(box))


def in_plate(ws, item, key):
    """Under a crop cut from a plate (the classic Label and Review pages): a switch, on by default and
    remembered for the session, showing the plate with the crop's box. Returns whether the plate is shown."""
    if not item.get("parent_id") or not item.get("box"):
        return False
    ss = st.session_state
    shown = st.toggle(t("labeler.plate_context"), value=ss.get(f"{key}_v", True), key=key,
                      help=t("plates.in_plate_help"))
    ss[f"{key}_v"] = shown
    if shown:
        with common.guard():
            plate = get_item(ws, int(item["parent_id"]))
            st.image(plate_context(plate, item["box"]), width="stretch",
                     caption=t("items.plate_caption", source=plate["source"]))
    return shown


def labelbook_buttons(ws, project, item_id, current_label, key, cls=None):
    """"Use as example / counter-example / borderline" for a class of the label book (edit_project only).

    ``cls``: that class (no class picker); default: a picker starting at ``current_label``."""
    if not common.permissions(ws)("edit_project"):
        return
    classes = list(project.classes)
    if cls is None:
        default = classes.index(current_label) if current_label in classes else 0
        cls = st.selectbox(t("labelbook.for_class"), classes, index=default, key=f"{key}_lb_cls",
                           format_func=lambda c: common.class_label(project, c))
    for kind in EXAMPLE_KINDS:  # one under the other: side by side they were cut off in a narrow column
        if st.button(t(f"labelbook.use_as.{kind}"), key=f"{key}_lb_{kind}", width="stretch"):
            with common.guard():
                add_example(ws, project, cls, kind, item_id, user=common.user())
                st.toast(t("labelbook.added", kind=t(f"labelbook.{kind}"), cls=common.cls_name(cls)))
