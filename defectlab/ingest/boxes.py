"""Bounding-box annotations: Pascal VOC, YOLO and COCO parsers, box validation and cropping.

Pure functions: they read annotation files and return plain records (:class:`Box`, ...); they never
touch the workspace. Every problem with a file raises :class:`~defectlab.errors.InputError` naming the
file (and the line or object), so an importer can reject that one file and go on.

Coordinates
-----------
A :class:`Box` uses **pixel-edge coordinates** in the decoded (upright) image: pixel column ``c`` spans
``[c, c+1)``, so an integer box covers ``image[y0:y1, x0:x1]`` and is ``x1 - x0`` pixels wide.
The parsers convert each format's own convention:

* Pascal VOC ``xmin..xmax`` are 1-based and inclusive (the VOC devkit, LabelImg):
  ``x0 = xmin - 1``, ``x1 = xmax``. A full 200-pixel-wide NEU box ``1..200`` becomes ``0..200``.
* YOLO ``cx cy w h`` are fractions of the image size: ``x0 = (cx - w/2) * width`` ...
* COCO ``[x, y, w, h]`` are already pixel edges: ``x0 = x``, ``x1 = x + w``.

Parsed boxes may be fractional, partly outside the image or empty; :func:`validate_box` decides, once
the image size is known, whether a box is kept (clipped, integer) or rejected with a reason.
"""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import defusedxml.ElementTree as DET
import numpy as np
from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden

from defectlab.errors import InputError
from defectlab.imaging import crop_box
from defectlab.messages import msg, os_reason

__all__ = [
    "Box",
    "CocoAnnotations",
    "CropResult",
    "VocAnnotation",
    "crop_boxes",
    "parse_coco",
    "parse_voc",
    "parse_yolo",
    "parse_yolo_names",
    "validate_box",
]

_MAX_XML_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Box:
    """A labelled rectangle in pixel-edge coordinates (see the module docstring).

    Attributes
    ----------
    label : str or None
    x0, y0 : float
        Left and top edges.
    x1, y1 : float
        Right and bottom edges (exclusive for integer boxes).
    """

    label: str | None
    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0


@dataclass
class VocAnnotation:
    """One Pascal VOC XML file.

    Attributes
    ----------
    filename : str
        ``<filename>`` as written (may lack the extension, as in NEU-DET); ``""`` when absent.
    width, height : int or None
        ``<size>`` as written; None when absent or 0 (many tools write 0).
    boxes : list of Box
        One per ``<object>``, in file order (the box index of a crop is its position here).
    image_path : str
        ``<path>`` as written (often an absolute path on the labeller's PC); ``""`` when absent.
    """

    filename: str
    width: int | None
    height: int | None
    boxes: list[Box] = field(default_factory=list)
    image_path: str = ""


@dataclass
class CocoAnnotations:
    """One COCO ``instances`` JSON file.

    Attributes
    ----------
    boxes : dict of str to list of Box
        ``file_name`` → its boxes in annotation order, for every image listed (possibly no boxes),
        in the order of ``images``.
    sizes : dict of str to (int, int) or None
        ``file_name`` → ``(width, height)`` as written, None when missing.
    categories : dict of int to str
        Category id → name.
    rejected : dict of str to Message
        ``file_name`` → why the image cannot be imported: one of its annotations is unusable (an unknown
        category, a malformed ``bbox``); importing it without that box would store a plate with a defect
        left unboxed. Its boxes are not in ``boxes``.
    orphans : list of Message
        Annotations that name no listed image (or are not objects): nothing to attach them to.
    """

    boxes: dict[str, list[Box]]
    sizes: dict[str, tuple[int, int] | None]
    categories: dict[int, str]
    rejected: dict[str, object] = field(default_factory=dict)
    orphans: list[object] = field(default_factory=list)


@dataclass
class CropResult:
    """One box of :func:`crop_boxes`: either a crop, or ``None`` and the reason.

    Attributes
    ----------
    box : Box or None
        The validated box (integer, clipped to the image, before padding).
    region : tuple of int or None
        ``(x0, y0, x1, y1)`` actually cut: the box plus padding, clipped to the image.
    image : (h, w) or (h, w, 3) ndarray of np.uint8, or None
    reason : str or None
        Why the box was rejected.
    """

    box: Box | None
    region: tuple[int, int, int, int] | None
    image: np.ndarray | None
    reason: str | None = None


