"""Review page (confusion cell -> items -> review decision) and Predict page (batch from a folder,
reject band, confirm / correct with keys, CSV)."""

import re

import cv2
from ui_support import app, demo_workspace, no_exception

from defectlab import learn
from defectlab.demo import make_defect_crops
from defectlab.store import label_history


def test_review_and_predict_render_without_runs(tmp_path):
    for page in ("review", "predict"):
        no_exception(app(tmp_path / "empty", page))
    ws, _project, _labeled, _unlabeled = demo_workspace(tmp_path / "ws")
    for page in ("review", "predict"):
        at = app(ws.root, page)
        no_exception(at)
        assert at.info


def test_confusion_cell_items_get_a_review_decision(tmp_path):
    ws, project, _labeled, _unlabeled = demo_workspace(tmp_path / "ws", train=True)
    run = learn.get_run(ws, learn.list_runs(ws, project.name)[0]["run_id"])
    at = app(ws.root, "review")
    no_exception(at)
    cells = at.selectbox(key="rev_cell_pick").options
    assert cells  # "true -> predicted (n)" for every non-empty cell
    cell_items = [e for e in run["items"] if e["label"] == "patches" and e["pred_label"] == "patches"]
    at.selectbox(key="rev_cell_pick").set_value(("patches", "patches")).run()
    target = cell_items[0]["item_id"]
    at.checkbox(key=f"rsel_{target}").check().run()
    at.selectbox(key="rev_cell_other").set_value("scratches").run()
    at.button(key="rev_cell_other_go").click().run()
    no_exception(at)
    last = label_history(ws, target)[-1]
    assert (last["label"], last["source"], last["user"]) == ("scratches", "review", "local")


def test_predict_a_folder_then_confirm_and_correct_with_keys(tmp_path):
    ws, project, _labeled, _unlabeled = demo_workspace(tmp_path / "ws", train=True)
    images, _labels = make_defect_crops(n_per_class=30, size=64, random_state=7)
    batch = tmp_path / "today"
    batch.mkdir()
    for k in (0, 5, 60, 65):  # fresh images (other seed), crazing and patches
        cv2.imwrite(str(batch / f"cam_{k:03d}.png"), images[k])
    at = app(ws.root, "predict")
    at.radio(key="pred_source").set_value("folder").run()
    at.text_input(key="pred_folder").input(str(batch)).run()
    at.button(key="pred_go").click().run()
    no_exception(at)
    preds = learn.list_predictions(ws, project.name)
    assert len(preds) == 4
    at.slider(key="pred_threshold").set_value(1.0).run()  # everything goes to a person
    first_queue = sorted(preds, key=lambda r: r["confidence"])
    at.button(key="pred_confirm").click().run()
    at.button(key="pred_key_2").click().run()
    no_exception(at)
    a = label_history(ws, first_queue[0]["item_id"])[-1]
    b = label_history(ws, first_queue[1]["item_id"])[-1]
    assert (a["label"], a["source"]) == (first_queue[0]["label"], "model")
    assert b["label"] == "patches"
    assert b["source"] == ("review" if first_queue[1]["label"] != "patches" else "model")
    assert at.get("download_button")
    decided = {r["item_id"]: r["decision"] for r in learn.list_predictions(ws, project.name)}
    assert decided[first_queue[0]["item_id"]] == first_queue[0]["label"]


def test_label_issue_queue_accept_keep_other_with_keys(tmp_path):
    from defectlab.quality import compute_run_queues, read_run_queue
    from defectlab.store import annotate

    ws, project, labeled, _unlabeled = demo_workspace(tmp_path / "ws", n_per_class=12)
    # plant four wrong labels, then train: the run should doubt them
    planted = labeled[:2] + labeled[12:14]
    for item in planted:
        annotate(ws, item, "scratches", user="local")
    learn.train_project(ws, project.name, model="logreg", folds=3, seed=0, preset="fast")
    run_id = learn.list_runs(ws, project.name)[0]["run_id"]
    compute_run_queues(ws, run_id)  # what the training job does after training
    issues = read_run_queue(ws, run_id, "issues")["rows"]
    assert issues, "the planted errors should be found"
    at = app(ws.root, "review")
    at.radio(key="rev_view").set_value("issues").run()
    no_exception(at)
    assert at.session_state["rev_issues"] == issues
    at.button(key="rev_accept").click().run()     # A: take the suggestion
    no_exception(at)
    first = label_history(ws, issues[0]["item_id"])[-1]
    assert (first["label"], first["source"]) == (issues[0]["suggested"], "review")
    if len(issues) > 1:
        at.button(key="rev_keep").click().run()   # K: the given label was right
        second = label_history(ws, issues[1]["item_id"])[-1]
        assert (second["label"], second["source"]) == (issues[1]["given"], "review")
    assert at.session_state["rev_pos"] == min(2, len(issues))


