"""Runs: every run of the project in a table; pick two to compare: metric deltas, per-class bars,
both confusion matrices, and the items the newer run fixed or broke, with their images."""

import pandas as pd
import streamlit as st

from defectlab import learn
from defectlab.errors import DefectlabError
from defectlab.learn.box_ranker import ERROR_KINDS
from defectlab.store import get_item
from defectlab.ui import charts, common, runinfo
from defectlab.ui.common import t

ws = common.workspace()
project = common.require_project(ws, title_key="nav.runs")
st.title(t("runs.title", project=project.name))
common.show_flash()

runs = runinfo.list_runs(ws, project)
if not runs:
    st.info(t("runs.none"))
    common.page_link("train", "nav.train", ":material/model_training:")
    st.stop()

HEADLINE = ("accuracy", "balanced_accuracy", "macro_f1", "mae", "qwk")
rows = []
for r in runs:
    row = {t("runs.run"): r["run_id"], t("runs.created"): str(r.get("created_at", ""))[:19].replace("T", " "),
           t("runs.by"): common.who(r.get("created_by", "")), t("train.model"): common.model_name(r.get("model", "")),
           t("train.preset"): common.preset_name(r.get("feature_preset", "")), t("train.items"): r.get("n_items"),
           t("runs.approved"): bool(r.get("approved"))}
    for k in HEADLINE:
        if r.get(k) is not None:
            row[t(f"metric.{k}")] = r[k]
    rows.append(row)
st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch",
             column_config={t(f"metric.{k}"): st.column_config.NumberColumn(format="%.3f") for k in HEADLINE})

ids = [r["run_id"] for r in runs]  # newest first
if common.permissions(ws)("approve_run"):
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    pick = c1.selectbox(t("runs.approve_pick"), ids, key="runs_approve_pick", help=t("runs.approve_help"))
    is_approved = bool(next(r for r in runs if r["run_id"] == pick).get("approved"))
    if c2.button(t("runs.withdraw") if is_approved else t("runs.approve"), key="runs_approve_go"):
        with common.guard():
            learn.approve_run(ws, pick, approved=not is_approved, user=common.user())
            st.rerun()
if len(ids) < 2:
    st.info(t("runs.need_two"))
    st.stop()

st.subheader(t("runs.compare"))
c1, c2 = st.columns(2)
default_b = st.session_state.get("runs_b") if st.session_state.get("runs_b") in ids else ids[0]
b_id = c2.selectbox(t("runs.newer"), ids, index=ids.index(default_b), key="runs_pick_b")
others = [i for i in ids if i != b_id]
a_id = c1.selectbox(t("runs.older"), others, key="runs_pick_a")

try:
    a, b = runinfo.get_run(ws, a_id), runinfo.get_run(ws, b_id)
    # the same as learn.compare(ws, project, a_id, b_id), on cached records
    diff = learn.compare_runs(a, b, grades=list(project.classes) if project.ordinal else None)
except DefectlabError as exc:
    st.error(common.md(common.error_text(exc)))
    st.stop()

deltas = diff["deltas"]
shown = [k for k in HEADLINE if k in deltas and diff["b"].get(k) is not None]
cols = st.columns(len(shown) + 1)
lower_better = {"mae", "log_loss", "ece", "expected_cost"}
for col, k in zip(cols, shown, strict=False):
    col.metric(t(f"metric.{k}"), f"{diff['b'][k]:.3f}",
               delta=None if deltas[k] is None else f"{deltas[k]:+.3f}",
               delta_color="inverse" if k in lower_better else "normal")
cols[-1].metric(t("runs.fixed_broken"), f"{len(diff['fixed'])} / {len(diff['broken'])}",
                help=t("runs.fixed_broken_help", changed=diff["n_broken_label_changed"]))
st.caption(t("runs.compare_help", a=a_id, b=b_id, n=diff["n_common"], changed=diff["n_label_changed"]))

