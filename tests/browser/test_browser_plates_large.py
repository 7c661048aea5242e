"""A camera image far larger than the plates a run learned from, in a real browser: Predict finds its boxes,
warns that the plates' numbers do not hold for it and shows none of them, in English and in Chinese."""

import re
import time

import pytest
from conftest import new_page, shot, wait_ready

from defectlab.store import items_frame, list_projects, open_workspace

pytestmark = pytest.mark.browser


def _upload_and_find(page, path, section, find):
    page.get_by_text(section).click()
    wait_ready(page)
    page.locator(".st-key-plates_upload input[type='file']").set_input_files(str(path))
    wait_ready(page)
    t0 = time.perf_counter()
    page.get_by_role("button", name=find).click()
    return t0


def test_predict_warns_about_a_far_larger_image_in_both_languages(server, browser, tmp_path):
    import cv2

    from defectlab import learn
    from defectlab.demo import make_plate_images

    ws = open_workspace(server.root)
    project = next(p for p in list_projects(ws) if not items_frame(ws, p.id, role="plate").empty)
    if not learn.list_runs(ws, project.name):
        learn.train_project(ws, project.name, folds=3)
    camera = tmp_path / "camera_plate.png"  # 3x the demo's 400 x 600 plates along each side
    cv2.imwrite(str(camera), make_plate_images(1, 1200, 1800, random_state=41)[0][0])
    page = new_page(browser)
    page.goto(f"{server.url}/predict")
    wait_ready(page)
    t0 = _upload_and_find(page, camera, "Full images (plates): where are the defects?", "Find defects")
    warning = page.locator("[data-testid='stAlert']").filter(has_text="far from the size of the plates this run")
    warning.wait_for(timeout=120_000)
    print(f"camera image searched and warned, browser: {time.perf_counter() - t0:.2f} s")
    wait_ready(page)
    assert re.search(r"\(1800x1200\).*about 600x400", warning.inner_text())
    page.locator("[data-testid='stImage']").filter(has_text=re.compile(r"\d+ boxes")).first.wait_for()
    assert page.get_by_text(re.compile("^On the plates this run learned from")).count() == 0
    warning.scroll_into_view_if_needed()
    shot(page, "predict_plate_tiled")
    page.context.close()
    zh = new_page(browser, locale="zh-CN")
    zh.goto(f"{server.url}/predict")
    wait_ready(zh)
    _upload_and_find(zh, camera, "整幅图像（钢板）：缺陷在哪里？", "查找缺陷")
    warning = zh.locator("[data-testid='stAlert']").filter(has_text="相差很大")
    warning.wait_for(timeout=120_000)
    wait_ready(zh)
    assert "（1800x1200）" in warning.inner_text() and "约 600x400" in warning.inner_text()
    warning.scroll_into_view_if_needed()
    shot(zh, "predict_plate_tiled_zh")
    zh.context.close()
