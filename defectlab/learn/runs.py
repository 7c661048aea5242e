"""The run registry: train a project, keep every run, compare runs, predict new batches with a run.

A *run* is one training of a project: a snapshot of the labeled items and their labels, the feature
spec, the model and seed, honest out-of-fold metrics, the reject threshold, the final model (trained on
all items) and timings. Its files live in ``<workspace>/runs/<run-id>/``:

``meta.json`` + ``model.txt`` / ``model.skops`` / ``member-*``
    the model artifact (:mod:`defectlab.learn.artifacts`: checksummed, never pickled);
``oof.npz``
    item ids, labels, out-of-fold probabilities, folds and the training feature means (the reference
    row for explanations); plain arrays, read with ``allow_pickle=False`` after a checksum check.

The row in the ``runs`` table and one ``run_items`` row per item hold the rest. Predictions of a batch
are stored in ``predictions`` (one row per item, with the probabilities, ``needs_review`` and the
explanation); the predicted images are items of the project without a label, so that a person's
confirmation or correction is a plain annotation that flows into the next training run.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import io
import json
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from defectlab._validation import _check_float, _check_int
from defectlab.errors import ArtifactError, InputError, NotFoundError
from defectlab.learn._columns import _to_project_columns
from defectlab.learn.artifacts import artifact_hashes, library_versions, load_model, save_model
from defectlab.learn.compare import compare_runs
from defectlab.learn.cv import cross_val_oof
from defectlab.learn.explain import explain
from defectlab.learn.metrics import evaluate
from defectlab.learn.models import (
    DEFAULT_MODEL,
    DEFAULT_PRESET,
    MODEL_NAMES,
    PRESETS,
    make_model,
    model_params,
)
from defectlab.learn.reject import choose_threshold, coverage_curve
from defectlab.messages import msg
from defectlab.store.renames import class_events, map_by_time
from defectlab.store.workspace import as_workspace

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

    from defectlab._typing import ArrayLike, ItemIds, PathLike, ProjectRef, WorkspaceLike

__all__ = [
    "accept_predictions",
    "approve_run",
    "compare",
    "export_predictions_csv",
    "get_run",
    "list_predictions",
    "list_runs",
    "load_run_model",
    "predict_batch",
    "predict_items",
    "resolve_run",
    "run_features",
    "summary_of",
    "train_project",
    "warm_feature_cache",
]

OOF_FILE = "oof.npz"
_SUMMARY_METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "log_loss", "ece",
                    "mae", "within_one", "qwk")


# -- helpers --------------------------------------------------------------------------------------

def _require(ws, user, action):
    from defectlab.store import require

    with ws.read() as conn:
        require(conn, user, action)


def _new_run_id():
    now = _dt.datetime.now(_dt.UTC)
    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def _sha256_file(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


_STEP = {k: msg(f"learn.progress.{k}", v) for k, v in {
    "features": "computing features", "fitting": "fitting models", "saving": "saving the run", "done": "done",
    "explaining": "explaining", "reading": "reading images", "predicting": "predicting"}.items()}
"""The progress messages (translatable: the UI shows them in the user's language)."""


def _stage(progress, start, span, message):
    """A ``progress(done, total)`` callback mapped into ``[start, start + span]`` of 100."""
    if progress is None:
        return None

    def report(done, total, *_):
        frac = 1.0 if not total else min(max(done / total, 0.0), 1.0)
        progress(round(start + span * frac), 100, message)

    return report


def _tell(progress, done, message):
    if progress is not None:
        progress(int(done), 100, message)


def _group_of(row):
    """The cross-validation group of an item: its source image, else its coil, else itself."""
    if row["parent_id"] is not None and row["parent_id"] == row["parent_id"]:  # not NaN
        return f"parent:{int(row['parent_id'])}"
    meta = row["meta"] if isinstance(row["meta"], dict) else {}
    coil = meta.get("coil")
    if coil not in (None, ""):
        return f"coil:{coil}"
    return f"item:{int(row['id'])}"


def _training_snapshot(ws, project):
    """Labeled items of the project: ids, labels, shas, blobs, sources, groups; plus notes."""
    from defectlab.store import UNUSABLE, items_frame

    df = items_frame(ws, project.id, role="sample")
    classes = set(project.classes)
    notes = []
    n_unusable = int((df["label"] == UNUSABLE).sum()) if len(df) else 0
    stale = df[df["label"].notna() & (df["label"] != UNUSABLE) & ~df["label"].isin(classes)] if len(df) \
        else df
    if len(stale):
        notes.append(msg("learn.note.stale_labels", "{n} items carry labels that are no longer classes of the "
                         "project ({labels}); they were left out. Relabel them.",
                         n=len(stale), labels=str(sorted(set(stale["label"]))[:5])))
    df = df[df["label"].isin(classes)] if len(df) else df
    if n_unusable:
        notes.append(msg("learn.note.unusable_left_out", "{n} items marked unusable were left out.", n=n_unusable))
    return df.reset_index(drop=True), notes


def _present_classes(proj, rows):
    """The project's classes that have labeled rows; InputError when fewer than two."""
    present = [c for c in proj.classes if c in set(rows["label"])] if len(rows) else []
    if len(present) < 2:
        raise InputError(
            msg("error.runs.project_has_labeled_items",
                "Project {name} has {len_rows} labeled items in {len_present} class(es) ({present}); "
                "training needs labeled items of at least 2 classes. Label more items.",
                name=repr(proj.name), len_rows=len(rows), len_present=len(present),
                present=msg(f"class.{present[0]}", present[0]) if present else "-")
        )
    return present


def _features(ws, rows, spec, progress, n_jobs, scheduler=None):
    """(N, F) float64 features of the item rows (``sha256``, ``blob``, ``source``) via the cache.

    Missing rows are computed on ``n_jobs`` local threads, or by a Dask cluster when ``scheduler``
    (or ``$DEFECTLAB_SCHEDULER``) names one (:mod:`defectlab.learn.distributed`).
    """
    from defectlab.features import extract_cached
    from defectlab.learn.distributed import features_dask, resolve_scheduler

    address = resolve_scheduler(scheduler)
    if address is not None:
        X = features_dask(ws, list(rows["sha256"]), list(rows["blob"]), spec, address, progress=progress)
        return np.asarray(X, dtype=np.float64)
    loader = _blob_files(ws, rows)
    X = extract_cached(list(rows["sha256"]), loader, spec, cache_dir=ws.features_dir,
                       n_jobs=n_jobs, progress=progress)
    return np.asarray(X, dtype=np.float64)


def _blob_files(ws, rows):
    """The items' blob files (``sha -> (blob path relative to the workspace, source)``): what feature workers,
    threads or processes, read and decode; each path is checked to lie inside ``blobs/`` when it is read."""
    from defectlab.features.procpool import BlobFiles

    files = {}
    for sha, blob, source in zip(rows["sha256"], rows["blob"], rows["source"], strict=True):
        files.setdefault(sha, (str(blob), str(source)))
    return BlobFiles(files, root=str(ws.root), blobs_dir=str(ws.blobs_dir))


def _features_skipping(ws, rows, spec, progress, n_jobs):
    """Features of the rows that can be read; ``(X, kept rows, skipped)`` where ``skipped`` lists
    ``{item_id, source, reason}`` of items whose image is missing, damaged or undecodable."""
    from defectlab.features import extract_cached
    from defectlab.features.procpool import UnreadableImages

    skipped = []
    while True:
        try:
            X = extract_cached(list(rows["sha256"]), _blob_files(ws, rows), spec, cache_dir=ws.features_dir,
                               n_jobs=n_jobs, progress=progress)
        except UnreadableImages as exc:
            reasons = exc.reasons()
            bad = rows["sha256"].isin(list(reasons))
            skipped += [{"item_id": int(r["id"]), "source": str(r["source"]), "reason": reasons[r["sha256"]]}
                        for _, r in rows[bad].iterrows()]
            rows = rows[~bad].reset_index(drop=True)
            continue
        return np.asarray(X, dtype=np.float32), rows, skipped  # float32: see cross_val_oof


def _resolve_spec(feature_spec, preset):
    from defectlab.features import PRESETS as FEATURE_PRESETS
    from defectlab.features import get_spec

    choice = feature_spec if feature_spec is not None else preset
    if isinstance(choice, str) and choice in PRESETS and choice not in FEATURE_PRESETS:
        raise InputError(
            msg("error.runs.model_preset_pass_model",
                "{choice} is a model preset; pass it as model_preset={choice}. The 'preset' "
                "parameter of train_project names a feature preset ({sorted_feature_presets}).",
                choice=repr(choice), sorted_feature_presets=sorted(FEATURE_PRESETS))
        )
    return get_spec(choice)


def _json(value):
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


def summary_of(run: Mapping[str, Any]) -> dict[str, Any]:
    """The headline dict of a run record (what ``train`` and ``runs`` print)."""
    m = run.get("metrics") or {}
    timings = run.get("timings") or {}
    out = {
        "run_id": run["run_id"],
        "project": run.get("project"),
        "created_at": run.get("created_at"),
        "created_by": run.get("created_by"),
        "model": run.get("model"),
        "model_preset": (run.get("params") or {}).get("model_preset"),
        "feature_preset": (run.get("feature_spec") or {}).get("name"),
        "spec_hash": run.get("spec_hash"),
        "seed": run.get("seed"),
        "n_items": run.get("n_items"),
        "n_classes": run.get("n_classes"),
        "seconds": timings.get("total"),
        "threshold": run.get("threshold"),
        "coverage": (m.get("reject") or {}).get("coverage"),
        "approved": bool(run.get("approved")),
        "note": run.get("note", ""),
    }
    for key in _SUMMARY_METRICS:
        if key in m:
            out[key] = m[key]
    return out


# -- training -------------------------------------------------------------------------------------

def _holding_training_lock(func):
    """Run ``func(ws, ...)`` holding a ``train-*`` work lock: while it runs, nobody cleans up the run folder
    it is writing; once its process is gone, a folder it left is removed at the next start."""

    @functools.wraps(func)
    def wrapper(ws, *args, **kwargs):
        from defectlab.store.maintenance import work_lock

        ws = as_workspace(ws)
        with work_lock(ws, f"train-{secrets.token_hex(8)}"):
            return func(ws, *args, **kwargs)

    return wrapper


@_holding_training_lock
def train_project(ws: WorkspaceLike, project: ProjectRef, model: str = DEFAULT_MODEL, preset: str | None = None,
                  folds: int = 5, seed: int = 0, feature_spec: Any | None = None, user: str = "local",
                  progress: Callable[..., Any] | None = None, model_preset: str = DEFAULT_PRESET,
                  class_weight: str | dict[Any, float] = "balanced", target_accuracy: float = 0.99,
                  holdout: float | ArrayLike | None = None, note: str = "", n_jobs: int | None = None,
                  scheduler: str | None = None) -> dict[str, Any]:
    """Train a project on its current labels and record the run.

    The steps, each a function of this module: check the arguments, take the training set
    (:func:`_training_set`), compute its features (:func:`_features`, cached), cross-validate and
    fit the final model (:func:`_fit`), score the out-of-fold probabilities (:func:`_score`), save
    the run's files (:func:`_save_run_files`) and record it in the store (:func:`_record_run`).

    Parameters
    ----------
    ws : Workspace or str or Path
    project : str or int or Project
    model : str, default=DEFAULT_MODEL
        One of :data:`~defectlab.learn.models.MODEL_NAMES`.
    preset : str or None
        Feature preset name (``defectlab.features.PRESETS``); ``None`` is the default preset, with
        tile-pooled features when the project's images are large (``defectlab.features.auto_spec``:
        median shorter side >= 320 px, e.g. whole 800 x 600 photos; 200 x 200 crops keep the plain spec).
    folds : int, default=5
        Cross-validation folds. Crops of one source image (or items of one ``coil``) stay together.
    seed : int, default=0
        Seeds the folds and the model: same labels + same seed = same run numbers.
    feature_spec : FeatureSpec or dict or str or None
        A full feature spec (wins over ``preset``).
    user : str
        Who trains (needs the ``train`` permission).
    progress : callable or None
        ``progress(done, total, message)`` with ``total`` = 100.
    model_preset : {"fast", "accurate"}, default="fast"
    class_weight : {"balanced"} or None, default="balanced"
    target_accuracy : float, default=0.99
        Accuracy the automatically accepted predictions must reach (sets the reject threshold).
    holdout : float or None
        Keep this fraction (grouped, stratified) out of the cross-validation and report its metrics
        separately under ``metrics["holdout"]``.
    note : str
    n_jobs : int or None, default=None
        Local workers: feature extraction (worker processes from 2,048 images to compute, else threads;
        :mod:`defectlab.features.procpool`) and models fitted side by side. ``None``: the available
        cores, at most 8.
    scheduler : str or None
        A Dask scheduler address (``tcp://host:8786``) or ``"env"`` for ``$DEFECTLAB_SCHEDULER``:
        features are computed by the cluster's workers (:mod:`defectlab.learn.distributed`). None
        (default) computes everything in this process.

    Returns
    -------
    dict
        ``run_id, project, model, n_items, n_classes, accuracy, balanced_accuracy, macro_f1, seconds``
        (+ ``mae, within_one, qwk`` for ordinal projects), ``log_loss, ece, threshold, coverage,
        timings, warnings, n_splits, spec_hash, feature_preset, path``.
    """
    from defectlab.features import feature_names
    from defectlab.features.procpool import default_jobs
    from defectlab.store import get_project

    t_start = time.perf_counter()
    ws = as_workspace(ws)
    n_jobs = default_jobs() if n_jobs is None else _check_int(n_jobs, "train_project", "n_jobs", 1)
    folds, seed, target_accuracy = _check_train_args(model, model_preset, folds, seed, target_accuracy)
    _require(ws, user, "train")
    proj = get_project(ws, project)
    spec = _resolve_spec(feature_spec, preset)
    data = _training_set(ws, proj)
    if feature_spec is None and preset is None:
        from defectlab.features import auto_spec

        spec = auto_spec(spec, data.rows["height"], data.rows["width"])  # large photos get tile-pooled features

    _tell(progress, 0, _STEP["features"])
    t0 = time.perf_counter()
    X, data = _features_of_training_set(ws, data, proj, spec, _stage(progress, 0, 40, _STEP["features"]), n_jobs,
                                        scheduler)
    timings = {"features": round(time.perf_counter() - t0, 3)}

    t0 = time.perf_counter()
    oof = _fit(X, data, model, model_preset, class_weight, seed, folds, holdout, n_jobs,
               _stage(progress, 40, 55, _STEP["fitting"]), scheduler=scheduler)
    timings["fit"] = round(time.perf_counter() - t0, 3)
    data.notes.extend(oof.warnings)
    scores = _score(oof, data.labels, list(proj.classes), proj.ordinal, target_accuracy)

    _tell(progress, 97, _STEP["saving"])
    run_id = _new_run_id()
    directory = ws.runs_dir / run_id
    files = _save_run_files(directory, run_id, proj, spec, list(feature_names(spec)), X, data, oof)
    timings["total"] = round(time.perf_counter() - t_start, 3)
    params = {"model_preset": model_preset, "model_params": model_params(model, model_preset),
              "class_weight": class_weight, "folds": folds, "n_splits": oof.n_splits,
              "grouped": data.groups is not None, "holdout": holdout, "target_accuracy": target_accuracy,
              "n_jobs": n_jobs, "oof_sha256": files["oof_sha256"], "artifact_kind": files["kind"],
              "n_features": X.shape[1], "warnings": data.notes, "skipped_items": data.skipped[:200]}
    lgb_fit = _lightgbm_fit_params(oof.model)
    if lgb_fit is not None:  # the settings the final LightGBM fit used (the large-N rule: models.SCALE_ROWS)
        params["lightgbm_fit"] = lgb_fit
    try:
        _record_run(ws, run_id, proj, user, model, params, spec, seed, data, oof, scores, timings, note, files)
    except BaseException:
        import shutil

        shutil.rmtree(directory, ignore_errors=True)
        raise
    _tell(progress, 100, _STEP["done"])
    out = summary_of(get_run(ws, run_id, with_items=False))
    out.update(timings=timings, warnings=data.notes, n_splits=oof.n_splits, path=str(directory),
               skipped_items=data.skipped)
    if not proj.ordinal:
        for key in ("mae", "within_one", "qwk"):
            out.pop(key, None)
    return out


def _check_train_args(model, model_preset, folds, seed, target_accuracy):
    """Validate the scalar arguments of :func:`train_project`; the checked (folds, seed, target)."""
    if model not in MODEL_NAMES:
        raise InputError(msg("error.runs.model_parameter_train_project",
                "The 'model' parameter of train_project must be one of {list_model_names}. Got "
                "{model}.",
                list_model_names=list(MODEL_NAMES), model=repr(model)))
    if model_preset not in PRESETS:
        raise InputError(msg("error.runs.model_preset_parameter_train",
                "The 'model_preset' parameter of train_project must be one of {list_presets}. Got "
                "{model_preset}.",
                list_presets=list(PRESETS), model_preset=repr(model_preset)))
    return (_check_int(folds, "train_project", "folds", 2, 50),
            _check_int(seed, "train_project", "seed", 0, 2**32 - 1),  # NumPy's and LightGBM's seed range
            _check_float(target_accuracy, "train_project", "target_accuracy"))


@dataclass
class _TrainingSet:
    """What a run trains on: the item rows and, aligned with them, ids, labels and CV groups."""

    rows: object  # DataFrame: id, sha256, blob, source, label, parent_id, meta
    item_ids: np.ndarray
    labels: np.ndarray
    groups: np.ndarray | None
    present: list
    notes: list
    skipped: list = field(default_factory=list)  # {item_id, source, reason} of unreadable images


def _training_set(ws, proj):
    """The labeled items of ``proj`` as a :class:`_TrainingSet`; raises when fewer than 2 classes."""
    rows, notes = _training_snapshot(ws, proj)
    return _as_training_set(proj, rows, notes)


def _as_training_set(proj, rows, notes, skipped=()):
    present = _present_classes(proj, rows)
    groups = np.array([_group_of(r) for r in rows[["id", "parent_id", "meta"]].to_dict("records")])
    if len(set(groups.tolist())) == len(groups):
        groups = None  # every item is its own group: plain stratified folds
    return _TrainingSet(rows=rows, item_ids=rows["id"].astype(np.int64).to_numpy(),
                        labels=rows["label"].astype(str).to_numpy(), groups=groups, present=present,
                        notes=notes, skipped=list(skipped))


def _features_of_training_set(ws, data, proj, spec, progress, n_jobs, scheduler):
    """``(X, data)``: features of the training set. Locally, items whose image cannot be read are left
    out (listed in ``data.skipped`` and the run's warnings) instead of stopping the training."""
    from defectlab.learn.distributed import resolve_scheduler

    if resolve_scheduler(scheduler) is not None:  # float32 like the local path (the values are float32-born)
        return _features(ws, data.rows, spec, progress, n_jobs, scheduler=scheduler).astype(np.float32), data
    X, rows, skipped = _features_skipping(ws, data.rows, spec, progress, n_jobs)
    if not skipped:
        return X, data
    notes = [*data.notes, f"{len(skipped)} items could not be read (missing or damaged image files) and were "
             "left out; run 'defectlab check'. Items: " + ", ".join(str(s["item_id"]) for s in skipped[:20])]
    return X, _as_training_set(proj, rows, notes, skipped)


def _fit(X, data, model, model_preset, class_weight, seed, folds, holdout, n_jobs, progress,
         scheduler=None):
    """Out-of-fold probabilities and, alongside the folds, the final model on all items.

    With a Dask scheduler and a feature matrix of at least
    :func:`~defectlab.learn.distributed.dask_lightgbm_min_bytes`, LightGBM is fitted on the cluster.
    """
    from defectlab.learn import distributed

    estimator = make_model(model, model_preset, random_state=seed, n_jobs=1, class_weight=class_weight)
    address = distributed.resolve_scheduler(scheduler)
    on_dask = False
    if address is not None:
        with distributed.scheduler_client(address) as client:
            on_dask = X.nbytes >= distributed.dask_lightgbm_min_bytes(client)
    if on_dask:
        estimator = distributed.with_dask_lightgbm(estimator, address)
    # The final model (all items) is fitted alongside the folds: both cores stay busy. On a cluster one fit at
    # a time: a lightgbm.dask training rendezvouses every worker, and two at once on the same workers can wait
    # for each other's ranks until a timeout (seen as "Connecting to rank 1 failed" on a LocalCluster).
    oof = cross_val_oof(X, data.labels, groups=data.groups, model=estimator, n_splits=folds,
                        random_state=seed, holdout=holdout, progress=progress, n_jobs=1 if on_dask else n_jobs,
                        refit=True)
    if on_dask:
        oof.model = distributed.localize(oof.model)
    return oof


def _lightgbm_fit_params(model):
    """``fit_params_`` of the final model's LightGBM (itself or an ensemble member), or None."""
    members = [model, *getattr(model, "estimators_", [])]
    for member in members:
        fitted = getattr(member, "fit_params_", None)
        if isinstance(fitted, dict):
            return dict(fitted)
    return None


def _score(oof, labels, classes, ordinal, target_accuracy):
    """Metrics (+ hold-out, reject threshold and coverage curve) and per-item predictions."""
    probs_all = _to_project_columns(oof.pred_probs, oof.classes.tolist(), classes)
    cv_rows = ~oof.holdout_mask
    metrics = evaluate(labels[cv_rows], probs_all[cv_rows], classes, ordinal=ordinal)
    if oof.holdout_mask.any():
        metrics["holdout"] = evaluate(labels[oof.holdout_mask], probs_all[oof.holdout_mask], classes,
                                      ordinal=ordinal)
    choice = choose_threshold(labels[cv_rows], probs_all[cv_rows], target_accuracy, classes=classes)
    metrics["reject"] = choice.to_dict()
    metrics["reject"]["curve"] = coverage_curve(labels[cv_rows], probs_all[cv_rows],
                                                classes=classes).to_dict()
    pred_idx = np.argmax(probs_all, axis=1)
    return {"metrics": metrics, "threshold": float(choice.threshold),
            "pred_labels": [classes[k] for k in pred_idx.tolist()],
            "confidence": probs_all[np.arange(len(labels)), pred_idx]}


def _save_run_files(directory, run_id, proj, spec, names, X, data, oof):
    """Write the model artifact and ``oof.npz``; their kind and checksum for the runs row."""
    meta = save_model(oof.model, directory, feature_names=names,
                      extra={"run_id": run_id, "project": proj.name, "spec_hash": spec.hash,
                             "feature_spec": spec.to_dict()})
    np.savez(directory / OOF_FILE, item_ids=data.item_ids, labels=data.labels.astype(str),
             classes=np.asarray(oof.classes).astype(str), pred_probs=oof.pred_probs,
             fold_ids=oof.fold_ids, feature_means=X.mean(axis=0, dtype=np.float64),
             holdout_mask=oof.holdout_mask)
    # every file's sha256 goes to the database with the run: a later edit is refused at load
    return {"kind": meta["kind"], "oof_sha256": _sha256_file(directory / OOF_FILE), "meta": meta,
            "hashes": artifact_hashes(directory)}


def _record_run(ws, run_id, proj, user, model, params, spec, seed, data, oof, scores, timings, note, files):
    """The ``runs`` row, one ``run_items`` row per item, the artifact hashes and the audit entries, in one
    transaction."""
    from defectlab.store import log_action, utcnow

    metrics = scores["metrics"]
    with ws.transaction() as conn:
        conn.execute(
            "INSERT INTO runs (id, project_id, created_at, created_by, status, model, params, "
            "feature_spec, spec_hash, seed, n_items, n_classes, metrics, timings, versions, "
            "threshold, path, note, approved) VALUES (?, ?, ?, ?, 'done', ?, ?, ?, ?, ?, ?, ?, ?, ?, "
            "?, ?, ?, ?, 0)",
            (run_id, proj.id, utcnow(), user, model, _json(params), _json(spec.to_dict()), spec.hash,
             seed, len(data.labels), len(data.present), _json(metrics), _json(timings),
             _json(library_versions()), scores["threshold"], f"runs/{run_id}", str(note)),
        )
        conn.executemany(
            "INSERT INTO run_items (run_id, item_id, label, fold, pred_label, confidence) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(run_id, int(i), lab, int(f), p, float(c)) for i, lab, f, p, c in
             zip(data.item_ids.tolist(), data.labels.tolist(), oof.fold_ids.tolist(),
                 scores["pred_labels"], scores["confidence"].tolist(), strict=True)],
        )
        conn.executemany("INSERT INTO run_artifacts (run_id, name, sha256) VALUES (?, ?, ?)",
                         [(run_id, name, sha) for name, sha in files["hashes"].items()])
        _record_own_models(conn, ws.runs_dir / run_id, files["meta"])
        for item in data.skipped[:200]:  # flagged in the audit trail, next to the run that left it out
            log_action(conn, user, "item.unreadable", proj.id, item["source"],
                       {"item_id": item["item_id"], "run_id": run_id, "reason": item["reason"]})
        log_action(conn, user, "train", proj.id, run_id,
                   {"model": model, "n_items": len(data.labels),
                    "accuracy": metrics["accuracy"], "spec_hash": spec.hash})


