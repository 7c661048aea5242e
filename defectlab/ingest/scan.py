"""Find what a folder holds and plan its import, without decoding images or touching the workspace.

Layouts (:data:`LAYOUTS`)
-------------------------
``folders``
    One sub-folder per class: ``ROOT/scratches/001.png`` is labelled ``scratches`` (the first folder
    below the root, whatever lies deeper). Images directly in ``ROOT`` are unlabeled.
``flat``
    Images with no labels (or labels from the file name with ``label_regex``), at any depth.
``voc``
    Pascal VOC XML files, in ``annotations/`` / ``Annotations/`` next to ``images/`` / ``JPEGImages/``
    or beside the images. One crop per ``<object>``.
``yolo``
    ``labels/**.txt`` mirroring ``images/**`` (or a ``.txt`` beside each image), class names from
    ``classes.txt`` / ``obj.names`` / ``data.yaml``. One crop per line.
``coco``
    A COCO ``*.json`` (``images`` / ``annotations`` / ``categories``). One crop per annotation.
``csv``
    A ``*.csv`` with a path and a label column (header optional; the columns are found by name,
    ``path,label`` otherwise), paths relative to the CSV's folder. ``labels.csv`` wins when there are
    several CSV files.

A zip unpacked into one wrapper folder (``NEU-DET/images``...) is looked into: when the root holds a
single folder and nothing else, and that folder holds sub-folders or annotation files (or is called
``images``), the layout is detected inside it. Sources stay relative to the root given.

Sources
-------
``source`` is the file's path relative to the root, with ``/`` separators and Unicode NFC; a crop is
``"<source of its image>#<box index>"`` (INTERFACES.md). Hidden files and folders (``.name``),
``__MACOSX``, ``._*`` resource forks, ``Thumbs.db`` and ``desktop.ini`` are skipped. File names
that are not valid UTF-8 (a GBK name extracted by an old tool) are shown decoded as GBK.
"""

from __future__ import annotations

import csv
import io
import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from defectlab.csvio import unneutralise
from defectlab.errors import ImageError, InputError
from defectlab.imaging import IMAGE_EXTENSIONS, is_image_name, read_image_size
from defectlab.messages import msg, os_reason

from .boxes import Box, parse_coco, parse_voc, parse_yolo, parse_yolo_names, validate_box

__all__ = [
    "LAYOUTS",
    "ImportPlan",
    "PlanEntry",
    "PlannedImage",
    "Rejection",
    "detect_layout",
    "plan_import",
]

#: The layouts :func:`plan_import` understands (plus ``"auto"``).
LAYOUTS = ("folders", "flat", "voc", "yolo", "coco", "csv")

_SKIP_DIRS = {"__macosx", "@eadir", "$recycle.bin", "system volume information", "__pycache__"}
_SKIP_FILES = {"thumbs.db", "desktop.ini", "ehthumbs.db"}
_UNSUPPORTED = {".gif", ".webp", ".heic", ".heif", ".avif", ".jp2", ".j2k", ".jfif", ".jpe", ".pgm",
                ".ppm", ".pbm", ".pnm", ".dng", ".cr2", ".nef", ".arw", ".raw", ".psd", ".svg", ".ico",
                ".exr", ".hdr"}
_CONTAINER_NAMES = {"images", "image", "imgs", "img", "jpegimages", "pictures", "photos", "图片", "图像"}
_ANNOTATION_DIRS = {"annotations", "annotation", "xml", "xmls", "labels", "label"}
_IMAGE_DIRS = ("images", "jpegimages", "imgs", "img", "image")
_PATH_COLUMNS = {"path", "file", "filename", "file_name", "filepath", "file_path", "image", "image_path",
                 "imagepath", "img", "img_path", "name", "图片", "图像", "文件", "文件名", "路径", "图片路径"}
_LABEL_COLUMNS = {"label", "class", "category", "class_name", "classname", "defect", "defect_type",
                  "type", "target", "标签", "类别", "类型", "缺陷", "缺陷类型", "分类"}
_NAMES_FILES = ("classes.txt", "obj.names", "data.yaml", "data.yml", "dataset.yaml", "dataset.yml")


class Rejection(NamedTuple):
    """A file (or box) that will not be imported, and why. Unpacks as ``source, reason``."""

    source: str
    reason: str


@dataclass(frozen=True)
class PlannedImage:
    """One image file to decode once.

    Attributes
    ----------
    source : str
        Path relative to the import root (POSIX, NFC), e.g. ``images/crazing_1.jpg``.
    path : Path
        Absolute path of the file to read.
    label : str or None
        Whole-image items: the label (None = unlabeled). Always None when ``boxes`` is set.
    boxes : tuple of (int, Box) or None
        None: the image itself is one item. Otherwise the crops to cut, as ``(box index, Box)``; the
        crop's source is ``f"{source}#{index}"`` (:meth:`box_source`). Boxes are as written in the
        annotation (possibly fractional or partly outside): validate them against the decoded image
        with :func:`~defectlab.ingest.boxes.validate_box`. Never empty.
    size_hint : (int, int) or None
        ``(width, height)`` from the annotation (VOC, COCO) or the file header (YOLO); None for
        whole-image layouts. The decoded size is what counts.
    """

    source: str
    path: Path
    label: str | None = None
    boxes: tuple[tuple[int, Box], ...] | None = None
    size_hint: tuple[int, int] | None = None

    @property
    def is_crops(self) -> bool:
        """True when this image is a plate to cut crops from."""
        return self.boxes is not None

    def box_source(self, index: int) -> str:
        """Source of the crop with this box index, e.g. ``images/crazing_1.jpg#0``."""
        return f"{self.source}#{index}"


