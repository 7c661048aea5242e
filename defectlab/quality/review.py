"""The store-facing layer of label quality: review decisions and the review queues of a workspace.

Everything else in :mod:`defectlab.quality` is data in, data out. This module loads a run's
out-of-fold data, the items' current labels, features and images from the workspace, calls those pure
functions, and writes reviewers' decisions back -- always as append-only annotations with source
``review`` (:func:`defectlab.store.annotate`), each with a comment saying what was decided and what
the label was before, so the item's history shows who changed what and why.

Every queue row has an English ``reason`` and the same reason as ``reason_parts``: messages of the
:mod:`defectlab.i18n` catalogs to show in the reader's language (``{"key", "args"}``; the conventions
are those of :func:`~defectlab.quality.find_label_issues`, plus ``classes``: a list of class names,
and ``features``: a list of parts). The queues pass on the parts that :func:`find_label_issues`,
:func:`find_duplicates` and :func:`find_outliers` build next to their English reasons.

The store and learning packages are imported inside the functions: importing
:mod:`defectlab.quality` stays light.
"""

from __future__ import annotations

import time
import warnings
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from defectlab._validation import _check_choice, _check_int
from defectlab.errors import ArtifactError, InputError, NotFoundError
from defectlab.learn._columns import _to_project_columns
from defectlab.messages import msg
from defectlab.quality.confusion import confusion_items
from defectlab.quality.duplicates import find_duplicates, phash
from defectlab.quality.label_issues import (
    find_label_issues,
    find_label_issues_retrained,
)
from defectlab.quality.outliers import find_outliers
from defectlab.store.workspace import as_workspace

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Sequence
    from typing import Any

    from defectlab._typing import ItemIds, ProjectRef, WorkspaceLike

__all__ = [
    "REVIEW_ACTIONS",
    "conflicts_queue",
    "confusion_for_run",
    "duplicates_queue",
    "item_phashes",
    "label_issues_for_run",
    "outliers_queue",
    "review_item",
    "review_items",
]

#: Review decisions: take the suggestion, keep the given label, choose another class, or mark the
#: item as not a defect / unusable.
REVIEW_ACTIONS = ("accept", "keep", "other", "unusable")

#: ``retrain="auto"`` retrains once without the suspects when the run's own fits took at most this.
AUTO_RETRAIN_SECONDS = 30.0

_PHASH_CACHE = Path("quality") / "phash64-v1.npz"  # relative to the workspace root


# -- review decisions -----------------------------------------------------------------------------

def _decision(action, label, current, where):
    """The label an action writes, and the history comment."""
    from defectlab.store import UNUSABLE

    _check_choice(action, where, "action", REVIEW_ACTIONS)
    was = "unlabeled" if current is None else ("unusable" if current == UNUSABLE else current)
    if action == "keep":
        if label is None:
            label = current
        if label is None:
            raise InputError(
                msg("error.review.item_has_no_label",
                    "{where}: the item has no label to keep. Choose a class (action='other') instead.",
                    where=where)
            )
        if current is not None and label != current:
            raise InputError(
                msg("error.review.action_keep_keeps_current",
                    "{where}: action 'keep' keeps the current label {current}, but label={label} was "
                    "given. Use action='other' to change it.",
                    where=where, current=repr(current), label=repr(label))
            )
        return label, f"review: kept {was}"
    if action == "unusable":
        if label not in (None, UNUSABLE):
            raise InputError(
                msg("error.review.action_unusable_writes_do",
                    "{where}: action 'unusable' writes {UNUSABLE}; do not pass label={label}.",
                    where=where, UNUSABLE=repr(UNUSABLE), label=repr(label))
            )
        return UNUSABLE, f"review: marked unusable / not a defect (was {was})"
    if label is None:
        raise InputError(
            msg("error.review.action_needs_label_write",
                "{where}: action {action} needs the label to write (the suggestion for 'accept', the "
                "chosen class for 'other').",
                where=where, action=repr(action))
        )
    verb = "accepted suggestion" if action == "accept" else "relabeled as"
    return label, f"review: {verb} {label} (was {was})"


