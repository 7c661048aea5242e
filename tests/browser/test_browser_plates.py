"""Full images in a real browser: the defect-map overlay and the boxes on the Predict page (accepting a
box stores a crop of the plate), the model's boxes pre-drawn on the Cut-crops canvas (saving them
stores crops), and last, in team mode, a line supervisor who uploads a plate on Predict, accepts one box
and corrects another (crops with their labels, linked to the plate) without the Cut crops page."""

import re
import time

import pytest
from conftest import new_page, shot, sign_in, wait_for, wait_ready

from defectlab.store import current_labels, items_frame, list_projects, open_workspace

pytestmark = pytest.mark.browser

NEW_PLATE = "new_plate.png"
PREDICT_PLATE = "predict_plate.png"  # searched on Predict (the demo's plates are all cut: no open box on them)


@pytest.fixture(scope="module")
def prepare_workspace():
    """A plate nobody has cut crops from yet, next to the demo's annotated plates."""

    def add(ws):
        import cv2

        from defectlab.demo import make_plate_images
        from defectlab.ingest import add_plate

        project = next(p for p in list_projects(ws) if not items_frame(ws, p.id, role="plate").empty)
        image = make_plate_images(1, 400, 600, random_state=77)[0][0]
        add_plate(ws, project, cv2.imencode(".png", image)[1].tobytes(), NEW_PLATE)
        image = make_plate_images(1, 400, 600, random_state=78)[0][0]
        add_plate(ws, project, cv2.imencode(".png", image)[1].tobytes(), PREDICT_PLATE)

    return add


def _project(server):
    ws = open_workspace(server.root)
    project = next(p for p in list_projects(ws) if not items_frame(ws, p.id, role="plate").empty)
    return ws, project


def _crops(ws, project):
    frame = items_frame(ws, project.id)
    return frame[frame["parent_id"].notna()].set_index("id")


def _open_project(page, server, project):
    page.goto(f"{server.url}/")
    wait_ready(page)
    picker = page.get_by_text(project.name, exact=True)
    if picker.count():
        picker.first.click()
        wait_ready(page)


def test_predict_shows_the_overlay_and_boxes_and_accepting_stores_a_crop(server, browser):
    from defectlab import learn

    ws, project = _project(server)
    if not learn.list_runs(ws, project.name):
        learn.train_project(ws, project.name, folds=3)
    before = set(_crops(ws, project).index)
    page = new_page(browser)
    page.goto(f"{server.url}/predict")
    wait_ready(page)
    page.get_by_text("Full images (plates): where are the defects?").click()
    wait_ready(page)
    page.locator(".st-key-plates_pick").get_by_role("combobox").click()
    page.get_by_role("option", name=re.compile(PREDICT_PLATE)).click()
    wait_ready(page)
    page.get_by_role("button", name="Find defects").click()
    overlay = page.locator("[data-testid='stImage']").filter(has_text=re.compile(r"\d+ boxes \(\d+ windows"))
    overlay.first.wait_for(timeout=120_000)
    wait_ready(page)
    img = overlay.first.locator("img")
    assert img.evaluate("e => e.naturalWidth") > 100
    accept = page.get_by_role("button", name="Accept", exact=True)
    accept.first.wait_for()
    shot(page, "predict_plate_overlay")
    n_boxes = accept.count()
    assert n_boxes >= 1
    accept.first.click()
    new = wait_for(lambda: set(_crops(ws, project).index) - before)
    assert len(new) == 1
    crop = _crops(ws, project).loc[next(iter(new))]
    assert crop["parent_id"] is not None and crop["box"] is not None
    assert current_labels(ws, project.id)[int(next(iter(new)))].label in project.classes
    wait_ready(page)
    page.get_by_text("Accepted: stored as a crop").first.wait_for()
    page.get_by_text("Boxes at the run's calibrated thresholds (per class).").wait_for()
    # where the run's calibrated boxes went wrong on the plates it learned from, and what helps for each
    page.get_by_text("Where this run's boxes go wrong", exact=True).click()
    page.get_by_text(re.compile(r"\d+ boxed defects missed, \d+ boxes wrong")).wait_for()
    box = page.locator("[data-testid='stExpander']").filter(has_text="Where this run's boxes go wrong")
    box.locator("[data-testid='stTable']").wait_for()  # a table: its help texts wrap
    page.wait_for_timeout(500)  # the expander's opening animation
    shot(page, "predict_plate_errors")
    # one lowest box score for every class, chosen on the page: the slider appears and the search uses it
    page.get_by_text("Calibrated box thresholds", exact=True).click()
    wait_ready(page)
    page.get_by_text("Lowest box score", exact=True).wait_for()
    page.get_by_text(re.compile(r"At 0\.30, on the plates this run learned from: \d+% of the boxed")).wait_for()
    wait_ready(page)
    t0 = time.perf_counter()
    page.get_by_role("button", name="Find defects").click()
    page.get_by_text("Boxes with a score of at least 0.30.").wait_for(timeout=120_000)
    print(f"search at a chosen threshold, browser: {time.perf_counter() - t0:.2f} s")
    shot(page, "predict_plate_threshold")
    page.context.close()
    zh = new_page(browser, locale="zh-CN")  # the same control in Chinese
    zh.goto(f"{server.url}/predict")
    wait_ready(zh)
    zh.get_by_text("整幅图像（钢板）：缺陷在哪里？").click()
    wait_ready(zh)  # a click during the rerun the radio started can be lost
    zh.get_by_role("button", name="查找缺陷").wait_for()
    zh.get_by_role("button", name="查找缺陷").click()
    zh.get_by_text("该运行的框在哪里出错", exact=True).click(timeout=120_000)
    zh.get_by_text(re.compile(r"漏检 \d+ 个已标框缺陷，\d+ 个框是错的")).wait_for()
    zh.get_by_text("改进方法", exact=True).wait_for()
    zh.wait_for_timeout(500)
    shot(zh, "predict_plate_errors_zh")
    zh.get_by_text("使用校准的框阈值", exact=True).click()
    wait_ready(zh)
    zh.get_by_text("框的最低得分", exact=True).wait_for()
    zh.get_by_role("button", name="查找缺陷").click()
    zh.get_by_text("得分不低于 0.30 的框。").wait_for(timeout=120_000)
    shot(zh, "predict_plate_threshold_zh")
    zh.context.close()


