"""Every error the library raises on purpose carries an i18n catalog key (a :class:`defectlab.messages.Message`),
so the UI can show it in the user's language; the English text (the CLI's stderr) stays what it was.

The scan is static (AST): ``raise <DefectlabError subclass>(<message>)`` anywhere in ``defectlab/`` (the UI's
modules included) must build its message with ``msg(...)`` / ``Message(...)``, or be in the small allow-list
below with its reason. (That every key exists in both catalogs with the code's English template is checked by
``tests/test_i18n.py::test_every_message_key_of_the_library_is_in_both_catalogs_with_its_english_template``.)
"""

import ast
import json
from pathlib import Path

import pytest

from defectlab import errors, i18n
from defectlab.errors import ImageError, InputError, NotFoundError
from defectlab.messages import Message, msg

REPO = Path(__file__).resolve().parents[1]

# Exceptions whose message is the reason a user reads. _Corrupt (imaging) carries the rejection reason that
# becomes an ImageError's reason.
ROOT_CLASSES = {"DefectlabError", "_Corrupt"}
# Where the message is not the first argument: ImageError(source, reason); SessionEnded(reason, text) builds
# its Message itself (key session.<reason>), so it is not scanned.
MESSAGE_ARG = {"ImageError": 1}
BUILDS_ITS_OWN = {"SessionEnded", "UnreadableImages"}  # keyed msg() built in __init__

# (file, source of the message argument) -> why it needs no msg() at the raise.
ALLOWED = {
    ("defectlab/imaging.py", "e.args[0]"): "re-raises a _Corrupt reason, itself a Message (scanned above)",
    ("defectlab/imaging.py", "_not_an_image(head)"): "helper returning msg(imaging.reason.not_an_image_*)",
    ("defectlab/imaging.py", "_header_cut(data)"): "helper returning msg(imaging.reason.*_cut)",
    ("defectlab/store/projects.py", "problem"): "class_name_problem(...): a msg(error.project.*) or None",
    ("defectlab/store/workspace.py", "_storage_message(root, exc)"):
        "helper returning msg(error.workspace.disk_full / database_damaged)",
}
# Modules whose raises stay English on purpose.
ALLOWED_FILES = {
    "defectlab/i18n/__init__.py": "the catalogs' own errors: the broken or unknown catalog is what would translate"
                                  " them (and the other checks are programming errors of a language code)",
}


def _library_files():
    """Every module of defectlab: the library, and the UI's modules too (the labeling surface's refusals)."""
    return sorted((REPO / "defectlab").rglob("*.py"))


def _error_classes(trees):
    """Names of the classes derived (statically, through any module) from ROOT_CLASSES."""
    names = set(ROOT_CLASSES)
    changed = True
    while changed:
        changed = False
        for tree in trees.values():
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef) and node.name not in names and any(
                        (b.id if isinstance(b, ast.Name) else getattr(b, "attr", None)) in names
                        for b in node.bases):
                    names.add(node.name)
                    changed = True
    return names


def _is_keyed(node):
    return isinstance(node, ast.Call) and (
        (node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)) in ("msg", "Message"))


def _unkeyed_raises(sources):
    """``[(file, line, class, message source)]`` of raises whose message has no catalog key."""
    trees = {name: ast.parse(text, filename=name) for name, text in sources.items()}
    classes = _error_classes(trees)
    found = []
    for name, tree in trees.items():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)):
                continue
            func = node.exc.func
            cls = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if cls not in classes or cls in BUILDS_ITS_OWN:
                continue
            index = MESSAGE_ARG.get(cls, 0)
            arg = node.exc.args[index] if len(node.exc.args) > index else None
            if arg is not None and _is_keyed(arg):
                continue
            text = ast.get_source_segment(sources[name], arg) if arg is not None else "<no message>"
            found.append((name, node.lineno, cls, text))
    return found


