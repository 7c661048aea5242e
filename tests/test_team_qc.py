import sqlite3

import pytest

from defectlab.errors import InputError, NotFoundError, PermissionDenied
from defectlab.store import annotate, create_project, retract
from defectlab.team.accounts import create_user
from defectlab.team.assignments import create_assignment, next_items, queue_counts
from defectlab.team.gold import set_gold
from defectlab.team.qc import (
    approval_rates,
    qc_decide,
    qc_decisions,
    qc_pending,
    qc_sample,
)


@pytest.fixture
def team(ws, make_team):
    return make_team(ws, reviewers=("rev", "rev2"))


@pytest.fixture
def labeled(team, add_items):
    """ann1 labeled 20 items, ann2 10 items, rev 3 items; ids per person."""
    p = create_project(team, "p", ["a", "b"], user="lead")
    items = add_items(team, p, 40)
    with team.transaction() as conn:  # one commit: these tests are about QC, not about saving
        ann = {"ann1": [annotate(team, i, "a", user="ann1", conn=conn) for i in items[:20]],
               "ann2": [annotate(team, i, "b", user="ann2", conn=conn) for i in items[20:30]],
               "rev": [annotate(team, i, "a", user="rev", conn=conn) for i in items[30:33]]}
    return p, items, ann


def test_sample_rate_per_annotator(team, labeled):
    p, items, ann = labeled
    pending = qc_sample(team, p, "rev", rate=0.1, random_state=0)
    by_user = {}
    for e in pending:
        by_user.setdefault(e["annotator"], []).append(e["annotation_id"])
    # ceil(0.1 * 20) = 2 of ann1's labels, ceil(0.1 * 10) = 1 of ann2's; never rev's own labels
    assert {u: len(v) for u, v in by_user.items()} == {"ann1": 2, "ann2": 1}
    assert set(by_user["ann1"]) <= set(ann["ann1"]) and set(by_user["ann2"]) <= set(ann["ann2"])
    assert {e["reason"] for e in pending} == {"sample"}
    assert pending == sorted(pending, key=lambda e: e["annotation_id"])
    first = pending[0]
    assert first["label"] in ("a", "b") and first["item_id"] in items
    # asking again draws nothing new: the reviewer's list is stable across reruns
    assert qc_sample(team, p, "rev", rate=0.1, random_state=5) == pending
    assert qc_pending(team, p, "rev") == pending
    # the second reviewer gets nothing while the rate is met, and the first reviewer's labels are sampled
    second = qc_sample(team, p, "rev2", rate=0.1, random_state=0)
    assert [e["annotator"] for e in second] == ["rev"]


def test_same_seed_same_sample(tmp_path, monkeypatch, add_items):
    from defectlab.store import open_workspace

    picks = []
    for name in ("x", "y"):
        ws = open_workspace(tmp_path / name)
        create_user(ws, "ann1", "ann-pass-1", "annotator", by="local", admin_password="local-pass-1")
        create_user(ws, "rev", "rev-pass-1", "reviewer", by="local")
        p = create_project(ws, "p", ["a", "b"])
        items = add_items(ws, p, 30)
        with ws.transaction() as conn:
            for i in items:
                annotate(ws, i, "a", user="ann1", conn=conn)
        picks.append([e["annotation_id"] for e in qc_sample(ws, p, "rev", rate=0.2, random_state=11)])
    assert picks[0] == picks[1] and len(picks[0]) == 6


def test_sample_tops_up_as_work_grows_and_skips_gold(team, labeled, add_items):
    p, items, _ann = labeled
    assert len(qc_sample(team, p, "rev", rate=0.5, random_state=0)) == 10 + 5
    set_gold(team, items[35], "a", by="lead")
    annotate(team, items[35], "b", user="ann2")  # gold: checked automatically, not sampled
    for i in items[36:40]:
        annotate(team, i, "b", user="ann2")
    pending = qc_sample(team, p, "rev", rate=0.5, random_state=0)
    assert sum(e["annotator"] == "ann2" for e in pending) == 7  # ceil(0.5 * 14)
    assert items[35] not in {e["item_id"] for e in pending}


@pytest.mark.parametrize("rate", [0, 1.5, -0.1, True, "0.1"])
def test_sample_validates_rate(team, labeled, rate):
    p, _, _ = labeled
    with pytest.raises(InputError, match=r"'rate' parameter of qc_sample must be a number in \(0.0, 1.0\]"):
        qc_sample(team, p, "rev", rate=rate)


def test_only_reviewers_sample_and_decide(team, labeled):
    p, _, ann = labeled
    with pytest.raises(PermissionDenied, match="may not review"):
        qc_sample(team, p, "ann1")
    with pytest.raises(PermissionDenied, match="may not review"):
        qc_decide(team, ann["ann2"][0], "ann1", True)


