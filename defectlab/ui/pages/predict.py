"""Predict: apply a run to a new batch (upload or a folder on the server); results sorted by confidence;
a reject band whose expected coverage and accuracy come from the run's out-of-fold predictions; the
uncertain items go in front of a person who confirms or corrects them with keys; CSV export."""

import shutil
import uuid
from pathlib import Path

import streamlit as st

from defectlab import learn
from defectlab.demo import DEMO_DEFECT_PROJECT
from defectlab.errors import DefectlabError
from defectlab.store import get_item, resolve_under_roots
from defectlab.ui import charts, common, labelbook, labeler, plates_view, predicting, runinfo
from defectlab.ui.common import t

ws = common.workspace()
project = common.require_project(ws, title_key="nav.predict")
st.title(t("predict.title", project=project.name))
common.show_flash()
runs = runinfo.require_runs(ws, project)

ss = st.session_state
approved = [r for r in runs if r.get("approved")]
ordered = approved + [r for r in runs if not r.get("approved")]
labels = {r["run_id"]: r["run_id"] + (" ✓ " + t("predict.approved") if r.get("approved") else "")
          + f" · {common.model_name(r.get('model', ''))}" for r in ordered}
run_id = st.selectbox(t("predict.run"), list(labels), format_func=labels.get, key="pred_run_pick")
run = runinfo.get_run(ws, run_id)
if project.ordinal:  # grades of whole photos: nothing to box; large photos are graded tile by tile
    st.caption(t("predict.ordinal_whole"))
else:
    plates_view.locate_panel(ws, project, run_id)  # full images: defect map, boxes, accept / correct

# -- the batch ---------------------------------------------------------------------------------------
with st.container(border=True):
    demo_batch = ws.root / "demo-files" / "batch"  # the demo workspace's "today's batch": steel defect crops
    if ss.get("pred_folder_project") != project.id:  # a folder typed for another project is not this one's
        ss["pred_folder_project"] = project.id
        if project.name == DEMO_DEFECT_PROJECT and demo_batch.is_dir():
            ss.setdefault("pred_source", "folder")
            ss["pred_folder"] = str(demo_batch)
        elif ss.get("pred_folder") == str(demo_batch):
            ss["pred_folder"] = ""
    kind = st.radio(t("import.source"), ["upload", "folder"], key="pred_source", horizontal=True,
                    format_func=lambda v: t(f"import.source.{v}"))
    uploads, folder = [], ""
    if kind == "upload":
        uploads = st.file_uploader(t("predict.upload"), accept_multiple_files=True, key="pred_files",
                                   type=["jpg", "jpeg", "png", "bmp", "tif", "tiff", "zip"])
    else:
        folder = st.text_input(t("import.folder"), key="pred_folder", help=t("import.folder_help"))
    go = st.button(t("predict.start"), key="pred_go", type="primary", icon=":material/batch_prediction:",
                   disabled=not (uploads or folder.strip()))
if go:
    staged = None
    bar = st.progress(0.0, text=t("import.preparing"))

    def _progress(done, total=None, message=""):
        frac = done / total if total else float(done)
        bar.progress(min(max(frac, 0.0), 1.0), text=t("import.progress", done=done, total=total or ""))

    with common.guard():
        try:
            if kind == "upload":
                staged = ws.tmp_dir / f"predict-{uuid.uuid4().hex}"
                staged.mkdir(parents=True)
                for f in uploads:
                    (staged / (Path(f.name.replace("\\", "/")).name or "upload")).write_bytes(f.getvalue())
                zips = list(staged.glob("*.zip"))
                source = zips[0] if len(uploads) == 1 and zips else staged
            else:
                # a server path: only under the data roots (or the workspace itself, e.g. the demo batch)
                source = resolve_under_roots(folder.strip(), [*common.data_roots(), ws.root])
            result = learn.predict_batch(ws, project, run_id, source, user=common.user(), progress=_progress)
        finally:
            if staged is not None:
                shutil.rmtree(staged, ignore_errors=True)
        ss["pred_batch"] = result["batch_id"]
        ss["pred_run"] = run_id
        ss["pred_pos"] = 0
        ss["pred_threshold_run"] = None
        bar.progress(1.0, text=t("predict.done", n=result["n_items"]))
        for r in result.get("rejected") or []:
            st.warning(common.rejected_text(r))
        for w in result.get("warnings") or []:
            st.warning(common.md(common.reason_text(w)))