def review_item(ws: WorkspaceLike, item_id: int, action: str, label: str | None = None, user: str = "local",
                run_id: str | None = None, comment: str | None = None, expected_version: int | None = None,
                conn: sqlite3.Connection | None = None) -> int:
    """Record one reviewer's decision on an item, as an annotation with source ``review``.

    Parameters
    ----------
    ws : Workspace or str or Path
    item_id : int
    action : {"accept", "keep", "other", "unusable"}
        ``accept``: write the suggestion (pass it as ``label``); ``keep``: confirm the current label
        (``label`` may be omitted); ``other``: write another class (``label``); ``unusable``: mark
        the item as not a defect / unusable (``defectlab.store.UNUSABLE``).
    label : str or None
    user : str
        The reviewer; needs the ``review`` permission.
    run_id : str or None
        The run whose suggestion is being reviewed (kept with the annotation).
    comment : str or None
        The reviewer's own words; appended to the automatic comment ("review: accepted suggestion
        scratches (was crazing)").
    expected_version : int or None
        The item's version when the reviewer looked; a change by somebody else since raises
        :class:`~defectlab.errors.ConflictError` and nothing is written.
    conn : sqlite3.Connection, optional
        Write inside the caller's transaction instead of opening one.

    Returns
    -------
    int
        The new annotation's id.

    Raises
    ------
    InputError
        Unknown action, a missing or contradictory label, or a label that is not a class.
    PermissionDenied
        ``user`` may not review.
    NotFoundError
        No such item.
    """
    where = "review_item"
    ws = as_workspace(ws)
    if conn is not None:
        return _review_in(ws, conn, int(item_id), action, label, user, run_id, comment, expected_version, where)
    with ws.transaction() as c:
        return _review_in(ws, c, int(item_id), action, label, user, run_id, comment, expected_version, where)


def _review_in(ws, conn, item_id, action, label, user, run_id, comment, expected_version, where):
    from defectlab.store import annotate, current_label

    current = current_label(ws, item_id, conn=conn).label
    label, auto = _decision(action, label, current, where)
    note = auto if not comment else f"{auto}: {comment}"
    return annotate(ws, item_id, label, user=user, source="review", comment=note,
                    expected_version=expected_version, run_id=run_id, conn=conn)


def review_items(ws: WorkspaceLike, item_ids: ItemIds, action: str, label: str | None = None, user: str = "local",
                 run_id: str | None = None, comment: str | None = None,
                 expected_versions: Sequence[int] | None = None) -> list[int]:
    """The same review decision for several items, in one transaction (all or nothing).

    Parameters are those of :func:`review_item` (``keep`` keeps each item's own label), and
    ``expected_versions``: None, or each item's version when the reviewer looked (in ``item_ids``
    order); a change by somebody else since raises :class:`~defectlab.errors.ConflictError` and
    nothing is written.

    Returns
    -------
    list of int
        The new annotation ids, in ``item_ids`` order.
    """
    from defectlab.store import annotate, current_label

    where = "review_items"
    ws = as_workspace(ws)
    ids = [int(i) for i in item_ids]
    if expected_versions is not None and len(expected_versions) != len(ids):
        raise InputError(msg("error.review.expected_versions_must_give",
                "{where}: 'expected_versions' must give one version per item ({len_ids}); got "
                "{len_expected_versions}.",
                where=where, len_ids=len(ids), len_expected_versions=len(expected_versions)))
    versions = [None] * len(ids) if expected_versions is None else [int(v) for v in expected_versions]
    out = []
    with ws.transaction() as conn:
        for i, version in zip(ids, versions, strict=True):
            current = current_label(ws, i, conn=conn).label
            lab, auto = _decision(action, None if action == "keep" else label, current, where)
            note = auto if not comment else f"{auto}: {comment}"
            out.append(annotate(ws, i, lab, user=user, source="review", comment=note,
                                run_id=run_id, expected_version=version, conn=conn))
    return out


# -- runs -----------------------------------------------------------------------------------------

def _resolve(ws, project, run_id, where):
    """(Project, run record) from ``(project, run_id)``, ``(project, None)`` or ``(run_id, None)``."""
    from defectlab.learn import get_run, resolve_run
    from defectlab.store import get_project

    if run_id is None and project is not None:
        try:  # the two-argument form label_issues_for_run(ws, run_id)
            run = get_run(ws, str(project), with_items=False)
            return get_project(ws, run["project_id"]), run
        except NotFoundError:
            pass
    if project is None:
        if run_id is None:
            raise InputError(msg("error.review.needs_project_run_id",
                    "{where} needs a project or a run id.",
                    where=where))
        run = get_run(ws, run_id, with_items=False)
        return get_project(ws, run["project_id"]), run
    proj = get_project(ws, project)
    run = get_run(ws, resolve_run(ws, proj, run_id), with_items=False)
    return proj, run


