"""Shared helpers of the Streamlit pages: workspace, user, active project, translation, errors, images.

This package is the only one that imports streamlit. Pages call the library; the helpers here only
hold session state, cache decoded images as JPEG bytes and turn library errors into ``st.error``.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from pathlib import Path

import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from defectlab.errors import DefectlabError, ImageError
from defectlab.messages import Message, os_reason
from defectlab.store import get_project, list_projects, open_workspace
from defectlab.team import is_team_mode

__all__ = [
    "PAGES_DIR",
    "STATIC_DIR",
    "SafeMarkdown",
    "active_project",
    "class_label",
    "cls_name",
    "data_roots",
    "error_text",
    "family_name",
    "flash",
    "go_to",
    "guard",
    "image_bytes",
    "init_state",
    "label_text",
    "lang",
    "list_text",
    "localize_widgets",
    "md",
    "model_name",
    "page_link",
    "page_names",
    "permissions",
    "preset_name",
    "project_picker",
    "reason_text",
    "rejected_text",
    "require_project",
    "show_flash",
    "t",
    "t_plain",
    "team_mode",
    "thumb",
    "user",
    "who",
    "workspace",
    "workspace_path",
]

PAGES_DIR = Path(__file__).resolve().parent / "pages"
STATIC_DIR = Path(__file__).resolve().parent / "static"


# -- translation ---------------------------------------------------------------------------------
_LAST_LANG = {"lang": "en"}


def lang():
    """The session's language code (``"en"`` or ``"zh_CN"``).

    Outside a script run (AppTest calls ``format_func`` from the test thread, where the session state is
    not there) the language of the last run is used, so options keep the text they were drawn with.
    """
    value = st.session_state.get("lang")
    if value is None:
        return _LAST_LANG["lang"]
    _LAST_LANG["lang"] = value
    return value


class SafeMarkdown(str):
    """Text ready for a Streamlit Markdown context: catalog text whose values were escaped (:func:`t`), or
    user text escaped by :func:`md`. Anything else is escaped before it is shown (:func:`flash`, :func:`guard`)."""


# Markdown (CommonMark, GitHub, Streamlit's :colour[...] directives and $math$) and HTML specials. Any ASCII
# punctuation may be backslash-escaped in CommonMark and then renders as itself. Escaped everywhere: what
# can build links, images, HTML, entities, code, emphasis, tables and math; at the start of a line: what
# starts a heading, quote, list or rule; "_" unless inside a word (GFM: crazing_1.png is no emphasis).
_MD_ALWAYS = frozenset("\\`*[]()<>!|~$&")
_MD_LINE_START = re.compile(r"^([#>+=-]|\d+[.)])")
# GitHub's bare links (http://…, www.…, a@b.c) are made even from escaped text: a word joiner (U+2060, not
# shown) before the "//", the "." or the "@" keeps them text
_AUTOLINK = re.compile(r"(?i):/|\bwww\.|@")


def _md_line(line):
    body = line.lstrip(" \t")
    out = []
    for k, ch in enumerate(body):
        if ch in _MD_ALWAYS:
            out.append("\\" + ch)
        elif ch == "_" and not (0 < k < len(body) - 1 and body[k - 1].isalnum() and body[k + 1].isalnum()):
            out.append("\\_")
        else:
            out.append(ch)
    text = _AUTOLINK.sub(lambda m: m.group(0)[:-1] + "\u2060" + m.group(0)[-1], "".join(out))
    start = _MD_LINE_START.match(text)
    if start:
        marker = start.group(1)
        text = (marker[:-1] + "\\" + marker[-1]) + text[len(marker):]
    return "\u00a0" * (len(line) - len(body)) + text  # leading spaces would make a code block


def md(text):
    """User-supplied text (a project, class, user or file name, a label-book rule, an error naming a file)
    made safe for any Streamlit element that renders Markdown: titles, captions, messages, widget labels.

    Markdown specials are backslash-escaped (``>= 5 cracks`` stays text, not a quote;
    ``![x](http://…)`` stays text, no image is fetched), leading spaces do not make code blocks, and line
    breaks are kept. The one helper for this: pages never pass user text to Markdown any other way.

    Examples
    --------
    >>> md(">= 5 cracks") == "\\\\>= 5 cracks"
    True
    >>> md("![x](http://e.invalid/x.png)") == "\\\\!\\\\[x\\\\]\\\\(http:\\u2060//e.invalid/x.png\\\\)"
    True
    >>> md("rolled-in_scale_12.jpg"), md("1. first")
    ('rolled-in_scale_12.jpg', '1\\\\. first')
    """
    if isinstance(text, SafeMarkdown):
        return text
    lines = str(text).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return SafeMarkdown("  \n".join(_md_line(line) for line in lines))


def t(key, **kwargs):
    """The text of ``key`` in the session's language (defectlab/i18n catalogs), formatted with ``kwargs``.

    For Markdown contexts (the default in Streamlit): string values are escaped with :func:`md` (user
    names, files, classes). For plain-text contexts (select-box options, table cells, file names) use
    :func:`t_plain`.
    """
    from defectlab import i18n

    safe = {k: md(v) if isinstance(v, str) else v for k, v in kwargs.items()}
    return SafeMarkdown(i18n.t(key, lang=lang(), **safe))


def t_plain(key, **kwargs):
    """:func:`t` without escaping: for option labels (``format_func``), table cells, CSV and file names."""
    from defectlab import i18n

    return i18n.t(key, lang=lang(), **kwargs)


def reason_text(reason, key=None, args=None):
    """A rejection reason in the session's language.

    ``t(key, **args)`` when the library gave a catalog key (a report row's ``reason_key`` /
    ``reason_args``, or the key of a :class:`~defectlab.messages.Message`); the English ``reason``
    as it is when there is no key or the catalogs do not know it.
    """
    from defectlab import i18n
    from defectlab.messages import message_from_fields

    if isinstance(reason, OSError) and not isinstance(reason, DefectlabError):  # not found, disk full...
        reason = os_reason(reason)
    if key:  # a report row (perhaps read back from JSON): its nested words become Messages again
        reason = message_from_fields(reason, key, args)
    # a word with its own key inside the sentence (a role, an action, an OS error) is translated first
    return i18n.translate(reason, lang=lang())


def rejected_text(row):
    """One row of an import report's ``rejected`` list as ``"<source>: <reason>"`` in the session's language."""
    return t("import.rejected_file", source=row.get("source", ""),
             reason=reason_text(row.get("reason", ""), row.get("reason_key"), row.get("reason_args")))


# -- session -------------------------------------------------------------------------------------
def _default_language():
    from defectlab.i18n import normalize_language

    try:
        locale = st.context.locale
    except Exception:
        locale = None
    return normalize_language(locale)


def init_state():
    """Set the session-state defaults once per session (called by app.py on every rerun)."""
    ss = st.session_state
    if "workspace" not in ss:
        ss["workspace"] = str(Path(os.environ.get("DEFECTLAB_WORKSPACE") or "workspace"))
    # the workspace this session started on: its parent is the default data root (defectlab.store.roots)
    ss.setdefault("start_workspace", ss["workspace"])
    if "lang" not in ss:
        ss["lang"] = _default_language()
    ss.setdefault("user", "local")
    ss.setdefault("project", None)
    ss.setdefault("flash", [])


def workspace_path():
    return st.session_state.get("workspace") or os.environ.get("DEFECTLAB_WORKSPACE") or "workspace"


@st.cache_resource(show_spinner=False)
def _open(path):
    # A Workspace only holds its path; every call opens its own short-lived sqlite connection,
    # so one object may be shared by all sessions.
    return open_workspace(path)


def workspace():
    """The open :class:`~defectlab.store.Workspace` of this session."""
    return _open(str(Path(workspace_path()).resolve()))


def data_roots():
    """The folders this server lets a browser user reach by path (:func:`defectlab.store.data_roots`)."""
    from defectlab.store import data_roots as _roots

    return _roots(st.session_state.get("start_workspace") or workspace_path())


def user():
    """The acting user name (``local`` in single-user mode)."""
    return st.session_state.get("user") or "local"


def team_mode(ws=None):
    """Whether the workspace has more than the local admin (login required)."""
    return bool(is_team_mode(ws or workspace()))


def permissions(ws=None):
    """A function ``may(action) -> bool`` for the acting user (checked again by the library)."""
    from defectlab.store import can

    ws = ws or workspace()
    with ws.read() as conn:
        allowed = {a for a in _actions() if can(conn, user(), a)}
    return allowed.__contains__


def _actions():
    from defectlab.store import ACTIONS

    return ACTIONS


def localize_widgets():
    """Streamlit draws a few texts of its own widgets (the upload box: "Upload", "200MB per file • ...";
    "Press Enter to submit form" under a field) in English. In another language, replace them with the
    catalog's text through CSS, or hide the hint (static text from the catalogs only; no user text reaches
    the style sheet)."""
    if lang() == "en":
        return
    limit = st.get_option("server.maxUploadSize")  # MB
    size = f"{limit // 1000}GB" if limit >= 1000 and limit % 1000 == 0 else f"{limit}MB"  # as Streamlit says it
    upload, per_file = t("upload.button"), t("upload.limit", size=size)
    for text in (upload, per_file):
        if any(ch in text for ch in '"\\<>{}'):
            return
    st.html(
        "<style>"
        "[data-testid='stFileUploaderDropzone'] button [data-testid='stMarkdownContainer'] p{font-size:0}"
        f"[data-testid='stFileUploaderDropzone'] button [data-testid='stMarkdownContainer'] p::after"
        f"{{content:\"{upload}\";font-size:0.875rem}}"
        "[data-testid='stFileUploaderDropzoneInstructions'] span{font-size:0}"
        f"[data-testid='stFileUploaderDropzoneInstructions'] span::after{{content:\"{per_file}\";font-size:0.875rem}}"
        # "Press Enter to submit form / to apply" under a focused field: English only, and a hint nobody needs
        "[data-testid='InputInstructions']{display:none}"
        "</style>")


# -- project -------------------------------------------------------------------------------------
def active_project(ws=None):
    """The active :class:`~defectlab.store.Project`, or None (falls back to the first project)."""
    ws = ws or workspace()
    name = st.session_state.get("project") or st.query_params.get("project")  # a refresh keeps the project
    if name:
        try:
            return _shown(get_project(ws, name))
        except DefectlabError:
            st.session_state["project"] = None
    projects = list_projects(ws)
    if projects:
        st.session_state["project"] = projects[0].name
        return _shown(projects[0])
    return None


def _shown(project):
    """Remember the active project (in the session, and in the address so that a refresh or a bookmark opens
    it again) and its classes for :func:`cls_name`; return it."""
    st.session_state["project"] = project.name
    st.session_state["_active_classes"] = tuple(project.classes)
    if st.query_params.get("project") != project.name:
        st.query_params["project"] = project.name
    return project


def require_project(ws=None, title_key=None):
    """The active project, or the page title, an ``st.info`` pointing at the Projects page and
    ``st.stop()``."""
    p = active_project(ws)
    if p is None:
        if title_key:
            st.title(t(title_key))
        st.info(t("common.no_project"))
        page_link("projects", "nav.projects", ":material/folder:")
        st.stop()
    return p


def page_names():
    """Every page of the app by its file name (``label``, ``team_qc`` ...): the routes a bookmark may hold."""
    return sorted(p.stem for p in PAGES_DIR.glob("*.py"))


def page_link(name, key, icon=None):
    """A link to another page of the app (nothing where that page is not in the navigation: the
    login page, a page the user may not open, a page run on its own in a test)."""
    try:
        st.page_link(str(PAGES_DIR / f"{name}.py"), label=t(key), icon=icon)
    except StreamlitPageNotFoundError:
        pass


def go_to(name):
    """Open another page of the app now (nothing where that page is not in the navigation, as
    :func:`page_link`)."""
    try:
        st.switch_page(str(PAGES_DIR / f"{name}.py"))
    except StreamlitPageNotFoundError:
        pass


def project_picker(ws=None, where=None, key="project_picker"):
    """A select box of the projects bound to the active project; returns the active project.

    Several pickers may exist (sidebar, home page): each is synced from ``session_state["project"]``
    before it is drawn and writes back through its ``on_change``, so they never fight.
    """
    ws = ws or workspace()
    projects = list_projects(ws)
    if not projects:
        return None
    names = [p.name for p in projects]
    current = active_project(ws)
    st.session_state[key] = current.name if current is not None else names[0]

    def _changed():
        st.session_state["project"] = st.session_state[key]

    target = where or st.sidebar
    target.selectbox(t("common.project"), names, key=key, on_change=_changed)
    return get_project(ws, st.session_state["project"] or names[0])


# -- errors and messages -------------------------------------------------------------------------
@contextlib.contextmanager
def guard():
    """Show a library error as ``st.error`` (never a traceback) and carry on with the page."""
    try:
        yield
    except ImageError as exc:
        st.error(t("error.image", source=exc.source, reason=reason_text(exc.reason)))
    except DefectlabError as exc:
        st.error(md(error_text(exc)))


def error_text(exc):
    """A library error in the session's language (its :class:`~defectlab.messages.Message` key), else
    its English text."""
    if isinstance(exc, ImageError):
        return t_plain("error.image", source=exc.source, reason=reason_text(exc.reason))
    if isinstance(exc, OSError) and not isinstance(exc, DefectlabError):  # (PermissionDenied is one too)
        # its errno as a translated phrase, the file after it
        return reason_text(exc) + (f" ({exc.filename})" if exc.filename else "")
    first = exc.args[0] if exc.args else None
    return reason_text(first) if isinstance(first, Message) else str(exc)


def flash(kind, message, keep_seconds=0.0):
    """Queue a message to show on the next run (callbacks run before the page is drawn).

    ``message`` from :func:`t` is shown as it is; any other text (an error's message) is escaped.
    ``keep_seconds``: shown on every run for that long, not only the next one (a page whose widgets rerun it by
    themselves right away, such as the drawing canvas, would otherwise take the message away at once).
    """
    until = time.monotonic() + float(keep_seconds)
    st.session_state.setdefault("flash", []).append((kind, str(md(message)), until))


def show_flash():
    """The queued messages, in one container drawn on every run: the page's elements below keep their places
    whether a message shows or not (an open popover below is not rebuilt closed when a message goes away)."""
    messages = st.session_state.get("flash") or []
    now = time.monotonic()
    st.session_state["flash"] = [m for m in messages if len(m) > 2 and m[2] > now]
    box = st.container()
    for kind, message, *_ in messages:
        {"error": box.error, "warning": box.warning, "success": box.success}.get(kind, box.info)(message)


# -- labels --------------------------------------------------------------------------------------
def label_text(label):
    """A label as shown to people (the unusable marker and None translated)."""
    from defectlab.store import UNUSABLE

    if label is None:
        return t("common.unlabeled")
    if label == UNUSABLE:
        return t("common.unusable")
    return cls_name(label)


def person_name(username, display_name):
    """A person's display name as shown: the built-in local admin's default name in the session's language."""
    if username == "local" and display_name == "Local admin":  # written by the workspace, not by a person
        return t_plain("users.local_admin_name")
    return display_name


def comment_text(comment):
    """An annotation's comment as shown: the prediction review's own comments in the session's language (they are
    stored in English, as written), anything a person typed as it is."""
    from defectlab.learn.plate_review import review_comment_parts

    parts = review_comment_parts(comment)
    if parts is None:
        return "" if comment is None else str(comment)
    label = cls_name(parts["model_label"]) if parts["model_label"] else ""
    return t_plain(f"plates.comment.{parts['kind']}", label=label, result=parts["result_id"], box=parts["box"])


def who(username):
    """A user name as shown in a table or sentence: the built-in local admin (``local``, single-user mode) by its
    name in the session's language, everyone else by their user name."""
    return t_plain("users.local_admin_name") if str(username) == "local" else str(username)


def source_text(source):
    """Where a session signs in from, in words: ``ui:10.0.0.7`` -> "Browser at 10.0.0.7", ``cli`` -> "Command
    line"; anything else as it is."""
    kind, _, where = str(source).partition(":")
    if kind == "ui":
        known = where not in ("", "unknown")
        return t_plain("users.source.ui", where=where) if known else t_plain("users.source.ui_unknown")
    if kind == "cli" and not where:
        return t_plain("users.source.cli")
    return str(source)


def list_text(parts):
    """Words of a list joined the way the session's language writes them (``a, b`` / ``甲、乙``)."""
    out = None
    for part in parts:
        out = str(part) if out is None else t_plain("quality.reason.list_join", first=out, rest=str(part))
    return out or ""


def cls_name(cls, classes=None):
    """A class as shown in the session's language (``划痕`` for ``scratches``; own names as typed): the catalog's
    name only in a project whose classes all have one (the demo's, NEU's), so a user's own ``light`` among
    their own classes stays ``light``. ``classes``: that project's classes (default: the active project's)."""
    from defectlab.i18n import class_label as _class_label

    if classes is None:
        classes = st.session_state.get("_active_classes")
    return _class_label(str(cls), lang=lang(), classes=classes)


def model_name(model):
    """A model's name as shown (``Logistic regression`` / ``逻辑回归`` for ``logreg``; unknown names as they are)."""
    from defectlab import i18n

    key = f"model.{model}"
    return t(key) if key in i18n.catalog("en") else str(model)


def family_name(entry):
    """A feature family of a prediction's explanation (a dict with ``family`` / ``title``) in the session's
    language."""
    from defectlab import i18n

    if not isinstance(entry, dict):
        return str(entry)
    key = f"feature.family.{entry.get('family')}"
    return t(key) if key in i18n.catalog("en") else str(entry.get("title") or entry.get("family") or "")


def preset_name(preset):
    """A feature preset's name as shown (``Fast features`` for ``fast``)."""
    from defectlab import i18n

    key = f"train.preset.{preset}"
    return t(key) if key in i18n.catalog("en") else str(preset)


def class_label(project, cls):
    """``"1 · crazing"``: the class with its number key, in the session's language."""
    try:
        return f"{project.classes.index(cls) + 1} · {cls_name(cls, project.classes)}"
    except ValueError:
        return label_text(cls)


# -- images --------------------------------------------------------------------------------------
def _codec():
    from defectlab.imaging import decode_image, encode_jpeg, make_thumbnail

    return decode_image, make_thumbnail, encode_jpeg


@st.cache_data(show_spinner=False, max_entries=50_000)
def _thumb(root, blob, source, size):
    decode, make_thumbnail, _ = _codec()
    ws = _open(root)
    return make_thumbnail(decode(ws.read_blob(blob), source=source), size)


@st.cache_data(show_spinner=False, max_entries=256)
def _image(root, blob, source, max_side):
    decode, make_thumbnail, encode_jpeg = _codec()
    ws = _open(root)
    image = decode(ws.read_blob(blob), source=source)
    if max(image.shape[:2]) > max_side:
        return make_thumbnail(image, max_side)
    return encode_jpeg(image)


@st.cache_data(show_spinner=False, max_entries=8)
def _unreadable(size):
    """A grey picture with a red cross: shown instead of an image file that is missing or damaged."""
    import cv2
    import numpy as np

    _, make_thumbnail, _ = _codec()
    img = np.full((size, size, 3), 200, np.uint8)
    cv2.line(img, (8, 8), (size - 9, size - 9), (200, 40, 40), 3)
    cv2.line(img, (size - 9, 8), (8, size - 9), (200, 40, 40), 3)
    return make_thumbnail(img, size)


def thumb(item, size=128):
    """JPEG bytes of an item's thumbnail (cached by blob, which names the content's sha256); a crossed
    placeholder when the image file is missing or damaged (``defectlab check`` lists those)."""
    try:
        return _thumb(str(workspace().root.resolve()), item["blob"], str(item["source"]), int(size))
    except DefectlabError:
        return _unreadable(int(size))


def image_bytes(item, max_side=1600):
    """JPEG bytes of an item's image, downsized to ``max_side`` (cached by blob); a crossed placeholder
    when the image file is missing or damaged."""
    try:
        return _image(str(workspace().root.resolve()), item["blob"], str(item["source"]), int(max_side))
    except DefectlabError:
        return _unreadable(min(int(max_side), 400))


class Timer:
    """Seconds since an item was shown (``time.monotonic``)."""

    @staticmethod
    def now():
        return time.monotonic()
