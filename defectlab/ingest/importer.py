"""The import orchestrator: plan (pure, :mod:`.scan`) → decode and hash → store, in chunked transactions.

Guarantees
----------
- A bad file never aborts the import of the good ones: it is listed in ``rejected`` with a reason.
- Identical content is stored once per project and reported as a duplicate; the same content under two
  different labels is a *conflict*: reported, recorded for review, never silently resolved.
- Re-importing the same data adds nothing.
- Each chunk is one transaction; its new blobs are appended to a pack file of this import
  (:class:`~defectlab.store.packs.PackWriter`) and synced before the rows that name them are committed, so a
  crash mid-import leaves a consistent workspace (at worst unreferenced bytes at the end of a pack).
"""

import contextlib
import hashlib
import json
import os
import re
import shutil
import sqlite3
import uuid
from collections import deque
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from .._validation import _check_int
from .._workers import available_cores, process_pool
from ..errors import ImageError, InputError, NotFoundError
from ..imaging import DEFAULT_LIMITS, IMAGE_EXTENSIONS, crop_box, decode_image, encode_png, read_image_bytes
from ..messages import message_fields, msg
from ..store import (
    add_item,
    annotate,
    class_name_problem,
    create_batch,
    create_project,
    find_item,
    finish_batch,
    get_project,
    log_action,
    require,
)
from ..store.labels import UNUSABLE, current_label
from ..store.maintenance import work_lock
from ..store.packs import PackWriter
from ..store.workspace import utcnow
from .archive import safe_extract_zip
from .boxes import validate_box
from .scan import plan_import

__all__ = ["MIN_PROCESS_IMAGES", "ImportReport", "add_crops", "add_plate", "import_source"]
_CHUNK = 200  # images in the first chunk; the next ones are sized from the bytes seen (_next_chunk_size)
_CHUNK_MAX = 1000
_CHUNK_MIN = 8
_CHUNK_BYTES = 32 * 1024 * 1024  # encoded bytes a chunk aims at (what it holds in memory until stored)
_TASK = 128  # images per task of the reading / decoding worker processes
#: Images from which a bulk import with ``n_jobs > 1`` reads them in worker processes (below: in the
#: storing thread; starting the processes costs about half a second). ``benchmarks/scale.py --import-only
#: --import-jobs 1,2`` measures both.
MIN_PROCESS_IMAGES = 20_000
_ROWS_PER_INSERT = 500  # rows per multi-row INSERT statement (_insert_rows)
_CHECKPOINT_PAGES = 10_000  # the import connection's wal_autocheckpoint (about 40 MB of WAL; _ChunkStore)


@dataclass
class ImportReport:
    """What an import did. ``to_dict()`` gives the JSON of INTERFACES.md (plus a few extra keys)."""

    project: str
    layout: str
    imported: int = 0
    duplicates: int = 0
    rejected: list = field(default_factory=list)   # [{"source", "reason"[, "reason_key", "reason_args"]}]
    conflicts: list = field(default_factory=list)  # [{"sources": [..], "labels": [..]}]
    batch_id: int | None = None
    item_ids: list = field(default_factory=list)   # new sample items, in import order
    batch_items: list = field(default_factory=list)  # every stored sample: (source, item_id, duplicate)
    plates: int = 0
    created_project: bool = False

    def to_dict(self):
        return {
            "project": self.project,
            "layout": self.layout,
            "imported": self.imported,
            "duplicates": self.duplicates,
            "rejected": list(self.rejected),
            "conflicts": list(self.conflicts),
            "batch_id": self.batch_id,
            "plates": self.plates,
            "created_project": self.created_project,
        }


def _ext(path):
    suffix = os.path.splitext(os.fspath(path))[1].lower().lstrip(".")
    return {"jpeg": "jpg", "tif": "tiff"}.get(suffix, suffix or "bin")