def _load_oof(ws, run):
    from defectlab.learn import load_oof

    return load_oof(ws, run["run_id"])


def _reviewed_since(ws, item_ids, since):
    """Items with a live ``review`` annotation written after ``since`` (ISO time)."""
    ids = [int(i) for i in item_ids]
    found = set()
    with ws.read() as conn:
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            rows = conn.execute(
                "SELECT DISTINCT a.item_id FROM annotations a WHERE a.source = 'review' "
                "AND a.retracts IS NULL AND a.created_at > ? "
                "AND NOT EXISTS (SELECT 1 FROM annotations b WHERE b.retracts = a.id) "
                f"AND a.item_id IN ({','.join('?' * len(chunk))})", [since, *chunk]).fetchall()
            found.update(r[0] for r in rows)
    return found


def _make_retrain(run, X, labels, fold_ids, classes):
    """``retrain(exclude)`` on the run's own folds, model, preset, seed and class weights."""
    from joblib import Parallel, delayed
    from threadpoolctl import threadpool_limits

    from defectlab.learn import make_model

    params = run.get("params") or {}
    kwargs = {"random_state": int(run.get("seed") or 0), "n_jobs": 1}
    if params.get("model_preset"):
        kwargs["preset"] = params["model_preset"]
    if "class_weight" in params:
        kwargs["class_weight"] = params["class_weight"]
    inner = fold_ids >= 0

    def fit_predict(train, test):
        model = make_model(run["model"], **kwargs).fit(X[train], labels[train])
        return test, _to_project_columns(model.predict_proba(X[test]), list(model.classes_), classes,
                                         unknown="drop")

    def retrain(exclude):
        jobs = [((fold_ids != k) & inner & ~exclude, fold_ids == k)
                for k in np.unique(fold_ids[inner])]
        if (~inner).any():
            jobs.append((inner & ~exclude, ~inner))
        out = np.zeros((labels.size, len(classes)))
        with threadpool_limits(limits=1):
            for test, probs in Parallel(n_jobs=2, prefer="threads")(
                    delayed(fit_predict)(tr, te) for tr, te in jobs if te.any()):
                out[test] = probs
        return out

    return retrain


def _item_info(ws, project_id):
    from defectlab.store import items_frame

    df = items_frame(ws, project_id, role="sample")
    return df.set_index("id") if len(df) else df


def _live_info(ws, project_id, item_ids):
    """``{item id: (source, current label)}`` of those of ``item_ids`` that are live samples of the
    project (SQL on these items only, not the whole project)."""
    from defectlab.store import current_labels

    out = {}
    with ws.read() as conn:
        for start in range(0, len(item_ids), 500):
            chunk = [int(i) for i in item_ids[start:start + 500]]
            rows = conn.execute(
                "SELECT id, source FROM items WHERE project_id = ? AND role = 'sample' AND deleted_at IS NULL "
                f"AND id IN ({','.join('?' * len(chunk))})", [int(project_id), *chunk]).fetchall()
            states = current_labels(ws, project_id, item_ids=chunk, conn=conn)
            for r in rows:
                state = states.get(int(r[0]))
                out[int(r[0])] = (r[1], None if state is None else state.label)
    return out