@dataclass(frozen=True)
class PlanEntry:
    """One future item (a whole image or one crop), flattened from :class:`PlannedImage`."""

    source: str
    path: Path
    label: str | None
    box: Box | None = None
    box_index: int | None = None


@dataclass
class ImportPlan:
    """What :func:`plan_import` found.

    Attributes
    ----------
    root : Path
        The folder (or single image file) planned.
    layout : str
        One of :data:`LAYOUTS` (the detected one for ``"auto"``).
    images : list of PlannedImage
        Sorted by source.
    rejected : list of Rejection
        Files, annotation files and boxes that will not be imported, with the reason.
    """

    root: Path
    layout: str
    images: list[PlannedImage] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)

    @property
    def entries(self) -> list[PlanEntry]:
        """One entry per future item: whole images, and one per box of a plate."""
        out = []
        for img in self.images:
            if img.boxes is None:
                out.append(PlanEntry(img.source, img.path, img.label))
            else:
                out.extend(PlanEntry(img.box_source(i), img.path, b.label, b, i) for i, b in img.boxes)
        return out

    @property
    def labels(self) -> list[str]:
        """The distinct labels the plan carries, sorted."""
        return sorted({e.label for e in self.entries if e.label is not None})

    @property
    def n_boxes(self) -> int:
        """Number of crops to cut."""
        return sum(len(img.boxes) for img in self.images if img.boxes is not None)


# --------------------------------------------------------------------------------------------
# walking the tree
# --------------------------------------------------------------------------------------------

def _skipped_name(name):
    low = name.lower()
    return name.startswith(".") or low in _SKIP_FILES or low in _SKIP_DIRS


def _walk(top, links=None):
    """All visible regular files under ``top`` (no symlinked folders), sorted by relative path.

    ``os.scandir`` entries say file or folder from the directory listing itself (a ``stat`` only for
    symbolic links), and the relative path is built while walking: at 100,000 files this walk was a
    second or more of Python ``pathlib`` work before the first image was read. Same result as
    ``os.walk`` (unreadable folders skipped, symlinked folders listed but not entered). ``links``, a set,
    receives the paths (``str``) of the files that are symbolic links (known from the listing, no
    ``lstat`` per file).
    """
    out = []
    stack = [(os.fspath(top), "")]
    while stack:
        folder, rel = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError:
            continue
        base = Path(folder)
        for e in entries:
            if _skipped_name(e.name):
                continue
            if _entry_is(e, "dir"):
                if not e.is_symlink():
                    stack.append((e.path, f"{rel}{e.name}/"))
            elif _entry_is(e, "file"):
                path = base / e.name
                out.append((f"{rel}{e.name}", path, _name_ext(e.name)))
                if links is not None and e.is_symlink():
                    links.add(str(path))
    out.sort(key=lambda t: t[0])
    return _Walked([p for _, p, _ in out], [x for _, _, x in out])


class _Walked(list):
    """Walked files (``Path``), with ``exts``: each one's lower-case extension, found once from its name
    (the plan filters the files by extension several times; ``Path.suffix`` parsed the name each time)."""

    def __init__(self, files=(), exts=None):
        super().__init__(files)
        self.exts = list(exts) if exts is not None else [_ext_of(f) for f in self]


def _name_ext(name):
    """``PurePath(name).suffix.lower()`` of a file name."""
    dot = name.rfind(".")
    return name[dot:].lower() if 0 < dot < len(name) - 1 else ""


def _files_with(files, exts):
    """The files whose lower-case extension is in ``exts``, in order."""
    known = getattr(files, "exts", None)
    if known is None:
        return [p for p in files if _ext_of(p) in exts]
    return [p for p, e in zip(files, known, strict=True) if e in exts]


def _entry_is(entry, kind):
    """``entry.is_dir()`` / ``is_file()`` (following symbolic links), False when the system cannot say."""
    try:
        return entry.is_dir() if kind == "dir" else entry.is_file()
    except OSError:
        return False


def _ext_of(path):
    """``path.suffix.lower()`` (see :class:`_Walked`)."""
    return _name_ext(os.path.basename(os.fspath(path)))


def _is_file(path):
    """``os.path.isfile`` that says False for a name the system cannot even look up (too long, NUL)."""
    try:
        return os.path.isfile(path)
    except (OSError, ValueError):
        return False


def _split_links(root, files, links=None):
    """``(files, links)``: files whose symbolic links resolve outside ``root`` are not followed.
    ``links``: the symbolic links among ``files`` as :func:`_walk` found them (else ``lstat`` each)."""
    root_real = os.path.realpath(root)
    inside, inside_exts, outside = [], [], []
    for p, ext in zip(files, files.exts if isinstance(files, _Walked) else _Walked(files).exts, strict=True):
        is_link = str(p) in links if links is not None else p.is_symlink()
        if is_link and not _inside_real(p, root_real):
            outside.append(p)
        else:
            inside.append(p)
            inside_exts.append(ext)
    return _Walked(inside, inside_exts), outside


