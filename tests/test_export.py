import csv
import json

import cv2
import numpy as np
import pytest

from defectlab.errors import InputError, PermissionDenied
from defectlab.export import export_project
from defectlab.ingest import import_source
from defectlab.store import annotate, items_frame


def _png(seed, size=24):
    return cv2.imencode(".png", np.random.default_rng(seed).integers(0, 256, (size, size), dtype=np.uint8))[1].tobytes()


@pytest.fixture
def project(ws, tmp_path):
    root = tmp_path / "voc"
    (root / "images").mkdir(parents=True)
    (root / "annotations").mkdir()
    (root / "images" / "plate 1.png").write_bytes(_png(0, 60))
    (root / "annotations" / "p.xml").write_text(
        "<annotation><filename>plate 1.png</filename><size><width>60</width><height>60</height></size>"
        "<object><name>a</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>20</xmax><ymax>30</ymax></bndbox></object>"
        "<object><name>b</name><bndbox><xmin>31</xmin><ymin>31</ymin><xmax>50</xmax><ymax>60</ymax></bndbox></object>"
        "</annotation>")
    import_source(ws, "P", root, layout="voc")
    flat = tmp_path / "flat"
    (flat / "a").mkdir(parents=True)
    (flat / "a" / "划痕_001.png").write_bytes(_png(1))
    (flat / "a" / "x.png").write_bytes(_png(2))
    import_source(ws, "P", flat)
    df = items_frame(ws, 1).set_index("source")
    annotate(ws, int(df.loc["a/x.png", "id"]), "__unusable__")
    return "P"


def test_imagefolder(ws, project, tmp_path):
    res = export_project(ws, project, "imagefolder", tmp_path / "out")
    assert res["exported"] == 3  # the unusable item is left out
    files = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.png"))
    assert len(files) == 3 and sum(f.startswith("a/") for f in files) == 2
    assert any("划痕_001" in f for f in files)


def test_csv_folder_is_reimportable(ws, project, tmp_path):
    out = tmp_path / "out"
    assert export_project(ws, project, "csv", out)["exported"] == 3
    with open(out / "labels.csv", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["label"] for r in rows} == {"a", "b"}
    report = import_source(ws, "Q", out, layout="csv")
    assert report.imported == 3 and not report.rejected


def test_coco_boxes_on_the_plate(ws, project, tmp_path):
    out = tmp_path / "coco"
    assert export_project(ws, project, "coco", out)["exported"] == 3
    coco = json.loads((out / "annotations.json").read_text())
    plate = next(i for i in coco["images"] if i["width"] == 60)
    boxes = sorted(a["bbox"] for a in coco["annotations"] if a["image_id"] == plate["id"])
    assert boxes == [[0, 0, 20, 30], [30, 30, 20, 30]]
    assert [c["name"] for c in coco["categories"]] == ["a", "b"]
    # round trip: the COCO export imports back into the same crops
    report = import_source(ws, "R", out, layout="coco")
    assert report.imported == 3


def test_refusals(ws, project, tmp_path):
    with pytest.raises(InputError, match="Unknown export format"):
        export_project(ws, project, "tfrecord", tmp_path / "o")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(InputError, match="not empty"):
        export_project(ws, project, "csv", tmp_path / "full")
    with ws.transaction() as conn:
        conn.execute("INSERT INTO users (username, role, created_at) VALUES ('ann', 'annotator', 't')")
    with pytest.raises(PermissionDenied):
        export_project(ws, project, "csv", tmp_path / "o2", user="ann")


def _labels_of(ws, name):
    from defectlab.store import get_project

    df = items_frame(ws, get_project(ws, name).id)
    return sorted(df["label"].dropna())


@pytest.mark.parametrize(("fmt", "layout"), [("imagefolder", "folders"), ("csv", "csv"), ("coco", "coco"),
                                             ("yolo", "yolo"), ("voc", "voc")])
def test_every_format_round_trips_to_the_same_labels(ws, project, tmp_path, fmt, layout):
    out = tmp_path / f"rt_{fmt}"
    res = export_project(ws, project, fmt, out)
    assert res["exported"] == 3
    report = import_source(ws, f"back_{fmt}", out, layout=layout)
    assert not report.rejected, report.rejected
    assert _labels_of(ws, f"back_{fmt}") == ["a", "a", "b"] == [
        x for x in _labels_of(ws, project) if x != "__unusable__"]


def test_yolo_and_voc_put_the_boxes_on_the_plate(ws, project, tmp_path):
    export_project(ws, project, "yolo", tmp_path / "y")
    assert (tmp_path / "y" / "classes.txt").read_text().split() == ["a", "b"]
    plate_txt = next(p for p in (tmp_path / "y" / "labels").glob("*.txt") if "plate" in p.name)
    lines = sorted(plate_txt.read_text().split("\n")[:-1])
    # box (0,0)-(20,30) on a 60x60 plate -> centre (10,15), size (20,30)
    assert lines[0] == "0 0.166667 0.250000 0.333333 0.500000"
    export_project(ws, project, "voc", tmp_path / "v")
    xml = next(p for p in (tmp_path / "v" / "annotations").glob("*.xml") if "plate" in p.name).read_text()
    assert "<xmin>1</xmin><ymin>1</ymin><xmax>20</xmax><ymax>30</ymax>" in xml
    # the standalone crop is one whole-image box
    solo = next(p for p in (tmp_path / "v" / "annotations").glob("*.xml") if "plate" not in p.name).read_text()
    assert "<xmin>1</xmin><ymin>1</ymin><xmax>24</xmax><ymax>24</ymax>" in solo


