"""The pages after typical actions, through AppTest, in 简体中文 and in English.

zh_CN: no visible English word outside the allow-list of tests/test_ui_zh_walk.py (what the user typed: project,
class, user and file names; format names). en: no missing-key marker (a lookup of an unknown key returns the
key itself, ``"import.no_such"``) and no unfilled ``{placeholder}``.

One module-scoped workspace per language, walked in order (each step builds on the previous ones): an import
with rejected files, an import from a missing folder, training (progress, then finished), Runs comparing two
runs, Review with a queue item, Predict on a batch, Items with an item opened, Export options, Manage, Label
book with examples, Cut crops with a plate; then team mode: a failed sign-in, the annotator's pages (the
pages hide what her role may not do: the library's refusals themselves are checked in
tests/test_i18n_errors.py), and the lead's team pages.
"""

import errno
import json
import re
import time

import cv2
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest
from test_ui_zh_walk import ALLOWED, _english, _texts
from ui_support import APP, PAGES, demo_workspace, png

from defectlab import learn, team
from defectlab.i18n import catalog, class_label, t
from defectlab.messages import msg
from defectlab.store import add_item, annotate, create_batch, get_item, get_project, items_frame

ADMIN_PW = "Admin-pass-2024"
PW = "Steel-2024!xyz"
NAMESPACES = sorted({key.split(".")[0] for key in catalog("en")})
# a catalog key shown as it is (what t() returns for a key no catalog has), or a placeholder left unfilled
MISSING_KEY = re.compile(r"(?<![\w./-])(?:" + "|".join(NAMESPACES) +
                         r")\.[a-z0-9_]+(?:\.[A-Za-z0-9_\-]+)*(?![\w/]|\.\w)")
# keyboard keys (written on the key caps), UTC, the HSV colour space, and the statisticians a measure is
# named after (Fleiss κ, Krippendorff α, Cohen's κ: Chinese texts keep the names)
KEYS_AND_NAMES = {"enter", "esc", "space", "shift", "fleiss", "krippendorff", "cohen", "utc", "hsv"}
# an OS error's code after its translated phrase ("磁盘已满（ENOSPC）"), as the system names it
ERRNO_NAMES = {name.lower() for name in errno.errorcode.values()}
REVIEW_VIEWS = ("confusion", "issues", "conflicts", "duplicates", "outliers")
UNFILLED = re.compile(r"\{[a-z_][a-z0-9_]*(?:[!:][^}]*)?\}")


def _all_texts(at):
    """:func:`_texts` plus tab, expander, status, toast and download-button labels and the text cells of tables."""
    out = _texts(at)
    for kind in ("tabs", "expander", "status", "toast"):
        for el in getattr(at, kind, []):
            out.append(str(getattr(el, "label", "") or ""))
            out.append(str(getattr(el, "value", "") or "") if kind == "toast" else "")
    for el in at.get("download_button"):
        out.append(str(el.proto.label))
    for el in at.get("progress"):
        out.append(str(el.proto.text))
    for df in at.dataframe:
        frame = df.value.head(60)
        for column in frame.columns:
            out.extend(v for v in frame[column] if isinstance(v, str))
    return out


# a number printed unrounded (0.8333333), and "1 items" (the catalog's "<key>.one" form not used)
LONG_FLOAT = re.compile(r"(?<![\w.])\d+\.\d{5,}(?![\w.])")
ONE_PLURAL = re.compile(r"(?<![\w.,#/-])1 (?:[a-z]+[^s\W]s|items|images|runs|boxes|files|labels|crops|rows)\b")


def _numbers_and_plurals(texts, lang):
    found = set()
    for text in texts:
        text = re.sub(r"`[^`]*`|\d{8}-\d{6}-[0-9a-f]+", "", text)
        found |= set(LONG_FLOAT.findall(text))
        if lang == "en":
            found |= set(ONE_PLURAL.findall(text))
    return found


def _missing_keys(texts):
    found = set()
    for text in texts:
        text = re.sub(r"`[^`]*`", "", text)
        found |= set(MISSING_KEY.findall(text)) | set(UNFILLED.findall(text))
    return found


def _add_plate(ws, project):
    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, (160, 200, 3), dtype=np.uint8)
    data = cv2.imencode(".png", image)[1].tobytes()
    with ws.transaction() as conn:
        batch = create_batch(conn, project.id, "import", "plates", "local")
        sha, rel = ws.put_blob(data, "png")
        add_item(conn, project.id, sha256=sha, blob=rel, width=200, height=160, channels=3,
                 source="plates/plate_1.png", batch_id=batch, role="plate")


