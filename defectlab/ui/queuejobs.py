"""Review queues of an older run (trained before queues were stored) computed in a background thread.

New runs get their queues from the training job (:mod:`defectlab.ui.training`). For a run without them
the Review page starts :func:`start` once; every session polls :func:`job` and shows its progress, and
no queue is shown (so no click can land on it) until the stored queues can be read.
"""

from __future__ import annotations

import threading
import time

from defectlab.errors import DefectlabError
from defectlab.messages import Message
from defectlab.ui.training import Job, job_error, queue_errors_text

__all__ = ["QueueJob", "job", "start"]

_JOBS: dict = {}
_LOCK = threading.Lock()


#: A queue computation is tracked like a training run (progress, finish time, error).
QueueJob = Job


def _key(ws, run_id):
    return (str(ws.root.resolve()), str(run_id))


def job(ws, run_id):
    """The running or last queue job of this run in this server process, or None."""
    with _LOCK:
        return _JOBS.get(_key(ws, run_id))


def start(ws, run_id, retry=False):
    """Compute the run's queues unless this process already did or does; return the :class:`QueueJob`.

    ``retry=True`` starts again after a finished job (the person asked to, e.g. after a failure).
    """
    from defectlab.quality import compute_run_queues

    key = _key(ws, run_id)
    with _LOCK:
        current = _JOBS.get(key)
        if current is not None and (current.running or not retry):
            return current
        j = QueueJob(key=key, user="", params={"run_id": str(run_id)})
        _JOBS[key] = j

    def _run():
        try:
            out = compute_run_queues(ws, run_id, progress=j._progress)
            if out["errors"]:
                j.error = queue_errors_text(out["errors"])
        except DefectlabError as exc:
            j.error = exc.args[0] if exc.args and isinstance(exc.args[0], Message) else str(exc)
        except Exception as exc:
            j.error = job_error(exc)
        finally:
            j.finished = time.time()

    threading.Thread(target=_run, name=f"defectlab-queues-{run_id}", daemon=True).start()
    return j
