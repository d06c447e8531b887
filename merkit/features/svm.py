"""The linear SVM behind the handcrafted baselines, with C chosen on training subjects only.

``fit_predict_svm`` fits the model of scikit-learn's ``Pipeline(StandardScaler, linear SVM)``
(:func:`make_svm` builds that pipeline):

* **Scaling**: ``StandardScaler`` fitted on the training rows (inside every CV fit too), so no
  statistic of a held-out subject or of the test fold enters the model.
* **SVM**: ``implementation="libsvm"`` (default): ``SVC(kernel="linear")``, hinge loss,
  one-vs-one -- the LIBSVM linear SVM of the MATLAB MER baselines (CASME II, MEGC 2018). It is
  run as ``SVC(kernel="precomputed")`` on the Gram matrix ``A A^T`` of the scaled training
  rows ``A`` (test rows: ``B A^T``): the same model (tested against the pipeline), but the
  4425-dimensional dot products are computed once per fold instead of once per C and libsvm
  iteration (~4x faster on LBP-TOP; BLAS limited to one thread, ~10x more on a busy 2-core
  machine). ``"liblinear"``: ``LinearSVC`` (squared hinge,
  one-vs-rest) on the scaled rows.
* **C**: chosen from ``Cs`` by ``GroupKFold`` over the *training* subjects (``groups_train``):
  no subject is on both sides of an inner split, and the test rows are never seen (only
  ``X_test`` is predicted, once, by the final model refitted on all training rows with the
  chosen C). The inner folds' predictions are pooled and scored with ``scoring``
  (default ``"balanced_accuracy"`` = UAR, the MEGC metric that does not reward predicting the
  majority class); ties go to the smallest C (strongest regularisation).
  ``n_splits = min(n_splits, number of training subjects)``; an inner fold whose training part
  has a single class is skipped (with a warning). With fewer than two training subjects (or no usable fold) no
  CV is possible: ``default_C`` is used and a warning says so. A single C skips the search.
* **class_weight**: ``None`` by default: the baselines the papers compare with are plain
  LIBSVM runs, and RRRN reports them collapsing onto the dominant class, which a
  class-balanced SVM would hide; ``"balanced"`` is one argument away.

Everything is deterministic for a given ``seed`` (``random_state`` of the SVM and of the
shuffled ``GroupKFold``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, LinearSVC
from threadpoolctl import threadpool_limits

Implementation = Literal["libsvm", "liblinear"]

DEFAULT_CS: tuple[float, ...] = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)

#: CV scores by name: (y_true, y_pred) -> float, higher is better.
SCORERS = {
    "balanced_accuracy": balanced_accuracy_score,  # UAR
    "accuracy": accuracy_score,  # WAR
    "f1_macro": lambda y, p: f1_score(y, p, average="macro", zero_division=0),
    "f1_weighted": lambda y, p: f1_score(y, p, average="weighted", zero_division=0),
}


@dataclass(frozen=True)
class SVMConfig:
    """Settings of :func:`fit_predict_svm` (see the module docstring)."""

    Cs: tuple[float, ...] = DEFAULT_CS
    n_splits: int = 5
    scoring: str = "balanced_accuracy"
    class_weight: str | None = None
    implementation: Implementation = "libsvm"
    default_C: float = 1.0
    max_iter: int = -1  # libsvm: no limit; liblinear gets 10000 when -1

    def __post_init__(self) -> None:
        if self.scoring not in SCORERS:
            raise ValueError(f"scoring must be one of {sorted(SCORERS)}, got {self.scoring!r}")
        if not self.Cs or min(self.Cs) <= 0:
            raise ValueError(f"Cs must be a non-empty tuple of positive values, got {self.Cs}")
        if self.implementation not in ("libsvm", "liblinear"):
            raise ValueError(
                f"implementation must be 'libsvm' or 'liblinear', got {self.implementation!r}"
            )


def make_svm(C: float, config: SVMConfig = SVMConfig(), seed: int = 0) -> Pipeline:
    """The reference model: ``Pipeline(StandardScaler, SVC(kernel="linear") | LinearSVC)``.

    :func:`fit_predict_svm` fits the same model (the libsvm one through a precomputed Gram
    matrix); use this pipeline to inspect weights or for new data.
    """
    if config.implementation == "libsvm":
        svm = SVC(
            kernel="linear",
            C=C,
            class_weight=config.class_weight,
            random_state=seed,
            max_iter=config.max_iter,
        )
    else:
        svm = LinearSVC(
            C=C,
            class_weight=config.class_weight,
            random_state=seed,
            max_iter=10000 if config.max_iter < 0 else config.max_iter,
        )
    return Pipeline([("scale", StandardScaler()), ("svm", svm)])


def _representations(
    X_fit: np.ndarray, X_eval: np.ndarray, config: SVMConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Scale with statistics of ``X_fit`` only; libsvm: (Gram ``A A^T``, cross ``B A^T``)."""
    scaler = StandardScaler().fit(X_fit)
    A, B = scaler.transform(X_fit), scaler.transform(X_eval)
    if config.implementation == "libsvm":
        return A @ A.T, B @ A.T
    return A, B


