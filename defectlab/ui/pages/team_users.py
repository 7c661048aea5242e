"""Users & roles (admins and leads): accounts, roles, disable / enable, password reset.
Creating the first extra account switches the workspace to team mode (everybody signs in)."""

import pandas as pd
import streamlit as st

from defectlab import team
from defectlab.store import ROLES
from defectlab.ui import common
from defectlab.ui.common import t

ws = common.workspace()
me = common.user()
st.title(t("users.title"))
common.show_flash()
users = team.list_users(ws)
st.dataframe(pd.DataFrame([{
    t("users.username"): u["username"], t("users.display_name"): common.person_name(u["username"], u["display_name"]),
    t("users.role"): t(f"role.{u['role']}"), t("users.disabled"): bool(u["disabled"]),
    t("users.must_change"): bool(u["must_change_password"])} for u in users]),
    hide_index=True, width="stretch")

starts_team = not common.team_mode(ws)
may = common.permissions(ws)
# a new, empty form after a created account (not after a refusal): the browser keeps a form's typed values,
# so the form and its fields get new keys
_round = st.session_state.get("users_created", 0)


def _k(key):
    return key if not _round else f"{key}_{_round}"


st.subheader(t("users.create"))
if starts_team:
    st.info(t("users.first_account"))
with st.form(_k("users_create")):
    c = st.columns(3)
    username = c[0].text_input(t("users.username"), key=_k("users_new_name"))
    display = c[1].text_input(t("users.display_name"), key=_k("users_new_display"))
    role = c[2].selectbox(t("users.role"), ROLES, index=ROLES.index("annotator"), key=_k("users_new_role"),
                          format_func=lambda r: t(f"role.{r}"))
    c = st.columns(2)
    password = c[0].text_input(t("users.initial_password"), type="password", key=_k("users_new_password"),
                               help=t("users.initial_password_help"))
    admin_password = None
    if starts_team:
        admin_password = c[1].text_input(t("users.admin_password"), type="password",
                                         key=_k("users_admin_password"), help=t("users.admin_password_help"))
    ok = st.form_submit_button(t("users.create_submit"), type="primary")
if ok:
    with common.guard():
        team.create_user(ws, username, password, role, display_name=display, by=me,
                         admin_password=admin_password or None)
        common.flash("success", t("users.created", user=username))
        st.session_state["users_created"] = _round + 1
        if starts_team:
            # team mode starts now: the local admin signs in with the password just set
            st.session_state["auth_user"] = "local"
            import time

            st.session_state["last_seen"] = time.time()
        st.rerun()

st.subheader(t("users.change"))
names = [u["username"] for u in users]
who = st.selectbox(t("users.username"), names, key="users_pick")
account = next(u for u in users if u["username"] == who)
c = st.columns(3)
with c[0]:
    new_role = st.selectbox(t("users.role"), ROLES, index=ROLES.index(account["role"]), key="users_role",
                            format_func=lambda r: t(f"role.{r}"))
    if st.button(t("users.set_role"), key="users_set_role"):
        with common.guard():
            team.set_role(ws, who, new_role, by=me)
            common.flash("success", t("users.role_set", user=who, role=t(f"role.{new_role}")))
            st.rerun()
with c[1]:
    if account["disabled"]:
        if st.button(t("users.enable"), key="users_enable"):
            with common.guard():
                team.enable_user(ws, who, by=me)
                st.rerun()
    elif st.button(t("users.disable"), key="users_disable"):
        with common.guard():
            team.disable_user(ws, who, by=me)
            st.rerun()
with c[2]:
    if may("reset_password"):
        reset = st.text_input(t("users.reset_password"), type="password", key="users_reset")
        if st.button(t("users.reset"), key="users_reset_go", disabled=not reset):
            with common.guard():
                team.reset_password(ws, who, reset, by=me)
                common.flash("success", t("users.reset_done", user=who))
                st.rerun()
    else:  # a lead: an admin resets passwords (the library refuses a lead anyway)
        st.caption(t("users.reset_admin_only"))

# -- open sessions (team mode: nobody signs in on a single-user workspace, every tab is the local admin) --------
st.subheader(t("users.sessions"))
if not common.team_mode(ws):
    st.caption(t("users.sessions_single_user"))
else:
    st.caption(t("users.sessions_help"))
    with common.guard():
        open_sessions = [r for r in team.list_sessions(ws, by=me) if r["id"] != st.session_state.get("auth_session")]
        if not open_sessions:
            st.caption(t("users.sessions_none"))
        else:
            st.dataframe(pd.DataFrame([{
                t("users.username"): common.who(r["user"]),
                t("users.col.since"): r["created_at"][:16].replace("T", " "),
                t("users.col.last_seen"): r["last_seen"][:16].replace("T", " "),
                t("users.col.source"): common.source_text(r["source"])}
                for r in open_sessions]), hide_index=True, width="stretch")
            if st.button(t("users.end_sessions"), key="users_end_sessions", disabled=who == me):
                with common.guard():
                    n = team.revoke_sessions(ws, who, by=me)
                    common.flash("success", t("users.sessions_ended", user=who, n=n))
                    st.rerun()
