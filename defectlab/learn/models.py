"""Model specs: the classifiers a project can be trained with, and their presets.

Every estimator follows scikit-learn's conventions: ``__init__`` only stores keyword arguments,
``fit`` validates and returns ``self``, learned attributes end in ``_``, ``predict_proba`` columns
follow ``classes_``, randomness comes from ``random_state`` through ``check_random_state``.

=================  =====================================================================
name               estimator
=================  =====================================================================
``ensemble``       :class:`AverageProbaClassifier` of ``lightgbm`` and ``logreg`` (default)
``lightgbm``       :class:`LightGBMClassifier` (gradient-boosted trees, early stopping)
``logreg``         ``StandardScaler`` + multinomial ``LogisticRegression``
``svm``            ``StandardScaler`` + :class:`CalibratedSVC` (RBF SVM, sigmoid-calibrated)
``random_forest``  ``RandomForestClassifier``
``extra_trees``    ``ExtraTreesClassifier``
=================  =====================================================================

Presets: ``fast`` (the default: seconds on a few thousand items and a few hundred columns on two
cores) and ``accurate`` (more trees, a lower learning rate, a searched regularisation strength).

Choice of the default model (evidence)
--------------------------------------
Out-of-fold accuracy, 5-fold stratified, mean of 3 seeds, the ``default`` feature preset (254 columns),
``fast`` presets, class weights balanced; CV seconds on the shared 2-core machine (load ~10, so
ratios matter more than the seconds):

=============  ==============  ====================  ==========================  ================
model          NEU-DET 1,800   demo defects (480)    demo scrap grades (240)     log-loss N/D/S
=============  ==============  ====================  ==========================  ================
ensemble       **99.61%** 6.5s **96.39%** 3.5s       82.50% 2.0s (QWK 0.930)     **.012/.128/.495**
lightgbm       99.56% 5.1s     94.24% 2.5s           84.03% 1.5s (QWK 0.936)     .016/.179/.507
logreg         99.48% 0.8s     95.35% 0.4s           81.53% 0.3s (QWK 0.926)     .013/.151/.686
svm            99.41% 2.0s     90.69% 1.1s           83.61% 0.6s (QWK 0.935)     .054/.399/.485
extra_trees    99.59% 4.3s     90.69% 3.3s           85.69% 3.7s (QWK 0.943)     .067/.498/.418
=============  ==============  ====================  ==========================  ================

No single model wins everywhere. The average of LightGBM and logistic-regression probabilities is the
best or tied on the two defect sets, never the worst, and has the lowest log-loss (the best
probabilities, which the reject band and the label-issue review rely on) on all three -- so it is the
default. LightGBM alone is the quick runner-up; logistic regression is 6-8x faster still and the choice
when seconds matter most. LightGBM's ``fast`` preset uses a fixed 100 rounds below 2,000 items: a 10%
early-stopping split cost accuracy on these set sizes (demo defects 93.3% with early stopping vs 94.6%
without) and the fixed count was as fast. ``benchmarks/train.py`` reproduces the NEU numbers.

At plant scale (``benchmarks/scale.py``, 100,000 crops, 80,000 rows per fit, 254 columns) the
logistic regression's lbfgs stopped at ``tol=1e-4`` after 207 iterations (24.8 s per fit) and at
``tol=1e-3`` after 45 (6.1 s) with the same held-out accuracy, so the ``fast`` preset uses 1e-3 (NEU
5-fold accuracy stays >= 0.995, ``tests/test_learn_neu.py``). Training passes float32 features (no
float64 copy of the matrix; logistic regression then fits in float32: 1.3 vs 2.7 CPU-s on 80,000 rows,
same 22 iterations and held-out accuracy). LightGBM finds its bins from :data:`BIN_SAMPLE_ROWS` rows and
samples fewer rows and columns per tree from :data:`LARGE_ROWS` rows on (see :class:`LightGBMClassifier`);
one OpenMP thread per fit,
two fits side by side, stays the rule (a fit with 2 threads took 86 s instead of 32 s on the loaded
machine). Within one cross-validation LightGBM bins the matrix once (:class:`SharedBins`, from
:data:`LARGE_ROWS` rows on): 100k x 235 fits CPU 76 -> 68 s, peak RSS 855 -> 733 MB, same accuracy
(``benchmarks/fits.py``). From :data:`SCALE_ROWS` (50,000) rows per fit the ``fast`` preset's LightGBM boosts
67 rounds at 0.15 with leaves of at least rows / 400 instead of 100 at 0.1 (the large-N rule, see
:class:`LightGBMClassifier`): ensemble CPU 0.75-0.79x at the same out-of-fold accuracy within 0.07 points
(NEU crops at scale 0.9662 vs 0.9666, ``benchmarks/neu_crops.py``).
"""

