"""Chinese completeness of messages that nest other messages, of OS errors and of review-queue failures.

- An import report row whose reason holds a translated word (an OS error phrase, a role) keeps that word's
  key through JSON (``reason_args`` stores it as ``{"key", "args", "text"}``), so a report read back from
  JSON is shown in Chinese, nested word included.
- A common OS error (file not found, permission denied, disk full) reaches the user as a translated phrase
  with the raw errno name after it (:func:`defectlab.messages.os_reason`).
- A review queue that could not be computed after training is a Message shown in Chinese on the Train page.
"""

import builtins
import errno
import json
import os
import re

import numpy as np
import pytest

from defectlab import i18n
from defectlab.errors import DefectlabError, ImageError, InputError
from defectlab.messages import Message, message_fields, message_from_fields, msg, os_reason


@pytest.fixture
def zh_ui(monkeypatch):
    """The UI helpers (defectlab.ui.common) speaking ``zh_CN``."""
    from defectlab.ui import common

    monkeypatch.setattr(common, "lang", lambda: "zh_CN")
    return common


def _han(text):
    return bool(re.search(r"[\u4e00-\u9fff]", text))


# -- nested keys through JSON ---------------------------------------------------------------------------

def test_message_fields_keep_nested_keys_through_json():
    role = msg("role.annotator", "Annotator")
    m = msg("imaging.reason.unreadable", "cannot read the file ({detail})", detail=role)
    row = json.loads(json.dumps({"reason": m, **message_fields(m)}, ensure_ascii=False))
    assert row["reason"] == "cannot read the file (Annotator)"  # the English text, as before
    assert row["reason_args"] == {"detail": {"key": "role.annotator", "args": {}, "text": "Annotator"}}
    back = message_from_fields(row["reason"], row["reason_key"], row["reason_args"])
    assert isinstance(back, Message) and back == m
    assert isinstance(back.args["detail"], Message) and back.args["detail"].key == "role.annotator"
    assert i18n.translate(back, lang="zh_CN") == "无法读取文件（标注员）"
    # a plain row (no key) stays what it was; a foreign dict never lands in a sentence as a dict
    assert message_from_fields("plain") == "plain"
    odd = message_from_fields("x (y)", "imaging.reason.unreadable", {"detail": {"no": "key"}})
    assert isinstance(odd.args["detail"], str)


@pytest.fixture
def locked_file(monkeypatch, tmp_path):
    """An import source where one image cannot be opened (permission denied: the tests run as root, so the
    refusal is simulated at the ``open`` the image reader calls)."""
    import cv2

    from defectlab import imaging

    src = tmp_path / "src"
    for c, cls in enumerate(("crazing", "scratches")):
        (src / cls).mkdir(parents=True)
        for i in range(2):
            cv2.imwrite(str(src / cls / f"{cls}_{i}.png"), np.full((32, 32), 40 + 50 * i + 20 * c, np.uint8))
    locked = src / "scratches" / "scratches_1.png"

    real_os_open = os.open

    def fake_open(path, *args, **kwargs):
        if str(path) == str(locked):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return builtins.open(path, *args, **kwargs)

    def fake_os_open(path, *args, **kwargs):  # the image reader opens with os.open + fstat
        if str(path) == str(locked):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_os_open(path, *args, **kwargs)

    monkeypatch.setattr(imaging, "open", fake_open, raising=False)
    monkeypatch.setattr(imaging.os, "open", fake_os_open)
    return src, locked


def test_import_report_row_round_trips_json_with_the_nested_phrase_in_chinese(tmp_path, locked_file, zh_ui):
    from defectlab.ingest import import_source
    from defectlab.store import create_project, open_workspace

    src, _ = locked_file
    ws = open_workspace(tmp_path / "ws")
    create_project(ws, "P", ["crazing", "scratches"])
    report = import_source(ws, "P", src)
    assert report.imported == 3
    dumped = json.loads(json.dumps(report.to_dict(), ensure_ascii=False))  # e.g. `defectlab import --json`
    (row,) = dumped["rejected"]
    assert row["reason"] == "cannot read the file (permission denied (EACCES))"
    assert row["reason_key"] == "imaging.reason.unreadable"
    assert row["reason_args"]["detail"]["key"] == "error.os.permission"
    shown = zh_ui.reason_text(row["reason"], row.get("reason_key"), row.get("reason_args"))
    assert shown == "无法读取文件（没有权限（EACCES））"
    assert "没有权限" in zh_ui.rejected_text(row)


