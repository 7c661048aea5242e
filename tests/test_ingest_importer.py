"""The import orchestrator end to end: bad files rejected with reasons, good ones kept, duplicates,
conflicts, idempotent re-import, crops from boxes, zip, and a sound database afterwards."""

import json
import struct
import zipfile
import zlib

import cv2
import numpy as np
import pandas as pd
import pytest

from defectlab.errors import InputError
from defectlab.ingest import add_crops, import_source
from defectlab.store import create_project, current_labels, items_frame, label_history


def _png(arr):
    ok, buf = cv2.imencode(".png", arr)
    assert ok
    return buf.tobytes()


def _jpg(arr):
    ok, buf = cv2.imencode(".jpg", arr)
    assert ok
    return buf.tobytes()


def _texture(seed, size=32):
    return np.random.default_rng(seed).integers(0, 256, (size, size), dtype=np.uint8)


def _bomb_png(width=30000, height=30000):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


@pytest.fixture
def messy_tree(tmp_path):
    root = tmp_path / "src"
    for c in ("crazing", "scratches"):
        (root / c).mkdir(parents=True)
    (root / "crazing" / "ok_1.png").write_bytes(_png(_texture(1)))
    (root / "crazing" / "ok_2.jpg").write_bytes(_jpg(_texture(2)))
    (root / "scratches" / "划痕_001.png").write_bytes(_png(_texture(3)))
    (root / "scratches" / "deep16.tif").write_bytes(
        cv2.imencode(".tiff", (_texture(4).astype(np.uint16) * 257))[1].tobytes())
    rgba = np.dstack([_texture(5)] * 3 + [np.full((32, 32), 128, np.uint8)])
    (root / "scratches" / "alpha.png").write_bytes(_png(rgba))
    (root / "crazing" / "empty.png").write_bytes(b"")
    (root / "crazing" / "truncated.jpg").write_bytes(_jpg(_texture(6))[:200])
    (root / "crazing" / "notes.png").write_text("hello, this is not an image")
    (root / "crazing" / "bomb.png").write_bytes(_bomb_png())
    return root


def test_messy_folder_keeps_good_files_and_names_the_bad(ws, messy_tree):
    report = import_source(ws, "Plates", messy_tree)
    assert report.layout == "folders" and report.created_project
    assert report.imported == 5
    reasons = {r["source"]: r["reason"] for r in report.rejected}
    assert set(reasons) == {"crazing/empty.png", "crazing/truncated.jpg", "crazing/notes.png", "crazing/bomb.png"}
    assert "empty" in reasons["crazing/empty.png"]
    assert "truncated" in reasons["crazing/truncated.jpg"] or "corrupt" in reasons["crazing/truncated.jpg"]
    assert "not an image" in reasons["crazing/notes.png"]
    assert "30000x30000" in reasons["crazing/bomb.png"]
    df = items_frame(ws, 1)
    assert set(df["source"]) == {"crazing/ok_1.png", "crazing/ok_2.jpg", "scratches/划痕_001.png",
                                 "scratches/deep16.tif", "scratches/alpha.png"}
    assert df.set_index("source").loc["scratches/划痕_001.png", "label"] == "scratches"
    assert ws.integrity_check() == "ok"


def test_reimport_adds_nothing(ws, messy_tree):
    first = import_source(ws, "Plates", messy_tree)
    second = import_source(ws, "Plates", messy_tree)
    assert second.imported == 0 and second.duplicates == first.imported and second.conflicts == []
    assert len(items_frame(ws, 1)) == first.imported
    # labels were not written twice
    assert all(len(label_history(ws, i)) == 1 for i in items_frame(ws, 1)["id"])


def test_same_picture_under_two_labels_is_a_conflict(ws, tmp_path):
    root = tmp_path / "src"
    (root / "heavy").mkdir(parents=True)
    (root / "light").mkdir()
    img = _png(_texture(7))
    (root / "heavy" / "truck_1.png").write_bytes(img)
    (root / "light" / "truck_1_copy.png").write_bytes(img)
    (root / "light" / "other.png").write_bytes(_png(_texture(8)))
    report = import_source(ws, "Scrap", root)
    assert report.imported == 2 and report.duplicates == 1
    assert report.conflicts[0]["sources"] == ["heavy/truck_1.png", "light/truck_1_copy.png"]
    assert report.conflicts[0]["labels"] == ["heavy", "light"]
    with ws.read() as conn:
        row = conn.execute("SELECT sources, labels FROM import_conflicts").fetchone()
    assert json.loads(row["labels"]) == ["heavy", "light"]
    # not silently resolved: the first label stays, the conflict waits for a reviewer
    states = current_labels(ws, 1)
    assert states[report.conflicts[0]["item_id"]].label == "heavy"


