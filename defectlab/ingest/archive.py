"""Safe extraction of uploaded zip archives.

:func:`safe_extract_zip` is the only way defectlab opens a zip. It refuses, before writing anything,
archives that could escape the destination folder (``../``, absolute paths, drive letters) or that
are zip bombs (too many entries, too many declared bytes, a compression ratio over the limit), and it
counts the bytes actually written so a lying size header cannot get past the limits either.

File names: entries without the UTF-8 flag are decoded the way the archive's author most likely wrote
them: the Info-ZIP Unicode path field when present, else UTF-8, else GBK/GB18030 (zip files made by
Windows Explorer on a Chinese system), else the zip standard's CP437.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from defectlab.errors import InputError
from defectlab.messages import Message, msg, os_reason

__all__ = ["ExtractResult", "Skipped", "safe_extract_zip"]

_GB = 1024**3
_MB = 1024**2
_RATIO_MIN_BYTES = 1 * _MB  # small entries may compress very well legitimately
_CHUNK = 1 * _MB
_JUNK_FILES = {".ds_store", "thumbs.db", "desktop.ini", "ehthumbs.db"}


class Skipped(NamedTuple):
    """An archive entry that was not extracted, and why. Unpacks as ``source, reason``."""

    source: str
    reason: str


@dataclass
class ExtractResult:
    """What :func:`safe_extract_zip` wrote.

    Attributes
    ----------
    files : list of Path
        Every extracted file, in archive order.
    skipped : list of Skipped
        Entries not extracted (``__MACOSX/``, ``.DS_Store``, hidden files, symbolic links, encrypted
        or corrupt entries, duplicates), with the entry name as ``source``.
    """

    files: list[Path] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def _unicode_extra(info):
    """The UTF-8 name from an Info-ZIP Unicode Path extra field (0x7075), if valid."""
    extra = info.extra
    i = 0
    while i + 4 <= len(extra):
        hid, size = struct.unpack_from("<HH", extra, i)
        body = extra[i + 4:i + 4 + size]
        if hid == 0x7075 and len(body) >= 5 and body[0] == 1:
            try:
                raw = info.orig_filename.encode("cp437")
            except UnicodeEncodeError:
                return None
            if struct.unpack_from("<I", body, 1)[0] == zlib.crc32(raw):
                try:
                    return body[5:].decode("utf-8")
                except UnicodeDecodeError:
                    return None
        i += 4 + size
    return None


def _decode_name(info):
    # orig_filename: zipfile cuts ``filename`` at a NUL byte, which must be seen to be refused
    name = info.orig_filename
    if info.flag_bits & 0x800:
        return name
    uni = _unicode_extra(info)
    if uni:
        return uni
    try:
        raw = name.encode("cp437")
    except UnicodeEncodeError:  # already decoded with another encoding by the caller's zipfile
        return name
    for enc in ("utf-8", "gb18030"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    return name


_UNSAFE = {  # why a name is unsafe: (English, catalog key)
    "nul": ("a NUL character in the name", "ingest.reason.unsafe_nul"),
    "absolute": ("an absolute path", "ingest.reason.unsafe_absolute"),
    "drive": ("a Windows drive letter", "ingest.reason.unsafe_drive"),
    "parent": ("a '..' component that climbs out of the folder", "ingest.reason.unsafe_parent"),
}


def _unsafe_reason(name):
    """Why a (decoded) entry name could escape the destination (a key of ``_UNSAFE``), or None."""
    n = name.replace("\\", "/")
    if "\x00" in n:
        return "nul"
    if n.startswith("/"):
        return "absolute"
    if re.match(r"^[A-Za-z]:", n):
        return "drive"
    if ".." in n.split("/"):
        return "parent"
    return None


def _skip_reason(parts, info):
    if any(p == "__MACOSX" for p in parts):
        return msg("ingest.reason.skip_macosx", "macOS metadata (__MACOSX)")
    base = parts[-1]
    if base.lower() in _JUNK_FILES:
        return msg("ingest.reason.skip_system_file", "system file ({name})", name=base)
    if base.startswith("._"):
        return msg("ingest.reason.skip_resource_fork", "macOS resource fork (._ file)")
    if any(p.startswith(".") for p in parts):
        return msg("ingest.reason.skip_hidden", "hidden file or folder")
    mode = info.external_attr >> 16
    if info.create_system == 3 and stat.S_ISLNK(mode):
        return msg("ingest.reason.skip_symlink", "symbolic link (links are never extracted)")
    if info.flag_bits & 0x1:
        return msg("ingest.reason.skip_encrypted", "encrypted (password-protected) entry")
    return None


def _clear(dest, created):
    if created:
        shutil.rmtree(dest, ignore_errors=True)
    else:
        for child in dest.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)


def _fmt(n):
    return f"{n / _GB:.2f} GB" if n >= _GB else f"{n / _MB:.1f} MB" if n >= _MB else f"{n} bytes"


_FREE_RESERVE = 512 * _MB  # an import never fills the disk to less than this


@dataclass
class _Plan:
    """What will be extracted: ``(info, name, parts)`` entries and their declared sizes."""

    entries: list = field(default_factory=list)
    declared: int = 0
    compressed: int = 0


def _plan_entries(zf, shown, max_ratio, result):
    """Check every entry's name and ratio; safe entries to extract, the others in ``result.skipped``."""
    plan = _Plan()
    for info in zf.infolist():
        name = _decode_name(info)
        bad = _unsafe_reason(name)
        if bad:
            # Never written: it would land outside the folder. The safe entries are still kept.
            what, key = _UNSAFE[bad]
            result.skipped.append(Skipped(name, Message(f"unsafe path ({what}): not extracted", key)))
            continue
        if info.is_dir():
            continue
        parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
        if not parts:
            continue
        why = _skip_reason(parts, info)
        if why:
            result.skipped.append(Skipped(name, why))
            continue
        _check_entry_ratio(info, name, shown, max_ratio)
        plan.declared += info.file_size
        plan.compressed += info.compress_size
        plan.entries.append((info, name, parts))
    return plan