def _display(s):
    """A path string fit for JSON and SQLite: undecodable bytes tried as GBK, then NFC."""
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        raw = os.fsencode(s)
        try:
            s = raw.decode("gb18030")
        except UnicodeDecodeError:
            s = raw.decode("utf-8", "replace")
    return unicodedata.normalize("NFC", s)


def _rel_posix(path, base):
    """``path`` relative to ``base`` as a POSIX string: string slicing when ``path`` was built by joining
    onto ``base`` (every walked file; pathlib's ``relative_to`` cost a second per 100,000 files), else
    ``os.path.relpath``."""
    s, b = os.fspath(path), os.fspath(base)
    if len(s) > len(b) + 1 and s.startswith(b) and s[len(b)] == os.sep and b not in ("", "."):
        rel = s[len(b) + 1:]
    else:
        rel = os.path.relpath(s, b)
    return rel.replace(os.sep, "/") if os.sep != "/" else rel


def _parts(path, base):
    """``path.relative_to(base).parts`` of a walked file, fast (see :func:`_rel_posix`)."""
    return tuple(_rel_posix(path, base).split("/"))


def _rel(path, root):
    return _display(_rel_posix(path, root))


def _effective_root(root):
    """Look through wrapper folders (see the module docstring)."""
    cur = root
    for _ in range(4):
        try:
            entries = [e for e in cur.iterdir() if not _skipped_name(e.name)]
        except OSError:
            break
        dirs = [e for e in entries if e.is_dir()]
        if len(dirs) != 1 or len(entries) != 1:
            break
        d = dirs[0]
        try:
            inner = [e for e in d.iterdir() if not _skipped_name(e.name)]
        except OSError:
            break
        if d.name.lower() in _CONTAINER_NAMES or any(e.is_dir() or not is_image_name(e.name) for e in inner):
            cur = d
        else:
            break
    return cur


def _check_root(root):
    if not isinstance(root, (str, os.PathLike)):
        raise InputError(msg("error.scan.root_parameter_must_folder",
                "The 'root' parameter must be a folder path. Got {name}.",
                name=type(root).__name__))
    root = Path(root)
    if not root.exists():
        raise InputError(msg("error.scan.import_source_does_not", "Import source {root} does not exist.", root=root))
    return Path(os.path.normpath(root.absolute()))  # no ".." left: paths compare equal


# --------------------------------------------------------------------------------------------
# detection
# --------------------------------------------------------------------------------------------

def _is_voc_xml(path):
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    return re.search(rb"<annotation[\s>]", head) is not None


def _is_coco_json(path):
    """True when the file names the three COCO keys; read in 1 MB chunks until all are seen."""
    keys = {b'"images"', b'"annotations"', b'"categories"'}
    tail = b""
    try:
        with open(path, "rb") as f:
            tail = f.read(4096)
            if not tail.removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"{"):
                return False
            keys = {k for k in keys if k not in tail}
            while keys:
                chunk = f.read(1024 * 1024)
                if not chunk:
                    return False
                window = tail + chunk
                keys = {k for k in keys if k not in window}
                tail = window[-16:]
    except OSError:
        return False
    return True


def _coco_files(eff, files):
    out = []
    for p in _files_with(files, (".json",)):
        parts = _parts(p, eff)
        if len(parts) <= 2 and _is_coco_json(p):
            out.append(p)
    return out


def _csv_files(eff, files):
    return [p for p in _files_with(files, (".csv",)) if p.parent == eff]


def _label_txt_for(img_rel_parts):
    """Candidate YOLO label paths (relative parts) for an image: mirrored ``labels/`` first."""
    parts = list(img_rel_parts)
    stem_txt = Path(parts[-1]).stem + ".txt"
    cands = []
    for i in range(len(parts) - 2, -1, -1):
        if parts[i].lower() in ("images", "jpegimages"):
            cands.append(tuple([*parts[:i], "labels", *parts[i + 1:-1], stem_txt]))
            break
    cands.append(tuple([*parts[:-1], stem_txt]))
    return cands


def _names_file(eff, files):
    by_rel = {_rel_posix(p, eff).lower(): p for p in files}
    for name in _NAMES_FILES:
        for prefix in ("", "labels/"):
            if prefix + name in by_rel:
                return by_rel[prefix + name]
    yamls = [p for p in files if p.suffix.lower() in (".yaml", ".yml") and p.parent == eff]
    return yamls[0] if len(yamls) == 1 else None


def _looks_yolo(eff, files):
    if not any(str(p)[-4:].lower() == ".txt" for p in files):
        return False  # every YOLO source has .txt label files (a plain folder tree: one cheap pass)
    rel = {_parts(p, eff) for p in files}
    has_labels_dir = any(len(r) >= 2 and "labels" in (x.lower() for x in r[:-1]) and r[-1].lower().endswith(".txt")
                         for r in rel)
    names = _names_file(eff, files) is not None
    if not (has_labels_dir or names):
        return False  # no YOLO without a labels/ folder or a names file: skip the per-image check
    for p in files:
        if is_image_name(p.name):
            for cand in _label_txt_for(_parts(p, eff)):
                if cand in rel and (has_labels_dir or names):
                    return True
    return False


