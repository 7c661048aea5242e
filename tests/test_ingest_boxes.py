"""Tests for defectlab.ingest.boxes: VOC / YOLO / COCO parsers, box validation, crops."""

import json
import re

import numpy as np
import pytest

from defectlab.errors import InputError
from defectlab.ingest.boxes import (
    Box,
    CropResult,
    crop_boxes,
    parse_coco,
    parse_voc,
    parse_yolo,
    parse_yolo_names,
    validate_box,
)


def _voc(objects, filename="a.jpg", size=(200, 100), extra=""):
    objs = "".join(
        f"<object><name>{n}</name><bndbox><xmin>{a}</xmin><ymin>{b}</ymin><xmax>{c}</xmax>"
        f"<ymax>{d}</ymax></bndbox></object>" for n, a, b, c, d in objects
    )
    sz = "" if size is None else f"<size><width>{size[0]}</width><height>{size[1]}</height><depth>1</depth></size>"
    return f"<annotation>{extra}<filename>{filename}</filename>{sz}{objs}</annotation>"


# ------------------------------------------------------------------ VOC

def test_parse_voc(tmp_path):
    p = tmp_path / "a.xml"
    p.write_text(_voc([("scratch", 1, 1, 200, 100), ("划痕", "10.5", 20, 30, 40)],
                      extra="<path>C:\\data\\a.jpg</path>"), encoding="utf-8")
    ann = parse_voc(p)
    assert (ann.filename, ann.width, ann.height, ann.image_path) == ("a.jpg", 200, 100, "C:\\data\\a.jpg")
    assert ann.boxes == [Box("scratch", 0.0, 0.0, 200.0, 100.0), Box("划痕", 9.5, 19.0, 30.0, 40.0)]
    assert ann.boxes[0].width == 200 and ann.boxes[0].height == 100


def test_parse_voc_without_size_or_objects_and_nested_parts(tmp_path):
    p = tmp_path / "a.xml"
    p.write_text("<annotation><filename> b </filename><size><width>0</width><height>0</height></size>"
                 "<object><name>person</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax>"
                 "</bndbox><part><name>hand</name><bndbox><xmin>2</xmin><ymin>2</ymin><xmax>3</xmax>"
                 "<ymax>3</ymax></bndbox></part></object></annotation>")
    ann = parse_voc(p)
    assert ann.filename == "b" and ann.width is None and ann.height is None
    assert [b.label for b in ann.boxes] == ["person"]  # the nested <part> is not an object
    p.write_text(_voc([], size=None))
    assert parse_voc(p).boxes == []


@pytest.mark.parametrize(
    "text,match",
    [
        ("<annotation><filename>a.jpg</filename>", r"malformed XML \(no element found: line 1"),
        ("not xml at all", r"malformed XML"),
        ("", r"malformed XML"),
        ("<root/>", r"not a Pascal VOC file: the root element is <root>"),
        ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>'
         "<annotation>&lol2;</annotation>", "refusing an XML file with a DOCTYPE/ENTITY declaration"),
        ('<!DOCTYPE x SYSTEM "file:///etc/passwd"><annotation/>', "DOCTYPE/ENTITY"),
        ("<annotation><object><bndbox/></object></annotation>", r"object 0 has no <name>"),
        ("<annotation><object><name>a</name></object></annotation>", r"object 0 \(a\) has no <bndbox>"),
        (_voc([("a", 1, 1, 5, 5), ("b", 1, "abc", 5, 5)]), r"object 1 \(b\): <ymin> is not a number"),
        (_voc([("a", 1, 1, "nan", 5)]), r"<xmax> is not a number"),
        (_voc([("a", 1, 1, "", 5)]), r"<xmax> is not a number"),
    ],
    ids=["unclosed", "text", "empty", "root", "billion-laughs", "external-entity", "no-name",
         "no-bndbox", "bad-number", "nan", "missing-number"],
)
def test_parse_voc_rejects(tmp_path, text, match):
    p = tmp_path / "bad.xml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=match) as exc:
        parse_voc(p)
    assert str(p) in str(exc.value)


def test_parse_voc_refuses_doctype_in_utf16(tmp_path):
    p = tmp_path / "u16.xml"
    p.write_bytes('<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE a [<!ENTITY x "y">]><annotation/>'
                  .encode("utf-16"))
    with pytest.raises(InputError, match="DOCTYPE/ENTITY"):
        parse_voc(p)


