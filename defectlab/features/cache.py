"""On-disk feature cache keyed by (image sha256, feature-spec hash); incremental and crash-safe.

Layout, inside the workspace (``cache_dir`` is ``<workspace>/features``)::

    <cache_dir>/<spec-hash>/spec.json             the spec (for people and tools)
    <cache_dir>/<spec-hash>/shard-<id>.npy        (rows, F) float32, plain .npy (never pickled)
    <cache_dir>/<spec-hash>/shard-<id>.json       manifest: spec hash and version, F, rows,
                                                  sha256 and size of the .npy, the image shas

* **Incremental**: only images whose sha is in no valid shard are loaded and extracted; each batch
  of new rows becomes a new shard. Many small shards are merged into one now and then.
* **Verified**: a shard is used only if its manifest names this spec hash, the current
  :data:`~defectlab.features.FEATURES_VERSION` and F, and the .npy bytes match the recorded size and
  sha256 and parse (``allow_pickle=False``) to the recorded shape and dtype. Anything else - a
  truncated or corrupted file, a manifest from another version - is deleted and its rows recomputed.
* **Concurrent writers**: files are written under a unique temporary name and published with
  ``os.replace`` (atomic), the .npy before its manifest, and are never modified afterwards. Two
  processes extracting the same images at once both write valid shards (identical rows); readers
  never see half-written files. Deleting a shard another process is reading only makes that
  process recompute those rows.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import time
import uuid
from pathlib import Path

import numpy as np

from ..errors import DefectlabError, InputError
from ._validate import check_image_list
from .spec import FEATURES_VERSION

__all__ = ["extract_cached", "spec_cache_dir"]

_FORMAT = 1
_SHA_RE = re.compile(r"^[0-9a-fA-F]{64}$")
_STEP = 256  # images loaded, extracted and written per shard
_MAX_SHARDS = 24  # merge when more shards than this
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
    except FileNotFoundError:
        pass
    except OSError:
        pass  # read-only or in use (Windows): leave it, it is ignored anyway


class _Shard:
    def __init__(self, manifest_path, meta):
        self.manifest_path = manifest_path
        self.meta = meta
        self.npy_path = manifest_path.with_name(meta["npy"])
        self.shas = meta["shas"]

    def load(self):
        """The verified rows, or None (and the shard deleted) when anything does not match."""
        try:
            data = self.npy_path.read_bytes()
        except OSError:
            return None
        ok = (len(data) == self.meta["npy_bytes"]
              and hashlib.sha256(data).hexdigest() == self.meta["npy_sha256"])
        arr = None
        if ok:
            try:
                arr = np.load(io.BytesIO(data), allow_pickle=False)
            except (ValueError, OSError, EOFError):
                arr = None
            ok = (arr is not None and arr.dtype == np.float32
                  and arr.shape == (self.meta["rows"], self.meta["n_features"]))
        if not ok:
            self.delete()
            return None
        return arr

    def delete(self):
        _unlink(self.manifest_path)
        _unlink(self.npy_path)


def _read_manifests(directory, spec_hash, n_features):
    shards = []
    for path in sorted(directory.glob("shard-*.json")):
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
            valid = (
                isinstance(meta, dict)
                and meta.get("format") == _FORMAT
                and meta.get("spec_hash") == spec_hash
                and meta.get("features_version") == FEATURES_VERSION
                and meta.get("n_features") == n_features
                and isinstance(meta.get("shas"), list)
                and len(meta["shas"]) == meta.get("rows")
                and isinstance(meta.get("npy"), str)
                and re.fullmatch(r"shard-[0-9a-f]{32}\.npy", meta["npy"]) is not None
                and isinstance(meta.get("npy_bytes"), int)
                and isinstance(meta.get("npy_sha256"), str)
            )
        except (OSError, ValueError):
            valid, meta = False, None
        if not valid:
            # unreadable, truncated or from another spec/version: not trusted
            _unlink(path)
            if isinstance(meta, dict) and isinstance(meta.get("npy"), str) and re.fullmatch(
                    r"shard-[0-9a-f]{32}\.npy", meta["npy"]):
                _unlink(path.with_name(meta["npy"]))
            continue
        shards.append(_Shard(path, meta))
    return shards


def _write_shard(directory, spec, shas, rows):
    sid = uuid.uuid4().hex
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(rows, np.float32), allow_pickle=False)
    data = buf.getvalue()
    npy = directory / f"shard-{sid}.npy"
    _write_atomic(npy, data)
    meta = {
        "format": _FORMAT,
        "spec_hash": spec.hash,
        "features_version": FEATURES_VERSION,
        "n_features": int(rows.shape[1]),
        "rows": int(rows.shape[0]),
        "npy": npy.name,
        "npy_bytes": len(data),
        "npy_sha256": hashlib.sha256(data).hexdigest(),
        "created": time.time(),
        "shas": list(shas),
    }
    _write_atomic(directory / f"shard-{sid}.json", json.dumps(meta).encode("utf-8"))


def _clean_orphans(directory):
    now = time.time()
    referenced = set()
    for path in directory.glob("shard-*.json"):
        referenced.add(path.with_suffix(".npy").name)
    for path in list(directory.glob("shard-*.npy")) + list(directory.glob(".*.tmp-*")):
        if path.name in referenced:
            continue
        try:
            if now - path.stat().st_mtime > _ORPHAN_AGE:
                _unlink(path)
        except OSError:
            pass


def _check_shas(shas):
    if isinstance(shas, (str, bytes)) or not hasattr(shas, "__len__"):
        raise InputError("The 'shas' parameter of extract_cached must be a list of sha256 hex "
                         f"strings. Got {type(shas).__name__}. Pass e.g. [item.sha256, ...].")
    shas = list(shas)
    for i, s in enumerate(shas):
        if not isinstance(s, str) or not _SHA_RE.match(s):
            raise InputError(f"shas[{i}] passed to extract_cached must be a 64-character sha256 "
                             f"hex string. Got {s!r}. Pass the image's content sha256.")
    return [s.lower() for s in shas]


def extract_cached(shas, load_images, spec, cache_dir, n_jobs=1, progress=None):
    """Features of images identified by sha256, computing only those not cached yet.

    Parameters
    ----------
    shas : list of str
        Content sha256 (64 hex characters) of each image; duplicates are fine.
    load_images : callable
        ``load_images(list_of_missing_shas) -> list of ndarray`` (same order; any size, dtype,
        grey or colour, as :func:`~defectlab.features.extract` accepts). Called in batches of up
        to 256 shas, only for shas that are not cached.
    spec : FeatureSpec, str or None
        Feature spec or preset name; ``None`` is the default preset (hash stored with a model:
        pass the model's spec).
    cache_dir : str or Path
        The workspace's feature cache root (``<workspace>/features``); features of ``spec`` live in
        ``<cache_dir>/<spec hash>/``.
    n_jobs : int
        Threads for extraction (results identical for any value).
    progress : callable, optional
        ``progress(done, total)`` after each batch of computed images (``total`` = images to
        compute); called with ``(0, 0)`` once when everything was cached.

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
    from .pipeline import _resolve, extract, feature_names

    spec = _resolve(spec)
    shas = _check_shas(shas)
    if not callable(load_images):
        raise InputError("The 'load_images' parameter of extract_cached must be a function "
                         "load_images(shas) -> list of arrays. Got "
                         f"{type(load_images).__name__}.")
    n_features = len(feature_names(spec))
    directory = Path(cache_dir) / spec.hash
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DefectlabError(f"Cannot create the feature cache folder {directory}: {exc}. Check "
                             "the workspace path and its permissions.") from None
    spec_file = directory / "spec.json"
    if not spec_file.exists():
        _write_atomic(spec_file, spec.to_json(indent=1).encode("utf-8"))

    out = np.empty((len(shas), n_features), np.float32)
    positions = {}
    for i, s in enumerate(shas):
        positions.setdefault(s, []).append(i)
    found = set()
    shards = _read_manifests(directory, spec.hash, n_features)
    for shard in shards:
        wanted = [(row, s) for row, s in enumerate(shard.shas) if s in positions and s not in found]
        if not wanted:
            continue
        rows = shard.load()
        if rows is None:
            continue
        for row, s in wanted:
            out[positions[s]] = rows[row]
            found.add(s)

    missing = [s for s in positions if s not in found]
    total = len(missing)
    if progress is not None and total == 0:
        progress(0, 0)
    for start in range(0, total, _STEP):
        batch = missing[start:start + _STEP]
        images = load_images(list(batch))
        if not isinstance(images, (list, tuple)) or len(images) != len(batch):
            got = len(images) if hasattr(images, "__len__") else type(images).__name__
            raise InputError(f"load_images returned {got} images for {len(batch)} shas. It must "
                             "return one array per requested sha, in the same order.")
        try:
            check_image_list(list(images), "extract_cached")
        except InputError as exc:
            m = re.match(r"images\[(\d+)\]", str(exc))
            sha = batch[int(m.group(1))] if m else "?"
            raise InputError(f"The image with sha {sha} returned by load_images cannot be used: "
                             f"{exc}") from None
        rows = extract(list(images), spec, n_jobs=n_jobs)
        _write_shard(directory, spec, batch, rows)
        for k, s in enumerate(batch):
            out[positions[s]] = rows[k]
        if progress is not None:
            progress(min(start + _STEP, total), total)

    if len(shards) + (total + _STEP - 1) // _STEP > _MAX_SHARDS:
        _compact(directory, spec, n_features)
    _clean_orphans(directory)
    return out


def _compact(directory, spec, n_features):
    """Merge all valid shards into one (new file first, then the old ones are removed)."""
    shards = _read_manifests(directory, spec.hash, n_features)
    seen, shas, parts, done = set(), [], [], []
    for shard in shards:
        rows = shard.load()
        if rows is None:
            continue
        keep = [k for k, s in enumerate(shard.shas) if s not in seen]
        seen.update(shard.shas)
        shas += [shard.shas[k] for k in keep]
        parts.append(rows[keep])
        done.append(shard)
    if len(done) <= 1:
        return
    _write_shard(directory, spec, shas, np.concatenate(parts))
    for shard in done:
        shard.delete()
