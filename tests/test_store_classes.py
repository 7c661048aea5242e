"""Project and class editing: renames and merges keep every annotation's meaning; runs follow."""

import pytest

from defectlab.errors import InputError, PermissionDenied
from defectlab.store import (
    add_class,
    annotate,
    create_project,
    current_label,
    current_labels,
    delete_project,
    get_project,
    list_projects,
    merge_classes,
    rename_class,
    rename_project,
    reorder_classes,
    restore_project,
)
from defectlab.store.browse import item_history, query_items


@pytest.fixture
def proj(ws, add_items):
    p = create_project(ws, "P", ["scrach", "pit", "dent"], descriptions={"scrach": {"description": "a line"}})
    ids = add_items(ws, p, 6)
    with ws.transaction() as conn:
        conn.execute("INSERT INTO users (username, role, created_at) VALUES ('ann', 'annotator', 't')")
        conn.execute("INSERT INTO users (username, role, created_at) VALUES ('bob', 'annotator', 't')")
    return p, ids


def test_rename_class_is_an_event_and_keeps_meaning(ws, proj):
    p, ids = proj
    first = annotate(ws, ids[0], "scrach", user="ann")
    q = rename_class(ws, "P", "scrach", "scratch")
    assert q.classes == ("scratch", "pit", "dent") and q.descriptions["scratch"]["description"] == "a line"
    assert current_label(ws, ids[0]).label == "scratch"
    with ws.read() as conn:  # the annotation row itself is untouched
        assert conn.execute("SELECT label FROM annotations WHERE id = ?", (first,)).fetchone()[0] == "scrach"
    history = item_history(ws, ids[0])
    assert [(e["source"], e["label"], e["written"]) for e in history] == [
        ("human", "scratch", "scrach"), ("rename", "scratch", "scrach")]
    annotate(ws, ids[1], "scratch", user="ann")        # the new name is a label now
    with pytest.raises(InputError):
        annotate(ws, ids[2], "scrach", user="ann")     # the old one is not
    # a new class that reuses the old name does not capture the renamed annotations
    add_class(ws, "P", "scrach")
    annotate(ws, ids[2], "scrach", user="ann")
    labels = {i: s.label for i, s in current_labels(ws, p.id).items()}
    assert labels == {ids[0]: "scratch", ids[1]: "scratch", ids[2]: "scrach"}


def test_merge_turns_disagreement_into_agreement(ws, proj):
    _p, ids = proj
    annotate(ws, ids[0], "pit", user="ann")
    annotate(ws, ids[0], "dent", user="bob")
    assert not current_label(ws, ids[0]).agreed
    q = merge_classes(ws, "P", ["pit", "dent"], into="hole")
    assert q.classes == ("scrach", "hole")
    state = current_label(ws, ids[0])
    assert state.label == "hole" and state.agreed and state.n_votes == 2
    assert [e["source"] for e in item_history(ws, ids[0])] == ["human", "human", "merge", "merge"]
    assert query_items(ws, "P", {"label": "hole"})["total"] == 1
    with pytest.raises(InputError, match="at least two"):
        merge_classes(ws, "P", ["scrach"], into="hole")


def test_merge_into_existing_and_refusals(ws, proj):
    _p, ids = proj
    annotate(ws, ids[0], "dent", user="ann")
    q = merge_classes(ws, "P", ["dent"], into="pit")
    assert q.classes == ("scrach", "pit") and current_label(ws, ids[0]).label == "pit"
    with pytest.raises(InputError, match="no class"):
        merge_classes(ws, "P", ["nope"], into="pit")
    with pytest.raises(InputError, match="merge"):
        rename_class(ws, "P", "scrach", "pit")
    with pytest.raises(InputError, match="reserved"):
        rename_class(ws, "P", "scrach", "__unusable__")
    with pytest.raises(InputError, match="already has"):
        add_class(ws, "P", "pit")
    with pytest.raises(PermissionDenied):
        rename_class(ws, "P", "scrach", "scratch", user="ann")


def test_reorder_and_rename_project(ws, proj):
    reorder_classes(ws, "P", ["dent", "scrach", "pit"])
    assert get_project(ws, "P").classes == ("dent", "scrach", "pit")
    with pytest.raises(InputError, match="exactly"):
        reorder_classes(ws, "P", ["dent", "pit"])
    q = rename_project(ws, "P", "Plates line 2")
    assert q.name == "Plates line 2" and get_project(ws, q.id).name == "Plates line 2"
    create_project(ws, "Other", ["a", "b"])
    with pytest.raises(InputError, match="already exists"):
        rename_project(ws, "Other", "Plates line 2")


def test_soft_delete_and_restore(ws, proj):
    delete_project(ws, "P")
    assert [x.name for x in list_projects(ws)] == []
    assert get_project(ws, "P", include_deleted=True).deleted_at
    restore_project(ws, "P")
    assert [x.name for x in list_projects(ws)] == ["P"]


