"""Review and Predict act only on what is visible, never on stale content (issue 10, items 6-8).

- Only the chosen view runs: the label-error queue's shortcut buttons (A, K, U, S, 1-9) do not exist
  while another view is shown, so its keys cannot fire there (st.tabs ran every tab).
- The Duplicates / Conflicts queues preselect nothing, or the label a group's members share; Apply
  stays disabled until a choice.
- An older run without stored queues: the page computes them once in the background with progress,
  and shows no queue (no click can land) before they are stored; a decision on an item changed since
  the queue was read is refused with a message.
"""

import time

import cv2
import numpy as np
from ui_support import app, demo_workspace, no_exception

from defectlab import learn
from defectlab.demo import make_defect_crops
from defectlab.quality import compute_run_queues, queue_status, read_run_queue
from defectlab.store import annotate, label_history

ISSUE_KEYS = ("rev_accept", "rev_keep", "rev_unusable", "rev_skip", "rev_key_1", "rev_key_2")


def _keys(at):
    return {b.key for b in at.button}


def _planted(tmp_path, queues=True):
    ws, project, labeled, _ = demo_workspace(tmp_path / "ws", n_per_class=12)
    for item in labeled[:2] + labeled[12:14]:
        annotate(ws, item, "scratches", user="local")
    run = learn.train_project(ws, project.name, model="logreg", folds=3, seed=0, preset="fast")
    if queues:
        compute_run_queues(ws, run["run_id"])
    return ws, project, run["run_id"]


def _history_sizes(ws, project):
    from defectlab.store import item_ids

    return {i: len(label_history(ws, i)) for i in item_ids(ws, project.id)}


def test_issue_keys_exist_only_while_the_issue_queue_is_shown(tmp_path):
    ws, project, run_id = _planted(tmp_path)
    assert read_run_queue(ws, run_id, "issues")["rows"]
    before = _history_sizes(ws, project)
    at = app(ws.root, "review")
    for view in ("confusion", "conflicts", "duplicates", "outliers"):
        at.radio(key="rev_view").set_value(view).run()
        no_exception(at)
        assert not _keys(at) & set(ISSUE_KEYS), view  # no shortcut of the hidden queue is live
    assert _history_sizes(ws, project) == before  # nothing written by looking around
    at.radio(key="rev_view").set_value("issues").run()
    assert set(ISSUE_KEYS) <= _keys(at)
    at.radio(key="rev_view").set_value("confusion").run()
    assert not _keys(at) & set(ISSUE_KEYS)
    assert _history_sizes(ws, project) == before


def test_predict_confirm_key_exists_only_in_the_review_view(tmp_path):
    ws, project, _labeled, _unlabeled = demo_workspace(tmp_path / "ws", train=True)
    images, _ = make_defect_crops(n_per_class=30, size=64, random_state=7)
    batch = tmp_path / "today"
    batch.mkdir()
    for k in (0, 5, 60):
        cv2.imwrite(str(batch / f"cam_{k:03d}.png"), images[k])
    at = app(ws.root, "predict")
    at.radio(key="pred_source").set_value("folder").run()
    at.text_input(key="pred_folder").input(str(batch)).run()
    at.button(key="pred_go").click().run()
    at.slider(key="pred_threshold").set_value(1.0).run()
    assert "pred_confirm" in _keys(at)
    at.radio(key="pred_view").set_value("all").run()
    no_exception(at)
    keys = _keys(at)
    assert "pred_confirm" not in keys and not any(k.startswith("pred_key_") for k in keys)
    assert all(r["decision"] is None for r in learn.list_predictions(ws, project.name))


