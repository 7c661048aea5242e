"""The validation benchmark of the box scorer (``benchmarks/locate_validation.py``) still runs on the library.

It uses private pieces of ``box_proposals`` and ``locate`` (the proposals' numbers, the threshold choice); these
tests fail when those change under it, on small synthetic plates (no NEU needed).
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from defectlab.learn.box_ranker import thresholds_from_counts
from defectlab.learn.locate import sliding_windows

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "locate_validation.py"
CLASSES = ["background", "pit", "scratch"]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("locate_validation_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _plates(n=24, seed=0):
    """Plates of 120x120 with one box each; windows inside it lean to its class, the others to background."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        label = CLASSES[1 + k % 2]
        x0, y0 = (int(v) for v in rng.integers(0, 60, 2))
        box = (x0, y0, x0 + int(rng.integers(30, 60)), y0 + int(rng.integers(30, 60)))
        windows = sliding_windows(120, 120, [24, 48])
        inter = (np.clip(np.minimum(windows[:, 2], box[2]) - np.maximum(windows[:, 0], box[0]), 0, None)
                 * np.clip(np.minimum(windows[:, 3], box[3]) - np.maximum(windows[:, 1], box[1]), 0, None))
        share = inter / ((windows[:, 2] - windows[:, 0]) * (windows[:, 3] - windows[:, 1]))
        probs = rng.dirichlet([1, 1, 1], len(windows)) * 0.3
        probs[:, CLASSES.index(label)] += 0.7 * share
        probs[:, 0] += 0.7 * (1 - share)
        out.append({"h": 120, "w": 120, "windows": windows, "probs": probs, "truth": [(label, box)]})
    return out


@pytest.mark.parametrize("variant", ["default", "regress-replace:0.1", "regress-concat:0.3", "plate-evidence",
                                     "recall@precision:0.65", "default:+global", "default:+global+notight",
                                     "default:+iou", "default:+hard", "default:+sigma=0.1",
                                     "default:+suppress=0.3,0.35", "suppress:0.3,0.8", "default:+relsize",
                                     "default:+joint", "default:+jointlow", "default:+leaves=31", "default:+bag=2",
                                     "default:+suppress=0.3,0.4+leaves=7+bag=2", "default:+rerank",
                                     "default:+jointrp=0.6", "default:+refine", "default:+refinekept"])
def test_every_variant_scores_every_true_box_once(bench, variant):
    plates = _plates()
    ctx = bench.Context(CLASSES, plates)
    folds = np.arange(len(plates)) % 3
    bp = bench.bp
    library = (bp._MAX_IOU, bp._MAX_INSIDE, bp._SOFT_SIGMA, bp._TIGHT_IOU, bp._TIGHT_POWER, bp._new_model,
               bp._best_thresholds)
    counts = bench.run_variant(ctx, folds, variant)
    # a variant's switches are put back: the next variant (and the library) runs as shipped
    assert (bp._MAX_IOU, bp._MAX_INSIDE, bp._SOFT_SIGMA, bp._TIGHT_IOU, bp._TIGHT_POWER, bp._new_model,
            bp._best_thresholds) == library
    assert set(counts) == {None, *bench.FIXED, *(("x", v) for v in bench.SCALED)}
    # the calibrated thresholds scaled down keep at least the boxes they keep scaled up
    found = [int(sum(counts[("x", v)].values())[1]) for v in sorted(bench.SCALED)]
    assert found == sorted(found, reverse=True)
    for per_class in counts.values():
        total = sum(per_class.values())
        assert int(total[2]) == len(plates)  # every true box counted once, over the folds
        assert 0 <= int(total[0]) <= min(int(total[1]), int(total[2]))
    # the synthetic boxes are easy: the default scorer finds most of them
    if variant == "default":
        assert bench._score(sum(counts[None].values()))["recall"] >= 0.5


