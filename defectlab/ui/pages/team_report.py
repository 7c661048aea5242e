"""Throughput: per person and day, items labeled, QC outcome, active hours, items per hour;
CSV download for the piece-rate pay report. Without view_team, people see their own rows."""

import datetime as dt

import altair as alt
import streamlit as st

from defectlab import team
from defectlab.ui import common
from defectlab.ui.common import t, t_plain

ws = common.workspace()
project = common.active_project(ws)
me = common.user()
st.title(t("report.title"))
common.show_flash()

c = st.columns(3)
today = dt.date.today()
start = c[0].date_input(t("report.start"), today - dt.timedelta(days=6), key="report_start")
end = c[1].date_input(t("report.end"), today, key="report_end")
scope = c[2].radio(t("report.scope"), ["project", "all"], key="report_scope", horizontal=True,
                   format_func=lambda v: t(f"report.scope.{v}"), disabled=project is None)
proj = project if scope == "project" and project is not None else None
with common.guard():
    df = team.throughput(ws, proj, start=start, end=end, by=me)
    if df.empty:
        st.info(t("report.empty"))
    else:
        shown = df.assign(role=[t_plain(f"role.{r}") if r else "" for r in df["role"]],
                          display_name=[common.person_name(u, n) for u, n in zip(df["user"], df["display_name"],
                                                                                  strict=True)])
        # the table on screen: minutes instead of seconds and hours (the CSV keeps the exact columns), numbers
        # rounded alike, so all of it fits a 1280 px window
        columns = [c for c in df.columns if c not in ("active_seconds", "active_hours", "items_per_hour")]
        shown = shown.assign(active_minutes=df["active_seconds"] / 60)[[*columns, "active_minutes", "items_per_hour"]]
        head = {c: t_plain(f"report.col.{c}") for c in shown.columns}
        st.dataframe(shown.rename(columns=head), hide_index=True, width="stretch", column_config={
            head["active_minutes"]: st.column_config.NumberColumn(format="%.1f"),
            head["items_per_hour"]: st.column_config.NumberColumn(format="%.0f")})
        totals = df.groupby("user")[["items_labeled", "active_hours"]].sum().reset_index()
        chart = alt.Chart(totals).mark_bar().encode(
            x=alt.X("user:N", title=t("report.col.user"), sort="-y"),
            y=alt.Y("items_labeled:Q", title=t("report.col.items_labeled")),
            tooltip=["user:N", "items_labeled:Q", alt.Tooltip("active_hours:Q", format=".2f")],
        ).properties(height=240)
        st.altair_chart(chart, width="stretch")
    # English keeps the raw column names (a stable header for pay-report scripts); other languages
    # get the translated headers shown in the table above
    headers = None if common.lang() == "en" else {c: t(f"report.col.{c}") for c in team.THROUGHPUT_COLUMNS}
    csv = team.throughput_csv(ws, proj, start=start, end=end, by=me, columns=headers)
    st.download_button(t("report.download"), csv, file_name=f"throughput_{start}_{end}.csv",
                       mime="text/csv", key="report_csv", icon=":material/download:")
