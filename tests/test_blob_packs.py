"""Packed blobs (issue 11, import at plant scale): an import appends its images to pack files; every reader
(images, export, backup, check, Dask workers) resolves the references; old loose blobs keep working; a
tampered reference or a damaged pack is a clear rejection, never a read outside the pack."""

import errno
import hashlib
import os
import time
import tracemalloc

import cv2
import numpy as np
import pytest
from synthetic import texture_image, write_voc_plates

from defectlab.errors import InputError, NotFoundError, StorageError
from defectlab.export import export_project
from defectlab.ingest import import_source
from defectlab.store import (
    add_item,
    annotate,
    create_project,
    get_project,
    items_frame,
    load_item_image,
    open_workspace,
    packs,
)
from defectlab.store.maintenance import backup_workspace, check_workspace, clean_leftovers
from defectlab.store.packs import MAX_PACKED_BLOB, PackWriter, parse_ref

CLASSES = ("dark", "stripes", "spots")
SHA0 = "0" * 64


def _tree(root, n=12, seed=0):
    rng = np.random.default_rng(seed)
    for k in range(n):
        kind = CLASSES[k % 3]
        (root / kind).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / kind / f"{kind}_{k}.png"), texture_image(kind, rng))
    return root


def _files(ws):
    return sorted(p.relative_to(ws.blobs_dir).as_posix() for p in ws.blobs_dir.rglob("*") if p.is_file())


def _blobs(ws, project="P"):
    with ws.read() as conn:
        return [tuple(r) for r in conn.execute(
            "SELECT i.id, i.sha256, i.blob, i.source FROM items i JOIN projects p ON p.id = i.project_id "
            "WHERE p.name = ? ORDER BY i.id", (project,))]


def _set_blob(ws, item_id, blob):
    with ws.transaction() as conn:
        conn.execute("UPDATE items SET blob = ? WHERE id = ?", (blob, item_id))


@pytest.fixture
def packed(tmp_path):
    """A workspace with 12 imported (packed) crops, and the source folder."""
    src = _tree(tmp_path / "src")
    ws = open_workspace(tmp_path / "ws")
    report = import_source(ws, "P", src)
    assert report.imported == 12
    return ws, src


# ------------------------------------------------------------------ writing and reading
def test_import_writes_one_pack_and_every_image_reads_back_exactly(packed):
    ws, src = packed
    assert [f.split("/")[0] for f in _files(ws)] == ["packs"]  # no file per image
    rows = _blobs(ws)
    refs = [parse_ref(b) for _, _, b, _ in rows]
    assert len({r.pack for r in refs}) == 1
    assert sorted((r.offset, r.length) for r in refs)[0][0] == 0
    for (_, sha, blob, source), ref in zip(rows, refs, strict=True):
        data = (src / source).read_bytes()
        assert ws.read_blob(blob) == data and ref.sha256 == sha == hashlib.sha256(data).hexdigest()
        assert ws.blob_size(blob) == len(data) and blob.endswith(f"/{sha}.png")
    assert sum(r.length for r in refs) == (ws.blobs_dir / "packs" / f"{refs[0].pack}.pack").stat().st_size
    img = load_item_image(ws, rows[0][0])
    assert img.shape == (48, 48)
    assert check_workspace(ws)["ok"]


def test_same_content_again_writes_no_byte(packed):
    ws, src = packed
    before = {f: (ws.blobs_dir / f).stat().st_size for f in _files(ws)}
    again = import_source(ws, "P", src)
    assert again.imported == 0 and again.duplicates == 12
    assert {f: (ws.blobs_dir / f).stat().st_size for f in _files(ws)} == before


