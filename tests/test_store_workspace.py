import sqlite3

import pytest

from defectlab.errors import InputError, NotFoundError
from defectlab.store import open_workspace
from defectlab.store.migrations import MIGRATIONS, _split_sql, applied_migrations


def test_open_creates_folders_wal_and_records_migrations(tmp_path):
    ws = open_workspace(tmp_path / "w")
    assert ws.db_path.exists() and ws.blobs_dir.is_dir() and ws.runs_dir.is_dir()
    with ws.read() as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert applied_migrations(conn) == [name for name, _ in MIGRATIONS]
        assert conn.execute("SELECT role FROM users WHERE username='local'").fetchone()[0] == "admin"
    assert ws.integrity_check() == "ok"


def test_reopen_is_idempotent(tmp_path):
    open_workspace(tmp_path / "w")
    ws = open_workspace(tmp_path / "w")
    with ws.read() as conn:
        assert conn.execute("SELECT COUNT(*) FROM _migrations").fetchone()[0] == len(MIGRATIONS)
        assert conn.execute("SELECT COUNT(*) FROM users").fetchone()[0] == 1


def test_open_missing_without_create(tmp_path):
    with pytest.raises(NotFoundError, match="No defectlab workspace"):
        open_workspace(tmp_path / "nope", create=False)


def test_open_on_a_file_is_refused(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(InputError, match="not a folder"):
        open_workspace(f)


def test_blobs_are_content_addressed_and_idempotent(ws):
    sha, rel = ws.put_blob(b"abc", "PNG")
    assert sha == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert rel == f"blobs/ba/{sha}.png"
    assert ws.put_blob(b"abc", "png") == (sha, rel)
    assert ws.read_blob(rel) == b"abc"


def test_blob_path_cannot_escape(ws):
    with pytest.raises(InputError, match="outside"):
        ws.read_blob("../defectlab.sqlite")


def test_missing_blob_is_a_clear_error(ws):
    with pytest.raises(NotFoundError, match="missing"):
        ws.read_blob("blobs/aa/nothing.png")


def test_transaction_rolls_back_on_error(ws):
    with pytest.raises(RuntimeError):
        with ws.transaction() as conn:
            conn.execute("INSERT INTO audit (at, user, action) VALUES ('t', 'u', 'a')")
            raise RuntimeError("boom")
    with ws.read() as conn:
        assert conn.execute("SELECT COUNT(*) FROM audit").fetchone()[0] == 0


def test_split_sql_keeps_triggers_whole():
    sql = "CREATE TABLE a (x);\nCREATE TRIGGER t BEFORE DELETE ON a\n BEGIN SELECT 1; END;\nCREATE TABLE b (y);"
    assert len(_split_sql(sql)) == 3


def test_annotations_table_is_append_only(ws):
    from defectlab.store import annotate, create_project

    p = create_project(ws, "p", ["a", "b"])
    with ws.transaction() as conn:
        sha, rel = ws.put_blob(b"x", "png")
        conn.execute(
            "INSERT INTO items (project_id, sha256, blob, width, height, channels, source, created_at) "
            "VALUES (?, ?, ?, 1, 1, 1, 'x.png', 't')", (p.id, sha, rel))
    annotate(ws, 1, "a")
    with ws.read() as conn:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("UPDATE annotations SET label = 'b'")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("DELETE FROM annotations")