def test_parse_voc_gbk_declared_encoding(tmp_path):
    p = tmp_path / "gbk.xml"
    p.write_bytes(('<?xml version="1.0" encoding="GBK"?>' + _voc([("划痕", 1, 1, 5, 5)], "划痕_001.jpg"))
                  .encode("gbk"))
    ann = parse_voc(p)
    assert ann.filename == "划痕_001.jpg" and ann.boxes[0].label == "划痕"


def test_parse_voc_missing_file(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        parse_voc(tmp_path / "none.xml")


# ------------------------------------------------------------------ YOLO

def test_parse_yolo(tmp_path):
    p = tmp_path / "a.txt"
    p.write_bytes("\ufeff# comment\r\n0 0.5 0.5 0.5 0.5\r\n\r\n1 0.1 0.2 0.2 0.4\r\n".encode("utf-8"))
    boxes = parse_yolo(p, 200, 100, ["crazing", "划痕"])
    assert boxes == [Box("crazing", 50.0, 25.0, 150.0, 75.0), Box("划痕", 0.0, 0.0, 40.0, 40.0)]
    assert parse_yolo(p, 200, 100, None)[1].label == "1"
    p.write_text("")
    assert parse_yolo(p, 10, 10, ["a"]) == []


@pytest.mark.parametrize(
    "line,match",
    [
        ("0 0.5 0.5 0.5", r"line 2: expected 5 values 'class cx cy w h', got 4"),
        ("0 0.1 0.1 0.2 0.1 0.3 0.2 0.5", r"got 8 \(segmentation polygons are not supported\)"),
        ("0 0.5 abc 0.5 0.5", r"line 2: .* not a number"),
        ("0 0.5 nan 0.5 0.5", r"line 2: .* not a finite number"),
        ("2 0.5 0.5 0.5 0.5", r"line 2: class 2 has no name: the class names list 2 \(0\.\.1\)"),
        ("-1 0.5 0.5 0.5 0.5", r"the class is not a non-negative whole number"),
        ("0.5 0.5 0.5 0.5 0.5", r"the class is not a non-negative whole number"),
        ("0 1.5 0.5 0.5 0.5", r"line 2: cx=1.5 is out of range \(expected 0\.\.1"),
        ("0 0.5 0.5 0 0.5", r"w=0 is out of range \(expected greater than 0 and at most 1"),
        ("0 120 80 40 30", r"cx=120 is out of range .* pixel coordinates are not YOLO format"),
    ],
)
def test_parse_yolo_rejects(tmp_path, line, match):
    p = tmp_path / "a.txt"
    p.write_text("0 0.5 0.5 0.2 0.2\n" + line + "\n")
    with pytest.raises(InputError, match=match) as exc:
        parse_yolo(p, 100, 100, ["a", "b"])
    assert str(exc.value).startswith(f"{p}, line 2: ")


@pytest.mark.parametrize("w,h", [(0, 10), (10, -1), (1.5, 10), (True, 10)])
def test_parse_yolo_image_size_validated(tmp_path, w, h):
    p = tmp_path / "a.txt"
    p.write_text("")
    with pytest.raises(InputError, match="must be a positive integer"):
        parse_yolo(p, w, h, ["a"])


def test_parse_yolo_accepts_tiny_float_overshoot(tmp_path):
    p = tmp_path / "a.txt"
    p.write_text("0 0.5 0.5 1.0000004 1\n")
    (box,) = parse_yolo(p, 10, 10, ["a"])
    assert box.x1 == pytest.approx(10.000002)


@pytest.mark.parametrize(
    "name,text,expected",
    [
        ("classes.txt", "crazing\n\n划痕\r\n rolled-in_scale \n", ["crazing", "划痕", "rolled-in_scale"]),
        ("data.yaml", "path: .\ntrain: images\nnc: 2\nnames: ['crazing', \"a, b\"]  # two\n", ["crazing", "a, b"]),
        ("data.yaml", "names: [crazing,\n  scratches]\nnc: 2\n", ["crazing", "scratches"]),
        ("data.yaml", "nc: 2\nnames:\n  - crazing\n  - '划痕'  # scratch\nval: x\n", ["crazing", "划痕"]),
        ("data.yml", "names:\n- a\n- b\n", ["a", "b"]),
        ("data.yaml", "names:\n  1: b\n  0: a\ntrain: x\n", ["a", "b"]),
        ("data.yaml", "names: {0: a, 1: 'b c'}\n", ["a", "b c"]),
    ],
)
def test_parse_yolo_names(tmp_path, name, text, expected):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    assert parse_yolo_names(p) == expected


@pytest.mark.parametrize(
    "name,text,match",
    [
        ("classes.txt", "\n\n", "no class names"),
        ("data.yaml", "nc: 2\ntrain: x\n", "no top-level 'names:' key"),
        ("data.yaml", "names:\n  0: a\n  2: c\n", r"must be 0\.\.1 without gaps"),
        ("data.yaml", "names:\n  a: x\n", "must be class numbers"),
        ("data.yaml", "names: [a, b\n", "is not closed"),
        ("data.yaml", "names: []\n", "lists no class names"),
        ("data.yaml", "names: a b c\n", "cannot read 'names: a b c'"),
    ],
)
def test_parse_yolo_names_rejects(tmp_path, name, text, match):
    p = tmp_path / name
    p.write_text(text)
    with pytest.raises(InputError, match=match):
        parse_yolo_names(p)


# ------------------------------------------------------------------ COCO

def _coco_doc():
    return {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 50},
                   {"id": 2, "file_name": "sub/b.png"}],
        "annotations": [{"id": 10, "image_id": 1, "category_id": 3, "bbox": [10, 5, 20.5, 10]},
                        {"id": 11, "image_id": 1, "category_id": 4, "bbox": [0, 0, 1, 1]}],
        "categories": [{"id": 3, "name": "scratch"}, {"id": 4, "name": "划痕"}],
    }


