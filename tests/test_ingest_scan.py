"""Tests for defectlab.ingest.scan: layout detection and import plans on tiny synthetic trees."""

import collections
import json
import os
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from defectlab.errors import InputError
from defectlab.imaging import encode_png
from defectlab.ingest.boxes import Box
from defectlab.ingest.scan import (
    LAYOUTS,
    ImportPlan,
    PlanEntry,
    PlannedImage,
    Rejection,
    detect_layout,
    plan_import,
)

NEU_REGEX = r"^(.+)_\d+\.jpg$"


def _png(w=20, h=10):
    return encode_png(np.zeros((h, w), np.uint8))


def _tree(root, files):
    """files: {relative path: bytes | str}; image names get a tiny PNG when the value is None."""
    for rel, content in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if content is None:
            content = _png()
        p.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return root


def _sources(plan):
    return [im.source for im in plan.images]


def _voc(filename, objects, size=(20, 10)):
    objs = "".join(
        f"<object><name>{n}</name><bndbox><xmin>{a}</xmin><ymin>{b}</ymin><xmax>{c}</xmax><ymax>{d}</ymax>"
        "</bndbox></object>" for n, a, b, c, d in objects)
    return (f"<annotation><filename>{filename}</filename><size><width>{size[0]}</width>"
            f"<height>{size[1]}</height></size>{objs}</annotation>")


# ------------------------------------------------------------------ folders / flat

def test_folders_layout(tmp_path):
    _tree(tmp_path, {
        "crazing/1.png": None, "crazing/sub/2.JPG": None, "划痕/划痕_001.png": None, "top.png": None,
        "crazing/notes.txt": "ignored", "crazing/anim.gif": b"GIF89a",
        ".hidden/x.png": None, "crazing/.x.png": None, "__MACOSX/crazing/._1.png": b"junk",
        "crazing/Thumbs.db": b"junk",
    })
    assert detect_layout(tmp_path) == "folders"
    plan = plan_import(tmp_path)
    assert isinstance(plan, ImportPlan) and plan.layout == "folders" and plan.root == tmp_path
    assert [(im.source, im.label) for im in plan.images] == [
        ("crazing/1.png", "crazing"), ("crazing/sub/2.JPG", "crazing"), ("top.png", None),
        ("划痕/划痕_001.png", "划痕")]
    assert all(im.boxes is None and not im.is_crops and im.path.is_absolute() for im in plan.images)
    assert plan.rejected == [Rejection("crazing/anim.gif", "unsupported image type '.gif' (defectlab reads "
                                       ".jpg .jpeg .png .bmp .tif .tiff); convert it to PNG")]
    assert plan.labels == ["crazing", "划痕"]


def test_flat_layout_and_label_regex(tmp_path):
    _tree(tmp_path, {"rolled-in_scale_12.jpg": None, "crazing_1.jpg": None, "crazing_x.jpg": None,
                     "IMG.PNG": None})
    assert detect_layout(tmp_path) == "flat"
    plan = plan_import(tmp_path)
    assert plan.layout == "flat" and all(im.label is None for im in plan.images)
    plan = plan_import(tmp_path, "flat", label_regex=NEU_REGEX)
    assert {im.source: im.label for im in plan.images} == {
        "IMG.PNG": None, "crazing_1.jpg": "crazing", "crazing_x.jpg": None, "rolled-in_scale_12.jpg": "rolled-in_scale"}
    assert plan.rejected == []  # names that do not match are unlabeled, not rejected


def test_label_regex_replaces_folder_labels(tmp_path):
    _tree(tmp_path, {"a/划痕_001.png": None, "a/other.png": None, "b/c.png": None})
    plan = plan_import(tmp_path, label_regex=r"^([^_]+)_\d+")
    assert [(im.source, im.label) for im in plan.images] == [
        ("a/other.png", None), ("a/划痕_001.png", "划痕"), ("b/c.png", None)]


