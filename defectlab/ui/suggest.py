"""The model's suggestion for the item being labeled (from the project's newest finished run).

Suggestions are computed a chunk of the queue at a time (features of the next items, one
``predict_proba``), so the page does not pay a model call per key press; nothing is written to the
store (these are hints, not recorded predictions).
"""

import concurrent.futures
import time

import numpy as np
import streamlit as st

from defectlab.errors import DefectlabError
from defectlab.ui import common, runinfo

__all__ = ["CHUNK", "for_item", "latest_run"]

CHUNK = 32
_TTL = 10.0  # seconds: a run finished meanwhile shows up within this time


def latest_run(ws, project):
    """The newest finished run's id, or None (looked up at most every few seconds per session)."""
    key = (str(ws.root), project.id)
    cached = st.session_state.get("_latest_run")
    now = time.monotonic()
    if cached and cached[0] == key and now - cached[2] < _TTL:
        return cached[1]
    run_id = runinfo.latest_run_id(ws, project)
    st.session_state["_latest_run"] = (key, run_id, now)
    return run_id


@st.cache_resource(show_spinner=False, max_entries=4)
def _model(root, run_id):
    """The verified model of a run, loaded once per server (read-only use: predict_proba)."""
    from defectlab import learn

    model, _, _ = learn.load_run_model(common._open(root), run_id)
    return model


def _predict(ws, run_id, item_ids):
    from defectlab.learn.runs import run_features

    root = str(ws.root.resolve())
    model = _model(root, run_id)
    X = run_features(ws, run_id, item_ids)
    probs = model.predict_proba(X)
    classes = list(model.classes_)
    best = np.argmax(probs, axis=1)
    return {int(i): {"label": str(classes[b]), "confidence": float(p[b])}
            for i, b, p in zip(item_ids, best, probs, strict=True)}


_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="defectlab-suggest")


def for_item(ws, project, run_id, item, upcoming=()):
    """``{"label", "confidence"}`` suggested by ``run_id`` for ``item``, or None without a usable run.

    ``upcoming``: the next item ids of the queue. The current item and the next ones are predicted
    together; when few predicted items are left ahead, the next chunk is computed in a background
    thread, so a labeler pressing keys rarely waits for the model.
    """
    if run_id is None:
        return None
    ss = st.session_state
    cache = ss.get("_suggest")
    if not cache or cache.get("run") != run_id:
        cache = ss["_suggest"] = {"run": run_id, "items": {}, "broken": False, "pending": None}
    if cache["broken"]:
        return None
    pending = cache.get("pending")
    if pending is not None and pending.done():
        cache["pending"] = None
        try:
            cache["items"].update(pending.result())
        except (DefectlabError, ValueError):
            pass  # the blocking path below reports the problem if it persists
    item_id = int(item["id"])
    ahead = [int(i) for i in upcoming]
    if item_id not in cache["items"]:
        ids = [item_id, *[i for i in ahead if i not in cache["items"]][:CHUNK - 1]]
        try:
            cache["items"].update(_predict(ws, run_id, ids))
        except (DefectlabError, ValueError) as exc:
            cache["broken"] = True  # a run that cannot be used (retrain needed) gives no hints
            common.flash("warning", common.error_text(exc))
            return None
    missing = [i for i in ahead if i not in cache["items"]]
    if missing and cache.get("pending") is None and len(ahead) - len(missing) < CHUNK // 4:
        cache["pending"] = _POOL.submit(_predict, ws, run_id, missing[:CHUNK])
    return cache["items"].get(item_id)
