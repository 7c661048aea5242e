import pytest

from defectlab.errors import InputError, NotFoundError, PermissionDenied
from defectlab.store import (
    annotate,
    create_project,
    delete_project,
    get_project,
    list_audit,
    list_projects,
    parse_classes,
    project_summary,
    restore_project,
    update_project,
)


def test_create_and_get(ws):
    p = create_project(ws, "Scrap", "heavy, medium,light，thin", ordinal=True)
    assert p.classes == ("heavy", "medium", "light", "thin") and p.ordinal
    assert get_project(ws, "Scrap") == get_project(ws, p.id) == p
    assert [q.name for q in list_projects(ws)] == ["Scrap"]
    assert list_audit(ws)[0]["action"] == "project.create"


@pytest.mark.parametrize(
    "classes, match",
    [(["a"], "at least two"), (["a", "a"], "twice"), (["a", "__unusable__"], "reserved"), ("", "at least two")],
)
def test_bad_classes(classes, match):
    with pytest.raises(InputError, match=match):
        parse_classes(classes)


def test_duplicate_name_and_unknown_project(ws):
    create_project(ws, "p", ["a", "b"])
    with pytest.raises(InputError, match="already exists"):
        create_project(ws, "p", ["a", "b"])
    with pytest.raises(NotFoundError, match="projects: p"):
        get_project(ws, "nope")


def test_update_classes_descriptions(ws, add_items):
    p = create_project(ws, "p", ["a", "b"])
    ids = add_items(ws, p, 1)
    annotate(ws, ids[0], "a")
    p = update_project(ws, p, classes=["b", "a", "c"], descriptions={"a": {"criteria": "round"}})
    assert p.classes == ("b", "a", "c") and p.descriptions["a"]["criteria"] == "round"
    with pytest.raises(InputError, match="items carry those labels"):
        update_project(ws, p, classes=["b", "c"])


def test_soft_delete_and_restore(ws):
    p = create_project(ws, "p", ["a", "b"])
    delete_project(ws, p)
    assert list_projects(ws) == []
    with pytest.raises(NotFoundError):
        get_project(ws, "p")
    restore_project(ws, "p")
    assert get_project(ws, "p").deleted_at is None


def test_summary_counts(ws, add_items):
    p = create_project(ws, "p", ["a", "b"])
    ids = add_items(ws, p, 4)
    annotate(ws, ids[0], "a")
    annotate(ws, ids[1], "b")
    annotate(ws, ids[2], "__unusable__")
    s = project_summary(ws, p)
    assert (s["n_items"], s["n_labeled"], s["n_unlabeled"], s["n_unusable"]) == (4, 2, 1, 1)
    assert s["per_class"] == {"a": 1, "b": 1} and s["last_run"] is None


def test_unknown_user_cannot_create(ws):
    with pytest.raises(PermissionDenied, match="unknown"):
        create_project(ws, "p", ["a", "b"], user="mallory")
