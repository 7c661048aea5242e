"""Cached access to runs: a finished run never changes, so its record is cached by run id."""

import streamlit as st

from defectlab.ui import common

__all__ = ["get_run", "latest_run_id", "list_runs", "require_runs"]


def list_runs(ws, project):
    """The project's finished runs, newest first (dicts with run_id, created_at, model, metrics...)."""
    from defectlab import learn

    runs = [dict(r) for r in learn.list_runs(ws, project)]
    runs = [r for r in runs if r.get("status", "done") == "done"]
    for r in runs:
        r.setdefault("run_id", r.get("id"))
    return sorted(runs, key=lambda r: str(r.get("created_at", "")), reverse=True)


def require_runs(ws, project):
    """The project's runs, or stop the page with a pointer to Train when there is none yet."""
    from defectlab.ui.common import t

    runs = list_runs(ws, project)
    if not runs:
        st.info(t("review.no_run"))
        common.page_link("train", "nav.train", ":material/model_training:")
        st.stop()
    return runs


@st.cache_data(show_spinner=False, max_entries=32)
def _get_run(root, run_id):
    from defectlab import learn

    return learn.get_run(common._open(root), run_id)


def get_run(ws, run_id):
    """The run record (``run_id, metrics, items`` ...) as :func:`defectlab.learn.get_run` returns it."""
    return _get_run(str(ws.root.resolve()), run_id)


def latest_run_id(ws, project):
    runs = list_runs(ws, project)
    return runs[0]["run_id"] if runs else None
