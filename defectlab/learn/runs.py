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

import csv
import datetime as _dt
import hashlib
import io
import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from defectlab._validation import _check_float, _check_int
from defectlab.errors import ArtifactError, InputError, NotFoundError
from defectlab.learn.artifacts import library_versions, load_model, save_model
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

def _workspace(ws):
    from defectlab.store import Workspace, open_workspace

    if isinstance(ws, Workspace):
        return ws
    return open_workspace(ws, create=False)


def _require(ws, user, action):
    from defectlab.store import require

    with ws.read() as conn:
        require(conn, user, action)


def _new_run_id():
    now = _dt.datetime.now(_dt.UTC)
    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def _sha256_file(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


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
        notes.append(
            f"{len(stale)} items carry labels that are no longer classes of the project "
            f"({sorted(set(stale['label']))[:5]}); they were left out. Relabel them."
        )
    df = df[df["label"].isin(classes)] if len(df) else df
    if n_unusable:
        notes.append(f"{n_unusable} items marked unusable were left out.")
    return df.reset_index(drop=True), notes


def _features(ws, rows, spec, progress, n_jobs, scheduler=None):
    """(N, F) float64 features of the item rows (``sha256``, ``blob``, ``source``) via the cache.

    Missing rows are computed on ``n_jobs`` local threads, or by a Dask cluster when ``scheduler``
    (or ``$DEFECTLAB_SCHEDULER``) names one (:mod:`defectlab.learn.distributed`).
    """
    from defectlab.features import extract_cached
    from defectlab.learn.distributed import features_dask, resolve_scheduler
    from defectlab.store import load_images

    address = resolve_scheduler(scheduler)
    if address is not None:
        X = features_dask(ws, list(rows["sha256"]), list(rows["blob"]), spec, address, progress=progress)
        return np.asarray(X, dtype=np.float64)
    by_sha = {}
    for sha, blob, source in zip(rows["sha256"], rows["blob"], rows["source"], strict=True):
        by_sha.setdefault(sha, (blob, source))

    def loader(shas):
        return load_images(ws, [by_sha[s][0] for s in shas], [by_sha[s][1] for s in shas])

    X = extract_cached(list(rows["sha256"]), loader, spec, cache_dir=ws.features_dir,
                       n_jobs=n_jobs, progress=progress)
    return np.asarray(X, dtype=np.float64)


def _resolve_spec(feature_spec, preset):
    from defectlab.features import PRESETS as FEATURE_PRESETS
    from defectlab.features import get_spec

    choice = feature_spec if feature_spec is not None else preset
    if isinstance(choice, str) and choice in PRESETS and choice not in FEATURE_PRESETS:
        raise InputError(
            f"{choice!r} is a model preset; pass it as model_preset={choice!r}. The 'preset' "
            f"parameter of train_project names a feature preset ({sorted(FEATURE_PRESETS)})."
        )
    return get_spec(choice)


def _expand(pred_probs, model_classes, classes):
    """Columns of ``pred_probs`` (model classes) placed into the project's class order."""
    out = np.zeros((pred_probs.shape[0], len(classes)))
    col = {c: i for i, c in enumerate(classes)}
    for j, c in enumerate(model_classes):
        out[:, col[c]] = pred_probs[:, j]
    return out


def _json(value):
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


def summary_of(run):
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

def train_project(ws, project, model=DEFAULT_MODEL, preset=None, folds=5, seed=0, feature_spec=None,
                  user="local", progress=None, model_preset=DEFAULT_PRESET, class_weight="balanced",
                  target_accuracy=0.99, holdout=None, note="", n_jobs=2, scheduler=None):
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
        Feature preset name (``defectlab.features.PRESETS``); ``None`` is the default preset.
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
    n_jobs : int, default=2
        Local workers: feature-extraction threads and models fitted side by side.
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
    from defectlab.store import get_project

    t_start = time.perf_counter()
    ws = _workspace(ws)
    folds, seed, target_accuracy = _check_train_args(model, model_preset, folds, seed, target_accuracy)
    _require(ws, user, "train")
    proj = get_project(ws, project)
    spec = _resolve_spec(feature_spec, preset)
    data = _training_set(ws, proj)

    _tell(progress, 0, "computing features")
    t0 = time.perf_counter()
    X = _features(ws, data.rows, spec, _stage(progress, 0, 40, "computing features"), n_jobs,
                  scheduler=scheduler)
    timings = {"features": round(time.perf_counter() - t0, 3)}

    t0 = time.perf_counter()
    oof = _fit(X, data, model, model_preset, class_weight, seed, folds, holdout, n_jobs,
               _stage(progress, 40, 55, "fitting models"), scheduler=scheduler)
    timings["fit"] = round(time.perf_counter() - t0, 3)
    data.notes.extend(oof.warnings)
    scores = _score(oof, data.labels, list(proj.classes), proj.ordinal, target_accuracy)

    _tell(progress, 97, "saving the run")
    run_id = _new_run_id()
    directory = ws.runs_dir / run_id
    files = _save_run_files(directory, run_id, proj, spec, list(feature_names(spec)), X, data, oof)
    timings["total"] = round(time.perf_counter() - t_start, 3)
    params = {"model_preset": model_preset, "model_params": model_params(model, model_preset),
              "class_weight": class_weight, "folds": folds, "n_splits": oof.n_splits,
              "grouped": data.groups is not None, "holdout": holdout, "target_accuracy": target_accuracy,
              "n_jobs": n_jobs, "oof_sha256": files["oof_sha256"], "artifact_kind": files["kind"],
              "n_features": X.shape[1], "warnings": data.notes}
    try:
        _record_run(ws, run_id, proj, user, model, params, spec, seed, data, oof, scores, timings, note)
    except BaseException:
        import shutil

        shutil.rmtree(directory, ignore_errors=True)
        raise
    _tell(progress, 100, "done")
    out = summary_of(get_run(ws, run_id, with_items=False))
    out.update(timings=timings, warnings=data.notes, n_splits=oof.n_splits, path=str(directory))
    if not proj.ordinal:
        for key in ("mae", "within_one", "qwk"):
            out.pop(key, None)
    return out


def _check_train_args(model, model_preset, folds, seed, target_accuracy):
    """Validate the scalar arguments of :func:`train_project`; the checked (folds, seed, target)."""
    if model not in MODEL_NAMES:
        raise InputError(f"The 'model' parameter of train_project must be one of {list(MODEL_NAMES)}. "
                         f"Got {model!r}.")
    if model_preset not in PRESETS:
        raise InputError(f"The 'model_preset' parameter of train_project must be one of "
                         f"{list(PRESETS)}. Got {model_preset!r}.")
    return (_check_int(folds, "train_project", "folds", 2, 50),
            _check_int(seed, "train_project", "seed", 0),
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


def _training_set(ws, proj):
    """The labeled items of ``proj`` as a :class:`_TrainingSet`; raises when fewer than 2 classes."""
    rows, notes = _training_snapshot(ws, proj)
    present = [c for c in proj.classes if c in set(rows["label"])] if len(rows) else []
    if len(present) < 2:
        raise InputError(
            f"Project {proj.name!r} has {len(rows)} labeled items in {len(present)} class(es) "
            f"({present}); training needs labeled items of at least 2 classes. Label more items."
        )
    groups = np.array([_group_of(r) for r in rows[["id", "parent_id", "meta"]].to_dict("records")])
    if len(set(groups.tolist())) == len(groups):
        groups = None  # every item is its own group: plain stratified folds
    return _TrainingSet(rows=rows, item_ids=rows["id"].astype(np.int64).to_numpy(),
                        labels=rows["label"].astype(str).to_numpy(), groups=groups, present=present,
                        notes=notes)


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
    # The final model (all items) is fitted alongside the folds: both cores stay busy.
    oof = cross_val_oof(X, data.labels, groups=data.groups, model=estimator, n_splits=folds,
                        random_state=seed, holdout=holdout, progress=progress, n_jobs=n_jobs, refit=True)
    if on_dask:
        oof.model = distributed.localize(oof.model)
    return oof


def _score(oof, labels, classes, ordinal, target_accuracy):
    """Metrics (+ hold-out, reject threshold and coverage curve) and per-item predictions."""
    probs_all = _expand(oof.pred_probs, oof.classes.tolist(), classes)
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
    return {"kind": meta["kind"], "oof_sha256": _sha256_file(directory / OOF_FILE)}


def _record_run(ws, run_id, proj, user, model, params, spec, seed, data, oof, scores, timings, note):
    """The ``runs`` row, one ``run_items`` row per item and the audit entry, in one transaction."""
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


def list_runs(ws, project):
    """A project's runs, newest first, as summary dicts (see :func:`summary_of`)."""
    from defectlab.store import get_project

    ws = _workspace(ws)
    proj = get_project(ws, project)
    with ws.read() as conn:
        rows = conn.execute("SELECT * FROM runs WHERE project_id = ? ORDER BY created_at DESC, id DESC",
                            (proj.id,)).fetchall()
    return [summary_of(_decode_run(r, proj.name)) for r in rows]


def get_run(ws, run_id, with_items=True):
    """One run record: the runs row decoded, plus ``items`` ([{item_id, source, label, pred_label,
    confidence, fold}]) when ``with_items``. Raises NotFoundError."""
    ws = _workspace(ws)
    with ws.read() as conn:
        row = conn.execute(
            "SELECT r.*, p.name AS project_name FROM runs r JOIN projects p ON p.id = r.project_id "
            "WHERE r.id = ?", (str(run_id),)).fetchone()
        if row is None:
            raise NotFoundError(f"No run {run_id!r} in workspace {ws.root}; 'defectlab runs PROJECT' "
                                "lists the runs.")
        record = _decode_run(row, row["project_name"])
        if with_items:
            record["items"] = [dict(r) for r in conn.execute(
                "SELECT ri.item_id, i.source, ri.label, ri.pred_label, ri.confidence, ri.fold "
                "FROM run_items ri JOIN items i ON i.id = ri.item_id WHERE ri.run_id = ? "
                "ORDER BY ri.item_id", (str(run_id),))]
    return record


def compare(ws, project, run_a, run_b):
    """Compare two runs of a project: :func:`~defectlab.learn.compare.compare_runs` on their records."""
    from defectlab.store import get_project

    ws = _workspace(ws)
    proj = get_project(ws, project)
    records = [get_run(ws, r) for r in (run_a, run_b)]
    for rec in records:
        if rec["project_id"] != proj.id:
            raise InputError(f"Run {rec['run_id']} belongs to project {rec['project']!r}, "
                             f"not {proj.name!r}.")
    return compare_runs(*records)


def resolve_run(ws, project, run_id=None):
    """The run to predict with: ``run_id`` when given (checked to belong to ``project``), else the
    newest approved run, else the newest run. Raises NotFoundError when the project has no run."""
    from defectlab.store import get_project

    ws = _workspace(ws)
    proj = get_project(ws, project)
    if run_id is not None:
        run = get_run(ws, run_id, with_items=False)
        if run["project_id"] != proj.id:
            raise InputError(f"Run {run['run_id']} belongs to project {run['project']!r}, "
                             f"not {proj.name!r}.")
        return run["run_id"]
    with ws.read() as conn:
        row = conn.execute(
            "SELECT id FROM runs WHERE project_id = ? AND status = 'done' "
            "ORDER BY approved DESC, created_at DESC, id DESC LIMIT 1", (proj.id,)).fetchone()
    if row is None:
        raise NotFoundError(f"Project {proj.name!r} has no trained run yet; train it first "
                            f"(defectlab train {proj.name!r}).")
    return row[0]


def approve_run(ws, run_id, approved=True, user="local"):
    """Mark a run as approved for prediction (or withdraw it); needs ``approve_run``."""
    from defectlab.store import log_action, require

    ws = _workspace(ws)
    run = get_run(ws, run_id, with_items=False)
    with ws.transaction() as conn:
        require(conn, user, "approve_run")
        conn.execute("UPDATE runs SET approved = ? WHERE id = ?", (int(bool(approved)), run["run_id"]))
        log_action(conn, user, "run.approve" if approved else "run.unapprove", run["project_id"],
                   run["run_id"])
    return summary_of(get_run(ws, run_id, with_items=False))


def _run_dir(ws, run):
    path = (ws.root / run["path"]).resolve()
    if ws.runs_dir.resolve() not in path.parents:
        raise ArtifactError(f"Run {run['run_id']} points outside the workspace's runs/ folder.")
    return path


def load_oof(ws, run_id):
    """A run's stored out-of-fold arrays (checksum-verified, no pickle), as a dict of ndarrays.

    Keys include ``item_ids``, ``pred_probs``, ``fold_ids`` and ``feature_means``.
    """
    return _load_oof(ws, get_run(ws, run_id, with_items=False))


def _load_oof(ws, run):
    path = _run_dir(ws, run) / OOF_FILE
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ArtifactError(f"The out-of-fold file of run {run['run_id']} cannot be read ({exc}).") \
            from None
    expected = run["params"].get("oof_sha256")
    if expected and hashlib.sha256(data).hexdigest() != expected:
        raise ArtifactError(f"The out-of-fold file of run {run['run_id']} does not match its checksum; "
                            "it was modified after training. Retrain.")
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def load_run_model(ws, run_id):
    """The fitted model, the run record and the feature spec of a run (all verified).

    Raises
    ------
    ArtifactError
        Model files missing or modified, or the features code changed since the run (its spec hash
        no longer matches): retrain.
    """
    from defectlab.features import get_spec

    ws = _workspace(ws)
    run = get_run(ws, run_id, with_items=False)
    model = load_model(_run_dir(ws, run))
    try:
        spec = get_spec(run["feature_spec"])
    except InputError as exc:
        raise ArtifactError(f"Run {run['run_id']} used a feature spec this version cannot rebuild "
                            f"({exc}). Retrain the project.") from None
    if spec.hash != run["spec_hash"]:
        raise ArtifactError(
            f"Run {run['run_id']} was trained on features that this version of defectlab computes "
            "differently (feature spec hash changed). Retrain the project before predicting."
        )
    return model, run, spec


def run_features(ws, run_id, item_ids, progress=None, n_jobs=2):
    """Features of stored items under a run's feature spec: (N, F) float64, rows in ``item_ids`` order."""
    import pandas as pd

    ws = _workspace(ws)
    _, _, spec = load_run_model(ws, run_id)
    rows = _item_rows(ws, item_ids)
    return _features(ws, pd.DataFrame(rows), spec, progress, n_jobs)


def warm_feature_cache(ws, item_ids, spec=None, scheduler=None, n_jobs=2, progress=None):
    """Compute and cache the features of stored items (e.g. right after an import on a cluster).

    Parameters
    ----------
    ws : Workspace or path
    item_ids : list of int
    spec : FeatureSpec or str or None
        The feature spec (``None``: the default preset, what ``train`` uses).
    scheduler : str or None
        A Dask scheduler address (``None``: ``$DEFECTLAB_SCHEDULER``, else local threads).
    n_jobs : int, default=2
    progress : callable or None
        ``progress(done, total)``.

    Returns
    -------
    int
        Items whose features are now cached.
    """
    import pandas as pd

    from defectlab.features import get_spec

    ws = _workspace(ws)
    rows = _item_rows(ws, item_ids)
    if rows:
        _features(ws, pd.DataFrame(rows), get_spec(spec), progress, n_jobs, scheduler=scheduler)
    return len(rows)


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
        raise NotFoundError(f"No item(s) with id {missing[:10]}.")
    return [found[i] for i in ids]


def _predict_proba(model, X, scheduler):
    """``model.predict_proba(X)``, on the Dask cluster when a scheduler is given."""
    from defectlab.learn.distributed import predict_proba_dask, resolve_scheduler, scheduler_client

    address = resolve_scheduler(scheduler)
    if address is None:
        return model.predict_proba(X)
    with scheduler_client(address) as client:
        return predict_proba_dask(client, model, X)


def predict_items(ws, project, run_id, item_ids, user="local", batch_id=None, progress=None,
                  explain_top=3, n_jobs=2, threshold=None, scheduler=None):
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

    ws = _workspace(ws)
    _require(ws, user, "predict")
    proj = get_project(ws, project)
    model, run, spec = load_run_model(ws, run_id)
    if run["project_id"] != proj.id:
        raise InputError(f"Run {run['run_id']} belongs to project {run['project']!r}, not {proj.name!r}.")
    rows = _item_rows(ws, item_ids)
    other = [r["id"] for r in rows if r["project_id"] != proj.id]
    if other:
        raise InputError(f"Items {other[:10]} belong to another project than {proj.name!r}.")
    if threshold is None:
        threshold = float(run["threshold"]) if run["threshold"] is not None else 1.0 + 1e-9
    else:
        threshold = _check_float(threshold, "predict_items", "threshold")
    predictions = []
    if rows:
        X = _features(ws, pd.DataFrame(rows), spec, _stage(progress, 0, 80, "computing features"),
                      n_jobs, scheduler=scheduler)
        proba = _predict_proba(model, X, scheduler)
        classes = [str(c) for c in model.classes_.tolist()]
        pred = np.argmax(proba, axis=1)
        conf = proba[np.arange(len(rows)), pred]
        _tell(progress, 85, "explaining")
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
                "probs": {c: float(p) for c, p in zip(classes, proba[k].tolist(), strict=True)},
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
    _tell(progress, 100, "done")
    return {
        "run_id": run["run_id"],
        "batch_id": int(batch_id),
        "n_items": len(predictions),
        "n_needs_review": int(sum(p["needs_review"] for p in predictions)),
        "threshold": threshold,
        "predictions": predictions,
    }


def predict_batch(ws, project, run_id, source, user="local", layout="auto", progress=None,
                  explain_top=3, n_jobs=2, threshold=None, scheduler=None):
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

    ws = _workspace(ws)
    if threshold is not None:
        threshold = _check_float(threshold, "predict_batch", "threshold")
    _require(ws, user, "predict")
    proj = get_project(ws, project)
    run = get_run(ws, run_id, with_items=False)
    if run["project_id"] != proj.id:
        raise InputError(f"Run {run['run_id']} belongs to project {run['project']!r}, not {proj.name!r}.")
    load_run_model(ws, run_id)  # fail before importing anything when the run cannot be used
    report = import_source(ws, proj, source, layout=layout, user=user, batch_kind="predict",
                           with_labels=False, create_missing_project=False,
                           progress=_stage(progress, 0, 30, "reading images"))
    # every stored sample of the batch, content already in the project included; an image repeated
    # within the batch is predicted once
    pairs, seen = [], set()
    for src, item_id, _dup in report.batch_items:
        if item_id not in seen:
            seen.add(item_id)
            pairs.append((src, item_id))
    n_repeats = len(report.batch_items) - len(pairs)
    result = predict_items(ws, proj, run_id, [i for _, i in pairs], user=user,
                           batch_id=report.batch_id, progress=_stage(progress, 30, 70, "predicting"),
                           explain_top=explain_top, n_jobs=n_jobs, threshold=threshold,
                           scheduler=scheduler)
    names = dict((i, s) for s, i in pairs)
    for p in result["predictions"]:
        p["source"] = names.get(p["item_id"], p["source"])
    result["rejected"] = list(report.rejected)
    result["reused"] = report.duplicates - n_repeats
    if n_repeats:
        result["warnings"] = [f"{n_repeats} repeated images or crops in the batch were predicted once."]
    if progress is not None:
        progress(100, 100, "done")
    return result


def list_predictions(ws, project, batch_id=None, run_id=None):
    """Stored predictions of a project (optionally one batch / one run), newest batch first, each with
    the item's current human decision (``decision``, ``decided_by``, ``decision_source``; None when
    nobody has looked yet)."""
    from defectlab.store import current_labels, get_project

    ws = _workspace(ws)
    proj = get_project(ws, project)
    sql = ("SELECT pr.*, i.source FROM predictions pr JOIN items i ON i.id = pr.item_id "
           "JOIN batches b ON b.id = pr.batch_id WHERE b.project_id = ?")
    args = [proj.id]
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


def accept_predictions(ws, project, batch_id, user="local", item_ids=None, include_review=False):
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

    ws = _workspace(ws)
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


def export_predictions_csv(ws, project, path, batch_id=None, user="local"):
    """Write a batch's predictions (with the people's decisions) to a UTF-8 CSV for the quality system.

    Columns: ``source, item_id, predicted, confidence, needs_review, final_label, final_source,
    decided_by, run_id, batch_id`` then ``p_<class>`` per class. ``final_label`` is the person's
    decision when there is one, else the prediction; ``final_source`` says which (``model``,
    ``review``, ``human``...).

    Returns
    -------
    dict
        ``{"exported": int, "path": str}``.
    """
    from defectlab.store import get_project, log_action

    ws = _workspace(ws)
    _require(ws, user, "export")
    proj = get_project(ws, project)
    rows = list_predictions(ws, proj, batch_id=batch_id)
    classes = list(proj.classes)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["source", "item_id", "predicted", "confidence", "needs_review", "final_label",
                     "final_source", "decided_by", "run_id", "batch_id"] + [f"p_{c}" for c in classes])
    for r in rows:
        decided = r["decision"] is not None
        writer.writerow([
            r["source"], r["item_id"], r["label"], f"{r['confidence']:.6f}", int(r["needs_review"]),
            r["decision"] if decided else r["label"],
            r["decision_source"] if decided else "model_unreviewed",
            r["decided_by"] or "", r["run_id"], r["batch_id"],
        ] + [f"{r['probs'].get(c, 0.0):.6f}" for c in classes])
    path.write_text(buf.getvalue(), encoding="utf-8-sig")  # BOM: Excel reads Chinese names right
    with ws.transaction() as conn:
        log_action(conn, user, "export.predictions", proj.id, str(path),
                   {"batch_id": batch_id, "rows": len(rows)})
    return {"exported": len(rows), "path": str(path)}
