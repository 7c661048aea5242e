"""Review queues computed once per run, stored with it, and only read afterwards.

When a run finishes, :func:`compute_run_queues` builds its four review queues -- likely label errors
(:func:`~defectlab.quality.review.label_issues_for_run`), label conflicts, near duplicates and outliers
-- and stores them in the ``run_queues`` / ``run_queue_rows`` tables (JSON rows, never pickles), with
every item's version at that moment and the project's newest annotation id. The background training
job and ``defectlab train`` call it right after training; the Review page and ``defectlab
label-issues`` only read (:func:`read_run_queue`), and compute only for an older run that has no
stored queues.

Reading never recomputes. It hides what was decided since (an item with a newer review decision, a
label-error row whose label changed, a deleted item, a near-duplicate group no longer in conflict),
refreshes the labels shown, returns each item's *current* version (pass it back as
``expected_version`` so a decision on content that changed meanwhile is refused), and says how many
labels were written after the queues were computed.

The confusion-matrix cells need no queue of their own: the run's ``run_items`` rows hold each item's
given and out-of-fold predicted label; :func:`confusion_cells` and :func:`confusion_cell_items` read
them with SQL aggregates.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from defectlab.errors import DefectlabError, InputError
from defectlab.messages import Message, msg
from defectlab.store.workspace import as_workspace

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from defectlab._typing import ProjectRef, WorkspaceLike

__all__ = [
    "COMPUTED_QUEUES",
    "QUEUE_KINDS",
    "compute_run_queues",
    "confusion_cell_items",
    "confusion_cells",
    "queue_item_ids",
    "queue_status",
    "read_run_queue",
]

#: The stored queues of a run, in the order they are computed.
QUEUE_KINDS = ("issues", "duplicates", "conflicts", "outliers")

_CHUNK = 500  # ids per SQL IN (...) list
_SHARE = {"issues": (0, 50), "duplicates": (50, 25), "conflicts": (75, 2), "outliers": (77, 23)}


def _check_kind(kind, where):
    if kind not in QUEUE_KINDS:
        raise InputError(msg("error.queues.kind_parameter_must_one",
                "The 'kind' parameter of {where} must be one of {list_queue_kinds}. Got {kind}.",
                where=where, list_queue_kinds=list(QUEUE_KINDS), kind=repr(kind)))


def _run_and_project(ws, run_id):
    from defectlab.learn import get_run
    from defectlab.store import get_project

    run = get_run(ws, run_id, with_items=False)
    return run, get_project(ws, run["project_id"])


def _project_version(conn, project_id):
    """The project's newest annotation id (0 when none)."""
    row = conn.execute("SELECT a.id FROM annotations a CROSS JOIN items i ON i.id = a.item_id "
                       "WHERE i.project_id = ? ORDER BY a.id DESC LIMIT 1", (int(project_id),)).fetchone()
    return 0 if row is None else int(row[0])  # newest first to the project's first: no project scan


def _chunks(ids):
    ids = sorted({int(i) for i in ids})
    for start in range(0, len(ids), _CHUNK):
        yield ids[start:start + _CHUNK]


def _versions(conn, item_ids):
    """Each item's version (newest annotation id, 0 when none) and the set of deleted items."""
    versions, deleted = {}, set()
    for chunk in _chunks(item_ids):
        marks = ",".join("?" * len(chunk))
        for r in conn.execute(f"SELECT i.id, i.deleted_at, (SELECT MAX(a.id) FROM annotations a "
                              f"WHERE a.item_id = i.id) FROM items i WHERE i.id IN ({marks})", chunk):
            versions[int(r[0])] = int(r[2] or 0)
            if r[1] is not None:
                deleted.add(int(r[0]))
    return versions, deleted


def _row_ids(kind, row):
    return [int(i) for i in row["item_ids"]] if kind in ("duplicates", "conflicts") else [
        int(row["item_id"])]


# -- compute --------------------------------------------------------------------------------------

def _compute_kind(ws, proj, run, kind, done):
    """One queue's rows (``done`` holds the queues computed before, for reuse)."""
    from defectlab.quality import review

    if kind == "issues":
        return review.label_issues_for_run(ws, proj.name, run["run_id"])
    if kind == "duplicates":
        return review.duplicates_queue(ws, proj)
    if kind == "conflicts":
        dups = done.get("duplicates")
        if dups is None:
            dups = review.duplicates_queue(ws, proj)
        return review._import_conflicts(ws, proj) + [d for d in dups if d["conflict"]]
    return review.outliers_queue(ws, proj, run["run_id"])