@pytest.mark.parametrize(
    "regex,match",
    [("(unclosed", "is not a valid regular expression"), (r"^.+\.jpg$", "has no capture group"),
     (123, "must be a string")],
)
def test_bad_label_regex(tmp_path, regex, match):
    _tree(tmp_path, {"a.png": None})
    with pytest.raises(InputError, match=match):
        plan_import(tmp_path, label_regex=regex)


def test_label_regex_is_refused_for_box_layouts(tmp_path):
    _tree(tmp_path, {"images/a.png": None, "annotations/a.xml": _voc("a.png", [("x", 1, 1, 5, 5)])})
    with pytest.raises(InputError, match="only applies to the folders and flat layouts; this is a voc source"):
        plan_import(tmp_path, label_regex=r"(.+)")


def test_nfd_folder_names_become_nfc(tmp_path):
    nfd = unicodedata.normalize("NFD", "rayé")
    _tree(tmp_path, {f"{nfd}/1.png": None, "b/2.png": None})
    plan = plan_import(tmp_path)
    assert plan.images[1].label == "rayé" and plan.images[1].source == "rayé/1.png"


def test_undecodable_gbk_file_name_is_shown_as_gbk(tmp_path):
    name = "划痕_001.png".encode("gbk")
    (tmp_path / "a").mkdir()
    with open(os.path.join(os.fsencode(tmp_path / "a"), name), "wb") as f:
        f.write(_png())
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x.png").write_bytes(_png())
    plan = plan_import(tmp_path)
    assert plan.images[0].source == "a/划痕_001.png"
    assert plan.images[0].path.is_file()  # the real (undecodable) path is kept for reading
    json.dumps([im.source for im in plan.images])  # fit for JSON


def test_wrapper_folders_are_looked_through(tmp_path):
    _tree(tmp_path, {"NEU-DET/images/crazing_1.jpg": None, "NEU-DET/images/scratches_2.jpg": None,
                     "NEU-DET/annotations/crazing_1.xml": _voc("crazing_1", [("crazing", 1, 1, 9, 9)]),
                     "NEU-DET/annotations/scratches_2.xml": _voc("scratches_2.jpg", [("scratches", 2, 2, 5, 5)])})
    assert detect_layout(tmp_path) == "voc"
    plan = plan_import(tmp_path)
    assert _sources(plan) == ["NEU-DET/images/crazing_1.jpg", "NEU-DET/images/scratches_2.jpg"]
    assert plan.rejected == []


def test_single_images_folder_is_flat(tmp_path):
    _tree(tmp_path, {"images/a_1.png": None, "images/b_2.png": None})
    assert detect_layout(tmp_path) == "flat"
    plan = plan_import(tmp_path, label_regex=r"^(\w)_\d")
    assert [(im.source, im.label) for im in plan.images] == [("images/a_1.png", "a"), ("images/b_2.png", "b")]


def test_single_class_folder_is_folders(tmp_path):
    _tree(tmp_path, {"scratches/1.png": None, "scratches/2.png": None})
    plan = plan_import(tmp_path)
    assert plan.layout == "folders" and [im.label for im in plan.images] == ["scratches", "scratches"]


def test_single_image_file(tmp_path):
    p = tmp_path / "划痕_001.png"
    p.write_bytes(_png())
    assert detect_layout(p) == "flat"
    plan = plan_import(p, label_regex=r"^(.+)_\d+\.png$")
    assert plan.images == [PlannedImage("划痕_001.png", p.absolute(), "划痕")]
    t = tmp_path / "notes.txt"
    t.write_text("x")
    with pytest.raises(InputError, match=r"not a folder, a \.zip or an image file"):
        plan_import(t)
    with pytest.raises(InputError, match="only the 'flat' layout"):
        plan_import(p, "voc")


@pytest.mark.parametrize("layout", ["auto", "folders", "flat"])
def test_no_images(tmp_path, layout):
    _tree(tmp_path, {"readme.txt": "x", ".hidden.png": None})
    with pytest.raises(InputError, match="No images found in"):
        plan_import(tmp_path, layout)


