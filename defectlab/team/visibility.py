"""What a person may see of an item's labels: the one filter every page and command goes through.

The rule (blind overlap: annotators see only their own label of an item in any assignment or gold; no
model hints for annotators in team mode) lives in :mod:`defectlab.store.visibility`, below the store's
item browser, which applies it; this module is its public name in the team package.
"""

from ..store.visibility import (  # noqa: F401 (re-exported; _blind_items and _privileged for assignments)
    ItemView,
    _blind_items,
    _privileged,
    _team_mode,
    hidden_sources,
    item_views,
    may_see_model,
    visible_label,
    visible_labels,
)

__all__ = ["ItemView", "hidden_sources", "item_views", "may_see_model", "visible_label", "visible_labels"]
