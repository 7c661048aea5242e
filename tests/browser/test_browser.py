"""The workbench in a real browser: number keys, grid selection, drawing a box with the mouse,
training, reviewing; a screenshot of every page under test-output/screenshots/."""

import time

import pytest

from conftest import new_page, shot, wait_ready
from defectlab.store import current_labels, items_frame, label_history, list_projects, open_workspace

pytestmark = pytest.mark.browser


def _project(server):
    ws = open_workspace(server.root)
    return ws, list_projects(ws)[0]


def _human_labels(ws, project):
    frame = items_frame(ws, project.id)
    return {int(i): s for i, s in zip(frame["id"], frame["label_source"]) if s == "human"}


def _wait_for(predicate, timeout=20.0):
    end = time.time() + timeout
    while time.time() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    return predicate()


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
    after = _wait_for(lambda: len(_human_labels(ws, project)) >= len(before) + 3 and _human_labels(ws, project))
    new = sorted(set(after) - set(before))
    assert len(new) == 3
    labels = current_labels(ws, project.id)
    assert [labels[i].label for i in new] == list(project.classes[:3])
    assert all(label_history(ws, i)[-1]["seconds"] is not None for i in new)
    page.context.close()
