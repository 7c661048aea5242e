"""Why a prediction: the feature *families* that pushed an item towards its predicted class.

Feature names are ``"<family>.<detail>"`` (``"lbp.u8_r1.bin3"``); contributions of the columns of one
family are summed, and the family gets its plain-words title from
``defectlab.features.FAMILY_TITLES`` (falling back to the family name).

How a contribution is measured depends on the model:

* LightGBM: exact tree SHAP values (``pred_contrib``) towards the predicted class, in log-odds.
* Logistic regression (standardised pipeline): ``coef[k] * standardised value``, in log-odds.
* Ensemble of those: the members' contributions, weighted like their probabilities.
* Any other model (SVM, forests): occlusion -- the drop of the predicted class's probability when the
  family's columns are replaced by a reference row (``background``, e.g. the training means).

Positive numbers support the predicted class; the largest come first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.pipeline import Pipeline

from defectlab._validation import _check_features, _check_int
from defectlab.errors import InputError
from defectlab.learn.models import AverageProbaClassifier, LightGBMClassifier
from defectlab.messages import msg

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from defectlab._typing import ArrayLike

__all__ = ["explain", "family_of", "family_titles"]


def family_of(name):
    """The family of a feature name: the part before the first dot (``"lbp.r1.bin3"`` -> ``"lbp"``)."""
    return str(name).split(".", 1)[0]


def family_titles():
    """``{family: plain-words title}`` from the features package, or ``{}`` when unavailable."""
    try:
        from defectlab.features import FAMILY_TITLES
    except Exception:  # the features package is optional for this module
        return {}
    return dict(FAMILY_TITLES)


def _linear_contrib(model, X, pred):
    """(N, F) contributions for a scaler + logistic-regression pipeline, or None if not one."""
    if not isinstance(model, Pipeline):
        return None
    clf = model.steps[-1][1]
    if not isinstance(clf, (LogisticRegression, LogisticRegressionCV)):
        return None
    Z = model[:-1].transform(X) if len(model.steps) > 1 else X
    coef = np.asarray(clf.coef_, dtype=np.float64)
    if coef.shape[0] == 1:  # binary: one row, towards classes_[1]
        coef = np.vstack([-coef[0], coef[0]])
    return coef[pred] * Z


def _member_contrib(model, X, pred):
    if isinstance(model, LightGBMClassifier):
        c = model.pred_contrib(X)
        return c[np.arange(X.shape[0]), pred, :-1]
    return _linear_contrib(model, X, pred)


def _contributions(model, X, pred, background):
    """(N, F) per-column contributions towards the predicted class, and the method used."""
    direct = _member_contrib(model, X, pred)
    if direct is not None:
        return direct, ("tree_shap" if isinstance(model, LightGBMClassifier) else "linear")
    if isinstance(model, AverageProbaClassifier):
        total = np.zeros(X.shape, dtype=np.float64)
        ok = True
        classes = model.classes_.tolist()
        for w, est in zip(model._weights(), model.estimators_, strict=True):
            col = {c: i for i, c in enumerate(est.classes_.tolist())}
            if any(classes[k] not in col for k in np.unique(pred)):
                ok = False
                break
            member_pred = np.array([col[classes[k]] for k in pred], dtype=np.intp)
            part = _member_contrib(est, X, member_pred)
            if part is None:
                ok = False
                break
            total += w * part
        if ok:
            return total, "ensemble"
    return None, "occlusion"


def explain(model: Any, X: ArrayLike, feature_names: Sequence[str], top: int = 3,
            background: ArrayLike | None = None) -> list[list[dict[str, Any]]]:
    """The top feature families behind each prediction.

    Parameters
    ----------
    model : fitted classifier
    X : (N, F) array-like of float
        Feature rows to explain.
    feature_names : list of str
        F names ``"<family>.<detail>"`` matching the columns of ``X``.
    top : int, default=3
        Families per item.
    background : (F,) array-like of float or None
        Reference row for models explained by occlusion (SVM, forests); required for them.

    Returns
    -------
    list of list of dict
        Per row: up to ``top`` dicts ``{"family", "title", "contribution"}``, largest contribution
        first; plus ``"method"`` (``"tree_shap"``, ``"linear"``, ``"ensemble"`` or ``"occlusion"``).

    Examples
    --------
    >>> import numpy as np
    >>> from defectlab.learn.models import make_model
    >>> X = np.array([[0., 0.], [0., 1.], [4., 0.], [4., 1.]] * 5); y = [0, 0, 1, 1] * 5
    >>> clf = make_model("logreg").fit(X, y)
    >>> explain(clf, X[2:3], ["glcm.contrast", "lbp.bin0"], top=1)[0][0]["family"]
    'glcm'
    """
    X = _check_features(X, "explain")
    top = _check_int(top, "explain", "top", 1)
    names = [str(n) for n in feature_names]
    if len(names) != X.shape[1]:
        raise InputError(
            msg("error.explain.feature_names_parameter_explain",
                "The 'feature_names' parameter of explain has {len_names} names but X has "
                "{x_shape_1} columns; pass the names of the run's feature spec.",
                len_names=len(names), x_shape_1=X.shape[1])
        )
    proba = model.predict_proba(X)
    pred = np.argmax(proba, axis=1)
    families = list(dict.fromkeys(family_of(n) for n in names))
    fam_index = np.array([families.index(family_of(n)) for n in names], dtype=np.intp)
    contrib, method = _contributions(model, X, pred, background)
    if contrib is not None:
        onehot = np.zeros((X.shape[1], len(families)))
        onehot[np.arange(X.shape[1]), fam_index] = 1.0
        by_family = contrib @ onehot
    else:
        if background is None:
            raise InputError(
                msg("error.explain.explain_needs_background_row",
                    "explain needs a 'background' row (e.g. the training feature means) to explain a "
                    "{name}; pass background=X_train.mean(axis=0).",
                    name=type(model).__name__)
            )
        ref = np.asarray(background, dtype=np.float64).ravel()
        if ref.shape[0] != X.shape[1]:
            raise InputError(
                msg("error.explain.background_parameter_explain_has",
                    "The 'background' parameter of explain has {ref_shape_0} values; X has "
                    "{x_shape_1} columns.",
                    ref_shape_0=ref.shape[0], x_shape_1=X.shape[1])
            )
        base = proba[np.arange(X.shape[0]), pred]
        by_family = np.zeros((X.shape[0], len(families)))
        for f in range(len(families)):
            cols = fam_index == f
            Xf = X.copy()
            Xf[:, cols] = ref[cols]
            by_family[:, f] = base - model.predict_proba(Xf)[np.arange(X.shape[0]), pred]
    titles = family_titles()
    out = []
    for row in by_family:
        order = np.argsort(-row, kind="stable")[:top]
        out.append([
            {"family": families[f], "title": titles.get(families[f], families[f]),
             "contribution": float(row[f]), "method": method}
            for f in order.tolist()
        ])
    return out