def _check_entry_ratio(info, name, shown, max_ratio):
    if info.file_size > _RATIO_MIN_BYTES:
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > max_ratio:
            raise InputError(
                msg("error.archive.looks_like_zip_bomb_2",
                    "{shown} looks like a zip bomb: {name_80} expands {fmt_info_compress_size} into "
                    "{fmt_info_file_size} (ratio {ratio:.0f}:1, the limit is {max_ratio:g}:1). "
                    "Nothing was extracted; raise max_ratio if the archive is trusted.",
                    shown=shown,
                    name_80=repr(name[:80]),
                    fmt_info_compress_size=_fmt(info.compress_size),
                    fmt_info_file_size=_fmt(info.file_size),
                    ratio=ratio,
                    max_ratio=max_ratio)
            )


def _check_archive(plan, zip_size, dest, shown, max_files, max_total_bytes, max_ratio):
    """Archive-wide limits: file count, total size, total ratio, and the free space at ``dest``."""
    n_files = len(plan.entries)
    if n_files > max_files:
        raise InputError(
            msg("error.archive.has_files_over_limit",
                "{shown} has {n_files} files, over the limit of {max_files}. Nothing was extracted; "
                "split the archive or raise max_files.",
                shown=shown, n_files=n_files, max_files=max_files)
        )
    if plan.declared > max_total_bytes:
        raise InputError(
            msg("error.archive.would_expand_over_limit",
                "{shown} would expand to {fmt_plan_declared}, over the {fmt_max_total_bytes} limit. "
                "Nothing was extracted; split the archive or raise max_total_bytes.",
                shown=shown, fmt_plan_declared=_fmt(plan.declared), fmt_max_total_bytes=_fmt(max_total_bytes))
        )
    # many small entries that each stay under the per-entry check still add up: ratio of the whole
    ratio = plan.declared / max(zip_size, 1)
    if plan.declared > _RATIO_MIN_BYTES and ratio > max_ratio:
        raise InputError(
            msg("error.archive.looks_like_zip_bomb",
                "{shown} looks like a zip bomb: {fmt_zip_size} expands into {fmt_plan_declared} "
                "(ratio {ratio:.0f}:1, the limit is {max_ratio:g}:1). Nothing was extracted; raise "
                "max_ratio if the archive is trusted.",
                shown=shown,
                fmt_zip_size=_fmt(zip_size),
                fmt_plan_declared=_fmt(plan.declared),
                ratio=ratio,
                max_ratio=max_ratio)
        )
    probe = dest if dest.exists() else next((p for p in dest.parents if p.exists()), Path("."))
    free = shutil.disk_usage(probe).free
    if plan.declared + _FREE_RESERVE > free:
        raise InputError(
            msg("error.archive.would_expand_but_only",
                "{shown} would expand to {fmt_plan_declared} but only {fmt_free} is free on the "
                "workspace disk ({fmt_free_reserve} is kept free for saving labels). Nothing was "
                "extracted; free some space or import a smaller archive.",
                shown=shown,
                fmt_plan_declared=_fmt(plan.declared),
                fmt_free=_fmt(free),
                fmt_free_reserve=_fmt(_FREE_RESERVE))
        )


