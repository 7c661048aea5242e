"""Agreement between annotators: Cohen's kappa, Fleiss' kappa, Krippendorff's alpha, consensus and the
disagreement queue.

Pure functions (data in, number out)
------------------------------------
- :func:`cohen_kappa` — two raters; quadratic weights on an ordinal (grade) scale, in the project's class
  order (scikit-learn's ``cohen_kappa_score`` with ``labels=classes``).
- :func:`fleiss_kappa` — any number of raters per item, from an ``(n_items, n_categories)`` count table;
  overall and per category (Fleiss 1971).
- :func:`krippendorff_alpha` — a ``(n_raters, n_items)`` table with missing values; nominal, ordinal or
  interval distance (Krippendorff 2011).

All return ``nan`` when the coefficient is undefined (e.g. everybody always used the same single class).
Scale: 1 perfect agreement, 0 what chance alone gives, below 0 worse than chance. Rough reading
(Landis & Koch): < 0.4 poor, 0.4-0.6 moderate, 0.6-0.8 substantial, > 0.8 almost perfect.

Workspace functions (need ``view_team``)
----------------------------------------
They use each annotator's latest own (``human``) label per item, undone labels excluded; review and
model decisions are not votes. ``__unusable__`` is a category of its own for nominal measures and is
left out of ordinal ones (it is not a grade).

- :func:`annotator_votes` — the votes as a DataFrame;
- :func:`pairwise_agreement` — Cohen's kappa and percent agreement per pair of annotators;
- :func:`agreement_summary` — Fleiss (overall + per class) and Krippendorff's alpha over the items with
  at least two votes (ordinal alpha for ordinal projects), and the pairs;
- :func:`consensus` — the majority label of each overlapped item (the store's
  :func:`~defectlab.store.derive_label` rule: each person's latest label is a vote; a tie goes to the
  most recent vote);
- :func:`disagreement_queue` — the items people disagree on, worst first, for the lead to settle (with a
  ``review`` annotation, which then wins: :func:`defectlab.store.annotate` ``source="review"``).
"""

from __future__ import annotations

import math
import warnings
from collections import Counter, namedtuple
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InputError
from ..messages import msg
from ..store import UNUSABLE, current_labels, derive_label, require
from ._common import _annotation_rows, _latest_votes, _project

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    import pandas as pd

    from defectlab._typing import ArrayLike, ProjectRef
    from defectlab.store import Workspace

__all__ = [
    "FleissKappa",
    "agreement_summary",
    "annotator_votes",
    "cohen_kappa",
    "consensus",
    "disagreement_queue",
    "fleiss_kappa",
    "krippendorff_alpha",
    "pairwise_agreement",
]

FleissKappa = namedtuple("FleissKappa", ["kappa", "per_category", "observed", "expected"])
FleissKappa.__doc__ = """Fleiss' kappa.

Attributes
----------
kappa : float
    Overall kappa.
per_category : (n_categories,) ndarray of float64
    Kappa of each category against all others (nan for a category nobody used, or everybody always).
observed : float
    Mean agreement per item, P-bar.
expected : float
    Agreement expected by chance, P-bar-e.
"""

_LEVELS = ("nominal", "ordinal", "interval")


