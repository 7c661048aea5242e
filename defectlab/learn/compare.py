"""What changed between two runs: metric deltas, per-class deltas, and which items were fixed or broken.

Pure: it takes two run records (plain dicts, as :func:`defectlab.learn.runs.get_run` returns them) and
never touches the store.

A run record is ``{"run_id": str, "metrics": <evaluate() dict>, "items": [{"item_id", "label",
"pred_label"}, ...]}`` where ``label`` is the label the run trained on and ``pred_label`` its
out-of-fold prediction; any other keys of an item (``source``...) are passed through.
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING

from defectlab.errors import InputError
from defectlab.messages import msg

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

__all__ = ["COMPARED_METRICS", "compare_runs"]

#: Metrics whose difference ``b - a`` is reported (when both runs have them).
COMPARED_METRICS = (
    "accuracy", "balanced_accuracy", "macro_f1", "log_loss", "ece", "mae", "within_one", "qwk",
    "expected_cost",
)


def _check_record(run, name):
    if not isinstance(run, dict):
        raise InputError(
            msg("error.compare.parameter_compare_runs_must",
                "The {name} parameter of compare_runs must be a run record dict. Got {name2}.",
                name=repr(name), name2=type(run).__name__)
        )
    for key in ("metrics", "items"):
        if key not in run:
            raise InputError(
                msg("error.compare.run_record_given_compare",
                    "The {name} run record given to compare_runs has no {key_} key; pass the record "
                    "returned by get_run.",
                    name=repr(name), key_=repr(key))
            )
    by_id = {}
    for i, item in enumerate(run["items"]):
        try:
            by_id[item["item_id"]] = item
            item["label"], item["pred_label"]
        except (KeyError, TypeError):
            raise InputError(
                msg("error.compare.item_run_record_given",
                    "Item {i} of the {name} run record given to compare_runs must have item_id, "
                    "label and pred_label. Got {item}.",
                    i=i, name=repr(name), item=repr(item))
            ) from None
    return by_id


def _delta(a, b):
    ok = all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in (a, b))
    return float(b) - float(a) if ok else None


def _summary(run):
    m = run["metrics"]
    out = {"run_id": run.get("run_id")}
    for key in ("model", "created_at", "created_by", "spec_hash", "seed"):
        if key in run:
            out[key] = run[key]
    out["n_items"] = m.get("n_items", len(run["items"]))
    for key in COMPARED_METRICS:
        if key in m:
            out[key] = m[key]
    return out


def compare_runs(a: Mapping[str, Any], b: Mapping[str, Any], grades: Sequence[str] | None = None) -> dict[str, Any]:
    """Compare run ``a`` (before) with run ``b`` (after).

    Parameters
    ----------
    a, b : dict
        Run records (see the module docstring).
    grades : sequence of str, optional
        The grade order of an ordinal project: each fixed / broken item also gets ``gap_a`` / ``gap_b``,
        how many grades its prediction was off in each run (None for a label outside the order), the
        lists are ordered by the larger miss first (broken: ``gap_b``; fixed: ``gap_a``), and
        ``n_broken_far`` counts broken items off by two grades or more.

    Returns
    -------
    dict
        ``a``, ``b`` (headline numbers of each run), ``deltas`` ({metric: b - a}), ``per_class``
        ({class: {"precision", "recall", "f1": b - a, "support_a", "support_b"}}), ``n_common``,
        ``only_a``, ``only_b`` (item counts), ``n_label_changed``, and ``fixed`` / ``broken``: the
        items both runs evaluated that were wrong in ``a`` and right in ``b`` / right in ``a`` and
        wrong in ``b``, each as {"item_id", "label_a", "pred_a", "label_b", "pred_b",
        "label_changed"} plus any extra keys of ``b``'s item. Right means the out-of-fold prediction
        equals the label that run trained on. ``n_broken_label_changed``: broken items whose label
        changed between the runs (not the model's doing alone).

    Examples
    --------
    >>> ra = {"run_id": "A", "metrics": {"accuracy": 0.5}, "items": [
    ...     {"item_id": 1, "label": "pit", "pred_label": "scratch"},
    ...     {"item_id": 2, "label": "pit", "pred_label": "pit"}]}
    >>> rb = {"run_id": "B", "metrics": {"accuracy": 0.5}, "items": [
    ...     {"item_id": 1, "label": "pit", "pred_label": "pit"},
    ...     {"item_id": 2, "label": "pit", "pred_label": "scratch"}]}
    >>> d = compare_runs(ra, rb)
    >>> [x["item_id"] for x in d["fixed"]], [x["item_id"] for x in d["broken"]], d["deltas"]
    ([1], [2], {'accuracy': 0.0})
    """
    items_a = _check_record(a, "a")
    items_b = _check_record(b, "b")
    ma, mb = a["metrics"], b["metrics"]
    deltas = {}
    for key in COMPARED_METRICS:
        if key in ma and key in mb:
            deltas[key] = _delta(ma[key], mb[key])
    pa, pb = ma.get("per_class") or {}, mb.get("per_class") or {}
    per_class = {}
    for cls in list(pa) + [c for c in pb if c not in pa]:
        ca, cb = pa.get(cls, {}), pb.get(cls, {})
        per_class[cls] = {k: _delta(ca.get(k), cb.get(k)) for k in ("precision", "recall", "f1")}
        per_class[cls]["support_a"] = ca.get("support", 0)
        per_class[cls]["support_b"] = cb.get("support", 0)

    fixed: list[dict[str, Any]] = []
    broken: list[dict[str, Any]] = []
    changed = 0
    common = [i for i in items_b if i in items_a]
    for item_id in common:
        ia, ib = items_a[item_id], items_b[item_id]
        right_a = ia["pred_label"] == ia["label"]
        right_b = ib["pred_label"] == ib["label"]
        label_changed = ia["label"] != ib["label"]
        changed += label_changed
        if right_a == right_b:
            continue
        entry = {k: v for k, v in ib.items() if k not in ("label", "pred_label")}
        entry.update(
            item_id=item_id, label_a=ia["label"], pred_a=ia["pred_label"], label_b=ib["label"],
            pred_b=ib["pred_label"], label_changed=bool(label_changed),
        )
        (fixed if right_b else broken).append(entry)
    extra = {}
    if grades is not None:  # ordinal: a miss by three grades is not a miss by one
        rank = {g: k for k, g in enumerate(grades)}

        def gap(label, pred):
            return abs(rank[label] - rank[pred]) if label in rank and pred in rank else None

        for e in fixed + broken:
            e["gap_a"], e["gap_b"] = gap(e["label_a"], e["pred_a"]), gap(e["label_b"], e["pred_b"])
        fixed.sort(key=lambda e: -(e["gap_a"] or 0))
        broken.sort(key=lambda e: -(e["gap_b"] or 0))
        extra["n_broken_far"] = sum(1 for e in broken if (e["gap_b"] or 0) >= 2)
    extra["n_broken_label_changed"] = sum(1 for e in broken if e["label_changed"])
    return {
        "a": _summary(a),
        "b": _summary(b),
        "deltas": deltas,
        "per_class": per_class,
        "n_common": len(common),
        "only_a": sum(1 for i in items_a if i not in items_b),
        "only_b": len(items_b) - len(common),
        "n_label_changed": int(changed),
        "fixed": fixed,
        "broken": broken,
        **extra,
    }
