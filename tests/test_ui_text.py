"""User-supplied text is shown as text, never as Markdown/HTML: label-book rules and criteria, project,
class, user and file names (defectlab.ui.common.md, used through common.t and the pages).

Every Markdown body the pages render is parsed with a CommonMark parser (markdown-it-py): no image, no
link, no quote, heading or list may come out of what a user typed."""

import time

import pytest
from markdown_it import MarkdownIt
from streamlit.testing.v1 import AppTest
from ui_support import APP, PAGES, no_exception, tiny_workspace

from defectlab import team
from defectlab.store import update_project
from defectlab.ui.common import md

PARSER = MarkdownIt("commonmark").enable(["table", "strikethrough"])
EVIL_PROJECT = "![x](http://example.invalid/x.png)"
EVIL_CLASS = "[click](http://example.invalid/c)"
HOSTILE = [
    ">= 5 cracks",
    "> quoted\n> twice",
    "# heading",
    "1. numbered\n2) other",
    "- item\n+ item\n* item",
    "line\n===",
    "line\n---",
    "***",
    "    four spaces make code",
    "![x](http://example.invalid/x.png)",
    "[a](http://example.invalid/a) and <http://example.invalid/b>",
    "<img src=x onerror=alert(1)> &lt;b&gt; &#x202e;",
    "**bold** _it_ ~~strike~~ `code`",
    "| a | b |\n|---|---|\n| 1 | 2 |",
    ":red[colour] $x^2$ :material/home:",
    "\\[escaped already\\]",
]


def _html(body):
    return PARSER.render(body)


@pytest.mark.parametrize("text", HOSTILE)
def test_md_renders_only_a_paragraph_of_the_same_text(text):
    html = _html(md(text))
    for tag in ("<img", "<a ", "<blockquote", "<h1", "<h2", "<ol", "<ul", "<li", "<hr", "<pre", "<code",
                "<strong", "<em", "<s>", "<table", "<del"):
        assert tag not in html, (text, html)
    assert "$" not in md(text).replace("\\$", "")  # Streamlit's math needs an unescaped $
    assert "[" not in md(text).replace("\\[", "")  # Streamlit's :colour[...] needs an unescaped [


def test_md_keeps_bare_links_text():
    """Streamlit links bare URLs, www. names and e-mail addresses even when escaped (checked in Chromium): a word
    joiner, which is not shown, breaks each."""
    out = md("see http://example.invalid/a, HTTPS://x.invalid, www.example.invalid and me@example.invalid")
    for link in ("http://", "HTTPS://", "www.", "me@"):
        assert link not in out
    assert out.replace("\u2060", "").replace("\\", "") == (
        "see http://example.invalid/a, HTTPS://x.invalid, www.example.invalid and me@example.invalid")


def test_md_keeps_ordinary_names_readable():
    for name in ("rolled-in_scale_12.jpg", "张伟", "zhang.wei", "Plates 2024-05", "crazing/crazing_1.png"):
        assert md(name) == name


def _walk(at):
    """Every Markdown body and widget label on the page (what Streamlit renders as Markdown)."""
    bodies = []
    for kind in ("markdown", "caption", "title", "header", "subheader", "info", "success", "warning", "error"):
        bodies += [e.value for e in getattr(at, kind)]
    for kind in ("button", "checkbox", "toggle", "selectbox", "multiselect", "radio", "text_input", "text_area",
                 "number_input", "expander", "tabs", "metric"):
        for e in getattr(at, kind):
            bodies += [getattr(e, "label", None), getattr(e, "help", None)]
    return [b for b in bodies if isinstance(b, str)]


def _assert_nothing_rendered(at, page):
    for body in _walk(at):
        html = _html(body)
        assert "example.invalid" not in "".join(
            part for part in html.split('"') if part.startswith("http")), (page, body, html)
        assert "<img" not in html and "<a " not in html, (page, body, html)


