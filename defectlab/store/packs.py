"""Packed blobs: many images appended to one file instead of one file per image.

A bulk import writes its blobs into append-only pack files ``blobs/packs/<32 hex>.pack`` (one writer per
pack; a new pack every :data:`PACK_ROLL_BYTES`), with one ``fsync`` per import chunk before the chunk's
rows are committed. The item's ``blob`` column then holds a self-describing reference

    ``blobs/packs/<pack>.pack/<offset>+<length>/<sha256>.<ext>``

so reading a blob needs no database lookup (the Dask workers only get the reference), and the reference
still ends in ``<sha256>.<ext>`` like a loose blob's ``blobs/<sh>/<sha256>.<ext>``. Loose blobs (single
uploads, crops cut by hand, every workspace written before packs) keep working unchanged.

Safety
------
A reference is parsed with one strict pattern: the pack name is 32 hex digits (no path can be named),
offset and length are bounded decimal numbers, the length is at most :data:`MAX_PACKED_BLOB` and the range
must lie inside the pack file as it is on disk (checked with ``fstat`` before anything is allocated), and
the bytes read must hash to the reference's sha256. A tampered or truncated one is a
:class:`~defectlab.errors.StorageError` naming the reference, never a read outside the pack.

An import killed mid-chunk leaves bytes at the end of its pack that no committed row names (harmless;
they are never read), or a whole pack no row names: :func:`unreferenced_packs` finds it for
``defectlab check --repair`` once it is stale.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import NotFoundError, StorageError
from ..messages import msg

if TYPE_CHECKING:
    from .workspace import Workspace

__all__ = ["MAX_PACKED_BLOB", "PACK_ROLL_BYTES", "PackRef", "PackWriter", "is_packed", "pack_files", "parse_ref",
           "read_packed", "referenced_packs", "unreferenced_packs"]

PACKS_REL = "blobs/packs"
PACK_ROLL_BYTES = 256 * 1024 * 1024
"""A writer starts a new pack once the current one would grow past this many bytes."""
MAX_PACKED_BLOB = 64 * 1024 * 1024
"""Larger blobs are stored loose (one file); a packed reference naming a longer range is refused."""

_REF = re.compile(r"blobs/packs/(?P<pack>[0-9a-f]{32})\.pack/(?P<offset>[0-9]{1,12})\+(?P<length>[0-9]{1,9})/"
                  r"(?P<sha>[0-9a-f]{64})\.(?P<ext>[a-z0-9]{1,10})")
_EXT = re.compile(r"[a-z0-9]{1,10}")
_PACK_NAME = re.compile(r"[0-9a-f]{32}\.pack")
_O_BINARY = getattr(os, "O_BINARY", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


@dataclass(frozen=True)
class PackRef:
    """A parsed packed-blob reference."""

    pack: str
    offset: int
    length: int
    sha256: str
    ext: str

    @property
    def rel(self) -> str:
        """The reference as stored in ``items.blob``."""
        return f"{PACKS_REL}/{self.pack}.pack/{self.offset}+{self.length}/{self.sha256}.{self.ext}"

    @property
    def pack_rel(self) -> str:
        """The pack file, relative to the workspace root."""
        return f"{PACKS_REL}/{self.pack}.pack"


def is_packed(rel: str) -> bool:
    """Whether a stored ``blob`` value names a pack (well-formed or not) rather than a loose file."""
    return str(rel).startswith(PACKS_REL + "/")


def parse_ref(rel: str) -> PackRef:
    """Parse a packed reference; a malformed one raises :class:`~defectlab.errors.StorageError`.

    Examples
    --------
    >>> r = parse_ref("blobs/packs/" + "0" * 32 + ".pack/10+5/" + "a" * 64 + ".png")
    >>> (r.offset, r.length, r.ext)
    (10, 5, 'png')
    """
    m = _REF.fullmatch(str(rel))
    if m is None:
        raise StorageError(msg("error.packs.bad_reference",
                               "The image reference {rel} in the database is damaged (not a valid packed-blob "
                               "reference); run 'defectlab check'.", rel=repr(str(rel)[:200])))
    return PackRef(m["pack"], int(m["offset"]), int(m["length"]), m["sha"], m["ext"])


def _damaged(ref, reason):
    return StorageError(msg("error.packs.damaged", "The image {rel} cannot be read from its pack: {reason}; "
                            "run 'defectlab check'.", rel=ref.rel, reason=reason))


def read_packed(ws: Workspace, rel: str) -> bytes:
    """The bytes of a packed blob, read by offset, bounded and verified against its sha256.

    Raises
    ------
    NotFoundError
        The pack file is missing.
    StorageError
        The reference is malformed, names a range outside the pack (a truncated pack or a tampered
        row), or the bytes do not match the sha256.
    """
    ref = parse_ref(rel)
    path = os.path.join(ws.blobs_dir, "packs", f"{ref.pack}.pack")
    try:
        fd = os.open(path, os.O_RDONLY | _O_BINARY | _O_NOFOLLOW)
    except FileNotFoundError:
        raise NotFoundError(msg("error.workspace.image_file_missing_from",
                                "Image file {rel} is missing from workspace {root}; was the blobs/ folder moved?",
                                rel=ref.pack_rel, root=ws.root)) from None
    except OSError as exc:
        raise _damaged(ref, f"the pack cannot be opened ({exc.strerror or exc})") from None
    with os.fdopen(fd, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if ref.length > MAX_PACKED_BLOB:
            raise _damaged(ref, f"its length {ref.length} is over the {MAX_PACKED_BLOB} bytes a packed image "
                                f"may have")
        if ref.offset + ref.length > size:
            raise _damaged(ref, f"bytes {ref.offset}-{ref.offset + ref.length} lie outside the pack "
                                f"({size} bytes; truncated?)")
        fh.seek(ref.offset)
        data = fh.read(ref.length)
    if len(data) != ref.length or hashlib.sha256(data).hexdigest() != ref.sha256:
        raise _damaged(ref, "the bytes do not match their sha256")
    return data


class PackWriter:
    """Appends blobs to pack files of its own; one thread uses it.

    :meth:`add` returns the reference at once and keeps the bytes pending; :meth:`sync` writes what is
    pending and ``fsync``s it, and must run before any row naming those references is committed (the
    importer calls it once per chunk). :meth:`start_sync` begins that on a helper thread, so the caller can
    insert its rows while the disk syncs; :meth:`sync` then waits for it. :meth:`close` syncs and closes.
    Blobs over :data:`MAX_PACKED_BLOB` are stored loose (:meth:`Workspace.put_blob`).
    """

    def __init__(self, ws: Workspace, roll_bytes: int = PACK_ROLL_BYTES):
        self.ws = ws
        self.roll_bytes = int(roll_bytes)
        self._fd: int | None = None
        self._pack = ""
        self._size = 0  # bytes of the current pack, pending ones included
        self._pending: list[bytes] = []
        self._new_file = False
        self._syncing: threading.Thread | None = None  # a start_sync in flight
        self._sync_error: BaseException | None = None
        self.packs: list[str] = []  # pack files this writer made (relative paths)

    def add(self, data: bytes, ext: str, sha256: str | None = None) -> tuple[str, str]:
        """Append ``data``; return ``(sha256, reference)`` like :meth:`Workspace.put_blob`."""
        ext = str(ext).lower().lstrip(".") or "bin"
        if len(data) > MAX_PACKED_BLOB or not _EXT.fullmatch(ext):
            return self.ws.put_blob(data, ext)
        sha = sha256 or hashlib.sha256(data).hexdigest()
        if self._fd is None or (self._size and self._size + len(data) > self.roll_bytes):
            self._open_new()
        rel = f"{PACKS_REL}/{self._pack}.pack/{self._size}+{len(data)}/{sha}.{ext}"  # PackRef.rel, inline
        self._pending.append(data)
        self._size += len(data)
        return sha, rel

    def _open_new(self):
        self.close()
        folder = os.path.join(self.ws.blobs_dir, "packs")
        os.makedirs(folder, exist_ok=True)
        self._pack = uuid.uuid4().hex
        self._fd = os.open(os.path.join(folder, f"{self._pack}.pack"),
                           os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | _O_BINARY, 0o600)
        self._size = 0
        self._new_file = True
        self.packs.append(f"{PACKS_REL}/{self._pack}.pack")

    def sync(self) -> None:
        """Write the pending bytes and make them durable (one ``fsync``; the folder's too for a new pack).

        Waits for a :meth:`start_sync` in flight first and raises its error, if any."""
        self._wait()
        self._write_and_sync(*self._take())

    def start_sync(self) -> None:
        """Begin :meth:`sync` of what is pending now on a helper thread and return at once.

        ``fsync`` waits for the disk, not the CPU: the importer inserts a chunk's rows meanwhile and calls
        :meth:`sync` before its ``COMMIT``, which waits for the thread (one at a time per writer)."""
        self._wait()
        work = self._take()
        if work[0] is None:
            return
        self._syncing = threading.Thread(target=self._sync_in_thread, args=work, name="defectlab-pack-sync",
                                         daemon=True)
        self._syncing.start()

    def _take(self):
        """``(fd, bytes, folder to sync)`` of a sync: what is pending leaves the writer."""
        if self._fd is None:
            return None, b"", None
        data = b"".join(self._pending)
        self._pending = []
        folder = os.path.join(self.ws.blobs_dir, "packs") if self._new_file else None
        self._new_file = False
        return self._fd, data, folder

    @staticmethod
    def _write_and_sync(fd, data, folder):
        if fd is None:
            return
        if data:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        if folder is not None:
            _fsync_folder(folder)

    def _sync_in_thread(self, fd, data, folder):
        try:
            self._write_and_sync(fd, data, folder)
        except BaseException as exc:  # raised in the caller's thread by _wait
            self._sync_error = exc

    def _wait(self, raise_error=True):
        if self._syncing is not None:
            self._syncing.join()
            self._syncing = None
        error, self._sync_error = self._sync_error, None
        if error is not None and raise_error:
            raise error

    def close(self) -> None:
        """Sync and close the current pack (a writer may be used again: it then starts a new pack)."""
        if self._fd is None:
            return
        try:
            self.sync()
        finally:
            os.close(self._fd)
            self._fd = None
            self._pending = []

    def abandon(self) -> None:
        """Close without writing what is pending (after a failure: no row names those bytes)."""
        self._wait(raise_error=False)  # the thread's file descriptor is closed only once it is done
        self._pending = []
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> PackWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abandon()


def _fsync_folder(folder):
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def pack_files(ws: Workspace) -> list[str]:
    """Names (``<32 hex>.pack``) of the pack files in ``blobs/packs/`` (regular files only)."""
    folder = os.path.join(ws.blobs_dir, "packs")
    if not os.path.isdir(folder):
        return []
    with os.scandir(folder) as entries:
        return sorted(e.name for e in entries if _PACK_NAME.fullmatch(e.name) and e.is_file(follow_symlinks=False))


def referenced_packs(conn) -> set[str]:
    """Pack names (``<32 hex>.pack``) some item's ``blob`` names."""
    start = len(PACKS_REL) + 2
    return {r[0] for r in conn.execute(
        f"SELECT DISTINCT substr(blob, {start}, 37) FROM items WHERE blob LIKE '{PACKS_REL}/%'")}


def unreferenced_packs(ws: Workspace, conn) -> list[str]:
    """Pack files no item names (left by an import killed before its first chunk was committed)."""
    used = referenced_packs(conn)
    return [n for n in pack_files(ws) if n not in used]
