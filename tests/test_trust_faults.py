"""Faults (issue 10 item 14): damaged database, full disk, missing blob, damaged cache, leftovers;
``defectlab check`` and ``defectlab backup``."""

import errno
import json
import os
import sqlite3
import time

import numpy as np
import pytest
from synthetic import texture_image

from defectlab.cli import main
from defectlab.errors import StorageError
from defectlab.imaging import encode_png
from defectlab.store import add_item, annotate, create_project, current_labels, get_project, open_workspace

CLASSES = ("dark", "stripes", "spots")


def _fill(ws, n=24, name="P"):
    proj = create_project(ws, name, list(CLASSES))
    rng = np.random.default_rng(0)
    ids = []
    for k in range(n):
        kind = CLASSES[k % 3]
        img = texture_image(kind, rng)
        sha, rel = ws.put_blob(encode_png(img), "png")
        with ws.transaction() as conn:
            ids.append(add_item(conn, proj.id, sha256=sha, blob=rel, width=img.shape[1], height=img.shape[0],
                                channels=1, source=f"{kind}_{k}.png"))
        annotate(ws, ids[-1], kind, source="import")
    return proj, ids


def _labels(ws, name="P"):
    return sorted((i, s.label) for i, s in current_labels(ws, get_project(ws, name).id).items())


def _cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_corrupt_database_is_one_line_not_a_traceback(tmp_path, capsys):
    root = tmp_path / "ws"
    root.mkdir()
    (root / "defectlab.sqlite").write_bytes(b"this is not a database" * 200)
    with pytest.raises(StorageError, match="damaged or not a defectlab database"):
        open_workspace(root)
    code, out, err = _cli(capsys, "project", "list", "--workspace", str(root))
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("defectlab: error: The database of workspace")
    code, out, err = _cli(capsys, "check", "--json", "--workspace", str(root))
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
    report = json.loads(out)  # the same shape as for a sound workspace
    assert report["ok"] is False and "cannot be read" in report["integrity"] and report["blobs"]["checked"] == 0


def test_corrupt_database_shows_a_message_in_the_ui(tmp_path):
    from streamlit.testing.v1 import AppTest
    from ui_support import APP

    root = tmp_path / "ws"
    root.mkdir()
    (root / "defectlab.sqlite").write_bytes(b"\x00garbage" * 500)
    at = AppTest.from_file(APP, default_timeout=30)
    at.session_state["workspace"] = str(root)
    at.run()
    assert not at.exception
    assert at.error and "damaged" in at.error[0].value


def test_full_disk_during_import_is_one_line_and_loses_nothing(ws, tmp_path, capsys, monkeypatch):
    _fill(ws)
    before = _labels(ws)
    src = tmp_path / "new" / "dark"
    src.mkdir(parents=True)
    for k in range(3):
        (src / f"n{k}.png").write_bytes(encode_png(np.full((16, 16), 10 * k, np.uint8)))
    from defectlab.store.packs import PackWriter
    from defectlab.store.workspace import Workspace

    def full(self, data, ext):
        raise OSError(errno.ENOSPC, "No space left on device")

    def full_pack(self):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Workspace, "put_blob", full)  # loose blobs
    monkeypatch.setattr(PackWriter, "sync", full_pack)  # an import's pack file
    code, _out, err = _cli(capsys, "import", "P", str(tmp_path / "new"), "--workspace", str(ws.root))
    assert code == 1 and err == "defectlab: error: the disk is full\n"
    monkeypatch.undo()
    assert ws.integrity_check() == "ok"
    assert _labels(ws) == before