def test_relative_size_columns_are_z_scores_against_the_class_boxes(bench):
    plates = _plates(6)
    ctx = bench.Context(CLASSES, plates)
    cand = {i: ctx.props[i][:3] for i in range(6)}
    out = bench._with_relative_size(ctx, cand, list(range(6)))
    for i in range(6):
        b, _, F = cand[i]
        assert out[i][2].shape == (len(b), F.shape[1] + len(bench.RELATIVE_SIZE))
        np.testing.assert_array_equal(out[i][2][:, :F.shape[1]], F)  # the candidate's own columns unchanged
    # a candidate equal to the mean extent of its class's boxes scores 0; the background (no boxes) scores 0
    boxes = [box for p in plates for lab, box in p["truth"] if lab == "pit"]
    cols = bench._size_columns(boxes)
    z = (cols - cols.mean(0)) / np.maximum(cols.std(0), 0.1)
    one = {0: (np.array(boxes), np.full(len(boxes), CLASSES.index("pit")), np.zeros((len(boxes), 1)))}
    np.testing.assert_allclose(bench._with_relative_size(ctx, one, list(range(6)))[0][2][:, 1:], z)
    bg = {0: (np.array(boxes), np.zeros(len(boxes), np.int64), np.zeros((len(boxes), 1)))}
    np.testing.assert_array_equal(bench._with_relative_size(ctx, bg, list(range(6)))[0][2][:, 1:], 0.0)


def test_regression_targets_and_boxes_stay_on_the_plate(bench):
    plates = _plates(6)
    ctx = bench.Context(CLASSES, plates)
    b, lab, _, _, _ = ctx.props[0]
    label, box = plates[0]["truth"][0]
    Y, ok = bench._targets(np.array([box]), np.array([CLASSES.index(label)]), plates[0]["truth"], CLASSES, 0.3)
    assert ok.tolist() == [True] and np.allclose(Y, 0)  # a proposal equal to its true box needs no offset
    regs = bench._fit_regressors(ctx, range(6), 0.0)
    nb, nlab, F = bench._regressed(ctx, 0, regs, "concat")
    assert len(nb) == 2 * len(b) and (nlab[: len(b)] == lab).all() and F.shape[1] == ctx.props[0][2].shape[1] + 1
    assert (nb[:, :2] >= 0).all() and (nb[:, 2] <= 120).all() and (nb[:, 3] <= 120).all()


def test_plate_numbers_come_from_neu_crop_sources(bench):
    assert bench._plate_no("images/crazing_12.jpg#0") == 12
    assert bench._plate_no("images/pitted_surface_240.jpg") == 240
    with pytest.raises(ValueError, match="not a NEU plate"):
        bench._plate_no("images/plate.jpg#3")


class _FakeOracle:
    """Stands for the validation locator: a crop's probabilities follow its overlap with the plate's box."""

    def __init__(self, plates):
        self.plates = plates
        rng = np.random.default_rng(0)  # the plates' pixels: texture, the box a darker mark (structure variants)
        self.images = []
        for p in plates:
            image = rng.normal(128, 6, (p["h"], p["w"])).clip(0, 255).astype(np.uint8)
            x0, y0, x1, y1 = p["truth"][0][1]
            image[y0:y1, x0:x1] = (image[y0:y1, x0:x1] * 0.6).astype(np.uint8)
            self.images.append(image)

    def probs(self, i, boxes):
        from defectlab.learn.box_ranker import pairwise_overlap

        label, box = self.plates[i]["truth"][0]
        v = pairwise_overlap(np.asarray(boxes, np.float64), np.array([box], np.float64))[0][:, 0]
        P = np.zeros((len(boxes), len(CLASSES)))
        P[:, CLASSES.index(label)], P[:, 0] = 0.2 + 0.8 * v, 0.8 * (1 - v)
        P[:, 3 - CLASSES.index(label)] = 0.0
        return P

    def features(self, i, boxes):
        b = np.asarray(boxes, np.float64)
        return np.column_stack([b[:, 2] - b[:, 0], b[:, 3] - b[:, 1], self.probs(i, boxes)[:, 0]])


@pytest.mark.parametrize("variant", ["suppress:0.3,0.8", "context", "context:crop", "crop-columns", "crop-relabel",
                                     "crop-agnostic", "crop-features", "crop-features:diff",
                                     "crop-features:trees60,0.5", "default:trees60,0.5", "crop-structure",
                                     "crop-structuremap", "crop-structurepix", "crop-structure:+suppress=0.3,0.8",
                                     "crop-structure:trees60,0.8,0.5", "crop-structurectx",
                                     "crop-structure:+power=1", "crop-structure:+rerank"])
def test_the_second_stage_variants_score_every_true_box_once(bench, variant):
    plates = _plates()
    ctx = bench.Context(CLASSES, plates)
    ctx.oracle = _FakeOracle(plates)
    counts = bench.run_variant(ctx, np.arange(len(plates)) % 3, variant)
    total = sum(counts[None].values())
    assert int(total[2]) == len(plates) and 0 <= int(total[0]) <= min(int(total[1]), int(total[2]))
    if variant.startswith(("crop-features", "crop-structure")):  # the crop's pixels tell the box: most are found
        assert bench._score(total)["recall"] >= 0.5


