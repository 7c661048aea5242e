"""Assignments (leads): give unlabeled items to annotators with blind overlap and gold items; the
progress of each person, closing (with a confirmation) and reopening an assignment; gold items: which
they are, how each person does on them, making and removing them."""

import pandas as pd
import streamlit as st

from defectlab import team
from defectlab.store import items_frame
from defectlab.ui import common
from defectlab.ui.common import t, t_plain

ws = common.workspace()
project = common.require_project(ws, title_key="nav.team_assign")
me = common.user()
ss = st.session_state
st.title(t("assign.title", project=project.name))
common.show_flash()

users = [u for u in team.list_users(ws, include_disabled=False)  # people who label (not the built-in local admin)
         if u["role"] in ("annotator", "reviewer", "lead", "admin") and u["username"] != "local"]
frame = items_frame(ws, project.id)
unlabeled = frame[frame["label"].isna()]
busy = team.assigned_items(ws, project, by=me)

# -- a new assignment -----------------------------------------------------------------------------------------
include_busy = st.checkbox(t("assign.include_assigned"), key="assign_include", help=t("assign.include_assigned_help"))
candidates = [int(i) for i in unlabeled["id"] if include_busy or int(i) not in busy]
with st.form("assign_form"):
    name = st.text_input(t("assign.name"), key="assign_name", placeholder=t("assign.name_placeholder"))
    # pills, not a multiselect: no untranslatable "Select all", and every person visible at once
    annotators = st.pills(t("assign.annotators"), [u["username"] for u in users], selection_mode="multi",
                          key="assign_people", format_func=lambda u: common.md(common.who(u)),  # Markdown
                          default=[u["username"] for u in users if u["role"] == "annotator"])
    c = st.columns(4)
    help_key = "assign.n_items_help" if include_busy else "assign.n_items_help_open"
    n = c[0].number_input(t("assign.n_items"), 1, max(1, len(candidates)), min(200, max(1, len(candidates))),
                          key="assign_n", help=t(help_key, n=len(candidates)))
    overlap = c[1].slider(t("assign.overlap"), 0.0, 1.0, 0.1, 0.05, key="assign_overlap",
                          help=t("assign.overlap_help"))
    overlap_k = c[2].number_input(t("assign.overlap_k"), 2, 5, 2, key="assign_k")
    gold_rate = c[3].slider(t("assign.gold_rate"), 0.0, 0.5, 0.05, 0.01, key="assign_gold",
                            help=t("assign.gold_rate_help"))
    ok = st.form_submit_button(t("assign.create"), type="primary", disabled=not candidates)
if ok:
    people = list(annotators or [])
    if len(people) < 2:  # one person: nobody to overlap with (not an error to fix first)
        overlap, overlap_k = 0.0, 2
    with common.guard():
        res = team.create_assignment(ws, project, candidates[: int(n)], people, overlap=overlap,
                                     overlap_k=max(2, min(int(overlap_k), len(people))), gold_rate=gold_rate,
                                     by=me, name=name, reassign=include_busy)
        for w in res.get("warnings", []):
            common.flash("warning", common.reason_text(w))
        common.flash("success", t("assign.created", n=res["n_items"], overlap=res["n_overlap"]))
        st.rerun()


# -- progress, close, reopen ----------------------------------------------------------------------------------
def _ask_close(assignment_id):
    ss["assign_confirm"] = assignment_id


def _close(assignment_id):
    ss.pop("assign_confirm", None)
    with common.guard():
        team.close_assignment(ws, assignment_id, by=me)
        common.flash("success", t("assign.closed_done", id=assignment_id))


def _reopen(assignment_id):
    with common.guard():
        team.reopen_assignment(ws, assignment_id, by=me)
        common.flash("success", t("assign.reopened", id=assignment_id))


st.subheader(t("assign.progress"))
assignments = team.list_assignments(ws, project, by=me)
if not assignments:
    st.caption(t("assign.none"))
for a in assignments:
    title = f"#{a['id']} {a['name'] or ''} · {str(a['created_at'])[:16].replace('T', ' ')}"
    if a["closed_at"]:
        title += " · " + t_plain("assign.closed")
    with st.expander(common.md(title), expanded=not a["closed_at"]):
        if a["progress"]:
            st.dataframe(pd.DataFrame([{
                t_plain("assign.col.user"): common.who(r["user"]), t_plain("assign.col.items"): r["n_items"],
                t_plain("assign.col.gold"): r["n_gold"], t_plain("assign.col.done"): r["n_done"],
                t_plain("assign.col.remaining"): r["n_remaining"]} for r in a["progress"]]),
                hide_index=True, width="stretch")
        remaining = sum(r["n_remaining"] for r in a["progress"])
        if a["closed_at"]:
            st.button(t("assign.reopen"), key=f"assign_reopen_{a['id']}", on_click=_reopen, args=(a["id"],),
                      icon=":material/undo:")
        elif ss.get("assign_confirm") == a["id"]:
            st.warning(t("assign.close_confirm", n=remaining))
            c = st.columns([1, 1, 3])
            c[0].button(t("assign.close_yes"), key=f"assign_close_yes_{a['id']}", type="primary",
                        on_click=_close, args=(a["id"],))
            c[1].button(t("action.cancel"), key=f"assign_close_no_{a['id']}", on_click=_ask_close, args=(None,))
        else:
            st.button(t("assign.close"), key=f"assign_close_{a['id']}", on_click=_ask_close, args=(a["id"],))

