"""Project & classes: rename the project; add, rename, reorder and merge classes (every annotation keeps
its meaning: renames and merges are recorded events); soft-delete and restore projects."""

import streamlit as st

from defectlab.errors import DefectlabError
from defectlab.store import (
    add_class,
    delete_project,
    list_projects,
    merge_classes,
    remove_class,
    rename_class,
    rename_project,
    reorder_classes,
    restore_project,
    unused_classes,
)
from defectlab.ui import common
from defectlab.ui.common import t

ws = common.workspace()
may = common.permissions(ws)
ss = st.session_state
user = common.user()


def _do(func, done_key, **fmt):
    """Run a library call; a success or the error (translated) shows on the next run."""
    try:
        result = func()
    except DefectlabError as exc:
        common.flash("error", common.error_text(exc))
        return None
    common.flash("success", t(done_key, **fmt))
    return result


project = common.active_project(ws)
st.title(t("manage.title") if project is None else t("manage.title_project", project=project.name))
common.show_flash()

if project is not None:
    classes = list(project.classes)
    st.subheader(t("manage.project"))
    c = st.columns([3, 1])
    c[0].text_input(t("manage.new_project_name"), key="mg_name", placeholder=project.name)

    def _rename_project():
        new = (ss.get("mg_name") or "").strip()
        p = _do(lambda: rename_project(ws, project, new, user=user), "manage.renamed_project", name=new)
        if p is not None:
            ss["project"] = p.name
            ss["mg_name"] = ""

    c[1].button(t("manage.rename"), key="mg_rename_project", on_click=_rename_project, width="stretch")

    st.subheader(t("manage.classes"))
    st.caption(t("manage.classes_note"))
    c = st.columns([2, 2, 1])
    c[0].selectbox(t("common.class"), classes, key="mg_cls", format_func=lambda x: common.class_label(project, x))
    c[1].text_input(t("manage.new_class_name"), key="mg_new")

    def _rename_class():
        old, new = ss.get("mg_cls"), (ss.get("mg_new") or "").strip()
        if _do(lambda: rename_class(ws, project, old, new, user=user), "manage.renamed_class", old=old, new=new):
            ss["mg_new"] = ""

    c[2].button(t("manage.rename"), key="mg_rename_class", on_click=_rename_class, width="stretch")

    c = st.columns([4, 1])
    c[0].text_input(t("manage.add_class"), key="mg_add")

    def _add():
        new = (ss.get("mg_add") or "").strip()
        if _do(lambda: add_class(ws, project, new, user=user), "manage.added_class", cls=new):
            ss["mg_add"] = ""

    c[1].button(t("action.add"), key="mg_add_go", on_click=_add, width="stretch")

    unused = unused_classes(ws, project, user=user)
    if unused and len(classes) > 2:  # a typo or a grade added by mistake: nothing carries it, so it can go
        c = st.columns([4, 1])
        c[0].selectbox(t("manage.remove_class"), unused, key="mg_remove", help=t("manage.remove_class_help"),
                       format_func=lambda x: common.class_label(project, x))

        def _remove():
            cls = ss.get("mg_remove")
            _do(lambda: remove_class(ws, project, cls, user=user), "manage.removed_class", cls=common.cls_name(cls))

        c[1].button(t("manage.remove"), key="mg_remove_go", on_click=_remove, width="stretch")

    c = st.columns([2, 2, 1])
    c[0].multiselect(t("manage.merge_from"), classes, key="mg_merge_from", placeholder=t("common.choose"),
                     select_all=False, format_func=lambda x: common.class_label(project, x))
    c[1].text_input(t("manage.merge_into"), key="mg_merge_into", help=t("manage.merge_into_help"))

    def _into():
        """The class to merge into: typed as shown on the page (斑块) it is that class (patches), not a new one."""
        typed = (ss.get("mg_merge_into") or "").strip()
        return {common.cls_name(c, classes): c for c in classes}.get(typed, typed)

    def _merge():
        ss.pop("mg_merge_ask", None)
        sources, into = ss.get("mg_merge_from") or [], _into()
        if _do(lambda: merge_classes(ws, project, sources, into, user=user), "manage.merged",
               sources=common.list_text(common.cls_name(x) for x in sources), into=common.cls_name(into)):
            ss["mg_merge_from"], ss["mg_merge_into"] = [], ""

    def _ask_merge(value):
        ss["mg_merge_ask"] = value

    c[2].button(t("manage.merge"), key="mg_merge", on_click=_ask_merge, args=(True,), width="stretch",
                disabled=not ss.get("mg_merge_from") or not (ss.get("mg_merge_into") or "").strip())
    if ss.get("mg_merge_ask"):  # a merge cannot be taken apart again: say so before it happens
        sources = ss.get("mg_merge_from") or []
        st.warning(t("manage.merge_confirm", sources=common.list_text(common.cls_name(x) for x in sources),
                     into=common.cls_name(_into())))
        c = st.columns([1, 1, 3])
        c[0].button(t("manage.merge_yes"), key="mg_merge_yes", on_click=_merge, type="primary", width="stretch")
        c[1].button(t("action.cancel"), key="mg_merge_no", on_click=_ask_merge, args=(False,), width="stretch")

    c = st.columns([4, 1])
    c[0].text_area(t("manage.order"), value="\n".join(classes), key=f"mg_order_{'|'.join(classes)}",
                   help=t("manage.order_help"), height=max(90, 28 * len(classes)))

    def _reorder():
        order = [x.strip() for x in (ss.get(f"mg_order_{'|'.join(classes)}") or "").splitlines() if x.strip()]
        _do(lambda: reorder_classes(ws, project, order, user=user), "manage.reordered")

    c[1].button(t("manage.reorder"), key="mg_reorder", on_click=_reorder, width="stretch")

    if may("delete"):
        st.subheader(t("manage.delete_title"))
        confirm = st.checkbox(t("manage.delete_confirm", project=project.name), key="mg_delete_confirm")

        def _delete():
            if _do(lambda: delete_project(ws, project, user=user) or True, "manage.deleted", project=project.name):
                ss["project"] = None
                ss["mg_delete_confirm"] = False

        st.button(t("manage.delete"), key="mg_delete", on_click=_delete, disabled=not confirm, type="primary",
                  icon=":material/delete:")
else:
    st.info(t("common.no_project"))

deleted = [p for p in list_projects(ws, include_deleted=True) if p.deleted_at]
if deleted and may("restore"):
    st.subheader(t("manage.deleted_title"))
    for p in deleted:
        c = st.columns([4, 1])
        c[0].markdown(t("manage.deleted_row", project=p.name, at=p.deleted_at[:16].replace("T", " ")))

        def _restore(p=p):
            if _do(lambda: restore_project(ws, p, user=user), "manage.restored", project=p.name):
                ss["project"] = p.name

        c[1].button(t("manage.restore"), key=f"mg_restore_{p.id}", on_click=_restore, width="stretch")