# -- registry -------------------------------------------------------------------------------------

def _decode_run(row, project_name=None):
    d = dict(row)
    record = {
        "run_id": d["id"],
        "project_id": d["project_id"],
        "project": project_name,
        "created_at": d["created_at"],
        "created_by": d["created_by"],
        "status": d["status"],
        "model": d["model"],
        "params": json.loads(d["params"] or "{}"),
        "feature_spec": json.loads(d["feature_spec"] or "{}"),
        "spec_hash": d["spec_hash"],
        "seed": d["seed"],
        "n_items": d["n_items"],
        "n_classes": d["n_classes"],
        "metrics": json.loads(d["metrics"] or "{}"),
        "timings": json.loads(d["timings"] or "{}"),
        "versions": json.loads(d["versions"] or "{}"),
        "threshold": d["threshold"],
        "path": d["path"],
        "note": d["note"],
        "approved": bool(d["approved"]),
    }
    return record


def list_runs(ws: WorkspaceLike, project: ProjectRef) -> list[dict[str, Any]]:
    """A project's runs, newest first, as summary dicts (see :func:`summary_of`)."""
    from defectlab.store import get_project

    ws = as_workspace(ws)
    proj = get_project(ws, project)
    with ws.read() as conn:
        rows = conn.execute("SELECT * FROM runs WHERE project_id = ? ORDER BY created_at DESC, id DESC",
                            (proj.id,)).fetchall()
    return [summary_of(_decode_run(r, proj.name)) for r in rows]


