"""Tests of defectlab.learn.compare on a hand example."""

import pytest

from defectlab.errors import InputError
from defectlab.learn.compare import compare_runs


def _run(run_id, accuracy, items, per_class=None):
    return {"run_id": run_id, "model": "lightgbm",
            "metrics": {"accuracy": accuracy, "macro_f1": accuracy, "per_class": per_class or {}},
            "items": [{"item_id": i, "label": lab, "pred_label": pred, "source": f"img{i}.png"}
                      for i, lab, pred in items]}


A = _run("A", 0.5, [
    (1, "pit", "scratch"),      # wrong -> right in B: fixed
    (2, "pit", "pit"),          # right -> wrong in B: broken
    (3, "seam", "seam"),        # right both
    (4, "seam", "pit"),         # wrong, label corrected to pit in B and now right: fixed (label changed)
    (5, "pit", "pit"),          # only in A
], per_class={"pit": {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 3}})
B = _run("B", 0.75, [
    (1, "pit", "pit"),
    (2, "pit", "seam"),
    (3, "seam", "seam"),
    (4, "pit", "pit"),
    (6, "seam", "seam"),        # only in B
], per_class={"pit": {"precision": 0.75, "recall": 1.0, "f1": 0.8, "support": 3},
              "seam": {"precision": 1.0, "recall": 0.5, "f1": 0.6, "support": 2}})


def test_fixed_and_broken_by_hand():
    d = compare_runs(A, B)
    assert [x["item_id"] for x in d["fixed"]] == [1, 4]
    assert [x["item_id"] for x in d["broken"]] == [2]
    four = d["fixed"][1]
    assert four == {"item_id": 4, "source": "img4.png", "label_a": "seam", "pred_a": "pit",
                    "label_b": "pit", "pred_b": "pit", "label_changed": True}
    assert d["broken"][0]["pred_b"] == "seam" and d["broken"][0]["label_changed"] is False
    assert (d["n_common"], d["only_a"], d["only_b"], d["n_label_changed"]) == (4, 1, 1, 1)


def test_metric_and_per_class_deltas():
    d = compare_runs(A, B)
    assert d["deltas"] == {"accuracy": 0.25, "macro_f1": 0.25}
    assert d["per_class"]["pit"] == {"precision": 0.25, "recall": 0.5, "f1": pytest.approx(0.3),
                                     "support_a": 3, "support_b": 3}
    assert d["per_class"]["seam"]["f1"] is None and d["per_class"]["seam"]["support_a"] == 0
    assert d["a"]["run_id"] == "A" and d["b"]["accuracy"] == 0.75


def test_same_run_changes_nothing():
    d = compare_runs(A, A)
    assert d["fixed"] == [] and d["broken"] == [] and d["deltas"]["accuracy"] == 0.0


@pytest.mark.parametrize(
    "bad, match",
    [
        ([1, 2], "must be a run record dict"),
        ({"metrics": {}}, "has no 'items' key"),
        ({"metrics": {}, "items": [{"item_id": 1, "label": "pit"}]}, "must have item_id, label"),
    ],
)
def test_invalid_records(bad, match):
    with pytest.raises(InputError, match=match):
        compare_runs(A, bad)


def test_ordinal_runs_order_misses_by_grade_gap():
    """Found by a fresh-user pass: for scrap grades, a miss by three grades sat among one-grade slips, and items
    that 'broke' only because their label changed were counted as the model's doing."""
    grades = ["heavy", "medium", "light", "thin"]

    def rec(run, preds, labels=None):
        labels = labels or {1: "heavy", 2: "heavy", 3: "light", 4: "medium"}
        return {"run_id": run, "metrics": {"accuracy": 0.5},
                "items": [{"item_id": i, "label": labels[i], "pred_label": p} for i, p in preds.items()]}

    a = rec("A", {1: "heavy", 2: "heavy", 3: "thin", 4: "medium"})
    b = rec("B", {1: "medium", 2: "thin", 3: "light", 4: "medium"}, {1: "heavy", 2: "heavy", 3: "light", 4: "light"})
    d = compare_runs(a, b, grades=grades)
    assert [(e["item_id"], e["gap_b"]) for e in d["broken"]] == [(2, 3), (1, 1), (4, 1)]  # then as before
    assert [(e["item_id"], e["gap_a"]) for e in d["fixed"]] == [(3, 1)]
    assert d["n_broken_far"] == 1 and d["n_broken_label_changed"] == 1
    plain = compare_runs(a, b)
    assert "n_broken_far" not in plain and "gap_b" not in plain["broken"][0]