def _store(ws, run_id, kind, rows, label_version, seconds):
    from defectlab.store import utcnow

    with ws.transaction() as conn:
        versions, _ = _versions(conn, [i for r in rows for i in _row_ids(kind, r)])
        conn.execute("DELETE FROM run_queue_rows WHERE run_id = ? AND kind = ?", (run_id, kind))
        conn.execute("DELETE FROM run_queues WHERE run_id = ? AND kind = ?", (run_id, kind))
        conn.executemany(
            "INSERT INTO run_queue_rows (run_id, kind, rank, item_ids, versions, score, body) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(run_id, kind, rank, json.dumps(ids), json.dumps([versions.get(i, 0) for i in ids]),
              None if r.get("score") is None else float(r["score"]),
              json.dumps(r, ensure_ascii=False, default=str))
             for rank, (r, ids) in enumerate((r, _row_ids(kind, r)) for r in rows)])
        conn.execute("INSERT INTO run_queues (run_id, kind, computed_at, label_version, n_rows, "
                     "seconds) VALUES (?, ?, ?, ?, ?, ?)",
                     (run_id, kind, utcnow(), int(label_version), len(rows), round(seconds, 3)))


def compute_run_queues(ws: WorkspaceLike, run_id: str, progress: Callable[[int, int, str], object] | None = None,
                       kinds: Iterable[str] = QUEUE_KINDS) -> dict[str, Any]:
    """Compute a run's review queues and store them with the run (replacing older ones).

    Parameters
    ----------
    ws : Workspace or str or Path
    run_id : str
    progress : callable or None
        ``progress(done, total, message)`` with ``total`` = 100, called between the queues.
    kinds : sequence of str, default=QUEUE_KINDS
        Which queues to compute (:data:`QUEUE_KINDS`).

    Returns
    -------
    dict
        ``run_id``; ``counts`` (kind -> rows stored); ``seconds`` (kind -> seconds); ``errors``
        (kind -> message, for a queue that could not be computed, e.g. the run's out-of-fold file was
        modified; the other queues are still stored).

    Raises
    ------
    NotFoundError
        No such run.
    """
    ws = as_workspace(ws)
    kinds = list(kinds)
    for kind in kinds:
        _check_kind(kind, "compute_run_queues")
    run, proj = _run_and_project(ws, run_id)
    with ws.read() as conn:
        label_version = _project_version(conn, proj.id)
    out: dict[str, Any] = {"run_id": run["run_id"], "counts": {}, "seconds": {}, "errors": {}}
    done: dict[str, list[dict[str, Any]]] = {}
    for kind in [k for k in QUEUE_KINDS if k in kinds]:
        start, _ = _SHARE[kind]
        if progress is not None:
            progress(start, 100, msg(f"quality.progress.{kind}", "review queues: {kind}", kind=kind))
        t0 = time.perf_counter()
        try:
            rows = _compute_kind(ws, proj, run, kind, done)
        except DefectlabError as exc:  # its Message (catalog key) when it has one: shown in the reader's language
            first = exc.args[0] if exc.args else None
            out["errors"][kind] = first if isinstance(first, Message) else str(exc)
            continue
        done[kind] = rows
        seconds = time.perf_counter() - t0
        _store(ws, run["run_id"], kind, rows, label_version, seconds)
        out["counts"][kind] = len(rows)
        out["seconds"][kind] = round(seconds, 3)
    if progress is not None:
        progress(100, 100, msg("quality.progress.done", "review queues: done"))
    return out


# -- read -----------------------------------------------------------------------------------------

def queue_status(ws: WorkspaceLike, run_id: str) -> dict[str, Any]:
    """Which queues of a run are stored, and how many labels were written since.

    Returns
    -------
    dict
        Kind -> ``{"computed_at", "n_rows", "label_version", "seconds"}`` for each stored queue
        (absent kinds are not computed yet), plus ``"labels_since"``: annotations written in the
        project after the oldest stored queue was computed (0 when none is stored).
    """
    ws = as_workspace(ws)
    run, proj = _run_and_project(ws, run_id)
    with ws.read() as conn:
        rows = conn.execute("SELECT kind, computed_at, n_rows, label_version, seconds FROM run_queues "
                            "WHERE run_id = ?", (run["run_id"],)).fetchall()
        out: dict[str, Any] = {r["kind"]: {"computed_at": r["computed_at"], "n_rows": r["n_rows"],
                                           "label_version": r["label_version"], "seconds": r["seconds"]}
                               for r in rows}
        oldest = min((r["label_version"] for r in rows), default=None)
        out["labels_since"] = 0 if oldest is None else _labels_since(conn, proj.id, oldest)
    return out