def get_run(ws: WorkspaceLike, run_id: str, with_items: bool = True) -> dict[str, Any]:
    """One run record: the runs row decoded, plus ``items`` ([{item_id, source, label, pred_label,
    confidence, fold}]) when ``with_items``. Raises NotFoundError."""
    ws = as_workspace(ws)
    with ws.read() as conn:
        row = conn.execute(
            "SELECT r.*, p.name AS project_name FROM runs r JOIN projects p ON p.id = r.project_id "
            "WHERE r.id = ?", (str(run_id),)).fetchone()
        if row is None:
            raise NotFoundError(msg("error.runs.no_run_workspace_defectlab",
                    "No run {run_id} in workspace {root}; 'defectlab runs PROJECT' lists the runs.",
                    run_id=repr(run_id), root=ws.root))
        record = _decode_run(row, row["project_name"])
        _rename_metrics(record, class_events(conn, record["project_id"]))
        if with_items:
            record["items"] = [dict(r) for r in conn.execute(
                "SELECT ri.item_id, i.source, ri.label, ri.pred_label, ri.confidence, ri.fold "
                "FROM run_items ri JOIN items i ON i.id = ri.item_id WHERE ri.run_id = ? "
                "ORDER BY ri.item_id", (str(run_id),))]
            events = class_events(conn, record["project_id"])
            for it in record["items"] if events else []:  # a class renamed since: today's names
                it["label"] = map_by_time(events, it["label"], record["created_at"])
                it["pred_label"] = map_by_time(events, it["pred_label"], record["created_at"])
    return record