def _box_quality(a_id, b_id):
    """The two runs' box numbers on full plates (their stored locators' out-of-fold estimates), side by side;
    nothing for a project whose runs have none (no plates)."""
    from defectlab.learn.locate import stored_box_quality

    qa, qb = stored_box_quality(ws, a_id), stored_box_quality(ws, b_id)
    if qa is None and qb is None:
        return
    st.subheader(t("runs.boxes"))
    cols = st.columns(2)
    for col, k in zip(cols, ("recall", "precision"), strict=True):
        delta = None if qa is None or qb is None else f"{qb[k] - qa[k]:+.1%}"
        col.metric(t(f"runs.box_{k}"), "—" if qb is None else f"{qb[k]:.1%}", delta=delta)
    st.caption(t("runs.boxes_help", b=b_id))
    for rid, q in ((a_id, qa), (b_id, qb)):
        if q is None:
            st.caption(t("runs.boxes_missing", run=rid))
    errors = {rid: (q or {}).get("errors") or {} for rid, q in ((a_id, qa), (b_id, qb))}
    kinds = [k for k in ERROR_KINDS if any(e.get(k) for e in errors.values())]
    if kinds:
        st.table(pd.DataFrame({common.t_plain("runs.boxes_kind"): [common.t_plain(f"plates.errors.{k}") for k in kinds],
                               **{rid: [e.get(k, "—") if e else "—" for k in kinds] for rid, e in errors.items()}}
                              ).set_index(common.t_plain("runs.boxes_kind")))


_box_quality(a_id, b_id)

metric = st.segmented_control(t("runs.per_class_metric"), ["f1", "recall", "precision"], default="f1",
                              key="runs_metric", format_func=lambda m: t(f"metric.{m}")) or "f1"
st.altair_chart(charts.per_class_bars(a["metrics"].get("per_class"), b["metrics"].get("per_class"),
                                      a_id, b_id, metric=metric), width="stretch")

c1, c2 = st.columns(2)
for col, run, rid in ((c1, a, a_id), (c2, b, b_id)):
    m = run["metrics"]
    if m.get("confusion_matrix"):
        col.altair_chart(charts.confusion_heatmap(m["confusion_matrix"], m.get("classes") or project.classes,
                                                  title=rid), width="stretch")


def _tiles(entries, kind):
    if not entries:
        st.caption(t("runs.no_items"))
        return
    limit = st.session_state.get(f"runs_show_{kind}", 24)
    per_row = 8
    for start in range(0, min(len(entries), limit), per_row):
        cols = st.columns(per_row)
        for col, e in zip(cols, entries[start:start + per_row], strict=False):
            with col:
                try:
                    st.image(common.thumb(get_item(ws, e["item_id"]), 120), width="stretch")
                except DefectlabError:
                    st.caption(f"#{e['item_id']}")
                changed = " ✎" if e.get("label_changed") else ""
                st.caption(t("runs.change_line", label=common.label_text(e["label_b"]), changed=changed,
                             before=common.label_text(e["pred_a"]), after=common.label_text(e["pred_b"])))
                gap = e.get("gap_b" if kind == "broken" else "gap_a")
                if gap:  # ordinal: how far the wrong grade was
                    st.caption(t("runs.grade_gap", n=gap))
    if len(entries) > limit:
        if st.button(t("runs.show_more", n=len(entries) - limit), key=f"runs_more_{kind}"):
            st.session_state[f"runs_show_{kind}"] = limit + 48
            st.rerun()


tab_f, tab_b = st.tabs([t("runs.fixed", n=len(diff["fixed"])), t("runs.broken", n=len(diff["broken"]))])
with tab_f:
    st.caption(t("runs.fixed_help"))
    _tiles(diff["fixed"], "fixed")
with tab_b:
    st.caption(t("runs.broken_help"))
    if "n_broken_far" in diff:
        st.caption(t("runs.broken_far", n=diff["n_broken_far"]))
    _tiles(diff["broken"], "broken")