def test_cut_crops_draws_the_models_suggestions_and_saving_stores_them(server, browser):
    ws, project = _project(server)
    before = set(_crops(ws, project).index)
    page = new_page(browser)
    page.goto(f"{server.url}/cut_crops")
    wait_ready(page)
    page.locator("canvas.upper-canvas").first.wait_for()
    page.locator(".st-key-crop_plate").get_by_role("combobox").click()
    page.get_by_role("option", name=re.compile(NEW_PLATE)).click()
    wait_ready(page)
    page.get_by_role("button", name="Suggest boxes").click()
    page.get_by_text(re.compile(r"\d+ suggested boxes are drawn below")).wait_for(timeout=120_000)
    wait_ready(page)
    save = page.get_by_role("button", name=re.compile(r"Save [1-9]\d* new boxes as crops"))
    save.wait_for(timeout=30_000)  # the canvas reported the pre-drawn boxes back
    shot(page, "cut_crops_suggested")
    n = int(re.search(r"Save (\d+)", save.inner_text()).group(1))
    save.click()
    new = wait_for(lambda: set(_crops(ws, project).index) - before)
    assert len(new) == n
    plate_id = int(items_frame(ws, project.id, role="plate").set_index("source").loc[NEW_PLATE, "id"])
    assert all(int(_crops(ws, project).loc[i, "parent_id"]) == plate_id for i in new)
    labels = current_labels(ws, project.id)
    assert all(labels[int(i)].label in project.classes for i in new)
    page.context.close()


def _plate_issue_run(ws, project):
    """The newest run, trained again with three crops of plates mislabeled when none of its likely label
    errors is a crop of a plate: the Review queue then holds crops with their plates."""
    from defectlab import learn
    from defectlab.quality import compute_run_queues, read_run_queue
    from defectlab.store import annotate

    crops = _crops(ws, project)
    run_id = learn.list_runs(ws, project.name)[0]["run_id"]
    issues = read_run_queue(ws, run_id, "issues")["rows"] if run_id else []
    if any(int(r["item_id"]) in crops.index for r in issues):
        return run_id
    labels = current_labels(ws, project.id)
    for item in [int(i) for i in crops.index if labels.get(int(i)) and labels[int(i)].label == project.classes[0]][:3]:
        annotate(ws, item, project.classes[1])
    run_id = learn.train_project(ws, project.name, model="logreg", preset="fast", folds=3)["run_id"]
    compute_run_queues(ws, run_id)
    return run_id