def _rename_metrics(record, events):
    """A run's metrics under today's class names (``classes``, ``per_class`` keys, holdout too)."""
    if not events:
        return
    since = record["created_at"]
    for m in (record["metrics"], record["metrics"].get("holdout") or {}):
        if isinstance(m.get("classes"), list):
            m["classes"] = [map_by_time(events, c, since) for c in m["classes"]]
        if isinstance(m.get("per_class"), dict):
            renamed = {}
            for c, v in m["per_class"].items():
                renamed.setdefault(map_by_time(events, c, since), v)  # merged classes: the first one's scores
            m["per_class"] = renamed


def _today_names(ws, project_id, since, classes):
    """A run's class names as they are called today (classes renamed or merged after it was trained)."""
    with ws.read() as conn:
        events = class_events(conn, project_id)
    return [map_by_time(events, c, since) for c in classes] if events else classes


def _probs_by_class(classes, probs):
    out = {}
    for c, p in zip(classes, probs, strict=True):  # two merged classes add up
        out[c] = out.get(c, 0.0) + float(p)
    return out


def compare(ws: WorkspaceLike, project: ProjectRef, run_a: str, run_b: str) -> dict[str, Any]:
    """Compare two runs of a project: :func:`~defectlab.learn.compare.compare_runs` on their records."""
    from defectlab.store import get_project

    ws = as_workspace(ws)
    proj = get_project(ws, project)
    records = [get_run(ws, r) for r in (run_a, run_b)]
    for rec in records:
        if rec["project_id"] != proj.id:
            raise InputError(msg("error.runs.run_belongs_project_not_2",
                    "Run {rec_run_id} belongs to project {rec_project}, not {name}.",
                    rec_run_id=rec['run_id'], rec_project=repr(rec['project']), name=repr(proj.name)))
    return compare_runs(records[0], records[1], grades=list(proj.classes) if proj.ordinal else None)


