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
    assert _grid(page).count() == 24   # a full first page of thumbnails, every one loaded
    wait_for(lambda: _loaded_images(page) >= 24, message=lambda: f"{_loaded_images(page)} of 24 thumbnails loaded")
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
    page.locator("[data-testid='stDataFrame']").first.wait_for()   # the history table
    shot(page, f"items_open_{lang}")
    page.context.close()


def _boxed_crops(ws, project, plate_shas=None):
    """Sorted ``(plate sha256, box, label)`` of the labeled crops cut from plates (optionally only plates
    with these contents)."""
    from defectlab.store import UNUSABLE, items_frame

    plates = items_frame(ws, project.id, role="plate").set_index("id")["sha256"].to_dict()
    crops = items_frame(ws, project.id)
    out = []
    for parent, box, label in zip(crops["parent_id"], crops["box"], crops["label"], strict=True):
        if parent is None or parent != parent or label is None or label == UNUSABLE:
            continue
        sha = plates[int(parent)]
        if plate_shas is None or sha in plate_shas:
            out.append((sha, tuple(int(v) for v in box), label))
    return sorted(out)


@pytest.mark.parametrize(("locale", "fmt", "layout"), [("en-US", "imagefolder", "folders"),
                                                       ("zh-CN", "yolo", "yolo"), ("zh-CN", "voc", "voc")])
def test_export_downloads_a_reimportable_zip(server, browser, tmp_path, locale, fmt, layout):
    """The Export page's zip re-imports to the same labels; YOLO and VOC put every crop back on its plate
    with the same box (a standalone crop comes back as one whole-image box)."""
    from defectlab.ingest import import_source
    from defectlab.store import get_project, items_frame

    ws, project = _project(server)
    zh = locale == "zh-CN"
    page = new_page(browser, locale=locale)
    page.goto(f"{server.url}/export")
    wait_ready(page)
    if fmt != "imagefolder":
        page.locator(".st-key-ex_format").get_by_role("combobox").click()
        page.get_by_role("option", name={"yolo": "YOLO（标注框）", "voc": "Pascal VOC（标注框）"}[fmt]).click()
        wait_ready(page)
    page.get_by_role("button", name="生成压缩包" if zh else "Prepare the zip").click()
    wait_ready(page)
    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("button", name="下载" if zh else "Download").click()
    assert download.value.suggested_filename.endswith(f"-{fmt}-all.zip")
    path = tmp_path / "export.zip"
    download.value.save_as(path)
    shot(page, f"export_ready_{fmt}_{'zh' if zh else 'en'}")
    names = zipfile.ZipFile(io.BytesIO(path.read_bytes())).namelist()
    assert any(n.endswith(".png") or n.endswith(".jpg") for n in names)
    out = tmp_path / "unzipped"
    zipfile.ZipFile(path).extractall(out)
    report = import_source(ws, f"round trip {fmt}", out, layout=layout)
    assert report.imported > 0 and not report.rejected
    back = get_project(ws, f"round trip {fmt}")
    labels = sorted(items_frame(ws, back.id)["label"].dropna())
    from defectlab.store import UNUSABLE

    assert labels == sorted(x for x in items_frame(ws, project.id)["label"].dropna() if x != UNUSABLE)
    if fmt in ("yolo", "voc"):
        original = _boxed_crops(ws, project)
        assert original, "the demo project has crops cut from plates"
        assert _boxed_crops(ws, back, {sha for sha, _, _ in original}) == original
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


def test_a_refresh_keeps_the_chosen_project(server, browser):
    """Found by a fresh-user pass: F5 switched back to the first project (an inspector could then label or train
    the wrong one). The project is in the address now."""
    ws = open_workspace(server.root)
    second = list_projects(ws)[1].name
    page = new_page(browser)
    page.goto(f"{server.url}/train?project={second.replace(' ', '+')}")
    wait_ready(page)
    page.get_by_role("heading", name=f"Train — {second}").wait_for()
    page.reload()
    wait_ready(page)
    page.get_by_role("heading", name=f"Train — {second}").wait_for()
    assert "project=" in page.url
    page.context.close()
