from collections import Counter

import pytest

from defectlab.errors import InputError, NotFoundError, PermissionDenied
from defectlab.store import (
    annotate,
    create_project,
    current_label,
    delete_items,
    undo_last,
)
from defectlab.team.assignments import (
    assignment_progress,
    close_assignment,
    create_assignment,
    list_assignments,
    next_items,
    queue_counts,
    visible_label,
    visible_labels,
)
from defectlab.team.gold import set_gold

ANNS = ["ann1", "ann2", "ann3"]


@pytest.fixture
def team(ws, make_team):
    return make_team(ws, annotators=ANNS, supervisors=("sup",))


@pytest.fixture
def proj(team, add_items):
    p = create_project(team, "p", ["light", "medium", "heavy"], ordinal=True, user="lead")
    return p, add_items(team, p, 20)


def _members(ws, assignment_id):
    with ws.read() as conn:
        return [tuple(r) for r in conn.execute(
            "SELECT user, item_id, position, kind FROM assignment_items WHERE assignment_id = ? "
            "ORDER BY user, position", (assignment_id,))]


def test_split_with_overlap_is_balanced(team, proj):
    p, items = proj
    out = create_assignment(team, p, items, ANNS, overlap=0.2, overlap_k=2, gold_rate=0, by="lead")
    rows = _members(team, out["assignment_id"])
    per_item = Counter(item for _, item, _, _ in rows)
    assert sorted(per_item) == sorted(items)
    assert sorted(Counter(per_item.values()).items()) == [(1, 16), (2, 4)]  # 20% of 20 go to two people
    assert out["n_items"] == 20 and out["n_overlap"] == 4 and out["skipped"] == []
    assert out["per_user"] == {u: {"work": 8, "gold": 0} for u in ANNS}  # 24 pieces, 8 each
    # an overlapped item goes to two *different* people
    assert len(set(rows)) == len(rows) == 24
    # positions are 0..n-1 per user
    for u in ANNS:
        assert [pos for user, _, pos, _ in rows if user == u] == list(range(8))


def test_same_random_state_same_split(tmp_path, make_team, add_items):
    from defectlab.store import open_workspace

    plans = []
    for name in ("a", "b"):
        ws = make_team(open_workspace(tmp_path / name), annotators=ANNS, supervisors=("sup",))
        p = create_project(ws, "p", ["x", "y"], user="lead")
        items = add_items(ws, p, 15)
        out = create_assignment(ws, p, items, ANNS, overlap=0.3, overlap_k=3, gold_rate=0, by="lead",
                                random_state=7)
        plans.append(_members(ws, out["assignment_id"]))
    assert plans[0] == plans[1]
    assert Counter(Counter(i for _, i, _, _ in plans[0]).values()) == {1: 10, 3: 5}


def test_nobody_gets_an_item_twice(team, proj):
    p, items = proj
    annotate(team, items[0], "light", user="ann1")
    first = create_assignment(team, p, items[:6], ["ann1", "ann2"], overlap=1.0, overlap_k=2, gold_rate=0,
                              by="lead")
    # ann1 labeled item 0 already: it goes to ann2 only
    assert first["per_user"] == {"ann1": {"work": 5, "gold": 0}, "ann2": {"work": 6, "gold": 0}}
    assert any("fewer than 2 people" in w for w in first["warnings"])
    again = create_assignment(team, p, items[:6], ["ann1", "ann2"], overlap=0, gold_rate=0, by="lead", reassign=True)
    assert again["n_items"] == 0 and sorted(again["skipped"]) == sorted(items[:6])
    assert any("not assigned" in w for w in again["warnings"])


