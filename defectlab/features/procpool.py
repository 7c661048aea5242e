"""Feature extraction on several cores: worker *processes* that read, decode and extract blob files.

Feature extraction is many small NumPy/OpenCV calls per image; the interpreter holds the GIL between
them, so threads gave 1.17x on two cores. Processes give each core its own interpreter:

* :class:`BlobFiles` says where each image's encoded file is (``sha -> (absolute path, source)``). It is
  the ``load_images`` of :func:`~defectlab.features.extract_cached` (called in the process itself it
  reads and decodes a batch) and, being plain data, a batch of it can be sent to a worker process.
* :func:`map_blob_batches` runs :func:`_extract_files` (read + decode + :func:`~defectlab.features.extract`,
  the very code of the one-process path: rows are bit-identical) on batches of paths in a
  ``ProcessPoolExecutor`` and yields the float32 rows in batch order. At most ``8 * n_jobs`` batches
  are in flight (paths out, rows back), so memory stays bounded: a worker holds only the images of the
  batch it computes, the parent only rows. The parent stays the single writer of the feature cache.
* Workers are started by joblib's loky (fresh interpreters, fork + exec) *without* re-importing the
  parent's ``__main__`` (multiprocessing's spawn and forkserver both run it again in every worker: in a
  Streamlit server that imports streamlit): a worker imports only what unpickling its task needs
  (NumPy, OpenCV, the feature code). Starting the workers costs about a second, so the pool is used
  only from :data:`MIN_POOL_IMAGES` images to compute.
* A damaged or missing file is reported by the worker as a reason, not raised: the parent raises
  :class:`UnreadableImages` naming every bad item of the batch, after the cache kept all rows computed
  so far. When the consumer stops (an error, or a training job cancelled through its progress
  callback), pending batches are cancelled and the workers terminated.
"""

from __future__ import annotations

import functools
import os
from collections import deque
from collections.abc import Iterator, Mapping, Sequence

import numpy as np

from .._workers import available_cores
from ..errors import DefectlabError
from ..messages import msg

__all__ = ["MAX_JOBS", "MIN_POOL_IMAGES", "BlobFiles", "UnreadableImages", "available_cores", "default_jobs",
           "map_blob_batches", "use_processes"]

#: Upper bound of the default number of workers (:func:`default_jobs`).
MAX_JOBS = 8
#: Images to compute from which a process pool is used (below it the pool's start-up does not pay off;
#: ``benchmarks/scale.py --pool-threshold`` measures it).
MIN_POOL_IMAGES = 2048
_REASON_CHARS = 300
#: Batches in flight per worker. Only paths go out and rows come back (~240 KB a batch), so a deep queue
#: costs nothing and keeps the workers busy while the parent writes (and fsyncs) a cache shard.
_IN_FLIGHT = 8


def default_jobs() -> int:
    """The default number of workers: the available cores, at most :data:`MAX_JOBS`.

    Examples
    --------
    >>> 1 <= default_jobs() <= MAX_JOBS
    True
    """
    return min(available_cores(), MAX_JOBS)


class UnreadableImages(DefectlabError):
    """Images of a feature batch that cannot be read or decoded.

    Parameters
    ----------
    bad : dict
        ``{sha256: (source, reason)}`` of every unreadable image of the batch.
    """

    def __init__(self, bad: Mapping[str, tuple[str, str]]):
        self.bad = dict(bad)
        source, reason = next(iter(self.bad.values()))
        more = len(self.bad) - 1
        if more:
            text = msg("error.procpool.unreadable_images_more",
                       "Cannot read the image {source}: {reason} ({more} more unreadable images in the same "
                       "batch). Re-import the files or delete these items.",
                       source=source, reason=reason, more=more)
        else:
            text = msg("error.procpool.unreadable_image",
                       "Cannot read the image {source}: {reason}. Re-import the file or delete the item.",
                       source=source, reason=reason)
        super().__init__(text)

    def reasons(self) -> dict[str, str]:
        """``{sha256: reason}`` of the unreadable images."""
        return {sha: reason for sha, (_, reason) in self.bad.items()}


def _checked_path(path, root, blobs_dir):
    """The file to read for ``path``: as given without ``root``; else ``root / path`` resolved, or None when
    it leads outside ``blobs_dir`` (a stored path that escapes the workspace is never read)."""
    if path is None or root is None:
        return path
    full = os.path.realpath(os.path.join(root, path))
    return full if full.startswith(blobs_dir + os.sep) else None


def _read_decode(files, root=None, blobs_dir=None):
    """Images of ``files`` [(path, source)] and ``{index: reason}`` of those that cannot be read (a path that
    is None or, with ``root``, leads outside ``blobs_dir`` is refused: reported as missing)."""
    from pathlib import Path

    from ..imaging import decode_image
    from ..store.packs import is_packed
    from ..store.workspace import Workspace

    images, bad = [], {}
    for i, (path, source) in enumerate(files):
        try:
            if root is not None and path is not None and is_packed(path):
                # a range of a pack file: read by offset, bounded and checked against its sha256
                images.append(decode_image(Workspace(root).read_blob(path), source=source))
                continue
            full = _checked_path(path, root, blobs_dir)
            if full is None:
                raise FileNotFoundError
            images.append(decode_image(Path(full).read_bytes(), source=source))
        except FileNotFoundError:
            bad[i] = str(msg("error.procpool.image_file_missing",
                             "the image file {name} is missing from the workspace; was the blobs/ folder moved?",
                             name=Path(path).name if path else "?"))
        except (DefectlabError, OSError) as exc:
            bad[i] = str(exc)[:_REASON_CHARS]
    return images, bad


