"""Tests for defectlab.ingest.archive.safe_extract_zip: path escapes, zip bombs, names, junk."""

import re
import stat
import struct
import zipfile
import zlib

import pytest

from defectlab.errors import InputError
from defectlab.ingest.archive import ExtractResult, Skipped, safe_extract_zip


def _zip(path, entries, compression=zipfile.ZIP_DEFLATED):
    """entries: list of (name or ZipInfo, bytes)."""
    with zipfile.ZipFile(path, "w", compression) as z:
        for name, data in entries:
            z.writestr(name, data)
    return path


def _rel(result, dest):
    return [p.relative_to(dest).as_posix() for p in result.files]


def test_extracts_files_and_folders(tmp_path):
    z = _zip(tmp_path / "a.zip", [("cls_a/1.png", b"one"), ("划痕/划痕_001.png", b"two"), ("top.txt", b"3"),
                                  ("empty_dir/", b"")])
    dest = tmp_path / "out"
    res = safe_extract_zip(z, dest)
    assert isinstance(res, ExtractResult)
    assert _rel(res, dest) == ["cls_a/1.png", "划痕/划痕_001.png", "top.txt"]
    assert (dest / "划痕" / "划痕_001.png").read_bytes() == b"two"
    assert res.skipped == []


def test_skips_macos_and_windows_junk_and_reports_it(tmp_path):
    z = _zip(tmp_path / "a.zip", [("a/1.png", b"x"), ("__MACOSX/a/._1.png", b"x"), ("a/.DS_Store", b"x"),
                                  ("a/._2.png", b"x"), ("a/Thumbs.db", b"x"), (".git/config", b"x")])
    res = safe_extract_zip(z, tmp_path / "out")
    assert _rel(res, tmp_path / "out") == ["a/1.png"]
    assert res.skipped == [
        Skipped("__MACOSX/a/._1.png", "macOS metadata (__MACOSX)"),
        Skipped("a/.DS_Store", "system file (.DS_Store)"),
        Skipped("a/._2.png", "macOS resource fork (._ file)"),
        Skipped("a/Thumbs.db", "system file (Thumbs.db)"),
        Skipped(".git/config", "hidden file or folder"),
    ]
    source, _reason = res.skipped[0]  # unpacks like a scan Rejection
    assert source.startswith("__MACOSX")


def test_nul_byte_in_a_name_is_skipped(tmp_path):
    z = _zip(tmp_path / "a.zip", [("good.png", b"x"), ("a.pngXevil", b"x")])
    z.write_bytes(z.read_bytes().replace(b"a.pngXevil", b"a.png\x00evil"))
    res = safe_extract_zip(z, tmp_path / "out")
    assert [p.name for p in res.files] == ["good.png"]
    assert "a NUL character in the name" in res.skipped[0].reason


@pytest.mark.parametrize(
    "name,match",
    [
        ("../evil.txt", r"'\.\.' component"),
        ("a/../../evil.txt", r"'\.\.' component"),
        ("..\\evil.txt", r"'\.\.' component"),
        ("/etc/evil.txt", "an absolute path"),
        ("\\evil.txt", "an absolute path"),
        ("C:/Windows/evil.txt", "a Windows drive letter"),
        ("c:evil.txt", "a Windows drive letter"),
    ],
)
def test_entries_that_escape_are_skipped_and_never_written(tmp_path, name, match):
    z = _zip(tmp_path / "a.zip", [("good.png", b"x"), (name, b"evil")])
    dest = tmp_path / "sub" / "out"
    res = safe_extract_zip(z, dest)
    assert [p.name for p in res.files] == ["good.png"]
    ((_source, reason),) = res.skipped
    assert re.search(match, reason) and reason.startswith("unsafe path")
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "sub" / "evil.txt").exists()
    assert sorted(p.name for p in dest.rglob("*")) == ["good.png"]


def test_symlink_entries_are_skipped_not_created(tmp_path):
    info = zipfile.ZipInfo("link.png")
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    z = _zip(tmp_path / "a.zip", [(info, b"/etc/passwd"), ("ok.png", b"x")])
    dest = tmp_path / "out"
    res = safe_extract_zip(z, dest)
    assert _rel(res, dest) == ["ok.png"]
    assert res.skipped == [Skipped("link.png", "symbolic link (links are never extracted)")]
    assert not (dest / "link.png").exists() and not (dest / "link.png").is_symlink()


