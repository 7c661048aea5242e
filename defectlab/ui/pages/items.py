"""Item browser: find items (label, annotator, source glob, dates, batch, queue, confidence), page through
their thumbnails, label or act on a selection, open one item with its plate, history and predictions."""

import pandas as pd
import streamlit as st

from defectlab.bulk import bulk_action
from defectlab.errors import DefectlabError
from defectlab.store import UNUSABLE, list_projects, move_items, retract_many
from defectlab.store.browse import item_detail, may_see_labels, query_items
from defectlab.ui import browsing, common
from defectlab.ui.common import t, t_plain

ws = common.workspace()
project = common.require_project(ws, title_key="nav.items")
st.title(t("items.title", project=project.name))
common.show_flash()
may = common.permissions(ws)
user = common.user()
see = may_see_labels(ws, user)
if not see:
    st.caption(t("items.blind_note"))
ss = st.session_state
ss.setdefault("ib_page", 0)
ss.setdefault("ib_open", None)

filters, sort, size = browsing.filters_form(ws, project, see, may("restore") or may("delete"))
signature = repr((project.id, sorted(filters.items()), sort, size))
if ss.get("ib_sig") != signature:
    ss["ib_sig"], ss["ib_page"] = signature, 0

if filters.get("queue") in ("label_issue", "duplicate", "outlier"):
    from defectlab.quality.queues import queue_item_ids

    with st.spinner(t("items.computing_queue")), common.guard():
        filters["queue_ids"] = queue_item_ids(ws, project, filters["queue"])

result = {"total": 0, "items": []}
with common.guard():
    result = query_items(ws, project, filters, sort=sort, limit=size, offset=ss["ib_page"] * size, user=user)