def resolve_run(ws: WorkspaceLike, project: ProjectRef, run_id: str | None = None) -> str:
    """The run to predict with: ``run_id`` when given (checked to belong to ``project``), else the
    newest approved run, else the newest run. Raises NotFoundError when the project has no run."""
    from defectlab.store import get_project

    ws = as_workspace(ws)
    proj = get_project(ws, project)
    if run_id is not None:
        run = get_run(ws, run_id, with_items=False)
        if run["project_id"] != proj.id:
            raise InputError(msg("error.runs.run_belongs_project_not",
                    "Run {run_run_id} belongs to project {run_project}, not {name}.",
                    run_run_id=run['run_id'], run_project=repr(run['project']), name=repr(proj.name)))
        return run["run_id"]
    with ws.read() as conn:
        row = conn.execute(
            "SELECT id FROM runs WHERE project_id = ? AND status = 'done' "
            "ORDER BY approved DESC, created_at DESC, id DESC LIMIT 1", (proj.id,)).fetchone()
    if row is None:
        raise NotFoundError(msg("error.runs.project_has_no_trained",
                "Project {name} has no trained run yet; train it first (defectlab train {name}).",
                name=repr(proj.name)))
    return row[0]


def approve_run(ws: WorkspaceLike, run_id: str, approved: bool = True, user: str = "local") -> dict[str, Any]:
    """Mark a run as approved for prediction (or withdraw it); needs ``approve_run``."""
    from defectlab.store import log_action, require

    ws = as_workspace(ws)
    run = get_run(ws, run_id, with_items=False)
    with ws.transaction() as conn:
        require(conn, user, "approve_run")
        conn.execute("UPDATE runs SET approved = ? WHERE id = ?", (int(bool(approved)), run["run_id"]))
        log_action(conn, user, "run.approve" if approved else "run.unapprove", run["project_id"],
                   run["run_id"])
    return summary_of(get_run(ws, run_id, with_items=False))


def _record_own_models(conn, directory, meta):
    """The LightGBM texts this process just wrote are known good: no child-process check for them."""
    from defectlab.store import utcnow

    descs = meta.get("members") or [meta]
    for d in descs:
        if d.get("kind") == "lightgbm":
            conn.execute("INSERT OR IGNORE INTO model_checks (sha256, ok, detail, checked_at) VALUES (?, 1, "
                         "'written by training', ?)", (meta["files"][d["file"]], utcnow()))


def run_artifact_hashes(ws, run_id):
    """``{file name: sha256}`` recorded for a run at training time; empty for runs trained before
    defectlab recorded them (those are checked against their own ``meta.json`` only)."""
    with ws.read() as conn:
        return {r[0]: r[1] for r in conn.execute(
            "SELECT name, sha256 FROM run_artifacts WHERE run_id = ? ORDER BY name", (str(run_id),))}