class BlobFiles:
    """Where each image's encoded file is: ``{sha256: (path or None, source)}`` (``None``: no file may be
    read for it; it is reported as missing). With ``root``, a path may also be a packed-blob reference
    (:mod:`defectlab.store.packs`), read by offset and verified as :meth:`Workspace.read_blob` does.

    With ``root`` and ``blobs_dir`` the paths are relative to ``root`` and each is resolved and checked to
    lie inside ``blobs_dir`` only when its image is read (by the worker: a warm cache resolves nothing).
    Called with a list of shas (the ``load_images`` of :func:`~defectlab.features.extract_cached`), it
    reads and decodes them in this process and raises :class:`UnreadableImages` naming every bad one of
    the batch; :func:`map_blob_batches` sends the same batches to worker processes instead.
    """

    def __init__(self, files: Mapping[str, tuple[str | None, str]], root: str | None = None,
                 blobs_dir: str | None = None):
        self.files = dict(files)
        self.root = None if root is None else str(root)
        self.blobs_dir = None if blobs_dir is None else os.path.realpath(blobs_dir)

    def batch(self, shas: Sequence[str]) -> list[tuple[str | None, str]]:
        """``[(path, source)]`` of ``shas``: what a worker needs to compute their rows."""
        return [self.files[s] for s in shas]

    def __call__(self, shas: Sequence[str]) -> list[np.ndarray]:
        images, bad = _read_decode(self.batch(shas), self.root, self.blobs_dir)
        if bad:
            raise UnreadableImages({shas[i]: (self.files[shas[i]][1], r) for i, r in bad.items()})
        return images


@functools.lru_cache(maxsize=8)
def _spec_of(spec_json):
    from .pipeline import _resolve
    from .spec import FeatureSpec

    return _resolve(FeatureSpec.from_json(spec_json))


def _init_worker():
    """Worker start: one thread per library (the workers are the parallelism)."""
    from .._workers import limit_threads

    limit_threads()


def _extract_files(files, spec_json, root=None, blobs_dir=None):
    """Worker task: ``("ok", rows)`` with the float32 features of ``files`` [(path, source)], or
    ``("bad", {index: reason})`` when some cannot be read (nothing computed then)."""
    from .pipeline import extract

    images, bad = _read_decode(files, root, blobs_dir)
    if bad:
        return "bad", bad
    return "ok", extract(images, _spec_of(spec_json), n_jobs=1)


def _worker_modules():
    """Names of the modules imported in a worker (tests check no worker imports streamlit)."""
    import sys

    return sorted(sys.modules)


def use_processes(n_jobs: int, n_images: int, load_images) -> bool:
    """Whether :func:`~defectlab.features.extract_cached` computes ``n_images`` in worker processes:
    more than one job, at least :data:`MIN_POOL_IMAGES` images, and a :class:`BlobFiles` loader."""
    return n_jobs > 1 and n_images >= MIN_POOL_IMAGES and isinstance(load_images, BlobFiles)


def _executor(n_jobs):
    from .._workers import process_pool

    return process_pool(n_jobs, initializer=_init_worker)


def map_blob_batches(loader: BlobFiles, batches: Sequence[Sequence[str]], spec, n_jobs: int) -> Iterator[np.ndarray]:
    """The features of each batch of shas, computed by ``n_jobs`` worker processes, in batch order.

    Parameters
    ----------
    loader : BlobFiles
        Where the images are.
    batches : list of list of str
        Shas per task (e.g. 256).
    spec : FeatureSpec
    n_jobs : int
        Worker processes.

    Yields
    ------
    (len(batch), F) ndarray of np.float32
        Identical to :func:`~defectlab.features.extract` of the decoded images in one process.

    Raises
    ------
    UnreadableImages
        A batch holds images that cannot be read (every bad one of the batch is named).
    DefectlabError
        A worker process died (e.g. killed for lack of memory).
    """
    spec_json = spec.to_json()
    n_jobs = max(1, min(n_jobs, len(batches)))  # no idle worker to start
    pool = _executor(n_jobs)
    pending = deque()
    finished = False
    try:
        for batch in batches:
            pending.append((batch, pool.submit(_extract_files, loader.batch(batch), spec_json, loader.root,
                                               loader.blobs_dir)))
            if len(pending) >= _IN_FLIGHT * n_jobs:
                yield _result(loader, *pending.popleft())
        while pending:
            yield _result(loader, *pending.popleft())
        finished = True
    finally:
        if not finished:  # an error, or the consumer stopped (a cancelled job): stop the workers now
            for _, future in pending:
                future.cancel()
        pool.shutdown(wait=True, kill_workers=not finished)


def _result(loader, batch, future):
    from joblib.externals.loky.process_executor import BrokenProcessPool

    try:
        kind, value = future.result()
    except BrokenProcessPool:
        raise DefectlabError(msg("error.procpool.worker_died",
                "A feature worker process stopped unexpectedly (out of memory?). Train again with fewer "
                "jobs (--jobs 1).")) from None
    if kind == "bad":
        raise UnreadableImages({batch[i]: (loader.files[batch[i]][1], r) for i, r in value.items()})
    return value