def _plant_queue_items(ws, project, labeled):
    """Wrong labels (label-issue queue) and a near-copy of an image with another class (duplicate queue), found
    by the training the walk starts."""
    for item in labeled[:3]:
        annotate(ws, item, "scratches", user="local")
    original = get_item(ws, labeled[-1])
    image = cv2.imdecode(np.frombuffer(ws.read_blob(original["blob"]), np.uint8), cv2.IMREAD_GRAYSCALE)
    image[0, 0] ^= 1  # the same picture, other bytes: a near-duplicate
    with ws.transaction() as conn:
        batch = create_batch(conn, project.id, "import", "again", "local")
        sha, rel = ws.put_blob(cv2.imencode(".png", image)[1].tobytes(), "png")
        again = add_item(conn, project.id, sha256=sha, blob=rel, width=original["width"],
                         height=original["height"], channels=1, source="again/same.png", batch_id=batch)
    annotate(ws, again, "crazing", source="import")


def _source_folders(tmp):
    """A camera folder with one good image, a broken one, an empty one and an unknown class; a batch to
    predict on."""
    from defectlab.demo import make_defect_crops

    src = tmp / "camera"
    (src / "crazing").mkdir(parents=True)
    (src / "crazing" / "a.png").write_bytes(png(60, size=64))
    (src / "crazing" / "broken.png").write_bytes(b"not an image at all")
    (src / "crazing" / "empty.jpg").write_bytes(b"")
    (src / "rust").mkdir()
    (src / "rust" / "c.png").write_bytes(png(61, size=64))
    images, _labels = make_defect_crops(n_per_class=30, size=64, random_state=7)
    batch = tmp / "today"
    batch.mkdir()
    for k in (0, 5, 60, 65):
        cv2.imwrite(str(batch / f"cam_{k:03d}.png"), images[k])
    return src, batch


class Walk:
    """One AppTest session; ``look(step)`` records what the page shows after a step."""

    def __init__(self, root, lang):
        self.root, self.lang, self.seen = root, lang, {}
        self.at = self.fresh()

    def fresh(self, user=None):
        at = AppTest.from_file(APP, default_timeout=90)
        at.session_state["workspace"] = str(self.root)
        at.session_state["lang"] = self.lang
        if user:
            at.session_state["auth_user"] = user
            at.session_state["last_seen"] = time.time()
        at.run()
        return at

    def page(self, name, at=None):
        at = at or self.at
        at.switch_page(f"{PAGES}/{name}.py").run()
        return at

    def look(self, step, at=None):
        at = at or self.at
        assert not at.exception, (step, [e.value for e in at.exception])
        self.seen[step] = _all_texts(at)


def _wait_training(ws, project, n_runs, timeout=180):
    from defectlab.ui import training

    deadline = time.time() + timeout
    while len(learn.list_runs(ws, project.name)) < n_runs and time.time() < deadline:
        time.sleep(0.5)
    job = training.job(ws, project)
    while job is not None and job.running and time.time() < deadline:
        time.sleep(0.3)


def _fake_jobs(w, ws, project):
    """The Train page while a job runs (each progress message of the library) and after a failed one."""
    from defectlab.ui import training

    key = training._key(ws, project)
    real = training._JOBS.get(key)
    params = dict(model="ensemble", preset="default", folds=5, seed=0)
    steps = [msg(f"learn.progress.{k}", k) for k in ("features", "fitting", "saving")] + [
        msg(f"quality.progress.{k}", k) for k in ("start", "issues", "duplicates", "conflicts", "outliers")]
    try:
        for n, message in enumerate(steps):
            training._JOBS[key] = training.Job(key=key, user="local", params=params, fraction=0.5, message=message)
            w.at.run()
            w.look(f"train_progress_{n}")
        error = msg("error.runs.project_has_labeled_items", "Project {name} has {len_rows} labeled items in "
                    "{len_present} class(es) ({present}); training needs labeled items of at least 2 classes. "
                    "Label more items.", name="steel", len_rows=3, len_present=1,
                    present=msg("class.patches", "patches"))  # as learn.train_project words it
        training._JOBS[key] = training.Job(key=key, user="local", params=params, finished=time.time(), error=error)
        w.at.run()
        w.look("train_failed")
        # a finished run whose review queue could not be computed (the disk filled up), with a training note
        disk_full = msg("error.os.disk_full", "the disk is full ({detail})", detail="ENOSPC")
        result = {"run_id": "20261203-104512-a1b2c3", "accuracy": 0.9, "n_items": 40, "seconds": 1.0,
                  "warnings": [training.queue_warning("outliers", disk_full),
                               msg("learn.note.unusable_left_out", "{n} items marked unusable were left out.", n=2)]}
        training._JOBS[key] = training.Job(key=key, user="local", params=params, finished=time.time(),
                                           result=result)
        w.at.run()
        w.look("train_warnings")
        assert sum("ENOSPC" in text for text in w.seen["train_warnings"]) == 1
    finally:
        training._JOBS[key] = real


