"""Safe model artifacts: no pickle, an explicit allowlist, and a checksum on every file.

A saved model is a directory:

``meta.json``
    What the model is (``kind``), its classes, feature names, parameters, library versions, any
    caller-supplied ``extra`` information, and the sha256 of every other file.
``model.txt``
    A LightGBM model as LightGBM's own text format (``Booster.model_to_string``).
``model.skops``
    A scikit-learn model in the skops format, loaded with an explicit allowlist of trusted types
    (:data:`TRUSTED_TYPES`) -- never ``trusted=True``, never pickle or joblib.
``member-<i>-<name>.txt|.skops``
    The members of an :class:`~defectlab.learn.models.AverageProbaClassifier`, each saved as above.

:func:`load_model` checks every checksum before parsing anything; a missing, truncated or modified file,
or a skops file that asks for a type outside the allowlist, raises
:class:`~defectlab.errors.ArtifactError` and loads nothing.
"""

from __future__ import annotations

import io
import json
import os
import platform
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from defectlab.errors import ArtifactError, InputError
from defectlab.learn.models import AverageProbaClassifier, LightGBMClassifier
from defectlab.messages import msg
from defectlab.store.run_files import FORMAT, FORMAT_VERSION, META, _sha256, read_meta
from defectlab.store.run_files import check_recorded_files as _check_expected

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    from defectlab._typing import PathLike

__all__ = ["FORMAT", "TRUSTED_TYPES", "artifact_hashes", "library_versions", "load_model", "read_meta", "save_model"]


#: Types beyond skops' built-in safe set that a defectlab artifact may contain. Each is a plain data
#: holder (fitted arrays and numbers) whose loading runs no user code.
TRUSTED_TYPES = (
    "defectlab.learn.models.CalibratedSVC",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.model_selection._split.StratifiedKFold",
    "sklearn.tree._tree.Tree",
)


def library_versions():
    """Versions of the libraries a model depends on, as a JSON-able dict."""
    import lightgbm
    import sklearn
    import skops

    from defectlab import __version__

    return {
        "defectlab": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "lightgbm": lightgbm.__version__,
        "skops": skops.__version__,
    }


def _jsonable(value):
    """``value`` if it survives JSON unchanged, else its repr (for recording parameters)."""
    try:
        json.dumps(value)
        return value
    except TypeError:
        if isinstance(value, np.generic):
            return value.item()
        return repr(value)


