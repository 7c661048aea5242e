"""Review: the confusion matrix (click a cell, or pick it from the list, to see the items behind it and
fix them), the likely-label-error queue (given vs suggested, score, reason; accept / keep / other label /
unusable with keys), and the conflicts, duplicates and outliers queues. Every decision is an annotation
with source "review"."""

import pandas as pd
import streamlit as st

from defectlab.errors import DefectlabError
from defectlab.quality import review as qreview
from defectlab.store import UNUSABLE, current_labels, get_item
from defectlab.ui import browsing, charts, common, labelbook, labeler, reviewing, runinfo
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
    run = runinfo.get_run(ws, run_id)
except DefectlabError as exc:
    st.error(common.md(str(exc)))
    st.stop()
classes = list(run["metrics"].get("classes") or project.classes)


def _records(value):
    """Rows of whatever the library returned (DataFrame, list of dicts or dataclasses)."""
    if value is None:
        return []
    if hasattr(value, "to_dict") and hasattr(value, "columns"):
        return value.to_dict("records")
    out = []
    for v in value:
        out.append(v.to_dict() if hasattr(v, "to_dict") else dict(v))
    return out


tab_cm, tab_issues, tab_conflicts, tab_dups, tab_outliers = st.tabs([
    t("review.tab.confusion"), t("review.tab.issues"), t("review.tab.conflicts"),
    t("review.tab.duplicates"), t("review.tab.outliers")])

# -- confusion matrix ----------------------------------------------------------------------------------
with tab_cm:
    matrix = run["metrics"].get("confusion_matrix")
    items = run.get("items") or []
    cells = {}
    for e in items:
        cells.setdefault((e["label"], e["pred_label"]), []).append(e)
    options = sorted(((a, b) for (a, b) in cells if a != b), key=lambda c: -len(cells[c]))
    options += sorted(((a, b) for (a, b) in cells if a == b), key=lambda c: -len(cells[c]))
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
                                                        pred=common.cls_name(c[1]), n=len(cells[c])))
            st.session_state["rev_cell"] = cell
    else:
        cell = None
    if cell is not None:
        entries = sorted(cells[cell], key=lambda e: float(e.get("confidence") or 0), reverse=True)
        st.subheader(t("review.cell_items", true=common.cls_name(cell[0]), pred=common.cls_name(cell[1]),
                       n=len(entries)))
        states = current_labels(ws, project.id, item_ids=[int(e["item_id"]) for e in entries[:60]])
        shown = entries[:60]
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
with tab_issues:
    ss = st.session_state
    if ss.get("rev_run") != run_id or "rev_issues" not in ss:
        with st.spinner(t("review.finding_issues")):
            try:
                found = _records(qreview.label_issues_for_run(ws, project.name, run_id))
            except DefectlabError as exc:
                st.error(common.md(str(exc)))
                found = []
        ss["rev_issues"] = found
        ss["rev_pos"] = 0
        ss["rev_run"] = run_id
        ss["rev_done"] = {}
    issues = ss["rev_issues"]
    pos = ss.get("rev_pos", 0)
    c1, c2 = st.columns([3, 1])
    c1.caption(t("review.issues_help", n=len(issues)))
    if c2.button(t("review.refresh"), key="rev_refresh"):
        ss.pop("rev_issues", None)
        st.rerun()
    if issues:
        st.progress(min(pos / len(issues), 1.0), text=t("review.issue_pos", pos=min(pos + 1, len(issues)),
                                                      n=len(issues), done=len(ss.get("rev_done", {}))))
    labeler.surface_toggle()
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
def _queue(tab, kind, fetch):
    with tab:
        if not st.toggle(t("review.look"), key=f"rev_look_{kind}", help=t("review.look_help")):
            return  # these scans read every image of the project: only on request
        try:
            with st.spinner(t("review.scanning")):
                rows = _records(fetch())
        except DefectlabError as exc:
            st.error(common.md(str(exc)))
            return
        st.caption(t(f"review.{kind}_help", n=len(rows)))
        if not rows:
            st.success(t("review.queue_empty"))
            return
        used = set()
        for r in rows[:30]:
            ids_ = [int(i) for i in (r.get("item_ids") or [r.get("item_id")]) if i is not None]
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
                choice = info.selectbox(t("review.decide_label"), [*list(project.classes), UNUSABLE],
                                        key=f"rev_{kind}_{tag}", format_func=common.label_text)
                action = "unusable" if choice == UNUSABLE else "other"
                info.button(t("review.apply_to", n=len(ids_)), key=f"rev_{kind}_go_{tag}",
                            on_click=reviewing.decide_many, args=(ids_, choice, action, None, run_id))


_queue(tab_conflicts, "conflicts", lambda: qreview.conflicts_queue(ws, project.name))
_queue(tab_dups, "duplicates", lambda: qreview.duplicates_queue(ws, project.name))
_queue(tab_outliers, "outliers", lambda: qreview.outliers_queue(ws, project.name, run_id))