def test_missing_root_and_unknown_layout(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        plan_import(tmp_path / "nope")
    with pytest.raises(InputError, match="does not exist"):
        detect_layout(tmp_path / "nope")
    with pytest.raises(InputError, match=r"Unknown layout 'imagenet'. Choose one of: auto, folders, flat, voc"):
        plan_import(tmp_path, "imagenet")
    assert LAYOUTS == ("folders", "flat", "voc", "yolo", "coco", "csv")


# ------------------------------------------------------------------ VOC

def test_voc_layout(tmp_path):
    _tree(tmp_path, {
        "images/a.png": None, "images/b.png": None, "images/c.png": None, "images/d.png": None,
        "images/e.png": None,
        "annotations/a.xml": _voc("a.png", [("scratch", 1, 1, 10, 5), ("pit", 5, 3, 3, 8), ("pit", 2.5, 1, 30, 20)]),
        "annotations/b.xml": _voc("b", [("scratch", 1, 1, 4, 4)]),  # no extension, as in NEU-DET
        "annotations/c.xml": "<annotation><filename>c.png",  # malformed
        "annotations/d.xml": _voc("d.png", []),
        "annotations/ghost.xml": _voc("ghost.png", [("x", 1, 1, 4, 4)]),
        "annotations/dup.xml": _voc("a.png", [("x", 1, 1, 4, 4)]),
    })
    assert detect_layout(tmp_path) == "voc"
    plan = plan_import(tmp_path, "voc")
    assert _sources(plan) == ["images/a.png", "images/b.png"]
    a = plan.images[0]
    assert a.is_crops and a.label is None and a.size_hint == (20, 10)
    assert a.boxes == ((0, Box("scratch", 0.0, 0.0, 10.0, 5.0)), (2, Box("pit", 1.5, 0.0, 30.0, 20.0)))
    assert a.box_source(2) == "images/a.png#2"
    rejected = dict(plan.rejected)
    assert rejected["images/a.png#1"].startswith("zero or negative area")
    assert rejected["annotations/c.xml"].startswith("malformed XML")
    assert str(tmp_path) not in rejected["annotations/c.xml"]  # sources, not absolute paths
    assert rejected["images/d.png"] == "annotations/d.xml lists no boxes"
    assert rejected["annotations/ghost.xml"] == "names the image 'ghost.png', which was not found"
    assert rejected["annotations/dup.xml"].startswith("names images/a.png, which annotations/a.xml already")
    assert rejected["images/c.png"] == "no Pascal VOC annotation file names this image"
    assert rejected["images/e.png"] == "no Pascal VOC annotation file names this image"
    assert plan.n_boxes == 3
    assert plan.entries[1] == PlanEntry("images/a.png#2", a.path, "pit", Box("pit", 1.5, 0.0, 30.0, 20.0), 2)
    assert plan.labels == ["pit", "scratch"]


def test_voc_next_to_images_and_jpegimages(tmp_path):
    _tree(tmp_path, {"x/a.png": None, "x/a.xml": _voc("a.png", [("s", 1, 1, 4, 4)]),
                     "VOC/JPEGImages/b.png": None,
                     "VOC/Annotations/b.xml": _voc("b.png", [("t", 1, 1, 4, 4)])})
    plan = plan_import(tmp_path)
    assert plan.layout == "voc" and _sources(plan) == ["VOC/JPEGImages/b.png", "x/a.png"]


def test_voc_prefers_the_mirrored_image_when_names_repeat(tmp_path):
    _tree(tmp_path, {"train/images/a.png": None, "val/images/a.png": None,
                     "train/annotations/a.xml": _voc("a.png", [("s", 1, 1, 4, 4)]),
                     "val/annotations/a.xml": _voc("a.png", [("t", 1, 1, 4, 4)])})
    plan = plan_import(tmp_path)
    assert [(im.source, im.boxes[0][1].label) for im in plan.images] == [
        ("train/images/a.png", "s"), ("val/images/a.png", "t")]


# ------------------------------------------------------------------ YOLO

def test_yolo_layout(tmp_path):
    _tree(tmp_path, {
        "data.yaml": "train: images/train\nnames: [crazing, 划痕]\n",
        "images/train/a.png": _png(20, 10), "labels/train/a.txt": "0 0.5 0.5 0.5 0.4\n1 0.25 0.5 0.5 1\n",
        "images/train/b.png": None, "labels/train/b.txt": "0 0.5 0.5 0.5 0.4\n0 0.5 abc 0.1 0.1\n",
        "images/train/c.png": None,
        "images/train/d.png": None, "labels/train/d.txt": "",
        "images/train/e.png": "hello", "labels/train/e.txt": "0 0.5 0.5 0.5 0.5\n",
        "labels/train/orphan.txt": "0 0.5 0.5 0.1 0.1\n",
    })
    assert detect_layout(tmp_path) == "yolo"
    plan = plan_import(tmp_path)
    assert plan.layout == "yolo" and _sources(plan) == ["images/train/a.png"]
    a = plan.images[0]
    assert a.size_hint == (20, 10)
    assert a.boxes == ((0, Box("crazing", 5.0, 3.0, 15.0, 7.0)), (1, Box("划痕", 0.0, 0.0, 10.0, 10.0)))
    assert dict(plan.rejected) == {
        "images/train/b.png": "labels/train/b.txt, line 2: a value is not a number.",
        "images/train/c.png": "no YOLO label file (expected labels/train/c.txt)",
        "images/train/d.png": "labels/train/d.txt lists no boxes",
        "images/train/e.png": "not an image: the content is text, not PNG/JPEG/BMP/TIFF",
        "labels/train/orphan.txt": "YOLO label file without a matching image",
    }


def test_yolo_with_classes_txt_and_labels_beside_images(tmp_path):
    _tree(tmp_path, {"classes.txt": "a\nb\n", "imgs/x.png": _png(40, 20), "imgs/x.txt": "1 0.5 0.5 0.5 0.5\n"})
    assert detect_layout(tmp_path) == "yolo"
    plan = plan_import(tmp_path)
    assert plan.images[0].boxes == ((0, Box("b", 10.0, 5.0, 30.0, 15.0)),)


def test_yolo_needs_class_names(tmp_path):
    _tree(tmp_path, {"images/a.png": None, "labels/a.txt": "0 0.5 0.5 0.5 0.5\n"})
    assert detect_layout(tmp_path) == "yolo"
    with pytest.raises(InputError, match=r"need class names: add classes\.txt"):
        plan_import(tmp_path)


# ------------------------------------------------------------------ COCO

def test_coco_layout(tmp_path):
    doc = {
        "images": [{"id": 1, "file_name": "a.png", "width": 20, "height": 10},
                   {"id": 2, "file_name": "missing.png"}, {"id": 3, "file_name": "b.png"},
                   {"id": 4, "file_name": "../up.png"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 7, "bbox": [1, 2, 5, 5]},
                        {"id": 2, "image_id": 1, "category_id": 7, "bbox": [1, 2, 0, 5]},
                        {"id": 3, "image_id": 2, "category_id": 7, "bbox": [1, 2, 5, 5]}],
        "categories": [{"id": 7, "name": "划痕"}],
    }
    _tree(tmp_path, {"annotations/instances.json": "\ufeff\n" + json.dumps(doc), "images/a.png": None,
                     "images/b.png": None, "images/extra.png": None,
                     "annotations/labelme.json": json.dumps({"shapes": [], "imagePath": "images/a.png"})})
    assert detect_layout(tmp_path) == "coco"
    plan = plan_import(tmp_path)
    assert _sources(plan) == ["images/a.png"]
    assert plan.images[0].boxes == ((0, Box("划痕", 1.0, 2.0, 6.0, 7.0)),)
    assert plan.images[0].size_hint == (20, 10)
    assert dict(plan.rejected) == {
        "images/a.png#1": "zero or negative area: x0=1 y0=2 x1=1 y1=7 (expected x0 < x1 and y0 < y1)",
        "missing.png": "listed in instances.json but the file does not exist",
        "images/b.png": "instances.json lists no boxes for this image",
        "../up.png": "listed in instances.json with a path that leaves the import folder",
        "images/extra.png": "not listed in any COCO .json file",
    }


def test_coco_detected_when_keys_come_late_in_a_big_file(tmp_path):
    doc = {"info": "x" * (2 * 1024 * 1024 + 7), "images": [{"id": 1, "file_name": "a.png"}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 4, 4]}],
           "categories": [{"id": 1, "name": "s"}]}
    _tree(tmp_path, {"c.json": json.dumps(doc), "a.png": None})
    assert detect_layout(tmp_path) == "coco"