def test_label_choice_reviewed_and_agreed(ws, project, tmp_path):
    df = items_frame(ws, 1).set_index("source")
    crop = int(df.loc["a/划痕_001.png", "id"])
    assert export_project(ws, project, "csv", tmp_path / "r0", labels="reviewed")["exported"] == 0
    annotate(ws, crop, "b", source="review")
    assert export_project(ws, project, "csv", tmp_path / "r1", labels="reviewed")["exported"] == 1
    plate_crop = int(df.loc["images/plate 1.png#0", "id"])
    with ws.transaction() as conn:
        conn.execute("INSERT INTO users (username, role, created_at) VALUES ('bo', 'annotator', 't')")
    assert export_project(ws, project, "csv", tmp_path / "a0", labels="agreed")["exported"] == 1
    annotate(ws, plate_crop, "a", user="bo")
    assert export_project(ws, project, "csv", tmp_path / "a1", labels="agreed")["exported"] == 2
    with pytest.raises(InputError, match="label choice"):
        export_project(ws, project, "csv", tmp_path / "x", labels="mine")


def test_xml_escapes_hostile_class_names(ws, tmp_path):
    from defectlab.store import add_item, create_project

    p = create_project(ws, "H", ["<b>&x<i>", "ok"])
    with ws.transaction() as conn:
        sha, rel = ws.put_blob(_png(5), "png")
        item = add_item(conn, p.id, sha256=sha, blob=rel, width=24, height=24, channels=1, source="../../evil.png")
    annotate(ws, item, "<b>&x<i>")
    export_project(ws, "H", "voc", tmp_path / "h")
    xml = next((tmp_path / "h" / "annotations").glob("*.xml")).read_text()
    assert "<name>&lt;b&gt;&amp;x&lt;i&gt;</name>" in xml
    assert all(tmp_path / "h" in p.parents for p in (tmp_path / "h").rglob("*"))
    create_project(ws, "H2", ["<b>&x<i>", "ok"])
    report = import_source(ws, "H2", tmp_path / "h", layout="voc")
    assert _labels_of(ws, "H2") == ["<b>&x<i>"] and not report.rejected


def test_export_zip_holds_the_files(ws, project):
    import io
    import zipfile

    data, n = __import__("defectlab.export", fromlist=["export_zip"]).export_zip(ws, project, "yolo")
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert n == 3 and "classes.txt" in names and any(x.startswith("labels/") for x in names)
    assert not list(ws.tmp_dir.glob("export-*"))  # the temporary folder is gone


def test_single_csv_file_reimports_and_names_no_workspace_path(ws, project, tmp_path):
    """Found by an attacker pass: the one-file CSV named the workspace's own files (a server path in the file),
    which its importer then refused as outside the import folder."""
    out = tmp_path / "one" / "labels of P.csv"
    assert export_project(ws, project, "csv", out)["exported"] == 3
    text = out.read_text(encoding="utf-8-sig")
    assert str(ws.root) not in text
    with open(out, encoding="utf-8-sig") as fh:
        paths = [r["path"] for r in csv.DictReader(fh)]
    assert all(p.startswith("labels of P_images/") and (out.parent / p).is_file() for p in paths)
    report = import_source(ws, "Q1", out.parent, layout="csv")
    assert report.imported == 3 and not report.rejected
    assert _labels_of(ws, "Q1") == ["a", "a", "b"]


def _legacy_project(ws, classes):
    """A project whose class names were stored before class names were checked (written in SQL)."""
    from defectlab.store import add_item, create_project

    p = create_project(ws, "Old", ["c1", "c2"])
    with ws.transaction() as conn:
        conn.execute("UPDATE projects SET classes = ? WHERE id = ?", (json.dumps(classes), p.id))
    items = []
    for k, cls in enumerate(classes):
        with ws.transaction() as conn:
            sha, rel = ws.put_blob(_png(10 + k), "png")
            items.append(add_item(conn, p.id, sha256=sha, blob=rel, width=24, height=24, channels=1,
                                  source=f"{k}.png"))
        annotate(ws, items[-1], cls)
    return p


def test_imagefolder_never_puts_two_classes_in_one_folder(ws, tmp_path):
    _legacy_project(ws, [".", "..", "a/b", "a_b", "A_B", "ok"])
    export_project(ws, "Old", "imagefolder", tmp_path / "f")
    folders = sorted(p.name for p in (tmp_path / "f").iterdir())
    assert folders == ["A_B_3", "a_b", "a_b_2", "label", "label_2", "ok"]
    assert all(len(list(p.iterdir())) == 1 for p in (tmp_path / "f").iterdir())  # one item each, none merged


@pytest.mark.parametrize("fmt", ["yolo", "voc", "coco"])
def test_a_class_name_with_a_line_break_is_refused_before_writing(ws, tmp_path, fmt):
    """A newline in a class name made classes.txt one line longer: every later class's boxes came back under
    the wrong class on re-import. Such names can no longer be made; an old one stops the export."""
    _legacy_project(ws, ["x\ny", "z\u202e", "ok"])
    with pytest.raises(InputError, match="rename the class"):
        export_project(ws, "Old", fmt, tmp_path / fmt)
    assert not (tmp_path / fmt).exists()