# -- pure functions ------------------------------------------------------------------------------
def cohen_kappa(labels_a: ArrayLike, labels_b: ArrayLike, classes: Sequence[str] | None = None,
                ordinal: bool = False) -> float:
    """Cohen's kappa between two raters who labeled the same items.

    Parameters
    ----------
    labels_a, labels_b : (n_items,) sequence
        The two raters' labels, item by item.
    classes : sequence, optional
        Every possible label, in order (the grade order when ``ordinal``). Required when ``ordinal``:
        the quadratic weights follow this order, not alphabetical order.
    ordinal : bool, default False
        Quadratic weights: being off by two grades costs four times being off by one.

    Returns
    -------
    float
        nan when undefined (fewer than one item, or a single label used throughout).

    Examples
    --------
    >>> cohen_kappa(["a", "a", "b", "b"], ["a", "b", "b", "b"])
    0.5
    """
    from sklearn.metrics import cohen_kappa_score

    a, b = list(labels_a), list(labels_b)
    if len(a) != len(b):
        raise InputError(msg("error.agreement.labels_labels_b_must",
                "labels_a and labels_b must have one label per item each; got {len_a} and {len_b}.",
                len_a=len(a), len_b=len(b)))
    if ordinal and classes is None:
        raise InputError(msg("error.agreement.ordinal_kappa_needs_classes",
                "An ordinal kappa needs classes=[...] in grade order (the weights follow it)."))
    if classes is not None:
        classes = list(classes)
        unknown = sorted({str(v) for v in a + b if v not in classes})
        if unknown:
            raise InputError(msg("error.agreement.labels_are_not_among",
                    "Labels {unknown_5} are not among classes {classes}.",
                    unknown_5=unknown[:5], classes=classes))
    if not a:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = cohen_kappa_score(a, b, labels=classes, weights="quadratic" if ordinal else None)
    return float(value)


def fleiss_kappa(counts: ArrayLike) -> Any:
    """Fleiss' kappa from a table of how many raters put each item in each category.

    Parameters
    ----------
    counts : (n_items, n_categories) array-like of int
        ``counts[i, j]``: raters who assigned item ``i`` to category ``j``. Every item needs at least two
        raters. With the same number of raters per item this is exactly Fleiss (1971); with different
        numbers, each item's agreement uses its own number of raters and the category shares are pooled.

    Returns
    -------
    FleissKappa

    Examples
    --------
    >>> round(fleiss_kappa([[2, 0], [0, 2], [1, 1]]).kappa, 4)
    0.3333
    """
    c = np.asarray(counts)
    if c.ndim != 2 or c.shape[0] < 1 or c.shape[1] < 2:
        raise InputError(msg("error.agreement.counts_must_table_shape",
                "counts must be a table of shape (n_items, n_categories >= 2); got shape {shape}.",
                shape=c.shape))
    if not np.issubdtype(c.dtype, np.number) or np.any(c < 0) or np.any(c != np.round(c)):
        raise InputError(msg("error.agreement.counts_must_hold_non",
                "counts must hold non-negative whole numbers (raters per item and category)."))
    c = c.astype(np.float64)
    n = c.sum(axis=1)
    if np.any(n < 2):
        raise InputError(msg("error.agreement.every_item_needs_least",
                "Every item needs at least two raters; items {np_flatnonzero_n_2_10_to} have fewer. "
                "Drop them first.",
                np_flatnonzero_n_2_10_to=np.flatnonzero(n < 2)[:10].tolist()))
    p = c.sum(axis=0) / n.sum()
    observed = float(np.mean((c * (c - 1)).sum(axis=1) / (n * (n - 1))))
    expected = float((p ** 2).sum())
    kappa = (observed - expected) / (1 - expected) if expected < 1 else float("nan")
    disagree = (c * (n[:, None] - c) / (n[:, None] - 1)).sum(axis=0)
    pq = p * (1 - p)
    with np.errstate(divide="ignore", invalid="ignore"):
        per = np.where(pq > 0, 1 - disagree / (n.sum() * pq), np.nan)
    return FleissKappa(float(kappa), per.astype(np.float64), observed, expected)


