"""Audit log: who did what and when (imports, labels, reviews, training, account changes); deleted
items can be restored by an admin."""

import streamlit as st

from defectlab import team
from defectlab.i18n import catalog
from defectlab.store import restore_items
from defectlab.ui import common
from defectlab.ui.common import t

ws = common.workspace()
project = common.active_project(ws)
me = common.user()
st.title(t("audit.title"))
common.show_flash()



def _known(key, fallback):
    """The catalog text of ``key`` in the session's language, else ``fallback`` (an action this version does
    not name yet)."""
    return common.t_plain(key) if key in catalog("en") else fallback


def _action(name):
    return _known(f"audit.action.{name}", name)


_CLASS_KEYS = ("label", "labels", "class", "classes", "old", "new", "into", "descriptions",
               "model_label")  # class names


def _detail_value(key, value):
    if isinstance(value, bool):
        return common.t_plain("common.yes" if value else "common.no")
    if key == "labels" and value in ("all", "reviewed", "agreed"):  # an export's choice of labels
        return common.t_plain(f"export.labels.{value}")
    if isinstance(value, dict):
        return f"({_details(value)})"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(_detail_value(key, v)) for v in value)
    if key in _CLASS_KEYS and isinstance(value, str):
        return common.label_text(value)
    if key == "model":
        return common.model_name(value)
    if key == "decision" and isinstance(value, str):  # a located box: accepted / corrected / dismissed
        return _known(f"audit.value.decision.{value}", value)
    if key == "purpose" and isinstance(value, str):  # a plate stored to cut crops from, or to predict on
        return _known(f"audit.value.purpose.{value}", value)
    if key in ("role", "layout") and isinstance(value, str):
        return _known(f"{'role' if key == 'role' else 'import.layout'}.{value}", value)
    if key == "box_index" and isinstance(value, int):  # stored from 0; the pages and comments count from 1
        return value + 1
    if isinstance(value, float):
        return f"{value:.3f}"  # as the run tables round a metric
    return value


def _details(details):
    """A row's details as "key: value" pairs in the session's language (ids, names and paths as they are)."""
    if not isinstance(details, dict):
        return details
    return " · ".join(common.t_plain("audit.detail_pair", name=_known(f"audit.detail.{k}", k),
                                     value=_detail_value(k, v)) for k, v in details.items()
                      if v is not None and v != "")  # an empty comment says nothing


def _shown(df):
    """The activity table with its headers, action names and kinds in the session's language."""
    df = df.copy()
    df["at"] = df["at"].astype(str).str[:19].str.replace("T", " ")  # to the second, like the other tables
    df["action"] = df["action"].map(_action)
    df["kind"] = df["kind"].map(lambda k: _known(f"audit.kind.{k}", k))
    df["details"] = df["details"].map(_details)
    return df.rename(columns={c: _known(f"audit.col.{c}", c) for c in df.columns})


c = st.columns(3)
who = c[0].text_input(t("audit.user"), key="audit_user")
with common.guard():
    actions = team.activity_actions(ws, by=me)
    picked = c[1].multiselect(t("audit.actions"), actions, key="audit_actions", placeholder=t("common.choose"),
                              select_all=False,
                              format_func=_action)
    limit = c[2].number_input(t("audit.limit"), 10, 10000, 500, key="audit_limit")
    df = team.activity(ws, project=project, user=who.strip() or None, actions=picked or None,
                       limit=int(limit), by=me)
    st.dataframe(_shown(df), hide_index=True, width="stretch")

    st.subheader(t("audit.deleted"))
    deleted = team.deleted_items(ws, project, by=me)
    if len(deleted) == 0:
        st.caption(t("audit.none_deleted"))
    else:
        st.dataframe(deleted, hide_index=True, width="stretch")
        ids = [int(i) for i in (deleted["id"] if hasattr(deleted, "columns") else
                                [d["id"] for d in deleted])]
        if not common.permissions(ws)("restore"):  # an admin's: a lead sees the list, not a refused button
            st.caption(t("audit.restore_admin_only"))
        else:
            pick = st.multiselect(t("audit.restore_pick"), ids, key="audit_restore", placeholder=t("common.choose"),
                                  select_all=False)  # Streamlit's "Select all" is English only
            if st.button(t("audit.restore"), key="audit_restore_go", disabled=not pick):
                restore_items(ws, pick, user=me)
                common.flash("success", t("audit.restored", n=len(pick)))
                st.rerun()