def test_zip_bomb_is_refused_by_compression_ratio(tmp_path):
    z = _zip(tmp_path / "bomb.zip", [("zeros.bin", b"\0" * (50 * 1024 * 1024))])
    assert z.stat().st_size < 200_000  # small to create and to ship
    dest = tmp_path / "out"
    with pytest.raises(InputError, match=r"looks like a zip bomb: 'zeros.bin' expands .* into 50\.0 MB "
                                         r"\(ratio \d+:1, the limit is 200:1\)"):
        safe_extract_zip(z, dest)
    assert not dest.exists()
    # a trusted archive can be let through
    res = safe_extract_zip(z, dest, max_ratio=1e6)
    assert (dest / "zeros.bin").stat().st_size == 50 * 1024 * 1024 and len(res.files) == 1


def test_small_entries_may_compress_well(tmp_path):
    z = _zip(tmp_path / "a.zip", [("a.xml", b"<a/>" * 100_000)])  # 400 KB, ratio > 200
    assert len(safe_extract_zip(z, tmp_path / "out").files) == 1


def test_total_size_limit(tmp_path):
    z = _zip(tmp_path / "a.zip", [("a.bin", bytes(range(256)) * 40), ("b.bin", bytes(range(256)) * 40)],
             compression=zipfile.ZIP_STORED)
    with pytest.raises(InputError, match=r"would expand to 20480 bytes, over the 20000 bytes limit"):
        safe_extract_zip(z, tmp_path / "out", max_total_bytes=20_000)
    assert not (tmp_path / "out").exists()


def test_file_count_limit(tmp_path):
    z = _zip(tmp_path / "a.zip", [(f"{i}.png", b"x") for i in range(3)] + [("__MACOSX/x", b"")])
    with pytest.raises(InputError, match="has 3 files, over the limit of 2"):
        safe_extract_zip(z, tmp_path / "out", max_files=2)
    assert len(safe_extract_zip(z, tmp_path / "out", max_files=3).files) == 3


def _patch_sizes(path, name, new_size):
    """Rewrite the uncompressed size of ``name`` in both the local header and the central directory."""
    data = bytearray(path.read_bytes())
    raw = name.encode()
    i = data.find(b"PK\x03\x04")
    while i >= 0:
        nlen = struct.unpack_from("<H", data, i + 26)[0]
        if data[i + 30:i + 30 + nlen] == raw:
            struct.pack_into("<I", data, i + 22, new_size)
        i = data.find(b"PK\x03\x04", i + 4)
    i = data.find(b"PK\x01\x02")
    while i >= 0:
        nlen = struct.unpack_from("<H", data, i + 28)[0]
        if data[i + 46:i + 46 + nlen] == raw:
            struct.pack_into("<I", data, i + 24, new_size)
        i = data.find(b"PK\x01\x02", i + 4)
    path.write_bytes(bytes(data))


def test_lying_size_header_does_not_write_more_than_declared(tmp_path):
    payload = bytes(range(256)) * 8192  # 2 MB, stored: ratio 1, so only the real bytes can give it away
    z = _zip(tmp_path / "a.zip", [("big.bin", payload), ("ok.png", b"fine")], compression=zipfile.ZIP_STORED)
    _patch_sizes(z, "big.bin", 1000)  # declares 1000 bytes, holds 2 MB
    dest = tmp_path / "out"
    res = safe_extract_zip(z, dest, max_total_bytes=10_000)
    assert _rel(res, dest) == ["ok.png"]
    assert res.skipped[0].source == "big.bin" and "corrupt or unsupported entry" in res.skipped[0].reason
    assert not (dest / "big.bin").exists()


def test_corrupt_entry_is_skipped_and_others_kept(tmp_path):
    z = _zip(tmp_path / "a.zip", [("a.png", b"A" * 5000), ("b.png", b"B" * 10)])
    data = bytearray(z.read_bytes())
    i = data.find(b"PK\x03\x04")
    start = i + 30 + struct.unpack_from("<H", data, i + 26)[0] + struct.unpack_from("<H", data, i + 28)[0]
    data[start:start + 8] = b"\xff" * 8  # garble the deflate stream of a.png
    z.write_bytes(bytes(data))
    res = safe_extract_zip(z, tmp_path / "out")
    assert _rel(res, tmp_path / "out") == ["b.png"]
    assert res.skipped[0].source == "a.png" and "corrupt" in res.skipped[0].reason


def test_name_too_long_for_the_system_is_one_rejection(tmp_path):
    """A name the file system cannot hold (> 255 bytes: ~90 Chinese characters) skips that entry alone."""
    long_cjk = "划痕" * 45 + ".png"  # 270 bytes in UTF-8
    z = _zip(tmp_path / "a.zip", [("crazing/ok.png", b"1"), ("scratches/" + "N" * 300 + ".png", b"2"),
                                  ("scratches/" + long_cjk, b"3"), ("D" * 300 + "/x.png", b"4"),
                                  ("scratches/ok2.png", b"5")])
    res = safe_extract_zip(z, tmp_path / "out")
    assert _rel(res, tmp_path / "out") == ["crazing/ok.png", "scratches/ok2.png"]
    assert len(res.skipped) == 3 and all("cannot be written" in str(s.reason) for s in res.skipped)


