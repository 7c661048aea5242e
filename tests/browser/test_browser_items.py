"""The item browser and the export download in a real browser (en and zh_CN): thumbnails show, a filter
narrows the grid, ticked items are labeled with a number key, an opened item shows its picture and history;
the Export page downloads a zip that re-imports to the same labels."""

import io
import zipfile

import pytest
from conftest import new_page, shot, wait_for, wait_ready

from defectlab.store import current_label, list_projects, open_workspace
from defectlab.store.browse import query_items

pytestmark = pytest.mark.browser


def _project(server):
    ws = open_workspace(server.root)
    return ws, list_projects(ws)[0]


def _grid(page):
    return page.locator("[data-testid='stCheckbox']").filter(has_text="#")


def _loaded_images(page):
    return page.evaluate("() => [...document.images].filter(i => i.complete && i.naturalWidth > 0).length")


@pytest.mark.parametrize(("locale", "lang"), [("en-US", "en"), ("zh-CN", "zh_CN")])
def test_browse_filter_select_label_open(server, browser, locale, lang):
    ws, project = _project(server)
    page = new_page(browser, locale=locale)
    page.goto(f"{server.url}/items")
    wait_ready(page)
    _grid(page).first.wait_for()
    assert _grid(page).count() == 24 and _loaded_images(page) >= 24   # a full first page of thumbnails
    shot(page, f"items_grid_{lang}")
    unlabeled = query_items(ws, project, {"unlabeled": True}, limit=3)["items"]
    target = unlabeled[0]["source"]
    source_box = page.get_by_role("textbox", name="Source path" if lang == "en" else "来源路径")
    source_box.fill(target)
    source_box.press("Enter")
    wait_ready(page)
    wait_for(lambda: _grid(page).count() == 1)
    assert _grid(page).count() == 1
    _grid(page).first.click()
    wait_ready(page)
    page.locator("h1").first.click()   # focus off the checkbox: shortcuts are ignored inside inputs
    page.keyboard.press("2")
    item = unlabeled[0]["item_id"]
    assert wait_for(lambda: current_label(ws, item).label == project.classes[1])
    wait_ready(page)
    page.get_by_role("button", name="Open" if lang == "en" else "打开").last.click()
    wait_ready(page)
    page.get_by_text(f"#{item}").first.wait_for()
    assert page.locator("[data-testid='stDataFrame']").count() >= 1   # the history table
    shot(page, f"items_open_{lang}")
    page.context.close()


def test_export_downloads_a_reimportable_zip(server, browser, tmp_path):
    ws, _ = _project(server)
    page = new_page(browser)
    page.goto(f"{server.url}/export")
    wait_ready(page)
    page.get_by_role("button", name="Prepare the zip").click()
    wait_ready(page)
    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("button", name="Download").click()
    path = tmp_path / "export.zip"
    download.value.save_as(path)
    shot(page, "export_ready")
    names = zipfile.ZipFile(io.BytesIO(path.read_bytes())).namelist()
    assert any(n.endswith(".png") or n.endswith(".jpg") for n in names)
    out = tmp_path / "unzipped"
    zipfile.ZipFile(path).extractall(out)
    from defectlab.ingest import import_source

    report = import_source(ws, "round trip", out, layout="folders")
    assert report.imported > 0 and not report.rejected
    page.context.close()


def test_no_request_leaves_the_machine(server, browser):
    """The page icon and everything else come from the app's own server (no outside font host)."""
    page = new_page(browser)
    hosts = []
    page.on("request", lambda r: hosts.append(r.url.split("/")[2] if "://" in r.url else r.url[:20]))
    page.goto(f"{server.url}/items")
    wait_ready(page)
    page.wait_for_timeout(1000)
    outside = {h for h in hosts if not h.startswith(("127.0.0.1", "localhost")) and not h.startswith("data:")}
    assert outside == set()
    icon = page.evaluate("() => [...document.querySelectorAll('link[rel*=icon]')].map(l => l.href)")
    assert icon and all(h.startswith(server.url) or h.startswith("data:") for h in icon)
    page.context.close()


def test_upload_box_speaks_chinese(server, browser):
    """Streamlit's own upload-box text is replaced in 简体中文 (the visible ::after text)."""
    page = new_page(browser, locale="zh-CN")
    page.goto(f"{server.url}/import_data")
    wait_ready(page)
    page.locator("[data-testid='stFileUploaderDropzone']").first.wait_for()
    shown = page.evaluate("""() => {
        const sel = (q) => document.querySelector(q);
        const after = (el) => el ? getComputedStyle(el, '::after').content : '';
        return [after(sel("[data-testid='stFileUploaderDropzone'] button [data-testid='stMarkdownContainer'] p")),
                after(sel("[data-testid='stFileUploaderDropzoneInstructions'] span"))];
    }""")
    assert "上传" in shown[0] and "每个文件" in shown[1]
    page.context.close()
