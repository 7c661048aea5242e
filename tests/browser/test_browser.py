"""The workbench in a real browser: number keys, grid selection, drawing a box with the mouse,
training, reviewing; a screenshot of every page under test-output/screenshots/."""


import pytest
from conftest import new_page, shot, wait_for, wait_ready

from defectlab.store import current_labels, items_frame, label_history, list_projects, open_workspace

pytestmark = pytest.mark.browser


def _project(server):
    ws = open_workspace(server.root)
    return ws, list_projects(ws)[0]


def _human_labels(ws, project):
    frame = items_frame(ws, project.id)
    return {int(i): s for i, s in zip(frame["id"], frame["label_source"], strict=True) if s == "human"}


def test_label_three_items_with_number_keys(server, browser):
    ws, project = _project(server)
    before = _human_labels(ws, project)
    page = new_page(browser)
    page.goto(f"{server.url}/label")
    wait_ready(page)
    page.get_by_role("button", name="1 · ").first.wait_for()
    shot(page, "label_single")
    for key in ("1", "2", "3"):
        page.keyboard.press(key)
        page.wait_for_timeout(250)
    after = wait_for(lambda: len(_human_labels(ws, project)) >= len(before) + 3 and _human_labels(ws, project))
    new = sorted(set(after or {}) - set(before))
    assert len(new) == 3
    labels = current_labels(ws, project.id)
    assert [labels[i].label for i in new] == list(project.classes[:3])
    assert all(label_history(ws, i)[-1]["seconds"] is not None for i in new)
    page.context.close()


def test_grid_label_a_selection(server, browser):
    ws, project = _project(server)
    before = _human_labels(ws, project)
    page = new_page(browser)
    page.goto(f"{server.url}/label")
    wait_ready(page)
    page.get_by_text("Grid", exact=True).click()
    wait_ready(page)
    boxes = page.locator("[data-testid='stCheckbox']")
    boxes.first.wait_for()
    for k in range(3):
        boxes.nth(k).click()
        wait_ready(page)
    shot(page, "label_grid")
    page.locator("h1").first.click()  # focus off the checkbox: shortcuts are ignored inside inputs
    page.keyboard.press("2")
    after = wait_for(lambda: len(_human_labels(ws, project)) >= len(before) + 3 and _human_labels(ws, project))
    new = sorted(set(after or {}) - set(before))
    assert len(new) == 3
    labels = current_labels(ws, project.id)
    assert {labels[i].label for i in new} == {project.classes[1]}
    page.context.close()


def test_draw_a_box_on_a_full_image(server, browser):
    ws, project = _project(server)
    crops_before = _crop_ids(ws, project)
    page = new_page(browser)
    page.goto(f"{server.url}/cut_crops")
    wait_ready(page)
    canvas = page.locator("canvas.upper-canvas").first
    canvas.wait_for()
    page.wait_for_timeout(500)
    box = canvas.bounding_box()
    x, y = box["x"], box["y"]
    page.mouse.move(x + 20, y + 20)
    page.mouse.down()
    page.mouse.move(x + 80, y + 60, steps=8)
    page.mouse.move(x + 120, y + 90, steps=8)
    page.mouse.up()
    wait_ready(page)
    save = page.get_by_role("button", name="Save 1 new boxes as crops")
    save.wait_for()
    shot(page, "cut_crops_drawn")
    save.click()
    new = wait_for(lambda: _crop_ids(ws, project) - crops_before)
    assert len(new) == 1
    frame = items_frame(ws, project.id).set_index("id")
    crop = frame.loc[next(iter(new))]
    x0, y0, x1, y1 = crop["box"]
    assert x1 - x0 > 10 and y1 - y0 > 10
    page.context.close()


def _crop_ids(ws, project):
    frame = items_frame(ws, project.id)
    return set(int(i) for i in frame[frame["parent_id"].notna()]["id"])


PAGES = ["projects", "import_data", "cut_crops", "label_book", "label", "train", "runs", "review",
         "predict", "settings", "team_users"]


