"""The workspace: one folder holding the SQLite database, the content-addressed image blobs, the feature
cache and the trained runs.

Connections are short-lived (one per unit of work) so that many Streamlit sessions, CLI commands and worker
processes can share a workspace: SQLite runs in WAL mode with foreign keys on and a busy timeout.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as _dt
import hashlib
import itertools
import os
import sqlite3
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InputError, NotFoundError, StorageError
from ..messages import msg, os_reason
from .migrations import apply_migrations
from .packs import is_packed, parse_ref, read_packed

_MADE_DIRS: set[str] = set()  # blob folders known to exist (os.makedirs once per folder and process)
_TMP_COUNTER = itertools.count()

if TYPE_CHECKING:
    from defectlab._typing import PathLike

__all__ = ["Workspace", "default_workspace_path", "open_workspace", "utcnow"]

DB_NAME = "defectlab.sqlite"
BUSY_TIMEOUT_MS = 30_000

# One idle connection per database kept open for the life of the process. When the *last* connection
# to a WAL database closes, SQLite checkpoints and syncs the WAL; with short-lived connections that
# would happen on every save (about 20x slower per label: benchmarks/team_label_writes.py). The anchor
# makes every close a cheap one; checkpoints still happen automatically (wal_autocheckpoint).
_ANCHORS: collections.OrderedDict[str, sqlite3.Connection] = collections.OrderedDict()
_ANCHORS_MAX = 16
_ANCHORS_LOCK = threading.Lock()


def _anchor(db_path):
    key = os.path.realpath(db_path)
    with _ANCHORS_LOCK:
        if key in _ANCHORS:
            _ANCHORS.move_to_end(key)
            return
        anchor = sqlite3.connect(key, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
        anchor.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()  # attach to the WAL now
        _ANCHORS[key] = anchor
        while len(_ANCHORS) > _ANCHORS_MAX:
            _ANCHORS.popitem(last=False)[1].close()


def utcnow() -> str:
    """The current UTC time as an ISO-8601 string with microseconds (sorts as text)."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="microseconds")


def default_workspace_path() -> Path:
    """``$DEFECTLAB_WORKSPACE`` if set, else ``./workspace``."""
    return Path(os.environ.get("DEFECTLAB_WORKSPACE") or "workspace")