def _fit_predict_one(
    C: float,
    fit_repr: np.ndarray,
    y_fit: np.ndarray,
    eval_repr: np.ndarray,
    config: SVMConfig,
    seed: int,
    *,
    quiet: bool,
) -> np.ndarray:
    if config.implementation == "libsvm":
        svm = SVC(
            kernel="precomputed",
            C=C,
            class_weight=config.class_weight,
            random_state=seed,
            max_iter=config.max_iter,
        )
    else:
        svm = LinearSVC(
            C=C,
            class_weight=config.class_weight,
            random_state=seed,
            max_iter=10000 if config.max_iter < 0 else config.max_iter,
        )
    with warnings.catch_warnings():
        if quiet:  # convergence warnings at extreme C are expected during the search
            warnings.filterwarnings("ignore", message=".*(converge|max_iter).*")
        svm.fit(fit_repr, y_fit)
    return svm.predict(eval_repr)


def select_C(
    X_train: np.ndarray,
    y_train: np.ndarray,
    groups_train: np.ndarray,
    config: SVMConfig = SVMConfig(),
    seed: int = 0,
) -> tuple[float, dict[float, float]]:
    """Choose C by GroupKFold over the training subjects only.

    ``X_train (n, d)``, ``y_train (n,)``, ``groups_train (n,)`` (subject ids) -> (chosen C,
    ``{C: pooled CV score}``; empty when no search was run).
    """
    if len(config.Cs) == 1:
        return float(config.Cs[0]), {}
    groups = np.asarray(groups_train)
    subjects = np.unique(groups)
    n_splits = min(config.n_splits, len(subjects))
    if n_splits < 2:
        warnings.warn(
            f"only {len(subjects)} training subject(s): C cannot be cross-validated across "
            f"subjects; using default_C={config.default_C}",
            stacklevel=3,
        )
        return config.default_C, {}
    splitter = GroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    all_folds = list(splitter.split(X_train, y_train, groups))
    folds = [(tr, va) for tr, va in all_folds if len(np.unique(y_train[tr])) >= 2]
    if 0 < len(folds) < len(all_folds):
        warnings.warn(
            f"{len(all_folds) - len(folds)} of {len(all_folds)} inner C-search folds skipped: "
            "their training part has a single class",
            stacklevel=3,
        )
    if not folds:
        warnings.warn(
            "no inner fold has two classes in its training part; using "
            f"default_C={config.default_C}",
            stacklevel=3,
        )
        return config.default_C, {}
    held_out = np.concatenate([va for _, va in folds])
    preds = {float(C): np.empty(len(y_train), dtype=y_train.dtype) for C in config.Cs}
    for tr, va in folds:
        fit_repr, eval_repr = _representations(X_train[tr], X_train[va], config)
        for C in config.Cs:
            preds[float(C)][va] = _fit_predict_one(
                C, fit_repr, y_train[tr], eval_repr, config, seed, quiet=True
            )
    score = SCORERS[config.scoring]
    scores = {C: float(score(y_train[held_out], p[held_out])) for C, p in preds.items()}
    best = max(scores.values())
    return min(C for C, s in scores.items() if s == best), scores


def fit_predict_svm(
    X_train: np.ndarray,
    y_train: Sequence[int] | np.ndarray,
    groups_train: Sequence[str] | np.ndarray,
    X_test: np.ndarray,
    *,
    Cs: Sequence[float] | None = None,
    seed: int = 0,
    config: SVMConfig = SVMConfig(),
) -> tuple[np.ndarray, float]:
    """Fit the scaled linear SVM on the training rows and predict the test rows.

    ``X_train (n, d)``, ``y_train (n,)`` labels, ``groups_train (n,)`` subject ids,
    ``X_test (m, d)`` -> ``(y_pred (m,), chosen_C)``. ``Cs`` (if given) replaces
    ``config.Cs``. C is chosen by :func:`select_C` on the training rows alone; see the module
    docstring.
    """
    cfg = config if Cs is None else replace(config, Cs=tuple(float(c) for c in Cs))
    X_train = np.asarray(X_train, dtype=np.float64)
    X_test = np.asarray(X_test, dtype=np.float64)
    y = np.asarray(y_train)
    groups = np.asarray(groups_train)
    if X_train.ndim != 2 or X_test.ndim != 2 or X_train.shape[1] != X_test.shape[1]:
        raise ValueError(
            f"X_train {X_train.shape} and X_test {X_test.shape} must be 2-D with one feature count"
        )
    if not (len(y) == len(groups) == len(X_train)):
        raise ValueError(
            f"X_train has {len(X_train)} rows but y_train {len(y)} and groups_train {len(groups)}"
        )
    if len(X_train) == 0:
        raise ValueError("fit_predict_svm got no training rows")
    for name, X in (("X_train", X_train), ("X_test", X_test)):
        if not np.isfinite(X).all():
            raise ValueError(f"{name} has NaN or inf features; check the descriptor cache")
    classes = np.unique(y)
    if len(classes) == 1:
        warnings.warn(
            f"the training rows have a single class ({classes[0]}); every test row gets it",
            stacklevel=2,
        )
        return np.full(len(X_test), classes[0], dtype=y.dtype), cfg.default_C
    # The matrices are small (a few hundred rows): a multi-threaded BLAS gains nothing here and
    # loses ~10x on a shared 2-core machine (threads spin while waiting), so one BLAS thread.
    with threadpool_limits(limits=1, user_api="blas"):
        C, _ = select_C(X_train, y, groups, cfg, seed)
        if len(X_test) == 0:
            return np.empty(0, dtype=y.dtype), C
        fit_repr, eval_repr = _representations(X_train, X_test, cfg)
        return _fit_predict_one(C, fit_repr, y, eval_repr, cfg, seed, quiet=False), C
