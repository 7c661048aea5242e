"""Review decisions from the Review page: accept the suggestion, keep the given label, another label, or
unusable. Each is an annotation with source ``review`` (it wins over annotators' votes).

Like the Label page, the one-issue-at-a-time queue keeps its position in ``st.session_state`` and the
buttons have fixed keys, so fast key presses never act on the wrong item.
"""

from __future__ import annotations

import streamlit as st

from defectlab.errors import ConflictError, DefectlabError
from defectlab.store import UNUSABLE
from defectlab.ui import common
from defectlab.ui.common import t

__all__ = [
    "ACTIONS",
    "decide",
    "decide_many",
    "issue_action",
    "issue_back",
    "issue_skip",
    "reason_text",
]

ACTIONS = ("accept", "keep", "other", "unusable")


def decide(item_id, label, action, run_id=None, expected_version=None, comment=None):
    """Write one review decision (:func:`defectlab.quality.review.review_item`); True when written
    (errors become a flash message)."""
    from defectlab.quality.review import review_item

    try:
        review_item(common.workspace(), int(item_id), action, label=label, user=common.user(),
                    run_id=run_id, comment=comment, expected_version=expected_version)
    except ConflictError as exc:
        common.flash("warning", t("review.stale_refused", error=common.error_text(exc)))
        return False
    except DefectlabError as exc:
        common.flash("error", common.error_text(exc))
        return False
    return True


def decide_many(item_ids, label, action, comment=None, run_id=None, expected_versions=None):
    """The same review decision for several items (the confusion-cell grid, a duplicate group), in
    one transaction (:func:`defectlab.quality.review.review_items`). With ``expected_versions`` (the
    items' versions when the queue row was shown) a change by somebody else since is refused."""
    from defectlab.quality.review import review_items

    if not item_ids:
        common.flash("info", t("label.grid.none_selected"))
        return
    if label is None:
        common.flash("info", t("review.choose_first"))
        return
    try:
        review_items(common.workspace(), item_ids, action, label=None if action == "keep" else label,
                     user=common.user(), run_id=run_id, comment=comment,
                     expected_versions=expected_versions)
    except ConflictError as exc:
        common.flash("warning", t("review.stale_refused", error=common.error_text(exc)))
        return
    except DefectlabError as exc:
        common.flash("error", common.error_text(exc))
        return
    for i in item_ids:
        st.session_state[f"rsel_{i}"] = False
    shown = common.label_text(label) if action != "keep" else t("review.action.keep")
    common.flash("success", t("review.decided_many", n=len(item_ids), label=shown))


def issue_action(action, other=None):
    """on_click of the issue queue: decide on the issue at the current position and advance."""
    ss = st.session_state
    issues = ss.get("rev_issues") or []
    pos = ss.get("rev_pos", 0)
    if not 0 <= pos < len(issues):
        return
    issue = issues[pos]
    if action == "accept":
        label = issue["suggested"]
    elif action == "keep":
        label = issue["given"]
    elif action == "unusable":
        label = UNUSABLE
    else:
        label = other
    # the version the queue row carries: a change by somebody else since the queue was read is refused
    if decide(int(issue["item_id"]), label, action, run_id=ss.get("rev_run"),
              expected_version=issue.get("version")):
        ss.setdefault("rev_done", {})[int(issue["item_id"])] = (action, label)
        ss["rev_pos"] = pos + 1


def issue_back():
    ss = st.session_state
    ss["rev_pos"] = max(ss.get("rev_pos", 0) - 1, 0)


def issue_skip():
    ss = st.session_state
    ss["rev_pos"] = ss.get("rev_pos", 0) + 1


# -- reasons in the session's language ----------------------------------------------------------------
def reason_text(parts):
    """A review reason in the session's language, from the library's ``reason_parts``.

    Each part is ``{"key": catalog key, "args": {...}}`` (:func:`defectlab.quality.find_label_issues`).
    The arg ``cls`` is a class name and ``classes`` a list of them: shown as the session's class
    names; ``feature`` is a feature column's id, shown as code (the same in every language); an arg
    that holds a list of parts is rendered part by part. Parts are joined the way the language joins
    clauses ("; " / "；").
    """
    return _joined("quality.reason.join", [_part_text(p) for p in parts])


def _part_text(part):
    args = {}
    for name, value in (part.get("args") or {}).items():
        if name == "cls":
            value = common.label_text(value)
        elif name == "classes":
            value = " / ".join(common.label_text(v) for v in value)
        elif name == "feature" and isinstance(value, str) and "`" not in value:
            value = common.SafeMarkdown(f"`{value}`")  # a feature column's id (intensity.h02): shown as code
        elif isinstance(value, list):
            value = _joined("quality.reason.list_join", [_part_text(v) for v in value])
        args[name] = value
    return t(part["key"], **args)


def _joined(key, texts):
    out = texts[0] if texts else ""
    for text in texts[1:]:
        out = t(key, first=out, rest=text)
    return out
