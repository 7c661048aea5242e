"""Label book: per class a description, measurable criteria and example / counter-example / borderline
images picked from the project's items. Stored in the project's descriptions (update_project)."""

import streamlit as st

from defectlab.store import items_frame, update_project
from defectlab.team import visible_labels
from defectlab.ui import common, labelbook
from defectlab.ui.common import t

ws = common.workspace()
project = common.require_project(ws, title_key="nav.label_book")
st.title(t("labelbook.title", project=project.name))
common.show_flash()
st.caption(t("labelbook.intro"))

classes = list(project.classes)
cls = st.selectbox(t("common.class"), classes, key="lb_class",
                   format_func=lambda c: common.class_label(project, c))
entry = labelbook.entry(project, cls)
lang = common.lang()


def _current(value):
    if isinstance(value, dict):
        return value.get(lang) or value.get("en") or ""
    return str(value or "")


def _merged(old, text):
    # Keep the other language's text when the stored value is per language.
    if isinstance(old, dict):
        return {**old, lang: text}
    return text


frame = items_frame(ws, project.id, with_labels=False)
# the labels this person may see (blind overlap: an annotator sees only their own on assigned items)
labels = visible_labels(ws, project, common.user())
sources = dict(zip(frame["id"].astype(int), frame["source"].astype(str), strict=True))
of_class = [i for i, lab in labels.items() if lab == cls]
others = [i for i, lab in labels.items() if lab != cls]


def _fmt(i):
    return f"#{i} · {common.label_text(labels.get(i))} · {sources.get(i, '')}"


left, right = st.columns([3, 2], gap="large")
with left:
    with st.form(f"lb_form_{cls}"):
        description = st.text_area(t("labelbook.description"), value=_current(entry.get("description")),
                                   key=f"lb_desc_{cls}", height=120)
        criteria = st.text_area(t("labelbook.criteria"), value=_current(entry.get("criteria")),
                                key=f"lb_crit_{cls}", help=t("labelbook.criteria_help"), height=90)
        picks = {}
        candidates = {"examples": of_class, "counter_examples": others, "borderline": of_class + others}
        for kind in labelbook.EXAMPLE_KINDS:
            current = [int(i) for i in entry.get(kind) or [] if int(i) in labels]
            options = sorted(set(candidates[kind][:500]) | set(current))
            picks[kind] = st.multiselect(t(f"labelbook.{kind}"), options, default=current,
                                         placeholder=t("common.choose"), format_func=_fmt, key=f"lb_{kind}_{cls}",
                                         help=t(f"labelbook.{kind}_help"), max_selections=8)
        saved = st.form_submit_button(t("labelbook.save"), type="primary",
                                      disabled=not common.permissions(ws)("edit_project"))
    if saved:
        with common.guard():
            update_project(ws, project, user=common.user(), descriptions={cls: {
                "description": _merged(entry.get("description"), description.strip()),
                "criteria": _merged(entry.get("criteria"), criteria.strip()),
                **picks,
            }})
            common.flash("success", t("labelbook.saved", cls=cls))
            st.rerun()

with right:
    st.subheader(t("labelbook.preview"))
    labelbook.show_entry(project, cls, max_per_kind=4, size=128)
    if not of_class:
        st.caption(t("labelbook.no_items_of_class"))