def label_issues_for_run(ws: WorkspaceLike, project: ProjectRef | None = None, run_id: str | None = None, *,
                         features: bool = True, retrain: str | bool = "auto", include_reviewed: bool = False,
                         n_jobs: int = 1) -> list[dict[str, Any]]:
    """Likely label errors of a run, ranked, ready for the review queue and ``defectlab label-issues``.

    Loads the run's out-of-fold probabilities and labels, runs :func:`find_label_issues` (with the
    feature-space neighbour vote, and one retraining round without the suspects when affordable),
    and returns the flagged items that are still live and still carry the label the run saw.

    Parameters
    ----------
    ws : Workspace or str or Path
    project : str or int or Project or None
        The project. ``label_issues_for_run(ws, run_id)`` (the run id in second place) works too.
    run_id : str or None
        The run; ``None``: the project's newest approved run, else its newest run.
    features : bool, default=True
        Use the items' features (the run's feature spec, from the feature cache) for the neighbour
        vote and the retraining round.
    retrain : {"auto", True, False}, default="auto"
        Retrain once without the suspects (:func:`find_label_issues_retrained`). ``"auto"``: when the
        run's own fits took at most ``AUTO_RETRAIN_SECONDS``.
    include_reviewed : bool, default=False
        Also list items a reviewer already decided on after the run was trained.
    n_jobs : int, default=1

    Returns
    -------
    list of dict
        Flagged items, most likely wrong first: ``item_id`` (int), ``source`` (str), ``given``,
        ``suggested`` (class names), ``score`` (float in [0, 1], higher = more likely wrong; see
        :func:`find_label_issues`), ``reason`` (str), ``reason_parts`` (list of dict, the
        reason as catalog messages), ``run_id`` (str).

    Raises
    ------
    NotFoundError
        No such project or run, or the project has no run.
    ArtifactError
        The run's out-of-fold file is missing or was modified.
    """
    from defectlab.learn import run_features
    from defectlab.store import UNUSABLE

    where = "label_issues_for_run"
    if retrain not in ("auto", True, False):
        raise InputError(msg("error.review.retrain_parameter_must_auto",
                "The 'retrain' parameter of {where} must be 'auto', True or False. Got {retrain}.",
                where=where, retrain=repr(retrain)))
    n_jobs = _check_int(n_jobs, where, "n_jobs", 1)
    ws = as_workspace(ws)
    proj, run = _resolve(ws, project, run_id, where)
    oof = _load_oof(ws, run)
    item_ids = np.asarray(oof["item_ids"], dtype=np.int64)
    labels = np.asarray(oof["labels"]).astype(str)
    pred_probs = np.asarray(oof["pred_probs"], dtype=np.float64)
    fold_ids = np.asarray(oof["fold_ids"], dtype=np.int64) if "fold_ids" in oof else np.zeros(
        item_ids.size, dtype=np.int64)
    classes = list(proj.classes)
    keep = np.isin(labels, classes)  # a class renamed or removed since the run: not judged
    item_ids, labels, pred_probs, fold_ids = (item_ids[keep], labels[keep], pred_probs[keep],
                                              fold_ids[keep])
    if item_ids.size == 0:
        return []
    P = _to_project_columns(pred_probs, np.asarray(oof["classes"]).astype(str).tolist(), classes, unknown="drop")

    X = None
    if features:
        try:
            X = run_features(ws, run["run_id"], item_ids.tolist())
        except ArtifactError:
            X = None  # the features code changed since the run: the model evidence alone
    fit_seconds = float((run.get("timings") or {}).get("fit", np.inf))
    do_retrain = X is not None and (retrain is True or (retrain == "auto"
                                                         and fit_seconds <= AUTO_RETRAIN_SECONDS))
    kwargs = {"n_jobs": n_jobs}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small classes: their items are simply not flagged
        if do_retrain:
            df = find_label_issues_retrained(
                labels, P, classes, _make_retrain(run, X, labels, fold_ids, classes),
                ordinal=bool(proj.ordinal), features=X, **kwargs)
        else:
            df = find_label_issues(labels, P, classes, ordinal=bool(proj.ordinal), features=X,
                                   **kwargs)

    flagged = df[df["is_issue"]]
    info = _live_info(ws, proj.id, item_ids[flagged["index"].to_numpy()])
    reviewed = set() if include_reviewed else _reviewed_since(ws, list(info), run["created_at"])
    out = []
    for row in flagged.itertuples(index=False):
        iid = int(item_ids[row.index])
        if iid not in info or iid in reviewed:
            continue
        source, now = info[iid]
        if now != row.given or now == UNUSABLE:
            continue  # relabeled since the run: the run's evidence is about the old label
        out.append({"item_id": iid, "source": str(source), "given": row.given,
                    "suggested": row.suggested, "score": round(float(row.score), 4),
                    "reason": row.reason, "reason_parts": row.reason_parts,
                    "run_id": run["run_id"]})
    return out