def _labels_since(conn, project_id, version):
    return int(conn.execute("SELECT COUNT(*) FROM annotations a JOIN items i ON i.id = a.item_id "
                            "WHERE a.id > ? AND i.project_id = ?",
                            (int(version), int(project_id))).fetchone()[0])


def _refresh(kind, row, ids, stored, versions, deleted, states):
    """The row as it stands now, or None when it was decided since (see the module docstring)."""
    if any(i in deleted for i in ids):
        return None
    changed = {i for i, v in zip(ids, stored, strict=True) if versions.get(i, 0) != v}
    if any(i in states and states[i].source == "review" for i in changed):
        return None
    row = dict(row, item_ids=ids, versions=[versions.get(i, 0) for i in ids])
    if kind in ("issues", "outliers"):
        return _refresh_single(kind, row, ids[0] in changed, states.get(ids[0]))
    return _refresh_group(kind, row, ids, changed, states)


def _refresh_single(kind, row, changed, state):
    """A one-item row (a label error or an outlier) with its current label and version."""
    from defectlab.store import UNUSABLE

    row["version"] = row["versions"][0]
    if not changed:
        return row
    now = None if state is None else state.label
    if kind == "issues":
        return None if now != row["given"] or now == UNUSABLE else row
    row["label"] = now
    return row


def _refresh_group(kind, row, ids, changed, states):
    """A group row (near duplicates, a conflict) with its members' current labels."""
    if not changed or row.get("kind") != "near":
        return row  # an import conflict leaves only through a review decision (handled above)
    now = [(states[i].label if i in states else None) if i in changed else old
           for i, old in zip(ids, row["labels"], strict=True)]
    row["labels"] = now
    row["conflict"] = len({v for v in now if v is not None}) > 1
    return None if kind == "conflicts" and not row["conflict"] else row


def read_run_queue(ws: WorkspaceLike, run_id: str, kind: str, limit: int | None = None) -> dict[str, Any] | None:
    """A stored queue of a run as it stands now: decided rows hidden, labels and versions current.

    Parameters
    ----------
    ws : Workspace or str or Path
    run_id : str
    kind : {"issues", "duplicates", "conflicts", "outliers"}
    limit : int or None
        At most this many rows (after hiding the decided ones); ``None`` = all.

    Returns
    -------
    dict or None
        ``None`` when the queue was never computed for this run (see :func:`compute_run_queues`).
        Else ``rows`` (list of dict: the rows of :func:`~defectlab.quality.review.label_issues_for_run`,
        :func:`~defectlab.quality.review.duplicates_queue`, ... with ``item_ids`` and ``versions``:
        each item's current version; single-item queues also ``version``), ``computed_at``,
        ``hidden`` (rows hidden as decided since), ``labels_since`` (annotations written in the
        project after the queue was computed: more than 0 means the queue is older than the labels).
    """
    from defectlab.store import current_labels

    _check_kind(kind, "read_run_queue")
    ws = as_workspace(ws)
    run, proj = _run_and_project(ws, run_id)
    with ws.read() as conn:
        meta = conn.execute("SELECT computed_at, label_version FROM run_queues WHERE run_id = ? "
                            "AND kind = ?", (run["run_id"], kind)).fetchone()
        if meta is None:
            return None
        stored = [(json.loads(r["item_ids"]), json.loads(r["versions"]), json.loads(r["body"]))
                  for r in conn.execute("SELECT item_ids, versions, body FROM run_queue_rows WHERE "
                                        "run_id = ? AND kind = ? ORDER BY rank", (run["run_id"], kind))]
        versions, deleted = _versions(conn, [i for ids, _, _ in stored for i in ids])
        changed = [i for ids, vs, _ in stored for i, v in zip(ids, vs, strict=True)
                   if versions.get(i, 0) != v]
        states = {}
        for chunk in _chunks(changed):
            states.update(current_labels(ws, proj.id, item_ids=chunk, conn=conn))
        labels_since = _labels_since(conn, proj.id, meta["label_version"])
    rows: list[dict[str, Any]] = []
    hidden = 0
    for ids, vs, body in stored:
        row = _refresh(kind, body, ids, vs, versions, deleted, states)
        if row is None:
            hidden += 1
        elif limit is None or len(rows) < limit:
            rows.append(row)
    return {"rows": rows, "computed_at": meta["computed_at"], "hidden": hidden,
            "labels_since": labels_since}


