"""Label book: per class a description, measurable criteria and example / counter-example / borderline
images picked from the project's items. Stored in the project's descriptions (update_project)."""

import streamlit as st

from defectlab.store import update_project
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


left, right = st.columns([3, 2], gap="large")
with left:
    with st.form(f"lb_form_{cls}"):
        description = st.text_area(t("labelbook.description"), value=_current(entry.get("description")),
                                   key=f"lb_desc_{cls}", height=120)
        criteria = st.text_area(t("labelbook.criteria"), value=_current(entry.get("criteria")),
                                key=f"lb_crit_{cls}", help=t("labelbook.criteria_help"), height=90)
        saved = st.form_submit_button(t("labelbook.save"), type="primary",
                                      disabled=not common.permissions(ws)("edit_project"))
    if saved:
        with common.guard():
            update_project(ws, project, user=common.user(), descriptions={cls: {
                "description": _merged(entry.get("description"), description.strip()),
                "criteria": _merged(entry.get("criteria"), criteria.strip()),
            }})
            common.flash("success", t("labelbook.saved", cls=common.cls_name(cls)))
            st.rerun()

with right:
    st.subheader(t("labelbook.preview"))
    labelbook.show_entry(project, cls, max_per_kind=4, size=128)

if common.permissions(ws)("edit_project"):
    labelbook.picker(ws, project, cls)