class Workspace:
    """A defectlab workspace folder.

    Use :func:`open_workspace` to get one: it creates the folder and database when absent and applies
    pending migrations.

    Attributes
    ----------
    root : Path
        The workspace folder.
    db_path : Path
        ``root / "defectlab.sqlite"``.
    """

    def __init__(self, root):
        self.root = Path(root)
        self.db_path = self.root / DB_NAME

    def __repr__(self):
        return f"Workspace({str(self.root)!r})"

    # -- folders ---------------------------------------------------------------------------------
    @property
    def blobs_dir(self):
        return self.root / "blobs"

    @property
    def features_dir(self):
        return self.root / "features"

    @property
    def runs_dir(self):
        return self.root / "runs"

    @property
    def tmp_dir(self):
        return self.root / "tmp"

    # -- database --------------------------------------------------------------------------------
    def _connect(self):
        _anchor(self.db_path)
        conn = sqlite3.connect(
            self.db_path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    @contextlib.contextmanager
    def read(self):
        """A short-lived connection for reading (autocommit; each statement sees committed data)."""
        with _storage_errors(self.root):
            conn = self._connect()
            try:
                yield conn
            finally:
                conn.close()

    @contextlib.contextmanager
    def transaction(self, conn=None):
        """A short-lived connection inside ``BEGIN IMMEDIATE``: committed on success, rolled back on error.

        ``IMMEDIATE`` takes the write lock up front, so a read-check-write sequence inside (a version
        check before an annotation, say) cannot interleave with another writer. ``conn``: an open
        connection of :meth:`read` to use (and leave open) instead of a new one.
        """
        with _storage_errors(self.root):
            own = conn is None
            if own:
                conn = self._connect()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    with contextlib.suppress(sqlite3.Error):  # a failed COMMIT may have ended it already
                        conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            finally:
                if own:
                    conn.close()

    def integrity_check(self):
        """``PRAGMA integrity_check`` result (``"ok"`` when the database is sound)."""
        with self.read() as conn:
            return conn.execute("PRAGMA integrity_check").fetchone()[0]

    # -- blobs -----------------------------------------------------------------------------------
    def blob_relpath(self, sha256, ext):
        ext = ext.lower().lstrip(".") or "bin"
        return f"blobs/{sha256[:2]}/{sha256}.{ext}"

    def put_blob(self, data, ext):
        """Store bytes content-addressed; return ``(sha256, relative path)``. Idempotent and atomic.

        The bytes go to a unique ``blobs/.incoming/.tmp-<pid>-<thread>-<n>`` file (created with
        ``O_EXCL``, mode 0600) and are published with ``os.replace``: a crash never leaves a
        half-written blob under its content name. (``tempfile.mkstemp`` did the same at 2-3x the cost
        per file, which showed in 100,000-image imports.)
        """
        sha = hashlib.sha256(data).hexdigest()
        rel = self.blob_relpath(sha, ext)
        path = os.path.join(self.root, rel)
        if not os.path.exists(path):
            folder = os.path.dirname(path)
            incoming = os.path.join(self.blobs_dir, ".incoming")  # one folder to clean after a killed write
            for made in (folder, incoming):
                if made not in _MADE_DIRS:
                    os.makedirs(made, exist_ok=True)
                    _MADE_DIRS.add(made)
            tmp = os.path.join(incoming, f".tmp-{os.getpid()}-{threading.get_ident()}-{next(_TMP_COUNTER)}")
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
            try:
                fd = os.open(tmp, flags, 0o600)
            except FileNotFoundError:  # a folder was removed meanwhile (the leftover clean-up)
                os.makedirs(incoming, exist_ok=True)
                os.makedirs(folder, exist_ok=True)
                fd = os.open(tmp, flags, 0o600)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        return sha, rel

    def blob_path(self, rel):
        """Absolute path of a loose blob's file from its stored relative path (refuses paths leaving
        ``blobs/``, and packed references, which have no file of their own: read those with
        :meth:`read_blob`)."""
        if is_packed(rel):
            raise InputError(msg("error.workspace.blob_is_packed",
                                 "Image {rel} is stored in a pack file, not a file of its own; read it with "
                                 "read_blob.", rel=repr(rel)))
        path = (self.root / rel).resolve()
        if self.blobs_dir.resolve() not in path.parents:
            raise InputError(msg("error.workspace.blob_path_outside_workspace",
                    "Blob path {rel} is outside the workspace's blobs/ folder.",
                    rel=repr(rel)))
        return path

    def blob_size(self, rel):
        """Size in bytes of a stored blob (a loose file's size, or a packed reference's length), without
        reading it."""
        if is_packed(rel):
            return parse_ref(rel).length
        return self.blob_path(rel).stat().st_size

    def read_blob(self, rel):
        """The bytes of a blob from its stored reference: a loose file, or a range of a pack file (bounded
        and checked against its sha256).

        Raises
        ------
        NotFoundError
            The file or pack is missing.
        InputError
            A loose path leaving ``blobs/``.
        StorageError
            A packed reference that is malformed, outside its pack or not matching its sha256.
        """
        if is_packed(rel):
            return read_packed(self, rel)
        path = self.blob_path(rel)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise NotFoundError(
                msg("error.workspace.image_file_missing_from",
                    "Image file {rel} is missing from workspace {root}; was the blobs/ folder moved?",
                    rel=rel, root=self.root)
            ) from None


def open_workspace(path: PathLike | None = None, create: bool = True) -> Workspace:
    """Open (and by default create) a workspace, applying pending migrations.

    Parameters
    ----------
    path : str or Path, optional
        The workspace folder; default ``$DEFECTLAB_WORKSPACE`` or ``./workspace``.
    create : bool, default True
        Create the folder and database when absent. With ``False`` a missing workspace raises
        :class:`~defectlab.errors.NotFoundError`.

    Returns
    -------
    Workspace

    Examples
    --------
    >>> import tempfile
    >>> ws = open_workspace(tempfile.mkdtemp())
    >>> ws.integrity_check()
    'ok'
    """
    root = Path(path) if path is not None else default_workspace_path()
    ws = Workspace(root)
    if not ws.db_path.exists():
        if not create:
            raise NotFoundError(
                msg("error.workspace.no_defectlab_workspace_no",
                    "No defectlab workspace at {root} (no {DB_NAME}). Create it with 'defectlab demo "
                    "--workspace {root}' or 'defectlab project create'.",
                    root=root, DB_NAME=DB_NAME)
            )
        if root.exists() and not root.is_dir():
            raise InputError(msg("error.workspace.workspace_path_exists_not",
                    "Workspace path {root} exists and is not a folder.",
                    root=root))
        root.mkdir(parents=True, exist_ok=True)
    try:
        for sub in (ws.blobs_dir, ws.features_dir, ws.runs_dir):
            sub.mkdir(parents=True, exist_ok=True)
        _prepare_database(ws)
    except sqlite3.DatabaseError as exc:
        raise StorageError(_storage_message(root, exc)) from None
    except OSError as exc:
        raise StorageError(msg("error.workspace.workspace_cannot_opened",
                "Workspace {root} cannot be opened: {exc_strerror_or_exc}.",
                root=root, exc_strerror_or_exc=os_reason(exc))) from None
    from .maintenance import clean_once

    clean_once(ws)  # leftovers of killed imports / trainings (once per process)
    return ws


@contextlib.contextmanager
def _storage_errors(root):
    """A damaged database or a full disk met by any statement becomes a :class:`StorageError` (a clear
    one-line message in the CLI and the app); constraint violations stay ``sqlite3.IntegrityError``."""
    try:
        yield
    except sqlite3.IntegrityError:
        raise
    except sqlite3.DatabaseError as exc:
        text = str(exc)
        if isinstance(exc, sqlite3.OperationalError) and not any(
                k in text for k in ("full", "disk I/O", "malformed", "not a database")):
            raise
        raise StorageError(_storage_message(root, exc)) from None


def _storage_message(root, exc):
    text = str(exc)
    if "full" in text:
        return msg("error.workspace.disk_full", "The disk of workspace {root} is full ({text}). Free some space and "
                   "try again.", root=root, text=text)
    return msg("error.workspace.database_damaged", "The database of workspace {root} is damaged or not a defectlab "
               "database ({text}). Restore it from a backup ('defectlab backup' makes one), or run 'defectlab "
               "check' to see what is wrong.", root=root, text=text)


def _prepare_database(ws):
    conn = sqlite3.connect(ws.db_path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA foreign_keys = ON")
        apply_migrations(conn, utcnow())
        _ensure_local_admin(conn)
    finally:
        conn.close()


def as_workspace(ws: Workspace | str | os.PathLike[str]) -> Workspace:
    """``ws`` itself when it is a :class:`Workspace`, else the existing workspace at that path.

    What every library function taking ``ws`` accepts: an open workspace or the folder of one (never
    created here: a missing workspace raises :class:`~defectlab.errors.NotFoundError`).

    Examples
    --------
    >>> import tempfile
    >>> ws = open_workspace(tempfile.mkdtemp())
    >>> as_workspace(ws) is ws, as_workspace(str(ws.root)).root == ws.root
    (True, True)
    """
    return ws if isinstance(ws, Workspace) else open_workspace(ws, create=False)


def _ensure_local_admin(conn):
    """Single-user mode starts with one local admin named ``local`` (no password)."""
    if conn.execute("SELECT 1 FROM users WHERE username = 'local'").fetchone() is None:
        conn.execute(
            "INSERT OR IGNORE INTO users (username, display_name, role, created_at) "
            "VALUES ('local', 'Local admin', 'admin', ?)",
            (utcnow(),),
        )
