"""Label operations from the browser: checked like hostile input, stored exactly once, conflicts answered."""

import pytest
from ui_support import tiny_workspace

from defectlab.errors import InputError
from defectlab.labelops import MAX_OPS, LabelOp, applied_ops, apply_op, apply_ops, parse_op
from defectlab.store import UNUSABLE, annotate, current_label, label_history


@pytest.fixture
def tiny(tmp_path):
    return tiny_workspace(tmp_path / "ws", n_items=6)


def _op(op_id, item, label="scratch", **kw):
    return LabelOp(op_id=op_id, item_id=item, label=label, **kw)


def _rows(ws, item):
    return [r for r in label_history(ws, item) if r["retracts"] is None]


def test_parse_op_reads_the_fields():
    op = parse_op({"op": "abcdef12", "item": 3, "label": "pit", "version": 5, "seconds": 1.25,
                   "after": "previous1", "kind": "label"})
    assert (op.op_id, op.item_id, op.label, op.expected_version, op.seconds, op.after_op) == (
        "abcdef12", 3, "pit", 5, 1.25, "previous1")
    assert parse_op({"op": "abcdef12", "item": 3, "seconds": 99999}).seconds == 3600.0  # an hour at most


@pytest.mark.parametrize("raw, match", [
    ("not a dict", "expected an object"),
    ({"item": 1}, "'op'"),
    ({"op": "short", "item": 1}, "'op'"),
    ({"op": "<script>alert(1)</script>", "item": 1}, "'op'"),
    ({"op": "a" * 65, "item": 1}, "'op'"),
    ({"op": "abcdefgh", "item": -1}, "'item'"),
    ({"op": "abcdefgh", "item": True}, "'item'"),
    ({"op": "abcdefgh", "item": "7"}, "'item'"),
    ({"op": "abcdefgh", "item": 2**70}, "'item'"),
    ({"op": "abcdefgh", "item": 1, "kind": "drop_table"}, "'kind'"),
    ({"op": "abcdefgh", "item": 1, "label": "x" * 201}, "'label'"),
    ({"op": "abcdefgh", "item": 1, "label": ["a"]}, "'label'"),
    ({"op": "abcdefgh", "item": 1, "version": -3}, "'version'"),
    ({"op": "abcdefgh", "item": 1, "seconds": float("nan")}, "'seconds'"),
    ({"op": "abcdefgh", "item": 1, "seconds": "1"}, "'seconds'"),
    ({"op": "abcdefgh", "item": 1, "after": "../../x"}, "'after'"),
])
def test_parse_op_refuses_bad_fields(raw, match):
    with pytest.raises(InputError, match=match):
        parse_op(raw)


def test_an_operation_sent_twice_is_stored_once(tiny):
    ws, _, ids = tiny
    first = apply_op(ws, _op("op-000001", ids[0], expected_version=0, seconds=1.5), "local")
    again = apply_op(ws, _op("op-000001", ids[0], expected_version=0, seconds=1.5), "local")
    assert first.status == again.status == "saved"
    assert again.annotation_id == first.annotation_id and again.version == first.annotation_id
    assert len(_rows(ws, ids[0])) == 1
    assert current_label(ws, ids[0]).label == "scratch"
    assert applied_ops(ws, ["op-000001", "op-unknown"]) == {"op-000001": first.annotation_id}


def test_a_change_made_meanwhile_is_a_conflict_and_nothing_is_written(tiny):
    ws, _, ids = tiny
    annotate(ws, ids[1], "pit", user="local", source="import")
    result = apply_op(ws, _op("op-000002", ids[1], expected_version=0), "local")
    assert result.status == "conflict"
    assert result.by == "local" and result.now_label == "pit" and "changed by" in result.message
    assert current_label(ws, ids[1]).label == "pit"
    assert applied_ops(ws, ["op-000002"]) == {}
    # sent again, the answer is the same (nothing recorded in between)
    assert apply_op(ws, _op("op-000002", ids[1], expected_version=0), "local").status == "conflict"


def test_relabel_before_the_first_answer_follows_the_first_operation(tiny):
    ws, _, ids = tiny
    a = apply_op(ws, _op("op-first01", ids[2], expected_version=0), "local")
    b = apply_op(ws, _op("op-second1", ids[2], label="pit", expected_version=0, after_op="op-first01"), "local")
    assert a.status == b.status == "saved"
    assert current_label(ws, ids[2]).label == "pit"


