"""Benchmark: defects located on new synthetic plates with several defects each, box scorer with and without
its tight trees and its soft suppression, windows and structure boxes placed as now or as before (same plates,
same run settings, one process).

    .venv/bin/python benchmarks/locate_synthetic.py [--train 40] [--test 100] [--workdir DIR] [--variants NAME ...]
        [--height 400 --width 600] [--larger H W] [--dense N]

NEU has one defect class per plate and loose, hand-drawn boxes; real plates have several defects of different
classes. This benchmark needs no third-party data:

1. ``--train`` plates of the demo's renderer (:func:`defectlab.demo.make_plate_images`, 400 x 600 or
   ``--height`` x ``--width``, 2-4 defects each, exact boxes; seed 5) are written as a Pascal VOC folder and
   imported (crops + plates) into a workspace; the default run is trained (3 folds).
2. The run's locator is trained once per variant, in copies of that workspace: as the library learns it (the
   box scorers try tight trees and keep them where they make better boxes out of fold, from 8 plates on;
   soft suppression; a same-class box dropped from 35 % inside a kept one; windows over the budget placed
   where the plate stands out, structure boxes looked for at the scale of the smallest window), with a box
   dropped from half inside (a peer: before locator format 18), with hard suppression (a peer: before
   locator format 17), with the tight trees switched off (a peer: the scorers before locator format 16)
   and with the windows' grid stretched to the budget and structure boxes looked for at 256 pixels (a peer:
   before locator format 19; on a 400 x 600 plate the grid of ~870 windows is over the budget of 500, on a
   NEU plate it is not).
3. All of them locate the same ``--test`` new plates (seed 77) on one core: box recall and precision at IoU >=
   0.3, label-matched (``benchmarks/locate.py``'s matching), and seconds per plate; with ``--larger H W``
   also as many new plates of that size (a camera image larger than the plates the project boxed: the crop
   stage boxes it with its candidates' sizes measured against the training plates and one class a spot),
   and, for the ``learned`` locator, those plates as before (a peer: proposed tile by tile from the map
   alone); with ``--dense N`` also N dense frames, 3 x 3 plates' worth of defects (2-4 a plate-sized cell)
   on one seamless steel background, 1,200 x 1,800 for 400 x 600 plates (the same two ways).

The ``unspread (peer)`` variant picks the salient windows without spreading them (locator format 19): the
grid neighbours of one strong mark may take a window size's whole share.

Prints one line per variant and one JSON line.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

import defectlab.learn.box_proposals as bp  # noqa: E402
import defectlab.learn.locate as locate_mod  # noqa: E402
from defectlab.demo import (  # noqa: E402
    DEFECT_CLASSES,
    _paste_defects,
    _steel_background,
    _voc_xml,
    make_plate_images,
)
from defectlab.ingest import import_source  # noqa: E402
from defectlab.learn import train_project  # noqa: E402
from defectlab.learn.locate import LocateSettings, locate_image, locator_for_run  # noqa: E402
from defectlab.learn.runs import resolve_run  # noqa: E402
from defectlab.store import open_workspace  # noqa: E402

PROJECT = "Synthetic plates"
HEIGHT, WIDTH = 400, 600
#: name: (workspace copy, tight trees, soft suppression, share inside at which a box is dropped or None,
#: windows and structure boxes placed as now, salient windows spread)
VARIANTS = {
    "learned": ("learned", True, True, None, True, True),
    "unspread (peer)": ("unspread", True, True, None, True, False),
    "half inside (peer)": ("halfinside", True, True, 0.5, True, True),
    "hard suppression (peer)": ("hard", True, False, None, True, True),
    "no tight trees (peer)": ("notight", False, True, None, True, True),
    "stretched grid (peer)": ("grid", True, True, None, False, True),
}
#: the learned locator on ``--larger`` plates as before: tile by tile, scored from the map alone
LARGER_PEER = "learned, tiled map (peer)"


def trained_workspace(root, n_plates, height=HEIGHT, width=WIDTH):
    """A workspace with ``n_plates`` boxed synthetic plates imported and the default run trained."""
    src = Path(root) / "src"
    (src / "images").mkdir(parents=True, exist_ok=True)
    (src / "annotations").mkdir(parents=True, exist_ok=True)
    for k, (image, boxes) in enumerate(make_plate_images(n_plates, height, width, random_state=5)):
        cv2.imwrite(str(src / "images" / f"plate_{k}.png"), image)
        (src / "annotations" / f"plate_{k}.xml").write_text(_voc_xml(f"plate_{k}.png", height, width, boxes))
    ws = open_workspace(Path(root) / "ws", create=True)
    import_source(ws, PROJECT, src, layout="voc")
    train_project(ws, PROJECT, folds=3, seed=0, n_jobs=1)
    return Path(root) / "ws"


def dense_frames(n_frames, cell_height, cell_width, random_state=77, rows=3, cols=3):
    """``n_frames`` images of ``rows`` x ``cols`` plate-sized cells on one seamless steel background, each
    cell with 2-4 defects of different classes placed as :func:`defectlab.demo.make_plate_images` places
    them on a plate; returns ``[(image, boxes)]`` in its format."""
    rng = np.random.default_rng(random_state)
    frames = []
    for _ in range(n_frames):
        img = _steel_background(rng, rows * cell_height, cols * cell_width)
        boxes = []
        for r in range(rows):
            for c in range(cols):
                picked = rng.permutation(len(DEFECT_CLASSES))[: int(rng.integers(2, 5))]
                boxes += _paste_defects(rng, img, [DEFECT_CLASSES[k] for k in picked], cell_height, cell_width,
                                        r * cell_height, c * cell_width)
        frames.append((np.clip(img + 0.5, 0, 255).astype(np.uint8), boxes))
    return frames


def evaluate(ws_dir, test, tight=True, soft=True, max_inside=None, placed=True, larger_crop=True, spread=True):
    """(tp, found, true), seconds per plate and whether the scorers kept tight trees, on the ``test`` plates;
    ``soft=False``: hard suppression, ``max_inside``: another share of a same-class box inside a kept one at
    which it is dropped, in the thresholds' pick and the boxes alike; ``placed=False``: the windows' grid
    stretched to the budget and structure boxes at 256 pixels, in the locator's learning and the boxes alike;
    ``larger_crop=False``: an image much larger than the training plates proposed tile by tile and scored by
    the map alone (before the crop stage boxed them); ``spread=False``: the salient windows not spread (before
    locator format 20), in the locator's learning and the boxes alike."""
    from locate import match

    saved, saved_sigma, saved_inside = bp._TIGHT_MIN_PLATES, bp._SOFT_SIGMA, bp._MAX_INSIDE
    saved_share, saved_span = locate_mod._SALIENT_SHARE, bp._STRUCT_MIN_SPAN
    saved_larger, saved_spread = locate_mod._CROP_STAGE_LARGER, locate_mod._SALIENT_SPREAD
    if not tight:  # the peer: no scorer ever learns tight trees
        bp._TIGHT_MIN_PLATES = 10**9
    if not soft:  # the peer: hard suppression (before locator format 17)
        bp._SOFT_SIGMA = None
    if max_inside is not None:  # the peer: half inside (before locator format 18)
        bp._MAX_INSIDE = max_inside
    if not placed:  # the peer: stretched grid, structure at 256 pixels (before locator format 19)
        locate_mod._SALIENT_SHARE, bp._STRUCT_MIN_SPAN = 0.0, 0
    if not larger_crop:  # the peer on much larger images: tile by tile, map only
        locate_mod._CROP_STAGE_LARGER = False
    if not spread:  # the peer: salient windows not spread (before locator format 20)
        locate_mod._SALIENT_SPREAD = 0.0
    try:
        ws = open_workspace(ws_dir)
        run_id = resolve_run(ws, PROJECT)
        t0 = time.perf_counter()
        model, classes, info = locator_for_run(ws, run_id)
        t_locator = time.perf_counter() - t0
        scorer = info.get("scorer")
        totals, seconds = np.zeros(3, np.int64), []
        for image, truth in test:
            t0 = time.process_time()
            result = locate_image(image, model, classes, info["spec"], info["sides"], LocateSettings(),
                                  ranker=info["ranker"], scorer=scorer)
            seconds.append(time.process_time() - t0)
            totals += match(result.boxes, [(lab, (x0, y0, x1, y1)) for lab, x0, y0, x1, y1 in truth])
    finally:
        bp._TIGHT_MIN_PLATES, bp._SOFT_SIGMA, bp._MAX_INSIDE = saved, saved_sigma, saved_inside
        locate_mod._SALIENT_SHARE, bp._STRUCT_MIN_SPAN = saved_share, saved_span
        locate_mod._CROP_STAGE_LARGER, locate_mod._SALIENT_SPREAD = saved_larger, saved_spread
    kept = {"scorer": scorer is not None and scorer.tight is not None,
            "crop_stage": scorer is not None and scorer.crop is not None and scorer.crop.tight is not None}
    return totals, float(np.mean(seconds)), kept, t_locator


