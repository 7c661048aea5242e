"""Workspace health: leftovers of killed work, ``defectlab check`` and ``defectlab backup``.

Leftovers
---------
An import or a training killed mid-way (a closed terminal, an out-of-memory kill, a power cut) leaves
files no database row points at: ``tmp/import-*`` folders of extracted zips, ``runs/<id>/`` folders of
runs that were never recorded, ``.tmp`` files of blobs, model files and caches being written, and pack
files (``blobs/packs/``) that no item names (found by the deep scan of ``defectlab check``).
Imports and trainings hold an OS lock (:func:`work_lock`, ``tmp/locks/<name>.lock``) while they run, so
:func:`clean_leftovers` removes their folders as soon as the process that made them is gone (its lock can
be taken); other leftovers (and everything on systems without ``fcntl``) are removed once older than
:data:`STALE_SECONDS`. :func:`~defectlab.store.open_workspace` runs it once per process.

Check
-----
:func:`check_workspace` reads everything and reports (JSON-stable keys, see the README):
``integrity`` (``PRAGMA integrity_check``), ``foreign_keys`` (``PRAGMA foreign_key_check``), ``blobs``
(every item's file, or range of a pack file, present and matching its sha256), ``runs`` (every run's
files present and matching the hashes recorded at training), ``caches`` (the pHash cache readable) and
``leftovers``. With ``repair=True`` it does only what is safe: it removes stale leftovers and a damaged cache (both are
rebuilt or were never complete). It never deletes or edits a database row, an image or a model.

Backup
------
:func:`backup_workspace` copies the database with SQLite's online backup API (a consistent snapshot
while others keep working), then the blobs and runs; the feature and pHash caches are not copied
(they are rebuilt). The backup folder *is* a workspace: open it with ``open_workspace(OUT)``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sqlite3
import threading
import time
import zipfile
from pathlib import Path

from ..errors import InputError, NotFoundError, StorageError
from ..messages import msg
from .packs import is_packed, unreferenced_packs
from .permissions import require

__all__ = ["STALE_SECONDS", "backup_workspace", "check_damaged_database", "check_workspace", "clean_leftovers",
           "find_leftovers", "work_lock"]

#: Leftovers younger than this (seconds) are left alone: they may belong to work still running.
STALE_SECONDS = 3600

_CLEANED: set[str] = set()
_CLEANED_LOCK = threading.Lock()
_LIST_LIMIT = 50  # longest list of paths / ids in a report (counts are always complete)
_ADMIN_ACTION = "restore"  # admin only: a backup holds every account and label


_LOCK_GRACE = 60.0  # a lock file younger than this may not be locked yet by its creator
try:
    import fcntl as _fcntl  # noqa: F401 - only whether the platform has it
    _HAVE_LOCKS = True
except ImportError:  # pragma: no cover - Windows: leftovers are cleaned by age only
    _HAVE_LOCKS = False


def _lock_path(ws, name):
    return ws.tmp_dir / "locks" / f"{name}.lock"


@contextlib.contextmanager
def work_lock(ws, name: str):
    """Hold an exclusive OS lock named ``name`` while some work writes files (an import, a training).

    Parameters
    ----------
    ws : Workspace
    name : str
        ``import-<uuid>`` for ``tmp/import-<uuid>/``; ``train-<uuid>`` for a training (while one runs,
        ``runs/<id>/`` folders without a run row are left alone).

    Notes
    -----
    The lock dies with the process, so :func:`clean_leftovers` can tell a killed import from a running
    one. Without ``fcntl`` (Windows) this does nothing and leftovers are cleaned by age.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    path = _lock_path(ws, name)
    for attempt in range(5):  # another process may remove the empty locks/ folder meanwhile
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
            break
        except FileNotFoundError:
            if attempt == 4:
                raise
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        path.unlink(missing_ok=True)
        os.close(fd)
        with contextlib.suppress(OSError):  # leave tmp/ as it was when nothing else runs
            path.parent.rmdir()


