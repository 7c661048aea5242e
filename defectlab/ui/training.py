"""Training runs in a background thread, one per (workspace, project), so the page that started it and
every other session keep working; pages poll :func:`job` from an ``st.fragment(run_every=1)``.

The thread calls :func:`defectlab.learn.train_project`, then
:func:`defectlab.quality.compute_run_queues` (the Review page only reads the stored queues); this module
keeps their progress and result.
"""

from __future__ import annotations

import inspect
import numbers
import threading
import time
from dataclasses import dataclass, field

from defectlab.errors import DefectlabError
from defectlab.messages import Message, msg, os_reason

__all__ = ["Job", "JobCancelled", "cancel", "forget", "index_of", "job", "model_names", "preset_names", "speed_names",
           "start"]

_JOBS: dict = {}
_LOCK = threading.Lock()
_TRAIN_SHARE = 0.85  # of a training job's progress bar; its review queues fill the rest
_QUEUES_END = 0.95  # ... up to here; preparing the plate locator (projects with plates) the last part


class JobCancelled(DefectlabError):
    """Raised from a job's progress callback once :func:`cancel` was asked: the library stops there (feature
    workers are stopped, the features computed so far stay cached, no run is recorded)."""


@dataclass
class Job:
    """One training run in progress (or just finished)."""

    key: tuple
    user: str
    params: dict
    started: float = field(default_factory=time.time)
    fraction: float = 0.0
    message: str = ""
    finished: float | None = None
    result: dict | None = None
    error: str | None = None
    thread: threading.Thread | None = None
    span: tuple = (0.0, 1.0)  # the part of the bar the current step fills (training, then its queues)
    cancel_requested: threading.Event = field(default_factory=threading.Event)
    cancelled: bool = False

    @property
    def running(self):
        return self.finished is None

    @property
    def seconds(self):
        return (self.finished or time.time()) - self.started

    def _progress(self, *args, **kwargs):
        # Accept progress(fraction), progress(fraction, message), progress(done, total[, message]),
        # or keyword forms, whatever the library reports.
        if self.cancel_requested.is_set() and self.result is None:  # the run is not recorded yet
            raise JobCancelled(msg("train.cancelled", "Training was cancelled."))
        nums = [a for a in args if isinstance(a, numbers.Number) and not isinstance(a, bool)]
        texts = [a for a in args if isinstance(a, str)]
        if "fraction" in kwargs:
            nums = [kwargs["fraction"]]
        if "message" in kwargs:
            texts = [str(kwargs["message"])]
        raw = None
        if len(nums) >= 2 and nums[1]:
            raw = float(nums[0]) / float(nums[1])
        elif nums:
            raw = float(nums[0])
        if raw is not None:  # the step's own fraction, placed in its span of the bar
            low, high = self.span
            self.fraction = low + (high - low) * min(max(raw, 0.0), 1.0)
        if texts:
            self.message = texts[0]


def _key(ws, project):
    return (str(ws.root.resolve()), int(project.id))


def job(ws, project):
    """The current or last training job of this project in this server process, or None."""
    with _LOCK:
        return _JOBS.get(_key(ws, project))


def forget(ws, project):
    with _LOCK:
        j = _JOBS.get(_key(ws, project))
        if j is not None and not j.running:
            del _JOBS[_key(ws, project)]


def cancel(ws, project, user):
    """Ask the running training job of this project to stop (only the user who started it may, and only
    before its run is recorded: the review queues and plate locator that follow are not cancelled); True if
    asked.

    The job stops at its next progress report (within one batch of images or one model fit)."""
    with _LOCK:
        j = _JOBS.get(_key(ws, project))
    if j is None or not j.running or j.user != user or j.result is not None:
        return False
    j.cancel_requested.set()
    return True


def start(ws, project, *, model, preset, folds, seed, user, model_preset=None):
    """Start training unless this project already trains; return the (new or running) :class:`Job`."""
    from defectlab import learn

    key = _key(ws, project)
    with _LOCK:
        current = _JOBS.get(key)
        if current is not None and current.running:
            return current
        j = Job(key=key, user=user, params=dict(model=model, preset=preset, folds=folds, seed=seed,
                                                model_preset=model_preset), span=(0.0, _TRAIN_SHARE))
        _JOBS[key] = j

    def _run():
        try:
            kwargs = dict(model=model, preset=preset, folds=folds, seed=seed, user=user,
                          progress=j._progress)
            if model_preset:
                kwargs["model_preset"] = model_preset
            accepted = inspect.signature(learn.train_project).parameters
            if not any(p.kind == p.VAR_KEYWORD for p in accepted.values()):
                kwargs = {k: v for k, v in kwargs.items() if k in accepted}
            j.result = learn.train_project(ws, project.name, **kwargs)
            _compute_queues(ws, j)
            _prepare_locator(ws, j)
            j.fraction = 1.0
        except JobCancelled:
            j.cancelled = True
        except DefectlabError as exc:  # its Message (catalog key), shown in the reader's language
            j.error = exc.args[0] if exc.args and isinstance(exc.args[0], Message) else str(exc)
        except Exception as exc:
            j.error = job_error(exc)
        finally:
            j.finished = time.time()

    j.thread = threading.Thread(target=_run, name=f"defectlab-train-{project.id}", daemon=True)
    j.thread.start()
    return j


