"""Feature extraction in worker processes: bit-identical rows, bad files named, nothing lost, stoppable."""

import hashlib

import cv2
import numpy as np
import pytest

from defectlab.features import FeatureSpec, extract, extract_cached, procpool
from defectlab.features.cache import FeatureCache
from defectlab.features.procpool import BlobFiles, UnreadableImages

SPEC = FeatureSpec(size=(32, 32), name="procpool-test")
N = 600  # three batches of 256 / 256 / 88


def _files(tmp_path, n=N, seed=0):
    """``n`` PNG files of random textures; ``(shas, BlobFiles, images by sha)``."""
    rng = np.random.default_rng(seed)
    folder = tmp_path / "blobs"
    folder.mkdir()
    files, images = {}, {}
    for k in range(n):
        im = rng.integers(0, 256, (int(rng.integers(24, 48)), int(rng.integers(24, 48))), dtype=np.uint8)
        data = cv2.imencode(".png", im)[1].tobytes()
        sha = hashlib.sha256(data).hexdigest()
        path = folder / f"{k:04d}.png"
        path.write_bytes(data)
        files[sha], images[sha] = (str(path), f"crops/{k:04d}.png"), im
    return list(files), BlobFiles(files), images


@pytest.fixture
def pool_always(monkeypatch):
    """Use the process pool from the first image on; records the executors it starts."""
    started = []
    real = procpool._executor

    def recording(n_jobs):
        ex = real(n_jobs)
        started.append(ex)
        return ex

    monkeypatch.setattr(procpool, "MIN_POOL_IMAGES", 1)
    monkeypatch.setattr(procpool, "_executor", recording)
    return started


def test_two_processes_give_the_rows_of_one_process_bit_for_bit(tmp_path, pool_always):
    shas, files, images = _files(tmp_path)
    one = extract_cached(shas, files, SPEC, tmp_path / "c1", n_jobs=1)
    assert pool_always == []  # one job: no pool
    two = extract_cached(shas, files, SPEC, tmp_path / "c2", n_jobs=2)
    assert len(pool_always) == 1
    assert one.dtype == two.dtype == np.float32
    assert one.tobytes() == two.tobytes()
    assert one.tobytes() == extract([images[s] for s in shas], SPEC).tobytes()
    # the cache the parent wrote holds the same rows
    again = extract_cached(shas, lambda s: 1 / 0, SPEC, tmp_path / "c2", n_jobs=2)
    assert again.tobytes() == one.tobytes()


def test_below_the_threshold_or_with_a_plain_loader_threads_are_used(tmp_path, monkeypatch):
    shas, files, images = _files(tmp_path, n=40)
    monkeypatch.setattr(procpool, "_executor", lambda n: pytest.fail("no pool below the threshold"))
    x = extract_cached(shas, files, SPEC, tmp_path / "c", n_jobs=2)  # 40 < MIN_POOL_IMAGES
    y = extract_cached(shas, lambda s: [images[k] for k in s], SPEC, tmp_path / "d", n_jobs=2)
    assert x.tobytes() == y.tobytes()
    assert not procpool.use_processes(2, 10**6, lambda s: [])
    assert not procpool.use_processes(1, 10**6, files)
    assert procpool.use_processes(2, procpool.MIN_POOL_IMAGES, files)


def test_a_corrupt_blob_in_a_worker_is_named_and_the_rows_before_it_are_kept(tmp_path, pool_always):
    shas, files, _ = _files(tmp_path)
    bad_sha = shas[530]  # third batch
    gone_sha = shas[531]
    with open(files.files[bad_sha][0], "r+b") as fh:
        fh.seek(30)
        fh.write(b"\0" * 40)  # damaged PNG
    (tmp_path / "blobs" / "0531.png").unlink()
    with pytest.raises(UnreadableImages) as err:
        extract_cached(shas, files, SPEC, tmp_path / "c", n_jobs=2)
    text = str(err.value)
    assert "crops/0530.png" in text or "crops/0531.png" in text
    assert "1 more unreadable" in text
    assert set(err.value.bad) == {bad_sha, gone_sha}
    assert "missing" in err.value.reasons()[gone_sha]
    assert err.value.bad[bad_sha][0] == "crops/0530.png"
    # nothing computed is lost: the first two batches are in the cache
    _, found = FeatureCache.for_spec(tmp_path / "c", SPEC).lookup(shas)
    assert found == set(shas[:512])


def test_the_one_process_path_names_every_bad_image_too(tmp_path):
    shas, files, _ = _files(tmp_path, n=20)
    (tmp_path / "blobs" / "0003.png").write_bytes(b"not a png")
    with pytest.raises(UnreadableImages) as err:
        extract_cached(shas, files, SPEC, tmp_path / "c", n_jobs=1)
    assert set(err.value.bad) == {shas[3]} and "crops/0003.png" in str(err.value)


def test_a_refused_path_is_reported_as_missing_without_reading_anything(tmp_path):
    shas, files, _ = _files(tmp_path, n=3)
    files.files[shas[1]] = (None, "evil/../../etc/passwd")
    with pytest.raises(UnreadableImages) as err:
        files(shas)
    assert set(err.value.bad) == {shas[1]} and "missing" in str(err.value)


class _Stop(Exception):
    pass


def test_a_stop_from_progress_terminates_the_workers_and_keeps_the_rows(tmp_path, pool_always):
    shas, files, _ = _files(tmp_path)
    calls = []

    def progress(done, total):
        calls.append(done)
        raise _Stop  # a cancelled training job

    with pytest.raises(_Stop):
        extract_cached(shas, files, SPEC, tmp_path / "c", n_jobs=2, progress=progress)
    assert calls == [256]
    [ex] = pool_always
    assert all(not p.is_alive() for p in (ex._processes or {}).values())
    _, found = FeatureCache.for_spec(tmp_path / "c", SPEC).lookup(shas)
    assert found == set(shas[:256])
    # the next run computes only the rest
    x = extract_cached(shas, files, SPEC, tmp_path / "c", n_jobs=2)
    assert x.tobytes() == extract_cached(shas, files, SPEC, tmp_path / "fresh", n_jobs=1).tobytes()


