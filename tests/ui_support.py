"""Helpers for the AppTest page tests: tiny workspaces built straight through the store."""

from pathlib import Path

import cv2
import numpy as np
from streamlit.testing.v1 import AppTest

from defectlab.store import add_item, annotate, create_batch, create_project, open_workspace

REPO = Path(__file__).resolve().parents[1]
APP = str(REPO / "app.py")
PAGES = "defectlab/ui/pages"


def png(seed, size=32, colour=False):
    """Bytes of a small deterministic PNG (different content for each seed)."""
    rng = np.random.default_rng(seed)
    shape = (size, size, 3) if colour else (size, size)
    image = rng.integers(0, 256, shape, dtype=np.uint8)
    return cv2.imencode(".png", image)[1].tobytes()


def tiny_workspace(root, n_items=12, classes=("scratch", "pit", "scale"), labeled=0, plate=False,
                   name="defects", ordinal=False):
    """A workspace with one project of ``n_items`` crops, the first ``labeled`` of them labeled in turn.

    With ``plate`` it also holds one 200x160 plate image (role "plate").
    Returns ``(ws, project, item_ids)``.
    """
    ws = open_workspace(root)
    project = create_project(ws, name, list(classes), ordinal=ordinal)
    ids = []
    with ws.transaction() as conn:
        batch = create_batch(conn, project.id, "import", "tiny", "local")
        for k in range(n_items):
            data = png(k + 1000 * project.id)
            sha, rel = ws.put_blob(data, "png")
            ids.append(add_item(conn, project.id, sha256=sha, blob=rel, width=32, height=32, channels=1,
                                source=f"crops/{k:03d}.png", batch_id=batch))
        if plate:
            rng = np.random.default_rng(7)
            image = rng.integers(0, 256, (160, 200, 3), dtype=np.uint8)
            data = cv2.imencode(".png", image)[1].tobytes()
            sha, rel = ws.put_blob(data, "png")
            add_item(conn, project.id, sha256=sha, blob=rel, width=200, height=160, channels=3,
                     source="plates/plate_1.png", batch_id=batch, role="plate")
    for k in range(labeled):
        annotate(ws, ids[k], classes[k % len(classes)], source="import")
    return ws, project, ids


def app(ws_root, page=None, timeout=30):
    """An AppTest of app.py on ``ws_root``, already run once (and switched to ``page`` if given)."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    at.session_state["workspace"] = str(ws_root)
    at.session_state["lang"] = "en"
    at.run()
    if page:
        at.switch_page(f"{PAGES}/{page}.py").run()
    return at


def signed_in_app(ws_root, user, page, lang="en", timeout=30):
    """An AppTest of app.py on a team-mode ``ws_root`` with ``user`` signed in (as the login page leaves the
    session), switched to ``page``."""
    import time

    at = AppTest.from_file(APP, default_timeout=timeout)
    at.session_state["workspace"] = str(ws_root)
    at.session_state["lang"] = lang
    at.session_state["auth_user"] = user
    at.session_state["last_seen"] = time.time()
    at.run()
    at.switch_page(f"{PAGES}/{page}.py").run()
    return at


def no_exception(at):
    """Assert the run raised nothing; show the exceptions otherwise."""
    assert not at.exception, [e.value for e in at.exception]


def button(at, key):
    return at.button(key=key)


def demo_workspace(root, n_per_class=8, n_unlabeled=6, train=False, size=64, queues=True):
    """A project of synthetic steel-defect crops (three classes) with ``n_unlabeled`` unlabeled ones;
    with ``train`` also a finished run (fast model) and, with ``queues``, its stored review queues (as the
    training job leaves them). Returns ``(ws, project, labeled_ids, unlabeled_ids)``."""
    from defectlab.demo import make_defect_crops

    images, labels = make_defect_crops(n_per_class=n_per_class + n_unlabeled // 3 + 1, size=size,
                                       random_state=0)
    keep = [k for k, lab in enumerate(labels) if lab in ("crazing", "patches", "scratches")]
    ws = open_workspace(root)
    project = create_project(ws, "steel", ["crazing", "patches", "scratches"])
    labeled, unlabeled, seen = [], [], {}
    with ws.transaction() as conn:
        batch = create_batch(conn, project.id, "import", "demo", "local")
        for k in keep:
            lab = labels[k]
            if seen.get(lab, 0) >= n_per_class and len(unlabeled) >= n_unlabeled:
                continue
            data = cv2.imencode(".png", images[k])[1].tobytes()
            sha, rel = ws.put_blob(data, "png")
            item = add_item(conn, project.id, sha256=sha, blob=rel, width=size, height=size, channels=1,
                            source=f"{lab}/{k:03d}.png", batch_id=batch)
            seen[lab] = seen.get(lab, 0) + 1
            if seen[lab] <= n_per_class:
                labeled.append((item, lab))
            elif len(unlabeled) < n_unlabeled:
                unlabeled.append(item)
    for item, lab in labeled:
        annotate(ws, item, lab, source="import")
    if train:
        from defectlab.learn import train_project

        run = train_project(ws, project.name, model="logreg", folds=3, seed=0, model_preset="fast",
                            preset="fast")
        if queues:
            from defectlab.quality import compute_run_queues

            compute_run_queues(ws, run["run_id"])
    return ws, project, [i for i, _ in labeled], unlabeled