def test_a_second_batch_leaves_out_items_of_an_open_one(team, proj):
    """Found by a team pass: a second assignment of 'the next unlabeled items' gave the first one's items to the
    other annotator (overlap nobody planned), and reported 0 overlapped items."""
    from defectlab.team import assigned_items, close_assignment, reopen_assignment

    p, items = proj
    first = create_assignment(team, p, items[:6], ["ann1"], overlap=0, gold_rate=0, by="lead")
    assert assigned_items(team, p, by="lead") == set(items[:6])
    second = create_assignment(team, p, items[:10], ["ann1", "ann2"], overlap=0, gold_rate=0, by="lead")
    assert sorted(second["already_assigned"]) == sorted(items[:6]) and second["n_items"] == 4
    assert any("already in an open assignment" in str(w) for w in second["warnings"])
    assert set(assigned_items(team, p, by="lead")) == set(items[:10])
    close_assignment(team, first["assignment_id"], by="lead")
    assert assigned_items(team, p, by="lead") == set(items[6:10])
    reopen_assignment(team, first["assignment_id"], by="lead")  # a close undone: the items come back
    assert assigned_items(team, p, by="lead") == set(items[:10])
    with pytest.raises(PermissionDenied):
        reopen_assignment(team, first["assignment_id"], by="ann1")
    with pytest.raises(InputError, match="already in an open assignment"):  # no empty assignment
        create_assignment(team, p, items[:3], ["ann2"], overlap=0, gold_rate=0, by="lead")


def test_reopening_refuses_items_given_out_again_meanwhile(team, proj):
    """Found by a review: close A, give its items to B, reopen A: the items were in two open assignments."""
    from defectlab.team import close_assignment, reopen_assignment

    p, items = proj
    first = create_assignment(team, p, items[:6], ["ann1"], overlap=0, gold_rate=0, by="lead")
    close_assignment(team, first["assignment_id"], by="lead")
    second = create_assignment(team, p, items[:2], ["ann2"], overlap=0, gold_rate=0, by="lead")
    with pytest.raises(InputError, match="2 item"):
        reopen_assignment(team, first["assignment_id"], by="lead")
    close_assignment(team, second["assignment_id"], by="lead")
    reopen_assignment(team, first["assignment_id"], by="lead")


def test_bulk_assign_gives_exactly_the_chosen_items(team, proj):
    """Found by a review: from the Items page, items already assigned were dropped silently (0 assigned) and an
    empty assignment was left behind. A person choosing items one by one gets them assigned as asked."""
    from defectlab.bulk import bulk_action

    p, items = proj
    create_assignment(team, p, items[:3], ["ann1"], overlap=0, gold_rate=0, by="lead")
    res = bulk_action(team, p, items[:3], "assign", user="lead", assignee="ann2")
    assert res["n"] == 3


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(overlap=1.5), InputError, r"'overlap' parameter of create_assignment must be a number in \[0.0, 1.0\]"),
    (dict(overlap_k=1), InputError, r"'overlap_k' parameter of create_assignment must be >= 2"),
    (dict(overlap_k=4), InputError, "overlap_k=4 needs at least 4 annotators"),
    (dict(gold_rate=0.6), InputError, r"'gold_rate' parameter of create_assignment must be a number in \[0.0, 0.5\]"),
    (dict(item_ids=[]), InputError, "item_ids is empty"),
    (dict(item_ids="12"), InputError, "must be a list"),
    (dict(item_ids=[1, 1]), InputError, "twice"),
    (dict(item_ids=[99999]), InputError, "not live sample items"),
    (dict(annotators=["ann1", "ghost"]), NotFoundError, "ghost"),
    (dict(annotators=["ann1", "ann1"]), InputError, "twice"),
    (dict(by="ann1"), PermissionDenied, "may not assign"),
    (dict(by="rev"), PermissionDenied, "may not assign"),
])
def test_create_assignment_validates(team, proj, kwargs, error, match):
    p, items = proj
    args = dict(item_ids=items[:5], annotators=ANNS, by="lead")
    args.update(kwargs)
    with pytest.raises(error, match=match):
        create_assignment(team, p, **args)
    with team.read() as conn:
        assert conn.execute("SELECT COUNT(*) FROM assignments").fetchone()[0] == 0


def test_deleted_and_other_project_items_are_refused(team, proj, add_items):
    p, items = proj
    other = create_project(team, "other", ["a", "b"], user="lead")
    (foreign,) = add_items(team, other, 1, prefix="o")
    delete_items(team, items[:1], user="lead")
    for bad in (items[0], foreign):
        with pytest.raises(InputError, match=rf"\[{bad}\] are not live sample items"):
            create_assignment(team, p, [bad, items[1]], ["ann1"], overlap=0, by="lead")


