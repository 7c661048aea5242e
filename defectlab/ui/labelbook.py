"""The label-book panel shown beside the labeling and review views (read-only).

A project's label book lives in ``project.descriptions``: ``{class: {"description": str, "criteria": str,
"examples": [item ids], "counter_examples": [...], "borderline": [...]}}``, edited on the Label book page.
"""

import streamlit as st

from defectlab.errors import DefectlabError
from defectlab.store import get_item
from defectlab.ui import common
from defectlab.ui.common import t

__all__ = ["EXAMPLE_KINDS", "entry", "show_entry"]

EXAMPLE_KINDS = ("examples", "counter_examples", "borderline")


def entry(project, cls):
    """The label-book dict of one class (empty when nothing is written yet)."""
    value = (project.descriptions or {}).get(cls) or {}
    return value if isinstance(value, dict) else {"description": str(value)}


def _text(value):
    # Descriptions may be plain text or {"en": ..., "zh_CN": ...} (the demo ships both languages).
    if isinstance(value, dict):
        return value.get(common.lang()) or value.get("en") or next(iter(value.values()), "")
    return str(value or "")


def show_entry(project, cls, thumbs=True, size=96, max_per_kind=4):
    """Draw one class's rule, criteria and example thumbnails (the texts shown as text: :func:`common.md`)."""
    e = entry(project, cls)
    st.markdown(f"**{common.md(common.class_label(project, cls))}**")
    description = _text(e.get("description"))
    criteria = _text(e.get("criteria"))
    if description:
        st.markdown(common.md(description))  # the lead's text is text, never Markdown
    if criteria:
        st.caption(t("labelbook.criteria"))
        st.markdown(common.md(criteria))
    if not description and not criteria:
        st.caption(t("labelbook.empty_entry"))
    if not thumbs:
        return
    ws = common.workspace()
    for kind in EXAMPLE_KINDS:
        ids = [int(i) for i in (e.get(kind) or [])][:max_per_kind]
        if not ids:
            continue
        st.caption(t(f"labelbook.{kind}"))
        cols = st.columns(max_per_kind)
        for col, item_id in zip(cols, ids, strict=False):
            try:
                item = get_item(ws, item_id)
                col.image(common.thumb(item, size), width="stretch")
            except DefectlabError:
                col.caption(t("labelbook.missing_example", id=item_id))