def _summary(totals):
    """``{"recall", "precision", "f1", "found", "true_boxes"}`` of ``(tp, found, true)`` counts."""
    from locate import _scores

    rec, prec = _scores(*totals)
    return {"recall": round(rec, 4), "precision": round(prec, 4),
            "f1": round(2 * rec * prec / max(rec + prec, 1e-9), 4), "found": int(totals[1]),
            "true_boxes": int(totals[2])}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--train", type=int, default=40, help="boxed plates the run and its locator learn from")
    ap.add_argument("--test", type=int, default=100, help="new plates located")
    ap.add_argument("--workdir", default=None, help="keep the workspaces here (a new run each time)")
    ap.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS),
                    help="which of them to run (default: all)")
    ap.add_argument("--height", type=int, default=HEIGHT, help="plate height (pixels), training and test")
    ap.add_argument("--width", type=int, default=WIDTH, help="plate width (pixels), training and test")
    ap.add_argument("--larger", type=int, nargs=2, metavar=("HEIGHT", "WIDTH"), default=None,
                    help="also locate --test new plates of this size with the same locators (and, for 'learned', "
                         "as before: tile by tile from the map when over 1.5 times the training plates)")
    ap.add_argument("--dense", type=int, default=0, metavar="N",
                    help="also locate N dense frames of 3 x 3 plates' worth of defects (the same two ways)")
    args = ap.parse_args(argv)
    chosen = [v for v in VARIANTS if v in args.variants]
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="locate-synthetic-"))
    for sub, *_ in VARIANTS.values():
        shutil.rmtree(workdir / sub, ignore_errors=True)
    learned = trained_workspace(workdir / "learned", args.train, args.height, args.width)
    for name in chosen:
        sub = VARIANTS[name][0]
        if sub != "learned":
            shutil.copytree(learned.parent, workdir / sub)  # same run, same crops: only the locator differs
            for stored in (workdir / sub / "ws" / "runs").glob("*/locator"):
                shutil.rmtree(stored)  # (none yet: the locator is trained on first use, in each copy)
    test = make_plate_images(args.test, args.height, args.width, random_state=77)
    extra = {}  # key: (label, images), located by the stored locators after the plates
    if args.larger is not None:
        extra["larger"] = (f"{args.larger[0]} x {args.larger[1]} plates",
                           make_plate_images(args.test, *args.larger, random_state=77))
    if args.dense:
        extra["dense"] = (f"dense {3 * args.height} x {3 * args.width} frames",
                          dense_frames(args.dense, args.height, args.width))
    out = {"train_plates": args.train, "test_plates": args.test, "height": args.height, "width": args.width,
           "variants": {}}
    if args.larger is not None:
        out["larger"] = list(args.larger)
    if args.dense:
        out["dense_frames"] = args.dense
    for key in extra:
        out[f"{key}_variants"] = {}
    for name in chosen:
        sub, tight, soft, inside, placed, spread = VARIANTS[name]
        totals, sec, kept, t_locator = evaluate(workdir / sub / "ws", test, tight, soft, inside, placed,
                                                spread=spread)
        row = out["variants"][name] = {**_summary(totals), "tight_kept": kept, "cpu_seconds_per_plate": round(sec, 3),
                                       "locator_seconds": round(t_locator, 1)}
        print(f"{name:<24} recall {row['recall']:.3f} precision {row['precision']:.3f} F1 {row['f1']:.3f} "
              f"({row['found']} boxes for {row['true_boxes']}; tight trees kept: {kept}; CPU {sec:.2f} s a plate; "
              f"locator {t_locator:.0f} s)", flush=True)
        for key, (label, images) in extra.items():  # the locator is stored now: this only locates
            runs = [(name, True)] + ([(LARGER_PEER, False)] if name == "learned" else [])
            for run_name, crop in runs:
                totals, sec, _, _ = evaluate(workdir / sub / "ws", images, tight, soft, inside, placed, crop,
                                             spread)
                row = out[f"{key}_variants"][run_name] = {**_summary(totals), "cpu_seconds_per_image": round(sec, 3)}
                print(f"{'' if crop else run_name:<24} on {label}: recall {row['recall']:.3f} precision "
                      f"{row['precision']:.3f} F1 {row['f1']:.3f} ({row['found']} boxes for {row['true_boxes']}; "
                      f"CPU {sec:.2f} s an image)", flush=True)
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
