"""Box proposals from a plate's probability map, scored by a model learned on held-out plates.

The window ranker (:mod:`defectlab.learn.box_ranker`) can only answer with a window: a box as large as one
of the few window sizes. Annotators' boxes are not windows: NEU's crazing boxes are bands across the plate,
its pitted-surface boxes often cover most of it, its patches are blobs of any size. The proposals add
boxes that follow the map:

1. :func:`propose` makes candidate boxes of every defect class ``c`` from the per-class probability map
   (:func:`defectlab.learn.locate.probability_map`): the bounding boxes of the connected components of
   ``map_c >= t`` for a few thresholds ``t`` (:data:`MAP_THRESHOLDS`), also after a morphological closing
   (neighbouring blobs of a class merged into one box), the whole image, and every classified window
   labelled with its best defect class (and with its second one when that has probability >= 0.15);
2. each candidate gets a few numbers (:data:`PROPOSAL_FEATURES`, from integral images of the map, so
   hundreds of candidates cost a few milliseconds): the mean class probability inside, outside, and in a
   ring around it, the share of its cells above 0.5 and where the class wins, the share of the class's
   confident cells it covers, the plate-wide mean and rank of the class, the background probability
   inside and on the plate, its size and shape and its kind (window, component, whole image);
3. :class:`BoxScorer` (gradient-boosted trees, LightGBM; the class enters as indicator columns) learns
   which candidates match an annotated box of their class (IoU >= 0.3) on plates the locator did not
   see, and, with second trees, which fit one tightly (IoU >= 0.5); a candidate's score is
   ``P(match) * sqrt(P(tight))``, and a threshold is picked per class (best F1 of the suppressed boxes,
   out of fold, plates grouped);
4. boxes are the candidates reaching their class's threshold, best first, minus those of the same class
   overlapping a kept one (:func:`defectlab.learn.box_ranker.suppress`: dropped at IoU >= 0.3 or 35 % of the
   smaller inside -- a piece of a defect a kept box holds; below that, soft suppression lowers the score of a
   box by ``exp(-IoU ** 2 / 0.05)`` for each kept box of its class it overlaps, so a box shifted against a
   kept one, the same defect at another extent, must score much higher to stay; the thresholds are picked
   with the same suppression).

**Tight trees, where they help.** Suppression keeps the best-scored of overlapping candidates of a class,
and the match trees score every candidate at IoU >= 0.3 alike: a loose box around two patches can beat
each patch's own box. Trees that also learn which candidates fit a box tightly (IoU >= 0.5), with the score
``P(match) * sqrt(P(tight))``, make suppression keep the fitting one. Whether that helps depends on how a
project's boxes are drawn, so :meth:`BoxScorer.fit` decides on the project's own held-out plates: the tight
trees are kept only when the out-of-fold boxes scored with them have a higher F1 than without them, and
only from 8 plates on. On NEU validation plates (``benchmarks/locate_validation.py``, ``crop-structure``
against ``+notight``, 3 fold draws) the tight score raised the boxes' F1 from 0.605 to 0.636 and the recall
at precision 0.6 from 0.60 to 0.63; on the 241-300 held-out plates it changed nothing (0.58 / 0.70 against
0.57 / 0.71); on new synthetic plates with several defects (``benchmarks/locate_synthetic.py``, 40 boxed
plates, 100 new ones) both scorers kept them and found 0.61 / 0.77 against 0.58 / 0.73 without them. The
choice stays per project: a project whose boxes are drawn loosely can lose by them.

**The candidates' own pixels (second stage).** On an image the size of the plates it learned from, the
scorer the locator uses is its *crop stage* (``BoxScorer.crop``) when it has one: the same candidates
with more columns from each candidate box's own pixels, as a two-stage detector classifies its proposals
(:func:`crop_numbers`): the locator's class probabilities of the box's crop (:data:`CROP_FEATURES`: its
class, the best other defect class, background, the rank of its class) and the run's features of the crop.
A candidate that is one of the classified windows reuses that window's features and probabilities; every
other box (components, the whole image: ~22 per NEU plate) is cut from the image and goes through the
run's feature spec and the locator, which is what ``locate`` loaded from the run's stored locator (never
anything read from a user file). On NEU validation plates (``benchmarks/locate_validation.py``,
``crop-features:trees400,0.3``) it raised the F1 of the boxes from 0.56 to 0.58 (recall 0.51 -> 0.53,
precision 0.62 -> 0.65, mean of 7 fold draws; better in each draw).

**Images much larger than the plates** (:func:`is_tiled`: a side over 1.5 times the scorer's
:attr:`BoxScorer.plate_size`, e.g. a 2048 x 1600 camera frame for a project that boxed 400 x 600 plates) go
through the crop stage too, on the whole image's candidates, with two changes (``locate_image``): the
candidates' size columns are measured against the plates (``propose(plate_size=)``; relative to the image, a
100-pixel defect on a 2048-pixel frame looked 3.4 times smaller than on the plates the scorer learned from),
and a box is dropped at IoU >= 0.1 with a better kept box of another class (``suppress(other_iou=)``: the
plate-wide class columns tell little on a frame with a few defects far apart, and one defect got boxes of
several classes). On 100 such frames (``benchmarks/locate_synthetic.py --larger 1600 2048``): recall 0.78,
precision 0.61, against 0.54 / 0.09 for the map-only scorer tile by tile (:func:`propose_tiled`, before; same
run, locator format 19); with format 20's spread windows 0.81 / 0.68 against 0.62 / 0.17. A scorer without a
crop stage still proposes such images tile by tile.

**The image's own marks (structure candidates).** The map is as coarse as its windows: a scratch 4 pixels
wide in 68-pixel windows comes out as a band as wide as a window, and a cluster of small inclusions as one
blob. For the crop stage, :func:`propose` is also given the image's pixels and adds
:func:`structure_boxes`: the bounding boxes of what is darker or brighter than its local background
(robust z-scores, several levels and closings, at the scale of the project's smallest window:
:func:`structure_scale`; ~90 per NEU plate, 20 ms), each as a candidate of every
defect class (kind 3), since the crop stage's columns tell which class a box's pixels are. The map-only
scorer never sees them (it learns without them and boxes images proposed from the map alone); the locator
gives them to its crop stage from 8 boxed plates on (:attr:`BoxScorer.structure`:
learned from the demo's 4 plates, they halved its precision on new plates). On NEU validation plates
(``crop-structure`` in ``benchmarks/locate_validation.py``) they raised the boxes' F1 from 0.59 to 0.61
(inclusion recall 0.35 -> 0.47); the share of NEU's boxes that some structure box overlaps at IoU >= 0.3 is
0.84 for inclusions and 0.94 for scratches, but 0.12 for crazing (a texture all over the plate, which the
windows' map finds).

The scorers' trees are stored as LightGBM text models with the locator (checksummed, validated before
loading like every LightGBM model, never unpickled); classes, thresholds and column counts are plain numbers.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import cv2
import numpy as np

from defectlab._validation import _check_int
from defectlab.errors import ArtifactError
from defectlab.learn import box_ranker
from defectlab.learn.box_ranker import (
    ERROR_KINDS,
    count_matches,
    error_breakdown,
    pairwise_overlap,
    suppress,
    thresholds_from_counts,
)
from defectlab.messages import msg

__all__ = ["CROP_FEATURES", "MAP_THRESHOLDS", "PROPOSAL_FEATURES", "BoxScorer", "crop_columns", "crop_numbers",
           "expected_from", "is_tiled", "proposal_targets", "propose", "propose_tiled", "structure_boxes",
           "structure_scale", "window_index"]

#: Thresholds of the class map whose connected components are proposals.
MAP_THRESHOLDS = (0.2, 0.35, 0.5, 0.65)
#: Columns of the candidates' numbers (before the class indicators of :class:`BoxScorer`).
PROPOSAL_FEATURES = ("inside", "outside", "ring", "high_share", "coverage", "win_share", "plate_mean",
                     "plate_rank", "contrast", "background_inside", "log_width", "log_height", "area",
                     "kind", "plate_background")
#: The crop stage's columns from the locator's probabilities of a candidate's crop (then the crop's features).
CROP_FEATURES = ("crop_own", "crop_other", "crop_background", "crop_rank")
KIND_WINDOW, KIND_COMPONENT, KIND_WHOLE, KIND_STRUCTURE = 0, 1, 2, 3
_MATCH_IOU = 0.3
_TIGHT_IOU = 0.5  # a candidate fits an annotated box tightly from this IoU on (the scorer's second trees)
_TIGHT_POWER = 0.5  # score = P(match) * P(tight) ** _TIGHT_POWER
_SOFT_SIGMA = 0.05  # Gaussian soft suppression of a class's overlapping boxes (suppress(sigma=)); None: hard
_MAX_IOU = 0.3  # a same-class box is dropped at this IoU with a kept one ...
_MAX_INSIDE = 0.35  # ... or with this share of the smaller one inside the other (locator format 18; was 0.5)
_TIGHT_MIN_PLATES = 8  # tight trees only from this many held-out plates on (from the demo's 4 they cost precision)
_CLOSE = 9  # closing kernel (map cells) that merges neighbouring blobs of a class
_SECOND = 0.15  # a window is also a candidate of its second defect class from this probability
_GRID = box_ranker._GRID  # the thresholds tried (shared with the window ranker's threshold pick)
# the thresholds at which the scorer records its out-of-fold recall and precision (:attr:`BoxScorer.estimate`):
# the pick's grid and a few lower ones (a supervisor who must not miss a defect goes that low)
_ESTIMATE_GRID = (0.01, 0.02, 0.03, 0.04, *_GRID)
_CROP_TREES = 400  # the crop stage's trees (learning rate 20 / trees): its columns are ~250, not 15
_MAX_CROP_COLUMNS = 100_000  # a stored crop stage claiming more feature columns is damaged
_MAX_ERROR_COUNT = 10**9  # a stored error count above this is damaged
_STRUCT_SIDE = 256  # image structure is looked for at this longer side at least (unless the image is smaller) ...
_STRUCT_MIN_SPAN = 16  # ... or larger, so that the project's smallest window spans this many working pixels ...
_STRUCT_MAX_PIXELS = 1024 * 1024  # ... but never on more working pixels than this (a camera image's time bound)
_STRUCT_SIGMAS = (8.0, 24.0)  # scales (working pixels) of the local background subtracted from the image
_STRUCT_LEVELS = (1.5, 2.5, 3.5)  # robust z-scores of the deviation that make a mask
_STRUCT_CLOSE = (None, (1, 9), (9, 1), (7, 7), (15, 15))  # closings (rows, columns) that join broken marks
_STRUCT_MIN_AREA = 60  # smallest box (working pixels^2): a 3 x 20 scratch
_STRUCT_MAX = 120  # most structure boxes per image, strongest first
_STRUCT_SAME = 0.85  # a structure box overlapping a stronger one by this IoU is the same box


def _integral(m):
    s = np.zeros((m.shape[0] + 1, m.shape[1] + 1))
    s[1:, 1:] = m.cumsum(0).cumsum(1)
    return s


def _box_sum(s, b):
    """Sums of a map inside boxes ``b`` ((K, 4) cells x0, y0, x1, y1, exclusive) from its integral image."""
    x0, y0, x1, y1 = b.T
    return s[y1, x1] - s[y0, x1] - s[y1, x0] + s[y0, x0]


def _to_cells(px, cell):
    """(K, 4) map cells ``x0, y0, x1, y1`` covering pixel boxes ``px`` (cells of ``cell`` pixels, ends rounded
    up)."""
    px = np.asarray(px, dtype=np.int64).reshape(-1, 4)
    return np.column_stack([px[:, 0] // cell, px[:, 1] // cell, -(-px[:, 2] // cell), -(-px[:, 3] // cell)])


def _component_boxes(m):
    """(K, 4) cell boxes of the connected components of ``m >= t`` for every map threshold, raw and closed."""
    out = []
    kernel = np.ones((_CLOSE, _CLOSE), np.uint8)
    for t in MAP_THRESHOLDS:
        mask = (m >= t).astype(np.uint8)
        if not mask.any():
            continue
        for mk in (mask, cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel)):
            n, _, stats, _ = cv2.connectedComponentsWithStats(mk, connectivity=8)
            for x, y, w, h in stats[1:n, :4].tolist():
                if w * h >= 4:
                    out.append((x, y, x + w, y + h))
    return out


def structure_boxes(image, max_boxes=_STRUCT_MAX, min_side=None):
    """Class-agnostic boxes around what stands out of an image's own texture, strongest first.

    The map's components can only be as fine as the windows: a scratch 20 pixels wide in a 100-pixel window
    is a blur on the map, and its box comes out as wide as the window. These boxes come from the pixels:

    1. the image (grey, shrunk to the working scale of :func:`structure_scale`: its longer side 256 pixels,
       or more when ``min_side`` says the defects are small) minus its local background (a Gaussian blur of
       sigma 8 and 24 working pixels): what is darker or brighter than its surroundings;
    2. that deviation as a robust z-score (median and MAD of the image: a plate's usual texture is ~0);
    3. for both signs and z >= 1.5, 2.5, 3.5: the pixels above, joined by closings along rows, along
       columns, in squares (a broken scratch, a cluster of pits become one mark) and not at all, and the
       bounding box of each connected component of at least 60 working pixels^2 (smaller than 90 % of the
       image: the whole image is a candidate of its own);
    4. each box's strength: the mean ``|z|`` (sigma 8) inside it minus that in a ring around it; boxes
       overlapping a stronger one at IoU >= 0.85 are dropped and at most ``max_boxes`` kept.

    A flat image (no texture: median absolute deviation 0) has none.

    Parameters
    ----------
    image : (H, W) or (H, W, 3) ndarray of np.uint8
        Anything else (16-bit, float, 4 channels, empty) is refused with an InputError.
    max_boxes : int
        0 to 100,000.
    min_side : float or None
        Size in image pixels of the smallest defects looked for (the locator passes its smallest window's
        side): see :func:`structure_scale`. None: the longer side is shrunk to 256 pixels.

    Returns
    -------
    boxes : (K, 4) ndarray of np.int64
        ``x0, y0, x1, y1`` in image pixels (exclusive ends), K <= ``max_boxes``.
    strength : (K,) ndarray of np.float64
        Descending.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> plate = rng.normal(128, 6, (200, 200)).clip(0, 255).astype(np.uint8)
    >>> plate[40:150, 100:104] = 60  # a dark vertical scratch
    >>> boxes, strength = structure_boxes(plate)
    >>> [int(v) for v in boxes[0]]
    [100, 40, 104, 150]
    """
    max_boxes = _check_int(max_boxes, "structure_boxes", "max_boxes", 0, 100_000)
    zs, scale = _deviation_z(image, min_side)  # validates the image
    h, w = np.asarray(image).shape[:2]
    found, strength_map = [], None
    for z in zs:
        gh, gw = z.shape
        if strength_map is None:
            strength_map = np.abs(z).astype(np.float64)
        for sign, level in itertools.product((1.0, -1.0), _STRUCT_LEVELS):
            mask = (sign * z >= level).astype(np.uint8)
            if not mask.any():
                continue
            for kernel in _STRUCT_CLOSE:
                mk = mask if kernel is None else cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones(kernel, np.uint8))
                n, _, stats, _ = cv2.connectedComponentsWithStats(mk, connectivity=8)
                st = stats[1:n]
                bw, bh = st[:, 2], st[:, 3]
                keep = (bw * bh >= _STRUCT_MIN_AREA) & (bw * bh < 0.9 * gh * gw)
                found.append(np.column_stack([st[keep, 0], st[keep, 1], st[keep, 0] + bw[keep],
                                              st[keep, 1] + bh[keep]]))
    if strength_map is None or not found or not sum(len(f) for f in found):
        return np.zeros((0, 4), np.int64), np.zeros(0)
    b = np.unique(np.vstack(found).astype(np.int64), axis=0)
    inside, ring = _inside_ring(_integral(strength_map), b, gh, gw)
    strength = inside - ring
    order = np.argsort(-strength, kind="stable")[:8 * max_boxes]  # a noisy image: thousands, bounded here
    b, strength = b[order], strength[order]
    iou = pairwise_overlap(b.astype(np.float64), b.astype(np.float64))[0]
    keep = []
    for k in range(len(b)):
        if len(keep) >= max_boxes:
            break
        if not keep or iou[k, keep].max() < _STRUCT_SAME:
            keep.append(k)
    b, strength = b[keep], strength[keep]
    if scale < 1.0:
        b = np.column_stack([np.floor(b[:, :2] / scale), np.ceil(b[:, 2:] / scale)]).astype(np.int64)
        b[:, [0, 2]] = b[:, [0, 2]].clip(0, w)
        b[:, [1, 3]] = b[:, [1, 3]].clip(0, h)
    return b, strength


def structure_scale(height, width, min_side=None):
    """Working scale (<= 1) at which :func:`structure_boxes` looks at an image of ``height`` x ``width``.

    The image's longer side is shrunk to 256 pixels, which on a camera image would shrink its defects to
    dots: on 2048 x 1600 synthetic plates whose defects are 30-150 pixels, 256 pixels left 45 of 177 defects
    without any candidate box (the error breakdown of their boxes; 9 at this scale). So the scale
    is also at least the one at which the smallest defect (``min_side`` image pixels) spans 16 working
    pixels, and at most the one of 1024 x 1024 working pixels in all (an 8000 x 6000 photo stays bounded).
    A NEU plate (200 x 200, windows from 42 pixels) is looked at full size either way.

    Parameters
    ----------
    height, width : int
    min_side : float or None
        Not a positive number: no size known (the 256 rule alone).

    Returns
    -------
    float

    Examples
    --------
    >>> structure_scale(200, 200), structure_scale(1600, 2048), structure_scale(1600, 2048, min_side=63)
    (1.0, 0.125, 0.25396825396825395)
    """
    h, w = max(1, int(height)), max(1, int(width))
    scale = _STRUCT_SIDE / max(h, w)
    if min_side is not None and np.isfinite(min_side) and min_side > 0:  # else: no size known
        scale = max(scale, _STRUCT_MIN_SPAN / max(float(min_side), 1.0))
    return float(min(1.0, scale, np.sqrt(_STRUCT_MAX_PIXELS / (h * w))))


def _deviation_z(image, min_side=None):
    """([z at sigma 8, z at sigma 24] (maps without texture left out), scale): the robust z-score of the
    image's deviation from its local background, at the working scale of :func:`structure_scale`."""
    from defectlab.imaging import to_grey

    grey = to_grey(np.asarray(image))
    h, w = grey.shape
    scale = structure_scale(h, w, min_side)
    if scale < 1.0:  # shrunk as uint8: a large image never gets a float copy at full size
        grey = cv2.resize(grey, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    g = grey.astype(np.float32)
    zs = []
    for sigma in _STRUCT_SIGMAS:
        d = g - cv2.GaussianBlur(g, (0, 0), sigma)
        med = float(np.median(d))
        mad = 1.4826 * float(np.median(np.abs(d - med)))
        if mad > 1e-3:
            zs.append(cv2.GaussianBlur((d - med) / mad, (0, 0), max(1.0, sigma / 8)))
    return zs, scale


def _inside_ring(s_int, b, h, w):
    """Mean of a map (its integral image ``s_int``, map size ``h`` x ``w``) inside boxes ``b`` and in a ring
    around each (an eighth of the box's width + height wide, at least 2)."""
    area = np.maximum((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]), 1).astype(np.float64)
    pad = np.maximum(2, ((b[:, 2] - b[:, 0]) + (b[:, 3] - b[:, 1])) // 8)
    e = np.column_stack([np.maximum(b[:, 0] - pad, 0), np.maximum(b[:, 1] - pad, 0),
                         np.minimum(b[:, 2] + pad, w), np.minimum(b[:, 3] + pad, h)])
    e_area = ((e[:, 2] - e[:, 0]) * (e[:, 3] - e[:, 1])).astype(np.float64)
    inside = _box_sum(s_int, b)
    return inside / area, (_box_sum(s_int, e) - inside) / np.maximum(e_area - area, 1)


def _structure_candidates(image, cell, defect, min_side=None):
    """(boxes in cells, class columns) of :func:`structure_boxes`: each box as every defect class (the
    crop stage's probabilities of the box's own pixels tell which it is)."""
    c = _to_cells(structure_boxes(image, min_side=min_side)[0], cell)  # clipped to the map with the others
    return np.repeat(c, len(defect), axis=0).tolist(), np.tile(defect, len(c)).tolist()


def _candidates(probs, windows, classes, defect, prob_map, cell, image=None, min_side=None):
    """(boxes in cells, class columns, kinds), duplicates removed."""
    mh, mw = prob_map.shape[1:]
    boxes, cls, kind = [], [], []
    for ci in defect:
        comps = _component_boxes(prob_map[ci])
        boxes += [*comps, (0, 0, mw, mh)]
        cls += [ci] * (len(comps) + 1)
        kind += [KIND_COMPONENT] * len(comps) + [KIND_WHOLE]
    if len(windows):
        w = np.asarray(windows, dtype=np.int64)
        cells = _to_cells(w, cell)
        order = defect[np.argsort(-probs[:, defect], axis=1, kind="stable")]
        rows = np.arange(len(w))
        # every window as its best defect class, and as its second one when that is likely enough
        # (a thin inclusion inside a window that looks a little more like pitted surface)
        second = order[:, 1] if len(defect) > 1 else order[:, 0]
        keep = (probs[rows, second] >= _SECOND) & (second != order[:, 0])
        boxes += cells.tolist() + cells[keep].tolist()
        cls += order[:, 0].tolist() + second[keep].tolist()
        kind += [KIND_WINDOW] * (len(w) + int(keep.sum()))
    if image is not None:  # last: a structure box that is also a component or a window keeps that kind
        sb, sc = _structure_candidates(image, cell, defect, min_side)
        boxes += sb
        cls += sc
        kind += [KIND_STRUCTURE] * len(sb)
    b = np.asarray(boxes, dtype=np.int64).reshape(-1, 4)
    b[:, 2], b[:, 3] = np.minimum(b[:, 2], mw), np.minimum(b[:, 3], mh)
    cls, kind = np.asarray(cls, dtype=np.int64), np.asarray(kind, dtype=np.int64)
    _, first = np.unique(np.column_stack([b, cls]), axis=0, return_index=True)
    first = np.sort(first)
    return b[first], cls[first], kind[first]


def propose(probs, windows, classes, prob_map, cell, height, width, background="background", image=None,
            min_side=None, plate_size=None):
    """Candidate boxes of one image with their numbers.

    Parameters
    ----------
    probs : (M, C) ndarray
        Window probabilities, columns named by ``classes``.
    windows : (M, 4) ndarray of int
        ``x0, y0, x1, y1`` of the windows.
    classes : list of str
    prob_map : (C, mh, mw) ndarray
        The windows' probability map (:func:`defectlab.learn.locate.probability_map`).
    cell : int
        Image pixels per map cell.
    height, width : int
        Image size.
    background : str
        Name of the background class (its column may be absent).
    image : (height, width) or (height, width, 3) ndarray of np.uint8, optional
        The image's pixels: its :func:`structure_boxes` become candidates too (kind 3, each as every defect
        class; the crop stage tells which). Without it, the candidates come from the map alone.
    min_side : float or None
        The smallest window's side (pixels): the scale the structure boxes are looked for at
        (:func:`structure_scale`).
    plate_size : (int, int) or None
        ``(width, height)`` of the plates the scorer learned from. On an image much larger than them
        (:func:`is_tiled`) a candidate's size columns (``log_width``, ``log_height``, ``area``) are measured
        against that plate instead of the image, so that a 100-pixel defect is as large to the scorer as on
        the plates it learned from. None (or an image of about that size): against the image.

    Returns
    -------
    boxes : (K, 4) ndarray of np.int64
        ``x0, y0, x1, y1`` in image pixels.
    labels : (K,) ndarray of int
        Column in ``classes`` of each candidate's class (never the background).
    features : (K, 15) ndarray of np.float64
        Columns :data:`PROPOSAL_FEATURES`.

    Examples
    --------
    >>> pm = np.zeros((2, 10, 10), np.float32); pm[1, 2:5, 2:8] = 0.9; pm[0] = 1 - pm[1]
    >>> boxes, labels, F = propose(np.zeros((0, 2)), np.zeros((0, 4)), ["background", "pit"], pm, 2, 20, 20)
    >>> boxes[0].tolist(), labels.tolist()[:1], round(float(F[0, 0]), 2)
    ([4, 4, 16, 10], [1], 0.9)
    """
    probs = np.asarray(probs, dtype=np.float64).reshape(-1, len(classes))
    prob_map = np.asarray(prob_map, dtype=np.float64)
    defect = np.array([i for i, c in enumerate(classes) if c != background], dtype=np.int64)
    b, cls, kind = _candidates(probs, windows, classes, defect, prob_map, int(cell), image, min_side)
    feats = _numbers(b, cls, kind, prob_map, classes, defect, background)
    if is_tiled(width, height, plate_size):  # sizes against the plates the scorer learned from
        mh, mw = prob_map.shape[1:]
        sx, sy = mw * int(cell) / plate_size[0], mh * int(cell) / plate_size[1]
        feats[:, 10] += np.log(sx)
        feats[:, 11] += np.log(sy)
        feats[:, 12] *= sx * sy
    px = b * int(cell)
    px[:, 2], px[:, 3] = np.minimum(px[:, 2], width), np.minimum(px[:, 3], height)
    return px, cls, feats


def propose_tiled(probs, windows, classes, prob_map, cell, height, width, plate_size=None, background="background"):
    """:func:`propose` on an image much larger than the plates the scorer learned from, tile by tile.

    The numbers of a proposal are relative to its image (its size, the plate-wide class means), so a
    2048 x 2048 camera image would look like nothing the scorer has seen on 200 x 200 plates. When the
    image is more than 1.5 times the plates' size along a side, it is cut into a grid of tiles of about that
    size; each tile gets its own map (from the windows with at least half their area inside it, clipped)
    and proposals, moved back to image pixels.

    Parameters
    ----------
    probs, windows, classes, prob_map, cell, height, width, background
        As :func:`propose` (``prob_map`` and ``cell`` are used when the image is not tiled).
    plate_size : (int, int) or None
        ``(width, height)`` of the plates the scorer learned from; None: never tile.

    Returns
    -------
    boxes, labels, features
        As :func:`propose`.
    """
    from defectlab.learn.locate import probability_map

    if not is_tiled(width, height, plate_size):
        return propose(probs, windows, classes, prob_map, cell, height, width, background)
    pw, ph = plate_size
    probs = np.asarray(probs, dtype=np.float64).reshape(-1, len(classes))
    windows = np.asarray(windows, dtype=np.int64).reshape(-1, 4)
    xs = np.round(np.linspace(0, width, max(1, round(width / pw)) + 1)).astype(np.int64)
    ys = np.round(np.linspace(0, height, max(1, round(height / ph)) + 1)).astype(np.int64)
    area = np.maximum((windows[:, 2] - windows[:, 0]) * (windows[:, 3] - windows[:, 1]), 1)
    parts = []
    for y0, y1 in itertools.pairwise(ys):
        for x0, x1 in itertools.pairwise(xs):
            clipped = np.column_stack([np.clip(windows[:, 0], x0, x1), np.clip(windows[:, 1], y0, y1),
                                       np.clip(windows[:, 2], x0, x1), np.clip(windows[:, 3], y0, y1)])
            keep = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1]) >= 0.5 * area
            if not keep.any():
                continue
            local = clipped[keep] - np.array([x0, y0, x0, y0])
            tmap, tcell = probability_map(probs[keep], local, int(y1 - y0), int(x1 - x0))
            b, lab, f = propose(probs[keep], local, classes, tmap, tcell, int(y1 - y0), int(x1 - x0), background)
            parts.append((b + np.array([x0, y0, x0, y0]), lab, f))
    if not parts:
        return np.zeros((0, 4), np.int64), np.zeros(0, np.int64), np.zeros((0, len(PROPOSAL_FEATURES)))
    return tuple(np.concatenate(x) for x in zip(*parts, strict=True))


