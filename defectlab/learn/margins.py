"""Margins of a run's predictions: top probability minus the runner-up (0: a coin flip, 1: certain), per
item, from the stored out-of-fold probabilities and the run's predictions on new batches."""

import json

import numpy as np

__all__ = ["margin_item_ids", "run_margins"]


def run_margins(ws, project, run_id=None):
    """``{item_id: margin}`` for every item the run saw (out-of-fold) or predicted.

    Parameters
    ----------
    ws : Workspace or path
    project : str, int or Project
    run_id : str, optional
        Default: the project's newest finished run. ``{}`` when it has none.

    Returns
    -------
    dict of int to float
        Margins in [0, 1]; a prediction on a new batch overrides nothing (those items have no
        out-of-fold row).
    """
    from ..errors import ArtifactError, NotFoundError
    from ..store import get_project
    from ..store.workspace import as_workspace
    from .runs import load_oof

    ws = as_workspace(ws)
    p = get_project(ws, project)
    with ws.read() as conn:
        if run_id is None:
            row = conn.execute("SELECT id FROM runs WHERE project_id = ? AND status = 'done' "
                               "ORDER BY created_at DESC LIMIT 1", (p.id,)).fetchone()
            if row is None:
                return {}
            run_id = row[0]
        preds = conn.execute("SELECT item_id, probs FROM predictions WHERE run_id = ? ORDER BY id",
                             (run_id,)).fetchall()
    out = {}
    try:
        oof = load_oof(ws, run_id)
    except (NotFoundError, ArtifactError):
        oof = {}
    probs = oof.get("pred_probs")
    if probs is not None and len(probs):
        top2 = np.sort(np.asarray(probs, dtype=np.float64), axis=1)[:, -2:]
        margins = top2[:, -1] - (top2[:, 0] if top2.shape[1] > 1 else 0.0)
        out.update({int(i): float(m) for i, m in zip(oof["item_ids"].tolist(), margins.tolist(), strict=True)})
    for item_id, text in preds:
        values = sorted(json.loads(text or "{}").values(), reverse=True)
        if values:
            out[int(item_id)] = float(values[0] - (values[1] if len(values) > 1 else 0.0))
    return out


def margin_item_ids(ws, project, low=0.0, high=1.0, run_id=None):
    """Ids of the items whose newest-run margin is within ``[low, high]``, sorted."""
    return sorted(i for i, m in run_margins(ws, project, run_id).items() if low <= m <= high)
