"""Tests for defectlab.i18n: catalog consistency, lookups, fallbacks, locales, and UI key coverage."""

import ast
import doctest
import json
import re
import string
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import defectlab.i18n as i18n
from defectlab.errors import DefectlabError, InputError
from defectlab.i18n import (
    DEFAULT_LANGUAGE,
    LANGUAGES,
    available_languages,
    catalog,
    class_label,
    get_language,
    normalize_language,
    set_language,
    t,
    use_language,
)

REPO = Path(__file__).resolve().parents[1]
CATALOG_DIR = REPO / "defectlab" / "i18n"
KEY_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[A-Za-z0-9_][A-Za-z0-9_\-]*)+$")
CJK_RE = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(autouse=True)
def _english_after_each_test():
    yield
    set_language(DEFAULT_LANGUAGE)


def _raw(code):
    """The catalog file as written (not through the module), to check the files themselves."""
    return json.loads((CATALOG_DIR / f"{code}.json").read_text(encoding="utf-8"))


def _fields(template):
    """Placeholder names of a str.format template: '{n} of {total:.0%}' -> {'n', 'total'}."""
    return {
        re.split(r"[.\[]", name, maxsplit=1)[0]
        for _, name, _, _ in string.Formatter().parse(template)
        if name is not None
    }


def _sample_kwargs(template):
    """A value for every placeholder that satisfies its format spec."""
    kwargs = {}
    for _, name, spec, _ in string.Formatter().parse(template):
        if name is None:
            continue
        kwargs[name] = 3 if spec and spec[-1] in "dxXob" else 0.5
    return kwargs


# ------------------------------------------------------------------------------------------------
# the catalog files
# ------------------------------------------------------------------------------------------------
def test_both_catalogs_have_exactly_the_same_keys():
    en, zh = _raw("en"), _raw("zh_CN")
    assert sorted(set(en) - set(zh)) == []
    assert sorted(set(zh) - set(en)) == []
    assert len(en) >= 300


def test_catalog_files_are_flat_sorted_objects_of_strings():
    for code in LANGUAGES:
        data = _raw(code)
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in data.items())
        assert list(data) == sorted(data), f"{code}.json: keep keys sorted so diffs stay small"


@pytest.mark.parametrize("code", sorted(LANGUAGES))
def test_keys_are_dotted_lowercase_names(code):
    bad = [k for k in _raw(code) if not KEY_RE.match(k)]
    assert bad == []


@pytest.mark.parametrize("code", sorted(LANGUAGES))
def test_no_empty_or_padded_values(code):
    data = _raw(code)
    assert [k for k, v in data.items() if not v.strip()] == []
    assert [k for k, v in data.items() if v != v.strip()] == []


def test_placeholders_match_between_languages():
    en, zh = _raw("en"), _raw("zh_CN")
    mismatched = {k: (_fields(en[k]), _fields(zh[k])) for k in en if _fields(en[k]) != _fields(zh[k])}
    assert mismatched == {}


@pytest.mark.parametrize("code", sorted(LANGUAGES))
def test_every_template_formats_with_its_placeholders(code):
    for key, template in _raw(code).items():
        kwargs = _sample_kwargs(template)
        assert not {"key", "lang"} & set(kwargs), f"{key}: 'key' and 'lang' are t()'s own parameters"
        text = t(key, lang=code, **kwargs)
        assert text != key
        assert template.format(**kwargs) == text


def test_chinese_catalog_is_in_chinese():
    en, zh = _raw("en"), _raw("zh_CN")
    # the only values allowed to be the same in both: names and pure formats
    same = sorted(k for k in en if en[k] == zh[k])
    assert same == ["app.title", "lang.en", "lang.zh_CN", "metric.f1"]
    no_cjk = sorted(k for k, v in zh.items() if not CJK_RE.search(v))
    assert no_cjk == [
        "app.title",
        "audit.detail_pair",  # "{name}：{value}"
        "common.n_of_total",
        "crops.drawn_line",  # "{k}\\. {label}：({x0}, {y0}) – ({x1}, {y1})": Chinese punctuation
        "error.image",
        "import.rejected_file",
        "lang.en",
        "metric.f1",
        "quality.reason.join",  # "{first}；{rest}": Chinese punctuation, no ideographs
        "quality.reason.list_join",  # "{first}、{rest}"
        "runs.change_line",  # "{label}{changed}：{before} → {after}": Chinese punctuation
    ]