def test_plates_and_their_crops_are_packed_and_not_rewritten(tmp_path):
    src = tmp_path / "voc"
    write_voc_plates(src, 3)
    ws = open_workspace(tmp_path / "ws")
    create_project(ws, "P", ["crazing", "inclusion", "scratches", "patches", "pitted_surface",
                             "rolled-in_scale"])
    first = import_source(ws, "P", src, layout="voc")
    assert first.plates == 3 and first.imported > 3
    plates = items_frame(ws, 1, role="plate")
    assert all(packs.is_packed(b) for b in plates["blob"])
    assert all(ws.read_blob(b) == (src / s).read_bytes() for b, s in zip(plates["blob"], plates["source"],
                                                                         strict=True))
    sizes = {f: (ws.blobs_dir / f).stat().st_size for f in _files(ws)}
    import_source(ws, "P", src, layout="voc")
    assert {f: (ws.blobs_dir / f).stat().st_size for f in _files(ws)} == sizes
    assert check_workspace(ws)["ok"]


def test_writer_rolls_over_and_keeps_big_blobs_loose(tmp_path, monkeypatch):
    ws = open_workspace(tmp_path / "ws")
    with PackWriter(ws, roll_bytes=10) as w:
        refs = [w.add(bytes([k]) * 6, "png")[1] for k in range(3)]
        w.sync()
        assert [ws.read_blob(r) for r in refs] == [bytes([k]) * 6 for k in range(3)]
    assert len({parse_ref(r).pack for r in refs}) == 3 and len(w.packs) == 3
    monkeypatch.setattr(packs, "MAX_PACKED_BLOB", 4)
    with PackWriter(ws) as w:
        sha, rel = w.add(b"12345", "PNG")
    assert rel == f"blobs/{sha[:2]}/{sha}.png" and ws.read_blob(rel) == b"12345"
    with PackWriter(ws) as w:
        assert w.add(b"odd extension", "p/../ng")[1].startswith("blobs/")  # only a plain ext goes to a pack


def test_loose_blobs_of_older_workspaces_keep_working_beside_packs(tmp_path):
    ws = open_workspace(tmp_path / "ws")
    proj = create_project(ws, "P", list(CLASSES))
    img = texture_image("dark", np.random.default_rng(9))
    sha, rel = ws.put_blob(cv2.imencode(".png", img)[1].tobytes(), "png")
    with ws.transaction() as conn:
        old = add_item(conn, proj.id, sha256=sha, blob=rel, width=48, height=48, channels=1, source="old.png")
    annotate(ws, old, "dark", source="import")
    import_source(ws, "P", _tree(tmp_path / "src", n=6))
    blobs = [b for _, _, b, _ in _blobs(ws)]
    assert blobs[0] == rel and all(packs.is_packed(b) for b in blobs[1:])
    assert np.array_equal(load_item_image(ws, old), img)
    report = check_workspace(ws)
    assert report["ok"] and report["blobs"]["checked"] == 7


def test_blob_path_refuses_packed_references(packed):
    ws, _ = packed
    blob = _blobs(ws)[0][2]
    with pytest.raises(InputError, match="pack file"):
        ws.blob_path(blob)


# ------------------------------------------------------------------ an attacker's references
def _ref(pack, offset, length, sha=SHA0, ext="png"):
    return f"blobs/packs/{pack}.pack/{offset}+{length}/{sha}.{ext}"


def test_tampered_references_are_refused_before_any_read(packed):
    ws, _ = packed
    item_id, sha, blob, _ = _blobs(ws)[0]
    ref = parse_ref(blob)
    size = (ws.blobs_dir / ref.pack_rel.split("/", 1)[1]).stat().st_size
    bad = {
        "past the end": (_ref(ref.pack, size - 2, 10, sha), "outside the pack"),
        "huge length": (_ref(ref.pack, 0, 999_999_999, sha), "over the"),
        "offset far away": (_ref(ref.pack, 10**11, 1, sha), "outside the pack"),
        "wrong sha": (_ref(ref.pack, ref.offset, ref.length, SHA0), "do not match"),
        "shifted range": (_ref(ref.pack, ref.offset + 1, ref.length - 1, sha), "do not match"),
    }
    for name, (tampered, reason) in bad.items():
        _set_blob(ws, item_id, tampered)
        tracemalloc.start()
        try:
            with pytest.raises(StorageError, match=reason) as exc:
                load_item_image(ws, item_id)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert tampered.split("/")[2] in str(exc.value), name
        assert peak < 1_000_000, name  # refused before anything the size of the claimed range is allocated
    for tampered in (f"blobs/packs/../../defectlab.sqlite/0+10/{SHA0}.png",
                     _ref("../" + "0" * 29, 0, 1), _ref(ref.pack, -1, 5), _ref(ref.pack, 0, "1e3"),
                     _ref(ref.pack.upper(), 0, 5), _ref(ref.pack, 0, 5) + "/x", "blobs/packs/",
                     _ref(ref.pack, 0, 5, ext="png\n"), _ref(ref.pack, "0" * 13, 5)):
        with pytest.raises(StorageError, match="damaged"):
            ws.read_blob(tampered)
    with pytest.raises(NotFoundError, match="missing"):
        ws.read_blob(_ref("f" * 32, 0, 5))
    report = check_workspace(ws)
    assert not report["ok"] and report["blobs"]["n_mismatched"] == 1