def is_tiled(width, height, plate_size):
    """True when :func:`propose_tiled` cuts an image of this size into tiles (a side > 1.5 plates)."""
    if not plate_size:
        return False
    return width > 1.5 * plate_size[0] or height > 1.5 * plate_size[1]


def window_index(boxes, windows, cell, height, width):
    """(K,) index of the window each candidate box is (as :func:`propose` makes a window's box: its cells,
    in pixels, clipped to the image), -1 for the other candidates."""
    boxes = np.asarray(boxes, dtype=np.int64).reshape(-1, 4)
    w = np.asarray(windows, dtype=np.int64).reshape(-1, 4)
    cell = int(cell)
    px = _to_cells(w, cell) * cell
    px[:, 2], px[:, 3] = np.minimum(px[:, 2], width), np.minimum(px[:, 3], height)
    first = {}
    for k, box in enumerate(map(tuple, px.tolist())):
        first.setdefault(box, k)
    return np.array([first.get(tuple(b), -1) for b in boxes.tolist()], dtype=np.int64)


def crop_columns(probs, labels, classes, background="background"):
    """(K, 4) :data:`CROP_FEATURES` of candidates of classes ``labels`` whose crops have ``probs``.

    Parameters
    ----------
    probs : (K, C) ndarray
        Class probabilities of each candidate's crop (columns ``classes``).
    labels : (K,) ndarray of int
        Column in ``classes`` of each candidate's class.
    classes : list of str
    background : str

    Returns
    -------
    (K, 4) ndarray of np.float64
        The probability of the candidate's class, of the best other defect class, of background (0
        without that class) and the rank of the candidate's class among the defect classes (0: top).

    Examples
    --------
    >>> crop_columns(np.array([[0.1, 0.6, 0.3]]), np.array([2]), ["background", "pit", "band"]).tolist()
    [[0.3, 0.6, 0.1, 1.0]]
    """
    probs = np.asarray(probs, dtype=np.float64).reshape(-1, len(classes))
    labels = np.asarray(labels, dtype=np.int64)
    defect = np.array([i for i, c in enumerate(classes) if c != background], dtype=np.int64)
    rows = np.arange(len(labels))
    own = probs[rows, labels]
    D = probs[:, defect]
    other = np.where(labels[:, None] == defect[None, :], -np.inf, D).max(axis=1, initial=-np.inf)
    bg = probs[:, classes.index(background)] if background in classes else np.zeros(len(labels))
    rank = (D > own[:, None]).sum(axis=1)
    return np.column_stack([own, np.maximum(other, 0.0), bg, rank]).astype(np.float64)