def test_the_review_surface_shows_a_crop_inside_its_plate(server, browser):
    """The in-browser Review surface (label-error queue): C shows the plate around a crop with its box."""
    from defectlab.quality import read_run_queue
    from defectlab.store import get_item

    ws, project = _project(server)
    run_id = _plate_issue_run(ws, project)
    issues = read_run_queue(ws, run_id, "issues")["rows"]
    crops = _crops(ws, project)
    page = new_page(browser)
    page.goto(f"{server.url}/review?surface=browser")
    wait_ready(page)
    page.get_by_text("Likely label errors", exact=True).first.click()
    page.locator(".dl-root .dl-key").first.wait_for(timeout=120_000)
    context = page.locator("[data-testid=dl-context]")
    for _ in range(len(issues)):  # skip (S) to the first crop cut from a plate
        page.locator(".dl-canvas img").first.wait_for()
        if context.is_enabled():
            break
        page.keyboard.press("s")
    assert context.is_enabled(), "no crop of a plate in the label-error queue"
    item = int(re.search(r"#(\d+) · ", page.locator(".dl-caption").inner_text()).group(1))
    assert item in crops.index
    plate = get_item(ws, int(crops.loc[item, "parent_id"]))
    x0, y0, x1, y1 = crops.loc[item, "box"]
    page.keyboard.press("c")
    assert page.locator(".dl-box").is_visible()
    assert page.locator(".dl-canvas img").evaluate("img => img.naturalWidth") == plate["width"]
    box = page.locator(".dl-box").evaluate("b => [b.style.left, b.style.top, b.style.width, b.style.height]")
    assert box == [f"{x0}px", f"{y0}px", f"{x1 - x0}px", f"{y1 - y0}px"]
    shot(page, "review_surface_plate_context")
    page.context.close()


def test_predict_searches_a_batch_of_plates_and_steps_through_them(server, browser, tmp_path):
    """Several full images uploaded at once: one search for all (a corrupt file named with its reason, the rest
    searched), a table of the batch, and Next shows the next plate's overlay and boxes."""
    import cv2

    from defectlab import learn
    from defectlab.demo import make_plate_images

    ws, project = _project(server)
    if not learn.list_runs(ws, project.name):
        learn.train_project(ws, project.name, folds=3)
    files = []
    for k, (image, _) in enumerate(make_plate_images(2, 400, 600, random_state=61)):
        files.append(tmp_path / f"班次_{k + 1}.png")
        cv2.imencode(".png", image)[1].tofile(str(files[-1]))
    files.append(tmp_path / "truncated.png")
    files[-1].write_bytes(files[0].read_bytes()[:200])
    page = new_page(browser)
    page.goto(f"{server.url}/predict")
    wait_ready(page)
    page.get_by_text("Full images (plates): where are the defects?").click()
    wait_ready(page)
    page.locator(".st-key-plates_upload input[type='file']").set_input_files([str(f) for f in files])
    wait_ready(page)
    find = page.get_by_role("button", name="Find defects on 3 images")
    find.wait_for()
    find.click()
    page.get_by_text("Plate 1 of 2: 班次_1.png").wait_for(timeout=180_000)
    wait_ready(page)
    assert page.locator("[data-testid='stAlert']").filter(has_text="truncated.png").count() == 1
    assert page.locator("[data-testid='stDataFrame']").count() >= 1  # the batch's table
    overlay = page.locator("[data-testid='stImage']").filter(has_text=re.compile(r"班次_1\.png: \d+ boxes"))
    overlay.first.wait_for()
    shot(page, "predict_plate_batch")
    page.locator(".st-key-plates_next button").click()
    page.get_by_text("Plate 2 of 2: 班次_2.png").wait_for()
    wait_ready(page)
    overlay = page.locator("[data-testid='stImage']").filter(has_text=re.compile(r"班次_2\.png: \d+ boxes"))
    overlay.first.wait_for()
    assert overlay.first.locator("img").evaluate("e => e.naturalWidth") > 100
    stored = set(items_frame(ws, project.id, role="plate")["source"])
    assert {"班次_1.png", "班次_2.png"} <= stored and "truncated.png" not in stored
    shot(page, "predict_plate_batch_next")
    # the table: ticking the first row's box shows that plate again
    grid = page.locator("[data-testid='stDataFrame']").first
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 14, box["y"] + 35 + 17)  # the selection column of row 1 (below the header)
    page.get_by_text("Plate 1 of 2: 班次_1.png").wait_for()
    page.context.close()
    # another day, another tab: the batch is gone with its tab, its searches are not
    page = new_page(browser)
    page.goto(f"{server.url}/predict")
    wait_ready(page)
    page.get_by_text("Full images (plates): where are the defects?").click()
    wait_ready(page)
    page.get_by_text("Earlier searches with boxes still open", exact=True).click()
    wait_ready(page)
    reopen = page.get_by_role("button", name=re.compile(r"Review all \d+ plates"))
    reopen.wait_for()
    reopen.click()
    page.get_by_text(re.compile(r"Searched on .* \(UTC\) by ")).first.wait_for(timeout=60_000)
    wait_ready(page)
    assert page.locator("[data-testid='stImage']").filter(has_text="as recorded").count() >= 1
    shot(page, "predict_plate_batch_reopened")
    page.context.close()