def test_duplicates_and_outliers_queues_render(tmp_path):
    from defectlab import quality as q
    from defectlab.i18n import t

    ws, project, _labeled, _unlabeled = demo_workspace(tmp_path / "ws", train=True)
    run_id = learn.resolve_run(ws, project.name)
    at = app(ws.root, "review")
    for kind in ("conflicts", "duplicates", "outliers"):
        at.radio(key="rev_view").set_value(kind).run()
        no_exception(at)
        rows = q.read_run_queue(ws, run_id, kind, limit=30)["rows"]
        # the page says how many entries the stored queue holds, then lists them or says it is empty
        assert t(f"review.{kind}_help", "en", n=len(rows)) in [c.value for c in at.caption], kind
        go = [b for b in at.button if b.key.startswith(f"rev_{kind}_go_")]
        assert len(go) == len(rows), kind
        if not rows:
            assert t("review.queue_empty", "en") in [s.value for s in at.success], kind


def test_review_page_in_chinese_says_the_reasons_in_chinese(tmp_path, monkeypatch):
    from functools import partial

    from quality_support import render_reason

    from defectlab.i18n import class_label
    from defectlab.quality import compute_run_queues
    from defectlab.quality.review import label_issues_for_run
    from defectlab.store import annotate

    ws, project, labeled, _unlabeled = demo_workspace(tmp_path / "ws", n_per_class=12)
    for item in labeled[:2] + labeled[12:14]:
        annotate(ws, item, "scratches", user="local")
    run = learn.train_project(ws, project.name, model="logreg", folds=3, seed=0, preset="fast")
    compute_run_queues(ws, run["run_id"])
    issues = label_issues_for_run(ws, project.name)
    assert issues
    from defectlab.ui import common

    monkeypatch.setattr(common, "lang", lambda: "zh_CN")  # the radio's format_func runs in the test thread
    at = app(ws.root)
    at.session_state["lang"] = "zh_CN"
    at.switch_page("defectlab/ui/pages/review.py").run()
    at.radio(key="rev_view").set_value("issues").run()
    no_exception(at)
    # as a person reads them: the Markdown escapes of file and class names removed (common.md)
    captions = [re.sub(r"\\(.)", r"\1", c.value) for c in at.caption]
    zh = partial(class_label, lang="zh_CN")
    expected = render_reason(issues[0]["reason_parts"], "zh_CN", class_name=zh)
    assert expected in captions
    assert expected.startswith("模型有 ") and zh(issues[0]["suggested"]) in expected  # 龟裂, not crazing
    assert not any(i["reason"] in c for i in issues for c in captions)
    shown = " ".join(captions)
    assert not re.search(r"\b(model|models|sure|similar|grade|labeled)\b", shown), shown


