"""Settings: language, workspace folder, the active project's training defaults."""

from pathlib import Path

import streamlit as st

from defectlab.errors import DefectlabError
from defectlab.store import open_workspace_as, update_project
from defectlab.ui import common, session, training
from defectlab.ui.common import t

st.title(t("settings.title"))
common.show_flash()

# -- language ----------------------------------------------------------------------------------------
LANGS = {"en": "English", "zh_CN": "简体中文"}
st.subheader(t("settings.language"))


def _set_lang():
    st.session_state["lang"] = st.session_state["settings_lang"]


st.session_state["settings_lang"] = common.lang()
st.radio(t("settings.language"), list(LANGS), format_func=LANGS.get, key="settings_lang",
         on_change=_set_lang, horizontal=True, label_visibility="collapsed")

# -- workspace ---------------------------------------------------------------------------------------
# Only an admin may open another workspace, and only under the data roots (enforced by
# open_workspace_as); the session ends here: in the other workspace one signs in with its accounts.
if common.permissions()("open_workspace"):
    st.subheader(t("settings.workspace"))
    roots = common.data_roots()
    st.caption(t("settings.workspace_help_roots", roots=", ".join(str(r) for r in roots)))
    path = st.text_input(t("settings.workspace_path"), value=str(Path(common.workspace_path()).resolve()),
                         key="settings_ws")
    if st.button(t("settings.workspace_open"), key="settings_ws_open"):
        try:
            other = open_workspace_as(common.workspace(), common.user(), path, roots)
        except (DefectlabError, OSError) as exc:
            st.error(t("settings.workspace_error", path=path,
                       error=common.error_text(exc)))
        else:
            session.sign_out(common.workspace(), reason="workspace_switch")
            st.session_state["workspace"] = str(other.root)
            st.session_state["project"] = None
            st.session_state["lbl_ctx"] = None
            common.flash("success", t("settings.workspace_opened", path=str(other.root)))
            st.rerun()

# -- defaults ----------------------------------------------------------------------------------------
project = common.active_project()
if project is not None:
    st.subheader(t("settings.defaults", project=project.name))
    models, presets = training.model_names(), training.preset_names()
    current = project.settings or {}
    with st.form("settings_defaults"):
        c1, c2, c3 = st.columns(3)
        model = c1.selectbox(t("train.model"), models, index=training.index_of(models, current.get(
            "default_model")), key="settings_model", format_func=common.model_name)
        preset = c2.selectbox(t("train.preset"), presets, index=training.index_of(presets, current.get(
            "default_preset")), key="settings_preset", format_func=common.preset_name)
        folds = c3.number_input(t("train.folds"), 2, 20, int(current.get("default_folds", 5)),
                                key="settings_folds")
        own = current.get("review_threshold")
        per_run = st.checkbox(t("settings.review_threshold_per_run"), value=own is None, key="settings_threshold_auto",
                              help=t("settings.review_threshold_per_run_help"))
        threshold = st.slider(t("settings.review_threshold"), 0.0, 1.0, float(0.8 if own is None else own), 0.01,
                              key="settings_threshold", help=t("settings.review_threshold_help"))
        ok = st.form_submit_button(t("settings.save"), type="primary")
    if ok:
        with common.guard():
            update_project(ws := common.workspace(), project, user=common.user(), settings={
                "default_model": model, "default_preset": preset, "default_folds": int(folds),
                "review_threshold": None if per_run else float(threshold)})
            common.flash("success", t("settings.saved"))
            st.rerun()
