"""Every page in 简体中文 through AppTest: no English word a user can see, outside an allow-list of what the
user typed (project, class and file names), ids and format names."""

import re

import pytest
from streamlit.testing.v1 import AppTest
from ui_support import APP, demo_workspace

PAGES = ["projects", "import_data", "cut_crops", "items", "label_book", "label", "train", "runs", "review",
         "predict", "manage", "export", "settings"]

# Technical names that stay as they are in a Chinese UI (formats, metrics, libraries, units).
ALLOWED = {"csv", "coco", "yolo", "voc", "pascal", "jpeg", "jpg", "png", "bmp", "tif", "tiff", "zip", "xml",
           "json", "txt", "yaml", "lightgbm", "sklearn", "hog", "lbp", "glcm", "fft", "gabor", "mae", "qwk",
           "cpu", "url", "id", "api", "imagefolder", "local", "steel", "classes", "images", "labels",
           "annotations", "defectlab", "crops", "demo", "none", "rbf", "svm",
           "defectlab_workspace", "defectlab_data_roots", "english"}
WORD = re.compile(r"[A-Za-z][A-Za-z_\-]{2,}")


def _texts(at):
    """What a person reads on the page (labels, values, options, captions, messages, table headers)."""
    out = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "info", "warning", "success", "error",
                 "metric", "text"):
        for el in getattr(at, kind):
            out.append(str(getattr(el, "value", "")))
            out.append(str(getattr(el, "label", "") or ""))
    for kind in ("button", "checkbox", "toggle", "text_input", "text_area", "number_input", "date_input",
                 "slider", "select_slider"):
        for el in getattr(at, kind):
            out.append(str(el.label or ""))
            out.append(str(getattr(el.proto, "help", "") or ""))
    for kind in ("selectbox", "multiselect", "radio"):
        for el in getattr(at, kind):
            out.append(str(el.label or ""))
            out.extend(str(o) for o in el.options)
    for df in at.dataframe:
        out.extend(str(c) for c in df.value.columns)
    return out


def _english(texts, allowed):
    words = set()
    for text in texts:
        text = re.sub(r"`[^`]*`", "", text)                 # code: paths, commands
        text = re.sub(r"(?<![\w])/[\w.\-/]+", "", text)      # absolute paths (the workspace, the data roots)
        text = re.sub(r"[\w./\\*?-]+\.(png|jpg|jpeg|csv|zip|xml|json|txt)\b", "", text, flags=re.I)  # file names
        # run ids (20261203-104512-a1b2c3, also right after a Chinese word, where \b does not apply), hashes
        text = re.sub(r"\d{8}-\d{6}-[0-9a-f]+|[0-9a-f]{16,}", "", text)
        for w in WORD.findall(text):
            if w.lower() not in allowed:
                words.add(w)
    return words


@pytest.fixture(scope="module")
def walked(tmp_path_factory):
    root = tmp_path_factory.mktemp("zh") / "ws"
    _ws, project, _labeled, _unlabeled = demo_workspace(root, n_per_class=6, n_unlabeled=3, train=True)
    allowed = ALLOWED | {project.name.lower()} | {c.lower() for c in project.classes}
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["workspace"] = str(root)
    at.session_state["lang"] = "zh_CN"
    at.run()
    found = {}
    for page in PAGES:
        at.switch_page(f"defectlab/ui/pages/{page}.py").run()
        assert not at.exception, (page, [e.value for e in at.exception])
        found[page] = _english(_texts(at), allowed)
    return found


@pytest.mark.parametrize("page", PAGES)
def test_no_english_on_page(walked, page):
    assert walked[page] == set(), f"English words visible on {page} in zh_CN"
