"""QC review (quality inspectors): a random sample of each annotator's labels, accepted or rejected
with a comment (the annotator sees the comment and redoes the item); approval rates."""

import streamlit as st

from defectlab import team
from defectlab.store import get_item
from defectlab.ui import common, labelbook
from defectlab.ui.common import t, t_plain

ws = common.workspace()
project = common.require_project(ws, title_key="nav.team_qc")
me = common.user()
st.title(t("qc.title", project=project.name))
common.show_flash()

pending = team.qc_pending(ws, project, me)
c1, c2 = st.columns([1, 3])
rate = c1.slider(t("qc.rate"), 0.01, 1.0, 0.1, 0.01, key="qc_rate")
if c2.button(t("qc.draw"), key="qc_draw", help=t("qc.draw_help")):
    with common.guard():
        pending = team.qc_sample(ws, project, me, rate=rate)
        common.flash("info", t("qc.drawn", n=len(pending)))
        st.rerun()

if not pending:
    st.info(t("qc.empty"))
else:
    e = pending[0]
    st.caption(t("qc.pending", n=len(pending)))
    left, right = st.columns([3, 2])
    with left:
        st.image(common.image_bytes(get_item(ws, e["item_id"]), 800), width="stretch")
    with right:
        st.markdown(t("qc.entry", annotator=common.who(e["annotator"]), label=common.label_text(e["label"])))
        st.caption(t("qc.item_caption", id=e["item_id"]))  # the number to look the item up on Items
        comment = st.text_area(t("review.comment"), key=f"qc_comment_{e['annotation_id']}",
                               help=t("qc.comment_help"))
        c1, c2 = st.columns(2)
        if c1.button(t("qc.accept"), key="qc_accept", shortcut="A", type="primary", width="stretch"):
            with common.guard():
                team.qc_decide(ws, e["annotation_id"], me, True, comment)
                st.rerun()
        if c2.button(t("qc.reject"), key="qc_reject", shortcut="X", width="stretch"):
            with common.guard():
                team.qc_decide(ws, e["annotation_id"], me, False, comment)
                st.rerun()
        if e["label"] in project.classes:
            labelbook.show_entry(project, e["label"])

st.subheader(t("qc.rates"))
with common.guard():
    rates = team.approval_rates(ws, project, by=me)
    if rates.empty:
        st.caption(t("qc.no_rates"))
    else:
        rates = rates.assign(annotator=rates["annotator"].map(common.who), approval_rate=rates["approval_rate"] * 100)
        shown = rates.rename(columns={c: t_plain(f"qc.col.{c}") for c in rates.columns})
        st.dataframe(shown, hide_index=True, width="stretch", column_config={
            t_plain("qc.col.approval_rate"): st.column_config.NumberColumn(format="%.0f%%")})
