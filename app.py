"""defectlab workbench: ``streamlit run app.py`` (workspace from ``DEFECTLAB_WORKSPACE`` or Settings).

A router only: it sets the session defaults, gates login in team mode and lists the pages; each page
lives in ``defectlab/ui/pages/`` and calls the library.
"""

import time

import streamlit as st

from defectlab.errors import DefectlabError
from defectlab.ui import common
from defectlab.ui.common import t

st.set_page_config(page_title="defectlab", page_icon=":material/grid_view:", layout="wide")
common.init_state()


def _page(name, title_key, icon, default=False):
    return st.Page(str(common.PAGES_DIR / f"{name}.py"), title=t(title_key), icon=icon,
                   url_path=name, default=default)


try:
    ws = common.workspace()
except DefectlabError as exc:  # a damaged database or a full disk: a clear message, never a traceback
    st.error(t("error.workspace", detail=str(exc)))
    st.stop()
team = common.team_mode(ws)
if team and st.session_state.get("auth_user"):
    from defectlab.team import session_expired

    if session_expired(st.session_state.get("last_seen")):
        st.session_state.pop("auth_user", None)
        common.flash("info", t("login.expired"))
    else:
        st.session_state["last_seen"] = time.time()
logged_in = bool(st.session_state.get("auth_user"))

if team and not logged_in:
    nav = st.navigation([_page("login", "nav.login", ":material/login:", default=True)])
else:
    st.session_state["user"] = st.session_state["auth_user"] if team else "local"
    may = common.permissions()
    sections = {
        t("nav.section.data"): [
            _page("projects", "nav.projects", ":material/home:", default=True),
            may("import") and _page("import_data", "nav.import", ":material/upload:"),
            may("cut_crops") and _page("cut_crops", "nav.cut_crops", ":material/crop:"),
            _page("label_book", "nav.label_book", ":material/menu_book:"),
            may("label") and _page("label", "nav.label", ":material/label:"),
        ],
        t("nav.section.model"): [
            may("train") and _page("train", "nav.train", ":material/model_training:"),
            # runs show other people's labels: not for annotators, who label blind in team mode
            (may("train") or may("view_team") or may("predict"))
            and _page("runs", "nav.runs", ":material/compare_arrows:"),
            may("review") and _page("review", "nav.review", ":material/fact_check:"),
            (may("predict") or may("correct_predictions"))
            and _page("predict", "nav.predict", ":material/batch_prediction:"),
        ],
    }
    if team:
        sections[t("nav.section.team")] = [
            may("assign") and _page("team_assign", "nav.team_assign", ":material/assignment:"),
            may("view_team") and _page("team_agreement", "nav.team_agreement", ":material/handshake:"),
            may("review") and _page("team_qc", "nav.team_qc", ":material/verified:"),
            _page("team_report", "nav.team_report", ":material/table_chart:"),
            may("view_team") and _page("team_audit", "nav.team_audit", ":material/history:"),
        ]
    sections[t("nav.section.settings")] = [
        _page("settings", "nav.settings", ":material/settings:"),
        may("manage_users") and _page("team_users", "nav.team_users", ":material/group:"),
    ]
    sections = {k: [p for p in v if p] for k, v in sections.items()}
    nav = st.navigation({k: v for k, v in sections.items() if v}, expanded=True)
    with st.sidebar:
        common.project_picker(ws)
        if team:
            st.caption(t("common.signed_in_as", user=st.session_state["user"]))
            if st.button(t("common.sign_out"), key="sign_out"):
                st.session_state.pop("auth_user", None)
                st.rerun()

nav.run()