def import_source(ws, project, source, layout="auto", label_regex=None, user="local", padding=0.0,
                  min_box=2, limits=DEFAULT_LIMITS, batch_kind="import", with_labels=True,
                  create_missing_project=True, progress=None, n_jobs=2):
    """Import a folder, a ``.zip`` or one image file into a project.

    Parameters
    ----------
    ws : Workspace
    project : str or Project
        Created with the labels found in ``source`` when it does not exist yet (and
        ``create_missing_project``); otherwise labels that are not classes of the project are rejected.
    source : str or Path
        A folder, a ``.zip`` archive (extracted safely into the workspace's tmp/ and removed after), or
        a single image file.
    layout : {"auto", "folders", "flat", "voc", "yolo", "coco", "csv"}
    label_regex : str, optional
        Label from the file name: the first capture group, e.g. ``r'^(.+)_\\d+\\.jpg$'``.
    user : str
        Who imports (needs the ``import`` permission).
    padding : float, default 0.0
        Box crops: margin added on each side, as a fraction of the box's width / height.
    min_box : int, default 2
        Box crops: boxes narrower or lower than this many pixels are rejected.
    limits : ImageLimits
        File-size and pixel-count limits (decompression bombs).
    batch_kind : {"import", "predict"}
        ``predict`` batches are new images a run will be applied to: their labels (if any) are ignored.
    with_labels : bool, default True
        Store the labels the source carries as ``import`` annotations.
    progress : callable, optional
        ``progress(done, total, message)``.
    n_jobs : int, default=2
        Worker processes reading, checking, hashing and decoding the files of an import of at least
        :data:`MIN_PROCESS_IMAGES` images (smaller ones are read by the calling thread, the store's only
        writer); the report is identical for any value.

    Returns
    -------
    ImportReport
    """
    with ws.read() as conn:  # the role first: nothing is extracted, listed or decoded for a refused user
        require(conn, user, "import")
    source = Path(source)
    n_jobs = _check_int(n_jobs, "import_source", "n_jobs", 1)
    if not source.exists():
        raise InputError(msg("error.importer.import_source_does_not",
                "Import source {source} does not exist.",
                source=source))
    if label_regex is not None:
        try:
            re.compile(label_regex)
        except re.error as exc:
            raise InputError(msg("error.importer.label_regex_not_valid",
                    "--label-regex {label_regex} is not a valid regular expression: {exc}",
                    label_regex=repr(label_regex), exc=exc)) from None

    if source.is_file() and source.suffix.lower() == ".zip":
        name = f"import-{uuid.uuid4().hex}"
        with work_lock(ws, name):  # a killed import's folder is removed at the next start
            tmp = ws.tmp_dir / name
            try:
                skipped = [(f"{source.name}:{s}", r) for s, r in safe_extract_zip(source, tmp).skipped]
                return _plan_and_run(ws, project, tmp, source, skipped, layout, label_regex, user, padding,
                                     min_box, limits, batch_kind, with_labels, create_missing_project, progress,
                                     n_jobs)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    if source.is_file() and source.suffix.lower() not in IMAGE_EXTENSIONS:
        raise InputError(
            msg("error.importer.not_folder_zip_image",
                "{name}: not a folder, a .zip or an image file ({join_image_extensions}).",
                name=source.name, join_image_extensions=', '.join(IMAGE_EXTENSIONS))
        )
    return _plan_and_run(ws, project, source, source, [], layout, label_regex, user, padding, min_box, limits,
                         batch_kind, with_labels, create_missing_project, progress, n_jobs)


def _plan_and_run(ws, project, root, source, skipped, layout, label_regex, user, padding, min_box, limits,
                  batch_kind, with_labels, create_missing_project, progress, n_jobs):
    plan = plan_import(root, layout=layout, label_regex=label_regex)
    plan.rejected = list(skipped) + list(plan.rejected)
    return _run_plan(ws, project, plan, str(source), user, padding, min_box, limits, batch_kind,
                     with_labels, create_missing_project, progress, n_jobs)


def _plan_labels(plan):
    labels = []
    for img in plan.images:
        for lab in [img.label] + [b.label for _, b in (img.boxes or [])]:
            if lab is not None and lab not in labels:
                labels.append(lab)
    return labels


def _resolve_project(ws, project, plan, user, with_labels, create_missing):
    try:
        return get_project(ws, project), False
    except NotFoundError:
        if not create_missing or isinstance(project, int):
            raise
        # the classes: every label that can be a class name (an image whose label cannot is rejected with the
        # reason, the others are imported; the unusable mark is a label, not a class)
        labels = sorted(lab for lab in (_plan_labels(plan) if with_labels else [])
                        if lab != UNUSABLE and class_name_problem(lab) is None)
        if len(labels) < 2 and plan.rejected:  # say why the source's files were refused too
            first = plan.rejected[0]
            raise InputError(msg(
                "ingest.error.new_project_needs_classes_rejected",
                "Project {project!r} does not exist and the source names fewer than two labels ({labels}) to "
                "create it from; {n} file(s) were rejected, the first: {source}: {reason}",
                project=str(project), labels=", ".join(labels) or "none", n=len(plan.rejected),
                source=str(first[0])[:200], reason=first[1])) from None
        if len(labels) < 2:
            raise InputError(msg(
                "ingest.error.new_project_needs_classes",
                "Project {project!r} does not exist and the source names fewer than two labels ({labels}) to "
                "create it from. Create it first: defectlab project create {project} --classes a,b,c",
                project=str(project), labels=", ".join(labels) or "none")) from None
        return create_project(ws, project, labels, user=user), True