REQUIRED_KEYS = [
    *(
        f"nav.{k}"
        for k in (
            "home projects import cut_crops label_book label train runs review predict team settings".split()
        )
    ),
    *(
        f"action.{k}"
        for k in "save cancel delete restore export_csv accept reject keep skip undo confirm correct".split()
    ),
    *(
        f"common.{k}"
        for k in (
            "project projects classes ordinal items labeled unlabeled needs_review run confidence label "
            "suggested_label score reason"
        ).split()
    ),
    *(f"metric.{k}" for k in "accuracy balanced_accuracy macro_f1 mae within_one qwk".split()),
    *(f"role.{k}" for k in "annotator reviewer lead admin supervisor".split()),
    *(f"import.n_{k}" for k in "imported duplicates rejected conflicts".split()),
    "label.key_hint",
]


@pytest.mark.parametrize("key", REQUIRED_KEYS)
def test_seed_keys_exist(key):
    assert key in catalog("en") and key in catalog("zh_CN")


@pytest.mark.parametrize(
    ("name", "en", "zh"),
    [
        ("crazing", "Crazing", "龟裂"),
        ("inclusion", "Inclusion", "夹杂"),
        ("patches", "Patches", "斑块"),
        ("pitted_surface", "Pitted surface", "麻点"),
        ("rolled-in_scale", "Rolled-in scale", "压入氧化铁皮"),
        ("scratches", "Scratches", "划痕"),
        ("heavy", "Heavy scrap", "重型废钢"),
        ("medium", "Medium scrap", "中型废钢"),
        ("light", "Light scrap", "轻型废钢"),
        ("thin_sheet", "Thin sheet", "薄板料"),
    ],
)
def test_class_label_of_demo_classes(name, en, zh):
    assert class_label(name, lang="en") == en
    assert class_label(name, lang="zh_CN") == zh


def test_demo_classes_all_have_catalog_names():
    from defectlab.demo import DEFECT_CLASSES, SCRAP_GRADES

    for name in DEFECT_CLASSES + SCRAP_GRADES:
        assert f"class.{name}" in catalog("en")


def test_class_label_passes_user_classes_through():
    assert class_label("edge_crack", lang="zh_CN") == "edge_crack"
    assert class_label("边裂", lang="en") == "边裂"
    assert class_label("") == ""


# ------------------------------------------------------------------------------------------------
# t(): lookups, formatting, fallbacks
# ------------------------------------------------------------------------------------------------
def test_t_formats_placeholders_and_format_specs():
    assert t("import.n_imported", lang="en", n=12) == "Imported 12 images."
    assert t("import.n_imported", lang="zh_CN", n=12) == "已导入 12 张图像。"
    assert t("predict.accepted", lang="en", n=93, pct=0.93) == "93 accepted automatically (93%)"
    assert t("label.key_hint", lang="zh_CN", n=6) == "按 1-6 标注类别，S 跳过，Z 撤销"


def test_t_uses_the_current_language_and_normalises_locales():
    assert t("nav.projects") == "Projects"
    set_language("zh_CN")
    assert get_language() == "zh_CN"
    assert t("nav.projects") == "项目"
    assert t("nav.projects", lang="en") == "Projects"
    assert t("nav.projects", lang="zh-Hans-CN") == "项目"
    assert t("nav.projects", lang="fr-FR") == "Projects"  # unsupported: English, no error


@pytest.mark.parametrize("code", sorted(LANGUAGES))
def test_templates_use_no_escaped_braces(code):
    # t(key) without kwargs returns the raw template (callers may format it); with {{ }} escapes
    # the two paths would show different text
    assert [k for k, v in _raw(code).items() if "{{" in v or "}}" in v] == []


