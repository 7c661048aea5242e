import pytest

from defectlab.errors import InputError, NotFoundError, PermissionDenied
from defectlab.store import (
    UNUSABLE,
    annotate,
    create_project,
    current_label,
    delete_items,
    label_history,
)
from defectlab.team.assignments import (
    create_assignment,
    next_items,
    queue_counts,
    visible_label,
)
from defectlab.team.gold import (
    gold_accuracy,
    gold_items,
    qualification_rule,
    qualification_status,
    reset_qualification,
    set_gold,
    set_qualification_rule,
    unset_gold,
    waive_qualification,
)


@pytest.fixture
def team(ws, make_team):
    return make_team(ws)


@pytest.fixture
def proj(team, add_items):
    p = create_project(team, "p", ["a", "b", "c"], user="lead")
    return p, add_items(team, p, 12)


def test_set_gold_writes_the_answer_as_a_review_label(team, proj):
    p, items = proj
    annotate(team, items[0], "b", user="ann1")
    assert set_gold(team, items[0], "a", by="lead") == {"item_id": items[0], "project_id": p.id,
                                                         "label": "a", "qualification": False}
    state = current_label(team, items[0])
    assert (state.label, state.source, state.user) == ("a", "review", "lead")
    n = len(label_history(team, items[0]))
    set_gold(team, items[0], "a", by="lead", qualification=True)  # same answer: no new label row
    assert len(label_history(team, items[0])) == n
    set_gold(team, items[0], "c", by="lead")
    assert current_label(team, items[0]).label == "c" and len(label_history(team, items[0])) == n + 1
    assert gold_items(team, p, by="lead") == [
        {"item_id": items[0], "label": "c", "qualification": False,
         "created_at": gold_items(team, p, by="lead")[0]["created_at"], "created_by": "lead"}]
    set_gold(team, items[1], UNUSABLE, by="lead")
    assert [g["label"] for g in gold_items(team, p, by="lead")] == ["c", UNUSABLE]


@pytest.mark.parametrize("who, error, match", [
    ("ann1", PermissionDenied, "may not assign"),
    ("rev", PermissionDenied, "may not assign"),
])
def test_only_leads_and_admins_manage_gold(team, proj, who, error, match):
    p, items = proj
    with pytest.raises(error, match=match):
        set_gold(team, items[0], "a", by=who)
    set_gold(team, items[0], "a", by="lead")
    with pytest.raises(error, match=match):
        gold_items(team, p, by=who)  # the answers are secret
    with pytest.raises(error, match=match):
        unset_gold(team, items[0], by=who)


def test_set_gold_validates(team, proj):
    _p, items = proj
    with pytest.raises(InputError, match=r"Unknown gold label 'z'.*a, b, c"):
        set_gold(team, items[0], "z", by="lead")
    with pytest.raises(NotFoundError):
        set_gold(team, 99999, "a", by="lead")
    delete_items(team, items[:1], user="lead")
    with pytest.raises(InputError, match="deleted"):
        set_gold(team, items[0], "a", by="lead")


def test_unset_gold(team, proj):
    p, items = proj
    set_gold(team, items[0], "a", by="lead")
    unset_gold(team, items[0], by="lead")
    assert gold_items(team, p, by="lead") == []
    assert current_label(team, items[0]).label == "a"  # the reviewed label stays
    with pytest.raises(NotFoundError, match="not a gold item"):
        unset_gold(team, items[0], by="lead")


def test_gold_accuracy(team, proj):
    p, items = proj
    for item, label in zip(items[:3], "abc", strict=True):
        set_gold(team, item, label, by="lead")
    set_gold(team, items[3], "a", by="lead", qualification=True)
    for item, label in zip(items[:3], "abb", strict=True):  # ann1: 2 of 3 right
        annotate(team, item, label, user="ann1")
    annotate(team, items[0], "c", user="ann2")
    annotate(team, items[0], "a", user="ann2")  # ann2 corrects themself: the latest label counts
    annotate(team, items[3], "b", user="ann2")  # qualification item, wrong
    annotate(team, items[5], "a", user="ann2")  # not gold
    df = gold_accuracy(team, p, by="rev")
    assert df.to_dict("records") == [
        {"user": "ann1", "n_gold": 3, "n_correct": 2, "accuracy": 2 / 3},
        {"user": "ann2", "n_gold": 1, "n_correct": 1, "accuracy": 1.0}]
    df = gold_accuracy(team, p, include_qualification=True, by="lead")
    assert df.set_index("user").loc["ann2", "n_gold"] == 2
    with pytest.raises(PermissionDenied):
        gold_accuracy(team, p, by="ann1")