def _duplicates_workspace(tmp_path):
    from defectlab.ingest import import_source
    from defectlab.store import open_workspace

    images, labels = make_defect_crops(n_per_class=10, size=64, random_state=0)
    src = tmp_path / "src"
    for k, (image, label) in enumerate(zip(images, labels, strict=True)):
        if label in ("crazing", "patches", "scratches"):
            (src / label).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(src / label / f"{label}_{k}.png"), image)
    cv2.imwrite(str(src / "patches" / "near.png"), images[1])
    cv2.imwrite(str(src / "scratches" / "near_copy.jpg"), images[1])  # re-encoded, other label
    other = next(k for k, lab in enumerate(labels) if lab not in ("crazing", "patches", "scratches"))
    cv2.imwrite(str(src / "patches" / "same.png"), images[other])
    cv2.imwrite(str(src / "patches" / "same_copy.jpg"), images[other])  # re-encoded, same label
    ws = open_workspace(tmp_path / "ws")
    import_source(ws, "Plates", src, layout="folders")
    run = learn.train_project(ws, "Plates", model="logreg", folds=3, seed=0, preset="fast")
    compute_run_queues(ws, run["run_id"])
    return ws, run["run_id"]


def test_duplicates_preselect_nothing_or_the_shared_label_and_apply_waits_for_a_choice(tmp_path):
    ws, run_id = _duplicates_workspace(tmp_path)
    rows = read_run_queue(ws, run_id, "duplicates")["rows"]
    conflict = next(r for r in rows if r["conflict"])
    agree = next(r for r in rows if not r["conflict"] and set(r["labels"]) == {"patches"})
    at = app(ws.root, "review")
    at.radio(key="rev_view").set_value("duplicates").run()
    no_exception(at)
    tag_c = "_".join(map(str, conflict["item_ids"]))
    tag_a = "_".join(map(str, agree["item_ids"]))
    assert at.selectbox(key=f"rev_duplicates_{tag_c}").value is None  # never the first class
    assert at.button(key=f"rev_duplicates_go_{tag_c}").disabled
    assert at.selectbox(key=f"rev_duplicates_{tag_a}").value == "patches"
    assert not at.button(key=f"rev_duplicates_go_{tag_a}").disabled
    at.selectbox(key=f"rev_duplicates_{tag_c}").set_value("scratches").run()
    assert not at.button(key=f"rev_duplicates_go_{tag_c}").disabled
    at.button(key=f"rev_duplicates_go_{tag_c}").click().run()
    no_exception(at)
    for i in conflict["item_ids"]:
        last = label_history(ws, i)[-1]
        assert (last["label"], last["source"]) == ("scratches", "review")
    # the decided group leaves the conflicts queue at the next read
    assert conflict["item_ids"] not in [r["item_ids"] for r in
                                        read_run_queue(ws, run_id, "conflicts")["rows"]]


def test_an_old_run_gets_its_queues_in_the_background_before_any_queue_is_shown(tmp_path):
    from defectlab.ui import queuejobs

    ws, project, run_id = _planted(tmp_path, queues=False)
    assert "issues" not in queue_status(ws, run_id)
    before = _history_sizes(ws, project)
    at = app(ws.root, "review")
    at.radio(key="rev_view").set_value("issues").run()
    no_exception(at)
    assert at.info and not _keys(at) & set(ISSUE_KEYS)  # progress only: nothing to click on
    job = queuejobs.job(ws, run_id)
    assert job is not None
    deadline = time.time() + 120
    while job.running and time.time() < deadline:
        time.sleep(0.2)
    assert not job.running and job.error is None
    assert _history_sizes(ws, project) == before
    at.run()
    no_exception(at)
    assert set(ISSUE_KEYS) <= _keys(at)
    assert [r["item_id"] for r in at.session_state["rev_issues"]] == [
        r["item_id"] for r in read_run_queue(ws, run_id, "issues")["rows"]]


def test_a_decision_on_an_item_changed_since_the_queue_was_read_is_refused(tmp_path):
    ws, _project, _run_id = _planted(tmp_path)
    at = app(ws.root, "review")
    at.radio(key="rev_view").set_value("issues").run()
    issue = at.session_state["rev_issues"][0]
    annotate(ws, issue["item_id"], issue["suggested"], user="local")  # somebody relabels it meanwhile
    n_before = len(label_history(ws, issue["item_id"]))
    at.button(key="rev_accept").click().run()
    no_exception(at)
    assert len(label_history(ws, issue["item_id"])) == n_before  # nothing written
    assert at.session_state["rev_pos"] == 0
    assert any("Not saved" in w.value for w in at.warning)
    assert np.isfinite(issue["score"])
