"""``defectlab locate-plate`` and ``decide-box``: the prediction review of located boxes from the command line
(JSON keys, roles enforced by the library, refusals exit 1 with one line and store nothing)."""

import json
import sys

import cv2
import pytest
from synthetic import write_voc_plates

from defectlab import cli
from defectlab.demo import make_plate_images
from defectlab.ingest import add_plate, import_source
from defectlab.learn import train_project
from defectlab.store import open_workspace
from defectlab.team import create_user


@pytest.fixture(scope="module")
def review(tmp_path_factory):
    root = tmp_path_factory.mktemp("platecli")
    write_voc_plates(root / "src", 10, random_state=4)
    ws = open_workspace(root / "ws")
    import_source(ws, "Plates", root / "src", layout="voc")
    train_project(ws, "Plates", model="logreg", preset="fast", folds=3, seed=0, n_jobs=1)
    create_user(ws, "lead", "lead-pass-12345", "lead", admin_password="the admin password 1")
    create_user(ws, "sam", "sam-pass-12345", "supervisor", by="lead")
    create_user(ws, "ann", "ann-pass-12345", "annotator", by="lead")
    with ws.transaction() as conn:
        conn.execute("UPDATE users SET must_change_password = 0")
    image, _ = make_plate_images(1, 300, 400, random_state=21)[0]
    plate_id, _ = add_plate(ws, "Plates", cv2.imencode(".png", image)[1].tobytes(), "line.png", user="sam",
                            purpose="predict")
    return ws, plate_id


