"""The SQL label counts agree with the Python derivation (``derive_label``) item by item."""

import random
from collections import Counter

from defectlab.store import (
    annotate,
    create_project,
    current_labels,
    delete_items,
    label_counts,
    project_summary,
    retract,
)


def _python_counts(ws, project_id):
    states = current_labels(ws, project_id)
    return (Counter(s.label for s in states.values()),
            sum(1 for s in states.values() if not s.agreed))


def test_label_counts_match_derive_label_on_random_histories(ws, add_items, make_team):
    make_team(ws, annotators=("ann1", "ann2", "ann3"), reviewers=("rev",))
    p = create_project(ws, "P", ["a", "b", "c"], user="lead")
    ids = add_items(ws, p, 80)
    rng = random.Random(4)
    written = []
    for _ in range(400):
        item = rng.choice(ids)
        user = rng.choice(["ann1", "ann2", "ann3", "ann1", "rev"])
        source = "review" if user == "rev" and rng.random() < 0.5 else "human"
        written.append(annotate(ws, item, rng.choice(["a", "b", "c", "__unusable__"]), user=user,
                                source=source))
        if rng.random() < 0.08:
            retract(ws, written[-1], user=user)  # an undo
    delete_items(ws, ids[:5], user="lead")
    want, disagreed = _python_counts(ws, p.id)
    got = label_counts(ws, p.id)
    assert got["labels"] == dict(want)
    assert got["n_disagreed"] == disagreed > 0
    assert got["n_items"] == 75
    s = project_summary(ws, p)
    assert s["n_needs_review"] == disagreed
    assert s["per_class"] == {c: want.get(c, 0) for c in "abc"}
    # the cache follows a new label at once
    annotate(ws, ids[-1], "c", user="rev", source="review")
    want, _ = _python_counts(ws, p.id)
    assert label_counts(ws, p.id)["labels"] == dict(want)


def test_the_cached_counts_follow_deletes_restores_and_new_items(ws, add_items):
    from defectlab.store import restore_items

    p = create_project(ws, "Q", ["a", "b"], user="local")
    ids = add_items(ws, p, 6)
    for i in ids[:3]:
        annotate(ws, i, "a", user="local")
    for i in ids[3:]:
        annotate(ws, i, "b", user="local")
    assert label_counts(ws, p.id)["labels"] == {"a": 3, "b": 3}
    delete_items(ws, [ids[0]], user="local")  # no new label: the key still changes
    assert label_counts(ws, p.id) == {"n_items": 5, "labels": {"a": 2, "b": 3}, "n_disagreed": 0}
    restore_items(ws, [ids[0]], user="local")
    delete_items(ws, [ids[5]], user="local")  # one deleted before and after: a different one
    assert label_counts(ws, p.id) == {"n_items": 5, "labels": {"a": 3, "b": 2}, "n_disagreed": 0}
    add_items(ws, p, 1, prefix="new")  # an unlabeled item: only the item count changes
    assert label_counts(ws, p.id)["n_items"] == 6


def test_the_counts_follow_class_renames_and_merges(ws, add_items, make_team):
    """A rename or merge changes no annotation row: the counts (and the summary) read labels as they mean today,
    and a merge turns a disagreement between the merged classes into an agreement."""
    from defectlab.store import merge_classes, rename_class

    make_team(ws, annotators=("ann1", "ann2"))
    p = create_project(ws, "R", ["patches", "spots", "dents", "pits"], user="lead")
    ids = add_items(ws, p, 8)
    for i in ids[:3]:
        annotate(ws, i, "patches", user="ann1")
    annotate(ws, ids[3], "dents", user="ann1")
    annotate(ws, ids[3], "pits", user="ann2")  # a disagreement the merge below settles
    annotate(ws, ids[4], "spots", user="ann1")
    assert label_counts(ws, p.id)["n_disagreed"] == 1  # cached now: the key must see the events
    rename_class(ws, p, "patches", "Patches", user="lead")
    p = merge_classes(ws, p, ["dents", "pits"], "dents", user="lead")
    got = label_counts(ws, p.id)
    want, disagreed = _python_counts(ws, p.id)
    assert got["labels"] == dict(want) == {"Patches": 3, "dents": 1, "spots": 1}
    assert got["n_disagreed"] == disagreed == 0
    s = project_summary(ws, p)
    assert s["per_class"]["Patches"] == 3 and s["n_labeled"] == 5 and s["n_needs_review"] == 0
    # a later class reusing an old name is not the renamed one
    from defectlab.store import add_class

    p = add_class(ws, p, "patches", user="lead")
    annotate(ws, ids[5], "patches", user="ann1")
    assert label_counts(ws, p.id)["labels"] == {"Patches": 3, "dents": 1, "spots": 1, "patches": 1}