def test_cli_import_prints_the_nested_phrase_in_chinese(tmp_path, locked_file, monkeypatch, capsys):
    from defectlab import cli
    from defectlab.store import create_project, open_workspace

    src, _ = locked_file
    ws = open_workspace(tmp_path / "ws")
    create_project(ws, "P", ["crazing", "scratches"])
    for var in ("LC_ALL", "LANG", "DEFECTLAB_USER", "DEFECTLAB_PASSWORD"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DEFECTLAB_LANG", "zh_CN")
    try:
        code = cli.main(["--workspace", str(ws.root), "import", "P", str(src)])
    finally:
        i18n.set_language("en")
    out = capsys.readouterr().out
    assert code == 0
    assert "无法读取文件（没有权限（EACCES））" in out, out


# -- OS errors ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("exc, english, zh", [
    (FileNotFoundError(errno.ENOENT, "No such file or directory"), "file or folder not found (ENOENT)",
     "找不到文件或文件夹（ENOENT）"),
    (PermissionError(errno.EACCES, "Permission denied"), "permission denied (EACCES)", "没有权限（EACCES）"),
    (OSError(errno.ENOSPC, "No space left on device"), "the disk is full (ENOSPC)", "磁盘已满（ENOSPC）"),
    (OSError(errno.EROFS, "Read-only file system"), "the file system is read-only (EROFS)", "文件系统为只读（EROFS）"),
])
def test_common_os_errors_become_translated_phrases(exc, english, zh):
    m = os_reason(exc)
    assert isinstance(m, Message) and m == english
    assert i18n.translate(m, lang="zh_CN") == zh
    assert i18n.translate(m, lang="en") == english


def test_an_unknown_os_error_keeps_the_system_text():
    assert os_reason(OSError(errno.EXDEV, "Invalid cross-device link")) == "Invalid cross-device link"
    assert os_reason(OSError("no errno")) == "no errno"


def test_every_os_phrase_is_in_both_catalogs():
    from defectlab.messages import _OS_PHRASES

    for key, phrase in set(_OS_PHRASES.values()):
        assert i18n.catalog("en")[key] == phrase + " ({detail})"
        assert _han(i18n.catalog("zh_CN")[key]) and "{detail}" in i18n.catalog("zh_CN")[key]


def test_unreadable_csv_error_shows_the_os_phrase_in_chinese(tmp_path, zh_ui):
    """A labels CSV that is a folder: the scan's InputError names the file, the OS phrase in Chinese."""
    from defectlab.ingest.scan import _read_csv_text

    folder = tmp_path / "labels.csv"
    folder.mkdir()
    with pytest.raises(InputError) as info:
        _read_csv_text(folder)
    assert "is a folder (EISDIR)" in str(info.value)
    shown = zh_ui.error_text(info.value)
    assert "这是一个文件夹（EISDIR）" in shown and "labels.csv" in shown
    assert not re.search(r"cannot|folder|read", shown.split("labels.csv", 1)[1]), shown


def test_workspace_that_cannot_be_opened_speaks_chinese(tmp_path, monkeypatch, zh_ui):
    from defectlab.store import workspace as wsmod

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(wsmod, "_prepare_database", refuse)
    with pytest.raises(DefectlabError) as info:
        wsmod.open_workspace(tmp_path / "ws")
    assert str(info.value).endswith("cannot be opened: permission denied (EACCES).")
    shown = zh_ui.error_text(info.value)
    assert "没有权限（EACCES）" in shown and "无法打开工作区" in shown


def test_a_raw_os_error_in_the_ui(zh_ui):
    """The Settings page's workspace switch can meet a bare OSError: a Chinese phrase and the file."""
    shown = zh_ui.error_text(PermissionError(errno.EACCES, "Permission denied", "/data/ws"))
    assert shown == "没有权限（EACCES） (/data/ws)"


def test_image_error_with_os_phrase_in_chinese(tmp_path, zh_ui, monkeypatch):
    from defectlab import imaging

    path = tmp_path / "a.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)

    def refuse(p, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(p))

    real_os_open = os.open
    monkeypatch.setattr(imaging, "open", refuse, raising=False)
    monkeypatch.setattr(imaging.os, "open", lambda p, *a, **k: refuse(p) if str(p) == str(path)
                        else real_os_open(p, *a, **k))  # the image reader opens with os.open + fstat
    with pytest.raises(ImageError) as info:
        imaging.read_image_bytes(path)
    shown = zh_ui.error_text(info.value)
    assert "无法读取文件（没有权限（EACCES））" in shown


# -- review-queue failures after training ---------------------------------------------------------------

def test_queue_failure_is_a_message_shown_in_chinese(zh_ui):
    from defectlab.ui.training import queue_warning

    reason = msg("error.queues.oof_changed", "x")  # any library reason; unknown keys fall back to English
    w = queue_warning("outliers", reason)
    assert isinstance(w, Message)
    assert w == "The review queue 'Outliers' could not be computed: x"
    real = msg("imaging.reason.empty", "empty file (0 bytes)")
    shown = zh_ui.reason_text(queue_warning("issues", real))
    assert shown == "无法计算审核队列“疑似标注错误”：" + i18n.t("imaging.reason.empty", lang="zh_CN")
    assert not re.search(r"[A-Za-z]{2,}", shown), shown


