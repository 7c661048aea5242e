"""The in-browser labeling surface in Chromium: fast keys survive a server restart (every label stored
exactly once), a conflicting change shows its message on the item, zoom / contrast / invert / plate
context work, the grid selects with click and shift-click, the Review queue answers keys only on the
visible panel, and the surface speaks English and 简体中文.

These tests start their own Streamlit server on a small workspace (no trained run needed) so they can
restart it; the Review test uses the shared demo server.
"""

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

import cv2
import numpy as np
import pytest
from conftest import CHROMIUM, REPO, _free_port, new_page, shot, wait_for, wait_ready

from defectlab.store import current_label, label_history, list_projects, open_workspace

pytestmark = pytest.mark.browser

N_CROPS = 70
CAPTION = re.compile(r"#(\d+) · ")


def _build(root):
    """One project: a 240x200 plate with 4 crops cut from it first, then plain crops."""
    sys.path.insert(0, str(REPO / "tests"))
    from ui_support import tiny_workspace

    from defectlab.ingest.importer import add_crops, add_plate

    ws, project, _ = tiny_workspace(root, n_items=0, classes=("scratch", "pit", "scale"))
    rng = np.random.default_rng(3)
    plate = rng.integers(40, 200, (200, 240), dtype=np.uint8)
    plate_id, _ = add_plate(ws, project.name, cv2.imencode(".png", plate)[1].tobytes(), "plate_a.png")
    add_crops(ws, project.name, plate_id, [(None, 10, 20, 70, 60), (None, 100, 30, 160, 90),
                                           (None, 20, 120, 90, 180), (None, 150, 110, 230, 190)])
    sys.path.insert(0, str(REPO / "tests"))
    from ui_support import png

    from defectlab.store import add_item, create_batch

    with ws.transaction() as conn:
        batch = create_batch(conn, project.id, "import", "tiny", "local")
        for k in range(N_CROPS):
            data = png(k + 50, size=48)
            sha, rel = ws.put_blob(data, "png")
            add_item(conn, project.id, sha256=sha, blob=rel, width=48, height=48, channels=1,
                     source=f"crops/{k:03d}.png", batch_id=batch)
    return ws


class _Server:
    def __init__(self, root):
        self.root, self.port, self.proc, self.log = root, _free_port(), None, None
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self):
        env = {**os.environ, "DEFECTLAB_WORKSPACE": str(self.root), "DEFECTLAB_LABEL_SURFACE": "browser"}
        self.log = open(self.root.parent / "streamlit.log", "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(REPO / "app.py"), "--server.headless", "true",
             "--server.port", str(self.port), "--browser.gatherUsageStats", "false",
             "--server.fileWatcherType", "none"],
            cwd=REPO, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:  # noqa: S310
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        pytest.fail("streamlit did not start: " + (self.root.parent / "streamlit.log").read_text()[-2000:])

    def stop(self):
        if self.proc is None:
            return
        os.killpg(self.proc.pid, signal.SIGKILL)  # as a crash would: no goodbye to the browser
        self.proc.wait(timeout=10)
        self.log.close()
        self.proc = None


@pytest.fixture(scope="module")
def own_server(tmp_path_factory):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"Chromium not found at {CHROMIUM}; browser tests skipped")
    root = tmp_path_factory.mktemp("labeler") / "ws"
    _build(root)
    srv = _Server(root)
    srv.start()
    yield srv
    srv.stop()


def _open(browser, url, locale="en-US"):
    page = new_page(browser, locale=locale)
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    wait_ready(page)
    page.locator(".dl-root .dl-key").first.wait_for()
    page.locator(".dl-canvas img").first.wait_for()
    return page, errors


def _item_id(page):
    return int(CAPTION.search(page.locator(".dl-caption").inner_text()).group(1))


def _pending(page):
    return int(page.locator(".dl-saved").get_attribute("data-pending"))


def _humans(ws):
    with ws.read() as conn:
        return conn.execute("SELECT item_id, label FROM annotations WHERE source = 'human' AND retracts IS NULL "
                            "ORDER BY id").fetchall()


