"""Server-side state of the Label page: the queue, the current position and the label callbacks.

Fast typists press keys faster than the page redraws, so every action works on the queue position kept
in ``st.session_state`` (never on an item id bound when a button was drawn): the button keys are fixed
and each ``on_click`` labels the item at the current position and advances it.
"""

from __future__ import annotations

import random
import time

import streamlit as st

from defectlab.errors import ConflictError, DefectlabError
from defectlab.store import UNUSABLE, annotate, annotate_many, current_labels, item_ids, items_frame, retract, undo_last
from defectlab.ui import common
from defectlab.ui.common import t

__all__ = [
    "MAX_SECONDS",
    "ORDERS",
    "assign",
    "back",
    "build_queue",
    "current_item_id",
    "grid_assign",
    "grid_undo",
    "model_hints_allowed",
    "queue_state",
    "reset_queue",
    "skip",
    "undo",
]

ORDERS = ("unlabeled", "next", "random", "by_source", "all")
TEAM_ORDER = "assigned"  # team mode: the person's own queue (qualification, rejected labels, assignments)
MAX_SECONDS = 3600.0  # a person who left the item open over lunch did not spend an hour on it


def model_hints_allowed(ws, user, team=None):
    """Whether ``user`` may see the model's suggestion (and the queue order built from it).

    In team mode an annotator labels blind: a hint from the model would steer them toward it and
    inflate the measured agreement and gold accuracy, so annotators get none. The rule is the
    library's (:func:`defectlab.team.may_see_model`).
    """
    if team is False:
        return True
    from defectlab.team import may_see_model

    return may_see_model(ws, user)


def _ctx(project, order):
    return (str(common.workspace().root), project.id, order, common.user(), common.team_mode())


def build_queue(ws, project, order, user, team=False, seed=0):
    """The item ids to label, in order.

    Parameters
    ----------
    order : {"unlabeled", "next", "random", "by_source", "all"}
        ``unlabeled``: unlabeled items in import order; ``next``: the library's "what to label next"
        ranking (falls back to ``unlabeled`` before the first run); ``random``: unlabeled, shuffled;
        ``by_source``: unlabeled, grouped by the plate / source image they come from; ``all``: every item.
    """
    if order == TEAM_ORDER:
        from defectlab.team import next_items

        entries = next_items(ws, project, user, n=None)
        st.session_state["lbl_notes"] = {int(e["item_id"]): e for e in entries}
        return [int(e["item_id"]) for e in entries]
    if order == "all":
        return item_ids(ws, project.id)
    if order == "by_source":
        frame = items_frame(ws, project.id)
        unlabeled = frame[frame["label"].isna()]
        keyed = unlabeled.assign(
            _group=[p if p == p and p is not None else -1 for p in unlabeled["parent_id"]],
            _src=unlabeled["source"].astype(str),
        ).sort_values(["_group", "_src", "box_index", "id"], na_position="first")
        return [int(i) for i in keyed["id"]]
    # item ids + derived labels: much cheaper than a full items_frame on a big project
    states = current_labels(ws, project.id)
    unlabeled = [i for i in item_ids(ws, project.id) if i not in states or states[i].label is None]
    if order == "next":
        if not model_hints_allowed(ws, user, team):
            return unlabeled  # the model's ranking is a hint too
        return _rank_next(ws, project, unlabeled, seed) or unlabeled
    if order == "random":
        random.Random(seed).shuffle(unlabeled)  # noqa: S311 (a seeded queue order, not a secret)
    return unlabeled


def _rank_next(ws, project, unlabeled, seed, pool=2000, batch=50):
    """Unlabeled items in "what to label next" order: the newest run's model predicts the first
    ``pool`` unlabeled items; a diverse batch of the most uncertain comes first
    (:func:`defectlab.quality.rank_for_labeling`), then the rest by uncertainty, then everything else.
    None before the first run."""
    from defectlab.ui import suggest

    run_id = suggest.latest_run(ws, project)
    if run_id is None or not unlabeled:
        return None
    from defectlab import learn, quality  # the learning stack: only once a run exists
    from defectlab.learn.runs import run_features

    head = unlabeled[:pool]
    try:
        model, _, _ = learn.load_run_model(ws, run_id)
        X = run_features(ws, run_id, head)
        probs = model.predict_proba(X)
        first = quality.rank_for_labeling(probs, X, batch_size=min(batch, len(head)),
                                          strategy="margin_diverse", random_state=seed)
        rest = quality.rank_for_labeling(probs, batch_size=len(head), strategy="margin")
    except (DefectlabError, ValueError) as exc:
        common.flash("warning", common.error_text(exc))
        return None
    order = list(dict.fromkeys([int(k) for k in first] + [int(k) for k in rest]))
    return [head[k] for k in order] + unlabeled[pool:]


def queue_state(project, order):
    """Build the queue once per (workspace, project, order, user); return ``(queue, position)``."""
    ss = st.session_state
    ctx = _ctx(project, order)
    if ss.get("lbl_ctx") != ctx:
        ss["lbl_queue"] = build_queue(common.workspace(), project, order, common.user(),
                                      team=common.team_mode(), seed=int(time.time()))
        ss["lbl_pos"] = 0
        ss["lbl_ctx"] = ctx
        ss["lbl_shown"] = None
        ss["lbl_project"] = project.id
    return ss["lbl_queue"], ss["lbl_pos"]


