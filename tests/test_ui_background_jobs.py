"""Long steps run in background jobs: they show progress and never block other sessions (issue 11, point 6).

The review queues of a run without stored queues, and a training run with the queues it computes
afterwards, run in a thread of the server. While they run, the page that started them shows a
progress bar with the step's message, and other sessions of the same server (Projects, Review, Items)
answer at once. The slow steps are stand-ins that wait on an event (the real computation is timed in
``benchmarks/scale_review.py``); what is tested is that nothing waits for them.
"""

import threading
import time

from ui_support import app, demo_workspace, no_exception

from defectlab import learn, quality
from defectlab.ui import queuejobs, training


def _slow(release, reached, steps):
    """A stand-in for a long computation: reports each step, then waits until released."""

    def run(*args, progress=None, **kwargs):
        for done, message in steps:
            if progress is not None:
                progress(done, 100, message)
        reached.set()
        assert release.wait(60), "the test never released the job"
        return args, kwargs

    return run


def _timed_run(at):
    t0 = time.perf_counter()
    at.run()
    return time.perf_counter() - t0


def test_queue_job_shows_progress_and_other_sessions_keep_working(tmp_path, monkeypatch):
    ws, project, _labeled, _ = demo_workspace(tmp_path / "ws", n_per_class=10)
    run_id = learn.train_project(ws, project.name, model="logreg", folds=3, seed=0, preset="fast")["run_id"]
    real = quality.compute_run_queues
    release, reached = threading.Event(), threading.Event()
    slow = _slow(release, reached, [(0, "review queues: issues"), (50, "review queues: duplicates")])

    def compute(ws_, run_id_, progress=None, **kwargs):
        slow(progress=progress)
        return real(ws_, run_id_, progress=progress, **kwargs)

    monkeypatch.setattr(quality, "compute_run_queues", compute)
    try:
        starter = app(ws.root, "review")
        starter.radio(key="rev_view").set_value("issues").run()
        no_exception(starter)
        assert reached.wait(30)
        job = queuejobs.job(ws, run_id)
        assert job is not None and job.running
        assert job.fraction == 0.5 and job.message == "review queues: duplicates"
        # the page shows the job's progress (the fragment reads the job), and no queue yet
        starter.run()
        bars = [p.value for p in starter.get("progress")]
        assert bars and bars[-1] == 50, bars
        assert not {b.key for b in starter.button} & {"rev_accept", "rev_keep"}
        # other sessions of the same server answer while the job waits
        for page in ("projects", "review", "items"):
            other = app(ws.root, page)
            no_exception(other)
            assert _timed_run(other) < 10, page
            no_exception(other)
        assert job.running  # ... and it was still running all along
    finally:
        release.set()
    deadline = time.time() + 120
    while job.running and time.time() < deadline:
        time.sleep(0.1)
    assert job.error is None and job.fraction == 1.0
    assert "issues" in quality.queue_status(ws, run_id)


def test_training_job_progress_goes_on_into_the_queues_and_never_back(tmp_path, monkeypatch):
    ws, project, _labeled, _ = demo_workspace(tmp_path / "ws", n_per_class=10)
    release, reached = threading.Event(), threading.Event()
    seen = []
    real_train = learn.train_project

    def train(ws_, name, progress=None, **kwargs):
        for done in (0, 40, 100):
            progress(done, 100, "training")
            seen.append(training.job(ws, project).fraction)
        return real_train(ws_, name, **kwargs)

    real_queues = quality.compute_run_queues

    def queues(ws_, run_id, progress=None, **kwargs):
        _slow(release, reached, [(0, "review queues: issues"), (77, "review queues: outliers")])(
            progress=progress)
        seen.append(training.job(ws, project).fraction)
        return real_queues(ws_, run_id, progress=progress, **kwargs)

    monkeypatch.setattr(learn, "train_project", train)
    monkeypatch.setattr(quality, "compute_run_queues", queues)
    try:
        job = training.start(ws, project, model="logreg", preset="fast", folds=3, seed=0, user="local")
        assert reached.wait(90), job.error
        assert job.running and job.message == "review queues: outliers"
        other = app(ws.root, "projects")  # another session while the job runs
        assert _timed_run(other) < 10
        no_exception(other)
    finally:
        release.set()
    deadline = time.time() + 120
    while job.running and time.time() < deadline:
        time.sleep(0.1)
    assert job.error is None and job.fraction == 1.0
    assert seen == sorted(seen) and seen[2] <= training._TRAIN_SHARE < seen[3] < 1.0, seen