def _owner_gone(ws, name, now):
    """True when the lock ``name`` exists, is old enough, and nobody holds it (its process died)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        return False
    path = _lock_path(ws, name)
    try:
        if now - path.stat().st_mtime < _LOCK_GRACE:
            return False
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # held: the work is still running
    finally:
        os.close(fd)
    return True


def _training_running(ws, now):
    """True while some process holds a ``train-*`` lock (or one was just created)."""
    locks = ws.tmp_dir / "locks"
    if not locks.is_dir():
        return False
    return any(not _owner_gone(ws, p.stem, now) for p in locks.glob("train-*.lock"))


def _killed(ws, path, now):
    """A leftover whose writer is known to be gone (so it need not wait to become stale)."""
    if path.parent == ws.tmp_dir and path.name.startswith("import-"):
        return _owner_gone(ws, path.name, now)
    if path.parent == ws.runs_dir and path.is_dir():
        return _HAVE_LOCKS and not _training_running(ws, now) and _is_stale(path, now, _LOCK_GRACE)
    return False


def _is_stale(path, now, stale_after):
    try:
        return now - path.lstat().st_mtime >= stale_after
    except OSError:
        return False


def _recorded_runs(ws):
    with ws.read() as conn:
        return {r[0] for r in conn.execute("SELECT id FROM runs")}


def find_leftovers(ws, stale_after: float = STALE_SECONDS, deep: bool = False) -> list[Path]:
    """Files and folders left behind by killed imports and trainings (see the module docstring).

    Parameters
    ----------
    ws : Workspace
    stale_after : float, default STALE_SECONDS
        Only leftovers whose modification time is at least this many seconds old.
    deep : bool, default False
        Also look for ``.tmp-*`` files in every ``blobs/xx/`` folder (written there by older versions;
        blobs are now written through ``blobs/.incoming/``). Costs a scan of all blobs.

    Returns
    -------
    list of Path
    """
    found = _tmp_leftovers(ws) + _run_leftovers(ws) + _blob_leftovers(ws, deep)
    quality = ws.root / "quality"
    if quality.is_dir():
        found += [p for p in quality.iterdir() if p.name.endswith(".tmp.npz")]
    now = time.time()
    out = []
    for p in found:
        if _is_stale(p, now, stale_after) or _killed(ws, p, now):
            out.append(p)
    return out + _dead_locks(ws, now)


def _dead_locks(ws, now):
    locks = ws.tmp_dir / "locks"
    if not locks.is_dir():
        return []
    return [p for p in locks.iterdir() if p.suffix == ".lock" and _owner_gone(ws, p.stem, now)]


def _tmp_leftovers(ws):
    if not ws.tmp_dir.is_dir():
        return []
    prefixes = ("import-", "upload-", "predict-", "predictions-", ".")
    return [p for p in ws.tmp_dir.iterdir() if p.name.startswith(prefixes)]


def _run_leftovers(ws):
    """``runs/<id>/`` folders without a run row, and ``.tmp`` files inside recorded runs."""
    if not ws.runs_dir.is_dir():
        return []
    recorded = _recorded_runs(ws)
    found = []
    for d in ws.runs_dir.iterdir():
        if not d.is_dir() or d.is_symlink():
            continue
        if d.name not in recorded:
            found.append(d)
        else:
            found += [p for p in d.iterdir() if p.name.endswith(".tmp")]
    return found


def _blob_leftovers(ws, deep):
    """``.tmp-*`` files of blob writes: ``blobs/.incoming/``, and with ``deep`` every ``blobs/xx/`` and
    the pack files no item names (an import killed before its first chunk was committed)."""
    if not ws.blobs_dir.is_dir():
        return []
    dirs = [ws.blobs_dir / ".incoming"]
    found = []
    if deep:
        with os.scandir(ws.blobs_dir) as subs:
            dirs += [Path(e.path) for e in subs
                     if e.is_dir(follow_symlinks=False) and e.name not in (".incoming", "packs")]
        with ws.read() as conn:
            found += [ws.blobs_dir / "packs" / name for name in unreferenced_packs(ws, conn)]
    for d in dirs:
        if d.is_dir():
            with os.scandir(d) as entries:
                found += [Path(e.path) for e in entries if e.name.startswith(".tmp-")]
    return found


def _remove(path):
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def clean_leftovers(ws, stale_after: float = STALE_SECONDS, deep: bool = False) -> list[str]:
    """Remove stale leftovers of killed work; returns their paths relative to the workspace.

    Parameters
    ----------
    ws : Workspace
    stale_after : float, default STALE_SECONDS
    deep : bool, default False
        See :func:`find_leftovers` (``defectlab check --repair`` looks deep; opening a workspace does not).

    Returns
    -------
    list of str
        What was removed (POSIX paths relative to the workspace root).
    """
    removed = []
    for p in find_leftovers(ws, stale_after, deep):
        _remove(p)
        removed.append(p.relative_to(ws.root).as_posix())
    return removed


def clean_once(ws) -> None:
    """:func:`clean_leftovers` the first time this process opens ``ws``; never raises."""
    key = os.path.realpath(ws.root)
    with _CLEANED_LOCK:
        if key in _CLEANED:
            return
        _CLEANED.add(key)
    try:
        clean_leftovers(ws)
    except (OSError, sqlite3.Error):  # a read-only or busy workspace still opens
        pass


# -- check ------------------------------------------------------------------------------------

def _sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _check_database(conn):
    rows = [r[0] for r in conn.execute("PRAGMA integrity_check(20)")]
    fk = [{"table": r[0], "rowid": r[1], "parent": r[2]} for r in conn.execute("PRAGMA foreign_key_check")]
    return ("ok" if rows == ["ok"] else "; ".join(rows)), fk


def _check_blobs(ws, conn):
    missing, mismatched, n = [], [], 0
    for sha, blob, item_id in conn.execute("SELECT sha256, blob, MIN(id) FROM items GROUP BY sha256, blob"):
        n += 1
        try:
            if is_packed(blob):  # read by offset, bounded; a range outside a truncated pack is mismatched
                ok = hashlib.sha256(ws.read_blob(blob)).hexdigest() == sha
            else:
                ok = _sha256_file(ws.blob_path(blob)) == sha
        except (FileNotFoundError, NotFoundError):
            missing.append({"item_id": item_id, "blob": blob})
            continue
        except (OSError, InputError, StorageError):
            ok = False
        if not ok:
            mismatched.append({"item_id": item_id, "blob": blob})
    return {"checked": n, "n_missing": len(missing), "n_mismatched": len(mismatched),
            "missing": missing[:_LIST_LIMIT], "mismatched": mismatched[:_LIST_LIMIT]}


def _check_one_run(ws, run_id, rel, recorded):
    from .run_files import check_recorded_files, read_meta

    directory = ws.root / rel
    if not directory.is_dir():
        return "the run's folder is missing"
    try:
        if recorded:
            check_recorded_files(directory, recorded)
        else:
            meta = read_meta(directory)
            for name, sha in meta["files"].items():
                if _sha256_file(directory / name) != sha:
                    return f"{name} does not match meta.json"
    except (OSError, InputError) as exc:
        return str(exc)
    except Exception as exc:  # ArtifactError and friends: reported, never raised by a check
        return str(exc)
    return None


def _check_runs(ws, conn):
    recorded = {}
    for run_id, name, sha in conn.execute("SELECT run_id, name, sha256 FROM run_artifacts"):
        recorded.setdefault(run_id, {})[name] = sha
    bad, unrecorded, n = [], [], 0
    for run_id, rel in conn.execute("SELECT id, path FROM runs ORDER BY id"):
        n += 1
        if run_id not in recorded:
            unrecorded.append(run_id)
        reason = _check_one_run(ws, run_id, rel or f"runs/{run_id}", recorded.get(run_id))
        if reason:
            bad.append({"run_id": run_id, "reason": reason})
    return {"checked": n, "n_bad": len(bad), "bad": bad[:_LIST_LIMIT],
            "without_recorded_hashes": unrecorded[:_LIST_LIMIT]}


def _damaged_caches(ws):
    import numpy as np

    damaged = []
    path = ws.root / "quality" / "phash64-v1.npz"
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as z:
                if len(z["sha256"]) != len(z["phash"]):
                    raise ValueError("lengths differ")
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            damaged.append(path)
    return damaged


def check_workspace(ws, repair: bool = False, user: str = "local") -> dict:
    """Check a workspace's database, blobs, runs and caches; optionally repair what is safe.

    Parameters
    ----------
    ws : Workspace
    repair : bool, default False
        Remove stale leftovers and damaged caches (needs the admin role). Nothing else is changed.
    user : str
        Needs the ``view`` permission (``repair``: an admin).

    Returns
    -------
    dict
        ``ok`` (bool: database sound, no missing/mismatched blob, no bad run), ``integrity`` (``"ok"``
        or the problems), ``foreign_keys`` (list of ``{table, rowid, parent}``), ``blobs``
        (``checked, n_missing, n_mismatched, missing, mismatched``: lists of ``{item_id, blob}``),
        ``runs`` (``checked, n_bad, bad``: ``{run_id, reason}``, ``without_recorded_hashes``),
        ``caches`` (``damaged``: paths), ``leftovers`` (paths), ``repaired`` (paths removed).
        Lists hold at most 50 entries; the ``n_*`` counts are complete.
    """
    with ws.read() as conn:
        require(conn, user, _ADMIN_ACTION if repair else "view")
        integrity, fk = _check_database(conn)
        blobs = _check_blobs(ws, conn) if integrity == "ok" else {"checked": 0, "n_missing": 0,
                                                                     "n_mismatched": 0, "missing": [],
                                                                     "mismatched": []}
        run_report = _check_runs(ws, conn) if integrity == "ok" else {"checked": 0, "n_bad": 0, "bad": [],
                                                                       "without_recorded_hashes": []}
    damaged = _damaged_caches(ws)
    leftovers = find_leftovers(ws, stale_after=0, deep=True)
    repaired = []
    if repair:
        repaired = clean_leftovers(ws, deep=True)
        for p in damaged:
            p.unlink(missing_ok=True)
            repaired.append(p.relative_to(ws.root).as_posix())
    ok = integrity == "ok" and not fk and not blobs["n_missing"] and not blobs["n_mismatched"] \
        and not run_report["n_bad"]
    return {
        "ok": ok,
        "integrity": integrity,
        "foreign_keys": fk[:_LIST_LIMIT],
        "blobs": blobs,
        "runs": run_report,
        "caches": {"damaged": [p.relative_to(ws.root).as_posix() for p in damaged]},
        "leftovers": [p.relative_to(ws.root).as_posix() for p in leftovers][:_LIST_LIMIT],
        "repaired": repaired[:_LIST_LIMIT],
    }


def check_damaged_database(db_path) -> dict:
    """The :func:`check_workspace` report of a database that cannot even be opened as a workspace.

    Parameters
    ----------
    db_path : str or os.PathLike
        The ``defectlab.sqlite`` file (read only; nothing is written).

    Returns
    -------
    dict
        The same keys as :func:`check_workspace`, with ``ok`` False and ``integrity`` saying what
        SQLite found (or why the file cannot be read at all).
    """
    try:
        conn = sqlite3.connect(f"file:{Path(db_path).absolute().as_posix()}?mode=ro", uri=True)
        try:
            rows = [r[0] for r in conn.execute("PRAGMA integrity_check(20)")]
            integrity = "; ".join(rows)
        finally:
            conn.close()
    except sqlite3.Error as exc:
        integrity = f"the database cannot be read ({exc})"
    empty_blobs = {"checked": 0, "n_missing": 0, "n_mismatched": 0, "missing": [], "mismatched": []}
    return {"ok": False, "integrity": integrity if integrity != "ok" else "the database cannot be opened",
            "foreign_keys": [], "blobs": empty_blobs,
            "runs": {"checked": 0, "n_bad": 0, "bad": [], "without_recorded_hashes": []},
            "caches": {"damaged": []}, "leftovers": [], "repaired": []}


# -- backup -----------------------------------------------------------------------------------

def _tree_bytes(root):
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except OSError:
                pass
    return total


def _copy_tree(src, dst):
    """Copy files (not ``.tmp`` ones, not symbolic links); returns the number copied."""
    n = 0
    for dirpath, dirs, files in os.walk(src):
        rel = Path(dirpath).relative_to(src)
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(dirpath, d))]
        (dst / rel).mkdir(parents=True, exist_ok=True)
        for f in files:
            s = Path(dirpath) / f
            if s.is_symlink() or f.startswith(".tmp-") or f.endswith(".tmp"):
                continue
            shutil.copy2(s, dst / rel / f)
            n += 1
    return n


def _prepare_out(ws, out):
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(msg("error.maintenance.backup_folder_must_new",
                "Backup folder {out} must be new or empty.",
                out=out))
    if os.path.realpath(out).startswith(os.path.realpath(ws.root) + os.sep):
        raise InputError(msg("error.maintenance.backup_folder_inside_workspace",
                "Backup folder {out} is inside the workspace; choose a folder outside it.",
                out=out))
    need = ws.db_path.stat().st_size + _tree_bytes(ws.blobs_dir) + _tree_bytes(ws.runs_dir)
    probe = out if out.exists() else next((p for p in out.absolute().parents if p.exists()), Path("."))
    free = shutil.disk_usage(probe).free
    if need > free:
        raise InputError(msg("error.maintenance.backup_needs_about_gb",
                "The backup needs about {need_1e9:.2f} GB but {probe} has {free_1e9:.2f} GB free.",
                need_1e9=need / 1e9, probe=probe, free_1e9=free / 1e9))
    out.mkdir(parents=True, exist_ok=True)
    return out, need


def backup_workspace(ws, out, user: str = "local") -> dict:
    """Copy a workspace to ``out`` (a new or empty folder): database, blobs and runs.

    Parameters
    ----------
    ws : Workspace
    out : str or os.PathLike
    user : str
        Must be an admin (a backup holds every account, label and model).

    Returns
    -------
    dict
        ``path``, ``integrity`` (of the copy), ``blobs`` and ``run_files`` (files copied), ``bytes``
        (about what was copied), ``seconds``.

    Raises
    ------
    InputError
        ``out`` is not empty, lies inside the workspace, or its disk is too small. A partial backup is
        removed.
    """
    from .workspace import DB_NAME

    t0 = time.perf_counter()
    with ws.read() as conn:
        require(conn, user, _ADMIN_ACTION)
    out, need = _prepare_out(ws, out)
    try:
        src = sqlite3.connect(ws.db_path, timeout=30)
        dst = sqlite3.connect(out / DB_NAME)
        try:
            src.backup(dst)
            integrity = dst.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            dst.close()
            src.close()
        n_blobs = _copy_tree(ws.blobs_dir, out / "blobs") if ws.blobs_dir.is_dir() else 0
        n_runs = _copy_tree(ws.runs_dir, out / "runs") if ws.runs_dir.is_dir() else 0
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    return {"path": str(out), "integrity": integrity, "blobs": n_blobs, "run_files": n_runs, "bytes": need,
            "seconds": round(time.perf_counter() - t0, 3)}
