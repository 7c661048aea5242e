"""Moving and copying items to another project (``store.move_items``, ``defectlab move-items``)."""

import json

import pytest

from defectlab.cli import main
from defectlab.errors import InputError, NotFoundError, PermissionDenied
from defectlab.store import (
    add_item,
    annotate,
    create_project,
    current_label,
    get_item,
    list_audit,
    move_items,
    rename_class,
)
from defectlab.store.browse import item_history, query_items


@pytest.fixture
def two(ws, add_items):
    plates = create_project(ws, "Plates", ["scratch", "pit"])
    scrap = create_project(ws, "Scrap", ["light", "heavy"])
    ids = add_items(ws, plates, 5, prefix="mixed/photo")
    annotate(ws, ids[0], "pit", user="local")
    return plates, scrap, ids


def _plate_with_crops(ws, project, n=2):
    """A plate item and ``n`` crops cut from it (boxes), the crops labeled scratch."""
    with ws.transaction() as conn:
        sha, rel = ws.put_blob(b"plate-bytes", "bin")
        plate = add_item(conn, project.id, sha256=sha, blob=rel, width=200, height=200, channels=1,
                         source="plate_1.png", role="plate")
        crops = []
        for k in range(n):
            sha, rel = ws.put_blob(f"crop-{k}".encode(), "bin")
            crops.append(add_item(conn, project.id, sha256=sha, blob=rel, width=20, height=20, channels=1,
                                  source=f"plate_1.png#{k}", parent_id=plate, box=[k, k, k + 20, k + 20],
                                  box_index=k))
    for c in crops:
        annotate(ws, c, "scratch", user="local")
    return plate, crops


def test_a_move_carries_the_label_of_today_and_leaves_the_original_restorable(ws, two):
    plates, scrap, ids = two
    rename_class(ws, plates, "pit", "heavy", user="local")  # the label of today, not as written
    res = move_items(ws, ids[:2], "Scrap", user="local")
    assert res["n"] == 2 and res["labeled"] == 1 and res["skipped"] == [] and res["project"] == "Scrap"
    new0, new1 = res["ids"][ids[0]], res["ids"][ids[1]]
    assert current_label(ws, new0).label == "heavy" and current_label(ws, new1).label is None
    moved = get_item(ws, new0)
    assert moved["project_id"] == scrap.id and moved["source"] == "mixed/photo_0.png"
    assert moved["meta"]["moved_from"] == {"project_id": plates.id, "project": "Plates", "item_id": ids[0]}
    assert moved["blob"] == get_item(ws, ids[0])["blob"]  # the same stored image, not a second copy
    # the originals are soft-deleted, their history intact where it was
    assert get_item(ws, ids[0])["deleted_at"] is not None
    assert query_items(ws, "Plates")["total"] == 3
    assert query_items(ws, "Scrap")["total"] == 2
    assert next(e["label"] for e in item_history(ws, ids[0])) == "heavy"
    assert [e["source"] for e in item_history(ws, new0)] == ["import"]
    assert list_audit(ws)[0]["action"] == "items.move" and list_audit(ws)[0]["project_id"] == plates.id


def test_a_copy_keeps_the_originals_and_a_second_copy_skips_what_is_there(ws, two):
    _plates, _scrap, ids = two
    first = move_items(ws, ids[:3], "Scrap", user="local", copy=True, add_classes=True)
    assert first["n"] == 3 and first["added_classes"] == ["pit"]
    assert get_item(ws, ids[0])["deleted_at"] is None
    again = move_items(ws, ids[:4], "Scrap", user="local", copy=True)
    assert again["n"] == 1 and again["ids"] == {ids[3]: again["ids"][ids[3]]}
    assert again["skipped"] == [{"item_id": i, "existing_id": first["ids"][i]} for i in ids[:3]]
    # a move of an image the target already holds leaves that one where it is
    moved = move_items(ws, ids[:1], "Scrap", user="local")
    assert moved["n"] == 0 and get_item(ws, ids[0])["deleted_at"] is None


def test_missing_classes_are_refused_before_anything_is_written(ws, two):
    _plates, scrap, ids = two
    with pytest.raises(InputError, match=r"Scrap.*pit"):
        move_items(ws, ids[:2], "Scrap", user="local")
    assert query_items(ws, "Scrap")["total"] == 0 and get_item(ws, ids[0])["deleted_at"] is None
    res = move_items(ws, ids[:2], scrap, user="local", add_classes=True)
    assert res["added_classes"] == ["pit"] and current_label(ws, res["ids"][ids[0]]).label == "pit"


def test_an_unusable_mark_moves_without_a_class(ws, two):
    _plates, _scrap, ids = two
    annotate(ws, ids[2], "__unusable__", user="local")
    res = move_items(ws, [ids[2]], "Scrap", user="local")
    assert current_label(ws, res["ids"][ids[2]]).label == "__unusable__" and res["added_classes"] == []