def test_parse_coco(tmp_path):
    p = tmp_path / "instances.json"
    p.write_text(json.dumps(_coco_doc(), ensure_ascii=False), encoding="utf-8")
    coco = parse_coco(p)
    assert coco.categories == {3: "scratch", 4: "划痕"}
    assert coco.boxes == {"a.jpg": [Box("scratch", 10.0, 5.0, 30.5, 15.0), Box("划痕", 0.0, 0.0, 1.0, 1.0)],
                          "sub/b.png": []}
    assert coco.sizes == {"a.jpg": (100, 50), "sub/b.png": None}


@pytest.mark.parametrize(("change", "match"), [
    (lambda d: d["annotations"][0].update(category_id=7), "category_id 7, which is not in 'categories'"),
    (lambda d: d["annotations"][0].update(bbox=[1, 2, 3]), r"'bbox' must be \[x, y, width, height\]"),
    (lambda d: d["annotations"][0].update(bbox=[1, 2, "3", 4]), r"'bbox' must be"),
])
def test_an_unusable_annotation_rejects_its_image_only(tmp_path, change, match):
    """Found by an attacker pass: one bad annotation refused every image of the file."""
    p = tmp_path / "c.json"
    doc = _coco_doc()
    change(doc)
    p.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    coco = parse_coco(p)
    assert list(coco.rejected) == ["a.jpg"] and re.search(match, str(coco.rejected["a.jpg"]))
    assert coco.boxes == {"sub/b.png": []} and coco.orphans == []


def test_an_annotation_of_no_listed_image_is_an_orphan(tmp_path):
    p = tmp_path / "c.json"
    doc = _coco_doc()
    doc["annotations"][1]["image_id"] = 9
    doc["annotations"].append("not an object")
    p.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    coco = parse_coco(p)
    assert coco.boxes["a.jpg"] == [Box("scratch", 10.0, 5.0, 30.5, 15.0)] and coco.rejected == {}
    assert [re.search(r"annotations\[\d\][^:]*", str(m)).group(0) for m in coco.orphans] == [
        "annotations[1] (id 11) names image_id 9, which is not in 'images'.", "annotations[2] is not an object."]


def _mutate(change):
    doc = _coco_doc()
    change(doc)
    return json.dumps(doc)


@pytest.mark.parametrize(
    "text,match",
    [
        ('{"images": [', r"invalid JSON at line 1, column 13"),
        ("[]", "not a COCO file"),
        ('{"images": [], "annotations": []}', "not a COCO file"),
        (_mutate(lambda d: d["images"][1].update(file_name="a.jpg")),
         r"images\[1\]: file_name 'a.jpg' is listed twice"),
        (_mutate(lambda d: d["images"][0].pop("file_name")), r"images\[0\] needs an 'id' and a 'file_name'"),
        (_mutate(lambda d: d["categories"][0].pop("name")), r"categories\[0\] needs an 'id' and a 'name'"),
        # a hostile id longer than Python converts to int (4,300 digits): a rejection, not a ValueError
        ('{"images": [{"id": ' + "9" * 5000 + ', "file_name": "a.png"}], "annotations": [], "categories": []}',
         "number too long"),
    ],
)
def test_parse_coco_rejects(tmp_path, text, match):
    p = tmp_path / "c.json"
    p.write_text(text)
    with pytest.raises(InputError, match=match) as exc:
        parse_coco(p)
    assert str(exc.value).startswith(str(p))