def _single_user_steps(w, ws, project, src, batch):
    at = w.at
    # Import: a folder with rejected files, then a folder that does not exist (a library error)
    w.page("import_data")
    at.radio(key="imp_source").set_value("folder").run()
    at.text_input(key="imp_folder").input(str(src)).run()
    at.button(key="imp_go").click().run()
    w.look("import_rejected")
    assert len(at.session_state["imp_report"]["rejected"]) == 3
    at.text_input(key="imp_folder").input(str(src.parent / "nope")).run()
    at.button(key="imp_go").click().run()
    w.look("import_missing_folder")
    # Train: progress right after the start, then the finished run
    w.page("train")
    at.selectbox(key="train_model").set_value("logreg")
    at.selectbox(key="train_preset").set_value("fast")
    at.number_input(key="train_folds").set_value(3)
    next(b for b in at.button if b.label == t("train.start", lang=w.lang)).click()
    at.run()
    _wait_training(ws, project, 2)
    assert len(learn.list_runs(ws, project.name)) == 2
    at.run()
    at.run()
    w.look("train_finished")
    _fake_jobs(w, ws, project)
    # Runs: two runs, compared
    w.page("runs")
    w.look("runs_compare")
    # Review: the label-issue queue with an item, then the other queues
    w.page("review")
    for view in REVIEW_VIEWS:
        at.radio(key="rev_view").set_value(view).run()
        w.look(f"review_{view}")
        if view == "issues":
            assert at.session_state["rev_issues"], "the planted wrong labels are in the queue"
    # Predict on a batch
    w.page("predict")
    at.radio(key="pred_source").set_value("folder").run()
    at.text_input(key="pred_folder").input(str(batch)).run()
    at.button(key="pred_go").click().run()
    w.look("predict_results")
    assert len(learn.list_predictions(ws, project.name)) == 4
    at.slider(key="pred_threshold").set_value(1.0).run()
    w.look("predict_queue")
    # Items: one item opened
    w.page("items")
    first = int(learn.list_predictions(ws, project.name)[0]["item_id"])
    at.number_input(key="ib_jump").set_value(first)
    at.button(key="ib_jump_go").click().run()
    w.look("items_open")
    assert at.session_state["ib_open"] == first
    # Export: options and a built zip
    w.page("export")
    at.selectbox(key="ex_format").set_value("coco")
    at.button(key="ex_build").click().run()
    w.look("export_built")
    at.radio(key="ex_labels").set_value("reviewed")
    at.button(key="ex_build").click().run()
    w.look("export_reviewed_none")
    # Manage
    w.page("manage")
    w.look("manage")
    # Label book: a class with examples picked
    w.page("label_book")
    at.selectbox(key="lb_class").set_value("patches").run()
    pick = [b for b in at.button if b.key and b.key.startswith("lbp_examples_")]
    pick[0].click().run()
    at.selectbox(key="lbp_show").set_value("other").run()
    next(b for b in at.button if b.key and b.key.startswith("lbp_counter_examples_")).click().run()
    w.look("label_book_examples")
    entry = get_project(ws, project.id).descriptions["patches"]
    assert len(entry["examples"]) == 1 and len(entry["counter_examples"]) == 1
    # Cut crops with a plate and one box
    w.page("cut_crops")
    at.number_input(key="crop_x0").set_value(10)
    at.number_input(key="crop_y0").set_value(20)
    at.number_input(key="crop_x1").set_value(60)
    at.number_input(key="crop_y1").set_value(50)
    at.selectbox(key="crop_num_class").set_value("patches")
    next(b for b in at.button if b.label == t("crops.add_box", lang=w.lang)).click()
    at.run()
    w.look("cut_crops_box")
    assert items_frame(ws, project.id)["parent_id"].notna().sum() == 1
    # Label page with the single view
    w.page("label")
    w.look("label")