def _detect(eff, files):
    if _coco_files(eff, files):
        return "coco"
    if any(_is_voc_xml(p) for p in _files_with(files, (".xml",))):
        return "voc"
    if _looks_yolo(eff, files):
        return "yolo"
    if _csv_files(eff, files):
        return "csv"
    images = _files_with(files, IMAGE_EXTENSIONS)
    if any(len(_parts(p, eff)) >= 2 for p in images):
        return "folders"
    if images:
        return "flat"
    raise InputError(
        msg("error.scan.no_images_found_looked",
            "No images found in {eff} (looked for {join_image_extensions} files, hidden files "
            "skipped).",
            eff=eff, join_image_extensions=' '.join(IMAGE_EXTENSIONS))
    )


def detect_layout(root) -> str:
    """Guess the layout of a folder.

    Checked in this order: ``coco`` (a COCO JSON at the top or one folder down), ``voc`` (an XML file
    with an ``<annotation>`` root), ``yolo`` (``labels/*.txt`` mirroring the images, or ``.txt`` files
    beside them with ``classes.txt`` / ``data.yaml``), ``csv`` (a ``*.csv`` at the top), ``folders``
    (images in sub-folders), ``flat`` (images at the top). A single image file is ``flat``.

    Parameters
    ----------
    root : str or os.PathLike

    Returns
    -------
    str
        One of :data:`LAYOUTS`.

    Raises
    ------
    InputError
        ``root`` does not exist or holds no images.
    """
    root = _check_root(root)
    if root.is_file():
        return "flat"
    eff = _effective_root(root)
    return _detect(eff, _walk(eff))


# --------------------------------------------------------------------------------------------
# planning
# --------------------------------------------------------------------------------------------

@dataclass
class _Ctx:
    root: Path
    eff: Path
    files: list
    regex: re.Pattern | None
    images: list = field(default_factory=list)
    rejected: list = field(default_factory=list)
    eff_base: Path | None = None  # csv: the folder of the CSV file
    csv_first: dict = field(default_factory=dict)  # csv: source -> first row naming it

    @property
    def root_real(self):
        """The import root with symbolic links resolved (files must stay inside it)."""
        return os.path.realpath(self.root)

    def src(self, path):
        return _rel(path, self.root)

    def reject(self, source, reason):
        self.rejected.append(Rejection(source, reason))


def _compile_regex(label_regex):
    if label_regex is None or label_regex == "":
        return None
    if not isinstance(label_regex, str):
        raise InputError(msg("error.scan.label_regex_must_string",
                "--label-regex must be a string. Got {name}.",
                name=type(label_regex).__name__))
    try:
        rx = re.compile(label_regex)
    except re.error as e:
        raise InputError(msg("error.scan.label_regex_not_valid",
                "--label-regex {label_regex} is not a valid regular expression: {e}.",
                label_regex=repr(label_regex), e=e)) from None
    if rx.groups < 1:
        raise InputError(
            msg("error.scan.label_regex_has_no",
                "--label-regex {label_regex} has no capture group: put the label part in "
                "parentheses, e.g. '^(.+)_\\d+\\.jpg$'.",
                label_regex=repr(label_regex))
        )
    return rx


def _regex_label(rx, name):
    m = rx.search(unicodedata.normalize("NFC", name))
    if m is None or m.group(1) is None:
        return None
    label = m.group(1).strip()
    return label or None


def _clean_label(s):
    s = unicodedata.normalize("NFC", str(s)).strip()
    return s or None


def _reason(exc, *paths_and_names):
    """The message of an annotation-file error with absolute paths replaced by sources and no leading
    'source: ', as a Message whose translation keeps the (English) parser detail as ``detail``."""
    text = exc.reason if isinstance(exc, ImageError) else str(exc)
    for path, name in paths_and_names:
        text = text.replace(str(path), name)
        if text.startswith(name + ": "):
            text = text[len(name) + 2:]
    return msg("ingest.reason.annotation_error", "{detail}", detail=text)


def _reject_unsupported(ctx, files):
    for p in _files_with(files, _UNSUPPORTED):
        ctx.reject(ctx.src(p), msg("ingest.reason.unsupported_type",
                                   "unsupported image type '{ext}' (defectlab reads {supported}); "
                                   "convert it to PNG", ext=_ext_of(p), supported=" ".join(IMAGE_EXTENSIONS)))


def _plan_whole(ctx, by_folder):
    files = _files_with(ctx.files, IMAGE_EXTENSIONS)
    if not files:
        raise InputError(
            msg("error.scan.no_images_found_looked",
                "No images found in {eff} (looked for {join_image_extensions} files, hidden files "
                "skipped).",
                eff=ctx.eff, join_image_extensions=' '.join(IMAGE_EXTENSIONS))
        )
    _reject_unsupported(ctx, ctx.files)
    same_root = ctx.eff == ctx.root
    for p in files:
        rel = _rel_posix(p, ctx.eff)
        parts = rel.split("/")
        label = _clean_label(_display(parts[0])) if by_folder and len(parts) > 1 else None
        if ctx.regex is not None:
            label = _regex_label(ctx.regex, _display(parts[-1]))
        ctx.images.append(PlannedImage(_display(rel) if same_root else ctx.src(p), p, label))