def _copy_entry(zf, info, target, shown, name, budget):
    """Write one entry, counting real bytes; returns the bytes written."""
    written = 0
    with zf.open(info) as src, open(target, "xb") as out:
        while True:
            chunk = src.read(_CHUNK)
            if not chunk:
                return written
            written += len(chunk)
            if written > info.file_size:
                raise InputError(
                    msg("error.archive.unsafe_holds_more_data",
                        "{shown} is unsafe: {name_80} holds more data than its header declares "
                        "({file_size} bytes). Nothing was extracted.",
                        shown=shown, name_80=repr(name[:80]), file_size=info.file_size)
                )
            if written > budget:
                raise InputError(
                    msg("error.archive.expands_past_size_limit",
                        "{shown} expands past its size limit. Nothing was extracted; split the "
                        "archive or raise max_total_bytes.",
                        shown=shown)
                )
            out.write(chunk)


def _extract_one(zf, info, name, parts, dest, dest_real, shown, budget, result):
    """Extract one planned entry (or list it in ``result.skipped``); returns the bytes written."""
    target = dest.joinpath(*parts)
    try:  # a name the system cannot even look up (longer than 255 bytes: ~85 Chinese characters) is one rejection
        parent_real = os.path.realpath(target.parent) if target.parent.exists() else None
        present = target.exists()
    except OSError as e:
        result.skipped.append(Skipped(name, msg("ingest.reason.zip_write_failed", "cannot be written here ({detail})",
                                                detail=os_reason(e))))
        return 0
    if parent_real is not None and os.path.commonpath([dest_real, parent_real]) != dest_real:
        raise InputError(msg("error.archive.unsafe_would_written_outside",
                "{shown} is unsafe: {name_80} would be written outside {dest}.",
                shown=shown, name_80=repr(name[:80]), dest=dest))
    if present:
        result.skipped.append(Skipped(name, msg("ingest.reason.zip_duplicate",
                                                "duplicate entry: the first one was kept")))
        return 0
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if os.path.commonpath([dest_real, os.path.realpath(target.parent)]) != dest_real:
            raise InputError(msg("error.archive.unsafe_would_written_outside",
                    "{shown} is unsafe: {name_80} would be written outside {dest}.",
                    shown=shown, name_80=repr(name[:80]), dest=dest))
        written = _copy_entry(zf, info, target, shown, name, budget)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, ValueError) as e:
        target.unlink(missing_ok=True)
        result.skipped.append(Skipped(name, msg("ingest.reason.zip_corrupt_entry",
                                                "corrupt or unsupported entry ({detail}); not "
                                                "extracted", detail=str(e)[:200])))
        return 0
    except OSError as e:
        if e.errno == errno.ENOSPC:
            raise InputError(msg("error.archive.disk_full_nothing_was",
                    "{shown}: the disk is full. Nothing was extracted; free some space.",
                    shown=shown)) from None
        with contextlib.suppress(OSError):
            target.unlink(missing_ok=True)
        result.skipped.append(Skipped(name, msg("ingest.reason.zip_write_failed", "cannot be written here ({detail})",
                                                detail=os_reason(e))))
        return 0
    result.files.append(target)
    return written


