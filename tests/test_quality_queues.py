"""Review queues computed once per run, stored with it, and read (never recomputed) afterwards."""

import json

import pytest
from test_quality_review import _item, trained  # noqa: F401  (the module-scoped trained workspace)

from defectlab.errors import ConflictError, InputError
from defectlab.quality import (
    QUEUE_KINDS,
    compute_run_queues,
    conflicts_queue,
    confusion_cell_items,
    confusion_cells,
    duplicates_queue,
    label_issues_for_run,
    outliers_queue,
    queue_status,
    read_run_queue,
    review_item,
)
from defectlab.store import annotate


def _strip(rows, kind):
    keys = ("versions", "version") if kind in ("duplicates", "conflicts") else (
        "item_ids", "versions", "version")
    return [{k: v for k, v in r.items() if k not in keys} for r in rows]


@pytest.fixture(scope="module")
def stored(trained):  # noqa: F811
    ws, proj, run_id = trained
    assert read_run_queue(ws, run_id, "issues") is None  # nothing stored before
    assert set(queue_status(ws, run_id)) == {"labels_since"}
    direct = {"issues": label_issues_for_run(ws, proj.name, run_id),
              "duplicates": duplicates_queue(ws, proj.name),
              "conflicts": conflicts_queue(ws, proj.name),
              "outliers": outliers_queue(ws, proj.name, run_id)}
    seen = []
    result = compute_run_queues(ws, run_id, progress=lambda d, t, m: seen.append((d, m)))
    return ws, proj, run_id, direct, result, seen


def test_compute_stores_every_queue_as_the_direct_functions_return_it(stored):
    ws, _, run_id, direct, result, seen = stored
    assert result["errors"] == {}
    assert set(result["counts"]) == set(QUEUE_KINDS)
    assert seen[0][0] == 0 and seen[-1][0] == 100
    for kind in QUEUE_KINDS:
        got = read_run_queue(ws, run_id, kind)
        assert _strip(got["rows"], kind) == json.loads(json.dumps(direct[kind], default=str)), kind
        assert got["hidden"] == 0 and got["labels_since"] == 0
        assert result["counts"][kind] == len(direct[kind])
    assert len(direct["issues"]) >= 3 and direct["conflicts"] and direct["outliers"]
    status = queue_status(ws, run_id)
    assert {k for k in status if k != "labels_since"} == set(QUEUE_KINDS)
    with ws.read() as conn:  # stored as JSON text, nothing to unpickle
        body = conn.execute("SELECT body FROM run_queue_rows WHERE run_id = ? LIMIT 1",
                            (run_id,)).fetchone()[0]
    assert isinstance(json.loads(body), dict)


def test_reading_hides_decided_rows_and_refuses_stale_versions(stored):
    ws, _, run_id, _, _, _ = stored
    before = read_run_queue(ws, run_id, "issues")
    first, second = before["rows"][0], before["rows"][1]
    review_item(ws, first["item_id"], "accept", label=first["suggested"], run_id=run_id,
                expected_version=first["version"])
    after = read_run_queue(ws, run_id, "issues")
    assert first["item_id"] not in [r["item_id"] for r in after["rows"]]
    assert after["hidden"] == 1 and after["labels_since"] == 1
    assert queue_status(ws, run_id)["labels_since"] == 1
    # somebody else votes on the second item after the reviewer's page read its version
    annotate(ws, second["item_id"], second["given"], user="local", source="human")
    with pytest.raises(ConflictError):
        review_item(ws, second["item_id"], "accept", label=second["suggested"],
                    expected_version=second["version"])
    row = next(r for r in read_run_queue(ws, run_id, "issues")["rows"]
               if r["item_id"] == second["item_id"])  # same label: still listed, new version
    assert row["version"] > second["version"]
    assert read_run_queue(ws, run_id, "issues", limit=1)["rows"] == [
        read_run_queue(ws, run_id, "issues")["rows"][0]]


def test_a_resolved_conflict_leaves_the_conflicts_queue(stored):
    ws, _, run_id, _, _, _ = stored
    rows = read_run_queue(ws, run_id, "conflicts")["rows"]
    near = next(r for r in rows if r["kind"] == "near")
    for i in near["item_ids"]:
        review_item(ws, i, "other", label="dark")
    left = read_run_queue(ws, run_id, "conflicts")["rows"]
    assert near["item_ids"] not in [r["item_ids"] for r in left]


def test_confusion_cells_come_from_the_run_items(stored):
    ws, _, run_id, _, _, _ = stored
    cells = confusion_cells(ws, run_id)
    with ws.read() as conn:
        n = conn.execute("SELECT COUNT(*) FROM run_items WHERE run_id = ?", (run_id,)).fetchone()[0]
    assert sum(c["n"] for c in cells) == n
    errors = [c for c in cells if c["given"] != c["predicted"]]
    assert errors and cells[: len(errors)] == errors  # errors first
    items = confusion_cell_items(ws, run_id, errors[0]["given"], errors[0]["predicted"])
    assert len(items) == errors[0]["n"]
    assert all(i["label"] == errors[0]["given"] for i in items)


def test_unknown_kind_is_refused(stored):
    ws, _, run_id, _, _, _ = stored
    with pytest.raises(InputError, match="kind"):
        read_run_queue(ws, run_id, "everything")