def test_scanner_finds_unkeyed_raises_and_subclasses():
    source = '''
class MyError(InputError):
    pass
class Deeper(MyError):
    pass
def f(x):
    if x == 1:
        raise InputError(f"bad {x}")
    if x == 2:
        raise Deeper("plain")
    if x == 3:
        raise ImageError("a.png", "no key")
    if x == 4:
        raise ImageError("a.png", msg("imaging.reason.empty", "empty file (0 bytes)"))
    if x == 5:
        raise errors.NotFoundError(msg("error.items.no_item_id", "No item with id {item_id}.", item_id=x))
    if x == 6:
        raise ValueError(f"not ours {x}")
    raise SessionEnded("expired", "text")
'''
    base = "class DefectlabError(Exception): pass\nclass InputError(DefectlabError): pass\n" \
           "class ImageError(InputError): pass\nclass NotFoundError(DefectlabError): pass\n" \
           "class SessionEnded(InputError): pass\n"
    found = _unkeyed_raises({"base.py": base, "x.py": source})
    assert [(cls, text) for _, _, cls, text in found] == [
        ("InputError", 'f"bad {x}"'), ("Deeper", '"plain"'), ("ImageError", '"no key"')]


def test_every_library_raise_carries_a_message_key():
    sources = {str(p.relative_to(REPO)): p.read_text(encoding="utf-8") for p in _library_files()}
    found = _unkeyed_raises(sources)
    assert len(sources) > 50
    unkeyed = [f"{name}:{line}: {cls}({text})" for name, line, cls, text in found
               if (name, text) not in ALLOWED and name not in ALLOWED_FILES]
    assert unkeyed == [], ("give these messages a catalog key: raise X(msg('error.<module>.<what>', 'English "
                           "{placeholder}', placeholder=value)) and add the key to en.json and zh_CN.json")
    # the allow-list stays honest: every entry is still needed
    used = {(name, text) for name, _, _, text in found}
    assert set(ALLOWED) <= used, sorted(set(ALLOWED) - used)
    assert all(any(name == f for name, *_ in found) for f in ALLOWED_FILES)


def test_error_text_in_the_ui_language(tmp_path):
    """What the UI shows (error_text -> reason_text) for a keyed library error, in both languages."""
    from defectlab.store import get_item, open_workspace

    exc = None
    try:
        get_item(open_workspace(tmp_path / "ws"), 987654)
    except NotFoundError as e:
        exc = e
    assert isinstance(exc, NotFoundError) and isinstance(exc.args[0], Message)
    assert str(exc) == "No item with id 987654."  # the CLI's English line, as before
    key, args = exc.args[0].key, exc.args[0].args
    assert i18n.t(key, lang="zh_CN", **args) == "没有编号为 987654 的样本。"


@pytest.mark.parametrize("exc, english", [
    (InputError(msg("error.roots.no_path_given_type", "No path given; type a folder on the server.")),
     "No path given; type a folder on the server."),
    (ImageError("a.png", msg("imaging.reason.empty", "empty file (0 bytes)")), "a.png: empty file (0 bytes)"),
])
def test_keyed_errors_keep_their_english_text(exc, english):
    assert str(exc) == english
    assert isinstance(exc, errors.DefectlabError)


def test_catalog_keys_of_errors_are_translated_with_the_same_placeholders():
    import string

    en = json.loads((REPO / "defectlab/i18n/en.json").read_text(encoding="utf-8"))
    zh = json.loads((REPO / "defectlab/i18n/zh_CN.json").read_text(encoding="utf-8"))
    fmt = string.Formatter()

    def fields(text):
        return sorted({(name, spec) for _, name, spec, _ in fmt.parse(text) if name is not None})

    keys = [k for k in en if k.startswith("error.")]
    assert len(keys) > 300
    assert [k for k in keys if fields(en[k]) != fields(zh.get(k, ""))] == []


@pytest.fixture
def team_ws(tmp_path):
    from defectlab import team
    from defectlab.store import create_project, open_workspace

    ws = open_workspace(tmp_path / "ws")
    project = create_project(ws, "steel", ["crazing", "patches", "scratches"])
    team.create_user(ws, "ann", "Steel-2024!xyz", "annotator", by="local", admin_password="Admin-pass-2024")
    return ws, project