class _Seen:
    """Content seen in this import: sha -> (item id, first source, label)."""

    def __init__(self):
        self.by_sha = {}


def _run_plan(ws, project, plan, source_name, user, padding, min_box, limits, batch_kind, with_labels,
              create_missing, progress, n_jobs=1):
    with ws.read() as conn:
        require(conn, user, "import")
    proj, created = _resolve_project(ws, project, plan, user, with_labels and batch_kind == "import",
                                     create_missing)
    classes = set(proj.classes)
    report = ImportReport(project=proj.name, layout=plan.layout, created_project=created)
    report.rejected.extend(_rejected(s, r) for s, r in plan.rejected)
    seen = _Seen()

    with ws.transaction() as conn:
        report.batch_id = create_batch(conn, proj.id, batch_kind, source_name, user)

    total = len(plan.images)
    readers = _Readers(n_jobs, total, (classes, padding, min_box, limits, with_labels))
    writer = PackWriter(ws)
    store = _ChunkStore(ws)
    finished = False
    try:
        # Pipelined: the readers read, hash and decode the next chunks while this thread stores chunk k (one
        # transaction); rejections are still reported in plan order.
        pending = deque()  # (images read up to the chunk's end, its last source, its submitted tasks)
        start, size = 0, _CHUNK
        while start < total or pending:
            while start < total and len(pending) < readers.in_flight:
                chunk = plan.images[start:start + size]
                start += len(chunk)
                pending.append((start, chunk[-1].source, readers.submit(chunk)))
            done, last, submitted = pending.popleft()
            prepared = readers.collect(submitted, report)
            size = _next_chunk_size(prepared, size)
            _store_chunk(store, proj, prepared, report, seen, user, with_labels, writer)
            if progress is not None:
                progress(done, total, last)
        writer.close()
        finished = True
    finally:
        store.close()
        writer.abandon()  # after a failure: what no committed row names is never written
        readers.close(finished)
    _finish(ws, proj, plan, report, user, batch_kind, source_name)
    if progress is not None and total == 0:
        progress(0, 0, "")
    return report