def confusion_for_run(ws: WorkspaceLike, project: ProjectRef | None = None, run_id: str | None = None,
                      given: str | None = None, predicted: str | None = None,
                      include_correct: bool = False) -> list[dict[str, Any]]:
    """The items behind a run's confusion-matrix cells (:func:`confusion_items`) with their sources.

    Returns
    -------
    list of dict
        ``item_id, source, given, predicted, confidence, p_given``, by cell then confidence.
    """
    ws = as_workspace(ws)
    proj, run = _resolve(ws, project, run_id, "confusion_for_run")
    oof = _load_oof(ws, run)
    classes = list(proj.classes)
    labels = np.asarray(oof["labels"]).astype(str)
    keep = np.isin(labels, classes)
    P = _to_project_columns(np.asarray(oof["pred_probs"], dtype=np.float64)[keep],
                            np.asarray(oof["classes"]).astype(str).tolist(), classes, unknown="drop")
    item_ids = np.asarray(oof["item_ids"], dtype=np.int64)[keep]
    df = confusion_items(labels[keep], P, classes, given=given, predicted=predicted,
                         include_correct=include_correct)
    info = _item_info(ws, proj.id)
    out = []
    for row in df.itertuples(index=False):
        iid = int(item_ids[row.index])
        source = str(info.at[iid, "source"]) if len(info) and iid in info.index else ""
        out.append({"item_id": iid, "source": source, "given": row.given,
                    "predicted": row.predicted, "confidence": round(float(row.confidence), 4),
                    "p_given": round(float(row.p_given), 4)})
    return out


# -- duplicates, conflicts, outliers --------------------------------------------------------------

def item_phashes(ws: WorkspaceLike, shas: Sequence[str], blobs: Sequence[str],
                 sources: Sequence[str] | None = None) -> np.ndarray:
    """Perceptual hashes of stored images, cached by content (``<workspace>/quality/phash64-v1.npz``).

    Parameters
    ----------
    ws : Workspace
    shas, blobs : sequences of str
        Each image's sha256 and blob path (as in ``items_frame``).
    sources : sequence of str or None
        Names for error messages.

    Returns
    -------
    (N,) ndarray of np.uint64
    """
    from defectlab.store import load_images

    ws = as_workspace(ws)
    shas = [str(s) for s in shas]
    path = ws.root / _PHASH_CACHE
    cache = {}
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as z:
                cache = dict(zip(z["sha256"].tolist(), z["phash"].tolist(), strict=True))
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            cache = {}  # a damaged cache is rebuilt
    todo = {}
    for i, s in enumerate(shas):
        if s not in cache and s not in todo:
            todo[s] = i
    if todo:
        from concurrent.futures import ThreadPoolExecutor

        order = list(todo.items())
        blobs = list(blobs)
        srcs = list(sources) if sources is not None else blobs

        def hashes(part):  # reading and decoding release the GIL: two threads use both cores
            images = load_images(ws, [blobs[i] for _, i in part], [srcs[i] for _, i in part])
            return part, phash(images).tolist()

        with ThreadPoolExecutor(2) as pool:
            for part, found in pool.map(hashes, [order[s:s + 256] for s in range(0, len(order), 256)]):
                for (s, _), h in zip(part, found, strict=True):
                    cache[s] = h
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{time.time_ns()}.tmp.npz")
        np.savez(tmp, sha256=np.array(list(cache), dtype=str),
                 phash=np.array(list(cache.values()), dtype=np.uint64))
        tmp.replace(path)
    return np.array([cache[s] for s in shas], dtype=np.uint64)


def _label_or_none(v):
    return None if v is None or (isinstance(v, float) and v != v) else str(v)


def duplicates_queue(ws: WorkspaceLike, project: ProjectRef, max_distance: int = 4) -> list[dict[str, Any]]:
    """Near-identical pictures among a project's live items, conflicts first.

    Identical files never become two items (the store keeps one item per content); see
    :func:`conflicts_queue` for those imported under two labels.

    Returns
    -------
    list of dict
        ``item_ids`` (list of int), ``labels`` (list), ``kind`` ("near"), ``conflict`` (bool),
        ``distance`` (pHash bits), ``reason`` (str), ``reason_parts`` (list of dict).
    """
    from defectlab.store import get_project

    ws = as_workspace(ws)
    proj = get_project(ws, project)
    info = _item_info(ws, proj.id)
    if len(info) < 2:
        return []
    h = item_phashes(ws, info["sha256"], info["blob"], info["source"])
    labels = [_label_or_none(v) for v in info["label"].tolist()]
    df = find_duplicates(hashes=info["sha256"].tolist(), phashes=h, labels=labels,
                         max_distance=max_distance)
    ids = info.index.to_numpy()
    return [{"item_ids": [int(ids[i]) for i in r.indices], "labels": list(r.labels),
             "kind": r.kind, "conflict": bool(r.conflict), "distance": float(r.distance),
             "reason": r.reason, "reason_parts": r.reason_parts}
            for r in df.itertuples(index=False)]


