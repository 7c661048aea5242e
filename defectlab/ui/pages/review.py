"""Review: the confusion matrix (click a cell, or pick it from the list, to see the items behind it and
fix them), the likely-label-error queue (given vs suggested, score, reason; accept / keep / other label /
unusable with keys), and the conflicts, duplicates and outliers queues. Every decision is an annotation
with source "review".

Only the chosen view runs (a radio, not ``st.tabs``, which would run every tab and let a hidden queue's
keys fire). The queues were computed when the run finished and are only read here
(:func:`defectlab.quality.read_run_queue`); for an older run without them a background job computes
them once while the page shows its progress, and no queue is shown before that."""

import pandas as pd
import streamlit as st

from defectlab import learn
from defectlab import quality as q
from defectlab.errors import DefectlabError
from defectlab.store import UNUSABLE, current_labels, get_item
from defectlab.ui import browsing, charts, common, labelbook, labeler, queuejobs, reviewing, runinfo
from defectlab.ui.common import t

ws = common.workspace()
project = common.require_project(ws, title_key="nav.review")
st.title(t("review.title", project=project.name))
common.show_flash()

runs = runinfo.require_runs(ws, project)
ids = [r["run_id"] for r in runs]
run_id = st.selectbox(t("review.run"), ids, key="rev_run_pick",
                      help=t("review.run_help"))
try:
    run = learn.get_run(ws, run_id, with_items=False)
except DefectlabError as exc:
    st.error(common.md(common.error_text(exc)))
    st.stop()
classes = list(run["metrics"].get("classes") or project.classes)

VIEWS = ("confusion", "issues", "conflicts", "duplicates", "outliers")
CELL_PAGE = 24  # thumbnails per page of a confusion cell (four rows of six: quick to draw in a browser)
view = st.radio(t("review.view"), VIEWS, key="rev_view", horizontal=True, label_visibility="collapsed",
                format_func=lambda v: t(f"review.tab.{v}"))
status = q.queue_status(ws, run_id)
missing = [k for k in q.QUEUE_KINDS if k not in status]


@st.fragment(run_every=1.0)
def _queue_progress():
    """Progress of the background computation of this run's queues; reruns the page when done."""
    j = queuejobs.job(ws, run_id)
    if j is None:
        return
    if j.running:
        st.progress(j.fraction, text=t("review.computing_queues", message=j.message))
        return
    if j.error:
        st.error(t("review.queues_failed", error=common.reason_text(j.error)))
        if st.button(t("review.queues_retry"), key="rev_queues_retry"):
            queuejobs.start(ws, run_id, retry=True)
            st.rerun()
        return
    st.rerun()  # finished: show the stored queues


def _queues_ready():
    """True when this view's queue can be read; else start/show its computation and say so."""
    if view not in missing:
        return True
    st.info(t("review.queues_missing"))
    queuejobs.start(ws, run_id)
    _queue_progress()
    return False


def _queue_note(found):
    """When the queue was computed, and whether labels changed since."""
    when = str(found["computed_at"])[:16].replace("T", " ")
    if found["labels_since"]:
        st.caption(t("review.queues_older", when=when, n=found["labels_since"], hidden=found["hidden"]))
    else:
        st.caption(t("review.queues_from", when=when))


