"""Label: one item large with number keys, or a grid of thumbnails labeled many at a time."""

import time

import streamlit as st

from defectlab.errors import DefectlabError
from defectlab.store import UNUSABLE, current_label, current_labels, get_item
from defectlab.store.visibility import hidden_sources
from defectlab.ui import browsing, common, labelbook, labeler, labeling, suggest
from defectlab.ui.common import t

ws = common.workspace()
project = common.require_project(ws, title_key="nav.label")
team = common.team_mode(ws)
me = common.user()

st.title(t("label.title", project=project.name))
common.show_flash()

top = st.columns([2, 2, 3])
mode = top[0].segmented_control(t("label.mode"), ["single", "grid"], default="single", key="lbl_mode",
                                format_func=lambda m: t(f"label.mode.{m}"))
mode = mode or "single"
if team:
    may = common.permissions(ws)
    orders = (labeling.TEAM_ORDER,) + (labeling.ORDERS if may("view_team") else ())
else:
    orders = labeling.ORDERS
order = top[1].selectbox(t("label.order"), orders, key="lbl_order",
                         format_func=lambda o: t(f"label.order.{o}"))
queue, pos = labeling.queue_state(project, order)
classes = list(project.classes)
keys = classes[:9]
if len(classes) > 9:
    top[2].caption(t("label.more_than_nine", n=len(classes)))

if not queue:
    st.success(t("label.queue_empty"))
    if st.button(t("label.reload_queue"), key="lbl_reload"):
        labeling.reset_queue()
        st.rerun()
    st.stop()

# team-mode annotators label blind: no model suggestion (nor anything derived from it) for them
run = suggest.latest_run(ws, project) if labeling.model_hints_allowed(ws, me, team) else None


# -- single-item mode --------------------------------------------------------------------------------
def _single():
    item_id = labeling.current_item_id()
    n_done = sum(1 for i in queue[:pos])
    st.progress(min(pos / max(len(queue), 1), 1.0),
                text=t("label.progress", pos=min(pos + 1, len(queue)), n=len(queue), done=n_done))
    if item_id is None:
        st.success(t("label.queue_done", n=len(queue)))
        c1, c2 = st.columns(2)
        c1.button(t("label.back"), key="lbl_back_end", on_click=labeling.back, icon=":material/undo:")
        if c2.button(t("label.reload_queue"), key="lbl_reload_end"):
            labeling.reset_queue()
            st.rerun()
        return
    try:
        item = get_item(ws, item_id)
    except DefectlabError as exc:
        st.error(common.md(common.error_text(exc)))
        st.button(t("label.skip"), key="lbl_skip_err", on_click=labeling.skip)
        return
    state = current_label(ws, item_id)
    labeling.mark_shown(item_id, state.version)
    note = (st.session_state.get("lbl_notes") or {}).get(item_id) if order == labeling.TEAM_ORDER else None
    if note and note.get("reason") == "rejected":
        st.warning(t("label.rejected_note", comment=note.get("comment") or ""))
    elif note and note.get("reason") == "qualification":
        st.info(t("label.qualification_note"))
    hint = suggest.for_item(ws, project, run, item, upcoming=queue[pos + 1:pos + 2 * suggest.CHUNK])

    left, right = st.columns([3, 2], gap="large")
    with left:
        zoom = st.select_slider(t("label.zoom"), options=["fit", 1, 2, 3, 4, 6, 8],
                                value=st.session_state.get("lbl_zoom_v", "fit"), key="lbl_zoom",
                                format_func=lambda z: t("label.zoom_fit") if z == "fit" else f"{z}×")
        st.session_state["lbl_zoom_v"] = zoom
        data = common.image_bytes(item, max_side=1600)
        if zoom == "fit":
            st.image(data, width="stretch")
        else:
            st.image(data, width=max(32, min(int(item["width"]) * zoom, 1600)))
        if team and item_id in hidden_sources(ws, project, common.user(), [item_id]):  # its path may name the answer
            caption = [t("label.item_caption_blind", id=item_id, w=item["width"], h=item["height"])]
        else:
            caption = [t("label.item_caption", id=item_id, source=item["source"], w=item["width"], h=item["height"])]
        if item.get("parent_id"):
            caption.append(t("label.from_plate", plate=item["parent_id"], box=item.get("box")))
        st.caption(" · ".join(caption))
        browsing.in_plate(ws, item, "lbl_in_plate")
        if team:
            from defectlab.team import visible_label

            seen = visible_label(ws, item_id, me)
            if seen is not None:
                st.caption(t("label.your_label", label=common.label_text(seen)))
        elif state.label is not None:
            st.caption(t("label.current_label", label=common.label_text(state.label),
                         user=state.user or "", source=state.source or ""))
        last = st.session_state.get("lbl_last")
        if last:
            st.caption(t("label.last_saved", id=last[0], label=common.label_text(last[1])))

    with right:
        if hint is not None:
            st.info(t("label.suggestion", label=common.cls_name(hint["label"]), confidence=hint["confidence"]))
        st.markdown(f"**{t('label.keys')}**")
        for k, cls in enumerate(keys, start=1):
            st.button(common.md(common.class_label(project, cls)), key=f"lbl_key_{k}", shortcut=str(k),
                      on_click=labeling.assign, args=(cls,), width="stretch",
                      type="primary" if hint is not None and hint["label"] == cls else "secondary")
        if len(classes) > 9:
            extra = st.selectbox(t("label.other_class"), classes[9:], key="lbl_extra", format_func=common.cls_name)
            st.button(t("label.assign_other"), key="lbl_extra_go", on_click=labeling.assign,
                      args=(extra,), width="stretch")
        c1, c2 = st.columns(2)
        c1.button(t("label.unusable"), key="lbl_unusable", shortcut="0", on_click=labeling.assign,
                  args=(UNUSABLE,), help=t("label.unusable_help"), width="stretch")
        c2.button(t("label.skip"), key="lbl_skip", shortcut="S", on_click=labeling.skip, width="stretch")
        c1.button(t("label.back"), key="lbl_back", shortcut="B", on_click=labeling.back, width="stretch")
        c2.button(t("label.undo"), key="lbl_undo", shortcut="Z", on_click=labeling.undo, width="stretch")
        st.caption(t("label.keys_help"))
        st.divider()
        book_default = hint["label"] if hint is not None else (
            state.label if state.label in classes and not team else classes[0])
        book_cls = st.selectbox(t("label.book_for"), classes, index=classes.index(book_default),
                                key=f"lbl_book_{item_id}", format_func=common.cls_name)
        labelbook.show_entry(project, book_cls)
        browsing.labelbook_buttons(ws, project, item_id, book_cls, key="lbl", cls=book_cls)