def test_crop_columns_and_context_columns(bench):
    plates = _plates(3)
    ctx = bench.Context(CLASSES, plates)
    P = np.array([[0.1, 0.6, 0.3], [0.7, 0.1, 0.2]])
    np.testing.assert_allclose(bench._crop_columns(ctx, P, np.array([2, 1])), [[0.3, 0.6, 0.1, 1], [0.1, 0.2, 0.7, 1]])
    b = np.array([[0, 0, 100, 100], [10, 10, 40, 40], [50, 50, 80, 80], [10, 10, 40, 40]])
    cols = bench._context_columns(b, np.array([1, 1, 1, 2]), np.array([0.4, 0.9, 0.6, 0.7]))
    assert cols[0].tolist() == [0.4, 2, 0, 0.9, 2, 0]  # the big box holds two confident ones
    assert cols[1].tolist() == [0.9, 0, 0.4, 0, 0, 0.7]  # held by the big box; a scratch competes for its place


def test_notight_restores_the_tight_trees_afterwards_and_recall_at_precision_reads_the_curve(bench):
    import defectlab.learn.box_proposals as bp

    plates = _plates()
    ctx = bench.Context(CLASSES, plates)
    before, power = bp._TIGHT_IOU, bp._TIGHT_POWER
    bench.run_variant(ctx, np.arange(len(plates)) % 3, "default:+notight")
    bench.run_variant(ctx, np.arange(len(plates)) % 3, "default:+power=2")
    assert bp._TIGHT_IOU == before == 0.5 and bp._TIGHT_POWER == power == 0.5
    scores = {"calibrated": {"recall": 0.9, "precision": 0.5}, "@0.3": {"recall": 0.8, "precision": 0.55},
              "@0.4": {"recall": 0.7, "precision": 0.6}, "@0.5": {"recall": 0.6, "precision": 0.7}}
    assert bench.recall_at_precision(scores) == 0.7  # the calibrated boxes are not a point of the fixed curve
    assert bench.recall_at_precision(scores, 0.8) == 0.0
    # along the scaled calibrated thresholds: those points and the calibrated one, not the fixed curve
    scaled = {**scores, "x0.5": {"recall": 0.75, "precision": 0.62}, "x0.7": {"recall": 0.65, "precision": 0.7}}
    assert bench.recall_at_precision(scaled, scaled=True) == 0.75
    assert bench.recall_at_precision(scaled, 0.45, scaled=True) == 0.9


def test_iou_variant_learns_soft_targets_and_restores_the_library(bench):
    import defectlab.learn.box_proposals as bp

    saved_targets, saved_model = bp.proposal_targets, bp._new_model
    targets = bench._soft_targets(saved_targets)
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 20], [50, 50, 60, 60]], np.float64)
    truth = [("pit", (0, 0, 10, 10))]
    soft = targets(boxes, np.array([1, 1, 2]), CLASSES, truth, bp._TIGHT_IOU)
    assert soft.tolist() == [1.0, 0.5, 0.0]  # the IoU with the best box of the candidate's own class
    assert targets(boxes, np.array([1, 1, 2]), CLASSES, truth).dtype == bool  # the match target is untouched
    plates = _plates()
    bench.run_variant(bench.Context(CLASSES, plates), np.arange(len(plates)) % 3, "default:+iou")
    assert bp.proposal_targets is saved_targets and bp._new_model is saved_model


def test_joint_thresholds_move_every_class_to_one_marginal_precision(bench, monkeypatch):
    bp = bench.bp
    # "a" finds its boxes precisely, "b" poorly: each class's own best F1 stops "a" early and lets "b" run on
    counts = {t: {"a": (int(100 * (1 - t)), int(100 * (1 - t) / (0.95 - 0.5 * (1 - t)))),
                  "b": (int(50 * (1 - t)), int(50 * (1 - t) / (0.6 - 0.4 * (1 - t))))} for t in bp._GRID}
    n_true = {"a": 100, "b": 60}
    monkeypatch.setattr(bp, "_threshold_counts", lambda *a: (counts, n_true))
    own = thresholds_from_counts(counts, n_true, ["a", "b"])
    joint = bench._joint_thresholds(bp._GRID)(None, None, None, ["a", "b"])
    assert own == (0.3, {"a": 0.2, "b": 0.4})
    assert joint == (0.3, {"a": 0.15, "b": 0.5})

    def f1(per_class):
        tp = sum(counts[per_class[c]][c][0] for c in "ab")
        return 2 * tp / (sum(counts[per_class[c]][c][1] for c in "ab") + 160)
    assert f1(joint[1]) > f1(own[1])  # the overall F1 is what the joint pick maximises