rows = result["items"]
page_ids = [r["item_id"] for r in rows]
n_pages = max(1, -(-result["total"] // size))


def _selected():
    return [i for i in page_ids if ss.get(f"ib_sel_{i}")]


def _targets():
    chosen = _selected()
    return chosen or ([ss["ib_open"]] if ss.get("ib_open") else [])


def _targets_or_warn():
    targets = _targets()
    if not targets:
        common.flash("warning", t("items.nothing_selected"))
    return targets


def _acted_on(targets):
    """After an action on ``targets``: the selection is cleared, and the undo of an earlier action goes (only the
    newest action is undone)."""
    for i in targets:
        ss[f"ib_sel_{i}"] = False
    ss.pop("ib_undo", None)


def _act(action, label=None):
    targets = _targets_or_warn()
    if not targets:
        return
    try:
        res = bulk_action(ws, project, targets, action, user=user, label=label, assignee=ss.get("ib_assignee"))
    except DefectlabError as exc:
        common.flash("error", common.error_text(exc))
        return
    _acted_on(targets)
    for warning in res.get("warnings", []):
        common.flash("warning", common.reason_text(warning))
    done = t(f"items.done.{action}", n=res["n"], label=common.label_text(label))
    if res.get("annotation_ids"):  # a label on many items at once (one stray key can do it): undoable
        ss["ib_undo"] = {"ids": list(res["annotation_ids"]), "text": done, "project": project.id}
    else:
        common.flash("success", done)


def _move():
    targets = _targets_or_warn()
    if not targets:
        return
    copy = bool(ss.get("ib_move_copy"))
    try:
        res = move_items(ws, targets, ss["ib_move_to"], user=user, copy=copy, add_classes=bool(ss.get("ib_move_add")),
                         from_project=project.id)
    except DefectlabError as exc:
        ss["ib_move_error"] = common.error_text(exc)  # shown beside the row (the page's top is far above)
        return
    ss.pop("ib_move_error", None)
    _acted_on(targets)
    ss["ib_move_copy"] = False  # each move is chosen anew: a ticked copy or added classes must not carry over
    ss["ib_move_add"] = False
    if not copy and ss.get("ib_open") in res["ids"]:
        ss["ib_open"] = None  # it is in the other project now
    if res["added_classes"]:
        common.flash("info", t("items.move.added_classes", project=res["project"],
                               classes=common.list_text(res["added_classes"])))
    if res["skipped"]:
        common.flash("warning", t("items.move.skipped", n=len(res["skipped"]), project=res["project"],
                                  ids=common.list_text(f"#{s['item_id']} → #{s['existing_id']}"
                                                       for s in res["skipped"][:10])))
    common.flash("success", t("items.move.done_copy" if copy else "items.move.done", n=res["n"],
                              project=res["project"], labeled=res["labeled"]))


def _undo():
    last = ss.pop("ib_undo", None)
    if not last or last.get("project") != project.id:  # another project's labels are not undone from here
        return
    try:
        n = retract_many(ws, last["ids"], user=user)
    except DefectlabError as exc:
        common.flash("error", common.error_text(exc))
        return
    common.flash("success", t("items.undone", n=n))


def _select_all(value):
    for i in page_ids:
        ss[f"ib_sel_{i}"] = value


def _page(delta):
    ss["ib_page"] = max(0, min(n_pages - 1, ss["ib_page"] + delta))


def _open(item_id):
    ss["ib_open"] = item_id


def _jump():
    number = ss.get("ib_jump")
    if not number:
        return
    found = query_items(ws, project, {"item_id": int(number)}, user=user)["total"] or query_items(
        ws, project, {"item_id": int(number), "deleted": True}, user=user)["total"]
    if found:
        ss["ib_open"] = int(number)
    else:
        common.flash("warning", t("items.no_such_item", id=int(number), project=project.name))


# -- the header: count, paging, jump ------------------------------------------------------------------
st.markdown(t("items.count", n=result["total"], page=ss["ib_page"] + 1, pages=n_pages))
top = st.columns([1.5, 1.5, 1.7, 1.5, 1], vertical_alignment="bottom")  # labels stay whole at 1100 px, in Chinese too
top[0].button(t("items.prev"), key="ib_prev", on_click=_page, args=(-1,), disabled=ss["ib_page"] == 0,
              icon=":material/chevron_left:", width="stretch")
top[1].button(t("items.next"), key="ib_next", on_click=_page, args=(1,), disabled=ss["ib_page"] >= n_pages - 1,
              icon=":material/chevron_right:", width="stretch")
top[2].button(t("items.select_page"), key="ib_select_all", on_click=_select_all, args=(True,), width="stretch")
top[3].number_input(t("items.jump"), min_value=0, step=1, value=None, key="ib_jump", placeholder="#")
top[4].button(t("items.open"), key="ib_jump_go", on_click=_jump, width="stretch")

# -- one open item (right under the header: opened by number, it is seen at once) --------------------------
if ss.get("ib_open"):
    with st.container(border=True):
        try:
            d = item_detail(ws, ss["ib_open"], user=user)
        except DefectlabError as exc:
            st.error(common.error_text(exc))
            d = None
        if d is not None:
            item = d["item"]
            head = st.columns([6, 1])
            head[0].subheader(t("items.item_title", id=item["id"], source=item["source"]) if item["source"] is not None
                              else t("items.item_title_blind", id=item["id"]))  # a blind item: no path
            head[1].button(t("action.close"), key="ib_close", on_click=_open, args=(None,))
            left, right = st.columns([3, 2], gap="large")
            with left:
                if d["plate"] is not None and item.get("box"):
                    st.image(browsing.plate_context(d["plate"], item["box"]),
                             caption=t("items.plate_caption", source=d["plate"]["source"]) if d["plate"]["source"]
                             is not None else t("items.plate_caption_blind"))
                st.image(common.image_bytes(item, 480), width=min(480, max(96, int(item["width"]))))
            with right:
                st.metric(t("items.current_label"), common.label_text(d["label"]))
                came = (item.get("meta") or {}).get("moved_from")
                if isinstance(came, dict) and may_see_labels(ws, user):
                    st.caption(t("items.moved_from", item_id=came.get("item_id"), project=came.get("project")))
                if item.get("deleted_at"):
                    st.warning(t("items.is_deleted"))
                browsing.labelbook_buttons(ws, project, item["id"], d["label"], key="ib")
            st.markdown("**" + t("items.history") + "**")
            if d["history"]:
                st.dataframe(pd.DataFrame([{
                    t("items.col.at"): e["at"][:19].replace("T", " "),
                    t("items.col.user"): common.who(e["user"]),
                    t("items.col.source"): t(f"items.event.{e['source']}"),
                    t("common.label"): common.label_text(e["label"]) if e["label"] else t("items.undo"),
                    t("items.col.seconds"): "" if e["seconds"] is None else f"{e['seconds']:.1f}",
                    t("items.col.comment"): t_plain("items.gold_answer") if e["gold"]
                    else common.comment_text(e["comment"]),
                } for e in d["history"]]), hide_index=True, width="stretch",
                    column_config={t("items.col.comment"): st.column_config.TextColumn(width="large")})
            else:
                st.caption(t("items.no_history"))
            if d["predictions"]:
                st.markdown("**" + t("items.predictions") + "**")
                st.dataframe(pd.DataFrame([{
                    t("items.col.run"): p["run_id"],
                    t("items.col.model"): common.model_name(p["model"]),
                    t("items.col.kind"): t(f"items.pred_kind.{p['kind']}"),
                    t("items.col.trained_on"): common.label_text(p["label"]) if p["label"] else "",
                    t("items.col.predicted"): common.label_text(p["predicted"]),
                    t("items.col.confidence"): f"{float(p['confidence']):.0%}",
                } for p in d["predictions"]]), hide_index=True, width="stretch")

# -- actions on the selection (or on the open item) ------------------------------------------------------
chosen = _targets()
if ss.get("ib_undo") and ss["ib_undo"].get("project") != project.id:
    ss.pop("ib_undo")  # made on another project's page
if ss.get("ib_undo"):
    undo = st.columns([3, 2], vertical_alignment="center")  # "撤销" with its Ctrl+Z badge stays whole at 1100 px
    undo[0].success(ss["ib_undo"]["text"])
    undo[1].button(t("items.undo_button"), key="ib_undo_go", on_click=_undo, shortcut="Ctrl+Z",
                   icon=":material/undo:", width="stretch", help=t("items.undo_help"))
with st.container(border=True):
    st.caption(t("items.targets", n=len(chosen)) + " · " + t("items.keys_hint", n=min(9, len(project.classes))))
    if may("label"):
        per_row = 4  # the button shows its number key itself: the name alone keeps "Rolled-in scale" whole
        slots = [c for _ in range(0, len(project.classes) + 1, per_row) for c in st.columns(per_row)]
        for k, cls in enumerate(project.classes):
            slots[k].button(common.cls_name(cls), key=f"ib_lab_{k}", on_click=_act, args=("label", cls),
                            shortcut=str(k + 1) if k < 9 else None, width="stretch", disabled=not chosen)
        slots[len(project.classes)].button(t("common.unusable"), key="ib_unusable", on_click=_act, args=("unusable",),
                                           shortcut="0", width="stretch", disabled=not chosen)
    cols = st.columns(4)
    if may("label"):
        cols[0].button(t("items.send_review"), key="ib_review", on_click=_act, args=("review",), disabled=not chosen,
                       icon=":material/fact_check:")
    if may("assign"):
        from defectlab.team import list_users

        people = [u["username"] for u in list_users(ws, include_disabled=False)
                  if u["role"] in ("annotator", "reviewer", "lead", "admin") and u["username"] != "local"]
        cols[1].selectbox(t("items.assignee"), people, key="ib_assignee", placeholder=t("common.choose"), index=None)
        cols[2].button(t("items.assign"), key="ib_assign", on_click=_act, args=("assign",),
                       disabled=not chosen or not ss.get("ib_assignee"), icon=":material/assignment:")
    if filters.get("deleted") and may("restore"):
        cols[3].button(t("items.restore"), key="ib_restore", on_click=_act, args=("restore",), disabled=not chosen,
                       icon=":material/restore_from_trash:")
    elif not filters.get("deleted") and may("delete"):
        cols[3].button(t("items.delete"), key="ib_delete", on_click=_act, args=("delete",), disabled=not chosen,
                       icon=":material/delete:")
    others = [p.name for p in list_projects(ws) if p.id != project.id]
    if may("import") and others and not filters.get("deleted"):
        move = st.columns([3, 2], vertical_alignment="bottom")  # two rows: every label whole at 1100 px
        move[0].selectbox(t("items.move.to"), others, key="ib_move_to", index=None, placeholder=t("common.choose"),
                          help=t("items.move.help"))
        label = t("items.move.button_copy" if ss.get("ib_move_copy") or not may("delete") else "items.move.button")
        move[1].button(label, key="ib_move_go", on_click=_move, disabled=not chosen or not ss.get("ib_move_to"),
                       icon=":material/drive_file_move:", width="stretch")
        ticks = st.columns(2)
        if not may("delete"):
            ss["ib_move_copy"] = True  # may not delete the originals: a copy
        ticks[0].checkbox(t("items.move.copy"), key="ib_move_copy", help=t("items.move.copy_help"),
                          disabled=not may("delete"))
        ticks[1].checkbox(t("items.move.add_classes"), key="ib_move_add", disabled=not may("edit_project"),
                          help=t("items.move.add_classes_help"))
        if ss.get("ib_move_error"):  # once: the next click takes it away
            st.error(common.md(ss.pop("ib_move_error")))

# -- the grid -------------------------------------------------------------------------------------------------
if not rows:
    st.info(t("items.none"))
per_row = 6
for start in range(0, len(rows), per_row):
    cols = st.columns(per_row)
    for col, r in zip(cols, rows[start:start + per_row], strict=False):
        with col:
            st.image(common.thumb(r, 128), width="content")  # at most 128 px either way: tall crops stay small
            label = common.label_text(r["label"]) if r["label"] != UNUSABLE else t("common.unusable")
            conf = "" if r.get("confidence") is None else f" · {float(r['confidence']):.0%}"
            st.checkbox(f"#{r['item_id']} · {label}{conf}", key=f"ib_sel_{r['item_id']}")
            st.button(t("items.open"), key=f"ib_open_{r['item_id']}", on_click=_open, args=(r["item_id"],),
                      icon=":material/open_in_full:", width="stretch")
