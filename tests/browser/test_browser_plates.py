"""Full images in a real browser: the defect-map overlay and the boxes on the Predict page (accepting a
box stores a crop of the plate), and the model's boxes pre-drawn on the Cut-crops canvas (saving them
stores crops)."""

import re

import pytest
from conftest import new_page, shot, wait_for, wait_ready

from defectlab.store import current_labels, items_frame, list_projects, open_workspace

pytestmark = pytest.mark.browser

NEW_PLATE = "new_plate.png"


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
    page.context.close()


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