from __future__ import annotations

import inspect
import numbers
import threading
from typing import TYPE_CHECKING

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.utils import check_random_state
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.validation import check_is_fitted

from defectlab._validation import _check_features, _check_labels
from defectlab.errors import InputError
from defectlab.messages import msg

if TYPE_CHECKING:
    from typing import Any

    from defectlab._typing import RandomState

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_PRESET",
    "MODEL_NAMES",
    "PRESETS",
    "SCALE_ROWS",
    "AverageProbaClassifier",
    "CalibratedSVC",
    "LightGBMClassifier",
    "SharedBins",
    "make_model",
    "model_params",
]

#: Model names; the default first (the UI offers them in this order).
MODEL_NAMES = ("ensemble", "lightgbm", "logreg", "svm", "random_forest", "extra_trees")
PRESETS = ("fast", "accurate")
DEFAULT_MODEL = "ensemble"
DEFAULT_PRESET = "fast"

_MAX_SEED = np.iinfo(np.int32).max
_AUTO_EARLY_STOPPING_ROWS = 2000
#: From this many training rows on, LightGBM samples ``large_subsample`` of the rows and
#: ``large_colsample`` of the columns per tree (see :class:`LightGBMClassifier`).
LARGE_ROWS = 20_000
#: From this many training rows on, a LightGBM fit whose ``scale_*`` parameters are set (the ``fast``
#: preset) boosts fewer rounds at a higher learning rate with larger leaves (see :class:`LightGBMClassifier`).
SCALE_ROWS = 50_000
#: Rows LightGBM samples to find the bin edges (its default is 200,000). It keeps the sampled values
#: as float64 per column: at 80,000 rows x 254 columns that was ~150 MB and half of a fit's CPU time
#: (3.0 of 6.4 s); 20,000 rows give 63 quantile bins just as well (same held-out accuracy on
#: ``benchmarks/scale.py``'s folds). Sets of up to 20,000 rows are binned from all rows, as before.
BIN_SAMPLE_ROWS = 20_000


def _seed_from(random_state):
    """An int seed for libraries that take one (LightGBM), drawn from ``random_state``."""
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        return int(random_state) % _MAX_SEED
    return int(check_random_state(random_state).randint(_MAX_SEED))


def _check_fit_inputs(X, y, where, allow_float32=False):
    X = _check_features(X, where, allow_float32=allow_float32)
    y = _check_labels(y, where, name="y", n_samples=X.shape[0])
    classes, y_enc = _encode_labels(y, where)
    return X, y, classes, y_enc


def _encode_labels(y, where):
    """Sorted classes and each label's index; a clear error below two classes."""
    classes, y_enc = np.unique(y, return_inverse=True)
    if classes.shape[0] < 2:
        raise InputError(
            msg("error.models.needs_items_least_classes",
                "{where} needs items of at least 2 classes to learn anything; got only "
                "{classes_tolist}. Label items of another class first.",
                where=where, classes_tolist=classes.tolist())
        )
    return classes, y_enc.astype(np.intp)


def _dataset_params(max_bin):
    """LightGBM Dataset parameters: the bins and the rows sampled to find them (:data:`BIN_SAMPLE_ROWS`)."""
    return {"max_bin": int(max_bin), "bin_construct_sample_cnt": BIN_SAMPLE_ROWS, "verbosity": -1}


def _split_datasets(lgb, X, y_enc, weight, idx_tr, idx_va, max_bin):
    """Training and validation LightGBM datasets of the rows ``idx_tr`` / ``idx_va`` of ``X``.

    From :data:`LARGE_ROWS` rows on, ``X`` is binned once and both sets are row subsets of the binned
    data (one byte per value): no float copies of the two parts, which at 100,000 rows were two more
    copies of the feature matrix per fit. The bins then come from all of ``X`` (the validation rows
    too); smaller sets keep binning the training rows only, as the NEU and demo numbers were made.
    """
    if X.shape[0] < LARGE_ROWS:
        dtrain = lgb.Dataset(X[idx_tr], y_enc[idx_tr], weight=weight[idx_tr], free_raw_data=True,
                             params=_dataset_params(max_bin))
        return dtrain, lgb.Dataset(X[idx_va], y_enc[idx_va], weight=weight[idx_va], reference=dtrain,
                                   params=_dataset_params(max_bin))
    full = lgb.Dataset(X, y_enc, weight=weight, free_raw_data=True,
                       params=_dataset_params(max_bin)).construct()
    return full.subset(idx_tr), full.subset(idx_va)


