"""Export a project's labeled data: class folders, a CSV, or COCO / YOLO / Pascal VOC boxes on the plate
images (a crop that has no plate is one box covering its whole image).

Only items with a current label are exported (items marked unusable are left out); ``labels`` narrows
that to reviewed labels or to agreed ones. Every format re-imports with the matching ``--layout`` to the
same labels. Exports are written
with the images' original bytes from the workspace; file names never come from user text alone (each
starts with the item id), so nothing can escape the output folder.
"""

import json
import re
import shutil
import tempfile
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

from .csvio import write_csv
from .errors import InputError
from .messages import msg
from .store import get_project, items_frame, log_action, require
from .store.packs import is_packed
from .store.projects import UNUSABLE, _hidden_chars, class_name_problem

__all__ = ["FORMATS", "LABEL_CHOICES", "export_project", "export_zip", "label_folders"]

FORMATS = ("imagefolder", "csv", "coco", "yolo", "voc")
LABEL_CHOICES = ("all", "reviewed", "agreed")
"""``all``: every current label; ``reviewed``: labels decided by a review; ``agreed``: reviewed labels and
labels that two or more people gave alike."""
_SAFE = re.compile(r"[^\w.\-]+", re.UNICODE)


def _safe_name(item_id, source, blob):
    stem = Path(str(source).split("#")[0]).stem
    stem = _SAFE.sub("_", stem).strip("._")[:80] or "item"
    box = str(source).split("#")[1] if "#" in str(source) else None
    ext = Path(blob).suffix
    return f"{item_id}_{stem}" + (f"_box{box}" if box is not None else "") + ext


def _labeled(df, labels="all"):
    df = df[df["label"].notna() & (df["label"] != UNUSABLE)]
    if labels == "reviewed":
        df = df[df["label_source"] == "review"]
    elif labels == "agreed":
        df = df[(df["label_source"] == "review") | ((df["n_votes"] >= 2) & df["agreed"].astype(bool))]
    return df


def export_project(ws, project, fmt, out, user="local", labels="all"):
    """Write a project's labeled items to ``out``.

    Parameters
    ----------
    ws : Workspace
    project : str or Project
    fmt : {"imagefolder", "csv", "coco", "yolo", "voc"}
        ``imagefolder``: ``out/<label>/<id>_<name>.<ext>`` (folders named by :func:`label_folders`).
        ``csv``: ``out/images/`` plus ``out/labels.csv`` (``path,label,...``, re-importable with
        ``--layout csv``); when ``out`` ends in ``.csv``, that file and the images in ``<stem>_images/``
        beside it, named relative to it (no path of the workspace is written). ``coco``:
        ``out/images/`` (the plate images, or the items themselves) plus ``out/annotations.json`` with
        one box per labeled crop (whole-image items get a box covering the image). ``yolo``:
        ``out/images/``, ``out/labels/<stem>.txt`` (``class cx cy w h``, normalised) and
        ``out/classes.txt``. ``voc``: ``out/images/`` and ``out/annotations/<stem>.xml``.
    out : str or Path
    user : str
        Needs the ``export`` permission.
    labels : {"all", "reviewed", "agreed"}, default "all"
        Which labels to export (:data:`LABEL_CHOICES`).

    Returns
    -------
    dict
        ``{"exported": int, "path": str}``.
    """
    if fmt not in FORMATS:
        raise InputError(msg("error.export.format", "Unknown export format {fmt!r}; expected one of {formats}.",
                             fmt=str(fmt), formats=", ".join(FORMATS)))
    if labels not in LABEL_CHOICES:
        raise InputError(msg("error.export.labels", "Unknown label choice {labels!r}; expected one of {choices}.",
                             labels=str(labels), choices=", ".join(LABEL_CHOICES)))
    p = get_project(ws, project)
    with ws.read() as conn:
        require(conn, user, "export")
    out = Path(out)
    if out.exists() and out.is_dir() and any(out.iterdir()):
        raise InputError(msg("error.export.not_empty", "Export folder {out} is not empty; choose a new folder.",
                             out=str(out)))
    df = _labeled(items_frame(ws, p.id), labels)
    writer = {"imagefolder": _imagefolder, "csv": _csv, "coco": _coco, "yolo": _yolo, "voc": _voc}[fmt]
    if fmt in ("coco", "yolo", "voc"):
        _check_writable_classes(p, fmt)
    n = writer(ws, df, out) if fmt == "csv" else writer(ws, p, df, out)
    with ws.transaction() as conn:
        log_action(conn, user, "export", p.id, str(out), {"format": fmt, "exported": n, "labels": labels})
    return {"exported": n, "path": str(out)}


def export_zip(ws, project, fmt, user="local", labels="all"):
    """Export into a temporary folder and return the whole export as zip bytes (the UI's download).

    Returns
    -------
    tuple of (bytes, int)
        The zip archive and the number of exported items.
    """
    ws.tmp_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=ws.tmp_dir, prefix="export-") as tmp:
        out = Path(tmp) / "export"
        n = export_project(ws, project, fmt, out, user=user, labels=labels)["exported"]
        target = Path(tmp) / "export.zip"
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(out.rglob("*")):
                if path.is_file():
                    zf.write(path, path.relative_to(out).as_posix())
        return target.read_bytes(), n


def _copy(ws, blob, dest):
    dest.parent.mkdir(parents=True, exist_ok=True)
    if is_packed(blob):
        dest.write_bytes(ws.read_blob(blob))  # a range of a pack file, bounded and verified
    else:
        shutil.copyfile(ws.blob_path(blob), dest)


