"""The model's suggestion for the item being labeled (from the project's newest finished run)."""

import time

import streamlit as st

from defectlab.errors import DefectlabError
from defectlab.store import project_summary
from defectlab.ui import common

__all__ = ["latest_run", "for_item"]


_TTL = 10.0  # seconds: a run finished meanwhile shows up within this time


def latest_run(ws, project):
    """The newest finished run's id, or None (looked up at most every few seconds per session)."""
    key = (str(ws.root), project.id)
    cached = st.session_state.get("_latest_run")
    now = time.monotonic()
    if cached and cached[0] == key and now - cached[2] < _TTL:
        return cached[1]
    learn = common.optional("defectlab.learn")
    if learn is not None and hasattr(learn, "list_runs"):
        from defectlab.ui.runinfo import latest_run_id

        run_id = latest_run_id(ws, project)
    else:
        last = project_summary(ws, project)["last_run"]
        run_id = None if last is None else last["run_id"]
    st.session_state["_latest_run"] = (key, run_id, now)
    return run_id


@st.cache_data(show_spinner=False, max_entries=20_000)
def _predict_one(root, run_id, item_id):
    learn = common.optional("defectlab.learn")
    if learn is None or not hasattr(learn, "predict_items"):
        return None
    ws = common._open(root)
    try:
        rows = learn.predict_items(ws, run_id, [int(item_id)])
    except DefectlabError:
        return None
    if not rows:
        return None
    r = rows[0]
    return {"label": r["label"], "confidence": float(r["confidence"])}


def for_item(ws, project, run_id, item):
    """``{"label", "confidence"}`` suggested by ``run_id`` for ``item``, or None without a run."""
    if run_id is None:
        return None
    return _predict_one(str(ws.root.resolve()), run_id, int(item["id"]))