def test_a_plate_brings_its_crops_linked_to_the_new_plate(ws, two):
    plates, _scrap, _ids = two
    plate, crops = _plate_with_crops(ws, plates)
    res = move_items(ws, [plate], "Scrap", user="local", add_classes=True)
    assert res["n"] == 3 and res["labeled"] == 2
    new_plate = res["ids"][plate]
    for k, c in enumerate(crops):
        new = get_item(ws, res["ids"][c])
        assert new["parent_id"] == new_plate and new["box"] == [k, k, k + 20, k + 20] and new["box_index"] == k
        assert current_label(ws, new["id"]).label == "scratch"
    assert get_item(ws, new_plate)["role"] == "plate" and get_item(ws, plate)["deleted_at"] is not None


def test_a_crop_without_its_plate_becomes_a_loose_crop(ws, two):
    plates, _scrap, _ids = two
    plate, crops = _plate_with_crops(ws, plates)
    res = move_items(ws, [crops[0]], "Scrap", user="local", add_classes=True)
    new = get_item(ws, res["ids"][crops[0]])
    assert new["parent_id"] is None and new["box"] is None and new["source"] == "plate_1.png#0"
    assert get_item(ws, plate)["deleted_at"] is None  # the plate stays, with its other crop


@pytest.mark.parametrize("bad, error, text", [
    (lambda ids, ws: [ids[0], 10**30], NotFoundError, "No item"),
    (lambda ids, ws: [-1], NotFoundError, "No item"),
    (lambda ids, ws: [], InputError, "No items"),
])
def test_hostile_ids_are_refused(ws, two, bad, error, text):
    _plates, _scrap, ids = two
    with pytest.raises(error, match=text):
        move_items(ws, bad(ids, ws), "Scrap", user="local")
    assert query_items(ws, "Scrap")["total"] == 0


def test_refusals_name_the_reason(ws, two, add_items):
    _plates, scrap, ids = two
    with pytest.raises(InputError, match="already in project Plates"):
        move_items(ws, ids[:1], "Plates", user="local")
    other = add_items(ws, scrap, 1, prefix="scrap")
    with pytest.raises(InputError, match="several projects"):
        move_items(ws, [ids[1], other[0]], "Scrap", user="local")
    with pytest.raises(InputError, match="not in project Scrap"):
        move_items(ws, [ids[1]], "Plates", user="local", from_project="Scrap")
    with pytest.raises(NotFoundError):
        move_items(ws, [ids[1]], "Nowhere", user="local")
    from defectlab.store import delete_items

    delete_items(ws, [ids[4]], user="local")
    with pytest.raises(InputError, match="restore them first"):
        move_items(ws, [ids[4]], "Scrap", user="local")


def test_roles_and_team_items(ws, two, make_team):
    from defectlab.team import create_assignment, set_gold

    _plates, _scrap, ids = two
    make_team(ws, annotators=("ann1",), supervisors=("sup",))
    for who in ("ann1", "sup"):  # an annotator may not import; a supervisor may import but not delete
        with pytest.raises(PermissionDenied):
            move_items(ws, ids[1:2], "Scrap", user=who)
    assert move_items(ws, ids[1:2], "Scrap", user="sup", copy=True)["n"] == 1
    with pytest.raises(PermissionDenied):  # adding classes is editing the project
        move_items(ws, ids[:1], "Scrap", user="sup", copy=True, add_classes=True)
    create_assignment(ws, "Plates", ids[2:3], ["ann1"], overlap=0, gold_rate=0, by="lead")
    with pytest.raises(InputError, match="open assignment"):
        move_items(ws, ids[2:3], "Scrap", user="lead")
    set_gold(ws, ids[3], "scratch", by="lead")
    with pytest.raises(InputError, match="gold"):
        move_items(ws, ids[3:4], "Scrap", user="lead")
    assert move_items(ws, ids[2:4], "Scrap", user="lead", copy=True, add_classes=True)["n"] == 2


def test_cli_move_items(ws, two, capsys):
    _plates, _scrap, ids = two
    root = str(ws.root)
    assert main(["move-items", "Plates", "Scrap", str(ids[0]), "--workspace", root, "--json"]) == 1
    assert "pit" in capsys.readouterr().err
    assert main(["move-items", "Plates", "Scrap", str(ids[0]), str(ids[1]), "--add-classes", "--copy",
                 "--workspace", root, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n"] == 2 and out["labeled"] == 1 and out["added_classes"] == ["pit"]
    assert set(out["ids"]) == {str(ids[0]), str(ids[1])}
    assert main(["move-items", "Scrap", "Plates", str(ids[2]), "--workspace", root]) == 1  # not in Scrap
    assert "not in project Scrap" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["move-items", "Plates", "Scrap", "99999999999999999999999", "--workspace", root])
    assert exc.value.code == 2


def test_an_ordinal_target_gets_no_grade_added_at_its_end(ws, two):
    """Found by a verification pass: "add missing classes" put a steel defect class at the top of a scrap scale."""
    _plates, _scrap, ids = two
    create_project(ws, "Grades", ["light", "medium", "heavy"], ordinal=True)
    with pytest.raises(InputError, match="ordinal scale"):
        move_items(ws, ids[:1], "Grades", user="local", add_classes=True)
    from defectlab.store import get_project

    assert get_project(ws, "Grades").classes == ("light", "medium", "heavy")
    assert move_items(ws, ids[1:2], "Grades", user="local")["n"] == 1  # unlabeled: nothing to add