def conflicts_queue(ws: WorkspaceLike, project: ProjectRef, max_distance: int = 4) -> list[dict[str, Any]]:
    """Certain label conflicts: the same picture under two labels.

    Two kinds: files with identical content imported under different labels (recorded at import,
    until a reviewer decides on the item), and near-identical pictures whose items carry different
    labels now.

    Returns
    -------
    list of dict
        ``item_ids`` (list of int), ``labels`` (list of str), ``kind`` ("import" or "near"),
        ``sources`` (list of str, import conflicts), ``reason`` (str), ``reason_parts`` (list of
        dict).
    """
    from defectlab.store import get_project

    ws = as_workspace(ws)
    proj = get_project(ws, project)
    return _import_conflicts(ws, proj) + [d for d in duplicates_queue(ws, proj, max_distance)
                                          if d["conflict"]]


def _import_conflicts(ws, proj):
    """Files of identical content imported under different labels, not yet decided."""
    import json

    out = []
    with ws.read() as conn:
        rows = conn.execute(
            "SELECT c.item_id, c.sources, c.labels, c.created_at FROM import_conflicts c "
            "JOIN items i ON i.id = c.item_id WHERE i.project_id = ? AND i.deleted_at IS NULL "
            "AND c.resolved_at IS NULL ORDER BY c.id", (proj.id,)).fetchall()
    for r in rows:
        decided = _reviewed_since(ws, [r["item_id"]], r["created_at"])
        if decided:
            continue
        labels = [str(v) for v in json.loads(r["labels"])]
        sources = json.loads(r["sources"])
        files = ", ".join(map(str, sources))
        out.append({"item_ids": [int(r["item_id"])], "labels": labels, "kind": "import",
                    "sources": sources,
                    "reason": f"the same file was imported as {' / '.join(labels)} ({files}): "
                              "only one label can be right",
                    "reason_parts": [{"key": "quality.reason.import_conflict",
                                      "args": {"classes": labels, "sources": files}}]})
    return out


def outliers_queue(ws: WorkspaceLike, project: ProjectRef, run_id: str | None = None, threshold: float = 2 / 3,
                   n_neighbors: int = 10) -> list[dict[str, Any]]:
    """Items far from everything else in feature space (wrong camera, blank frames, bad crops).

    Features use the run's feature spec when ``run_id`` is given or the project has a run, else the
    default spec (both from the workspace's feature cache).

    Returns
    -------
    list of dict
        Outliers, most unusual first: ``item_id`` (int), ``source`` (str), ``label`` (str or None),
        ``score`` (float in [0, 1], see :func:`find_outliers`), ``reason`` (str), ``reason_parts``
        (list of dict).
    """
    from defectlab.features import extract_cached, feature_names, get_spec
    from defectlab.learn import load_run_model, resolve_run
    from defectlab.store import get_project, load_images

    ws = as_workspace(ws)
    proj = get_project(ws, project)
    info = _item_info(ws, proj.id)
    if len(info) < 3:
        return []
    spec = None
    try:
        rid = resolve_run(ws, proj, run_id)
        spec = load_run_model(ws, rid)[2]
    except (NotFoundError, ArtifactError):
        if run_id is not None:
            raise
        spec = get_spec(None)
    by_sha = dict(zip(info["sha256"], zip(info["blob"], info["source"], strict=True), strict=True))

    def loader(shas):
        return load_images(ws, [by_sha[s][0] for s in shas], [by_sha[s][1] for s in shas])

    X = extract_cached(info["sha256"].tolist(), loader, spec, cache_dir=ws.features_dir)
    names = feature_names(spec)
    df = find_outliers(X, n_neighbors=n_neighbors, threshold=threshold, feature_names=names)
    ids = info.index.to_numpy()
    out = []
    for r in df[df["is_outlier"]].itertuples(index=False):
        iid = int(ids[r.index])
        out.append({"item_id": iid, "source": str(info.at[iid, "source"]),
                    "label": _label_or_none(info.at[iid, "label"]),
                    "score": round(float(r.score), 4), "reason": r.reason,
                    "reason_parts": r.reason_parts})
    return out