class SharedBins:
    """A feature matrix binned once for LightGBM, shared by every fit of one cross-validation.

    :func:`~defectlab.learn.cv.cross_val_oof` makes one per call and hands it to
    :meth:`LightGBMClassifier.fit_rows`: the folds and the final model then take their training and
    early-stopping sets as row subsets of one binned :class:`lightgbm.Dataset` of all rows of ``X``
    (one per ``max_bin``), instead of each fit sampling, sorting and binning its own copy of the
    rows. The bin edges are quantiles of the unlabeled feature values of all rows (a fold's bins
    thus also see its scored rows' values, never their labels); the final model is binned exactly as
    before (it always binned all rows). Thread-safe: the binning and the subsets are made under a
    lock, the fits run in parallel.

    Parameters
    ----------
    X : (N, F) ndarray of float32 or float64
        The whole feature matrix (not copied).

    Attributes
    ----------
    constructions : int
        Binned datasets built so far (one per distinct ``max_bin``).
    """

    def __init__(self, X):
        self.X = X
        self.constructions = 0
        self._full = {}
        self._lock = threading.Lock()

    def datasets(self, lgb, row_sets, labels, weights, params):
        """Constructed LightGBM datasets of the rows ``row_sets[i]`` (sorted indices into ``X``).

        ``labels[i]`` and ``weights[i]`` are the subset's own (a fold encodes its own classes and
        balances its own class weights); ``params`` are the fit's training parameters (the subsets are
        constructed with them, so that ``lightgbm.train`` finds nothing to change). The first set is
        the training set; the others share its bins.
        """
        max_bin = int(params["max_bin"])
        with self._lock:
            full = self._full.get(max_bin)
            if full is None:
                full = lgb.Dataset(self.X, np.zeros(self.X.shape[0]), free_raw_data=True,
                                   params=_dataset_params(max_bin)).construct()
                self._full[max_bin] = full
                self.constructions += 1
            sub_params = {**_dataset_params(max_bin), **params}
            sets = [full.subset(np.asarray(rows, dtype=np.int32), params=sub_params).construct()
                    for rows in row_sets]
        for dset, label, weight in zip(sets, labels, weights, strict=True):
            dset.set_label(label)
            dset.set_weight(weight)
        return sets