def crop_numbers(boxes, labels, windows, window_features, window_probs, classes, cell, image, classify,
                 background="background"):
    """(K, 4 + F) the crop stage's columns of candidates: :func:`crop_columns`, then the crop's features.

    Parameters
    ----------
    boxes, labels
        Candidates of :func:`propose` (pixels of ``image``).
    windows : (M, 4) ndarray of int
        The classified windows, with their features ``window_features`` (M, F) and probabilities
        ``window_probs`` (M, C): a candidate that is a window reuses them.
    classes : list of str
    cell : int
        Image pixels per map cell (of the map the candidates were proposed from).
    image : ndarray
        The image (grey or RGB); the other candidates are cut from it.
    classify : callable
        ``classify(crops) -> (features (n, F), probabilities (n, C))`` of a list of crops: the run's feature
        spec and the locator that classified the windows.
    background : str

    Returns
    -------
    (K, 4 + F) ndarray of np.float64
    """
    boxes = np.asarray(boxes, dtype=np.int64).reshape(-1, 4)
    h, w = image.shape[:2]
    n_feat = np.asarray(window_features).shape[1] if len(window_features) else None
    idx = window_index(boxes, windows, cell, h, w)
    todo = np.flatnonzero(idx < 0)
    if len(todo):
        uniq, inv = np.unique(boxes[todo], axis=0, return_inverse=True)
        Xn, Pn = classify([image[y0:y1, x0:x1] for x0, y0, x1, y1 in uniq.tolist()])
        Xn, Pn = np.asarray(Xn, dtype=np.float64), np.asarray(Pn, dtype=np.float64)
        n_feat = Xn.shape[1]
    X = np.zeros((len(boxes), n_feat or 0))
    P = np.zeros((len(boxes), len(classes)))
    have = idx >= 0
    X[have] = np.asarray(window_features, dtype=np.float64)[idx[have]]
    P[have] = np.asarray(window_probs, dtype=np.float64)[idx[have]]
    if len(todo):
        X[todo], P[todo] = Xn[inv.ravel()], Pn[inv.ravel()]
    return np.column_stack([crop_columns(P, labels, classes, background), X])


