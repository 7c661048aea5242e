"""Margins of the newest run, and the browser / CLI filters built on them."""

import json

from ui_support import demo_workspace

from defectlab.cli import main
from defectlab.learn import load_oof, train_project
from defectlab.learn.margins import margin_item_ids, run_margins
from defectlab.store.browse import query_items


def test_margins_match_the_oof_probabilities(tmp_path, capsys):
    ws, project, labeled, _unlabeled = demo_workspace(tmp_path / "ws", n_per_class=6, n_unlabeled=3)
    assert run_margins(ws, project.name) == {}                       # no run yet
    run_id = train_project(ws, project.name, model="logreg", folds=3, preset="fast", model_preset="fast")["run_id"]
    margins = run_margins(ws, project.name)
    assert run_margins(str(ws.root), project.name) == margins        # a path works as every ws argument does
    oof = load_oof(ws, run_id)
    k = 0
    p = sorted(oof["pred_probs"][k])
    assert abs(margins[int(oof["item_ids"][k])] - (p[-1] - p[-2])) < 1e-9
    assert set(margins) == set(labeled) and all(0 <= m <= 1 for m in margins.values())
    low = margin_item_ids(ws, project.name, 0.0, 0.5)
    assert low == sorted(i for i, m in margins.items() if m <= 0.5)
    res = query_items(ws, project.name, {"within_ids": low}, limit=1000)
    assert sorted(r["item_id"] for r in res["items"]) == low
    assert main(["items", project.name, "--max-margin", "0.5", "--limit", "1000", "--workspace", str(ws.root),
                 "--json"]) == 0
    assert sorted(r["item_id"] for r in json.loads(capsys.readouterr().out)["items"]) == low
