"""Sign in (team mode only): local accounts checked by defectlab.team; a new password when required."""

import streamlit as st

from defectlab.errors import DefectlabError
from defectlab.team import authenticate, change_password
from defectlab.ui import common, session
from defectlab.ui.common import t

ws = common.workspace()
st.title(t("login.title"))
common.show_flash()

LANGS = {"en": "English", "zh_CN": "简体中文"}
st.session_state["login_lang"] = common.lang()
st.radio(t("settings.language"), list(LANGS), format_func=LANGS.get, key="login_lang", horizontal=True,
         on_change=lambda: st.session_state.update(lang=st.session_state["login_lang"]))

pending = st.session_state.get("login_must_change")
if pending:
    st.info(t("login.must_change", user=pending))
    with st.form("login_change"):
        old = st.text_input(t("login.old_password"), type="password", key="login_old")
        new = st.text_input(t("login.new_password"), type="password", key="login_new")
        again = st.text_input(t("login.new_password_again"), type="password", key="login_again")
        ok = st.form_submit_button(t("login.change"), type="primary")
    if ok:
        if new != again:
            st.error(t("login.mismatch"))
        else:
            with common.guard():
                change_password(ws, pending, old, new)
                st.session_state.pop("login_must_change", None)
                session.sign_in(ws, pending)
                st.rerun()
    st.stop()

with st.form("login_form"):
    username = st.text_input(t("login.username"), key="login_user")
    password = st.text_input(t("login.password"), type="password", key="login_password")
    ok = st.form_submit_button(t("login.submit"), type="primary")
if ok:
    try:
        account = authenticate(ws, username, password, source=session.source())
    except DefectlabError as exc:
        st.error(common.md(common.reason_text(exc.args[0] if exc.args else str(exc))))
    else:
        if account.get("must_change_password"):
            st.session_state["login_must_change"] = account["username"]
        else:
            session.sign_in(ws, account["username"])
        st.rerun()
st.caption(t("login.help"))