# -- gold items -----------------------------------------------------------------------------------------------
st.subheader(t("assign.gold"))
st.caption(t("assign.gold_help"))
gold = team.gold_items(ws, project, by=me)
st.caption(t("assign.gold_count", n=len(gold)))

st.markdown("**" + t("assign.gold_accuracy") + "**")
with_qual = st.toggle(t("assign.gold_accuracy_qual"), key="gold_acc_qual")
accuracy = team.gold_accuracy(ws, project, include_qualification=with_qual, by=me)
if accuracy.empty:
    st.caption(t("assign.gold_accuracy_none"))
else:
    st.dataframe(pd.DataFrame([{
        t_plain("assign.col.user"): common.who(r["user"]), t_plain("assign.col.gold_labeled"): int(r["n_gold"]),
        t_plain("assign.col.gold_correct"): int(r["n_correct"]), t_plain("assign.col.accuracy"): r["accuracy"] * 100,
    } for r in accuracy.to_dict("records")]), hide_index=True, width="stretch",
        column_config={t_plain("assign.col.accuracy"): st.column_config.NumberColumn(format="%.0f%%")})

if gold:
    st.markdown("**" + t("assign.gold_list") + "**")
    picked = st.dataframe(pd.DataFrame([{
        t_plain("assign.col.item"): f"#{g['item_id']}", t_plain("assign.col.answer"): common.label_text(g["label"]),
        t_plain("assign.col.qualification"): t_plain("common.yes") if g["qualification"] else "",
        t_plain("assign.col.set_by"): common.who(g["created_by"]),
        t_plain("assign.col.set_at"): str(g["created_at"])[:16].replace("T", " "),
    } for g in gold]), hide_index=True, width="stretch", on_select="rerun", selection_mode="multi-row",
        key=f"gold_table_{ss.get('gold_epoch', 0)}")  # a new table (no stale ticks) after each change
    chosen = [gold[k]["item_id"] for k in picked.selection.rows if k < len(gold)]
    if st.button(t("assign.gold_remove", n=len(chosen)), key="gold_remove", disabled=not chosen,
                 icon=":material/remove_circle:"):
        with common.guard():
            for item_id in chosen:
                team.unset_gold(ws, item_id, by=me)
            common.flash("success", t("assign.gold_removed", n=len(chosen)))
            ss["gold_epoch"] = ss.get("gold_epoch", 0) + 1
            st.rerun()

st.markdown("**" + t("assign.gold_add") + "**")
gold_ids = {g["item_id"] for g in gold}
labeled = frame[frame["label"].notna() & ~frame["id"].isin(gold_ids)].head(2000)
if labeled.empty:
    st.caption(t("assign.gold_none_labeled"))
else:
    st.caption(t("assign.gold_pick_help"))
    picked = st.dataframe(pd.DataFrame({
        t_plain("assign.col.item"): [f"#{int(i)}" for i in labeled["id"]],
        t_plain("assign.col.answer"): [common.label_text(lab) for lab in labeled["label"]],
        t_plain("assign.col.source"): labeled["source"].astype(str).tolist(),
    }), hide_index=True, width="stretch", height=280, on_select="rerun", selection_mode="multi-row",
        key=f"gold_pick_table_{ss.get('gold_epoch', 0)}")
    chosen = [int(labeled["id"].iloc[k]) for k in picked.selection.rows if k < len(labeled)]
    qual = st.checkbox(t("assign.gold_qualification"), key="gold_qual")
    if st.button(t("assign.gold_set_n", n=len(chosen)), key="gold_set", disabled=not chosen, type="primary"):
        with common.guard():
            answers = labeled.set_index("id")["label"]
            for item_id in chosen:
                team.set_gold(ws, item_id, answers.loc[item_id], by=me, qualification=qual)
            common.flash("success", t("assign.gold_done", n=len(chosen)))
            ss["gold_epoch"] = ss.get("gold_epoch", 0) + 1
            st.rerun()
