"""The Dask path against a real LocalCluster (2 worker processes): same features bit for bit, same
accuracy (within 0.5 pt), LightGBM through lightgbm.dask, predictions on the workers, CLI flag.
Skipped only when dask.distributed is not installed (it is the ``dask`` extra ``make test`` installs).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from synthetic import texture_image

from defectlab.errors import DefectlabError, InputError
from defectlab.features import auto_spec, extract, get_spec
from defectlab.learn import distributed, runs
from defectlab.store import add_item, annotate, create_project, items_frame, load_images, open_workspace

distributed_mod = pytest.importorskip("distributed")
pytestmark = pytest.mark.slow  # a LocalCluster of 2 processes: ~10 s of start-up per module

CLASSES = ("dark", "stripes", "spots")
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    env = {"PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      env=env) as lc:
        yield lc.scheduler_address


def _workspace(root, n=90, seed=0):
    ws = open_workspace(root)
    proj = create_project(ws, "Plates", list(CLASSES))
    rng = np.random.default_rng(seed)
    for k in range(n):
        kind = CLASSES[k % 3]
        _ok, buf = cv2.imencode(".png", texture_image(kind, rng))
        sha, rel = ws.put_blob(buf.tobytes(), "png")
        with ws.transaction() as conn:
            item_id = add_item(conn, proj.id, sha256=sha, blob=rel, width=48, height=48, channels=1,
                               source=f"{kind}_{k}.png")
        annotate(ws, item_id, kind, source="import")
    return ws


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """Two identical workspaces: one for the local path, one for the cluster."""
    return (_workspace(tmp_path_factory.mktemp("local")), _workspace(tmp_path_factory.mktemp("dask")))


def test_features_on_the_cluster_equal_the_local_path_bit_for_bit(cluster, pair):
    local_ws, dask_ws = pair
    rows = items_frame(dask_ws, 1, role="sample")
    spec = get_spec("default")
    X_dask = runs._features(dask_ws, rows, spec, None, 1, scheduler=cluster)
    X_local = runs._features(local_ws, items_frame(local_ws, 1, role="sample"), spec, None, 2,
                             scheduler="local")
    assert X_dask.tobytes() == X_local.tobytes()
    # and both equal extract() on the decoded images
    images = load_images(dask_ws, list(rows["blob"]), list(rows["source"]))
    assert np.array_equal(X_dask.astype(np.float32), extract(images, spec))
    # the client cached the rows: a second call needs no cluster at all
    again = runs._features(dask_ws, rows, spec, None, 1, scheduler="tcp://127.0.0.1:9")
    assert again.tobytes() == X_dask.tobytes()


def test_train_and_predict_on_the_cluster_match_local(cluster, pair, monkeypatch, tmp_path):
    local_ws, dask_ws = pair
    monkeypatch.setenv(distributed.LGBM_BYTES_ENV, "0")  # force lightgbm.dask even for this small set
    local = runs.train_project(local_ws, "Plates", folds=3, seed=0, scheduler="local")
    remote = runs.train_project(dask_ws, "Plates", folds=3, seed=0, scheduler=cluster)
    assert abs(local["accuracy"] - remote["accuracy"]) <= 0.005
    model, _, _ = runs.load_run_model(dask_ws, remote["run_id"])
    from defectlab.learn.models import LightGBMClassifier

    assert type(model.estimators_[0]) is LightGBMClassifier  # stored as a plain local model
    rows = items_frame(dask_ws, 1, role="sample")
    ids = rows["id"].tolist()[:20]
    on_cluster = runs.predict_items(dask_ws, "Plates", remote["run_id"], ids, scheduler=cluster,
                                    explain_top=0)
    here = runs.predict_items(dask_ws, "Plates", remote["run_id"], ids, scheduler="local", explain_top=0)
    assert [p["label"] for p in on_cluster["predictions"]] == [p["label"] for p in here["predictions"]]
    np.testing.assert_allclose([p["confidence"] for p in on_cluster["predictions"]],
                               [p["confidence"] for p in here["predictions"]], rtol=0, atol=1e-12)


def test_environment_variable_selects_the_cluster(cluster, tmp_path, monkeypatch):
    ws = _workspace(tmp_path / "ws", n=12, seed=3)
    monkeypatch.setenv(distributed.SCHEDULER_ENV, cluster)
    assert distributed.resolve_scheduler(None) == cluster
    n = runs.warm_feature_cache(ws, items_frame(ws, 1, role="sample")["id"].tolist())
    assert n == 12
    # the spec train would choose for these 48 x 48 crops (a 64 x 64 working size, defectlab.features.sizing)
    assert list((ws.features_dir / auto_spec(get_spec(None), [48], [48]).hash).glob("shard-*.npy"))


def _class_folders(src, n, seed):
    """``n`` texture crops in one folder per class (the layout ``defectlab import`` reads)."""
    rng = np.random.default_rng(seed)
    for k in range(n):
        kind = CLASSES[k % 3]
        (src / kind).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(src / kind / f"{kind}_{k}.png"), texture_image(kind, rng))
    return src

def test_cli_import_and_train_with_scheduler(cluster, tmp_path):
    src = _class_folders(tmp_path / "src", 30, seed=5)
    env = dict(os.environ, PYTHONPATH=str(REPO), DEFECTLAB_WORKSPACE=str(tmp_path / "ws"))
    env.pop("DEFECTLAB_SCHEDULER", None)
    cmd = [sys.executable, "-m", "defectlab.cli"]
    out = subprocess.run([*cmd, "import", "P", str(src), "--scheduler", cluster, "--json"], env=env,
                         capture_output=True, text=True, timeout=300, check=True)
    assert json.loads(out.stdout)["features_cached"] == 30
    out = subprocess.run([*cmd, "train", "P", "--folds", "3", "--json"],
                         env=dict(env, DEFECTLAB_SCHEDULER=cluster), capture_output=True, text=True,
                         timeout=300, check=True)
    assert json.loads(out.stdout)["timings"]["features"] < 5  # the import warmed the cache


def test_unreachable_scheduler_is_a_clear_error(tmp_path, monkeypatch):
    ws = _workspace(tmp_path / "ws", n=3, seed=4)
    rows = items_frame(ws, 1, role="sample")
    monkeypatch.setattr(distributed, "CONNECT_TIMEOUT", 2)
    with pytest.raises(DefectlabError, match=r"Cannot reach the Dask scheduler at tcp://127\.0\.0\.1:9"):
        runs._features(ws, rows, get_spec("fast"), None, 1, scheduler="tcp://127.0.0.1:9")


def test_resolve_scheduler_and_threshold(monkeypatch):
    monkeypatch.delenv(distributed.SCHEDULER_ENV, raising=False)
    assert distributed.resolve_scheduler(None) is None
    assert distributed.resolve_scheduler("  tcp://h:8786 ") == "tcp://h:8786"
    with pytest.raises(InputError, match="scheduler"):
        distributed.resolve_scheduler(8786)
    monkeypatch.setenv(distributed.LGBM_BYTES_ENV, "123")
    assert distributed.dask_lightgbm_min_bytes() == 123
    monkeypatch.setenv(distributed.LGBM_BYTES_ENV, "lots")
    with pytest.raises(InputError, match="DEFECTLAB_DASK_LGBM_BYTES"):
        distributed.dask_lightgbm_min_bytes()


def test_threshold_follows_the_workers_memory(cluster, monkeypatch):
    from distributed import Client

    monkeypatch.delenv(distributed.LGBM_BYTES_ENV, raising=False)
    with Client(cluster, set_as_default=False) as client:
        limits = [w["memory_limit"] for w in client.scheduler_info()["workers"].values()]
        assert distributed.dask_lightgbm_min_bytes(client) == min(limits) // 2
    assert distributed.dask_lightgbm_min_bytes() == 4 << 30


def test_features_of_packed_blobs_on_the_cluster_equal_the_local_path(cluster, tmp_path):
    """An imported workspace keeps its images in pack files: the workers read them by (root, reference)."""
    src = _class_folders(tmp_path / "src", 24, seed=8)
    from defectlab.ingest import import_source

    ws = open_workspace(tmp_path / "ws")
    import_source(ws, "P", src)
    rows = items_frame(ws, 1, role="sample")
    assert all(b.startswith("blobs/packs/") for b in rows["blob"])
    spec = get_spec("default")
    X_dask = distributed.features_dask(ws, list(rows["sha256"]), list(rows["blob"]), spec, cluster)
    images = load_images(ws, list(rows["blob"]), list(rows["source"]))
    assert X_dask.tobytes() == extract(images, spec).astype(np.float32).tobytes()


def test_folds_are_fitted_one_at_a_time_on_the_cluster(cluster, pair, monkeypatch):
    """Two lightgbm.dask trainings at once on the same workers can wait for each other's ranks: on a
    cluster the folds and the final model are fitted one after the other (locally two at a time)."""
    seen = []
    real = runs.cross_val_oof

    def recording(*args, **kwargs):
        seen.append(kwargs["n_jobs"])
        return real(*args, **kwargs)

    monkeypatch.setattr(runs, "cross_val_oof", recording)
    local_ws, dask_ws = pair
    monkeypatch.setenv(distributed.LGBM_BYTES_ENV, "0")
    runs.train_project(local_ws, "Plates", folds=3, seed=0, scheduler="local", n_jobs=2)
    runs.train_project(dask_ws, "Plates", folds=3, seed=0, scheduler=cluster, n_jobs=2)
    assert seen == [2, 1]
