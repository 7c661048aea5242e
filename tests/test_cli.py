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
    # source and reason as always, plus the reason's catalog key and args (extra keys are allowed)
    assert d["rejected"] == [{"source": "a/broken.png", "reason": "empty file (0 bytes)",
                              "reason_key": "imaging.reason.empty", "reason_args": {}}]
    code, out, _ = run(capsys, "--workspace", str(tmp_path / "ws"), "import", "P", str(tmp_path / "src"))
    assert code == 0 and "Imported 0 images. 6 duplicates skipped." in out


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


@pytest.mark.slow  # ~30 s: builds and trains the whole demo workspace in a subprocess
def test_demo_command_subprocess(tmp_path):
    ws = tmp_path / "ws"
    cmd = [sys.executable, "-m", "defectlab.cli", "demo", "--workspace", str(ws), "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=300)
    assert json.loads(out.stdout)["projects"] == ["Steel defects", "Scrap grades"]
    again = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=300)
    assert json.loads(again.stdout)["projects"] == ["Steel defects", "Scrap grades"]


@pytest.fixture(scope="module")
def demo_ws(tmp_path_factory):
    from defectlab.demo import build_demo_workspace
    from defectlab.store import open_workspace

    ws = open_workspace(tmp_path_factory.mktemp("demo") / "ws")
    build_demo_workspace(ws, train=False)
    return ws


def test_train_runs_compare_predict_export(demo_ws, tmp_path, capsys):
    w = ["--workspace", str(demo_ws.root), "--json"]
    code, out, _ = run(capsys, "train", "Scrap grades", *w)
    assert code == 0
    first = json.loads(out)
    for key in ("run_id", "n_items", "n_classes", "accuracy", "balanced_accuracy", "macro_f1", "seconds",
                "mae", "qwk"):
        assert key in first, key
    assert first["n_classes"] == 4 and 0.5 < first["accuracy"] <= 1 and first["mae"] >= 0
    code, out, _ = run(capsys, "train", "Scrap grades", "--model", "logreg", "--seed", "1", *w)
    second = json.loads(out)
    code, out, _ = run(capsys, "runs", "Scrap grades", *w)
    assert [r["run_id"] for r in json.loads(out)["runs"]] == [second["run_id"], first["run_id"]]
    code, out, _ = run(capsys, "runs", "compare", "Scrap grades", first["run_id"], second["run_id"], *w)
    cmp = json.loads(out)
    assert {"a", "b", "fixed", "broken"} <= set(cmp)
    code, out, err = run(capsys, "runs", "compare", "Scrap grades", first["run_id"], *w)
    assert code == 2 and "usage" in err
    csv_path = tmp_path / "pred.csv"
    code, out, _ = run(capsys, "predict", "Scrap grades", str(demo_ws.root / "demo-files" / "scrap_new"),
                       "--run", first["run_id"], "--out", str(csv_path), *w)
    preds = json.loads(out)["predictions"]
    assert code == 0 and len(preds) == 40
    assert set(preds[0]) >= {"source", "label", "confidence", "needs_review"}
    assert csv_path.read_text(encoding="utf-8-sig").count("\n") == 41
    code, out, _ = run(capsys, "export", "Scrap grades", "--format", "csv", str(tmp_path / "exp"), *w)
    assert json.loads(out)["exported"] == 80


def test_unknown_run_is_a_user_error(demo_ws, capsys):
    code, _out, err = run(capsys, "predict", "Scrap grades", str(demo_ws.root), "--run", "nope",
                         "--workspace", str(demo_ws.root))
    assert code == 1 and "nope" in err


def test_label_issues_json(demo_ws, capsys):
    w = ["--workspace", str(demo_ws.root), "--json"]
    code, out, _ = run(capsys, "train", "Steel defects", "--model", "logreg", *w)
    trained = json.loads(out)
    run_id = trained["run_id"]
    # train computed the run's review queues once and stored them; label-issues only reads them
    from defectlab.quality import label_issues_for_run, queue_status

    assert set(trained["queues"]) == {"issues", "duplicates", "conflicts", "outliers"}
    computed_at = queue_status(demo_ws, run_id)["issues"]["computed_at"]
    code, out, _ = run(capsys, "label-issues", "Steel defects", "--run", run_id, *w)
    assert code == 0
    issues = json.loads(out)["issues"]
    assert queue_status(demo_ws, run_id)["issues"]["computed_at"] == computed_at
    assert [i["item_id"] for i in issues] == [i["item_id"] for i in
                                              label_issues_for_run(demo_ws, "Steel defects", run_id)]
    assert len(issues) == trained["queues"]["issues"]
    assert issues, "the demo's plate crops disagree with the model: some issues are expected"
    for issue in issues:
        assert set(issue) >= {"item_id", "source", "given", "suggested", "score"}
        assert 0.0 <= issue["score"] <= 1.0 and issue["given"] != issue["suggested"]
    scores = [i["score"] for i in issues]
    assert scores == sorted(scores, reverse=True)


def test_human_output_follows_the_system_language(tmp_path, capsys, monkeypatch):
    ws = str(tmp_path / "ws")
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("DEFECTLAB_LANG", raising=False)
    code, out, _ = run(capsys, "project", "list", "--workspace", ws)
    assert code == 0 and "还没有项目" in out
    code, out, _ = run(capsys, "project", "create", "P", "--classes", "a,b", "--workspace", ws)
    assert "已创建项目 P" in out
    monkeypatch.setenv("DEFECTLAB_LANG", "en")
    code, out, _ = run(capsys, "project", "list", "--workspace", ws)
    assert "P" in out and "还没有项目" not in out
    # --json never changes with the language
    code, out, _ = run(capsys, "project", "list", "--workspace", ws, "--json")
    assert json.loads(out)["projects"][0]["name"] == "P"


def test_import_human_output_says_the_rejection_reason_in_the_system_language(tmp_path, capsys, monkeypatch):
    _tree(tmp_path / "src")
    monkeypatch.setenv("DEFECTLAB_LANG", "zh_CN")
    code, out, _ = run(capsys, "--workspace", str(tmp_path / "ws"), "import", "P", str(tmp_path / "src"))
    assert code == 0 and "a/broken.png：空文件（0 字节）" in out and "empty file" not in out