def test_bagged_scorer_averages_its_seeds(bench):
    X = np.random.default_rng(0).normal(size=(300, 4))
    y = X[:, 0] + 0.5 * np.random.default_rng(1).normal(size=300) > 0
    bag = bench._Bag([bench.bp._new_model(s, 20) for s in (0, 1)]).fit(X, y)
    P = bag.predict_proba(X)
    np.testing.assert_allclose(P, np.mean([m.predict_proba(X) for m in bag.models], axis=0))
    assert bag.n_features_in_ == 4 and P.shape == (300, 2)


def test_flip_adds_mirrored_training_plates_in_the_same_half_and_never_scores_them(bench):
    plates = _plates(12)
    mirrored = [{**p, "truth": bench._flipped_truth(p["truth"], p["w"])} for p in plates]
    assert mirrored[0]["truth"][0][1] == (120 - plates[0]["truth"][0][1][2], plates[0]["truth"][0][1][1],
                                          120 - plates[0]["truth"][0][1][0], plates[0]["truth"][0][1][3])
    image = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert bench._flipped(image).tolist() == [row[::-1] for row in image.tolist()]
    ctx = bench.Context(CLASSES, plates + mirrored)
    ctx.n_original = len(plates)
    train = [0, 2, 3, 5, 7]
    order = bench._with_mirrors(ctx, train)
    assert order == [0, 2, 12, 14, 3, 5, 15, 17, 7]  # an odd last plate without its copy
    half = {i: k % 2 for k, i in enumerate(order)}  # BoxScorer.fit's out-of-fold halves
    assert all(half[i + 12] == half[i] for i in train if i + 12 in half)
    plain = bench.Context(CLASSES, plates)
    assert bench._with_mirrors(plain, train) == train  # without --flip: the training plates as they are
    folds = np.arange(len(plates)) % 3
    counts = bench.run_variant(ctx, folds, "default")
    assert int(sum(counts[None].values())[2]) == len(plates)  # only the originals are scored, each once


def test_joint_recall_thresholds_find_the_most_boxes_at_the_precision_asked(bench, monkeypatch):
    # two classes: "a" has 10 true boxes of 20 found above 0.3, gains 10 true for 10 found down to 0.2 and 2
    # for 10 more down to 0.1; "b" 5 for 5 down to 0.2, then 5 for 20 (added boxes' precision: a 1.0, 0.2;
    # b 1.0, 0.25)
    levels = {0.1: {"a": (22, 40), "b": (10, 25)}, 0.2: {"a": (20, 30), "b": (5, 5)},
              0.3: {"a": (10, 20), "b": (0, 0)}, 1.0: {"a": (0, 0), "b": (0, 0)}}
    grid = bench.bp._ESTIMATE_GRID
    counts = {t: levels[min(v for v in levels if v >= t)] for t in grid}
    n_true = {"a": 30, "b": 12}
    monkeypatch.setattr(bench.bp, "_threshold_counts", lambda *a: (counts, n_true))
    # a and b down to 0.2: 25 of 35 found are true (0.71); a's boxes down to 0.1 too: 27 of 45 (0.6), more
    # found and precision still >= 0.6; b's too: 32 of 65 (0.49), not
    per_class = bench._joint_recall_thresholds(0.6, grid)([None], [None], ["a", "b"], ["a", "b"])[1]
    assert per_class == {"a": 0.1, "b": 0.2}
    # precision 0.99 asked: only b's first 5 boxes (all true); a at its highest threshold, none found
    strict = bench._joint_recall_thresholds(0.99, grid)([None], [None], ["a", "b"], ["a", "b"])[1]
    assert strict == {"a": max(grid), "b": 0.2}



def test_run_variant_errors_account_for_every_miss_and_wrong_box(bench):
    plates = _plates(12)
    ctx = bench.Context(CLASSES, plates)
    errors = {}
    counts = bench.run_variant(ctx, np.arange(len(plates)) % 3, "default", errors)
    assert set(errors) == set(counts)
    for t, per_class in counts.items():
        tp, found, true = (int(v) for v in sum(per_class.values()))
        e = errors[t]
        assert set(e) == set(bench.ERROR_KINDS)
        assert sum(v for k, v in e.items() if k.startswith("missed_")) == true - tp
        assert sum(v for k, v in e.items() if k.startswith("wrong_")) == found - tp