# --------------------------------------------------------------------------------------------
# Pascal VOC
# --------------------------------------------------------------------------------------------

_DTD = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_DTD_REFUSED = ("{path}: refusing an XML file with a DOCTYPE/ENTITY declaration (it could expand entities or read "
                "other files); annotation files never need one: remove it and import again.")


def _read_limited(path, limit, what):
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > limit:
            raise InputError(msg("error.boxes.bytes_larger_than_byte",
                    "{path}: {what} of {size} bytes is larger than the {limit} byte limit.",
                    path=path, what=what, size=size, limit=limit))
        return p.read_bytes()
    except FileNotFoundError:
        raise InputError(msg("error.boxes.file_not_found", "{path}: file not found.", path=path)) from None
    except IsADirectoryError:
        raise InputError(msg("error.boxes.folder_expected",
                "{path}: is a folder, expected a {what}.",
                path=path, what=what)) from None
    except OSError as e:
        raise InputError(msg("error.boxes.cannot_read_file",
                "{path}: cannot read the file ({e_strerror_or_e}).",
                path=path, e_strerror_or_e=os_reason(e))) from None


def _check_xml_safe(data, path):
    """Refuse DTDs: no entity expansion ("billion laughs") and no external entities, ever."""
    text = data
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in data[:4]:
        try:
            text = data.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError:
            raise InputError(msg("error.boxes.malformed_xml_undecodable_utf",
                    "{path}: malformed XML (undecodable UTF-16).",
                    path=path)) from None
    if _DTD.search(text):
        raise InputError(msg("error.boxes.dtd_refused", _DTD_REFUSED, path=path))


def _parse_xml(path):
    data = _read_limited(path, _MAX_XML_BYTES, msg("ingest.file.xml", "XML file"))
    _check_xml_safe(data, path)
    try:
        try:
            return DET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
        except ValueError:
            # expat reads only single-byte encodings itself: decode GBK & co. here
            m = re.match(rb"\s*<\?xml[^>]*encoding=[\"']([A-Za-z0-9_.:-]+)[\"'][^>]*\?>", data)
            if m is None:
                raise
            enc = m.group(1).decode("ascii").lower()
            enc = "gb18030" if enc in ("gbk", "gb2312", "cp936", "gb18030") else enc
            try:
                text = data[m.end():].decode(enc)
            except (LookupError, UnicodeDecodeError) as e:
                raise InputError(msg("error.boxes.cannot_decode_xml",
                        "{path}: cannot decode the XML as {enc} ({e}).",
                        path=path, enc=enc, e=e)) from None
            # the declaration is checked again once decoded (UTF-7 can hide "<!DOCTYPE")
            _check_xml_safe(text.encode("utf-8"), path)
            return DET.fromstring(text, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden):
        raise InputError(msg("error.boxes.dtd_refused", _DTD_REFUSED, path=path)) from None
    except LookupError:
        raise InputError(msg("error.boxes.malformed_xml_declaration_names",
                "{path}: malformed XML (its declaration names an unknown text encoding).",
                path=path)) from None
    except ET.ParseError as e:
        raise InputError(msg("error.boxes.malformed_xml_fix_re",
                "{path}: malformed XML ({e}); fix or re-export the annotation file.",
                path=path, e=e)) from None


def _text(elem, tag):
    t = elem.findtext(tag)
    return "" if t is None else t.strip()


def _voc_int(text):
    try:
        v = float(text)
    except ValueError:
        return None
    return int(v) if math.isfinite(v) and v > 0 else None


