"""defectlab workbench: ``streamlit run app.py`` (workspace from ``DEFECTLAB_WORKSPACE`` or Settings).

A router only: it sets the session defaults, gates login in team mode and lists the pages; each page
lives in ``defectlab/ui/pages/`` and calls the library.
"""

import re
from urllib.parse import urlparse

import streamlit as st

from defectlab.errors import DefectlabError
from defectlab.ui import common, session
from defectlab.ui.common import t

# A local file: a ":material/...:" page icon is drawn from the Material Symbols font, and nothing here
# should depend on a request to an outside font host.
st.set_page_config(page_title="defectlab", page_icon=str(common.STATIC_DIR / "icon.png"), layout="wide")
common.init_state()
common.localize_widgets()


_MADE = {}  # the pages of this run by file name (the default page's own url_path reads "")


def _page(name, title_key, icon, default=False):
    # The default page is served at "/"; its declared path is kept off its name so that a stand-in can
    # answer "/projects" (Streamlit derives a page's identity from the declared path, even the default's).
    _MADE[name] = st.Page(str(common.PAGES_DIR / f"{name}.py"), title=t(title_key), icon=icon,
                          url_path=f"{name}-home" if default else name, default=default)
    return _MADE[name]


def _elsewhere(name, run, title_key):
    """A hidden stand-in for a page this tab may not open (a bookmark, a shared link): ``run`` answers it in
    the reader's language instead of Streamlit's English "Page not found" dialog."""
    def page():
        run(name)

    page.__name__ = f"elsewhere_{name}"
    return st.Page(page, title=t(title_key), url_path=name, visibility="hidden")


def _sign_in_first(name):
    st.session_state["after_login"] = name  # opened once signed in, if the role allows it
    if st.query_params.get("project"):  # switch_page drops the address's parameters: keep the project
        st.session_state["project"] = st.query_params["project"]
    st.switch_page(login)


def _home(_name):
    """``/projects`` (the home page's own name: Streamlit serves the default page at ``/`` only) and ``/login``
    once signed in: the home page, with the address's project."""
    if st.query_params.get("project"):
        st.session_state["project"] = st.query_params["project"]
    st.switch_page(_MADE["projects"])


def _unknown(name):
    """An address that names no page (a mistyped or old bookmark): the home page, saying so."""
    common.flash("info", t("nav.unknown_page", name=name))
    _home(name)


def _unknown_name():
    """The last part of this tab's address when it names no page of the app, else None: answered by a stand-in
    (:func:`_unknown`) instead of Streamlit's English "Page not found" dialog."""
    try:
        path = urlparse(st.context.url or "").path
    except (TypeError, ValueError, RuntimeError):
        return None
    base = "/" + (st.get_option("server.baseUrlPath") or "").strip("/")
    rest = path[len(base):] if path.startswith(base) else path
    name = rest.strip("/")
    known = set(common.page_names()) | {f"{n}-home" for n in ("projects", "login")}
    return name if re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name) and name not in known else None


def _not_here(_name):
    st.title(t("nav.not_here_title"))
    st.info(t("nav.not_for_role") if team else t("nav.not_in_single_user"))
    common.page_link("projects", "nav.projects", ":material/home:")


try:
    ws = common.workspace()
except DefectlabError as exc:  # a damaged database or a full disk: a clear message, never a traceback
    st.error(t("error.workspace", detail=str(exc)))
    st.stop()
team = common.team_mode(ws)
logged_in = bool(session.gate(ws, team))  # the server-side session of this tab (resumed from ?s= on refresh)

if team and not logged_in:
    st.session_state.pop("user", None)
    login = _page("login", "nav.login", ":material/login:", default=True)
    names = [*common.page_names(), *filter(None, [_unknown_name()])]
    nav = st.navigation([login, *(_elsewhere(name, _sign_in_first, "nav.login") for name in names)])
else:
    st.session_state["user"] = st.session_state["auth_user"] if team else "local"
    may = common.permissions()
    sections = {
        t("nav.section.data"): [
            _page("projects", "nav.projects", ":material/home:", default=True),
            may("import") and _page("import_data", "nav.import", ":material/upload:"),
            may("cut_crops") and _page("cut_crops", "nav.cut_crops", ":material/crop:"),
            _page("items", "nav.items", ":material/photo_library:"),
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
        may("edit_project") and _page("manage", "nav.manage", ":material/tune:"),
        may("export") and _page("export", "nav.export", ":material/download:"),
        _page("settings", "nav.settings", ":material/settings:"),
        may("manage_users") and _page("team_users", "nav.team_users", ":material/group:"),
    ]
    sections = {k: [p for p in v if p] for k, v in sections.items()}
    shown = dict(_MADE)
    hidden = [_elsewhere(name, _not_here, "nav.not_here_title") for name in common.page_names()
              if name not in shown and name != "login"]
    hidden += [_elsewhere(name, _home, "nav.projects") for name in ("projects", "login")]
    unknown = _unknown_name()
    if unknown:
        hidden.append(_elsewhere(unknown, _unknown, "nav.projects"))
    nav = st.navigation({**{k: v for k, v in sections.items() if v}, "": hidden}, expanded=True)
    wanted = st.session_state.pop("after_login", None)
    if wanted in shown:  # the page a signed-out bookmark asked for
        st.switch_page(shown[wanted])
    with st.sidebar:
        common.project_picker(ws)
        if team:
            st.caption(t("common.signed_in_as", user=st.session_state["user"]))
            if st.button(t("common.sign_out"), key="sign_out"):
                session.sign_out(ws)
                st.rerun()

nav.run()
