"""Benchmark: defects located on full NEU-DET plates, beside the whole-image-box peer.

    .venv/bin/python benchmarks/locate.py [--neu DIR] [--workdir DIR] [--train-last 240] [--test-last 300]

1. Imports plates 1..240 of every NEU class with their VOC boxes (crops + plates) into a workspace
   (``--workdir`` keeps it between runs), trains the default run (default model, default features).
2. ``defectlab.learn.locate``: the locator (run crops + background windows of the training plates) is
   trained on first use, then plates 241..300 of every class (360 images) are located one by one on
   one core; seconds per plate are measured around ``locate_image`` (features + model + boxes), as wall
   time and as this process's CPU time (one thread: the one-core cost even when the machine is shared).
3. Scores: box recall and precision at IoU >= 0.3, label-matched (a found box matches at most one
   true box of the same label, best score first), overall and per class. The peer is the whole-image
   box: one box = the plate, labeled with the plate's class. The default is the box scorer's proposals
   with its crop stage (``method="auto"``); from the same classified windows: the scorer without its crop
   stage ("map-only", the previous default, per class too), the window ranker (per class too), windows at
   probability 0.5, the map's components, and the ranker and the scorers at fixed thresholds 0.1 .. 0.9
   (precision-recall curves; the defaults use thresholds calibrated on held-out *training* plates, never on
   241-300), and the crop stage at its calibrated per-class thresholds times 0.3-0.9 (``calibrated xV``).
   Where the default's boxes go wrong (``errors``: :func:`defectlab.learn.box_ranker.error_breakdown` of
   each plate's boxes against its crop stage's candidates, summed), beside the box scorer's own breakdown
   out of fold on its training plates (a locator trained before it had one has none).
4. Time on a 2048 x 2048 image (a mosaic of 121 test plates) on one core, and its scores (the plates'
   boxes moved to their place; the scorer proposes tile by tile on images much larger than its plates).
5. ``--scorer-plates N``: the box scorer learned from at most N held-out training plates instead of the
   library's 240 (a data-volume check; 2026-12-06, N = 480, same run and test plates: calibrated thresholds
   0.61 / 0.69 against 0.63 / 0.66, at 0.075 0.66 / 0.66 against 0.67 / 0.64, at 0.05 0.69 / 0.59 against
   0.70 / 0.57, the locator trained in 450 s on a shared machine: no better, not kept).
6. ``--synthetic``: the same scores on plates with several defects of different classes (the demo
   workspace's "Steel defects" project: loose crops + 4 boxed plates, default run; 12 new plates of
   ``make_plate_images``), where NEU has one class per plate.

Targets (issue 12): recall >= 0.7 at precision >= 0.6, < 1 s per 200 x 200 plate, < 3 s per
2048 x 2048 image. Prints a table and one JSON line.
"""

import argparse
import dataclasses
import json
import os
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from defectlab.imaging import load_image  # noqa: E402
from defectlab.ingest import import_source  # noqa: E402
from defectlab.ingest.boxes import parse_voc  # noqa: E402
from defectlab.learn import train_project  # noqa: E402
from defectlab.learn.box_ranker import ERROR_KINDS, error_breakdown  # noqa: E402
from defectlab.learn.locate import (  # noqa: E402
    LocateSettings,
    _result_min_box,
    locate_image,
    locator_for_run,
    remake_boxes,
)
from defectlab.learn.runs import resolve_run  # noqa: E402
from defectlab.store import open_workspace  # noqa: E402

CLASSES = ("crazing", "inclusion", "patches", "pitted_surface", "rolled-in_scale", "scratches")


def _neu_dir(arg):
    for cand in [arg, os.environ.get("DEFECTLAB_NEU_DIR"), REPO.parent.parent / "shared/datasets/neu-det",
                 REPO.parent / "shared/datasets/neu-det"]:
        if cand and (Path(cand) / "images").is_dir():
            return Path(cand)
    sys.exit("NEU-DET not found: pass --neu DIR (the folder holding images/ and annotations/).")