def _numbers(b, cls, kind, prob_map, classes, defect, background):
    """The :data:`PROPOSAL_FEATURES` of candidate boxes ``b`` (map cells)."""
    n_cls, mh, mw = prob_map.shape
    feats = np.zeros((len(b), len(PROPOSAL_FEATURES)))
    if len(b) == 0:
        return feats
    area = np.maximum((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]), 1).astype(np.float64)
    total = float(mh * mw)
    winner = prob_map.argmax(axis=0)
    plate = prob_map.reshape(n_cls, -1).mean(axis=1)
    rank = np.zeros(n_cls)
    rank[defect] = (-plate[defect]).argsort().argsort()
    bg = classes.index(background) if background in classes else None
    for ci in np.unique(cls):
        sel = cls == ci
        m = prob_map[ci]
        s, s_hi, s_win = _integral(m), _integral((m >= 0.5).astype(np.float64)), _integral((winner == ci) * 1.0)
        inside, ring = _inside_ring(s, b[sel], mh, mw)
        hi = _box_sum(s_hi, b[sel])
        feats[sel, 0] = inside
        feats[sel, 1] = (s[-1, -1] - _box_sum(s, b[sel])) / np.maximum(total - area[sel], 1)
        feats[sel, 2] = ring
        feats[sel, 3] = hi / area[sel]
        feats[sel, 4] = hi / max(s_hi[-1, -1], 1.0)
        feats[sel, 5] = _box_sum(s_win, b[sel]) / area[sel]
        feats[sel, 6] = plate[ci]
        feats[sel, 7] = rank[ci]
        feats[sel, 8] = inside - ring
    if bg is not None:
        feats[:, 9] = _box_sum(_integral(prob_map[bg]), b) / area
        feats[:, 14] = plate[bg]
    feats[:, 10] = np.log(np.maximum(b[:, 2] - b[:, 0], 1) / mw)
    feats[:, 11] = np.log(np.maximum(b[:, 3] - b[:, 1], 1) / mh)
    feats[:, 12] = area / total
    feats[:, 13] = kind
    return feats