def test_coco_invalid_json_is_rejected(tmp_path):
    _tree(tmp_path, {"coco.json": '{"images": [], "annotations": [{"image_id": 5}], "categories": []}',
                     "a.png": None})
    plan = plan_import(tmp_path, "coco")
    assert plan.rejected[0] == Rejection("coco.json", "annotations[0] names image_id 5, which is not in 'images'.")


def test_coco_one_bad_annotation_rejects_its_image_not_the_file(tmp_path):
    import json

    doc = {"images": [{"id": i, "file_name": f"{n}.png", "width": 8, "height": 8} for i, n in enumerate("abc")],
           "annotations": [{"image_id": 0, "category_id": 1, "bbox": [0, 0, 4, 4]},
                           {"image_id": 1, "category_id": 1, "bbox": [0, 0, "x", 4]},
                           {"image_id": 2, "category_id": 1, "bbox": [2, 2, 4, 4]},
                           {"image_id": 7, "category_id": 1, "bbox": [0, 0, 4, 4]}],
           "categories": [{"id": 1, "name": "pit"}]}
    _tree(tmp_path, {"coco.json": json.dumps(doc), "a.png": None, "b.png": None, "c.png": None})
    plan = plan_import(tmp_path, "coco")
    assert _sources(plan) == ["a.png", "c.png"]
    assert plan.rejected == [
        Rejection("coco.json", "annotations[3] names image_id 7, which is not in 'images'."),
        Rejection("b.png", "annotations[1]: 'bbox' must be [x, y, width, height] numbers."),
    ]


