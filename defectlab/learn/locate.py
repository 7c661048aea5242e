"""Defects on full images (plates): sliding windows -> per-class probability maps -> boxes.

A trained run classifies crops. To answer "which defects, where" on a full plate image, :func:`locate_image`

1. lays square windows over the image at a few sizes taken from the crops the run was trained on
   (:func:`window_sides`, :func:`sliding_windows`), with half-window steps; the number of windows is
   capped (:attr:`LocateSettings.max_windows`), so a 2048 x 2048 image costs about as much as a thousand
   crops: on an image whose grid has more windows, :func:`search_windows` keeps 40 % of the budget for a
   coarser grid and puts the rest where the image stands out of its own texture (the windows of each size
   with the highest mean deviation, :func:`~defectlab.learn.box_proposals.structure_scale`);
2. extracts the run's features of every window in one batch (each window goes through the same
   working-size policy as a training crop) and predicts class probabilities;
3. averages the probabilities of the windows covering each cell of a coarse grid: one probability map per
   class (:func:`probability_map`);
4. makes boxes (pixels of the original image), by default (``method="auto"``) with the locator's box
   scorer when it has one (:mod:`defectlab.learn.box_proposals`: candidate boxes from the class maps —
   connected components at several thresholds, merged blobs, the whole image — and the windows, scored by
   trees learned from held-out boxed plates; see "The box ranker and the box scorer" below), else with its
   box ranker (:mod:`defectlab.learn.box_ranker`): windows whose ranker score reaches its calibrated
   threshold, best first, dropping windows of the same class that overlap a kept one; without either, the
   windows whose best
   defect class reaches :attr:`LocateSettings.threshold` (0.5), same suppression
   (:func:`boxes_from_windows`); or (``method="components"``) from each defect class's map: the cells
   where that class wins above the threshold, one box per connected component with its mean probability
   as score (:func:`boxes_from_map`).

The background class
--------------------
A crop classifier has no notion of "no defect": every window would get some defect label. Where the project
has plates (full images whose defects were boxed: VOC/YOLO/COCO imports or the Cut-crops page), the
locator is a second model next to the run: the run's training crops with their labels plus a
``background`` class made of windows of those plates that overlap no box (at most 10 % of the window's
area inside any box, see :func:`background_windows`). It is trained once per run, on first use (the
app's training job does it right after the run), with the run's model and seed, and stored in
``runs/<run-id>/locator/`` (checksummed like every model; never pickled).
``LocateSettings(background=False)`` switches it off; a project without plates has no background class
and the maps then only tell the defect classes apart (every window is some defect).

**Dismissed boxes are hard negatives.** A box a person dismissed on a plate (a false positive,
:func:`defectlab.learn.plate_review.decide_box`) before the run was trained is added to the background
class as the crop of that box (:func:`dismissed_boxes`; at most as many as the other background windows):
the windows that fooled the previous model are the most useful "no defect" examples. Left out: dismissals
recorded after the run (a run's locator does not change when people keep reviewing; the next run learns
them), on deleted plates, boxes whose crop is already a training item (a project with a ``background``
class stores dismissals as crops), and boxes that overlap a boxed defect of their plate by more than 10 %
of their area. ``info["n_dismissed"]`` of :func:`locator_for_run` says how many were used.

The box ranker and the box scorer
---------------------------------
A window's probability says what it shows, not whether an annotator would have boxed it: on a plate
covered with defect texture nearly every window is a confident defect. When the locator is trained, the
boxed plates are held out in turn (cross-fitting, :func:`_held_out_groups`: two halves of at most 240
plates in all; with 2-7 plates every plate in turn, up to four groups): a locator trained without a group
classifies its windows, :class:`~defectlab.learn.box_ranker.BoxRanker` learns which windows match the
plates' boxes (label-matched, IoU >= 0.3), and :class:`~defectlab.learn.box_proposals.BoxScorer` which
proposals made from their maps do; each with the thresholds giving the best F1 of the final boxes (out of
fold; one per class with enough boxes, one for the others). The ranker is numbers in the locator's
metadata; the scorer's trees are a LightGBM text model in ``locator/scorer/`` (checksummed and validated
like every LightGBM model). ``method="auto"`` uses the scorer (``"ranked"``: the ranker).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from defectlab._validation import _check_float, _check_int
from defectlab.errors import ArtifactError, DefectlabError, InputError
from defectlab.learn.box_proposals import (
    CROP_FEATURES,
    KIND_STRUCTURE,
    PROPOSAL_FEATURES,
    BoxScorer,
    crop_numbers,
    is_tiled,
    propose,
    propose_tiled,
)
from defectlab.learn.box_ranker import BoxRanker, candidate_features, pairwise_overlap, suppress
from defectlab.messages import msg

__all__ = [
    "BACKGROUND",
    "LocateSettings",
    "PlateResult",
    "background_windows",
    "boxes_from_map",
    "boxes_from_windows",
    "dismissed_boxes",
    "expected_quality",
    "locate_image",
    "locate_item",
    "locate_source",
    "locator_for_run",
    "probability_map",
    "remake_boxes",
    "search_windows",
    "sliding_windows",
    "stored_box_quality",
    "window_shapes",
    "window_sides",
]

#: Name of the "no defect" class of a locator trained with plates.
BACKGROUND = "background"
LOCATOR_DIR = "locator"
# 13: the box scorer's crop stage (locator/crop_scorer/); 14: its structure candidates; 15: only from 8 plates on;
# 16: tight trees (locator/scorer_tight/, locator/crop_scorer_tight/); 17: soft suppression (thresholds picked with it);
# 18: the scorer's boxes drop a same-class box 35 % inside a kept one (was 50 %); 19: windows over the budget
# go where the image stands out, and structure boxes are looked for at the scale of the smallest window;
# 20: those salient windows are spread (no two of one size are neighbours of the grid)
_LOCATOR_FORMAT = 20
_METHODS = ("auto", "proposals", "ranked", "windows", "components")
SCORER_DIR = "scorer"
CROP_SCORER_DIR = "crop_scorer"
TIGHT_SUFFIX = "_tight"  # the scorers' tight trees: scorer_tight, crop_scorer_tight
_RANK_MIN_PLATES = 8  # plates with boxes needed before some are held out to learn the box ranker
_RANK_MAX_PLATES = 240  # most held-out plates (their windows are classified once, at locator training)
_MAP_CELLS = 128  # the probability map has at most this many cells along its longer side
_MAX_OVERLAP = 0.10  # a background window has at most this fraction of its area inside any box
_MIN_BACKGROUND = 200  # background is the most varied class: at least this many windows when plates allow
_SALIENT_SHARE = 0.6  # of the window budget, on an image whose grid exceeds it: where the image stands out
# A salient window is skipped when one of its size already picked is less than this share of its width and of
# its height away: the grid's neighbours (half a window apart) of one mark would take the budget of others
_SALIENT_SPREAD = 0.75
_WINDOW_POOL = 200_000  # most windows of the grid those are chosen from (a huge image's grid is coarser)
# An image much larger than the plates the box scorer learned from (is_tiled): its candidates go to the crop
# stage too, their sizes measured against those plates, and a box is dropped at this IoU with a kept box of
# another class (the plate-wide class columns say little about which class a spot is on such an image, so one
# defect got boxes of several classes). Off (False): tile by tile, map only (the benchmark's peer).
_CROP_STAGE_LARGER = True
_OTHER_IOU_LARGER = 0.1


@dataclass(frozen=True)
class LocateSettings:
    """How a run is applied to full images.

    Parameters
    ----------
    scales : int, default=3
        Window sizes taken from the training crops (quantiles of their sizes), see :func:`window_sides`.
    window_sides : tuple of int, default=()
        Explicit window sides in pixels (override ``scales``).
    stride : float, default=0.5
        Step between windows as a fraction of the window side.
    threshold : float or None, default=None
        ``proposals`` / ``ranked``: lowest score of a box (None: the scorer's or ranker's calibrated
        thresholds, per class: the best F1 on the held-out plates). ``windows`` / ``components``: lowest
        probability of a defect class for a window or a map cell to count (None: 0.5).
    max_windows : int, default=500
        Most windows per image (larger images get longer steps): bounds the time per image.
    method : {"auto", "proposals", "ranked", "windows", "components"}, default="auto"
        How boxes are made: ``proposals`` scores boxes made from the class maps (components at a few
        thresholds, merged blobs, the whole image) and the windows with the locator's box scorer (learned
        from held-out plates, see :mod:`defectlab.learn.box_proposals`), then suppresses as ``ranked``;
        ``ranked`` scores every window with the locator's box ranker (learned from held-out plates, see
        :mod:`defectlab.learn.box_ranker`) and suppresses, best first, the windows of the same class that
        overlap a kept one; ``auto`` is ``proposals`` when the locator has a box scorer, else ``ranked``
        when it has a ranker, else ``windows``; ``windows`` keeps the windows whose best defect class
        reaches the threshold and suppresses, best first, the windows of the same class that overlap a
        kept one (IoU >= 0.3, or half of the smaller one inside the other); ``components`` thresholds the averaged
        map and boxes its connected components (fewer, larger boxes: better precision, lower recall on NEU).
    background : bool, default=True
        Train and use the ``background`` class where the project has plates (see the module notes).
    min_box : int, default=0
        Boxes narrower or lower than this (pixels) are dropped; 0 = half the smallest window side.
    """

    scales: int = 3
    window_sides: tuple = ()
    stride: float = 0.5
    threshold: float | None = None
    max_windows: int = 500
    background: bool = True
    min_box: int = 0
    method: str = "auto"

    def __post_init__(self):
        _check_int(self.scales, "LocateSettings", "scales", 1, 8)
        sides = tuple(_check_int(s, "LocateSettings", "window_sides", 8, 4096) for s in self.window_sides)
        object.__setattr__(self, "window_sides", sides)
        object.__setattr__(self, "stride", _check_float(self.stride, "LocateSettings", "stride", 0.1, 1.0))
        if self.threshold is not None:
            object.__setattr__(self, "threshold",
                               _check_float(self.threshold, "LocateSettings", "threshold", 0.01, 0.99))
        if not isinstance(self.background, bool):
            raise InputError(msg("error.locate.background_locatesettings_must_true",
                    "The 'background' of LocateSettings must be True or False. Got {background}.",
                    background=repr(self.background)))
        _check_int(self.max_windows, "LocateSettings", "max_windows", 1, 100_000)
        _check_int(self.min_box, "LocateSettings", "min_box", 0, 4096)
        if self.method not in _METHODS:
            raise InputError(msg("error.locate.method_locatesettings_must_windows",
                    "The 'method' of LocateSettings must be one of {methods}. Got {method}.",
                    methods=", ".join(_METHODS), method=repr(self.method)))


@dataclass
class PlateResult:
    """What :func:`locate_image` found on one image.

    Attributes
    ----------
    width, height : int
        Size of the image (pixels).
    boxes : list of dict
        ``{"x", "y", "w", "h", "label", "score"}`` in pixels of the image, best score first.
    classes : list of str
        Names of the map's channels (the run's classes, then ``background`` when the locator has it).
    prob_map : (C, mh, mw) ndarray of np.float32
        Mean probability per class on a coarse grid; a cell is ``cell`` x ``cell`` image pixels.
    cell : int
        Image pixels per map cell.
    n_windows : int
        Windows classified.
    windows : (M, 4) ndarray of np.int64
        The classified windows (``x0, y0, x1, y1``).
    window_probs : (M, C) ndarray of np.float32
        Their class probabilities (columns ``classes``): boxes can be remade at another threshold or
        method without classifying again (:func:`remake_boxes`).
    proposals : tuple or None
        ``(boxes, labels, columns)`` of the candidates the box scorer's crop stage scored (their crops
        are not cut again by :func:`remake_boxes`); None when it was not used.
    extra : dict
        ``expected``: ``(recall, precision)`` of such boxes on the plates the box scorer learned from, out
        of fold (:func:`expected_quality`), or None; ``estimate``: that scorer's whole
        :attr:`~defectlab.learn.box_proposals.BoxScorer.estimate` (for another threshold:
        :func:`~defectlab.learn.box_proposals.expected_from`), or None; ``tiled``: ``(width, height)`` of
        the plates the box scorer learned from when this image is much larger than them
        (:func:`~defectlab.learn.box_proposals.is_tiled`; the name is from when such images were proposed
        tile by tile), else None -- then ``expected`` and ``estimate`` are None: numbers from those plates
        do not hold for it (on synthetic 2048 x 1600 plates located with a locator of 400 x 600 ones,
        precision 0.68 against 0.88 on new 400 x 600 plates, locator format 20,
        ``benchmarks/locate_synthetic.py --larger``);
        :func:`locate_item` adds the run, the item and whether the locator has the background class.
    """

    width: int
    height: int
    boxes: list
    classes: list
    prob_map: np.ndarray
    cell: int
    n_windows: int
    source: str = ""
    extra: dict = field(default_factory=dict)
    windows: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.int64))
    window_probs: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    proposals: tuple | None = None

    def to_dict(self):
        """The ``locate`` JSON entry of this plate (``source``, ``width``, ``height``, ``boxes``, ``tiled``:
        much larger than the plates the run learned from, see :attr:`extra`)."""
        return {"source": self.source, "width": int(self.width), "height": int(self.height),
                "boxes": [dict(b) for b in self.boxes], "tiled": self.extra.get("tiled") is not None}

    def defect_map(self):
        """(mh, mw) float32: probability that a cell shows any defect (1 - background, or the best class); 0
        where no window looked (a large image's windows leave gaps: no evidence is no defect on the overlay)."""
        if not self.prob_map.size:  # a recorded result reopened without its map
            return np.zeros((1, 1), np.float32)
        looked = self.prob_map.sum(axis=0) > 0
        if BACKGROUND in self.classes:
            return np.where(looked, 1.0 - self.prob_map[self.classes.index(BACKGROUND)], 0.0).astype(np.float32)
        return self.prob_map.max(axis=0)


# -- geometry --------------------------------------------------------------------------------------

def window_sides(widths, heights, scales=3):
    """Window sides (pixels) from the sizes of training crops.

    Parameters
    ----------
    widths, heights : array-like of int
        Sizes of the crops the run was trained on.
    scales : int
        Number of sides: evenly spaced quantiles (e.g. 3 -> 20th, 50th and 80th percentile) of the
        crops' geometric-mean side ``sqrt(w * h)``.

    Returns
    -------
    tuple of int
        Distinct sides >= 8, ascending.

    Examples
    --------
    >>> window_sides([40, 60, 80, 100, 200], [40, 60, 80, 100, 200], scales=3)
    (56, 80, 120)
    """
    w = np.asarray(widths, dtype=np.float64)
    h = np.asarray(heights, dtype=np.float64)
    if w.size == 0 or w.shape != h.shape:
        raise InputError(msg("error.locate.window_sides_needs_widths",
                "window_sides needs the widths and heights of at least one crop (same length). Got "
                "{size} widths and {size2} heights.",
                size=w.size, size2=h.size))
    side = np.sqrt(np.clip(w, 1, None) * np.clip(h, 1, None))
    qs = [50.0] if scales == 1 else np.linspace(20.0, 80.0, scales)
    return tuple(sorted({max(8, round(float(v))) for v in np.percentile(side, qs)}))


def window_shapes(widths, heights, ratio=2.5, min_share=0.1):
    """Elongated window shapes (pixels) for projects whose boxed defects are long and thin.

    Square windows cannot match a thin scratch (a 26 x 104 box has IoU 0.25 with the 26 x 26 square inside
    it). When at least ``min_share`` of the crops are elongated (one side >= ``ratio`` x the other, either
    way), the median short and long sides of those crops give two windows: standing and lying, since a
    scratch may run either way on the next plate even when most training scratches ran one way.

    Parameters
    ----------
    widths, heights : array-like of int
        Sizes of the crops the run was trained on.
    ratio : float
    min_share : float

    Returns
    -------
    tuple of (int, int)
        ``(width, height)`` of each shape: none, or the standing and the lying one; sides >= 8.

    Examples
    --------
    >>> window_shapes([20, 22, 60, 60], [90, 110, 60, 50])
    ((21, 100), (100, 21))
    """
    w = np.asarray(widths, dtype=np.float64)
    h = np.asarray(heights, dtype=np.float64)
    short, long_ = np.minimum(w, h), np.maximum(w, h)
    mask = long_ >= ratio * short
    if w.size == 0 or mask.mean() < min_share:
        return ()
    a, b = max(8, round(float(np.median(short[mask])))), max(8, round(float(np.median(long_[mask]))))
    return ((a, b), (b, a))


def _wh(side):
    """(width, height) of a window size: an int (a square) or a (width, height) pair."""
    if isinstance(side, (tuple, list)):
        return int(side[0]), int(side[1])
    return int(side), int(side)


def _positions(length, win, step):
    if win >= length:
        return np.zeros(1, np.int64)
    n = int(np.ceil((length - win) / step)) + 1
    return np.round(np.linspace(0, length - win, n)).astype(np.int64)


def sliding_windows(height, width, sides, stride=0.5, max_windows=1000):
    """Windows of several sizes over an image, the last one of each row flush with the edge.

    Parameters
    ----------
    height, width : int
        Image size.
    sides : sequence of int or (int, int)
        Window sizes in pixels: a side (a square) or ``(width, height)``; a size larger than the image
        is clipped to it.
    stride : float
        Step as a fraction of the window's width (along x) and height (along y).
    max_windows : int
        Most windows in all: each side gets an equal share and a longer step if it needs one.

    Returns
    -------
    (M, 4) ndarray of np.int64
        ``x0, y0, x1, y1`` (exclusive ends), windows of the smallest side first.

    Examples
    --------
    >>> sliding_windows(200, 200, [100], stride=0.5).tolist()[:3]
    [[0, 0, 100, 100], [50, 0, 150, 100], [100, 0, 200, 100]]
    """
    shapes = sorted({_wh(s) for s in sides}, key=lambda s: (min(s), s))
    share = max(1, max_windows // max(1, len(shapes)))
    out = []
    for s_w, s_h in shapes:
        sw, sh = min(s_w, width), min(s_h, height)
        step = max(1.0, s_w * stride), max(1.0, s_h * stride)
        while True:
            xs, ys = _positions(width, sw, step[0]), _positions(height, sh, step[1])
            if len(xs) * len(ys) <= share:
                break
            step = step[0] * 1.25, step[1] * 1.25
        gx, gy = np.meshgrid(xs, ys)
        gx, gy = gx.ravel(), gy.ravel()
        out.append(np.stack([gx, gy, gx + sw, gy + sh], axis=1))
    if not out:
        return np.zeros((0, 4), np.int64)
    return np.unique(np.concatenate(out), axis=0) if len(out) > 1 else out[0]


def _min_span(sides):
    """Side (pixels) of the smallest window: the square root of its area (None without windows)."""
    spans = [float(np.sqrt(w * h)) for w, h in map(_wh, sides)]
    return min(spans) if spans else None


def _grid_fits(height, width, sides, stride, max_windows):
    """True when no window size of :func:`sliding_windows` has to step further than ``stride`` to fit."""
    return len(sliding_windows(height, width, sides, stride, max_windows)) == len(
        sliding_windows(height, width, sides, stride, _WINDOW_POOL))


def search_windows(image, sides, stride=0.5, max_windows=500, spread=None):
    """The windows an image is classified in: its whole grid, or where it stands out when that is too many.

    When the grid of :func:`sliding_windows` fits ``max_windows`` (a NEU plate: ~180 windows), it is the
    answer. On a larger image (a 2048 x 1600 camera plate: ~9,000 windows of each size) a grid stretched
    to fit would step over most small defects, so 40 % of the budget is a coarser grid (the whole image is
    looked at; more when the full grid is less than 2.5 times the budget: the share the budget is of it)
    and the rest the windows of the full grid, an equal share of each size, whose mean absolute
    deviation from the image's own texture (the robust z-scores of
    :func:`~defectlab.learn.box_proposals.structure_boxes`, at the scale of the smallest window) is
    highest, spread: a window is skipped when one of its size already picked is less than 3/4 of its
    width and of its height away (the grid neighbours of one strong mark would otherwise take the share
    of the fainter marks elsewhere; a plate just over the budget may then use fewer windows than it allows).
    The locator learns its scorers from windows placed the same way.
    With the structure boxes' scale (locator format 19 both), against the stretched grid in the same
    run, same budget of 500 (``benchmarks/locate_synthetic.py``): on synthetic 2048 x 1600 plates box
    recall 0.42 -> 0.69 at precision 0.82 -> 0.82; on 400 x 600 plates 0.61 -> 0.70 at 0.83 -> 0.77
    (F1 0.71 -> 0.74). Spread against not (locator format 20 against 19, same run): on 1,200 x 1,800 frames
    with ~27 defects each recall 0.40 -> 0.56 at precision 0.68 -> 0.91; on 2048 x 1600 plates 0.69 / 0.82
    -> 0.76 / 0.83; on 400 x 600 plates F1 0.74 -> 0.75 (0.70 / 0.77 -> 0.66 / 0.88); NEU plates (their grid
    fits) unchanged.

    Parameters
    ----------
    image : (H, W) or (H, W, 3) ndarray of np.uint8
    sides : sequence of int or (int, int)
        Window sizes, as :func:`sliding_windows`.
    stride : float
    max_windows : int
    spread : float or None
        The share of a window's width and height within which no second salient window of its size is
        picked; None: the library's (3/4), 0: none.

    Returns
    -------
    (M, 4) ndarray of np.int64
        ``x0, y0, x1, y1``, M <= ``max_windows`` (sorted; the same image gives the same windows).

    Examples
    --------
    >>> plate = np.full((200, 200), 128, np.uint8)
    >>> search_windows(plate, [100]).tolist() == sliding_windows(200, 200, [100]).tolist()
    True
    """
    from defectlab.learn.box_proposals import _box_sum, _deviation_z, _integral

    spread = _SALIENT_SPREAD if spread is None else spread
    number = isinstance(spread, (int, float, np.number)) and not isinstance(spread, bool)
    if not (number and np.isfinite(spread) and spread >= 0):
        raise InputError(msg("error.search_windows.spread",
                             "The searched windows' spread must be a number from 0 (none) up; got {spread}.",
                             spread=spread))
    h, w = image.shape[:2]
    grid = sliding_windows(h, w, sides, stride, max_windows)
    if _SALIENT_SHARE <= 0:
        return grid
    pool = sliding_windows(h, w, sides, stride, _WINDOW_POOL)
    if len(pool) == len(grid):  # no window size had to step further than asked (as :func:`_grid_fits`)
        return grid
    # the coarse grid's share: 40 %, or as much of the budget as the full grid would fill of it (a plate just
    # over the budget keeps most of its grid)
    share = max(1 - _SALIENT_SHARE, max_windows / len(pool))
    coarse = sliding_windows(h, w, sides, stride, max(1, round(max_windows * share)))
    zs, scale = _deviation_z(image, _min_span(sides))
    if not zs:  # no texture to stand out of
        return grid
    z = np.maximum.reduce([np.abs(v) for v in zs]).astype(np.float64)
    gh, gw = z.shape
    c = np.column_stack([np.floor(pool[:, :2] * scale), np.ceil(pool[:, 2:] * scale)]).astype(np.int64)
    c[:, [0, 2]], c[:, [1, 3]] = c[:, [0, 2]].clip(0, gw), c[:, [1, 3]].clip(0, gh)
    area = np.maximum((c[:, 2] - c[:, 0]) * (c[:, 3] - c[:, 1]), 1)
    deviation = _box_sum(_integral(z), c) / area
    size = (pool[:, 2] - pool[:, 0]) * (w + 1) + (pool[:, 3] - pool[:, 1])
    sizes = np.unique(size)
    per = max(0, max_windows - len(coarse)) // len(sizes)
    taken = {tuple(r) for r in coarse.tolist()}
    pick = []
    for sz in sizes.tolist():
        idx = np.flatnonzero(size == sz)
        n = 0
        picked = []
        for i in idx[np.argsort(-deviation[idx], kind="stable")].tolist():
            if n >= per:
                break
            if tuple(pool[i].tolist()) in taken:
                continue
            if spread > 0 and picked:  # (one size: the same width and height)
                near = np.abs(pool[picked, :2] - pool[i, :2]) < spread * (pool[i, 2:] - pool[i, :2])
                if near.all(axis=1).any():
                    continue
            pick.append(i)
            picked.append(i)
            n += 1
    return np.unique(np.vstack([coarse, pool[pick]]), axis=0)


def _map_cell(height, width):
    return max(1, int(np.ceil(max(height, width) / _MAP_CELLS)))


def probability_map(probs, windows, height, width, cell=None):
    """Mean class probabilities of the windows covering each cell of a coarse grid.

    Parameters
    ----------
    probs : (M, C) ndarray
        Probabilities of the windows.
    windows : (M, 4) ndarray of int
        ``x0, y0, x1, y1`` of each window.
    height, width : int
        Image size.
    cell : int or None
        Image pixels per map cell (default: the longer side / 128, at least 1).

    Returns
    -------
    prob_map : (C, ceil(height / cell), ceil(width / cell)) ndarray of np.float32
        Cells that no window covers get probability 0 for every class.
    cell : int
    """
    probs = np.asarray(probs, dtype=np.float64)
    windows = np.asarray(windows, dtype=np.int64)
    cell = _map_cell(height, width) if cell is None else int(cell)
    mh, mw = -(-height // cell), -(-width // cell)
    total = np.zeros((probs.shape[1], mh + 1, mw + 1))
    count = np.zeros((mh + 1, mw + 1))
    # summed-area trick: add at the corners, integrate once
    x0 = windows[:, 0] // cell
    y0 = windows[:, 1] // cell
    x1 = np.maximum(x0 + 1, -(-windows[:, 2] // cell))
    y1 = np.maximum(y0 + 1, -(-windows[:, 3] // cell))
    for ys, xs, sign in ((y0, x0, 1.0), (y0, x1, -1.0), (y1, x0, -1.0), (y1, x1, 1.0)):
        np.add.at(count, (ys, xs), sign)
        for c in range(probs.shape[1]):
            np.add.at(total[c], (ys, xs), sign * probs[:, c])
    count = count.cumsum(0).cumsum(1)[:mh, :mw]
    total = total.cumsum(1).cumsum(2)[:, :mh, :mw]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(count > 0.5, total / np.maximum(count, 1e-9), 0.0)
    return out.astype(np.float32), cell


def boxes_from_map(prob_map, classes, cell, height, width, threshold=0.5, min_box=4):
    """Boxes of the defect classes of a probability map (threshold + connected components).

    Parameters
    ----------
    prob_map : (C, mh, mw) ndarray
        From :func:`probability_map`.
    classes : list of str
        Channel names; ``background`` never gets boxes.
    cell : int
        Image pixels per map cell.
    height, width : int
        Image size: boxes are clipped to it.
    threshold : float
        A cell belongs to a box of class ``c`` when ``c`` has the highest probability there and it is
        at least ``threshold``.
    min_box : int
        Boxes narrower or lower than this many pixels are dropped.

    Returns
    -------
    list of dict
        ``{"x", "y", "w", "h", "label", "score"}`` (score: the mean probability of the class over the
        component), best score first.
    """
    prob_map = np.asarray(prob_map, dtype=np.float32)
    winner = prob_map.argmax(axis=0)
    boxes = []
    for c, name in enumerate(classes):
        if name == BACKGROUND:
            continue
        mask = ((winner == c) & (prob_map[c] >= threshold)).astype(np.uint8)
        if not mask.any():
            continue
        n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        for k in range(1, n):
            cx, cy, cw, ch = (int(v) for v in stats[k, :4])
            x0, y0 = cx * cell, cy * cell
            x1, y1 = min(width, (cx + cw) * cell), min(height, (cy + ch) * cell)
            if x1 - x0 < min_box or y1 - y0 < min_box:
                continue
            score = float(prob_map[c][labels == k].mean())
            boxes.append({"x": int(x0), "y": int(y0), "w": int(x1 - x0), "h": int(y1 - y0),
                          "label": str(name), "score": round(score, 4)})
    boxes.sort(key=lambda b: -b["score"])
    return boxes


def _pairwise(a, b):
    """(IoU, intersection over the smaller area) of two (M, 4) / (K, 4) box arrays."""
    return pairwise_overlap(a, b)


def boxes_from_windows(probs, windows, classes, threshold=0.5, min_box=1, max_iou=0.3, max_inside=0.5):
    """Boxes from classified windows by per-class non-maximum suppression.

    Parameters
    ----------
    probs : (M, C) ndarray
        Window probabilities, columns named by ``classes``.
    windows : (M, 4) ndarray of int
        ``x0, y0, x1, y1``.
    classes : list of str
        ``background`` never gets boxes.
    threshold : float
        A window is a candidate when its best defect class has at least this probability.
    min_box : int
        Windows narrower or lower than this are ignored.
    max_iou, max_inside : float
        A candidate is suppressed by a better kept window of the same class when their IoU reaches
        ``max_iou`` or ``max_inside`` of the smaller one lies inside the other (windows of several sizes).

    Returns
    -------
    list of dict
        ``{"x", "y", "w", "h", "label", "score"}``, best score first.

    Examples
    --------
    >>> wins = np.array([[0, 0, 10, 10], [2, 0, 12, 10], [30, 30, 40, 40]])
    >>> probs = np.array([[0.1, 0.9], [0.2, 0.8], [0.3, 0.7]])
    >>> [(b["x"], b["label"]) for b in boxes_from_windows(probs, wins, ["background", "pit"])]
    [(0, 'pit'), (30, 'pit')]
    """
    probs = np.asarray(probs, dtype=np.float64)
    windows = np.asarray(windows, dtype=np.int64)
    defect = np.array([c != BACKGROUND for c in classes])
    if not defect.any() or len(windows) == 0:
        return []
    cols = np.flatnonzero(defect)
    best = cols[probs[:, cols].argmax(axis=1)]
    score = probs[np.arange(len(probs)), best]
    return suppress(score, best, windows, classes, threshold, min_box=min_box, max_iou=max_iou,
                    max_inside=max_inside)


def _window_crops(image, windows):
    return [image[y0:y1, x0:x1] for x0, y0, x1, y1 in windows.tolist()]


def _overlap_fraction(windows, boxes):
    """(M,) largest fraction of each window's area inside one of ``boxes`` ((K, 4) x0, y0, x1, y1)."""
    if len(boxes) == 0:
        return np.zeros(len(windows))
    w = windows[:, None, :].astype(np.float64)
    b = np.asarray(boxes, dtype=np.float64)[None, :, :]
    iw = np.clip(np.minimum(w[..., 2], b[..., 2]) - np.maximum(w[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(w[..., 3], b[..., 3]) - np.maximum(w[..., 1], b[..., 1]), 0, None)
    area = (w[..., 2] - w[..., 0]) * (w[..., 3] - w[..., 1])
    return (iw * ih / np.maximum(area, 1.0)).max(axis=1)


def background_windows(image, boxes, sides, per_image=2, rng=None, stride=0.5, searched=False):
    """Windows of a plate that overlap none of its boxes (the ``background`` class).

    Parameters
    ----------
    image : ndarray
        The plate (grey or RGB).
    boxes : sequence of (x0, y0, x1, y1)
        Every boxed defect of the plate, whatever its label.
    sides : sequence of int or (int, int)
        Window sizes (those the run locates with).
    per_image : int
        Windows drawn at random among those with at most 10 % of their area inside any box.
    rng : numpy.random.Generator or None
    searched : bool
        Draw them among the windows of :func:`search_windows` (60 % of them where the plate stands out of
        its texture) instead of the grid: a plate too large for the locator's window budget is looked at
        that way, and its background class must know the marks that stand out without being defects (on
        synthetic 2048 x 1600 plates, two runs of ``benchmarks/locate_synthetic.py``: box precision 0.66 ->
        0.82 at recall 0.67 -> 0.69).

    Returns
    -------
    list of ndarray
        The window crops (views of ``image``).
    """
    rng = np.random.default_rng(0) if rng is None else rng
    h, w = image.shape[:2]
    cand = (search_windows(image, sides, stride, 1000) if searched
            else sliding_windows(h, w, sides, stride=stride, max_windows=1000))
    # a window as large as the whole plate is never background when the plate has a box
    cand = cand[(cand[:, 2] - cand[:, 0]) * (cand[:, 3] - cand[:, 1]) < 0.8 * h * w] if len(boxes) else cand
    keep = cand[_overlap_fraction(cand, boxes) <= _MAX_OVERLAP]
    if len(keep) == 0:
        return []
    pick = rng.choice(len(keep), size=min(per_image, len(keep)), replace=False)
    return _window_crops(image, keep[np.sort(pick)])


# -- the locator model -----------------------------------------------------------------------------

def _content_sha(arr):
    h = hashlib.sha256(f"{arr.shape}|{arr.dtype.str}|".encode())
    h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def _training_items(ws, run):
    """The run's training items with their size, parent plate and box (rows of the items table)."""
    ids = [int(i["item_id"]) for i in run["items"]]
    labels = {int(i["item_id"]): i["label"] for i in run["items"]}
    rows = []
    with ws.read() as conn:
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            rows += [dict(r) for r in conn.execute(
                f"SELECT id, sha256, blob, source, width, height, parent_id, box FROM items WHERE id IN "
                f"({','.join('?' * len(chunk))})", chunk)]
    for r in rows:
        r["label"] = labels[r["id"]]
    rows.sort(key=lambda r: r["id"])
    return rows


def _plate_boxes(ws, plate_ids, with_open=False):
    """{plate id: [(x0, y0, x1, y1), ...]} of every (not deleted) crop cut from each plate; with ``with_open``
    also the boxes its latest search found that nobody decided (maybe defects: no "no defect" window there,
    :func:`~defectlab.learn.plate_review.open_boxes`)."""
    out = {int(p): [] for p in plate_ids}
    if with_open:
        from defectlab.learn.plate_review import open_boxes

        for pid, boxes in open_boxes(ws, list(out)).items():
            out[pid] += boxes
    ids = list(out)
    with ws.read() as conn:
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            for r in conn.execute(
                    f"SELECT parent_id, box FROM items WHERE deleted_at IS NULL AND box IS NOT NULL AND "
                    f"parent_id IN ({','.join('?' * len(chunk))})", chunk):
                try:
                    box = [float(v) for v in json.loads(r["box"])][:4]
                except (TypeError, ValueError):
                    continue
                if len(box) == 4:
                    out[int(r["parent_id"])].append(box)
    return out


def _background_set(ws, rows, sides, per_plate, seed):
    """Background window crops from the plates the training crops were cut from (capped in number)."""
    from defectlab.store import get_item, load_item_image

    plate_ids = sorted({int(r["parent_id"]) for r in rows if r["parent_id"] is not None})
    if not plate_ids:
        return []
    counts = {}
    for r in rows:
        counts[r["label"]] = counts.get(r["label"], 0) + 1
    cap = max(_MIN_BACKGROUND, 2 * int(np.median(list(counts.values()))))
    # few plates (a handful drawn on the Cut-crops page): more windows from each
    per_plate = int(np.clip(np.ceil(cap / len(plate_ids)), per_plate, 40))
    rng = np.random.default_rng(seed)
    order = rng.permutation(plate_ids)
    boxes = _plate_boxes(ws, plate_ids, with_open=True)
    crops = []
    for pid in order.tolist():
        if len(crops) >= cap:
            break
        try:
            image = load_item_image(ws, get_item(ws, pid))
        except DefectlabError:
            continue  # a plate whose file is gone: skip it, the crops still train
        varied = sorted({(max(8, round(_wh(s)[0] * f)), max(8, round(_wh(s)[1] * f)))
                         for s in sides for f in (0.75, 1.0, 1.5)})
        h, w = image.shape[:2]
        # a plate the locator searches (its grid over the budget): background from where it will look
        searched = not _grid_fits(h, w, sides, LocateSettings.stride, LocateSettings.max_windows)
        crops += background_windows(image, boxes[pid], varied, per_image=per_plate, rng=rng, stride=0.25,
                                    searched=searched)
    return crops[:cap]


def dismissed_boxes(ws, project_id, before=None):
    """Boxes a person dismissed (false positives) on the live plates of a project: hard negatives.

    A box counts when the latest decision on it (:func:`defectlab.learn.plate_review.decide_box`) that was not
    undone (:func:`~defectlab.learn.plate_review.undo_box`; with ``before``: not undone by then) is ``dismissed``.
    The locator adds their crops to its ``background`` class (see the module notes).

    Parameters
    ----------
    ws : Workspace or path
    project_id : int
    before : str or None
        Only decisions recorded at or before this time (``YYYY-mm-ddTHH:MM:SS...`` as stored; a run's
        ``created_at``: the decisions a run's locator learns from do not change after the run).

    Returns
    -------
    dict
        ``{plate id: [((x0, y0, x1, y1), crop id or None), ...]}`` (image pixels), plates and boxes in
        decision order.
    """
    from defectlab.learn.plate_review import _live
    from defectlab.store.workspace import as_workspace

    ws = as_workspace(ws)
    sql = ("SELECT r.plate_id, r.boxes, d.box_index, d.crop_id FROM locate_decisions d "
           "JOIN locate_results r ON r.id = d.result_id JOIN items i ON i.id = r.plate_id "
           "WHERE r.project_id = ? AND i.deleted_at IS NULL AND d.decision = 'dismissed' "
           "AND d.id = (SELECT MAX(e.id) FROM locate_decisions e WHERE e.result_id = d.result_id "
           f"AND e.box_index = d.box_index AND {_live('e', until=True)})")  # undone: no decision from its undo on
    args = [int(project_id), before, before]
    if before is not None:
        sql += " AND d.created_at <= ?"
        args.append(str(before))
    out = {}
    with ws.read() as conn:
        for r in conn.execute(sql + " ORDER BY d.id", args):
            try:
                b = json.loads(r["boxes"])[int(r["box_index"])]
                box = (float(b["x"]), float(b["y"]), float(b["x"]) + float(b["w"]), float(b["y"]) + float(b["h"]))
            except (TypeError, ValueError, KeyError, IndexError):
                continue
            out.setdefault(int(r["plate_id"]), []).append((box, r["crop_id"]))
    return out


def _hard_negatives(ws, run, rows, cap, exclude=()):
    """Crops of the dismissed boxes of the run's project (recorded before the run), for the background.

    Left out: boxes on ``exclude`` plates (held out for the ranker), boxes whose crop is already a training
    item of the run (a project with a ``background`` class stores dismissals as crops), and boxes that
    overlap a boxed defect of their plate by more than 10 % of their area (the defect was drawn later).
    At most ``cap`` crops, the most recent decisions last to go.
    """
    from defectlab.store import get_item, load_item_image

    found = dismissed_boxes(ws, run["project_id"], before=run.get("created_at"))
    train_ids = {int(r["id"]) for r in rows}
    found = {p: v for p, v in found.items() if p not in set(exclude)}
    truth = _plate_boxes(ws, list(found))
    crops = []
    for pid, entries in found.items():
        keep = [box for box, crop in entries if crop is None or int(crop) not in train_ids]
        keep = [b for b in keep if _overlap_fraction(np.array([b], np.float64), truth[pid])[0] <= _MAX_OVERLAP]
        if not keep:
            continue
        try:
            image = load_item_image(ws, get_item(ws, pid))
        except DefectlabError:
            continue
        h, w = image.shape[:2]
        for x0, y0, x1, y1 in keep:
            x0, y0 = int(max(0, np.floor(x0))), int(max(0, np.floor(y0)))
            x1, y1 = int(min(w, np.ceil(x1))), int(min(h, np.ceil(y1)))
            if x1 - x0 >= 8 and y1 - y0 >= 8:
                crops.append(image[y0:y1, x0:x1])
    return crops[-cap:] if cap else []


def _locator_paths(ws, run):
    from defectlab.learn.runs import _run_dir

    return _run_dir(ws, run) / LOCATOR_DIR


def locator_for_run(ws, run_id, background=True, per_plate=2, scales=3):
    """The model that locates with a run: the run's model, or its locator with the background class.

    The locator is trained on first use (see the module notes) and stored in ``runs/<run-id>/locator/``;
    later calls load it (checksums verified).

    Parameters
    ----------
    ws : Workspace or path
    run_id : str
    background : bool
        Use the background class when the run's crops come from plates.
    per_plate : int
        Background windows drawn per plate, at least (more when the project has few plates: about
        twice the median class size in all, at most 40 per plate).
    scales : int
        Number of window sides taken from the training crops (the crops cut from plates when there
        are at least 10 of them: loose crops are often framed differently).

    Returns
    -------
    model : estimator
        ``predict_proba`` columns follow ``classes``.
    classes : list of str
    info : dict
        ``spec`` (FeatureSpec), ``sides`` (window sizes: the square sides of :func:`window_sides`, then
        the elongated ``(width, height)`` shapes of :func:`window_shapes`), ``background`` (bool),
        ``n_background`` (background windows, the dismissed boxes included), ``n_dismissed`` (hard
        negatives: crops of boxes a person dismissed before the run, :func:`dismissed_boxes`),
        ``ranker`` (:class:`~defectlab.learn.box_ranker.BoxRanker` or None), ``scorer``
        (:class:`~defectlab.learn.box_proposals.BoxScorer` or None), ``n_ranker_plates`` (held-out
        plates they were learned from), ``run`` (the run record).

    Raises
    ------
    InputError
        The run has no training items, or its project is ordinal (grades of whole images: nothing to box).
    """
    from defectlab.features import feature_names
    from defectlab.learn.runs import get_run, load_run_model
    from defectlab.store import get_project
    from defectlab.store.workspace import as_workspace

    ws = as_workspace(ws)
    model, run, spec = load_run_model(ws, run_id)
    run = get_run(ws, run_id, with_items=True)
    project = get_project(ws, run["project_id"], include_deleted=True)
    if project.ordinal:  # a grade belongs to the whole photo: windows of it have no grade of their own to box
        raise InputError(msg("error.locate.ordinal", "{project} grades whole images on an ordinal scale: there are "
                             "no defects to locate. Predict grades whole photos (large ones tile by tile).",
                             project=project.name))
    rows = _training_items(ws, run)
    if not rows:
        raise InputError(msg("error.locate.run_has_no_training",
                "Run {run_id} has no training items; it cannot locate defects.",
                run_id=run_id))
    # defects as they appear on plates: the boxes cut from plates when there are enough of them
    boxed = [r for r in rows if r["parent_id"] is not None]
    sized = boxed if len(boxed) >= 10 else rows
    sizes = [r["width"] for r in sized], [r["height"] for r in sized]
    sides = window_sides(*sizes, scales) + window_shapes(*sizes)
    info = {"spec": spec, "sides": sides, "background": False, "n_background": 0, "ranker": None,
            "n_ranker_plates": 0, "n_dismissed": 0, "scorer": None, "run": run}
    classes = [str(c) for c in model.classes_]
    if not (background and boxed):
        return model, classes, info
    directory = _locator_paths(ws, run)
    key = {"format": _LOCATOR_FORMAT, "run_id": run["run_id"], "per_plate": int(per_plate),
           "sides": [list(s) if isinstance(s, tuple) else s for s in sides], "spec_hash": spec.hash}
    found = _stored_locator(directory, key, len(feature_names(spec)))
    if found is None:
        found = _train_locator(ws, run, rows, spec, sides, per_plate, directory, key)
    if found is None:  # no plate has room for a background window
        return model, classes, info
    loc, n_background, (ranker, scorer), n_ranker_plates, n_dismissed = found
    info.update(background=True, n_background=n_background, ranker=ranker, scorer=scorer,
                n_ranker_plates=n_ranker_plates, n_dismissed=n_dismissed)
    return loc, [str(c) for c in loc.classes_], info


def stored_box_quality(ws, run_id):
    """What the run's stored locator's boxes were like on the plates it learned from, without loading a model.

    The numbers of its box scorer's estimate (:attr:`~defectlab.learn.box_proposals.BoxScorer.estimate`, out of
    fold): of its crop stage when it has one (the boxes on images the size of those plates), else of its
    map scorer, at the calibrated thresholds. For comparing runs: nothing is trained here.

    Parameters
    ----------
    ws : Workspace or path
    run_id : str

    Returns
    -------
    dict or None
        ``{"recall", "precision", "errors"}`` (``errors``: ``{kind: count}`` of
        :data:`~defectlab.learn.box_ranker.ERROR_KINDS`, or None for a locator stored before it had them), or
        None when the run has no stored locator of the current format (not located with yet, a project without
        plates, an older format: it is retrained on first use), no box scorer, or damaged numbers.
    """
    from defectlab.learn.box_proposals import _estimate_values, expected_from
    from defectlab.learn.runs import get_run
    from defectlab.store.run_files import read_meta
    from defectlab.store.workspace import as_workspace

    ws = as_workspace(ws)
    try:
        extra = read_meta(_locator_paths(ws, get_run(ws, run_id, with_items=False))).get("extra")
        if not isinstance(extra, dict):
            return None
        key, scorer = extra.get("key"), extra.get("scorer")
        if not (isinstance(key, dict) and key.get("format") == _LOCATOR_FORMAT and isinstance(scorer, dict)):
            return None
        stage = scorer.get("crop") if isinstance(scorer.get("crop"), dict) else scorer
        estimate = _estimate_values(stage.get("estimate"))
    except ArtifactError:
        return None
    if estimate is None:
        return None
    recall, precision = expected_from(estimate)
    return {"recall": recall, "precision": precision, "errors": estimate.get("errors")}


def _stored_scorer(directory, data, n_features):
    """The stored box scorer (and its crop stage, whose crop columns must be the run's ``n_features``)."""
    from defectlab.learn.artifacts import load_model

    def trees(name, wanted):
        return load_model(directory / name) if wanted else None

    crop = data.get("crop") if isinstance(data, dict) else None
    crop_tight = isinstance(crop, dict) and crop.get("tight") is True
    scorer = BoxScorer.from_meta(data, load_model(directory / SCORER_DIR), trees(CROP_SCORER_DIR, crop is not None),
                                 trees(SCORER_DIR + TIGHT_SUFFIX, isinstance(data, dict) and data.get("tight") is True),
                                 trees(CROP_SCORER_DIR + TIGHT_SUFFIX, crop_tight))
    if scorer.crop is not None and scorer.crop.n_crop != n_features:
        raise ArtifactError(msg("error.box_proposals.damaged_values",
                                "The locator's box scorer is damaged (wrong sizes or values)."))
    return scorer


def _stored_locator(directory, key, n_features):
    """(model, n_background, (ranker, scorer), n_ranker_plates, n_dismissed) of a stored locator made for
    ``key``, else None (absent, damaged, outdated); ``n_features``: the run's feature columns."""
    from defectlab.learn.artifacts import load_model, read_meta

    try:
        meta = read_meta(directory)
        extra = meta.get("extra") or {}
        if extra.get("key") == key:
            ranker = None if extra.get("ranker") is None else BoxRanker.from_dict(extra["ranker"])
            scorer = None if extra.get("scorer") is None else _stored_scorer(directory, extra["scorer"], n_features)
            return (load_model(directory), int(extra["n_background"]), (ranker, scorer),
                    int(extra["n_ranker_plates"]), int(extra["n_dismissed"]))
    except (ArtifactError, KeyError, TypeError, ValueError):
        pass
    return None


def _train_locator(ws, run, rows, spec, sides, per_plate, directory, key):
    """Fit and store the locator (the run's crops + background windows) and its box ranker.

    Returns (model, n_background, (ranker or None, scorer or None), n_ranker_plates, n_dismissed), or None
    without background windows.
    """
    from defectlab.features import feature_names
    from defectlab.learn.artifacts import save_model

    seed = int(run.get("seed") or 0)
    fitted = _fit_locator(ws, run, rows, spec, sides, per_plate, seed)
    if fitted is None:
        return None
    loc, n_background, n_dismissed = fitted
    ranker, scorer, n_plates = _learn_ranker(ws, run, rows, spec, sides, per_plate, seed)
    for stage, name, columns in [
            (scorer, SCORER_DIR, PROPOSAL_FEATURES),
            (scorer and scorer.crop, CROP_SCORER_DIR,
             [*PROPOSAL_FEATURES, *CROP_FEATURES, *(f"crop:{n}" for n in feature_names(spec))])]:
        for trees, path in [] if stage is None else [(stage.model, name), (stage.tight, name + TIGHT_SUFFIX)]:
            if trees is not None:
                save_model(trees, directory / path, feature_names=[*columns, *(f"is_{c}" for c in stage.classes)])
    save_model(loc, directory, feature_names=list(feature_names(spec)),
               extra={"key": key, "n_background": n_background, "classes": [str(c) for c in loc.classes_],
                      "ranker": None if ranker is None else ranker.to_dict(), "n_ranker_plates": n_plates,
                      "n_dismissed": n_dismissed, "scorer": None if scorer is None else scorer.meta()})
    return loc, n_background, (ranker, scorer), n_plates, n_dismissed


def _fit_locator(ws, run, rows, spec, sides, per_plate, seed, exclude=()):
    """(model, n_background, n_dismissed) trained on ``rows`` + background windows of their plates + the
    project's dismissed boxes (hard negatives, not on ``exclude`` plates), or None."""
    from defectlab.learn.models import make_model

    bg = _background_set(ws, rows, sides, per_plate, seed)
    if not bg:
        return None
    hard = _hard_negatives(ws, run, rows, cap=len(bg), exclude=exclude)
    bg = bg + hard
    X = np.vstack([_item_features(ws, run["run_id"], [r["id"] for r in rows]), _crop_features(ws, bg, spec)])
    y = np.array([r["label"] for r in rows] + [BACKGROUND] * len(bg))
    params = run.get("params") or {}
    loc = make_model(run["model"], params.get("model_preset", "fast"), random_state=seed, n_jobs=1,
                     class_weight=params.get("class_weight", "balanced"))
    loc.fit(X, y)
    return loc, len(bg), len(hard)


def _plate_truth(rows):
    """{plate id: [(label, (x0, y0, x1, y1)), ...]} of the run's crops cut from plates."""
    out = {}
    for r in rows:
        if r["parent_id"] is None or not r.get("box"):
            continue
        try:
            box = tuple(float(v) for v in json.loads(r["box"])[:4])
        except (TypeError, ValueError):
            continue
        if len(box) == 4:
            out.setdefault(int(r["parent_id"]), []).append((r["label"], box))
    return out


def _held_out_groups(plate_ids, seed):
    """Groups of plates held out in turn to learn the ranker.

    Each group's windows are scored by a locator that did not see it (cross-fitting). With at least
    ``_RANK_MIN_PLATES`` plates: two halves of at most ``_RANK_MAX_PLATES`` plates in all (the scorers
    learn from every plate of a 240-plate project: on NEU, learning from 240 held-out plates instead of 120
    raised the F1 of the boxes from 0.49 to 0.56 on validation plates). With fewer (a handful of plates
    boxed on the Cut-crops page, the demo): every plate in turn, in up to four groups.
    """
    rng = np.random.default_rng(seed + 1)
    plates = sorted(plate_ids)
    if len(plates) >= _RANK_MIN_PLATES:
        chosen = rng.permutation(plates)[:_RANK_MAX_PLATES]
        return [{int(p) for p in chosen[i::2]} for i in range(2)]
    order = rng.permutation(plates)
    k = min(len(plates), 4)
    return [{int(p) for p in order[i::k]} for i in range(k)]


def _aligned(probs, have, classes):
    """Probability columns ``have`` placed as ``classes`` (a class the fold's locator lacks gets 0)."""
    out = np.zeros((len(probs), len(classes)))
    for j, c in enumerate(have):
        out[:, classes.index(c)] = probs[:, j]
    return out


def _learn_ranker(ws, run, rows, spec, sides, per_plate, seed):
    """(BoxRanker or None, BoxScorer or None, n held-out plates): locators without some plates score their
    windows.

    The held-out plates are those of :func:`_held_out_groups` (a third of the boxed plates, or, with
    fewer than ``_RANK_MIN_PLATES``, every plate in turn); a locator trained on the other crops and plates
    classifies the held-out plates' windows, and the ranker learns which of them match the plates' boxes
    (:meth:`BoxRanker.fit`); the box scorer learns which proposals made from their maps do
    (:meth:`~defectlab.learn.box_proposals.BoxScorer.fit`). Needs at least 2 boxed plates.
    """
    from defectlab.store import get_item, load_item_image

    truth = _plate_truth(rows)
    # a partly reviewed plate (its latest search has boxes nobody decided) does not have all its defects boxed:
    # its crops train, but the ranker and scorer do not learn from it
    from defectlab.learn.plate_review import open_boxes

    for pid in open_boxes(ws, list(truth)):
        truth.pop(pid, None)
    if len(truth) < 2:
        return None, None, 0
    classes = sorted({str(r["label"]) for r in rows} | {BACKGROUND})
    # the image's own marks as candidates: ~90 a plate, each as every class; from a few plates the crop stage
    # learns them badly (the demo's 4 plates: precision 0.67 -> 0.35 on new plates), so only from 8 on
    structure = len(truth) >= _RANK_MIN_PLATES
    plates, crop_plates = [], []
    for held in _held_out_groups(truth, seed):
        fitted = _fit_locator(ws, run, [r for r in rows if r["parent_id"] not in held], spec, sides, per_plate,
                              seed, exclude=held)
        if fitted is None:
            continue
        loc = fitted[0]
        for pid in sorted(held):
            try:
                image = load_item_image(ws, get_item(ws, pid))
            except DefectlabError:
                continue
            h, w = image.shape[:2]
            windows = search_windows(image, sides, LocateSettings.stride, LocateSettings.max_windows)
            # through the workspace's feature cache: the next run's locator (same plates, same features)
            # classifies the same windows without extracting them again
            X = _crop_features(ws, _window_crops(image, windows), spec)
            probs = _aligned(_predict(loc, X), [str(c) for c in loc.classes_], classes)
            plates.append((probs, windows, h, w, truth[pid]))
            crop_plates.append(_crop_candidates(loc, spec, classes, image, windows, X, probs, truth[pid],
                                                structure, _min_span(sides)))
    if len(plates) < 2:
        return None, None, 0
    ranker = BoxRanker.fit(plates, classes, BACKGROUND, random_state=seed)
    size = (int(np.median([p[3] for p in plates])), int(np.median([p[2] for p in plates])))
    # the map-only scorer boxes images proposed without their pixels (tile by tile): no structure candidates
    kind = PROPOSAL_FEATURES.index("kind")
    mapped = [(b[m], lab[m], f[m], t) for b, lab, f, _, t in crop_plates for m in [f[:, kind] != KIND_STRUCTURE]]
    scorer = BoxScorer.fit(mapped, classes, BACKGROUND, random_state=seed, plate_size=size)
    if scorer is not None:
        n_crop = crop_plates[0][3].shape[1] - len(CROP_FEATURES)
        scorer.crop = BoxScorer.fit([(b, lab, np.column_stack([f, c]), t) for b, lab, f, c, t in crop_plates],
                                    classes, BACKGROUND, random_state=seed, plate_size=size, n_crop=n_crop)
        if scorer.crop is not None:
            scorer.crop.structure = structure
    return ranker, scorer, len(plates)


def _crop_candidates(loc, spec, classes, image, windows, X, probs, truth, structure=True, min_side=None):
    """(boxes, labels, map numbers, crop columns, truth): a held-out plate's candidates with the crop stage's
    columns (float32: 240 plates of them are kept), its crops classified by the locator ``loc`` that did not
    see the plate; with ``structure``, the plate's :func:`~defectlab.learn.box_proposals.structure_boxes`
    among them."""
    from defectlab.features import extract

    h, w = image.shape[:2]
    pmap, cell = probability_map(probs, windows, h, w)
    b, lab, feats = propose(probs, windows, classes, pmap, cell, h, w, BACKGROUND,
                            image=image if structure else None, min_side=min_side)

    def classify(crops):
        Xc = np.asarray(extract(crops, spec), dtype=np.float64)
        return Xc, _aligned(_predict(loc, Xc), [str(c) for c in loc.classes_], classes)

    cols = crop_numbers(b, lab, windows, X, probs, classes, cell, image, classify, BACKGROUND)
    return b, lab, feats, cols.astype(np.float32), truth


def _item_features(ws, run_id, item_ids):
    from defectlab.learn.runs import run_features

    return run_features(ws, run_id, item_ids, n_jobs=1)


def _crop_features(ws, crops, spec):
    """Features of in-memory crops through the workspace feature cache (keyed by their pixels)."""
    from defectlab.features import extract_cached

    by_sha = {}
    for c in crops:
        by_sha.setdefault(_content_sha(c), c)
    shas = [_content_sha(c) for c in crops]
    X = extract_cached(shas, lambda s: [by_sha[k] for k in s], spec, cache_dir=ws.features_dir)
    return np.asarray(X, dtype=np.float64)


# -- locating --------------------------------------------------------------------------------------

def _predict(model, X, chunk=512):
    return np.vstack([model.predict_proba(X[s:s + chunk]) for s in range(0, len(X), chunk)])


def locate_image(image, model, classes, spec, sides, settings=None, source="", ranker=None, scorer=None):
    """Locate defects on one image with a fitted crop model.

    Parameters
    ----------
    image : (H, W) or (H, W, 3) ndarray of np.uint8
        The plate (grey or RGB).
    model : estimator
        A fitted classifier on ``spec``'s features (e.g. from :func:`locator_for_run`).
    classes : list of str
        ``model.predict_proba`` column names.
    spec : FeatureSpec
    sides : sequence of int or (int, int)
        Window sizes (pixels: a square's side or ``(width, height)``) unless ``settings.window_sides`` is
        set.
    settings : LocateSettings or None
    source : str
        Name recorded in the result.
    ranker : BoxRanker or None
        The locator's box ranker (``info["ranker"]`` of :func:`locator_for_run`), used by the ``auto``
        and ``ranked`` methods.
    scorer : BoxScorer or None
        The locator's box scorer (``info["scorer"]``), used by the ``auto`` and ``proposals`` methods.

    Returns
    -------
    PlateResult
    """
    from defectlab.features import extract

    settings = settings or LocateSettings()
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim not in (2, 3) or (
            image.ndim == 3 and image.shape[2] != 3) or image.size == 0:
        got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise InputError(msg("error.locate.locate_image_needs_grey",
                "locate_image needs a grey (H, W) or RGB (H, W, 3) uint8 image. Got {got}.",
                got=got))
    h, w = image.shape[:2]
    use = settings.window_sides or tuple(sides)
    windows = search_windows(image, use, settings.stride, settings.max_windows)
    X = np.asarray(extract(_window_crops(image, windows), spec), dtype=np.float64)
    probs = _predict(model, X)
    pmap, cell = probability_map(probs, windows, h, w)
    min_box = min(settings.min_box or max(1, min(min(_wh(s)) for s in use) // 2), min(h, w))
    proposals = None
    if _uses_crop_stage(settings, scorer, h, w):
        b, lab, feats = propose(probs, windows, list(classes), pmap, cell, h, w, BACKGROUND,
                                image=image if scorer.crop.structure else None, min_side=_min_span(use),
                                plate_size=scorer.plate_size)

        def classify(crops):
            Xc = np.asarray(extract(crops, spec), dtype=np.float64)
            return Xc, _predict(model, Xc)

        cols = crop_numbers(b, lab, windows, X, probs, list(classes), cell, image, classify, BACKGROUND)
        proposals = (b, lab, np.column_stack([feats, cols]))
    boxes = _make_boxes(probs, windows, pmap, cell, classes, h, w, settings, (ranker, scorer), min_box, proposals)
    used = _boxing_scorer(settings, scorer, proposals is not None)
    tiled = used is not None and is_tiled(w, h, used.plate_size)
    extra = {"expected": None, "estimate": None} if tiled else _estimates(settings, used)
    extra["tiled"] = tuple(int(v) for v in used.plate_size) if tiled else None
    return PlateResult(width=w, height=h, boxes=boxes, classes=list(classes), prob_map=pmap, cell=cell,
                       n_windows=len(windows), source=str(source), windows=windows,
                       window_probs=probs.astype(np.float32), proposals=proposals, extra=extra)


def _boxing_scorer(settings, scorer, crop_stage):
    """The box scorer (or its crop stage) that makes the boxes with these settings, or None (the ranker or
    the windows make them)."""
    method = settings.method
    if method == "auto" and scorer is not None:
        method = "proposals"
    if method != "proposals" or scorer is None:
        return None
    return scorer.crop if crop_stage and scorer.crop is not None else scorer


def _estimates(settings, used):
    """``PlateResult.extra``'s ``expected`` (at the settings' threshold) and ``estimate`` of the scorer ``used``."""
    if used is None:
        return {"expected": None, "estimate": None}
    return {"expected": used.expected(settings.threshold), "estimate": used.estimate}


def expected_quality(settings, scorer, crop_stage):
    """``(recall, precision)`` the box scorer that makes the boxes had on the plates it learned from (out of
    fold, :meth:`~defectlab.learn.box_proposals.BoxScorer.expected`) at ``settings.threshold`` (None: its
    calibrated thresholds), or None (no scorer makes these boxes, a scorer stored without the numbers, or a
    threshold outside them). ``crop_stage``: the boxes come from its crop stage."""
    used = _boxing_scorer(settings, scorer, crop_stage)
    return None if used is None else used.expected(settings.threshold)


def _uses_crop_stage(settings, scorer, h, w):
    """True when the boxes come from the scorer's crop stage (proposals, a scorer with a crop stage; an image
    much larger than the scorer's plates too, unless ``_CROP_STAGE_LARGER`` is off)."""
    method = "proposals" if settings.method == "auto" and scorer is not None else settings.method
    return (method == "proposals" and scorer is not None and scorer.crop is not None
            and (_CROP_STAGE_LARGER or not is_tiled(w, h, scorer.plate_size)))


def remake_boxes(result, settings, ranker=None, scorer=None):
    """The boxes of a :class:`PlateResult` made again with other settings (threshold, method, min_box).

    The windows are not classified again (``settings.window_sides``, ``stride`` and ``max_windows`` are
    ignored): this is cheap, e.g. for a threshold slider or a precision-recall curve. The box scorer's crop
    stage scores the candidates recorded in ``result.proposals`` (their crops are not cut again); without
    them (a result of another method, or remade with another scorer's crop stage) the map-only scorer does.

    Returns
    -------
    list of dict
        ``{"x", "y", "w", "h", "label", "score"}``, best score first.
    """
    h, w = result.height, result.width
    min_box = _result_min_box(result, settings)
    proposals = result.proposals
    if proposals is not None and (scorer is None or scorer.crop is None
                                  or proposals[2].shape[1] != scorer.crop.n_columns):
        proposals = None
    return _make_boxes(result.window_probs.astype(np.float64), result.windows, result.prob_map, result.cell,
                       result.classes, h, w, settings, (ranker, scorer), min_box, proposals)


def _result_min_box(result, settings):
    """The smallest box side of a :class:`PlateResult`'s boxes: ``settings.min_box``, else half its smallest
    window side, at most the image's shorter side."""
    sides = np.minimum(result.windows[:, 2] - result.windows[:, 0], result.windows[:, 3] - result.windows[:, 1])
    return min(settings.min_box or max(1, int(sides.min(initial=2)) // 2), min(result.height, result.width))


def _make_boxes(probs, windows, pmap, cell, classes, h, w, settings, learned, min_box, proposals=None):
    """Boxes by the settings' method (``auto``: proposals with a scorer, else ranked with a ranker, else
    windows); ``learned`` is (ranker or None, scorer or None); ``proposals`` the candidates with the crop
    stage's columns (scored by ``scorer.crop``), or None."""
    ranker, scorer = learned
    method = settings.method
    if method == "auto":
        method = "proposals" if scorer is not None else "ranked" if ranker is not None else "windows"
    if method == "proposals":
        if scorer is None:
            raise InputError(msg("error.locate.proposals_needs_scorer",
                                 "LocateSettings(method='proposals') needs a locator with a box scorer: the run's "
                                 "crops must come from at least 2 boxed plates."))
        if proposals is not None and scorer.crop is not None:
            other = _OTHER_IOU_LARGER if is_tiled(w, h, scorer.plate_size) else None
            return scorer.crop.boxes(*proposals, list(classes), settings.threshold, min_box, other)
        boxes, labels, feats = propose_tiled(probs, windows, list(classes), pmap, cell, h, w, scorer.plate_size,
                                             BACKGROUND)
        return scorer.boxes(boxes, labels, feats, list(classes), settings.threshold, min_box)
    if method == "ranked":
        if ranker is None:
            raise InputError(msg("error.locate.ranked_needs_ranker",
                                 "LocateSettings(method='ranked') needs a locator with a box ranker: the run's "
                                 "crops must come from at least {n} boxed plates.", n=2))
        feats, best = candidate_features(probs, windows, classes, h, w, BACKGROUND)
        scores = ranker.score(feats, np.asarray(classes)[best])
        names = np.asarray(classes)[best]
        threshold = ranker.thresholds_for(names) if settings.threshold is None else settings.threshold
        return suppress(scores, best, windows, classes, threshold, min_box)
    threshold = 0.5 if settings.threshold is None else settings.threshold
    if method == "windows":
        return boxes_from_windows(probs, windows, classes, threshold, min_box)
    return boxes_from_map(pmap, classes, cell, h, w, threshold, min_box)


_LOCATE_PURPOSES = {"predict": "predict", "cut": "cut_crops"}


def _prepared(ws, project, run_id, settings, user, purpose="predict"):
    from defectlab.learn.runs import _require, resolve_run
    from defectlab.store.workspace import as_workspace

    if purpose not in _LOCATE_PURPOSES:
        raise InputError(msg("error.locate.purpose", "The 'purpose' parameter of locate_item must be 'predict' or "
                             "'cut'. Got {purpose}.", purpose=repr(purpose)[:40]))
    ws = as_workspace(ws)
    _require(ws, user, _LOCATE_PURPOSES[purpose])
    run_id = resolve_run(ws, project, run_id)
    model, classes, info = locator_for_run(ws, run_id, background=settings.background, scales=settings.scales)
    return ws, run_id, model, classes, info


def locate_item(ws, project, item_id, run_id=None, settings=None, user="local", purpose="predict"):
    """Locate defects on a stored image (e.g. a plate added on the Predict page).

    ``purpose``: ``"predict"`` (the Predict page: ``user`` needs ``predict``) or ``"cut"`` (the Cut crops page's
    suggested boxes, which an annotator accepts, moves or deletes: ``cut_crops``; nothing is recorded).

    Returns
    -------
    PlateResult
        ``extra`` holds ``run_id``, ``item_id`` and ``background`` (whether the locator has that class).
    """
    from defectlab.store import get_item, get_project, load_item_image

    settings = settings or LocateSettings()
    ws, run_id, model, classes, info = _prepared(ws, project, run_id, settings, user, purpose)
    proj = get_project(ws, project)
    item = get_item(ws, int(item_id))
    if item["project_id"] != proj.id:
        raise InputError(msg("error.locate.item_belongs_another_project",
                "Item {item_id} belongs to another project.",
                item_id=item_id))
    result = locate_image(load_item_image(ws, item), model, classes, info["spec"], info["sides"], settings,
                          source=item["source"], ranker=info["ranker"], scorer=info["scorer"])
    result.extra.update(run_id=run_id, item_id=int(item["id"]), background=info["background"])
    return result


_SIDECARS = {".xml", ".txt", ".json", ".csv", ".yaml", ".yml", ".md", ".names"}


def _image_files(source):
    """(root, files): one file, or every visible file under a folder except annotation sidecars."""
    from defectlab.ingest.scan import _walk

    if not isinstance(source, (str, Path)):
        raise InputError(msg("error.locate.source_locate_must_file",
                "The 'source' of locate must be a file or folder path. Got {name}.",
                name=type(source).__name__))
    root = Path(source)
    if not root.exists():
        raise InputError(msg("error.locate.locate_source_does_not",
                "Locate source {source} does not exist.",
                source=source))
    if root.is_file():
        return root.parent, [root]
    return root, [p for p in _walk(root) if p.suffix.lower() not in _SIDECARS]


def locate_source(ws, project, source, run_id=None, settings=None, user="local", progress=None):
    """Locate defects on every image of a file or folder (nothing is stored).

    Parameters
    ----------
    ws : Workspace or path
    project : str or Project
    source : str or Path
        One image file or a folder (searched recursively; annotation and text files are skipped).
    run_id : str or None
        Default: the newest approved run, else the newest.
    settings : LocateSettings or None
    user : str
        Needs the ``predict`` permission.
    progress : callable or None
        ``progress(done, total, message)``.

    Returns
    -------
    dict
        ``{"run_id", "plates": [{"source", "width", "height", "boxes": [{"x", "y", "w", "h", "label",
        "score"}], "tiled": bool}], "rejected": [{"source", "reason"}], "background": bool, "expected": {"recall",
        "precision"} or None, "expected_errors": {kind: count} or None}``; a file that is not a readable
        image is listed in ``rejected`` with the reason. ``expected``: what such boxes were like on the plates
        the run's box scorer learned from (out of fold, :func:`expected_quality`), for images the size of
        those plates (not for a plate marked ``tiled``: so much larger than those plates that their numbers do not
        hold for it; it gets more wrong boxes); None without a box scorer. ``expected_errors``:
        where that scorer's boxes at its calibrated thresholds went wrong on those plates
        (:data:`~defectlab.learn.box_ranker.ERROR_KINDS`:
        why true boxes were missed, what the wrong boxes were); None without a box scorer or for one stored
        before it had them.
    """
    from defectlab.imaging import load_image

    settings = settings or LocateSettings()
    ws, run_id, model, classes, info = _prepared(ws, project, run_id, settings, user)
    root, files = _image_files(source)
    plates, rejected = [], []
    for k, path in enumerate(files):
        rel = path.relative_to(root).as_posix()
        try:
            image = load_image(path, source=rel)
        except DefectlabError as exc:
            rejected.append({"source": rel, "reason": str(exc)})
            continue
        result = locate_image(image, model, classes, info["spec"], info["sides"], settings, source=rel,
                              ranker=info["ranker"], scorer=info["scorer"])
        plates.append(result.to_dict())
        if progress is not None:
            progress(k + 1, len(files), rel)
    expected = expected_quality(settings, info["scorer"], crop_stage=True)
    used = _boxing_scorer(settings, info["scorer"], True)
    errors = None if used is None or used.estimate is None else used.estimate.get("errors")
    return {"run_id": run_id, "plates": plates, "rejected": rejected, "background": info["background"],
            "expected": None if expected is None else dict(zip(("recall", "precision"), expected, strict=True)),
            "expected_errors": None if errors is None else dict(errors)}