def proposal_targets(boxes, labels, classes, truth, min_iou=_MATCH_IOU):
    """(K,) bool: the candidate matches an annotated box of its class (IoU >= ``min_iou``).

    ``truth`` is ``[(label, (x0, y0, x1, y1)), ...]``.
    """
    y = np.zeros(len(boxes), bool)
    names = np.asarray(classes)[np.asarray(labels, dtype=np.int64)] if len(boxes) else np.zeros(0, str)
    for label, box in truth:
        y |= (pairwise_overlap(boxes, np.array([box], dtype=np.float64))[0][:, 0] >= min_iou) & (names == label)
    return y


def _design(features, names, defect_classes):
    onehot = (np.asarray(names)[:, None] == np.asarray(defect_classes)[None, :]).astype(np.float64)
    return np.column_stack([features, onehot])


def _new_model(random_state, n_trees=200):
    from defectlab.learn.models import LightGBMClassifier

    return LightGBMClassifier(n_estimators=n_trees, learning_rate=20 / n_trees, num_leaves=15, min_child_samples=20,
                              colsample_bytree=0.8, early_stopping=False, random_state=random_state, n_jobs=1)


@dataclass
class BoxScorer:
    """Which proposals are boxes: trees on :data:`PROPOSAL_FEATURES` plus one indicator per defect class.

    Attributes
    ----------
    classes : list of str
        The defect classes it knows (in the order of its indicator columns).
    model : LightGBMClassifier
        Fitted on the design columns; ``predict_proba[:, 1]`` is the score.
    threshold : float
        Lowest score of a box for a class without a threshold of its own (best F1 over all classes).
    class_thresholds : dict
        ``{class: threshold}`` for the classes with at least 10 held-out boxes (their own best F1).
    plate_size : (int, int) or None
        Median ``(width, height)`` of the plates it learned from: on much larger images (:func:`is_tiled`)
        the crop stage measures candidate sizes against it; a scorer without a crop stage proposes them tile
        by tile (:func:`propose_tiled`).
    n_crop : int
        0 for a scorer of the map's numbers; else the number of the run's feature columns of a crop stage
        (its candidates' numbers are followed by :func:`crop_numbers`).
    crop : BoxScorer or None
        The crop stage that replaces this scorer (None: none).
    structure : bool
        A crop stage learned with the images' :func:`structure_boxes` among its candidates (then it is given
        them when it boxes an image; the locator learns it that way from 8 boxed plates on).
    tight : LightGBMClassifier or None
        Trees on the same columns that learned which candidates fit an annotated box of their class tightly
        (IoU >= 0.5); with them the score is ``P(match) * sqrt(P(tight))``, so that of two overlapping
        candidates of a defect the better-fitting one is kept (None: the score is ``P(match)``).
    estimate : dict or None
        What its boxes were like on the plates it learned from, scored out of fold (the held-out plates in
        two halves, as its thresholds were picked): ``{"thresholds": [...], "recall": [...], "precision":
        [...], "calibrated": [recall, precision], "errors": {kind: count}}`` -- one threshold for every
        class, its calibrated thresholds, and where its boxes at the calibrated thresholds went wrong
        (:func:`~defectlab.learn.box_ranker.error_breakdown` summed over those plates: why true boxes were
        missed, what the wrong boxes were; absent from scorers stored before it had them). :meth:`expected`
        reads it; None for a scorer stored before it had one.
    """

    classes: list
    model: object
    threshold: float
    class_thresholds: dict = field(default_factory=dict)
    plate_size: tuple | None = None
    n_crop: int = 0
    crop: BoxScorer | None = None
    structure: bool = False
    tight: object | None = None
    estimate: dict | None = None

    @property
    def n_columns(self):
        """Candidate columns before the class indicators."""
        return len(PROPOSAL_FEATURES) + (len(CROP_FEATURES) + self.n_crop if self.n_crop else 0)

    def thresholds_for(self, names):
        """(K,) threshold of each candidate by its class name."""
        return np.array([self.class_thresholds.get(str(n), self.threshold) for n in names], dtype=np.float64)

    def score(self, features, names):
        """(K,) score of each candidate: the probability that it matches an annotated box of its class, times
        the square root of the probability that it fits one tightly (when the scorer has :attr:`tight`)."""
        if len(features) == 0:
            return np.zeros(0)
        design = _design(features, names, self.classes)
        match = self.model.predict_proba(design)[:, 1]
        return match if self.tight is None else _combined(match, self.tight.predict_proba(design)[:, 1])

    def boxes(self, boxes, labels, features, classes, threshold=None, min_box=1, other_iou=None):
        """The suppressed boxes (``{"x", "y", "w", "h", "label", "score"}``, best first) of one image;
        ``other_iou``: a box is also dropped at this IoU with a kept box of another class (None: never)."""
        names = np.asarray(classes)[np.asarray(labels, dtype=np.int64)] if len(boxes) else np.zeros(0, str)
        scores = self.score(features, names)
        th = self.thresholds_for(names) if threshold is None else threshold
        return _suppressed(scores, labels, boxes, classes, th, min_box, other_iou)

    def expected(self, threshold=None):
        """``(recall, precision)`` that :attr:`estimate` gives at one ``threshold`` for every class or at the
        calibrated thresholds (``None``), see :func:`expected_from`; None when the scorer has no estimate."""
        return expected_from(self.estimate, threshold)

    def meta(self):
        """JSON-ready numbers (the trees are stored beside them as LightGBM text models: this scorer's, its
        tight trees and those of its crop stage)."""
        return {"classes": list(self.classes), "threshold": float(self.threshold),
                "class_thresholds": {str(k): float(v) for k, v in self.class_thresholds.items()},
                "plate_size": None if self.plate_size is None else [int(v) for v in self.plate_size],
                "n_crop": int(self.n_crop), "crop": None if self.crop is None else self.crop.meta(),
                "structure": bool(self.structure), "tight": self.tight is not None,
                **({} if self.estimate is None else {"estimate": self.estimate})}

    @classmethod
    def from_meta(cls, data, model, crop_model=None, tight_model=None, crop_tight_model=None):
        """A scorer from :meth:`meta` and its loaded models: its trees, its tight trees (when the meta says
        it has them), its crop stage's (when the meta has one); :class:`ArtifactError` when anything is off
        (a meta that claims tight trees without them, or trees of the wrong width)."""
        classes, threshold, per_class, size, n_crop, crop_meta = _meta_values(data)
        ok = all(0.0 < t < 1.0 for t in [threshold, *per_class.values()]) and set(per_class) <= set(classes)
        ok = ok and (size is None or all(1 <= v <= 1_000_000 for v in size)) and 0 <= n_crop <= _MAX_CROP_COLUMNS
        tight = data.get("tight") is True
        ok = ok and (tight_model is not None) == tight
        crop = None
        if ok and crop_meta is not None:  # a crop stage: its own trees, never a crop stage of its own
            ok = isinstance(crop_meta, dict) and crop_model is not None and crop_meta.get("crop") is None
            crop = cls.from_meta(crop_meta, crop_model, tight_model=crop_tight_model) if ok else None
            ok = ok and crop.n_crop > 0 and crop.classes == classes
        structure = data.get("structure") is True
        estimate = _estimate_values(data.get("estimate")) if ok else None
        scorer = cls(classes, model, threshold, per_class, size, n_crop, crop, structure,
                     tight_model if tight else None, estimate) if ok else None
        width = None if scorer is None else scorer.n_columns + len(classes)
        if not (ok and classes and all(int(getattr(m, "n_features_in_", -1)) == width
                                       for m in [model, *([tight_model] if tight else [])])):
            raise ArtifactError(msg("error.box_proposals.damaged_values",
                                    "The locator's box scorer is damaged (wrong sizes or values)."))
        return scorer

    @classmethod
    def fit(cls, plates, classes, background="background", random_state=0, plate_size=None, n_crop=0):
        """Learn the scorer, its tight trees and its thresholds from held-out plates.

        The tight trees are learned from 8 plates on, when some candidates fit a box at IoU >= 0.5 and some do
        not, and kept only when the out-of-fold boxes scored with them have a higher F1 than without them
        (each with its own best thresholds).

        Parameters
        ----------
        plates : list of (boxes, labels, features, truth)
            :func:`propose` output of a plate the locator did not see, and the plate's annotated boxes
            ``[(label, (x0, y0, x1, y1)), ...]``.
        classes : list of str
            The columns ``labels`` index.
        background : str
        random_state : int
        plate_size : (int, int) or None
            Median ``(width, height)`` of those plates (recorded: see :func:`is_tiled`).
        n_crop : int
            0: ``features`` are :data:`PROPOSAL_FEATURES`; else they are followed by :func:`crop_numbers`
            with ``n_crop`` feature columns (a crop stage: more trees at a lower learning rate).

        Returns
        -------
        BoxScorer or None
            None with fewer than 2 plates or without both matching and other candidates.
        """
        defect = [c for c in classes if c != background]
        if len(plates) < 2:
            return None
        names = [np.asarray(classes)[np.asarray(lab, dtype=np.int64)] for _, lab, _, _ in plates]
        X = [_design(F, n, defect) for (_, _, F, _), n in zip(plates, names, strict=True)]
        y = [proposal_targets(b, lab, classes, truth) for b, lab, _, truth in plates]
        flat = np.concatenate(y)
        if flat.all() or not flat.any():
            return None
        n_trees = _CROP_TREES if n_crop else 200
        oof = _out_of_fold(X, y, random_state, n_trees=n_trees)
        threshold, per_class = _best_thresholds(plates, oof, classes, defect)
        # the tight trees (IoU >= 0.5): from 8 plates on, when some candidates fit a box that well and some do
        # not, and only when their score makes better boxes out of fold (same plates, same threshold pick)
        y_tight = [proposal_targets(b, lab, classes, truth, _TIGHT_IOU) for b, lab, _, truth in plates]
        flat_tight = np.concatenate(y_tight)
        tight, kept = None, oof
        if len(plates) >= _TIGHT_MIN_PLATES and flat_tight.any() and not flat_tight.all():
            both = [_combined(m, t) for m, t in zip(oof, _out_of_fold(X, y_tight, random_state, n_trees=n_trees),
                                                    strict=True)]
            picked = _best_thresholds(plates, both, classes, defect)
            if _boxes_f1(plates, both, classes, *picked) > _boxes_f1(plates, oof, classes, threshold, per_class):
                threshold, per_class = picked
                tight, kept = _new_model(random_state, n_trees).fit(np.vstack(X), flat_tight), both
        model = _new_model(random_state, n_trees).fit(np.vstack(X), flat)
        return cls(defect, model, threshold, per_class, None if plate_size is None else tuple(plate_size),
                   int(n_crop), tight=tight, estimate=_estimate(plates, kept, classes, defect, threshold, per_class))