# -- confusion matrix ----------------------------------------------------------------------------------
if view == "confusion":
    matrix = run["metrics"].get("confusion_matrix")
    cells = {(c["given"], c["predicted"]): c["n"] for c in q.confusion_cells(ws, run_id)}
    options = list(cells)  # errors first, largest first
    cell = None
    if matrix:
        left, right = st.columns([3, 2])
        with left:
            event = st.altair_chart(charts.confusion_heatmap(matrix, classes, selectable=True),
                                    width="stretch", on_select="rerun", key="rev_cm")
        picked = None
        try:
            chosen = (event.selection or {}).get("cell") or []
            if chosen:  # the chart shows display names: map them back to the stored classes
                back = {common.cls_name(c): c for c in classes}
                picked = (back.get(chosen[0]["true"]), back.get(chosen[0]["predicted"]))
        except (AttributeError, KeyError, TypeError):
            picked = None
        with right:
            st.caption(t("review.cm_help"))
            if picked is not None and picked in cells:
                st.session_state["rev_cell"] = picked
            current = st.session_state.get("rev_cell")
            if current not in options and options:
                current = options[0]
            cell = st.selectbox(t("review.cell"), options, index=options.index(current) if current in options
                                else 0, key="rev_cell_pick",
                                format_func=lambda c: common.t_plain("review.cell_fmt", true=common.cls_name(c[0]),
                                                        pred=common.cls_name(c[1]), n=cells[c]))
            st.session_state["rev_cell"] = cell
    if cell is not None:
        st.subheader(t("review.cell_items", true=common.cls_name(cell[0]), pred=common.cls_name(cell[1]),
                       n=cells[cell]))
        pages = max(1, -(-cells[cell] // CELL_PAGE))
        if st.session_state.get("rev_cell_page_of") != cell:  # another cell starts on its first page
            st.session_state["rev_cell_page_of"] = cell
            st.session_state["rev_cell_page"] = 1
        page_no = 1
        if pages > 1:
            page_no = int(st.number_input(t("review.cell_page", pages=pages), min_value=1, max_value=pages,
                                          step=1, key="rev_cell_page"))
        shown = q.confusion_cell_items(ws, run_id, cell[0], cell[1], limit=CELL_PAGE,
                                       offset=(page_no - 1) * CELL_PAGE)
        states = current_labels(ws, project.id, item_ids=[int(e["item_id"]) for e in shown])
        per_row = 6
        for start in range(0, len(shown), per_row):
            cols = st.columns(per_row)
            for col, e in zip(cols, shown[start:start + per_row], strict=False):
                with col:
                    item_id = int(e["item_id"])
                    try:
                        st.image(common.thumb(get_item(ws, item_id), 160), width="content")
                    except DefectlabError:
                        st.caption(f"#{item_id}")
                    now = states.get(item_id)
                    conf = e.get("confidence")
                    tag = f"#{item_id}" + (f" · {float(conf):.0%}" if conf is not None else "")
                    if now is not None and now.label != e["label"]:
                        tag += f" · {common.label_text(now.label)} ✎"
                    st.checkbox(tag, key=f"rsel_{item_id}")
        sel = [int(e["item_id"]) for e in shown if st.session_state.get(f"rsel_{int(e['item_id'])}")]
        st.markdown(t("label.grid.selected", n=len(sel), total=len(shown)))
        c = st.columns(4)
        c[0].button(t("review.cell_to_pred", pred=common.cls_name(cell[1])), key="rev_cell_pred",
                    on_click=reviewing.decide_many,
                    args=(sel, cell[1], "accept", None, run_id), disabled=not sel or cell[0] == cell[1],
                    width="stretch")
        c[1].button(t("review.cell_keep", label=common.cls_name(cell[0])), key="rev_cell_keep",
                    on_click=reviewing.decide_many,
                    args=(sel, cell[0], "keep", None, run_id), disabled=not sel, width="stretch")
        other = c[2].selectbox(t("review.other_label"), list(project.classes), key="rev_cell_other",
                               format_func=common.cls_name,
                               label_visibility="collapsed")
        c[2].button(t("review.cell_other", label=common.cls_name(other)), key="rev_cell_other_go",
                    on_click=reviewing.decide_many, args=(sel, other, "other", None, run_id), disabled=not sel,
                    width="stretch")
        c[3].button(t("label.unusable"), key="rev_cell_unusable", on_click=reviewing.decide_many,
                    args=(sel, UNUSABLE, "unusable", None, run_id), disabled=not sel, width="stretch")

# -- likely label errors ---------------------------------------------------------------------------------
if view == "issues" and _queues_ready():
    ss = st.session_state
    stamp = status["issues"]["computed_at"]
    if ss.get("rev_run") != run_id or ss.get("rev_stamp") != stamp or "rev_issues" not in ss:
        found = q.read_run_queue(ws, run_id, "issues")  # stored with the run: a read, no computation
        ss["rev_issues"] = found["rows"]
        ss["rev_note"] = {k: found[k] for k in ("computed_at", "labels_since", "hidden")}
        ss["rev_pos"] = 0
        ss["rev_run"] = run_id
        ss["rev_stamp"] = stamp
        ss["rev_done"] = {}
    issues = ss["rev_issues"]
    pos = ss.get("rev_pos", 0)
    _queue_note(ss["rev_note"])
    c1, c2 = st.columns([3, 1])
    c1.caption(t("review.issues_help", n=len(issues)))
    if c2.button(t("review.refresh"), key="rev_refresh"):
        ss.pop("rev_issues", None)
        st.rerun()
    labeler.surface_toggle()
    if issues and not labeler.use_browser():  # the browser surface counts its own items (this one would lag)
        st.progress(min(pos / len(issues), 1.0), text=t("review.issue_pos", pos=min(pos + 1, len(issues)),
                                                      n=len(issues), done=len(ss.get("rev_done", {}))))
    if issues and labeler.use_browser():  # A / K / U / 1-9 answered in the browser, saved in the background
        labeler.review_surface(project, issues, run_id)
    elif not issues:
        st.success(t("review.no_issues"))
    elif pos >= len(issues):
        st.success(t("review.issues_done", n=len(ss.get("rev_done", {}))))
        st.button(t("label.back"), key="rev_back_end", on_click=reviewing.issue_back)
    else:
        issue = issues[pos]
        item = get_item(ws, int(issue["item_id"]))
        left, right = st.columns([3, 2], gap="large")
        with left:
            st.image(common.image_bytes(item, 1200), width="stretch")
            st.caption(t("label.item_caption", id=item["id"], source=item["source"], w=item["width"],
                         h=item["height"]))
            browsing.in_plate(ws, item, "rev_in_plate")
        with right:
            score = issue.get("score")
            st.markdown(t("review.issue_line", given=common.cls_name(issue["given"]),
                          suggested=common.cls_name(issue["suggested"]),
                          score=float(score) if score is not None else 0.0))
            if issue.get("reason_parts"):
                st.caption(reviewing.reason_text(issue["reason_parts"]))
            b1, b2 = st.columns(2)
            b1.button(t("review.accept", label=common.cls_name(issue["suggested"])), key="rev_accept", shortcut="A",
                      on_click=reviewing.issue_action, args=("accept",), type="primary", width="stretch")
            b2.button(t("review.keep", label=common.cls_name(issue["given"])), key="rev_keep", shortcut="K",
                      on_click=reviewing.issue_action, args=("keep",), width="stretch")
            b1.button(t("label.unusable"), key="rev_unusable", shortcut="U",
                      on_click=reviewing.issue_action, args=("unusable",), width="stretch")
            b2.button(t("label.skip"), key="rev_skip", shortcut="S", on_click=reviewing.issue_skip,
                      width="stretch")
            st.caption(t("review.other_label"))
            kcols = st.columns(3)
            for k, cls in enumerate(list(project.classes)[:9], start=1):
                kcols[(k - 1) % 3].button(common.md(common.class_label(project, cls)), key=f"rev_key_{k}",
                                          shortcut=str(k), on_click=reviewing.issue_action,
                                          args=("other", cls), width="stretch")
            st.caption(t("review.keys_help"))
            st.divider()
            for cls in dict.fromkeys([issue["suggested"], issue["given"]]):
                if cls in project.classes:
                    labelbook.show_entry(project, cls, size=72, max_per_kind=3)
            browsing.labelbook_buttons(ws, project, item["id"], issue["suggested"], key="rev")
        done = ss.get("rev_done") or {}
        if done:
            with st.expander(t("review.decided", n=len(done))):
                st.dataframe(pd.DataFrame([{"item": i, t("review.action"): t(f"review.action.{a}"),
                                            t("common.class"): common.label_text(lab)}
                                           for i, (a, lab) in done.items()]), hide_index=True)


# -- conflicts, duplicates, outliers ---------------------------------------------------------------------
def _preselect(labels_):
    """The group's one current label when its members agree on it, else nothing (never a default class)."""
    distinct = {lab for lab in labels_ if lab is not None}
    if len(distinct) == 1 and len(labels_) and None not in labels_:
        return next(iter(distinct))
    return None


def _queue(kind):
    found = q.read_run_queue(ws, run_id, kind, limit=30)
    _queue_note(found)
    rows = found["rows"]
    st.caption(t(f"review.{kind}_help", n=len(rows)))
    if not rows:
        st.success(t("review.queue_empty"))
        return
    used = set()
    options = [*list(project.classes), UNUSABLE]
    for r in rows:
        ids_ = [int(i) for i in r["item_ids"]]
        # one item may head two rows (imported under two labels and near a copy): the widgets
        # are keyed by the whole group, so a choice stays with its group when rows move
        tag = "_".join(map(str, ids_))
        while tag in used:
            tag += "+"
        used.add(tag)
        labels_ = r.get("labels") or [r.get("label")] * len(ids_)
        with st.container(border=True):
            cols = st.columns([1] * min(len(ids_), 4) + [3])
            for col, i, lab in zip(cols, ids_[:4], labels_[:4], strict=False):
                try:
                    col.image(common.thumb(get_item(ws, i), 120), width="stretch")
                except DefectlabError:
                    pass
                col.caption(f"#{i} · {common.md(common.label_text(lab))}")
            info = cols[-1]
            if r.get("reason_parts"):
                info.caption(reviewing.reason_text(r["reason_parts"]))
            if r.get("score") is not None:
                info.caption(t("review.score", score=float(r["score"])))
            first = _preselect(labels_ if r.get("kind") != "import" else [None])
            choice = info.selectbox(t("review.decide_label"), options, key=f"rev_{kind}_{tag}",
                                    index=options.index(first) if first in options else None,
                                    placeholder=t("review.decide_placeholder"), format_func=common.label_text)
            action = "unusable" if choice == UNUSABLE else "other"
            info.button(t("review.apply_to", n=len(ids_)), key=f"rev_{kind}_go_{tag}", disabled=choice is None,
                        on_click=reviewing.decide_many,
                        args=(ids_, choice, action, None, run_id, r["versions"]))


if view in ("conflicts", "duplicates", "outliers") and _queues_ready():
    _queue(view)