# ------------------------------------------------------------------ validate_box

@pytest.mark.parametrize(
    "box,expected",
    [
        (Box("a", 2, 3, 10, 8), Box("a", 2, 3, 10, 8)),
        (Box("a", 2.2, 3.7, 9.5, 7.01), Box("a", 2, 3, 10, 8)),  # edges rounded outwards
        (Box("a", -5, -1, 30, 8), Box("a", 0, 0, 20, 8)),  # clipped to the 20x10 image
        (Box("a", 19, 8, 25, 12), Box("a", 19, 8, 20, 10)),
    ],
)
def test_validate_box_keeps_and_clips(box, expected):
    valid, reason = validate_box(box, 20, 10, min_size=1)
    assert reason is None and valid == expected
    assert all(isinstance(v, int) for v in (valid.x0, valid.y0, valid.x1, valid.y1))


@pytest.mark.parametrize(
    "box,match",
    [
        (Box("a", 5, 5, 5, 9), r"zero or negative area: x0=5 y0=5 x1=5 y1=9"),
        (Box("a", 8, 5, 4, 9), r"zero or negative area"),
        (Box("a", 1, 6, 5, 2), r"zero or negative area"),
        (Box("a", 20, 0, 30, 5), r"outside the 20x10 image: x0=20"),
        (Box("a", -10, 0, 0, 5), r"outside the 20x10 image"),
        (Box("a", 0, 10, 5, 12), r"outside the 20x10 image"),
        (Box("a", 19.5, 0, 25, 5), r"too small: 1x5 pixels after clipping to the image .* minimum is 2x2"),
        (Box("a", 0, 0, 1, 5), r"too small: 1x5 pixels \(x0=0"),
        (Box("a", 0, 0, float("inf"), 5), "not finite numbers"),
        (Box("a", 0, 0, "x", 5), "not finite numbers"),
    ],
)
def test_validate_box_rejects_with_reason(box, match):
    valid, reason = validate_box(box, 20, 10)
    assert valid is None
    assert reason is not None
    import re
    assert re.search(match, reason), reason


def test_validate_box_without_image_size_checks_geometry_only():
    assert validate_box(Box("a", -5, -5, 500, 500), None, None) == (Box("a", -5, -5, 500, 500), None)
    assert validate_box(Box("a", 5, 5, 2, 9), None, None)[0] is None


@pytest.mark.parametrize(
    "args,match",
    [(((0, 0, 1, 1), 10, 10), "must be a Box"), ((Box("a", 0, 0, 5, 5), 0, 10), "'width'"),
     ((Box("a", 0, 0, 5, 5), 10, None), "'height'"), ((Box("a", 0, 0, 5, 5), 10, 10, 0), "'min_size'")],
)
def test_validate_box_parameters(args, match):
    with pytest.raises(InputError, match=match):
        validate_box(*args)


# ------------------------------------------------------------------ crop_boxes

def test_crop_boxes():
    img = np.arange(100, dtype=np.uint8).reshape(10, 10)
    res = crop_boxes(img, [Box("a", 2, 2, 4, 4), Box("b", 8, 8, 20, 20), Box("c", 1, 1, 1, 3),
                           Box("d", 4, 0, 8, 2)], pad_fraction=0.5, pad_pixels=0)
    assert [type(r) for r in res] == [CropResult] * 4
    assert res[0].box == Box("a", 2, 2, 4, 4) and res[0].region == (1, 1, 5, 5)
    np.testing.assert_array_equal(res[0].image, img[1:5, 1:5])
    assert res[1].box == Box("b", 8, 8, 10, 10) and res[1].region == (7, 7, 10, 10)
    assert res[2].image is None and res[2].reason.startswith("zero or negative area")
    assert res[3].region == (2, 0, 10, 3)  # padding 2 left/right, 1 top/bottom, clipped
    res = crop_boxes(img, [Box("a", 2, 2, 4, 4)], pad_pixels=1, pad_fraction=0.0)
    assert res[0].region == (1, 1, 5, 5)
    rgb = np.zeros((10, 10, 3), np.uint8)
    assert crop_boxes(rgb, [Box("a", 0, 0, 3, 2)])[0].image.shape == (2, 3, 3)
    assert crop_boxes(img, [Box("a", 0, 0, 3, 2)], min_size=3)[0].reason.startswith("too small")


