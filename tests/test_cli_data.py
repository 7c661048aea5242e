"""``defectlab items``, ``item-history``, project / class editing and export formats (INTERFACES.md keys)."""

import json

import cv2
import numpy as np
import pytest

from defectlab.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def ws_dir(tmp_path, capsys):
    rng = np.random.default_rng(0)
    src = tmp_path / "src"
    for c in ("scrach", "pit"):
        (src / c).mkdir(parents=True)
        for i in range(3):
            cv2.imwrite(str(src / c / f"{c}_{i}.png"), rng.integers(0, 255, (16, 16), dtype=np.uint8))
    ws = str(tmp_path / "ws")
    assert run(capsys, "--workspace", ws, "import", "P", str(src))[0] == 0
    return ws


def test_items_json_contract_and_filters(ws_dir, capsys):
    code, out, _ = run(capsys, "items", "P", "--workspace", ws_dir, "--json")
    d = json.loads(out)
    assert code == 0 and d["total"] == 6
    assert set(d["items"][0]) >= {"item_id", "source", "label"}
    code, out, _ = run(capsys, "items", "P", "--label", "pit", "--source", "pit/*_1.png", "--workspace", ws_dir,
                       "--json")
    d = json.loads(out)
    assert d["total"] == 1 and d["items"][0]["source"] == "pit/pit_1.png" and d["items"][0]["label"] == "pit"
    code, out, _ = run(capsys, "items", "P", "--unlabeled", "--workspace", ws_dir, "--json")
    assert json.loads(out) == {"total": 0, "items": []}
    code, out, _ = run(capsys, "items", "P", "--annotator", "local", "--limit", "2", "--workspace", ws_dir, "--json")
    d = json.loads(out)
    assert d["total"] == 6 and len(d["items"]) == 2
    code, out, _ = run(capsys, "items", "P", "--workspace", ws_dir)
    assert code == 0 and "6 items match" in out


def test_item_history_json_oldest_first(ws_dir, capsys):
    _, out, _ = run(capsys, "items", "P", "--label", "pit", "--limit", "1", "--workspace", ws_dir, "--json")
    item = json.loads(out)["items"][0]["item_id"]
    from defectlab.store import annotate, open_workspace

    annotate(open_workspace(ws_dir), item, "scrach", source="review", comment="a line, not a pit")
    code, out, _ = run(capsys, "item-history", "P", str(item), "--workspace", ws_dir, "--json")
    events = json.loads(out)["events"]
    assert code == 0 and [(e["label"], e["user"], e["source"]) for e in events] == [
        ("pit", "local", "import"), ("scrach", "local", "review")]
    assert all(set(e) >= {"label", "user", "source", "at"} for e in events)
    code, _, err = run(capsys, "item-history", "P", "99999", "--workspace", ws_dir)
    assert code == 1 and "No item with id 99999" in err and err.count("\n") == 1


@pytest.mark.parametrize("argv", [
    ("item-history", "P", "99999999999999999999"), ("items", "P", "--batch", "99999999999999999999"),
    ("items", "P", "--offset", "-1"), ("items", "P", "--limit", "1e3"), ("label-issues", "P", "--limit", "-1"),
    ("locate-plate", "P", "99999999999999999999"), ("decide-box", "P", "1", "99999999999999999999", "accept"),
])
def test_hostile_numbers_are_wrong_usage_not_tracebacks(ws_dir, capsys, argv):
    """Found by an attacker pass: ids beyond SQLite's integers ended in an OverflowError traceback."""
    try:
        code = main([*argv, "--workspace", ws_dir])
    except SystemExit as stop:
        code = stop.code
    _, err = capsys.readouterr()
    assert code == 2 and "whole number" in err and "Traceback" not in err


@pytest.mark.parametrize("argv,reason", [
    (("items", "P", "--since", "2026-13-45"), "date"), (("items", "P", "--min-confidence", "nan"), "from 0 to 1"),
    (("train", "P", "--seed", "99999999999999999999"), "seed"),
])
def test_impossible_values_are_one_line_errors(ws_dir, capsys, argv, reason):
    code, _, err = run(capsys, *argv, "--workspace", ws_dir)
    assert code == 1 and reason in err and err.count("\n") == 1