def test_t_without_kwargs_returns_the_raw_template_silently(caplog):
    with caplog.at_level("WARNING", logger="defectlab.i18n"):
        assert t("predict.accepted", lang="en") == "{n} accepted automatically ({pct:.0%})"
        assert t("import.n_imported", lang="zh_CN") == "已导入 {n} 张图像。"
    assert caplog.records == []


def test_t_missing_placeholders_are_left_in_place_and_extra_ones_ignored():
    assert t("common.n_of_total", lang="en", n=2) == "2 of {total}"
    assert t("import.n_imported", lang="en", n=3, unused="x") == "Imported 3 images."
    assert t("import.n_imported", lang="en", n=1, unused="x") == "Imported 1 image."  # the ".one" form


def test_t_returns_the_template_when_a_value_does_not_fit_its_format_spec():
    template = catalog("en")["predict.accepted"]
    assert t("predict.accepted", lang="en", n=1, pct="not a number") == template


def test_t_unknown_key_returns_the_key_and_logs_once(caplog):
    with caplog.at_level("WARNING", logger="defectlab.i18n"):
        assert t("nowhere.to_be_found", lang="zh_CN") == "nowhere.to_be_found"
        assert t("nowhere.to_be_found", lang="zh_CN", n=1) == "nowhere.to_be_found"
    assert sum("nowhere.to_be_found" in r.getMessage() for r in caplog.records) == 1


def test_t_falls_back_to_english_for_a_key_missing_in_chinese(monkeypatch):
    fake = {"en": {"demo.only_en": "Only {n} in English"}, "zh_CN": {"demo.both": "两种"}}
    monkeypatch.setattr(i18n, "_messages", lambda code: fake[code])
    assert t("demo.only_en", lang="zh_CN", n=2) == "Only 2 in English"
    assert t("demo.both", lang="zh_CN") == "两种"
    assert t("demo.nowhere", lang="zh_CN") == "demo.nowhere"
    assert class_label("nothing", lang="zh_CN") == "nothing"


def test_an_unreadable_catalog_degrades_to_keys_instead_of_crashing(monkeypatch, caplog):
    def broken(code):
        raise DefectlabError(f"The message catalog defectlab/i18n/{code}.json could not be read")

    monkeypatch.setattr(i18n, "_read_catalog", broken)
    monkeypatch.setattr(i18n, "_reported_missing", set())
    with caplog.at_level("ERROR", logger="defectlab.i18n"):
        assert t("nav.projects", lang="zh_CN") == "nav.projects"
    assert any("could not be read" in r.getMessage() for r in caplog.records)
    with pytest.raises(DefectlabError, match="could not be read"):
        catalog("en")


def test_read_catalog_rejects_nested_json(monkeypatch, tmp_path):
    (tmp_path / "en.json").write_text('{"nav": {"projects": "Projects"}}', encoding="utf-8")

    class _Files:
        def joinpath(self, name):
            return tmp_path / name

    monkeypatch.setattr(i18n.importlib.resources, "files", lambda package: _Files())
    i18n._read_catalog.cache_clear()
    try:
        with pytest.raises(DefectlabError, match="one flat JSON object"):
            i18n._read_catalog("en")
        (tmp_path / "en.json").write_text("{not json", encoding="utf-8")
        i18n._read_catalog.cache_clear()
        with pytest.raises(DefectlabError, match=r"en.json could not be read"):
            i18n._read_catalog("en")
    finally:
        i18n._read_catalog.cache_clear()


def test_catalog_is_read_only_and_checks_the_language():
    with pytest.raises(TypeError):
        catalog("en")["nav.projects"] = "x"
    with pytest.raises(InputError, match=r"'lang' parameter of catalog must be one of 'en' \(English\)"):
        catalog("fr")


# ------------------------------------------------------------------------------------------------
# current language
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["zh-CN", "fr", "", None, 1])
def test_set_language_rejects_anything_but_a_code(bad):
    with pytest.raises(InputError, match=r"'lang' parameter of set_language .* normalize_language"):
        set_language(bad)
    assert get_language() == "en"