def _run_dir(ws, run):
    path = (ws.root / run["path"]).resolve()
    if ws.runs_dir.resolve() not in path.parents:
        raise ArtifactError(msg("error.runs.run_points_outside_workspace",
                "Run {run_run_id} points outside the workspace's runs/ folder.",
                run_run_id=run['run_id']))
    return path


def load_oof(ws: WorkspaceLike, run_id: str) -> dict[str, np.ndarray]:
    """A run's stored out-of-fold arrays (checksum-verified, no pickle), as a dict of ndarrays.

    Keys include ``item_ids``, ``pred_probs``, ``fold_ids`` and ``feature_means``.
    """
    return _load_oof(ws, get_run(ws, run_id, with_items=False))


def _load_oof(ws, run):
    path = _run_dir(ws, run) / OOF_FILE
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ArtifactError(msg("error.runs.out_fold_file_run_2",
                "The out-of-fold file of run {run_run_id} cannot be read ({exc}).",
                run_run_id=run['run_id'], exc=exc)) \
            from None
    expected = run["params"].get("oof_sha256")
    if expected and hashlib.sha256(data).hexdigest() != expected:
        raise ArtifactError(msg("error.runs.out_fold_file_run",
                "The out-of-fold file of run {run_run_id} does not match its checksum; it was "
                "modified after training. Retrain.",
                run_run_id=run['run_id']))
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def load_run_model(ws: WorkspaceLike, run_id: str) -> tuple[Any, dict[str, Any], Any]:
    """The fitted model, the run record and the feature spec of a run (all verified).

    Raises
    ------
    ArtifactError
        Model files missing or modified, or the features code changed since the run (its spec hash
        no longer matches): retrain.
    """
    from defectlab.features import get_spec

    ws = as_workspace(ws)
    from defectlab.learn.model_guard import VerdictStore

    run = get_run(ws, run_id, with_items=False)
    expected = run_artifact_hashes(ws, run["run_id"])
    model = load_model(_run_dir(ws, run), expected=expected, verdicts=VerdictStore(ws))
    try:
        spec = get_spec(run["feature_spec"])
    except InputError as exc:
        raise ArtifactError(msg("error.runs.run_used_feature_spec",
                "Run {run_run_id} used a feature spec this version cannot rebuild ({exc}). Retrain "
                "the project.",
                run_run_id=run['run_id'], exc=exc)) from None
    if spec.hash != run["spec_hash"]:
        raise ArtifactError(
            msg("error.runs.run_was_trained_features",
                "Run {run_run_id} was trained on features that this version of defectlab computes "
                "differently (feature spec hash changed). Retrain the project before predicting.",
                run_run_id=run['run_id'])
        )
    return model, run, spec


def run_features(ws: WorkspaceLike, run_id: str, item_ids: ItemIds, progress: Callable[..., Any] | None = None,
                 n_jobs: int | None = None) -> np.ndarray:
    """Features of stored items under a run's feature spec: (N, F) float64, rows in ``item_ids`` order."""
    import pandas as pd

    ws = as_workspace(ws)
    _, _, spec = load_run_model(ws, run_id)
    rows = _item_rows(ws, item_ids)
    return _features(ws, pd.DataFrame(rows), spec, progress, n_jobs)


def warm_feature_cache(ws: WorkspaceLike, item_ids: ItemIds, spec: Any = None, scheduler: str | None = None,
                       n_jobs: int | None = None, progress: Callable[..., Any] | None = None) -> int:
    """Compute and cache the features of stored items (e.g. right after an import on a cluster).

    Parameters
    ----------
    ws : Workspace or path
    item_ids : list of int
    spec : FeatureSpec or str or None
        The feature spec (``None``: what ``train`` chooses, the default preset through
        ``defectlab.features.auto_spec`` for the sizes of the items' project).
    scheduler : str or None
        A Dask scheduler address (``None``: ``$DEFECTLAB_SCHEDULER``, else local threads).
    n_jobs : int or None, default=None
        Local feature workers (``None``: the available cores, at most 8).
    progress : callable or None
        ``progress(done, total)``.

    Returns
    -------
    int
        Items whose features are now cached.
    """
    import pandas as pd

    from defectlab.features import get_spec

    ws = as_workspace(ws)
    rows = _item_rows(ws, item_ids)
    if rows:
        chosen = get_spec(spec) if spec is not None else _auto_spec_of_project(ws, rows[0]["project_id"])
        _features(ws, pd.DataFrame(rows), chosen, progress, n_jobs, scheduler=scheduler)
    return len(rows)


def _auto_spec_of_project(ws, project_id):
    """The spec ``train`` would choose for the project's sample images (by their sizes), default preset."""
    from defectlab.features import auto_spec, get_spec

    with ws.read() as conn:
        sizes = conn.execute("SELECT height, width FROM items WHERE project_id = ? AND role = 'sample' "
                             "AND deleted_at IS NULL", (int(project_id),)).fetchall()
    return auto_spec(get_spec(None), [r[0] for r in sizes], [r[1] for r in sizes])


# -- prediction -----------------------------------------------------------------------------------

def _item_rows(ws, item_ids):
    ids = [int(i) for i in item_ids]
    if not ids:
        return []
    found = {}
    with ws.read() as conn:
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            for r in conn.execute(
                    f"SELECT id, project_id, sha256, blob, source, deleted_at FROM items WHERE id IN "
                    f"({','.join('?' * len(chunk))})", chunk):
                found[r["id"]] = dict(r)
    missing = [i for i in ids if i not in found]
    if missing:
        raise NotFoundError(msg("error.runs.no_item_s_id", "No item(s) with id {missing_10}.", missing_10=missing[:10]))
    return [found[i] for i in ids]


def _predict_proba(model, X, scheduler):
    """``model.predict_proba(X)``, on the Dask cluster when a scheduler is given."""
    from defectlab.learn.distributed import predict_proba_dask, resolve_scheduler, scheduler_client

    address = resolve_scheduler(scheduler)
    if address is None:
        return model.predict_proba(X)
    with scheduler_client(address) as client:
        return predict_proba_dask(client, model, X)