# ------------------------------------------------------------------ CSV

def test_csv_layout(tmp_path):
    rows = ["path,label", "imgs/a.png,scratch", "imgs\\b.png, 划痕 ", "imgs/c.png,", "imgs/a.png,pit",
            "../outside.png,x", "imgs/missing.png,pit", "notes.txt,x", ",x"]
    _tree(tmp_path, {"labels.csv": "\n".join(rows) + "\n", "imgs/a.png": None, "imgs/b.png": None,
                     "imgs/c.png": None, "imgs/unlisted.png": None, "notes.txt": "x", "other.csv": "a,b\n"})
    assert detect_layout(tmp_path) == "csv"
    plan = plan_import(tmp_path)
    assert [(im.source, im.label) for im in plan.images] == [
        ("imgs/a.png", "scratch"), ("imgs/b.png", "划痕"), ("imgs/c.png", None)]
    assert plan.rejected == [
        Rejection("imgs/a.png", "listed in labels.csv row 5 again (first in row 2); only the first row is used"),
        Rejection("../outside.png", "listed in labels.csv row 6 but the path is outside the import folder; "
                                    "use a path relative to the folder of labels.csv"),
        Rejection("imgs/missing.png", "listed in labels.csv row 7 but the file does not exist"),
        Rejection("notes.txt", "listed in labels.csv row 8 but it is not a .jpg/.jpeg/.png/.bmp/.tif/.tiff image"),
        Rejection("labels.csv row 9", "labels.csv row 9 has no path"),
    ]


def test_csv_without_header_gbk_and_tabs(tmp_path):
    _tree(tmp_path, {"list.csv": "a.png\t划痕\nb.png\t裂纹\n".encode("gbk"), "a.png": None, "b.png": None})
    plan = plan_import(tmp_path, "csv")
    assert [(im.source, im.label) for im in plan.images] == [("a.png", "划痕"), ("b.png", "裂纹")]


