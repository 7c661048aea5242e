"""Model artifacts (issue 10 item 11): hashes recorded at training, tampering refused, LightGBM guarded."""

import hashlib
import json
import re

import numpy as np
import pytest
from synthetic import texture_image

from defectlab.errors import ArtifactError
from defectlab.learn import model_guard, runs
from defectlab.store import add_item, annotate, create_project, items_frame, open_workspace

CLASSES = ("dark", "stripes", "spots")


@pytest.fixture(scope="module")
def lgb_run(tmp_path_factory):
    """A small 3-class workspace and one LightGBM run."""
    from defectlab.imaging import encode_png

    ws = open_workspace(tmp_path_factory.mktemp("ws"))
    proj = create_project(ws, "P", list(CLASSES))
    rng = np.random.default_rng(0)
    for k in range(30):
        kind = CLASSES[k % 3]
        img = texture_image(kind, rng)
        sha, rel = ws.put_blob(encode_png(img), "png")
        with ws.transaction() as conn:
            item = add_item(conn, proj.id, sha256=sha, blob=rel, width=img.shape[1], height=img.shape[0],
                            channels=1, source=f"{kind}_{k}.png")
        annotate(ws, item, kind, source="import")
    s = runs.train_project(ws, "P", model="lightgbm", preset="fast", folds=3, seed=0)
    return ws, proj, s["run_id"]


def _rewrite_with_checksum(run_dir, name, new_bytes):
    """What an attacker with file access does: edit a file and recompute its checksum in meta.json."""
    (run_dir / name).write_bytes(new_bytes)
    meta = json.loads((run_dir / "meta.json").read_text())
    meta["files"][name] = hashlib.sha256(new_bytes).hexdigest()
    (run_dir / "meta.json").write_text(json.dumps(meta, indent=2))


@pytest.fixture
def run_copy(lgb_run):
    """The run's files, restored after the test."""
    ws, proj, run_id = lgb_run
    d = ws.runs_dir / run_id
    saved = {p.name: p.read_bytes() for p in d.iterdir()}
    yield ws, proj, run_id, d
    for name, data in saved.items():
        (d / name).write_bytes(data)


def test_hashes_are_recorded_at_training(lgb_run):
    ws, _, run_id = lgb_run
    rec = runs.run_artifact_hashes(ws, run_id)
    assert {"meta.json", "model.txt", "oof.npz"} <= set(rec)
    d = ws.runs_dir / run_id
    assert rec["meta.json"] == hashlib.sha256((d / "meta.json").read_bytes()).hexdigest()


def test_swapped_classes_are_refused(run_copy):
    ws, proj, run_id, d = run_copy
    meta = json.loads((d / "meta.json").read_text())
    meta["classes"] = meta["classes"][::-1]
    (d / "meta.json").write_text(json.dumps(meta, indent=2))
    ids = [int(i) for i in items_frame(ws, proj.id)["id"][:2]]
    with pytest.raises(ArtifactError, match="checksum recorded when the run was trained"):
        runs.predict_items(ws, "P", run_id, ids)


def _tampered_lightgbm(text):
    """Point one child index far outside its tree (what made LightGBM read out of bounds); drop
    ``tree_sizes`` (optional for LightGBM) so the edit is consistent."""
    text = re.sub(r"tree_sizes=[^\n]*\n", "", text, count=1)
    return re.sub(r"left_child=(-?\d+)", "left_child=100000", text, count=1)


def test_tampered_lightgbm_with_recomputed_checksum_is_refused_without_crashing(run_copy):
    ws, proj, run_id, d = run_copy
    bad = _tampered_lightgbm((d / "model.txt").read_text()).encode()
    _rewrite_with_checksum(d, "model.txt", bad)
    ids = [int(i) for i in items_frame(ws, proj.id)["id"][:2]]
    with pytest.raises(ArtifactError, match="checksum recorded when the run was trained"):
        runs.predict_items(ws, "P", run_id, ids)
    # even without the database record (an old run), the text itself is refused before LightGBM sees it
    from defectlab.learn.artifacts import load_model

    with pytest.raises(ArtifactError, match=r"malformed and was not loaded .*child index 100000"):
        load_model(d)