def expected_from(estimate, threshold=None):
    """``(recall, precision)`` of a :attr:`BoxScorer.estimate` at one ``threshold`` for every class (linear
    between its thresholds; None outside them) or at its calibrated thresholds (``threshold=None``); None
    when ``estimate`` is None."""
    if estimate is None:
        return None
    if threshold is None:
        return tuple(estimate["calibrated"])
    ts = np.asarray(estimate["thresholds"], dtype=np.float64)
    if not ts[0] <= threshold <= ts[-1]:
        return None
    return (float(np.interp(threshold, ts, estimate["recall"])),
            float(np.interp(threshold, ts, estimate["precision"])))


def _suppressed(scores, labels, boxes, classes, threshold, min_box=1, other_iou=None):
    """The box scorer's boxes from scored candidates: :func:`~defectlab.learn.box_ranker.suppress` with its
    limits (a same-class box dropped at IoU >= ``_MAX_IOU`` with a kept one or ``_MAX_INSIDE`` of the smaller
    inside the other) and soft suppression below them (``_SOFT_SIGMA``); the thresholds are picked with it.
    ``other_iou``: boxes of other classes suppress each other from this IoU on (None: never)."""
    return suppress(scores, labels, boxes, classes, threshold, min_box, max_iou=_MAX_IOU, max_inside=_MAX_INSIDE,
                    sigma=_SOFT_SIGMA, other_iou=other_iou)


