"""The label-book panel shown beside the labeling and review views (read-only).

A project's label book lives in ``project.descriptions``: ``{class: {"description": str, "criteria": str,
"examples": [item ids], "counter_examples": [...], "borderline": [...]}}``, edited on the Label book page.
"""

import streamlit as st

from defectlab.errors import DefectlabError
from defectlab.store import get_item
from defectlab.ui import common
from defectlab.ui.common import t

__all__ = ["EXAMPLE_KINDS", "entry", "picker", "show_entry"]

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


_PICK_PAGE = 12


def picker(ws, project, cls):
    """The visual picker: the class's current pictures (with remove buttons) and a filterable, paged grid of
    the project's items with "+ example / + counter-example / + borderline" buttons."""
    from defectlab.store import UNUSABLE, add_example, remove_example
    from defectlab.store.browse import query_items

    ss = st.session_state
    e = entry(project, cls)
    st.subheader(t("labelbook.picker_title", cls=common.cls_name(cls)))
    chosen = [(kind, int(i)) for kind in EXAMPLE_KINDS for i in (e.get(kind) or [])]
    if chosen:
        cols = st.columns(8)
        for k, (kind, item_id) in enumerate(chosen):
            with cols[k % 8]:
                try:
                    st.image(common.thumb(get_item(ws, item_id), 96), width="content")
                except DefectlabError:
                    st.caption(t("labelbook.missing_example", id=item_id))
                st.caption(f"#{item_id} · {t(f'labelbook.short.{kind}')}")
                if st.button(t("labelbook.remove"), key=f"lbp_rm_{item_id}", width="stretch"):
                    with common.guard():
                        remove_example(ws, project, cls, item_id, user=common.user())
                        st.rerun()
    show_options = ["of_class", "other", "unlabeled", "all"]
    c = st.columns([2, 2, 1])
    show = c[0].selectbox(t("labelbook.picker_show"), show_options, key="lbp_show",
                          format_func=lambda v: t(f"labelbook.picker_show.{v}", cls=common.cls_name(cls)))
    pattern = c[1].text_input(t("items.source"), key="lbp_source", help=t("items.source_help"))
    filters = {"source": pattern.strip() or None}
    if show == "of_class":
        filters["label"] = cls
    elif show == "unlabeled":
        filters["unlabeled"] = True
    sig = (cls, show, pattern)
    if ss.get("lbp_sig") != sig:
        ss["lbp_sig"], ss["lbp_page"] = sig, 0
    page = ss.get("lbp_page", 0)
    res = {"total": 0, "items": []}
    with common.guard():
        res = query_items(ws, project, filters, limit=_PICK_PAGE, offset=page * _PICK_PAGE, user=common.user())
    rows = [r for r in res["items"] if not (show == "other" and r["label"] in (cls, UNUSABLE))]
    pages = max(1, -(-res["total"] // _PICK_PAGE))
    nav = c[2].columns(2)
    if nav[0].button("‹", key="lbp_prev", disabled=page == 0):
        ss["lbp_page"] = page - 1
        st.rerun()
    if nav[1].button("›", key="lbp_next", disabled=page >= pages - 1):
        ss["lbp_page"] = page + 1
        st.rerun()
    st.caption(t("items.count", n=res["total"], page=page + 1, pages=pages))
    cols = st.columns(6)
    for k, r in enumerate(rows):
        with cols[k % 6]:
            st.image(common.thumb(r, 96), width="content")
            st.caption(f"#{r['item_id']} · {common.md(common.label_text(r['label']))}")
            for kind in EXAMPLE_KINDS:
                if st.button(t(f"labelbook.add.{kind}"), key=f"lbp_{kind}_{r['item_id']}", width="stretch"):
                    with common.guard():
                        add_example(ws, project, cls, kind, r["item_id"], user=common.user())
                        st.rerun()