@pytest.mark.parametrize("edit,match", [
    (lambda t: re.sub(r"split_feature=(\d+)", "split_feature=99999", t, count=1), "feature outside"),
    (lambda t: re.sub(r"tree_sizes=(\d+)", "tree_sizes=1", t, count=1), "tree_sizes"),
    (lambda t: re.sub(r"num_leaves=(\d+)", "num_leaves=3000", t, count=1), "has .* values, expected"),
    (lambda t: re.sub(r"max_feature_idx=(\d+)", "max_feature_idx=3", t, count=1), "features, the run recorded"),
    (lambda t: re.sub(r"num_class=3", "num_class=2", t, count=1), "num_class=2"),
    (lambda t: t.replace("end of trees", "end of tree"), "end of trees"),
], ids=["feature", "tree-sizes", "num-leaves", "max-feature", "num-class", "no-end"])
def test_lightgbm_validator_refuses_structural_edits(lgb_run, edit, match):
    ws, _, run_id = lgb_run
    text = (ws.runs_dir / run_id / "model.txt").read_text()
    meta = json.loads((ws.runs_dir / run_id / "meta.json").read_text())
    model_guard.validate_lightgbm_text(text, meta["n_features"], 3)  # the original passes
    with pytest.raises(ArtifactError, match=match):
        model_guard.validate_lightgbm_text(edit(text), meta["n_features"], 3)


def test_child_process_crash_is_a_refusal_cached_by_hash(lgb_run, monkeypatch):
    ws, _, run_id = lgb_run
    data = (ws.runs_dir / run_id / "model.txt").read_bytes() + b"\n"  # a text never checked before
    monkeypatch.setattr(model_guard, "CHILD_CODE", "import os; os.abort()")
    monkeypatch.setattr(model_guard, "_VERDICTS", {})
    store = model_guard.VerdictStore(ws)
    with pytest.raises(ArtifactError, match=r"crashed a test process \(signal 6\)"):
        model_guard.check_in_child(data, 10, store)
    sha = hashlib.sha256(data).hexdigest()
    assert store.get(sha) == (False, "loading it crashed a test process (signal 6)")
    monkeypatch.setattr(model_guard, "CHILD_CODE", "raise SystemExit('must not run again')")
    monkeypatch.setattr(model_guard, "_VERDICTS", {})
    with pytest.raises(ArtifactError, match="crashed"):  # the stored verdict, no new child
        model_guard.check_in_child(data, 10, store)


def test_own_models_skip_the_child_check_and_old_runs_still_load(run_copy, monkeypatch):
    ws, _, run_id, d = run_copy
    monkeypatch.setattr(model_guard, "_VERDICTS", {})
    monkeypatch.setattr(model_guard, "_run_child", lambda *a: pytest.fail("a trained model needs no child check"))
    runs.load_run_model(ws, run_id)
    # a run trained before hashes were recorded: meta.json checksums + validation + child check
    with ws.transaction() as conn:
        conn.execute("DELETE FROM run_artifacts WHERE run_id = ?", (run_id,))
        conn.execute("DELETE FROM model_checks")
    calls = []
    monkeypatch.setattr(model_guard, "_VERDICTS", {})
    monkeypatch.setattr(model_guard, "_run_child", lambda data, n: calls.append(n) or (True, ""))
    model, _, _ = runs.load_run_model(ws, run_id)
    assert calls and list(model.classes_) == sorted(CLASSES)
    with ws.transaction() as conn:  # restore the record for the other tests
        conn.executemany("INSERT INTO run_artifacts (run_id, name, sha256) VALUES (?, ?, ?)",
                         [(run_id, p.name, hashlib.sha256(p.read_bytes()).hexdigest()) for p in d.iterdir()])