def test_plate_context_zoom_contrast_invert_and_help(own_server, browser):
    page, errors = _open(browser, f"{own_server.url}/label?surface=browser")
    root = page.locator(".dl-root")
    shot(page, "labeler_single")
    # a crop cut from a plate comes first: the plate around it, with its box drawn
    assert page.locator("[data-testid=dl-context]").is_enabled()
    crop_w = page.locator(".dl-canvas img").evaluate("img => img.naturalWidth")
    page.keyboard.press("c")
    assert page.locator(".dl-box").is_visible()
    assert page.locator(".dl-canvas img").evaluate("img => img.naturalWidth") == 240 != crop_w
    box = page.locator(".dl-box").evaluate("b => [b.style.left, b.style.top, b.style.width, b.style.height]")
    assert box == ["10px", "20px", "60px", "40px"]
    shot(page, "labeler_plate_context")
    page.locator("[data-testid=dl-context]").click()
    assert not page.locator(".dl-box").is_visible()
    # wheel zoom at the pointer, drag to pan, 1:1 pixels, fit
    fit = float(root.get_attribute("data-zoom"))
    stage = page.locator(".dl-stage").bounding_box()
    page.mouse.move(stage["x"] + stage["width"] / 2, stage["y"] + stage["height"] / 2)
    page.mouse.wheel(0, -300)
    page.wait_for_timeout(100)
    zoomed = float(root.get_attribute("data-zoom"))
    assert zoomed > fit
    before = page.locator(".dl-canvas").evaluate("c => c.style.transform")
    page.mouse.down()
    page.mouse.move(stage["x"] + stage["width"] / 2 + 60, stage["y"] + stage["height"] / 2 + 30, steps=4)
    page.mouse.up()
    assert page.locator(".dl-canvas").evaluate("c => c.style.transform") != before
    page.keyboard.press("x")
    assert float(root.get_attribute("data-zoom")) == 1.0
    assert "pixelated" in page.locator(".dl-canvas img").evaluate("i => getComputedStyle(i).imageRendering")
    # brightness / contrast / invert are kept across items; R resets them
    page.keyboard.press("]")
    page.keyboard.press("'")
    page.keyboard.press("i")
    flt = root.get_attribute("data-filter")
    assert "brightness(1.1)" in flt and "contrast(1.1)" in flt and "invert(1)" in flt
    page.keyboard.press("s")  # skip: the next item keeps the look
    assert root.get_attribute("data-filter") == flt
    page.locator("[data-testid=dl-brightness]").fill("2")
    assert "brightness(2)" in root.get_attribute("data-filter")
    page.keyboard.press("r")
    assert root.get_attribute("data-filter") == "brightness(1) contrast(1)"
    page.keyboard.press("?")
    assert page.locator(".dl-help").is_visible() and "Keyboard shortcuts" in page.locator(".dl-help").inner_text()
    shot(page, "labeler_help")
    page.keyboard.press("Escape")
    assert not page.locator(".dl-help").is_visible()
    assert errors == []
    page.context.close()


def test_fifty_fast_keys_survive_a_server_restart_exactly_once(own_server, browser):
    ws = open_workspace(own_server.root)
    before = len(_humans(ws))
    page, errors = _open(browser, f"{own_server.url}/label?surface=browser")
    page.locator(".dl-root").click(position={"x": 5, "y": 5})
    first = _item_id(page)
    pressed = []
    shown = page.locator(".dl-placeholder")
    for k in range(50):
        key = str(k % 3 + 1)
        shown.wait_for(state="hidden")  # a key labels the item on screen (20 are held ahead)
        pressed.append((_item_id(page), key))
        page.keyboard.press(key)
    assert _pending(page) > 0  # the page says what is not saved yet
    own_server.stop()
    time.sleep(1.0)
    own_server.start()
    # the browser reconnects by itself and sends what is not acknowledged yet
    page.locator(".dl-saved[data-pending='0']").wait_for(timeout=90_000)

    def unsaved():
        return (f"{len(_humans(ws)) - before} labels stored for 50 keys: " + page.locator(".dl-saved").inner_text()
                + str(page.evaluate("[...window.__defectlabLabeler.instances.label.ledger.values()]"
                                    ".filter(e => e.status !== 'saved')")))

    rows = wait_for(lambda: len(_humans(ws)) >= before + 50 and _humans(ws), timeout=30, message=unsaved)
    new = rows[before:]
    assert len(new) == 50, unsaved()
    items = [r["item_id"] for r in new]
    assert len(set(items)) == 50  # each item once
    project = list_projects(ws)[0]
    classes = list(project.classes)
    expected = {item: classes[int(key) - 1] for item, key in pressed}
    assert {r["item_id"]: r["label"] for r in new} == expected
    assert pressed[0][0] == first
    with ws.read() as conn:
        assert conn.execute("SELECT COUNT(*) FROM label_ops").fetchone()[0] >= 50
    assert all(label_history(ws, i)[-1]["seconds"] is not None for i in items[:5])
    assert errors == []
    page.context.close()


