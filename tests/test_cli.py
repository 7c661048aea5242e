"""The defectlab command: JSON keys of INTERFACES.md, exit codes, one-line errors."""

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from defectlab.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _tree(root):
    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i in range(3):
            cv2.imwrite(str(root / c / f"{c}_{i}.png"), rng.integers(0, 255, (16, 16), dtype=np.uint8))
    (root / "a" / "broken.png").write_bytes(b"")


def test_project_create_and_list_json(tmp_path, capsys):
    ws = str(tmp_path / "ws")
    code, out, _ = run(capsys, "project", "create", "Scrap", "--classes", "heavy,medium,light",
                       "--ordinal", "--workspace", ws, "--json")
    assert code == 0
    assert json.loads(out) == {"project": "Scrap", "classes": ["heavy", "medium", "light"], "ordinal": True}
    code, out, _ = run(capsys, "project", "list", "--workspace", ws, "--json")
    (p,) = json.loads(out)["projects"]
    assert {k: p[k] for k in ("name", "classes", "ordinal", "n_items", "n_labeled")} == {
        "name": "Scrap", "classes": ["heavy", "medium", "light"], "ordinal": True, "n_items": 0, "n_labeled": 0}


def test_import_json_keys_and_rejections(tmp_path, capsys):
    _tree(tmp_path / "src")
    code, out, _ = run(capsys, "--workspace", str(tmp_path / "ws"), "import", "P", str(tmp_path / "src"), "--json")
    assert code == 0
    d = json.loads(out)
    assert d["imported"] == 6 and d["duplicates"] == 0 and d["conflicts"] == []
    assert d["rejected"] == [{"source": "a/broken.png", "reason": d["rejected"][0]["reason"]}]
    assert "empty" in d["rejected"][0]["reason"]
    code, out, _ = run(capsys, "--workspace", str(tmp_path / "ws"), "import", "P", str(tmp_path / "src"))
    assert code == 0 and "imported 0, duplicates 6" in out


def test_user_error_is_one_line_exit_1(tmp_path, capsys):
    ws = str(tmp_path / "ws")
    run(capsys, "project", "create", "P", "--classes", "a,b", "--workspace", ws)
    code, out, err = run(capsys, "project", "create", "P", "--classes", "a,b", "--workspace", ws, "--json")
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "already exists" in err


def test_wrong_usage_exits_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["import"])
    assert exc.value.code == 2


def test_demo_command_subprocess(tmp_path):
    ws = tmp_path / "ws"
    cmd = [sys.executable, "-m", "defectlab.cli", "demo", "--workspace", str(ws), "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=300)
    assert json.loads(out.stdout)["projects"] == ["Steel defects", "Scrap grades"]
    again = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=300)
    assert json.loads(again.stdout)["projects"] == ["Steel defects", "Scrap grades"]