def test_queue_is_stable_and_shrinks_as_the_annotator_labels(team, proj):
    p, items = proj
    create_assignment(team, p, items, ["ann1", "ann2"], overlap=0, gold_rate=0, by="lead")
    queue = next_items(team, p, "ann1", n=None)
    assert len(queue) == 10 and next_items(team, p, "ann1", n=None) == queue
    assert {e["reason"] for e in queue} == {"assigned"} and {e["comment"] for e in queue} == {None}
    assert next_items(team, p, "ann1", n=3) == queue[:3]
    annotate(team, queue[0]["item_id"], "light", user="ann1", seconds=2.0)
    assert next_items(team, p, "ann1", n=None) == queue[1:]
    # labels by somebody else do not take an item out of ann1's queue
    annotate(team, queue[1]["item_id"], "heavy", user="lead")
    assert next_items(team, p, "ann1", n=1) == [queue[1]]
    # undo puts it back, at its place
    undo_last(team, "ann1", p.id)
    assert next_items(team, p, "ann1", n=None) == queue
    assert queue_counts(team, p, "ann1") == {"remaining": 10, "rejected": 0, "done": 0,
                                             "qualification": "not_required"}
    delete_items(team, [queue[2]["item_id"]], user="lead")
    assert queue[2] not in next_items(team, p, "ann1", n=None)


@pytest.mark.parametrize("n", [0, -1, 1.5, True])
def test_next_items_validates_n(team, proj, n):
    p, _ = proj
    with pytest.raises(InputError, match=r"'n' parameter of next_items must be (an integer )?>= 1"):
        next_items(team, p, "ann1", n=n)


def test_gold_is_mixed_in_unannounced(team, proj):
    p, items = proj
    for item in items[:4]:
        set_gold(team, item, "medium", by="lead")
    out = create_assignment(team, p, items[4:], ["ann1", "ann2"], overlap=0, gold_rate=0.25, by="lead",
                            random_state=3)
    assert out["per_user"] == {"ann1": {"work": 8, "gold": 2}, "ann2": {"work": 8, "gold": 2}}
    rows = _members(team, out["assignment_id"])
    gold_positions = [pos for user, _, pos, kind in rows if user == "ann1" and kind == "gold"]
    assert len(gold_positions) == 2 and all(0 <= g < 10 for g in gold_positions)
    queue = next_items(team, p, "ann1", n=None)
    assert len(queue) == 10 and {e["reason"] for e in queue} == {"assigned"}
    assert [e["item_id"] for e in queue] == [i for u, i, _, _ in rows if u == "ann1"]
    # gold answers are invisible to the annotator, visible to the lead
    gold_item = next(i for u, i, _, k in rows if u == "ann1" and k == "gold")
    assert visible_label(team, gold_item, "ann1") is None
    assert visible_label(team, gold_item, "lead") == "medium"


def test_no_gold_available_is_a_warning(team, proj):
    p, items = proj
    out = create_assignment(team, p, items[:4], ["ann1"], overlap=0, gold_rate=0.25, by="lead")
    assert out["per_user"]["ann1"] == {"work": 4, "gold": 0}
    assert any("No gold items" in w for w in out["warnings"])


def test_blind_labels(team, proj):
    p, items = proj
    create_assignment(team, p, items[:2], ["ann1", "ann2"], overlap=1.0, overlap_k=2, gold_rate=0, by="lead")
    item, free = items[0], items[10]
    annotate(team, item, "heavy", user="ann1")
    assert visible_label(team, item, "ann2") is None  # ann1's label is hidden before ann2 labels
    assert visible_label(team, item, "sup") is None
    assert visible_label(team, item, "ann1") == "heavy"
    # blind votes: no expected_version, neither overwrites the other
    annotate(team, item, "light", user="ann2")
    assert visible_label(team, item, "ann2") == "light" and visible_label(team, item, "ann1") == "heavy"
    state = current_label(team, item)
    assert (state.n_votes, state.agreed) == (2, False)
    assert visible_label(team, item, "rev") == state.label  # reviewers and leads see the current label
    assert visible_label(team, item, "lead") == state.label
    annotate(team, free, "medium", user="lead")  # not assigned, not gold: visible to everybody
    assert visible_label(team, free, "ann2") == "medium"
    got = visible_labels(team, p, "ann2", item_ids=[item, items[1], free])
    assert got == {item: "light", items[1]: None, free: "medium"}
    full = visible_labels(team, p, "ann2")
    assert len(full) == 20 and full[item] == "light"
    assert visible_labels(team, p, "lead")[item] == state.label
    with pytest.raises(NotFoundError):
        visible_label(team, 99999, "ann1")


