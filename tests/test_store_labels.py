import pytest

from defectlab.errors import ConflictError, InputError, NotFoundError
from defectlab.store import (
    annotate,
    annotate_many,
    create_project,
    current_label,
    current_labels,
    delete_items,
    derive_label,
    items_frame,
    label_history,
    restore_items,
    retract,
    undo_last,
)


def _row(i, label, user, source="human", retracts=None):
    return dict(id=i, label=label, user=user, source=source, retracts=retracts)


@pytest.mark.parametrize(
    "rows, label, source, agreed",
    [
        ([], None, None, True),
        ([_row(1, "a", "u")], "a", "human", True),
        ([_row(1, "a", "u"), _row(2, "b", "u")], "b", "human", True),  # a person changes their mind
        ([_row(1, "a", "u"), _row(2, "b", "v"), _row(3, "b", "w")], "b", "consensus", False),
        ([_row(1, "a", "u"), _row(2, "b", "v")], "b", "consensus", False),  # tie -> most recent
        ([_row(1, "a", "u"), _row(2, "b", "v"), _row(3, "a", "r", "review")], "a", "review", True),
        ([_row(1, "a", "u"), _row(2, "b", "u"), _row(3, None, "u", retracts=2)], "a", "human", True),
        ([_row(1, "a", "u"), _row(2, None, "u", retracts=1)], None, None, True),
    ],
)
def test_derive_label(rows, label, source, agreed):
    state = derive_label(rows)
    assert (state.label, state.source, state.agreed) == (label, source, agreed)
    assert state.version == (rows[-1]["id"] if rows else 0)


def test_annotate_validates(ws, add_items):
    p = create_project(ws, "p", ["a", "b"])
    (i,) = add_items(ws, p, 1)
    with pytest.raises(InputError, match=r"Unknown label 'z'.*a, b"):
        annotate(ws, i, "z")
    with pytest.raises(InputError, match="Unknown annotation source"):
        annotate(ws, i, "a", source="robot")
    with pytest.raises(NotFoundError):
        annotate(ws, 999, "a")
    with pytest.raises(InputError, match="seconds"):
        annotate(ws, i, "a", seconds=-1)
    assert label_history(ws, i) == []


def test_version_check_refuses_a_stale_write(ws, add_items):
    p = create_project(ws, "p", ["a", "b"])
    (i,) = add_items(ws, p, 1)
    seen = current_label(ws, i).version
    annotate(ws, i, "a", expected_version=seen)
    with pytest.raises(ConflictError, match="changed by local meanwhile"):
        annotate(ws, i, "b", expected_version=seen)
    assert current_label(ws, i).label == "a" and len(label_history(ws, i)) == 1


def test_undo_and_retract(ws, add_items):
    p = create_project(ws, "p", ["a", "b"])
    i, j = add_items(ws, p, 2)
    annotate(ws, i, "a")
    annotate(ws, j, "b")
    assert undo_last(ws, "local", p.id) == j
    assert current_label(ws, j).label is None
    assert undo_last(ws, "local", p.id) == i
    assert undo_last(ws, "local", p.id) is None
    a = annotate(ws, i, "b")
    retract(ws, a)
    with pytest.raises(NotFoundError):
        retract(ws, 10_000)
    with pytest.raises(InputError, match="already undone"):
        retract(ws, a)
    assert len(label_history(ws, i)) == 4  # nothing is erased


def test_annotate_many_is_all_or_nothing(ws, add_items):
    p = create_project(ws, "p", ["a", "b"])
    ids = add_items(ws, p, 3)
    annotate_many(ws, ids, "b", seconds=6)
    states = current_labels(ws, p.id)
    assert {s.label for s in states.values()} == {"b"}
    hist = label_history(ws, ids[0])
    assert hist[0]["seconds"] == pytest.approx(2.0)
    with pytest.raises(NotFoundError):
        annotate_many(ws, [ids[0], 12345], "a")
    assert current_label(ws, ids[0]).label == "b"


def test_deleted_items_leave_labels_and_frame(ws, add_items):
    p = create_project(ws, "p", ["a", "b"])
    ids = add_items(ws, p, 3)
    annotate(ws, ids[0], "a")
    delete_items(ws, [ids[0]])
    assert ids[0] not in current_labels(ws, p.id)
    assert list(items_frame(ws, p.id)["id"]) == ids[1:]
    with pytest.raises(InputError, match="deleted"):
        annotate(ws, ids[0], "b")
    restore_items(ws, [ids[0]])
    df = items_frame(ws, p.id)
    assert df.loc[df["id"] == ids[0], "label"].item() == "a"


def test_retract_many_undoes_a_bulk_label_once_and_only_ones_own(ws, add_items, make_team):
    from defectlab.errors import PermissionDenied
    from defectlab.store import annotate_many, create_project, current_label, retract_many

    make_team(ws, annotators=("ann1", "ann2"))
    p = create_project(ws, "P", ["a", "b"], user="lead")
    ids = add_items(ws, p, 4)
    first = annotate_many(ws, ids, "a", user="ann1")
    written = annotate_many(ws, ids, "b", user="ann1")  # the stray key
    with pytest.raises(PermissionDenied):
        retract_many(ws, written, user="ann2")          # not hers
    assert {current_label(ws, i).label for i in ids} == {"b"}
    assert retract_many(ws, written, user="ann1") == 4
    assert {current_label(ws, i).label for i in ids} == {"a"}
    assert retract_many(ws, written, user="ann1") == 0  # a second Undo changes nothing
    assert retract_many(ws, first, user="lead") == 4     # a lead may undo others' work
    assert {current_label(ws, i).label for i in ids} == {None}