def test_use_language_restores_the_previous_language():
    set_language("zh_CN")
    with use_language("en"):
        assert t("action.save") == "Save"
    assert get_language() == "zh_CN"
    with pytest.raises(InputError):
        with use_language("de"):
            pass
    assert get_language() == "zh_CN"


def test_the_language_is_per_thread():
    set_language("zh_CN")
    seen = {}

    def other_session():
        seen["before"] = t("action.save")
        set_language("en")
        seen["after"] = t("action.save")

    thread = threading.Thread(target=other_session)
    thread.start()
    thread.join()
    assert seen == {"before": "Save", "after": "Save"}
    assert t("action.save") == "保存"  # the other thread did not switch this one


def test_languages_and_available_languages():
    assert LANGUAGES == {"en": "English", "zh_CN": "简体中文"}
    assert available_languages() == ["en", "zh_CN"]
    for code, name in LANGUAGES.items():
        assert t(f"lang.{code}", lang="en") == name


# ------------------------------------------------------------------------------------------------
# normalize_language
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("zh-CN", "zh_CN"),
        ("zh_CN", "zh_CN"),
        ("zh", "zh_CN"),
        ("ZH-cn", "zh_CN"),
        ("zh_Hans", "zh_CN"),
        ("zh-Hans-CN", "zh_CN"),
        ("zh-SG", "zh_CN"),
        ("zh-TW", "zh_CN"),
        ("zh_CN.UTF-8", "zh_CN"),
        (" zh-CN ", "zh_CN"),
        ("en", "en"),
        ("en-US", "en"),
        ("en_GB.UTF-8", "en"),
        ("de-DE", "en"),
        ("ja", "en"),
        ("C", "en"),
        ("POSIX", "en"),
        ("", "en"),
        (None, "en"),
        ("*", "en"),
        ("zhx", "en"),
        ("fr-FR,fr;q=0.9,zh-CN;q=0.8,en;q=0.5", "zh_CN"),
        ("en;q=0.4,zh;q=0.9", "zh_CN"),
        ("zh;q=0,en", "en"),
        ("de,en-US;q=0.7", "en"),
        ("zh;q=abc,en", "en"),
    ],
)
def test_normalize_language(locale, expected):
    assert normalize_language(locale) == expected


@pytest.mark.parametrize("bad", [1, b"zh-CN", ["zh"]])
def test_normalize_language_rejects_non_strings(bad):
    with pytest.raises(InputError, match=r"'locale' parameter of normalize_language must be a string"):
        normalize_language(bad)


# ------------------------------------------------------------------------------------------------
# keys used by the UI must exist
# ------------------------------------------------------------------------------------------------
def _callee_name(node):
    func = node.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _argument(call, index, name):
    """The argument of ``call`` bound to parameter ``name`` at position ``index`` (or None)."""
    if index is not None and len(call.args) > index and not any(
        isinstance(a, ast.Starred) for a in call.args[: index + 1]
    ):
        return call.args[index]
    for keyword in call.keywords:
        if keyword.arg == name:
            return keyword.value
    return None