def _write(directory, name, data, files):
    path = directory / name
    tmp = directory / (name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    files[name] = _sha256(data)


def _dump_member(model, directory, stem, files):
    """Write one non-ensemble model; return its description for meta.json."""
    if isinstance(model, LightGBMClassifier):
        if not hasattr(model, "booster_"):
            raise InputError(msg("error.artifacts.save_model_needs_fitted_2",
                    "save_model needs a fitted model; this LightGBMClassifier is not fitted."))
        name = stem + ".txt"
        text = model.booster_.model_to_string().encode("utf-8")
        _write(directory, name, text, files)
        from defectlab.learn.model_guard import remember_good

        remember_good(text)  # written from a fitted booster in this process: no child check needed
        params = {k: _jsonable(v) for k, v in model.get_params().items()}
        return {"kind": "lightgbm", "file": name, "params": params, "n_iter": int(model.n_iter_)}
    import skops.io as sio

    buf = io.BytesIO()
    try:
        sio.dump(model, buf)
    except Exception as exc:
        raise InputError(
            msg("error.artifacts.save_model_cannot_store",
                "save_model cannot store a {name} safely ({exc}). Use one of the models from "
                "defectlab.learn.make_model.",
                name=type(model).__name__, exc=exc)
        ) from None
    data = buf.getvalue()
    untrusted = sorted(set(sio.get_untrusted_types(data=data)) - set(TRUSTED_TYPES))
    if untrusted:
        raise InputError(
            msg("error.artifacts.save_model_will_not",
                "save_model will not store a {name}: loading it would need the untrusted types "
                "{untrusted}. Use one of the models from defectlab.learn.make_model.",
                name=type(model).__name__, untrusted=untrusted)
        )
    name = stem + ".skops"
    _write(directory, name, data, files)
    return {"kind": "skops", "file": name, "type": f"{type(model).__module__}.{type(model).__qualname__}"}


def save_model(model: Any, directory: PathLike, feature_names: Sequence[str] | None = None,
               extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Write a fitted classifier to ``directory`` as a safe artifact.

    Parameters
    ----------
    model : estimator
        A fitted classifier from :func:`~defectlab.learn.models.make_model` (or another
        scikit-learn classifier made only of trusted types).
    directory : str or Path
        Created if needed; existing model files in it are replaced.
    feature_names : list of str or None
        The names of the feature columns, recorded for checking at prediction time.
    extra : dict or None
        JSON-able information to record under ``meta["extra"]`` (run id, feature spec...).

    Returns
    -------
    dict
        The contents of ``meta.json``.

    Examples
    --------
    >>> import numpy as np, tempfile
    >>> from defectlab.learn.models import make_model
    >>> X = np.arange(20.0).reshape(10, 2); y = [0] * 5 + [1] * 5
    >>> clf = make_model("logreg").fit(X, y)
    >>> d = tempfile.mkdtemp()
    >>> save_model(clf, d)["kind"]
    'skops'
    >>> np.array_equal(load_model(d).predict_proba(X), clf.predict_proba(X))
    True
    """
    if not hasattr(model, "classes_"):
        raise InputError(
            msg("error.artifacts.save_model_needs_fitted",
                "save_model needs a fitted classifier; the {name} has no classes_ (call fit first).",
                name=type(model).__name__)
        )
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    n_features = int(getattr(model, "n_features_in_", 0)) or None
    if feature_names is not None:
        feature_names = [str(f) for f in feature_names]
        if n_features is not None and len(feature_names) != n_features:
            raise InputError(
                msg("error.artifacts.feature_names_parameter_save",
                    "The 'feature_names' parameter of save_model has {len_feature_names} names but "
                    "the model was fitted on {n_features} columns.",
                    len_feature_names=len(feature_names), n_features=n_features)
            )
    if extra is not None:
        try:
            json.dumps(extra)
        except TypeError as exc:
            raise InputError(msg("error.artifacts.extra_parameter_save_model",
                    "The 'extra' parameter of save_model must be JSON-able ({exc}).",
                    exc=exc)) from None
    (directory / META).unlink(missing_ok=True)  # a half-written artifact must not look complete
    files: dict[str, Any] = {}
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "classes": [_jsonable(c) for c in np.asarray(model.classes_).tolist()],
        "n_features": n_features,
        "feature_names": feature_names,
        "versions": library_versions(),
        "extra": extra or {},
    }
    if isinstance(model, AverageProbaClassifier):
        members = []
        for i, ((name, _), est) in enumerate(zip(model.estimators, model.estimators_, strict=True)):
            desc = _dump_member(est, directory, f"member-{i}-{name}", files)
            desc["name"] = str(name)
            desc["classes"] = [_jsonable(c) for c in np.asarray(est.classes_).tolist()]
            members.append(desc)
        meta.update(kind="ensemble", members=members, weights=model._weights().tolist())
    else:
        meta.update(_dump_member(model, directory, "model", files))
    meta["files"] = files
    _write(directory, META, json.dumps(meta, indent=2, ensure_ascii=False).encode("utf-8"), {})
    return meta


def artifact_hashes(directory: PathLike) -> dict[str, str]:
    """sha256 of every file of a saved model directory (``meta.json`` and model files, not ``*.tmp``).

    Parameters
    ----------
    directory : str or Path

    Returns
    -------
    dict of str to str
        File name to hex sha256, sorted by name; what a run records in the database at training time.
    """
    directory = Path(directory)
    return {p.name: _sha256(p.read_bytes()) for p in sorted(directory.iterdir())
            if p.is_file() and not p.name.endswith(".tmp")}


def _read_verified(directory, name, files):
    """The bytes of ``name`` after checking them against the recorded sha256."""
    if name not in files or Path(name).name != name:
        raise ArtifactError(msg("error.artifacts.model_refers_unlisted_file",
                "The model in {directory} refers to an unlisted file {name}. Retrain.",
                directory=directory, name=repr(name)))
    path = Path(directory) / name
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ArtifactError(msg("error.artifacts.model_file_cannot_read",
                "The model file {path} cannot be read ({exc}). Retrain.",
                path=path, exc=exc)) from None
    if _sha256(data) != files[name]:
        raise ArtifactError(
            msg("error.artifacts.model_file_does_not",
                "The model file {path} does not match its recorded checksum: it was modified or "
                "truncated after saving. It was not loaded; retrain or restore the run from a backup.",
                path=path)
        )
    return data


def _load_member(directory, desc, files, classes, n_features=None, verdicts=None):
    kind = desc.get("kind")
    data = _read_verified(directory, desc.get("file"), files)
    if kind == "lightgbm":
        from defectlab.learn.model_guard import guarded_booster

        n_classes = len(classes) if isinstance(classes, list) else None
        booster = guarded_booster(data, n_features, n_classes, verdicts)
        params = desc.get("params") or {}
        model = LightGBMClassifier(**{k: v for k, v in params.items()
                                      if k in LightGBMClassifier().get_params()})
        model.booster_ = booster
        model.classes_ = np.asarray(classes)
        model.n_features_in_ = int(booster.num_feature())
        model.n_iter_ = int(desc.get("n_iter", booster.current_iteration()))
        return model
    if kind == "skops":
        import skops.io as sio

        try:
            needed = set(sio.get_untrusted_types(data=data))
        except Exception as exc:
            raise ArtifactError(msg("error.artifacts.model_file_not_valid",
                    "The model file in {directory} is not a valid skops file ({exc}).",
                    directory=directory, exc=exc)) from None
        refused = sorted(needed - set(TRUSTED_TYPES))
        if refused:
            raise ArtifactError(
                msg("error.artifacts.model_file_asks_types",
                    "The model file in {directory} asks for types outside defectlab's allowlist: "
                    "{refused}. It was not loaded.",
                    directory=directory, refused=refused)
            )
        try:
            return sio.load(io.BytesIO(data), trusted=sorted(needed))
        except Exception as exc:
            raise ArtifactError(msg("error.artifacts.model_file_cannot_loaded",
                    "The model file in {directory} cannot be loaded ({exc}).",
                    directory=directory, exc=exc)) from None
    raise ArtifactError(msg("error.artifacts.model_has_unknown_kind",
            "The model in {directory} has an unknown kind {kind}. Retrain.",
            directory=directory, kind=repr(kind)))


def load_model(directory: PathLike, expected: Mapping[str, str] | None = None, verdicts: Any = None) -> Any:
    """Load a model written by :func:`save_model`, verifying every file first.

    Parameters
    ----------
    directory : str or Path
    expected : dict of str to str, optional
        ``{file name: sha256}`` recorded elsewhere (the workspace database records it for each run,
        ``meta.json`` included): any difference refuses the model before anything is parsed.
    verdicts : defectlab.learn.model_guard.VerdictStore, optional
        Where the verdicts of the LightGBM child-process check are cached.

    Returns
    -------
    estimator
        A fitted classifier; ``predict_proba`` gives the same numbers as before saving.

    Raises
    ------
    ArtifactError
        When ``meta.json`` or a model file is missing, modified, truncated, differs from ``expected``,
        needs an untrusted type, or is a LightGBM model that is malformed or crashes a child process
        (:mod:`defectlab.learn.model_guard`).
    """
    if expected:
        _check_expected(directory, expected)
    meta = read_meta(directory)
    n_features = meta.get("n_features") if isinstance(meta.get("n_features"), int) else None
    files = meta["files"]
    classes = meta.get("classes")
    if meta.get("kind") == "ensemble":
        members = meta.get("members") or []
        if not members:
            raise ArtifactError(msg("error.artifacts.ensemble_model_lists_no",
                    "The ensemble model in {directory} lists no members. Retrain.",
                    directory=directory))
        for desc in members:  # verify every file before parsing any
            _read_verified(directory, desc.get("file"), files)
        fitted = [(d.get("name", f"member{i}"), _load_member(directory, d, files, d.get("classes", classes),
                                                              n_features, verdicts))
                  for i, d in enumerate(members)]
        return AverageProbaClassifier.from_fitted(fitted, classes, weights=meta.get("weights"))
    return _load_member(directory, meta, files, classes, n_features, verdicts)
