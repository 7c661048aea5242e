"""Beyond one machine: features, predictions and large LightGBM fits on a Dask cluster.

``defectlab train|predict|import ... --scheduler tcp://HOST:8786`` (or ``DEFECTLAB_SCHEDULER``) sends
the heavy, embarrassingly parallel work to the workers of a running ``distributed`` cluster:

* **features**: the client looks the items up in the feature cache; the images that are missing are
  split into batches of 256 blobs, and each batch is a task ``_extract_blob_batch(blobs, spec)``
  that a worker runs by reading the blobs (``(workspace root, stored reference)``: a loose file, or a
  range of a pack file, bounded and verified) and calling :func:`defectlab.features.extract` (the very
  code of the local path: the rows are bit-identical). The workspace must therefore be on a filesystem
  every worker mounts **at the same path**.
* **predictions**: the fitted model is sent once to every worker (``scatter(broadcast=True)``) and
  ``predict_proba`` runs on chunks of rows as tasks.
* **LightGBM**: when the training matrix is larger than :func:`dask_lightgbm_min_bytes` (by default
  half the smallest worker's memory limit; ``DEFECTLAB_DASK_LGBM_BYTES`` overrides it, ``0`` always),
  the LightGBM member is fitted with ``lightgbm.dask.DaskLGBMClassifier`` over the workers and kept as
  a plain :class:`~defectlab.learn.models.LightGBMClassifier` (the same text-model artifact).

The store stays the single writer: only the client process writes SQLite and the feature cache;
workers only read blobs and return arrays. Everything here imports ``dask`` lazily: without the
``dask`` extra installed, asking for a scheduler is a clear error and the local path is untouched.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

import numpy as np

from defectlab.errors import DefectlabError, InputError
from defectlab.learn.models import SCALE_ROWS, LightGBMClassifier
from defectlab.messages import msg

__all__ = [
    "SCHEDULER_ENV",
    "DaskLightGBMClassifier",
    "dask_lightgbm_min_bytes",
    "extract_blobs_dask",
    "predict_proba_dask",
    "resolve_scheduler",
    "scheduler_client",
]

#: Environment variable naming the Dask scheduler (``tcp://host:8786``) the CLI and app use.
SCHEDULER_ENV = "DEFECTLAB_SCHEDULER"
#: Environment variable overriding the feature-matrix size (bytes) from which LightGBM runs on Dask.
LGBM_BYTES_ENV = "DEFECTLAB_DASK_LGBM_BYTES"
#: Seconds to wait for the scheduler before giving up with a clear error.
CONNECT_TIMEOUT = 20
_BATCH = 256  # images per feature task
_PREDICT_ROWS = 20_000  # rows per predict_proba task


def resolve_scheduler(scheduler=None):
    """The scheduler address to use, or None for the local path.

    Parameters
    ----------
    scheduler : str or None
        An address (``tcp://10.0.0.5:8786``); ``None`` reads :data:`SCHEDULER_ENV`; ``""`` or
        ``"local"`` forces the local path.

    Returns
    -------
    str or None

    Examples
    --------
    >>> resolve_scheduler("local") is None
    True
    >>> resolve_scheduler("tcp://10.0.0.5:8786")
    'tcp://10.0.0.5:8786'
    """
    if scheduler is None:
        scheduler = os.environ.get(SCHEDULER_ENV, "")
    if not isinstance(scheduler, str):
        raise InputError(msg("error.distributed.scheduler_parameter_must_dask",
                "The 'scheduler' parameter must be a Dask scheduler address such as tcp://host:8786. "
                "Got {name}.",
                name=type(scheduler).__name__))
    scheduler = scheduler.strip()
    if scheduler in ("", "local"):
        return None
    return scheduler


@contextmanager
def scheduler_client(address, timeout=None):
    """A ``distributed.Client`` connected to ``address`` (closed on exit), with clear errors."""
    try:
        from distributed import Client
    except ImportError:
        raise DefectlabError(
            msg("error.distributed.dask_scheduler_was_given",
                "A Dask scheduler was given but dask.distributed is not installed. Install the "
                "extra: pip install 'defectlab[dask]' (or unset DEFECTLAB_SCHEDULER / drop "
                "--scheduler).")
        ) from None
    try:
        client = Client(address, timeout=timeout or CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise DefectlabError(msg("error.distributed.cannot_reach_dask_scheduler",
                "Cannot reach the Dask scheduler at {address} ({exc}). Start it with 'dask "
                "scheduler' and at least one 'dask worker ADDRESS', or drop --scheduler to work "
                "locally.",
                address=address, exc=exc)) from None
    try:
        yield client
    finally:
        client.close()


def _read_blob_task(blob):
    """``(bytes, name)`` of a blob named by an absolute file path or a ``(workspace root, reference)`` pair."""
    from pathlib import Path

    from defectlab.store.workspace import Workspace

    if isinstance(blob, (tuple, list)):
        root, rel = blob
        return Workspace(root).read_blob(rel), Path(rel).name
    return Path(blob).read_bytes(), Path(blob).name


def _extract_blob_batch(paths, spec_json):
    """Worker task: decode the blobs of ``paths`` (see :func:`extract_blobs_dask`) and extract their
    features (float32 rows)."""
    from defectlab.features import extract, get_spec
    from defectlab.features.spec import FeatureSpec
    from defectlab.imaging import decode_image

    spec = get_spec(FeatureSpec.from_json(spec_json))
    images = []
    for blob in paths:
        data, name = _read_blob_task(blob)
        images.append(decode_image(data, source=name))
    return extract(images, spec, n_jobs=1)


def extract_blobs_dask(client, paths, spec, progress=None):
    """Features of the images at ``paths`` (blob files every worker can read), computed by the cluster.

    Parameters
    ----------
    client : distributed.Client
    paths : list of str or (str, str)
        The blobs, each an absolute file path or a ``(workspace root, stored blob reference)`` pair (a
        loose blob or a range of a pack file); the same on the client and the workers.
    spec : FeatureSpec
    progress : callable or None
        ``progress(done, total)`` as batches come back.

    Returns
    -------
    (N, F) ndarray of np.float32
        Rows in ``paths`` order, identical to :func:`defectlab.features.extract` on the decoded images.
    """
    from distributed import as_completed

    from defectlab.features import feature_names

    out = np.empty((len(paths), len(feature_names(spec))), np.float32)
    if not paths:
        return out
    spec_json = spec.to_json()
    starts = list(range(0, len(paths), _BATCH))
    futures = client.map(_extract_blob_batch, [paths[s:s + _BATCH] for s in starts],
                         [spec_json] * len(starts), pure=False)
    start_of = {f.key: s for f, s in zip(futures, starts, strict=True)}
    done = 0
    for future in as_completed(futures, loop=client.loop):
        rows = future.result()
        s = start_of[future.key]
        out[s:s + len(rows)] = rows
        done += len(rows)
        future.release()
        if progress is not None:
            progress(done, len(paths))
    return out


def _predict_chunk(model, X):
    return model.predict_proba(X)


def predict_proba_dask(client, model, X):
    """``model.predict_proba(X)`` computed by the cluster in chunks of 20,000 rows (same numbers)."""
    X = np.asarray(X)
    if X.shape[0] <= _PREDICT_ROWS:
        chunks = [X]
    else:
        chunks = [X[s:s + _PREDICT_ROWS] for s in range(0, X.shape[0], _PREDICT_ROWS)]
    [remote_model] = client.scatter([model], broadcast=True)
    futures = [client.submit(_predict_chunk, remote_model, c, pure=False) for c in chunks]
    return np.concatenate(client.gather(futures))


def dask_lightgbm_min_bytes(client=None):
    """Feature-matrix size (bytes) from which LightGBM is fitted with ``lightgbm.dask``.

    ``$DEFECTLAB_DASK_LGBM_BYTES`` when set (``0``: always); else half the smallest worker memory
    limit of ``client`` (a matrix that size no longer fits one worker comfortably next to LightGBM's
    binned copy); else 4 GiB.
    """
    env = os.environ.get(LGBM_BYTES_ENV, "").strip()  # e.g. 0: always; 10e9 is not accepted, 10000000000 is
    if env:
        try:
            return max(0, int(env))
        except ValueError:
            raise InputError(msg("error.distributed.must_number_bytes_got",
                    "{LGBM_BYTES_ENV} must be a number of bytes. Got {env}.",
                    LGBM_BYTES_ENV=LGBM_BYTES_ENV, env=repr(env))) from None
    if client is not None:
        limits = [w.get("memory_limit") or 0 for w in client.scheduler_info().get("workers", {}).values()]
        limits = [m for m in limits if m > 0]
        if limits:
            return int(min(limits) // 2)
    return 4 << 30


class DaskLightGBMClassifier(LightGBMClassifier):
    """:class:`LightGBMClassifier` fitted with ``lightgbm.dask`` on a cluster; predicts locally.

    Same parameters plus ``scheduler`` (the address). ``fit`` sends the rows to the workers in
    ``chunk_rows`` partitions, trains a ``DaskLGBMClassifier`` there (no early stopping: the rounds
    are ``n_estimators``, or the large-N rule's ``scale_n_estimators`` from ``scale_rows`` rows), and
    keeps the booster as text, so the fitted object predicts and is
    saved exactly like a :class:`LightGBMClassifier` (``to_local``).
    """

    def __init__(self, scheduler=None, chunk_rows=50_000, n_estimators=100, learning_rate=0.1,
                 num_leaves=15, min_child_samples=10, subsample=0.8, colsample_bytree=0.5, reg_lambda=1.0,
                 max_bin=63, large_subsample=0.3, large_colsample=0.3, scale_rows=SCALE_ROWS,
                 scale_learning_rate=None, scale_n_estimators=None, scale_min_leaf_rows=None,
                 early_stopping=False, validation_fraction=0.1, n_iter_no_change=10, class_weight=None,
                 random_state=None, n_jobs=1):
        super().__init__(n_estimators=n_estimators, learning_rate=learning_rate, num_leaves=num_leaves,
                         min_child_samples=min_child_samples, subsample=subsample,
                         colsample_bytree=colsample_bytree, reg_lambda=reg_lambda, max_bin=max_bin,
                         large_subsample=large_subsample, large_colsample=large_colsample,
                         scale_rows=scale_rows, scale_learning_rate=scale_learning_rate,
                         scale_n_estimators=scale_n_estimators, scale_min_leaf_rows=scale_min_leaf_rows,
                         early_stopping=early_stopping, validation_fraction=validation_fraction,
                         n_iter_no_change=n_iter_no_change, class_weight=class_weight,
                         random_state=random_state, n_jobs=n_jobs)
        self.scheduler = scheduler
        self.chunk_rows = chunk_rows

    @classmethod
    def from_local(cls, estimator, scheduler):
        """The Dask variant of a :class:`LightGBMClassifier` with the same parameters."""
        params = {k: v for k, v in estimator.get_params().items() if k != "early_stopping"}
        return cls(scheduler=scheduler, **params)

    def fit(self, X, y, sample_weight=None):
        """Fit on the cluster; ``X`` (N, F), ``y`` (N,). Returns ``self``."""
        import dask.array as da
        import lightgbm as lgb
        from sklearn.utils.class_weight import compute_sample_weight

        from defectlab.learn.models import _check_fit_inputs, _seed_from

        X, y, classes, y_enc = _check_fit_inputs(X, y, "DaskLightGBMClassifier.fit")
        seed = _seed_from(self.random_state)
        weight = np.ones(X.shape[0]) if sample_weight is None else np.asarray(sample_weight, float)
        if self.class_weight is not None:
            weight = weight * compute_sample_weight(self.class_weight, y)
        params = self._lgb_params(len(classes), X.shape[0], seed)
        params.pop("metric", None)
        params.pop("num_class", None)
        params.pop("verbosity", None)
        rows = int(self.chunk_rows)
        with scheduler_client(self.scheduler) as client:
            n_workers = max(1, len(client.scheduler_info().get("workers", {})))
            rows = max(1, min(rows, -(-X.shape[0] // n_workers)))
            dX = da.from_array(X, chunks=(rows, X.shape[1]))
            dy = da.from_array(y_enc, chunks=(rows,))
            dw = da.from_array(weight, chunks=(rows,))
            dX, dy, dw = client.persist([dX, dy, dw])
            model = lgb.DaskLGBMClassifier(client=client, n_estimators=self._rounds(X.shape[0]),
                                           verbose=-1, **{k: v for k, v in params.items()
                                                          if k not in ("objective",)})
            with client.as_current():  # lightgbm.dask waits on the current client
                model.fit(dX, dy, sample_weight=dw)
            booster = model.booster_
        self.booster_ = lgb.Booster(model_str=booster.model_to_string())
        self.classes_ = classes
        self.n_features_in_ = X.shape[1]
        self.n_iter_ = int(self.booster_.current_iteration())
        return self

    def fit_rows(self, X, y, rows, bins=None):
        """``fit(X[rows], y[rows])``: the cluster bins the rows itself (``bins`` is not used)."""
        rows = np.asarray(rows, dtype=np.intp)
        return self.fit(X[rows], y[rows])

    def to_local(self):
        """The fitted model as a plain :class:`LightGBMClassifier` (what artifacts store)."""
        params = {k: v for k, v in self.get_params().items() if k not in ("scheduler", "chunk_rows")}
        local = LightGBMClassifier(**params)
        local.booster_, local.classes_ = self.booster_, self.classes_
        local.n_features_in_, local.n_iter_ = self.n_features_in_, self.n_iter_
        return local


def with_dask_lightgbm(estimator, scheduler):
    """``estimator`` with its LightGBM part(s) replaced by :class:`DaskLightGBMClassifier`."""
    from defectlab.learn.models import AverageProbaClassifier

    if isinstance(estimator, LightGBMClassifier):
        return DaskLightGBMClassifier.from_local(estimator, scheduler)
    if isinstance(estimator, AverageProbaClassifier):
        members = [(name, with_dask_lightgbm(est, scheduler)) for name, est in estimator.estimators]
        return AverageProbaClassifier(members, weights=estimator.weights)
    return estimator


def localize(model):
    """A fitted model with every :class:`DaskLightGBMClassifier` turned into a local one."""
    from defectlab.learn.models import AverageProbaClassifier

    if isinstance(model, DaskLightGBMClassifier):
        return model.to_local()
    if isinstance(model, AverageProbaClassifier) and hasattr(model, "estimators_"):
        fitted = [(name, localize(est)) for (name, _), est in zip(model.estimators, model.estimators_, strict=True)]
        return AverageProbaClassifier.from_fitted(fitted, model.classes_, weights=model.weights)
    return model


def features_dask(ws, shas, blobs, spec, address, progress=None):
    """Features of workspace images (by sha and stored blob reference) through the cache and the cluster.

    Cached rows are read locally; the missing images are extracted by the workers (reading the blobs
    from the workspace's folder, loose or packed) and the client adds their rows to the cache. Returns
    (N, F) float32.
    """
    from defectlab.features.cache import FeatureCache

    cache = FeatureCache.for_spec(ws.features_dir, spec)
    shas = [s.lower() for s in shas]
    out, found = cache.lookup(shas)
    path_of = {}
    root = str(ws.root.resolve())
    for sha, blob in zip(shas, blobs, strict=True):
        if sha not in found:
            path_of.setdefault(sha, (root, str(blob)))
    missing = list(path_of)
    if progress is not None and not missing:
        progress(0, 0)
    if missing:
        with scheduler_client(address) as client:
            rows = extract_blobs_dask(client, [path_of[s] for s in missing], spec, progress=progress)
        cache.add(missing, rows)
        index = {s: k for k, s in enumerate(missing)}
        for i, s in enumerate(shas):
            k = index.get(s)
            if k is not None:
                out[i] = rows[k]
    return out