def test_gbk_names_without_utf8_flag_are_decoded(tmp_path):
    gbk = "划痕/划痕_001.png".encode("gbk")
    placeholder = "X" * (len(gbk) - len("/x_001.png")) + "/x_001.png"
    assert len(placeholder.encode()) == len(gbk)
    z = _zip(tmp_path / "a.zip", [(placeholder, b"img")])
    data = z.read_bytes().replace(placeholder.encode(), gbk)  # what Windows Explorer (CP936) writes
    z.write_bytes(data)
    with zipfile.ZipFile(z) as zz:
        assert not zz.infolist()[0].flag_bits & 0x800
    res = safe_extract_zip(z, tmp_path / "out")
    assert _rel(res, tmp_path / "out") == ["划痕/划痕_001.png"]


def test_utf8_names_without_flag_and_plain_cp437(tmp_path):
    z = _zip(tmp_path / "a.zip", [("XX/a.png", b"1"), ("Y.png", b"2")])
    data = z.read_bytes().replace(b"XX/a.png", "é/a.png".encode())  # UTF-8, flag not set
    data = data.replace(b"Y.png", b"\x82.png")  # CP437 'é' (neither UTF-8 nor GBK)
    z.write_bytes(data)
    res = safe_extract_zip(z, tmp_path / "out")
    assert _rel(res, tmp_path / "out") == ["é/a.png", "é.png"]


def test_info_zip_unicode_path_field(tmp_path):
    info = zipfile.ZipInfo("__.png")
    uname = "划.png".encode()
    body = b"\x01" + struct.pack("<I", zlib.crc32(b"__.png")) + uname
    info.extra = struct.pack("<HH", 0x7075, len(body)) + body
    z = _zip(tmp_path / "a.zip", [(info, b"x")])
    res = safe_extract_zip(z, tmp_path / "out")
    assert _rel(res, tmp_path / "out") == ["划.png"]


def _set_encrypted_flag(path, name):
    data = bytearray(path.read_bytes())
    raw = name.encode()
    for sig, name_at, flag_at, len_at in ((b"PK\x03\x04", 30, 6, 26), (b"PK\x01\x02", 46, 8, 28)):
        i = data.find(sig)
        while i >= 0:
            nlen = struct.unpack_from("<H", data, i + len_at)[0]
            if data[i + name_at:i + name_at + nlen] == raw:
                data[i + flag_at] |= 0x1
            i = data.find(sig, i + 4)
    path.write_bytes(bytes(data))


def test_duplicate_and_encrypted_entries_are_skipped(tmp_path):
    with pytest.warns(UserWarning, match="Duplicate name"):
        z = _zip(tmp_path / "a.zip", [("a.png", b"first"), ("a.png", b"second"), ("secret.png", b"x")])
    _set_encrypted_flag(z, "secret.png")
    dest = tmp_path / "out"
    res = safe_extract_zip(z, dest)
    assert _rel(res, dest) == ["a.png"] and (dest / "a.png").read_bytes() == b"first"
    assert sorted(res.skipped) == [Skipped("a.png", "duplicate entry: the first one was kept"),
                                   Skipped("secret.png", "encrypted (password-protected) entry")]


def test_not_a_zip_missing_zip_and_busy_destination(tmp_path):
    bad = tmp_path / "bad.zip"
    bad.write_text("hello")
    with pytest.raises(InputError, match=r"bad\.zip: not a zip archive, or a damaged one"):
        safe_extract_zip(bad, tmp_path / "out")
    with pytest.raises(InputError, match="the archive does not exist"):
        safe_extract_zip(tmp_path / "none.zip", tmp_path / "out")
    z = _zip(tmp_path / "a.zip", [("a.png", b"x")])
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    with pytest.raises(InputError, match="must be a new or empty folder"):
        safe_extract_zip(z, busy)
    assert (busy / "keep.txt").read_text() == "mine"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert len(safe_extract_zip(z, empty).files) == 1


@pytest.mark.parametrize("kwargs", [{"max_total_bytes": 0}, {"max_files": -1}, {"max_ratio": "200"}])
def test_limits_are_validated(tmp_path, kwargs):
    z = _zip(tmp_path / "a.zip", [("a.png", b"x")])
    with pytest.raises(InputError, match="must be a positive number"):
        safe_extract_zip(z, tmp_path / "out", **kwargs)
