"""Import: upload files or a zip, or name a folder on the server; choose the layout; see what was
imported, what was rejected and why, duplicates and conflicting labels."""

import shutil
import uuid
from pathlib import Path

import pandas as pd
import streamlit as st

from defectlab import ingest
from defectlab.errors import InputError
from defectlab.store import create_project, list_projects
from defectlab.ui import common
from defectlab.ui.common import t

ws = common.workspace()
st.title(t("import.title"))
common.show_flash()

LAYOUTS = ("auto", "folders", "flat", "voc", "yolo", "coco", "csv")
projects = [p.name for p in list_projects(ws)]
active = common.active_project(ws)

c1, c2 = st.columns(2)
with c1:
    target = st.radio(t("import.target"), ["active", "new"], key="imp_target", horizontal=True,
                      format_func=lambda v: t(f"import.target.{v}"),
                      index=0 if projects else 1, disabled=not projects)
    new_classes, new_ordinal = "", False
    if target == "new" or not projects:
        project_name = st.text_input(t("import.new_project"), key="imp_new_project",
                                     help=t("import.new_project_help"))
        new_classes = st.text_input(t("import.new_classes"), key="imp_new_classes",
                                    help=t("import.new_classes_help"))
        new_ordinal = st.checkbox(t("projects.create.ordinal"), key="imp_new_ordinal",
                                  help=t("projects.create.ordinal_help"))
    else:
        project_name = active.name
        st.caption(t("import.into", project=project_name,
                     classes=common.list_text(common.cls_name(c) for c in active.classes)))
with c2:
    layout = st.selectbox(t("import.layout"), LAYOUTS, key="imp_layout",
                          format_func=lambda v: t(f"import.layout.{v}"))
    regex = ""
    if layout in ("flat", "auto"):
        # no grey example in the box: an empty field means "labels from the folders", and says so
        regex = st.text_input(t("import.label_regex"), key="imp_regex", help=t("import.label_regex_help"))
        st.caption(t("import.label_regex_off") if not regex.strip() else t("import.label_regex_on", regex=regex))
    st.caption(t(f"import.layout_help.{layout}"))

source_kind = st.radio(t("import.source"), ["upload", "folder"], key="imp_source", horizontal=True,
                       format_func=lambda v: t(f"import.source.{v}"))
uploads, folder = [], ""
if source_kind == "upload":
    uploads = st.file_uploader(t("import.upload"), accept_multiple_files=True, key="imp_files",
                               type=["jpg", "jpeg", "png", "bmp", "tif", "tiff", "zip", "xml", "txt",
                                     "json", "csv"], help=t("import.upload_help"))
else:
    folder = st.text_input(t("import.folder"), key="imp_folder", help=t("import.folder_help"))
    st.caption(t("import.folder_roots", roots=", ".join(str(r) for r in common.data_roots())))


def _stage_uploads(files):
    """Write the uploaded files into a fresh folder of the workspace's tmp/ (names reduced to their
    last component, so a crafted name cannot escape). A single zip is imported as the zip itself."""
    root = ws.tmp_dir / f"upload-{uuid.uuid4().hex}"
    root.mkdir(parents=True)
    for f in files:
        name = Path(f.name.replace("\\", "/")).name or "upload"
        (root / name).write_bytes(f.getvalue())
    zips = [p for p in root.iterdir() if p.suffix.lower() == ".zip"]
    if len(files) == 1 and len(zips) == 1:
        return root, zips[0]
    return root, root


go = st.button(t("import.start"), key="imp_go", type="primary", icon=":material/upload:",
               disabled=not (uploads or folder.strip()) or not str(project_name or "").strip())
if go:
    staged = None
    bar = st.progress(0.0, text=t("import.preparing"))

    def _progress(done, total, message=""):
        frac = done / total if total else 1.0
        bar.progress(min(max(frac, 0.0), 1.0), text=t("import.progress", done=done, total=total))

    with common.guard():
        try:
            options = {"layout": layout, "label_regex": regex.strip() or None, "user": common.user(),
                       "progress": _progress}
            if new_classes.strip() and project_name.strip() not in projects:
                create_project(ws, project_name.strip(), new_classes, ordinal=new_ordinal, user=common.user())
            try:
                if source_kind == "upload":
                    staged, source = _stage_uploads(uploads)
                    report = ingest.import_source(ws, project_name.strip(), source, **options)
                else:  # a server path: only under the data roots (checked by the library)
                    report = ingest.import_server_folder(ws, project_name.strip(), folder.strip(),
                                                         common.data_roots(), **options)
            except InputError as exc:
                if getattr(exc.args[0], "key", "") != "ingest.error.new_project_needs_classes":
                    raise
                bar.empty()
                st.error(t("import.new_needs_classes", project=project_name.strip()))
                st.stop()
        finally:
            if staged is not None:
                shutil.rmtree(staged, ignore_errors=True)
        bar.progress(1.0, text=t("import.finished"))
        st.session_state["imp_report"] = report.to_dict()
        st.session_state["project"] = report.project
        st.session_state["lbl_ctx"] = None  # new items join the label queue

report = st.session_state.get("imp_report")
if report:
    st.subheader(t("import.report", project=report["project"]))
    m = st.columns(5)
    m[0].metric(t("import.imported"), report["imported"])
    m[1].metric(t("import.plates"), report.get("plates", 0))
    m[2].metric(t("import.duplicates"), report["duplicates"])
    m[3].metric(t("import.rejected"), len(report["rejected"]))
    m[4].metric(t("import.conflicts"), len(report["conflicts"]))
    if report["rejected"]:
        st.markdown(f"**{t('import.rejected_files')}**")
        st.dataframe(pd.DataFrame([{t("common.file"): r["source"],
                                    t("import.reason"): common.reason_text(r["reason"], r.get("reason_key"),
                                                                           r.get("reason_args"))}
                                   for r in report["rejected"]]), hide_index=True, width="stretch")
    if report["conflicts"]:
        st.markdown(f"**{t('import.conflicts_title')}**")
        st.caption(t("import.conflicts_help"))
        st.dataframe(pd.DataFrame([{t("common.files"): ", ".join(c["sources"]),
                                    t("import.labels"): ", ".join(c["labels"])}
                                   for c in report["conflicts"]]), hide_index=True, width="stretch")
    if report["imported"] or report.get("plates"):
        c1, c2 = st.columns(2)
        with c1:
            common.page_link("label", "nav.label", ":material/label:")
        with c2:
            if report.get("plates"):
                common.page_link("cut_crops", "nav.cut_crops", ":material/crop:")
