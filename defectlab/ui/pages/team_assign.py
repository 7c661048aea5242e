"""Assignments (leads): give unlabeled items to annotators with blind overlap and gold items; the
progress of each person; gold items and the qualification rule."""

import pandas as pd
import streamlit as st

from defectlab import team
from defectlab.store import items_frame
from defectlab.ui import common
from defectlab.ui.common import t

ws = common.workspace()
project = common.require_project(ws, title_key="nav.team_assign")
me = common.user()
st.title(t("assign.title", project=project.name))
common.show_flash()

users = [u for u in team.list_users(ws, include_disabled=False) if u["role"] in ("annotator", "reviewer",
                                                                                   "lead", "admin")]
frame = items_frame(ws, project.id)
unlabeled = frame[frame["label"].isna()]
with st.form("assign_form"):
    name = st.text_input(t("assign.name"), key="assign_name", placeholder=t("assign.name_placeholder"))
    annotators = st.multiselect(t("assign.annotators"), [u["username"] for u in users], key="assign_people",
                                placeholder=t("common.choose"),
                                default=[u["username"] for u in users if u["role"] == "annotator"])
    c = st.columns(4)
    n = c[0].number_input(t("assign.n_items"), 1, max(1, len(unlabeled)), min(200, max(1, len(unlabeled))),
                          key="assign_n", help=t("assign.n_items_help", n=len(unlabeled)))
    overlap = c[1].slider(t("assign.overlap"), 0.0, 1.0, 0.1, 0.05, key="assign_overlap",
                          help=t("assign.overlap_help"))
    overlap_k = c[2].number_input(t("assign.overlap_k"), 2, 5, 2, key="assign_k")
    gold_rate = c[3].slider(t("assign.gold_rate"), 0.0, 0.5, 0.05, 0.01, key="assign_gold",
                            help=t("assign.gold_rate_help"))
    ok = st.form_submit_button(t("assign.create"), type="primary", disabled=unlabeled.empty)
if ok:
    with common.guard():
        ids = [int(i) for i in unlabeled["id"][: int(n)]]
        res = team.create_assignment(ws, project, ids, annotators, overlap=overlap, overlap_k=int(overlap_k),
                                     gold_rate=gold_rate, by=me, name=name)
        for w in res.get("warnings", []):
            common.flash("warning", common.reason_text(w))
        common.flash("success", t("assign.created", n=res["n_items"], overlap=res["n_overlap"]))
        st.rerun()

st.subheader(t("assign.progress"))
assignments = team.list_assignments(ws, project, by=me)
if not assignments:
    st.caption(t("assign.none"))
for a in assignments:
    title = f"#{a['id']} {a['name'] or ''} · {str(a['created_at'])[:16].replace('T', ' ')}"
    if a["closed_at"]:
        title += " · " + t("assign.closed")
    with st.expander(common.md(title), expanded=not a["closed_at"]):
        if a["progress"]:
            st.dataframe(pd.DataFrame(a["progress"]).rename(columns={
                "user": t("assign.col.user"), "n_items": t("assign.col.items"), "n_gold": t("assign.col.gold"),
                "n_done": t("assign.col.done"), "n_remaining": t("assign.col.remaining")}),
                hide_index=True, width="stretch")
        if not a["closed_at"] and st.button(t("assign.close"), key=f"assign_close_{a['id']}"):
            with common.guard():
                team.close_assignment(ws, a["id"], by=me)
                st.rerun()

st.subheader(t("assign.gold"))
st.caption(t("assign.gold_help"))
labeled = frame[frame["label"].notna()]
gold = team.gold_items(ws, project, by=me)
st.caption(t("assign.gold_count", n=len(gold)))
with st.form("gold_form"):
    pick = st.multiselect(t("assign.gold_pick"), [int(i) for i in labeled["id"][:2000]], key="gold_pick",
                          placeholder=t("common.choose"),
                          format_func=lambda i: f"#{i} · {common.label_text(labeled.set_index('id').loc[i, 'label'])}")
    qual = st.checkbox(t("assign.gold_qualification"), key="gold_qual")
    ok = st.form_submit_button(t("assign.gold_set"))
if ok and pick:
    with common.guard():
        lab = labeled.set_index("id")["label"]
        for i in pick:
            team.set_gold(ws, i, lab.loc[i], by=me, qualification=qual)
        common.flash("success", t("assign.gold_done", n=len(pick)))
        st.rerun()
