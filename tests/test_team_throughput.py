import io
import math

import pandas as pd
import pytest

from defectlab.errors import InputError, PermissionDenied
from defectlab.store import annotate, create_project, retract
from defectlab.store import labels as store_labels
from defectlab.team import qc
from defectlab.team.accounts import create_user
from defectlab.team.qc import qc_decide
from defectlab.team.throughput import THROUGHPUT_COLUMNS, throughput, throughput_csv


@pytest.fixture
def clock(monkeypatch):
    """Set the time the store and QC write: ``clock.now = "2025-03-03T01:00:00"`` (UTC)."""

    class Clock:
        now = "2025-01-01T00:00:00"

        def __call__(self):
            return self.now + ".000000+00:00"

    c = Clock()
    monkeypatch.setattr(store_labels, "utcnow", c)
    monkeypatch.setattr(qc, "utcnow", c)
    return c


@pytest.fixture
def day(ws, monkeypatch, add_items, clock):
    create_user(ws, "lead", "lead-pass-1", "lead", by="local", admin_password="local-pass-1")
    create_user(ws, "ann1", "ann-pass-1", "annotator", display_name="张伟", by="lead")
    create_user(ws, "ann2", "ann-pass-1", "annotator", display_name="=1+1", by="lead")
    create_user(ws, "rev", "rev-pass-1", "reviewer", by="lead")
    p = create_project(ws, "p", ["a", "b"], user="lead")
    items = add_items(ws, p, 8)
    ann = {}
    for item, t, s in ((0, "01:00", 10), (1, "01:01", 20), (2, "01:02", 30), (0, "01:05", 6)):
        clock.now = f"2025-03-03T{t}:00"
        ann[item] = annotate(ws, items[item], "a", user="ann1", seconds=s)
    clock.now = "2025-03-03T17:30:00"  # 2025-03-04 01:30 in Shanghai
    late = annotate(ws, items[3], "b", user="ann1", seconds=12)
    clock.now = "2025-03-03T17:31:00"
    retract(ws, late, "ann1")  # undone: not a piece, but the time was spent
    clock.now = "2025-03-03T02:00:00"
    annotate(ws, items[4], "b", user="ann2")  # no time recorded
    annotate(ws, items[5], "b", user="lead", source="review")
    clock.now = "2025-03-05T02:00:00"
    qc_decide(ws, ann[1], "rev", True)
    qc_decide(ws, ann[2], "rev", False, "should be b")
    return ws, p, items


def _rows(df):
    return {(r["day"], r["user"]): r for r in df.to_dict("records")}


def test_per_person_and_day_in_the_plant_time_zone(day):
    ws, p, _ = day
    df = throughput(ws, p, tz="Asia/Shanghai", by="lead")
    assert list(df.columns) == THROUGHPUT_COLUMNS
    assert [(r["day"], r["user"]) for r in df.to_dict("records")] == [
        ("2025-03-03", "ann1"), ("2025-03-03", "ann2"), ("2025-03-03", "lead"), ("2025-03-04", "ann1"),
        ("2025-03-05", "rev")]
    rows = _rows(df)
    a = rows[("2025-03-03", "ann1")]
    assert (a["items_labeled"], a["accepted"], a["rejected"], a["active_seconds"]) == (3, 1, 1, 66.0)
    assert a["display_name"] == "张伟" and a["role"] == "annotator"
    assert a["active_hours"] == pytest.approx(66 / 3600)
    assert a["items_per_hour"] == pytest.approx(3 / (66 / 3600))
    late = rows[("2025-03-04", "ann1")]
    assert (late["items_labeled"], late["active_seconds"], late["items_per_hour"]) == (0, 12.0, 0.0)
    assert math.isnan(rows[("2025-03-03", "ann2")]["items_per_hour"])  # no time recorded
    lead = rows[("2025-03-03", "lead")]
    assert (lead["items_labeled"], lead["corrections"]) == (0, 1)
    rev = rows[("2025-03-05", "rev")]
    assert (rev["qc_reviewed"], rev["items_labeled"], rev["accepted"]) == (2, 0, 0)


def test_utc_days_and_filters(day):
    ws, p, _ = day
    rows = _rows(throughput(ws, p, tz="UTC", by="lead"))
    assert rows[("2025-03-03", "ann1")]["active_seconds"] == 78.0  # the late label is the same UTC day
    df = throughput(ws, p, start="2025-03-04", tz="Asia/Shanghai", by="lead")
    assert set(df["day"]) == {"2025-03-04", "2025-03-05"}
    df = throughput(ws, start="2025-03-03", end="2025-03-03", user="ann1", tz="Asia/Shanghai", by="rev")
    assert df[["day", "user", "items_labeled"]].values.tolist() == [["2025-03-03", "ann1", 3]]
    assert throughput(ws, p, start="2030-01-01", by="lead").empty


