"""Train page (background run, progress, headline metrics) and Runs page (table, compare two runs,
fixed / broken items, approve)."""

import time

from ui_support import app, demo_workspace, no_exception

from defectlab import learn
from defectlab.store import annotate


def test_train_and_runs_pages_on_empty_workspace(tmp_path):
    from defectlab.i18n import t  # the app runs in English here (ui_support.app)

    for page in ("train", "runs"):
        at = app(tmp_path / "empty", page)
        no_exception(at)
        assert [i.value for i in at.info] == [t("common.no_project", "en")], page  # says where to go
        assert not at.button, page  # nothing to train or compare


def test_train_needs_labels(tmp_path):
    from ui_support import tiny_workspace

    ws, _project, _ids = tiny_workspace(tmp_path / "ws", n_items=4, labeled=1)
    at = app(ws.root, "train")
    no_exception(at)
    assert any("at least two classes" in i.value for i in at.info)


def test_start_training_in_the_background_and_see_the_run(tmp_path):
    ws, project, labeled, _unlabeled = demo_workspace(tmp_path / "ws")
    at = app(ws.root, "train")
    no_exception(at)
    at.selectbox(key="train_model").set_value("logreg")
    at.selectbox(key="train_preset").set_value("fast")
    at.number_input(key="train_folds").set_value(3)
    next(b for b in at.button if b.label == "Start training").click()
    at.run()
    no_exception(at)
    deadline = time.time() + 90
    while not learn.list_runs(ws, project.name) and time.time() < deadline:
        time.sleep(0.5)
    runs = learn.list_runs(ws, project.name)
    assert len(runs) == 1 and runs[0]["model"] == "logreg" and runs[0]["n_items"] == len(labeled)
    from defectlab.quality import queue_status
    from defectlab.ui import training

    job = training.job(ws, project)  # after training, the job computes and stores the review queues
    while job.running and time.time() < deadline + 60:
        time.sleep(0.2)
    assert job.error is None and set(job.result["queues"]) == {"issues", "duplicates", "conflicts", "outliers"}
    assert "issues" in queue_status(ws, runs[0]["run_id"])
    at.run()
    at.run()
    no_exception(at)
    assert any(runs[0]["run_id"] in s.value for s in at.success)
    assert [m.label for m in at.metric][:1] == ["Accuracy"]


def test_compare_two_runs_shows_fixed_and_broken(tmp_path):
    ws, project, labeled, _unlabeled = demo_workspace(tmp_path / "ws", train=True)
    # relabel three items wrongly, then train again: the second run "breaks" some items
    for item in labeled[:3]:
        annotate(ws, item, "scratches", user="local")
    learn.train_project(ws, project.name, model="logreg", folds=3, seed=0, preset="fast")
    at = app(ws.root, "runs")
    no_exception(at)
    assert len(at.dataframe[0].value) == 2
    tabs = [tab.label for tab in at.tabs]
    assert any(label.startswith("Fixed") for label in tabs) and any(label.startswith("Broken") for label in tabs)
    runs = learn.list_runs(ws, project.name)
    diff = learn.compare(ws, project.name, runs[1]["run_id"], runs[0]["run_id"])
    assert f"{len(diff['fixed'])} / {len(diff['broken'])}" in [m.value for m in at.metric]
    # approve the newest run for prediction
    at.button(key="runs_approve_go").click().run()
    no_exception(at)
    assert learn.list_runs(ws, project.name)[0]["approved"]
