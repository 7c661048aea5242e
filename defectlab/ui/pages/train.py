"""Train: choose a model and a feature preset, start a run in the background and watch its progress;
the headline metrics and a link to the run when it is done. Other people keep working meanwhile."""

import streamlit as st

from defectlab.store import project_summary
from defectlab.ui import common, training
from defectlab.ui.common import t

ws = common.workspace()
project = common.require_project(ws, title_key="nav.train")
st.title(t("train.title", project=project.name))
common.show_flash()

summary = project_summary(ws, project)
per_class = {c: n for c, n in summary["per_class"].items()}
usable = [c for c, n in per_class.items() if n >= 2]
st.caption(t("train.counts", n=summary["n_labeled"], per_class=common.list_text(f"{common.cls_name(c)} {n}" for c, n in
                                                                          per_class.items())))
if len(usable) < 2:
    st.info(t("train.too_few"))
    common.page_link("label", "nav.label", ":material/label:")
    st.stop()

defaults = project.settings or {}
models, presets = training.model_names(), training.preset_names()
with st.form("train_form"):
    # two rows: the names ("Ensemble (LightGBM + logistic)", "Fast (seconds, ...)") stay whole at 1100 px
    c = st.columns(2)
    model = c[0].selectbox(t("train.model"), models, key="train_model",
                           index=training.index_of(models, defaults.get("default_model")),
                           format_func=lambda m: t(f"model.{m}"), help=t("train.model_help"))
    preset = c[1].selectbox(t("train.preset"), presets, key="train_preset",
                            index=training.index_of(presets, defaults.get("default_preset")),
                            format_func=lambda p: t(f"train.preset.{p}"), help=t("train.preset_help"))
    c = st.columns(3)
    folds = c[0].number_input(t("train.folds"), 2, 20, int(defaults.get("default_folds", 5)),
                              key="train_folds", help=t("train.folds_help"))
    speeds = training.speed_names()
    speed = c[1].selectbox(t("train.speed"), speeds, key="train_speed",
                           index=training.index_of(speeds, defaults.get("default_speed")),
                           format_func=lambda s: t(f"train.speed.{s}"))
    seed = c[2].number_input(t("train.seed"), 0, 2**31 - 1, 0, key="train_seed")
    go = st.form_submit_button(t("train.start"), type="primary", icon=":material/play_arrow:")

job = training.job(ws, project)
if go:
    if job is not None and job.running:
        st.warning(t("train.already_running", user=job.user))
    else:
        job = training.start(ws, project, model=model, preset=preset, folds=int(folds), seed=int(seed),
                             user=common.user(), model_preset=speed)
        st.session_state["train_started"] = True


def _headline(result):
    keys = [k for k in ("accuracy", "balanced_accuracy", "macro_f1", "mae", "qwk") if k in result]
    tiles = [(t(f"metric.{k}"), f"{result[k]:.3f}") for k in keys]
    tiles += [(t("train.items"), result.get("n_items", 0)), (t("train.seconds"), f"{result.get('seconds', 0):.1f}")]
    per_row = 4  # an ordinal run has seven numbers: in one row their names were cut off
    for start in range(0, len(tiles), per_row):
        for col, (name, value) in zip(st.columns(per_row), tiles[start:start + per_row], strict=False):
            col.metric(name, value)


@st.fragment(run_every=1 if job is not None and job.running else None)
def _status():
    j = training.job(ws, project)
    if j is None:
        st.caption(t("train.idle"))
        return
    if j.running:
        text = t("train.running", model=common.model_name(j.params["model"]), user=common.who(j.user),
                 seconds=int(j.seconds))
        if j.message:  # what it is doing now, after the catalog sentence
            text = common.SafeMarkdown(f"{text} · {common.md(common.reason_text(j.message))}")
        st.progress(j.fraction, text=text)
        st.caption(t("train.keep_working"))
        if j.user == common.user() and j.result is None and st.button(
                t("train.cancel"), key="train_cancel", icon=":material/stop:", disabled=j.cancel_requested.is_set()):
            training.cancel(ws, project, common.user())
        return
    if j.cancelled:
        st.info(t("train.cancelled"))
        return
    if j.error:
        st.error(t("train.failed", error=common.reason_text(j.error)))
        return
    result = j.result or {}
    st.success(t("train.done", run=result.get("run_id", "?"), seconds=j.seconds))
    _headline(result)
    for w in result.get("warnings") or []:  # the library's notes and review queues that failed
        st.warning(common.md(common.reason_text(w)))
    if st.button(t("train.open_run"), key="train_open_run", icon=":material/compare_arrows:"):
        st.session_state["runs_b"] = result.get("run_id")
        st.switch_page(str(common.PAGES_DIR / "runs.py"))
    if st.session_state.get("train_started"):
        st.session_state["train_started"] = False
        st.rerun()  # a full rerun, so that the fragment stops polling


_status()