def test_compute_run_queues_keeps_the_message_of_a_failed_queue(tmp_path, monkeypatch, zh_ui):
    """A queue whose computation fails keeps the library's Message (not its str) in ``errors``; the Train job
    turns it into a translated warning."""
    from defectlab.quality import queues
    from defectlab.ui import training

    failure = msg("error.os.disk_full", "the disk is full ({detail})", detail="ENOSPC")

    def fail(ws, proj, run, kind, done):
        raise InputError(failure)

    monkeypatch.setattr(queues, "_compute_kind", fail)
    monkeypatch.setattr(queues, "_run_and_project", lambda ws, run_id: ({"run_id": run_id}, type("P", (), {"id": 1})))
    monkeypatch.setattr(queues, "_project_version", lambda conn, pid: 0)

    class _WS:
        def read(self):
            import contextlib

            return contextlib.nullcontext(None)

    monkeypatch.setattr(queues, "as_workspace", lambda ws: ws)
    out = queues.compute_run_queues(_WS(), "r1", kinds=["duplicates"])
    err = out["errors"]["duplicates"]
    assert isinstance(err, Message) and err.key == "error.os.disk_full"
    assert json.loads(json.dumps(out))["errors"]["duplicates"] == "the disk is full (ENOSPC)"  # JSON unchanged

    class _Job:
        def __init__(self):
            self.result = {"run_id": "r1"}
            self.span = None

        def _progress(self, *a):
            pass

    monkeypatch.setattr("defectlab.quality.compute_run_queues", lambda ws, run_id, progress=None: out)
    job = _Job()
    training._compute_queues(None, job)
    (w,) = job.result["warnings"]
    assert zh_ui.reason_text(w) == "无法计算审核队列“重复”：磁盘已满（ENOSPC）"


# -- developer-only validation messages -----------------------------------------------------------------

#: Modules whose messages keep English fragments ({what}, {fix}, {span}: a parameter's name, a Python call
#: to make instead) inside the translated sentence, and why no person using the app can meet them.
DEVELOPER_ONLY = {
    "defectlab/_validation.py": "parameter checks of public functions (type, range, shape): they fire only for "
                                "API misuse; every number a page passes comes from a bounded widget (checked below)",
    "defectlab/features/_validate.py": "image-batch checks of the feature functions: the app only passes batches "
                                       "the library decoded itself, so they fire only for API misuse",
}
#: Numeric widgets without both bounds, and why their value never reaches a parameter check.
UNBOUNDED_WIDGETS = {
    ("defectlab/ui/pages/items.py", "ib_jump"): "an item number to open: an unknown one is a keyed NotFoundError",
}


def _numeric_widgets():
    """``(file, key, has_min, has_max)`` of every ``number_input`` / ``slider`` call of the UI."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    for path in sorted((root / "defectlab" / "ui").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and getattr(node.func, "attr", None) in ("number_input", "slider")):
                continue
            kw = {k.arg: k.value for k in node.keywords}
            key = kw["key"].value if isinstance(kw.get("key"), ast.Constant) else None
            yield (str(path.relative_to(root)), key, len(node.args) >= 2 or "min_value" in kw,
                   len(node.args) >= 3 or "max_value" in kw)


def test_developer_only_validation_messages_cannot_be_reached_from_a_page():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    assert all((root / f).is_file() for f in DEVELOPER_ONLY)
    widgets = list(_numeric_widgets())
    assert len(widgets) > 10
    unbounded = [(f, k) for f, k, lo, hi in widgets if not (lo and hi) and (f, k) not in UNBOUNDED_WIDGETS]
    assert unbounded == [], "bound these widgets (min and max) or explain them in UNBOUNDED_WIDGETS"
    assert set(UNBOUNDED_WIDGETS) <= {(f, k) for f, k, *_ in widgets}
    # and the page modules never call the private validators themselves
    for path in (root / "defectlab" / "ui").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "_validation" not in text and "features._validate" not in text, path


def test_review_page_queue_job_errors_in_chinese(zh_ui):
    """The Review page's background queue job joins several failed queues: each name and reason translated."""
    from defectlab.ui.training import job_error, queue_errors_text

    disk_full = os_reason(OSError(errno.ENOSPC, "No space left on device"))
    text = queue_errors_text({"duplicates": disk_full, "outliers": "plain detail"})
    assert text == "Duplicates: the disk is full (ENOSPC); Outliers: plain detail"
    assert zh_ui.reason_text(text) == "重复队列：磁盘已满（ENOSPC）；异常样本队列：plain detail"
    assert zh_ui.reason_text(job_error(OSError(errno.ENOSPC, "No space left on device"))) == "磁盘已满（ENOSPC）"
    assert job_error(ValueError("odd")) == "ValueError: odd"


def test_training_notes_are_messages_shown_in_chinese(zh_ui):
    """The notes a training returns (``warnings``, now shown on the Train page) translate: fold notes too."""
    from defectlab.learn.cv import make_folds

    y = np.array(["a"] * 6 + ["b"] * 2 + ["c"])
    _folds, _used, notes = make_folds(y, n_splits=5)
    assert len(notes) == 2 and all(isinstance(n, Message) for n in notes), notes
    shown = [zh_ui.reason_text(n) for n in notes]
    # only the class names (quoted, as the user typed them) stay as they are
    assert all(_han(s) and not re.search(r"[A-Za-z]{2,}", re.sub(r"'\w+'", "", s)) for s in shown), shown
