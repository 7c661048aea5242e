"""Likely label errors: which labeled items a reviewer should look at first, and why.

Data in, data out (cleanlab's ``find_label_issues(labels, pred_probs)``): the functions take the
given labels and out-of-fold class probabilities -- never a model or a database -- and return one
ranked :class:`pandas.DataFrame`.

The evidence for an item's true class is the out-of-fold ``pred_probs`` (the mean over several
models when several are given), optionally mixed with the labels of the item's nearest neighbours
in feature space (:func:`neighbor_label_probs`). The ``score`` (self-confidence of that evidence)
ranks the items; which are flagged (``is_issue``) is the ``"ranked"`` rule: cleanlab's confident
learning on the models' probabilities estimates how many labels are wrong and picks them, and the
ranking fills that count, so no flag skips a more suspicious item (cleanlab's per-class thresholds
miss clear errors whose evidence sits just below them). :func:`find_label_issues_retrained` adds the
"find, retrain without the suspects, find again" round that makes the probabilities much cleaner.
On NEU-DET with 10 % of the labels flipped (noise seeds 0-2, default model and features; cleanlab
alone on the same out-of-fold probabilities: precision / recall 0.992 / 0.939) the two together give
1.000 / 0.994, every seed >= 0.989 (``benchmarks/label_noise.py``).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from cleanlab.filter import find_label_issues as _cl_find_label_issues
from cleanlab.rank import get_label_quality_scores

from defectlab._validation import (
    _check_choice,
    _check_classes,
    _check_features,
    _check_float,
    _check_int,
    _check_mask,
    _check_pred_probs,
    _encode_labels,
)
from defectlab.errors import InputError
from defectlab.messages import msg
from defectlab.quality._knn import kneighbors
from defectlab.quality._standardize import _standardize

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

    from defectlab._typing import ArrayLike

__all__ = [
    "FILTERS",
    "FLAG_RULES",
    "SmallClassWarning",
    "find_label_issues",
    "find_label_issues_retrained",
    "neighbor_label_probs",
]

#: Values of ``flag_rule`` (see :func:`find_label_issues`).
FLAG_RULES = ("ranked", "cleanlab")

#: Values of ``filter_by``: cleanlab's rules deciding which items are flagged.
FILTERS = (
    "prune_by_noise_rate",
    "prune_by_class",
    "both",
    "confident_learning",
    "predicted_neq_given",
)

_COLUMNS = [
    "index", "given", "suggested", "score", "reason", "reason_parts", "is_issue",
    "p_given", "p_suggested", "model_p_suggested", "neighbors_agree",
]

_SMOOTH = 0.1  # pseudo-count per class in the neighbour vote


class SmallClassWarning(UserWarning):
    """Some classes have too few labeled items for their labels to be judged."""


def neighbor_label_probs(features: ArrayLike, labels: ArrayLike, classes: Sequence[str] | None = None, *,
                         n_neighbors: int = 10, voters: ArrayLike | None = None, n_jobs: int = 1) -> np.ndarray:
    """How the nearest neighbours in feature space are labeled: a k-NN vote per item.

    Each item's ``n_neighbors`` nearest *other* items (cosine distance on standardised features;
    exact on small sets, an inverted-file index over 32 principal components with exact re-ranking
    on large ones, so the cost grows linearly) vote with their labels. The item itself never votes,
    so the result is out-of-sample evidence like out-of-fold probabilities.

    Parameters
    ----------
    features : (N, F) array-like of float
        One feature row per item (e.g. :func:`defectlab.features.extract`).
    labels : (N,) array-like
        Class names (or int codes when ``classes`` is None); ``None`` = unlabeled (never votes).
    classes : sequence or None
        Class names in column order; ``None`` means the sorted distinct labels.
    n_neighbors : int, default=10
    voters : (N,) ndarray of bool or None
        Items whose labels may vote (e.g. not the current suspects); ``None`` = every labeled item.
    n_jobs : int, default=1
        Accepted for compatibility; the neighbour search runs in NumPy (BLAS threads).

    Returns
    -------
    (N, K) ndarray of float64
        Row ``i``: the share of item ``i``'s neighbours labeled with each class, smoothed with a
        pseudo-count of 0.1 per class so no entry is exactly 0 or 1. Rows sum to 1.

    Examples
    --------
    >>> X = [[0.0, 1], [0.1, 1], [0.2, 1], [5, 0], [5, 0.1], [5, 0.2]]
    >>> p = neighbor_label_probs(X, ["a", "a", "b", "b", "b", "b"], n_neighbors=2)
    >>> p.round(2)[2].tolist()   # item 2's two neighbours are both labeled "a"
    [0.95, 0.05]
    """
    where = "neighbor_label_probs"
    X = _check_features(features, where, name="features")
    n = X.shape[0]
    if classes is None:
        lab = [v for v in np.asarray(labels, dtype=object).tolist()
               if v is not None and not (isinstance(v, float) and v != v)]
        classes = sorted(set(lab), key=str)
    classes = _check_classes(classes, where)
    codes = _encode_labels(labels, classes, where, n_samples=n, allow_missing=True,
                           against="pred_probs/features have {n} rows")
    k = _check_int(n_neighbors, where, "n_neighbors", 1)
    n_jobs = _check_int(n_jobs, where, "n_jobs", 1)
    voters = _check_mask(voters, where, "voters", n) & (codes >= 0)
    return _neighbor_votes(X, codes, len(classes), k, voters, n_jobs)


def _neighbor_votes(X, codes, n_classes, k, voters, n_jobs):
    n = X.shape[0]
    vidx = np.flatnonzero(voters)
    if vidx.size < 2:
        return np.full((n, n_classes), 1.0 / n_classes)
    k = min(k, vidx.size - 1)
    Z = _standardize(X)
    norms = np.linalg.norm(Z, axis=1, keepdims=True)
    Z /= np.where(norms > 0, norms, 1.0)  # Euclidean on unit rows ranks like cosine distance
    nbr, _ = kneighbors(Z, k + 1, vidx)  # (N, k+1) global indices
    drop = nbr == np.arange(n)[:, None]
    no_self = ~drop.any(axis=1)
    drop[no_self, -1] = True  # non-voters (and rare ties) drop the farthest instead
    drop &= np.cumsum(drop, axis=1) == 1  # exactly one per row
    nbr = nbr[~drop].reshape(n, k)
    counts = np.zeros((n, n_classes))
    np.add.at(counts, (np.repeat(np.arange(n), k), codes[nbr].ravel()), 1.0)
    return (counts + _SMOOTH) / (k + _SMOOTH * n_classes)


def find_label_issues(labels: ArrayLike, pred_probs: ArrayLike, classes: Sequence[str] | None = None,
                      ordinal: bool = False, features: ArrayLike | None = None, *, n_neighbors: int = 10,
                      knn_weight: float = 0.2, voters: ArrayLike | None = None,
                      filter_by: str = "prune_by_noise_rate", flag_rule: str = "ranked",
                      min_class_size: int = 10, n_jobs: int = 1) -> pd.DataFrame:
    """Rank labeled items by how likely their label is wrong, and flag the likely errors.

    Parameters
    ----------
    labels : (N,) array-like
        The given labels: class names from ``classes`` (or int codes ``0..K-1`` when ``classes`` is
        None).
    pred_probs : (N, K) array-like of float, or (M, N, K) / list of M such arrays
        Out-of-fold class probabilities (row ``i`` from a model that did not train on item ``i``),
        columns in ``classes`` order. Several models are averaged.
    classes : sequence of K names or None
        Class names in column order. For ordinal projects this order is the grade order.
    ordinal : bool, default=False
        Grades rather than unordered classes: the score then also grows with how many grades the
        suggestion is away from the given label (a label three grades off ranks above one grade off).
    features : (N, F) array-like of float or None
        When given, each item's nearest neighbours in feature space vote too
        (:func:`neighbor_label_probs`), which catches errors the model alone is unsure about.
    n_neighbors : int, default=10
        Neighbours that vote (only with ``features``).
    knn_weight : float in [0, 1], default=0.2
        Weight of the neighbour vote in the evidence; the models get ``1 - knn_weight``.
    voters : (N,) ndarray of bool or None
        Items whose labels may vote as neighbours (default: all).
    filter_by : str, default="prune_by_noise_rate"
        cleanlab's rule for ``is_issue``, one of :data:`FILTERS`.
    flag_rule : {"ranked", "cleanlab"}, default="ranked"
        How ``is_issue`` is decided (:data:`FLAG_RULES`). ``"ranked"``: cleanlab's ``filter_by`` rule
        on the models' own probabilities estimates how many items are wrong (M) and picks them; of
        those, the items whose suggestion differs from their label are flagged, and so is every such
        item among the M highest ``score``: no flag skips an item the ranking finds more suspicious.
        ``"cleanlab"``: cleanlab's rule on the evidence alone (the rule before).
    min_class_size : int, default=10
        Items whose given class has fewer labeled items are never flagged (their class cannot be
        judged); a :class:`SmallClassWarning` names those classes.
    n_jobs : int, default=1
        Processes cleanlab may use (it forks; keep 1 inside a web server). Results do not depend on it.

    Returns
    -------
    pandas.DataFrame
        One row per item, flagged items first, then by ``score`` (highest first), then ``index``.
        Columns:

        - ``index`` (int): row position in ``labels``.
        - ``given``, ``suggested``: class names; ``suggested`` is the most likely class.
        - ``score`` (float in [0, 1]), higher = more likely wrong. Nominal: ``1 - p_given``, the
          evidence's probability that the given label is *not* the true class (cleanlab's
          self-confidence). Ordinal: ``0.5 * (1 - p_given) + 0.5 * E|grade - given grade| / (K - 1)``,
          half "how likely wrong", half "how far off, in grades".
        - ``reason`` (str): one plain English sentence, e.g. "model is 97% sure this is
          scratches; 10 of 10 most similar items are labeled scratches".
        - ``reason_parts`` (list of dict): the same reason as messages to translate, one per
          clause of ``reason``: ``{"key": "quality.reason.model_sure", "args": {"pct": 97,
          "cls": "scratches"}}``. Each key is a message of the :mod:`defectlab.i18n` catalogs;
          ``t(key, **args)`` in English gives the clause, and the clauses joined with "; " give
          ``reason``. The arg ``cls`` is a class name (show it in the reader's language, e.g.
          :func:`defectlab.i18n.class_label`); ``pct`` is a whole percent; the other args are counts.
        - ``is_issue`` (bool): flagged (``flag_rule``: cleanlab's confident learning, filled up
          along the ranking).
        - ``p_given``, ``p_suggested`` (float): evidence probabilities of those classes.
        - ``model_p_suggested`` (float): the models' own probability of ``suggested``.
        - ``neighbors_agree`` (float): share of the nearest neighbours labeled ``suggested``
          (NaN without ``features``).

    Warns
    -----
    SmallClassWarning
        When a class has fewer than ``min_class_size`` labeled items.

    Examples
    --------
    >>> import numpy as np
    >>> labels = ["ok"] * 10 + ["scratch"] * 10
    >>> probs = np.array([[0.9, 0.1]] * 10 + [[0.1, 0.9]] * 10)
    >>> probs[0] = [0.03, 0.97]               # item 0 is labeled "ok" but looks like a scratch
    >>> df = find_label_issues(labels, probs, ["ok", "scratch"])
    >>> top = df.iloc[0]
    >>> int(top["index"]), top["given"], top["suggested"], bool(top["is_issue"])
    (0, 'ok', 'scratch', True)
    >>> top["reason"]
    'model is 97% sure this is scratch'
    >>> top["reason_parts"]
    [{'key': 'quality.reason.model_sure', 'args': {'pct': 97, 'cls': 'scratch'}}]
    """
    where = "find_label_issues"
    P_models = _check_pred_probs(pred_probs, where, allow_stack=True, renormalize=True)
    n_models, n, K = P_models.shape
    classes = _check_classes(classes, where, n_classes=K)
    codes = _encode_labels(labels, classes, where, n_samples=n,
                           against="pred_probs/features have {n} rows")
    X = None if features is None else _check_features(features, where, name="features",
                                                      n_samples=n)
    k = _check_int(n_neighbors, where, "n_neighbors", 1)
    w = _check_float(knn_weight, where, "knn_weight", 0.0, 1.0)
    voters = _check_mask(voters, where, "voters", n)
    _check_choice(filter_by, where, "filter_by", FILTERS)
    _check_choice(flag_rule, where, "flag_rule", FLAG_RULES)
    min_class_size = _check_int(min_class_size, where, "min_class_size", 1)
    n_jobs = _check_int(n_jobs, where, "n_jobs", 1)
    if not isinstance(ordinal, (bool, np.bool_)):
        raise InputError(msg("error.label_issues.ordinal_parameter_must_true",
                "The 'ordinal' parameter of {where} must be True or False. Got {ordinal}.",
                where=where, ordinal=repr(ordinal)))

    P_model = P_models.mean(axis=0)
    k = min(k, int(voters.sum()) - 1)  # neighbours that can actually vote
    if X is not None and w > 0 and k >= 1:
        P_knn = _neighbor_votes(X, codes, K, k, voters, n_jobs=1)
        evidence = (1.0 - w) * P_model + w * P_knn
    else:
        P_knn = None
        evidence = P_model

    counts = np.bincount(codes, minlength=K)
    small = [c for c, m in zip(classes, counts, strict=True) if 0 < m < min_class_size]
    if small:
        listed = ", ".join(f"{c!r} ({counts[classes.index(c)]})" for c in small)
        warnings.warn(
            f"find_label_issues: classes {listed} have fewer than {min_class_size} labeled items, "
            "too few to judge; their items are not flagged. Label more items of these classes.",
            SmallClassWarning,
            stacklevel=2,
        )
    too_small = (counts < min_class_size)[codes]

    p_given = evidence[np.arange(n), codes]
    sugg = evidence.argmax(axis=1)
    p_sugg = evidence[np.arange(n), sugg]
    score = _score(codes, evidence, ordinal)
    if flag_rule == "ranked":
        is_issue = _ranked_mask(codes, P_model, score, (sugg != codes) & ~too_small, counts, filter_by,
                                 n_jobs)
    else:
        is_issue = _cleanlab_mask(codes, evidence, counts, filter_by, n_jobs)
    is_issue &= ~too_small
    model_p_sugg = P_model[np.arange(n), sugg]
    nb_agree = (np.full(n, np.nan) if P_knn is None else
                _vote_share(P_knn, sugg, k, K))

    reasons, parts = _reasons(classes, codes, sugg, model_p_sugg, nb_agree, k, is_issue, too_small,
                              counts, min_class_size, ordinal, n_models)
    order = np.lexsort((np.arange(n), -score, ~is_issue))
    cls = np.asarray(classes, dtype=object)
    df = pd.DataFrame({
        "index": np.arange(n),
        "given": cls[codes],
        "suggested": cls[sugg],
        "score": score,
        "reason": reasons,
        "reason_parts": parts,
        "is_issue": is_issue,
        "p_given": p_given,
        "p_suggested": p_sugg,
        "model_p_suggested": model_p_sugg,
        "neighbors_agree": nb_agree,
    }, columns=_COLUMNS)
    return df.iloc[order].reset_index(drop=True)


def _vote_share(P_knn, sugg, k, K):
    """Undo the smoothing of :func:`_neighbor_votes`: share of neighbours labeled ``sugg``."""
    p = P_knn[np.arange(P_knn.shape[0]), sugg]
    return np.clip((p * (k + _SMOOTH * K) - _SMOOTH) / k, 0.0, 1.0)


def _score(codes, evidence, ordinal):
    """How likely each given label is wrong (see ``score`` in :func:`find_label_issues`)."""
    K = evidence.shape[1]
    # cleanlab's self-confidence score: the evidence's probability of the given label
    score = 1.0 - get_label_quality_scores(codes, evidence, method="self_confidence")
    if ordinal and K > 1:
        grades = np.arange(K)
        exp_dist = (evidence * np.abs(grades[None, :] - codes[:, None])).sum(axis=1) / (K - 1)
        score = 0.5 * score + 0.5 * exp_dist
    return np.clip(score, 0.0, 1.0)


def _ranked_mask(codes, P_model, score, disagree, counts, filter_by, n_jobs):
    """The ``"ranked"`` flag rule: cleanlab's items on the models' probabilities, filled along ``score``.

    cleanlab's confident learning estimates how many labels are wrong (M) and picks that many items,
    class pair by class pair. Its per-class confidence thresholds are averages over noisy classes, so
    a clear error whose evidence stays just under a threshold (or whose neighbours are mislabeled
    too) is skipped while a weaker one is taken. The ranking by ``score`` (the model and the
    neighbour vote together) knows better which items are most suspicious: every item among the
    M highest scores whose evidence prefers another class is flagged as well. An item whose evidence
    (with the neighbours) agrees with its label is never flagged. At most 2 M items are flagged, so a
    clean project (M near 0) stays nearly unflagged.
    """
    cl = _cleanlab_mask(codes, P_model, counts, filter_by, n_jobs)
    m = int(cl.sum())
    mask = cl & disagree
    if m:
        top = np.argsort(-score, kind="stable")[:m]
        mask[top[disagree[top]]] = True
    return mask


def _cleanlab_mask(codes, evidence, counts, filter_by, n_jobs):
    """cleanlab's flags on the classes that have items (it needs every column to be a used class)."""
    used = np.flatnonzero(counts > 0)
    if used.size < 2:
        return np.zeros(codes.shape[0], dtype=bool)
    remap = np.full(evidence.shape[1], -1)
    remap[used] = np.arange(used.size)
    sub = evidence[:, used]
    sub = sub / np.maximum(sub.sum(axis=1, keepdims=True), 1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cleanlab's own notes; ours say it in plain words
        mask = _cl_find_label_issues(remap[codes], sub, filter_by=filter_by, n_jobs=n_jobs)
    return np.asarray(mask, dtype=bool)


def _pct(p):
    """A probability as a whole percent that never claims 100 or 0 it does not have."""
    v = round(100 * float(p))
    if v == 100 and p < 1:
        v = 99
    return v


def _reasons(classes, codes, sugg, model_p, nb_agree, k, is_issue, too_small, counts,
             min_class_size, ordinal, n_models):
    """Each item's reason: the English sentence, and its clauses as catalog messages.

    Every clause is written once below as (catalog key, args, English text); the English text
    and the ``en`` catalog's message for the key say the same (tests check this).
    """
    many = n_models > 1
    texts, parts = [], []
    for i in range(codes.shape[0]):
        g, s = codes[i], sugg[i]
        gname, sname = str(classes[g]), str(classes[s])
        pct = _pct(model_p[i])
        clauses = []
        if too_small[i]:
            n = int(counts[g])
            clauses.append(
                ("quality.reason.too_few_one" if n == 1 else "quality.reason.too_few",
                 {"cls": gname, "n": n, "min": int(min_class_size)},
                 (f"class {gname} has only {n} labeled {'item' if n == 1 else 'items'} (fewer "
                  f"than {min_class_size}): too few to judge")))
        elif s == g:
            clauses.append(
                ("quality.reason.models_agree" if many else "quality.reason.model_agrees",
                 {"pct": pct, "cls": sname},
                 f"{'models agree' if many else 'model agrees'} ({pct}% {sname})"))
        else:
            if is_issue[i]:
                clauses.append(
                    ("quality.reason.models_sure" if many else "quality.reason.model_sure",
                     {"pct": pct, "cls": sname},
                     f"{'models are' if many else 'model is'} {pct}% sure this is {sname}"))
            else:
                clauses.append(
                    ("quality.reason.models_lean" if many else "quality.reason.model_leans",
                     {"pct": pct, "cls": sname},
                     f"{'models lean' if many else 'model leans'} to {sname} ({pct}%)"))
            if not np.isnan(nb_agree[i]):
                agree = round(nb_agree[i] * k)
                clauses.append(
                    ("quality.reason.neighbors", {"n": agree, "k": int(k), "cls": sname},
                     f"{agree} of {k} most similar items are labeled {sname}"))
            if ordinal:
                d = abs(int(s) - int(g))
                clauses.append(
                    ("quality.reason.grade_off_one" if d == 1 else "quality.reason.grades_off",
                     {"n": d, "cls": gname},
                     f"{d} grade{'s' if d != 1 else ''} from the given {gname}"))
        texts.append("; ".join(text for _, _, text in clauses))
        parts.append([{"key": key, "args": args} for key, args, _ in clauses])
    return texts, parts


def find_label_issues_retrained(labels: ArrayLike, pred_probs: ArrayLike, classes: Sequence[str],
                                retrain: Callable[..., Any], ordinal: bool = False, features: ArrayLike | None = None,
                                *, rounds: int = 1, **kwargs: Any) -> pd.DataFrame:
    """Find label issues, retrain without the suspects, and judge everything again.

    Probabilities from a model trained on noisy labels are themselves bent by the noise. This runs
    :func:`find_label_issues` on ``pred_probs``, takes every item whose evidence disagrees with its
    label as a suspect (a generous set: it holds nearly all real errors), asks ``retrain`` for fresh
    probabilities from models that never trained on a suspect, and runs :func:`find_label_issues`
    again on them, with the suspects also barred from voting as neighbours.

    ``retrain`` is the caller's bridge to training; this function itself never sees a model.

    Parameters
    ----------
    labels, pred_probs, classes, ordinal, features
        As for :func:`find_label_issues`; ``pred_probs`` are the first round's out-of-fold
        probabilities.
    retrain : callable
        ``retrain(exclude)`` with ``exclude`` an ``(N,)`` bool array returns ``(N, K)`` probabilities
        in ``classes`` order, where row ``i`` comes from a model trained on neither item ``i`` nor
        any excluded item (out-of-fold for the others; e.g.
        ``defectlab.learn.cross_val_oof(X, y, holdout=exclude).pred_probs``).
    rounds : int, default=1
        Retraining rounds.
    **kwargs
        Passed to :func:`find_label_issues` (``n_neighbors``, ``knn_weight``, ``filter_by``,
        ``min_class_size``, ``n_jobs``).

    Returns
    -------
    pandas.DataFrame
        As :func:`find_label_issues`, from the last round.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.model_selection import StratifiedKFold
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(0, 1, (40, 2)), rng.normal(4, 1, (40, 2))]
    >>> X[3], X[50] = [4.0, 4.0], [0.0, 0.0]   # two items in the wrong place ...
    >>> y = np.array(["a"] * 40 + ["b"] * 40)     # ... so their labels are wrong
    >>> def retrain(exclude):
    ...     p = np.zeros((len(y), 2))
    ...     for train, test in StratifiedKFold(5).split(X, y):
    ...         train = train[~exclude[train]]
    ...         p[test] = LogisticRegression().fit(X[train], y[train]).predict_proba(X[test])
    ...     return p
    >>> df = find_label_issues_retrained(y, retrain(np.zeros(80, bool)), ["a", "b"], retrain)
    >>> sorted(df.loc[df.is_issue, "index"].tolist())
    [3, 50]
    """
    where = "find_label_issues_retrained"
    if not callable(retrain):
        raise InputError(
            msg("error.label_issues.retrain_parameter_must_function",
                "The 'retrain' parameter of {where} must be a function retrain(exclude) -> "
                "pred_probs. Got {name}.",
                where=where, name=type(retrain).__name__)
        )
    rounds = _check_int(rounds, where, "rounds", 1)
    if "voters" in kwargs:
        raise InputError(msg("error.label_issues.chooses_neighbour_voters_itself",
                "{where} chooses the neighbour voters itself; do not pass 'voters'.",
                where=where))
    df = find_label_issues(labels, pred_probs, classes, ordinal, features, **kwargs)
    n, K = df.shape[0], _check_pred_probs(pred_probs, where, allow_stack=True).shape[-1]
    for _ in range(rounds):
        suspect = np.zeros(n, dtype=bool)
        bad = df["is_issue"].to_numpy() | (df["suggested"].to_numpy() != df["given"].to_numpy())
        suspect[df["index"].to_numpy()[bad]] = True
        fresh = _check_pred_probs(retrain(suspect.copy()), where, name="retrain(exclude)",
                                  renormalize=True)
        if fresh.shape != (n, K):
            raise InputError(
                msg("error.label_issues.retrain_exclude_must_return",
                    "retrain(exclude) in {where} must return ({n}, {K}) probabilities in classes "
                    "order. Got shape {shape}.",
                    where=where, n=n, K=K, shape=fresh.shape)
            )
        df = find_label_issues(labels, fresh, classes, ordinal, features, voters=~suspect, **kwargs)
    return df
