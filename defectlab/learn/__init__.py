"""Training, honest evaluation and prediction.

Pure parts (arrays in, arrays/dicts out, no database):

- :mod:`~defectlab.learn.models` -- ``make_model(name, preset)``, ``MODEL_NAMES``, ``DEFAULT_MODEL``
- :mod:`~defectlab.learn.cv` -- ``cross_val_oof`` (stratified, grouped k-fold out-of-fold probabilities)
- :mod:`~defectlab.learn.metrics` -- ``evaluate`` (accuracy ... ECE, ordinal MAE/QWK, cost)
- :mod:`~defectlab.learn.reject` -- ``choose_threshold``, ``coverage_curve`` (the "needs review" band)
- :mod:`~defectlab.learn.artifacts` -- ``save_model`` / ``load_model`` (LightGBM text, skops; no pickle)
- :mod:`~defectlab.learn.compare` -- ``compare_runs`` (deltas, fixed / broken items)
- :mod:`~defectlab.learn.explain` -- ``explain`` (top feature families per prediction)

With the workspace store (:mod:`~defectlab.learn.runs`): ``train_project``, ``list_runs``, ``get_run``,
``compare``, ``approve_run``, ``predict_batch``, ``predict_items``, ``list_predictions``,
``accept_predictions``, ``export_predictions_csv``, ``warm_feature_cache``.

On a Dask cluster (:mod:`~defectlab.learn.distributed`, imported lazily): features, predictions and
large LightGBM fits when a scheduler address is given (``scheduler=`` / ``$DEFECTLAB_SCHEDULER``).
"""

from defectlab.learn.artifacts import load_model, save_model
from defectlab.learn.compare import compare_runs
from defectlab.learn.cv import OOFResult, cross_val_oof, make_folds
from defectlab.learn.explain import explain
from defectlab.learn.metrics import evaluate
from defectlab.learn.models import DEFAULT_MODEL, DEFAULT_PRESET, MODEL_NAMES, PRESETS, make_model
from defectlab.learn.reject import ThresholdChoice, choose_threshold, coverage_curve, needs_review
from defectlab.learn.runs import (
    accept_predictions,
    approve_run,
    compare,
    export_predictions_csv,
    get_run,
    list_predictions,
    list_runs,
    load_oof,
    load_run_model,
    predict_batch,
    predict_items,
    resolve_run,
    run_features,
    summary_of,
    train_project,
    warm_feature_cache,
)

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_PRESET",
    "MODEL_NAMES",
    "PRESETS",
    "OOFResult",
    "ThresholdChoice",
    "accept_predictions",
    "approve_run",
    "choose_threshold",
    "compare",
    "compare_runs",
    "coverage_curve",
    "cross_val_oof",
    "evaluate",
    "explain",
    "export_predictions_csv",
    "get_run",
    "list_predictions",
    "list_runs",
    "load_model",
    "load_oof",
    "load_run_model",
    "make_folds",
    "make_model",
    "needs_review",
    "predict_batch",
    "predict_items",
    "resolve_run",
    "run_features",
    "save_model",
    "summary_of",
    "train_project",
    "warm_feature_cache",
]