def test_other_projects_are_not_counted(day, add_items):
    ws, p, _ = day
    other = create_project(ws, "other", ["x", "y"], user="lead")
    (item,) = add_items(ws, other, 1, prefix="o")
    annotate(ws, item, "x", user="ann1", seconds=100)
    assert _rows(throughput(ws, p, tz="UTC", by="lead"))[("2025-03-03", "ann1")]["active_seconds"] == 78.0
    everything = _rows(throughput(ws, tz="UTC", by="lead"))
    assert everything[("2025-03-05", "ann1")]["active_seconds"] == 100.0  # the clock fixture's last time


def test_annotators_see_only_their_own_rows(day):
    ws, p, _ = day
    own = throughput(ws, p, by="ann1")
    assert set(own["user"]) == {"ann1"} and own["items_labeled"].sum() == 3
    with pytest.raises(PermissionDenied):
        throughput(ws, p, user="ann2", by="ann1")


@pytest.mark.parametrize("kwargs, match", [
    (dict(start="yesterday"), "start must be a date"),
    (dict(start="2025-03-05", end="2025-03-01"), "is after end"),
    (dict(tz="Mars/Olympus"), "Unknown time zone"),
])
def test_throughput_validates(day, kwargs, match):
    ws, p, _ = day
    with pytest.raises(InputError, match=match):
        throughput(ws, p, by="lead", **kwargs)


def test_csv_for_excel(day):
    ws, p, _ = day
    text = throughput_csv(ws, p, tz="Asia/Shanghai", by="lead")
    assert text.startswith("\ufeff") and text.encode("utf-8").startswith(b"\xef\xbb\xbf")
    lines = text[1:].split("\r\n")
    assert lines[0] == ",".join(THROUGHPUT_COLUMNS) and lines[-1] == ""
    assert "张伟" in lines[1] and "'=1+1" in lines[2]  # formula-looking cells are neutralised
    back = pd.read_csv(io.StringIO(text[1:]))
    assert back.loc[0, "items_per_hour"] == pytest.approx(163.64)
    assert back.loc[0, "active_hours"] == pytest.approx(0.02)
    renamed = throughput_csv(ws, p, by="lead", columns={"items_labeled": "标注数量"})
    assert "标注数量" in renamed.split("\r\n")[0]


def test_empty_workspace(ws):
    df = throughput(ws)
    assert df.empty and list(df.columns) == THROUGHPUT_COLUMNS
    assert throughput_csv(ws) == "\ufeff" + ",".join(THROUGHPUT_COLUMNS) + "\r\n"


def test_setting_gold_answers_is_not_a_paid_correction(day, clock):
    """Found by a team pass: marking six gold items showed the lead six 'corrections' in the pay report."""
    from defectlab.team import set_gold

    ws, p, items = day
    clock.now = "2025-03-03T03:00:00"
    for item in items[6:8]:
        set_gold(ws, item, "a", by="lead")
    lead = _rows(throughput(ws, p, tz="Asia/Shanghai", by="lead"))[("2025-03-03", "lead")]
    assert lead["corrections"] == 1  # the one review decision of the fixture, not the gold answers
    # a reviewer typing the same words as a comment is still paid for the correction
    annotate(ws, items[0], "b", user="rev", source="review", comment="gold answer")
    rev = _rows(throughput(ws, p, tz="Asia/Shanghai", by="lead"))[("2025-03-03", "rev")]
    assert rev["corrections"] == 1


def test_item_history_marks_only_the_real_gold_answer(day, clock):
    """The item page reads the gold row in words; a reviewer's comment that only says "gold answer" stays a
    comment (the pay report draws the same line)."""
    from defectlab.store.browse import item_history
    from defectlab.team import set_gold

    ws, _p, items = day
    clock.now = "2025-03-03T03:00:00"
    set_gold(ws, items[6], "a", by="lead")
    annotate(ws, items[7], "b", user="rev", source="review", comment="gold answer")
    gold = [e for e in item_history(ws, items[6], user="lead") if e["comment"] == "gold answer"]
    typed = [e for e in item_history(ws, items[7], user="lead") if e["comment"] == "gold answer"]
    assert [e["gold"] for e in gold] == [True]
    assert [e["gold"] for e in typed] == [False]
