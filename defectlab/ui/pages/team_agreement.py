"""Agreement between annotators (kappa / alpha, pairs) and the disagreement queue, settled by a
review decision (an annotation with source "review")."""

import math

import pandas as pd
import streamlit as st

from defectlab import team
from defectlab.store import annotate, get_item
from defectlab.ui import common
from defectlab.ui.common import t, t_plain

ws = common.workspace()
project = common.require_project(ws, title_key="nav.team_agreement")
me = common.user()
st.title(t("agreement.title", project=project.name))
common.show_flash()

s = team.agreement_summary(ws, project, by=me)


def _num(v):
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.2f}"


def _percent(v):
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.0%}"


c = st.columns(4)
c[0].metric(t("agreement.items"), s["n_items"])
c[1].metric(t("agreement.unanimous"), _percent(s["unanimous"]))
c[2].metric(t("agreement.fleiss"), _num(s["fleiss_kappa"]))
c[3].metric(t("agreement.alpha_short"), _num(s["alpha"]),  # the scale in the help: the label stays whole
            help=t("agreement.alpha_help", level=t_plain(f"agreement.level.{s['alpha_level']}")))
if s["pairs"]:
    pairs = pd.DataFrame(s["pairs"])
    pairs = pairs.assign(user_a=pairs["user_a"].map(common.who), user_b=pairs["user_b"].map(common.who),
                         percent_agreement=pairs["percent_agreement"] * 100)
    head = {c: t_plain(f"agreement.col.{c}") for c in pairs.columns}
    st.dataframe(pairs.rename(columns=head), hide_index=True, width="stretch", column_config={
        head["percent_agreement"]: st.column_config.NumberColumn(format="%.0f%%"),
        head["kappa"]: st.column_config.NumberColumn(format="%.2f")})

st.subheader(t("agreement.queue"))
queue = team.disagreement_queue(ws, project, by=me)
if not queue:
    st.success(t("agreement.none"))
    st.stop()
pos = min(st.session_state.get("agr_pos", 0), len(queue) - 1)
entry = queue[pos]
st.caption(t("agreement.position", pos=pos + 1, n=len(queue)))
left, right = st.columns([2, 3])
with left:
    item = get_item(ws, entry["item_id"])
    st.image(common.image_bytes(item, 800), width="stretch")
    # the item's number: the lead must be able to name the item to the annotators and find it again
    st.caption(t("label.item_caption", id=entry["item_id"], source=item["source"], w=item["width"],
                 h=item["height"]))
with right:
    st.dataframe(pd.DataFrame([{t("agreement.annotator"): u, t("common.class"): common.label_text(lab)}
                               for u, lab in entry["labels"].items()]), hide_index=True)
    options = list(project.classes)
    # a tie has no majority: the lead chooses (no silent default to a class nobody gave)
    default = options.index(entry["majority"]) if entry["majority"] in options else None
    decision = st.selectbox(t("agreement.decide"), options, index=default, placeholder=t("common.choose"),
                            key=f"agr_label_{entry['item_id']}", format_func=common.cls_name)
    comment = st.text_input(t("review.comment"), key=f"agr_comment_{entry['item_id']}")
    c1, c2 = st.columns(2)
    if c1.button(t("agreement.save"), key="agr_save", type="primary", disabled=decision is None):
        with common.guard():
            annotate(ws, entry["item_id"], decision, user=me, source="review", comment=comment or None)
            common.flash("success", t("agreement.saved", id=entry["item_id"], label=common.label_text(decision)))
            st.rerun()
    if c2.button(t("label.skip"), key="agr_skip"):
        st.session_state["agr_pos"] = (pos + 1) % len(queue)
        st.rerun()