def parse_voc(xml_path) -> VocAnnotation:
    """Read a Pascal VOC annotation file, safely.

    Parameters
    ----------
    xml_path : str or os.PathLike

    Returns
    -------
    VocAnnotation
        Boxes in pixel-edge coordinates (``x0 = xmin - 1``, ``x1 = xmax``), labels from ``<name>``.

    Raises
    ------
    InputError
        Missing file, a DOCTYPE/ENTITY declaration, malformed XML, a root other than
        ``<annotation>``, or an object without a name or with a non-numeric coordinate; the message
        names the file and the object.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.xml"
    >>> _ = p.write_text("<annotation><filename>a.jpg</filename><object><name>scratch</name>"
    ...                  "<bndbox><xmin>1</xmin><ymin>1</ymin><xmax>10</xmax><ymax>5</ymax></bndbox>"
    ...                  "</object></annotation>")
    >>> parse_voc(p).boxes
    [Box(label='scratch', x0=0.0, y0=0.0, x1=10.0, y1=5.0)]
    """
    root = _parse_xml(xml_path)
    if root.tag != "annotation":
        raise InputError(
            msg("error.boxes.not_pascal_voc_file",
                "{xml_path}: not a Pascal VOC file: the root element is <{tag}>, expected "
                "<annotation>.",
                xml_path=xml_path, tag=root.tag)
        )
    size = root.find("size")
    width = _voc_int(_text(size, "width")) if size is not None else None
    height = _voc_int(_text(size, "height")) if size is not None else None
    boxes = []
    for i, obj in enumerate(root.findall("object")):
        name = _text(obj, "name")
        if not name:
            raise InputError(msg("error.boxes.object_has_no_name",
                    "{xml_path}: object {i} has no <name> (its label); add one.",
                    xml_path=xml_path, i=i))
        bb = obj.find("bndbox")
        if bb is None:
            raise InputError(msg("error.boxes.object_has_no_bndbox",
                    "{xml_path}: object {i} ({name}) has no <bndbox>.",
                    xml_path=xml_path, i=i, name=name))
        vals = []
        for tag in ("xmin", "ymin", "xmax", "ymax"):
            t = _text(bb, tag)
            try:
                v = float(t)
            except ValueError:
                v = float("nan")
            if not math.isfinite(v):
                raise InputError(
                    msg("error.boxes.object_not_number",
                        "{xml_path}: object {i} ({name_60}): <{tag}> is not a number.",
                        xml_path=xml_path, i=i, name_60=name[:60], tag=tag)
                )
            vals.append(v)
        xmin, ymin, xmax, ymax = vals
        boxes.append(Box(name, xmin - 1.0, ymin - 1.0, xmax, ymax))
    return VocAnnotation(
        filename=_text(root, "filename"),
        width=width if width and height else None,
        height=height if width and height else None,
        boxes=boxes,
        image_path=_text(root, "path"),
    )


# --------------------------------------------------------------------------------------------
# YOLO
# --------------------------------------------------------------------------------------------

def _read_text(path, what):
    data = _read_limited(path, 64 * 1024 * 1024, what)
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    raise InputError(msg("error.boxes.cannot_decode_utf_gbk",
            "{path}: cannot decode the {what} as UTF-8 or GBK text.",
            path=path, what=what))  # pragma: no cover


def _positive_int(value, name, func):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise InputError(msg("error.boxes.parameter_must_positive_integer",
                "The '{name}' parameter of {func} must be a positive integer. Got {value}.",
                name=name, func=func, value=repr(value)))
    return int(value)


def _yolo_snap(fields, size):
    """A function putting a pixel edge computed from YOLO fractions back on the whole pixel it was written
    from: fractions with ``d`` decimals carry an error of up to ``10**-d * size`` pixels (6 decimals on a
    600-pixel plate: 0.0006 px), which :func:`validate_box` would otherwise round outwards to the next pixel.
    Edges farther from a whole pixel than that (or when the error reaches a quarter pixel) stay as they are."""
    decimals = [len(f.split(".", 1)[1]) if "." in f and "e" not in f.lower() else None for f in fields]
    known = [d for d in decimals if d is not None]
    if not known or len(known) != len(decimals):
        return lambda v: v
    tol = 10.0 ** -min(known) * size
    if tol >= 0.25:
        return lambda v: v
    return lambda v: float(round(v)) if abs(v - round(v)) <= tol else v