def test_a_symlinked_pack_is_not_followed(packed, tmp_path):
    ws, _ = packed
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"top secret bytes")
    link = ws.blobs_dir / "packs" / ("a" * 32 + ".pack")
    link.symlink_to(secret)
    sha = hashlib.sha256(b"top secret").hexdigest()
    with pytest.raises(StorageError, match="cannot be opened"):
        ws.read_blob(_ref("a" * 32, 0, 10, sha))


# ------------------------------------------------------------------ damage, interruption, repair
def test_check_finds_a_truncated_a_corrupted_and_a_missing_pack(packed):
    ws, _src = packed
    rows = _blobs(ws)
    ref = parse_ref(rows[0][2])
    pack = ws.blobs_dir / "packs" / f"{ref.pack}.pack"
    last = max(rows, key=lambda r: parse_ref(r[2]).offset)
    first = min(rows, key=lambda r: parse_ref(r[2]).offset)
    with open(pack, "r+b") as fh:
        fh.truncate(parse_ref(last[2]).offset + 3)  # the last image cut short
        fh.seek(parse_ref(first[2]).offset + 20)
        fh.write(b"\xff")  # one byte of the first image flipped
    report = check_workspace(ws)
    assert not report["ok"] and report["blobs"]["n_mismatched"] == 2
    assert {b["item_id"] for b in report["blobs"]["mismatched"]} == {last[0], first[0]}
    with pytest.raises(StorageError, match="outside the pack"):
        load_item_image(ws, last[0])
    pack.unlink()
    report = check_workspace(ws)
    assert report["blobs"]["n_missing"] == 12 and not report["ok"]


def test_an_import_killed_mid_way_leaves_nothing_referenced_off_disk(tmp_path, monkeypatch):
    from defectlab.ingest import importer

    monkeypatch.setattr(importer, "_CHUNK", 5)
    src = _tree(tmp_path / "src", n=12)
    ws = open_workspace(tmp_path / "ws")
    real_sync, calls = PackWriter.sync, []

    def dying_sync(self):
        calls.append(1)
        if len(calls) == 2:  # the second chunk: the process "dies" with its bytes half written
            os.write(self._fd, b"half an ima")
            raise OSError(errno.EIO, "killed")
        real_sync(self)

    monkeypatch.setattr(PackWriter, "sync", dying_sync)
    with pytest.raises(OSError):
        import_source(ws, "P", src)
    monkeypatch.undo()
    rows = _blobs(ws)
    assert len(rows) == 5  # the first chunk only; its bytes were synced before its rows were committed
    report = check_workspace(ws)
    assert report["ok"] and report["blobs"]["checked"] == 5 and report["leftovers"] == []
    assert import_source(ws, "P", src).imported == 7  # a second run completes it
    assert check_workspace(ws)["ok"]


def test_a_pack_no_row_names_is_a_leftover_removed_by_repair_once_stale(packed):
    ws, _ = packed
    with PackWriter(ws) as w:
        w.add(b"orphan bytes", "png")  # written and synced, but its import died before committing
    orphan = ws.blobs_dir / w.packs[0].split("/", 1)[1]
    assert orphan.exists()
    report = check_workspace(ws)
    assert report["leftovers"] == [w.packs[0]] and report["ok"]
    assert clean_leftovers(ws, deep=True) == []  # young: it may belong to an import still running
    old = time.time() - 2 * 3600
    os.utime(orphan, (old, old))
    assert check_workspace(ws, repair=True)["repaired"] == [w.packs[0]]
    assert not orphan.exists()
    used = {parse_ref(b).pack for _, _, b, _ in _blobs(ws)}
    for p in (ws.blobs_dir / "packs").iterdir():  # referenced packs are never removed, however old
        assert p.stem in used
    assert check_workspace(ws)["ok"]