def test_missing_and_damaged_blobs_are_skipped_by_training_and_reported_by_check(ws, capsys):
    from defectlab.learn import runs

    _proj, ids = _fill(ws, n=30)
    with ws.read() as conn:
        blobs = [conn.execute("SELECT blob FROM items WHERE id = ?", (i,)).fetchone()[0] for i in ids[:2]]
    (ws.root / blobs[0]).unlink()
    (ws.root / blobs[1]).write_bytes(b"not a png any more")
    before = _labels(ws)
    s = runs.train_project(ws, "P", model="logreg", folds=3)
    assert s["n_items"] == 28
    assert sorted(x["item_id"] for x in s["skipped_items"]) == sorted(ids[:2])
    assert any("could not be read" in w for w in s["warnings"])
    with ws.read() as conn:
        flagged = conn.execute("SELECT COUNT(*) FROM audit WHERE action = 'item.unreadable'").fetchone()[0]
    assert flagged == 2
    code, out, _ = _cli(capsys, "check", "--json", "--workspace", str(ws.root))
    report = json.loads(out)
    assert code == 1 and report["ok"] is False and report["integrity"] == "ok"
    assert report["blobs"]["n_missing"] == 1 and report["blobs"]["n_mismatched"] == 1
    assert {b["item_id"] for b in report["blobs"]["missing"] + report["blobs"]["mismatched"]} == set(ids[:2])
    assert report["runs"] == {"checked": 1, "n_bad": 0, "bad": [], "without_recorded_hashes": []}
    assert _labels(ws) == before


def test_damaged_phash_cache_is_rebuilt_and_repaired(ws, capsys):
    from defectlab.quality.review import item_phashes

    _, _ids = _fill(ws, n=6)
    with ws.read() as conn:
        rows = conn.execute("SELECT sha256, blob FROM items ORDER BY id").fetchall()
    shas, blobs = [r[0] for r in rows], [r[1] for r in rows]
    good = item_phashes(ws, shas, blobs)
    cache = ws.root / "quality" / "phash64-v1.npz"
    cache.write_bytes(b"PK\x03\x04 damaged zip")
    code, out, _ = _cli(capsys, "check", "--json", "--workspace", str(ws.root))
    assert json.loads(out)["caches"]["damaged"] == ["quality/phash64-v1.npz"]
    assert np.array_equal(item_phashes(ws, shas, blobs), good)  # rebuilt, no exception
    cache.write_bytes(b"garbage")
    code, out, _ = _cli(capsys, "check", "--repair", "--json", "--workspace", str(ws.root))
    report = json.loads(out)
    assert code == 0 and report["ok"] and "quality/phash64-v1.npz" in report["repaired"]
    assert not cache.exists()


def _age(path, seconds=7200):
    old = time.time() - seconds
    os.utime(path, (old, old))


def test_leftovers_of_killed_work_are_cleaned_at_the_next_start(ws):
    from defectlab.learn import runs
    from defectlab.store import maintenance

    _fill(ws)
    s = runs.train_project(ws, "P", model="logreg", folds=3)
    stale = [ws.tmp_dir / "import-dead", ws.runs_dir / "20260101-000000-dead00",
             ws.blobs_dir / ".incoming" / ".tmp-xyz", ws.runs_dir / s["run_id"] / "model.skops.tmp"]
    stale[0].mkdir(parents=True)
    (stale[0] / "a.png").write_bytes(b"x")
    stale[1].mkdir()
    (stale[1] / "meta.json.tmp").write_bytes(b"{")
    stale[2].parent.mkdir(exist_ok=True)
    stale[2].write_bytes(b"half a blob")
    stale[3].write_bytes(b"half a model")
    fresh = ws.tmp_dir / "import-running"
    fresh.mkdir()
    for p in stale:
        _age(p)
    maintenance._CLEANED.clear()  # a new process
    before = _labels(ws)
    ws2 = open_workspace(ws.root)
    assert not any(p.exists() for p in stale)
    assert fresh.exists()  # may belong to an import still running elsewhere
    assert (ws.runs_dir / s["run_id"] / "meta.json").exists()
    runs.load_run_model(ws2, s["run_id"])
    assert _labels(ws2) == before and ws2.integrity_check() == "ok"
    # a blob .tmp file an older version left beside the blobs: found and removed by check --repair
    old = next(p for p in ws.blobs_dir.iterdir() if p.name != ".incoming") / ".tmp-old"
    old.write_bytes(b"half")
    _age(old)
    from defectlab.store.maintenance import check_workspace

    report = check_workspace(ws2, repair=True)
    assert old.relative_to(ws.root).as_posix() in report["repaired"] and not old.exists()


