"""Export: the labeled items as class folders, CSV, COCO, YOLO or Pascal VOC, all labels or only reviewed /
agreed ones, downloaded as one zip."""

import streamlit as st

from defectlab.errors import DefectlabError
from defectlab.export import FORMATS, LABEL_CHOICES, export_zip
from defectlab.ui import common
from defectlab.ui.common import t

ws = common.workspace()
project = common.require_project(ws, title_key="nav.export")
st.title(t("export.title", project=project.name))
common.show_flash()
ss = st.session_state

c = st.columns(2)
fmt = c[0].selectbox(t("export.format"), FORMATS, key="ex_format", format_func=lambda f: t(f"export.format.{f}"))
labels = c[1].radio(t("export.labels"), LABEL_CHOICES, key="ex_labels", format_func=lambda x: t(f"export.labels.{x}"),
                    help=t("export.labels_help"))
st.caption(t(f"export.about.{fmt}"))


def _build():
    try:
        data, n = export_zip(ws, project, ss["ex_format"], user=common.user(), labels=ss["ex_labels"])
    except DefectlabError as exc:
        common.flash("error", common.error_text(exc))
        ss.pop("ex_zip", None)
        return
    ss["ex_zip"] = {"data": data, "n": n, "format": ss["ex_format"], "labels": ss["ex_labels"],
                    "project": project.name}


st.button(t("export.build"), key="ex_build", on_click=_build, type="primary", icon=":material/inventory_2:")
built = ss.get("ex_zip")
if built and (built["format"], built["labels"], built["project"]) == (fmt, labels, project.name):
    if built["n"] == 0:
        st.warning(t("export.empty"))
    else:
        st.success(t("export.ready", n=built["n"], size=f"{len(built['data']) / 1e6:.1f}"))
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in project.name)[:60] or "project"
    st.download_button(t("action.download"), built["data"], file_name=f"{safe}-{fmt}-{labels}.zip",
                       mime="application/zip", key="ex_download", icon=":material/download:")