def test_workers_do_not_import_streamlit_even_when_the_parent_has():
    pytest.importorskip("streamlit")
    import streamlit  # noqa: F401  (the parent is a Streamlit server)

    ex = procpool._executor(1)
    try:
        modules = ex.submit(procpool._worker_modules).result(timeout=120)
    finally:
        ex.shutdown(wait=True)
    assert "streamlit" not in modules
    assert "defectlab.features.pipeline" in modules


def test_default_jobs_are_the_available_cores_capped():
    assert 1 <= procpool.default_jobs() <= procpool.MAX_JOBS
    assert procpool.default_jobs() == min(procpool.available_cores(), procpool.MAX_JOBS)


def test_training_skips_unreadable_items_found_by_worker_processes(ws, pool_always):
    from defectlab.imaging import encode_png
    from defectlab.learn import runs
    from defectlab.store import add_item, annotate, create_project

    proj = create_project(ws, "P", ["a", "b"])
    rng = np.random.default_rng(1)
    ids = []
    for k in range(40):
        img = np.clip(rng.normal(90 + 60 * (k % 2), 20, (32, 32)), 0, 255).astype(np.uint8)
        sha, rel = ws.put_blob(encode_png(img), "png")
        with ws.transaction() as conn:
            ids.append(add_item(conn, proj.id, sha256=sha, blob=rel, width=32, height=32, channels=1,
                                source=f"c_{k}.png"))
        annotate(ws, ids[-1], "ab"[k % 2], source="import")
    with ws.read() as conn:
        blobs = [conn.execute("SELECT blob FROM items WHERE id = ?", (i,)).fetchone()[0] for i in ids[:2]]
    (ws.root / blobs[0]).unlink()
    (ws.root / blobs[1]).write_bytes(b"not a png any more")
    s = runs.train_project(ws, "P", model="logreg", folds=3, n_jobs=2)
    assert pool_always  # the features were computed by worker processes
    assert s["n_items"] == 38
    assert sorted(x["item_id"] for x in s["skipped_items"]) == sorted(ids[:2])


def test_relative_paths_leaving_blobs_are_refused_when_read_even_through_a_symlink(tmp_path):
    shas, _, _ = _files(tmp_path, n=3)
    secret = tmp_path / "secret.png"
    secret.write_bytes((tmp_path / "blobs" / "0000.png").read_bytes())
    (tmp_path / "blobs" / "link.png").symlink_to(secret)
    rel = {shas[0]: ("blobs/0000.png", "ok.png"), shas[1]: ("blobs/../secret.png", "up.png"),
           shas[2]: ("blobs/link.png", "link.png")}
    loader = BlobFiles(rel, root=str(tmp_path), blobs_dir=str(tmp_path / "blobs"))
    with pytest.raises(UnreadableImages) as err:
        loader(shas)
    assert set(err.value.bad) == {shas[1], shas[2]}
    assert loader([shas[0]])[0].shape  # a path inside blobs/ is read


def test_worker_processes_read_packed_blobs_and_name_a_damaged_one(tmp_path, pool_always):
    """Imported images live in pack files: the workers read them by offset, bounded and verified, give
    the rows of one process, and a packed image whose bytes were changed is named and left out."""
    from defectlab.ingest import import_source
    from defectlab.learn import runs
    from defectlab.store import open_workspace
    from defectlab.store.packs import is_packed, parse_ref

    rng = np.random.default_rng(2)
    src = tmp_path / "src"
    for k in range(40):
        cls = "ab"[k % 2]
        (src / cls).mkdir(parents=True, exist_ok=True)
        img = np.clip(rng.normal(90 + 60 * (k % 2), 20, (32, 32)), 0, 255).astype(np.uint8)
        cv2.imwrite(str(src / cls / f"{cls}_{k}.png"), img)
    ws = open_workspace(tmp_path / "ws")
    assert import_source(ws, "P", src).imported == 40
    with ws.read() as conn:
        rows = [tuple(r) for r in conn.execute("SELECT id, sha256, blob, source FROM items ORDER BY id")]
    assert all(is_packed(blob) for _, _, blob, _ in rows)
    shas = [sha for _, sha, _, _ in rows]
    loader = BlobFiles({sha: (blob, source) for _, sha, blob, source in rows}, root=str(ws.root),
                       blobs_dir=str(ws.blobs_dir))
    two = extract_cached(shas, loader, SPEC, tmp_path / "c2", n_jobs=2)
    assert pool_always
    one = extract_cached(shas, lambda s: [cv2.imdecode(np.frombuffer(ws.read_blob(loader.files[x][0]), np.uint8),
                                                       cv2.IMREAD_UNCHANGED) for x in s], SPEC, tmp_path / "c1",
                         n_jobs=1)
    assert one.tobytes() == two.tobytes()
    # one packed image's bytes change on disk: the worker names it, training leaves it out
    victim_id, _, blob, _ = rows[5]
    ref = parse_ref(blob)
    with open(ws.root / ref.pack_rel, "r+b") as fh:
        fh.seek(ref.offset + ref.length // 2)
        fh.write(b"\xff" * 8)
    s = runs.train_project(ws, "P", model="logreg", folds=3, n_jobs=2, feature_spec=SPEC)
    assert s["n_items"] == 39
    [skipped] = s["skipped_items"]
    assert skipped["item_id"] == victim_id and "sha256" in skipped["reason"]