def predict_items(ws: WorkspaceLike, project: ProjectRef, run_id: str, item_ids: ItemIds, user: str = "local",
                  batch_id: int | None = None, progress: Callable[..., Any] | None = None, explain_top: int = 3,
                  n_jobs: int | None = None, threshold: float | None = None,
                  scheduler: str | None = None) -> dict[str, Any]:
    """Predict stored items with a run and record the predictions.

    Parameters
    ----------
    ws : Workspace or path
    project : str or int or Project
    run_id : str
        A run of the same project.
    item_ids : list of int
        Items of the project.
    user : str
        Needs the ``predict`` permission.
    batch_id : int or None
        The ``predict`` batch the items came in; a new one is created when None.
    progress : callable or None
        ``progress(done, total, message)``.
    explain_top : int, default=3
        Feature families kept per prediction (0: no explanation).
    threshold : float or None
        Confidence below which a prediction needs review; None = the run's threshold (chosen on its
        out-of-fold predictions for the target accuracy). Pass the UI slider's value to override.
    scheduler : str or None
        A Dask scheduler address: features and ``predict_proba`` run on its workers
        (:mod:`defectlab.learn.distributed`); ``None`` reads ``$DEFECTLAB_SCHEDULER``, ``"local"``
        forces this process.

    Returns
    -------
    dict
        ``run_id, batch_id, n_items, n_needs_review, threshold, predictions`` where each prediction is
        ``{"item_id", "source", "label", "confidence", "needs_review", "probs": {class: p},
        "explanation": [{"family", "title", "contribution", "method"}]}``.
    """
    import pandas as pd

    from defectlab.features import feature_names
    from defectlab.store import create_batch, get_project, log_action, utcnow

    ws = as_workspace(ws)
    _require(ws, user, "predict")
    proj = get_project(ws, project)
    model, run, spec = load_run_model(ws, run_id)
    if run["project_id"] != proj.id:
        raise InputError(msg("error.runs.run_belongs_project_not",
                "Run {run_run_id} belongs to project {run_project}, not {name}.",
                run_run_id=run['run_id'], run_project=repr(run['project']), name=repr(proj.name)))
    rows = _item_rows(ws, item_ids)
    other = [r["id"] for r in rows if r["project_id"] != proj.id]
    if other:
        raise InputError(msg("error.runs.items_belong_another_project",
                "Items {other_10} belong to another project than {name}.",
                other_10=other[:10], name=repr(proj.name)))
    if threshold is None:
        threshold = float(run["threshold"]) if run["threshold"] is not None else 1.0 + 1e-9
    else:
        threshold = _check_float(threshold, "predict_items", "threshold")
    predictions = []
    if rows:
        X = _features(ws, pd.DataFrame(rows), spec, _stage(progress, 0, 80, _STEP["features"]),
                      n_jobs, scheduler=scheduler)
        proba = _predict_proba(model, X, scheduler)
        classes = _today_names(ws, proj.id, run["created_at"], [str(c) for c in model.classes_.tolist()])
        pred = np.argmax(proba, axis=1)
        conf = proba[np.arange(len(rows)), pred]
        _tell(progress, 85, _STEP["explaining"])
        if explain_top:
            background = _load_oof(ws, run).get("feature_means")
            why = explain(model, X, feature_names(spec), top=int(explain_top), background=background)
        else:
            why = [[] for _ in rows]
        for k, r in enumerate(rows):
            predictions.append({
                "item_id": int(r["id"]),
                "source": r["source"],
                "label": classes[pred[k]],
                "confidence": float(conf[k]),
                "needs_review": bool(conf[k] < threshold),
                "probs": _probs_by_class(classes, proba[k].tolist()),
                "explanation": why[k],
            })
    now = utcnow()
    with ws.transaction() as conn:
        if batch_id is None:
            batch_id = create_batch(conn, proj.id, "predict", f"items:{len(rows)}", user)
        conn.executemany(
            "INSERT INTO predictions (batch_id, run_id, item_id, label, confidence, probs, "
            "needs_review, explanation, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(int(batch_id), run["run_id"], p["item_id"], p["label"], p["confidence"],
              _json(p["probs"]), int(p["needs_review"]), _json(p["explanation"]), now)
             for p in predictions],
        )
        log_action(conn, user, "predict", proj.id, run["run_id"],
                   {"batch_id": int(batch_id), "n_items": len(predictions),
                    "n_needs_review": sum(p["needs_review"] for p in predictions)})
    _tell(progress, 100, _STEP["done"])
    return {
        "run_id": run["run_id"],
        "batch_id": int(batch_id),
        "n_items": len(predictions),
        "n_needs_review": int(sum(p["needs_review"] for p in predictions)),
        "threshold": threshold,
        "predictions": predictions,
    }


def predict_batch(ws: WorkspaceLike, project: ProjectRef, run_id: str, source: PathLike, user: str = "local",
                  layout: str = "auto", progress: Callable[..., Any] | None = None, explain_top: int = 3,
                  n_jobs: int | None = None, threshold: float | None = None,
                  scheduler: str | None = None) -> dict[str, Any]:
    """Import a folder / zip / image as a ``predict`` batch and predict every image in it with a run.

    The images become unlabeled items of the project (content already in the project is reused, not
    duplicated); bad files are listed in ``rejected`` and the rest is predicted.

    Parameters
    ----------
    ws, project, run_id, user, progress, explain_top, n_jobs, threshold, scheduler
        As in :func:`predict_items`.
    source : str or Path
        A folder, a ``.zip`` or one image file.
    layout : str, default="auto"
        As in :func:`defectlab.ingest.import_source` (``voc`` etc. cut crops from boxes).

    Returns
    -------
    dict
        :func:`predict_items`' dict (its ``predictions`` have ``source`` = path in ``source``) plus
        ``rejected`` ([{"source", "reason"}]) and ``reused`` (images already in the project).
    """
    from defectlab.ingest import import_source
    from defectlab.store import get_project

    ws = as_workspace(ws)
    if threshold is not None:
        threshold = _check_float(threshold, "predict_batch", "threshold")
    _require(ws, user, "predict")
    proj = get_project(ws, project)
    run = get_run(ws, run_id, with_items=False)
    if run["project_id"] != proj.id:
        raise InputError(msg("error.runs.run_belongs_project_not",
                "Run {run_run_id} belongs to project {run_project}, not {name}.",
                run_run_id=run['run_id'], run_project=repr(run['project']), name=repr(proj.name)))
    load_run_model(ws, run_id)  # fail before importing anything when the run cannot be used
    report = import_source(ws, proj, source, layout=layout, user=user, batch_kind="predict",
                           with_labels=False, create_missing_project=False,
                           progress=_stage(progress, 0, 30, _STEP["reading"]))
    # every stored sample of the batch, content already in the project included; an image repeated
    # within the batch is predicted once
    pairs, seen = [], set()
    for src, item_id, _dup in report.batch_items:
        if item_id not in seen:
            seen.add(item_id)
            pairs.append((src, item_id))
    n_repeats = len(report.batch_items) - len(pairs)
    result = predict_items(ws, proj, run_id, [i for _, i in pairs], user=user,
                           batch_id=report.batch_id, progress=_stage(progress, 30, 70, _STEP["predicting"]),
                           explain_top=explain_top, n_jobs=n_jobs, threshold=threshold,
                           scheduler=scheduler)
    names = dict((i, s) for s, i in pairs)
    for p in result["predictions"]:
        p["source"] = names.get(p["item_id"], p["source"])
    result["rejected"] = list(report.rejected)
    result["reused"] = report.duplicates - n_repeats
    if n_repeats:
        result["warnings"] = [msg("learn.warn.repeated",
                                  "{n} repeated images or crops in the batch were predicted once.", n=n_repeats)]
    if progress is not None:
        progress(100, 100, _STEP["done"])
    return result