# -- grid mode ---------------------------------------------------------------------------------------
def _grid():
    ss = st.session_state
    c1, c2, _c3 = st.columns([1, 1, 3])
    size = c1.selectbox(t("label.grid.size"), [24, 36, 48, 60], index=0, key="grid_size")
    n_pages = max(1, -(-len(queue) // size))
    page = c2.number_input(t("label.grid.page", n=n_pages), min_value=1, max_value=n_pages, value=1,
                           key="grid_page") - 1
    ids = queue[page * size:(page + 1) * size]
    if ss.get("grid_ids") != ids:
        ss["grid_ids"] = ids
        ss["grid_shown_at"] = time.monotonic()
    if team:
        from defectlab.store import LabelState
        from defectlab.team import visible_labels

        labels = {i: LabelState(lab, None, None, 0) for i, lab in
                  visible_labels(ws, project, me, item_ids=ids).items() if lab is not None}
    else:
        labels = current_labels(ws, project.id, item_ids=ids)
    ncols = 6
    actions = st.container()
    for row in range(0, len(ids), ncols):
        cols = st.columns(ncols)
        for k, (col, item_id) in enumerate(zip(cols, ids[row:row + ncols], strict=False)):
            with col:
                try:
                    item = get_item(ws, item_id)
                    st.image(common.thumb(item, 160), width="content")  # tall crops capped at 160 px
                except DefectlabError as exc:
                    st.caption(common.md(common.error_text(exc)))
                state = labels.get(item_id)
                number = row + k + 1 + page * size
                tag = f"{number} · {common.label_text(state.label)}" if state is not None else f"{number}"
                st.checkbox(tag, key=f"gsel_{item_id}")
    with actions:
        selected = labeling.grid_selected(ids)
        st.markdown(t("label.grid.selected", n=len(selected), total=len(ids)))
        b = st.columns(4)
        b[0].button(t("label.grid.all"), key="grid_all", on_click=labeling.grid_set, args=(ids, True),
                    shortcut="A", width="stretch")
        b[1].button(t("label.grid.none"), key="grid_none", on_click=labeling.grid_set, args=(ids, False),
                    shortcut="N", width="stretch")
        b[2].button(t("label.grid.range"), key="grid_range", on_click=labeling.grid_fill_range, args=(ids,),
                    help=t("label.grid.range_help"), width="stretch")
        b[3].button(t("label.undo"), key="grid_undo", on_click=labeling.grid_undo, shortcut="Z",
                    width="stretch")
        per_row = 4
        buttons = [(common.md(common.class_label(project, cls)), f"grid_key_{k}", str(k), cls)
                   for k, cls in enumerate(keys, start=1)]
        buttons.append((t("label.unusable"), "grid_unusable", "0", UNUSABLE))
        for start in range(0, len(buttons), per_row):
            kcols = st.columns(per_row)
            for col, (text, key, shortcut, cls) in zip(kcols, buttons[start:start + per_row], strict=False):
                col.button(text, key=key, shortcut=shortcut, on_click=labeling.grid_assign, args=(cls,),
                           width="stretch")
        if len(classes) > 9:
            extra = st.selectbox(t("label.other_class"), classes[9:], key="grid_extra", format_func=common.cls_name)
            st.button(t("label.assign_other"), key="grid_extra_go", on_click=labeling.grid_assign,
                      args=(extra,))
        st.caption(t("label.grid.help"))


if labeler.use_browser():  # keys answered in the browser, labels saved in the background
    labeler.label_page(ws, project, queue, mode, order, team, me, run)
elif mode == "grid":
    _grid()
else:
    _single()
labeler.surface_toggle()