batches = {}
for r in learn.list_predictions(ws, project):
    batches.setdefault(r["batch_id"], []).append(r)
if not batches:
    st.caption(t("predict.no_batch", button=common.t_plain("predict.start")))
    st.stop()
batch_ids = list(batches)  # newest first
if ss.get("pred_batch") not in batches:
    ss["pred_batch"] = batch_ids[0]
# batches are numbered per project (1, 2, ... whatever other projects did), oldest first
batch_number = {b: k for k, b in enumerate(sorted(batch_ids), start=1)}
batch_id = st.selectbox(t("predict.batch"), batch_ids, key="pred_batch",
                        format_func=lambda b: common.t_plain("predict.batch_fmt", number=batch_number[b],
                                                n=len(batches[b]),
                                                when=str(batches[b][0]["created_at"])[:16].replace("T", " "),
                                                run=batches[b][0]["run_id"]))
rows = batches[batch_id]
ss["pred_run"] = rows[0]["run_id"]
if rows[0]["run_id"] != run_id:
    run = runinfo.get_run(ws, rows[0]["run_id"])

# -- the reject band ---------------------------------------------------------------------------------
st.subheader(t("predict.band"))
# the project's own threshold when a lead set one on the Settings page, else the run's (the lowest confidence at
# which its out-of-fold predictions reached the target accuracy)
own_th = (project.settings or {}).get("review_threshold")
default_th = float(own_th if own_th is not None else (run.get("threshold") or 0.8))
if ss.get("pred_threshold_run") != run["run_id"]:
    ss["pred_threshold"] = min(max(round(default_th, 2), 0.0), 1.0)  # the run's own reject threshold
    ss["pred_threshold_run"] = run["run_id"]
threshold = st.slider(t("predict.threshold"), 0.0, 1.0, step=0.01, key="pred_threshold",
                      help=t("predict.threshold_help"))
reject = (run.get("metrics") or {}).get("reject") or {}
if own_th is None and reject and not reject.get("reached", True):  # the slider starts at 1.00: say why
    st.info(t("predict.target_not_reached", target=float(reject.get("target_accuracy") or 0.99)))
ths, cov, acc = predicting.coverage_from_run(run)
k = min(range(len(ths)), key=lambda i: abs(ths[i] - threshold))
review_rows = predicting.uncertain(rows, threshold)
accepted = sorted((r for r in rows if float(r["confidence"]) >= threshold), key=lambda r: -float(r["confidence"]))
c = st.columns(4)
c[0].metric(t("predict.expected_coverage"), f"{cov[k]:.0%}")
c[1].metric(t("predict.expected_accuracy"), "—" if acc[k] is None else f"{acc[k]:.1%}")
c[2].metric(t("predict.accepted_now"), f"{len(accepted)} ({len(accepted) / len(rows):.0%})")
c[3].metric(t("predict.need_person"), len(review_rows))
st.altair_chart(charts.coverage_chart(ths, cov, acc, current=threshold), width="stretch")

# -- needs a person ----------------------------------------------------------------------------------
if ss.get("pred_queue_key") != (batch_id, threshold):
    ss["pred_queue"] = review_rows
    ss["pred_queue_key"] = (batch_id, threshold)
    ss["pred_pos"] = 0
# one view at a time (not st.tabs, which runs both): keys such as Enter act only on the visible queue
view = st.radio(t("predict.view"), ("review", "all"), key="pred_view", horizontal=True,
                label_visibility="collapsed",
                format_func=lambda v: t(f"predict.tab_{v}", n=len(review_rows) if v == "review" else len(rows)))