def _check_limits_args(max_total_bytes, max_files, max_ratio):
    for name, value in (("max_total_bytes", max_total_bytes), ("max_files", max_files),
                        ("max_ratio", max_ratio)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise InputError(msg("error.archive.parameter_safe_extract_zip",
                    "The '{name}' parameter of safe_extract_zip must be a positive number. Got "
                    "{value}.",
                    name=name, value=repr(value)))


def safe_extract_zip(zip_path, dest_dir, max_total_bytes: int = 2 * _GB, max_files: int = 200_000,
                     max_ratio: float = 200) -> ExtractResult:
    """Extract a zip archive into an empty folder, refusing anything unsafe.

    Parameters
    ----------
    zip_path : str or os.PathLike
    dest_dir : str or os.PathLike
        Created if missing; must be empty if it exists.
    max_total_bytes : int, default 2 GB
        Limit on the uncompressed size of all entries, declared and actually written.
    max_files : int, default 200 000
        Limit on the number of file entries.
    max_ratio : float, default 200
        Limit on the compression ratio (uncompressed / compressed) of any entry over 1 MB, and of the
        whole archive (all entries / the zip file's size).

    Returns
    -------
    ExtractResult
        ``files`` written and entries ``skipped`` with a reason.

    Raises
    ------
    InputError
        Not a zip file; over a limit (zip bomb); more than the free disk space (minus a 512 MB reserve
        kept for other users' saves); a full disk while writing; a non-empty ``dest_dir``. Nothing is
        left in ``dest_dir`` after an error. Entries with an absolute path, a drive letter or ``..`` are
        never written: they are listed in ``skipped`` and the safe entries are extracted.

    Examples
    --------
    >>> import io, tempfile, pathlib
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> with zipfile.ZipFile(tmp / "a.zip", "w") as z:
    ...     z.writestr("划痕/001.png", b"x")
    ...     z.writestr("__MACOSX/._001.png", b"x")
    >>> r = safe_extract_zip(tmp / "a.zip", tmp / "out")
    >>> [p.relative_to(tmp / "out").as_posix() for p in r.files], r.skipped[0].reason
    (['划痕/001.png'], 'macOS metadata (__MACOSX)')
    """
    _check_limits_args(max_total_bytes, max_files, max_ratio)
    zip_path = Path(zip_path)
    dest = Path(dest_dir)
    shown = zip_path.name
    if not zip_path.is_file():
        raise InputError(msg("error.archive.archive_does_not_exist",
                "{zip_path}: the archive does not exist.",
                zip_path=zip_path))
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise InputError(msg("error.archive.cannot_extract_into_must",
                "Cannot extract {shown} into {dest}: it must be a new or empty folder.",
                shown=shown, dest=dest))
    try:
        zf = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as e:
        raise InputError(msg("error.archive.not_zip_archive_damaged",
                "{shown}: not a zip archive, or a damaged one ({str_e_200}).",
                shown=shown, str_e_200=str(e)[:200])) from None

    result = ExtractResult()
    with zf:
        # ---- plan and check everything before writing a byte
        plan = _plan_entries(zf, shown, max_ratio, result)
        _check_archive(plan, zip_path.stat().st_size, dest, shown, max_files, max_total_bytes, max_ratio)
        # ---- extract, counting real bytes
        created = not dest.exists()
        dest.mkdir(parents=True, exist_ok=True)
        dest_real = os.path.realpath(dest)
        written_total = 0
        try:
            for info, name, parts in plan.entries:
                written_total += _extract_one(zf, info, name, parts, dest, dest_real, shown,
                                              max_total_bytes - written_total, result)
        except BaseException:
            _clear(dest, created)
            raise
    return result
