"""Cancelling a training job: the library stops at its next progress report, no run is recorded, the
features computed so far stay cached, and only the user who started the job may cancel it."""

import threading
import time

import numpy as np
import pytest

from defectlab.ui import training


def _project(ws, n=40):
    from defectlab.imaging import encode_png
    from defectlab.store import add_item, annotate, create_project

    proj = create_project(ws, "P", ["a", "b"])
    rng = np.random.default_rng(3)
    for k in range(n):
        img = np.clip(rng.normal(90 + 60 * (k % 2), 20, (32, 32)), 0, 255).astype(np.uint8)
        sha, rel = ws.put_blob(encode_png(img), "png")
        with ws.transaction() as conn:
            item = add_item(conn, proj.id, sha256=sha, blob=rel, width=32, height=32, channels=1, source=f"{k}.png")
        annotate(ws, item, "ab"[k % 2], source="import")
    return proj


def test_a_cancelled_job_stops_training_in_the_feature_workers_and_records_no_run(ws, monkeypatch):
    from defectlab.features import procpool
    from defectlab.features.cache import FeatureCache
    from defectlab.learn import list_runs, train_project

    monkeypatch.setattr(procpool, "MIN_POOL_IMAGES", 1)
    monkeypatch.setattr("defectlab.features.cache._STEP", 8)  # five batches of 8 images
    _project(ws)
    job = training.Job(key=("x", 1), user="local", params={})
    reports = []

    def progress(*args, **kwargs):
        reports.append(args)
        if len(reports) == 3:  # the user presses Cancel while features are computed
            job.cancel_requested.set()
        job._progress(*args, **kwargs)

    with pytest.raises(training.JobCancelled):
        train_project(ws, "P", model="logreg", folds=3, n_jobs=2, progress=progress)
    assert list_runs(ws, "P") == []
    # the batches computed before the stop are in the cache (nothing lost)
    shards = [sh for d in ws.features_dir.iterdir() if d.is_dir()
              for sh in FeatureCache.for_spec(ws.features_dir, _spec_of(d)).shards()]
    assert 8 <= sum(sh.rows for sh in shards) < 40


def _spec_of(directory):
    from defectlab.features.spec import FeatureSpec

    return FeatureSpec.from_json((directory / "spec.json").read_text())


def test_only_the_user_who_started_a_job_can_cancel_it(ws, monkeypatch):
    from defectlab import learn

    proj = _project(ws, n=4)
    started = threading.Event()

    def slow_train(ws_, name, progress=None, **kwargs):
        started.set()
        while True:  # a long training that reports progress
            progress(0.5, "features")
            time.sleep(0.02)

    monkeypatch.setattr(learn, "train_project", slow_train)
    job = training.start(ws, proj, model="logreg", preset=None, folds=3, seed=0, user="ann")
    assert started.wait(10)
    assert training.cancel(ws, proj, "bob") is False and job.running
    assert training.cancel(ws, proj, "ann") is True
    job.thread.join(10)
    assert not job.running and job.cancelled and job.error is None
    assert training.cancel(ws, proj, "ann") is False  # nothing left to cancel
    training.forget(ws, proj)


def test_the_train_page_offers_cancel_to_the_starter_and_then_says_cancelled(tmp_path, monkeypatch):
    from ui_support import app, no_exception, tiny_workspace

    from defectlab import learn

    ws, project, _ = tiny_workspace(tmp_path / "ws", n_items=8, labeled=8)
    started = threading.Event()

    def slow_train(ws_, name, progress=None, **kwargs):
        started.set()
        while True:
            progress(0.3, "features")
            time.sleep(0.02)

    monkeypatch.setattr(learn, "train_project", slow_train)
    job = training.start(ws, project, model="logreg", preset=None, folds=3, seed=0, user="local")
    assert started.wait(10)
    try:
        at = app(ws.root, "train")
        no_exception(at)
        at.button(key="train_cancel").click().run()
        no_exception(at)
        job.thread.join(10)
        assert job.cancelled and not job.running
        at.run()
        no_exception(at)
        assert any(i.value == "Training was cancelled." for i in at.info)
    finally:
        job.cancel_requested.set()
        job.thread.join(10)
        training.forget(ws, project)


def test_once_the_run_is_recorded_cancel_is_refused_and_the_job_finishes(ws, monkeypatch):
    """The review queues and plate locator come after the run is recorded: a Cancel then would say
    "cancelled" about a run that exists, so it is refused and the job finishes normally."""
    from defectlab import learn

    proj = _project(ws, n=4)
    in_queues, release = threading.Event(), threading.Event()

    def quick_train(ws_, name, progress=None, **kwargs):
        progress(0.9, "fits")
        return {"run_id": "r1", "n_items": 4}

    def slow_queues(ws_, j):
        in_queues.set()
        release.wait(10)
        j._progress(0.5, "queues")  # a Cancel asked meanwhile must not stop the job here

    monkeypatch.setattr(learn, "train_project", quick_train)
    monkeypatch.setattr(training, "_compute_queues", slow_queues)
    monkeypatch.setattr(training, "_prepare_locator", lambda ws_, j: None)
    job = training.start(ws, proj, model="logreg", preset=None, folds=3, seed=0, user="ann")
    assert in_queues.wait(10)
    assert training.cancel(ws, proj, "ann") is False
    job.cancel_requested.set()  # even a request set by other means does not cancel a recorded run
    release.set()
    job.thread.join(10)
    assert not job.running and not job.cancelled and job.error is None
    assert job.result["run_id"] == "r1" and job.fraction == 1.0
    training.forget(ws, proj)
