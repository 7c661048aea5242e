"""defectlab.quality.review: label issues of a stored run, review decisions as `review` annotations,
and the conflicts / duplicates / outliers queues, on a small temporary workspace."""

import cv2
import numpy as np
import pytest
from quality_support import render_reason
from synthetic import texture_image

from defectlab.errors import ConflictError, InputError, NotFoundError, PermissionDenied
from defectlab.ingest import import_source
from defectlab.learn import runs
from defectlab.quality import (
    conflicts_queue,
    confusion_for_run,
    duplicates_queue,
    label_issues_for_run,
    outliers_queue,
    review_item,
    review_items,
)
from defectlab.store import (
    UNUSABLE,
    current_label,
    find_item,
    get_project,
    label_history,
    open_workspace,
)

CLASSES = ("dark", "spots", "stripes")
MISLABELED = {"dark/x_stripes_1.png": "stripes", "spots/x_dark_2.png": "dark",
              "stripes/x_spots_3.png": "spots"}


_image = texture_image


def _write(path, img, ext=".png"):
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(ext, img, [cv2.IMWRITE_JPEG_QUALITY, 80] if ext == ".jpg" else [])
    assert ok
    path.write_bytes(buf.tobytes())
    return buf.tobytes()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Folders dark/ spots/ stripes/ (14 each) with three planted wrong labels, one file imported
    under two labels, one re-encoded near copy under another label, one blank frame; one run."""
    src = tmp_path_factory.mktemp("src")
    rng = np.random.default_rng(0)
    for kind in CLASSES:
        for k in range(14):
            _write(src / kind / f"{kind}_{k}.png", _image(kind, rng))
    for name, kind in MISLABELED.items():
        _write(src / name, _image(kind, rng))
    twin = _image("spots", rng)
    data = _write(src / "spots" / "twin.png", twin)
    (src / "stripes" / "twin_copy.png").write_bytes(data)          # same bytes, other label
    near = _image("dark", rng)
    _write(src / "dark" / "near.png", near)
    _write(src / "spots" / "near_copy.jpg", near, ".jpg")           # re-encoded, other label
    _write(src / "dark" / "blank.png", np.full((48, 48), 90, np.uint8))
    ws = open_workspace(tmp_path_factory.mktemp("ws"))
    report = import_source(ws, "Plates", src, layout="folders")
    assert report.conflicts  # the twin
    summary = runs.train_project(ws, "Plates", model="logreg", preset="fast", folds=3, seed=0)
    return ws, get_project(ws, "Plates"), summary["run_id"]


def _item(ws, proj, source):
    with ws.read() as conn:
        rows = conn.execute("SELECT id FROM items WHERE project_id = ? AND source = ?",
                            (proj.id, source)).fetchall()
    assert len(rows) == 1, source
    return rows[0][0]


# ---------------------------------------------------------------- label issues of a run


def test_label_issues_for_run_finds_the_planted_errors(trained):
    ws, _proj, run_id = trained
    issues = label_issues_for_run(ws, "Plates", run_id)
    assert issues, "no issue found"
    assert set(issues[0]) == {"item_id", "source", "given", "suggested", "score", "reason",
                              "reason_parts", "run_id"}
    for i in issues:  # the same reason, as catalog messages
        assert render_reason(i["reason_parts"], "en") == i["reason"]
        assert i["reason_parts"][0]["args"]["cls"] == i["suggested"]
    by_source = {i["source"]: i for i in issues}
    for source, truth in MISLABELED.items():
        assert source in by_source, (source, sorted(by_source))
        assert by_source[source]["suggested"] == truth
        assert by_source[source]["given"] == source.split("/")[0]
    assert len(issues) <= len(MISLABELED) + 3  # few false alarms
    scores = [i["score"] for i in issues]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    assert all(isinstance(i["item_id"], int) and isinstance(i["score"], float) for i in issues)
    assert all(i["run_id"] == run_id for i in issues)


def test_two_argument_form_and_default_run(trained):
    ws, _proj, run_id = trained
    a = label_issues_for_run(ws, "Plates", run_id)
    assert label_issues_for_run(ws, run_id) == a           # (ws, run_id), as the UI calls it
    assert label_issues_for_run(ws, "Plates") == a         # the newest run
    assert label_issues_for_run(ws, "Plates", run_id, retrain=False, features=False)


@pytest.mark.parametrize("args, kwargs, exc, match", [
    (("Nope",), {}, NotFoundError, "Nope"),
    (("Plates", "20000101-000000-abcdef"), {}, NotFoundError, "No run"),
    (("Plates",), {"retrain": "sometimes"}, InputError, "'retrain'.*'auto', True or False"),
])
def test_label_issues_for_run_refusals(trained, args, kwargs, exc, match):
    ws, _proj, _run_id = trained
    with pytest.raises(exc, match=match):
        label_issues_for_run(ws, *args, **kwargs)


def test_confusion_for_run(trained):
    ws, _proj, run_id = trained
    cells = confusion_for_run(ws, "Plates", run_id, given="dark", predicted="stripes")
    assert [c["source"] for c in cells] == ["dark/x_stripes_1.png"]
    full = confusion_for_run(ws, "Plates", run_id, include_correct=True)
    assert len(full) == len({c["item_id"] for c in full}) > 40


# ---------------------------------------------------------------- review decisions


def test_accept_keep_other_unusable_are_review_annotations(trained):
    ws, proj, run_id = trained
    wrong = _item(ws, proj, "dark/x_stripes_1.png")
    before = len(label_history(ws, wrong))
    ann = review_item(ws, wrong, "accept", label="stripes", user="local", run_id=run_id,
                      comment="stripes are clear")
    hist = label_history(ws, wrong)
    assert len(hist) == before + 1 and hist[-1]["id"] == ann
    last = hist[-1]
    assert (last["label"], last["source"], last["user"], last["run_id"]) == (
        "stripes", "review", "local", run_id)
    assert last["comment"] == "review: accepted suggestion stripes (was dark): stripes are clear"
    assert current_label(ws, wrong).label == "stripes"

    kept = _item(ws, proj, "dark/dark_0.png")
    review_item(ws, kept, "keep")
    last = label_history(ws, kept)[-1]
    assert (last["label"], last["source"], last["comment"]) == ("dark", "review", "review: kept dark")

    other = _item(ws, proj, "spots/x_dark_2.png")
    review_item(ws, other, "other", label="dark")
    assert label_history(ws, other)[-1]["comment"] == "review: relabeled as dark (was spots)"

    junk = _item(ws, proj, "dark/blank.png")
    review_item(ws, junk, "unusable", comment="no steel in the picture")
    last = label_history(ws, junk)[-1]
    assert last["label"] == UNUSABLE and last["source"] == "review"
    assert last["comment"] == ("review: marked unusable / not a defect (was dark): "
                               "no steel in the picture")

    # a confirmed label leaves the queue too (unless asked for), a changed one for good
    confirmed = _item(ws, proj, "stripes/x_spots_3.png")
    review_item(ws, confirmed, "keep", comment="the stripes are faint but there")
    left = {i["item_id"] for i in label_issues_for_run(ws, "Plates", run_id)}
    assert not left & {wrong, other, junk, confirmed}
    again = {i["item_id"] for i in label_issues_for_run(ws, "Plates", run_id, include_reviewed=True)}
    assert confirmed in again and not again & {wrong, other, junk}


def test_review_items_in_one_transaction(trained):
    ws, proj, _run_id = trained
    ids = [_item(ws, proj, f"spots/spots_{k}.png") for k in (0, 1)]
    anns = review_items(ws, ids, "keep", comment="checked")
    assert len(anns) == 2
    assert [label_history(ws, i)[-1]["comment"] for i in ids] == ["review: kept spots: checked"] * 2
    bad = [_item(ws, proj, "spots/spots_2.png"), 10**9]
    n = len(label_history(ws, bad[0]))
    with pytest.raises(NotFoundError):
        review_items(ws, bad, "other", label="dark")
    assert len(label_history(ws, bad[0])) == n  # all or nothing


def test_stale_version_is_a_conflict(trained):
    ws, proj, _run_id = trained
    item = _item(ws, proj, "stripes/stripes_0.png")
    seen = current_label(ws, item).version
    review_item(ws, item, "keep", user="local")
    with pytest.raises(ConflictError, match="changed by local meanwhile"):
        review_item(ws, item, "other", label="dark", expected_version=seen)
    assert current_label(ws, item).label == "stripes"


@pytest.mark.parametrize("action, label, kwargs, exc, match", [
    ("delete", None, {}, InputError, r"'action'.*one of \['accept', 'keep', 'other', 'unusable'\]"),
    ("accept", None, {}, InputError, "needs the label to write"),
    ("other", "rust", {}, InputError, "Unknown label 'rust'"),
    ("keep", "spots", {}, InputError, "keeps the current label 'dark'"),
    ("unusable", "dark", {}, InputError, "do not pass label='dark'"),
    ("keep", None, {"user": "nobody"}, PermissionDenied, "may not review"),
])
def test_review_refusals_write_nothing(trained, action, label, kwargs, exc, match):
    ws, proj, _run_id = trained
    item = _item(ws, proj, "dark/dark_3.png")
    n = len(label_history(ws, item))
    with pytest.raises(exc, match=match):
        review_item(ws, item, action, label=label, **kwargs)
    assert len(label_history(ws, item)) == n


# ---------------------------------------------------------------- queues


def test_duplicates_queue_reports_the_near_copy_under_another_label(trained):
    ws, proj, _run_id = trained
    groups = duplicates_queue(ws, "Plates")
    near = [g for g in groups if sorted(g["item_ids"]) == sorted(
        [_item(ws, proj, "dark/near.png"), _item(ws, proj, "spots/near_copy.jpg")])]
    assert len(near) == 1 and near[0]["conflict"] and near[0]["kind"] == "near"
    assert sorted(near[0]["labels"]) == ["dark", "spots"]
    assert near[0]["reason_parts"] == [{"key": "quality.reason.near_conflict",
                                        "args": {"n": 2, "classes": ["dark", "spots"]}}]
    assert render_reason(near[0]["reason_parts"], "zh_CN") == (
        "2 张几乎相同的图片分别标为 dark / spots：肯定有冲突，只可能有一个类别是对的")
    assert all(render_reason(g["reason_parts"]) == g["reason"] for g in groups)
    assert (ws.root / "quality" / "phash64-v1.npz").exists()
    assert duplicates_queue(ws, "Plates") == groups  # from the cache: the same


def test_conflicts_queue_lists_import_and_near_conflicts_until_decided(trained):
    ws, _proj, _run_id = trained
    queue = conflicts_queue(ws, "Plates")
    kinds = sorted(q["kind"] for q in queue)
    assert kinds == ["import", "near"]
    imp = next(q for q in queue if q["kind"] == "import")
    assert sorted(imp["labels"]) == ["spots", "stripes"]
    assert sorted(imp["sources"]) == ["spots/twin.png", "stripes/twin_copy.png"]
    assert [p["key"] for p in imp["reason_parts"]] == ["quality.reason.import_conflict"]
    assert all(render_reason(q["reason_parts"]) == q["reason"] for q in queue)
    assert imp["reason"].startswith("the same file was imported as spots / stripes (")
    review_item(ws, imp["item_ids"][0], "other", label="spots")
    assert [q["kind"] for q in conflicts_queue(ws, "Plates")] == ["near"]


def test_outliers_queue_puts_the_blank_frame_first(trained):
    ws, _proj, _run_id = trained
    out = outliers_queue(ws, "Plates")
    assert out and out[0]["source"] == "dark/blank.png"
    assert set(out[0]) == {"item_id", "source", "label", "score", "reason", "reason_parts"}
    assert out[0]["reason_parts"][0]["key"] == "quality.reason.outlier_far"
    assert all(render_reason(o["reason_parts"]) == o["reason"] for o in out)
    assert 2 / 3 <= out[0]["score"] <= 1


def test_find_item_helper_is_consistent(trained):
    ws, proj, _run_id = trained
    with ws.read() as conn:
        assert find_item(conn, proj.id, "0" * 64) is None