def _subset(neu, dest, first, last):
    """Copies of plates first..last of every class (images + annotations) under ``dest``.

    Copies, not symbolic links: the importer rejects links to files outside the imported folder.
    """
    for sub in ("images", "annotations"):
        (dest / sub).mkdir(parents=True, exist_ok=True)
    for cls in CLASSES:
        for k in range(first, last + 1):
            for sub, ext in (("images", "jpg"), ("annotations", "xml")):
                src = neu / sub / f"{cls}_{k}.{ext}"
                link = dest / sub / src.name
                if src.exists() and not link.exists():
                    shutil.copyfile(src, link)


def _workspace(neu, workdir, train_last):
    root = Path(workdir)
    ws = open_workspace(root / "ws", create=True)
    marker = root / "run_id.txt"
    if marker.exists():
        return ws, marker.read_text().strip()
    _subset(neu, root / "train", 1, train_last)
    t0 = time.perf_counter()
    report = import_source(ws, "NEU", root / "train", layout="voc")
    summary = train_project(ws, "NEU", folds=5, seed=0)
    print(f"imported {report.imported} crops, trained run {summary['run_id']} "
          f"(accuracy {summary['accuracy']:.4f}) in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    marker.write_text(summary["run_id"])
    return ws, summary["run_id"]


def iou(a, b):
    """IoU of two (x0, y0, x1, y1) boxes."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def match(found, truth, min_iou=0.3):
    """(true positives, found boxes, true boxes): greedy label-matched matching, best score first."""
    used = set()
    tp = 0
    for f in sorted(found, key=lambda b: -b["score"]):
        fb = (f["x"], f["y"], f["x"] + f["w"], f["y"] + f["h"])
        best, best_k = min_iou, None
        for k, (label, tb) in enumerate(truth):
            if k in used or label != f["label"]:
                continue
            v = iou(fb, tb)
            if v >= best:
                best, best_k = v, k
        if best_k is not None:
            used.add(best_k)
            tp += 1
    return tp, len(found), len(truth)


def _scores(tp, n_found, n_true):
    recall = tp / n_true if n_true else 0.0
    precision = tp / n_found if n_found else 0.0
    return round(recall, 4), round(precision, 4)


def _test_plates(neu, first, last):
    out = []
    for cls in CLASSES:
        for k in range(first, last + 1):
            img, xml = neu / "images" / f"{cls}_{k}.jpg", neu / "annotations" / f"{cls}_{k}.xml"
            if img.exists() and xml.exists():
                ann = parse_voc(xml)
                truth = [(b.label, (b.x0, b.y0, b.x1, b.y1)) for b in ann.boxes]
                out.append((cls, img, truth))
    return out


SWEEP = (0.05, 0.075, 0.1, 0.125, 0.15, 0.2, 0.25, *(round(t, 2) for t in np.arange(0.3, 0.91, 0.1)))
SCALED = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)  # the calibrated (per-class) thresholds times each of these


def _scaled_boxes(result, scorer, scale):
    """The crop stage's boxes of ``result`` at its calibrated per-class thresholds times ``scale``."""
    boxes, labels, feats = result.proposals
    names = np.asarray(result.classes)[np.asarray(labels, dtype=np.int64)]
    return scorer.crop.boxes(boxes, labels, feats, list(result.classes), scorer.crop.thresholds_for(names) * scale,
                             _result_min_box(result, LocateSettings()))


def _by_class(found, truth, counts):
    for label in {lab for lab, _ in truth} | {b["label"] for b in found}:
        counts.setdefault(label, np.zeros(3, np.int64))
        counts[label] += match([b for b in found if b["label"] == label], [t for t in truth if t[0] == label])


def evaluate(plates, locator, settings):
    """Counts (tp, found, true) per method (and per class for the default); seconds per plate.

    Methods: the default (``auto``: the box ranker when the locator has one), ``windows`` at 0.5 (the
    previous default), the map's components, the ranker at every threshold of ``SWEEP`` (the PR curve)
    and the whole-image peer; all from the same classified windows (``remake_boxes``).
    """
    model, classes, info = locator
    names = ["default", "windows", "components", "peer"] + [f"ranked@{t}" for t in SWEEP]
    counts = {n: np.zeros(3, np.int64) for n in names}
    per_class, per_class_ranked = {}, {}
    seconds, cpu = [], []
    others = {"windows": LocateSettings(method="windows", threshold=0.5),
              "components": LocateSettings(method="components", threshold=0.5)}
    if info["ranker"] is not None:
        others["ranked (window ranker)"] = LocateSettings(method="ranked")
        others.update({f"ranked@{t}": LocateSettings(method="ranked", threshold=t) for t in SWEEP})
    if info.get("scorer") is not None:
        others.update({f"proposals@{t}": LocateSettings(method="proposals", threshold=t) for t in SWEEP})
    map_only = {}  # the box scorer without its crop stage (the previous default), from the same windows
    if info.get("scorer") is not None and info["scorer"].crop is not None:
        map_only = {"map-only scorer": LocateSettings(method="proposals"),
                    **{f"map-only@{t}": LocateSettings(method="proposals", threshold=t) for t in SWEEP}}
        others.update(map_only)
    names += [n for n in others if n not in names]
    counts = {n: np.zeros(3, np.int64) for n in names}
    learned = {"ranker": info["ranker"], "scorer": info.get("scorer")}
    without_crop = {**learned, "scorer": None if not map_only else dataclasses.replace(info["scorer"], crop=None)}
    per_class_map = {}
    errors = dict.fromkeys(ERROR_KINDS, 0)  # where the default's boxes go wrong (its crop stage's candidates)
    for cls, path, truth in plates:
        image = load_image(path)
        t0, c0 = time.perf_counter(), time.process_time()
        result = locate_image(image, model, classes, info["spec"], info["sides"], settings, **learned)
        seconds.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        counts["default"] += match(result.boxes, truth)
        _by_class(result.boxes, truth, per_class)
        for name, other in others.items():
            boxes = remake_boxes(result, other, **(without_crop if name in map_only else learned))
            counts[name] += match(boxes, truth)
            if name == "ranked (window ranker)":
                _by_class(boxes, truth, per_class_ranked)
            if name == "map-only scorer":
                _by_class(boxes, truth, per_class_map)
        if result.proposals is not None and info.get("scorer") is not None and info["scorer"].crop is not None:
            stage, (b, lab, feats) = info["scorer"].crop, result.proposals
            names = np.asarray(result.classes)[np.asarray(lab, dtype=np.int64)]
            th = stage.thresholds_for(names) if settings.threshold is None else settings.threshold
            for kind, n in error_breakdown(result.boxes, truth, b, lab, stage.score(feats, names), th,
                                           list(result.classes)).items():
                errors[kind] += n
            for v in SCALED:
                counts.setdefault(f"calibrated x{v}", np.zeros(3, np.int64))
                counts[f"calibrated x{v}"] += match(_scaled_boxes(result, info["scorer"], v), truth)
        h, w = image.shape[:2]
        counts["peer"] += match([{"x": 0, "y": 0, "w": w, "h": h, "label": cls, "score": 1.0}], truth)
    return counts, (per_class, per_class_ranked, per_class_map, errors), seconds, cpu


def time_large(plates, locator, settings, side=2048):
    model, classes, info = locator
    tiles = [load_image(p) for _, p, _ in plates[: (side // 200 + 1) ** 2]]
    n = side // 200 + 1
    rows = [np.hstack(tiles[r * n:(r + 1) * n]) for r in range(n)]
    big = np.ascontiguousarray(np.vstack(rows)[:side, :side])
    kw = {"ranker": info["ranker"], "scorer": info.get("scorer")}
    locate_image(big[:400, :400], model, classes, info["spec"], info["sides"], settings, **kw)  # warm up
    t0, c0 = time.perf_counter(), time.process_time()
    result = locate_image(big, model, classes, info["spec"], info["sides"], settings, **kw)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    # the mosaic's true boxes (each plate's, moved to its place, clipped to the image; slivers dropped)
    truth = []
    for k, (_, _, boxes) in enumerate(plates[: n * n]):
        dx, dy = (k % n) * 200, (k // n) * 200
        for label, (x0, y0, x1, y1) in boxes:
            b = (min(x0 + dx, side), min(y0 + dy, side), min(x1 + dx, side), min(y1 + dy, side))
            if b[2] - b[0] >= 8 and b[3] - b[1] >= 8:
                truth.append((label, b))
    scores = {"default": match(result.boxes, truth)}
    if info["ranker"] is not None:
        scores["ranked"] = match(remake_boxes(result, LocateSettings(method="ranked"), info["ranker"]), truth)
    return seconds, result.n_windows, len(result.boxes), cpu, {
        k: dict(zip(("recall", "precision"), _scores(*v), strict=True), found=int(v[1]), true=int(v[2]))
        for k, v in scores.items()}


def synthetic(workdir, settings):
    """Scores on new synthetic plates with 2-4 defects each, located with the demo project's run."""
    from defectlab.demo import DEMO_DEFECT_PROJECT, build_demo_workspace, make_plate_images

    ws = open_workspace(Path(workdir) / "demo-ws", create=True)
    build_demo_workspace(ws)
    run_id = resolve_run(ws, DEMO_DEFECT_PROJECT)
    model, classes, info = locator_for_run(ws, run_id, background=settings.background, scales=settings.scales)
    totals = np.zeros(3, np.int64)
    seconds = []
    for image, truth in make_plate_images(12, 400, 600, random_state=77):
        t0 = time.perf_counter()
        result = locate_image(image, model, classes, info["spec"], info["sides"], settings, ranker=info["ranker"],
                              scorer=info.get("scorer"))
        seconds.append(time.perf_counter() - t0)
        totals += match(result.boxes, [(lab, (x0, y0, x1, y1)) for lab, x0, y0, x1, y1 in truth])
    rec, prec = _scores(*totals)
    print(f"synthetic multi-defect plates: recall {rec:.3f} precision {prec:.3f} ({int(totals[1])} boxes for "
          f"{int(totals[2])} defects, {np.mean(seconds):.2f} s per 600x400 plate)")
    return {"recall": rec, "precision": prec, "found": int(totals[1]), "true_boxes": int(totals[2]),
            "seconds_per_plate_mean": round(float(np.mean(seconds)), 4), "window_sides": list(info["sides"])}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--neu", default=None)
    ap.add_argument("--workdir", default=None, help="keep the workspace here between runs")
    ap.add_argument("--train-last", type=int, default=240)
    ap.add_argument("--test-last", type=int, default=300)
    ap.add_argument("--threshold", type=float, default=None)
    ap.add_argument("--stride", type=float, default=None)
    ap.add_argument("--no-background", action="store_true")
    ap.add_argument("--no-large", action="store_true")
    ap.add_argument("--synthetic", action="store_true", help="also score synthetic plates with several defects")
    ap.add_argument("--scorer-plates", type=int, default=None,
                    help="most training plates held out to learn the box scorer (library: 240); a workdir whose "
                         "locator was trained with another number must be a fresh copy")
    args = ap.parse_args(argv)
    if args.scorer_plates is not None:
        import defectlab.learn.locate as loc_mod

        loc_mod._RANK_MAX_PLATES = args.scorer_plates
    neu = _neu_dir(args.neu)
    import tempfile

    workdir = args.workdir or tempfile.mkdtemp(prefix="locate-bench-")
    ws, run_id = _workspace(neu, workdir, args.train_last)
    run_id = resolve_run(ws, "NEU", run_id)
    kw = {}
    if args.threshold is not None:
        kw["threshold"] = args.threshold
    if args.stride is not None:
        kw["stride"] = args.stride
    settings = LocateSettings(background=not args.no_background, **kw)
    t0 = time.perf_counter()
    locator = locator_for_run(ws, run_id, background=settings.background, scales=settings.scales)
    t_locator = time.perf_counter() - t0
    plates = _test_plates(neu, args.train_last + 1, args.test_last)
    counts, (per_class, per_class_ranked, per_class_map, errors), seconds, cpu = evaluate(plates, locator, settings)
    info = locator[2]
    large = (None, None, None, None, None) if args.no_large else time_large(plates, locator, settings)
    scores = {name: dict(zip(("recall", "precision"), _scores(*c), strict=True), found=int(c[1]))
              for name, c in counts.items()}
    ranker = info["ranker"]
    out = {
        "plates": len(plates), "true_boxes": int(counts["default"][2]), "window_sides": list(info["sides"]),
        "background": info["background"], "n_background": info["n_background"],
        "ranker_plates": info["n_ranker_plates"], "scorer": info.get("scorer") is not None,
        "n_dismissed": info.get("n_dismissed", 0), "ranker_threshold": None if ranker is None else ranker.threshold,
        "locator_seconds": round(t_locator, 2), "settings": {"threshold": settings.threshold,
                                                              "stride": settings.stride, "method": settings.method},
        "locate": {**scores.pop("default"), "seconds_per_plate_mean": round(float(np.mean(seconds)), 4),
                   "seconds_per_plate_max": round(float(np.max(seconds)), 4),
                   "seconds_per_plate_median": round(float(np.median(seconds)), 4),
                   "cpu_seconds_per_plate_mean": round(float(np.mean(cpu)), 4),
                   "cpu_seconds_per_plate_max": round(float(np.max(cpu)), 4)},
        "per_class": {k: dict(zip(("recall", "precision"), _scores(*v), strict=True), found=int(v[1]),
                              true=int(v[2])) for k, v in sorted(per_class.items())},
        "per_class_window_ranker": {k: dict(zip(("recall", "precision"), _scores(*v), strict=True), found=int(v[1]),
                                            true=int(v[2])) for k, v in sorted(per_class_ranked.items())},
        "per_class_map_only": {k: dict(zip(("recall", "precision"), _scores(*v), strict=True), found=int(v[1]),
                                       true=int(v[2])) for k, v in sorted(per_class_map.items())},
        "errors": errors,
        "whole_image_peer": scores.pop("peer"),
        "others": scores,
        "large_2048": {"seconds": None if large[0] is None else round(large[0], 3), "windows": large[1],
                       "boxes": large[2], "cpu_seconds": None if large[3] is None else round(large[3], 3),
                       "scores": large[4]},
        "load_average": list(os.getloadavg()),
    }
    stage = info.get("scorer")
    stage = stage.crop if stage is not None and stage.crop is not None else stage
    if stage is not None and stage.estimate is not None:  # what the app shows beside the boxes, vs the measured
        out["scorer_estimate"] = {str(t): dict(zip(("recall", "precision"), stage.expected(t), strict=True))
                                  for t in (None, *SWEEP) if stage.expected(t) is not None}
    loc = out["locate"]
    print(f"{'method':<26}{'recall':>8}{'precision':>11}{'boxes':>8}")
    print(f"{'defectlab locate':<26}{loc['recall']:>8.3f}{loc['precision']:>11.3f}{loc['found']:>8}"
          f"   {loc['seconds_per_plate_mean']:.3f} s/plate (median {loc['seconds_per_plate_median']:.3f}; "
          f"CPU {loc['cpu_seconds_per_plate_mean']:.3f} s, max {loc['cpu_seconds_per_plate_max']:.3f} s)")
    for name, v in [*scores.items(), ("whole-image box (peer)", out["whole_image_peer"])]:
        print(f"{'  ' + name:<26}{v['recall']:>8.3f}{v['precision']:>11.3f}{v['found']:>8}")
    for k, v in out["per_class"].items():
        r = out["per_class_window_ranker"].get(k)
        was = "" if r is None else f"   (window ranker: {r['recall']:.3f} / {r['precision']:.3f}, {r['found']} boxes)"
        m = out["per_class_map_only"].get(k)
        was += "" if m is None else f"   (map-only: {m['recall']:.3f} / {m['precision']:.3f})"
        print(f"    class {k:<18}{v['recall']:>8.3f}{v['precision']:>11.3f}{v['found']:>8} / {v['true']} true{was}")
    print("  where its boxes go wrong: " + ", ".join(f"{k} {v}" for k, v in errors.items()))
    if stage is not None and stage.estimate is not None and stage.estimate.get("errors"):
        print("  (the scorer's own, out of fold on its training plates: "
              + ", ".join(f"{k} {v}" for k, v in stage.estimate["errors"].items()) + ")")
    if large[0] is not None:
        print(f"2048x2048 image: {large[0]:.2f} s, CPU {large[3]:.2f} s ({large[1]} windows, {large[2]} boxes); "
              "mosaic of test plates, recall / precision: "
              + ", ".join(f"{k} {v['recall']:.3f} / {v['precision']:.3f}" for k, v in large[4].items()))
    for t, v in out.get("scorer_estimate", {}).items():
        measured = loc if t == "None" else scores.get(f"proposals@{t}")
        print(f"  scorer's own estimate at {'calibrated' if t == 'None' else t}: {v['recall']:.3f} / "
              f"{v['precision']:.3f} (out of fold, training plates)"
              + ("" if measured is None else f"; measured here {measured['recall']:.3f} / {measured['precision']:.3f}"))
    print(f"load average {out['load_average']}")
    if args.synthetic:
        out["synthetic"] = synthetic(workdir, settings)
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
