"""Home: the projects, their counts and last run, what to do next, and a form to create a project.

Counts come from :func:`defectlab.store.project_summary` (one SQL aggregate per project, cached until its
labels change), each project's summary once per rerun: a rerun that changed nothing costs a few indexed
look-ups, not a scan of every label."""

import pandas as pd
import streamlit as st

from defectlab.demo import build_demo_workspace
from defectlab.store import create_project, list_projects, project_summary
from defectlab.ui import common
from defectlab.ui.common import t, t_plain

ws = common.workspace()
st.title(t("projects.title"))
common.show_flash()
projects = list_projects(ws)
summaries = {q.id: project_summary(ws, q) for q in projects}


_page_link = common.page_link


def _metrics_line(metrics):
    parts = []
    for name in ("accuracy", "balanced_accuracy", "macro_f1", "mae", "qwk"):
        if isinstance(metrics.get(name), (int, float)):
            title = t(f"metric.{name}")
            parts.append(f"{title} {metrics[name]:.3f}")
    return " · ".join(parts)


def _links(*pages):
    """Links to pages side by side: ``(page, title key, icon)`` each."""
    for col, (name, key, icon) in zip(st.columns(len(pages)), pages, strict=True):
        with col:
            _page_link(name, key, icon)


def _role_next_step(ws, p, may):
    """What an annotator, a quality inspector or a line supervisor does next (a lead's steps are below)."""
    if may("review"):
        st.markdown(t("projects.next.qc"))
        _links(("team_qc", "nav.team_qc", ":material/verified:"),
               ("team_agreement", "nav.team_agreement", ":material/handshake:"))
    elif may("predict"):
        st.markdown(t("projects.next.predict"))
        _page_link("predict", "nav.predict", ":material/batch_prediction:")
    else:
        from defectlab.team import queue_counts

        counts = queue_counts(ws, p, common.user())
        if counts["remaining"]:
            st.markdown(t("projects.next.queue", n=counts["remaining"]))
            if counts["rejected"]:
                st.markdown(t("projects.next.queue_rejected", n=counts["rejected"]))
        else:
            st.markdown(t("projects.next.queue_empty"))
        _links(("label", "nav.label", ":material/label:"), ("label_book", "nav.label_book", ":material/menu_book:"))


# -- what to do next -------------------------------------------------------------------------------
with st.container(border=True):
    st.subheader(t("projects.next.title"))
    if not projects:
        st.markdown(t("projects.next.empty"))
        if st.button(t("projects.demo_button"), key="build_demo", type="primary",
                     icon=":material/auto_awesome:"):
            with st.spinner(t("projects.demo_building")), common.guard():
                build_demo_workspace(ws)
                st.rerun()
    else:
        p = common.active_project(ws)
        s = summaries.get(p.id) or project_summary(ws, p)
        may = common.permissions(ws)
        st.caption(t("projects.next.for_project", project=p.name))
        if not may("train"):  # a team member's own next step, only with pages they may open
            _role_next_step(ws, p, may)
        elif s["n_items"] == 0:
            st.markdown(t("projects.next.import"))
            _page_link("import_data", "nav.import", ":material/upload:")
        elif s["n_labeled"] < 2 * len(p.classes) or (s["n_unlabeled"] and s["last_run"] is None
                                                      and s["n_labeled"] < 10 * len(p.classes)):
            st.markdown(t("projects.next.label", n=s["n_unlabeled"]))
            _page_link("label", "nav.label", ":material/label:")
        elif s["last_run"] is None:
            st.markdown(t("projects.next.train", n=s["n_labeled"]))
            _page_link("train", "nav.train", ":material/model_training:")
        else:
            st.markdown(t("projects.next.review", metrics=_metrics_line(s["last_run"]["metrics"])))
            c1, c2, c3 = st.columns(3)
            with c1:
                _page_link("review", "nav.review", ":material/fact_check:")
            with c2:
                _page_link("predict", "nav.predict", ":material/batch_prediction:")
            with c3:
                if s["n_unlabeled"]:
                    _page_link("label", "nav.label", ":material/label:")

# -- the active project ----------------------------------------------------------------------------
if projects:
    p = common.active_project(ws)
    s = summaries.get(p.id) or project_summary(ws, p)
    needs_review = s["n_needs_review"]
    st.subheader(t("projects.active", project=p.name))
    common.project_picker(ws, where=st, key="home_pick")
    cols = st.columns(5)
    cols[0].metric(t("projects.n_items"), s["n_items"])
    cols[1].metric(t("projects.n_labeled"), s["n_labeled"])
    cols[2].metric(t("projects.n_unlabeled"), s["n_unlabeled"])
    cols[3].metric(t("projects.n_needs_review"), needs_review, help=t("projects.needs_review_help"))
    cols[4].metric(t("projects.n_plates"), s["n_plates"])
    if s["last_run"]:
        m = s["last_run"]["metrics"]
        st.markdown(t("projects.last_run", run=s["last_run"]["run_id"], model=common.model_name(s["last_run"]["model"]),
                      metrics=_metrics_line(m)))
    else:
        st.caption(t("projects.no_run"))
    per_class = pd.DataFrame({t("common.class"): [common.cls_name(c) for c in s["per_class"]],
                              t("projects.n_labeled"): list(s["per_class"].values())})
    st.dataframe(per_class, hide_index=True, width="content")

    st.subheader(t("projects.all"))
    rows = []
    for q in projects:
        qs = summaries[q.id]
        last = qs["last_run"]["metrics"].get("accuracy") if qs["last_run"] else None
        rows.append({
            t("common.project"): q.name,
            t("projects.classes"): common.list_text(common.cls_name(c, q.classes) for c in q.classes),
            t("projects.ordinal"): q.ordinal,
            t("projects.n_items"): qs["n_items"],
            t("projects.n_labeled"): qs["n_labeled"],
            t("projects.n_unlabeled"): qs["n_unlabeled"],
            t("projects.last_accuracy"): last,
        })
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", column_config={  # whole in 1280 px
        t_plain("projects.classes"): st.column_config.TextColumn(width="medium"),
        t_plain("projects.last_accuracy"): st.column_config.NumberColumn(format="%.3f")})

# -- create (who may: an annotator is not offered a form the library would refuse) ------------------
if common.permissions(ws)("create_project"):
    _create_form = st.expander(t("projects.create.title"), expanded=not projects)
else:
    st.stop()
with _create_form:
    with st.form("create_project", clear_on_submit=False):
        name = st.text_input(t("projects.create.name"), key="new_name")
        classes = st.text_area(t("projects.create.classes"), key="new_classes",
                               help=t("projects.create.classes_help"),
                               placeholder="crazing\ninclusion\npatches")
        ordinal = st.checkbox(t("projects.create.ordinal"), key="new_ordinal",
                              help=t("projects.create.ordinal_help"))
        submitted = st.form_submit_button(t("projects.create.submit"), type="primary")
    if submitted:
        with common.guard():
            names = [c for line in classes.splitlines() for c in line.replace("，", ",").split(",")]
            created = create_project(ws, name, names, ordinal=ordinal, user=common.user())
            st.session_state["project"] = created.name
            common.flash("success", t("projects.create.done", project=created.name))
            st.rerun()