def test_csv_columns_found_by_name(tmp_path):
    _tree(tmp_path, {"data.csv": "id,类别,文件名\n1,划痕,x.png\n", "x.png": None})
    plan = plan_import(tmp_path, "csv")
    assert [(im.source, im.label) for im in plan.images] == [("x.png", "划痕")]


def test_csv_unknown_header_names_and_absolute_paths(tmp_path):
    _tree(tmp_path, {"labels.csv": f"img_name,defect_kind\n{tmp_path / 'a.png'},x\n/etc/passwd.png,y\n"
                                   "C:\\data\\b.png,z\n", "a.png": None})
    plan = plan_import(tmp_path)
    assert [(im.source, im.label) for im in plan.images] == [("a.png", "x")]
    assert [r.source for r in plan.rejected] == ["/etc/passwd.png", "C:/data/b.png"]
    assert all("outside the import folder" in r.reason for r in plan.rejected)


def test_csv_ambiguous(tmp_path):
    _tree(tmp_path, {"a.csv": "x.png,a\n", "b.csv": "x.png,b\n", "x.png": None})
    with pytest.raises(InputError, match=r"Several CSV files .* \(a.csv, b.csv\)"):
        plan_import(tmp_path, "csv")


def test_box_layouts_without_annotations(tmp_path):
    _tree(tmp_path, {"a.png": None})
    with pytest.raises(InputError, match=r"No Pascal VOC \.xml files"):
        plan_import(tmp_path, "voc")
    with pytest.raises(InputError, match=r"No COCO \.json file"):
        plan_import(tmp_path, "coco")
    with pytest.raises(InputError, match=r"No \.csv file"):
        plan_import(tmp_path, "csv")
    with pytest.raises(InputError, match="need class names"):
        plan_import(tmp_path, "yolo")


# ------------------------------------------------------------------ NEU-DET

@pytest.mark.neu
def test_neu_voc_plan(neu_dir):
    assert detect_layout(neu_dir) == "voc"
    plan = plan_import(neu_dir, "voc")
    assert len(plan.images) == 1800 and plan.n_boxes == 4189 and plan.rejected == []
    assert len(plan.entries) == 4189
    assert plan.labels == ["crazing", "inclusion", "patches", "pitted_surface", "rolled-in_scale", "scratches"]
    first = plan.images[0]
    assert first.source == "images/crazing_1.jpg" and first.size_hint == (200, 200)
    assert first.boxes == ((0, Box("crazing", 1.0, 1.0, 193.0, 194.0)),)  # xmin=2 ymin=2 xmax=193 ymax=194
    # the 174 NEU-DET files whose <filename> lacks ".jpg" still find their image
    assert any(im.source == "images/patches_104.jpg" and len(im.boxes) == 4 for im in plan.images)


@pytest.mark.neu
def test_neu_flat_with_label_regex(neu_dir):
    plan = plan_import(Path(neu_dir) / "images", "flat", label_regex=NEU_REGEX)
    counts = collections.Counter(im.label for im in plan.images)
    assert counts == {k: 300 for k in ["crazing", "inclusion", "patches", "pitted_surface",
                                        "rolled-in_scale", "scratches"]}
    assert plan.rejected == [] and plan.images[0].source == "crazing_1.jpg"


def test_voc_plan_with_a_relative_root_containing_dotdot(tmp_path, monkeypatch):
    # regression: a root like "../data" used to leave ".." in the index paths, so every annotated image
    # was also reported as "no annotation names this image"
    (tmp_path / "data" / "images").mkdir(parents=True)
    (tmp_path / "data" / "annotations").mkdir()
    (tmp_path / "data" / "images" / "a.png").write_bytes(b"")
    (tmp_path / "data" / "annotations" / "a.xml").write_text(
        "<annotation><filename>a.png</filename><size><width>10</width><height>10</height></size>"
        "<object><name>x</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax></bndbox>"
        "</object></annotation>")
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    plan = plan_import("../data", "voc")
    assert len(plan.images) == 1 and plan.rejected == []