@pytest.mark.parametrize("locale,suffix", [("en-US", "en"), ("zh-CN", "zh")])
def test_screenshot_every_page(server, browser, locale, suffix):
    page = new_page(browser, locale=locale)
    errors = []
    for name in PAGES:
        page.goto(f"{server.url}/{'' if name == 'projects' else name}")
        wait_ready(page)
        page.wait_for_timeout(400)
        shot(page, f"{suffix}_{name}")
        if page.locator("[data-testid='stException']").count():
            errors.append(name)
    if suffix == "zh":
        page.goto(f"{server.url}/label")
        wait_ready(page)
        assert page.get_by_text("标注").count() > 0
    page.context.close()
    assert errors == [], f"pages with a traceback: {errors}"


def _review_rows(ws, project):
    with ws.read() as conn:
        return conn.execute(
            "SELECT a.item_id, a.label FROM annotations a JOIN items i ON i.id = a.item_id "
            "WHERE i.project_id = ? AND a.source = 'review' AND a.retracts IS NULL", (project.id,)).fetchall()


def test_train_a_run_then_review_accepts_a_suggestion(server, browser):
    from defectlab import learn

    ws, project = _project(server)
    n_runs = len(learn.list_runs(ws, project.name))
    page = new_page(browser)
    page.goto(f"{server.url}/train")
    wait_ready(page)
    page.get_by_role("button", name="Start training").click()
    page.get_by_text("finished in").first.wait_for(timeout=180_000)
    wait_ready(page)
    shot(page, "train_done")
    assert len(learn.list_runs(ws, project.name)) == n_runs + 1

    page.goto(f"{server.url}/runs")
    wait_ready(page)
    shot(page, "runs_after_training")

    before = len(_review_rows(ws, project))
    page.goto(f"{server.url}/review")
    wait_ready(page)
    shot(page, "review_confusion")
    # keys of the label-error queue on the confusion-matrix view: nothing may change (one view runs)
    page.locator("h1").first.click()
    for key in ("A", "K", "U", "1", "2"):
        page.keyboard.press(key)
        page.wait_for_timeout(300)
    wait_ready(page)
    assert len(_review_rows(ws, project)) == before
    page.get_by_text("Likely label errors", exact=True).first.click()  # the view radio
    wait_ready(page)
    accept = page.get_by_role("button", name="Accept")
    if accept.count():
        shot(page, "review_issue")
        page.locator("h1").first.click()
        page.keyboard.press("A")
    else:  # no issue queue: accept the model's prediction for an item of the worst cell
        page.get_by_text("Confusion matrix", exact=True).first.click()
        wait_ready(page)
        page.locator("[data-testid='stCheckbox']").first.click()
        wait_ready(page)
        relabel = page.get_by_role("button", name="Relabel as")
        (relabel.first if relabel.first.is_enabled() else page.get_by_role("button", name="is right")).click()
    rows = wait_for(lambda: len(_review_rows(ws, project)) > before and _review_rows(ws, project))
    assert rows and len(rows) > before
    wait_ready(page)
    shot(page, "review_after_decision")
    page.context.close()


def test_predict_todays_batch_and_confirm_with_enter(server, browser):
    from defectlab import learn

    ws, project = _project(server)
    if not learn.list_runs(ws, project.name):
        learn.train_project(ws, project.name, model="logreg", folds=3)
    batch = server.root / "demo-files" / "batch"
    page = new_page(browser)
    page.goto(f"{server.url}/predict")
    wait_ready(page)
    if not batch.is_dir():
        pytest.skip("no demo batch folder in this workspace")
    page.get_by_text("A folder on this server").click()
    wait_ready(page)
    box = page.get_by_role("textbox", name="Folder path on the server")
    if box.input_value() != str(batch):
        box.fill(str(batch))
        box.press("Enter")
        wait_ready(page)
    page.get_by_role("button", name="Predict the batch").click()
    page.get_by_text("Which predictions need a person").wait_for(timeout=120_000)
    wait_ready(page)
    # make sure something needs a person, then confirm it with Enter
    preds = learn.list_predictions(ws, project.name)
    assert preds
    shot(page, "predict_results")
    before = {r["item_id"] for r in preds if r["decision"] is not None}
    confirm = page.get_by_role("button", name="Correct:")
    if confirm.count():
        page.locator("h1").first.click()
        page.keyboard.press("Enter")
        after = wait_for(lambda: {r["item_id"] for r in learn.list_predictions(ws, project.name)
                                   if r["decision"] is not None} - before)
        assert after
    page.context.close()
