"""The training claims on the real NEU-DET set (skipped when it is absent)."""

import numpy as np
import pytest

from defectlab.ingest import import_source
from defectlab.learn import get_run, make_folds, train_project
from defectlab.learn.runs import _group_of
from defectlab.store import items_frame

pytestmark = pytest.mark.neu


def test_crops_of_one_plate_never_straddle_folds(ws, neu_dir):
    import_source(ws, "NEU", neu_dir, layout="voc")
    df = items_frame(ws, 1)
    assert len(df) >= 4186
    groups = np.array([_group_of(r) for r in df.to_dict("records")])
    y = df["label"].to_numpy()
    grouped, n_used, _ = make_folds(y, groups, n_splits=5, random_state=0)
    assert n_used == 5
    plain, _, _ = make_folds(y, None, n_splits=5, random_state=0)
    folds_per_plate = {}
    for g, f in zip(groups, grouped, strict=True):
        folds_per_plate.setdefault(g, set()).add(int(f))
    assert all(len(s) == 1 for s in folds_per_plate.values())
    # without groups, many plates would sit on both sides: grouping changes the split
    straddling = {}
    for g, f in zip(groups, plain, strict=True):
        straddling.setdefault(g, set()).add(int(f))
    assert sum(len(s) > 1 for s in straddling.values()) > 100


def test_default_model_reaches_997_on_neu(ws, neu_dir):
    import_source(ws, "NEU", neu_dir / "images", layout="flat", label_regex=r"^(.+)_\d+\.jpg$")
    summary = train_project(ws, "NEU", folds=5, seed=0)
    assert summary["n_items"] >= 1799 and summary["n_classes"] == 6
    assert summary["accuracy"] >= 0.997  # 0.9956 before the residual feature family
    # the reject band: items above the run's threshold are >= 99% correct out of fold
    run = get_run(ws, summary["run_id"])
    accepted = [i for i in run["items"] if i["confidence"] >= run["threshold"]]
    correct = sum(i["pred_label"] == i["label"] for i in accepted)
    assert accepted and correct / len(accepted) >= 0.99