def parse_yolo(txt_path, image_width, image_height, class_names) -> list[Box]:
    """Read a YOLO label file (``class cx cy w h`` per line, fractions of the image size).

    Parameters
    ----------
    txt_path : str or os.PathLike
    image_width, image_height : int
        Size of the upright image in pixels (:func:`defectlab.imaging.read_image_size`).
    class_names : sequence of str or None
        Names by class index (``classes.txt`` / ``data.yaml``, see :func:`parse_yolo_names`);
        None labels boxes with the index as a string.

    Returns
    -------
    list of Box
        In line order (blank lines and ``#`` comments skipped); the box index of a crop is its
        position in this list.

    Raises
    ------
    InputError
        A line without exactly 5 values, a non-numeric value, a class outside ``class_names``, or a
        value outside 0..1 (``w``, ``h`` must be > 0); the message names the file and line.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> _ = p.write_text("1 0.5 0.5 0.2 0.4\\n")
    >>> parse_yolo(p, 100, 50, ["crazing", "scratches"])
    [Box(label='scratches', x0=40.0, y0=15.0, x1=60.0, y1=35.0)]
    """
    w_img = _positive_int(image_width, "image_width", "parse_yolo")
    h_img = _positive_int(image_height, "image_height", "parse_yolo")
    names = None if class_names is None else [str(n) for n in class_names]
    text = _read_text(txt_path, msg("ingest.file.yolo_labels", "YOLO label file"))
    boxes = []
    tol = 1e-3
    for lineno, line in enumerate(text.splitlines(), start=1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        fields = s.split()
        where = f"{txt_path}, line {lineno}"
        if len(fields) != 5:
            extra = " (segmentation polygons are not supported)" if len(fields) > 6 else ""
            raise InputError(
                msg("error.boxes.expected_values_class_cx",
                    "{where}: expected 5 values 'class cx cy w h', got {len_fields}{extra}.",
                    where=where, len_fields=len(fields), extra=extra)
            )
        try:
            cls_f = float(fields[0])
            nums = [float(f) for f in fields[1:]]
        except ValueError:
            raise InputError(msg("error.boxes.value_not_number",
                    "{where}: a value is not a number.",
                    where=where)) from None
        if not all(math.isfinite(v) for v in [cls_f, *nums]):
            raise InputError(msg("error.boxes.value_not_finite_number",
                    "{where}: a value is not a finite number.",
                    where=where))
        if cls_f != int(cls_f) or cls_f < 0:
            raise InputError(msg("error.boxes.class_not_non_negative",
                    "{where}: the class is not a non-negative whole number.",
                    where=where))
        cls = int(cls_f)
        if names is not None and cls >= len(names):
            raise InputError(
                msg("error.boxes.class_has_no_name",
                    "{where}: class {cls} has no name: the class names list {len_names} "
                    "(0..{len_names_1}); add it to classes.txt / data.yaml.",
                    where=where, cls=cls, len_names=len(names), len_names_1=len(names) - 1)
            )
        cx, cy, bw, bh = nums
        for label, v, low_ok in (("cx", cx, True), ("cy", cy, True), ("w", bw, False), ("h", bh, False)):
            if v > 1 + tol or v < -tol or (not low_ok and v <= 0):
                rng = "0..1" if low_ok else "greater than 0 and at most 1"
                raise InputError(
                    msg("error.boxes.out_range_expected_fraction",
                        "{where}: {label}={v:g} is out of range (expected {rng}, a fraction of the "
                        "image size); pixel coordinates are not YOLO format.",
                        where=where, label=label, v=v, rng=rng)
                )
        snap_x, snap_y = (_yolo_snap(fields[1:], size) for size in (w_img, h_img))
        boxes.append(Box(
            names[cls] if names is not None else str(cls),
            snap_x((cx - bw / 2) * w_img), snap_y((cy - bh / 2) * h_img),
            snap_x((cx + bw / 2) * w_img), snap_y((cy + bh / 2) * h_img),
        ))
    return boxes


def _strip_yaml_scalar(s):
    s = s.strip()
    if s[:1] in ("'", '"'):
        end = s.find(s[0], 1)
        if end > 0:
            return s[1:end]
    return re.sub(r"\s+#.*$", "", s).strip()  # drop a trailing comment


def _split_flow(s):
    """Split a YAML flow sequence/mapping body on commas outside quotes."""
    parts, cur, quote = [], [], None
    for ch in s:
        if quote:
            cur.append(ch)
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
            cur.append(ch)
        elif ch == ",":
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


def _names_from_mapping(pairs, path):
    try:
        d = {int(k.strip().strip("'\"")): _strip_yaml_scalar(v) for k, v in pairs}
    except ValueError:
        raise InputError(msg("error.boxes.keys_names_must_class",
                "{path}: the keys of 'names:' must be class numbers 0, 1, 2, ...",
                path=path)) from None
    if sorted(d) != list(range(len(d))):
        raise InputError(msg("error.boxes.keys_names_must_without",
                "{path}: the keys of 'names:' must be 0..{len_d_1} without gaps. Got {sorted_d}.",
                path=path, len_d_1=len(d) - 1, sorted_d=sorted(d)))
    return [d[k] for k in range(len(d))]


def parse_yolo_names(path) -> list[str]:
    """Class names for YOLO labels from ``classes.txt`` or a ``data.yaml``.

    ``classes.txt``: one name a line. YAML: only the top-level ``names:`` key is read (no YAML library
    needed), in any of the forms Ultralytics and other tools write::

        names: [crazing, 'rolled-in_scale']     names:              names:
                                                  - crazing           0: crazing
                                                  - inclusion         1: inclusion

    Parameters
    ----------
    path : str or os.PathLike
        A ``.txt`` file or a ``.yaml`` / ``.yml`` file.

    Returns
    -------
    list of str
        Names by class index.

    Raises
    ------
    InputError
        No names found, or a mapping whose keys are not 0..n-1.
    """
    text = _read_text(path, msg("ingest.file.class_names", "class names file"))
    if Path(path).suffix.lower() not in (".yaml", ".yml"):
        names = [ln.strip() for ln in text.splitlines() if ln.strip()]
        if not names:
            raise InputError(msg("error.boxes.no_class_names_expected",
                    "{path}: no class names (expected one name a line).",
                    path=path))
        return names
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^names\s*:(.*)$", line)
        if not m:
            continue
        rest = re.sub(r"^\s*#.*$", "", m.group(1)).strip()
        if rest.startswith("[") or rest.startswith("{"):
            close = "]" if rest[0] == "[" else "}"
            body = rest[1:]
            j = i
            while close not in body and j + 1 < len(lines):
                j += 1
                body += " " + lines[j].strip()
            if close not in body:
                raise InputError(msg("error.boxes.names_starting_line_not",
                        "{path}: 'names:' starting on line {i_1} is not closed with {close}.",
                        path=path, i_1=i + 1, close=repr(close)))
            body = body[:body.rindex(close)]
            items = _split_flow(body)
            if rest[0] == "[":
                names = [_strip_yaml_scalar(x) for x in items]
            else:
                names = _names_from_mapping([x.split(":", 1) for x in items if ":" in x], path)
        elif rest:
            raise InputError(msg("error.boxes.cannot_read_names_line",
                    "{path}: cannot read 'names: {rest}' on line {i_1}; use a list.",
                    path=path, rest=rest, i_1=i + 1))
        else:
            seq, pairs = [], []
            for ln in lines[i + 1:]:
                if not ln.strip() or ln.strip().startswith("#"):
                    continue
                if not ln[:1].isspace() and not ln.startswith("-"):
                    break  # next top-level key
                s = ln.strip()
                if s.startswith("- ") or s == "-":
                    seq.append(_strip_yaml_scalar(s[1:]))
                elif ":" in s:
                    pairs.append(s.split(":", 1))
                else:
                    break
            names = seq if seq else _names_from_mapping(pairs, path)
        names = [n for n in names if n != ""]
        if not names:
            raise InputError(msg("error.boxes.names_line_lists_no",
                    "{path}: 'names:' on line {i_1} lists no class names.",
                    path=path, i_1=i + 1))
        return names
    raise InputError(msg("error.boxes.no_top_level_names",
            "{path}: no top-level 'names:' key with the class names.",
            path=path))


# --------------------------------------------------------------------------------------------
# COCO
# --------------------------------------------------------------------------------------------

def parse_coco(json_path) -> CocoAnnotations:
    """Read a COCO detection JSON (``images``, ``annotations``, ``categories``).

    Parameters
    ----------
    json_path : str or os.PathLike

    Returns
    -------
    CocoAnnotations
        Boxes per ``file_name`` (``x0 = x``, ``x1 = x + w``), labelled with category names.

    Raises
    ------
    InputError
        Invalid JSON, missing keys, a malformed category or image entry, or a duplicated ``file_name``;
        the message names the file and the entry. An unusable annotation rejects only its image
        (``rejected``), or is listed in ``orphans`` when it names no listed image: one bad entry in a file
        of thousands does not refuse the others.
    """
    doc = _load_coco_json(json_path)
    categories = _coco_categories(json_path, doc["categories"])
    by_id, boxes, sizes = _coco_images(json_path, doc["images"])
    rejected, orphans = {}, []
    for k, a in enumerate(doc["annotations"]):
        try:
            image, box = _coco_annotation(json_path, k, a, by_id, categories)
        except InputError as exc:
            image_id = a.get("image_id") if isinstance(a, dict) else None
            if _is_id(image_id) and image_id in by_id:
                rejected.setdefault(by_id[image_id], exc.args[0])
            else:
                orphans.append(exc.args[0])
            continue
        boxes[image].append(box)
    for image in rejected:
        boxes.pop(image, None)
    return CocoAnnotations(boxes=boxes, sizes=sizes, categories=categories, rejected=rejected, orphans=orphans)


def _short(value, limit=60):
    """A value named in an error: its repr cut to ``limit`` characters (a file's content is never echoed
    at length)."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _is_id(value):
    """COCO ids are integers or strings (a list or an object as an id is refused, not hashed)."""
    return isinstance(value, (int, str)) and not isinstance(value, bool)


def _load_coco_json(json_path):
    """The parsed document with its three lists; nesting too deep for the parser is refused."""
    text = _read_text(json_path, msg("ingest.file.coco_json", "COCO JSON file"))
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(
            msg("error.boxes.invalid_json_line_column",
                "{json_path}: invalid JSON at line {lineno}, column {colno} ({msg}).",
                json_path=json_path, lineno=e.lineno, colno=e.colno, msg=e.msg)
        ) from None
    except RecursionError:
        raise InputError(msg("error.boxes.json_nested_too_deeply",
                "{json_path}: the JSON is nested too deeply to be a COCO file.",
                json_path=json_path)) from None
    except ValueError:  # a number longer than Python converts (4,300 digits); no COCO id or size is that long
        raise InputError(msg("error.boxes.json_number_too_long",
                "{json_path}: the JSON holds a number too long to be a COCO id or size.",
                json_path=json_path)) from None
    if not isinstance(doc, dict) or not all(
        isinstance(doc.get(k), list) for k in ("images", "annotations", "categories")
    ):
        raise InputError(
            msg("error.boxes.not_coco_file_expected",
                "{json_path}: not a COCO file: expected an object with the lists 'images', "
                "'annotations' and 'categories'.",
                json_path=json_path)
        )
    return doc


def _coco_categories(json_path, items):
    categories = {}
    for k, c in enumerate(items):
        if not isinstance(c, dict) or not _is_id(c.get("id")) or not isinstance(c.get("name"), (str, int)) \
                or not str(c["name"]).strip():
            raise InputError(msg("error.boxes.categories_needs_id_name",
                    "{json_path}: categories[{k}] needs an 'id' and a 'name' (an id is a number or "
                    "text).",
                    json_path=json_path, k=k))
        categories[c["id"]] = str(c["name"]).strip()
    return categories


def _coco_images(json_path, items):
    by_id, boxes, sizes = {}, {}, {}
    for k, im in enumerate(items):
        if not isinstance(im, dict) or not _is_id(im.get("id")) or not isinstance(im.get("file_name"), str) \
                or not im["file_name"].strip():
            raise InputError(msg("error.boxes.images_needs_id_file",
                    "{json_path}: images[{k}] needs an 'id' and a 'file_name' (an id is a number or "
                    "text).",
                    json_path=json_path, k=k))
        name = im["file_name"].strip()
        if name in boxes:
            raise InputError(msg("error.boxes.images_file_name_listed",
                    "{json_path}: images[{k}]: file_name {short_name} is listed twice.",
                    json_path=json_path, k=k, short_name=_short(name)))
        by_id[im["id"]] = name
        boxes[name] = []
        w, h = im.get("width"), im.get("height")
        ok = all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < 2**31 for v in (w, h))
        sizes[name] = (int(w), int(h)) if ok else None
    return by_id, boxes, sizes


def _coco_annotation(json_path, k, a, by_id, categories):
    """``(file_name, Box)`` of ``annotations[k]``; InputError naming the entry when it is unusable."""
    if not isinstance(a, dict):
        raise InputError(msg("error.boxes.annotations_not_object",
                "{json_path}: annotations[{k}] is not an object.",
                json_path=json_path, k=k))
    ident = f"annotations[{k}]" + (f" (id {_short(a['id'], 30)})" if _is_id(a.get("id")) else "")
    image_id, category_id = a.get("image_id"), a.get("category_id")
    if not _is_id(image_id) or image_id not in by_id:
        raise InputError(msg("error.boxes.names_image_id_which",
                "{json_path}: {ident} names image_id {short_image_id_30}, which is not in 'images'.",
                json_path=json_path, ident=ident, short_image_id_30=_short(image_id, 30)))
    if not _is_id(category_id) or category_id not in categories:
        raise InputError(
            msg("error.boxes.names_category_id_which",
                "{json_path}: {ident} names category_id {short_category_id_30}, which is not in "
                "'categories'.",
                json_path=json_path, ident=ident, short_category_id_30=_short(category_id, 30))
        )
    bb = a.get("bbox")
    if not (isinstance(bb, list) and len(bb) == 4 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in bb)):
        raise InputError(msg("error.boxes.bbox_must_x_y",
                "{json_path}: {ident}: 'bbox' must be [x, y, width, height] numbers.",
                json_path=json_path, ident=ident))
    x, y, w, h = (float(v) for v in bb)
    return by_id[image_id], Box(categories[category_id], x, y, x + w, y + h)


# --------------------------------------------------------------------------------------------
# validation and crops
# --------------------------------------------------------------------------------------------

def _coords(b):
    return f"x0={b.x0:g} y0={b.y0:g} x1={b.x1:g} y1={b.y1:g}"


def validate_box(box: Box, width, height, min_size: int = 2):
    """Check a box against an image: clip what overlaps, reject what cannot be used.

    Parameters
    ----------
    box : Box
    width, height : int or None
        Size of the image; None checks only the box itself (no clipping).
    min_size : int, default 2
        Smallest accepted width and height in pixels, after clipping.

    Returns
    -------
    (Box, None) or (None, str)
        The box with integer coordinates (edges rounded outwards, clipped to the image), or None and
        the reason: not finite, zero or negative area, outside the image, or too small.

    Examples
    --------
    >>> validate_box(Box("a", -5, 2, 8, 9.5), 10, 10)
    (Box(label='a', x0=0, y0=2, x1=8, y1=10), None)
    >>> validate_box(Box("a", 3, 3, 3, 9), 10, 10)[1]
    'zero or negative area: x0=3 y0=3 x1=3 y1=9 (expected x0 < x1 and y0 < y1)'
    """
    if not isinstance(box, Box):
        raise InputError(msg("error.boxes.box_parameter_validate_box",
                "The 'box' parameter of validate_box must be a Box. Got {name}.",
                name=type(box).__name__))
    min_size = _positive_int(min_size, "min_size", "validate_box")
    if width is not None or height is not None:
        width = _positive_int(width, "width", "validate_box")
        height = _positive_int(height, "height", "validate_box")
    try:
        vals = [float(v) for v in (box.x0, box.y0, box.x1, box.y1)]
    except (TypeError, ValueError):
        vals = [float("nan")]
    if not all(math.isfinite(v) for v in vals):
        return None, msg("ingest.reason.box_not_finite", "coordinates are not finite numbers: {coords}",
                         coords=f"{box.x0!r}, {box.y0!r}, {box.x1!r}, {box.y1!r}")
    x0, y0, x1, y1 = vals
    if x1 <= x0 or y1 <= y0:
        return None, msg("ingest.reason.box_zero_area", "zero or negative area: {coords} (expected x0 < x1 and "
                         "y0 < y1)", coords=_coords(box))
    clipped = False
    if width is not None:
        if x1 <= 0 or y1 <= 0 or x0 >= width or y0 >= height:
            return None, msg("ingest.reason.box_outside", "outside the {width}x{height} image: {coords}",
                             width=width, height=height, coords=_coords(box))
        c = (max(0.0, x0), max(0.0, y0), min(float(width), x1), min(float(height), y1))
        clipped = c != (x0, y0, x1, y1)
        x0, y0, x1, y1 = c
    ix0, iy0 = math.floor(x0 + 1e-6), math.floor(y0 + 1e-6)
    ix1, iy1 = math.ceil(x1 - 1e-6), math.ceil(y1 - 1e-6)
    w, h = ix1 - ix0, iy1 - iy0
    if w < min_size or h < min_size:
        if clipped:
            return None, msg("ingest.reason.box_too_small_clipped",
                             "too small: {w}x{h} pixels after clipping to the image ({coords}); the minimum "
                             "is {min_size}x{min_size} (min_size)", w=w, h=h, coords=_coords(box),
                             min_size=min_size)
        return None, msg("ingest.reason.box_too_small", "too small: {w}x{h} pixels ({coords}); the minimum is "
                         "{min_size}x{min_size} (min_size)", w=w, h=h, coords=_coords(box), min_size=min_size)
    return Box(box.label, ix0, iy0, ix1, iy1), None


def crop_boxes(image, boxes, *, pad_fraction: float = 0.0, pad_pixels: int = 0, min_size: int = 2):
    """Validate boxes against an image and cut one crop per valid box.

    Parameters
    ----------
    image : (H, W) or (H, W, 3) ndarray of np.uint8
        The decoded plate (:func:`defectlab.imaging.decode_image`).
    boxes : sequence of Box
    pad_fraction : float, default 0.0
        Margin added on each side as a fraction of the box's width (left/right) and height
        (top/bottom), e.g. 0.1 for 10 %.
    pad_pixels : int, default 0
        Margin in pixels added on each side (on top of ``pad_fraction``).
    min_size : int, default 2
        Boxes narrower or lower than this (before padding) are rejected.

    Returns
    -------
    list of CropResult
        One per input box, in the same order.

    Examples
    --------
    >>> img = np.arange(100, dtype=np.uint8).reshape(10, 10)
    >>> r = crop_boxes(img, [Box("a", 2, 2, 4, 4), Box("b", 20, 20, 30, 30)], pad_pixels=1)
    >>> r[0].region, r[0].image.shape, r[1].reason
    ((1, 1, 5, 5), (4, 4), 'outside the 10x10 image: x0=20 y0=20 x1=30 y1=30')
    """
    if not isinstance(image, np.ndarray) or image.ndim < 2:
        raise InputError(
            msg("error.boxes.image_parameter_crop_boxes",
                "The 'image' parameter of crop_boxes must be a uint8 array of shape (H, W) or (H, W, "
                "3). Got {name}.",
                name=type(image).__name__)
        )
    if isinstance(pad_fraction, bool) or not isinstance(pad_fraction, (int, float)) \
            or not math.isfinite(pad_fraction) or pad_fraction < 0:
        raise InputError(msg("error.boxes.pad_fraction_parameter_crop",
                "The 'pad_fraction' parameter of crop_boxes must be a number >= 0. Got "
                "{pad_fraction}.",
                pad_fraction=repr(pad_fraction)))
    if isinstance(pad_pixels, bool) or not isinstance(pad_pixels, (int, np.integer)) or pad_pixels < 0:
        raise InputError(msg("error.boxes.pad_pixels_parameter_crop",
                "The 'pad_pixels' parameter of crop_boxes must be an integer >= 0. Got {pad_pixels}.",
                pad_pixels=repr(pad_pixels)))
    h, w = image.shape[:2]
    out = []
    for box in boxes:
        valid, reason = validate_box(box, w, h, min_size)
        if valid is None:
            out.append(CropResult(None, None, None, reason))
            continue
        dx = round(valid.width * pad_fraction) + int(pad_pixels)
        dy = round(valid.height * pad_fraction) + int(pad_pixels)
        region = (max(0, valid.x0 - dx), max(0, valid.y0 - dy), min(w, valid.x1 + dx), min(h, valid.y1 + dy))
        out.append(CropResult(valid, region, crop_box(image, region)))
    return out
