"""Tests of defectlab.learn.runs: train -> runs -> compare -> predict -> export on a small workspace."""

import csv
import json

import cv2
import numpy as np
import pytest
from synthetic import texture_image

from defectlab.errors import ArtifactError, InputError, NotFoundError, PermissionDenied
from defectlab.learn import runs
from defectlab.store import (
    add_item,
    annotate,
    create_project,
    current_labels,
    get_project,
    items_frame,
    open_workspace,
    utcnow,
)

CLASSES = ("dark", "stripes", "spots")
INTERFACE_KEYS = {"run_id", "n_items", "n_classes", "accuracy", "balanced_accuracy", "macro_f1",
                  "seconds"}


_image = texture_image


def _png(img):
    ok, buf = cv2.imencode(".png", img)
    assert ok
    return buf.tobytes()


def _add(ws, project, img, source, label=None, meta=None):
    data = _png(img)
    sha, rel = ws.put_blob(data, "png")
    with ws.transaction() as conn:
        item_id = add_item(conn, project.id, sha256=sha, blob=rel, width=img.shape[1],
                           height=img.shape[0], channels=1, source=source, meta=meta)
    if label is not None:
        annotate(ws, item_id, label, source="import")
    return item_id


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A workspace with a 3-class project (36 items, 4 per coil) and one run with the default model."""
    ws = open_workspace(tmp_path_factory.mktemp("ws"))
    proj = create_project(ws, "Plates", list(CLASSES))
    rng = np.random.default_rng(0)
    for k in range(36):
        kind = CLASSES[k % 3]
        _add(ws, proj, _image(kind, rng), f"{kind}/{kind}_{k}.png", kind, meta={"coil": f"C{k // 4}"})
    summary = runs.train_project(ws, "Plates", preset="fast", folds=3, seed=0)
    return ws, proj, summary


def test_train_returns_the_interface_keys_and_records_the_run(trained):
    ws, _proj, s = trained
    assert INTERFACE_KEYS <= set(s)
    assert (s["n_items"], s["n_classes"], s["model"]) == (36, 3, "ensemble")
    assert s["accuracy"] > 0.9 and "qwk" not in s
    json.dumps(s, allow_nan=False)  # JSON-able as the CLI prints it
    run = runs.get_run(ws, s["run_id"])
    assert len(run["items"]) == 36 and run["spec_hash"] == s["spec_hash"]
    assert run["metrics"]["accuracy"] == s["accuracy"]
    assert run["versions"]["lightgbm"] and run["params"]["grouped"] is True
    assert set(run["timings"]) >= {"features", "fit", "total"}
    files = {p.name for p in (ws.runs_dir / s["run_id"]).iterdir()}
    assert {"meta.json", "oof.npz"} <= files
    with np.load(ws.runs_dir / s["run_id"] / "oof.npz", allow_pickle=False) as npz:
        assert npz["pred_probs"].shape == (36, 3)


def test_items_of_one_coil_share_a_fold(trained):
    ws, _, s = trained
    run = runs.get_run(ws, s["run_id"])
    coil_of = {int(r.id): r.meta["coil"] for r in items_frame(ws, run["project_id"]).itertuples()}
    folds = {}
    for item in run["items"]:
        folds.setdefault(coil_of[item["item_id"]], set()).add(item["fold"])
    assert all(len(f) == 1 for f in folds.values())


def test_same_labels_and_seed_give_the_same_numbers(trained):
    ws, _, s = trained
    again = runs.train_project(ws, "Plates", preset="fast", folds=3, seed=0)
    assert again["run_id"] != s["run_id"]
    a, b = runs.get_run(ws, s["run_id"]), runs.get_run(ws, again["run_id"])
    assert a["metrics"] == b["metrics"]
    assert [i["confidence"] for i in a["items"]] == [i["confidence"] for i in b["items"]]


def test_list_and_compare_after_a_label_fix(trained):
    ws, _, s = trained
    run = runs.get_run(ws, s["run_id"])
    # make one right item wrong by mislabeling it, retrain: the comparison must show it as broken
    victim = next(i for i in run["items"] if i["pred_label"] == i["label"])
    wrong = next(c for c in CLASSES if c != victim["label"])
    annotate(ws, victim["item_id"], wrong, source="review")
    after = runs.train_project(ws, "Plates", preset="fast", folds=3, seed=0, model="logreg")
    listed = runs.list_runs(ws, "Plates")
    assert listed[0]["run_id"] == after["run_id"] and {r["run_id"] for r in listed} >= {s["run_id"]}
    diff = runs.compare(ws, "Plates", s["run_id"], after["run_id"])
    assert {"a", "b", "fixed", "broken"} <= set(diff)
    broken = {x["item_id"]: x for x in diff["broken"]}
    assert victim["item_id"] in broken and broken[victim["item_id"]]["label_changed"] is True
    assert broken[victim["item_id"]]["label_b"] == wrong
    annotate(ws, victim["item_id"], victim["label"], source="review")  # put it back


def test_ordinal_project_reports_grade_metrics(tmp_path):
    ws = open_workspace(tmp_path)
    proj = create_project(ws, "Scrap", ["heavy", "medium", "light"], ordinal=True)
    rng = np.random.default_rng(1)
    for k in range(24):
        grade = ("heavy", "medium", "light")[k % 3]
        _add(ws, proj, _image(CLASSES[k % 3], rng, 40), f"{grade}_{k}.png", grade)
    s = runs.train_project(ws, "Scrap", model="logreg", preset="fast", folds=3)
    assert {"mae", "qwk", "within_one"} <= set(s)
    assert runs.get_run(ws, s["run_id"])["metrics"]["classes"] == ["heavy", "medium", "light"]


def test_refusals(trained, tmp_path):
    ws, _, _ = trained
    with ws.transaction() as conn:
        conn.execute("INSERT OR IGNORE INTO users (username, role, created_at) VALUES "
                     "('ann', 'annotator', ?)", (utcnow(),))
    with pytest.raises(PermissionDenied, match="may not train"):
        runs.train_project(ws, "Plates", user="ann")
    with pytest.raises(InputError, match="one of"):
        runs.train_project(ws, "Plates", model="xgboost")
    with pytest.raises(InputError, match="model preset"):
        runs.train_project(ws, "Plates", preset="accurate")
    with pytest.raises(NotFoundError, match="No run"):
        runs.get_run(ws, "nope")
    ws2 = open_workspace(tmp_path)
    one = create_project(ws2, "One", ["a", "b"])
    _add(ws2, one, _image("dark", np.random.default_rng(0)), "a.png", "a")
    with pytest.raises(InputError, match="at least 2 classes"):
        runs.train_project(ws2, "One")


def test_predict_batch_export_and_accept(trained, tmp_path):
    ws, proj, s = trained
    rng = np.random.default_rng(7)
    folder = tmp_path / "batch"
    folder.mkdir()
    kinds = ["dark", "stripes", "spots", "stripes"]
    for k, kind in enumerate(kinds):
        (folder / f"新批次_{k}.png").write_bytes(_png(_image(kind, rng)))
    # an image that is already in the project is predicted too (reused, not duplicated)
    known = items_frame(ws, proj.id).iloc[0]
    (folder / "again.png").write_bytes(ws.read_blob(known["blob"]))
    (folder / "broken.png").write_bytes(b"not an image")
    out = runs.predict_batch(ws, "Plates", s["run_id"], folder)
    preds = {p["source"]: p for p in out["predictions"]}
    assert set(preds) == {f"新批次_{k}.png" for k in range(4)} | {"again.png"}
    assert out["reused"] == 1 and preds["again.png"]["item_id"] == int(known["id"])
    assert [r["source"] for r in out["rejected"]] == ["broken.png"]
    for k, kind in enumerate(kinds):
        p = preds[f"新批次_{k}.png"]
        assert p["label"] == kind
        assert set(p["probs"]) == set(CLASSES) and abs(sum(p["probs"].values()) - 1) < 1e-9
        assert p["confidence"] == max(p["probs"].values())
        assert isinstance(p["needs_review"], bool) and p["explanation"]
        assert p["explanation"][0]["title"]  # plain words from the features package
    # the run's threshold decides needs_review; an explicit one overrides it
    low = runs.predict_batch(ws, "Plates", s["run_id"], folder, threshold=0.0)
    assert low["n_needs_review"] == 0
    stored = runs.list_predictions(ws, "Plates", batch_id=out["batch_id"])
    reused_id = preds["again.png"]["item_id"]
    assert len(stored) == 5 and all(r["decision"] is None for r in stored if r["item_id"] != reused_id)
    assert next(r for r in stored if r["item_id"] == reused_id)["decision"] == known["label"]
    # new images are unlabeled items of the project, so they do not change the training set
    assert all(current_labels(ws, proj.id).get(p["item_id"]) is None
               for p in out["predictions"] if p["source"] != "again.png")

    fix = preds["新批次_0.png"]
    annotate(ws, fix["item_id"], "spots", source="review")
    n = runs.accept_predictions(ws, "Plates", out["batch_id"], include_review=True)
    assert n == 3  # the 3 undecided new images (the corrected one and the reused labeled one skip)
    path = tmp_path / "out" / "predictions.csv"
    res = runs.export_predictions_csv(ws, "Plates", path, batch_id=out["batch_id"])
    assert res == {"exported": 5, "path": str(path)}
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = {r["source"]: r for r in csv.DictReader(raw.decode("utf-8-sig").splitlines())}
    assert rows[known["source"]]["final_label"] == known["label"]
    assert rows["新批次_0.png"]["final_label"] == "spots"
    assert rows["新批次_0.png"]["final_source"] == "review"
    assert rows["新批次_1.png"]["final_source"] == "model"
    assert float(rows["新批次_1.png"]["p_stripes"]) > 0.5
    # the refused file is a row of its own with the reason (found by a fresh-user pass: it was left out)
    broken = rows["broken.png"]
    assert (broken["final_source"], broken["item_id"], broken["needs_review"]) == ("rejected", "", "1")
    assert broken["reason"] and broken["batch_id"] == str(out["batch_id"])
    assert all(r["reason"] == "" for k, r in rows.items() if k != "broken.png")


def test_tampered_run_is_refused(trained):
    ws, proj, _ = trained
    s = runs.train_project(ws, "Plates", model="lightgbm", preset="fast", folds=3)
    model_file = ws.runs_dir / s["run_id"] / "model.txt"
    model_file.write_text(model_file.read_text().replace("num_leaves", "num_leafs", 1))
    ids = [int(i) for i in items_frame(ws, proj.id)["id"][:2]]
    with pytest.raises(ArtifactError, match="checksum"):
        runs.predict_items(ws, "Plates", s["run_id"], ids)
    fresh = runs.train_project(ws, "Plates", model="logreg", preset="fast", folds=3)
    runs.load_run_model(ws, fresh["run_id"])  # fine as trained
    with ws.transaction() as conn:  # features code changed since the run -> retrain
        conn.execute("UPDATE runs SET spec_hash = 'x' WHERE id = ?", (fresh["run_id"],))
    with pytest.raises(ArtifactError, match="spec hash changed"):
        runs.load_run_model(ws, fresh["run_id"])


def test_predict_items_rejects_other_projects_items(trained, tmp_path):
    ws, proj, s = trained
    other = create_project(ws, "Other", ["x", "y"])
    foreign = _add(ws, other, _image("dark", np.random.default_rng(3)), "x.png")
    with pytest.raises(InputError, match="belong to another project"):
        runs.predict_items(ws, "Plates", s["run_id"], [foreign])
    assert get_project(ws, "Plates").id == proj.id


@pytest.mark.parametrize(
    "row, group",
    [
        ({"id": 5, "parent_id": 2, "meta": {"coil": "C1"}}, "parent:2"),  # the source image wins
        ({"id": 5, "parent_id": float("nan"), "meta": {"coil": "C1"}}, "coil:C1"),
        ({"id": 5, "parent_id": None, "meta": {}}, "item:5"),
        ({"id": 5, "parent_id": None, "meta": {"coil": ""}}, "item:5"),
    ],
)
def test_group_of_an_item(row, group):
    assert runs._group_of(row) == group


def test_resolve_run_prefers_the_approved_one(tmp_path):
    ws = open_workspace(tmp_path)
    proj = create_project(ws, "P", ["dark", "stripes"])
    with pytest.raises(NotFoundError, match="no trained run"):
        runs.resolve_run(ws, "P")
    rng = np.random.default_rng(2)
    for k in range(12):
        kind = CLASSES[k % 2]
        _add(ws, proj, _image(kind, rng, 32), f"{k}.png", kind)
    first = runs.train_project(ws, "P", model="logreg", preset="fast", folds=3)["run_id"]
    second = runs.train_project(ws, "P", model="logreg", preset="fast", folds=3)["run_id"]
    assert runs.resolve_run(ws, "P") == second
    assert runs.approve_run(ws, first)["approved"] is True
    assert runs.resolve_run(ws, "P") == first
    assert runs.resolve_run(ws, "P", second) == second