def test_runs_trained_before_a_rename_show_today_names(ws, tmp_path):
    """A run trained on 'crazing' compares and predicts under the renamed class."""
    from ui_support import demo_workspace

    from defectlab.learn import compare, get_run, list_runs, predict_items, train_project

    ws, project, _labeled, unlabeled = demo_workspace(tmp_path / "d", n_per_class=6, n_unlabeled=3, train=True)
    run_a = list_runs(ws, project.name)[0]["run_id"]
    rename_class(ws, project.name, "crazing", "craze")
    record = get_run(ws, run_a)
    assert set(record["metrics"]["per_class"]) == {"craze", "patches", "scratches"}
    assert record["metrics"]["classes"] == ["craze", "patches", "scratches"]
    items = record["items"]
    assert {it["label"] for it in items} == {"craze", "patches", "scratches"}
    preds = predict_items(ws, project.name, run_a, unlabeled)
    assert all(pr["label"] in ("craze", "patches", "scratches") for pr in preds["predictions"])
    run_b = train_project(ws, project.name, model="logreg", folds=3, preset="fast", model_preset="fast")["run_id"]
    result = compare(ws, project.name, run_a, run_b)
    assert set(result) >= {"a", "b", "fixed", "broken"}
    assert {it["label"] for it in get_run(ws, run_b)["items"]} == {"craze", "patches", "scratches"}


def test_team_figures_read_labels_under_today_names(ws, add_items, make_team):
    """Agreement, gold accuracy and QC read votes as they mean after a rename or merge: a vote for a renamed class
    is not a disagreement with the same class under its new name (before: agreement refused the old names as
    unknown classes, gold accuracy counted right answers wrong)."""
    from defectlab.team.agreement import agreement_summary, pairwise_agreement
    from defectlab.team.gold import gold_accuracy, set_gold

    make_team(ws, annotators=("ann1", "ann2"))
    p = create_project(ws, "T", ["scrach", "pit", "dent"], user="lead")
    ids = add_items(ws, p, 4)
    set_gold(ws, ids[3], "scrach", by="lead")
    annotate(ws, ids[0], "scrach", user="ann1")
    annotate(ws, ids[1], "pit", user="ann1")
    annotate(ws, ids[1], "dent", user="ann2")
    annotate(ws, ids[3], "scrach", user="ann1")
    rename_class(ws, "T", "scrach", "scratch", user="lead")
    merge_classes(ws, "T", ["pit", "dent"], into="hole", user="lead")
    annotate(ws, ids[0], "scratch", user="ann2")  # the same class, named after the rename
    annotate(ws, ids[3], "scratch", user="ann2")
    s = agreement_summary(ws, "T", by="lead")
    assert s["n_items"] == 3 and s["unanimous"] == 1.0
    pairs = pairwise_agreement(ws, "T", by="lead")
    assert pairs["percent_agreement"].tolist() == [1.0]
    acc = gold_accuracy(ws, "T", by="lead")
    assert acc.set_index("user")["accuracy"].to_dict() == {"ann1": 1.0, "ann2": 1.0}


@pytest.mark.parametrize("name", ["a,b", "a，b", "a/b", "a\\b", "x\ny", "x\ry", "esc\x1b[31m", "bel\x07",
                                  "rtl\u202eexe", "nul\x00", "zw\u200bj", "..", ".", "__mine", "__unusable__",
                                  "x" * 101])
def test_class_names_that_break_files_or_look_alike_are_refused_everywhere(ws, proj, name):
    """One rule for creating a project, adding, renaming and merging into a class (found by an attacker pass:
    newlines and direction overrides were accepted and broke the YOLO export)."""
    with pytest.raises(InputError):
        create_project(ws, "New", [name, "ok"])
    with pytest.raises(InputError):
        add_class(ws, "P", name)
    with pytest.raises(InputError):
        rename_class(ws, "P", "pit", name)
    with pytest.raises(InputError):
        merge_classes(ws, "P", ["pit", "dent"], into=name)
    assert get_project(ws, "P").classes == ("scrach", "pit", "dent")


def test_ordinary_names_in_any_script_stay_allowed(ws, proj):
    for name in ("rolled-in scale", "压入氧化铁皮", "Grade 3: heavy (HMS 1)", "pit?", "R&D <test>", "a.b"):
        add_class(ws, "P", name)
    with pytest.raises(InputError, match="control or direction"):
        rename_project(ws, "P", "P\u202eevil")


def test_remove_class_only_when_nothing_carries_it(ws, proj):
    from defectlab.store import remove_class, unused_classes
    from defectlab.team import set_gold

    _p, ids = proj
    annotate(ws, ids[0], "scrach", user="ann")
    retract_id = annotate(ws, ids[1], "dent", user="ann")
    from defectlab.store import retract

    retract(ws, retract_id, user="ann")  # an undone label still counts as used (history reads it)
    add_class(ws, "P", "typo")
    add_class(ws, "P", "gold_only")
    set_gold(ws, ids[2], "gold_only", by="local")
    assert unused_classes(ws, "P") == ["pit", "typo"]
    with pytest.raises(InputError, match="merge it"):
        remove_class(ws, "P", "dent", user="local")
    with pytest.raises(PermissionDenied):
        remove_class(ws, "P", "typo", user="ann")
    q = remove_class(ws, "P", "typo", user="local")
    assert q.classes == ("scrach", "pit", "dent", "gold_only")
    rename_class(ws, "P", "scrach", "scratch", user="local")  # the renamed class's labels keep it in use
    assert "scratch" not in unused_classes(ws, "P")