def _shown_in(lang, exc, monkeypatch):
    """What the UI shows for ``exc`` (defectlab.ui.common.error_text) in ``lang``."""
    from defectlab.ui import common

    monkeypatch.setattr(common, "lang", lambda: lang)
    return common.error_text(exc)


@pytest.mark.parametrize("attempt", ["train", "export", "create_user", "rename_class"])
def test_a_refusal_for_an_annotator_is_shown_in_chinese(team_ws, attempt, monkeypatch, tmp_path):
    """The library's permission refusal, as the UI shows it: the sentence, the role and the action all in
    Chinese (only the user name stays as typed); the English text (the CLI's) is unchanged."""
    import re

    from defectlab import learn, team
    from defectlab.errors import PermissionDenied
    from defectlab.export import export_project
    from defectlab.store import rename_class

    ws, project = team_ws
    calls = {
        "train": lambda: learn.train_project(ws, project.name, user="ann"),
        "export": lambda: export_project(ws, project.name, "csv", tmp_path / "out", user="ann"),
        "create_user": lambda: team.create_user(ws, "bob", "Steel-2024!xyz", "annotator", by="ann"),
        "rename_class": lambda: rename_class(ws, project, "patches", "patch", user="ann"),
    }
    with pytest.raises(PermissionDenied) as info:
        calls[attempt]()
    english = str(info.value)
    assert english.startswith("user 'ann' (role annotator) may not ")
    zh = _shown_in("zh_CN", info.value, monkeypatch)
    assert re.findall(r"[A-Za-z]{2,}", zh) == ["ann"], zh
    assert "标注员" in zh
    assert _shown_in("en", info.value, monkeypatch).startswith("user 'ann' (role Annotator) may not ")


def test_every_permission_action_and_role_has_its_words():
    from defectlab.store.permissions import ACTIONS, ROLES

    for code in ("en", "zh_CN"):
        words = i18n.catalog(code)
        assert [a for a in ACTIONS if f"permission.action.{a}" not in words] == []
        assert [r for r in ROLES if f"role.{r}" not in words] == []


@pytest.mark.parametrize("lang, expected", [
    ("en", "'ann' (role annotator) may not create project; ask a lead or an admin."),
    ("zh_CN", "'ann'（角色 标注员）无权执行 创建项目；请联系负责人或管理员。"),
])
def test_cli_refusal_in_the_chosen_language(tmp_path, monkeypatch, capsys, lang, expected):
    """The CLI's one line on stderr: English as it always was, or Chinese with the role and action translated
    (DEFECTLAB_LANG / the locale)."""
    import sys

    from defectlab import cli, team
    from defectlab.store import open_workspace

    for var in ("DEFECTLAB_USER", "DEFECTLAB_PASSWORD", "DEFECTLAB_WORKSPACE", "LC_ALL", "LANG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DEFECTLAB_LANG", lang)
    monkeypatch.setenv("DEFECTLAB_PASSWORD", "ann-pass-1234")
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    ws = open_workspace(tmp_path / "ws")
    team.create_user(ws, "ann", "ann-pass-1234", "annotator", by="local", admin_password="local-Admin-1234")
    with ws.transaction() as conn:
        conn.execute("UPDATE users SET must_change_password = 0")
    try:
        code = cli.main(["--workspace", str(ws.root), "project", "create", "x", "--classes", "a,b", "--user", "ann"])
    finally:
        i18n.set_language("en")
    err = capsys.readouterr().err
    assert code == 1
    assert expected in err


def test_the_ui_shows_caught_errors_through_their_key():
    """A page that catches a library error shows ``common.error_text(exc)`` (the session's language), never
    ``str(exc)`` (the English line); ``str(exc)`` is only the fallback of an error without a Message."""
    shown_raw = []
    for path in sorted((REPO / "defectlab" / "ui").rglob("*.py")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if "str(exc)" in line and not any(ok in line for ok in ("isinstance(", "reason_text(")):
                shown_raw.append(f"{path.relative_to(REPO)}:{n}: {line.strip()}")
    assert shown_raw == []
