"""Worker processes for the CPU-bound steps that threads cannot spread over cores.

Reading, checking and decoding many small images, and extracting their features, are many short
Python-level steps; the interpreter holds the GIL between the C calls, so threads barely help (measured:
an import's reading threads at 1 and 2 workers took the same time). Both :mod:`defectlab.features.procpool`
(training) and :mod:`defectlab.ingest.importer` (bulk imports) use the pool made here.

Workers are started by joblib's loky (fresh interpreters, fork + exec) *without* re-importing the parent's
``__main__``: multiprocessing's spawn and forkserver run it again in every worker, and in a Streamlit server
that imports streamlit. A worker imports only what unpickling its task needs.
"""

from __future__ import annotations

import os

__all__ = ["available_cores", "limit_threads", "process_pool"]


def available_cores() -> int:
    """Cores this process may run on (``os.sched_getaffinity``; ``os.cpu_count`` where that is missing).

    Examples
    --------
    >>> available_cores() >= 1
    True
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def limit_threads() -> None:
    """Worker start: one thread per library (OpenCV, BLAS, OpenMP); the workers are the parallelism."""
    import cv2

    cv2.setNumThreads(1)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        pass


def process_pool(n_jobs: int, initializer=limit_threads):
    """A ``concurrent.futures``-style pool of ``n_jobs`` loky worker processes.

    ``shutdown(wait=True, kill_workers=True)`` stops them at once (a cancelled job). A worker that dies
    (a crash, the out-of-memory killer) fails the pending futures with a subclass of
    ``concurrent.futures.process.BrokenProcessPool`` and the pool cannot be used again."""
    from joblib.externals.loky.backend.context import get_context
    from joblib.externals.loky.process_executor import ProcessPoolExecutor

    return ProcessPoolExecutor(max_workers=n_jobs, context=get_context("loky"), initializer=initializer)