def _hostile_workspace(root):
    """Names made to render as links and pictures. A class name can no longer hold '/' (nor a control
    character), but a workspace made before that rule may: the pages must still show such names as text."""
    from unittest import mock

    with mock.patch("defectlab.store.projects.class_name_problem", return_value=None):
        ws, project, ids = tiny_workspace(root, n_items=6, classes=(EVIL_CLASS, "pit", "**bold**"), labeled=3,
                                          name=EVIL_PROJECT, plate=True)
    update_project(ws, project, descriptions={EVIL_CLASS: {
        "description": ">= 5 cracks\n![y](http://example.invalid/rule.png)",
        "criteria": "1. longer than [5](http://example.invalid/5) px\n# heading", "examples": [ids[0]]}})
    with ws.transaction() as conn:
        conn.execute("UPDATE items SET source = ? WHERE id = ?", ("![f](http://example.invalid/f.png).png", ids[0]))
    return ws, project, ids


@pytest.mark.parametrize("page", ["projects", "label_book", "label", "cut_crops", "import_data", "train", "runs",
                                  "review", "predict", "settings", "team_users"])
def test_no_page_renders_user_text_as_markdown(tmp_path, page):
    ws, _project, _ids = _hostile_workspace(tmp_path / "ws")
    at = AppTest.from_file(APP, default_timeout=30)
    at.session_state["workspace"] = str(ws.root)
    at.session_state["lang"] = "en"
    at.run()
    at.switch_page(f"{PAGES}/{page}.py").run()
    no_exception(at)
    _assert_nothing_rendered(at, page)


def test_label_book_rule_is_text_not_a_quote(tmp_path):
    ws, _project, _ids = _hostile_workspace(tmp_path / "ws")
    at = AppTest.from_file(APP, default_timeout=30)
    at.session_state["workspace"] = str(ws.root)
    at.session_state["lang"] = "en"
    at.run()
    at.switch_page(f"{PAGES}/label_book.py").run()
    rule = next(m.value for m in at.markdown if "5 cracks" in m.value)
    assert rule.startswith("\\>= 5 cracks")
    assert "<blockquote" not in _html(rule) and "<img" not in _html(rule)
    assert any(EVIL_PROJECT not in t.value and "x" in t.value for t in at.title)


def test_team_pages_escape_user_and_assignment_names(tmp_path):
    ws, project, ids = _hostile_workspace(tmp_path / "ws")
    team.create_user(ws, "ann_", "Steel-2024!xyz", "annotator", by="local", admin_password="Admin-pass-2024",
                     display_name="![d](http://example.invalid/d.png)")
    team.create_assignment(ws, project, ids[3:], ["ann_"], overlap=0, gold_rate=0, by="local",
                           name="[batch](http://example.invalid/batch)")
    for page in ("team_assign", "team_users", "team_qc", "team_agreement", "team_report", "team_audit"):
        at = AppTest.from_file(APP, default_timeout=30)
        at.session_state["workspace"] = str(ws.root)
        at.session_state["lang"] = "en"
        at.session_state["auth_user"] = "local"
        at.session_state["last_seen"] = time.time()
        at.run()
        at.switch_page(f"{PAGES}/{page}.py").run()
        no_exception(at)
        _assert_nothing_rendered(at, page)


def test_a_kept_flash_message_outlives_the_reruns_a_widget_makes_by_itself():
    """A message shown once disappears on the next run; one kept for a few seconds is still there after a rerun
    the page did not ask for (the drawing canvas reruns the page as soon as it is drawn anew)."""
    from streamlit.testing.v1 import AppTest

    def page():
        import streamlit as st

        from defectlab.ui import common

        if st.session_state.get("go"):
            st.session_state["go"] = False
            common.flash("success", "once")
            common.flash("success", "kept", keep_seconds=30)
        common.show_flash()

    at = AppTest.from_function(page)
    at.session_state["go"] = True
    at.run()  # queued and shown in the same run (as after a callback)
    assert [m.value for m in at.success] == ["once", "kept"]
    at.run()  # a rerun nobody asked for
    assert [m.value for m in at.success] == ["kept"]


def test_no_multiselect_offers_streamlits_english_select_all():
    """Streamlit's multiselect adds an English "Select all" option unless told not to (found by a team pass)."""
    import ast
    from pathlib import Path

    ui = Path(md.__code__.co_filename).parent
    calls = []
    for path in ui.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "multiselect":
                calls.append((path.name, {k.arg: getattr(k.value, "value", None) for k in node.keywords}))
    assert calls and all(kw.get("select_all") is False for _, kw in calls), calls
