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
