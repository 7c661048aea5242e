"""Tests of defectlab.learn.artifacts: exact round trips, checksums, allowlist, and no pickle at all."""

import io
import json
import pickle

import numpy as np
import pytest
import skops.io as sio
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from defectlab.errors import ArtifactError, InputError
from defectlab.learn.artifacts import load_model, read_meta, save_model
from defectlab.learn.models import MODEL_NAMES, make_model


def _data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 4))
    y = np.array(["seam", "crack", "pit"])[(X[:, 0] > 0).astype(int) + (X[:, 1] > 0.6)]
    return X, y


def _fitted(name):
    X, y = _data()
    model = make_model(name, n_jobs=1)
    small = {"lightgbm": {"n_estimators": 15}, "random_forest": {"n_estimators": 5},
             "extra_trees": {"n_estimators": 5},
             "ensemble": {"lightgbm__n_estimators": 15}}
    return model.set_params(**small.get(name, {})).fit(X, y), X


@pytest.fixture
def no_pickle(monkeypatch):
    """Any use of pickle (or joblib.load) during the test raises."""

    def boom(*args, **kwargs):
        raise AssertionError("pickle was used")

    monkeypatch.setattr(pickle, "loads", boom)
    monkeypatch.setattr(pickle, "load", boom)
    monkeypatch.setattr(pickle, "Unpickler", boom)
    import joblib

    monkeypatch.setattr(joblib, "load", boom)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_round_trip_is_exact_and_pickle_free(name, tmp_path, request):
    model, X = _fitted(name)
    names = [f"fam{i % 2}.col{i}" for i in range(4)]
    meta = save_model(model, tmp_path, feature_names=names, extra={"run_id": "r1"})
    request.getfixturevalue("no_pickle")
    loaded = load_model(tmp_path)
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert loaded.classes_.tolist() == model.classes_.tolist()
    on_disk = read_meta(tmp_path)
    assert on_disk == json.loads(json.dumps(meta))
    assert on_disk["feature_names"] == names and on_disk["extra"] == {"run_id": "r1"}
    assert set(on_disk["files"]) == {p.name for p in tmp_path.iterdir()} - {"meta.json"}


def test_lightgbm_is_stored_as_text(tmp_path):
    model, _ = _fitted("lightgbm")
    save_model(model, tmp_path)
    assert (tmp_path / "model.txt").read_text().startswith("tree")


@pytest.mark.parametrize("damage", ["flip", "truncate"])
@pytest.mark.parametrize("name", ["lightgbm", "logreg"])
def test_tampered_or_truncated_file_is_refused(name, damage, tmp_path, no_pickle):
    model, _ = _fitted(name)
    meta = save_model(model, tmp_path)
    path = tmp_path / next(iter(meta["files"]))
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x01
    else:
        data = data[: len(data) // 2]
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="does not match its recorded checksum"):
        load_model(tmp_path)


def test_untrusted_type_is_refused_even_with_a_valid_checksum(tmp_path, no_pickle):
    # a file crafted to call a function on load: its checksum is "right" but its types are not allowed
    evil = Pipeline([("f", FunctionTransformer(func=np.save)), ("s", StandardScaler())])
    buf = io.BytesIO()
    sio.dump(evil, buf)
    model, _ = _fitted("logreg")
    meta = save_model(model, tmp_path)
    (tmp_path / "model.skops").write_bytes(buf.getvalue())
    import hashlib

    meta["files"]["model.skops"] = hashlib.sha256(buf.getvalue()).hexdigest()
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="outside defectlab's allowlist"):
        load_model(tmp_path)


class HomeMadeScaler(StandardScaler):
    """A type skops does not know: saving it would make the artifact unloadable."""


def test_saving_an_untrusted_model_is_refused(tmp_path):
    X, y = _data()
    odd = Pipeline([("f", HomeMadeScaler()), ("clf", make_model("logreg"))]).fit(X, y)
    with pytest.raises(InputError, match="untrusted types"):
        save_model(odd, tmp_path)


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda d: (d / "meta.json").unlink(), "meta.json is missing"),
        (lambda d: (d / "meta.json").write_text("{not json"), "unreadable"),
        (lambda d: (d / "meta.json").write_text('{"format": "other"}'), "not a defectlab model"),
        (lambda d: (d / "model.txt").unlink(), "cannot be read"),
    ],
)
def test_broken_directory_raises_artifact_error(mutate, match, tmp_path):
    model, _ = _fitted("lightgbm")
    save_model(model, tmp_path)
    mutate(tmp_path)
    with pytest.raises(ArtifactError, match=match):
        load_model(tmp_path)


def test_path_escape_in_meta_is_refused(tmp_path):
    model, _ = _fitted("lightgbm")
    meta = save_model(model, tmp_path / "m")
    (tmp_path / "evil.txt").write_text("x")
    meta["file"] = "../evil.txt"
    meta["files"]["../evil.txt"] = "0" * 64
    (tmp_path / "m" / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="unlisted file"):
        load_model(tmp_path / "m")


def test_save_checks_inputs(tmp_path):
    with pytest.raises(InputError, match="needs a fitted classifier"):
        save_model(make_model("logreg"), tmp_path)
    model, _ = _fitted("logreg")
    with pytest.raises(InputError, match="has 2 names but the model was fitted on 4"):
        save_model(model, tmp_path, feature_names=["a", "b"])