def _next_chunk_size(prepared, size):
    """Images in a coming chunk: about :data:`_CHUNK_BYTES` of encoded data at the mean size of ``prepared``
    (64x64 crops: 1,000 a chunk, one transaction and one ``fsync`` each; full plates: a few)."""
    sizes = [len(p.data) + sum(len(c[3]) for c in p.crops) for p in prepared if p is not None]
    if not sizes:
        return size
    return max(_CHUNK_MIN, min(_CHUNK_MAX, _CHUNK_BYTES * len(sizes) // max(1, sum(sizes))))


def _prepare_one(img, classes, padding, min_box, limits, with_labels):
    """``(prepared or None, rejections)`` of one planned image (see :func:`_prepare`)."""
    sink = _Rejections()
    return _prepare(img, classes, padding, min_box, limits, with_labels, sink), sink.rejected


class _Task(NamedTuple):
    """What a reading task needs of a :class:`~defectlab.ingest.scan.PlannedImage`, as plain values: a
    worker process unpickles tuples of strings far faster than ``Path`` objects (pickling 1,000 planned
    images took as long as reading them)."""

    source: str
    path: str
    label: str | None
    boxes: tuple | None


def _tasks(images):
    return [_Task(img.source, os.fspath(img.path), img.label, img.boxes) for img in images]


def _prepare_task(images, args):
    """A readers' task (a thread's or a worker process's): :func:`_prepare_one` of each image, in order."""
    return [_prepare_one(img, *args) for img in images]


class _Readers:
    """Who reads, hashes, decodes and cuts the chunks' images ahead of the thread that stores them.

    The storing thread itself, or, with ``n_jobs > 1`` for an import of at least :data:`MIN_PROCESS_IMAGES`
    images on a machine with more than one available core, ``n_jobs`` worker processes
    (:func:`defectlab._workers.process_pool`). Not threads: each file's checks are Python steps between the
    C calls, and reading threads waited for the GIL (measured: 2 threads were slower than none at 1,000
    crops, and no faster at 30,000).

    A worker process that dies (a decoder crash on a hostile file, the out-of-memory killer) breaks its
    pool: the images of the tasks it failed are read again one per task in a new pool, and an image that
    stops a worker again is rejected with that reason; the import goes on.
    """

    def __init__(self, n_jobs, total, args):
        self.args = args
        self.n_jobs = n_jobs
        self.processes = n_jobs > 1 and total >= MIN_PROCESS_IMAGES and available_cores() > 1
        self._pool = process_pool(n_jobs) if self.processes else None
        # chunks submitted at once: the one being stored and the next (two more for worker processes, so
        # that a slow chunk on either side does not leave the other waiting)
        self.in_flight = 4 if self.processes else 2

    def submit(self, chunk):
        """Start a chunk: ``[(images, pool, future or results)]`` in plan order (tasks of :data:`_TASK`
        images: a task's round trip costs more than reading one image)."""
        chunk = _tasks(chunk)
        if self._pool is None:
            return [(chunk, None, _prepare_task(chunk, self.args))]
        out = []
        for k in range(0, len(chunk), _TASK):
            images = chunk[k:k + _TASK]
            try:
                out.append((images, self._pool, self._pool.submit(_prepare_task, images, self.args)))
            except BrokenProcessPool:
                out.append((images, self._pool, None))  # read again by collect
        return out

    def collect(self, submitted, report):
        """The prepared images of a submitted chunk; their rejections are added to ``report`` in plan order."""
        results = []
        for images, pool, work in submitted:
            if isinstance(work, list):
                results.extend(work)
                continue
            try:
                if work is None:
                    raise BrokenProcessPool
                results.extend(work.result())
            except BrokenProcessPool:
                results.extend(self._one_by_one(images, pool))
        for _, rejected in results:
            report.rejected.extend(rejected)
        return [prep for prep, _ in results]

    def _one_by_one(self, images, broken):
        """Read ``images`` one per task; ``broken`` is the pool that failed them (replaced if still ours)."""
        out = []
        for img in images:
            if self._pool is broken:
                self._pool.shutdown(wait=True, kill_workers=True)
                self._pool = process_pool(self.n_jobs)
            try:
                out.extend(self._pool.submit(_prepare_task, [img], self.args).result())
            except BrokenProcessPool:
                broken = self._pool
                out.append((None, [_rejected(img.source, msg(
                    "ingest.reason.worker_died", "reading this image stopped the worker process that read it "
                    "(a decoder crash, or out of memory); it was not imported"))]))
        return out

    def close(self, finished=True):
        """Stop the pool; after a failure its pending tasks are cancelled (and its workers killed)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, kill_workers=not finished)
            self._pool = None


class _Rejections:
    """Collects one image's rejections (the ``report.rejected`` that :func:`_prepare` appends to)."""

    def __init__(self):
        self.rejected = []


class _ChunkStore:
    """The one connection an import's chunks are stored through (its SQLite page cache stays warm from chunk
    to chunk: a new connection per chunk re-read the index pages each time)."""

    def __init__(self, ws):
        self.ws = ws
        self._stack = contextlib.ExitStack()
        self._conn = None

    def transaction(self):
        """A ``BEGIN IMMEDIATE`` transaction on the import's connection (see :meth:`Workspace.transaction`)."""
        if self._conn is None:
            self._conn = self._stack.enter_context(self.ws.read())
            # Each chunk dirties about one page of the random-keyed sha256 index per new item. SQLite's
            # default checkpoint after every 1,000 WAL pages wrote those pages back to the database at
            # nearly every commit; at _CHECKPOINT_PAGES a page changed by several chunks is written back
            # once (100,000 crops: half the commit time). Other connections keep the default.
            self._conn.execute(f"PRAGMA wal_autocheckpoint = {_CHECKPOINT_PAGES}")
        return self.ws.transaction(conn=self._conn)

    def close(self):
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):  # the WAL goes back into the database now, not at
                self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")  # another user's next label save
        self._stack.close()
        self._conn = None


def _store_chunk(store, proj, prepared, report, seen, user, with_labels, writer):
    """Store a prepared chunk in one transaction; its new blobs go to ``writer``'s pack, synced before the
    commit.

    The checks every annotation would make are made once for the chunk, inside its transaction (which
    holds the write lock): the user may still import, and the labels are still classes of the project
    (a class renamed or removed meanwhile stops the import with the same error ``annotate`` gives). Which
    contents the project already holds is one query for the chunk, not one per image.
    """
    prepared = [p for p in prepared if p is not None]
    ws = store.ws
    with store.transaction() as conn:
        require(conn, user, "import")
        fast = _ChunkContext(conn, proj.id, prepared, user, writer)
        for prep in prepared:
            _store(conn, ws, proj, prep, report, seen, user, with_labels, fast)
        writer.start_sync()  # the disk syncs the chunk's bytes while its rows are inserted
        fast.flush(conn)
        writer.sync()  # the bytes are durable before any row naming them is committed


class _ChunkContext:
    """What a chunk's transaction knows up front: the project's classes now, its existing sample items and
    plates (by sha256) among the chunk's contents, and the pack writer new blobs go to."""

    def __init__(self, conn, project_id, prepared, user, writer):
        self.user = user
        self.writer = writer
        self._items, self._labels, self._next_id = [], [], None
        self.now = utcnow()  # the chunk's rows are committed together: one timestamp for them all
        row = conn.execute("SELECT classes FROM projects WHERE id = ?", (int(project_id),)).fetchone()
        self.classes = set(json.loads(row["classes"])) if row is not None else set()
        shas = {p.blob[0] for p in prepared}
        shas.update(c[5][0] for p in prepared if p.is_plate for c in p.crops)
        self.existing, self.plates = {}, {}
        ordered = sorted(shas)
        for start in range(0, len(ordered), 500):
            part = ordered[start:start + 500]
            for r in conn.execute(f"SELECT * FROM items WHERE project_id = ? AND role IN ('sample', 'plate') AND "
                                  f"sha256 IN ({','.join('?' * len(part))})", [int(project_id), *part]):
                (self.existing if r["role"] == "sample" else self.plates)[r["sha256"]] = r

    def add_item(self, conn, project_id, sha, rel, shape, source, batch_id, parent_id, box, box_index, label,
                 label_source):
        """Queue a new sample item (and its import annotation, checked like ``annotate``); return its id.

        The rows are inserted by :meth:`flush` with one ``executemany`` per table. Their ids are given
        explicitly: ``MAX(id) + 1`` onwards, read inside this transaction, which holds the write lock, so
        they are the ids SQLite would have chosen one ``INSERT`` at a time.
        """
        if not self._items:
            self._next_id = conn.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM items").fetchone()[0]
        item_id = self._next_id
        self._next_id += 1
        now = self.now
        w, h, c = shape
        self._items.append((item_id, int(project_id), sha, rel, int(w), int(h), int(c), str(source), batch_id,
                            parent_id, None if box is None else json.dumps([int(v) for v in box]), box_index, now))
        if label is not None:
            if label != UNUSABLE and label not in self.classes:
                raise InputError(msg("error.label.unknown", "Unknown label {label!r} for item {item_id}; the "
                                     "project's classes are: {classes}.", label=str(label), item_id=int(item_id),
                                     classes=", ".join(sorted(self.classes))))
            self._labels.append((item_id, label, self.user, label_source, now))
        return item_id

    def flush(self, conn):
        """Insert the queued items and annotations (before any other statement that may read them)."""
        if self._items:
            _insert_rows(conn, "INSERT INTO items (id, project_id, role, sha256, blob, width, height, channels, "
                         "source, batch_id, parent_id, box, box_index, meta, created_at) VALUES ",
                         "(?, ?, 'sample', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '{}', ?)", self._items)
            self._items = []
        if self._labels:
            _insert_rows(conn, "INSERT INTO annotations (item_id, label, user, source, created_at) VALUES ",
                         "(?, ?, ?, ?, ?)", self._labels)
            self._labels = []


def _insert_rows(conn, head, values, rows):
    """``head`` + ``values`` for each of ``rows``, as multi-row ``INSERT`` statements.

    ``executemany`` runs one statement per row and releases the GIL around each: beside the reading
    threads (which hold it while they run Python) every row waited to get it back, and the inserts of an
    import took three times as long as alone. A statement of a few hundred rows waits once. Rows per
    statement stay within SQLite's limit on ``?`` parameters (999 on old builds, 32,766 on new ones)."""
    per = max(1, min(_ROWS_PER_INSERT, conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // len(rows[0])))
    for start in range(0, len(rows), per):
        part = rows[start:start + per]
        conn.execute(head + ", ".join([values] * len(part)), [v for row in part for v in row])


_MAX_REJECTED_KEPT = 1000


def _finish(ws, proj, plan, report, user, batch_kind, source_name):
    """Close the batch with its summary and log the import."""
    with ws.transaction() as conn:
        finish_batch(conn, report.batch_id, {k: v for k, v in report.to_dict().items()
                                             if k not in ("rejected", "conflicts")}
                     | {"n_rejected": len(report.rejected), "n_conflicts": len(report.conflicts),
                        # the files refused, named with why (a batch's CSV lists them too), at most 1,000
                        "rejected_files": [{"source": str(r["source"])[:500], "reason": str(r["reason"])[:500]}
                                           for r in report.rejected[:_MAX_REJECTED_KEPT]]})
        log_action(conn, user, f"{batch_kind}.batch", proj.id, source_name,
                   {"batch_id": report.batch_id, "imported": report.imported,
                    "duplicates": report.duplicates, "rejected": len(report.rejected),
                    "conflicts": len(report.conflicts), "layout": plan.layout})


@dataclass
class _Prepared:
    source: str
    data: bytes
    ext: str
    image: tuple  # (width, height, channels): the pixels are not kept once checked and cut
    label: str | None
    crops: list  # [(index, box_tuple, label, png_bytes, crop_shape, (sha, blob))]
    is_plate: bool
    blob: tuple = None  # (sha256, None): the blob is written (packed) only when a new row names it


def _prepare(img, classes, padding, min_box, limits, with_labels, report):
    """Read, decode and cut one planned image outside any transaction; None when rejected."""
    try:
        data = read_image_bytes(img.path, limits=limits, source=img.source)
        image = decode_image(data, source=img.source, limits=limits)
    except ImageError as exc:
        report.rejected.append(_rejected(exc.source, exc.reason))
        return None
    label = img.label if with_labels else None
    if label is not None and label not in classes and label != UNUSABLE:
        report.rejected.append(_rejected(img.source, _unknown_label(label, classes)))
        return None
    crops = []
    is_plate = img.boxes is not None
    if is_plate:
        h, w = image.shape[:2]
        for index, box in img.boxes:
            box_source = f"{img.source}#{index}"
            valid, reason = validate_box(box, w, h, min_size=min_box)
            if valid is None:
                report.rejected.append(_rejected(box_source, reason))
                continue
            blabel = valid.label if with_labels else None
            if blabel is not None and blabel not in classes and blabel != UNUSABLE:
                report.rejected.append(_rejected(box_source, _unknown_label(blabel, classes)))
                continue
            xyxy = _padded(valid, padding, w, h)
            crop = crop_box(image, xyxy)
            png = encode_png(crop)
            crops.append((index, xyxy, blabel, png, _image_shape(crop), (hashlib.sha256(png).hexdigest(), None)))
    ext = _ext(img.path)
    return _Prepared(img.source, data, ext, _image_shape(image), label, crops, is_plate,
                     blob=(hashlib.sha256(data).hexdigest(), None))


def _rejected(source, reason):
    """A row of ``ImportReport.rejected``: the English ``reason`` and, for a translatable
    :class:`~defectlab.messages.Message`, its ``reason_key`` and ``reason_args``."""
    return {"source": source, "reason": reason, **message_fields(reason)}


def _unknown_label(label, classes):
    problem = class_name_problem(str(label).strip())
    if problem is not None:  # it could not be added as a class either: say why
        return msg("ingest.reason.label_not_a_class_name", "label {label} cannot be a class name: {reason}",
                   label=repr(label)[:60], reason=problem)
    return msg("ingest.reason.unknown_label",
               "label {label} is not a class of this project (classes: {classes}); add the class to the "
               "project or fix the label", label=repr(label), classes=", ".join(sorted(classes)))


def _padded(box, padding, width, height):
    x0, y0, x1, y1 = box.x0, box.y0, box.x1, box.y1
    if padding:
        dx, dy = (x1 - x0) * padding, (y1 - y0) * padding
        x0, y0, x1, y1 = x0 - dx, y0 - dy, x1 + dx, y1 + dy
    x0, y0 = max(0, round(x0)), max(0, round(y0))
    x1, y1 = min(width, round(x1)), min(height, round(y1))
    return (x0, y0, x1, y1)


def _image_shape(image):
    """``(width, height, channels)`` of an image array (a tuple is already that: prepared images keep only
    their shape, not their pixels, until stored)."""
    if isinstance(image, tuple):
        return image
    h, w = image.shape[:2]
    return w, h, (1 if image.ndim == 2 else image.shape[2])


def _store(conn, ws, proj, prep, report, seen, user, with_labels, fast=None):
    if prep.is_plate:
        sha, rel = prep.blob
        existing = find_item(conn, proj.id, sha, role="plate") if fast is None else fast.plates.get(sha)
        w, h, c = _image_shape(prep.image)
        if existing is None:
            rel = _write_blob(ws, fast, prep.data, prep.ext, sha, rel)
            if fast is not None:
                fast.flush(conn)  # the plate takes the next id: the queued rows first
            plate_id = add_item(conn, proj.id, sha256=sha, blob=rel, width=w, height=h, channels=c,
                                source=prep.source, batch_id=report.batch_id, role="plate")
            report.plates += 1
        else:
            plate_id = existing["id"]
        if fast is not None and existing is None:
            fast.plates[sha] = {"id": plate_id}
        for index, xyxy, label, png, crop, blob in prep.crops:
            _store_sample(conn, ws, proj, f"{prep.source}#{index}", png, "png", crop, label, report,
                          seen, user, with_labels, parent_id=plate_id, box=xyxy, box_index=index, blob=blob,
                          fast=fast)
    else:
        _store_sample(conn, ws, proj, prep.source, prep.data, prep.ext, prep.image, prep.label, report,
                      seen, user, with_labels, blob=prep.blob, fast=fast)


def _store_sample(conn, ws, proj, source, data, ext, image, label, report, seen, user, with_labels,
                  parent_id=None, box=None, box_index=None, label_source="import", blob=None, note=None,
                  fast=None):
    sha, rel = blob if blob is not None else (hashlib.sha256(data).hexdigest(), None)
    first = seen.by_sha.get(sha)
    existing = find_item(conn, proj.id, sha) if fast is None else fast.existing.get(sha)
    if first is not None or existing is not None:
        if fast is not None:
            fast.flush(conn)  # the duplicate's checks may read the rows queued so far
        _store_duplicate(conn, ws, sha, source, label, first, existing, report, seen, user, with_labels,
                         label_source, note)
        return
    rel = _write_blob(ws, fast, data, ext, sha, rel)
    if fast is not None and not note:
        item_id = fast.add_item(conn, proj.id, sha, rel, _image_shape(image), source, report.batch_id, parent_id,
                                box, box_index, label if with_labels else None, label_source)
    else:
        w, h, c = _image_shape(image)
        item_id = add_item(conn, proj.id, sha256=sha, blob=rel, width=w, height=h, channels=c, source=source,
                           batch_id=report.batch_id, parent_id=parent_id, box=box, box_index=box_index)
        if label is not None and with_labels:
            annotate(ws, item_id, label, user=user, source=label_source, conn=conn, **(note or {}))
    seen.by_sha[sha] = (item_id, source, label)
    report.imported += 1
    report.item_ids.append(item_id)
    report.batch_items.append((source, item_id, False))


def _write_blob(ws, fast, data, ext, sha, rel):
    """The stored reference of new content: ``rel`` when already written, else appended to the chunk's
    pack (a bulk import) or written as a loose blob (crops cut one by one)."""
    if rel is not None:
        return rel
    return fast.writer.add(data, ext, sha)[1] if fast is not None else ws.put_blob(data, ext)[1]


def _store_duplicate(conn, ws, sha, source, label, first, existing, report, seen, user, with_labels,
                     label_source, note=None):
    """Content already seen in this import (``first``) or stored (``existing``): a duplicate, a conflict
    when the labels differ, or the first label of an unlabeled item."""
    report.duplicates += 1
    item_id = first[0] if first is not None else existing["id"]
    if existing is not None and existing["deleted_at"]:
        return  # a deleted item stays deleted; re-importing it is a no-op
    report.batch_items.append((source, item_id, True))
    other_label = first[2] if first is not None else current_label(ws, item_id, conn=conn).label
    other_source = first[1] if first is not None else existing["source"]
    if label is not None and other_label is not None and label != other_label:
        conflict = {"sources": [other_source, source], "labels": [other_label, label],
                    "item_id": item_id}
        report.conflicts.append(conflict)
        conn.execute(
            "INSERT INTO import_conflicts (item_id, batch_id, sources, labels, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (item_id, report.batch_id, json.dumps(conflict["sources"], ensure_ascii=False),
             json.dumps(conflict["labels"], ensure_ascii=False), utcnow()))
    elif label is not None and other_label is None and with_labels:
        annotate(ws, item_id, label, user=user, source=label_source, conn=conn, **(note or {}))
        seen.by_sha[sha] = (item_id, source, label)


MIN_DRAWN_BOX = 8
"""Smallest side (pixels) of a box drawn by hand: a click without a drag is not a defect crop."""


def add_crops(ws, project, plate_item_id, boxes, user="local", padding=0.0, min_box=MIN_DRAWN_BOX):
    """Cut new crops from a stored plate image (the Cut-crops page), exactly like imported VOC boxes.

    Parameters
    ----------
    ws : Workspace
    project : str or Project
    plate_item_id : int
        An item of role ``plate`` (or any stored image of the project).
    boxes : list of (label or None, x0, y0, x1, y1)
        Pixel boxes; ``label`` None leaves the crop unlabeled.

    Returns
    -------
    ImportReport
        ``item_ids`` are the new crops; boxes that are invalid (smaller than ``min_box`` pixels on a
        side, outside the image) or that already exist on this plate are listed in ``rejected``.
    """
    from ..store import get_item, load_item_image

    proj = get_project(ws, project)
    plate = get_item(ws, plate_item_id)
    if plate["project_id"] != proj.id:
        raise InputError(msg("error.importer.item_belongs_another_project",
                "Item {plate_item_id} belongs to another project.",
                plate_item_id=plate_item_id))
    image = load_item_image(ws, plate)
    report = ImportReport(project=proj.name, layout="boxes")
    with ws.transaction() as conn:
        require(conn, user, "cut_crops")
        _cut_crops(conn, ws, proj, plate, image, boxes, report, user, padding=padding, min_box=min_box)
        log_action(conn, user, "crops.add", proj.id, plate["source"],
                   {"plate_item_id": plate["id"], "added": report.imported})
    return report


def _cut_crops(conn, ws, proj, plate, image, boxes, report, user, padding=0.0, min_box=MIN_DRAWN_BOX,
               label_source="human", note=None):
    """Store crops of ``boxes`` cut from ``plate`` inside the caller's transaction (the caller checked the
    role); invalid, unknown-label and already-existing boxes go to ``report.rejected``. ``note`` holds extra
    keyword arguments of the crops' annotations (``comment``, ``run_id``)."""
    from .boxes import Box

    h, w = image.shape[:2]
    report.batch_id = create_batch(conn, proj.id, "crop", plate["source"], user)
    start = conn.execute("SELECT COALESCE(MAX(box_index) + 1, 0) FROM items WHERE parent_id = ?",
                         (plate["id"],)).fetchone()[0]
    seen = _Seen()
    existing = {tuple(json.loads(r[0])): r[1] for r in conn.execute(
        "SELECT box, box_index FROM items WHERE parent_id = ? AND deleted_at IS NULL AND box IS NOT NULL",
        (plate["id"],))}
    for k, (label, x0, y0, x1, y1) in enumerate(boxes):
        index = start + k
        src = f"{plate['source']}#{index}"
        valid, reason = validate_box(Box(label, x0, y0, x1, y1), w, h, min_size=min_box)
        if valid is None:
            report.rejected.append(_rejected(src, reason))
            continue
        if label is not None and label not in proj.classes:
            report.rejected.append(_rejected(src, _unknown_label(label, set(proj.classes))))
            continue
        xyxy = _padded(valid, padding, w, h)
        key = tuple(int(v) for v in xyxy)
        if key in existing:
            report.rejected.append(_rejected(src, msg(
                "ingest.reason.box_exists", "this box already exists on the plate (box {index})",
                index=existing[key] + 1)))  # numbered from 1, as the pages show them
            continue
        existing[key] = index
        crop = crop_box(image, xyxy)
        _store_sample(conn, ws, proj, src, encode_png(crop), "png", crop, label, report, seen, user,
                      True, parent_id=plate["id"], box=xyxy, box_index=index, label_source=label_source, note=note)
    return report


_PLATE_PURPOSES = {"cut": "cut_crops", "predict": "predict"}


def add_plate(ws, project, data, name, user="local", limits=DEFAULT_LIMITS, purpose="cut"):
    """Store one full plate image (to cut crops from by hand) and return its item id.

    Parameters
    ----------
    ws : Workspace
    project : str or Project
    data : bytes
        The file's bytes (an upload); decoded first, so a corrupt file is refused with its reason.
    name : str
        The file name shown as the plate's ``source`` (only its last path component is kept).
    user : str
        Needs the ``cut_crops`` permission, or ``predict`` when ``purpose`` is ``"predict"``.
    purpose : {"cut", "predict"}, default "cut"
        ``"cut"``: to cut crops from by hand (Cut crops page); ``"predict"``: a full image uploaded on the
        Predict page to locate defects on (a line supervisor may; the audit row records the purpose).

    Returns
    -------
    (int, bool)
        The plate's item id and whether it was new (the same picture uploaded again is reused).
    """
    if purpose not in _PLATE_PURPOSES:
        raise InputError(msg("error.importer.plate_purpose", "The 'purpose' parameter of add_plate must be 'cut' or "
                             "'predict'. Got {purpose}.", purpose=repr(purpose)))
    action = _PLATE_PURPOSES[purpose]
    with ws.read() as conn:  # the role first: a refused user's upload is never decoded
        require(conn, user, action)
    proj = get_project(ws, project)
    name = Path(str(name).replace("\\", "/")).name or "plate.png"
    image = decode_image(data, source=name, limits=limits)
    w, h, c = _image_shape(image)
    sha, rel = ws.put_blob(data, _ext(name))
    with ws.transaction() as conn:
        require(conn, user, action)
        existing = find_item(conn, proj.id, sha, role="plate")
        if existing is not None:
            return int(existing["id"]), False
        batch = create_batch(conn, proj.id, "crop", name, user)
        item_id = add_item(conn, proj.id, sha256=sha, blob=rel, width=w, height=h, channels=c, source=name,
                           batch_id=batch, role="plate")
        log_action(conn, user, "plate.add", proj.id, name,
                   {"width": w, "height": h, "item_id": item_id, "purpose": purpose})
    return item_id, True