def test_unknown_label_in_existing_project_is_rejected(ws, tmp_path):
    create_project(ws, "P", ["crazing", "scratches"])
    root = tmp_path / "src"
    (root / "crazing").mkdir(parents=True)
    (root / "dents").mkdir()
    (root / "crazing" / "a.png").write_bytes(_png(_texture(1)))
    (root / "dents" / "b.png").write_bytes(_png(_texture(2)))
    report = import_source(ws, "P", root)
    assert report.imported == 1
    assert report.rejected[0]["source"] == "dents/b.png"
    assert "not a class of this project" in report.rejected[0]["reason"]


def _voc(name, w, h, boxes):
    objs = "".join(
        f"<object><name>{lab}</name><bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin><xmax>{x1}</xmax>"
        f"<ymax>{y1}</ymax></bndbox></object>" for lab, x0, y0, x1, y1 in boxes)
    return (f"<annotation><filename>{name}</filename><size><width>{w}</width><height>{h}</height>"
            f"<depth>1</depth></size>{objs}</annotation>")


def test_voc_boxes_become_linked_crops(ws, tmp_path):
    root = tmp_path / "voc"
    (root / "images").mkdir(parents=True)
    (root / "annotations").mkdir()
    plate = _texture(9, 100)
    (root / "images" / "plate_1.png").write_bytes(_png(plate))
    (root / "annotations" / "plate_1.xml").write_text(_voc("plate_1.png", 100, 100, [
        ("scratches", 11, 11, 40, 30), ("crazing", 50, 50, 90, 95),
        ("crazing", 60, 60, 60, 80),          # zero area
        ("crazing", 300, 300, 400, 400),      # outside the image
    ]))
    (root / "images" / "plate_2.png").write_bytes(_png(_texture(10, 100)))
    (root / "annotations" / "plate_2.xml").write_text("<annotation><object>")  # malformed
    report = import_source(ws, "Plates", root, layout="voc")
    assert report.plates == 1 and report.imported == 2
    rejected = {r["source"]: r["reason"] for r in report.rejected}
    assert "images/plate_1.png#2" in rejected and "images/plate_1.png#3" in rejected
    assert any("plate_2" in s for s in rejected)
    df = items_frame(ws, 1).set_index("source")
    assert list(df.index) == ["images/plate_1.png#0", "images/plate_1.png#1"]
    crop = df.loc["images/plate_1.png#0"]
    assert crop["box"] == [10, 10, 40, 30] and crop["label"] == "scratches"
    plates = items_frame(ws, 1, role="plate")
    assert crop["parent_id"] == plates["id"].item()
    assert (crop["width"], crop["height"]) == (30, 20)
    assert ws.integrity_check() == "ok"


def test_add_crops_from_a_plate(ws, tmp_path):
    root = tmp_path / "voc"
    (root / "images").mkdir(parents=True)
    (root / "annotations").mkdir()
    (root / "images" / "p.png").write_bytes(_png(_texture(11, 80)))
    (root / "annotations" / "p.xml").write_text(_voc("p.png", 80, 80, [("a", 1, 1, 20, 20), ("b", 30, 30, 60, 60)]))
    import_source(ws, "P", root, layout="voc")
    plate_id = int(items_frame(ws, 1, role="plate")["id"].item())
    report = add_crops(ws, "P", plate_id, [("b", 5, 40, 30, 70), (None, 40, 2, 70, 25), ("a", 0, 0, 0, 5)])
    assert report.imported == 2 and len(report.rejected) == 1
    df = items_frame(ws, 1).set_index("source")
    assert df.loc["images/p.png#2", "label"] == "b" and df.loc["images/p.png#2", "label_source"] == "human"
    assert pd.isna(df.loc["images/p.png#3", "label"])
    assert df.loc["images/p.png#3", "box"] == [40, 2, 70, 25]
    # a box drawn again, and a click without a drag (3x3 px), are refused with their reasons
    again = add_crops(ws, "P", plate_id, [("b", 5, 40, 30, 70), ("a", 10, 10, 13, 13), ("a", 0, 0, 20, 20)])
    reasons = {r["reason_key"] for r in again.to_dict()["rejected"]}
    assert again.imported == 0 and len(again.rejected) == 3
    assert "ingest.reason.box_exists" in reasons
    assert "box 3" in str(again.to_dict()["rejected"][0]["reason"])