class LightGBMClassifier(ClassifierMixin, BaseEstimator):
    """Gradient-boosted trees (LightGBM) with early stopping on an inner validation split.

    Parameters
    ----------
    n_estimators : int, default=100
        Boosting rounds (the most, when early stopping is on).
    learning_rate : float, default=0.1
    num_leaves : int, default=15
    min_child_samples : int, default=10
    subsample : float, default=0.8
        Row fraction per round (bagging every round).
    colsample_bytree : float, default=0.5
        Column fraction per tree.
    reg_lambda : float, default=1.0
    max_bin : int, default=63
        Histogram bins per column; 63 is plenty for texture features and twice as fast as 255.
    large_subsample, large_colsample : float, default=0.3
        Row and column fractions per tree used instead of ``subsample`` / ``colsample_bytree``
        (when smaller) from :data:`LARGE_ROWS` training rows on. The histogram work per tree is
        what a LightGBM fit costs; on 72,000 rows x 254 texture columns (``benchmarks/scale.py``'s
        synthetic crops) 0.3 / 0.3 fitted 2.5-5x faster than 0.8 / 0.5 at the same accuracy
        (0.9744 vs 0.9751, the set's label noise caps it at ~0.975). Smaller sets keep the
        defaults, on which the NEU and demo accuracies were chosen.
    scale_rows : int, default=SCALE_ROWS
        Training rows from which the ``scale_*`` rule applies (when those are set).
    scale_learning_rate, scale_n_estimators, scale_min_leaf_rows : float, int, int or None, default=None
        The large-N rule (off when None; the ``fast`` preset sets 0.15, 67 and 400): from ``scale_rows``
        training rows on, ``scale_learning_rate`` replaces ``learning_rate`` (when larger),
        ``scale_n_estimators`` caps the rounds and every leaf holds at least one row in
        ``scale_min_leaf_rows`` (200 at 80,000 rows). At 100,000 crops early stopping never fired within
        100 rounds; 67 rounds at 0.15 with these leaves cost 0.69x the CPU of 100 at 0.1 at the same
        accuracy on NEU crops at scale (57,000 rows of 64x64 crops of the NEU images, held-out images:
        0.9632 vs 0.9636). ``benchmarks/fits.py --modes shared,oldrule`` measures it in the ensemble.
    early_stopping : {"auto", True, False}, default="auto"
        Hold out ``validation_fraction`` of the training rows (stratified) and stop when its
        log-loss has not improved for ``n_iter_no_change`` rounds. ``"auto"`` enables it from 2,000
        rows (below that, holding out 10% costs more accuracy than the saved rounds are worth) when
        every class has at least 2 rows.
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=10
    class_weight : {"balanced"} or dict or None, default=None
    random_state : int, RandomState or None, default=None
    n_jobs : int, default=1
        LightGBM (OpenMP) threads. One is the safe default: on a machine whose cores are shared,
        two OpenMP threads made a fit 7-30x slower (spin-waiting); use both cores by fitting two
        models side by side, as :func:`~defectlab.learn.cv.cross_val_oof` does.

    Attributes
    ----------
    classes_ : (C,) ndarray
    n_features_in_ : int
    booster_ : lightgbm.Booster
        Holds exactly the kept rounds (its text model is what the artifact stores).
    n_iter_ : int
        Boosting rounds kept.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 4)); y = (X[:, 0] > 0).astype(int)
    >>> clf = LightGBMClassifier(n_estimators=20, random_state=0).fit(X, y)
    >>> clf.predict_proba(X).shape
    (60, 2)
    """

    def __init__(
        self,
        n_estimators=100,
        learning_rate=0.1,
        num_leaves=15,
        min_child_samples=10,
        subsample=0.8,
        colsample_bytree=0.5,
        reg_lambda=1.0,
        max_bin=63,
        large_subsample=0.3,
        large_colsample=0.3,
        scale_rows=SCALE_ROWS,
        scale_learning_rate=None,
        scale_n_estimators=None,
        scale_min_leaf_rows=None,
        early_stopping="auto",
        validation_fraction=0.1,
        n_iter_no_change=10,
        class_weight=None,
        random_state=None,
        n_jobs=1,
    ):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.max_bin = max_bin
        self.large_subsample = large_subsample
        self.large_colsample = large_colsample
        self.scale_rows = scale_rows
        self.scale_learning_rate = scale_learning_rate
        self.scale_n_estimators = scale_n_estimators
        self.scale_min_leaf_rows = scale_min_leaf_rows
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.class_weight = class_weight
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _scale_rule(self, n_samples):
        """Whether the large-N rule applies to a fit on ``n_samples`` rows."""
        return n_samples >= int(self.scale_rows) and any(
            v is not None for v in (self.scale_learning_rate, self.scale_n_estimators, self.scale_min_leaf_rows))

    def _rounds(self, n_samples):
        """Boosting rounds (the most, with early stopping) of a fit on ``n_samples`` rows."""
        rounds = int(self.n_estimators)
        if self._scale_rule(n_samples) and self.scale_n_estimators is not None:
            rounds = min(rounds, int(self.scale_n_estimators))
        return rounds

    def _lgb_params(self, n_classes, n_samples, seed):
        subsample, colsample = float(self.subsample), float(self.colsample_bytree)
        if n_samples >= LARGE_ROWS:
            subsample = min(subsample, float(self.large_subsample))
            colsample = min(colsample, float(self.large_colsample))
        learning_rate = float(self.learning_rate)
        # On tiny sets the default leaf size would forbid every split.
        min_leaf = int(max(1, min(self.min_child_samples, n_samples // (2 * n_classes))))
        if self._scale_rule(n_samples):
            if self.scale_learning_rate is not None:
                learning_rate = max(learning_rate, float(self.scale_learning_rate))
            if self.scale_min_leaf_rows:
                min_leaf = max(min_leaf, n_samples // int(self.scale_min_leaf_rows))
        params = {
            "learning_rate": learning_rate,
            "num_leaves": int(self.num_leaves),
            "min_data_in_leaf": min_leaf,
            "min_sum_hessian_in_leaf": 1e-3,
            "bagging_fraction": subsample,
            "bagging_freq": 1 if subsample < 1.0 else 0,
            "feature_fraction": colsample,
            "lambda_l2": float(self.reg_lambda),
            "max_bin": int(self.max_bin),
            "num_threads": int(self.n_jobs) if self.n_jobs and self.n_jobs > 0 else 0,
            "seed": seed,
            "deterministic": True,
            "force_col_wise": True,
            "verbosity": -1,
        }
        if n_classes == 2:
            params.update(objective="binary", metric="binary_logloss")
        else:
            params.update(objective="multiclass", num_class=n_classes, metric="multi_logloss")
        return params

    def fit(self, X, y, sample_weight=None):
        """Fit on features ``X`` (N, F) and labels ``y`` (N,); returns ``self``."""
        import lightgbm as lgb

        X, y, classes, y_enc = _check_fit_inputs(X, y, "LightGBMClassifier.fit", allow_float32=True)

        def datasets(weight, idx_tr, idx_va, params):
            max_bin = params["max_bin"]
            if idx_va is None:
                return lgb.Dataset(X, y_enc, weight=weight, params=_dataset_params(max_bin)), None
            return _split_datasets(lgb, X, y_enc, weight, idx_tr, idx_va, max_bin)

        return self._train(lgb, y, y_enc, classes, sample_weight, X.shape[1], datasets)

    def fit_rows(self, X, y, rows, bins=None):
        """Fit on the rows ``rows`` of ``X`` (N, F) and ``y`` (N,), binned once for many fits; returns ``self``.

        With ``bins`` (a :class:`SharedBins` of this ``X``) and at least :data:`LARGE_ROWS` rows, the
        training and early-stopping sets are row subsets of ``bins``' binned data: no copy of the
        rows and no binning of their own (:func:`~defectlab.learn.cv.cross_val_oof` shares one
        ``SharedBins`` between its folds and the final model). Otherwise this is ``fit(X[rows], y[rows])``,
        exactly as before (smaller sets keep binning their training rows only).
        """
        import lightgbm as lgb

        rows = np.asarray(rows, dtype=np.intp)
        if bins is None or bins.X is not X or rows.size < LARGE_ROWS:
            return self.fit(X[rows], y[rows])
        X = _check_features(X, "LightGBMClassifier.fit_rows", allow_float32=True)
        y = _check_labels(y, "LightGBMClassifier.fit_rows", name="y", n_samples=X.shape[0])[rows]
        classes, y_enc = _encode_labels(y, "LightGBMClassifier.fit_rows")

        def datasets(weight, idx_tr, idx_va, params):
            sets = [idx_tr] if idx_va is None else [idx_tr, idx_va]
            built = bins.datasets(lgb, [rows[i] for i in sets], [y_enc[i] for i in sets],
                                  [weight[i] for i in sets], params)
            return built[0], (built[1] if idx_va is not None else None)

        return self._train(lgb, y, y_enc, classes, None, X.shape[1], datasets)

    def _train(self, lgb, y, y_enc, classes, sample_weight, n_features, datasets):
        """Boost on the datasets ``datasets(weight, idx_tr, idx_va, params)`` gives; sets the fitted attributes."""
        n_samples = y_enc.shape[0]
        seed = _seed_from(self.random_state)
        weight = np.ones(n_samples) if sample_weight is None else np.asarray(sample_weight, float)
        if self.class_weight is not None:
            weight = weight * compute_sample_weight(self.class_weight, y)
        params = self._lgb_params(len(classes), n_samples, seed)
        counts = np.bincount(y_enc, minlength=len(classes))
        use_es = self.early_stopping
        if use_es == "auto":
            use_es = n_samples >= _AUTO_EARLY_STOPPING_ROWS and counts.min() >= 2
        elif use_es and counts.min() < 2:
            use_es = False
        if use_es:
            idx_tr, idx_va = train_test_split(
                np.arange(n_samples), test_size=self.validation_fraction, stratify=y_enc,
                random_state=seed,
            )
            dtrain, dvalid = datasets(weight, np.sort(idx_tr), np.sort(idx_va), params)
            booster = lgb.train(
                params, dtrain, num_boost_round=self._rounds(n_samples), valid_sets=[dvalid],
                callbacks=[lgb.early_stopping(int(self.n_iter_no_change), verbose=False)],
            )
            n_iter = booster.best_iteration or booster.current_iteration()
        else:
            dtrain, _ = datasets(weight, np.arange(n_samples), None, params)
            booster = lgb.train(params, dtrain, num_boost_round=self._rounds(n_samples))
            n_iter = booster.current_iteration()
        # Keep exactly the rounds used, as the text model the artifact will hold: predictions made
        # now and after loading the artifact come from the very same parsed model.
        self.booster_ = lgb.Booster(model_str=booster.model_to_string(num_iteration=n_iter))
        self.classes_ = classes
        self.n_features_in_ = int(n_features)
        self.n_iter_ = int(n_iter)
        self.fit_params_ = {"rows": int(n_samples), "scale_rule": bool(self._scale_rule(n_samples)),
                            "rounds": self._rounds(n_samples), "rounds_kept": int(n_iter),
                            **{k: params[k] for k in ("learning_rate", "min_data_in_leaf", "bagging_fraction",
                                                      "feature_fraction", "num_leaves")}}
        return self

    def predict_proba(self, X):
        """Class probabilities, (N, C) float64, columns in the order of ``classes_``."""
        check_is_fitted(self, "booster_")
        X = _check_features(X, "LightGBMClassifier.predict_proba", n_features=self.n_features_in_,
                            allow_float32=True)
        raw = self.booster_.predict(X, num_threads=int(self.n_jobs) if self.n_jobs else 0)
        if raw.ndim == 1:
            raw = np.column_stack([1.0 - raw, raw])
        return np.asarray(raw, dtype=np.float64)

    def predict(self, X):
        """Most probable class per row, (N,)."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def pred_contrib(self, X):
        """Per-feature contributions to the raw score, (N, C, F + 1); the last column is the bias.

        For two classes the contributions are to the log-odds of ``classes_[1]``; column 0 holds
        their negation so that index ``k`` always means "towards class k".
        """
        check_is_fitted(self, "booster_")
        X = _check_features(X, "LightGBMClassifier.pred_contrib", n_features=self.n_features_in_)
        raw = np.asarray(self.booster_.predict(X, pred_contrib=True), dtype=np.float64)
        n, width = X.shape[0], self.n_features_in_ + 1
        if len(self.classes_) == 2:
            return np.stack([-raw, raw], axis=1)
        return raw.reshape(n, len(self.classes_), width)


class CalibratedSVC(ClassifierMixin, BaseEstimator):
    """RBF support-vector machine with sigmoid-calibrated probabilities.

    Wraps ``CalibratedClassifierCV(SVC(...), method="sigmoid")`` so that small or uneven label sets
    never fail: the calibration uses ``min(calibration_folds, smallest class size)`` folds, and a class
    with a single example is duplicated for calibration (its probabilities are then optimistic).

    Parameters
    ----------
    C : float, default=1.0
    gamma : {"scale", "auto"} or float, default="scale"
    class_weight : {"balanced"} or dict or None, default=None
    calibration_folds : int, default=3
    random_state : int, RandomState or None, default=None

    Attributes
    ----------
    classes_ : (C,) ndarray
    calibrated_ : CalibratedClassifierCV
    n_features_in_ : int
    """

    def __init__(self, C=1.0, gamma="scale", class_weight=None, calibration_folds=3, random_state=None):
        self.C = C
        self.gamma = gamma
        self.class_weight = class_weight
        self.calibration_folds = calibration_folds
        self.random_state = random_state

    def fit(self, X, y):
        """Fit on features ``X`` (N, F) and labels ``y`` (N,); returns ``self``."""
        X, y, classes, y_enc = _check_fit_inputs(X, y, "CalibratedSVC.fit")
        counts = np.bincount(y_enc, minlength=len(classes))
        single = np.flatnonzero(counts < 2)
        if single.size:
            extra = np.flatnonzero(np.isin(y_enc, single))
            X = np.concatenate([X, X[extra]])
            y_enc = np.concatenate([y_enc, y_enc[extra]])
            counts = np.bincount(y_enc, minlength=len(classes))
        k = int(max(2, min(self.calibration_folds, counts.min())))
        seed = _seed_from(self.random_state)
        svc = SVC(C=self.C, kernel="rbf", gamma=self.gamma, class_weight=self.class_weight)
        cv = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
        self.calibrated_ = CalibratedClassifierCV(svc, method="sigmoid", cv=cv).fit(X, y_enc)
        self.classes_ = classes
        self.n_features_in_ = X.shape[1]
        return self

    def predict_proba(self, X):
        """Class probabilities, (N, C) float64, columns in the order of ``classes_``."""
        check_is_fitted(self, "calibrated_")
        X = _check_features(X, "CalibratedSVC.predict_proba", n_features=self.n_features_in_)
        return np.asarray(self.calibrated_.predict_proba(X), dtype=np.float64)

    def predict(self, X):
        """Most probable class per row, (N,)."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class AverageProbaClassifier(ClassifierMixin, BaseEstimator):
    """Weighted average of the class probabilities of several classifiers ("soft voting").

    Parameters
    ----------
    estimators : list of (str, estimator)
        Unfitted classifiers; ``fit`` fits a clone of each on the same data.
    weights : list of float or None, default=None
        One weight per estimator (normalised); ``None`` means equal weights.

    Attributes
    ----------
    estimators_ : list of estimator
        The fitted clones, in the order of ``estimators``.
    classes_ : (C,) ndarray
    n_features_in_ : int
    """

    def __init__(self, estimators, weights=None):
        self.estimators = estimators
        self.weights = weights

    def get_params(self, deep=True):
        """Parameters; with ``deep``, also each member (by name) and its ``<name>__<param>``."""
        params = {"estimators": self.estimators, "weights": self.weights}
        if deep:
            for name, est in self.estimators or []:
                params[name] = est
                if hasattr(est, "get_params"):
                    for key, value in est.get_params(deep=True).items():
                        params[f"{name}__{key}"] = value
        return params

    def set_params(self, **params):
        """Set parameters, including a member's (``lightgbm__n_estimators=50``); returns ``self``."""
        for key in ("estimators", "weights"):
            if key in params:
                setattr(self, key, params.pop(key))
        members = dict(self.estimators or [])
        nested = {}
        for key, value in params.items():
            name, _, sub = key.partition("__")
            if name not in members:
                raise InputError(
                    msg("error.models.invalid_parameter_averageprobaclassifier_members",
                        "Invalid parameter {key_} for AverageProbaClassifier; members are "
                        "{list_members}.",
                        key_=repr(key), list_members=list(members))
                )
            if sub:
                nested.setdefault(name, {})[sub] = value
            else:
                members[name] = value
        self.estimators = [(name, members[name]) for name, _ in self.estimators]
        for name, sub in nested.items():
            members[name].set_params(**sub)
        return self

    def _weights(self):
        n = len(self.estimators)
        w = np.ones(n) if self.weights is None else np.asarray(self.weights, dtype=np.float64)
        if w.shape != (n,) or np.any(w < 0) or w.sum() <= 0:
            raise InputError(
                msg("error.models.weights_parameter_averageprobaclassifier_must",
                    "The 'weights' parameter of AverageProbaClassifier must be {n} non-negative "
                    "numbers with a positive sum. Got {weights}.",
                    n=n, weights=repr(self.weights))
            )
        return w / w.sum()

    def fit(self, X, y):
        """Fit a clone of every member on ``X`` (N, F) and ``y`` (N,); returns ``self``."""
        X, y, classes, _ = _check_fit_inputs(X, y, "AverageProbaClassifier.fit", allow_float32=True)
        if not self.estimators:
            raise InputError(msg("error.models.averageprobaclassifier_needs_least_one",
                    "AverageProbaClassifier needs at least one estimator; got none."))
        self._weights()
        self.estimators_ = [clone(est).fit(X, y) for _, est in self.estimators]
        self.classes_ = classes
        self.n_features_in_ = X.shape[1]
        return self

    def fit_rows(self, X, y, rows, bins=None):
        """Fit on the rows ``rows`` of ``X`` (N, F) and ``y`` (N,); returns ``self``.

        Members with a ``fit_rows`` method (:class:`LightGBMClassifier`) get the row indices and
        ``bins`` (a :class:`SharedBins` of ``X``); the others are fitted on one copy of the rows.
        """
        rows = np.asarray(rows, dtype=np.intp)
        X = _check_features(X, "AverageProbaClassifier.fit_rows", allow_float32=True)
        y = _check_labels(y, "AverageProbaClassifier.fit_rows", name="y", n_samples=X.shape[0])
        classes, _ = _encode_labels(y[rows], "AverageProbaClassifier.fit_rows")
        if not self.estimators:
            raise InputError(msg("error.models.averageprobaclassifier_needs_least_one",
                    "AverageProbaClassifier needs at least one estimator; got none."))
        self._weights()
        every = rows.size == X.shape[0] and bool(np.array_equal(rows, np.arange(X.shape[0])))
        X_rows = None
        fitted = []
        for _, est in self.estimators:
            est = clone(est)
            if callable(getattr(est, "fit_rows", None)):
                fitted.append(est.fit_rows(X, y, rows, bins=bins))
                continue
            if X_rows is None:
                X_rows = X if every else X[rows]
            fitted.append(est.fit(X_rows, y[rows]))
        self.estimators_ = fitted
        self.classes_ = classes
        self.n_features_in_ = X.shape[1]
        return self

    @classmethod
    def from_fitted(cls, named_estimators, classes, weights=None):
        """Rebuild a fitted ensemble from fitted members (used when loading an artifact)."""
        self = cls([(name, est) for name, est in named_estimators], weights=weights)
        self.estimators_ = [est for _, est in named_estimators]
        self.classes_ = np.asarray(classes)
        self.n_features_in_ = int(self.estimators_[0].n_features_in_)
        return self

    def predict_proba(self, X):
        """Weighted mean of the members' probabilities, (N, C), columns follow ``classes_``."""
        check_is_fitted(self, "estimators_")
        X = _check_features(X, "AverageProbaClassifier.predict_proba", n_features=self.n_features_in_,
                            allow_float32=True)
        out = np.zeros((X.shape[0], len(self.classes_)))
        col = {c: i for i, c in enumerate(self.classes_.tolist())}
        for w, est in zip(self._weights(), self.estimators_, strict=True):
            idx = [col[c] for c in est.classes_.tolist()]
            out[:, idx] += w * np.asarray(est.predict_proba(X), dtype=np.float64)
        if X.dtype == np.float32:  # a member fitted in float32 gives rows that sum to 1 within ~1e-7
            out /= out.sum(axis=1, keepdims=True)
        return out

    def predict(self, X):
        """Most probable class per row, (N,)."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


# --- presets -----------------------------------------------------------------------------------
_PRESET_PARAMS: dict[str, dict[str, dict[str, Any]]] = {
    "lightgbm": {
        "fast": dict(n_estimators=100, learning_rate=0.1, num_leaves=15, colsample_bytree=0.5,
                     n_iter_no_change=10, max_bin=63, scale_rows=SCALE_ROWS, scale_learning_rate=0.15,
                     scale_n_estimators=67, scale_min_leaf_rows=400),
        "accurate": dict(n_estimators=1500, learning_rate=0.05, num_leaves=31, colsample_bytree=0.5,
                         n_iter_no_change=50, max_bin=127),
    },
    "logreg": {"fast": dict(C=1.0, tol=1e-3), "accurate": dict(Cs=(0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0))},
    "svm": {"fast": dict(C=10.0), "accurate": dict(C=30.0, calibration_folds=5)},
    "random_forest": {"fast": dict(n_estimators=200), "accurate": dict(n_estimators=600)},
    "extra_trees": {"fast": dict(n_estimators=200), "accurate": dict(n_estimators=600)},
    "ensemble": {"fast": {}, "accurate": {}},
}


def model_params(name=DEFAULT_MODEL, preset=DEFAULT_PRESET):
    """The preset hyper-parameters of a model, as a JSON-able dict (recorded with each run)."""
    _check_name_preset(name, preset, "model_params")
    if name == "ensemble":
        return {"lightgbm": model_params("lightgbm", preset), "logreg": model_params("logreg", preset)}
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in _PRESET_PARAMS[name][preset].items()}


def _check_name_preset(name, preset, where):
    if name not in MODEL_NAMES:
        raise InputError(
            msg("error.models.name_parameter_must_one",
                "The 'name' parameter of {where} must be one of {list_model_names}. Got {name}.",
                where=where, list_model_names=list(MODEL_NAMES), name=repr(name))
        )
    if preset not in PRESETS:
        raise InputError(
            msg("error.models.preset_parameter_must_one",
                "The 'preset' parameter of {where} must be one of {list_presets}. Got {preset}.",
                where=where, list_presets=list(PRESETS), preset=repr(preset))
        )


def make_model(name: str = DEFAULT_MODEL, preset: str = DEFAULT_PRESET, random_state: RandomState = 0,
               n_jobs: int = 1, class_weight: str | dict[Any, float] = "balanced") -> Any:
    """Build an unfitted classifier by name.

    Parameters
    ----------
    name : str, default=DEFAULT_MODEL
        One of :data:`MODEL_NAMES`.
    preset : {"fast", "accurate"}, default="fast"
    random_state : int, RandomState or None, default=0
    n_jobs : int, default=1
        Threads inside one fit for the models that use them (LightGBM, forests). Keep 1 and let
        :func:`~defectlab.learn.cv.cross_val_oof` run fits side by side (see its notes).
    class_weight : {"balanced"} or None, default="balanced"
        ``"balanced"`` weighs each class inversely to its size, so a rare defect counts as much as
        a common one.

    Returns
    -------
    estimator
        A scikit-learn compatible classifier whose ``predict_proba`` columns follow ``classes_``.

    Examples
    --------
    >>> make_model("logreg").steps[-1][0]
    'clf'
    """
    _check_name_preset(name, preset, "make_model")
    if class_weight not in ("balanced", None) and not isinstance(class_weight, dict):
        raise InputError(
            msg("error.models.class_weight_parameter_make",
                "The 'class_weight' parameter of make_model must be 'balanced', a dict or None. Got "
                "{class_weight}.",
                class_weight=repr(class_weight))
        )
    p = dict(_PRESET_PARAMS[name][preset])
    if name == "lightgbm":
        return LightGBMClassifier(**p, class_weight=class_weight, random_state=random_state,
                                  n_jobs=n_jobs)
    if name == "logreg":
        if preset == "fast":
            clf = LogisticRegression(C=p["C"], tol=p["tol"], max_iter=2000, class_weight=class_weight,
                                     random_state=random_state)
        else:
            extra = {}
            accepted = inspect.signature(LogisticRegressionCV).parameters
            if "use_legacy_attributes" in accepted:  # scikit-learn >= 1.8: the plain L2 path
                extra = {"l1_ratios": (0.0,), "use_legacy_attributes": False}
            clf = LogisticRegressionCV(Cs=list(p["Cs"]), cv=3, scoring="neg_log_loss", max_iter=2000,
                                       class_weight=class_weight, random_state=random_state, **extra)
        return Pipeline([("scale", StandardScaler()), ("clf", clf)])
    if name == "svm":
        clf = CalibratedSVC(**p, class_weight=class_weight, random_state=random_state)
        return Pipeline([("scale", StandardScaler()), ("clf", clf)])
    if name in ("random_forest", "extra_trees"):
        cls = RandomForestClassifier if name == "random_forest" else ExtraTreesClassifier
        cw = "balanced_subsample" if class_weight == "balanced" and name == "random_forest" else class_weight
        return cls(**p, class_weight=cw, random_state=random_state, n_jobs=n_jobs)
    return AverageProbaClassifier(
        [("lightgbm", make_model("lightgbm", preset, random_state, n_jobs, class_weight)),
         ("logreg", make_model("logreg", preset, random_state, n_jobs, class_weight))]
    )