# ------------------------------------------------------------------ readers
def test_export_and_backup_of_packed_images(packed, tmp_path):
    ws, src = packed
    out = export_project(ws, "P", "imagefolder", tmp_path / "folders")
    assert out["exported"] == 12
    exported = sorted((tmp_path / "folders").rglob("*.png"))
    assert sorted(p.read_bytes() for p in exported) == sorted(p.read_bytes() for p in src.rglob("*.png"))
    export_project(ws, "P", "csv", tmp_path / "one" / "labels.csv")
    lines = (tmp_path / "one" / "labels.csv").read_text(encoding="utf-8-sig").splitlines()[1:]
    paths = [line.split(",")[0] for line in lines]
    assert len(paths) == 12 and all((tmp_path / "one" / p).is_file() and p.startswith("labels_images/") for p in paths)
    reimport = open_workspace(tmp_path / "again")
    assert import_source(reimport, "P", tmp_path / "one", layout="csv").imported == 12
    backup = backup_workspace(ws, tmp_path / "backup")
    assert backup["blobs"] == 1  # one pack file
    copy = open_workspace(tmp_path / "backup")
    assert check_workspace(copy)["ok"]
    assert [copy.read_blob(b) for _, _, b, _ in _blobs(copy)] == [ws.read_blob(b) for _, _, b, _ in _blobs(ws)]


def test_dask_worker_task_reads_packed_and_loose_blobs(packed):
    from defectlab.features import extract, get_spec
    from defectlab.imaging import decode_image
    from defectlab.learn.distributed import _extract_blob_batch

    ws, _ = packed
    blobs = [b for _, _, b, _ in _blobs(ws)]
    _sha, loose = ws.put_blob(ws.read_blob(blobs[0]), "png")
    spec = get_spec("default")
    root = str(ws.root.resolve())
    rows = _extract_blob_batch([(root, b) for b in [*blobs, loose]], spec.to_json())
    images = [decode_image(ws.read_blob(b), source="x.png") for b in [*blobs, loose]]
    assert rows.tobytes() == extract(images, spec, n_jobs=1).tobytes()
    assert np.array_equal(rows[0], rows[-1])
    pack = parse_ref(blobs[0]).pack
    with pytest.raises(StorageError, match="over the"):
        _extract_blob_batch([(root, _ref(pack, 0, 10**9 - 1))], spec.to_json())


def test_reference_format_is_documented_and_bounded():
    ref = parse_ref(_ref("a" * 32, 12, 34, "b" * 64, "tiff"))
    assert (ref.pack, ref.offset, ref.length, ref.ext) == ("a" * 32, 12, 34, "tiff")
    assert ref.rel == _ref("a" * 32, 12, 34, "b" * 64, "tiff")
    assert MAX_PACKED_BLOB == 64 * 1024 * 1024


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_among_the_images_is_rejected_without_blocking(tmp_path):
    src = _tree(tmp_path / "src", n=3)
    os.mkfifo(src / "dark" / "pipe.png")  # opening it for reading would wait for a writer forever
    ws = open_workspace(tmp_path / "ws")
    t = time.perf_counter()
    report = import_source(ws, "P", src)
    assert time.perf_counter() - t < 30
    assert report.imported == 3 and report.rejected == []  # the walk lists regular files only
    from defectlab.errors import ImageError
    from defectlab.imaging import read_image_bytes

    with pytest.raises(ImageError, match="not an image file"):  # named directly (a CSV row, one file)
        read_image_bytes(src / "dark" / "pipe.png")
    assert time.perf_counter() - t < 30