def test_zip_import_and_unsafe_zip(ws, tmp_path):
    z = tmp_path / "batch.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("crazing/a.png", _png(_texture(1)))
        zf.writestr("scratches/b.png", _png(_texture(2)))
        zf.writestr("__MACOSX/._a.png", b"junk")
    report = import_source(ws, "P", z)
    assert report.imported == 2
    assert not any(ws.tmp_dir.iterdir())  # the extraction folder is removed
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../../escape.png", _png(_texture(3)))
        zf.writestr("crazing/c.png", _png(_texture(4)))
    report = import_source(ws, "P", evil)
    assert report.imported == 1
    assert report.rejected[0]["source"] == "evil.zip:../../escape.png"
    assert "unsafe path" in report.rejected[0]["reason"]
    assert not (tmp_path / "escape.png").exists() and not (ws.root / "escape.png").exists()
    assert len(items_frame(ws, 1)) == 3


def test_flat_folder_with_label_regex(ws, tmp_path):
    root = tmp_path / "flat"
    root.mkdir()
    for i, name in enumerate(["rolled-in_scale_1.jpg", "rolled-in_scale_2.jpg", "crazing_1.jpg", "odd.jpg"]):
        (root / name).write_bytes(_jpg(_texture(i)))
    report = import_source(ws, "N", root, layout="flat", label_regex=r"^(.+)_\d+\.jpg$")
    assert report.imported == 4
    df = items_frame(ws, 1).set_index("source")
    assert df.loc["rolled-in_scale_2.jpg", "label"] == "rolled-in_scale"
    assert pd.isna(df.loc["odd.jpg", "label"])


def test_bad_regex_and_missing_source(ws, tmp_path):
    with pytest.raises(InputError, match="not a valid regular expression"):
        import_source(ws, "N", tmp_path, label_regex="(")
    with pytest.raises(InputError, match="does not exist"):
        import_source(ws, "N", tmp_path / "nope")


def test_annotator_cannot_import(ws, messy_tree):
    from defectlab.errors import PermissionDenied

    with ws.transaction() as conn:
        conn.execute("INSERT INTO users (username, role, created_at) VALUES ('ann', 'annotator', 't')")
    with pytest.raises(PermissionDenied):
        import_source(ws, "Plates", messy_tree, user="ann")


@pytest.mark.neu
def test_neu_voc_import_stores_every_box(ws, neu_dir):
    report = import_source(ws, "NEU", neu_dir, layout="voc")
    assert report.imported + report.duplicates == 4189
    assert not [r for r in report.rejected if "#" in r["source"]]
    assert report.plates >= 1799
    assert ws.integrity_check() == "ok"


@pytest.mark.neu
def test_neu_flat_regex_labels_1800(ws, neu_dir):
    report = import_source(ws, "NEU", neu_dir / "images", layout="flat", label_regex=r"^(.+)_\d+\.jpg$")
    assert report.imported + report.duplicates == 1800 and not report.rejected
    counts = items_frame(ws, 1)["label"].value_counts()
    assert len(counts) == 6 and counts.sum() == report.imported


def test_add_plate_then_cut(ws, tmp_path):
    from defectlab.errors import ImageError
    from defectlab.ingest import add_plate

    create_project(ws, "P", ["a", "b"])
    data = _png(_texture(12, 64))
    plate_id, new = add_plate(ws, "P", data, "C:\\camera\\板材_7.png")
    assert new and add_plate(ws, "P", data, "again.png") == (plate_id, False)
    plates = items_frame(ws, 1, role="plate")
    assert plates["source"].tolist() == ["板材_7.png"]
    report = add_crops(ws, "P", plate_id, [("a", 2, 2, 30, 30)])
    assert items_frame(ws, 1).set_index("source").loc["板材_7.png#0", "label"] == "a" and report.imported == 1
    with pytest.raises(ImageError, match=r"bad\.png"):
        add_plate(ws, "P", b"not an image", "bad.png")