def test_check_json_is_stable_and_backup_restores_as_a_workspace(ws, tmp_path, capsys):
    from defectlab.learn import runs

    _fill(ws)
    s = runs.train_project(ws, "P", model="logreg", folds=3)
    code, out, _ = _cli(capsys, "check", "--json", "--workspace", str(ws.root))
    report = json.loads(out)
    assert code == 0 and report["ok"] is True
    assert set(report) == {"ok", "integrity", "foreign_keys", "blobs", "runs", "caches", "leftovers", "repaired"}
    assert set(report["blobs"]) == {"checked", "n_missing", "n_mismatched", "missing", "mismatched"}
    out_dir = tmp_path / "backup"
    code, out, _ = _cli(capsys, "backup", str(out_dir), "--json", "--workspace", str(ws.root))
    result = json.loads(out)
    assert code == 0 and result["integrity"] == "ok" and result["blobs"] == 24
    restored = open_workspace(out_dir, create=False)
    assert _labels(restored) == _labels(ws)
    assert restored.integrity_check() == "ok"
    runs.load_run_model(restored, s["run_id"])  # the run's files and recorded hashes came along
    code, out, _ = _cli(capsys, "check", "--json", "--workspace", str(out_dir))
    assert code == 0 and json.loads(out)["ok"]
    # refusals: a non-empty folder, a folder inside the workspace
    code, _, err = _cli(capsys, "backup", str(out_dir), "--workspace", str(ws.root))
    assert code == 1 and "must be new or empty" in err
    code, _, err = _cli(capsys, "backup", str(ws.root / "bk"), "--workspace", str(ws.root))
    assert code == 1 and "inside the workspace" in err


def test_check_and_backup_need_the_right_role(ws, capsys, make_team, monkeypatch):
    from defectlab.team import change_password

    make_team(ws, annotators=("ann",), reviewers=())  # team mode: every command authenticates
    change_password(ws, "ann", "ann-pass-1", "ann-pass-2")  # a new account must choose its own first
    monkeypatch.setenv("DEFECTLAB_PASSWORD", "ann-pass-2")
    code, _, _ = _cli(capsys, "check", "--workspace", str(ws.root), "--user", "ann")
    assert code == 0  # reading the report is for everyone with an account
    code, _, err = _cli(capsys, "check", "--repair", "--workspace", str(ws.root), "--user", "ann")
    assert code == 1 and err.count("\n") == 1
    code, _, err = _cli(capsys, "backup", str(ws.root.parent / "b"), "--workspace", str(ws.root), "--user", "ann")
    assert code == 1 and err.count("\n") == 1
    assert not (ws.root.parent / "b").exists()


def test_sqlite_error_mid_command_is_one_line(ws, capsys, monkeypatch):
    from defectlab.store import projects

    def broken(*a, **k):
        raise sqlite3.DatabaseError("database disk image is malformed")

    monkeypatch.setattr(projects, "list_projects", broken)
    import defectlab.store as store

    monkeypatch.setattr(store, "list_projects", broken)
    code, _, err = _cli(capsys, "project", "list", "--workspace", str(ws.root))
    assert code == 1 and err.count("\n") == 1 and "malformed" in err


_KILLED_IMPORT = r"""
import sys, time
from defectlab.ingest import import_source, scan
from defectlab.store import open_workspace

real = scan.plan_import
def slow(*a, **k):
    print("extracted", flush=True)
    time.sleep(600)
scan.plan_import = slow
import defectlab.ingest.importer as imp
imp.plan_import = slow
import_source(open_workspace(sys.argv[1]), "P", sys.argv[2])
"""

_KILLED_TRAINING = r"""
import sys, time
from defectlab.learn import runs
from defectlab.store import open_workspace

real = runs.save_model
def slow(model, directory, **k):
    out = real(model, directory, **k)
    print("saved", flush=True)
    time.sleep(600)
runs.save_model = slow
runs.train_project(open_workspace(sys.argv[1]), "P", model="logreg", folds=3)
"""