def _combined(match, tight):
    """The score from the match and tight probabilities (:attr:`BoxScorer.tight`)."""
    return np.asarray(match, dtype=np.float64) * np.clip(tight, 0.0, 1.0) ** _TIGHT_POWER


def _meta_values(data):
    """(classes, threshold, class thresholds, plate size, n_crop, crop meta) of :meth:`BoxScorer.meta`."""
    try:
        size = data.get("plate_size")
        return ([str(c) for c in data["classes"]], float(data["threshold"]),
                {str(k): float(v) for k, v in dict(data.get("class_thresholds") or {}).items()},
                None if size is None else (int(size[0]), int(size[1])), int(data.get("n_crop") or 0),
                data.get("crop"))
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise ArtifactError(msg("error.box_proposals.damaged_detail",
                                "The locator's box scorer is damaged ({detail}).", detail=repr(exc))) from None


def _out_of_fold(X, y, random_state, n_folds=2, n_trees=200):
    """Scores of every plate's candidates by a model fitted on the other plates (plates in ``n_folds``)."""
    fold = np.arange(len(X)) % n_folds
    out = [None] * len(X)
    for k in range(n_folds):
        train = [i for i in range(len(X)) if fold[i] != k]
        yt = np.concatenate([y[i] for i in train])
        model = None if (yt.all() or not yt.any()) else _new_model(random_state, n_trees).fit(
            np.vstack([X[i] for i in train]), yt)
        for i in np.flatnonzero(fold == k):
            out[i] = np.full(len(X[i]), yt.mean()) if model is None else model.predict_proba(X[i])[:, 1]
    return out