SUPERVISOR_PW = "Supervisor-pass-2024"
SUPERVISOR_NEW_PW = "Supervisor-own-2024"
UPLOADED = "line3_plate.png"


def test_a_supervisor_accepts_and_corrects_boxes_on_predict_in_team_mode(server, browser, tmp_path):
    """Runs last: it switches the workspace to team mode."""
    import cv2
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    from defectlab import learn
    from defectlab.demo import make_plate_images
    from defectlab.learn.plate_review import plate_memory
    from defectlab.store import label_history
    from defectlab.team import create_user

    ws, project = _project(server)
    if not learn.list_runs(ws, project.name):
        learn.train_project(ws, project.name, folds=3)
    create_user(ws, "sam", SUPERVISOR_PW, "supervisor", admin_password="Lead-admin-2024!")
    upload = tmp_path / UPLOADED
    cv2.imwrite(str(upload), make_plate_images(1, 400, 600, random_state=95)[0][0])
    page = sign_in(browser, server, "sam", SUPERVISOR_PW, SUPERVISOR_NEW_PW)
    nav = page.locator("[data-testid='stSidebarNav']")
    assert nav.get_by_text("Predict", exact=True).count() == 1
    assert nav.get_by_text("Cut crops", exact=True).count() == 0  # no general box drawing for a supervisor
    nav.get_by_text("Predict", exact=True).click()
    wait_ready(page)
    page.get_by_text("Full images (plates): where are the defects?").click()
    wait_ready(page)
    page.locator(".st-key-plates_upload input[type='file']").set_input_files(str(upload))
    wait_ready(page)
    page.get_by_role("button", name="Find defects").click()
    overlay = page.locator("[data-testid='stImage']").filter(has_text=re.compile(r"\d+ boxes \(\d+ windows"))
    overlay.first.wait_for(timeout=120_000)
    wait_ready(page)
    plate_id = wait_for(lambda: int(items_frame(ws, project.id, role="plate").set_index("source").loc[UPLOADED, "id"])
                        if UPLOADED in set(items_frame(ws, project.id, role="plate")["source"]) else None)
    accept = page.get_by_role("button", name="Accept", exact=True)
    accept.first.wait_for()
    assert accept.count() >= 2, "the test plate should show at least two boxes"
    shot(page, "predict_plate_supervisor")
    before = set(_crops(ws, project).index)
    # box 1: accepted as the model labeled it
    page.locator(f".st-key-plates_ok_{plate_id}_0 button").click()
    first = wait_for(lambda: set(_crops(ws, project).index) - before, message="the accepted box's crop")
    wait_ready(page)
    page.get_by_text("Accepted: stored as a crop").first.wait_for()
    # box 2: corrected to another class, then saved
    other = page.locator("[role='option'][aria-selected='false']").first  # a class other than the model's
    for _ in range(3):  # a rerun that lands just after the click closes the list: open it again
        page.locator(f".st-key-plates_cls_{plate_id}_1").get_by_role("combobox").click()
        try:
            other.wait_for(timeout=5_000)
            break
        except PlaywrightTimeout:
            wait_ready(page)
    other.click()
    wait_ready(page)
    save = page.locator(f".st-key-plates_ok_{plate_id}_1 button")
    assert save.inner_text().strip() == "Save as this class"
    save.click()
    second = wait_for(lambda: set(_crops(ws, project).index) - before - first, message="the corrected box's crop")
    wait_ready(page)
    page.get_by_text(re.compile("^Corrected: stored as ")).first.wait_for()
    shot(page, "predict_plate_supervisor_done")
    crops = _crops(ws, project)
    labels = current_labels(ws, project.id)
    (a,), (c,) = first, second
    assert int(crops.loc[a, "parent_id"]) == plate_id and int(crops.loc[c, "parent_id"]) == plate_id
    assert crops.loc[a, "box"] is not None and crops.loc[c, "box"] is not None
    accepted, corrected = label_history(ws, int(a))[0], label_history(ws, int(c))[0]
    assert (accepted["user"], accepted["source"]) == ("sam", "model") and accepted["run_id"]
    assert (corrected["user"], corrected["source"]) == ("sam", "human")
    assert corrected["comment"].startswith("prediction review: corrected from ")
    assert labels[int(c)].label in project.classes and labels[int(a)].label in project.classes
    decided = {m["crop_id"]: m for m in plate_memory(ws, plate_id)}
    assert decided[int(a)]["decision"] == "accepted" and decided[int(a)]["label"] == decided[int(a)]["model_label"]
    assert decided[int(c)]["decision"] == "corrected" and decided[int(c)]["label"] != decided[int(c)]["model_label"]
    assert decided[int(c)]["label"] == labels[int(c)].label and decided[int(c)]["user"] == "sam"
    page.context.close()