def _team_steps(w, ws):
    team.create_user(ws, "ann", PW, "annotator", by="local", admin_password=ADMIN_PW)
    team.change_password(ws, "ann", PW, PW + "1")
    # a failed sign-in
    at = w.fresh()
    w.look("login_page", at)
    at.text_input(key="login_user").input("ann")
    at.text_input(key="login_password").input("wrong password")
    at.button[0].click()
    at.run()
    w.look("login_failed", at)
    assert at.error and "auth_user" not in at.session_state
    # the annotator: her pages, and a refusal (a lead's page)
    at = w.fresh(user="ann")
    for name in ("label", "items", "team_report", "label_book", "cut_crops"):
        w.page(name, at)
        w.look(f"annotator_{name}", at)
    # the admin's team pages
    at = w.fresh(user="local")
    for name in ("team_users", "team_assign", "team_agreement", "team_report", "team_audit", "team_qc"):
        w.page(name, at)
        w.look(name, at)


@pytest.fixture(scope="module", params=["zh_CN", "en"])
def walk(request, tmp_path_factory):
    from defectlab.ui import common

    lang = request.param
    tmp = tmp_path_factory.mktemp(f"walk_{lang}")
    ws, project, labeled, _unlabeled = demo_workspace(tmp / "ws", n_per_class=8, n_unlabeled=3, train=True)
    _add_plate(ws, project)
    _plant_queue_items(ws, project, labeled)
    src, batch = _source_folders(tmp)
    mp = pytest.MonkeyPatch()
    # AppTest calls the widgets' format_func outside the script run, where st.session_state is not the
    # session's: give it the session's language there as well
    mp.setattr(common, "lang", lambda: lang)
    try:
        w = Walk(ws.root, lang)
        _single_user_steps(w, ws, project, src, batch)
        _team_steps(w, ws)
    finally:
        mp.undo()
    # what the user typed (project, user, folder names; "rust" is the unknown class of the rejected file) and
    # classes without a catalog display name; the demo classes have one, so their raw names must not show
    allowed = ALLOWED | KEYS_AND_NAMES | ERRNO_NAMES | {project.name.lower(), "ann", "local", "rust", "camera",
                                                        "today"} | {
        c.lower() for c in project.classes if class_label(c, lang="zh_CN") == c}
    return lang, w.seen, allowed


STEPS = ["import_rejected", "import_missing_folder", *[f"train_progress_{n}" for n in range(8)], "train_finished",
         "train_failed", "train_warnings", "runs_compare", *[f"review_{v}" for v in REVIEW_VIEWS], "predict_results",
         "predict_queue",
         "items_open", "export_built", "export_reviewed_none", "manage", "label_book_examples", "cut_crops_box",
         "label", "login_page", "login_failed", "annotator_label", "annotator_items", "annotator_team_report",
         "annotator_label_book", "annotator_cut_crops", "team_users", "team_assign",
         "team_agreement", "team_report", "team_audit", "team_qc"]


def test_every_step_was_walked(walk):
    _lang, seen, _allowed = walk
    assert set(STEPS) <= set(seen), sorted(set(STEPS) - set(seen))


@pytest.mark.parametrize("step", STEPS)
def test_page_after_action(walk, step):
    lang, seen, allowed = walk
    texts = seen[step]
    assert _missing_keys(texts) == set(), f"missing catalog keys / unfilled placeholders on {step} ({lang})"
    assert _numbers_and_plurals(texts, lang) == set(), f"unrounded numbers / '1 <plural>' on {step} ({lang})"
    if lang == "zh_CN":
        if step.startswith("import_"):
            # an import rejection names the project's stored class names: the folder names must match them
            allowed = allowed | {c.lower() for c in ("crazing", "patches", "scratches")}
        assert _english(texts, allowed) == set(), f"English words visible on {step} in zh_CN"


def test_number_and_plural_detector():
    assert _numbers_and_plurals(["0.8333333 of 1 items", "1 item, 2 items, 0.83", "#1 items"], "en") == {
        "0.8333333", "1 items"}
    assert _numbers_and_plurals(["1 items"], "zh_CN") == set()


def test_missing_key_detector():
    assert _missing_keys(["import.no_such_key", "导入 {n} 张", "see a.png and zhang.wei", "`nav.x`"]) == {
        "import.no_such_key", "{n}"}
    assert json.dumps(sorted(NAMESPACES))  # the namespaces come from the catalog