# -- confusion cells ------------------------------------------------------------------------------

def confusion_cells(ws: WorkspaceLike, run_id: str) -> list[dict[str, Any]]:
    """The run's confusion-matrix cells from its stored out-of-fold predictions (one SQL aggregate).

    Returns
    -------
    list of dict
        ``given``, ``predicted``, ``n``: errors first (largest first), then the diagonal.
    """
    ws = as_workspace(ws)
    with ws.read() as conn:
        rows = conn.execute("SELECT label, pred_label, COUNT(*) FROM run_items WHERE run_id = ? "
                            "GROUP BY label, pred_label", (str(run_id),)).fetchall()
    cells = [{"given": r[0], "predicted": r[1], "n": int(r[2])} for r in rows]
    return sorted(cells, key=lambda c: (c["given"] == c["predicted"], -c["n"], str(c["given"]),
                                        str(c["predicted"])))


def confusion_cell_items(ws: WorkspaceLike, run_id: str, given: str, predicted: str,
                         limit: int = 60, offset: int = 0) -> list[dict[str, Any]]:
    """The live items of one confusion cell, most confident prediction first.

    Parameters
    ----------
    ws : Workspace or path
    run_id : str
    given, predicted : str
        The cell: the label the run trained on and the class it predicted out of fold.
    limit : int, default=60
        At most this many items (one page of the Review page's grid).
    offset : int, default=0
        Skip this many items first (the pages before).

    Returns
    -------
    list of dict
        ``item_id, source, label`` (the label the run trained on), ``pred_label``, ``confidence``.
    """
    ws = as_workspace(ws)
    with ws.read() as conn:
        rows = conn.execute(
            "SELECT ri.item_id, i.source, ri.label, ri.pred_label, ri.confidence FROM run_items ri "
            "JOIN items i ON i.id = ri.item_id WHERE ri.run_id = ? AND ri.label = ? "
            "AND ri.pred_label = ? AND i.deleted_at IS NULL ORDER BY ri.confidence DESC, ri.item_id "
            "LIMIT ? OFFSET ?", (str(run_id), str(given), str(predicted), max(0, int(limit)),
                                 max(0, int(offset)))).fetchall()
    return [dict(r) for r in rows]


# -- the item browser's "in a queue" filter -----------------------------------------------------------

#: The queues the item browser filters by, and the stored queue each one reads.
COMPUTED_QUEUES = ("label_issue", "duplicate", "outlier")
_BROWSER_KIND = {"label_issue": "issues", "duplicate": "duplicates", "outlier": "outliers"}


def queue_item_ids(ws: WorkspaceLike, project: ProjectRef, queue: str) -> list[int]:
    """Ids of the items in a stored queue of the project's newest approved (else newest) run.

    Parameters
    ----------
    ws : Workspace
    project : str, int or Project
    queue : {"label_issue", "duplicate", "outlier"}
        ``label_issue``: likely label errors; ``duplicate``: near-identical pictures; ``outlier``: items far
        from everything else. Read from what :func:`compute_run_queues` stored (decided rows hidden);
        nothing is computed here.

    Returns
    -------
    list of int
        Sorted; empty when the project has no run or the run's queues were never computed.
    """
    from ..errors import InputError, NotFoundError
    from ..learn import resolve_run

    if queue not in COMPUTED_QUEUES:
        raise InputError(msg("error.items.bad_queue", "Unknown queue {queue!r}; expected one of {queues}.",
                             queue=str(queue), queues=", ".join(COMPUTED_QUEUES)))
    try:
        run_id = resolve_run(ws, project)
    except NotFoundError:
        return []
    kind = _BROWSER_KIND[queue]
    stored = read_run_queue(ws, run_id, kind)
    if stored is None:
        return []
    return sorted({i for row in stored["rows"] for i in _row_ids(kind, row)})