def list_predictions(ws: WorkspaceLike, project: ProjectRef, batch_id: int | None = None,
                     run_id: str | None = None) -> list[dict[str, Any]]:
    """Stored predictions of a project (optionally one batch / one run), newest batch first, each with
    the item's current human decision (``decision``, ``decided_by``, ``decision_source``; None when
    nobody has looked yet)."""
    from defectlab.store import current_labels, get_project

    ws = as_workspace(ws)
    proj = get_project(ws, project)
    sql = ("SELECT pr.*, i.source FROM predictions pr JOIN items i ON i.id = pr.item_id "
           "JOIN batches b ON b.id = pr.batch_id WHERE b.project_id = ?")
    args: list[Any] = [proj.id]
    if batch_id is not None:
        sql += " AND pr.batch_id = ?"
        args.append(int(batch_id))
    if run_id is not None:
        sql += " AND pr.run_id = ?"
        args.append(str(run_id))
    with ws.read() as conn:
        rows = [dict(r) for r in conn.execute(sql + " ORDER BY pr.batch_id DESC, pr.id", args)]
    states = current_labels(ws, proj.id, item_ids=[r["item_id"] for r in rows]) if rows else {}
    out = []
    for r in rows:
        state = states.get(r["item_id"])
        out.append({
            "prediction_id": r["id"], "batch_id": r["batch_id"], "run_id": r["run_id"],
            "item_id": r["item_id"], "source": r["source"], "label": r["label"],
            "confidence": r["confidence"], "needs_review": bool(r["needs_review"]),
            "probs": json.loads(r["probs"] or "{}"), "explanation": json.loads(r["explanation"] or "[]"),
            "created_at": r["created_at"],
            "decision": state.label if state else None,
            "decided_by": state.user if state else None,
            "decision_source": state.source if state else None,
        })
    return out


def accept_predictions(ws: WorkspaceLike, project: ProjectRef, batch_id: int, user: str = "local",
                       item_ids: ItemIds | None = None, include_review: bool = False) -> int:
    """Confirm a batch's predictions as labels (annotation source ``model``), e.g. the confident ones.

    Parameters
    ----------
    item_ids : list of int or None
        Only these items; None = every item of the batch nobody has decided yet.
    include_review : bool, default=False
        Also accept the predictions that need review (only when ``item_ids`` names them explicitly
        or this is True).

    Returns
    -------
    int
        Annotations written.
    """
    from defectlab.store import annotate

    ws = as_workspace(ws)
    _require(ws, user, "correct_predictions")
    rows = list_predictions(ws, project, batch_id=batch_id)
    wanted = None if item_ids is None else {int(i) for i in item_ids}
    n = 0
    with ws.transaction() as conn:
        for r in rows:
            if wanted is not None and r["item_id"] not in wanted:
                continue
            if wanted is None and (r["decision"] is not None or (r["needs_review"] and not include_review)):
                continue
            annotate(ws, r["item_id"], r["label"], user=user, source="model", run_id=r["run_id"], conn=conn)
            n += 1
    return n


def _rejected_files(ws, proj, batch_id):
    """``[(batch id, {"source", "reason"})]`` of the files a predict batch (or all of them) refused."""
    sql = "SELECT id, summary FROM batches WHERE project_id = ? AND kind = 'predict'"
    args: list[Any] = [proj.id]
    if batch_id is not None:
        sql += " AND id = ?"
        args.append(int(batch_id))
    with ws.read() as conn:
        rows = conn.execute(sql + " ORDER BY id", args).fetchall()
    return [(r["id"], f) for r in rows for f in (json.loads(r["summary"] or "{}").get("rejected_files") or [])]


def export_predictions_csv(ws: WorkspaceLike, project: ProjectRef, path: PathLike, batch_id: int | None = None,
                           user: str = "local") -> dict[str, Any]:
    """Write a batch's predictions (with the people's decisions) to a UTF-8 CSV for the quality system.

    Columns: ``source, item_id, predicted, confidence, needs_review, final_label, final_source,
    decided_by, run_id, batch_id`` then ``p_<class>`` per class, then ``reason``. ``final_label`` is the
    person's decision when there is one, else the prediction; ``final_source`` says which (``model``,
    ``review``, ``human``...). A file the batch refused (corrupt, not an image...) is a row of its own:
    ``final_source`` ``rejected``, ``needs_review`` 1 and the ``reason``.

    Returns
    -------
    dict
        ``{"exported": int, "path": str}``.
    """
    from defectlab.store import get_project, log_action

    ws = as_workspace(ws)
    _require(ws, user, "export")
    proj = get_project(ws, project)
    rows = list_predictions(ws, proj, batch_id=batch_id)
    classes = list(proj.classes)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    from defectlab.csvio import write_csv

    header = ["source", "item_id", "predicted", "confidence", "needs_review", "final_label",
              "final_source", "decided_by", "run_id", "batch_id"] + [f"p_{c}" for c in classes] + ["reason"]
    lines = []
    for r in rows:
        decided = r["decision"] is not None
        lines.append([
            r["source"], r["item_id"], r["label"], f"{r['confidence']:.6f}", int(r["needs_review"]),
            r["decision"] if decided else r["label"],
            r["decision_source"] if decided else "model_unreviewed",
            r["decided_by"] or "", r["run_id"], r["batch_id"],
        ] + [f"{r['probs'].get(c, 0.0):.6f}" for c in classes] + [""])
    for batch, refused in _rejected_files(ws, proj, batch_id):  # a file the batch refused is not left out silently
        lines.append([refused["source"], "", "", "", 1, "", "rejected", "", "", batch]
                     + [""] * len(classes) + [refused["reason"]])
    write_csv(path, header, lines)  # BOM: Excel reads Chinese names right; formula cells neutralised
    with ws.transaction() as conn:
        log_action(conn, user, "export.predictions", proj.id, str(path),
                   {"batch_id": batch_id, "rows": len(rows)})
    return {"exported": len(rows), "path": str(path)}