def _boxes_f1(plates, scores, classes, threshold, per_class):
    """F1 of the suppressed boxes of ``plates`` scored ``scores`` at the thresholds ``threshold`` / ``per_class``."""
    tp, found, n_true = _boxes_counts(plates, scores, classes, threshold, per_class)
    return 2 * tp / max(found + n_true, 1)


def _plates_boxed(plates, scores, classes, threshold, per_class):
    """Each plate's ``(kept boxes, truth, boxes, labels, scores, thresholds)`` at the thresholds
    ``threshold`` / ``per_class``."""
    for (boxes, labels, _, truth), s in zip(plates, scores, strict=True):
        names = np.asarray(classes)[np.asarray(labels, dtype=np.int64)] if len(boxes) else np.zeros(0, str)
        th = np.array([per_class.get(str(n), threshold) for n in names], dtype=np.float64)
        s = np.asarray(s, dtype=np.float64)
        yield _suppressed(s, labels, boxes, classes, th), truth, boxes, labels, s, th


def _boxes_counts(plates, scores, classes, threshold, per_class):
    """(matched boxes, boxes found, true boxes) of ``plates`` scored ``scores`` at the thresholds."""
    tp = found = n_true = 0
    for kept, truth, *_ in _plates_boxed(plates, scores, classes, threshold, per_class):
        tp, found, n_true = tp + count_matches(kept, truth), found + len(kept), n_true + len(truth)
    return tp, found, n_true


def _boxes_errors(plates, scores, classes, threshold, per_class):
    """(matched boxes, boxes found, :func:`~defectlab.learn.box_ranker.error_breakdown` summed) of ``plates``'
    boxes at the thresholds."""
    tp = found = 0
    out = dict.fromkeys(ERROR_KINDS, 0)
    for kept, truth, boxes, labels, s, th in _plates_boxed(plates, scores, classes, threshold, per_class):
        tp, found = tp + count_matches(kept, truth), found + len(kept)
        for kind, n in error_breakdown(kept, truth, boxes, labels, s, th, classes).items():
            out[kind] += n
    return tp, found, out


def _estimate(plates, scores, classes, defect, threshold, per_class):
    """:attr:`BoxScorer.estimate` from out-of-fold ``scores``: recall and precision of the boxes at each of
    :data:`_ESTIMATE_GRID` (one threshold for every class) and at the calibrated thresholds."""
    counts, n_true = _threshold_counts(plates, scores, classes, defect, _ESTIMATE_GRID)
    total = max(sum(n_true.get(c, 0) for c in defect), 1)
    recall, precision = [], []
    for t in _ESTIMATE_GRID:
        tp = sum(v[0] for v in counts[t].values())
        found = sum(v[1] for v in counts[t].values())
        recall.append(round(tp / total, 4))
        precision.append(round(tp / found, 4) if found else 1.0)
    tp, found, errors = _boxes_errors(plates, scores, classes, threshold, per_class)
    return {"thresholds": list(_ESTIMATE_GRID), "recall": recall, "precision": precision,
            "calibrated": [round(tp / total, 4), round(tp / found, 4) if found else 1.0], "errors": errors}


def _estimate_values(data):
    """A stored :attr:`BoxScorer.estimate` checked (None stays None); :class:`ArtifactError` when damaged."""
    if data is None:
        return None
    try:
        ts, rec, prec = (np.asarray(data[k], dtype=np.float64) for k in ("thresholds", "recall", "precision"))
        cal = np.asarray(data["calibrated"], dtype=np.float64)
        ok = (ts.ndim == 1 and 2 <= len(ts) <= 100 and rec.shape == prec.shape == ts.shape and cal.shape == (2,)
              and bool(np.all(np.diff(ts) > 0)) and 0.0 < ts[0] and ts[-1] < 1.0
              and all(bool(np.all((a >= 0.0) & (a <= 1.0))) for a in (rec, prec, cal)))
    except (KeyError, TypeError, ValueError, IndexError):
        ok = False
    errors = data.get("errors") if ok else None
    if errors is not None:  # optional: scorers stored before the breakdown have none
        ok = (isinstance(errors, dict) and set(errors) == set(ERROR_KINDS)
              and all(type(v) is int and 0 <= v <= _MAX_ERROR_COUNT for v in errors.values()))
    if not ok:
        raise ArtifactError(msg("error.box_proposals.damaged_values",
                                "The locator's box scorer is damaged (wrong sizes or values)."))
    out = {"thresholds": ts.tolist(), "recall": rec.tolist(), "precision": prec.tolist(), "calibrated": cal.tolist()}
    if errors is not None:
        out["errors"] = {k: errors[k] for k in ERROR_KINDS}
    return out


def _threshold_counts(plates, scores, classes, defect, grid=_GRID):
    """(counts, n_true): ``counts[t][class] = (matched boxes, boxes found)`` at each threshold ``t`` of
    ``grid`` (boxes of a class never interact with another's); ``n_true[class]`` the true boxes."""
    counts = {t: {} for t in grid}
    n_true = {}
    for (boxes, labels, _, truth), s in zip(plates, scores, strict=True):
        labels = np.asarray(labels, dtype=np.int64)
        for label, _ in truth:
            n_true[label] = n_true.get(label, 0) + 1
        for c in defect:
            sel = labels == classes.index(c)
            if not sel.any():
                continue
            mine_truth = [x for x in truth if x[0] == c]
            for t in grid:
                found = _suppressed(s[sel], labels[sel], boxes[sel], classes, t)
                tp, n = counts[t].get(c, (0, 0))
                counts[t][c] = (tp + count_matches(found, mine_truth), n + len(found))
    return counts, n_true


def _best_thresholds(plates, scores, classes, defect):
    """(threshold, {class: threshold}): best F1 of the suppressed boxes, over all classes and per class.

    Ties go to the higher threshold (fewer boxes).
    """
    return thresholds_from_counts(*_threshold_counts(plates, scores, classes, defect), defect)
