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
