"""Export a project's labeled data: class folders, a CSV, or COCO boxes on the plate images.

Only items with a current label are exported (items marked unusable are left out). Exports are written
with the images' original bytes from the workspace; file names never come from user text alone (each
starts with the item id), so nothing can escape the output folder.
"""

import json
import re
import shutil
from pathlib import Path

from .csvio import write_csv
from .errors import InputError
from .store import get_project, items_frame, log_action, require
from .store.projects import UNUSABLE

__all__ = ["FORMATS", "export_project"]

FORMATS = ("imagefolder", "csv", "coco")
_SAFE = re.compile(r"[^\w.\-]+", re.UNICODE)


def _safe_name(item_id, source, blob):
    stem = Path(str(source).split("#")[0]).stem
    stem = _SAFE.sub("_", stem).strip("._")[:80] or "item"
    box = str(source).split("#")[1] if "#" in str(source) else None
    ext = Path(blob).suffix
    return f"{item_id}_{stem}" + (f"_box{box}" if box is not None else "") + ext


def _labeled(df):
    return df[df["label"].notna() & (df["label"] != UNUSABLE)]


def export_project(ws, project, fmt, out, user="local"):
    """Write a project's labeled items to ``out``.

    Parameters
    ----------
    ws : Workspace
    project : str or Project
    fmt : {"imagefolder", "csv", "coco"}
        ``imagefolder``: ``out/<label>/<id>_<name>.<ext>``. ``csv``: ``out/images/`` plus
        ``out/labels.csv`` (``path,label,...``, re-importable with ``--layout csv``); when ``out`` ends
        in ``.csv`` only that file is written, its paths pointing into the workspace. ``coco``:
        ``out/images/`` (the plate images, or the items themselves) plus ``out/annotations.json`` with
        one box per labeled crop (whole-image items get a box covering the image).
    out : str or Path
    user : str
        Needs the ``export`` permission.

    Returns
    -------
    dict
        ``{"exported": int, "path": str}``.
    """
    if fmt not in FORMATS:
        raise InputError(f"Unknown export format {fmt!r}; expected one of {', '.join(FORMATS)}.")
    p = get_project(ws, project)
    with ws.read() as conn:
        require(conn, user, "export")
    out = Path(out)
    if out.exists() and out.is_dir() and any(out.iterdir()):
        raise InputError(f"Export folder {out} is not empty; choose a new folder.")
    df = _labeled(items_frame(ws, p.id))
    if fmt == "imagefolder":
        n = _imagefolder(ws, df, out)
    elif fmt == "csv":
        n = _csv(ws, df, out)
    else:
        n = _coco(ws, p, df, out)
    with ws.transaction() as conn:
        log_action(conn, user, "export", p.id, str(out), {"format": fmt, "exported": n})
    return {"exported": n, "path": str(out)}


def _copy(ws, blob, dest):
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ws.blob_path(blob), dest)


def _imagefolder(ws, df, out):
    for row in df.itertuples():
        label_dir = _SAFE.sub("_", row.label).strip("._") or "label"
        _copy(ws, row.blob, out / label_dir / _safe_name(row.id, row.source, row.blob))
    out.mkdir(parents=True, exist_ok=True)
    return len(df)


_CSV_COLUMNS = ["path", "label", "item_id", "source", "label_source", "sha256", "width", "height",
                "parent_id", "box"]


def _csv(ws, df, out):
    single = out.suffix.lower() == ".csv"
    if single:
        out.parent.mkdir(parents=True, exist_ok=True)
        target = out
    else:
        target = out / "labels.csv"
        out.mkdir(parents=True, exist_ok=True)
    rows = []
    for row in df.itertuples():
        if single:
            path = str(ws.blob_path(row.blob))
        else:
            name = _safe_name(row.id, row.source, row.blob)
            _copy(ws, row.blob, out / "images" / name)
            path = f"images/{name}"
        parent = "" if row.parent_id is None or row.parent_id != row.parent_id else int(row.parent_id)
        rows.append([path, row.label, row.id, row.source, row.label_source, row.sha256, row.width,
                     row.height, parent, "" if row.box is None else json.dumps(row.box)])
    write_csv(target, _CSV_COLUMNS, rows)
    return len(df)


def _coco(ws, p, df, out):
    plates = items_frame(ws, p.id, role="plate", with_labels=False).set_index("id")
    categories = [{"id": i + 1, "name": c} for i, c in enumerate(p.classes)]
    cat_id = {c["name"]: c["id"] for c in categories}
    images, annotations, image_ids = [], [], {}

    def _image(key, blob, source, width, height):
        if key not in image_ids:
            image_ids[key] = len(images) + 1
            name = _safe_name(key[1], source, blob)
            _copy(ws, blob, out / "images" / name)
            images.append({"id": image_ids[key], "file_name": f"images/{name}", "width": int(width),
                           "height": int(height)})
        return image_ids[key]

    for row in df.itertuples():
        has_parent = row.parent_id is not None and row.parent_id == row.parent_id and row.box is not None
        if has_parent and int(row.parent_id) in plates.index:
            pl = plates.loc[int(row.parent_id)]
            img_id = _image(("plate", int(row.parent_id)), pl["blob"], pl["source"], pl["width"], pl["height"])
            x0, y0, x1, y1 = row.box
        else:
            img_id = _image(("item", row.id), row.blob, row.source, row.width, row.height)
            x0, y0, x1, y1 = 0, 0, int(row.width), int(row.height)
        annotations.append({"id": len(annotations) + 1, "image_id": img_id, "category_id": cat_id[row.label],
                            "bbox": [x0, y0, x1 - x0, y1 - y0], "area": (x1 - x0) * (y1 - y0),
                            "iscrowd": 0, "defectlab_item_id": int(row.id)})
    out.mkdir(parents=True, exist_ok=True)
    (out / "annotations.json").write_text(json.dumps(
        {"images": images, "annotations": annotations, "categories": categories}, ensure_ascii=False,
        indent=1), encoding="utf-8")
    return len(annotations)