def test_voc_boxes_cut_from_the_decoded_image(tmp_path):
    p = tmp_path / "a.xml"
    # the XML claims 200x100 but the real image is 20x10: boxes are checked against the real one
    p.write_text(_voc([("s", 1, 1, 4, 3), ("s", 30, 30, 60, 60), ("s", 5, 2, 5, 9), ("s", 18, 9, 40, 40)]))
    img = np.arange(200, dtype=np.uint8).reshape(10, 20)
    res = crop_boxes(img, parse_voc(p).boxes)
    np.testing.assert_array_equal(res[0].image, img[0:3, 0:4])
    assert res[1].reason == "outside the 20x10 image: x0=29 y0=29 x1=60 y1=60"
    assert res[2].reason == "too small: 1x8 pixels (x0=4 y0=1 x1=5 y1=9); the minimum is 2x2 (min_size)"
    assert res[3].box == Box("s", 17, 8, 20, 10)


@pytest.mark.parametrize(
    "kwargs,match",
    [({"pad_fraction": -0.1}, "pad_fraction"), ({"pad_fraction": float("nan")}, "pad_fraction"),
     ({"pad_pixels": 1.5}, "pad_pixels"), ({"pad_pixels": -1}, "pad_pixels")],
)
def test_crop_boxes_parameters(kwargs, match):
    with pytest.raises(InputError, match=match):
        crop_boxes(np.zeros((4, 4), np.uint8), [], **kwargs)


def test_crop_boxes_wants_an_image():
    with pytest.raises(InputError, match="'image' parameter of crop_boxes"):
        crop_boxes([[1, 2]], [])


@pytest.mark.neu
def test_neu_voc_files_parse_and_validate(neu_dir):
    n = 0
    for x in sorted((neu_dir / "annotations").glob("*.xml")):
        ann = parse_voc(x)
        assert (ann.width, ann.height) == (200, 200)
        for b in ann.boxes:
            valid, reason = validate_box(b, 200, 200)
            assert reason is None, (x.name, b)
            assert 0 <= valid.x0 < valid.x1 <= 200 and 0 <= valid.y0 < valid.y1 <= 200
        n += len(ann.boxes)
    assert n == 4189


@pytest.mark.parametrize(("width", "height"), [(200, 200), (600, 400), (2048, 2048), (4000, 3000)])
def test_yolo_written_with_six_decimals_reads_back_to_the_same_pixels(tmp_path, width, height):
    """The exporter's 6-decimal fractions are off by up to 0.0006 px on a 600-px plate; the parser puts the
    edges back on their pixels instead of rounding the box outwards by one (export -> import round trip)."""
    rng = np.random.default_rng(width)
    truth, lines = [], []
    for _ in range(500):
        x0, y0 = int(rng.integers(0, width - 4)), int(rng.integers(0, height - 4))
        x1, y1 = int(rng.integers(x0 + 2, width + 1)), int(rng.integers(y0 + 2, height + 1))
        truth.append((x0, y0, x1, y1))
        lines.append(f"0 {(x0 + x1) / 2 / width:.6f} {(y0 + y1) / 2 / height:.6f} "
                     f"{(x1 - x0) / width:.6f} {(y1 - y0) / height:.6f}")
    path = tmp_path / "a.txt"
    path.write_text("\n".join(lines))
    got = []
    for box in parse_yolo(path, width, height, ["a"]):
        valid, reason = validate_box(box, width, height)
        assert reason is None
        got.append((valid.x0, valid.y0, valid.x1, valid.y1))
    assert got == truth


def test_yolo_coarse_fractions_are_not_snapped(tmp_path):
    """Two decimals on a 600-px image are 6 px apart: nothing to snap, the box keeps its exact edges."""
    path = tmp_path / "a.txt"
    path.write_text("0 0.5 0.5 0.33 0.25\n")
    (box,) = parse_yolo(path, 600, 400, ["a"])
    assert (box.x0, box.x1) == pytest.approx((201.0, 399.0)) and (box.y0, box.y1) == pytest.approx((150.0, 250.0))
