"""The in-browser labeling surface (defectlab/ui/components/labeler) shows only catalog texts: every text the
script reads (``T.<name>``) is sent by the page in the session's language, and the script itself writes no
English word a person reads."""

import re
from pathlib import Path

import pytest

from defectlab.ui import common, labeler

JS = Path(labeler.__file__).parent / "components" / "labeler" / "labeler.js"
CJK = re.compile(r"[\u4e00-\u9fff]")
KEY_CAPS = {"Shift", "Enter", "Esc", "Space", "Ctrl"}  # written on the keyboard


@pytest.fixture
def zh(monkeypatch):
    monkeypatch.setattr(common, "lang", lambda: "zh_CN")


def test_every_text_the_script_reads_is_sent_in_chinese(zh):
    used = set(re.findall(r"\bT\.(\w+)", JS.read_text(encoding="utf-8")))
    sent = labeler._text()
    assert used and used <= set(sent), sorted(used - set(sent))
    for name in used:
        value = sent[name]
        texts = [v for row in value for v in row] if isinstance(value, list) else [value]
        words = [w for text in texts for w in re.findall(r"[A-Za-z]{3,}", re.sub(r"\{\w+\}", "", str(text)))]
        assert set(words) <= KEY_CAPS and any(CJK.search(str(text)) for text in texts), (name, value)


def test_the_script_writes_no_english_text_of_its_own():
    """String literals that reach the page (textContent / el(tag, class, text)) come from T, never inline."""
    source = JS.read_text(encoding="utf-8")
    inline = re.findall(r"textContent\s*=\s*([\"'`][^\"'`]*[A-Za-z]{3,}[^\"'`]*[\"'`])", source)
    inline += re.findall(r"el\(\"\w+\",\s*[^,]+,\s*([\"'`][^\"'`]*[A-Za-z]{3,}[^\"'`]*[\"'`])\)", source)
    words = [text for text in inline if not re.fullmatch(r"[\"'`][a-z0-9_-]*[\"'`]", text)]  # css classes, ids
    assert words == []