def test_decide_validates(team, labeled):
    _p, items, ann = labeled
    with pytest.raises(InputError, match="needs a comment"):
        qc_decide(team, ann["ann1"][0], "rev", False, "   ")
    with pytest.raises(InputError, match="your own label"):
        qc_decide(team, ann["rev"][0], "rev", True)
    with pytest.raises(InputError, match="True or False"):
        qc_decide(team, ann["ann1"][0], "rev", 1)
    with pytest.raises(NotFoundError):
        qc_decide(team, 99999, "rev", True)
    review = annotate(team, items[39], "b", user="lead", source="review")
    with pytest.raises(InputError, match="review label"):
        qc_decide(team, review, "rev", True)
    with pytest.raises(InputError, match="longer than"):
        qc_decide(team, ann["ann1"][0], "rev", False, "x" * 2001)


def test_rejected_label_goes_back_to_the_annotator_and_the_fix_to_the_reviewer(team, labeled):
    p, items, ann = labeled
    create_assignment(team, p, items[33:36], ["ann1"], overlap=0, gold_rate=0, by="lead")
    rejected = ann["ann1"][4]
    qc_decide(team, rejected, "rev", False, "裂纹比划痕宽，应为 b")
    queue = next_items(team, p, "ann1", n=None)
    assert queue[0] == {"item_id": items[4], "reason": "rejected", "comment": "裂纹比划痕宽，应为 b",
                        "assignment_id": None}
    assert [e["reason"] for e in queue[1:]] == ["assigned"] * 3
    assert queue_counts(team, p, "ann1")["rejected"] == 1
    fix = annotate(team, items[4], "b", user="ann1")
    assert [e["reason"] for e in next_items(team, p, "ann1", n=None)] == ["assigned"] * 3
    pending = qc_sample(team, p, "rev", rate=0.01, random_state=0)
    assert pending[0]["annotation_id"] == fix and pending[0]["reason"] == "fix"
    assert fix not in {e["annotation_id"] for e in qc_pending(team, p, "rev2")}
    # undoing the fix brings the rejection back
    retract(team, fix, "ann1")
    assert next_items(team, p, "ann1")[0]["reason"] == "rejected"


def test_approval_rates_use_the_latest_decision(team, labeled):
    p, _, ann = labeled
    for a in ann["ann1"][:3]:
        qc_decide(team, a, "rev", True)
    qc_decide(team, ann["ann1"][3], "rev", False, "wrong class")
    qc_decide(team, ann["ann2"][0], "rev", False, "blurred, mark unusable")
    qc_decide(team, ann["ann2"][0], "rev2", True, "on second look it is fine")  # replaces the rejection
    df = approval_rates(team, p, by="lead")
    assert df.to_dict("records") == [
        {"annotator": "ann1", "n_reviewed": 4, "n_accepted": 3, "n_rejected": 1, "approval_rate": 0.75},
        {"annotator": "ann2", "n_reviewed": 1, "n_accepted": 1, "n_rejected": 0, "approval_rate": 1.0}]
    with pytest.raises(PermissionDenied):
        approval_rates(team, p, by="ann1")
    # decided entries leave the reviewer's pending list
    qc_sample(team, p, "rev", rate=1.0, random_state=0)
    decided = set(ann["ann1"][:4]) | {ann["ann2"][0]}
    assert not decided & {e["annotation_id"] for e in qc_pending(team, p, "rev")}


def test_decisions_listing_and_privacy(team, labeled):
    p, _, ann = labeled
    qc_decide(team, ann["ann1"][0], "rev", False, "wrong")
    qc_decide(team, ann["ann2"][0], "rev", True)
    all_rows = qc_decisions(team, p, by="lead")
    assert list(all_rows["annotator"]) == ["ann2", "ann1"]  # newest first
    assert list(all_rows["accept"]) == [True, False] and all_rows["label"].tolist() == ["b", "a"]
    own = qc_decisions(team, p, by="ann1")  # an annotator sees only their own feedback
    assert own["annotator"].tolist() == ["ann1"] and own["comment"].tolist() == ["wrong"]
    with pytest.raises(PermissionDenied):
        qc_decisions(team, p, annotator="ann2", by="ann1")
    assert qc_decisions(team, p, reviewer="rev2", by="rev").empty


def test_decisions_are_append_only(team, labeled):
    _p, _, ann = labeled
    qc_decide(team, ann["ann1"][0], "rev", True)
    with team.transaction() as conn:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("UPDATE qc_decisions SET accept = 0")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("DELETE FROM qc_decisions")
