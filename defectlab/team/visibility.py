"""What a person may see of an item's labels: the one filter every page and command goes through.

Blind overlap only measures something if annotators never see other people's labels of an item they
label. So whatever shows an item's label to somebody (the Label page and its grid, the Label book's
example pickers, the Cut crops captions...) asks :func:`item_views` (or its shorthands
:func:`visible_labels` / :func:`visible_label`) instead of reading the derived label itself.

Rules
-----
- Everybody in single-user mode, and leads, reviewers and admins in team mode (``review`` or
  ``view_team``), see the current (derived) label, its history and the model's predictions.
- Anybody else (annotators, supervisors) sees, for an item in any assignment or gold, only their own
  latest label (None before they labeled it); for other items, the current label.
- Model suggestions: annotators in team mode get none (:func:`may_see_model`): a hint would steer them
  and inflate the measured agreement and gold accuracy.

The rule lives in :mod:`defectlab.store.visibility` (below the store's item browser, which applies it);
this module is its public name in the team package.
"""

from ..store.visibility import (  # noqa: F401 (re-exported; _blind_items and _privileged for assignments)
    ItemView,
    _blind_items,
    _privileged,
    _team_mode,
    item_views,
    may_see_model,
    visible_label,
    visible_labels,
)

__all__ = ["ItemView", "item_views", "may_see_model", "visible_label", "visible_labels"]