if view == "review":
    queue = ss["pred_queue"]
    pos = ss.get("pred_pos", 0)
    done = {r["item_id"] for r in rows if r["decision"] is not None}
    labeler.surface_toggle()
    if queue and labeler.use_browser():  # Enter / 1-9 answered in the browser, saved in the background
        labeler.predict_surface(project, queue, ss.get("pred_run"))
    elif not queue:
        st.success(t("predict.none_uncertain"))
    elif pos >= len(queue):
        st.success(t("predict.review_done", n=len(done)))
        st.button(t("label.back"), key="pred_back_end", on_click=predicting.back)
    else:
        row = queue[pos]
        st.progress(pos / len(queue), text=t("label.progress", pos=pos + 1, n=len(queue), done=len(done)))
        left, right = st.columns([3, 2], gap="large")
        with left:
            try:
                item = get_item(ws, int(row["item_id"]))
                st.image(common.image_bytes(item, 1200), width="stretch")
                st.caption(common.md(row.get("source", item["source"])))
            except DefectlabError as exc:
                st.error(common.md(common.error_text(exc)))
        with right:
            st.markdown(t("predict.model_says", label=common.cls_name(row["label"]),
                          confidence=float(row["confidence"])))
            expl = row.get("explanation")
            if expl:
                st.caption(t("predict.because", why="; ".join(
                    common.family_name(e) for e in (expl if isinstance(expl, list) else [expl]))))
            st.button(t("predict.confirm", label=common.cls_name(row["label"])), key="pred_confirm",
                      shortcut="Enter", on_click=predicting.confirm, type="primary", width="stretch")
            for k_, cls in enumerate(list(project.classes)[:9], start=1):
                st.button(common.md(common.class_label(project, cls)), key=f"pred_key_{k_}", shortcut=str(k_),
                          on_click=predicting.correct, args=(cls,), width="stretch")
            b1, b2 = st.columns(2)
            b1.button(t("label.skip"), key="pred_skip", shortcut="S", on_click=predicting.skip, width="stretch")
            b2.button(t("label.back"), key="pred_back", shortcut="B", on_click=predicting.back, width="stretch")
            st.caption(t("predict.keys_help"))
            if row["label"] in project.classes:
                labelbook.show_entry(project, row["label"], size=72, max_per_kind=3)

if view == "all":
    done = {r["item_id"] for r in rows if r["decision"] is not None}
    open_accepted = [r for r in accepted if r["item_id"] not in done]
    st.button(t("predict.confirm_accepted", n=len(open_accepted)), key="pred_confirm_all",
              on_click=predicting.confirm_accepted, args=(open_accepted,), disabled=not open_accepted)
    ordered_rows = sorted(rows, key=lambda r: float(r["confidence"]))
    per_row = 8
    shown = ordered_rows[:96]
    for start in range(0, len(shown), per_row):
        cols = st.columns(per_row)
        for col, r in zip(cols, shown[start:start + per_row], strict=False):
            with col:
                try:
                    st.image(common.thumb(get_item(ws, int(r["item_id"])), 120), width="content")
                except DefectlabError:
                    pass
                mark = "✓" if r["item_id"] in done else ("⚑" if float(r["confidence"]) < threshold else "")
                st.caption(f"{mark} {common.md(common.cls_name(r['label']))} {float(r['confidence']):.0%}")

# -- export ------------------------------------------------------------------------------------------
def _csv():
    path = ws.tmp_dir / f"predictions-{uuid.uuid4().hex}.csv"
    try:
        learn.export_predictions_csv(ws, project, path, batch_id=batch_id, user=common.user())
        return path.read_bytes()
    finally:
        path.unlink(missing_ok=True)


st.download_button(t("predict.download"), _csv,  # named by the batch number the page shows
                   file_name=f"predictions_{project.name}_batch{batch_number.get(batch_id, batch_id)}.csv",
                   mime="text/csv", key="pred_csv", icon=":material/download:",
                   disabled=not common.permissions(ws)("export"))
