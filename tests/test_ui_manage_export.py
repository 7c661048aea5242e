"""Project & classes page and Export page (AppTest), in en and zh_CN."""

import io
import zipfile

import pytest
from streamlit.testing.v1 import AppTest
from ui_support import APP, no_exception, tiny_workspace

from defectlab.store import current_label, get_project, list_projects


def _app(root, page, lang="en"):
    at = AppTest.from_file(APP, default_timeout=30)
    at.session_state["workspace"] = str(root)
    at.session_state["lang"] = lang
    at.run()
    at.switch_page(f"defectlab/ui/pages/{page}.py").run()
    return at


@pytest.mark.parametrize("lang", ["en", "zh_CN"])
def test_rename_add_merge_reorder_classes(tmp_path, lang):
    ws, project, ids = tiny_workspace(tmp_path / "ws", n_items=6, labeled=6)
    at = _app(tmp_path / "ws", "manage", lang)
    no_exception(at)
    at.selectbox(key="mg_cls").set_value("scratch")
    at.text_input(key="mg_new").input("scratches")
    at.button(key="mg_rename_class").click().run()
    no_exception(at)
    assert get_project(ws, project.name).classes == ("scratches", "pit", "scale")
    assert current_label(ws, ids[0]).label == "scratches"
    at.text_input(key="mg_add").input("dent")
    at.button(key="mg_add_go").click().run()
    at.multiselect(key="mg_merge_from").select("pit").select("scale")
    at.text_input(key="mg_merge_into").input("hole").run()
    at.button(key="mg_merge").click().run()
    no_exception(at)
    assert get_project(ws, project.name).classes == ("scratches", "pit", "scale", "dent")  # asked first
    assert at.warning and ("hole" in at.warning[0].value)
    at.button(key="mg_merge_yes").click().run()
    no_exception(at)
    assert get_project(ws, project.name).classes == ("scratches", "hole", "dent")
    assert current_label(ws, ids[1]).label == "hole"
    # an error comes back in the page's language, not as a traceback
    at.selectbox(key="mg_cls").set_value("dent")
    at.text_input(key="mg_new").input("hole")
    at.button(key="mg_rename_class").click().run()
    no_exception(at)
    assert at.error and ("merge" in at.error[0].value if lang == "en" else "合并" in at.error[0].value)


def test_remove_a_class_nothing_was_labeled_with(tmp_path):
    """Found by a fresh-user pass: a class added by mistake could not be removed at all."""
    ws, project, _ids = tiny_workspace(tmp_path / "ws", n_items=3, labeled=3)
    at = _app(tmp_path / "ws", "manage", "en")
    at.text_input(key="mg_add").input("typo")
    at.button(key="mg_add_go").click().run()
    assert at.selectbox(key="mg_remove").options == ["4 · typo"]  # only the class no label uses
    at.button(key="mg_remove_go").click().run()
    no_exception(at)
    assert get_project(ws, project.name).classes == ("scratch", "pit", "scale")
    assert not [s for s in at.selectbox if s.key == "mg_remove"]


def test_rename_delete_restore_project(tmp_path):
    ws, project, _ = tiny_workspace(tmp_path / "ws", n_items=2)
    at = _app(tmp_path / "ws", "manage")
    at.text_input(key="mg_name").input("Line 2 plates")
    at.button(key="mg_rename_project").click().run()
    no_exception(at)
    assert [p.name for p in list_projects(ws)] == ["Line 2 plates"]
    assert at.session_state["project"] == "Line 2 plates"
    at.checkbox(key="mg_delete_confirm").check().run()
    at.button(key="mg_delete").click().run()
    no_exception(at)
    assert list_projects(ws) == []
    at.button(key=f"mg_restore_{project.id}").click().run()
    no_exception(at)
    assert [p.name for p in list_projects(ws)] == ["Line 2 plates"]


@pytest.mark.parametrize("lang", ["en", "zh_CN"])
def test_export_zip_download(tmp_path, lang):
    tiny_workspace(tmp_path / "ws", n_items=6, labeled=4, plate=True)
    at = _app(tmp_path / "ws", "export", lang)
    no_exception(at)
    at.selectbox(key="ex_format").set_value("yolo")
    at.button(key="ex_build").click().run()
    no_exception(at)
    built = at.session_state["ex_zip"]
    names = zipfile.ZipFile(io.BytesIO(built["data"])).namelist()
    assert built["n"] == 4 and "classes.txt" in names and len([n for n in names if n.startswith("images/")]) == 4
    at.radio(key="ex_labels").set_value("reviewed")
    at.button(key="ex_build").click().run()
    assert at.warning  # nothing is reviewed yet: it says so