def test_project_editing_commands(ws_dir, capsys):
    w = ("--workspace", ws_dir, "--json")
    code, out, _ = run(capsys, "project", "rename-class", "P", "scrach", "scratch", *w)
    assert code == 0 and json.loads(out) == {"project": "P", "classes": ["pit", "scratch"]}
    code, out, _ = run(capsys, "items", "P", "--label", "scratch", *w)
    assert json.loads(out)["total"] == 3
    code, out, _ = run(capsys, "project", "add-class", "P", "dent", *w)
    assert json.loads(out)["classes"] == ["pit", "scratch", "dent"]
    code, out, _ = run(capsys, "project", "reorder-classes", "P", "dent,pit,scratch", *w)
    assert json.loads(out)["classes"] == ["dent", "pit", "scratch"]
    code, out, _ = run(capsys, "project", "merge-classes", "P", "pit", "dent", "--into", "hole", *w)
    assert json.loads(out)["classes"] == ["hole", "scratch"]
    code, out, _ = run(capsys, "items", "P", "--label", "hole", *w)
    assert json.loads(out)["total"] == 3
    code, out, _ = run(capsys, "project", "rename", "P", "Plates", *w)
    assert json.loads(out) == {"project": "Plates", "classes": ["hole", "scratch"]}
    code, out, _ = run(capsys, "project", "delete", "Plates", *w)
    assert code == 0 and json.loads(out)["project"] == "Plates"
    _, out, _ = run(capsys, "project", "list", *w)
    assert json.loads(out)["projects"] == []
    code, out, _ = run(capsys, "project", "restore", "Plates", *w)
    assert code == 0
    _, out, _ = run(capsys, "project", "list", *w)
    assert [p["name"] for p in json.loads(out)["projects"]] == ["Plates"]
    code, out, err = run(capsys, "project", "rename-class", "Plates", "nope", "x", *w)
    assert code == 1 and out == "" and "no class 'nope'" in err


def test_errors_in_chinese(ws_dir, capsys, monkeypatch):
    monkeypatch.setenv("DEFECTLAB_LANG", "zh_CN")
    code, _, err = run(capsys, "project", "rename-class", "P", "nope", "x", "--workspace", ws_dir)
    assert code == 1 and "没有类别" in err


@pytest.mark.parametrize(("fmt", "layout"), [("imagefolder", "folders"), ("csv", "csv"), ("coco", "coco"),
                                             ("yolo", "yolo"), ("voc", "voc")])
def test_export_every_format_reimports(ws_dir, capsys, tmp_path, fmt, layout):
    out_dir = str(tmp_path / f"out_{fmt}")
    code, out, _ = run(capsys, "export", "P", "--format", fmt, out_dir, "--workspace", ws_dir, "--json")
    assert code == 0 and json.loads(out) == {"exported": 6, "path": out_dir}
    code, out, _ = run(capsys, "import", "Back", out_dir, "--layout", layout, "--workspace", ws_dir, "--json")
    assert code == 0 and json.loads(out)["imported"] == 6 and json.loads(out)["rejected"] == []
    _, out, _ = run(capsys, "items", "Back", "--label", "pit", "--workspace", ws_dir, "--json")
    assert json.loads(out)["total"] == 3
    code, out, _ = run(capsys, "export", "P", "--format", fmt, "--labels", "reviewed", str(tmp_path / "r"),
                       "--workspace", ws_dir, "--json")
    assert code == 0 and json.loads(out)["exported"] == 0


def test_library_errors_in_the_users_language(ws_dir):
    from defectlab.cli import error_text
    from defectlab.errors import DefectlabError
    from defectlab.i18n import set_language
    from defectlab.store import annotate, get_project, open_workspace, require

    ws = open_workspace(ws_dir)
    errors = []
    for call in (lambda: get_project(ws, "nope"), lambda: annotate(ws, 1, "rust"),
                 lambda: require(ws._connect(), "ghost", "train")):
        with pytest.raises(DefectlabError) as info:
            call()
        errors.append(info.value)
    try:
        set_language("zh_CN")
        texts = [error_text(e) for e in errors]
    finally:
        set_language("en")
    assert "没有项目 'nope'" in texts[0] and "'rust'" in texts[1] and "不是已知类别" in texts[1]
    assert "无权" in texts[2]
    assert str(errors[0]).startswith("No project 'nope'")   # the English text is unchanged


def test_remove_class_command(ws_dir, capsys):
    assert run(capsys, "project", "add-class", "P", "pitt", "--workspace", ws_dir)[0] == 0
    code, out, _ = run(capsys, "project", "remove-class", "P", "pitt", "--workspace", ws_dir, "--json")
    assert code == 0 and json.loads(out) == {"project": "P", "classes": ["pit", "scrach"]}
    assert run(capsys, "project", "add-class", "P", "dent", "--workspace", ws_dir)[0] == 0
    code, _, err = run(capsys, "project", "remove-class", "P", "pit", "--workspace", ws_dir)  # labeled
    assert code == 1 and "merge it" in err and err.count("\n") == 1