def _qual_setup(team, p, items):
    for item, label in zip(items[:3], "abc", strict=True):
        set_gold(team, item, label, by="lead", qualification=True)
    set_qualification_rule(team, p, n_items=3, threshold=2 / 3, by="lead")
    create_assignment(team, p, items[4:8], ["ann1"], overlap=0, gold_rate=0, by="lead")


def test_qualification_gates_real_work(team, proj):
    p, items = proj
    _qual_setup(team, p, items)
    status = qualification_status(team, p, "ann1")
    assert (status["required"], status["state"], status["n_required"], status["remaining"]) == (
        True, "in_progress", 3, items[:3])
    queue = next_items(team, p, "ann1", n=None)
    assert [(e["item_id"], e["reason"]) for e in queue] == [(i, "qualification") for i in items[:3]]
    assert visible_label(team, items[0], "ann1") is None  # the answers stay hidden
    annotate(team, items[0], "a", user="ann1")
    annotate(team, items[1], "c", user="ann1")  # wrong
    assert [e["item_id"] for e in next_items(team, p, "ann1", n=None)] == [items[2]]
    annotate(team, items[2], "c", user="ann1")
    status = qualification_status(team, p, "ann1")
    assert (status["state"], status["n_correct"], status["n_answered"]) == ("passed", 2, 3)
    assert [e["reason"] for e in next_items(team, p, "ann1", n=None)] == ["assigned"] * 4
    # passing is recorded once and survives new qualification items
    set_gold(team, items[3], "a", by="lead", qualification=True)
    set_qualification_rule(team, p, by="lead")
    assert qualification_status(team, p, "ann1")["state"] == "passed"
    with team.read() as conn:
        assert conn.execute("SELECT COUNT(*) FROM qualification_events").fetchone()[0] == 1
    assert queue_counts(team, p, "ann1")["qualification"] == "passed"


def test_failed_qualification_stops_work_until_reset_or_waived(team, proj):
    p, items = proj
    _qual_setup(team, p, items)
    for item in items[:3]:
        annotate(team, item, "b", user="ann1")  # 1 of 3 right
    assert qualification_status(team, p, "ann1")["state"] == "failed"
    assert next_items(team, p, "ann1", n=None) == []
    with pytest.raises(PermissionDenied):
        reset_qualification(team, p, "ann1", by="ann1")
    reset_qualification(team, p, "ann1", by="lead")
    status = qualification_status(team, p, "ann1")
    assert (status["state"], status["n_answered"]) == ("in_progress", 0)  # old answers no longer count
    assert [e["item_id"] for e in next_items(team, p, "ann1", n=None)] == items[:3]
    waive_qualification(team, p, "ann1", by="lead")
    assert qualification_status(team, p, "ann1")["state"] == "waived"
    assert len(next_items(team, p, "ann1", n=None)) == 4


def test_qualification_only_for_annotators_and_only_with_items(team, proj):
    p, items = proj
    assert qualification_status(team, p, "ann1")["state"] == "not_required"
    _qual_setup(team, p, items)
    assert qualification_status(team, p, "rev")["required"] is False
    assert qualification_status(team, p, "lead")["state"] == "not_required"
    with pytest.raises(NotFoundError):
        qualification_status(team, p, "ghost")


def test_qualification_rule(team, proj):
    p, items = proj
    assert qualification_rule(team, p) == {"n_items": None, "threshold": 0.8, "n_available": 0}
    for item in items[:4]:
        set_gold(team, item, "a", by="lead", qualification=True)
    set_qualification_rule(team, p, n_items=2, threshold=1.0, by="lead")
    assert qualification_rule(team, p) == {"n_items": 2, "threshold": 1.0, "n_available": 4}
    assert qualification_status(team, p, "ann2")["remaining"] == items[:2]
    for bad, match in ((dict(n_items=0), "n_items"), (dict(n_items=1.5), "n_items"),
                       (dict(threshold=0), "threshold"), (dict(threshold=1.2), "threshold"),
                       (dict(threshold=True), "threshold")):
        with pytest.raises(InputError, match=match):
            set_qualification_rule(team, p, by="lead", **bad)
    with pytest.raises(PermissionDenied):
        set_qualification_rule(team, p, n_items=1, by="ann1")