def test_a_crash_mid_import_leaves_a_consistent_workspace(ws, tmp_path, monkeypatch):
    import defectlab.ingest.importer as importer

    root = tmp_path / "many" / "a"
    root.mkdir(parents=True)
    (tmp_path / "many" / "b").mkdir()
    for i in range(260):
        (tmp_path / "many" / ("a" if i % 2 else "b") / f"{i}.png").write_bytes(_png(_texture(1000 + i, 8)))
    real_store, calls = importer._store, {"n": 0}

    def crashing_store(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 230:  # inside the second chunk (chunks of 200)
            raise RuntimeError("power cut")
        return real_store(*args, **kwargs)

    monkeypatch.setattr(importer, "_store", crashing_store)
    with pytest.raises(RuntimeError, match="power cut"):
        import_source(ws, "P", tmp_path / "many")
    assert ws.integrity_check() == "ok"
    df = items_frame(ws, 1)
    assert len(df) == 200 and df["label"].notna().all()  # the first chunk, whole; nothing of the second
    monkeypatch.setattr(importer, "_store", real_store)
    report = import_source(ws, "P", tmp_path / "many")
    assert (report.imported, report.duplicates) == (60, 200)
    assert len(items_frame(ws, 1)) == 260 and ws.integrity_check() == "ok"


# ------------------------------------------------------------------ reasons in the user's language
def _flat(root, name, data):
    (root / "crazing").mkdir(parents=True)
    (root / "crazing" / "ok.png").write_bytes(_png(_texture(1)))
    (root / "crazing" / name).write_bytes(data)
    return root, f"crazing/{name}"


def _case_voc(root, box):
    (root / "images").mkdir(parents=True)
    (root / "annotations").mkdir()
    (root / "images" / "p.png").write_bytes(_png(_texture(9, 100)))
    (root / "annotations" / "p.xml").write_text(_voc("p.png", 100, 100, [("crazing", 1, 1, 50, 50), box]))
    return root, "images/p.png#1"


def _case_unknown_label(root):
    _flat(root, "a.png", _png(_texture(3)))
    (root / "dents").mkdir()
    (root / "dents" / "b.png").write_bytes(_png(_texture(2)))
    return root, "dents/b.png"


def _case_zip(root):
    root.mkdir()
    with zipfile.ZipFile(root / "evil.zip", "w") as zf:
        zf.writestr("../../escape.png", _png(_texture(3)))
        zf.writestr("crazing/c.png", _png(_texture(4)))
    return root / "evil.zip", "evil.zip:../../escape.png"


def _case_csv(root):
    (root / "imgs").mkdir(parents=True)
    (root / "imgs" / "a.png").write_bytes(_png(_texture(1)))
    (root / "labels.csv").write_text("path,label\nimgs/a.png,crazing\nimgs/gone.png,crazing\n")
    return root, "imgs/gone.png"


REASON_CASES = {
    "zero-byte": (lambda r: _flat(r, "empty.png", b""), "imaging.reason.empty", {}, "空文件（0 字节）"),
    "truncated JPEG": (lambda r: _flat(r, "cut.jpg", _jpg(_texture(6))[:200]), "imaging.reason.jpeg_segment_past_end",
                       {}, "JPEG 文件不完整或已损坏（某个文件头段超出了文件末尾）"),
    "text named .png": (lambda r: _flat(r, "notes.png", b"hello, this is not an image"),
                        "imaging.reason.not_an_image_text", {}, "不是图像"),
    "bomb header": (lambda r: _flat(r, "bomb.png", _bomb_png()), "imaging.reason.too_many_pixels",
                    {"width": 30000, "height": 30000, "pixels": "900 MP", "limit": "100 MP"},
                    "图像过大：30000x30000 像素 = 900 MP，超过 100 MP 的上限"),
    "unknown label": (_case_unknown_label,
                      "ingest.reason.unknown_label", {"label": "'dents'", "classes": "crazing, scratches"},
                      "标签 'dents' 不是本项目的类别（类别：crazing, scratches）"),
    "zero-area box": (lambda r: _case_voc(r, ("crazing", 60, 60, 40, 80)), "ingest.reason.box_zero_area",
                      {"coords": "x0=59 y0=59 x1=40 y1=80"}, "标注框面积为零或为负：x0=59 y0=59 x1=40 y1=80"),
    "box outside": (lambda r: _case_voc(r, ("crazing", 300, 300, 400, 400)), "ingest.reason.box_outside",
                    {"width": 100, "height": 100, "coords": "x0=299 y0=299 x1=400 y1=400"},
                    "标注框在 100x100 图像之外"),
    "unsafe zip path": (_case_zip, "ingest.reason.unsafe_parent", {}, "不安全的路径"),
    "CSV missing file": (_case_csv, "ingest.reason.csv_missing", {"name": "labels.csv", "row": 3},
                         "列在 labels.csv 第 3 行，但文件不存在"),
}


@pytest.mark.parametrize("case", list(REASON_CASES))
def test_rejections_carry_a_catalog_key_and_args_next_to_the_english_reason(ws, tmp_path, case):
    from defectlab.i18n import t

    build, key, args, zh = REASON_CASES[case]
    create_project(ws, "P", ["crazing", "scratches"])
    source, bad = build(tmp_path / "src")
    report = import_source(ws, "P", source)
    rows = {r["source"]: r for r in report.rejected}
    assert bad in rows, rows
    row = rows[bad]
    assert row["reason_key"] == key
    assert row["reason_args"] == args
    assert t(key, lang="en", **args) == row["reason"]  # the key and args say exactly the English reason
    assert zh in t(key, lang="zh_CN", **args)
    # the JSON keeps source/reason as they were, plus the structured form
    dumped = json.loads(json.dumps(report.to_dict()))["rejected"]
    assert {"source": bad, "reason": str(row["reason"]), "reason_key": key, "reason_args": args} in dumped


def test_add_crops_rejections_carry_keys(ws, tmp_path):
    create_project(ws, "P", ["crazing", "scratches"])
    root, _ = _case_voc(tmp_path / "voc", ("crazing", 2, 2, 30, 30))
    import_source(ws, "P", root, layout="voc")
    plate_id = int(items_frame(ws, 1, role="plate")["id"].item())
    report = add_crops(ws, "P", plate_id, [("crazing", 0, 0, 0, 5), ("rust", 5, 5, 40, 40)])
    assert [r["reason_key"] for r in report.rejected] == ["ingest.reason.box_zero_area",
                                                          "ingest.reason.unknown_label"]
    assert report.rejected[1]["reason_args"] == {"label": "'rust'", "classes": "crazing, scratches"}


# ------------------------------------------------------------------ workers
def test_one_and_two_workers_give_the_same_import(tmp_path, messy_tree):
    """Reading / hashing / decoding on 2 threads changes nothing: same items, rejections (in plan
    order), duplicates and blobs; no temporary blob files are left behind."""
    from defectlab.store import open_workspace

    (messy_tree / "crazing" / "copy.png").write_bytes((messy_tree / "crazing" / "ok_1.png").read_bytes())
    reports, frames = [], []
    for n_jobs in (1, 2):
        ws = open_workspace(tmp_path / f"ws{n_jobs}")
        reports.append(import_source(ws, "Plates", messy_tree, n_jobs=n_jobs).to_dict())
        frame = items_frame(ws, 1)[["source", "sha256", "blob", "label"]].sort_values("source")
        assert all(ws.read_blob(b) == (messy_tree / s).read_bytes() for s, b in zip(frame["source"], frame["blob"],
                                                                                      strict=True))
        frame["blob"] = frame["blob"].str.replace(r"packs/[0-9a-f]{32}\.pack", "packs/P.pack", regex=True)
        frames.append(frame.reset_index(drop=True))  # the same bytes at the same offsets of one pack
        assert not list(ws.blobs_dir.rglob(".tmp-*"))
        assert ws.integrity_check() == "ok"
    assert reports[0] == reports[1]
    pd.testing.assert_frame_equal(frames[0], frames[1])
    assert reports[0]["duplicates"] == 1
    with pytest.raises(InputError, match="n_jobs"):
        import_source(open_workspace(tmp_path / "ws3"), "Plates", messy_tree, n_jobs=0)


def test_blob_writes_are_atomic_and_private(ws):
    import os
    import stat

    sha, rel = ws.put_blob(b"\x89PNG fake bytes", "png")
    path = ws.root / rel
    assert path.read_bytes() == b"\x89PNG fake bytes"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert ws.put_blob(b"\x89PNG fake bytes", "png") == (sha, rel)  # idempotent
    import shutil

    shutil.rmtree(ws.blobs_dir)  # a folder removed behind the process's back is recreated
    assert ws.put_blob(b"other", "png")[1].startswith("blobs/")
    assert not list(ws.blobs_dir.rglob(".tmp-*"))


# ------------------------------------------------------------------ chunk-level checks (the fast store path)
def _many(tmp_path, n=450):
    root = tmp_path / "many"
    for c in ("crazing", "scratches"):
        (root / c).mkdir(parents=True)
    for i in range(n):
        (root / ("crazing" if i % 2 else "scratches") / f"{i}.png").write_bytes(_png(_texture(2000 + i, 8)))
    return root


def test_labels_of_a_chunked_import_are_plain_import_annotations(ws, tmp_path):
    root = _many(tmp_path)
    (root / "crazing" / "copy.png").write_bytes((root / "crazing" / "1.png").read_bytes())  # a duplicate
    report = import_source(ws, "P", root, n_jobs=2)
    assert (report.imported, report.duplicates) == (450, 1)
    labels = current_labels(ws, 1)
    assert len(labels) == 450 and {s.label for s in labels.values()} == {"crazing", "scratches"}
    history = label_history(ws, report.item_ids[300])
    assert [(h["user"], h["source"]) for h in history] == [("local", "import")]
    again = import_source(ws, "P", root, n_jobs=2)
    assert (again.imported, again.duplicates) == (0, 451)


def test_a_class_removed_mid_import_stops_it_with_the_label_error(ws, tmp_path, monkeypatch):
    import defectlab.ingest.importer as importer

    root = _many(tmp_path)
    create_project(ws, "P", ["crazing", "scratches"])
    real, calls = importer._store_chunk, {"n": 0}

    def store_then_drop_class(ws_, proj, *args, **kwargs):
        real(ws_, proj, *args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 1:  # somebody removes a class between two chunks
            with ws_.transaction() as conn:
                conn.execute("UPDATE projects SET classes = ? WHERE id = ?", (json.dumps(["crazing"]), proj.id))

    monkeypatch.setattr(importer, "_store_chunk", store_then_drop_class)
    with pytest.raises(InputError, match="Unknown label 'scratches'"):
        import_source(ws, "P", root)
    assert len(items_frame(ws, 1)) == 200 and ws.integrity_check() == "ok"  # the first chunk, whole


def test_a_user_refused_mid_import_stores_nothing_more(ws, tmp_path, monkeypatch):
    import defectlab.ingest.importer as importer
    from defectlab.errors import PermissionDenied

    root = _many(tmp_path)
    real = importer._store_chunk

    def refuse(conn, user, action):
        raise PermissionDenied(f"user {user!r} may not {action}")

    def store_then_revoke(*args, **kwargs):
        real(*args, **kwargs)
        monkeypatch.setattr(importer, "require", refuse)  # the role is taken away after the first chunk

    monkeypatch.setattr(importer, "_store_chunk", store_then_revoke)
    with pytest.raises(PermissionDenied):
        import_source(ws, "P", root)
    assert len(items_frame(ws, 1)) == 200 and ws.integrity_check() == "ok"


def test_csv_creating_a_project_rejects_only_the_rows_whose_label_cannot_be_a_class(ws, tmp_path):
    """Found by an attacker pass: a CSV import that created its project took 'a,b' and 'x\\x00y' as classes, and
    one row labeled '__unusable__' (or with a 101-character label) stopped the whole import."""
    import csv as _csv

    import cv2
    import numpy as np

    from defectlab.ingest import import_source
    from defectlab.store import get_project, items_frame

    src = tmp_path / "csvsrc"
    src.mkdir()
    rows = [("1.png", "scratch"), ("2.png", "pit"), ("3.png", "a,b"), ("4.png", "x\x00y"), ("5.png", "__unusable__"),
            ("6.png", "L" * 101), ("7.png", "rtl\u202e")]
    for k, (name, _label) in enumerate(rows):
        cv2.imwrite(str(src / name), np.full((16, 16), 20 * k, np.uint8))
    with open(src / "labels.csv", "w", newline="", encoding="utf-8") as fh:
        w = _csv.writer(fh)
        w.writerow(["path", "label"])
        w.writerows(rows)
    report = import_source(ws, "FromCSV", src, layout="csv")
    p = get_project(ws, "FromCSV")
    assert p.classes == ("pit", "scratch")
    assert report.imported == 3  # one item of each class and the one marked unusable
    rejected = {r["source"]: r for r in report.rejected}
    assert set(rejected) == {"3.png", "4.png", "6.png", "7.png"}
    assert all(r["reason_key"] == "ingest.reason.label_not_a_class_name" for r in rejected.values())
    labels = items_frame(ws, p.id).set_index("source")["label"].to_dict()
    assert labels["5.png"] == "__unusable__"