def test_chunks_follow_the_bytes_and_progress_reaches_the_total(tmp_path, monkeypatch):
    """Chunks after the first are sized from the encoded bytes seen (small crops: bigger chunks, fewer
    transactions and fsyncs; big images: fewer at a time); progress rises to the total either way."""
    from defectlab.ingest import importer

    monkeypatch.setattr(importer, "_CHUNK", 4)
    monkeypatch.setattr(importer, "_CHUNK_BYTES", 6 * 1400)  # about 6 of these ~1.4 KB crops a chunk
    src = _tree(tmp_path / "src", n=30)
    ws = open_workspace(tmp_path / "ws")
    calls = []
    report = import_source(ws, "P", src, progress=lambda done, total, name: calls.append((done, total, name)))
    assert report.imported == 30
    done = [c[0] for c in calls]
    assert done[0] == 4 and done[-1] == 30 and done == sorted(set(done))
    assert {c[1] for c in calls} == {30} and all(c[2] for c in calls)
    assert 1 < len(calls) < 30 / 4 + 1  # later chunks were bigger than the first
    assert importer._next_chunk_size([None], 7) == 7
    assert check_workspace(ws)["ok"]


def test_labeler_sends_the_original_bytes_of_a_packed_image(packed, monkeypatch):
    """The in-browser labeling surface sends small originals as they are: read from the pack."""
    import base64

    from defectlab.store import get_item
    from defectlab.ui import common, labeler

    ws, src = packed
    item_id, _sha, _blob, source = _blobs(ws)[0]
    monkeypatch.setattr(common, "workspace", lambda: ws)
    url = labeler._data_url(get_item(ws, item_id), grid=False)
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == (src / source).read_bytes()


def test_a_failed_background_sync_rolls_the_chunk_back(tmp_path, monkeypatch):
    """The chunk's fsync runs on a helper thread while its rows are inserted; its failure still stops the
    chunk before COMMIT (the error reaches the importer), so no row names unsynced bytes."""
    from defectlab.ingest import importer
    from defectlab.store import packs as packs_mod

    monkeypatch.setattr(importer, "_CHUNK", 5)
    src = _tree(tmp_path / "src", n=12)
    ws = open_workspace(tmp_path / "ws")
    real_fsync, calls = os.fsync, []

    def failing_fsync(fd):
        calls.append(fd)
        if len(calls) == 3:  # chunk 1 synced its pack and the new pack's folder; chunk 2's pack fails
            raise OSError(errno.EIO, "disk gone")
        real_fsync(fd)

    monkeypatch.setattr(packs_mod.os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="disk gone"):
        import_source(ws, "P", src)
    monkeypatch.undo()
    assert len(_blobs(ws)) == 5 and check_workspace(ws)["ok"]
    assert import_source(ws, "P", src).imported == 7 and check_workspace(ws)["ok"]


def test_start_sync_then_abandon_waits_for_the_thread(tmp_path):
    ws = open_workspace(tmp_path / "ws")
    writer = PackWriter(ws)
    _, ref = writer.add(b"x" * 100, "png")
    writer.start_sync()
    writer.abandon()  # closes the descriptor only after the thread wrote and synced through it
    assert ws.read_blob(ref) == b"x" * 100
    writer = PackWriter(ws)
    _, ref2 = writer.add(b"y" * 50, "png")
    writer.start_sync()
    writer.sync()  # waits, nothing left pending
    writer.close()
    assert packs.read_packed(ws, ref2) == b"y" * 50


def test_import_rows_are_inserted_in_statements_within_sqlite_parameter_limit(tmp_path, monkeypatch):
    """Multi-row INSERTs: a build of SQLite with a small parameter limit gets more, smaller statements and
    the same rows (ids in import order, every label)."""
    import sqlite3

    from defectlab.ingest import importer

    rows = [(k, f"s{k}", k * 2) for k in range(10)]
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (a INTEGER, b TEXT, c INTEGER)")
    conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 7)  # two rows of three a statement
    statements = []
    conn.set_trace_callback(statements.append)
    importer._insert_rows(conn, "INSERT INTO t (a, b, c) VALUES ", "(?, ?, ?)", rows)
    assert conn.execute("SELECT a, b, c FROM t ORDER BY a").fetchall() == rows
    assert len([s for s in statements if s.startswith("INSERT")]) == 5

    monkeypatch.setattr(importer, "_ROWS_PER_INSERT", 4)
    src = _tree(tmp_path / "src", n=12)
    ws = open_workspace(tmp_path / "ws")
    report = import_source(ws, "P", src)
    assert report.imported == 12 and report.item_ids == sorted(report.item_ids)
    frame = items_frame(ws, get_project(ws, "P").id)
    assert sorted(frame["label"]) == sorted(CLASSES * 4)
    assert all(src_name.split("/")[0] == label for src_name, label in zip(frame["source"], frame["label"], strict=True))