def _compute_queues(ws, j):
    """After training: the run's review queues, computed once and stored with it (progress shown)."""
    from defectlab.quality import compute_run_queues

    j.span = (_TRAIN_SHARE, _QUEUES_END)  # the bar goes on from where training left it, never back
    j._progress(0.0, msg("quality.progress.start", "review queues"))
    out = compute_run_queues(ws, j.result["run_id"], progress=j._progress)
    j.result["queues"] = out["counts"]
    if out["errors"]:
        j.result.setdefault("warnings", []).extend(queue_warning(k, v) for k, v in out["errors"].items())


def queue_warning(kind, error):
    """A review queue that could not be computed, as a Message (the queue's name and the library's reason
    both translated on the page).

    Parameters
    ----------
    kind : str
        One of :data:`defectlab.quality.QUEUE_KINDS`.
    error : str
        The reason (a :class:`~defectlab.messages.Message` when the library gave one).

    Returns
    -------
    Message
    """
    return msg("train.queue_failed", "The review queue '{kind}' could not be computed: {error}",
               kind=_queue_name(kind), error=error)


def _queue_name(kind):
    names = {
        "issues": msg("review.tab.issues", "Likely label errors"),
        "duplicates": msg("review.tab.duplicates", "Duplicates"),
        "conflicts": msg("review.tab.conflicts", "Conflicts"),
        "outliers": msg("review.tab.outliers", "Outliers"),
    }
    return names.get(kind, kind)


def queue_errors_text(errors):
    """``compute_run_queues(...)["errors"]`` as one Message ``"<queue>: <reason>; <queue>: <reason>"`` (each
    queue's name and reason translated on the page).

    Parameters
    ----------
    errors : dict of str to str
        Queue kind -> reason (a :class:`~defectlab.messages.Message` when the library gave one); not empty.

    Returns
    -------
    Message
    """
    parts = [msg("train.queue_error", "{kind}: {error}", kind=_queue_name(k), error=v) for k, v in errors.items()]
    text = parts[-1]
    for part in reversed(parts[:-1]):
        text = msg("quality.reason.join", "{first}; {rest}", first=part, rest=text)
    return text


def job_error(exc):
    """What a job keeps of an unexpected exception: a common OS error as its translated phrase (a full disk
    while a run is written), else the exception's type and text."""
    if isinstance(exc, OSError) and isinstance(os_reason(exc), Message):
        return os_reason(exc)
    return f"{type(exc).__name__}: {exc}"


def _prepare_locator(ws, j):
    """After the queues, when the run's crops were cut from plates: train the run's plate locator (the
    background class and box ranker, minutes on a large project) now, in this job, so that the first
    search on Predict or Cut crops does not wait for it. A failure is a warning: the pages train it then."""
    from defectlab.learn.locate import locator_for_run

    with ws.read() as conn:
        boxed = conn.execute("SELECT 1 FROM items WHERE project_id = ? AND parent_id IS NOT NULL "
                             "AND deleted_at IS NULL LIMIT 1", (j.key[1],)).fetchone()
        ordinal = conn.execute("SELECT ordinal FROM projects WHERE id = ?", (j.key[1],)).fetchone()
    if boxed is None or (ordinal is not None and ordinal[0]):  # grades of whole photos: nothing to locate
        return
    j.span = (_QUEUES_END, 1.0)
    j._progress(0.0, msg("plates.progress.locator", "preparing the plate locator"))
    try:
        locator_for_run(ws, j.result["run_id"])
    except DefectlabError as exc:
        j.result.setdefault("warnings", []).append(msg(
            "train.locator_failed", "The plate locator could not be prepared (a search on Predict tries again): "
            "{error}", error=exc.args[0] if exc.args else type(exc).__name__))


def model_names():
    """Model names, the library's default first."""
    from defectlab import learn

    return [learn.DEFAULT_MODEL] + [m for m in learn.MODEL_NAMES if m != learn.DEFAULT_MODEL]


def preset_names():
    """Feature presets, the default first."""
    from defectlab.features import DEFAULT_PRESET, PRESETS

    return [DEFAULT_PRESET] + [p for p in PRESETS if p != DEFAULT_PRESET]


def speed_names():
    """Model presets (``fast``, ``accurate``), the default first."""
    from defectlab import learn

    return [learn.DEFAULT_PRESET] + [p for p in learn.PRESETS if p != learn.DEFAULT_PRESET]


def index_of(options, value):
    try:
        return list(options).index(value)
    except ValueError:
        return 0