def label_folders(labels):
    """The folder of each label in an image-folder export: the class name itself (so the folders re-import to
    the same labels), or, for a name no folder can carry (a path separator or a control character, made
    before class names were checked), the name with those characters replaced; never two labels in one
    folder, even on a file system that ignores case. (Windows cannot create a folder whose name holds
    ``: * ? " < > |``; its zip tools replace them.)

    Examples
    --------
    >>> label_folders(["rolled-in scale", "划痕", "a/b", "a_b", ".."])
    {'rolled-in scale': 'rolled-in scale', '划痕': '划痕', 'a/b': 'a_b_2', 'a_b': 'a_b', '..': 'label'}
    """
    def usable(name):
        return class_name_problem(name) is None and name == name.strip()

    out, used = {}, set()
    for label in labels:  # names a folder can carry keep them (first come, for case-only twins)
        if usable(str(label)) and str(label).casefold() not in used:
            out[label] = str(label)
            used.add(str(label).casefold())
    for label in labels:  # then the others, made safe and clear of those
        if label in out:
            continue
        name = str(label) if usable(str(label)) else (_SAFE.sub("_", str(label)).strip("._") or "label")
        base, k = name, 2
        while name.casefold() in used:
            name, k = f"{base}_{k}", k + 1
        used.add(name.casefold())
        out[label] = name
    return {label: out[label] for label in labels}


def _imagefolder(ws, p, df, out):
    folders = label_folders([*p.classes, *sorted(set(df["label"]) - set(p.classes))])
    for row in df.itertuples():
        _copy(ws, row.blob, out / folders[row.label] / _safe_name(row.id, row.source, row.blob))
    out.mkdir(parents=True, exist_ok=True)
    return len(df)


def _check_writable_classes(p, fmt):
    """A class name with a control character (made before class names were checked) cannot be written to a
    ``classes.txt`` line, an XML or a JSON consumer intact: refused, naming the class, before anything is
    written (rename the class first)."""
    for cls in p.classes:
        if _hidden_chars(cls):
            raise InputError(msg("error.export.class_name_chars", "Class {cls!r} holds a control or direction "
                                 "character that a {fmt} export cannot carry; rename the class first.",
                                 cls=cls[:40], fmt=fmt))


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
        if single:  # the images beside the CSV, named relative to it: the pair re-imports, and no workspace path
            name = _safe_name(row.id, row.source, row.blob)  # leaves the machine in the file
            _copy(ws, row.blob, out.parent / f"{out.stem}_images" / name)
            path = f"{out.stem}_images/{name}"
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


def _boxed_images(ws, p, df):
    """Labeled items grouped by the image their box is on: plates with their crops' boxes, and a crop
    without a plate as one whole-image box. A list of ``(name, blob, width, height, [(x0, y0, x1, y1, label)])``."""
    plates = items_frame(ws, p.id, role="plate", with_labels=False).set_index("id")
    groups = {}
    for row in df.itertuples():
        has_parent = row.parent_id is not None and row.parent_id == row.parent_id and row.box is not None
        if has_parent and int(row.parent_id) in plates.index:
            pl = plates.loc[int(row.parent_id)]
            key = ("plate", int(row.parent_id))
            if key not in groups:
                groups[key] = (_safe_name(int(row.parent_id), pl["source"], pl["blob"]), pl["blob"],
                               int(pl["width"]), int(pl["height"]), [])
            x0, y0, x1, y1 = (int(v) for v in row.box)
        else:
            key = ("item", int(row.id))
            groups[key] = (_safe_name(row.id, row.source, row.blob), row.blob, int(row.width), int(row.height), [])
            x0, y0, x1, y1 = 0, 0, int(row.width), int(row.height)
        groups[key][4].append((x0, y0, x1, y1, row.label))
    return list(groups.values())


def _yolo(ws, p, df, out):
    cls_id = {c: i for i, c in enumerate(p.classes)}
    n = 0
    for name, blob, width, height, boxes in _boxed_images(ws, p, df):
        _copy(ws, blob, out / "images" / name)
        lines = [f"{cls_id[lab]} {(x0 + x1) / 2 / width:.6f} {(y0 + y1) / 2 / height:.6f} "
                 f"{(x1 - x0) / width:.6f} {(y1 - y0) / height:.6f}" for x0, y0, x1, y1, lab in boxes]
        (out / "labels").mkdir(parents=True, exist_ok=True)
        (out / "labels" / (Path(name).stem + ".txt")).write_text("\n".join(lines) + "\n", encoding="utf-8")
        n += len(boxes)
    out.mkdir(parents=True, exist_ok=True)
    (out / "classes.txt").write_text("\n".join(p.classes) + "\n", encoding="utf-8")
    return n


def _voc(ws, p, df, out):
    n = 0
    for name, blob, width, height, boxes in _boxed_images(ws, p, df):
        _copy(ws, blob, out / "images" / name)
        objects = "".join(
            f"<object><name>{escape(lab)}</name><difficult>0</difficult><bndbox><xmin>{x0 + 1}</xmin>"
            f"<ymin>{y0 + 1}</ymin><xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox></object>"
            for x0, y0, x1, y1, lab in boxes)
        xml = (f"<annotation><folder>images</folder><filename>{escape(name)}</filename><size><width>{width}"
               f"</width><height>{height}</height><depth>3</depth></size>{objects}</annotation>\n")
        (out / "annotations").mkdir(parents=True, exist_ok=True)
        (out / "annotations" / (Path(name).stem + ".xml")).write_text(xml, encoding="utf-8")
        n += len(boxes)
    out.mkdir(parents=True, exist_ok=True)
    return n