_CSV_MAX_FIELD = 128 * 1024  # a longer cell is one rejected row, not a failed import
_CSV_MAX_BYTES = 256 * 1024**2
_CSV_MAX_PATH = 4096  # longer paths cannot be opened (ENAMETOOLONG) and are rejected as such


def _pick_csv(ctx):
    """The CSV file of a ``csv`` layout: ``labels.csv`` or the only one at the top."""
    csvs = _csv_files(ctx.eff, ctx.files)
    if not csvs:
        raise InputError(msg("error.scan.no_csv_file_path",
                "No .csv file with path,label columns at the top of {eff}.",
                eff=ctx.eff))
    named = [p for p in csvs if p.name.lower() == "labels.csv"]
    if named:
        return named[0]
    if len(csvs) == 1:
        return csvs[0]
    raise InputError(
        msg("error.scan.several_csv_files_name",
            "Several CSV files in {eff} ({join_p_name_for_p_in_csv}): name the one with the labels "
            "labels.csv, or remove the others.",
            eff=ctx.eff, join_p_name_for_p_in_csv=', '.join(p.name for p in csvs))
    )


def _read_csv_text(csv_path):
    """The CSV's text: UTF-8 (a BOM is dropped, as defectlab's own exports have one) or else GBK."""
    try:
        if csv_path.stat().st_size > _CSV_MAX_BYTES:
            raise InputError(msg("error.scan.csv_over_mb_split",
                    "{name}: the CSV is over {csv_max_bytes_1024_2} MB; split it.",
                    name=csv_path.name, csv_max_bytes_1024_2=_CSV_MAX_BYTES // 1024**2))
        raw = csv_path.read_bytes()
    except OSError as e:
        raise InputError(msg("error.scan.cannot_read_file",
                "{csv_path}: cannot read the file ({e_strerror_or_e}).",
                csv_path=csv_path, e_strerror_or_e=os_reason(e))) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("gb18030", "replace")


def _csv_rows(ctx, text, name):
    """``(row number, cells)`` of every row; a malformed row (e.g. a cell over 128 KB) is rejected."""
    first = text.split("\n", 1)[0][:_CSV_MAX_FIELD]
    delim = max((",", "\t", ";"), key=first.count) if any(c in first for c in ",\t;") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delim)
    rows = []
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return rows
        except csv.Error:
            ctx.reject(f"{name} row {reader.line_num}",
                       msg("ingest.reason.csv_bad_row", "{name} row {row} is malformed or has a cell over {limit} "
                           "KB; the row is skipped", name=name, row=reader.line_num, limit=_CSV_MAX_FIELD // 1024))
            continue
        rows.append((reader.line_num, row))


def _is_header(rows):
    """True when the first row is a header: known column names, or no image path above rows with one."""
    head = [c.strip().lower() for c in rows[0][1]]
    if (head and head[0] in _PATH_COLUMNS) or (len(head) > 1 and head[1] in _LABEL_COLUMNS):
        return True
    if any(h in _PATH_COLUMNS for h in head) and any(h in _LABEL_COLUMNS for h in head):
        return True
    second = rows[1][1] if len(rows) > 1 else []
    return bool(head) and not is_image_name(head[0]) and bool(second) and is_image_name(second[0].strip())


def _csv_columns(rows):
    """``(path column, label column, rows of data)``: the header is found by names or by shape."""
    if not rows or not _is_header(rows):
        return 0, 1, rows
    head = [c.strip().lower() for c in rows[0][1]]
    path_col = next((i for i, h in enumerate(head) if h in _PATH_COLUMNS), 0)
    label_col = next((i for i, h in enumerate(head) if h in _LABEL_COLUMNS and i != path_col),
                     1 if path_col != 1 else 0)
    return path_col, label_col, rows[1:]


def _inside_real(path, root_real):
    """True when ``path`` with every symbolic link resolved lies inside ``root_real``."""
    try:
        real = os.path.realpath(path)
    except (OSError, ValueError):
        return False
    return real == root_real or real.startswith(root_real.rstrip(os.sep) + os.sep)


def _csv_entry(ctx, name, rowno, raw, root_abs):
    """The image file a CSV row names, or None after rejecting the row with its reason."""
    where = {"name": name, "row": rowno}
    rel = unneutralise(raw).replace("\\", "/")
    if len(rel) > _CSV_MAX_PATH or any(len(part) > 255 for part in rel.split("/")):
        ctx.reject(f"{name} row {rowno}", msg("ingest.reason.path_too_long", "listed in {name} row {row} with a "
                                                "path too long to open", **where))
        return None
    full = os.path.normpath(os.path.join(ctx.eff_base, rel))  # an absolute path stays absolute
    if re.match(r"^[A-Za-z]:", rel) or os.path.relpath(full, root_abs).split(os.sep)[0] == "..":
        ctx.reject(_display(rel), msg("ingest.reason.csv_outside",
                                      "listed in {name} row {row} but the path is outside the import "
                                      "folder; use a path relative to the folder of {name}", **where))
        return None
    p = Path(full)
    source = ctx.src(p)
    if source in ctx.csv_first:
        ctx.reject(source, msg("ingest.reason.csv_repeated",
                               "listed in {name} row {row} again (first in row {first}); only the first "
                               "row is used", first=ctx.csv_first[source], **where))
        return None
    ctx.csv_first[source] = rowno
    return _csv_file_check(ctx, p, source, where)


def _csv_file_check(ctx, p, source, where):
    try:
        exists = os.path.isfile(p)
    except (OSError, ValueError):
        exists = False
    if not exists:
        ctx.reject(source, msg("ingest.reason.csv_missing", "listed in {name} row {row} but the file does "
                               "not exist", **where))
        return None
    if not _inside_real(p, ctx.root_real):
        ctx.reject(source, msg("ingest.reason.symlink_outside", "a symbolic link to a file outside the import "
                               "folder; links are not followed out of it"))
        return None
    if not is_image_name(p.name):
        ctx.reject(source, msg("ingest.reason.csv_not_image", "listed in {name} row {row} but it is not a "
                               "{supported} image", supported="/".join(IMAGE_EXTENSIONS), **where))
        return None
    return p


def _plan_csv(ctx):
    """Plan a ``csv`` layout: pick the file, read it, find the columns, then one entry per row."""
    csv_path = _pick_csv(ctx)
    name = csv_path.name
    rows = _csv_rows(ctx, _read_csv_text(csv_path), name)
    path_col, label_col, data = _csv_columns(rows)
    ctx.eff_base = csv_path.parent
    root_abs = os.path.normpath(ctx.root)
    for rowno, row in data:
        if not row or all(not c.strip() for c in row):
            continue
        raw = row[path_col].strip() if path_col < len(row) else ""
        if not raw:
            ctx.reject(f"{name} row {rowno}", msg("ingest.reason.csv_no_path", "{name} row {row} has no path",
                                                  name=name, row=rowno))
            continue
        p = _csv_entry(ctx, name, rowno, raw, root_abs)
        if p is not None:
            label = _clean_label(unneutralise(row[label_col])) if label_col < len(row) else None
            ctx.images.append(PlannedImage(ctx.src(p), p, label))


class _ImageIndex:
    """Find image files by name: exact relative path first, then a unique base name (any case)."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.images = _files_with(ctx.files, IMAGE_EXTENSIONS)
        self.by_name = {}
        for p in self.images:
            self.by_name.setdefault(p.name.casefold(), []).append(p)

    def find(self, names, prefer_dirs):
        """Return (path, None) or (None, reason). ``names``: candidate file names or relative paths."""
        for name in names:
            if not name:
                continue
            if len(name) > _CSV_MAX_PATH or any(len(part) > 255 for part in name.split("/")):
                return None, msg("ingest.reason.name_too_long", "names an image whose path is too long to open")
            for d in prefer_dirs:
                p = Path(os.path.normpath(d / name))
                if _is_file(p) and is_image_name(p.name) and self._inside(p):
                    return p, None
        for name in names:
            if not name:
                continue
            hits = self.by_name.get(Path(name).name.casefold(), [])
            if len(hits) == 1:
                return hits[0], None
            if len(hits) > 1:
                near = [h for h in hits if h.parent in prefer_dirs]
                if len(near) == 1:
                    return near[0], None
                listing = ", ".join(self.ctx.src(h) for h in hits[:4])
                return None, msg("ingest.reason.ambiguous_name", "several images are named {name}: {listing}",
                                 name=Path(name).name, listing=listing)
        return None, None

    def _inside(self, p):
        return os.path.relpath(p, self.ctx.root).split(os.sep)[0] != ".." and _inside_real(p, self.ctx.root_real)


def _image_dirs_near(ctx, ann_path):
    """Folders where the image of an annotation file is likely to be, best first."""
    rel_parts = list(ann_path.relative_to(ctx.eff).parts[:-1])
    dirs = []
    for i in range(len(rel_parts) - 1, -1, -1):
        if rel_parts[i].lower() in _ANNOTATION_DIRS:
            for img_dir in ("images", "JPEGImages", "Images", "imgs"):
                dirs.append(ctx.eff.joinpath(*rel_parts[:i], img_dir, *rel_parts[i + 1:]))
            break
    dirs.append(ann_path.parent)
    dirs.extend(ctx.eff / d for d in ("images", "JPEGImages", "Images", "imgs"))
    dirs.append(ctx.eff)
    return dirs


def _with_extensions(name):
    if not name:
        return []
    if is_image_name(name):
        return [name]
    return [name + ext for ext in IMAGE_EXTENSIONS] + [name + ext.upper() for ext in IMAGE_EXTENSIONS]


def _keep_boxes(ctx, source, boxes):
    """Drop boxes that are unusable whatever the image size (reported); return (index, Box) pairs."""
    kept = []
    for i, box in enumerate(boxes):
        valid, reason = validate_box(box, None, None, min_size=1)
        if valid is None:
            ctx.reject(f"{source}#{i}", reason)
        else:
            kept.append((i, box))
    return tuple(kept)


def _add_plate(ctx, used, img_path, ann_src, boxes, size_hint, empty_reason):
    source = ctx.src(img_path)
    if img_path in used:
        ctx.reject(ann_src, msg("ingest.reason.already_annotated",
                                "names {image}, which {other} already annotates; only the first is used",
                                image=source, other=used[img_path]))
        return
    used[img_path] = ann_src
    if not boxes:
        ctx.reject(source, empty_reason)
        return
    kept = _keep_boxes(ctx, source, boxes)
    if kept:
        ctx.images.append(PlannedImage(source, img_path, None, kept, size_hint))


def _reject_unannotated(ctx, index, used, reason):
    for p in index.images:
        if p not in used:
            ctx.reject(ctx.src(p), reason)


def _plan_voc(ctx):
    index = _ImageIndex(ctx)
    used = {}
    xmls = _files_with(ctx.files, (".xml",))
    if not xmls:
        raise InputError(msg("error.scan.no_pascal_voc_xml", "No Pascal VOC .xml files in {eff}.", eff=ctx.eff))
    for x in xmls:
        xsrc = ctx.src(x)
        try:
            ann = parse_voc(x)
        except InputError as e:
            ctx.reject(xsrc, _reason(e, (x, xsrc)))
            continue
        path_name = ann.image_path.replace("\\", "/").rsplit("/", 1)[-1]
        names = _with_extensions(ann.filename) + _with_extensions(x.stem) + _with_extensions(path_name)
        img, why = index.find(list(dict.fromkeys(names)), _image_dirs_near(ctx, x))
        if img is None:
            ctx.reject(xsrc, why or msg("ingest.reason.voc_image_missing",
                                        "names the image {image}, which was not found",
                                        image=repr(ann.filename or x.stem)))
            continue
        size = (ann.width, ann.height) if ann.width and ann.height else None
        _add_plate(ctx, used, img, xsrc, ann.boxes, size,
                   msg("ingest.reason.no_boxes", "{file} lists no boxes", file=xsrc))
    _reject_unannotated(ctx, index, used, msg("ingest.reason.voc_unannotated",
                                              "no Pascal VOC annotation file names this image"))


def _plan_yolo(ctx):
    names_path = _names_file(ctx.eff, ctx.files)
    if names_path is None:
        raise InputError(
            msg("error.scan.yolo_labels_need_class",
                "YOLO labels in {eff} need class names: add classes.txt (one name a line, in class "
                "number order) or data.yaml with 'names: [...]' next to images/ and labels/.",
                eff=ctx.eff)
        )
    class_names = parse_yolo_names(names_path)
    index = _ImageIndex(ctx)
    rel_files = {_parts(p, ctx.eff): p for p in ctx.files}
    used_txt = {names_path}
    for p in index.images:
        source = ctx.src(p)
        cands = _label_txt_for(_parts(p, ctx.eff))
        txt = next((rel_files[c] for c in cands if c in rel_files), None)
        if txt is None:
            ctx.reject(source, msg("ingest.reason.yolo_no_label_file", "no YOLO label file (expected {expected})",
                                   expected="/".join(cands[0])))
            continue
        used_txt.add(txt)
        tsrc = ctx.src(txt)
        try:
            width, height = read_image_size(p, source=source)
        except ImageError as e:
            ctx.reject(source, e.reason)
            continue
        try:
            boxes = parse_yolo(txt, width, height, class_names)
        except InputError as e:
            ctx.reject(source, _reason(e, (txt, tsrc)))
            continue
        if not boxes:
            ctx.reject(source, msg("ingest.reason.no_boxes", "{file} lists no boxes", file=tsrc))
            continue
        kept = _keep_boxes(ctx, source, boxes)
        if kept:
            ctx.images.append(PlannedImage(source, p, None, kept, (width, height)))
    for t in ctx.files:
        parts = [x.lower() for x in _parts(t, ctx.eff)]
        if t.suffix.lower() == ".txt" and t not in used_txt and "labels" in parts[:-1]:
            ctx.reject(ctx.src(t), msg("ingest.reason.yolo_orphan_label", "YOLO label file without a matching image"))


def _plan_coco(ctx):
    jsons = _coco_files(ctx.eff, ctx.files)
    if not jsons:
        raise InputError(msg("error.scan.no_coco_json_file",
                "No COCO .json file (with images, annotations and categories) in {eff}.",
                eff=ctx.eff))
    index = _ImageIndex(ctx)
    used = {}
    for j in jsons:
        jsrc = ctx.src(j)
        try:
            coco = parse_coco(j)
        except InputError as e:
            ctx.reject(jsrc, _reason(e, (j, jsrc)))
            continue
        for reason in coco.orphans:  # an annotation of no listed image: said, and nothing else refused
            ctx.reject(jsrc, _reason(InputError(reason), (j, jsrc)))
        dirs = [j.parent, ctx.eff, ctx.eff / "images", j.parent.parent / "images"]
        for file_name, reason in coco.rejected.items():  # one of its boxes is unusable: the image waits
            img, _why = index.find([file_name.replace("\\", "/")], dirs)
            if img is not None:  # annotated (not "unannotated" too)
                used.setdefault(img, jsrc)
            ctx.reject(_display(file_name), _reason(InputError(reason), (j, jsrc)))
        for file_name, boxes in coco.boxes.items():
            fn = file_name.replace("\\", "/")
            if fn.startswith("/") or re.match(r"^[A-Za-z]:", fn) or ".." in fn.split("/"):
                ctx.reject(_display(file_name), msg("ingest.reason.coco_outside",
                                                    "listed in {file} with a path that leaves the import folder",
                                                    file=j.name))
                continue
            img, why = index.find([fn], dirs)
            if img is None:
                ctx.reject(_display(file_name), why or msg("ingest.reason.coco_missing",
                                                           "listed in {file} but the file does not exist",
                                                           file=j.name))
                continue
            _add_plate(ctx, used, img, jsrc, boxes, coco.sizes.get(file_name),
                       msg("ingest.reason.coco_no_boxes", "{file} lists no boxes for this image", file=j.name))
    _reject_unannotated(ctx, index, used, msg("ingest.reason.coco_unannotated", "not listed in any COCO .json file"))


def plan_import(root, layout: str = "auto", label_regex: str | None = None) -> ImportPlan:
    r"""Plan the import of a folder (or one image file): what to read, with which labels and boxes.

    Reads the folder tree and the annotation files, plus the headers of the images for YOLO (whose
    boxes are fractions of the image size); decodes no pixels and writes nothing.

    Parameters
    ----------
    root : str or os.PathLike
        The folder (e.g. an extracted zip), or a single image file.
    layout : {"auto", "folders", "flat", "voc", "yolo", "coco", "csv"}, default "auto"
        See the module docstring; ``"auto"`` uses :func:`detect_layout`.
    label_regex : str, optional
        Labels from file names: the first capture group of this regular expression, searched in the
        file name (``re.search``), e.g. ``r'^(.+)_\d+\.jpg$'`` for ``rolled-in_scale_12.jpg``. A name
        that does not match is imported unlabeled. Only for the ``folders`` and ``flat`` layouts
        (it replaces the folder labels).

    Returns
    -------
    ImportPlan

    Raises
    ------
    InputError
        ``root`` does not exist, an unknown layout, an invalid ``label_regex``, or nothing to plan
        (no images; no annotation files for a box layout; no class names for YOLO; several CSVs).
        Problems with single files are not raised: they are listed in ``ImportPlan.rejected``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ("rolled-in_scale_12.jpg", "crazing_1.jpg"):
    ...     _ = (root / name).write_bytes(b"")  # contents are not read when planning
    >>> plan = plan_import(root, "flat", label_regex=r"^(.+)_\d+\.jpg$")
    >>> [(im.source, im.label) for im in plan.images]
    [('crazing_1.jpg', 'crazing'), ('rolled-in_scale_12.jpg', 'rolled-in_scale')]
    """
    root = _check_root(root)
    if layout not in ("auto", *LAYOUTS):
        raise InputError(
            msg("error.scan.unknown_layout_choose_one",
                "Unknown layout {layout}. Choose one of: auto, {join_layouts}.",
                layout=repr(layout), join_layouts=', '.join(LAYOUTS))
        )
    rx = _compile_regex(label_regex)
    if root.is_file():
        if layout not in ("auto", "flat"):
            raise InputError(msg("error.scan.single_file_only_flat",
                    "{root} is a single file: only the 'flat' layout applies to it.",
                    root=root))
        if not is_image_name(root.name):
            raise InputError(
                msg("error.scan.not_folder_zip_image",
                    "{name}: not a folder, a .zip or an image file ({join_image_extensions}).",
                    name=root.name, join_image_extensions=' '.join(IMAGE_EXTENSIONS))
            )
        label = _regex_label(rx, _display(root.name)) if rx is not None else None
        return ImportPlan(root, "flat", [PlannedImage(_display(root.name), root, label)], [])
    eff = _effective_root(root)
    symlinks = set()
    files, links = _split_links(root, _walk(eff, symlinks), symlinks)
    if layout == "auto":
        layout = _detect(eff, files)
    if rx is not None and layout not in ("folders", "flat"):
        raise InputError(
            msg("error.scan.label_regex_only_applies",
                "--label-regex only applies to the folders and flat layouts; this is a {layout} "
                "source, whose labels come from its annotations. Leave --label-regex out, or choose "
                "--layout flat.",
                layout=layout)
        )
    ctx = _Ctx(root, eff, files, rx)
    for p in links:
        ctx.reject(ctx.src(p), msg("ingest.reason.symlink_outside", "a symbolic link to a file outside the "
                                   "import folder; links are not followed out of it"))
    if layout == "folders":
        _plan_whole(ctx, by_folder=True)
    elif layout == "flat":
        _plan_whole(ctx, by_folder=False)
    elif layout == "csv":
        _plan_csv(ctx)
    elif layout == "voc":
        _plan_voc(ctx)
    elif layout == "yolo":
        _plan_yolo(ctx)
    else:
        _plan_coco(ctx)
    ctx.images.sort(key=lambda im: im.source)
    return ImportPlan(root, layout, ctx.images, ctx.rejected)
