"""Import page: uploads and a server folder land in the store; rejected files are listed with reasons."""

from streamlit.testing.v1 import AppTest
from ui_support import APP, PAGES, app, no_exception, png, tiny_workspace

from defectlab.store import current_labels, get_project, items_frame, open_workspace


def test_import_empty_workspace_renders(tmp_path):
    from defectlab.i18n import t  # the app runs in English here (ui_support.app)

    at = app(tmp_path / "empty", "import_data")
    no_exception(at)
    assert [x.value for x in at.title] == [t("import.title", "en")]
    # no project yet: the page offers a new one (the "active project" choice is disabled) and auto layout
    assert at.radio(key="imp_target").value == "new" and at.radio(key="imp_target").disabled
    assert at.text_input(key="imp_new_project").value == ""
    assert at.selectbox(key="imp_layout").value == "auto"
    assert t("import.layout_help.auto", "en") in [c.value for c in at.caption]


def test_upload_flat_with_regex_into_new_project(tmp_path):
    at = app(tmp_path / "ws", "import_data")
    at.text_input(key="imp_new_project").input("uploaded")
    at.selectbox(key="imp_layout").set_value("flat").run()
    at.text_input(key="imp_regex").input(r"^(.+)_\d+\.png$")
    files = [(name, png(k), "image/png") for k, name in
             enumerate(["scratch_1.png", "scratch_2.png", "pit_1.png"])]
    at.file_uploader(key="imp_files").set_value(files)
    at.run()
    at.button(key="imp_go").click().run()
    no_exception(at)
    ws = open_workspace(tmp_path / "ws")
    p = get_project(ws, "uploaded")
    frame = items_frame(ws, p.id)
    assert sorted(frame["source"]) == ["pit_1.png", "scratch_1.png", "scratch_2.png"]
    assert sorted(s.label for s in current_labels(ws, p.id).values()) == ["pit", "scratch", "scratch"]
    assert next(m.value for m in at.metric) == "3"
    assert at.session_state["project"] == "uploaded"


def test_folder_with_corrupt_file_lists_the_reason(tmp_path):
    ws, project, _ids = tiny_workspace(tmp_path / "ws", n_items=1)
    src = tmp_path / "camera"
    (src / "scratch").mkdir(parents=True)
    (src / "pit").mkdir()
    (src / "scratch" / "a.png").write_bytes(png(50))
    (src / "pit" / "b.png").write_bytes(png(51))
    (src / "pit" / "broken.png").write_bytes(b"not an image at all")
    at = app(ws.root, "import_data")
    at.radio(key="imp_source").set_value("folder").run()
    at.text_input(key="imp_folder").input(str(src)).run()
    at.button(key="imp_go").click().run()
    no_exception(at)
    frame = items_frame(ws, project.id)
    assert len(frame) == 3
    rejected = at.dataframe[0].value
    assert list(rejected.iloc[:, 0]) == ["pit/broken.png"]


def test_missing_folder_is_an_error_message(tmp_path):
    at = app(tmp_path / "ws", "import_data")
    at.text_input(key="imp_new_project").input("p")
    at.radio(key="imp_source").set_value("folder").run()
    at.text_input(key="imp_folder").input(str(tmp_path / "nope")).run()
    at.button(key="imp_go").click().run()
    no_exception(at)
    assert at.error and "does not exist" in at.error[0].value


def test_chinese_session_shows_the_rejection_reasons_in_chinese(tmp_path, monkeypatch):
    from defectlab.ui import common

    # AppTest calls the widgets' format_func outside the script run, where st.session_state is not
    # the session's: give it the session's language there as well
    monkeypatch.setattr(common, "lang", lambda: "zh_CN")
    ws, project, _ids = tiny_workspace(tmp_path / "ws", n_items=1)
    src = tmp_path / "camera"
    (src / "scratch").mkdir(parents=True)
    (src / "scratch" / "a.png").write_bytes(png(60))
    (src / "scratch" / "broken.png").write_bytes(b"not an image at all")
    (src / "scratch" / "empty.jpg").write_bytes(b"")
    (src / "rust").mkdir()
    (src / "rust" / "c.png").write_bytes(png(61))  # 'rust' is not a class of the project
    at = AppTest.from_file(APP, default_timeout=30)
    at.session_state["workspace"] = str(ws.root)
    at.session_state["lang"] = "zh_CN"  # before the first run: radio labels are formatted in it
    at.run()
    at.switch_page(f"{PAGES}/import_data.py").run()
    at.radio(key="imp_source").set_value("folder").run()
    at.text_input(key="imp_folder").input(str(src)).run()
    at.button(key="imp_go").click().run()
    no_exception(at)
    assert len(items_frame(ws, project.id)) == 2
    frame = at.dataframe[0].value
    assert list(frame.columns) == ["文件", "原因"]
    reasons = dict(zip(frame["文件"], frame["原因"], strict=True))
    assert reasons == {
        "scratch/broken.png": "不是图像：文件内容是文本，不是 PNG/JPEG/BMP/TIFF",  # never the file's bytes
        "scratch/empty.jpg": "空文件（0 字节）",
        "rust/c.png": "标签 'rust' 不是本项目的类别（类别：pit, scale, scratch）；请在项目中添加该类别，或改正标签",
    }
    # the stored report keeps the English reason for anything that reads it as data
    english = {r["source"]: r["reason"] for r in at.session_state["imp_report"]["rejected"]}
    assert english["scratch/empty.jpg"] == "empty file (0 bytes)"


def test_a_reason_without_a_key_is_shown_in_english(tmp_path):
    from defectlab.ui import common

    assert common.reason_text("some reason", None, None) == "some reason"
    assert common.reason_text("old reason", "no.such.key", {}) == "old reason"


def test_new_project_with_typed_classes_from_unlabeled_upload(tmp_path):
    """Unlabeled pictures into a new project: the classes come from the page, not the command line."""
    at = app(tmp_path / "ws", "import_data")
    assert at.text_input(key="imp_regex").placeholder in (None, "")   # no grey example that looks applied
    at.text_input(key="imp_new_project").input("line 3")
    at.selectbox(key="imp_layout").set_value("flat").run()
    at.file_uploader(key="imp_files").set_value([(f"x{k}.png", png(k), "image/png") for k in range(3)])
    at.run()
    at.button(key="imp_go").click().run()
    no_exception(at)
    assert at.error and "type its classes" in at.error[0].value and "defectlab project" not in at.error[0].value
    at.text_input(key="imp_new_classes").input("crazing, inclusion, scratches")
    at.run()
    at.button(key="imp_go").click().run()
    no_exception(at)
    ws = open_workspace(tmp_path / "ws")
    p = get_project(ws, "line 3")
    assert p.classes == ("crazing", "inclusion", "scratches") and len(items_frame(ws, p.id)) == 3