def test_close_assignment_and_progress(team, proj):
    p, items = proj
    out = create_assignment(team, p, items[:6], ["ann1", "ann2"], overlap=0, gold_rate=0, by="lead")
    first = next_items(team, p, "ann1")[0]["item_id"]
    annotate(team, first, "light", user="ann1")
    progress = assignment_progress(team, p, by="rev")
    assert progress.set_index("user")[["n_items", "n_done", "n_remaining"]].to_dict("index") == {
        "ann1": {"n_items": 3, "n_done": 1, "n_remaining": 2},
        "ann2": {"n_items": 3, "n_done": 0, "n_remaining": 3}}
    (listed,) = list_assignments(team, p, by="lead")
    assert listed["id"] == out["assignment_id"] and listed["params"]["overlap"] == 0
    assert {d["user"]: d["n_done"] for d in listed["progress"]} == {"ann1": 1, "ann2": 0}
    with pytest.raises(PermissionDenied):
        assignment_progress(team, p, by="ann1")
    with pytest.raises(PermissionDenied):
        close_assignment(team, out["assignment_id"], by="ann1")
    close_assignment(team, out["assignment_id"], by="lead")
    assert next_items(team, p, "ann1", n=None) == []
    assert list_assignments(team, p, by="lead")[0]["closed_at"] is not None
    with pytest.raises(NotFoundError):
        close_assignment(team, 999, by="lead")


# -- the pure steps of create_assignment ---------------------------------------------------------------

def test_distribute_balances_overlaps_and_respects_blocked_pairs():
    import numpy as np

    from defectlab.team.assignments import _distribute

    order = list(range(100))
    blocked = {(i, "a") for i in range(0, 100, 10)}  # "a" labeled every tenth item already
    work, skipped, short = _distribute(order, ["a", "b", "c"], blocked, 20, 2, np.random.default_rng(1))
    assert skipped == [] and short == 0
    assert not any((i, "a") in blocked for i in work["a"])
    counts = {u: len(items) for u, items in work.items()}
    assert sum(counts.values()) == 20 * 2 + 80 and max(counts.values()) - min(counts.values()) <= 1
    for i in order[:20]:  # the overlapped items went to two different people
        assert sum(i in items for items in work.values()) == 2
    for u, items in work.items():
        assert items == sorted(items) and len(set(items)) == len(items), u  # order kept, never twice


def test_distribute_reports_what_nobody_could_take():
    import numpy as np

    from defectlab.team.assignments import _distribute

    blocked = {(1, "a"), (2, "a"), (2, "b")}
    work, skipped, short = _distribute([1, 2, 3], ["a", "b"], blocked, 2, 2, np.random.default_rng(0))
    assert skipped == [2] and short == 1  # item 1 wanted two people, only "b" could take it
    assert work["b"][0] == 1 and 3 in work["a"] + work["b"]


def test_interleave_gold_keeps_both_orders_and_uses_every_slot():
    import numpy as np

    from defectlab.team.assignments import _interleave_gold

    for seed in range(5):
        queue = _interleave_gold([10, 11, 12, 13], [90, 91], np.random.default_rng(seed))
        assert [i for i, k in queue if k == "work"] == [10, 11, 12, 13]
        assert [i for i, k in queue if k == "gold"] == [90, 91]
    assert _interleave_gold([1, 2], [], np.random.default_rng(0)) == [(1, "work"), (2, "work")]