def _find_used_keys(sources):
    """Message keys referenced in Python sources.

    Returns ``(keys, prefixes)``: ``keys`` maps each literal key to the files using it; ``prefixes``
    maps the constant head of f-string keys (``t(f"metric.{m}")`` -> ``"metric."``) to files.
    Literal keys are found in ``t("...")`` / ``x.t("...")`` calls, and in calls of helper functions
    that forward one of their parameters to ``t`` (``page_link("label", "nav.label")``), through
    any number of such helpers.
    """
    trees = {name: ast.parse(text, filename=name) for name, text in sources.items()}
    # forwarders: function name -> {(position, parameter name)} of parameters that end up in t()
    forwarders = {"t": {(0, "key")}}
    changed = True
    while changed:
        changed = False
        for tree in trees.values():
            for func in ast.walk(tree):
                if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                params = [a.arg for a in func.args.posonlyargs + func.args.args]
                kwonly = [a.arg for a in func.args.kwonlyargs]
                if params and params[0] in ("self", "cls"):
                    params = params[1:]
                for call in ast.walk(func):
                    if not isinstance(call, ast.Call) or _callee_name(call) not in forwarders:
                        continue
                    for index, name in forwarders[_callee_name(call)]:
                        arg = _argument(call, index, name)
                        if isinstance(arg, ast.Name) and arg.id in params + kwonly:
                            pos = params.index(arg.id) if arg.id in params else None
                            entry = (pos, arg.id)
                            if func.name != "t" and entry not in forwarders.setdefault(func.name, set()):
                                forwarders[func.name].add(entry)
                                changed = True
    keys, prefixes = {}, {}
    for filename, tree in trees.items():
        for call in ast.walk(tree):
            if not isinstance(call, ast.Call) or _callee_name(call) not in forwarders:
                continue
            for index, name in forwarders[_callee_name(call)]:
                pending = [_argument(call, index, name)]
                while pending:
                    arg = pending.pop()
                    if isinstance(arg, ast.IfExp):  # t("a.b" if ok else "a.c")
                        pending += [arg.body, arg.orelse]
                    elif isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        keys.setdefault(arg.value, set()).add(filename)
                    elif isinstance(arg, ast.JoinedStr) and arg.values and isinstance(arg.values[0], ast.Constant):
                        prefixes.setdefault(arg.values[0].value, set()).add(filename)
    return keys, prefixes


def test_key_finder_sees_direct_forwarded_and_fstring_keys():
    source = '''
import defectlab.i18n as i18n
from defectlab.ui.common import t

def page(name, title_key, icon=None):
    return make(name, title=t(title_key))

def nav_link(target, label_key):
    return page(target, label_key)

def helper(x, *, key):
    return i18n.t(key, lang="en")

t("nav.projects")
i18n.t('nav.label', lang="zh_CN", n=3)
page("train", "nav.train")
page("runs", title_key="nav.runs")
nav_link("review", "nav.review")
helper(1, key="action.save")
t(f"metric.{name}")
t("label.undo" if done else "label.skip", n=2)
t(some_variable)
other("not.a.key")
st.button("Save", key="save_button")
'''
    keys, prefixes = _find_used_keys({"x.py": source})
    assert set(keys) == {
        "nav.projects",
        "nav.label",
        "nav.train",
        "nav.runs",
        "nav.review",
        "action.save",
        "label.undo",
        "label.skip",
    }
    assert set(prefixes) == {"metric."}


def _ui_sources():
    files = sorted((REPO / "defectlab" / "ui").rglob("*.py"))
    if (REPO / "app.py").is_file():
        files.append(REPO / "app.py")
    return {str(p.relative_to(REPO)): p.read_text(encoding="utf-8") for p in files}


def test_every_key_the_ui_uses_is_in_the_catalogs():
    keys, prefixes = _find_used_keys(_ui_sources())
    known = set(catalog("en")) & set(catalog("zh_CN"))
    missing = {key: sorted(files) for key, files in keys.items() if key not in known}
    assert missing == {}, "add these keys to defectlab/i18n/en.json and zh_CN.json"
    no_family = {p: sorted(f) for p, f in prefixes.items() if not any(k.startswith(p) for k in known)}
    assert no_family == {}


# ------------------------------------------------------------------------------------------------
# keys of the library's translatable messages (defectlab.messages) must exist
# ------------------------------------------------------------------------------------------------
_REASON_KEY_RE = re.compile(r"(imaging|ingest)\.reason\.[a-z0-9_]+")