def _run(ws, capsys, monkeypatch, user, *argv):
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    monkeypatch.setenv("DEFECTLAB_USER", user)
    monkeypatch.setenv("DEFECTLAB_PASSWORD", f"{user}-pass-12345")
    code = cli.main(["--workspace", str(ws.root), *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _decisions(ws):
    with ws.read() as conn:
        return conn.execute("SELECT COUNT(*) FROM locate_decisions").fetchone()[0]


def test_locate_plate_then_decide_boxes(review, capsys, monkeypatch):
    ws, plate_id = review
    code, out, err = _run(ws, capsys, monkeypatch, "sam", "--json", "locate-plate", "Plates", str(plate_id),
                          "--threshold", "0.05")
    assert code == 0, err
    res = json.loads(out)
    assert {"source", "width", "height", "boxes", "item_id", "run_id", "result_id", "earlier"} <= set(res)
    assert res["item_id"] == plate_id and (res["width"], res["height"]) == (400, 300) and len(res["boxes"]) >= 2
    rid = str(res["result_id"])
    # an annotator may not decide: one line, nothing stored
    before = _decisions(ws)
    code, out, err = _run(ws, capsys, monkeypatch, "ann", "--json", "decide-box", "Plates", rid, "0", "dismiss")
    assert code == 1 and out == "" and err.count("\n") == 1 and _decisions(ws) == before
    code, out, err = _run(ws, capsys, monkeypatch, "sam", "--json", "decide-box", "Plates", rid, "0", "dismiss")
    assert code == 0, err
    d = json.loads(out)
    assert d == {"result_id": int(rid), "box_index": 0, "decision": "dismissed", "label": None, "crop_id": None,
                 "box": res["boxes"][0], "place": None}
    other = next(c for c in ("crazing", "inclusion", "patches") if c != res["boxes"][1]["label"])
    code, out, err = _run(ws, capsys, monkeypatch, "sam", "decide-box", "Plates", rid, "1", "correct", "--label",
                          other)
    assert code == 0 and "crop" in out and other in out, (out, err)
    # the same box twice, a box that does not exist, a hostile label: refused with one line
    for argv in (["0", "dismiss"], ["999", "accept"], ["2", "correct", "--label", "<script>"]):
        code, out, err = _run(ws, capsys, monkeypatch, "sam", "decide-box", "Plates", rid, *argv)
        assert code == 1 and err.count("\n") == 1, (argv, err)
    with pytest.raises(SystemExit) as usage:  # not a decision: argparse's usage error
        _run(ws, capsys, monkeypatch, "sam", "decide-box", "Plates", rid, "0", "delete")
    assert usage.value.code == 2
    # a later search remembers the decisions
    code, out, _ = _run(ws, capsys, monkeypatch, "sam", "--json", "locate-plate", "Plates", str(plate_id),
                        "--threshold", "0.05")
    again = json.loads(out)
    assert again["earlier"]["0"]["decision"] == "dismissed"
    code, out, _ = _run(ws, capsys, monkeypatch, "sam", "locate-plate", "Plates", str(plate_id), "--threshold", "0.05")
    assert code == 0 and str(again["result_id"] + 1) in out and "dismissed" in out.lower()


def test_decide_box_moves_a_box_and_undo_box_opens_it_again(review, capsys, monkeypatch):
    ws, _ = review
    image, _ = make_plate_images(1, 300, 400, random_state=22)[0]
    plate_id, _ = add_plate(ws, "Plates", cv2.imencode(".png", image)[1].tobytes(), "line2.png", user="sam",
                            purpose="predict")
    code, out, err = _run(ws, capsys, monkeypatch, "sam", "--json", "locate-plate", "Plates", str(plate_id),
                          "--threshold", "0.05")
    res = json.loads(out)
    rid = str(res["result_id"])
    k = 0
    b = res["boxes"][k]
    place = [max(b["x"] - 2, 0), b["y"], b["w"] + 2 if b["x"] >= 2 else b["w"], b["h"]]
    code, out, err = _run(ws, capsys, monkeypatch, "sam", "--json", "decide-box", "Plates", rid, str(k), "accept",
                          "--place", *map(str, place))
    assert code == 0, err
    d = json.loads(out)
    assert d["decision"] == "corrected" and d["place"] == place and d["label"] == b["label"]
    # an annotator may not undo; a place too far or not four numbers is refused with one line / usage
    before = _decisions(ws)
    code, out, err = _run(ws, capsys, monkeypatch, "ann", "--json", "undo-box", "Plates", rid, str(k))
    assert code == 1 and out == "" and err.count("\n") == 1
    code, out, err = _run(ws, capsys, monkeypatch, "sam", "--json", "undo-box", "Plates", rid, str(k))
    assert code == 0, err
    assert json.loads(out) == {"result_id": int(rid), "box_index": k, "undone": "corrected", "crop_id": d["crop_id"],
                               "decision": None}
    assert _decisions(ws) == before  # append-only: the undo is a row of its own
    code, out, err = _run(ws, capsys, monkeypatch, "sam", "undo-box", "Plates", rid, str(k))
    assert code == 1 and "no decision to undo" in err and err.count("\n") == 1
    far = [0, 0, 2, 2] if b["x"] > 10 or b["y"] > 10 else [390, 290, 2, 2]
    code, out, err = _run(ws, capsys, monkeypatch, "sam", "decide-box", "Plates", rid, str(k), "accept", "--place",
                          *map(str, far))
    assert code == 1 and err.count("\n") == 1 and _decisions(ws) == before
    with pytest.raises(SystemExit) as usage:
        _run(ws, capsys, monkeypatch, "sam", "decide-box", "Plates", rid, str(k), "accept", "--place", "1", "2")
    assert usage.value.code == 2
    code, out, err = _run(ws, capsys, monkeypatch, "sam", "decide-box", "Plates", rid, str(k), "dismiss")
    assert code == 0, err
    code, out, err = _run(ws, capsys, monkeypatch, "sam", "undo-box", "Plates", rid, str(k))
    assert code == 0 and str(k) in out and err == "", err


def _plates_folder(root):
    """A shift's folder: two plates (one named in Chinese), the first again under another name, a corrupt file
    and an annotation sidecar (skipped)."""
    root.mkdir()
    for name, (image, _) in zip(("划痕_板1.png", "plate_2.png"), make_plate_images(2, 300, 400, random_state=88),
                                strict=True):
        cv2.imencode(".png", image)[1].tofile(str(root / name))
    (root / "副本_板1.png").write_bytes((root / "划痕_板1.png").read_bytes())
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    (root / "notes.txt").write_text("shift notes")
    return root


def test_locate_plates_stores_a_folder_and_records_every_result(review, capsys, monkeypatch, tmp_path):
    from defectlab.learn.plate_review import decide_box, recorded_results

    ws, _ = review
    folder = _plates_folder(tmp_path / "shift")
    code, out, err = _run(ws, capsys, monkeypatch, "sam", "--json", "locate-plates", "Plates", str(folder),
                          "--threshold", "0.05")
    assert code == 0, err
    res = json.loads(out)
    assert set(res) == {"run_id", "plates", "rejected", "repeated"}
    names = sorted(p["source"] for p in res["plates"])
    assert names == ["plate_2.png", "划痕_板1.png"]
    for p in res["plates"]:
        assert {"source", "width", "height", "boxes", "tiled", "item_id", "run_id", "result_id", "earlier"} <= set(p)
        assert (p["width"], p["height"]) == (400, 300) and p["run_id"] == res["run_id"]
    first = next(p for p in res["plates"] if p["source"] == "划痕_板1.png")
    assert res["repeated"] == [{"source": "副本_板1.png", "item_id": first["item_id"]}]
    (bad,) = res["rejected"]
    assert bad["source"] == "broken.png" and bad["reason"]
    # recorded: listed for the app's review, and a box can be decided by its result id
    listed = {r["result_id"] for r in recorded_results(ws, "Plates", user="sam")}
    assert {p["result_id"] for p in res["plates"]} <= listed
    if first["boxes"]:
        assert decide_box(ws, "Plates", first["result_id"], 0, "dismiss", user="sam")["decision"] == "dismissed"
    # the words: counts, each plate's result id, the rejected file with its reason
    code, out, err = _run(ws, capsys, monkeypatch, "sam", "locate-plates", "Plates", str(folder / "plate_2.png"))
    assert code == 0, err
    assert "1 images stored as plates and searched" in out and "locate result" in out


def test_locate_plates_is_refused_without_the_predict_role_and_stores_nothing(review, capsys, monkeypatch, tmp_path):
    from defectlab.store import items_frame

    ws, _ = review
    folder = _plates_folder(tmp_path / "shift")
    n = len(items_frame(ws, 1))
    code, out, err = _run(ws, capsys, monkeypatch, "ann", "--json", "locate-plates", "Plates", str(folder))
    assert code == 1 and not out and len(err.strip().splitlines()) == 1
    assert len(items_frame(ws, 1)) == n
    code, out, err = _run(ws, capsys, monkeypatch, "sam", "locate-plates", "Plates", str(tmp_path / "nowhere"))
    assert code == 1 and "does not exist" in err
