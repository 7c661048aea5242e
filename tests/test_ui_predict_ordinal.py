"""Predict on an ordinal (graded) project: found by a supervisor pass, the scrap project offered the "find defects
on full images" section (249 boxes tiling one photo, one click from 249 crops), its batch folder came filled with
the steel demo's crops, and its threshold started at 1.00 with no word why."""

import pytest
from ui_support import app, no_exception, tiny_workspace

from defectlab.errors import InputError
from defectlab.learn import train_project
from defectlab.learn.locate import locator_for_run


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("graded") / "ws"
    ws, _project, _ids = tiny_workspace(root, n_items=18, classes=("heavy", "medium", "light"), labeled=18,
                                       name="grades", ordinal=True)
    (root / "demo-files" / "batch").mkdir(parents=True)  # a demo workspace's steel batch
    run = train_project(ws, "grades", model="logreg", folds=3, seed=0, model_preset="fast", preset="fast")
    return ws, run["run_id"]


def test_a_graded_project_has_no_defects_to_locate(graded):
    ws, run_id = graded
    with pytest.raises(InputError, match="grades whole images"):
        locator_for_run(ws, run_id)


@pytest.mark.parametrize("lang", ["en", "zh_CN"])
def test_predict_on_a_graded_project(graded, lang):
    ws, _run_id = graded
    at = app(ws.root)
    at.session_state["lang"] = lang
    at.switch_page("defectlab/ui/pages/predict.py").run()
    no_exception(at)
    assert not [b for b in at.button if b.key == "plates_find"]  # no box search on whole-photo grades
    assert any(("grade" in c.value if lang == "en" else "等级" in c.value) for c in at.caption)
    assert (at.session_state["pred_folder"] if "pred_folder" in at.session_state else "") == ""


def test_a_threshold_that_starts_at_one_says_why(graded):
    import cv2
    import numpy as np

    ws, run_id = graded
    from defectlab.learn import get_run

    reject = get_run(ws, run_id)["metrics"]["reject"]
    assert not reject["reached"], "random pictures: the run should not reach its target accuracy"
    batch = ws.root / "today"  # under the workspace: a folder this server may read
    batch.mkdir(exist_ok=True)
    rng = np.random.default_rng(3)
    for k in range(3):
        cv2.imwrite(str(batch / f"pile_{k}.png"), rng.integers(0, 256, (48, 48), dtype=np.uint8))
    at = app(ws.root, "predict")
    at.radio(key="pred_source").set_value("folder").run()
    at.text_input(key="pred_folder").input(str(batch)).run()
    at.button(key="pred_go").click().run()
    no_exception(at)
    assert [s for s in at.slider if s.key == "pred_threshold"], _debug(at)
    assert at.slider(key="pred_threshold").value == 1.0
    assert any("never reached 99%" in i.value for i in at.info)


def _debug(at):
    return [e.value for e in at.error] + [w.value for w in at.warning] + [i.value for i in at.info]
