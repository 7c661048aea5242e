"""State and actions of the Predict page: the batch's predictions, the reject band, and the supervisor's
confirm / correct keys (fixed button keys, position in ``st.session_state``, as on the Label page).

A confirmation is an annotation with source ``model`` (the model's label accepted as is); a correction
is an annotation with source ``review`` when the person may review, else ``model`` with a comment
saying which label was corrected (a line supervisor has ``correct_predictions`` but not ``review``).
Both flow into the next training run.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from defectlab.errors import DefectlabError
from defectlab.store import annotate
from defectlab.ui import common
from defectlab.ui.common import t

__all__ = ["back", "confirm", "correct", "coverage_from_run", "records", "skip", "uncertain"]


def records(value):
    """Prediction rows (dicts) from whatever the library returned."""
    if value is None:
        return []
    if isinstance(value, dict):
        for key in ("predictions", "items", "rows"):
            if key in value:
                return records(value[key])
        return [value]
    if hasattr(value, "to_dict") and hasattr(value, "columns"):
        return value.to_dict("records")
    return [v.to_dict() if hasattr(v, "to_dict") else dict(v) for v in value]


def coverage_from_run(run, thresholds=None):
    """Expected coverage and accuracy of the accepted predictions at each threshold, from the run's
    out-of-fold predictions (``confidence`` and whether ``pred_label == label``)."""
    items = run.get("items") or []
    conf = np.array([float(e.get("confidence") or 0.0) for e in items])
    right = np.array([e.get("pred_label") == e.get("label") for e in items], dtype=bool)
    if thresholds is None:
        thresholds = np.round(np.linspace(0.0, 1.0, 101), 2)
    cov, acc = [], []
    for th in thresholds:
        keep = conf >= th
        cov.append(float(keep.mean()) if conf.size else 0.0)
        acc.append(float(right[keep].mean()) if keep.any() else None)
    return list(map(float, thresholds)), cov, acc


def uncertain(rows, threshold):
    """Rows below the threshold, least confident first."""
    return sorted((r for r in rows if float(r["confidence"]) < threshold), key=lambda r: float(r["confidence"]))


def _current():
    ss = st.session_state
    queue = ss.get("pred_queue") or []
    pos = ss.get("pred_pos", 0)
    return queue[pos] if 0 <= pos < len(queue) else None


def _write(row, label, corrected):
    ws = common.workspace()
    may = common.permissions(ws)
    # a confirmation accepts the model's label; a correction is a person's decision
    source = ("review" if may("review") else "human") if corrected else "model"
    comment = f"corrected from {row['label']}" if corrected else "confirmed"
    annotate(ws, int(row["item_id"]), label, user=common.user(), source=source, comment=comment,
             run_id=st.session_state.get("pred_run"))


def _decide(label, corrected):
    ss = st.session_state
    row = _current()
    if row is None:
        return
    try:
        _write(row, label, corrected)
    except DefectlabError as exc:
        common.flash("error", common.error_text(exc))
        return
    ss["pred_pos"] = ss.get("pred_pos", 0) + 1


def confirm():
    """on_click of Enter / A: the model's label is right."""
    row = _current()
    if row is not None:
        _decide(row["label"], False)


def correct(label):
    """on_click of a class key: the right label is ``label``."""
    row = _current()
    if row is not None:
        _decide(label, label != row["label"])


def skip():
    st.session_state["pred_pos"] = st.session_state.get("pred_pos", 0) + 1


def back():
    st.session_state["pred_pos"] = max(st.session_state.get("pred_pos", 0) - 1, 0)


def confirm_accepted(rows):
    """Confirm the accepted predictions nobody has decided yet (annotations with source ``model``)."""
    from defectlab import learn

    ss = st.session_state
    try:
        n = learn.accept_predictions(common.workspace(), common.active_project(), ss.get("pred_batch"),
                                     user=common.user(), item_ids=[int(r["item_id"]) for r in rows])
    except DefectlabError as exc:
        common.flash("error", common.error_text(exc))
        return
    common.flash("success", t("predict.confirmed_all", n=n))
