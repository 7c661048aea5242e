import datetime as dt

import pytest

from defectlab.errors import InputError, PermissionDenied
from defectlab.store import (
    annotate,
    create_project,
    delete_items,
    delete_project,
    item_ids,
    list_projects,
    retract,
    update_project,
)
from defectlab.team.accounts import create_user, set_role
from defectlab.team.audit_view import (
    activity,
    activity_actions,
    deleted_items,
    deleted_projects,
    restore_items,
    restore_project,
)
from defectlab.team.qc import qc_decide


@pytest.fixture
def story(ws, monkeypatch, add_items):
    """A short day of work: accounts, a project, labels, a relabel, an undo, a review, QC, a deletion."""
    create_user(ws, "lead", "lead-pass-1", "lead", by="local", admin_password="local-pass-1")
    create_user(ws, "ann", "ann-pass-1", "annotator", by="lead")
    create_user(ws, "rev", "rev-pass-1", "reviewer", by="lead")
    p = create_project(ws, "p", ["a", "b"], user="lead")
    items = add_items(ws, p, 4)
    first = annotate(ws, items[0], "a", user="ann", seconds=3)
    annotate(ws, items[0], "b", user="ann")
    undone = annotate(ws, items[1], "a", user="ann")
    retract(ws, undone, "ann")
    annotate(ws, items[2], "b", user="lead", source="review")
    annotate(ws, items[3], "a", user="local", source="import")
    qc_decide(ws, first, "rev", False, "look again")
    update_project(ws, p, descriptions={"a": {"description": "裂纹"}}, user="lead")
    set_role(ws, "rev", "lead", by="local")
    delete_items(ws, items[3:], user="lead")
    return ws, p, items


def test_merged_view_newest_first(story):
    ws, p, items = story
    df = activity(ws, by="lead")
    assert list(df.columns) == ["at", "user", "action", "kind", "project_id", "target", "details"]
    assert list(df["at"]) == sorted(df["at"], reverse=True)
    got = list(zip(df["user"], df["action"], strict=True))[::-1]  # oldest first, easier to read
    assert got == [
        ("local", "user.password"), ("local", "user.create"), ("lead", "user.create"), ("lead", "user.create"),
        ("lead", "project.create"),
        ("ann", "label.create"), ("ann", "label.relabel"), ("ann", "label.create"), ("ann", "label.undo"),
        ("lead", "label.review"),
        ("rev", "qc.reject"),
        ("lead", "project.update"), ("local", "user.role"), ("lead", "items.delete")]
    relabel = df[df["action"] == "label.relabel"].iloc[0]
    assert relabel["target"] == str(items[0]) and relabel["details"]["label"] == "b"
    assert relabel["kind"] == "annotation" and relabel["project_id"] == p.id
    qc_row = df[df["action"] == "qc.reject"].iloc[0]
    assert qc_row["details"] == {"annotation_id": qc_row["details"]["annotation_id"], "annotator": "ann",
                                 "comment": "look again"}
    undo = df[df["action"] == "label.undo"].iloc[0]
    assert "undoes" in undo["details"] and "label" not in undo["details"]


def test_filters(story):
    ws, p, items = story
    labels = activity(ws, actions="label", by="lead")
    assert set(labels["action"]) == {"label.create", "label.relabel", "label.undo", "label.review"}
    assert set(activity(ws, actions=["label.undo", "qc"], by="lead")["action"]) == {"label.undo", "qc.reject"}
    assert set(activity(ws, actions="user.create", by="lead")["target"]) == {"lead", "ann", "rev"}
    assert set(activity(ws, user="ann", by="lead")["user"]) == {"ann"}
    in_project = activity(ws, project=p, by="lead")
    assert not in_project["action"].str.startswith("user.").any() and len(in_project) == 9
    assert len(activity(ws, limit=3, by="lead")) == 3
    imports = activity(ws, actions="label.import", include_import_labels=True, by="lead")
    assert imports["target"].tolist() == [str(items[3])]
    assert activity(ws, actions="label.import", by="lead").empty
    assert activity(ws, actions="user.reset", by="lead").empty  # a family is matched on whole words


def test_time_bounds(story):
    ws, _, _ = story
    df = activity(ws, by="lead")
    middle = df["at"].iloc[len(df) // 2]
    later = activity(ws, start=middle, by="lead")
    assert len(later) == (df["at"] >= middle).sum() > 1 and (later["at"] >= middle).all()
    earlier = activity(ws, end=middle, by="lead")
    assert len(earlier) == (df["at"] <= middle).sum() > 1 and (earlier["at"] <= middle).all()
    assert len(earlier) + len(later) == len(df) + (df["at"] == middle).sum()
    today = dt.datetime.now(dt.UTC).date()
    assert len(activity(ws, start=today, end=today, tz="UTC", by="lead")) == len(df)
    assert activity(ws, end="2000-01-01", by="lead").empty
    with pytest.raises(InputError, match="date such as"):
        activity(ws, start="2025-13-45", by="lead")
    with pytest.raises(InputError, match="limit"):
        activity(ws, limit=0, by="lead")


def test_who_may_read(story):
    ws, _, _ = story
    own = activity(ws, user="ann", by="ann")  # one's own activity
    assert set(own["user"]) == {"ann"} and len(own) == 4
    with pytest.raises(PermissionDenied, match="view team"):
        activity(ws, by="ann")
    with pytest.raises(PermissionDenied):
        activity_actions(ws, by="ann")
    names = activity_actions(ws, by="lead")
    assert {"items.delete", "user.role", "label.relabel", "qc.reject"} <= set(names) and names == sorted(names)


def test_restore_is_admin_only(story):
    ws, p, items = story
    listed = deleted_items(ws, p, by="lead")
    assert listed["id"].tolist() == [items[3]] and listed["deleted_by"].tolist() == ["lead"]
    for who in ("lead", "rev", "ann"):  # rev is a lead by now
        with pytest.raises(PermissionDenied, match="may not restore"):
            restore_items(ws, items[3:], user=who)
    assert restore_items(ws, items[3:], user="local") == 1
    assert items[3] in item_ids(ws, p.id) and deleted_items(ws, by="lead").empty

    with pytest.raises(PermissionDenied, match="may not delete"):
        delete_project(ws, p, user="ann")
    delete_project(ws, p, user="lead")
    assert [d["name"] for d in deleted_projects(ws, by="lead")] == ["p"] and list_projects(ws) == []
    with pytest.raises(PermissionDenied, match="may not restore"):
        restore_project(ws, p.id, user="lead")
    restore_project(ws, p.id, user="local")
    assert [q.name for q in list_projects(ws)] == ["p"]
    actions = activity(ws, actions=["items", "project"], by="lead")["action"].tolist()
    assert actions[:3] == ["project.restore", "project.delete", "items.restore"]
    with pytest.raises(PermissionDenied):
        deleted_items(ws, by="ann")