def reset_queue():
    st.session_state["lbl_ctx"] = None


def current_item_id():
    ss = st.session_state
    queue, pos = ss.get("lbl_queue") or [], ss.get("lbl_pos", 0)
    return queue[pos] if 0 <= pos < len(queue) else None


def mark_shown(item_id, version):
    """Remember when (and at which version) the item was first shown; kept across reruns."""
    shown = st.session_state.get("lbl_shown")
    if not shown or shown[0] != item_id:
        st.session_state["lbl_shown"] = (item_id, time.monotonic(), version)


def _elapsed(item_id):
    shown = st.session_state.get("lbl_shown")
    if shown and shown[0] == item_id:
        return min(max(time.monotonic() - shown[1], 0.0), MAX_SECONDS), shown[2]
    return None, None


def _advance():
    ss = st.session_state
    ss["lbl_pos"] = min(ss.get("lbl_pos", 0) + 1, len(ss.get("lbl_queue") or []))
    nxt = current_item_id()
    # The next item counts from now even if the page has not been drawn yet (fast typing).
    ss["lbl_shown"] = (nxt, time.monotonic(), None) if nxt is not None else None


def assign(label):
    """on_click of a class key: label the item at the current position, then advance."""
    item_id = current_item_id()
    if item_id is None:
        return
    seconds, version = _elapsed(item_id)
    try:
        annotate(common.workspace(), item_id, label, user=common.user(), source="human",
                 seconds=seconds, expected_version=version)
    except ConflictError as exc:
        common.flash("warning", common.error_text(exc))
        st.session_state["lbl_shown"] = None
        return
    except DefectlabError as exc:
        common.flash("error", common.error_text(exc))
        return
    st.session_state["lbl_last"] = (item_id, label)
    _advance()


def skip():
    _advance()


def back():
    ss = st.session_state
    ss["lbl_pos"] = max(ss.get("lbl_pos", 0) - 1, 0)
    ss["lbl_shown"] = None


def undo():
    """on_click of the undo key: retract my newest label in this project and go back to that item."""
    ss = st.session_state
    project_id = ss.get("lbl_project")
    try:
        item_id = undo_last(common.workspace(), common.user(), project_id)
    except DefectlabError as exc:
        common.flash("error", common.error_text(exc))
        return
    if item_id is None:
        common.flash("info", t("label.nothing_to_undo"))
        return
    queue = ss.get("lbl_queue") or []
    if item_id in queue:
        ss["lbl_pos"] = queue.index(item_id)
    else:
        queue.insert(ss.get("lbl_pos", 0), item_id)
    ss["lbl_shown"] = None
    ss["lbl_last"] = None
    common.flash("info", t("label.undone", id=item_id))


# -- grid --------------------------------------------------------------------------------------------
def grid_selected(ids):
    return [i for i in ids if st.session_state.get(f"gsel_{i}")]


def grid_set(ids, value):
    for i in ids:
        st.session_state[f"gsel_{i}"] = value


def grid_fill_range(ids):
    """Emulates shift-click: tick every tile between the first and the last ticked one."""
    picked = [k for k, i in enumerate(ids) if st.session_state.get(f"gsel_{i}")]
    if len(picked) >= 2:
        grid_set(ids[picked[0]:picked[-1] + 1], True)


def grid_assign(label, ids_key="grid_ids"):
    """Label every ticked tile of the grid page with one class (one transaction)."""
    ss = st.session_state
    ids = grid_selected(ss.get(ids_key) or [])
    if not ids:
        common.flash("info", t("label.grid.none_selected"))
        return
    started = ss.get("grid_shown_at") or time.monotonic()
    seconds = min(max(time.monotonic() - started, 0.0), MAX_SECONDS)
    try:
        ann = annotate_many(common.workspace(), ids, label, user=common.user(), source="human",
                            seconds=seconds)
    except DefectlabError as exc:
        common.flash("error", common.error_text(exc))
        return
    ss["grid_last"] = ann
    grid_set(ids, False)
    ss["grid_shown_at"] = time.monotonic()
    shown = label if label != UNUSABLE else t("common.unusable")
    common.flash("success", t("label.grid.done", n=len(ids), label=shown))
    if (ss.get("lbl_ctx") or (None,) * 3)[2] != "all":
        # labeled items leave the unlabeled queue and the next ones slide in (no rebuild: cheap)
        done = set(ids)
        ss["lbl_queue"] = [i for i in ss.get("lbl_queue") or [] if i not in done]


def grid_undo():
    """Undo the last grid assignment as a whole."""
    ss = st.session_state
    ann = ss.get("grid_last") or []
    if not ann:
        common.flash("info", t("label.nothing_to_undo"))
        return
    try:
        for a in ann:
            retract(common.workspace(), a, common.user())
    except DefectlabError as exc:
        common.flash("error", common.error_text(exc))
    ss["grid_last"] = []
    reset_queue()
    common.flash("info", t("label.grid.undone", n=len(ann)))
