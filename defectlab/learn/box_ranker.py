"""Which classified windows are boxes: a ranker learned from the project's own boxed plates.

A window's class probability says *what* texture it shows, not whether the window is *where an annotator
would draw a box*: on a plate covered with defect texture every window is confidently "crazing", and a
threshold on that probability keeps far too many boxes. The locator therefore learns a second, small model
from plates whose boxes it did not see while training (see ``defectlab.learn.locate``):

1. every window of a held-out plate is a candidate box with a few numbers (:func:`candidate_features`):
   the probability of its best defect class, the background probability, the margin over the second
   defect class, the mean probabilities of that class and of the background over the windows that overlap
   it (IoU >= 0.3: is the texture there or only at the window's edge?), the plate-wide mean of the class,
   and the window's width and height relative to the image (log scale, squared terms) — shape terms also
   per class, so that a class whose boxes are long and thin prefers such windows;
2. a candidate is positive when it matches a box of the plate with the same label at IoU >= 0.3;
3. a standardised logistic regression (:class:`BoxRanker`) scores the candidates; its decision thresholds
   are those with the best F1 of the final boxes (after per-class suppression) on the held-out plates, from
   out-of-fold scores (plates grouped): one for all classes, and one per class that has at least
   ``_MIN_CLASS_BOXES`` boxes on those plates (boxes of one class are suppressed and matched only among
   themselves, so each class's threshold can be chosen alone);
4. the ranker is plain numbers (means, scales, coefficients, threshold) stored as JSON in the locator's
   metadata: nothing is unpickled, and a damaged entry is refused (:meth:`BoxRanker.from_dict`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from defectlab.errors import ArtifactError, InputError
from defectlab.messages import msg

__all__ = ["BASE_FEATURES", "ERROR_KINDS", "BoxRanker", "candidate_features", "count_matches", "error_breakdown",
           "match_boxes", "suppress"]

#: Names of the columns of :func:`candidate_features` (before the per-class terms of the ranker).
BASE_FEATURES = ("p_best", "p_background", "margin", "near_best", "near_background", "plate_best",
                 "log_width", "log_height", "log_width2", "log_height2")
_NEAR_IOU = 0.3
_MATCH_IOU = 0.3
_MIN_CLASS_BOXES = 10  # boxes of a class on the held-out plates needed for a threshold of its own
_GRID = tuple(float(t) for t in np.round(np.arange(0.05, 0.96, 0.05), 2))


def pairwise_overlap(a, b):
    """(IoU, intersection over the smaller area) of two (M, 4) / (K, 4) ``x0, y0, x1, y1`` arrays."""
    a = np.asarray(a, dtype=np.float64)[:, None, :]
    b = np.asarray(b, dtype=np.float64)[None, :, :]
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = iw * ih
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    iou = inter / np.maximum(area_a + area_b - inter, 1e-9)
    return iou, inter / np.maximum(np.minimum(area_a, area_b), 1e-9)


def candidate_features(probs, windows, classes, height, width, background="background"):
    """The numbers the ranker sees for every window of one image.

    Parameters
    ----------
    probs : (M, C) ndarray
        Window probabilities, columns named by ``classes``.
    windows : (M, 4) ndarray of int
        ``x0, y0, x1, y1``.
    classes : list of str
    height, width : int
        Image size.
    background : str
        Name of the background class (its column may be absent).

    Returns
    -------
    features : (M, 10) ndarray of np.float64
        Columns :data:`BASE_FEATURES`.
    best : (M,) ndarray of int
        Column of each window's best defect class.

    Examples
    --------
    >>> F, best = candidate_features(np.array([[0.2, 0.8]]), np.array([[0, 0, 10, 20]]), ["background", "pit"],
    ...                              20, 40)
    >>> best.tolist(), F[0, :3].round(2).tolist()
    ([1], [0.8, 0.2, 0.8])
    """
    probs = np.asarray(probs, dtype=np.float64)
    windows = np.asarray(windows, dtype=np.float64)
    defect = np.array([i for i, c in enumerate(classes) if c != background], dtype=np.int64)
    rows = np.arange(len(probs))
    sub = probs[:, defect]
    best = defect[sub.argmax(axis=1)]
    p_best = probs[rows, best]
    second = np.sort(sub, axis=1)[:, -2] if len(defect) > 1 else np.zeros(len(probs))
    p_bg = probs[:, classes.index(background)] if background in classes else np.zeros(len(probs))
    near = (pairwise_overlap(windows, windows)[0] >= _NEAR_IOU).astype(np.float64)  # includes itself
    n_near = near.sum(axis=1)
    near_best = (near * probs[:, best].T).sum(axis=1) / n_near
    near_bg = near @ p_bg / n_near
    plate_best = probs.mean(axis=0)[best]
    lw = np.log(np.maximum(windows[:, 2] - windows[:, 0], 1.0) / max(width, 1))
    lh = np.log(np.maximum(windows[:, 3] - windows[:, 1], 1.0) / max(height, 1))
    feats = np.column_stack([p_best, p_bg, p_best - second, near_best, near_bg, plate_best, lw, lh, lw ** 2, lh ** 2])
    return feats, best


def _design(features, best_names, defect_classes):
    """Base columns plus, per defect class, its indicator and its shape and score terms."""
    onehot = (np.asarray(best_names)[:, None] == np.asarray(defect_classes)[None, :]).astype(np.float64)
    per_class = [onehot] + [onehot * features[:, [k]] for k in (0, 3, 6, 7, 8, 9)]
    return np.column_stack([features, *per_class])


def suppress(scores, best, windows, classes, threshold, min_box=1, max_iou=0.3, max_inside=0.5, sigma=None,
             other_iou=None):
    """Boxes from scored windows: those reaching ``threshold``, best first, minus overlapping ones of a class.

    Parameters
    ----------
    scores : (M,) ndarray
        Score of each window (e.g. the ranker's).
    best : (M,) ndarray of int
        Column in ``classes`` of each window's label.
    windows : (M, 4) ndarray of int
    classes : list of str
    threshold : float or (M,) ndarray
        Lowest score of a box (one for all windows, or one per window, e.g. by its class).
    min_box : int
        Windows narrower or lower than this are ignored.
    max_iou, max_inside : float
        A window is dropped when a kept window of its class overlaps it at IoU >= ``max_iou``, or when
        ``max_inside`` of the smaller one lies inside the other.
    sigma : float or None
        None: the others keep their scores (hard suppression). A float: Gaussian soft suppression (Bodla et
        al., 2017): every kept window multiplies the score of each window of its class that it overlaps less
        than that by ``exp(-IoU ** 2 / sigma)``; the next kept window is the best of the lowered scores, and a
        window whose lowered score falls below ``threshold`` is no box. A window shifted against a kept one
        (IoU 0.1-0.3: the same defect, another extent) then needs a much higher score of its own to stay,
        while one beside it (IoU ~0) keeps its score.
    other_iou : float or None
        None: windows of other classes never suppress each other. A float: after that, a kept window is
        dropped when a better kept window of *another* class overlaps it at IoU >= ``other_iou`` (one
        defect, one class).

    Returns
    -------
    list of dict
        ``{"x", "y", "w", "h", "label", "score"}``, best score first (the lowered score with ``sigma``).

    Examples
    --------
    >>> wins = np.array([[0, 0, 10, 10], [7, 0, 17, 10], [30, 0, 40, 10]])  # IoU 0.18, 0
    >>> [(b["x"], b["score"]) for b in suppress([0.9, 0.8, 0.7], [1, 1, 1], wins, ["bg", "pit"], 0.5)]
    [(0, 0.9), (7, 0.8), (30, 0.7)]
    >>> [(b["x"], b["score"]) for b in suppress([0.9, 0.8, 0.7], [1, 1, 1], wins, ["bg", "pit"], 0.5, sigma=0.05)]
    [(0, 0.9), (30, 0.7)]
    >>> [b["label"] for b in suppress([0.9, 0.8], [1, 2], wins[:2], ["bg", "pit", "band"], 0.5, other_iou=0.1)]
    ['pit']
    """
    if sigma is not None and not (np.isfinite(sigma) and sigma > 0):
        raise InputError(msg("error.suppress.sigma", "The soft suppression's sigma must be a positive number "
                                                     "(or None: hard suppression); got {sigma}.", sigma=sigma))
    if other_iou is not None and not (isinstance(other_iou, (int, float, np.number)) and not isinstance(other_iou, bool)
                                      and 0 <= other_iou <= 1):
        raise InputError(msg("error.suppress.other_iou", "The IoU at which boxes of other classes suppress each other "
                                                         "must be a number from 0 to 1 (or None: never); got {value}.",
                             value=other_iou))
    scores = np.asarray(scores, dtype=np.float64)
    windows = np.asarray(windows, dtype=np.int64)
    best = np.asarray(best, dtype=np.int64)
    size_ok = np.minimum(windows[:, 2] - windows[:, 0], windows[:, 3] - windows[:, 1]) >= min_box
    idx = np.flatnonzero((scores >= threshold) & size_ok)
    idx = idx[np.argsort(-scores[idx], kind="stable")]
    if len(idx) == 0:
        return []
    iou, inside = pairwise_overlap(windows[idx], windows[idx])
    same = best[idx][:, None] == best[idx][None, :]
    drop = ((iou >= max_iou) | (inside >= max_inside)) & same
    if sigma is None:
        order = _hard(drop)
        kept_scores = scores[idx[order]]
    else:
        order, kept_scores = _soft(scores[idx], np.broadcast_to(threshold, scores.shape)[idx], drop,
                                   np.where(same, np.exp(-(iou ** 2) / float(sigma)), 1.0))
    if other_iou is not None:
        order, kept_scores = _one_class_a_spot(order, kept_scores, (iou >= other_iou) & ~same)
    boxes = []
    for i, s in zip(order, kept_scores, strict=True):
        x0, y0, x1, y1 = (int(v) for v in windows[idx[i]])
        boxes.append({"x": x0, "y": y0, "w": x1 - x0, "h": y1 - y0, "label": str(classes[best[idx[i]]]),
                      "score": round(float(s), 4)})
    return boxes


def _hard(drop):
    """Kept rows of ``drop`` (rows best first): each one not dropped by a kept one before it."""
    alive = np.ones(len(drop), bool)
    order = []
    for i in range(len(drop)):
        if alive[i]:
            alive &= ~drop[i]
            order.append(i)
    return order


def _one_class_a_spot(order, kept_scores, clash):
    """The kept rows (best first) minus each one that ``clash``es with a better one still kept. Applied after
    each class's own suppression, so that a box of another class dropped here has already suppressed its
    own shifted copies (they do not take its place)."""
    out, scores = [], []
    for i, s in zip(order, kept_scores, strict=True):
        if not any(clash[j, i] for j in out):
            out.append(i)
            scores.append(s)
    return out, scores


def _soft(scores, threshold, drop, decay):
    """Kept rows and their lowered scores: the best alive row is kept, multiplies the others' scores by its
    row of ``decay`` and drops its row of ``drop``; rows below their ``threshold`` are no longer alive."""
    s = np.array(scores, dtype=np.float64)
    alive = s >= threshold
    order, kept = [], []
    while alive.any():
        i = int(np.flatnonzero(alive)[np.argmax(s[alive])])
        order.append(i)
        kept.append(s[i])
        alive[i] = False
        alive &= ~drop[i]
        s *= decay[i]
        alive &= s >= threshold
    return order, kept


def _found_box(f):
    return np.array([[f["x"], f["y"], f["x"] + f["w"], f["y"] + f["h"]]], dtype=np.float64)


def match_boxes(found, truth, min_iou=_MATCH_IOU):
    """Which found box matches which true box: ``{index in found: index in truth}``.

    Best score first, each found box takes the unmatched true box of its label with the highest IoU, when
    that IoU is at least ``min_iou`` (each true box matches at most one found box).

    Examples
    --------
    >>> match_boxes([{"x": 0, "y": 0, "w": 10, "h": 10, "label": "pit", "score": 0.5},
    ...              {"x": 0, "y": 0, "w": 10, "h": 12, "label": "pit", "score": 0.9}],
    ...             [("pit", (0, 0, 10, 10))])
    {1: 0}
    """
    pairs = {}
    for j in sorted(range(len(found)), key=lambda k: -found[k]["score"]):
        f = found[j]
        cand = [k for k, (label, _) in enumerate(truth) if label == f["label"] and k not in pairs.values()]
        if not cand:
            continue
        iou = pairwise_overlap(_found_box(f), np.array([truth[k][1] for k in cand], dtype=np.float64))[0][0]
        best = int(iou.argmax())
        if iou[best] >= min_iou:
            pairs[j] = cand[best]
    return pairs


def count_matches(found, truth, min_iou=_MATCH_IOU):
    """True positives of ``found`` boxes against ``truth``: label-matched, IoU >= ``min_iou``, best score first
    (:func:`match_boxes`).

    Parameters
    ----------
    found : list of dict
        ``{"x", "y", "w", "h", "label", "score"}``.
    truth : list of (label, (x0, y0, x1, y1))
        Each true box matches at most one found box.

    Returns
    -------
    int

    Examples
    --------
    >>> count_matches([{"x": 0, "y": 0, "w": 10, "h": 10, "label": "pit", "score": 0.9}],
    ...               [("pit", (0, 0, 10, 20)), ("pit", (50, 50, 60, 60))])
    1
    """
    return len(match_boxes(found, truth, min_iou))


#: What :func:`error_breakdown` counts: why true boxes were missed (``missed_*``) and what wrong boxes are
#: (``wrong_*``).
ERROR_KINDS = ("missed_no_candidate", "missed_low_score", "missed_suppressed", "wrong_duplicate",
               "wrong_extent", "wrong_piece", "wrong_class_absent", "wrong_elsewhere")
_LOOSE_IOU = 0.1  # a wrong box overlapping a true box of its class this much is that box at a wrong extent


def error_breakdown(found, truth, boxes, labels, scores, thresholds, classes, min_iou=_MATCH_IOU):
    """Where one image's boxes go wrong: counts of :data:`ERROR_KINDS`.

    A true box that no found box matches (:func:`match_boxes`) was missed because

    * ``missed_no_candidate``: no candidate of its class reaches IoU ``min_iou`` with it (the proposals never
      outlined it);
    * ``missed_low_score``: some do, but every one of them scores below its threshold;
    * ``missed_suppressed``: one scores above it, yet suppression removed it (a kept box of its class
      overlapped it, often one that found a neighbouring true box; or it was smaller than the smallest box).

    A found box that matches no true box is

    * ``wrong_duplicate``: a second box on a true box another box found (IoU >= ``min_iou``);
    * ``wrong_extent``: a missed true box of its class at the wrong extent (IoU 0.1 to ``min_iou``);
    * ``wrong_piece``: a piece or a shifted copy of a true box another box found (IoU 0.1 to ``min_iou``);
    * ``wrong_class_absent``: of a class the image has no true box of;
    * ``wrong_elsewhere``: far from every true box of its class (an unmarked defect or a false alarm).

    Parameters
    ----------
    found : list of dict
        The boxes (``{"x", "y", "w", "h", "label", "score"}``).
    truth : list of (label, (x0, y0, x1, y1))
    boxes : (K, 4) ndarray
        The candidates the boxes were chosen from (``x0, y0, x1, y1``).
    labels : (K,) ndarray of int
        Column in ``classes`` of each candidate's class.
    scores, thresholds : (K,) ndarray
        Each candidate's score and the threshold it had to reach.
    classes : list of str

    Returns
    -------
    dict
        ``{kind: count}`` for every kind of :data:`ERROR_KINDS`; the ``missed_*`` counts add up to the true
        boxes not matched, the ``wrong_*`` ones to the found boxes not matched.

    Examples
    --------
    >>> truth = [("pit", (0, 0, 10, 10)), ("pit", (50, 50, 60, 60))]
    >>> found = [{"x": 0, "y": 0, "w": 10, "h": 10, "label": "pit", "score": 0.9},
    ...          {"x": 7, "y": 0, "w": 10, "h": 10, "label": "pit", "score": 0.8}]
    >>> out = error_breakdown(found, truth, np.array([[50, 50, 60, 60]]), np.array([1]), np.array([0.1]),
    ...                       np.array([0.5]), ["background", "pit"])
    >>> out["missed_low_score"], out["wrong_piece"]
    (1, 1)
    """
    out = dict.fromkeys(ERROR_KINDS, 0)
    pairs = match_boxes(found, truth, min_iou)
    matched = set(pairs.values())
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    names = np.asarray(classes)[np.asarray(labels, dtype=np.int64)] if len(boxes) else np.zeros(0, str)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    thresholds = np.broadcast_to(np.asarray(thresholds, dtype=np.float64), scores.shape)
    for k, (label, box) in enumerate(truth):
        if k in matched:
            continue
        mine = names == label
        iou = pairwise_overlap(boxes[mine], np.array([box], dtype=np.float64))[0][:, 0]
        near = iou >= min_iou
        if not near.any():
            out["missed_no_candidate"] += 1
        elif (scores[mine][near] < thresholds[mine][near]).all():
            out["missed_low_score"] += 1
        else:
            out["missed_suppressed"] += 1
    for j, f in enumerate(found):
        if j in pairs:
            continue
        same = [k for k, (label, _) in enumerate(truth) if label == f["label"]]
        if not same:
            out["wrong_class_absent"] += 1
            continue
        iou = pairwise_overlap(_found_box(f), np.array([truth[k][1] for k in same], dtype=np.float64))[0][0]
        best = int(iou.argmax())
        if iou[best] >= min_iou:  # the greedy matching gave that true box to another found box
            out["wrong_duplicate"] += 1
        elif iou[best] >= _LOOSE_IOU:
            out["wrong_piece" if same[best] in matched else "wrong_extent"] += 1
        else:
            out["wrong_elsewhere"] += 1
    return out


@dataclass
class BoxRanker:
    """A standardised logistic regression on :func:`candidate_features` (plus per-class terms).

    Attributes
    ----------
    classes : list of str
        The defect classes it knows (a window of another class gets the base terms only).
    mean, scale, coef : list of float
        Standardisation and coefficients of the design columns.
    intercept : float
    threshold : float
        Score a window needs to become a box (best F1 on the held-out plates, all classes together).
    class_thresholds : dict
        ``{class: threshold}`` for the classes with enough held-out boxes (their own best F1); the other
        classes use ``threshold``.
    """

    classes: list
    mean: list
    scale: list
    coef: list
    intercept: float
    threshold: float
    class_thresholds: dict = field(default_factory=dict)

    def thresholds_for(self, best_names):
        """(M,) threshold of each candidate by its label."""
        return np.array([self.class_thresholds.get(str(n), self.threshold) for n in best_names], dtype=np.float64)

    def score(self, features, best_names):
        """(M,) probability that each candidate window is a box (matches an annotated box)."""
        if len(features) == 0:
            return np.zeros(0)
        z = (_design(features, best_names, self.classes) - np.asarray(self.mean)) / np.asarray(self.scale)
        logit = np.clip(z @ np.asarray(self.coef) + self.intercept, -50, 50)
        return 1.0 / (1.0 + np.exp(-logit))

    def to_dict(self):
        """JSON-ready numbers."""
        return {"classes": list(self.classes), "mean": [float(v) for v in self.mean],
                "scale": [float(v) for v in self.scale], "coef": [float(v) for v in self.coef],
                "intercept": float(self.intercept), "threshold": float(self.threshold),
                "class_thresholds": {str(k): float(v) for k, v in self.class_thresholds.items()}}

    @classmethod
    def from_dict(cls, data):
        """A ranker from :meth:`to_dict` output; :class:`ArtifactError` when anything is off."""
        try:
            classes = [str(c) for c in data["classes"]]
            n = len(BASE_FEATURES) + 7 * len(classes)
            arrays = [np.asarray(data[k], dtype=np.float64) for k in ("mean", "scale", "coef")]
            intercept, threshold = float(data["intercept"]), float(data["threshold"])
            per_class = {str(k): float(v) for k, v in dict(data.get("class_thresholds") or {}).items()}
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ArtifactError(msg("error.box_ranker.damaged_detail",
                                    "The locator's box ranker is damaged ({detail}).", detail=repr(exc))) from None
        ok = all(a.shape == (n,) and np.isfinite(a).all() for a in arrays) and (arrays[1] > 0).all()
        ok = ok and all(0.0 < t < 1.0 for t in [threshold, *per_class.values()]) and set(per_class) <= set(classes)
        if not (ok and np.isfinite(intercept)):
            raise ArtifactError(msg("error.box_ranker.damaged_values",
                                    "The locator's box ranker is damaged (wrong sizes or values)."))
        return cls(classes, *[a.tolist() for a in arrays], intercept, threshold, per_class)

    @classmethod
    def fit(cls, plates, classes, background="background", random_state=0):
        """Learn the ranker and its threshold from held-out plates.

        Parameters
        ----------
        plates : list of (probs, windows, height, width, truth)
            Window probabilities of a locator that did not see the plate, the windows, the image size and
            the plate's boxes ``[(label, (x0, y0, x1, y1)), ...]``.
        classes : list of str
            Columns of every ``probs``.
        background : str
        random_state : int

        Returns
        -------
        BoxRanker or None
            None when the plates give no positive or no negative candidate.
        """
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import GroupKFold

        defect = [c for c in classes if c != background]
        feats, names, ys, groups, per_plate = [], [], [], [], []
        for k, (probs, windows, h, w, truth) in enumerate(plates):
            F, best = candidate_features(probs, windows, classes, h, w, background)
            labels = np.asarray(classes)[best]
            y = np.zeros(len(F), bool)
            for label, box in truth:
                y |= (pairwise_overlap(windows, np.array([box], dtype=np.float64))[0][:, 0] >= _MATCH_IOU) & (
                    labels == label)
            feats.append(F)
            names.append(labels)
            ys.append(y)
            groups.append(np.full(len(F), k))
            per_plate.append((best, windows, truth))
        X = _design(np.vstack(feats), np.concatenate(names), defect)
        y, groups = np.concatenate(ys), np.concatenate(groups)
        if y.all() or not y.any():
            return None
        mean, scale = X.mean(axis=0), X.std(axis=0)
        scale[scale < 1e-9] = 1.0
        Z = (X - mean) / scale

        def model():
            return LogisticRegression(C=1.0, max_iter=2000, random_state=random_state)

        oof = np.zeros(len(y))
        n_splits = min(3, len(plates))
        for tr, te in GroupKFold(n_splits=n_splits).split(Z, y, groups):
            if y[tr].all() or not y[tr].any():
                oof[te] = y[tr].mean()
                continue
            oof[te] = model().fit(Z[tr], y[tr]).predict_proba(Z[te])[:, 1]
        threshold, per_class = _best_thresholds(oof, groups, per_plate, classes, defect)
        final = model().fit(Z, y)
        return cls(defect, mean.tolist(), scale.tolist(), final.coef_[0].tolist(), float(final.intercept_[0]),
                   threshold, per_class)


def _best_thresholds(scores, groups, per_plate, classes, defect):
    """(threshold, {class: threshold}): best F1 of the suppressed boxes, overall and per class.

    Ties go to the higher threshold (fewer boxes): a class no window ever matches gets the highest one.
    """
    # counts[t][class] = (true positives, boxes found); boxes of a class never interact with another class
    counts = {t: {} for t in _GRID}
    n_true = {}
    for k, (best, windows, truth) in enumerate(per_plate):
        for label, _ in truth:
            n_true[label] = n_true.get(label, 0) + 1
        for t in _GRID:
            boxes = suppress(scores[groups == k], best, windows, classes, t)
            for label in {b["label"] for b in boxes}:
                mine = [b for b in boxes if b["label"] == label]
                tp, found = counts[t].get(label, (0, 0))
                counts[t][label] = (tp + count_matches(mine, [x for x in truth if x[0] == label]), found + len(mine))

    return thresholds_from_counts(counts, n_true, defect)


def thresholds_from_counts(counts, n_true, defect):
    """(threshold, {class: threshold}) of the best F1 from matched-box counts at each threshold of the grid.

    ``counts[t][class] = (true positives, boxes found)`` at threshold ``t``; ``n_true[class]`` the true
    boxes. Overall over ``defect``, and per class for classes with at least :data:`_MIN_CLASS_BOXES` true
    boxes. Ties go to the higher threshold (fewer boxes). Shared by the window ranker and the box scorer
    (:mod:`defectlab.learn.box_proposals`).
    """

    def f1(t, labels):
        tp = sum(counts[t].get(c, (0, 0))[0] for c in labels)
        found = sum(counts[t].get(c, (0, 0))[1] for c in labels)
        return 2 * tp / max(found + sum(n_true.get(c, 0) for c in labels), 1)

    def best_of(labels):
        return max(_GRID, key=lambda t: (round(f1(t, labels), 9), t))

    per_class = {c: best_of([c]) for c in defect if n_true.get(c, 0) >= _MIN_CLASS_BOXES}
    return best_of(defect), per_class
