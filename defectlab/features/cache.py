"""On-disk feature cache keyed by (image sha256, feature-spec hash); incremental, indexed and crash-safe.

Layout, inside the workspace (``cache_dir`` is ``<workspace>/features``)::

    <cache_dir>/<spec-hash>/spec.json             the spec (for people and tools)
    <cache_dir>/<spec-hash>/shard-<id>.npy        (rows, F) float32, plain .npy (never pickled)
    <cache_dir>/<spec-hash>/shard-<id>.json       manifest: spec hash and version, F, rows,
                                                  sha256 and size of the .npy, the image shas

* **Indexed**: each process keeps an index ``sha -> (shard, row)`` built from the manifests and
  refreshed from their ``stat`` (a manifest is parsed again only when it is new or changed). A
  lookup reads only the shards that hold the asked rows, through a read-only memory map: asking
  for 10 rows of a 100,000-row cache reads one shard, not the whole cache.
* **Bounded shards**: rows are written in shards of up to :data:`_SHARD_ROWS` (4,096 rows, about
  4 MB for the default spec); small shards left by small extractions are merged into full ones now
  and then, so the number of files and the cost of one verification both stay bounded.
* **Verified once per process and file version**: a shard is used only if its manifest names this
  spec hash, the current :data:`~defectlab.features.FEATURES_VERSION` and F, and its .npy bytes
  match the recorded size and sha256 and parse (``allow_pickle=False``) to the recorded shape and
  dtype. The check runs the first time a process reads the shard and again whenever the file's
  (inode, size, mtime) changes; anything that does not match - a truncated or corrupted file, a
  manifest from another version - is deleted and its rows recomputed.
* **Concurrent writers**: files are written under a unique temporary name and published with
  ``os.replace`` (atomic), the .npy before its manifest, and are never modified afterwards. Two
  processes extracting the same images at once both write valid shards (identical rows); readers
  never see half-written files. Deleting a shard another process is reading only makes that
  process recompute those rows.
* **Parallel**: missing images are loaded and extracted in batches of :data:`_STEP` by ``n_jobs``
  workers: processes (:mod:`~defectlab.features.procpool`) when the images are files
  (:class:`~defectlab.features.procpool.BlobFiles`) and there are enough of them, else threads; each
  row depends only on its own image, so the result is identical for any ``n_jobs``. Rows computed
  before an error or a stop are kept.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
import uuid
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, suppress
from pathlib import Path
from typing import ClassVar

import numpy as np

from ..errors import DefectlabError, InputError
from ..messages import msg, os_reason
from ._validate import check_image_list
from .procpool import available_cores, default_jobs, map_blob_batches, use_processes
from .spec import FEATURES_VERSION

__all__ = ["FeatureCache", "extract_cached", "spec_cache_dir"]

_FORMAT = 1
_SHA_RE = re.compile(r"^[0-9a-fA-F]{64}$")
_NPY_RE = re.compile(r"shard-[0-9a-f]{32}\.npy")
_STEP = 256  # images loaded and extracted per task
_SHARD_ROWS = 4096  # rows per shard file (computed rows are buffered up to this many)
_MAX_SHARDS = 24  # merge the small shards when there are more than this many
_ORPHAN_AGE = 600.0  # seconds before a .npy without manifest / a temp file counts as abandoned


def spec_cache_dir(cache_dir, spec=None):
    """Directory holding the cached features of ``spec``: ``<cache_dir>/<spec hash>``."""
    from .pipeline import _resolve

    return Path(cache_dir) / _resolve(spec).hash


def _write_atomic(path, data):
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            _unlink(tmp)


def _unlink(path):
    try:
        os.unlink(path)
    except OSError:
        pass  # gone already, read-only or in use (Windows): leave it, it is ignored anyway


def _stat_key(st):
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _valid_manifest(meta, spec_hash, n_features):
    return (
        isinstance(meta, dict)
        and meta.get("format") == _FORMAT
        and meta.get("spec_hash") == spec_hash
        and meta.get("features_version") == FEATURES_VERSION
        and meta.get("n_features") == n_features
        and isinstance(meta.get("shas"), list)
        and len(meta["shas"]) == meta.get("rows")
        and isinstance(meta.get("npy"), str)
        and _NPY_RE.fullmatch(meta["npy"]) is not None
        and isinstance(meta.get("npy_bytes"), int)
        and isinstance(meta.get("npy_sha256"), str)
    )


class _Shard:
    """One published shard: its manifest and, once verified, the stat key of its .npy."""

    def __init__(self, manifest_path, meta):
        self.manifest_path = manifest_path
        self.meta = meta
        self.npy_path = manifest_path.with_name(meta["npy"])
        self.shas = meta["shas"]
        self.rows = int(meta["rows"])
        self.verified = None  # stat key of the .npy when its checksum last matched

    def _matches(self, fh):
        """Whether the whole file behind ``fh`` has the size and sha256 its manifest records."""
        digest = hashlib.sha256()
        size = 0
        while chunk := fh.read(1 << 20):
            size += len(chunk)
            if size > self.meta["npy_bytes"]:
                return False
            digest.update(chunk)
        return size == self.meta["npy_bytes"] and digest.hexdigest() == self.meta["npy_sha256"]

    def read_rows(self, rows):
        """The rows ``rows`` (ints) of the shard as float32, or None (and the shard deleted) when the
        file does not match its manifest."""
        try:
            with open(self.npy_path, "rb") as fh:
                key = _stat_key(os.fstat(fh.fileno()))
                if key != self.verified:
                    if not self._matches(fh):
                        raise ValueError("checksum")
                    self.verified = key
                fh.seek(0)
                version = np.lib.format.read_magic(fh)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
                else:
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
                if fortran or dtype != np.float32 or shape != (self.rows, self.meta["n_features"]):
                    raise ValueError("shape")
                mm = np.memmap(fh, dtype=np.float32, mode="r", shape=shape, offset=fh.tell())
                out = np.array(mm[np.asarray(rows, dtype=np.intp)])
                del mm
                return out
        except (OSError, ValueError, EOFError):
            self.delete()
            return None

    def delete(self):
        _unlink(self.manifest_path)
        _unlink(self.npy_path)


class FeatureCache:
    """The cached features of one spec in one cache folder (the per-process index of its shards).

    Use :func:`extract_cached` to get features; this class is the lower-level part that a
    distributed runner (:mod:`defectlab.learn.distributed`) uses to look rows up and to add the
    rows its workers computed. Instances are shared per folder within a process
    (:meth:`for_spec`) and are thread-safe.
    """

    _instances: ClassVar[dict] = {}
    _instances_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, directory, spec_hash, n_features):
        self.directory = Path(directory)
        self.spec_hash = spec_hash
        self.n_features = int(n_features)
        self._lock = threading.RLock()
        self._manifests = {}  # manifest file name -> (stat key, _Shard)
        self._where = {}  # sha -> (manifest file name, row)

    @classmethod
    def for_spec(cls, cache_dir, spec):
        """The process-wide cache object of ``spec`` in ``cache_dir`` (the folder is created)."""
        from .pipeline import _resolve, feature_names

        spec = _resolve(spec)
        directory = Path(cache_dir) / spec.hash
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DefectlabError(msg("error.cache.cannot_create_feature_cache",
                    "Cannot create the feature cache folder {directory}: {exc}. Check the workspace "
                    "path and its permissions.",
                    directory=directory, exc=os_reason(exc))) from None
        spec_file = directory / "spec.json"
        if not spec_file.exists():
            _write_atomic(spec_file, spec.to_json(indent=1).encode("utf-8"))
        key = (str(directory.resolve()), spec.hash)
        with cls._instances_lock:
            inst = cls._instances.get(key)
            if inst is None:
                inst = cls._instances[key] = cls(directory, spec.hash, len(feature_names(spec)))
        return inst

    # -- index --------------------------------------------------------------------------------
    def _refresh(self):
        """Bring the index in line with the manifests on disk (parses only new / changed ones)."""
        seen = {}
        try:
            entries = list(os.scandir(self.directory))
        except OSError:
            entries = []
        for entry in entries:
            if entry.name.startswith("shard-") and entry.name.endswith(".json"):
                try:
                    seen[entry.name] = _stat_key(entry.stat())
                except OSError:
                    continue
        for name in [n for n in self._manifests if seen.get(n) != self._manifests[n][0]]:
            self._forget(name)
        for name, key in seen.items():
            if name not in self._manifests:
                self._load_manifest(name, key)

    def _load_manifest(self, name, key):
        path = self.directory / name
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
            valid = _valid_manifest(meta, self.spec_hash, self.n_features)
        except (OSError, ValueError):
            valid, meta = False, None
        if not valid:
            # unreadable, truncated or from another spec/version: not trusted
            _unlink(path)
            if isinstance(meta, dict) and isinstance(meta.get("npy"), str) and _NPY_RE.fullmatch(meta["npy"]):
                _unlink(path.with_name(meta["npy"]))
            return
        shard = _Shard(path, meta)
        self._manifests[name] = (key, shard)
        for row, sha in enumerate(shard.shas):
            self._where.setdefault(sha, (name, row))

    def _forget(self, name):
        _, shard = self._manifests.pop(name)
        for sha in shard.shas:
            if self._where.get(sha, (None,))[0] == name:
                del self._where[sha]
        # another shard may hold the same shas
        for other, (_, sh) in self._manifests.items():
            for row, sha in enumerate(sh.shas):
                self._where.setdefault(sha, (other, row))

    def shards(self):
        """The valid shards currently indexed (refreshed from disk)."""
        with self._lock:
            self._refresh()
            return [sh for _, sh in self._manifests.values()]

    # -- reading and writing ------------------------------------------------------------------
    def lookup(self, shas, out=None):
        """Fill rows of ``out`` (N, F) float32 for the cached shas; return the set of shas found.

        Reads only the shards holding asked shas; a shard that fails its check is deleted and its
        shas count as not found.
        """
        out = np.empty((len(shas), self.n_features), np.float32) if out is None else out
        positions = {}
        for i, s in enumerate(shas):
            positions.setdefault(s, []).append(i)
        found = set()
        with self._lock:
            self._refresh()
            by_shard = {}
            for s in positions:
                hit = self._where.get(s)
                if hit is not None:
                    by_shard.setdefault(hit[0], []).append((hit[1], s))
            for name, wanted in by_shard.items():
                shard = self._manifests[name][1]
                rows = shard.read_rows([r for r, _ in wanted])
                if rows is None:
                    self._forget(name)
                    continue
                for k, (_, s) in enumerate(wanted):
                    out[positions[s]] = rows[k]
                    found.add(s)
        return out, found

    def add(self, shas, rows):
        """Publish computed rows (float32 (n, F)) as new shards of at most ``_SHARD_ROWS`` rows."""
        rows = np.ascontiguousarray(rows, np.float32)
        for start in range(0, len(shas), _SHARD_ROWS):
            self._write_shard(list(shas[start:start + _SHARD_ROWS]), rows[start:start + _SHARD_ROWS])

    def _write_shard(self, shas, rows):
        import io

        sid = uuid.uuid4().hex
        buf = io.BytesIO()
        np.save(buf, rows, allow_pickle=False)
        data = buf.getvalue()
        npy = self.directory / f"shard-{sid}.npy"
        _write_atomic(npy, data)
        meta = {
            "format": _FORMAT,
            "spec_hash": self.spec_hash,
            "features_version": FEATURES_VERSION,
            "n_features": int(rows.shape[1]),
            "rows": int(rows.shape[0]),
            "npy": npy.name,
            "npy_bytes": len(data),
            "npy_sha256": hashlib.sha256(data).hexdigest(),
            "created": time.time(),
            "shas": list(shas),
        }
        _write_atomic(self.directory / f"shard-{sid}.json", json.dumps(meta).encode("utf-8"))

    def compact(self):
        """Merge the small shards (under half of ``_SHARD_ROWS`` rows) into full ones when there are
        more than ``_MAX_SHARDS`` of them; rows already held by a full shard are dropped."""
        with self._lock:
            self._refresh()
            shards = [sh for _, sh in self._manifests.values()]
            small = [sh for sh in shards if sh.rows < _SHARD_ROWS // 2]
            if len(small) <= _MAX_SHARDS:
                return
            kept = {s for sh in shards if sh.rows >= _SHARD_ROWS // 2 for s in sh.shas}
            shas, parts, done = [], [], []
            for shard in small:
                keep = [k for k, s in enumerate(shard.shas) if s not in kept]
                rows = shard.read_rows(keep) if keep else np.empty((0, self.n_features), np.float32)
                if rows is None:
                    continue
                kept.update(shard.shas[k] for k in keep)
                shas += [shard.shas[k] for k in keep]
                parts.append(rows)
                done.append(shard)
            if len(done) > 1:
                if shas:
                    self.add(shas, np.concatenate(parts))
                for shard in done:
                    shard.delete()
            self._refresh()
            self.clean_orphans()

    def clean_orphans(self):
        """Remove abandoned temporary files and .npy files without a manifest (older than 10 min)."""
        now = time.time()
        referenced = {sh.npy_path.name for _, sh in self._manifests.values()}
        referenced |= {p.with_suffix(".npy").name for p in self.directory.glob("shard-*.json")}
        for path in list(self.directory.glob("shard-*.npy")) + list(self.directory.glob(".*.tmp-*")):
            if path.name in referenced:
                continue
            try:
                if now - path.stat().st_mtime > _ORPHAN_AGE:
                    _unlink(path)
            except OSError:
                pass


def _check_shas(shas):
    if isinstance(shas, (str, bytes)) or not hasattr(shas, "__len__"):
        raise InputError(msg("error.cache.shas_parameter_extract_cached",
                "The 'shas' parameter of extract_cached must be a list of sha256 hex strings. Got "
                "{name}. Pass e.g. [item.sha256, ...].",
                name=type(shas).__name__))
    shas = list(shas)
    for i, s in enumerate(shas):
        if not isinstance(s, str) or not _SHA_RE.match(s):
            raise InputError(msg("error.cache.shas_passed_extract_cached",
                    "shas[{i}] passed to extract_cached must be a 64-character sha256 hex string. "
                    "Got {s}. Pass the image's content sha256.",
                    i=i, s=repr(s)))
    return [s.lower() for s in shas]


def _compute_batch(batch, load_images, spec):
    """Load and extract one batch of shas (runs in a worker thread)."""
    from .pipeline import extract

    images = load_images(list(batch))
    if not isinstance(images, (list, tuple)) or len(images) != len(batch):
        got = len(images) if hasattr(images, "__len__") else type(images).__name__
        raise InputError(msg("error.cache.load_images_returned_images",
                "load_images returned {got} images for {len_batch} shas. It must return one array "
                "per requested sha, in the same order.",
                got=got, len_batch=len(batch)))
    try:
        check_image_list(list(images), "extract_cached")
    except InputError as exc:
        m = re.match(r"images\[(\d+)\]", str(exc))
        sha = batch[int(m.group(1))] if m else "?"
        raise InputError(msg("error.cache.image_sha_returned_load",
                "The image with sha {sha} returned by load_images cannot be used: {exc}",
                sha=sha, exc=exc)) from None
    return extract(list(images), spec, n_jobs=1)


def _map_ordered(func, batches, n_jobs):
    """``func(batch)`` for each batch, yielded in order; at most ``2 * n_jobs`` batches in flight
    (so the images held in memory stay bounded)."""
    if n_jobs <= 1:
        for b in batches:
            yield func(b)
        return
    pool = ThreadPoolExecutor(n_jobs, thread_name_prefix="defectlab-features")
    pending = deque()
    try:
        for b in batches:
            pending.append(pool.submit(func, b))
            if len(pending) >= 2 * n_jobs:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _collect(computed, out, positions, cache, total, progress):
    """Place each computed batch's rows in ``out`` and publish them to the cache in full shards; on an
    error or a stop (``progress`` raising), the rows computed so far are published before it propagates."""
    buf_shas, buf_rows, done = [], [], 0
    try:
        for batch, rows in computed:
            for k, s in enumerate(batch):
                out[positions[s]] = rows[k]
            buf_shas += batch
            buf_rows.append(rows)
            done += len(batch)
            if len(buf_shas) >= _SHARD_ROWS or done == total:
                block = np.concatenate(buf_rows)
                cut = len(buf_shas) if done == total else len(buf_shas) - len(buf_shas) % _SHARD_ROWS
                cache.add(buf_shas[:cut], block[:cut])
                buf_shas, buf_rows = buf_shas[cut:], [block[cut:]]
            if progress is not None:
                progress(done, total)
    except BaseException:
        if buf_shas:  # nothing computed is lost (best effort: the error being raised is the one to report)
            with suppress(OSError):
                cache.add(buf_shas, np.concatenate(buf_rows))
        raise


def extract_cached(shas, load_images, spec, cache_dir, n_jobs=1, progress=None):
    """Features of images identified by sha256, computing only those not cached yet.

    Parameters
    ----------
    shas : list of str
        Content sha256 (64 hex characters) of each image; duplicates are fine.
    load_images : callable
        ``load_images(list_of_missing_shas) -> list of ndarray`` (same order; any size, dtype,
        grey or colour, as :func:`~defectlab.features.extract` accepts). Called in batches of up
        to 256 shas, only for shas that are not cached; with ``n_jobs > 1`` from worker threads
        (it must be thread-safe: reading files is). A :class:`~defectlab.features.procpool.BlobFiles`
        (images stored as files) can also be sent to worker processes.
    spec : FeatureSpec, str or None
        Feature spec or preset name; ``None`` is the default preset (hash stored with a model:
        pass the model's spec).
    cache_dir : str or Path
        The workspace's feature cache root (``<workspace>/features``); features of ``spec`` live in
        ``<cache_dir>/<spec hash>/``.
    n_jobs : int or None
        Workers loading and extracting batches (``None``: the available cores, at most 8; ``-1``: all
        available cores). When ``load_images`` is a :class:`~defectlab.features.procpool.BlobFiles` and
        at least :data:`~defectlab.features.procpool.MIN_POOL_IMAGES` images are missing, the workers
        are processes (they read and decode the files themselves); otherwise threads. The result is
        identical for any value.
    progress : callable, optional
        ``progress(done, total)`` after each batch of computed images (``total`` = images to
        compute); called with ``(0, 0)`` once when everything was cached. If it raises (e.g. a
        cancelled job), the workers stop, the rows computed so far are kept in the cache and the
        exception propagates.

    Returns
    -------
    (N, F) ndarray of np.float32
        Row ``i`` holds the features of ``shas[i]``.

    Examples
    --------
    >>> import numpy as np, hashlib, tempfile
    >>> imgs = {}
    >>> for k in range(3):
    ...     im = np.full((32, 32), 40 * k, np.uint8)
    ...     imgs[hashlib.sha256(im.tobytes()).hexdigest()] = im
    >>> root = tempfile.mkdtemp()
    >>> X = extract_cached(list(imgs), lambda s: [imgs[x] for x in s], "fast", root)
    >>> X2 = extract_cached(list(imgs), lambda s: 1 / 0, "fast", root)   # all cached: no loading
    >>> bool((X == X2).all())
    True
    """
    from .._validation import _check_int
    from .pipeline import _resolve

    spec = _resolve(spec)
    shas = _check_shas(shas)
    if not callable(load_images):
        raise InputError(msg("error.cache.load_images_parameter_extract",
                "The 'load_images' parameter of extract_cached must be a function load_images(shas) "
                "-> list of arrays. Got {name}.",
                name=type(load_images).__name__))
    if n_jobs is None:
        n_jobs = default_jobs()
    elif n_jobs == -1:
        n_jobs = available_cores()
    else:
        n_jobs = _check_int(n_jobs, "extract_cached", "n_jobs", 1)
    cache = FeatureCache.for_spec(cache_dir, spec)
    out, found = cache.lookup(shas)
    missing = [s for s in dict.fromkeys(shas) if s not in found]
    total = len(missing)
    if progress is not None and total == 0:
        progress(0, 0)
    positions = {}
    if missing:
        wanted = set(missing)
        for i, s in enumerate(shas):
            if s in wanted:
                positions.setdefault(s, []).append(i)
    batches = [missing[start:start + _STEP] for start in range(0, total, _STEP)]
    if use_processes(n_jobs, total, load_images):
        results = map_blob_batches(load_images, batches, spec, n_jobs)
    else:
        results = _map_ordered(lambda b: _compute_batch(b, load_images, spec), batches, n_jobs)
    with closing(results):
        _collect(zip(batches, results, strict=True), out, positions, cache, total, progress)
    cache.compact()
    if total:
        cache.clean_orphans()
    return out