def test_review_queues_in_chinese_say_the_reasons_in_chinese(tmp_path, monkeypatch):
    """Conflicts (a file imported under two labels, a near copy under another label), duplicates
    and outliers (a blank frame): every reason caption is the Chinese rendering."""
    from functools import partial

    import numpy as np
    from quality_support import render_reason

    from defectlab.i18n import class_label
    from defectlab.ingest import import_source
    from defectlab.quality import compute_run_queues
    from defectlab.quality.review import conflicts_queue, duplicates_queue, outliers_queue
    from defectlab.store import open_workspace
    from defectlab.ui import common

    images, labels = make_defect_crops(n_per_class=10, size=64, random_state=0)
    src = tmp_path / "src"
    for k, (image, label) in enumerate(zip(images, labels, strict=True)):
        if label in ("crazing", "patches", "scratches"):
            (src / label).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(src / label / f"{label}_{k}.png"), image)
    twin = cv2.imencode(".png", images[0])[1].tobytes()
    (src / "crazing" / "twin.png").write_bytes(twin)
    (src / "patches" / "twin_copy.png").write_bytes(twin)        # same file, another label
    cv2.imwrite(str(src / "patches" / "near.png"), images[1])
    cv2.imwrite(str(src / "scratches" / "near_copy.jpg"), images[1])  # re-encoded, another label
    cv2.imwrite(str(src / "crazing" / "blank.png"), np.full((64, 64), 90, np.uint8))
    ws = open_workspace(tmp_path / "ws")
    import_source(ws, "Plates", src, layout="folders")
    learn.train_project(ws, "Plates", model="logreg", folds=3, seed=0, preset="fast")
    run_id = learn.list_runs(ws, "Plates")[0]["run_id"]
    compute_run_queues(ws, run_id)
    queues = {"conflicts": conflicts_queue(ws, "Plates"), "duplicates": duplicates_queue(ws, "Plates"),
              "outliers": outliers_queue(ws, "Plates", run_id)}
    assert all(queues.values()), {k: len(v) for k, v in queues.items()}

    # AppTest evaluates select boxes' format_func (which calls t()) in the test thread too, where
    # st.session_state is not the session's: the session's language there as well
    monkeypatch.setattr(common, "lang", lambda: "zh_CN")
    at = app(ws.root)
    at.session_state["lang"] = "zh_CN"
    at.switch_page("defectlab/ui/pages/review.py").run()
    captions = []
    for kind in queues:
        at.radio(key="rev_view").set_value(kind).run()
        no_exception(at)
        # as a person reads them: the Markdown escapes of file and class names removed (common.md)
        captions += [re.sub(r"\\(.)", r"\1", c.value) for c in at.caption]
    zh = partial(class_label, lang="zh_CN")
    for kind, rows in queues.items():
        for row in rows:
            assert render_reason(row["reason_parts"], "zh_CN", class_name=zh, feature="`{}`".format) in captions, kind
            assert not any(row["reason"] in c for c in captions)
    shown = " ".join(captions)
    assert "同一文件被分别导入为 龟裂 / 斑块" in shown
    assert not re.search(r"\b(identical|pictures|imported|usual distance|unusual|typical)\b", shown)


def test_a_large_confusion_cell_is_shown_a_page_at_a_time(tmp_path):
    from defectlab.quality import queues

    ws, project, _labeled, _unlabeled = demo_workspace(tmp_path / "ws", n_per_class=30, train=True, size=48)
    run = learn.get_run(ws, learn.list_runs(ws, project.name)[0]["run_id"])
    counts = {}
    for e in run["items"]:
        counts[(e["label"], e["pred_label"])] = counts.get((e["label"], e["pred_label"]), 0) + 1
    cell, n = max(counts.items(), key=lambda kv: kv[1])
    assert n > 24, counts  # the demo's largest cell needs two pages
    at = app(ws.root, "review")
    at.selectbox(key="rev_cell_pick").set_value(cell).run()
    no_exception(at)

    def shown():
        return sorted(int(c.key.split("_")[1]) for c in at.checkbox if c.key and c.key.startswith("rsel_"))

    first = shown()
    assert len(first) == 24
    assert at.number_input(key="rev_cell_page").max == -(-n // 24)
    at.number_input(key="rev_cell_page").set_value(2).run()
    no_exception(at)
    second = shown()
    assert second and not set(first) & set(second)
    every = queues.confusion_cell_items(ws, run["run_id"], *cell, limit=10_000)
    assert [e["item_id"] for e in every][:24] == [e["item_id"] for e in
                                                  queues.confusion_cell_items(ws, run["run_id"], *cell, limit=24)]
    assert set(second) == {e["item_id"] for e in every[24:48]}
    # another cell starts on its first page again (or has no pages)
    other = sorted((c for c in counts if c != cell), key=lambda c: -counts[c])[0]
    at.selectbox(key="rev_cell_pick").set_value(other).run()
    no_exception(at)
    pagers = [w for w in at.number_input if w.key == "rev_cell_page"]
    assert (pagers[0].value == 1) if counts[other] > 24 else not pagers
    assert len(shown()) == min(24, counts[other])