def krippendorff_alpha(reliability_data: ArrayLike, level: str = "nominal",
                       categories: Sequence[Any] | None = None) -> float:
    """Krippendorff's alpha for any number of raters, with missing values.

    Parameters
    ----------
    reliability_data : (n_raters, n_items) array-like
        ``reliability_data[r, i]``: the value rater ``r`` gave item ``i``; ``None`` or ``nan`` where the
        rater did not label the item.
    level : {"nominal", "ordinal", "interval"}
        The distance between values: nominal (same or not), ordinal (by rank, with the number of values in
        between), interval (squared numeric difference).
    categories : sequence, optional
        The possible values; for ``ordinal`` their order (required when the values are not numbers).
        Default: the sorted distinct values.

    Returns
    -------
    float
        nan when undefined (fewer than two values pairable, or a single value throughout).

    Examples
    --------
    >>> round(krippendorff_alpha([[1, 1, 2], [1, 2, 2]]), 3)
    0.444
    """
    if level not in _LEVELS:
        raise InputError(msg("error.agreement.unknown_level_expected_one",
                "Unknown level {level}; expected one of {join_levels}.",
                level=repr(level), join_levels=', '.join(_LEVELS)))
    rows = [list(r) for r in reliability_data]
    if not rows or len({len(r) for r in rows}) != 1:
        raise InputError(msg("error.agreement.reliability_data_must_table",
                "reliability_data must be a table (n_raters, n_items) with rows of equal length."))

    def missing(v):
        return v is None or (isinstance(v, float) and math.isnan(v))

    values = {v for r in rows for v in r if not missing(v)}
    try:
        values = sorted(values)
    except TypeError:  # mixed types: any stable order will do for a nominal alpha
        values = sorted(values, key=lambda v: (type(v).__name__, str(v)))
    if categories is None:
        if level == "ordinal" and any(isinstance(v, str) for v in values):
            raise InputError(msg("error.agreement.ordinal_alpha_text_labels",
                    "An ordinal alpha on text labels needs categories=[...] in order."))
        categories = values
    categories = list(categories)
    index = {v: j for j, v in enumerate(categories)}
    unknown = [v for v in values if v not in index]
    if unknown:
        raise InputError(msg("error.agreement.values_are_not_among",
                "Values {unknown_5} are not among categories {categories_10}.",
                unknown_5=unknown[:5], categories_10=categories[:10]))
    n_items, k = len(rows[0]), len(categories)
    counts = np.zeros((n_items, k))
    for r in rows:
        for i, v in enumerate(r):
            if not missing(v):
                counts[i, index[v]] += 1
    m = counts.sum(axis=1)
    counts = counts[m >= 2]
    if counts.shape[0] == 0 or k < 2:
        return float("nan")
    w = 1.0 / (counts.sum(axis=1) - 1)
    weighted = counts * w[:, None]
    coincidence = weighted.T @ counts - np.diag(weighted.sum(axis=0))
    n_c = coincidence.sum(axis=0)
    n = n_c.sum()
    if level == "nominal":
        delta = 1.0 - np.eye(k)
    elif level == "ordinal":
        cum = np.concatenate([[0.0], np.cumsum(n_c)])
        lo, hi = np.minimum.outer(np.arange(k), np.arange(k)), np.maximum.outer(np.arange(k), np.arange(k))
        delta = (cum[hi + 1] - cum[lo] - (n_c[lo] + n_c[hi]) / 2) ** 2
    else:
        try:
            x = np.asarray(categories, dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError(msg("error.agreement.interval_alpha_needs_numeric",
                    "An interval alpha needs numeric values.")) from None
        delta = np.subtract.outer(x, x) ** 2
    expected = (np.outer(n_c, n_c) * delta).sum()
    if expected == 0 or n <= 1:
        return float("nan")
    return float(1 - (n - 1) * (coincidence * delta).sum() / expected)


# -- workspace -----------------------------------------------------------------------------------
def _votes(ws, project, by):
    p = _project(ws, project)
    with ws.read() as conn:
        require(conn, by, "view_team")
        rows = _annotation_rows(conn, p.id)
    return p, rows, _latest_votes(rows)


def annotator_votes(ws: Workspace, project: ProjectRef, by: str = "local") -> pd.DataFrame:
    """Each annotator's latest own label per item: DataFrame ``item_id, user, label, annotation_id,
    created_at``, by item then user."""
    import pandas as pd

    _, _, votes = _votes(ws, project, by)
    data = [(i, u, r["label"], r["id"], r["created_at"]) for (i, u), r in sorted(votes.items())]
    return pd.DataFrame(data, columns=["item_id", "user", "label", "annotation_id", "created_at"])


def _by_item(votes):
    items = {}
    for (item, user), r in votes.items():
        items.setdefault(item, {})[user] = r["label"]
    return items


def _pairs(p, by_item, min_items):
    users = sorted({u for labels in by_item.values() for u in labels})
    classes = list(p.classes) if p.ordinal else [*list(p.classes), UNUSABLE]
    out = []
    for x in range(len(users)):
        for y in range(x + 1, len(users)):
            a, b = users[x], users[y]
            common = [(v[a], v[b]) for v in by_item.values() if a in v and b in v]
            if len(common) < min_items:
                continue
            agree = sum(la == lb for la, lb in common) / len(common)
            scored = [(la, lb) for la, lb in common if UNUSABLE not in (la, lb)] if p.ordinal else common
            kappa = cohen_kappa([s[0] for s in scored], [s[1] for s in scored], classes=classes,
                                ordinal=p.ordinal)
            out.append({"user_a": a, "user_b": b, "n_items": len(common), "percent_agreement": agree,
                        "kappa": kappa})
    return out


def pairwise_agreement(ws: Workspace, project: ProjectRef, min_items: int = 1, by: str = "local") -> pd.DataFrame:
    """Cohen's kappa per pair of annotators over the items both labeled.

    Returns
    -------
    pandas.DataFrame
        ``user_a, user_b, n_items, percent_agreement, kappa`` (quadratic-weighted kappa for ordinal
        projects); pairs with fewer than ``min_items`` common items are left out.
    """
    import pandas as pd

    p, _, votes = _votes(ws, project, by)
    return pd.DataFrame(_pairs(p, _by_item(votes), min_items),
                        columns=["user_a", "user_b", "n_items", "percent_agreement", "kappa"])


def agreement_summary(ws: Workspace, project: ProjectRef, by: str = "local") -> dict[str, Any]:
    """Team-level agreement over the items with at least two annotators' votes.

    Returns
    -------
    dict
        ``n_items`` (items with >= 2 votes), ``n_annotators``, ``unanimous`` (share of those items where
        everybody agrees, nan when none), ``fleiss_kappa``, ``fleiss_per_class`` (``{label: kappa}``,
        ``__unusable__`` included when used), ``alpha`` and ``alpha_level`` (``ordinal`` for ordinal
        projects, else ``nominal``), ``pairs`` (list of dicts as in :func:`pairwise_agreement`).
    """
    p, _, votes = _votes(ws, project, by)
    by_item = {i: v for i, v in _by_item(votes).items() if len(v) >= 2}
    categories = [*list(p.classes), UNUSABLE]
    users = sorted({u for v in by_item.values() for u in v})
    out = {"n_items": len(by_item), "n_annotators": len(users), "unanimous": float("nan"),
           "fleiss_kappa": float("nan"), "fleiss_per_class": {}, "alpha": float("nan"),
           "alpha_level": "ordinal" if p.ordinal else "nominal", "pairs": _pairs(p, by_item, 1)}
    if not by_item:
        return out
    out["unanimous"] = sum(len(set(v.values())) == 1 for v in by_item.values()) / len(by_item)
    col = {c: j for j, c in enumerate(categories)}
    counts = np.zeros((len(by_item), len(categories)), dtype=np.int64)
    for row, labels in enumerate(by_item.values()):
        for label in labels.values():
            counts[row, col[label]] += 1
    used = counts.sum(axis=0) > 0
    if used.sum() < 2:  # a single category: keep two columns so kappa is a (nan) number
        used[:2] = True
    fk = fleiss_kappa(counts[:, used])
    out["fleiss_kappa"] = fk.kappa
    out["fleiss_per_class"] = {c: float(k) for c, k in zip(np.asarray(categories)[used], fk.per_category, strict=True)
                               if counts[:, col[c]].sum() > 0}
    user_index = {u: r for r, u in enumerate(users)}
    table = [[None] * len(by_item) for _ in users]
    for i, labels in enumerate(by_item.values()):
        for u, label in labels.items():
            if not (p.ordinal and label == UNUSABLE):
                table[user_index[u]][i] = label
    out["alpha"] = krippendorff_alpha(table, level=out["alpha_level"],
                                      categories=list(p.classes) if p.ordinal else categories)
    return out


def consensus(ws: Workspace, project: ProjectRef, min_votes: int = 2, by: str = "local") -> pd.DataFrame:
    """The majority label of each item with at least ``min_votes`` annotators' votes.

    Returns
    -------
    pandas.DataFrame
        ``item_id, label`` (majority; ties to the most recent vote), ``n_votes, agreed, votes``
        (``{user: label}``), ``current`` (the item's current label, where a review decision wins).
    """
    import pandas as pd

    p, rows, votes = _votes(ws, project, by)
    by_item = {i: v for i, v in _by_item(votes).items() if len(v) >= min_votes}
    human: dict[Any, Any] = {}
    for r in rows:
        if r["source"] == "human" and r["item_id"] in by_item:
            human.setdefault(r["item_id"], []).append(r)
    states = current_labels(ws, p.id, item_ids=list(by_item)) if by_item else {}
    data = []
    for item in sorted(by_item):
        s = derive_label(human[item])
        data.append((item, s.label, s.n_votes, s.agreed, by_item[item],
                     states[item].label if item in states else None))
    return pd.DataFrame(data, columns=["item_id", "label", "n_votes", "agreed", "votes", "current"])


def disagreement_queue(ws: Workspace, project: ProjectRef, by: str = "local", include_resolved: bool = False,
                       min_votes: int = 2) -> list[dict[str, Any]]:
    """Items annotators disagree on, worst first.

    Parameters
    ----------
    include_resolved : bool, default False
        Also list items whose current label is a review decision (already settled by a lead/reviewer).
    min_votes : int, default 2

    Returns
    -------
    list of dict
        ``item_id``, ``labels`` (``{user: label}``), ``n_votes``, ``n_distinct`` (distinct labels),
        ``spread`` (ordinal projects: the distance in grades between the lowest and highest grade given;
        nominal: ``n_distinct - 1``), ``majority`` (None on a tie) and ``majority_share`` (votes for the
        most frequent label / n_votes), ``current`` (current label)
        and ``resolved`` (bool). Sorted by spread (largest first), then majority share (smallest first),
        then more votes first, then item id.
    """
    p, _, votes = _votes(ws, project, by)
    by_item = {i: v for i, v in _by_item(votes).items() if len(v) >= min_votes and len(set(v.values())) > 1}
    states = current_labels(ws, p.id, item_ids=list(by_item)) if by_item else {}
    rank = p.class_index
    out = []
    for item, labels in by_item.items():
        counts = Counter(labels.values())
        majority, top = counts.most_common(1)[0]
        if p.ordinal:
            grades = [rank[v] for v in labels.values() if v in rank]
            spread = max(grades) - min(grades) if grades else 0
        else:
            spread = len(counts) - 1
        state = states.get(item)
        resolved = state is not None and state.source == "review"
        if resolved and not include_resolved:
            continue
        out.append({"item_id": item, "labels": dict(sorted(labels.items())), "n_votes": len(labels),
                    "n_distinct": len(counts), "spread": spread,
                    "majority": majority if list(counts.values()).count(top) == 1 else None,
                    "majority_share": top / len(labels),
                    "current": None if state is None else state.label, "resolved": resolved})
    out.sort(key=lambda d: (-d["spread"], d["majority_share"], -d["n_votes"], d["item_id"]))
    return out