def test_a_conflicting_change_shows_its_message(own_server, browser):
    ws = open_workspace(own_server.root)
    page, _ = _open(browser, f"{own_server.url}/label?surface=browser")
    item = _item_id(page)
    from defectlab.store import annotate

    annotate(ws, item, "scale", user="local", source="import")  # somebody else, meanwhile
    page.keyboard.press("1")
    page.keyboard.press("b")  # back to it: the message is on the item
    status = page.locator("[data-testid=dl-status]")
    status.filter(has_text="changed by").wait_for(timeout=30_000)
    assert f"#{item}" in status.inner_text()
    assert "conflict" in status.get_attribute("class")
    assert current_label(ws, item).label == "scale"  # nothing overwritten
    assert "not saved" in page.locator(".dl-saved").inner_text()
    shot(page, "labeler_conflict")
    page.context.close()


def test_grid_click_shift_click_and_a_key(own_server, browser):
    ws = open_workspace(own_server.root)
    before = len(_humans(ws))
    page = new_page(browser)
    page.goto(f"{own_server.url}/label?surface=browser")
    wait_ready(page)
    page.get_by_text("Grid", exact=True).click()
    wait_ready(page)
    tiles = page.locator(".dl-tile img")
    tiles.nth(3).wait_for()
    page.locator(".dl-tile").nth(0).click()
    page.locator(".dl-tile").nth(3).click(modifiers=["Shift"])
    assert page.locator(".dl-tile.dl-selected").count() == 4
    shot(page, "labeler_grid")
    page.keyboard.press("2")
    rows = wait_for(lambda: len(_humans(ws)) >= before + 4 and _humans(ws), timeout=30)
    new = rows[before:]
    assert len(new) == 4 and {r["label"] for r in new} == {"pit"}
    assert page.locator(".dl-tile.dl-selected").count() == 0
    page.context.close()


def test_chinese_surface(own_server, browser):
    page, errors = _open(browser, f"{own_server.url}/label?surface=browser", locale="zh-CN")
    text = page.locator(".dl-root").inner_text()
    assert "亮度" in text and "对比度" in text and "全部已保存" in text
    page.keyboard.press("?")
    assert "键盘快捷键" in page.locator(".dl-help").inner_text()
    shot(page, "labeler_zh")
    assert errors == []
    page.context.close()


def test_review_keys_act_only_on_the_visible_panel(server, browser):
    ws = open_workspace(server.root)
    page = new_page(browser)
    page.goto(f"{server.url}/review?surface=browser")
    wait_ready(page)

    def reviews():
        with ws.read() as conn:
            return conn.execute("SELECT COUNT(*) FROM annotations WHERE source = 'review'").fetchone()[0]

    page.get_by_text("Likely label errors", exact=True).first.click()  # the view radio
    page.locator(".dl-root .dl-key").first.wait_for(timeout=120_000)
    page.get_by_text("Confusion matrix", exact=True).first.click()
    # the view radio renders only the chosen view: once the rerun has removed the surface, keys reach nothing
    page.locator(".dl-root .dl-key").first.wait_for(state="detached", timeout=60_000)
    start = reviews()
    page.keyboard.press("a")  # the surface is not on the visible view: nothing happens
    page.wait_for_timeout(1500)
    assert reviews() == start
    page.get_by_text("Likely label errors", exact=True).first.click()  # the view radio
    page.locator(".dl-canvas img").first.wait_for()
    item = _item_id(page)
    page.keyboard.press("a")  # focus is still on the view radio: the visible surface takes the key
    assert wait_for(lambda: reviews() > start, timeout=30)
    row = label_history(ws, item)[-1]
    assert row["source"] == "review" and "accepted suggestion" in row["comment"]
    shot(page, "labeler_review")
    page.context.close()


def test_predict_confirm_with_enter_and_correct_with_a_number(server, browser):
    from defectlab import learn

    ws = open_workspace(server.root)
    project = list_projects(ws)[0]
    run = learn.list_runs(ws, project)[0]
    learn.predict_batch(ws, project, run["run_id"], server.root / "demo-files" / "batch", user="local")
    page = new_page(browser)
    page.goto(f"{server.url}/predict?surface=browser")
    wait_ready(page)
    slider = page.get_by_role("slider").first
    slider.focus()
    page.keyboard.press("End")  # threshold 1.0: every prediction needs a person
    wait_ready(page)
    page.locator(".dl-root .dl-key").first.wait_for(timeout=60_000)
    page.locator(".dl-canvas img").first.wait_for()
    first = _item_id(page)
    page.keyboard.press("Enter")  # the model is right
    second = _item_id(page)
    page.keyboard.press("2")  # the right class is the second one
    page.locator(".dl-saved[data-pending='0']").wait_for(timeout=30_000)
    confirmed, corrected = label_history(ws, first)[-1], label_history(ws, second)[-1]
    assert confirmed["source"] == "model" and confirmed["comment"] == "confirmed"
    assert corrected["label"] == project.classes[1]
    assert corrected["source"] in ("model", "review")
    page.context.close()