def _message_keys(sources):
    """``(templates, named)``: ``msg("key", "English template", ...)`` calls with literal key and
    template (key -> {template}), and every string literal that is a whole reason key (``"ingest.reason.x"``,
    e.g. in a table feeding ``Message(text, key)``), key -> files."""
    templates, named = {}, {}
    for filename, text in sources.items():
        for node in ast.walk(ast.parse(text, filename=filename)):
            if isinstance(node, ast.Call) and _callee_name(node) == "msg" and len(node.args) >= 2 \
                    and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args[:2]):
                templates.setdefault(node.args[0].value, set()).add(node.args[1].value)
                named.setdefault(node.args[0].value, set()).add(filename)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and _REASON_KEY_RE.fullmatch(node.value):
                named.setdefault(node.value, set()).add(filename)
    return templates, named


def test_key_finder_sees_msg_calls_and_reason_key_literals():
    source = '''
msg("imaging.reason.empty", "empty file (0 bytes)")
m.msg("ingest.reason.no_boxes", "{file} lists no boxes", file=x)
TABLE = (("a GIF image", "imaging.reason.unsupported_gif"),)
msg(key, "dynamic")
other("imaging.reason.not a key")
'''
    templates, named = _message_keys({"x.py": source})
    assert templates == {"imaging.reason.empty": {"empty file (0 bytes)"},
                         "ingest.reason.no_boxes": {"{file} lists no boxes"}}
    assert set(named) == {"imaging.reason.empty", "ingest.reason.no_boxes", "imaging.reason.unsupported_gif"}


def _library_sources():
    files = sorted(p for p in (REPO / "defectlab").rglob("*.py") if "ui" not in p.relative_to(REPO).parts[1:2])
    return {str(p.relative_to(REPO)): p.read_text(encoding="utf-8") for p in files}


def test_every_message_key_of_the_library_is_in_both_catalogs_with_its_english_template():
    templates, named = _message_keys(_library_sources())
    assert len(named) >= 80  # the import rejection reasons, at least
    en, zh = _raw("en"), _raw("zh_CN")
    missing = {key: sorted(files) for key, files in named.items() if key not in en or key not in zh}
    assert missing == {}, "add these keys to defectlab/i18n/en.json and zh_CN.json"
    # the English catalog says what the code says (one template per key)
    differs = {key: (sorted(tpl), en[key]) for key, tpl in templates.items() if tpl != {en[key]}}
    assert differs == {}
    untranslated = sorted(key for key in named if not CJK_RE.search(zh[key]))
    assert untranslated == []


def test_importing_i18n_does_not_import_streamlit():
    code = "import sys, defectlab.i18n as m; m.t('nav.projects'); print('streamlit' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_docstring_examples_run():
    result = doctest.testmod(i18n)
    assert result.attempted >= 10
    assert result.failed == 0


def test_plural_one_form():
    assert i18n.t("common.n_items", lang="en", n=1) == "1 item"
    assert i18n.t("common.n_items", lang="en", n=2) == "2 items"
    assert i18n.t("items.done.label", lang="en", n=1, label="pit") == "1 item labeled pit."
    assert i18n.t("common.n_items", lang="zh_CN", n=1) == i18n.t("common.n_items", lang="zh_CN", n=2).replace("2", "1")


def test_every_detail_the_activity_log_records_has_a_name_in_both_languages():
    """The Activity page names each detail of a logged action ("annotator: lina"); a detail key written by a
    ``log_action`` call (or the activity view's SQL) without a catalog name showed as a raw English key on the
    Chinese page (found by a team pass)."""
    lib = Path(i18n.__file__).parent.parent
    keys = set()
    for path in lib.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "log_action":
                for arg in node.args[5:6]:
                    if isinstance(arg, ast.Dict):
                        keys |= {k.value for k in arg.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}
    sql = (lib / "team" / "audit_view.py").read_text(encoding="utf-8")
    for call in re.findall(r"json_object\(([^)]*)\)", sql):
        keys |= set(re.findall(r"'([a-z_]+)', [a-z]\.", call))
    assert {"annotator", "comment", "result_id", "undoes"} <= keys  # the scan finds what it should
    for code in ("en", "zh_CN"):
        missing = sorted(k for k in keys if f"audit.detail.{k}" not in catalog(code))
        assert missing == [], (code, missing)