def test_large_imports_read_in_worker_processes_with_the_same_result(tmp_path, monkeypatch):
    """From MIN_PROCESS_IMAGES images the files are read, checked and decoded in worker processes; the stored
    rows, blobs and rejections are those of the one-thread import."""
    from defectlab.ingest import importer

    src = _tree(tmp_path / "src", n=40)
    (src / "dark" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    monkeypatch.setattr(importer, "MIN_PROCESS_IMAGES", 10)
    monkeypatch.setattr(importer, "_TASK", 4)
    monkeypatch.setattr(importer, "available_cores", lambda: 2)
    used = []
    real = importer._Readers.__init__

    def spy(self, *a, **k):
        real(self, *a, **k)
        used.append(self.processes)

    monkeypatch.setattr(importer._Readers, "__init__", spy)
    reports = {}
    for jobs in (1, 2):
        ws = open_workspace(tmp_path / f"ws{jobs}")
        reports[jobs] = (import_source(ws, "P", src, n_jobs=jobs), ws)
    assert used == [False, True]
    one, two = reports[1][0], reports[2][0]
    assert one.to_dict() | {"batch_id": None} == two.to_dict() | {"batch_id": None}
    assert [r["source"] for r in two.rejected] == ["dark/broken.png"]
    strip = [(sha, source) for _, sha, _, source in _blobs(reports[1][1])]
    assert strip == [(sha, source) for _, sha, _, source in _blobs(reports[2][1])]
    assert check_workspace(reports[2][1])["ok"]


def test_an_image_that_kills_its_worker_process_is_rejected_and_the_import_goes_on(tmp_path, monkeypatch):
    """A decoder crash (or the out-of-memory killer) on one file stops its worker process: the images of the
    failed tasks are read again one by one in a new pool, the culprit is rejected with that reason, every other
    image is imported."""
    import _import_worker_crash

    from defectlab.ingest import importer

    src = _tree(tmp_path / "src", n=30)
    (src / "dark" / "dark_0.png").rename(src / "dark" / "die_0.png")
    monkeypatch.setattr(importer, "MIN_PROCESS_IMAGES", 10)
    monkeypatch.setattr(importer, "_TASK", 4)
    monkeypatch.setattr(importer, "available_cores", lambda: 2)
    monkeypatch.setattr(importer, "_prepare_task", _import_worker_crash.prepare_or_die)
    ws = open_workspace(tmp_path / "ws")
    report = import_source(ws, "P", src, n_jobs=2)
    assert report.imported == 29
    rejected = [(r["source"], r["reason_key"]) for r in report.rejected]
    assert rejected == [("dark/die_0.png", "ingest.reason.worker_died")]
    assert "dark/die_0.png" not in {source for _, _, _, source in _blobs(ws)}
    assert check_workspace(ws)["ok"]


def test_import_worker_processes_do_not_import_streamlit():
    """A worker imports only what unpickling its task needs (loky does not re-run the app's ``__main__``)."""
    from defectlab._workers import process_pool
    from defectlab.features.procpool import _worker_modules
    from defectlab.imaging import DEFAULT_LIMITS
    from defectlab.ingest import importer

    pool = process_pool(1)
    try:
        assert pool.submit(importer._prepare_task, [], (set(), 0.0, 2, DEFAULT_LIMITS, True)).result() == []
        modules = pool.submit(_worker_modules).result()
    finally:
        pool.shutdown(wait=True)
    assert "defectlab.ingest.importer" in modules
    assert not any(m == "streamlit" or m.startswith("streamlit.") for m in modules)