def _run_until(code, marker, *argv):
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", code, *map(str, argv)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout.readline().strip() == marker
    finally:
        proc.kill()  # SIGKILL: no finally blocks, no cleanup
        proc.wait(timeout=30)


def test_killed_import_and_training_leave_nothing_after_the_next_start(ws, tmp_path):
    import zipfile

    from defectlab.store import maintenance

    _fill(ws)
    before = _labels(ws)
    z = tmp_path / "batch.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("dark/x.png", encode_png(np.full((8, 8), 3, np.uint8)))
    _run_until(_KILLED_IMPORT, "extracted", ws.root, z)
    _run_until(_KILLED_TRAINING, "saved", ws.root)
    imports = list(ws.tmp_dir.glob("import-*"))
    with ws.read() as conn:
        recorded = {r[0] for r in conn.execute("SELECT id FROM runs")}
    orphans = [d for d in ws.runs_dir.iterdir() if d.name not in recorded]
    assert len(imports) == 1 and len(orphans) == 1  # what a kill leaves behind
    # the kills were 'long ago' for the lock grace period, not for the one-hour staleness rule
    for p in [*ws.tmp_dir.joinpath("locks").iterdir(), *orphans]:
        _age(p, 120)
    maintenance._CLEANED.clear()  # the next start
    ws2 = open_workspace(ws.root)
    assert not any(ws.tmp_dir.glob("import-*")) and not any(d.exists() for d in orphans)
    assert not any(ws.tmp_dir.joinpath("locks").iterdir())
    assert _labels(ws2) == before and ws2.integrity_check() == "ok"


def test_running_work_is_never_cleaned(ws):
    from defectlab.store import maintenance

    with maintenance.work_lock(ws, "import-live"), maintenance.work_lock(ws, "train-live"):
        live = ws.tmp_dir / "import-live"
        live.mkdir()
        run_dir = ws.runs_dir / "20260101-000000-live00"
        run_dir.mkdir()
        for p in [live, run_dir, *ws.tmp_dir.joinpath("locks").iterdir()]:
            _age(p, 120)
        assert maintenance.clean_leftovers(ws) == []
    assert {p.name for p in maintenance.find_leftovers(ws, stale_after=0)} >= {"import-live", run_dir.name}


def test_a_full_database_disk_is_a_storage_error_and_loses_nothing(ws, monkeypatch, capsys):
    """SQLite's own 'database or disk is full' (max_page_count reached stands in for a full disk)."""
    from defectlab.store.workspace import Workspace

    _, ids = _fill(ws, n=6)
    before = _labels(ws)
    real = Workspace._connect

    def tight(self):
        conn = real(self)
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")
        return conn

    monkeypatch.setattr(Workspace, "_connect", tight)
    with pytest.raises(StorageError, match="is full"):
        for k in range(400):  # enough rows to need a new page
            annotate(ws, ids[k % 6], CLASSES[(k + 1) % 3], user="local", comment="x" * 500)
    code, _, err = _cli(capsys, "project", "create", "Q", "--classes", "a,b", "--workspace", str(ws.root))
    assert (code, err.count("\n")) in ((0, 0), (1, 1)) and "Traceback" not in err
    monkeypatch.undo()
    assert ws.integrity_check() == "ok"
    assert len(_labels(ws)) == len(before)


def test_a_missing_image_file_shows_a_placeholder_in_the_app(tmp_path):
    from streamlit.testing.v1 import AppTest
    from ui_support import APP, PAGES, tiny_workspace

    ws, _, _ = tiny_workspace(tmp_path / "ws", n_items=4, labeled=0)
    with ws.read() as conn:
        for (blob,) in conn.execute("SELECT blob FROM items"):
            (ws.root / blob).unlink()
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["workspace"] = str(ws.root)
    at.run()
    at.switch_page(f"{PAGES}/label.py").run()
    assert not at.exception
