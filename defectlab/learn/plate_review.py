"""The prediction review of located boxes: a person accepts, corrects or dismisses the boxes a run found
on a full image, and the decisions feed the next training run.

Who may do what
---------------
- :func:`locate_plate` needs ``predict`` (line supervisors, leads, admins): it runs
  :func:`defectlab.learn.locate.locate_item` and **records the result** (run, plate, boxes, who, when) in
  ``locate_results``.
- :func:`locate_plates` does the same for a batch of full images (uploads stored as plates, or stored plates):
  a file that is not a usable image is listed with its reason and the others go on.
- :func:`decide_box` needs ``correct_predictions`` (supervisors, leads, admins; not annotators, reviewers
  or viewers). It decides one box *of a recorded result*: the geometry comes from the stored result; the
  caller may only move it (``place``, :func:`check_place`: inside the image, IoU >= 0.3 with the model's box),
  so this path cannot add an arbitrary box; the result must belong to the project named and its plate must be
  live. Drawing boxes freely stays the ``cut_crops`` permission (the Cut crops page,
  :func:`defectlab.ingest.add_crops`).
- :func:`undo_box` needs ``correct_predictions`` for one's own decision, also ``delete`` for another person's:
  the latest decision on a box is marked undone and its crop soft-deleted, unless the crop changed since.

What a decision stores
----------------------
- ``accept``: a crop of the box, linked to its plate (``parent_id``, ``box``), labeled with the model's
  class by an annotation of source ``model`` with the run id (a confirmed prediction, as on the Predict
  page's batch queue).
- ``correct``: the same crop labeled with the person's class: source ``review`` when the person may review,
  else ``human``; the comment says which label was corrected.
- ``dismiss`` (a false positive): when the project has a class named ``background`` the box becomes a
  crop labeled ``background`` (a "no defect" example for training); otherwise only the decision is
  recorded. Either way a dismissed box is remembered: a later search on the same plate marks an
  overlapping box as dismissed earlier, and the Cut crops page does not suggest it again
  (:func:`plate_memory`).

Every decision is a row of ``locate_decisions`` (append-only; ``place`` when the box was moved) and an audit row
``plates.box_decision``; an undo is a row of ``locate_undos`` (append-only) and an audit row ``plates.box_undo``,
and every reader takes a box's latest decision that was not undone. The crops' annotations carry the comment
``prediction review: ...`` (shown in the item history).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import TYPE_CHECKING, Any

import numpy as np

from defectlab.errors import ConflictError, InputError, NotFoundError
from defectlab.messages import msg
from defectlab.store.items import sql_int

if TYPE_CHECKING:
    from defectlab._typing import ProjectRef, WorkspaceLike
    from defectlab.learn.locate import LocateSettings, PlateResult

__all__ = ["DECISIONS", "REPORT_COLUMNS", "box_decisions", "check_place", "decide_box", "locate_plate", "locate_plates",
           "locate_plates_from", "open_boxes", "plate_memory", "plate_summary", "recorded_results", "reopen_result",
           "repeated_place", "results_csv", "review_comment_parts", "undo_box"]

DECISIONS = ("accept", "correct", "dismiss")
_DONE = {"accept": "accepted", "correct": "corrected", "dismiss": "dismissed"}
_BACKGROUND = "background"
_SAME_BOX_IOU = 0.5  # a box of a later search "is" an earlier decided box when they overlap this much
_SAME_CLASS_INSIDE = 0.5  # ... or a crop of its class when this much of the smaller of the two lies in the other
_MOVE_MIN_IOU = 0.3  # a moved box still overlaps the model's this much (the same defect); further is Cut crops


def _live(alias: str, until: bool = False) -> str:
    """SQL: the decision row ``alias`` was not undone (:func:`undo_box`); ``until``: not undone by the time given
    twice as parameters (``?, ?``; None: ever)."""
    by = " AND (? IS NULL OR u.created_at <= ?)" if until else ""
    return f"NOT EXISTS (SELECT 1 FROM locate_undos u WHERE u.decision_id = {alias}.id{by})"


def locate_plate(ws: WorkspaceLike, project: ProjectRef, item_id: int, run_id: str | None = None,
                 settings: LocateSettings | None = None, user: str = "local") -> PlateResult:
    """Locate defects on a stored plate and record the result for the prediction review.

    Parameters
    ----------
    ws : Workspace or path
    project : str, int or Project
    item_id : int
        A stored image of the project (e.g. a plate uploaded on the Predict page).
    run_id : str or None
        Default: the newest approved run, else the newest.
    settings : LocateSettings or None
    user : str
        Needs ``predict``.

    Returns
    -------
    PlateResult
        As :func:`~defectlab.learn.locate.locate_item`; ``extra`` adds ``result_id`` (the recorded result,
        for :func:`decide_box`) and ``earlier``: ``{box index: {"decision", "label", "crop_id"}}`` for the
        boxes that overlap a box decided on this plate before (IoU >= 0.5), or else a crop already cut from the
        plate (decision ``cut``, the crop's current label): such a box is already in the training data and
        :func:`decide_box` refuses it.
    """
    from defectlab.learn.locate import locate_item
    from defectlab.store import get_project, require
    from defectlab.store.workspace import as_workspace, utcnow

    ws = as_workspace(ws)
    result = locate_item(ws, project, item_id, run_id=run_id, settings=settings, user=user)
    proj = get_project(ws, project)
    boxes = [{"x": int(b["x"]), "y": int(b["y"]), "w": int(b["w"]), "h": int(b["h"]), "label": str(b["label"]),
              "score": float(b["score"])} for b in result.boxes]
    earlier = plate_memory(ws, int(result.extra["item_id"]), user=user)
    with ws.transaction() as conn:
        require(conn, user, "predict")
        cur = conn.execute(
            "INSERT INTO locate_results (project_id, plate_id, run_id, user, created_at, width, height, boxes) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (proj.id, int(result.extra["item_id"]), str(result.extra["run_id"]), str(user), utcnow(),
             int(result.width), int(result.height), json.dumps(boxes)))
    result.extra.update(result_id=int(cur.lastrowid), earlier=_with_cut_crops(ws, boxes, _match_earlier(boxes, earlier),
                                                                            int(result.extra["item_id"])))
    return result


def _plate_crops(conn, plate_id: int) -> list[tuple[int, list[float], str | None]]:
    """The live crops cut from a plate: ``(crop id, [x, y, w, h], current label)``."""
    from defectlab.store.labels import _current_label

    out = []
    for r in conn.execute("SELECT id, box FROM items WHERE parent_id = ? AND deleted_at IS NULL AND box IS NOT NULL "
                          "ORDER BY id", (int(plate_id),)):
        try:
            x0, y0, x1, y1 = (float(v) for v in json.loads(r["box"]))
        except (TypeError, ValueError):
            continue
        out.append((int(r["id"]), [x0, y0, x1 - x0, y1 - y0], _current_label(conn, int(r["id"])).label))
    return out


def repeated_place(box: dict[str, Any], places: list[tuple[Any, list[float], str | None]]) -> Any:
    """The id of the place of the plate (a crop cut from it, a dismissed box) that ``box`` repeats, else None.

    One rule for the Predict page and the Cut crops suggestions: IoU >= 0.5 with it (the most overlapping), or
    the same class with half of the smaller of the two inside the other (a thin scratch found a little shifted
    overlaps its crop by far less than half their union). ``places``: ``(id, [x, y, w, h], label)``.
    """
    if not places:
        return None
    from .box_ranker import pairwise_overlap

    xyxy = lambda r: [r[0], r[1], r[0] + r[2], r[1] + r[3]]  # noqa: E731
    iou, inside = (v[0] for v in pairwise_overlap([xyxy([box["x"], box["y"], box["w"], box["h"]])],
                                                  [xyxy(p[1]) for p in places]))
    k = int(np.argmax(iou))
    if iou[k] >= _SAME_BOX_IOU:
        return places[k][0]
    same = [j for j, p in enumerate(places) if p[2] == box["label"] and inside[j] >= _SAME_CLASS_INSIDE]
    return places[max(same, key=lambda j: inside[j])][0] if same else None


def _with_cut_crops(ws, boxes: list[dict[str, Any]], earlier: dict[int, dict[str, Any]],
                    plate_id: int) -> dict[int, dict[str, Any]]:
    """``earlier`` plus the boxes (not in it) that repeat a crop already cut from the plate: ``cut``."""
    from defectlab.store import current_label

    with ws.read() as conn:
        crops = _plate_crops(conn, plate_id)
        for k, b in enumerate(boxes):
            crop_id = None if k in earlier else repeated_place(b, crops)
            if crop_id is not None:
                earlier[k] = {"decision": "cut", "label": current_label(ws, crop_id, conn=conn).label,
                              "crop_id": crop_id}
    return dict(sorted(earlier.items()))


def locate_plates(ws: WorkspaceLike, project: ProjectRef, files: Any = (), item_ids: Any = (),
                  run_id: str | None = None, settings: LocateSettings | None = None, user: str = "local",
                  progress: Any = None) -> dict[str, Any]:
    """Locate defects on a batch of full images (a shift's plates) and record each result, as :func:`locate_plate`.

    Parameters
    ----------
    ws : Workspace or path
    project : str, int or Project
    files : iterable of (str, bytes)
        Uploaded files as ``(name, data)``: each is stored as a plate of the project
        (:func:`defectlab.ingest.add_plate` with ``purpose="predict"``; the same picture again is the plate
        already stored). A file that is not a usable image (corrupt, too large, not an image) is listed in
        ``rejected`` with the reason; the others go on.
    item_ids : iterable of int
        Stored images of the project, searched after the files.
    run_id : str or None
        Default: the newest approved run, else the newest; every plate of the batch is searched with the same run.
    settings : LocateSettings or None
    user : str
        Needs ``predict``: checked before any file is read.
    progress : callable or None
        ``progress(done, total, source)`` after each file or plate.

    Returns
    -------
    dict
        ``{"run_id", "results": [PlateResult] (one per distinct plate, in the order given; ``extra`` as
        :func:`locate_plate`; ``extra["uploaded_as"]``: the file's name when the same picture was stored before
        under another name, which ``source`` keeps), "rejected": [{"source", "reason"[, "reason_key",
        "reason_args"]}], "repeated": [{"source", "item_id"}] (a file that is a plate already in this batch:
        searched once)}``.
    """
    from defectlab.errors import ImageError
    from defectlab.ingest import add_plate
    from defectlab.learn.runs import resolve_run
    from defectlab.messages import message_fields
    from defectlab.store import get_item, get_project, require
    from defectlab.store.workspace import as_workspace

    ws = as_workspace(ws)
    with ws.read() as conn:  # the role first: a refused user's files are never decoded
        require(conn, user, "predict")
    proj = get_project(ws, project)
    run_id = resolve_run(ws, project, run_id)  # one run for the whole batch, even if another is approved meanwhile
    steps = [_file_step(f) for f in files] + [("", None, _item_step(i)) for i in item_ids]  # all checked first
    for _, _, item_id in steps:
        if item_id is not None and get_item(ws, item_id)["project_id"] != proj.id:
            raise InputError(msg("error.locate.item_belongs_another_project", "Item {item_id} belongs to another "
                                 "project.", item_id=item_id))
    results: list[PlateResult] = []
    rejected: list[dict[str, Any]] = []
    repeated: list[dict[str, Any]] = []
    seen: set[int] = set()
    for k, (name, data, plate_id) in enumerate(steps):  # one plate at a time: stored, then searched
        stored_before = False
        if plate_id is None:
            try:
                plate_id, new = add_plate(ws, project, data, name, user=user, purpose="predict")
                stored_before = not new
            except ImageError as exc:
                rejected.append({"source": exc.source, "reason": str(exc.reason), **message_fields(exc.reason)})
        if plate_id is not None and plate_id in seen:
            repeated.append({"source": name, "item_id": plate_id})
        elif plate_id is not None:
            seen.add(plate_id)
            result = locate_plate(ws, project, plate_id, run_id=run_id, settings=settings, user=user)
            if stored_before and name and name != result.source:  # the same picture, stored before by another name
                result.extra["uploaded_as"] = name
            results.append(result)
            name = name or result.source
        if progress is not None:
            progress(k + 1, len(steps), name)
    return {"run_id": run_id, "results": results, "rejected": rejected, "repeated": repeated}


def locate_plates_from(ws: WorkspaceLike, project: ProjectRef, source: Any, run_id: str | None = None,
                       settings: LocateSettings | None = None, user: str = "local",
                       progress: Any = None) -> dict[str, Any]:
    """:func:`locate_plates` on the image files of a folder (or one file), read one at a time: a camera's or a
    shift's folder stored as plates, each searched and recorded, for the Predict page's review (its earlier
    searches) or :func:`decide_box`. ``defectlab locate-plates``.

    Parameters
    ----------
    source : str or Path
        One image file or a folder (searched recursively; annotation and text files are skipped, as
        :func:`~defectlab.learn.locate.locate_source`).
    run_id, settings, user, progress
        As :func:`locate_plates` (``user`` needs ``predict``, checked before any file is read).

    Returns
    -------
    dict
        As :func:`locate_plates`; ``source`` names are relative to the folder. A file that cannot be read or is
        not a usable image is in ``rejected`` with its reason.
    """
    from defectlab.errors import DefectlabError
    from defectlab.imaging import read_image_bytes
    from defectlab.learn.locate import _image_files
    from defectlab.learn.runs import resolve_run
    from defectlab.messages import message_fields
    from defectlab.store import get_project, require
    from defectlab.store.workspace import as_workspace

    ws = as_workspace(ws)
    with ws.read() as conn:
        require(conn, user, "predict")
    get_project(ws, project)
    run_id = resolve_run(ws, project, run_id)
    root, paths = _image_files(source)
    out: dict[str, Any] = {"run_id": run_id, "results": [], "rejected": [], "repeated": []}
    seen: dict[str, int] = {}  # sha256 of the file -> its plate: the same picture under two names is searched once
    for k, path in enumerate(paths):  # one file in memory at a time
        rel = path.relative_to(root).as_posix()
        try:
            data = read_image_bytes(path, source=rel)
        except DefectlabError as exc:
            reason = getattr(exc, "reason", None) or (exc.args[0] if exc.args else str(exc))
            out["rejected"].append({"source": rel, "reason": str(reason), **message_fields(reason)})
        else:
            sha = hashlib.sha256(data).hexdigest()
            if sha in seen:
                out["repeated"].append({"source": rel, "item_id": seen[sha]})
            else:
                one = locate_plates(ws, project, [(rel, data)], run_id=run_id, settings=settings, user=user)
                out["rejected"] += one["rejected"]
                out["results"] += one["results"]
                if one["results"]:
                    seen[sha] = int(one["results"][0].extra["item_id"])
        if progress is not None:
            progress(k + 1, len(paths), rel)
    return out


def _file_step(f: Any) -> tuple[str, bytes, None]:
    if not (isinstance(f, (tuple, list)) and len(f) == 2 and isinstance(f[0], str)
            and isinstance(f[1], (bytes, bytearray, memoryview))):
        raise InputError(msg("error.plates.bad_file", "Each of the 'files' of locate_plates must be a pair (file name, "
                             "bytes). Got {value}.", value=repr(f)[:60]))
    return f[0], bytes(f[1]), None


def _item_step(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise InputError(msg("error.plates.bad_item_id", "Each of the 'item_ids' of locate_plates must be an item id "
                             "(an integer >= 0). Got {value}.", value=repr(value)[:40]))
    return int(value)


def _class_counts(boxes: list[dict[str, Any]]) -> dict[str, int]:
    """``{class: boxes}`` of a search's boxes, most boxes first (ties by name)."""
    counts: dict[str, int] = {}
    for b in boxes:
        counts[str(b["label"])] = counts.get(str(b["label"]), 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def plate_summary(result: PlateResult) -> dict[str, Any]:
    """One line of a batch's table: what a search found on one plate.

    Returns
    -------
    dict
        ``item_id``, ``source``, ``width``, ``height``, ``n_boxes``, ``counts`` (``{class: boxes}``, most boxes
        first), ``top_score`` (the best box's score, None without a box), ``tiled`` (the plate is far larger than
        the run's plates, see :func:`~defectlab.learn.locate.locate_source`), ``result_id``.
    """
    return {"item_id": result.extra.get("item_id"), "source": result.source, "width": int(result.width),
            "height": int(result.height), "n_boxes": len(result.boxes),
            "counts": _class_counts(result.boxes),
            "top_score": max((float(b["score"]) for b in result.boxes), default=None),
            "tiled": result.extra.get("tiled") is not None, "result_id": result.extra.get("result_id")}


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) intersection over union of boxes given as rows ``x, y, w, h``."""
    ax0, ay0, ax1, ay1 = a[:, 0:1], a[:, 1:2], a[:, 0:1] + a[:, 2:3], a[:, 1:2] + a[:, 3:4]
    bx0, by0, bx1, by1 = b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(np.minimum(ax1, bx1) - np.maximum(ax0, bx0), 0, None)
    ih = np.clip(np.minimum(ay1, by1) - np.maximum(ay0, by0), 0, None)
    inter = iw * ih
    union = a[:, 2:3] * a[:, 3:4] + b[:, 2] * b[:, 3] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def _match_earlier(boxes: list[dict[str, Any]], memory: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    if not boxes or not memory:
        return {}
    xywh = lambda rows: np.array([[r["x"], r["y"], r["w"], r["h"]] for r in rows], np.float64)  # noqa: E731
    iou = _iou(xywh(boxes), xywh(memory))
    out = {}
    for k in range(len(boxes)):
        same = np.flatnonzero(iou[k] >= _SAME_BOX_IOU)
        if same.size:  # the newest decision on that place of the plate
            m = memory[int(same[-1])]
            out[k] = {"decision": m["decision"], "label": m["label"], "crop_id": m["crop_id"], "user": m["user"],
                      "result_id": m["result_id"], "box_index": m["box_index"]}
    return out


def _latest(conn, result_id: int, box_index: int):
    return conn.execute(f"SELECT * FROM locate_decisions d WHERE result_id = ? AND box_index = ? AND {_live('d')} "
                        "ORDER BY id DESC LIMIT 1", (int(result_id), int(box_index))).fetchone()


def _check_int_arg(value: Any, name: str, where: str = "decide_box") -> int:
    if not isinstance(value, (int, np.integer)) or sql_int(value) is None:
        raise InputError(msg("error.plates.bad_int", "The '{name}' parameter of {where} must be an integer "
                             ">= 0. Got {value}.", name=name, where=where, value=repr(value)[:40]))
    return int(value)


def _result_row(conn, proj, result_id: int, box_index: int | None):
    """The recorded result, its plate and the box (None when ``box_index`` is None); refuses another project's
    result, a deleted plate, an unknown box."""
    row = conn.execute("SELECT * FROM locate_results WHERE id = ?", (result_id,)).fetchone()
    if row is None:
        raise NotFoundError(msg("error.plates.no_result", "No recorded locate result {result_id}; search the "
                                "plate again.", result_id=result_id))
    if row["project_id"] != proj.id:
        raise InputError(msg("error.plates.other_project", "Locate result {result_id} belongs to another "
                             "project than {project}.", result_id=result_id, project=proj.name))
    plate = conn.execute("SELECT * FROM items WHERE id = ?", (row["plate_id"],)).fetchone()
    if plate is None or plate["project_id"] != proj.id or plate["deleted_at"]:
        raise InputError(msg("error.plates.plate_gone", "The plate of locate result {result_id} was deleted.",
                             result_id=result_id))
    if box_index is None:
        return row, dict(plate), None
    boxes = json.loads(row["boxes"])
    if box_index >= len(boxes):
        raise InputError(msg("error.plates.no_box", "Locate result {result_id} has {n} boxes; there is no box "
                             "{index}.", result_id=result_id, n=len(boxes), index=box_index))
    return row, dict(plate), boxes[box_index]


def _decided_label(conn, proj, decision: str, box: dict[str, Any], label: str | None, user: str):
    """(label stored on the crop or None, annotation source, comment)."""
    from defectlab.store import can

    if decision == "dismiss":
        return (_BACKGROUND if _BACKGROUND in proj.classes else None), \
            ("review" if can(conn, user, "review") else "human"), f"dismissed {box['label']} box"
    if decision == "correct" and label is None:  # not the model's class by default: a correction names its class
        raise InputError(msg("error.plates.correct_needs_label", "A correction needs the class the box really is; "
                             "pick one of {classes}.", classes=", ".join(proj.classes)))
    label = box["label"] if decision == "accept" else label
    if not isinstance(label, str) or label not in proj.classes:
        raise InputError(msg("error.plates.bad_label", "{label} is not a class of {project}; pick one of "
                             "{classes}.", label=repr(label)[:60], project=proj.name, classes=", ".join(proj.classes)))
    if label == box["label"]:
        return label, "model", f"confirmed {label} box"
    return label, ("review" if can(conn, user, "review") else "human"), f"corrected from {box['label']}"


_COMMENT = re.compile(r"^prediction review: (?:(?P<kind>confirmed|dismissed|moved) (?P<label>.+) box|"
                      r"(?P<corrected>corrected) from (?P<was>.+?)(?P<moved>, moved)?|(?P<undone>undone)) "
                      r"\(locate result (?P<result>\d+), box (?P<box>\d+)\)$", re.S)


def review_comment_parts(comment: Any) -> dict[str, Any] | None:
    """The parts of the comment :func:`decide_box` writes on a stored crop's annotation, for showing it in the
    reader's language (the stored text stays English, as written); None for any other comment. ``kind``:
    ``confirmed``, ``corrected``, ``corrected_moved`` (another class at another place), ``moved``, ``dismissed``
    or ``undone`` (an undo in :func:`defectlab.store.browse.item_history`; ``model_label`` None).

    >>> review_comment_parts("prediction review: corrected from patches (locate result 17, box 4)")
    {'kind': 'corrected', 'model_label': 'patches', 'result_id': 17, 'box': 4}
    >>> review_comment_parts("prediction review: corrected from patches, moved (locate result 17, box 4)")["kind"]
    'corrected_moved'
    >>> review_comment_parts("prediction review: undone (locate result 17, box 4)")["model_label"] is None
    True
    >>> review_comment_parts("a reviewer's own words") is None
    True
    """
    m = _COMMENT.match(comment) if isinstance(comment, str) else None
    if m is None:
        return None
    kind = m["kind"] or m["undone"] or ("corrected_moved" if m["moved"] else m["corrected"])
    return {"kind": kind, "model_label": m["label"] or m["was"], "result_id": int(m["result"]), "box": int(m["box"])}


def _person(username: str) -> Any:
    """A user in a message: the built-in local admin by its name in the reader's language."""
    return msg("users.local_admin_name", "Local admin") if username == "local" else str(username)


def _place_of(row) -> list[int] | None:
    """The stored ``place`` of a decision row (where the person moved the box), else None."""
    try:
        value = row["place"]
    except (IndexError, KeyError):
        return None
    return [int(v) for v in json.loads(value)] if value else None


def check_place(place: Any, box: dict[str, Any], width: int, height: int) -> list[int] | None:
    """A moved box's place for :func:`decide_box`, checked: ``[x, y, w, h]`` whole pixels, or None when it is the
    model's ``box`` itself.

    Raises InputError for a place that is not four numbers, leaves the ``width`` x ``height`` image, is under 2
    pixels, or no longer overlaps the model's box at IoU >= 0.3 (that is another box: drawing boxes of one's own
    is the Cut crops page's, :mod:`defectlab.store.permissions`). The Predict page checks a place with it as the
    person types.

    >>> check_place([12, 10, 40, 30], {"x": 10, "y": 10, "w": 40, "h": 30}, 200, 200)
    [12, 10, 40, 30]
    >>> check_place([10, 10, 40, 30], {"x": 10, "y": 10, "w": 40, "h": 30}, 200, 200) is None
    True
    """
    what = repr(place)[:60]
    try:
        values = [float(v) for v in place] if isinstance(place, (list, tuple, np.ndarray)) else []
    except (TypeError, ValueError, OverflowError):
        values = []
    if len(values) != 4 or not all(np.isfinite(values)) or max(abs(v) for v in values) > 1 << 20:
        raise InputError(msg("error.plates.bad_place", "A box's place is four whole numbers x, y, width, height in "
                             "the image's pixels. Got {place}.", place=what))
    x, y, w, h = (round(v) for v in values)
    if w < 2 or h < 2 or x < 0 or y < 0 or x + w > width or y + h > height:
        raise InputError(msg("error.plates.place_outside", "The place {place} does not lie inside the {width} x "
                             "{height} image (or is under 2 pixels wide or high).", place=[x, y, w, h],
                             width=width, height=height))
    if [x, y, w, h] == [box["x"], box["y"], box["w"], box["h"]]:
        return None
    iou = float(_iou(np.array([[x, y, w, h]], np.float64),
                     np.array([[box["x"], box["y"], box["w"], box["h"]]], np.float64))[0, 0])
    if iou < _MOVE_MIN_IOU:
        raise InputError(msg("error.plates.place_too_far", "The moved box overlaps the model's box only {iou:.0%} "
                             "(at least {least:.0%}): that is another box; draw it on the Cut crops page.",
                             iou=iou, least=_MOVE_MIN_IOU))
    return [x, y, w, h]


def _refuse_redecision(prior, decision: str) -> None:
    if prior is None:
        return
    if prior["crop_id"] is not None:
        raise ConflictError(msg("error.plates.decided", "This box is already stored as crop #{crop_id} by {user}; "
                                "change that crop's label in the item browser instead.",
                                user=_person(prior["user"]), crop_id=prior["crop_id"]))
    if decision == "dismiss":
        raise ConflictError(msg("error.plates.dismissed", "This box was already dismissed by {user}.",
                                user=_person(prior["user"])))


def decide_box(ws: WorkspaceLike, project: ProjectRef, result_id: int, box_index: int, decision: str,
               label: str | None = None, user: str = "local", place: Any = None) -> dict[str, Any]:
    """Accept, correct or dismiss one box of a recorded locate result (see the module notes).

    Parameters
    ----------
    ws : Workspace or path
    project : str, int or Project
        The project the result belongs to (another project's result is refused).
    result_id : int
        ``PlateResult.extra["result_id"]`` of :func:`locate_plate`.
    box_index : int
        Position of the box in that result (0 = the first box).
    decision : {"accept", "correct", "dismiss"}
    label : str or None
        The right class for ``correct`` (a class of the project); ignored otherwise. Correcting to the
        model's own label is an ``accept``.
    user : str
        Needs ``correct_predictions``.
    place : sequence of 4 numbers or None
        ``x, y, w, h`` (image pixels): the crop is cut there instead of the model's box, a correction of the
        box's place (``accept`` of a moved box is ``corrected``, its label still the model's). It must lie inside
        the image and overlap the model's box at IoU >= 0.3; a box elsewhere is drawn on the Cut crops page.
        Not for ``dismiss``.

    Returns
    -------
    dict
        ``decision`` (``accepted``, ``corrected`` or ``dismissed``), ``label`` (the crop's label, None for a
        dismissal without a background class), ``crop_id`` (the new crop item, or None), ``box`` (the model's)
        and ``place`` (``[x, y, w, h]`` of the crop when moved, else None).

    Raises
    ------
    PermissionDenied
        The user may not correct predictions.
    InputError
        Unknown decision or label, another project's result, a deleted plate, a box outside the image or
        one that already exists on the plate, a place that is not a move of the box (or given to ``dismiss``).
    ConflictError
        The box was already stored as a crop (or already dismissed).

    Examples
    --------
    >>> result = locate_plate(ws, "plates", plate_id, user="sam")  # doctest: +SKIP
    >>> decide_box(ws, "plates", result.extra["result_id"], 0, "correct", "scratches", user="sam")  # doctest: +SKIP
    """
    from defectlab.store import get_project, load_item_image, log_action, require
    from defectlab.store.workspace import as_workspace, utcnow

    if decision not in DECISIONS:
        raise InputError(msg("error.plates.bad_decision", "Unknown decision {decision}; expected accept, correct "
                             "or dismiss.", decision=repr(decision)[:40]))
    result_id, box_index = _check_int_arg(result_id, "result_id"), _check_int_arg(box_index, "box_index")
    ws = as_workspace(ws)
    proj = get_project(ws, project)
    with ws.read() as conn:  # the role first: nothing of a refused user's request is read further
        require(conn, user, "correct_predictions")
        _, plate, _ = _result_row(conn, proj, result_id, box_index)
    image = load_item_image(ws, plate)
    with ws.transaction() as conn:
        require(conn, user, "correct_predictions")
        row, plate, box = _result_row(conn, proj, result_id, box_index)
        prior = _latest(conn, result_id, box_index)
        _refuse_redecision(prior, decision)
        if place is not None and decision == "dismiss":
            raise InputError(msg("error.plates.dismiss_place", "A dismissed box is not stored: it has no place to "
                                 "move to."))
        moved = None if place is None else check_place(place, box, int(row["width"]), int(row["height"]))
        cut = box if moved is None else {**box, "x": moved[0], "y": moved[1], "w": moved[2], "h": moved[3]}
        repeated = repeated_place({**cut, "label": label if decision == "correct" and label else box["label"]},
                                  _plate_crops(conn, plate["id"]))
        if repeated is not None:  # the defect is already a crop of the plate (cut by hand, or another box's)
            raise ConflictError(msg("error.plates.repeats_crop", "This box repeats crop #{crop_id}, already cut from "
                                    "the plate; change that crop's label in the item browser instead.",
                                    crop_id=repeated))
        crop_label, source, comment = _decided_label(conn, proj, decision, box, label, user)
        if decision != "dismiss":
            decision = "accept" if crop_label == box["label"] and moved is None else "correct"
            if moved is not None:  # the place corrected too
                comment = f"moved {crop_label} box" if crop_label == box["label"] else f"{comment}, moved"
        crop_id = None
        if crop_label is not None:
            crop_id = _store_crop(conn, ws, proj, plate, image, cut, crop_label, user, source,
                                  {"comment": f"prediction review: {comment} (locate result {result_id}, box "
                                              f"{box_index + 1})", "run_id": row["run_id"]})
        conn.execute("INSERT INTO locate_decisions (result_id, box_index, decision, label, crop_id, user, created_at, "
                     "place) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     (result_id, box_index, _DONE[decision], crop_label, crop_id, str(user), utcnow(),
                      None if moved is None else json.dumps(moved)))
        detail = {"result_id": result_id, "box_index": box_index, "decision": _DONE[decision],
                  "model_label": box["label"], "score": box["score"], "label": crop_label, "crop_id": crop_id,
                  "run_id": row["run_id"], "plate_item_id": plate["id"]}
        if moved is not None:
            detail["place"] = moved
        log_action(conn, user, "plates.box_decision", proj.id, plate["source"], detail)
    return {"decision": _DONE[decision], "label": crop_label, "crop_id": crop_id, "box": dict(box), "place": moved}


def undo_box(ws: WorkspaceLike, project: ProjectRef, result_id: int, box_index: int,
             user: str = "local") -> dict[str, Any]:
    """Undo the latest decision on one box of a recorded locate result: the box is as it was before it.

    The crop the decision stored is soft-deleted (restorable by an admin; runs trained on it keep it in their
    history) and the decision is marked undone (``locate_undos``; nothing is erased). Refused when the crop was
    changed since: labeled again by anyone, put in an open assignment or in the gold set (change it in the item
    browser instead).

    Parameters
    ----------
    ws : Workspace or path
    project : str, int or Project
    result_id, box_index : int
        As :func:`decide_box`.
    user : str
        Needs ``correct_predictions``; another person's decision also needs ``delete`` (leads, admins).

    Returns
    -------
    dict
        ``undone`` (the decision undone: ``accepted``, ``corrected`` or ``dismissed``), ``crop_id`` (the crop
        soft-deleted, or None) and ``decision``: the box's decision now (an earlier one, or None: open).

    Raises
    ------
    PermissionDenied
        The user may not correct predictions, or the decision is another person's and they may not delete.
    InputError
        Another project's result, a deleted plate, an unknown box.
    ConflictError
        Nothing to undo, or the crop was changed since.
    """
    from defectlab.store import get_project, log_action, require
    from defectlab.store.workspace import as_workspace, utcnow

    result_id, box_index = (_check_int_arg(result_id, "result_id", "undo_box"),
                            _check_int_arg(box_index, "box_index", "undo_box"))
    ws = as_workspace(ws)
    proj = get_project(ws, project)
    with ws.transaction() as conn:
        require(conn, user, "correct_predictions")
        _, plate, box = _result_row(conn, proj, result_id, box_index)
        prior = _latest(conn, result_id, box_index)
        if prior is None:
            raise ConflictError(msg("error.plates.nothing_to_undo", "Box {box} of locate result {result_id} has no "
                                    "decision to undo.", box=box_index + 1, result_id=result_id))
        if prior["user"] != str(user):
            require(conn, user, "delete")  # undoing another person's decision deletes their crop
        crop_id = prior["crop_id"]
        if crop_id is not None:
            _refuse_changed_crop(conn, int(crop_id), prior)
            conn.execute("UPDATE items SET deleted_at = ?, deleted_by = ? WHERE id = ? AND deleted_at IS NULL",
                         (utcnow(), str(user), int(crop_id)))
        conn.execute("INSERT INTO locate_undos (decision_id, user, created_at) VALUES (?, ?, ?)",
                     (int(prior["id"]), str(user), utcnow()))
        now = _latest(conn, result_id, box_index)
        log_action(conn, user, "plates.box_undo", proj.id, plate["source"],
                   {"result_id": result_id, "box_index": box_index, "decision": prior["decision"],
                    "decided_by": prior["user"], "crop_id": crop_id, "plate_item_id": plate["id"],
                    "model_label": box["label"]})
    return {"undone": prior["decision"], "crop_id": None if crop_id is None else int(crop_id),
            "decision": None if now is None else now["decision"]}


def _refuse_changed_crop(conn, crop_id: int, decision) -> None:
    """An undo deletes the crop only as the decision left it: its newest annotation the decision's own (a crop
    restored by deciding the place again has the undone one before it), no open assignment, not gold."""
    last = conn.execute("SELECT user, label, comment FROM annotations WHERE item_id = ? ORDER BY id DESC LIMIT 1",
                        (crop_id,)).fetchone()
    own = last is not None and last["user"] == decision["user"] and last["label"] == decision["label"] and str(
        last["comment"] or "").endswith(f"(locate result {decision['result_id']}, box {decision['box_index'] + 1})")
    from defectlab.store.transfer import team_held

    busy, gold = team_held(conn, [crop_id])
    if not own or busy or gold:
        who = last["user"] if last is not None and not own else decision["user"]
        raise ConflictError(msg("error.plates.crop_changed", "Crop #{crop_id} was changed since it was stored "
                                "(labeled again by {user}, assigned or made a gold item); change it in the item "
                                "browser instead.", crop_id=crop_id, user=_person(who)))


def _undone_crop(conn, plate_id: int, xyxy: tuple) -> int | None:
    """A crop of the plate at exactly ``xyxy`` that an undo deleted (:func:`undo_box`), else None."""
    rows = conn.execute("SELECT i.id, i.box FROM items i JOIN locate_decisions d ON d.crop_id = i.id "
                        "JOIN locate_undos u ON u.decision_id = d.id WHERE i.parent_id = ? "
                        "AND i.deleted_at IS NOT NULL ORDER BY i.id DESC", (int(plate_id),)).fetchall()
    for r in rows:
        try:
            if [float(v) for v in json.loads(r["box"])] == [float(v) for v in xyxy]:
                return int(r["id"])
        except (TypeError, ValueError):
            continue
    return None


def _store_crop(conn, ws, proj, plate, image, box, label, user, source, note) -> int:
    """Cut the box as a crop of the plate (the same validation as drawn boxes: inside the image, not
    already on the plate); the first rejection is raised. The same place stored before and undone is that crop
    again (restored, labeled anew: its history keeps both)."""
    from defectlab.ingest.importer import ImportReport, _cut_crops
    from defectlab.store import annotate

    again = _undone_crop(conn, plate["id"], (box["x"], box["y"], box["x"] + box["w"], box["y"] + box["h"]))
    if again is not None:
        conn.execute("UPDATE items SET deleted_at = NULL, deleted_by = NULL WHERE id = ?", (again,))
        annotate(ws, again, label, user=user, source=source, conn=conn, **note)
        return again

    report = ImportReport(project=proj.name, layout="boxes")
    xyxy = (box["x"], box["y"], box["x"] + box["w"], box["y"] + box["h"])
    _cut_crops(conn, ws, proj, plate, image, [(label, *xyxy)], report, user, min_box=2, label_source=source,
               note=note)
    if report.rejected:  # the reason is translatable (an import rejection's Message)
        raise InputError(msg("error.plates.box_rejected", "The box was not stored: {reason}",
                             reason=report.rejected[0]["reason"]))
    if not report.item_ids:  # the same pixels are already a crop of this project
        raise ConflictError(msg("error.plates.same_pixels", "{source}: the same pixels are already stored as "
                                "an item of {project}.", source=plate["source"], project=proj.name))
    return int(report.item_ids[0])


def box_decisions(ws: WorkspaceLike, result_id: int, user: str = "local") -> dict[int, dict[str, Any]]:
    """The latest decision on each box of a recorded result: ``{box index: {"decision", "label",
    "crop_id", "user", "at"}}`` (``user`` needs ``view``)."""
    from defectlab.store import require
    from defectlab.store.workspace import as_workspace

    ws = as_workspace(ws)
    with ws.read() as conn:
        require(conn, user, "view")
        rows = conn.execute(f"SELECT * FROM locate_decisions d WHERE result_id = ? AND {_live('d')} ORDER BY id",
                            (int(result_id),))
        return {r["box_index"]: {"decision": r["decision"], "label": r["label"], "crop_id": r["crop_id"],
                                 "user": r["user"], "at": r["created_at"], "place": _place_of(r)} for r in rows}


REPORT_COLUMNS = ("result_id", "plate_item_id", "source", "run_id", "searched_at", "searched_by", "box", "label",
                  "score", "x", "y", "w", "h", "decision", "stored_label", "crop_id", "decided_by", "decided_at",
                  "stored_x", "stored_y", "stored_w", "stored_h")
"""The columns of :func:`results_csv`, one row per box (a plate without a box: one row, ``box`` empty);
``stored_*``: the place of the crop a decision stored (the model's box, or where the person moved it)."""


def results_csv(ws: WorkspaceLike, project: ProjectRef, result_ids: Any, user: str = "local") -> str:
    """A shift's report of recorded searches: every box with its score, place and what became of it.

    Parameters
    ----------
    ws : Workspace or path
    project : str, int or Project
    result_ids : sequence of int
        Recorded results of this project (:func:`locate_plate`), in the report's order.
    user : str
        Needs ``predict`` or ``correct_predictions``.

    Returns
    -------
    str
        CSV text (:func:`defectlab.csvio.csv_text`: UTF-8 BOM, formula cells neutralised) with
        :data:`REPORT_COLUMNS`; ``decision`` is ``open``, ``accepted``, ``corrected``, ``dismissed`` or ``cut``
        (the box repeats a crop cut from the plate: already training data), ``stored_label`` the class the crop
        was stored as.
    """
    from defectlab.csvio import csv_text
    from defectlab.store import can, get_project, require
    from defectlab.store.workspace import as_workspace

    ws = as_workspace(ws)
    proj = get_project(ws, project)
    ids = []
    for v in result_ids:
        key = sql_int(v)
        if key is None:
            raise NotFoundError(msg("error.plates.no_result", "No recorded locate result {result_id}; search the "
                                    "plate again.", result_id=v))
        ids.append(key)
    rows = []
    with ws.read() as conn:
        if not can(conn, user, "correct_predictions"):
            require(conn, user, "predict")
        for rid in ids:
            r = conn.execute("SELECT r.*, i.source FROM locate_results r JOIN items i ON i.id = r.plate_id "
                             "WHERE r.id = ? AND r.project_id = ?", (rid, proj.id)).fetchone()
            if r is None:
                raise NotFoundError(msg("error.plates.no_result", "No recorded locate result {result_id}; search "
                                        "the plate again.", result_id=rid))
            boxes = json.loads(r["boxes"])
            decided = {d["box_index"]: d for d in conn.execute(
                f"SELECT * FROM locate_decisions d WHERE result_id = ? AND {_live('d')} ORDER BY id", (rid,))}
            crops = _plate_crops(conn, r["plate_id"])
            head = [rid, r["plate_id"], r["source"], r["run_id"], r["created_at"], r["user"]]
            if not boxes:
                rows.append([*head, *[""] * (len(REPORT_COLUMNS) - len(head))])
            for k, b in enumerate(boxes):
                d = decided.get(k)
                cut = None if d is not None else repeated_place(b, crops)
                decision = d["decision"] if d is not None else ("cut" if cut is not None else "open")
                stored = d["label"] if d is not None else (
                    next((c[2] for c in crops if c[0] == cut), None) if cut is not None else None)
                crop_id = d["crop_id"] if d is not None else cut
                place = (_place_of(d) or [b["x"], b["y"], b["w"], b["h"]]) if d is not None and d["crop_id"] else None
                rows.append([*head, k + 1, b["label"], round(float(b["score"]), 4), b["x"], b["y"], b["w"], b["h"],
                                    decision, stored or "", "" if crop_id is None else crop_id,
                                    d["user"] if d is not None else "", d["created_at"] if d is not None else "",
                                    *(place if place is not None else [""] * 4)])
    return csv_text(REPORT_COLUMNS, rows)


def plate_memory(ws: WorkspaceLike, plate_id: int, user: str = "local") -> list[dict[str, Any]]:
    """Every box decided on a plate (the latest decision per box of every recorded result), oldest first.

    Returns
    -------
    list of dict
        ``x, y, w, h`` (image pixels), ``model_label``, ``decision`` (``accepted``, ``corrected``,
        ``dismissed``), ``label``, ``crop_id``, ``user``, ``at``, ``result_id``, ``box_index`` (the box
        decided) and ``place`` (``[x, y, w, h]`` where the person moved the box before storing it, else None).
        An undone decision is not there (the box is as before it). The Cut crops page leaves dismissed boxes out
        of its suggestions; :func:`locate_plate` marks boxes that repeat one.
    """
    from defectlab.store import require
    from defectlab.store.workspace import as_workspace

    ws = as_workspace(ws)
    with ws.read() as conn:
        require(conn, user, "view")
        rows = conn.execute(
            "SELECT d.*, r.boxes FROM locate_decisions d JOIN locate_results r ON r.id = d.result_id "
            "WHERE r.plate_id = ? AND d.id = (SELECT MAX(e.id) FROM locate_decisions e "
            f"WHERE e.result_id = d.result_id AND e.box_index = d.box_index AND {_live('e')}) ORDER BY d.id",
            (int(plate_id),))
        out = []
        for r in rows:
            b = json.loads(r["boxes"])[r["box_index"]]
            out.append({"x": b["x"], "y": b["y"], "w": b["w"], "h": b["h"], "model_label": b["label"],
                        "decision": r["decision"], "label": r["label"], "crop_id": r["crop_id"], "user": r["user"],
                        "at": r["created_at"], "result_id": r["result_id"], "box_index": r["box_index"],
                        "place": _place_of(r)})
    return out


def open_boxes(ws: WorkspaceLike, plate_ids: Any) -> dict[int, list[list[float]]]:
    """Boxes the latest search of each plate found that nobody has decided: ``{plate id: [[x0, y0, x1, y1], ...]}``
    (plates without one are left out). Internal, for the locator (no role: it trains from what is stored).

    Such a plate is partly reviewed: a supervisor accepted some of its boxes and left the others, which may be
    defects. The locator does not draw "no defect" windows over them, and its box scorer does not learn from the
    plate (its boxes are not all its defects). A box that repeats a decided one (IoU >= 0.5, any search of the
    plate) or a crop of the plate is not open.
    """
    from defectlab.store.workspace import as_workspace

    ws = as_workspace(ws)
    ids = [int(p) for p in plate_ids]
    out: dict[int, list[list[float]]] = {}
    with ws.read() as conn:
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            rows = conn.execute(
                f"SELECT r.id, r.plate_id, r.boxes FROM locate_results r WHERE r.plate_id IN "
                f"({','.join('?' * len(chunk))}) AND r.id = (SELECT MAX(e.id) FROM locate_results e "
                f"WHERE e.plate_id = r.plate_id)", chunk).fetchall()
            for r in rows:
                boxes = json.loads(r["boxes"])
                if not boxes:
                    continue
                decided = conn.execute(
                    "SELECT d.result_id, d.box_index, x.boxes FROM locate_decisions d JOIN locate_results x "
                    f"ON x.id = d.result_id WHERE x.plate_id = ? AND {_live('d')}", (r["plate_id"],)).fetchall()
                here = {int(d["box_index"]) for d in decided if d["result_id"] == r["id"]}
                elsewhere = [json.loads(d["boxes"])[d["box_index"]] for d in decided if d["result_id"] != r["id"]]
                crops = _plate_crops(conn, r["plate_id"])
                seen = np.array([[e["x"], e["y"], e["w"], e["h"]] for e in elsewhere], np.float64).reshape(-1, 4)
                left = []
                for k, b in enumerate(boxes):
                    xywh = np.array([[b["x"], b["y"], b["w"], b["h"]]], np.float64)
                    if (k in here or (len(seen) and _iou(xywh, seen).max() >= _SAME_BOX_IOU)
                            or repeated_place(b, crops) is not None):
                        continue
                    left.append([float(b["x"]), float(b["y"]), float(b["x"] + b["w"]), float(b["y"] + b["h"])])
                if left:
                    out[int(r["plate_id"])] = left
    return out


def recorded_results(ws: WorkspaceLike, project: ProjectRef, user: str = "local", limit: int = 200,
                     open_only: bool = False) -> list[dict[str, Any]]:
    """The latest recorded search of each live plate of the project, newest first: what is left to review.

    A batch searched on the Predict page lives in that browser tab; these rows outlive it, so a supervisor can go
    back to the plates searched yesterday (:func:`reopen_result`).

    Parameters
    ----------
    ws : Workspace or path
    project : str, int or Project
    user : str
        Needs ``predict``.
    limit : int
        The newest this many searched plates are looked at (bounded work on a plant's years of searches).
    open_only : bool
        Of those, only the plates with at least one box nobody has decided yet.

    Returns
    -------
    list of dict
        ``result_id``, ``item_id``, ``source``, ``run_id``, ``user`` (who searched), ``created_at``, ``n_boxes``,
        ``counts`` (``{class: boxes}``), ``n_open``: boxes with no decision on this plate yet (a box decided on
        another search of the plate, or one that repeats a crop already cut from it, IoU >= 0.5, counts as
        decided, as :func:`locate_plate` marks it).
    """
    from defectlab._validation import _check_int
    from defectlab.store import get_project, require
    from defectlab.store.workspace import as_workspace

    limit = _check_int(limit, "recorded_results", "limit", 1)
    ws = as_workspace(ws)
    proj = get_project(ws, project)
    with ws.read() as conn:
        require(conn, user, "predict")
        rows = conn.execute(
            "SELECT r.id, r.plate_id, r.run_id, r.user, r.created_at, r.boxes, i.source FROM locate_results r "
            "JOIN items i ON i.id = r.plate_id WHERE r.project_id = ? AND i.deleted_at IS NULL "
            "AND r.id = (SELECT MAX(e.id) FROM locate_results e WHERE e.plate_id = r.plate_id) "
            "ORDER BY r.id DESC LIMIT ?", (proj.id, limit)).fetchall()
    still = open_boxes(ws, [r["plate_id"] for r in rows])  # the one rule of what is left to decide
    out = []
    for r in rows:
        boxes = json.loads(r["boxes"])
        row = {"result_id": int(r["id"]), "item_id": int(r["plate_id"]), "source": r["source"], "run_id": r["run_id"],
               "user": r["user"], "created_at": r["created_at"], "n_boxes": len(boxes),
               "counts": _class_counts(boxes), "n_open": len(still.get(int(r["plate_id"]), []))}
        if row["n_open"] or not open_only:
            out.append(row)
    return out


def reopen_result(ws: WorkspaceLike, project: ProjectRef, result_id: int, user: str = "local",
                  with_map: bool = True) -> PlateResult:
    """A recorded search again, to go on deciding its boxes (:func:`decide_box` with the same ``result_id``).

    Parameters
    ----------
    ws : Workspace or path
    project : str, int or Project
    result_id : int
        From :func:`recorded_results` (or :func:`locate_plate`).
    user : str
        Needs ``predict``.
    with_map : bool
        Also the defect map, by the same run on the plate (about as long as the search was); its boxes stay the
        recorded ones. Without it (or when the run is gone), the result has no map.

    Returns
    -------
    PlateResult
        The recorded boxes; ``extra``: ``result_id``, ``item_id``, ``run_id``, ``recorded`` (``{"user", "at"}``
        of the search), ``decided`` (``{box index: decision}`` of this result: ``accepted`` / ``corrected`` /
        ``dismissed``), ``earlier`` (boxes that repeat one decided on another search of the plate or a crop cut
        from it, as :func:`locate_plate`), ``map`` (whether the map is there); ``expected`` is None (the search's
        threshold is not recorded).
    """
    from defectlab.errors import ArtifactError
    from defectlab.learn.locate import PlateResult, locate_item
    from defectlab.store import get_project, require
    from defectlab.store.workspace import as_workspace

    result_id = _check_int_arg(result_id, "result_id", "reopen_result")
    ws = as_workspace(ws)
    proj = get_project(ws, project)
    with ws.read() as conn:
        require(conn, user, "predict")
        row, plate, _ = _result_row(conn, proj, result_id, None)
        row = dict(row)
    boxes = json.loads(row["boxes"])
    memory = plate_memory(ws, plate["id"], user=user)
    decided = {m["box_index"]: m["decision"] for m in memory if m["result_id"] == result_id}
    earlier = _with_cut_crops(ws, boxes, _match_earlier(boxes, [m for m in memory if m["result_id"] != result_id]),
                              int(plate["id"]))
    result = None
    if with_map:
        try:
            result = locate_item(ws, proj, plate["id"], run_id=row["run_id"], user=user)
        except (NotFoundError, ArtifactError):  # the run was deleted or its files damaged: the boxes alone
            result = None
    if result is None:
        result = PlateResult(int(row["width"]), int(row["height"]), [], [], np.zeros((0, 1, 1), np.float32),
                             max(int(row["width"]), int(row["height"]), 1), 0, source=plate["source"])
    result.boxes = boxes
    result.proposals = None
    result.extra.update(expected=None,  # the threshold of the search is not recorded: no numbers for it
                        result_id=result_id, item_id=int(plate["id"]), run_id=row["run_id"],
                        recorded={"user": row["user"], "at": row["created_at"]}, decided=decided, earlier=earlier,
                        map=bool(result.prob_map.size))
    return result