def test_undo_retracts_once(tiny):
    ws, _, ids = tiny
    apply_op(ws, _op("op-label01", ids[3], expected_version=0), "local")
    undo = apply_op(ws, LabelOp(op_id="op-undo001", item_id=ids[3], kind="undo", target_op="op-label01"), "local")
    assert undo.status == "saved" and current_label(ws, ids[3]).label is None
    assert apply_op(ws, LabelOp(op_id="op-undo001", item_id=ids[3], kind="undo", target_op="op-label01"),
                    "local").status == "saved"  # the same undo sent again
    twice = apply_op(ws, LabelOp(op_id="op-undo002", item_id=ids[3], kind="undo", target_op="op-label01"), "local")
    assert twice.status == "error" and "already undone" in twice.message
    nothing = apply_op(ws, LabelOp(op_id="op-undo003", item_id=ids[3], kind="undo", target_op="op-nothing"), "local")
    assert nothing.status == "error"


def test_an_id_used_for_another_item_or_by_another_person_is_refused(tiny):
    ws, _, ids = tiny
    apply_op(ws, _op("op-shared1", ids[4]), "local")
    other_item = apply_op(ws, _op("op-shared1", ids[5]), "local")
    other_user = apply_op(ws, _op("op-shared1", ids[4]), "mallory")
    assert other_item.status == other_user.status == "error"
    assert len(_rows(ws, ids[5])) == 0 and len(_rows(ws, ids[4])) == 1


def test_refusals_are_answers_not_exceptions(tiny):
    ws, _, ids = tiny
    unknown_class = apply_op(ws, _op("op-badlab1", ids[0], label="<b>oops</b>"), "local")
    no_item = apply_op(ws, _op("op-noitem1", 99999), "local")
    no_label = apply_op(ws, _op("op-nolab01", ids[0], label=None), "local")
    assert [r.status for r in (unknown_class, no_item, no_label)] == ["error"] * 3
    assert "Unknown label" in unknown_class.message
    assert _rows(ws, ids[0]) == []


def test_unknown_user_may_not_label_in_team_mode(tiny):
    from defectlab.team import create_user

    ws, _, ids = tiny
    create_user(ws, "ann", "a-long-enough-pass-1", "annotator", admin_password="admin-long-pass-2")
    viewer = apply_op(ws, _op("op-nobody1", ids[0]), "nobody")
    assert viewer.status == "error" and _rows(ws, ids[0]) == []
    assert apply_op(ws, _op("op-annota1", ids[0]), "ann").status == "saved"


def test_review_and_prediction_operations(tiny):
    ws, _, ids = tiny
    annotate(ws, ids[0], "scratch", source="import")
    version = current_label(ws, ids[0]).version
    review = apply_op(ws, LabelOp(op_id="op-review1", item_id=ids[0], kind="review", action="accept", label="pit",
                                  expected_version=version, run_id="run-x"), "local")
    assert review.status == "saved"
    row = label_history(ws, ids[0])[-1]
    assert (row["source"], row["label"], row["run_id"]) == ("review", "pit", "run-x")
    assert "accepted suggestion pit" in row["comment"]
    model = apply_ops(ws, [_op("op-model01", ids[1], label=UNUSABLE)], "local", source="model", comment="confirmed")
    assert model[0].status == "saved" and label_history(ws, ids[1])[-1]["source"] == "model"


def test_apply_ops_refuses_a_flood(tiny):
    ws, _, ids = tiny
    with pytest.raises(InputError, match="at most"):
        apply_ops(ws, [_op(f"op-{k:08d}", ids[0]) for k in range(MAX_OPS + 1)], "local")


def test_label_states_match_the_project_wide_derivation(tiny):
    from defectlab.labelops import label_states
    from defectlab.store import current_labels

    ws, project, ids = tiny
    annotate(ws, ids[0], "pit", source="import")
    annotate(ws, ids[1], "scale", source="import")
    apply_op(ws, _op("op-states1", ids[1], label="pit", expected_version=current_label(ws, ids[1]).version), "local")
    states = label_states(ws, [ids[0], ids[1], ids[2]])
    assert states == {i: s for i, s in current_labels(ws, project.id).items() if i in ids[:3]}
    assert ids[2] not in states and label_states(ws, []) == {}
