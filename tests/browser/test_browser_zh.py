"""Every page in a real browser with a Chinese locale: what a person sees (visible text only, Streamlit's own
widgets included: the upload box, select placeholders, the labeling surface) has no English word outside the
allow-list of tests/test_ui_zh_walk.py (what the user typed, file and format names)."""

import re
import sys
from pathlib import Path

import pytest
from conftest import new_page, shot, wait_ready

from defectlab.i18n import class_label
from defectlab.store import list_projects, open_workspace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from test_ui_zh_walk import ALLOWED, _english

pytestmark = pytest.mark.browser

PAGES = ["", "import_data", "cut_crops", "items", "label_book", "label", "train", "runs", "review", "predict",
         "manage", "export", "settings"]

# the date inputs' format pattern (YYYY/MM/DD), which Chinese date fields show as well
DATE_PATTERN = {"yyyy"}
# The text a person can read: text nodes of rendered, non-zero-size elements; Material icon ligatures
# ("upload", "home") are drawn as icons, not read. Text areas hold what a person edits (Manage's class order
# lists the stored class names, which the lines must match), like text inputs.
VISIBLE_TEXT = """() => {
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode, el = node.parentElement;
    if (!el || !node.textContent.trim()) continue;
    if (el.closest("[data-testid='stIconMaterial'], script, style, noscript, textarea")) continue;
    const cs = getComputedStyle(el), box = el.getBoundingClientRect();
    if (cs.fontFamily.includes("Material")) continue;
    if (cs.fontSize === "0px" || cs.visibility === "hidden" || !el.checkVisibility()) continue;
    if (box.width <= 1 || box.height <= 1) continue;
    out.push(node.textContent);
  }
  return out;
}"""


def test_every_page_in_chinese_shows_no_english(server, browser):
    ws = open_workspace(server.root)
    names = {w.lower() for p in list_projects(ws) for w in re.findall(r"[A-Za-z]+", p.name)}
    # classes a user typed; the demo's classes have Chinese names, so their raw names must not show
    classes = {c.lower() for p in list_projects(ws) for c in p.classes if class_label(c, lang="zh_CN") == c}
    page = new_page(browser, locale="zh-CN")
    found = {}
    for name in PAGES:
        page.goto(f"{server.url}/{name}")
        wait_ready(page)
        page.wait_for_timeout(1000)
        wait_ready(page)
        texts = page.evaluate(VISIBLE_TEXT)
        assert any(re.search(r"[\u4e00-\u9fff]", t) for t in texts), name  # the page is in Chinese
        words = _english(texts, ALLOWED | names | classes | DATE_PATTERN)
        if words:
            found[name or "projects"] = words
            shot(page, f"zh_{name or 'projects'}")
    assert found == {}, found
